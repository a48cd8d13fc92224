// SPDX-License-Identifier: Apache-2.0
/*
 * Exposition writer: Prometheus text 0.0.4 and OpenMetrics 1.0.0 from an
 * immutable struct metric_snapshot.
 *
 * expo_read() is a resumable state machine in the manner of HAProxy promex:
 * a cursor (family, series, stage, bucket) says which line comes next; that
 * line is formatted whole into a private line buffer, then copied out in
 * pieces of whatever size the caller offers. The part that did not fit stays
 * in the line buffer for the next call, so output never depends on the
 * sequence of buffer sizes. The line buffer is sized in expo_new() for the
 * longest line of the snapshot, so expo_read() does not allocate.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"

/* Room for any value expo_format_double() or PRIu64 produces, with NUL. */
#define EXPO_NUM_MAX	32

enum expo_stage {
	EXPO_ST_FAMILY = 1,	/* pick the next non-empty family */
	EXPO_ST_HELP,
	EXPO_ST_TYPE,
	EXPO_ST_UNIT,
	EXPO_ST_SERIES,		/* next series, or next family when done */
	EXPO_ST_BUCKET,		/* histogram: bucket @bkt, then +Inf */
	EXPO_ST_SUM,
	EXPO_ST_COUNT,
	EXPO_ST_EOF,
	EXPO_ST_DONE,
};

struct expo {
	const struct metric_snapshot *snap;
	enum expo_format fmt;
	bool stop_each_line;
	bool oom;		/* a line could not be formatted */

	/* cursor: names the line after the one in @line */
	enum expo_stage st;
	size_t fam;
	size_t ser;
	unsigned int bkt;
	uint64_t cum;		/* cumulative count up to @bkt */

	/* current line; bytes [off, len) are still to be copied out */
	char *line;
	size_t cap;
	size_t len;
	size_t off;
};

/* --- escaping --- */

/*
 * Length of the UTF-8 sequence at @s (@len > 0 bytes available) whose first
 * byte is >= 0x80. Sets *@valid; when invalid, the length returned is that
 * of the maximal subpart (Unicode 15 §3.9, "U+FFFD Substitution of Maximal
 * Subparts"): the longest prefix of a well-formed sequence, at least 1.
 */
static size_t utf8_seq(const unsigned char *s, size_t len, bool *valid)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* > U+10FFFF */
	} else {
		*valid = false;
		return 1;
	}
	for (i = 1; i < need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*valid = false;
			return i;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	*valid = true;
	return need;
}

static void out_bytes(char *dst, size_t cap, size_t *n, const void *p,
		      size_t k)
{
	if (dst && *n < cap)
		memcpy(dst + *n, p, cap - *n < k ? cap - *n : k);
	*n += k;
}

/*
 * Shared body of the two escape functions: '\' and LF always, '"' when
 * @quote; invalid UTF-8 becomes U+FFFD, one per maximal invalid subpart
 * (so "\xe2\x82" is one U+FFFD, "\xc0\xaf" is two). snprintf-like contract.
 */
static size_t escape(char *dst, size_t cap, const char *src, size_t len,
		     bool quote)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, n = 0, k;
	bool valid;

	while (i < len) {
		unsigned char c = s[i];

		if (c == '\\') {
			out_bytes(dst, cap, &n, "\\\\", 2);
			i++;
		} else if (c == '\n') {
			out_bytes(dst, cap, &n, "\\n", 2);
			i++;
		} else if (c == '"' && quote) {
			out_bytes(dst, cap, &n, "\\\"", 2);
			i++;
		} else if (c < 0x80) {
			out_bytes(dst, cap, &n, &s[i], 1);
			i++;
		} else {
			k = utf8_seq(s + i, len - i, &valid);
			if (valid)
				out_bytes(dst, cap, &n, &s[i], k);
			else
				out_bytes(dst, cap, &n, fffd, 3);
			i += k;
		}
	}
	return n;
}

size_t expo_escape_label_value(char *dst, size_t cap, const char *src,
			       size_t len)
{
	return escape(dst, cap, src, len, true);
}

size_t expo_escape_help(char *dst, size_t cap, const char *src, size_t len,
			enum expo_format fmt)
{
	return escape(dst, cap, src, len, fmt == EXPO_FMT_OPENMETRICS);
}

/* --- numbers --- */

