// SPDX-License-Identifier: Apache-2.0
// PATCH of a policy (daemon/policy-update.c) on real policies: a fixture is parsed and dumped as
// canonical JSON, an update body goes through the real request parser and is applied, and the
// result is re-parsed by the policy compiler and checked through the IR.
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api-req.h"
#include "policy-update.h"
#include "policy.h"

#define FULL "tests/unit/policies/full.yaml"

/* The shape of the docs/api.md example, plus a multi-port L7 endpoint. */
static const char github_yaml[] =
    "version: 1\n"
    "network_policies:\n"
    "  github:\n"
    "    endpoints:\n"
    "      - { host: api.github.com, port: 443, protocol: rest,\n"
    "          rules: [{ allow: { method: GET, path: /user } }] }\n"
    "      - { host: api.example.com, ports: [443, 8443], protocol: rest,\n"
    "          rules: [{ allow: { method: GET, path: /v1/** } }] }\n"
    "    binaries: [{ path: /usr/bin/curl }]\n"
    "  old:\n"
    "    endpoints: [{ host: old.example.com, port: 80 }]\n"
    "    binaries: [{ path: /usr/bin/wget }]\n";

static void print_diags(struct osh_diag_list *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s;

		if (osh_diag_format(&d->items[i], &s) == 0) {
			print_error("%s\n", s);
			free(s);
		}
	}
}

static char *canon_json(struct osh_policy *p)
{
	char *j = NULL;

	assert_int_equal(osh_policy_dump(p, OSH_POLICY_FORMAT_JSON, &j), 0);
	osh_policy_free(p);
	return j;
}

static char *fixture_json(const char *path)
{
	struct osh_diag_list d = { 0 };
	struct osh_policy *p = NULL;
	int r = osh_policy_parse_file(path, OSH_POLICY_FORMAT_AUTO, &p, &d);

	print_diags(&d);
	osh_diag_list_clear(&d);
	assert_int_equal(r, 0);
	return canon_json(p);
}

static char *yaml_json(const char *yaml)
{
	struct osh_diag_list d = { 0 };
	struct osh_policy *p = NULL;
	int r =
	    osh_policy_parse_buffer("t.yaml", yaml, strlen(yaml), OSH_POLICY_FORMAT_YAML, &p, &d);

	print_diags(&d);
	osh_diag_list_clear(&d);
	assert_int_equal(r, 0);
	return canon_json(p);
}

/* Parses body with the API parser and applies it; returns the rc and the result or error. */
static int apply(const char *cur, const char *body, char **ret_json, struct osh_api_err *err)
{
	struct osh_req_policy_update u = { 0 };
	int r;

	r = osh_req_policy_update_parse(body, strlen(body), &u, err);
	if (r < 0)
		print_error("update body rejected: %s: %s\n", err->field, err->message);
	assert_int_equal(r, 0);
	r = osh_policy_update_apply(cur, &u, ret_json, err);
	osh_req_policy_update_free(&u);
	return r;
}

/* Applies body to cur and returns the re-parsed, validated policy. */
static struct osh_policy *apply_ok(const char *cur, const char *body)
{
	struct osh_diag_list d = { 0 };
	struct osh_api_err err = { 0 };
	struct osh_policy *p = NULL;
	char *out = NULL;
	int r = apply(cur, body, &out, &err);

	if (r < 0)
		print_error("apply: %s %s: %s\n", err.code, err.field, err.message);
	assert_int_equal(r, 0);
	assert_non_null(out);
	r = osh_policy_parse_buffer("<request>", out, strlen(out), OSH_POLICY_FORMAT_JSON, &p, &d);
	if (r < 0) {
		print_error("result: %s\n", out);
		print_diags(&d);
	}
	osh_diag_list_clear(&d);
	free(out);
	assert_int_equal(r, 0);
	return p;
}

static void apply_fails(const char *cur, const char *body, const char *field, const char *msg)
{
	struct osh_api_err err = { 0 };
	char *out = (char *)"untouched";

	assert_int_equal(apply(cur, body, &out, &err), -EINVAL);
	assert_string_equal(out, "untouched");
	assert_string_equal(err.code, "bad-request");
	assert_string_equal(err.field, field);
	if (!strstr(err.message, msg))
		print_error("message '%s' lacks '%s'\n", err.message, msg);
	assert_non_null(strstr(err.message, msg));
}

