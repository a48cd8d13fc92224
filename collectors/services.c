// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes Service ports as kube-proxy programmed them, read from its
 * nftables tables (ip/ip6 "kube-proxy") through the ruleset mirror. This
 * is the model half of the per-Service collector: identities, frontends
 * and programmed endpoints. It is rebuilt from the mirror after every
 * transaction that touched a kube-proxy table (O(Service ports)), never on
 * a scrape that follows no change.
 *
 * Identity: service-ips / service-nodeports / firewall-ips elements carry
 * no comment, so a Service port is named by the chain its element jumps
 * to ("service-|local-|external-|firewall-" HASH "-" ns/name/proto/port);
 * no-endpoint-services / no-endpoint-nodeports elements carry the name in
 * their comment ("ns/name:port" or "ns/name"). Endpoints: the service (or
 * local) chain picks endpoint chains through a vmap, each ending in a DNAT
 * (<= v1.35), or DNATs through an inline map of IP . port (v1.36), or
 * DNATs to one constant target. A name we cannot parse is counted and
 * logged once, never guessed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_compat.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "nl.h"
#include "ruleset.h"

#define SV_MAX_SERIES	60000	/* sized for 30,000 Service ports x 2 */
#define SV_MAX_EPS	4096	/* endpoints looked at per Service port */

enum {
	F_ENDPOINTS = 0,
	F_FRONTENDS,
	F_SERVICES,
	F_UNPARSED,
	F_CONN,
	F_ACTIVE,
	F_FAILED,
	F_CT_EVENTS,
	F_CT_OVERRUNS,
	F_N,
};

#define SV_CT_RCVBUF	(8 << 20)
#define SV_RECONCILE_MS	30000

#define SVC_LABELS { "namespace", "service", "port", "protocol", "family" }

static const struct metric_desc sv_desc[F_N] = {
	[F_ENDPOINTS] = { .name = "nftables_service_endpoints", .type = METRIC_GAUGE,
			  .help = "Endpoints kube-proxy programmed for the Service port on this node (0: it rejects or drops its traffic).",
			  .nlabels = 5, .labels = SVC_LABELS,
			  .max_series = SV_MAX_SERIES },
	[F_FRONTENDS] = { .name = "nftables_service_frontend_info", .type = METRIC_GAUGE,
			  .help = "A destination that reaches the Service port: kind cluster_ip, external (ExternalIP or LoadBalancer), node_port or no_endpoints; always 1.",
			  .nlabels = 8,
			  .labels = { "namespace", "service", "port", "protocol",
				      "family", "kind", "address", "port_number" },
			  .max_series = SV_MAX_SERIES * 2 },
	[F_SERVICES] = { .name = "nftables_services", .type = METRIC_GAUGE,
			 .help = "Service ports kube-proxy programmed, by family.",
			 .nlabels = 1, .labels = { "family" }, .max_series = 2 },
	[F_UNPARSED] = { .name = "nftables_service_unparsed", .type = METRIC_COUNTER,
			 .help = "kube-proxy chain names or element comments the services model could not parse (left out, never guessed).",
			 .nlabels = 1, .labels = { "what" }, .max_series = 4 },
	[F_CONN] = { .name = "nftables_service_connections", .type = METRIC_COUNTER,
		     .help = "New conntrack flows whose original destination is one of the Service port's frontends (series appear with the first flow).",
		     .nlabels = 5, .labels = SVC_LABELS, .max_series = SV_MAX_SERIES },
	[F_ACTIVE] = { .name = "nftables_service_connections_active", .type = METRIC_GAUGE,
		       .help = "Conntrack flows to the Service port's frontends now (from events, re-derived from a conntrack dump every 30 s and after lost events).",
		       .nlabels = 5, .labels = SVC_LABELS, .max_series = SV_MAX_SERIES },
	[F_FAILED] = { .name = "nftables_service_connections_failed", .type = METRIC_COUNTER,
		       .help = "Flows to the Service port that ended without ever seeing a reply: the black-hole signal.",
		       .nlabels = 5, .labels = SVC_LABELS, .max_series = SV_MAX_SERIES },
	[F_CT_EVENTS] = { .name = "nftables_conntrack_events", .type = METRIC_COUNTER,
			  .help = "Conntrack events read by the services collector, by type (new, destroy).",
			  .nlabels = 1, .labels = { "type" }, .max_series = 4 },
	[F_CT_OVERRUNS] = { .name = "nftables_conntrack_event_overruns", .type = METRIC_COUNTER,
			    .help = "Times the conntrack event socket overflowed (ENOBUFS); active flows are then re-derived from a dump." },
};

