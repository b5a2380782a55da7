// SPDX-License-Identifier: Apache-2.0
// Strict parsers for oshd's JSON request bodies (api-req.h). cJSON checks the syntax; a scanner
// then walks the same text in step with the tree to catch what cJSON lets through (\u0000 inside
// strings, duplicate member names, unescaped control characters, deep nesting), and typed
// extraction rejects unknown members, wrong types and meaningless values, naming the JSON path.
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "api-req.h"

#define MAX_DEPTH    32	  /* no request nests deeper than a few levels; the policy compiler: 64 */
#define MAX_PATH_LEN 4095 /* workdir and binary paths, without the NUL */
#define MAX_REASON   4096

/* ---- errors and JSON paths -------------------------------------------------------------------- */

/* The path of the member being looked at, e.g. "add_endpoints[2].port". Keys are written as
 * they are; a path longer than the buffer is cut (the message still says what is wrong). */
struct path {
	char s[sizeof(((struct osh_api_err *)0)->field)];
	size_t n;
};

static size_t path_push(struct path *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(struct path *p, const char *fmt, ...)
{
	size_t old = p->n;
	va_list ap;
	int k;

	if (p->n + 1 >= sizeof(p->s))
		return old;
	va_start(ap, fmt);
	k = vsnprintf(p->s + p->n, sizeof(p->s) - p->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		p->n = p->n + (size_t)k < sizeof(p->s) ? p->n + (size_t)k : sizeof(p->s) - 1;
	return old;
}

static size_t path_key(struct path *p, const char *key)
{
	return p->n ? path_push(p, ".%s", key) : path_push(p, "%s", key);
}

static size_t path_idx(struct path *p, size_t i)
{
	return path_push(p, "[%zu]", i);
}

static void path_pop(struct path *p, size_t old)
{
	p->n = old;
	p->s[old] = '\0';
}

static int fail(struct osh_api_err *err, const char *code, const struct path *p, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));
static int fail(struct osh_api_err *err, const char *code, const struct path *p, const char *fmt,
		...)
{
	va_list ap;

	if (!err)
		return -EINVAL;
	err->code = code;
	snprintf(err->field, sizeof(err->field), "%s", p ? p->s : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "an invalid value";
}

/* ---- the body: size, bytes, syntax ------------------------------------------------------------ */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t len, size_t *ret_bad)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			*ret_bad = i;
			return false;
		}
		if (len - i <= n) {
			*ret_bad = i;
			return false;
		}
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				*ret_bad = i;
				return false;
			}
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff)) {
			*ret_bad = i;
			return false;
		}
		i += n + 1;
	}
	return true;
}

/* Walks the text cJSON parsed, in step with its tree (the structure is known to match). */
struct scan {
	const char *s;
	size_t len, i;
};

static void scan_ws(struct scan *j)
{
	/* cJSON skips every byte <= 32 between tokens; the body check allowed only JSON's four. */
	while (j->i < j->len && (unsigned char)j->s[j->i] <= 32)
		j->i++;
}

enum str_problem {
	STR_OK = 0,
	STR_NUL,
	STR_CONTROL,
};

/* Skips a string literal at j->i (on its opening quote) and says what is wrong with it. */
static enum str_problem scan_string(struct scan *j)
{
	enum str_problem p = STR_OK;

	j->i++;
	while (j->i < j->len && j->s[j->i] != '"') {
		unsigned char c = (unsigned char)j->s[j->i];

		if (c < 0x20 && p == STR_OK) {
			p = STR_CONTROL;
		} else if (c == '\\' && j->i + 1 < j->len) {
			j->i++;
			/* cJSON decodes \u0000 into a NUL byte that would cut the string short. */
			if (j->s[j->i] == 'u' && j->len - j->i > 4 &&
			    !memcmp(j->s + j->i + 1, "0000", 4))
				p = STR_NUL;
		}
		j->i++;
	}
	j->i++;
	return p;
}

static void scan_token(struct scan *j)
{
	while (j->i < j->len && !strchr(",]}", j->s[j->i]) && (unsigned char)j->s[j->i] > 32)
		j->i++;
}

