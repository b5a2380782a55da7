/* SPDX-License-Identifier: Apache-2.0 */
/* The command table and exit codes shared by oshctl's command modules. */
#ifndef OSH_CLI_OSHCTL_H
#define OSH_CLI_OSHCTL_H

#include "version.h"

/* Documented exit codes (docs/cli.md): scripts rely on them. */
enum oshctl_exit {
	OSHCTL_EXIT_OK = 0,
	OSHCTL_EXIT_FAIL = 1,	   /* the operation ran and said no (invalid policy, findings) */
	OSHCTL_EXIT_USAGE = 2,	   /* bad command line */
	OSHCTL_EXIT_SYSTEM = 3,	   /* the system refused (missing kernel support, I/O error), or
				 * oshd is not reachable or failed */
	OSHCTL_EXIT_FORBIDDEN = 4, /* oshd: the caller may not see or change this sandbox */
};

/* `oshctl run` and `oshctl sandbox exec`: the command's own status, or these. */
#define OSHCTL_EXIT_OSH	     125 /* osh failed or refused before the command ran */
#define OSHCTL_EXIT_NOEXEC   126 /* set-up in the sandbox failed, or not executable */
#define OSHCTL_EXIT_NOTFOUND 127 /* the command was not found */

struct oshctl_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

struct osh_diag_list;
struct osh_policy;

/* Prints each diagnostic as `FILE:LINE:COL: message` on stderr, then empties the list. */
void oshctl_diags_print(struct osh_diag_list *diags);
/* Parses and validates the policy at path, leaving its diagnostics in *diags (the caller clears
 * them). Returns like oshctl_policy_load; prints nothing but an out-of-memory error. */
int oshctl_policy_parse(const char *what, const char *path, struct osh_policy **ret,
			struct osh_diag_list *diags);
/* Parses and validates the policy at path, printing its diagnostics. Returns OSHCTL_EXIT_OK with
 * the policy in *ret (the caller frees it), OSHCTL_EXIT_FAIL for an invalid policy, or
 * OSHCTL_EXIT_SYSTEM when it could not be read. what prefixes messages ("policy", ...). */
int oshctl_policy_load(const char *what, const char *path, struct osh_policy **ret);

int cmd_version(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_sandbox(int argc, char **argv); /* cli/cmd-sandbox.c */
int cmd_logs(int argc, char **argv);	/* cli/cmd-logs.c */
int cmd_status(int argc, char **argv);	/* cli/cmd-status.c */

#endif