struct sv_priv {
	struct collector *c;
	struct ruleset *rs;
	struct endpoints *eps;
	struct metric_family *f[F_N];
	bool dirty;
	uint64_t unparsed_chain, unparsed_comment;
	bool logged;
	/* flows */
	struct hmap traffic;		/* Service port -> its flow counters */
	struct hmap frontends;		/* (family, proto, addr, port) -> traffic */
	struct nl_sock ev, dump;
	bool ev_open;
	struct loop_timer *timer;
	uint64_t ct_new, ct_destroy, ct_overruns;
};

/* Flow counters of one Service port; series appear with the first flow. */
struct traffic {
	struct hnode node;
	bool seen;			/* in the model at the last rebuild */
	double active;
	struct metric_series *total, *act, *failed;
	char *labels[5];		/* ns, name, port, proto, family */
	char key[];
};

struct frontend {
	struct hnode node;
	uint8_t family, proto;
	uint16_t port;
	uint8_t addr[16];		/* all zero: a NodePort, any address */
	struct traffic *t;
};

/* A Service port's identity, pointing into a chain name or a buffer. */
struct sv_id {
	char ns[256], name[256], port[256], proto[8];
};

static const char *proto_name(uint8_t p)
{
	switch (p) {
	case 6: return "tcp";
	case 17: return "udp";
	case 132: return "sctp";
	}
	return NULL;
}

static bool is_hash(const char *s)
{
	for (int i = 0; i < 8; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '2' && s[i] <= '7')))
			return false;
	return s[8] == '-';
}

/*
 * "service-HASH-ns/name/proto/port" (also local-, external-, firewall-);
 * @kind gets the prefix. False for anything else, including names cut by
 * kube-proxy's 240-character limit ("...").
 */
static bool parse_chain(const char *chain, struct sv_id *id, char *kind,
			size_t kindlen)
{
	static const char *const pfx[] = { "service-", "local-", "external-",
					   "firewall-" };
	const char *p = NULL, *a, *b, *c;

	for (size_t i = 0; i < sizeof(pfx) / sizeof(pfx[0]) && !p; i++) {
		if (!strncmp(chain, pfx[i], strlen(pfx[i]))) {
			p = chain + strlen(pfx[i]);
			snprintf(kind, kindlen, "%.*s", (int)strlen(pfx[i]) - 1,
				 pfx[i]);
		}
	}
	if (!p || strlen(p) < 9 || !is_hash(p))
		return false;
	p += 9;
	a = strchr(p, '/');
	b = a ? strchr(a + 1, '/') : NULL;
	c = b ? strchr(b + 1, '/') : NULL;
	if (!a || !b || !c || strchr(c + 1, '/') || a == p || b == a + 1)
		return false;
	snprintf(id->ns, sizeof(id->ns), "%.*s", (int)(a - p), p);
	snprintf(id->name, sizeof(id->name), "%.*s", (int)(b - a - 1), a + 1);
	snprintf(id->proto, sizeof(id->proto), "%.*s", (int)(c - b - 1), b + 1);
	snprintf(id->port, sizeof(id->port), "%s", c + 1);
	if (strcmp(id->proto, "tcp") && strcmp(id->proto, "udp") &&
	    strcmp(id->proto, "sctp"))
		return false;
	return !strstr(id->port, "...");
}

/* "ns/name:port" or "ns/name" from a no-endpoint element comment. */
static bool parse_comment(const char *comment, struct sv_id *id)
{
	const char *slash = comment ? strchr(comment, '/') : NULL;
	const char *colon;

	if (!slash || slash == comment)
		return false;
	colon = strchr(slash + 1, ':');
	snprintf(id->ns, sizeof(id->ns), "%.*s", (int)(slash - comment), comment);
	if (colon) {
		snprintf(id->name, sizeof(id->name), "%.*s",
			 (int)(colon - slash - 1), slash + 1);
		snprintf(id->port, sizeof(id->port), "%s", colon + 1);
	} else {
		snprintf(id->name, sizeof(id->name), "%s", slash + 1);
		id->port[0] = '\0';
	}
	return id->name[0] && !strchr(id->name, '/');
}

