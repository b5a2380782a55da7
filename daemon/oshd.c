// SPDX-License-Identifier: Apache-2.0
// oshd: the controller daemon. Reads /etc/osh/oshd.conf, opens the store, re-adopts the pinned
// sandboxes, serves the API on a unix socket and tells systemd when it is ready. SIGTERM and
// SIGINT stop it and leave every sandbox enforced (pinned); SIGHUP re-reads the configuration.
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "api.h"
#include "config.h"
#include "events.h"
#include "manager.h"
#include "metrics.h"
#include "prover.h"
#include "sandbox.h"
#include "store.h"
#include "version.h"

#define DEFAULT_CONFIG "/etc/osh/oshd.conf"

struct cmdline {
	const char *config;
	const char *socket;
	const char *database;
	const char *bpffs;
	const char *event_log;
	const char *admin_group;
	const char *socket_group;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: oshd [--config FILE] [--socket PATH] [--database PATH] [--bpffs DIR]\n"
	    "            [--event-log PATH] [--admin-group GROUP] [--socket-group GROUP]\n"
	    "\n"
	    "The osh controller daemon. Runs in the foreground (systemd Type=notify), logs on\n"
	    "stderr. Options override the configuration file (default %s).\n"
	    "\n"
	    "  -c, --config FILE        configuration file\n"
	    "  -s, --socket PATH        API socket (default /run/osh/oshd.sock)\n"
	    "  -d, --database PATH      SQLite store (default /var/lib/osh/osh.db)\n"
	    "  -b, --bpffs DIR          where BPF state is pinned (default /sys/fs/bpf/osh)\n"
	    "  -e, --event-log PATH     JSON-lines event log ('' for none)\n"
	    "      --admin-group GROUP  members manage every sandbox (default osh)\n"
	    "      --socket-group GROUP group of the socket (default osh)\n"
	    "\n"
	    "Signals: TERM/INT stop (sandboxes stay enforced), HUP re-reads the configuration.\n",
	    DEFAULT_CONFIG);
}

static int override(char **field, const char *value)
{
	char *v;

	if (!value)
		return 0;
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	free(*field);
	*field = v;
	return 0;
}

static int config_load(const struct cmdline *cl, struct osh_config *cfg)
{
	char *err = NULL;
	int r = osh_config_load(cl->config ? cl->config : DEFAULT_CONFIG, cl->config != NULL, cfg,
				&err);

	if (r < 0) {
		fprintf(stderr, "<3>oshd: error: %s\n", err ? err : strerror(-r));
		free(err);
		return r;
	}
	if (override(&cfg->socket, cl->socket) < 0 || override(&cfg->database, cl->database) < 0 ||
	    override(&cfg->bpffs, cl->bpffs) < 0 || override(&cfg->event_log, cl->event_log) < 0 ||
	    override(&cfg->admin_group, cl->admin_group) < 0 ||
	    override(&cfg->socket_group, cl->socket_group) < 0)
		return -ENOMEM;
	return 0;
}

/* The group named in the configuration; the default group is created on first start, the way
 * a package's postinst would. */
static int group_resolve(const char *name, bool create, gid_t *ret)
{
	struct group *gr;

	if (!name || !*name)
		return -ENOENT;
	gr = getgrnam(name);
	if (!gr && create) {
		char *const argv[] = { "/usr/sbin/groupadd", "--system", (char *)name, NULL };
		pid_t pid;
		int status;

		if (posix_spawn(&pid, argv[0], NULL, NULL, argv, (char *[]){ NULL }) == 0 &&
		    waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status))
			gr = getgrnam(name);
	}
	if (!gr)
		return -ENOENT;
	*ret = gr->gr_gid;
	return 0;
}

static int mkdir_parent(const char *path, mode_t mode)
{
	char *dir = strdup(path), *slash;
	int r = 0;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, mode) < 0 && errno != EEXIST)
			r = -errno;
	}
	free(dir);
	return r;
}

/* The prover gate's inputs, when the configuration turns it on. */
struct gate {
	struct osh_prover_registry *registry;
	struct osh_prover_accepted *accepted;
};

static int gate_load(const struct osh_config *cfg, struct gate *g)
{
	struct osh_diag_list diags = { 0 };
	int r;

	memset(g, 0, sizeof(*g));
	if (!cfg->prove_gate)
		return 0;
	r = osh_prover_registry_load(cfg->prover_registry, &g->registry, &diags);
	if (r == 0 && cfg->accepted_risks && *cfg->accepted_risks)
		r = osh_prover_accepted_load(cfg->accepted_risks, &g->accepted, &diags);
	for (size_t i = 0; i < diags.n; i++) {
		char *text = NULL;

		if (osh_diag_format(&diags.items[i], &text) == 0)
			fprintf(stderr, "<3>oshd: error: %s\n", text);
		free(text);
	}
	osh_diag_list_clear(&diags);
	if (r < 0) {
		fprintf(stderr, "<3>oshd: error: prove_gate: the prover inputs did not load (%s)\n",
			strerror(-r));
		osh_prover_registry_free(g->registry);
		g->registry = NULL;
	}
	return r;
}

