// SPDX-License-Identifier: Apache-2.0
/*
 * The ruleset mirror and the "ruleset" collector.
 *
 * Sync protocol. The event socket (NFNLGRP_NFTABLES, large receive buffer,
 * never NETLINK_NO_ENOBUFS) is opened first. A (re)sync drains it, reads
 * the generation g0 (GETGEN), clears the model and dumps tables, chains,
 * sets, objects, flowtables, each set's elements and each table's rules,
 * every unit retried alone when the kernel flags it interrupted
 * (NLM_F_DUMP_INTR), rules falling back to one dump per chain. Events are
 * then applied in order from generation g0 + 1 (their nfgenmsg.res_id is
 * the generation's low 16 bits); older ones are skipped. A commit that
 * lands during the dump is therefore both in the dump and replayed after
 * it: the model applies NEW as "create or update" and DEL of a missing
 * object as a no-op, keyed by handles, so the replay converges. This is
 * why we never need the whole dump to be consistent, which livelocks
 * under a steady commit rate (notes/netlink.md §2.1).
 *
 * Loss: ENOBUFS, a generation we did not expect, or a message we cannot
 * parse is counted and followed by a resync. Changes that send no event
 * (owner tables released, packet-path set updates, element expiry) are
 * caught by a periodic check: sets the packet path fills are recounted by
 * dumping them, and the table list is compared with a fresh dump.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "flags.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "nl.h"
#include "ruleset.h"

#define RS_TIMEOUT_MS		10000
#define RS_DUMP_TRIES		10
#define RS_EVENT_BUDGET		512	/* datagrams per loop callback */
#define RS_MSG_TYPES		(NFT_MSG_MAX + 1)

enum rs_reason {
	RS_REASON_STARTUP = 0,
	RS_REASON_OVERRUN,
	RS_REASON_GAP,
	RS_REASON_PARSE,
	RS_REASON_DRIFT,
	RS_REASON_RETRY,
	RS_NREASONS,
};

static const char *const reason_names[RS_NREASONS] = {
	"startup", "overrun", "gap", "parse_error", "drift", "retry",
};

struct ruleset {
	int refs;
	struct loop *loop;
	struct nl_sock ev, dump;
	struct rs_model model;
	uint32_t gen;			/* generation the model reflects */
	uint32_t expect;		/* next generation to apply */
	bool synced;
	bool ev_open;
	struct loop_timer *start_timer, *retry_timer, *refresh_timer;
	unsigned int refresh_s;
	uint64_t retry_ms;

	/* statistics, exported by the collector */
	uint64_t events[RS_MSG_TYPES];
	uint64_t overruns, skipped;
	uint64_t resyncs[RS_NREASONS];
	uint64_t dump_retries;
	double dump_seconds;
	double rx_time;			/* receive time of the datagram */
	int last_err;
	void (*on_synced[RS_MAX_LISTENERS])(void *arg);
	void *on_synced_arg[RS_MAX_LISTENERS];
	unsigned int nsynced;
};

/* --- requests --- */

static struct nlmsghdr *req_start(struct ruleset *rs, uint16_t msg,
				  uint16_t flags, uint8_t family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(rs->dump.buf);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | msg;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++rs->dump.seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	return nlh;
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	uint32_t pid;

	if ((nlh->nlmsg_type & 0xff) != NFT_MSG_NEWGEN)
		return MNL_CB_OK;
	if (rs_parse_newgen(nlh, data, &pid, NULL, 0))
		return MNL_CB_ERROR;
	return MNL_CB_OK;
}

static int get_gen(struct ruleset *rs, uint32_t *gen)
{
	struct nlmsghdr *nlh = req_start(rs, NFT_MSG_GETGEN, NLM_F_ACK,
					 AF_UNSPEC);

	return nl_query(&rs->dump, nlh, gen_cb, gen, RS_TIMEOUT_MS);
}

static int apply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ruleset *rs = data;
	int err = rs_model_apply(&rs->model, nlh);

	if (err) {
		errno = -err;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

/*
 * One dump unit into the model, retried while the kernel says it was
 * interrupted. -ENOENT (the object vanished meanwhile) counts as done:
 * its deletion event will follow.
 */
static int dump_unit(struct ruleset *rs, uint16_t msg, uint8_t family,
		     uint16_t attr1, const char *v1, uint16_t attr2,
		     const char *v2)
{
	int err = -EINTR;

	for (int i = 0; i < RS_DUMP_TRIES && err == -EINTR; i++) {
		struct nlmsghdr *nlh = req_start(rs, msg, NLM_F_DUMP, family);

		if (v1)
			mnl_attr_put_strz(nlh, attr1, v1);
		if (v2)
			mnl_attr_put_strz(nlh, attr2, v2);
		if (i)
			rs->dump_retries++;
		err = nl_query(&rs->dump, nlh, apply_cb, rs, RS_TIMEOUT_MS);
	}
	return err == -ENOENT ? 0 : err;
}

/*
 * Elements of one set. A set past the element cap (before or during this
 * dump) is dumped again, counting without keeping.
 */
static int dump_set_elems(struct ruleset *rs, struct rs_table *t,
			  struct rs_set *s)
{
	bool counting = s->overflow;
	int err;

	for (;;) {
		rs_set_clear_elems(&rs->model, s);
		rs->model.count_only = counting;
		err = dump_unit(rs, NFT_MSG_GETSETELEM, t->family,
				NFTA_SET_ELEM_LIST_TABLE, t->name,
				NFTA_SET_ELEM_LIST_SET, s->name);
		rs->model.count_only = false;
		if (err || counting || !s->overflow)
			return err;
		counting = true;	/* the cap was reached meanwhile */
	}
}

/*
 * Rules of one table. Few chains: one dump, falling back to one per chain
 * if a commit interrupts it. Many chains: one dump per chain from the
 * start, because the kernel resumes a table dump by skipping from its
 * first chain again, which is quadratic: 105k rules in 55k chains took
 * 3.7 s as one dump and 0.9 s chain by chain.
 */
#define RS_PER_CHAIN_FROM	64

static int dump_rules(struct ruleset *rs, struct rs_table *t)
{
	size_t pos = 0;
	struct hnode *cur = NULL, *n;
	int err;

	if (t->nchains < RS_PER_CHAIN_FROM) {
		struct nlmsghdr *nlh = req_start(rs, NFT_MSG_GETRULE,
						 NLM_F_DUMP, t->family);

		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, t->name);
		err = nl_query(&rs->dump, nlh, apply_cb, rs, RS_TIMEOUT_MS);
		if (err != -EINTR)
			return err == -ENOENT ? 0 : err;
		rs->dump_retries++;
		/* the rules that did arrive are replaced chain by chain */
	}
	while ((n = hmap_iter(&t->chains_by_name, &pos, &cur))) {
		struct rs_chain *c = container_of(n, struct rs_chain, by_name);

		err = dump_unit(rs, NFT_MSG_GETRULE, t->family, NFTA_RULE_TABLE,
				t->name, NFTA_RULE_CHAIN, c->name);
		if (err)
			return err;
	}
	return 0;
}