/* Distinct endpoints of one Service port (a scratch owned by sv_priv). */
struct endpoints {
	unsigned int n;
	unsigned int extra;		/* beyond SV_MAX_EPS, not deduplicated */
	struct {
		uint8_t addr[16];
		uint16_t port;
	} ep[SV_MAX_EPS];
};

static void ep_add(struct endpoints *e, const uint8_t *addr, size_t alen,
		   uint16_t port)
{
	uint8_t a[16] = { 0 };

	memcpy(a, addr, alen);
	for (unsigned int i = 0; i < e->n; i++)
		if (e->ep[i].port == port && !memcmp(e->ep[i].addr, a, 16))
			return;
	if (e->n < SV_MAX_EPS) {
		memcpy(e->ep[e->n].addr, a, 16);
		e->ep[e->n++].port = port;
	} else {
		e->extra++;
	}
}

/* The DNAT at the end of an endpoint chain. */
static void endpoint_chain(const struct rs_table *t, const char *name,
			   struct endpoints *e)
{
	const struct rs_chain *c = rs_chain_find(t, name);
	size_t alen = t->family == NFPROTO_IPV6 ? 16 : 4;

	for (const struct rs_rule *r = c ? c->first : NULL; r; r = r->next)
		for (unsigned int i = 0; i < r->nrefs; i++)
			if (r->refs[i].kind == RS_REF_DNAT &&
			    r->refs[i].has_addr)
				ep_add(e, r->refs[i].addr, alen,
				       r->refs[i].has_port ? r->refs[i].port : 0);
}

/* Endpoints a service-/local- chain sends its traffic to. */
static void service_endpoints(const struct rs_table *t, const char *chain,
			      struct endpoints *e)
{
	const struct rs_chain *c = rs_chain_find(t, chain);
	size_t alen = t->family == NFPROTO_IPV6 ? 16 : 4;

	for (const struct rs_rule *r = c ? c->first : NULL; r; r = r->next) {
		for (unsigned int i = 0; i < r->nrefs; i++) {
			const struct rs_ref *ref = &r->refs[i];
			const struct rs_set *s;
			const struct rs_elem *el;
			struct hnode *cur = NULL;
			size_t pos = 0;

			switch (ref->kind) {
			case RS_REF_JUMP:
			case RS_REF_GOTO:
				if (!strncmp(ref->name, "endpoint-", 9))
					endpoint_chain(t, ref->name, e);
				break;
			case RS_REF_VMAP:
				s = rs_set_find(t, ref->name);
				while (s && (el = rs_elem_iter(s, &pos, &cur)))
					if (el->chain &&
					    !strncmp(el->chain, "endpoint-", 9))
						endpoint_chain(t, el->chain, e);
				break;
			case RS_REF_DNAT_MAP:
				/* data is addr . port, each padded to 4 bytes */
				s = rs_set_find(t, ref->name);
				while (s && (el = rs_elem_iter(s, &pos, &cur))) {
					uint16_t port;

					if (el->dlen < alen + 2)
						continue;
					memcpy(&port, rs_elem_data(el) + alen, 2);
					ep_add(e, rs_elem_data(el), alen,
					       ntohs(port));
				}
				break;
			case RS_REF_DNAT:
				if (ref->has_addr)
					ep_add(e, ref->addr, alen,
					       ref->has_port ? ref->port : 0);
				break;
			default:
				break;
			}
		}
	}
}

static void unparsed(struct sv_priv *p, const char *what, const char *text)
{
	if (!strcmp(what, "chain"))
		p->unparsed_chain++;
	else
		p->unparsed_comment++;
	if (!p->logged) {
		log_warn("services: cannot parse kube-proxy %s '%s' (left out; counted in nftables_service_unparsed_total)",
			 what, text);
		p->logged = true;
	}
}

