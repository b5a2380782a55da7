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

struct osh_diag_list;
struct osh_policy;

/* Prints each diagnostic as `FILE:LINE:COL: message` on stderr, then empties the list. */
void oshctl_diags_print(struct osh_diag_list *diags);
/* Parses and validates the policy at path, printing its diagnostics. Returns OSHCTL_EXIT_OK with
 * the policy in *ret (the caller frees it), OSHCTL_EXIT_FAIL for an invalid policy, or
 * OSHCTL_EXIT_SYSTEM when it could not be read. what prefixes messages ("policy", ...). */
int oshctl_policy_load(const char *what, const char *path, struct osh_policy **ret);

int cmd_version(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_policy(int argc, char **argv);

#endif
