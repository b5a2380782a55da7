/* SPDX-License-Identifier: Apache-2.0 */
/* The Landlock "plan": which paths get which access rights, computed from a filesystem policy
 * before anything touches the kernel's Landlock API. This is where `deny` paths inside allowed
 * trees are turned into allow rules on their siblings, and where every gap is put into words. */
#ifndef OSH_USERSPACE_LANDLOCK_PLAN_H
#define OSH_USERSPACE_LANDLOCK_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/landlock.h>

#include "policy.h" /* enum osh_landlock_compat */
#include "sandbox-error.h"
#include "strv.h"

/* Debian 12's linux-libc-dev (6.1) knows Landlock ABI 1-2 only. The values below are the
 * kernel's UAPI (include/uapi/linux/landlock.h) for the later ABIs osh uses. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13) /* ABI 2, Linux 5.19 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3, Linux 6.2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5, Linux 6.10 */
#endif

#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6, Linux 6.12 */
#define LANDLOCK_SCOPE_SIGNAL		    (1ULL << 1) /* ABI 6, Linux 6.12 */
#endif

/* The newest ABI osh knows. ABI 4 (network ports), 6 (scopes) and 7 (audit log flags) add no
 * filesystem rights. Of those, osh uses the ABI 6 scopes (see osh_landlock_scopes()). */
#define OSH_LANDLOCK_ABI_KNOWN 7
/* The ABI below which a read_only path is not really read-only (truncate is unrestricted). */
#define OSH_LANDLOCK_ABI_REQUIRED 3
/* Bound on the rules a deny expansion may create (one per sibling entry). */
#define OSH_LANDLOCK_MAX_RULES 16384

struct osh_landlock_rule {
	char *path;	 /* canonical absolute path */
	uint64_t access; /* before masking to file rights for non-directories */
};

struct osh_landlock_plan {
	int abi;	  /* the ABI the plan was made for; 0 = no Landlock */
	uint64_t handled; /* handled_access_fs; 0 = do not create a ruleset */
	uint64_t scoped;  /* LANDLOCK_SCOPE_* */
	struct osh_landlock_rule *rules;
	size_t n_rules, cap_rules;
	struct osh_strv warnings; /* best_effort gaps: path skipped, ABI too old, ... */
	struct osh_strv report;	  /* what each deny path does and does not cover */
};

struct osh_landlock_input {
	const struct osh_strv *read_only;
	const struct osh_strv *read_write;
	const struct osh_strv *deny;
	const char *workdir; /* read-write when non-NULL (include_workdir) */
	enum osh_landlock_compat compat;
	int abi; /* from osh_landlock_abi(), or forced by tests */
	/* The mount table deny paths are looked up in for other names (bind mounts of them or of
	 * their ancestors); NULL: /proc/self/mountinfo. */
	const char *mountinfo;
};

/* Access rights for an ABI: every filesystem right the ABI handles, the read-only set
 * (read + execute + list) and the rights that apply to a non-directory. */
uint64_t osh_landlock_access_all(int abi);
uint64_t osh_landlock_access_ro(int abi);
uint64_t osh_landlock_access_file(int abi);

/* The scopes osh sets where the ABI has them (6+): no signals to, and no connections to abstract
 * unix sockets of, processes outside the sandbox (a host daemon's abstract socket would bypass
 * both the filesystem and the network policy). */
uint64_t osh_landlock_scopes(int abi);

/* True when path equals root or lies beneath it (string comparison on canonical paths). */
bool osh_landlock_path_under(const char *path, const char *root);

/* Builds the plan. Resolves paths with realpath() and lists directories on the way to deny
 * paths, so it reads the filesystem but never calls Landlock. With hard_requirement every gap is
 * an error (-errno, e filled); with best_effort gaps become warnings. On success *ret is
 * filled and owned by the caller (osh_landlock_plan_free); on failure *ret is left empty. */
int osh_landlock_plan_build(const struct osh_landlock_input *in, struct osh_landlock_plan *ret,
			    struct osh_sandbox_error *e);

/* Frees everything the plan owns and leaves it empty. Accepts NULL. */
void osh_landlock_plan_free(struct osh_landlock_plan *plan);

#endif
