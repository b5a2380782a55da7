// SPDX-License-Identifier: Apache-2.0
// IR -> map images: the exact key/value entries bpf/ programs read (egress LPM entries, hostnames
// for the DNS responder, binary identities, filesystem rules) plus the L7 rules only the proxy
// can enforce. Entries that share a key are merged so the maps never need two values per key.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(struct osh_egress_v4_key) == 12, "osh_egress_v4_key ABI");
_Static_assert(sizeof(struct osh_egress_v6_key) == 24, "osh_egress_v6_key ABI");
_Static_assert(sizeof(struct osh_egress_value) == 32, "osh_egress_value ABI");
_Static_assert(sizeof(struct osh_egress_name) == OSH_EGRESS_MAX_NAME_LEN + 8 + 32,
	       "osh_egress_name ABI");
_Static_assert(sizeof(struct osh_egress_bin_key) == 16, "osh_egress_bin_key ABI");
_Static_assert(sizeof(struct osh_egress_bin_value) == 8, "osh_egress_bin_value ABI");
_Static_assert(sizeof(struct osh_fs_key) == 16, "osh_fs_key ABI");
_Static_assert(sizeof(struct osh_fs_value) == 8, "osh_fs_value ABI");
_Static_assert(OSH_POLICY_MAX_HOST_LEN < OSH_EGRESS_MAX_NAME_LEN, "host names fit the ABI");
_Static_assert(OSH_POLICY_MAX_FS_PATHS <= OSH_FS_MAX_RULES, "fs rules fit the ABI");

static int bin_index_cmp(const void *a, const void *b)
{
	return strcmp(((const struct osh_image_binary *)a)->path,
		      ((const struct osh_image_binary *)b)->path);
}

static uint64_t rule_mask(const struct osh_policy_image *img, const struct osh_net_rule *r)
{
	uint64_t m = 0;

	for (size_t i = 0; i < r->n_binaries; i++) {
		struct osh_image_binary k = { .path = r->binaries[i].path };
		const struct osh_image_binary *b =
		    bsearch(&k, img->binaries, img->n_binaries, sizeof(k), bin_index_cmp);

		if (b)
			m |= 1ull << b->index;
	}
	return m;
}

static int collect_binaries(struct osh_policy_image *img, const struct osh_policy *p)
{
	size_t n = 0, o = 0;

	for (size_t i = 0; i < p->n_net_rules; i++)
		n += p->net_rules[i].n_binaries;
	img->binaries = osh_arena_array(img->arena, n ? n : 1, sizeof(*img->binaries));
	if (!img->binaries)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_net_rules; i++)
		for (size_t j = 0; j < p->net_rules[i].n_binaries; j++)
			img->binaries[o++] = (struct osh_image_binary){
				.path = p->net_rules[i].binaries[j].path,
				.glob = p->net_rules[i].binaries[j].glob,
			};
	qsort(img->binaries, o, sizeof(*img->binaries), bin_index_cmp);
	n = 0;
	for (size_t i = 0; i < o; i++) {
		if (n && !strcmp(img->binaries[n - 1].path, img->binaries[i].path))
			continue;
		img->binaries[n] = img->binaries[i];
		img->binaries[n].index = (uint32_t)n;
		n++;
	}
	if (n > OSH_EGRESS_MAX_BINARIES)
		return -E2BIG;
	img->n_binaries = n;
	return 0;
}

static void value_merge(struct osh_egress_value *into, const struct osh_egress_value *v)
{
	into->binaries |= v->binaries;
	into->l7 |= v->l7;
	into->audit |= v->audit;
	into->flags |= v->flags;
	if (v->rule < into->rule)
		into->rule = v->rule;
}

static int cmp_v4(const void *a, const void *b)
{
	return memcmp(&((const struct osh_image_v4 *)a)->key,
		      &((const struct osh_image_v4 *)b)->key, sizeof(struct osh_egress_v4_key));
}

static int cmp_v6(const void *a, const void *b)
{
	return memcmp(&((const struct osh_image_v6 *)a)->key,
		      &((const struct osh_image_v6 *)b)->key, sizeof(struct osh_egress_v6_key));
}

