// SPDX-License-Identifier: Apache-2.0
// cgroup-run: loads the connect_deny test program, attaches it to a cgroup, runs one command
// inside that cgroup and exits with its status. Drives the host end-to-end harness's BPF test.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include <bpf/libbpf.h>

#include "connect_deny.skel.h"

#define RUN_EXIT_USAGE 64
#define RUN_EXIT_SETUP 70

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("cgroup-run: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	fputs("cgroup-run: libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: cgroup-run --cgroup DIR --deny-port N -- CMD [ARG...]\n"
		"Attaches cgroup/connect4 and cgroup/connect6 programs denying TCP port N to\n"
		"the cgroup2 directory DIR, runs CMD inside it, exits with CMD's status.\n");
}

/* Starts @argv in the cgroup @cgfd: clone3(CLONE_INTO_CGROUP) so the child never runs a single
 * instruction outside it; on kernels without it, fork and join via cgroup.procs before exec. */
static int spawn_in_cgroup(int cgfd, char **argv, pid_t *ret_pid)
{
	struct clone_args args = {
		.flags = CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = (__u64)cgfd,
	};
	long pid;

	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0 && (errno == ENOSYS || errno == E2BIG)) {
		pid = fork();
		if (pid == 0) {
			int fd = openat(cgfd, "cgroup.procs", O_WRONLY | O_CLOEXEC);

			if (fd < 0 || write(fd, "0\n", 2) != 2) {
				say("joining the cgroup: %s", strerror(errno));
				_exit(RUN_EXIT_SETUP);
			}
			close(fd);
		}
	}
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(argv[0], argv);
		say("exec %s: %s", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	*ret_pid = (pid_t)pid;
	return 0;
}

static int parse_port(const char *s, unsigned short *ret_port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v <= 0 || v > 65535)
		return -EINVAL;
	*ret_port = (unsigned short)v;
	return 0;
}

int main(int argc, char **argv)
{
	const char *cgroup = NULL;
	unsigned short port = 0;
	struct connect_deny *skel = NULL;
	struct bpf_link *link4 = NULL, *link6 = NULL;
	char **cmd = NULL;
	int cgfd = -1, status, r, ret = RUN_EXIT_SETUP;
	pid_t child = -1, w;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			cmd = &argv[i + 1];
			break;
		} else if (strcmp(argv[i], "--cgroup") == 0 && i + 1 < argc) {
			cgroup = argv[++i];
		} else if (strcmp(argv[i], "--deny-port") == 0 && i + 1 < argc) {
			if (parse_port(argv[++i], &port) < 0) {
				say("invalid port '%s': %s", argv[i], strerror(EINVAL));
				return RUN_EXIT_USAGE;
			}
		} else {
			usage();
			return RUN_EXIT_USAGE;
		}
	}
	if (!cgroup || port == 0 || !cmd || !cmd[0]) {
		usage();
		return RUN_EXIT_USAGE;
	}

	libbpf_set_print(libbpf_log);
	cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		say("open cgroup %s: %d (%s)", cgroup, -errno, strerror(errno));
		goto out;
	}
	skel = connect_deny__open();
	if (!skel) {
		say("open skeleton: %d (%s)", -errno, strerror(errno));
		goto out;
	}
	skel->rodata->deny_port = port;
	r = connect_deny__load(skel);
	if (r < 0) {
		say("load: %d (%s)", r, strerror(-r));
		goto out;
	}
	link4 = bpf_program__attach_cgroup(skel->progs.connect_deny4, cgfd);
	if (!link4) {
		r = -errno;
		say("attach connect4 to %s: %d (%s)", cgroup, r, strerror(-r));
		goto out;
	}
	link6 = bpf_program__attach_cgroup(skel->progs.connect_deny6, cgfd);
	if (!link6) {
		r = -errno;
		say("attach connect6 to %s: %d (%s)", cgroup, r, strerror(-r));
		goto out;
	}
	r = spawn_in_cgroup(cgfd, cmd, &child);
	if (r < 0) {
		say("spawn %s in %s: %d (%s)", cmd[0], cgroup, r, strerror(-r));
		goto out;
	}
	do {
		w = waitpid(child, &status, 0);
	} while (w < 0 && errno == EINTR);
	if (w < 0) {
		say("waitpid: %d (%s)", -errno, strerror(errno));
		goto out;
	}
	ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
	/* Destroying the links detaches the programs; the cgroup keeps nothing of ours. */
	bpf_link__destroy(link6);
	bpf_link__destroy(link4);
	connect_deny__destroy(skel);
	if (cgfd >= 0)
		close(cgfd);
	return ret;
}
