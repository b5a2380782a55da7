// SPDX-License-Identifier: Apache-2.0
// osh-run, the embedded `oshctl run` (oshctl execs it from ../libexec/osh/ when no oshd runs the
// command, cli/run-daemon.c): a program of its own so that the engine's libraries (ldns and
// libcrypto for the DNS responder) load only for it, not for every oshctl command. Starts a
// command in a fresh sandbox on the caller's terminal and exits with the command's status. Exit codes: the command's own; 128+N when it was killed by signal N; 125
// when osh itself failed (usage, policy, sandbox creation); 126 when the sandbox could not be
// set up in the child or the command is not executable; 127 when the command was not found.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/default-policy.h"
#include "cli/oshctl.h"
#include "policy.h"
#include "sandbox.h"

#define RUN_EXIT_OSH	    125
#define DEFAULT_POLICY_NAME "<built-in default policy>"

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

static void run_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: oshctl run [--policy FILE] [--name NAME] [--workdir DIR] [-q] -- CMD [ARG...]\n"
	    "\n"
	    "Runs CMD in a new sandbox with the caller's terminal, environment and network\n"
	    "namespace, and exits with its status (128+N if killed by signal N).\n"
	    "Without --policy: $OSH_DEFAULT_POLICY if set, else the default policy built into\n"
	    "oshctl (examples/default.yaml).\n"
	    "\n"
	    "  -p, --policy FILE   policy (YAML or JSON)\n"
	    "  -n, --name NAME     sandbox name (default osh-run-PID)\n"
	    "  -w, --workdir DIR   working directory of CMD (default: the current one)\n"
	    "  -q, --quiet         no start-up line on stderr\n"
	    "      --embedded      run the sandbox in oshctl itself, even when oshd answers\n"
	    "      --daemon        run it through oshd (an ephemeral sandbox), 125 if none\n"
	    "\n"
	    "Default: through oshd when it answers on $OSH_SOCKET (or /run/osh/oshd.sock) and\n"
	    "runs in the caller's namespaces, else embedded.\n"
	    "\n"
	    "exit: CMD's status; 125 osh failed; 126 set-up in the sandbox failed or CMD not\n"
	    "executable; 127 CMD not found\n");
}

/* path NULL: the default policy compiled into oshctl (examples/default.yaml). The policy stays
 * in *ret_pol (the caller frees it) so errors can point at the line that caused them. */
static int policy_load(const char *path, struct osh_sandbox_config *cfg,
		       struct osh_policy **ret_pol)
{
	struct osh_diag_list diags = { 0 };
	struct osh_policy *pol = NULL;
	struct osh_sandbox_error err;
	int r = path ? osh_policy_parse_file(path, OSH_POLICY_FORMAT_AUTO, &pol, &diags)
		     : osh_policy_parse_buffer(DEFAULT_POLICY_NAME, osh_default_policy_yaml,
					       osh_default_policy_yaml_len, OSH_POLICY_FORMAT_YAML,
					       &pol, &diags);

	if (r < 0) {
		for (size_t i = 0; i < diags.n; i++) {
			char *text = NULL;

			if (osh_diag_format(&diags.items[i], &text) == 0)
				fprintf(stderr, "%s\n", text);
			free(text);
		}
		if (!diags.n)
			fprintf(stderr, "osh: policy: %s: %s\n", path ? path : DEFAULT_POLICY_NAME,
				strerror(-r));
		osh_diag_list_clear(&diags);
		return r;
	}
	osh_diag_list_clear(&diags);
	r = osh_sandbox_config_from_policy(pol, cfg, &err);
	if (r < 0) {
		char msg[PATH_MAX + 300];

		osh_sandbox_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "osh: %s\n", msg);
		osh_policy_free(pol);
		return r;
	}
	*ret_pol = pol;
	return 0;
}

/* BPF LSM denials, from the engine's event thread: one line each on stderr. */
static void print_fs_event(const struct osh_fs_event *ev, void *ctx)
{
	char *line = NULL;

	if (osh_fs_event_format(ev, &line) == 0)
		fprintf(stderr, "osh: %s\n", line);
	free(line);
}

/* Egress denials and audits, from the engine's network thread: one line each on stderr, also
 * with -q (they are what the user must see, not start-up chatter). */
static void print_net_event(const struct osh_net_event_info *ev, void *ctx)
{
	fprintf(stderr, "osh: %s\n", ev->line);
}

static void print_error(const struct osh_sandbox_error *e)
{
	char msg[PATH_MAX + 300];

	osh_sandbox_error_format(e, msg, sizeof(msg));
	fprintf(stderr, "osh: %s\n", msg);
}

