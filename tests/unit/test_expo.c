// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the exposition writer (exporter/expo.c): escaping, number
 * formatting, golden files in both formats, resumable output under every
 * buffer size, family grouping and histogram invariants, and content
 * negotiation.
 *
 * Usage: test_expo [GOLDEN_DIR]   (default tests/unit/golden)
 * With UPDATE_GOLDEN=1 in the environment the golden files are rewritten
 * instead of compared.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "metrics.h"
#include "unit.h"

static const char *golden_dir = "tests/unit/golden";

/* --- helpers --- */

/* Escape a NUL-terminated label value into a new string. */
static char *esc_label(const char *s)
{
	size_t n = expo_escape_label_value(NULL, 0, s, strlen(s));
	char *d = malloc(n + 1);

	if (!d)
		abort();
	expo_escape_label_value(d, n, s, strlen(s));
	d[n] = '\0';
	return d;
}

static char *esc_help(const char *s, enum expo_format fmt)
{
	size_t n = expo_escape_help(NULL, 0, s, strlen(s), fmt);
	char *d = malloc(n + 1);

	if (!d)
		abort();
	expo_escape_help(d, n, s, strlen(s), fmt);
	d[n] = '\0';
	return d;
}

static bool esc_label_is(const char *in, size_t len, const char *want)
{
	char buf[1024];
	size_t n = expo_escape_label_value(buf, sizeof(buf), in, len);

	if (n != strlen(want) || memcmp(buf, want, n) != 0) {
		fprintf(stderr, "  escape: got %zu [%.*s], want %zu [%s]\n",
			n, (int)(n < sizeof(buf) ? n : sizeof(buf)), buf,
			strlen(want), want);
		return false;
	}
	return true;
}

#define ESC_IS(lit, want) esc_label_is(lit, sizeof(lit) - 1, want)
#define ESC_SAME(lit) ESC_IS(lit, lit)

static bool fmt_is(double v, const char *want)
{
	char buf[64];
	int n = expo_format_double(buf, 32, v);

	if ((size_t)n != strlen(buf) || strcmp(buf, want) != 0) {
		fprintf(stderr, "  format %.17g: got [%s], want [%s]\n", v,
			buf, want);
		return false;
	}
	return true;
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

enum chunk_mode {
	CHUNK_FIXED = 1,
	CHUNK_RANDOM,
	CHUNK_LINES,
};

/*
 * Render @snap in @fmt by repeated expo_read() calls of @size bytes (or
 * random sizes in [1, @size], or @size with stop-each-line). Each call
 * gets a buffer of exactly the size offered, so ASan sees any overrun.
 * Returns a NUL-terminated string to free.
 */
static char *render_mode(struct metric_snapshot *snap,
			 enum expo_format fmt, enum chunk_mode mode,
			 size_t size)
{
	struct expo *w = expo_new(snap, fmt);
	size_t len = 0, cap = 4096, max, n;
	char *out = malloc(cap), *buf;

	if (!w || !out)
		abort();
	expo_set_stop_each_line(w, mode == CHUNK_LINES);
	for (;;) {
		max = mode == CHUNK_RANDOM ? 1 + rng() % size : size;
		buf = malloc(max);
		if (!buf)
			abort();
		n = expo_read(w, buf, max);
		UNIT_CHECK(n <= max);
		if (mode == CHUNK_LINES && n > 0 && n < max)
			UNIT_CHECK(buf[n - 1] == '\n');
		while (len + n + 1 > cap) {
			cap *= 2;
			out = realloc(out, cap);
			if (!out)
				abort();
		}
		memcpy(out + len, buf, n);
		len += n;
		free(buf);
		if (n == 0)
			break;
	}
	/* stays complete */
	buf = malloc(16);
	UNIT_CHECK(expo_read(w, buf, 16) == 0);
	free(buf);
	out[len] = '\0';
	UNIT_CHECK(strlen(out) == len);
	expo_free(w);
	return out;
}

static char *render(struct metric_snapshot *snap, enum expo_format fmt)
{
	return render_mode(snap, fmt, CHUNK_FIXED, 1 << 20);
}

/* --- the golden snapshot --- */

/* kube-proxy's sync_proxy_rules_duration_seconds: 0.001 * 2^k, k=0..14 */
#define KP_NBUCKETS 15
static double kp_bounds[KP_NBUCKETS];
static char kp_le_text[KP_NBUCKETS][32];
static const char *kp_le[KP_NBUCKETS];

static void kp_init(void)
{
	double b = 0.001;
	int k;

	for (k = 0; k < KP_NBUCKETS; k++) {
		kp_bounds[k] = b;
		expo_format_double(kp_le_text[k], 32, b);
		kp_le[k] = kp_le_text[k];
		b *= 2;
	}
}

static const struct metric_desc d_packets = {
	.name = "test_packets",
	.help = "Packets seen per chain, with \"quotes\", a back\\slash\n"
		"and a second line.",
	.type = METRIC_COUNTER,
	.nlabels = 2,
	.labels = { "chain", "table" },
};

static const struct metric_desc d_received = {
	.name = "test_received_bytes",
	.help = "Bytes received.",
	.unit = "bytes",
	.type = METRIC_COUNTER,
};

static const struct metric_desc d_up = {
	.name = "test_up",
	.help = "Whether the test source is up.",
	.type = METRIC_GAUGE,
};

static const struct metric_desc d_empty = {
	.name = "test_empty",
	.help = "A family without series; it must not appear.",
	.type = METRIC_GAUGE,
	.nlabels = 1,
	.labels = { "x" },
};

static const struct metric_desc d_temp = {
	.name = "test_temperature_celsius",
	.help = "Odd gauge values.",
	.unit = "celsius",
	.type = METRIC_GAUGE,
	.nlabels = 1,
	.labels = { "sensor" },
};

static const struct metric_desc d_sync = {
	.name = "test_sync_duration_seconds",
	.help = "Sync latency, kube-proxy buckets.",
	.unit = "seconds",
	.type = METRIC_HISTOGRAM,
	.nlabels = 1,
	.labels = { "op" },
	.nbuckets = KP_NBUCKETS,
	.buckets = kp_bounds,
};

static const struct metric_desc d_rule = {
	.name = "test_rule_sync_seconds",
	.help = "Rule sync latency, no labels.",
	.unit = "seconds",
	.type = METRIC_HISTOGRAM,
	.nbuckets = KP_NBUCKETS,
	.buckets = kp_bounds,
};

/* raw chain label values, escaped and sorted at start-up */
static const char *const packet_chains[] = {
	"in\"put",
	"back\\slash",
	"new\nline",
	"tab\there",
	"\xc3\xbc" "tf8 \xe2\x9c\x93 \xf0\x9f\x98\x80",
	"bad\xff" "byte",
	"",
};

static const double packet_values[] = {
	0, 1234, 1e300, 0.1, 9007199254740991.0, 42, 7,
};

#define NPACKETS (sizeof(packet_chains) / sizeof(packet_chains[0]))

static struct metric_snap_series s_packets[NPACKETS];
static struct metric_snap_series s_received[1] = { { .labels = "",
						     .value = 1e15 } };
static struct metric_snap_series s_up[1] = { { .labels = "", .value = 1 } };
static struct metric_snap_series s_temp[5];

static const uint64_t sync_read_b[KP_NBUCKETS] = {
	1, 0, 3, 5, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1,
};
static const uint64_t sync_write_b[KP_NBUCKETS] = { 0 };
static const uint64_t rule_b[KP_NBUCKETS] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 0, 0, 0,
};
static struct metric_snap_series s_sync[2] = {
	{ .labels = "op=\"read\"", .value = 2.578, .count = 14,
	  .buckets = sync_read_b },
	{ .labels = "op=\"write\"", .value = 0, .count = 0,
	  .buckets = sync_write_b },
};
static struct metric_snap_series s_rule[1] = {
	{ .labels = "", .value = 12.25, .count = 9, .buckets = rule_b },
};

