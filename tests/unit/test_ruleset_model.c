// SPDX-License-Identifier: Apache-2.0
/*
 * The ruleset model fed with captured nftables events (tests/unit/data,
 * recorded by capture.py from the kube-proxy fixtures): counts, rule
 * order, the facts kept per rule, renames, flushes, deletes, replays of
 * events the model already has, and malformed messages. No root needed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "intern.h"
#include "nl.h"
#include "ruleset.h"
#include "unit.h"

static const char *datadir = "tests/unit/data";

struct capture {
	unsigned char *buf;
	size_t len;
};

static struct capture load(const char *name)
{
	struct capture c = { NULL, 0 };
	char path[512];
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", datadir, name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "  cannot open %s\n", path);
		return c;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	c.buf = malloc((size_t)n);
	if (c.buf && fread(c.buf, 1, (size_t)n, f) == (size_t)n)
		c.len = (size_t)n;
	fclose(f);
	return c;
}

static int objects[8][3];	/* [kind][op] notifications */

static void on_object(void *arg, enum rs_op op, enum rs_kind kind,
		      const struct rs_table *t, const void *obj)
{
	(void)arg;
	(void)t;
	(void)obj;
	objects[kind][op]++;
}

static const struct ruleset_listener listener = { .object = on_object };

/*
 * Apply the capture's messages from transaction @from (1-based, counted
 * by NEWGEN) up to and including transaction @to. Returns the number of
 * messages the model refused.
 */
static int apply(struct rs_model *m, const struct capture *c, int from, int to)
{
	int gen = 1, errors = 0;

	for (size_t off = 0; off + 4 <= c->len;) {
		uint32_t dlen;
		const struct nlmsghdr *nlh;
		int left;

		memcpy(&dlen, c->buf + off, 4);
		off += 4;
		nlh = (const struct nlmsghdr *)(c->buf + off);
		left = (int)dlen;
		for (; nl_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			if ((nlh->nlmsg_type & 0xff) == NFT_MSG_NEWGEN) {
				gen++;
				continue;
			}
			if (gen < from || gen > to)
				continue;
			if (rs_model_apply(m, nlh))
				errors++;
		}
		off += dlen;
	}
	return errors;
}

static const struct rs_rule *rule_with(const struct rs_chain *c, uint8_t kind)
{
	for (const struct rs_rule *r = c ? c->first : NULL; r; r = r->next)
		for (unsigned int i = 0; i < r->nrefs; i++)
			if (r->refs[i].kind == kind)
				return r;
	return NULL;
}

static const struct rs_ref *ref_of(const struct rs_rule *r, uint8_t kind)
{
	for (unsigned int i = 0; r && i < r->nrefs; i++)
		if (r->refs[i].kind == kind)
			return &r->refs[i];
	return NULL;
}

#define EP1 "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
#define SVC1 "service-ULMVA6XW-ns1/svc1/tcp/p80"

