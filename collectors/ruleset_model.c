// SPDX-License-Identifier: Apache-2.0
/*
 * The ruleset model and the code that applies nf_tables messages to it.
 * Messages are parsed with libmnl attribute tables, never allocating for
 * the parse itself; only objects the model keeps are allocated. The same
 * function applies dump replies and events, with "NEW updates, DEL of a
 * missing object is a no-op" semantics, so events the dump already
 * reflects replay harmlessly (see ruleset.c for why that matters).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "intern.h"
#include "nl.h"
#include "ruleset.h"

#define RS_MAX_REFS	32
#define RS_COMMENT_MAX	256

/* Type 0 of the userdata TLVs is the comment for rules, chains, elems. */
#define UDATA_COMMENT	0

/* --- names --- */

const char *rs_family_name(uint8_t family)
{
	switch (family) {
	case NFPROTO_INET: return "inet";
	case NFPROTO_IPV4: return "ip";
	case NFPROTO_ARP: return "arp";
	case NFPROTO_NETDEV: return "netdev";
	case NFPROTO_BRIDGE: return "bridge";
	case NFPROTO_IPV6: return "ip6";
	default: return "unknown";
	}
}

const char *rs_hook_name(uint8_t family, uint32_t hooknum)
{
	if (family == NFPROTO_NETDEV) {
		switch (hooknum) {
		case 0: return "ingress";
		case 1: return "egress";
		}
		return "unknown";
	}
	if (family == NFPROTO_ARP) {
		switch (hooknum) {
		case 0: return "input";
		case 1: return "output";
		case 2: return "forward";
		}
		return "unknown";
	}
	switch (hooknum) {
	case NF_INET_PRE_ROUTING: return "prerouting";
	case NF_INET_LOCAL_IN: return "input";
	case NF_INET_FORWARD: return "forward";
	case NF_INET_LOCAL_OUT: return "output";
	case NF_INET_POST_ROUTING: return "postrouting";
	case NF_INET_INGRESS: return "ingress";
	}
	return "unknown";
}

const char *rs_obj_type_name(uint32_t type)
{
	switch (type) {
	case NFT_OBJECT_COUNTER: return "counter";
	case NFT_OBJECT_QUOTA: return "quota";
	case NFT_OBJECT_CT_HELPER: return "ct_helper";
	case NFT_OBJECT_LIMIT: return "limit";
	case NFT_OBJECT_CONNLIMIT: return "connlimit";
	case NFT_OBJECT_TUNNEL: return "tunnel";
	case NFT_OBJECT_CT_TIMEOUT: return "ct_timeout";
	case NFT_OBJECT_SECMARK: return "secmark";
	case NFT_OBJECT_CT_EXPECT: return "ct_expect";
	case NFT_OBJECT_SYNPROXY: return "synproxy";
	default: return "unknown";
	}
}

/* --- attribute helpers --- */

/* NUL-terminated string attribute, or NULL when absent or malformed. */
static const char *attr_str(const struct nlattr *a)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return NULL;
	return mnl_attr_get_str(a);
}

static bool attr_u32(const struct nlattr *a, uint32_t *v)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return false;
	*v = ntohl(mnl_attr_get_u32(a));
	return true;
}

static bool attr_u64(const struct nlattr *a, uint64_t *v)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U64) < 0)
		return false;
	*v = be64toh(mnl_attr_get_u64(a));
	return true;
}

static uint8_t msg_family(const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);

	return g->nfgen_family;
}

/* Comment from a userdata TLV blob, interned; NULL if none. */
static const char *udata_comment(struct rs_model *m, const struct nlattr *a)
{
	const uint8_t *p, *end;

	if (!a)
		return NULL;
	p = mnl_attr_get_payload(a);
	end = p + mnl_attr_get_payload_len(a);
	while (p + 2 <= end) {
		uint8_t type = p[0], len = p[1];

		if (p + 2 + len > end)
			break;
		if (type == UDATA_COMMENT && len > 0) {
			size_t n = strnlen((const char *)p + 2, len);

			return intern_get(m->names, (const char *)p + 2, n);
		}
		p += 2 + len;
	}
	return NULL;
}

static void notify(struct rs_model *m, enum rs_op op, enum rs_kind kind,
		   const struct rs_table *t, const void *obj)
{
	if (m->quiet)
		return;
	for (unsigned int i = 0; i < m->nlisteners; i++)
		if (m->listeners[i]->object)
			m->listeners[i]->object(m->listener_args[i], op, kind,
						t, obj);
}

static uint32_t name_hash(const char *s)
{
	return hash_bytes(s, strlen(s), 0);
}

/* --- lookups --- */

struct rs_table *rs_table_find(const struct rs_model *m, uint8_t family,
			       const char *name)
{
	for (struct rs_table *t = m->tables; t; t = t->next)
		if (t->family == family && !strcmp(t->name, name))
			return t;
	return NULL;
}

struct rs_chain *rs_chain_find(const struct rs_table *t, const char *name)
{
	uint32_t h = name_hash(name);

	for (struct hnode *n = hmap_first(&t->chains_by_name, h); n;
	     n = hmap_next(n, h)) {
		struct rs_chain *c = container_of(n, struct rs_chain, by_name);

		if (!strcmp(c->name, name))
			return c;
	}
	return NULL;
}

static struct rs_chain *chain_by_handle(const struct rs_table *t, uint64_t h)
{
	uint32_t hh = hash_u64(h);

	for (struct hnode *n = hmap_first(&t->chains_by_handle, hh); n;
	     n = hmap_next(n, hh)) {
		struct rs_chain *c = container_of(n, struct rs_chain, by_handle);

		if (c->handle == h)
			return c;
	}
	return NULL;
}

struct rs_set *rs_set_find(const struct rs_table *t, const char *name)
{
	uint32_t h = name_hash(name);

	for (struct hnode *n = hmap_first(&t->sets, h); n; n = hmap_next(n, h)) {
		struct rs_set *s = container_of(n, struct rs_set, by_name);

		if (!strcmp(s->name, name))
			return s;
	}
	return NULL;
}