static int cmp_name(const void *a, const void *b)
{
	const struct osh_egress_name *x = &((const struct osh_image_name *)a)->entry;
	const struct osh_egress_name *y = &((const struct osh_image_name *)b)->entry;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	if (x->port != y->port)
		return ntohs(x->port) < ntohs(y->port) ? -1 : 1;
	return (x->proto > y->proto) - (x->proto < y->proto);
}

/* Name entries merge only when their endpoints constrain the answers alike: an entry keeps one
 * endpoint's allowed_ips, so merging endpoints with different allowed_ips would give one rule's
 * binaries another rule's address restriction (or none). Equal keys with different allowed_ips
 * stay separate entries; the DNS responder installs an answer for each entry it passes. */
static int cmp_allowed_ips(const struct osh_endpoint *a, const struct osh_endpoint *b)
{
	if (a->n_allowed_ips != b->n_allowed_ips)
		return a->n_allowed_ips < b->n_allowed_ips ? -1 : 1;
	for (size_t i = 0; i < a->n_allowed_ips; i++) {
		int r = osh_cidr_cmp(&a->allowed_ips[i], &b->allowed_ips[i]);

		if (r)
			return r;
	}
	return 0;
}

static int cmp_name_ips(const void *a, const void *b)
{
	int r = cmp_name(a, b);

	return r ? r
		 : cmp_allowed_ips(((const struct osh_image_name *)a)->endpoint,
				   ((const struct osh_image_name *)b)->endpoint);
}

/* Sorts and merges entries with equal keys. The value is at the same offset for all three. */
#define MERGE_SORTED(arr, n, cmp)                                                                  \
	do {                                                                                       \
		size_t o_ = 0;                                                                     \
		qsort(arr, n, sizeof(*(arr)), cmp);                                                \
		for (size_t i_ = 0; i_ < (n); i_++) {                                              \
			if (o_ && cmp(&(arr)[o_ - 1], &(arr)[i_]) == 0) {                          \
				value_merge(&(arr)[o_ - 1].value, &(arr)[i_].value);               \
				continue;                                                          \
			}                                                                          \
			(arr)[o_++] = (arr)[i_];                                                   \
		}                                                                                  \
		(n) = o_;                                                                          \
	} while (0)

static void add_cidr(struct osh_policy_image *img, const struct osh_cidr *c, uint16_t port,
		     const struct osh_egress_value *v)
{
	if (c->family == 4) {
		struct osh_image_v4 *e = &img->v4[img->n_v4++];

		memset(e, 0, sizeof(*e));
		e->key.prefixlen = OSH_EGRESS_KEY_PREFIX_BITS + c->prefix_len;
		e->key.port = htons(port);
		e->key.proto = OSH_EGRESS_PROTO_TCP;
		memcpy(e->key.addr, c->addr, 4);
		e->value = *v;
	} else {
		struct osh_image_v6 *e = &img->v6[img->n_v6++];

		memset(e, 0, sizeof(*e));
		e->key.prefixlen = OSH_EGRESS_KEY_PREFIX_BITS + c->prefix_len;
		e->key.port = htons(port);
		e->key.proto = OSH_EGRESS_PROTO_TCP;
		memcpy(e->key.addr, c->addr, 16);
		e->value = *v;
	}
}

