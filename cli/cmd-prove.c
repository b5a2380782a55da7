// SPDX-License-Identifier: Apache-2.0
// `oshctl policy prove`: execs osh-prove (cli/osh-prove.c), which links Z3, from
// ../libexec/osh/ next to oshctl's own folder, in the build tree as once installed.
#include <stdbool.h>

#include "cli/client.h"
#include "cli/oshctl.h"

int cmd_policy_prove(int argc, char **argv);

/* argv holds prove's arguments only. Returns only when osh-prove could not be run. */
int cmd_policy_prove(int argc, char **argv)
{
	/* The global -o; one among prove's own arguments comes later and wins. */
	static char *const json[] = { "-o", "json" };

	(void)oshctl_exec_libexec("policy prove", "osh-prove", json, oshctl_output_json() ? 2 : 0,
				  argc, argv);
	return OSHCTL_EXIT_SYSTEM;
}
