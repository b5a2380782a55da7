// SPDX-License-Identifier: Apache-2.0
// The OpenShell v1 schema as tables of fields: walks the document tree, fills the IR and reports
// every problem at the line and column of the node at fault, as `<field path>: <what's wrong>`.
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct ctx {
	struct osh_policy *p;
	struct osh_arena *a;
	const char *file;
	struct osh_diag_list *diags;
	int errors;
	int oom;
	size_t n_endpoints;
	char path[512];
	size_t plen;
};

/* ---- messages ---- */

static void err(struct ctx *c, const struct osh_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err(struct ctx *c, const struct osh_node *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->errors++;
	if (c->plen)
		c->oom |= osh_diag_list_add(c->diags, c->file, n->line, n->col, "%s: %s", c->path,
					    msg) < 0;
	else
		c->oom |= osh_diag_list_add(c->diags, c->file, n->line, n->col, "%s", msg) < 0;
}

static size_t path_push(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(struct ctx *c, const char *fmt, ...)
{
	size_t mark = c->plen;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(c->path + c->plen, sizeof(c->path) - c->plen, fmt, ap);
	va_end(ap);
	if (r > 0)
		c->plen += (size_t)r < sizeof(c->path) - c->plen ? (size_t)r
								 : sizeof(c->path) - c->plen - 1;
	/* The root's children have no leading dot. */
	if (mark == 0 && c->path[0] == '.') {
		memmove(c->path, c->path + 1, c->plen);
		c->plen--;
	}
	return mark;
}

static void path_pop(struct ctx *c, size_t mark)
{
	c->plen = mark;
	c->path[mark] = 0;
}

/* A short, printable rendering of user text for messages. */
static const char *show(struct ctx *c, const char *s, size_t len)
{
	static const size_t max = 60;
	size_t n = len > max ? max : len;
	char *out = osh_arena_alloc(c->a, n + 4);

	if (!out)
		return "?";
	for (size_t i = 0; i < n; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) || (s[i] & 0x80) ? s[i] : '?';
	if (len > max)
		memcpy(out + n, "...", 3);
	out[len > max ? n + 3 : n] = '\0';
	return out;
}

static bool is_null(const struct osh_node *n)
{
	return n->type == OSH_NODE_SCALAR && !n->quoted &&
	       (n->len == 0 || !strcmp(n->text, "~") || !strcmp(n->text, "null") ||
		!strcmp(n->text, "Null") || !strcmp(n->text, "NULL"));
}

/* "a mapping", "a list", "null" or the quoted text: what the user wrote, for "got ...". */
static const char *describe(struct ctx *c, const struct osh_node *n)
{
	char *s;

	if (n->type == OSH_NODE_MAP)
		return "a mapping";
	if (n->type == OSH_NODE_SEQ)
		return "a list";
	if (is_null(n))
		return "null";
	s = osh_arena_alloc(c->a, 70);
	if (!s)
		return "?";
	snprintf(s, 70, "'%s'", show(c, n->text, n->len));
	return s;
}

/* ---- scalars ---- */

static bool utf8_clean(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char b = s[i];
		size_t k;

		if (b < 0x20 || b == 0x7f)
			return false;
		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			k = 1;
		else if (b >= 0xe0 && b <= 0xef)
			k = 2;
		else if (b >= 0xf0 && b <= 0xf4)
			k = 3;
		else
			return false;
		for (size_t j = 1; j <= k; j++)
			if (i + j >= len || (s[i + j] & 0xc0) != 0x80)
				return false;
		/* Overlong 3- and 4-byte forms, surrogates and > U+10FFFF. */
		if ((b == 0xe0 && s[i + 1] < 0xa0) || (b == 0xed && s[i + 1] > 0x9f) ||
		    (b == 0xf0 && s[i + 1] < 0x90) || (b == 0xf4 && s[i + 1] > 0x8f))
			return false;
		i += k + 1;
	}
	return true;
}

static const char *get_str(struct ctx *c, const struct osh_node *n, const char *what)
{
	if (n->type != OSH_NODE_SCALAR || is_null(n)) {
		err(c, n, "expected %s, got %s", what, describe(c, n));
		return NULL;
	}
	if (n->len > OSH_POLICY_MAX_STRING_LEN) {
		err(c, n, "too long: %zu bytes (at most %d)", n->len, OSH_POLICY_MAX_STRING_LEN);
		return NULL;
	}
	if (strlen(n->text) != n->len) {
		err(c, n, "contains a NUL byte (expected %s)", what);
		return NULL;
	}
	if (!utf8_clean((const unsigned char *)n->text, n->len)) {
		err(c, n, "contains a control character or invalid UTF-8 (expected %s)", what);
		return NULL;
	}
	return n->text;
}

static bool get_uint(struct ctx *c, const struct osh_node *n, uint64_t min, uint64_t max,
		     const char *what, uint64_t *ret)
{
	uint64_t v = 0;

	/* Leading zeros are refused: YAML 1.1 readers take them for octal. */
	if (n->type != OSH_NODE_SCALAR || n->quoted || n->len == 0 || n->len > 19 ||
	    (n->len > 1 && n->text[0] == '0'))
		goto bad;
	for (size_t i = 0; i < n->len; i++) {
		if (n->text[i] < '0' || n->text[i] > '9')
			goto bad;
		v = v * 10 + (uint64_t)(n->text[i] - '0');
	}
	if (v < min || v > max)
		goto bad;
	*ret = v;
	return true;
bad:
	if (n->type == OSH_NODE_SCALAR && n->quoted)
		err(c, n, "expected %s, got the string \"%s\" (write numbers without quotes)", what,
		    show(c, n->text, n->len));
	else
		err(c, n, "expected %s, got %s", what, describe(c, n));
	return false;
}

static bool get_bool(struct ctx *c, const struct osh_node *n, bool *ret)
{
	static const char *const t[] = { "true", "True", "TRUE" }, *const f[] = { "false", "False",
										  "FALSE" };

	if (n->type == OSH_NODE_SCALAR && !n->quoted) {
		for (size_t i = 0; i < 3; i++) {
			if (!strcmp(n->text, t[i])) {
				*ret = true;
				return true;
			}
			if (!strcmp(n->text, f[i])) {
				*ret = false;
				return true;
			}
		}
	}
	if (n->type == OSH_NODE_SCALAR && n->quoted)
		err(c, n, "expected true or false, got the string \"%s\" (write it without quotes)",
		    show(c, n->text, n->len));
	else
		err(c, n, "expected true or false, got %s", describe(c, n));
	return false;
}

/* ---- enums as tables ---- */

enum { E_OK = 0, E_UNSUPPORTED = 1, E_NOOP = 2 };

struct enum_val {
	const char *name;
	int value;
	int flags;
};

static bool get_enum(struct ctx *c, const struct osh_node *n, const struct enum_val *t, size_t nt,
		     bool icase, int *ret)
{
	char expected[256] = "";
	size_t el = 0;
	const char *s;

	if (n->type != OSH_NODE_SCALAR || is_null(n))
		goto bad;
	s = n->text;
	for (size_t i = 0; i < nt; i++) {
		if (!(icase ? strcasecmp(s, t[i].name) : strcmp(s, t[i].name))) {
			if (t[i].flags == E_UNSUPPORTED) {
				err(c, n, "'%s' is not enforceable yet by osh (see docs/policy.md)",
				    t[i].name);
				return false;
			}
			*ret = t[i].value;
			return true;
		}
	}
bad:
	for (size_t i = 0; i < nt; i++)
		if (t[i].flags != E_UNSUPPORTED)
			el += (size_t)snprintf(expected + el, sizeof(expected) - el, "%s%s",
					       el ? ", " : "", t[i].name);
	err(c, n, "expected one of %s, got %s", expected, describe(c, n));
	return false;
}

#define ENUM(c, n, t, icase, ret) get_enum(c, n, t, sizeof(t) / sizeof((t)[0]), icase, ret)

/* ---- mappings as tables of fields ---- */

enum { F_OK = 0, F_UNSUPPORTED = 1, F_DEPRECATED = 2 };

struct field {
	const char *name;
	void (*parse)(struct ctx *c, const struct osh_node *v, void *obj);
	int flags;
};

#define NFIELDS(t) (sizeof(t) / sizeof((t)[0]))
#define MAX_FIELDS 32

struct keyidx {
	const char *key;
	size_t i;
};

static int keyidx_cmp(const void *x, const void *y)
{
	const struct keyidx *a = x, *b = y;
	int r = strcmp(a->key, b->key);

	return r ? r : (a->i > b->i) - (a->i < b->i);
}

/* Reports non-string and duplicate keys; marks in skip[] the entries not to be read. Sorting
 * keeps this O(n log n) for maps with many keys. Returns false on allocation failure. */
static bool check_keys(struct ctx *c, const struct osh_node *n, bool *skip)
{
	struct keyidx *ki = malloc((n->n ? n->n : 1) * sizeof(*ki));
	size_t m = 0;

	if (!ki) {
		c->oom = 1;
		return false;
	}
	for (size_t i = 0; i < n->n; i++) {
		const struct osh_node *k = n->keys[i];

		skip[i] = false;
		if (k->type != OSH_NODE_SCALAR || is_null(k) || strlen(k->text) != k->len) {
			err(c, k, "mapping keys must be non-empty strings, got %s", describe(c, k));
			skip[i] = true;
			continue;
		}
		if (!utf8_clean((const unsigned char *)k->text, k->len)) {
			err(c, k, "mapping key contains a control character or invalid UTF-8");
			skip[i] = true;
			continue;
		}
		ki[m++] = (struct keyidx){ k->text, i };
	}
	qsort(ki, m, sizeof(*ki), keyidx_cmp);
	for (size_t j = 1; j < m; j++) {
		size_t first = j - 1;

		while (first > 0 && !strcmp(ki[first - 1].key, ki[j].key))
			first--;
		if (strcmp(ki[j - 1].key, ki[j].key))
			continue;
		err(c, n->keys[ki[j].i], "duplicate key '%s' (first at line %u column %u)",
		    show(c, ki[j].key, strlen(ki[j].key)), n->keys[ki[first].i]->line,
		    n->keys[ki[first].i]->col);
		skip[ki[j].i] = true;
	}
	free(ki);
	return true;
}

/* Walks a mapping whose keys are given by fields[]. vals[i]/keys[i] receive the nodes of field
 * i (NULL when absent). Returns false when n is not a mapping. */
static bool walk_map(struct ctx *c, const struct osh_node *n, const char *what,
		     const struct field *fields, size_t nf, void *obj, const struct osh_node **vals,
		     const struct osh_node **keys)
{
	bool *skip;

	for (size_t i = 0; i < nf; i++) {
		if (vals)
			vals[i] = NULL;
		if (keys)
			keys[i] = NULL;
	}
	if (n->type != OSH_NODE_MAP) {
		err(c, n, "expected %s, got %s", what, describe(c, n));
		return false;
	}
	skip = malloc(n->n ? n->n : 1);
	if (!skip) {
		c->oom = 1;
		return false;
	}
	if (!check_keys(c, n, skip))
		goto out;
	for (size_t i = 0; i < n->n; i++) {
		const struct osh_node *k = n->keys[i], *v = n->items[i];
		const struct field *f = NULL;
		size_t mark;

		if (skip[i])
			continue;
		for (size_t j = 0; j < nf; j++) {
			if (!strcmp(fields[j].name, k->text)) {
				f = &fields[j];
				if (vals)
					vals[j] = v;
				if (keys)
					keys[j] = k;
				break;
			}
		}
		if (!f) {
			char expected[512] = "";
			size_t el = 0;

			for (size_t j = 0; j < nf && el < sizeof(expected); j++)
				if (fields[j].flags == F_OK)
					el += (size_t)snprintf(expected + el, sizeof(expected) - el,
							       "%s%s", el ? ", " : "",
							       fields[j].name);
			err(c, k, "unknown key '%s' (expected one of %s)", show(c, k->text, k->len),
			    expected);
			continue;
		}
		mark = path_push(c, ".%s", f->name);
		if (f->flags == F_UNSUPPORTED)
			err(c, k,
			    "not enforceable yet by osh; remove it (docs/policy.md lists what "
			    "osh enforces)");
		else
			f->parse(c, v, obj);
		path_pop(c, mark);
	}
out:
	free(skip);
	return true;
}

static void parse_unused(struct ctx *c, const struct osh_node *v, void *obj)
{
	(void)c;
	(void)v;
	(void)obj;
}

/* ---- filesystem_policy ---- */

/* Lexical normalisation: collapses '//' and '/./', drops a trailing '/'. Rejects relative paths
 * and '..' components, which would make the rule depend on what the path resolves to. */
static const char *norm_path(struct ctx *c, const struct osh_node *n, const char *what)
{
	const char *s = get_str(c, n, what);
	char *out;
	size_t o = 0;

	if (!s)
		return NULL;
	if (n->len > OSH_POLICY_MAX_PATH_LEN) {
		err(c, n, "path too long: %zu bytes (at most %d)", n->len, OSH_POLICY_MAX_PATH_LEN);
		return NULL;
	}
	if (s[0] != '/') {
		err(c, n, "expected an absolute path, got %s", describe(c, n));
		return NULL;
	}
	out = osh_arena_alloc(c->a, n->len + 1);
	if (!out) {
		c->oom = 1;
		return NULL;
	}
	for (const char *p = s; *p;) {
		const char *e;
		size_t l;

		while (*p == '/')
			p++;
		e = strchrnul(p, '/');
		l = (size_t)(e - p);
		if (l == 2 && p[0] == '.' && p[1] == '.') {
			err(c, n, "'..' is not allowed in paths, got %s", describe(c, n));
			return NULL;
		}
		if (l && !(l == 1 && p[0] == '.')) {
			out[o++] = '/';
			memcpy(out + o, p, l);
			o += l;
		}
		p = e;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	return out;
}

struct path_list {
	const char ***arr;
	size_t *n;
	const char *what;
	bool no_root;
};

/* Records where path was written (osh_policy_fs_path_pos finds the first). At most
 * OSH_POLICY_MAX_FS_PATHS paths are valid, but a rejected document may list more: the array
 * grows in the arena. */
static void fs_pos_add(struct ctx *c, const char *path, const struct osh_node *n)
{
	struct osh_fs_policy *fs = &c->p->filesystem;

	if ((fs->n_pos & (fs->n_pos - 1)) == 0) { /* 0, 1, 2, 4, ...: full, double it */
		struct osh_fs_path_pos *v =
		    osh_arena_array(c->a, fs->n_pos ? 2 * fs->n_pos : 1, sizeof(*v));

		if (!v) {
			c->oom = 1;
			return;
		}
		if (fs->n_pos)
			memcpy(v, fs->pos, fs->n_pos * sizeof(*v));
		fs->pos = v;
	}
	fs->pos[fs->n_pos++] = (struct osh_fs_path_pos){ path, { n->line, n->col } };
}

static void parse_path_list(struct ctx *c, const struct osh_node *v, const struct path_list *pl)
{
	const char **arr;

	if (v->type != OSH_NODE_SEQ) {
		err(c, v, "expected a list of absolute paths, got %s", describe(c, v));
		return;
	}
	arr = osh_arena_array(c->a, v->n ? v->n : 1, sizeof(*arr));
	if (!arr) {
		c->oom = 1;
		return;
	}
	*pl->arr = arr;
	for (size_t i = 0; i < v->n; i++) {
		size_t mark = path_push(c, "[%zu]", i);
		const char *s = norm_path(c, v->items[i], "an absolute path");

		if (s && pl->no_root && !strcmp(s, "/"))
			err(c, v->items[i], "'/' is not allowed in %s (expected a narrower path)",
			    pl->what);
		else if (s) {
			arr[(*pl->n)++] = s;
			fs_pos_add(c, s, v->items[i]);
		}
		path_pop(c, mark);
	}
}

static void fs_include_workdir(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_fs_policy *fs = obj;

	get_bool(c, v, &fs->include_workdir);
}

static void fs_read_only(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_fs_policy *fs = obj;

	parse_path_list(
	    c, v, &(struct path_list){ &fs->read_only, &fs->n_read_only, "read_only", false });
}

static void fs_read_write(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_fs_policy *fs = obj;

	parse_path_list(
	    c, v, &(struct path_list){ &fs->read_write, &fs->n_read_write, "read_write", true });
}

static void fs_deny(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_fs_policy *fs = obj;

	parse_path_list(c, v, &(struct path_list){ &fs->deny, &fs->n_deny, "deny", true });
}

static const struct field fs_fields[] = {
	{ "include_workdir", fs_include_workdir, F_OK },
	{ "read_only", fs_read_only, F_OK },
	{ "read_write", fs_read_write, F_OK },
	{ "deny", fs_deny, F_OK },
};

static void top_filesystem(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_policy *p = obj;
	const struct osh_node *vals[NFIELDS(fs_fields)];
	size_t total = 0;

	if (!walk_map(c, v, "a mapping", fs_fields, NFIELDS(fs_fields), &p->filesystem, vals, NULL))
		return;
	p->filesystem.present = true;
	for (size_t i = 1; i < NFIELDS(fs_fields); i++)
		if (vals[i] && vals[i]->type == OSH_NODE_SEQ)
			total += vals[i]->n;
	if (total > OSH_POLICY_MAX_FS_PATHS)
		err(c, v, "too many paths: %zu (at most %d over read_only, read_write and deny)",
		    total, OSH_POLICY_MAX_FS_PATHS);
}

/* ---- landlock, process ---- */

static const struct enum_val compat_vals[] = {
	{ "best_effort", OSH_LANDLOCK_BEST_EFFORT, E_OK },
	{ "hard_requirement", OSH_LANDLOCK_HARD_REQUIREMENT, E_OK },
};

static void ll_compat(struct ctx *c, const struct osh_node *v, void *obj)
{
	int x;

	if (ENUM(c, v, compat_vals, false, &x))
		*(enum osh_landlock_compat *)obj = (enum osh_landlock_compat)x;
}

static const struct field landlock_fields[] = {
	{ "compatibility", ll_compat, F_OK },
};

static void top_landlock(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_policy *p = obj;

	walk_map(c, v, "a mapping", landlock_fields, NFIELDS(landlock_fields), &p->landlock_compat,
		 NULL, NULL);
}

static void parse_ident(struct ctx *c, const struct osh_node *v, struct osh_ident *id)
{
	const char *s;
	uint64_t x = 0;
	size_t i;

	if (v->type == OSH_NODE_SCALAR && !is_null(v)) {
		s = v->text;
		if (!strcmp(s, "sandbox")) {
			id->kind = OSH_IDENT_SANDBOX;
			return;
		}
		if (!strcmp(s, "root")) {
			err(c, v,
			    "root is not allowed (expected \"sandbox\" or a numeric id in "
			    "1..4294967294)");
			return;
		}
		for (i = 0; i < v->len && i < 11 && s[i] >= '0' && s[i] <= '9'; i++)
			x = x * 10 + (uint64_t)(s[i] - '0');
		if (i == v->len && i > 0 && i < 11 && !(i > 1 && s[0] == '0')) {
			if (x == 0) {
				err(c, v,
				    "id 0 (root) is not allowed (expected \"sandbox\" or a "
				    "numeric id in 1..4294967294)");
				return;
			}
			if (x <= 4294967294u) {
				id->kind = OSH_IDENT_ID;
				id->id = (uint32_t)x;
				return;
			}
		}
	}
	err(c, v, "expected \"sandbox\" or a numeric id in 1..4294967294, got %s", describe(c, v));
}

static void proc_user(struct ctx *c, const struct osh_node *v, void *obj)
{
	parse_ident(c, v, &((struct osh_process_policy *)obj)->run_as_user);
}

static void proc_group(struct ctx *c, const struct osh_node *v, void *obj)
{
	parse_ident(c, v, &((struct osh_process_policy *)obj)->run_as_group);
}

static const struct field process_fields[] = {
	{ "run_as_user", proc_user, F_OK },
	{ "run_as_group", proc_group, F_OK },
};

static void top_process(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_policy *p = obj;

	walk_map(c, v, "a mapping", process_fields, NFIELDS(process_fields), &p->process, NULL,
		 NULL);
}

/* ---- endpoints ---- */

struct ep_build {
	struct osh_endpoint ep;
	bool protocol_bad; /* protocol was written but invalid: skip checks that depend on it */
};

static void parse_host(struct ctx *c, const struct osh_node *v, struct osh_endpoint *ep)
{
	const char *s = get_str(c, v, "a host name, IP address or wildcard");
	const char *bad;
	char *h;
	size_t len, labels = 1;

	if (!s)
		return;
	len = v->len;
	h = osh_arena_strndup(c->a, s, len);
	if (!h) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < len; i++)
		h[i] = (char)tolower((unsigned char)h[i]);
	if (strchr(h, ':') || (len && h[0] >= '0' && h[0] <= '9' && h[len - 1] >= '0' &&
			       h[len - 1] <= '9' && strspn(h, "0123456789.") == len)) {
		if (osh_cidr_parse(h, &ep->host_addr) < 0 || strchr(h, '/')) {
			err(c, v, "expected an IP address, got %s", describe(c, v));
			return;
		}
		bad = osh_cidr_forbidden(&ep->host_addr);
		if (bad) {
			err(c, v, "%s is a %s address, which osh never allows as a destination",
			    describe(c, v), bad);
			return;
		}
		ep->host_kind = ep->host_addr.family == 4 ? OSH_HOST_IPV4 : OSH_HOST_IPV6;
		h = osh_arena_alloc(c->a, 64);
		if (!h) {
			c->oom = 1;
			return;
		}
		osh_cidr_format(&ep->host_addr, h, 64);
		ep->host = h;
		return;
	}
	if (len == 0 || len > OSH_POLICY_MAX_HOST_LEN) {
		err(c, v, "expected a host name of 1..%d characters, got %s",
		    OSH_POLICY_MAX_HOST_LEN, describe(c, v));
		return;
	}
	if (!strcmp(h, "*") || !strcmp(h, "**")) {
		err(c, v, "a bare wildcard matches every host (expected e.g. *.example.com)");
		return;
	}
	for (const char *p = h;; p++) {
		const char *e = strchrnul(p, '.');
		size_t l = (size_t)(e - p);

		if (l == 0 || l > 63) {
			err(c, v, "expected a host name with labels of 1..63 characters, got %s",
			    describe(c, v));
			return;
		}
		for (size_t i = 0; i < l; i++) {
			char ch = p[i];

			if (!(isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '*')) {
				err(c, v,
				    "invalid character '%c' in host %s (expected a DNS name, "
				    "IP address or wildcard like *.example.com)",
				    isprint((unsigned char)ch) ? ch : '?', describe(c, v));
				return;
			}
		}
		if (p != h && memchr(p, '*', l)) {
			err(c, v, "wildcards are allowed in the first label only, got %s",
			    describe(c, v));
			return;
		}
		if (p == h && memmem(p, l, "**", 2) && !(l == 2)) {
			err(c, v,
			    "'**' must be the whole first label (as in **.example.com), got %s",
			    describe(c, v));
			return;
		}
		if (!*e)
			break;
		labels++;
		p = e;
	}
	if (strchr(h, '*')) {
		if (labels <= 2) {
			err(c, v,
			    "wildcard over a top-level domain is not allowed, got %s (expected "
			    "e.g. *.example.com)",
			    describe(c, v));
			return;
		}
		ep->host_kind = OSH_HOST_WILDCARD;
	} else {
		ep->host_kind = OSH_HOST_NAME;
	}
	ep->host = h;
}

static void ep_host(struct ctx *c, const struct osh_node *v, void *obj)
{
	parse_host(c, v, &((struct ep_build *)obj)->ep);
}

static void ep_port(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_endpoint *ep = &((struct ep_build *)obj)->ep;
	uint64_t x;

	if (!get_uint(c, v, 1, 65535, "a port number in 1..65535", &x))
		return;
	ep->ports = osh_arena_alloc(c->a, sizeof(*ep->ports));
	if (!ep->ports) {
		c->oom = 1;
		return;
	}
	ep->ports[0] = (uint16_t)x;
	ep->n_ports = 1;
}

static void ep_ports(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_endpoint *ep = &((struct ep_build *)obj)->ep;

	if (v->type != OSH_NODE_SEQ || v->n == 0) {
		err(c, v, "expected a non-empty list of port numbers, got %s",
		    v->type == OSH_NODE_SEQ ? "an empty list" : describe(c, v));
		return;
	}
	if (v->n > OSH_POLICY_MAX_PORTS) {
		err(c, v, "too many ports: %zu (at most %d)", v->n, OSH_POLICY_MAX_PORTS);
		return;
	}
	ep->ports = osh_arena_array(c->a, v->n, sizeof(*ep->ports));
	if (!ep->ports) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < v->n; i++) {
		size_t mark = path_push(c, "[%zu]", i);
		uint64_t x;

		if (get_uint(c, v->items[i], 1, 65535, "a port number in 1..65535", &x))
			ep->ports[ep->n_ports++] = (uint16_t)x;
		path_pop(c, mark);
	}
}

