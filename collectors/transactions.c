// SPDX-License-Identifier: Apache-2.0
/*
 * Ruleset transactions and sync latency, seen from the kernel side.
 *
 * Every transaction the ruleset mirror applies (the events up to a NEWGEN)
 * is counted by owner. The owner is the committing process named in the
 * NEWGEN (NFTA_GEN_PROC_PID/NAME) or, when that is a command-line tool
 * started for the change (nft, iptables-nft...), its parent (kube-proxy
 * pipes every sync into a fresh `nft -f -`).
 *
 * Sync duration is measured only for the first transaction of a command
 * line tool (nft, iptables-nft...) started at most TX_FRESH_S before it
 * committed: from the
 * process's exec to its exit, which is what its caller waits for (nft
 * reads the kernel's acknowledgements after the commit, a third of a big
 * sync). Exec and exit times come from the kernel's process events
 * connector (nanoseconds, CLOCK_MONOTONIC; it only works from the initial
 * network namespace, so its socket is made there whatever --netns says).
 * Without the connector the span is from the start time in /proc/PID/stat
 * (10 ms resolution) to the commit (the kernel receive timestamp of the
 * NEWGEN); a process already gone then cannot be timed. Such samples are
 * counted in nftables_sync_start_time_misses_total by reason. Long-lived
 * committers (daemons using libnftables) are counted but never timed.
 *
 * Transactions on kube-proxy's tables (ip/ip6 "kube-proxy") are also
 * classified: "full" when they touch the table itself or any chain that is
 * not a per-Service one (kube-proxy rewrites its fixed chains only on a
 * full sync), otherwise "partial".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "nl.h"
#include "ruleset.h"

#define TX_OWNERS_MAX	32	/* distinct owner label values; then "other" */
#define TX_SLOTS	4096	/* remembered exec events (by pid) */
#define TX_TABLES_MAX	64	/* tables remembered per transaction */
#define TX_FRESH_S	60.0	/* a committer started longer ago is a daemon */

static const double kp_buckets[] = { 0.001, 0.002, 0.004, 0.008, 0.016,
				     0.032, 0.064, 0.128, 0.256, 0.512,
				     1.024, 2.048, 4.096, 8.192, 16.384 };
static const double change_buckets[] = { 1, 4, 16, 64, 256, 1024, 4096,
					 16384, 65536, 262144 };

enum {
	F_TXN = 0,
	F_SYNC,
	F_CHANGES,
	F_LAST,
	F_OBJS,
	F_TABLE_LAST,
	F_KP_SYNCS,
	F_KP_DUR,
	F_MISSES,
	F_N,
};

