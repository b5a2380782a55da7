/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the prover's files: the loaded registry, credential and accepted-risk
 * tables, and the glob/host/address helpers the encodings are built from. */
#ifndef OSH_PROVER_INTERNAL_H
#define OSH_PROVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prover.h"

/* Capabilities of one program, folded from its registry entry. */
struct prv_cap {
	bool known;	  /* false: not in the registry, capable of everything */
	bool exfil;	  /* can_exfiltrate */
	bool http;	  /* can_construct_http */
	bool bypass;	  /* some protocol bypasses_l7 */
	bool write;	  /* some action of type write or destructive */
	bool spawns_any;  /* spawns "*" (a shell): any program */
	const char *desc; /* description, for explanations */
	const char *exfil_mechanism;
};

struct prv_binary {
	char *path;
	char **aliases; /* osh extension: further paths or globs naming the same program */
	size_t n_aliases;
	char **spawns;
	size_t n_spawns;
	struct prv_cap cap;
	char *description;
	char *exfil_mechanism;
};

struct prv_api_action {
	char *scope;
	char *method;
	char *path;
	char *action;
	char *risk; /* low, medium, high, critical; NULL if action_risk does not name it */
};

struct prv_api {
	char *name;
	char *host;
	unsigned port;
	char *credential_type;
	struct prv_api_action *actions;
	size_t n_actions;
};

struct osh_prover_registry {
	struct osh_arena *arena; /* owns everything below */
	struct prv_binary *bins;
	size_t n_bins;
	struct prv_api *apis;
	size_t n_apis;
};

struct prv_credential {
	char *name;
	char *type;
	char **scopes;
	size_t n_scopes;
	char *injected_via;
	char **hosts;
	size_t n_hosts;
};

struct osh_prover_credentials {
	struct osh_arena *arena;
	struct prv_credential *creds;
	size_t n;
};

struct prv_accepted {
	char *query;
	char *reason;
	char *accepted_by;
	char *binary;	/* optional */
	char *endpoint; /* optional: host or host:port */
};

struct osh_prover_accepted {
	struct osh_arena *arena;
	struct prv_accepted *risks;
	size_t n;
};

/* Capabilities of a path as the policy writes it (exact path or glob): the union of the registry
 * entries it can name; a path or glob that can name an unknown program is capable of
 * everything. */
struct prv_cap prv_registry_cap(const struct osh_prover_registry *r, const char *path, bool glob);
/* The registry entry for an exact path (by path, alias or basename), or NULL. */
const struct prv_binary *prv_registry_find(const struct osh_prover_registry *r, const char *path);
/* Entries a policy path or glob can name (by path, alias or basename pattern). Returns the
 * count, filling up to max indices; *ret_unknown is set when it may also name other programs. */
size_t prv_registry_match(const struct osh_prover_registry *r, const char *path, bool glob,
			  size_t *idx, size_t max, bool *ret_unknown);

/* Path globs: '*' and '?' stay inside one component, '**' crosses '/'. */
bool prv_glob_match(const char *pat, const char *s);
/* True when some string matches both globs. */
bool prv_glob_overlap(const char *a, const char *b);
/* Host patterns as the policy writes them ("*.x.com", "**.x.com", "*-api.x.com"): true when
 * pattern matches host. */
bool prv_host_match(const char *pattern, const char *host);
/* True when some name matches both host patterns (either may be exact). */
bool prv_host_overlap(const char *a, const char *b);

enum prv_addr_class {
	PRV_ADDR_PUBLIC = 0,
	PRV_ADDR_PRIVATE = 1,
	PRV_ADDR_LOOPBACK = 2,
	PRV_ADDR_LINK_LOCAL = 3,
	PRV_ADDR_METADATA = 4, /* a known cloud metadata address or name */
};

/* The most sensitive class a CIDR overlaps (IPv4-mapped IPv6 is classified as IPv4). */
enum prv_addr_class prv_cidr_class(const struct osh_cidr *c);
/* Class of a host name by name alone (metadata.google.internal, localhost, ...). */
enum prv_addr_class prv_name_class(const char *host);

/* findings.c: appends a zeroed finding (owned by fs); applies accepted risks, counts the
 * unaccepted and sorts. */
int prv_findings_add(struct osh_findings *fs, struct osh_finding **ret);
int prv_findings_finish(struct osh_findings *fs, const struct osh_prover_accepted *acc);

/* Small helpers. */
int prv_asprintf(char **ret, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
