// SPDX-License-Identifier: Apache-2.0
/* Bench helper: open()+close() of one file in a loop, optionally under a bare Landlock ruleset
 * built from the same kind of rules as osh's runner and/or a seccomp filter (so scripts/bench.sh
 * can compare a sandbox with the mechanisms alone). Prints `ns_per_op=N`.
 *
 *   bench-open [--seccomp|--seccomp-allow] [--ro PATH]... [--rw PATH]... FILE COUNT
 * With --ro/--rw it restricts itself (no_new_privs + landlock_restrict_self) first; --seccomp
 * then installs the filter `oshctl run` installs (userspace/seccomp-filter.c), --seccomp-allow
 * a one-instruction filter that allows everything: what any filter costs by being there. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/landlock.h>

#include "seccomp-filter.h"

/* Rights the runner handles (landlock-plan.c): ABI 1's 13, REFER (2), TRUNCATE (3),
 * IOCTL_DEV (5). Debian 12's header knows ABI 1-2 only. */
#define LL_ABI1_ALL ((1ULL << 13) - 1)
#define LL_REFER    (1ULL << 13)
#define LL_TRUNCATE (1ULL << 14)
#define LL_IOCTL    (1ULL << 15)
#define LL_RO                                                                                      \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

static uint64_t handled_rights(int abi)
{
	uint64_t r = LL_ABI1_ALL;

	if (abi >= 2)
		r |= LL_REFER;
	if (abi >= 3)
		r |= LL_TRUNCATE;
	if (abi >= 5)
		r |= LL_IOCTL;
	return r;
}

static int rule_add(int ruleset, const char *path, uint64_t access)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access };
	int r;

	pb.parent_fd = open(path, O_PATH | O_CLOEXEC);
	if (pb.parent_fd < 0)
		return -errno;
	r = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	if (r < 0 && errno == EINVAL) {
		/* a file, not a directory: only file rights */
		pb.allowed_access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
				     LANDLOCK_ACCESS_FS_READ_FILE | LL_TRUNCATE | LL_IOCTL;
		r = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb,
				 0);
	}
	close(pb.parent_fd);
	return r < 0 ? -errno : 0;
}

static long long ns_between(const struct timespec *a, const struct timespec *b)
{
	return (long long)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

int main(int argc, char **argv)
{
	struct landlock_ruleset_attr attr = { 0 };
	struct timespec t0, t1, c0, c1;
	struct osh_seccomp_prog filter = { 0 };
	struct sock_filter allow_all = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	bool allow_only = false;
	int i = 1, ruleset = -1, abi;
	long n;

	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (i < argc && !strcmp(argv[i], "--seccomp")) {
		struct osh_sandbox_error e = { 0 };

		if (osh_seccomp_prog_build(&filter, &e) < 0) {
			fprintf(stderr, "bench-open: building the seccomp filter: %s\n",
				e.message[0] ? e.message : strerror(e.err));
			return 1;
		}
		i++;
	} else if (i < argc && !strcmp(argv[i], "--seccomp-allow")) {
		allow_only = true;
		i++;
	}
	while (i + 1 < argc && (!strcmp(argv[i], "--ro") || !strcmp(argv[i], "--rw"))) {
		uint64_t handled = handled_rights(abi);

		if (ruleset < 0) {
			if (abi < 1) {
				fprintf(stderr, "bench-open: no Landlock\n");
				return 1;
			}
			attr.handled_access_fs = handled;
			ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
			if (ruleset < 0) {
				perror("bench-open: landlock_create_ruleset");
				return 1;
			}
		}
		if (rule_add(ruleset, argv[i + 1], argv[i][3] == 'o' ? LL_RO : handled) < 0)
			fprintf(stderr, "bench-open: skipping %s\n", argv[i + 1]);
		i += 2;
	}
	if (argc - i != 2) {
		fprintf(
		    stderr,
		    "usage: bench-open [--seccomp|--seccomp-allow] [--ro PATH]... [--rw PATH]... "
		    "FILE COUNT\n");
		return 2;
	}
	n = strtol(argv[i + 1], NULL, 10);
	if (ruleset >= 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
			perror("bench-open: landlock_restrict_self");
			return 1;
		}
		close(ruleset);
	}
	bool seccomp = filter.len > 0 || allow_only;

	if (seccomp) {
		int r;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			r = -errno;
		else
			r = osh_seccomp_prog_load(
			    allow_only ? &(struct osh_seccomp_prog){ &allow_all, 1 } : &filter);
		osh_seccomp_prog_free(&filter);
		if (r < 0) {
			fprintf(stderr, "bench-open: loading the seccomp filter: %s\n",
				strerror(-r));
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	for (long k = 0; k < n; k++) {
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			perror(argv[i]);
			return 1;
		}
		close(fd);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* cpu_ns_per_op: the loop's own CPU time, which time slices lost to other work on a
	 * shared machine do not inflate as they do the wall-clock ns_per_op */
	printf("ns_per_op=%lld cpu_ns_per_op=%lld count=%ld landlock_abi=%d restricted=%d "
	       "seccomp=%d\n",
	       ns_between(&t0, &t1) / (n > 0 ? n : 1), ns_between(&c0, &c1) / (n > 0 ? n : 1), n,
	       abi, ruleset >= 0, seccomp);
	return 0;
}