static const struct enum_val protocol_vals[] = {
	{ "tcp", OSH_L7_TCP, E_OK },
	{ "rest", OSH_L7_REST, E_OK },
	{ "websocket", OSH_L7_WEBSOCKET, E_OK },
	{ "graphql", OSH_L7_GRAPHQL, E_OK },
	{ "sql", 0, E_UNSUPPORTED },
	{ "json-rpc", 0, E_UNSUPPORTED },
	{ "mcp", 0, E_UNSUPPORTED },
};

static void ep_protocol(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct ep_build *b = obj;
	int x;

	if (ENUM(c, v, protocol_vals, true, &x))
		b->ep.protocol = (enum osh_l7_protocol)x;
	else
		b->protocol_bad = true;
}

static const struct enum_val tls_vals[] = {
	{ "skip", OSH_TLS_SKIP, E_OK },
	/* Deprecated in OpenShell: accepted and dropped from the canonical form. */
	{ "terminate", OSH_TLS_DEFAULT, E_NOOP },
	{ "passthrough", OSH_TLS_DEFAULT, E_NOOP },
};

static void ep_tls(struct ctx *c, const struct osh_node *v, void *obj)
{
	int x;

	if (ENUM(c, v, tls_vals, false, &x))
		((struct ep_build *)obj)->ep.tls = (enum osh_tls_mode)x;
}

