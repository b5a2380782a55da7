// SPDX-License-Identifier: Apache-2.0
// DNS messages of the responder (see dns-msg.h): every byte from a sandbox or an upstream resolver
// is parsed by ldns; this file decides what to refuse, which addresses an answer carries for the
// question's name, and rebuilds what is relayed so that no uninstalled address reaches a sandbox.
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <ldns/ldns.h>

#include "dns-msg.h"
#include "policy.h"

#define FLAG_QR	    0x8000
#define FLAG_TC	    0x0200
#define FLAG_RD	    0x0100
#define OPCODE_MASK 0x7800
#define TYPE_MAILB  253
#define TYPE_MAILA  254
#define CLASS_IN    1

/* an_map values of answer-section records that are not addresses */
#define MAP_OTHER (-1)
#define MAP_CHAIN (-2)

/* Private part of struct osh_dns_answer: which answer record is what. */
struct answer_priv {
	struct osh_dns_answer pub;
	int *an_map; /* per answer-section record: address index, MAP_CHAIN or MAP_OTHER */
	size_t n_an;
	uint32_t ttl_max;
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static bool name_char_ok(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Fills qname (validated, lower case) and qname_printed (escaped, any bytes) from a wire name.
 * Returns NULL when the name is acceptable, else the reason to refuse it. */
static const char *name_from_wire(struct osh_dns_query *q, const uint8_t *w, size_t len)
{
	const char *bad = NULL;
	size_t i = 0, t = 0, p = 0;

	q->qname[0] = '\0';
	q->qname_printed[0] = '\0';
	if (len == 0 || len > sizeof(q->qname_wire))
		return "malformed name";
	memcpy(q->qname_wire, w, len);
	q->qname_wire_len = len;
	if (len == 1 && w[0] == 0) {
		snprintf(q->qname_printed, sizeof(q->qname_printed), ".");
		return NULL;
	}
	while (i < len && w[i] != 0) {
		size_t l = w[i++];

		/* ldns decompresses: a pointer or a label past the end is a broken invariant. */
		if (l > 63 || i + l > len)
			return "malformed name";
		if (t) {
			if (t < sizeof(q->qname) - 1)
				q->qname[t] = '.';
			t++;
			if (p + 1 < sizeof(q->qname_printed))
				q->qname_printed[p++] = '.';
		}
		for (size_t k = 0; k < l; k++, i++) {
			uint8_t c = w[i];

			if (!name_char_ok(c))
				bad = bad ? bad : "invalid character in name";
			/* At most ~1010 bytes for a 255-byte name; the check keeps it a bound. */
			if (p + 5 < sizeof(q->qname_printed)) {
				if (!name_char_ok(c))
					p += (size_t)snprintf(q->qname_printed + p,
							      sizeof(q->qname_printed) - p,
							      "\\%03u", c);
				else
					q->qname_printed[p++] = (char)c;
			}
			if (t < sizeof(q->qname) - 1)
				q->qname[t] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			t++;
		}
	}
	q->qname_printed[p] = '\0';
	if (t > OSH_DNS_MAX_NAME_LEN) {
		q->qname[0] = '\0';
		return bad ? bad : "name too long";
	}
	q->qname[t] = '\0';
	if (bad)
		q->qname[0] = '\0';
	return bad;
}

static void refuse(struct osh_dns_query *q, uint8_t rcode, const char *why)
{
	if (q->rcode == OSH_DNS_RCODE_NOERROR) {
		q->rcode = rcode;
		q->reason = why;
	}
}

int osh_dns_query_parse(const uint8_t *buf, size_t len, struct osh_dns_query *ret)
{
	struct osh_dns_query *q = ret;
	ldns_pkt *pkt = NULL;
	ldns_rr_list *qs;
	ldns_rr *rr;
	ldns_rdf *owner;
	const char *bad;

	if (!buf || len < OSH_DNS_HEADER_LEN || len > OSH_DNS_MAX_MSG)
		return -EBADMSG;
	memset(q, 0, sizeof(*q));
	q->id = get16(buf);
	q->flags = get16(buf + 2);
	/* Never answer a response: two responders could otherwise bounce errors forever. */
	if (q->flags & FLAG_QR)
		return -EBADMSG;
	q->rcode = OSH_DNS_RCODE_NOERROR;
	q->reason = NULL;
	snprintf(q->qname_printed, sizeof(q->qname_printed), "%s", "");

	if (ldns_wire2pkt(&pkt, buf, len) != LDNS_STATUS_OK || !pkt) {
		/* The header parsed; what follows did not (truncated, compression loop, ...). */
		if (get16(buf + 4) == 0)
			refuse(q, OSH_DNS_RCODE_FORMERR, "query has no question");
		else if (get16(buf + 4) > 1)
			refuse(q, OSH_DNS_RCODE_REFUSED, "more than one question");
		refuse(q, OSH_DNS_RCODE_FORMERR, "malformed query");
		return 0;
	}
	qs = ldns_pkt_question(pkt);
	if (qs && ldns_rr_list_rr_count(qs) >= 1) {
		rr = ldns_rr_list_rr(qs, 0);
		owner = ldns_rr_owner(rr);
		q->qtype = (uint16_t)ldns_rr_get_type(rr);
		q->qclass = (uint16_t)ldns_rr_get_class(rr);
		if (owner && ldns_rdf_get_type(owner) == LDNS_RDF_TYPE_DNAME) {
			bad = name_from_wire(q, ldns_rdf_data(owner), ldns_rdf_size(owner));
			q->has_question = q->qname_wire_len > 0;
			if (bad)
				refuse(q,
				       !q->has_question ? OSH_DNS_RCODE_FORMERR
							: OSH_DNS_RCODE_REFUSED,
				       bad);
		} else {
			refuse(q, OSH_DNS_RCODE_FORMERR, "malformed name");
		}
	}
	q->edns = ldns_pkt_edns(pkt);
	q->edns_do = ldns_pkt_edns_do(pkt);
	q->edns_udp_size = ldns_pkt_edns_udp_size(pkt);

	/* Order matters only for which reason is reported first. */
	if ((q->flags & OPCODE_MASK) != 0)
		refuse(q, OSH_DNS_RCODE_REFUSED, "opcode is not QUERY");
	if (ldns_pkt_qdcount(pkt) == 0)
		refuse(q, OSH_DNS_RCODE_FORMERR, "query has no question");
	else if (ldns_pkt_qdcount(pkt) > 1)
		refuse(q, OSH_DNS_RCODE_REFUSED, "more than one question");
	if (ldns_pkt_ancount(pkt) || ldns_pkt_nscount(pkt))
		refuse(q, OSH_DNS_RCODE_FORMERR, "query carries answer or authority records");
	if (q->has_question && q->qclass != CLASS_IN)
		refuse(q, OSH_DNS_RCODE_REFUSED, "class is not IN");
	if (q->qtype == OSH_DNS_TYPE_ANY || q->qtype == OSH_DNS_TYPE_AXFR ||
	    q->qtype == OSH_DNS_TYPE_IXFR || q->qtype == TYPE_MAILA || q->qtype == TYPE_MAILB)
		refuse(q, OSH_DNS_RCODE_REFUSED, "ANY, AXFR and IXFR queries are not answered");
	ldns_pkt_free(pkt);
	return 0;
}

size_t osh_dns_query_udp_limit(const struct osh_dns_query *q)
{
	if (q->edns && q->edns_udp_size > OSH_DNS_UDP_MIN)
		return q->edns_udp_size;
	return OSH_DNS_UDP_MIN;
}

int osh_dns_query_build(const struct osh_dns_query *q, uint16_t id, uint8_t **ret_buf,
			size_t *ret_len)
{
	ldns_rdf *owner;
	ldns_pkt *pkt;
	uint8_t *wire = NULL;
	size_t n = 0;
	uint16_t flags = 0;
	int r = 0;

	if (!q->has_question)
		return -EINVAL;
	owner = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, q->qname_wire_len, q->qname_wire);
	if (!owner)
		return -ENOMEM;
	if (q->flags & FLAG_RD)
		flags |= LDNS_RD;
	if (q->flags & 0x0010)
		flags |= LDNS_CD;
	/* Takes ownership of owner. */
	pkt = ldns_pkt_query_new(owner, (ldns_rr_type)q->qtype, (ldns_rr_class)q->qclass, flags);
	if (!pkt)
		return -ENOMEM;
	ldns_pkt_set_id(pkt, id);
	if (q->edns) {
		ldns_pkt_set_edns_udp_size(
		    pkt, q->edns_udp_size < OSH_DNS_UDP_MIN ? OSH_DNS_UDP_MIN : q->edns_udp_size);
		ldns_pkt_set_edns_do(pkt, q->edns_do);
	}
	if (ldns_pkt2wire(&wire, pkt, &n) != LDNS_STATUS_OK || !wire)
		r = -ENOMEM;
	ldns_pkt_free(pkt);
	if (r < 0)
		return r;
	*ret_buf = wire;
	*ret_len = n;
	return 0;
}

int osh_dns_reply_error(const struct osh_dns_query *q, uint8_t rcode, bool truncated, uint8_t *out,
			size_t cap)
{
	size_t n = OSH_DNS_HEADER_LEN;
	uint16_t flags = FLAG_QR | (q->flags & (OPCODE_MASK | FLAG_RD)) | (rcode & 0xf);

	if (cap < OSH_DNS_HEADER_LEN + OSH_DNS_MAX_WIRE_NAME + 4)
		return -ENOSPC;
	if (truncated)
		flags |= FLAG_TC;
	memset(out, 0, OSH_DNS_HEADER_LEN);
	put16(out, q->id);
	put16(out + 2, flags);
	if (q->has_question && q->qname_wire_len <= OSH_DNS_MAX_WIRE_NAME) {
		put16(out + 4, 1);
		memcpy(out + n, q->qname_wire, q->qname_wire_len);
		n += q->qname_wire_len;
		put16(out + n, q->qtype);
		put16(out + n + 2, q->qclass);
		n += 4;
	}
	return (int)n;
}

static uint32_t clamp(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static bool on_chain(ldns_rdf *const *chain, size_t n, const ldns_rdf *name)
{
	for (size_t i = 0; i < n; i++)
		if (ldns_dname_compare(chain[i], name) == 0)
			return true;
	return false;
}

/* Adds an address (deduplicated, keeping the lower TTL); returns its index or -1 past the bound. */
static int addr_add(struct osh_dns_answer *a, const ldns_rdf *rd, ldns_rr_type t, uint32_t ttl)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct osh_dns_addr x = { .ttl = ttl, .keep = true };
	const uint8_t *d = ldns_rdf_data(rd);

	if (t == LDNS_RR_TYPE_A) {
		if (ldns_rdf_size(rd) != 4)
			return MAP_OTHER;
		x.family = AF_INET;
		memcpy(x.addr, d, 4);
	} else {
		if (ldns_rdf_size(rd) != 16)
			return MAP_OTHER;
		/* The kernel normalises mapped destinations to IPv4; so does the entry. */
		if (!memcmp(d, mapped, sizeof(mapped))) {
			x.family = AF_INET;
			memcpy(x.addr, d + 12, 4);
		} else {
			x.family = AF_INET6;
			memcpy(x.addr, d, 16);
		}
	}
	for (size_t i = 0; i < a->n_addrs; i++) {
		if (a->addrs[i].family == x.family && !memcmp(a->addrs[i].addr, x.addr, 16)) {
			if (ttl < a->addrs[i].ttl)
				a->addrs[i].ttl = ttl;
			return (int)i;
		}
	}
	if (a->n_addrs >= OSH_DNS_MAX_ADDRS) {
		a->n_skipped++;
		return MAP_OTHER;
	}
	a->addrs[a->n_addrs] = x;
	return (int)a->n_addrs++;
}

/* Follows the CNAME chain from the question's name and collects the addresses on it. */
static int collect(struct answer_priv *ap, ldns_rdf *qname, uint32_t ttl_min, uint32_t ttl_max)
{
	struct osh_dns_answer *a = &ap->pub;
	ldns_rr_list *an = ldns_pkt_answer(a->pkt);
	ldns_rdf *chain[OSH_DNS_MAX_CHAIN + 1];
	size_t n_chain = 0;
	uint32_t chain_ttl = UINT32_MAX;

	ap->n_an = an ? ldns_rr_list_rr_count(an) : 0;
	if (!ap->n_an)
		return 0;
	ap->an_map = calloc(ap->n_an, sizeof(*ap->an_map));
	if (!ap->an_map)
		return -ENOMEM;
	for (size_t i = 0; i < ap->n_an; i++)
		ap->an_map[i] = MAP_OTHER;
	chain[n_chain++] = qname;
	/* Each round extends the chain by the CNAME of its last name; records may come in any
	 * order, a loop ends it, and so does the bound. */
	for (bool grew = true; grew && n_chain <= OSH_DNS_MAX_CHAIN;) {
		grew = false;
		for (size_t i = 0; i < ap->n_an; i++) {
			ldns_rr *rr = ldns_rr_list_rr(an, i);
			ldns_rdf *target;

			if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME ||
			    ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
			    ap->an_map[i] == MAP_CHAIN || ldns_rr_rd_count(rr) != 1 ||
			    ldns_dname_compare(ldns_rr_owner(rr), chain[n_chain - 1]) != 0)
				continue;
			target = ldns_rr_rdf(rr, 0);
			if (!target || ldns_rdf_get_type(target) != LDNS_RDF_TYPE_DNAME)
				continue;
			ap->an_map[i] = MAP_CHAIN;
			if (ldns_rr_ttl(rr) < chain_ttl)
				chain_ttl = ldns_rr_ttl(rr);
			if (on_chain(chain, n_chain, target))
				break;
			chain[n_chain++] = target;
			grew = true;
			break;
		}
	}
	for (size_t i = 0; i < ap->n_an; i++) {
		ldns_rr *rr = ldns_rr_list_rr(an, i);
		ldns_rr_type t = ldns_rr_get_type(rr);
		uint32_t ttl;

		if ((t != LDNS_RR_TYPE_A && t != LDNS_RR_TYPE_AAAA) ||
		    ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN || ldns_rr_rd_count(rr) != 1 ||
		    !on_chain(chain, n_chain, ldns_rr_owner(rr)))
			continue;
		ttl = ldns_rr_ttl(rr) < chain_ttl ? ldns_rr_ttl(rr) : chain_ttl;
		ap->an_map[i] = addr_add(a, ldns_rr_rdf(rr, 0), t, clamp(ttl, ttl_min, ttl_max));
	}
	return 0;
}

