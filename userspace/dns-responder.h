/* SPDX-License-Identifier: Apache-2.0 */
/* osh's DNS responder: the kernel redirects every port-53 query of a sandbox here; names some
 * endpoint allows are forwarded to the resolver the sandbox asked for and their answered addresses
 * installed (callback) before the answer is relayed; everything else gets REFUSED and a denial
 * (callback). One responder per sandbox; single-threaded; see docs/arch-dns.md. */
#ifndef OSH_DNS_RESPONDER_H
#define OSH_DNS_RESPONDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy.h"

#define OSH_DNS_MAX_LISTEN 8

struct osh_dns_config {
	/* Addresses to listen on, UDP and TCP each; port 0 picks one free port used for both
	 * (osh_dns_responder_local() reports it). n_listen == 0: 127.0.0.1 and ::1, port 0. */
	struct sockaddr_storage listen[OSH_DNS_MAX_LISTEN];
	size_t n_listen;
	/* Upstream when orig_dst is NULL or returns -ENOENT; AF_UNSPEC: none (SERVFAIL). */
	struct sockaddr_storage fallback_upstream;
	/* Ignore the resolver the sandbox asked for and always use fallback_upstream: a sandbox that
	 * picks its resolver also picks the addresses an allowed name resolves to. */
	int upstream_fixed;
	unsigned timeout_ms;	  /* upstream answer timeout; 0: 2000 */
	unsigned max_inflight;	  /* queries waiting for upstream; 0: 256 */
	unsigned max_tcp_clients; /* concurrent TCP client connections; 0: 64 */
	unsigned tcp_idle_ms;	  /* idle TCP client connections are closed; 0: 10000 */
	uint32_t ttl_min;	  /* clamp of the installed TTL in seconds; 0 and 0: 5 .. 3600 */
	uint32_t ttl_max;
};

struct osh_dns_callbacks {
	void *ctx;
	/* The original destination of a redirected query (proto IPPROTO_UDP or IPPROTO_TCP; client
	 * is the peer address as the responder sees it). Return 0 and fill ret_dst, -ENOENT to use
	 * cfg->fallback_upstream, another negative errno for SERVFAIL. May be NULL. */
	int (*orig_dst)(void *ctx, int proto, const struct sockaddr_storage *client,
			struct sockaddr_storage *ret_dst);
	/* Installs an answered address for one policy name entry the question's name matches,
	 * before the answer is relayed; called once per (matching entry, address). family is
	 * AF_INET (addr[0..3]) or AF_INET6. ttl is clamped to [ttl_min, ttl_max]; the relayed
	 * records carry at most this TTL. A negative return makes the client get SERVFAIL and no
	 * address of that answer. Required. */
	int (*install)(void *ctx, const struct osh_image_name *name, int family,
		       const uint8_t addr[16], uint32_t ttl);
	/* A refused query: qname escaped for printing ("" when there was none), reason a static
	 * string. May be NULL. */
	void (*deny)(void *ctx, const char *qname, uint16_t qtype,
		     const struct sockaddr_storage *client, const char *reason);
	/* An answered address that was not installed and was removed from the answer (outside
	 * allowed_ips, loopback, ...). May be NULL. */
	void (*filtered)(void *ctx, const char *qname, const struct osh_image_name *name,
			 int family, const uint8_t addr[16], const char *reason);
};

struct osh_dns_responder;

/* Creates a responder listening as cfg says (cfg and cb are copied; img is borrowed and must
 * stay valid until replaced with osh_dns_responder_set_image() or the responder is freed).
 * Returns 0 and the responder in *ret, or a negative errno (-EADDRINUSE, -EINVAL, -ENOMEM, ...). */
int osh_dns_responder_new(const struct osh_dns_config *cfg, const struct osh_policy_image *img,
			  const struct osh_dns_callbacks *cb, struct osh_dns_responder **ret);

/* Hot reload: queries received from now on, and answers arriving from now on, are checked against
 * img (a name the new image no longer allows gets REFUSED even if it was forwarded before). */
int osh_dns_responder_set_image(struct osh_dns_responder *r, const struct osh_policy_image *img);

/* The responder's epoll descriptor: readable when osh_dns_responder_process() has work (queries,
 * answers, or a timeout that expired: deadlines are a timerfd inside it). Owned by r. */
int osh_dns_responder_fd(const struct osh_dns_responder *r);

/* Waits up to timeout_ms (0: do not wait, -1: forever) for work and does it, calling the
 * callbacks from this thread. Returns the number of events handled (>= 0), or a negative errno
 * on a failure of the responder itself (not of a query). */
int osh_dns_responder_process(struct osh_dns_responder *r, int timeout_ms);

/* The bound address of listen entry i (with the port chosen when 0 was asked). proto is
 * IPPROTO_UDP or IPPROTO_TCP. Returns 0 or -ENOENT. */
int osh_dns_responder_local(const struct osh_dns_responder *r, size_t i, int proto,
			    struct sockaddr_storage *ret_addr);

/* Counters, for tests and `oshctl` status. */
struct osh_dns_stats {
	uint64_t queries;   /* messages received from clients */
	uint64_t refused;   /* answered REFUSED (denied names and refused forms) */
	uint64_t formerr;   /* answered FORMERR */
	uint64_t dropped;   /* not answered at all (too short, a response, ...) */
	uint64_t forwarded; /* sent upstream */
	uint64_t answered;  /* upstream answers relayed */
	uint64_t servfail;  /* SERVFAIL sent (timeout, install failure, no upstream, overload) */
	uint64_t installed; /* install callbacks that succeeded */
	uint64_t filtered;  /* addresses removed from answers */
};
void osh_dns_responder_stats(const struct osh_dns_responder *r, struct osh_dns_stats *ret);

/* Closes every socket and frees r; queries in flight are dropped unanswered. Accepts NULL. */
void osh_dns_responder_free(struct osh_dns_responder *r);

#endif
