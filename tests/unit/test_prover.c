// SPDX-License-Identifier: Apache-2.0
// Prover: OpenShell's acceptance fixtures, one small policy per query that must produce the
// finding with the right witness and a fixed variant that must not, delta mode, accepted risks.
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <cmocka.h>
#include <z3.h>

#include "policy.h"
#include "prover/internal.h"
#include "prover/prover.h"

#define TESTDATA "../shared/openshell-data/prover-testdata"

static struct osh_prover_registry *reg;
static struct osh_prover_credentials *gh_creds; /* GitHub PAT on api.github.com, github.com */

static int group_setup(void **state)
{
	struct osh_diag_list d = { 0 };
	static const char creds[] = "tests/unit/prover/credentials.yaml";

	(void)state;
	if (osh_prover_registry_load("prover/registry", &reg, &d) < 0) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s:%u:%u: %s\n", d.items[i].file, d.items[i].line,
				d.items[i].col, d.items[i].message);
		osh_diag_list_clear(&d);
		return -1;
	}
	if (osh_prover_credentials_load(creds, &gh_creds, &d) < 0) {
		osh_diag_list_clear(&d);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	osh_prover_registry_free(reg);
	osh_prover_credentials_free(gh_creds);
	/* Z3 keeps global tables (symbols, memory manager) until told to release them. */
	Z3_finalize_memory();
	return 0;
}

static struct osh_policy *parse(const char *doc)
{
	struct osh_diag_list diags = { 0 };
	struct osh_policy *p = NULL;
	int r =
	    osh_policy_parse_buffer("t.yaml", doc, strlen(doc), OSH_POLICY_FORMAT_YAML, &p, &diags);

	if (diags.n)
		print_error("%u:%u: %s\n", diags.items[0].line, diags.items[0].col,
			    diags.items[0].message);
	osh_diag_list_clear(&diags);
	assert_int_equal(r, 0);
	return p;
}

struct run {
	struct osh_policy *p, *old;
	struct osh_findings *f;
};

static void run_full(struct run *x, const char *doc, const char *old_doc,
		     const struct osh_prover_credentials *creds,
		     const struct osh_prover_accepted *acc)
{
	struct osh_prover_input in = { 0 };

	x->p = parse(doc);
	x->old = old_doc ? parse(old_doc) : NULL;
	in.policy = x->p;
	in.old_policy = x->old;
	in.registry = reg;
	in.credentials = creds;
	in.accepted = acc;
	assert_int_equal(osh_prover_run(&in, &x->f), 0);
}

static void run_done(struct run *x)
{
	osh_findings_free(x->f);
	osh_policy_free(x->p);
	osh_policy_free(x->old);
}

static size_t count(const struct osh_findings *f, enum osh_finding_kind k)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		n += f->items[i].kind == k;
	return n;
}

/* The finding of kind k with this binary and host (NULL: any), or NULL. */
static const struct osh_finding *find(const struct osh_findings *f, enum osh_finding_kind k,
				      const char *binary, const char *host, unsigned port)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct osh_finding *x = &f->items[i];

		if (x->kind != k)
			continue;
		if (binary && (!x->binary || strcmp(x->binary, binary)))
			continue;
		if (host && (!x->host || strcmp(x->host, host)))
			continue;
		if (port && x->port != port)
			continue;
		return x;
	}
	return NULL;
}

/* Asserts that the only policy in doc gives binary a data_exfiltration finding sent with method
 * over mechanism. */
static void assert_exfil_witness(const char *doc, const char *binary, const char *method,
				 const char *mechanism)
{
	struct run x = { 0 };
	const struct osh_finding *w;

	run_full(&x, doc, NULL, NULL, NULL);
	w = find(x.f, OSH_FINDING_DATA_EXFILTRATION, binary, NULL, 0);
	assert_non_null(w);
	if (w) { /* for the analyzer: assert_non_null does not return on NULL */
		assert_string_equal(w->method, method);
		assert_string_equal(w->mechanism, mechanism);
	}
	run_done(&x);
}

#define POLICY_L4(host, port, bin)                                                                 \
	"version: 1\n"                                                                             \
	"network_policies:\n"                                                                      \
	"  r:\n"                                                                                   \
	"    endpoints:\n"                                                                         \
	"      - { host: \"" host "\", port: " #port " }\n"                                        \
	"    binaries:\n"                                                                          \
	"      - { path: " bin " }\n"

#define POLICY_L7(host, port, access, bin)                                                         \
	"version: 1\n"                                                                             \
	"network_policies:\n"                                                                      \
	"  r:\n"                                                                                   \
	"    endpoints:\n"                                                                         \
	"      - { host: \"" host "\", port: " #port ", protocol: rest, access: " access " }\n"    \
	"    binaries:\n"                                                                          \
	"      - { path: " bin " }\n"

static bool have_testdata(void)
{
	return access(TESTDATA "/policy.yaml", R_OK) == 0;
}

/* ---- acceptance: OpenShell's own fixtures ----------------------------------------------------- */

