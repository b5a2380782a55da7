/* SPDX-License-Identifier: Apache-2.0 */
/* DNS messages for osh's DNS responder: checking a sandbox's query, building the query sent
 * upstream and the error replies, and taking an upstream answer apart (CNAME chain, addresses)
 * and back together. Pure functions over bytes (parsed by ldns); no sockets, never prints. */
#ifndef OSH_DNS_MSG_H
#define OSH_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OSH_DNS_HEADER_LEN	  12
#define OSH_DNS_MAX_NAME_LEN	  253	/* text form, no trailing dot */
#define OSH_DNS_MAX_WIRE_NAME	  255	/* wire form, RFC 1035 */
#define OSH_DNS_MAX_MSG		  65535 /* TCP length prefix bound */
#define OSH_DNS_UDP_MIN		  512	/* what a client without EDNS accepts */
#define OSH_DNS_MAX_ADDRS	  32	/* A/AAAA per answer that may be installed */
#define OSH_DNS_MAX_CHAIN	  16	/* CNAMEs followed from the question's name */
#define OSH_DNS_MAX_QNAME_PRINTED 1024	/* escaped name handed to the deny callback, NUL included */

enum osh_dns_rcode {
	OSH_DNS_RCODE_NOERROR = 0,
	OSH_DNS_RCODE_FORMERR = 1,
	OSH_DNS_RCODE_SERVFAIL = 2,
	OSH_DNS_RCODE_NXDOMAIN = 3,
	OSH_DNS_RCODE_NOTIMP = 4,
	OSH_DNS_RCODE_REFUSED = 5,
};

enum osh_dns_type {
	OSH_DNS_TYPE_A = 1,
	OSH_DNS_TYPE_CNAME = 5,
	OSH_DNS_TYPE_AAAA = 28,
	OSH_DNS_TYPE_IXFR = 251,
	OSH_DNS_TYPE_AXFR = 252,
	OSH_DNS_TYPE_ANY = 255,
};

/* A sandbox's query after osh_dns_query_parse(). When rcode is not NOERROR the query must be
 * answered with that rcode (reason says why); otherwise qname is a valid, lower-case name. */
struct osh_dns_query {
	uint16_t id;
	uint16_t flags; /* header flags word as received */
	uint16_t qtype;
	uint16_t qclass;
	bool has_question; /* the question below can be echoed in a reply */
	bool edns;
	bool edns_do;
	uint16_t edns_udp_size;
	uint8_t rcode;	    /* enum osh_dns_rcode to answer with; NOERROR: forward if allowed */
	const char *reason; /* static string when rcode != NOERROR */
	uint8_t qname_wire[OSH_DNS_MAX_WIRE_NAME];
	size_t qname_wire_len;
	char qname[OSH_DNS_MAX_NAME_LEN + 1];	       /* lower case, no trailing dot */
	char qname_printed[OSH_DNS_MAX_QNAME_PRINTED]; /* as received, escaped, for events */
};

/* Checks a query from a sandbox. Returns 0 and fills *ret (see struct osh_dns_query: rcode tells
 * whether to refuse it), or -EBADMSG when the bytes are too short to carry an ID (drop them).
 * Refused: opcode other than QUERY (NOTIMP), a response (QR set: dropped as -EBADMSG),
 * not exactly one question (FORMERR for none, REFUSED for several), records in the answer or
 * authority section (FORMERR), class other than IN, ANY/AXFR/IXFR, and names with characters
 * other than letters, digits, '-', '_' or longer than 253 characters (REFUSED). */
int osh_dns_query_parse(const uint8_t *buf, size_t len, struct osh_dns_query *ret);

/* Builds the query sent upstream: the question, RD/CD as the client set them, and EDNS with the
 * client's UDP size and DO bit when the client used EDNS; nothing else of the client's message.
 * Returns 0 and a malloc'ed buffer the caller frees, or -ENOMEM. */
int osh_dns_query_build(const struct osh_dns_query *q, uint16_t id, uint8_t **ret_buf,
			size_t *ret_len);

/* Writes a reply with rcode to q: same ID and opcode, RD copied, the question echoed when q has
 * one, TC set when truncated is true. cap >= OSH_DNS_HEADER_LEN + OSH_DNS_MAX_WIRE_NAME + 4.
 * Returns the length written, or -ENOSPC. */
