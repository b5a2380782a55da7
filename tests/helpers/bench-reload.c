// SPDX-License-Identifier: Apache-2.0
// bench-reload --cgroup DIR A.yaml B.yaml [ROUNDS]: the engine's egress side on a test cgroup
// (sandbox-net.c, no DNS responder), then ROUNDS policy reloads alternating between A and B,
// each timed around osh_sandbox_net_reload (what the daemon pays: policy copy, compile, binary
// resolution, a fresh trie filled and flipped). Prints `reload: median_us=N p90_us=N rounds=N
// copy_compile_median_us=N`, the last being the share of copying and compiling the policy.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox-net.h"

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct osh_policy *pol[2] = { 0 };
	struct osh_sandbox_net *net = NULL;
	struct osh_strv warnings = { 0 }, report = { 0 };
	struct osh_sandbox_error err = { 0 };
	long long *t = NULL, *c = NULL;
	char msg[4096 + 300];
	struct stat st;
	long rounds;
	int cgfd = -1, r, ret = 1;

	if (argc < 5 || strcmp(argv[1], "--cgroup")) {
		fprintf(stderr, "usage: bench-reload --cgroup DIR A.yaml B.yaml [ROUNDS]\n");
		return 2;
	}
	rounds = argc > 5 ? strtol(argv[5], NULL, 10) : 20;
	if (rounds <= 0 || !(t = calloc((size_t)rounds, sizeof(*t))) ||
	    !(c = calloc((size_t)rounds, sizeof(*c)))) {
		free(t);
		return 2;
	}
	for (int i = 0; i < 2; i++) {
		struct osh_diag_list diags = { 0 };

		r = osh_policy_parse_file(argv[3 + i], OSH_POLICY_FORMAT_AUTO, &pol[i], &diags);
		osh_diag_list_clear(&diags);
		if (r < 0) {
			fprintf(stderr, "bench-reload: %s: invalid policy\n", argv[3 + i]);
			goto out;
		}
	}
	cgfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0 || fstat(cgfd, &st) < 0) {
		fprintf(stderr, "bench-reload: %s: %s\n", argv[2], strerror(errno));
		goto out;
	}
	r = osh_sandbox_net_start(&(struct osh_sandbox_net_opts){ .policy = pol[0],
								  .cgroup_id = st.st_ino,
								  .cgroup_fd = cgfd,
								  .cgroup_path = argv[2],
								  .no_dns = true },
				  &warnings, &report, &net, &err);
	if (r < 0) {
		osh_sandbox_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "bench-reload: %s\n", msg);
		goto out;
	}
	for (long i = 0; i < rounds; i++) {
		long long t0 = now_us();

		r = osh_sandbox_net_reload(net, pol[(i + 1) % 2], NULL, &err);
		t[i] = now_us() - t0;
		if (r < 0) {
			osh_sandbox_error_format(&err, msg, sizeof(msg));
			fprintf(stderr, "bench-reload: reload: %s\n", msg);
			goto out;
		}
	}
	/* The same copy + compile a reload does first, alone. */
	for (long i = 0; i < rounds; i++) {
		struct osh_policy *p = NULL;
		struct osh_policy_image *img = NULL;
		long long t0 = now_us();

		r = osh_sandbox_net_policy_copy(pol[i % 2], &p);
		if (r >= 0)
			r = osh_policy_compile(p, &img);
		c[i] = now_us() - t0;
		osh_policy_image_free(img);
		osh_policy_free(p);
		if (r < 0)
			goto out;
	}
	qsort(t, (size_t)rounds, sizeof(*t), cmp_ll);
	qsort(c, (size_t)rounds, sizeof(*c), cmp_ll);
	printf("reload: median_us=%lld p90_us=%lld rounds=%ld copy_compile_median_us=%lld\n",
	       t[rounds / 2], t[rounds * 9 / 10], rounds, c[rounds / 2]);
	ret = 0;
out:
	osh_sandbox_net_free(net);
	for (int i = 0; i < 2; i++)
		osh_policy_free(pol[i]);
	osh_strv_free(&warnings);
	osh_strv_free(&report);
	if (cgfd >= 0)
		close(cgfd);
	free(t);
	free(c);
	return ret;
}