static const struct metric_desc tx_desc[F_N] = {
	[F_TXN] = { .name = "nftables_transactions", .type = METRIC_COUNTER,
		    .help = "Committed nftables transactions, by owner (the committing process, or the parent of an nft/iptables command started for the change).",
		    .nlabels = 1, .labels = { "owner" },
		    .max_series = TX_OWNERS_MAX + 1 },
	[F_SYNC] = { .name = "nftables_sync_duration_seconds", .unit = "seconds",
		     .type = METRIC_HISTOGRAM,
		     .help = "From the exec of a process started for a change (nft, iptables-nft...) to its exit, for its first transaction, in kube-proxy's buckets; long-lived committers are not timed.",
		     .nlabels = 1, .labels = { "owner" },
		     .nbuckets = 15, .buckets = kp_buckets,
		     .max_series = TX_OWNERS_MAX + 1 },
	[F_CHANGES] = { .name = "nftables_transaction_changes", .type = METRIC_HISTOGRAM,
			.help = "Objects (tables, chains, rules, sets, elements, objects, flowtables) added or removed per transaction.",
			.nlabels = 1, .labels = { "owner" },
			.nbuckets = 10, .buckets = change_buckets,
			.max_series = TX_OWNERS_MAX + 1 },
	[F_LAST] = { .name = "nftables_last_transaction_timestamp_seconds",
		     .unit = "seconds", .type = METRIC_GAUGE,
		     .help = "When the owner's last transaction was committed (kernel time).",
		     .nlabels = 1, .labels = { "owner" },
		     .max_series = TX_OWNERS_MAX + 1 },
	[F_OBJS] = { .name = "nftables_transaction_objects", .type = METRIC_COUNTER,
		     .help = "Objects added (op=\"add\") or removed (op=\"delete\") by committed transactions, by owner and kind.",
		     .nlabels = 3, .labels = { "owner", "kind", "op" },
		     .max_series = (TX_OWNERS_MAX + 1) * 14 },
	[F_TABLE_LAST] = { .name = "nftables_table_last_change_timestamp_seconds",
			   .unit = "seconds", .type = METRIC_GAUGE,
			   .help = "When a transaction last changed the table (kernel time); the series goes with the table.",
			   .nlabels = 2, .labels = { "family", "table" },
			   .max_series = 2000 },
	[F_KP_SYNCS] = { .name = "nftables_kube_proxy_syncs", .type = METRIC_COUNTER,
			 .help = "Transactions on kube-proxy's table, by kind: full (rewrites the fixed chains) or partial.",
			 .nlabels = 2, .labels = { "family", "kind" }, .max_series = 8 },
	[F_KP_DUR] = { .name = "nftables_kube_proxy_sync_duration_seconds",
		       .unit = "seconds", .type = METRIC_HISTOGRAM,
		       .help = "Duration of kube-proxy syncs (exec to exit of their nft), by kind, in kube-proxy's buckets.",
		       .nlabels = 2, .labels = { "family", "kind" },
		       .nbuckets = 15, .buckets = kp_buckets, .max_series = 8 },
	[F_MISSES] = { .name = "nftables_sync_start_time_misses", .type = METRIC_COUNTER,
		       .help = "Syncs not timed exactly: no_exec_event (from /proc/PID/stat start, 10 ms resolution, to the commit), no_exit_event (to the commit, the exit was never seen) or exited (process gone before we looked, not timed).",
		       .nlabels = 1, .labels = { "reason" }, .max_series = 4 },
};

static const char *const kind_names[] = {
	[RS_KIND_TABLE] = "table", [RS_KIND_CHAIN] = "chain",
	[RS_KIND_RULE] = "rule", [RS_KIND_SET] = "set",
	[RS_KIND_ELEM] = "element", [RS_KIND_OBJ] = "object",
	[RS_KIND_FLOWTABLE] = "flowtable",
};

#define TX_KINDS (RS_KIND_FLOWTABLE + 1)

/* An exec event: who started when, and the owner if it is a CLI tool. */
struct exec_slot {
	int pid;
	int ppid;			/* from its fork event, or 0 */
	bool used;			/* its first transaction was seen */
	double start;			/* exec, CLOCK_MONOTONIC seconds, or 0 */
	double exit;			/* CLOCK_MONOTONIC seconds, or 0 */
};

/* A committed sync waiting for its process to exit. */
struct pending {
	int pid;
	double start, commit;		/* CLOCK_MONOTONIC seconds */
	const char *owner;		/* from the owner table */
	signed char kp[2];		/* -1, or 0 partial / 1 full, per family */
};

#define TX_PENDING	256
#define TX_EXIT_WAIT_S	10.0

struct tx_table {
	uint8_t family;
	bool deleted;
	char name[256];
};

struct tx_priv {
	struct collector *c;
	struct ruleset *rs;
	struct metric_family *f[F_N];
	int cn_fd;
	bool cn_open;
	struct exec_slot slots[TX_SLOTS];
	struct pending pend[TX_PENDING];
	unsigned int npend;
	struct loop_timer *timer;
	char owners[TX_OWNERS_MAX][16];
	unsigned int nowners;

	/* the transaction being received */
	uint32_t changes;
	uint32_t objs[TX_KINDS][3];
	struct tx_table tables[TX_TABLES_MAX];
	unsigned int ntables;
	bool kp_touched[2], kp_full[2];	/* [0] ip, [1] ip6 */
};

/* --- process events connector --- */

static bool is_cli(const char *comm)
{
	static const char *const cli[] = { "nft", "iptables", "ip6tables",
					   "ebtables", "arptables", "xtables" };

	for (size_t i = 0; i < sizeof(cli) / sizeof(cli[0]); i++) {
		size_t n = strlen(cli[i]);

		if (!strncmp(comm, cli[i], n) &&
		    (comm[n] == '\0' || comm[n] == '-'))
			return true;
	}
	return false;
}

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

