// SPDX-License-Identifier: Apache-2.0
// `oshctl policy update` flags (cli/update-args.c) -> the API's Update body: field splitting,
// [IPv6] hosts, ports, optional protocol and access, paths with ':', and every malformed form
// refused with a reason and the body left unchanged.
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

/* The cli/ sources are not in a library (they are oshctl's); the parser is pure, so it is compiled into
 * this test directly. */
#include "cli/update-args.c" // NOLINT(bugprone-suspicious-include)

/* Parses one flag into a fresh body and returns the body as compact JSON (caller frees), or
 * NULL with err filled. */
static char *parse(enum oshctl_update_kind kind, const char *arg, char *err, size_t size)
{
	cJSON *body = cJSON_CreateObject();
	char *s = NULL;

	assert_non_null(body);
	err[0] = '\0';
	if (oshctl_update_arg(body, kind, arg, err, size) == 0)
		s = cJSON_PrintUnformatted(body);
	else
		/* Nothing half-added on failure. */
		assert_null(body->child);
	cJSON_Delete(body);
	return s;
}

static void expect(enum oshctl_update_kind kind, const char *arg, const char *json)
{
	char err[256];
	char *s = parse(kind, arg, err, sizeof(err));

	if (!s)
		fail_msg("%s: %s", arg, err);
	assert_string_equal(s, json);
	free(s);
}

static void expect_error(enum oshctl_update_kind kind, const char *arg, const char *reason)
{
	char err[256];
	char *s = parse(kind, arg, err, sizeof(err));

	if (s)
		fail_msg("%s: accepted as %s", arg, s);
	if (!strstr(err, reason))
		fail_msg("%s: reason '%s' lacks '%s'", arg, err, reason);
}

static void test_add_endpoint(void **state)
{
	expect(OSHCTL_ADD_ENDPOINT, "github:uploads.github.com:443",
	       "{\"add_endpoints\":[{\"policy\":\"github\",\"host\":\"uploads.github.com\","
	       "\"port\":443}]}");
	expect(OSHCTL_ADD_ENDPOINT, "pypi:pypi.org:443:rest",
	       "{\"add_endpoints\":[{\"policy\":\"pypi\",\"host\":\"pypi.org\",\"port\":443,"
	       "\"protocol\":\"rest\"}]}");
	expect(OSHCTL_ADD_ENDPOINT, "pypi:pypi.org:443:rest:read-only",
	       "{\"add_endpoints\":[{\"policy\":\"pypi\",\"host\":\"pypi.org\",\"port\":443,"
	       "\"protocol\":\"rest\",\"access\":\"read-only\"}]}");
	expect(OSHCTL_ADD_ENDPOINT, "v6:[2001:db8::20]:8080:tcp",
	       "{\"add_endpoints\":[{\"policy\":\"v6\",\"host\":\"2001:db8::20\",\"port\":8080,"
	       "\"protocol\":\"tcp\"}]}");
	expect(OSHCTL_ADD_ENDPOINT, "echo:198.51.100.20:65535",
	       "{\"add_endpoints\":[{\"policy\":\"echo\",\"host\":\"198.51.100.20\","
	       "\"port\":65535}]}");
}

static void test_add_endpoint_errors(void **state)
{
	expect_error(OSHCTL_ADD_ENDPOINT, "github", "':' missing after the policy");
	expect_error(OSHCTL_ADD_ENDPOINT, ":h:443", "empty policy");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:h", "':' missing after the host");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:h:0", "1 to 65535");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:h:65536", "1 to 65535");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:h:-1", "1 to 65535");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:h:44x", "1 to 65535");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:h:443:", "empty field");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:h:443:rest:", "empty field");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:h:443:rest:full:x", "too many fields");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:2001:db8::20:443", "brackets");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:::1:443", "brackets");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:[2001:db8::20:443", "unterminated");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:[]:443", "empty");
	expect_error(OSHCTL_ADD_ENDPOINT, "p:[2001:db8::20]443", "':' missing after the [IPv6]");
	/* Every message says what was expected. */
	expect_error(OSHCTL_ADD_ENDPOINT, "p:h", "expected POLICY:HOST:PORT[:PROTOCOL[:ACCESS]]");
}

