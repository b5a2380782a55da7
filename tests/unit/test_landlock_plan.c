// SPDX-License-Identifier: Apache-2.0
// The Landlock plan (userspace/landlock-plan.c) on a real temporary directory tree: access rights
// per ABI, deny paths turned into sibling rules, symlinks never granted, best_effort warnings
// versus hard_requirement errors.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "landlock-plan.h"

struct tree {
	char root[64];
};

static void path_of(const struct tree *t, const char *rel, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", t->root, *rel ? "/" : "", rel);
}

static void mk(const struct tree *t, const char *rel, int dir)
{
	char p[PATH_MAX];
	int fd;

	path_of(t, rel, p, sizeof(p));
	if (dir) {
		assert_int_equal(mkdir(p, 0755), 0);
		return;
	}
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
}

/* T/{a, b/x, secret/key, link -> secret, deep/d1/{.env, other}, deep/d2/y} */
static int tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	char p[PATH_MAX];

	assert_non_null(t);
	snprintf(t->root, sizeof(t->root), "/tmp/osh-unit-llplan-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	mk(t, "a", 0);
	mk(t, "b", 1);
	mk(t, "b/x", 0);
	mk(t, "secret", 1);
	mk(t, "secret/key", 0);
	mk(t, "deep", 1);
	mk(t, "deep/d1", 1);
	mk(t, "deep/d1/.env", 0);
	mk(t, "deep/d1/other", 0);
	mk(t, "deep/d2", 1);
	mk(t, "deep/d2/y", 0);
	path_of(t, "link", p, sizeof(p));
	assert_int_equal(symlink("secret", p), 0);
	*state = t;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;

	nftw(t->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return 0;
}

/* The access of the rule on rel, or -1 when there is none. */
static int64_t rule_access(const struct osh_landlock_plan *plan, const struct tree *t,
			   const char *rel)
{
	char p[PATH_MAX];

	path_of(t, rel, p, sizeof(p));
	for (size_t i = 0; i < plan->n_rules; i++)
		if (!strcmp(plan->rules[i].path, p))
			return (int64_t)plan->rules[i].access;
	return -1;
}

static bool strv_has(const struct osh_strv *sv, const char *needle)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strstr(sv->v[i], needle))
			return true;
	return false;
}

static void test_access_per_abi(void **state)
{
	(void)state;
	assert_int_equal(osh_landlock_access_all(0), 0);
	assert_int_equal(osh_landlock_access_all(1), 0x1fff);
	assert_int_equal(osh_landlock_access_all(2), 0x3fff);
	assert_int_equal(osh_landlock_access_all(3), 0x7fff);
	assert_int_equal(osh_landlock_access_all(4), 0x7fff); /* ABI 4 adds network rights only */
	assert_int_equal(osh_landlock_access_all(5), 0xffff);
	assert_int_equal(osh_landlock_access_all(7), 0xffff);
	assert_int_equal(osh_landlock_access_ro(7), LANDLOCK_ACCESS_FS_EXECUTE |
							LANDLOCK_ACCESS_FS_READ_FILE |
							LANDLOCK_ACCESS_FS_READ_DIR);
	assert_int_equal(osh_landlock_access_file(2) & LANDLOCK_ACCESS_FS_TRUNCATE, 0);
	assert_true(osh_landlock_access_file(3) & LANDLOCK_ACCESS_FS_TRUNCATE);
	assert_int_equal(osh_landlock_access_file(7) & LANDLOCK_ACCESS_FS_READ_DIR, 0);
	assert_int_equal(osh_landlock_scopes(5), 0);
	assert_int_equal(osh_landlock_scopes(6),
			 LANDLOCK_SCOPE_SIGNAL | LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET);
}

static void test_path_under(void **state)
{
	(void)state;
	assert_true(osh_landlock_path_under("/a/b", "/a"));
	assert_true(osh_landlock_path_under("/a", "/a"));
	assert_false(osh_landlock_path_under("/ab", "/a"));
	assert_false(osh_landlock_path_under("/a", "/a/b"));
	assert_true(osh_landlock_path_under("/x", "/"));
}

/* The mount table build() hands the planner; NULL: the process's own. */
static const char *g_mountinfo;

