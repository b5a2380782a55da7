// SPDX-License-Identifier: Apache-2.0
// The prover's Z3 encoding: a finite universe of binaries x targets (host:port) x methods x
// mechanisms shared by the new and the old policy, one formula per query over bit-vector
// witness variables, and witness enumeration with blocking clauses (docs/prover.md).
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <z3.h>

#include "internal.h"
#include "policy-compiler/internal.h"

/* Witness variables. Every query uses a subset; the projection names the ones a finding is
 * keyed on (blocked after each model). */
enum { V_B, V_T, V_M, V_K, V_C, V_A, V_X, V_S, V_MAX };
#define P_(v) (1u << (v))

enum { M_GET, M_HEAD, M_OPTIONS, M_POST, M_PUT, M_PATCH, M_DELETE, M_RAW, M_DNS, M_MAX };
static const char *const method_names[M_MAX] = { "GET",	  "HEAD",   "OPTIONS", "POST", "PUT",
						 "PATCH", "DELETE", "RAW",     "DNS" };
#define M_HTTP_N 7

enum { K_HTTP_L7, K_HTTP_L4, K_RAW_L4, K_L7_BYPASS, K_DNS, K_MAX };
static const char *const mech_names[K_MAX] = { "http-l7", "http-l4", "raw-l4", "l7-bypass",
					       "dns-query" };

struct ubin {
	char *path; /* "*" for the synthetic "any program" */
	bool glob;
	struct prv_cap cap;
	size_t *children; /* spawn closure (indices), without itself */
	size_t n_children;
};

struct utarget {
	char *host; /* name, wildcard, IP or CIDR */
	uint16_t port;
	bool wildcard;
	bool deep; /* "**." wildcard: any depth */
	enum prv_addr_class cls;
};

struct uaction {
	const struct prv_api *api;
	const struct prv_api_action *a;
	int risk; /* enum osh_severity; 0 when the registry gives none */
	bool write;
};

/* One endpoint of a policy as the encodings see it. */
struct pep {
	size_t rule;
	const struct osh_endpoint *ep;
	size_t *targets;
	size_t n_targets;
	bool l7;	       /* L7 rules bind HTTP (protocol set, enforcement: enforce) */
	bool method[M_HTTP_N]; /* HTTP methods the L7 rules allow (all when !l7) */
	bool *action;	       /* per uaction: the L7 rules allow it */
};

struct upol {
	const struct osh_policy *p;
	struct pep *eps;
	size_t n_eps;
	bool *listed; /* [rule * n_bins + bin] */
	size_t n_bins;
	bool *exposed; /* per secret */
	const char **exposed_via;
};

struct secret {
	const char *name;    /* as reported */
	const char *pats[4]; /* absolute globs it stands for */
	bool any_tree;	     /* ".env": any non-system tree the agent reads */
	bool environ;
};

static const struct secret secrets[] = {
	{ "~/.ssh", { "/root/.ssh", "/home/*/.ssh", "/sandbox/.ssh" }, false, false },
	{ "~/.aws", { "/root/.aws", "/home/*/.aws", "/sandbox/.aws" }, false, false },
	{ "~/.config/gh",
	  { "/root/.config/gh", "/home/*/.config/gh", "/sandbox/.config/gh" },
	  false,
	  false },
	{ "~/.netrc", { "/root/.netrc", "/home/*/.netrc", "/sandbox/.netrc" }, false, false },
	{ "~/.git-credentials",
	  { "/root/.git-credentials", "/home/*/.git-credentials", "/sandbox/.git-credentials" },
	  false,
	  false },
	{ "~/.kube/config",
	  { "/root/.kube/config", "/home/*/.kube/config", "/sandbox/.kube/config" },
	  false,
	  false },
	{ ".env", { NULL }, true, false },
	{ "/proc/*/environ", { "/proc/*/environ" }, false, true },
};
#define N_SECRETS (sizeof(secrets) / sizeof(secrets[0]))

struct prover {
	const struct osh_prover_input *in;
	const struct osh_prover_registry *reg;
	const struct osh_prover_credentials *cred;
	Z3_context ctx;
	Z3_solver s;
	Z3_sort sort[V_MAX];
	Z3_ast var[V_MAX];
	Z3_ast capc[V_MAX][3]; /* cached capability predicates per variable */
	long cube;	       /* >= 0: formulas are built for the target cube T == cube only */
	unsigned n[V_MAX];     /* domain sizes */

	struct ubin *bins;
	size_t n_bins, cap_bins;
	size_t any_bin;
	struct utarget *tgts;
	size_t n_tgts, cap_tgts;
	size_t *hash; /* open addressing over targets: index + 1, 0 = empty */
	size_t hash_cap;
	struct uaction *acts;
	size_t n_acts;

	struct upol pol[2]; /* [0] new, [1] old */
	bool delta;

	struct osh_findings *out;
	size_t max_w;
	int err;
};

/* ---- universe --------------------------------------------------------------------------------- */

static size_t add_bin(struct prover *pr, const char *path, bool glob)
{
	for (size_t i = 0; i < pr->n_bins; i++)
		if (!strcmp(pr->bins[i].path, path))
			return i;
	if (pr->n_bins == pr->cap_bins) {
		size_t cap = pr->cap_bins ? pr->cap_bins * 2 : 32;
		struct ubin *nb = realloc(pr->bins, cap * sizeof(*nb));

		if (!nb) {
			pr->err = -ENOMEM;
			return 0;
		}
		pr->bins = nb;
		pr->cap_bins = cap;
	}
	memset(&pr->bins[pr->n_bins], 0, sizeof(pr->bins[0]));
	pr->bins[pr->n_bins].path = strdup(path);
	if (!pr->bins[pr->n_bins].path)
		pr->err = -ENOMEM;
	pr->bins[pr->n_bins].glob = glob;
	if (!strcmp(path, "*"))
		pr->bins[pr->n_bins].cap = prv_registry_cap(pr->reg, "/*", true);
	else
		pr->bins[pr->n_bins].cap = prv_registry_cap(pr->reg, path, glob);
	return pr->n_bins++;
}