static struct metric_snap_family golden_fams[] = {
	{ .desc = &d_packets, .series = s_packets, .nseries = NPACKETS },
	{ .desc = &d_received, .series = s_received, .nseries = 1 },
	{ .desc = &d_up, .series = s_up, .nseries = 1 },
	{ .desc = &d_empty, .series = NULL, .nseries = 0 },
	{ .desc = &d_temp, .series = s_temp, .nseries = 5 },
	{ .desc = &d_sync, .le = kp_le, .series = s_sync, .nseries = 2 },
	{ .desc = &d_rule, .le = kp_le, .series = s_rule, .nseries = 1 },
};

#define NGOLDEN (sizeof(golden_fams) / sizeof(golden_fams[0]))

static struct metric_snapshot golden;

static int cmp_series(const void *a, const void *b)
{
	const struct metric_snap_series *x = a, *y = b;

	return strcmp(x->labels, y->labels);
}

static char *mk_label_text(const char *n1, const char *v1, const char *n2,
			   const char *v2)
{
	char *e1 = esc_label(v1), *e2 = n2 ? esc_label(v2) : NULL;
	size_t len = strlen(n1) + strlen(e1) + 8 +
		     (n2 ? strlen(n2) + strlen(e2) : 0);
	char *t = malloc(len);

	if (!t)
		abort();
	if (n2)
		snprintf(t, len, "%s=\"%s\",%s=\"%s\"", n1, e1, n2, e2);
	else
		snprintf(t, len, "%s=\"%s\"", n1, e1);
	free(e1);
	free(e2);
	return t;
}

