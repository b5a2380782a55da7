// SPDX-License-Identifier: Apache-2.0
// dns-responder-run: osh's DNS responder as a small program for the end-to-end tests. It compiles
// a policy, listens on loopback, forwards allowed names to one upstream and prints every install,
// denial and filtered address as one line on stdout, until SIGTERM or SIGINT.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns-responder.h"
#include "policy.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: dns-responder-run --policy FILE --upstream IP [--upstream-port N]\n"
		"       [--listen IP]... [--port N] [--timeout-ms N] [--ready FILE]\n"
		"Prints `listen udp|tcp IP PORT`, then one line per event:\n"
		"  install NAME PORT ADDR ttl=N\n"
		"  deny QNAME QTYPE REASON\n"
		"  filtered QNAME ADDR REASON\n"
		"--ready FILE gets `IP PORT` per listen address once the responder listens.\n");
}

static const char *type_name(uint16_t t, char *buf, size_t size)
{
	switch (t) {
	case 1:
		return "A";
	case 28:
		return "AAAA";
	case 5:
		return "CNAME";
	case 16:
		return "TXT";
	case 255:
		return "ANY";
	case 252:
		return "AXFR";
	default:
		snprintf(buf, size, "TYPE%u", t);
		return buf;
	}
}

static int cb_install(void *ctx, const struct osh_image_name *name, int family,
		      const uint8_t addr[16], uint32_t ttl)
{
	char a[INET6_ADDRSTRLEN];

	(void)ctx;
	inet_ntop(family, addr, a, sizeof(a));
	printf("install %s %u %s ttl=%u\n", name->entry.name, ntohs(name->entry.port), a, ttl);
	fflush(stdout);
	return 0;
}

static void cb_deny(void *ctx, const char *qname, uint16_t qtype,
		    const struct sockaddr_storage *client, const char *reason)
{
	char t[16];

	(void)ctx;
	(void)client;
	printf("deny %s %s %s\n", *qname ? qname : "-", type_name(qtype, t, sizeof(t)), reason);
	fflush(stdout);
}

static void cb_filtered(void *ctx, const char *qname, const struct osh_image_name *name, int family,
			const uint8_t addr[16], const char *reason)
{
	char a[INET6_ADDRSTRLEN];

	(void)ctx;
	(void)name;
	inet_ntop(family, addr, a, sizeof(a));
	printf("filtered %s %s %s\n", qname, a, reason);
	fflush(stdout);
}

static int parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ret)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ret;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ret;

	memset(ret, 0, sizeof(*ret));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

static void print_listen(const struct osh_dns_responder *r, size_t i, FILE *ready)
{
	static const int protos[] = { IPPROTO_UDP, IPPROTO_TCP };

	for (size_t k = 0; k < 2; k++) {
		struct sockaddr_storage a;
		char s[INET6_ADDRSTRLEN];
		uint16_t port;

		if (osh_dns_responder_local(r, i, protos[k], &a) < 0)
			return;
		if (a.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, s, sizeof(s));
			port = ntohs(((struct sockaddr_in *)&a)->sin_port);
		} else {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a)->sin6_addr, s, sizeof(s));
			port = ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
		}
		printf("listen %s %s %u\n", k ? "tcp" : "udp", s, port);
		if (ready && k == 0)
			fprintf(ready, "%s %u\n", s, port);
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	const char *policy = NULL, *upstream = NULL, *ready = NULL;
	const char *listen_ip[OSH_DNS_MAX_LISTEN];
	size_t n_listen = 0;
	unsigned long port = 0, up_port = 53, timeout_ms = 2000;
	struct osh_dns_config cfg = { 0 };
	struct osh_dns_callbacks cb = { .install = cb_install,
					.deny = cb_deny,
					.filtered = cb_filtered };
	struct osh_policy *p = NULL;
	struct osh_policy_image *img = NULL;
	struct osh_dns_responder *r = NULL;
	struct osh_diag_list diags = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	int e;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--policy") && v)
			policy = argv[++i];
		else if (!strcmp(argv[i], "--upstream") && v)
			upstream = argv[++i];
		else if (!strcmp(argv[i], "--upstream-port") && v)
			up_port = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--listen") && v && n_listen < OSH_DNS_MAX_LISTEN)
			listen_ip[n_listen++] = argv[++i];
		else if (!strcmp(argv[i], "--port") && v)
			port = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--timeout-ms") && v)
			timeout_ms = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--ready") && v)
			ready = argv[++i];
		else {
			usage();
			return 64;
		}
	}
	if (!policy || !upstream || port > 65535 || up_port == 0 || up_port > 65535) {
		usage();
		return 64;
	}
	if (parse_addr(upstream, (uint16_t)up_port, &cfg.fallback_upstream) < 0) {
		fprintf(stderr, "dns-responder-run: bad upstream address %s\n", upstream);
		return 64;
	}
	for (size_t i = 0; i < n_listen; i++) {
		if (parse_addr(listen_ip[i], (uint16_t)port, &cfg.listen[i]) < 0) {
			fprintf(stderr, "dns-responder-run: bad listen address %s\n", listen_ip[i]);
			return 64;
		}
	}
	cfg.n_listen = n_listen;
	cfg.upstream_fixed = 1;
	cfg.timeout_ms = (unsigned)timeout_ms;

	e = osh_policy_parse_file(policy, OSH_POLICY_FORMAT_AUTO, &p, &diags);
	for (size_t i = 0; i < diags.n; i++)
		fprintf(stderr, "%s:%u:%u: %s\n", diags.items[i].file, diags.items[i].line,
			diags.items[i].col, diags.items[i].message);
	osh_diag_list_clear(&diags);
	if (e < 0)
		return 1;
	e = osh_policy_compile(p, &img);
	if (e < 0) {
		fprintf(stderr, "dns-responder-run: compile: %s\n", strerror(-e));
		osh_policy_free(p);
		return 1;
	}
	e = osh_dns_responder_new(&cfg, img, &cb, &r);
	if (e < 0) {
		fprintf(stderr, "dns-responder-run: %s\n", strerror(-e));
		osh_policy_image_free(img);
		osh_policy_free(p);
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	{
		char tmp[4096];
		FILE *f = NULL;

		if (ready) {
			snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
			f = fopen(tmp, "w");
		}
		for (size_t i = 0; i < (n_listen ? n_listen : 2); i++)
			print_listen(r, i, f);
		fflush(stdout);
		if (f) {
			fclose(f);
			if (rename(tmp, ready) < 0)
				fprintf(stderr, "dns-responder-run: %s: %s\n", ready,
					strerror(errno));
		}
	}
	while (!stop) {
		e = osh_dns_responder_process(r, 500);
		if (e < 0) {
			fprintf(stderr, "dns-responder-run: %s\n", strerror(-e));
			break;
		}
	}
	osh_dns_responder_free(r);
	osh_policy_image_free(img);
	osh_policy_free(p);
	return e < 0 ? 1 : 0;
}
