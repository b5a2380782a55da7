// SPDX-License-Identifier: Apache-2.0
// `oshctl policy validate|show|compile|diff`: the policy compiler on the command line. Prints
// diagnostics as `FILE:LINE:COL: message` on stderr; results on stdout.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/oshctl.h"
#include "policy.h"

static void policy_usage(FILE *f)
{
	fprintf(f, "usage: oshctl policy validate FILE...\n"
		   "       oshctl policy show FILE [-o yaml|json]\n"
		   "       oshctl policy compile FILE\n"
		   "       oshctl policy diff OLD NEW\n"
		   "       oshctl policy prove FILE [--against OLD] [options] (see prove --help)\n"
		   "\n"
		   "validate  check policies; exit 0 when all are valid, 1 with every error\n"
		   "show      print the canonical form and its revision id\n"
		   "compile   print the BPF map entries the policy compiles to\n"
		   "diff      print what changed (static: new sandbox; dynamic: hot reload);\n"
		   "          exit 0 when equal, 1 when different\n");
}

static int policy_validate(int argc, char **argv)
{
	int ret = OSHCTL_EXIT_OK;

	if (argc < 1) {
		policy_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	for (int i = 0; i < argc; i++) {
		struct osh_policy *p = NULL;
		int r = oshctl_policy_load("policy", argv[i], &p);

		if (r == OSHCTL_EXIT_OK)
			printf("%s: valid\n", argv[i]);
		else if (ret == OSHCTL_EXIT_OK || r == OSHCTL_EXIT_SYSTEM)
			ret = r;
		osh_policy_free(p);
	}
	return ret;
}

static int policy_show(int argc, char **argv)
{
	enum osh_policy_format fmt = OSH_POLICY_FORMAT_YAML;
	const char *file = NULL;
	struct osh_policy *p = NULL;
	char rev[65], *text = NULL;
	int r;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "yaml")) {
				fmt = OSH_POLICY_FORMAT_YAML;
			} else if (!strcmp(argv[i], "json")) {
				fmt = OSH_POLICY_FORMAT_JSON;
			} else {
				fprintf(stderr,
					"oshctl: policy show: unknown format '%s' (expected "
					"yaml or json)\n",
					argv[i]);
				return OSHCTL_EXIT_USAGE;
			}
		} else if (!file && argv[i][0] != '-') {
			file = argv[i];
		} else {
			policy_usage(stderr);
			return OSHCTL_EXIT_USAGE;
		}
	}
	if (!file) {
		policy_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	r = oshctl_policy_load("policy", file, &p);
	if (r != OSHCTL_EXIT_OK)
		return r;
	r = osh_policy_dump(p, fmt, &text);
	if (r >= 0)
		r = osh_policy_revision(p, rev);
	if (r < 0) {
		fprintf(stderr, "oshctl: policy show: %s: %s\n", file, strerror(-r));
		free(text);
		osh_policy_free(p);
		return OSHCTL_EXIT_SYSTEM;
	}
	/* The revision goes to stderr so stdout stays a policy that can be fed back in. */
	fprintf(stderr, "# revision %s\n", rev);
	fputs(text, stdout);
	free(text);
	osh_policy_free(p);
	return OSHCTL_EXIT_OK;
}

static int policy_compile(int argc, char **argv)
{
	struct osh_policy *p = NULL;
	struct osh_policy_image *img = NULL;
	char *text = NULL, rev[65];
	int r;

	if (argc != 1) {
		policy_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	r = oshctl_policy_load("policy", argv[0], &p);
	if (r != OSHCTL_EXIT_OK)
		return r;
	r = osh_policy_compile(p, &img);
	if (r >= 0)
		r = osh_policy_image_format(img, &text);
	if (r >= 0)
		r = osh_policy_revision(p, rev);
	if (r < 0) {
		fprintf(stderr, "oshctl: policy compile: %s: %s\n", argv[0], strerror(-r));
		r = r == -E2BIG ? OSHCTL_EXIT_FAIL : OSHCTL_EXIT_SYSTEM;
	} else {
		printf("revision %s\n%s", rev, text);
		r = OSHCTL_EXIT_OK;
	}
	free(text);
	osh_policy_image_free(img);
	osh_policy_free(p);
	return r;
}

static int policy_diff(int argc, char **argv)
{
	struct osh_policy *a = NULL, *b = NULL;
	struct osh_policy_diff *d = NULL;
	char *text = NULL;
	int r;

	if (argc != 2) {
		policy_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	r = oshctl_policy_load("policy", argv[0], &a);
	if (r == OSHCTL_EXIT_OK)
		r = oshctl_policy_load("policy", argv[1], &b);
	if (r != OSHCTL_EXIT_OK)
		goto out;
	r = osh_policy_diff(a, b, &d);
	if (r >= 0)
		r = osh_policy_diff_format(d, &text);
	if (r < 0) {
		fprintf(stderr, "oshctl: policy diff: %s\n", strerror(-r));
		r = OSHCTL_EXIT_SYSTEM;
		goto out;
	}
	fputs(text, stdout);
	if (d->n_changes)
		printf("%zu static, %zu dynamic change(s)%s\n", d->n_static, d->n_dynamic,
		       d->n_static ? ": the static ones need a new sandbox" : ": hot-reloadable");
	r = d->n_changes ? OSHCTL_EXIT_FAIL : OSHCTL_EXIT_OK;
out:
	free(text);
	osh_policy_diff_free(d);
	osh_policy_free(a);
	osh_policy_free(b);
	return r;
}

int cmd_policy_prove(int argc, char **argv);

/* One verb a line: clang-format would pack five short entries into a grid. */
/* clang-format off */
static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} verbs[] = {
	{ "validate", policy_validate },
	{ "show", policy_show },
	{ "compile", policy_compile },
	{ "diff", policy_diff },
	{ "prove", cmd_policy_prove }, /* cli/cmd-prove.c */
};
/* clang-format on */

int cmd_policy(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		policy_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? OSHCTL_EXIT_USAGE : OSHCTL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].run(argc - 2, argv + 2);
	fprintf(stderr, "oshctl: policy: unknown verb '%s'\n", argv[1]);
	policy_usage(stderr);
	return OSHCTL_EXIT_USAGE;
}
