// SPDX-License-Identifier: Apache-2.0
// oshd's SQLite store (store.h): schema migrations, sandboxes, policy revisions, settings and the
// bounded event tail. Every write is one BEGIN IMMEDIATE transaction; values are always bound to
// prepared statements, never spliced into SQL text.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

#include "store.h"

/* Numbered migrations: entry i takes the schema from user_version i to i + 1. Append only; a
 * shipped entry never changes, because databases in the field already ran it. */
static const char *const migrations[] = {
	/* 1: the first schema. Revisions go with their sandbox (ON DELETE CASCADE). Events carry
	 * sandbox_id 0 for events not tied to a known sandbox, so they have no foreign key; their
	 * ids come from the daemon, which keeps them increasing across restarts. */
	"CREATE TABLE sandboxes ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  cgroup TEXT NOT NULL,"
	"  workdir TEXT NOT NULL,"
	"  owner_uid INTEGER NOT NULL,"
	"  status INTEGER NOT NULL DEFAULT 0,"
	"  ephemeral INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL,"
	"  rev INTEGER NOT NULL DEFAULT 0,"
	"  pending_rev INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE revisions ("
	"  sandbox_id INTEGER NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,"
	"  rev INTEGER NOT NULL,"
	"  hash TEXT NOT NULL,"
	"  policy TEXT NOT NULL,"
	"  author_uid INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (sandbox_id, rev)"
	");"
	"CREATE TABLE settings ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	");"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  sandbox_id INTEGER NOT NULL DEFAULT 0,"
	"  time INTEGER NOT NULL,"
	"  json TEXT NOT NULL"
	");"
	"CREATE INDEX events_by_sandbox ON events(sandbox_id, id);",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Statements are prepared once, on first use, and kept for the life of the store. */
enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SB_INSERT,
	S_SB_GET,
	S_SB_LIST,
	S_SB_STATUS,
	S_SB_DELETE,
	S_SB_PENDING,
	S_SB_SET_PENDING,
	S_SB_SET_APPLIED,
	S_REV_INSERT,
	S_REV_NEXT,
	S_REV_EXISTS,
	S_REV_DELETE,
	S_REV_DELETE_ALL,
	S_REV_GET,
	S_REV_LIST,
	S_SET_GET,
	S_SET_SET,
	S_EV_INSERT,
	S_EV_TRIM,
	S_EV_LIST,
	S_EV_LAST,
	S_EV_DELETE_SB,
	N_STMTS,
};

static const char *const stmt_sql[N_STMTS] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SB_INSERT] =
	    "INSERT INTO sandboxes (name, cgroup, workdir, owner_uid, status, ephemeral,"
	    " created, rev, pending_rev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 1)",
	[S_SB_GET] = "SELECT id, name, cgroup, workdir, owner_uid, status, ephemeral, created, rev,"
		     " pending_rev FROM sandboxes WHERE name = ?1",
	[S_SB_LIST] =
	    "SELECT id, name, cgroup, workdir, owner_uid, status, ephemeral, created, rev,"
	    " pending_rev FROM sandboxes ORDER BY id",
	[S_SB_STATUS] = "UPDATE sandboxes SET status = ?2 WHERE id = ?1",
	[S_SB_DELETE] = "DELETE FROM sandboxes WHERE id = ?1",
	[S_SB_PENDING] = "SELECT rev, pending_rev FROM sandboxes WHERE id = ?1",
	[S_SB_SET_PENDING] = "UPDATE sandboxes SET pending_rev = ?2 WHERE id = ?1",
	[S_SB_SET_APPLIED] = "UPDATE sandboxes SET rev = ?2, pending_rev = 0 WHERE id = ?1",
	[S_REV_INSERT] =
	    "INSERT INTO revisions (sandbox_id, rev, hash, policy, author_uid, created,"
	    " reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_REV_NEXT] = "SELECT COALESCE(MAX(rev), 0) + 1 FROM revisions WHERE sandbox_id = ?1",
	[S_REV_EXISTS] = "SELECT 1 FROM revisions WHERE sandbox_id = ?1 AND rev = ?2",
	[S_REV_DELETE] = "DELETE FROM revisions WHERE sandbox_id = ?1 AND rev = ?2",
	[S_REV_DELETE_ALL] = "DELETE FROM revisions WHERE sandbox_id = ?1",
	[S_REV_GET] = "SELECT sandbox_id, rev, hash, policy, author_uid, created, reason"
		      " FROM revisions WHERE sandbox_id = ?1 AND rev = ?2",
	[S_REV_LIST] = "SELECT sandbox_id, rev, hash, NULL, author_uid, created, reason"
		       " FROM revisions WHERE sandbox_id = ?1 ORDER BY rev DESC",
	[S_SET_GET] = "SELECT value FROM settings WHERE key = ?1",
	[S_SET_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2)"
		      " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	[S_EV_INSERT] = "INSERT INTO events (id, sandbox_id, time, json) VALUES (?1, ?2, ?3, ?4)",
	/* Keeps the newest ?1 rows: everything at or below the id of the (?1 + 1)-th newest. */
	[S_EV_TRIM] = "DELETE FROM events WHERE id <= "
		      "(SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?1)",
	[S_EV_LIST] = "SELECT id, json FROM events WHERE id > ?1 AND (?2 = 0 OR sandbox_id = ?2)"
		      " ORDER BY id LIMIT ?3",
	[S_EV_LAST] = "SELECT COALESCE(MAX(id), 0) FROM events",
	[S_EV_DELETE_SB] = "DELETE FROM events WHERE sandbox_id = ?1",
};

