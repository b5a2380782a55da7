// SPDX-License-Identifier: Apache-2.0
// Emitters for the canonical form, one table of operations per format: JSON written directly
// (2-space indent, fixed key order chosen by the caller), YAML through libyaml's emitter.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

/* ---- growable text buffer ---- */

struct sbuf {
	char *s;
	size_t len, cap;
};

static int sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (!b->s || b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *ns;

		while (cap < b->len + n + 1)
			cap *= 2;
		ns = realloc(b->s, cap);
		if (!ns)
			return -ENOMEM;
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
	return 0;
}

static int sbuf_puts(struct sbuf *b, const char *s)
{
	return sbuf_add(b, s, strlen(s));
}

/* ---- JSON ---- */

#define EMIT_MAX_DEPTH 32

struct json_emitter {
	struct osh_emitter base;
	struct sbuf out;
	int depth;
	bool is_map[EMIT_MAX_DEPTH];
	size_t count[EMIT_MAX_DEPTH]; /* values (and keys) written at this level */
};

static struct json_emitter *J(struct osh_emitter *e)
{
	return (struct json_emitter *)e;
}

static void json_indent(struct json_emitter *j)
{
	sbuf_puts(&j->out, "\n");
	for (int i = 0; i < j->depth; i++)
		sbuf_puts(&j->out, "  ");
}

/* Separator before a value or key at the current level. In a map, even counts are keys. */
static void json_before(struct json_emitter *j)
{
	int d = j->depth;

	if (d == 0)
		return;
	if (j->is_map[d - 1] && j->count[d - 1] % 2 == 1) {
		sbuf_puts(&j->out, ": ");
	} else {
		if (j->count[d - 1] > 0)
			sbuf_puts(&j->out, ",");
		json_indent(j);
	}
	j->count[d - 1]++;
}

static int json_open(struct osh_emitter *e, bool map)
{
	struct json_emitter *j = J(e);

	if (j->depth >= EMIT_MAX_DEPTH)
		return e->error = -E2BIG;
	json_before(j);
	sbuf_puts(&j->out, map ? "{" : "[");
	j->is_map[j->depth] = map;
	j->count[j->depth] = 0;
	j->depth++;
	return 0;
}

static int json_close(struct osh_emitter *e)
{
	struct json_emitter *j = J(e);
	bool map = j->is_map[j->depth - 1];
	size_t n = j->count[j->depth - 1];

	j->depth--;
	if (n)
		json_indent(j);
	sbuf_puts(&j->out, map ? "}" : "]");
	return 0;
}

static int json_map_begin(struct osh_emitter *e)
{
	return json_open(e, true);
}

static int json_seq_begin(struct osh_emitter *e, bool flow)
{
	(void)flow;
	return json_open(e, false);
}

static int json_str(struct osh_emitter *e, const char *s)
{
	struct json_emitter *j = J(e);
	char esc[8];

	json_before(j);
	sbuf_puts(&j->out, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			sbuf_add(&j->out, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			sbuf_puts(&j->out, esc);
		} else {
			sbuf_add(&j->out, (const char *)p, 1);
		}
	}
	sbuf_puts(&j->out, "\"");
	return 0;
}

static int json_uint(struct osh_emitter *e, uint64_t v)
{
	char buf[24];

	json_before(J(e));
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return sbuf_puts(&J(e)->out, buf);
}

static int json_bool(struct osh_emitter *e, bool v)
{
	json_before(J(e));
	return sbuf_puts(&J(e)->out, v ? "true" : "false");
}

static int json_finish(struct osh_emitter *e, char **ret_text)
{
	struct json_emitter *j = J(e);

	if (sbuf_puts(&j->out, "\n") < 0 || !j->out.s)
		return -ENOMEM;
	if (e->error)
		return e->error;
	*ret_text = j->out.s;
	j->out.s = NULL;
	return 0;
}

static void json_free(struct osh_emitter *e)
{
	if (e)
		free(J(e)->out.s);
	free(e);
}

static const struct osh_emit_ops json_ops = {
	.map_begin = json_map_begin,
	.map_end = json_close,
	.seq_begin = json_seq_begin,
	.seq_end = json_close,
	.str = json_str,
	.uint = json_uint,
	.boolean = json_bool,
	.finish = json_finish,
	.free = json_free,
};

/* ---- YAML ---- */

struct yaml_emitter {
	struct osh_emitter base;
	yaml_emitter_t em;
	struct sbuf out;
	bool oom;
};

static struct yaml_emitter *Y(struct osh_emitter *e)
{
	return (struct yaml_emitter *)e;
}

static int yaml_write(void *data, unsigned char *buffer, size_t size)
{
	struct yaml_emitter *y = data;

	if (sbuf_add(&y->out, (const char *)buffer, size) < 0) {
		y->oom = true;
		return 0;
	}
	return 1;
}