struct rs_obj *rs_obj_find(const struct rs_table *t, uint32_t type,
			   const char *name)
{
	uint32_t h = name_hash(name) ^ type;

	for (struct hnode *n = hmap_first(&t->objs, h); n; n = hmap_next(n, h)) {
		struct rs_obj *o = container_of(n, struct rs_obj, by_name);

		if (o->type == type && !strcmp(o->name, name))
			return o;
	}
	return NULL;
}

static struct rs_rule *rule_by_handle(const struct rs_table *t, uint64_t h)
{
	uint32_t hh = hash_u64(h);

	for (struct hnode *n = hmap_first(&t->rules, hh); n;
	     n = hmap_next(n, hh)) {
		struct rs_rule *r = container_of(n, struct rs_rule, by_handle);

		if (r->handle == h)
			return r;
	}
	return NULL;
}

const struct rs_elem *rs_elem_iter(const struct rs_set *s, size_t *pos,
				   struct hnode **cur)
{
	struct hnode *n = hmap_iter(&s->elems, pos, cur);

	return n ? container_of(n, struct rs_elem, node) : NULL;
}

/* --- freeing --- */

static void rule_free(struct rs_model *m, struct rs_rule *r)
{
	intern_put(m->names, r->comment);
	for (unsigned int i = 0; i < r->nrefs; i++)
		intern_put(m->names, r->refs[i].name);
	free(r);
}

static void rule_unlink(struct rs_model *m, struct rs_rule *r)
{
	struct rs_chain *c = r->chain;
	struct rs_table *t = c->table;

	notify(m, RS_OP_DEL, RS_KIND_RULE, t, r);
	if (r->prev)
		r->prev->next = r->next;
	else
		c->first = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		c->last = r->prev;
	hmap_remove(&t->rules, &r->by_handle);
	c->nrules--;
	t->nrules--;
	if (r->flags & RS_RULE_COMPAT)
		t->ncompat--;
	rule_free(m, r);
}

static void elem_free(struct rs_model *m, struct rs_elem *e)
{
	intern_put(m->names, e->chain);
	intern_put(m->names, e->comment);
	free(e);
	m->nelems_stored--;
}

void rs_set_clear_elems(struct rs_model *m, struct rs_set *s)
{
	size_t pos = 0;
	struct hnode *cur = NULL, *n;

	while ((n = hmap_iter(&s->elems, &pos, &cur)))
		elem_free(m, container_of(n, struct rs_elem, node));
	hmap_fini(&s->elems);
	s->nelems = 0;
}

static void set_count(struct rs_table *t, const struct rs_set *s, int d)
{
	if (s->flags & NFT_SET_ANONYMOUS)
		t->nanon += (uint32_t)d;
	else if (s->flags & (NFT_SET_MAP | NFT_SET_OBJECT))
		t->nmaps += (uint32_t)d;
	else
		t->nsets += (uint32_t)d;
}

static void set_unlink(struct rs_model *m, struct rs_set *s)
{
	struct rs_table *t = s->table;

	notify(m, RS_OP_DEL, RS_KIND_SET, t, s);
	hmap_remove(&t->sets, &s->by_name);
	set_count(t, s, -1);
	if (s->overflow)
		m->nsets_overflow--;
	rs_set_clear_elems(m, s);
	intern_put(m->names, s->name);
	free(s);
}

static void chain_unlink(struct rs_model *m, struct rs_chain *c)
{
	struct rs_table *t = c->table;

	while (c->first)
		rule_unlink(m, c->first);
	notify(m, RS_OP_DEL, RS_KIND_CHAIN, t, c);
	hmap_remove(&t->chains_by_name, &c->by_name);
	hmap_remove(&t->chains_by_handle, &c->by_handle);
	t->nchains--;
	intern_put(m->names, c->name);
	intern_put(m->names, c->type);
	free(c);
}

static void obj_unlink(struct rs_model *m, struct rs_obj *o)
{
	struct rs_table *t = o->table;

	notify(m, RS_OP_DEL, RS_KIND_OBJ, t, o);
	hmap_remove(&t->objs, &o->by_name);
	if (o->type < RS_OBJ_TYPES)
		t->nobjs[o->type]--;
	intern_put(m->names, o->name);
	free(o);
}

static void flowtable_unlink(struct rs_model *m, struct rs_table *t,
			     struct rs_flowtable **pp)
{
	struct rs_flowtable *f = *pp;

	notify(m, RS_OP_DEL, RS_KIND_FLOWTABLE, t, f);
	*pp = f->next;
	t->nflowtables--;
	intern_put(m->names, f->name);
	free(f);
}

