// SPDX-License-Identifier: Apache-2.0
// Diff of two policies by their canonical forms, split into static sections (filesystem_policy,
// landlock, process: need a new sandbox) and the dynamic network_policies (hot-reloadable).
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct {
	enum osh_section s;
	const char *name;
} static_sections[] = {
	{ OSH_SECTION_FILESYSTEM, "filesystem_policy" },
	{ OSH_SECTION_LANDLOCK, "landlock" },
	{ OSH_SECTION_PROCESS, "process" },
};

static int add(struct osh_policy_diff *d, size_t cap, const char *section, const char *key,
	       enum osh_diff_kind kind, bool is_static)
{
	if (d->n_changes >= cap)
		return -EOVERFLOW;
	d->changes[d->n_changes++] = (struct osh_diff_change){
		.section = section,
		.key = key ? osh_arena_strdup(d->arena, key) : NULL,
		.kind = kind,
		.is_static = is_static,
	};
	if (key && !d->changes[d->n_changes - 1].key)
		return -ENOMEM;
	if (is_static)
		d->n_static++;
	else
		d->n_dynamic++;
	return 0;
}

static int diff_static(struct osh_policy_diff *d, size_t cap, const struct osh_policy *a,
		       const struct osh_policy *b)
{
	for (size_t i = 0; i < sizeof(static_sections) / sizeof(static_sections[0]); i++) {
		char *x = NULL, *y = NULL;
		int r = osh_dump_section(a, static_sections[i].s, &x);

		if (r >= 0)
			r = osh_dump_section(b, static_sections[i].s, &y);
		if (r >= 0 && strcmp(x, y))
			r = add(d, cap, static_sections[i].name, NULL,
				!*x   ? OSH_DIFF_ADDED
				: !*y ? OSH_DIFF_REMOVED
				      : OSH_DIFF_CHANGED,
				true);
		free(x);
		free(y);
		if (r < 0)
			return r;
	}
	return 0;
}

static int diff_network(struct osh_policy_diff *d, size_t cap, const struct osh_policy *a,
			const struct osh_policy *b)
{
	size_t i = 0, j = 0;
	int r = 0;

	/* Both rule arrays are sorted by key: one merge pass. */
	while (r >= 0 && (i < a->n_net_rules || j < b->n_net_rules)) {
		int c = i == a->n_net_rules   ? 1
			: j == b->n_net_rules ? -1
					      : strcmp(a->net_rules[i].key, b->net_rules[j].key);

		if (c < 0) {
			r = add(d, cap, "network_policies", a->net_rules[i++].key, OSH_DIFF_REMOVED,
				false);
		} else if (c > 0) {
			r = add(d, cap, "network_policies", b->net_rules[j++].key, OSH_DIFF_ADDED,
				false);
		} else {
			char *x = NULL, *y = NULL;

			r = osh_dump_net_rule(&a->net_rules[i], &x);
			if (r >= 0)
				r = osh_dump_net_rule(&b->net_rules[j], &y);
			if (r >= 0 && strcmp(x, y))
				r = add(d, cap, "network_policies", a->net_rules[i].key,
					OSH_DIFF_CHANGED, false);
			free(x);
			free(y);
			i++;
			j++;
		}
	}
	return r;
}

int osh_policy_diff(const struct osh_policy *old, const struct osh_policy *new_,
		    struct osh_policy_diff **ret)
{
	size_t cap = 3 + old->n_net_rules + new_->n_net_rules;
	struct osh_policy_diff *d;
	struct osh_arena *a;
	int r = osh_arena_new(&a);

	if (r < 0)
		return r;
	d = osh_arena_alloc(a, sizeof(*d));
	if (!d || !(d->changes = osh_arena_array(a, cap, sizeof(*d->changes)))) {
		osh_arena_free(a);
		return -ENOMEM;
	}
	d->arena = a;
	r = diff_static(d, cap, old, new_);
	if (r >= 0)
		r = diff_network(d, cap, old, new_);
	if (r < 0) {
		osh_arena_free(a);
		return r;
	}
	*ret = d;
	return 0;
}

void osh_policy_diff_free(struct osh_policy_diff *d)
{
	if (d)
		osh_arena_free(d->arena);
}

int osh_policy_diff_format(const struct osh_policy_diff *d, char **ret_text)
{
	static const char *const kinds[] = { [OSH_DIFF_ADDED] = "added",
					     [OSH_DIFF_REMOVED] = "removed",
					     [OSH_DIFF_CHANGED] = "changed" };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_changes; i++) {
		const struct osh_diff_change *c = &d->changes[i];

		fprintf(f, "%-7s %-7s %s%s%s\n", c->is_static ? "static" : "dynamic",
			kinds[c->kind], c->section, c->key ? "." : "", c->key ? c->key : "");
	}
	if (fclose(f) != 0 || !text) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	return 0;
}