int osh_dns_answer_parse(const struct osh_dns_query *q, uint16_t id, const uint8_t *buf, size_t len,
			 uint32_t ttl_min, uint32_t ttl_max, struct osh_dns_answer **ret)
{
	struct answer_priv *ap;
	ldns_pkt *pkt = NULL;
	ldns_rr_list *qs;
	ldns_rr *qr;
	ldns_rdf *qname;
	int r;

	if (!buf || len < OSH_DNS_HEADER_LEN || len > OSH_DNS_MAX_MSG || !q->has_question)
		return -EBADMSG;
	if (ttl_max < ttl_min)
		ttl_max = ttl_min;
	/* Cheap checks on the raw header first: a stray datagram costs no parse. */
	if (get16(buf) != id || !(get16(buf + 2) & FLAG_QR))
		return -ESRCH;
	if (ldns_wire2pkt(&pkt, buf, len) != LDNS_STATUS_OK || !pkt)
		return -EBADMSG;
	qs = ldns_pkt_question(pkt);
	if (ldns_pkt_get_opcode(pkt) != LDNS_PACKET_QUERY || ldns_pkt_qdcount(pkt) != 1 || !qs ||
	    ldns_rr_list_rr_count(qs) != 1) {
		ldns_pkt_free(pkt);
		return -ESRCH;
	}
	qr = ldns_rr_list_rr(qs, 0);
	qname = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, q->qname_wire_len, q->qname_wire);
	if (!qname) {
		ldns_pkt_free(pkt);
		return -ENOMEM;
	}
	if (ldns_rr_get_type(qr) != q->qtype || ldns_rr_get_class(qr) != q->qclass ||
	    ldns_dname_compare(ldns_rr_owner(qr), qname) != 0) {
		ldns_rdf_deep_free(qname);
		ldns_pkt_free(pkt);
		return -ESRCH;
	}
	ap = calloc(1, sizeof(*ap));
	if (!ap) {
		ldns_rdf_deep_free(qname);
		ldns_pkt_free(pkt);
		return -ENOMEM;
	}
	ap->pub.pkt = pkt;
	ap->pub.rcode = (uint8_t)ldns_pkt_get_rcode(pkt);
	ap->pub.truncated = ldns_pkt_tc(pkt);
	ap->ttl_max = ttl_max;
	r = 0;
	if (ap->pub.rcode == OSH_DNS_RCODE_NOERROR && !ap->pub.truncated)
		r = collect(ap, qname, ttl_min, ttl_max);
	ldns_rdf_deep_free(qname);
	if (r < 0) {
		osh_dns_answer_free(&ap->pub);
		return r;
	}
	*ret = &ap->pub;
	return 0;
}

