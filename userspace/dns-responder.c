// SPDX-License-Identifier: Apache-2.0
// osh's DNS responder (dns-responder.h, docs/arch-dns.md): sockets and the event loop around
// dns-msg.c. One epoll set holds the listeners, the TCP clients, one socket per query in flight
// and a timerfd for deadlines, so a caller only ever waits on one descriptor.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "dns-msg.h"
#include "dns-responder.h"

#define DEF_TIMEOUT_MS	  2000
#define DEF_MAX_INFLIGHT  256
#define DEF_MAX_TCP	  64
#define DEF_TCP_IDLE_MS	  10000
#define DEF_TTL_MIN	  5
#define DEF_TTL_MAX	  3600
#define MAX_TCP_PENDING	  16	      /* queries in flight per TCP client */
#define MAX_TCP_OUT	  (256 << 10) /* unread replies buffered per TCP client */
#define MAX_UDP_PER_EVENT 64	      /* datagrams read per wakeup, for fairness */
#define MAX_EVENTS	  32
#define TCP_FRAME	  (2 + OSH_DNS_MAX_MSG)
#define REPLY_ERR_CAP	  (OSH_DNS_HEADER_LEN + OSH_DNS_MAX_WIRE_NAME + 4)
#define BIND_ATTEMPTS	  32

enum ev_kind {
	EV_TIMER = 1,
	EV_UDP = 2,
	EV_TCP_LISTEN = 3,
	EV_TCP_CLIENT = 4,
	EV_UPSTREAM = 5,
};

/* epoll data: kind, index and generation, so an event for a slot that was freed (and maybe
 * reused) earlier in the same batch is recognised and ignored. */
#define EV(kind, idx, gen) ((uint64_t)(kind) << 56 | (uint64_t)(idx) << 32 | (uint64_t)(gen))
#define EV_KIND(u)	   ((int)((u) >> 56))
#define EV_IDX(u)	   ((size_t)(((u) >> 32) & 0xffffff))
#define EV_GEN(u)	   ((uint32_t)(u))

struct listener {
	int udp;
	int tcp;
	struct sockaddr_storage udp_addr;
	struct sockaddr_storage tcp_addr;
};

