/* SPDX-License-Identifier: Apache-2.0 */
/* What this kernel offers osh, found by trying (loading a tiny BPF program of each type,
 * creating a Landlock ruleset, cloning into a cgroup) rather than by version numbers. Used by
 * `oshctl doctor` and, later, by the daemon to pick mechanisms. */
#ifndef OSH_USERSPACE_PROBE_H
#define OSH_USERSPACE_PROBE_H

#include <limits.h>
#include <stdbool.h>

enum osh_probe_prog_kind {
	OSH_PROBE_CGROUP_SOCK_ADDR = 0,
	OSH_PROBE_CGROUP_SKB,
	OSH_PROBE_CGROUP_SOCK,
	OSH_PROBE_RAW_TRACEPOINT,
	OSH_PROBE_LSM,
	OSH_PROBE_TRACING,
	OSH_PROBE_PROG_MAX,
};

struct osh_probe_prog {
	const char *name; /* "cgroup_sock_addr", ... */
	bool required;	  /* the default policy needs it */
	int err;	  /* 0 = loaded, else -errno of the load */
	char detail[128]; /* why it could not be tried, when err is not the kernel's answer */
};

struct osh_probe {
	char kernel[128];	/* uname release */
	char cgroup2[PATH_MAX]; /* mount point, "" when none */
	bool cgroup_kill;	/* cgroup.kill offered (5.14+) */
	int clone_into_cgroup;	/* 0 ok, else -errno of clone3(CLONE_INTO_CGROUP) */
	bool bpffs;		/* a bpf filesystem is mounted at /sys/fs/bpf */
	char lsm_list[256];	/* /sys/kernel/security/lsm, "" when unreadable */
	struct osh_probe_prog progs[OSH_PROBE_PROG_MAX];
	int bpf_fs;		 /* 0 = osh's BPF LSM fs programs load, attach and run */
	char bpf_fs_reason[256]; /* why not, when bpf_fs != 0 */
	int landlock_abi;	 /* 0 = none */
	bool seccomp;		 /* seccomp filters with SECCOMP_RET_ERRNO */
	int userns;		 /* 0 = unshare(CLONE_NEWUSER) works, else -errno */
	unsigned int mechanisms; /* OSH_MECH_* a sandbox would get here */
	unsigned int missing;	 /* count of required features that are missing */
};

/* Fills *ret. Never fails as a whole: each probe records its own result. */
void osh_probe_run(struct osh_probe *ret);

#endif