static int str_check(enum str_problem p, const struct path *path, const char *what,
		     struct osh_api_err *err)
{
	if (p == STR_NUL)
		return fail(err, "bad-request", path, "%s contains a NUL character (\\u0000)",
			    what);
	if (p == STR_CONTROL)
		return fail(err, "bad-json", path, "%s contains an unescaped control character",
			    what);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A member name written twice: cJSON keeps both, and which one a lookup finds is an accident of
 * its implementation, so the request is ambiguous. */
static int check_duplicates(const cJSON *obj, struct path *p, struct osh_api_err *err)
{
	const char *dup = NULL;
	size_t n = 0, k = 0;
	const cJSON *a, *b;
	const char **names;

	cJSON_ArrayForEach (a, obj)
		n++;
	if (n <= 16) {
		cJSON_ArrayForEach (a, obj)
			for (b = a->next; b && !dup; b = b->next)
				if (!strcmp(a->string, b->string))
					dup = a->string;
	} else {
		names = malloc(n * sizeof(*names));
		if (!names)
			return -ENOMEM;
		cJSON_ArrayForEach (a, obj)
			names[k++] = a->string;
		qsort(names, n, sizeof(*names), name_cmp);
		for (k = 1; k < n && !dup; k++)
			if (!strcmp(names[k - 1], names[k]))
				dup = names[k];
		free(names);
	}
	if (dup) {
		size_t old = path_key(p, dup);
		int r = fail(err, "bad-request", p, "member '%s' is written more than once", dup);

		path_pop(p, old);
		return r;
	}
	return 0;
}

static int scan_value(struct scan *j, const cJSON *item, struct path *p, int depth,
		      struct osh_api_err *err)
{
	const cJSON *c;
	size_t k = 0;
	int r;

	scan_ws(j);
	if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
		bool obj = cJSON_IsObject(item);

		if (depth >= MAX_DEPTH)
			return fail(err, "bad-request", p, "nested deeper than %d levels",
				    MAX_DEPTH);
		j->i++; /* '{' or '[' */
		cJSON_ArrayForEach (c, item) {
			size_t old;

			scan_ws(j);
			if (obj) {
				enum str_problem sp = scan_string(j);

				old = path_key(p, c->string);
				r = str_check(sp, p, "member name", err);
				if (r < 0)
					return r;
				scan_ws(j);
				j->i++; /* ':' */
			} else {
				old = path_idx(p, k);
			}
			r = scan_value(j, c, p, depth + 1, err);
			if (r < 0)
				return r;
			path_pop(p, old);
			scan_ws(j);
			j->i++; /* ',' or the closing bracket */
			k++;
		}
		if (k == 0) {
			scan_ws(j);
			j->i++;
		}
		return obj ? check_duplicates(item, p, err) : 0;
	}
	if (cJSON_IsString(item))
		return str_check(scan_string(j), p, "string", err);
	scan_token(j);
	return 0;
}

/* Parses body into a cJSON object after every check that is not about a particular request. */
static int load(const char *body, size_t len, cJSON **ret, struct osh_api_err *err)
{
	struct scan j = { 0 };
	struct path p = { 0 };
	const char *end = NULL;
	size_t bad = 0;
	char *copy;
	cJSON *doc;
	int r;

	if (len > OSH_API_BODY_MAX)
		return fail(err, "too-large", NULL,
			    "request body of %zu bytes is over the limit of %u", len,
			    OSH_API_BODY_MAX);
	if (!body || len == 0)
		return fail(err, "bad-json", NULL, "empty request body (expected a JSON object)");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)body[i];

		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return fail(err, "bad-json", NULL,
				    c ? "control character 0x%02x at byte %zu"
				      : "NUL byte (0x%02x) at byte %zu in the request body",
				    c, i);
	}
	if (!utf8_valid((const unsigned char *)body, len, &bad))
		return fail(err, "bad-json", NULL, "invalid UTF-8 at byte %zu", bad);
	/* The body is not NUL-terminated; cJSON wants a string. */
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, body, len);
	copy[len] = '\0';
	doc = cJSON_ParseWithOpts(copy, &end, true);
	if (!doc) {
		size_t off = end && end >= copy && end <= copy + len ? (size_t)(end - copy) : 0;

		free(copy);
		return fail(err, "bad-json", NULL, "not valid JSON (at byte %zu)", off);
	}
	if (!cJSON_IsObject(doc)) {
		r = fail(err, "bad-json", NULL, "expected a JSON object, got %s", type_name(doc));
		goto out;
	}
	j.s = copy;
	j.len = len;
	if (len >= 3 && !memcmp(copy, "\xef\xbb\xbf", 3))
		j.i = 3; /* cJSON skips a UTF-8 byte order mark */
	r = scan_value(&j, doc, &p, 0, err);
