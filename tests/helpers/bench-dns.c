// SPDX-License-Identifier: Apache-2.0
// bench-dns SERVER PORT NAME [COUNT]: COUNT A queries for NAME over UDP to SERVER (IPv4) PORT,
// one at a time, each waiting for its answer (2 s at most). Prints `dns: median_us=N p90_us=N
// ok=N`. Run inside a sandbox cgroup, port 53 goes through osh's DNS responder (the kernel
// redirects it); outside, straight to the server: scripts/bench-egress.sh compares the two.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* A standard query with RD for name, type A, class IN. Returns its length or -1. */
static int query_build(uint8_t *q, size_t cap, uint16_t id, const char *name)
{
	size_t n = 12;

	memset(q, 0, 12);
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	q[2] = 0x01; /* RD */
	q[5] = 1;    /* QDCOUNT */
	for (const char *p = name; *p;) {
		const char *dot = strchrnul(p, '.');
		size_t l = (size_t)(dot - p);

		if (l == 0 || l > 63 || n + 1 + l + 5 > cap)
			return -1;
		q[n++] = (uint8_t)l;
		memcpy(q + n, p, l);
		n += l;
		p = *dot ? dot + 1 : dot;
	}
	q[n++] = 0;
	q[n++] = 0;
	q[n++] = 1; /* A */
	q[n++] = 0;
	q[n++] = 1; /* IN */
	return (int)n;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	long count = argc > 4 ? strtol(argv[4], NULL, 10) : 2000, ok = 0;
	long long *t;
	uint8_t q[512], a[4096];
	int fd;

	if (argc < 4 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 || count <= 0) {
		fprintf(stderr, "usage: bench-dns SERVER PORT NAME [COUNT]\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)strtoul(argv[2], NULL, 10));
	t = calloc((size_t)count, sizeof(*t));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (!t || fd < 0) {
		perror("bench-dns");
		free(t);
		return 1;
	}
	for (long i = 0; i < count; i++) {
		uint16_t id = (uint16_t)(i * 7919 + 1);
		int n = query_build(q, sizeof(q), id, argv[3]);
		long long t0 = now_ns();
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (n < 0 || sendto(fd, q, (size_t)n, 0, (struct sockaddr *)&sa, sizeof(sa)) != n) {
			fprintf(stderr, "bench-dns: sendto: %s\n", strerror(errno));
			ok = 0;
			break;
		}
		t[i] = -1;
		while (poll(&p, 1, 2000) == 1) {
			ssize_t m = recv(fd, a, sizeof(a), 0);

			/* An answer to an earlier query that timed out is skipped. */
			if (m >= 12 && a[0] == q[0] && a[1] == q[1] && (a[3] & 0x0f) == 0) {
				t[i] = now_ns() - t0;
				ok++;
				break;
			}
			if (m < 0)
				break;
		}
	}
	/* Failed queries sort first as -1: drop them from the statistics. */
	qsort(t, (size_t)count, sizeof(*t), cmp_ll);
	if (ok == 0) {
		printf("dns: median_us=0 p90_us=0 ok=0\n");
		close(fd);
		free(t);
		return 1;
	}
	printf("dns: median_us=%lld p90_us=%lld ok=%ld\n", t[count - ok + ok / 2] / 1000,
	       t[count - ok + ok * 9 / 10] / 1000, ok);
	close(fd);
	free(t);
	return ok == count ? 0 : 1;
}
