/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's sandbox manager: the one place that keeps store and kernel in step. It owns the
 * sandboxes (engine structs from userspace/sandbox.h), applies policy changes in the order
 * validate → compile → store (pending) → kernel → store (applied), re-adopts pinned sandboxes at
 * start-up, and turns engine events into daemon events. Every operation answers with an HTTP
 * status and a JSON body (docs/api.md), so the API layer only routes; authorization is decided
 * here because only the manager knows who owns what. Thread-safe. */
#ifndef OSH_DAEMON_MANAGER_H
#define OSH_DAEMON_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "api-req.h"

struct osh_store;
struct osh_events;
struct osh_metrics;
struct osh_prover_registry;
struct osh_prover_accepted;

/* Who is asking, from SO_PEERCRED. */
struct osh_caller {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool admin; /* uid 0 or a member of the admin group */
};

struct osh_manager_opts {
	const char *bpffs_root; /* pins; required */
	struct osh_store *store;
	struct osh_events *events;
	struct osh_metrics *metrics;
	/* Prover gate: refuse policy changes that add unaccepted findings (NULL registry: off). */
	const struct osh_prover_registry *gate_registry;
	const struct osh_prover_accepted *gate_accepted;
	/* At most this many spare sandboxes, made after an unnamed ephemeral sandbox ends for
	 * the next request that asks for the same (0: none). */
	unsigned int spares;
};

/* An answer: HTTP status and body (owned by the caller). */
struct osh_answer {
	unsigned int status;
	cJSON *body;
};

struct osh_manager;

/* Loads the sandboxes from the store and reconciles them with the kernel: a sandbox whose cgroup
 * and pins exist is re-adopted (with its pending revision applied, if one was left); one whose
 * cgroup vanished is marked gone and its kernel state removed; one whose creation never completed
 * is removed. Log lines for each go to the log function. */
int osh_manager_open(const struct osh_manager_opts *o, struct osh_manager **ret, char **ret_err);
/* Frees the userspace side and leaves every sandbox running and pinned (daemon shutdown). */
void osh_manager_close(struct osh_manager *m);

void osh_manager_sandbox_create(struct osh_manager *m, const struct osh_caller *c,
				const struct osh_req_create *req, struct osh_answer *ret);
void osh_manager_sandbox_list(struct osh_manager *m, const struct osh_caller *c,
			      struct osh_answer *ret);
void osh_manager_sandbox_get(struct osh_manager *m, const struct osh_caller *c, const char *name,
			     struct osh_answer *ret);
void osh_manager_sandbox_delete(struct osh_manager *m, const struct osh_caller *c, const char *name,
				struct osh_answer *ret);
/* rev 0: the applied revision. */
void osh_manager_policy_get(struct osh_manager *m, const struct osh_caller *c, const char *name,
			    long long rev, struct osh_answer *ret);
void osh_manager_policy_list(struct osh_manager *m, const struct osh_caller *c, const char *name,
			     struct osh_answer *ret);
void osh_manager_policy_set(struct osh_manager *m, const struct osh_caller *c, const char *name,
			    const struct osh_req_policy_set *req, struct osh_answer *ret);
void osh_manager_policy_update(struct osh_manager *m, const struct osh_caller *c, const char *name,
			       const struct osh_req_policy_update *req, struct osh_answer *ret);
void osh_manager_status(struct osh_manager *m, struct osh_answer *ret);
/* Prometheus text for /metrics. */
int osh_manager_metrics(struct osh_manager *m, char **ret_text);
/* May the caller read this sandbox's events? sandbox NULL: "all events", which non-admins get
 * filtered to their own sandboxes by osh_manager_event_visible. */
bool osh_manager_event_visible(struct osh_manager *m, const struct osh_caller *c,
			       const char *event_json);
/* Checks authorization and existence for `GET /v1/events?sandbox=NAME`. */
void osh_manager_events_check(struct osh_manager *m, const struct osh_caller *c, const char *name,
			      struct osh_answer *ret);

/* Exec: checked first (authorization, sandbox state) so that errors are ordinary answers; then,
 * once the client's descriptors arrived, started. */
struct osh_exec;
void osh_manager_exec_check(struct osh_manager *m, const struct osh_caller *c, const char *name,
			    const struct osh_req_exec *req, struct osh_answer *ret);
/* Starts the command with stdio[3] (the client's descriptors; this call does not take them).
 * On success *ret_exec tracks it (pid, pidfd); on failure *ret_status is 125/126/127 and
 * *ret_err a message (caller frees). */
int osh_manager_exec_start(struct osh_manager *m, const struct osh_caller *c, const char *name,
			   const struct osh_req_exec *req, const int stdio[3],
			   struct osh_exec **ret_exec, int *ret_status, char **ret_err);
pid_t osh_exec_pid(const struct osh_exec *x);
int osh_exec_pidfd(const struct osh_exec *x);
/* Reaps the command (it must have exited: the pidfd polled readable) and returns its status as
 * a shell reports it. Before that, every event the sandbox's processes produced gets its id
 * (bounded: 1 s for the engine's threads); *ret_last_event_id is the newest id of the
 * sandbox's (0: none). An ephemeral sandbox whose last command this was is no longer visible to
 * requests; osh_manager_exec_release, called once the exit is reported, deletes it. */
int osh_manager_exec_finish(struct osh_manager *m, struct osh_exec *x, int64_t *ret_last_event_id);
/* Deletes the ephemeral sandbox that x's command ended (if it did), and frees x. */
void osh_manager_exec_release(struct osh_manager *m, struct osh_exec *x);

/* Replaces the prover gate's inputs (SIGHUP); registry NULL turns the gate off. The previous
 * inputs are no longer used when this returns. */
void osh_manager_set_gate(struct osh_manager *m, const struct osh_prover_registry *registry,
			  const struct osh_prover_accepted *accepted);

/* Observes one request's status for /metrics. */
void osh_manager_count_request(struct osh_manager *m, unsigned int status);

/* Builds {"error": {"code", "message"}} answers; message is printf-style. */
void osh_answer_error(struct osh_answer *a, unsigned int status, const char *code, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

#endif
