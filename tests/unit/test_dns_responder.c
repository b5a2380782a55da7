// SPDX-License-Identifier: Apache-2.0
// The DNS responder (userspace/dns-responder.c) for real on loopback: a compiled policy, a tiny
// upstream resolver in a thread answering with ldns-built messages over UDP and TCP, and clients
// sending real queries. Checks what is forwarded, refused, installed (before the client can read
// the answer), filtered and relayed; plus the pure name matcher and message checks.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <ldns/ldns.h>

#include "dns-msg.h"
#include "dns-responder.h"
#include "policy.h"

/* ---- the policy ---- */

static const char *policy_doc =
    "version: 1\n"
    "network_policies:\n"
    "  web:\n"
    "    endpoints:\n"
    "      - { host: api.example.com, ports: [443, 8443] }\n"
    "      - { host: '*.wild.example.com', port: 443 }\n"
    "      - { host: '**.deep.example.com', port: 443 }\n"
    "      - { host: '*-api.pat.example.com', port: 443 }\n"
    "      - { host: restricted.example.com, port: 443, allowed_ips: [203.0.113.0/24] }\n"
    "      - { host: cname.example.com, port: 443 }\n"
    "      - { host: tc.example.com, port: 443 }\n"
    "      - { host: slow.example.com, port: 443 }\n"
    "      - { host: failing.example.com, port: 443 }\n"
    "      - { host: rebind.example.com, port: 443 }\n"
    "      - { host: loop.example.com, port: 443 }\n"
    "      - { host: spoofed.example.com, port: 443 }\n"
    "    binaries:\n"
    "      - path: /usr/bin/curl\n";

static const char *policy_doc2 = "version: 1\n"
				 "network_policies:\n"
				 "  other:\n"
				 "    endpoints:\n"
				 "      - { host: other.example.com, port: 443 }\n"
				 "    binaries:\n"
				 "      - path: /usr/bin/curl\n";

static struct osh_policy_image *compile(const char *doc, struct osh_policy **ret_p)
{
	struct osh_policy *p = NULL;
	struct osh_policy_image *img = NULL;

	assert_int_equal(
	    osh_policy_parse_buffer("t.yaml", doc, strlen(doc), OSH_POLICY_FORMAT_YAML, &p, NULL),
	    0);
	assert_int_equal(osh_policy_compile(p, &img), 0);
	*ret_p = p;
	return img;
}

/* ---- the upstream resolver (a thread) ---- */

enum { Z_TC_UDP = 1, Z_SILENT = 2, Z_SPOOF_FIRST = 4 };

struct zone {
	const char *name;
	int flags;
	const char *rrs[6];
};

static const struct zone zones[] = {
	{ "api.example.com",
	  0,
	  { "api.example.com. 300 IN A 198.51.100.10",
	    "api.example.com. 300 IN AAAA 2001:db8::10" } },
	{ "x.wild.example.com", 0, { "x.wild.example.com. 60 IN A 198.51.100.11" } },
	{ "restricted.example.com",
	  0,
	  { "restricted.example.com. 60 IN A 203.0.113.5",
	    "restricted.example.com. 60 IN A 198.51.100.99" } },
	{ "rebind.example.com",
	  0,
	  { "rebind.example.com. 60 IN A 127.0.0.1", "rebind.example.com. 60 IN A 169.254.169.254",
	    "rebind.example.com. 60 IN AAAA ::ffff:127.0.0.1",
	    "rebind.example.com. 60 IN A 198.51.100.30" } },
	{ "cname.example.com",
	  0,
	  { "cname.example.com. 30 IN CNAME cdn.provider.test.",
	    "edge.provider.test. 300 IN A 198.51.100.20",
	    "cdn.provider.test. 120 IN CNAME edge.provider.test.",
	    "unrelated.test. 300 IN A 198.51.100.66" } },
	{ "tc.example.com", Z_TC_UDP, { "tc.example.com. 1 IN A 198.51.100.40" } },
	{ "slow.example.com", Z_SILENT, { NULL } },
	{ "loop.example.com",
	  0,
	  { "loop.example.com. 30 IN CNAME loop2.example.com.",
	    "loop2.example.com. 30 IN CNAME loop.example.com." } },
	{ "spoofed.example.com", Z_SPOOF_FIRST, { "spoofed.example.com. 60 IN A 198.51.100.60" } },
	{ "failing.example.com", 0, { "failing.example.com. 60 IN A 198.51.100.50" } },
};

struct upstream {
	int udp, tcp, stop[2];
	struct sockaddr_storage addr; /* UDP and TCP on the same port */
	pthread_t thread;
	pthread_mutex_t lock;
	char seen[64][256]; /* names asked, lower case, "udp:" or "tcp:" prefix */
	size_t n_seen;
};