/*
 * comm, ppid and start time (seconds since boot, CLOCK_MONOTONIC-like,
 * 1/CLK_TCK resolution) of a live process; 0 or -errno.
 */
static int proc_stat(int pid, char *comm, size_t commlen, int *ppid,
		     double *start)
{
	char path[64], buf[1024], *l, *r;
	unsigned long long st;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_small(path, buf, sizeof(buf)))
		return -ENOENT;
	l = strchr(buf, '(');
	r = strrchr(buf, ')');
	if (!l || !r || r < l)
		return -EPROTO;
	snprintf(comm, commlen, "%.*s", (int)(r - l - 1), l + 1);
	if (sscanf(r + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
		   "%*d %*d %*d %*d %*d %*d %llu", ppid, &st) != 2)
		return -EPROTO;
	*start = (double)st / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static void parent_comm(int ppid, char *owner, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", ppid);
	if (read_small(path, owner, len))
		owner[0] = '\0';
}

/*
 * Fork and exec events only record numbers; names are read at commit
 * time, from the parent, which outlives a short-lived nft (the nft itself
 * may be gone by the time a busy loop reads its exec event).
 */
static void on_fork(struct tx_priv *p, int child, int parent)
{
	struct exec_slot *s = &p->slots[(unsigned int)child % TX_SLOTS];

	memset(s, 0, sizeof(*s));
	s->pid = child;
	s->ppid = parent;
}

static void on_exec(struct tx_priv *p, int pid, uint64_t ns)
{
	struct exec_slot *s = &p->slots[(unsigned int)pid % TX_SLOTS];

	if (s->pid != pid) {
		memset(s, 0, sizeof(*s));
		s->pid = pid;
	}
	s->used = false;
	s->start = (double)ns / 1e9;
	s->exit = 0;
}

static void on_exit_ev(struct tx_priv *p, int pid, uint64_t ns);

static void cn_read(struct tx_priv *p)
{
	char buf[8192] __attribute__((aligned(8)));

	for (;;) {
		ssize_t n = recv(p->cn_fd, buf, sizeof(buf), MSG_DONTWAIT);
		const struct nlmsghdr *nlh = (const void *)buf;
		int left = (int)n;

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* EAGAIN, or ENOBUFS: /proc covers the gap */
		for (; nl_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			const struct cn_msg *cn = mnl_nlmsg_get_payload(nlh);
			struct proc_event evbuf;
			const struct proc_event *ev = &evbuf;

			if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*cn) + sizeof(*ev)) ||
			    cn->id.idx != CN_IDX_PROC)
				continue;
			/* the payload sits at offset 36: copy it to align it */
			memcpy(&evbuf, cn->data, sizeof(evbuf));
			if (ev->what == PROC_EVENT_FORK &&
			    ev->event_data.fork.child_pid ==
			    ev->event_data.fork.child_tgid)
				on_fork(p, ev->event_data.fork.child_tgid,
					ev->event_data.fork.parent_tgid);
			else if (ev->what == PROC_EVENT_EXEC)
				on_exec(p, ev->event_data.exec.process_tgid,
					ev->timestamp_ns);
			else if (ev->what == PROC_EVENT_EXIT &&
				 ev->event_data.exit.process_pid ==
				 ev->event_data.exit.process_tgid)
				on_exit_ev(p, ev->event_data.exit.process_tgid,
					   ev->timestamp_ns);
		}
	}
}

static void cn_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	cn_read(arg);
}

static int cn_open_here(void *arg)
{
	struct {
		struct nlmsghdr nlh;
		struct cn_msg cn;
		enum proc_cn_mcast_op op;
	} __attribute__((packed)) req;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
				  .nl_groups = CN_IDX_PROC };
	int *fd = arg, rcv = 4 << 20;

	*fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		     NETLINK_CONNECTOR);
	if (*fd == -1)
		return -errno;
	setsockopt(*fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = NLMSG_DONE;
	req.cn.id.idx = CN_IDX_PROC;
	req.cn.id.val = CN_VAL_PROC;
	req.cn.len = sizeof(req.op);
	req.op = PROC_CN_MCAST_LISTEN;
	if (bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    send(*fd, &req, sizeof(req), 0) == -1) {
		int err = -errno;

		close(*fd);
		*fd = -1;
		return err;
	}
	return 0;
}

