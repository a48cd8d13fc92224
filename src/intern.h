/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Interned, reference-counted strings: each distinct name (table, chain,
 * set, comment) is stored once however many objects refer to it.
 */
#ifndef NFTEXP_INTERN_H
#define NFTEXP_INTERN_H

#include <stddef.h>

struct intern;

struct intern *intern_new(void);
/* All strings must have been put back; frees the table. */
void intern_free(struct intern *t);

/*
 * Return the interned copy of @s (@len bytes, no NUL needed), taking a
 * reference; NULL with errno ENOMEM. Equal strings return the same pointer.
 */
const char *intern_get(struct intern *t, const char *s, size_t len);
/* Take one more reference to an interned string (NULL is a no-op). */
const char *intern_ref(const char *s);
/* Drop a reference; the string is freed with the last one. NULL: no-op. */
void intern_put(struct intern *t, const char *s);
/* Distinct strings held, and their bytes. */
size_t intern_count(const struct intern *t);
size_t intern_bytes(const struct intern *t);

#endif