/* Builds the answer to one query; returns a malloc'ed wire message or NULL (no answer). */
static uint8_t *upstream_answer(struct upstream *u, const uint8_t *in, size_t len, bool tcp,
				size_t *ret_len)
{
	ldns_pkt *q = NULL, *a;
	ldns_rr *qr;
	char *name;
	const struct zone *z = NULL;
	uint8_t *wire = NULL;
	size_t n = 0;

	if (ldns_wire2pkt(&q, in, len) != LDNS_STATUS_OK)
		return NULL;
	qr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	name = ldns_rdf2str(ldns_rr_owner(qr));
	for (char *p = name; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	if (name[strlen(name) - 1] == '.')
		name[strlen(name) - 1] = '\0';
	pthread_mutex_lock(&u->lock);
	if (u->n_seen < 64)
		snprintf(u->seen[u->n_seen++], 256, "%s:%s", tcp ? "tcp" : "udp", name);
	pthread_mutex_unlock(&u->lock);
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (!strcmp(zones[i].name, name))
			z = &zones[i];
	free(name);
	if (z && (z->flags & Z_SILENT)) {
		ldns_pkt_free(q);
		return NULL;
	}
	a = ldns_pkt_new();
	ldns_pkt_set_id(a, ldns_pkt_id(q));
	ldns_pkt_set_qr(a, true);
	ldns_pkt_set_rd(a, ldns_pkt_rd(q));
	ldns_pkt_set_ra(a, true);
	ldns_pkt_push_rr(a, LDNS_SECTION_QUESTION, ldns_rr_clone(qr));
	if (!z) {
		ldns_pkt_set_rcode(a, LDNS_RCODE_NXDOMAIN);
	} else if ((z->flags & Z_TC_UDP) && !tcp) {
		ldns_pkt_set_tc(a, true);
	} else {
		for (size_t i = 0; i < 6 && z->rrs[i]; i++) {
			ldns_rr *rr = NULL;

			assert_int_equal(ldns_rr_new_frm_str(&rr, z->rrs[i], 0, NULL, NULL),
					 LDNS_STATUS_OK);
			if (ldns_rr_get_type(rr) == ldns_rr_get_type(qr) ||
			    ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME)
				ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
			else
				ldns_rr_free(rr);
		}
		/* Glue-like address in the additional section: must never reach the client. */
		{
			ldns_rr *rr = NULL;

			ldns_rr_new_frm_str(&rr, "ns.provider.test. 300 IN A 198.51.100.77", 0,
					    NULL, NULL);
			ldns_pkt_push_rr(a, LDNS_SECTION_ADDITIONAL, rr);
		}
	}
	ldns_pkt2wire(&wire, a, &n);
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	*ret_len = n;
	return wire;
}

static void upstream_tcp_conn(struct upstream *u, int fd)
{
	uint8_t buf[2 + 65535];
	size_t have = 0;

	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 }, { u->stop[0], POLLIN, 0 } };
		ssize_t n;

		if (poll(p, 2, 2000) <= 0 || p[1].revents)
			return;
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			return;
		have += (size_t)n;
		while (have >= 2 && have >= 2 + (size_t)(buf[0] << 8 | buf[1])) {
			size_t ml = (size_t)(buf[0] << 8 | buf[1]), al = 0;
			uint8_t *ans = upstream_answer(u, buf + 2, ml, true, &al);

			if (ans) {
				uint8_t hdr[2] = { (uint8_t)(al >> 8), (uint8_t)al };

				(void)!write(fd, hdr, 2);
				(void)!write(fd, ans, al);
				free(ans);
			}
			memmove(buf, buf + 2 + ml, have - 2 - ml);
			have -= 2 + ml;
		}
	}
}

static void *upstream_main(void *arg)
{
	struct upstream *u = arg;
	uint8_t buf[65536];

	for (;;) {
		struct pollfd p[3] = { { u->udp, POLLIN, 0 },
				       { u->tcp, POLLIN, 0 },
				       { u->stop[0], POLLIN, 0 } };

		if (poll(p, 3, -1) < 0 || p[2].revents)
			return NULL;
		if (p[0].revents) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t n =
			    recvfrom(u->udp, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			size_t al = 0;
			uint8_t *ans =
			    n > 0 ? upstream_answer(u, buf, (size_t)n, false, &al) : NULL;

			if (ans && al > 12 && strstr((const char *)buf + 12, "spoofed")) {
				/* A forged answer first: wrong ID, evil address in place of the real. */
				static const uint8_t real[4] = { 198, 51, 100, 60 };
				static const uint8_t evil[4] = { 203, 0, 113, 99 };
				uint8_t *forged = malloc(al);
				uint8_t *a4 = forged ? memmem(ans, al, real, sizeof(real)) : NULL;

				if (forged && a4) {
					memcpy(forged, ans, al);
					forged[0] ^= 0x5a;
					memcpy(forged + (a4 - ans), evil, sizeof(evil));
					(void)!sendto(u->udp, forged, al, 0,
						      (struct sockaddr *)&from, fl);
				}
				free(forged);
			}
			if (ans)
				(void)!sendto(u->udp, ans, al, 0, (struct sockaddr *)&from, fl);
			free(ans);
		}
		if (p[1].revents) {
			int fd = accept(u->tcp, NULL, NULL);

			if (fd >= 0) {
				upstream_tcp_conn(u, fd);
				close(fd);
			}
		}
	}
}

