// SPDX-License-Identifier: Apache-2.0
// The prover's Z3 encoding: a finite universe of binaries x targets (host:port) x methods x
// mechanisms shared by the new and the old policy, one formula per query over bit-vector
// witness variables, built one target at a time; targets whose formulas are the same term are
// solved once, by witness enumeration with blocking clauses (docs/prover.md).
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
	/* Endpoints naming each target, ascending (so grouped by rule): those of target t are
	 * by_tgt[tgt_off[t] .. tgt_off[t + 1]); all_eps lists every endpoint. */
	size_t *tgt_off, *by_tgt, *all_eps;
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
	Z3_ast *eqs[V_MAX];    /* cached v == i, per value */
	Z3_ast t_true, t_false;
	Z3_ast guard;		    /* the class being enumerated (enumerate_guarded) */
	unsigned long n_guards;	    /* guards made so far */
	bool s_reported[N_SECRETS]; /* filesystem_secret: secrets reported at an earlier target */
	int old_exfil;	   /* delta: the old policy has an exfiltration path: 1, none: -1 */
	long cube;	   /* >= 0: formulas are built for the target cube T == cube only */
	unsigned n[V_MAX]; /* domain sizes */

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

/* Whether the i-th target of e is its first occurrence in e's list (allowed_ips or ports may
 * repeat). */
static bool first_occurrence(const struct pep *e, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (e->targets[k] == e->targets[i])
			return false;
	return true;
}

/* The endpoints naming each target (upol.tgt_off, by_tgt), once the universe is complete. */
static int build_index(struct prover *pr, struct upol *u)
{
	size_t *fill;

	u->tgt_off = calloc(pr->n_tgts + 1, sizeof(size_t));
	u->all_eps = calloc(u->n_eps ? u->n_eps : 1, sizeof(size_t));
	fill = calloc(pr->n_tgts + 1, sizeof(size_t));
	if (!u->tgt_off || !u->all_eps || !fill) {
		free(fill);
		return -ENOMEM;
	}
	for (size_t e = 0; e < u->n_eps; e++) {
		u->all_eps[e] = e;
		for (size_t i = 0; i < u->eps[e].n_targets; i++)
			if (first_occurrence(&u->eps[e], i))
				u->tgt_off[u->eps[e].targets[i] + 1]++;
	}
	for (size_t t = 0; t < pr->n_tgts; t++)
		u->tgt_off[t + 1] += u->tgt_off[t];
	u->by_tgt = calloc(u->tgt_off[pr->n_tgts] + 1, sizeof(size_t));
	if (!u->by_tgt) {
		free(fill);
		return -ENOMEM;
	}
	for (size_t e = 0; e < u->n_eps; e++)
		for (size_t i = 0; i < u->eps[e].n_targets; i++) {
			size_t t = u->eps[e].targets[i];

			if (first_occurrence(&u->eps[e], i))
				u->by_tgt[u->tgt_off[t] + fill[t]++] = e;
		}
	free(fill);
	return 0;
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

/* v == i, made once per value: formulas are built once per target and query, from the same
 * few thousand equalities. */
static Z3_ast eq(struct prover *pr, int v, size_t i)
{
	Z3_ast *cache = i <= pr->n[v] ? pr->eqs[v] : NULL, e = cache ? cache[i] : NULL;

	if (!e) {
		e = Z3_mk_eq(pr->ctx, pr->var[v],
			     Z3_mk_unsigned_int(pr->ctx, (unsigned)i, pr->sort[v]));
		if (cache)
			cache[i] = e;
	}
	return e;
}

static Z3_ast tru(struct prover *pr)
{
	return pr->t_true;
}

static Z3_ast fls(struct prover *pr)
{
	return pr->t_false;
}

/* T == i. While formulas are built for one target (a cube), decided here: the formula then
 * does not mention T at all, so two targets whose formulas come out as the same term are
 * interchangeable (run_query). */
static Z3_ast at_target(struct prover *pr, size_t i)
{
	if (pr->cube < 0)
		return eq(pr, V_T, i);
	return (long)i == pr->cube ? tru(pr) : fls(pr);
}

/* The connectives fold the constants true and false as the formula is built (Z3 hash-conses
 * terms, so a constant is always the same pointer): most (query, target) pairs of a large policy
 * fold to false without a solver call, and the rest stay small. */
static Z3_ast not_(struct prover *pr, Z3_ast a)
{
	if (a == pr->t_true)
		return pr->t_false;
	if (a == pr->t_false)
		return pr->t_true;
	return Z3_mk_not(pr->ctx, a);
}

/* Conjunction (conj) or disjunction of v[0..n), folded; v is reordered in place. */
static Z3_ast fold_n(struct prover *pr, bool conj, size_t n, Z3_ast *v)
{
	Z3_ast unit = conj ? pr->t_true : pr->t_false, zero = conj ? pr->t_false : pr->t_true;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i] == zero)
			return zero;
		if (v[i] != unit)
			v[k++] = v[i];
	}
	if (k <= 1)
		return k ? v[0] : unit;
	return conj ? Z3_mk_and(pr->ctx, (unsigned)k, v) : Z3_mk_or(pr->ctx, (unsigned)k, v);
}

static Z3_ast and_n(struct prover *pr, size_t n, Z3_ast *v)
{
	return fold_n(pr, true, n, v);
}

