// SPDX-License-Identifier: Apache-2.0
// sandbox-run: drives the engine API (sandbox.h) the way the daemon does, for end-to-end tests:
// exec of several commands into one sandbox with pipes as stdio, signals to all of it.
//
//   sandbox-run exec   --policy FILE --name NAME [--workdir DIR] -- CMD [ARG...] [--- CMD [ARG...]]...
//       creates the sandbox, starts every command at once (stdin /dev/null, stdout and stderr
//       pipes, own session), prints each one's output as `I out: LINE` / `I err: LINE` and its
//       status as `I exit N`, destroys the sandbox. Exits 0 when the engine did not fail.
//   sandbox-run signal --policy FILE --name NAME
//       starts two `sleep 60` by exec, prints `nprocs N`, signals the sandbox with SIGTERM,
//       prints each `exit N`, then `nprocs N` again.
// With pinned kernel state (--bpffs ROOT), as the daemon across its restarts:
//   sandbox-run create  --bpffs ROOT --policy FILE --name NAME [--out FILE] [--hold] -- CMD...
//       creates the sandbox, starts CMD in it (stdout and stderr appended to FILE, own
//       session), prints `ready pid N`; then releases it and exits, or with --hold prints its
//       events (`event ...`) until SIGTERM/SIGINT and releases it then. SIGKILL is the test.
//       While holding, SIGUSR1 looks at the pins and restores what was removed, as oshd does
//       (osh_sandbox_pins_check): `pins N restored: PATH...`, or `pins failed`.
//   sandbox-run adopt   --bpffs ROOT --policy FILE --name NAME [--hold] [-- CMD...]
//       adopts the sandbox with the policy FILE (a new generation), prints `adopted`, runs CMD
//       in it by exec (stdio inherited) and prints `exec exit N`; then as create.
//   sandbox-run destroy --bpffs ROOT --policy FILE --name NAME: adopts it and destroys it.
//   sandbox-run purge   --bpffs ROOT --name NAME
//   sandbox-run many    --bpffs ROOT --policy FILE --name PREFIX --count N create|adopt|destroy
//       the same for sandboxes PREFIX-0..N-1 (each running `sleep 600`), timed: `many N ms`.
// --no-net leaves network_policies out (filesystem only, as the BPF LSM VM test uses it); BPF
// LSM denials print as `fsevent cgroup=ID | LINE`; create and adopt print the sandbox's
// mechanisms on stderr (`sandbox-run: sandbox NAME (...; bpf-lsm active)`).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "sandbox.h"

#define EXIT_USAGE 64
#define EXIT_SETUP 70
#define MAX_CMDS   8

struct opts {
	const char *policy;
	const char *name;
	const char *workdir;
	const char *bpffs;
	const char *out;
	const char *many_op;
	bool hold;
	bool no_dns;
	bool no_net;
	int count;
	char **cmds[MAX_CMDS];
	size_t n_cmds;
};

static void err_print(const char *what, const struct osh_sandbox_error *e)
{
	char msg[PATH_MAX + 300];

	osh_sandbox_error_format(e, msg, sizeof(msg));
	fprintf(stderr, "sandbox-run: %s: %s\n", what, msg);
}