static uint64_t hash_str(const char *s, uint16_t port)
{
	uint64_t h = 1469598103934665603ull ^ port;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int grow_hash(struct prover *pr)
{
	size_t cap = pr->hash_cap ? pr->hash_cap * 2 : 1024;
	size_t *h = calloc(cap, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < pr->n_tgts; i++) {
		size_t k = hash_str(pr->tgts[i].host, pr->tgts[i].port) & (cap - 1);

		while (h[k])
			k = (k + 1) & (cap - 1);
		h[k] = i + 1;
	}
	free(pr->hash);
	pr->hash = h;
	pr->hash_cap = cap;
	return 0;
}

static size_t add_target(struct prover *pr, const char *host, uint16_t port,
			 enum prv_addr_class cls)
{
	size_t k;

	if ((pr->n_tgts + 1) * 2 > pr->hash_cap && grow_hash(pr) < 0) {
		pr->err = -ENOMEM;
		return 0;
	}
	k = hash_str(host, port) & (pr->hash_cap - 1);
	while (pr->hash[k]) {
		struct utarget *t = &pr->tgts[pr->hash[k] - 1];

		if (t->port == port && !strcmp(t->host, host)) {
			if (cls > t->cls)
				t->cls = cls;
			return pr->hash[k] - 1;
		}
		k = (k + 1) & (pr->hash_cap - 1);
	}
	if (pr->n_tgts == pr->cap_tgts) {
		size_t cap = pr->cap_tgts ? pr->cap_tgts * 2 : 256;
		struct utarget *nt = realloc(pr->tgts, cap * sizeof(*nt));

		if (!nt) {
			pr->err = -ENOMEM;
			return 0;
		}
		pr->tgts = nt;
		pr->cap_tgts = cap;
	}
	memset(&pr->tgts[pr->n_tgts], 0, sizeof(pr->tgts[0]));
	pr->tgts[pr->n_tgts].host = strdup(host);
	if (!pr->tgts[pr->n_tgts].host)
		pr->err = -ENOMEM;
	pr->tgts[pr->n_tgts].port = port;
	pr->tgts[pr->n_tgts].cls = cls;
	pr->tgts[pr->n_tgts].wildcard = strchr(host, '*') != NULL;
	pr->tgts[pr->n_tgts].deep = !strncmp(host, "**.", 3);
	pr->hash[k] = pr->n_tgts + 1;
	return pr->n_tgts++;
}

/* Binaries of both policies, then the closure of what they spawn (registry spawns lists; a
 * program that spawns "*" or is unknown spawns the synthetic "any program"). */
static void build_bins(struct prover *pr)
{
	size_t idx[64];

	pr->any_bin = add_bin(pr, "*", true);
	for (int k = 0; k < 2; k++) {
		const struct osh_policy *p = pr->pol[k].p;

		for (size_t r = 0; p && r < p->n_net_rules; r++)
			for (size_t b = 0; b < p->net_rules[r].n_binaries; b++)
				add_bin(pr, p->net_rules[r].binaries[b].path,
					p->net_rules[r].binaries[b].glob);
	}
	/* Direct children, growing the universe as new programs appear. */
	for (size_t i = 0; i < pr->n_bins && !pr->err; i++) {
		struct ubin *b = &pr->bins[i];
		bool unknown = false;
		size_t n, *kids = NULL, nk = 0;

		if (i == pr->any_bin)
			continue;
		n = strcmp(b->path, "*")
			? prv_registry_match(pr->reg, b->path, b->glob, idx, 64, &unknown)
			: 0;
		if (n > 64)
			unknown = true;
		for (size_t j = 0; j < n && j < 64; j++) {
			const struct prv_binary *rb = &pr->reg->bins[idx[j]];

			for (size_t s = 0; s < rb->n_spawns; s++) {
				size_t c = strcmp(rb->spawns[s], "*")
					       ? add_bin(pr, rb->spawns[s], false)
					       : pr->any_bin;
				size_t *nkids;

				if (c == i)
					continue;
				nkids = realloc(kids, (nk + 1) * sizeof(*kids));
				if (!nkids) {
					pr->err = -ENOMEM;
					break;
				}
				kids = nkids;
				kids[nk++] = c;
			}
		}
		b = &pr->bins[i];
		if (unknown || b->cap.spawns_any) {
			size_t *nkids = realloc(kids, (nk + 1) * sizeof(*kids));

			if (!nkids) {
				pr->err = -ENOMEM;
			} else {
				kids = nkids;
				kids[nk++] = pr->any_bin;
			}
		}
		b->children = kids;
		b->n_children = nk;
	}
	/* Transitive closure (the universe is small: tens of programs). */
	for (bool grew = true; grew && !pr->err;) {
		grew = false;
		for (size_t i = 0; i < pr->n_bins; i++) {
			struct ubin *b = &pr->bins[i];

			for (size_t j = 0; j < b->n_children; j++) {
				const struct ubin *c = &pr->bins[b->children[j]];

				for (size_t g = 0; g < c->n_children; g++) {
					size_t x = c->children[g], *nk;
					bool have = x == i;

					for (size_t h = 0; h < b->n_children && !have; h++)
						have = b->children[h] == x;
					if (have)
						continue;
					nk =
					    realloc(b->children, (b->n_children + 1) * sizeof(*nk));
					if (!nk) {
						pr->err = -ENOMEM;
						return;
					}
					b->children = nk;
					b->children[b->n_children++] = x;
					grew = true;
				}
			}
		}
	}
}

static enum prv_addr_class endpoint_class(const struct osh_endpoint *ep)
{
	enum prv_addr_class c = PRV_ADDR_PUBLIC, x;

	if (ep->host_kind == OSH_HOST_NAME || ep->host_kind == OSH_HOST_WILDCARD)
		c = prv_name_class(ep->host);
	if (ep->host_kind == OSH_HOST_IPV4 || ep->host_kind == OSH_HOST_IPV6)
		c = prv_cidr_class(&ep->host_addr);
	for (size_t i = 0; i < ep->n_allowed_ips; i++) {
		x = prv_cidr_class(&ep->allowed_ips[i]);
		if (x > c)
			c = x;
	}
	return c;
}

static bool is_write_method(int m)
{
	return m == M_POST || m == M_PUT || m == M_PATCH || m == M_DELETE;
}

static int method_index(const char *m)
{
	for (int i = 0; i < M_HTTP_N; i++)
		if (!strcasecmp(m, method_names[i]))
			return i;
	return -1;
}

/* A deny rule removes a whole method only when it binds every path and query. */
static bool deny_covers(const struct osh_l7_rule *d, int m, const char *path)
{
	if (d->n_query)
		return false;
	if (d->method && strcmp(d->method, "*") && method_index(d->method) != m)
		return false;
	if (!d->path || !strcmp(d->path, "**") || !strcmp(d->path, "/**"))
		return true;
	return path && prv_glob_match(d->path, path);
}

static bool allow_has(const struct osh_endpoint *ep, int m, const char *path)
{
	bool ok = false;

	switch (ep->access) {
	case OSH_ACCESS_READ_ONLY:
		ok = m == M_GET || m == M_HEAD || m == M_OPTIONS;
		break;
	case OSH_ACCESS_READ_WRITE:
		ok = m != M_DELETE;
		break;
	case OSH_ACCESS_FULL:
		ok = true;
		break;
	case OSH_ACCESS_NONE:
		/* No access preset and no rules: nothing narrows the methods. */
		ok = !ep->n_rules;
		break;
	}
	for (size_t i = 0; !ok && i < ep->n_rules; i++) {
		const struct osh_l7_rule *r = &ep->rules[i];

		if (r->method && strcmp(r->method, "*") && method_index(r->method) != m)
			continue;
		ok = !path || !r->path || prv_glob_overlap(r->path, path);
	}
	for (size_t i = 0; ok && i < ep->n_deny_rules; i++)
		if (deny_covers(&ep->deny_rules[i], m, path))
			ok = false;
	return ok;
}

static const char *const system_trees[] = { "/usr",	"/lib",	 "/lib64", "/lib32", "/bin",
					    "/sbin",	"/etc",	 "/dev",   "/proc",  "/sys",
					    "/var/log", "/boot", "/run" };

static bool under(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(p, dir, n) && (p[n] == '/' || !p[n]);
}

/* Which secrets a policy's filesystem section lets the agent read (read_only and read_write,
 * minus deny). A policy without filesystem_policy gets the runner's default, which the prover
 * cannot see: nothing is reported for it. */
static int build_exposed(struct upol *u)
{
	const struct osh_fs_policy *fs = &u->p->filesystem;

	u->exposed = calloc(N_SECRETS, sizeof(*u->exposed));
	u->exposed_via = calloc(N_SECRETS, sizeof(*u->exposed_via));
	if (!u->exposed || !u->exposed_via)
		return -ENOMEM;
	if (!fs->present)
		return 0;
	for (size_t s = 0; s < N_SECRETS; s++) {
		for (int list = 0; list < 2 && !u->exposed[s]; list++) {
			const char **paths = list ? fs->read_write : fs->read_only;
			size_t n = list ? fs->n_read_write : fs->n_read_only;

			for (size_t i = 0; i < n && !u->exposed[s]; i++) {
				char tree[OSH_POLICY_MAX_PATH_LEN + 8];
				bool hit = false, denied = false;

				if (secrets[s].any_tree) {
					/* Project trees hold .env files; system trees do not. Any
					 * writable tree counts: the agent may put one there. */
					hit = list == 1;
					if (!hit) {
						bool sys = false;

						for (size_t k = 0; k < sizeof(system_trees) /
									   sizeof(system_trees[0]);
						     k++)
							sys |= under(paths[i], system_trees[k]);
						hit = !sys && strcmp(paths[i], "/");
					}
				} else {
					snprintf(tree, sizeof(tree), "%s/**",
						 strcmp(paths[i], "/") ? paths[i] : "");
					for (int p = 0; p < 4 && secrets[s].pats[p] && !hit; p++) {
						char sp[256];

						snprintf(sp, sizeof(sp), "%s/**",
							 secrets[s].pats[p]);
						if (!prv_glob_overlap(tree, sp))
							continue;
						hit = true;
						denied = false;
						for (size_t d = 0; d < fs->n_deny; d++) {
							char dt[OSH_POLICY_MAX_PATH_LEN + 8];

							snprintf(dt, sizeof(dt), "%s/**",
								 fs->deny[d]);
							/* deny D covers X when X is D or lies
							 * under it. */
							if (prv_glob_match(fs->deny[d],
									   secrets[s].pats[p]) ||
							    prv_glob_match(dt,
									   secrets[s].pats[p]) ||
							    prv_glob_match(fs->deny[d], paths[i]) ||
							    prv_glob_match(dt, paths[i]))
								denied = true;
						}
						if (denied)
							hit = false;
					}
				}
				if (hit) {
					u->exposed[s] = true;
					u->exposed_via[s] = paths[i];
				}
			}
		}
		if (secrets[s].any_tree && !u->exposed[s] && fs->include_workdir) {
			u->exposed[s] = true;
			u->exposed_via[s] = "the working directory (include_workdir)";
		}
	}
	return 0;
}

static int build_pol(struct prover *pr, struct upol *u)
{
	const struct osh_policy *p = u->p;
	size_t n_eps = 0, e = 0;
	int r;

	for (size_t i = 0; i < p->n_net_rules; i++)
		n_eps += p->net_rules[i].n_endpoints;
	u->eps = calloc(n_eps ? n_eps : 1, sizeof(*u->eps));
	u->n_bins = pr->n_bins;
	u->listed = calloc((p->n_net_rules ? p->n_net_rules : 1) * pr->n_bins, sizeof(bool));
	if (!u->eps || !u->listed)
		return -ENOMEM;
	for (size_t ri = 0; ri < p->n_net_rules; ri++) {
		const struct osh_net_rule *rule = &p->net_rules[ri];

		/* Ancestor matching in the kernel is by path (or glob match): a rule lists a
		 * universe binary when one of its entries names the same path. */
		for (size_t b = 0; b < pr->n_bins; b++) {
			const struct ubin *ub = &pr->bins[b];

			for (size_t k = 0; k < rule->n_binaries; k++) {
				const struct osh_binary *rb = &rule->binaries[k];

				if (!strcmp(rb->path, ub->path) ||
				    (rb->glob && !ub->glob && b != pr->any_bin &&
				     prv_glob_match(rb->path, ub->path)))
					u->listed[ri * pr->n_bins + b] = true;
			}
		}
		for (size_t k = 0; k < rule->n_endpoints; k++, e++) {
			const struct osh_endpoint *ep = &rule->endpoints[k];
			struct pep *pe = &u->eps[e];
			enum prv_addr_class cls = endpoint_class(ep);
			size_t nh = ep->host_kind == OSH_HOST_NONE ? ep->n_allowed_ips : 1;

			pe->rule = ri;
			pe->ep = ep;
			pe->l7 = ep->protocol != OSH_L7_NONE && ep->protocol != OSH_L7_TCP &&
				 ep->enforcement == OSH_ENFORCE;
			for (int m = 0; m < M_HTTP_N; m++)
				pe->method[m] = !pe->l7 || allow_has(ep, m, NULL);
			pe->action = calloc(pr->n_acts ? pr->n_acts : 1, sizeof(bool));
			pe->targets = calloc(nh * ep->n_ports + 1, sizeof(size_t));
			if (!pe->action || !pe->targets)
				return -ENOMEM;
			for (size_t x = 0; x < pr->n_acts; x++) {
				int m = method_index(pr->acts[x].a->method);

				pe->action[x] =
				    m >= 0 && (!pe->l7 || allow_has(ep, m, pr->acts[x].a->path));
			}
			for (size_t h = 0; h < nh; h++) {
				char buf[80];
				const char *host = ep->host;
				enum prv_addr_class c = cls;

				if (ep->host_kind == OSH_HOST_NONE) {
					osh_cidr_format(&ep->allowed_ips[h], buf, sizeof(buf));
					host = buf;
					c = prv_cidr_class(&ep->allowed_ips[h]);
				}
				for (size_t pi = 0; pi < ep->n_ports; pi++)
					pe->targets[pe->n_targets++] =
					    add_target(pr, host, ep->ports[pi], c);
			}
		}
	}
	u->n_eps = e;
	r = build_exposed(u);
	return r < 0 ? r : pr->err;
}

static int risk_of(const char *s)
{
	if (!s)
		return 0;
	if (!strcmp(s, "critical"))
		return OSH_SEVERITY_CRITICAL;
	if (!strcmp(s, "high"))
		return OSH_SEVERITY_HIGH;
	if (!strcmp(s, "medium"))
		return OSH_SEVERITY_MEDIUM;
	return OSH_SEVERITY_LOW;
}

static int build_actions(struct prover *pr)
{
	size_t n = 0;

	for (size_t i = 0; i < pr->reg->n_apis; i++)
		n += pr->reg->apis[i].n_actions;
	pr->acts = calloc(n ? n : 1, sizeof(*pr->acts));
	if (!pr->acts)
		return -ENOMEM;
	for (size_t i = 0; i < pr->reg->n_apis; i++)
		for (size_t j = 0; j < pr->reg->apis[i].n_actions; j++) {
			struct uaction *u = &pr->acts[pr->n_acts++];

			u->api = &pr->reg->apis[i];
			u->a = &pr->reg->apis[i].actions[j];
			u->risk = risk_of(u->a->risk);
			u->write = is_write_method(method_index(u->a->method));
		}
	return 0;
}

/* ---- Z3 helpers ------------------------------------------------------------------------------- */

static unsigned width_for(size_t n)
{
	unsigned w = 1;

	while (w < 31 && ((size_t)1 << w) < n)
		w++;
	return w;
}

static Z3_ast num(struct prover *pr, int v, size_t i)
{
	return Z3_mk_unsigned_int(pr->ctx, (unsigned)i, pr->sort[v]);
}

static Z3_ast eq(struct prover *pr, int v, size_t i)
{
	return Z3_mk_eq(pr->ctx, pr->var[v], num(pr, v, i));
}

static Z3_ast tru(struct prover *pr)
{
	return Z3_mk_true(pr->ctx);
}

static Z3_ast fls(struct prover *pr)
{
	return Z3_mk_false(pr->ctx);
}

static Z3_ast not_(struct prover *pr, Z3_ast a)
{
	return Z3_mk_not(pr->ctx, a);
}

static Z3_ast and2(struct prover *pr, Z3_ast a, Z3_ast b)
{
	Z3_ast v[2] = { a, b };

	return Z3_mk_and(pr->ctx, 2, v);
}

static Z3_ast or2(struct prover *pr, Z3_ast a, Z3_ast b)
{
	Z3_ast v[2] = { a, b };

	return Z3_mk_or(pr->ctx, 2, v);
}

/* A growable disjunction/conjunction under construction. */
struct terms {
	Z3_ast *v;
	size_t n, cap;
};

static void terms_add(struct prover *pr, struct terms *t, Z3_ast a)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		Z3_ast *nv = realloc(t->v, cap * sizeof(*nv));

		if (!nv) {
			pr->err = -ENOMEM;
			return;
		}
		t->v = nv;
		t->cap = cap;
	}
	t->v[t->n++] = a;
}