static const struct osh_net_rule *rule(const struct osh_policy *p, const char *key)
{
	for (size_t i = 0; i < p->n_net_rules; i++)
		if (!strcmp(p->net_rules[i].key, key))
			return &p->net_rules[i];
	return NULL;
}

static bool has_port(const struct osh_endpoint *e, uint16_t port)
{
	for (size_t i = 0; i < e->n_ports; i++)
		if (e->ports[i] == port)
			return true;
	return false;
}

/* The endpoint of rule key with host that allows port (NULL: none). */
static const struct osh_endpoint *endpoint(const struct osh_policy *p, const char *key,
					   const char *host, uint16_t port)
{
	const struct osh_net_rule *r = rule(p, key);

	for (size_t i = 0; r && i < r->n_endpoints; i++)
		if (r->endpoints[i].host && !strcmp(r->endpoints[i].host, host) &&
		    has_port(&r->endpoints[i], port))
			return &r->endpoints[i];
	return NULL;
}

static size_t count_host(const struct osh_policy *p, const char *key, const char *host)
{
	const struct osh_net_rule *r = rule(p, key);
	size_t n = 0;

	for (size_t i = 0; r && i < r->n_endpoints; i++)
		if (r->endpoints[i].host && !strcmp(r->endpoints[i].host, host))
			n++;
	return n;
}

static bool has_binary(const struct osh_policy *p, const char *key, const char *path)
{
	const struct osh_net_rule *r = rule(p, key);

	for (size_t i = 0; r && i < r->n_binaries; i++)
		if (!strcmp(r->binaries[i].path, path))
			return true;
	return false;
}

static void test_remove_endpoint(void **state)
{
	char *cur = fixture_json(FULL);
	struct osh_policy *p;
	const struct osh_endpoint *e;

	(void)state;
	/* The whole endpoint goes when it had only that port; hosts match case-insensitively. */
	p = apply_ok(cur,
		     "{\"remove_endpoints\":[{\"policy\":\"github\",\"host\":\"API.github.com\","
		     "\"port\":443}]}");
	assert_null(endpoint(p, "github", "api.github.com", 443));
	assert_int_equal(rule(p, "github")->n_endpoints, 1);
	assert_non_null(endpoint(p, "github", "*.githubusercontent.com", 443));
	osh_policy_free(p);

	/* Of an endpoint with several ports, only the named one. */
	p = apply_ok(cur, "{\"remove_endpoints\":[{\"policy\":\"github\","
			  "\"host\":\"*.githubusercontent.com\",\"port\":443}]}");
	assert_null(endpoint(p, "github", "*.githubusercontent.com", 443));
	e = endpoint(p, "github", "*.githubusercontent.com", 80);
	assert_non_null(e);
	assert_int_equal(e->n_ports, 1);
	assert_int_equal(e->tls, OSH_TLS_SKIP); /* the rest of the endpoint is kept */
	osh_policy_free(p);

	/* Addresses match by value. */
	p = apply_ok(cur, "{\"remove_endpoints\":[{\"policy\":\"internal\","
			  "\"host\":\"2001:DB8:0::1\",\"port\":443}]}");
	assert_int_equal(count_host(p, "internal", "2001:db8::1"), 0);
	assert_int_equal(rule(p, "internal")->n_endpoints, 3);
	osh_policy_free(p);
	free(cur);
}

static void test_add_endpoint(void **state)
{
	char *cur = fixture_json(FULL);
	const struct osh_endpoint *e;
	const struct osh_net_rule *r;
	struct osh_policy *p;

	(void)state;
	p = apply_ok(cur,
		     "{\"add_endpoints\":[{\"policy\":\"github\",\"host\":\"uploads.github.com\","
		     "\"port\":443,\"protocol\":\"rest\",\"access\":\"read-only\"},"
		     "{\"policy\":\"internal\",\"allowed_ips\":[\"203.0.113.0/24\"],"
		     "\"ports\":[22,23]}]}");
	e = endpoint(p, "github", "uploads.github.com", 443);
	assert_non_null(e);
	assert_int_equal(e->protocol, OSH_L7_REST);
	assert_int_equal(e->access, OSH_ACCESS_READ_ONLY);
	assert_int_equal(rule(p, "github")->n_endpoints, 3);
	assert_int_equal(rule(p, "internal")->n_endpoints, 5);
	/* Everything else is as it was. */
	assert_non_null(endpoint(p, "github", "api.github.com", 443));
	assert_int_equal(p->filesystem.n_read_only, 3);
	assert_int_equal(p->landlock_compat, OSH_LANDLOCK_HARD_REQUIREMENT);
	osh_policy_free(p);

	/* A policy that does not exist is created; endpoints and binaries together complete it. */
	p = apply_ok(cur, "{\"add_endpoints\":[{\"policy\":\"pypi\",\"host\":\"pypi.org\","
			  "\"port\":443}],"
			  "\"add_binaries\":[{\"policy\":\"pypi\",\"path\":\"/usr/bin/pip\"}]}");
	r = rule(p, "pypi");
	assert_non_null(r);
	assert_string_equal(r->name, "pypi");
	assert_int_equal(r->n_endpoints, 1);
	assert_true(has_binary(p, "pypi", "/usr/bin/pip"));
	assert_int_equal(p->n_net_rules, 3);
	osh_policy_free(p);
	free(cur);
}

