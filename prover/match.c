// SPDX-License-Identifier: Apache-2.0
// Matching helpers the prover's encodings are built from: path globs (and whether two globs can
// match one string), host wildcards, address classes, and registry lookups for policy paths.
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int prv_asprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (r < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return r;
}

/* ---- globs ------------------------------------------------------------------------------------ */

enum tok { T_END, T_CHAR, T_ONE, T_STAR, T_DSTAR };

static enum tok tok_at(const char *p, size_t i, size_t *len)
{
	*len = 1;
	if (!p[i])
		return T_END;
	if (p[i] == '*' && p[i + 1] == '*') {
		*len = 2;
		return T_DSTAR;
	}
	if (p[i] == '*')
		return T_STAR;
	if (p[i] == '?')
		return T_ONE;
	return T_CHAR;
}

bool prv_glob_match(const char *pat, const char *s)
{
	size_t len;

	switch (tok_at(pat, 0, &len)) {
	case T_END:
		return !*s;
	case T_CHAR:
		return *s == *pat && prv_glob_match(pat + 1, s + 1);
	case T_ONE:
		return *s && *s != '/' && prv_glob_match(pat + 1, s + 1);
	case T_STAR:
		for (;; s++) {
			if (prv_glob_match(pat + 1, s))
				return true;
			if (!*s || *s == '/')
				return false;
		}
	case T_DSTAR:
		/* A double star also matches the empty string, so "/repos/" + double star matches "/repos/". */
		for (;; s++) {
			if (prv_glob_match(pat + 2, s))
				return true;
			if (!*s)
				return false;
		}
	}
	return false;
}

/* Pattern against pattern: is there a string both match? Memoised over (i, j) so that the
 * recursion stays polynomial; memo bytes: 0 unknown, 1 false, 2 true. */
struct ov {
	const char *a, *b;
	size_t la, lb;
	unsigned char *memo;
};

static bool ov_at(struct ov *o, size_t i, size_t j);

static bool consume_one(struct ov *o, size_t i, size_t j, enum tok ta)
{
	/* a is a star at i: let it absorb one character of b at j (if the kinds allow). */
	size_t lb;
	enum tok tb = tok_at(o->b, j, &lb);

	if (tb == T_END)
		return false;
	if (tb == T_CHAR)
		return (ta == T_DSTAR || o->b[j] != '/') && ov_at(o, i, j + 1);
	/* b is a wildcard too: it can produce a non-'/' character; or step past it. */
	return ov_at(o, i, j + lb);
}

static bool ov_at(struct ov *o, size_t i, size_t j)
{
	size_t la, lb, key = i * (o->lb + 1) + j;
	enum tok ta = tok_at(o->a, i, &la), tb = tok_at(o->b, j, &lb);
	bool r;

	if (o->memo[key])
		return o->memo[key] == 2;
	o->memo[key] = 1; /* cycles count as false until proven */
	if (ta == T_END && tb == T_END)
		r = true;
	else if (ta == T_STAR || ta == T_DSTAR)
		r = ov_at(o, i + la, j) || consume_one(o, i, j, ta);
	else if (tb == T_STAR || tb == T_DSTAR) {
		/* b's star: matches empty, or absorbs one character of a. */
		r = ov_at(o, i, j + lb);
		if (!r && ta != T_END) {
			if (ta == T_CHAR)
				r = (tb == T_DSTAR || o->a[i] != '/') && ov_at(o, i + 1, j);
			else
				r = ov_at(o, i + la, j);
		}
	} else if (ta == T_END || tb == T_END)
		r = false;
	else if (ta == T_CHAR && tb == T_CHAR)
		r = o->a[i] == o->b[j] && ov_at(o, i + 1, j + 1);
	else if (ta == T_CHAR)
		r = o->a[i] != '/' && ov_at(o, i + 1, j + 1);
	else if (tb == T_CHAR)
		r = o->b[j] != '/' && ov_at(o, i + 1, j + 1);
	else
		r = ov_at(o, i + 1, j + 1);
	o->memo[key] = r ? 2 : 1;
	return r;
}

bool prv_glob_overlap(const char *a, const char *b)
{
	struct ov o = { a, b, strlen(a), strlen(b), NULL };
	bool r;

	o.memo = calloc((o.la + 1) * (o.lb + 1), 1);
	if (!o.memo)
		return true; /* out of memory: assume the worst, which is overlap */
	r = ov_at(&o, 0, 0);
	free(o.memo);
	return r;
}

