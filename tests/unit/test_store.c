// SPDX-License-Identifier: Apache-2.0
// oshd's store on a real SQLite database in a temporary directory: migrations, sandboxes,
// revisions (pending/applied/abandoned, also across a crash), events, settings, refusal of a
// newer schema, and rollback of a write that fails half-way.
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"

struct fixture {
	char dir[64];
	char path[128]; /* dir/state/osh.db: the state folder does not exist yet */
	struct osh_store *st;
};

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/osh-test-store.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/state/osh.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	osh_store_close(f->st);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct osh_store *open_ok(struct fixture *f)
{
	char *err = NULL;
	int r = osh_store_open(f->path, &f->st, &err);

	if (r < 0)
		print_error("open: %s\n", err ? err : strerror(-r));
	free(err);
	assert_int_equal(r, 0);
	return f->st;
}

static void reopen(struct fixture *f)
{
	osh_store_close(f->st);
	f->st = NULL;
	open_ok(f);
}

/* A second, plain connection for looking behind the store's back. */
static int64_t sql_int(struct fixture *f, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void sql_exec(struct fixture *f, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Creates a sandbox with its first revision; returns its id. */
static int64_t create(struct osh_store *st, const char *name, const char *policy)
{
	struct osh_store_sandbox s = {
		.name = (char *)name,
		.cgroup = (char *)"/sys/fs/cgroup/osh/x",
		.workdir = (char *)"/home/agent/src",
		.owner_uid = 1000,
		.status = OSH_SB_IDLE,
	};
	struct osh_store_revision r = {
		.hash = (char *)"sha256:aaaa",
		.policy = (char *)policy,
		.author_uid = 1000,
		.reason = (char *)"created",
	};
	char *err = NULL;
	int rc = osh_store_sandbox_create(st, &s, &r, &err);

	if (rc < 0)
		print_error("create %s: %s\n", name, err ? err : strerror(-rc));
	free(err);
	assert_int_equal(rc, 0);
	assert_true(s.id > 0);
	assert_true(s.created > 0);
	assert_int_equal(r.rev, 1);
	assert_true(r.created > 0);
	return s.id;
}

static int64_t add_rev(struct osh_store *st, int64_t id, const char *policy, const char *reason)
{
	struct osh_store_revision r = {
		.sandbox_id = id,
		.hash = (char *)"sha256:bbbb",
		.policy = (char *)policy,
		.author_uid = 0,
		.reason = (char *)reason,
	};
	char *err = NULL;
	int rc = osh_store_revision_add(st, &r, &err);

	if (rc < 0)
		print_error("revision_add: %s\n", err ? err : strerror(-rc));
	free(err);
	assert_int_equal(rc, 0);
	return r.rev;
}

static void test_open_migrates_from_empty(void **state)
{
	struct fixture *f = *state;
	struct stat sb;
	char dir[160];

	open_ok(f);
	assert_int_equal(osh_store_schema_version(), 1);
	assert_int_equal(sql_int(f, "PRAGMA user_version"), osh_store_schema_version());
	/* WAL is a property of the file: a fresh connection sees it too. */
	assert_int_equal(sql_int(f, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
				    "name IN ('sandboxes', 'revisions', 'settings', 'events')"),
			 4);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	snprintf(dir, sizeof(dir), "%s/state", f->dir);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	/* Opening again runs no migration and keeps the version. */
	reopen(f);
	assert_int_equal(sql_int(f, "PRAGMA user_version"), osh_store_schema_version());
}

static void test_reopen_keeps_data(void **state)
{
	struct fixture *f = *state;
	struct osh_store_sandbox sb = { 0 };
	struct osh_store_revision rv = { 0 };
	int64_t id;

	open_ok(f);
	id = create(f->st, "keep", "version: 1\n");
	assert_int_equal(osh_store_revision_applied(f->st, id, 1), 0);
	assert_int_equal(osh_store_setting_set(f->st, "events.next_id", "42"), 0);
	reopen(f);
	assert_int_equal(osh_store_sandbox_get(f->st, "keep", &sb), 0);
	assert_int_equal(sb.id, id);
	assert_string_equal(sb.cgroup, "/sys/fs/cgroup/osh/x");
	assert_string_equal(sb.workdir, "/home/agent/src");
	assert_int_equal(sb.owner_uid, 1000);
	assert_int_equal(sb.status, OSH_SB_IDLE);
	assert_int_equal(sb.rev, 1);
	assert_int_equal(sb.pending_rev, 0);
	assert_int_equal(osh_store_revision_get(f->st, id, 0, &rv), 0);
	assert_string_equal(rv.policy, "version: 1\n");
	assert_string_equal(rv.reason, "created");
	osh_store_revision_free(&rv);
	osh_store_sandbox_free(&sb);
	assert_null(sb.name);
}

static void test_sandbox_crud(void **state)
{
	struct fixture *f = *state;
	struct osh_store_sandbox sb = { 0 }, *all = NULL;
	struct osh_store_event ev = { .id = 1, .time = 100, .json = "{}" };
	size_t n = 99;
	int64_t a, b;

	open_ok(f);
	assert_int_equal(osh_store_sandbox_list(f->st, &all, &n), 0);
	assert_int_equal(n, 0);
	free(all);

	a = create(f->st, "alpha", "version: 1\n");
	b = create(f->st, "beta", "version: 1\n");
	assert_true(b > a);
	assert_int_equal(osh_store_sandbox_get(f->st, "alpha", &sb), 0);
	assert_string_equal(sb.name, "alpha");
	assert_int_equal(sb.rev, 0);
	assert_int_equal(sb.pending_rev, 1);
	assert_false(sb.ephemeral);
	osh_store_sandbox_free(&sb);
	assert_int_equal(osh_store_sandbox_get(f->st, "gamma", &sb), -ENOENT);

	assert_int_equal(osh_store_sandbox_set_status(f->st, b, OSH_SB_RUNNING), 0);
	assert_int_equal(osh_store_sandbox_set_status(f->st, 9999, OSH_SB_RUNNING), -ENOENT);
	assert_string_equal(osh_sandbox_status_name(OSH_SB_GONE), "gone");

	assert_int_equal(osh_store_sandbox_list(f->st, &all, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].name, "alpha");
	assert_string_equal(all[1].name, "beta");
	assert_int_equal(all[1].status, OSH_SB_RUNNING);
	for (size_t i = 0; i < n; i++)
		osh_store_sandbox_free(&all[i]);
	free(all);

	ev.sandbox_id = a;
	assert_int_equal(osh_store_events_add(f->st, &ev, 1, 100), 0);
	assert_int_equal(osh_store_sandbox_delete(f->st, a), 0);
	assert_int_equal(osh_store_sandbox_get(f->st, "alpha", &sb), -ENOENT);
	assert_int_equal(osh_store_sandbox_delete(f->st, a), -ENOENT);
	/* Its revisions and events went with it; beta's did not. */
	assert_int_equal(sql_int(f, "SELECT count(*) FROM revisions"), 1);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 0);
	assert_int_equal(osh_store_sandbox_list(f->st, &all, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(all[0].id, b);
	osh_store_sandbox_free(&all[0]);
	free(all);
}

static void test_unique_name(void **state)
{
	struct fixture *f = *state;
	struct osh_store_sandbox s = {
		.name = (char *)"dup",
		.cgroup = (char *)"/sys/fs/cgroup/osh/dup",
		.workdir = (char *)"/",
		.ephemeral = true,
	};
	struct osh_store_revision r = { .hash = (char *)"sha256:1", .policy = (char *)"p" };
	struct osh_store_sandbox got = { 0 };
	char *err = NULL;

	open_ok(f);
	create(f->st, "dup", "version: 1\n");
	assert_int_equal(osh_store_sandbox_create(f->st, &s, &r, &err), -EEXIST);
	assert_non_null(err);
	assert_non_null(strstr(err, "dup"));
	free(err);
	assert_int_equal(s.id, 0); /* not written on failure */
	assert_int_equal(sql_int(f, "SELECT count(*) FROM sandboxes"), 1);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM revisions"), 1);
	/* The first one is untouched (not ephemeral). */
	assert_int_equal(osh_store_sandbox_get(f->st, "dup", &got), 0);
	assert_false(got.ephemeral);
	osh_store_sandbox_free(&got);
}

static void test_revisions(void **state)
{
	struct fixture *f = *state;
	struct osh_store_revision rv = { 0 }, *list = NULL;
	struct osh_store_revision extra = { .hash = (char *)"sha256:c", .policy = (char *)"p3" };
	struct osh_store_sandbox sb = { 0 };
	char *err = NULL;
	size_t n = 0;
	int64_t id;

	open_ok(f);
	id = create(f->st, "revs", "p1");
	/* Nothing applied yet: rev 0 does not exist, rev 1 does. */
	assert_int_equal(osh_store_revision_get(f->st, id, 0, &rv), -ENOENT);
	assert_int_equal(osh_store_revision_get(f->st, id, 1, &rv), 0);
	assert_string_equal(rv.policy, "p1");
	osh_store_revision_free(&rv);

	/* Revision 1 is pending: another one must wait. */
	extra.sandbox_id = id;
	assert_int_equal(osh_store_revision_add(f->st, &extra, &err), -EBUSY);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_int_equal(osh_store_revision_applied(f->st, id, 7), -EBUSY);
	assert_int_equal(osh_store_revision_applied(f->st, id, 1), 0);

	assert_int_equal(add_rev(f->st, id, "p2", "more"), 2);
	assert_int_equal(osh_store_sandbox_get(f->st, "revs", &sb), 0);
	assert_int_equal(sb.rev, 1);
	assert_int_equal(sb.pending_rev, 2);
	osh_store_sandbox_free(&sb);
	/* While 2 is pending, rev 0 still means the applied one. */
	assert_int_equal(osh_store_revision_get(f->st, id, 0, &rv), 0);
	assert_int_equal(rv.rev, 1);
	osh_store_revision_free(&rv);
	assert_int_equal(osh_store_revision_applied(f->st, id, 2), 0);
	assert_int_equal(osh_store_revision_get(f->st, id, 0, &rv), 0);
	assert_int_equal(rv.rev, 2);
	assert_string_equal(rv.policy, "p2");
	assert_string_equal(rv.reason, "more");
	assert_string_equal(rv.hash, "sha256:bbbb");
	assert_int_equal(rv.author_uid, 0);
	osh_store_revision_free(&rv);

	/* A revision that cannot be applied is abandoned; its number is free again. */
	assert_int_equal(add_rev(f->st, id, "p3-bad", NULL), 3);
	assert_int_equal(osh_store_revision_abandon(f->st, id, 2), -ENOENT); /* not pending */
	assert_int_equal(osh_store_revision_abandon(f->st, id, 3), 0);
	assert_int_equal(osh_store_revision_get(f->st, id, 3, &rv), -ENOENT);
	assert_int_equal(osh_store_sandbox_get(f->st, "revs", &sb), 0);
	assert_int_equal(sb.rev, 2);
	assert_int_equal(sb.pending_rev, 0);
	osh_store_sandbox_free(&sb);
	assert_int_equal(osh_store_revision_abandon(f->st, id, 3), -ENOENT);
	assert_int_equal(add_rev(f->st, id, "p3", NULL), 3);
	assert_int_equal(osh_store_revision_applied(f->st, id, 3), 0);
	assert_int_equal(osh_store_revision_get(f->st, id, 3, &rv), 0);
	assert_string_equal(rv.reason, ""); /* NULL reason is stored as "" */
	osh_store_revision_free(&rv);

	/* Newest first, without policy text. */
	assert_int_equal(osh_store_revision_list(f->st, id, &list, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(list[i].rev, 3 - (int64_t)i);
		assert_int_equal(list[i].sandbox_id, id);
		assert_null(list[i].policy);
		assert_non_null(list[i].hash);
		osh_store_revision_free(&list[i]);
	}
	free(list);
	assert_int_equal(osh_store_revision_list(f->st, 12345, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);
	assert_int_equal(osh_store_revision_get(f->st, 12345, 0, &rv), -ENOENT);
	assert_int_equal(osh_store_revision_applied(f->st, 12345, 1), -ENOENT);
}

struct collect {
	int64_t ids[64];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

static int collect_fn(int64_t id, const char *json, void *ctx)
{
	struct collect *c = ctx;
	char want[32];

	snprintf(want, sizeof(want), "{\"id\":%lld}", (long long)id);
	assert_string_equal(json, want);
	c->ids[c->n++] = id;
	return c->stop_after && c->n >= c->stop_after;
}

static void test_events(void **state)
{
	struct fixture *f = *state;
	struct osh_store_event ev[10];
	char json[10][32];
	struct collect c = { 0 };
	int64_t last = -1, a, b;

	open_ok(f);
	a = create(f->st, "ev-a", "p");
	b = create(f->st, "ev-b", "p");
	assert_int_equal(osh_store_event_last_id(f->st, &last), 0);
	assert_int_equal(last, 0);
	for (int i = 0; i < 10; i++) {
		snprintf(json[i], sizeof(json[i]), "{\"id\":%d}", i + 1);
		ev[i] = (struct osh_store_event){
			.id = i + 1,
			.sandbox_id = i % 3 == 0   ? 0
				      : i % 3 == 1 ? a
						   : b,
			.time = 1000 + i,
			.json = json[i],
		};
	}
	/* One batch of 10 into a table bounded at 6: the oldest 4 are trimmed. */
	assert_int_equal(osh_store_events_add(f->st, ev, 10, 6), 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 6);
	assert_int_equal(osh_store_event_last_id(f->st, &last), 0);
	assert_int_equal(last, 10);

	assert_int_equal(osh_store_event_list(f->st, 0, 0, 0, collect_fn, &c), 6);
	for (size_t i = 0; i < c.n; i++)
		assert_int_equal(c.ids[i], 5 + (int64_t)i); /* oldest first */
	memset(&c, 0, sizeof(c));
	assert_int_equal(osh_store_event_list(f->st, 7, 0, 0, collect_fn, &c), 3);
	assert_int_equal(c.ids[0], 8);
	memset(&c, 0, sizeof(c));
	/* Events of a: ids 2, 5, 8 were added; 2 was trimmed. */
	assert_int_equal(osh_store_event_list(f->st, 0, a, 0, collect_fn, &c), 2);
	assert_int_equal(c.ids[0], 5);
	assert_int_equal(c.ids[1], 8);
	memset(&c, 0, sizeof(c));
	assert_int_equal(osh_store_event_list(f->st, 0, b, 1, collect_fn, &c), 1);
	assert_int_equal(c.ids[0], 6);
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(osh_store_event_list(f->st, 0, 0, 0, collect_fn, &c), 2);
	memset(&c, 0, sizeof(c));
	assert_int_equal(osh_store_event_list(f->st, 10, 0, 0, collect_fn, &c), 0);

	/* A second burst trims again; max_keep 0 means no trimming. */
	snprintf(json[0], sizeof(json[0]), "{\"id\":%d}", 11);
	ev[0] = (struct osh_store_event){ .id = 11, .time = 2000, .json = json[0] };
	assert_int_equal(osh_store_events_add(f->st, ev, 1, 3), 0);
	assert_int_equal(sql_int(f, "SELECT min(id) FROM events"), 9);
	snprintf(json[1], sizeof(json[1]), "{\"id\":%d}", 12);
	ev[1] = (struct osh_store_event){ .id = 12, .time = 2001, .json = json[1] };
	assert_int_equal(osh_store_events_add(f->st, &ev[1], 1, 0), 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 4);

	/* The last id survives a restart, so new ids keep increasing. */
	reopen(f);
	assert_int_equal(osh_store_event_last_id(f->st, &last), 0);
	assert_int_equal(last, 12);
	assert_int_equal(osh_store_event_list(f->st, 0, 0, 0, NULL, NULL), -EINVAL);
}

static void test_settings(void **state)
{
	struct fixture *f = *state;
	char *v = NULL;

	open_ok(f);
	assert_int_equal(osh_store_setting_get(f->st, "events.next_id", &v), -ENOENT);
	assert_null(v);
	assert_int_equal(osh_store_setting_set(f->st, "events.next_id", "1"), 0);
	assert_int_equal(osh_store_setting_set(f->st, "events.next_id", "812"), 0);
	assert_int_equal(osh_store_setting_set(f->st, "other", ""), 0);
	assert_int_equal(osh_store_setting_get(f->st, "events.next_id", &v), 0);
	assert_string_equal(v, "812");
	free(v);
	reopen(f);
	assert_int_equal(osh_store_setting_get(f->st, "other", &v), 0);
	assert_string_equal(v, "");
	free(v);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM settings"), 2);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct osh_store *st = NULL;
	char sql[64], *err = NULL;

	open_ok(f);
	create(f->st, "old", "p");
	osh_store_close(f->st);
	f->st = NULL;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", osh_store_schema_version() + 1);
	sql_exec(f, sql);
	assert_int_equal(osh_store_open(f->path, &st, &err), -EPROTO);
	assert_null(st);
	assert_non_null(err);
	assert_non_null(strstr(err, "newer"));
	free(err);
	/* Refusing did not touch the data or the version. */
	assert_int_equal(sql_int(f, "PRAGMA user_version"), osh_store_schema_version() + 1);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM sandboxes"), 1);
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct osh_store *st = NULL;
	char path[160], *err = NULL;

	/* A file where the parent directory should be. */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof(path), "%s/file/osh.db", f->dir);
	assert_int_equal(osh_store_open(path, &st, &err), -ENOTDIR);
	assert_non_null(err);
	free(err);
	err = NULL;
	/* A symlink is never followed. */
	snprintf(path, sizeof(path), "%s/link.db", f->dir);
	assert_int_equal(symlink("/dev/null", path), 0);
	assert_int_equal(osh_store_open(path, &st, &err), -ELOOP);
	free(err);
	err = NULL;
	/* Not a database. */
	snprintf(path, sizeof(path), "%s/junk.db", f->dir);
	{
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		for (int i = 0; i < 200; i++)
			fputs("this is not an SQLite database file at all\n", fp);
		fclose(fp);
	}
	assert_true(osh_store_open(path, &st, &err) < 0);
	assert_null(st);
	assert_non_null(err);
	free(err);
}

/* The daemon stores a revision as pending, then dies before applying it: after a restart the
 * pending revision is still there for it to apply again. The child is killed, not closed. */
static void test_crash_keeps_pending(void **state)
{
	struct fixture *f = *state;
	struct osh_store_sandbox sb = { 0 };
	struct osh_store_revision rv = { 0 };
	int status;
	pid_t pid;
	int64_t id;

	open_ok(f);
	id = create(f->st, "crash", "p1");
	assert_int_equal(osh_store_revision_applied(f->st, id, 1), 0);
	osh_store_close(f->st);
	f->st = NULL;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct osh_store *st = NULL;
		struct osh_store_revision r = {
			.sandbox_id = id,
			.hash = (char *)"sha256:2",
			.policy = (char *)"p2",
		};

		if (osh_store_open(f->path, &st, NULL) < 0 ||
		    osh_store_revision_add(st, &r, NULL) < 0)
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);

	open_ok(f);
	assert_int_equal(osh_store_sandbox_get(f->st, "crash", &sb), 0);
	assert_int_equal(sb.rev, 1);
	assert_int_equal(sb.pending_rev, 2);
	assert_int_equal(osh_store_revision_get(f->st, id, sb.pending_rev, &rv), 0);
	assert_string_equal(rv.policy, "p2");
	osh_store_revision_free(&rv);
	assert_int_equal(osh_store_revision_applied(f->st, id, sb.pending_rev), 0);
	osh_store_sandbox_free(&sb);
	assert_int_equal(osh_store_sandbox_get(f->st, "crash", &sb), 0);
	assert_int_equal(sb.rev, 2);
	assert_int_equal(sb.pending_rev, 0);
	osh_store_sandbox_free(&sb);
}

/* A write that fails part-way leaves nothing behind. */
static void test_failed_write_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct osh_store_sandbox s = {
		.name = (char *)"half",
		.cgroup = (char *)"/sys/fs/cgroup/osh/half",
		.workdir = (char *)"/",
	};
	/* No hash: the sandbox row goes in, then the revision insert fails (NOT NULL). */
	struct osh_store_revision bad = { .policy = (char *)"p" };
	struct osh_store_revision r = { .sandbox_id = 4242,
					.hash = (char *)"h",
					.policy = (char *)"p" };
	struct osh_store_event ev[3] = {
		{ .id = 100, .time = 1, .json = "{}" },
		{ .id = 1, .time = 1, .json = "{}" }, /* taken */
		{ .id = 101, .time = 1, .json = "{}" },
	};
	struct osh_store_sandbox got = { 0 };
	char *err = NULL;
	int64_t id;

	open_ok(f);
	id = create(f->st, "whole", "p");
	ev[1].sandbox_id = id;
	assert_int_equal(osh_store_events_add(f->st, &ev[1], 1, 0), 0);

	assert_int_equal(osh_store_sandbox_create(f->st, &s, &bad, &err), -EINVAL);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_int_equal(osh_store_sandbox_get(f->st, "half", &got), -ENOENT);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM sandboxes"), 1);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM revisions"), 1);

	/* A revision for a sandbox that does not exist. */
	assert_int_equal(osh_store_revision_add(f->st, &r, &err), -ENOENT);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_int_equal(sql_int(f, "SELECT count(*) FROM revisions"), 1);

	/* A burst with one duplicate id: none of it is stored, and nothing was trimmed. */
	assert_int_equal(osh_store_events_add(f->st, ev, 3, 1), -EEXIST);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 1);
	assert_int_equal(sql_int(f, "SELECT id FROM events"), 1);

	/* And the store still works afterwards (no transaction left open). */
	assert_int_equal(osh_store_revision_applied(f->st, id, 1), 0);
	assert_int_equal(add_rev(f->st, id, "p2", "after"), 2);
	assert_int_equal(osh_store_events_add(f->st, &ev[2], 1, 0), 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_migrates_from_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unique_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_keeps_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_rolls_back, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
