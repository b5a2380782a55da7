/* SPDX-License-Identifier: Apache-2.0 */
/* oshctl's side of the oshd API (docs/api.md): HTTP/1.1 requests over the daemon's unix socket,
 * error answers printed once as `oshctl: <code>: <message>`, event streams, and the exec
 * protocol (HTTP Upgrade, then the caller's stdio passed with SCM_RIGHTS); and the helpers the
 * commands share, osh-prove's included (policy files and their diagnostics, output format). */
#ifndef OSH_CLI_CLIENT_H
#define OSH_CLI_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#define OSHCTL_DEFAULT_SOCKET "/run/osh/oshd.sock"
#define OSH_CLI_BODY_MAX      (1u << 20) /* the API's request body limit */

/* Global options (`oshctl --socket PATH -o json COMMAND`), set once by main. */
void oshctl_client_set_socket(const char *path); /* NULL: $OSH_SOCKET, else the default */
const char *oshctl_client_socket(void);
/* Execs PROG from ../libexec/osh/ next to oshctl's own (real) folder, as once installed and in
 * the build tree alike, with pre[0..npre) then argv[0..argc) as its arguments. Returns only when
 * it could not be run, having said so as "oshctl: WHAT: cannot run PATH: ...". */
int oshctl_exec_libexec(const char *what, const char *prog, char *const *pre, int npre, int argc,
			char **argv);
void oshctl_output_set_json(bool json);
bool oshctl_output_json(void);

/* Sets *json from an `-o` argument ("json" or "text"). Returns 0, or -EINVAL after printing
 * a usage error naming cmd. */
int oshctl_output_parse(const char *cmd, const char *arg, bool *json);

/* The options every command talking to oshd takes, after getopt_long returned c: 'o' (its
 * optarg sets *json), 'h' (usage on stdout) or anything else (usage on stderr). Returns -1 to
 * go on parsing, else the exit code. */
int oshctl_common_opt(int c, const char *cmd, bool *json, void (*usage)(FILE *f));

/* One request. body may be NULL (no body). On an answer (any HTTP status) returns 0 with the
 * status in *ret_status and the parsed body in *ret_json (NULL when the body is empty or not
 * JSON; the caller frees it). Returns -ECONNREFUSED or -ENOENT when no daemon listens on the
 * socket, -EACCES when the socket may not be used, -ETIMEDOUT when its listener accepts nothing
 * for 10 s, -EBADMSG for an answer that is not HTTP, -ECONNRESET for one cut short, other
 * -errno otherwise. Prints nothing. */
int oshctl_call_raw(const char *method, const char *path, const cJSON *body, long *ret_status,
		    cJSON **ret_json);

/* Context for the diagnostics of an invalid-policy answer: the daemon names the policy
 * `<request>`; the CLI puts back the file the user gave. NULL: leave it. */
struct oshctl_call_opts {
	const char *policy_file;
	bool quiet_not_found; /* 404 is an expected answer: no message */
};

/* One request whose answer the command uses: returns OSHCTL_EXIT_OK with the body in *ret
 * (ret may be NULL when the caller does not want it; *ret may be NULL for an empty body) for a
 * 2xx answer, else prints the error and returns the exit code it maps to (docs/cli.md): 1 for
 * a refusal (4xx other than 403), 4 for 403 forbidden, 3 when the daemon is unreachable or
 * failed (5xx). When ret_status is given it receives the HTTP status (0: no answer). */
int oshctl_call(const char *method, const char *path, const cJSON *body,
		const struct oshctl_call_opts *opts, long *ret_status, cJSON **ret);

/* Prints the API error object of an answer on stderr (`oshctl: <code>: <message>` and its
 * diagnostics or fields) and returns the exit code for status. */
int oshctl_print_api_error(long status, const cJSON *answer, const struct oshctl_call_opts *opts);

/* Prints why the daemon could not be reached (r from oshctl_call_raw) and returns
 * OSHCTL_EXIT_SYSTEM. */
int oshctl_print_unreachable(int r);

/* A connection to the daemon for several requests in a row (HTTP/1.1 keep-alive: no connect,
 * and no thread of oshd's started, per request), and oshd's pid (SO_PEERCRED, 0 when unknown).
 * Returns the descriptor (the caller closes it) or -errno of the connect. */
int oshctl_connect(int *ret_peer_pid);
/* oshctl_call on connection fd (oshctl_connect; -1: a connection of its own), which stays
 * open. */