static void drain_events(struct ruleset *rs)
{
	while (recv(nl_fd(&rs->ev), rs->ev.buf, NL_BUFSZ, MSG_DONTWAIT) > 0 ||
	       errno == ENOBUFS)
		;
}

static void notify_reset(struct ruleset *rs)
{
	for (unsigned int i = 0; i < rs->model.nlisteners; i++)
		if (rs->model.listeners[i]->reset)
			rs->model.listeners[i]->reset(rs->model.listener_args[i]);
}

static void schedule_retry(struct ruleset *rs);

/*
 * Rebuild the model from dumps (see the top of the file). On failure the
 * model stays marked unsynced and a retry is scheduled with back-off.
 */
static int resync(struct ruleset *rs, enum rs_reason reason)
{
	double t0 = loop_now();
	uint32_t g0 = 0;
	struct rs_table *t;
	int err;

	rs->resyncs[reason]++;
	if (reason != RS_REASON_STARTUP)
		log_warn("ruleset: resync (%s)", reason_names[reason]);
	rs->synced = false;
	if (rs->ev_open)
		drain_events(rs);
	err = get_gen(rs, &g0);
	if (err)
		goto fail;

	rs->model.quiet = true;
	rs_model_clear(&rs->model);
	err = dump_unit(rs, NFT_MSG_GETTABLE, AF_UNSPEC, 0, NULL, 0, NULL);
	if (!err)
		err = dump_unit(rs, NFT_MSG_GETCHAIN, AF_UNSPEC, 0, NULL, 0,
				NULL);
	if (!err)
		err = dump_unit(rs, NFT_MSG_GETSET, AF_UNSPEC, 0, NULL, 0, NULL);
	if (!err)
		err = dump_unit(rs, NFT_MSG_GETOBJ, AF_UNSPEC, 0, NULL, 0, NULL);
	if (!err)
		err = dump_unit(rs, NFT_MSG_GETFLOWTABLE, AF_UNSPEC, 0, NULL, 0,
				NULL);
	/* kernels without flowtables answer EOPNOTSUPP: nothing to mirror */
	if (err == -EOPNOTSUPP)
		err = 0;
	log_debug("ruleset: dumped tables, chains, sets, objects in %.3f s",
		  loop_now() - t0);
	for (t = rs->model.tables; t && !err; t = t->next) {
		size_t pos = 0;
		struct hnode *cur = NULL, *n;
		double t1 = loop_now();

		while (!err && (n = hmap_iter(&t->sets, &pos, &cur)))
			err = dump_set_elems(rs, t,
					     container_of(n, struct rs_set,
							  by_name));
		log_debug("ruleset: %s %s: elements of %zu sets in %.3f s",
			  rs_family_name(t->family), t->name, t->sets.n,
			  loop_now() - t1);
		t1 = loop_now();
		if (!err)
			err = dump_rules(rs, t);
		log_debug("ruleset: %s %s: %u rules in %.3f s",
			  rs_family_name(t->family), t->name, t->nrules,
			  loop_now() - t1);
	}
	rs->model.quiet = false;
	if (err)
		goto fail;

	rs->gen = g0;
	rs->expect = g0 + 1;
	rs->synced = true;
	rs->dump_seconds = loop_now() - t0;
	rs->retry_ms = 0;
	if (rs->last_err)
		log_info("ruleset: in sync again at generation %u", g0);
	rs->last_err = 0;
	log_debug("ruleset: dumped generation %u in %.3f s: %u tables", g0,
		  rs->dump_seconds, rs->model.ntables);
	notify_reset(rs);
	for (unsigned int i = 0; i < rs->nsynced; i++)
		rs->on_synced[i](rs->on_synced_arg[i]);
	return 0;

fail:
	rs->model.quiet = false;
	rs_model_clear(&rs->model);
	if (err != rs->last_err)
		log_warn("ruleset: dump failed: %s%s", strerror(-err),
			 err == -EPERM ? " (the exporter needs CAP_NET_ADMIN in the watched network namespace)" : "");
	rs->last_err = err;
	notify_reset(rs);
	schedule_retry(rs);
	return err;
}

