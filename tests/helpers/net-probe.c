// SPDX-License-Identifier: Apache-2.0
// net-probe: the client end-to-end tests drive. One TCP or UDP exchange, or one name lookup,
// reported so that a test can assert the exact errno (`connect: EPERM`) instead of an exit code.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#define PROBE_EXIT_FAIL	    1
#define PROBE_EXIT_MISMATCH 2
#define PROBE_EXIT_USAGE    64
#define PROBE_MAX_REPLY	    4096

struct probe_opts {
	const char *mode;
	const char *host;
	const char *port;
	const char *send;
	const char *expect;
	int family;
	int timeout_ms;
};

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: net-probe tcp|udp ADDR PORT [--send STR] [--expect STR] [--timeout SEC] "
	    "[-4|-6]\n"
	    "       net-probe resolve NAME [-4|-6]\n"
	    "On failure prints `<step>: <ERRNO> (<message>)` on stderr and exits 1; a reply that\n"
	    "differs from --expect exits 2.\n");
}

/* Prints the failing step and the errno by name so tests can match it exactly. */
static int report_errno(const char *step, int err)
{
	const char *name = strerrorname_np(err);

	fprintf(stderr, "%s: %s (%s)\n", step, name ? name : "EUNKNOWN", strerror(err));
	return PROBE_EXIT_FAIL;
}

static const char *eai_name(int r)
{
	switch (r) {
	case EAI_NONAME:
		return "EAI_NONAME";
	case EAI_AGAIN:
		return "EAI_AGAIN";
	case EAI_FAIL:
		return "EAI_FAIL";
	case EAI_NODATA:
		return "EAI_NODATA";
	case EAI_FAMILY:
		return "EAI_FAMILY";
	case EAI_SERVICE:
		return "EAI_SERVICE";
	case EAI_MEMORY:
		return "EAI_MEMORY";
	case EAI_SYSTEM:
		return "EAI_SYSTEM";
	default:
		return "EAI_UNKNOWN";
	}
}

/* Waits for @events on @fd; returns 0, -ETIMEDOUT or another negative errno. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	do {
		r = poll(&pfd, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return 0;
}

/* Non-blocking connect bounded by the timeout, so a black-holed address cannot hang a test. */
static int connect_bounded(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int flags = fcntl(fd, F_GETFL);
	int err = 0;
	socklen_t errlen = sizeof(err);
	int r;

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, sa, len) == 0)
		goto out;
	if (errno != EINPROGRESS)
		return -errno;
	r = wait_fd(fd, POLLOUT, timeout_ms);
	if (r < 0)
		return r;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
		return -errno;
	if (err != 0)
		return -err;
out:
	if (fcntl(fd, F_SETFL, flags) < 0)
		return -errno;
	return 0;
}

