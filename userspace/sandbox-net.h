/* SPDX-License-Identifier: Apache-2.0 */
/* The network side of a sandbox: kernel egress enforcement of its network_policies
 * (bpf-egress.c), the DNS responder its port-53 traffic is redirected to (dns-responder.c), and
 * one engine thread that reads egress events and serves DNS. Used by sandbox.c. */
#ifndef OSH_USERSPACE_SANDBOX_NET_H
#define OSH_USERSPACE_SANDBOX_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "bpf-pin.h"
#include "policy.h"
#include "sandbox-error.h"
#include "strv.h"

/* One denial or audit event, as fields and as the one line `oshctl run` prints. Every pointer is
 * valid only during the callback. */
struct osh_net_event_info {
	const char *line;     /* `denied connect 198.51.100.7:443/tcp by /usr/bin/curl (pid N): ...;
			       * closest: RULE` or `denied dns NAME (type N): ...; REFUSED` */
	const char *kind;     /* "egress" or "dns" */
	const char *decision; /* "deny" or "audit" */
	pid_t pid;	      /* 0 when unknown (DNS: the responder sees a socket, not a process) */
	uid_t uid;
	const char *comm;      /* NULL when unknown */
	const char *exe;       /* NULL when unknown */
	const char *operation; /* "connect", "sendmsg", "socket", "packet", "dns-query" */
	const char *target;    /* "198.51.100.7:443/tcp", "[2001:db8::7]:443/tcp", "raw socket" or
				* the query name */
	const char *host;      /* the name the DNS responder answered with that address, or NULL */
	const char *closest;   /* closest policy entry or NULL */
	const char *hint;      /* one-line hint or NULL */
	uint64_t cgroup_id;    /* the sandbox */
	const char *reason;    /* why, one phrase (the part of line after the colon) */
};

/* Called from the engine's network thread for each denial or audit event. */
typedef void (*osh_sandbox_net_event_fn)(const struct osh_net_event_info *ev, void *ctx);

struct osh_sandbox_net_opts {
	const struct osh_policy *policy; /* copied */
	uint64_t cgroup_id;
	int cgroup_fd;
	const char *cgroup_path;
	bool no_dns; /* do not start the DNS responder: port 53 is an ordinary destination */
	/* NULL: the programs are private to the process. Otherwise pinned there (see
	 * osh_egress_open); every sandbox of a process must use the same root. */
	const char *bpffs_root;
	const char *name; /* the sandbox's name: its pins are <root>/sandboxes/<name>/ */
	bool adopt;	  /* take over the pinned state instead of creating it */
	/* Minimum lifetime in seconds of an address the DNS responder installed; 0: 30 s (see
	 * NET_DNS_TTL_FLOOR in sandbox-net.c for why). Only tests set it, to see expiry quickly. */
	unsigned dns_ttl_floor;
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

/* With adopt set: takes over a sandbox an earlier process pinned (-ENOENT when its pins are gone),
 * installs the policy as a new generation (DNS-installed addresses carried over), starts a new
 * DNS responder and points the sandbox's redirect at it. */

/* Replaces the network_policies atomically (see osh_egress_sandbox_update), with a copy of
 * policy. */
int osh_sandbox_net_reload(struct osh_sandbox_net *net, const struct osh_policy *policy,
			   struct osh_strv *warnings, struct osh_sandbox_error *e);
/* The same without the copy (for a 10,000-endpoint policy, copying is about as long as the rest
 * of a reload): takes policy, and img when not NULL (compiled from policy; NULL: compiled here).
 * Both are the sandbox's from the call on, freed by it on failure too; the caller may keep
 * reading policy until its next reload or free of net. */
int osh_sandbox_net_reload_take(struct osh_sandbox_net *net, struct osh_policy *policy,
				struct osh_policy_image *img, struct osh_strv *warnings,
				struct osh_sandbox_error *e);

/* Takes a reference on the process's egress programs (loading them, or taking them from the
 * pins under bpffs_root) without a sandbox, so that sandboxes started later find them loaded and
 * the root stays pinned while no sandbox exists; and starts the pool of generation tries
 * (osh_egress_gen_pool_start), so that their starts, reloads and ends wait for no RCU grace
 * period. Balanced by osh_sandbox_net_unhold. */
int osh_sandbox_net_hold(unsigned int level, const char *bpffs_root);
void osh_sandbox_net_unhold(void);

/* Stops the thread (after draining pending events), detaches, removes the sandbox's pins (and,
 * when no sandbox is pinned under the root any more, the root's) and frees. Accepts NULL. */
void osh_sandbox_net_free(struct osh_sandbox_net *net);
/* Frees the userspace side (DNS responder, thread when it was the last) but leaves the kernel
 * state and pins in place, so enforcement goes on. Without a bpffs root the same as
 * osh_sandbox_net_free. Accepts NULL. */
void osh_sandbox_net_release(struct osh_sandbox_net *net);

/* Pins removed from outside (bpf-pin.h): net NULL checks the process's shared egress pins,
 * otherwise the sandbox's own (osh_egress_pins_check, osh_egress_sandbox_pins_check). Returns
 * c->err; 0 when nothing is loaded. */
int osh_sandbox_net_pins_check(struct osh_sandbox_net *net, struct osh_bpf_pin_check *c);

/* Delivers to the event functions, on the caller's thread, every egress event the kernel's ring
 * buffer holds (those a process wrote before it exited included) and the denials of DNS queries
 * net's responder has received and not answered yet (net may be NULL), after the batch the
 * network thread may be handling. -ETIMEDOUT when the thread did not let go by the absolute
 * CLOCK_MONOTONIC deadline (its events then come from it as usual), else 0. */
int osh_sandbox_net_events_flush(struct osh_sandbox_net *net, const struct timespec *deadline);

/* Events the kernel's egress ring buffer could not take (it was full), summed over CPUs, since
 * the programs were loaded (or the pinned ones were created). 0 when nothing is loaded. */
int osh_sandbox_net_events_dropped(uint64_t *ret_dropped);

#endif