static void retry_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ruleset *rs = arg;

	(void)l;
	(void)t;
	resync(rs, RS_REASON_RETRY);
}

static void schedule_retry(struct ruleset *rs)
{
	rs->retry_ms = rs->retry_ms ? rs->retry_ms * 2 : 500;
	if (rs->retry_ms > 30000)
		rs->retry_ms = 30000;
	if (!rs->retry_timer)
		rs->retry_timer = loop_add_timer(rs->loop, rs->retry_ms, 0,
						 retry_cb, rs);
	else
		loop_timer_rearm(rs->retry_timer, rs->retry_ms, 0);
}

/* --- events --- */

static void notify_commit(struct ruleset *rs, uint32_t gen, uint32_t pid,
			  const char *comm)
{
	for (unsigned int i = 0; i < rs->model.nlisteners; i++)
		if (rs->model.listeners[i]->commit)
			rs->model.listeners[i]->commit(rs->model.listener_args[i],
						       gen, pid, comm,
						       rs->rx_time);
}

static double realtime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * recv() one datagram with its kernel receive timestamp (SO_TIMESTAMPNS)
 * in rs->rx_time; the commit time of a NEWGEN is when it was queued, not
 * when a busy loop got round to it.
 */
static ssize_t recv_event(struct ruleset *rs)
{
	char cbuf[CMSG_SPACE(sizeof(struct timespec))];
	struct iovec iov = { rs->ev.buf, NL_BUFSZ };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n = recvmsg(nl_fd(&rs->ev), &mh, MSG_DONTWAIT);

	if (n <= 0)
		return n;
	rs->rx_time = 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;

			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			rs->rx_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
		}
	}
	if (!rs->rx_time)
		rs->rx_time = realtime_now();
	return n;
}

/*
 * Apply the messages of one datagram. Returns 0, or the reason a resync
 * is needed (> 0).
 */
static int handle_datagram(struct ruleset *rs, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;

	for (; nl_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		const struct nfgenmsg *g;
		uint16_t d, msg = nlh->nlmsg_type & 0xff;

		if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES)
			continue;
		if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)))
			return RS_REASON_PARSE;
		g = mnl_nlmsg_get_payload(nlh);
		d = (uint16_t)(ntohs(g->res_id) - (uint16_t)rs->expect);
		if (d >= 0x8000) {
			rs->skipped++;	/* older than the dump */
			continue;
		}
		if (d != 0)
			return RS_REASON_GAP;
		if (msg < RS_MSG_TYPES)
			rs->events[msg]++;
		if (msg == NFT_MSG_NEWGEN) {
			uint32_t gen, pid;
			char comm[64];

			if (rs_parse_newgen(nlh, &gen, &pid, comm, sizeof(comm)))
				return RS_REASON_PARSE;
			if (gen != rs->expect)
				return RS_REASON_GAP;
			rs->gen = gen;
			rs->expect = gen + 1;
			notify_commit(rs, gen, pid, comm);
			continue;
		}
		switch (rs_model_apply(&rs->model, nlh)) {
		case 0:
			break;
		case -ENOMEM:
			log_error("ruleset: out of memory applying an event");
			return RS_REASON_PARSE;
		default:
			log_warn("ruleset: cannot parse event type %u", msg);
			return RS_REASON_PARSE;
		}
	}
	return 0;
}

/* A set just passed the element cap: count it now, not at the next refresh. */
static void recount_overflowed(struct ruleset *rs)
{
	rs->model.recount = false;
	for (struct rs_table *t = rs->model.tables; t; t = t->next) {
		size_t pos = 0;
		struct hnode *cur = NULL, *n;

		while ((n = hmap_iter(&t->sets, &pos, &cur))) {
			struct rs_set *s = container_of(n, struct rs_set, by_name);

			if (s->overflow && !s->nelems) {
				rs->model.quiet = true;
				if (dump_set_elems(rs, t, s))
					log_warn("ruleset: cannot count set %s", s->name);
				rs->model.quiet = false;
			}
		}
	}
}

/* Read queued events; @budget datagrams at most (0: until empty). */
static void read_events(struct ruleset *rs, unsigned int budget)
{
	if (!rs->ev_open)
		return;	/* no subscription: nothing is queued */
	for (unsigned int i = 0; !budget || i < budget; i++) {
		ssize_t n = recv_event(rs);
		int reason;

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				rs->overruns++;
				resync(rs, RS_REASON_OVERRUN);
				return;
			}
			if (errno != EAGAIN)
				log_warn("ruleset: event socket: %s",
					 strerror(errno));
			return;
		}
		if (!rs->synced)
			continue;	/* a resync is pending: it re-dumps */
		reason = handle_datagram(rs, rs->ev.buf, (size_t)n);
		if (reason) {
			resync(rs, (enum rs_reason)reason);
			return;
		}
		if (rs->model.recount)
			recount_overflowed(rs);
	}
}

static void ev_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	read_events(arg, RS_EVENT_BUDGET);
}

/* --- periodic check --- */

struct table_check {
	const struct rs_model *m;
	unsigned int seen;
	bool drift;
};

static int table_check_cb(const struct nlmsghdr *nlh, void *data)
{
	struct table_check *tc = data;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	struct nlattr *a;
	const char *name = NULL;
	uint64_t handle = 0;
	struct rs_table *t;

	if ((nlh->nlmsg_type & 0xff) != NFT_MSG_NEWTABLE)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		if (mnl_attr_get_type(a) == NFTA_TABLE_NAME &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			name = mnl_attr_get_str(a);
		else if (mnl_attr_get_type(a) == NFTA_TABLE_HANDLE &&
			 mnl_attr_validate(a, MNL_TYPE_U64) == 0)
			handle = be64toh(mnl_attr_get_u64(a));
	}
	tc->seen++;
	t = name ? rs_table_find(tc->m, g->nfgen_family, name) : NULL;
	if (!t || (handle && t->handle != handle))
		tc->drift = true;
	return MNL_CB_OK;
}