static Z3_ast terms_or(struct prover *pr, struct terms *t)
{
	Z3_ast r = t->n ? (t->n == 1 ? t->v[0] : Z3_mk_or(pr->ctx, (unsigned)t->n, t->v)) : fls(pr);

	free(t->v);
	memset(t, 0, sizeof(*t));
	return r;
}

/* var in {i : pick(i)} over n candidates. */
static Z3_ast in_pred(struct prover *pr, int v, size_t n,
		      bool (*pick)(struct prover *, size_t, const void *), const void *arg)
{
	struct terms t = { 0 };

	for (size_t i = 0; i < n; i++)
		if (!(v == V_T && pr->cube >= 0 && (long)i != pr->cube) && pick(pr, i, arg))
			terms_add(pr, &t, eq(pr, v, i));
	return terms_or(pr, &t);
}

/* Whether endpoint e takes part in the current cube (always, without a cube). */
static bool in_cube(const struct prover *pr, const struct pep *e)
{
	if (pr->cube < 0)
		return true;
	for (size_t i = 0; i < e->n_targets; i++)
		if ((long)e->targets[i] == pr->cube)
			return true;
	return false;
}

static Z3_ast in_list(struct prover *pr, int v, const size_t *idx, size_t n)
{
	struct terms t = { 0 };

	for (size_t i = 0; i < n; i++)
		terms_add(pr, &t, eq(pr, v, idx[i]));
	return terms_or(pr, &t);
}

/* ---- predicates ------------------------------------------------------------------------------- */

enum capf { C_EXFIL, C_HTTP, C_BYPASS };

static bool pick_cap(struct prover *pr, size_t i, const void *arg)
{
	const struct prv_cap *c = &pr->bins[i].cap;

	switch (*(const enum capf *)arg) {
	case C_EXFIL:
		return c->exfil;
	case C_HTTP:
		return c->http;
	case C_BYPASS:
		return c->bypass;
	}
	return false;
}

static Z3_ast cap(struct prover *pr, int v, enum capf f)
{
	if (!pr->capc[v][f])
		pr->capc[v][f] = in_pred(pr, v, pr->n_bins, pick_cap, &f);
	return pr->capc[v][f];
}

static bool pick_listed(struct prover *pr, size_t i, const void *arg)
{
	const bool *row = arg;

	(void)pr;
	return row[i];
}

static Z3_ast listed(struct prover *pr, const struct upol *u, size_t rule, int v)
{
	return in_pred(pr, v, pr->n_bins, pick_listed, &u->listed[rule * pr->n_bins]);
}

static bool pick_cls(struct prover *pr, size_t i, const void *arg)
{
	const int *cls = arg;

	return (int)pr->tgts[i].cls == cls[0] || (int)pr->tgts[i].cls == cls[1];
}

static Z3_ast target_cls(struct prover *pr, int a, int b)
{
	int cls[2] = { a, b };

	return in_pred(pr, V_T, pr->n_tgts, pick_cls, cls);
}

/* Credential c is in scope on target t when one of its target_hosts can be t's host. */
static bool cred_on(const struct prv_credential *c, const struct utarget *t)
{
	for (size_t h = 0; h < c->n_hosts; h++)
		if (prv_host_overlap(c->hosts[h], t->host))
			return true;
	return false;
}

static Z3_ast cred_rel(struct prover *pr)
{
	struct terms t = { 0 };

	for (size_t c = 0; pr->cred && c < pr->cred->n; c++) {
		struct terms ts = { 0 };

		for (size_t i = 0; i < pr->n_tgts; i++)
			if ((pr->cube < 0 || (long)i == pr->cube) &&
			    cred_on(&pr->cred->creds[c], &pr->tgts[i]))
				terms_add(pr, &ts, eq(pr, V_T, i));
		if (ts.n)
			terms_add(pr, &t, and2(pr, eq(pr, V_C, c), terms_or(pr, &ts)));
		else
			terms_or(pr, &ts);
	}
	return terms_or(pr, &t);
}

