// SPDX-License-Identifier: Apache-2.0
#include "collector.h"
#include "conntrack.h"
#include "ruleset.h"

const struct collector_ops *const collector_table[] = {
	&ruleset_collector_ops,
	&transactions_collector_ops,
	&services_collector_ops,
	&conntrack_collector_ops,
};

const size_t collector_count =
	sizeof(collector_table) / sizeof(collector_table[0]);

void collector_set_ready(struct collector *c)
{
	__atomic_store_n(&c->ready, true, __ATOMIC_RELEASE);
}
