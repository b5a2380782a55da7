/* SPDX-License-Identifier: Apache-2.0 */
/* The event pipeline: a ring of rendered events for streaming readers, and two bounded queues
 * drained by writer threads, one into the store (batches, one transaction each) and one into the
 * OCSF log (rendered and written there, rotating). A producer only cleans the strings, renders
 * the Event JSON and enqueues; a full queue drops the event there and counts it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>

#include "events.h"
#include "store.h"
#include "version.h"

#define DEFAULT_STORE_KEEP 10000
#define DEFAULT_RING	   4096
#define DEFAULT_LOG_MAX	   (16u << 20)
#define DEFAULT_LOG_KEEP   4
#define DEFAULT_QUEUE	   4096
#define READ_CHUNK	   128	       /* events a reader takes per lock hold */
#define LOG_BUF		   (64u << 10) /* the log writer's write(2) size */
#define PRINT_BUF	   8192	       /* most renderings fit on the stack */
#define OCSF_VERSION	   "1.1.0"
/* Ids are reserved in the store this far ahead, so a crash never makes a restarted oshd hand
 * out an id a reader may already have seen (the newest rows may be gone: a sandbox's events are
 * deleted with it, and dropped events were never stored). */
#define ID_RESERVE     (1 << 20)
#define ID_RESERVE_KEY "events.id_reserved"

/* "pins" is oshd's own finding, not a kernel decision: pins removed from outside, then
 * "restored" or the sandbox "stopped" (docs/arch-daemon.md "Faults"). */
enum { KIND_EGRESS, KIND_DNS, KIND_FS, KIND_PINS, N_KINDS };
enum { DECISION_DENY, DECISION_AUDIT, DECISION_RESTORED, DECISION_STOPPED, N_DECISIONS };
static const char *const kind_names[N_KINDS] = { "egress", "dns", "fs", "pins" };
static const char *const decision_names[N_DECISIONS] = { "deny", "audit", "restored", "stopped" };

/* The strings of an event, in this order everywhere. */
enum { F_SANDBOX, F_COMM, F_EXE, F_OPERATION, F_TARGET, F_HOST, F_CLOSEST, F_HINT, F_MESSAGE, N_F };
static const char *const field_names[N_F] = { "sandbox", "comm",    "exe",  "operation", "target",
					      "host",	 "closest", "hint", "message" };

/* An event's contents, as both renderings read them. */
struct view {
	int64_t time_ns;
	int64_t sandbox_id; /* <= 0: absent */
	int pid, uid;	    /* <= 0, < 0: absent */
	int kind, decision;
	const char *v[N_F]; /* valid UTF-8; NULL: absent */
};

/* One event, shared by the ring, the queues and readers: refcounted, so a reader or a queue
 * takes a reference under the lock instead of a copy. One allocation holds the struct, the
 * strings and the Event JSON. */
struct blob {
	atomic_uint refs;
	int64_t id;
	int64_t sandbox_id;
	struct view view;
	const char *sandbox; /* view.v[F_SANDBOX], or "" when absent: what readers filter on */
	const char *json;
	char data[];
};

struct osh_events {
	/* Set at open. */
	struct osh_store *store;
	size_t store_keep, q_cap;
	uint64_t log_max;
	char *log_path;
	unsigned log_keep;
	/* The log writer's. */
	int log_fd;
	uint64_t log_size;

	pthread_mutex_t lock; /* from here to the log queue */
	pthread_cond_t added; /* readers wait for new events */
	uint64_t wakes;	      /* osh_events_wake calls: a waiting reader returns when it moves */
	struct blob **ring;
	size_t ring_cap, ring_n, ring_head; /* head: where the next event goes */
	int64_t last_id;
	uint64_t counts[N_DECISIONS][N_KINDS];
	uint64_t dropped_store, stored, dropped_log, logged;
	/* Store queue: producers append; the writer swaps the whole array out. */
	struct blob **sq, **sq_spare;
	size_t sq_n;
	pthread_cond_t sq_wake;
	pthread_t store_thread;
	int64_t id_reserved; /* the store writer's: it keeps this ahead of last_id */
	bool closing;
	bool store_thread_on;

	/* Log queue, under its own lock so producers and the log writer do not contend with
	 * readers for the main one. */
	pthread_mutex_t lq_lock;
	pthread_cond_t lq_wake;
	struct blob **lq, **lq_spare;
	size_t lq_n;
	pthread_t log_thread;
	bool lq_closing;
	bool log_thread_on;
};

static void blob_unref(struct blob *b)
{
	if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		free(b);
}

static struct blob *blob_ref(struct blob *b)
{
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	return b;
}

/* ---- strings from the kernel ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid (overlong forms, surrogates
 * and code points past U+10FFFF included). */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80
			   ? 4
			   : 0;
	}
	return 0;
}

/* NULL when s is valid UTF-8 of at most OSH_EVENT_FIELD_MAX bytes (use it as is); else a
 * malloc'ed copy with each invalid byte replaced by U+FFFD, cut at a character boundary.
 * *ret_oom is set when that copy cannot be made. */
