// SPDX-License-Identifier: Apache-2.0
// Makes one syscall the sandbox's seccomp filter refuses and prints "ok" or the errno name, so
// the end-to-end tests can show each rule fails inside (EPERM) and reaches the kernel outside.
// Where the kernel itself wants a privilege, the probe first enters a fresh user namespace
// (which works outside a sandbox) or uses arguments the kernel rejects after its own checks.
//
//   sys-probe [--osh-filter] CMD [ARG]
//   --osh-filter   load osh's filter (userspace/seccomp-filter.c) first, keeping every
//                  privilege: shows the filter alone refuses the call, whoever makes it
//   hold-userns    create a user namespace, print its /proc path, sleep until killed
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>

#include "seccomp-filter.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

static const struct {
	int e;
	const char *name;
} errno_names[] = {
	{ EPERM, "EPERM" },
	{ ENOENT, "ENOENT" },
	{ ESRCH, "ESRCH" },
	{ EINTR, "EINTR" },
	{ EIO, "EIO" },
	{ EBADF, "EBADF" },
	{ ECHILD, "ECHILD" },
	{ EAGAIN, "EAGAIN" },
	{ ENOMEM, "ENOMEM" },
	{ EACCES, "EACCES" },
	{ EFAULT, "EFAULT" },
	{ EBUSY, "EBUSY" },
	{ EEXIST, "EEXIST" },
	{ EXDEV, "EXDEV" },
	{ ENODEV, "ENODEV" },
	{ ENOTDIR, "ENOTDIR" },
	{ EISDIR, "EISDIR" },
	{ EINVAL, "EINVAL" },
	{ ENFILE, "ENFILE" },
	{ EMFILE, "EMFILE" },
	{ ENOTTY, "ENOTTY" },
	{ ENOSPC, "ENOSPC" },
	{ ESPIPE, "ESPIPE" },
	{ EROFS, "EROFS" },
	{ ENOSYS, "ENOSYS" },
	{ ENOEXEC, "ENOEXEC" },
	{ EOPNOTSUPP, "EOPNOTSUPP" },
	{ EAFNOSUPPORT, "EAFNOSUPPORT" },
	{ EPROTONOSUPPORT, "EPROTONOSUPPORT" },
	{ ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT" },
	{ ENOKEY, "ENOKEY" },
	{ EKEYREJECTED, "EKEYREJECTED" },
	{ E2BIG, "E2BIG" },
	{ ENAMETOOLONG, "ENAMETOOLONG" },
	{ EPROTOTYPE, "EPROTOTYPE" },
	{ EUSERS, "EUSERS" },
	{ EBADMSG, "EBADMSG" },
	{ ENOPKG, "ENOPKG" },
};

static const char *errno_name(int e)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (errno_names[i].e == e)
			return errno_names[i].name;
	return NULL;
}

static int report(long rc)
{
	int e = errno;
	const char *name;

	if (rc >= 0) {
		printf("ok\n");
		return 0;
	}
	name = errno_name(e);
	if (name)
		printf("%s\n", name);
	else
		printf("errno%d\n", e);
	return 1;
}

/* For calls the kernel only allows with a capability in the caller's user namespace. Outside a
 * sandbox this works for any user; inside, unshare is refused and the call shows the filter. */
static void enter_userns(int extra)
{
	(void)syscall(SYS_unshare, CLONE_NEWUSER | extra);
}