/* Where a reply goes. */
struct client_ref {
	int proto; /* IPPROTO_UDP or IPPROTO_TCP */
	size_t listener;
	size_t conn;
	uint32_t conn_gen;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

/* A TCP client; allocated on accept, freed on close (idle sandboxes hold none). */
struct tcp_conn {
	int fd;
	uint32_t gen;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint8_t *in; /* TCP_FRAME bytes */
	size_t in_len;
	uint8_t *out;
	size_t out_len;
	size_t out_cap;
	unsigned pending;
	uint64_t deadline;
};

/* A query in flight upstream; allocated when forwarded, freed when done. */
struct slot {
	uint32_t gen;
	struct client_ref client;
	struct osh_dns_query q;
	uint16_t up_id;
	int up_proto;
	int fd;
	uint8_t *msg; /* query to send (TCP: with its length prefix) */
	size_t msg_len;
	size_t sent;
	uint8_t *in; /* TCP answer being read */
	size_t in_len;
	uint64_t deadline;
};

struct osh_dns_responder {
	struct osh_dns_config cfg;
	struct osh_dns_callbacks cb;
	const struct osh_policy_image *img;
	int epfd;
	int tfd;
	struct listener ls[OSH_DNS_MAX_LISTEN];
	size_t n_ls;
	/* max_tcp_clients and max_inflight pointers, NULL when free. The arrays themselves are
	 * allocated on first use and the entries per use: a daemon runs one responder per sandbox,
	 * most of them idle, so a responder costs little until it has work. */
	struct tcp_conn **conns;
	struct slot **slots;
	uint32_t gen_seq; /* generation of the next slot or connection */
	uint64_t armed;
	struct osh_dns_stats st;
	uint16_t id_seq;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int ep_add(struct osh_dns_responder *r, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	return epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int ep_mod(struct osh_dns_responder *r, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	return epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

static socklen_t sa_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static uint16_t sa_port(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	if (a->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return 0;
}

static void sa_set_port(struct sockaddr_storage *a, uint16_t port)
{
	if (a->ss_family == AF_INET)
		((struct sockaddr_in *)a)->sin_port = htons(port);
	else if (a->ss_family == AF_INET6)
		((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

/* IPv4-mapped IPv6 becomes IPv4: the upstream socket is then a plain IPv4 one. */
static void sa_normalize(struct sockaddr_storage *a)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a;
	struct sockaddr_in s4 = { .sin_family = AF_INET };

	if (a->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(a, 0, sizeof(*a));
	memcpy(a, &s4, sizeof(s4));
}

/* Same address and port; an unspecified listener address matches any address. */
static bool sa_same(const struct sockaddr_storage *listener, const struct sockaddr_storage *b)
{
	if (listener->ss_family != b->ss_family || sa_port(listener) != sa_port(b))
		return false;
	if (b->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)listener, *y = (const void *)b;

		return x->sin_addr.s_addr == INADDR_ANY || x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (b->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)listener, *y = (const void *)b;

		return IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) ||
		       IN6_ARE_ADDR_EQUAL(&x->sin6_addr, &y->sin6_addr);
	}
	return false;
}

/* ---- listeners ---- */

static int sock_bound(int family, int type, const struct sockaddr_storage *addr)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, r;

	if (fd < 0)
		return -errno;
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)addr, sa_len(addr)) < 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, 64) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

/* Binds UDP and TCP on one port (the one the kernel picks for UDP when the port is 0). */
static int listener_open(struct listener *l, const struct sockaddr_storage *want)
{
	struct sockaddr_storage a = *want;
	socklen_t len;
	int r = -EADDRINUSE;

	l->udp = l->tcp = -1;
	if (a.ss_family != AF_INET && a.ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	for (int i = 0; i < BIND_ATTEMPTS; i++) {
		a = *want;
		r = sock_bound(a.ss_family, SOCK_DGRAM, &a);
		if (r < 0)
			return r;
		l->udp = r;
		len = sizeof(l->udp_addr);
		if (getsockname(l->udp, (struct sockaddr *)&l->udp_addr, &len) < 0)
			goto fail;
		sa_set_port(&a, sa_port(&l->udp_addr));
		r = sock_bound(a.ss_family, SOCK_STREAM, &a);
		if (r >= 0) {
			l->tcp = r;
			len = sizeof(l->tcp_addr);
			if (getsockname(l->tcp, (struct sockaddr *)&l->tcp_addr, &len) < 0)
				goto fail;
			return 0;
		}
		close(l->udp);
		l->udp = -1;
		/* Another process holds this port for TCP: only a chosen port may be retried. */
		if (r != -EADDRINUSE || sa_port(want) != 0)
			return r;
	}
	return r;
fail:
	r = -errno;
	if (l->tcp >= 0)
		close(l->tcp);
	close(l->udp);
	l->udp = l->tcp = -1;
	return r;
}

/* ---- replies ---- */

/* Connection i if it is still the one of generation gen. */
static struct tcp_conn *conn_at(const struct osh_dns_responder *r, size_t i, uint32_t gen)
{
	struct tcp_conn *c = r->conns ? r->conns[i] : NULL;

	return c && c->gen == gen ? c : NULL;
}

static void conn_close(struct osh_dns_responder *r, size_t i)
{
	struct tcp_conn *c = r->conns ? r->conns[i] : NULL;

	if (!c)
		return;
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	r->conns[i] = NULL;
}

static void conn_flush(struct osh_dns_responder *r, size_t i)
{
	struct tcp_conn *c = r->conns[i];
	ssize_t n;

	while (c->out_len) {
		n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_close(r, i);
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	if (ep_mod(r, c->fd, EPOLLIN | (c->out_len ? EPOLLOUT : 0), EV(EV_TCP_CLIENT, i, c->gen)) <
	    0)
		conn_close(r, i);
}

static void send_reply(struct osh_dns_responder *r, const struct client_ref *to, const uint8_t *msg,
		       size_t len)
{
	struct tcp_conn *c;

	if (to->proto == IPPROTO_UDP) {
		/* A client that went away is not the responder's failure. */
		(void)!sendto(r->ls[to->listener].udp, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL,
			      (const struct sockaddr *)&to->addr, to->addrlen);
		return;
	}
	c = conn_at(r, to->conn, to->conn_gen);
	if (!c || len > OSH_DNS_MAX_MSG)
		return;
	if (c->out_len + 2 + len > MAX_TCP_OUT) {
		/* The client does not read its answers. */
		conn_close(r, to->conn);
		return;
	}
	if (c->out_cap < c->out_len + 2 + len) {
		size_t cap = c->out_len + 2 + len + 4096;
		uint8_t *p = realloc(c->out, cap);

		if (!p) {
			conn_close(r, to->conn);
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	c->out[c->out_len] = (uint8_t)(len >> 8);
	c->out[c->out_len + 1] = (uint8_t)len;
	memcpy(c->out + c->out_len + 2, msg, len);
	c->out_len += 2 + len;
	conn_flush(r, to->conn);
}

static void reply_rcode(struct osh_dns_responder *r, const struct client_ref *to,
			const struct osh_dns_query *q, uint8_t rcode)
{
	uint8_t out[REPLY_ERR_CAP];
	int n = osh_dns_reply_error(q, rcode, false, out, sizeof(out));

	if (rcode == OSH_DNS_RCODE_SERVFAIL)
		r->st.servfail++;
	else if (rcode == OSH_DNS_RCODE_REFUSED)
		r->st.refused++;
	else if (rcode == OSH_DNS_RCODE_FORMERR)
		r->st.formerr++;
	if (n > 0)
		send_reply(r, to, out, (size_t)n);
}

static void deny(struct osh_dns_responder *r, const struct client_ref *to,
		 const struct osh_dns_query *q, const char *why)
{
	if (r->cb.deny)
		r->cb.deny(r->cb.ctx, q->qname_printed, q->qtype, &to->addr, why);
}

/* ---- policy ---- */

static bool name_allowed(const struct osh_dns_responder *r, const char *qname)
{
	for (size_t i = 0; r->img && i < r->img->n_names; i++)
		if (osh_dns_name_match(r->img->names[i].entry.name, qname))
			return true;
	return false;
}

/* ---- queries in flight ---- */

static void slot_finish(struct osh_dns_responder *r, size_t i)
{
	struct slot *s = r->slots[i];
	struct tcp_conn *c;

	if (s->fd >= 0)
		close(s->fd);
	free(s->msg);
	free(s->in);
	if (s->client.proto == IPPROTO_TCP) {
		c = conn_at(r, s->client.conn, s->client.conn_gen);
		if (c && c->pending) {
			c->pending--;
			c->deadline = now_ms() + r->cfg.tcp_idle_ms;
		}
	}
	free(s);
	r->slots[i] = NULL;
}

static void slot_fail(struct osh_dns_responder *r, size_t i)
{
	reply_rcode(r, &r->slots[i]->client, &r->slots[i]->q, OSH_DNS_RCODE_SERVFAIL);
	slot_finish(r, i);
}

static uint16_t random_id(struct osh_dns_responder *r)
{
	uint16_t id;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
		id = (uint16_t)(now_ms() * 40503u) ^ r->id_seq++;
	return id;
}

static int upstream_of(struct osh_dns_responder *r, const struct client_ref *from,
		       struct sockaddr_storage *ret)
{
	struct sockaddr_storage dst = { 0 };
	int e = -ENOENT;

	if (!r->cfg.upstream_fixed && r->cb.orig_dst)
		e = r->cb.orig_dst(r->cb.ctx, from->proto, &from->addr, &dst);
	if (e == -ENOENT) {
		dst = r->cfg.fallback_upstream;
		e = 0;
	}
	if (e < 0)
		return e;
	sa_normalize(&dst);
	if ((dst.ss_family != AF_INET && dst.ss_family != AF_INET6) || sa_port(&dst) == 0)
		return -EDESTADDRREQ;
	/* A redirect pointing back at the responder would loop. */
	for (size_t i = 0; i < r->n_ls; i++)
		if (sa_same(&r->ls[i].udp_addr, &dst) || sa_same(&r->ls[i].tcp_addr, &dst))
			return -ELOOP;
	*ret = dst;
	return 0;
}

static void forward(struct osh_dns_responder *r, const struct client_ref *from,
		    const struct osh_dns_query *q)
{
	struct sockaddr_storage dst;
	struct slot *s = NULL;
	size_t i;
	uint8_t *wire = NULL;
	size_t n = 0;
	int type;

	if (!r->slots && !(r->slots = calloc(r->cfg.max_inflight, sizeof(*r->slots)))) {
		reply_rcode(r, from, q, OSH_DNS_RCODE_SERVFAIL);
		return;
	}
	for (i = 0; i < r->cfg.max_inflight && r->slots[i]; i++)
		;
	if (i == r->cfg.max_inflight || upstream_of(r, from, &dst) < 0 ||
	    !(s = calloc(1, sizeof(*s)))) {
		reply_rcode(r, from, q, OSH_DNS_RCODE_SERVFAIL);
		return;
	}
	r->slots[i] = s;
	s->gen = r->gen_seq++;
	s->client = *from;
	s->q = *q;
	s->up_id = random_id(r);
	s->up_proto = from->proto;
	s->fd = -1;
	s->deadline = now_ms() + r->cfg.timeout_ms;
	if (from->proto == IPPROTO_TCP)
		r->conns[from->conn]->pending++;
	if (osh_dns_query_build(q, s->up_id, &wire, &n) < 0 || n > OSH_DNS_MAX_MSG)
		goto fail;
	if (s->up_proto == IPPROTO_TCP) {
		s->msg = malloc(n + 2);
		if (!s->msg)
			goto fail;
		s->msg[0] = (uint8_t)(n >> 8);
		s->msg[1] = (uint8_t)n;
		memcpy(s->msg + 2, wire, n);
		s->msg_len = n + 2;
		free(wire);
	} else {
		s->msg = wire;
		s->msg_len = n;
	}
	wire = NULL;
	type = s->up_proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
	s->fd = socket(dst.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail;
	/* A connected UDP socket only receives from the upstream it asked. */
	if (connect(s->fd, (struct sockaddr *)&dst, sa_len(&dst)) < 0 && errno != EINPROGRESS)
		goto fail;
	if (s->up_proto == IPPROTO_UDP) {
		if (send(s->fd, s->msg, s->msg_len, MSG_NOSIGNAL) != (ssize_t)s->msg_len)
			goto fail;
		s->sent = s->msg_len;
		if (ep_add(r, s->fd, EPOLLIN, EV(EV_UPSTREAM, i, s->gen)) < 0)
			goto fail;
	} else if (ep_add(r, s->fd, EPOLLOUT, EV(EV_UPSTREAM, i, s->gen)) < 0) {
		goto fail;
	}
	r->st.forwarded++;
	return;
fail:
	free(wire);
	slot_fail(r, i);
}

/* Installs the addresses of a verified answer, then relays it. */
static void complete(struct osh_dns_responder *r, size_t i, struct osh_dns_answer *a)
{
	struct slot *s = r->slots[i];
	const struct osh_policy_image *img = r->img;
	uint8_t *out = NULL;
	size_t n = 0, limit;

	if (!name_allowed(r, s->q.qname)) {
		/* The policy was reloaded while the query was upstream. */
		deny(r, &s->client, &s->q, "name not allowed by policy (reloaded)");
		reply_rcode(r, &s->client, &s->q, OSH_DNS_RCODE_REFUSED);
		slot_finish(r, i);
		return;
	}
	for (size_t k = 0; k < a->n_addrs; k++) {
		struct osh_dns_addr *x = &a->addrs[k];
		const struct osh_image_name *last = NULL;
		const char *why = "no policy entry";
		bool installed = false;

		for (size_t e = 0; e < img->n_names; e++) {
			const struct osh_image_name *ne = &img->names[e];

			if (!osh_dns_name_match(ne->entry.name, s->q.qname))
				continue;
			last = ne;
			if (!osh_dns_endpoint_allows(ne->endpoint, x->family, x->addr, &why))
				continue;
			if (r->cb.install(r->cb.ctx, ne, x->family, x->addr, x->ttl) < 0) {
				/* Never relay an address the kernel does not know. */
				slot_fail(r, i);
				return;
			}
			r->st.installed++;
			installed = true;
		}
		if (!installed) {
			x->keep = false;
			r->st.filtered++;
			if (r->cb.filtered)
				r->cb.filtered(r->cb.ctx, s->q.qname, last, x->family, x->addr,
					       why);
		}
	}
	limit = s->client.proto == IPPROTO_UDP ? osh_dns_query_udp_limit(&s->q) : OSH_DNS_MAX_MSG;
	if (osh_dns_answer_build(a, &s->q, limit, &out, &n) < 0) {
		slot_fail(r, i);
		return;
	}
	send_reply(r, &s->client, out, n);
	free(out);
	r->st.answered++;
	slot_finish(r, i);
}

/* Returns true when the slot is done (answered or failed). */
static bool answer_in(struct osh_dns_responder *r, size_t i, const uint8_t *msg, size_t len,
		      bool stream)
{
	struct slot *s = r->slots[i];
	struct osh_dns_answer *a = NULL;
	int e = osh_dns_answer_parse(&s->q, s->up_id, msg, len, r->cfg.ttl_min, r->cfg.ttl_max, &a);

	if (e == -ESRCH && !stream)
		return false; /* not our answer (stray or spoofed datagram): keep waiting */
	if (e < 0) {
		slot_fail(r, i);
		return true;
	}
	complete(r, i, a);
	osh_dns_answer_free(a);
	return true;
}

/* One datagram of any size; allocated per wakeup so an idle responder holds no 64 KiB buffer. */
static uint8_t *dgram_buf(void)
{
	return malloc(OSH_DNS_MAX_MSG + 1);
}

static void upstream_udp(struct osh_dns_responder *r, size_t i)
{
	uint8_t *buf = dgram_buf();

	if (!buf) {
		slot_fail(r, i);
		return;
	}
	for (int k = 0; k < MAX_UDP_PER_EVENT; k++) {
		ssize_t n = recv(r->slots[i]->fd, buf, OSH_DNS_MAX_MSG + 1, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		if (n < 0) {
			/* ECONNREFUSED: nothing listens on the upstream */
			slot_fail(r, i);
			break;
		}
		if (answer_in(r, i, buf, (size_t)n, false))
			break;
	}
	free(buf);
}

static void upstream_event(struct osh_dns_responder *r, size_t i, uint32_t events)
{
	struct slot *s = r->slots[i];
	ssize_t n;
	int err = 0;
	socklen_t el = sizeof(err);

	if (s->up_proto == IPPROTO_UDP) {
		upstream_udp(r, i);
		return;
	}
	if (s->sent < s->msg_len) {
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			slot_fail(r, i);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		n = send(s->fd, s->msg + s->sent, s->msg_len - s->sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			slot_fail(r, i);
			return;
		}
		s->sent += (size_t)n;
		if (s->sent == s->msg_len &&
		    ep_mod(r, s->fd, EPOLLIN, EV(EV_UPSTREAM, i, s->gen)) < 0)
			slot_fail(r, i);
		return;
	}
	if (!s->in) {
		s->in = calloc(1, TCP_FRAME);
		if (!s->in) {
			slot_fail(r, i);
			return;
		}
	}
	for (;;) {
		size_t want = s->in_len < 2 ? 2 : 2 + (size_t)(s->in[0] << 8 | s->in[1]);

		if (s->in_len >= 2 && s->in_len == want) {
			answer_in(r, i, s->in + 2, want - 2, true);
			return;
		}
		n = recv(s->fd, s->in + s->in_len, want - s->in_len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0) {
			slot_fail(r, i);
			return;
		}
		s->in_len += (size_t)n;
	}
}

/* ---- clients ---- */

static void handle_query(struct osh_dns_responder *r, const struct client_ref *from,
			 const uint8_t *msg, size_t len)
{
	struct osh_dns_query q;

	r->st.queries++;
	if (osh_dns_query_parse(msg, len, &q) < 0) {
		r->st.dropped++;
		return;
	}
	if (q.rcode != OSH_DNS_RCODE_NOERROR) {
		deny(r, from, &q, q.reason);
		reply_rcode(r, from, &q, q.rcode);
		return;
	}
	if (!name_allowed(r, q.qname)) {
		deny(r, from, &q, "name not allowed by policy");
		reply_rcode(r, from, &q, OSH_DNS_RCODE_REFUSED);
		return;
	}
	if (from->proto == IPPROTO_TCP && r->conns[from->conn]->pending >= MAX_TCP_PENDING) {
		reply_rcode(r, from, &q, OSH_DNS_RCODE_SERVFAIL);
		return;
	}
	forward(r, from, &q);
}

static void udp_event(struct osh_dns_responder *r, size_t li)
{
	uint8_t *buf = dgram_buf();

	for (int k = 0; buf && k < MAX_UDP_PER_EVENT; k++) {
		struct client_ref from = { .proto = IPPROTO_UDP, .listener = li };
		ssize_t n;

		from.addrlen = sizeof(from.addr);
		n = recvfrom(r->ls[li].udp, buf, OSH_DNS_MAX_MSG + 1, MSG_DONTWAIT,
			     (struct sockaddr *)&from.addr, &from.addrlen);
		if (n < 0)
			break;
		handle_query(r, &from, buf, (size_t)n);
	}
	free(buf);
}

static void accept_event(struct osh_dns_responder *r, size_t li)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		int fd = accept4(r->ls[li].tcp, (struct sockaddr *)&peer, &pl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		size_t i;

		struct tcp_conn *c;

		if (fd < 0)
			return;
		if (!r->conns && !(r->conns = calloc(r->cfg.max_tcp_clients, sizeof(*r->conns)))) {
			close(fd);
			return;
		}
		for (i = 0; i < r->cfg.max_tcp_clients && r->conns[i]; i++)
			;
		if (i == r->cfg.max_tcp_clients) {
			close(fd); /* at the bound: the client retries later */
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->in = malloc(TCP_FRAME);
		if (!c || !c->in) {
			if (c)
				free(c);
			close(fd);
			continue;
		}
		c->gen = r->gen_seq++;
		if (ep_add(r, fd, EPOLLIN, EV(EV_TCP_CLIENT, i, c->gen)) < 0) {
			free(c->in);
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->peer = peer;
		c->peerlen = pl;
		c->deadline = now_ms() + r->cfg.tcp_idle_ms;
		r->conns[i] = c;
	}
}

static void conn_event(struct osh_dns_responder *r, size_t i, uint32_t events)
{
	struct tcp_conn *c = r->conns[i];
	uint32_t gen = c->gen;

	if (events & EPOLLOUT)
		conn_flush(r, i);
	if (!(c = conn_at(r, i, gen)) || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_len, TCP_FRAME - c->in_len, MSG_DONTWAIT);
		size_t off = 0;

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0) {
			/* EOF or error: answers still in flight have nowhere to go. */
			conn_close(r, i);
			return;
		}
		c->in_len += (size_t)n;
		c->deadline = now_ms() + r->cfg.tcp_idle_ms;
		/* Every complete frame is a query; pipelined ones are answered in any order. */
		while (c->in_len - off >= 2) {
			size_t ml = (size_t)(c->in[off] << 8 | c->in[off + 1]);
			struct client_ref from = { .proto = IPPROTO_TCP,
						   .conn = i,
						   .conn_gen = gen };

			if (ml == 0) {
				conn_close(r, i);
				return;
			}
			if (c->in_len - off < 2 + ml)
				break;
			from.addr = c->peer;
			from.addrlen = c->peerlen;
			handle_query(r, &from, c->in + off + 2, ml);
			if (!conn_at(r, i, gen))
				return;
			off += 2 + ml;
		}
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
}

/* ---- deadlines ---- */

static void expire(struct osh_dns_responder *r)
{
	uint64_t now = now_ms(), next = UINT64_MAX;
	struct itimerspec its = { 0 };

	for (size_t i = 0; r->slots && i < r->cfg.max_inflight; i++) {
		if (!r->slots[i])
			continue;
		if (r->slots[i]->deadline <= now)
			slot_fail(r, i); /* upstream timeout */
		else if (r->slots[i]->deadline < next)
			next = r->slots[i]->deadline;
	}
	for (size_t i = 0; r->conns && i < r->cfg.max_tcp_clients; i++) {
		struct tcp_conn *c = r->conns[i];

		if (!c)
			continue;
		if (c->pending == 0 && c->deadline <= now)
			conn_close(r, i);
		else if (c->pending == 0 && c->deadline < next)
			next = c->deadline;
	}
	if (next == r->armed)
		return;
	r->armed = next;
	if (next != UINT64_MAX) {
		its.it_value.tv_sec = (time_t)(next / 1000);
		its.it_value.tv_nsec = (long)(next % 1000) * 1000000;
	}
	/* Absolute CLOCK_MONOTONIC, the clock of now_ms(); zero disarms. */
	(void)timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int osh_dns_responder_process(struct osh_dns_responder *r, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int n = epoll_wait(r->epfd, evs, MAX_EVENTS, timeout_ms);

	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (int k = 0; k < n; k++) {
		uint64_t u = evs[k].data.u64;
		size_t i = EV_IDX(u);
		uint64_t ticks;

		switch (EV_KIND(u)) {
		case EV_TIMER:
			(void)!read(r->tfd, &ticks, sizeof(ticks));
			r->armed = UINT64_MAX;
			break;
		case EV_UDP:
			udp_event(r, i);
			break;
		case EV_TCP_LISTEN:
			accept_event(r, i);
			break;
		case EV_TCP_CLIENT:
			if (conn_at(r, i, EV_GEN(u)))
				conn_event(r, i, evs[k].events);
			break;
		case EV_UPSTREAM:
			if (r->slots && r->slots[i] && r->slots[i]->gen == EV_GEN(u))
				upstream_event(r, i, evs[k].events);
			break;
		default:
			break;
		}
	}
	expire(r);
	return n;
}

/* ---- lifetime ---- */

int osh_dns_responder_new(const struct osh_dns_config *cfg, const struct osh_policy_image *img,
			  const struct osh_dns_callbacks *cb, struct osh_dns_responder **ret)
{
	struct osh_dns_responder *r;
	bool defaults;
	int e;

	if (!cfg || !cb || !cb->install || cfg->n_listen > OSH_DNS_MAX_LISTEN)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	r->cb = *cb;
	r->img = img;
	r->epfd = r->tfd = -1;
	r->armed = UINT64_MAX;
	for (size_t i = 0; i < OSH_DNS_MAX_LISTEN; i++)
		r->ls[i].udp = r->ls[i].tcp = -1;
	if (!r->cfg.timeout_ms)
		r->cfg.timeout_ms = DEF_TIMEOUT_MS;
	if (!r->cfg.max_inflight)
		r->cfg.max_inflight = DEF_MAX_INFLIGHT;
	if (!r->cfg.max_tcp_clients)
		r->cfg.max_tcp_clients = DEF_MAX_TCP;
	if (!r->cfg.tcp_idle_ms)
		r->cfg.tcp_idle_ms = DEF_TCP_IDLE_MS;
	if (!r->cfg.ttl_min && !r->cfg.ttl_max) {
		r->cfg.ttl_min = DEF_TTL_MIN;
		r->cfg.ttl_max = DEF_TTL_MAX;
	}
	if (r->cfg.ttl_max < r->cfg.ttl_min)
		r->cfg.ttl_max = r->cfg.ttl_min;
	/* The epoll data keeps 24 bits of index. */
	if (r->cfg.max_inflight > 1u << 20 || r->cfg.max_tcp_clients > 1u << 20) {
		e = -EINVAL;
		goto fail;
	}
	defaults = r->cfg.n_listen == 0;
	if (defaults) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&r->cfg.listen[0];
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&r->cfg.listen[1];

		memset(r->cfg.listen, 0, 2 * sizeof(r->cfg.listen[0]));
		a4->sin_family = AF_INET;
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_loopback;
		r->cfg.n_listen = 2;
	}
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (r->epfd < 0 || r->tfd < 0) {
		e = -errno;
		goto fail;
	}
	e = ep_add(r, r->tfd, EPOLLIN, EV(EV_TIMER, 0, 0));
	if (e < 0)
		goto fail;
	for (size_t i = 0; i < r->cfg.n_listen; i++) {
		struct listener *l = &r->ls[r->n_ls];

		e = listener_open(l, &r->cfg.listen[i]);
		/* The default ::1 is best effort: IPv6 may be disabled. */
		if (e < 0 && defaults && r->cfg.listen[i].ss_family == AF_INET6)
			continue;
		if (e < 0)
			goto fail;
		r->n_ls++;
		e = ep_add(r, l->udp, EPOLLIN, EV(EV_UDP, r->n_ls - 1, 0));
		if (e >= 0)
			e = ep_add(r, l->tcp, EPOLLIN, EV(EV_TCP_LISTEN, r->n_ls - 1, 0));
		if (e < 0)
			goto fail;
	}
	*ret = r;
	return 0;
fail:
	osh_dns_responder_free(r);
	return e;
}

int osh_dns_responder_set_image(struct osh_dns_responder *r, const struct osh_policy_image *img)
{
	if (!r)
		return -EINVAL;
	r->img = img;
	return 0;
}

int osh_dns_responder_fd(const struct osh_dns_responder *r)
{
	return r->epfd;
}

int osh_dns_responder_local(const struct osh_dns_responder *r, size_t i, int proto,
			    struct sockaddr_storage *ret_addr)
{
	if (i >= r->n_ls || (proto != IPPROTO_UDP && proto != IPPROTO_TCP))
		return -ENOENT;
	*ret_addr = proto == IPPROTO_UDP ? r->ls[i].udp_addr : r->ls[i].tcp_addr;
	return 0;
}

void osh_dns_responder_stats(const struct osh_dns_responder *r, struct osh_dns_stats *ret)
{
	*ret = r->st;
}

void osh_dns_responder_free(struct osh_dns_responder *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->slots && i < r->cfg.max_inflight; i++)
		if (r->slots[i])
			slot_finish(r, i);
	for (size_t i = 0; r->conns && i < r->cfg.max_tcp_clients; i++)
		conn_close(r, i);
	for (size_t i = 0; i < OSH_DNS_MAX_LISTEN; i++) {
		if (r->ls[i].udp >= 0)
			close(r->ls[i].udp);
		if (r->ls[i].tcp >= 0)
			close(r->ls[i].tcp);
	}
	if (r->tfd >= 0)
		close(r->tfd);
	if (r->epfd >= 0)
		close(r->epfd);
	free(r->slots);
	free(r->conns);
	free(r);
}
