/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ruleset mirror: a model of the watched namespace's nftables ruleset,
 * dumped once and kept current from NFNLGRP_NFTABLES events, and the
 * "ruleset" collector that exports counts from it.
 *
 * Other collectors (sync latency, per-Service) share one mirror through
 * ruleset_acquire() and read the model directly. Everything here runs on
 * the event-loop thread; model pointers stay valid until the callback that
 * got them returns (a later event or resync may free them), so keep names,
 * not pointers, across callbacks.
 *
 * The model (struct rs_model and what hangs off it) is read-only outside
 * collectors/ruleset*.c.
 */
#ifndef NFTEXP_RULESET_H
#define NFTEXP_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#include "collector.h"
#include "hmap.h"

struct intern;

/* What a rule refers to; the few facts other collectors need. */
enum rs_ref_kind {
	RS_REF_JUMP = 1,	/* name: chain */
	RS_REF_GOTO,		/* name: chain */
	RS_REF_LOOKUP,		/* name: set (match against a set) */
	RS_REF_VMAP,		/* name: verdict map */
	RS_REF_MAP,		/* name: data map (value loaded into a register) */
	RS_REF_DYNSET,		/* name: set updated from the packet path */
	RS_REF_OBJREF,		/* name: named object, or object map */
	RS_REF_DNAT,		/* constant target: addr/port, name NULL */
	RS_REF_DNAT_MAP,	/* name: map the DNAT target comes from */
};

struct rs_ref {
	uint8_t kind;
	uint8_t family;		/* DNAT: NFPROTO_IPV4/IPV6 */
	uint8_t has_addr, has_port;
	uint16_t port;		/* host byte order */
	uint8_t addr[16];	/* network byte order, 4 or 16 bytes used */
	const char *name;	/* interned */
};

#define RS_RULE_COUNTER	0x1	/* has a counter expression */
#define RS_RULE_COMPAT	0x2	/* uses xt match/target (iptables-nft) */

struct rs_rule {
	struct hnode by_handle;		/* in table->rules */
	struct rs_rule *prev, *next;	/* chain order */
	struct rs_chain *chain;
	uint64_t handle;
	const char *comment;		/* interned or NULL */
	uint64_t packets, bytes;	/* counter, as of the last message */
	uint16_t flags;
	uint16_t nrefs;
	struct rs_ref refs[];
};

struct rs_chain {
	struct hnode by_name, by_handle;
	struct rs_table *table;
	const char *name;
	uint64_t handle;
	bool base;
	uint32_t hooknum;
	int32_t prio;
	uint32_t policy;		/* NF_ACCEPT / NF_DROP */
	const char *type;		/* "filter", "nat", "route" */
	uint32_t nrules;
	struct rs_rule *first, *last;
};

/* Set element; key | key_end | data bytes follow the struct. */
struct rs_elem {
	struct hnode node;
	uint32_t flags;			/* NFT_SET_ELEM_INTERVAL_END ... */
	int32_t verdict;		/* map data is a verdict */
	const char *chain;		/* verdict jump/goto target, interned */
	const char *comment;		/* interned or NULL */
	uint8_t klen, kelen, dlen;
	uint8_t bytes[];
};

struct rs_set {
	struct hnode by_name;
	struct rs_table *table;
	const char *name;
	uint64_t handle;
	uint32_t flags;			/* NFT_SET_* */
	uint32_t key_type, key_len, data_type, data_len, obj_type;
	uint32_t nelems;		/* as nft counts: interval ends excluded */
	struct hmap elems;
	bool refreshed;			/* count comes from periodic dumps */
	bool overflow;			/* past the element cap: elements not
					 * kept, counted by periodic dumps */
};

struct rs_obj {
	struct hnode by_name;
	struct rs_table *table;
	const char *name;
	uint64_t handle;
	uint32_t type;			/* NFT_OBJECT_* */
	uint64_t packets, bytes;	/* counter */
	uint64_t quota, consumed;	/* quota */
};

struct rs_flowtable {
	struct rs_flowtable *next;
	const char *name;
	uint64_t handle;
};

#define RS_OBJ_TYPES 16

struct rs_table {
	struct rs_table *next;
	uint8_t family;
	const char *name;
	uint64_t handle;
	uint32_t flags;
	struct hmap chains_by_name, chains_by_handle, sets, rules, objs;
	struct rs_flowtable *flowtables;
	uint32_t nchains, nrules, nsets, nmaps, nanon, nflowtables, ncompat;
	uint32_t nobjs[RS_OBJ_TYPES];
};

enum rs_op {
	RS_OP_NEW = 1,
	RS_OP_DEL,
};

enum rs_kind {
	RS_KIND_TABLE = 1,
	RS_KIND_CHAIN,
	RS_KIND_RULE,
	RS_KIND_SET,
	RS_KIND_ELEM,
	RS_KIND_OBJ,
	RS_KIND_FLOWTABLE,
};