struct osh_store {
	sqlite3 *db;
	sqlite3_stmt *stmts[N_STMTS];
	/* One statement cache per connection: callers on several threads take turns. */
	pthread_mutex_t lock;
};

int osh_store_schema_version(void)
{
	return N_MIGRATIONS;
}

const char *osh_sandbox_status_name(enum osh_sandbox_status s)
{
	switch (s) {
	case OSH_SB_RUNNING:
		return "running";
	case OSH_SB_IDLE:
		return "idle";
	case OSH_SB_GONE:
		return "gone";
	}
	return "unknown";
}

/* SQLite result code (extended) -> negative errno. */
static int sql_errno(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return -ENOENT;
	case SQLITE_CONSTRAINT_NOTNULL:
	case SQLITE_CONSTRAINT_CHECK:
		return -EINVAL;
	}
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		return -EACCES;
	}
	return -EIO;
}

static void set_err(char **ret_err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char **ret_err, const char *fmt, ...)
{
	va_list ap;

	if (!ret_err)
		return;
	free(*ret_err);
	*ret_err = NULL;
	va_start(ap, fmt);
	if (vasprintf(ret_err, fmt, ap) < 0)
		*ret_err = NULL;
	va_end(ap);
}

static sqlite3_stmt *stmt(struct osh_store *st, enum stmt_id id)
{
	if (!st->stmts[id] &&
	    sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[id],
			       NULL) != SQLITE_OK)
		return NULL;
	return st->stmts[id];
}