/* Labels built here are leaked on purpose: they live for the whole run. */
static void golden_init(void)
{
	static const char *const sensors[] = { "a", "b", "c", "d", "e" };
	static const double temps[] = { NAN, INFINITY, -INFINITY, -0.5, 1e-9 };
	size_t i;

	kp_init();
	for (i = 0; i < NPACKETS; i++) {
		s_packets[i].labels = mk_label_text("chain", packet_chains[i],
						    "table", "filter");
		s_packets[i].value = packet_values[i];
	}
	qsort(s_packets, NPACKETS, sizeof(s_packets[0]), cmp_series);
	for (i = 0; i < 5; i++) {
		s_temp[i].labels = mk_label_text("sensor", sensors[i], NULL,
						 NULL);
		s_temp[i].value = temps[i];
	}
	metric_snapshot_init_static(&golden, golden_fams, NGOLDEN);
}

/* --- escaping --- */

static void test_escape_special(void)
{
	char buf[16];

	UNIT_CHECK(ESC_IS("a\\b", "a\\\\b"));
	UNIT_CHECK(ESC_IS("say \"hi\"", "say \\\"hi\\\""));
	UNIT_CHECK(ESC_IS("l1\nl2", "l1\\nl2"));
	UNIT_CHECK(ESC_IS("cr\rtab\t", "cr\rtab\t"));
	UNIT_CHECK(ESC_IS("\\\"\n", "\\\\\\\"\\n"));
	UNIT_CHECK(ESC_IS("\\n", "\\\\n"));
	/* NUL is valid UTF-8 and copied like any other byte */
	UNIT_CHECK(expo_escape_label_value(buf, sizeof(buf), "a\0b", 3) == 3);
	UNIT_CHECK(memcmp(buf, "a\0b", 3) == 0);
	UNIT_CHECK(ESC_IS("ASCII_0123 ~!@#$%^&*()", "ASCII_0123 ~!@#$%^&*()"));
}

static void test_escape_utf8(void)
{
	UNIT_CHECK(ESC_SAME("\xc3\xa9")); /* é */
	UNIT_CHECK(ESC_SAME("\xe2\x82\xac")); /* € */
	UNIT_CHECK(ESC_SAME("\xf0\x9f\x98\x80")); /* 😀 */
	UNIT_CHECK(ESC_SAME("\xc2\x80")); /* U+0080 */
	UNIT_CHECK(ESC_SAME("\xed\x9f\xbf")); /* U+D7FF */
	UNIT_CHECK(ESC_SAME("\xee\x80\x80")); /* U+E000 */
	UNIT_CHECK(ESC_SAME("\xef\xbf\xbf")); /* U+FFFF */
	UNIT_CHECK(ESC_SAME("\xf4\x8f\xbf\xbf")); /* max */
	UNIT_CHECK(ESC_IS("\"\xc3\xa9\"", "\\\"\xc3\xa9\\\""));
}

#define R "\xef\xbf\xbd"

/* One U+FFFD per maximal invalid subpart (Unicode §3.9). */
static void test_escape_invalid_utf8(void)
{
	UNIT_CHECK(ESC_IS("\xff", R));
	UNIT_CHECK(ESC_IS("\xfe\xff", R R));
	UNIT_CHECK(ESC_IS("\x80", R));				/* stray */
	UNIT_CHECK(ESC_IS("a\x80\xbf" "b", "a" R R "b"));
	UNIT_CHECK(ESC_IS("\xc0\xaf", R R));			/* overlong / */
	UNIT_CHECK(ESC_IS("\xc1\xbf", R R));
	UNIT_CHECK(ESC_IS("\xe0\x80\xaf", R R R));		/* overlong */
	UNIT_CHECK(ESC_IS("\xf0\x80\x80\xaf", R R R R));	/* overlong */
	UNIT_CHECK(ESC_IS("\xed\xa0\x80", R R R));		/* surrogate */
	UNIT_CHECK(ESC_IS("\xed\xbf\xbf", R R R));
	UNIT_CHECK(ESC_IS("\xf4\x90\x80\x80", R R R R));	/* > 10FFFF */
	UNIT_CHECK(ESC_IS("\xf5\x80\x80\x80", R R R R));
	UNIT_CHECK(ESC_IS("\xe2\x82", R));			/* truncated */
	UNIT_CHECK(ESC_IS("\xe2\x82x", R "x"));
	UNIT_CHECK(ESC_IS("\xf0\x9f\x98", R));
	UNIT_CHECK(ESC_IS("\xf0\x9f\x98" "A", R "A"));
	UNIT_CHECK(ESC_IS("\xc3", R));
	UNIT_CHECK(ESC_IS("\xc3\"", R "\\\""));
	UNIT_CHECK(ESC_IS("\xe2\n", R "\\n"));
	UNIT_CHECK(ESC_IS("\xe2\xe2\x82\xac", R "\xe2\x82\xac"));
	UNIT_CHECK(ESC_IS(R, R));
}