/*
 * Recount sets the packet path fills, and compare the table list with the
 * kernel's (an owner table released by a dying process sends no event).
 */
static void refresh(struct ruleset *rs)
{
	struct table_check tc = { &rs->model, 0, false };
	uint32_t g0 = 0, g1 = 0;
	struct nlmsghdr *nlh;
	int err;

	read_events(rs, 0);
	if (!rs->synced)
		return;
	for (struct rs_table *t = rs->model.tables; t; t = t->next) {
		size_t pos = 0;
		struct hnode *cur = NULL, *n;

		while ((n = hmap_iter(&t->sets, &pos, &cur))) {
			struct rs_set *s = container_of(n, struct rs_set,
							by_name);

			if (!s->refreshed)
				continue;
			rs->model.quiet = true;
			err = dump_set_elems(rs, t, s);
			rs->model.quiet = false;
			if (err) {
				resync(rs, RS_REASON_DRIFT);
				return;
			}
		}
	}
	if (get_gen(rs, &g0))
		return;
	nlh = req_start(rs, NFT_MSG_GETTABLE, NLM_F_DUMP, AF_UNSPEC);
	err = nl_query(&rs->dump, nlh, table_check_cb, &tc, RS_TIMEOUT_MS);
	if (err || get_gen(rs, &g1) || g0 != g1 || g0 != rs->gen)
		return;		/* changed meanwhile: check next time */
	if (tc.drift || tc.seen != rs->model.ntables)
		resync(rs, RS_REASON_DRIFT);
}

static void refresh_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	refresh(arg);
}

static void start_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ruleset *rs = arg;

	(void)l;
	(void)t;
	resync(rs, RS_REASON_STARTUP);
}

/* --- the shared mirror --- */

static struct ruleset *ruleset_new(struct collector_env *env)
{
	const struct flags *f = env->flags;
	struct ruleset *rs = calloc(1, sizeof(*rs));
	int err;

	if (!rs)
		return NULL;
	rs->loop = env->loop;
	rs->refresh_s = f ? f->ruleset_refresh : 30;
	err = rs_model_init(&rs->model);
	if (err)
		goto err_free;
	rs->model.max_elems = f ? f->ruleset_max_elements : 2000000;
	/* the event socket first, so nothing between dump and events is lost */
	err = nl_open(&rs->ev, 0, f ? (int)f->ruleset_rcvbuf : 64 << 20, true);
	if (!err) {
		unsigned int grp = NFNLGRP_NFTABLES;

		int one = 1;

		if (mnl_socket_setsockopt(rs->ev.mnl, NETLINK_ADD_MEMBERSHIP,
					  &grp, sizeof(grp)) == -1)
			err = -errno;
		else
			rs->ev_open = true;
		if (!err && setsockopt(nl_fd(&rs->ev), SOL_SOCKET,
				       SO_TIMESTAMPNS, &one, sizeof(one)) == -1)
			log_warn("ruleset: no kernel timestamps on events: %s",
				 strerror(errno));
	}
	if (err) {
		/* keep going: the dump will fail too and say why, retrying */
		log_warn("ruleset: cannot subscribe to nftables events: %s",
			 strerror(-err));
	} else if (loop_add_fd(rs->loop, nl_fd(&rs->ev), EPOLLIN, ev_cb, rs)) {
		goto err_model;
	}
	err = nl_open(&rs->dump, 0, 0, false);
	if (err) {
		log_error("ruleset: cannot open a netlink socket: %s",
			  strerror(-err));
		goto err_ev;
	}
	rs->start_timer = loop_add_timer(rs->loop, 0, 0, start_cb, rs);
	if (!rs->start_timer)
		goto err_dump;
	if (rs->refresh_s)
		rs->refresh_timer = loop_add_timer(rs->loop,
						   rs->refresh_s * 1000ULL,
						   rs->refresh_s * 1000ULL,
						   refresh_cb, rs);
	return rs;

err_dump:
	nl_close(&rs->dump);
err_ev:
	if (rs->ev_open)
		loop_del_fd(rs->loop, nl_fd(&rs->ev));
err_model:
	nl_close(&rs->ev);
	rs_model_fini(&rs->model);
err_free:
	free(rs);
	errno = ENOMEM;
	return NULL;
}

static void ruleset_free(struct ruleset *rs)
{
	loop_del_timer(rs->loop, rs->start_timer);
	loop_del_timer(rs->loop, rs->retry_timer);
	loop_del_timer(rs->loop, rs->refresh_timer);
	if (rs->ev_open)
		loop_del_fd(rs->loop, nl_fd(&rs->ev));
	nl_close(&rs->ev);
	nl_close(&rs->dump);
	rs_model_fini(&rs->model);
	free(rs);
}

struct ruleset *ruleset_acquire(struct collector *c)
{
	struct collector_env *env = c->env;

	if (!env->ruleset)
		env->ruleset = ruleset_new(env);
	if (env->ruleset)
		env->ruleset->refs++;
	return env->ruleset;
}

void ruleset_release(struct ruleset *rs)
{
	if (rs && --rs->refs == 0)
		ruleset_free(rs);
}

const struct rs_model *ruleset_model(const struct ruleset *rs)
{
	return &rs->model;
}

