// SPDX-License-Identifier: Apache-2.0
// Benchmark helper: times N TCP connect()+close() to a listener it runs itself on IPV4:PORT
// (default 127.0.0.1 and an ephemeral port), and prints `connect: ns_per_op=N ok=N eperm=N`. Run
// it inside and outside a sandbox cgroup to get a ratio (scripts/bench.sh); denied connects are
// counted, not treated as errors. A non-loopback address serves the egress programs, which never
// allow loopback from a sandbox.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	long port = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sa);
	long ok = 0, eperm = 0;
	int lfd, one = 1;
	pid_t acceptor;

	if (n <= 0 || port < 0 || port > 65535 ||
	    (argc > 3 && inet_pton(AF_INET, argv[3], &sa.sin_addr) != 1)) {
		fprintf(stderr, "usage: bench-connect [COUNT] [PORT] [IPV4]\n");
		return 2;
	}
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
	long long t0 = now_ns();
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			perror("bench-connect: socket");
			break;
		}
		/* Linger 0 closes with a reset: no TIME_WAIT socket per iteration to exhaust the
		 * ephemeral ports and slow later rounds. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			ok++;
		else if (errno == EPERM)
			eperm++;
		else
			fprintf(stderr, "bench-connect: connect: %s\n", strerror(errno));
		close(fd);
	}
	long long t1 = now_ns();
	kill(acceptor, SIGKILL);
	waitpid(acceptor, NULL, 0);
	printf("connect: ns_per_op=%lld ok=%ld eperm=%ld\n", (t1 - t0) / n, ok, eperm);
	return ok + eperm == n ? 0 : 1;
}
