// SPDX-License-Identifier: Apache-2.0
// egress-run: the engine's egress enforcement (sandbox-net.c) on a test cgroup, with policy
// reloads on demand: runs CMD in the cgroup under the first policy; each SIGUSR1 switches to the
// next policy (atomic generation swap) and writes the new generation number to --ack FILE.
// --dns starts the DNS responder (--dns-ttl-floor S: addresses it installs live at least S
// seconds instead of 30, so tests see them expire); --bpffs ROOT --name NAME pins the sandbox,
// and --adopt takes over one an earlier egress-run pinned (CMD then joins it). --pool holds the
// programs first (osh_sandbox_net_hold, as oshd does), which runs the pool of generation tries:
// reloads then take a ready trie and leave the old one to the pool's thread.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf-egress.h"
#include "sandbox-net.h"

#define RUN_EXIT_USAGE 64
#define RUN_EXIT_SETUP 70
#define MAX_POLICIES   4

static volatile sig_atomic_t reload_requested;

static void on_usr1(int sig)
{
	(void)sig;
	reload_requested = 1;
}

static void print_event(const struct osh_net_event_info *ev, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "egress-run: %s\n", ev->line);
}

static pid_t spawn_in_cgroup(int cgfd, char **argv)
{
	struct clone_args args = {
		.flags = CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = (__u64)cgfd,
	};
	long pid = syscall(SYS_clone3, &args, sizeof(args));

	if (pid == 0) {
		signal(SIGUSR1, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "egress-run: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return (pid_t)pid;
}

/* Writes a number to path atomically (readers never see a partial file). */
static int ack_write(const char *path, unsigned gen)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", gen);
	if (fclose(f) != 0)
		return -errno;
	return rename(tmp, path) < 0 ? -errno : 0;
}

int main(int argc, char **argv)
{
	struct osh_policy *pol[MAX_POLICIES] = { 0 };
	struct osh_sandbox_net *net = NULL;
	struct osh_strv warnings = { 0 }, report = { 0 };
	struct osh_sandbox_error err = { 0 };
	const char *cgroup = NULL, *ack = NULL, *pidfile = NULL, *bpffs = NULL, *name = NULL;
	unsigned ttl_floor = 0;
	bool adopt = false, pool = false, held = false;
	char **cmd = NULL, msg[4096 + 300];
	size_t n_pol = 0, cur = 0;
	unsigned gen = 0;
	bool no_dns = true;
	struct stat st;
	int cgfd = -1, status, r, ret = RUN_EXIT_SETUP;
	pid_t child;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			cmd = &argv[i + 1];
			break;
		} else if (!strcmp(argv[i], "--cgroup") && i + 1 < argc) {
			cgroup = argv[++i];
		} else if (!strcmp(argv[i], "--ack") && i + 1 < argc) {
			ack = argv[++i];
		} else if (!strcmp(argv[i], "--pid-file") && i + 1 < argc) {
			pidfile = argv[++i];
		} else if (!strcmp(argv[i], "--dns")) {
			no_dns = false;
		} else if (!strcmp(argv[i], "--dns-ttl-floor") && i + 1 < argc) {
			ttl_floor = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--bpffs") && i + 1 < argc) {
			bpffs = argv[++i];
		} else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
			name = argv[++i];
		} else if (!strcmp(argv[i], "--pool")) {
			pool = true;
		} else if (!strcmp(argv[i], "--adopt")) {
			adopt = true;
		} else if (!strcmp(argv[i], "--policy") && i + 1 < argc && n_pol < MAX_POLICIES) {
			struct osh_diag_list diags = { 0 };

			r = osh_policy_parse_file(argv[++i], OSH_POLICY_FORMAT_AUTO, &pol[n_pol],
						  &diags);
			osh_diag_list_clear(&diags);
			if (r < 0) {
				fprintf(stderr, "egress-run: %s: invalid policy\n", argv[i]);
				return RUN_EXIT_USAGE;
			}
			n_pol++;
		} else {
			fprintf(stderr,
				"usage: egress-run --cgroup DIR --policy FILE [--policy FILE]"
				" [--ack FILE] [--pid-file FILE] [--dns [--dns-ttl-floor S]]"
				" [--bpffs ROOT --name NAME [--adopt]] [--pool] -- CMD...\n");
			return RUN_EXIT_USAGE;
		}
	}
	if (!cgroup || !n_pol || !cmd || !cmd[0]) {
		fprintf(stderr, "egress-run: --cgroup, --policy and CMD are required\n");
		return RUN_EXIT_USAGE;
	}
	cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0 || fstat(cgfd, &st) < 0) {
		fprintf(stderr, "egress-run: %s: %s\n", cgroup, strerror(errno));
		goto out;
	}
	if (pool) {
		unsigned int level;

		r = osh_egress_cgroup_level(cgroup, &level);
		if (r == 0)
			r = osh_sandbox_net_hold(level, bpffs);
		if (r < 0) {
			fprintf(stderr, "egress-run: hold: %s\n", strerror(-r));
			goto out;
		}
		held = true;
	}
	r = osh_sandbox_net_start(&(struct osh_sandbox_net_opts){ .policy = pol[0],
								  .cgroup_id = st.st_ino,
								  .cgroup_fd = cgfd,
								  .cgroup_path = cgroup,
								  .no_dns = no_dns,
								  .dns_ttl_floor = ttl_floor,
								  .bpffs_root = bpffs,
								  .name = name,
								  .adopt = adopt,
								  .event_fn = print_event },
				  &warnings, &report, &net, &err);
	if (r < 0) {
		osh_sandbox_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "egress-run: %s\n", msg);
		goto out;
	}
	for (size_t i = 0; i < warnings.n; i++)
		fprintf(stderr, "egress-run: warning: %s\n", warnings.v[i]);
	signal(SIGUSR1, on_usr1);
	/* Tests signal this process, which runs behind nsenter/unshare wrappers. */
	if (pidfile && ack_write(pidfile, (unsigned)getpid()) < 0)
		goto out;
	if (ack && ack_write(ack, gen) < 0)
		goto out;
	child = spawn_in_cgroup(cgfd, cmd);
	if (child < 0) {
		fprintf(stderr, "egress-run: spawn: %s\n", strerror(errno));
		goto out;
	}
	for (;;) {
		pid_t w;

		if (reload_requested) {
			reload_requested = 0;
			cur = (cur + 1) % n_pol;
			r = osh_sandbox_net_reload(net, pol[cur], NULL, &err);
			if (r < 0) {
				osh_sandbox_error_format(&err, msg, sizeof(msg));
				fprintf(stderr, "egress-run: reload: %s\n", msg);
			} else if (ack && ack_write(ack, ++gen) < 0) {
				fprintf(stderr, "egress-run: ack: %s\n", strerror(errno));
			}
		}
		w = waitpid(child, &status, WNOHANG);
		if (w == child)
			break;
		if (w < 0 && errno != EINTR)
			goto out;
		usleep(2000);
	}
	ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
	osh_sandbox_net_free(net);
	if (held)
		osh_sandbox_net_unhold();
	for (size_t i = 0; i < n_pol; i++)
		osh_policy_free(pol[i]);
	osh_strv_free(&warnings);
	osh_strv_free(&report);
	if (cgfd >= 0)
		close(cgfd);
	return ret;
}
