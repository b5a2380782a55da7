// SPDX-License-Identifier: Apache-2.0
// The IR's life cycle: parse entry points (read, pick the front end, apply the schema), the
// normalisation that makes the IR canonical (sorted, deduplicated), and freeing.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

const char *osh_l7_protocol_name(enum osh_l7_protocol v)
{
	static const char *const names[] = {
		[OSH_L7_NONE] = "",	      [OSH_L7_TCP] = "tcp",
		[OSH_L7_REST] = "rest",	      [OSH_L7_WEBSOCKET] = "websocket",
		[OSH_L7_GRAPHQL] = "graphql",
	};

	return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

const char *osh_access_name(enum osh_access v)
{
	static const char *const names[] = {
		[OSH_ACCESS_NONE] = "",
		[OSH_ACCESS_READ_ONLY] = "read-only",
		[OSH_ACCESS_READ_WRITE] = "read-write",
		[OSH_ACCESS_FULL] = "full",
	};

	return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

const char *osh_landlock_compat_name(enum osh_landlock_compat v)
{
	return v == OSH_LANDLOCK_HARD_REQUIREMENT ? "hard_requirement" : "best_effort";
}

/* ---- comparisons: a total order over every field, so canonical order never depends on the
 * order the author wrote things in ---- */

#define CMP(a, b)                                                                                  \
	do {                                                                                       \
		if ((a) != (b))                                                                    \
			return (a) < (b) ? -1 : 1;                                                 \
	} while (0)

static int query_cmp(const struct osh_query_match *a, const struct osh_query_match *b)
{
	int r = strcmp(a->name, b->name);

	if (r)
		return r;
	CMP(a->n_any, b->n_any);
	for (size_t i = 0; i < a->n_any; i++)
		if ((r = strcmp(a->any[i], b->any[i])))
			return r;
	return 0;
}

int osh_l7_rule_cmp(const struct osh_l7_rule *a, const struct osh_l7_rule *b)
{
	int r;

	if ((r = osh_strcmp_null(a->method, b->method)) || (r = osh_strcmp_null(a->path, b->path)))
		return r;
	CMP(a->n_query, b->n_query);
	for (size_t i = 0; i < a->n_query; i++)
		if ((r = query_cmp(&a->query[i], &b->query[i])))
			return r;
	return 0;
}

int osh_endpoint_cmp(const struct osh_endpoint *a, const struct osh_endpoint *b)
{
	int r;

	if ((r = osh_strcmp_null(a->host, b->host)))
		return r;
	CMP(a->n_ports, b->n_ports);
	for (size_t i = 0; i < a->n_ports; i++)
		CMP(a->ports[i], b->ports[i]);
	CMP(a->protocol, b->protocol);
	CMP(a->tls, b->tls);
	CMP(a->enforcement, b->enforcement);
	CMP(a->access, b->access);
	CMP(a->n_allowed_ips, b->n_allowed_ips);
	for (size_t i = 0; i < a->n_allowed_ips; i++)
		if ((r = osh_cidr_cmp(&a->allowed_ips[i], &b->allowed_ips[i])))
			return r;
	CMP(a->n_rules, b->n_rules);
	for (size_t i = 0; i < a->n_rules; i++)
		if ((r = osh_l7_rule_cmp(&a->rules[i], &b->rules[i])))
			return r;
	CMP(a->n_deny_rules, b->n_deny_rules);
	for (size_t i = 0; i < a->n_deny_rules; i++)
		if ((r = osh_l7_rule_cmp(&a->deny_rules[i], &b->deny_rules[i])))
			return r;
	return 0;
}

/* qsort adapters */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return (x > y) - (x < y);
}

static int cmp_cidr(const void *a, const void *b)
{
	return osh_cidr_cmp(a, b);
}

static int cmp_query(const void *a, const void *b)
{
	return query_cmp(a, b);
}

static int cmp_l7(const void *a, const void *b)
{
	return osh_l7_rule_cmp(a, b);
}

static int cmp_endpoint(const void *a, const void *b)
{
	return osh_endpoint_cmp(a, b);
}

static int cmp_binary(const void *a, const void *b)
{
	return strcmp(((const struct osh_binary *)a)->path, ((const struct osh_binary *)b)->path);
}

static int cmp_net_rule(const void *a, const void *b)
{
	return strcmp(((const struct osh_net_rule *)a)->key, ((const struct osh_net_rule *)b)->key);
}

/* Sorts base[0..*n) and drops adjacent duplicates (equal under cmp), keeping the first. */
static void sort_unique(void *base, size_t *n, size_t size, int (*cmp)(const void *, const void *))
{
	char *b = base;
	size_t o = 0;

	if (*n < 2)
		return;
	qsort(b, *n, size, cmp);
	for (size_t i = 1; i < *n; i++) {
		if (cmp(b + o * size, b + i * size) == 0)
			continue;
		o++;
		if (o != i)
			memcpy(b + o * size, b + i * size, size);
	}
	*n = o + 1;
}

static void normalize_l7(struct osh_l7_rule *r)
{
	for (size_t i = 0; i < r->n_query; i++)
		sort_unique(r->query[i].any, &r->query[i].n_any, sizeof(char *), cmp_str);
	sort_unique(r->query, &r->n_query, sizeof(*r->query), cmp_query);
}

int osh_ir_normalize(struct osh_policy *p)
{
	struct osh_fs_policy *fs = &p->filesystem;

	sort_unique(fs->read_only, &fs->n_read_only, sizeof(char *), cmp_str);
	sort_unique(fs->read_write, &fs->n_read_write, sizeof(char *), cmp_str);
	sort_unique(fs->deny, &fs->n_deny, sizeof(char *), cmp_str);
	for (size_t i = 0; i < p->n_net_rules; i++) {
		struct osh_net_rule *r = &p->net_rules[i];

		for (size_t j = 0; j < r->n_endpoints; j++) {
			struct osh_endpoint *ep = &r->endpoints[j];

			sort_unique(ep->ports, &ep->n_ports, sizeof(*ep->ports), cmp_u16);
			sort_unique(ep->allowed_ips, &ep->n_allowed_ips, sizeof(*ep->allowed_ips),
				    cmp_cidr);
			for (size_t k = 0; k < ep->n_rules; k++)
				normalize_l7(&ep->rules[k]);
			for (size_t k = 0; k < ep->n_deny_rules; k++)
				normalize_l7(&ep->deny_rules[k]);
			sort_unique(ep->rules, &ep->n_rules, sizeof(*ep->rules), cmp_l7);
			sort_unique(ep->deny_rules, &ep->n_deny_rules, sizeof(*ep->deny_rules),
				    cmp_l7);
		}
		sort_unique(r->endpoints, &r->n_endpoints, sizeof(*r->endpoints), cmp_endpoint);
		sort_unique(r->binaries, &r->n_binaries, sizeof(*r->binaries), cmp_binary);
	}
	/* Keys are unique (duplicates are errors), so this only sorts. */
	sort_unique(p->net_rules, &p->n_net_rules, sizeof(*p->net_rules), cmp_net_rule);
	return 0;
}

/* ---- entry points ---- */

static enum osh_policy_format detect_format(const char *name, const char *buf, size_t len)
{
	size_t nl = name ? strlen(name) : 0;

	if (nl >= 5 && !strcmp(name + nl - 5, ".json"))
		return OSH_POLICY_FORMAT_JSON;
	if (nl >= 5 && (!strcmp(name + nl - 5, ".yaml") || !strcmp(name + nl - 4, ".yml")))
		return OSH_POLICY_FORMAT_YAML;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n')
			continue;
		return buf[i] == '{' ? OSH_POLICY_FORMAT_JSON : OSH_POLICY_FORMAT_YAML;
	}
	return OSH_POLICY_FORMAT_YAML;
}