static void test_acceptance_github_policy(void **state)
{
	struct osh_prover_credentials *c = NULL;
	struct osh_policy *p = NULL;
	struct osh_findings *f = NULL;
	struct osh_prover_input in = { 0 };

	(void)state;
	if (!have_testdata())
		skip(); /* ../shared/openshell-data missing: the fixtures are not in this tree */
	assert_int_equal(
	    osh_policy_parse_file(TESTDATA "/policy.yaml", OSH_POLICY_FORMAT_AUTO, &p, NULL), 0);
	assert_int_equal(osh_prover_credentials_load(TESTDATA "/credentials.yaml", &c, NULL), 0);
	in.policy = p;
	in.registry = reg;
	in.credentials = c;
	assert_int_equal(osh_prover_run(&in, &f), 0);
	/* git bypasses L7 and reaches both credentialed hosts. */
	assert_non_null(
	    find(f, OSH_FINDING_L7_BYPASS_CREDENTIALED, "/usr/bin/git", "github.com", 443));
	assert_non_null(
	    find(f, OSH_FINDING_L7_BYPASS_CREDENTIALED, "/usr/bin/git", "api.github.com", 443));
	assert_string_equal(
	    find(f, OSH_FINDING_L7_BYPASS_CREDENTIALED, "/usr/bin/git", "api.github.com", 443)
		->mechanism,
	    "l7-bypass");
	assert_string_equal(find(f, OSH_FINDING_L7_BYPASS_CREDENTIALED, NULL, NULL, 0)->credential,
			    "github-pat");
	/* curl speaks HTTP: the L7 rules bind it, no bypass finding for it. */
	assert_null(find(f, OSH_FINDING_L7_BYPASS_CREDENTIALED, "/usr/bin/curl", NULL, 0));
	assert_int_equal(count(f, OSH_FINDING_L7_BYPASS_CREDENTIALED), 2);
	/* curl on api.github.com is read-only at L7: no credentialed reach there; github.com is
	 * L4 only: there it has. */
	assert_null(find(f, OSH_FINDING_CREDENTIAL_REACH_EXPANSION, "/usr/bin/curl",
			 "api.github.com", 443));
	assert_non_null(
	    find(f, OSH_FINDING_CREDENTIAL_REACH_EXPANSION, "/usr/bin/curl", "github.com", 443));
	assert_true(f->n_unaccepted > 0);
	osh_findings_free(f);
	osh_prover_credentials_free(c);
	osh_policy_free(p);
}

static void test_acceptance_wildcard_credential_reach(void **state)
{
	struct osh_prover_credentials *c = NULL;
	struct osh_policy *p = NULL;
	struct osh_findings *f = NULL;
	struct osh_prover_input in = { 0 };
	const struct osh_finding *x;

	(void)state;
	if (!have_testdata())
		skip();
	assert_int_equal(osh_policy_parse_file("tests/unit/prover/github-wildcard.yaml",
					       OSH_POLICY_FORMAT_AUTO, &p, NULL),
			 0);
	assert_int_equal(osh_prover_credentials_load(TESTDATA "/credentials.yaml", &c, NULL), 0);
	in.policy = p;
	in.registry = reg;
	in.credentials = c;
	assert_int_equal(osh_prover_run(&in, &f), 0);
	x = find(f, OSH_FINDING_CREDENTIAL_REACH_EXPANSION, "/usr/bin/curl", "*.github.com", 443);
	assert_non_null(x);
	assert_string_equal(x->credential, "github-pat");
	assert_string_equal(x->rule, "github_wildcard");
	osh_findings_free(f);
	osh_prover_credentials_free(c);
	osh_policy_free(p);
}

static void test_acceptance_empty_policy(void **state)
{
	struct osh_prover_credentials *c = NULL;
	struct osh_policy *p = NULL;
	struct osh_findings *f = NULL;
	struct osh_prover_input in = { 0 };
	char *text = NULL;

	(void)state;
	if (!have_testdata())
		skip();
	assert_int_equal(
	    osh_policy_parse_file(TESTDATA "/empty-policy.yaml", OSH_POLICY_FORMAT_AUTO, &p, NULL),
	    0);
	assert_int_equal(osh_prover_credentials_load(TESTDATA "/credentials.yaml", &c, NULL), 0);
	in.policy = p;
	in.registry = reg;
	in.credentials = c;
	assert_int_equal(osh_prover_run(&in, &f), 0);
	assert_int_equal(f->n, 0);
	assert_int_equal(osh_findings_format(f, OSH_FINDINGS_COMPACT, &text), 0);
	assert_string_equal(text, "PASS\n");
	free(text);
	osh_findings_free(f);
	osh_prover_credentials_free(c);
	osh_policy_free(p);
}

/* ---- one policy per query: found with its witness, and the fixed version passes ------------- */

static void test_data_exfiltration(void **state)
{
	struct run x = { 0 };
	const struct osh_finding *w;

	(void)state;
	run_full(&x, POLICY_L4("upload.example.com", 443, "/usr/bin/curl"), NULL, NULL, NULL);
	w = find(x.f, OSH_FINDING_DATA_EXFILTRATION, "/usr/bin/curl", "upload.example.com", 443);
	assert_non_null(w);
	assert_string_equal(w->method, "POST");
	assert_string_equal(w->mechanism, "http-l4");
	assert_int_equal(w->severity, OSH_SEVERITY_HIGH);
	assert_int_equal(x.f->n, 1);
	run_done(&x);

	/* Fixed: L7 read-only. */
	run_full(&x, POLICY_L7("upload.example.com", 443, "read-only", "/usr/bin/curl"), NULL, NULL,
		 NULL);
	assert_int_equal(x.f->n, 0);
	run_done(&x);

	/* git (bypasses L7) on the same fixed endpoint is still a path. */
	assert_exfil_witness(POLICY_L7("upload.example.com", 443, "read-only", "/usr/bin/git"),
			     "/usr/bin/git", "RAW", "l7-bypass");
}

