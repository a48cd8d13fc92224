/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Conntrack table statistics over ctnetlink: entries and limit, and the
 * per-CPU kernel statistics summed over CPUs.
 */
#ifndef NFTEXP_CONNTRACK_H
#define NFTEXP_CONNTRACK_H

#include "collector.h"

extern const struct collector_ops conntrack_collector_ops;

#endif
