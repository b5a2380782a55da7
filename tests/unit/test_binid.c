// SPDX-License-Identifier: Apache-2.0
// Binary identity (userspace/binid.c): the policy glob dialect (`*`, `?` within a component,
// `**` across them), the kernel's device encoding, and resolution of real files in a temporary
// tree: symlinks stand for their target, a copy is another identity, globs find files at depth;
// and which directories a watcher for files created later must watch.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "binid.h"

static void test_glob_match(void **state)
{
	(void)state;
	assert_true(osh_binid_glob_match("/usr/bin/python3*", "/usr/bin/python3"));
	assert_true(osh_binid_glob_match("/usr/bin/python3*", "/usr/bin/python3.11"));
	assert_false(osh_binid_glob_match("/usr/bin/python3*", "/usr/bin/python2"));
	assert_false(osh_binid_glob_match("/usr/*/node", "/usr/local/bin/node"));
	assert_true(osh_binid_glob_match("/usr/**/node", "/usr/local/bin/node"));
	assert_true(osh_binid_glob_match("/usr/**/node", "/usr/node"));
	assert_false(osh_binid_glob_match("/usr/**/node", "/usr/nodes"));
	assert_true(osh_binid_glob_match("/opt/**", "/opt/a/b/c"));
	assert_true(osh_binid_glob_match("/bin/?s", "/bin/ls"));
	assert_false(osh_binid_glob_match("/bin/?s", "/bin/s"));
	assert_false(osh_binid_glob_match("/a?b", "/a/b"));
	assert_true(osh_binid_glob_match("/exact", "/exact"));
	assert_false(osh_binid_glob_match("/exact", "/exact2"));
}

/* Directories to watch for files a glob may match later: on the way to the wildcard-free prefix,
 * and below it only where the pattern can still match. */
static void test_glob_dir_may_match(void **state)
{
	(void)state;
	assert_true(osh_binid_glob_dir_may_match("/opt/tools/*/bin/agent", "/"));
	assert_true(osh_binid_glob_dir_may_match("/opt/tools/*/bin/agent", "/opt"));
	assert_true(osh_binid_glob_dir_may_match("/opt/tools/*/bin/agent", "/opt/tools"));
	assert_true(osh_binid_glob_dir_may_match("/opt/tools/*/bin/agent", "/opt/tools/x"));
	assert_true(osh_binid_glob_dir_may_match("/opt/tools/*/bin/agent", "/opt/tools/x/bin"));
	assert_false(osh_binid_glob_dir_may_match("/opt/tools/*/bin/agent", "/opt/tools/x/lib"));
	assert_false(osh_binid_glob_dir_may_match("/opt/tools/*/bin/agent", "/opt/other"));
	assert_false(osh_binid_glob_dir_may_match("/opt/tools/*/bin/agent", "/usr"));
	/* As deep as the file itself: nothing below can match. */
	assert_false(
	    osh_binid_glob_dir_may_match("/opt/tools/*/bin/agent", "/opt/tools/x/bin/agent"));
	/* `**` reaches any depth below its parent. */
	assert_true(osh_binid_glob_dir_may_match("/usr/**/node", "/usr/a/b/c/d"));
	assert_false(osh_binid_glob_dir_may_match("/usr/**/node", "/opt/a"));
	assert_true(osh_binid_glob_dir_may_match("/a/*/x/**/y", "/a/b/x/c/d"));
	assert_false(osh_binid_glob_dir_may_match("/a/*/x/**/y", "/a/b/z/c"));
}

static int count_dir(const char *dir, void *ctx)
{
	(void)dir;
	(*(int *)ctx)++;
	return 0;
}

static void test_dev_encode(void **state)
{
	(void)state;
	/* The kernel's MKDEV: major in the upper 12 bits, minor in the lower 20. */
	assert_int_equal(osh_binid_dev_encode(makedev(8, 1)), (8u << 20) | 1u);
	assert_int_equal(osh_binid_dev_encode(makedev(0, 0x2a)), 0x2au);
	assert_int_equal(osh_binid_dev_encode(makedev(259, 70000)), (259u << 20) | 70000u);
}

static void write_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

