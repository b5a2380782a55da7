// SPDX-License-Identifier: Apache-2.0
// oshctl: the command-line front end of osh. Dispatches `oshctl NOUN VERB ...` to the
// command modules (cli/cmd-*.c); each returns the process exit status.
#include <stdio.h>
#include <string.h>

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