static void stmt_done(sqlite3_stmt *s)
{
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

/* Runs a statement that returns no rows. */
static int exec_stmt(struct osh_store *st, enum stmt_id id)
{
	sqlite3_stmt *s = stmt(st, id);
	int rc;

	if (!s)
		return sql_errno(sqlite3_extended_errcode(st->db));
	rc = sqlite3_step(s);
	stmt_done(s);
	return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}

static int tx_begin(struct osh_store *st)
{
	return exec_stmt(st, S_BEGIN);
}

static int tx_commit(struct osh_store *st)
{
	int r = exec_stmt(st, S_COMMIT);

	/* A failed COMMIT may leave the transaction open (e.g. SQLITE_BUSY); end it. */
	if (r < 0 && !sqlite3_get_autocommit(st->db))
		(void)exec_stmt(st, S_ROLLBACK);
	return r;
}

static void tx_rollback(struct osh_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		(void)exec_stmt(st, S_ROLLBACK);
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

static char *col_strdup(sqlite3_stmt *s, int i, bool *oom)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	char *c;

	if (!t)
		return NULL;
	c = strdup((const char *)t);
	if (!c)
		*oom = true;
	return c;
}

static void lock(struct osh_store *st)
{
	pthread_mutex_lock(&st->lock);
}

static void unlock(struct osh_store *st)
{
	pthread_mutex_unlock(&st->lock);
}

/* ---- open and migrate ------------------------------------------------------------------------- */

/* mkdir -p of path's directory; directories osh creates are 0700 (the store holds every
 * sandbox's policy and audit trail). */
static int make_parent(const char *path)
{
	char buf[PATH_MAX];
	char *slash;
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0;
	*slash = '\0';
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int pragma_int(sqlite3 *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*ret = sqlite3_column_int64(s, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	return rc == SQLITE_OK ? 0 : sql_errno(rc);
}

static int migrate(struct osh_store *st, char **ret_err)
{
	int64_t v = 0;
	int r;

	for (;;) {
		char sql[64];

		r = tx_begin(st);
		if (r < 0)
			goto fail;
		/* Read inside the write transaction: two processes opening one database at once
		 * must not both run the same migration. */
		r = pragma_int(st->db, "PRAGMA user_version", &v);
		if (r < 0)
			goto fail;
		if (v > N_MIGRATIONS) {
			tx_rollback(st);
			set_err(ret_err,
				"store: database schema version %lld is newer than this oshd knows "
				"(%d)",
				(long long)v, N_MIGRATIONS);
			return -EPROTO;
		}
		if (v < 0) {
			tx_rollback(st);
			set_err(ret_err, "store: database has an invalid schema version %lld",
				(long long)v);
			return -EPROTO;
		}
		if (v == N_MIGRATIONS)
			return tx_commit(st);
		if (sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			r = sql_errno(sqlite3_extended_errcode(st->db));
			goto fail;
		}
		/* PRAGMA takes no bound parameters; the value is our own loop counter. */
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", (int)v + 1);
		if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			r = sql_errno(sqlite3_extended_errcode(st->db));
			goto fail;
		}
		r = tx_commit(st);
		if (r < 0)
			goto fail;
	}
fail:
	set_err(ret_err, "store: migration to schema version %lld failed: %s", (long long)v + 1,
		sqlite3_errmsg(st->db));
	tx_rollback(st);
	return r;
}

int osh_store_open(const char *path, struct osh_store **ret, char **ret_err)
{
	static const char *const setup[] = {
		"PRAGMA foreign_keys = ON",
		/* With WAL, NORMAL keeps every committed transaction through a crash or SIGKILL
		 * of oshd (it is in the page cache) and syncs at checkpoints, not per commit: an
		 * fsync per commit was ~20 ms of each `oshctl run` here. Power loss can lose the
		 * last commits; the sandboxes they describe (cgroups, bpffs pins) do not survive
		 * it either. Settings are the exception, committed with FULL (setting_set). */
		"PRAGMA synchronous = NORMAL",
		"PRAGMA trusted_schema = OFF",
	};
	struct osh_store *st;
	char *mode = NULL;
	int fd, r, rc;

	if (!path || !*path || !ret)
		return -EINVAL;
	r = make_parent(path);
	if (r < 0) {
		set_err(ret_err, "store: cannot create the directory of %s: %s", path,
			strerror(-r));
		return r;
	}
	/* Create the file ourselves so that it is 0600 from the start; SQLite gives the -wal and
	 * -shm files the mode of the database file. O_NOFOLLOW: never write through a link. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		set_err(ret_err, "store: cannot open %s: %s", path, strerror(-r));
		return r;
	}
	close(fd);

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	pthread_mutex_init(&st->lock, NULL);
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		r = sql_errno(rc);
		set_err(ret_err, "store: cannot open %s: %s", path,
			st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, 5000);
	for (size_t i = 0; i < sizeof(setup) / sizeof(setup[0]); i++) {
		if (sqlite3_exec(st->db, setup[i], NULL, NULL, NULL) != SQLITE_OK) {
			r = sql_errno(sqlite3_extended_errcode(st->db));
			set_err(ret_err, "store: %s: %s", setup[i], sqlite3_errmsg(st->db));
			goto fail;
		}
	}
	/* journal_mode answers with the mode in force; anything but "wal" means the file
	 * system refused it, and the durability argument of the store would not hold. */
	{
		sqlite3_stmt *s = NULL;

		rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
		if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
			const unsigned char *m = sqlite3_column_text(s, 0);

			mode = strdup(m ? (const char *)m : "");
		}
		rc = sqlite3_extended_errcode(st->db);
		sqlite3_finalize(s);
		if (!mode || strcasecmp(mode, "wal")) {
			r = mode ? -EIO : sql_errno(rc);
			set_err(ret_err, "store: %s: cannot use write-ahead logging (mode %s): %s",
				path, mode ? mode : "?", sqlite3_errmsg(st->db));
			free(mode);
			goto fail;
		}
		free(mode);
	}
	r = migrate(st, ret_err);
	if (r < 0)
		goto fail;
	*ret = st;
	return 0;
fail:
	osh_store_close(st);
	return r;
}

void osh_store_close(struct osh_store *st)
{
	if (!st)
		return;
	for (int i = 0; i < N_STMTS; i++)
		sqlite3_finalize(st->stmts[i]);
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* ---- sandboxes -------------------------------------------------------------------------------- */

void osh_store_sandbox_free(struct osh_store_sandbox *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->cgroup);
	free(s->workdir);
	memset(s, 0, sizeof(*s));
}

void osh_store_revision_free(struct osh_store_revision *r)
{
	if (!r)
		return;
	free(r->hash);
	free(r->policy);
	free(r->reason);
	memset(r, 0, sizeof(*r));
}

static int sandbox_from_row(sqlite3_stmt *s, struct osh_store_sandbox *ret)
{
	struct osh_store_sandbox sb = { 0 };
	bool oom = false;

	sb.id = sqlite3_column_int64(s, 0);
	sb.name = col_strdup(s, 1, &oom);
	sb.cgroup = col_strdup(s, 2, &oom);
	sb.workdir = col_strdup(s, 3, &oom);
	sb.owner_uid = (uid_t)sqlite3_column_int64(s, 4);
	sb.status = (enum osh_sandbox_status)sqlite3_column_int(s, 5);
	sb.ephemeral = sqlite3_column_int(s, 6) != 0;
	sb.created = sqlite3_column_int64(s, 7);
	sb.rev = sqlite3_column_int64(s, 8);
	sb.pending_rev = sqlite3_column_int64(s, 9);
	if (oom) {
		osh_store_sandbox_free(&sb);
		return -ENOMEM;
	}
	*ret = sb;
	return 0;
}

static int revision_from_row(sqlite3_stmt *s, struct osh_store_revision *ret)
{
	struct osh_store_revision rv = { 0 };
	bool oom = false;

	rv.sandbox_id = sqlite3_column_int64(s, 0);
	rv.rev = sqlite3_column_int64(s, 1);
	rv.hash = col_strdup(s, 2, &oom);
	rv.policy = col_strdup(s, 3, &oom);
	rv.author_uid = (uid_t)sqlite3_column_int64(s, 4);
	rv.created = sqlite3_column_int64(s, 5);
	rv.reason = col_strdup(s, 6, &oom);
	if (!oom && !rv.reason && !(rv.reason = strdup("")))
		oom = true;
	if (oom) {
		osh_store_revision_free(&rv);
		return -ENOMEM;
	}
	*ret = rv;
	return 0;
}

/* Inserts revision r as number rev of sandbox_id; inside a transaction. */
static int revision_insert(struct osh_store *st, int64_t sandbox_id, int64_t rev, int64_t now,
			   const struct osh_store_revision *r)
{
	sqlite3_stmt *s = stmt(st, S_REV_INSERT);
	int rc;

	if (!s)
		return sql_errno(sqlite3_extended_errcode(st->db));
	sqlite3_bind_int64(s, 1, sandbox_id);
	sqlite3_bind_int64(s, 2, rev);
	bind_text(s, 3, r->hash);
	bind_text(s, 4, r->policy);
	sqlite3_bind_int64(s, 5, (int64_t)r->author_uid);
	sqlite3_bind_int64(s, 6, now);
	bind_text(s, 7, r->reason ? r->reason : "");
	rc = sqlite3_step(s);
	stmt_done(s);
	return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}

int osh_store_sandbox_create(struct osh_store *st, struct osh_store_sandbox *s,
			     struct osh_store_revision *r, char **ret_err)
{
	int64_t now = (int64_t)time(NULL), id;
	sqlite3_stmt *q;
	int r_, rc;

	if (!st || !s || !r)
		return -EINVAL;
	lock(st);
	r_ = tx_begin(st);
	if (r_ < 0)
		goto fail;
	q = stmt(st, S_SB_INSERT);
	if (!q) {
		r_ = sql_errno(sqlite3_extended_errcode(st->db));
		goto fail;
	}
	bind_text(q, 1, s->name);
	bind_text(q, 2, s->cgroup);
	bind_text(q, 3, s->workdir);
	sqlite3_bind_int64(q, 4, (int64_t)s->owner_uid);
	sqlite3_bind_int(q, 5, (int)s->status);
	sqlite3_bind_int(q, 6, s->ephemeral ? 1 : 0);
	sqlite3_bind_int64(q, 7, now);
	rc = sqlite3_step(q);
	stmt_done(q);
	if (rc != SQLITE_DONE) {
		r_ = sql_errno(rc);
		goto fail;
	}
	id = sqlite3_last_insert_rowid(st->db);
	r_ = revision_insert(st, id, 1, now, r);
	if (r_ < 0)
		goto fail;
	r_ = tx_commit(st);
	if (r_ < 0)
		goto fail;
	unlock(st);
	s->id = id;
	s->created = now;
	s->rev = 0;
	s->pending_rev = 1;
	r->sandbox_id = id;
	r->rev = 1;
	r->created = now;
	return 0;
fail:
	if (r_ == -EEXIST)
		set_err(ret_err, "store: a sandbox named '%s' exists", s->name ? s->name : "");
	else
		set_err(ret_err, "store: cannot create sandbox '%s': %s", s->name ? s->name : "",
			sqlite3_errmsg(st->db));
	tx_rollback(st);
	unlock(st);
	return r_;
}

int osh_store_sandbox_get(struct osh_store *st, const char *name, struct osh_store_sandbox *ret)
{
	sqlite3_stmt *s;
	int r, rc;

	if (!st || !name || !ret)
		return -EINVAL;
	lock(st);
	s = stmt(st, S_SB_GET);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto out;
	}
	bind_text(s, 1, name);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = sandbox_from_row(s, ret);
	else
		r = rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
	stmt_done(s);
out:
	unlock(st);
	return r;
}