static void test_unknown_binary_capable_of_everything(void **state)
{
	struct run x = { 0 };

	(void)state;
	run_full(&x, POLICY_L7("api.example.com", 443, "read-only", "/opt/vendor/bin/sync-tool"),
		 NULL, NULL, NULL);
	assert_non_null(find(x.f, OSH_FINDING_DATA_EXFILTRATION, "/opt/vendor/bin/sync-tool",
			     "api.example.com", 443));
	run_done(&x);
	/* A known HTTP client on the same endpoint is bound by the L7 rules. */
	run_full(&x, POLICY_L7("api.example.com", 443, "read-only", "/opt/vendor/bin/curl"), NULL,
		 NULL, NULL);
	assert_int_equal(count(x.f, OSH_FINDING_DATA_EXFILTRATION), 0);
	run_done(&x);
}

static void test_l7_bypass_credentialed(void **state)
{
	struct run x = { 0 };
	const struct osh_finding *w;

	(void)state;
	run_full(&x, POLICY_L7("api.github.com", 443, "read-only", "/usr/bin/ssh"), NULL, gh_creds,
		 NULL);
	w = find(x.f, OSH_FINDING_L7_BYPASS_CREDENTIALED, "/usr/bin/ssh", "api.github.com", 443);
	assert_non_null(w);
	assert_int_equal(w->severity, OSH_SEVERITY_CRITICAL);
	assert_string_equal(w->credential, "github-pat");
	run_done(&x);
	/* Fixed: no credential for this host (the data path stays, the credential finding goes). */
	run_full(&x, POLICY_L7("api.gitlab.example", 443, "read-only", "/usr/bin/ssh"), NULL,
		 gh_creds, NULL);
	assert_int_equal(count(x.f, OSH_FINDING_L7_BYPASS_CREDENTIALED), 0);
	assert_int_equal(count(x.f, OSH_FINDING_DATA_EXFILTRATION), 1);
	run_done(&x);
}

static void test_credential_reach(void **state)
{
	struct run x = { 0 };

	(void)state;
	run_full(&x, POLICY_L4("github.com", 443, "/usr/bin/wget"), NULL, gh_creds, NULL);
	assert_non_null(
	    find(x.f, OSH_FINDING_CREDENTIAL_REACH_EXPANSION, "/usr/bin/wget", "github.com", 443));
	run_done(&x);
	run_full(&x, POLICY_L7("github.com", 443, "read-only", "/usr/bin/wget"), NULL, gh_creds,
		 NULL);
	assert_int_equal(x.f->n, 0);
	run_done(&x);
}

static void test_credentialed_actions(void **state)
{
	static const char *pol = POLICY_L7("api.github.com", 443, "full", "/usr/bin/curl");
	static const char *fixed =
	    "version: 1\n"
	    "network_policies:\n"
	    "  r:\n"
	    "    endpoints:\n"
	    "      - host: api.github.com\n"
	    "        port: 443\n"
	    "        protocol: rest\n"
	    "        rules:\n"
	    "          - allow: { method: GET, path: \"/repos/**\" }\n"
	    "          - allow: { method: POST, path: \"/repos/*/issues\" }\n"
	    "    binaries:\n"
	    "      - { path: /usr/bin/curl }\n";
	struct run x = { 0 };
	const struct osh_finding *w;

	(void)state;
	run_full(&x, pol, NULL, gh_creds, NULL);
	w = find(x.f, OSH_FINDING_CREDENTIALED_DESTRUCTIVE, "/usr/bin/curl", "api.github.com", 443);
	assert_non_null(w);
	{
		bool del = false;

		for (size_t i = 0; i < x.f->n; i++)
			if (x.f->items[i].kind == OSH_FINDING_CREDENTIALED_DESTRUCTIVE &&
			    !strcmp(x.f->items[i].method, "DELETE") &&
			    strstr(x.f->items[i].explanation, "delete_repo"))
				del = true;
		assert_true(del);
	}
	run_done(&x);
	/* Fixed: only GET and the issue endpoint: creating an issue (medium) stays, nothing
	 * destructive. */
	run_full(&x, fixed, NULL, gh_creds, NULL);
	assert_int_equal(count(x.f, OSH_FINDING_CREDENTIALED_DESTRUCTIVE), 0);
	w = find(x.f, OSH_FINDING_CREDENTIALED_WRITE, "/usr/bin/curl", "api.github.com", 443);
	assert_non_null(w);
	assert_string_equal(w->action, "create_issue");
	assert_string_equal(w->method, "POST");
	run_done(&x);
}

static void test_link_local_metadata(void **state)
{
	struct run x = { 0 };
	const struct osh_finding *w;

	(void)state;
	run_full(&x, POLICY_L4("metadata.google.internal", 80, "/usr/bin/curl"), NULL, NULL, NULL);
	w = find(x.f, OSH_FINDING_LINK_LOCAL_REACH, "/usr/bin/curl", "metadata.google.internal",
		 80);
	assert_non_null(w);
	assert_int_equal(w->severity, OSH_SEVERITY_CRITICAL);
	run_done(&x);
	run_full(&x, POLICY_L4("www.example.com", 80, "/usr/bin/curl"), NULL, NULL, NULL);
	assert_int_equal(count(x.f, OSH_FINDING_LINK_LOCAL_REACH), 0);
	run_done(&x);
}

