/* SPDX-License-Identifier: Apache-2.0 */
/* Strict parsers for the JSON request bodies of the oshd API (docs/api.md): every member is
 * checked for type, required members must be present, and unknown members are an error, so a
 * typo never becomes a silent no-op. Input is untrusted bytes (not NUL-terminated, at most
 * OSH_API_BODY_MAX). Each parser returns 0, or -EINVAL with *err filled: a stable code
 * ("bad-json", "bad-request", or "too-large" for a body over OSH_API_BODY_MAX: HTTP 413), the
 * offending member's JSON path in field (e.g. "add_endpoints[2].port"; "" for the whole body)
 * and a one-line message; or -ENOMEM. *ret is written only on success (the _free functions
 * accept a zeroed struct and NULL, and zero what they free). Rejected besides what each request
 * says: bodies with a NUL byte, control characters or invalid UTF-8, strings holding \u0000,
 * member names written twice, nesting deeper than 32. Fuzzed by daemon/fuzz-api-req.c. */
#ifndef OSH_DAEMON_API_REQ_H
#define OSH_DAEMON_API_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OSH_API_BODY_MAX (1u << 20)

struct osh_api_err {
	const char *code; /* static string */
	char field[128];
	char message[256];
};

/* POST /v1/sandboxes/{name}/exec */
struct osh_req_exec {
	char **argv; /* required, >= 1 element, NULL-terminated; no element contains NUL */
	char **env;  /* NULL: absent; else NULL-terminated "K=V" strings (K non-empty, no '=') */
	char *workdir;
	bool events; /* stream the sandbox's events on the exec connection (default false) */
};
int osh_req_exec_parse(const char *body, size_t len, struct osh_req_exec *ret,
		       struct osh_api_err *err);
void osh_req_exec_free(struct osh_req_exec *r);

/* POST /v1/sandboxes */
struct osh_req_create {
	char *name;   /* NULL: absent (oshd picks one; ephemeral only); else osh_api_name_valid() */
	char *policy; /* required, non-empty text */
	char *workdir; /* NULL: absent; else absolute path */
	char *reason;  /* NULL: absent */
	bool ephemeral;
	/* NULL: absent. A command to run in the new sandbox (ephemeral only): the create's answer
	 * is then the exec protocol's 101 (docs/api.md). */
	struct osh_req_exec *exec;
};
int osh_req_create_parse(const char *body, size_t len, struct osh_req_create *ret,
			 struct osh_api_err *err);
void osh_req_create_free(struct osh_req_create *r);

/* PUT /v1/sandboxes/{name}/policy */
struct osh_req_policy_set {
	char *policy; /* required */
	char *reason;
	bool wait; /* default true */
};
int osh_req_policy_set_parse(const char *body, size_t len, struct osh_req_policy_set *ret,
			     struct osh_api_err *err);
void osh_req_policy_set_free(struct osh_req_policy_set *r);

/* PATCH /v1/sandboxes/{name}/policy. Endpoint and rule objects are kept as JSON text (already
 * checked to be objects with the members docs/api.md allows) because the policy compiler, not
 * this parser, validates what an endpoint means. */
struct osh_req_endpoint_ref { /* remove_endpoints[] */
	char *policy;
	char *host;
	uint16_t port;
};
struct osh_req_binary_ref { /* add_binaries[] and remove_binaries[] */
	char *policy;
	char *path;
};
struct osh_req_json_item { /* add_endpoints[] and add_rules[] */
	char *policy;	   /* the "policy" member, taken out */
	char *json;	   /* the object without "policy", as compact JSON text */
};
struct osh_req_policy_update {
	struct osh_req_endpoint_ref *remove_endpoints;
	size_t n_remove_endpoints;
	struct osh_req_json_item *add_endpoints;
	size_t n_add_endpoints;
	struct osh_req_binary_ref *remove_binaries;
	size_t n_remove_binaries;
	struct osh_req_binary_ref *add_binaries;
	size_t n_add_binaries;
	char **remove_policies; /* NULL-terminated or NULL */
	size_t n_remove_policies;
	struct osh_req_json_item *add_rules; /* object: {policy, host, port, allow: {...}} */
	size_t n_add_rules;
	char *reason;
	bool wait; /* default true */
};
/* At least one of the six lists must be present and non-empty. */
int osh_req_policy_update_parse(const char *body, size_t len, struct osh_req_policy_update *ret,
				struct osh_api_err *err);
void osh_req_policy_update_free(struct osh_req_policy_update *r);

/* Sandbox names: [a-z0-9][a-z0-9._-]{0,62}. */
bool osh_api_name_valid(const char *name);

#endif
