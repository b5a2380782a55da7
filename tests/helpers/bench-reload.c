// SPDX-License-Identifier: Apache-2.0
// bench-reload --cgroup DIR A.yaml B.yaml [ROUNDS]: the engine's egress side on a test cgroup
// (sandbox-net.c, no DNS responder), then ROUNDS rounds of three policy reloads alternating
// between A and B, each timed alone:
//   - osh_sandbox_net_reload_take with the policy and its image handed over (what a caller that
//     parsed and compiled the policy already - the daemon checks every policy so - pays: binary
//     resolution, a fresh trie filled in one batch and flipped);
//   - the same with the image compiled inside;
//   - osh_sandbox_net_reload, which copies the policy first.
// The policies handed over are parsed and compiled before their timed call. Prints `reload:
// median_us=N p90_us=N rounds=N compile_median_us=N copy_median_us=N`: the median of the first,
// and what compiling and copying add (medians of the second and third minus the first's). The
// programs are held first, as oshd holds them: reloads take a ready trie from the pool.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bpf-egress.h"
#include "sandbox-net.h"

enum { TAKE, TAKE_COMPILE, COPY, N_MODES };

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

static int parse(const char *path, struct osh_policy **ret)
{
	struct osh_diag_list diags = { 0 };
	int r = osh_policy_parse_file(path, OSH_POLICY_FORMAT_AUTO, ret, &diags);

	osh_diag_list_clear(&diags);
	if (r < 0)
		fprintf(stderr, "bench-reload: %s: invalid policy\n", path);
	return r;
}

/* One reload to the policy in path (pol: the same, parsed), timed; -1 on failure. */
static long long reload_once(struct osh_sandbox_net *net, int mode, const char *path,
			     const struct osh_policy *pol)
{
	struct osh_sandbox_error err = { 0 };
	struct osh_policy *p = NULL;
	struct osh_policy_image *img = NULL;
	char msg[4096 + 300];
	long long t0;
	int r;

	if (mode != COPY && parse(path, &p) < 0)
		return -1;
	if (mode == TAKE && osh_policy_compile(p, &img) < 0) {
		osh_policy_free(p);
		return -1;
	}
	t0 = now_us();
	if (mode == COPY)
		r = osh_sandbox_net_reload(net, pol, NULL, &err);
	else
		r = osh_sandbox_net_reload_take(net, p, img, NULL, &err);
	t0 = now_us() - t0;
	if (r < 0) {
		osh_sandbox_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "bench-reload: reload: %s\n", msg);
		return -1;
	}
	return t0;
}

int main(int argc, char **argv)
{
	struct osh_policy *pol[2] = { 0 };
	struct osh_sandbox_net *net = NULL;
	struct osh_strv warnings = { 0 }, report = { 0 };
	struct osh_sandbox_error err = { 0 };
	long long *t[N_MODES] = { 0 }, med[N_MODES];
	char msg[4096 + 300];
	struct stat st;
	long rounds;
	unsigned int level;
	bool held = false;
	int cgfd = -1, r, ret = 1;
	unsigned cur = 0;

	if (argc < 5 || strcmp(argv[1], "--cgroup")) {
		fprintf(stderr, "usage: bench-reload --cgroup DIR A.yaml B.yaml [ROUNDS]\n");
		return 2;
	}
	rounds = argc > 5 ? strtol(argv[5], NULL, 10) : 20;
	if (rounds <= 0)
		return 2;
	for (int m = 0; m < N_MODES; m++)
		if (!(t[m] = calloc((size_t)rounds, sizeof(*t[m]))))
			goto out;
	for (int i = 0; i < 2; i++)
		if (parse(argv[3 + i], &pol[i]) < 0)
			goto out;
	cgfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0 || fstat(cgfd, &st) < 0) {
		fprintf(stderr, "bench-reload: %s: %s\n", argv[2], strerror(errno));
		goto out;
	}
	r = osh_egress_cgroup_level(argv[2], &level);
	if (r == 0)
		r = osh_sandbox_net_hold(level, NULL);
	if (r < 0) {
		fprintf(stderr, "bench-reload: hold: %s\n", strerror(-r));
		goto out;
	}
	held = true;
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
	/* The modes interleaved, so a burst of load on a shared machine hits all three. */
	for (long i = 0; i < rounds; i++)
		for (int m = 0; m < N_MODES; m++) {
			cur ^= 1;
			t[m][i] = reload_once(net, m, argv[3 + cur], pol[cur]);
			if (t[m][i] < 0)
				goto out;
		}
	for (int m = 0; m < N_MODES; m++) {
		qsort(t[m], (size_t)rounds, sizeof(*t[m]), cmp_ll);
		med[m] = t[m][rounds / 2];
	}
	printf("reload: median_us=%lld p90_us=%lld rounds=%ld compile_median_us=%lld "
	       "copy_median_us=%lld\n",
	       med[TAKE], t[TAKE][rounds * 9 / 10], rounds, med[TAKE_COMPILE] - med[TAKE],
	       med[COPY] - med[TAKE_COMPILE]);
	ret = 0;
out:
	osh_sandbox_net_free(net);
	if (held)
		osh_sandbox_net_unhold();
	for (int i = 0; i < 2; i++)
		osh_policy_free(pol[i]);
	osh_strv_free(&warnings);
	osh_strv_free(&report);
	if (cgfd >= 0)
		close(cgfd);
	for (int m = 0; m < N_MODES; m++)
		free(t[m]);
	return ret;
}