static long do_clone_ns(void)
{
	long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

static long do_clone3(void)
{
	struct clone_args a = { .exit_signal = SIGCHLD };
	long pid = syscall(SYS_clone3, &a, sizeof(a));

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

/* Without a path: setns(-1) is EBADF from the kernel, EPERM from the filter. (A sandboxed
 * process cannot open another process's namespace files anyway: Landlock refuses ptrace-mode
 * access to processes outside its domain.) */
static long do_setns(const char *path)
{
	int fd;

	if (!path)
		return syscall(SYS_setns, -1, 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "sys-probe: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	return syscall(SYS_setns, fd, 0);
}

static long do_ptrace(void)
{
	pid_t child = fork();
	long r;

	if (child == 0) {
		pause();
		_exit(0);
	}
	r = ptrace(PTRACE_SEIZE, child, 0, 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return r;
}

static long do_pvr(void)
{
	char src[8] = "osh", dst[8];
	struct iovec l = { dst, sizeof(dst) }, rm = { src, sizeof(src) };

	return syscall(SYS_process_vm_readv, getpid(), &l, 1, &rm, 1, 0);
}

static long do_perf(void)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(a),
		.config = PERF_COUNT_SW_TASK_CLOCK,
		.exclude_kernel = 1,
		.exclude_hv = 1,
	};

	return syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static long do_bpf(void)
{
	union bpf_attr a;

	/* BPF_OBJ_GET needs no privilege of its own: a missing pin is ENOENT. */
	memset(&a, 0, sizeof(a));
	a.pathname = (uint64_t)(uintptr_t) "/sys/fs/bpf/osh-test-nonexistent";
	return syscall(SYS_bpf, BPF_OBJ_GET, &a, sizeof(a));
}

static long do_io_uring_setup(void)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	return syscall(SYS_io_uring_setup, 4, &p);
}

/* TIOCSTI needs the terminal to be the caller's controlling one: a child makes a new session
 * and takes a fresh pty's slave as its terminal. */
static long do_tiocsti(unsigned long cmd)
{
	int status, p[2];
	long r = -1;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int m = posix_openpt(O_RDWR | O_NOCTTY), s, e = 0;
		char c = 'x';

		close(p[0]);
		if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || setsid() < 0 ||
		    (s = open(ptsname(m), O_RDWR)) < 0 || syscall(SYS_ioctl, s, cmd, &c) < 0)
			e = errno;
		(void)!write(p[1], &e, sizeof(e));
		_exit(0);
	}
	close(p[1]);
	if (pid > 0) {
		int e = EIO;

		if (read(p[0], &e, sizeof(e)) == sizeof(e) && e == 0)
			r = 0;
		errno = e;
		waitpid(pid, &status, 0);
	}
	close(p[0]);
	return r;
}

static long do_tioclinux(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	char sub = 12; /* TIOCL_GETFGCONSOLE-ish subcode; a pty has no such ioctl anyway */

	if (m < 0)
		return -1;
	return syscall(SYS_ioctl, m, (unsigned long)TIOCLINUX, &sub);
}

static long do_socket(int family, int type, int proto, int pair)
{
	int sv[2];

	/* packet sockets need CAP_NET_RAW in the socket's network namespace */
	if (family == AF_PACKET)
		enter_userns(CLONE_NEWNET);
	if (pair)
		return socketpair(family, type, proto, sv);
	return socket(family, type, proto);
}

/* unshare(CLONE_NEWUSER) through the i386 entry point (int 0x80, syscall 310), which a filter
 * for x86_64 alone would not see. */
static sigjmp_buf int80_jmp;

static void int80_fault(int sig)
{
	siglongjmp(int80_jmp, sig);
}

static long do_int80_unshare(void)
{
	long ret;

	/* Kernels without 32-bit emulation at run time (ia32_emulation=0, some VMs) have no int
	 * 0x80 gate: the instruction faults. Say so instead of crashing. */
	signal(SIGSEGV, int80_fault);
	signal(SIGBUS, int80_fault);
	if (sigsetjmp(int80_jmp, 1)) {
		printf("unavailable\n");
		exit(3);
	}

	/* the compat entry does not preserve r8-r11 for 64-bit callers */
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(310L), "b"((long)CLONE_NEWUSER)
			 : "memory", "r8", "r9", "r10", "r11");
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