static void upstream_start(struct upstream *u)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int one = 1;

	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	assert_int_equal(pipe(u->stop), 0);
	/* UDP and TCP on one port: the port the kernel picks for UDP may be taken for TCP (a
	 * client connection of an earlier test), so try again with another. */
	for (int tries = 0;; tries++) {
		a.sin_port = 0;
		u->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		assert_true(u->udp >= 0);
		assert_int_equal(bind(u->udp, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(u->udp, (struct sockaddr *)&a, &l), 0);
		u->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(u->tcp >= 0);
		setsockopt(u->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(u->tcp, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		assert_true(errno == EADDRINUSE && tries < 32);
		close(u->udp);
		close(u->tcp);
	}
	assert_int_equal(listen(u->tcp, 8), 0);
	memcpy(&u->addr, &a, sizeof(a));
	assert_int_equal(pthread_create(&u->thread, NULL, upstream_main, u), 0);
}

static void upstream_stop(struct upstream *u)
{
	(void)!write(u->stop[1], "x", 1);
	pthread_join(u->thread, NULL);
	close(u->udp);
	close(u->tcp);
	close(u->stop[0]);
	close(u->stop[1]);
	pthread_mutex_destroy(&u->lock);
}

static bool upstream_saw(struct upstream *u, const char *what)
{
	bool r = false;

	pthread_mutex_lock(&u->lock);
	for (size_t i = 0; i < u->n_seen; i++)
		if (!strcmp(u->seen[i], what))
			r = true;
	pthread_mutex_unlock(&u->lock);
	return r;
}

/* ---- fixture: responder + callbacks log ---- */

struct install_rec {
	char name[256];
	uint16_t port;
	int family;
	uint8_t addr[16];
	uint32_t ttl;
	bool client_had_data; /* the client's socket was readable when install ran */
};

struct fixture {
	struct upstream up;
	struct osh_policy *pol, *pol2;
	struct osh_policy_image *img, *img2;
	struct osh_dns_responder *r;
	struct sockaddr_storage udp_addr, tcp_addr;
	int client_fd; /* the socket of the query in progress */
	struct install_rec inst[32];
	size_t n_inst;
	char denied[8][300];
	char deny_reason[8][100];
	size_t n_denied;
	char filtered[8][64];
	size_t n_filtered;
	const char *fail_install_name;
	struct sockaddr_storage orig; /* returned by orig_dst when set */
	int orig_calls;
	int orig_proto;
};

static int cb_orig_dst(void *ctx, int proto, const struct sockaddr_storage *client,
		       struct sockaddr_storage *ret_dst)
{
	struct fixture *f = ctx;

	f->orig_calls++;
	f->orig_proto = proto;
	assert_true(client->ss_family == AF_INET || client->ss_family == AF_INET6);
	if (f->orig.ss_family == AF_UNSPEC)
		return -ENOENT;
	*ret_dst = f->orig;
	return 0;
}

static int cb_install(void *ctx, const struct osh_image_name *name, int family,
		      const uint8_t addr[16], uint32_t ttl)
{
	struct fixture *f = ctx;
	struct install_rec *rec;
	struct pollfd p = { f->client_fd, POLLIN, 0 };

	if (f->fail_install_name && !strcmp(name->entry.name, f->fail_install_name))
		return -ENOSPC;
	assert_true(f->n_inst < 32);
	rec = &f->inst[f->n_inst++];
	snprintf(rec->name, sizeof(rec->name), "%s", name->entry.name);
	rec->port = ntohs(name->entry.port);
	rec->family = family;
	memcpy(rec->addr, addr, 16);
	rec->ttl = ttl;
	rec->client_had_data = poll(&p, 1, 0) > 0;
	return 0;
}

static void cb_deny(void *ctx, const char *qname, uint16_t qtype,
		    const struct sockaddr_storage *client, const char *reason)
{
	struct fixture *f = ctx;

	assert_non_null(client);
	if (f->n_denied < 8) {
		snprintf(f->denied[f->n_denied], 300, "%s/%u", qname, qtype);
		snprintf(f->deny_reason[f->n_denied], 100, "%s", reason);
		f->n_denied++;
	}
}

static void cb_filtered(void *ctx, const char *qname, const struct osh_image_name *name, int family,
			const uint8_t addr[16], const char *reason)
{
	struct fixture *f = ctx;
	char a[INET6_ADDRSTRLEN];

	inet_ntop(family, addr, a, sizeof(a));
	if (f->n_filtered < 8)
		snprintf(f->filtered[f->n_filtered++], 64, "%s", a);
}

static struct osh_dns_responder *responder_new(struct fixture *f, struct osh_dns_config *cfg)
{
	struct osh_dns_callbacks cb = { .ctx = f,
					.orig_dst = cb_orig_dst,
					.install = cb_install,
					.deny = cb_deny,
					.filtered = cb_filtered };
	struct osh_dns_responder *r = NULL;

	assert_int_equal(osh_dns_responder_new(cfg, f->img, &cb, &r), 0);
	return r;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct osh_dns_config cfg = { 0 };
	struct sockaddr_in *l = (struct sockaddr_in *)&cfg.listen[0];

	upstream_start(&f->up);
	f->img = compile(policy_doc, &f->pol);
	f->img2 = compile(policy_doc2, &f->pol2);
	l->sin_family = AF_INET;
	l->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg.n_listen = 1;
	cfg.fallback_upstream = f->up.addr;
	cfg.timeout_ms = 300;
	f->r = responder_new(f, &cfg);
	assert_int_equal(osh_dns_responder_local(f->r, 0, IPPROTO_UDP, &f->udp_addr), 0);
	assert_int_equal(osh_dns_responder_local(f->r, 0, IPPROTO_TCP, &f->tcp_addr), 0);
	f->client_fd = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	osh_dns_responder_free(f->r);
	upstream_stop(&f->up);
	osh_policy_image_free(f->img);
	osh_policy_image_free(f->img2);
	osh_policy_free(f->pol);
	osh_policy_free(f->pol2);
	free(f);
	return 0;
}

/* ---- clients ---- */

static uint8_t *make_query(const char *name, ldns_rr_type t, uint16_t id, size_t *ret_len)
{
	ldns_pkt *q = NULL;
	uint8_t *wire = NULL;

	assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, t, LDNS_RR_CLASS_IN, LDNS_RD),
			 LDNS_STATUS_OK);
	ldns_pkt_set_id(q, id);
	assert_int_equal(ldns_pkt2wire(&wire, q, ret_len), LDNS_STATUS_OK);
	ldns_pkt_free(q);
	return wire;
}

/* Sends msg to the responder and runs it until a reply arrives (or wait_ms pass). Returns the
 * reply length, 0 when none came. */
