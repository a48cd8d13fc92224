// SPDX-License-Identifier: Apache-2.0
/* Metric store: descriptor checks, series identity, caps, snapshots. */
#include <errno.h>
#include <math.h>

#include "metrics.h"
#include "unit.h"

static const double buckets[] = { 0.001, 0.002, 0.004 };

static const struct metric_desc d_counter = {
	.name = "t_events", .help = "h", .type = METRIC_COUNTER,
	.nlabels = 2, .labels = { "a", "b" }, .max_series = 3,
};
static const struct metric_desc d_gauge = {
	.name = "t_gauge", .help = "h", .type = METRIC_GAUGE,
};
static const struct metric_desc d_hist = {
	.name = "t_latency_seconds", .help = "h", .unit = "seconds",
	.type = METRIC_HISTOGRAM, .nlabels = 1, .labels = { "owner" },
	.nbuckets = 3, .buckets = buckets,
};

static const struct metric_snap_family *
find(const struct metric_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->nfamilies; i++)
		if (!strcmp(s->families[i].desc->name, name))
			return &s->families[i];
	return NULL;
}

static const struct metric_snap_series *
find_series(const struct metric_snap_family *f, const char *labels)
{
	for (size_t i = 0; f && i < f->nseries; i++)
		if (!strcmp(f->series[i].labels, labels))
			return &f->series[i];
	return NULL;
}

static void test_desc_validation(void)
{
	static const double unsorted[] = { 1, 0.5 };
	static const struct metric_desc bad[] = {
		{ .name = "x_total", .help = "h", .type = METRIC_COUNTER },
		{ .name = "1x", .help = "h", .type = METRIC_GAUGE },
		{ .name = "x:y", .help = "h", .type = METRIC_GAUGE },
		{ .name = "x", .help = "", .type = METRIC_GAUGE },
		{ .name = "x_bytes", .help = "h", .unit = "seconds",
		  .type = METRIC_GAUGE },
		{ .name = "x", .help = "h", .type = METRIC_GAUGE, .nlabels = 2,
		  .labels = { "a", "a" } },
		{ .name = "x", .help = "h", .type = METRIC_GAUGE, .nlabels = 1,
		  .labels = { "__a" } },
		{ .name = "x", .help = "h", .type = METRIC_HISTOGRAM,
		  .nbuckets = 2, .buckets = unsorted },
		{ .name = "x", .help = "h", .type = METRIC_HISTOGRAM,
		  .nlabels = 1, .labels = { "le" }, .nbuckets = 3,
		  .buckets = buckets },
		{ .name = "x", .help = "h", .type = METRIC_HISTOGRAM },
		{ .name = "x", .help = "h", .type = 9 },
	};
	struct metric_store *s = metric_store_new();

	UNIT_CHECK(s != NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		UNIT_CHECK(metric_family_add(s, &bad[i]) == NULL);
		UNIT_CHECK(errno == EINVAL);
	}
	UNIT_CHECK(metric_family_add(s, &d_gauge) != NULL);
	errno = 0;
	UNIT_CHECK(metric_family_add(s, &d_gauge) == NULL && errno == EEXIST);
	metric_store_free(s);
}

