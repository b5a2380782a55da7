// SPDX-License-Identifier: Apache-2.0
// egress-bench: N TCP connect()+close() to a listener it runs itself on ADDR:PORT (IPv4), for
// timing the egress programs on a non-loopback address (loopback is never allowed from a
// sandbox). Prints `connect: ns_per_op=N ok=N eperm=N`; denied connects are counted.
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
	struct sockaddr_in sa = { .sin_family = AF_INET };
	long n, port, ok = 0, eperm = 0;
	int lfd, one = 1;
	long long t0, t1;
	pid_t acceptor;

	if (argc != 4 || (n = strtol(argv[1], NULL, 10)) <= 0 ||
	    inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1 ||
	    (port = strtol(argv[3], NULL, 10)) <= 0 || port > 65535) {
		fprintf(stderr, "usage: egress-bench COUNT IPV4 PORT\n");
		return 2;
	}
	sa.sin_port = htons((unsigned short)port);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
		perror("egress-bench: listen");
		return 1;
	}
	acceptor = fork();
	if (acceptor < 0) {
		perror("egress-bench: fork");
		return 1;
	}
	if (acceptor == 0) {
		for (;;) {
			int c = accept(lfd, NULL, NULL);

			if (c >= 0)
				close(c);
		}
	}
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		/* Linger 0: a reset, no TIME_WAIT socket per round on the one fixed port. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			perror("egress-bench: socket");
			break;
		}
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			ok++;
		else if (errno == EPERM)
			eperm++;
		else
			fprintf(stderr, "egress-bench: connect: %s\n", strerror(errno));
		close(fd);
	}
	t1 = now_ns();
	kill(acceptor, SIGKILL);
	waitpid(acceptor, NULL, 0);
	printf("connect: ns_per_op=%lld ok=%ld eperm=%ld\n", (t1 - t0) / n, ok, eperm);
	return ok + eperm == n ? 0 : 1;
}