static const struct enum_val enforcement_vals[] = {
	{ "enforce", OSH_ENFORCE, E_OK },
	{ "audit", OSH_AUDIT, E_OK },
};

static void ep_enforcement(struct ctx *c, const struct osh_node *v, void *obj)
{
	int x;

	if (ENUM(c, v, enforcement_vals, false, &x))
		((struct ep_build *)obj)->ep.enforcement = (enum osh_enforcement)x;
}

static const struct enum_val access_vals[] = {
	{ "read-only", OSH_ACCESS_READ_ONLY, E_OK },
	{ "read-write", OSH_ACCESS_READ_WRITE, E_OK },
	{ "full", OSH_ACCESS_FULL, E_OK },
};

static void ep_access(struct ctx *c, const struct osh_node *v, void *obj)
{
	int x;

	if (ENUM(c, v, access_vals, false, &x))
		((struct ep_build *)obj)->ep.access = (enum osh_access)x;
}

/* -- L7 rules -- */

static void l7_method(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_l7_rule *r = obj;
	const char *s = get_str(c, v, "an HTTP method or \"*\"");
	char *m;

	if (!s)
		return;
	if (strcmp(s, "*")) {
		for (size_t i = 0; i < v->len; i++) {
			if (!isalpha((unsigned char)s[i]) || i >= 32) {
				err(c, v, "expected an HTTP method such as GET or \"*\", got %s",
				    describe(c, v));
				return;
			}
		}
	}
	m = osh_arena_strdup(c->a, s);
	if (!m) {
		c->oom = 1;
		return;
	}
	for (char *p = m; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	r->method = m;
}

static void l7_path(struct ctx *c, const struct osh_node *v, void *obj)
{
	const char *s = get_str(c, v, "a path glob");

	if (!s)
		return;
	if (s[0] != '/' && strcmp(s, "*") && strcmp(s, "**")) {
		err(c, v, "expected a path glob starting with '/', got %s", describe(c, v));
		return;
	}
	((struct osh_l7_rule *)obj)->path = s;
}

static const char **parse_glob_list(struct ctx *c, const struct osh_node *v, size_t *ret_n)
{
	const char **arr;
	size_t n = 0;

	if (v->type != OSH_NODE_SEQ || v->n == 0) {
		err(c, v, "expected a non-empty list of globs, got %s",
		    v->type == OSH_NODE_SEQ ? "an empty list" : describe(c, v));
		return NULL;
	}
	arr = osh_arena_array(c->a, v->n, sizeof(*arr));
	if (!arr) {
		c->oom = 1;
		return NULL;
	}
	for (size_t i = 0; i < v->n; i++) {
		size_t mark = path_push(c, "[%zu]", i);
		const char *s = get_str(c, v->items[i], "a glob string");

		if (s)
			arr[n++] = s;
		path_pop(c, mark);
	}
	*ret_n = n;
	return arr;
}

static void qany(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_query_match *q = obj;

	q->any = parse_glob_list(c, v, &q->n_any);
}

static const struct field qany_fields[] = {
	{ "any", qany, F_OK },
};

static void l7_query(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_l7_rule *r = obj;
	bool *skip;

	if (v->type != OSH_NODE_MAP) {
		err(c, v, "expected a mapping of parameter name to glob, got %s", describe(c, v));
		return;
	}
	skip = malloc(v->n ? v->n : 1);
	r->query = osh_arena_array(c->a, v->n ? v->n : 1, sizeof(*r->query));
	if (!skip || !r->query) {
		free(skip);
		c->oom = 1;
		return;
	}
	if (check_keys(c, v, skip)) {
		for (size_t i = 0; i < v->n; i++) {
			const struct osh_node *k = v->keys[i], *x = v->items[i];
			struct osh_query_match *q = &r->query[r->n_query];
			const struct osh_node *vals[1];
			size_t mark;

			if (skip[i])
				continue;
			memset(q, 0, sizeof(*q));
			mark = path_push(c, ".%s", k->text);
			q->name = k->text;
			if (x->type == OSH_NODE_MAP) {
				walk_map(c, x, "a mapping", qany_fields, 1, q, vals, NULL);
				if (!vals[0])
					err(c, x, "missing required key 'any'");
			} else if (get_str(c, x, "a glob string or {any: [globs]}")) {
				q->any = osh_arena_alloc(c->a, sizeof(*q->any));
				if (q->any) {
					q->any[0] = x->text;
					q->n_any = 1;
				}
			}
			if (q->n_any)
				r->n_query++;
			path_pop(c, mark);
		}
	}
	free(skip);
}

static const struct field l7_fields[] = {
	{ "method", l7_method, F_OK },
	{ "path", l7_path, F_OK },
	{ "query", l7_query, F_OK },
	{ "command", parse_unused, F_UNSUPPORTED },
	{ "operation_type", parse_unused, F_UNSUPPORTED },
	{ "operation_name", parse_unused, F_UNSUPPORTED },
	{ "fields", parse_unused, F_UNSUPPORTED },
	{ "tool", parse_unused, F_UNSUPPORTED },
	{ "params", parse_unused, F_UNSUPPORTED },
};

/* One allow clause or deny rule; returns false when it has nothing to match on. */
static bool parse_l7(struct ctx *c, const struct osh_node *v, struct osh_l7_rule *r)
{
	const struct osh_node *vals[NFIELDS(l7_fields)];
	bool any = false;
	int before = c->errors;

	r->pos = (struct osh_pos){ v->line, v->col };
	if (!walk_map(c, v, "a mapping with method, path or query", l7_fields, NFIELDS(l7_fields),
		      r, vals, NULL))
		return false;
	for (size_t i = 0; i < NFIELDS(l7_fields); i++)
		any |= vals[i] != NULL;
	if (!any) {
		err(c, v, "expected at least one of method, path, query");
		return false;
	}
	return c->errors == before;
}

static void rule_allow(struct ctx *c, const struct osh_node *v, void *obj)
{
	parse_l7(c, v, obj);
}

static const struct field rule_fields[] = {
	{ "allow", rule_allow, F_OK },
};

static void parse_rule_list(struct ctx *c, const struct osh_node *v, struct osh_l7_rule **ret,
			    size_t *ret_n, bool deny)
{
	struct osh_l7_rule *arr;

	if (v->type != OSH_NODE_SEQ || v->n == 0) {
		err(c, v, "expected a non-empty list of %s, got %s",
		    deny ? "deny rules" : "rules ({allow: {...}})",
		    v->type == OSH_NODE_SEQ ? "an empty list" : describe(c, v));
		return;
	}
	if (v->n > OSH_POLICY_MAX_L7_RULES) {
		err(c, v, "too many rules: %zu (at most %d)", v->n, OSH_POLICY_MAX_L7_RULES);
		return;
	}
	arr = osh_arena_array(c->a, v->n, sizeof(*arr));
	if (!arr) {
		c->oom = 1;
		return;
	}
	*ret = arr;
	for (size_t i = 0; i < v->n; i++) {
		const struct osh_node *x = v->items[i];
		size_t mark = path_push(c, "[%zu]", i);
		bool ok;

		memset(&arr[*ret_n], 0, sizeof(arr[*ret_n]));
		if (deny) {
			ok = parse_l7(c, x, &arr[*ret_n]);
		} else {
			const struct osh_node *vals[1];
			int before = c->errors;

			ok = walk_map(c, x, "a mapping with an allow rule", rule_fields, 1,
				      &arr[*ret_n], vals, NULL);
			if (ok && !vals[0])
				err(c, x, "missing required key 'allow'");
			ok = ok && vals[0] && c->errors == before;
		}
		if (ok)
			(*ret_n)++;
		path_pop(c, mark);
	}
}

static void ep_rules(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_endpoint *ep = &((struct ep_build *)obj)->ep;

	parse_rule_list(c, v, &ep->rules, &ep->n_rules, false);
}

static void ep_deny_rules(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_endpoint *ep = &((struct ep_build *)obj)->ep;

	parse_rule_list(c, v, &ep->deny_rules, &ep->n_deny_rules, true);
}

static void ep_allowed_ips(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_endpoint *ep = &((struct ep_build *)obj)->ep;

	if (v->type != OSH_NODE_SEQ || v->n == 0) {
		err(c, v, "expected a non-empty list of IP addresses or CIDRs, got %s",
		    v->type == OSH_NODE_SEQ ? "an empty list" : describe(c, v));
		return;
	}
	ep->allowed_ips = osh_arena_array(c->a, v->n, sizeof(*ep->allowed_ips));
	if (!ep->allowed_ips) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct osh_node *x = v->items[i];
		size_t mark = path_push(c, "[%zu]", i);
		const char *s = get_str(c, x, "an IP address or CIDR");
		struct osh_cidr cidr;
		const char *bad;
		int r;

		if (s) {
			r = osh_cidr_parse(s, &cidr);
			if (r == -EDOM)
				err(c, x, "host bits are set in %s (expected the network address)",
				    describe(c, x));
			else if (r < 0)
				err(c, x, "expected an IP address or CIDR like 10.0.5.0/24, got %s",
				    describe(c, x));
			else if ((bad = osh_cidr_forbidden(&cidr)))
				err(c, x, "%s covers %s addresses, which osh never allows",
				    describe(c, x), bad);
			else
				ep->allowed_ips[ep->n_allowed_ips++] = cidr;
		}
		path_pop(c, mark);
	}
}

