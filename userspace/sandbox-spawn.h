/* SPDX-License-Identifier: Apache-2.0 */
/* Starting the sandboxed process: clone3(CLONE_INTO_CGROUP) and the child's sequence up to exec
 * (identity, capabilities, no_new_privs, core/dumpable, descriptors, Landlock, seccomp). Named
 * sandbox-spawn.h because a userspace/spawn.h would shadow libc's <spawn.h>. */
#ifndef OSH_USERSPACE_SANDBOX_SPAWN_H
#define OSH_USERSPACE_SANDBOX_SPAWN_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "sandbox-error.h"
#include "seccomp-filter.h"

/* Exit statuses of a child that never reached its command, as a shell uses them. */
#define OSH_EXIT_CANNOT_EXEC 126 /* a sandbox step failed, or the command is not executable */
#define OSH_EXIT_NOT_FOUND   127 /* the command was not found */

struct osh_spawn_params {
	int cgroup_fd; /* the sandbox cgroup directory; the child starts in it */
	bool set_ids;  /* switch to uid/gid (and drop supplementary groups) */
	uid_t uid;
	gid_t gid;
	const char *workdir;			/* chdir() there as the new identity; NULL = stay */
	int landlock_fd;			/* ruleset to enforce, -1 = none */
	const struct osh_seccomp_prog *seccomp; /* NULL = none */
	char *const *argv;			/* argv[0] is looked up in PATH like execvp */
	char *const *envp;			/* NULL = the caller's environ */
	const sigset_t *sig_default; /* signals the child resets to SIG_DFL (the parent ignores
				      * them while it waits); NULL = none */
	bool kill_with_parent;	     /* PR_SET_PDEATHSIG(SIGKILL) once the identity is final */
	/* Descriptors to become the child's 0, 1, 2 (any numbers, also 0..2 in another order);
	 * -1: that one is inherited. NULL: all three inherited. */
	const int *stdio;
	bool new_session; /* setsid(): the child leads its own session and process group */
};

/* Starts the child. Returns 0 once the child has exec'd its command, with *ret_pid and
 * *ret_pidfd (CLOEXEC, owned by the caller). When the child failed before exec it has been
 * reaped already: the function returns -errno of the failing step, fills e with that step (e.g.
 * "landlock", "exec") and sets *ret_status to the exit status the CLI should use (126/127). */
int osh_spawn(const struct osh_spawn_params *p, pid_t *ret_pid, int *ret_pidfd, int *ret_status,
	      struct osh_sandbox_error *e);

#endif
