/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exposition writer: renders a struct metric_snapshot as Prometheus text
 * 0.0.4 or OpenMetrics 1.0.0, resumably, into caller-supplied buffers of any
 * size (HAProxy promex style cursor), plus the escaping, number formatting
 * and content negotiation helpers it is built on.
 */
#ifndef NFTEXP_EXPO_H
#define NFTEXP_EXPO_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

enum expo_format {
	EXPO_FMT_TEXT = 1,	/* text/plain; version=0.0.4 */
	EXPO_FMT_OPENMETRICS,	/* application/openmetrics-text; 1.0.0 */
};

#define EXPO_CT_TEXT		"text/plain; version=0.0.4; charset=utf-8"
#define EXPO_CT_OPENMETRICS \
	"application/openmetrics-text; version=1.0.0; charset=utf-8"

struct expo;

/*
 * New writer over @snap, whose series it sorts first (once per snapshot,
 * see metric_snapshot_sort()). The caller keeps @snap alive until
 * expo_free(). NULL with errno ENOMEM.
 */
struct expo *expo_new(struct metric_snapshot *snap, enum expo_format fmt);
void expo_free(struct expo *w);

/*
 * Write up to @max (> 0) bytes of the exposition into @buf and return how
 * many were written; 0 means the exposition is complete. Output is
 * byte-identical whatever sequence of @max values is used.
 */
size_t expo_read(struct expo *w, char *buf, size_t max);

/*
 * True when expo_read() ended early because memory ran out: the caller must
 * fail the response rather than serve a truncated exposition.
 */
bool expo_failed(const struct expo *w);

/* Test mode: expo_read() returns after every completed line. */
void expo_set_stop_each_line(struct expo *w, bool on);

/*
 * Escape a label value: '\' -> "\\", '"' -> "\"", LF -> "\n"; every other
 * byte is copied, except that invalid UTF-8 is replaced by U+FFFD. Writes at
 * most @cap bytes (no NUL) and returns the full escaped length, like
 * snprintf, so a caller can size a buffer with a first call (@cap 0).
 */
size_t expo_escape_label_value(char *dst, size_t cap, const char *src,
			       size_t len);

/*
 * Escape HELP text: '\' and LF always, '"' only for OpenMetrics. Same
 * contract as expo_escape_label_value().
 */
size_t expo_escape_help(char *dst, size_t cap, const char *src, size_t len,
			enum expo_format fmt);

/*
 * Format a sample value in the C locale with round-trip precision: "NaN",
 * "+Inf", "-Inf", integers without exponent up to 2^53, else the shortest of
 * %.15g/%.16g/%.17g that reads back exactly. Returns the length written
 * (NUL-terminated); @cap must be >= 32.
 */
int expo_format_double(char *buf, size_t cap, double v);

/*
 * Pick the format from an Accept header (NULL allowed) the way
 * client_golang's expfmt.Negotiate does: entries sorted by q (stable), the
 * first of application/openmetrics-text (version 1.0.0, 0.0.1 or none) or
 * text/plain (version 0.0.4 or none) wins; anything else gives text 0.0.4.
 */
enum expo_format expo_negotiate(const char *accept);

/* True when an Accept-Encoding header (NULL allowed) allows gzip, q > 0. */
bool expo_gzip_accepted(const char *accept_encoding);

#endif
