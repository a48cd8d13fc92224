// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

/* One watched fd; timers and the signalfd are watches too. */
struct loop_watch {
	struct loop_watch *next;
	int fd;
	loop_fd_cb cb;
	void *arg;
	struct loop_timer *timer;	/* set for timers */
	bool dead;
};

struct loop_timer {
	struct loop_watch *w;
	loop_timer_cb cb;
	void *arg;
};

struct loop {
	int epfd;
	int sigfd;
	bool stop;
	int stop_signal;
	struct loop_watch *watches;
	bool dispatching;
};

double loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void signal_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("loop: SIGHUP ignored (nothing to reload)");
			continue;
		}
		log_info("loop: received signal %u, stopping", si.ssi_signo);
		l->stop = true;
		l->stop_signal = (int)si.ssi_signo;
	}
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	sigset_t set;
	int err;

	if (!l)
		return NULL;
	l->sigfd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd == -1)
		goto err_free;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		goto err_close;
	l->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sigfd == -1)
		goto err_close;
	err = loop_add_fd(l, l->sigfd, EPOLLIN, signal_cb, NULL);
	if (err) {
		errno = -err;
		goto err_close;
	}
	return l;

err_close:
	err = errno;
	if (l->sigfd != -1)
		close(l->sigfd);
	close(l->epfd);
	errno = err;
err_free:
	free(l);
	return NULL;
}

static void watch_release(struct loop_watch *w)
{
	if (w->timer) {
		close(w->fd);
		free(w->timer);
	}
	free(w);
}

static void reap(struct loop *l)
{
	struct loop_watch **pp = &l->watches;

	while (*pp) {
		struct loop_watch *w = *pp;

		if (w->dead) {
			*pp = w->next;
			watch_release(w);
		} else {
			pp = &w->next;
		}
	}
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	while (l->watches) {
		struct loop_watch *w = l->watches;

		l->watches = w->next;
		watch_release(w);
	}
	if (l->sigfd != -1)
		close(l->sigfd);
	close(l->epfd);
	free(l);
}

static struct loop_watch *watch_find(struct loop *l, int fd)
{
	for (struct loop_watch *w = l->watches; w; w = w->next)
		if (w->fd == fd && !w->dead)
			return w;
	return NULL;
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb,
		void *arg)
{
	struct epoll_event ev = { .events = events };
	struct loop_watch *w;

	if (watch_find(l, fd))
		return -EEXIST;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		int err = -errno;

		free(w);
		return err;
	}
	w->next = l->watches;
	l->watches = w;
	return 0;
}

/* Watches are freed only outside dispatch, so a callback may delete any. */
static void watch_kill(struct loop *l, struct loop_watch *w)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->dead = true;
	if (!l->dispatching)
		reap(l);
}

int loop_del_fd(struct loop *l, int fd)
{
	struct loop_watch *w = watch_find(l, fd);

	if (!w || w->timer)
		return -ENOENT;
	watch_kill(l, w);
	return 0;
}

static void timer_fire(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct loop_timer *t = arg;
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	t->cb(l, t, t->arg);
}

int loop_timer_rearm(struct loop_timer *t, uint64_t first_ms,
		     uint64_t interval_ms)
{
	struct itimerspec its = {
		.it_value = { (time_t)(first_ms / 1000),
			      (long)(first_ms % 1000) * 1000000 },
		.it_interval = { (time_t)(interval_ms / 1000),
				 (long)(interval_ms % 1000) * 1000000 },
	};

	/* a zero it_value disarms; fire "now" as 1 ns instead */
	if (!first_ms)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(t->w->fd, 0, &its, NULL) == -1)
		return -errno;
	return 0;
}

struct loop_timer *loop_add_timer(struct loop *l, uint64_t first_ms,
				  uint64_t interval_ms, loop_timer_cb cb,
				  void *arg)
{
	struct loop_timer *t = calloc(1, sizeof(*t));
	int fd, err;

	if (!t)
		return NULL;
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd == -1)
		goto err_free;
	t->cb = cb;
	t->arg = arg;
	err = loop_add_fd(l, fd, EPOLLIN, timer_fire, t);
	if (err)
		goto err_close;
	t->w = watch_find(l, fd);
	t->w->timer = t;
	err = loop_timer_rearm(t, first_ms, interval_ms);
	if (err) {
		watch_kill(l, t->w);	/* frees t and closes fd */
		errno = -err;
		return NULL;
	}
	return t;

err_close:
	close(fd);
	errno = -err;
err_free:
	free(t);
	return NULL;
}

void loop_del_timer(struct loop *l, struct loop_timer *t)
{
	if (t)
		watch_kill(l, t->w);
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[32];

	while (!l->stop) {
		int n = epoll_wait(l->epfd, evs, 32, -1);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		l->dispatching = true;
		for (int i = 0; i < n && !l->stop; i++) {
			struct loop_watch *w = evs[i].data.ptr;

			if (!w->dead)
				w->cb(l, w->fd, evs[i].events, w->arg);
		}
		l->dispatching = false;
		reap(l);
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

int loop_stop_signal(const struct loop *l)
{
	return l->stop_signal;
}
