/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal unit-test harness. Each test binary defines test functions, lists
 * them in main() with UNIT_RUN() and ends with UNIT_DONE(), which prints
 * "unit <file>: N passed, N failed" and exits non-zero on any failure.
 * A test fails when any UNIT_CHECK in it fails; every failing check prints
 * its file, line and expression.
 */
#ifndef NFTEXP_UNIT_H
#define NFTEXP_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_passed, unit_failed, unit_cur_failed;

#define UNIT_CHECK(expr)                                                      \
	do {                                                                  \
		if (!(expr)) {                                                \
			fprintf(stderr, "  %s:%d: check failed: %s\n",        \
				__FILE__, __LINE__, #expr);                   \
			unit_cur_failed = 1;                                  \
		}                                                             \
	} while (0)

#define UNIT_CHECK_STR(a, b)                                                  \
	do {                                                                  \
		const char *ua_ = (a), *ub_ = (b);                            \
		if (!ua_ || !ub_ || strcmp(ua_, ub_) != 0) {                  \
			fprintf(stderr,                                       \
				"  %s:%d: %s == %s failed:\n    got  [%s]\n"  \
				"    want [%s]\n",                            \
				__FILE__, __LINE__, #a, #b,                   \
				ua_ ? ua_ : "(null)", ub_ ? ub_ : "(null)");  \
			unit_cur_failed = 1;                                  \
		}                                                             \
	} while (0)

#define UNIT_RUN(fn)                                                          \
	do {                                                                  \
		unit_cur_failed = 0;                                          \
		fn();                                                         \
		if (unit_cur_failed) {                                        \
			unit_failed++;                                        \
			printf("FAIL %s\n", #fn);                             \
		} else {                                                      \
			unit_passed++;                                        \
			printf("ok   %s\n", #fn);                             \
		}                                                             \
	} while (0)

#define UNIT_DONE()                                                           \
	do {                                                                  \
		printf("unit %s: %d passed, %d failed\n", __FILE__,          \
		       unit_passed, unit_failed);                             \
		return unit_failed ? 1 : 0;                                   \
	} while (0)

#endif