static int compile_network(struct osh_policy_image *img, const struct osh_policy *p)
{
	size_t max_v4 = 0, max_v6 = 0, max_names = 0, max_l7 = 0;

	for (size_t i = 0; i < p->n_net_rules; i++) {
		for (size_t j = 0; j < p->net_rules[i].n_endpoints; j++) {
			const struct osh_endpoint *ep = &p->net_rules[i].endpoints[j];

			if (ep->host_kind == OSH_HOST_NONE) {
				for (size_t k = 0; k < ep->n_allowed_ips; k++) {
					if (ep->allowed_ips[k].family == 4)
						max_v4 += ep->n_ports;
					else
						max_v6 += ep->n_ports;
				}
			} else if (ep->host_kind == OSH_HOST_IPV4) {
				max_v4 += ep->n_ports;
			} else if (ep->host_kind == OSH_HOST_IPV6) {
				max_v6 += ep->n_ports;
			} else {
				max_names += ep->n_ports;
			}
			max_l7++;
		}
	}
	img->v4 = osh_arena_array(img->arena, max_v4 ? max_v4 : 1, sizeof(*img->v4));
	img->v6 = osh_arena_array(img->arena, max_v6 ? max_v6 : 1, sizeof(*img->v6));
	img->names = osh_arena_array(img->arena, max_names ? max_names : 1, sizeof(*img->names));
	img->l7 = osh_arena_array(img->arena, max_l7 ? max_l7 : 1, sizeof(*img->l7));
	if (!img->v4 || !img->v6 || !img->names || !img->l7)
		return -ENOMEM;

	for (size_t i = 0; i < p->n_net_rules; i++) {
		const struct osh_net_rule *r = &p->net_rules[i];
		uint64_t mask = rule_mask(img, r);

		for (size_t j = 0; j < r->n_endpoints; j++) {
			const struct osh_endpoint *ep = &r->endpoints[j];
			bool l7 = ep->protocol >= OSH_L7_REST;
			struct osh_egress_value v = {
				.binaries = mask,
				.l7 = l7 ? mask : 0,
				.audit = l7 && ep->enforcement == OSH_AUDIT ? mask : 0,
				.rule = (uint32_t)i,
				.flags = ep->tls == OSH_TLS_SKIP ? OSH_EGRESS_F_TLS_SKIP : 0,
			};

			if (l7)
				img->l7[img->n_l7++] = (struct osh_image_l7){ r, ep, mask };
			for (size_t k = 0; k < ep->n_ports; k++) {
				struct osh_image_name *ne;

				switch (ep->host_kind) {
				case OSH_HOST_NONE:
					for (size_t m = 0; m < ep->n_allowed_ips; m++)
						add_cidr(img, &ep->allowed_ips[m], ep->ports[k],
							 &v);
					break;
				case OSH_HOST_IPV4:
				case OSH_HOST_IPV6:
					add_cidr(img, &ep->host_addr, ep->ports[k], &v);
					break;
				case OSH_HOST_NAME:
				case OSH_HOST_WILDCARD:
					/* Arena memory is zeroed: the name's NUL padding is in place. */
					ne = &img->names[img->n_names++];
					snprintf(ne->entry.name, sizeof(ne->entry.name), "%s",
						 ep->host);
					ne->entry.port = htons(ep->ports[k]);
					ne->entry.proto = OSH_EGRESS_PROTO_TCP;
					ne->entry.kind = ep->host_kind == OSH_HOST_WILDCARD
							     ? OSH_EGRESS_NAME_WILDCARD
							     : OSH_EGRESS_NAME_EXACT;
					ne->entry.value = v;
					ne->endpoint = ep;
					break;
				}
			}
		}
	}
	/* The name entries' value lives inside .entry; merge them by hand. */
	MERGE_SORTED(img->v4, img->n_v4, cmp_v4);
	MERGE_SORTED(img->v6, img->n_v6, cmp_v6);
	{
		size_t o = 0;

		qsort(img->names, img->n_names, sizeof(*img->names), cmp_name_ips);
		for (size_t i = 0; i < img->n_names; i++) {
			if (o && cmp_name_ips(&img->names[o - 1], &img->names[i]) == 0) {
				value_merge(&img->names[o - 1].entry.value,
					    &img->names[i].entry.value);
				continue;
			}
			img->names[o++] = img->names[i];
		}
		img->n_names = o;
	}
	/* The validator already refused more address entries, naming the endpoint
	 * (osh_compile_addr_limit); this guards an IR built another way. */
	if (img->n_v4 + img->n_v6 > OSH_EGRESS_MAX_ADDR_ENTRIES ||
	    img->n_names > OSH_EGRESS_MAX_NAMES)
		return -E2BIG;
	return 0;
}

/* ---- the trie's capacity, checked while validating ---- */

/* One address entry as compile_network keys it (families apart, as n_v4 and n_v6 count them),
 * with the number of the first endpoint in document order that writes it. */
