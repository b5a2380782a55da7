/* SPDX-License-Identifier: Apache-2.0 */
/* Loader of the kernel egress programs (bpf/egress.bpf.c): loads them once per process, attaches
 * them to sandbox cgroups, fills each sandbox's maps from a compiled policy image (swapping a
 * whole generation atomically), installs addresses the DNS responder answered, and reads the
 * event ring buffer. Returns 0 or -errno; never prints. See docs/arch-egress.md. */
#ifndef OSH_USERSPACE_BPF_EGRESS_H
#define OSH_USERSPACE_BPF_EGRESS_H

#include <limits.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdint.h>

#include "binid.h"
#include "bpf-pin.h"
#include "bpf/egress.h"
#include "policy.h"
#include "strv.h"

struct osh_egress;    /* the loaded object: programs, maps, ring buffer */
struct osh_egress_sb; /* one sandbox governed by it */

/* Loads and verifies the programs and attaches the identity tracepoints (fork/exec/exit). The
 * sandbox cgroups are sandbox_level levels below the cgroup2 root. One object serves every
 * sandbox of the process. bpffs_root NULL: everything is private to the process and goes when it
 * exits. Otherwise maps, programs and tracepoint links are pinned under <bpffs_root>/egress/ (or
 * taken from there when a process of the same build pinned them: no load, no verifier), so
 * enforcement outlives the process; -ESTALE when they were pinned by another build (or another
 * sandbox_level). On success *ret is owned by the caller (osh_egress_free). */
int osh_egress_open(unsigned int sandbox_level, const char *bpffs_root, struct osh_egress **ret);
/* Frees eg and the userspace side of its sandboxes that were not removed; without a bpffs root
 * that detaches everything, with one the pins keep it all in place. Accepts NULL. */
void osh_egress_free(struct osh_egress *eg);
/* Starts a thread that keeps n (at most 32) empty generation tries inserted ahead and deletes
 * the generations that reloads and removed sandboxes leave, so that neither a sandbox's start,
 * its reloads nor its end waits for the RCU grace period of an update of the map of maps (one
 * each, 9-17 ms on 6.18). First deletes what dead processes left in the map. For a process
 * that starts many sandboxes (oshd); without it each start and reload waits. Stopped by
 * osh_egress_free. Returns 0 (also when it runs already) or -errno. */
int osh_egress_gen_pool_start(struct osh_egress *eg, unsigned int n);
/* The bpffs root eg was opened with, or NULL. */
const char *osh_egress_root(const struct osh_egress *eg);
/* With a bpffs root and no sandbox pinned under it any more (by any process): removes the global
 * pins and the root directory. Returns 0 (also when sandboxes remain) or -errno. */
int osh_egress_unpin_if_unused(struct osh_egress *eg);

/* Whether the kernel has the cgroup unix hooks (Linux 6.7+) and eg attaches them: without, a
 * sandbox can reach named and abstract unix sockets (the caller reports it). */
bool osh_egress_unix_hooks(const struct osh_egress *eg);

/* Depth of the directory cgroup_path below the cgroup2 mount (e.g. 2 for <mount>/osh/x). */
int osh_egress_cgroup_level(const char *cgroup_path, unsigned int *ret_level);

/* Registers the cgroup (id = its inode, fd = O_DIRECTORY) as a sandbox with no policy yet (every
 * connection denied) and attaches the cgroup programs to it. With a bpffs root the links and the
 * sandbox's userspace state are pinned under <root>/sandboxes/<name>/ (pins an earlier cgroup of
 * that name left are purged first). *ret is owned by the caller (osh_egress_sandbox_remove or
 * _release) and must not outlive eg. */
int osh_egress_sandbox_add(struct osh_egress *eg, const char *name, int cgroup_fd,
			   uint64_t cgroup_id, struct osh_egress_sb **ret);
/* Takes over a sandbox pinned under <root>/sandboxes/<name>/ by an earlier process: reads back
 * its binary bit allocation, DNS-installed addresses, identities, settings and current
 * generation (enforcement goes on unchanged meanwhile); re-attaches a program whose link pin is
 * missing. -ENOENT when the pins are gone or belong to an earlier cgroup of that name. The caller
 * then installs the policy (osh_egress_sandbox_update) before anything reads img. */
int osh_egress_sandbox_adopt(struct osh_egress *eg, const char *name, int cgroup_fd,
			     uint64_t cgroup_id, struct osh_egress_sb **ret);
