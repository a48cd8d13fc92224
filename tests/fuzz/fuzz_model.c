// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the ruleset model: the input is a stream of
 * netlink messages (as the kernel would send them), each applied in turn
 * to one model, which must never crash, leak or read out of bounds, and
 * must stay internally consistent (per-table counts equal what the
 * structures hold). Seeds: tests/fuzz/seeds-fuzz_model, datagrams of the unit-test captures.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/nf_tables.h>

#include "hmap.h"
#include "nl.h"
#include "ruleset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct rs_model *m)
{
	for (const struct rs_table *t = m->tables; t; t = t->next) {
		uint32_t rules = 0, chains = 0;
		size_t pos = 0;
		struct hnode *cur = NULL, *n;

		while ((n = hmap_iter(&t->chains_by_name, &pos, &cur))) {
			const struct rs_chain *c =
				container_of(n, struct rs_chain, by_name);
			uint32_t k = 0;

			for (const struct rs_rule *r = c->first; r; r = r->next)
				k++;
			if (k != c->nrules)
				abort();
			rules += k;
			chains++;
		}
		if (rules != t->nrules || chains != t->nchains ||
		    t->rules.n != rules)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[1 << 16] __attribute__((aligned(8)));
	struct rs_model m;
	const struct nlmsghdr *nlh;
	int left;

	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	if (rs_model_init(&m))
		return 0;
	nlh = (const struct nlmsghdr *)buf;
	left = (int)size;
	for (; nl_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
		rs_model_apply(&m, nlh);
	check(&m);
	rs_model_fini(&m);
	return 0;
}