int osh_policy_parse_buffer(const char *name, const char *buf, size_t len,
			    enum osh_policy_format fmt, struct osh_policy **ret,
			    struct osh_diag_list *diags)
{
	struct osh_arena *a = NULL;
	struct osh_policy *p;
	struct osh_node *root = NULL;
	int r;

	if (!name)
		name = "<input>";
	if (len > OSH_POLICY_MAX_INPUT)
		return osh_diag_list_add(diags, name, 1, 1,
					 "policy too large: %zu bytes (at most %u)", len,
					 OSH_POLICY_MAX_INPUT)
			   ?: -EFBIG;
	if (fmt == OSH_POLICY_FORMAT_AUTO)
		fmt = detect_format(name, buf, len);
	r = osh_arena_new(&a);
	if (r < 0)
		return r;
	p = osh_arena_alloc(a, sizeof(*p));
	if (!p || !(p->source = osh_arena_strdup(a, name))) {
		r = -ENOMEM;
		goto fail;
	}
	p->arena = a;
	if (fmt == OSH_POLICY_FORMAT_JSON)
		r = osh_json_load(a, name, buf, len, &root, diags);
	else if (fmt == OSH_POLICY_FORMAT_YAML)
		r = osh_yaml_load(a, name, buf, len, &root, diags);
	else
		r = -EINVAL;
	if (r < 0)
		goto fail;
	r = osh_schema_apply(p, root, name, diags);
	if (r < 0)
		goto fail;
	if (r > 0) {
		r = -EINVAL;
		goto fail;
	}
	r = osh_ir_normalize(p);
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	osh_diag_list_sort(diags);
	osh_arena_free(a);
	return r;
}

int osh_policy_parse_file(const char *path, enum osh_policy_format fmt, struct osh_policy **ret,
			  struct osh_diag_list *diags)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return osh_diag_list_add(diags, path, 0, 0, "cannot open: %s", strerror(-r)) ?: r;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap > OSH_POLICY_MAX_INPUT) {
				r = osh_diag_list_add(diags, path, 1, 1,
						      "policy too large (at most %u bytes)",
						      OSH_POLICY_MAX_INPUT)
					?: -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 16384;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			osh_diag_list_add(diags, path, 0, 0, "cannot read: %s", strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	r = osh_policy_parse_buffer(path, buf, len, fmt, ret, diags);
out:
	free(buf);
	close(fd);
	return r;
}

void osh_policy_free(struct osh_policy *p)
{
	if (p)
		osh_arena_free(p->arena);
}

void osh_policy_freep(struct osh_policy **p)
{
	if (p) {
		osh_policy_free(*p);
		*p = NULL;
	}
}