int ruleset_listen(struct ruleset *rs, const struct ruleset_listener *l,
		   void *arg)
{
	struct rs_model *m = &rs->model;

	if (m->nlisteners == RS_MAX_LISTENERS)
		return -ENOSPC;
	m->listeners[m->nlisteners] = l;
	m->listener_args[m->nlisteners++] = arg;
	return 0;
}

int ruleset_on_synced(struct ruleset *rs, void (*fn)(void *arg), void *arg)
{
	if (rs->nsynced == RS_MAX_LISTENERS)
		return -ENOSPC;
	rs->on_synced[rs->nsynced] = fn;
	rs->on_synced_arg[rs->nsynced++] = arg;
	return 0;
}

void ruleset_forget(struct ruleset *rs, void *arg)
{
	struct rs_model *m = &rs->model;
	unsigned int j = 0;

	for (unsigned int i = 0; i < m->nlisteners; i++) {
		if (m->listener_args[i] == arg)
			continue;
		m->listeners[j] = m->listeners[i];
		m->listener_args[j++] = m->listener_args[i];
	}
	m->nlisteners = j;
	j = 0;
	for (unsigned int i = 0; i < rs->nsynced; i++) {
		if (rs->on_synced_arg[i] == arg)
			continue;
		rs->on_synced[j] = rs->on_synced[i];
		rs->on_synced_arg[j++] = rs->on_synced_arg[i];
	}
	rs->nsynced = j;
}

static void set_ready(void *arg)
{
	collector_set_ready(arg);
}

struct ruleset *ruleset_attach(struct collector *c,
			       const struct ruleset_listener *l, void *arg)
{
	struct ruleset *rs = ruleset_acquire(c);
	int err = 0;

	if (!rs)
		return NULL;
	if (l)
		err = ruleset_listen(rs, l, arg);
	if (!err)
		err = ruleset_on_synced(rs, set_ready, c);
	if (err) {
		ruleset_detach(rs, c, arg);
		errno = -err;
		return NULL;
	}
	if (rs->synced)
		collector_set_ready(c);
	return rs;
}

void ruleset_detach(struct ruleset *rs, struct collector *c, void *arg)
{
	if (!rs)
		return;
	ruleset_forget(rs, arg);
	ruleset_forget(rs, c);
	ruleset_release(rs);
}

uint32_t ruleset_generation(const struct ruleset *rs)
{
	return rs->gen;
}

bool ruleset_synced(const struct ruleset *rs)
{
	return rs->synced;
}

/* ===================== the "ruleset" collector ===================== */

enum {
	F_GEN = 0,
	F_SYNCED,
	F_TABLES,
	F_CHAINS,
	F_RULES,
	F_SETS,
	F_MAPS,
	F_FLOWTABLES,
	F_OBJECTS,
	F_COMPAT,
	F_BASE_INFO,
	F_BASE_RULES,
	F_ELEMS,
	F_CTR_PKTS,
	F_CTR_BYTES,
	F_QUOTA_USED,
	F_QUOTA_LIMIT,
	F_RULE_PKTS,
	F_RULE_BYTES,
	F_EVENTS,
	F_OVERRUNS,
	F_DROPS,
	F_RESYNCS,
	F_DUMP_SECONDS,
	F_DUMP_RETRIES,
	F_SKIPPED,
	F_ELEMS_STORED,
	F_ELEMS_LIMIT,
	F_SETS_OVER,
	F_N,
};

#define FT	{ "family", "table" }