static bool pick_cred_any(struct prover *pr, size_t i, const void *arg)
{
	(void)arg;
	for (size_t c = 0; pr->cred && c < pr->cred->n; c++)
		if (cred_on(&pr->cred->creds[c], &pr->tgts[i]))
			return true;
	return false;
}

static Z3_ast cred_any(struct prover *pr)
{
	return in_pred(pr, V_T, pr->n_tgts, pick_cred_any, NULL);
}

/* What binary variable bv can send at endpoint e. With mk, over (M, K); without, whether some
 * method and mechanism exist. write: data-carrying methods only (POST, PUT, PATCH, DELETE, or
 * non-HTTP bytes). */
enum mk { MK_NONE = 0, MK_BOTH = 1, MK_M = 2 };

static Z3_ast mech(struct prover *pr, const struct pep *e, int bv, enum mk mk, bool write)
{
	Z3_ast http = cap(pr, bv, C_HTTP), bypass = cap(pr, bv, C_BYPASS);
	struct terms ms = { 0 };
	bool any = false;

	for (int m = 0; m < M_HTTP_N; m++)
		if (e->method[m] && (!write || is_write_method(m))) {
			any = true;
			if (mk)
				terms_add(pr, &ms, eq(pr, V_M, (size_t)m));
		}
	if (!mk) {
		terms_or(pr, &ms);
		return any ? or2(pr, http, bypass) : bypass;
	}
	{
		Z3_ast h[3] = { http, terms_or(pr, &ms),
				eq(pr, V_K, e->l7 ? K_HTTP_L7 : K_HTTP_L4) };
		Z3_ast r[3] = { bypass, eq(pr, V_M, M_RAW),
				eq(pr, V_K, e->l7 ? K_L7_BYPASS : K_RAW_L4) };
		unsigned n = mk == MK_BOTH ? 3 : 2; /* MK_M: the method, whatever the mechanism */

		return or2(pr, Z3_mk_and(pr->ctx, n, h), Z3_mk_and(pr->ctx, n, r));
	}
}

/* access_P(B, T[, M, K]): a binary the policy lists reaches the target with that method and
 * mechanism. Grouped by rule so that the binary test is written once per rule. */
static Z3_ast access(struct prover *pr, const struct upol *u, enum mk mk, bool write)
{
	struct terms rules = { 0 };
	size_t e = 0;

	for (size_t r = 0; r < u->p->n_net_rules; r++) {
		struct terms eps = { 0 };

		for (; e < u->n_eps && u->eps[e].rule == r; e++)
			if (in_cube(pr, &u->eps[e]))
				terms_add(
				    pr, &eps,
				    and2(pr,
					 in_list(pr, V_T, u->eps[e].targets, u->eps[e].n_targets),
					 mech(pr, &u->eps[e], V_B, mk, write)));
		if (eps.n)
			terms_add(pr, &rules, and2(pr, listed(pr, u, r, V_B), terms_or(pr, &eps)));
	}
	return terms_or(pr, &rules);
}

static Z3_ast spawn_rel(struct prover *pr)
{
	struct terms t = { 0 };

	for (size_t a = 0; a < pr->n_bins; a++)
		if (pr->bins[a].n_children)
			terms_add(
			    pr, &t,
			    and2(pr, eq(pr, V_A, a),
				 in_list(pr, V_B, pr->bins[a].children, pr->bins[a].n_children)));
	return terms_or(pr, &t);
}

/* inherited_P(A, B, T, M, K): A is listed by a rule, B (which A spawns) is not, and B can send
 * to the rule's target something A itself cannot: ancestor matching gives B A's reach. */
static Z3_ast inherited(struct prover *pr, const struct upol *u)
{
	struct terms rules = { 0 };
	size_t e = 0;

	for (size_t r = 0; r < u->p->n_net_rules; r++) {
		struct terms eps = { 0 };
		Z3_ast head[3];

		for (; e < u->n_eps && u->eps[e].rule == r; e++) {
			if (!in_cube(pr, &u->eps[e]))
				continue;
			Z3_ast x[3] = { in_list(pr, V_T, u->eps[e].targets, u->eps[e].n_targets),
					mech(pr, &u->eps[e], V_B, MK_BOTH, false),
					not_(pr, mech(pr, &u->eps[e], V_A, MK_BOTH, false)) };

			terms_add(pr, &eps, Z3_mk_and(pr->ctx, 3, x));
		}
		if (!eps.n)
			continue;
		head[0] = listed(pr, u, r, V_A);
		head[1] = not_(pr, listed(pr, u, r, V_B));
		head[2] = terms_or(pr, &eps);
		terms_add(pr, &rules, Z3_mk_and(pr->ctx, 3, head));
	}
	return and2(pr, spawn_rel(pr), terms_or(pr, &rules));
}

/* credentialed API actions: (B, T, M, K, C, X) with X allowed at the endpoint for HTTP. */
static Z3_ast api_access(struct prover *pr, const struct upol *u)
{
	struct terms rules = { 0 }, cx = { 0 }, tx = { 0 }, xm = { 0 };
	size_t e = 0;

	for (size_t r = 0; r < u->p->n_net_rules; r++) {
		struct terms eps = { 0 };

		for (; e < u->n_eps && u->eps[e].rule == r; e++) {
			const struct pep *pe = &u->eps[e];
			struct terms xs = { 0 };
			Z3_ast x[3];

			if (!in_cube(pr, pe))
				continue;
			for (size_t a = 0; a < pr->n_acts; a++)
				if (pe->action[a])
					terms_add(pr, &xs, eq(pr, V_X, a));
			x[0] = in_list(pr, V_T, pe->targets, pe->n_targets);
			x[1] = terms_or(pr, &xs);
			x[2] = eq(pr, V_K, pe->l7 ? K_HTTP_L7 : K_HTTP_L4);
			terms_add(pr, &eps, Z3_mk_and(pr->ctx, 3, x));
		}
		if (eps.n)
			terms_add(pr, &rules, and2(pr, listed(pr, u, r, V_B), terms_or(pr, &eps)));
	}
	/* Which credential grants which action (scope and credential type), which target the
	 * action's API lives on, and the action's method. */
	for (size_t c = 0; pr->cred && c < pr->cred->n; c++) {
		const struct prv_credential *cr = &pr->cred->creds[c];
		struct terms xs = { 0 };

		for (size_t a = 0; a < pr->n_acts; a++) {
			bool has = false;

			for (size_t s = 0; s < cr->n_scopes && !has; s++)
				has = !strcmp(cr->scopes[s], pr->acts[a].a->scope);
			if (has && pr->acts[a].api->credential_type && cr->type &&
			    strcmp(pr->acts[a].api->credential_type, cr->type))
				has = false;
			if (has)
				terms_add(pr, &xs, eq(pr, V_X, a));
		}
		if (xs.n)
			terms_add(pr, &cx, and2(pr, eq(pr, V_C, c), terms_or(pr, &xs)));
		else
			terms_or(pr, &xs);
	}
	for (size_t a = 0; a < pr->n_acts; a++) {
		struct terms ts = { 0 };

		for (size_t t = 0; t < pr->n_tgts; t++)
			if ((pr->cube < 0 || (long)t == pr->cube) &&
			    prv_host_overlap(pr->acts[a].api->host, pr->tgts[t].host) &&
			    (!pr->acts[a].api->port || pr->acts[a].api->port == pr->tgts[t].port))
				terms_add(pr, &ts, eq(pr, V_T, t));
		if (ts.n)
			terms_add(pr, &tx, and2(pr, eq(pr, V_X, a), terms_or(pr, &ts)));
		else
			terms_or(pr, &ts);
		terms_add(pr, &xm,
			  and2(pr, eq(pr, V_X, a),
			       eq(pr, V_M, (size_t)method_index(pr->acts[a].a->method))));
	}
	{
		Z3_ast all[6] = { terms_or(pr, &rules), cred_rel(pr),	   terms_or(pr, &cx),
				  terms_or(pr, &tx),	terms_or(pr, &xm), cap(pr, V_B, C_HTTP) };

		return Z3_mk_and(pr->ctx, 6, all);
	}
}

static bool pick_act(struct prover *pr, size_t i, const void *arg)
{
	const int *want = arg; /* [min risk, max risk] */
	int r = pr->acts[i].risk ? pr->acts[i].risk : OSH_SEVERITY_LOW;

	return pr->acts[i].write && r >= want[0] && r <= want[1];
}

static Z3_ast acts_risk(struct prover *pr, int lo, int hi)
{
	int want[2] = { lo, hi };

	return in_pred(pr, V_X, pr->n_acts, pick_act, want);
}

static bool pick_secret(struct prover *pr, size_t i, const void *arg)
{
	(void)pr;
	return ((const bool *)arg)[i];
}

static bool pick_wild(struct prover *pr, size_t i, const void *arg)
{
	(void)arg;
	return pr->tgts[i].wildcard;
}

static bool pick_deep(struct prover *pr, size_t i, const void *arg)
{
	(void)arg;
	return pr->tgts[i].deep;
}

/* Targets a policy names at all (whatever the binaries). */
static Z3_ast named(struct prover *pr, const struct upol *u)
{
	struct terms t = { 0 };

	for (size_t e = 0; e < u->n_eps; e++)
		if (in_cube(pr, &u->eps[e]))
			terms_add(pr, &t, in_list(pr, V_T, u->eps[e].targets, u->eps[e].n_targets));
	return terms_or(pr, &t);
}