static void test_loopback_and_private(void **state)
{
	static const char *priv = "version: 1\n"
				  "network_policies:\n"
				  "  db:\n"
				  "    endpoints:\n"
				  "      - { allowed_ips: [10.20.0.0/16], port: 5432 }\n"
				  "    binaries:\n"
				  "      - { path: /usr/bin/psql }\n";
	static const char *pub = "version: 1\n"
				 "network_policies:\n"
				 "  db:\n"
				 "    endpoints:\n"
				 "      - { allowed_ips: [203.0.113.0/24], port: 5432 }\n"
				 "    binaries:\n"
				 "      - { path: /usr/bin/psql }\n";
	struct run x = { 0 };

	(void)state;
	run_full(&x, priv, NULL, NULL, NULL);
	assert_non_null(
	    find(x.f, OSH_FINDING_PRIVATE_NETWORK_REACH, "/usr/bin/psql", "10.20.0.0/16", 5432));
	run_done(&x);
	run_full(&x, pub, NULL, NULL, NULL);
	assert_int_equal(count(x.f, OSH_FINDING_PRIVATE_NETWORK_REACH), 0);
	run_done(&x);
	run_full(&x, POLICY_L4("localhost", 8080, "/usr/bin/curl"), NULL, NULL, NULL);
	assert_non_null(find(x.f, OSH_FINDING_LOOPBACK_REACH, "/usr/bin/curl", "localhost", 8080));
	run_done(&x);
}

static void test_dns_channel(void **state)
{
	struct run x = { 0 };
	const struct osh_finding *w;

	(void)state;
	run_full(&x, POLICY_L7("**.example.com", 443, "read-only", "/usr/bin/curl"), NULL, NULL,
		 NULL);
	w = find(x.f, OSH_FINDING_DNS_CHANNEL, "*", "**.example.com", 443);
	assert_non_null(w);
	assert_int_equal(w->severity, OSH_SEVERITY_HIGH);
	assert_string_equal(w->mechanism, "dns-query");
	assert_non_null(strstr(w->explanation, "DNS responder"));
	run_done(&x);
	run_full(&x, POLICY_L7("*.example.com", 443, "read-only", "/usr/bin/curl"), NULL, NULL,
		 NULL);
	assert_int_equal(find(x.f, OSH_FINDING_DNS_CHANNEL, "*", NULL, 0)->severity,
			 OSH_SEVERITY_MEDIUM);
	run_done(&x);
	run_full(&x, POLICY_L7("api.example.com", 443, "read-only", "/usr/bin/curl"), NULL, NULL,
		 NULL);
	assert_int_equal(count(x.f, OSH_FINDING_DNS_CHANNEL), 0);
	run_done(&x);
}

static void test_spawn_chain(void **state)
{
	struct run x = { 0 };
	const struct osh_finding *w;

	(void)state;
	/* claude (HTTP only) spawns nc, which the rule does not list: ancestor matching lets nc
	 * stream raw bytes where claude's HTTP would be inspected. */
	run_full(&x, POLICY_L7("api.example.com", 443, "read-only", "/usr/local/bin/claude"), NULL,
		 NULL, NULL);
	w = find(x.f, OSH_FINDING_SPAWN_CHAIN, "/usr/bin/nc", "api.example.com", 443);
	assert_non_null(w);
	assert_non_null(w->via);
	assert_string_equal(w->mechanism, "l7-bypass");
	assert_int_equal(count(x.f, OSH_FINDING_DATA_EXFILTRATION), 0);
	run_done(&x);
	/* Fixed: curl spawns nothing. */
	run_full(&x, POLICY_L7("api.example.com", 443, "read-only", "/usr/bin/curl"), NULL, NULL,
		 NULL);
	assert_int_equal(count(x.f, OSH_FINDING_SPAWN_CHAIN), 0);
	run_done(&x);
}

static void test_filesystem_secret(void **state)
{
	static const char *home = "version: 1\n"
				  "filesystem_policy:\n"
				  "  read_only: [/usr, /home]\n"
				  "network_policies:\n"
				  "  r:\n"
				  "    endpoints:\n"
				  "      - { host: upload.example.com, port: 443 }\n"
				  "    binaries:\n"
				  "      - { path: /usr/bin/curl }\n";
	static const char *denied = "version: 1\n"
				    "filesystem_policy:\n"
				    "  read_only: [/usr, /root]\n"
				    "  deny: [/root/.ssh]\n"
				    "network_policies:\n"
				    "  r:\n"
				    "    endpoints:\n"
				    "      - { host: upload.example.com, port: 443 }\n"
				    "    binaries:\n"
				    "      - { path: /usr/bin/curl }\n";
	static const char *nonet = "version: 1\n"
				   "filesystem_policy:\n"
				   "  read_only: [/usr, /home]\n";
	struct run x = { 0 };
	const struct osh_finding *w = NULL;

	(void)state;
	run_full(&x, home, NULL, NULL, NULL);
	for (size_t i = 0; i < x.f->n; i++)
		if (x.f->items[i].kind == OSH_FINDING_FILESYSTEM_SECRET &&
		    !strcmp(x.f->items[i].path, "~/.ssh"))
			w = &x.f->items[i];
	assert_non_null(w);
	if (!w) /* for the analyzer: assert_non_null does not return on NULL */
		return;
	assert_string_equal(w->binary, "/usr/bin/curl");
	assert_string_equal(w->host, "upload.example.com");
	run_done(&x);
	run_full(&x, denied, NULL, NULL, NULL);
	w = NULL;
	for (size_t i = 0; i < x.f->n; i++)
		if (x.f->items[i].kind == OSH_FINDING_FILESYSTEM_SECRET) {
			assert_string_not_equal(x.f->items[i].path, "~/.ssh");
			if (!strcmp(x.f->items[i].path, "~/.aws"))
				w = &x.f->items[i];
		}
	assert_non_null(w);
	run_done(&x);
	/* Readable secrets but no way out: nothing to report. */
	run_full(&x, nonet, NULL, NULL, NULL);
	assert_int_equal(x.f->n, 0);
	run_done(&x);
}

