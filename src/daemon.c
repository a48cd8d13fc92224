// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "daemon.h"
#include "flags.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "procstat.h"
#include "version.h"

static const struct metric_desc build_info_desc = {
	.name = "nftables_exporter_build_info",
	.help = "A metric with a constant '1' value labeled by version and revision from which nftables_exporter was built.",
	.type = METRIC_GAUGE,
	.nlabels = 2,
	.labels = { "version", "revision" },
	.max_series = 1,
};

static const struct metric_desc scrape_duration_desc = {
	.name = "nftables_exporter_scrape_collector_duration_seconds",
	.help = "nftables_exporter: Duration of a collector scrape.",
	.unit = "seconds",
	.type = METRIC_GAUGE,
	.nlabels = 1,
	.labels = { "collector" },
	.max_series = 64,
};

static const struct metric_desc scrape_success_desc = {
	.name = "nftables_exporter_scrape_collector_success",
	.help = "nftables_exporter: Whether a collector succeeded.",
	.type = METRIC_GAUGE,
	.nlabels = 1,
	.labels = { "collector" },
	.max_series = 64,
};

struct daemon_collector {
	struct collector c;
	struct metric_series *m_duration, *m_success;
};

struct daemon {
	struct loop *loop;
	struct metric_store *store;
	struct collector_env env;
	struct procstat *procstat;
	struct daemon_collector *cols;
	size_t ncols;
	char collectors_text[256];

	/* scrape broker: shared with HTTP threads, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t req_seq, done_seq;
	struct metric_snapshot *cur;
	bool stopping;
	int efd;
};

static void collect_all(struct daemon *d)
{
	for (size_t i = 0; i < d->ncols; i++) {
		struct daemon_collector *dc = &d->cols[i];
		double t0 = loop_now();
		int err = dc->c.ops->collect ? dc->c.ops->collect(&dc->c) : 0;

		metric_set(dc->m_duration, loop_now() - t0);
		metric_set(dc->m_success, err ? 0 : 1);
	}
	if (d->procstat)
		procstat_update(d->procstat);
}

/* Loop side of the broker: one collection serves every pending request. */
static void scrape_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct daemon *d = arg;
	struct metric_snapshot *snap, *old;
	uint64_t n, start;

	(void)l;
	(void)events;
	if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	pthread_mutex_lock(&d->mu);
	start = d->req_seq;
	pthread_mutex_unlock(&d->mu);
	if (start == d->done_seq)
		return;

	collect_all(d);
	snap = metric_store_snapshot(d->store);
	if (!snap)
		log_error("daemon: cannot allocate a snapshot");

	pthread_mutex_lock(&d->mu);
	old = d->cur;
	d->cur = snap;
	d->done_seq = start;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	metric_snapshot_unref(old);
}

struct metric_snapshot *daemon_snapshot(struct daemon *d, int timeout_ms)
{
	struct metric_snapshot *snap = NULL;
	uint64_t one = 1, my;
	struct timespec dl;
	ssize_t rc;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&d->mu);
	my = ++d->req_seq;
	pthread_mutex_unlock(&d->mu);
	rc = write(d->efd, &one, sizeof(one));
	(void)rc;

	pthread_mutex_lock(&d->mu);
	while (d->done_seq < my && !d->stopping)
		if (pthread_cond_timedwait(&d->cv, &d->mu, &dl) == ETIMEDOUT)
			break;
	if (d->done_seq >= my && d->cur)
		snap = metric_snapshot_ref(d->cur);
	pthread_mutex_unlock(&d->mu);
	return snap;
}

bool daemon_ready(struct daemon *d)
{
	for (size_t i = 0; i < d->ncols; i++)
		if (!__atomic_load_n(&d->cols[i].c.ready, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

const char *daemon_collectors(const struct daemon *d)
{
	return d->collectors_text;
}

static int self_families(struct daemon *d)
{
	const char *bi[2] = { NFTEXP_VERSION, NFTEXP_REVISION };
	struct metric_family *fb, *fd, *fs;
	struct metric_series *m;

	fb = metric_family_add(d->store, &build_info_desc);
	fd = metric_family_add(d->store, &scrape_duration_desc);
	fs = metric_family_add(d->store, &scrape_success_desc);
	if (!fb || !fd || !fs)
		return -errno;
	m = metric_series_get(fb, bi);
	if (!m)
		return -errno;
	metric_set(m, 1);
	for (size_t i = 0; i < d->ncols; i++) {
		const char *name[1] = { d->cols[i].c.ops->name };

		d->cols[i].m_duration = metric_series_get(fd, name);
		d->cols[i].m_success = metric_series_get(fs, name);
		if (!d->cols[i].m_duration || !d->cols[i].m_success)
			return -errno;
	}
	return 0;
}

struct daemon *daemon_new(const struct flags *f)
{
	struct daemon *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;
	size_t pos = 0;
	int err;

	if (!d)
		return NULL;
	d->efd = -1;
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);

	d->loop = loop_new();
	d->store = metric_store_new();
	d->cols = calloc(collector_count, sizeof(*d->cols));
	if (!d->loop || !d->store || !d->cols)
		goto err;
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd == -1)
		goto err;
	err = loop_add_fd(d->loop, d->efd, EPOLLIN, scrape_cb, d);
	if (err) {
		errno = -err;
		goto err;
	}

	for (size_t i = 0; i < collector_count; i++) {
		struct daemon_collector *dc;

		if (!flags_collector_enabled(f, i))
			continue;
		dc = &d->cols[d->ncols++];
		dc->c.ops = collector_table[i];
		dc->c.env = &d->env;
		pos += (size_t)snprintf(d->collectors_text + pos,
					sizeof(d->collectors_text) - pos,
					"%s%s", pos ? ", " : "",
					dc->c.ops->name);
		if (pos >= sizeof(d->collectors_text))
			pos = sizeof(d->collectors_text) - 1;
	}
	d->env.loop = d->loop;
	d->env.store = d->store;
	d->env.flags = f;
	err = self_families(d);
	if (err) {
		errno = -err;
		goto err;
	}
	if (!f->disable_exporter_metrics) {
		d->procstat = procstat_new(d->store);
		if (!d->procstat)
			goto err;
	}
	for (size_t i = 0; i < d->ncols; i++) {
		struct daemon_collector *dc = &d->cols[i];

		err = dc->c.ops->init(&dc->c);
		if (err) {
			log_error("daemon: collector %s failed to start: %s",
				  dc->c.ops->name, strerror(-err));
			/* only the collectors before it were initialised */
			d->ncols = i;
			errno = -err;
			goto err;
		}
		log_debug("daemon: collector %s started", dc->c.ops->name);
	}
	return d;

err:
	err = errno;
	daemon_free(d);
	errno = err;
	return NULL;
}

int daemon_run(struct daemon *d)
{
	return loop_run(d->loop);
}

void daemon_shutdown(struct daemon *d)
{
	pthread_mutex_lock(&d->mu);
	d->stopping = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

void daemon_free(struct daemon *d)
{
	if (!d)
		return;
	for (size_t i = d->ncols; i-- > 0;)
		if (d->cols[i].c.ops->fini)
			d->cols[i].c.ops->fini(&d->cols[i].c);
	procstat_free(d->procstat);
	metric_snapshot_unref(d->cur);
	metric_store_free(d->store);
	if (d->efd != -1)
		close(d->efd);
	loop_free(d->loop);
	free(d->cols);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