/* ---- hosts ------------------------------------------------------------------------------------ */

bool prv_host_match(const char *pattern, const char *host)
{
	const char *pdot = strchr(pattern, '.'), *hdot;
	char label[256];
	size_t n;

	if (!strchr(pattern, '*'))
		return !strcasecmp(pattern, host);
	if (!pdot)
		return false;
	if (!strncmp(pattern, "**.", 3)) {
		size_t lh = strlen(host), ls = strlen(pdot);

		/* one or more labels before the suffix */
		return lh > ls && !strcasecmp(host + lh - ls, pdot);
	}
	hdot = strchr(host, '.');
	if (!hdot || strcasecmp(pdot, hdot))
		return false;
	n = (size_t)(pdot - pattern);
	if (n >= sizeof(label))
		return false;
	memcpy(label, pattern, n);
	label[n] = '\0';
	{
		char hl[256];
		size_t m = (size_t)(hdot - host);

		if (!m || m >= sizeof(hl))
			return false;
		memcpy(hl, host, m);
		hl[m] = '\0';
		return prv_glob_match(label, hl);
	}
}

bool prv_host_overlap(const char *a, const char *b)
{
	bool wa = strchr(a, '*'), wb = strchr(b, '*');

	if (!wa)
		return prv_host_match(b, a);
	if (!wb)
		return prv_host_match(a, b);
	/* Both wildcards: they share names when one suffix (after the first label) ends the
	 * other, e.g. *.x.com and **.com. */
	{
		const char *sa = strchr(a, '.'), *sb = strchr(b, '.');
		size_t la = sa ? strlen(sa) : 0, lb = sb ? strlen(sb) : 0;

		if (!sa || !sb)
			return false;
		if (la == lb)
			return !strcasecmp(sa, sb);
		return la > lb ? !strcasecmp(sa + la - lb, sb) && !strncmp(b, "**.", 3)
			       : !strcasecmp(sb + lb - la, sa) && !strncmp(a, "**.", 3);
	}
}

/* ---- addresses -------------------------------------------------------------------------------- */

struct range {
	uint8_t family;
	uint8_t len;
	uint8_t addr[16];
	enum prv_addr_class cls;
};

/* Known metadata addresses come first so that they win over the wider range they sit in. */
static const struct range ranges[] = {
	{ 4, 32, { 169, 254, 169, 254 }, PRV_ADDR_METADATA },
	{ 4, 32, { 100, 100, 100, 200 }, PRV_ADDR_METADATA }, /* Alibaba Cloud */
	{ 6,
	  128,
	  { 0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x54 },
	  PRV_ADDR_METADATA }, /* AWS IMDS over IPv6, fd00:ec2::254 */
	{ 4, 16, { 169, 254 }, PRV_ADDR_LINK_LOCAL },
	{ 6, 10, { 0xfe, 0x80 }, PRV_ADDR_LINK_LOCAL },
	{ 4, 8, { 127 }, PRV_ADDR_LOOPBACK },
	{ 4, 32, { 0, 0, 0, 0 }, PRV_ADDR_LOOPBACK },
	{ 6, 128, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, PRV_ADDR_LOOPBACK },
	{ 4, 8, { 10 }, PRV_ADDR_PRIVATE },
	{ 4, 12, { 172, 16 }, PRV_ADDR_PRIVATE },
	{ 4, 16, { 192, 168 }, PRV_ADDR_PRIVATE },
	{ 4, 10, { 100, 64 }, PRV_ADDR_PRIVATE }, /* carrier-grade NAT, used inside clouds */
	{ 6, 7, { 0xfc }, PRV_ADDR_PRIVATE },
};

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full))
		return false;
	if (!rest)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

enum prv_addr_class prv_cidr_class(const struct osh_cidr *c)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct osh_cidr v = *c;
	enum prv_addr_class best = PRV_ADDR_PUBLIC;

	if (c->family == 6 && c->prefix_len >= 96 && !memcmp(c->addr, mapped, 12)) {
		v.family = 4;
		v.prefix_len = (uint8_t)(c->prefix_len - 96);
		memmove(v.addr, c->addr + 12, 4);
	}
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		const struct range *r = &ranges[i];
		unsigned bits = v.prefix_len < r->len ? v.prefix_len : r->len;

		if (r->family != v.family || !prefix_eq(v.addr, r->addr, bits))
			continue;
		if (r->cls > best)
			best = r->cls;
	}
	return best;
}

