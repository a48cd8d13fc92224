// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "flags.h"

enum flag_kind {
	FLAG_BOOL = 1,
	FLAG_STRING,
	FLAG_UINT,
	FLAG_LISTEN,
	FLAG_LOG_LEVEL,
	FLAG_LOG_FORMAT,
	FLAG_PATH,
};

struct flag_def {
	const char *name;
	enum flag_kind kind;
	size_t off;
	const char *placeholder;
	const char *help;
};

#define OFF(field) offsetof(struct flags, field)

static const struct flag_def flag_defs[] = {
	{ "web.listen-address", FLAG_LISTEN, OFF(listen), "[HOST]:PORT",
	  "Address to listen on for the web interface and telemetry; repeatable. (default: " FLAGS_DEFAULT_LISTEN ")" },
	{ "web.telemetry-path", FLAG_PATH, OFF(telemetry_path), "PATH",
	  "Path under which to expose metrics. (default: /metrics)" },
	{ "web.max-requests", FLAG_UINT, OFF(max_requests), "N",
	  "Maximum number of parallel scrape requests; 503 beyond it, 0 means no limit. (default: 40)" },
	{ "web.disable-exporter-metrics", FLAG_BOOL, OFF(disable_exporter_metrics), NULL,
	  "Exclude metrics about the exporter itself (process_*)." },
	{ "collector.disable-defaults", FLAG_BOOL, OFF(disable_defaults), NULL,
	  "Set all collectors to disabled by default." },
	{ "log.level", FLAG_LOG_LEVEL, OFF(log_level), "LEVEL",
	  "Only log messages with the given severity or above: debug, info, warn, error. (default: info)" },
	{ "log.format", FLAG_LOG_FORMAT, OFF(log_format), "FORMAT",
	  "Output format of log messages: logfmt, json. (default: logfmt)" },
	{ "netns", FLAG_STRING, OFF(netns), "PATH",
	  "Watch the network namespace at PATH (/proc/PID/ns/net, /run/netns/NAME) instead of our own; the HTTP listener stays where the daemon runs." },
	{ "collector.ruleset.rcvbuf", FLAG_UINT, OFF(ruleset_rcvbuf), "BYTES",
	  "Receive buffer of the nftables event socket; a transaction larger than about 2/3 of it overflows it and forces a resync. (default: 67108864)" },
	{ "collector.ruleset.rule-counters", FLAG_BOOL, OFF(ruleset_rule_counters), NULL,
	  "Export packets/bytes of rules that have a counter and a comment, by comment (dumps those chains at scrape time)." },
	{ "collector.ruleset.refresh-interval", FLAG_UINT, OFF(ruleset_refresh), "SECONDS",
	  "How often to recount sets the packet path fills (dynamic, timeout) and check for changes that send no event; 0 disables. (default: 30)" },
	{ "collector.ruleset.max-elements", FLAG_UINT, OFF(ruleset_max_elements), "N",
	  "Most set elements the mirror keeps in memory; past it a set's size comes from a dump every refresh interval instead of events; 0 means no limit. (default: 2000000)" },
	{ "help", FLAG_BOOL, OFF(help), NULL, "Show this help and exit." },
	{ "version", FLAG_BOOL, OFF(version), NULL, "Show version information and exit." },
};