static void table_unlink(struct rs_model *m, struct rs_table *t)
{
	struct rs_table **pp;
	size_t pos;
	struct hnode *cur, *n;

	/* rules first (they refer to chains and sets), then the rest */
	pos = 0;
	cur = NULL;
	while ((n = hmap_iter(&t->chains_by_name, &pos, &cur)))
		while (container_of(n, struct rs_chain, by_name)->first)
			rule_unlink(m, container_of(n, struct rs_chain,
						    by_name)->first);
	pos = 0;
	cur = NULL;
	while ((n = hmap_iter(&t->sets, &pos, &cur)))
		set_unlink(m, container_of(n, struct rs_set, by_name));
	pos = 0;
	cur = NULL;
	while ((n = hmap_iter(&t->objs, &pos, &cur)))
		obj_unlink(m, container_of(n, struct rs_obj, by_name));
	while (t->flowtables)
		flowtable_unlink(m, t, &t->flowtables);
	pos = 0;
	cur = NULL;
	while ((n = hmap_iter(&t->chains_by_name, &pos, &cur)))
		chain_unlink(m, container_of(n, struct rs_chain, by_name));
	notify(m, RS_OP_DEL, RS_KIND_TABLE, t, t);

	for (pp = &m->tables; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	m->ntables--;
	hmap_fini(&t->chains_by_name);
	hmap_fini(&t->chains_by_handle);
	hmap_fini(&t->sets);
	hmap_fini(&t->rules);
	hmap_fini(&t->objs);
	intern_put(m->names, t->name);
	free(t);
}

int rs_model_init(struct rs_model *m)
{
	memset(m, 0, sizeof(*m));
	m->names = intern_new();
	return m->names ? 0 : -ENOMEM;
}

void rs_model_clear(struct rs_model *m)
{
	bool quiet = m->quiet;

	m->quiet = true;
	while (m->tables)
		table_unlink(m, m->tables);
	m->quiet = quiet;
}

void rs_model_fini(struct rs_model *m)
{
	if (!m->names)
		return;
	rs_model_clear(m);
	intern_free(m->names);
	m->names = NULL;
}

/* --- tables --- */

static int apply_table(struct rs_model *m, const struct nlmsghdr *nlh,
		       bool del)
{
	const struct nlattr *tb[NFTA_TABLE_MAX + 1];
	uint8_t family = msg_family(nlh);
	struct rs_table *t;
	const char *name;
	uint64_t handle = 0;
	uint32_t flags = 0;

	if (nl_attrs_msg(nlh, tb, NFTA_TABLE_MAX))
		return -EPROTO;
	name = attr_str(tb[NFTA_TABLE_NAME]);
	if (!name)
		return -EPROTO;
	attr_u64(tb[NFTA_TABLE_HANDLE], &handle);
	attr_u32(tb[NFTA_TABLE_FLAGS], &flags);
	t = rs_table_find(m, family, name);
	if (del) {
		/* a handle mismatch is an older incarnation: not this one */
		if (t && (!handle || !t->handle || t->handle == handle))
			table_unlink(m, t);
		return 0;
	}
	if (t) {
		if (handle && t->handle && handle != t->handle) {
			/* recreated under the same name: start afresh */
			table_unlink(m, t);
			t = NULL;
		} else {
			t->flags = flags;
			if (handle)
				t->handle = handle;
			return 0;
		}
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->name = intern_get(m->names, name, strlen(name));
	if (!t->name) {
		free(t);
		return -ENOMEM;
	}
	t->family = family;
	t->handle = handle;
	t->flags = flags;
	t->next = m->tables;
	m->tables = t;
	m->ntables++;
	notify(m, RS_OP_NEW, RS_KIND_TABLE, t, t);
	return 0;
}

/* --- chains --- */

static int apply_chain(struct rs_model *m, const struct nlmsghdr *nlh,
		       bool del)
{
	const struct nlattr *tb[NFTA_CHAIN_MAX + 1], *hk[NFTA_HOOK_MAX + 1];
	const char *tname, *name, *type;
	struct rs_table *t;
	struct rs_chain *c = NULL;
	uint64_t handle = 0;
	uint32_t u;

	if (nl_attrs_msg(nlh, tb, NFTA_CHAIN_MAX))
		return -EPROTO;
	tname = attr_str(tb[NFTA_CHAIN_TABLE]);
	name = attr_str(tb[NFTA_CHAIN_NAME]);
	if (!tname || (!name && !tb[NFTA_CHAIN_HANDLE]))
		return -EPROTO;
	attr_u64(tb[NFTA_CHAIN_HANDLE], &handle);
	t = rs_table_find(m, msg_family(nlh), tname);
	if (!t)
		return 0;	/* table gone, or a replay ahead of it */
	if (handle)
		c = chain_by_handle(t, handle);
	if (!c && name) {
		c = rs_chain_find(t, name);
		if (c && handle && c->handle && c->handle != handle) {
			/* same name, other incarnation */
			if (del)
				return 0;
			chain_unlink(m, c);
			c = NULL;
		}
	}
	if (del) {
		if (c)
			chain_unlink(m, c);
		return 0;
	}
	if (!name)
		return -EPROTO;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->name = intern_get(m->names, name, strlen(name));
		if (!c->name || hmap_insert(&t->chains_by_name, &c->by_name,
					    name_hash(name))) {
			intern_put(m->names, c->name);
			free(c);
			return -ENOMEM;
		}
		c->table = t;
		c->handle = handle;
		if (hmap_insert(&t->chains_by_handle, &c->by_handle,
				hash_u64(handle))) {
			hmap_remove(&t->chains_by_name, &c->by_name);
			intern_put(m->names, c->name);
			free(c);
			return -ENOMEM;
		}
		t->nchains++;
	} else if (strcmp(c->name, name)) {
		/* rename: same handle, new name */
		const char *nn = intern_get(m->names, name, strlen(name));

		if (!nn)
			return -ENOMEM;
		hmap_remove(&t->chains_by_name, &c->by_name);
		intern_put(m->names, c->name);
		c->name = nn;
		hmap_insert(&t->chains_by_name, &c->by_name, name_hash(nn));
	}
	if (tb[NFTA_CHAIN_HOOK]) {
		if (nl_attrs_nested(tb[NFTA_CHAIN_HOOK], hk, NFTA_HOOK_MAX))
			return -EPROTO;
		c->base = true;
		if (attr_u32(hk[NFTA_HOOK_HOOKNUM], &u))
			c->hooknum = u;
		if (attr_u32(hk[NFTA_HOOK_PRIORITY], &u))
			c->prio = (int32_t)u;
		if (attr_u32(tb[NFTA_CHAIN_POLICY], &u))
			c->policy = u;
		type = attr_str(tb[NFTA_CHAIN_TYPE]);
		if (type && (!c->type || strcmp(c->type, type))) {
			intern_put(m->names, c->type);
			c->type = intern_get(m->names, type, strlen(type));
		}
	}
	notify(m, RS_OP_NEW, RS_KIND_CHAIN, t, c);
	return 0;
}

/* --- rules --- */

/* What the expression walk learns about a rule. */
struct rule_facts {
	uint16_t flags;
	uint16_t nrefs;
	uint64_t packets, bytes;
	struct rs_ref refs[RS_MAX_REFS];
	/* register file: 16 x 32-bit, value known from an immediate, or
	 * loaded from a map lookup (map name) */
	uint8_t regval[64];
	bool regknown[16];
	const char *regmap[16];		/* borrowed from the message */
};

/* 32-bit register index of a register number (NFT_REG_1..4, REG32_*). */
static int reg32(uint32_t reg)
{
	if (reg >= NFT_REG_1 && reg <= NFT_REG_4)
		return (int)(reg - NFT_REG_1) * 4;
	if (reg >= NFT_REG32_00 && reg < NFT_REG32_00 + 16)
		return (int)(reg - NFT_REG32_00);
	return -1;
}

static void regs_forget(struct rule_facts *f)
{
	memset(f->regknown, 0, sizeof(f->regknown));
	memset(f->regmap, 0, sizeof(f->regmap));
}

static struct rs_ref *add_ref(struct rule_facts *f, uint8_t kind,
			      const char *name)
{
	struct rs_ref *r;

	if (f->nrefs >= RS_MAX_REFS)
		return NULL;
	r = &f->refs[f->nrefs++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->name = name;		/* borrowed until interned */
	return r;
}

static int expr_immediate(struct rule_facts *f, const struct nlattr *data)
{
	const struct nlattr *tb[NFTA_IMMEDIATE_MAX + 1];
	const struct nlattr *d[NFTA_DATA_MAX + 1], *v[NFTA_VERDICT_MAX + 1];
	uint32_t dreg = 0, code;
	int r;

	if (nl_attrs_nested(data, tb, NFTA_IMMEDIATE_MAX) ||
	    !attr_u32(tb[NFTA_IMMEDIATE_DREG], &dreg) ||
	    !tb[NFTA_IMMEDIATE_DATA] ||
	    nl_attrs_nested(tb[NFTA_IMMEDIATE_DATA], d, NFTA_DATA_MAX))
		return -EPROTO;
	if (dreg == NFT_REG_VERDICT) {
		if (!d[NFTA_DATA_VERDICT] ||
		    nl_attrs_nested(d[NFTA_DATA_VERDICT], v, NFTA_VERDICT_MAX) ||
		    !attr_u32(v[NFTA_VERDICT_CODE], &code))
			return -EPROTO;
		if (code == (uint32_t)NFT_JUMP || code == (uint32_t)NFT_GOTO) {
			const char *chain = attr_str(v[NFTA_VERDICT_CHAIN]);

			if (chain)
				add_ref(f, code == (uint32_t)NFT_JUMP ?
					RS_REF_JUMP : RS_REF_GOTO, chain);
		}
		return 0;
	}
	r = reg32(dreg);
	if (r < 0 || !d[NFTA_DATA_VALUE])
		return 0;
	{
		uint16_t len = mnl_attr_get_payload_len(d[NFTA_DATA_VALUE]);
		int words = (len + 3) / 4;

		if (len > 64 || r + words > 16)
			return 0;
		memcpy(f->regval + r * 4, mnl_attr_get_payload(d[NFTA_DATA_VALUE]),
		       len);
		for (int i = 0; i < words; i++) {
			f->regknown[r + i] = true;
			f->regmap[r + i] = NULL;
		}
	}
	return 0;
}

static int expr_lookup(struct rule_facts *f, const struct nlattr *data)
{
	const struct nlattr *tb[NFTA_LOOKUP_MAX + 1];
	const char *set;
	uint32_t dreg;
	int r;

	if (nl_attrs_nested(data, tb, NFTA_LOOKUP_MAX))
		return -EPROTO;
	set = attr_str(tb[NFTA_LOOKUP_SET]);
	if (!set)
		return -EPROTO;
	if (!attr_u32(tb[NFTA_LOOKUP_DREG], &dreg)) {
		add_ref(f, RS_REF_LOOKUP, set);
		regs_forget(f);
		return 0;
	}
	if (dreg == NFT_REG_VERDICT) {
		add_ref(f, RS_REF_VMAP, set);
		return 0;
	}
	add_ref(f, RS_REF_MAP, set);
	regs_forget(f);
	r = reg32(dreg);
	/* the map's value may span several registers (ip . port) */
	for (int i = 0; r >= 0 && i < 16 - r && i < 5; i++)
		f->regmap[r + i] = set;
	return 0;
}

static int expr_nat(struct rule_facts *f, const struct nlattr *data)
{
	const struct nlattr *tb[NFTA_NAT_MAX + 1];
	uint32_t type, family = 0, reg;
	struct rs_ref *ref;
	int ra = -1, rp = -1;

	if (nl_attrs_nested(data, tb, NFTA_NAT_MAX) ||
	    !attr_u32(tb[NFTA_NAT_TYPE], &type))
		return -EPROTO;
	if (type != NFT_NAT_DNAT)
		return 0;
	attr_u32(tb[NFTA_NAT_FAMILY], &family);
	if (attr_u32(tb[NFTA_NAT_REG_ADDR_MIN], &reg))
		ra = reg32(reg);
	if (attr_u32(tb[NFTA_NAT_REG_PROTO_MIN], &reg))
		rp = reg32(reg);
	if ((ra >= 0 && f->regmap[ra]) || (rp >= 0 && f->regmap[rp])) {
		add_ref(f, RS_REF_DNAT_MAP,
			ra >= 0 && f->regmap[ra] ? f->regmap[ra] : f->regmap[rp]);
		return 0;
	}
	ref = add_ref(f, RS_REF_DNAT, NULL);
	if (!ref)
		return 0;
	ref->family = (uint8_t)family;
	if (ra >= 0 && f->regknown[ra]) {
		size_t alen = family == NFPROTO_IPV6 ? 16 : 4;

		if (ra * 4 + alen <= sizeof(f->regval)) {
			memcpy(ref->addr, f->regval + ra * 4, alen);
			ref->has_addr = 1;
		}
	}
	if (rp >= 0 && f->regknown[rp]) {
		uint16_t port;

		memcpy(&port, f->regval + rp * 4, 2);
		ref->port = ntohs(port);
		ref->has_port = 1;
	}
	return 0;
}

static int expr_counter(struct rule_facts *f, const struct nlattr *data)
{
	const struct nlattr *tb[NFTA_COUNTER_MAX + 1];

	if (nl_attrs_nested(data, tb, NFTA_COUNTER_MAX))
		return -EPROTO;
	f->flags |= RS_RULE_COUNTER;
	attr_u64(tb[NFTA_COUNTER_PACKETS], &f->packets);
	attr_u64(tb[NFTA_COUNTER_BYTES], &f->bytes);
	return 0;
}

static int expr_named_set(struct rule_facts *f, const struct nlattr *data,
			  int max, int attr, uint8_t kind)
{
	const struct nlattr *tb[16];
	const char *set;

	if (max >= 16 || nl_attrs_nested(data, tb, max))
		return -EPROTO;
	set = attr_str(tb[attr]);
	if (set)
		add_ref(f, kind, set);
	return 0;
}

static int expr_objref(struct rule_facts *f, const struct nlattr *data)
{
	const struct nlattr *tb[NFTA_OBJREF_MAX + 1];
	const char *name;

	if (nl_attrs_nested(data, tb, NFTA_OBJREF_MAX))
		return -EPROTO;
	name = attr_str(tb[NFTA_OBJREF_SET_NAME]);
	if (!name)
		name = attr_str(tb[NFTA_OBJREF_IMM_NAME]);
	if (name)
		add_ref(f, RS_REF_OBJREF, name);
	return 0;
}

static int rule_walk(struct rule_facts *f, const struct nlattr *exprs)
{
	const struct nlattr *e;

	mnl_attr_for_each_nested(e, exprs) {
		const struct nlattr *tb[NFTA_EXPR_MAX + 1];
		const char *name;
		int err = 0;

		if (mnl_attr_get_type(e) != NFTA_LIST_ELEM ||
		    nl_attrs_nested(e, tb, NFTA_EXPR_MAX))
			return -EPROTO;
		name = attr_str(tb[NFTA_EXPR_NAME]);
		if (!name)
			return -EPROTO;
		if (!tb[NFTA_EXPR_DATA]) {
			regs_forget(f);
			continue;
		}
		if (!strcmp(name, "immediate"))
			err = expr_immediate(f, tb[NFTA_EXPR_DATA]);
		else if (!strcmp(name, "lookup"))
			err = expr_lookup(f, tb[NFTA_EXPR_DATA]);
		else if (!strcmp(name, "nat"))
			err = expr_nat(f, tb[NFTA_EXPR_DATA]);
		else if (!strcmp(name, "counter"))
			err = expr_counter(f, tb[NFTA_EXPR_DATA]);
		else if (!strcmp(name, "dynset"))
			err = expr_named_set(f, tb[NFTA_EXPR_DATA],
					     NFTA_DYNSET_MAX,
					     NFTA_DYNSET_SET_NAME,
					     RS_REF_DYNSET);
		else if (!strcmp(name, "objref"))
			err = expr_objref(f, tb[NFTA_EXPR_DATA]);
		else if (!strcmp(name, "match") || !strcmp(name, "target"))
			f->flags |= RS_RULE_COMPAT;
		else
			regs_forget(f);	/* may write any register */
		if (err)
			return err;
	}
	return 0;
}

static void rule_link(struct rs_chain *c, struct rs_rule *r,
		      struct rs_rule *after, bool head)
{
	if (after) {
		r->prev = after;
		r->next = after->next;
	} else if (head) {
		r->prev = NULL;
		r->next = c->first;
	} else {
		r->prev = c->last;
		r->next = NULL;
	}
	if (r->prev)
		r->prev->next = r;
	else
		c->first = r;
	if (r->next)
		r->next->prev = r;
	else
		c->last = r;
}

static int apply_rule(struct rs_model *m, const struct nlmsghdr *nlh,
		      bool del)
{
	const struct nlattr *tb[NFTA_RULE_MAX + 1];
	const char *tname, *cname;
	struct rs_rule *r, *old, *after = NULL;
	struct rule_facts f;
	struct rs_table *t;
	struct rs_chain *c;
	uint64_t handle, pos;

	if (nl_attrs_msg(nlh, tb, NFTA_RULE_MAX))
		return -EPROTO;
	tname = attr_str(tb[NFTA_RULE_TABLE]);
	cname = attr_str(tb[NFTA_RULE_CHAIN]);
	if (!tname || !attr_u64(tb[NFTA_RULE_HANDLE], &handle))
		return -EPROTO;
	t = rs_table_find(m, msg_family(nlh), tname);
	if (!t)
		return 0;
	old = rule_by_handle(t, handle);
	if (del) {
		if (old)
			rule_unlink(m, old);
		return 0;
	}
	if (!cname)
		return -EPROTO;
	c = rs_chain_find(t, cname);
	if (!c)
		return 0;	/* chain gone: a replay ahead of its events */

	memset(&f, 0, sizeof(f));
	if (tb[NFTA_RULE_EXPRESSIONS] && rule_walk(&f, tb[NFTA_RULE_EXPRESSIONS]))
		return -EPROTO;
	if (m->update_only) {
		/* counter refresh: values only, structure untouched */
		if (old && old->chain == c) {
			old->packets = f.packets;
			old->bytes = f.bytes;
		}
		return 0;
	}
	r = calloc(1, sizeof(*r) + f.nrefs * sizeof(r->refs[0]));
	if (!r)
		return -ENOMEM;
	r->handle = handle;
	r->chain = c;
	r->flags = f.flags;
	r->packets = f.packets;
	r->bytes = f.bytes;
	r->comment = udata_comment(m, tb[NFTA_RULE_USERDATA]);
	for (unsigned int i = 0; i < f.nrefs; i++) {
		r->refs[i] = f.refs[i];
		r->refs[i].name = NULL;
		if (f.refs[i].name)
			r->refs[i].name = intern_get(m->names, f.refs[i].name,
						     strlen(f.refs[i].name));
		r->nrefs++;
	}

	if (old && old->chain == c) {
		/* an update in place keeps its position */
		after = old->prev;
		rule_unlink(m, old);
		rule_link(c, r, after, after == NULL);
	} else {
		if (old)
			rule_unlink(m, old);
		if (attr_u64(tb[NFTA_RULE_POSITION], &pos)) {
			after = rule_by_handle(t, pos);
			if (after && after->chain != c)
				after = NULL;
		}
		rule_link(c, r, after,
			  !after && !(nlh->nlmsg_flags &
				      (NLM_F_APPEND | NLM_F_MULTI)));
	}
	if (hmap_insert(&t->rules, &r->by_handle, hash_u64(handle))) {
		r->chain = c;
		/* undo the link, keep the model consistent */
		if (r->prev)
			r->prev->next = r->next;
		else
			c->first = r->next;
		if (r->next)
			r->next->prev = r->prev;
		else
			c->last = r->prev;
		rule_free(m, r);
		return -ENOMEM;
	}
	c->nrules++;
	t->nrules++;
	if (r->flags & RS_RULE_COMPAT)
		t->ncompat++;
	notify(m, RS_OP_NEW, RS_KIND_RULE, t, r);
	return 0;
}

/* --- sets and elements --- */

static int apply_set(struct rs_model *m, const struct nlmsghdr *nlh, bool del)
{
	const struct nlattr *tb[NFTA_SET_MAX + 1];
	const char *tname, *name;
	struct rs_table *t;
	struct rs_set *s;
	uint64_t handle = 0;
	uint32_t u;

	if (nl_attrs_msg(nlh, tb, NFTA_SET_MAX))
		return -EPROTO;
	tname = attr_str(tb[NFTA_SET_TABLE]);
	name = attr_str(tb[NFTA_SET_NAME]);
	if (!tname || !name)
		return -EPROTO;
	attr_u64(tb[NFTA_SET_HANDLE], &handle);
	t = rs_table_find(m, msg_family(nlh), tname);
	if (!t)
		return 0;
	s = rs_set_find(t, name);
	if (s && handle && s->handle && s->handle != handle) {
		if (del)
			return 0;	/* an older incarnation */
		set_unlink(m, s);
		s = NULL;
	}
	if (del) {
		if (s)
			set_unlink(m, s);
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->name = intern_get(m->names, name, strlen(name));
		if (!s->name || hmap_insert(&t->sets, &s->by_name,
					    name_hash(name))) {
			intern_put(m->names, s->name);
			free(s);
			return -ENOMEM;
		}
		s->table = t;
	} else {
		set_count(t, s, -1);
	}
	s->handle = handle ? handle : s->handle;
	if (attr_u32(tb[NFTA_SET_FLAGS], &u))
		s->flags = u;
	if (attr_u32(tb[NFTA_SET_KEY_TYPE], &u))
		s->key_type = u;
	if (attr_u32(tb[NFTA_SET_KEY_LEN], &u))
		s->key_len = u;
	if (attr_u32(tb[NFTA_SET_DATA_TYPE], &u))
		s->data_type = u;
	if (attr_u32(tb[NFTA_SET_DATA_LEN], &u))
		s->data_len = u;
	if (attr_u32(tb[NFTA_SET_OBJ_TYPE], &u))
		s->obj_type = u;
	/* the packet path changes these without events */
	s->refreshed = s->overflow ||
		       (s->flags & (NFT_SET_EVAL | NFT_SET_TIMEOUT)) != 0;
	set_count(t, s, 1);
	notify(m, RS_OP_NEW, RS_KIND_SET, t, s);
	return 0;
}

struct elem_parsed {
	const uint8_t *key, *key_end, *data;
	uint16_t klen, kelen, dlen;
	uint32_t flags;
	int32_t verdict;
	const char *chain;
	const struct nlattr *udata;
};

static int data_value(const struct nlattr *a, const uint8_t **p,
		      uint16_t *len)
{
	const struct nlattr *d[NFTA_DATA_MAX + 1];

	if (nl_attrs_nested(a, d, NFTA_DATA_MAX) || !d[NFTA_DATA_VALUE])
		return -EPROTO;
	*p = mnl_attr_get_payload(d[NFTA_DATA_VALUE]);
	*len = mnl_attr_get_payload_len(d[NFTA_DATA_VALUE]);
	return *len > 255 ? -EPROTO : 0;
}

static int parse_elem(const struct nlattr *e, struct elem_parsed *p)
{
	const struct nlattr *tb[NFTA_SET_ELEM_MAX + 1];

	memset(p, 0, sizeof(*p));
	if (nl_attrs_nested(e, tb, NFTA_SET_ELEM_MAX))
		return -EPROTO;
	attr_u32(tb[NFTA_SET_ELEM_FLAGS], &p->flags);
	if (tb[NFTA_SET_ELEM_KEY] &&
	    data_value(tb[NFTA_SET_ELEM_KEY], &p->key, &p->klen))
		return -EPROTO;
	if (tb[NFTA_SET_ELEM_KEY_END] &&
	    data_value(tb[NFTA_SET_ELEM_KEY_END], &p->key_end, &p->kelen))
		return -EPROTO;
	if (tb[NFTA_SET_ELEM_DATA]) {
		const struct nlattr *d[NFTA_DATA_MAX + 1];
		const struct nlattr *v[NFTA_VERDICT_MAX + 1];
		uint32_t code;

		if (nl_attrs_nested(tb[NFTA_SET_ELEM_DATA], d, NFTA_DATA_MAX))
			return -EPROTO;
		if (d[NFTA_DATA_VERDICT]) {
			if (nl_attrs_nested(d[NFTA_DATA_VERDICT], v,
					 NFTA_VERDICT_MAX) ||
			    !attr_u32(v[NFTA_VERDICT_CODE], &code))
				return -EPROTO;
			p->verdict = (int32_t)code;
			p->chain = attr_str(v[NFTA_VERDICT_CHAIN]);
		} else if (d[NFTA_DATA_VALUE]) {
			p->data = mnl_attr_get_payload(d[NFTA_DATA_VALUE]);
			p->dlen = mnl_attr_get_payload_len(d[NFTA_DATA_VALUE]);
			if (p->dlen > 255)
				return -EPROTO;
		}
	}
	p->udata = tb[NFTA_SET_ELEM_USERDATA];
	return 0;
}

static uint32_t elem_hash(const struct elem_parsed *p)
{
	uint32_t h = hash_bytes(p->key, p->klen,
				p->flags & NFT_SET_ELEM_INTERVAL_END);

	return p->kelen ? h ^ hash_bytes(p->key_end, p->kelen, 1) : h;
}

static struct rs_elem *elem_find(const struct rs_set *s,
				 const struct elem_parsed *p, uint32_t h)
{
	uint32_t end = p->flags & NFT_SET_ELEM_INTERVAL_END;

	for (struct hnode *n = hmap_first(&s->elems, h); n; n = hmap_next(n, h)) {
		struct rs_elem *e = container_of(n, struct rs_elem, node);

		if (e->klen == p->klen && e->kelen == p->kelen &&
		    (e->flags & NFT_SET_ELEM_INTERVAL_END) == end &&
		    (!p->klen || !memcmp(rs_elem_key(e), p->key, p->klen)) &&
		    (!p->kelen ||
		     !memcmp(rs_elem_key_end(e), p->key_end, p->kelen)))
			return e;
	}
	return NULL;
}

static bool elem_counts(uint32_t flags)
{
	return !(flags & NFT_SET_ELEM_INTERVAL_END);
}

static void elem_remove(struct rs_model *m, struct rs_set *s,
			struct rs_elem *e)
{
	hmap_remove(&s->elems, &e->node);
	if (elem_counts(e->flags))
		s->nelems--;
	elem_free(m, e);
}

static int elem_add(struct rs_model *m, struct rs_set *s,
		    const struct elem_parsed *p, uint32_t h)
{
	struct rs_elem *e = elem_find(s, p, h);

	if (e)
		elem_remove(m, s, e);	/* an update: take the new data */
	e = calloc(1, sizeof(*e) + p->klen + p->kelen + p->dlen);
	if (!e)
		return -ENOMEM;
	e->flags = p->flags;
	e->verdict = p->verdict;
	e->klen = (uint8_t)p->klen;
	e->kelen = (uint8_t)p->kelen;
	e->dlen = (uint8_t)p->dlen;
	if (p->klen)
		memcpy(e->bytes, p->key, p->klen);
	if (p->kelen)
		memcpy(e->bytes + p->klen, p->key_end, p->kelen);
	if (p->dlen)
		memcpy(e->bytes + p->klen + p->kelen, p->data, p->dlen);
	if (p->chain)
		e->chain = intern_get(m->names, p->chain, strlen(p->chain));
	e->comment = udata_comment(m, p->udata);
	if (hmap_insert(&s->elems, &e->node, h)) {
		intern_put(m->names, e->chain);
		intern_put(m->names, e->comment);
		free(e);
		return -ENOMEM;
	}
	m->nelems_stored++;
	if (elem_counts(e->flags))
		s->nelems++;
	return 0;
}

static int apply_setelem(struct rs_model *m, const struct nlmsghdr *nlh,
			 bool del)
{
	const struct nlattr *tb[NFTA_SET_ELEM_LIST_MAX + 1], *e;
	const char *tname, *sname;
	struct elem_parsed p;
	struct rs_table *t;
	struct rs_set *s;
	bool changed = false;
	int err;

	if (nl_attrs_msg(nlh, tb, NFTA_SET_ELEM_LIST_MAX))
		return -EPROTO;
	tname = attr_str(tb[NFTA_SET_ELEM_LIST_TABLE]);
	sname = attr_str(tb[NFTA_SET_ELEM_LIST_SET]);
	if (!tname || !sname)
		return -EPROTO;
	t = rs_table_find(m, msg_family(nlh), tname);
	s = t ? rs_set_find(t, sname) : NULL;
	if (!s)
		return 0;
	if (!tb[NFTA_SET_ELEM_LIST_ELEMENTS])
		return 0;
	if (s->overflow && !m->count_only)
		return 0;	/* recounted by the periodic refresh */
	mnl_attr_for_each_nested(e, tb[NFTA_SET_ELEM_LIST_ELEMENTS]) {
		uint32_t h;

		if (parse_elem(e, &p))
			return -EPROTO;
		if (s->overflow) {
			if (!del && elem_counts(p.flags))
				s->nelems++;
			continue;
		}
		if (!del && m->max_elems && m->nelems_stored >= m->max_elems) {
			/* over the cap: stop keeping this set's elements */
			rs_set_clear_elems(m, s);
			s->overflow = true;
			s->refreshed = true;
			m->nsets_overflow++;
			m->recount = !m->count_only;
			changed = true;
			break;
		}
		h = elem_hash(&p);
		if (del) {
			struct rs_elem *old = elem_find(s, &p, h);

			if (old) {
				elem_remove(m, s, old);
				changed = true;
			}
			continue;
		}
		err = elem_add(m, s, &p, h);
		if (err)
			return err;
		changed = true;
	}
	if (changed)
		notify(m, del ? RS_OP_DEL : RS_OP_NEW, RS_KIND_ELEM, t, s);
	return 0;
}

/* --- objects and flowtables --- */

static int apply_obj(struct rs_model *m, const struct nlmsghdr *nlh, bool del)
{
	const struct nlattr *tb[NFTA_OBJ_MAX + 1], *d[16];
	const char *tname, *name;
	struct rs_table *t;
	struct rs_obj *o;
	uint64_t handle = 0;
	uint32_t type;

	if (nl_attrs_msg(nlh, tb, NFTA_OBJ_MAX))
		return -EPROTO;
	tname = attr_str(tb[NFTA_OBJ_TABLE]);
	name = attr_str(tb[NFTA_OBJ_NAME]);
	if (!tname || !name || !attr_u32(tb[NFTA_OBJ_TYPE], &type))
		return -EPROTO;
	attr_u64(tb[NFTA_OBJ_HANDLE], &handle);
	t = rs_table_find(m, msg_family(nlh), tname);
	if (!t)
		return 0;
	o = rs_obj_find(t, type, name);
	if (o && handle && o->handle && o->handle != handle) {
		if (del || m->update_only)
			return 0;
		obj_unlink(m, o);
		o = NULL;
	}
	if (del) {
		if (o)
			obj_unlink(m, o);
		return 0;
	}
	if (!o && m->update_only)
		return 0;
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o)
			return -ENOMEM;
		o->name = intern_get(m->names, name, strlen(name));
		if (!o->name || hmap_insert(&t->objs, &o->by_name,
					    name_hash(name) ^ type)) {
			intern_put(m->names, o->name);
			free(o);
			return -ENOMEM;
		}
		o->table = t;
		o->type = type;
		if (type < RS_OBJ_TYPES)
			t->nobjs[type]++;
	}
	if (handle)
		o->handle = handle;
	if (tb[NFTA_OBJ_DATA] && type == NFT_OBJECT_COUNTER &&
	    !nl_attrs_nested(tb[NFTA_OBJ_DATA], d, NFTA_COUNTER_MAX)) {
		attr_u64(d[NFTA_COUNTER_PACKETS], &o->packets);
		attr_u64(d[NFTA_COUNTER_BYTES], &o->bytes);
	} else if (tb[NFTA_OBJ_DATA] && type == NFT_OBJECT_QUOTA &&
		   !nl_attrs_nested(tb[NFTA_OBJ_DATA], d, NFTA_QUOTA_MAX)) {
		attr_u64(d[NFTA_QUOTA_BYTES], &o->quota);
		attr_u64(d[NFTA_QUOTA_CONSUMED], &o->consumed);
	}
	if (!m->update_only)
		notify(m, RS_OP_NEW, RS_KIND_OBJ, t, o);
	return 0;
}