/* Doubles the array *v of *cap elements of size bytes (8 at first). 0 or -ENOMEM (then *v is
 * unchanged and still owned by the caller). */
static int grow(void **v, size_t *cap, size_t size)
{
	size_t nc = *cap ? *cap * 2 : 8;
	void *nv = reallocarray(*v, nc, size);

	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

int osh_store_sandbox_list(struct osh_store *st, struct osh_store_sandbox **ret, size_t *ret_n)
{
	struct osh_store_sandbox *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s;
	int r = 0, rc;

	if (!st || !ret || !ret_n)
		return -EINVAL;
	lock(st);
	s = stmt(st, S_SB_LIST);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap && (r = grow((void **)&v, &cap, sizeof(*v))) < 0)
			break;
		r = sandbox_from_row(s, &v[n]);
		if (r < 0)
			break;
		n++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_errno(rc);
	stmt_done(s);
out:
	unlock(st);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			osh_store_sandbox_free(&v[i]);
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Runs an UPDATE or DELETE keyed by ids in one transaction; -ENOENT when it touched no row. */
static int write_by_id(struct osh_store *st, enum stmt_id id, int64_t a, int64_t b)
{
	sqlite3_stmt *s;
	int r, rc;

	lock(st);
	r = tx_begin(st);
	if (r < 0)
		goto fail;
	s = stmt(st, id);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto fail;
	}
	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		r = sql_errno(rc);
		goto fail;
	}
	if (sqlite3_changes(st->db) == 0) {
		r = -ENOENT;
		goto fail;
	}
	r = tx_commit(st);
	if (r < 0)
		goto fail;
	unlock(st);
	return 0;
