// SPDX-License-Identifier: Apache-2.0
// `oshctl run` through oshd: when a daemon answers, the sandbox is an ephemeral one of oshd
// (created, one exec with the caller's stdio and environment, deleted), so the BPF programs
// oshd keeps loaded are not loaded again. Otherwise cmd-run.c runs it embedded, as before.
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/default-policy.h"
#include "cli/oshctl.h"
#include "cli/run-daemon.h"

extern char **environ;

/* Removes --embedded and --daemon from the options of argv (before CMD) and says which was
 * given last: -1 embedded, 1 daemon, 0 neither. */
static int take_mode(int *argc, char **argv)
{
	int mode = 0, out = 1, i;

	for (i = 1; i < *argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--"))
			break;
		if (!strcmp(a, "--embedded") || !strcmp(a, "--daemon")) {
			mode = a[2] == 'e' ? -1 : 1;
			continue;
		}
		argv[out++] = argv[i];
		if (a[0] != '-')
			break; /* CMD starts here */
		/* The options of cmd-run that take a separate value. */
		if ((!strcmp(a, "-p") || !strcmp(a, "--policy") || !strcmp(a, "-n") ||
		     !strcmp(a, "--name") || !strcmp(a, "-w") || !strcmp(a, "--workdir")) &&
		    i + 1 < *argc)
			argv[out++] = argv[++i];
	}
	for (i++; i < *argc; i++)
		argv[out++] = argv[i];
	argv[out] = NULL;
	*argc = out;
	return mode;
}

/* Whether oshd (pid) lives in the caller's network and mount namespaces: a command it starts
 * sees the network and files the caller would see. Unknown (pid 0, /proc not readable) counts
 * as the same. */
static bool same_namespaces(int pid)
{
	static const char *const ns[] = { "net", "mnt" };

	if (pid <= 0)
		return true;
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		char path[64];
		struct stat self, peer;

		snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, ns[i]);
		if (stat(path, &peer) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
		if (stat(path, &self) < 0)
			continue;
		if (self.st_ino != peer.st_ino || self.st_dev != peer.st_dev)
			return false;
	}
	return true;
}

/* The sandbox's denials while the command runs, on stderr as embedded mode prints them. They
 * come on the exec connection, every one of the command's before its exit. */
static void print_event(const cJSON *ev, void *ctx)
{
	const bool *quiet = ctx;

	/* Like embedded mode: filesystem events are start-up detail under -q, network ones are
	 * what the user must see. */
	if (!*quiet || strcmp(oshctl_json_str(ev, "kind", ""), "fs"))
		fprintf(stderr, "osh: %s\n", oshctl_json_str(ev, "message", ""));
}

/* The policy text to send: FILE validated here (diagnostics name it), or the built-in one. */
static int policy_text(const char *path, char **ret)
{
	if (path)
		return oshctl_policy_read(path, ret);
	*ret = strndup(osh_default_policy_yaml, osh_default_policy_yaml_len);
	if (!*ret) {
		fprintf(stderr, "osh: out of memory\n");
		return OSHCTL_EXIT_SYSTEM;
	}
	return OSHCTL_EXIT_OK;
}

static void print_startup(const cJSON *sb, bool builtin)
{
	const cJSON *it, *mech = cJSON_GetObjectItemCaseSensitive(sb, "mechanisms");
	bool egress = false;

	fprintf(stderr, "osh: sandbox %s (oshd, revision %.0f):", oshctl_json_str(sb, "name", "?"),
		oshctl_json_num(sb, "revision"));
	cJSON_ArrayForEach (it, mech) {
		if (!cJSON_IsString(it))
			continue;
		fprintf(stderr, " %s", it->valuestring);
		egress |= !strcmp(it->valuestring, "egress");
	}
	if (oshctl_json_num(sb, "landlock_abi") > 0)
		fprintf(stderr, ", landlock ABI %.0f", oshctl_json_num(sb, "landlock_abi"));
	fputc('\n', stderr);
	cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(sb, "report")) {
		if (cJSON_IsString(it))
			fprintf(stderr, "osh: %s\n", it->valuestring);
	}
	if (builtin)
		fprintf(stderr, "osh: policy: <built-in default policy> (examples/default.yaml)\n");
	if (!egress)
		fprintf(stderr, "osh: warning: network egress is not restricted\n");
}

struct run_ctx {
	bool quiet, builtin;
	const sigset_t *fwd;
	int stopped_by; /* the signal that ended the run before the command started */
};

/* The new sandbox, before the command gets the terminal: what it is, on stderr; a SIGINT,
 * SIGTERM, SIGHUP or SIGQUIT that came meanwhile ends the run here. */