static int apply_flowtable(struct rs_model *m, const struct nlmsghdr *nlh,
			   bool del)
{
	const struct nlattr *tb[NFTA_FLOWTABLE_MAX + 1];
	struct rs_flowtable **pp, *f;
	const char *tname, *name;
	struct rs_table *t;
	uint64_t handle = 0;

	if (nl_attrs_msg(nlh, tb, NFTA_FLOWTABLE_MAX))
		return -EPROTO;
	tname = attr_str(tb[NFTA_FLOWTABLE_TABLE]);
	name = attr_str(tb[NFTA_FLOWTABLE_NAME]);
	if (!tname || !name)
		return -EPROTO;
	attr_u64(tb[NFTA_FLOWTABLE_HANDLE], &handle);
	t = rs_table_find(m, msg_family(nlh), tname);
	if (!t)
		return 0;
	for (pp = &t->flowtables; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			break;
	if (del) {
		if (*pp)
			flowtable_unlink(m, t, pp);
		return 0;
	}
	if (*pp)
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->name = intern_get(m->names, name, strlen(name));
	if (!f->name) {
		free(f);
		return -ENOMEM;
	}
	f->handle = handle;
	*pp = f;
	t->nflowtables++;
	notify(m, RS_OP_NEW, RS_KIND_FLOWTABLE, t, f);
	return 0;
}

/* kernel >= 6.3 reports DESTROY* requests as DEL* events; define the
 * numbers the Debian 12 headers lack so a replayed request never
 * confuses us */
#define RS_MSG_DESTROYTABLE	26
#define RS_MSG_DESTROYFLOWTABLE	32

int rs_model_apply(struct rs_model *m, const struct nlmsghdr *nlh)
{
	uint16_t type = nlh->nlmsg_type & 0xff;

	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES)
		return -EPROTO;
	switch (type) {
	case NFT_MSG_NEWTABLE: return apply_table(m, nlh, false);
	case NFT_MSG_DELTABLE: return apply_table(m, nlh, true);
	case NFT_MSG_NEWCHAIN: return apply_chain(m, nlh, false);
	case NFT_MSG_DELCHAIN: return apply_chain(m, nlh, true);
	case NFT_MSG_NEWRULE: return apply_rule(m, nlh, false);
	case NFT_MSG_DELRULE: return apply_rule(m, nlh, true);
	case NFT_MSG_NEWSET: return apply_set(m, nlh, false);
	case NFT_MSG_DELSET: return apply_set(m, nlh, true);
	case NFT_MSG_NEWSETELEM: return apply_setelem(m, nlh, false);
	case NFT_MSG_DELSETELEM: return apply_setelem(m, nlh, true);
	case NFT_MSG_NEWOBJ: return apply_obj(m, nlh, false);
	case NFT_MSG_DELOBJ: return apply_obj(m, nlh, true);
	case NFT_MSG_NEWFLOWTABLE: return apply_flowtable(m, nlh, false);
	case NFT_MSG_DELFLOWTABLE: return apply_flowtable(m, nlh, true);
	default:
		/* GET* requests never reach us; anything else is ignored */
		(void)RS_MSG_DESTROYTABLE;
		(void)RS_MSG_DESTROYFLOWTABLE;
		return 0;
	}
}

int rs_parse_newgen(const struct nlmsghdr *nlh, uint32_t *gen, uint32_t *pid,
		    char *comm, size_t commlen)
{
	const struct nlattr *tb[NFTA_GEN_MAX + 1];
	const char *name;

	if (nl_attrs_msg(nlh, tb, NFTA_GEN_MAX) || !attr_u32(tb[NFTA_GEN_ID], gen))
		return -EPROTO;
	*pid = 0;
	attr_u32(tb[NFTA_GEN_PROC_PID], pid);
	name = attr_str(tb[NFTA_GEN_PROC_NAME]);
	if (commlen) {
		snprintf(comm, commlen, "%s", name ? name : "");
	}
	return 0;
}