static const struct metric_desc rc_desc[F_N] = {
	[F_GEN] = { .name = "nftables_ruleset_generation", .type = METRIC_GAUGE,
		    .help = "nftables generation id (bumped by every committed transaction) the mirror reflects." },
	[F_SYNCED] = { .name = "nftables_ruleset_synced", .type = METRIC_GAUGE,
		       .help = "1 when the ruleset mirror is in sync with the kernel, 0 while it is being (re)dumped or cannot be read." },
	[F_TABLES] = { .name = "nftables_tables", .type = METRIC_GAUGE,
		       .help = "nftables tables, by family.", .nlabels = 1,
		       .labels = { "family" }, .max_series = 16 },
	[F_CHAINS] = { .name = "nftables_chains", .type = METRIC_GAUGE,
		       .help = "Chains (base and regular) in the table.",
		       .nlabels = 2, .labels = FT, .max_series = 2000 },
	[F_RULES] = { .name = "nftables_rules", .type = METRIC_GAUGE,
		      .help = "Rules in the table.", .nlabels = 2,
		      .labels = FT, .max_series = 2000 },
	[F_SETS] = { .name = "nftables_sets", .type = METRIC_GAUGE,
		     .help = "Named sets that are not maps in the table (anonymous sets excluded).",
		     .nlabels = 2, .labels = FT, .max_series = 2000 },
	[F_MAPS] = { .name = "nftables_maps", .type = METRIC_GAUGE,
		     .help = "Named maps (verdict, data and object maps) in the table.",
		     .nlabels = 2, .labels = FT, .max_series = 2000 },
	[F_FLOWTABLES] = { .name = "nftables_flowtables", .type = METRIC_GAUGE,
			   .help = "Flowtables in the table.", .nlabels = 2,
			   .labels = FT, .max_series = 2000 },
	[F_OBJECTS] = { .name = "nftables_objects", .type = METRIC_GAUGE,
			.help = "Named stateful objects in the table, by type.",
			.nlabels = 3, .labels = { "family", "table", "type" },
			.max_series = 5000 },
	[F_COMPAT] = { .name = "nftables_compat_rules", .type = METRIC_GAUGE,
		       .help = "Rules using iptables compatibility expressions (xt match/target), as iptables-nft writes them.",
		       .nlabels = 2, .labels = FT, .max_series = 2000 },
	[F_BASE_INFO] = { .name = "nftables_base_chain_info", .type = METRIC_GAUGE,
			  .help = "Base chains: which table sits on which hook at which priority (lower runs first); always 1.",
			  .nlabels = 7,
			  .labels = { "family", "table", "chain", "type", "hook",
				      "priority", "policy" },
			  .max_series = 2000 },
	[F_BASE_RULES] = { .name = "nftables_base_chain_rules", .type = METRIC_GAUGE,
			   .help = "Rules in each base chain.", .nlabels = 3,
			   .labels = { "family", "table", "chain" },
			   .max_series = 2000 },
	[F_ELEMS] = { .name = "nftables_set_elements", .type = METRIC_GAUGE,
		      .help = "Elements of named sets and maps (an interval counts once). Kept from events; sets the packet path fills (dynamic, timeout) are recounted by a dump every --collector.ruleset.refresh-interval.",
		      .nlabels = 3, .labels = { "family", "table", "set" },
		      .max_series = 10000 },
	[F_CTR_PKTS] = { .name = "nftables_object_packets", .type = METRIC_COUNTER,
			 .help = "Packets counted by a named counter object (label counter: its name; read at scrape time, never reset).",
			 .nlabels = 3, .labels = { "family", "table", "counter" },
			 .max_series = 10000 },
	[F_CTR_BYTES] = { .name = "nftables_object_bytes", .unit = "bytes",
			  .type = METRIC_COUNTER,
			  .help = "Bytes counted by a named counter object (read at scrape time, never reset).",
			  .nlabels = 3, .labels = { "family", "table", "counter" },
			  .max_series = 10000 },
	[F_QUOTA_USED] = { .name = "nftables_quota_used_bytes", .unit = "bytes",
			   .type = METRIC_GAUGE,
			   .help = "Bytes consumed of a named quota object (read at scrape time).",
			   .nlabels = 3, .labels = { "family", "table", "quota" },
			   .max_series = 10000 },
	[F_QUOTA_LIMIT] = { .name = "nftables_quota_limit_bytes", .unit = "bytes",
			    .type = METRIC_GAUGE,
			    .help = "Limit of a named quota object.",
			    .nlabels = 3, .labels = { "family", "table", "quota" },
			    .max_series = 10000 },
	[F_RULE_PKTS] = { .name = "nftables_rule_packets", .type = METRIC_COUNTER,
			  .help = "Packets counted by rules with a counter and this comment, summed over rules sharing it (--collector.ruleset.rule-counters).",
			  .nlabels = 4,
			  .labels = { "family", "table", "chain", "comment" },
			  .max_series = 5000 },
	[F_RULE_BYTES] = { .name = "nftables_rule_bytes", .unit = "bytes",
			   .type = METRIC_COUNTER,
			   .help = "Bytes counted by rules with a counter and this comment, summed over rules sharing it (--collector.ruleset.rule-counters).",
			   .nlabels = 4,
			   .labels = { "family", "table", "chain", "comment" },
			   .max_series = 5000 },
	[F_EVENTS] = { .name = "nftables_netlink_events", .type = METRIC_COUNTER,
		       .help = "nftables netlink events applied to the mirror, by message type.",
		       .nlabels = 1, .labels = { "type" }, .max_series = 64 },
	[F_OVERRUNS] = { .name = "nftables_netlink_overruns", .type = METRIC_COUNTER,
			 .help = "Times a netlink socket overflowed (ENOBUFS): events were lost and a resync followed.",
			 .nlabels = 1, .labels = { "socket" }, .max_series = 8 },
	[F_DROPS] = { .name = "nftables_netlink_socket_drops", .type = METRIC_COUNTER,
		      .help = "Datagrams the kernel dropped on a netlink socket (SO_MEMINFO; /proc/net/netlink Drops).",
		      .nlabels = 1, .labels = { "socket" }, .max_series = 8 },
	[F_RESYNCS] = { .name = "nftables_resyncs", .type = METRIC_COUNTER,
			.help = "Full re-dumps of the ruleset, by reason (startup, overrun, gap, parse_error, drift, retry).",
			.nlabels = 1, .labels = { "reason" }, .max_series = 8 },
	[F_DUMP_SECONDS] = { .name = "nftables_dump_duration_seconds",
			     .unit = "seconds", .type = METRIC_GAUGE,
			     .help = "Time the last full ruleset dump took." },
	[F_DUMP_RETRIES] = { .name = "nftables_dump_retries", .type = METRIC_COUNTER,
			     .help = "Dump requests repeated because a commit interrupted them (NLM_F_DUMP_INTR)." },
	[F_SKIPPED] = { .name = "nftables_netlink_events_skipped", .type = METRIC_COUNTER,
			.help = "Events skipped because the dump they arrived after already covered them." },
	[F_ELEMS_STORED] = { .name = "nftables_ruleset_elements_stored", .type = METRIC_GAUGE,
			     .help = "Set elements the mirror keeps in memory." },
	[F_ELEMS_LIMIT] = { .name = "nftables_ruleset_elements_limit", .type = METRIC_GAUGE,
			    .help = "Most set elements the mirror keeps (--collector.ruleset.max-elements, 0: no limit); sets past it are counted by periodic dumps instead." },
	[F_SETS_OVER] = { .name = "nftables_ruleset_sets_over_limit", .type = METRIC_GAUGE,
			  .help = "Sets whose elements are not kept because of the element limit; their sizes come from dumps every --collector.ruleset.refresh-interval." },
};

