// SPDX-License-Identifier: Apache-2.0
// attack-probe: the attacks of docs THREATS.md that need a system call the shell cannot make,
// for tests/attacks/. The suite copies it as the sandbox's "agent" (the binary the policy
// allows) and as "tool" (the same bytes, another inode: not allowed). Every mode prints what
// it reached ("reached", "received: MSG", file contents) or `<step>: <ERRNO> (<message>)` and
// exits 1, so a test can assert the exact refusal.
//
//   tcp HOST PORT [MSG]          connect (names resolved through the system resolver), echo MSG
//   udp-sendto|sendmmsg|udp-connect|tfo ADDR PORT MSG   the other ways to send, expect echo
//   socket FAMILY TYPE PROTO     socket() with numeric arguments
//   uring-connect ADDR PORT MSG  connect through io_uring (IORING_OP_CONNECT), then echo
//   uring-read PATH              open and read a file through io_uring only
//   scm-serve SOCK ADDR PORT     accomplice: connect to ADDR:PORT, pass the socket on SOCK
//   scm-recv SOCK MSG            receive a socket with SCM_RIGHTS and echo MSG through it
//   dns SERVER NAME [tcp]        one A query to SERVER port 53; prints rcode and answers
//   dns-garbage SERVER N         N malformed DNS messages over UDP and TCP to SERVER port 53
//   flood ADDR PORT N            N connect() calls on one TCP socket; counts the answers
//   borrow-wait HOST PORT FLAG   print where its message and destination live, wait for FLAG,
//                                connect to the destination and send the message
//   mem-write PID ADDR STRING    write STRING into PID's memory through /proc/PID/mem
//   openat2 PATH                 openat2 with RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV, read
//   opath-reopen PATH            O_PATH, then reopen /proc/self/fd/N for reading
//   by-handle PATH               name_to_handle_at + open_by_handle_at, read
//   memfd-exec FILE ARG...       run FILE's bytes from a memfd (fexecve)
//   deleted-exec FILE COPY ARG...  copy FILE to COPY, unlink it, run the deleted file
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "probe-common.h"

extern char **environ;

static void usage(void)
{
	fprintf(stderr, "usage: attack-probe MODE ARGS... (modes are listed at the top of "
			"tests/helpers/attack-probe.c)\n");
}

/* Sends msg on a connected socket and expects it back. */
static int echo(int fd, const char *msg, int is_udp)
{
	if (send(fd, msg, strlen(msg), MSG_NOSIGNAL) < 0)
		return fail("send", errno);
	if (!is_udp)
		shutdown(fd, SHUT_WR);
	return expect_reply(fd, msg, is_udp);
}

/* Non-blocking connect bounded by TIMEOUT_MS; returns 0 or a positive errno. */
static int connect_bounded(int fd, const struct sockaddr *sa, socklen_t len)
{
	int flags = fcntl(fd, F_GETFL), err = 0;
	socklen_t elen = sizeof(err);
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return errno;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS)
			return errno;
		if (poll(&p, 1, TIMEOUT_MS) <= 0)
			return ETIMEDOUT;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return errno;
		if (err)
			return err;
	}
	return fcntl(fd, F_SETFL, flags) < 0 ? errno : 0;
}

static int do_tcp(const char *host, const char *port, const char *msg)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int fd, r;

	r = getaddrinfo(host, port, &hints, &res);
	if (r) {
		fprintf(stderr, "getaddrinfo: %s\n",
			r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return EXIT_FAIL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = fail("socket", errno);
		goto out;
	}
	r = connect_bounded(fd, res->ai_addr, res->ai_addrlen);
	if (r) {
		r = fail("connect", r);
		goto out;
	}
	printf("reached\n");
	r = msg ? echo(fd, msg, 0) : 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return r;
}

static int do_send(const char *mode, struct sockaddr_storage *ss, socklen_t len, const char *msg)
{
	int tcp = !strcmp(mode, "tfo");
	int fd = socket(ss->ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0), r;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
	struct mmsghdr m = {
		.msg_hdr = { .msg_name = ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 }
	};

	if (fd < 0)
		return fail("socket", errno);
	if (!strcmp(mode, "udp-connect")) {
		if (connect(fd, (struct sockaddr *)ss, len) < 0) {
			r = fail("connect", errno);
			goto out;
		}
		r = echo(fd, msg, 1);
		goto out;
	}
	if (!strcmp(mode, "sendmmsg")) {
		if (sendmmsg(fd, &m, 1, 0) < 0) {
			r = fail("sendmmsg", errno);
			goto out;
		}
	} else if (sendto(fd, msg, strlen(msg), tcp ? MSG_FASTOPEN : 0, (struct sockaddr *)ss,
			  len) < 0) {
		r = fail("sendto", errno);
		goto out;
	}
	if (tcp)
		shutdown(fd, SHUT_WR);
	r = expect_reply(fd, msg, !tcp);
out:
	close(fd);
	return r;
}