enum {
	EPF_HOST,
	EPF_PORT,
	EPF_PORTS,
	EPF_PROTOCOL,
	EPF_TLS,
	EPF_ENFORCEMENT,
	EPF_ACCESS,
	EPF_RULES,
	EPF_DENY_RULES,
	EPF_ALLOWED_IPS,
};

static const struct field endpoint_fields[] = {
	[EPF_HOST] = { "host", ep_host, F_OK },
	[EPF_PORT] = { "port", ep_port, F_OK },
	[EPF_PORTS] = { "ports", ep_ports, F_OK },
	[EPF_PROTOCOL] = { "protocol", ep_protocol, F_OK },
	[EPF_TLS] = { "tls", ep_tls, F_OK },
	[EPF_ENFORCEMENT] = { "enforcement", ep_enforcement, F_OK },
	[EPF_ACCESS] = { "access", ep_access, F_OK },
	[EPF_RULES] = { "rules", ep_rules, F_OK },
	[EPF_DENY_RULES] = { "deny_rules", ep_deny_rules, F_OK },
	[EPF_ALLOWED_IPS] = { "allowed_ips", ep_allowed_ips, F_OK },
	/* OpenShell fields osh cannot enforce yet: rejected by name. */
	{ "path", parse_unused, F_UNSUPPORTED },
	{ "allow_encoded_slash", parse_unused, F_UNSUPPORTED },
	{ "websocket_credential_rewrite", parse_unused, F_UNSUPPORTED },
	{ "request_body_credential_rewrite", parse_unused, F_UNSUPPORTED },
	{ "allow_uninspected_credentials", parse_unused, F_UNSUPPORTED },
	{ "persisted_queries", parse_unused, F_UNSUPPORTED },
	{ "graphql_persisted_queries", parse_unused, F_UNSUPPORTED },
	{ "graphql_max_body_bytes", parse_unused, F_UNSUPPORTED },
	{ "credential_signing", parse_unused, F_UNSUPPORTED },
	{ "signing_service", parse_unused, F_UNSUPPORTED },
	{ "signing_region", parse_unused, F_UNSUPPORTED },
	{ "json_rpc", parse_unused, F_UNSUPPORTED },
	{ "mcp", parse_unused, F_UNSUPPORTED },
};

