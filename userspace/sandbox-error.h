/* SPDX-License-Identifier: Apache-2.0 */
/* The structured error every sandbox-engine function fills on failure, so the CLI and the
 * daemon can report `osh: STEP: SUBJECT: MESSAGE` once, at the boundary. */
#ifndef OSH_USERSPACE_SANDBOX_ERROR_H
#define OSH_USERSPACE_SANDBOX_ERROR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct osh_sandbox_error {
	int err;		/* positive errno; 0 = no error recorded */
	char step[32];		/* "cgroup", "landlock", "seccomp", "setuid", "exec", ... */
	char subject[PATH_MAX]; /* the path or object concerned, may be empty */
	char message[256];	/* may be empty: then strerror(err) is the message */
};

/* Records an error (err may be given negative or positive) and returns -|err| so callers can
 * `return osh_sandbox_error_set(...)`. e may be NULL. fmt may be NULL (no message). */
int osh_sandbox_error_set(struct osh_sandbox_error *e, int err, const char *step,
			  const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Formats "STEP: SUBJECT: MESSAGE" (without the "osh: " prefix) into buf. */
void osh_sandbox_error_format(const struct osh_sandbox_error *e, char *buf, size_t size);

struct osh_policy;

/* Same, prefixed with `FILE:LINE:COL: ` of the policy when the subject is a filesystem path
 * that p wrote (e.g. a missing path under hard_requirement); returns whether it did. p may be
 * NULL. */
bool osh_sandbox_error_format_at(const struct osh_sandbox_error *e, const struct osh_policy *p,
				 char *buf, size_t size);

#endif