static int do_socket(const char *fam, const char *type, const char *proto)
{
	int fd = socket((int)strtol(fam, NULL, 10), (int)strtol(type, NULL, 10),
			(int)strtol(proto, NULL, 10));

	if (fd < 0)
		return fail("socket", errno);
	printf("socket ok\n");
	close(fd);
	return 0;
}

/* A minimal io_uring: one submission, one completion, no liburing (not a dependency). */
struct uring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int uring_init(struct uring *u)
{
	struct io_uring_params p = { 0 };
	uint8_t *sq, *cq;

	memset(u, 0, sizeof(*u));
	u->fd = (int)syscall(SYS_io_uring_setup, 4, &p);
	if (u->fd < 0)
		return errno ? -errno : -EIO;
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned), PROT_READ | PROT_WRITE,
		  MAP_SHARED, u->fd, IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		  PROT_READ | PROT_WRITE, MAP_SHARED, u->fd, IORING_OFF_CQ_RING);
	u->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED, u->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || u->sqes == MAP_FAILED || !sq || !cq || !u->sqes)
		return errno ? -errno : -EIO;
	u->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	u->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	u->sq_array = (unsigned *)(sq + p.sq_off.array);
	u->cq_head = (unsigned *)(cq + p.cq_off.head);
	u->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	u->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