static int parse(int argc, char **argv, struct opts *o)
{
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			/* Commands separated by `---`. */
			o->cmds[o->n_cmds++] = &argv[i + 1];
			for (int j = i + 1; j < argc; j++)
				if (!strcmp(argv[j], "---")) {
					argv[j] = NULL;
					if (o->n_cmds == MAX_CMDS)
						return -E2BIG;
					o->cmds[o->n_cmds++] = &argv[j + 1];
				}
			break;
		} else if (!strcmp(argv[i], "--policy") && i + 1 < argc) {
			o->policy = argv[++i];
		} else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
			o->name = argv[++i];
		} else if (!strcmp(argv[i], "--workdir") && i + 1 < argc) {
			o->workdir = argv[++i];
		} else if (!strcmp(argv[i], "--bpffs") && i + 1 < argc) {
			o->bpffs = argv[++i];
		} else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
			o->out = argv[++i];
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			o->count = (int)strtol(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--hold")) {
			o->hold = true;
		} else if (!strcmp(argv[i], "--no-dns")) {
			o->no_dns = true;
		} else if (!strcmp(argv[i], "--no-net")) {
			o->no_net = true;
		} else if (!o->many_op && argv[i][0] != '-' && !strcmp(argv[1], "many")) {
			o->many_op = argv[i];
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

static const char *str(const char *s)
{
	return s ? s : "-";
}

/* Structured egress/DNS events (what the daemon stores), one line each. */
static void print_event(const struct osh_net_event_info *ev, void *ctx)
{
	(void)ctx;
	printf("event kind=%s decision=%s pid=%d uid=%u comm=%s exe=%s op=%s target=%s host=%s "
	       "closest=%s cgroup=%llu hint=%s | %s\n",
	       ev->kind, ev->decision, (int)ev->pid, (unsigned)ev->uid, str(ev->comm), str(ev->exe),
	       ev->operation, ev->target, str(ev->host), str(ev->closest),
	       (unsigned long long)ev->cgroup_id, str(ev->hint), ev->line);
}

/* BPF LSM denials (the daemon's fs events), one line each. */
static void print_fs_event(const struct osh_fs_event *ev, void *ctx)
{
	char *line = NULL;

	(void)ctx;
	if (osh_fs_event_format(ev, &line) == 0)
		printf("fsevent cgroup=%llu | %s\n", (unsigned long long)ev->sandbox, line);
	free(line);
}

/* The mechanisms line, for tests that check what enforces. */
static void describe(const struct osh_sandbox *sb)
{
	char *text = NULL;

	if (osh_sandbox_describe(sb, &text) == 0)
		fprintf(stderr, "sandbox-run: %s\n", text);
	free(text);
}

static int config_load(const struct opts *o, struct osh_sandbox_config *cfg)
{
	struct osh_diag_list diags = { 0 };
	struct osh_policy *pol = NULL;
	struct osh_sandbox_error e;
	int r;

	osh_sandbox_config_init(cfg);
	if (!o->policy || !o->name)
		return -EINVAL;
	r = osh_policy_parse_file(o->policy, OSH_POLICY_FORMAT_AUTO, &pol, &diags);
	osh_diag_list_clear(&diags);
	if (r < 0) {
		fprintf(stderr, "sandbox-run: %s: invalid policy\n", o->policy);
		return r;
	}
	r = osh_sandbox_config_from_policy(pol, cfg, &e);
	osh_policy_free(pol);
	if (r < 0)
		return r;
	cfg->bpffs_root = o->bpffs;
	cfg->no_dns = o->no_dns;
	if (o->no_net) {
		osh_policy_free(cfg->net_policy);
		cfg->net_policy = NULL;
	}
	cfg->net_event_fn = print_event;
	cfg->fs_event_fn = print_fs_event;
	cfg->name = strdup(o->name);
	if (o->workdir && !(cfg->workdir = strdup(o->workdir)))
		return -ENOMEM;
	return cfg->name ? 0 : -ENOMEM;
}

/* Prints complete lines of buf (len bytes) as `I TAG: LINE`, keeps a partial last line. */
static size_t lines_flush(size_t idx, const char *tag, char *buf, size_t len, bool all)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n') {
			printf("%zu %s: %.*s\n", idx, tag, (int)(i - start), buf + start);
			start = i + 1;
		}
	if (all && start < len) {
		printf("%zu %s: %.*s\n", idx, tag, (int)(len - start), buf + start);
		start = len;
	}
	memmove(buf, buf + start, len - start);
	return len - start;
}