/* --- transactions --- */

static const char *owner_label(struct tx_priv *p, const char *name)
{
	if (!*name)
		name = "unknown";
	for (unsigned int i = 0; i < p->nowners; i++)
		if (!strcmp(p->owners[i], name))
			return p->owners[i];
	if (p->nowners == TX_OWNERS_MAX)
		return "other";
	snprintf(p->owners[p->nowners], sizeof(p->owners[0]), "%s", name);
	return p->owners[p->nowners++];
}

static bool per_service_chain(const char *name)
{
	static const char *const pfx[] = { "service-", "endpoint-",
					   "external-", "firewall-", "local-" };

	for (size_t i = 0; i < sizeof(pfx) / sizeof(pfx[0]); i++)
		if (!strncmp(name, pfx[i], strlen(pfx[i])))
			return true;
	return false;
}

static int kp_index(const struct rs_table *t)
{
	if (strcmp(t->name, "kube-proxy"))
		return -1;
	if (t->family == NFPROTO_IPV4)
		return 0;
	if (t->family == NFPROTO_IPV6)
		return 1;
	return -1;
}

static void tx_object(void *arg, enum rs_op op, enum rs_kind kind,
		      const struct rs_table *t, const void *obj)
{
	struct tx_priv *p = arg;
	struct tx_table *tt = NULL;
	int kp;

	p->changes++;
	if (kind < TX_KINDS)
		p->objs[kind][op]++;
	for (unsigned int i = 0; i < p->ntables && !tt; i++)
		if (p->tables[i].family == t->family &&
		    !strcmp(p->tables[i].name, t->name))
			tt = &p->tables[i];
	if (!tt && p->ntables < TX_TABLES_MAX) {
		tt = &p->tables[p->ntables++];
		tt->family = t->family;
		snprintf(tt->name, sizeof(tt->name), "%s", t->name);
	}
	if (tt)
		tt->deleted = kind == RS_KIND_TABLE && op == RS_OP_DEL;

	kp = kp_index(t);
	if (kp < 0)
		return;
	p->kp_touched[kp] = true;
	if (kind == RS_KIND_TABLE)
		p->kp_full[kp] = true;
	else if (kind == RS_KIND_CHAIN &&
		 !per_service_chain(((const struct rs_chain *)obj)->name))
		p->kp_full[kp] = true;
	else if (kind == RS_KIND_RULE &&
		 !per_service_chain(((const struct rs_rule *)obj)->chain->name))
		p->kp_full[kp] = true;
}

static void tx_clear(struct tx_priv *p)
{
	p->changes = 0;
	memset(p->objs, 0, sizeof(p->objs));
	p->ntables = 0;
	memset(p->kp_touched, 0, sizeof(p->kp_touched));
	memset(p->kp_full, 0, sizeof(p->kp_full));
}

static void count(struct metric_family *f, const char *const *v, double d)
{
	struct metric_series *m = metric_series_get(f, v);

	if (m)
		metric_add(m, d);
}

static void miss(struct tx_priv *p, const char *reason)
{
	const char *v[1] = { reason };

	count(p->f[F_MISSES], v, 1);
}

/* CLOCK_MONOTONIC seconds of a CLOCK_REALTIME time. */
static double real_to_mono(double real)
{
	struct timespec r;

	clock_gettime(CLOCK_REALTIME, &r);
	return real - ((double)r.tv_sec + (double)r.tv_nsec / 1e9) + loop_now();
}

static void observe(struct metric_family *f, const char *const *v, double x)
{
	struct metric_series *m = metric_series_get(f, v);

	if (m)
		metric_observe(m, x);
}

/* Record one timed sync. */
static void finish_sync(struct tx_priv *p, const struct pending *s, double end)
{
	const char *v[1] = { s->owner };
	double dur = end - s->start;

	if (dur < 0)
		dur = 0;
	observe(p->f[F_SYNC], v, dur);
	for (int k = 0; k < 2; k++) {
		const char *kv[2] = { k ? "ip6" : "ip",
				      s->kp[k] ? "full" : "partial" };

		if (s->kp[k] >= 0)
			observe(p->f[F_KP_DUR], kv, dur);
	}
	log_debug("transactions: sync by %s (pid %d): %.6f s", s->owner, s->pid,
		  dur);
}

