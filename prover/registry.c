// SPDX-License-Identifier: Apache-2.0
// Loaders for the prover's YAML inputs: binary capability registry, API registries, credential
// sets and accepted risks. Every problem is reported as FILE:LINE:COL; unknown keys are errors.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "policy-compiler/internal.h"

#define REGISTRY_MAX_FILE  (1u << 20)
#define REGISTRY_MAX_FILES 4096

struct ld {
	struct osh_arena *arena;
	const char *file;
	struct osh_diag_list *diags;
	int errors;
};

static void err(struct ld *l, const struct osh_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void err(struct ld *l, const struct osh_node *n, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	l->errors++;
	osh_diag_list_add(l->diags, l->file, n ? n->line : 0, n ? n->col : 0, "%s", buf);
}

static bool key_is(const struct osh_node *k, const char *name)
{
	return k->type == OSH_NODE_SCALAR && !strcmp(k->text, name);
}

static const char *get_str(struct ld *l, const struct osh_node *n, const char *field)
{
	if (n->type != OSH_NODE_SCALAR) {
		err(l, n, "%s: expected a string", field);
		return NULL;
	}
	return n->text;
}

static int get_bool(struct ld *l, const struct osh_node *n, const char *field, bool *ret)
{
	if (n->type == OSH_NODE_SCALAR && !n->quoted && !strcmp(n->text, "true")) {
		*ret = true;
		return 0;
	}
	if (n->type == OSH_NODE_SCALAR && !n->quoted && !strcmp(n->text, "false")) {
		*ret = false;
		return 0;
	}
	err(l, n, "%s: expected true or false", field);
	return -EINVAL;
}

/* A list of strings into an arena array. A scalar "[]" style empty list is a SEQ with n == 0. */
static int get_strs(struct ld *l, const struct osh_node *n, const char *field, char ***ret,
		    size_t *ret_n)
{
	char **v;

	if (n->type != OSH_NODE_SEQ) {
		err(l, n, "%s: expected a list of strings", field);
		return -EINVAL;
	}
	v = osh_arena_array(l->arena, n->n ? n->n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const char *s = get_str(l, n->items[i], field);

		v[i] = (char *)(s ? s : "");
	}
	*ret = v;
	*ret_n = n->n;
	return 0;
}

static int read_all(const char *path, char **ret, size_t *ret_len)
{
	struct stat st;
	char *buf;
	ssize_t got;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((size_t)st.st_size > REGISTRY_MAX_FILE) {
		r = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	while (off < (size_t)st.st_size &&
	       (got = read(fd, buf + off, (size_t)st.st_size - off)) > 0)
		off += (size_t)got;
	buf[off] = '\0';
	*ret = buf;
	*ret_len = off;
out:
	close(fd);
	return r;
}

/* Loads one YAML file into a document tree. The file name is copied into the arena so that
 * diagnostics can point at it. */
static int load_tree(struct ld *l, const char *path, struct osh_node **ret)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	l->file = osh_arena_strdup(l->arena, path);
	if (!l->file)
		return -ENOMEM;
	r = read_all(path, &buf, &len);
	if (r < 0) {
		osh_diag_list_add(l->diags, path, 0, 0, "cannot read: %s", strerror(-r));
		l->errors++;
		return r;
	}
	r = osh_yaml_load(l->arena, l->file, buf, len, ret, l->diags);
	free(buf);
	if (r == -EINVAL)
		l->errors++;
	if (r >= 0 && (*ret)->type != OSH_NODE_MAP) {
		err(l, *ret, "%s: expected a mapping at the top level", "document");
		return -EINVAL;
	}
	return r;
}

/* ---- binaries ---------------------------------------------------------------------------------- */

static int load_protocol(struct ld *l, const struct osh_node *n, struct prv_binary *b)
{
	if (n->type != OSH_NODE_MAP) {
		err(l, n, "%s: expected a mapping", "protocols[]");
		return 0;
	}
	for (size_t i = 0; i < n->n; i++) {
		const struct osh_node *k = n->keys[i], *v = n->items[i];

		if (key_is(k, "bypasses_l7")) {
			bool x = false;

			if (get_bool(l, v, "bypasses_l7", &x) == 0 && x)
				b->cap.bypass = true;
		} else if (key_is(k, "actions")) {
			if (v->type != OSH_NODE_SEQ) {
				err(l, v, "%s: expected a list", "actions");
				continue;
			}
			for (size_t j = 0; j < v->n; j++) {
				const struct osh_node *a = v->items[j];

				if (a->type != OSH_NODE_MAP) {
					err(l, a, "%s: expected a mapping", "actions[]");
					continue;
				}
				for (size_t m = 0; m < a->n; m++) {
					const char *t;

					if (key_is(a->keys[m], "name") ||
					    key_is(a->keys[m], "description"))
						continue;
					if (!key_is(a->keys[m], "type")) {
						err(l, a->keys[m],
						    "actions[]: unknown key '%s' (expected name, "
						    "type, "
						    "description)",
						    a->keys[m]->text);
						continue;
					}
					t = get_str(l, a->items[m], "type");
					if (!t)
						continue;
					if (!strcmp(t, "write") || !strcmp(t, "destructive"))
						b->cap.write = true;
					else if (strcmp(t, "read"))
						err(l, a->items[m],
						    "type: expected read, write or destructive, "
						    "got "
						    "'%s'",
						    t);
				}
			}
		} else if (!key_is(k, "name") && !key_is(k, "transport") &&
			   !key_is(k, "description")) {
			err(l, k,
			    "protocols[]: unknown key '%s' (expected name, transport, description, "
			    "bypasses_l7, actions)",
			    k->text);
		}
	}
	return 0;
}

static int load_binary(struct ld *l, const struct osh_node *root, struct prv_binary *b)
{
	bool have_exfil = false, have_http = false;
	int r;

	memset(b, 0, sizeof(*b));
	b->cap.known = true;
	for (size_t i = 0; i < root->n; i++) {
		const struct osh_node *k = root->keys[i], *v = root->items[i];

		if (key_is(k, "binary")) {
			const char *s = get_str(l, v, "binary");

			if (s && s[0] != '/')
				err(l, v, "binary: expected an absolute path, got '%s'", s);
			b->path = (char *)s;
		} else if (key_is(k, "description")) {
			b->description = (char *)get_str(l, v, "description");
		} else if (key_is(k, "exfil_mechanism")) {
			b->exfil_mechanism = (char *)get_str(l, v, "exfil_mechanism");
		} else if (key_is(k, "can_exfiltrate")) {
			have_exfil = get_bool(l, v, "can_exfiltrate", &b->cap.exfil) == 0;
		} else if (key_is(k, "can_construct_http")) {
			have_http = get_bool(l, v, "can_construct_http", &b->cap.http) == 0;
		} else if (key_is(k, "spawns")) {
			r = get_strs(l, v, "spawns", &b->spawns, &b->n_spawns);
			if (r == -ENOMEM)
				return r;
		} else if (key_is(k, "aliases")) {
			r = get_strs(l, v, "aliases", &b->aliases, &b->n_aliases);
			if (r == -ENOMEM)
				return r;
		} else if (key_is(k, "protocols")) {
			if (v->type != OSH_NODE_SEQ) {
				err(l, v, "%s: expected a list", "protocols");
				continue;
			}
			for (size_t j = 0; j < v->n; j++)
				load_protocol(l, v->items[j], b);
		} else {
			err(l, k,
			    "unknown key '%s' (expected binary, description, protocols, spawns, "
			    "aliases, can_exfiltrate, exfil_mechanism, can_construct_http)",
			    k->text);
		}
	}
	if (!b->path)
		err(l, root, "%s: missing (the program's absolute path)", "binary");
	if (!have_exfil)
		err(l, root, "%s: missing", "can_exfiltrate");
	if (!have_http)
		err(l, root, "%s: missing", "can_construct_http");
	for (size_t i = 0; i < b->n_spawns; i++)
		if (!strcmp(b->spawns[i], "*"))
			b->cap.spawns_any = true;
	b->cap.desc = b->description;
	b->cap.exfil_mechanism = b->exfil_mechanism;
	return 0;
}

/* ---- APIs ------------------------------------------------------------------------------------- */

static int load_api(struct ld *l, const struct osh_node *root, struct prv_api *api)
{
	const struct osh_node *caps = NULL, *risks = NULL;
	size_t n = 0, k = 0;

	memset(api, 0, sizeof(*api));
	for (size_t i = 0; i < root->n; i++) {
		const struct osh_node *key = root->keys[i], *v = root->items[i];

		if (key_is(key, "api"))
			api->name = (char *)get_str(l, v, "api");
		else if (key_is(key, "host"))
			api->host = (char *)get_str(l, v, "host");
		else if (key_is(key, "port")) {
			const char *s = get_str(l, v, "port");
			char *end = NULL;
			long p = s ? strtol(s, &end, 10) : 0;

			if (!s || *end || p < 1 || p > 65535)
				err(l, v, "port: expected a port number, got '%s'", s ? s : "");
			else
				api->port = (unsigned)p;
		} else if (key_is(key, "credential_type"))
			api->credential_type = (char *)get_str(l, v, "credential_type");
		else if (key_is(key, "scope_capabilities"))
			caps = v;
		else if (key_is(key, "action_risk"))
			risks = v;
		else
			err(l, key,
			    "unknown key '%s' (expected api, host, port, credential_type, "
			    "scope_capabilities, action_risk)",
			    key->text);
	}
	if (!api->host)
		err(l, root, "%s: missing", "host");
	if (caps && caps->type != OSH_NODE_MAP) {
		err(l, caps, "%s: expected a mapping of scope to actions", "scope_capabilities");
		caps = NULL;
	}
	if (risks && risks->type != OSH_NODE_MAP) {
		err(l, risks, "%s: expected a mapping of action to risk", "action_risk");
		risks = NULL;
	}
	for (size_t i = 0; caps && i < caps->n; i++)
		if (caps->items[i]->type == OSH_NODE_SEQ)
			n += caps->items[i]->n;
	api->actions = osh_arena_array(l->arena, n ? n : 1, sizeof(*api->actions));
	if (!api->actions)
		return -ENOMEM;
	for (size_t i = 0; caps && i < caps->n; i++) {
		const struct osh_node *list = caps->items[i];

		if (list->type != OSH_NODE_SEQ) {
			err(l, list, "scope_capabilities.%s: expected a list", caps->keys[i]->text);
			continue;
		}
		for (size_t j = 0; j < list->n; j++) {
			const struct osh_node *a = list->items[j];
			struct prv_api_action *x = &api->actions[k];

			if (a->type != OSH_NODE_MAP) {
				err(l, a, "%s: expected {method, path, action}",
				    "scope_capabilities");
				continue;
			}
			x->scope = (char *)caps->keys[i]->text;
			for (size_t m = 0; m < a->n; m++) {
				const char *s = get_str(l, a->items[m], a->keys[m]->text);

				if (key_is(a->keys[m], "method"))
					x->method = (char *)s;
				else if (key_is(a->keys[m], "path"))
					x->path = (char *)s;
				else if (key_is(a->keys[m], "action"))
					x->action = (char *)s;
				else
					err(l, a->keys[m],
					    "unknown key '%s' (expected method, path, action)",
					    a->keys[m]->text);
			}
			if (!x->method || !x->path || !x->action) {
				err(l, a, "%s: method, path and action are required",
				    "scope_capabilities");
				continue;
			}
			for (size_t m = 0; x->method[m]; m++)
				if (x->method[m] >= 'a' && x->method[m] <= 'z')
					x->method[m] = (char)(x->method[m] - 'a' + 'A');
			for (size_t m = 0; risks && m < risks->n; m++)
				if (!strcmp(risks->keys[m]->text, x->action))
					x->risk =
					    (char *)get_str(l, risks->items[m], "action_risk");
			k++;
		}
	}
	api->n_actions = k;
	for (size_t m = 0; risks && m < risks->n; m++) {
		const char *s =
		    risks->items[m]->type == OSH_NODE_SCALAR ? risks->items[m]->text : "";

		if (strcmp(s, "low") && strcmp(s, "medium") && strcmp(s, "high") &&
		    strcmp(s, "critical"))
			err(l, risks->items[m],
			    "action_risk: expected low, medium, high or critical, got '%s'", s);
	}
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists DIR's *.yaml files, sorted, so the registry's order does not depend on readdir. */
static int list_yaml(const char *dir, char ***ret, size_t *ret_n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char **nv;

		if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") || e->d_name[0] == '.')
			continue;
		if (n >= REGISTRY_MAX_FILES)
			break;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			goto nomem;
		v = nv;
		if (prv_asprintf(&v[n], "%s/%s", dir, e->d_name) < 0)
			goto nomem;
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_name);
	*ret = v;
	*ret_n = n;
	return 0;
nomem:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int osh_prover_registry_load(const char *dir, struct osh_prover_registry **ret,
			     struct osh_diag_list *diags)
{
	struct osh_prover_registry *reg;
	struct ld l = { .diags = diags };
	char *sub = NULL, **files = NULL;
	size_t n_files = 0;
	struct stat st;
	int r;

	if (stat(dir, &st) < 0) {
		r = -errno;
		osh_diag_list_add(diags, dir, 0, 0, "registry: %s", strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		osh_diag_list_add(diags, dir, 0, 0, "registry: not a directory");
		return -ENOTDIR;
	}
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	r = osh_arena_new(&reg->arena);
	if (r < 0)
		goto fail;
	l.arena = reg->arena;

	if (prv_asprintf(&sub, "%s/binaries", dir) < 0 ||
	    (r = list_yaml(sub, &files, &n_files)) < 0)
		goto fail_r;
	reg->bins = osh_arena_array(reg->arena, n_files ? n_files : 1, sizeof(*reg->bins));
	if (!reg->bins)
		goto nomem;
	for (size_t i = 0; i < n_files; i++) {
		struct osh_node *root = NULL;

		r = load_tree(&l, files[i], &root);
		if (r == -ENOMEM)
			goto fail;
		if (r < 0)
			continue;
		r = load_binary(&l, root, &reg->bins[reg->n_bins]);
		if (r < 0)
			goto fail;
		if (reg->bins[reg->n_bins].path)
			reg->n_bins++;
	}
	free_names(files, n_files);
	files = NULL;
	free(sub);
	sub = NULL;

	if (prv_asprintf(&sub, "%s/apis", dir) < 0 || (r = list_yaml(sub, &files, &n_files)) < 0)
		goto fail_r;
	reg->apis = osh_arena_array(reg->arena, n_files ? n_files : 1, sizeof(*reg->apis));
	if (!reg->apis)
		goto nomem;
	for (size_t i = 0; i < n_files; i++) {
		struct osh_node *root = NULL;

		r = load_tree(&l, files[i], &root);
		if (r == -ENOMEM)
			goto fail;
		if (r < 0)
			continue;
		r = load_api(&l, root, &reg->apis[reg->n_apis]);
		if (r < 0)
			goto fail;
		if (reg->apis[reg->n_apis].host)
			reg->n_apis++;
	}
	free_names(files, n_files);
	free(sub);
	if (l.errors) {
		osh_prover_registry_free(reg);
		return -EINVAL;
	}
	*ret = reg;
	return 0;
fail_r:
	if (r >= 0)
		r = -ENOMEM;
	goto fail;
nomem:
	r = -ENOMEM;
fail:
	free_names(files, n_files);
	free(sub);
	osh_prover_registry_free(reg);
	return r;
}

void osh_prover_registry_free(struct osh_prover_registry *r)
{
	if (!r)
		return;
	osh_arena_free(r->arena);
	free(r);
}

size_t osh_prover_registry_n_binaries(const struct osh_prover_registry *r)
{
	return r ? r->n_bins : 0;
}

/* ---- credentials ------------------------------------------------------------------------------ */

/* Finds the top-level list named key; reports any other top-level key. */
static const struct osh_node *top_list(struct ld *l, const struct osh_node *root, const char *key)
{
	const struct osh_node *list = NULL;

	for (size_t i = 0; i < root->n; i++) {
		if (key_is(root->keys[i], key))
			list = root->items[i];
		else
			err(l, root->keys[i], "unknown top-level key '%s'", root->keys[i]->text);
	}
	if (!list) {
		err(l, root, "%s: missing", key);
		return NULL;
	}
	if (list->type != OSH_NODE_SEQ) {
		err(l, list, "%s: expected a list", key);
		return NULL;
	}
	return list;
}

/* One entry of a top-level list, parsed into elem: 0 to keep it, 1 to drop it (an error was
 * reported), negative errno to stop loading. */
typedef int (*list_item_fn)(struct ld *l, const struct osh_node *n, void *elem);

/* Loads PATH's top-level list KEY into an arena array of elem_size entries. The file's errors
 * are all reported before it fails with -EINVAL. */
static int list_load(struct ld *l, const char *path, const char *key, size_t elem_size,
		     list_item_fn fn, void **ret_items, size_t *ret_n)
{
	struct osh_node *root = NULL;
	const struct osh_node *list;
	char *items;
	size_t n = 0;
	int r = load_tree(l, path, &root);

	if (r < 0)
		return r;
	list = top_list(l, root, key);
	if (list) {
		items = osh_arena_array(l->arena, list->n ? list->n : 1, elem_size);
		if (!items)
			return -ENOMEM;
		for (size_t i = 0; i < list->n; i++) {
			const struct osh_node *e = list->items[i];

			if (e->type != OSH_NODE_MAP) {
				err(l, e, "%s[]: expected a mapping", key);
				continue;
			}
			r = fn(l, e, items + n * elem_size);
			if (r < 0)
				return r;
			n += r == 0;
		}
		*ret_items = items;
	}
	*ret_n = n;
	return l->errors ? -EINVAL : 0;
}

static int credential_item(struct ld *l, const struct osh_node *n, void *elem)
{
	struct prv_credential *x = elem;
	int r = 0;

	for (size_t k = 0; k < n->n; k++) {
		const struct osh_node *key = n->keys[k], *v = n->items[k];

		if (key_is(key, "name"))
			x->name = (char *)get_str(l, v, "name");
		else if (key_is(key, "type"))
			x->type = (char *)get_str(l, v, "type");
		else if (key_is(key, "injected_via"))
			x->injected_via = (char *)get_str(l, v, "injected_via");
		else if (key_is(key, "scopes"))
			r = get_strs(l, v, "scopes", &x->scopes, &x->n_scopes);
		else if (key_is(key, "target_hosts"))
			r = get_strs(l, v, "target_hosts", &x->hosts, &x->n_hosts);
		else
			err(l, key,
			    "credentials[]: unknown key '%s' (expected name, type, scopes, "
			    "injected_via, target_hosts)",
			    key->text);
		if (r == -ENOMEM)
			return r;
	}
	if (!x->name)
		err(l, n, "%s: missing", "name");
	if (!x->n_hosts)
		err(l, n, "%s: missing or empty", "target_hosts");
	for (size_t k = 0; k < x->n_hosts; k++)
		for (char *p = x->hosts[k]; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	return 0;
}

int osh_prover_credentials_load(const char *path, struct osh_prover_credentials **ret,
				struct osh_diag_list *diags)
{
	struct osh_prover_credentials *c = calloc(1, sizeof(*c));
	struct ld l = { .diags = diags };
	void *items = NULL;
	int r;

	if (!c)
		return -ENOMEM;
	r = osh_arena_new(&c->arena);
	if (r < 0)
		goto fail;
	l.arena = c->arena;
	r = list_load(&l, path, "credentials", sizeof(*c->creds), credential_item, &items, &c->n);
	if (r < 0)
		goto fail;
	c->creds = items;
	*ret = c;
	return 0;
fail:
	osh_prover_credentials_free(c);
	return r;
}

void osh_prover_credentials_free(struct osh_prover_credentials *c)
{
	if (!c)
		return;
	osh_arena_free(c->arena);
	free(c);
}

/* ---- accepted risks --------------------------------------------------------------------------- */

static int accepted_item(struct ld *l, const struct osh_node *n, void *elem)
{
	struct prv_accepted *x = elem;

	for (size_t k = 0; k < n->n; k++) {
		const struct osh_node *key = n->keys[k], *v = n->items[k];
		const char *s = get_str(l, v, key->text);

		if (key_is(key, "query"))
			x->query = (char *)s;
		else if (key_is(key, "reason"))
			x->reason = (char *)s;
		else if (key_is(key, "accepted_by"))
			x->accepted_by = (char *)s;
		else if (key_is(key, "binary"))
			x->binary = (char *)s;
		else if (key_is(key, "endpoint"))
			x->endpoint = (char *)s;
		else
			err(l, key,
			    "accepted_risks[]: unknown key '%s' (expected query, reason, "
			    "accepted_by, binary, endpoint)",
			    key->text);
	}
	if (!x->query || !x->reason || !x->accepted_by) {
		err(l, n, "%s: query, reason and accepted_by are required", "accepted_risks[]");
		return 1;
	}
	/* An upstream query name osh does not have (e.g. inference_relay) is kept: it matches
	 * nothing, which is what it means here. */
	return 0;
}

int osh_prover_accepted_load(const char *path, struct osh_prover_accepted **ret,
			     struct osh_diag_list *diags)
{
	struct osh_prover_accepted *a = calloc(1, sizeof(*a));
	struct ld l = { .diags = diags };
	void *items = NULL;
	int r;

	if (!a)
		return -ENOMEM;
	r = osh_arena_new(&a->arena);
	if (r < 0)
		goto fail;
	l.arena = a->arena;
	r = list_load(&l, path, "accepted_risks", sizeof(*a->risks), accepted_item, &items, &a->n);
	if (r < 0)
		goto fail;
	a->risks = items;
	*ret = a;
	return 0;
fail:
	osh_prover_accepted_free(a);
	return r;
}

void osh_prover_accepted_free(struct osh_prover_accepted *a)
{
	if (!a)
		return;
	osh_arena_free(a->arena);
	free(a);
}
