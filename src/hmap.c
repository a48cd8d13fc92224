// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>

#include "hmap.h"

void hmap_fini(struct hmap *m)
{
	free(m->b);
	m->b = NULL;
	m->mask = 0;
	m->n = 0;
}

static int grow(struct hmap *m)
{
	size_t mask = m->b ? m->mask * 2 + 1 : 15;
	struct hnode **b = calloc(mask + 1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	if (m->b) {
		for (size_t i = 0; i <= m->mask; i++) {
			struct hnode *n = m->b[i], *next;

			for (; n; n = next) {
				next = n->next;
				n->next = b[n->hash & mask];
				b[n->hash & mask] = n;
			}
		}
		free(m->b);
	}
	m->b = b;
	m->mask = mask;
	return 0;
}

int hmap_insert(struct hmap *m, struct hnode *n, uint32_t hash)
{
	if ((!m->b || m->n >= m->mask + 1) && grow(m) && !m->b)
		return -ENOMEM;
	n->hash = hash;
	n->next = m->b[hash & m->mask];
	m->b[hash & m->mask] = n;
	m->n++;
	return 0;
}

void hmap_remove(struct hmap *m, struct hnode *n)
{
	struct hnode **pp;

	if (!m->b)
		return;
	for (pp = &m->b[n->hash & m->mask]; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			m->n--;
			return;
		}
	}
}

struct hnode *hmap_first(const struct hmap *m, uint32_t hash)
{
	struct hnode *n;

	if (!m->b)
		return NULL;
	for (n = m->b[hash & m->mask]; n && n->hash != hash; n = n->next)
		;
	return n;
}

struct hnode *hmap_next(const struct hnode *n, uint32_t hash)
{
	for (n = n->next; n && n->hash != hash; n = n->next)
		;
	return (struct hnode *)n;
}

struct hnode *hmap_iter(const struct hmap *m, size_t *pos, struct hnode **cur)
{
	struct hnode *n = *cur;

	if (!m->b)
		return NULL;
	while (!n) {
		if (*pos > m->mask)
			return NULL;
		n = m->b[(*pos)++];
	}
	*cur = n->next;
	return n;
}

uint32_t hash_bytes(const void *p, size_t n, uint32_t seed)
{
	const unsigned char *s = p;
	uint32_t h = 2166136261u ^ seed;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	return h ^ (h >> 15);
}

uint32_t hash_u64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	v *= 0xc4ceb9fe1a85ec53ULL;
	v ^= v >> 33;
	return (uint32_t)v;
}