static void test_escape_sizes(void)
{
	char in[257], want[257], buf[16];
	size_t i;

	/* a 256-character value is copied whole */
	for (i = 0; i < 256; i++)
		in[i] = want[i] = (char)('a' + i % 26);
	in[256] = want[256] = '\0';
	UNIT_CHECK(esc_label_is(in, 256, want));

	/* empty string: length 0, nothing written */
	memset(buf, 'Z', sizeof(buf));
	UNIT_CHECK(expo_escape_label_value(buf, sizeof(buf), "", 0) == 0);
	UNIT_CHECK(expo_escape_help(buf, sizeof(buf), "", 0,
				    EXPO_FMT_OPENMETRICS) == 0);
	UNIT_CHECK(buf[0] == 'Z');

	/* truncation: full length returned, never a byte past cap */
	memset(buf, 'Z', sizeof(buf));
	UNIT_CHECK(expo_escape_label_value(buf, 3, "a\"b\"c", 5) == 7);
	UNIT_CHECK(memcmp(buf, "a\\\"Z", 4) == 0);
	memset(buf, 'Z', sizeof(buf));
	UNIT_CHECK(expo_escape_label_value(buf, 2, "\xff", 1) == 3);
	UNIT_CHECK(memcmp(buf, "\xef\xbfZ", 3) == 0);
	UNIT_CHECK(expo_escape_label_value(NULL, 0, "\\\\", 2) == 4);
}

static void test_escape_help(void)
{
	const char *in = "a\\b \"q\"\nnext\ttab";
	char *t = esc_help(in, EXPO_FMT_TEXT);
	char *o = esc_help(in, EXPO_FMT_OPENMETRICS);

	UNIT_CHECK_STR(t, "a\\\\b \"q\"\\nnext\ttab");
	UNIT_CHECK_STR(o, "a\\\\b \\\"q\\\"\\nnext\ttab");
	free(t);
	free(o);
	t = esc_help("bad\xc0", EXPO_FMT_TEXT);
	UNIT_CHECK_STR(t, "bad" R);
	free(t);
}

/* --- numbers --- */

static void test_format_numbers(void)
{
	char buf[32];
	double v;

	UNIT_CHECK(fmt_is(0, "0"));
	UNIT_CHECK(fmt_is(-0.0, "-0"));
	UNIT_CHECK(fmt_is(1, "1"));
	UNIT_CHECK(fmt_is(-1, "-1"));
	UNIT_CHECK(fmt_is(42, "42"));
	UNIT_CHECK(fmt_is(-7, "-7"));
	UNIT_CHECK(fmt_is(0.1, "0.1"));
	UNIT_CHECK(fmt_is(1.5, "1.5"));
	UNIT_CHECK(fmt_is(-0.5, "-0.5"));
	UNIT_CHECK(fmt_is(0.1 + 0.2, "0.30000000000000004"));
	UNIT_CHECK(fmt_is(1e-9, "1e-09"));
	UNIT_CHECK(fmt_is(1e300, "1e+300"));
	UNIT_CHECK(fmt_is(1e15, "1000000000000000"));
	UNIT_CHECK(fmt_is(9007199254740991.0, "9007199254740991"));
	UNIT_CHECK(fmt_is(-9007199254740991.0, "-9007199254740991"));
	UNIT_CHECK(fmt_is(9007199254740992.0, "9007199254740992"));
	UNIT_CHECK(fmt_is(9223372036854775808.0, "9.223372036854776e+18"));
	UNIT_CHECK(fmt_is(NAN, "NaN"));
	UNIT_CHECK(fmt_is(INFINITY, "+Inf"));
	UNIT_CHECK(fmt_is(-INFINITY, "-Inf"));

	/* not exactly representable: must read back to the same double */
	v = 123456789012345678.0;
	expo_format_double(buf, sizeof(buf), v);
	UNIT_CHECK(strtod(buf, NULL) == v);
	UNIT_CHECK_STR(buf, "1.2345678901234568e+17");

	/* extremes round-trip too */
	v = 1.7976931348623157e308;
	expo_format_double(buf, sizeof(buf), v);
	UNIT_CHECK(strtod(buf, NULL) == v);
	v = 4.9406564584124654e-324;
	expo_format_double(buf, sizeof(buf), v);
	UNIT_CHECK(strtod(buf, NULL) == v);
	v = -2.2250738585072014e-308;
	expo_format_double(buf, sizeof(buf), v);
	UNIT_CHECK(strtod(buf, NULL) == v);
	UNIT_CHECK(expo_format_double(buf, sizeof(buf), v) ==
		   (int)strlen(buf));
}

static void test_format_kube_proxy_buckets(void)
{
	static const char *const want[KP_NBUCKETS] = {
		"0.001", "0.002", "0.004", "0.008", "0.016",
		"0.032", "0.064", "0.128", "0.256", "0.512",
		"1.024", "2.048", "4.096", "8.192", "16.384",
	};
	char buf[32];
	double v = 0.001;
	int k;

	for (k = 0; k < KP_NBUCKETS; k++) {
		UNIT_CHECK(fmt_is(v, want[k]));
		UNIT_CHECK(fmt_is(0.001 * (double)(1 << k), want[k]));
		expo_format_double(buf, sizeof(buf), v);
		UNIT_CHECK(strtod(buf, NULL) == v);
		v *= 2;
	}
}