static const char *const msg_names[RS_MSG_TYPES] = {
	[NFT_MSG_NEWTABLE] = "newtable", [NFT_MSG_DELTABLE] = "deltable",
	[NFT_MSG_NEWCHAIN] = "newchain", [NFT_MSG_DELCHAIN] = "delchain",
	[NFT_MSG_NEWRULE] = "newrule", [NFT_MSG_DELRULE] = "delrule",
	[NFT_MSG_NEWSET] = "newset", [NFT_MSG_DELSET] = "delset",
	[NFT_MSG_NEWSETELEM] = "newsetelem", [NFT_MSG_DELSETELEM] = "delsetelem",
	[NFT_MSG_NEWGEN] = "newgen", [NFT_MSG_NEWOBJ] = "newobj",
	[NFT_MSG_DELOBJ] = "delobj", [NFT_MSG_NEWFLOWTABLE] = "newflowtable",
	[NFT_MSG_DELFLOWTABLE] = "delflowtable",
};

struct rc_priv {
	struct ruleset *rs;
	struct collector *c;
	struct metric_family *f[F_N];
	bool rule_counters;
};

static void put(struct metric_family *f, const char *const *v, double val)
{
	struct metric_series *m = metric_series_get(f, v);

	if (m)
		metric_set(m, val);
}

static int obj_values_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rs_model *m = data;

	m->update_only = true;
	rs_model_apply(m, nlh);
	m->update_only = false;
	return MNL_CB_OK;
}

/* Read named counters and quotas (never reset) into the model. */
static int refresh_obj_values(struct ruleset *rs)
{
	bool any = false;
	int err = 0;

	for (struct rs_table *t = rs->model.tables; t; t = t->next)
		any |= t->nobjs[NFT_OBJECT_COUNTER] || t->nobjs[NFT_OBJECT_QUOTA];
	if (!any)
		return 0;
	for (int i = 0; i < RS_DUMP_TRIES; i++) {
		struct nlmsghdr *nlh = req_start(rs, NFT_MSG_GETOBJ, NLM_F_DUMP,
						 AF_UNSPEC);

		err = nl_query(&rs->dump, nlh, obj_values_cb, &rs->model,
			       RS_TIMEOUT_MS);
		if (err != -EINTR)
			break;
	}
	return err;
}

static int rule_values_cb(const struct nlmsghdr *nlh, void *data)
{
	return obj_values_cb(nlh, data);
}

/* Per-chain dumps of chains holding commented counter rules. */
static void refresh_rule_counters(struct ruleset *rs, struct rc_priv *p)
{
	for (struct rs_table *t = rs->model.tables; t; t = t->next) {
		size_t pos = 0;
		struct hnode *cur = NULL, *n;

		while ((n = hmap_iter(&t->chains_by_name, &pos, &cur))) {
			struct rs_chain *c = container_of(n, struct rs_chain,
							  by_name);
			bool want = false;

			for (struct rs_rule *r = c->first; r && !want; r = r->next)
				want = (r->flags & RS_RULE_COUNTER) && r->comment;
			if (!want)
				continue;
			for (int i = 0; i < RS_DUMP_TRIES; i++) {
				struct nlmsghdr *nlh = req_start(rs, NFT_MSG_GETRULE,
								 NLM_F_DUMP,
								 t->family);
				int err;

				mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, t->name);
				mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, c->name);
				err = nl_query(&rs->dump, nlh, rule_values_cb,
					       &rs->model, RS_TIMEOUT_MS);
				if (err != -EINTR)
					break;
			}
			/* sum by comment: rules sharing one add up */
			for (struct rs_rule *r = c->first; r; r = r->next) {
				const char *v[4] = { rs_family_name(t->family),
						     t->name, c->name, r->comment };
				struct metric_series *mp, *mb;

				if (!(r->flags & RS_RULE_COUNTER) || !r->comment)
					continue;
				mp = metric_series_get(p->f[F_RULE_PKTS], v);
				mb = metric_series_get(p->f[F_RULE_BYTES], v);
				if (!mp || !mb)
					continue;
				metric_add(mp, (double)r->packets);
				metric_add(mb, (double)r->bytes);
			}
		}
	}
}

static void sweep(struct rc_priv *p, int from, int to, bool begin)
{
	for (int i = from; i <= to; i++) {
		if (!p->f[i])
			continue;	/* opt-in family not enabled */
		if (begin)
			metric_family_sweep_begin(p->f[i]);
		else
			metric_family_sweep_end(p->f[i]);
	}
}