int oshctl_call_on(int fd, const char *method, const char *path, const cJSON *body,
		   const struct oshctl_call_opts *opts, long *ret_status, cJSON **ret);

/* Streams an ndjson answer: calls fn with each line's parsed object (lines that are not JSON
 * objects are skipped). fn returns non-zero to stop. Errors are handled like oshctl_call.
 * Returns an exit code. */
int oshctl_stream(const char *path, int (*fn)(const cJSON *obj, void *ctx), void *ctx);

/* The exec protocol: runs argv in sandbox name with this process's stdin, stdout and stderr,
 * forwarding SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP, SIGCONT and SIGWINCH until it ends.
 * env NULL: the daemon's default environment; workdir NULL: the sandbox's. Returns the
 * command's exit status (128+N after signal N), 126/127 as the daemon reports them, or 125
 * when osh failed or refused (no daemon, no such sandbox, forbidden), after printing why. */
int oshctl_exec(const char *name, char *const *argv, char *const *env, const char *workdir);

/* How an exec ended, beyond its status. */
struct oshctl_exec_end {
	bool ran; /* the command started and oshd reported its exit */
};
/* The sandbox's events while the command runs, on the exec connection: fn gets each Event
 * object, every one of the command's before the exit (docs/api.md, the exec protocol). */
struct oshctl_exec_events {
	void (*fn)(const cJSON *event, void *ctx);
	void *ctx;
};
/* oshctl_exec with the sandbox's events (NULL: none), and how it ended in *ret_end (may be
 * NULL). */
int oshctl_exec_end(const char *name, char *const *argv, char *const *env, const char *workdir,
		    const struct oshctl_exec_events *events, struct oshctl_exec_end *ret_end);
/* oshctl_exec_end on connection fd (oshctl_connect; -1: a connection of its own), which it
 * closes. */
int oshctl_exec_end_on(int fd, const char *name, char *const *argv, char *const *env,
		       const char *workdir, const struct oshctl_exec_events *events,
		       struct oshctl_exec_end *ret_end);

/* `oshctl run` through oshd in one request, on connection fd (oshctl_connect; -1: a connection
 * of its own), which it closes: creates the ephemeral sandbox create describes (the members of
 * POST /v1/sandboxes) and runs argv in it, as oshctl_exec_end runs it in an existing one. Before
 * the command gets this process's stdio, on_sandbox receives the new Sandbox (to say what it
 * is) and returns false to end there: oshd then removes the sandbox, as it does when the
 * command cannot start. A refused create prints oshd's error (diagnostics naming
 * opts->policy_file) and returns 125, as a refused exec does. */
int oshctl_run_on(int fd, const cJSON *create, const struct oshctl_call_opts *opts,
		  char *const *argv, char *const *env, const char *workdir,
		  bool (*on_sandbox)(const cJSON *sb, void *ctx), void *ctx,
		  const struct oshctl_exec_events *events, struct oshctl_exec_end *ret_end);

/* The signals oshctl_exec forwards. A caller that starts threads before oshctl_exec blocks
 * them in those threads, so that the kernel delivers them to the exec loop. */
void oshctl_exec_signals(sigset_t *set);

/* Percent-encodes s for a URL path segment or query value. Returns a new string or NULL. */
char *oshctl_url_escape(const char *s);

/* Reads a whole file (at most 1 MiB, the API's body limit) into a NUL-terminated string.
 * Returns 0 or -errno (-EFBIG over the limit). */
int oshctl_read_file(const char *path, char **ret_text, size_t *ret_len);

/* Validates the policy file with the policy compiler (diagnostics `FILE:LINE:COL: message` on
 * stderr) and reads its text, which is what the API takes. Returns OSHCTL_EXIT_OK with the
 * text in *ret_text (the caller frees it), or the exit code after printing why. */
int oshctl_policy_read(const char *path, char **ret_text);

/* The user name of uid (a JSON number), else the number, in buf. Returns buf. */
const char *oshctl_uid_name(double uid, char *buf, size_t size);

/* Prints an aligned table on stdout: a header line, then nrows rows of ncols (at most 16)
 * cells, row after row in cells (NULL cells print empty). */
void oshctl_table_print(const char *const *header, size_t ncols, char *const *cells, size_t nrows);

/* JSON helpers for printing: the string member, or "" / fallback; the number member or -1. */
const char *oshctl_json_str(const cJSON *obj, const char *key, const char *fallback);
double oshctl_json_num(const cJSON *obj, const char *key);

/* Prints obj as indented JSON on stdout, followed by a newline. */
void oshctl_json_print(const cJSON *obj);

#endif