static bool is_l7(enum osh_l7_protocol p)
{
	return p == OSH_L7_REST || p == OSH_L7_WEBSOCKET || p == OSH_L7_GRAPHQL;
}

/* Reports err at the key of a field, with the field in the path. */
static void field_err(struct ctx *c, const struct osh_node *n, const char *field, const char *msg)
{
	size_t mark = path_push(c, ".%s", field);

	err(c, n, "%s", msg);
	path_pop(c, mark);
}

/* Checks between fields of one endpoint, after each field was read on its own. */
static bool endpoint_check(struct ctx *c, const struct osh_node *v, struct ep_build *b,
			   const struct osh_node **vals, const struct osh_node **keys)
{
	struct osh_endpoint *ep = &b->ep;
	bool l7 = is_l7(ep->protocol);
	int before = c->errors;

	if (!vals[EPF_HOST] && !vals[EPF_ALLOWED_IPS])
		err(c, v,
		    "missing required key 'host' (or allowed_ips for an address-only "
		    "endpoint)");
	if (vals[EPF_PORT] && vals[EPF_PORTS])
		field_err(c, keys[EPF_PORTS], "ports", "port and ports are mutually exclusive");
	else if (!vals[EPF_PORT] && !vals[EPF_PORTS])
		err(c, v, "missing required key 'port' (or 'ports')");
	if (b->protocol_bad)
		return c->errors == before;
	if (vals[EPF_ACCESS] && !l7)
		field_err(c, keys[EPF_ACCESS], "access",
			  "requires protocol rest, websocket or graphql");
	if (vals[EPF_RULES] && !l7)
		field_err(c, keys[EPF_RULES], "rules",
			  "requires protocol rest, websocket or graphql");
	if (vals[EPF_RULES] && vals[EPF_ACCESS])
		field_err(c, keys[EPF_RULES], "rules", "access and rules are mutually exclusive");
	if (vals[EPF_DENY_RULES] && !l7)
		field_err(c, keys[EPF_DENY_RULES], "deny_rules",
			  "requires protocol rest, websocket or graphql (L7 inspection)");
	else if (vals[EPF_DENY_RULES] && !vals[EPF_RULES] && !vals[EPF_ACCESS])
		field_err(c, keys[EPF_DENY_RULES], "deny_rules",
			  "requires rules or access as the allow set");
	if (l7 && !vals[EPF_RULES] && !vals[EPF_ACCESS] && !vals[EPF_DENY_RULES])
		field_err(c, vals[EPF_PROTOCOL], "protocol",
			  "an L7 protocol requires rules or access to define the allowed "
			  "requests");
	if (vals[EPF_ENFORCEMENT] && ep->enforcement == OSH_AUDIT && !l7)
		field_err(c, vals[EPF_ENFORCEMENT], "enforcement",
			  "audit requires protocol rest, websocket or graphql (L4 endpoints are "
			  "always enforced)");
	return c->errors == before;
}

