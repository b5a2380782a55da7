// SPDX-License-Identifier: Apache-2.0
// The sandbox manager: keeps the store and the kernel in step. Order of every change:
// validate and compile (nothing touched yet) → store the revision as pending → apply to the
// kernel → mark it applied. A crash between the steps leaves a pending revision that start-up
// applies again, so store and kernel agree after any crash (docs/api.md, docs/arch-daemon.md).
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "manager.h"
#include "metrics.h"
#include "policy-update.h"
#include "policy.h"
#include "prover.h"
#include "sandbox-net.h"
#include "sandbox.h"
#include "store.h"
#include "version.h"

#define REQUEST_SOURCE "<request>"
#define UPDATE_SOURCE  "<update>"
#define DEFAULT_PATH   "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* How often the pins are looked at (bpffs has no inotify); also on each API call that names a
 * sandbox. */
#define PINS_CHECK_MS 1000
/* How long the end of an exec waits for the engine's event threads (osh_sandbox_events_flush). */
#define EVENTS_FLUSH_MS 1000
/* A spare sandbox not taken for this long is removed (its egress warnings say what was true
 * when it was made; the checker drops it). */
#define SPARE_MAX_AGE_S 600
/* When every spare is made, the oldest makes room for a new one only after this long. */
#define SPARE_EVICT_AGE_S 60
/* A spare is made by the checker once no create or exec has come for this long. Made at the
 * end of a run, it held the lock and a core while the next run of back-to-back ones waited for
 * both (6.3 ms a run against 5.2 ms without spares, bwrap 5.5, measured side by side); runs
 * that come as an agent's do, with its thinking between them, find it made all the same. */
#define SPARE_QUIET_MS 20

/* What an unnamed ephemeral sandbox was asked for: once its command has ended, a spare made
 * from it serves the next request that asks for the same (docs/arch-daemon.md, "Spare
 * sandboxes"). */
struct mgr_seed {
	struct mgr_seed *next; /* in osh_manager.seeds */
	uid_t owner;
	bool admin;
	char *policy; /* the request's text */
	char *workdir;
	char *reason;
	char hash[80];
};

struct mgr_sb {
	struct mgr_sb *next;
	int64_t id;
	char *name;
	char *workdir;
	char *cgroup;
	uid_t owner;
	bool ephemeral;
	int64_t created;
	uint64_t cgroup_id;
	struct osh_sandbox *sb;	   /* NULL when gone or not adoptable */
	char *error;		   /* why sb is NULL although the sandbox is not gone */
	struct osh_policy *policy; /* the applied policy */
	int64_t rev;
	char hash[80];
	unsigned int execs; /* commands started through the API and not yet reaped */
	/* Ephemeral, its last command reaped: invisible to requests, removed once that command's
	 * exit is reported (osh_manager_exec_release), or by a create that wants its name. */
	bool ending;
	/* The id of its newest event from the engine (0: none since oshd took it on); under
	 * ids_lock, which the event threads take. */
	int64_t last_event_id;
	/* rev runs in the kernel but the store could not mark it applied yet (full disk): it is
	 * pending there, which start-up would apply; marked when the store takes it. */
	bool rev_unconfirmed;
	/* Pins removed from outside oshd (docs/arch-daemon.md "Faults"): how often, the last
	 * time and what, and whether the sandbox had to be stopped for it (then sb is NULL). */
	unsigned int pins_faults;
	int64_t pins_fault_time;
	struct osh_strv pins_missing;
	bool stopped;
	/* Unnamed and ephemeral: what to make a spare from once it ends. A spare: its key. */
	struct mgr_seed *seed;
	int64_t spare_made; /* a spare: CLOCK_MONOTONIC seconds when it was made */
};

struct osh_manager {
	struct osh_manager_opts o;
	char *bpffs_root;
	/* lock serialises operations (which may take the kernel some milliseconds); ids_lock only
	 * guards the list links and names for the engine's event threads, which must never wait
	 * for an operation: destroying a sandbox drains its events under lock. */
	pthread_mutex_t lock;
	pthread_mutex_t ids_lock;
	struct mgr_sb *list;
	/* Spare sandboxes: made, stored pending (an interrupted creation to a restart), not in
	 * list; at most o.spares, one per seed. */
	struct mgr_sb *spares;
	unsigned int n_spares;
	/* Spares to make (by the checker) once SPARE_QUIET_MS have passed since active_ms, the
	 * monotonic time of the last create or exec. */
	struct mgr_seed *seeds;
	int64_t active_ms;
	time_t started;
	/* The thread that checks the pins every PINS_CHECK_MS (under lock). */
	pthread_t pins_thread;
	pthread_cond_t pins_wake;
	bool pins_thread_on, closing;
	/* OSHD_FAULT: a crash point for the restart tests ("policy-stored", "policy-flipped"):
	 * oshd SIGKILLs itself there, so the crash windows are tested, not hoped for. */
	const char *fault;
};

struct osh_exec {
	int64_t sandbox_id;
	pid_t pid;
	int pidfd;
};

static void fault_point(const struct osh_manager *m, const char *where)
{
	if (m->fault && !strcmp(m->fault, where)) {
		fprintf(stderr, "<4>oshd: warning: OSHD_FAULT=%s: killing myself\n", where);
		raise(SIGKILL);
	}
}