static void put_frontend(struct sv_priv *p, const struct sv_id *id,
			 const char *fam, const char *kind, const char *addr,
			 unsigned int port)
{
	char num[8];
	const char *v[8] = { id->ns, id->name, id->port, id->proto, fam, kind,
			     addr, num };
	struct metric_series *m;

	snprintf(num, sizeof(num), "%u", port);
	m = metric_series_get(p->f[F_FRONTENDS], v);
	if (m)
		metric_set(m, 1);
}

/* One Service port while the model is rebuilt. */
struct sp {
	struct hnode node;
	struct sv_id id;
	uint8_t family;
	unsigned int endpoints;
	struct traffic *traffic;
	char key[800];
};

static struct sp *sp_get(struct hmap *m, const struct sv_id *id,
			 uint8_t family)
{
	char key[800];
	uint32_t h;
	struct sp *sp;

	snprintf(key, sizeof(key), "%s/%s/%s/%s/%u", id->ns, id->name,
		 id->port, id->proto, family);
	h = hash_bytes(key, strlen(key), 0);
	for (struct hnode *n = hmap_first(m, h); n; n = hmap_next(n, h)) {
		sp = container_of(n, struct sp, node);
		if (!strcmp(sp->key, key))
			return sp;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	sp->id = *id;
	sp->family = family;
	snprintf(sp->key, sizeof(sp->key), "%s", key);
	if (hmap_insert(m, &sp->node, h)) {
		free(sp);
		return NULL;
	}
	return sp;
}

static unsigned int count_endpoints(struct sv_priv *p, const struct rs_table *t,
				    const char *chain, const char *kind)
{
	struct endpoints *e = p->eps;

	e->n = e->extra = 0;

	if (!strcmp(kind, "external")) {
		/* external- chains go on to the service- or local- chain */
		const struct rs_chain *c = rs_chain_find(t, chain);

		for (const struct rs_rule *r = c ? c->first : NULL; r; r = r->next)
			for (unsigned int i = 0; i < r->nrefs; i++)
				if ((r->refs[i].kind == RS_REF_GOTO ||
				     r->refs[i].kind == RS_REF_JUMP) &&
				    (!strncmp(r->refs[i].name, "service-", 8) ||
				     !strncmp(r->refs[i].name, "local-", 6)))
					service_endpoints(t, r->refs[i].name, e);
	} else {
		service_endpoints(t, chain, e);
	}
	return e->n + e->extra;
}

/* Key layout: [addr (4|16)] [proto, padded to 4] [port BE, padded to 4]. */
static bool split_key(const struct rs_elem *el, size_t alen, char *addr,
		      size_t addrlen, const char **proto, unsigned int *port)
{
	const uint8_t *k = rs_elem_key(el);
	uint16_t p;

	if (el->klen != alen + 8)
		return false;
	*proto = proto_name(k[alen]);
	memcpy(&p, k + alen + 4, 2);
	*port = ntohs(p);
	if (alen == 0)
		addr[0] = '\0';
	else
		inet_ntop(alen == 4 ? AF_INET : AF_INET6, k, addr,
			  (socklen_t)addrlen);
	return *proto != NULL;
}

static struct traffic *traffic_get(struct sv_priv *p, const struct sp *sp)
{
	uint32_t h = hash_bytes(sp->key, strlen(sp->key), 0);
	const char *parts[5] = { sp->id.ns, sp->id.name, sp->id.port,
				 sp->id.proto, rs_family_name(sp->family) };
	size_t len[5], total = 0;
	struct traffic *t;
	char *q;

	for (struct hnode *n = hmap_first(&p->traffic, h); n; n = hmap_next(n, h)) {
		t = container_of(n, struct traffic, node);
		if (!strcmp(t->key, sp->key)) {
			t->seen = true;
			return t;
		}
	}
	for (int i = 0; i < 5; i++)
		total += (len[i] = strlen(parts[i])) + 1;
	t = calloc(1, sizeof(*t) + strlen(sp->key) + 1 + total);
	if (!t)
		return NULL;
	strcpy(t->key, sp->key);
	q = t->key + strlen(sp->key) + 1;
	for (int i = 0; i < 5; i++) {
		memcpy(q, parts[i], len[i] + 1);
		t->labels[i] = q;
		q += len[i] + 1;
	}
	t->seen = true;
	if (hmap_insert(&p->traffic, &t->node, h)) {
		free(t);
		return NULL;
	}
	return t;
}

static uint32_t fe_hash(uint8_t family, uint8_t proto, uint16_t port,
			const uint8_t *addr)
{
	return hash_bytes(addr, 16, ((uint32_t)family << 24) |
			  ((uint32_t)proto << 16) | port);
}

static void frontend_add(struct sv_priv *p, uint8_t family, uint8_t proto,
			 const uint8_t *addr, size_t alen, uint16_t port,
			 struct traffic *t)
{
	struct frontend *f = calloc(1, sizeof(*f));

	if (!f)
		return;
	f->family = family;
	f->proto = proto;
	f->port = port;
	memcpy(f->addr, addr, alen);
	f->t = t;
	if (hmap_insert(&p->frontends, &f->node,
			fe_hash(family, proto, port, f->addr)))
		free(f);
}

static struct traffic *frontend_find(struct sv_priv *p, uint8_t family,
				     uint8_t proto, const uint8_t *addr,
				     uint16_t port)
{
	static const uint8_t any[16];

	for (int pass = 0; pass < 2; pass++) {
		const uint8_t *a = pass ? any : addr;
		uint32_t h = fe_hash(family, proto, port, a);

		for (struct hnode *n = hmap_first(&p->frontends, h); n;
		     n = hmap_next(n, h)) {
			struct frontend *f = container_of(n, struct frontend, node);

			if (f->family == family && f->proto == proto &&
			    f->port == port && !memcmp(f->addr, a, 16))
				return f->t;
		}
	}
	return NULL;
}

static void frontends_clear(struct sv_priv *p)
{
	size_t pos = 0;
	struct hnode *cur = NULL, *n;

	while ((n = hmap_iter(&p->frontends, &pos, &cur)))
		free(container_of(n, struct frontend, node));
	hmap_fini(&p->frontends);
}

static void traffic_del(struct sv_priv *p, struct traffic *t)
{
	hmap_remove(&p->traffic, &t->node);
	metric_series_del(p->f[F_CONN], t->total);
	metric_series_del(p->f[F_ACTIVE], t->act);
	metric_series_del(p->f[F_FAILED], t->failed);
	free(t);
}

static void walk_map(struct sv_priv *p, const struct rs_table *t,
		     struct hmap *sps, const char *map, size_t alen,
		     const char *fkind)
{
	const struct rs_set *s = rs_set_find(t, map);
	const char *fam = rs_family_name(t->family);
	const struct rs_elem *el;
	struct hnode *cur = NULL;
	size_t pos = 0;

	while (s && (el = rs_elem_iter(s, &pos, &cur))) {
		char addr[INET6_ADDRSTRLEN], kind[16];
		const char *proto;
		unsigned int port, n;
		struct sv_id id;
		struct sp *sp;
		bool noep = !strcmp(fkind, "no_endpoints");

		if (!split_key(el, alen, addr, sizeof(addr), &proto, &port))
			continue;
		if (noep) {
			if (!parse_comment(el->comment, &id)) {
				unparsed(p, "comment", el->comment ? el->comment : "");
				continue;
			}
			snprintf(id.proto, sizeof(id.proto), "%s", proto);
		} else if (!el->chain ||
			   !parse_chain(el->chain, &id, kind, sizeof(kind))) {
			unparsed(p, "chain", el->chain ? el->chain : "");
			continue;
		}
		sp = sp_get(sps, &id, t->family);
		if (!sp)
			continue;
		if (noep) {
			put_frontend(p, &id, fam, "no_endpoints", addr, port);
			continue;
		}
		n = count_endpoints(p, t, el->chain, kind);
		if (n > sp->endpoints)
			sp->endpoints = n;
		if (!sp->traffic)
			sp->traffic = traffic_get(p, sp);
		if (sp->traffic)
			frontend_add(p, t->family, rs_elem_key(el)[alen],
				     rs_elem_key(el), alen, (uint16_t)port,
				     sp->traffic);
		put_frontend(p, &id, fam,
			     alen == 0 ? "node_port" :
			     strcmp(kind, "external") ? "cluster_ip" : "external",
			     addr, port);
	}
}

static void rebuild(struct sv_priv *p)
{
	const struct rs_model *m = ruleset_model(p->rs);
	unsigned int nsvc[2] = { 0, 0 };
	struct hmap sps = { 0 };
	struct hnode *cur = NULL, *n;
	size_t pos = 0;

	for (int i = F_ENDPOINTS; i <= F_SERVICES; i++)
		metric_family_sweep_begin(p->f[i]);
	frontends_clear(p);
	while ((n = hmap_iter(&p->traffic, &pos, &cur)))
		container_of(n, struct traffic, node)->seen = false;
	pos = 0;
	cur = NULL;
	for (const struct rs_table *t = m->tables; t; t = t->next) {
		size_t alen;

		if (strcmp(t->name, "kube-proxy") ||
		    (t->family != NFPROTO_IPV4 && t->family != NFPROTO_IPV6))
			continue;
		alen = t->family == NFPROTO_IPV4 ? 4 : 16;
		walk_map(p, t, &sps, "service-ips", alen, "ip");
		walk_map(p, t, &sps, "service-nodeports", 0, "node_port");
		walk_map(p, t, &sps, "no-endpoint-services", alen, "no_endpoints");
		walk_map(p, t, &sps, "no-endpoint-nodeports", 0, "no_endpoints");
	}
	while ((n = hmap_iter(&sps, &pos, &cur))) {
		struct sp *sp = container_of(n, struct sp, node);
		const char *v[5] = { sp->id.ns, sp->id.name, sp->id.port,
				     sp->id.proto, rs_family_name(sp->family) };
		struct metric_series *ms = metric_series_get(p->f[F_ENDPOINTS], v);

		if (ms)
			metric_set(ms, sp->endpoints);
		nsvc[sp->family == NFPROTO_IPV6]++;
		free(sp);
	}
	hmap_fini(&sps);
	for (int k = 0; k < 2; k++) {
		const char *v[1] = { k ? "ip6" : "ip" };
		struct metric_series *ms;

		if (!nsvc[k])
			continue;
		ms = metric_series_get(p->f[F_SERVICES], v);
		if (ms)
			metric_set(ms, nsvc[k]);
	}
	for (int i = F_ENDPOINTS; i <= F_SERVICES; i++)
		metric_family_sweep_end(p->f[i]);
	pos = 0;
	cur = NULL;
	while ((n = hmap_iter(&p->traffic, &pos, &cur)))
		if (!container_of(n, struct traffic, node)->seen)
			traffic_del(p, container_of(n, struct traffic, node));
	p->dirty = false;
}

/* --- conntrack flows --- */

struct flow {
	uint8_t family, proto;
	uint16_t port;
	uint8_t addr[16];
	uint32_t status;
};

/* tb[0..16] of a nested attribute; false when absent or malformed. */
static bool nested(const struct nlattr *a, const struct nlattr **tb)
{
	return a && !nl_attrs_nested(a, tb, 16);
}

/* The original tuple's destination and the status of a ctnetlink message. */
static bool parse_flow(const struct nlmsghdr *nlh, struct flow *f)
{
	const struct nlattr *tb[17], *tup[17], *ip[17], *pr[17];
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	size_t alen;

	memset(f, 0, sizeof(*f));
	if (nl_attrs_msg(nlh, tb, 16))
		return false;
	f->family = g->nfgen_family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
	alen = f->family == NFPROTO_IPV6 ? 16 : 4;
	if (!nested(tb[CTA_TUPLE_ORIG], tup) || !nested(tup[CTA_TUPLE_IP], ip) ||
	    !nested(tup[CTA_TUPLE_PROTO], pr))
		return false;
	{
		const struct nlattr *d = ip[alen == 4 ? CTA_IP_V4_DST : CTA_IP_V6_DST];

		if (!d || mnl_attr_get_payload_len(d) != alen)
			return false;
		memcpy(f->addr, mnl_attr_get_payload(d), alen);
	}
	if (!pr[CTA_PROTO_NUM] || mnl_attr_validate(pr[CTA_PROTO_NUM], MNL_TYPE_U8) < 0)
		return false;
	f->proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
	if (pr[CTA_PROTO_DST_PORT] &&
	    mnl_attr_validate(pr[CTA_PROTO_DST_PORT], MNL_TYPE_U16) >= 0)
		f->port = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT]));
	if (tb[CTA_STATUS] && mnl_attr_validate(tb[CTA_STATUS], MNL_TYPE_U32) >= 0)
		f->status = ntohl(mnl_attr_get_u32(tb[CTA_STATUS]));
	return true;
}

