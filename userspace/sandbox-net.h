/* SPDX-License-Identifier: Apache-2.0 */
/* The network side of a sandbox: kernel egress enforcement of its network_policies
 * (bpf-egress.c), the DNS responder its port-53 traffic is redirected to (dns-responder.c), and
 * one engine thread that reads egress events and serves DNS. Used by sandbox.c. */
#ifndef OSH_USERSPACE_SANDBOX_NET_H
#define OSH_USERSPACE_SANDBOX_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "sandbox-error.h"
#include "strv.h"

/* One line per denial or audit event (`denied connect 198.51.100.7:443/tcp by /usr/bin/curl
 * (pid N): ...; closest: RULE`), called from the engine's network thread. */
typedef void (*osh_sandbox_net_event_fn)(const char *line, void *ctx);

struct osh_sandbox_net_opts {
	const struct osh_policy *policy; /* copied */
	uint64_t cgroup_id;
	int cgroup_fd;
	const char *cgroup_path;
	bool no_dns; /* do not start the DNS responder: port 53 is an ordinary destination */
	osh_sandbox_net_event_fn event_fn; /* NULL: events are read and dropped */
	void *event_ctx;
};

struct osh_sandbox_net;

/* Copies a validated policy (through its canonical form) so the copy's lifetime is the
 * caller's. Returns 0 or -errno. */
int osh_sandbox_net_policy_copy(const struct osh_policy *p, struct osh_policy **ret);

/* Loads the egress programs (once per process), attaches them to the sandbox cgroup, installs
 * the policy's network rules, starts the DNS responder and the network thread. Warnings (binaries
 * that do not exist, ...) and report lines are appended. On success *ret is owned by the caller
 * (osh_sandbox_net_free, after the sandbox's processes are gone). */
int osh_sandbox_net_start(const struct osh_sandbox_net_opts *o, struct osh_strv *warnings,
			  struct osh_strv *report, struct osh_sandbox_net **ret,
			  struct osh_sandbox_error *e);

/* Replaces the network_policies atomically (see osh_egress_sandbox_update). */
int osh_sandbox_net_reload(struct osh_sandbox_net *net, const struct osh_policy *policy,
			   struct osh_strv *warnings, struct osh_sandbox_error *e);

/* Stops the thread (after draining pending events), detaches and frees. Accepts NULL. */
void osh_sandbox_net_free(struct osh_sandbox_net *net);

#endif
