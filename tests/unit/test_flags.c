// SPDX-License-Identifier: Apache-2.0
/* Flag parsing: defaults, both value forms, negation, collectors, errors. */
#include <errno.h>
#include <netinet/in.h>

#include "collector.h"
#include "flags.h"
#include "unit.h"

static char err[512];

static int parse(struct flags *f, const char *const *args)
{
	char *argv[32];
	int argc = 0;

	argv[argc++] = (char *)"nftables_exporter";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	err[0] = '\0';
	return flags_parse(f, argc, argv, err, sizeof(err));
}

static void test_defaults(void)
{
	struct flags f;
	const char *a[] = { NULL };

	UNIT_CHECK(parse(&f, a) == 0);
	UNIT_CHECK(f.nlisten == 1);
	UNIT_CHECK_STR(f.listen[0], ":9630");
	UNIT_CHECK_STR(f.telemetry_path, "/metrics");
	UNIT_CHECK(f.max_requests == 40);
	UNIT_CHECK(!f.disable_exporter_metrics);
	UNIT_CHECK(f.log_level == LOG_LVL_INFO);
	UNIT_CHECK(f.log_format == LOG_FMT_LOGFMT);
	UNIT_CHECK(f.netns == NULL);
	for (size_t i = 0; i < collector_count; i++)
		UNIT_CHECK(flags_collector_enabled(&f, i) ==
			   collector_table[i]->default_enabled);
}

static void test_values(void)
{
	struct flags f;
	const char *a[] = { "--web.listen-address=127.0.0.1:9999",
			    "--web.listen-address", "[::1]:9998",
			    "--web.telemetry-path", "/m",
			    "--web.max-requests=0", "--log.level=debug",
			    "--log.format", "json", "--netns=/run/netns/x",
			    "--web.disable-exporter-metrics", NULL };

	UNIT_CHECK(parse(&f, a) == 0);
	UNIT_CHECK(f.nlisten == 2);
	UNIT_CHECK_STR(f.listen[0], "127.0.0.1:9999");
	UNIT_CHECK_STR(f.listen[1], "[::1]:9998");
	UNIT_CHECK_STR(f.telemetry_path, "/m");
	UNIT_CHECK(f.max_requests == 0);
	UNIT_CHECK(f.log_level == LOG_LVL_DEBUG);
	UNIT_CHECK(f.log_format == LOG_FMT_JSON);
	UNIT_CHECK_STR(f.netns, "/run/netns/x");
	UNIT_CHECK(f.disable_exporter_metrics);
}

static void test_bools(void)
{
	struct flags f;
	const char *a[] = { "--web.disable-exporter-metrics=false", NULL };
	const char *b[] = { "--no-web.disable-exporter-metrics", NULL };
	const char *c[] = { "--web.disable-exporter-metrics=yes", NULL };
	const char *d[] = { "--no-web.disable-exporter-metrics=true", NULL };

	UNIT_CHECK(parse(&f, a) == 0 && !f.disable_exporter_metrics);
	UNIT_CHECK(parse(&f, b) == 0 && !f.disable_exporter_metrics);
	UNIT_CHECK(parse(&f, c) == -EINVAL);
	UNIT_CHECK(strstr(err, "--web.disable-exporter-metrics") != NULL);
	UNIT_CHECK(parse(&f, d) == -EINVAL);
}

static void test_collectors(void)
{
	struct flags f;
	const char *off[] = { "--no-collector.conntrack", NULL };
	const char *only[] = { "--collector.disable-defaults",
			       "--collector.conntrack", NULL };
	const char *none[] = { "--collector.disable-defaults", NULL };
	const char *bad[] = { "--collector.nosuch", NULL };
	const char *badno[] = { "--no-collector.nosuch", NULL };
	size_t ct = collector_count;

	for (size_t i = 0; i < collector_count; i++)
		if (!strcmp(collector_table[i]->name, "conntrack"))
			ct = i;
	UNIT_CHECK(ct < collector_count);
	UNIT_CHECK(parse(&f, off) == 0 && !flags_collector_enabled(&f, ct));
	UNIT_CHECK(parse(&f, only) == 0 && flags_collector_enabled(&f, ct));
	UNIT_CHECK(parse(&f, none) == 0 && !flags_collector_enabled(&f, ct));
	UNIT_CHECK(parse(&f, bad) == -EINVAL);
	UNIT_CHECK_STR(err, "unknown flag --collector.nosuch, try --help");
	UNIT_CHECK(parse(&f, badno) == -EINVAL);
	UNIT_CHECK_STR(err, "unknown flag --no-collector.nosuch, try --help");
}