static int yemit(struct osh_emitter *e, yaml_event_t *ev, int ok)
{
	if (e->error)
		return e->error;
	if (!ok)
		e->error = -ENOMEM;
	else if (!yaml_emitter_emit(&Y(e)->em, ev))
		e->error = Y(e)->em.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
	return e->error;
}

static int yaml_map_begin(struct osh_emitter *e)
{
	yaml_event_t ev;
	int ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);

	return yemit(e, &ev, ok);
}

static int yaml_map_end(struct osh_emitter *e)
{
	yaml_event_t ev;
	int ok = yaml_mapping_end_event_initialize(&ev);

	return yemit(e, &ev, ok);
}

static int yaml_seq_begin(struct osh_emitter *e, bool flow)
{
	yaml_event_t ev;
	int ok = yaml_sequence_start_event_initialize(
	    &ev, NULL, NULL, 1, flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);

	return yemit(e, &ev, ok);
}

static int yaml_seq_end(struct osh_emitter *e)
{
	yaml_event_t ev;
	int ok = yaml_sequence_end_event_initialize(&ev);

	return yemit(e, &ev, ok);
}

/* Plain only when no YAML reader could take the text for something else (a number, a boolean,
 * null, an indicator); everything else is double-quoted. */
static bool yaml_plain_safe(const char *s)
{
	static const char *const words[] = { "null", "true", "false", "yes", "no",
					     "on",   "off",  "y",     "n",   "~" };
	bool digits_only = true;

	if (!*s || strchr("-.+0123456789", *s))
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i]))
			return false;
	for (const char *p = s; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == '/'))
			return false;
		digits_only &= (c >= '0' && c <= '9') || c == '.';
	}
	return !digits_only;
}

static int yaml_scalar(struct osh_emitter *e, const char *s, bool plain)
{
	yaml_event_t ev;
	int ok = yaml_scalar_event_initialize(
	    &ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), plain, !plain,
	    plain ? YAML_PLAIN_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE);

	return yemit(e, &ev, ok);
}

static int yaml_str(struct osh_emitter *e, const char *s)
{
	return yaml_scalar(e, s, yaml_plain_safe(s));
}

static int yaml_uint(struct osh_emitter *e, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return yaml_scalar(e, buf, true);
}

static int yaml_bool(struct osh_emitter *e, bool v)
{
	return yaml_scalar(e, v ? "true" : "false", true);
}

static int yaml_finish(struct osh_emitter *e, char **ret_text)
{
	struct yaml_emitter *y = Y(e);
	yaml_event_t ev;

	yemit(e, &ev, yaml_document_end_event_initialize(&ev, 1));
	yemit(e, &ev, yaml_stream_end_event_initialize(&ev));
	if (!e->error && !yaml_emitter_flush(&y->em))
		e->error = -ENOMEM;
	if (y->oom)
		e->error = -ENOMEM;
	if (e->error)
		return e->error;
	if (!y->out.s && sbuf_puts(&y->out, "") < 0)
		return -ENOMEM;
	*ret_text = y->out.s;
	y->out.s = NULL;
	return 0;
}

static void yaml_free(struct osh_emitter *e)
{
	if (!e)
		return;
	yaml_emitter_delete(&Y(e)->em);
	free(Y(e)->out.s);
	free(e);
}

static const struct osh_emit_ops yaml_ops = {
	.map_begin = yaml_map_begin,
	.map_end = yaml_map_end,
	.seq_begin = yaml_seq_begin,
	.seq_end = yaml_seq_end,
	.str = yaml_str,
	.uint = yaml_uint,
	.boolean = yaml_bool,
	.finish = yaml_finish,
	.free = yaml_free,
};

int osh_emitter_new(enum osh_policy_format fmt, struct osh_emitter **ret)
{
	if (fmt == OSH_POLICY_FORMAT_JSON) {
		struct json_emitter *j = calloc(1, sizeof(*j));

		if (!j)
			return -ENOMEM;
		j->base.ops = &json_ops;
		*ret = &j->base;
		return 0;
	}
	if (fmt == OSH_POLICY_FORMAT_YAML) {
		struct yaml_emitter *y = calloc(1, sizeof(*y));
		yaml_event_t ev;

		if (!y)
			return -ENOMEM;
		y->base.ops = &yaml_ops;
		if (!yaml_emitter_initialize(&y->em)) {
			free(y);
			return -ENOMEM;
		}
		yaml_emitter_set_output(&y->em, yaml_write, y);
		yaml_emitter_set_unicode(&y->em, 1);
		yaml_emitter_set_width(&y->em, -1);
		yaml_emitter_set_indent(&y->em, 2);
		yemit(&y->base, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
		yemit(&y->base, &ev,
		      yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
		if (y->base.error) {
			yaml_free(&y->base);
			return -ENOMEM;
		}
		*ret = &y->base;
		return 0;
	}
	return -EINVAL;
}
