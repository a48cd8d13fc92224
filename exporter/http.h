/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP server (libmicrohttpd, one thread per connection, bounded): "/"
 * landing page, the telemetry path, /-/healthy and /-/ready. GET and HEAD
 * only. Metrics are streamed from a snapshot obtained through
 * struct http_source, never from live state.
 */
#ifndef NFTEXP_HTTP_H
#define NFTEXP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct metric_snapshot;

/* Bounds that keep one slow or abusive client from holding the server. */
#define HTTP_CONNECTION_LIMIT		64
#define HTTP_PER_IP_LIMIT		16
#define HTTP_CONNECTION_TIMEOUT_S	30
#define HTTP_SCRAPE_TIMEOUT_MS		20000

struct http_source {
	/* Referenced snapshot or NULL (answered 503). Any thread. */
	struct metric_snapshot *(*snapshot)(void *arg, int timeout_ms);
	bool (*ready)(void *arg);
	void *arg;
};

/* Shared by every listener; must outlive them. */
struct http_config {
	const char *telemetry_path;
	unsigned int max_requests;	/* 0: unlimited */
	const char *landing_html;	/* whole page for "/" */
	struct http_source src;
	unsigned int inflight;		/* private: scrapes in progress */
};

struct http_server;

/*
 * Listen on @listen ("[host]:port", ":port"). NULL on failure with a
 * one-line reason in @err (e.g. the port is in use).
 */
struct http_server *http_start(const char *listen, struct http_config *cfg,
			       char *err, size_t errlen);
/* Close the listener and wait for request threads; NULL is a no-op. */
void http_stop(struct http_server *h);

#endif
