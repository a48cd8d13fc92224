// SPDX-License-Identifier: Apache-2.0
/*
 * Metric store. Each series is one allocation (struct, histogram buckets and
 * escaped label text together) found through a per-family struct hmap
 * keyed by the escaped label text. Snapshots are one arena each.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "hmap.h"
#include "metrics.h"

struct metric_series {
	struct hnode node;		/* in family->index, by label text */
	size_t index;			/* slot in family->series */
	uint32_t labels_len;
	uint32_t stamp;			/* sweep mark */
	double value;
	uint64_t count;
	const struct metric_family *family;
	char *labels;			/* points into this allocation */
	uint64_t buckets[];
};

struct metric_family {
	const struct metric_desc *desc;
	struct metric_store *store;
	char **le;
	bool visible;
	unsigned int max_series;
	uint32_t stamp;
	uint64_t dropped;
	struct metric_series **series;
	size_t nseries, cap;
	struct hmap index;
};

struct metric_store {
	struct metric_family **families;
	size_t nfamilies, cap;
	char *scratch;			/* escaped label text under construction */
	size_t scratch_cap;
	struct metric_family *f_limit, *f_series, *f_dropped;
};

static const struct metric_desc store_desc_limit = {
	.name = "nftables_exporter_metric_series_limit",
	.help = "Most series a labelled metric family may hold; more are refused and counted.",
	.type = METRIC_GAUGE,
	.nlabels = 1,
	.labels = { "family" },
	.max_series = 1000,
};

static const struct metric_desc store_desc_series = {
	.name = "nftables_exporter_metric_series",
	.help = "Series currently held by a labelled metric family.",
	.type = METRIC_GAUGE,
	.nlabels = 1,
	.labels = { "family" },
	.max_series = 1000,
};

static const struct metric_desc store_desc_dropped = {
	.name = "nftables_exporter_metric_series_dropped",
	.help = "Series refused because their family was at its series limit.",
	.type = METRIC_COUNTER,
	.nlabels = 1,
	.labels = { "family" },
	.max_series = 1000,
};

static bool name_ok(const char *s, bool label)
{
	if (!s || !*s)
		return false;
	if (label && s[0] == '_' && s[1] == '_')
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;

		if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			continue;
		if (p != s && c >= '0' && c <= '9')
			continue;
		return false;
	}
	return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && s[n - m - 1] == '_' && strcmp(s + n - m, suffix) == 0;
}

static int desc_check(const struct metric_desc *d)
{
	if (!name_ok(d->name, false) || !d->help || !*d->help)
		return -EINVAL;
	if (d->type < METRIC_COUNTER || d->type > METRIC_HISTOGRAM)
		return -EINVAL;
	if (d->type == METRIC_COUNTER && has_suffix(d->name, "total"))
		return -EINVAL;
	if (d->unit && !has_suffix(d->name, d->unit))
		return -EINVAL;
	if (d->nlabels > METRIC_MAX_LABELS)
		return -EINVAL;
	for (unsigned int i = 0; i < d->nlabels; i++) {
		if (!name_ok(d->labels[i], true))
			return -EINVAL;
		if (d->type == METRIC_HISTOGRAM && !strcmp(d->labels[i], "le"))
			return -EINVAL;
		for (unsigned int j = 0; j < i; j++)
			if (!strcmp(d->labels[i], d->labels[j]))
				return -EINVAL;
	}
	if (d->type == METRIC_HISTOGRAM) {
		if (!d->nbuckets || !d->buckets)
			return -EINVAL;
		for (unsigned int i = 0; i < d->nbuckets; i++) {
			if (!isfinite(d->buckets[i]))
				return -EINVAL;
			if (i && !(d->buckets[i] > d->buckets[i - 1]))
				return -EINVAL;
		}
	} else if (d->nbuckets) {
		return -EINVAL;
	}
	return 0;
}