out:
	free(copy);
	if (r < 0) {
		cJSON_Delete(doc);
		return r;
	}
	*ret = doc;
	return 0;
}

/* ---- typed members ---------------------------------------------------------------------------- */

/* Rejects members of obj that are not in names (NULL-terminated). */
static int only(const cJSON *obj, const char *const *names, struct path *p, struct osh_api_err *err)
{
	const cJSON *c;

	cJSON_ArrayForEach (c, obj) {
		char list[200];
		size_t n = 0, old;
		bool known = false;
		int r;

		for (size_t i = 0; names[i]; i++)
			if (!strcmp(c->string, names[i]))
				known = true;
		if (known)
			continue;
		list[0] = '\0';
		for (size_t i = 0; names[i] && n < sizeof(list); i++) {
			int k =
			    snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", names[i]);

			if (k > 0)
				n += (size_t)k;
		}
		old = path_key(p, c->string);
		r = fail(err, "bad-request", p, "unknown member (expected one of: %s)", list);
		path_pop(p, old);
		return r;
	}
	return 0;
}

/* The value of member name, and p extended to it; NULL when absent (p unchanged). */
static const cJSON *member(const cJSON *obj, const char *name, struct path *p, size_t *ret_old)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (v)
		*ret_old = path_key(p, name);
	return v;
}

static bool has(const cJSON *obj, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(obj, name) != NULL;
}

static int missing(const char *name, struct path *p, struct osh_api_err *err)
{
	size_t old = path_key(p, name);
	int r = fail(err, "bad-request", p, "required member is missing");

	path_pop(p, old);
	return r;
}

enum str_rule {
	STR_ANY,      /* any string, also "" */
	STR_NONEMPTY, /* "" is meaningless */
	STR_ABSPATH,  /* absolute path */
	STR_NAME,     /* sandbox name */
};

static int check_string(const cJSON *v, enum str_rule rule, size_t max, struct path *p,
			struct osh_api_err *err)
{
	size_t n;

	if (!cJSON_IsString(v) || !v->valuestring)
		return fail(err, "bad-request", p, "expected a string, got %s", type_name(v));
	n = strlen(v->valuestring);
	if (max && n > max)
		return fail(err, "bad-request", p, "longer than %zu bytes", max);
	switch (rule) {
	case STR_ANY:
		break;
	case STR_NONEMPTY:
		if (n == 0)
			return fail(err, "bad-request", p, "must not be empty");
		break;
	case STR_ABSPATH:
		if (v->valuestring[0] != '/')
			return fail(err, "bad-request", p,
				    "expected an absolute path, got '%.100s'", v->valuestring);
		break;
	case STR_NAME:
		if (!osh_api_name_valid(v->valuestring))
			return fail(err, "bad-request", p,
				    "expected a name matching [a-z0-9][a-z0-9._-]{0,62}, got "
				    "'%.80s'",
				    v->valuestring);
		break;
	}
	return 0;
}

/* Member name of obj as a new string (NULL when absent and not required). */
static int get_string(const cJSON *obj, const char *name, bool required, enum str_rule rule,
		      size_t max, struct path *p, struct osh_api_err *err, char **ret)
{
	size_t old = 0;
	const cJSON *v = member(obj, name, p, &old);
	int r;

	*ret = NULL;
	if (!v)
		return required ? missing(name, p, err) : 0;
	r = check_string(v, rule, max, p, err);
	path_pop(p, old);
	if (r < 0)
		return r;
	*ret = strdup(v->valuestring);
	return *ret ? 0 : -ENOMEM;
}

static int get_bool(const cJSON *obj, const char *name, bool def, struct path *p,
		    struct osh_api_err *err, bool *ret)
{
	size_t old = 0;
	const cJSON *v = member(obj, name, p, &old);
	int r = 0;

	*ret = def;
	if (!v)
		return 0;
	if (cJSON_IsBool(v))
		*ret = cJSON_IsTrue(v);
	else
		r = fail(err, "bad-request", p, "expected true or false, got %s", type_name(v));
	path_pop(p, old);
	return r;
}

static int check_port(const cJSON *v, struct path *p, struct osh_api_err *err, uint16_t *ret)
{
	double d;

	if (!cJSON_IsNumber(v))
		return fail(err, "bad-request", p, "expected a port number in 1..65535, got %s",
			    type_name(v));
	d = v->valuedouble;
	/* The range test comes first, so the cast below is defined (NaN fails it too). */
	if (!(d >= 1 && d <= 65535) || (double)(int)d != d)
		return fail(err, "bad-request", p, "expected a port number in 1..65535, got %g", d);
	if (ret)
		*ret = (uint16_t)d;
	return 0;
}

