// SPDX-License-Identifier: Apache-2.0
// clone3(CLONE_INTO_CGROUP) and the child's path to exec (see sandbox-spawn.h). Everything the
// child needs is computed by the parent beforehand; between clone and exec the child calls only
// async-signal-safe functions and raw syscalls, so this also works from the multi-threaded daemon.
//
// Where the architecture has the trampoline below, the child shares the parent's memory until
// its exec (CLONE_VM | CLONE_VFORK, on a stack of its own), as posix_spawn does: copying the
// daemon's address space cost ~1 ms at clone, and the child's copy-on-write faults and the
// copy's teardown in execve ~2 ms more per exec (perf trace; docs/PERFORMANCE.md).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "landlock.h"
#include "sandbox-spawn.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT		 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

extern char **environ;

/* What a child that failed before exec writes to the CLOEXEC pipe; smaller than PIPE_BUF so the
 * single write is atomic. */
struct child_report {
	int32_t err;
	int32_t status;
	char step[24];
	char subject[224];
};
_Static_assert(sizeof(struct child_report) <= 512, "child report must fit PIPE_BUF");

enum { CHILD_ERR_FD = 3, CHILD_LANDLOCK_FD = 4, CHILD_FIRST_CLOSE = 5 };

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < size; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

static _Noreturn void child_fail(int err, const char *step, const char *subject, int status)
{
	struct child_report rep = { .err = err, .status = status };
	ssize_t n;

	copy_str(rep.step, sizeof(rep.step), step);
	copy_str(rep.subject, sizeof(rep.subject), subject);
	do
		n = write(CHILD_ERR_FD, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	_exit(status);
}

static void close_from(unsigned int first)
{
	if (syscall(SYS_close_range, first, ~0U, 0) == 0)
		return;
	/* before 5.9: close by number up to the descriptor limit */
	struct rlimit rl;
	unsigned long max = 65536;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < 1048576)
		max = rl.rlim_max;
	for (unsigned long fd = first; fd < max; fd++)
		close((int)fd);
}

/* Empties permitted/effective/inheritable and the bounding and ambient sets. */
static int caps_drop_all(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL) /* past the kernel's last capability */
			break;
		/* EPERM: no CAP_SETPCAP, i.e. an unprivileged caller; fine only if it holds no
		 * capability at all (then no_new_privs keeps it that way). */
		if (syscall(SYS_capget, &hdr, data) < 0)
			return -errno;
		if (data[0].permitted || data[1].permitted)
			return -EPERM;
		memset(data, 0, sizeof(data));
		break;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	hdr.pid = 0;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

/* PATH search as a shell does it: a directory the sandbox may not search is skipped, so a
 * command found nowhere is "not found" (127) even when some PATH entry was unreadable - execvp
 * would report EACCES for that. A file that exists but cannot be executed is 126. */
/* A file without #! line is run by /bin/sh, as execvp and shells do. */
static void exec_noexec_script(const char *file, char *const *argv, char *const *envp)
{
	size_t argc = 0;

	while (argv[argc])
		argc++;
	{
		char *sh_argv[argc + 2];

		sh_argv[0] = (char *)"/bin/sh";
		sh_argv[1] = (char *)file;
		for (size_t i = 1; i <= argc; i++)
			sh_argv[i + 1] = argv[i];
		execve("/bin/sh", sh_argv, envp);
	}
}