static void test_series_identity_and_cap(void)
{
	struct metric_store *s = metric_store_new();
	struct metric_family *f = metric_family_add(s, &d_counter);
	const char *v1[] = { "x", "y" }, *v2[] = { "x", "z" };
	const char *v3[] = { "q", "\"" }, *v4[] = { "over", "cap" };
	struct metric_series *a, *b, *c;
	const struct metric_snap_series *m;
	struct metric_snapshot *snap;

	a = metric_series_get(f, v1);
	b = metric_series_get(f, v2);
	UNIT_CHECK(a && b && a != b);
	UNIT_CHECK(metric_series_get(f, v1) == a);
	c = metric_series_get(f, v3);
	UNIT_CHECK(c != NULL);
	errno = 0;
	UNIT_CHECK(metric_series_get(f, v4) == NULL && errno == ENOSPC);
	UNIT_CHECK(metric_series_get(f, v4) == NULL);
	UNIT_CHECK(metric_family_nseries(f) == 3);
	metric_add(a, 2);
	metric_add(a, 3);
	UNIT_CHECK(metric_get(a) == 5);

	snap = metric_store_snapshot(s);
	UNIT_CHECK(snap != NULL);
	m = find_series(find(snap, "nftables_exporter_metric_series_dropped"),
			"family=\"t_events\"");
	UNIT_CHECK(m && m->value == 2);
	m = find_series(find(snap, "nftables_exporter_metric_series_limit"),
			"family=\"t_events\"");
	UNIT_CHECK(m && m->value == 3);
	m = find_series(find(snap, "nftables_exporter_metric_series"),
			"family=\"t_events\"");
	UNIT_CHECK(m && m->value == 3);
	m = find_series(find(snap, "t_events"), "a=\"q\",b=\"\\\"\"");
	UNIT_CHECK(m != NULL);
	metric_snapshot_unref(snap);

	/* deleting frees room under the cap */
	metric_series_del(f, b);
	UNIT_CHECK(metric_family_nseries(f) == 2);
	UNIT_CHECK(metric_series_get(f, v4) != NULL);
	UNIT_CHECK(metric_series_get(f, v1) == a);
	metric_family_clear(f);
	UNIT_CHECK(metric_family_nseries(f) == 0);
	metric_store_free(s);
}

static void test_many_series_rehash(void)
{
	static const struct metric_desc d = {
		.name = "t_many", .help = "h", .type = METRIC_GAUGE,
		.nlabels = 1, .labels = { "k" }, .max_series = 5000,
	};
	struct metric_store *s = metric_store_new();
	struct metric_family *f = metric_family_add(s, &d);
	struct metric_series *keep[5000];
	bool ok = true;
	char buf[16];

	for (int i = 0; i < 5000; i++) {
		const char *v[] = { buf };

		snprintf(buf, sizeof(buf), "%d", i);
		keep[i] = metric_series_get(f, v);
		if (!keep[i])
			ok = false;
		else
			metric_set(keep[i], i);
	}
	UNIT_CHECK(ok);
	for (int i = 0; i < 5000; i += 2)
		metric_series_del(f, keep[i]);
	for (int i = 1; i < 5000 && ok; i += 2) {
		const char *v[] = { buf };

		snprintf(buf, sizeof(buf), "%d", i);
		if (metric_series_get(f, v) != keep[i] ||
		    metric_get(keep[i]) != i)
			ok = false;
	}
	UNIT_CHECK(ok);
	UNIT_CHECK(metric_family_nseries(f) == 2500);
	metric_store_free(s);
}

static void test_histogram(void)
{
	struct metric_store *s = metric_store_new();
	struct metric_family *f = metric_family_add(s, &d_hist);
	const char *v[] = { "kube-proxy" };
	struct metric_series *m = metric_series_get(f, v);
	const struct metric_snap_series *ss;
	struct metric_snapshot *snap;

	UNIT_CHECK(m != NULL);
	metric_observe(m, 0.0005);	/* bucket 0 */
	metric_observe(m, 0.001);	/* == bound: bucket 0 */
	metric_observe(m, 0.0011);	/* bucket 1 */
	metric_observe(m, 0.004);	/* bucket 2 */
	metric_observe(m, 5);		/* +Inf only */
	metric_observe(m, INFINITY);	/* +Inf only */
	snap = metric_store_snapshot(s);
	ss = find_series(find(snap, "t_latency_seconds"), "owner=\"kube-proxy\"");
	UNIT_CHECK(ss != NULL);
	if (ss) {
		UNIT_CHECK(ss->buckets[0] == 2);
		UNIT_CHECK(ss->buckets[1] == 1);
		UNIT_CHECK(ss->buckets[2] == 1);
		UNIT_CHECK(ss->count == 6);
		UNIT_CHECK(isinf(ss->value));
	}
	UNIT_CHECK_STR(find(snap, "t_latency_seconds")->le[0], "0.001");
	UNIT_CHECK_STR(find(snap, "t_latency_seconds")->le[2], "0.004");
	metric_snapshot_unref(snap);
	metric_store_free(s);
}

