/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metric store: families with static descriptors, series with bounded label
 * sets, and immutable snapshots for the exposition writer.
 *
 * The store is owned by the event-loop thread: only that thread creates,
 * updates or deletes series. HTTP threads never touch the store; they read a
 * struct metric_snapshot, which is immutable once published and reference
 * counted, so a scrape sees a consistent view and the loop is held only for
 * the copy.
 */
#ifndef NFTEXP_METRICS_H
#define NFTEXP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRIC_MAX_LABELS		8
#define METRIC_DEFAULT_MAX_SERIES	10000
/* Longest label value kept; longer values are cut at a UTF-8 boundary. */
#define METRIC_MAX_LABEL_VALUE		1024

enum metric_type {
	METRIC_COUNTER = 1,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

/*
 * Static description of a family. @name is the family name: for counters it
 * is written WITHOUT the "_total" suffix, which the writer appends to samples
 * (and, in text 0.0.4, to HELP/TYPE). @unit, when set, must be the last
 * component of @name ("seconds", "bytes"). Histogram @buckets are the finite
 * upper bounds in increasing order; "+Inf" is implicit.
 */
struct metric_desc {
	const char *name;
	const char *help;
	const char *unit;
	enum metric_type type;
	unsigned int nlabels;
	const char *labels[METRIC_MAX_LABELS];
	unsigned int nbuckets;
	const double *buckets;
	unsigned int max_series;	/* 0: METRIC_DEFAULT_MAX_SERIES */
};

struct metric_store;
struct metric_family;
struct metric_series;

/* Constructors return NULL with errno set; *_free(NULL) is a no-op. */
struct metric_store *metric_store_new(void);
void metric_store_free(struct metric_store *s);

/*
 * Register a family. @d must outlive the store (static const tables).
 * Returns NULL with errno EINVAL for a malformed descriptor (bad name, unit
 * not a suffix, unsorted buckets, too many labels), EEXIST for a duplicate
 * name, ENOMEM.
 */
struct metric_family *metric_family_add(struct metric_store *s,
					const struct metric_desc *d);
const struct metric_desc *metric_family_desc(const struct metric_family *f);

/* A hidden family is left out of snapshots (e.g. its collector failed). */
void metric_family_set_visible(struct metric_family *f, bool visible);

/*
 * Find or create the series with these label values (desc->nlabels strings;
 * NULL for a family without labels). Values are copied and escaped once.
 * Returns NULL with errno ENOSPC when the family's series cap is reached
 * (the refusal is counted and exported), or ENOMEM.
 */
struct metric_series *metric_series_get(struct metric_family *f,
					const char *const *values);
/* Drop one series, or all series of a family. */
void metric_series_del(struct metric_family *f, struct metric_series *s);
void metric_family_clear(struct metric_family *f);
size_t metric_family_nseries(const struct metric_family *f);

/*
 * Mark and sweep for collectors that rebuild a family from a model at
 * each scrape: after sweep_begin(), every series returned by
 * metric_series_get() is marked; sweep_end() deletes the unmarked ones.
 */
void metric_family_sweep_begin(struct metric_family *f);
void metric_family_sweep_end(struct metric_family *f);

/* Value updates; cheap, no allocation. */
void metric_set(struct metric_series *s, double v);
void metric_add(struct metric_series *s, double v);
double metric_get(const struct metric_series *s);
/* Histograms only: count @v in the first bucket with v <= bound. */
void metric_observe(struct metric_series *s, double v);

/* --- read-only snapshot, shared with HTTP threads --- */

struct metric_snap_series {
	const char *labels;		/* escaped 'a="x",b="y"', "" if none */
	double value;			/* counter/gauge value; histogram sum */
	uint64_t count;			/* histogram: observations */
	const uint64_t *buckets;	/* histogram: per-bucket counts (not
					 * cumulative), desc->nbuckets entries;
					 * the +Inf bucket is @count */
};

struct metric_snap_family {
	const struct metric_desc *desc;
	const char *const *le;		/* histogram bounds as text */
	size_t nseries;
	const struct metric_snap_series *series;	/* sorted by labels */
};

struct metric_snapshot {
	size_t nfamilies;
	const struct metric_snap_family *families;
	/* private */
	int refs;
	int sorted;
	void *arena;
};

/*
 * Copy every visible family into a new snapshot holding one reference.
 * Families come out in registration order (the store's own last).
 * Label-less families with no series yet are skipped. NULL with ENOMEM.
 */
struct metric_snapshot *metric_store_snapshot(struct metric_store *s);
/*
 * Sort every family's series by label text, once, from any thread; the
 * writer calls it, so the loop thread never pays for sorting.
 */
void metric_snapshot_sort(struct metric_snapshot *snap);
struct metric_snapshot *metric_snapshot_ref(struct metric_snapshot *snap);
void metric_snapshot_unref(struct metric_snapshot *snap);

/*
 * Build a snapshot by hand (tests, fuzzers): families/series arrays are used
 * as given and never freed by unref.
 */
void metric_snapshot_init_static(struct metric_snapshot *snap,
				 const struct metric_snap_family *families,
				 size_t nfamilies);

#endif
