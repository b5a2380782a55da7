// SPDX-License-Identifier: Apache-2.0
// `oshctl policy prove`: execs osh-prove (cli/osh-prove.c), which links Z3, from
// ../libexec/osh/ next to oshctl's own folder, in the build tree as once installed.
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/oshctl.h"

int cmd_policy_prove(int argc, char **argv);

/* argv holds prove's arguments only. Returns only when osh-prove could not be run. */
int cmd_policy_prove(int argc, char **argv)
{
	char exe[PATH_MAX], prove[PATH_MAX + 32], *slash, **args;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int i = 0;

	if (n <= 0) {
		fprintf(stderr, "oshctl: policy prove: /proc/self/exe: %s\n",
			n < 0 ? strerror(errno) : "empty");
		return OSHCTL_EXIT_SYSTEM;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(prove, sizeof(prove), "%s/../libexec/osh/osh-prove", exe);
	args = calloc((size_t)argc + 4, sizeof(*args));
	if (!args) {
		fprintf(stderr, "oshctl: policy prove: out of memory\n");
		return OSHCTL_EXIT_SYSTEM;
	}
	args[i++] = prove;
	/* The global -o; one among prove's own arguments comes later and wins. */
	if (oshctl_output_json()) {
		args[i++] = "-o";
		args[i++] = "json";
	}
	memcpy(args + i, argv, (size_t)argc * sizeof(*args));
	execv(prove, args);
	fprintf(stderr, "oshctl: policy prove: cannot run %s: %s\n", prove, strerror(errno));
	free(args);
	return OSHCTL_EXIT_SYSTEM;
}