static struct metric_series *series(struct sv_priv *p, int fam,
				    struct traffic *t, struct metric_series **m)
{
	if (!*m)
		*m = metric_series_get(p->f[fam], (const char *const *)t->labels);
	return *m;
}

static void on_flow(struct sv_priv *p, const struct nlmsghdr *nlh)
{
	bool destroy = (nlh->nlmsg_type & 0xff) == IPCTNL_MSG_CT_DELETE;
	struct traffic *t;
	struct flow f;

	if (!destroy && (nlh->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW)
		return;
	if (destroy)
		p->ct_destroy++;
	else
		p->ct_new++;
	if (!parse_flow(nlh, &f))
		return;
	if (p->dirty && ruleset_synced(p->rs))
		rebuild(p);
	t = frontend_find(p, f.family, f.proto, f.addr, f.port);
	if (!t)
		return;
	if (!destroy) {
		if (series(p, F_CONN, t, &t->total))
			metric_add(t->total, 1);
		t->active++;
		series(p, F_ACTIVE, t, &t->act);
		return;
	}
	if (t->active > 0)
		t->active--;
	if (!(f.status & IPS_SEEN_REPLY) && series(p, F_FAILED, t, &t->failed))
		metric_add(t->failed, 1);
}

static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	struct sv_priv *p = data;
	struct traffic *t;
	struct flow f;

	if (parse_flow(nlh, &f) &&
	    (t = frontend_find(p, f.family, f.proto, f.addr, f.port)))
		t->active++;
	return MNL_CB_OK;
}

