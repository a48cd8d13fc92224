// SPDX-License-Identifier: Apache-2.0
/*
 * nftables_exporter: start-up, HTTP listeners, the loop, clean shutdown.
 * Exit codes: 0 clean stop, 1 runtime/start-up failure, 2 bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <microhttpd.h>
#include <zlib.h>

#include "daemon.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "nl.h"
#include "version.h"

static struct metric_snapshot *src_snapshot(void *arg, int timeout_ms)
{
	return daemon_snapshot(arg, timeout_ms);
}

static bool src_ready(void *arg)
{
	return daemon_ready(arg);
}

/* HTML-escape @s into @out (truncating). */
static void html_escape(char *out, size_t cap, const char *s)
{
	size_t pos = 0;

	for (; *s && pos + 7 < cap; s++) {
		const char *rep = NULL;

		switch (*s) {
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '&': rep = "&amp;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		}
		if (rep) {
			memcpy(out + pos, rep, strlen(rep));
			pos += strlen(rep);
		} else {
			out[pos++] = *s;
		}
	}
	out[pos] = '\0';
}

static char *landing_page(const struct flags *f, const struct daemon *d)
{
	char path[1024], *page = NULL;
	int n;

	html_escape(path, sizeof(path), f->telemetry_path);
	n = asprintf(&page,
		     "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\">"
		     "<title>nftables_exporter</title></head>\n<body>\n"
		     "<h1>nftables_exporter</h1>\n"
		     "<p>Prometheus exporter for the Linux nftables dataplane.</p>\n"
		     "<ul>\n<li><a href=\"%s\">Metrics</a></li>\n"
		     "<li><a href=\"/-/healthy\">Health</a></li>\n"
		     "<li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n"
		     "<p>Enabled collectors: %s</p>\n"
		     "<p>Version %s (revision %s)</p>\n</body>\n</html>\n",
		     path, *daemon_collectors(d) ? daemon_collectors(d) : "none",
		     NFTEXP_VERSION, NFTEXP_REVISION);
	return n < 0 ? NULL : page;
}

static void print_version(void)
{
	printf("nftables_exporter, version %s (revision: %s)\n"
	       "  build: libmicrohttpd %s, zlib %s, compiler %s\n",
	       NFTEXP_VERSION, NFTEXP_REVISION, MHD_get_version(),
	       zlibVersion(), __VERSION__);
}

int main(int argc, char **argv)
{
	struct http_server *servers[FLAGS_MAX_LISTEN] = { NULL };
	struct http_config cfg = { 0 };
	struct daemon *d = NULL;
	char err[512], *page = NULL;
	struct flags f;
	int rc, ret = 1;

	if (flags_parse(&f, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "nftables_exporter: error: %s\n", err);
		return 2;
	}
	if (f.help) {
		flags_usage(stdout);
		return 0;
	}
	if (f.version) {
		print_version();
		return 0;
	}
	log_setup(f.log_level, f.log_format);

	rc = nl_netns_set(f.netns);
	if (rc) {
		fprintf(stderr,
			"nftables_exporter: error: flag --netns: '%s': %s\n",
			f.netns, rc == -EINVAL ? "not a network namespace" :
			strerror(-rc));
		return 2;
	}

	log_info("starting nftables_exporter version=%s revision=%s netns=%s",
		 NFTEXP_VERSION, NFTEXP_REVISION, f.netns ? f.netns : "self");
	d = daemon_new(&f);
	if (!d) {
		log_error("cannot start: %s", strerror(errno));
		goto out;
	}
	page = landing_page(&f, d);
	if (!page)
		goto out;
	cfg.telemetry_path = f.telemetry_path;
	cfg.max_requests = f.max_requests;
	cfg.landing_html = page;
	cfg.src.snapshot = src_snapshot;
	cfg.src.ready = src_ready;
	cfg.src.arg = d;
	for (size_t i = 0; i < f.nlisten; i++) {
		servers[i] = http_start(f.listen[i], &cfg, err, sizeof(err));
		if (!servers[i]) {
			log_error("%s", err);
			goto out_stop;
		}
		log_info("listening on %s; scrape http://%s%s%s", f.listen[i],
			 f.listen[i][0] == ':' ? "localhost" : "", f.listen[i],
			 f.telemetry_path);
	}

	rc = daemon_run(d);
	if (rc)
		log_error("event loop failed: %s", strerror(-rc));
	else
		ret = 0;

out_stop:
	daemon_shutdown(d);
	for (size_t i = 0; i < f.nlisten; i++)
		http_stop(servers[i]);
out:
	daemon_free(d);
	free(page);
	nl_netns_close();
	if (!ret)
		log_info("stopped");
	return ret;
}
