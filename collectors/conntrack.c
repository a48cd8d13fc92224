// SPDX-License-Identifier: Apache-2.0
/*
 * Conntrack table statistics. Everything comes from ctnetlink requests made
 * at scrape time on a socket created in the target namespace, so it works
 * where /proc/net/stat/nf_conntrack is absent: IPCTNL_MSG_CT_GET_STATS for
 * the entry count (what `conntrack -C` prints) and IPCTNL_MSG_CT_GET_STATS_CPU
 * for the per-CPU statistics (what `conntrack -S` prints), summed here. The
 * limit is read from net.netfilter.nf_conntrack_max (opened inside the
 * namespace, never written), falling back to the kernel's
 * CTA_STATS_GLOBAL_MAX_ENTRIES.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "conntrack.h"
#include "log.h"
#include "metrics.h"
#include "nl.h"

#define CT_TIMEOUT_MS	5000
#define CT_MAX_PATH	"/proc/sys/net/netfilter/nf_conntrack_max"

/* The per-CPU statistics still maintained by the kernel. */
static const struct metric_desc ct_stat_desc[] = {
	{ .name = "nftables_conntrack_stat_found", .type = METRIC_COUNTER,
	  .help = "Conntrack lookups that found an entry, summed over CPUs (ctnetlink CTA_STATS_FOUND)." },
	{ .name = "nftables_conntrack_stat_invalid", .type = METRIC_COUNTER,
	  .help = "Packets conntrack could not track, summed over CPUs (CTA_STATS_INVALID)." },
	{ .name = "nftables_conntrack_stat_insert", .type = METRIC_COUNTER,
	  .help = "Entries inserted, summed over CPUs (CTA_STATS_INSERT; modern kernels leave it at 0)." },
	{ .name = "nftables_conntrack_stat_insert_failed", .type = METRIC_COUNTER,
	  .help = "Entries that could not be inserted, e.g. clashes, summed over CPUs (CTA_STATS_INSERT_FAILED)." },
	{ .name = "nftables_conntrack_stat_drop", .type = METRIC_COUNTER,
	  .help = "Packets dropped because conntrack failed (table full, insert failure), summed over CPUs (CTA_STATS_DROP)." },
	{ .name = "nftables_conntrack_stat_early_drop", .type = METRIC_COUNTER,
	  .help = "Entries evicted early to make room in a full table, summed over CPUs (CTA_STATS_EARLY_DROP)." },
	{ .name = "nftables_conntrack_stat_error", .type = METRIC_COUNTER,
	  .help = "ICMP(v6) errors that referred to no known connection, summed over CPUs (CTA_STATS_ERROR)." },
	{ .name = "nftables_conntrack_stat_search_restart", .type = METRIC_COUNTER,
	  .help = "Hash table lookups restarted by a concurrent resize, summed over CPUs (CTA_STATS_SEARCH_RESTART)." },
	{ .name = "nftables_conntrack_stat_clash_resolve", .type = METRIC_COUNTER,
	  .help = "Insert clashes that were resolved, summed over CPUs (CTA_STATS_CLASH_RESOLVE)." },
	{ .name = "nftables_conntrack_stat_chaintoolong", .type = METRIC_COUNTER,
	  .help = "Inserts refused because a hash chain was too long, summed over CPUs (CTA_STATS_CHAIN_TOOLONG)." },
};

/* ct_stat_desc[i] is kernel attribute ct_stat_attr[i]. */
static const unsigned int ct_stat_attr[] = {
	CTA_STATS_FOUND, CTA_STATS_INVALID, CTA_STATS_INSERT,
	CTA_STATS_INSERT_FAILED, CTA_STATS_DROP, CTA_STATS_EARLY_DROP,
	CTA_STATS_ERROR, CTA_STATS_SEARCH_RESTART, CTA_STATS_CLASH_RESOLVE,
	CTA_STATS_CHAIN_TOOLONG,
};

#define CT_NSTATS (sizeof(ct_stat_attr) / sizeof(ct_stat_attr[0]))

