/* SPDX-License-Identifier: Apache-2.0 */
/* The thin kernel layer of Landlock: ABI probe, turning a plan (landlock-plan.h) into a ruleset
 * descriptor in the parent, and restricting the child with it. Raw syscalls, no libc wrapper. */
#ifndef OSH_USERSPACE_LANDLOCK_H
#define OSH_USERSPACE_LANDLOCK_H

#include <stdbool.h>
#include <sys/types.h>

#include "landlock-plan.h"

/* The Landlock ABI the running kernel offers, capped at OSH_LANDLOCK_ABI_KNOWN; 0 when Landlock
 * is not built in or disabled at boot. Never fails. */
int osh_landlock_abi(void);

/* What a rule's path opened to when its rule was added: its inode, or why it could not be
 * opened. The ruleset holds a reference to the inode, so while the ruleset lives no other file
 * can take its number on that device. */
struct osh_landlock_ident {
	dev_t dev;
	ino_t ino;
	bool dir;
	int err; /* errno of open/fstat; 0: dev, ino and dir are set */
};

/* Creates a ruleset handling plan->handled and adds every rule. A rule path that cannot be
 * opened any more is a gap: an error with hard_requirement, a warning appended to warnings with
 * best_effort. On success *ret_fd is a CLOEXEC ruleset descriptor owned by the caller, or -1
 * when the plan handles nothing (no Landlock). ids, when not NULL, has plan->n_rules entries and
 * receives what each rule's path opened to. */
int osh_landlock_ruleset_create(const struct osh_landlock_plan *plan,
				enum osh_landlock_compat compat, struct osh_strv *warnings,
				struct osh_landlock_ident *ids, int *ret_fd,
				struct osh_sandbox_error *e);

/* What path resolves to now, the way osh_landlock_ruleset_create opens it. */
void osh_landlock_ident_of(const char *path, struct osh_landlock_ident *ret);

/* Enforces the ruleset on the calling thread (no_new_privs must already be set). Async-signal-safe:
 * called in the child between clone and exec. Returns 0 or -errno. */
int osh_landlock_restrict_self(int ruleset_fd);

#endif
