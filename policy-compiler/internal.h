/* SPDX-License-Identifier: Apache-2.0 */
/* Declarations shared by the policy compiler's files: the arena, the document tree both front
 * ends build, the schema walker's entry point, and the emitters used by dump and diff. */
#ifndef OSH_POLICY_INTERNAL_H
#define OSH_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* ---- arena.c: one bump allocator per policy; everything is freed at once ---- */
int osh_arena_new(struct osh_arena **ret);
void osh_arena_free(struct osh_arena *a);
/* Zeroed, 16-byte aligned memory, or NULL when out of memory. */
void *osh_arena_alloc(struct osh_arena *a, size_t size);
void *osh_arena_array(struct osh_arena *a, size_t n, size_t size);
char *osh_arena_strndup(struct osh_arena *a, const char *s, size_t n);
char *osh_arena_strdup(struct osh_arena *a, const char *s);
void *osh_arena_memdup(struct osh_arena *a, const void *p, size_t n);

/* ---- the document tree (yaml.c, json.c) ---- */
enum osh_node_type {
	OSH_NODE_SCALAR = 1,
	OSH_NODE_MAP = 2,
	OSH_NODE_SEQ = 3,
};

struct osh_node {
	enum osh_node_type type;
	unsigned line, col; /* 1-based, counted in characters */
	/* scalars: the text (NUL-terminated, may hold NULs before len) and whether it was quoted;
	 * an unquoted scalar may be a number, a boolean or null. */
	const char *text;
	size_t len;
	bool quoted;
	/* maps: keys[i] -> items[i]; sequences: items[i] */
	struct osh_node **keys;
	struct osh_node **items;
	size_t n;
};

#define OSH_NODE_MAX_DEPTH 64

/* Front ends: build a tree in arena a from buf. On a syntax error they add a diagnostic and
 * return -EINVAL; -ENOMEM on allocation failure. */
int osh_yaml_load(struct osh_arena *a, const char *name, const char *buf, size_t len,
		  struct osh_node **ret, struct osh_diag_list *diags);
int osh_json_load(struct osh_arena *a, const char *name, const char *buf, size_t len,
		  struct osh_node **ret, struct osh_diag_list *diags);

/* ---- schema.c: document tree -> IR, reporting every problem ---- */
/* Fills p from root. Returns the number of errors reported (0 = valid) or -ENOMEM. */
int osh_schema_apply(struct osh_policy *p, const struct osh_node *root, const char *name,
		     struct osh_diag_list *diags);

/* ---- net.c: addresses and host names ---- */
/* Parses "a.b.c.d" or an IPv6 address, optionally with "/len". Returns 0, -EINVAL when
 * malformed, or -EDOM when host bits are set ("10.0.0.1/24"). */
int osh_cidr_parse(const char *s, struct osh_cidr *ret);
/* Formats a CIDR; /32 and /128 are written without the prefix length. buf >= 64 bytes. */
void osh_cidr_format(const struct osh_cidr *c, char *buf, size_t size);
/* Returns a description ("loopback", "link-local", "unspecified") when c overlaps a range
 * osh never allows as a destination, NULL otherwise. */
const char *osh_cidr_forbidden(const struct osh_cidr *c);
int osh_cidr_cmp(const struct osh_cidr *a, const struct osh_cidr *b);

/* ---- compile.c: the kernel's capacity, checked while validating ---- */
/* Whether the policy's address entries (each host address or allowed_ips range of an endpoint,
 * times its ports; equal ones once) fit one sandbox's trie, OSH_EGRESS_MAX_ADDR_ENTRIES. Returns
 * 0 when they do; 1 when not, with *ret_rule and *ret_ep (indexes into p->net_rules and its
 * endpoints) the first endpoint, in that order, whose entries pass the limit; -ENOMEM. */
int osh_compile_addr_limit(const struct osh_policy *p, size_t *ret_rule, size_t *ret_ep);

/* ---- ir.c: normalisation after the schema walk ---- */
int osh_ir_normalize(struct osh_policy *p);
int osh_endpoint_cmp(const struct osh_endpoint *a, const struct osh_endpoint *b);
int osh_l7_rule_cmp(const struct osh_l7_rule *a, const struct osh_l7_rule *b);

/* ---- emit.c: two backends (JSON text, YAML through libyaml) behind one table ---- */
struct osh_emitter;
struct osh_emit_ops {
	int (*map_begin)(struct osh_emitter *e);
	int (*map_end)(struct osh_emitter *e);
	int (*seq_begin)(struct osh_emitter *e, bool flow);
	int (*seq_end)(struct osh_emitter *e);
	int (*str)(struct osh_emitter *e, const char *s); /* keys are strings too */
	int (*uint)(struct osh_emitter *e, uint64_t v);
	int (*boolean)(struct osh_emitter *e, bool v);
	/* Finishes the document; *ret_text is a new string owned by the caller. */
	int (*finish)(struct osh_emitter *e, char **ret_text);
	void (*free)(struct osh_emitter *e);
};

struct osh_emitter {
	const struct osh_emit_ops *ops;
	int error; /* first error; later calls are no-ops */
};

int osh_emitter_new(enum osh_policy_format fmt, struct osh_emitter **ret);

/* ---- dump.c: IR pieces -> emitter, used by diff.c to compare sections ---- */
enum osh_section {
	OSH_SECTION_FILESYSTEM = 0,
	OSH_SECTION_LANDLOCK = 1,
	OSH_SECTION_PROCESS = 2,
	OSH_SECTION_NETWORK = 3,
};
/* Canonical JSON of one static section (or "" when absent), caller owns *ret_text. */
int osh_dump_section(const struct osh_policy *p, enum osh_section s, char **ret_text);
/* Canonical JSON of one network_policies entry. */
int osh_dump_net_rule(const struct osh_net_rule *r, char **ret_text);

/* Small helpers */
static inline bool osh_streq(const char *a, const char *b)
{
	return a == b || (a && b && __builtin_strcmp(a, b) == 0);
}

static inline int osh_strcmp_null(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return __builtin_strcmp(a, b);
}

#endif