static void logf_(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(int prio, const char *fmt, ...)
{
	va_list ap;
	static const char *const level[] = { [LOG_ERR] = "error",
					     [LOG_WARNING] = "warning",
					     [LOG_NOTICE] = "notice",
					     [LOG_INFO] = "info" };

	/* systemd's journal reads the <N> prefix as the priority */
	fprintf(stderr, "<%d>oshd: %s: ", prio, level[prio] ? level[prio] : "info");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- answers ------------------------------------------------------------------------------ */

void osh_answer_error(struct osh_answer *a, unsigned int status, const char *code, const char *fmt,
		      ...)
{
	char msg[1024];
	va_list ap;
	cJSON *err;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	a->status = status;
	a->body = cJSON_CreateObject();
	err = cJSON_AddObjectToObject(a->body, "error");
	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", msg);
}

static void answer_oom(struct osh_answer *a)
{
	cJSON_Delete(a->body);
	osh_answer_error(a, 500, "internal", "out of memory");
}

/* p, when given, is the policy being applied: a path of it that cannot be used is named by
 * its <request>:LINE:COL. */
static void answer_sandbox_error_at(struct osh_answer *a, int r, const struct osh_sandbox_error *e,
				    const struct osh_policy *p)
{
	char msg[PATH_MAX + 400];

	osh_sandbox_error_format_at(e, p, msg, sizeof(msg));
	/* The kernel refusing a mechanism is not osh failing: say so, `oshctl doctor` says more. */
	if (r == -EPERM || r == -EOPNOTSUPP || r == -ENOSYS || r == -EACCES)
		osh_answer_error(a, 503, "kernel", "%s", msg);
	else
		osh_answer_error(a, 500, "internal", "%s", msg);
}

static void answer_sandbox_error(struct osh_answer *a, int r, const struct osh_sandbox_error *e)
{
	answer_sandbox_error_at(a, r, e, NULL);
}

/* A store write that failed; err is the store's message (may be NULL). A full file system is
 * its own answer: the operator has something to do, and nothing was changed. */
static void answer_store_error(struct osh_answer *a, int r, const char *err)
{
	const char *why = err ? err : strerror(-r);

	if (r == -ENOSPC) {
		logf_(LOG_ERR, "%s%s: the store's file system is full; changes are refused",
		      err ? "" : "store: ", why);
		osh_answer_error(a, 507, "store-full",
				 "%s%s (SQLITE_FULL: the store's file system is full); nothing was "
				 "changed; free space there and retry",
				 err ? "" : "store: ", why);
	} else
		osh_answer_error(a, 500, "internal", "%s%s", err ? "" : "store: ", why);
}

static void time_rfc3339(int64_t t, char buf[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void add_time(cJSON *o, const char *key, int64_t t)
{
	char buf[32];

	time_rfc3339(t, buf);
	cJSON_AddStringToObject(o, key, buf);
}

/* ---- sandboxes in memory ------------------------------------------------------------------ */

/* The sandbox named name that requests can see (not ending). */
static struct mgr_sb *find(struct osh_manager *m, const char *name)
{
	for (struct mgr_sb *s = m->list; s; s = s->next)
		if (!s->ending && !strcmp(s->name, name))
			return s;
	return NULL;
}

static struct mgr_sb *find_id(struct osh_manager *m, int64_t id)
{
	for (struct mgr_sb *s = m->list; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void link_sb(struct osh_manager *m, struct mgr_sb *s)
{
	pthread_mutex_lock(&m->ids_lock);
	s->next = m->list;
	m->list = s;
	pthread_mutex_unlock(&m->ids_lock);
}

static void unlink_sb(struct osh_manager *m, struct mgr_sb *s)
{
	pthread_mutex_lock(&m->ids_lock);
	for (struct mgr_sb **p = &m->list; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	pthread_mutex_unlock(&m->ids_lock);
}

static void seed_free(struct mgr_seed *d)
{
	if (!d)
		return;
	free(d->policy);
	free(d->workdir);
	free(d->reason);
	free(d);
}

static void mgr_sb_free(struct mgr_sb *s)
{
	if (!s)
		return;
	seed_free(s->seed);
	osh_policy_free(s->policy);
	free(s->error);
	osh_strv_free(&s->pins_missing);
	free(s->cgroup);
	free(s->workdir);
	free(s->name);
	free(s);
}

static bool may_see(const struct osh_caller *c, const struct mgr_sb *s)
{
	return c->admin || c->uid == s->owner;
}

static void pins_verify(struct osh_manager *m, struct mgr_sb *only);
static void spares_check(struct osh_manager *m);
static const char *status_of(const struct mgr_sb *s, int *ret_nprocs);

/* Whether s can run commands and take policy changes. */
static bool sb_usable(const struct mgr_sb *s)
{
	return s->sb && !s->stopped;
}

/* The 409 for a sandbox that is not usable: why, and what still works on it. */
static void answer_not_usable(struct osh_answer *a, const struct mgr_sb *s, const char *what)
{
	int n;

	osh_answer_error(a, 409, "gone", "sandbox '%s' is %s; %s%s%s", s->name, status_of(s, &n),
			 what, s->error ? ": " : "", s->error ? s->error : "");
}

/* Finds name for caller c, or fills a 404/403 answer and returns NULL. Its pins are looked at
 * on the way (pins_verify), so an operation never works on a sandbox that lost them. */
static struct mgr_sb *lookup(struct osh_manager *m, const struct osh_caller *c, const char *name,
			     struct osh_answer *a)
{
	struct mgr_sb *s = find(m, name);

	if (!s) {
		osh_answer_error(a, 404, "not-found", "no sandbox named '%s'", name);
		return NULL;
	}
	if (!may_see(c, s)) {
		osh_answer_error(a, 403, "forbidden",
				 "sandbox '%s' belongs to another user (uid %u); only its owner, "
				 "root and the admin group may use it",
				 name, (unsigned)s->owner);
		return NULL;
	}
	if (sb_usable(s))
		pins_verify(m, s);
	return s;
}

static const char *status_of(const struct mgr_sb *s, int *ret_nprocs)
{
	int n = 0;

	*ret_nprocs = 0;
	if (s->stopped)
		return "stopped";
	if (!s->sb)
		return s->error ? "unmanaged" : "gone";
	n = osh_sandbox_nprocs(s->sb);
	*ret_nprocs = n > 0 ? n : 0;
	return n > 0 ? "running" : "idle";
}

static cJSON *strv_json(const struct osh_strv *v)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; v && i < v->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v->v[i]));
	return a;
}

static cJSON *sandbox_json(const struct mgr_sb *s)
{
	cJSON *o = cJSON_CreateObject(), *mech;
	int nprocs;
	const char *st = status_of(s, &nprocs);

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "id", (double)s->id);
	cJSON_AddStringToObject(o, "name", s->name);
	cJSON_AddNumberToObject(o, "owner_uid", s->owner);
	cJSON_AddStringToObject(o, "status", st);
	add_time(o, "created", s->created);
	cJSON_AddStringToObject(o, "cgroup", s->cgroup);
	cJSON_AddStringToObject(o, "workdir", s->workdir);
	cJSON_AddBoolToObject(o, "ephemeral", s->ephemeral);
	mech = cJSON_AddArrayToObject(o, "mechanisms");
	if (s->sb) {
		unsigned int bits = osh_sandbox_mechanisms(s->sb);

		for (unsigned int b = 1; b && b <= bits; b <<= 1)
			if (bits & b)
				cJSON_AddItemToArray(mech,
						     cJSON_CreateString(osh_mechanism_name(b)));
		cJSON_AddNumberToObject(o, "landlock_abi", osh_sandbox_landlock_abi(s->sb));
	}
	cJSON_AddNumberToObject(o, "revision", (double)s->rev);
	cJSON_AddStringToObject(o, "policy_hash", s->hash);
	cJSON_AddNumberToObject(o, "processes", nprocs);
	cJSON_AddItemToObject(o, "warnings", strv_json(s->sb ? osh_sandbox_warnings(s->sb) : NULL));
	cJSON_AddItemToObject(o, "report", strv_json(s->sb ? osh_sandbox_report(s->sb) : NULL));
	if (s->error)
		cJSON_AddStringToObject(o, "error", s->error);
	if (s->pins_faults) {
		cJSON *pf = cJSON_AddObjectToObject(o, "pins_fault");

		cJSON_AddNumberToObject(pf, "count", s->pins_faults);
		add_time(pf, "time", s->pins_fault_time);
		cJSON_AddItemToObject(pf, "missing", strv_json(&s->pins_missing));
		cJSON_AddStringToObject(pf, "outcome", s->stopped ? "stopped" : "restored");
	}
	return o;
}

/* ---- events ------------------------------------------------------------------------------- */

/* Adds engine event e for the sandbox whose cgroup is cgroup_id (e gets its name and id; none
 * when it is not one of ours) and remembers the new id as that sandbox's newest, for the end of
 * an exec. ids_lock is held across osh_events_add (which copies the strings and never waits on
 * disk), so the sandbox cannot go in between and one walk of the list does. */
static void event_add(struct osh_manager *m, uint64_t cgroup_id, struct osh_event *e)
{
	struct mgr_sb *s;
	int64_t id;

	pthread_mutex_lock(&m->ids_lock);
	for (s = m->list; s && s->cgroup_id != cgroup_id; s = s->next)
		;
	if (s) {
		e->sandbox = s->name;
		e->sandbox_id = s->id;
	}
	id = osh_events_add(m->o.events, e);
	if (s && id > s->last_event_id)
		s->last_event_id = id;
	pthread_mutex_unlock(&m->ids_lock);
}

static void on_net_event(const struct osh_net_event_info *ev, void *ctx)
{
	struct osh_manager *m = ctx;
	struct timespec ts;

	if (!m->o.events)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct osh_event e = { .time_ns = ts.tv_sec * 1000000000LL + ts.tv_nsec,
			       .kind = ev->kind,
			       .decision = ev->decision,
			       .pid = ev->pid,
			       .uid = (int)ev->uid,
			       .comm = ev->comm,
			       .exe = ev->exe,
			       .operation = ev->operation,
			       .target = ev->target,
			       .host = ev->host,
			       .closest = ev->closest,
			       .hint = ev->hint,
			       .message = ev->line };

	event_add(m, ev->cgroup_id, &e);
}

static void on_fs_event(const struct osh_fs_event *ev, void *ctx)
{
	struct osh_manager *m = ctx;
	char comm[sizeof(ev->comm) + 1], target[sizeof(ev->name) + 1];
	char *line = NULL;
	struct timespec ts;

	if (!m->o.events)
		return;
	snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(ev->comm), ev->comm);
	snprintf(target, sizeof(target), "%.*s", (int)sizeof(ev->name), ev->name);
	if (osh_fs_event_format(ev, &line) < 0)
		line = NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct osh_event e = { .time_ns = ts.tv_sec * 1000000000LL + ts.tv_nsec,
			       .kind = "fs",
			       .decision = "deny",
			       .pid = (int)ev->pid,
			       .uid = (int)ev->uid,
			       .comm = comm,
			       .operation = osh_fs_op_name(ev->op),
			       .target = target,
			       .message = line };

	event_add(m, ev->sandbox, &e);
	free(line);
}

bool osh_manager_event_visible(struct osh_manager *m, const struct osh_caller *c,
			       const char *event_json)
{
	cJSON *ev, *id;
	bool ok = false;

	if (c->admin)
		return true;
	/* By id, not name: a name can be reused by another user after a delete, and the old
	 * sandbox's events must not become the new owner's. */
	ev = cJSON_Parse(event_json);
	id = cJSON_GetObjectItemCaseSensitive(ev, "sandbox_id");
	if (cJSON_IsNumber(id)) {
		pthread_mutex_lock(&m->ids_lock);
		for (struct mgr_sb *s = m->list; s; s = s->next)
			if (s->id == (int64_t)id->valuedouble) {
				ok = may_see(c, s);
				break;
			}
		pthread_mutex_unlock(&m->ids_lock);
	}
	cJSON_Delete(ev);
	return ok;
}

void osh_manager_events_check(struct osh_manager *m, const struct osh_caller *c, const char *name,
			      struct osh_answer *ret)
{
	pthread_mutex_lock(&m->lock);
	ret->status = 200;
	ret->body = NULL;
	if (name)
		lookup(m, c, name, ret);
	pthread_mutex_unlock(&m->lock);
}

/* ---- policies ----------------------------------------------------------------------------- */

static void answer_diags(struct osh_answer *a, struct osh_diag_list *diags, int r)
{
	cJSON *err, *arr;

	if (r == -EINVAL)
		osh_answer_error(a, 400, "invalid-policy", "the policy does not validate (%zu %s)",
				 diags->n, diags->n == 1 ? "problem" : "problems");
	else
		osh_answer_error(a, r == -ENOMEM ? 500 : 400,
				 r == -ENOMEM ? "internal" : "invalid-policy",
				 "the policy could not be read: %s", strerror(-r));
	err = cJSON_GetObjectItemCaseSensitive(a->body, "error");
	arr = cJSON_AddArrayToObject(err, "diagnostics");
	for (size_t i = 0; i < diags->n; i++) {
		char *text = NULL;

		if (osh_diag_format(&diags->items[i], &text) == 0)
			cJSON_AddItemToArray(arr, cJSON_CreateString(text));
		free(text);
	}
	osh_diag_list_clear(diags);
}

/* Parses and compiles text; on failure fills a and returns NULL. */
static struct osh_policy *policy_load(const char *source, const char *text, size_t len,
				      enum osh_policy_format fmt, struct osh_answer *a)
{
	struct osh_diag_list diags = { 0 };
	struct osh_policy *p = NULL;
	struct osh_policy_image *img = NULL;
	int r = osh_policy_parse_buffer(source, text, len, fmt, &p, &diags);

	if (r < 0) {
		answer_diags(a, &diags, r);
		return NULL;
	}
	osh_diag_list_clear(&diags);
	/* Compile now, so a policy the kernel maps cannot hold is refused before it is stored. */
	r = osh_policy_compile(p, &img);
	osh_policy_image_free(img);
	if (r < 0) {
		osh_answer_error(a, r == -E2BIG ? 400 : 500,
				 r == -E2BIG ? "invalid-policy" : "internal",
				 r == -E2BIG ? "the policy exceeds the kernel maps' limits (%s)"
					     : "compiling the policy: %s",
				 strerror(-r));
		osh_policy_free(p);
		return NULL;
	}
	return p;
}

static int policy_hash(const struct osh_policy *p, char *buf, size_t size)
{
	char hex[65];
	int r = osh_policy_revision(p, hex);

	if (r < 0)
		return r;
	snprintf(buf, size, "sha256:%s", hex);
	return 0;
}

/* The prover gate, when configured: refuses a change that adds unaccepted findings. */
static bool gate_refuses(struct osh_manager *m, const struct osh_policy *old,
			 const struct osh_policy *new_, struct osh_answer *a)
{
	size_t n = 0;
	int r;

	if (!m->o.gate_registry)
		return false;
	r = osh_prover_gate_change(old, new_, m->o.gate_registry, NULL, m->o.gate_accepted, &n);
	if (r < 0) {
		osh_answer_error(a, 500, "internal", "the prover failed: %s", strerror(-r));
		return true;
	}
	if (n) {
		osh_answer_error(
		    a, 409, "prover-findings",
		    "the change adds %zu unaccepted prover findings; run `oshctl policy "
		    "prove NEW --against OLD` to see them, or accept them",
		    n);
		return true;
	}
	return false;
}

/* Which identity the commands of a sandbox created by c run as: a non-admin's commands run as
 * that user unless the policy says `sandbox`; it may not name another user. */
static int identity_for(const struct osh_caller *c, const struct osh_policy *p,
			struct osh_sandbox_config *cfg, struct osh_answer *a)
{
	const struct osh_ident *u = &p->process.run_as_user, *g = &p->process.run_as_group;
	struct passwd *pw;

	if (c->admin)
		return 0;
	if (u->kind == OSH_IDENT_ID && u->id != c->uid) {
		osh_answer_error(a, 403, "forbidden",
				 "process.run_as_user %u: only root and the admin group may run "
				 "sandboxes as another user",
				 u->id);
		return -EPERM;
	}
	if (g->kind == OSH_IDENT_ID && g->id != c->gid) {
		osh_answer_error(a, 403, "forbidden",
				 "process.run_as_group %u: only root and the admin group may run "
				 "sandboxes as another group",
				 g->id);
		return -EPERM;
	}
	if (u->kind == OSH_IDENT_UNSET) {
		cfg->run_as_user = (struct osh_ident){ .kind = OSH_IDENT_ID, .id = c->uid };
		pw = getpwuid(c->uid);
		if (g->kind == OSH_IDENT_UNSET)
			cfg->run_as_group = (struct osh_ident){ .kind = OSH_IDENT_ID,
								.id = pw ? pw->pw_gid : c->gid };
	}
	return 0;
}

static int config_build(struct osh_manager *m, const struct mgr_sb *s, uid_t owner, bool admin,
			const struct osh_policy *p, struct osh_sandbox_config *cfg,
			struct osh_answer *a)
{
	struct osh_sandbox_error e;
	struct osh_caller c = { .uid = owner, .admin = admin };
	struct passwd *pw;
	int r;

	osh_sandbox_config_init(cfg);
	if ((r = osh_sandbox_config_from_policy(p, cfg, &e)) < 0) {
		answer_sandbox_error(a, r, &e);
		return r;
	}
	pw = getpwuid(owner);
	c.gid = pw ? pw->pw_gid : (gid_t)owner;
	if ((r = identity_for(&c, p, cfg, a)) < 0)
		return r;
	cfg->name = strdup(s->name);
	cfg->workdir = strdup(s->workdir);
	cfg->bpffs_root = m->bpffs_root;
	cfg->fs_event_fn = on_fs_event;
	cfg->fs_event_ctx = m;
	cfg->net_event_fn = on_net_event;
	cfg->net_event_ctx = m;
	if (!cfg->name || !cfg->workdir) {
		osh_answer_error(a, 500, "internal", "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static uint64_t cgroup_id_of(const char *path)
{
	struct stat st;

	return path && stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* ---- pins removed from outside ------------------------------------------------------------ */

/* The first paths of v, comma-separated, into buf. */
static void strv_join(const struct osh_strv *v, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < v->n && off < size; i++) {
		if (i == 8) {
			snprintf(buf + off, size - off, ", ... (%zu in all)", v->n);
			break;
		}
		off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "", v->v[i]);
	}
}

/* The event and the metric of one pins fault (s NULL: the pins every sandbox shares). */
static void pins_report(struct osh_manager *m, const struct mgr_sb *s, bool restored,
			const char *msg)
{
	logf_(LOG_ERR, "%s", msg);
	if (m->o.events)
		osh_events_add(m->o.events,
			       &(struct osh_event){ .sandbox = s ? s->name : NULL,
						    .sandbox_id = s ? s->id : 0,
						    .kind = "pins",
						    .decision = restored ? "restored" : "stopped",
						    .uid = -1,
						    .operation = "pins-removed",
						    .target = m->bpffs_root,
						    .message = msg });
	if (m->o.metrics)
		osh_metrics_count_pins_fault(m->o.metrics, restored);
}

static void pins_record(struct mgr_sb *s, const struct osh_strv *missing)
{
	s->pins_faults++;
	s->pins_fault_time = time(NULL);
	osh_strv_free(&s->pins_missing);
	(void)osh_strv_extend(&s->pins_missing, missing);
}

/* Stops s because its pins are gone for good: a process of it would otherwise run on programs
 * only oshd's descriptors hold, and lose its enforcement with oshd. Kills its processes, then
 * removes what is left of it in the kernel. If they do not die, s keeps its descriptors
 * (enforcement goes on) and the next check tries again. Called with m->lock held. */
static void sandbox_stop(struct osh_manager *m, struct mgr_sb *s, const char *why)
{
	struct osh_sandbox_error e = { 0 };
	char msg[PATH_MAX + 300];

	if (!s->stopped) {
		s->stopped = true;
		free(s->error);
		s->error = strdup(why);
		osh_store_sandbox_set_status(m->o.store, s->id, OSH_SB_GONE);
	}
	if (!s->sb)
		return;
	(void)osh_sandbox_signal_all(s->sb, SIGKILL);
	for (int i = 0; i < 500 && osh_sandbox_nprocs(s->sb) > 0; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	if (osh_sandbox_nprocs(s->sb) > 0) {
		logf_(LOG_ERR, "sandbox %s: its processes survived SIGKILL; trying again", s->name);
		return;
	}
	if (osh_sandbox_destroy(s->sb, &e) < 0) {
		osh_sandbox_error_format(&e, msg, sizeof(msg));
		logf_(LOG_ERR, "sandbox %s: stopping: %s", s->name, msg);
	}
	s->sb = NULL;
}

/* Looks at the pins every sandbox shares, then at only's (NULL: every sandbox's): what was
 * removed from outside is restored from the descriptors oshd holds and reported; a sandbox
 * whose pins cannot be restored is stopped, and reported. Called with m->lock held. */
static void pins_verify(struct osh_manager *m, struct mgr_sb *only)
{
	struct osh_sandbox_error e = { 0 };
	struct osh_strv missing = { 0 };
	char list[512], why[PATH_MAX + 300], msg[PATH_MAX + 1200];
	int r;

	r = osh_sandbox_pins_check_shared(true, &missing, &e);
	if (r != 0) {
		strv_join(&missing, list, sizeof(list));
		osh_sandbox_error_format(&e, why, sizeof(why));
		if (r > 0)
			snprintf(
			    msg, sizeof(msg),
			    "bpffs pins every sandbox uses were removed from outside oshd: %s "
			    "(under %s); restored from the descriptors oshd holds, enforcement "
			    "did not lapse",
			    list, m->bpffs_root);
		else
			snprintf(
			    msg, sizeof(msg),
			    "bpffs pins every sandbox uses were removed from outside oshd: %s "
			    "(under %s), and cannot be restored (%s); stopping every sandbox, so "
			    "that none runs unpinned",
			    list, m->bpffs_root, why);
		pins_report(m, NULL, r > 0, msg);
		for (struct mgr_sb *s = m->list; r < 0 && s; s = s->next)
			if (sb_usable(s)) {
				pins_record(s, &missing);
				sandbox_stop(m, s, msg);
			}
	}
	osh_strv_free(&missing);
	for (struct mgr_sb *s = m->list; s; s = s->next) {
		if (only && s != only)
			continue;
		if (s->stopped) {
			sandbox_stop(m, s, s->error);
			continue;
		}
		if (!s->sb || (r = osh_sandbox_pins_check(s->sb, true, &missing, &e)) == 0)
			continue;
		strv_join(&missing, list, sizeof(list));
		osh_sandbox_error_format(&e, why, sizeof(why));
		pins_record(s, &missing);
		osh_strv_free(&missing);
		if (r > 0) {
			snprintf(
			    msg, sizeof(msg),
			    "sandbox %s: bpffs pins removed from outside oshd: %s (under %s); "
			    "restored from the descriptors oshd holds, enforcement did not lapse",
			    s->name, list, m->bpffs_root);
			pins_report(m, s, true, msg);
			continue;
		}
		snprintf(
		    msg, sizeof(msg),
		    "sandbox %s: bpffs pins removed from outside oshd: %s (under %s), and they "
		    "cannot be restored (%s); the sandbox is stopped (its processes killed), so "
		    "that it never runs unpinned",
		    s->name, list, m->bpffs_root, why);
		pins_report(m, s, false, msg);
		sandbox_stop(m, s, msg);
	}
}

/* Marks applied the revisions the kernel runs but a full store could not record as applied.
 * Called with m->lock held. */
static void revs_confirm(struct osh_manager *m)
{
	for (struct mgr_sb *s = m->list; s; s = s->next)
		if (s->rev_unconfirmed &&
		    osh_store_revision_applied(m->o.store, s->id, s->rev) == 0) {
			s->rev_unconfirmed = false;
			logf_(LOG_NOTICE, "sandbox %s: revision %lld marked applied in the store",
			      s->name, (long long)s->rev);
		}
}

static int64_t now_mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t now_mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

static void spare_make(struct osh_manager *m, struct mgr_seed *d);

/* Every PINS_CHECK_MS: the pins, the store's revisions, the spares; and the spares to make, once
 * oshd has been quiet for SPARE_QUIET_MS. */
static void *checker_main(void *arg)
{
	struct osh_manager *m = arg;
	int64_t next_check = now_mono_ms() + PINS_CHECK_MS;

	pthread_mutex_lock(&m->lock);
	while (!m->closing) {
		int64_t now = now_mono_ms(), until = next_check;

		if (m->seeds && m->active_ms + SPARE_QUIET_MS < until)
			until = m->active_ms + SPARE_QUIET_MS;
		if (until > now) {
			struct timespec t = { .tv_sec = (time_t)(until / 1000),
					      .tv_nsec = (long)(until % 1000) * 1000000L };

			/* Woken early by a new seed or the stop: the loop looks again. */
			(void)pthread_cond_timedwait(&m->pins_wake, &m->lock, &t);
			continue;
		}
		if (m->seeds && now >= m->active_ms + SPARE_QUIET_MS) {
			struct mgr_seed *d = m->seeds;

			m->seeds = d->next;
			d->next = NULL;
			spare_make(m, d);
			/* A request that came meanwhile goes before the next spare. */
			pthread_mutex_unlock(&m->lock);
			pthread_mutex_lock(&m->lock);
			continue;
		}
		pins_verify(m, NULL);
		revs_confirm(m);
		spares_check(m);
		next_check = now_mono_ms() + PINS_CHECK_MS;
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* ---- operations --------------------------------------------------------------------------- */

static int remove_sb(struct osh_manager *m, struct mgr_sb *s, struct osh_sandbox_error *e);

/* Removes an ending sandbox now; 0 or -errno (logged; s stays listed, visible again). Called
 * with m->lock held. */
static int end_sb(struct osh_manager *m, struct mgr_sb *s)
{
	struct osh_sandbox_error e;
	int r = remove_sb(m, s, &e);

	if (r < 0) {
		char msg[PATH_MAX + 300];

		osh_sandbox_error_format(&e, msg, sizeof(msg));
		logf_(LOG_ERR, "removing ephemeral sandbox: %s", msg);
		s->ending = false; /* visible again, for a delete to retry */
	}
	return r;
}

/* A new sandbox may take the name of one whose exit is still being reported: that one goes
 * first. Called with m->lock held. */
static void end_now(struct osh_manager *m, const char *name)
{
	for (struct mgr_sb *s = m->list; s; s = s->next)
		if (s->ending && !strcmp(s->name, name)) {
			(void)end_sb(m, s);
			return;
		}
}

static bool owner_is_admin(uid_t uid)
{
	/* Admin rights at creation decide the identity rules; recomputed the same way on
	 * adoption. Only root counts here: group membership can change between restarts and
	 * must not widen what a sandbox was created with. */
	return uid == 0;
}

/* Makes sandbox name of c from *pp (which it takes on success): stored with its first
 * revision pending, then created in the kernel. The caller confirms the revision (s->rev) and
 * links it. keep_basis: a spare, which osh_sandbox_current() will look at when it is taken. On
 * failure fills a and returns NULL with nothing left. Called with m->lock held. */
static struct mgr_sb *sb_make(struct osh_manager *m, const struct osh_caller *c, const char *name,
			      const char *workdir, bool ephemeral, const char *reason,
			      struct osh_policy **pp, bool keep_basis, struct osh_answer *a)
{
	struct osh_sandbox_config cfg;
	struct osh_sandbox_error e;
	struct osh_store_sandbox row = { 0 };
	struct osh_store_revision rev = { 0 };
	struct mgr_sb *s = calloc(1, sizeof(*s));
	char *canon = NULL, *err = NULL;
	int r;

	osh_sandbox_config_init(&cfg);
	if (!s || !(s->name = strdup(name)) || !(s->workdir = strdup(workdir)))
		goto oom;
	s->owner = c->uid;
	s->ephemeral = ephemeral;
	if (config_build(m, s, c->uid, c->admin, *pp, &cfg, a) < 0)
		goto fail;
	cfg.keep_basis = keep_basis;
	if (policy_hash(*pp, s->hash, sizeof(s->hash)) < 0 ||
	    osh_policy_dump(*pp, OSH_POLICY_FORMAT_YAML, &canon) < 0)
		goto oom;

	/* Stored first, as pending: a crash after this point is repaired at start-up. */
	row = (struct osh_store_sandbox){ .name = s->name,
					  .cgroup = "",
					  .workdir = s->workdir,
					  .owner_uid = s->owner,
					  .status = OSH_SB_IDLE,
					  .ephemeral = s->ephemeral };
	rev = (struct osh_store_revision){
		.hash = s->hash, .policy = canon, .author_uid = c->uid, .reason = (char *)reason
	};
	r = osh_store_sandbox_create(m->o.store, &row, &rev, &err);
	if (r == -EEXIST) {
		osh_answer_error(a, 409, "exists", "a sandbox named '%s' exists", name);
		goto fail;
	}
	if (r < 0) {
		answer_store_error(a, r, err);
		goto fail;
	}
	s->id = row.id;
	s->created = row.created;
	r = osh_sandbox_create(&cfg, &s->sb, &e);
	if (r < 0) {
		osh_store_sandbox_delete(m->o.store, s->id);
		answer_sandbox_error_at(a, r, &e, *pp);
		goto fail;
	}
	s->rev = rev.rev;
	s->cgroup = strdup(osh_sandbox_cgroup_path(s->sb));
	s->cgroup_id = cgroup_id_of(s->cgroup);
	if (!s->cgroup) {
		osh_sandbox_destroy(s->sb, NULL);
		osh_store_sandbox_delete(m->o.store, s->id);
		goto oom;
	}
	s->policy = *pp;
	*pp = NULL;
	goto out;
oom:
	answer_oom(a);
fail:
	mgr_sb_free(s);
	s = NULL;
out:
	osh_sandbox_config_free(&cfg);
	free(canon);
	free(err);
	return s;
}

/* Removes a spare that is not in m->spares (any more). Called with m->lock held. */
static void spare_drop(struct osh_manager *m, struct mgr_sb *s, const char *why)
{
	struct osh_sandbox_error e = { 0 };
	char msg[PATH_MAX + 300];

	logf_(LOG_INFO, "spare sandbox %s removed: %s", s->name, why);
	if (osh_sandbox_destroy(s->sb, &e) < 0) {
		/* Its store row stays pending: the next start-up removes what is left. */
		osh_sandbox_error_format(&e, msg, sizeof(msg));
		logf_(LOG_ERR, "removing spare sandbox %s: %s", s->name, msg);
	} else {
		osh_store_sandbox_delete(m->o.store, s->id);
	}
	s->sb = NULL;
	mgr_sb_free(s);
}

static bool seed_matches(const struct mgr_seed *d, const struct osh_caller *c, const char *hash,
			 const char *workdir, const char *reason)
{
	return d->owner == c->uid && d->admin == c->admin && !strcmp(d->hash, hash) &&
	       !strcmp(d->workdir, workdir) && !strcmp(d->reason, reason);
}

/* Queues seed d (which it takes) for the checker to make a spare from. One per request, and at
 * most o.spares, the newest: back-to-back runs that never leave oshd quiet queue one each, and
 * each holds its request's policy text. Called with m->lock held. */
static void spare_queue(struct osh_manager *m, struct mgr_seed *d)
{
	const struct osh_caller c = { .uid = d->owner, .admin = d->admin };
	struct mgr_seed **pp;
	unsigned int n = 1;

	if (m->closing || !m->o.spares || !m->pins_thread_on) {
		seed_free(d);
		return;
	}
	for (pp = &m->seeds; *pp;) {
		struct mgr_seed *q = *pp;

		if (seed_matches(q, &c, d->hash, d->workdir, d->reason) || n >= m->o.spares) {
			*pp = q->next;
			seed_free(q);
			continue;
		}
		n++;
		pp = &q->next;
	}
	d->next = m->seeds;
	m->seeds = d;
	pthread_cond_signal(&m->pins_wake);
}

/* The spare that serves an unnamed ephemeral create of c asking for p (hash) in workdir, taken
 * out of m->spares, if one is current (osh_sandbox_current: what a creation would make now);
 * a stale one is removed. NULL: none. Called with m->lock held. */
static struct mgr_sb *spare_take(struct osh_manager *m, const struct osh_caller *c,
				 const struct osh_policy *p, const char *hash, const char *workdir,
				 const char *reason)
{
	struct osh_sandbox_config cfg;
	struct osh_answer a = { 0 };
	struct mgr_sb **pp, *s;
	int current;

	for (pp = &m->spares; *pp; pp = &(*pp)->next)
		if (seed_matches((*pp)->seed, c, hash, workdir, reason))
			break;
	if (!(s = *pp))
		return NULL;
	*pp = s->next;
	s->next = NULL;
	m->n_spares--;
	if (now_mono_s() - s->spare_made > SPARE_MAX_AGE_S) {
		spare_drop(m, s, "too old");
		return NULL;
	}
	osh_sandbox_config_init(&cfg);
	current = config_build(m, s, c->uid, c->admin, p, &cfg, &a) == 0
		      ? osh_sandbox_current(s->sb, &cfg)
		      : 0;
	osh_sandbox_config_free(&cfg);
	cJSON_Delete(a.body);
	if (current != 1) {
		spare_drop(m, s, "the filesystem or the identity changed since it was made");
		return NULL;
	}
	return s;
}

static struct mgr_seed *seed_new(const struct osh_caller *c, const char *policy,
				 const char *workdir, const char *reason, const char *hash)
{
	struct mgr_seed *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->owner = c->uid;
	d->admin = c->admin;
	snprintf(d->hash, sizeof(d->hash), "%s", hash);
	if (!(d->policy = strdup(policy)) || !(d->workdir = strdup(workdir)) ||
	    !(d->reason = strdup(reason))) {
		seed_free(d);
		return NULL;
	}
	return d;
}

/* A name for an unnamed sandbox: osh-run- and 48 random bits. */
static int name_pick(struct osh_manager *m, char buf[32])
{
	uint64_t v = 0;

	for (int tries = 0; tries < 8; tries++) {
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			return -errno;
		snprintf(buf, 32, "osh-run-%012llx", (unsigned long long)(v & 0xffffffffffffULL));
		if (!find(m, buf))
			return 0;
	}
	return -EEXIST;
}

/* Makes a spare from seed d (which it takes), unless one for d exists; when there are o.spares,
 * the oldest makes room if it is SPARE_EVICT_AGE_S old, else none is made. Failures are logged
 * only: the next request makes its sandbox. Called with m->lock held. */
static void spare_make(struct osh_manager *m, struct mgr_seed *d)
{
	struct osh_caller c = { .uid = d->owner, .admin = d->admin };
	struct osh_answer a = { 0 };
	struct osh_policy *p = NULL;
	struct mgr_sb *s, **pp;
	char name[32];

	if (m->closing || !m->o.spares)
		goto out;
	for (s = m->spares; s; s = s->next)
		if (seed_matches(s->seed, &c, d->hash, d->workdir, d->reason))
			goto out;
	while (m->spares && m->n_spares >= m->o.spares) {
		for (pp = &m->spares; (*pp)->next; pp = &(*pp)->next)
			;
		s = *pp;
		/* More requests in turn than spares: each spare would go before its next request
		 * came. The oldest makes room only once it has waited a while. */
		if (now_mono_s() - s->spare_made < SPARE_EVICT_AGE_S)
			goto out;
		*pp = NULL;
		m->n_spares--;
		spare_drop(m, s, "room for a newer one");
	}
	if (name_pick(m, name) < 0 ||
	    !(p = policy_load(REQUEST_SOURCE, d->policy, strlen(d->policy), OSH_POLICY_FORMAT_AUTO,
			      &a)) ||
	    !(s = sb_make(m, &c, name, d->workdir, true, d->reason, &p, true, &a))) {
		char *msg = a.body ? cJSON_PrintUnformatted(a.body) : NULL;

		logf_(LOG_WARNING, "making a spare sandbox: %s", msg ? msg : "out of memory");
		free(msg);
		goto out;
	}
	logf_(LOG_INFO, "spare sandbox %s made for uid %u (%s)", s->name, (unsigned)s->owner,
	      s->hash);
	s->seed = d;
	d = NULL;
	s->spare_made = now_mono_s();
	s->next = m->spares;
	m->spares = s;
	m->n_spares++;
out:
	cJSON_Delete(a.body);
	osh_policy_free(p);
	seed_free(d);
}

/* Drops the spares too old to be taken, or whose pins were removed from outside oshd. Called
 * with m->lock held. */
static void spares_check(struct osh_manager *m)
{
	struct mgr_sb **pp = &m->spares, *s;
	struct osh_strv missing = { 0 };
	int64_t now = now_mono_s();

	while ((s = *pp)) {
		bool old = now - s->spare_made > SPARE_MAX_AGE_S;

		if (!old && osh_sandbox_pins_check(s->sb, false, &missing, NULL) == 0) {
			pp = &s->next;
			continue;
		}
		osh_strv_free(&missing);
		*pp = s->next;
		m->n_spares--;
		spare_drop(m, s, old ? "too old" : "its pins were removed");
	}
}

void osh_manager_sandbox_create(struct osh_manager *m, const struct osh_caller *c,
				const struct osh_req_create *req, struct osh_answer *ret)
{
	struct mgr_sb *s = NULL;
	struct osh_policy *p = NULL;
	const char *reason = req->reason ? req->reason : "";
	char name[32], hash[80], *workdir = NULL;
	struct passwd *pw;
	bool took = false;
	int r;

	if (req->name && !osh_api_name_valid(req->name)) {
		osh_answer_error(ret, 400, "bad-request",
				 "name '%s': expected 1-63 of a-z 0-9 . _ - starting with a letter "
				 "or digit",
				 req->name);
		return;
	}
	if (!req->name && !req->ephemeral) {
		osh_answer_error(ret, 400, "bad-request",
				 "name: required unless the sandbox is ephemeral");
		return;
	}
	pthread_mutex_lock(&m->lock);
	m->active_ms = now_mono_ms();
	if (req->name) {
		end_now(m, req->name);
		if (find(m, req->name)) {
			osh_answer_error(ret, 409, "exists", "a sandbox named '%s' exists",
					 req->name);
			goto out;
		}
	}
	if (!(p = policy_load(REQUEST_SOURCE, req->policy, strlen(req->policy),
			      OSH_POLICY_FORMAT_AUTO, ret)))
		goto out;
	if (gate_refuses(m, NULL, p, ret))
		goto out;
	if (req->workdir)
		workdir = strdup(req->workdir);
	else
		workdir = strdup((pw = getpwuid(c->uid)) && pw->pw_dir ? pw->pw_dir : "/");
	if (!workdir)
		goto oom;
	if (!req->name) {
		if (policy_hash(p, hash, sizeof(hash)) < 0)
			goto oom;
		s = spare_take(m, c, p, hash, workdir, reason);
		took = s != NULL;
		if (!s && (r = name_pick(m, name)) < 0) {
			osh_answer_error(ret, 500, "internal", "choosing a name: %s", strerror(-r));
			goto out;
		}
	}
	if (!s && !(s = sb_make(m, c, req->name ? req->name : name, workdir, req->ephemeral, reason,
				&p, false, ret)))
		goto out;
	/* Unconfirmed, the row would be an interrupted creation that start-up removes: undo it
	 * now instead, while the client can still be told. */
	r = osh_store_revision_applied(m->o.store, s->id, s->rev);
	if (r < 0) {
		answer_store_error(ret, r, "store: cannot record the new sandbox as created");
		osh_sandbox_destroy(s->sb, NULL);
		osh_store_sandbox_delete(m->o.store, s->id);
		mgr_sb_free(s);
		goto out;
	}
	seed_free(s->seed);
	s->seed = NULL;
	/* With BPF LSM rules a spare would never be current (osh_sandbox_current): none made. */
	if (!req->name && m->o.spares && !(osh_sandbox_mechanisms(s->sb) & OSH_MECH_BPF_LSM))
		s->seed = seed_new(c, req->policy, workdir, reason, s->hash);
	link_sb(m, s);
	logf_(LOG_INFO, "sandbox %s created by uid %u (revision 1, %s%s)", s->name,
	      (unsigned)c->uid, s->hash, took ? ", a spare made before" : "");
	ret->status = 201;
	ret->body = sandbox_json(s);
	if (!ret->body)
		answer_oom(ret);
	goto out;
oom:
	answer_oom(ret);
out:
	pthread_mutex_unlock(&m->lock);
	osh_policy_free(p);
	free(workdir);
}

void osh_manager_sandbox_list(struct osh_manager *m, const struct osh_caller *c,
			      struct osh_answer *ret)
{
	cJSON *arr;

	pthread_mutex_lock(&m->lock);
	ret->status = 200;
	ret->body = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(ret->body, "sandboxes");
	/* the list is newest first; answer in creation order */
	for (struct mgr_sb *s = m->list; s; s = s->next)
		if (!s->ending && may_see(c, s))
			cJSON_InsertItemInArray(arr, 0, sandbox_json(s));
	pthread_mutex_unlock(&m->lock);
}

void osh_manager_sandbox_get(struct osh_manager *m, const struct osh_caller *c, const char *name,
			     struct osh_answer *ret)
{
	struct mgr_sb *s;

	pthread_mutex_lock(&m->lock);
	if ((s = lookup(m, c, name, ret))) {
		ret->status = 200;
		ret->body = sandbox_json(s);
		if (!ret->body)
			answer_oom(ret);
	}
	pthread_mutex_unlock(&m->lock);
}

/* Removes s from kernel, store and memory. Called with m->lock held. */
static int remove_sb(struct osh_manager *m, struct mgr_sb *s, struct osh_sandbox_error *e)
{
	int r = 0;

	if (s->sb)
		r = osh_sandbox_destroy(s->sb, e);
	else
		r = osh_sandbox_purge(m->bpffs_root, s->name, e);
	s->sb = NULL;
	if (r < 0 && r != -ENOENT)
		return r;
	r = osh_store_sandbox_delete(m->o.store, s->id);
	if (r < 0 && r != -ENOENT) {
		/* Kernel side gone, record kept (gone) until a delete can drop it. */
		osh_policy_free(s->policy);
		s->policy = NULL;
		return osh_sandbox_error_set(e, -r, "store", s->name,
					     "its kernel state is removed, but the store cannot "
					     "drop its record yet");
	}
	unlink_sb(m, s);
	mgr_sb_free(s);
	return 0;
}

void osh_manager_sandbox_delete(struct osh_manager *m, const struct osh_caller *c, const char *name,
				struct osh_answer *ret)
{
	struct osh_sandbox_error e = { 0 };
	struct mgr_sb *s;
	int r;

	pthread_mutex_lock(&m->lock);
	if ((s = lookup(m, c, name, ret))) {
		r = remove_sb(m, s, &e);
		if (r == -ENOSPC) {
			char msg[PATH_MAX + 300];

			osh_sandbox_error_format(&e, msg, sizeof(msg));
			answer_store_error(ret, r, msg);
		} else if (r < 0) {
			answer_sandbox_error(ret, r, &e);
		} else {
			logf_(LOG_INFO, "sandbox %s deleted by uid %u", name, (unsigned)c->uid);
			ret->status = 200;
			ret->body = cJSON_CreateObject();
			cJSON_AddStringToObject(ret->body, "deleted", name);
		}
	}
	pthread_mutex_unlock(&m->lock);
}

static cJSON *revision_json(const struct osh_store_revision *r, bool with_policy)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "rev", (double)r->rev);
	cJSON_AddStringToObject(o, "hash", r->hash ? r->hash : "");
	cJSON_AddNumberToObject(o, "author_uid", r->author_uid);
	add_time(o, "created", r->created);
	cJSON_AddStringToObject(o, "reason", r->reason ? r->reason : "");
	if (with_policy)
		cJSON_AddStringToObject(o, "policy", r->policy ? r->policy : "");
	return o;
}

void osh_manager_policy_get(struct osh_manager *m, const struct osh_caller *c, const char *name,
			    long long rev, struct osh_answer *ret)
{
	struct osh_store_revision r = { 0 };
	struct mgr_sb *s;
	int e;

	pthread_mutex_lock(&m->lock);
	if ((s = lookup(m, c, name, ret))) {
		/* The revision in force is what oshd knows, also while the store could not mark
		 * it applied yet. */
		e = osh_store_revision_get(m->o.store, s->id, rev == 0 && s->rev > 0 ? s->rev : rev,
					   &r);
		if (e == -ENOENT) {
			osh_answer_error(ret, 404, "not-found", "sandbox '%s' has no revision %lld",
					 name, rev);
		} else if (e < 0) {
			osh_answer_error(ret, 500, "internal", "store: %s", strerror(-e));
		} else {
			ret->status = 200;
			ret->body = revision_json(&r, true);
		}
		osh_store_revision_free(&r);
	}
	pthread_mutex_unlock(&m->lock);
}

void osh_manager_policy_list(struct osh_manager *m, const struct osh_caller *c, const char *name,
			     struct osh_answer *ret)
{
	struct osh_store_revision *v = NULL;
	size_t n = 0;
	struct mgr_sb *s;
	int e;

	pthread_mutex_lock(&m->lock);
	if ((s = lookup(m, c, name, ret))) {
		e = osh_store_revision_list(m->o.store, s->id, &v, &n);
		if (e < 0) {
			osh_answer_error(ret, 500, "internal", "store: %s", strerror(-e));
		} else {
			cJSON *arr;

			ret->status = 200;
			ret->body = cJSON_CreateObject();
			arr = cJSON_AddArrayToObject(ret->body, "revisions");
			for (size_t i = 0; i < n; i++)
				cJSON_AddItemToArray(arr, revision_json(&v[i], false));
		}
		for (size_t i = 0; i < n; i++)
			osh_store_revision_free(&v[i]);
		free(v);
	}
	pthread_mutex_unlock(&m->lock);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Replaces s's policy with p (taken). Called with m->lock held. */
static void policy_apply(struct osh_manager *m, const struct osh_caller *c, struct mgr_sb *s,
			 struct osh_policy *p, const char *reason, struct osh_answer *ret)
{
	struct osh_policy_diff *d = NULL;
	struct osh_store_revision rev = { 0 };
	struct osh_strv warnings = { 0 };
	struct osh_sandbox_error e;
	char hash[80], *canon = NULL, *err = NULL;
	double t0 = now_seconds();
	int r;

	if (!sb_usable(s)) {
		answer_not_usable(ret, s, "only get and delete work on it");
		goto out;
	}
	if (osh_policy_diff(s->policy, p, &d) < 0)
		goto oom;
	if (d->n_static) {
		cJSON *fields;

		osh_answer_error(ret, 409, "static-change",
				 "the change touches static sections, which need a new sandbox");
		fields = cJSON_AddArrayToObject(
		    cJSON_GetObjectItemCaseSensitive(ret->body, "error"), "fields");
		for (size_t i = 0; i < d->n_changes; i++)
			if (d->changes[i].is_static)
				cJSON_AddItemToArray(fields,
						     cJSON_CreateString(d->changes[i].section));
		goto out;
	}
	if (policy_hash(p, hash, sizeof(hash)) < 0)
		goto oom;
	if (!strcmp(hash, s->hash)) {
		struct osh_store_revision cur = { 0 };

		if (osh_store_revision_get(m->o.store, s->id, s->rev, &cur) < 0) {
			osh_answer_error(ret, 500, "internal", "store: reading revision %lld",
					 (long long)s->rev);
			goto out;
		}
		ret->status = 200;
		ret->body = revision_json(&cur, false);
		cJSON_AddBoolToObject(ret->body, "changed", false);
		osh_store_revision_free(&cur);
		goto out;
	}
	if (gate_refuses(m, s->policy, p, ret))
		goto out;
	if (osh_policy_dump(p, OSH_POLICY_FORMAT_YAML, &canon) < 0)
		goto oom;
	/* The store must know that the revision in force is applied before it takes the next. */
	if (s->rev_unconfirmed) {
		r = osh_store_revision_applied(m->o.store, s->id, s->rev);
		if (r < 0) {
			answer_store_error(ret, r, "store: cannot record the revision in force");
			goto out;
		}
		s->rev_unconfirmed = false;
	}
	rev = (struct osh_store_revision){ .sandbox_id = s->id,
					   .hash = hash,
					   .policy = canon,
					   .author_uid = c->uid,
					   .reason = reason ? (char *)reason : "" };
	r = osh_store_revision_add(m->o.store, &rev, &err);
	if (r < 0) {
		answer_store_error(ret, r, err);
		goto out;
	}
	fault_point(m, "policy-stored");
	r = osh_sandbox_net_policy_set(s->sb, p, &warnings, &e);
	if (r < 0) {
		/* The kernel still runs the old generation: drop the pending revision. */
		osh_store_revision_abandon(m->o.store, s->id, rev.rev);
		answer_sandbox_error(ret, r, &e);
		goto out;
	}
	fault_point(m, "policy-flipped");
	/* Stored, and in force: if the store cannot mark it applied now (full), it stays pending
	 * there, which start-up would apply; it is marked as soon as the store takes it. */
	if (osh_store_revision_applied(m->o.store, s->id, rev.rev) < 0) {
		s->rev_unconfirmed = true;
		logf_(LOG_WARNING,
		      "sandbox %s: revision %lld is in force but the store cannot mark it "
		      "applied yet; it will when it can",
		      s->name, (long long)rev.rev);
	}
	osh_policy_free(s->policy);
	s->policy = p;
	p = NULL;
	s->rev = rev.rev;
	snprintf(s->hash, sizeof(s->hash), "%s", hash);
	if (m->o.metrics)
		osh_metrics_observe_reload(m->o.metrics, now_seconds() - t0);
	logf_(LOG_INFO, "sandbox %s: policy revision %lld applied (%s) by uid %u", s->name,
	      (long long)rev.rev, hash, (unsigned)c->uid);
	rev.policy = NULL;
	ret->status = 200;
	ret->body = revision_json(&rev, false);
	cJSON_AddBoolToObject(ret->body, "changed", true);
	cJSON_AddItemToObject(ret->body, "warnings", strv_json(&warnings));
	goto out;
oom:
	answer_oom(ret);
out:
	osh_policy_diff_free(d);
	osh_policy_free(p);
	osh_strv_free(&warnings);
	free(canon);
	free(err);
}

void osh_manager_policy_set(struct osh_manager *m, const struct osh_caller *c, const char *name,
			    const struct osh_req_policy_set *req, struct osh_answer *ret)
{
	struct mgr_sb *s;
	struct osh_policy *p;

	pthread_mutex_lock(&m->lock);
	if ((s = lookup(m, c, name, ret)) &&
	    (p = policy_load(REQUEST_SOURCE, req->policy, strlen(req->policy),
			     OSH_POLICY_FORMAT_AUTO, ret)))
		policy_apply(m, c, s, p, req->reason, ret);
	pthread_mutex_unlock(&m->lock);
}

void osh_manager_policy_update(struct osh_manager *m, const struct osh_caller *c, const char *name,
			       const struct osh_req_policy_update *req, struct osh_answer *ret)
{
	struct osh_api_err err = { 0 };
	char *cur = NULL, *next = NULL;
	struct mgr_sb *s;
	struct osh_policy *p;

	pthread_mutex_lock(&m->lock);
	if (!(s = lookup(m, c, name, ret)))
		goto out;
	if (!s->policy) {
		osh_answer_error(ret, 409, "gone", "sandbox '%s' has no policy in force", name);
		goto out;
	}
	if (osh_policy_dump(s->policy, OSH_POLICY_FORMAT_JSON, &cur) < 0) {
		answer_oom(ret);
		goto out;
	}
	if (osh_policy_update_apply(cur, req, &next, &err) < 0) {
		bool internal = err.code && !strcmp(err.code, "internal");

		osh_answer_error(ret, internal ? 500 : 400, err.code ? err.code : "bad-request",
				 "%s: %s", err.field[0] ? err.field : "update", err.message);
		cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(ret->body, "error"),
					"field", err.field);
		goto out;
	}
	if ((p = policy_load(UPDATE_SOURCE, next, strlen(next), OSH_POLICY_FORMAT_JSON, ret)))
		policy_apply(m, c, s, p, req->reason, ret);
out:
	pthread_mutex_unlock(&m->lock);
	free(cur);
	free(next);
}

static void count_status(struct osh_manager *m, unsigned int by_status[3])
{
	by_status[0] = by_status[1] = by_status[2] = 0;
	for (struct mgr_sb *s = m->list; s; s = s->next) {
		int n;
		const char *st = status_of(s, &n);

		if (s->ending)
			continue;
		by_status[!strcmp(st, "running") ? 0 : !strcmp(st, "idle") ? 1 : 2]++;
	}
}

void osh_manager_status(struct osh_manager *m, struct osh_answer *ret)
{
	struct osh_events_stats es = { 0 };
	unsigned int by[3], spares;
	cJSON *sb;

	pthread_mutex_lock(&m->lock);
	count_status(m, by);
	spares = m->n_spares;
	pthread_mutex_unlock(&m->lock);
	if (m->o.events)
		osh_events_stats(m->o.events, &es);
	osh_sandbox_net_events_dropped(&es.dropped_kernel);
	ret->status = 200;
	ret->body = cJSON_CreateObject();
	cJSON_AddStringToObject(ret->body, "version", OSH_VERSION);
	add_time(ret->body, "started", m->started);
	sb = cJSON_AddObjectToObject(ret->body, "sandboxes");
	cJSON_AddNumberToObject(sb, "running", by[0]);
	cJSON_AddNumberToObject(sb, "idle", by[1]);
	cJSON_AddNumberToObject(sb, "gone", by[2]);
	cJSON_AddNumberToObject(sb, "spare", spares);
	cJSON_AddNumberToObject(ret->body, "events_last_id", (double)es.last_id);
	cJSON_AddNumberToObject(ret->body, "events_dropped",
				(double)(es.dropped_kernel + es.dropped_store + es.dropped_log));
	cJSON_AddNumberToObject(ret->body, "events_dropped_kernel", (double)es.dropped_kernel);
	cJSON_AddStringToObject(ret->body, "bpffs", m->bpffs_root);
	cJSON_AddBoolToObject(ret->body, "prove_gate", m->o.gate_registry != NULL);
}

int osh_manager_metrics(struct osh_manager *m, char **ret_text)
{
	struct osh_events_stats es = { 0 };
	unsigned int by[3];

	pthread_mutex_lock(&m->lock);
	count_status(m, by);
	pthread_mutex_unlock(&m->lock);
	if (m->o.events)
		osh_events_stats(m->o.events, &es);
	osh_sandbox_net_events_dropped(&es.dropped_kernel);
	return osh_metrics_render(m->o.metrics, &es, by, ret_text);
}

void osh_manager_set_gate(struct osh_manager *m, const struct osh_prover_registry *registry,
			  const struct osh_prover_accepted *accepted)
{
	pthread_mutex_lock(&m->lock);
	m->o.gate_registry = registry;
	m->o.gate_accepted = accepted;
	pthread_mutex_unlock(&m->lock);
}

void osh_manager_count_request(struct osh_manager *m, unsigned int status)
{
	if (m->o.metrics)
		osh_metrics_count_request(m->o.metrics, status);
}

/* ---- exec --------------------------------------------------------------------------------- */

void osh_manager_exec_check(struct osh_manager *m, const struct osh_caller *c, const char *name,
			    const struct osh_req_exec *req, struct osh_answer *ret)
{
	struct mgr_sb *s;

	pthread_mutex_lock(&m->lock);
	ret->status = 0;
	if ((s = lookup(m, c, name, ret)) && !sb_usable(s))
		answer_not_usable(ret, s, "nothing can run in it");
	pthread_mutex_unlock(&m->lock);
}

int osh_manager_exec_start(struct osh_manager *m, const struct osh_caller *c, const char *name,
			   const struct osh_req_exec *req, const int stdio[3],
			   struct osh_exec **ret_exec, int *ret_status, char **ret_err)
{
	struct osh_answer a = { 0 };
	struct osh_sandbox_error e = { 0 };
	struct osh_exec *x = calloc(1, sizeof(*x));
	char home[PATH_MAX + 8];
	struct passwd *pw;
	struct mgr_sb *s;
	int r;

	*ret_status = 125;
	*ret_err = NULL;
	if (!x)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	m->active_ms = now_mono_ms();
	if (!(s = lookup(m, c, name, &a)) || !sb_usable(s)) {
		cJSON *msg;

		if (s)
			answer_not_usable(&a, s, "nothing can run in it");
		msg = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(a.body, "error"), "message");
		*ret_err = strdup(cJSON_IsString(msg) ? msg->valuestring : "sandbox is gone");
		cJSON_Delete(a.body);
		pthread_mutex_unlock(&m->lock);
		free(x);
		return -ENOENT;
	}
	pw = getpwuid(s->owner);
	snprintf(home, sizeof(home), "HOME=%s", pw && pw->pw_dir ? pw->pw_dir : "/");
	{
		char *const default_env[] = { DEFAULT_PATH, home, NULL };
		struct osh_sandbox_exec_opts o = {
			.envp = req->env ? req->env : default_env,
			.workdir = req->workdir,
			.stdio = { stdio[0], stdio[1], stdio[2] },
			.new_session = true,
		};

		r = osh_sandbox_exec(s->sb, req->argv, &o, &x->pid, &x->pidfd, ret_status, &e);
	}
	if (r < 0) {
		char msg[PATH_MAX + 300];

		osh_sandbox_error_format(&e, msg, sizeof(msg));
		*ret_err = strdup(msg);
		pthread_mutex_unlock(&m->lock);
		free(x);
		return r;
	}
	s->execs++;
	x->sandbox_id = s->id;
	logf_(LOG_INFO, "sandbox %s: uid %u started pid %d (%s)", s->name, (unsigned)c->uid,
	      (int)x->pid, req->argv[0]);
	pthread_mutex_unlock(&m->lock);
	*ret_exec = x;
	return 0;
}

pid_t osh_exec_pid(const struct osh_exec *x)
{
	return x->pid;
}

int osh_exec_pidfd(const struct osh_exec *x)
{
	return x->pidfd;
}

int osh_manager_exec_finish(struct osh_manager *m, struct osh_exec *x, int64_t *ret_last_event_id)
{
	siginfo_t si = { 0 };
	struct mgr_sb *s;
	int status = 125;

	*ret_last_event_id = 0;

	while (waitid(P_PIDFD, (id_t)x->pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	if (si.si_code == CLD_EXITED)
		status = si.si_status;
	else if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)
		status = 128 + si.si_status;
	close(x->pidfd);
	pthread_mutex_lock(&m->lock);
	s = find_id(m, x->sandbox_id);
	/* Every event the command's processes produced before they exited gets its id now, so
	 * the client knows which one to wait for (docs/api.md, the exec protocol). Before an
	 * ephemeral sandbox goes: its events are only attributed while it is listed. */
	if (s && s->sb && osh_sandbox_events_flush(s->sb, EVENTS_FLUSH_MS) < 0)
		logf_(LOG_WARNING,
		      "sandbox %s: the engine's event threads did not let go within %d ms; the "
		      "command's last events may come after its exit status",
		      s->name, EVENTS_FLUSH_MS);
	if (s) {
		pthread_mutex_lock(&m->ids_lock);
		*ret_last_event_id = s->last_event_id;
		pthread_mutex_unlock(&m->ids_lock);
	}
	if (s && s->execs)
		s->execs--;
	/* An ephemeral sandbox lives as long as the commands started in it through the API. Its
	 * removal (~1 ms) waits until the exit is reported: osh_manager_exec_release. */
	if (s && s->ephemeral && !s->execs)
		s->ending = true;
	pthread_mutex_unlock(&m->lock);
	return status;
}

void osh_manager_exec_release(struct osh_manager *m, struct osh_exec *x)
{
	struct mgr_seed *seed = NULL;
	struct mgr_sb *s;

	pthread_mutex_lock(&m->lock);
	s = find_id(m, x->sandbox_id);
	if (s && s->ending) {
		seed = s->seed;
		s->seed = NULL;
		(void)end_sb(m, s);
	}
	/* Made by the checker once oshd is quiet (SPARE_QUIET_MS): not while the command ran,
	 * when it would have held the lock its exec needed, nor at once, when the next run of
	 * back-to-back ones would wait for it. */
	if (seed)
		spare_queue(m, seed);
	pthread_mutex_unlock(&m->lock);
	free(x);
}

/* ---- start-up and shutdown ---------------------------------------------------------------- */

/* Re-adopts one stored sandbox. Called with m->lock held. */
static void adopt_one(struct osh_manager *m, const struct osh_store_sandbox *row)
{
	struct osh_store_revision rev = { 0 };
	struct osh_sandbox_config cfg;
	struct osh_sandbox_error e = { 0 };
	struct osh_answer a = { 0 };
	struct mgr_sb *s = calloc(1, sizeof(*s));
	int64_t want = row->pending_rev ? row->pending_rev : row->rev;
	char msg[PATH_MAX + 300];
	int r;

	osh_sandbox_config_init(&cfg);
	if (!s || !(s->name = strdup(row->name)) || !(s->workdir = strdup(row->workdir)) ||
	    !(s->cgroup = strdup(row->cgroup ? row->cgroup : ""))) {
		logf_(LOG_ERR, "sandbox %s: out of memory", row->name);
		goto out;
	}
	s->id = row->id;
	s->owner = row->owner_uid;
	s->ephemeral = row->ephemeral;
	s->created = row->created;
	if (row->status == OSH_SB_GONE) {
		s->rev = row->rev;
		link_sb(m, s);
		s = NULL;
		goto out;
	}
	if (osh_store_revision_get(m->o.store, row->id, want, &rev) < 0 ||
	    !(s->policy = policy_load(REQUEST_SOURCE, rev.policy, strlen(rev.policy),
				      OSH_POLICY_FORMAT_YAML, &a)) ||
	    config_build(m, s, s->owner, owner_is_admin(s->owner), s->policy, &cfg, &a) < 0) {
		/* Only a store written by another osh could get here: keep the kernel state (it
		 * enforces the last policy) and say why the sandbox is not managed. */
		if (asprintf(&s->error, "revision %lld cannot be loaded", (long long)want) < 0)
			s->error = NULL;
		logf_(LOG_ERR, "sandbox %s: %s; its kernel state stays as it is", s->name,
		      s->error ? s->error : "revision cannot be loaded");
		link_sb(m, s);
		s = NULL;
		goto out;
	}
	r = osh_sandbox_adopt(&cfg, &s->sb, &e);
	if (r == -ENOENT) {
		osh_sandbox_error_format(&e, msg, sizeof(msg));
		logf_(LOG_WARNING, "sandbox %s is gone (%s); removing its kernel state", s->name,
		      msg);
		osh_sandbox_purge(m->bpffs_root, s->name, NULL);
		osh_store_sandbox_set_status(m->o.store, s->id, OSH_SB_GONE);
		osh_policy_free(s->policy);
		s->policy = NULL;
		s->rev = row->rev;
		link_sb(m, s);
		s = NULL;
		goto out;
	}
	if (r < 0) {
		osh_sandbox_error_format(&e, msg, sizeof(msg));
		s->error = strdup(msg);
		logf_(LOG_ERR,
		      "sandbox %s cannot be re-adopted: %s; its pinned kernel state keeps "
		      "enforcing the last policy",
		      s->name, msg);
		link_sb(m, s);
		s = NULL;
		goto out;
	}
	if (row->pending_rev && osh_store_revision_applied(m->o.store, s->id, row->pending_rev) < 0)
		s->rev_unconfirmed = true;
	s->rev = want;
	snprintf(s->hash, sizeof(s->hash), "%s", rev.hash);
	free(s->cgroup);
	s->cgroup = strdup(osh_sandbox_cgroup_path(s->sb));
	s->cgroup_id = cgroup_id_of(s->cgroup);
	logf_(LOG_INFO, "sandbox %s re-adopted at revision %lld%s", s->name, (long long)want,
	      row->pending_rev ? " (a pending revision, applied now)" : "");
	link_sb(m, s);
	s = NULL;
out:
	cJSON_Delete(a.body);
	osh_store_revision_free(&rev);
	osh_sandbox_config_free(&cfg);
	mgr_sb_free(s);
}

int osh_manager_open(const struct osh_manager_opts *o, struct osh_manager **ret, char **ret_err)
{
	struct osh_manager *m = calloc(1, sizeof(*m));
	struct osh_store_sandbox *rows = NULL;
	size_t n = 0;
	int r;

	*ret_err = NULL;
	if (!m || !(m->bpffs_root = strdup(o->bpffs_root))) {
		free(m);
		return -ENOMEM;
	}
	m->o = *o;
	m->o.bpffs_root = m->bpffs_root;
	m->started = time(NULL);
	m->fault = getenv("OSHD_FAULT");
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->ids_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&m->pins_wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	r = osh_store_sandbox_list(o->store, &rows, &n);
	if (r < 0) {
		if (asprintf(ret_err, "store: listing sandboxes: %s", strerror(-r)) < 0)
			*ret_err = NULL;
		osh_manager_close(m);
		return r;
	}
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].rev == 0) {
			/* Creation never completed (the client got no answer): undo it. */
			logf_(LOG_WARNING,
			      "sandbox %s: creation was interrupted; removing what exists of it",
			      rows[i].name);
			osh_sandbox_purge(m->bpffs_root, rows[i].name, NULL);
			osh_store_sandbox_delete(o->store, rows[i].id);
		} else {
			adopt_one(m, &rows[i]);
		}
		osh_store_sandbox_free(&rows[i]);
	}
	pthread_mutex_unlock(&m->lock);
	free(rows);
	r = -pthread_create(&m->pins_thread, NULL, checker_main, m);
	if (r < 0) {
		if (asprintf(ret_err, "starting the pins checker: %s", strerror(-r)) < 0)
			*ret_err = NULL;
		osh_manager_close(m);
		return r;
	}
	m->pins_thread_on = true;
	*ret = m;
	return 0;
}

void osh_manager_close(struct osh_manager *m)
{
	struct mgr_sb *s;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->closing = true;
	pthread_cond_signal(&m->pins_wake);
	pthread_mutex_unlock(&m->lock);
	if (m->pins_thread_on)
		pthread_join(m->pins_thread, NULL);
	pthread_mutex_lock(&m->lock);
	while ((s = m->spares)) {
		m->spares = s->next;
		m->n_spares--;
		spare_drop(m, s, "oshd stops");
	}
	while (m->seeds) {
		struct mgr_seed *d = m->seeds;

		m->seeds = d->next;
		seed_free(d);
	}
	while ((s = m->list)) {
		/* One whose exit was being reported goes now (if it cannot, the next start has it). */
		if (s->ending && end_sb(m, s) == 0)
			continue;
		unlink_sb(m, s);
		/* Enforcement stays: programs, maps and links are pinned; the processes run on. */
		osh_sandbox_release(s->sb);
		mgr_sb_free(s);
	}
	pthread_mutex_unlock(&m->lock);
	pthread_cond_destroy(&m->pins_wake);
	pthread_mutex_destroy(&m->ids_lock);
	pthread_mutex_destroy(&m->lock);
	free(m->bpffs_root);
	free(m);
}