static size_t exchange(struct fixture *f, int proto, const uint8_t *msg, size_t len, uint8_t *out,
		       size_t cap, int wait_ms)
{
	const struct sockaddr_storage *to = proto == IPPROTO_UDP ? &f->udp_addr : &f->tcp_addr;
	int fd =
	    socket(AF_INET, (proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	struct timespec t0, t;
	size_t got = 0;

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (const struct sockaddr *)to, sizeof(struct sockaddr_in)), 0);
	if (proto == IPPROTO_UDP) {
		assert_int_equal(send(fd, msg, len, 0), (ssize_t)len);
	} else {
		uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };

		assert_int_equal(send(fd, hdr, 2, MSG_MORE), 2);
		assert_int_equal(send(fd, msg, len, 0), (ssize_t)len);
	}
	f->client_fd = fd;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n;

		assert_true(osh_dns_responder_process(f->r, 20) >= 0);
		if (proto == IPPROTO_UDP) {
			n = recv(fd, out, cap, MSG_DONTWAIT);
			if (n > 0) {
				got = (size_t)n;
				break;
			}
		} else {
			uint8_t hdr[2];

			n = recv(fd, hdr, 2, MSG_DONTWAIT | MSG_PEEK);
			if (n == 2) {
				size_t ml = (size_t)(hdr[0] << 8 | hdr[1]);
				struct pollfd p = { fd, POLLIN, 0 };

				assert_true(ml <= cap);
				assert_int_equal(recv(fd, hdr, 2, 0), 2);
				while (got < ml && poll(&p, 1, 1000) > 0) {
					n = recv(fd, out + got, ml - got, 0);
					assert_true(n > 0);
					got += (size_t)n;
				}
				assert_int_equal(got, ml);
				break;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > wait_ms)
			break;
	}
	close(fd);
	f->client_fd = -1;
	return got;
}

/* Queries name over proto; returns the parsed reply (caller frees), checking its ID. */
static ldns_pkt *ask(struct fixture *f, int proto, const char *name, ldns_rr_type t)
{
	static uint16_t id = 0x1000;
	uint8_t out[65536];
	size_t len, n;
	uint8_t *q = make_query(name, t, ++id, &len);
	ldns_pkt *p = NULL;

	n = exchange(f, proto, q, len, out, sizeof(out), 2000);
	free(q);
	assert_true(n > 0);
	assert_int_equal(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), id);
	assert_true(ldns_pkt_qr(p));
	return p;
}

static size_t count_type(ldns_rr_list *l, ldns_rr_type t)
{
	size_t n = 0;

	for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++)
		if (ldns_rr_get_type(ldns_rr_list_rr(l, i)) == t)
			n++;
	return n;
}

static bool has_addr(ldns_pkt *p, const char *text)
{
	ldns_rr_list *an = ldns_pkt_answer(p);

	for (size_t i = 0; an && i < ldns_rr_list_rr_count(an); i++) {
		ldns_rr *rr = ldns_rr_list_rr(an, i);
		char *s;
		bool eq;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_A &&
		    ldns_rr_get_type(rr) != LDNS_RR_TYPE_AAAA)
			continue;
		s = ldns_rdf2str(ldns_rr_rdf(rr, 0));
		eq = !strcmp(s, text);
		free(s);
		if (eq)
			return true;
	}
	return false;
}

static bool installed(struct fixture *f, const char *name, uint16_t port, const char *addr)
{
	char a[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < f->n_inst; i++) {
		inet_ntop(f->inst[i].family, f->inst[i].addr, a, sizeof(a));
		if (!strcmp(f->inst[i].name, name) && f->inst[i].port == port && !strcmp(a, addr))
			return true;
	}
	return false;
}

/* ---- tests over the wire ---- */

static void test_exact_name_installed_before_answer(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p = ask(f, IPPROTO_UDP, "api.example.com", LDNS_RR_TYPE_A);
	struct osh_dns_stats st;

	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_true(has_addr(p, "198.51.100.10"));
	assert_int_equal(count_type(ldns_pkt_answer(p), LDNS_RR_TYPE_A), 1);
	/* The glue-like additional address was not installed, so it is not relayed. */
	assert_int_equal(count_type(ldns_pkt_additional(p), LDNS_RR_TYPE_A), 0);
	ldns_pkt_free(p);
	/* One install per name entry (two ports), each before the answer was readable. */
	assert_int_equal(f->n_inst, 2);
	assert_true(installed(f, "api.example.com", 443, "198.51.100.10"));
	assert_true(installed(f, "api.example.com", 8443, "198.51.100.10"));
	for (size_t i = 0; i < f->n_inst; i++) {
		assert_false(f->inst[i].client_had_data);
		assert_int_equal(f->inst[i].ttl, 300);
		assert_int_equal(f->inst[i].family, AF_INET);
	}
	assert_true(upstream_saw(&f->up, "udp:api.example.com"));
	/* The upstream came from the fallback because orig_dst said -ENOENT. */
	assert_int_equal(f->orig_calls, 1);
	assert_int_equal(f->orig_proto, IPPROTO_UDP);
	osh_dns_responder_stats(f->r, &st);
	assert_int_equal(st.forwarded, 1);
	assert_int_equal(st.answered, 1);
	assert_int_equal(st.installed, 2);
}

static void test_tcp_path_aaaa(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p = ask(f, IPPROTO_TCP, "API.Example.COM", LDNS_RR_TYPE_AAAA);

	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_true(has_addr(p, "2001:db8::10"));
	ldns_pkt_free(p);
	assert_true(upstream_saw(&f->up, "tcp:api.example.com"));
	assert_int_equal(f->n_inst, 2);
	assert_int_equal(f->inst[0].family, AF_INET6);
	assert_true(installed(f, "api.example.com", 443, "2001:db8::10"));
	assert_false(f->inst[0].client_had_data);
	assert_int_equal(f->orig_proto, IPPROTO_TCP);
}