static void gate_free(struct gate *g)
{
	osh_prover_accepted_free(g->accepted);
	osh_prover_registry_free(g->registry);
	memset(g, 0, sizeof(*g));
}

/* The optional TCP listener (tcp_listen): the unix socket's routes over TLS, to clients with
 * certificates only. Started before READY=1 like the socket; a listener that was asked for and
 * cannot start stops oshd (fail closed, never "serving without it"). */
static int tcp_start(const struct osh_config *cfg, gid_t admin_gid, bool admin_set,
		     struct osh_manager *manager, struct osh_events *events, struct osh_api **ret)
{
	const struct osh_api_tls tls = { .cert = cfg->tls_cert,
					 .key = cfg->tls_key,
					 .client_ca = cfg->tls_client_ca };
	char *bound = NULL, *err = NULL;
	int fd, r;

	if (!cfg->tcp_listen)
		return 0;
	r = fd = osh_api_listen_tcp(cfg->tcp_listen, &bound, &err);
	if (fd >= 0) {
		r = osh_api_start(&(struct osh_api_opts){ .listen_fd = fd,
							  .tls = &tls,
							  .admin_gid = admin_gid,
							  .admin_gid_set = admin_set,
							  .manager = manager,
							  .events = events },
				  ret, &err);
		if (r < 0)
			close(fd);
	}
	if (r < 0)
		fprintf(stderr, "<3>oshd: error: %s\n", err ? err : strerror(-r));
	else
		fprintf(stderr,
			"<6>oshd: info: TCP listener on %s (TLS; clients with a certificate "
			"from %s)\n",
			bound, cfg->tls_client_ca);
	free(bound);
	free(err);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "database", required_argument, NULL, 'd' },
		{ "bpffs", required_argument, NULL, 'b' },
		{ "event-log", required_argument, NULL, 'e' },
		{ "admin-group", required_argument, NULL, 'A' },
		{ "socket-group", required_argument, NULL, 'G' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cmdline cl = { 0 };
	struct osh_config cfg;
	struct osh_store *store = NULL;
	struct osh_events *events = NULL;
	struct osh_metrics *metrics = NULL;
	struct osh_manager *manager = NULL;
	struct osh_api *api = NULL, *tcp_api = NULL;
	struct gate gate = { 0 };
	gid_t admin_gid = 0, sock_gid = 0;
	bool admin_set, sock_set, held = false;
	char *err = NULL;
	sigset_t sigs;
	int c, r, fd, status = 1;

	while ((c = getopt_long(argc, argv, "c:s:d:b:e:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cl.config = optarg;
			break;
		case 's':
			cl.socket = optarg;
			break;
		case 'd':
			cl.database = optarg;
			break;
		case 'b':
			cl.bpffs = optarg;
			break;
		case 'e':
			cl.event_log = optarg;
			break;
		case 'A':
			cl.admin_group = optarg;
			break;
		case 'G':
			cl.socket_group = optarg;
			break;
		case 'V':
			printf("oshd %s\n", OSH_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "<3>oshd: error: oshd runs as root (it loads BPF programs and "
				"manages cgroups)\n");
		return 1;
	}
	/* Each connection and engine thread would get a malloc arena of its own; a flood of
	 * events through several of them then keeps memory no one uses. Two arenas are plenty
	 * for a daemon that spends its time in the kernel and on disk. */
	mallopt(M_ARENA_MAX, 2);
	/* osh_config_load fills cfg whole (defaults, then the file). */
	memset(&cfg, 0, sizeof(cfg));
	if (config_load(&cl, &cfg) < 0)
		goto out;

	/* Every thread inherits this mask, so the signals reach only the loop below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	admin_set = group_resolve(cfg.admin_group, !cl.admin_group, &admin_gid) == 0;
	if (!admin_set)
		fprintf(stderr,
			"<4>oshd: warning: admin group '%s' does not exist: only root is "
			"an admin\n",
			cfg.admin_group ? cfg.admin_group : "");
	sock_set = group_resolve(cfg.socket_group, !cl.socket_group, &sock_gid) == 0;
	if (!sock_set)
		fprintf(stderr,
			"<4>oshd: warning: socket group '%s' does not exist: the socket "
			"is root's alone\n",
			cfg.socket_group ? cfg.socket_group : "");

	if ((r = mkdir_parent(cfg.database, 0700)) < 0 ||
	    (r = osh_store_open(cfg.database, &store, &err)) < 0) {
		fprintf(stderr, "<3>oshd: error: store %s: %s\n", cfg.database,
			err ? err : strerror(-r));
		goto out;
	}
	if (cfg.event_log && *cfg.event_log && (r = mkdir_parent(cfg.event_log, 0750)) < 0) {
		fprintf(stderr, "<3>oshd: error: event log %s: %s\n", cfg.event_log, strerror(-r));
		goto out;
	}
	r = osh_events_open(&(struct osh_events_opts){ .store = store,
						       .store_keep = cfg.events_keep,
						       .log_path = cfg.event_log && *cfg.event_log
								       ? cfg.event_log
								       : NULL,
						       .log_max_bytes = cfg.event_log_max_bytes,
						       .log_keep = cfg.event_log_keep },
			    &events);
	if (r < 0) {
		fprintf(stderr, "<3>oshd: error: events: %s\n", strerror(-r));
		goto out;
	}
	if ((r = osh_metrics_new(&metrics)) < 0) {
		fprintf(stderr, "<3>oshd: error: metrics: %s\n", strerror(-r));
		goto out;
	}
	if (gate_load(&cfg, &gate) < 0)
		goto out;
	if (mkdir(cfg.bpffs, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "<3>oshd: error: %s: %s (is bpffs mounted at /sys/fs/bpf?)\n",
			cfg.bpffs, strerror(errno));
		goto out;
	}
	/* Loaded once for oshd's life: a sandbox created later only attaches them (no verifier
	 * on the create path), and the pins stay while no sandbox exists. */
	{
		struct osh_sandbox_error se = { 0 };
		struct osh_strv warns = { 0 };
		char msg[PATH_MAX + 512];

		if (osh_sandbox_programs_hold(cfg.bpffs, true, &warns, &se) < 0) {
			osh_sandbox_error_format(&se, msg, sizeof(msg));
			fprintf(stderr, "<3>oshd: error: %s\n", msg);
			osh_strv_free(&warns);
			goto out;
		}
		held = true;
		for (size_t i = 0; i < warns.n; i++)
			fprintf(stderr, "<4>oshd: warning: %s\n", warns.v[i]);
		osh_strv_free(&warns);
	}
	r = osh_manager_open(
	    &(struct osh_manager_opts){ .bpffs_root = cfg.bpffs,
					.store = store,
					.events = events,
					.metrics = metrics,
					.gate_registry = gate.registry,
					.gate_accepted = gate.accepted,
					.spares = (unsigned int)cfg.spare_sandboxes },
	    &manager, &err);
	if (r < 0) {
		fprintf(stderr, "<3>oshd: error: %s\n", err ? err : strerror(-r));
		goto out;
	}
	if ((r = mkdir_parent(cfg.socket, 0755)) < 0) {
		fprintf(stderr, "<3>oshd: error: %s: %s\n", cfg.socket, strerror(-r));
		goto out;
	}
	fd = osh_api_listen_unix(cfg.socket, cfg.socket_mode, sock_gid, sock_set, &err);
	if (fd < 0) {
		fprintf(stderr, "<3>oshd: error: %s\n", err ? err : strerror(-fd));
		goto out;
	}
	r = osh_api_start(&(struct osh_api_opts){ .listen_fd = fd,
						  .admin_gid = admin_gid,
						  .admin_gid_set = admin_set,
						  .manager = manager,
						  .events = events },
			  &api, &err);
	if (r < 0) {
		close(fd);
		fprintf(stderr, "<3>oshd: error: %s\n", err ? err : strerror(-r));
		goto out;
	}
	if (tcp_start(&cfg, admin_gid, admin_set, manager, events, &tcp_api) < 0)
		goto out;
	fprintf(stderr, "<6>oshd: info: oshd %s ready on %s (store %s, pins %s)\n", OSH_VERSION,
		cfg.socket, cfg.database, cfg.bpffs);
	sd_notifyf(0, "READY=1\nSTATUS=serving on %s\nMAINPID=%d", cfg.socket, (int)getpid());

	for (;;) {
		siginfo_t si;

		if (sigwaitinfo(&sigs, &si) < 0)
			continue;
		if (si.si_signo != SIGHUP)
			break;
		/* What can change live: the prover gate. Paths and the socket need a restart. */
		sd_notify(0, "RELOADING=1");
		{
			struct osh_config next;
			struct gate g;

			memset(&next, 0, sizeof(next));
			if (config_load(&cl, &next) == 0 && gate_load(&next, &g) == 0) {
				if (strcmp(next.socket, cfg.socket) ||
				    strcmp(next.database, cfg.database) ||
				    strcmp(next.bpffs, cfg.bpffs))
					fprintf(stderr,
						"<4>oshd: warning: socket, database and bpffs "
						"changes take effect at the next start\n");
				osh_manager_set_gate(manager, g.registry, g.accepted);
				gate_free(&gate);
				gate = g;
				fprintf(stderr,
					"<6>oshd: info: configuration re-read; prove_gate %s\n",
					gate.registry ? "on" : "off");
			} else {
				fprintf(stderr, "<3>oshd: error: configuration not re-read; the "
						"running one stays\n");
			}
			osh_config_free(&next);
		}
		sd_notify(0, "READY=1");
	}
	fprintf(stderr, "<6>oshd: info: stopping; sandboxes stay enforced (pinned in %s)\n",
		cfg.bpffs);
	sd_notify(0, "STOPPING=1");
	status = 0;
out:
	osh_api_stop(tcp_api);
	osh_api_stop(api);
	if (api)
		unlink(cfg.socket);
	osh_manager_close(manager);
	if (held)
		osh_sandbox_programs_unhold();
	osh_events_close(events);
	osh_metrics_free(metrics);
	gate_free(&gate);
	osh_store_close(store);
	osh_config_free(&cfg);
	free(err);
	return status;
}