struct metric_store *metric_store_new(void)
{
	struct metric_store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->f_limit = metric_family_add(s, &store_desc_limit);
	s->f_series = metric_family_add(s, &store_desc_series);
	s->f_dropped = metric_family_add(s, &store_desc_dropped);
	if (!s->f_limit || !s->f_series || !s->f_dropped) {
		metric_store_free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

static void family_free(struct metric_family *f)
{
	metric_family_clear(f);
	if (f->le)
		for (unsigned int i = 0; i < f->desc->nbuckets; i++)
			free(f->le[i]);
	free(f->le);
	free(f->series);
	free(f);
}

void metric_store_free(struct metric_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nfamilies; i++)
		family_free(s->families[i]);
	free(s->families);
	free(s->scratch);
	free(s);
}

struct metric_family *metric_family_add(struct metric_store *s,
					const struct metric_desc *d)
{
	struct metric_family *f;
	int err = desc_check(d);

	if (err) {
		errno = -err;
		return NULL;
	}
	for (size_t i = 0; i < s->nfamilies; i++) {
		if (!strcmp(s->families[i]->desc->name, d->name)) {
			errno = EEXIST;
			return NULL;
		}
	}
	if (s->nfamilies == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		void *p = realloc(s->families, cap * sizeof(*s->families));

		if (!p)
			return NULL;
		s->families = p;
		s->cap = cap;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->desc = d;
	f->store = s;
	f->visible = true;
	f->max_series = d->max_series ? d->max_series : METRIC_DEFAULT_MAX_SERIES;
	if (d->nlabels == 0)
		f->max_series = 1;
	if (d->type == METRIC_HISTOGRAM) {
		f->le = calloc(d->nbuckets, sizeof(*f->le));
		if (!f->le)
			goto err_free;
		for (unsigned int i = 0; i < d->nbuckets; i++) {
			char buf[40];

			expo_format_double(buf, sizeof(buf), d->buckets[i]);
			f->le[i] = strdup(buf);
			if (!f->le[i])
				goto err_free;
		}
	}
	s->families[s->nfamilies++] = f;
	return f;

err_free:
	family_free(f);
	errno = ENOMEM;
	return NULL;
}

const struct metric_desc *metric_family_desc(const struct metric_family *f)
{
	return f->desc;
}

void metric_family_set_visible(struct metric_family *f, bool visible)
{
	f->visible = visible;
}

size_t metric_family_nseries(const struct metric_family *f)
{
	return f->nseries;
}

/* Longest prefix of @v no longer than @max that ends on a UTF-8 boundary. */
static size_t clip_utf8(const char *v, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)v[max] & 0xc0) == 0x80)
		max--;
	return max;
}

static int scratch_reserve(struct metric_store *s, size_t need)
{
	char *p;
	size_t cap;

	if (need <= s->scratch_cap)
		return 0;
	cap = s->scratch_cap ? s->scratch_cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(s->scratch, cap);
	if (!p)
		return -ENOMEM;
	s->scratch = p;
	s->scratch_cap = cap;
	return 0;
}

/* Render 'name="value",...' into the store's scratch buffer. */
static int render_labels(struct metric_family *f, const char *const *values,
			 size_t *lenp)
{
	const struct metric_desc *d = f->desc;
	struct metric_store *s = f->store;
	size_t len = 0;

	for (unsigned int i = 0; i < d->nlabels; i++) {
		const char *v = values[i] ? values[i] : "";
		size_t vlen = clip_utf8(v, strlen(v), METRIC_MAX_LABEL_VALUE);
		size_t nlen = strlen(d->labels[i]);
		size_t elen = expo_escape_label_value(NULL, 0, v, vlen);

		if (scratch_reserve(s, len + nlen + elen + 5))
			return -ENOMEM;
		if (i)
			s->scratch[len++] = ',';
		memcpy(s->scratch + len, d->labels[i], nlen);
		len += nlen;
		s->scratch[len++] = '=';
		s->scratch[len++] = '"';
		len += expo_escape_label_value(s->scratch + len, elen, v, vlen);
		s->scratch[len++] = '"';
	}
	if (scratch_reserve(s, len + 1))
		return -ENOMEM;
	s->scratch[len] = '\0';
	*lenp = len;
	return 0;
}