/* --- golden files --- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t len = 0, cap = 4096, n;
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(cap);
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	if (buf)
		buf[len] = '\0';
	return buf;
}

static void check_golden(const char *name, const char *got)
{
	char path[4096];
	const char *upd = getenv("UPDATE_GOLDEN");
	char *want;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", golden_dir, name);
	if (upd && strcmp(upd, "1") == 0) {
		f = fopen(path, "wb");
		UNIT_CHECK(f != NULL);
		if (f) {
			UNIT_CHECK(fwrite(got, 1, strlen(got), f) ==
				   strlen(got));
			UNIT_CHECK(fclose(f) == 0);
		}
		printf("     wrote %s\n", path);
		return;
	}
	want = read_file(path);
	if (!want)
		fprintf(stderr, "  cannot read %s\n", path);
	UNIT_CHECK(want != NULL);
	if (want && strcmp(want, got) != 0) {
		fprintf(stderr, "  %s differs; got:\n%s", path, got);
		UNIT_CHECK(!"golden mismatch");
	}
	free(want);
}

static void test_golden(void)
{
	char *t = render(&golden, EXPO_FMT_TEXT);
	char *o = render(&golden, EXPO_FMT_OPENMETRICS);

	check_golden("basic.prom", t);
	check_golden("basic.om", o);
	UNIT_CHECK(strstr(t, "test_empty") == NULL);
	UNIT_CHECK(strstr(o, "test_empty") == NULL);
	UNIT_CHECK(strstr(t, "# EOF") == NULL);
	UNIT_CHECK(strlen(o) >= 6 && !strcmp(o + strlen(o) - 6, "# EOF\n"));
	free(t);
	free(o);
}

static void test_empty_snapshot(void)
{
	static const struct metric_snap_family only_empty[] = {
		{ .desc = &d_empty, .nseries = 0 },
	};
	struct metric_snapshot snap;
	char *t, *o;

	metric_snapshot_init_static(&snap, NULL, 0);
	t = render(&snap, EXPO_FMT_TEXT);
	o = render(&snap, EXPO_FMT_OPENMETRICS);
	UNIT_CHECK_STR(t, "");
	UNIT_CHECK_STR(o, "# EOF\n");
	free(t);
	free(o);

	metric_snapshot_init_static(&snap, only_empty, 1);
	t = render(&snap, EXPO_FMT_TEXT);
	o = render(&snap, EXPO_FMT_OPENMETRICS);
	UNIT_CHECK_STR(t, "");
	UNIT_CHECK_STR(o, "# EOF\n");
	free(t);
	free(o);
}

/* --- chunking --- */

static void check_chunked(struct metric_snapshot *snap)
{
	static const size_t sizes[] = { 1, 2, 3, 7, 64, 4096 };
	enum expo_format fmts[] = { EXPO_FMT_TEXT, EXPO_FMT_OPENMETRICS };
	char *ref, *got;
	size_t i, f, r;

	for (f = 0; f < 2; f++) {
		ref = render(snap, fmts[f]);
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			got = render_mode(snap, fmts[f], CHUNK_FIXED, sizes[i]);
			UNIT_CHECK_STR(got, ref);
			free(got);
			got = render_mode(snap, fmts[f], CHUNK_LINES, sizes[i]);
			UNIT_CHECK_STR(got, ref);
			free(got);
		}
		got = render_mode(snap, fmts[f], CHUNK_LINES, 1 << 20);
		UNIT_CHECK_STR(got, ref);
		free(got);
		for (r = 0; r < 20; r++) {
			got = render_mode(snap, fmts[f], CHUNK_RANDOM,
					  r < 10 ? 16 : 5000);
			UNIT_CHECK_STR(got, ref);
			free(got);
		}
		free(ref);
	}
}

static void test_chunking(void)
{
	check_chunked(&golden);
}

/* Stop-each-line returns exactly one line per call when room allows. */
static void test_stop_each_line(void)
{
	struct expo *w = expo_new(&golden, EXPO_FMT_OPENMETRICS);
	char buf[8192];
	size_t n, lines = 0;

	UNIT_CHECK(w != NULL);
	expo_set_stop_each_line(w, true);
	while ((n = expo_read(w, buf, sizeof(buf))) > 0) {
		UNIT_CHECK(buf[n - 1] == '\n');
		UNIT_CHECK(memchr(buf, '\n', n) == buf + n - 1);
		lines++;
	}
	UNIT_CHECK(lines > 50);
	expo_free(w);
}