static int rc_collect(struct collector *c)
{
	struct rc_priv *p = c->priv;
	struct ruleset *rs = p->rs;
	unsigned int fam_tables[256] = { 0 };
	char prio[16];
	int64_t drops;

	read_events(rs, 0);	/* end on a transaction boundary */
	put(p->f[F_SYNCED], NULL, rs->synced);
	for (int i = 0; i < RS_MSG_TYPES; i++) {
		const char *v[1] = { msg_names[i] };

		if (msg_names[i])
			put(p->f[F_EVENTS], v, (double)rs->events[i]);
	}
	{
		const char *v[1] = { "events" };

		put(p->f[F_OVERRUNS], v, (double)rs->overruns);
		drops = rs->ev_open ? nl_drops(&rs->ev) : -1;
		if (drops >= 0)
			put(p->f[F_DROPS], v, (double)drops);
	}
	for (int i = 0; i < RS_NREASONS; i++) {
		const char *v[1] = { reason_names[i] };

		put(p->f[F_RESYNCS], v, (double)rs->resyncs[i]);
	}
	put(p->f[F_DUMP_SECONDS], NULL, rs->dump_seconds);
	put(p->f[F_DUMP_RETRIES], NULL, (double)rs->dump_retries);
	put(p->f[F_SKIPPED], NULL, (double)rs->skipped);
	put(p->f[F_ELEMS_STORED], NULL, (double)rs->model.nelems_stored);
	put(p->f[F_ELEMS_LIMIT], NULL, (double)rs->model.max_elems);
	put(p->f[F_SETS_OVER], NULL, rs->model.nsets_overflow);

	for (int i = F_GEN; i <= F_RULE_BYTES; i++)
		if (i != F_SYNCED && p->f[i])
			metric_family_set_visible(p->f[i], rs->synced);
	if (!rs->synced)
		return rs->last_err ? rs->last_err : -EAGAIN;

	if (refresh_obj_values(rs))
		log_debug("ruleset: cannot read counter values");
	put(p->f[F_GEN], NULL, rs->gen);
	sweep(p, F_TABLES, F_RULE_BYTES, true);
	for (struct rs_table *t = rs->model.tables; t; t = t->next) {
		const char *ft[2] = { rs_family_name(t->family), t->name };
		size_t pos = 0;
		struct hnode *cur = NULL, *n;

		fam_tables[t->family]++;
		put(p->f[F_CHAINS], ft, t->nchains);
		put(p->f[F_RULES], ft, t->nrules);
		put(p->f[F_SETS], ft, t->nsets);
		put(p->f[F_MAPS], ft, t->nmaps);
		put(p->f[F_FLOWTABLES], ft, t->nflowtables);
		put(p->f[F_COMPAT], ft, t->ncompat);
		for (uint32_t k = 1; k < RS_OBJ_TYPES; k++) {
			const char *v[3] = { ft[0], ft[1], rs_obj_type_name(k) };

			if (t->nobjs[k])
				put(p->f[F_OBJECTS], v, t->nobjs[k]);
		}
		while ((n = hmap_iter(&t->chains_by_name, &pos, &cur))) {
			struct rs_chain *ch = container_of(n, struct rs_chain,
							   by_name);
			const char *v[7] = { ft[0], ft[1], ch->name,
					     ch->type ? ch->type : "filter",
					     rs_hook_name(t->family, ch->hooknum),
					     prio,
					     ch->policy == NF_DROP ? "drop" : "accept" };

			if (!ch->base)
				continue;
			snprintf(prio, sizeof(prio), "%d", ch->prio);
			put(p->f[F_BASE_INFO], v, 1);
			put(p->f[F_BASE_RULES], v, ch->nrules);
		}
		pos = 0;
		cur = NULL;
		while ((n = hmap_iter(&t->sets, &pos, &cur))) {
			struct rs_set *s = container_of(n, struct rs_set, by_name);
			const char *v[3] = { ft[0], ft[1], s->name };

			if (!(s->flags & NFT_SET_ANONYMOUS))
				put(p->f[F_ELEMS], v, s->nelems);
		}
		pos = 0;
		cur = NULL;
		while ((n = hmap_iter(&t->objs, &pos, &cur))) {
			struct rs_obj *o = container_of(n, struct rs_obj, by_name);
			const char *v[3] = { ft[0], ft[1], o->name };

			if (o->type == NFT_OBJECT_COUNTER) {
				put(p->f[F_CTR_PKTS], v, (double)o->packets);
				put(p->f[F_CTR_BYTES], v, (double)o->bytes);
			} else if (o->type == NFT_OBJECT_QUOTA) {
				put(p->f[F_QUOTA_USED], v, (double)o->consumed);
				put(p->f[F_QUOTA_LIMIT], v, (double)o->quota);
			}
		}
	}
	for (int fam = 0; fam < 256; fam++) {
		const char *v[1] = { rs_family_name((uint8_t)fam) };

		if (fam_tables[fam])
			put(p->f[F_TABLES], v, fam_tables[fam]);
	}
	if (p->rule_counters) {
		/* recomputed from zero: a series is the sum of its rules now */
		metric_family_clear(p->f[F_RULE_PKTS]);
		metric_family_clear(p->f[F_RULE_BYTES]);
		refresh_rule_counters(rs, p);
	}
	sweep(p, F_TABLES, F_RULE_BYTES, false);
	return 0;
}

static void rc_fini(struct collector *c)
{
	struct rc_priv *p = c->priv;

	if (!p)
		return;
	ruleset_detach(p->rs, c, p);
	free(p);
	c->priv = NULL;
}

static int rc_init(struct collector *c)
{
	struct rc_priv *p = calloc(1, sizeof(*p));
	int err = -ENOMEM;

	if (!p)
		return -ENOMEM;
	c->priv = p;
	p->c = c;
	p->rule_counters = c->env->flags && c->env->flags->ruleset_rule_counters;
	for (int i = 0; i < F_N; i++) {
		if (!p->rule_counters && (i == F_RULE_PKTS || i == F_RULE_BYTES))
			continue;
		p->f[i] = metric_family_add(c->env->store, &rc_desc[i]);
		if (!p->f[i]) {
			err = -errno;
			goto err;
		}
	}
	p->rs = ruleset_attach(c, NULL, p);
	if (!p->rs) {
		err = -errno;
		goto err;
	}
	return 0;
err:
	rc_fini(c);
	return err ? err : -ENOMEM;
}

const struct collector_ops ruleset_collector_ops = {
	.name = "ruleset",
	.help = "nftables tables, chains, rules, sets, objects, kept current from netlink events",
	.default_enabled = true,
	.init = rc_init,
	.collect = rc_collect,
	.fini = rc_fini,
};
