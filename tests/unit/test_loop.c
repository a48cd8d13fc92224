// SPDX-License-Identifier: Apache-2.0
/* Event loop: timers, fds, deletion during dispatch, signal stop. */
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"
#include "unit.h"

static int fired;

static void count_and_stop(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)t;
	if (++fired == *(int *)arg)
		loop_stop(l);
}

static void test_periodic_timer(void)
{
	struct loop *l = loop_new();
	int want = 3;
	double t0 = loop_now();

	fired = 0;
	UNIT_CHECK(loop_add_timer(l, 10, 10, count_and_stop, &want) != NULL);
	UNIT_CHECK(loop_run(l) == 0);
	UNIT_CHECK(fired == 3);
	UNIT_CHECK(loop_now() - t0 >= 0.025);
	loop_free(l);
}

static void test_oneshot_now(void)
{
	struct loop *l = loop_new();
	int want = 1;

	fired = 0;
	UNIT_CHECK(loop_add_timer(l, 0, 0, count_and_stop, &want) != NULL);
	UNIT_CHECK(loop_run(l) == 0);
	UNIT_CHECK(fired == 1);
	loop_free(l);
}

static int pipes[2][2];
static int calls[2];

static void fd_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	int idx = *(int *)arg;
	char c;

	(void)events;
	calls[idx]++;
	if (read(fd, &c, 1) != 1)
		return;
	/* whoever runs first removes the other, which must then not run */
	loop_del_fd(l, pipes[!idx][0]);
	loop_del_fd(l, fd);
	loop_stop(l);
}

static void test_fd_and_delete_during_dispatch(void)
{
	struct loop *l = loop_new();
	static int idx[2] = { 0, 1 };

	calls[0] = calls[1] = 0;
	for (int i = 0; i < 2; i++) {
		UNIT_CHECK(pipe(pipes[i]) == 0);
		UNIT_CHECK(loop_add_fd(l, pipes[i][0], EPOLLIN, fd_cb, &idx[i]) == 0);
		UNIT_CHECK(write(pipes[i][1], "x", 1) == 1);
	}
	UNIT_CHECK(loop_add_fd(l, pipes[0][0], EPOLLIN, fd_cb, &idx[0]) == -EEXIST);
	UNIT_CHECK(loop_run(l) == 0);
	UNIT_CHECK(calls[0] + calls[1] == 1);
	UNIT_CHECK(loop_del_fd(l, pipes[0][0]) == -ENOENT);
	loop_free(l);
	for (int i = 0; i < 2; i++) {
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
}

static void raise_term(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	(void)arg;
	raise(SIGTERM);
}

static void test_sigterm_stops(void)
{
	struct loop *l = loop_new();

	UNIT_CHECK(loop_add_timer(l, 5, 0, raise_term, NULL) != NULL);
	UNIT_CHECK(loop_run(l) == 0);
	UNIT_CHECK(loop_stop_signal(l) == SIGTERM);
	loop_free(l);
}

static void test_timer_delete(void)
{
	struct loop *l = loop_new();
	struct loop_timer *t;
	int want = 1, never = 100;

	fired = 0;
	t = loop_add_timer(l, 1, 1, count_and_stop, &never);
	UNIT_CHECK(t != NULL);
	loop_del_timer(l, t);
	UNIT_CHECK(loop_add_timer(l, 30, 0, count_and_stop, &want) != NULL);
	UNIT_CHECK(loop_run(l) == 0);
	UNIT_CHECK(fired == 1);
	loop_free(l);
}

int main(void)
{
	UNIT_RUN(test_periodic_timer);
	UNIT_RUN(test_oneshot_now);
	UNIT_RUN(test_fd_and_delete_during_dispatch);
	UNIT_RUN(test_sigterm_stops);
	UNIT_RUN(test_timer_delete);
	UNIT_DONE();
}