/* ---- queries ---------------------------------------------------------------------------------- */

struct tier {
	Z3_ast cond;
	enum osh_severity sev;
};

struct query {
	enum osh_finding_kind kind;
	unsigned proj;
	bool delta_only;
	/* The query's formula for policy u; for the old policy (projected = true) a formula
	 * over the projection variables only, so that delta mode drops what the old policy
	 * already allowed on the same (binary, target, ...). */
	Z3_ast (*formula)(struct prover *pr, const struct upol *u, bool projected);
	/* Severity tiers, most severe first; the last one is usually unconditional. */
	size_t (*tiers)(struct prover *pr, struct tier *t);
};

static Z3_ast f_exfil(struct prover *pr, const struct upol *u, bool projected)
{
	return and2(pr, access(pr, u, projected ? MK_NONE : MK_BOTH, true), cap(pr, V_B, C_EXFIL));
}

static size_t t_exfil(struct prover *pr, struct tier *t)
{
	Z3_ast k[3] = { eq(pr, V_K, K_HTTP_L4), eq(pr, V_K, K_RAW_L4), eq(pr, V_K, K_L7_BYPASS) };

	t[0] = (struct tier){ Z3_mk_or(pr->ctx, 3, k), OSH_SEVERITY_HIGH };
	t[1] = (struct tier){ tru(pr), OSH_SEVERITY_MEDIUM };
	return 2;
}

static Z3_ast not_metadata(struct prover *pr)
{
	return not_(pr, target_cls(pr, PRV_ADDR_LINK_LOCAL, PRV_ADDR_METADATA));
}

static Z3_ast f_l7_bypass(struct prover *pr, const struct upol *u, bool projected)
{
	Z3_ast x[5] = { access(pr, u, MK_NONE, false), cap(pr, V_B, C_BYPASS),
			cap(pr, V_B, C_EXFIL), cred_rel(pr), not_metadata(pr) };
	Z3_ast f = Z3_mk_and(pr->ctx, 5, x);

	if (!projected) {
		Z3_ast k[2] = { eq(pr, V_K, K_RAW_L4), eq(pr, V_K, K_L7_BYPASS) };

		f = and2(pr, f, and2(pr, access(pr, u, MK_BOTH, false), Z3_mk_or(pr->ctx, 2, k)));
	}
	return f;
}

static size_t t_critical(struct prover *pr, struct tier *t)
{
	t[0] = (struct tier){ tru(pr), OSH_SEVERITY_CRITICAL };
	return 1;
}

static size_t t_high(struct prover *pr, struct tier *t)
{
	t[0] = (struct tier){ tru(pr), OSH_SEVERITY_HIGH };
	return 1;
}

static Z3_ast f_cred_reach(struct prover *pr, const struct upol *u, bool projected)
{
	Z3_ast x[5] = { access(pr, u, projected ? MK_NONE : MK_BOTH, true), cap(pr, V_B, C_EXFIL),
			not_(pr, cap(pr, V_B, C_BYPASS)), cred_rel(pr), not_metadata(pr) };

	return Z3_mk_and(pr->ctx, 5, x);
}

static Z3_ast f_cred_write(struct prover *pr, const struct upol *u, bool projected)
{
	(void)projected;
	return and2(pr, api_access(pr, u), acts_risk(pr, OSH_SEVERITY_LOW, OSH_SEVERITY_MEDIUM));
}

static size_t t_cred_write(struct prover *pr, struct tier *t)
{
	t[0] = (struct tier){ acts_risk(pr, OSH_SEVERITY_MEDIUM, OSH_SEVERITY_MEDIUM),
			      OSH_SEVERITY_MEDIUM };
	t[1] = (struct tier){ tru(pr), OSH_SEVERITY_LOW };
	return 2;
}

static Z3_ast f_cred_destr(struct prover *pr, const struct upol *u, bool projected)
{
	(void)projected;
	return and2(pr, api_access(pr, u), acts_risk(pr, OSH_SEVERITY_HIGH, OSH_SEVERITY_CRITICAL));
}

static size_t t_cred_destr(struct prover *pr, struct tier *t)
{
	t[0] = (struct tier){ acts_risk(pr, OSH_SEVERITY_CRITICAL, OSH_SEVERITY_CRITICAL),
			      OSH_SEVERITY_CRITICAL };
	t[1] = (struct tier){ tru(pr), OSH_SEVERITY_HIGH };
	return 2;
}

static Z3_ast f_link_local(struct prover *pr, const struct upol *u, bool projected)
{
	(void)projected;
	return and2(pr, access(pr, u, MK_NONE, false),
		    target_cls(pr, PRV_ADDR_LINK_LOCAL, PRV_ADDR_METADATA));
}

static Z3_ast f_loopback(struct prover *pr, const struct upol *u, bool projected)
{
	(void)projected;
	return and2(pr, access(pr, u, MK_NONE, false),
		    target_cls(pr, PRV_ADDR_LOOPBACK, PRV_ADDR_LOOPBACK));
}

static Z3_ast f_private(struct prover *pr, const struct upol *u, bool projected)
{
	(void)projected;
	return and2(pr, access(pr, u, MK_NONE, false),
		    target_cls(pr, PRV_ADDR_PRIVATE, PRV_ADDR_PRIVATE));
}

static size_t t_medium(struct prover *pr, struct tier *t)
{
	t[0] = (struct tier){ tru(pr), OSH_SEVERITY_MEDIUM };
	return 1;
}

/* DNS: every process resolves through the sandbox's DNS responder, which forwards any name a
 * wildcard host matches; the query name itself carries the data. */
static Z3_ast f_dns(struct prover *pr, const struct upol *u, bool projected)
{
	Z3_ast x[3] = { eq(pr, V_B, pr->any_bin), named(pr, u),
			in_pred(pr, V_T, pr->n_tgts, pick_wild, NULL) };

	(void)projected;
	return Z3_mk_and(pr->ctx, 3, x);
}

static size_t t_dns(struct prover *pr, struct tier *t)
{
	t[0] = (struct tier){ in_pred(pr, V_T, pr->n_tgts, pick_deep, NULL), OSH_SEVERITY_HIGH };
	t[1] = (struct tier){ tru(pr), OSH_SEVERITY_MEDIUM };
	return 2;
}

static Z3_ast f_spawn(struct prover *pr, const struct upol *u, bool projected)
{
	(void)projected;
	return inherited(pr, u);
}

static size_t t_spawn(struct prover *pr, struct tier *t)
{
	Z3_ast k[2] = { eq(pr, V_K, K_RAW_L4), eq(pr, V_K, K_L7_BYPASS) };
	Z3_ast raw = Z3_mk_or(pr->ctx, 2, k);

	t[0] = (struct tier){ and2(pr, raw, cred_any(pr)), OSH_SEVERITY_CRITICAL };
	t[1] = (struct tier){ raw, OSH_SEVERITY_HIGH };
	t[2] = (struct tier){ tru(pr), OSH_SEVERITY_MEDIUM };
	return 3;
}

static Z3_ast f_fs(struct prover *pr, const struct upol *u, bool projected)
{
	Z3_ast ex = in_pred(pr, V_S, N_SECRETS, pick_secret, u->exposed);

	if (projected) {
		/* Old policy: was the secret readable and was there any exfiltration path at
		 * all? The second part is its own solver question. */
		Z3_lbool r;

		Z3_solver_push(pr->ctx, pr->s);
		Z3_solver_assert(pr->ctx, pr->s, f_exfil(pr, u, true));
		r = Z3_solver_check(pr->ctx, pr->s);
		Z3_solver_pop(pr->ctx, pr->s, 1);
		return r == Z3_L_FALSE ? fls(pr) : ex;
	}
	return and2(pr, ex, f_exfil(pr, u, true));
}

static bool pick_environ(struct prover *pr, size_t i, const void *arg)
{
	(void)arg;
	if (!secrets[i].environ)
		return false;
	for (size_t c = 0; pr->cred && c < pr->cred->n; c++)
		if (pr->cred->creds[c].injected_via)
			return true;
	return false;
}

static size_t t_fs(struct prover *pr, struct tier *t)
{
	t[0] =
	    (struct tier){ in_pred(pr, V_S, N_SECRETS, pick_environ, NULL), OSH_SEVERITY_CRITICAL };
	t[1] = (struct tier){ tru(pr), OSH_SEVERITY_HIGH };
	return 2;
}

/* Delta only: (binary, target) reach the old policy did not give. Credentialed targets a
 * data-carrying binary reaches are credential_reach_expansion's. */
static Z3_ast f_reach_exp(struct prover *pr, const struct upol *u, bool projected)
{
	Z3_ast x[3] = { access(pr, u, MK_NONE, false),
			not_(pr, access(pr, &pr->pol[1], MK_NONE, false)),
			not_(pr, and2(pr, cred_any(pr), cap(pr, V_B, C_EXFIL))) };

	(void)projected;
	return Z3_mk_and(pr->ctx, 3, x);
}

