/* SPDX-License-Identifier: Apache-2.0 */
/* Loader of bpf/fs.bpf.c: the BPF LSM filesystem programs (global, attached once per loader,
 * or pinned under a bpffs root so they outlive the process) and each sandbox's rule set
 * (inode+device keys in a per-sandbox inner map, swapped whole on reload). Functions return 0 or
 * -errno and never print. Pin layout: docs/arch-sandbox.md, "Pinning". */
#ifndef OSH_USERSPACE_BPF_FS_H
#define OSH_USERSPACE_BPF_FS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "bpf-pin.h"
#include "bpf/fs.h"
#include "sandbox-error.h"
#include "strv.h"

struct osh_bpf_fs;

/* One policy path and what it grants; the loader resolves the path (following symlinks). */
struct osh_bpf_fs_rule {
	const char *path;
	struct osh_fs_value value;
};

/* Loads and attaches the programs for sandboxes that are cgroups at depth sandbox_level below
 * the cgroup2 root, private to the process (they detach with osh_bpf_fs_free or its exit).
 * -EPERM/-EINVAL/-ENOENT... when the kernel refuses BPF LSM; *ret_reason (if not NULL) then gets
 * a malloc'd one-line reason. On success *ret is owned by the caller. */
int osh_bpf_fs_open(unsigned int sandbox_level, struct osh_bpf_fs **ret, char **ret_reason);
/* The same with bpffs_root not NULL: maps, programs and links are pinned under
 * <bpffs_root>/fs/ (the version record last), or taken from there when a process of the same
 * build pinned them (no load, no verifier; a program whose link pin is missing is attached
 * again), so enforcement outlives the process. -ESTALE when they were pinned by another build
 * or another sandbox_level. */
int osh_bpf_fs_open_root(unsigned int sandbox_level, const char *bpffs_root,
			 struct osh_bpf_fs **ret, char **ret_reason);
/* The bpffs root fs was opened with, or NULL. */
const char *osh_bpf_fs_root(const struct osh_bpf_fs *fs);
/* -EPERM when this kernel refuses BPF LSM programs altogether (microseconds: no BTF parsing),
 * else 0 (which does not prove that bpf is an active LSM). */
int osh_bpf_fs_refused(void);

/* Frees fs. Without a bpffs root that detaches the programs (the kernel drops every sandbox's
 * rules with the maps); with one, the pins keep all of it in place. Accepts NULL. */
void osh_bpf_fs_free(struct osh_bpf_fs *fs);
/* With a bpffs root and no sandbox recorded under it any more (by any process): removes
 * <root>/fs/, which detaches the programs, and the root directory when nothing else is left in
 * it. 0 also when sandboxes remain. */
int osh_bpf_fs_unpin_if_unused(struct osh_bpf_fs *fs);

/* Sandboxes by name under a bpffs root: <root>/fs/sandboxes/<name> records the cgroup id, so a
 * later process can find (adopt) or remove (purge) the sandbox's rules. Without a root, _add is
 * a no-op and _adopt -EINVAL. */
/* Records sandbox (a cgroup id) as name, dropping the rules an earlier cgroup of that name
 * left. Before osh_bpf_fs_rules_set, so no rules exist that no record names. */
int osh_bpf_fs_sandbox_add(struct osh_bpf_fs *fs, const char *name, uint64_t sandbox);
/* 0 when name is recorded with this cgroup id; -ENOENT when it is not recorded or names an
 * earlier cgroup of that name. */
int osh_bpf_fs_sandbox_adopt(struct osh_bpf_fs *fs, const char *name, uint64_t sandbox);
/* Forgets the sandbox: its event receiver, its rules (its processes are no longer governed) and
 * its record, if it is still this cgroup's. */
int osh_bpf_fs_sandbox_remove(struct osh_bpf_fs *fs, const char *name, uint64_t sandbox);
/* 1 when name has a record under bpffs_root, 0 when not, or -errno. No object needed. */
int osh_bpf_fs_pinned(const char *bpffs_root, const char *name);
/* Drops the rules and the record of name under bpffs_root without a loaded object (any build's
 * pins). 0 also when nothing was recorded. */