fail:
	tx_rollback(st);
	unlock(st);
	return r;
}

int osh_store_sandbox_set_status(struct osh_store *st, int64_t id, enum osh_sandbox_status status)
{
	if (!st || (int)status < OSH_SB_RUNNING || status > OSH_SB_GONE)
		return -EINVAL;
	return write_by_id(st, S_SB_STATUS, id, (int64_t)status);
}

/* Binds ?1 = id and steps a statement that returns no rows. */
static int step_id(struct osh_store *st, enum stmt_id sid, int64_t id)
{
	sqlite3_stmt *s = stmt(st, sid);
	int rc;

	if (!s)
		return sql_errno(sqlite3_extended_errcode(st->db));
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	stmt_done(s);
	return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}

int osh_store_sandbox_delete(struct osh_store *st, int64_t id)
{
	int r;

	if (!st)
		return -EINVAL;
	lock(st);
	r = tx_begin(st);
	if (r < 0)
		goto fail;
	/* Revisions also go by ON DELETE CASCADE; deleting them by name keeps this correct
	 * even on a connection where foreign keys were off. */
	r = step_id(st, S_EV_DELETE_SB, id);
	if (r < 0)
		goto fail;
	r = step_id(st, S_REV_DELETE_ALL, id);
	if (r < 0)
		goto fail;
	r = step_id(st, S_SB_DELETE, id);
	if (r < 0)
		goto fail;
	if (sqlite3_changes(st->db) == 0) {
		r = -ENOENT;
		goto fail;
	}
	r = tx_commit(st);
	if (r < 0)
		goto fail;
	unlock(st);
	return 0;
fail:
	tx_rollback(st);
	unlock(st);
	return r;
}