static bool parse_endpoint(struct ctx *c, const struct osh_node *v, struct osh_endpoint *ret)
{
	const struct osh_node *vals[NFIELDS(endpoint_fields)], *keys[NFIELDS(endpoint_fields)];
	struct ep_build b = { 0 };
	int before = c->errors;

	b.ep.pos = (struct osh_pos){ v->line, v->col };
	if (!walk_map(c, v, "a mapping", endpoint_fields, NFIELDS(endpoint_fields), &b, vals, keys))
		return false;
	if (!endpoint_check(c, v, &b, vals, keys) || c->errors != before)
		return false;
	*ret = b.ep;
	return true;
}

/* ---- binaries ---- */

static void bin_path(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_binary *b = obj;
	const char *s = norm_path(c, v, "an absolute path or glob");

	if (!s)
		return;
	b->path = s;
	b->glob = strpbrk(s, "*?[") != NULL;
}

static void bin_harness(struct ctx *c, const struct osh_node *v, void *obj)
{
	bool ignored;

	(void)obj;
	get_bool(c, v, &ignored); /* deprecated in OpenShell and ignored there too */
}

static const struct field binary_fields[] = {
	{ "path", bin_path, F_OK },
	{ "harness", bin_harness, F_DEPRECATED },
};

/* ---- network_policies ---- */