/* ---- solving: target classes, canonical witnesses --------------------------------------------- */

static bool str_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Every finding of alone at host is in both, with the same witness and wording (but for
 * filesystem_secret: its example path is the first target data can leave through). */
static void assert_same_at(const struct osh_findings *alone, const struct osh_findings *both,
			   const char *host)
{
	size_t n_alone = 0, n_both = 0;

	for (size_t i = 0; i < both->n; i++)
		n_both += str_same(both->items[i].host, host) &&
			  both->items[i].kind != OSH_FINDING_FILESYSTEM_SECRET;
	for (size_t i = 0; i < alone->n; i++) {
		const struct osh_finding *a = &alone->items[i], *b = NULL;

		if (!str_same(a->host, host) || a->kind == OSH_FINDING_FILESYSTEM_SECRET)
			continue;
		n_alone++;
		for (size_t j = 0; j < both->n && !b; j++) {
			const struct osh_finding *c = &both->items[j];

			if (c->kind == a->kind && str_same(c->binary, a->binary) &&
			    str_same(c->host, a->host) && c->port == a->port &&
			    str_same(c->method, a->method) && str_same(c->path, a->path))
				b = c;
		}
		assert_non_null(b);
		if (!b)
			return;
		assert_int_equal(b->severity, a->severity);
		assert_true(str_same(b->via, a->via));
		assert_true(str_same(b->mechanism, a->mechanism));
		assert_true(str_same(b->credential, a->credential));
		assert_true(str_same(b->action, a->action));
		assert_true(str_same(b->rule, a->rule));
		assert_string_equal(b->explanation, a->explanation);
	}
	assert_int_equal(n_both, n_alone);
	assert_true(n_alone > 0);
}

/* Two endpoints that differ only by name are one class, solved once: each is reported, with
 * exactly what it gives when it is the only endpoint. So are two unknown binaries listed by
 * the same rule (interchangeable, though the prover does not group binaries). */
static void test_target_classes(void **state)
{
#define CLASS_RULE(endpoints)                                                                      \
	"version: 1\n"                                                                             \
	"filesystem_policy:\n"                                                                     \
	"  read_only: [/usr, /home]\n"                                                             \
	"network_policies:\n"                                                                      \
	"  r:\n"                                                                                   \
	"    endpoints:\n" endpoints "    binaries:\n"                                             \
	"      - { path: /usr/local/bin/claude }\n"                                                \
	"      - { path: /usr/bin/git }\n"                                                         \
	"      - { path: /opt/tools/bin/sync-a }\n"                                                \
	"      - { path: /opt/tools/bin/sync-b }\n"
	static const char *both =
	    CLASS_RULE("      - { host: a.example.com, port: 443 }\n"
		       "      - { host: b.example.com, port: 443 }\n"
		       "      - { host: api.github.com, port: 443, protocol: "
		       "rest, access: read-write }\n"
		       "      - { host: github.com, port: 443, protocol: rest, "
		       "access: read-write }\n");
	static const char *only_b = CLASS_RULE("      - { host: b.example.com, port: 443 }\n");
	static const char *only_gh = CLASS_RULE("      - { host: github.com, port: 443, "
						"protocol: rest, access: read-write }\n");
#undef CLASS_RULE
	struct run x = { 0 }, y = { 0 };

	(void)state;
	run_full(&x, both, NULL, gh_creds, NULL);
	run_full(&y, only_b, NULL, gh_creds, NULL);
	assert_same_at(y.f, x.f, "b.example.com");
	for (int i = 0; i < 2; i++) {
		const char *host = i ? "b.example.com" : "a.example.com";

		assert_non_null(
		    find(x.f, OSH_FINDING_DATA_EXFILTRATION, "/opt/tools/bin/sync-a", host, 443));
		assert_non_null(
		    find(x.f, OSH_FINDING_DATA_EXFILTRATION, "/opt/tools/bin/sync-b", host, 443));
		assert_non_null(find(x.f, OSH_FINDING_SPAWN_CHAIN, "/usr/bin/nc", host, 443));
	}
	run_done(&y);
	/* Credentialed endpoints: the same, with the credential's findings. */
	run_full(&y, only_gh, NULL, gh_creds, NULL);
	assert_same_at(y.f, x.f, "github.com");
	assert_non_null(find(y.f, OSH_FINDING_L7_BYPASS_CREDENTIALED, "/usr/bin/git", NULL, 0));
	run_done(&y);
	run_done(&x);
}

/* What a finding names besides its key is the least witness in a fixed order, not whichever
 * model the solver found first: POST before raw bytes, and binaries (a spawn chain's parent,
 * the path of a filesystem finding) in the compiled policy's order (rules by name, binaries by
 * path), whatever order the file lists them in. The witness limit keeps the first. */
