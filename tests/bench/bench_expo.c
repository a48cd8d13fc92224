// SPDX-License-Identifier: Apache-2.0
/*
 * What a scrape costs the event loop versus the HTTP thread. The loop only
 * takes a snapshot (a copy); rendering the page happens in the HTTP thread.
 * The baseline, in the same run, is rendering the whole page where the
 * state lives, which is what holding the loop for the scrape would cost.
 * Prints times per scrape and the ratio. Not a test: it asserts nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "expo.h"
#include "metrics.h"

static const double kp_buckets[] = { 0.001, 0.002, 0.004, 0.008, 0.016,
				     0.032, 0.064, 0.128, 0.256, 0.512,
				     1.024, 2.048, 4.096, 8.192, 16.384 };

static const struct metric_desc d_svc = {
	.name = "bench_service_connections", .help = "h",
	.type = METRIC_COUNTER, .nlabels = 5,
	.labels = { "namespace", "service", "port", "protocol", "family" },
	.max_series = 1000000,
};

static const struct metric_desc d_hist = {
	.name = "bench_sync_duration_seconds", .help = "h", .unit = "seconds",
	.type = METRIC_HISTOGRAM, .nlabels = 1, .labels = { "owner" },
	.nbuckets = 15, .buckets = kp_buckets, .max_series = 100000,
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t render(struct metric_snapshot *snap, enum expo_format fmt)
{
	static char buf[32 * 1024];
	struct expo *w = expo_new(snap, fmt);
	size_t n, total = 0;

	while ((n = expo_read(w, buf, sizeof(buf))))
		total += n;
	expo_free(w);
	return total;
}

int main(int argc, char **argv)
{
	int nsvc = argc > 1 ? atoi(argv[1]) : 30000, rounds = 20;
	struct metric_store *s = metric_store_new();
	struct metric_family *f = metric_family_add(s, &d_svc);
	struct metric_family *h = metric_family_add(s, &d_hist);
	double t_snap = 0, t_render = 0, t_base = 0, t0;
	size_t bytes = 0;
	char ns[32], svc[64], owner[32];

	for (int i = 0; i < nsvc; i++) {
		const char *v[] = { ns, svc, "http", "TCP", "IPv4" };

		snprintf(ns, sizeof(ns), "namespace-%d", i % 100);
		snprintf(svc, sizeof(svc), "service-%d", i);
		metric_set(metric_series_get(f, v), i * 12345.0);
	}
	for (int i = 0; i < 100; i++) {
		const char *v[] = { owner };

		snprintf(owner, sizeof(owner), "owner-%d", i);
		for (int k = 0; k < 50; k++)
			metric_observe(metric_series_get(h, v), k * 0.01);
	}
	for (int r = 0; r < rounds; r++) {
		struct metric_snapshot *snap;

		/* baseline: snapshot and render both on the state's thread */
		t0 = now();
		snap = metric_store_snapshot(s);
		bytes = render(snap, EXPO_FMT_TEXT);
		metric_snapshot_unref(snap);
		t_base += now() - t0;

		/* ours: the loop pays for the copy only */
		t0 = now();
		snap = metric_store_snapshot(s);
		t_snap += now() - t0;
		t0 = now();
		render(snap, EXPO_FMT_TEXT);
		t_render += now() - t0;
		metric_snapshot_unref(snap);
	}
	printf("series: %d, page: %zu bytes, %d rounds\n", nsvc + 100 * 18,
	       bytes, rounds);
	printf("loop held, ours (snapshot copy):     %8.3f ms per scrape\n",
	       t_snap / rounds * 1e3);
	printf("http thread, ours (render):          %8.3f ms per scrape\n",
	       t_render / rounds * 1e3);
	printf("loop held, baseline (render in loop): %8.3f ms per scrape\n",
	       t_base / rounds * 1e3);
	printf("ratio baseline/ours for loop-held time: %.1fx\n",
	       t_base / t_snap);
	metric_store_free(s);
	return 0;
}
