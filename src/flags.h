/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command-line flags in node_exporter / kingpin style: --name=value or
 * --name value, booleans as --name / --no-name, repeatable
 * --web.listen-address. Parsing is pure (no I/O besides the error text) so
 * it is unit tested.
 */
#ifndef NFTEXP_FLAGS_H
#define NFTEXP_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "log.h"

#define FLAGS_MAX_LISTEN	16
#define FLAGS_MAX_COLLECTORS	16
#define FLAGS_DEFAULT_LISTEN	":9630"

struct flags {
	const char *listen[FLAGS_MAX_LISTEN];
	size_t nlisten;
	const char *telemetry_path;
	unsigned int max_requests;		/* 0: unlimited */
	bool disable_exporter_metrics;
	bool disable_defaults;
	signed char collector[FLAGS_MAX_COLLECTORS];	/* -1 unset, 0, 1 */
	enum log_level log_level;
	enum log_format log_format;
	const char *netns;
	unsigned int ruleset_rcvbuf;		/* bytes */
	bool ruleset_rule_counters;
	unsigned int ruleset_refresh;		/* seconds */
	unsigned int ruleset_max_elements;
	bool help;
	bool version;
};

/*
 * Parse argv (argv[0] skipped). Strings point into argv. On error returns
 * -EINVAL with a one-line message naming the flag in @err.
 */
int flags_parse(struct flags *f, int argc, char *const *argv, char *err,
		size_t errlen);

/* Whether collector_table[@i] runs, after defaults and explicit flags. */
bool flags_collector_enabled(const struct flags *f, size_t i);

/*
 * Parse a listen address: ":port", "host:port", "[v6]:port". @dual is set
 * for an empty host (all addresses, IPv6 and IPv4). 0 or -EINVAL; host
 * names are resolved (first address).
 */
int flags_parse_listen(const char *s, struct sockaddr_storage *ss,
		       socklen_t *len, bool *dual);

void flags_usage(FILE *out);

#endif