static void test_resolve(void **state)
{
	char dir[] = "/tmp/osh-test-binid.XXXXXX", p[PATH_MAX], q[PATH_MAX];
	struct osh_binid_set a = { 0 }, b = { 0 };
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/tool", dir);
	write_file(p);
	snprintf(q, sizeof(q), "%s/link", dir);
	assert_int_equal(symlink(p, q), 0);
	/* The symlink resolves to the file it names. */
	assert_int_equal(osh_binid_resolve(p, false, &a), 1);
	assert_int_equal(osh_binid_resolve(q, false, &b), 1);
	assert_int_equal(a.v[0].ino, b.v[0].ino);
	assert_int_equal(a.v[0].dev, b.v[0].dev);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(a.v[0].ino, st.st_ino);
	assert_int_equal(a.v[0].dev, osh_binid_dev_encode(st.st_dev));
	osh_binid_set_free(&b);
	/* A copy is another file. */
	snprintf(q, sizeof(q), "%s/copy", dir);
	write_file(q);
	assert_int_equal(osh_binid_resolve(q, false, &b), 1);
	assert_false(osh_binid_set_contains(&a, &b.v[0]));
	osh_binid_set_free(&b);
	/* Missing: nothing found, not an error. */
	snprintf(q, sizeof(q), "%s/missing", dir);
	assert_int_equal(osh_binid_resolve(q, false, &b), 0);
	/* Globs: one level with `*` (tool, copy; link is the same file as tool), any depth with
	 * `**`. */
	snprintf(q, sizeof(q), "%s/d1", dir);
	assert_int_equal(mkdir(q, 0755), 0);
	snprintf(q, sizeof(q), "%s/d1/d2", dir);
	assert_int_equal(mkdir(q, 0755), 0);
	snprintf(q, sizeof(q), "%s/d1/d2/deep", dir);
	write_file(q);
	snprintf(q, sizeof(q), "%s/*", dir);
	assert_int_equal(osh_binid_resolve(q, true, &b), 2);
	osh_binid_set_free(&b);
	snprintf(q, sizeof(q), "%s/**/deep", dir);
	assert_int_equal(osh_binid_resolve(q, true, &b), 1);
	osh_binid_set_free(&b);
	snprintf(q, sizeof(q), "%s/*/deep", dir);
	assert_int_equal(osh_binid_resolve(q, true, &b), 0);
	osh_binid_set_free(&b);
	{
		/* A symlinked directory is not walked: it could leave the tree or loop. */
		char out[] = "/tmp/osh-test-binid-out.XXXXXX", f[PATH_MAX];

		assert_non_null(mkdtemp(out));
		snprintf(f, sizeof(f), "%s/deep", out);
		write_file(f);
		snprintf(q, sizeof(q), "%s/out", dir);
		assert_int_equal(symlink(out, q), 0);
		snprintf(q, sizeof(q), "%s/**/deep", dir);
		assert_int_equal(osh_binid_resolve(q, true, &b), 1);
		osh_binid_set_free(&b);
		snprintf(q, sizeof(q), "%s/*/deep", dir);
		assert_int_equal(osh_binid_resolve(q, true, &b), 0);
		osh_binid_set_free(&b);
		snprintf(q, sizeof(q), "%s/out", dir);
		assert_int_equal(remove(q), 0);
		assert_int_equal(remove(f), 0);
		assert_int_equal(rmdir(out), 0);
	}
	osh_binid_set_free(&a);
	{
		/* Watch directories: dir itself, d1, d1/d2 for `**`; dir and d1 for `*` /deep. */
		int n = 0;

		snprintf(q, sizeof(q), "%s/**/deep", dir);
		assert_int_equal(osh_binid_glob_dirs(q, count_dir, &n), 3);
		assert_int_equal(n, 3);
		n = 0;
		snprintf(q, sizeof(q), "%s/*/deep", dir);
		assert_int_equal(osh_binid_glob_dirs(q, count_dir, &n), 2);
		/* A prefix that does not exist yet: its deepest existing ancestor is watched. */
		n = 0;
		snprintf(q, sizeof(q), "%s/new/sub/*/x", dir);
		assert_int_equal(osh_binid_glob_dirs(q, count_dir, &n), 1);
		assert_int_equal(osh_binid_glob_dirs("/exact/path", count_dir, &n), -EINVAL);
	}
	{
		static const char *const rm[] = { "d1/d2/deep", "d1/d2", "d1", "copy",
						  "link",	"tool",	 "" };

		for (size_t i = 0; i < sizeof(rm) / sizeof(*rm); i++) {
			snprintf(q, sizeof(q), "%s/%s", dir, rm[i]);
			assert_int_equal(remove(q), 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob_match),
		cmocka_unit_test(test_glob_dir_may_match),
		cmocka_unit_test(test_dev_encode),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests_name("binid", tests, NULL, NULL);
}
