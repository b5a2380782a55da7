// SPDX-License-Identifier: Apache-2.0
// Kernel feature probes for `oshctl doctor` (see probe.h). Each probe does the real thing once
// (load, create, clone) and records the kernel's answer.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bpf-fs.h"
#include "cgroup.h"
#include "landlock.h"
#include "probe.h"
#include "sandbox.h"
#include "seccomp-filter.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

/* r0 = ret; exit */
static int prog_try(enum bpf_prog_type type, enum bpf_attach_type attach, int ret_val, int btf_id,
		    struct osh_probe_prog *res)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = ret_val },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach);
	int fd;

	if (btf_id > 0)
		opts.attach_btf_id = (__u32)btf_id;
	fd = bpf_prog_load(type, "osh_probe", "GPL", insns, 2, &opts);
	if (fd < 0) {
		res->err = fd;
		return fd;
	}
	close(fd);
	res->err = 0;
	return 0;
}

static void probe_progs(struct osh_probe *p)
{
	static const struct {
		const char *name;
		bool required;
		enum bpf_prog_type type;
		enum bpf_attach_type attach;
		int ret;
		const char *btf_func; /* attach target in vmlinux BTF, for lsm and tracing */
	} t[OSH_PROBE_PROG_MAX] = {
		[OSH_PROBE_CGROUP_SOCK_ADDR] = { "cgroup_sock_addr", true,
						 BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
						 BPF_CGROUP_INET4_CONNECT, 1, NULL },
		[OSH_PROBE_CGROUP_SKB] = { "cgroup_skb", true, BPF_PROG_TYPE_CGROUP_SKB,
					   BPF_CGROUP_INET_EGRESS, 1, NULL },
		[OSH_PROBE_CGROUP_SOCK] = { "cgroup_sock", true, BPF_PROG_TYPE_CGROUP_SOCK,
					    BPF_CGROUP_INET_SOCK_CREATE, 1, NULL },
		[OSH_PROBE_RAW_TRACEPOINT] = { "raw_tracepoint", true, BPF_PROG_TYPE_RAW_TRACEPOINT,
					       0, 0, NULL },
		[OSH_PROBE_LSM] = { "lsm", false, BPF_PROG_TYPE_LSM, BPF_LSM_MAC, 0,
				    "bpf_lsm_file_open" },
		[OSH_PROBE_TRACING] = { "tracing", false, BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY,
					0, "vfs_read" },
	};
	struct btf *vmlinux = NULL;
	bool btf_tried = false;

	for (int i = 0; i < OSH_PROBE_PROG_MAX; i++) {
		struct osh_probe_prog *res = &p->progs[i];
		int btf_id = 0;

		res->name = t[i].name;
		res->required = t[i].required;
		if (t[i].btf_func) {
			if (!btf_tried) {
				vmlinux = btf__load_vmlinux_btf();
				if (!vmlinux || libbpf_get_error(vmlinux))
					vmlinux = NULL;
				btf_tried = true;
			}
			if (!vmlinux) {
				res->err = -ENOENT;
				snprintf(res->detail, sizeof(res->detail),
					 "no vmlinux BTF (/sys/kernel/btf/vmlinux)");
				continue;
			}
			btf_id = btf__find_by_name_kind(vmlinux, t[i].btf_func, BTF_KIND_FUNC);
			if (btf_id <= 0) {
				res->err = -ENOENT;
				snprintf(res->detail, sizeof(res->detail), "%s not in vmlinux BTF",
					 t[i].btf_func);
				continue;
			}
		}
		prog_try(t[i].type, t[i].attach, t[i].ret, btf_id, res);
	}
	btf__free(vmlinux);
}