static _Noreturn void child_exec(char *const *argv, char *const *envp)
{
	const char *file = argv[0], *path = NULL, *dir;
	bool seen_eacces = false;
	char buf[PATH_MAX];
	struct stat st;

	if (strchr(file, '/')) {
		execve(file, argv, envp);
		if (errno == ENOEXEC)
			exec_noexec_script(file, argv, envp);
		child_fail(errno, "exec", file,
			   errno == ENOENT ? OSH_EXIT_NOT_FOUND : OSH_EXIT_CANNOT_EXEC);
	}
	for (char *const *e = envp; *e; e++)
		if (!strncmp(*e, "PATH=", 5)) {
			path = *e + 5;
			break;
		}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (dir = path;; dir++) {
		const char *end = strchr(dir, ':');
		size_t dlen = end ? (size_t)(end - dir) : strlen(dir), flen = strlen(file);

		if (dlen + flen + 2 <= sizeof(buf)) {
			memcpy(buf, dlen ? dir : ".", dlen ? dlen : 1);
			if (!dlen)
				dlen = 1;
			buf[dlen] = '/';
			memcpy(buf + dlen + 1, file, flen + 1);
			execve(buf, argv, envp);
			if (errno == ENOEXEC)
				exec_noexec_script(buf, argv, envp);
			if (errno == EACCES && stat(buf, &st) == 0 && S_ISREG(st.st_mode))
				seen_eacces = true;
			else if (errno != EACCES && errno != ENOENT && errno != ENOTDIR &&
				 errno != ELOOP && errno != ENAMETOOLONG && errno != ESTALE)
				child_fail(errno, "exec", buf, OSH_EXIT_CANNOT_EXEC);
		}
		if (!end)
			break;
		dir = end;
	}
	if (seen_eacces)
		child_fail(EACCES, "exec", file, OSH_EXIT_CANNOT_EXEC);
	child_fail(ENOENT, "exec", file, OSH_EXIT_NOT_FOUND);
}