static size_t t_reach_exp(struct prover *pr, struct tier *t)
{
	t[0] = (struct tier){ cred_any(pr), OSH_SEVERITY_MEDIUM };
	t[1] = (struct tier){ tru(pr), OSH_SEVERITY_LOW };
	return 2;
}

/* Delta only: a new method or mechanism on a (binary, target) the old policy already
 * reached. */
static Z3_ast f_cap_exp(struct prover *pr, const struct upol *u, bool projected)
{
	Z3_ast x[3] = { access(pr, u, MK_BOTH, false), access(pr, &pr->pol[1], MK_NONE, false),
			not_(pr, access(pr, &pr->pol[1], MK_M, false)) };

	(void)projected;
	return Z3_mk_and(pr->ctx, 3, x);
}

static size_t t_cap_exp(struct prover *pr, struct tier *t)
{
	Z3_ast w[5] = { eq(pr, V_M, M_POST), eq(pr, V_M, M_PUT), eq(pr, V_M, M_PATCH),
			eq(pr, V_M, M_DELETE), eq(pr, V_M, M_RAW) };
	Z3_ast wr = Z3_mk_or(pr->ctx, 5, w);

	t[0] = (struct tier){ and2(pr, wr, cred_any(pr)), OSH_SEVERITY_HIGH };
	t[1] = (struct tier){ wr, OSH_SEVERITY_MEDIUM };
	t[2] = (struct tier){ tru(pr), OSH_SEVERITY_LOW };
	return 3;
}

static const struct query queries[] = {
	{ OSH_FINDING_LINK_LOCAL_REACH, P_(V_B) | P_(V_T), false, f_link_local, t_critical },
	{ OSH_FINDING_L7_BYPASS_CREDENTIALED, P_(V_B) | P_(V_T) | P_(V_C), false, f_l7_bypass,
	  t_critical },
	{ OSH_FINDING_CREDENTIAL_REACH_EXPANSION, P_(V_B) | P_(V_T) | P_(V_C), false, f_cred_reach,
	  t_high },
	{ OSH_FINDING_CREDENTIALED_DESTRUCTIVE, P_(V_B) | P_(V_T) | P_(V_M), false, f_cred_destr,
	  t_cred_destr },
	{ OSH_FINDING_CREDENTIALED_WRITE, P_(V_B) | P_(V_T) | P_(V_M), false, f_cred_write,
	  t_cred_write },
	{ OSH_FINDING_DATA_EXFILTRATION, P_(V_B) | P_(V_T), false, f_exfil, t_exfil },
	{ OSH_FINDING_LOOPBACK_REACH, P_(V_B) | P_(V_T), false, f_loopback, t_high },
	{ OSH_FINDING_PRIVATE_NETWORK_REACH, P_(V_B) | P_(V_T), false, f_private, t_medium },
	{ OSH_FINDING_DNS_CHANNEL, P_(V_T), false, f_dns, t_dns },
	{ OSH_FINDING_SPAWN_CHAIN, P_(V_B) | P_(V_T), false, f_spawn, t_spawn },
	{ OSH_FINDING_FILESYSTEM_SECRET, P_(V_S), false, f_fs, t_fs },
	{ OSH_FINDING_REACH_EXPANSION, P_(V_B) | P_(V_T), true, f_reach_exp, t_reach_exp },
	{ OSH_FINDING_CAPABILITY_EXPANSION, P_(V_B) | P_(V_T) | P_(V_M), true, f_cap_exp,
	  t_cap_exp },
};

/* ---- witnesses -> findings -------------------------------------------------------------------- */

static int model_val(struct prover *pr, Z3_model m, int v, size_t *ret)
{
	Z3_ast out = NULL;
	unsigned u = 0;

	if (!Z3_model_eval(pr->ctx, m, pr->var[v], true, &out) ||
	    !Z3_get_numeral_uint(pr->ctx, out, &u))
		return -EIO;
	*ret = u;
	return 0;
}