/* An add that makes an incomplete policy is applied as asked; the compiler then says what is
 * missing (the daemon answers invalid-policy with its diagnostics). */
static void test_incomplete_result_is_compilers_to_reject(void **state)
{
	char *cur = fixture_json(FULL), *out = NULL;
	struct osh_api_err err = { 0 };
	struct osh_diag_list d = { 0 };
	struct osh_policy *p = NULL;
	bool named = false;

	(void)state;
	assert_int_equal(apply(cur,
			       "{\"add_endpoints\":[{\"policy\":\"half\",\"host\":\"a.example\","
			       "\"port\":443}]}",
			       &out, &err),
			 0);
	assert_int_equal(
	    osh_policy_parse_buffer("<request>", out, strlen(out), OSH_POLICY_FORMAT_JSON, &p, &d),
	    -EINVAL);
	for (size_t i = 0; i < d.n; i++)
		if (strstr(d.items[i].message, "network_policies.half.binaries"))
			named = true;
	if (!named)
		print_diags(&d);
	assert_true(named);
	osh_diag_list_clear(&d);
	free(out);
	free(cur);
}

static void test_binaries(void **state)
{
	char *cur = fixture_json(FULL);
	struct osh_policy *p;

	(void)state;
	/* A path that is written differently but names the same file matches. */
	p = apply_ok(cur,
		     "{\"remove_binaries\":[{\"policy\":\"github\",\"path\":\"/usr/bin//gh/\"}],"
		     "\"add_binaries\":[{\"policy\":\"github\",\"path\":\"/usr/bin/curl\"},"
		     "{\"policy\":\"github\",\"path\":\"/usr/bin/git\"}]}");
	assert_false(has_binary(p, "github", "/usr/bin/gh"));
	assert_true(has_binary(p, "github", "/usr/bin/curl"));
	assert_true(has_binary(p, "github", "/usr/bin/git"));
	assert_int_equal(rule(p, "github")->n_binaries, 2);
	/* Globs are paths like others. */
	osh_policy_free(p);
	p = apply_ok(cur, "{\"remove_binaries\":[{\"policy\":\"internal\","
			  "\"path\":\"/opt/tools/**/psql*\"}]}");
	assert_int_equal(rule(p, "internal")->n_binaries, 1);
	assert_true(has_binary(p, "internal", "/usr/bin/psql"));
	osh_policy_free(p);
	free(cur);
}

static void test_remove_policies(void **state)
{
	char *cur = fixture_json(FULL);
	struct osh_policy *p;

	(void)state;
	p = apply_ok(cur, "{\"remove_policies\":[\"internal\"]}");
	assert_null(rule(p, "internal"));
	assert_non_null(rule(p, "github"));
	osh_policy_free(p);
	/* All of them: a policy without network access is valid. */
	p = apply_ok(cur, "{\"remove_policies\":[\"internal\",\"github\"]}");
	assert_int_equal(p->n_net_rules, 0);
	osh_policy_free(p);
	/* Removal comes first: remove and re-add in one request replaces the policy. */
	p = apply_ok(cur,
		     "{\"add_endpoints\":[{\"policy\":\"internal\",\"host\":\"db.example.com\","
		     "\"port\":5432}],\"remove_policies\":[\"internal\"],"
		     "\"add_binaries\":[{\"policy\":\"internal\",\"path\":\"/usr/bin/psql\"}]}");
	assert_int_equal(rule(p, "internal")->n_endpoints, 1);
	assert_non_null(endpoint(p, "internal", "db.example.com", 5432));
	assert_string_equal(rule(p, "internal")->name, "internal");
	osh_policy_free(p);
	free(cur);
}