void osh_dns_answer_free(struct osh_dns_answer *a)
{
	struct answer_priv *ap = (struct answer_priv *)a;

	if (!a)
		return;
	ldns_pkt_free(a->pkt);
	free(ap->an_map);
	free(ap);
}

static bool is_addr(const ldns_rr *rr)
{
	return ldns_rr_get_type(rr) == LDNS_RR_TYPE_A || ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA;
}

/* Copies list without address records (answer section: except the kept ones of the chain).
 * Returns the new list or NULL on allocation failure. */
static ldns_rr_list *filter_section(struct answer_priv *ap, ldns_rr_list *in, bool answer,
				    uint32_t chain_ttl)
{
	ldns_rr_list *out = ldns_rr_list_new();
	size_t n = in ? ldns_rr_list_rr_count(in) : 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		ldns_rr *rr = ldns_rr_list_rr(in, i), *c;
		int m = answer && i < ap->n_an && ap->an_map ? ap->an_map[i] : MAP_OTHER;
		uint32_t ttl = ldns_rr_ttl(rr);

		if (is_addr(rr)) {
			if (m < 0 || !ap->pub.addrs[m].keep)
				continue;
			if (ttl > ap->pub.addrs[m].ttl)
				ttl = ap->pub.addrs[m].ttl;
		} else if (m == MAP_CHAIN && ttl > chain_ttl) {
			ttl = chain_ttl;
		}
		c = ldns_rr_clone(rr);
		if (!c || !ldns_rr_list_push_rr(out, c)) {
			ldns_rr_free(c);
			ldns_rr_list_deep_free(out);
			return NULL;
		}
		ldns_rr_set_ttl(c, ttl);
	}
	return out;
}