static Z3_ast or_n(struct prover *pr, size_t n, Z3_ast *v)
{
	return fold_n(pr, false, n, v);
}

static Z3_ast and2(struct prover *pr, Z3_ast a, Z3_ast b)
{
	Z3_ast v[2] = { a, b };

	return and_n(pr, 2, v);
}

static Z3_ast or2(struct prover *pr, Z3_ast a, Z3_ast b)
{
	Z3_ast v[2] = { a, b };

	return or_n(pr, 2, v);
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
	Z3_ast r = or_n(pr, t->n, t->v);

	free(t->v);
	memset(t, 0, sizeof(*t));
	return r;
}

/* var in {i : pick(i)} over n candidates. */
static Z3_ast in_pred(struct prover *pr, int v, size_t n,
		      bool (*pick)(struct prover *, size_t, const void *), const void *arg)
{
	struct terms t = { 0 };
	size_t lo = 0;

	/* Within a cube, T is decided: only the cube's own target can be in the set. */
	if (v == V_T && pr->cube >= 0) {
		lo = (size_t)pr->cube;
		n = lo + 1;
	}
	for (size_t i = lo; i < n; i++)
		if (pick(pr, i, arg))
			terms_add(pr, &t, v == V_T ? at_target(pr, i) : eq(pr, v, i));
	return terms_or(pr, &t);
}

/* The endpoints of u that take part in the formulas built now: those naming the cube's target,
 * or all of them without a cube. Ascending, so grouped by rule. */
static const size_t *scope_eps(const struct prover *pr, const struct upol *u, size_t *ret_n)
{
	if (pr->cube < 0) {
		*ret_n = u->n_eps;
		return u->all_eps;
	}
	*ret_n = u->tgt_off[pr->cube + 1] - u->tgt_off[pr->cube];
	return u->by_tgt + u->tgt_off[pr->cube];
}

/* The targets formulas are built over now: [*ret_lo, return value). */
static size_t scope_tgts(const struct prover *pr, size_t *ret_lo)
{
	*ret_lo = pr->cube < 0 ? 0 : (size_t)pr->cube;
	return pr->cube < 0 ? pr->n_tgts : (size_t)pr->cube + 1;
}

static Z3_ast in_list(struct prover *pr, int v, const size_t *idx, size_t n)
{
	struct terms t = { 0 };

	for (size_t i = 0; i < n; i++)
		terms_add(pr, &t, v == V_T ? at_target(pr, idx[i]) : eq(pr, v, idx[i]));
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

	size_t lo, hi = scope_tgts(pr, &lo);

	for (size_t c = 0; pr->cred && c < pr->cred->n; c++) {
		struct terms ts = { 0 };

		for (size_t i = lo; i < hi; i++)
			if (cred_on(&pr->cred->creds[c], &pr->tgts[i]))
				terms_add(pr, &ts, at_target(pr, i));
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

		return or2(pr, and_n(pr, n, h), and_n(pr, n, r));
	}
}

/* access_P(B, T[, M, K]): a binary the policy lists reaches the target with that method and
 * mechanism. Grouped by rule so that the binary test is written once per rule. */
