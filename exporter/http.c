// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP glue. The listening socket is made here (so a port in use is a clear
 * error) and handed to libmicrohttpd. /metrics bodies come from a callback
 * that runs the exposition writer over a snapshot, gzipping on the fly, so
 * no full copy of the page is ever built.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <zlib.h>

#include "expo.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

#if MHD_VERSION >= 0x00097002
#define MHD_RESULT enum MHD_Result
#else
#define MHD_RESULT int
#endif

#define HTTP_BLOCK	(32 * 1024)

struct http_server {
	struct MHD_Daemon *mhd;
	struct http_config *cfg;
};

/* Per-request markers kept in *con_cls (no allocation per request). */
static char mark_seen, mark_body, mark_counted;

struct scrape_ctx {
	struct metric_snapshot *snap;
	struct expo *w;
	bool gzip;
	bool eof;			/* writer exhausted */
	bool done;			/* gzip stream finished */
	z_stream z;
	char stage[HTTP_BLOCK];
};

static void scrape_ctx_free(void *cls)
{
	struct scrape_ctx *x = cls;

	if (!x)
		return;
	if (x->gzip)
		deflateEnd(&x->z);
	expo_free(x->w);
	metric_snapshot_unref(x->snap);
	free(x);
}

/* MHD content reader: never returns 0 (that would make MHD spin). */
static ssize_t scrape_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct scrape_ctx *x = cls;
	size_t n;

	(void)pos;
	if (!x->gzip) {
		n = expo_read(x->w, buf, max);
		if (n)
			return (ssize_t)n;
		return expo_failed(x->w) ? MHD_CONTENT_READER_END_WITH_ERROR :
					   MHD_CONTENT_READER_END_OF_STREAM;
	}
	if (x->done)
		return MHD_CONTENT_READER_END_OF_STREAM;
	x->z.next_out = (Bytef *)buf;
	x->z.avail_out = (uInt)(max > UINT32_MAX ? UINT32_MAX : max);
	while (x->z.avail_out > 0) {
		int rc;

		if (x->z.avail_in == 0 && !x->eof) {
			n = expo_read(x->w, x->stage, sizeof(x->stage));
			if (!n && expo_failed(x->w))
				return MHD_CONTENT_READER_END_WITH_ERROR;
			x->eof = n == 0;
			x->z.next_in = (Bytef *)x->stage;
			x->z.avail_in = (uInt)n;
		}
		rc = deflate(&x->z, x->eof ? Z_FINISH : Z_NO_FLUSH);
		if (rc == Z_STREAM_END) {
			x->done = true;
			break;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = max - x->z.avail_out;
	return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static MHD_RESULT reply_text(struct MHD_Connection *conn, unsigned int code,
			     const char *ctype, const char *text)
{
	struct MHD_Response *r;
	MHD_RESULT ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
					    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static MHD_RESULT reply_plain(struct MHD_Connection *conn, unsigned int code,
			      const char *text)
{
	return reply_text(conn, code, "text/plain; charset=utf-8", text);
}

static MHD_RESULT serve_metrics(struct http_server *h,
				struct MHD_Connection *conn)
{
	struct http_config *cfg = h->cfg;
	const char *accept, *enc;
	enum expo_format fmt;
	struct scrape_ctx *x;
	struct MHD_Response *r;
	MHD_RESULT ret;

	x = calloc(1, sizeof(*x));
	if (!x)
		return reply_plain(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "Out of memory.\n");
	x->snap = cfg->src.snapshot(cfg->src.arg, HTTP_SCRAPE_TIMEOUT_MS);
	if (!x->snap) {
		free(x);
		return reply_plain(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "Metrics collection did not complete, try again later.\n");
	}
	accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					     MHD_HTTP_HEADER_ACCEPT);
	enc = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					  MHD_HTTP_HEADER_ACCEPT_ENCODING);
	fmt = expo_negotiate(accept);
	x->gzip = expo_gzip_accepted(enc);
	x->w = expo_new(x->snap, fmt);
	if (!x->w)
		goto err_free;
	if (x->gzip &&
	    deflateInit2(&x->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		x->gzip = false;
		goto err_free;
	}
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_BLOCK,
					      scrape_read, x, scrape_ctx_free);
	if (!r)
		goto err_free;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				fmt == EXPO_FMT_OPENMETRICS ?
				EXPO_CT_OPENMETRICS : EXPO_CT_TEXT);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	if (x->gzip)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING,
					"gzip");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;

err_free:
	scrape_ctx_free(x);
	return reply_plain(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
			   "Out of memory.\n");
}