/*
 * Active flows from a dump of the conntrack table: flows that existed
 * before we listened never send events (nf_conntrack_events=2), and lost
 * events must not leave the gauges wrong for good.
 */
static void reconcile(struct sv_priv *p)
{
	size_t pos = 0;
	struct hnode *cur = NULL, *n;
	struct nlmsghdr *nlh;
	struct nfgenmsg *g;

	if (!p->dump.mnl || !ruleset_synced(p->rs))
		return;
	if (p->dirty)
		rebuild(p);
	while ((n = hmap_iter(&p->traffic, &pos, &cur)))
		container_of(n, struct traffic, node)->active = 0;
	nlh = mnl_nlmsg_put_header(p->dump.buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++p->dump.seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	if (nl_query(&p->dump, nlh, count_cb, p, 10000))
		log_debug("services: conntrack dump failed");
}

static void ct_read(struct sv_priv *p)
{
	for (;;) {
		ssize_t n = recv(nl_fd(&p->ev), p->ev.buf, NL_BUFSZ, MSG_DONTWAIT);
		const struct nlmsghdr *nlh = (const void *)p->ev.buf;
		int left = (int)n;

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == ENOBUFS) {
			p->ct_overruns++;
			while (recv(nl_fd(&p->ev), p->ev.buf, NL_BUFSZ,
				    MSG_DONTWAIT) > 0)
				;
			reconcile(p);
			continue;
		}
		if (n <= 0)
			return;
		for (; nl_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			if ((nlh->nlmsg_type >> 8) == NFNL_SUBSYS_CTNETLINK)
				on_flow(p, nlh);
	}
}

static void ct_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	ct_read(arg);
}

