/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup v2 for sandboxes: find the cgroup2 mount, keep osh's own subtree `<mount>/osh/`, create
 * one cgroup per sandbox there, and tear it down (kill every process left, then rmdir). */
#ifndef OSH_USERSPACE_CGROUP_H
#define OSH_USERSPACE_CGROUP_H

#include <stdint.h>

#include "sandbox-error.h"

#define OSH_CGROUP_SUBTREE  "osh"
#define OSH_CGROUP_NAME_MAX 64

struct osh_cgroup {
	char *path;    /* absolute path of the sandbox cgroup directory */
	char *name;    /* its last component */
	int dir_fd;    /* O_DIRECTORY fd of path: what clone3(CLONE_INTO_CGROUP) takes */
	int parent_fd; /* fd of <mount>/osh, for the final rmdir */
	uint64_t id;   /* cgroup id (= inode of the directory), the key BPF programs see */
};

/* Finds the first cgroup2 mount in /proc/self/mountinfo. On success *ret_path is a malloc'd
 * string owned by the caller. -ENOENT when cgroup2 is not mounted. */
int osh_cgroup_mount_find(char **ret_path);

/* Checks a sandbox name: 1..OSH_CGROUP_NAME_MAX of [A-Za-z0-9_.-], not starting with '.'.
 * Returns 0 or -EINVAL. */
int osh_cgroup_name_check(const char *name);

/* Creates `<mount>/osh/` if needed (enabling the pids controller there when the kernel lets it;
 * not fatal otherwise) and then `<mount>/osh/<name>`. -EEXIST when that sandbox cgroup already
 * exists. On success *ret is owned by the caller (osh_cgroup_free). */
int osh_cgroup_create(const char *name, struct osh_cgroup **ret, struct osh_sandbox_error *e);

/* Opens the existing sandbox cgroup `<mount>/osh/<name>` (a daemon re-adopting its sandboxes).
 * -ENOENT when it does not exist. On success *ret is owned by the caller (osh_cgroup_free). */
int osh_cgroup_open(const char *name, struct osh_cgroup **ret, struct osh_sandbox_error *e);

/* Number of processes in the cgroup and the cgroups below it, or -errno. */
int osh_cgroup_nprocs(const struct osh_cgroup *cg);

/* Sends sig to every process in the cgroup and below: SIGKILL through cgroup.kill (5.14+; else
 * freeze and kill by pid), other signals by pid from cgroup.procs. Returns 0 or -errno. */
int osh_cgroup_signal(struct osh_cgroup *cg, int sig);

/* Kills every process in the cgroup (cgroup.kill on 5.14+, else SIGKILL to each pid of
 * cgroup.procs until it is empty), waits until it is unpopulated and removes the directory.
 * Idempotent: a cgroup already removed is not an error. */
int osh_cgroup_destroy(struct osh_cgroup *cg, struct osh_sandbox_error *e);

/* Releases the descriptors and memory; does not touch the cgroup itself. Accepts NULL. */
void osh_cgroup_free(struct osh_cgroup *cg);

/* True when the kernel offers cgroup.kill (5.14+) for cgroups under mount. */
int osh_cgroup_has_kill(const char *mount);

#endif
