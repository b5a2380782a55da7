/* SPDX-License-Identifier: Apache-2.0 */
/* Public API of the osh prover: encodes a validated policy, a binary capability registry and an
 * optional credential set in Z3 and answers exfiltration queries with concrete witnesses
 * (binary, endpoint, method, mechanism). Never prints; see docs/prover.md. */
#ifndef OSH_PROVER_H
#define OSH_PROVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* Witnesses reported per query before the query stops enumerating (the rest is counted in
 * osh_findings.truncated). */
#define OSH_PROVER_MAX_WITNESSES 1000

/* ---- inputs ----------------------------------------------------------------------------------- */

/* The binary capability registry (binaries/NAME.yaml) and API registries (apis/NAME.yaml). */
struct osh_prover_registry;
/* A credential set (credentials.yaml: name, type, scopes, injected_via, target_hosts). */
struct osh_prover_credentials;
/* Accepted risks (accepted_risks: query, reason, accepted_by, optional binary, endpoint). */
struct osh_prover_accepted;

/* Loads every DIR/binaries/NAME.yaml and DIR/apis/NAME.yaml. Returns 0 and a new registry owned by the
 * caller; -EINVAL when a file is invalid (each problem appended to diags as FILE:LINE:COL);
 * -errno when DIR cannot be read. */
int osh_prover_registry_load(const char *dir, struct osh_prover_registry **ret,
			     struct osh_diag_list *diags);
void osh_prover_registry_free(struct osh_prover_registry *r);
/* Number of binary entries (for messages and tests). */
size_t osh_prover_registry_n_binaries(const struct osh_prover_registry *r);

/* Same contract as osh_prover_registry_load, for one file. */
int osh_prover_credentials_load(const char *path, struct osh_prover_credentials **ret,
				struct osh_diag_list *diags);
void osh_prover_credentials_free(struct osh_prover_credentials *c);
int osh_prover_accepted_load(const char *path, struct osh_prover_accepted **ret,
			     struct osh_diag_list *diags);
void osh_prover_accepted_free(struct osh_prover_accepted *a);

/* ---- findings --------------------------------------------------------------------------------- */

enum osh_finding_kind {
	/* OpenShell's categories (same names, same meaning). */
	OSH_FINDING_LINK_LOCAL_REACH = 0,	    /* link-local or cloud metadata reach */
	OSH_FINDING_L7_BYPASS_CREDENTIALED = 1,	    /* non-HTTP binary, credential in scope */
	OSH_FINDING_CREDENTIAL_REACH_EXPANSION = 2, /* binary can act with a credential */
	OSH_FINDING_CAPABILITY_EXPANSION = 3,	    /* delta: new method/mechanism on a reach */
	/* osh's further queries. */
	OSH_FINDING_DATA_EXFILTRATION = 4,	  /* data-carrying binary, nothing blocks writes */
	OSH_FINDING_CREDENTIALED_WRITE = 5,	  /* API write action through a credential */
	OSH_FINDING_CREDENTIALED_DESTRUCTIVE = 6, /* same, action risk high or critical */
	OSH_FINDING_LOOPBACK_REACH = 7,
	OSH_FINDING_PRIVATE_NETWORK_REACH = 8,
	OSH_FINDING_DNS_CHANNEL = 9,	    /* wildcard names: data in query names */
	OSH_FINDING_SPAWN_CHAIN = 10,	    /* unlisted child inherits a listed parent's reach */
	OSH_FINDING_FILESYSTEM_SECRET = 11, /* secret path readable while exfiltration exists */
	OSH_FINDING_REACH_EXPANSION = 12,   /* delta: new (binary, host:port) reach */
	OSH_FINDING_KIND_MAX = 13,
};

enum osh_severity {
	OSH_SEVERITY_LOW = 1,
	OSH_SEVERITY_MEDIUM = 2,
	OSH_SEVERITY_HIGH = 3,
	OSH_SEVERITY_CRITICAL = 4,
};

