/* SPDX-License-Identifier: Apache-2.0 */
/* Loader of bpf/fs.bpf.c: the BPF LSM filesystem programs (global, attached once per loader)
 * and each sandbox's rule set (inode+device keys in a per-sandbox inner map, swapped whole on
 * reload). Functions return 0 or -errno and never print. */
#ifndef OSH_USERSPACE_BPF_FS_H
#define OSH_USERSPACE_BPF_FS_H

#include <stddef.h>
#include <stdint.h>

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
 * the cgroup2 root. -EPERM/-EINVAL/-ENOENT... when the kernel refuses BPF LSM; *ret_reason (if
 * not NULL) then gets a malloc'd one-line reason. On success *ret is owned by the caller. */
int osh_bpf_fs_open(unsigned int sandbox_level, struct osh_bpf_fs **ret, char **ret_reason);
/* -EPERM when this kernel refuses BPF LSM programs altogether (microseconds: no BTF parsing),
 * else 0 (which does not prove that bpf is an active LSM). */
int osh_bpf_fs_refused(void);

/* Detaches the programs and frees fs (the kernel drops every sandbox's rules with the maps).
 * Accepts NULL. */
void osh_bpf_fs_free(struct osh_bpf_fs *fs);

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

/* Starts a thread that delivers events to fn until osh_bpf_fs_free(). At most one. */
int osh_bpf_fs_events_start(struct osh_bpf_fs *fs, osh_bpf_fs_event_fn fn, void *ctx);

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