static void test_long_lines(void)
{
	static const struct metric_desc d_long_c = {
		.name = "test_long_total_counter_like",
		.help = "Long labels.",
		.type = METRIC_COUNTER,
		.nlabels = 1,
		.labels = { "v" },
	};
	static const struct metric_desc d_long_h = {
		.name = "test_long_seconds",
		.help = "Long labels, histogram.",
		.type = METRIC_HISTOGRAM,
		.nlabels = 1,
		.labels = { "v" },
		.nbuckets = KP_NBUCKETS,
		.buckets = kp_bounds,
	};
	char name[257], *raw, *lab, *t, *line;
	struct metric_desc d_name = {
		.name = name,
		.help = "A 256-character name.",
		.type = METRIC_GAUGE,
	};
	struct metric_snap_series s_long[2], s_hist[1], s_name[1];
	struct metric_snap_family fams[3];
	struct metric_snapshot snap;
	size_t i, len;

	raw = malloc(10001);
	for (i = 0; i < 10000; i++)
		raw[i] = "ab\"\\\ncd"[i % 7];
	raw[10000] = '\0';
	lab = mk_label_text("v", raw, NULL, NULL);
	UNIT_CHECK(strlen(lab) > 10000);
	s_long[0] = (struct metric_snap_series){ .labels = lab, .value = 1 };
	s_long[1] = (struct metric_snap_series){ .labels = "v=\"short\"",
						 .value = 2 };
	s_hist[0] = (struct metric_snap_series){ .labels = lab, .value = 3,
						 .count = 14,
						 .buckets = sync_read_b };
	memset(name, 'n', 256);
	name[256] = '\0';
	s_name[0] = (struct metric_snap_series){ .labels = "", .value = 5 };
	fams[0] = (struct metric_snap_family){ .desc = &d_long_c,
					       .series = s_long, .nseries = 2 };
	fams[1] = (struct metric_snap_family){ .desc = &d_long_h, .le = kp_le,
					       .series = s_hist, .nseries = 1 };
	fams[2] = (struct metric_snap_family){ .desc = &d_name,
					       .series = s_name, .nseries = 1 };
	metric_snapshot_init_static(&snap, fams, 3);

	check_chunked(&snap);

	t = render(&snap, EXPO_FMT_TEXT);
	len = strlen("test_long_total_counter_like_total{") + strlen(lab) +
	      strlen("} 1\n");
	line = malloc(len + 1);
	snprintf(line, len + 1, "test_long_total_counter_like_total{%s} 1\n",
		 lab);
	UNIT_CHECK(strstr(t, line) != NULL);
	free(line);
	line = malloc(300);
	snprintf(line, 300, "\n%s 5\n", name);
	UNIT_CHECK(strstr(t, line) != NULL);
	snprintf(line, 300, "# TYPE %s gauge\n", name);
	UNIT_CHECK(strstr(t, line) != NULL);
	free(line);
	free(t);
	free(lab);
	free(raw);
}

/* --- structural checker --- */

struct checker {
	enum expo_format fmt;
	char fam[512];		/* current family (TYPE name) */
	char type[64];
	char seen[64][512];	/* families already closed or open */
	size_t nseen;
	char order[64][512];	/* TYPE names in output order */
	size_t norder;
	char hkey[16384];	/* histogram series being checked */
	double last_le;
	uint64_t last_cum, inf;
	bool have_inf;
	bool quiet;		/* self-test: count errors, print nothing */
	int errors;
};

