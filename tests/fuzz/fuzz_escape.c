// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for expo_escape_label_value() and expo_escape_help()
 * (both formats). For every input it aborts unless:
 *  - the return value is the full escaped length, equal for cap 0, for an
 *    exact cap and for a half-size cap (whose bytes are a prefix);
 *  - the output has no raw LF, only the escapes \\ \" \n (\" not in text
 *    HELP), and no raw '"' where it must be escaped;
 *  - the output is valid UTF-8;
 *  - unescaping gives the input back when the input was valid UTF-8, and
 *    contains U+FFFD when it was not.
 * The same bytes are also fed to expo_negotiate() and expo_gzip_accepted()
 * as header values, which must simply not crash or read out of bounds.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -Iexporter
 *        tests/fuzz/fuzz_escape.c exporter/expo.c tests/unit/snapshot_static.c
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum mode {
	MODE_LABEL = 1,
	MODE_HELP_TEXT,
	MODE_HELP_OM,
};

/*
 * Strict UTF-8 check written independently of expo.c: decode each code
 * point, then reject overlong forms, surrogates and values > U+10FFFF.
 */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, k, j;
	uint32_t cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			k = 2;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			k = 3;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			k = 4;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (n - i < k)
			return false;
		for (j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k;
	}
	return true;
}

static bool has_fffd(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i + 3 <= n; i++)
		if (!memcmp(s + i, "\xef\xbf\xbd", 3))
			return true;
	return false;
}

static size_t escape(enum mode m, char *dst, size_t cap, const char *src,
		     size_t len)
{
	switch (m) {
	case MODE_LABEL:
		return expo_escape_label_value(dst, cap, src, len);
	case MODE_HELP_TEXT:
		return expo_escape_help(dst, cap, src, len, EXPO_FMT_TEXT);
	case MODE_HELP_OM:
		return expo_escape_help(dst, cap, src, len,
					EXPO_FMT_OPENMETRICS);
	}
	abort();
}

static void check(enum mode m, const uint8_t *data, size_t size)
{
	const char *src = (const char *)data;
	bool quote = m != MODE_HELP_TEXT;
	size_t n, half, i, ul = 0;
	char *out, *part, *un;

	n = escape(m, NULL, 0, src, size);
	/* exact-size heap buffers: ASan flags any write past cap */
	out = malloc(n ? n : 1);
	part = malloc(n / 2 ? n / 2 : 1);
	un = malloc(n ? n : 1);
	if (!out || !part || !un)
		abort();
	if (escape(m, out, n, src, size) != n)
		abort();
	half = n / 2;
	if (escape(m, part, half, src, size) != n)
		abort();
	if (memcmp(part, out, half) != 0)
		abort();

	if (memchr(out, '\n', n))
		abort();
	if (!utf8_valid((const unsigned char *)out, n))
		abort();
	for (i = 0; i < n; i++) {
		if (out[i] == '\\') {
			if (++i == n)
				abort();
			if (out[i] == '\\')
				un[ul++] = '\\';
			else if (out[i] == 'n')
				un[ul++] = '\n';
			else if (out[i] == '"' && quote)
				un[ul++] = '"';
			else
				abort();
		} else if (out[i] == '"' && quote) {
			abort();
		} else {
			un[ul++] = out[i];
		}
	}
	if (utf8_valid(data, size)) {
		if (ul != size || memcmp(un, data, size) != 0)
			abort();
	} else if (!has_fffd(un, ul)) {
		abort();
	}
	free(un);
	free(part);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum expo_format f;
	char *hdr;

	check(MODE_LABEL, data, size);
	check(MODE_HELP_TEXT, data, size);
	check(MODE_HELP_OM, data, size);

	hdr = malloc(size + 1);
	if (!hdr)
		abort();
	memcpy(hdr, data, size);
	hdr[size] = '\0';
	f = expo_negotiate(hdr);
	if (f != EXPO_FMT_TEXT && f != EXPO_FMT_OPENMETRICS)
		abort();
	(void)expo_gzip_accepted(hdr);
	free(hdr);
	return 0;
}
