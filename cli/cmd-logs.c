// SPDX-License-Identifier: Apache-2.0
// `oshctl logs`: oshd's denials and audits (GET /v1/events), oldest first, optionally followed
// as they happen. Human form `TIME SANDBOX DECISION message`; --json prints the Event objects
// one a line, exactly as the daemon streams them.
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/oshctl.h"

static void logs_usage(FILE *f)
{
	fprintf(f,
		"usage: oshctl logs [SANDBOX] [--json] [-f] [--since ID] [--limit N]\n"
		"\n"
		"Prints the denials and audits oshd recorded (of SANDBOX, or of every sandbox the\n"
		"caller may see), oldest first, one a line: TIME SANDBOX DECISION message.\n"
		"\n"
		"  -f, --follow      keep printing new events as they happen (Ctrl-C ends)\n"
		"  -s, --since ID    only events after event ID\n"
		"  -n, --limit N     at most N events (before following)\n"
		"  -j, --json        the Event objects of docs/api.md, one a line (= -o json)\n"
		"\n"
		"examples:\n"
		"  oshctl logs agent-1\n"
		"  oshctl logs -f\n"
		"  oshctl logs agent-1 --json --since 812 | jq -r 'select(.kind == \"egress\") "
		"| .target'\n");
}

static int print_event(const cJSON *ev, void *ctx)
{
	bool json = *(const bool *)ctx;

	if (json) {
		char *s = cJSON_PrintUnformatted(ev);

		if (s)
			printf("%s\n", s);
		cJSON_free(s);
	} else {
		printf("%s %s %s %s\n", oshctl_json_str(ev, "time", "-"),
		       oshctl_json_str(ev, "sandbox", "-"), oshctl_json_str(ev, "decision", "-"),
		       oshctl_json_str(ev, "message", ""));
	}
	/* Followed logs are read as they come, often through a pipe. */
	fflush(stdout);
	return 0;
}

/* A non-negative integer option value. */
static int parse_count(const char *opt, const char *v, unsigned long long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(v, &end, 10);
	if (errno || !*v || *end || v[0] == '-') {
		fprintf(stderr, "oshctl: logs: %s takes a number, not '%s'\n", opt, v);
		return -EINVAL;
	}
	return 0;
}

int cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned long long since = 0, limit = 0;
	bool json = oshctl_output_json(), follow = false, have_since = false, have_limit = false;
	char *name = NULL, path[512];
	int c, r, n;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fs:n:jo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			follow = true;
			break;
		case 's':
			if (parse_count("--since", optarg, &since) < 0)
				return OSHCTL_EXIT_USAGE;
			have_since = true;
			break;
		case 'n':
			if (parse_count("--limit", optarg, &limit) < 0)
				return OSHCTL_EXIT_USAGE;
			have_limit = true;
			break;
		case 'j':
			json = true;
			break;
		default:
			r = oshctl_common_opt(c, "logs", &json, logs_usage);
			if (r >= 0)
				return r;
		}
	}
	if (argc - optind > 1) {
		logs_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	if (optind < argc) {
		name = oshctl_url_escape(argv[optind]);
		if (!name) {
			fprintf(stderr, "oshctl: out of memory\n");
			return OSHCTL_EXIT_SYSTEM;
		}
	}
	n = snprintf(path, sizeof(path), "/v1/events?%s%s%s", name ? "sandbox=" : "",
		     name ? name : "", name ? "&" : "");
	if (have_since && n > 0 && (size_t)n < sizeof(path))
		n += snprintf(path + n, sizeof(path) - (size_t)n, "since=%llu&", since);
	if (have_limit && n > 0 && (size_t)n < sizeof(path))
		n += snprintf(path + n, sizeof(path) - (size_t)n, "limit=%llu&", limit);
	if (follow && n > 0 && (size_t)n < sizeof(path))
		n += snprintf(path + n, sizeof(path) - (size_t)n, "follow=1&");
	free(name);
	if (n <= 0 || (size_t)n >= sizeof(path)) {
		fprintf(stderr, "oshctl: logs: sandbox name too long\n");
		return OSHCTL_EXIT_USAGE;
	}
	path[n - 1] = '\0'; /* the trailing '&' or '?' */
	return oshctl_stream(path, print_event, &json);
}