static void pend_drop(struct tx_priv *p, unsigned int i)
{
	p->pend[i] = p->pend[--p->npend];
}

static void on_exit_ev(struct tx_priv *p, int pid, uint64_t ns)
{
	struct exec_slot *s = &p->slots[(unsigned int)pid % TX_SLOTS];

	for (unsigned int i = 0; i < p->npend; i++) {
		if (p->pend[i].pid == pid) {
			finish_sync(p, &p->pend[i], (double)ns / 1e9);
			pend_drop(p, i);
			return;
		}
	}
	if (s->pid == pid)
		s->exit = (double)ns / 1e9;	/* its NEWGEN is still queued */
}

/* Syncs whose exit never came: time them to the commit, and say so. */
static void pend_expire(struct tx_priv *p, bool all)
{
	double now = loop_now();

	for (unsigned int i = 0; i < p->npend;) {
		if (all || now - p->pend[i].commit > TX_EXIT_WAIT_S) {
			finish_sync(p, &p->pend[i], p->pend[i].commit);
			miss(p, "no_exit_event");
			pend_drop(p, i);
		} else {
			i++;
		}
	}
}

static void pend_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct tx_priv *p = arg;

	(void)l;
	(void)t;
	if (p->cn_open)
		cn_read(p);
	pend_expire(p, false);
}

/*
 * Who owns a commit by @pid (@comm from the NEWGEN), and whether it is
 * timed: then *start (CLOCK_MONOTONIC) is set and, if the process already
 * exited, *end too.
 */
static const char *resolve(struct tx_priv *p, uint32_t pid, const char *comm,
			   double commit, double *start, double *end)
{
	struct exec_slot *s = &p->slots[pid % TX_SLOTS];
	char pcomm[32], owner[32] = "";
	double st = 0;
	int ppid = 0;

	*start = *end = 0;
	if (!pid)
		return owner_label(p, comm);
	if (p->cn_open)
		cn_read(p);	/* its fork/exec events may still be queued */
	if (s->pid == (int)pid && s->start) {
		ppid = s->ppid;
		st = s->start;
	} else {
		/* no exec event (connector unavailable, or lost): ask /proc */
		if (proc_stat((int)pid, pcomm, sizeof(pcomm), &ppid, &st)) {
			if (is_cli(comm))
				miss(p, "exited");
			return owner_label(p, comm);
		}
		memset(s, 0, sizeof(*s));
		s->pid = (int)pid;
		s->ppid = ppid;
		s->start = st;
		if (is_cli(comm) && commit - st <= TX_FRESH_S && !s->used)
			miss(p, "no_exec_event");
		*end = commit;	/* no exit event to wait for */
	}
	if (!is_cli(comm)) {
		/* a daemon committing itself (libnftables, firewalld...):
		 * counted, never timed */
		s->used = true;
		*end = 0;
		return owner_label(p, comm);
	}
	if (ppid)
		parent_comm(ppid, owner, sizeof(owner));
	if (!s->used && commit - st <= TX_FRESH_S) {
		*start = st;
		if (!*end)
			*end = s->exit;
	} else {
		*end = 0;
	}
	s->used = true;
	return owner_label(p, owner[0] ? owner : comm);
}

