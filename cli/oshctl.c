// SPDX-License-Identifier: Apache-2.0
// oshctl: the command-line front end of osh. Dispatches `oshctl NOUN VERB ...` to the
// command modules (cli/cmd-*.c); each returns the process exit status.
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/oshctl.h"

static const struct oshctl_command commands[] = {
	{ "version", "print the version", cmd_version },
	{ "run", "run a command in a new sandbox", cmd_run },
	{ "doctor", "report which enforcement mechanisms this kernel offers", cmd_doctor },
	{ "policy", "validate, show, compile, diff and prove policies; set a sandbox's",
	  cmd_policy },
	{ "sandbox", "create, list, inspect, delete sandboxes of oshd; exec in them", cmd_sandbox },
	{ "logs", "print (and follow) oshd's denials and audits", cmd_logs },
	{ "status", "print oshd's status", cmd_status },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: oshctl [--socket PATH] [-o json|text] COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(
	    f,
	    "\n"
	    "global options:\n"
	    "  --socket PATH   oshd's socket (default: $OSH_SOCKET, else %s)\n"
	    "  -o json|text    output format of the commands that print results (default text)\n"
	    "\n"
	    "exit: 0 ok; 1 the operation said no; 2 usage; 3 system error or oshd unavailable;\n"
	    "4 forbidden. run and sandbox exec: the command's status, 125/126/127 (docs/cli.md).\n"
	    "Run 'oshctl COMMAND --help' for a command's options and examples.\n",
	    OSHCTL_DEFAULT_SOCKET);
}

static void version_usage(FILE *f)
{
	fprintf(f, "usage: oshctl version [-o json|text]\n"
		   "\n"
		   "Prints the version of oshctl.\n"
		   "\n"
		   "examples:\n"
		   "  oshctl version\n"
		   "  oshctl -o json version | jq -r .version\n");
}

int cmd_version(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = oshctl_output_json();
	cJSON *v;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		r = oshctl_common_opt(c, "version", &json, version_usage);
		if (r >= 0)
			return r;
	}
	if (optind != argc) {
		version_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	if (!json) {
		printf("oshctl %s\n", OSH_VERSION);
		return OSHCTL_EXIT_OK;
	}
	v = cJSON_CreateObject();
	if (!v || !cJSON_AddStringToObject(v, "version", OSH_VERSION)) {
		cJSON_Delete(v);
		fprintf(stderr, "oshctl: out of memory\n");
		return OSHCTL_EXIT_SYSTEM;
	}
	oshctl_json_print(v);
	cJSON_Delete(v);
	return OSHCTL_EXIT_OK;
}

/* Global options come before the command; each command parses its own. Returns the index of
 * the command in argv, or -1 after printing a usage error. */
static int global_options(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *v = NULL;
		bool json;

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return i;
		if (!strcmp(a, "--socket") || !strcmp(a, "-o")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "oshctl: %s needs a value\n", a);
				return -1;
			}
			v = argv[++i];
		} else if (!strncmp(a, "--socket=", 9)) {
			v = a + 9;
			a = "--socket";
		} else if (!strncmp(a, "-o", 2)) {
			v = a + 2;
			a = "-o";
		} else {
			fprintf(stderr, "oshctl: unknown option '%s'\n", a);
			return -1;
		}
		if (!strcmp(a, "--socket")) {
			if (!*v) {
				fprintf(stderr, "oshctl: --socket needs a path\n");
				return -1;
			}
			oshctl_client_set_socket(v);
		} else {
			if (oshctl_output_parse("-o", v, &json) < 0)
				return -1;
			oshctl_output_set_json(json);
		}
	}
	return i;
}

int main(int argc, char **argv)
{
	int first = global_options(argc, argv);

	if (first < 0) {
		usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	if (first >= argc || !strcmp(argv[first], "-h") || !strcmp(argv[first], "--help")) {
		usage(first >= argc ? stderr : stdout);
		return first >= argc ? OSHCTL_EXIT_USAGE : 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[first], commands[i].name))
			return commands[i].run(argc - first, argv + first);
	fprintf(stderr, "oshctl: unknown command '%s'\n", argv[first]);
	usage(stderr);
	return OSHCTL_EXIT_USAGE;
}