static void rule_name(struct ctx *c, const struct osh_node *v, void *obj)
{
	const char *s = get_str(c, v, "a name");

	if (s)
		((struct osh_net_rule *)obj)->name = s;
}

static void rule_endpoints(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_net_rule *r = obj;

	if (v->type != OSH_NODE_SEQ || v->n == 0) {
		err(c, v, "expected a non-empty list of endpoints, got %s",
		    v->type == OSH_NODE_SEQ ? "an empty list" : describe(c, v));
		return;
	}
	c->n_endpoints += v->n;
	if (c->n_endpoints > OSH_POLICY_MAX_ENDPOINTS) {
		err(c, v, "too many endpoints: %zu in the policy so far (at most %d)",
		    c->n_endpoints, OSH_POLICY_MAX_ENDPOINTS);
		return;
	}
	r->endpoints = osh_arena_array(c->a, v->n, sizeof(*r->endpoints));
	if (!r->endpoints) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < v->n; i++) {
		size_t mark = path_push(c, "[%zu]", i);

		if (parse_endpoint(c, v->items[i], &r->endpoints[r->n_endpoints]))
			r->n_endpoints++;
		path_pop(c, mark);
	}
}

static void rule_binaries(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_net_rule *r = obj;

	if (v->type != OSH_NODE_SEQ || v->n == 0) {
		err(c, v, "expected a non-empty list of binaries ({path: ...}), got %s",
		    v->type == OSH_NODE_SEQ ? "an empty list" : describe(c, v));
		return;
	}
	r->binaries = osh_arena_array(c->a, v->n, sizeof(*r->binaries));
	if (!r->binaries) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct osh_node *x = v->items[i], *vals[NFIELDS(binary_fields)];
		struct osh_binary *b = &r->binaries[r->n_binaries];
		size_t mark = path_push(c, "[%zu]", i);
		int before = c->errors;

		memset(b, 0, sizeof(*b));
		b->pos = (struct osh_pos){ x->line, x->col };
		if (walk_map(c, x, "a mapping with a path", binary_fields, NFIELDS(binary_fields),
			     b, vals, NULL) &&
		    !vals[0])
			err(c, x, "missing required key 'path'");
		if (c->errors == before && b->path)
			r->n_binaries++;
		path_pop(c, mark);
	}
}