#define NFLAGS (sizeof(flag_defs) / sizeof(flag_defs[0]))

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int flags_parse_listen(const char *s, struct sockaddr_storage *ss,
		       socklen_t *len, bool *dual)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[256];
	const char *port, *colon;
	unsigned long pn;
	char *end;
	size_t hlen;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hlen = (size_t)(rb - s - 1);
		if (!hlen || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		port = rb + 2;
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hlen);
		port = colon + 1;
	}
	host[hlen] = '\0';
	if (!*port || *port == '-' || *port == '+')
		return -EINVAL;
	errno = 0;
	pn = strtoul(port, &end, 10);
	if (errno || *end || pn == 0 || pn > 65535)
		return -EINVAL;

	*dual = hlen == 0;
	memset(ss, 0, sizeof(*ss));
	if (*dual) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons((uint16_t)pn);
		*len = sizeof(*sin6);
		return 0;
	}
	if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int set_value(struct flags *f, const struct flag_def *d,
		     const char *val, char *err, size_t errlen)
{
	char *base = (char *)f + d->off;
	unsigned long n;
	char *end;

	switch (d->kind) {
	case FLAG_STRING:
		if (!*val)
			return fail(err, errlen, "flag --%s: empty value", d->name);
		*(const char **)base = val;
		return 0;
	case FLAG_PATH:
		if (val[0] != '/' || strpbrk(val, "?# \t\r\n"))
			return fail(err, errlen,
				    "flag --%s: '%s' is not an absolute URL path",
				    d->name, val);
		*(const char **)base = val;
		return 0;
	case FLAG_UINT:
		errno = 0;
		n = strtoul(val, &end, 10);
		if (!*val || *val == '-' || *val == '+' || *end || errno ||
		    n > INT_MAX)
			return fail(err, errlen,
				    "flag --%s: '%s' is not a non-negative integer",
				    d->name, val);
		*(unsigned int *)base = (unsigned int)n;
		return 0;
	case FLAG_LISTEN: {
		struct sockaddr_storage ss;
		socklen_t len;
		bool dual;

		if (flags_parse_listen(val, &ss, &len, &dual))
			return fail(err, errlen,
				    "flag --%s: '%s' is not [HOST]:PORT",
				    d->name, val);
		if (f->nlisten == FLAGS_MAX_LISTEN)
			return fail(err, errlen, "flag --%s: more than %d given",
				    d->name, FLAGS_MAX_LISTEN);
		f->listen[f->nlisten++] = val;
		return 0;
	}
	case FLAG_LOG_LEVEL:
		if (log_parse_level(val, (enum log_level *)base))
			return fail(err, errlen,
				    "flag --%s: '%s' is not one of debug, info, warn, error",
				    d->name, val);
		return 0;
	case FLAG_LOG_FORMAT:
		if (log_parse_format(val, (enum log_format *)base))
			return fail(err, errlen,
				    "flag --%s: '%s' is not one of logfmt, json",
				    d->name, val);
		return 0;
	case FLAG_BOOL:
		break;
	}
	return fail(err, errlen, "flag --%s: internal error", d->name);
}