struct metric_series *metric_series_get(struct metric_family *f,
					const char *const *values)
{
	const struct metric_desc *d = f->desc;
	struct metric_series *m;
	size_t len, nb;
	uint32_t h;

	if (d->nlabels && !values) {
		errno = EINVAL;
		return NULL;
	}
	if (render_labels(f, values, &len)) {
		errno = ENOMEM;
		return NULL;
	}
	h = hash_bytes(f->store->scratch, len, 0);
	for (struct hnode *n = hmap_first(&f->index, h); n; n = hmap_next(n, h)) {
		m = container_of(n, struct metric_series, node);
		if (m->labels_len == len &&
		    !memcmp(m->labels, f->store->scratch, len)) {
			m->stamp = f->stamp;
			return m;
		}
	}

	if (f->nseries >= f->max_series) {
		f->dropped++;
		errno = ENOSPC;
		return NULL;
	}
	if (f->nseries == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		void *p = realloc(f->series, cap * sizeof(*f->series));

		if (!p)
			goto err_nomem;
		f->series = p;
		f->cap = cap;
	}
	nb = d->type == METRIC_HISTOGRAM ? d->nbuckets : 0;
	m = calloc(1, sizeof(*m) + nb * sizeof(uint64_t) + len + 1);
	if (!m)
		goto err_nomem;
	m->labels = (char *)(m->buckets + nb);
	memcpy(m->labels, f->store->scratch, len + 1);
	m->labels_len = len;
	m->stamp = f->stamp;
	m->family = f;
	if (hmap_insert(&f->index, &m->node, h)) {
		free(m);
		goto err_nomem;
	}
	m->index = f->nseries;
	f->series[f->nseries++] = m;
	return m;

err_nomem:
	errno = ENOMEM;
	return NULL;
}

void metric_series_del(struct metric_family *f, struct metric_series *m)
{
	if (!m || m->family != f)
		return;
	hmap_remove(&f->index, &m->node);
	f->series[m->index] = f->series[--f->nseries];
	f->series[m->index]->index = m->index;
	free(m);
}

void metric_family_clear(struct metric_family *f)
{
	for (size_t i = 0; i < f->nseries; i++)
		free(f->series[i]);
	f->nseries = 0;
	hmap_fini(&f->index);
}

void metric_family_sweep_begin(struct metric_family *f)
{
	f->stamp++;
}

void metric_family_sweep_end(struct metric_family *f)
{
	for (size_t i = 0; i < f->nseries;) {
		struct metric_series *m = f->series[i];

		if (m->stamp != f->stamp)
			metric_series_del(f, m);	/* moves the last here */
		else
			i++;
	}
}

void metric_set(struct metric_series *m, double v)
{
	m->value = v;
}

void metric_add(struct metric_series *m, double v)
{
	m->value += v;
}

double metric_get(const struct metric_series *m)
{
	return m->value;
}