/* One finding: a concrete witness and what to do about it. All strings are owned by the
 * findings list; fields that do not apply are NULL (port 0). */
struct osh_finding {
	enum osh_finding_kind kind;
	enum osh_severity severity;
	char *binary;	   /* the binary that acts ("*" = any process in the sandbox) */
	char *via;	   /* spawn_chain: the listed ancestor whose reach is inherited */
	char *host;	   /* endpoint host, wildcard or CIDR */
	uint16_t port;	   /* endpoint port */
	char *rule;	   /* network_policies key the path goes through */
	char *method;	   /* HTTP method, RAW (non-HTTP bytes) or DNS */
	char *mechanism;   /* http-l7, http-l4, raw-l4, l7-bypass, dns-query, ... */
	char *credential;  /* credential in scope */
	char *action;	   /* API action (credentialed_*), e.g. "delete_repo" */
	char *path;	   /* filesystem_secret: the secret path pattern */
	char *explanation; /* one or two sentences: why this is a finding */
	char *remediation; /* what to change in the policy */
	bool accepted;
	char *accepted_by;
	char *accepted_reason;
};

struct osh_findings {
	struct osh_finding *items; /* sorted: unaccepted first, then by severity, kind, witness */
	size_t n;
	size_t cap;
	size_t n_unaccepted;
	size_t truncated; /* queries that stopped at max_witnesses (more witnesses exist) */
	bool delta;	  /* computed against an old policy */
};

/* Canonical name of a kind ("l7_bypass_credentialed"); osh_finding_kind_from_name() also accepts
 * '-' for '_' and the alias "l7-bypass-with-credential". Returns -EINVAL for an unknown name. */
const char *osh_finding_kind_name(enum osh_finding_kind k);
int osh_finding_kind_from_name(const char *name, enum osh_finding_kind *ret);
const char *osh_severity_name(enum osh_severity s);

/* ---- running ---------------------------------------------------------------------------------- */

struct osh_prover_input {
	const struct osh_policy *policy;		  /* required */
	const struct osh_policy *old_policy;		  /* delta mode when set */
	const struct osh_prover_registry *registry;	  /* required */
	const struct osh_prover_credentials *credentials; /* optional */
	const struct osh_prover_accepted *accepted;	  /* optional */
	size_t max_witnesses; /* per query; 0 = OSH_PROVER_MAX_WITNESSES */
};

/* Runs every query. Returns 0 and a new findings list owned by the caller, -EINVAL for a bad
 * input, -ENOMEM, or -EIO when Z3 reports an error or gives up (unknown). */
int osh_prover_run(const struct osh_prover_input *in, struct osh_findings **ret);
void osh_findings_free(struct osh_findings *f);
void osh_findings_freep(struct osh_findings **f);

/* The daemon's gate: number of unaccepted findings that NEW adds over OLD (delta mode; OLD may
 * be NULL for a first policy). A daemon configured to refuse risky changes refuses when the
 * count is > 0. Returns 0 and the count, or a negative errno like osh_prover_run(). */
int osh_prover_gate_change(const struct osh_policy *old, const struct osh_policy *new_,
			   const struct osh_prover_registry *registry,
			   const struct osh_prover_credentials *credentials,
			   const struct osh_prover_accepted *accepted, size_t *ret_unaccepted);

enum osh_findings_format {
	OSH_FINDINGS_COMPACT = 0, /* one line per finding, then PASS or REVIEW n findings */
	OSH_FINDINGS_REPORT = 1,  /* each finding explained with its remediation */
	OSH_FINDINGS_JSON = 2,
};

/* Renders findings into a new NUL-terminated string owned by the caller. Returns 0, -EINVAL or
 * -ENOMEM. */
int osh_findings_format(const struct osh_findings *f, enum osh_findings_format fmt,
			char **ret_text);

#endif