static MHD_RESULT handler(void *cls, struct MHD_Connection *conn,
			  const char *url, const char *method,
			  const char *version, const char *upload_data,
			  size_t *upload_data_size, void **con_cls)
{
	struct http_server *h = cls;
	struct http_config *cfg = h->cfg;
	bool get = !strcmp(method, MHD_HTTP_METHOD_GET);
	bool head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
	char msg[96];

	(void)version;
	(void)upload_data;
	/* Answer only once the whole request has been read. */
	if (!*con_cls) {
		*con_cls = &mark_seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		*con_cls = &mark_body;
		return MHD_YES;
	}
	if (!get && !head)
		return reply_plain(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				   "Method not allowed: use GET or HEAD.\n");
	if (*con_cls == &mark_body)
		return reply_plain(conn, MHD_HTTP_CONTENT_TOO_LARGE,
				   "Request bodies are not accepted.\n");

	if (!strcmp(url, cfg->telemetry_path)) {
		unsigned int n = __atomic_add_fetch(&cfg->inflight, 1,
						    __ATOMIC_ACQ_REL);

		*con_cls = &mark_counted;	/* released in completed() */
		if (cfg->max_requests && n > cfg->max_requests) {
			snprintf(msg, sizeof(msg),
				 "Limit of concurrent requests reached (%u), try again later.\n",
				 cfg->max_requests);
			return reply_plain(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					   msg);
		}
		return serve_metrics(h, conn);
	}
	if (!strcmp(url, "/-/healthy"))
		return reply_plain(conn, MHD_HTTP_OK,
				   "nftables_exporter is Healthy.\n");
	if (!strcmp(url, "/-/ready")) {
		if (cfg->src.ready(cfg->src.arg))
			return reply_plain(conn, MHD_HTTP_OK,
					   "nftables_exporter is Ready.\n");
		return reply_plain(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "nftables_exporter is not ready: initial sync in progress.\n");
	}
	if (!strcmp(url, "/"))
		return reply_text(conn, MHD_HTTP_OK, "text/html; charset=utf-8",
				  cfg->landing_html);
	return reply_plain(conn, MHD_HTTP_NOT_FOUND, "Not found.\n");
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct http_server *h = cls;

	(void)conn;
	(void)toe;
	if (*con_cls == &mark_counted)
		__atomic_sub_fetch(&h->cfg->inflight, 1, __ATOMIC_ACQ_REL);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_warn("http: %s", buf);
}

/* Make the listening socket; 0 or -errno with the failing step in @what. */
static int listen_socket(const char *listen_addr, int *fdp, const char **what)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool dual;
	int fd, one = 1, zero = 0;

	*what = "parse";
	if (flags_parse_listen(listen_addr, &ss, &len, &dual))
		return -EINVAL;
	*what = "socket";
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 && dual && errno == EAFNOSUPPORT) {
		/* no IPv6 on this host: all IPv4 addresses instead */
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		uint16_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;

		memset(&ss, 0, sizeof(ss));
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = port;
		len = sizeof(*sin);
		dual = false;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (dual)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	*what = "bind";
	if (bind(fd, (struct sockaddr *)&ss, len) == -1)
		goto err;
	*what = "listen";
	if (listen(fd, 128) == -1)
		goto err;
	*fdp = fd;
	return 0;
err:
	one = -errno;
	close(fd);
	return one;
}

struct http_server *http_start(const char *listen_addr, struct http_config *cfg,
			       char *err, size_t errlen)
{
	struct http_server *h = calloc(1, sizeof(*h));
	const char *what;
	int fd = -1, rc;

	if (!h) {
		snprintf(err, errlen, "listen %s: out of memory", listen_addr);
		return NULL;
	}
	h->cfg = cfg;
	rc = listen_socket(listen_addr, &fd, &what);
	if (rc) {
		snprintf(err, errlen, "listen tcp %s: %s: %s", listen_addr,
			 what, strerror(-rc));
		free(h);
		return NULL;
	}
	h->mhd = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_POLL | MHD_USE_ERROR_LOG,
		0, NULL, NULL, handler, h,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONNECTION_LIMIT,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)HTTP_PER_IP_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)HTTP_CONNECTION_TIMEOUT_S,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024),
		MHD_OPTION_NOTIFY_COMPLETED, completed, h,
		MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, errlen, "listen tcp %s: cannot start HTTP server",
			 listen_addr);
		close(fd);
		free(h);
		return NULL;
	}
	return h;
}

void http_stop(struct http_server *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	free(h);
}