static _Noreturn void child_run(const struct osh_spawn_params *p, int err_fd, pid_t parent)
{
	int ll_fd = p->landlock_fd, io[3] = { -1, -1, -1 }, r;
	sigset_t none;

	/* Descriptors first, so nothing inherited survives any later step: keep stdio, the error
	 * pipe (CLOEXEC: it closes itself on a successful exec) and the Landlock ruleset. The
	 * caller's stdio descriptors may be any numbers, 3 and 4 or a permutation of 0..2
	 * included: each is copied out of the way before anything is moved onto 0..4. */
	for (int i = 0; p->stdio && i < 3; i++)
		if (p->stdio[i] >= 0 && (io[i] = fcntl(p->stdio[i], F_DUPFD_CLOEXEC, 64)) < 0)
			_exit(OSH_EXIT_CANNOT_EXEC);
	err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 64);
	if (ll_fd >= 0)
		ll_fd = fcntl(ll_fd, F_DUPFD_CLOEXEC, 64);
	if (err_fd < 0 || dup3(err_fd, CHILD_ERR_FD, O_CLOEXEC) < 0)
		_exit(OSH_EXIT_CANNOT_EXEC);
	if (p->landlock_fd >= 0 && (ll_fd < 0 || dup3(ll_fd, CHILD_LANDLOCK_FD, O_CLOEXEC) < 0))
		child_fail(errno, "descriptors", NULL, OSH_EXIT_CANNOT_EXEC);
	/* dup2 clears CLOEXEC on the copy: 0..2 survive exec, the high copies do not. */
	for (int i = 0; i < 3; i++)
		if (io[i] >= 0 && dup2(io[i], i) < 0)
			child_fail(errno, "descriptors", NULL, OSH_EXIT_CANNOT_EXEC);
	close_from(CHILD_FIRST_CLOSE);
	/* Its own session and process group, so a signal can reach the command and everything
	 * it starts (kill(-pid)) and nothing else. */
	if (p->new_session && setsid() < 0)
		child_fail(errno, "setsid", NULL, OSH_EXIT_CANNOT_EXEC);

	if (p->sig_default)
		for (int s = 1; s < NSIG; s++)
			if (sigismember(p->sig_default, s) == 1)
				signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* The bounding set can only be dropped while CAP_SETPCAP is held, and the ids can only be
	 * changed while CAP_SETUID/SETGID are: bounding set and ambient first, ids, then the rest. */
	for (int cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
			break;
	/* Raw syscalls, not libc's: glibc applies id changes to every thread it knows of, and
	 * after a raw clone3 from a multi-threaded parent (the daemon) its thread list still
	 * names the parent's threads. The child has exactly one thread. */
	if (p->set_ids) {
		if (syscall(SYS_setgroups, 0, NULL) < 0)
			child_fail(errno, "setgroups", NULL, OSH_EXIT_CANNOT_EXEC);
		if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
			child_fail(errno, "setgid", NULL, OSH_EXIT_CANNOT_EXEC);
		if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
			child_fail(errno, "setuid", NULL, OSH_EXIT_CANNOT_EXEC);
	}
	r = caps_drop_all();
	if (r < 0)
		child_fail(-r, "capabilities", NULL, OSH_EXIT_CANNOT_EXEC);
	if (p->kill_with_parent) {
		/* Cleared by a credential change, so set after it; a parent already gone is caught
		 * by the ppid check. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			child_fail(errno, "pdeathsig", NULL, OSH_EXIT_CANNOT_EXEC);
		if (getppid() != parent)
			_exit(OSH_EXIT_CANNOT_EXEC);
	}
	if (p->workdir && chdir(p->workdir) < 0)
		child_fail(errno, "chdir", p->workdir, OSH_EXIT_CANNOT_EXEC);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(errno, "no_new_privs", NULL, OSH_EXIT_CANNOT_EXEC);
	if (setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 }) < 0)
		child_fail(errno, "rlimit_core", NULL, OSH_EXIT_CANNOT_EXEC);
	/* Until exec (which recomputes it) nobody of the target uid may ptrace or read this
	 * process, which still holds the parent's memory (shared, or a copy). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		child_fail(errno, "dumpable", NULL, OSH_EXIT_CANNOT_EXEC);
	if (p->landlock_fd >= 0) {
		r = osh_landlock_restrict_self(CHILD_LANDLOCK_FD);
		if (r < 0)
			child_fail(-r, "landlock", NULL, OSH_EXIT_CANNOT_EXEC);
		close(CHILD_LANDLOCK_FD);
	}
	if (p->seccomp) {
		r = osh_seccomp_prog_load(p->seccomp);
		if (r < 0)
			child_fail(-r, "seccomp", NULL, OSH_EXIT_CANNOT_EXEC);
	}
	child_exec(p->argv, p->envp ? p->envp : environ);
}

/* clone3 that runs fn(arg) in the child on the stack the clone_args name and exits the child
 * with its return value; the parent gets the pid or -errno. glibc has no public clone3 (2.39's
 * pidfd_spawn takes a cgroup but runs none of our steps between clone and exec), and C code
 * cannot return from the syscall onto a fresh stack. Sanitizer builds keep the fork-style path:
 * their run-time state is per process and must not be shared with the child. */
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define HAVE_CLONE3_FN 1
#define OSH_STR_(x)    #x
#define OSH_STR(x)     OSH_STR_(x)
long osh_clone3_fn(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
/* The kernel keeps every register but rax, rcx and r11 across the syscall, in both processes;
 * the child's rsp is the top of its stack, 16-byte aligned, so the call aligns fn's frame. */
/* clang-format off */
__asm__(".text\n"
	".globl osh_clone3_fn\n"
	".hidden osh_clone3_fn\n"
	".type osh_clone3_fn,@function\n"
	"osh_clone3_fn:\n"
	"	mov %rdx, %r8\n"
	"	mov %rcx, %r9\n"
	"	mov $" OSH_STR(SYS_clone3) ", %eax\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	xor %ebp, %ebp\n"
	"	mov %r9, %rdi\n"
	"	call *%r8\n"
	"	mov %eax, %edi\n"
	"	mov $" OSH_STR(SYS_exit) ", %eax\n"
	"	syscall\n"
	"	hlt\n"
	"1:	ret\n"
	".size osh_clone3_fn, .-osh_clone3_fn\n");
/* clang-format on */

struct child_args {
	const struct osh_spawn_params *p;
	int err_fd, read_fd;
	pid_t parent;
};

static int child_main(void *arg)
{
	const struct child_args *a = arg;

	close(a->read_fd);
	child_run(a->p, a->err_fd, a->parent);
}

/* The child's stack: its frames, a script's argv copy (exec_noexec_script), a guard page. */
static size_t child_stack_size(const struct osh_spawn_params *p)
{
	size_t argc = 0, page = (size_t)sysconf(_SC_PAGESIZE);

	while (p->argv[argc])
		argc++;
	return (64 * 1024 + (argc + 2) * sizeof(char *) + page - 1) / page * page + page;
}
#endif

static const char clone3_call[] = "clone3(CLONE_INTO_CGROUP)";

/* Starts the child in the cgroup with the pipe's write end pipefd[1]. Returns its pid, or
 * -errno with *what the call that failed; the fork-style path's child never returns. */
static pid_t clone_child(const struct osh_spawn_params *p, const int pipefd[2], pid_t parent,
			 int *pidfd, const char **what)
{
	struct clone_args args;
	pid_t pid;

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_INTO_CGROUP | CLONE_PIDFD;
	args.pidfd = (uint64_t)(uintptr_t)pidfd;
	args.exit_signal = SIGCHLD;
	args.cgroup = (uint64_t)p->cgroup_fd;
#ifdef HAVE_CLONE3_FN
	{
		struct child_args ca = {
			.p = p, .err_fd = pipefd[1], .read_fd = pipefd[0], .parent = parent
		};
		size_t size = child_stack_size(p), page = (size_t)sysconf(_SC_PAGESIZE);
		void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

		*what = "the child's stack (mmap)";
		if (stack == MAP_FAILED)
			return -errno;

		/* The child takes the sandbox's uid while it shares this memory, which that uid
		 * must not be able to attach to or read; dumpable is a property of the memory, so
		 * it is cleared here, for good (another thread may be spawning at any time). */
		*what = "prctl(PR_SET_DUMPABLE, 0)";
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
			int err = errno;

			munmap(stack, size);
			return -err;
		}
		*what = "the child's stack guard (mprotect)";
		if (mprotect(stack, page, PROT_NONE) < 0) {
			int err = errno;

			munmap(stack, size);
			return -err;
		}
		/* This thread sleeps until the child's exec or exit (CLONE_VFORK): the stack and
		 * ca outlive the child's use of them. */
		args.flags |= CLONE_VM | CLONE_VFORK;
		args.stack = (uint64_t)(uintptr_t)stack;
		args.stack_size = size;
		*what = clone3_call;
		pid = (pid_t)osh_clone3_fn(&args, sizeof(args), child_main, &ca);
		munmap(stack, size);
		return pid;
	}
#else
	pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0) {
		close(pipefd[0]);
		child_run(p, pipefd[1], parent);
	}
	return pid < 0 ? -errno : pid;
#endif
}

int osh_spawn(const struct osh_spawn_params *p, pid_t *ret_pid, int *ret_pidfd, int *ret_status,
	      struct osh_sandbox_error *e)
{
	struct child_report rep;
	const char *what = clone3_call;
	int pipefd[2], pidfd = -1, status;
	pid_t parent = getpid(), pid;
	size_t got = 0;

	if (!p->argv || !p->argv[0])
		return osh_sandbox_error_set(e, EINVAL, "exec", NULL, "no command given");
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return osh_sandbox_error_set(e, errno, "spawn", NULL, "pipe: %s", strerror(errno));
	pid = clone_child(p, pipefd, parent, &pidfd, &what);
	if (pid < 0) {
		int err = -pid;

		close(pipefd[0]);
		close(pipefd[1]);
		return osh_sandbox_error_set(e, err, "spawn", NULL, "%s: %s%s", what, strerror(err),
					     (err == ENOSYS || err == E2BIG) && what == clone3_call
						 ? " (kernel older than 5.7)"
						 : "");
	}
	close(pipefd[1]);
	while (got < sizeof(rep)) {
		ssize_t n = read(pipefd[0], (char *)&rep + got, sizeof(rep) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(pipefd[0]);
	if (got == 0) {
		*ret_pid = pid;
		*ret_pidfd = pidfd;
		return 0;
	}
	/* The child failed before exec (or died half-way through its report): reap it here. */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(pidfd);
	if (got != sizeof(rep)) {
		*ret_status = OSH_EXIT_CANNOT_EXEC;
		return osh_sandbox_error_set(e, EIO, "spawn", NULL, "child died during set-up");
	}
	rep.step[sizeof(rep.step) - 1] = '\0';
	rep.subject[sizeof(rep.subject) - 1] = '\0';
	*ret_status = rep.status;
	return osh_sandbox_error_set(e, rep.err > 0 ? rep.err : EIO, rep.step, rep.subject, NULL);
}
