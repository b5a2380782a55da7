// SPDX-License-Identifier: Apache-2.0
// Diagnostics: structured errors (file, line, column, message) that the library returns and the
// CLI prints once as `FILE:LINE:COL: message`.
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int osh_diag_list_add(struct osh_diag_list *l, const char *file, unsigned line, unsigned col,
		      const char *fmt, ...)
{
	struct osh_diag *d;
	va_list ap;
	int r;

	if (!l)
		return 0;
	if (l->n >= OSH_POLICY_MAX_DIAGS) {
		l->dropped++;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct osh_diag *items = realloc(l->items, cap * sizeof(*items));

		if (!items)
			return -ENOMEM;
		l->items = items;
		l->cap = cap;
	}
	d = &l->items[l->n];
	d->file = strdup(file ? file : "<input>");
	va_start(ap, fmt);
	r = vasprintf(&d->message, fmt, ap);
	va_end(ap);
	if (!d->file || r < 0) {
		free(d->file);
		return -ENOMEM;
	}
	d->line = line;
	d->col = col;
	l->n++;
	return 0;
}

static int diag_cmp(const struct osh_diag *a, const struct osh_diag *b)
{
	int r = strcmp(a->file, b->file);

	if (r)
		return r;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return 0;
}

void osh_diag_list_sort(struct osh_diag_list *l)
{
	/* Insertion sort: stable, and lists are short (bounded by OSH_POLICY_MAX_DIAGS). */
	for (size_t i = 1; l && i < l->n; i++) {
		struct osh_diag tmp = l->items[i];
		size_t j = i;

		while (j > 0 && diag_cmp(&l->items[j - 1], &tmp) > 0) {
			l->items[j] = l->items[j - 1];
			j--;
		}
		l->items[j] = tmp;
	}
}

void osh_diag_list_clear(struct osh_diag_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].file);
		free(l->items[i].message);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

int osh_diag_format(const struct osh_diag *d, char **ret_text)
{
	char *s;

	if (asprintf(&s, "%s:%u:%u: %s", d->file, d->line, d->col, d->message) < 0)
		return -ENOMEM;
	*ret_text = s;
	return 0;
}
