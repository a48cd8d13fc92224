/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Intrusive chained hash map: callers embed struct hnode, compute the hash
 * and compare keys themselves. Grows by doubling (a full rehash, a few
 * milliseconds at 100k entries; fine outside the hottest path).
 */
#ifndef NFTEXP_HMAP_H
#define NFTEXP_HMAP_H

#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct hnode {
	struct hnode *next;
	uint32_t hash;
};

struct hmap {
	struct hnode **b;
	size_t mask;
	size_t n;
};

/* Zeroed struct hmap is a valid empty map; hmap_fini() frees buckets. */
void hmap_fini(struct hmap *m);
/* Insert @n under @hash; 0 or -ENOMEM (then @n is not inserted). */
int hmap_insert(struct hmap *m, struct hnode *n, uint32_t hash);
void hmap_remove(struct hmap *m, struct hnode *n);

/* Walk the entries with this hash: first, then next until NULL. */
struct hnode *hmap_first(const struct hmap *m, uint32_t hash);
struct hnode *hmap_next(const struct hnode *n, uint32_t hash);

/* Walk every entry: *pos starts at 0; removal of the returned one is safe. */
struct hnode *hmap_iter(const struct hmap *m, size_t *pos, struct hnode **cur);

uint32_t hash_bytes(const void *p, size_t n, uint32_t seed);
uint32_t hash_u64(uint64_t v);

#endif
