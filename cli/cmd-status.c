// SPDX-License-Identifier: Apache-2.0
// `oshctl status`: oshd's status (GET /v1/status). Exit 0 when oshd answers, 3 when it does not,
// so scripts can wait for the daemon with it.
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/oshctl.h"

static void status_usage(FILE *f)
{
	fprintf(f, "usage: oshctl status [-o json|text]\n"
		   "\n"
		   "Prints the status of oshd: version, start time, number of sandboxes, the\n"
		   "enforcement mechanisms it found, dropped events and its bpffs folder.\n"
		   "Exit 0 when oshd answers, 3 when no daemon listens on the socket.\n"
		   "\n"
		   "examples:\n"
		   "  oshctl status\n"
		   "  oshctl --socket /tmp/oshd.sock status -o json\n"
		   "  until oshctl status >/dev/null 2>&1; do sleep 0.1; done   # wait for oshd\n");
}

/* One value of the mechanisms object, whatever its type. */
static void print_value(const cJSON *v)
{
	if (cJSON_IsBool(v))
		fputs(cJSON_IsTrue(v) ? "yes" : "no", stdout);
	else if (cJSON_IsString(v))
		fputs(v->valuestring, stdout);
	else if (cJSON_IsNumber(v))
		printf("%g", v->valuedouble);
	else {
		char *s = cJSON_PrintUnformatted(v);

		if (s)
			fputs(s, stdout);
		cJSON_free(s);
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const cJSON *mech, *m, *sb;
	cJSON *st = NULL;
	bool json = oshctl_output_json();
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (oshctl_output_parse("status", optarg, &json) < 0)
				return OSHCTL_EXIT_USAGE;
			break;
		case 'h':
			status_usage(stdout);
			return OSHCTL_EXIT_OK;
		default:
			status_usage(stderr);
			return OSHCTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		status_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	r = oshctl_call("GET", "/v1/status", NULL, NULL, NULL, &st);
	if (r != OSHCTL_EXIT_OK)
		return r;
	if (json) {
		oshctl_json_print(st);
		cJSON_Delete(st);
		return OSHCTL_EXIT_OK;
	}
	printf("oshd %s on %s\n", oshctl_json_str(st, "version", "?"), oshctl_client_socket());
	printf("started:         %s\n", oshctl_json_str(st, "started", "?"));
	sb = cJSON_GetObjectItemCaseSensitive(st, "sandboxes");
	if (cJSON_IsObject(sb)) {
		/* Counts by status: "running", "idle", "gone". */
		printf("sandboxes:      ");
		cJSON_ArrayForEach (m, sb) {
			printf(" %s ", m->string);
			print_value(m);
		}
		putchar('\n');
	} else {
		printf("sandboxes:       %.0f\n", oshctl_json_num(st, "sandboxes"));
	}
	if (oshctl_json_num(st, "events_last_id") >= 0)
		printf("last event id:   %.0f\n", oshctl_json_num(st, "events_last_id"));
	printf("events dropped:  %.0f\n", oshctl_json_num(st, "events_dropped"));
	if (cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(st, "prove_gate")))
		printf("prove gate:      %s\n",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "prove_gate")) ? "on"
											: "off");
	printf("bpffs:           %s\n", oshctl_json_str(st, "bpffs", "?"));
	mech = cJSON_GetObjectItemCaseSensitive(st, "mechanisms");
	if (cJSON_IsObject(mech)) {
		printf("mechanisms:\n");
		cJSON_ArrayForEach (m, mech) {
			printf("  %-14s ", m->string);
			print_value(m);
			putchar('\n');
		}
	}
	cJSON_Delete(st);
	return OSHCTL_EXIT_OK;
}
