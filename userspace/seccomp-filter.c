// SPDX-License-Identifier: Apache-2.0
// The sandbox's seccomp filter (see seccomp-filter.h). Default allow; EPERM for the syscalls an
// agent has no business making and that would let it leave or blind the sandbox: new namespaces,
// mounts, BPF, tracing other processes, kernel modules/kexec, io_uring (bypasses seccomp for the
// operations it performs), keyrings, disabling ASLR, faking terminal input, and raw/odd sockets.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp-filter.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif

/* Blocked whatever their arguments. */
static const char *const blocked_always[] = {
	"setns",
	/* the mount family, old and new API */
	"mount",
	"umount",
	"umount2",
	"pivot_root",
	"move_mount",
	"open_tree",
	"fsopen",
	"fsconfig",
	"fsmount",
	"fspick",
	"mount_setattr",
	"bpf",
	"perf_event_open",
	"ptrace",
	"process_vm_readv",
	"process_vm_writev",
	"kexec_load",
	"kexec_file_load",
	"init_module",
	"finit_module",
	"delete_module",
	"userfaultfd",
	"io_uring_setup",
	"io_uring_enter",
	"io_uring_register",
	"keyctl",
	"add_key",
	"request_key",
};

/* In clone() the low byte is the exit signal, so CLONE_NEWTIME (0x80) is only a flag for
 * unshare() and clone3(). */
static const unsigned long clone_ns_flags[] = {
	CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID,	CLONE_NEWNET,
};

static const int blocked_families[] = { AF_PACKET, AF_VSOCK, AF_ALG, AF_BLUETOOTH };

static int add(scmp_filter_ctx ctx, int err, const char *name, unsigned int argc,
	       const struct scmp_arg_cmp *args)
{
	int nr = seccomp_syscall_resolve_name(name);

	/* Names unknown on x86_64 (umount) are pseudo numbers libseccomp maps per architecture. */
	if (nr == __NR_SCMP_ERROR)
		return -ENOENT;
	return seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(err), nr, argc, args);
}

static int build_rules(scmp_filter_ctx ctx, const char **ret_failed)
{
	const char *name;
	int r;

#define TRY(nm, call)                                                                              \
	do {                                                                                       \
		name = (nm);                                                                       \
		r = (call);                                                                        \
		if (r < 0)                                                                         \
			goto fail;                                                                 \
	} while (0)

	for (size_t i = 0; i < sizeof(blocked_always) / sizeof(blocked_always[0]); i++)
		TRY(blocked_always[i], add(ctx, EPERM, blocked_always[i], 0, NULL));

	for (size_t i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++) {
		struct scmp_arg_cmp a =
		    SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]);

		TRY("clone", add(ctx, EPERM, "clone", 1, &a));
		TRY("unshare", add(ctx, EPERM, "unshare", 1, &a));
	}
	{
		struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWTIME, CLONE_NEWTIME);

		TRY("unshare", add(ctx, EPERM, "unshare", 1, &a));
	}
	/* clone3 passes its flags in a struct that seccomp cannot read. ENOSYS makes glibc (2.34+
	 * pthread_create, posix_spawn) fall back to clone(), where the flags are checked above; the
	 * same choice Docker and Flatpak make. */
	TRY("clone3", add(ctx, ENOSYS, "clone3", 0, NULL));

	/* personality(ADDR_NO_RANDOMIZE | ...) would switch ASLR off for the next exec.
	 * personality(0xffffffff) only queries and has every bit set, so the rule is "bit 18 set and
	 * some other bit of the 32 clear": one rule per other bit, as libseccomp allows only one
	 * comparison per argument. The argument is an unsigned int, so only the low 32 bits count. */
	for (unsigned int b = 0; b < 32; b++) {
		struct scmp_arg_cmp a;

		if ((1UL << b) == ADDR_NO_RANDOMIZE)
			continue;
		a = SCMP_A0(SCMP_CMP_MASKED_EQ, ADDR_NO_RANDOMIZE | (1UL << b), ADDR_NO_RANDOMIZE);
		TRY("personality", add(ctx, EPERM, "personality", 1, &a));
	}

	/* ioctl's request is an unsigned int: compare the low 32 bits only, or garbage in the upper
	 * half of the register would slip past an exact compare. */
	{
		struct scmp_arg_cmp sti = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TIOCSTI);
		struct scmp_arg_cmp lnx = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TIOCLINUX);

		TRY("ioctl", add(ctx, EPERM, "ioctl", 1, &sti));
		TRY("ioctl", add(ctx, EPERM, "ioctl", 1, &lnx));
	}

	/* socket families, also for socketpair (same argument layout). The domain is an int:
	 * masked compare again. Netlink: only protocol 0 (NETLINK_ROUTE) is allowed; the compare
	 * is on the whole register, so a protocol with garbage in the upper half is refused too. */
	for (int s = 0; s < 2; s++) {
		const char *sc = s ? "socketpair" : "socket";

		for (size_t i = 0; i < sizeof(blocked_families) / sizeof(blocked_families[0]);
		     i++) {
			struct scmp_arg_cmp a =
			    SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffUL, blocked_families[i]);

			TRY(sc, add(ctx, EPERM, sc, 1, &a));
		}
		{
			struct scmp_arg_cmp a[2] = {
				SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffUL, AF_NETLINK),
				SCMP_A2(SCMP_CMP_NE, 0),
			};

			TRY(sc, add(ctx, EPERM, sc, 2, a));
		}
	}