int osh_dns_answer_build(struct osh_dns_answer *a, const struct osh_dns_query *q, size_t max_len,
			 uint8_t **ret_buf, size_t *ret_len)
{
	struct answer_priv *ap = (struct answer_priv *)a;
	ldns_rr_list *an = NULL, *ns = NULL, *ar = NULL;
	uint32_t chain_ttl = ap->ttl_max;
	uint8_t *wire = NULL;
	size_t n = 0;
	int r;

	for (size_t i = 0; i < a->n_addrs; i++)
		if (a->addrs[i].keep && a->addrs[i].ttl < chain_ttl)
			chain_ttl = a->addrs[i].ttl;
	a->ttl = chain_ttl;
	if (!a->truncated) {
		an = filter_section(ap, ldns_pkt_answer(a->pkt), true, chain_ttl);
		ns = filter_section(ap, ldns_pkt_authority(a->pkt), false, chain_ttl);
		ar = filter_section(ap, ldns_pkt_additional(a->pkt), false, chain_ttl);
		if (!an || !ns || !ar) {
			ldns_rr_list_deep_free(an);
			ldns_rr_list_deep_free(ns);
			ldns_rr_list_deep_free(ar);
			return -ENOMEM;
		}
		ldns_rr_list_deep_free(ldns_pkt_answer(a->pkt));
		ldns_rr_list_deep_free(ldns_pkt_authority(a->pkt));
		ldns_rr_list_deep_free(ldns_pkt_additional(a->pkt));
		ldns_pkt_set_answer(a->pkt, an);
		ldns_pkt_set_authority(a->pkt, ns);
		ldns_pkt_set_additional(a->pkt, ar);
		ldns_pkt_set_ancount(a->pkt, (uint16_t)ldns_rr_list_rr_count(an));
		ldns_pkt_set_nscount(a->pkt, (uint16_t)ldns_rr_list_rr_count(ns));
		ldns_pkt_set_arcount(a->pkt, (uint16_t)ldns_rr_list_rr_count(ar));
		ldns_pkt_set_id(a->pkt, q->id);
		if (ldns_pkt2wire(&wire, a->pkt, &n) != LDNS_STATUS_OK || !wire)
			return -ENOMEM;
		if (n <= max_len && n <= OSH_DNS_MAX_MSG) {
			*ret_buf = wire;
			*ret_len = n;
			return 0;
		}
		free(wire);
	}
	/* Truncated upstream, or too long for the client: header and question with TC; the client
	 * asks again over TCP. */
	wire = malloc(OSH_DNS_HEADER_LEN + OSH_DNS_MAX_WIRE_NAME + 4);
	if (!wire)
		return -ENOMEM;
	r = osh_dns_reply_error(q, a->rcode, true, wire,
				OSH_DNS_HEADER_LEN + OSH_DNS_MAX_WIRE_NAME + 4);
	if (r < 0) {
		free(wire);
		return r;
	}
	*ret_buf = wire;
	*ret_len = (size_t)r;
	return 0;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* '*' matches any run (possibly empty) of characters of one label, case-insensitively. */
static bool glob_label(const char *p, size_t pl, const char *s, size_t sl)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < sl) {
		if (pi < pl && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pl && lower(p[pi]) == lower(s[si])) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < pl && p[pi] == '*')
		pi++;
	return pi == pl;
}