/* The first rule of policy u that lists binary b and names target t. */
static const char *rule_of(struct prover *pr, const struct upol *u, size_t b, size_t t)
{
	for (size_t e = 0; e < u->n_eps; e++) {
		const struct pep *pe = &u->eps[e];
		bool has = false;

		for (size_t i = 0; i < pe->n_targets && !has; i++)
			has = pe->targets[i] == t;
		if (has && (b == (size_t)-1 || u->listed[pe->rule * pr->n_bins + b]))
			return u->p->net_rules[pe->rule].key;
	}
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Lists every action (X) a credentialed-write witness allows for its (B, T, M). */
static char *list_actions(struct prover *pr, Z3_ast f, size_t b, size_t t, size_t m)
{
	char *out = NULL;
	size_t len = 0, n = 0;

	Z3_solver_push(pr->ctx, pr->s);
	Z3_solver_assert(pr->ctx, pr->s, f);
	Z3_solver_assert(pr->ctx, pr->s, eq(pr, V_B, b));
	Z3_solver_assert(pr->ctx, pr->s, eq(pr, V_T, t));
	Z3_solver_assert(pr->ctx, pr->s, eq(pr, V_M, m));
	while (n < 16 && Z3_solver_check(pr->ctx, pr->s) == Z3_L_TRUE) {
		Z3_model mod = Z3_solver_get_model(pr->ctx, pr->s);
		size_t x = 0;
		char *no;
		const struct prv_api_action *a;

		Z3_model_inc_ref(pr->ctx, mod);
		if (model_val(pr, mod, V_X, &x) < 0 || x >= pr->n_acts) {
			Z3_model_dec_ref(pr->ctx, mod);
			break;
		}
		Z3_model_dec_ref(pr->ctx, mod);
		a = pr->acts[x].a;
		no = realloc(out, len + strlen(a->action) + strlen(a->path) + 32);
		if (!no)
			break;
		out = no;
		len += (size_t)sprintf(out + len, "%s%s (%s, risk %s)", n ? ", " : "", a->action,
				       a->path, a->risk ? a->risk : "unknown");
		Z3_solver_assert(pr->ctx, pr->s, not_(pr, eq(pr, V_X, x)));
		n++;
	}
	Z3_solver_pop(pr->ctx, pr->s, 1);
	return out;
}

static int describe(struct prover *pr, const struct query *q, Z3_model m, Z3_ast f,
		    enum osh_severity sev)
{
	size_t v[V_MAX] = { 0 };
	struct osh_finding *fd;
	char *expl = NULL, *rem = NULL, *acts = NULL;
	const struct upol *u = &pr->pol[0];
	const struct ubin *b, *a = NULL;
	const struct utarget *t;
	const char *cred = NULL, *bname;
	int r;

	for (int i = 0; i < V_MAX; i++)
		if (model_val(pr, m, i, &v[i]) < 0)
			return -EIO;
	if (v[V_B] >= pr->n_bins || v[V_T] >= pr->n_tgts ||
	    (q->kind == OSH_FINDING_FILESYSTEM_SECRET && v[V_S] >= N_SECRETS))
		return -EIO; /* a constrained variable outside its domain: broken encoding */
	/* Variables a query leaves free take whatever model completion gives them. */
	if (v[V_M] >= M_MAX)
		v[V_M] = M_POST;
	if (v[V_K] >= K_MAX)
		v[V_K] = K_HTTP_L4;
	b = &pr->bins[v[V_B]];
	t = &pr->tgts[v[V_T]];
	bname = b->path;
	if (pr->cred && v[V_C] < pr->cred->n)
		cred = pr->cred->creds[v[V_C]].name;
	r = prv_findings_add(pr->out, &fd);
	if (r < 0)
		return r;
	fd->kind = q->kind;
	fd->severity = sev;
	{
		fd->host = strdup(t->host);
		fd->port = t->port;
		if (!fd->host)
			return -ENOMEM;
	}

	switch (q->kind) {
	case OSH_FINDING_DATA_EXFILTRATION:
		r = prv_asprintf(
		    &expl,
		    "%s can carry data (%s) and reaches %s:%u where nothing at L7 blocks a %s "
		    "(%s).",
		    bname, b->cap.exfil_mechanism ? b->cap.exfil_mechanism : "exfiltration",
		    t->host, t->port, method_names[v[V_M]],
		    v[V_K] == K_HTTP_L7	  ? "the endpoint's L7 rules allow it"
		    : v[V_K] == K_HTTP_L4 ? "L4-only endpoint: HTTP is not inspected"
		    : v[V_K] == K_RAW_L4  ? "L4-only endpoint: any bytes pass"
					  : "the binary's protocol bypasses L7 inspection");
		rem = strdup(v[V_K] == K_HTTP_L7
				 ? "Narrow the endpoint's rules to the methods and paths the agent "
				   "needs (access: read-only, or rules with specific paths), or "
				   "accept the risk if writes to this host are intended."
				 : "Add protocol: rest with access: read-only (or specific rules) "
				   "to enable L7 inspection, and remove binaries that bypass L7 "
				   "(git, ssh, nc) from the rule if they do not need this host.");
		break;
	case OSH_FINDING_L7_BYPASS_CREDENTIALED:
		r = prv_asprintf(&expl,
				 "%s uses a protocol the L7 proxy cannot inspect (%s) and reaches "
				 "%s:%u, where credential '%s' is in scope: the endpoint's L7 "
				 "rules do not bind it, so it can use the credential for anything "
				 "(push, delete, ...).",
				 bname, b->cap.desc ? b->cap.desc : "non-HTTP", t->host, t->port,
				 cred ? cred : "?");
		rem = strdup("Remove this binary from the rule if credentialed write access is "
			     "not intended, restrict the credential's scopes to read-only, or "
			     "stop injecting the credential for this host.");
		break;
	case OSH_FINDING_CREDENTIAL_REACH_EXPANSION:
		r = prv_asprintf(&expl,
				 "%s has credentialed reach to %s:%u: credential '%s' is in scope "
				 "there and the policy lets it send %s (%s).",
				 bname, t->host, t->port, cred ? cred : "?", method_names[v[V_M]],
				 mech_names[v[V_K]]);
		rem = strdup("Confirm the binary should be able to authenticate to this host at "
			     "all; narrow the host (no wildcard over the credential's hosts), "
			     "the methods (access: read-only) or the credential's scopes.");
		break;
	case OSH_FINDING_CREDENTIALED_WRITE:
	case OSH_FINDING_CREDENTIALED_DESTRUCTIVE:
		acts = list_actions(pr, f, v[V_B], v[V_T], v[V_M]);
		fd->action = v[V_X] < pr->n_acts ? strdup(pr->acts[v[V_X]].a->action) : NULL;
		r = prv_asprintf(&expl,
				 "%s can send %s to %s:%u with credential '%s', whose scopes "
				 "allow: %s.",
				 bname, method_names[v[V_M]], t->host, t->port, cred ? cred : "?",
				 acts ? acts : "?");
		rem = strdup("Deny the method (deny_rules or a narrower access preset) on this "
			     "endpoint, or give the credential fewer scopes.");
		break;
	case OSH_FINDING_LINK_LOCAL_REACH:
	case OSH_FINDING_LOOPBACK_REACH:
	case OSH_FINDING_PRIVATE_NETWORK_REACH:
		r = prv_asprintf(&expl, "%s can reach %s:%u, %s.", bname, t->host, t->port,
				 t->cls == PRV_ADDR_METADATA	 ? "a cloud metadata endpoint that "
								   "serves host credentials"
				 : t->cls == PRV_ADDR_LINK_LOCAL ? "a link-local address (cloud "
								   "metadata territory)"
				 : t->cls == PRV_ADDR_LOOPBACK	 ? "a loopback address: services "
								   "of the host itself"
								 : "a private address range: the "
								   "internal network");
		rem = strdup("Remove the endpoint, or narrow it to the one internal service the "
			     "agent needs (an exact host and allowed_ips of that service only).");
		break;
	case OSH_FINDING_DNS_CHANNEL:
		bname = "*";
		r = prv_asprintf(
		    &expl,
		    "any process can resolve names matching %s: the DNS responder forwards "
		    "them upstream and answers (A/AAAA), so %s's authoritative servers see "
		    "every query and data can be encoded in the name (%s).",
		    t->host, strchr(t->host, '.') ? strchr(t->host, '.') + 1 : t->host,
		    t->deep ? "any number of labels, up to 253 bytes a query"
			    : "one label, up to 63 bytes a query");
		rem = strdup("Replace the wildcard with the exact host names the agent needs.");
		break;
	case OSH_FINDING_SPAWN_CHAIN:
		a = v[V_A] < pr->n_bins ? &pr->bins[v[V_A]] : NULL;
		fd->via = a ? strdup(a->path) : NULL;
		r = prv_asprintf(&expl,
				 "%s is listed for %s:%u and spawns %s, which the rule does not "
				 "list; ancestor matching gives the child the parent's reach, and "
				 "the child can send %s (%s), which the parent cannot.",
				 a ? a->path : "?", t->host, t->port, bname, method_names[v[V_M]],
				 mech_names[v[V_K]]);
		rem = strdup("List only binaries that do not spawn other programs, or make sure "
			     "the children cannot run in the sandbox (filesystem policy), or "
			     "accept the inherited reach explicitly.");
		break;
	case OSH_FINDING_FILESYSTEM_SECRET:
		fd->path = strdup(secrets[v[V_S]].name);
		r = prv_asprintf(&expl,
				 "%s is readable (through %s) while %s can send data to %s:%u: a "
				 "secret read from there can leave the sandbox.",
				 secrets[v[V_S]].name,
				 u->exposed_via[v[V_S]] ? u->exposed_via[v[V_S]] : "?", bname,
				 t->host, t->port);
		rem = strdup("Add the secret path to filesystem_policy.deny, or narrow "
			     "read_only/read_write so that it is not covered.");
		break;
	case OSH_FINDING_REACH_EXPANSION:
		r = prv_asprintf(&expl,
				 "%s can reach %s:%u, which the old policy did not allow it.",
				 bname, t->host, t->port);
		rem = strdup("Confirm the new reach is intended.");
		break;
	case OSH_FINDING_CAPABILITY_EXPANSION:
		r = prv_asprintf(&expl,
				 "%s already reached %s:%u; the new policy also lets it send %s "
				 "(%s).",
				 bname, t->host, t->port, method_names[v[V_M]], mech_names[v[V_K]]);
		rem = strdup("Confirm the new method is part of the agent's task.");
		break;
	default:
		break;
	}
	free(acts);
	fd->explanation = expl;
	fd->remediation = rem;
	if (r < 0 || !expl || !rem)
		return -ENOMEM;
	fd->binary = strdup(bname);
	if (q->kind != OSH_FINDING_DNS_CHANNEL && q->kind != OSH_FINDING_FILESYSTEM_SECRET &&
	    q->kind != OSH_FINDING_REACH_EXPANSION && q->kind != OSH_FINDING_LINK_LOCAL_REACH &&
	    q->kind != OSH_FINDING_LOOPBACK_REACH && q->kind != OSH_FINDING_PRIVATE_NETWORK_REACH &&
	    q->kind != OSH_FINDING_SPAWN_CHAIN)
		fd->method = strdup(method_names[v[V_M]]);
	if (q->kind == OSH_FINDING_SPAWN_CHAIN || q->kind == OSH_FINDING_DATA_EXFILTRATION ||
	    q->kind == OSH_FINDING_CREDENTIAL_REACH_EXPANSION ||
	    q->kind == OSH_FINDING_L7_BYPASS_CREDENTIALED ||
	    q->kind == OSH_FINDING_CAPABILITY_EXPANSION ||
	    q->kind == OSH_FINDING_CREDENTIALED_WRITE ||
	    q->kind == OSH_FINDING_CREDENTIALED_DESTRUCTIVE) {
		fd->mechanism = strdup(mech_names[v[V_K]]);
		if (q->kind == OSH_FINDING_SPAWN_CHAIN)
			fd->method = strdup(method_names[v[V_M]]);
	}
	if (q->kind == OSH_FINDING_DNS_CHANNEL) {
		fd->method = strdup("DNS");
		fd->mechanism = strdup("dns-query");
	}
	if (q->kind == OSH_FINDING_L7_BYPASS_CREDENTIALED ||
	    q->kind == OSH_FINDING_CREDENTIAL_REACH_EXPANSION ||
	    q->kind == OSH_FINDING_CREDENTIALED_WRITE ||
	    q->kind == OSH_FINDING_CREDENTIALED_DESTRUCTIVE)
		fd->credential = dup_or_null(cred);
	fd->rule = dup_or_null(rule_of(pr, u,
				       q->kind == OSH_FINDING_DNS_CHANNEL   ? (size_t)-1
				       : q->kind == OSH_FINDING_SPAWN_CHAIN ? v[V_A]
									    : v[V_B],
				       v[V_T]));
	if (!fd->binary)
		return -ENOMEM;
	return 0;
}

/* Values of the projection variables of model m, as equalities (the blocking clause's body). */
static int proj_eqs(struct prover *pr, const struct query *q, Z3_model m, struct terms *t)
{
	for (int v = 0; v < V_MAX; v++) {
		size_t val = 0;
		int r;

		if (!(q->proj & P_(v)))
			continue;
		r = model_val(pr, m, v, &val);
		if (r < 0)
			return r;
		terms_add(pr, t, eq(pr, v, val));
	}
	return pr->err;
}

/* Among the models with the same projection, prefer one whose method is POST (or raw bytes):
 * the witness a reviewer recognises. Returns the better model (referenced) or m. */
static Z3_model prefer(struct prover *pr, const struct query *q, Z3_ast tier, Z3_ast proj,
		       Z3_model m)
{
	Z3_ast pm[2];

	if (q->proj & P_(V_M))
		return m;
	pm[0] = eq(pr, V_M, M_POST);
	pm[1] = eq(pr, V_M, M_RAW);
	Z3_solver_push(pr->ctx, pr->s);
	Z3_solver_assert(pr->ctx, pr->s, tier);
	Z3_solver_assert(pr->ctx, pr->s, proj);
	Z3_solver_assert(pr->ctx, pr->s, Z3_mk_or(pr->ctx, 2, pm));
	if (Z3_solver_check(pr->ctx, pr->s) == Z3_L_TRUE) {
		Z3_model better = Z3_solver_get_model(pr->ctx, pr->s);

		Z3_model_inc_ref(pr->ctx, better);
		Z3_model_dec_ref(pr->ctx, m);
		m = better;
	}
	Z3_solver_pop(pr->ctx, pr->s, 1);
	return m;
}

/* Enumerates the witnesses of one cube (the query's formula is asserted in the enclosing scope):
 * for each severity tier, models of the tier's condition, each blocked on the projection once
 * reported, so a (binary, target, ...) is reported once, at its most severe tier. Returns 1
 * when the witness limit stopped it. */
static int run_cube(struct prover *pr, const struct query *q, Z3_ast f, const struct tier *tiers,
		    size_t n_tiers, size_t *found)
{
	int r = 0;

	for (size_t ti = 0; ti < n_tiers && r >= 0; ti++) {
		for (;;) {
			struct terms blk = { 0 };
			Z3_lbool sat;
			Z3_model m;
			Z3_ast proj;

			Z3_solver_push(pr->ctx, pr->s);
			Z3_solver_assert(pr->ctx, pr->s, tiers[ti].cond);
			sat = Z3_solver_check(pr->ctx, pr->s);
			if (sat != Z3_L_TRUE) {
				Z3_solver_pop(pr->ctx, pr->s, 1);
				if (sat != Z3_L_FALSE || Z3_get_error_code(pr->ctx) != Z3_OK)
					r = -EIO;
				break;
			}
			m = Z3_solver_get_model(pr->ctx, pr->s);
			Z3_model_inc_ref(pr->ctx, m);
			/* Back to the cube's scope: describe() asks its own questions. */
			Z3_solver_pop(pr->ctx, pr->s, 1);
			if (*found >= pr->max_w) {
				Z3_model_dec_ref(pr->ctx, m);
				return 1;
			}
			r = proj_eqs(pr, q, m, &blk);
			if (r >= 0) {
				proj = Z3_mk_and(pr->ctx, (unsigned)blk.n, blk.v);
				m = prefer(pr, q, tiers[ti].cond, proj, m);
				r = describe(pr, q, m, f, tiers[ti].sev);
				/* Blocking clause: this projection, in this tier and later ones. */
				Z3_solver_assert(pr->ctx, pr->s, not_(pr, proj));
			}
			free(blk.v);
			Z3_model_dec_ref(pr->ctx, m);
			if (r < 0 || pr->err)
				break;
			(*found)++;
		}
	}
	return r < 0 ? r : pr->err;
}

/* Runs one query. Queries keyed on a target are solved one target at a time (a cube T == t):
 * with the target fixed, propagation discards every other endpoint's part of the formula, so a
 * check stays cheap however large the policy, and the blocking clauses of one cube never burden
 * another. */
static int run_query(struct prover *pr, const struct query *q)
{
	struct tier tiers[4];
	size_t n_tiers, found = 0;
	bool cubes = q->proj & P_(V_T);
	int r = 0;

	if (q->delta_only && !pr->delta)
		return 0;
	for (size_t t = 0; t < (cubes ? pr->n_tgts : 1) && r == 0; t++) {
		Z3_ast f;
		Z3_lbool sat;

		pr->cube = cubes ? (long)t : -1;
		Z3_solver_push(pr->ctx, pr->s);
		f = q->formula(pr, &pr->pol[0], false);
		if (pr->delta && !q->delta_only)
			f = and2(pr, f, not_(pr, q->formula(pr, &pr->pol[1], true)));
		if (cubes)
			f = and2(pr, f, eq(pr, V_T, t));
		/* Most cubes of a large policy are empty for most queries: the simplifier says
		 * so without a solver round trip. */
		f = Z3_simplify(pr->ctx, f);
		if (Z3_get_bool_value(pr->ctx, f) == Z3_L_FALSE) {
			Z3_solver_pop(pr->ctx, pr->s, 1);
			continue;
		}
		Z3_solver_assert(pr->ctx, pr->s, f);
		sat = Z3_solver_check(pr->ctx, pr->s);
		if (sat == Z3_L_TRUE) {
			n_tiers = q->tiers(pr, tiers);
			r = run_cube(pr, q, f, tiers, n_tiers, &found);
		} else if (sat != Z3_L_FALSE) {
			r = -EIO;
		}
		Z3_solver_pop(pr->ctx, pr->s, 1);
	}
	pr->cube = -1;
	if (r == 1) {
		pr->out->truncated++;
		r = 0;
	}
	return r;
}

/* ---- setup and teardown ----------------------------------------------------------------------- */

static void upol_free(struct upol *u)
{
	for (size_t e = 0; u->eps && e < u->n_eps; e++) {
		free(u->eps[e].targets);
		free(u->eps[e].action);
	}
	free(u->eps);
	free(u->listed);
	free(u->exposed);
	free(u->exposed_via);
}

static void prover_done(struct prover *pr)
{
	for (size_t i = 0; i < pr->n_bins; i++) {
		free(pr->bins[i].path);
		free(pr->bins[i].children);
	}
	free(pr->bins);
	for (size_t i = 0; i < pr->n_tgts; i++)
		free(pr->tgts[i].host);
	free(pr->tgts);
	free(pr->hash);
	free(pr->acts);
	upol_free(&pr->pol[0]);
	upol_free(&pr->pol[1]);
	if (pr->s)
		Z3_solver_dec_ref(pr->ctx, pr->s);
	if (pr->ctx)
		Z3_del_context(pr->ctx);
}

int osh_prover_run(const struct osh_prover_input *in, struct osh_findings **ret)
{
	struct prover pr = { 0 };
	struct osh_findings *out;
	Z3_config cfg;
	int r;
	static const char *const names[V_MAX] = { "binary",	"target",     "method",
						  "mechanism",	"credential", "ancestor",
						  "api_action", "secret" };

	if (!in || !in->policy || !in->registry || !ret)
		return -EINVAL;
	out = calloc(1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	pr.in = in;
	pr.reg = in->registry;
	pr.cred = in->credentials;
	pr.out = out;
	pr.max_w = in->max_witnesses ? in->max_witnesses : OSH_PROVER_MAX_WITNESSES;
	pr.pol[0].p = in->policy;
	pr.pol[1].p = in->old_policy;
	pr.delta = in->old_policy != NULL;
	pr.cube = -1;
	out->delta = pr.delta;

	r = build_actions(&pr);
	if (r < 0)
		goto out;
	build_bins(&pr);
	if (pr.err) {
		r = pr.err;
		goto out;
	}
	r = build_pol(&pr, &pr.pol[0]);
	if (r >= 0 && pr.delta)
		r = build_pol(&pr, &pr.pol[1]);
	if (r < 0)
		goto out;

	cfg = Z3_mk_config();
	if (!cfg) {
		r = -ENOMEM;
		goto out;
	}
	pr.ctx = Z3_mk_context(cfg);
	Z3_del_config(cfg);
	if (!pr.ctx) {
		r = -ENOMEM;
		goto out;
	}
	/* No handler: errors are read back with Z3_get_error_code instead of aborting. */
	Z3_set_error_handler(pr.ctx, NULL);
	pr.s = Z3_mk_solver(pr.ctx);
	Z3_solver_inc_ref(pr.ctx, pr.s);
	pr.n[V_B] = (unsigned)pr.n_bins;
	pr.n[V_T] = (unsigned)pr.n_tgts;
	pr.n[V_M] = M_MAX;
	pr.n[V_K] = K_MAX;
	pr.n[V_C] = pr.cred ? (unsigned)pr.cred->n : 0;
	pr.n[V_A] = (unsigned)pr.n_bins;
	pr.n[V_X] = (unsigned)pr.n_acts;
	pr.n[V_S] = N_SECRETS;
	for (int v = 0; v < V_MAX; v++) {
		pr.sort[v] = Z3_mk_bv_sort(pr.ctx, width_for(pr.n[v] + 1));
		pr.var[v] = Z3_mk_const(pr.ctx, Z3_mk_string_symbol(pr.ctx, names[v]), pr.sort[v]);
	}
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]) && r >= 0; i++)
		r = run_query(&pr, &queries[i]);
	if (r >= 0 && Z3_get_error_code(pr.ctx) != Z3_OK)
		r = -EIO;
	if (r >= 0)
		r = prv_findings_finish(out, in->accepted);
out:
	prover_done(&pr);
	if (r < 0) {
		osh_findings_free(out);
		return r;
	}
	*ret = out;
	return 0;
}

int osh_prover_gate_change(const struct osh_policy *old, const struct osh_policy *new_,
			   const struct osh_prover_registry *registry,
			   const struct osh_prover_credentials *credentials,
			   const struct osh_prover_accepted *accepted, size_t *ret_unaccepted)
{
	struct osh_prover_input in = {
		.policy = new_,
		.old_policy = old,
		.registry = registry,
		.credentials = credentials,
		.accepted = accepted,
	};
	struct osh_findings *f = NULL;
	int r = osh_prover_run(&in, &f);

	if (r < 0)
		return r;
	*ret_unaccepted = f->n_unaccepted;
	osh_findings_free(f);
	return 0;
}