/*
 * Change notifications. object() runs as each change is applied to the
 * model (for RS_OP_DEL just before the object goes; @obj is the struct of
 * @kind, for elements the struct rs_set). commit() ends a transaction
 * (NEWGEN) with the committing process; @when is the commit time, the
 * kernel's receive timestamp of the NEWGEN datagram (CLOCK_REALTIME
 * seconds). reset() follows a resync: the
 * model was rebuilt from a dump and any derived state must be rebuilt.
 */
struct ruleset_listener {
	void (*object)(void *arg, enum rs_op op, enum rs_kind kind,
		       const struct rs_table *t, const void *obj);
	void (*commit)(void *arg, uint32_t gen, uint32_t pid,
		       const char *comm, double when);
	void (*reset)(void *arg);
};

#define RS_MAX_LISTENERS 4

struct rs_model {
	struct intern *names;
	struct rs_table *tables;
	uint32_t ntables;
	uint64_t nelems_stored;
	uint64_t max_elems;		/* cap on nelems_stored, 0: none */
	uint32_t nsets_overflow;
	bool count_only;		/* dumping an overflowed set: count */
	bool recount;			/* a set overflowed on an event */
	const struct ruleset_listener *listeners[RS_MAX_LISTENERS];
	void *listener_args[RS_MAX_LISTENERS];
	unsigned int nlisteners;
	bool quiet;			/* during dumps: no object() calls */
	bool update_only;		/* refresh values of existing objects
					 * and rule counters, create nothing */
};

/* --- model (collectors/ruleset_model.c): pure, no sockets --- */

int rs_model_init(struct rs_model *m);
void rs_model_fini(struct rs_model *m);
/* Drop every table (the listeners are kept). */
void rs_model_clear(struct rs_model *m);

/*
 * Apply one nf_tables message (a dump reply or an event; NEWGEN and
 * GETGEN replies excluded) to the model. NEW of an existing object
 * updates it, DEL of a missing one does nothing, so replaying events the
 * dump already reflects converges. Returns 0, or -EPROTO for a malformed
 * message (the caller resyncs), -ENOMEM.
 */
int rs_model_apply(struct rs_model *m, const struct nlmsghdr *nlh);

/* Parse a NEWGEN message: generation id, committing pid and comm. */
int rs_parse_newgen(const struct nlmsghdr *nlh, uint32_t *gen, uint32_t *pid,
		    char *comm, size_t commlen);

const char *rs_family_name(uint8_t family);
const char *rs_hook_name(uint8_t family, uint32_t hooknum);
const char *rs_obj_type_name(uint32_t type);

/* Lookups; NULL when absent. */
struct rs_table *rs_table_find(const struct rs_model *m, uint8_t family,
			       const char *name);
struct rs_chain *rs_chain_find(const struct rs_table *t, const char *name);
struct rs_set *rs_set_find(const struct rs_table *t, const char *name);
struct rs_obj *rs_obj_find(const struct rs_table *t, uint32_t type,
			   const char *name);

/* Iterate a set's elements: *pos = 0 and *cur = NULL to start. */
const struct rs_elem *rs_elem_iter(const struct rs_set *s, size_t *pos,
				   struct hnode **cur);
static inline const uint8_t *rs_elem_key(const struct rs_elem *e)
{
	return e->bytes;
}
static inline const uint8_t *rs_elem_key_end(const struct rs_elem *e)
{
	return e->bytes + e->klen;
}
static inline const uint8_t *rs_elem_data(const struct rs_elem *e)
{
	return e->bytes + e->klen + e->kelen;
}

/* Replace a set's elements with those of a fresh dump (periodic refresh). */
void rs_set_clear_elems(struct rs_model *m, struct rs_set *s);

/* --- the shared mirror (collectors/ruleset.c) --- */

struct ruleset;

/*
 * Get the mirror of the watched namespace, starting it on first use (open
 * sockets, initial dump, event watch on @c's loop). References are counted;
 * each acquire is paired with ruleset_release(). NULL with errno.
 */
struct ruleset *ruleset_acquire(struct collector *c);
void ruleset_release(struct ruleset *rs);
const struct rs_model *ruleset_model(const struct ruleset *rs);
int ruleset_listen(struct ruleset *rs, const struct ruleset_listener *l,
		   void *arg);
/* Call @fn(@arg) after every successful (re)sync, e.g. to become ready. */
int ruleset_on_synced(struct ruleset *rs, void (*fn)(void *arg), void *arg);
/* Drop every listener and callback registered with @arg. */
void ruleset_forget(struct ruleset *rs, void *arg);

/*
 * What every collector built on the mirror does: acquire it, add @l (may
 * be NULL) with @arg, and mark @c ready now if the mirror is in sync and
 * after every later sync. NULL with errno; undo with ruleset_detach(),
 * which accepts NULL.
 */
struct ruleset *ruleset_attach(struct collector *c,
			       const struct ruleset_listener *l, void *arg);
void ruleset_detach(struct ruleset *rs, struct collector *c, void *arg);
/* Generation the model reflects; whether the initial dump is done. */
uint32_t ruleset_generation(const struct ruleset *rs);
bool ruleset_synced(const struct ruleset *rs);

extern const struct collector_ops ruleset_collector_ops;
extern const struct collector_ops transactions_collector_ops;
extern const struct collector_ops services_collector_ops;

#endif