#define CHK(c, cond, line)                                                    \
	do {                                                                  \
		if (!(cond)) {                                                \
			if (!(c)->quiet)                                      \
				fprintf(stderr, "  checker: %s: %.200s\n",   \
					#cond, line);                         \
			(c)->errors++;                                        \
		}                                                             \
	} while (0)

static bool has_suffix(const char *s, size_t n, const char *base,
		       const char *suf)
{
	size_t bl = strlen(base);

	return n == bl + strlen(suf) && !strncmp(s, base, bl) &&
	       !strncmp(s + bl, suf, strlen(suf));
}

static void check_meta(struct checker *c, const char *line)
{
	char kw[8] = "", name[512] = "", rest[64] = "";
	size_t i;

	if (!strcmp(line, "# EOF")) {
		CHK(c, c->fmt == EXPO_FMT_OPENMETRICS, line);
		return;
	}
	CHK(c, sscanf(line, "# %7s %511s %63s", kw, name, rest) >= 2, line);
	if (!strcmp(kw, "TYPE")) {
		for (i = 0; i < c->nseen; i++)
			CHK(c, strcmp(c->seen[i], name) != 0, line);
		/* text: HELP comes first and names the same family */
		if (c->fmt == EXPO_FMT_TEXT)
			CHK(c, !strcmp(c->fam, name), line);
		snprintf(c->fam, sizeof(c->fam), "%s", name);
		snprintf(c->type, sizeof(c->type), "%s", rest);
		snprintf(c->seen[c->nseen++], 512, "%s", name);
		snprintf(c->order[c->norder++], 512, "%s", name);
		c->hkey[0] = '\0';
	} else if (!strcmp(kw, "HELP")) {
		if (c->fmt == EXPO_FMT_TEXT) {
			for (i = 0; i < c->nseen; i++)
				CHK(c, strcmp(c->seen[i], name) != 0, line);
			snprintf(c->fam, sizeof(c->fam), "%s", name);
			c->type[0] = '\0';
		} else {
			CHK(c, !strcmp(c->fam, name), line);
		}
	} else {
		CHK(c, !strcmp(kw, "UNIT") &&
			       c->fmt == EXPO_FMT_OPENMETRICS &&
			       !strcmp(c->fam, name),
		    line);
	}
}

static void check_sample(struct checker *c, const char *line)
{
	const char *sp = strrchr(line, ' '), *br = strchr(line, '{'), *le;
	size_t nl = (size_t)((br && br < sp ? br : sp) - line);
	const char *fam = c->fam;
	char key[16384];
	uint64_t v;

	CHK(c, sp != NULL && c->type[0], line);
	if (!sp || !c->type[0])
		return;
	if (!strcmp(c->type, "counter")) {
		CHK(c, has_suffix(line, nl, fam,
				  c->fmt == EXPO_FMT_TEXT ? "" : "_total"),
		    line);
		return;
	}
	if (!strcmp(c->type, "gauge")) {
		CHK(c, has_suffix(line, nl, fam, ""), line);
		return;
	}
	CHK(c, !strcmp(c->type, "histogram"), line);
	v = strtoull(sp + 1, NULL, 10);
	if (has_suffix(line, nl, fam, "_bucket")) {
		le = strstr(line, "le=\"");
		while (le && strstr(le + 1, "le=\""))
			le = strstr(le + 1, "le=\"");
		CHK(c, le && (le[-1] == '{' || le[-1] == ','), line);
		if (!le)
			return;
		snprintf(key, sizeof(key), "%.*s", (int)(le - line - nl),
			 line + nl);
		if (strcmp(key, c->hkey)) {
			/* a new series starts: the last one was finished */
			CHK(c, !c->hkey[0], line);
			snprintf(c->hkey, sizeof(c->hkey), "%s", key);
			c->last_le = -INFINITY;
			c->last_cum = 0;
			c->have_inf = false;
		}
		CHK(c, strtod(le + 4, NULL) > c->last_le, line);
		CHK(c, v >= c->last_cum, line);
		c->last_le = strtod(le + 4, NULL);
		c->last_cum = v;
		if (!strncmp(le + 4, "+Inf\"", 5)) {
			c->have_inf = true;
			c->inf = v;
		}
	} else if (has_suffix(line, nl, fam, "_sum")) {
		CHK(c, c->have_inf, line);
	} else if (has_suffix(line, nl, fam, "_count")) {
		CHK(c, c->have_inf && v == c->inf, line);
		c->have_inf = false;
		c->hkey[0] = '\0';
	} else {
		CHK(c, !"histogram sample with a foreign name", line);
	}
}

/* Check grouping, ordering and histogram invariants of @text. */
static void check_text(struct checker *c, const char *text)
{
	const char *p = text, *nl;
	char *line;

	while (*p) {
		nl = strchr(p, '\n');
		CHK(c, nl != NULL, p);
		if (!nl)
			break;
		line = strndup(p, (size_t)(nl - p));
		CHK(c, line[0] != '\0', "(empty line)");
		if (line[0] == '#')
			check_meta(c, line);
		else
			check_sample(c, line);
		free(line);
		p = nl + 1;
	}
	CHK(c, !c->hkey[0], "(unfinished histogram)");
}

static void test_structure(void)
{
	static const char *const text_order[] = {
		"test_packets_total", "test_received_bytes_total", "test_up",
		"test_temperature_celsius", "test_sync_duration_seconds",
		"test_rule_sync_seconds",
	};
	static const char *const om_order[] = {
		"test_packets", "test_received_bytes", "test_up",
		"test_temperature_celsius", "test_sync_duration_seconds",
		"test_rule_sync_seconds",
	};
	enum expo_format fmts[] = { EXPO_FMT_TEXT, EXPO_FMT_OPENMETRICS };
	struct checker *c = malloc(sizeof(*c));
	const char *const *order;
	char *t;
	size_t f, i;

	for (f = 0; f < 2; f++) {
		memset(c, 0, sizeof(*c));
		c->fmt = fmts[f];
		order = f ? om_order : text_order;
		t = render(&golden, fmts[f]);
		check_text(c, t);
		UNIT_CHECK(c->errors == 0);
		UNIT_CHECK(c->norder == 6);
		for (i = 0; i < 6 && i < c->norder; i++)
			UNIT_CHECK_STR(c->order[i], order[i]);
		free(t);
	}

	/* the checker itself catches broken input */
	memset(c, 0, sizeof(*c));
	c->fmt = EXPO_FMT_TEXT;
	c->quiet = true;
	check_text(c, "# HELP h_seconds x\n# TYPE h_seconds histogram\n"
		      "h_seconds_bucket{le=\"1\"} 3\n"
		      "h_seconds_bucket{le=\"+Inf\"} 2\n"
		      "h_seconds_sum 1\nh_seconds_count 4\n"
		      "# HELP h_seconds x\n");
	UNIT_CHECK(c->errors >= 3);
	free(c);
}

/* --- negotiation --- */

static void test_negotiate(void)
{
	static const char *const text_cases[] = {
		"", "*/*", "text/html", "text/plain",
		"text/plain;version=0.0.4",
		"text/plain;version=0.0.4,application/openmetrics-text;q=0.1",
		"text/plain;q=0.9,application/openmetrics-text;q=0.9",
		"application/openmetrics-text;version=2.0.0",
		"application/openmetrics-text;q=0",
		"application/openmetrics-text;q=0.000",
		"application/openmetrics-text;q=abc",
		"application/openmetrics-text;q=-1",
		"application/openmetrics-text;q=",
		"application/openmetrics-text;q=.5",
		"application/openmetrics-text;q=1e0",
		"application/openmetrics-textx", "application/openmetrics",
		"text/plain;version=1.0.0;escaping=allow-utf-8",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
		";;;", ",,,", "/", "//", "text/", "/plain", "=;=,=", "q=1",
		";q=1;version=1.0.0", "\xff\xfe\x80", "\"", "\t \t",
		"application/openmetrics-text;version=\"1.0.0",
		"application/openmetrics-text;;version=1.0.0;q=0.5,text/plain;q=0.6",
	};
	static const char *const om_cases[] = {
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
		"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
		"application/openmetrics-text",
		"application/openmetrics-text;version=0.0.1",
		"APPLICATION/OpenMetrics-Text; VERSION=1.0.0",
		" application / openmetrics-text ; q = 0.9 , text/plain;q=0.8",
		"text/plain;q=0.5,application/openmetrics-text;q=0.51",
		"text/plain;version=0.0.5,application/openmetrics-text;q=0.01",
		"application/openmetrics-text;version=\"1.0.0\"",
		"application/openmetrics-text;q=1.5,text/plain",
		"application/openmetrics-text;version=;q=1",
		"text/html,application/openmetrics-text;q=0.2,*/*",
		"application/openmetrics-text;version",
	};
	size_t i, n = 200000;
	char *big;

	UNIT_CHECK(expo_negotiate(NULL) == EXPO_FMT_TEXT);
	for (i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		if (expo_negotiate(text_cases[i]) != EXPO_FMT_TEXT) {
			fprintf(stderr, "  want text: [%s]\n", text_cases[i]);
			UNIT_CHECK(!"negotiate");
		}
	}
	for (i = 0; i < sizeof(om_cases) / sizeof(om_cases[0]); i++) {
		if (expo_negotiate(om_cases[i]) != EXPO_FMT_OPENMETRICS) {
			fprintf(stderr, "  want OM: [%s]\n", om_cases[i]);
			UNIT_CHECK(!"negotiate");
		}
	}

	/* over-long headers are fine, in both directions */
	big = malloc(n + 64);
	for (i = 0; i < n; i++)
		big[i] = "a;,=/ "[i % 6];
	strcpy(big + n, ",application/openmetrics-text");
	UNIT_CHECK(expo_negotiate(big) == EXPO_FMT_OPENMETRICS);
	big[n] = '\0';
	UNIT_CHECK(expo_negotiate(big) == EXPO_FMT_TEXT);
	free(big);
}

static void test_gzip(void)
{
	static const char *const yes[] = {
		"gzip", "GZIP", "x-gzip", "gzip, deflate, br", "deflate,gzip",
		"*", "*;q=0.1", "gzip;q=0.001", "gzip;q=1.0", " gzip ; q=0.5 ",
		"br;q=1.0, gzip;q=0.8, *;q=0.1", "identity, *",
		"gzip;q=0,gzip;q=0.5", "gzip;q",
	};
	static const char *const no[] = {
		"", "identity", "deflate", "br, deflate", "gzip;q=0",
		"gzip;q=0.000", "gzip;q=0.0004", "*, gzip;q=0", "gzip;q=0, *",
		"*;q=0", "identity;q=1, *;q=0", "gzip;q=abc", "gzipx",
		"xgzip", "gz", ";;;", ",,,", "=", "\xff",
	};
	size_t i;

	UNIT_CHECK(!expo_gzip_accepted(NULL));
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!expo_gzip_accepted(yes[i])) {
			fprintf(stderr, "  want gzip: [%s]\n", yes[i]);
			UNIT_CHECK(!"gzip");
		}
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (expo_gzip_accepted(no[i])) {
			fprintf(stderr, "  want no gzip: [%s]\n", no[i]);
			UNIT_CHECK(!"gzip");
		}
	}
}

int main(int argc, char **argv)
{
	if (argc > 1)
		golden_dir = argv[1];
	golden_init();

	UNIT_RUN(test_escape_special);
	UNIT_RUN(test_escape_utf8);
	UNIT_RUN(test_escape_invalid_utf8);
	UNIT_RUN(test_escape_sizes);
	UNIT_RUN(test_escape_help);
	UNIT_RUN(test_format_numbers);
	UNIT_RUN(test_format_kube_proxy_buckets);
	UNIT_RUN(test_golden);
	UNIT_RUN(test_empty_snapshot);
	UNIT_RUN(test_chunking);
	UNIT_RUN(test_stop_each_line);
	UNIT_RUN(test_long_lines);
	UNIT_RUN(test_structure);
	UNIT_RUN(test_negotiate);
	UNIT_RUN(test_gzip);
	UNIT_DONE();
}