bool osh_dns_name_match(const char *pattern, const char *name)
{
	const char *dot = strchr(pattern, '.');
	size_t fl, rl, nl, hl;

	if (!*name)
		return false;
	if (!dot || !memchr(pattern, '*', (size_t)(dot - pattern)))
		return strcasecmp(pattern, name) == 0;
	fl = (size_t)(dot - pattern);
	rl = strlen(dot); /* ".x.com", with its dot */
	nl = strlen(name);
	if (nl <= rl || strcasecmp(name + nl - rl, dot) != 0)
		return false;
	hl = nl - rl; /* the labels the wildcard stands for */
	if (name[0] == '.' || name[hl - 1] == '.' || memmem(name, hl, "..", 2))
		return false;
	if (fl == 2 && pattern[0] == '*' && pattern[1] == '*')
		return true;
	if (memchr(name, '.', hl))
		return false;
	return glob_label(pattern, fl, name, hl);
}

static bool v4_forbidden(const uint8_t *a, const char **what)
{
	if (a[0] == 0)
		*what = "unspecified";
	else if (a[0] == 127)
		*what = "loopback";
	else if (a[0] == 169 && a[1] == 254)
		*what = "link-local";
	else if (a[0] >= 224 && a[0] <= 239)
		*what = "multicast";
	else if (a[0] >= 240)
		*what = "reserved or broadcast";
	else
		return false;
	return true;
}

