// SPDX-License-Identifier: Apache-2.0
// bench-prove [REGISTRY] | --policy N: generates policies of 100, 250, 500 and 1,000 endpoints with 30
// binaries in memory and times the full prove (CLI defaults) on each, one line per size, the median
// of three rounds after a warm-up one: `prove-500: ms=812.3 findings=1701 truncated=1 runs=3`. The
// first prove in a process also pays for Z3's start (a context fills some 17 MB of tables, page by
// page): it is timed alone first, as `prove-first-500`, what one `oshctl policy prove` pays.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "prover.h"

#define N_RULES	   10
#define N_BINARIES 30
#define N_SIZES	   4
#define ROUNDS	   3 /* timed rounds, after one to warm up */

/* 20 binaries the registry knows (HTTP clients, interpreters, L7-bypassing tools) and 10 it
 * does not, so both the capability and the unknown-binary paths are exercised. */
static const char *const known[] = {
	"/usr/bin/curl",
	"/usr/bin/wget",
	"/usr/bin/git",
	"/usr/bin/gh",
	"/usr/bin/python3.11",
	"/usr/local/bin/node",
	"/usr/bin/npm",
	"/usr/bin/pip",
	"/usr/bin/ssh",
	"/usr/bin/scp",
	"/usr/bin/rsync",
	"/usr/bin/nc",
	"/usr/bin/socat",
	"/usr/bin/perl",
	"/usr/bin/ruby",
	"/usr/bin/bash",
	"/usr/bin/sh",
	"/usr/local/bin/claude",
	"/usr/lib/git-core/git-remote-https",
	"/usr/bin/python",
};

static const char *binary_name(int i, char *buf, size_t len)
{
	if (i < (int)(sizeof(known) / sizeof(known[0])))
		return known[i];
	snprintf(buf, len, "/opt/tools/bin/tool%02d", i);
	return buf;
}

/* N_RULES rules of n / N_RULES endpoints, three binaries each: named hosts, wildcards,
 * documentation addresses and L7 rest endpoints (read-only, read-write). */
static char *generate(int n, size_t *ret_len)
{
	char *buf = NULL, name[64];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "version: 1\nfilesystem_policy:\n  include_workdir: true\n"
		   "  read_only: [/usr, /lib, /etc]\n  read_write: [/tmp]\n"
		   "landlock:\n  compatibility: best_effort\nnetwork_policies:\n");
	for (int r = 0; r < N_RULES; r++) {
		fprintf(f, "  rule_%02d:\n    name: rule-%02d\n    endpoints:\n", r, r);
		for (int e = 0; e < n / N_RULES; e++) {
			int k = r * (n / N_RULES) + e;

			switch (k % 5) {
			case 0:
				fprintf(f, "      - { host: api%d.example.com, port: 443 }\n", k);
				break;
			case 1:
				fprintf(f, "      - { host: \"*.svc%d.example.net\", port: 443 }\n",
					k);
				break;
			case 2:
				fprintf(f, "      - { host: 198.51.%d.%d, port: %d }\n", k / 250,
					k % 250 + 1, 1024 + k);
				break;
			case 3:
				fprintf(
				    f,
				    "      - { host: ro%d.example.org, port: 443, protocol: rest, "
				    "access: read-only }\n",
				    k);
				break;
			default:
				fprintf(
				    f,
				    "      - { host: rw%d.example.org, port: 443, protocol: rest, "
				    "access: read-write }\n",
				    k);
			}
		}
		fprintf(f, "    binaries:\n");
		for (int b = 0; b < N_BINARIES / N_RULES; b++)
			fprintf(f, "      - path: %s\n",
				binary_name(r * (N_BINARIES / N_RULES) + b, name, sizeof(name)));
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*ret_len = len;
	return buf;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One size: its policy and the times of its proves. */
struct size {
	int n;
	struct osh_policy *p;
	double ms[ROUNDS];
	size_t findings, truncated;
};

static struct osh_policy *load(int n)
{
	struct osh_diag_list diags = { 0 };
	struct osh_policy *p = NULL;
	size_t len = 0;
	char *doc = generate(n, &len);
	int r;

	if (!doc)
		return NULL;
	r = osh_policy_parse_buffer("bench.yaml", doc, len, OSH_POLICY_FORMAT_YAML, &p, &diags);
	if (r < 0)
		fprintf(stderr, "bench-prove: generated policy failed: %s\n",
			diags.n ? diags.items[0].message : strerror(-r));
	osh_diag_list_clear(&diags);
	free(doc);
	return r < 0 ? NULL : p;
}

/* Proves s's policy once; returns its time in ms, or -1. */
static double prove(struct size *s, const struct osh_prover_registry *reg)
{
	struct osh_prover_input in = { .policy = s->p, .registry = reg };
	struct osh_findings *f = NULL;
	struct timespec t0, t1;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = osh_prover_run(&in, &f);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r < 0) {
		fprintf(stderr, "bench-prove: prove-%d failed: %s\n", s->n, strerror(-r));
		return -1;
	}
	s->findings = f->n;
	s->truncated = f->truncated;
	osh_findings_free(f);
	return (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

int main(int argc, char **argv)
{
	static const int sizes[N_SIZES] = { 100, 250, 500, 1000 };
	const char *dir = argc > 1 ? argv[1] : "prover/registry";
	size_t len = 0;
	char *doc;
	struct osh_diag_list diags = { 0 };
	struct osh_prover_registry *reg = NULL;
	struct size sz[N_SIZES] = { 0 };
	double first;
	int rc = 0;

	/* `bench-prove --policy N` prints the generated policy, to reproduce with oshctl. */
	if (argc > 2 && !strcmp(argv[1], "--policy")) {
		doc = generate((int)strtol(argv[2], NULL, 10), &len);
		if (!doc)
			return 2;
		fwrite(doc, 1, len, stdout);
		free(doc);
		return 0;
	}
	if (osh_prover_registry_load(dir, &reg, &diags) < 0) {
		fprintf(stderr, "bench-prove: cannot load the registry %s\n", dir);
		osh_diag_list_clear(&diags);
		return 2;
	}
	for (int i = 0; i < N_SIZES; i++) {
		sz[i].n = sizes[i];
		sz[i].p = load(sizes[i]);
		if (!sz[i].p)
			rc = 1;
	}
	/* The first prove of the process alone, then rounds of every size side by side; the
	 * first round only warms the process up (its heap settles: Z3's tables stop faulting in
	 * page by page), so that the sizes compare with each other. */
	first = rc ? -1 : prove(&sz[2], reg);
	if (first >= 0)
		printf("prove-first-%d: ms=%.1f findings=%zu truncated=%zu runs=1\n", sz[2].n,
		       first, sz[2].findings, sz[2].truncated);
	for (int round = -1; round < ROUNDS && first >= 0 && !rc; round++)
		for (int i = 0; i < N_SIZES && !rc; i++) {
			double ms = prove(&sz[i], reg);

			if (ms < 0)
				rc = 1;
			else if (round >= 0)
				sz[i].ms[round] = ms;
		}
	for (int i = 0; i < N_SIZES && first >= 0 && !rc; i++) {
		qsort(sz[i].ms, ROUNDS, sizeof(sz[i].ms[0]), cmp_double);
		printf("prove-%d: ms=%.1f findings=%zu truncated=%zu runs=%d\n", sz[i].n,
		       sz[i].ms[ROUNDS / 2], sz[i].findings, sz[i].truncated, ROUNDS);
	}
	for (int i = 0; i < N_SIZES; i++)
		osh_policy_free(sz[i].p);
	osh_prover_registry_free(reg);
	return rc || first < 0;
}