static void test_denied_name_refused(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p = ask(f, IPPROTO_UDP, "secret-data.attacker.example", LDNS_RR_TYPE_A);

	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	ldns_pkt_free(p);
	p = ask(f, IPPROTO_TCP, "other.attacker.example", LDNS_RR_TYPE_AAAA);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
	assert_int_equal(f->n_denied, 2);
	assert_string_equal(f->denied[0], "secret-data.attacker.example/1");
	assert_string_equal(f->deny_reason[0], "name not allowed by policy");
	assert_string_equal(f->denied[1], "other.attacker.example/28");
	/* The query never reached the resolver. */
	assert_false(upstream_saw(&f->up, "udp:secret-data.attacker.example"));
	assert_false(upstream_saw(&f->up, "tcp:other.attacker.example"));
	assert_int_equal(f->n_inst, 0);
	assert_int_equal(f->orig_calls, 0);
}

static void test_wildcards(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name;
		bool allowed;
	} cases[] = {
		{ "x.wild.example.com", true },		{ "a.b.wild.example.com", false },
		{ "wild.example.com", false },		{ "a.deep.example.com", true },
		{ "a.b.c.deep.example.com", true },	{ "deep.example.com", false },
		{ "foo-api.pat.example.com", true },	{ "foo.pat.example.com", false },
		{ "a.foo-api.pat.example.com", false }, { "xwild.example.com", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ldns_pkt *p = ask(f, IPPROTO_UDP, cases[i].name, LDNS_RR_TYPE_A);
		char seen[300];

		snprintf(seen, sizeof(seen), "udp:%s", cases[i].name);
		if (cases[i].allowed) {
			assert_int_not_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
			assert_true(upstream_saw(&f->up, seen));
		} else {
			assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
			assert_false(upstream_saw(&f->up, seen));
		}
		ldns_pkt_free(p);
	}
	/* x.wild.example.com answered 198.51.100.11 and was installed for the wildcard entry. */
	assert_true(installed(f, "*.wild.example.com", 443, "198.51.100.11"));
}

static void test_cname_chain(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p = ask(f, IPPROTO_UDP, "cname.example.com", LDNS_RR_TYPE_A);
	ldns_rr_list *an = ldns_pkt_answer(p);

	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_true(has_addr(p, "198.51.100.20"));
	/* The unrelated address is not on the chain: neither installed nor relayed. */
	assert_false(has_addr(p, "198.51.100.66"));
	assert_int_equal(count_type(an, LDNS_RR_TYPE_CNAME), 2);
	assert_int_equal(f->n_inst, 1);
	assert_true(installed(f, "cname.example.com", 443, "198.51.100.20"));
	/* TTL is the minimum over the chain (the first CNAME's 30 s); relayed TTLs never exceed
	 * what was installed. */
	assert_int_equal(f->inst[0].ttl, 30);
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++)
		assert_true(ldns_rr_ttl(ldns_rr_list_rr(an, i)) <= 30);
	ldns_pkt_free(p);
}

static void test_allowed_ips_filter(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p = ask(f, IPPROTO_UDP, "restricted.example.com", LDNS_RR_TYPE_A);

	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_true(has_addr(p, "203.0.113.5"));
	assert_false(has_addr(p, "198.51.100.99"));
	assert_int_equal(count_type(ldns_pkt_answer(p), LDNS_RR_TYPE_A), 1);
	ldns_pkt_free(p);
	assert_int_equal(f->n_inst, 1);
	assert_true(installed(f, "restricted.example.com", 443, "203.0.113.5"));
	assert_int_equal(f->n_filtered, 1);
	assert_string_equal(f->filtered[0], "198.51.100.99");
}

static void test_rebinding_to_special_addresses_filtered(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p = ask(f, IPPROTO_UDP, "rebind.example.com", LDNS_RR_TYPE_A);

	assert_true(has_addr(p, "198.51.100.30"));
	assert_false(has_addr(p, "127.0.0.1"));
	assert_false(has_addr(p, "169.254.169.254"));
	ldns_pkt_free(p);
	assert_int_equal(f->n_inst, 1);
	assert_true(installed(f, "rebind.example.com", 443, "198.51.100.30"));
	assert_int_equal(f->n_filtered, 2);
	p = ask(f, IPPROTO_UDP, "rebind.example.com", LDNS_RR_TYPE_AAAA);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 0); /* ::ffff:127.0.0.1 is loopback too */
	ldns_pkt_free(p);
	assert_int_equal(f->n_inst, 1);
	assert_int_equal(f->n_filtered, 3);
}

static void test_cname_loop_and_forged_answer(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p = ask(f, IPPROTO_UDP, "loop.example.com", LDNS_RR_TYPE_A);

	/* A CNAME loop ends the chain: relayed, nothing installed, no hang. */
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(count_type(ldns_pkt_answer(p), LDNS_RR_TYPE_CNAME), 2);
	ldns_pkt_free(p);
	assert_int_equal(f->n_inst, 0);
	/* A datagram with the wrong ID (203.0.113.99) arrives first and is ignored. */
	p = ask(f, IPPROTO_UDP, "spoofed.example.com", LDNS_RR_TYPE_A);
	assert_true(has_addr(p, "198.51.100.60"));
	assert_false(has_addr(p, "203.0.113.99"));
	ldns_pkt_free(p);
	assert_int_equal(f->n_inst, 1);
	assert_true(installed(f, "spoofed.example.com", 443, "198.51.100.60"));
}

