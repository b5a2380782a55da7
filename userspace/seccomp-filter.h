/* SPDX-License-Identifier: Apache-2.0 */
/* The sandbox's seccomp filter: built once with libseccomp in the parent, exported as classic
 * BPF, and loaded in the child with one prctl() so the child needs no allocation. (Not named
 * seccomp.h: with -Iuserspace that would shadow libseccomp's <seccomp.h>.) */
#ifndef OSH_USERSPACE_SECCOMP_FILTER_H
#define OSH_USERSPACE_SECCOMP_FILTER_H

#include <linux/filter.h>

#include "sandbox-error.h"

struct osh_seccomp_prog {
	struct sock_filter *insns;
	unsigned short len;
};

/* Builds the osh filter (see seccomp-filter.c for the list and the reasons), once per process;
 * later calls copy it. On success *ret owns a malloc'd program (osh_seccomp_prog_free). */
int osh_seccomp_prog_build(struct osh_seccomp_prog *ret, struct osh_sandbox_error *e);

/* Frees the instructions; accepts an empty program. */
void osh_seccomp_prog_free(struct osh_seccomp_prog *prog);

/* Installs the program on the calling thread; no_new_privs must be set. Async-signal-safe.
 * Returns 0 or -errno. */
int osh_seccomp_prog_load(const struct osh_seccomp_prog *prog);

/* 1 when the kernel supports seccomp filters returning an errno, 0 otherwise. */
int osh_seccomp_available(void);

#endif