static Z3_ast access(struct prover *pr, const struct upol *u, enum mk mk, bool write)
{
	struct terms rules = { 0 };
	size_t n;
	const size_t *idx = scope_eps(pr, u, &n);

	for (size_t i = 0; i < n;) {
		size_t r = u->eps[idx[i]].rule;
		struct terms eps = { 0 };

		for (; i < n && u->eps[idx[i]].rule == r; i++) {
			const struct pep *e = &u->eps[idx[i]];

			terms_add(pr, &eps,
				  and2(pr, in_list(pr, V_T, e->targets, e->n_targets),
				       mech(pr, e, V_B, mk, write)));
		}
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
	size_t n;
	const size_t *idx = scope_eps(pr, u, &n);

	for (size_t i = 0; i < n;) {
		size_t r = u->eps[idx[i]].rule;
		struct terms eps = { 0 };
		Z3_ast head[3];

		for (; i < n && u->eps[idx[i]].rule == r; i++) {
			const struct pep *e = &u->eps[idx[i]];
			Z3_ast x[3] = { in_list(pr, V_T, e->targets, e->n_targets),
					mech(pr, e, V_B, MK_BOTH, false),
					not_(pr, mech(pr, e, V_A, MK_BOTH, false)) };

			terms_add(pr, &eps, and_n(pr, 3, x));
		}
		head[0] = listed(pr, u, r, V_A);
		head[1] = not_(pr, listed(pr, u, r, V_B));
		head[2] = terms_or(pr, &eps);
		terms_add(pr, &rules, and_n(pr, 3, head));
	}
	return and2(pr, spawn_rel(pr), terms_or(pr, &rules));
}

/* credentialed API actions: (B, T, M, K, C, X) with X allowed at the endpoint for HTTP. */
static Z3_ast api_access(struct prover *pr, const struct upol *u)
{
	struct terms rules = { 0 }, cx = { 0 }, tx = { 0 }, xm = { 0 };
	size_t n, lo, hi = scope_tgts(pr, &lo);
	const size_t *idx = scope_eps(pr, u, &n);

	for (size_t i = 0; i < n;) {
		size_t r = u->eps[idx[i]].rule;
		struct terms eps = { 0 };

		for (; i < n && u->eps[idx[i]].rule == r; i++) {
			const struct pep *pe = &u->eps[idx[i]];
			struct terms xs = { 0 };
			Z3_ast x[3];

			for (size_t a = 0; a < pr->n_acts; a++)
				if (pe->action[a])
					terms_add(pr, &xs, eq(pr, V_X, a));
			x[0] = in_list(pr, V_T, pe->targets, pe->n_targets);
			x[1] = terms_or(pr, &xs);
			x[2] = eq(pr, V_K, pe->l7 ? K_HTTP_L7 : K_HTTP_L4);
			terms_add(pr, &eps, and_n(pr, 3, x));
		}
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

		for (size_t t = lo; t < hi; t++)
			if (prv_host_overlap(pr->acts[a].api->host, pr->tgts[t].host) &&
			    (!pr->acts[a].api->port || pr->acts[a].api->port == pr->tgts[t].port))
				terms_add(pr, &ts, at_target(pr, t));
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

		return and_n(pr, 6, all);
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

static bool pick_exposed(struct prover *pr, size_t i, const void *arg)
{
	(void)pr;
	return ((const bool *)arg)[i];
}

/* Secrets u exposes that no target reported yet. */
static bool pick_secret(struct prover *pr, size_t i, const void *arg)
{
	return ((const bool *)arg)[i] && !pr->s_reported[i];
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
	size_t n;
	const size_t *idx = scope_eps(pr, u, &n);

	for (size_t i = 0; i < n; i++)
		terms_add(pr, &t,
			  in_list(pr, V_T, u->eps[idx[i]].targets, u->eps[idx[i]].n_targets));
	return terms_or(pr, &t);
}

/* ---- queries ---------------------------------------------------------------------------------- */

struct tier {
	Z3_ast cond;
	enum osh_severity sev;
};

struct query {
	enum osh_finding_kind kind;
	unsigned proj; /* the variables a finding is keyed on */
	unsigned show; /* further variables a finding names (made canonical, see canonical()) */
	bool delta_only;
	/* Keyed on the secret, but built target by target all the same, in order: a secret is
	 * reported at the first target with an exfiltration path and not looked for after (f_fs),
	 * so the formulas stay those of one target. */
	bool by_target;
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

	t[0] = (struct tier){ or_n(pr, 3, k), OSH_SEVERITY_HIGH };
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
	Z3_ast f = and_n(pr, 5, x);

	if (!projected) {
		Z3_ast k[2] = { eq(pr, V_K, K_RAW_L4), eq(pr, V_K, K_L7_BYPASS) };

		f = and2(pr, f, and2(pr, access(pr, u, MK_BOTH, false), or_n(pr, 2, k)));
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

	return and_n(pr, 5, x);
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
	return and_n(pr, 3, x);
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
	Z3_ast raw = or_n(pr, 2, k);

	t[0] = (struct tier){ and2(pr, raw, cred_any(pr)), OSH_SEVERITY_CRITICAL };
	t[1] = (struct tier){ raw, OSH_SEVERITY_HIGH };
	t[2] = (struct tier){ tru(pr), OSH_SEVERITY_MEDIUM };
	return 3;
}

static Z3_ast f_fs(struct prover *pr, const struct upol *u, bool projected)
{
	if (projected) {
		/* Old policy: was the secret readable and was there any exfiltration path at
		 * all, through any target? The second part is its own solver question, asked
		 * once. */
		if (!pr->old_exfil) {
			long cube = pr->cube;

			pr->cube = -1;
			Z3_solver_push(pr->ctx, pr->s);
			Z3_solver_assert(pr->ctx, pr->s, f_exfil(pr, u, true));
			pr->old_exfil = Z3_solver_check(pr->ctx, pr->s) == Z3_L_FALSE ? -1 : 1;
			Z3_solver_pop(pr->ctx, pr->s, 1);
			pr->cube = cube;
		}
		if (pr->old_exfil < 0)
			return fls(pr);
		return in_pred(pr, V_S, N_SECRETS, pick_exposed, u->exposed);
	}
	return and2(pr, in_pred(pr, V_S, N_SECRETS, pick_secret, u->exposed), f_exfil(pr, u, true));
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
	return and_n(pr, 3, x);
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
	return and_n(pr, 3, x);
}

static size_t t_cap_exp(struct prover *pr, struct tier *t)
{
	Z3_ast w[5] = { eq(pr, V_M, M_POST), eq(pr, V_M, M_PUT), eq(pr, V_M, M_PATCH),
			eq(pr, V_M, M_DELETE), eq(pr, V_M, M_RAW) };
	Z3_ast wr = or_n(pr, 5, w);

	t[0] = (struct tier){ and2(pr, wr, cred_any(pr)), OSH_SEVERITY_HIGH };
	t[1] = (struct tier){ wr, OSH_SEVERITY_MEDIUM };
	t[2] = (struct tier){ tru(pr), OSH_SEVERITY_LOW };
	return 3;
}

static const struct query queries[] = {
	{ .kind = OSH_FINDING_LINK_LOCAL_REACH,
	  .proj = P_(V_B) | P_(V_T),
	  .formula = f_link_local,
	  .tiers = t_critical },
	{ .kind = OSH_FINDING_L7_BYPASS_CREDENTIALED,
	  .proj = P_(V_B) | P_(V_T) | P_(V_C),
	  .show = P_(V_M) | P_(V_K),
	  .formula = f_l7_bypass,
	  .tiers = t_critical },
	{ .kind = OSH_FINDING_CREDENTIAL_REACH_EXPANSION,
	  .proj = P_(V_B) | P_(V_T) | P_(V_C),
	  .show = P_(V_M) | P_(V_K),
	  .formula = f_cred_reach,
	  .tiers = t_high },
	{ .kind = OSH_FINDING_CREDENTIALED_DESTRUCTIVE,
	  .proj = P_(V_B) | P_(V_T) | P_(V_M),
	  .show = P_(V_C) | P_(V_K) | P_(V_X),
	  .formula = f_cred_destr,
	  .tiers = t_cred_destr },
	{ .kind = OSH_FINDING_CREDENTIALED_WRITE,
	  .proj = P_(V_B) | P_(V_T) | P_(V_M),
	  .show = P_(V_C) | P_(V_K) | P_(V_X),
	  .formula = f_cred_write,
	  .tiers = t_cred_write },
	{ .kind = OSH_FINDING_DATA_EXFILTRATION,
	  .proj = P_(V_B) | P_(V_T),
	  .show = P_(V_M) | P_(V_K),
	  .formula = f_exfil,
	  .tiers = t_exfil },
	{ .kind = OSH_FINDING_LOOPBACK_REACH,
	  .proj = P_(V_B) | P_(V_T),
	  .formula = f_loopback,
	  .tiers = t_high },
	{ .kind = OSH_FINDING_PRIVATE_NETWORK_REACH,
	  .proj = P_(V_B) | P_(V_T),
	  .formula = f_private,
	  .tiers = t_medium },
	{ .kind = OSH_FINDING_DNS_CHANNEL, .proj = P_(V_T), .formula = f_dns, .tiers = t_dns },
	{ .kind = OSH_FINDING_SPAWN_CHAIN,
	  .proj = P_(V_B) | P_(V_T),
	  .show = P_(V_A) | P_(V_M) | P_(V_K),
	  .formula = f_spawn,
	  .tiers = t_spawn },
	{ .kind = OSH_FINDING_FILESYSTEM_SECRET,
	  .proj = P_(V_S),
	  .show = P_(V_B) | P_(V_T),
	  .by_target = true,
	  .formula = f_fs,
	  .tiers = t_fs },
	{ .kind = OSH_FINDING_REACH_EXPANSION,
	  .proj = P_(V_B) | P_(V_T),
	  .delta_only = true,
	  .formula = f_reach_exp,
	  .tiers = t_reach_exp },
	{ .kind = OSH_FINDING_CAPABILITY_EXPANSION,
	  .proj = P_(V_B) | P_(V_T) | P_(V_M),
	  .show = P_(V_K),
	  .delta_only = true,
	  .formula = f_cap_exp,
	  .tiers = t_cap_exp },
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

static int size_cmp(const void *pa, const void *pb)
{
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;

	return (a > b) - (a < b);
}

/* The actions (X) a credentialed-action witness allows for its (B, T, M), in registry order (at
 * most 16 named), as a new string in *ret. Returns 0, -ENOMEM or -EIO. */
static int list_actions(struct prover *pr, Z3_ast f, const size_t v[V_MAX], char **ret)
{
	size_t *xs = calloc(pr->n_acts + 1, sizeof(*xs)), n = 0, len = 0;
	char *out = NULL;
	Z3_lbool sat = Z3_L_FALSE;

	if (!xs)
		return -ENOMEM;
	Z3_solver_push(pr->ctx, pr->s);
	Z3_solver_assert(pr->ctx, pr->s, f);
	Z3_solver_assert(pr->ctx, pr->s, eq(pr, V_B, v[V_B]));
	Z3_solver_assert(pr->ctx, pr->s, eq(pr, V_T, v[V_T]));
	Z3_solver_assert(pr->ctx, pr->s, eq(pr, V_M, v[V_M]));
	while (n < pr->n_acts && (sat = Z3_solver_check(pr->ctx, pr->s)) == Z3_L_TRUE) {
		Z3_model mod = Z3_solver_get_model(pr->ctx, pr->s);
		int r;

		Z3_model_inc_ref(pr->ctx, mod);
		r = model_val(pr, mod, V_X, &xs[n]);
		Z3_model_dec_ref(pr->ctx, mod);
		if (r < 0 || xs[n] >= pr->n_acts) {
			sat = Z3_L_UNDEF;
			break;
		}
		Z3_solver_assert(pr->ctx, pr->s, not_(pr, eq(pr, V_X, xs[n++])));
	}
	Z3_solver_pop(pr->ctx, pr->s, 1);
	if (sat == Z3_L_UNDEF || Z3_get_error_code(pr->ctx) != Z3_OK) {
		free(xs);
		return -EIO;
	}
	qsort(xs, n, sizeof(*xs), size_cmp);
	for (size_t i = 0; i < n && i < 16; i++) {
		const struct prv_api_action *a = pr->acts[xs[i]].a;
		char *no = realloc(out, len + strlen(a->action) + strlen(a->path) + 40);

		if (!no) {
			free(out);
			free(xs);
			return -ENOMEM;
		}
		out = no;
		len += (size_t)sprintf(out + len, "%s%s (%s, risk %s)%s", i ? ", " : "", a->action,
				       a->path, a->risk ? a->risk : "unknown",
				       i == 15 && n > 16 ? ", ..." : "");
	}
	free(xs);
	*ret = out;
	return 0;
}

/* A witness as read from a model: every variable's value, the severity tier it was found in and,
 * for the credentialed-action queries, the actions it allows (owned). */
struct witness {
	size_t v[V_MAX];
	enum osh_severity sev;
	size_t tier; /* index of sev's tier in the query's list */
	char *acts;
};

/* Reads model m, found in the tier of severity sev of the class formula f, into w. Returns 0,
 * -EIO or -ENOMEM. */
static int witness_read(struct prover *pr, const struct query *q, Z3_model m, Z3_ast f,
			enum osh_severity sev, struct witness *w)
{
	size_t *v = w->v;

	memset(w, 0, sizeof(*w));
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
	w->sev = sev;
	if (q->kind == OSH_FINDING_CREDENTIALED_WRITE ||
	    q->kind == OSH_FINDING_CREDENTIALED_DESTRUCTIVE)
		return list_actions(pr, f, v, &w->acts);
	return 0;
}

/* Appends the finding witness w stands for at target tgt (its own target, or another of its
 * class). */
static int describe(struct prover *pr, const struct query *q, const struct witness *w, size_t tgt)
{
	size_t v[V_MAX];
	struct osh_finding *fd;
	char *expl = NULL, *rem = NULL;
	const char *acts = w->acts;
	const struct upol *u = &pr->pol[0];
	const struct ubin *b, *a = NULL;
	const struct utarget *t;
	const char *cred = NULL, *bname;
	enum osh_severity sev = w->sev;
	int r;

	memcpy(v, w->v, sizeof(v));
	v[V_T] = tgt;
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

/* Checks the formulas asserted so far under the assumptions a[0..n), leaving out the constant
 * true: assumptions cost no push and pop, and what Z3 learns from the asserted part stays. */
static Z3_lbool check_under(struct prover *pr, size_t n, const Z3_ast *a)
{
	Z3_ast *as = calloc(n + 1, sizeof(*as));
	size_t k = 0;
	Z3_lbool r;

	if (!as) {
		pr->err = -ENOMEM;
		return Z3_L_UNDEF;
	}
	if (pr->guard)
		as[k++] = pr->guard;
	for (size_t i = 0; i < n; i++)
		if (a[i] != pr->t_true)
			as[k++] = a[i];
	r = Z3_solver_check_assumptions(pr->ctx, pr->s, (unsigned)k, as);
	free(as);
	return Z3_get_error_code(pr->ctx) == Z3_OK ? r : Z3_L_UNDEF;
}

/* The canonical order of a finding's further variables: the method by preference (POST and raw
 * bytes are the witnesses a reviewer recognises), then the rest by value, in this order. */
static const int canon_vars[] = { V_M, V_K, V_C, V_A, V_X, V_B, V_T, V_S };
static const unsigned char method_rank[M_MAX] = {
	[M_POST] = 0, [M_RAW] = 1,   [M_GET] = 2,    [M_HEAD] = 3, [M_OPTIONS] = 4,
	[M_PUT] = 5,  [M_PATCH] = 6, [M_DELETE] = 7, [M_DNS] = 8,
};

/* The position of v's value x in the canonical order. */
static size_t rank_of(int v, size_t x)
{
	if (v == V_M)
		return x < M_MAX ? method_rank[x] : M_MAX;
	return x;
}

/* v's value is at position <= r in the canonical order. */
static Z3_ast rank_le(struct prover *pr, int v, size_t r)
{
	struct terms t = { 0 };

	if (v != V_M)
		return Z3_mk_bvule(pr->ctx, pr->var[v],
				   Z3_mk_unsigned_int(pr->ctx, (unsigned)r, pr->sort[v]));
	for (size_t m = 0; m < M_MAX; m++)
		if (method_rank[m] <= r)
			terms_add(pr, &t, eq(pr, V_M, m));
	return terms_or(pr, &t);
}

/* Checks the assumptions a[0..n) plus extra; on sat, replaces *m by the new model. */
static Z3_lbool improve(struct prover *pr, Z3_ast *a, size_t n, Z3_ast extra, Z3_model *m)
{
	Z3_lbool sat;

	a[n] = extra;
	sat = check_under(pr, n + 1, a);
	if (sat == Z3_L_TRUE) {
		Z3_model_dec_ref(pr->ctx, *m);
		*m = Z3_solver_get_model(pr->ctx, pr->s);
		Z3_model_inc_ref(pr->ctx, *m);
	} else if (sat != Z3_L_FALSE && !pr->err) {
		pr->err = -EIO;
	}
	return sat;
}

/* The least model in the canonical order among those with m's projection (proj, n_proj
 * equalities) in its tier: what a finding names besides its key then depends on the policy only,
 * not on the path the solver took, so a class's witnesses are what each of its targets would
 * give on its own. One check tells whether m is already least (the common case); otherwise
 * each variable in turn is bisected. Returns that model (referenced), having released m. */
static Z3_model canonical(struct prover *pr, const struct query *q, Z3_ast tier, const Z3_ast *proj,
			  size_t n_proj, Z3_model m)
{
	unsigned vars = q->show & ~q->proj;
	struct terms better = { 0 };
	Z3_ast same, *a;
	size_t n;

	if (!vars)
		return m;
	a = calloc(n_proj + V_MAX + 2, sizeof(*a));
	if (!a) {
		pr->err = -ENOMEM;
		return m;
	}
	memcpy(a, proj, n_proj * sizeof(*a));
	a[n_proj] = tier;
	n = n_proj + 1;
	/* Is there a model that agrees on the variables before some v and has a smaller v? */
	same = tru(pr);
	for (size_t i = 0; i < sizeof(canon_vars) / sizeof(canon_vars[0]) && !pr->err; i++) {
		int v = canon_vars[i];
		size_t cur = 0;

		if (!(vars & P_(v)))
			continue;
		if (model_val(pr, m, v, &cur) < 0)
			pr->err = -EIO;
		else if (rank_of(v, cur))
			terms_add(pr, &better, and2(pr, same, rank_le(pr, v, rank_of(v, cur) - 1)));
		same = and2(pr, same, eq(pr, v, cur));
	}
	if (!pr->err && better.n && improve(pr, a, n, terms_or(pr, &better), &m) == Z3_L_TRUE) {
		for (size_t i = 0; i < sizeof(canon_vars) / sizeof(canon_vars[0]) && !pr->err;
		     i++) {
			int v = canon_vars[i];
			size_t cur = 0, lo = 0, hi;

			if (!(vars & P_(v)))
				continue;
			if (model_val(pr, m, v, &cur) < 0) {
				pr->err = -EIO;
				break;
			}
			/* The least rank in [lo, hi] that a model has, hi being m's. */
			for (hi = rank_of(v, cur); lo < hi && !pr->err;) {
				size_t mid = lo + (hi - lo) / 2;

				if (improve(pr, a, n, rank_le(pr, v, mid), &m) != Z3_L_TRUE) {
					lo = mid + 1;
				} else if (model_val(pr, m, v, &cur) < 0) {
					pr->err = -EIO;
				} else {
					hi = rank_of(v, cur);
				}
			}
			if (model_val(pr, m, v, &cur) < 0)
				pr->err = -EIO;
			a[n++] = eq(pr, v, cur); /* fixed for the variables after it */
		}
	}
	free(better.v);
	free(a);
	return m;
}

#define MAX_TIERS 4

/* The targets of one query whose formulas, built with T decided (at_target), come out as the
 * same term, and whose tiers do too: they have the same witnesses but for T. Z3 solves the
 * first of them, the representative; the others reuse its witnesses. */
struct tclass {
	Z3_ast f;
	Z3_ast tier[MAX_TIERS];
	enum osh_severity sev[MAX_TIERS];
	size_t n_tiers;
	struct witness *w; /* in reporting order: by tier, then by value (witness_cmp) */
	size_t n_w;
	bool solved;
};

struct tclasses {
	struct tclass *v;
	size_t n, cap;
};

static void tclass_clear(struct tclass *c)
{
	for (size_t j = 0; j < c->n_w; j++)
		free(c->w[j].acts);
	c->n_w = 0;
}

static void tclasses_free(struct tclasses *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		tclass_clear(&cs->v[i]);
		free(cs->v[i].w);
	}
	free(cs->v);
	memset(cs, 0, sizeof(*cs));
}

static bool tclass_same(const struct tclass *a, const struct tclass *b)
{
	if (a->f != b->f || a->n_tiers != b->n_tiers)
		return false;
	for (size_t i = 0; i < a->n_tiers; i++)
		if (a->tier[i] != b->tier[i] || a->sev[i] != b->sev[i])
			return false;
	return true;
}

/* The class of key (formula and tiers of one target): an existing one or a new, unsolved one
 * (NULL when out of memory). Z3 hash-conses terms, so equal terms are equal pointers; a context
 * made by Z3_mk_context keeps every term alive until it is deleted. A class costs solver round
 * trips, so even a policy with thousands of them spends next to nothing in this scan. */
static struct tclass *tclass_get(struct tclasses *cs, const struct tclass *key)
{
	for (size_t i = 0; i < cs->n; i++)
		if (tclass_same(&cs->v[i], key))
			return &cs->v[i];
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 16;
		struct tclass *nv = realloc(cs->v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		cs->v = nv;
		cs->cap = cap;
	}
	cs->v[cs->n] = *key;
	return &cs->v[cs->n++];
}

static int tclass_add_witness(struct tclass *c, const struct witness *w)
{
	struct witness *nw = realloc(c->w, (c->n_w + 1) * sizeof(*nw));

	if (!nw)
		return -ENOMEM;
	c->w = nw;
	c->w[c->n_w++] = *w;
	return 0;
}

/* Whether model m satisfies tier condition t. */
static bool model_holds(struct prover *pr, Z3_model m, Z3_ast t)
{
	Z3_ast out = NULL;

	if (t == pr->t_true)
		return true;
	return Z3_model_eval(pr->ctx, m, t, true, &out) &&
	       Z3_get_bool_value(pr->ctx, out) == Z3_L_TRUE;
}

/* Turns model m (referenced; consumed) of class c into a witness at its projection's most
 * severe tier, from tier ti on (the tiers before it are known to have no model with this
 * projection), and blocks the projection. */
static int take_witness(struct prover *pr, const struct query *q, struct tclass *c, size_t ti,
			Z3_model m)
{
	struct terms blk = { 0 };
	struct witness w;
	size_t held = c->n_tiers;
	int r = proj_eqs(pr, q, m, &blk);

	for (size_t i = ti; i < c->n_tiers && held == c->n_tiers; i++)
		if (model_holds(pr, m, c->tier[i]))
			held = i;
	/* A more severe tier may hold for another model with the same projection. */
	for (size_t i = ti; r >= 0 && i < held; i++) {
		Z3_ast *a;
		Z3_lbool sat;

		if (c->tier[i] == pr->t_false)
			continue;
		a = calloc(blk.n + 1, sizeof(*a));
		if (!a) {
			r = -ENOMEM;
			break;
		}
		memcpy(a, blk.v, blk.n * sizeof(*a));
		a[blk.n] = c->tier[i];
		sat = check_under(pr, blk.n + 1, a);
		free(a);
		if (sat == Z3_L_TRUE) {
			Z3_model_dec_ref(pr->ctx, m);
			m = Z3_solver_get_model(pr->ctx, pr->s);
			Z3_model_inc_ref(pr->ctx, m);
			held = i;
		} else if (sat != Z3_L_FALSE) {
			r = -EIO;
		}
	}
	if (r >= 0 && held == c->n_tiers)
		r = -EIO; /* a model no tier holds for: the tiers must end with an unconditional one */
	if (r >= 0) {
		m = canonical(pr, q, c->tier[held], blk.v, blk.n, m);
		r = witness_read(pr, q, m, c->f, c->sev[held], &w);
	}
	if (r >= 0) {
		w.tier = held;
		if ((r = tclass_add_witness(c, &w)) < 0)
			free(w.acts);
	}
	if (r >= 0)
		/* Blocking clause: this projection is reported once. */
		Z3_solver_assert(
		    pr->ctx, pr->s,
		    Z3_mk_implies(pr->ctx, pr->guard, not_(pr, and_n(pr, blk.n, blk.v))));
	free(blk.v);
	Z3_model_dec_ref(pr->ctx, m);
	return r < 0 ? r : pr->err;
}

/* Models of the class's formula, tier by tier from tier ti (or all tiers at once when ti is
 * n_tiers), each blocked once taken, until there are none or limit witnesses. */
static int enumerate(struct prover *pr, const struct query *q, struct tclass *c, size_t ti,
		     size_t limit)
{
	bool all = ti == c->n_tiers;
	int r = 0;

	for (ti = all ? 0 : ti; ti < c->n_tiers && r >= 0; ti++) {
		Z3_ast tier = all ? pr->t_true : c->tier[ti];

		while (r >= 0 && c->n_w < limit && tier != pr->t_false) {
			Z3_lbool sat = check_under(pr, 1, &tier);
			Z3_model m;

			if (sat == Z3_L_FALSE)
				break;
			if (sat != Z3_L_TRUE) {
				r = pr->err ? pr->err : -EIO;
				break;
			}
			m = Z3_solver_get_model(pr->ctx, pr->s);
			Z3_model_inc_ref(pr->ctx, m);
			r = take_witness(pr, q, c, all ? 0 : ti, m);
		}
		if (all || c->n_w >= limit)
			break;
	}
	return r;
}

/* Classes whose retired guards share a solver scope (measured: 4 to 8 is best; 1 re-internalizes
 * the shared equalities for every class, hundreds slow every check down). */
#define GUARD_BATCH 8

/* enumerate() under a fresh literal (a guard): the class's formula and blocking clauses are
 * asserted as implied by it, and every check assumes it. Nothing is pushed or popped, so what
 * Z3 internalized for one class (the equalities over the witness variables, most of all) serves
 * the next; the literal is retired afterwards (asserted false), which satisfies every clause it
 * guards. */
static int enumerate_guarded(struct prover *pr, const struct query *q, struct tclass *c, long rep,
			     size_t ti, size_t limit)
{
	Z3_ast body = rep >= 0 ? and2(pr, c->f, eq(pr, V_T, (size_t)rep)) : c->f;
	int r;

	/* Retired guards still cost every check a little: every few classes, their scope goes. */
	if (pr->n_guards++ % GUARD_BATCH == 0) {
		if (pr->n_guards > 1)
			Z3_solver_pop(pr->ctx, pr->s, 1);
		Z3_solver_push(pr->ctx, pr->s);
	}
	pr->guard = Z3_mk_fresh_const(pr->ctx, "class", Z3_mk_bool_sort(pr->ctx));
	Z3_solver_assert(pr->ctx, pr->s, Z3_mk_implies(pr->ctx, pr->guard, body));
	r = enumerate(pr, q, c, ti, limit);
	Z3_solver_assert(pr->ctx, pr->s, not_(pr, pr->guard));
	pr->guard = NULL;
	return r;
}

static int witness_cmp(const void *pa, const void *pb)
{
	const struct witness *a = pa, *b = pb;

	if (a->tier != b->tier)
		return a->tier < b->tier ? -1 : 1;
	for (int v = 0; v < V_MAX; v++)
		if (a->v[v] != b->v[v])
			return a->v[v] < b->v[v] ? -1 : 1;
	return 0;
}

/* Enumerates the witnesses of class c on its representative rep (T == rep; -1 without a cube):
 * each projection once, at its most severe tier, with its canonical model, sorted the way the
 * query reports them: by tier, then by value. All tiers at once cost one solver round trip per
 * witness and one to end; only a class of at least limit witnesses (more than the query
 * reports) is enumerated again tier by tier, so that the ones reported are the most severe. */
static int tclass_solve(struct prover *pr, const struct query *q, struct tclass *c, long rep,
			size_t limit)
{
	int r;

	c->solved = true;
	r = enumerate_guarded(pr, q, c, rep, c->n_tiers, limit);
	if (r >= 0 && c->n_w >= limit) {
		tclass_clear(c);
		r = enumerate_guarded(pr, q, c, rep, 0, limit);
	}
	if (c->n_w > 1)
		qsort(c->w, c->n_w, sizeof(c->w[0]), witness_cmp);
	return r < 0 ? r : pr->err;
}

/* Reports class c's witnesses at target t. Returns 1 when the query's witness limit stopped
 * it. */
static int tclass_report(struct prover *pr, const struct query *q, const struct tclass *c, long t,
			 size_t *found)
{
	for (size_t i = 0; i < c->n_w; i++) {
		int r;

		if (q->by_target) {
			if (pr->s_reported[c->w[i].v[V_S]])
				continue;
			pr->s_reported[c->w[i].v[V_S]] = true;
		}
		if (*found >= pr->max_w)
			return 1;
		r = describe(pr, q, &c->w[i], t >= 0 ? (size_t)t : c->w[i].v[V_T]);
		if (r < 0)
			return r;
		(*found)++;
	}
	return 0;
}

/* The formula and tiers of query q at the current cube (or the whole policy, without one). */
static void build_key(struct prover *pr, const struct query *q, struct tclass *key)
{
	struct tier tiers[MAX_TIERS];
	Z3_ast f = q->formula(pr, &pr->pol[0], false);

	memset(key, 0, sizeof(*key));
	if (pr->delta && !q->delta_only)
		f = and2(pr, f, not_(pr, q->formula(pr, &pr->pol[1], true)));
	key->f = f;
	if (key->f == pr->t_false)
		return;
	key->n_tiers = q->tiers(pr, tiers);
	for (size_t i = 0; i < key->n_tiers; i++) {
		key->tier[i] = tiers[i].cond;
		key->sev[i] = tiers[i].sev;
	}
}

/* Runs one query. Queries keyed on a target are built one target at a time, with T decided
 * (a cube): the formula keeps only the endpoints naming that target, so it stays small however
 * large the policy, and most targets fold to false at once. Targets whose formulas are the same
 * term form a class, solved once; each target in order then reports its class's witnesses.
 * Since a witness's every field is canonical (canonical()), the result is exactly what solving
 * every target on its own gives. */
static int run_query(struct prover *pr, const struct query *q)
{
	struct tclasses cs = { 0 };
	size_t found = 0;
	bool cubes = (q->proj & P_(V_T)) || q->by_target;
	int r = 0;

	if (q->delta_only && !pr->delta)
		return 0;
	for (size_t t = 0; t < (cubes ? pr->n_tgts : 1) && r == 0; t++) {
		struct tclass key, *c;

		pr->cube = cubes ? (long)t : -1;
		build_key(pr, q, &key);
		if (pr->err) {
			r = pr->err;
			break;
		}
		/* Most targets of a large policy are no witness of most queries: the formula
		 * folds to false (not_, fold_n) without a solver round trip. */
		if (key.f == pr->t_false)
			continue;
		c = tclass_get(&cs, &key);
		if (!c) {
			r = -ENOMEM;
			break;
		}
		/* One more than the query reports at most tells whether it stops; the same limit
		 * for every class keeps a class's witnesses independent of where it is met. */
		if (!c->solved)
			r = tclass_solve(pr, q, c, pr->cube, pr->max_w + 1);
		if (r == 0)
			r = tclass_report(pr, q, c, pr->cube, &found);
	}
	pr->cube = -1;
	tclasses_free(&cs);
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
	free(u->tgt_off);
	free(u->by_tgt);
	free(u->all_eps);
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
	for (int v = 0; v < V_MAX; v++)
		free(pr->eqs[v]);
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
	/* Both policies' endpoints are indexed over the complete (shared) target universe. */
	if (r >= 0)
		r = build_index(&pr, &pr.pol[0]);
	if (r >= 0 && pr.delta)
		r = build_index(&pr, &pr.pol[1]);
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
	/* Only ever used incrementally (scopes, assumptions): the SMT core itself. The default
	 * solver would also keep every assertion for a one-shot tactic it never runs. */
	pr.s = Z3_mk_simple_solver(pr.ctx);
	Z3_solver_inc_ref(pr.ctx, pr.s);
	pr.n[V_B] = (unsigned)pr.n_bins;
	pr.n[V_T] = (unsigned)pr.n_tgts;
	pr.n[V_M] = M_MAX;
	pr.n[V_K] = K_MAX;
	pr.n[V_C] = pr.cred ? (unsigned)pr.cred->n : 0;
	pr.n[V_A] = (unsigned)pr.n_bins;
	pr.n[V_X] = (unsigned)pr.n_acts;
	pr.n[V_S] = N_SECRETS;
	pr.t_true = Z3_mk_true(pr.ctx);
	pr.t_false = Z3_mk_false(pr.ctx);
	for (int v = 0; v < V_MAX; v++) {
		pr.sort[v] = Z3_mk_bv_sort(pr.ctx, width_for(pr.n[v] + 1));
		pr.var[v] = Z3_mk_const(pr.ctx, Z3_mk_string_symbol(pr.ctx, names[v]), pr.sort[v]);
		pr.eqs[v] = calloc(pr.n[v] + 1, sizeof(Z3_ast));
		if (!pr.eqs[v])
			r = -ENOMEM;
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