static void reconcile_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	ct_read(arg);
	reconcile(arg);
}

static void sv_object(void *arg, enum rs_op op, enum rs_kind kind,
		      const struct rs_table *t, const void *obj)
{
	struct sv_priv *p = arg;

	(void)op;
	(void)kind;
	(void)obj;
	if (!strcmp(t->name, "kube-proxy"))
		p->dirty = true;
}

static void sv_reset(void *arg)
{
	struct sv_priv *p = arg;

	p->dirty = true;
}

static const struct ruleset_listener sv_listener = {
	.object = sv_object,
	.reset = sv_reset,
};

static int sv_collect(struct collector *c)
{
	struct sv_priv *p = c->priv;
	bool synced = ruleset_synced(p->rs);

	for (int i = F_ENDPOINTS; i <= F_SERVICES; i++)
		metric_family_set_visible(p->f[i], synced);
	if (!synced)
		return -EAGAIN;
	if (p->ev_open)
		ct_read(p);
	if (p->dirty)
		rebuild(p);
	{
		size_t pos = 0;
		struct hnode *cur = NULL, *n;
		const char *tn[1] = { "new" }, *td[1] = { "destroy" };
		struct metric_series *m;

		while ((n = hmap_iter(&p->traffic, &pos, &cur))) {
			struct traffic *t = container_of(n, struct traffic, node);

			/* flows found by a dump have no series yet */
			if ((t->act || t->active > 0) &&
			    series(p, F_ACTIVE, t, &t->act))
				metric_set(t->act, t->active);
		}
		m = metric_series_get(p->f[F_CT_EVENTS], tn);
		if (m)
			metric_set(m, (double)p->ct_new);
		m = metric_series_get(p->f[F_CT_EVENTS], td);
		if (m)
			metric_set(m, (double)p->ct_destroy);
		m = metric_series_get(p->f[F_CT_OVERRUNS], NULL);
		if (m)
			metric_set(m, (double)p->ct_overruns);
	}
	{
		const char *a[1] = { "chain" }, *b[1] = { "comment" };
		struct metric_series *m;

		m = metric_series_get(p->f[F_UNPARSED], a);
		if (m)
			metric_set(m, (double)p->unparsed_chain);
		m = metric_series_get(p->f[F_UNPARSED], b);
		if (m)
			metric_set(m, (double)p->unparsed_comment);
	}
	return 0;
}