static void test_remove_endpoint(void **state)
{
	expect(OSHCTL_REMOVE_ENDPOINT, "github:api.github.com:443",
	       "{\"remove_endpoints\":[{\"policy\":\"github\",\"host\":\"api.github.com\","
	       "\"port\":443}]}");
	expect(OSHCTL_REMOVE_ENDPOINT, "v6:[2001:db8::1]:53",
	       "{\"remove_endpoints\":[{\"policy\":\"v6\",\"host\":\"2001:db8::1\",\"port\":53}]}");
	/* A removal names exactly one endpoint: no protocol or access. */
	expect_error(OSHCTL_REMOVE_ENDPOINT, "github:api.github.com:443:rest", "1 to 65535");
}

static void test_binaries_and_policies(void **state)
{
	expect(OSHCTL_ADD_BINARY, "github:/usr/bin/git",
	       "{\"add_binaries\":[{\"policy\":\"github\",\"path\":\"/usr/bin/git\"}]}");
	/* The path is the rest of the argument, colons included. */
	expect(OSHCTL_REMOVE_BINARY, "p:/opt/a:b/tool",
	       "{\"remove_binaries\":[{\"policy\":\"p\",\"path\":\"/opt/a:b/tool\"}]}");
	expect(OSHCTL_REMOVE_POLICY, "old", "{\"remove_policies\":[\"old\"]}");
	expect_error(OSHCTL_ADD_BINARY, "github:", "empty path");
	expect_error(OSHCTL_ADD_BINARY, "/usr/bin/git", "':' missing after the policy");
	expect_error(OSHCTL_REMOVE_POLICY, "", "empty policy");
}

static void test_add_rule(void **state)
{
	expect(OSHCTL_ADD_RULE, "github:api.github.com:443:GET:/repos/**",
	       "{\"add_rules\":[{\"policy\":\"github\",\"host\":\"api.github.com\",\"port\":443,"
	       "\"allow\":{\"method\":\"GET\",\"path\":\"/repos/**\"}}]}");
	expect(OSHCTL_ADD_RULE, "api:[2001:db8::7]:8443:*:/v1/a:b",
	       "{\"add_rules\":[{\"policy\":\"api\",\"host\":\"2001:db8::7\",\"port\":8443,"
	       "\"allow\":{\"method\":\"*\",\"path\":\"/v1/a:b\"}}]}");
	expect_error(OSHCTL_ADD_RULE, "api:h:443:GET", "':' missing after the method");
	expect_error(OSHCTL_ADD_RULE, "api:h:443:GET:", "empty path");
	expect_error(OSHCTL_ADD_RULE, "api:h:443::/x", "empty method");
}

/* Repeated flags append to the same list, in order. */
static void test_repeated(void **state)
{
	cJSON *body = cJSON_CreateObject();
	char err[256], *s;

	assert_int_equal(oshctl_update_arg(body, OSHCTL_ADD_BINARY, "p:/a", err, sizeof(err)), 0);
	assert_int_equal(oshctl_update_arg(body, OSHCTL_ADD_BINARY, "p:/b", err, sizeof(err)), 0);
	assert_int_equal(oshctl_update_arg(body, OSHCTL_REMOVE_POLICY, "q", err, sizeof(err)), 0);
	assert_int_equal(oshctl_update_arg(body, OSHCTL_ADD_BINARY, "bad", err, sizeof(err)),
			 -EINVAL);
	s = cJSON_PrintUnformatted(body);
	assert_string_equal(s, "{\"add_binaries\":[{\"policy\":\"p\",\"path\":\"/a\"},{\"policy\":"
			       "\"p\",\"path\":\"/b\"}],\"remove_policies\":[\"q\"]}");
	free(s);
	cJSON_Delete(body);
}

/* A tiny error buffer truncates the message, never overflows it. */
static void test_small_err(void **state)
{
	cJSON *body = cJSON_CreateObject();
	char err[8];

	memset(err, 'x', sizeof(err));
	assert_int_equal(oshctl_update_arg(body, OSHCTL_ADD_ENDPOINT, "p:h:0", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	cJSON_Delete(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_endpoint),
		cmocka_unit_test(test_add_endpoint_errors),
		cmocka_unit_test(test_remove_endpoint),
		cmocka_unit_test(test_binaries_and_policies),
		cmocka_unit_test(test_add_rule),
		cmocka_unit_test(test_repeated),
		cmocka_unit_test(test_small_err),
	};

	return cmocka_run_group_tests_name("cli_args", tests, NULL, NULL);
}