/*
 * Integral values in (-2^53, 2^53) print as integers (exact in a double);
 * others take the shortest of %.15g/%.16g/%.17g that strtod reads back
 * bit-exactly (%.17g always does). The process stays in the C locale, so
 * snprintf and strtod use '.'.
 */
int expo_format_double(char *buf, size_t cap, double v)
{
	char tmp[EXPO_NUM_MAX];
	const char *s = tmp;
	size_t n;
	int prec;

	if (isnan(v)) {
		s = "NaN";
	} else if (isinf(v)) {
		s = v > 0 ? "+Inf" : "-Inf";
	} else if (v == 0) {
		s = signbit(v) ? "-0" : "0";
	} else if (v > -9007199254740992.0 && v < 9007199254740992.0 &&
		   (double)(int64_t)v == v) {
		snprintf(tmp, sizeof(tmp), "%" PRId64, (int64_t)v);
	} else {
		for (prec = 15; prec <= 17; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
			if (strtod(tmp, NULL) == v)
				break;
		}
	}
	n = strlen(s);
	if (cap == 0)
		return 0;
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return (int)n;
}

bool expo_failed(const struct expo *w)
{
	return w->oom;
}

/* --- line buffer --- */

/* Make room for @extra more bytes in the line; sets w->oom on failure. */
static bool line_reserve(struct expo *w, size_t extra)
{
	size_t ncap;
	char *p;

	if (w->oom)
		return false;
	if (extra <= w->cap - w->len)
		return true;
	if (extra > SIZE_MAX / 2 - w->len) {
		w->oom = true;
		return false;
	}
	ncap = w->cap ? w->cap : 256;
	while (ncap - w->len < extra)
		ncap *= 2;
	p = realloc(w->line, ncap);
	if (!p) {
		w->oom = true;
		return false;
	}
	w->line = p;
	w->cap = ncap;
	return true;
}

static void line_putn(struct expo *w, const char *s, size_t n)
{
	if (line_reserve(w, n)) {
		memcpy(w->line + w->len, s, n);
		w->len += n;
	}
}

static void line_puts(struct expo *w, const char *s)
{
	line_putn(w, s, strlen(s));
}

static void line_put_double(struct expo *w, double v)
{
	if (line_reserve(w, EXPO_NUM_MAX))
		w->len += (size_t)expo_format_double(w->line + w->len,
						     EXPO_NUM_MAX, v);
}

static void line_put_u64(struct expo *w, uint64_t v)
{
	char tmp[EXPO_NUM_MAX];

	snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	line_puts(w, tmp);
}

static bool fam_is_counter(const struct metric_snap_family *f)
{
	return f->desc->type == METRIC_COUNTER;
}