/* ---- revisions -------------------------------------------------------------------------------- */

/* The sandbox's applied and pending revision numbers; inside the lock. */
static int sandbox_revs(struct osh_store *st, int64_t id, int64_t *ret_rev, int64_t *ret_pending)
{
	sqlite3_stmt *s = stmt(st, S_SB_PENDING);
	int r, rc;

	if (!s)
		return sql_errno(sqlite3_extended_errcode(st->db));
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ret_rev = sqlite3_column_int64(s, 0);
		*ret_pending = sqlite3_column_int64(s, 1);
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
	}
	stmt_done(s);
	return r;
}

static int select_int64(struct osh_store *st, enum stmt_id sid, int64_t a, int64_t b, int64_t *ret)
{
	sqlite3_stmt *s = stmt(st, sid);
	int r, rc;

	if (!s)
		return sql_errno(sqlite3_extended_errcode(st->db));
	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(s, 0);
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
	}
	stmt_done(s);
	return r;
}

int osh_store_revision_add(struct osh_store *st, struct osh_store_revision *r, char **ret_err)
{
	int64_t now = (int64_t)time(NULL), applied = 0, pending = 0, next = 0;
	sqlite3_stmt *s;
	int e;

	if (!st || !r)
		return -EINVAL;
	lock(st);
	e = tx_begin(st);
	if (e < 0)
		goto fail;
	e = sandbox_revs(st, r->sandbox_id, &applied, &pending);
	if (e < 0)
		goto fail;
	if (pending) {
		e = -EBUSY;
		set_err(ret_err, "store: revision %lld of sandbox %lld is still pending",
			(long long)pending, (long long)r->sandbox_id);
		goto out;
	}
	e = select_int64(st, S_REV_NEXT, r->sandbox_id, 0, &next);
	if (e < 0)
		goto fail;
	e = revision_insert(st, r->sandbox_id, next, now, r);
	if (e < 0)
		goto fail;
	s = stmt(st, S_SB_SET_PENDING);
	if (!s) {
		e = sql_errno(sqlite3_extended_errcode(st->db));
		goto fail;
	}
	sqlite3_bind_int64(s, 1, r->sandbox_id);
	sqlite3_bind_int64(s, 2, next);
	e = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_errno(sqlite3_extended_errcode(st->db));
	stmt_done(s);
	if (e < 0)
		goto fail;
	e = tx_commit(st);
	if (e < 0)
		goto fail;
	unlock(st);
	r->rev = next;
	r->created = now;
	return 0;
fail:
	if (e == -ENOENT)
		set_err(ret_err, "store: no sandbox with id %lld", (long long)r->sandbox_id);
	else
		set_err(ret_err, "store: cannot add a revision to sandbox %lld: %s",
			(long long)r->sandbox_id, sqlite3_errmsg(st->db));
out:
	tx_rollback(st);
	unlock(st);
	return e;
}

