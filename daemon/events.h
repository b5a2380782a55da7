/* SPDX-License-Identifier: Apache-2.0 */
/* oshd's event pipeline: every denial and audit gets an id, its Event JSON (docs/api.md), a
 * place in an in-memory ring that API readers stream from, a row in the store and a line in the
 * OCSF event log. Built for floods: memory is bounded (ring, and queues in front of the store
 * and the log that drop and count when full), and the caller never waits on disk. */
#ifndef OSH_DAEMON_EVENTS_H
#define OSH_DAEMON_EVENTS_H

#include <stddef.h>
#include <stdint.h>

struct osh_store;
struct osh_events;

/* Input to osh_events_add; strings are borrowed for the call and copied (each at most
 * OSH_EVENT_FIELD_MAX bytes, cut at a character boundary; invalid UTF-8 becomes U+FFFD). */
struct osh_event {
	int64_t time_ns; /* CLOCK_REALTIME */
	const char *sandbox;
	int64_t sandbox_id;   /* store id, 0: not tied to a known sandbox */
	const char *kind;     /* "egress" | "dns" | "fs" | "pins" (oshd's own finding) */
	const char *decision; /* "deny" | "audit"; for pins "restored" | "stopped" */
	int pid;	      /* <= 0: absent */
	int uid;	      /* < 0: absent */
	const char *comm, *exe, *operation, *target, *host, *closest, *hint,
	    *message; /* NULL: absent */
};
#define OSH_EVENT_FIELD_MAX 4096

struct osh_events_opts {
	struct osh_store *store; /* NULL: not persisted */
	size_t store_keep;	 /* rows kept in the store (0: 10000) */
	size_t ring;		 /* events kept in memory for streaming (0: 4096) */
	/* JSON lines shaped after OCSF 1.1.0: Network Activity (4001) for egress and dns, File
	 * System Activity (1001) for fs; NULL: no log. The file is opened (created 0640) by
	 * osh_events_open, so a bad path fails there. */
	const char *log_path;
	uint64_t log_max_bytes; /* rotate at this size (0: 16 MiB): file -> file.1 -> ... */
	unsigned log_keep;	/* rotated files kept (0: 4) */
	size_t queue;		/* events waiting for the store, and for the log (0: 4096 each) */
};

/* Starts the pipeline: reads the last event id from the store so ids keep increasing across
 * restarts, opens the log, starts the writer threads. Returns 0 or -errno; *ret is owned by the
 * caller (osh_events_close). */
int osh_events_open(const struct osh_events_opts *o, struct osh_events **ret);
/* Writes what is queued for the store and the log, stops the writers, frees. Readers must have
 * returned. NULL is fine. */
void osh_events_close(struct osh_events *ev);

/* Assigns the next id, renders the Event JSON, puts it in the ring (overwriting the oldest),
 * queues it for the store and for the log, whose writer renders the OCSF line (a full queue
 * drops the event there and counts it), wakes readers, counts it. Never waits on disk. Returns
 * the id, or -EINVAL (unknown kind or decision), -ENOMEM. Thread-safe. */
int64_t osh_events_add(struct osh_events *ev, const struct osh_event *e);

/* Delivers events with id > since, of sandbox (NULL: all), oldest first, at most max (0: no
 * limit): first from the store when since is older than the ring holds, then from the ring.
 * Events that were dropped before reaching the store, or overwritten in the ring while a slow
 * reader read, are skipped: ids may have gaps. If nothing is ready, waits up to timeout_ms
 * (0: no wait) for the next event. fn gets the Event JSON (valid during the call; called without
 * any lock held, so it may block on a slow client) and returns non-zero to stop. Returns the
 * number delivered or -errno. Thread-safe; a streaming reader calls it in a loop with since set
 * to the last id it delivered. */
int osh_events_read(struct osh_events *ev, int64_t since, const char *sandbox, size_t max,
		    int timeout_ms, int (*fn)(int64_t id, const char *json, void *ctx), void *ctx);

/* Ends every osh_events_read that is waiting for a next event now (it returns what it had, 0),
 * so that a reader thread can be told to finish without waiting out its timeout. */
void osh_events_wake(struct osh_events *ev);
/* For a reader that must not miss a wake sent just before it waits: it takes the generation
 * before it looks at its own reason to stop, and osh_events_read_woken does not wait once
 * osh_events_wake was called after that generation was taken. */
uint64_t osh_events_wake_gen(struct osh_events *ev);
int osh_events_read_woken(struct osh_events *ev, uint64_t gen, int64_t since, const char *sandbox,
			  size_t max, int timeout_ms,
			  int (*fn)(int64_t id, const char *json, void *ctx), void *ctx);
/* Counters for /metrics and /v1/status, since open. Every added event is, eventually, either
 * stored or counted in dropped_store, and either logged or counted in dropped_log (when there
 * is a store and a log respectively). */
struct osh_events_stats {
	uint64_t deny_egress, deny_dns, deny_fs, audit_egress, audit_dns, audit_fs;
	uint64_t dropped_store, dropped_log;
	int64_t last_id;
	uint64_t stored, logged; /* written to the store, to the log */
	uint64_t dropped_kernel; /* lost in the kernel's ring buffer (filled by the manager) */
};
void osh_events_stats(struct osh_events *ev, struct osh_events_stats *ret);

#endif