static void test_canonical_witness(void **state)
{
#define SPAWN_RULE(first, second)                                                                  \
	"version: 1\n"                                                                             \
	"network_policies:\n"                                                                      \
	"  r:\n"                                                                                   \
	"    endpoints:\n"                                                                         \
	"      - { host: upload.example.com, port: 443 }\n"                                        \
	"    binaries:\n"                                                                          \
	"      - { path: " first " }\n"                                                            \
	"      - { path: " second " }\n"
#define SPAWN_RULES(rule_py, rule_gh)                                                              \
	"version: 1\n"                                                                             \
	"network_policies:\n"                                                                      \
	"  " rule_py ":\n"                                                                         \
	"    endpoints:\n"                                                                         \
	"      - { host: upload.example.com, port: 443 }\n"                                        \
	"    binaries:\n"                                                                          \
	"      - { path: /usr/bin/python3.11 }\n"                                                  \
	"  " rule_gh ":\n"                                                                         \
	"    endpoints:\n"                                                                         \
	"      - { host: upload.example.com, port: 443 }\n"                                        \
	"    binaries:\n"                                                                          \
	"      - { path: /usr/bin/gh }\n"
	static const char *fs_doc =
	    "version: 1\n"
	    "filesystem_policy:\n"
	    "  read_only: [/usr, /home]\n"
	    "network_policies:\n"
	    "  ro:\n"
	    "    endpoints:\n"
	    "      - { host: ro.example.org, port: 443, protocol: rest, access: read-only }\n"
	    "    binaries:\n"
	    "      - { path: /usr/bin/curl }\n"
	    "  up:\n"
	    "    endpoints:\n"
	    "      - { host: up1.example.com, port: 443 }\n"
	    "      - { host: up2.example.com, port: 443 }\n"
	    "    binaries:\n"
	    "      - { path: /usr/bin/wget }\n"
	    "      - { path: /usr/bin/curl }\n";
	struct osh_policy *p = parse(SPAWN_RULE("/opt/tools/bin/sync-a", "/usr/bin/curl"));
	struct osh_prover_input in = { .policy = p, .registry = reg, .max_witnesses = 1 };
	struct run x = { 0 };
	const struct osh_finding *w;

	(void)state;
	/* An unknown program can send both HTTP and raw bytes: POST is the witness. */
	assert_exfil_witness(POLICY_L4("upload.example.com", 443, "/opt/tools/bin/sync-a"),
			     "/opt/tools/bin/sync-a", "POST", "http-l4");
	/* gh and python3.11 both spawn git: the parent named is the first of them in the
	 * compiled policy, however the file orders them. */
	for (int i = 0; i < 4; i++) {
		static const char *const docs[] = {
			SPAWN_RULE("/usr/bin/gh", "/usr/bin/python3.11"),
			SPAWN_RULE("/usr/bin/python3.11", "/usr/bin/gh"),
			SPAWN_RULES("a_python", "b_gh"),
			SPAWN_RULES("b_python", "a_gh"),
		};

		run_full(&x, docs[i], NULL, NULL, NULL);
		w = find(x.f, OSH_FINDING_SPAWN_CHAIN, "/usr/bin/git", NULL, 0);
		assert_non_null(w);
		assert_string_equal(w->via, i == 2 ? "/usr/bin/python3.11" : "/usr/bin/gh");
		run_done(&x);
	}
	/* A readable secret names the first target data can leave through (not the read-only
	 * one), and the first binary, in policy order, that sends there. */
	run_full(&x, fs_doc, NULL, NULL, NULL);
	w = find(x.f, OSH_FINDING_FILESYSTEM_SECRET, NULL, NULL, 0);
	assert_non_null(w);
	assert_string_equal(w->host, "up1.example.com");
	assert_string_equal(w->binary, "/usr/bin/curl");
	run_done(&x);
	/* The limit keeps the binaries listed first. */
	assert_int_equal(osh_prover_run(&in, &x.f), 0);
	assert_int_equal(count(x.f, OSH_FINDING_DATA_EXFILTRATION), 1);
	assert_non_null(find(x.f, OSH_FINDING_DATA_EXFILTRATION, "/opt/tools/bin/sync-a", NULL, 0));
	assert_true(x.f->truncated >= 1);
	osh_findings_free(x.f);
	osh_policy_free(p);
#undef SPAWN_RULE
#undef SPAWN_RULES
}

/* ---- delta mode ------------------------------------------------------------------------------ */

static void test_delta(void **state)
{
	static const char *old_doc =
	    "version: 1\n"
	    "network_policies:\n"
	    "  api:\n"
	    "    endpoints:\n"
	    "      - { host: \"*.example.com\", port: 443, protocol: rest, "
	    "access: read-only }\n"
	    "    binaries:\n"
	    "      - { path: /usr/bin/curl }\n";
	static const char *new_doc =
	    "version: 1\n"
	    "network_policies:\n"
	    "  api:\n"
	    "    endpoints:\n"
	    "      - { host: \"*.example.com\", port: 443, protocol: rest, "
	    "access: read-write }\n"
	    "    binaries:\n"
	    "      - { path: /usr/bin/curl }\n"
	    "  mirror:\n"
	    "    endpoints:\n"
	    "      - { host: mirror.example.org, port: 443, protocol: rest, "
	    "access: read-only }\n"
	    "    binaries:\n"
	    "      - { path: /usr/bin/curl }\n";
	struct run x = { 0 };
	const struct osh_finding *w;

	(void)state;
	run_full(&x, new_doc, old_doc, NULL, NULL);
	assert_true(x.f->delta);
	/* The wildcard was there before: its DNS channel is not new. */
	assert_int_equal(count(x.f, OSH_FINDING_DNS_CHANNEL), 0);
	/* New host. */
	assert_non_null(
	    find(x.f, OSH_FINDING_REACH_EXPANSION, "/usr/bin/curl", "mirror.example.org", 443));
	/* New methods on an existing reach. */
	w = find(x.f, OSH_FINDING_CAPABILITY_EXPANSION, "/usr/bin/curl", "*.example.com", 443);
	assert_non_null(w);
	assert_int_equal(count(x.f, OSH_FINDING_CAPABILITY_EXPANSION), 3); /* POST PUT PATCH */
	/* The write path to *.example.com is new too. */
	assert_non_null(
	    find(x.f, OSH_FINDING_DATA_EXFILTRATION, "/usr/bin/curl", "*.example.com", 443));
	run_done(&x);
	/* A policy against itself adds nothing. */
	run_full(&x, new_doc, new_doc, NULL, NULL);
	assert_int_equal(x.f->n, 0);
	run_done(&x);
	/* Against the new one, the old one adds nothing either (it is narrower). */
	run_full(&x, old_doc, new_doc, NULL, NULL);
	assert_int_equal(x.f->n, 0);
	run_done(&x);
}

