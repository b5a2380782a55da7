// SPDX-License-Identifier: Apache-2.0
// Growable vector of owned strings (see strv.h).
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

int osh_strv_push_take(struct osh_strv *sv, char *s)
{
	if (!s)
		return -ENOMEM;
	if (sv->n + 2 > sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 8;
		char **v = realloc(sv->v, cap * sizeof(*v));

		if (!v) {
			free(s);
			return -ENOMEM;
		}
		sv->v = v;
		sv->cap = cap;
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
	return 0;
}

int osh_strv_push(struct osh_strv *sv, const char *s)
{
	return osh_strv_push_take(sv, strdup(s));
}

int osh_strv_pushf(struct osh_strv *sv, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return osh_strv_push_take(sv, s);
}

int osh_strv_extend(struct osh_strv *sv, const struct osh_strv *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int r = osh_strv_push(sv, src->v[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

int osh_strv_insert_take(struct osh_strv *sv, size_t at, struct osh_strv *src)
{
	size_t n = sv->n + src->n;
	char **v;

	if (!src->n)
		return 0;
	if (n + 1 > sv->cap) {
		v = realloc(sv->v, (n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		sv->v = v;
		sv->cap = n + 1;
	}
	memmove(sv->v + at + src->n, sv->v + at, (sv->n - at) * sizeof(*sv->v));
	memcpy(sv->v + at, src->v, src->n * sizeof(*src->v));
	sv->n = n;
	sv->v[n] = NULL;
	free(src->v);
	src->v = NULL;
	src->n = src->cap = 0;
	return 0;
}

void osh_strv_free(struct osh_strv *sv)
{
	if (!sv)
		return;
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}