int osh_bpf_fs_purge(const char *bpffs_root, const char *name);

/* Pins removed from outside (bpf-pin.h, struct osh_bpf_pin_check): <root>/fs/ with the maps,
 * programs, links and version fs holds, and fs/sandboxes/. Returns c->err (0 also without a
 * root). */
int osh_bpf_fs_pins_check(struct osh_bpf_fs *fs, struct osh_bpf_pin_check *c);
/* The same for the record of sandbox name (cgroup id sandbox), after osh_bpf_fs_pins_check. */
int osh_bpf_fs_sandbox_pins_check(struct osh_bpf_fs *fs, const char *name, uint64_t sandbox,
				  struct osh_bpf_pin_check *c);

/* Installs the rule set of one sandbox, replacing any earlier one in a single map update: an
 * access sees the old set or the new one, never a mix. A path that cannot be resolved is
 * skipped and named in *warnings (hard: the call fails with it instead, nothing changes).
 * Several names of one inode merge with deny > read-write > read-only. */
int osh_bpf_fs_rules_set(struct osh_bpf_fs *fs, uint64_t sandbox,
			 const struct osh_bpf_fs_rule *rules, size_t n, int hard,
			 struct osh_strv *warnings, struct osh_sandbox_error *e);

/* Forgets a sandbox's rules (its processes are then no longer governed). */
int osh_bpf_fs_rules_remove(struct osh_bpf_fs *fs, uint64_t sandbox);

typedef void (*osh_bpf_fs_event_fn)(const struct osh_fs_event *ev, void *ctx);

/* Calls fn for each denial event waiting in the ring buffer, waiting up to timeout_ms for the
 * first. Returns the number handled or -errno. Not thread-safe against itself. */
int osh_bpf_fs_events_poll(struct osh_bpf_fs *fs, int timeout_ms, osh_bpf_fs_event_fn fn,
			   void *ctx);

/* Starts (once) a thread that delivers events until osh_bpf_fs_free(): to the receiver of their
 * sandbox (osh_bpf_fs_sandbox_events), else to fn (NULL: dropped). Not together with
 * osh_bpf_fs_events_poll. */
int osh_bpf_fs_events_start(struct osh_bpf_fs *fs, osh_bpf_fs_event_fn fn, void *ctx);
/* Sets the receiver of sandbox's events (fn NULL: removes it; once this returns it is not called
 * any more) and starts the thread if needed. fn runs on that thread. */
int osh_bpf_fs_sandbox_events(struct osh_bpf_fs *fs, uint64_t sandbox, osh_bpf_fs_event_fn fn,
			      void *ctx);

/* Delivers, on the caller's thread, every event the ring buffer holds (those a process wrote
 * before it exited included: they are committed before its syscall returns), after the batch
 * the event thread may be delivering; when it returns, each went to its receiver. Waits until
 * the absolute CLOCK_MONOTONIC deadline at most (for the thread, then for a flood of events):
 * -ETIMEDOUT, and what was not delivered yet goes on the thread as usual. 0 also when no thread
 * delivers events. */
int osh_bpf_fs_events_flush(struct osh_bpf_fs *fs, const struct timespec *deadline);

/* The programs' counters. */
int osh_bpf_fs_stats_get(struct osh_bpf_fs *fs, struct osh_fs_stats *ret);

/* "open-read", "unlink", ... and "no-rule", "deny", ... for messages. */
const char *osh_fs_op_name(unsigned int op);
const char *osh_fs_reason_name(unsigned int reason);

/* One line describing an event: "denied unlink of 'x' (ino 12 dev 0:5): deny rule #3; pid 7
 * uid 65534 comm sh". Caller frees. */
int osh_fs_event_format(const struct osh_fs_event *ev, char **ret_text);

/* The kernel's dev_t (MKDEV) for a userspace st_dev. */
uint32_t osh_bpf_fs_dev(uint64_t st_dev);

#endif