static int parse_bool(const char *val, bool *out)
{
	if (!strcmp(val, "true") || !strcmp(val, "1"))
		*out = true;
	else if (!strcmp(val, "false") || !strcmp(val, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int collector_index(const char *name, size_t len)
{
	for (size_t i = 0; i < collector_count; i++)
		if (strlen(collector_table[i]->name) == len &&
		    !strncmp(collector_table[i]->name, name, len))
			return (int)i;
	return -1;
}

int flags_parse(struct flags *f, int argc, char *const *argv, char *err,
		size_t errlen)
{
	memset(f, 0, sizeof(*f));
	f->telemetry_path = "/metrics";
	f->max_requests = 40;
	f->log_level = LOG_LVL_INFO;
	f->log_format = LOG_FMT_LOGFMT;
	f->ruleset_rcvbuf = 64u << 20;
	f->ruleset_refresh = 30;
	f->ruleset_max_elements = 2000000;
	memset(f->collector, -1, sizeof(f->collector));
	bool seen[NFLAGS] = { false };

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *name, *eq, *val = NULL;
		const struct flag_def *d = NULL;
		bool neg = false, b;
		size_t nlen;
		int ci;

		if (!strcmp(arg, "-h")) {
			f->help = true;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0 || !arg[2])
			return fail(err, errlen,
				    "unexpected argument '%s' (flags start with --)",
				    arg);
		name = arg + 2;
		eq = strchr(name, '=');
		nlen = eq ? (size_t)(eq - name) : strlen(name);
		if (eq)
			val = eq + 1;

		for (size_t k = 0; k < NFLAGS && !d; k++)
			if (strlen(flag_defs[k].name) == nlen &&
			    !strncmp(flag_defs[k].name, name, nlen))
				d = &flag_defs[k];
		if (!d && nlen > 3 && !strncmp(name, "no-", 3)) {
			for (size_t k = 0; k < NFLAGS && !d; k++)
				if (flag_defs[k].kind == FLAG_BOOL &&
				    strlen(flag_defs[k].name) == nlen - 3 &&
				    !strncmp(flag_defs[k].name, name + 3, nlen - 3))
					d = &flag_defs[k];
			neg = d != NULL;
		}
		if (d && d->kind != FLAG_LISTEN) {
			if (seen[d - flag_defs])
				return fail(err, errlen,
					    "flag --%s cannot be repeated",
					    d->name);
			seen[d - flag_defs] = true;
		}
		if (d && d->kind == FLAG_BOOL) {
			if (neg && val)
				return fail(err, errlen,
					    "flag --%.*s takes no value", (int)nlen,
					    name);
			b = !neg;
			if (val && parse_bool(val, &b))
				return fail(err, errlen,
					    "flag --%s: '%s' is not true or false",
					    d->name, val);
			*(bool *)((char *)f + d->off) = b;
			continue;
		}
		if (d) {
			if (!val) {
				if (i + 1 >= argc)
					return fail(err, errlen,
						    "flag --%s needs a value",
						    d->name);
				val = argv[++i];
			}
			if (set_value(f, d, val, err, errlen))
				return -EINVAL;
			continue;
		}

		/* --collector.NAME / --no-collector.NAME */
		if (!strncmp(name, "no-", 3)) {
			neg = true;
			name += 3;
			nlen -= 3;
		}
		if (nlen > 10 && !strncmp(name, "collector.", 10)) {
			ci = collector_index(name + 10, nlen - 10);
			if (ci >= 0) {
				b = !neg;
				if (val && (neg || parse_bool(val, &b)))
					return fail(err, errlen,
						    "flag --%s%.*s: bad value '%s'",
						    neg ? "no-" : "", (int)nlen,
						    name, val);
				f->collector[ci] = b;
				continue;
			}
		}
		return fail(err, errlen, "unknown flag --%s%.*s, try --help",
			    neg ? "no-" : "", (int)nlen, name);
	}
	if (!f->nlisten)
		f->listen[f->nlisten++] = FLAGS_DEFAULT_LISTEN;
	return 0;
}

bool flags_collector_enabled(const struct flags *f, size_t i)
{
	if (i >= collector_count || i >= FLAGS_MAX_COLLECTORS)
		return false;
	if (f->collector[i] >= 0)
		return f->collector[i] == 1;
	return !f->disable_defaults && collector_table[i]->default_enabled;
}

void flags_usage(FILE *out)
{
	fprintf(out, "usage: nftables_exporter [<flags>]\n\n"
		"Prometheus exporter for the Linux nftables dataplane "
		"(ruleset, conntrack, kube-proxy Services).\n\nFlags:\n");
	for (size_t i = 0; i < NFLAGS; i++) {
		const struct flag_def *d = &flag_defs[i];
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", d->name,
			 d->placeholder ? "=" : "",
			 d->placeholder ? d->placeholder : "");
		fprintf(out, "  %-36s %s\n", left, d->help);
	}
	fprintf(out, "  %-36s %s\n", "-h", "Same as --help.");
	for (size_t i = 0; i < collector_count; i++) {
		char left[64];

		snprintf(left, sizeof(left), "--[no-]collector.%s",
			 collector_table[i]->name);
		fprintf(out, "  %-36s Enable the %s collector: %s. (default: %s)\n",
			left, collector_table[i]->name,
			collector_table[i]->help,
			collector_table[i]->default_enabled ? "enabled" :
							      "disabled");
	}
}