static int hold_userns(void)
{
	if (unshare(CLONE_NEWUSER) < 0) {
		perror("sys-probe: unshare");
		return 1;
	}
	printf("/proc/%d/ns/user\n", getpid());
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	const char *cmd, *arg;
	int i = 1;

	if (argc > 1 && !strcmp(argv[1], "--osh-filter")) {
		struct osh_seccomp_prog prog;
		struct osh_sandbox_error e;

		if (osh_seccomp_prog_build(&prog, &e) < 0 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || osh_seccomp_prog_load(&prog) < 0) {
			fprintf(stderr, "sys-probe: cannot load osh's filter\n");
			return 2;
		}
		osh_seccomp_prog_free(&prog);
		i++;
	}
	if (argc <= i) {
		fprintf(stderr, "usage: sys-probe [--osh-filter] CMD [ARG]\n");
		return 2;
	}
	cmd = argv[i];
	arg = argc > i + 1 ? argv[i + 1] : NULL;

	if (!strcmp(cmd, "hold-userns"))
		return hold_userns();
	if (!strcmp(cmd, "unshare"))
		return report(syscall(SYS_unshare, CLONE_NEWUSER));
	if (!strcmp(cmd, "unshare-fs")) /* not a namespace: must stay allowed */
		return report(syscall(SYS_unshare, CLONE_FS));
	if (!strcmp(cmd, "clone-ns"))
		return report(do_clone_ns());
	if (!strcmp(cmd, "clone3"))
		return report(do_clone3());
	if (!strcmp(cmd, "fork")) { /* plain clone: must stay allowed */
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		return report(pid);
	}
	if (!strcmp(cmd, "setns"))
		return report(do_setns(arg));
	if (!strcmp(cmd, "mount")) {
		enter_userns(CLONE_NEWNS);
		return report(mount("osh", "/tmp", "tmpfs", 0, ""));
	}
	if (!strcmp(cmd, "umount")) {
		enter_userns(CLONE_NEWNS);
		(void)mount("osh", "/tmp", "tmpfs", 0, "");
		return report(umount2("/tmp", 0));
	}
	if (!strcmp(cmd, "pivot_root")) {
		enter_userns(CLONE_NEWNS);
		return report(syscall(SYS_pivot_root, "/osh-nonexistent", "/osh-nonexistent"));
	}
	if (!strcmp(cmd, "move_mount")) {
		enter_userns(CLONE_NEWNS);
		return report(syscall(SYS_move_mount, AT_FDCWD, "/osh-nonexistent", AT_FDCWD,
				      "/osh-nonexistent", 0));
	}
	if (!strcmp(cmd, "open_tree"))
		return report(syscall(SYS_open_tree, AT_FDCWD, "/osh-nonexistent", 0));
	if (!strcmp(cmd, "fsopen")) {
		enter_userns(CLONE_NEWNS);
		return report(syscall(SYS_fsopen, "tmpfs", 0));
	}
	if (!strcmp(cmd, "fsconfig"))
		return report(syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0));
	if (!strcmp(cmd, "fsmount")) {
		enter_userns(CLONE_NEWNS);
		return report(syscall(SYS_fsmount, -1, 0, 0));
	}
	if (!strcmp(cmd, "fspick")) {
		enter_userns(CLONE_NEWNS);
		return report(syscall(SYS_fspick, AT_FDCWD, "/osh-nonexistent", 0));
	}
	if (!strcmp(cmd, "mount_setattr"))
		return report(syscall(SYS_mount_setattr, AT_FDCWD, "/osh-nonexistent", 0, NULL, 0));
	if (!strcmp(cmd, "bpf"))
		return report(do_bpf());
	if (!strcmp(cmd, "perf"))
		return report(do_perf());
	if (!strcmp(cmd, "ptrace"))
		return report(do_ptrace());
	if (!strcmp(cmd, "pvr"))
		return report(do_pvr());
	if (!strcmp(cmd, "pvw")) {
		char src[8] = "osh", dst[8];
		struct iovec l = { src, sizeof(src) }, rm = { dst, sizeof(dst) };

		return report(syscall(SYS_process_vm_writev, getpid(), &l, 1, &rm, 1, 0));
	}
	if (!strcmp(cmd, "kexec")) /* invalid flags: EINVAL once the caller may kexec at all */
		return report(syscall(SYS_kexec_file_load, -1, -1, 0, NULL, ~0UL));
	if (!strcmp(cmd, "kexec_load"))
		return report(syscall(SYS_kexec_load, 0, 0, NULL, ~0UL));
	if (!strcmp(cmd, "module") || !strcmp(cmd, "finit_module"))
		return report(syscall(SYS_finit_module, -1, "", 0));
	if (!strcmp(cmd, "init_module"))
		return report(syscall(SYS_init_module, NULL, 0, ""));
	if (!strcmp(cmd, "delete_module"))
		return report(syscall(SYS_delete_module, "osh_test_nonexistent", O_NONBLOCK));
	if (!strcmp(cmd, "userfaultfd"))
		return report(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
	if (!strcmp(cmd, "io_uring"))
		return report(do_io_uring_setup());
	if (!strcmp(cmd, "io_uring_enter"))
		return report(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
	if (!strcmp(cmd, "io_uring_register"))
		return report(syscall(SYS_io_uring_register, -1, 0, NULL, 0));
	if (!strcmp(cmd, "keyctl"))
		return report(
		    syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1));
	if (!strcmp(cmd, "add_key"))
		return report(
		    syscall(SYS_add_key, "user", "osh-test", "x", 1, KEY_SPEC_PROCESS_KEYRING));
	if (!strcmp(cmd, "request_key"))
		return report(syscall(SYS_request_key, "user", "osh-test-nonexistent", NULL, 0));
	if (!strcmp(cmd, "personality"))
		return report(syscall(SYS_personality, ADDR_NO_RANDOMIZE));
	if (!strcmp(cmd, "personality-query")) /* must stay allowed */
		return report(syscall(SYS_personality, 0xffffffffUL));
	if (!strcmp(cmd, "tiocsti"))
		return report(do_tiocsti(TIOCSTI));
	if (!strcmp(cmd, "tiocsti-hi")) /* garbage in the upper half of the request */
		return report(do_tiocsti(TIOCSTI | (1UL << 32)));
	if (!strcmp(cmd, "tioclinux"))
		return report(do_tioclinux());
	if (!strcmp(cmd, "socket-packet"))
		return report(do_socket(AF_PACKET, SOCK_RAW, 0, 0));
	if (!strcmp(cmd, "socket-vsock"))
		return report(do_socket(AF_VSOCK, SOCK_STREAM, 0, 0));
	if (!strcmp(cmd, "socket-alg"))
		return report(do_socket(AF_ALG, SOCK_SEQPACKET, 0, 0));
	if (!strcmp(cmd, "socket-bt"))
		return report(do_socket(AF_BLUETOOTH, SOCK_SEQPACKET, 0, 0));
	if (!strcmp(cmd, "socket-netlink-route")) /* must stay allowed */
		return report(do_socket(AF_NETLINK, SOCK_RAW, 0, 0));
	if (!strcmp(cmd, "socket-netlink-audit"))
		return report(do_socket(AF_NETLINK, SOCK_RAW, 9 /* NETLINK_AUDIT */, 0));
	if (!strcmp(cmd, "socketpair-netlink-audit"))
		return report(do_socket(AF_NETLINK, SOCK_RAW, 9, 1));
	if (!strcmp(cmd, "socket-unix")) /* must stay allowed */
		return report(do_socket(AF_UNIX, SOCK_STREAM, 0, 0));
	if (!strcmp(cmd, "int80-unshare"))
		return report(do_int80_unshare());
	fprintf(stderr, "sys-probe: unknown command '%s'\n", cmd);
	return 2;
}
