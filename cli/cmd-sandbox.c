// SPDX-License-Identifier: Apache-2.0
// `oshctl sandbox create|list|get|delete|exec`: sandboxes managed by oshd, through its API
// (docs/api.md). Policies are validated locally first so that errors name the user's file.
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/oshctl.h"

extern char **environ;

static void sandbox_usage(FILE *f)
{
	fprintf(f,
		"usage: oshctl sandbox create NAME --policy FILE [--workdir DIR] [--reason TEXT]\n"
		"       oshctl sandbox list\n"
		"       oshctl sandbox get NAME\n"
		"       oshctl sandbox delete NAME\n"
		"       oshctl sandbox exec NAME [--workdir DIR] [--env K=V]... [--no-env] -- CMD "
		"[ARG...]\n"
		"\n"
		"Sandboxes kept by oshd: a cgroup with its policy's filesystem, process and\n"
		"network rules, in which commands are started with 'exec'. Every verb takes\n"
		"-o json|text; 'oshctl sandbox VERB --help' has details and examples.\n"
		"\n"
		"examples:\n"
		"  oshctl sandbox create agent-1 --policy agent.yaml --reason 'ticket 42'\n"
		"  oshctl sandbox list\n"
		"  oshctl sandbox exec agent-1 -- make test\n"
		"  oshctl sandbox delete agent-1\n");
}

/* An absolute form of dir, which the API requires; the caller frees it. NULL after printing
 * why. */
static char *absolute_dir(const char *dir)
{
	char *p = realpath(dir, NULL);

	if (!p)
		fprintf(stderr, "oshctl: workdir %s: %s\n", dir, strerror(errno));
	return p;
}

/* --- create ----------------------------------------------------------------------------------- */

static void create_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: oshctl sandbox create NAME --policy FILE [--workdir DIR] [--reason TEXT]\n"
	    "                             [-o json|text]\n"
	    "\n"
	    "Creates sandbox NAME ([a-z0-9][a-z0-9._-]*, at most 63 characters) owned by the\n"
	    "caller, with the policy in FILE (YAML or JSON). The policy is validated here first,\n"
	    "so errors name FILE:LINE:COL; oshd validates and compiles it again. The sandbox's\n"
	    "working directory is DIR (default: the current directory); commands start there.\n"
	    "\n"
	    "  -p, --policy FILE   the policy (required)\n"
	    "  -w, --workdir DIR   the sandbox's working directory\n"
	    "  -r, --reason TEXT   recorded with the first policy revision\n"
	    "  -o json|text        print the Sandbox object as JSON\n"
	    "\n"
	    "examples:\n"
	    "  oshctl sandbox create agent-1 --policy agent.yaml\n"
	    "  oshctl sandbox create ci-7 -p ci.yaml -w /srv/build --reason 'pipeline 7'\n");
}

static void print_sandbox(const cJSON *sb);

static int sandbox_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "reason", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *policy = NULL, *workdir = NULL, *reason = NULL, *name;
	char *text = NULL, *wd = NULL;
	cJSON *body = NULL, *sb = NULL;
	bool json = oshctl_output_json();
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:w:r:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy = optarg;
			break;
		case 'w':
			workdir = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		default:
			r = oshctl_common_opt(c, "sandbox create", &json, create_usage);
			if (r >= 0)
				return r;
		}
	}
	if (optind + 1 != argc || !policy) {
		fprintf(stderr, "oshctl: sandbox create: %s\n",
			!policy ? "--policy FILE is required" : "one NAME expected");
		create_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	name = argv[optind];
	r = oshctl_policy_read(policy, &text);
	if (r != OSHCTL_EXIT_OK)
		return r;
	wd = absolute_dir(workdir ? workdir : ".");
	if (!wd) {
		r = OSHCTL_EXIT_USAGE;
		goto out;
	}
	body = cJSON_CreateObject();
	if (!body || !cJSON_AddStringToObject(body, "name", name) ||
	    !cJSON_AddStringToObject(body, "policy", text) ||
	    !cJSON_AddStringToObject(body, "workdir", wd) ||
	    (reason && !cJSON_AddStringToObject(body, "reason", reason))) {
		fprintf(stderr, "oshctl: out of memory\n");
		r = OSHCTL_EXIT_SYSTEM;
		goto out;
	}
	r = oshctl_call("POST", "/v1/sandboxes", body,
			&(struct oshctl_call_opts){ .policy_file = policy }, NULL, &sb);
	if (r != OSHCTL_EXIT_OK)
		goto out;
	if (json)
		oshctl_json_print(sb);
	else
		print_sandbox(sb);
out:
	cJSON_Delete(sb);
	cJSON_Delete(body);
	free(wd);
	free(text);
	return r;
}