/* Submits sqe and waits for its completion; returns the completion's res. */
static int uring_run(struct uring *u, const struct io_uring_sqe *sqe)
{
	/* The analyzer loses the non-NULL mmap() results of uring_init across the call. */
	unsigned tail = *u->sq_tail, // NOLINT(clang-analyzer-core.NullDereference)
	    idx = tail & *u->sq_mask, head;
	int res;

	u->sqes[idx] = *sqe;
	u->sq_array[idx] = idx;
	__atomic_store_n(u->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(SYS_io_uring_enter, u->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	head = *u->cq_head;
	if (head == __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	res = u->cqes[head & *u->cq_mask].res;
	__atomic_store_n(u->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static int do_uring_connect(struct sockaddr_storage *ss, socklen_t len, const char *msg)
{
	struct uring u;
	struct io_uring_sqe sqe = { .opcode = IORING_OP_CONNECT };
	int fd, r = uring_init(&u);

	if (r < 0)
		return fail("io_uring_setup", -r);
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket", errno);
	sqe.fd = fd;
	sqe.addr = (uintptr_t)ss;
	sqe.off = len;
	r = uring_run(&u, &sqe);
	if (r < 0)
		return fail("io_uring connect", -r);
	printf("reached\n");
	return echo(fd, msg, 0);
}

static int do_uring_read(const char *path)
{
	struct uring u;
	struct io_uring_sqe sqe = { .opcode = IORING_OP_OPENAT, .fd = AT_FDCWD };
	char buf[REPLY_MAX + 1];
	int fd, r = uring_init(&u);

	if (r < 0)
		return fail("io_uring_setup", -r);
	sqe.addr = (uintptr_t)path;
	sqe.open_flags = O_RDONLY;
	fd = uring_run(&u, &sqe);
	if (fd < 0)
		return fail("io_uring openat", -fd);
	sqe = (struct io_uring_sqe){ .opcode = IORING_OP_READ, .fd = fd };
	sqe.addr = (uintptr_t)buf;
	sqe.len = REPLY_MAX;
	r = uring_run(&u, &sqe);
	if (r < 0)
		return fail("io_uring read", -r);
	fwrite(buf, 1, (size_t)r, stdout);
	return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

/* The accomplice outside the sandbox: one connection, one descriptor handed over. */
static int do_scm_serve(const char *path, struct sockaddr_storage *ss, socklen_t len)
{
	struct sockaddr_un sun;
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), c, t, r;
	char byte = 'F', ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	if (l < 0 || unix_addr(path, &sun) < 0)
		return fail("socket", errno);
	unlink(path);
	if (bind(l, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0666) < 0 ||
	    listen(l, 1) < 0)
		return fail("listen", errno);
	printf("listening\n");
	fflush(stdout);
	c = accept(l, NULL, NULL);
	if (c < 0)
		return fail("accept", errno);
	t = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t < 0 || (r = connect_bounded(t, (struct sockaddr *)ss, len)) != 0)
		return fail("connect", t < 0 ? errno : r);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &t, sizeof(int));
	if (sendmsg(c, &mh, 0) < 0)
		return fail("sendmsg", errno);
	printf("passed\n");
	return 0;
}

static int do_scm_recv(const char *path, const char *msg)
{
	struct sockaddr_un sun;
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), fd;
	char byte, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};
	struct cmsghdr *cm;

	if (c < 0 || unix_addr(path, &sun) < 0)
		return fail("socket", errno);
	if (connect(c, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return fail("connect unix", errno);
	if (recvmsg(c, &mh, 0) <= 0)
		return fail("recvmsg", errno ? errno : EPIPE);
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return fail("recvmsg", EBADMSG);
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	printf("got socket\n");
	return echo(fd, msg, 0);
}

/* One A query for name, id 0x05a5, recursion desired. Returns the message length or -1. */
static int dns_query(const char *name, unsigned char *q, size_t cap)
{
	size_t n = 12;
	const char *p = name;

	memset(q, 0, 12);
	q[0] = 0x05, q[1] = 0xa5, q[2] = 0x01, q[5] = 1;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		if (l == 0 || l > 63 || n + l + 6 > cap)
			return -1;
		q[n++] = (unsigned char)l;
		memcpy(q + n, p, l);
		n += l;
		p += l + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = 0, q[n++] = 1; /* A */
	q[n++] = 0, q[n++] = 1; /* IN */
	return (int)n;
}

/* Prints "rcode N" and every A record of the answer; exit 0 only for NOERROR with answers. */
static int dns_print(const unsigned char *a, size_t n, size_t qlen)
{
	unsigned an, i, found = 0;
	size_t off = qlen;

	if (n < 12)
		return fail("dns", EBADMSG);
	printf("rcode %u\n", (unsigned)(a[3] & 0xf));
	an = (unsigned)a[6] << 8 | a[7];
	for (i = 0; i < an && off + 12 <= n; i++) {
		unsigned type, rdlen;

		/* our names are short: the answer's owner is a pointer or the full name */
		if ((a[off] & 0xc0) == 0xc0) {
			off += 2;
		} else {
			while (off < n && a[off])
				off += a[off] + 1U;
			off++;
		}
		if (off + 10 > n)
			break;
		type = (unsigned)a[off] << 8 | a[off + 1];
		rdlen = (unsigned)a[off + 8] << 8 | a[off + 9];
		off += 10;
		if (off + rdlen > n)
			break;
		if (type == 1 && rdlen == 4) {
			printf("answer %u.%u.%u.%u\n", a[off], a[off + 1], a[off + 2], a[off + 3]);
			found++;
		}
		off += rdlen;
	}
	return (a[3] & 0xf) == 0 && found ? 0 : EXIT_FAIL;
}

static int do_dns(const char *server, const char *name, int tcp)
{
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned char q[600], a[REPLY_MAX];
	int qlen = dns_query(name, q + 2, sizeof(q) - 2), fd, r;
	ssize_t n;
	struct pollfd p;

	if (qlen < 0 || addr_parse(server, "53", &ss, &len) < 0) {
		usage();
		return EXIT_USAGE;
	}
	fd = socket(ss.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket", errno);
	if (tcp) {
		r = connect_bounded(fd, (struct sockaddr *)&ss, len);
		if (r)
			return fail("connect", r);
		q[0] = (unsigned char)(qlen >> 8), q[1] = (unsigned char)qlen;
		if (send(fd, q, (size_t)qlen + 2, MSG_NOSIGNAL) < 0)
			return fail("send", errno);
	} else if (sendto(fd, q + 2, (size_t)qlen, 0, (struct sockaddr *)&ss, len) < 0) {
		return fail("sendto", errno);
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, TIMEOUT_MS) <= 0)
		return fail("recv", ETIMEDOUT);
	if (tcp) {
		/* the length prefix, then exactly that much: the server may keep the connection */
		size_t want;

		n = recv(fd, a, 2, MSG_WAITALL);
		if (n != 2)
			return fail("recv", n < 0 ? errno : EBADMSG);
		want = (size_t)a[0] << 8 | a[1];
		if (want > sizeof(a))
			return fail("recv", EMSGSIZE);
		n = recv(fd, a, want, MSG_WAITALL);
	} else {
		n = recv(fd, a, sizeof(a), 0);
	}
	if (n < 0)
		return fail("recv", errno);
	close(fd);
	return dns_print(a, (size_t)n, (size_t)qlen);
}

/* Malformed messages, each its own datagram or TCP message: short headers, a label running past
 * the end, a compression pointer to itself, huge counts, random bytes. */
static int do_dns_garbage(const char *server, long count)
{
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned char m[512];
	unsigned seed = 7;
	long i, sent = 0;
	int u;

	if (addr_parse(server, "53", &ss, &len) < 0 || count <= 0) {
		usage();
		return EXIT_USAGE;
	}
	u = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u < 0)
		return fail("socket", errno);
	for (i = 0; i < count; i++) {
		size_t n = 12 + (size_t)(rand_r(&seed) % 200);

		for (size_t k = 0; k < n; k++)
			m[k] = (unsigned char)rand_r(&seed);
		switch (i % 5) {
		case 0: /* header only, or shorter */
			n = (size_t)(i % 13);
			break;
		case 1: /* one question whose label runs past the end */
			m[4] = 0, m[5] = 1, m[12] = 63;
			n = 20;
			break;
		case 2: /* a compression pointer to itself */
			m[4] = 0, m[5] = 1, m[12] = 0xc0, m[13] = 12;
			n = 18;
			break;
		case 3: /* 65535 questions, answers and additional records announced */
			memset(m + 4, 0xff, 8);
			break;
		default:
			break;
		}
		if (sendto(u, m, n, 0, (struct sockaddr *)&ss, len) >= 0)
			sent++;
		if (i % 50 == 0) { /* TCP: a length prefix that lies */
			int t = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

			if (t >= 0 && connect_bounded(t, (struct sockaddr *)&ss, len) == 0) {
				unsigned char pre[2] = { 0xff, 0xff };

				(void)send(t, pre, 2, MSG_NOSIGNAL);
				(void)send(t, m, n, MSG_NOSIGNAL);
			}
			if (t >= 0)
				close(t);
		}
	}
	close(u);
	printf("sent %ld\n", sent);
	return 0;
}

/* connect() again and again on one socket: a denied attempt leaves it unconnected. */
static int do_flood(struct sockaddr_storage *ss, socklen_t len, long count)
{
	long i, eperm = 0, other = 0, connected = 0;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timespec t0, t1;

	if (fd < 0)
		return fail("socket", errno);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < count; i++) {
		if (connect(fd, (struct sockaddr *)ss, len) == 0) {
			connected++;
			close(fd);
			fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0)
				return fail("socket", errno);
		} else if (errno == EPERM) {
			eperm++;
		} else {
			other++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("eperm=%ld other=%ld connected=%ld seconds=%.2f\n", eperm, other, connected,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return connected ? EXIT_FAIL : 0;
}

/* The allowed binary, waiting: another process may rewrite what it sends, and where, through
 * /proc/PID/mem. */
static char borrow_msg[64] = "hello-from-agent";
static char borrow_dst[64];

static int do_borrow_wait(const char *host, const char *port, const char *flag)
{
	struct stat st;

	snprintf(borrow_dst, sizeof(borrow_dst), "%s", host);
	printf("pid %d msg %p dst %p\n", getpid(), (void *)borrow_msg, (void *)borrow_dst);
	fflush(stdout);
	for (int i = 0; i < 1000 && stat(flag, &st) < 0; i++)
		usleep(10000);
	printf("sending %s to %s\n", borrow_msg, borrow_dst);
	return do_tcp(borrow_dst, port, borrow_msg);
}

static int do_mem_write(const char *pid, const char *addr, const char *s)
{
	char path[64];
	unsigned long a = strtoul(addr, NULL, 0);
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/mem", pid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail("open mem", errno);
	if (pwrite(fd, s, strlen(s) + 1, (off_t)a) < 0)
		return fail("pwrite mem", errno);
	printf("written\n");
	close(fd);
	return 0;
}

static int cat_fd(int fd, const char *step)
{
	char buf[REPLY_MAX];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return fail(step, errno);
	fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	return 0;
}

static int do_openat2(const char *path)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC,
				.resolve = RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV };
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

	if (fd < 0)
		return fail("openat2", errno);
	return cat_fd(fd, "read");
}

static int do_opath_reopen(const char *path)
{
	char proc[64];
	int p = open(path, O_PATH | O_CLOEXEC), fd;

	if (p < 0)
		return fail("open O_PATH", errno);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", p);
	fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("reopen", errno);
	return cat_fd(fd, "read");
}

static int do_by_handle(const char *path)
{
	struct {
		struct file_handle fh;
		unsigned char buf[MAX_HANDLE_SZ];
	} h = { .fh.handle_bytes = MAX_HANDLE_SZ };
	int mnt, fd;

	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mnt, 0) < 0)
		return fail("name_to_handle_at", errno);
	/* Any descriptor on the same filesystem names the mount: the working directory. */
	fd = open_by_handle_at(AT_FDCWD, &h.fh, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("open_by_handle_at", errno);
	return cat_fd(fd, "read");
}