static void test_snapshot_isolation_order_visibility(void)
{
	struct metric_store *s = metric_store_new();
	struct metric_family *f = metric_family_add(s, &d_counter);
	struct metric_family *g = metric_family_add(s, &d_gauge);
	const char *vb[] = { "b", "" }, *va[] = { "a", "" };
	struct metric_series *mb = metric_series_get(f, vb);
	struct metric_series *ma = metric_series_get(f, va);
	struct metric_snapshot *s1, *s2;
	const struct metric_snap_family *sf;

	metric_set(mb, 1);
	metric_set(ma, 2);
	UNIT_CHECK(g != NULL);
	s1 = metric_store_snapshot(s);
	metric_snapshot_sort(s1);
	/* a label-less family without a series is not exported */
	UNIT_CHECK(find(s1, "t_gauge") == NULL);
	sf = find(s1, "t_events");
	UNIT_CHECK(sf && sf->nseries == 2);
	if (sf && sf->nseries == 2) {
		UNIT_CHECK_STR(sf->series[0].labels, "a=\"a\",b=\"\"");
		UNIT_CHECK_STR(sf->series[1].labels, "a=\"b\",b=\"\"");
	}
	metric_set(ma, 99);
	metric_series_del(f, mb);
	metric_family_set_visible(g, true);
	metric_set(metric_series_get(g, NULL), 7);
	UNIT_CHECK(sf && sf->series[0].value == 2 && sf->nseries == 2);

	metric_family_set_visible(f, false);
	s2 = metric_store_snapshot(s);
	UNIT_CHECK(find(s2, "t_events") == NULL);
	UNIT_CHECK(find(s2, "t_gauge") && find(s2, "t_gauge")->series[0].value == 7);
	metric_snapshot_ref(s2);
	metric_snapshot_unref(s2);
	metric_snapshot_unref(s2);
	metric_snapshot_unref(s1);
	metric_store_free(s);
}

static void test_label_value_clipping(void)
{
	static const struct metric_desc d = {
		.name = "t_long", .help = "h", .type = METRIC_GAUGE,
		.nlabels = 1, .labels = { "v" },
	};
	struct metric_store *s = metric_store_new();
	struct metric_family *f = metric_family_add(s, &d);
	char big[METRIC_MAX_LABEL_VALUE + 8];
	const char *v[] = { big };
	const struct metric_snap_family *sf;
	struct metric_snapshot *snap;
	size_t len;

	/* 'x' then 2-byte characters so the cut falls inside one */
	big[0] = 'x';
	for (size_t i = 1; i + 1 < sizeof(big) - 1; i += 2) {
		big[i] = (char)0xc3;
		big[i + 1] = (char)0xa9;
	}
	big[sizeof(big) - 2] = 'y';
	big[sizeof(big) - 1] = '\0';
	UNIT_CHECK(metric_series_get(f, v) != NULL);
	snap = metric_store_snapshot(s);
	sf = find(snap, "t_long");
	UNIT_CHECK(sf && sf->nseries == 1);
	len = strlen(sf->series[0].labels) - strlen("v=\"\"");
	UNIT_CHECK(len <= METRIC_MAX_LABEL_VALUE && len >= METRIC_MAX_LABEL_VALUE - 1);
	/* ends on a complete character */
	UNIT_CHECK((unsigned char)sf->series[0].labels[strlen(sf->series[0].labels) - 2] == 0xa9);
	metric_snapshot_unref(snap);
	metric_store_free(s);
}

int main(void)
{
	UNIT_RUN(test_desc_validation);
	UNIT_RUN(test_series_identity_and_cap);
	UNIT_RUN(test_many_series_rehash);
	UNIT_RUN(test_histogram);
	UNIT_RUN(test_snapshot_isolation_order_visibility);
	UNIT_RUN(test_label_value_clipping);
	UNIT_DONE();
}