/* --- list and get ----------------------------------------------------------------------------- */

static void list_usage(FILE *f)
{
	fprintf(f,
		"usage: oshctl sandbox list [-o json|text]\n"
		"\n"
		"Lists the sandboxes the caller may see (admins: all; others: their own), one a\n"
		"line: name, status (running, idle, gone, unmanaged, stopped), owner, policy\n"
		"revision, processes, creation time.\n"
		"\n"
		"examples:\n"
		"  oshctl sandbox list\n"
		"  oshctl sandbox list -o json | jq -r '.sandboxes[].name'\n");
}

static void get_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: oshctl sandbox get NAME [-o json|text]\n"
	    "\n"
	    "Prints one sandbox: status, owner, cgroup, the enforcement mechanisms in force,\n"
	    "Landlock ABI, policy revision and hash, processes, warnings and the set-up report;\n"
	    "why it is unmanaged or stopped, and whether its bpffs pins were ever found removed\n"
	    "from outside oshd (when, which, and whether oshd restored them).\n"
	    "\n"
	    "examples:\n"
	    "  oshctl sandbox get agent-1\n"
	    "  oshctl sandbox get agent-1 -o json | jq .mechanisms\n");
}

static void delete_usage(FILE *f)
{
	fprintf(
	    f, "usage: oshctl sandbox delete NAME [-o json|text]\n"
	       "\n"
	       "Deletes a sandbox: its processes are killed, its cgroup and kernel state removed,\n"
	       "its revisions and events dropped.\n"
	       "\n"
	       "examples:\n"
	       "  oshctl sandbox delete agent-1\n");
}

/* Strings from a sandbox object into one table row. */
static char *fmt_num(const cJSON *o, const char *key)
{
	double v = oshctl_json_num(o, key);
	char *s = NULL;

	if (v < 0)
		return strdup("-");
	return asprintf(&s, "%.0f", v) < 0 ? NULL : s;
}

static int sandbox_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *const header[] = { "NAME",	  "STATUS",    "OWNER",
					      "REVISION", "PROCESSES", "CREATED" };
	enum { NCOL = sizeof(header) / sizeof(header[0]) };
	const cJSON *list, *sb;
	cJSON *answer = NULL;
	char **cells = NULL;
	size_t n = 0, row = 0;
	bool json = oshctl_output_json();
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		r = oshctl_common_opt(c, "sandbox list", &json, list_usage);
		if (r >= 0)
			return r;
	}
	if (optind != argc) {
		list_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	r = oshctl_call("GET", "/v1/sandboxes", NULL, NULL, NULL, &answer);
	if (r != OSHCTL_EXIT_OK)
		return r;
	if (json) {
		oshctl_json_print(answer);
		goto out;
	}
	list = cJSON_GetObjectItemCaseSensitive(answer, "sandboxes");
	n = (size_t)cJSON_GetArraySize(list);
	cells = calloc(n * NCOL + 1, sizeof(*cells));
	if (!cells) {
		r = OSHCTL_EXIT_SYSTEM;
		goto out;
	}
	cJSON_ArrayForEach (sb, list) {
		char owner[64], **cell = cells + row++ * NCOL;

		oshctl_uid_name(oshctl_json_num(sb, "owner_uid"), owner, sizeof(owner));
		cell[0] = strdup(oshctl_json_str(sb, "name", "?"));
		cell[1] = strdup(oshctl_json_str(sb, "status", "?"));
		cell[2] = strdup(owner);
		cell[3] = fmt_num(sb, "revision");
		cell[4] = fmt_num(sb, "processes");
		cell[5] = strdup(oshctl_json_str(sb, "created", ""));
	}
	oshctl_table_print(header, NCOL, cells, row);
out:
	for (size_t i = 0; cells && i < row * NCOL; i++)
		free(cells[i]);
	free(cells);
	cJSON_Delete(answer);
	return r;
}

