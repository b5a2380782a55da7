// SPDX-License-Identifier: Apache-2.0
// Filling and formatting struct osh_sandbox_error (see sandbox-error.h).
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "sandbox-error.h"

int osh_sandbox_error_set(struct osh_sandbox_error *e, int err, const char *step,
			  const char *subject, const char *fmt, ...)
{
	int pos = err < 0 ? -err : err;

	if (pos == 0)
		pos = EIO; /* an error without a code must still read as a failure */
	if (!e)
		return -pos;
	memset(e, 0, sizeof(*e));
	e->err = pos;
	snprintf(e->step, sizeof(e->step), "%s", step ? step : "");
	snprintf(e->subject, sizeof(e->subject), "%s", subject ? subject : "");
	if (fmt) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(e->message, sizeof(e->message), fmt, ap);
		va_end(ap);
	}
	return -pos;
}

void osh_sandbox_error_format(const struct osh_sandbox_error *e, char *buf, size_t size)
{
	const char *msg = e->message[0] ? e->message : strerror(e->err ? e->err : EIO);

	if (e->subject[0])
		snprintf(buf, size, "%s: %s: %s", e->step, e->subject, msg);
	else
		snprintf(buf, size, "%s: %s", e->step, msg);
}

bool osh_sandbox_error_format_at(const struct osh_sandbox_error *e, const struct osh_policy *p,
				 char *buf, size_t size)
{
	struct osh_pos pos;
	int n;

	/* The subject is a policy path when the filesystem policy could not be applied as
	 * written (hard_requirement): point at the line that wrote it. */
	if (!p || !e->subject[0] || osh_policy_fs_path_pos(p, e->subject, &pos) < 0) {
		osh_sandbox_error_format(e, buf, size);
		return false;
	}
	n = snprintf(buf, size, "%s:%u:%u: ", p->source ? p->source : "<policy>", pos.line,
		     pos.col);
	if (n < 0 || (size_t)n >= size)
		return true;
	osh_sandbox_error_format(e, buf + n, size - (size_t)n);
	return true;
}