static const struct field net_rule_fields[] = {
	{ "name", rule_name, F_OK },
	{ "endpoints", rule_endpoints, F_OK },
	{ "binaries", rule_binaries, F_OK },
};

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void top_network(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_policy *p = obj;
	const char **all;
	size_t n_all = 0, distinct = 0;
	bool *skip;

	if (v->type != OSH_NODE_MAP) {
		if (!is_null(v))
			err(c, v, "expected a mapping of name to network policy, got %s",
			    describe(c, v));
		return;
	}
	if (v->n > OSH_POLICY_MAX_RULES) {
		err(c, v, "too many network policies: %zu (at most %d)", v->n,
		    OSH_POLICY_MAX_RULES);
		return;
	}
	skip = malloc(v->n ? v->n : 1);
	p->net_rules = osh_arena_array(c->a, v->n ? v->n : 1, sizeof(*p->net_rules));
	if (!skip || !p->net_rules || !check_keys(c, v, skip)) {
		free(skip);
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct osh_node *k = v->keys[i], *x = v->items[i];
		const struct osh_node *vals[NFIELDS(net_rule_fields)];
		struct osh_net_rule *r = &p->net_rules[p->n_net_rules];
		int before = c->errors;
		size_t mark;

		if (skip[i])
			continue;
		/* The slot of an entry that failed is reused: start from zero. */
		memset(r, 0, sizeof(*r));
		mark = path_push(c, ".%s", k->text);
		if (k->len == 0 || k->len > 255)
			err(c, k, "expected a name of 1..255 characters");
		r->key = k->text;
		r->pos = (struct osh_pos){ k->line, k->col };
		if (walk_map(c, x, "a mapping with endpoints and binaries", net_rule_fields,
			     NFIELDS(net_rule_fields), r, vals, NULL)) {
			if (!vals[1])
				err(c, x, "missing required key 'endpoints'");
			if (!vals[2])
				err(c, x, "missing required key 'binaries'");
		}
		if (!r->name)
			r->name = r->key;
		if (c->errors == before)
			p->n_net_rules++;
		path_pop(c, mark);
	}
	free(skip);

	/* Every distinct binary needs a bit in the kernel's 64-bit mask. */
	for (size_t i = 0; i < p->n_net_rules; i++)
		n_all += p->net_rules[i].n_binaries;
	all = malloc((n_all ? n_all : 1) * sizeof(*all));
	if (!all) {
		c->oom = 1;
		return;
	}
	n_all = 0;
	for (size_t i = 0; i < p->n_net_rules; i++)
		for (size_t j = 0; j < p->net_rules[i].n_binaries; j++)
			all[n_all++] = p->net_rules[i].binaries[j].path;
	qsort(all, n_all, sizeof(*all), str_cmp);
	for (size_t i = 0; i < n_all; i++)
		if (i == 0 || strcmp(all[i - 1], all[i]))
			distinct++;
	free(all);
	if (distinct > OSH_EGRESS_MAX_BINARIES)
		err(c, v, "too many distinct binaries: %zu (at most %d)", distinct,
		    OSH_EGRESS_MAX_BINARIES);
	/* Every address entry is a node of the sandbox's kernel trie: name the endpoint where the
	 * policy outgrows it (counted once the rules are valid: a rule with errors is left out). */
	if (!c->errors) {
		size_t ri, ei;
		int r = osh_compile_addr_limit(p, &ri, &ei);

		if (r < 0) {
			c->oom = 1;
		} else if (r > 0) {
			const struct osh_endpoint *ep = &p->net_rules[ri].endpoints[ei];
			struct osh_node at = { .line = ep->pos.line, .col = ep->pos.col };
			size_t mark = path_push(c, ".%s.endpoints[%zu]", p->net_rules[ri].key, ei);

			err(c, &at,
			    "the policy passes %d address entries here (each host address or "
			    "allowed_ips range times each port), the most one sandbox's kernel "
			    "trie holds",
			    OSH_EGRESS_MAX_ADDR_ENTRIES);
			path_pop(c, mark);
		}
	}
}

/* ---- the document ---- */

static void top_version(struct ctx *c, const struct osh_node *v, void *obj)
{
	struct osh_policy *p = obj;
	uint64_t x;

	if (get_uint(c, v, 0, UINT32_MAX, "1", &x)) {
		if (x != 1)
			err(c, v, "expected 1 (the only schema version), got %s", describe(c, v));
		else
			p->version = 1;
	}
}

static const struct field top_fields[] = {
	{ "version", top_version, F_OK },
	{ "filesystem_policy", top_filesystem, F_OK },
	{ "landlock", top_landlock, F_OK },
	{ "process", top_process, F_OK },
	{ "network_policies", top_network, F_OK },
	{ "network_middlewares", parse_unused, F_UNSUPPORTED },
};

int osh_schema_apply(struct osh_policy *p, const struct osh_node *root, const char *name,
		     struct osh_diag_list *diags)
{
	struct ctx c = { .p = p, .a = p->arena, .file = name, .diags = diags };
	const struct osh_node *vals[NFIELDS(top_fields)];

	if (walk_map(&c, root, "a mapping with version: 1", top_fields, NFIELDS(top_fields), p,
		     vals, NULL) &&
	    !vals[0])
		err(&c, root, "missing required key 'version' (expected version: 1)");
	if (c.oom)
		return -ENOMEM;
	return c.errors;
}