static void test_truncated_udp_then_tcp(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p = ask(f, IPPROTO_UDP, "tc.example.com", LDNS_RR_TYPE_A);

	assert_true(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	assert_int_equal(f->n_inst, 0);
	/* The client retries over TCP, as a resolver library does on TC. */
	p = ask(f, IPPROTO_TCP, "tc.example.com", LDNS_RR_TYPE_A);
	assert_false(ldns_pkt_tc(p));
	assert_true(has_addr(p, "198.51.100.40"));
	/* TTL 1 is clamped up to the 5 s minimum for the kernel entry. */
	assert_int_equal(f->n_inst, 1);
	assert_int_equal(f->inst[0].ttl, 5);
	ldns_pkt_free(p);
	assert_true(upstream_saw(&f->up, "udp:tc.example.com"));
	assert_true(upstream_saw(&f->up, "tcp:tc.example.com"));
}

static void test_upstream_timeout_servfail(void **state)
{
	struct fixture *f = *state;
	struct timespec t0, t1;
	ldns_pkt *p;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	p = ask(f, IPPROTO_UDP, "slow.example.com", LDNS_RR_TYPE_A);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	assert_true(ms >= 250 && ms < 1500);
	ldns_pkt_free(p);
	assert_int_equal(f->n_inst, 0);
	p = ask(f, IPPROTO_TCP, "slow.example.com", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
}

static void test_install_failure_servfail(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p;

	f->fail_install_name = "failing.example.com";
	p = ask(f, IPPROTO_UDP, "failing.example.com", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_false(has_addr(p, "198.51.100.50"));
	ldns_pkt_free(p);
}

static void test_orig_dst_used_and_loop_refused(void **state)
{
	struct fixture *f = *state;
	struct osh_dns_responder *r2;
	struct osh_dns_config cfg = { 0 };
	struct sockaddr_in *l = (struct sockaddr_in *)&cfg.listen[0];
	struct sockaddr_in *dead = (struct sockaddr_in *)&cfg.fallback_upstream;
	ldns_pkt *p;

	/* A responder whose fallback is a closed port: only orig_dst can make it work. */
	l->sin_family = AF_INET;
	l->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg.n_listen = 1;
	dead->sin_family = AF_INET;
	dead->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dead->sin_port = htons(9); /* discard: nothing listens */
	cfg.timeout_ms = 300;
	r2 = responder_new(f, &cfg);
	osh_dns_responder_free(f->r);
	f->r = r2;
	assert_int_equal(osh_dns_responder_local(f->r, 0, IPPROTO_UDP, &f->udp_addr), 0);
	assert_int_equal(osh_dns_responder_local(f->r, 0, IPPROTO_TCP, &f->tcp_addr), 0);

	p = ask(f, IPPROTO_UDP, "api.example.com", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
	f->orig = f->up.addr;
	p = ask(f, IPPROTO_UDP, "api.example.com", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_true(has_addr(p, "198.51.100.10"));
	ldns_pkt_free(p);
	/* A redirect that points at the responder itself is not followed. */
	f->orig = f->udp_addr;
	p = ask(f, IPPROTO_UDP, "api.example.com", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
}

static void test_hot_reload(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p;

	assert_int_equal(osh_dns_responder_set_image(f->r, f->img2), 0);
	p = ask(f, IPPROTO_UDP, "api.example.com", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
	p = ask(f, IPPROTO_UDP, "other.example.com", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN); /* forwarded */
	ldns_pkt_free(p);
	assert_true(upstream_saw(&f->up, "udp:other.example.com"));
	assert_int_equal(osh_dns_responder_set_image(f->r, f->img), 0);
}

/* Raw messages: header fields and a question built by hand. */
static size_t raw_query(uint8_t *b, uint16_t id, uint16_t flags, uint16_t qd,
			const char *qname_wire, size_t qlen, uint16_t qtype)
{
	size_t n = 12;

	memset(b, 0, 12);
	b[0] = (uint8_t)(id >> 8);
	b[1] = (uint8_t)id;
	b[2] = (uint8_t)(flags >> 8);
	b[3] = (uint8_t)flags;
	b[5] = (uint8_t)qd;
	for (uint16_t k = 0; k < qd; k++) {
		memcpy(b + n, qname_wire, qlen);
		n += qlen;
		b[n++] = (uint8_t)(qtype >> 8);
		b[n++] = (uint8_t)qtype;
		b[n++] = 0;
		b[n++] = 1;
	}
	return n;
}

static const char api_wire[] = "\3api\7example\3com";
static const char smuggled[] = "\5a\001b=c\3api\7example\3com";

static int rcode_of(const uint8_t *b, size_t n, uint16_t id)
{
	assert_true(n >= 12);
	assert_int_equal(b[0] << 8 | b[1], id);
	assert_true(b[2] & 0x80);
	return b[3] & 0xf;
}

static void test_malformed_queries(void **state)
{
	struct fixture *f = *state;
	uint8_t q[1024], out[4096];
	size_t n, got;

	/* Garbage shorter than a header: dropped. */
	got = exchange(f, IPPROTO_UDP, (const uint8_t *)"\x01\x02\x03\x04\x05", 5, out, sizeof(out),
		       150);
	assert_int_equal(got, 0);
	/* A response (QR set) is never answered. */
	n = raw_query(q, 0x2222, 0x8100, 1, api_wire, sizeof(api_wire), 1);
	assert_int_equal(exchange(f, IPPROTO_UDP, q, n, out, sizeof(out), 150), 0);
	/* No question: FORMERR. */
	n = raw_query(q, 0x3333, 0x0100, 0, NULL, 0, 1);
	got = exchange(f, IPPROTO_UDP, q, n, out, sizeof(out), 1000);
	assert_int_equal(rcode_of(out, got, 0x3333), LDNS_RCODE_FORMERR);
	/* Two questions: REFUSED. */
	n = raw_query(q, 0x4444, 0x0100, 2, api_wire, sizeof(api_wire), 1);
	got = exchange(f, IPPROTO_UDP, q, n, out, sizeof(out), 1000);
	assert_int_equal(rcode_of(out, got, 0x4444), LDNS_RCODE_REFUSED);
	/* A compression pointer to itself: FORMERR, over TCP too. */
	n = raw_query(q, 0x5555, 0x0100, 1, "\xc0\x0c", 2, 1);
	got = exchange(f, IPPROTO_UDP, q, n, out, sizeof(out), 1000);
	assert_int_equal(rcode_of(out, got, 0x5555), LDNS_RCODE_FORMERR);
	got = exchange(f, IPPROTO_TCP, q, n, out, sizeof(out), 1000);
	assert_int_equal(rcode_of(out, got, 0x5555), LDNS_RCODE_FORMERR);
	/* Question cut short: FORMERR. */
	got = exchange(f, IPPROTO_UDP, q, 14, out, sizeof(out), 1000);
	assert_int_equal(rcode_of(out, got, 0x5555), LDNS_RCODE_FORMERR);
	/* Opcode NOTIFY (4) and UPDATE (5): REFUSED. */
	n = raw_query(q, 0x6666, 4 << 11, 1, api_wire, sizeof(api_wire), 6);
	got = exchange(f, IPPROTO_UDP, q, n, out, sizeof(out), 1000);
	assert_int_equal(rcode_of(out, got, 0x6666), LDNS_RCODE_REFUSED);
	n = raw_query(q, 0x6667, 5 << 11, 1, api_wire, sizeof(api_wire), 6);
	got = exchange(f, IPPROTO_TCP, q, n, out, sizeof(out), 1000);
	assert_int_equal(rcode_of(out, got, 0x6667), LDNS_RCODE_REFUSED);
	/* ANY and AXFR of an allowed name: REFUSED. */
	n = raw_query(q, 0x7777, 0x0100, 1, api_wire, sizeof(api_wire), 255);
	got = exchange(f, IPPROTO_UDP, q, n, out, sizeof(out), 1000);
	assert_int_equal(rcode_of(out, got, 0x7777), LDNS_RCODE_REFUSED);
	n = raw_query(q, 0x7778, 0x0000, 1, api_wire, sizeof(api_wire), 252);
	got = exchange(f, IPPROTO_TCP, q, n, out, sizeof(out), 1000);
	assert_int_equal(rcode_of(out, got, 0x7778), LDNS_RCODE_REFUSED);
	/* Characters outside letters, digits, '-', '_' (data smuggled in a label): REFUSED. */
	n = raw_query(q, 0x8888, 0x0100, 1, smuggled, sizeof(smuggled), 1);
	got = exchange(f, IPPROTO_UDP, q, n, out, sizeof(out), 1000);
	assert_int_equal(rcode_of(out, got, 0x8888), LDNS_RCODE_REFUSED);
	/* A label longer than 63: FORMERR (the parser rejects it). */
	q[12] = 70;
	memset(q + 13, 'a', 70);
	q[12 + 71] = 0;
	memcpy(q + 12 + 72, "\0\1\0\1", 4);
	q[5] = 1;
	got = exchange(f, IPPROTO_UDP, q, 12 + 76, out, sizeof(out), 1000);
	assert_int_equal(rcode_of(out, got, q[0] << 8 | q[1]), LDNS_RCODE_FORMERR);
	/* Nothing of this reached the resolver or the kernel. */
	assert_int_equal(f->n_inst, 0);
	assert_false(upstream_saw(&f->up, "udp:api.example.com"));
	assert_true(f->n_denied >= 8);
}

static void test_random_garbage_then_still_serving(void **state)
{
	struct fixture *f = *state;
	uint8_t q[600], out[4096];
	unsigned seed = 1234;
	ldns_pkt *p;

	for (int k = 0; k < 300; k++) {
		size_t n = (size_t)(rand_r(&seed) % sizeof(q));

		for (size_t i = 0; i < n; i++)
			q[i] = (uint8_t)rand_r(&seed);
		if (n > 2)
			q[2] &= 0x7f; /* a query, so that the responder answers or drops it */
		(void)exchange(f, k % 5 ? IPPROTO_UDP : IPPROTO_TCP, q, n ? n : 1, out, sizeof(out),
			       k % 50 ? 0 : 50);
	}
	for (int k = 0; k < 20; k++)
		osh_dns_responder_process(f->r, 10);
	p = ask(f, IPPROTO_UDP, "api.example.com", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ldns_pkt_free(p);
}

static void test_tcp_pipelined(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[1024], out[2][4096];
	size_t l1, l2, n = 0;
	uint8_t *q1 = make_query("api.example.com", LDNS_RR_TYPE_A, 0x0a0a, &l1);
	uint8_t *q2 = make_query("evil.example.net", LDNS_RR_TYPE_A, 0x0b0b, &l2);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int got = 0;
	bool saw_a = false, saw_b = false;

	buf[n++] = (uint8_t)(l1 >> 8);
	buf[n++] = (uint8_t)l1;
	memcpy(buf + n, q1, l1);
	n += l1;
	buf[n++] = (uint8_t)(l2 >> 8);
	buf[n++] = (uint8_t)l2;
	memcpy(buf + n, q2, l2);
	n += l2;
	free(q1);
	free(q2);
	assert_int_equal(connect(fd, (struct sockaddr *)&f->tcp_addr, sizeof(struct sockaddr_in)),
			 0);
	assert_int_equal(send(fd, buf, n, 0), (ssize_t)n);
	f->client_fd = fd;
	for (int k = 0; k < 200 && got < 2; k++) {
		uint8_t hdr[2];

		osh_dns_responder_process(f->r, 20);
		while (got < 2 && recv(fd, hdr, 2, MSG_DONTWAIT) == 2) {
			size_t ml = (size_t)(hdr[0] << 8 | hdr[1]);

			assert_int_equal(recv(fd, out[got], ml, MSG_WAITALL), (ssize_t)ml);
			if ((out[got][0] << 8 | out[got][1]) == 0x0a0a)
				saw_a = (out[got][3] & 0xf) == LDNS_RCODE_NOERROR;
			if ((out[got][0] << 8 | out[got][1]) == 0x0b0b)
				saw_b = (out[got][3] & 0xf) == LDNS_RCODE_REFUSED;
			got++;
		}
	}
	close(fd);
	assert_int_equal(got, 2);
	assert_true(saw_a);
	assert_true(saw_b);
}

/* ---- pure functions ---- */

static void test_name_match_table(void **state)
{
	static const struct {
		const char *pattern, *name;
		bool match;
	} t[] = {
		{ "api.example.com", "api.example.com", true },
		{ "api.example.com", "API.EXAMPLE.COM", true },
		{ "api.example.com", "xapi.example.com", false },
		{ "api.example.com", "a.api.example.com", false },
		{ "api.example.com", "api.example.co", false },
		{ "*.example.com", "a.example.com", true },
		{ "*.example.com", "a.b.example.com", false },
		{ "*.example.com", "example.com", false },
		{ "*.example.com", ".example.com", false },
		{ "*.example.com", "aexample.com", false },
		{ "**.example.com", "a.example.com", true },
		{ "**.example.com", "a.b.c.example.com", true },
		{ "**.example.com", "example.com", false },
		{ "**.example.com", "a..example.com", false },
		{ "*-api.example.com", "foo-api.example.com", true },
		{ "*-api.example.com", "-api.example.com", true },
		{ "*-api.example.com", "foo-apix.example.com", false },
		{ "*-api.example.com", "a.foo-api.example.com", false },
		{ "a*b*c.example.com", "aXbYc.example.com", true },
		{ "a*b*c.example.com", "abc.example.com", true },
		{ "a*b*c.example.com", "acb.example.com", false },
		{ "api-*.example.com", "api-v2.example.com", true },
		{ "*.example.com", "", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (osh_dns_name_match(t[i].pattern, t[i].name) != t[i].match)
			fail_msg("%s vs %s: expected %d", t[i].pattern, t[i].name, t[i].match);
	}
}

static void test_addr_forbidden_table(void **state)
{
	static const struct {
		const char *addr;
		bool bad;
	} t[] = {
		{ "0.0.0.0", true },
		{ "127.0.0.1", true },
		{ "127.255.0.9", true },
		{ "169.254.169.254", true },
		{ "224.0.0.1", true },
		{ "255.255.255.255", true },
		{ "198.51.100.1", false },
		{ "10.0.0.1", false },
		{ "::", true },
		{ "::1", true },
		{ "fe80::1", true },
		{ "ff02::1", true },
		{ "64:ff9b::7f00:1", true },
		{ "2002:7f00:1::", true },
		{ "64:ff9b::c633:6401", false },
		{ "2001:db8::1", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t a[16] = { 0 };
		int fam = strchr(t[i].addr, ':') ? AF_INET6 : AF_INET;

		assert_int_equal(inet_pton(fam, t[i].addr, a), 1);
		if (osh_dns_addr_forbidden(fam, a, NULL) != t[i].bad)
			fail_msg("%s: expected %d", t[i].addr, t[i].bad);
	}
}

static void test_query_parse_checks(void **state)
{
	struct osh_dns_query q;
	uint8_t b[600] = { 0 };
	size_t n;

	(void)state;
	assert_int_equal(osh_dns_query_parse(b, 11, &q), -EBADMSG);
	n = raw_query(b, 1, 0x0100, 1, api_wire, sizeof(api_wire), 1);
	assert_int_equal(osh_dns_query_parse(b, n, &q), 0);
	assert_int_equal(q.rcode, 0);
	assert_string_equal(q.qname, "api.example.com");
	assert_int_equal(q.qtype, 1);
	/* Underscore is a legitimate name character (SRV-style labels). */
	n = raw_query(b, 1, 0x0100, 1, "\4_svc\7example\3com", 18, 33);
	assert_int_equal(osh_dns_query_parse(b, n, &q), 0);
	assert_int_equal(q.rcode, 0);
	assert_string_equal(q.qname, "_svc.example.com");
	/* Class CH is refused. */
	n = raw_query(b, 1, 0x0100, 1, api_wire, sizeof(api_wire), 16);
	b[n - 1] = 3;
	assert_int_equal(osh_dns_query_parse(b, n, &q), 0);
	assert_int_equal(q.rcode, OSH_DNS_RCODE_REFUSED);
	/* A NUL byte in a label is printed escaped and refused. */
	n = raw_query(b, 1, 0x0100, 1, "\3a\0b\3com", 9, 1);
	assert_int_equal(osh_dns_query_parse(b, n, &q), 0);
	assert_int_equal(q.rcode, OSH_DNS_RCODE_REFUSED);
	assert_string_equal(q.qname_printed, "a\\000b.com");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_match_table),
		cmocka_unit_test(test_addr_forbidden_table),
		cmocka_unit_test(test_query_parse_checks),
		cmocka_unit_test_setup_teardown(test_exact_name_installed_before_answer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tcp_path_aaaa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_denied_name_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wildcards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cname_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allowed_ips_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebinding_to_special_addresses_filtered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cname_loop_and_forged_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_udp_then_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_timeout_servfail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_failure_servfail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orig_dst_used_and_loop_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hot_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_garbage_then_still_serving, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tcp_pipelined, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
