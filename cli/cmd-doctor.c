// SPDX-License-Identifier: Apache-2.0
// `oshctl doctor`: execs osh-doctor (cli/osh-doctor.c), which links the engine's probes (libbpf,
// libelf, zlib, libseccomp), from ../libexec/osh/ next to oshctl's own folder.
#include <stdbool.h>

#include "cli/client.h"
#include "cli/oshctl.h"

/* argv[0] is "doctor". Returns only when osh-doctor could not be run. */
int cmd_doctor(int argc, char **argv)
{
	/* The global -o; one among doctor's own arguments comes later and wins. */
	static char *const json[] = { "-o", "json" };

	(void)oshctl_exec_libexec("doctor", "osh-doctor", json, oshctl_output_json() ? 2 : 0,
				  argc - 1, argv + 1);
	return OSHCTL_EXIT_SYSTEM;
}