enum prv_addr_class prv_name_class(const char *host)
{
	static const char *const metadata[] = {
		"metadata.google.internal",
		"metadata.goog",
		"metadata",
		"instance-data",
		"instance-data.ec2.internal",
		"metadata.azure.internal",
	};
	size_t n = strlen(host);

	while (n && host[n - 1] == '.')
		n--;
	for (size_t i = 0; i < sizeof(metadata) / sizeof(metadata[0]); i++)
		if (strlen(metadata[i]) == n && !strncasecmp(host, metadata[i], n))
			return PRV_ADDR_METADATA;
	if ((n == 9 && !strncasecmp(host, "localhost", 9)) ||
	    (n > 10 && !strncasecmp(host + n - 10, ".localhost", 10)) ||
	    (n == 13 && !strncasecmp(host, "ip6-localhost", 13)))
		return PRV_ADDR_LOOPBACK;
	return PRV_ADDR_PUBLIC;
}

/* ---- registry lookups ------------------------------------------------------------------------- */

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static bool names_exact(const struct prv_binary *b, const char *path)
{
	if (!strcmp(b->path, path))
		return true;
	for (size_t i = 0; i < b->n_aliases; i++)
		if (prv_glob_match(b->aliases[i], path))
			return true;
	return false;
}

static bool names_base(const struct prv_binary *b, const char *name)
{
	if (!strcmp(base(b->path), name))
		return true;
	for (size_t i = 0; i < b->n_aliases; i++)
		if (!strchr(b->aliases[i], '*') && !strcmp(base(b->aliases[i]), name))
			return true;
	return false;
}

const struct prv_binary *prv_registry_find(const struct osh_prover_registry *r, const char *path)
{
	for (size_t i = 0; i < r->n_bins; i++)
		if (names_exact(&r->bins[i], path))
			return &r->bins[i];
	/* The same program installed elsewhere (/usr/local/bin/git, /opt/.../curl). */
	for (size_t i = 0; i < r->n_bins; i++)
		if (names_base(&r->bins[i], base(path)))
			return &r->bins[i];
	return NULL;
}

size_t prv_registry_match(const struct osh_prover_registry *r, const char *path, bool glob,
			  size_t *idx, size_t max, bool *ret_unknown)
{
	const char *last = base(path);
	size_t n = 0;

	*ret_unknown = false;
	if (!glob) {
		const struct prv_binary *b = prv_registry_find(r, path);

		if (!b) {
			*ret_unknown = true;
			return 0;
		}
		if (max)
			idx[0] = (size_t)(b - r->bins);
		return 1;
	}
	/* A glob names the registry programs whose basename its last component matches. When that
	 * component starts with a wildcard (or is one), it can also name programs the registry
	 * does not know: those are capable of everything. */
	if (last[0] == '*' || last[0] == '?' || !last[0])
		*ret_unknown = true;
	for (size_t i = 0; i < r->n_bins; i++) {
		const struct prv_binary *b = &r->bins[i];
		bool hit = prv_glob_match(last, base(b->path)) || prv_glob_match(path, b->path);

		for (size_t k = 0; !hit && k < b->n_aliases; k++)
			hit = !strchr(b->aliases[k], '*') &&
			      prv_glob_match(last, base(b->aliases[k]));
		if (hit) {
			if (n < max)
				idx[n] = i;
			n++;
		}
	}
	if (!n)
		*ret_unknown = true;
	return n;
}

static void cap_or(struct prv_cap *a, const struct prv_cap *b)
{
	a->exfil |= b->exfil;
	a->http |= b->http;
	a->bypass |= b->bypass;
	a->write |= b->write;
	a->spawns_any |= b->spawns_any;
	if (!a->desc)
		a->desc = b->desc;
	if (!a->exfil_mechanism)
		a->exfil_mechanism = b->exfil_mechanism;
}

struct prv_cap prv_registry_cap(const struct osh_prover_registry *r, const char *path, bool glob)
{
	static const struct prv_cap everything = {
		.known = false,
		.exfil = true,
		.http = true,
		.bypass = true,
		.write = true,
		.spawns_any = true,
		.desc = "not in the capability registry: assumed capable of everything",
		.exfil_mechanism = "any",
	};
	struct prv_cap c = { .known = true };
	size_t idx[64];
	bool unknown = false;
	size_t n = prv_registry_match(r, path, glob, idx, 64, &unknown);

	if (unknown || n > 64)
		return everything;
	for (size_t i = 0; i < n; i++)
		cap_or(&c, &r->bins[idx[i]].cap);
	return c;
}