#undef TRY
	return 0;
fail:
	*ret_failed = name;
	return r;
}

/* The filter depends on nothing but this file, so a process builds it once: libseccomp's
 * build and export cost ~1 ms of every sandbox oshd created. */
static struct {
	pthread_mutex_t lock;
	struct osh_seccomp_prog prog;
} built = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int prog_build(struct osh_seccomp_prog *ret, struct osh_sandbox_error *e);

int osh_seccomp_prog_build(struct osh_seccomp_prog *ret, struct osh_sandbox_error *e)
{
	size_t size;
	int r = 0;

	pthread_mutex_lock(&built.lock);
	if (!built.prog.insns)
		r = prog_build(&built.prog, e);
	if (r == 0) {
		size = built.prog.len * sizeof(*built.prog.insns);
		ret->insns = malloc(size);
		if (ret->insns) {
			memcpy(ret->insns, built.prog.insns, size);
			ret->len = built.prog.len;
		} else {
			r = osh_sandbox_error_set(e, ENOMEM, "seccomp", NULL, NULL);
		}
	}
	pthread_mutex_unlock(&built.lock);
	return r;
}

static int prog_build(struct osh_seccomp_prog *ret, struct osh_sandbox_error *e)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	const char *failed = NULL;
	struct osh_seccomp_prog prog = { 0 };
	struct stat st;
	int fd = -1, r;

	if (!ctx)
		return osh_sandbox_error_set(e, ENOMEM, "seccomp", NULL, "seccomp_init failed");
	/* A 32-bit (int 0x80) or x32 syscall would otherwise be judged by a different table - or
	 * bypass the filter. Add the compat ABIs with the same rules; any other architecture is
	 * killed (the bad-arch action). */
	r = seccomp_arch_add(ctx, SCMP_ARCH_X86);
	if (r < 0 && r != -EEXIST)
		goto fail_arch;
	r = seccomp_arch_add(ctx, SCMP_ARCH_X32);
	if (r < 0 && r != -EEXIST)
		goto fail_arch;
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* no_new_privs is set by the child itself, before Landlock. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	/* binary-tree dispatch keeps the filter's cost flat in the number of rules */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

	r = build_rules(ctx, &failed);
	if (r < 0) {
		r = osh_sandbox_error_set(e, r, "seccomp", failed, "adding rule: %s", strerror(-r));
		goto out;
	}
	fd = memfd_create("osh-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		r = osh_sandbox_error_set(e, errno, "seccomp", NULL, "memfd_create: %s",
					  strerror(errno));
		goto out;
	}
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0) {
		r = osh_sandbox_error_set(e, r, "seccomp", NULL, "export: %s", strerror(-r));
		goto out;
	}
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
	    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		r = osh_sandbox_error_set(e, EINVAL, "seccomp", NULL,
					  "exported program has a bad size");
		goto out;
	}
	prog.len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	prog.insns = malloc((size_t)st.st_size);
	if (!prog.insns) {
		r = osh_sandbox_error_set(e, ENOMEM, "seccomp", NULL, NULL);
		goto out;
	}
	if (pread(fd, prog.insns, (size_t)st.st_size, 0) != st.st_size) {
		r = osh_sandbox_error_set(e, errno ? errno : EIO, "seccomp", NULL,
					  "reading export");
		free(prog.insns);
		goto out;
	}
	*ret = prog;
	r = 0;
	goto out;
fail_arch:
	r = osh_sandbox_error_set(e, r, "seccomp", NULL, "adding compat architecture: %s",
				  strerror(-r));
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return r;
}

void osh_seccomp_prog_free(struct osh_seccomp_prog *prog)
{
	if (!prog)
		return;
	free(prog->insns);
	prog->insns = NULL;
	prog->len = 0;
}

int osh_seccomp_prog_load(const struct osh_seccomp_prog *prog)
{
	struct sock_fprog fprog = { .len = prog->len, .filter = prog->insns };

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) < 0)
		return -errno;
	return 0;
}

int osh_seccomp_available(void)
{
	unsigned int action = SECCOMP_RET_ERRNO;

	return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}