static void test_add_rules(void **state)
{
	char *cur = yaml_json(github_yaml);
	const struct osh_endpoint *e;
	struct osh_policy *p;

	(void)state;
	p = apply_ok(cur, "{\"add_rules\":[{\"policy\":\"github\",\"host\":\"api.github.com\","
			  "\"port\":443,\"allow\":{\"method\":\"GET\",\"path\":\"/repos/**\"}}]}");
	e = endpoint(p, "github", "api.github.com", 443);
	assert_non_null(e);
	assert_int_equal(e->n_rules, 2);
	assert_string_equal(e->rules[0].path, "/repos/**");
	assert_string_equal(e->rules[1].path, "/user");
	osh_policy_free(p);

	/* On an endpoint with two ports, the rule covers only the one named: the endpoint is
	 * split, the other port keeps the rules it had. */
	p = apply_ok(cur, "{\"add_rules\":[{\"policy\":\"github\",\"host\":\"api.example.com\","
			  "\"port\":8443,\"allow\":{\"method\":\"post\",\"path\":\"/v1/upload\","
			  "\"query\":{\"x\":\"1\"}}}]}");
	assert_int_equal(count_host(p, "github", "api.example.com"), 2);
	e = endpoint(p, "github", "api.example.com", 8443);
	assert_int_equal(e->n_ports, 1);
	assert_int_equal(e->n_rules, 2);
	assert_int_equal(e->protocol, OSH_L7_REST);
	e = endpoint(p, "github", "api.example.com", 443);
	assert_int_equal(e->n_ports, 1);
	assert_int_equal(e->n_rules, 1);
	assert_string_equal(e->rules[0].path, "/v1/**");
	osh_policy_free(p);
	free(cur);
}

/* The whole example of docs/api.md in one request, in its documented order. */
static void test_api_md_example(void **state)
{
	char *cur = yaml_json(github_yaml);
	const struct osh_endpoint *e;
	struct osh_policy *p;

	(void)state;
	p = apply_ok(
	    cur,
	    "{\"remove_endpoints\": [{\"policy\": \"github\", \"host\": \"api.github.com\", "
	    "\"port\": 443}],"
	    " \"add_endpoints\": [{\"policy\": \"github\", \"host\": \"uploads.github.com\", "
	    "\"port\": 443, \"protocol\": \"rest\", \"access\": \"read-only\"},"
	    " {\"policy\": \"github\", \"host\": \"api.github.com\", \"port\": 443, "
	    "\"protocol\": \"rest\"}],"
	    " \"remove_binaries\": [{\"policy\": \"github\", \"path\": \"/usr/bin/curl\"}],"
	    " \"add_binaries\": [{\"policy\": \"github\", \"path\": \"/usr/bin/git\"}],"
	    " \"remove_policies\": [\"old\"],"
	    " \"add_rules\": [{\"policy\": \"github\", \"host\": \"api.github.com\", \"port\": 443,"
	    " \"allow\": {\"method\": \"GET\", \"path\": \"/repos/**\"}}]}");
	assert_null(rule(p, "old"));
	e = endpoint(p, "github", "api.github.com", 443);
	assert_non_null(e);
	assert_int_equal(e->n_rules, 1); /* the re-added endpoint, with only the new rule */
	assert_string_equal(e->rules[0].path, "/repos/**");
	assert_non_null(endpoint(p, "github", "uploads.github.com", 443));
	assert_false(has_binary(p, "github", "/usr/bin/curl"));
	assert_true(has_binary(p, "github", "/usr/bin/git"));
	osh_policy_free(p);
	free(cur);
}

