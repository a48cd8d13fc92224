/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging in promslog style: one line per record on stderr, logfmt
 * (ts=... level=... msg="...") or JSON. Safe from any thread: each record is
 * formatted in a local buffer and written with a single write(2).
 */
#ifndef NFTEXP_LOG_H
#define NFTEXP_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_DEBUG = 1,
	LOG_LVL_INFO,
	LOG_LVL_WARN,
	LOG_LVL_ERROR,
};

enum log_format {
	LOG_FMT_LOGFMT = 1,
	LOG_FMT_JSON,
};

void log_setup(enum log_level level, enum log_format format);
bool log_enabled(enum log_level level);
/* Parse "debug|info|warn|error" / "logfmt|json"; 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
int log_parse_format(const char *s, enum log_format *out);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...)	log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
