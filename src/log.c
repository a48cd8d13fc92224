// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level log_level = LOG_LVL_INFO;
static enum log_format log_format = LOG_FMT_LOGFMT;

static const char *const level_names[] = {
	[LOG_LVL_DEBUG] = "debug",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_ERROR] = "error",
};

void log_setup(enum log_level level, enum log_format format)
{
	log_level = level;
	log_format = format;
}

bool log_enabled(enum log_level level)
{
	return level >= log_level;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (int i = LOG_LVL_DEBUG; i <= LOG_LVL_ERROR; i++) {
		if (!strcmp(s, level_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_parse_format(const char *s, enum log_format *out)
{
	if (!strcmp(s, "logfmt"))
		*out = LOG_FMT_LOGFMT;
	else if (!strcmp(s, "json"))
		*out = LOG_FMT_JSON;
	else
		return -EINVAL;
	return 0;
}

/* Append @s quoted for the current format; control bytes as escapes. */
static size_t put_quoted(char *out, size_t pos, size_t cap, const char *s)
{
	if (pos < cap)
		out[pos++] = '"';
	for (; *s && pos + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[pos++] = '\\';
			out[pos++] = (char)c;
		} else if (c == '\n') {
			out[pos++] = '\\';
			out[pos++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			pos += (size_t)snprintf(out + pos, cap - pos,
						log_format == LOG_FMT_JSON ?
						"\\u%04x" : "\\x%02x", c);
		} else {
			out[pos++] = (char)c;
		}
	}
	if (pos < cap)
		out[pos++] = '"';
	return pos;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[2048], line[4608], ts[96];
	struct timespec now;
	struct tm tm;
	size_t pos = 0, cap = sizeof(line) - 1;
	va_list ap;
	int saved = errno;
	ssize_t rc;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);

	if (log_format == LOG_FMT_JSON) {
		pos += (size_t)snprintf(line, cap,
					"{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":",
					ts, level_names[level]);
		pos = put_quoted(line, pos, cap - 1, msg);
		line[pos++] = '}';
	} else {
		pos += (size_t)snprintf(line, cap, "ts=%s level=%s msg=", ts,
					level_names[level]);
		pos = put_quoted(line, pos, cap, msg);
	}
	line[pos++] = '\n';
	rc = write(STDERR_FILENO, line, pos);
	(void)rc;
	errno = saved;
}
