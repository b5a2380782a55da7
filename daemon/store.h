/* SPDX-License-Identifier: Apache-2.0 */
/* oshd's store: SQLite (WAL, synchronous=FULL) holding sandboxes, their policy revisions,
 * settings and a bounded tail of events, with numbered schema migrations. Every write is one
 * transaction. Functions return 0 or -errno (-ENOENT: no such row, -EEXIST: unique name taken,
 * -EIO: SQLite failed, message in *ret_err when given); nothing prints. One owner per allocation:
 * strings in returned structs belong to the struct and are freed by its _free function.
 * *ret_err, when set, is a new string the caller frees. Other errnos: -EINVAL (a NULL or
 * out-of-range argument, or a required string left NULL), -EAGAIN (database locked past the
 * busy timeout), -ENOSPC, -ENOMEM. Output parameters are written only on success. A store may be
 * used from several threads: calls are serialised on an internal mutex. */
#ifndef OSH_DAEMON_STORE_H
#define OSH_DAEMON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct osh_store;

/* Opens (creating, mode 0600, and the parent directory 0700 if missing) and migrates the
 * database at path to the newest schema. A database from a newer osh (higher user_version) is
 * refused with -EPROTO. */
int osh_store_open(const char *path, struct osh_store **ret, char **ret_err);
void osh_store_close(struct osh_store *st); /* accepts NULL */
/* Schema version this build writes (PRAGMA user_version after migration). */
int osh_store_schema_version(void);

enum osh_sandbox_status {
	OSH_SB_RUNNING = 0,
	OSH_SB_IDLE = 1,
	OSH_SB_GONE = 2,
};
const char *osh_sandbox_status_name(enum osh_sandbox_status s); /* "running", ... */

struct osh_store_sandbox {
	int64_t id;
	char *name;
	char *cgroup;  /* absolute path of the sandbox cgroup */
	char *workdir; /* absolute */
	uid_t owner_uid;
	enum osh_sandbox_status status;
	bool ephemeral;
	int64_t created;     /* unix seconds */
	int64_t rev;	     /* applied revision (0: none yet) */
	int64_t pending_rev; /* revision stored but not yet confirmed applied (0: none) */
};
void osh_store_sandbox_free(struct osh_store_sandbox *s); /* frees members, zeroes; NULL ok */

struct osh_store_revision {
	int64_t sandbox_id;
	int64_t rev;  /* 1, 2, ... per sandbox */
	char *hash;   /* "sha256:..." */
	char *policy; /* canonical text */
	uid_t author_uid;
	int64_t created;
	char *reason; /* may be "" */
};
void osh_store_revision_free(struct osh_store_revision *r);

/* Inserts a sandbox together with its first revision (rev 1) in one transaction; the revision
 * is recorded as pending (sandbox.pending_rev = 1, sandbox.rev = 0) until
 * osh_store_revision_applied(). s->id, s->created, r->rev, r->created are filled on success.
 * -EEXIST when the name is taken. */
int osh_store_sandbox_create(struct osh_store *st, struct osh_store_sandbox *s,
			     struct osh_store_revision *r, char **ret_err);
int osh_store_sandbox_get(struct osh_store *st, const char *name, struct osh_store_sandbox *ret);
/* Every sandbox, ordered by id; *ret is an array of *ret_n (free each, then the array). */
int osh_store_sandbox_list(struct osh_store *st, struct osh_store_sandbox **ret, size_t *ret_n);
int osh_store_sandbox_set_status(struct osh_store *st, int64_t id, enum osh_sandbox_status status);
/* Deletes the sandbox, its revisions and its events. */
int osh_store_sandbox_delete(struct osh_store *st, int64_t id);

/* Appends a revision (rev = last + 1) and sets it pending, in one transaction. -EBUSY when
 * another revision is pending (the caller applies or abandons it first); -ENOENT when there is
 * no sandbox r->sandbox_id. r->rev and r->created are filled on success. */
int osh_store_revision_add(struct osh_store *st, struct osh_store_revision *r, char **ret_err);
/* Marks rev applied: sandbox.rev = rev, pending_rev = 0. -ENOENT: no such revision; -EBUSY:
 * another revision is pending (it would be lost). */
int osh_store_revision_applied(struct osh_store *st, int64_t sandbox_id, int64_t rev);
/* Drops a pending revision that could not be applied (the row is deleted; rev numbers may be
 * reused). -ENOENT when rev is not the pending one. */
int osh_store_revision_abandon(struct osh_store *st, int64_t sandbox_id, int64_t rev);
/* rev 0: the applied one (-ENOENT while none is). */
int osh_store_revision_get(struct osh_store *st, int64_t sandbox_id, int64_t rev,
			   struct osh_store_revision *ret);
/* Newest first; policy text is not loaded (NULL) in list results. */
int osh_store_revision_list(struct osh_store *st, int64_t sandbox_id,
			    struct osh_store_revision **ret, size_t *ret_n);

/* Settings: small key/value strings (e.g. "events.next_id"). -ENOENT when unset. */
int osh_store_setting_get(struct osh_store *st, const char *key, char **ret_value);
int osh_store_setting_set(struct osh_store *st, const char *key, const char *value);

/* One event row: json is the Event object's text (docs/api.md), id its id. */
struct osh_store_event {
	int64_t id;
	int64_t sandbox_id; /* 0: not tied to a known sandbox */
	int64_t time;	    /* unix seconds */
	const char *json;
};
/* Appends n events and trims the table to the newest max_keep rows (by id; 0: no trimming), all
 * in one transaction (events arrive in bursts; one fsync per burst, not per event). An event with
 * id <= 0 gets the next free id; an id already stored fails the whole burst with -EEXIST. */
int osh_store_events_add(struct osh_store *st, const struct osh_store_event *ev, size_t n,
			 size_t max_keep);
/* Events with id > since (0: all), of one sandbox (sandbox_id 0: all), oldest first, at most
 * limit (0: no limit). Calls fn for each (json is valid during the call only; fn must not call
 * into the store, whose lock it runs under); stops early when fn returns non-zero. Returns the
 * number delivered (counting the one fn stopped at) or -errno. */
int osh_store_event_list(struct osh_store *st, int64_t since, int64_t sandbox_id, size_t limit,
			 int (*fn)(int64_t id, const char *json, void *ctx), void *ctx);
/* Highest event id stored (0 when none), so ids stay increasing across restarts. */
int osh_store_event_last_id(struct osh_store *st, int64_t *ret_id);

#endif
