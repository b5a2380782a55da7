// SPDX-License-Identifier: Apache-2.0
// osh-prove, the program behind `oshctl policy prove` (cli/cmd-prove.c execs it): runs the Z3
// prover on a policy (optionally against an old one) and prints its findings; exit 0 PASS,
// 1 REVIEW (unaccepted findings), 2 usage, 3 system. A program of its own so that Z3 and the
// C++ runtime load only here, not at every oshctl start (docs/ARCHITECTURE.md, Dependencies).
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/oshctl.h"
#include "policy.h"
#include "prover.h"

static void prove_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: oshctl policy prove FILE [--against OLD] [--credentials F] [--registry DIR]\n"
	    "                           [--accepted-risks F] [--compact] [-o text|json]\n"
	    "\n"
	    "Checks FILE for exfiltration paths with Z3 and prints each finding with a concrete\n"
	    "witness (binary, endpoint, method, mechanism). --against OLD reports only what\n"
	    "FILE adds over OLD. Exit 0: PASS; 1: REVIEW (unaccepted findings) or invalid\n"
	    "input; 2: usage; 3: system error. Registry: --registry, $OSH_PROVER_REGISTRY, or\n"
	    "prover/registry of the source tree oshctl was built in.\n");
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The registry next to the binary: $O/libexec/osh/osh-prove sits a few levels under the source
 * tree; an installed one, PREFIX/libexec/osh/osh-prove, finds PREFIX/share/osh/prover-registry. */
static char *default_registry(void)
{
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		for (int up = 0; up < 5; up++) {
			char *slash = strrchr(exe, '/');

			if (!slash || slash == exe)
				break;
			*slash = '\0';
			snprintf(cand, sizeof(cand), "%s/prover/registry", exe);
			if (is_dir(cand))
				return strdup(cand);
			snprintf(cand, sizeof(cand), "%s/share/osh/prover-registry", exe);
			if (is_dir(cand))
				return strdup(cand);
		}
	}
	return is_dir("prover/registry") ? strdup("prover/registry") : NULL;
}

/* Maps a loader's result to an exit code, printing its diagnostics. */
static int loaded(int r, const char *what, const char *path, struct osh_diag_list *diags)
{
	oshctl_diags_print(diags);
	if (r >= 0)
		return OSHCTL_EXIT_OK;
	if (r == -EINVAL)
		return OSHCTL_EXIT_FAIL;
	fprintf(stderr, "oshctl: policy prove: %s %s: %s\n", what, path, strerror(-r));
	return OSHCTL_EXIT_SYSTEM;
}

/* "--name VALUE" or "--name=VALUE". Returns the value, advancing *i, or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (!argv[*i] || strncmp(argv[*i], name, n))
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] || *i + 1 >= argc || !argv[*i + 1])
		return NULL;
	return argv[++*i];
}

/* argv: osh-prove, then the arguments of `oshctl policy prove`. */
int main(int argc, char **argv)
{
	const char *file = NULL, *against = NULL, *creds_path = NULL, *reg_path = NULL,
		   *acc_path = NULL, *v;
	enum osh_findings_format fmt = OSH_FINDINGS_REPORT;
	struct osh_diag_list diags = { 0 };
	struct osh_policy *p = NULL, *old = NULL;
	struct osh_prover_registry *reg = NULL;
	struct osh_prover_credentials *creds = NULL;
	struct osh_prover_accepted *acc = NULL;
	struct osh_findings *f = NULL;
	char *reg_default = NULL, *text = NULL;
	bool compact = false, json = false;
	int r;

	for (int i = 1; i < argc && argv[i]; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			prove_usage(stdout);
			return OSHCTL_EXIT_OK;
		} else if ((v = opt_value(argc, argv, &i, "--against"))) {
			against = v;
		} else if ((v = opt_value(argc, argv, &i, "--credentials"))) {
			creds_path = v;
		} else if ((v = opt_value(argc, argv, &i, "--registry"))) {
			reg_path = v;
		} else if ((v = opt_value(argc, argv, &i, "--accepted-risks"))) {
			acc_path = v;
		} else if (!strcmp(argv[i], "--compact")) {
			compact = true;
		} else if ((v = opt_value(argc, argv, &i, "-o")) ||
			   (v = opt_value(argc, argv, &i, "--output"))) {
			if (oshctl_output_parse("policy prove", v, &json) < 0)
				return OSHCTL_EXIT_USAGE;
		} else if (!file && argv[i][0] != '-') {
			file = argv[i];
		} else {
			prove_usage(stderr);
			return OSHCTL_EXIT_USAGE;
		}
	}
	if (!file) {
		prove_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	if (!reg_path)
		reg_path = getenv("OSH_PROVER_REGISTRY");
	if (!reg_path || !*reg_path) {
		reg_path = reg_default = default_registry();
		if (!reg_path) {
			fprintf(stderr, "oshctl: policy prove: no capability registry found; pass "
					"--registry DIR or set OSH_PROVER_REGISTRY\n");
			return OSHCTL_EXIT_SYSTEM;
		}
	}
	fmt = json ? OSH_FINDINGS_JSON : compact ? OSH_FINDINGS_COMPACT : OSH_FINDINGS_REPORT;

	r = oshctl_policy_load("policy prove", file, &p);
	if (r == OSHCTL_EXIT_OK && against)
		r = oshctl_policy_load("policy prove", against, &old);
	if (r == OSHCTL_EXIT_OK)
		r = loaded(osh_prover_registry_load(reg_path, &reg, &diags), "registry", reg_path,
			   &diags);
	if (r == OSHCTL_EXIT_OK && creds_path)
		r = loaded(osh_prover_credentials_load(creds_path, &creds, &diags), "credentials",
			   creds_path, &diags);
	if (r == OSHCTL_EXIT_OK && acc_path)
		r = loaded(osh_prover_accepted_load(acc_path, &acc, &diags), "accepted risks",
			   acc_path, &diags);
	if (r != OSHCTL_EXIT_OK)
		goto out;
	{
		struct osh_prover_input in = {
			.policy = p,
			.old_policy = old,
			.registry = reg,
			.credentials = creds,
			.accepted = acc,
		};

		r = osh_prover_run(&in, &f);
	}
	if (r >= 0)
		r = osh_findings_format(f, fmt, &text);
	if (r < 0) {
		fprintf(stderr, "oshctl: policy prove: %s: %s\n", file,
			r == -EIO ? "the solver failed" : strerror(-r));
		r = OSHCTL_EXIT_SYSTEM;
		goto out;
	}
	fputs(text, stdout);
	r = f->n_unaccepted ? OSHCTL_EXIT_FAIL : OSHCTL_EXIT_OK;
out:
	free(text);
	free(reg_default);
	osh_findings_free(f);
	osh_prover_accepted_free(acc);
	osh_prover_credentials_free(creds);
	osh_prover_registry_free(reg);
	osh_policy_free(old);
	osh_policy_free(p);
	return r;
}
