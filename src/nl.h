/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Netlink helpers over libmnl: sockets created inside the target network
 * namespace, big receive buffers, kernel drop counters, and a synchronous
 * request/dump runner for collectors.
 */
#ifndef NFTEXP_NL_H
#define NFTEXP_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

/* Receive buffer for one recv: nf_tables messages reach 64 KiB. */
#define NL_BUFSZ	(65536 + 4096)

struct nl_sock {
	struct mnl_socket *mnl;
	unsigned int portid;
	unsigned int seq;
	char *buf;			/* NL_BUFSZ bytes */
};

/*
 * Target network namespace for every netlink socket and namespaced file:
 * nl_netns_set() opens @path (NULL: our own) once at start-up; 0 or -errno
 * (-ENOENT missing, -EINVAL not a network namespace).
 */
int nl_netns_set(const char *path);
void nl_netns_close(void);

/*
 * Run @fn(@arg) inside the target namespace and come back; returns what
 * @fn returned, or -errno if entering or leaving failed.
 */
int nl_netns_run(int (*fn)(void *arg), void *arg);

/*
 * Same, in the initial network namespace (/proc/1/ns/net), for what only
 * works there, such as the process-events connector.
 */
int nl_initns_run(int (*fn)(void *arg), void *arg);

/*
 * Open and bind a NETLINK_NETFILTER socket in the target namespace.
 * @groups: legacy bind mask (0 for none). @rcvbuf: bytes to request with
 * SO_RCVBUFFORCE (falling back to SO_RCVBUF), 0 to keep the default.
 * @nonblock sets O_NONBLOCK. Returns 0 or -errno; nl_close() on a zeroed or
 * closed struct is a no-op.
 */
int nl_open(struct nl_sock *s, unsigned int groups, int rcvbuf, bool nonblock);
void nl_close(struct nl_sock *s);
int nl_fd(const struct nl_sock *s);

/* Datagrams the kernel dropped on this socket (SO_MEMINFO); -errno. */
int64_t nl_drops(const struct nl_sock *s);

/*
 * Send the request in s->buf (built by the caller with @nlh's seq set from
 * ++s->seq) and feed every reply to @cb through mnl_cb_run() until the
 * dump's DONE or the ACK. Replies are awaited at most @timeout_ms.
 * Returns 0 or -errno (the kernel's error, -ETIMEDOUT, -EINTR when a dump
 * was interrupted; the socket is drained before returning in that case).
 */
int nl_query(struct nl_sock *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *data,
	     int timeout_ms);

/*
 * Fill tb[0..max] with the attributes of an nfnetlink message (after its
 * struct nfgenmsg) or of a nested attribute; types above @max (a newer
 * kernel's) are skipped. 0, or -EPROTO when malformed.
 */
int nl_attrs_msg(const struct nlmsghdr *nlh, const struct nlattr **tb, int max);
int nl_attrs_nested(const struct nlattr *nest, const struct nlattr **tb,
		    int max);

/*
 * mnl_nlmsg_ok() of libmnl 1.0.4 compares the length as a signed int, so a
 * message claiming more than 2 GiB passes; this one does not. Use it (with
 * mnl_nlmsg_next()) to walk any buffer of messages.
 */
static inline bool nl_msg_ok(const struct nlmsghdr *nlh, int left)
{
	return left >= (int)sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) &&
	       nlh->nlmsg_len <= (unsigned int)left;
}

#endif