static int get_port(const cJSON *obj, const char *name, struct path *p, struct osh_api_err *err,
		    uint16_t *ret)
{
	size_t old = 0;
	const cJSON *v = member(obj, name, p, &old);
	int r;

	if (!v)
		return missing(name, p, err);
	r = check_port(v, p, err, ret);
	path_pop(p, old);
	return r;
}

/* An array member (NULL and 0 when absent). */
static int get_array(const cJSON *obj, const char *name, struct path *p, struct osh_api_err *err,
		     const cJSON **ret, size_t *ret_n)
{
	size_t old = 0, n = 0;
	const cJSON *v = member(obj, name, p, &old), *c;
	int r = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!v)
		return 0;
	if (!cJSON_IsArray(v)) {
		r = fail(err, "bad-request", p, "expected an array, got %s", type_name(v));
	} else {
		cJSON_ArrayForEach (c, v)
			n++;
		*ret = v;
		*ret_n = n;
	}
	path_pop(p, old);
	return r;
}

static int expect_object(const cJSON *v, struct path *p, struct osh_api_err *err)
{
	if (!cJSON_IsObject(v))
		return fail(err, "bad-request", p, "expected an object, got %s", type_name(v));
	return 0;
}

/* A NULL-terminated array of strings from a JSON array of strings. */
static int get_strv(const cJSON *arr, size_t n, enum str_rule rule, struct path *p,
		    struct osh_api_err *err, char ***ret)
{
	char **v = calloc(n + 1, sizeof(*v));
	const cJSON *c;
	size_t k = 0;
	int r = 0;

	if (!v)
		return -ENOMEM;
	cJSON_ArrayForEach (c, arr) {
		size_t old = path_idx(p, k);

		r = check_string(c, rule, 0, p, err);
		path_pop(p, old);
		if (r < 0)
			break;
		v[k] = strdup(c->valuestring);
		if (!v[k]) {
			r = -ENOMEM;
			break;
		}
		k++;
	}
	if (r < 0) {
		for (size_t i = 0; i < k; i++)
			free(v[i]);
		free(v);
		return r;
	}
	*ret = v;
	return 0;
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **s = v; *s; s++)
		free(*s);
	free(v);
}

bool osh_api_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n < 1 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  (i > 0 && (c == '.' || c == '_' || c == '-'));

		if (!ok)
			return false;
	}
	return true;
}

/* ---- POST /v1/sandboxes ----------------------------------------------------------------------- */

void osh_req_create_free(struct osh_req_create *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->policy);
	free(r->workdir);
	free(r->reason);
	osh_req_exec_free(r->exec);
	free(r->exec);
	memset(r, 0, sizeof(*r));
}

static int exec_from(const cJSON *doc, struct path *p, struct osh_req_exec *ret,
		     struct osh_api_err *err);

/* "exec" of a create: an exec request, for an ephemeral sandbox only. */
static int create_exec(const cJSON *doc, const struct osh_req_create *q, struct path *p,
		       struct osh_api_err *err, struct osh_req_exec **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "exec");
	size_t old;
	int r;

	if (!v)
		return 0;
	old = path_key(p, "exec");
	if ((r = expect_object(v, p, err)) < 0)
		return r;
	if (!q->ephemeral)
		return fail(err, "bad-request", p,
			    "a create runs a command only for an ephemeral sandbox");
	*ret = calloc(1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	if ((r = exec_from(v, p, *ret, err)) < 0) {
		free(*ret);
		*ret = NULL;
		return r;
	}
	path_pop(p, old);
	return 0;
}

int osh_req_create_parse(const char *body, size_t len, struct osh_req_create *ret,
			 struct osh_api_err *err)
{
	static const char *const names[] = { "name",	  "policy", "workdir", "reason",
					     "ephemeral", "exec",   NULL };
	struct osh_req_create q = { 0 };
	struct path p = { 0 };
	cJSON *doc = NULL;
	int r;

