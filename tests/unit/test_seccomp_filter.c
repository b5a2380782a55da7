// SPDX-License-Identifier: Apache-2.0
// The seccomp filter (userspace/seccomp-filter.c) loaded for real in a child process: refused
// calls fail with EPERM (clone3 with ENOSYS), neighbours that must keep working still do, and a
// bad argument in the upper half of a register does not slip past an int-sized compare.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "seccomp-filter.h"

/* Runs the calls in a child under the filter; each check's errno (0 = success) is sent back. */
enum { N_CHECKS = 10 };

static void child_checks(int fd)
{
	int res[N_CHECKS];
	struct clone_args ca = { .exit_signal = SIGCHLD };
	long r;
	int s;

#define CHECK(i, call)                                                                             \
	do {                                                                                       \
		errno = 0;                                                                         \
		r = (call);                                                                        \
		res[i] = r < 0 ? errno : 0;                                                        \
	} while (0)

	CHECK(0, syscall(SYS_unshare, CLONE_NEWUSER));
	CHECK(1, syscall(SYS_unshare, CLONE_FS));
	CHECK(2, syscall(SYS_clone3, &ca, sizeof(ca)));
	if (r == 0)
		_exit(0);
	CHECK(3, syscall(SYS_personality, ADDR_NO_RANDOMIZE));
	CHECK(4, syscall(SYS_personality, 0xffffffffUL));
	CHECK(5, s = socket(AF_NETLINK, SOCK_RAW, 9 /* NETLINK_AUDIT */));
	CHECK(6, s = socket(AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */));
	/* AF_PACKET with garbage above the int: the kernel sees AF_PACKET, so must the filter */
	CHECK(7, syscall(SYS_socket, (1UL << 32) | AF_PACKET, SOCK_RAW, 0));
	CHECK(8, syscall(SYS_ioctl, 0, TIOCSTI | (1UL << 32), "x"));
	CHECK(9, syscall(SYS_mount, "none", "/", "tmpfs", 0, NULL));
#undef CHECK
	(void)!write(fd, res, sizeof(res));
	_exit(0);
}

static void test_filter_in_child(void **state)
{
	struct osh_seccomp_prog prog = { 0 };
	struct osh_sandbox_error e;
	int p[2], res[N_CHECKS], status;
	pid_t pid;

	(void)state;
	assert_int_equal(osh_seccomp_available(), 1);
	assert_int_equal(osh_seccomp_prog_build(&prog, &e), 0);
	assert_true(prog.len > 10);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || osh_seccomp_prog_load(&prog) < 0)
			_exit(3);
		child_checks(p[1]);
	}
	close(p[1]);
	assert_int_equal(read(p[0], res, sizeof(res)), sizeof(res));
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	osh_seccomp_prog_free(&prog);

	assert_int_equal(res[0], EPERM);  /* unshare(CLONE_NEWUSER) */
	assert_int_equal(res[1], 0);	  /* unshare(CLONE_FS) */
	assert_int_equal(res[2], ENOSYS); /* clone3 */
	assert_int_equal(res[3], EPERM);  /* personality(ADDR_NO_RANDOMIZE) */
	assert_int_equal(res[4], 0);	  /* personality query */
	assert_int_equal(res[5], EPERM);  /* NETLINK_AUDIT */
	assert_int_equal(res[6], 0);	  /* NETLINK_ROUTE */
	assert_int_equal(res[7], EPERM);  /* AF_PACKET, upper bits set */
	assert_int_equal(res[8], EPERM);  /* TIOCSTI, upper bits set */
	assert_int_equal(res[9], EPERM);  /* mount */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_in_child),
	};

	return cmocka_run_group_tests_name("seccomp_filter", tests, NULL, NULL);
}