static const struct metric_desc ct_entries_desc = {
	.name = "nftables_conntrack_entries",
	.help = "Entries in the connection tracking table of the watched network namespace (ctnetlink, as conntrack -C).",
	.type = METRIC_GAUGE,
};

static const struct metric_desc ct_limit_desc = {
	.name = "nftables_conntrack_entries_limit",
	.help = "Size limit of the connection tracking table (net.netfilter.nf_conntrack_max, only read).",
	.type = METRIC_GAUGE,
};

struct ct_priv {
	struct nl_sock nl;
	int max_fd;			/* nf_conntrack_max, opened in the netns */
	int last_err;			/* for logging once per change */
	struct metric_family *f_entries, *f_limit, *f_stat[CT_NSTATS];
	struct metric_series *m_entries, *m_limit, *m_stat[CT_NSTATS];
	/* filled by the callbacks */
	uint64_t entries, max_entries;
	bool have_entries, have_max;
	uint64_t sum[CT_NSTATS];
	bool seen[CT_NSTATS];
};

static int open_max(void *arg)
{
	int *fd = arg;

	*fd = open(CT_MAX_PATH, O_RDONLY | O_CLOEXEC);
	return *fd == -1 ? -errno : 0;
}

static int ct_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, CTA_STATS_MAX) < 0)
		return MNL_CB_OK;	/* newer kernel: skip unknown */
	if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	tb[type] = attr;
	return MNL_CB_OK;
}

static int ct_global_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[CTA_STATS_MAX + 1] = { NULL };
	struct ct_priv *p = data;

	/* CTA_STATS_GLOBAL_* numbers are a subset of CTA_STATS_MAX */
	mnl_attr_parse(nlh, sizeof(struct nfgenmsg), ct_attr_cb, tb);
	if (tb[CTA_STATS_GLOBAL_ENTRIES]) {
		p->entries = ntohl(mnl_attr_get_u32(tb[CTA_STATS_GLOBAL_ENTRIES]));
		p->have_entries = true;
	}
	if (tb[CTA_STATS_GLOBAL_MAX_ENTRIES]) {
		p->max_entries =
			ntohl(mnl_attr_get_u32(tb[CTA_STATS_GLOBAL_MAX_ENTRIES]));
		p->have_max = true;
	}
	return MNL_CB_OK;
}

static int ct_cpu_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[CTA_STATS_MAX + 1] = { NULL };
	struct ct_priv *p = data;

	mnl_attr_parse(nlh, sizeof(struct nfgenmsg), ct_attr_cb, tb);
	for (size_t i = 0; i < CT_NSTATS; i++) {
		if (!tb[ct_stat_attr[i]])
			continue;
		p->sum[i] += ntohl(mnl_attr_get_u32(tb[ct_stat_attr[i]]));
		p->seen[i] = true;
	}
	return MNL_CB_OK;
}

static int ct_request(struct ct_priv *p, uint16_t msg, uint16_t flags,
		      mnl_cb_t cb)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(p->nl.buf);
	struct nfgenmsg *nfg;
	int err;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++p->nl.seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	err = nl_query(&p->nl, nlh, cb, p, CT_TIMEOUT_MS);
	/* nfnetlink answers EAGAIN once after autoloading the subsystem */
	if (err == -EAGAIN) {
		nlh->nlmsg_seq = ++p->nl.seq;
		err = nl_query(&p->nl, nlh, cb, p, CT_TIMEOUT_MS);
	}
	return err;
}

static void ct_hide(struct ct_priv *p)
{
	metric_family_set_visible(p->f_entries, false);
	metric_family_set_visible(p->f_limit, false);
	for (size_t i = 0; i < CT_NSTATS; i++)
		metric_family_set_visible(p->f_stat[i], false);
}

static const char *ct_explain(int err)
{
	switch (err) {
	case -EPERM:
	case -EACCES:
		return "the exporter needs CAP_NET_ADMIN in the watched network namespace";
	case -EINVAL:
	case -EOPNOTSUPP:
	case -EPROTONOSUPPORT:
	case -ENOENT:
		return "ctnetlink is not available (is nf_conntrack_netlink loaded?)";
	default:
		return "ctnetlink request failed";
	}
}

