// SPDX-License-Identifier: Apache-2.0
// Benchmark helper: times N TCP connect()+close() to a listener it runs itself on IPV4:PORT
// (default 127.0.0.1 and an ephemeral port), and prints `connect: ns_per_op=N ok=N eperm=N`. Run
// it inside and outside a sandbox cgroup to get a ratio (scripts/bench.sh); denied connects are
// counted, not treated as errors. A non-loopback address serves the egress programs, which never
// allow loopback from a sandbox.
//
// With `--alternate IN_DIR OUT_DIR` (started in IN_DIR, the sandbox) it measures both sides in one
// process: the listener lives in OUT_DIR, and the process moves itself between the two cgroups
// for blocks of N/20 connects, in alternating order, so a burst of load on a shared machine hits
// both sides alike. It then prints `ns_per_op` (median block inside), `outside_ns_per_op` (median
// block outside) and `ratio` (median of the ratios of adjacent blocks) - what
// scripts/bench-egress.sh reports for "in a sandbox vs outside".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 20 /* blocks per side in --alternate mode */

static long ok, eperm;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* n connect()+close(); returns the nanoseconds per operation, or -1. */
static double connect_block(const struct sockaddr_in *sa, long n)
{
	long long t0 = now_ns();

	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			perror("bench-connect: socket");
			return -1;
		}
		/* Linger 0 closes with a reset: no TIME_WAIT socket per iteration to exhaust the
		 * ephemeral ports and slow later rounds. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			ok++;
		else if (errno == EPERM)
			eperm++;
		else
			fprintf(stderr, "bench-connect: connect: %s\n", strerror(errno));
		close(fd);
	}
	return (double)(now_ns() - t0) / (double)n;
}

/* Moves this process into the cgroup directory dir. */
static int cgroup_enter(const char *dir)
{
	char path[4096];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0\n", 2) != 2)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r < 0)
		fprintf(stderr, "bench-connect: %s: %s\n", path, strerror(-r));
	return r;
}

static int alternate(const struct sockaddr_in *sa, long n, const char *in, const char *out)
{
	double tin[ROUNDS] = { 0 }, tout[ROUNDS] = { 0 }, ratio[ROUNDS];
	long block = n / ROUNDS > 0 ? n / ROUNDS : 1;

	for (int r = 0; r < ROUNDS; r++) {
		/* Outside first in odd rounds: neither side always runs right after a move. */
		for (int k = 0; k < 2; k++) {
			bool inside = (k == 0) == (r % 2 == 0);
			double t;

			if (cgroup_enter(inside ? in : out) < 0 ||
			    (t = connect_block(sa, block)) < 0)
				return -1;
			if (inside)
				tin[r] = t;
			else
				tout[r] = t;
		}
		ratio[r] = tin[r] / tout[r];
	}
	printf("connect: ns_per_op=%.0f outside_ns_per_op=%.0f ratio=%.3f ok=%ld eperm=%ld\n",
	       median(tin, ROUNDS), median(tout, ROUNDS), median(ratio, ROUNDS), ok, eperm);
	return ok + eperm == 2 * ROUNDS * block ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *in = NULL, *out = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sa);
	long n = 20000, port = 0;
	int lfd, one = 1, npos = 0, ret;
	pid_t acceptor;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--alternate") && i + 2 < argc) {
			in = argv[++i];
			out = argv[++i];
		} else if (npos == 0) {
			n = strtol(argv[i], NULL, 10);
			npos++;
		} else if (npos == 1) {
			port = strtol(argv[i], NULL, 10);
			npos++;
		} else if (npos == 2 && inet_pton(AF_INET, argv[i], &sa.sin_addr) == 1) {
			npos++;
		} else {
			n = 0;
		}
	}
	if (n <= 0 || port < 0 || port > 65535) {
		fprintf(stderr, "usage: bench-connect [COUNT] [PORT] [IPV4] [--alternate IN_DIR "
				"OUT_DIR]\n");
		return 2;
	}
	/* The listener (and the acceptor forked with it) outside: only the client is measured. */
	if (out && cgroup_enter(out) < 0)
		return 1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		perror("bench-connect: socket");
		return 1;
	}
	sa.sin_port = htons((unsigned short)port);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &slen) < 0) {
		perror("bench-connect: listen");
		return 1;
	}
	acceptor = fork();
	if (acceptor < 0) {
		perror("bench-connect: fork");
		return 1;
	}
	if (acceptor == 0) {
		for (;;) {
			int c = accept(lfd, NULL, NULL);

			if (c >= 0)
				close(c);
		}
	}
	if (in) {
		ret = alternate(&sa, n, in, out) < 0 ? 1 : 0;
	} else {
		double t = connect_block(&sa, n);

		if (t >= 0)
			printf("connect: ns_per_op=%.0f ok=%ld eperm=%ld\n", t, ok, eperm);
		ret = t >= 0 && ok + eperm == n ? 0 : 1;
	}
	kill(acceptor, SIGKILL);
	waitpid(acceptor, NULL, 0);
	return ret;
}
