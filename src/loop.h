/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event loop (Redis ae shape): epoll over file descriptors, timers as
 * timerfds on CLOCK_MONOTONIC, SIGTERM/SIGINT through a signalfd. One thread
 * runs it and owns all collector state; callbacks run on that thread.
 */
#ifndef NFTEXP_LOOP_H
#define NFTEXP_LOOP_H

#include <stdint.h>

struct loop;
struct loop_timer;

/* @events: EPOLLIN etc. as delivered by epoll. */
typedef void (*loop_fd_cb)(struct loop *l, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_cb)(struct loop *l, struct loop_timer *t, void *arg);

/*
 * Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (do it before any
 * other thread starts, so they inherit the mask) and ignores SIGPIPE.
 * Returns NULL with errno set.
 */
struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watch @fd (not owned). 0 or -errno. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb,
		void *arg);
int loop_del_fd(struct loop *l, int fd);

/*
 * Periodic timer: first fires after @first_ms, then every @interval_ms
 * (0: once). Owned by the loop until loop_del_timer() or loop_free().
 */
struct loop_timer *loop_add_timer(struct loop *l, uint64_t first_ms,
				  uint64_t interval_ms, loop_timer_cb cb,
				  void *arg);
int loop_timer_rearm(struct loop_timer *t, uint64_t first_ms,
		     uint64_t interval_ms);
void loop_del_timer(struct loop *l, struct loop_timer *t);

/* Run until loop_stop() or a termination signal; 0 or -errno. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* The signal that stopped the loop, or 0. */
int loop_stop_signal(const struct loop *l);

/* Monotonic clock in seconds, for durations. */
double loop_now(void);

#endif
