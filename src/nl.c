// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/sock_diag.h>

#include "log.h"
#include "nl.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

static int netns_target = -1;
static int netns_self = -1;

int nl_netns_set(const char *path)
{
	struct statfs sfs;
	int fd, self;

	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (fstatfs(fd, &sfs) == -1 || sfs.f_type != NSFS_MAGIC) {
		close(fd);
		return -EINVAL;
	}
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self == -1) {
		int err = -errno;

		close(fd);
		return err;
	}
	/* Prove now that we may enter it, rather than failing later. */
	if (setns(fd, CLONE_NEWNET) == -1) {
		int err = errno == EINVAL ? -EINVAL : -errno;

		close(fd);
		close(self);
		return err;
	}
	if (setns(self, CLONE_NEWNET) == -1) {
		int err = -errno;

		close(fd);
		close(self);
		return err;
	}
	netns_target = fd;
	netns_self = self;
	return 0;
}

void nl_netns_close(void)
{
	if (netns_target != -1)
		close(netns_target);
	if (netns_self != -1)
		close(netns_self);
	netns_target = netns_self = -1;
}

int nl_netns_run(int (*fn)(void *arg), void *arg)
{
	int ret;

	if (netns_target == -1)
		return fn(arg);
	if (setns(netns_target, CLONE_NEWNET) == -1)
		return -errno;
	ret = fn(arg);
	if (setns(netns_self, CLONE_NEWNET) == -1) {
		/* Staying in the wrong namespace would be silently wrong. */
		log_error("nl: cannot return to own network namespace: %s",
			  strerror(errno));
		abort();
	}
	return ret;
}

int nl_initns_run(int (*fn)(void *arg), void *arg)
{
	int init, self, ret;

	init = open("/proc/1/ns/net", O_RDONLY | O_CLOEXEC);
	if (init == -1)
		return -errno;
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self == -1) {
		ret = -errno;
		close(init);
		return ret;
	}
	if (setns(init, CLONE_NEWNET) == -1) {
		ret = -errno;
		goto out;
	}
	ret = fn(arg);
	if (setns(self, CLONE_NEWNET) == -1) {
		log_error("nl: cannot return to own network namespace: %s",
			  strerror(errno));
		abort();
	}
out:
	close(init);
	close(self);
	return ret;
}

struct open_args {
	struct nl_sock *s;
	unsigned int groups;
	int rcvbuf;
	bool nonblock;
};

static int open_here(void *arg)
{
	struct open_args *a = arg;
	struct nl_sock *s = a->s;
	int fd, err;

	s->mnl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC |
				  (a->nonblock ? SOCK_NONBLOCK : 0));
	if (!s->mnl)
		return -errno;
	fd = mnl_socket_get_fd(s->mnl);
	if (a->rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &a->rcvbuf,
		       sizeof(a->rcvbuf)) == -1 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &a->rcvbuf,
		       sizeof(a->rcvbuf)) == -1)
		log_warn("nl: cannot set receive buffer to %d bytes: %s",
			 a->rcvbuf, strerror(errno));
	if (mnl_socket_bind(s->mnl, a->groups, MNL_SOCKET_AUTOPID) == -1) {
		err = -errno;
		mnl_socket_close(s->mnl);
		s->mnl = NULL;
		return err;
	}
	s->portid = mnl_socket_get_portid(s->mnl);
	return 0;
}

int nl_open(struct nl_sock *s, unsigned int groups, int rcvbuf, bool nonblock)
{
	struct open_args a = { s, groups, rcvbuf, nonblock };
	int err;

	memset(s, 0, sizeof(*s));
	s->buf = malloc(NL_BUFSZ);
	if (!s->buf)
		return -ENOMEM;
	s->seq = (unsigned int)time(NULL);
	err = nl_netns_run(open_here, &a);
	if (err) {
		free(s->buf);
		s->buf = NULL;
	}
	return err;
}

void nl_close(struct nl_sock *s)
{
	if (s->mnl)
		mnl_socket_close(s->mnl);
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

int nl_fd(const struct nl_sock *s)
{
	return mnl_socket_get_fd(s->mnl);
}

int64_t nl_drops(const struct nl_sock *s)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);

	if (getsockopt(nl_fd(s), SOL_SOCKET, SO_MEMINFO, mem, &len) == -1)
		return -errno;
	if (len < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
		return -EOPNOTSUPP;
	return mem[SK_MEMINFO_DROPS];
}

/* Read and discard whatever is queued, without blocking. */
static void drain(struct nl_sock *s)
{
	while (recv(nl_fd(s), s->buf, NL_BUFSZ, MSG_DONTWAIT) > 0)
		;
}

int nl_query(struct nl_sock *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *data,
	     int timeout_ms)
{
	unsigned int seq = nlh->nlmsg_seq;
	bool intr = false;
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(s->mnl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		struct pollfd pfd = { .fd = nl_fd(s), .events = POLLIN };

		ret = poll(&pfd, 1, timeout_ms);
		if (ret == -1 && errno == EINTR)
			continue;
		if (ret == -1)
			return -errno;
		if (ret == 0)
			return -ETIMEDOUT;
		n = recv(nl_fd(s), s->buf, NL_BUFSZ, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		ret = mnl_cb_run(s->buf, (size_t)n, seq, s->portid, cb, data);
		if (ret == MNL_CB_ERROR && errno == EINTR) {
			/* libmnl stops at a DUMP_INTR message; the rest is
			 * still queued. Drop it so the next query starts clean.
			 */
			intr = true;
			break;
		}
		if (ret == MNL_CB_ERROR)
			return -errno;
		if (ret == MNL_CB_STOP)
			break;
	}
	if (intr) {
		drain(s);
		return -EINTR;
	}
	return 0;
}

struct attr_table {
	const struct nlattr **tb;
	int max;
};

static int attr_table_cb(const struct nlattr *a, void *data)
{
	struct attr_table *t = data;
	int type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->tb[type] = a;
	return MNL_CB_OK;
}

int nl_attrs_msg(const struct nlmsghdr *nlh, const struct nlattr **tb, int max)
{
	struct attr_table t = { tb, max };

	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nfgenmsg)))
		return -EPROTO;
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_table_cb, &t) < 0)
		return -EPROTO;
	return 0;
}

int nl_attrs_nested(const struct nlattr *nest, const struct nlattr **tb,
		    int max)
{
	struct attr_table t = { tb, max };

	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	if (mnl_attr_parse_nested(nest, attr_table_cb, &t) < 0)
		return -EPROTO;
	return 0;
}
