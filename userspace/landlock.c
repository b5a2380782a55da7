// SPDX-License-Identifier: Apache-2.0
// Landlock kernel layer (see landlock.h): the only file that calls the Landlock syscalls.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "landlock.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule	     445
#define __NR_landlock_restrict_self  446
#endif

/* The ruleset attribute grew with ABI 4 (handled_access_net) and 6 (scoped). The kernel accepts
 * a larger struct from an older caller's view as long as the tail is zero, so always passing
 * this one is compatible with every ABI. */
struct osh_landlock_ruleset_attr {
	__u64 handled_access_fs;
	__u64 handled_access_net;
	__u64 scoped;
};

int osh_landlock_abi(void)
{
	long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	if (abi < 0)
		return 0;
	return abi > OSH_LANDLOCK_ABI_KNOWN ? OSH_LANDLOCK_ABI_KNOWN : (int)abi;
}

void osh_landlock_ident_of(const char *path, struct osh_landlock_ident *ret)
{
	struct stat st;

	/* stat follows symbolic links as open(O_PATH) does. */
	if (stat(path, &st) < 0) {
		*ret = (struct osh_landlock_ident){ .err = errno };
		return;
	}
	*ret = (struct osh_landlock_ident){ .dev = st.st_dev,
					    .ino = st.st_ino,
					    .dir = S_ISDIR(st.st_mode) };
}

int osh_landlock_ruleset_create(const struct osh_landlock_plan *plan,
				enum osh_landlock_compat compat, struct osh_strv *warnings,
				struct osh_landlock_ident *ids, int *ret_fd,
				struct osh_sandbox_error *e)
{
	struct osh_landlock_ruleset_attr attr = {
		.handled_access_fs = plan->handled,
		.scoped = plan->scoped,
	};
	uint64_t file_rights = osh_landlock_access_file(plan->abi);
	int fd, r = 0;

	if (!plan->handled) {
		*ret_fd = -1;
		return 0;
	}
	fd = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (fd < 0)
		return osh_sandbox_error_set(e, errno, "landlock", NULL,
					     "landlock_create_ruleset: %s", strerror(errno));
	for (size_t i = 0; i < plan->n_rules; i++) {
		const struct osh_landlock_rule *rule = &plan->rules[i];
		struct landlock_path_beneath_attr pb = { .allowed_access =
							     rule->access & plan->handled };
		struct stat st;
		int pfd = open(rule->path, O_PATH | O_CLOEXEC);

		if (pfd < 0 || fstat(pfd, &st) < 0) {
			int err = errno;

			if (pfd >= 0)
				close(pfd);
			if (ids)
				ids[i] = (struct osh_landlock_ident){ .err = err };
			if (compat == OSH_LANDLOCK_HARD_REQUIREMENT) {
				r = osh_sandbox_error_set(e, err, "landlock", rule->path, NULL);
				goto fail;
			}
			if ((r = osh_strv_pushf(warnings, "landlock: skipping %s: %s", rule->path,
						strerror(err))) < 0) {
				r = osh_sandbox_error_set(e, r, "landlock", rule->path, NULL);
				goto fail;
			}
			continue;
		}
		if (ids)
			ids[i] = (struct osh_landlock_ident){ .dev = st.st_dev,
							      .ino = st.st_ino,
							      .dir = S_ISDIR(st.st_mode) };
		/* Directory rights on a file are EINVAL for the kernel. */
		if (!S_ISDIR(st.st_mode))
			pb.allowed_access &= file_rights;
		pb.parent_fd = pfd;
		if (pb.allowed_access &&
		    syscall(__NR_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0) {
			r = osh_sandbox_error_set(e, errno, "landlock", rule->path,
						  "landlock_add_rule: %s", strerror(errno));
			close(pfd);
			goto fail;
		}
		close(pfd);
	}
	*ret_fd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

int osh_landlock_restrict_self(int ruleset_fd)
{
	if (syscall(__NR_landlock_restrict_self, ruleset_fd, 0) < 0)
		return -errno;
	return 0;
}