static int copy_into(int src, int dst)
{
	struct stat st;

	if (fstat(src, &st) < 0)
		return -errno;
	for (off_t off = 0; off < st.st_size;) {
		ssize_t n = sendfile(dst, src, &off, (size_t)(st.st_size - off));

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
	}
	return 0;
}

static int do_memfd_exec(char **argv)
{
	int src = open(argv[0], O_RDONLY | O_CLOEXEC), m, r;

	if (src < 0)
		return fail("open", errno);
	m = memfd_create("agent", MFD_CLOEXEC);
	if (m < 0)
		return fail("memfd_create", errno);
	if ((r = copy_into(src, m)) < 0)
		return fail("copy", -r);
	fexecve(m, argv, environ);
	return fail("fexecve", errno);
}

static int do_deleted_exec(const char *file, char **argv)
{
	const char *copy = argv[0];
	int src = open(file, O_RDONLY | O_CLOEXEC), dst, r;

	if (src < 0)
		return fail("open", errno);
	dst = open(copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (dst < 0)
		return fail("create", errno);
	if ((r = copy_into(src, dst)) < 0)
		return fail("copy", -r);
	close(dst);
	/* Opened for execution, then the name goes: the file exists only through this fd. */
	dst = open(copy, O_PATH | O_CLOEXEC);
	if (dst < 0)
		return fail("open", errno);
	if (unlink(copy) < 0)
		return fail("unlink", errno);
	syscall(SYS_execveat, dst, "", argv, environ, AT_EMPTY_PATH);
	return fail("execveat", errno);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *m = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(m, "tcp") && (argc == 4 || argc == 5))
		return do_tcp(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	if (!strcmp(m, "socket") && argc == 5)
		return do_socket(argv[2], argv[3], argv[4]);
	if (!strcmp(m, "uring-read") && argc == 3)
		return do_uring_read(argv[2]);
	if (!strcmp(m, "scm-recv") && argc == 4)
		return do_scm_recv(argv[2], argv[3]);
	if (!strcmp(m, "dns") && (argc == 4 || argc == 5))
		return do_dns(argv[2], argv[3], argc == 5 && !strcmp(argv[4], "tcp"));
	if (!strcmp(m, "dns-garbage") && argc == 4)
		return do_dns_garbage(argv[2], strtol(argv[3], NULL, 10));
	if (!strcmp(m, "borrow-wait") && argc == 5)
		return do_borrow_wait(argv[2], argv[3], argv[4]);
	if (!strcmp(m, "mem-write") && argc == 5)
		return do_mem_write(argv[2], argv[3], argv[4]);
	if (!strcmp(m, "openat2") && argc == 3)
		return do_openat2(argv[2]);
	if (!strcmp(m, "opath-reopen") && argc == 3)
		return do_opath_reopen(argv[2]);
	if (!strcmp(m, "by-handle") && argc == 3)
		return do_by_handle(argv[2]);
	if (!strcmp(m, "memfd-exec") && argc >= 3)
		return do_memfd_exec(argv + 2);
	if (!strcmp(m, "deleted-exec") && argc >= 4)
		return do_deleted_exec(argv[2], argv + 3);
	if (argc >= 4 && addr_parse(argv[2], argv[3], &ss, &len) == 0) {
		if (argc == 5 && (!strcmp(m, "udp-sendto") || !strcmp(m, "sendmmsg") ||
				  !strcmp(m, "udp-connect") || !strcmp(m, "tfo")))
			return do_send(m, &ss, len, argv[4]);
		if (!strcmp(m, "uring-connect") && argc == 5)
			return do_uring_connect(&ss, len, argv[4]);
		if (!strcmp(m, "flood") && argc == 5)
			return do_flood(&ss, len, strtol(argv[4], NULL, 10));
	}
	if (!strcmp(m, "scm-serve") && argc == 5 && addr_parse(argv[3], argv[4], &ss, &len) == 0)
		return do_scm_serve(argv[2], &ss, len);
	usage();
	return EXIT_USAGE;
}