static int cmd_exec(const struct opts *o)
{
	struct osh_sandbox_config cfg;
	struct osh_sandbox_error e;
	struct osh_sandbox *sb = NULL;
	struct pollfd pfd[2 * MAX_CMDS];
	char buf[2 * MAX_CMDS][4096];
	size_t len[2 * MAX_CMDS] = { 0 };
	pid_t pid[MAX_CMDS];
	int pidfd[MAX_CMDS], devnull = -1, open_fds = 0, ret = EXIT_SETUP, r;

	if (config_load(o, &cfg) < 0 || !o->n_cmds)
		return EXIT_USAGE;
	r = osh_sandbox_create(&cfg, &sb, &e);
	if (r < 0) {
		err_print("create", &e);
		goto out;
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (size_t i = 0; i < o->n_cmds; i++) {
		int out[2], errp[2], status;

		if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
			goto out;
		r = osh_sandbox_exec(sb, o->cmds[i],
				     &(struct osh_sandbox_exec_opts){
					 .stdio = { devnull, out[1], errp[1] },
					 .new_session = true,
				     },
				     &pid[i], &pidfd[i], &status, &e);
		close(out[1]);
		close(errp[1]);
		if (r < 0) {
			/* Reported like a command that ran: the test checks the status. */
			printf("%zu exec-error: %s\n", i, e.step);
			printf("%zu exit %d\n", i, status);
			close(out[0]);
			close(errp[0]);
			pid[i] = 0;
			pfd[2 * i].fd = pfd[2 * i + 1].fd = -1;
			continue;
		}
		close(pidfd[i]);
		pfd[2 * i] = (struct pollfd){ .fd = out[0], .events = POLLIN };
		pfd[2 * i + 1] = (struct pollfd){ .fd = errp[0], .events = POLLIN };
		open_fds += 2;
	}
	/* Every command runs at once: read them all until each closed its ends. */
	while (open_fds > 0) {
		if (poll(pfd, 2 * o->n_cmds, 30000) <= 0)
			goto out;
		for (size_t k = 0; k < 2 * o->n_cmds; k++) {
			ssize_t n;

			if (pfd[k].fd < 0 || !pfd[k].revents)
				continue;
			n = read(pfd[k].fd, buf[k] + len[k], sizeof(buf[k]) - 1 - len[k]);
			if (n > 0) {
				len[k] = lines_flush(k / 2, k % 2 ? "err" : "out", buf[k],
						     len[k] + (size_t)n, false);
				continue;
			}
			lines_flush(k / 2, k % 2 ? "err" : "out", buf[k], len[k], true);
			close(pfd[k].fd);
			pfd[k].fd = -1;
			open_fds--;
		}
	}
	for (size_t i = 0; i < o->n_cmds; i++) {
		int status;

		if (!pid[i])
			continue;
		while (waitpid(pid[i], &status, 0) < 0)
			if (errno != EINTR)
				goto out;
		printf("%zu exit %d\n", i,
		       WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
	}
	ret = 0;
out:
	if (devnull >= 0)
		close(devnull);
	if (sb && osh_sandbox_destroy(sb, &e) < 0) {
		err_print("destroy", &e);
		ret = EXIT_SETUP;
	}
	osh_sandbox_config_free(&cfg);
	return ret;
}

static int cmd_signal(const struct opts *o)
{
	char *sleep_argv[] = { "sleep", "60", NULL };
	struct osh_sandbox_config cfg;
	struct osh_sandbox_error e;
	struct osh_sandbox *sb = NULL;
	pid_t pid[2];
	int pidfd[2], status, ret = EXIT_SETUP, n = -1;

	if (config_load(o, &cfg) < 0)
		return EXIT_USAGE;
	if (osh_sandbox_create(&cfg, &sb, &e) < 0) {
		err_print("create", &e);
		goto out;
	}
	for (int i = 0; i < 2; i++)
		if (osh_sandbox_exec(sb, sleep_argv,
				     &(struct osh_sandbox_exec_opts){ .stdio = { -1, -1, -1 },
								      .new_session = true },
				     &pid[i], &pidfd[i], &status, &e) < 0) {
			err_print("exec", &e);
			goto out;
		}
	/* The children exec'd: they are in the cgroup. */
	printf("nprocs %d\n", osh_sandbox_nprocs(sb));
	if (osh_sandbox_signal_all(sb, SIGTERM) < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		while (waitpid(pid[i], &status, 0) < 0)
			if (errno != EINTR)
				goto out;
		close(pidfd[i]);
		printf("exit %d\n",
		       WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
	}
	/* Reaped: the cgroup is empty (a dead task may linger in cgroup.procs for a moment). */
	for (int i = 0; i < 100 && (n = osh_sandbox_nprocs(sb)) > 0; i++)
		usleep(10000);
	printf("nprocs %d\n", n);
	ret = 0;
out:
	if (sb && osh_sandbox_destroy(sb, &e) < 0) {
		err_print("destroy", &e);
		ret = EXIT_SETUP;
	}
	osh_sandbox_config_free(&cfg);
	return ret;
}

/* The pins of the process, then sb's: what is missing is restored and printed. */
static void pins_repair(struct osh_sandbox *sb)
{
	struct osh_strv missing = { 0 };
	struct osh_sandbox_error e;
	int shared = osh_sandbox_pins_check_shared(true, &missing, &e), own = 0;

	if (shared >= 0)
		own = osh_sandbox_pins_check(sb, true, &missing, &e);
	if (shared < 0 || own < 0) {
		err_print("pins", &e);
		printf("pins failed\n");
	} else {
		printf("pins %d restored:", shared + own);
		for (size_t i = 0; i < missing.n; i++)
			printf(" %s", missing.v[i]);
		putchar('\n');
	}
	osh_strv_free(&missing);
}

/* Until SIGTERM or SIGINT (blocked since main started, so events are printed meanwhile);
 * SIGUSR1 restores removed pins. */
static void hold(struct osh_sandbox *sb)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	/* Tests signal this process, which runs behind nsenter/unshare wrappers. */
	printf("holding pid %d\n", (int)getpid());
	while (sigwait(&set, &sig) == 0 && sig == SIGUSR1)
		pins_repair(sb);
}

static int exec_wait(struct osh_sandbox *sb, char **argv, int out_fd)
{
	struct osh_sandbox_error e;
	pid_t pid;
	int pidfd, status;

	if (osh_sandbox_exec(sb, argv,
			     &(struct osh_sandbox_exec_opts){ .stdio = { -1, out_fd, out_fd },
							      .new_session = true },
			     &pid, &pidfd, &status, &e) < 0) {
		err_print("exec", &e);
		return status;
	}
	close(pidfd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static int cmd_pinned(const char *mode, const struct opts *o)
{
	struct osh_sandbox_config cfg;
	struct osh_sandbox_error e;
	struct osh_sandbox *sb = NULL;
	int ret = EXIT_SETUP, r;

	if (!strcmp(mode, "purge")) {
		if (!o->bpffs || !o->name)
			return EXIT_USAGE;
		r = osh_sandbox_purge(o->bpffs, o->name, &e);
		if (r < 0) {
			err_print("purge", &e);
			return EXIT_SETUP;
		}
		printf("purged\n");
		return 0;
	}
	if (!o->bpffs || config_load(o, &cfg) < 0)
		return EXIT_USAGE;
	if (!strcmp(mode, "create")) {
		/* Never our stdout: a test reading it would wait for the command to end. */
		int out = open(o->out ? o->out : "/dev/null",
			       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		pid_t pid;
		int pidfd, status;

		if (!o->n_cmds || out < 0)
			goto out;
		if (osh_sandbox_create(&cfg, &sb, &e) < 0) {
			err_print("create", &e);
			goto out;
		}
		describe(sb);
		r = osh_sandbox_exec(sb, o->cmds[0],
				     &(struct osh_sandbox_exec_opts){ .stdio = { -1, out, out },
								      .new_session = true },
				     &pid, &pidfd, &status, &e);
		if (out >= 0)
			close(out);
		if (r < 0) {
			err_print("exec", &e);
			goto out;
		}
		close(pidfd);
		printf("ready pid %d\n", (int)pid);
	} else {
		if ((r = osh_sandbox_adopt(&cfg, &sb, &e)) < 0) {
			err_print("adopt", &e);
			ret = r == -ENOENT ? 3 : EXIT_SETUP;
			goto out;
		}
		printf("adopted\n");
		describe(sb);
		if (!strcmp(mode, "destroy")) {
			r = osh_sandbox_destroy(sb, &e);
			sb = NULL;
			if (r < 0) {
				err_print("destroy", &e);
				goto out;
			}
			printf("destroyed\n");
			ret = 0;
			goto out;
		}
		if (o->n_cmds)
			printf("exec exit %d\n", exec_wait(sb, o->cmds[0], -1));
	}
	if (o->hold)
		hold(sb);
	osh_sandbox_release(sb);
	sb = NULL;
	printf("released\n");
	ret = 0;
out:
	osh_sandbox_release(sb);
	osh_sandbox_config_free(&cfg);
	return ret;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmd_many(const struct opts *o)
{
	char *sleep_argv[] = { "sleep", "600", NULL };
	struct osh_sandbox **sbs;
	struct osh_sandbox_config cfg;
	struct osh_sandbox_error e;
	double t0 = now_ms();
	int ret = EXIT_SETUP, r = 0, devnull = -1;

	if (!o->bpffs || !o->many_op || o->count <= 0 || config_load(o, &cfg) < 0)
		return EXIT_USAGE;
	sbs = calloc((size_t)o->count, sizeof(*sbs));
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (!sbs || devnull < 0)
		goto out;
	for (int i = 0; i < o->count && r >= 0; i++) {
		char name[OSH_CGROUP_NAME_MAX + 1];

		snprintf(name, sizeof(name), "%s-%d", o->name, i);
		free(cfg.name);
		cfg.name = strdup(name);
		if (!strcmp(o->many_op, "create")) {
			pid_t pid;
			int pidfd, status;

			r = osh_sandbox_create(&cfg, &sbs[i], &e);
			if (r >= 0)
				r = osh_sandbox_exec(sbs[i], sleep_argv,
						     &(struct osh_sandbox_exec_opts){
							 .stdio = { devnull, devnull, devnull },
							 .new_session = true },
						     &pid, &pidfd, &status, &e);
			if (r >= 0)
				close(pidfd);
		} else {
			r = osh_sandbox_adopt(&cfg, &sbs[i], &e);
			if (r >= 0 && !strcmp(o->many_op, "adopt") &&
			    osh_sandbox_nprocs(sbs[i]) != 1)
				r = osh_sandbox_error_set(&e, EIO, "nprocs", name, "not 1");
			if (r >= 0 && !strcmp(o->many_op, "destroy")) {
				r = osh_sandbox_destroy(sbs[i], &e);
				sbs[i] = NULL;
			}
		}
		if (r < 0)
			err_print(o->many_op, &e);
	}
	printf("many %d %s %.0f ms\n", o->count, o->many_op, now_ms() - t0);
	ret = r < 0 ? EXIT_SETUP : 0;
	for (int i = 0; i < o->count; i++)
		osh_sandbox_release(sbs[i]);
out:
	if (devnull >= 0)
		close(devnull);
	free(sbs);
	osh_sandbox_config_free(&cfg);
	return ret;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };

	sigset_t set;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* For --hold's sigwait; the engine's threads block everything themselves. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (argc < 2 || parse(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: sandbox-run exec|signal|create|adopt|destroy|purge|many "
				"--policy FILE --name NAME "
				"[--workdir DIR] [-- CMD "
				"[--- CMD]...]\n");
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "exec"))
		return cmd_exec(&o);
	if (!strcmp(argv[1], "signal"))
		return cmd_signal(&o);
	if (!strcmp(argv[1], "create") || !strcmp(argv[1], "adopt") ||
	    !strcmp(argv[1], "destroy") || !strcmp(argv[1], "purge"))
		return cmd_pinned(argv[1], &o);
	if (!strcmp(argv[1], "many"))
		return cmd_many(&o);
	fprintf(stderr, "sandbox-run: unknown mode %s\n", argv[1]);
	return EXIT_USAGE;
}