struct addr_ent {
	uint8_t family;
	uint8_t prefix_len;
	uint16_t port;
	uint8_t addr[16];
	uint32_t ep;
};

static int addr_ent_cmp(const void *a, const void *b)
{
	const struct addr_ent *x = a, *y = b;
	int r = memcmp(x, y, offsetof(struct addr_ent, ep));

	return r ? r : (x->ep > y->ep) - (x->ep < y->ep);
}

static int addr_ent_ep_cmp(const void *a, const void *b)
{
	const struct addr_ent *x = a, *y = b;

	return (x->ep > y->ep) - (x->ep < y->ep);
}

/* Sorts and keeps one entry per key, the one of the earliest endpoint. Returns the new count. */
static size_t addr_ents_dedup(struct addr_ent *v, size_t n)
{
	size_t o = 0;

	qsort(v, n, sizeof(*v), addr_ent_cmp);
	for (size_t i = 0; i < n; i++)
		if (!o || memcmp(&v[o - 1], &v[i], offsetof(struct addr_ent, ep)))
			v[o++] = v[i];
	return o;
}

static size_t ep_addrs(const struct osh_endpoint *ep, const struct osh_cidr **ret)
{
	if (ep->host_kind == OSH_HOST_IPV4 || ep->host_kind == OSH_HOST_IPV6) {
		*ret = &ep->host_addr;
		return 1;
	}
	/* A named endpoint's allowed_ips only filter DNS answers: no entries of their own. */
	*ret = ep->allowed_ips;
	return ep->host_kind == OSH_HOST_NONE ? ep->n_allowed_ips : 0;
}

int osh_compile_addr_limit(const struct osh_policy *p, size_t *ret_rule, size_t *ret_ep)
{
	/* Room to collect past the limit before compacting, so the sorts stay few; never more
	 * than this, however many duplicates the policy holds. */
	const size_t cap = 2 * (size_t)OSH_EGRESS_MAX_ADDR_ENTRIES;
	struct addr_ent *v;
	size_t raw = 0, n = 0;
	uint32_t ep_no = 0, over;

	for (size_t i = 0; i < p->n_net_rules; i++)
		for (size_t j = 0; j < p->net_rules[i].n_endpoints; j++) {
			const struct osh_endpoint *ep = &p->net_rules[i].endpoints[j];
			const struct osh_cidr *a;

			raw += ep_addrs(ep, &a) * ep->n_ports;
		}
	/* The common case: even counting duplicates twice they fit. */
	if (raw <= OSH_EGRESS_MAX_ADDR_ENTRIES)
		return 0;
	v = malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_net_rules; i++) {
		for (size_t j = 0; j < p->net_rules[i].n_endpoints; j++, ep_no++) {
			const struct osh_endpoint *ep = &p->net_rules[i].endpoints[j];
			const struct osh_cidr *a;
			size_t na = ep_addrs(ep, &a);

			for (size_t k = 0; k < na; k++)
				for (size_t m = 0; m < ep->n_ports; m++) {
					if (n == cap && (n = addr_ents_dedup(v, n)) >
							    OSH_EGRESS_MAX_ADDR_ENTRIES)
						goto over;
					v[n] = (struct addr_ent){ .family = a[k].family,
								  .prefix_len = a[k].prefix_len,
								  .port = ep->ports[m],
								  .ep = ep_no };
					memcpy(v[n].addr, a[k].addr, a[k].family == 4 ? 4 : 16);
					n++;
				}
		}
	}
	n = addr_ents_dedup(v, n);
	if (n <= OSH_EGRESS_MAX_ADDR_ENTRIES) {
		free(v);
		return 0;
	}
over:
	/* Each distinct key carries the first endpoint that wrote it: in endpoint order, the one
	 * past the limit names where the policy outgrows the trie. */
	qsort(v, n, sizeof(*v), addr_ent_ep_cmp);
	over = v[OSH_EGRESS_MAX_ADDR_ENTRIES].ep;
	free(v);
	for (size_t i = 0; i < p->n_net_rules; i++) {
		if (over < p->net_rules[i].n_endpoints) {
			*ret_rule = i;
			*ret_ep = over;
			return 1;
		}
		over -= (uint32_t)p->net_rules[i].n_endpoints;
	}
	abort(); /* over numbers one of the endpoints counted above */
}