/* Detaches the programs from the cgroup, deletes the sandbox's state and its pins. Accepts
 * NULL. */
void osh_egress_sandbox_remove(struct osh_egress_sb *sb);
/* Frees the userspace side only: links, maps and pins stay (enforcement goes on). Without a
 * bpffs root the links go with the last descriptor, so this detaches. Accepts NULL. */
void osh_egress_sandbox_release(struct osh_egress_sb *sb);
/* Removes the pins of sandbox name under bpffs_root and its entries in the pinned global maps,
 * without a loaded object (the daemon cleaning up a sandbox whose cgroup is gone). 0 also when
 * nothing was pinned. */
int osh_egress_purge(const char *bpffs_root, const char *name);

/* Pins removed from outside (bpf-pin.h, struct osh_bpf_pin_check): the root, egress/ with the
 * maps, programs, tracepoint links and version eg holds, and sandboxes/. Returns c->err (0 also
 * without a root). */
int osh_egress_pins_check(struct osh_egress *eg, struct osh_bpf_pin_check *c);
/* The same for one sandbox's sandboxes/<name>/: its state record, bit allocation,
 * DNS-installed addresses and cgroup links (osh_egress_pins_check first: it makes sandboxes/). */
int osh_egress_sandbox_pins_check(struct osh_egress_sb *sb, struct osh_bpf_pin_check *c);

/* Makes img the sandbox's policy: resolves its binaries to {dev, ino} (warnings, e.g. a binary
 * that does not exist, are appended to warnings when it is not NULL), builds a new generation in
 * a fresh trie and flips the sandbox's slot in osh_gens to it in one update, so a connection sees
 * the old policy or the new one. Addresses installed from DNS answers for names the new policy
 * still has are carried over. img must stay valid until the next update or removal (event
 * formatting reads it). -E2BIG: more than 64 distinct binaries over the sandbox's lifetime. */
int osh_egress_sandbox_update(struct osh_egress_sb *sb, const struct osh_policy_image *img,
			      struct osh_strv *warnings);

/* A file matching binary path of the current policy (a glob) appeared after the policy was
 * loaded: its identity id gets that binary's bit, so a process exec'ing it from now on carries
 * it. Returns 1 when added, 0 when id had the bit already, -ENOENT when path is not a binary of
 * the current policy, -E2BIG at OSH_EGRESS_MAX_EXES identities. */
int osh_egress_sandbox_add_binary(struct osh_egress_sb *sb, const char *path,
				  const struct osh_binid *id);

/* Redirects all port-53 traffic of the sandbox (UDP and TCP) to the DNS responder at a4 / a6
 * (either may be NULL: that family is then not redirected and port 53 is an ordinary
 * destination). */
int osh_egress_sandbox_set_dns(struct osh_egress_sb *sb, const struct sockaddr_in *a4,
			       const struct sockaddr_in6 *a6);

/* The DNS responder answered name (one of the image's names entries, as the responder matched
 * it) with addr (family 4: 4 bytes, 6: 16 bytes): allows it for the entry's port and binaries
 * in the current generation for ttl seconds (the caller applies its floor and cap). Installing
 * an address again extends its expiry, never shortens it. With a bpffs root the expiry is
 * pinned with the address, so an adopting process resumes it. -ENOENT when the name is not in
 * the sandbox's policy. */
int osh_egress_install_name_addr(struct osh_egress_sb *sb, const struct osh_egress_name *name,
				 int family, const uint8_t *addr, uint32_t ttl);
/* Removes an address installed for name. The kernel entry is rewritten from what else still
 * allows that address and port (policy entries, other names) in one update. -ENOENT when it was
 * not installed. */
int osh_egress_remove_name_addr(struct osh_egress_sb *sb, const struct osh_egress_name *name,
				int family, const uint8_t *addr);
/* Removes the DNS-installed addresses whose expiry has passed (connections already established
 * are not affected: the programs check connect/sendmsg). *ret_next is the next expiry on the
 * osh_egress_clock_ms() clock, UINT64_MAX when none is pending. Returns the number removed, or
 * -errno when a removal failed (that one is retried at *ret_next). */
int osh_egress_sandbox_expire(struct osh_egress_sb *sb, uint64_t *ret_next);
/* The clock of expiries: CLOCK_BOOTTIME in milliseconds (shared by processes, counts suspend). */
uint64_t osh_egress_clock_ms(void);