static void sv_fini(struct collector *c)
{
	struct sv_priv *p = c->priv;

	if (!p)
		return;
	ruleset_detach(p->rs, c, p);
	loop_del_timer(c->env->loop, p->timer);
	if (p->ev_open)
		loop_del_fd(c->env->loop, nl_fd(&p->ev));
	nl_close(&p->ev);
	nl_close(&p->dump);
	frontends_clear(p);
	{
		size_t pos = 0;
		struct hnode *cur = NULL, *n;

		while ((n = hmap_iter(&p->traffic, &pos, &cur)))
			free(container_of(n, struct traffic, node));
		hmap_fini(&p->traffic);
	}
	free(p->eps);
	free(p);
	c->priv = NULL;
}

static int sv_init(struct collector *c)
{
	struct sv_priv *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	c->priv = p;
	p->c = c;
	p->dirty = true;
	p->eps = malloc(sizeof(*p->eps));
	if (!p->eps) {
		err = -ENOMEM;
		goto err;
	}
	for (int i = 0; i < F_N; i++) {
		p->f[i] = metric_family_add(c->env->store, &sv_desc[i]);
		if (!p->f[i]) {
			err = -errno;
			goto err;
		}
	}
	p->rs = ruleset_attach(c, &sv_listener, p);
	if (!p->rs) {
		err = -errno;
		goto err;
	}
	/* conntrack NEW and DESTROY events; no traffic series without them */
	err = nl_open(&p->ev, NF_NETLINK_CONNTRACK_NEW |
		      NF_NETLINK_CONNTRACK_DESTROY, SV_CT_RCVBUF, true);
	if (err) {
		log_warn("services: no conntrack events (%s): no per-Service connection counts",
			 strerror(-err));
	} else if (loop_add_fd(c->env->loop, nl_fd(&p->ev), EPOLLIN, ct_cb, p)) {
		nl_close(&p->ev);
	} else {
		p->ev_open = true;
		if (!nl_open(&p->dump, 0, 0, false))
			p->timer = loop_add_timer(c->env->loop, 500,
						  SV_RECONCILE_MS, reconcile_cb, p);
	}
	return 0;
err:
	sv_fini(c);
	return err ? err : -ENOMEM;
}

const struct collector_ops services_collector_ops = {
	.name = "services",
	.help = "Kubernetes Service ports, frontends and endpoints read from kube-proxy's nftables tables",
	.default_enabled = true,
	.init = sv_init,
	.collect = sv_collect,
	.fini = sv_fini,
};