bool osh_dns_addr_forbidden(int family, const uint8_t addr[16], const char **ret_what)
{
	static const uint8_t zero12[12] = { 0 };
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	const char *what = NULL;
	bool bad = false;

	if (family == AF_INET) {
		bad = v4_forbidden(addr, &what);
	} else if (!memcmp(addr, zero12, 12)) {
		/* ::, ::1 and the deprecated IPv4-compatible forms */
		bad = true;
		what = addr[15] == 1 && !addr[12] && !addr[13] && !addr[14] ? "loopback"
									    : "unspecified";
	} else if (addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80) {
		bad = true;
		what = "link-local";
	} else if (addr[0] == 0xff) {
		bad = true;
		what = "multicast";
	} else if (!memcmp(addr, nat64, 12)) {
		bad = v4_forbidden(addr + 12, &what);
	} else if (addr[0] == 0x20 && addr[1] == 0x02) {
		bad = v4_forbidden(addr + 2, &what);
	}
	if (bad && ret_what)
		*ret_what = what;
	return bad;
}

bool osh_dns_cidr_contains(const struct osh_cidr *c, int family, const uint8_t addr[16])
{
	size_t full, rest;

	if ((c->family == 4) != (family == AF_INET) || (c->family != 4 && c->family != 6))
		return false;
	if (c->prefix_len > (c->family == 4 ? 32 : 128))
		return false;
	full = c->prefix_len / 8;
	rest = c->prefix_len % 8;
	if (memcmp(c->addr, addr, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		return (c->addr[full] & mask) == (addr[full] & mask);
	}
	return true;
}

bool osh_dns_endpoint_allows(const struct osh_endpoint *ep, int family, const uint8_t addr[16],
			     const char **ret_why)
{
	const char *what = NULL;

	if (osh_dns_addr_forbidden(family, addr, &what)) {
		if (ret_why)
			*ret_why = what;
		return false;
	}
	if (!ep || ep->n_allowed_ips == 0)
		return true;
	for (size_t i = 0; i < ep->n_allowed_ips; i++)
		if (osh_dns_cidr_contains(&ep->allowed_ips[i], family, addr))
			return true;
	if (ret_why)
		*ret_why = "outside the endpoint's allowed_ips";
	return false;
}