/* The original destination of a redirected DNS flow, by the client's protocol (IPPROTO_UDP or
 * IPPROTO_TCP), address family (4 or 6) and local port (host order). -ENOENT if unknown. */
int osh_egress_dns_orig_lookup(struct osh_egress *eg, uint8_t proto, uint8_t family, uint16_t sport,
			       struct osh_egress_dns_orig *ret_orig);

typedef void (*osh_egress_event_fn)(const struct osh_egress_event *ev, void *userdata);

/* Calls fn for each event in the ring buffer, waiting up to timeout_ms (0: no wait, -1:
 * forever) for the first. Returns the number of events or -errno (-EINTR when interrupted). */
int osh_egress_events_poll(struct osh_egress *eg, int timeout_ms, osh_egress_event_fn fn,
			   void *userdata);
/* Calls fn for each event the ring buffer holds now, without looking at its descriptor.
 * Returns the number of events or -errno. */
int osh_egress_events_consume(struct osh_egress *eg, osh_egress_event_fn fn, void *userdata);
/* A descriptor that polls readable when events are waiting (owned by eg). Call
 * osh_egress_events_poll(eg, 0, ...) then. */
int osh_egress_events_fd(const struct osh_egress *eg);
/* Events lost because the ring buffer was full, summed over CPUs. */
int osh_egress_events_dropped(struct osh_egress *eg, uint64_t *ret_dropped);

/* The sandbox an event belongs to, or NULL. */
struct osh_egress_sb *osh_egress_sandbox_find(struct osh_egress *eg, uint64_t sandbox_id);

/* The parts of a denial or audit event, as text. */
struct osh_egress_event_fields {
	const char *verdict; /* "deny" or "audit" */
	const char
	    *op; /* "connect", "sendmsg", "socket", "packet", "connect-unix", "sendmsg-unix" */
	const char *reason; /* one phrase */
	/* "198.51.100.7:443/tcp", "[2001:db8::1]:443/tcp", "unix:/run/x.sock", "unix:@name" */
	char target[OSH_EGRESS_UNIX_PATH_LEN + 8];
	char comm[OSH_EGRESS_COMM_LEN + 1];
	char exe[PATH_MAX]; /* "" when unknown */
	char closest[320];  /* the closest policy entry's name, "" when none */
};

/* A unix connect/sendmsg denial whose pathname does not exist (as the process sees it, checked
 * now): the kernel would have refused it with ENOENT, nothing was reachable. Such probes (glibc
 * tries /var/run/nscd/socket on every lookup) are not worth a denial line. */
bool osh_egress_event_unix_absent(const struct osh_egress_event *ev);

/* Fills *ret from ev. pol and img as for osh_egress_event_format. Returns 0. */
int osh_egress_event_fields_get(const struct osh_egress_event *ev, const struct osh_policy *pol,
				const struct osh_policy_image *img,
				struct osh_egress_event_fields *ret);
/* The line of osh_egress_event_format from fields already computed. Caller frees. */
int osh_egress_event_fields_line(const struct osh_egress_event *ev,
				 const struct osh_egress_event_fields *f, char **ret_text);
/* The name the DNS responder answered with addr (family 4: 4 bytes, 6: 16) in this sandbox, or
 * NULL. Owned by sb, valid until its next update. */
const char *osh_egress_sandbox_name_of(const struct osh_egress_sb *sb, int family,
				       const uint8_t *addr);

/* One line for a denial or audit event: `denied connect 198.51.100.7:443/tcp by /usr/bin/curl
 * (pid N): <why>; closest: <rule>`. pol is the policy img was compiled from (for rule names);
 * either may be NULL. The executable is read from /proc at call time (comm if gone). */
int osh_egress_event_format(const struct osh_egress_event *ev, const struct osh_policy *pol,
			    const struct osh_policy_image *img, char **ret_text);

/* The i-th cgroup program (0, 1, ... until -ERANGE) and its attach type (enum
 * bpf_attach_type); -ENOENT for one this kernel does not load. For attaching them elsewhere
 * than to a sandbox (bpf-anchor.h). */
int osh_egress_cgroup_prog(const struct osh_egress *eg, unsigned int i, int *ret_fd,
			   unsigned int *ret_type);

#endif