	r = load(body, len, &doc, err);
	if (r < 0)
		return r;
	if ((r = only(doc, names, &p, err)) < 0 ||
	    (r = get_string(doc, "name", false, STR_NAME, 0, &p, err, &q.name)) < 0 ||
	    (r = get_string(doc, "policy", true, STR_NONEMPTY, 0, &p, err, &q.policy)) < 0 ||
	    (r = get_string(doc, "workdir", false, STR_ABSPATH, MAX_PATH_LEN, &p, err,
			    &q.workdir)) < 0 ||
	    (r = get_string(doc, "reason", false, STR_ANY, MAX_REASON, &p, err, &q.reason)) < 0 ||
	    (r = get_bool(doc, "ephemeral", false, &p, err, &q.ephemeral)) < 0 ||
	    /* oshd picks the name of an ephemeral sandbox only (`oshctl run`). */
	    (!q.name && !q.ephemeral && (r = missing("name", &p, err)) < 0) ||
	    (r = create_exec(doc, &q, &p, err, &q.exec)) < 0) {
		osh_req_create_free(&q);
		cJSON_Delete(doc);
		return r;
	}
	cJSON_Delete(doc);
	*ret = q;
	return 0;
}

/* ---- POST /v1/sandboxes/{name}/exec ----------------------------------------------------------- */

void osh_req_exec_free(struct osh_req_exec *r)
{
	if (!r)
		return;
	strv_free(r->argv);
	strv_free(r->env);
	free(r->workdir);
	memset(r, 0, sizeof(*r));
}

/* The members of an exec request from object doc (at path p). */
static int exec_from(const cJSON *doc, struct path *p, struct osh_req_exec *ret,
		     struct osh_api_err *err)
{
	static const char *const names[] = { "argv", "env", "workdir", "events", NULL };
	struct osh_req_exec q = { 0 };
	const cJSON *arr;
	size_t n, old;
	int r;

	if ((r = only(doc, names, p, err)) < 0)
		goto fail;
	if ((r = get_array(doc, "argv", p, err, &arr, &n)) < 0)
		goto fail;
	if (!arr) {
		r = missing("argv", p, err);
		goto fail;
	}
	old = path_key(p, "argv");
	if (n == 0) {
		r = fail(err, "bad-request", p, "must name at least the program to run");
		goto fail;
	}
	if ((r = get_strv(arr, n, STR_ANY, p, err, &q.argv)) < 0)
		goto fail;
	if (!q.argv || !q.argv[0] || !q.argv[0][0]) {
		path_idx(p, 0);
		r = fail(err, "bad-request", p, "the program to run must not be empty");
		goto fail;
	}
	path_pop(p, old);

	if ((r = get_array(doc, "env", p, err, &arr, &n)) < 0)
		goto fail;
	if (arr) {
		old = path_key(p, "env");
		if ((r = get_strv(arr, n, STR_ANY, p, err, &q.env)) < 0)
			goto fail;
		for (size_t i = 0; q.env[i]; i++) {
			const char *eq = strchr(q.env[i], '=');

			if (!eq || eq == q.env[i]) {
				path_idx(p, i);
				r = fail(err, "bad-request", p,
					 "expected NAME=VALUE with a non-empty NAME, got '%.80s'",
					 q.env[i]);
				goto fail;
			}
		}
		path_pop(p, old);
	}
	if ((r = get_string(doc, "workdir", false, STR_ABSPATH, MAX_PATH_LEN, p, err, &q.workdir)) <
		0 ||
	    (r = get_bool(doc, "events", false, p, err, &q.events)) < 0)
		goto fail;
	*ret = q;
	return 0;
fail:
	osh_req_exec_free(&q);
	return r;
}

int osh_req_exec_parse(const char *body, size_t len, struct osh_req_exec *ret,
		       struct osh_api_err *err)
{
	struct path p = { 0 };
	cJSON *doc = NULL;
	int r = load(body, len, &doc, err);

	if (r < 0)
		return r;
	r = exec_from(doc, &p, ret, err);
	cJSON_Delete(doc);
	return r;
}

/* ---- PUT /v1/sandboxes/{name}/policy ---------------------------------------------------------- */

void osh_req_policy_set_free(struct osh_req_policy_set *r)
{
	if (!r)
		return;
	free(r->policy);
	free(r->reason);
	memset(r, 0, sizeof(*r));
}

int osh_req_policy_set_parse(const char *body, size_t len, struct osh_req_policy_set *ret,
			     struct osh_api_err *err)
{
	static const char *const names[] = { "policy", "reason", "wait", NULL };
	struct osh_req_policy_set q = { 0 };
	struct path p = { 0 };
	cJSON *doc = NULL;
	int r;