/* A closed stdio descriptor would be taken by the next open() and inherited as stdio. */
static void stdio_ensure(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", fd ? O_WRONLY : O_RDONLY);

			if (n >= 0 && n != fd)
				close(n);
		}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct osh_sandbox_config cfg;
	struct osh_sandbox_error err;
	struct osh_sandbox *sb = NULL;
	struct osh_policy *pol = NULL;
	struct sigaction ign = { .sa_handler = SIG_IGN }, fwd = { .sa_handler = forward_signal };
	struct sigaction old_int, old_quit;
	sigset_t sig_default;
	char *policy = NULL, *line = NULL;
	const char *env_policy;
	bool quiet = false;
	int c, r, status;

	status = RUN_EXIT_OSH;
	osh_sandbox_config_init(&cfg);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+p:n:w:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			free(policy);
			policy = strdup(optarg);
			if (!policy) {
				fprintf(stderr, "osh: out of memory\n");
				goto out;
			}
			break;
		case 'n':
			free(cfg.name);
			cfg.name = strdup(optarg);
			if (!cfg.name) {
				fprintf(stderr, "osh: out of memory\n");
				goto out;
			}
			break;
		case 'w':
			free(cfg.workdir);
			cfg.workdir = strdup(optarg);
			if (!cfg.workdir) {
				fprintf(stderr, "osh: out of memory\n");
				goto out;
			}
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			run_usage(stdout);
			status = 0;
			goto out;
		default:
			run_usage(stderr);
			goto out;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "oshctl run: no command given\n");
		run_usage(stderr);
		goto out;
	}
	stdio_ensure();
	env_policy = getenv("OSH_DEFAULT_POLICY");
	if (!policy && env_policy && *env_policy)
		policy = strdup(env_policy);
	if (policy_load(policy, &cfg, &pol) < 0)
		goto out;

	if (!quiet)
		cfg.fs_event_fn = print_fs_event;
	cfg.net_event_fn = print_net_event;
	r = osh_sandbox_create(&cfg, &sb, &err);
	if (r < 0) {
		char msg[PATH_MAX + 400];

		/* A path of the policy that cannot be used names its FILE:LINE:COL. */
		if (osh_sandbox_error_format_at(&err, pol, msg, sizeof(msg)))
			fprintf(stderr, "%s\n", msg);
		else
			fprintf(stderr, "osh: %s\n", msg);
		goto out;
	}
	for (size_t i = 0; i < osh_sandbox_warnings(sb)->n; i++)
		fprintf(stderr, "osh: warning: %s\n", osh_sandbox_warnings(sb)->v[i]);
	if (!quiet) {
		if (osh_sandbox_describe(sb, &line) == 0)
			fprintf(stderr, "osh: %s\n", line);
		for (size_t i = 0; i < osh_sandbox_report(sb)->n; i++)
			fprintf(stderr, "osh: %s\n", osh_sandbox_report(sb)->v[i]);
		if (!policy)
			fprintf(stderr, "osh: policy: %s (examples/default.yaml)\n",
				DEFAULT_POLICY_NAME);
		if (!(osh_sandbox_mechanisms(sb) & OSH_MECH_EGRESS))
			fprintf(stderr, "osh: warning: network egress is not restricted\n");
	}

	/* The child shares the caller's foreground process group, so the terminal's SIGINT/SIGQUIT
	 * reach it directly; the parent ignores them and waits. SIGTSTP stays default: Ctrl-Z stops
	 * both, `fg` continues both. Signals sent to oshctl alone are passed on. */
	sigemptyset(&sig_default);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	if (old_int.sa_handler != SIG_IGN)
		sigaddset(&sig_default, SIGINT);
	if (old_quit.sa_handler != SIG_IGN)
		sigaddset(&sig_default, SIGQUIT);
	sigaction(SIGTERM, &fwd, NULL);
	sigaction(SIGHUP, &fwd, NULL);

	r = osh_sandbox_spawn(sb, argv + optind,
			      &(struct osh_sandbox_spawn_opts){ .sig_default = &sig_default,
								.kill_with_parent = true },
			      &status, &err);
	if (r < 0) {
		print_error(&err);
		goto out;
	}
	child_pid = osh_sandbox_pid(sb);
	r = osh_sandbox_wait(sb, &status, &err);
	child_pid = 0;
	if (r < 0) {
		print_error(&err);
		status = RUN_EXIT_OSH;
	}
out:
	if (sb && osh_sandbox_destroy(sb, &err) < 0)
		print_error(&err);
	free(line);
	free(policy);
	osh_policy_free(pol);
	osh_sandbox_config_free(&cfg);
	return status;
}