static int build(const struct tree *t, const char *const *ro, const char *const *rw,
		 const char *const *deny, enum osh_landlock_compat compat, int abi,
		 struct osh_landlock_plan *plan, struct osh_sandbox_error *e)
{
	struct osh_strv sro = { 0 }, srw = { 0 }, sdeny = { 0 };
	struct osh_landlock_input in = { &sro, &srw, &sdeny, NULL, compat, abi, g_mountinfo };
	char p[PATH_MAX];
	int r;

	for (; ro && *ro; ro++) {
		path_of(t, *ro, p, sizeof(p));
		assert_int_equal(osh_strv_push(&sro, p), 0);
	}
	for (; rw && *rw; rw++) {
		path_of(t, *rw, p, sizeof(p));
		assert_int_equal(osh_strv_push(&srw, p), 0);
	}
	for (; deny && *deny; deny++) {
		path_of(t, *deny, p, sizeof(p));
		assert_int_equal(osh_strv_push(&sdeny, p), 0);
	}
	r = osh_landlock_plan_build(&in, plan, e);
	osh_strv_free(&sro);
	osh_strv_free(&srw);
	osh_strv_free(&sdeny);
	return r;
}

static void test_plain_allow(void **state)
{
	struct tree *t = *state;
	struct osh_landlock_plan plan;
	struct osh_sandbox_error e;

	assert_int_equal(build(t, (const char *[]){ "b", NULL }, (const char *[]){ "", NULL }, NULL,
			       OSH_LANDLOCK_HARD_REQUIREMENT, 7, &plan, &e),
			 0);
	assert_int_equal(plan.n_rules, 2);
	assert_int_equal(plan.handled, osh_landlock_access_all(7));
	assert_int_equal(rule_access(&plan, t, "b"), osh_landlock_access_ro(7));
	assert_int_equal(rule_access(&plan, t, ""), osh_landlock_access_all(7));
	assert_int_equal(plan.warnings.n, 0);
	osh_landlock_plan_free(&plan);
}

static void test_deny_top_level(void **state)
{
	struct tree *t = *state;
	struct osh_landlock_plan plan;
	struct osh_sandbox_error e;
	uint64_t rw = osh_landlock_access_all(7);

	assert_int_equal(build(t, NULL, (const char *[]){ "", NULL },
			       (const char *[]){ "secret", NULL }, OSH_LANDLOCK_BEST_EFFORT, 7,
			       &plan, &e),
			 0);
	/* the tree itself only listable; siblings with full rights; neither the deny path nor
	 * the symlink pointing at it granted */
	assert_int_equal(rule_access(&plan, t, ""), LANDLOCK_ACCESS_FS_READ_DIR);
	assert_int_equal(rule_access(&plan, t, "a"), rw);
	assert_int_equal(rule_access(&plan, t, "b"), rw);
	assert_int_equal(rule_access(&plan, t, "deep"), rw);
	assert_int_equal(rule_access(&plan, t, "secret"), -1);
	assert_int_equal(rule_access(&plan, t, "link"), -1);
	assert_int_equal(plan.n_rules, 4);
	assert_true(strv_has(&plan.report, "cannot create, remove or rename"));
	assert_true(strv_has(&plan.report, "names of entries inside it can be listed"));
	osh_landlock_plan_free(&plan);
}

static void test_deny_nested_and_via_symlink(void **state)
{
	struct tree *t = *state;
	struct osh_landlock_plan plan;
	struct osh_sandbox_error e;
	uint64_t ro = osh_landlock_access_ro(7);

	/* "link" resolves to "secret": the deny applies to the real directory */
	assert_int_equal(build(t, (const char *[]){ "", NULL }, NULL,
			       (const char *[]){ "deep/d1/.env", "link", NULL },
			       OSH_LANDLOCK_BEST_EFFORT, 7, &plan, &e),
			 0);
	assert_int_equal(rule_access(&plan, t, ""), LANDLOCK_ACCESS_FS_READ_DIR);
	assert_int_equal(rule_access(&plan, t, "deep"), LANDLOCK_ACCESS_FS_READ_DIR);
	assert_int_equal(rule_access(&plan, t, "deep/d1"), LANDLOCK_ACCESS_FS_READ_DIR);
	assert_int_equal(rule_access(&plan, t, "deep/d1/other"), ro);
	assert_int_equal(rule_access(&plan, t, "deep/d1/.env"), -1);
	assert_int_equal(rule_access(&plan, t, "deep/d2"), ro);
	assert_int_equal(rule_access(&plan, t, "secret"), -1);
	assert_int_equal(rule_access(&plan, t, "a"), ro);
	osh_landlock_plan_free(&plan);
}