	r = load(body, len, &doc, err);
	if (r < 0)
		return r;
	if ((r = only(doc, names, &p, err)) < 0 ||
	    (r = get_string(doc, "policy", true, STR_NONEMPTY, 0, &p, err, &q.policy)) < 0 ||
	    (r = get_string(doc, "reason", false, STR_ANY, MAX_REASON, &p, err, &q.reason)) < 0 ||
	    (r = get_bool(doc, "wait", true, &p, err, &q.wait)) < 0) {
		osh_req_policy_set_free(&q);
		cJSON_Delete(doc);
		return r;
	}
	cJSON_Delete(doc);
	*ret = q;
	return 0;
}

/* ---- PATCH /v1/sandboxes/{name}/policy -------------------------------------------------------- */

void osh_req_policy_update_free(struct osh_req_policy_update *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_remove_endpoints; i++) {
		free(r->remove_endpoints[i].policy);
		free(r->remove_endpoints[i].host);
	}
	free(r->remove_endpoints);
	for (size_t i = 0; i < r->n_add_endpoints; i++) {
		free(r->add_endpoints[i].policy);
		free(r->add_endpoints[i].json);
	}
	free(r->add_endpoints);
	for (size_t i = 0; i < r->n_remove_binaries; i++) {
		free(r->remove_binaries[i].policy);
		free(r->remove_binaries[i].path);
	}
	free(r->remove_binaries);
	for (size_t i = 0; i < r->n_add_binaries; i++) {
		free(r->add_binaries[i].policy);
		free(r->add_binaries[i].path);
	}
	free(r->add_binaries);
	strv_free(r->remove_policies);
	for (size_t i = 0; i < r->n_add_rules; i++) {
		free(r->add_rules[i].policy);
		free(r->add_rules[i].json);
	}
	free(r->add_rules);
	free(r->reason);
	memset(r, 0, sizeof(*r));
}

/* Each element of a list member is parsed by one of these into slot i of the result array;
 * p points at the element. */
typedef int (*item_fn)(const cJSON *v, struct path *p, struct osh_api_err *err, void *slot);

static int parse_list(const cJSON *doc, const char *name, size_t size, item_fn fn, struct path *p,
		      struct osh_api_err *err, void **ret, size_t *ret_n)
{
	const cJSON *arr, *c;
	size_t n, k = 0, old;
	char *v;
	int r;

	r = get_array(doc, name, p, err, &arr, &n);
	if (r < 0 || !arr || n == 0)
		return r;
	/* Zeroed, so that a partly parsed array is freed like a full one. */
	v = calloc(n, size);
	if (!v)
		return -ENOMEM;
	*ret = v;
	*ret_n = n;
	old = path_key(p, name);
	cJSON_ArrayForEach (c, arr) {
		size_t o = path_idx(p, k);

		r = fn(c, p, err, v + k * size);
		if (r < 0)
			return r;
		path_pop(p, o);
		k++;
	}
	path_pop(p, old);
	return 0;
}

static int endpoint_ref_item(const cJSON *v, struct path *p, struct osh_api_err *err, void *slot)
{
	static const char *const names[] = { "policy", "host", "port", NULL };
	struct osh_req_endpoint_ref *e = slot;
	int r;

	if ((r = expect_object(v, p, err)) < 0 || (r = only(v, names, p, err)) < 0 ||
	    (r = get_string(v, "policy", true, STR_NONEMPTY, 0, p, err, &e->policy)) < 0 ||
	    (r = get_string(v, "host", true, STR_NONEMPTY, 0, p, err, &e->host)) < 0)
		return r;
	return get_port(v, "port", p, err, &e->port);
}

static int binary_ref_item(const cJSON *v, struct path *p, struct osh_api_err *err, void *slot)
{
	static const char *const names[] = { "policy", "path", NULL };
	struct osh_req_binary_ref *b = slot;
	int r;

	if ((r = expect_object(v, p, err)) < 0 || (r = only(v, names, p, err)) < 0 ||
	    (r = get_string(v, "policy", true, STR_NONEMPTY, 0, p, err, &b->policy)) < 0)
		return r;
	return get_string(v, "path", true, STR_ABSPATH, MAX_PATH_LEN, p, err, &b->path);
}

static int policy_name_item(const cJSON *v, struct path *p, struct osh_api_err *err, void *slot)
{
	int r = check_string(v, STR_NONEMPTY, 0, p, err);

	if (r < 0)
		return r;
	*(char **)slot = strdup(v->valuestring);
	return *(char **)slot ? 0 : -ENOMEM;
}