int osh_store_revision_applied(struct osh_store *st, int64_t sandbox_id, int64_t rev)
{
	int64_t applied = 0, pending = 0, one = 0;
	sqlite3_stmt *s;
	int r;

	if (!st || rev <= 0)
		return -EINVAL;
	lock(st);
	r = tx_begin(st);
	if (r < 0)
		goto fail;
	r = sandbox_revs(st, sandbox_id, &applied, &pending);
	if (r < 0)
		goto fail;
	/* Marking another revision applied would silently drop the pending one, which the
	 * daemon must still apply or abandon. */
	if (pending && pending != rev) {
		r = -EBUSY;
		goto fail;
	}
	r = select_int64(st, S_REV_EXISTS, sandbox_id, rev, &one);
	if (r < 0)
		goto fail;
	s = stmt(st, S_SB_SET_APPLIED);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto fail;
	}
	sqlite3_bind_int64(s, 1, sandbox_id);
	sqlite3_bind_int64(s, 2, rev);
	r = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_errno(sqlite3_extended_errcode(st->db));
	stmt_done(s);
	if (r < 0)
		goto fail;
	r = tx_commit(st);
	if (r < 0)
		goto fail;
	unlock(st);
	return 0;
fail:
	tx_rollback(st);
	unlock(st);
	return r;
}

int osh_store_revision_abandon(struct osh_store *st, int64_t sandbox_id, int64_t rev)
{
	int64_t applied = 0, pending = 0;
	sqlite3_stmt *s;
	int r;

	if (!st || rev <= 0)
		return -EINVAL;
	lock(st);
	r = tx_begin(st);
	if (r < 0)
		goto fail;
	r = sandbox_revs(st, sandbox_id, &applied, &pending);
	if (r < 0)
		goto fail;
	if (pending != rev) {
		r = -ENOENT; /* only the pending revision can be abandoned */
		goto fail;
	}
	s = stmt(st, S_REV_DELETE);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto fail;
	}
	sqlite3_bind_int64(s, 1, sandbox_id);
	sqlite3_bind_int64(s, 2, rev);
	r = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_errno(sqlite3_extended_errcode(st->db));
	stmt_done(s);
	if (r < 0)
		goto fail;
	s = stmt(st, S_SB_SET_PENDING);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto fail;
	}
	sqlite3_bind_int64(s, 1, sandbox_id);
	sqlite3_bind_int64(s, 2, 0);
	r = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_errno(sqlite3_extended_errcode(st->db));
	stmt_done(s);
	if (r < 0)
		goto fail;
	r = tx_commit(st);
	if (r < 0)
		goto fail;
	unlock(st);
	return 0;
fail:
	tx_rollback(st);
	unlock(st);
	return r;
}

int osh_store_revision_get(struct osh_store *st, int64_t sandbox_id, int64_t rev,
			   struct osh_store_revision *ret)
{
	int64_t applied = 0, pending = 0;
	sqlite3_stmt *s;
	int r, rc;

	if (!st || !ret || rev < 0)
		return -EINVAL;
	lock(st);
	if (rev == 0) {
		r = sandbox_revs(st, sandbox_id, &applied, &pending);
		if (r < 0)
			goto out;
		if (applied == 0) {
			r = -ENOENT;
			goto out;
		}
		rev = applied;
	}
	s = stmt(st, S_REV_GET);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto out;
	}
	sqlite3_bind_int64(s, 1, sandbox_id);
	sqlite3_bind_int64(s, 2, rev);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = revision_from_row(s, ret);
	else
		r = rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
	stmt_done(s);
out:
	unlock(st);
	return r;
}

int osh_store_revision_list(struct osh_store *st, int64_t sandbox_id,
			    struct osh_store_revision **ret, size_t *ret_n)
{
	struct osh_store_revision *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s;
	int r = 0, rc;

	if (!st || !ret || !ret_n)
		return -EINVAL;
	lock(st);
	s = stmt(st, S_REV_LIST);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto out;
	}
	sqlite3_bind_int64(s, 1, sandbox_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap && (r = grow((void **)&v, &cap, sizeof(*v))) < 0)
			break;
		r = revision_from_row(s, &v[n]);
		if (r < 0)
			break;
		n++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_errno(rc);
	stmt_done(s);
out:
	unlock(st);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			osh_store_revision_free(&v[i]);
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- settings --------------------------------------------------------------------------------- */

int osh_store_setting_get(struct osh_store *st, const char *key, char **ret_value)
{
	sqlite3_stmt *s;
	int r, rc;

	if (!st || !key || !ret_value)
		return -EINVAL;
	lock(st);
	s = stmt(st, S_SET_GET);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto out;
	}
	bind_text(s, 1, key);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		char *v = strdup(t ? (const char *)t : "");

		r = v ? 0 : -ENOMEM;
		if (v)
			*ret_value = v;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
	}
	stmt_done(s);
out:
	unlock(st);
	return r;
}

