// SPDX-License-Identifier: Apache-2.0
// `oshctl run` through oshd: when a daemon answers, the sandbox is an ephemeral one of oshd
// (created, one exec with the caller's stdio and environment, deleted), so the BPF programs
// oshd keeps loaded are not loaded again. Otherwise cmd-run.c runs it embedded, as before.
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
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

/* How long the end of a run waits for the stream to bring the command's last events, which
 * oshd has by then (the exec's last_event_id): a bound for a stuck stream, not a delay. */
#define EVENTS_WAIT_MS 2000

/* The sandbox's denials while the command runs, on stderr like embedded mode prints them. */
struct events {
	pthread_t thread;
	char path[256];
	bool quiet;
	bool started;
	int stop_fd; /* eventfd: written to end the stream */
	pthread_mutex_t lock;
	pthread_cond_t seen_cond;
	int64_t seen; /* the newest event id handled (printed or skipped) */
	bool open;    /* oshd answered the stream's request */
	bool ended;   /* the stream is over */
};

static int print_event(const cJSON *ev, void *ctx)
{
	struct events *e = ctx;
	const char *kind = oshctl_json_str(ev, "kind", "");
	double id = oshctl_json_num(ev, "id");

	/* Like embedded mode: filesystem events are start-up detail under -q, network ones are
	 * what the user must see. */
	if (!e->quiet || strcmp(kind, "fs"))
		fprintf(stderr, "osh: %s\n", oshctl_json_str(ev, "message", ""));
	/* Counted once printed: the end of the run waits for this. */
	pthread_mutex_lock(&e->lock);
	if (id > (double)e->seen)
		e->seen = (int64_t)id;
	pthread_cond_signal(&e->seen_cond);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

static void events_opened(long status, void *ctx)
{
	struct events *e = ctx;

	pthread_mutex_lock(&e->lock);
	e->open = true;
	pthread_cond_signal(&e->seen_cond);
	pthread_mutex_unlock(&e->lock);
}

static void *events_main(void *arg)
{
	struct events *e = arg;

	oshctl_stream(e->path, print_event, events_opened, e, e->stop_fd);
	pthread_mutex_lock(&e->lock);
	e->ended = true;
	pthread_cond_signal(&e->seen_cond);
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

static int events_start(struct events *e)
{
	pthread_condattr_t ca;

	e->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->stop_fd < 0)
		return -errno;
	pthread_mutex_init(&e->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->seen_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&e->thread, NULL, events_main, e) != 0) {
		pthread_cond_destroy(&e->seen_cond);
		pthread_mutex_destroy(&e->lock);
		close(e->stop_fd);
		return -EAGAIN;
	}
	e->started = true;
	return 0;
}

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Waits (bounded) until oshd has taken the stream's request. oshd checks that the sandbox
 * exists when the request comes, and a short command's ephemeral sandbox may be gone before a
 * stream asked only alongside the exec is served (the run then printed "no sandbox named"). */
static void events_wait_open(struct events *e)
{
	struct timespec deadline;

	if (!e->started)
		return;
	deadline_in(&deadline, EVENTS_WAIT_MS);
	pthread_mutex_lock(&e->lock);
	while (!e->open && !e->ended &&
	       pthread_cond_timedwait(&e->seen_cond, &e->lock, &deadline) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&e->lock);
}

/* Waits (bounded) until the stream has handled event last (0: none to wait for) or ended, then
 * ends it. oshd assigned that id before it reported the exit, so no denial of the command is
 * lost, and no time is spent when there is none. */