static int ct_collect(struct collector *c)
{
	struct ct_priv *p = c->priv;
	int err = 0;

	p->have_entries = p->have_max = false;
	memset(p->sum, 0, sizeof(p->sum));
	memset(p->seen, 0, sizeof(p->seen));

	if (!p->nl.mnl)
		err = nl_open(&p->nl, 0, 0, false);
	if (!err)
		err = ct_request(p, IPCTNL_MSG_CT_GET_STATS, NLM_F_ACK,
				 ct_global_cb);
	if (!err)
		err = ct_request(p, IPCTNL_MSG_CT_GET_STATS_CPU, NLM_F_DUMP,
				 ct_cpu_cb);
	if (!err && !p->have_entries)
		err = -EPROTO;
	if (err) {
		if (err != p->last_err)
			log_warn("conntrack: statistics unavailable: %s (%s)",
				 strerror(-err), ct_explain(err));
		p->last_err = err;
		ct_hide(p);
		return err;
	}
	if (p->last_err)
		log_info("conntrack: statistics available again");
	p->last_err = 0;

	/* The module may appear after start-up: retry opening the sysctl. */
	if (p->max_fd == -1)
		nl_netns_run(open_max, &p->max_fd);
	if (p->max_fd != -1) {
		char buf[32];
		ssize_t n = pread(p->max_fd, buf, sizeof(buf) - 1, 0);

		if (n > 0) {
			buf[n] = '\0';
			p->max_entries = strtoull(buf, NULL, 10);
			p->have_max = true;
		}
	}

	metric_set(p->m_entries, (double)p->entries);
	metric_family_set_visible(p->f_entries, true);
	if (p->have_max)
		metric_set(p->m_limit, (double)p->max_entries);
	metric_family_set_visible(p->f_limit, p->have_max);
	for (size_t i = 0; i < CT_NSTATS; i++) {
		if (p->seen[i])
			metric_set(p->m_stat[i], (double)p->sum[i]);
		metric_family_set_visible(p->f_stat[i], p->seen[i]);
	}
	return 0;
}

static void ct_fini(struct collector *c)
{
	struct ct_priv *p = c->priv;

	if (!p)
		return;
	nl_close(&p->nl);
	if (p->max_fd != -1)
		close(p->max_fd);
	free(p);
	c->priv = NULL;
}

static struct metric_series *family_single(struct metric_store *s,
					   const struct metric_desc *d,
					   struct metric_family **fp)
{
	*fp = metric_family_add(s, d);
	return *fp ? metric_series_get(*fp, NULL) : NULL;
}

static int ct_init(struct collector *c)
{
	struct ct_priv *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->max_fd = -1;
	c->priv = p;
	p->m_entries = family_single(c->env->store, &ct_entries_desc, &p->f_entries);
	p->m_limit = family_single(c->env->store, &ct_limit_desc, &p->f_limit);
	if (!p->m_entries || !p->m_limit)
		goto err;
	for (size_t i = 0; i < CT_NSTATS; i++) {
		p->m_stat[i] = family_single(c->env->store, &ct_stat_desc[i],
					     &p->f_stat[i]);
		if (!p->m_stat[i])
			goto err;
	}
	ct_hide(p);

	/* A socket that cannot be opened now is retried at each scrape. */
	err = nl_open(&p->nl, 0, 0, false);
	if (err)
		log_warn("conntrack: cannot open ctnetlink socket: %s",
			 strerror(-err));
	nl_netns_run(open_max, &p->max_fd);
	collector_set_ready(c);
	return 0;

err:
	err = -errno;
	ct_fini(c);
	return err ? err : -ENOMEM;
}

const struct collector_ops conntrack_collector_ops = {
	.name = "conntrack",
	.help = "conntrack table size, limit and per-CPU statistics (ctnetlink)",
	.default_enabled = true,
	.init = ct_init,
	.collect = ct_collect,
	.fini = ct_fini,
};