int osh_store_setting_set(struct osh_store *st, const char *key, const char *value)
{
	sqlite3_stmt *s;
	int r, rc;

	if (!st || !key || !value)
		return -EINVAL;
	lock(st);
	/* A setting (e.g. the prover gate) outlives a reboot and must not silently revert:
	 * this commit syncs the log, with every commit before it. */
	if (sqlite3_exec(st->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		unlock(st);
		return r;
	}
	r = tx_begin(st);
	if (r < 0)
		goto fail;
	s = stmt(st, S_SET_SET);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto fail;
	}
	bind_text(s, 1, key);
	bind_text(s, 2, value);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		r = sql_errno(rc);
		goto fail;
	}
	r = tx_commit(st);
	if (r < 0)
		goto fail;
	(void)sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	unlock(st);
	return 0;
fail:
	tx_rollback(st);
	(void)sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	unlock(st);
	return r;
}

/* ---- events ----------------------------------------------------------------------------------- */

int osh_store_events_add(struct osh_store *st, const struct osh_store_event *ev, size_t n,
			 size_t max_keep)
{
	sqlite3_stmt *s;
	int r, rc;

	if (!st || (n && !ev))
		return -EINVAL;
	if (n == 0 && max_keep == 0)
		return 0;
	lock(st);
	r = tx_begin(st);
	if (r < 0)
		goto fail;
	s = stmt(st, S_EV_INSERT);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		/* id <= 0: SQLite picks the next rowid. */
		if (ev[i].id > 0)
			sqlite3_bind_int64(s, 1, ev[i].id);
		else
			sqlite3_bind_null(s, 1);
		sqlite3_bind_int64(s, 2, ev[i].sandbox_id);
		sqlite3_bind_int64(s, 3, ev[i].time);
		bind_text(s, 4, ev[i].json);
		rc = sqlite3_step(s);
		stmt_done(s);
		if (rc != SQLITE_DONE) {
			r = sql_errno(rc);
			goto fail;
		}
	}
	if (max_keep > 0) {
		s = stmt(st, S_EV_TRIM);
		if (!s) {
			r = sql_errno(sqlite3_extended_errcode(st->db));
			goto fail;
		}
		sqlite3_bind_int64(s, 1, max_keep > INT64_MAX ? INT64_MAX : (int64_t)max_keep);
		rc = sqlite3_step(s);
		stmt_done(s);
		if (rc != SQLITE_DONE) {
			r = sql_errno(rc);
			goto fail;
		}
	}
	r = tx_commit(st);
	if (r < 0)
		goto fail;
	unlock(st);
	return 0;
fail:
	tx_rollback(st);
	unlock(st);
	return r;
}

int osh_store_event_list(struct osh_store *st, int64_t since, int64_t sandbox_id, size_t limit,
			 int (*fn)(int64_t id, const char *json, void *ctx), void *ctx)
{
	sqlite3_stmt *s;
	int r, rc, n = 0;

	if (!st || !fn)
		return -EINVAL;
	lock(st);
	s = stmt(st, S_EV_LIST);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto out;
	}
	sqlite3_bind_int64(s, 1, since);
	sqlite3_bind_int64(s, 2, sandbox_id);
	/* LIMIT -1: no limit; the count returned is an int, so cap there. */
	sqlite3_bind_int64(s, 3, limit == 0 || limit > INT_MAX ? -1 : (int64_t)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < INT_MAX) {
		const unsigned char *t = sqlite3_column_text(s, 1);

		n++;
		if (fn(sqlite3_column_int64(s, 0), t ? (const char *)t : "", ctx)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	r = rc == SQLITE_DONE || rc == SQLITE_ROW ? n : sql_errno(rc);
	stmt_done(s);
out:
	unlock(st);
	return r;
}

int osh_store_event_last_id(struct osh_store *st, int64_t *ret_id)
{
	sqlite3_stmt *s;
	int r, rc;

	if (!st || !ret_id)
		return -EINVAL;
	lock(st);
	s = stmt(st, S_EV_LAST);
	if (!s) {
		r = sql_errno(sqlite3_extended_errcode(st->db));
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ret_id = sqlite3_column_int64(s, 0);
		r = 0;
	} else {
		r = sql_errno(rc);
	}
	stmt_done(s);
out:
	unlock(st);
	return r;
}