static void test_gate_change(void **state)
{
	struct osh_policy *a = parse(
			      POLICY_L7("api.example.com", 443, "read-only", "/usr/bin/curl")),
			  *b = parse(POLICY_L4("api.example.com", 443, "/usr/bin/curl"));
	size_t n = 99;

	(void)state;
	assert_int_equal(osh_prover_gate_change(a, a, reg, NULL, NULL, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(osh_prover_gate_change(a, b, reg, NULL, NULL, &n), 0);
	assert_true(n > 0);
	assert_int_equal(osh_prover_gate_change(NULL, a, reg, NULL, NULL, &n), 0);
	assert_int_equal(n, 0);
	osh_policy_free(a);
	osh_policy_free(b);
}

/* ---- accepted risks -------------------------------------------------------------------------- */

static void test_accepted_risks(void **state)
{
	struct osh_prover_accepted *acc = NULL, *upstream = NULL;
	struct run x = { 0 };
	const struct osh_finding *w;
	size_t total;
	char *text = NULL;

	(void)state;
	assert_int_equal(osh_prover_accepted_load("tests/unit/prover/accepted.yaml", &acc, NULL),
			 0);
	run_full(&x, POLICY_L7("api.github.com", 443, "read-only", "/usr/bin/git"), NULL, gh_creds,
		 NULL);
	total = x.f->n_unaccepted;
	assert_true(total >= 2);
	run_done(&x);
	run_full(&x, POLICY_L7("api.github.com", 443, "read-only", "/usr/bin/git"), NULL, gh_creds,
		 acc);
	w = find(x.f, OSH_FINDING_L7_BYPASS_CREDENTIALED, "/usr/bin/git", NULL, 0);
	assert_non_null(w);
	assert_true(w->accepted);
	assert_string_equal(w->accepted_by, "security-team");
	assert_non_null(strstr(w->accepted_reason, "release"));
	/* The data path of the same binary is a different query and stays. */
	assert_false(find(x.f, OSH_FINDING_DATA_EXFILTRATION, "/usr/bin/git", NULL, 0)->accepted);
	assert_int_equal(x.f->n_unaccepted, total - 1);
	assert_int_equal(osh_findings_format(x.f, OSH_FINDINGS_COMPACT, &text), 0);
	assert_non_null(strstr(text, "ACCEPTED critical l7_bypass_credentialed /usr/bin/git"));
	assert_non_null(strstr(text, "accepted-by=security-team"));
	free(text);
	run_done(&x);

	/* OpenShell's file names a query osh does not have: it accepts nothing. */
	if (have_testdata()) {
		assert_int_equal(
		    osh_prover_accepted_load(TESTDATA "/accepted-risks.yaml", &upstream, NULL), 0);
		run_full(&x, POLICY_L4("github.com", 443, "/usr/bin/curl"), NULL, gh_creds,
			 upstream);
		assert_int_equal(x.f->n_unaccepted, x.f->n);
		run_done(&x);
		osh_prover_accepted_free(upstream);
	}
	osh_prover_accepted_free(acc);
}

/* ---- output, limits, inputs ------------------------------------------------------------------ */

static void test_json_and_limit(void **state)
{
	struct osh_policy *p = parse("version: 1\n"
				     "network_policies:\n"
				     "  r:\n"
				     "    endpoints:\n"
				     "      - { host: a.example.com, port: 443 }\n"
				     "      - { host: b.example.com, port: 443 }\n"
				     "      - { host: c.example.com, port: 443 }\n"
				     "    binaries:\n"
				     "      - { path: /usr/bin/curl }\n");
	struct osh_prover_input in = { .policy = p, .registry = reg, .max_witnesses = 2 };
	struct osh_findings *f = NULL;
	char *text = NULL;
	cJSON *j;

	(void)state;
	assert_int_equal(osh_prover_run(&in, &f), 0);
	assert_int_equal(count(f, OSH_FINDING_DATA_EXFILTRATION), 2);
	assert_int_equal(f->truncated, 1);
	assert_int_equal(osh_findings_format(f, OSH_FINDINGS_JSON, &text), 0);
	j = cJSON_Parse(text);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "result")->valuestring, "REVIEW");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "findings")), 2);
	cJSON_Delete(j);
	free(text);
	assert_int_equal(osh_findings_format(f, OSH_FINDINGS_COMPACT, &text), 0);
	assert_non_null(strstr(text, "REVIEW 2 findings\n"));
	free(text);
	osh_findings_free(f);
	osh_policy_free(p);
}