static void check_v135(struct rs_model *m)
{
	struct rs_table *t = rs_table_find(m, NFPROTO_IPV4, "kube-proxy");
	const struct rs_ref *ref;
	const struct rs_rule *r;
	struct rs_chain *c;
	struct rs_set *s;
	const struct rs_elem *e;
	size_t pos = 0;
	struct hnode *cur = NULL;
	bool found = false;

	UNIT_CHECK(t != NULL);
	if (!t)
		return;
	UNIT_CHECK(m->ntables == 1);
	/* oracle: nft -j list ruleset of the fixture, listed/NAME.json */
	UNIT_CHECK(t->nchains == 32);
	UNIT_CHECK(t->nrules == 57);
	UNIT_CHECK(t->nsets == 3);
	UNIT_CHECK(t->nmaps == 5);
	s = rs_set_find(t, "service-ips");
	UNIT_CHECK(s && s->nelems == 9 && (s->flags & NFT_SET_MAP));

	c = rs_chain_find(t, "nat-prerouting");
	UNIT_CHECK(c && c->base && c->hooknum == NF_INET_PRE_ROUTING &&
		   c->prio == -100 && c->type && !strcmp(c->type, "nat"));

	c = rs_chain_find(t, "services");
	UNIT_CHECK(c && c->nrules == 2);
	ref = ref_of(c ? c->first : NULL, RS_REF_VMAP);
	UNIT_CHECK(ref && !strcmp(ref->name, "service-ips"));
	ref = ref_of(c && c->first ? c->first->next : NULL, RS_REF_VMAP);
	UNIT_CHECK(ref && !strcmp(ref->name, "service-nodeports"));

	/* the per-endpoint chain ends in a constant DNAT */
	r = rule_with(rs_chain_find(t, EP1), RS_REF_DNAT);
	ref = ref_of(r, RS_REF_DNAT);
	UNIT_CHECK(ref && ref->has_addr && ref->has_port && ref->port == 80);
	if (ref) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, ref->addr, ip, sizeof(ip));
		UNIT_CHECK_STR(ip, "10.180.0.1");
	}

	/* the service chain picks endpoints through an anonymous vmap */
	r = rule_with(rs_chain_find(t, SVC1), RS_REF_VMAP);
	ref = ref_of(r, RS_REF_VMAP);
	UNIT_CHECK(ref && !strncmp(ref->name, "__map", 5));
	s = ref ? rs_set_find(t, ref->name) : NULL;
	UNIT_CHECK(s && (s->flags & NFT_SET_ANONYMOUS) && s->nelems == 1);
	e = s ? rs_elem_iter(s, &pos, &cur) : NULL;
	UNIT_CHECK(e && e->verdict == NFT_GOTO && e->chain &&
		   !strcmp(e->chain, EP1));

	/* element comments carry ns/name:port */
	s = rs_set_find(t, "no-endpoint-services");
	pos = 0;
	cur = NULL;
	while (s && (e = rs_elem_iter(s, &pos, &cur)))
		if (e->comment && !strcmp(e->comment, "ns2/svc2:p80") &&
		    e->verdict == NF_DROP)
			found = true;
	UNIT_CHECK(found);
}

static void test_v135_load(void)
{
	struct capture cap = load("kp135.nlcap");
	struct rs_model m;

	UNIT_CHECK(cap.len > 0);
	UNIT_CHECK(rs_model_init(&m) == 0);
	UNIT_CHECK(apply(&m, &cap, 1, 1) == 0);
	check_v135(&m);
	rs_model_fini(&m);
	free(cap.buf);
}

static void test_replay_is_idempotent(void)
{
	struct capture cap = load("kp135.nlcap");
	struct rs_model m;

	UNIT_CHECK(rs_model_init(&m) == 0);
	/* a dump that already has a transaction, then its events */
	UNIT_CHECK(apply(&m, &cap, 1, 1) == 0);
	UNIT_CHECK(apply(&m, &cap, 1, 1) == 0);
	check_v135(&m);
	rs_model_fini(&m);
	free(cap.buf);
}

static void test_changes(void)
{
	struct capture cap = load("kp135.nlcap");
	struct rs_model m;
	struct rs_table *t, *x;
	struct rs_chain *c;
	struct rs_set *s;

	UNIT_CHECK(rs_model_init(&m) == 0);
	memset(objects, 0, sizeof(objects));
	m.listeners[0] = &listener;
	m.nlisteners = 1;
	UNIT_CHECK(apply(&m, &cap, 1, 2) == 0);
	t = rs_table_find(&m, NFPROTO_IPV4, "kube-proxy");
	UNIT_CHECK(t && t->nrules == 56 && t->nchains == 32);
	c = t ? rs_chain_find(t, "services") : NULL;
	UNIT_CHECK(c && c->nrules == 1 && c->first == c->last);
	UNIT_CHECK(t && !rs_chain_find(t, "reject-chain"));
	c = t ? rs_chain_find(t, "reject-chain-renamed") : NULL;
	UNIT_CHECK(c && c->nrules == 1);
	s = t ? rs_set_find(t, "cluster-ips") : NULL;
	UNIT_CHECK(s && s->nelems == 0);

	x = rs_table_find(&m, NFPROTO_INET, "extra");
	c = x ? rs_chain_find(x, "c") : NULL;
	UNIT_CHECK(c && c->nrules == 2 && c->policy == NF_DROP && c->prio == -5);
	/* "insert" went to the head, "add" to the tail */
	UNIT_CHECK(c && c->first && c->first->handle == 3);
	UNIT_CHECK(c && c->last && c->last->handle == 2 &&
		   (c->last->flags & RS_RULE_COUNTER) && c->last->comment &&
		   !strcmp(c->last->comment, "ssh \xc3\xbc"));

	UNIT_CHECK(apply(&m, &cap, 3, 3) == 0);
	/* "add ... position 2" lands right after handle 2 */
	UNIT_CHECK(c && c->nrules == 3 && c->last && c->last->handle == 4 &&
		   c->last->prev && c->last->prev->handle == 2);
	UNIT_CHECK(objects[RS_KIND_RULE][RS_OP_DEL] == 1);
	UNIT_CHECK(objects[RS_KIND_RULE][RS_OP_NEW] == 57 + 3);
	UNIT_CHECK(objects[RS_KIND_TABLE][RS_OP_NEW] == 2);

	UNIT_CHECK(apply(&m, &cap, 4, 4) == 0);
	UNIT_CHECK(m.ntables == 0 && m.tables == NULL);
	UNIT_CHECK(m.nelems_stored == 0);
	UNIT_CHECK(intern_count(m.names) == 0);
	rs_model_fini(&m);
	free(cap.buf);
}

