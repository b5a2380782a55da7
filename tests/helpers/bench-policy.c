// SPDX-License-Identifier: Apache-2.0
// bench-policy [RUNS]: generates a 2,000-endpoint, 50-binary policy in memory and prints the
// median wall time of parse + validate + compile over RUNS runs (default 50) as one line:
// `policy-2000: median_ms=3.21 runs=50`.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

#define N_RULES	    50
#define N_ENDPOINTS 2000

/* 50 rules of 40 endpoints, one binary each; a mix of names, wildcards, addresses and L7. */
static char *generate(size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "version: 1\nfilesystem_policy:\n  include_workdir: true\n"
		   "  read_only: [/usr, /lib, /etc]\n  read_write: [/tmp]\n"
		   "landlock:\n  compatibility: best_effort\nnetwork_policies:\n");
	for (int r = 0; r < N_RULES; r++) {
		fprintf(f, "  rule_%02d:\n    name: rule-%02d\n    endpoints:\n", r, r);
		for (int e = 0; e < N_ENDPOINTS / N_RULES; e++) {
			int k = r * (N_ENDPOINTS / N_RULES) + e;

			switch (k % 4) {
			case 0:
				fprintf(f, "      - { host: api%d.example.com, port: 443 }\n", k);
				break;
			case 1:
				fprintf(
				    f,
				    "      - { host: \"*.svc%d.example.net\", ports: [80, 443] }\n",
				    k);
				break;
			case 2:
				fprintf(f, "      - { host: 198.51.%d.%d, port: %d }\n", k / 250,
					k % 250 + 1, 1024 + k);
				break;
			default:
				fprintf(
				    f,
				    "      - host: rest%d.example.org\n        port: 443\n"
				    "        protocol: rest\n        rules:\n"
				    "          - allow: { method: GET, path: \"/v1/**\" }\n"
				    "          - allow: { method: POST, path: \"/v1/items\" }\n",
				    k);
			}
		}
		fprintf(f, "    binaries:\n      - path: /usr/local/bin/tool%02d\n", r);
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

int main(int argc, char **argv)
{
	int runs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 50;
	size_t len = 0;
	char *doc = generate(&len);
	double *ms;

	if (!doc || runs < 1 || !(ms = calloc((size_t)runs, sizeof(*ms)))) {
		fprintf(stderr, "bench-policy: usage: bench-policy [RUNS]\n");
		return 2;
	}
	for (int i = 0; i < runs; i++) {
		struct osh_diag_list diags = { 0 };
		struct osh_policy *p = NULL;
		struct osh_policy_image *img = NULL;
		struct timespec t0, t1;
		int r;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		r = osh_policy_parse_buffer("bench.yaml", doc, len, OSH_POLICY_FORMAT_YAML, &p,
					    &diags);
		if (r == 0)
			r = osh_policy_compile(p, &img);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (r < 0 || !img || img->n_names + img->n_v4 < N_ENDPOINTS) {
			fprintf(stderr, "bench-policy: generated policy failed: %s\n",
				diags.n ? diags.items[0].message : strerror(-r));
			free(ms);
			free(doc);
			return 1;
		}
		ms[i] =
		    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		osh_policy_image_free(img);
		osh_policy_free(p);
		osh_diag_list_clear(&diags);
	}
	qsort(ms, (size_t)runs, sizeof(*ms), cmp_double);
	printf("policy-2000: median_ms=%.2f runs=%d\n",
	       runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2, runs);
	free(ms);
	free(doc);
	return 0;
}