static void test_deny_missing(void **state)
{
	struct tree *t = *state;
	struct osh_landlock_plan plan;
	struct osh_sandbox_error e;

	assert_int_equal(build(t, NULL, (const char *[]){ "b", NULL },
			       (const char *[]){ "b/nope", NULL }, OSH_LANDLOCK_HARD_REQUIREMENT, 7,
			       &plan, &e),
			 0);
	assert_int_equal(rule_access(&plan, t, "b"), LANDLOCK_ACCESS_FS_READ_DIR);
	assert_int_equal(rule_access(&plan, t, "b/x"), osh_landlock_access_all(7));
	assert_true(strv_has(&plan.report, "does not exist"));
	osh_landlock_plan_free(&plan);
}

static void test_allow_inside_deny(void **state)
{
	struct tree *t = *state;
	struct osh_landlock_plan plan;
	struct osh_sandbox_error e;

	assert_int_equal(build(t, (const char *[]){ "secret/key", "b", NULL }, NULL,
			       (const char *[]){ "secret", NULL }, OSH_LANDLOCK_HARD_REQUIREMENT, 7,
			       &plan, &e),
			 0);
	assert_int_equal(rule_access(&plan, t, "secret/key"), -1);
	assert_int_equal(rule_access(&plan, t, "b"), osh_landlock_access_ro(7));
	assert_true(strv_has(&plan.report, "lies inside it and is not granted"));
	assert_true(strv_has(&plan.report, "not under any allowed path"));
	osh_landlock_plan_free(&plan);
}

static void test_missing_path_compat(void **state)
{
	struct tree *t = *state;
	struct osh_landlock_plan plan;
	struct osh_sandbox_error e;
	char p[PATH_MAX];

	path_of(t, "missing", p, sizeof(p));
	assert_int_equal(build(t, (const char *[]){ "missing", "b", NULL }, NULL, NULL,
			       OSH_LANDLOCK_BEST_EFFORT, 7, &plan, &e),
			 0);
	assert_int_equal(plan.n_rules, 1);
	assert_true(strv_has(&plan.warnings, p));
	assert_true(strv_has(&plan.warnings, "No such file or directory"));
	osh_landlock_plan_free(&plan);

	assert_int_equal(build(t, (const char *[]){ "missing", "b", NULL }, NULL, NULL,
			       OSH_LANDLOCK_HARD_REQUIREMENT, 7, &plan, &e),
			 -ENOENT);
	assert_string_equal(e.step, "landlock");
	assert_string_equal(e.subject, p);
	assert_int_equal(plan.n_rules, 0);
}

static void test_abi_compat(void **state)
{
	struct tree *t = *state;
	struct osh_landlock_plan plan;
	struct osh_sandbox_error e;

	/* no Landlock at all */
	assert_int_equal(build(t, (const char *[]){ "b", NULL }, NULL, NULL,
			       OSH_LANDLOCK_BEST_EFFORT, 0, &plan, &e),
			 0);
	assert_int_equal(plan.handled, 0);
	assert_true(strv_has(&plan.warnings, "NOT enforced"));
	osh_landlock_plan_free(&plan);
	assert_int_equal(build(t, (const char *[]){ "b", NULL }, NULL, NULL,
			       OSH_LANDLOCK_HARD_REQUIREMENT, 0, &plan, &e),
			 -EOPNOTSUPP);

	/* ABI 2: no truncate control */
	assert_int_equal(build(t, (const char *[]){ "b", NULL }, NULL, NULL,
			       OSH_LANDLOCK_BEST_EFFORT, 2, &plan, &e),
			 0);
	assert_int_equal(plan.handled, osh_landlock_access_all(2));
	assert_true(strv_has(&plan.warnings, "truncated"));
	osh_landlock_plan_free(&plan);
	assert_int_equal(build(t, (const char *[]){ "b", NULL }, NULL, NULL,
			       OSH_LANDLOCK_HARD_REQUIREMENT, 2, &plan, &e),
			 -EOPNOTSUPP);
	assert_non_null(strstr(e.message, "ABI 2"));
}

