/* SPDX-License-Identifier: Apache-2.0 */
/* PATCH /v1/sandboxes/{name}/policy: applies an update request (api-req.h) to the policy in
 * force, as a JSON document edit. It checks only that what the update removes or amends is
 * there; the caller re-parses the result with the policy compiler, which validates it. */
#ifndef OSH_DAEMON_POLICY_UPDATE_H
#define OSH_DAEMON_POLICY_UPDATE_H

#include "api-req.h"

/* Applies u to the policy whose canonical JSON is cur_json (osh_policy_dump(..., JSON)) and
 * returns the resulting document as JSON text in *ret_json (owned by the caller, free()). The
 * caller re-parses and validates it with the policy compiler, which names any problem.
 *
 * Order: remove_policies, remove_endpoints, remove_binaries, add_endpoints, add_binaries,
 * add_rules. Matching: policies by key (exact); endpoints by host (case-insensitive; IP
 * addresses by value) and port (one of the endpoint's ports); binaries by path (exact, or equal
 * after lexical normalisation).
 * - remove_endpoints drops the port from every matching endpoint of the policy, and an endpoint
 *   left without ports altogether; other ports of the endpoint stay.
 * - add_endpoints and add_binaries create a policy that does not exist (with empty endpoints and
 *   binaries: both together make a complete one); a binary already listed is not added twice.
 * - add_rules appends {"allow": ...} to the rules of every endpoint matching (host, port); an
 *   endpoint with several ports is split first, so the rule covers only that port.
 *
 * Returns 0; -EINVAL with *err (code "bad-request", field naming the request member, e.g.
 * "remove_endpoints[1]") when u removes or amends what is not there; -EBADMSG (code
 * "internal") when cur_json is not a policy document; -ENOMEM. *ret_json is written only on
 * success. */
int osh_policy_update_apply(const char *cur_json, const struct osh_req_policy_update *u,
			    char **ret_json, struct osh_api_err *err);

#endif