static void events_stop(struct events *e, int64_t last)
{
	struct timespec deadline;
	uint64_t one = 1;

	if (!e->started)
		return;
	deadline_in(&deadline, EVENTS_WAIT_MS);
	pthread_mutex_lock(&e->lock);
	while (last > e->seen && !e->ended &&
	       pthread_cond_timedwait(&e->seen_cond, &e->lock, &deadline) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&e->lock);
	(void)!write(e->stop_fd, &one, sizeof(one));
	pthread_join(e->thread, NULL);
	pthread_cond_destroy(&e->seen_cond);
	pthread_mutex_destroy(&e->lock);
	close(e->stop_fd);
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
	struct events ev = { .stop_fd = -1 };
	struct oshctl_exec_end end = { 0 };
	char defname[64], path[256], *text = NULL, *wd = NULL, *ename = NULL;
	cJSON *body = NULL, *sb = NULL;
	sigset_t fwd, old, pending;
	bool quiet = false, created = false, masked = false;
	int mode = take_mode(argc, argv), pid = 0, c, r, status = OSHCTL_EXIT_OSH;
	double since = 0;
	long http = 0;

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
	/* One round trip: whether oshd answers, its pid, and its newest event id, so that the
	 * stream shows only this run's events (a sandbox of the same name before may have left
	 * some). */
	r = oshctl_daemon_status(&pid, &http, &sb);
	if (r < 0) {
		if (mode == 0)
			return OSHCTL_RUN_EMBEDDED;
		oshctl_print_unreachable(r);
		return OSHCTL_EXIT_OSH;
	}
	if (http == 200)
		since = oshctl_json_num(sb, "events_last_id");
	cJSON_Delete(sb);
	sb = NULL;
	if (!same_namespaces(pid)) {
		/* The command would run in oshd's network and mounts, not the caller's: embedded
		 * mode keeps what `oshctl run` promises, unless the caller asked for oshd. */
		if (mode == 0)
			return OSHCTL_RUN_EMBEDDED;
		fprintf(stderr, "osh: warning: oshd runs in other namespaces than this shell; the "
				"command sees oshd's network and mounts\n");
	}

	env_policy = getenv("OSH_DEFAULT_POLICY");
	if (!policy && env_policy && *env_policy)
		policy = env_policy;
	if (!name) {
		snprintf(defname, sizeof(defname), "osh-run-%d", (int)getpid());
		name = defname;
	}
	if (policy_text(policy, &text) != OSHCTL_EXIT_OK)
		goto out;
	wd = realpath(workdir ? workdir : ".", NULL);
	if (!wd) {
		fprintf(stderr, "osh: workdir %s: %s\n", workdir ? workdir : ".", strerror(errno));
		goto out;
	}
	ename = oshctl_url_escape(name);
	body = cJSON_CreateObject();
	if (!ename || !body || !cJSON_AddStringToObject(body, "name", name) ||
	    !cJSON_AddStringToObject(body, "policy", text) ||
	    !cJSON_AddStringToObject(body, "workdir", wd) ||
	    !cJSON_AddBoolToObject(body, "ephemeral", true) ||
	    snprintf(path, sizeof(path), "/v1/sandboxes/%s", ename) >= (int)sizeof(path)) {
		fprintf(stderr, "osh: out of memory or name too long\n");
		goto out;
	}

	/* The forwarded signals stay blocked from here to the end: the events thread must never
	 * take them, and one that arrives before the command runs either ends the run (below) or
	 * reaches the command once it starts. */
	oshctl_exec_signals(&fwd);
	pthread_sigmask(SIG_BLOCK, &fwd, &old);
	masked = true;

	if (oshctl_call("POST", "/v1/sandboxes", body,
			&(struct oshctl_call_opts){ .policy_file = policy }, NULL,
			&sb) != OSHCTL_EXIT_OK)
		goto out;
	created = true;
	{
		const cJSON *w;

		cJSON_ArrayForEach (w, cJSON_GetObjectItemCaseSensitive(sb, "warnings")) {
			if (cJSON_IsString(w))
				fprintf(stderr, "osh: warning: %s\n", w->valuestring);
		}
	}
	if (!quiet)
		print_startup(sb, !policy);

	snprintf(ev.path, sizeof(ev.path), "/v1/events?sandbox=%s&follow=1&since=%.0f", ename,
		 since > 0 ? since : 0);
	ev.quiet = quiet;
	if (events_start(&ev) < 0)
		fprintf(stderr,
			"osh: warning: denials of this run are not shown (oshctl logs "
			"%s has them)\n",
			name);
	events_wait_open(&ev);

	sigpending(&pending);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&fwd, sig) && sigismember(&pending, sig) &&
		    (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)) {
			status = 128 + sig;
			goto out;
		}
	status = oshctl_exec_end(name, argv + optind, environ, wd, &end);
out:
	events_stop(&ev, end.last_event_id > since ? end.last_event_id : 0);
	/* oshd deletes an ephemeral sandbox after its last exec, before it reports the exit; this
	 * covers a run that never got there. */
	if (created && !end.ran)
		oshctl_call("DELETE", path, NULL,
			    &(struct oshctl_call_opts){ .quiet_not_found = true }, NULL, NULL);
	if (masked) {
		struct timespec zero = { 0 };

		while (sigtimedwait(&fwd, NULL, &zero) > 0)
			;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	cJSON_Delete(sb);
	cJSON_Delete(body);
	free(ename);
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
