// SPDX-License-Identifier: Apache-2.0
// JSON front end: cJSON parses and checks the syntax; a small scanner then walks the same text in
// step with the cJSON tree to give every node its line and column (cJSON keeps no positions).
#include <errno.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "internal.h"

struct jscan {
	const char *s;
	size_t len, i;
	unsigned line, col;
	struct osh_arena *arena;
};

static void adv(struct jscan *j)
{
	if (j->i >= j->len)
		return;
	if (j->s[j->i] == '\n') {
		j->line++;
		j->col = 1;
	} else if (((unsigned char)j->s[j->i] & 0xc0) != 0x80) {
		/* Columns count characters: UTF-8 continuation bytes do not move the column. */
		j->col++;
	}
	j->i++;
}

static void skip_ws(struct jscan *j)
{
	/* cJSON treats every byte <= 32 as white space; follow it exactly. */
	while (j->i < j->len && (unsigned char)j->s[j->i] <= 32)
		adv(j);
}

static void skip_string(struct jscan *j)
{
	adv(j); /* opening quote */
	while (j->i < j->len && j->s[j->i] != '"') {
		if (j->s[j->i] == '\\')
			adv(j);
		adv(j);
	}
	adv(j); /* closing quote */
}

static void skip_token(struct jscan *j)
{
	while (j->i < j->len && !strchr(",]} \t\r\n", j->s[j->i]) && (unsigned char)j->s[j->i] > 32)
		adv(j);
}

static struct osh_node *jnode(struct jscan *j, enum osh_node_type t)
{
	struct osh_node *n = osh_arena_alloc(j->arena, sizeof(*n));

	if (n) {
		n->type = t;
		n->line = j->line;
		n->col = j->col;
	}
	return n;
}

static int set_text(struct jscan *j, struct osh_node *n, const char *s, size_t len, bool quoted)
{
	n->text = osh_arena_strndup(j->arena, s, len);
	n->len = len;
	n->quoted = quoted;
	return n->text ? 0 : -ENOMEM;
}

static int scan_value(struct jscan *j, const cJSON *item, int depth, struct osh_node **ret);

static int scan_container(struct jscan *j, const cJSON *item, struct osh_node *n, int depth)
{
	bool is_map = cJSON_IsObject(item);
	size_t count = 0, k = 0;
	const cJSON *c;
	int r;

	cJSON_ArrayForEach (c, item) {
		count++;
	}
	n->n = count;
	n->items = osh_arena_array(j->arena, count ? count : 1, sizeof(*n->items));
	if (is_map)
		n->keys = osh_arena_array(j->arena, count ? count : 1, sizeof(*n->keys));
	if (!n->items || (is_map && !n->keys))
		return -ENOMEM;
	adv(j); /* '{' or '[' */
	cJSON_ArrayForEach (c, item) {
		skip_ws(j);
		if (is_map) {
			struct osh_node *key = jnode(j, OSH_NODE_SCALAR);

			if (!key)
				return -ENOMEM;
			skip_string(j);
			r = set_text(j, key, c->string ? c->string : "",
				     c->string ? strlen(c->string) : 0, true);
			if (r < 0)
				return r;
			n->keys[k] = key;
			skip_ws(j);
			adv(j); /* ':' */
			skip_ws(j);
		}
		r = scan_value(j, c, depth + 1, &n->items[k]);
		if (r < 0)
			return r;
		k++;
		skip_ws(j);
		adv(j); /* ',' or the closing bracket */
	}
	if (count == 0) {
		skip_ws(j);
		adv(j);
	}
	return 0;
}

static int scan_value(struct jscan *j, const cJSON *item, int depth, struct osh_node **ret)
{
	struct osh_node *n;
	size_t start;
	int r;

	skip_ws(j);
	if (depth > OSH_NODE_MAX_DEPTH)
		return -ELOOP;
	if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
		n = jnode(j, cJSON_IsObject(item) ? OSH_NODE_MAP : OSH_NODE_SEQ);
		if (!n)
			return -ENOMEM;
		r = scan_container(j, item, n, depth);
	} else if (cJSON_IsString(item)) {
		n = jnode(j, OSH_NODE_SCALAR);
		if (!n)
			return -ENOMEM;
		skip_string(j);
		r = set_text(j, n, item->valuestring, strlen(item->valuestring), true);
	} else {
		/* Numbers, true, false, null: keep the source token so that 443.0 or 1e3 stay
		 * distinguishable from an integer. */
		n = jnode(j, OSH_NODE_SCALAR);
		if (!n)
			return -ENOMEM;
		start = j->i;
		skip_token(j);
		r = set_text(j, n, j->s + start, j->i - start, false);
	}
	if (r < 0)
		return r;
	*ret = n;
	return 0;
}

/* Line and column of byte offset off, for cJSON's error position. */
static void offset_pos(const char *s, size_t len, size_t off, unsigned *line, unsigned *col)
{
	struct jscan j = { .s = s, .len = len, .line = 1, .col = 1 };

	while (j.i < off && j.i < len)
		adv(&j);
	*line = j.line;
	*col = j.col;
}

int osh_json_load(struct osh_arena *a, const char *name, const char *buf, size_t len,
		  struct osh_node **ret, struct osh_diag_list *diags)
{
	struct jscan j = { .s = buf, .len = len, .line = 1, .col = 1, .arena = a };
	const char *end = NULL;
	struct osh_node *root;
	unsigned line, col;
	cJSON *doc;
	int r;

	doc = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (!doc) {
		size_t off = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0;

		offset_pos(buf, len, off, &line, &col);
		return osh_diag_list_add(diags, name, line, col, "JSON syntax error") ?: -EINVAL;
	}
	/* Trailing content after the value is an error, as for any JSON document. */
	if (end) {
		size_t off = (size_t)(end - buf);

		while (off < len && (unsigned char)buf[off] <= 32)
			off++;
		if (off < len) {
			offset_pos(buf, len, off, &line, &col);
			cJSON_Delete(doc);
			return osh_diag_list_add(diags, name, line, col,
						 "JSON syntax error: unexpected data after the "
						 "document")
				   ?: -EINVAL;
		}
	}
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		j.i = 3; /* cJSON skips a UTF-8 byte order mark */
	r = scan_value(&j, doc, 0, &root);
	cJSON_Delete(doc);
	if (r == -ELOOP)
		return osh_diag_list_add(diags, name, 1, 1, "nesting too deep") ?: -EINVAL;
	if (r < 0)
		return r;
	*ret = root;
	return 0;
}