static int probe_resolve(const struct probe_opts *o)
{
	struct addrinfo hints = { .ai_family = o->family, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL, *ai;
	char buf[INET6_ADDRSTRLEN];
	int r;

	r = getaddrinfo(o->host, NULL, &hints, &res);
	if (r != 0) {
		if (r == EAI_SYSTEM)
			return report_errno("getaddrinfo", errno);
		fprintf(stderr, "getaddrinfo: %s (%s)\n", eai_name(r), gai_strerror(r));
		return PROBE_EXIT_FAIL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		const void *a =
		    ai->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;

		if (inet_ntop(ai->ai_family, a, buf, sizeof(buf)))
			printf("%s\n", buf);
	}
	freeaddrinfo(res);
	return 0;
}

/* One connect, optional send, optional reply check. Numeric addresses never touch DNS. */
static int probe_exchange(const struct probe_opts *o)
{
	bool udp = strcmp(o->mode, "udp") == 0;
	struct addrinfo hints = {
		.ai_family = o->family,
		.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM,
	};
	struct addrinfo *res = NULL;
	char reply[PROBE_MAX_REPLY + 1];
	size_t got = 0, want;
	int fd = -1, r, ret;

	r = getaddrinfo(o->host, o->port, &hints, &res);
	if (r != 0) {
		if (r == EAI_SYSTEM)
			return report_errno("getaddrinfo", errno);
		fprintf(stderr, "getaddrinfo: %s (%s)\n", eai_name(r), gai_strerror(r));
		return PROBE_EXIT_FAIL;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	if (fd < 0) {
		ret = report_errno("socket", errno);
		goto out;
	}
	r = connect_bounded(fd, res->ai_addr, res->ai_addrlen, o->timeout_ms);
	if (r < 0) {
		ret = report_errno("connect", -r);
		goto out;
	}
	printf("connected\n");
	if (o->send) {
		ssize_t n = send(fd, o->send, strlen(o->send), MSG_NOSIGNAL);

		if (n < 0) {
			ret = report_errno("send", errno);
			goto out;
		}
		/* TCP: say we are done so an echo server may close after echoing. */
		if (!udp && shutdown(fd, SHUT_WR) < 0) {
			ret = report_errno("shutdown", errno);
			goto out;
		}
	}
	if (!o->expect) {
		ret = 0;
		goto out;
	}
	want = strlen(o->expect);
	if (want > PROBE_MAX_REPLY) {
		fprintf(stderr, "net-probe: --expect longer than %d bytes\n", PROBE_MAX_REPLY);
		ret = PROBE_EXIT_USAGE;
		goto out;
	}
	/* UDP: one datagram is the reply. TCP: read until the expected length or EOF. */
	while (got < want) {
		ssize_t n;

		r = wait_fd(fd, POLLIN, o->timeout_ms);
		if (r < 0) {
			ret = report_errno("recv", -r);
			goto out;
		}
		n = recv(fd, reply + got, PROBE_MAX_REPLY - got, 0);
		if (n < 0) {
			ret = report_errno("recv", errno);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (udp)
			break;
	}
	reply[got] = '\0';
	printf("received: %s\n", reply);
	if (got != want || memcmp(reply, o->expect, want) != 0) {
		fprintf(stderr, "recv: reply mismatch: expected '%s', got '%s'\n", o->expect,
			reply);
		ret = PROBE_EXIT_MISMATCH;
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return ret;
}

int main(int argc, char **argv)
{
	struct probe_opts o = { .family = AF_UNSPEC, .timeout_ms = 5000 };
	int pos = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-4") == 0) {
			o.family = AF_INET;
		} else if (strcmp(a, "-6") == 0) {
			o.family = AF_INET6;
		} else if ((strcmp(a, "--send") == 0 || strcmp(a, "--expect") == 0 ||
			    strcmp(a, "--timeout") == 0) &&
			   i + 1 < argc) {
			const char *v = argv[++i];

			if (strcmp(a, "--send") == 0) {
				o.send = v;
			} else if (strcmp(a, "--expect") == 0) {
				o.expect = v;
			} else {
				char *end;
				long s = strtol(v, &end, 10);

				if (*end != '\0' || s <= 0 || s > 600) {
					usage();
					return PROBE_EXIT_USAGE;
				}
				o.timeout_ms = (int)s * 1000;
			}
		} else if ((a[0] != '-' || a[1] == '\0') && pos < 3) {
			/* Positional: MODE, then ADDR (or NAME), then PORT. */
			const char **slot[] = { &o.mode, &o.host, &o.port };

			*slot[pos++] = a;
		} else {
			usage();
			return PROBE_EXIT_USAGE;
		}
	}
	/* stdout is a pipe under bats; keep the order of stdout and stderr lines. */
	setvbuf(stdout, NULL, _IONBF, 0);
	if (o.mode && strcmp(o.mode, "resolve") == 0 && pos == 2)
		return probe_resolve(&o);
	if (o.mode && (strcmp(o.mode, "tcp") == 0 || strcmp(o.mode, "udp") == 0) && pos == 3)
		return probe_exchange(&o);
	usage();
	return PROBE_EXIT_USAGE;
}
