// SPDX-License-Identifier: Apache-2.0
// Addresses in policies: CIDR parsing and formatting, and the ranges osh never allows as
// destinations (loopback, link-local, unspecified), also through IPv4-mapped IPv6.
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int osh_cidr_parse(const char *s, struct osh_cidr *ret)
{
	struct osh_cidr c = { 0 };
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long plen;
	unsigned max;

	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = 0;
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		c.family = 6;
		max = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		char *end;
		const char *p = slash + 1;

		if (*p < '0' || *p > '9' || (p[0] == '0' && p[1]))
			return -EINVAL;
		plen = strtoul(p, &end, 10);
		if (*end || plen > max)
			return -EINVAL;
	} else {
		plen = max;
	}
	c.prefix_len = (uint8_t)plen;
	/* Host bits must be zero: "10.0.0.1/24" is almost always a typo for a narrower rule. */
	for (unsigned bit = c.prefix_len; bit < max; bit++)
		if (c.addr[bit / 8] & (0x80 >> (bit % 8)))
			return -EDOM;
	*ret = c;
	return 0;
}

void osh_cidr_format(const struct osh_cidr *c, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	unsigned max = c->family == 4 ? 32 : 128;

	inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, a, sizeof(a));
	if (c->prefix_len == max)
		snprintf(buf, size, "%s", a);
	else
		snprintf(buf, size, "%s/%u", a, c->prefix_len);
}

/* Do two prefixes of the same family share an address? Yes iff they agree on the shorter
 * prefix. */
static bool overlaps(const uint8_t *a, unsigned alen, const uint8_t *b, unsigned blen)
{
	unsigned n = alen < blen ? alen : blen;

	for (unsigned bit = 0; bit < n; bit++) {
		uint8_t m = 0x80 >> (bit % 8);

		if ((a[bit / 8] & m) != (b[bit / 8] & m))
			return false;
	}
	return true;
}

struct forbidden {
	uint8_t family;
	uint8_t len;
	uint8_t addr[16];
	const char *what;
};

static const struct forbidden forbidden[] = {
	{ 4, 8, { 127 }, "loopback" },
	{ 4, 16, { 169, 254 }, "link-local" },
	{ 4, 32, { 0 }, "unspecified (0.0.0.0)" },
	{ 6, 128, { [15] = 1 }, "loopback" },
	{ 6, 10, { 0xfe, 0x80 }, "link-local" },
	{ 6, 128, { 0 }, "unspecified (::)" },
	/* The same ranges as IPv4-mapped IPv6 addresses. */
	{ 6, 104, { [10] = 0xff, [11] = 0xff, [12] = 127 }, "loopback" },
	{ 6, 112, { [10] = 0xff, [11] = 0xff, [12] = 169, [13] = 254 }, "link-local" },
	{ 6, 128, { [10] = 0xff, [11] = 0xff }, "unspecified (0.0.0.0)" },
};

const char *osh_cidr_forbidden(const struct osh_cidr *c)
{
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		const struct forbidden *f = &forbidden[i];

		if (f->family == c->family && overlaps(f->addr, f->len, c->addr, c->prefix_len))
			return f->what;
	}
	return NULL;
}

int osh_cidr_cmp(const struct osh_cidr *a, const struct osh_cidr *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	r = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (r)
		return r;
	return (a->prefix_len > b->prefix_len) - (a->prefix_len < b->prefix_len);
}
