// SPDX-License-Identifier: Apache-2.0
// What the probe helpers (egress-probe, attack-probe) share: the failure line the tests match,
// numeric address parsing and reading an expected echo. Header-only: each helper is one
// program built from one .c file.
#ifndef OSH_TESTS_PROBE_COMMON_H
#define OSH_TESTS_PROBE_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define EXIT_FAIL     1
#define EXIT_MISMATCH 2
#define EXIT_USAGE    64
#define REPLY_MAX     4096
#define TIMEOUT_MS    3000

/* `<step>: <ERRNO> (<message>)` on stderr, the line the tests assert. */
static inline int fail(const char *step, int err)
{
	const char *name = strerrorname_np(err);

	fprintf(stderr, "%s: %s (%s)\n", step, name ? name : "EUNKNOWN", strerror(err));
	return EXIT_FAIL;
}

static inline int addr_parse(const char *host, const char *port, struct sockaddr_storage *ss,
			     socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	long p = strtol(port, NULL, 10);

	memset(ss, 0, sizeof(*ss));
	if (p <= 0 || p > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

/* Reads until the reply is as long as want (TCP) or one datagram (UDP), and compares. */
static inline int expect_reply(int fd, const char *want, int is_udp)
{
	char buf[REPLY_MAX + 1];
	size_t got = 0, n = strlen(want);
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (got < n) {
		ssize_t k;
		int r = poll(&p, 1, TIMEOUT_MS);

		if (r == 0)
			return fail("recv", ETIMEDOUT);
		if (r < 0)
			return fail("poll", errno);
		k = recv(fd, buf + got, REPLY_MAX - got, 0);
		if (k < 0)
			return fail("recv", errno);
		if (k == 0)
			break;
		got += (size_t)k;
		if (is_udp)
			break;
	}
	buf[got] = '\0';
	printf("received: %s\n", buf);
	if (got != n || memcmp(buf, want, n)) {
		fprintf(stderr, "recv: reply mismatch: expected '%s', got '%s'\n", want, buf);
		return EXIT_MISMATCH;
	}
	return 0;
}

#endif