static int cmp_fs(const void *a, const void *b)
{
	const struct osh_image_fs *x = a, *y = b;
	int r = strcmp(x->path, y->path);

	return r ? r : (x->value.kind > y->value.kind) - (x->value.kind < y->value.kind);
}

/* Rank of a rule kind when one path is named twice: deny beats read-write beats read-only. */
static int fs_rank(uint16_t kind)
{
	return kind == OSH_FS_RULE_DENY ? 3 : kind == OSH_FS_RULE_READ_WRITE ? 2 : 1;
}

static int compile_fs(struct osh_policy_image *img, const struct osh_policy *p)
{
	const struct osh_fs_policy *fs = &p->filesystem;
	size_t n = fs->n_read_only + fs->n_read_write + fs->n_deny, o = 0;

	img->fs = osh_arena_array(img->arena, n ? n : 1, sizeof(*img->fs));
	if (!img->fs)
		return -ENOMEM;
	for (size_t i = 0; i < fs->n_read_only; i++)
		img->fs[o++] = (struct osh_image_fs){ fs->read_only[i],
						      { OSH_FS_READ, OSH_FS_RULE_READ_ONLY, 0 } };
	for (size_t i = 0; i < fs->n_read_write; i++)
		img->fs[o++] = (struct osh_image_fs){
			fs->read_write[i], { OSH_FS_READ | OSH_FS_WRITE, OSH_FS_RULE_READ_WRITE, 0 }
		};
	for (size_t i = 0; i < fs->n_deny; i++)
		img->fs[o++] =
		    (struct osh_image_fs){ fs->deny[i], { OSH_FS_DENY, OSH_FS_RULE_DENY, 0 } };
	qsort(img->fs, o, sizeof(*img->fs), cmp_fs);
	n = 0;
	for (size_t i = 0; i < o; i++) {
		if (n && !strcmp(img->fs[n - 1].path, img->fs[i].path)) {
			struct osh_fs_value *prev = &img->fs[n - 1].value;

			if (fs_rank(img->fs[i].value.kind) > fs_rank(prev->kind))
				*prev = img->fs[i].value;
			continue;
		}
		img->fs[n++] = img->fs[i];
	}
	for (size_t i = 0; i < n; i++)
		img->fs[i].value.index = (uint16_t)i;
	if (n > OSH_FS_MAX_RULES)
		return -E2BIG;
	img->n_fs = n;
	img->include_workdir = fs->include_workdir;
	return 0;
}

int osh_policy_compile(const struct osh_policy *p, struct osh_policy_image **ret)
{
	struct osh_arena *a;
	struct osh_policy_image *img;
	int r = osh_arena_new(&a);

	if (r < 0)
		return r;
	img = osh_arena_alloc(a, sizeof(*img));
	if (!img) {
		osh_arena_free(a);
		return -ENOMEM;
	}
	img->arena = a;
	img->landlock_compat = p->landlock_compat;
	img->process = p->process;
	r = collect_binaries(img, p);
	if (r >= 0)
		r = compile_network(img, p);
	if (r >= 0)
		r = compile_fs(img, p);
	if (r < 0) {
		osh_arena_free(a);
		return r;
	}
	*ret = img;
	return 0;
}

void osh_policy_image_free(struct osh_policy_image *img)
{
	if (img)
		osh_arena_free(img->arena);
}

/* ---- human-readable listing ---- */

static void put_value(FILE *f, const struct osh_egress_value *v)
{
	fprintf(f, " binaries=0x%llx l7=0x%llx audit=0x%llx rule=%u%s%s\n",
		(unsigned long long)v->binaries, (unsigned long long)v->l7,
		(unsigned long long)v->audit, v->rule,
		v->flags & OSH_EGRESS_F_TLS_SKIP ? " tls=skip" : "",
		v->flags & OSH_EGRESS_F_FROM_NAME ? " from-name" : "");
}

static const char *fs_kind_name(uint16_t k)
{
	switch (k) {
	case OSH_FS_RULE_READ_ONLY:
		return "read_only";
	case OSH_FS_RULE_READ_WRITE:
		return "read_write";
	case OSH_FS_RULE_DENY:
		return "deny";
	default:
		return "workdir";
	}
}