static void test_deny_in_proc(void **state)
{
	struct osh_strv ro = { 0 }, deny = { 0 };
	struct osh_landlock_input in = {
		&ro, NULL, &deny, NULL, OSH_LANDLOCK_BEST_EFFORT, 7, NULL
	};
	struct osh_landlock_plan plan;
	struct osh_sandbox_error e;

	(void)state;
	assert_int_equal(osh_strv_push(&ro, "/proc"), 0);
	assert_int_equal(osh_strv_push(&deny, "/proc/self/environ"), 0);
	assert_int_equal(osh_landlock_plan_build(&in, &plan, &e), 0);
	/* /proc is granted whole; the deny is a gap, said so */
	assert_int_equal(plan.n_rules, 1);
	assert_string_equal(plan.rules[0].path, "/proc");
	assert_true(strv_has(&plan.warnings, "needs BPF LSM"));
	osh_landlock_plan_free(&plan);
	in.compat = OSH_LANDLOCK_HARD_REQUIREMENT;
	assert_int_equal(osh_landlock_plan_build(&in, &plan, &e), -EOPNOTSUPP);
	osh_strv_free(&ro);
	osh_strv_free(&deny);
}

/* A deny path bind-mounted into an allowed tree (T/b/view shows T/secret): the mount table
 * names it, and the alias is denied like the original. Another mount of an ancestor (T/deep is
 * T mounted again) exposes T/deep/secret too. Mounts of other filesystems do not count. */
static void test_deny_mount_aliases(void **state)
{
	struct tree *t = *state;
	struct osh_landlock_plan plan;
	struct osh_sandbox_error e;
	char mi[PATH_MAX], line[3 * PATH_MAX];
	FILE *f;

	mk(t, "b/view", 1);
	path_of(t, "mountinfo", mi, sizeof(mi));
	f = fopen(mi, "w");
	assert_non_null(f);
	fprintf(f, "21 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n");
	snprintf(line, sizeof(line), "30 21 8:1 %s/secret %s/b/view rw - ext4 /dev/sda1 rw\n",
		 t->root, t->root);
	fputs(line, f);
	snprintf(line, sizeof(line), "31 21 8:1 %s %s/deep rw - ext4 /dev/sda1 rw\n", t->root,
		 t->root);
	fputs(line, f);
	snprintf(line, sizeof(line), "32 21 0:44 %s/secret %s/a rw - tmpfs tmpfs rw\n", t->root,
		 t->root);
	fputs(line, f);
	fclose(f);
	g_mountinfo = mi;
	assert_int_equal(build(t, NULL, (const char *[]){ "", NULL },
			       (const char *[]){ "secret", NULL }, OSH_LANDLOCK_BEST_EFFORT, 7,
			       &plan, &e),
			 0);
	g_mountinfo = NULL;
	assert_true(strv_has(&plan.report, "also reachable as"));
	/* b and deep are now listed one by one, and neither alias is granted */
	assert_int_equal(rule_access(&plan, t, "b"), LANDLOCK_ACCESS_FS_READ_DIR);
	assert_int_equal(rule_access(&plan, t, "b/x"), osh_landlock_access_all(7));
	assert_int_equal(rule_access(&plan, t, "b/view"), -1);
	assert_int_equal(rule_access(&plan, t, "deep"), LANDLOCK_ACCESS_FS_READ_DIR);
	assert_int_equal(rule_access(&plan, t, "deep/secret"), -1);
	/* the tmpfs mount at a has another device: not an alias */
	assert_int_equal(rule_access(&plan, t, "a"), osh_landlock_access_all(7));
	osh_landlock_plan_free(&plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access_per_abi),
		cmocka_unit_test(test_path_under),
		cmocka_unit_test_setup_teardown(test_plain_allow, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_deny_top_level, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_deny_nested_and_via_symlink, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_deny_missing, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_allow_inside_deny, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_missing_path_compat, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_abi_compat, tree_setup, tree_teardown),
		cmocka_unit_test(test_deny_in_proc),
		cmocka_unit_test_setup_teardown(test_deny_mount_aliases, tree_setup, tree_teardown),
	};

	return cmocka_run_group_tests_name("landlock_plan", tests, NULL, NULL);
}