/* clone3 into the cgroup we are in: the call the runner depends on, without creating one. */
static int probe_clone_into_cgroup(const char *mount)
{
	char line[PATH_MAX + 8], path[2 * PATH_MAX];
	struct clone_args args;
	FILE *f;
	int cgfd, status;
	pid_t pid;

	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	path[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(path, sizeof(path), "%s%s", mount, line + 3);
		}
	fclose(f);
	if (!path[0])
		return -ENOENT;
	cgfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return -errno;
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_INTO_CGROUP;
	args.exit_signal = SIGCHLD;
	args.cgroup = (uint64_t)cgfd;
	pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		_exit(0);
	close(cgfd);
	if (pid < 0)
		return -errno;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* The runner's real BPF LSM programs (bpf/fs.bpf.c), loaded and attached as a sandbox would;
 * they only run when bpf is an active LSM, which a successful load does not prove. */
static void probe_bpf_fs(struct osh_probe *p)
{
	struct osh_bpf_fs *fs = NULL;
	char *reason = NULL;

	if (p->lsm_list[0] && !strstr(p->lsm_list, "bpf")) {
		p->bpf_fs = -EOPNOTSUPP;
		snprintf(p->bpf_fs_reason, sizeof(p->bpf_fs_reason),
			 "bpf is not in the kernel's active LSMs (boot with lsm=...,bpf)");
		return;
	}
	p->bpf_fs = osh_bpf_fs_open(2, &fs, &reason);
	if (p->bpf_fs < 0) {
		snprintf(p->bpf_fs_reason, sizeof(p->bpf_fs_reason), "%s",
			 reason ? reason : strerror(-p->bpf_fs));
	} else if (!p->lsm_list[0]) {
		p->bpf_fs = -ENOENT;
		snprintf(p->bpf_fs_reason, sizeof(p->bpf_fs_reason),
			 "the programs load, but securityfs is not mounted: cannot tell whether "
			 "bpf is an active LSM (mount -t securityfs none /sys/kernel/security)");
	}
	free(reason);
	osh_bpf_fs_free(fs);
}

static int probe_userns(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(unshare(CLONE_NEWUSER) == 0 ? 0 : (errno & 0xff));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? -WEXITSTATUS(status) : -EIO;
}

/* In probe.c rather than sandbox.c so that `oshctl doctor` links without the sandbox code. */
const char *osh_mechanism_name(unsigned int mech)
{
	switch (mech) {
	case OSH_MECH_CGROUP:
		return "cgroup";
	case OSH_MECH_IDENTITY:
		return "identity";
	case OSH_MECH_NO_CAPS:
		return "no-caps";
	case OSH_MECH_LANDLOCK:
		return "landlock";
	case OSH_MECH_SECCOMP:
		return "seccomp";
	case OSH_MECH_EGRESS:
		return "egress";
	case OSH_MECH_BPF_LSM:
		return "bpf-lsm";
	default:
		return "unknown";
	}
}

void osh_probe_run(struct osh_probe *p)
{
	struct utsname u;
	struct statfs sfs;
	char *mount = NULL;
	int fd;

	memset(p, 0, sizeof(*p));
	if (uname(&u) == 0)
		snprintf(p->kernel, sizeof(p->kernel), "%s", u.release);
	if (osh_cgroup_mount_find(&mount) == 0) {
		snprintf(p->cgroup2, sizeof(p->cgroup2), "%s", mount);
		p->cgroup_kill = osh_cgroup_has_kill(mount) > 0;
		p->clone_into_cgroup = probe_clone_into_cgroup(mount);
		free(mount);
	} else {
		p->clone_into_cgroup = -ENOENT;
	}
	p->bpffs = statfs("/sys/fs/bpf", &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC;
	fd = open("/sys/kernel/security/lsm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, p->lsm_list, sizeof(p->lsm_list) - 1);

		p->lsm_list[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	probe_progs(p);
	probe_bpf_fs(p);
	p->landlock_abi = osh_landlock_abi();
	p->seccomp = osh_seccomp_available();
	p->userns = probe_userns();

	if (p->cgroup2[0] && p->clone_into_cgroup == 0)
		p->mechanisms |= OSH_MECH_CGROUP;
	else
		p->missing++;
	p->mechanisms |= OSH_MECH_IDENTITY | OSH_MECH_NO_CAPS;
	if (p->landlock_abi > 0)
		p->mechanisms |= OSH_MECH_LANDLOCK;
	else
		p->missing++;
	if (p->seccomp)
		p->mechanisms |= OSH_MECH_SECCOMP;
	else
		p->missing++;
	if (p->bpf_fs == 0)
		p->mechanisms |= OSH_MECH_BPF_LSM;
	for (int i = 0; i < OSH_PROBE_PROG_MAX; i++)
		if (p->progs[i].required && p->progs[i].err)
			p->missing++;
}