static void tx_commit(void *arg, uint32_t gen, uint32_t pid, const char *comm,
		      double when)
{
	struct tx_priv *p = arg;
	double commit = real_to_mono(when), start, end;
	struct pending ps;
	const char *owner;

	owner = resolve(p, pid, comm, commit, &start, &end);
	{
		const char *v[1] = { owner };
		struct metric_series *m;

		count(p->f[F_TXN], v, 1);
		observe(p->f[F_CHANGES], v, p->changes);
		m = metric_series_get(p->f[F_LAST], v);
		if (m)
			metric_set(m, when);
	}
	for (int k = 1; k < TX_KINDS; k++) {
		for (int op = RS_OP_NEW; op <= RS_OP_DEL; op++) {
			const char *v[3] = { owner, kind_names[k],
					     op == RS_OP_NEW ? "add" : "delete" };

			if (p->objs[k][op])
				count(p->f[F_OBJS], v, p->objs[k][op]);
		}
	}
	for (unsigned int i = 0; i < p->ntables; i++) {
		const char *v[2] = { rs_family_name(p->tables[i].family),
				     p->tables[i].name };
		struct metric_series *m = metric_series_get(p->f[F_TABLE_LAST], v);

		if (m && p->tables[i].deleted)
			metric_series_del(p->f[F_TABLE_LAST], m);
		else if (m)
			metric_set(m, when);
	}
	ps.pid = (int)pid;
	ps.start = start;
	ps.commit = commit;
	ps.owner = owner;
	for (int k = 0; k < 2; k++) {
		const char *v[2] = { k ? "ip6" : "ip",
				     p->kp_full[k] ? "full" : "partial" };

		ps.kp[k] = p->kp_touched[k] ? p->kp_full[k] : -1;
		if (p->kp_touched[k])
			count(p->f[F_KP_SYNCS], v, 1);
	}
	log_debug("transactions: gen %u by %s (pid %u, %s): %u changes", gen,
		  owner, pid, comm, p->changes);
	if (start > 0 && end > 0) {
		finish_sync(p, &ps, end);
	} else if (start > 0) {
		if (p->npend == TX_PENDING)
			pend_expire(p, true);	/* keep the table bounded */
		p->pend[p->npend++] = ps;
	}
	tx_clear(p);
}

static void tx_reset(void *arg)
{
	tx_clear(arg);	/* a partial transaction died with the resync */
}

static const struct ruleset_listener tx_listener = {
	.object = tx_object,
	.commit = tx_commit,
	.reset = tx_reset,
};

static int tx_collect(struct collector *c)
{
	struct tx_priv *p = c->priv;

	/* transactions are counted as they come; only report mirror health */
	return ruleset_synced(p->rs) ? 0 : -EAGAIN;
}

static void tx_fini(struct collector *c)
{
	struct tx_priv *p = c->priv;

	if (!p)
		return;
	loop_del_timer(c->env->loop, p->timer);
	if (p->cn_open) {
		loop_del_fd(c->env->loop, p->cn_fd);
		close(p->cn_fd);
	}
	ruleset_detach(p->rs, c, p);
	free(p);
	c->priv = NULL;
}

static int tx_init(struct collector *c)
{
	struct tx_priv *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	c->priv = p;
	p->c = c;
	p->cn_fd = -1;
	for (int i = 0; i < F_N; i++) {
		p->f[i] = metric_family_add(c->env->store, &tx_desc[i]);
		if (!p->f[i]) {
			err = -errno;
			goto err;
		}
	}
	/*
	 * The connector only serves the initial network namespace. Enter it
	 * through /proc/1/ns/net; where that is refused (pid 1 in another user
	 * namespace) open it where we are, which works when that is the
	 * initial namespace, as on a node with host networking.
	 */
	err = nl_initns_run(cn_open_here, &p->cn_fd);
	if (err)
		err = cn_open_here(&p->cn_fd);
	if (err) {
		log_warn("transactions: no process events connector (%s): start times come from /proc/PID/stat (10 ms, racy)",
			 strerror(-err));
	} else if (loop_add_fd(c->env->loop, p->cn_fd, EPOLLIN, cn_cb, p)) {
		close(p->cn_fd);
		p->cn_fd = -1;
	} else {
		p->cn_open = true;
		p->timer = loop_add_timer(c->env->loop, 1000, 1000, pend_timer, p);
	}
	p->rs = ruleset_attach(c, &tx_listener, p);
	if (!p->rs) {
		err = -errno;
		goto err;
	}
	return 0;
err:
	tx_fini(c);
	return err ? err : -ENOMEM;
}

const struct collector_ops transactions_collector_ops = {
	.name = "transactions",
	.help = "nftables transactions by owner and their sync duration from the kernel side",
	.default_enabled = true,
	.init = tx_init,
	.collect = tx_collect,
	.fini = tx_fini,
};