static void test_v136_inline_dnat_map(void)
{
	struct capture cap = load("kp136.nlcap");
	const struct rs_ref *ref;
	struct rs_model m;
	struct rs_table *t;
	struct rs_set *s;

	UNIT_CHECK(rs_model_init(&m) == 0);
	UNIT_CHECK(apply(&m, &cap, 1, 1) == 0);
	t = rs_table_find(&m, NFPROTO_IPV4, "kube-proxy");
	UNIT_CHECK(t != NULL);
	ref = ref_of(rule_with(t ? rs_chain_find(t, "service-4AT6LBPK-ns3/svc3/tcp/p80") : NULL,
			       RS_REF_DNAT_MAP), RS_REF_DNAT_MAP);
	UNIT_CHECK(ref && ref->name && !strncmp(ref->name, "__map", 5));
	s = ref && t ? rs_set_find(t, ref->name) : NULL;
	UNIT_CHECK(s && s->nelems == 2 && s->data_len >= 6);
	if (s) {
		size_t pos = 0;
		struct hnode *cur = NULL;
		const struct rs_elem *e;
		int hits = 0;

		while ((e = rs_elem_iter(s, &pos, &cur))) {
			const uint8_t *d = rs_elem_data(e);
			uint16_t port;

			memcpy(&port, d + 4, 2);
			if (e->dlen >= 6 && d[0] == 10 && d[1] == 0 && d[2] == 3 &&
			    (d[3] == 2 || d[3] == 3) && ntohs(port) == 80)
				hits++;
		}
		UNIT_CHECK(hits == 2);
	}
	rs_model_fini(&m);
	free(cap.buf);
}

/* Every truncation and every flipped byte of real messages: no crash. */
static void test_malformed(void)
{
	struct capture cap = load("kp135.nlcap");
	unsigned char copy[65536];
	int refused = 0;

	for (size_t off = 0; off + 4 <= cap.len;) {
		uint32_t dlen;
		const struct nlmsghdr *nlh;
		int left;

		memcpy(&dlen, cap.buf + off, 4);
		off += 4;
		nlh = (const struct nlmsghdr *)(cap.buf + off);
		left = (int)dlen;
		for (; nl_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			uint32_t len = nlh->nlmsg_len;

			if (len > sizeof(copy) || (nlh->nlmsg_type & 0xff) == NFT_MSG_NEWGEN)
				continue;
			for (uint32_t cut = 16; cut < len; cut += 7) {
				struct rs_model m;
				struct nlmsghdr *h = (struct nlmsghdr *)copy;

				memcpy(copy, nlh, len);
				h->nlmsg_len = cut;
				copy[cut - 1] ^= 0x5a;
				rs_model_init(&m);
				if (rs_model_apply(&m, h))
					refused++;
				rs_model_fini(&m);
			}
		}
		off += dlen;
	}
	UNIT_CHECK(refused > 0);	/* and no crash, under ASan too */
	free(cap.buf);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		/* run.sh passes the golden dir; data sits beside it */
		static char dir[512];

		snprintf(dir, sizeof(dir), "%s/../data", argv[1]);
		datadir = dir;
	}
	UNIT_RUN(test_v135_load);
	UNIT_RUN(test_replay_is_idempotent);
	UNIT_RUN(test_changes);
	UNIT_RUN(test_v136_inline_dnat_map);
	UNIT_RUN(test_malformed);
	UNIT_DONE();
}