static char *clean_copy(const char *s, bool *ret_oom)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, k;
	char *out;

	if (!s)
		return NULL;
	while (i <= OSH_EVENT_FIELD_MAX && p[i] && (k = utf8_seq(p + i)))
		i += k;
	if (i <= OSH_EVENT_FIELD_MAX && !p[i])
		return NULL;

	out = malloc(OSH_EVENT_FIELD_MAX + 1);
	if (!out) {
		*ret_oom = true;
		return NULL;
	}
	for (i = 0; p[i];) {
		k = utf8_seq(p + i);
		if (o + (k ? k : 3) > OSH_EVENT_FIELD_MAX)
			break;
		if (k) {
			memcpy(out + o, p + i, k);
			i += k;
			o += k;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			i++;
			o += 3;
		}
	}
	out[o] = '\0';
	return out;
}

/* ---- rendering -------------------------------------------------------------------------------- */

static void rfc3339_ms(int64_t time_ns, char buf[80])
{
	int64_t s = time_ns / 1000000000, ms = (time_ns % 1000000000) / 1000000;
	time_t t;
	struct tm tm;

	if (ms < 0) { /* before 1970: C division truncates toward zero */
		s--;
		ms += 1000;
	}
	t = (time_t)s;
	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, 80, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(buf, 80, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

/* Members are added without copies: keys are literals (cJSON's "CS" calls) and values are
 * references to strings that outlive the print, numbers are formatted by hand (cJSON prints
 * every number through a double with printf and checks it with sscanf, which dominated a flood's
 * profile). */
static bool put_str(cJSON *o, const char *key, const char *v)
{
	return !v || cJSON_AddItemToObjectCS(o, key, cJSON_CreateStringReference(v));
}

static bool put_int(cJSON *o, const char *key, int64_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	*--p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return cJSON_AddItemToObjectCS(o, key, cJSON_CreateRaw(p));
}

static cJSON *put_obj(cJSON *o, const char *key)
{
	cJSON *x = cJSON_CreateObject();

	if (x && !cJSON_AddItemToObjectCS(o, key, x)) {
		cJSON_Delete(x);
		return NULL;
	}
	return x;
}

/* Prints o compactly into a buffer of the caller's (most events fit, which saves cJSON's
 * growing reallocations), else into a malloc'ed one. Returns the text and its length; *ret_heap
 * says whether to free it. */
static char *print(cJSON *o, char *buf, size_t size, size_t *ret_len, bool *ret_heap)
{
	char *t = NULL;

	*ret_heap = false;
	if (cJSON_PrintPreallocated(o, buf, (int)size, false)) {
		t = buf;
	} else {
		t = cJSON_PrintUnformatted(o);
		*ret_heap = t != NULL;
	}
	if (t)
		*ret_len = strlen(t);
	return t;
}

/* The Event object of docs/api.md without its id (assigned later, under the lock), as text:
 * `{"time":...}`. */
static char *render_event(const struct view *e, char *buf, size_t *ret_len, bool *ret_heap)
{
	cJSON *o = cJSON_CreateObject();
	char when[80], *text = NULL;
	bool ok;

	if (!o)
		return NULL;
	rfc3339_ms(e->time_ns, when);
	ok = put_str(o, "time", when) && put_str(o, "sandbox", e->v[F_SANDBOX]) &&
	     (e->sandbox_id <= 0 || put_int(o, "sandbox_id", e->sandbox_id)) &&
	     put_str(o, "kind", kind_names[e->kind]) &&
	     put_str(o, "decision", decision_names[e->decision]) &&
	     (e->pid <= 0 || put_int(o, "pid", e->pid)) &&
	     (e->uid < 0 || put_int(o, "uid", e->uid));
	for (int i = F_COMM; ok && i < N_F; i++)
		ok = put_str(o, field_names[i], e->v[i]);
	if (ok)
		text = print(o, buf, PRINT_BUF, ret_len, ret_heap);
	cJSON_Delete(o);
	return text;
}

/* "198.51.100.7:443/tcp" or "[2001:db8::1]:443/tcp" -> address, port, protocol. */
static bool split_target(const char *t, char ip[64], int *ret_port, char proto[16])
{
	const char *slash = strrchr(t, '/'), *colon, *end = slash ? slash : t + strlen(t);
	const char *a = t, *a_end;
	unsigned char bin[16];
	char *port_end;
	long port;

	if (*t == '[') {
		a = t + 1;
		a_end = memchr(a, ']', (size_t)(end - a));
		if (!a_end || a_end[1] != ':')
			return false;
		colon = a_end + 1;
	} else {
		colon = memrchr(t, ':', (size_t)(end - t));
		if (!colon)
			return false;
		a_end = colon;
	}
	if (a_end - a <= 0 || a_end - a >= 64)
		return false;
	memcpy(ip, a, (size_t)(a_end - a));
	ip[a_end - a] = '\0';
	if (inet_pton(*t == '[' ? AF_INET6 : AF_INET, ip, bin) != 1)
		return false;
	port = strtol(colon + 1, &port_end, 10);
	if (port_end != end || port < 0 || port > 65535 || colon + 1 == end)
		return false;
	*ret_port = (int)port;
	proto[0] = '\0';
	if (slash && strlen(slash + 1) < 16)
		snprintf(proto, 16, "%s", slash + 1);
	return true;
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

/* OCSF File System Activity ids for our operation names (bpf-fs.c osh_fs_op_name). */
static int fs_activity(const char *op, const char **ret_name)
{
	static const struct {
		const char *op;
		int id;
		const char *name;
	} map[] = {
		{ "open-read", 2, "Read" },	{ "open-write", 3, "Update" },
		{ "create", 1, "Create" },	{ "mkdir", 1, "Create" },
		{ "symlink", 1, "Create" },	{ "link", 1, "Create" },
		{ "unlink", 4, "Delete" },	{ "rmdir", 4, "Delete" },
		{ "rename", 5, "Rename" },	{ "truncate", 3, "Update" },
		{ "chmod", 7, "Set Security" }, { "chown", 7, "Set Security" },
		{ "mount", 12, "Mount" },
	};

	for (size_t i = 0; op && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(op, map[i].op)) {
			*ret_name = map[i].name;
			return map[i].id;
		}
	*ret_name = op ? op : "Other";
	return 99;
}

/* metadata: uid is the event's id as text (the join key with the API's Event; referenced, so
 * it must outlive the print). */
static bool put_metadata(cJSON *o, const char *uid)
{
	cJSON *x, *y;

	x = put_obj(o, "metadata");
	return x && put_str(x, "version", OCSF_VERSION) && put_str(x, "uid", uid) &&
	       (y = put_obj(x, "product")) && put_str(y, "name", "osh") &&
	       put_str(y, "vendor_name", "osh") && put_str(y, "version", OSH_VERSION);
}

/* A pins event as an OCSF Detection Finding (2004): something outside osh removed what keeps
 * enforcement alive; restored is High, a sandbox stopped for it Critical. */
static char *render_finding(const struct view *e, int64_t id, char *buf, size_t *ret_len,
			    bool *ret_heap)
{
	bool stopped = e->decision == DECISION_STOPPED, ok;
	char uid[24], *text = NULL;
	cJSON *o = cJSON_CreateObject(), *x;

	if (!o)
		return NULL;
	snprintf(uid, sizeof(uid), "%" PRId64, id);
	ok = put_int(o, "time", e->time_ns / 1000000) && put_int(o, "class_uid", 2004) &&
	     put_str(o, "class_name", "Detection Finding") && put_int(o, "category_uid", 2) &&
	     put_str(o, "category_name", "Findings") && put_int(o, "activity_id", 1) &&
	     put_str(o, "activity_name", "Create") && put_int(o, "type_uid", 200401) &&
	     put_str(o, "type_name", "Detection Finding: Create") &&
	     put_int(o, "severity_id", stopped ? 5 : 4) &&
	     put_str(o, "severity", stopped ? "Critical" : "High") &&
	     put_str(o, "message", e->v[F_MESSAGE]) && put_metadata(o, uid);
	x = ok ? put_obj(o, "finding_info") : NULL;
	ok = x && put_str(x, "uid", uid) && put_str(x, "title", "bpffs pins removed") &&
	     put_str(x, "desc", e->v[F_MESSAGE]);
	x = ok ? put_obj(o, "unmapped") : NULL;
	ok = x && put_str(x, "sandbox", e->v[F_SANDBOX]) && put_str(x, "kind", "pins") &&
	     put_str(x, "decision", decision_names[e->decision]) &&
	     put_str(x, "operation", e->v[F_OPERATION]) && put_str(x, "target", e->v[F_TARGET]);
	if (ok)
		text = print(o, buf, PRINT_BUF, ret_len, ret_heap);
	cJSON_Delete(o);
	return text;
}

/* The OCSF line for the log (without its newline), in buf or malloc'ed (*ret_heap). */
static char *render_ocsf(const struct view *e, int64_t id, char *buf, size_t *ret_len,
			 bool *ret_heap)
{
	bool deny = e->decision == DECISION_DENY, fs = e->kind == KIND_FS, ok;
	const char *activity_name, *class_name = fs ? "File System Activity" : "Network Activity";
	int class_uid = fs ? 1001 : 4001, activity_id;
	char type_name[96], uid[24], user[24], ip[64], proto[16], *text = NULL;
	cJSON *o, *x, *y;

	if (e->kind == KIND_PINS)
		return render_finding(e, id, buf, ret_len, ret_heap);
	snprintf(uid, sizeof(uid), "%" PRId64, id);
	o = cJSON_CreateObject();
	if (!o)
		return NULL;
	if (fs) {
		activity_id = fs_activity(e->v[F_OPERATION], &activity_name);
	} else {
		activity_id = deny ? 5 : 1;
		activity_name = deny ? "Refuse" : "Open";
	}
	snprintf(type_name, sizeof(type_name), "%s: %.60s", class_name, activity_name);
	ok = put_int(o, "time", e->time_ns / 1000000) && put_int(o, "class_uid", class_uid) &&
	     put_str(o, "class_name", class_name) && put_int(o, "category_uid", fs ? 1 : 4) &&
	     put_str(o, "category_name", fs ? "System Activity" : "Network Activity") &&
	     put_int(o, "activity_id", activity_id) && put_str(o, "activity_name", activity_name) &&
	     put_int(o, "type_uid", class_uid * 100 + activity_id) &&
	     put_str(o, "type_name", type_name) && put_int(o, "severity_id", deny ? 3 : 1) &&
	     put_str(o, "severity", deny ? "Medium" : "Informational") &&
	     put_int(o, "action_id", deny ? 2 : 1) &&
	     put_str(o, "action", deny ? "Denied" : "Allowed") &&
	     put_int(o, "disposition_id", deny ? 2 : 1) &&
	     put_str(o, "disposition", deny ? "Blocked" : "Allowed") &&
	     put_str(o, "message", e->v[F_MESSAGE]) && put_metadata(o, uid);

	/* actor.process: who tried. OCSF's user.uid is a string. */
	x = ok ? put_obj(o, "actor") : NULL;
	x = x ? put_obj(x, "process") : NULL;
	ok = x && (e->pid <= 0 || put_int(x, "pid", e->pid)) && put_str(x, "name", e->v[F_COMM]);
	if (ok && e->v[F_EXE]) {
		y = put_obj(x, "file");
		ok = y && put_str(y, "path", e->v[F_EXE]) &&
		     put_str(y, "name", basename_of(e->v[F_EXE])) && put_int(y, "type_id", 1) &&
		     put_str(y, "type", "Regular File");
	}
	if (ok && e->uid >= 0) {
		snprintf(user, sizeof(user), "%d", e->uid);
		y = put_obj(x, "user");
		ok = y && put_str(y, "uid", user);
	}

	/* What was refused: an endpoint, or a file. */
	if (ok && !fs && (e->v[F_TARGET] || e->v[F_HOST])) {
		int port = 0;
		bool split = e->v[F_TARGET] && split_target(e->v[F_TARGET], ip, &port, proto);

		x = put_obj(o, "dst_endpoint");
		ok = x && (!split || (put_str(x, "ip", ip) && put_int(x, "port", port))) &&
		     put_str(x, "hostname", e->v[F_HOST]);
		if (ok && split && proto[0]) {
			x = put_obj(o, "connection_info");
			ok = x && put_str(x, "protocol_name", proto);
		}
	}
	if (ok && fs && e->v[F_TARGET]) {
		x = put_obj(o, "file");
		ok = x && put_str(x, "path", e->v[F_TARGET]) &&
		     put_str(x, "name", basename_of(e->v[F_TARGET])) && put_int(x, "type_id", 0);
	}

	/* Ours, without an OCSF attribute. */
	x = ok ? put_obj(o, "unmapped") : NULL;
	ok = x && put_str(x, "sandbox", e->v[F_SANDBOX]) &&
	     put_str(x, "closest", e->v[F_CLOSEST]) && put_str(x, "hint", e->v[F_HINT]) &&
	     put_str(x, "kind", kind_names[e->kind]) &&
	     put_str(x, "operation", e->v[F_OPERATION]) && put_str(x, "target", e->v[F_TARGET]);

	if (ok)
		text = print(o, buf, PRINT_BUF, ret_len, ret_heap);
	cJSON_Delete(o);
	return text;
}

/* ---- the log writer --------------------------------------------------------------------------- */

static int log_open(struct osh_events *ev)
{
	struct stat st;
	int fd = open(ev->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	ev->log_fd = fd;
	ev->log_size = (uint64_t)st.st_size;
	return 0;
}

/* file.(keep-1) -> file.keep, ..., file -> file.1, then a fresh file. */
static void log_rotate(struct osh_events *ev)
{
	size_t n = strlen(ev->log_path) + 16;
	char from[n], to[n];

	if (ev->log_fd >= 0)
		close(ev->log_fd);
	ev->log_fd = -1;
	for (unsigned i = ev->log_keep; i > 1; i--) {
		snprintf(from, n, "%s.%u", ev->log_path, i - 1);
		snprintf(to, n, "%s.%u", ev->log_path, i);
		(void)rename(from, to); /* ENOENT: fewer rotations so far */
	}
	snprintf(to, n, "%s.1", ev->log_path);
	(void)rename(ev->log_path, to);
	(void)log_open(ev); /* on failure the next line tries again, or is counted as dropped */
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Lines go through a buffer, written when full, before a rotation and at the end of a batch;
 * a line counts as logged once the write that holds it succeeded. */
struct log_out {
	char *buf;
	size_t used, pending;
	uint64_t done;
};

static void log_flush(struct osh_events *ev, struct log_out *out)
{
	if (out->used && ev->log_fd >= 0 && write_all(ev->log_fd, out->buf, out->used))
		out->done += out->pending;
	ev->log_size += out->used;
	out->used = out->pending = 0;
}

/* One line, newline included. Rotates before a line that would pass the size limit, so a file
 * exceeds it only when a single line does. */
static void log_put(struct osh_events *ev, struct log_out *out, const char *line, size_t len)
{
	if (ev->log_fd < 0 && log_open(ev) < 0)
		return;
	if (ev->log_size + out->used + len > ev->log_max && ev->log_size + out->used > 0) {
		log_flush(ev, out);
		log_rotate(ev);
		if (ev->log_fd < 0)
			return;
	}
	if (out->used + len > LOG_BUF)
		log_flush(ev, out);
	if (len > LOG_BUF) {
		if (write_all(ev->log_fd, line, len))
			out->done++;
		ev->log_size += len;
		return;
	}
	memcpy(out->buf + out->used, line, len);
	out->used += len;
	out->pending++;
}

static void log_batch(struct osh_events *ev, struct blob **batch, size_t n, struct log_out *out)
{
	char buf[PRINT_BUF];

	for (size_t i = 0; i < n; i++) {
		size_t len = 0;
		bool heap = false;
		char *t = render_ocsf(&batch[i]->view, batch[i]->id, buf, &len, &heap);

		/* The newline: in place when it fits (print() leaves room), else a second write. */
		if (t && !heap && len + 1 < sizeof(buf)) {
			t[len] = '\n';
			log_put(ev, out, t, len + 1);
		} else if (t) {
			char *l = malloc(len + 1);

			if (l) {
				memcpy(l, t, len);
				l[len] = '\n';
				log_put(ev, out, l, len + 1);
				free(l);
			}
		}
		if (heap)
			free(t);
	}
	log_flush(ev, out);
}

static void *log_thread(void *arg)
{
	struct osh_events *ev = arg;
	struct log_out out = { .buf = malloc(LOG_BUF) };

	pthread_mutex_lock(&ev->lq_lock);
	for (;;) {
		struct blob **batch;
		size_t n;

		while (ev->lq_n == 0 && !ev->lq_closing)
			pthread_cond_wait(&ev->lq_wake, &ev->lq_lock);
		if (ev->lq_n == 0)
			break;
		batch = ev->lq;
		n = ev->lq_n;
		ev->lq = ev->lq_spare;
		ev->lq_spare = batch;
		ev->lq_n = 0;
		pthread_mutex_unlock(&ev->lq_lock);

		out.done = 0;
		if (out.buf)
			log_batch(ev, batch, n, &out);
		for (size_t i = 0; i < n; i++)
			blob_unref(batch[i]);

		pthread_mutex_lock(&ev->lock);
		ev->logged += out.done;
		ev->dropped_log += n - out.done;
		pthread_mutex_unlock(&ev->lock);
		pthread_mutex_lock(&ev->lq_lock);
	}
	pthread_mutex_unlock(&ev->lq_lock);
	free(out.buf);
	return NULL;
}

/* ---- the store writer ------------------------------------------------------------------------- */

static int reserve_ids(struct osh_events *ev, int64_t upto)
{
	char v[32];

	snprintf(v, sizeof(v), "%" PRId64, upto);
	return osh_store_setting_set(ev->store, ID_RESERVE_KEY, v);
}

static void *store_thread(void *arg)
{
	struct osh_events *ev = arg;
	struct osh_store_event *rows = calloc(ev->q_cap, sizeof(*rows));

	pthread_mutex_lock(&ev->lock);
	for (;;) {
		struct blob **batch;
		int64_t last;
		size_t n;
		int r = -ENOMEM;

		while (ev->sq_n == 0 && !ev->closing)
			pthread_cond_wait(&ev->sq_wake, &ev->lock);
		if (ev->sq_n == 0)
			break;
		batch = ev->sq;
		n = ev->sq_n;
		ev->sq = ev->sq_spare;
		ev->sq_spare = batch;
		ev->sq_n = 0;
		last = ev->last_id;
		pthread_mutex_unlock(&ev->lock);

		if (last > ev->id_reserved - ID_RESERVE / 2 &&
		    reserve_ids(ev, last + ID_RESERVE) == 0)
			ev->id_reserved = last + ID_RESERVE;
		if (rows) {
			for (size_t i = 0; i < n; i++)
				rows[i] = (struct osh_store_event){
					.id = batch[i]->id,
					.sandbox_id = batch[i]->sandbox_id,
					.time = batch[i]->view.time_ns / 1000000000,
					.json = batch[i]->json,
				};
			r = osh_store_events_add(ev->store, rows, n, ev->store_keep);
		}
		for (size_t i = 0; i < n; i++)
			blob_unref(batch[i]);

		pthread_mutex_lock(&ev->lock);
		if (r < 0)
			ev->dropped_store += n;
		else
			ev->stored += n;
	}
	pthread_mutex_unlock(&ev->lock);
	free(rows);
	return NULL;
}

/* ---- open, close ------------------------------------------------------------------------------ */

static int first_id(struct osh_events *ev)
{
	char *v = NULL, *end;
	int64_t last = 0, reserved = 0;
	int r;

	r = osh_store_event_last_id(ev->store, &last);
	if (r < 0)
		return r;
	r = osh_store_setting_get(ev->store, ID_RESERVE_KEY, &v);
	if (r == 0) {
		errno = 0;
		reserved = strtoll(v, &end, 10);
		if (errno || *end || reserved < 0)
			reserved = 0;
		free(v);
	} else if (r != -ENOENT) {
		return r;
	}
	ev->last_id = last > reserved ? last : reserved;
	r = reserve_ids(ev, ev->last_id + ID_RESERVE);
	if (r < 0)
		return r;
	ev->id_reserved = ev->last_id + ID_RESERVE;
	return 0;
}

void osh_events_close(struct osh_events *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->closing = true;
	pthread_cond_broadcast(&ev->sq_wake);
	pthread_cond_broadcast(&ev->added);
	pthread_mutex_unlock(&ev->lock);
	pthread_mutex_lock(&ev->lq_lock);
	ev->lq_closing = true;
	pthread_cond_broadcast(&ev->lq_wake);
	pthread_mutex_unlock(&ev->lq_lock);
	if (ev->store_thread_on)
		pthread_join(ev->store_thread, NULL);
	if (ev->log_thread_on)
		pthread_join(ev->log_thread, NULL);
	/* A clean stop continues exactly where it left off: no gap at the next start. */
	if (ev->store_thread_on)
		(void)reserve_ids(ev, ev->last_id);

	for (size_t i = 0; ev->ring && i < ev->ring_cap; i++)
		blob_unref(ev->ring[i]);
	for (size_t i = 0; ev->sq && i < ev->sq_n; i++)
		blob_unref(ev->sq[i]);
	for (size_t i = 0; ev->lq && i < ev->lq_n; i++)
		blob_unref(ev->lq[i]);
	free(ev->ring);
	free(ev->sq);
	free(ev->sq_spare);
	free(ev->lq);
	free(ev->lq_spare);
	if (ev->log_fd >= 0)
		close(ev->log_fd);
	free(ev->log_path);
	pthread_cond_destroy(&ev->added);
	pthread_cond_destroy(&ev->sq_wake);
	pthread_cond_destroy(&ev->lq_wake);
	pthread_mutex_destroy(&ev->lock);
	pthread_mutex_destroy(&ev->lq_lock);
	free(ev);
}

int osh_events_open(const struct osh_events_opts *o, struct osh_events **ret)
{
	struct osh_events *ev = calloc(1, sizeof(*ev));
	pthread_condattr_t ca;
	int r;

	if (!ev)
		return -ENOMEM;
	ev->log_fd = -1;
	ev->store = o->store;
	ev->store_keep = o->store_keep ? o->store_keep : DEFAULT_STORE_KEEP;
	ev->ring_cap = o->ring ? o->ring : DEFAULT_RING;
	ev->log_max = o->log_max_bytes ? o->log_max_bytes : DEFAULT_LOG_MAX;
	ev->log_keep = o->log_keep ? o->log_keep : DEFAULT_LOG_KEEP;
	ev->q_cap = o->queue ? o->queue : DEFAULT_QUEUE;
	pthread_mutex_init(&ev->lock, NULL);
	pthread_mutex_init(&ev->lq_lock, NULL);
	/* Readers wait with a deadline that the wall clock must not move. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->added, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&ev->sq_wake, NULL);
	pthread_cond_init(&ev->lq_wake, NULL);

	ev->ring = calloc(ev->ring_cap, sizeof(*ev->ring));
	if (!ev->ring) {
		r = -ENOMEM;
		goto fail;
	}
	if (ev->store) {
		ev->sq = calloc(ev->q_cap, sizeof(*ev->sq));
		ev->sq_spare = calloc(ev->q_cap, sizeof(*ev->sq_spare));
		if (!ev->sq || !ev->sq_spare) {
			r = -ENOMEM;
			goto fail;
		}
		r = first_id(ev);
		if (r < 0)
			goto fail;
	}
	if (o->log_path) {
		ev->log_path = strdup(o->log_path);
		ev->lq = calloc(ev->q_cap, sizeof(*ev->lq));
		ev->lq_spare = calloc(ev->q_cap, sizeof(*ev->lq_spare));
		if (!ev->log_path || !ev->lq || !ev->lq_spare) {
			r = -ENOMEM;
			goto fail;
		}
		r = log_open(ev);
		if (r < 0)
			goto fail;
	}
	if (ev->store) {
		r = -pthread_create(&ev->store_thread, NULL, store_thread, ev);
		if (r < 0)
			goto fail;
		ev->store_thread_on = true;
	}
	if (ev->log_path) {
		r = -pthread_create(&ev->log_thread, NULL, log_thread, ev);
		if (r < 0)
			goto fail;
		ev->log_thread_on = true;
	}
	*ret = ev;
	return 0;
fail:
	osh_events_close(ev);
	return r;
}

/* ---- add -------------------------------------------------------------------------------------- */

static int index_of(const char *s, const char *const *names, int n)
{
	for (int i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

int64_t osh_events_add(struct osh_events *ev, const struct osh_event *in)
{
	const char *raw[N_F] = { in->sandbox, in->comm,	   in->exe,  in->operation, in->target,
				 in->host,    in->closest, in->hint, in->message };
	struct view e = { .time_ns = in->time_ns,
			  .sandbox_id = in->sandbox_id,
			  .pid = in->pid,
			  .uid = in->uid,
			  .kind = index_of(in->kind, kind_names, N_KINDS),
			  .decision = index_of(in->decision, decision_names, N_DECISIONS) };
	char *owned[N_F] = { NULL }, rest_buf[PRINT_BUF], *rest = NULL, *p, prefix[32];
	size_t len[N_F], rest_len = 0, size;
	struct blob *b = NULL, *old;
	bool rest_heap = false, oom = false;
	int64_t id = -ENOMEM;
	int plen;

	if (e.kind < 0 || e.decision < 0 ||
	    (e.kind == KIND_PINS) != (e.decision >= DECISION_RESTORED))
		return -EINVAL;
	if (e.time_ns == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		e.time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	for (int i = 0; i < N_F; i++) {
		owned[i] = clean_copy(raw[i], &oom);
		e.v[i] = owned[i] ? owned[i] : raw[i];
	}
	if (oom)
		goto out;
	rest = render_event(&e, rest_buf, &rest_len, &rest_heap);
	if (!rest)
		goto out;

	/* One allocation: the strings, then room for `{"id":N,` and the rendered members. */
	size = sizeof(*b) + sizeof(prefix) + rest_len;
	for (int i = 0; i < N_F; i++) {
		len[i] = e.v[i] ? strlen(e.v[i]) + 1 : 0;
		size += len[i];
	}
	b = malloc(size);
	if (!b)
		goto out;
	atomic_init(&b->refs, 1);
	b->sandbox_id = in->sandbox_id;
	b->view = e;
	p = b->data;
	for (int i = 0; i < N_F; i++) {
		if (!e.v[i])
			continue;
		memcpy(p, e.v[i], len[i]);
		b->view.v[i] = p;
		p += len[i];
	}
	b->sandbox = b->view.v[F_SANDBOX] ? b->view.v[F_SANDBOX] : "";
	/* The members after `{`, right-aligned so that the prefix, once its length is known
	 * (under the lock), goes just in front of them. */
	memcpy(p + sizeof(prefix), rest + 1, rest_len); /* with the NUL */

	pthread_mutex_lock(&ev->lock);
	id = ++ev->last_id;
	b->id = id;
	plen = snprintf(prefix, sizeof(prefix), "{\"id\":%" PRId64 ",", id);
	memcpy(p + sizeof(prefix) - plen, prefix, (size_t)plen);
	b->json = p + sizeof(prefix) - plen;
	old = ev->ring[ev->ring_head];
	ev->ring[ev->ring_head] = b;
	ev->ring_head = (ev->ring_head + 1) % ev->ring_cap;
	if (ev->ring_n < ev->ring_cap)
		ev->ring_n++;
	ev->counts[e.decision][e.kind]++;
	if (ev->store) {
		if (ev->sq_n < ev->q_cap) {
			ev->sq[ev->sq_n++] = blob_ref(b);
			/* The writer sleeps only on an empty queue. */
			if (ev->sq_n == 1)
				pthread_cond_signal(&ev->sq_wake);
		} else {
			ev->dropped_store++;
		}
	}
	pthread_cond_broadcast(&ev->added);
	pthread_mutex_unlock(&ev->lock);
	/* The overwritten event may still be held by a reader or a queue. */
	blob_unref(old);

	if (ev->log_path) {
		bool queued = false;

		pthread_mutex_lock(&ev->lq_lock);
		if (ev->lq_n < ev->q_cap) {
			ev->lq[ev->lq_n++] = blob_ref(b);
			if (ev->lq_n == 1)
				pthread_cond_signal(&ev->lq_wake);
			queued = true;
		}
		pthread_mutex_unlock(&ev->lq_lock);
		if (!queued) {
			pthread_mutex_lock(&ev->lock);
			ev->dropped_log++;
			pthread_mutex_unlock(&ev->lock);
		}
	}
out:
	if (rest_heap)
		free(rest);
	for (int i = 0; i < N_F; i++)
		free(owned[i]);
	return id;
}

/* ---- read ------------------------------------------------------------------------------------- */

struct store_chunk {
	int64_t upto; /* ids from here on are in the ring */
	int64_t ids[READ_CHUNK];
	char *json[READ_CHUNK];
	size_t n;
	bool reached; /* saw an id >= upto, or the store has no more */
	bool oom;
};

static int store_collect(int64_t id, const char *json, void *ctx)
{
	struct store_chunk *c = ctx;

	if (id >= c->upto) {
		c->reached = true;
		return 1;
	}
	c->json[c->n] = strdup(json);
	if (!c->json[c->n]) {
		c->oom = true;
		return 1;
	}
	c->ids[c->n++] = id;
	return c->n == READ_CHUNK;
}

struct reader {
	int64_t cursor; /* last id looked at */
	size_t delivered, max;
	bool stop;
	int (*fn)(int64_t id, const char *json, void *ctx);
	void *ctx;
};

static bool reader_full(const struct reader *rd)
{
	return rd->stop || (rd->max && rd->delivered >= rd->max);
}

/* Events older than the ring: from the store, chunk by chunk, never calling fn while the store
 * is locked (fn may block on a slow client). */
static int read_store(struct osh_events *ev, struct reader *rd, int64_t sandbox_id, int64_t upto)
{
	struct store_chunk *c = malloc(sizeof(*c));
	int r = 0;

	if (!c)
		return -ENOMEM;
	while (!reader_full(rd) && rd->cursor + 1 < upto) {
		size_t want = READ_CHUNK;

		if (rd->max && rd->max - rd->delivered < want)
			want = rd->max - rd->delivered;
		c->upto = upto;
		c->n = 0;
		c->reached = c->oom = false;
		r = osh_store_event_list(ev->store, rd->cursor, sandbox_id, want, store_collect, c);
		if (r >= 0 && !c->oom && c->n < want)
			c->reached = true; /* the store had no more before upto */
		for (size_t i = 0; i < c->n; i++) {
			if (!reader_full(rd)) {
				rd->cursor = c->ids[i];
				rd->delivered++;
				rd->stop = rd->fn(c->ids[i], c->json[i], rd->ctx) != 0;
			}
			free(c->json[i]);
		}
		if (r < 0 || c->oom) {
			r = r < 0 ? r : -ENOMEM;
			break;
		}
		r = 0;
		if (c->reached && !reader_full(rd))
			rd->cursor = upto - 1;
	}
	free(c);
	return r;
}

/* Looks up a sandbox's store id for filtering store rows; 0 when it has none. */
static int64_t store_sandbox_id(struct osh_events *ev, const char *name)
{
	struct osh_store_sandbox s = { 0 };
	int64_t id = 0;

	if (osh_store_sandbox_get(ev->store, name, &s) == 0)
		id = s.id;
	osh_store_sandbox_free(&s);
	return id;
}

/* osh_events_read; gen NULL: it may be woken from the time it waits. */
static int events_read(struct osh_events *ev, const uint64_t *gen, int64_t since,
		       const char *sandbox, size_t max, int timeout_ms,
		       int (*fn)(int64_t id, const char *json, void *ctx), void *ctx)
{
	struct reader rd = { .cursor = since < 0 ? 0 : since, .max = max, .fn = fn, .ctx = ctx };
	struct blob *chunk[READ_CHUNK];
	struct timespec deadline;
	bool store_done = false;

	if (!fn)
		return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}

	for (;;) {
		int64_t oldest;
		size_t n = 0;
		bool caught_up;

		pthread_mutex_lock(&ev->lock);
		oldest = ev->last_id - (int64_t)ev->ring_n + 1;
		if (rd.cursor + 1 < oldest) {
			/* Older than the ring: the store may have them (once per call, so a reader
			 * that a flood keeps overtaking still returns). */
			if (ev->store && !store_done && !ev->closing) {
				int64_t sid = 0;
				int r;

				pthread_mutex_unlock(&ev->lock);
				store_done = true;
				if (sandbox) {
					sid = store_sandbox_id(ev, sandbox);
					if (!sid) { /* unknown to the store: it has no rows of it */
						rd.cursor = oldest - 1;
						continue;
					}
				}
				r = read_store(ev, &rd, sid, oldest);
				if (r < 0 && rd.delivered == 0)
					return r;
				if (reader_full(&rd))
					break;
				continue;
			}
			rd.cursor = oldest - 1;
		}
		/* Ids in the ring are consecutive: the event with id x is (x - oldest) after the
		 * oldest slot. */
		while (rd.cursor < ev->last_id && n < READ_CHUNK &&
		       !(max && rd.delivered + n >= max)) {
			size_t tail = (ev->ring_head + ev->ring_cap - ev->ring_n) % ev->ring_cap;
			struct blob *b =
			    ev->ring[(tail + (size_t)(rd.cursor + 1 - oldest)) % ev->ring_cap];

			rd.cursor = b->id;
			if (!sandbox || !strcmp(sandbox, b->sandbox))
				chunk[n++] = blob_ref(b);
		}
		if (n == 0 && rd.delivered == 0 && rd.cursor >= ev->last_id && timeout_ms > 0 &&
		    !ev->closing) {
			uint64_t wakes = gen ? *gen : ev->wakes;
			bool done;
			int w = 0;

			while (rd.cursor >= ev->last_id && !ev->closing && w != ETIMEDOUT &&
			       ev->wakes == wakes)
				w = pthread_cond_timedwait(&ev->added, &ev->lock, &deadline);
			done = (w == ETIMEDOUT || ev->wakes != wakes) && rd.cursor >= ev->last_id;
			pthread_mutex_unlock(&ev->lock);
			if (done)
				break;
			continue;
		}
		caught_up = rd.cursor >= ev->last_id;
		pthread_mutex_unlock(&ev->lock);
		if (n == 0 && caught_up)
			break;
		for (size_t i = 0; i < n; i++) {
			if (!reader_full(&rd)) {
				rd.delivered++;
				rd.stop = fn(chunk[i]->id, chunk[i]->json, ctx) != 0;
			}
			blob_unref(chunk[i]);
		}
		if (reader_full(&rd))
			break;
	}
	return rd.delivered > INT32_MAX ? INT32_MAX : (int)rd.delivered;
}

int osh_events_read(struct osh_events *ev, int64_t since, const char *sandbox, size_t max,
		    int timeout_ms, int (*fn)(int64_t id, const char *json, void *ctx), void *ctx)
{
	return events_read(ev, NULL, since, sandbox, max, timeout_ms, fn, ctx);
}

int osh_events_read_woken(struct osh_events *ev, uint64_t gen, int64_t since, const char *sandbox,
			  size_t max, int timeout_ms,
			  int (*fn)(int64_t id, const char *json, void *ctx), void *ctx)
{
	return events_read(ev, &gen, since, sandbox, max, timeout_ms, fn, ctx);
}

uint64_t osh_events_wake_gen(struct osh_events *ev)
{
	uint64_t gen;

	pthread_mutex_lock(&ev->lock);
	gen = ev->wakes;
	pthread_mutex_unlock(&ev->lock);
	return gen;
}

void osh_events_wake(struct osh_events *ev)
{
	pthread_mutex_lock(&ev->lock);
	ev->wakes++;
	pthread_cond_broadcast(&ev->added);
	pthread_mutex_unlock(&ev->lock);
}

void osh_events_stats(struct osh_events *ev, struct osh_events_stats *ret)
{
	pthread_mutex_lock(&ev->lock);
	*ret = (struct osh_events_stats){
		.deny_egress = ev->counts[DECISION_DENY][KIND_EGRESS],
		.deny_dns = ev->counts[DECISION_DENY][KIND_DNS],
		.deny_fs = ev->counts[DECISION_DENY][KIND_FS],
		.audit_egress = ev->counts[DECISION_AUDIT][KIND_EGRESS],
		.audit_dns = ev->counts[DECISION_AUDIT][KIND_DNS],
		.audit_fs = ev->counts[DECISION_AUDIT][KIND_FS],
		.dropped_store = ev->dropped_store,
		.dropped_log = ev->dropped_log,
		.last_id = ev->last_id,
		.stored = ev->stored,
		.logged = ev->logged,
	};
	pthread_mutex_unlock(&ev->lock);
}
