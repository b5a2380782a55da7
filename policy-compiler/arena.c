// SPDX-License-Identifier: Apache-2.0
// Arena allocator: one per policy (and per compiled image or diff), so the IR is plain structs
// with plain pointers and one free releases everything.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ARENA_CHUNK (64u * 1024u)
#define ARENA_ALIGN 16u

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
};

struct osh_arena {
	struct arena_chunk *head;
};

int osh_arena_new(struct osh_arena **ret)
{
	struct osh_arena *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	*ret = a;
	return 0;
}

void osh_arena_free(struct osh_arena *a)
{
	struct arena_chunk *c, *next;

	if (!a)
		return;
	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

void *osh_arena_alloc(struct osh_arena *a, size_t size)
{
	struct arena_chunk *c = a->head;
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	void *p;

	if (size == 0)
		need = ARENA_ALIGN;
	if (need < size)
		return NULL;
	if (!c || c->size - c->used < need) {
		/* Large requests get a chunk of their own so the current one keeps its free space. */
		size_t csize = need > ARENA_CHUNK / 4 ? need : ARENA_CHUNK;
		struct arena_chunk *n = malloc(sizeof(*n) + csize);

		if (!n)
			return NULL;
		n->size = csize;
		n->used = 0;
		if (c && need > ARENA_CHUNK / 4) {
			n->next = c->next;
			c->next = n;
		} else {
			n->next = c;
			a->head = n;
		}
		c = n;
	}
	p = c->data + c->used;
	c->used += need;
	memset(p, 0, need);
	return p;
}

void *osh_arena_array(struct osh_arena *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return osh_arena_alloc(a, n * size);
}

char *osh_arena_strndup(struct osh_arena *a, const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX)
		return NULL;
	p = osh_arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *osh_arena_strdup(struct osh_arena *a, const char *s)
{
	return osh_arena_strndup(a, s, strlen(s));
}

void *osh_arena_memdup(struct osh_arena *a, const void *p, size_t n)
{
	void *q = osh_arena_alloc(a, n);

	if (q && n)
		memcpy(q, p, n);
	return q;
}
