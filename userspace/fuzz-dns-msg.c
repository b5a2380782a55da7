// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the bytes the DNS responder takes from untrusted peers (dns-msg.c): each
// input is checked as a sandbox's query and, with its own question, as an upstream answer that is
// filtered against a small policy and rebuilt. The rebuilt reply must not carry an address that
// was not kept: that is the responder's promise to the kernel side.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns-msg.h"
#include "policy.h"

static const char policy_doc[] =
    "version: 1\n"
    "network_policies:\n"
    "  f:\n"
    "    endpoints:\n"
    "      - { host: api.example.com, port: 443 }\n"
    "      - { host: '*.example.org', port: 443, allowed_ips: [198.51.100.0/24, 2001:db8::/32] }\n"
    "      - { host: '**.example.net', port: 443 }\n"
    "    binaries:\n"
    "      - path: /usr/bin/curl\n";

static struct osh_policy *pol;
static struct osh_policy_image *img;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (osh_policy_parse_buffer("fuzz.yaml", policy_doc, strlen(policy_doc),
				    OSH_POLICY_FORMAT_YAML, &pol, NULL) < 0 ||
	    osh_policy_compile(pol, &img) < 0)
		abort();
	return 0;
}

static bool allowed(const char *qname)
{
	for (size_t i = 0; i < img->n_names; i++)
		if (osh_dns_name_match(img->names[i].entry.name, qname))
			return true;
	return false;
}

static void as_query(const uint8_t *data, size_t size)
{
	struct osh_dns_query q;
	uint8_t out[OSH_DNS_HEADER_LEN + OSH_DNS_MAX_WIRE_NAME + 4];
	uint8_t *wire = NULL;
	size_t n = 0;

	if (osh_dns_query_parse(data, size, &q) < 0)
		return;
	if (osh_dns_reply_error(&q, q.rcode ? q.rcode : OSH_DNS_RCODE_REFUSED, size & 1, out,
				sizeof(out)) < 0)
		abort();
	if (q.rcode == OSH_DNS_RCODE_NOERROR) {
		(void)allowed(q.qname);
		if (osh_dns_query_build(&q, 0x4242, &wire, &n) == 0)
			free(wire);
	}
}

static bool kept(const struct osh_dns_answer *a, const struct osh_dns_addr *x)
{
	for (size_t i = 0; i < a->n_addrs; i++)
		if (a->addrs[i].keep && a->addrs[i].family == x->family &&
		    !memcmp(a->addrs[i].addr, x->addr, 16))
			return true;
	return false;
}

static void as_answer(const uint8_t *data, size_t size)
{
	struct osh_dns_query q;
	struct osh_dns_answer *a = NULL, *again = NULL;
	uint8_t *copy, *out = NULL;
	size_t n = 0;
	uint16_t id;

	if (size < OSH_DNS_HEADER_LEN)
		return;
	/* The question this answer would answer: the input with QR and opcode cleared. */
	copy = malloc(size);
	if (!copy)
		return;
	memcpy(copy, data, size);
	copy[2] &= 0x07;
	if (osh_dns_query_parse(copy, size, &q) < 0 || !q.has_question) {
		free(copy);
		return;
	}
	free(copy);
	id = (uint16_t)(data[0] << 8 | data[1]);
	if (osh_dns_answer_parse(&q, id, data, size, 5, 3600, &a) < 0)
		return;
	for (size_t k = 0; k < a->n_addrs; k++) {
		bool ok = false;

		for (size_t e = 0; e < img->n_names; e++)
			if (osh_dns_name_match(img->names[e].entry.name, q.qname) &&
			    osh_dns_endpoint_allows(img->names[e].endpoint, a->addrs[k].family,
						    a->addrs[k].addr, NULL))
				ok = true;
		a->addrs[k].keep = ok;
	}
	if (osh_dns_answer_build(a, &q, size & 1 ? OSH_DNS_UDP_MIN : OSH_DNS_MAX_MSG, &out, &n) ==
	    0) {
		/* Whatever the rebuilt reply carries on the chain was kept. */
		if (osh_dns_answer_parse(&q, q.id, out, n, 0, UINT32_MAX, &again) == 0) {
			for (size_t k = 0; k < again->n_addrs; k++)
				if (!kept(a, &again->addrs[k]))
					abort();
			osh_dns_answer_free(again);
		}
		free(out);
	}
	osh_dns_answer_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_query(data, size);
	as_answer(data, size);
	return 0;
}
