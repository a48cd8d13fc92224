// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "intern.h"

struct istr {
	struct hnode node;
	uint32_t refs;
	uint32_t len;
	char s[];
};

struct intern {
	struct hmap map;
	size_t bytes;
};

struct intern *intern_new(void)
{
	return calloc(1, sizeof(struct intern));
}

void intern_free(struct intern *t)
{
	size_t pos = 0;
	struct hnode *cur = NULL, *n;

	if (!t)
		return;
	while ((n = hmap_iter(&t->map, &pos, &cur)))
		free(container_of(n, struct istr, node));
	hmap_fini(&t->map);
	free(t);
}

const char *intern_get(struct intern *t, const char *s, size_t len)
{
	uint32_t h = hash_bytes(s, len, 0);
	struct istr *i;

	for (struct hnode *n = hmap_first(&t->map, h); n; n = hmap_next(n, h)) {
		i = container_of(n, struct istr, node);
		if (i->len == len && !memcmp(i->s, s, len)) {
			i->refs++;
			return i->s;
		}
	}
	i = malloc(sizeof(*i) + len + 1);
	if (!i)
		return NULL;
	i->refs = 1;
	i->len = (uint32_t)len;
	memcpy(i->s, s, len);
	i->s[len] = '\0';
	if (hmap_insert(&t->map, &i->node, h)) {
		free(i);
		errno = ENOMEM;
		return NULL;
	}
	t->bytes += sizeof(*i) + len + 1;
	return i->s;
}

const char *intern_ref(const char *s)
{
	if (s)
		container_of(s, struct istr, s)->refs++;
	return s;
}

void intern_put(struct intern *t, const char *s)
{
	struct istr *i;

	if (!s)
		return;
	i = container_of(s, struct istr, s);
	if (--i->refs)
		return;
	hmap_remove(&t->map, &i->node);
	t->bytes -= sizeof(*i) + i->len + 1;
	free(i);
}

size_t intern_count(const struct intern *t)
{
	return t->map.n;
}

size_t intern_bytes(const struct intern *t)
{
	return t->bytes;
}
