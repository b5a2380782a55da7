// SPDX-License-Identifier: Apache-2.0
// connect-loop: connects to each ADDR:PORT in turn, over and over, and keeps a tally per
// target (connected, EPERM, other errors and of those the timeouts) in OUTFILE, rewritten
// atomically after every round. The restart and fault tests run it inside a sandbox while oshd
// is killed, restarted or loses its pins: the tally shows whether enforcement ever lapsed. Stops on SIGTERM/SIGINT or when STOPFILE exists.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 16
#define TIMEOUT_MS  1000

struct target {
	struct sockaddr_in sa;
	char text[64];
	unsigned long ok, eperm, other;
	/* Of other: no answer within TIMEOUT_MS (a busy machine's echo server can be that slow,
	 * while a policy decision is immediate), and the last other errno. */
	unsigned long timeout;
	int last_errno, other_errno;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

/* 0 when connected, else the errno of connect() (or ETIMEDOUT). */
static int try_connect(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;
	socklen_t len = sizeof(err);
	struct pollfd p;

	if (fd < 0)
		return errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		goto out;
	if (errno != EINPROGRESS) {
		err = errno;
		goto out;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, TIMEOUT_MS) <= 0)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
out:
	close(fd);
	return err;
}

static int write_tally(const char *path, const struct target *t, size_t n, unsigned long rounds)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "rounds %lu\n", rounds);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s ok=%lu eperm=%lu other=%lu timeout=%lu last=%s other_last=%s\n",
			t[i].text, t[i].ok, t[i].eperm, t[i].other, t[i].timeout,
			t[i].last_errno ? strerrorname_np(t[i].last_errno) : "0",
			t[i].other_errno ? strerrorname_np(t[i].other_errno) : "0");
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct target t[MAX_TARGETS];
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned long rounds = 0;
	size_t n = 0;

	if (argc < 4 || argc - 3 > MAX_TARGETS) {
		fprintf(stderr, "usage: connect-loop OUTFILE STOPFILE ADDR:PORT...\n");
		return 64;
	}
	for (int i = 3; i < argc; i++, n++) {
		char addr[48], *end;
		const char *colon = strrchr(argv[i], ':');
		long port;

		memset(&t[n], 0, sizeof(t[n]));
		if (!colon || (size_t)(colon - argv[i]) >= sizeof(addr)) {
			fprintf(stderr, "connect-loop: %s: expected ADDR:PORT\n", argv[i]);
			return 64;
		}
		memcpy(addr, argv[i], (size_t)(colon - argv[i]));
		addr[colon - argv[i]] = '\0';
		t[n].sa.sin_family = AF_INET;
		port = strtol(colon + 1, &end, 10);
		if (*end || port < 1 || port > 65535) {
			fprintf(stderr, "connect-loop: %s: expected a port 1-65535\n", argv[i]);
			return 64;
		}
		t[n].sa.sin_port = htons((unsigned short)port);
		if (inet_pton(AF_INET, addr, &t[n].sa.sin_addr) != 1) {
			fprintf(stderr, "connect-loop: %s: not an IPv4 address\n", addr);
			return 64;
		}
		snprintf(t[n].text, sizeof(t[n].text), "%s", argv[i]);
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stop && access(argv[2], F_OK) != 0) {
		for (size_t i = 0; i < n; i++) {
			int err = try_connect(&t[i].sa);

			t[i].last_errno = err;
			if (!err)
				t[i].ok++;
			else if (err == EPERM)
				t[i].eperm++;
			else {
				t[i].other++;
				t[i].other_errno = err;
				t[i].timeout += err == ETIMEDOUT;
			}
		}
		rounds++;
		if (write_tally(argv[1], t, n, rounds) < 0) {
			perror("connect-loop: tally");
			return 1;
		}
		usleep(2000);
	}
	return 0;
}
