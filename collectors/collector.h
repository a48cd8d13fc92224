/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The collector interface. A collector is a const struct collector_ops in
 * the static table collector_table[] (collector.c): adding one is one line
 * there. All callbacks run on the event-loop thread, which owns the state.
 *
 * Life cycle: init() registers the collector's metric families in
 * c->env->store, opens its sockets and adds fds and timers to c->env->loop;
 * it calls
 * collector_set_ready() once its initial sync is done (possibly later, from
 * a loop callback). Before every snapshot the core calls collect(), which
 * refreshes whatever is polled rather than evented and returns 0 or -errno;
 * a failure is exported as nftables_exporter_scrape_collector_success 0 and
 * the collector should hide the families it could not refresh. fini() frees
 * everything at exit. init() failing is fatal to the daemon: reserve it for
 * real start-up errors, not for a missing kernel feature. fini() must also
 * accept a collector whose init() never ran or failed (priv NULL).
 */
#ifndef NFTEXP_COLLECTOR_H
#define NFTEXP_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct metric_store;
struct collector;
struct flags;
struct ruleset;

struct collector_ops {
	const char *name;
	const char *help;		/* one line, for --help and "/" */
	bool default_enabled;
	int (*init)(struct collector *c);
	int (*collect)(struct collector *c);
	void (*fini)(struct collector *c);
};

/* What the daemon shares with every collector; owned by the daemon. */
struct collector_env {
	struct loop *loop;
	struct metric_store *store;
	const struct flags *flags;
	struct ruleset *ruleset;	/* shared mirror, see ruleset_acquire() */
};

struct collector {
	const struct collector_ops *ops;
	struct collector_env *env;
	void *priv;			/* the collector's own state */
	bool ready;			/* initial sync finished */
};

extern const struct collector_ops *const collector_table[];
extern const size_t collector_count;

void collector_set_ready(struct collector *c);

#endif
