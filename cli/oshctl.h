/* SPDX-License-Identifier: Apache-2.0 */
/* The command table and exit codes shared by oshctl's command modules. */
#ifndef OSH_CLI_OSHCTL_H
#define OSH_CLI_OSHCTL_H

#define OSH_VERSION "0.1.0"

/* Documented exit codes (docs/cli.md): scripts rely on them. */
enum oshctl_exit {
	OSHCTL_EXIT_OK = 0,
	OSHCTL_EXIT_FAIL = 1,	/* the operation ran and said no (invalid policy, findings) */
	OSHCTL_EXIT_USAGE = 2,	/* bad command line */
	OSHCTL_EXIT_SYSTEM = 3, /* the system refused (missing kernel support, I/O error) */
};

struct oshctl_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

int cmd_version(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_policy(int argc, char **argv);

#endif