static const char *type_name(enum metric_type t)
{
	switch (t) {
	case METRIC_COUNTER:
		return "counter";
	case METRIC_GAUGE:
		return "gauge";
	case METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

/*
 * "# <kw> <name> " where <name> carries "_total" for text 0.0.4 counters
 * only: 0.0.4 metadata names the sample, OpenMetrics names the family.
 */
static void put_meta(struct expo *w, const struct metric_snap_family *f,
		     const char *kw)
{
	line_puts(w, "# ");
	line_puts(w, kw);
	line_puts(w, " ");
	line_puts(w, f->desc->name);
	if (w->fmt == EXPO_FMT_TEXT && fam_is_counter(f))
		line_puts(w, "_total");
	line_puts(w, " ");
}

static void put_help(struct expo *w, const struct metric_snap_family *f)
{
	const char *help = f->desc->help ? f->desc->help : "";
	size_t hl = strlen(help), n;

	put_meta(w, f, "HELP");
	n = expo_escape_help(NULL, 0, help, hl, w->fmt);
	if (line_reserve(w, n + 1)) {
		w->len += expo_escape_help(w->line + w->len, n, help, hl,
					   w->fmt);
		w->line[w->len++] = '\n';
	}
}

/*
 * "<name><suffix>{<labels>,le="<le>"} " with the braces left out when
 * there is neither label text nor @le.
 */
static void put_sample_name(struct expo *w, const struct metric_snap_family *f,
			    const char *suffix, const char *labels,
			    const char *le)
{
	if (!labels)
		labels = "";
	line_puts(w, f->desc->name);
	line_puts(w, suffix);
	if (*labels || le) {
		line_puts(w, "{");
		line_puts(w, labels);
		if (le) {
			if (*labels)
				line_puts(w, ",");
			line_puts(w, "le=\"");
			line_puts(w, le);
			line_puts(w, "\"");
		}
		line_puts(w, "}");
	}
	line_puts(w, " ");
}

/* The bucket bound text: the snapshot's string, or formatted if absent. */
static const char *bucket_le(const struct metric_snap_family *f,
			     unsigned int i, char *tmp)
{
	if (f->le && f->le[i])
		return f->le[i];
	expo_format_double(tmp, EXPO_NUM_MAX, f->desc->buckets[i]);
	return tmp;
}

/*
 * Format the line at the cursor into w->line and advance the cursor past
 * it. Returns false when the exposition is complete (or w->oom). Every
 * stage either emits exactly one line and returns, or moves the cursor
 * without output and loops; no path returns without advancing.
 */
static bool next_line(struct expo *w)
{
	const struct metric_snap_family *f = NULL;
	const struct metric_snap_series *s;
	char le[EXPO_NUM_MAX];
	bool om = w->fmt == EXPO_FMT_OPENMETRICS;

	w->len = 0;
	w->off = 0;
	for (;;) {
		if (w->fam < w->snap->nfamilies)
			f = &w->snap->families[w->fam];
		switch (w->st) {
		case EXPO_ST_FAMILY:
			if (w->fam >= w->snap->nfamilies) {
				w->st = om ? EXPO_ST_EOF : EXPO_ST_DONE;
				continue;
			}
			if (f->nseries == 0) {
				w->fam++;
				continue;
			}
			w->ser = 0;
			w->st = om ? EXPO_ST_TYPE : EXPO_ST_HELP;
			continue;
		case EXPO_ST_HELP:
			put_help(w, f);
			w->st = om ? EXPO_ST_SERIES : EXPO_ST_TYPE;
			break;
		case EXPO_ST_TYPE:
			put_meta(w, f, "TYPE");
			line_puts(w, type_name(f->desc->type));
			line_puts(w, "\n");
			if (!om)
				w->st = EXPO_ST_SERIES;
			else if (f->desc->unit && *f->desc->unit)
				w->st = EXPO_ST_UNIT;
			else
				w->st = EXPO_ST_HELP;
			break;
		case EXPO_ST_UNIT:
			put_meta(w, f, "UNIT");
			line_puts(w, f->desc->unit);
			line_puts(w, "\n");
			w->st = EXPO_ST_HELP;
			break;
		case EXPO_ST_SERIES:
			if (w->ser >= f->nseries) {
				w->fam++;
				w->st = EXPO_ST_FAMILY;
				continue;
			}
			if (f->desc->type == METRIC_HISTOGRAM) {
				w->bkt = 0;
				w->cum = 0;
				w->st = EXPO_ST_BUCKET;
				continue;
			}
			s = &f->series[w->ser];
			put_sample_name(w, f, fam_is_counter(f) ? "_total" : "",
					s->labels, NULL);
			line_put_double(w, s->value);
			line_puts(w, "\n");
			w->ser++;
			break;
		case EXPO_ST_BUCKET:
			s = &f->series[w->ser];
			if (w->bkt < f->desc->nbuckets) {
				w->cum += s->buckets ? s->buckets[w->bkt] : 0;
				put_sample_name(w, f, "_bucket", s->labels,
						bucket_le(f, w->bkt, le));
				line_put_u64(w, w->cum);
				w->bkt++;
			} else {
				put_sample_name(w, f, "_bucket", s->labels,
						"+Inf");
				line_put_u64(w, s->count);
				w->st = EXPO_ST_SUM;
			}
			line_puts(w, "\n");
			break;
		case EXPO_ST_SUM:
			s = &f->series[w->ser];
			put_sample_name(w, f, "_sum", s->labels, NULL);
			line_put_double(w, s->value);
			line_puts(w, "\n");
			w->st = EXPO_ST_COUNT;
			break;
		case EXPO_ST_COUNT:
			s = &f->series[w->ser];
			put_sample_name(w, f, "_count", s->labels, NULL);
			line_put_u64(w, s->count);
			line_puts(w, "\n");
			w->ser++;
			w->st = EXPO_ST_SERIES;
			break;
		case EXPO_ST_EOF:
			line_puts(w, "# EOF\n");
			w->st = EXPO_ST_DONE;
			break;
		case EXPO_ST_DONE:
			return false;
		}
		if (w->oom) {
			/* cannot happen after expo_new() sized the buffer */
			w->len = 0;
			w->st = EXPO_ST_DONE;
			return false;
		}
		return true;
	}
}

/* Upper bound of the longest line @snap renders to in @fmt. */
static size_t max_line_len(const struct metric_snapshot *snap,
			   enum expo_format fmt)
{
	size_t max = 64, fi, si, nl, lemax, l;
	unsigned int bi;

	for (fi = 0; fi < snap->nfamilies; fi++) {
		const struct metric_snap_family *f = &snap->families[fi];
		const struct metric_desc *d = f->desc;
		const char *help = d->help ? d->help : "";

		if (f->nseries == 0)
			continue;
		nl = strlen(d->name);
		/* "# HELP " name "_total" " " help "\n", or TYPE/UNIT */
		l = nl + 32 +
		    expo_escape_help(NULL, 0, help, strlen(help), fmt);
		if (d->unit)
			l += strlen(d->unit);
		max = l > max ? l : max;
		lemax = 0;
		if (d->type == METRIC_HISTOGRAM) {
			lemax = 4;	/* "+Inf" */
			for (bi = 0; bi < d->nbuckets; bi++) {
				l = f->le && f->le[bi] ? strlen(f->le[bi]) :
							 EXPO_NUM_MAX;
				lemax = l > lemax ? l : lemax;
			}
		}
		/* name "_bucket{" labels ",le=\"" le "\"} " value "\n" */
		for (si = 0; si < f->nseries; si++) {
			const char *lab = f->series[si].labels;

			l = nl + lemax + 20 + EXPO_NUM_MAX;
			l += lab ? strlen(lab) : 0;
			max = l > max ? l : max;
		}
	}
	return max;
}

struct expo *expo_new(struct metric_snapshot *snap, enum expo_format fmt)
{
	struct expo *w;

	metric_snapshot_sort(snap);
	w = calloc(1, sizeof(*w));
	if (!w)
		goto err_alloc;
	w->snap = snap;
	w->fmt = fmt == EXPO_FMT_OPENMETRICS ? fmt : EXPO_FMT_TEXT;
	w->st = EXPO_ST_FAMILY;
	if (!line_reserve(w, max_line_len(snap, w->fmt)))
		goto err_line;
	return w;

err_line:
	free(w);
err_alloc:
	errno = ENOMEM;
	return NULL;
}

void expo_free(struct expo *w)
{
	if (!w)
		return;
	free(w->line);
	free(w);
}

void expo_set_stop_each_line(struct expo *w, bool on)
{
	w->stop_each_line = on;
}

size_t expo_read(struct expo *w, char *buf, size_t max)
{
	size_t n = 0, k;

	while (n < max) {
		if (w->off == w->len && !next_line(w))
			break;
		k = w->len - w->off;
		if (k > max - n)
			k = max - n;
		memcpy(buf + n, w->line + w->off, k);
		w->off += k;
		n += k;
		if (w->stop_each_line && w->off == w->len)
			break;
	}
	return n;
}

/* --- HTTP header parsing --- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Shrink [*s, *e) to drop blanks at both ends. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

/* ASCII case-insensitive comparison of [s, e) with the whole of @lit. */
static bool tok_eq(const char *s, const char *e, const char *lit)
{
	for (; s < e && *lit; s++, lit++) {
		char a = *s, b = *lit;

		if (a >= 'A' && a <= 'Z')
			a += 'a' - 'A';
		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		if (a != b)
			return false;
	}
	return s == e && !*lit;
}

/* First occurrence of @c in [s, e), or @e. */
static const char *find(const char *s, const char *e, char c)
{
	while (s < e && *s != c)
		s++;
	return s;
}

/*
 * Find parameter @name (case-insensitive) among ";name=value" segments in
 * [s, e); the last one wins. The value is trimmed and unquoted (no
 * backslash escapes). Returns false when absent.
 */
static bool param_get(const char *s, const char *e, const char *name,
		      const char **vs, const char **ve)
{
	bool found = false;
	const char *seg, *segend, *eq, *ns, *ne;

	for (seg = s; seg < e; seg = segend + 1) {
		segend = find(seg, e, ';');
		eq = find(seg, segend, '=');
		ns = seg;
		ne = eq;
		trim(&ns, &ne);
		if (eq == segend || !tok_eq(ns, ne, name))
			continue;
		*vs = eq + 1;
		*ve = segend;
		trim(vs, ve);
		if (*ve - *vs >= 2 && **vs == '"' && (*ve)[-1] == '"') {
			(*vs)++;
			(*ve)--;
		}
		found = true;
	}
	return found;
}

/*
 * q-value in thousandths. RFC 9110 allows "0[.ddd]" or "1[.000]"; we take
 * any "digits[.digits]" and clamp above 1. Anything else (empty, sign,
 * exponent, junk) counts as 0, i.e. not acceptable, as client_golang's
 * failed ParseFloat does.
 */
static int parse_q(const char *s, const char *e)
{
	int ip = 0, frac = 0, scale = 100;

	if (s == e || *s < '0' || *s > '9')
		return 0;
	for (; s < e && *s >= '0' && *s <= '9'; s++)
		ip = ip < 10 ? ip * 10 + (*s - '0') : ip;
	if (s < e && *s == '.') {
		for (s++; s < e && *s >= '0' && *s <= '9'; s++) {
			frac += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (s != e)
		return 0;
	return ip >= 1 ? 1000 : frac;
}

/* q of the entry's parameters [s, e); 1000 when there is no q. */
static int entry_q(const char *s, const char *e)
{
	const char *vs, *ve;

	return param_get(s, e, "q", &vs, &ve) ? parse_q(vs, ve) : 1000;
}

/*
 * Which format one Accept entry [s, e) selects, 0 for none. Versions follow
 * client_golang: absent or empty matches too.
 */
static int accept_entry_format(const char *s, const char *e)
{
	const char *me = find(s, e, ';'), *slash, *ts, *te, *vs, *ve;
	bool has_ver;

	slash = find(s, me, '/');
	if (slash == me)
		return 0;
	has_ver = param_get(me, e, "version", &vs, &ve) && vs < ve;
	ts = s;
	te = slash;
	trim(&ts, &te);
	if (tok_eq(ts, te, "application")) {
		ts = slash + 1;
		te = me;
		trim(&ts, &te);
		if (tok_eq(ts, te, "openmetrics-text") &&
		    (!has_ver || tok_eq(vs, ve, "1.0.0") ||
		     tok_eq(vs, ve, "0.0.1")))
			return EXPO_FMT_OPENMETRICS;
	} else if (tok_eq(ts, te, "text")) {
		ts = slash + 1;
		te = me;
		trim(&ts, &te);
		if (tok_eq(ts, te, "plain") &&
		    (!has_ver || tok_eq(vs, ve, "0.0.4")))
			return EXPO_FMT_TEXT;
	}
	return 0;
}

/*
 * Equivalent to a stable sort by q followed by a first-match scan: the
 * matching entry with the highest q wins, the earliest on ties. Entries
 * with q = 0 are "not acceptable" (RFC 9110) and never win, unlike in
 * client_golang; as the fallback is text anyway this only matters for
 * "application/openmetrics-text;q=0". A comma inside a quoted parameter
 * value splits the entry; such headers are not worth a full parser.
 */
enum expo_format expo_negotiate(const char *accept)
{
	enum expo_format best = EXPO_FMT_TEXT;
	const char *s, *e, *end;
	int best_q = 0, q, fmt;

	if (!accept)
		return best;
	end = accept + strlen(accept);
	for (s = accept; s < end; s = e + 1) {
		e = find(s, end, ',');
		fmt = accept_entry_format(s, e);
		if (!fmt)
			continue;
		q = entry_q(find(s, e, ';'), e);
		if (q > best_q) {
			best_q = q;
			best = (enum expo_format)fmt;
		}
	}
	return best;
}

/*
 * An explicit "gzip" (or its alias "x-gzip") decides by its q (the highest
 * if listed more than once); otherwise "*" with q > 0 allows it. NULL (no
 * header), "" and "identity" refuse: compressing is never required.
 */
bool expo_gzip_accepted(const char *accept_encoding)
{
	const char *s, *e, *end, *cs, *ce;
	int gzip_q = -1, star_q = -1, q;

	if (!accept_encoding)
		return false;
	end = accept_encoding + strlen(accept_encoding);
	for (s = accept_encoding; s < end; s = e + 1) {
		e = find(s, end, ',');
		cs = s;
		ce = find(s, e, ';');
		q = entry_q(ce, e);
		trim(&cs, &ce);
		if (tok_eq(cs, ce, "gzip") || tok_eq(cs, ce, "x-gzip"))
			gzip_q = q > gzip_q ? q : gzip_q;
		else if (tok_eq(cs, ce, "*"))
			star_q = q > star_q ? q : star_q;
	}
	if (gzip_q >= 0)
		return gzip_q > 0;
	return star_q > 0;
}
