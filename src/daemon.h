/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon: event loop, metric store, enabled collectors and the scrape
 * broker through which HTTP threads obtain snapshots. HTTP threads call
 * only daemon_snapshot() and daemon_ready(); everything else runs on the
 * loop thread.
 */
#ifndef NFTEXP_DAEMON_H
#define NFTEXP_DAEMON_H

#include <stdbool.h>

struct flags;
struct daemon;
struct metric_snapshot;

/*
 * Create the loop (blocking termination signals; call before any thread
 * starts), the store, and init every enabled collector. NULL with errno;
 * a failing collector is logged by name.
 */
struct daemon *daemon_new(const struct flags *f);
void daemon_free(struct daemon *d);

/* Run the event loop until SIGTERM/SIGINT; 0 or -errno. */
int daemon_run(struct daemon *d);
/* Wake and release every waiting scrape (before stopping HTTP). */
void daemon_shutdown(struct daemon *d);

/*
 * From any thread: ask the loop for a fresh collection and wait at most
 * @timeout_ms for the snapshot. Concurrent callers share one collection.
 * Returns a referenced snapshot (metric_snapshot_unref() it) or NULL.
 */
struct metric_snapshot *daemon_snapshot(struct daemon *d, int timeout_ms);
/* Every enabled collector finished its initial sync. */
bool daemon_ready(struct daemon *d);

/* Enabled collector names, comma separated (for the landing page). */
const char *daemon_collectors(const struct daemon *d);

#endif