static void test_errors_name_the_flag(void)
{
	static const struct {
		const char *arg, *next, *want;
	} cases[] = {
		{ "--nosuch", NULL, "unknown flag --nosuch" },
		{ "--web.listen-address=9630", NULL, "--web.listen-address" },
		{ "--web.listen-address=:0", NULL, "--web.listen-address" },
		{ "--web.listen-address=:65536", NULL, "--web.listen-address" },
		{ "--web.listen-address=:http", NULL, "--web.listen-address" },
		{ "--web.listen-address=[::1]9630", NULL, "--web.listen-address" },
		{ "--web.listen-address=::1:9630", NULL, "--web.listen-address" },
		{ "--web.listen-address=[::1:9630", NULL, "--web.listen-address" },
		{ "--web.listen-address=:-1", NULL, "--web.listen-address" },
		{ "--web.telemetry-path=metrics", NULL, "--web.telemetry-path" },
		{ "--web.telemetry-path=/a b", NULL, "--web.telemetry-path" },
		{ "--web.max-requests=-1", NULL, "--web.max-requests" },
		{ "--web.max-requests=ten", NULL, "--web.max-requests" },
		{ "--web.max-requests=99999999999", NULL, "--web.max-requests" },
		{ "--log.level=verbose", NULL, "--log.level" },
		{ "--log.format=xml", NULL, "--log.format" },
		{ "--netns=", NULL, "--netns" },
		{ "--netns", NULL, "--netns needs a value" },
		{ "-x", NULL, "unexpected argument '-x'" },
		{ "stray", NULL, "unexpected argument 'stray'" },
		{ "--log.level=info", "--log.level=warn", "cannot be repeated" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *a[] = { cases[i].arg, cases[i].next, NULL };
		struct flags f;
		int rc = parse(&f, a);

		UNIT_CHECK(rc == -EINVAL);
		UNIT_CHECK(strstr(err, cases[i].want) != NULL);
		UNIT_CHECK(strchr(err, '\n') == NULL);
		if (rc != -EINVAL || !strstr(err, cases[i].want))
			fprintf(stderr, "    case %s: got '%s'\n", cases[i].arg,
				err);
	}
}

static void test_listen_parse(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	bool dual;

	UNIT_CHECK(flags_parse_listen(":9630", &ss, &len, &dual) == 0);
	UNIT_CHECK(dual && ss.ss_family == AF_INET6 &&
		   ntohs(sin6->sin6_port) == 9630);
	UNIT_CHECK(flags_parse_listen("127.0.0.1:80", &ss, &len, &dual) == 0);
	UNIT_CHECK(!dual && ss.ss_family == AF_INET &&
		   ntohs(sin->sin_port) == 80 &&
		   ntohl(sin->sin_addr.s_addr) == 0x7f000001);
	UNIT_CHECK(flags_parse_listen("[::1]:65535", &ss, &len, &dual) == 0);
	UNIT_CHECK(!dual && ss.ss_family == AF_INET6 &&
		   ntohs(sin6->sin6_port) == 65535);
	UNIT_CHECK(flags_parse_listen("localhost:1", &ss, &len, &dual) == 0);
	UNIT_CHECK(flags_parse_listen("[127.0.0.1]:1", &ss, &len, &dual) != 0);
	UNIT_CHECK(flags_parse_listen("", &ss, &len, &dual) != 0);
	UNIT_CHECK(flags_parse_listen(":", &ss, &len, &dual) != 0);
}

int main(void)
{
	UNIT_RUN(test_defaults);
	UNIT_RUN(test_values);
	UNIT_RUN(test_bools);
	UNIT_RUN(test_collectors);
	UNIT_RUN(test_errors_name_the_flag);
	UNIT_RUN(test_listen_parse);
	UNIT_DONE();
}