/* The item without its "policy" member, as compact JSON text. */
static int item_json(const cJSON *v, struct osh_req_json_item *it)
{
	cJSON *copy = cJSON_Duplicate(v, true);

	if (!copy)
		return -ENOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(copy, "policy");
	it->json = cJSON_PrintUnformatted(copy);
	cJSON_Delete(copy);
	return it->json ? 0 : -ENOMEM;
}

/* A non-empty array member whose elements pass check (NULL: any type). */
static int check_list(const cJSON *v, struct path *p, struct osh_api_err *err,
		      int (*check)(const cJSON *e, struct path *p, struct osh_api_err *err))
{
	const cJSON *c;
	size_t k = 0;
	int r;

	if (!cJSON_IsArray(v))
		return fail(err, "bad-request", p, "expected an array, got %s", type_name(v));
	if (!v->child)
		return fail(err, "bad-request", p, "must not be empty");
	cJSON_ArrayForEach (c, v) {
		size_t old = path_idx(p, k++);

		r = check(c, p, err);
		if (r < 0)
			return r;
		path_pop(p, old);
	}
	return 0;
}

static int check_port_elem(const cJSON *e, struct path *p, struct osh_api_err *err)
{
	return check_port(e, p, err, NULL);
}

static int check_object_elem(const cJSON *e, struct path *p, struct osh_api_err *err)
{
	return expect_object(e, p, err);
}

static int check_string_elem(const cJSON *e, struct path *p, struct osh_api_err *err)
{
	return check_string(e, STR_NONEMPTY, 0, p, err);
}

/* The members of a policy endpoint (docs/policy.md), checked for type only: what they mean is
 * the policy compiler's to say, on the merged document. */
static int endpoint_item(const cJSON *v, struct path *p, struct osh_api_err *err, void *slot)
{
	static const char *const names[] = { "policy",	 "host",       "port",	      "ports",
					     "protocol", "tls",	       "enforcement", "access",
					     "rules",	 "deny_rules", "allowed_ips", NULL };
	static const char *const strings[] = { "host",	      "protocol", "tls",
					       "enforcement", "access",	  NULL };
	struct osh_req_json_item *it = slot;
	const cJSON *m;
	size_t old = 0;
	int r;

	if ((r = expect_object(v, p, err)) < 0 || (r = only(v, names, p, err)) < 0 ||
	    (r = get_string(v, "policy", true, STR_NONEMPTY, 0, p, err, &it->policy)) < 0)
		return r;
	for (size_t i = 0; strings[i]; i++) {
		if (!(m = member(v, strings[i], p, &old)))
			continue;
		if ((r = check_string(m, STR_NONEMPTY, 0, p, err)) < 0)
			return r;
		path_pop(p, old);
	}
	if ((m = member(v, "port", p, &old))) {
		if ((r = check_port(m, p, err, NULL)) < 0)
			return r;
		path_pop(p, old);
	}
	if ((m = member(v, "ports", p, &old))) {
		if ((r = check_list(m, p, err, check_port_elem)) < 0)
			return r;
		path_pop(p, old);
	}
	if ((m = member(v, "rules", p, &old))) {
		if ((r = check_list(m, p, err, check_object_elem)) < 0)
			return r;
		path_pop(p, old);
	}
	if ((m = member(v, "deny_rules", p, &old))) {
		if ((r = check_list(m, p, err, check_object_elem)) < 0)
			return r;
		path_pop(p, old);
	}
	if ((m = member(v, "allowed_ips", p, &old))) {
		if ((r = check_list(m, p, err, check_string_elem)) < 0)
			return r;
		path_pop(p, old);
	}
	if (!has(v, "host") && !has(v, "allowed_ips"))
		return fail(err, "bad-request", p, "an endpoint needs host or allowed_ips");
	if (has(v, "port") == has(v, "ports"))
		return fail(err, "bad-request", p,
			    "an endpoint needs exactly one of port and ports");
	return item_json(v, it);
}

