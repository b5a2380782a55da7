// SPDX-License-Identifier: Apache-2.0
// egress-probe: the socket calls net-probe does not make, for the egress tests: UDP sendto()
// without connect(), sendmmsg(), TCP Fast Open, a TCP connection held open across a policy
// reload, and socket() of a given type. Failures print `<step>: <ERRNO> (<message>)`, exit 1.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "probe-common.h"

static void usage(void)
{
	fprintf(stderr, "usage: egress-probe udp-sendto ADDR PORT MSG [--mmsg]   unconnected UDP, "
			"expects echo\n"
			"       egress-probe tfo ADDR PORT MSG                 "
			"sendto(MSG_FASTOPEN), expects echo\n"
			"       egress-probe hold ADDR PORT FILE               TCP echo, then "
			"again once FILE exists\n"
			"       egress-probe socket inet|inet6 raw|icmp|sctp|tcp|udp\n");
}

static int do_udp_sendto(struct sockaddr_storage *ss, socklen_t len, const char *msg, int mmsg)
{
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return fail("socket", errno);
	if (mmsg) {
		struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
		struct mmsghdr m = { .msg_hdr = { .msg_name = ss,
						  .msg_namelen = len,
						  .msg_iov = &iov,
						  .msg_iovlen = 1 } };

		if (sendmmsg(fd, &m, 1, 0) < 0) {
			r = fail("sendmmsg", errno);
			goto out;
		}
	} else if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)ss, len) < 0) {
		r = fail("sendto", errno);
		goto out;
	}
	printf("sent\n");
	r = expect_reply(fd, msg, 1);
out:
	close(fd);
	return r;
}

static int do_tfo(struct sockaddr_storage *ss, socklen_t len, const char *msg)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return fail("socket", errno);
	if (sendto(fd, msg, strlen(msg), MSG_FASTOPEN, (struct sockaddr *)ss, len) < 0) {
		r = fail("sendto", errno);
		goto out;
	}
	printf("sent\n");
	shutdown(fd, SHUT_WR);
	r = expect_reply(fd, msg, 0);
out:
	close(fd);
	return r;
}

/* One connection: an exchange now, then (once FILE exists, i.e. after the test reloaded the
 * policy) another on the same connection. */
static int do_hold(struct sockaddr_storage *ss, socklen_t len, const char *file)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), r = 0;
	struct stat st;

	if (fd < 0)
		return fail("socket", errno);
	if (connect(fd, (struct sockaddr *)ss, len) < 0) {
		r = fail("connect", errno);
		goto out;
	}
	if (send(fd, "one", 3, MSG_NOSIGNAL) != 3 || (r = expect_reply(fd, "one", 0)) != 0) {
		r = r ? r : fail("send", errno);
		goto out;
	}
	printf("holding\n");
	fflush(stdout);
	for (int i = 0; i < 3000 && stat(file, &st) < 0; i++)
		usleep(10000);
	if (send(fd, "two", 3, MSG_NOSIGNAL) != 3) {
		r = fail("send", errno);
		goto out;
	}
	r = expect_reply(fd, "two", 0);
out:
	close(fd);
	return r;
}

static int do_socket(const char *fam, const char *kind)
{
	int family = !strcmp(fam, "inet6") ? AF_INET6 : AF_INET, type, proto, fd;

	if (!strcmp(kind, "raw")) {
		type = SOCK_RAW;
		proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	} else if (!strcmp(kind, "icmp")) {
		type = SOCK_DGRAM;
		proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	} else if (!strcmp(kind, "sctp")) {
		type = SOCK_STREAM;
		proto = IPPROTO_SCTP;
	} else if (!strcmp(kind, "tcp")) {
		type = SOCK_STREAM;
		proto = 0;
	} else if (!strcmp(kind, "udp")) {
		type = SOCK_DGRAM;
		proto = 0;
	} else {
		usage();
		return EXIT_USAGE;
	}
	fd = socket(family, type | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return fail("socket", errno);
	printf("socket ok\n");
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 4 && !strcmp(argv[1], "socket"))
		return do_socket(argv[2], argv[3]);
	if (argc < 5 || addr_parse(argv[2], argv[3], &ss, &len) < 0) {
		usage();
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "udp-sendto"))
		return do_udp_sendto(&ss, len, argv[4], argc > 5 && !strcmp(argv[5], "--mmsg"));
	if (!strcmp(argv[1], "tfo"))
		return do_tfo(&ss, len, argv[4]);
	if (!strcmp(argv[1], "hold"))
		return do_hold(&ss, len, argv[4]);
	usage();
	return EXIT_USAGE;
}