static bool on_sandbox(const cJSON *sb, void *arg)
{
	struct run_ctx *c = arg;
	const cJSON *w;
	sigset_t pending;

	cJSON_ArrayForEach (w, cJSON_GetObjectItemCaseSensitive(sb, "warnings")) {
		if (cJSON_IsString(w))
			fprintf(stderr, "osh: warning: %s\n", w->valuestring);
	}
	if (!c->quiet)
		print_startup(sb, c->builtin);
	sigpending(&pending);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(c->fwd, sig) && sigismember(&pending, sig) &&
		    (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)) {
			c->stopped_by = sig;
			return false;
		}
	return true;
}

int oshctl_run_daemon(int *argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *policy = NULL, *name = NULL, *workdir = NULL, *env_policy;
	char *text = NULL, *wd = NULL;
	cJSON *body = NULL;
	sigset_t fwd, old;
	struct run_ctx ctx = { 0 };
	bool quiet = false, masked = false;
	struct oshctl_exec_events events = { .fn = print_event, .ctx = &quiet };
	int mode = take_mode(argc, argv), pid = 0, conn = -1, c, status = OSHCTL_EXIT_OSH;

	if (mode < 0)
		return OSHCTL_RUN_EMBEDDED;
	/* Errors in the options are cmd-run's to print, with the same text either way. */
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(*argc, argv, "+p:n:w:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'w':
			workdir = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			opterr = 1;
			return OSHCTL_RUN_EMBEDDED;
		}
	}
	opterr = 1;
	if (optind >= *argc)
		return OSHCTL_RUN_EMBEDDED;
	/* Whether oshd listens, and its pid, before any request; the create and the exec then
	 * go on this connection. */
	conn = oshctl_connect(&pid);
	if (conn < 0) {
		if (mode == 0)
			return OSHCTL_RUN_EMBEDDED;
		oshctl_print_unreachable(conn);
		return OSHCTL_EXIT_OSH;
	}
	if (!same_namespaces(pid)) {
		/* The command would run in oshd's network and mounts, not the caller's: embedded
		 * mode keeps what `oshctl run` promises, unless the caller asked for oshd. */
		if (mode == 0) {
			close(conn);
			return OSHCTL_RUN_EMBEDDED;
		}
		fprintf(stderr, "osh: warning: oshd runs in other namespaces than this shell; the "
				"command sees oshd's network and mounts\n");
	}

	env_policy = getenv("OSH_DEFAULT_POLICY");
	if (!policy && env_policy && *env_policy)
		policy = env_policy;
	if (policy_text(policy, &text) != OSHCTL_EXIT_OK)
		goto out;
	wd = realpath(workdir ? workdir : ".", NULL);
	if (!wd) {
		fprintf(stderr, "osh: workdir %s: %s\n", workdir ? workdir : ".", strerror(errno));
		goto out;
	}
	/* Without --name oshd picks one, and may hand over a sandbox it made ahead for a run
	 * like this one (docs/arch-daemon.md, "Spare sandboxes"). */
	body = cJSON_CreateObject();
	if (!body || (name && !cJSON_AddStringToObject(body, "name", name)) ||
	    !cJSON_AddStringToObject(body, "policy", text) ||
	    !cJSON_AddStringToObject(body, "workdir", wd) ||
	    !cJSON_AddBoolToObject(body, "ephemeral", true)) {
		fprintf(stderr, "osh: out of memory\n");
		goto out;
	}

	/* The forwarded signals stay blocked from here to the end: one that arrives before the
	 * command runs either ends the run (on_sandbox) or reaches the command once it starts. */
	oshctl_exec_signals(&fwd);
	pthread_sigmask(SIG_BLOCK, &fwd, &old);
	masked = true;
	ctx = (struct run_ctx){ .quiet = quiet, .builtin = !policy, .fwd = &fwd };
	/* One request: oshd removes the sandbox itself if the command never starts, also when
	 * this process dies before it does. */
	status = oshctl_run_on(conn, body, &(struct oshctl_call_opts){ .policy_file = policy },
			       argv + optind, environ, wd, on_sandbox, &ctx, &events, NULL);
	conn = -1;
	if (ctx.stopped_by)
		status = 128 + ctx.stopped_by;
out:
	if (conn >= 0)
		close(conn);
	if (masked) {
		struct timespec zero = { 0 };

		while (sigtimedwait(&fwd, NULL, &zero) > 0)
			;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	cJSON_Delete(body);
	free(wd);
	free(text);
	return status;
}

/* `oshctl run`: through oshd when one answers, else osh-run (cli/osh-run.c), the embedded run. */
int cmd_run(int argc, char **argv)
{
	int status = oshctl_run_daemon(&argc, argv);

	if (status != OSHCTL_RUN_EMBEDDED)
		return status;
	/* osh-run's argv[0] is its own path; the options and CMD follow, as here after "run". */
	(void)oshctl_exec_libexec("run", "osh-run", NULL, 0, argc - 1, argv + 1);
	return 125;
}