void metric_observe(struct metric_series *m, double v)
{
	const struct metric_desc *d = m->family->desc;
	unsigned int lo = 0, hi = d->nbuckets;

	if (d->type != METRIC_HISTOGRAM)
		return;
	/* first bound >= v; NaN lands in +Inf only, as client_golang does */
	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;

		if (v <= d->buckets[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo < d->nbuckets)
		m->buckets[lo]++;
	m->count++;
	m->value += v;
}

static bool is_store_family(const struct metric_store *s,
			    const struct metric_family *f)
{
	return f == s->f_limit || f == s->f_series || f == s->f_dropped;
}

/* Refresh the store's own families about every labelled family. */
static void store_self_update(struct metric_store *s)
{
	for (size_t i = 0; i < s->nfamilies; i++) {
		struct metric_family *f = s->families[i];
		const char *name[1] = { f->desc->name };
		struct metric_series *m;

		if (!f->desc->nlabels || is_store_family(s, f))
			continue;
		m = metric_series_get(s->f_limit, name);
		if (m)
			metric_set(m, f->max_series);
		m = metric_series_get(s->f_series, name);
		if (m)
			metric_set(m, (double)f->nseries);
		m = metric_series_get(s->f_dropped, name);
		if (m)
			metric_set(m, (double)f->dropped);
	}
}

static int snap_series_cmp(const void *a, const void *b)
{
	const struct metric_snap_series *x = a, *y = b;

	return strcmp(x->labels, y->labels);
}

struct metric_snapshot *metric_store_snapshot(struct metric_store *s)
{
	size_t nfam = 0, nser = 0, nbkt = 0, text = 0, size;
	struct metric_snap_family *fams;
	struct metric_snap_series *ser;
	struct metric_snapshot *snap;
	uint64_t *bkt;
	char *txt;

	store_self_update(s);
	for (size_t i = 0; i < s->nfamilies; i++) {
		const struct metric_family *f = s->families[i];

		if (!f->visible || !f->nseries)
			continue;
		nfam++;
		nser += f->nseries;
		if (f->desc->type == METRIC_HISTOGRAM)
			nbkt += f->nseries * f->desc->nbuckets;
		for (size_t j = 0; j < f->nseries; j++)
			text += f->series[j]->labels_len + 1;
	}
	size = sizeof(*snap) + nfam * sizeof(*fams) + nser * sizeof(*ser) +
	       nbkt * sizeof(*bkt) + text;
	snap = malloc(size);
	if (!snap)
		return NULL;
	fams = (struct metric_snap_family *)(snap + 1);
	ser = (struct metric_snap_series *)(fams + nfam);
	bkt = (uint64_t *)(ser + nser);
	txt = (char *)(bkt + nbkt);

	snap->nfamilies = nfam;
	snap->families = fams;
	snap->refs = 1;
	snap->sorted = 0;
	snap->arena = snap;
	/* the store's own families go last, after everything they describe */
	for (size_t k = 0; k < 2 * s->nfamilies; k++) {
		const struct metric_family *f = s->families[k % s->nfamilies];
		struct metric_snap_series *first = ser;
		unsigned int nb = f->desc->type == METRIC_HISTOGRAM ?
				  f->desc->nbuckets : 0;

		if (is_store_family(s, f) != (k >= s->nfamilies))
			continue;
		if (!f->visible || !f->nseries)
			continue;
		for (size_t j = 0; j < f->nseries; j++) {
			const struct metric_series *m = f->series[j];

			memcpy(txt, m->labels, m->labels_len + 1);
			ser->labels = txt;
			txt += m->labels_len + 1;
			ser->value = m->value;
			ser->count = m->count;
			ser->buckets = NULL;
			if (nb) {
				memcpy(bkt, m->buckets, nb * sizeof(*bkt));
				ser->buckets = bkt;
				bkt += nb;
			}
			ser++;
		}
		fams->desc = f->desc;
		fams->le = (const char *const *)f->le;
		fams->nseries = f->nseries;
		fams->series = first;
		fams++;
	}
	return snap;
}

/*
 * Sorting is left to the first reader so the loop thread pays only for the
 * copy: 0 unsorted, 1 being sorted, 2 sorted.
 */
void metric_snapshot_sort(struct metric_snapshot *snap)
{
	int expect = 0;

	if (__atomic_load_n(&snap->sorted, __ATOMIC_ACQUIRE) == 2)
		return;
	if (__atomic_compare_exchange_n(&snap->sorted, &expect, 1, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		for (size_t i = 0; i < snap->nfamilies; i++) {
			struct metric_snap_family *f =
				(struct metric_snap_family *)&snap->families[i];

			qsort((void *)f->series, f->nseries, sizeof(*f->series),
			      snap_series_cmp);
		}
		__atomic_store_n(&snap->sorted, 2, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(&snap->sorted, __ATOMIC_ACQUIRE) != 2)
		sched_yield();
}

struct metric_snapshot *metric_snapshot_ref(struct metric_snapshot *snap)
{
	__atomic_add_fetch(&snap->refs, 1, __ATOMIC_RELAXED);
	return snap;
}

void metric_snapshot_unref(struct metric_snapshot *snap)
{
	if (!snap)
		return;
	if (__atomic_sub_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(snap->arena);
}

void metric_snapshot_init_static(struct metric_snapshot *snap,
				 const struct metric_snap_family *families,
				 size_t nfamilies)
{
	snap->families = families;
	snap->nfamilies = nfamilies;
	snap->refs = 1;
	snap->sorted = 2;
	snap->arena = NULL;
}