static void test_errors(void **state)
{
	char *cur = yaml_json(github_yaml), *full = fixture_json(FULL);
	struct osh_req_policy_update u = { 0 };
	struct osh_api_err err = { 0 };
	char *out = NULL;

	(void)state;
	apply_fails(cur, "{\"remove_policies\":[\"old\",\"nope\"]}", "remove_policies[1]",
		    "no network policy 'nope'");
	apply_fails(cur, "{\"remove_policies\":[\"old\",\"old\"]}", "remove_policies[1]",
		    "no network policy 'old'");
	apply_fails(cur, "{\"remove_endpoints\":[{\"policy\":\"nope\",\"host\":\"a\",\"port\":1}]}",
		    "remove_endpoints[0].policy", "no network policy 'nope'");
	apply_fails(cur,
		    "{\"remove_endpoints\":[{\"policy\":\"github\",\"host\":\"api.github.com\","
		    "\"port\":80}]}",
		    "remove_endpoints[0]", "has no endpoint api.github.com:80");
	apply_fails(cur,
		    "{\"remove_endpoints\":[{\"policy\":\"github\",\"host\":\"x.github.com\","
		    "\"port\":443}]}",
		    "remove_endpoints[0]", "has no endpoint x.github.com:443");
	/* The same endpoint twice: the second is no longer there. */
	apply_fails(cur,
		    "{\"remove_endpoints\":[{\"policy\":\"github\",\"host\":\"api.github.com\","
		    "\"port\":443},{\"policy\":\"github\",\"host\":\"api.github.com\","
		    "\"port\":443}]}",
		    "remove_endpoints[1]", "has no endpoint");
	/* Removed by an earlier list of the same request. */
	apply_fails(cur,
		    "{\"remove_policies\":[\"old\"],\"remove_binaries\":[{\"policy\":\"old\","
		    "\"path\":\"/usr/bin/wget\"}]}",
		    "remove_binaries[0].policy", "no network policy 'old'");
	apply_fails(cur,
		    "{\"remove_binaries\":[{\"policy\":\"github\",\"path\":\"/usr/bin/wget\"}]}",
		    "remove_binaries[0].path", "has no binary /usr/bin/wget");
	apply_fails(cur,
		    "{\"add_rules\":[{\"policy\":\"nope\",\"host\":\"api.github.com\",\"port\":443,"
		    "\"allow\":{\"method\":\"GET\"}}]}",
		    "add_rules[0].policy", "no network policy 'nope'");
	apply_fails(
	    cur,
	    "{\"add_rules\":[{\"policy\":\"github\",\"host\":\"api.github.com\",\"port\":8443,"
	    "\"allow\":{\"method\":\"GET\"}}]}",
	    "add_rules[0]", "has no endpoint api.github.com:8443");
	/* add_rules does not create: it amends an endpoint, which a new policy lacks. */
	apply_fails(cur,
		    "{\"add_binaries\":[{\"policy\":\"new\",\"path\":\"/bin/x\"}],"
		    "\"add_rules\":[{\"policy\":\"new\",\"host\":\"a.example\",\"port\":443,"
		    "\"allow\":{\"method\":\"GET\"}}]}",
		    "add_rules[0]", "has no endpoint a.example:443");
	apply_fails(full,
		    "{\"remove_endpoints\":[{\"policy\":\"internal\",\"host\":\"203.0.113.11\","
		    "\"port\":8080}]}",
		    "remove_endpoints[0]", "has no endpoint 203.0.113.11:8080");

	/* The current policy is the daemon's own canonical JSON; anything else is its bug. */
	u.remove_policies = (char *[]){ (char *)"old", NULL };
	u.n_remove_policies = 1;
	assert_int_equal(osh_policy_update_apply("not json", &u, &out, &err), -EBADMSG);
	assert_string_equal(err.code, "internal");
	assert_int_equal(osh_policy_update_apply("[1]", &u, &out, &err), -EBADMSG);
	assert_int_equal(
	    osh_policy_update_apply("{\"version\":1,\"network_policies\":[]}", &u, &out, &err),
	    -EBADMSG);
	assert_int_equal(osh_policy_update_apply(NULL, &u, &out, &err), -EBADMSG);
	assert_null(out);
	/* A policy without network_policies: removing fails, adding creates the section. */
	assert_int_equal(osh_policy_update_apply("{\"version\":1}", &u, &out, &err), -EINVAL);
	assert_string_equal(err.field, "remove_policies[0]");
	free(cur);
	free(full);
}

static void test_empty_policy_grows(void **state)
{
	char *cur = yaml_json("version: 1\n");
	struct osh_policy *p;

	(void)state;
	p = apply_ok(cur, "{\"add_endpoints\":[{\"policy\":\"a\",\"host\":\"a.example.com\","
			  "\"ports\":[443,80]}],"
			  "\"add_binaries\":[{\"policy\":\"a\",\"path\":\"/usr/bin/curl\"}]}");
	assert_int_equal(p->n_net_rules, 1);
	assert_non_null(endpoint(p, "a", "a.example.com", 80));
	osh_policy_free(p);
	free(cur);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remove_endpoint),
		cmocka_unit_test(test_add_endpoint),
		cmocka_unit_test(test_incomplete_result_is_compilers_to_reject),
		cmocka_unit_test(test_binaries),
		cmocka_unit_test(test_remove_policies),
		cmocka_unit_test(test_add_rules),
		cmocka_unit_test(test_api_md_example),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_empty_policy_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