static int rule_item(const cJSON *v, struct path *p, struct osh_api_err *err, void *slot)
{
	static const char *const names[] = { "policy", "host", "port", "allow", NULL };
	static const char *const allow_names[] = { "method", "path", "query", NULL };
	struct osh_req_json_item *it = slot;
	const cJSON *allow, *m;
	size_t old = 0, o2 = 0;
	uint16_t port;
	char *host = NULL;
	int r;

	if ((r = expect_object(v, p, err)) < 0 || (r = only(v, names, p, err)) < 0 ||
	    (r = get_string(v, "policy", true, STR_NONEMPTY, 0, p, err, &it->policy)) < 0 ||
	    (r = get_string(v, "host", true, STR_NONEMPTY, 0, p, err, &host)) < 0)
		return r;
	free(host);
	if ((r = get_port(v, "port", p, err, &port)) < 0)
		return r;
	if (!(allow = member(v, "allow", p, &old)))
		return missing("allow", p, err);
	if ((r = expect_object(allow, p, err)) < 0 || (r = only(allow, allow_names, p, err)) < 0)
		return r;
	if (!allow->child)
		return fail(err, "bad-request", p, "must name at least one of method, path, query");
	for (size_t i = 0; i < 2; i++) {
		if (!(m = member(allow, allow_names[i], p, &o2)))
			continue;
		if ((r = check_string(m, STR_NONEMPTY, 0, p, err)) < 0)
			return r;
		path_pop(p, o2);
	}
	if ((m = member(allow, "query", p, &o2))) {
		if ((r = expect_object(m, p, err)) < 0)
			return r;
		path_pop(p, o2);
	}
	path_pop(p, old);
	return item_json(v, it);
}

int osh_req_policy_update_parse(const char *body, size_t len, struct osh_req_policy_update *ret,
				struct osh_api_err *err)
{
	static const char *const names[] = { "remove_endpoints",
					     "add_endpoints",
					     "remove_binaries",
					     "add_binaries",
					     "remove_policies",
					     "add_rules",
					     "reason",
					     "wait",
					     NULL };
	struct osh_req_policy_update q = { 0 };
	struct path p = { 0 };
	cJSON *doc = NULL;
	void *v;
	int r;

	r = load(body, len, &doc, err);
	if (r < 0)
		return r;
	if ((r = only(doc, names, &p, err)) < 0)
		goto fail;
#define LIST(field, type, fn)                                                                      \
	do {                                                                                       \
		v = NULL;                                                                          \
		r = parse_list(doc, #field, sizeof(type), fn, &p, err, &v, &q.n_##field);          \
		q.field = v;                                                                       \
		if (r < 0)                                                                         \
			goto fail;                                                                 \
	} while (0)
	LIST(remove_endpoints, struct osh_req_endpoint_ref, endpoint_ref_item);
	LIST(add_endpoints, struct osh_req_json_item, endpoint_item);
	LIST(remove_binaries, struct osh_req_binary_ref, binary_ref_item);
	LIST(add_binaries, struct osh_req_binary_ref, binary_ref_item);
	LIST(add_rules, struct osh_req_json_item, rule_item);
#undef LIST
	/* remove_policies is NULL-terminated: one slot more than its elements. */
	{
		const cJSON *arr;
		size_t n;

		if ((r = get_array(doc, "remove_policies", &p, err, &arr, &n)) < 0)
			goto fail;
		if (arr && n) {
			size_t old = path_key(&p, "remove_policies"), k = 0;
			const cJSON *c;

			q.remove_policies = calloc(n + 1, sizeof(char *));
			if (!q.remove_policies) {
				r = -ENOMEM;
				goto fail;
			}
			cJSON_ArrayForEach (c, arr) {
				size_t o = path_idx(&p, k);

				r = policy_name_item(c, &p, err, &q.remove_policies[k]);
				if (r < 0)
					goto fail;
				path_pop(&p, o);
				q.n_remove_policies = ++k;
			}
			path_pop(&p, old);
		}
	}
	if (!q.n_remove_endpoints && !q.n_add_endpoints && !q.n_remove_binaries &&
	    !q.n_add_binaries && !q.n_remove_policies && !q.n_add_rules) {
		r = fail(
		    err, "bad-request", NULL,
		    "nothing to change: expected at least one non-empty list of remove_endpoints, "
		    "add_endpoints, remove_binaries, add_binaries, remove_policies, add_rules");
		goto fail;
	}
	if ((r = get_string(doc, "reason", false, STR_ANY, MAX_REASON, &p, err, &q.reason)) < 0 ||
	    (r = get_bool(doc, "wait", true, &p, err, &q.wait)) < 0)
		goto fail;
	cJSON_Delete(doc);
	*ret = q;
	return 0;
fail:
	osh_req_policy_update_free(&q);
	cJSON_Delete(doc);
	return r;
}