static void test_registry_errors(void **state)
{
	struct osh_diag_list d = { 0 };
	struct osh_prover_registry *r = NULL;
	struct osh_prover_credentials *c = NULL;

	(void)state;
	assert_int_equal(osh_prover_registry_load("tests/unit/prover/bad-registry", &r, &d),
			 -EINVAL);
	assert_null(r);
	assert_true(d.n >= 2);
	assert_non_null(strstr(d.items[0].file, "bad-registry/binaries/bad.yaml"));
	assert_int_equal(d.items[0].line, 4);
	assert_int_equal(d.items[0].col, 1);
	assert_non_null(strstr(d.items[0].message, "unknown key 'bypass_l7'"));
	osh_diag_list_clear(&d);
	assert_int_equal(osh_prover_credentials_load("tests/unit/prover/missing.yaml", &c, &d),
			 -ENOENT);
	osh_diag_list_clear(&d);
	{
		/* Every error of the file is reported at its line, then the load fails. */
		static const struct {
			unsigned int line;
			const char *text;
		} want_c[] = {
			{ 10, "unknown top-level key 'accepted_risks'" },
			{ 6, "credentials[]: unknown key 'colour'" },
			{ 7, "name: missing" },
			{ 9, "credentials[]: expected a mapping" },
		}, want_a[] = {
			{ 2, "unknown top-level key 'credentials'" },
			{ 11, "query, reason and accepted_by are required" },
			{ 16, "accepted_risks[]: unknown key 'sigh'" },
		};
		struct osh_prover_accepted *a = NULL;
		bool seen;

		assert_int_equal(
		    osh_prover_credentials_load("tests/unit/prover/bad-lists.yaml", &c, &d),
		    -EINVAL);
		assert_null(c);
		for (size_t i = 0; i < sizeof(want_c) / sizeof(want_c[0]); i++) {
			seen = false;
			for (size_t k = 0; k < d.n; k++)
				seen |= d.items[k].line == want_c[i].line &&
					strstr(d.items[k].message, want_c[i].text);
			assert_true(seen);
		}
		osh_diag_list_clear(&d);
		assert_int_equal(
		    osh_prover_accepted_load("tests/unit/prover/bad-lists.yaml", &a, &d), -EINVAL);
		assert_null(a);
		for (size_t i = 0; i < sizeof(want_a) / sizeof(want_a[0]); i++) {
			seen = false;
			for (size_t k = 0; k < d.n; k++)
				seen |= d.items[k].line == want_a[i].line &&
					strstr(d.items[k].message, want_a[i].text);
			assert_true(seen);
		}
		osh_diag_list_clear(&d);
	}
	assert_int_equal(osh_prover_registry_load("tests/unit/prover/no-such-dir", &r, &d),
			 -ENOENT);
	osh_diag_list_clear(&d);
	/* The shipped registry covers what the issue asks for. */
	assert_true(osh_prover_registry_n_binaries(reg) >= 20);
}

static void test_matchers(void **state)
{
	enum osh_finding_kind k;

	(void)state;
	assert_true(prv_glob_match("/sandbox/.uv/python/**/python3*",
				   "/sandbox/.uv/python/cpython-3.12/bin/python3.12"));
	assert_false(prv_glob_match("/usr/bin/*", "/usr/bin/x/y"));
	assert_true(prv_glob_overlap("/repos/*/contents/**", "/repos/**"));
	assert_true(prv_glob_overlap("/home/**", "/home/*/.ssh/**"));
	assert_false(prv_glob_overlap("/usr/**", "/home/*/.ssh/**"));
	assert_false(prv_glob_overlap("/repos/*/issues", "/gists/**"));
	assert_true(prv_host_match("*.github.com", "api.github.com"));
	assert_false(prv_host_match("*.github.com", "github.com"));
	assert_false(prv_host_match("*.github.com", "a.b.github.com"));
	assert_true(prv_host_match("**.github.com", "a.b.github.com"));
	assert_true(prv_host_match("*-api.example.com", "eu-api.example.com"));
	assert_int_equal(osh_finding_kind_from_name("l7-bypass-with-credential", &k), 0);
	assert_int_equal(k, OSH_FINDING_L7_BYPASS_CREDENTIALED);
	assert_int_equal(osh_finding_kind_from_name("inference_relay", &k), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acceptance_github_policy),
		cmocka_unit_test(test_acceptance_wildcard_credential_reach),
		cmocka_unit_test(test_acceptance_empty_policy),
		cmocka_unit_test(test_data_exfiltration),
		cmocka_unit_test(test_unknown_binary_capable_of_everything),
		cmocka_unit_test(test_l7_bypass_credentialed),
		cmocka_unit_test(test_credential_reach),
		cmocka_unit_test(test_credentialed_actions),
		cmocka_unit_test(test_link_local_metadata),
		cmocka_unit_test(test_loopback_and_private),
		cmocka_unit_test(test_dns_channel),
		cmocka_unit_test(test_spawn_chain),
		cmocka_unit_test(test_filesystem_secret),
		cmocka_unit_test(test_target_classes),
		cmocka_unit_test(test_canonical_witness),
		cmocka_unit_test(test_delta),
		cmocka_unit_test(test_gate_change),
		cmocka_unit_test(test_accepted_risks),
		cmocka_unit_test(test_json_and_limit),
		cmocka_unit_test(test_registry_errors),
		cmocka_unit_test(test_matchers),
	};

	return cmocka_run_group_tests_name("prover", tests, group_setup, group_teardown);
}