int osh_dns_reply_error(const struct osh_dns_query *q, uint8_t rcode, bool truncated, uint8_t *out,
			size_t cap);

/* Largest reply the client accepts over UDP: its EDNS size (at least 512), else 512. */
size_t osh_dns_query_udp_limit(const struct osh_dns_query *q);

/* One address of an answer on the question's CNAME chain. */
struct osh_dns_addr {
	int family;	  /* AF_INET or AF_INET6; IPv4-mapped IPv6 is returned as AF_INET */
	uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
	uint32_t ttl;	  /* min over the chain and the record, clamped as requested */
	bool keep;	  /* relay this record (cleared with osh_dns_answer_drop()) */
};

struct ldns_struct_pkt;

/* An upstream answer taken apart. Owns the parsed packet. */
struct osh_dns_answer {
	struct ldns_struct_pkt *pkt;
	uint8_t rcode;
	bool truncated; /* TC set: carries no usable addresses, the client must retry over TCP */
	struct osh_dns_addr addrs[OSH_DNS_MAX_ADDRS];
	size_t n_addrs;
	size_t n_skipped; /* A/AAAA records past OSH_DNS_MAX_ADDRS, never relayed */
	uint32_t ttl;	  /* TTL written into relayed chain records: min of the kept addrs' */
};

/* Checks that buf answers q (ID id, QR set, opcode QUERY, the same single question) and
 * collects the A/AAAA records of the answer section whose owner is the question's name or on its
 * CNAME chain, with TTL = min(chain TTLs, record TTL) clamped to [ttl_min, ttl_max]. Addresses
 * are collected only from NOERROR answers without TC. Returns 0 and a new answer (free with
 * osh_dns_answer_free()), -EBADMSG when the bytes do not parse, -ESRCH when they are a message
 * but not the answer to q (wrong ID or question: keep waiting), -ENOMEM. */
int osh_dns_answer_parse(const struct osh_dns_query *q, uint16_t id, const uint8_t *buf, size_t len,
			 uint32_t ttl_min, uint32_t ttl_max, struct osh_dns_answer **ret);

/* Builds the reply relayed to the client: the answer with ID q->id; every A/AAAA record that is
 * not a kept address of the chain is removed from all sections; TTLs of the kept records and of
 * the chain's CNAMEs are lowered to the TTL they were installed with (so the client never caches
 * an address longer than the kernel allows it). A reply longer than max_len is replaced by a
 * truncated one (TC, question only). Returns 0 and a malloc'ed buffer, or -ENOMEM/-EBADMSG. */
int osh_dns_answer_build(struct osh_dns_answer *a, const struct osh_dns_query *q, size_t max_len,
			 uint8_t **ret_buf, size_t *ret_len);

void osh_dns_answer_free(struct osh_dns_answer *a);

/* Checks a name (text, lower case, no trailing dot) against a policy host pattern, as the policy
 * compiler accepts them (docs/policy.md): an exact name; '*' inside the first label matching any
 * run of characters within that one label ("*.x.com" one label, "*-api.x.com"); "**" as the whole
 * first label matching one or more labels ("**.x.com" matches a.x.com and a.b.x.com, not x.com).
 * Comparison is case-insensitive. Returns true when name matches. */
bool osh_dns_name_match(const char *pattern, const char *name);

/* True when the address is one osh never installs from a DNS answer: unspecified, loopback,
 * link-local (which covers the metadata address), multicast, broadcast, and the NAT64 (64:ff9b::/96)
 * and 6to4 (2002::/16) forms of such IPv4 addresses. Sets *ret_what to a description. */
bool osh_dns_addr_forbidden(int family, const uint8_t addr[16], const char **ret_what);

struct osh_cidr;
struct osh_endpoint;

/* True when the CIDR (policy-compiler form: family 4 or 6) contains the address. */
bool osh_dns_cidr_contains(const struct osh_cidr *c, int family, const uint8_t addr[16]);

/* True when an answered address may become an entry of the endpoint: it is not forbidden (above)
 * and, when the endpoint has allowed_ips, one of them contains it. *ret_why says why not. */
bool osh_dns_endpoint_allows(const struct osh_endpoint *ep, int family, const uint8_t addr[16],
			     const char **ret_why);

#endif
