// SPDX-License-Identifier: Apache-2.0
// oshctl: the command-line front end of osh. Dispatches `oshctl NOUN VERB ...` to the
// command modules (cli/cmd-*.c); each returns the process exit status.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#include "cli/oshctl.h"

static const struct oshctl_command commands[] = {
	{ "version", "print the version", cmd_version },
	{ "run", "run a command in a new sandbox", cmd_run },
	{ "doctor", "report which enforcement mechanisms this kernel offers", cmd_doctor },
	{ "policy", "validate, show, compile and diff policies", cmd_policy },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: oshctl COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'oshctl COMMAND --help' for a command's options.\n");
}

void oshctl_diags_print(struct osh_diag_list *diags)
{
	for (size_t i = 0; i < diags->n; i++) {
		char *s;

		if (osh_diag_format(&diags->items[i], &s) < 0)
			continue;
		fprintf(stderr, "%s\n", s);
		free(s);
	}
	if (diags->dropped)
		fprintf(stderr, "oshctl: %zu more errors not shown\n", diags->dropped);
	osh_diag_list_clear(diags);
}

int oshctl_policy_load(const char *what, const char *path, struct osh_policy **ret)
{
	struct osh_diag_list diags = { 0 };
	int r = osh_policy_parse_file(path, OSH_POLICY_FORMAT_AUTO, ret, &diags);

	/* A file that cannot be read is one of the diagnostics; only ENOMEM has none. */
	oshctl_diags_print(&diags);
	if (r == -EINVAL || r == -EFBIG)
		return OSHCTL_EXIT_FAIL;
	if (r < 0) {
		if (r == -ENOMEM)
			fprintf(stderr, "oshctl: %s: %s: %s\n", what, path, strerror(-r));
		return OSHCTL_EXIT_SYSTEM;
	}
	return OSHCTL_EXIT_OK;
}

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("oshctl %s\n", OSH_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? OSHCTL_EXIT_USAGE : 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "oshctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return OSHCTL_EXIT_USAGE;
}