static void print_strings(const char *label, const cJSON *arr, const char *sep)
{
	const cJSON *it;
	bool first = true;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
		return;
	if (sep) {
		printf("%-12s ", label);
		cJSON_ArrayForEach (it, arr) {
			if (!cJSON_IsString(it))
				continue;
			printf("%s%s", first ? "" : sep, it->valuestring);
			first = false;
		}
		putchar('\n');
		return;
	}
	cJSON_ArrayForEach (it, arr) {
		if (cJSON_IsString(it))
			printf("%-12s %s\n", label, it->valuestring);
	}
}

static void print_sandbox(const cJSON *sb)
{
	const cJSON *pf;
	char owner[64];
	double v;

	oshctl_uid_name(oshctl_json_num(sb, "owner_uid"), owner, sizeof(owner));
	printf("%-12s %s\n", "name:", oshctl_json_str(sb, "name", "?"));
	printf("%-12s %s\n", "status:", oshctl_json_str(sb, "status", "?"));
	printf("%-12s %s (uid %.0f)\n", "owner:", owner, oshctl_json_num(sb, "owner_uid"));
	printf("%-12s %s\n", "created:", oshctl_json_str(sb, "created", "?"));
	printf("%-12s %s\n", "cgroup:", oshctl_json_str(sb, "cgroup", "?"));
	if (*oshctl_json_str(sb, "workdir", ""))
		printf("%-12s %s\n", "workdir:", oshctl_json_str(sb, "workdir", ""));
	printf("%-12s %.0f (%s)\n", "revision:", oshctl_json_num(sb, "revision"),
	       oshctl_json_str(sb, "policy_hash", "?"));
	v = oshctl_json_num(sb, "processes");
	if (v >= 0)
		printf("%-12s %.0f\n", "processes:", v);
	print_strings("mechanisms:", cJSON_GetObjectItemCaseSensitive(sb, "mechanisms"), " ");
	v = oshctl_json_num(sb, "landlock_abi");
	if (v > 0)
		printf("%-12s ABI %.0f\n", "landlock:", v);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sb, "ephemeral")))
		printf("%-12s yes (deleted when its last command ends)\n", "ephemeral:");
	if (*oshctl_json_str(sb, "error", ""))
		printf("%-12s %s\n", "error:", oshctl_json_str(sb, "error", ""));
	pf = cJSON_GetObjectItemCaseSensitive(sb, "pins_fault");
	if (cJSON_IsObject(pf)) {
		const cJSON *it;
		const char *sep = "";

		printf("%-12s removed from outside oshd %.0f time(s), last at %s, %s:", "pins:",
		       oshctl_json_num(pf, "count"), oshctl_json_str(pf, "time", "?"),
		       oshctl_json_str(pf, "outcome", "?"));
		cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(pf, "missing")) {
			if (cJSON_IsString(it)) {
				printf("%s %s", sep, it->valuestring);
				sep = ",";
			}
		}
		putchar('\n');
	}
	print_strings("warning:", cJSON_GetObjectItemCaseSensitive(sb, "warnings"), NULL);
	print_strings("report:", cJSON_GetObjectItemCaseSensitive(sb, "report"), NULL);
}

