// SPDX-License-Identifier: Apache-2.0
// YAML front end: libyaml events -> document tree with a line and column on every node.
// Aliases, tags other than !!str, and multiple documents are refused: a policy is one plain tree.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

struct yload {
	struct osh_arena *arena;
	const char *name;
	struct osh_diag_list *diags;
	yaml_parser_t parser;
	int errors;
};

/* A growable vector of node pointers, copied into the arena when the container closes. */
struct nvec {
	struct osh_node **v;
	size_t n, cap;
};

static int nvec_push(struct nvec *v, struct osh_node *x)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		struct osh_node **nv = realloc(v->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = x;
	return 0;
}

static int yerr(struct yload *l, const yaml_mark_t *m, const char *msg)
{
	l->errors++;
	return osh_diag_list_add(l->diags, l->name, (unsigned)m->line + 1, (unsigned)m->column + 1,
				 "%s", msg)
		   ?: -EINVAL;
}

static int next_event(struct yload *l, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&l->parser, ev)) {
		const char *p = l->parser.problem ? l->parser.problem : "malformed YAML";
		int r;

		l->errors++;
		if (l->parser.context)
			r = osh_diag_list_add(l->diags, l->name,
					      (unsigned)l->parser.problem_mark.line + 1,
					      (unsigned)l->parser.problem_mark.column + 1,
					      "YAML syntax error: %s %s", p, l->parser.context);
		else
			r = osh_diag_list_add(l->diags, l->name,
					      (unsigned)l->parser.problem_mark.line + 1,
					      (unsigned)l->parser.problem_mark.column + 1,
					      "YAML syntax error: %s", p);
		return r < 0 ? r : -EINVAL;
	}
	return 0;
}

static struct osh_node *node_new(struct yload *l, enum osh_node_type t, const yaml_mark_t *m)
{
	struct osh_node *n = osh_arena_alloc(l->arena, sizeof(*n));

	if (n) {
		n->type = t;
		n->line = (unsigned)m->line + 1;
		n->col = (unsigned)m->column + 1;
	}
	return n;
}

static int check_tag(struct yload *l, const yaml_char_t *tag, const yaml_mark_t *m, bool *quoted)
{
	if (!tag)
		return 0;
	if (!strcmp((const char *)tag, YAML_STR_TAG)) {
		*quoted = true;
		return 0;
	}
	return yerr(l, m, "YAML tags are not supported in policies (expected plain values)");
}

static int load_node(struct yload *l, yaml_event_t *ev, int depth, struct osh_node **ret);

/* Reads the children of a mapping or sequence up to its end event. */
static int load_children(struct yload *l, struct osh_node *n, int depth)
{
	struct nvec keys = { 0 }, items = { 0 };
	bool is_map = n->type == OSH_NODE_MAP;
	int r = 0;

	for (;;) {
		yaml_event_t ev = { 0 };
		struct osh_node *child = NULL;

		r = next_event(l, &ev);
		if (r < 0)
			break;
		if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (is_map && keys.n == items.n && ev.type != YAML_SCALAR_EVENT &&
		    ev.type != YAML_ALIAS_EVENT) {
			r = yerr(l, &ev.start_mark, "mapping keys must be plain strings");
			yaml_event_delete(&ev);
			break;
		}
		r = load_node(l, &ev, depth + 1, &child);
		yaml_event_delete(&ev);
		if (r < 0)
			break;
		r = nvec_push(is_map && keys.n == items.n ? &keys : &items, child);
		if (r < 0)
			break;
	}
	if (r == 0) {
		n->n = items.n;
		n->items = osh_arena_memdup(l->arena, items.v, items.n * sizeof(*items.v));
		if (is_map)
			n->keys = osh_arena_memdup(l->arena, keys.v, keys.n * sizeof(*keys.v));
		if (!n->items || (is_map && !n->keys))
			r = -ENOMEM;
	}
	free(keys.v);
	free(items.v);
	return r;
}

static int load_node(struct yload *l, yaml_event_t *ev, int depth, struct osh_node **ret)
{
	struct osh_node *n;
	bool quoted = false;
	int r;

	if (depth > OSH_NODE_MAX_DEPTH)
		return yerr(l, &ev->start_mark, "nesting too deep");
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return yerr(l, &ev->start_mark,
			    "YAML aliases are not supported in policies (write the value out)");
	case YAML_SCALAR_EVENT:
		r = check_tag(l, ev->data.scalar.tag, &ev->start_mark, &quoted);
		if (r < 0)
			return r;
		n = node_new(l, OSH_NODE_SCALAR, &ev->start_mark);
		if (!n)
			return -ENOMEM;
		n->text = osh_arena_strndup(l->arena, (const char *)ev->data.scalar.value,
					    ev->data.scalar.length);
		if (!n->text)
			return -ENOMEM;
		n->len = ev->data.scalar.length;
		n->quoted = quoted || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
		*ret = n;
		return 0;
	case YAML_MAPPING_START_EVENT:
		r = check_tag(l, ev->data.mapping_start.tag, &ev->start_mark, &quoted);
		if (r < 0)
			return r;
		n = node_new(l, OSH_NODE_MAP, &ev->start_mark);
		break;
	case YAML_SEQUENCE_START_EVENT:
		r = check_tag(l, ev->data.sequence_start.tag, &ev->start_mark, &quoted);
		if (r < 0)
			return r;
		n = node_new(l, OSH_NODE_SEQ, &ev->start_mark);
		break;
	default:
		return yerr(l, &ev->start_mark, "unexpected YAML event");
	}
	if (!n)
		return -ENOMEM;
	r = load_children(l, n, depth);
	if (r < 0)
		return r;
	*ret = n;
	return 0;
}

int osh_yaml_load(struct osh_arena *a, const char *name, const char *buf, size_t len,
		  struct osh_node **ret, struct osh_diag_list *diags)
{
	struct yload l = { .arena = a, .name = name, .diags = diags };
	struct osh_node *root = NULL;
	yaml_event_t ev;
	int r;

	if (!yaml_parser_initialize(&l.parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&l.parser, (const unsigned char *)buf, len);

	/* STREAM-START, then one DOCUMENT-START, one node, DOCUMENT-END, STREAM-END. */
	for (;;) {
		r = next_event(&l, &ev);
		if (r < 0)
			goto out;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT && root) {
			r = yerr(&l, &ev.start_mark,
				 "only one YAML document is allowed per policy");
			yaml_event_delete(&ev);
			goto out;
		}
		if (ev.type == YAML_SCALAR_EVENT || ev.type == YAML_MAPPING_START_EVENT ||
		    ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_ALIAS_EVENT) {
			r = load_node(&l, &ev, 0, &root);
			yaml_event_delete(&ev);
			if (r < 0)
				goto out;
			continue;
		}
		yaml_event_delete(&ev);
	}
	if (!root) {
		r = osh_diag_list_add(diags, name, 1, 1,
				      "empty policy (expected a mapping with version: 1)")
			?: -EINVAL;
		goto out;
	}
	*ret = root;
	r = 0;
out:
	yaml_parser_delete(&l.parser);
	return r;
}