static void put_ident(FILE *f, const char *k, const struct osh_ident *id)
{
	if (id->kind == OSH_IDENT_SANDBOX)
		fprintf(f, " %s=sandbox", k);
	else if (id->kind == OSH_IDENT_ID)
		fprintf(f, " %s=%u", k, id->id);
	else
		fprintf(f, " %s=unset", k);
}

int osh_policy_image_format(const struct osh_policy_image *img, char **ret_text)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < img->n_binaries; i++)
		fprintf(f, "binary %u %s%s\n", img->binaries[i].index, img->binaries[i].path,
			img->binaries[i].glob ? " (glob)" : "");
	for (size_t i = 0; i < img->n_v4; i++) {
		const struct osh_egress_v4_key *k = &img->v4[i].key;
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, k->addr, a, sizeof(a));
		fprintf(f, "egress4 %s/%u tcp/%u", a, k->prefixlen - OSH_EGRESS_KEY_PREFIX_BITS,
			ntohs(k->port));
		put_value(f, &img->v4[i].value);
	}
	for (size_t i = 0; i < img->n_v6; i++) {
		const struct osh_egress_v6_key *k = &img->v6[i].key;
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, k->addr, a, sizeof(a));
		fprintf(f, "egress6 %s/%u tcp/%u", a, k->prefixlen - OSH_EGRESS_KEY_PREFIX_BITS,
			ntohs(k->port));
		put_value(f, &img->v6[i].value);
	}
	for (size_t i = 0; i < img->n_names; i++) {
		const struct osh_egress_name *n = &img->names[i].entry;
		const struct osh_endpoint *ep = img->names[i].endpoint;

		fprintf(f, "name %s tcp/%u %s", n->name, ntohs(n->port),
			n->kind == OSH_EGRESS_NAME_WILDCARD ? "wildcard" : "exact");
		for (size_t k = 0; ep && k < ep->n_allowed_ips; k++) {
			char c[64];

			osh_cidr_format(&ep->allowed_ips[k], c, sizeof(c));
			fprintf(f, "%s%s", k ? "," : " allowed_ips=", c);
		}
		put_value(f, &n->value);
	}
	for (size_t i = 0; i < img->n_l7; i++) {
		const struct osh_image_l7 *l = &img->l7[i];

		fprintf(f, "l7 %s %s ports=", l->rule->key,
			l->endpoint->host ? l->endpoint->host : "-");
		for (size_t k = 0; k < l->endpoint->n_ports; k++)
			fprintf(f, "%s%u", k ? "," : "", l->endpoint->ports[k]);
		fprintf(f, " protocol=%s", osh_l7_protocol_name(l->endpoint->protocol));
		if (l->endpoint->access)
			fprintf(f, " access=%s", osh_access_name(l->endpoint->access));
		fprintf(f, " rules=%zu deny_rules=%zu%s binaries=0x%llx\n", l->endpoint->n_rules,
			l->endpoint->n_deny_rules,
			l->endpoint->enforcement == OSH_AUDIT ? " audit" : "",
			(unsigned long long)l->binaries);
	}
	for (size_t i = 0; i < img->n_fs; i++) {
		const struct osh_fs_value *v = &img->fs[i].value;

		fprintf(f, "fs %s %s%s%s %s index=%u\n", img->fs[i].path,
			v->access & OSH_FS_READ ? "r" : "-", v->access & OSH_FS_WRITE ? "w" : "-",
			v->access & OSH_FS_DENY ? "D" : "-", fs_kind_name(v->kind), v->index);
	}
	fprintf(f, "workdir %s\n", img->include_workdir ? "read-write" : "not included");
	fprintf(f, "landlock %s\n", osh_landlock_compat_name(img->landlock_compat));
	fprintf(f, "process");
	put_ident(f, "run_as_user", &img->process.run_as_user);
	put_ident(f, "run_as_group", &img->process.run_as_group);
	fprintf(f, "\n");
	if (fclose(f) != 0 || !text) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	return 0;
}