/* GET or DELETE /v1/sandboxes/NAME. */
static int sandbox_one(int argc, char **argv, const char *verb, void (*usage)(FILE *))
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = oshctl_output_json(), del = !strcmp(verb, "delete");
	cJSON *answer = NULL;
	char *name = NULL, path[256];
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		r = oshctl_common_opt(c, del ? "sandbox delete" : "sandbox get", &json, usage);
		if (r >= 0)
			return r;
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	name = oshctl_url_escape(argv[optind]);
	if (!name || snprintf(path, sizeof(path), "/v1/sandboxes/%s", name) >= (int)sizeof(path)) {
		fprintf(stderr, "oshctl: sandbox %s: name too long\n", verb);
		free(name);
		return OSHCTL_EXIT_USAGE;
	}
	r = oshctl_call(del ? "DELETE" : "GET", path, NULL, NULL, NULL, &answer);
	if (r == OSHCTL_EXIT_OK) {
		if (json)
			oshctl_json_print(answer);
		else if (del)
			printf("deleted %s\n", oshctl_json_str(answer, "deleted", argv[optind]));
		else
			print_sandbox(answer);
	}
	cJSON_Delete(answer);
	free(name);
	return r;
}

static int sandbox_get(int argc, char **argv)
{
	return sandbox_one(argc, argv, "get", get_usage);
}

static int sandbox_delete(int argc, char **argv)
{
	return sandbox_one(argc, argv, "delete", delete_usage);
}

/* --- exec ------------------------------------------------------------------------------------- */

static void exec_usage(FILE *f)
{
	fprintf(
	    f, "usage: oshctl sandbox exec NAME [--workdir DIR] [--env K=V]... [--no-env] -- CMD "
	       "[ARG...]\n"
	       "\n"
	       "Runs CMD in sandbox NAME with this terminal (or whatever stdin, stdout and stderr\n"
	       "are: they are passed to oshd, which never reads them), and exits with CMD's\n"
	       "status. Ctrl-C, Ctrl-\\, Ctrl-Z (and fg), SIGTERM, SIGHUP and window size changes\n"
	       "are forwarded to CMD's process group.\n"
	       "\n"
	       "  -w, --workdir DIR   working directory of CMD (default: the sandbox's)\n"
	       "  -e, --env K=V       set K in CMD's environment (repeatable)\n"
	       "      --no-env        do not pass this environment; CMD gets only the --env\n"
	       "                      values, or oshd's default (PATH, HOME, TERM, LANG) if none\n"
	       "\n"
	       "Default environment: the caller's. Without '--', everything after NAME is CMD.\n"
	       "exit: CMD's status (128+N when killed by signal N); 125 osh failed or refused\n"
	       "(no daemon, no such sandbox, forbidden); 126 set-up in the sandbox failed or CMD\n"
	       "not executable; 127 CMD not found.\n"
	       "\n"
	       "examples:\n"
	       "  oshctl sandbox exec agent-1 -- bash -l\n"
	       "  oshctl sandbox exec agent-1 --env CI=1 -w /srv/build -- make test\n"
	       "  oshctl sandbox exec agent-1 --no-env -- env\n");
}

/* The environment to send: the caller's (unless no_env) with each K=V of sets replacing K.
 * Returns 0 with a NULL-terminated array of borrowed strings in *ret (free the array only), or
 * NULL there for "oshd's default environment"; -ENOMEM. */
static int exec_env(bool no_env, char **sets, size_t n_sets, char ***ret)
{
	size_t n = 0, cap = n_sets + 1;
	char **env;

	*ret = NULL;
	if (no_env && !n_sets)
		return 0;
	if (!no_env)
		for (char **e = environ; *e; e++)
			cap++;
	env = calloc(cap, sizeof(*env));
	if (!env)
		return -ENOMEM;
	if (!no_env)
		for (char **e = environ; *e; e++) {
			const char *eq = strchr(*e, '=');
			bool replaced = false;

			if (!eq || eq == *e)
				continue; /* oshd rejects entries without a name */
			for (size_t i = 0; i < n_sets && !replaced; i++)
				replaced = !strncmp(sets[i], *e, (size_t)(eq - *e) + 1);
			if (!replaced)
				env[n++] = *e;
		}
	for (size_t i = 0; i < n_sets; i++) {
		bool later = false;
		size_t klen = (size_t)(strchr(sets[i], '=') - sets[i]) + 1;

		/* The last --env for a name wins. */
		for (size_t j = i + 1; j < n_sets && !later; j++)
			later = !strncmp(sets[j], sets[i], klen);
		if (!later)
			env[n++] = sets[i];
	}
	env[n] = NULL;
	*ret = env;
	return 0;
}

static int sandbox_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workdir", required_argument, NULL, 'w' },
		{ "env", required_argument, NULL, 'e' },
		{ "no-env", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char **sets = NULL, **env = NULL, **cmd;
	const char *workdir = NULL, *name;
	char *wd = NULL;
	size_t n_sets = 0;
	bool no_env = false;
	int c, r = OSHCTL_EXIT_OSH, dashdash = -1, nopt;

	/* With '--', options may come anywhere before it; without, the first word after NAME
	 * starts CMD, so `exec box ls -l` passes -l to ls. */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			dashdash = i;
			break;
		}
	nopt = dashdash >= 0 ? dashdash : argc;
	sets = calloc((size_t)argc, sizeof(*sets));
	if (!sets) {
		fprintf(stderr, "oshctl: out of memory\n");
		return OSHCTL_EXIT_OSH;
	}
	optind = 1;
	while ((c = getopt_long(nopt, argv, dashdash >= 0 ? "w:e:h" : "+w:e:h", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'w':
			workdir = optarg;
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				fprintf(stderr,
					"oshctl: sandbox exec: --env takes NAME=VALUE, not "
					"'%s'\n",
					optarg);
				goto out;
			}
			sets[n_sets++] = optarg;
			break;
		case 'E':
			no_env = true;
			break;
		case 'h':
			exec_usage(stdout);
			r = OSHCTL_EXIT_OK;
			goto out;
		default:
			exec_usage(stderr);
			goto out;
		}
	}
	if (optind >= nopt) {
		fprintf(stderr, "oshctl: sandbox exec: NAME expected\n");
		exec_usage(stderr);
		goto out;
	}
	name = argv[optind];
	if (dashdash >= 0) {
		if (optind + 1 != dashdash) {
			fprintf(stderr, "oshctl: sandbox exec: unexpected '%s' before '--'\n",
				argv[optind + 1]);
			goto out;
		}
		cmd = argv + dashdash + 1;
	} else {
		cmd = argv + optind + 1;
	}
	if (!*cmd) {
		fprintf(stderr, "oshctl: sandbox exec: no command given\n");
		exec_usage(stderr);
		goto out;
	}
	if (workdir) {
		wd = absolute_dir(workdir);
		if (!wd)
			goto out;
	}
	if (exec_env(no_env, sets, n_sets, &env) < 0) {
		fprintf(stderr, "oshctl: out of memory\n");
		goto out;
	}
	r = oshctl_exec(name, cmd, env, wd);
out:
	free(env);
	free(sets);
	free(wd);
	return r;
}

/* clang-format off */
static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} verbs[] = {
	{ "create", sandbox_create },
	{ "list", sandbox_list },
	{ "ls", sandbox_list },
	{ "get", sandbox_get },
	{ "delete", sandbox_delete },
	{ "rm", sandbox_delete },
	{ "exec", sandbox_exec },
};
/* clang-format on */

int cmd_sandbox(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		sandbox_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? OSHCTL_EXIT_USAGE : OSHCTL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "oshctl: sandbox: unknown verb '%s'\n", argv[1]);
	sandbox_usage(stderr);
	return OSHCTL_EXIT_USAGE;
}
