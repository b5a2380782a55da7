// SPDX-License-Identifier: Apache-2.0
// The oshd request parsers (daemon/api-req.c): a table of malformed bodies, each with the code
// and JSON path it must be rejected with, and the valid form of every request.
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

enum which {
	CREATE,
	EXEC,
	SET,
	UPDATE,
};

static const char *const which_name[] = { "create", "exec", "policy_set", "policy_update" };

/* Runs one parser; on success frees the result (the caller only wants the verdict). */
static int parse(enum which w, const char *body, size_t len, struct osh_api_err *err)
{
	int r = -1;

	switch (w) {
	case CREATE: {
		struct osh_req_create q = { 0 };

		r = osh_req_create_parse(body, len, &q, err);
		osh_req_create_free(&q);
		break;
	}
	case EXEC: {
		struct osh_req_exec q = { 0 };

		r = osh_req_exec_parse(body, len, &q, err);
		osh_req_exec_free(&q);
		break;
	}
	case SET: {
		struct osh_req_policy_set q = { 0 };

		r = osh_req_policy_set_parse(body, len, &q, err);
		osh_req_policy_set_free(&q);
		break;
	}
	case UPDATE: {
		struct osh_req_policy_update q = { 0 };

		r = osh_req_policy_update_parse(body, len, &q, err);
		osh_req_policy_update_free(&q);
		break;
	}
	}
	return r;
}

struct bad_case {
	enum which w;
	const char *body;
	size_t len; /* 0: strlen(body) */
	const char *code;
	const char *field; /* expected err.field exactly */
};

#define EP	    "{\"policy\":\"g\",\"host\":\"h\","
#define RULE(allow) "{\"add_rules\":[{\"policy\":\"g\",\"host\":\"h\",\"port\":443" allow "}]}"

static const struct bad_case bad_cases[] = {
	/* the body as a whole */
	{ CREATE, "", 0, "bad-json", "" },
	{ CREATE, "[]", 0, "bad-json", "" },
	{ CREATE, "\"x\"", 0, "bad-json", "" },
	{ CREATE, "null", 0, "bad-json", "" },
	{ CREATE, "{", 0, "bad-json", "" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\"} x", 0, "bad-json", "" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\",}", 0, "bad-json", "" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\"}\0", 26, "bad-json", "" },
	{ CREATE, "{\"name\":\"a\",\"po\0licy\":\"p\"}", 26, "bad-json", "" },
	{ CREATE, "{\"name\":\"a\",\x01\"policy\":\"p\"}", 0, "bad-json", "" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"\xff\"}", 0, "bad-json", "" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"\xc0\xaf\"}", 0, "bad-json", "" }, /* overlong */
	{ CREATE, "{\"name\":\"a\",\"policy\":\"\xed\xa0\x80\"}", 0, "bad-json",
	  "" },									   /* surrogate */
	{ CREATE, "{\"name\":\"a\",\"policy\":\"\xe2\x82\"}", 0, "bad-json", "" }, /* truncated */
	/* create */
	{ CREATE, "{\"name\":\"a\\u0000b\",\"policy\":\"p\"}", 0, "bad-request", "name" },
	{ CREATE, "{\"na\\u0000me\":\"a\",\"policy\":\"p\"}", 0, "bad-request", "na" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"x\ny\"}", 0, "bad-json", "policy" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"x\ty\"}", 0, "bad-json", "policy" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\",\"name\":\"b\"}", 0, "bad-request", "name" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\",\"extra\":1}", 0, "bad-request", "extra" },
	{ CREATE, "{\"Name\":\"a\",\"policy\":\"p\"}", 0, "bad-request", "Name" },
	{ CREATE, "{\"policy\":\"p\"}", 0, "bad-request", "name" },
	{ CREATE, "{\"policy\":\"p\",\"ephemeral\":false}", 0, "bad-request", "name" },
	{ CREATE, "{\"policy\":\"p\",\"ephemeral\":true,\"exec\":1}", 0, "bad-request", "exec" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\",\"exec\":{\"argv\":[\"x\"]}}", 0, "bad-request",
	  "exec" },
	{ CREATE, "{\"policy\":\"p\",\"ephemeral\":true,\"exec\":{\"argv\":[]}}", 0, "bad-request",
	  "exec.argv" },
	{ CREATE, "{\"policy\":\"p\",\"ephemeral\":true,\"exec\":{\"argv\":[\"x\"],\"b\":1}}", 0,
	  "bad-request", "exec.b" },
	{ CREATE, "{\"name\":\"a\"}", 0, "bad-request", "policy" },
	{ CREATE, "{\"name\":1,\"policy\":\"p\"}", 0, "bad-request", "name" },
	{ CREATE, "{\"name\":\"\",\"policy\":\"p\"}", 0, "bad-request", "name" },
	{ CREATE, "{\"name\":\"Agent\",\"policy\":\"p\"}", 0, "bad-request", "name" },
	{ CREATE, "{\"name\":\"-a\",\"policy\":\"p\"}", 0, "bad-request", "name" },
	{ CREATE, "{\"name\":\"a/b\",\"policy\":\"p\"}", 0, "bad-request", "name" },
	{ CREATE, "{\"name\":\"..\",\"policy\":\"p\"}", 0, "bad-request", "name" },
	{ CREATE,
	  "{\"name\":\"a123456789012345678901234567890123456789012345678901234567890123\","
	  "\"policy\":\"p\"}",
	  0, "bad-request", "name" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"\"}", 0, "bad-request", "policy" },
	{ CREATE, "{\"name\":\"a\",\"policy\":[\"p\"]}", 0, "bad-request", "policy" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\",\"workdir\":\"rel/dir\"}", 0, "bad-request",
	  "workdir" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\",\"workdir\":\"\"}", 0, "bad-request",
	  "workdir" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\",\"ephemeral\":\"yes\"}", 0, "bad-request",
	  "ephemeral" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\",\"ephemeral\":null}", 0, "bad-request",
	  "ephemeral" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\",\"ephemeral\":1}", 0, "bad-request",
	  "ephemeral" },
	{ CREATE, "{\"name\":\"a\",\"policy\":\"p\",\"reason\":5}", 0, "bad-request", "reason" },
	/* exec */
	{ EXEC, "{}", 0, "bad-request", "argv" },
	{ EXEC, "{\"argv\":[]}", 0, "bad-request", "argv" },
	{ EXEC, "{\"argv\":\"ls\"}", 0, "bad-request", "argv" },
	{ EXEC, "{\"argv\":null}", 0, "bad-request", "argv" },
	{ EXEC, "{\"argv\":[\"ls\",1]}", 0, "bad-request", "argv[1]" },
	{ EXEC, "{\"argv\":[\"\"]}", 0, "bad-request", "argv[0]" },
	{ EXEC, "{\"argv\":[\"ls\",\"a\\u0000b\"]}", 0, "bad-request", "argv[1]" },
	{ EXEC, "{\"argv\":[\"ls\"],\"env\":[\"FOO\"]}", 0, "bad-request", "env[0]" },
	{ EXEC, "{\"argv\":[\"ls\"],\"env\":[\"A=1\",\"=x\"]}", 0, "bad-request", "env[1]" },
	{ EXEC, "{\"argv\":[\"ls\"],\"env\":\"A=B\"}", 0, "bad-request", "env" },
	{ EXEC, "{\"argv\":[\"ls\"],\"env\":[{\"A\":\"B\"}]}", 0, "bad-request", "env[0]" },
	{ EXEC, "{\"argv\":[\"ls\"],\"workdir\":\"tmp\"}", 0, "bad-request", "workdir" },
	{ EXEC, "{\"argv\":[\"ls\"],\"stdin\":true}", 0, "bad-request", "stdin" },
	{ EXEC, "{\"argv\":[\"ls\"],\"argv\":[\"rm\"]}", 0, "bad-request", "argv" },
	{ EXEC, "{\"argv\":[\"ls\"],\"events\":1}", 0, "bad-request", "events" },
	{ EXEC, "{\"argv\":[\"ls\"],\"events\":\"yes\"}", 0, "bad-request", "events" },
	/* PUT policy */
	{ SET, "{\"reason\":\"x\"}", 0, "bad-request", "policy" },
	{ SET, "{\"policy\":null}", 0, "bad-request", "policy" },
	{ SET, "{\"policy\":\"p\",\"wait\":1}", 0, "bad-request", "wait" },
	{ SET, "{\"policy\":\"p\",\"force\":true}", 0, "bad-request", "force" },
	/* PATCH policy */
	{ UPDATE, "{}", 0, "bad-request", "" },
	{ UPDATE, "{\"add_endpoints\":[]}", 0, "bad-request", "" },
	{ UPDATE, "{\"reason\":\"x\",\"wait\":true}", 0, "bad-request", "" },
	{ UPDATE, "{\"remove_policies\":[\"a\"],\"add_rule\":[]}", 0, "bad-request", "add_rule" },
	{ UPDATE, "{\"remove_policies\":[\"a\"],\"remove_policies\":[\"b\"]}", 0, "bad-request",
	  "remove_policies" },
	{ UPDATE, "{\"remove_policies\":[\"a\"],\"wait\":\"yes\"}", 0, "bad-request", "wait" },
	{ UPDATE, "{\"remove_policies\":\"old\"}", 0, "bad-request", "remove_policies" },
	{ UPDATE, "{\"remove_policies\":[\"\"]}", 0, "bad-request", "remove_policies[0]" },
	{ UPDATE, "{\"remove_policies\":[\"a\",3]}", 0, "bad-request", "remove_policies[1]" },
	{ UPDATE, "{\"remove_endpoints\":[\"x\"]}", 0, "bad-request", "remove_endpoints[0]" },
	{ UPDATE, "{\"remove_endpoints\":{}}", 0, "bad-request", "remove_endpoints" },
	{ UPDATE, "{\"remove_endpoints\":[" EP "\"port\":0}]}", 0, "bad-request",
	  "remove_endpoints[0].port" },
	{ UPDATE, "{\"remove_endpoints\":[" EP "\"port\":65536}]}", 0, "bad-request",
	  "remove_endpoints[0].port" },
	{ UPDATE, "{\"remove_endpoints\":[" EP "\"port\":443.5}]}", 0, "bad-request",
	  "remove_endpoints[0].port" },
	{ UPDATE, "{\"remove_endpoints\":[" EP "\"port\":-1}]}", 0, "bad-request",
	  "remove_endpoints[0].port" },
	{ UPDATE, "{\"remove_endpoints\":[" EP "\"port\":1e999}]}", 0, "bad-request",
	  "remove_endpoints[0].port" },
	{ UPDATE, "{\"remove_endpoints\":[" EP "\"port\":\"443\"}]}", 0, "bad-request",
	  "remove_endpoints[0].port" },
	{ UPDATE, "{\"remove_endpoints\":[{\"policy\":\"g\",\"host\":\"h\"}]}", 0, "bad-request",
	  "remove_endpoints[0].port" },
	{ UPDATE, "{\"remove_endpoints\":[{\"policy\":\"g\",\"host\":\"\",\"port\":1}]}", 0,
	  "bad-request", "remove_endpoints[0].host" },
	{ UPDATE, "{\"remove_endpoints\":[{\"host\":\"h\",\"port\":1}]}", 0, "bad-request",
	  "remove_endpoints[0].policy" },
	{ UPDATE, "{\"remove_endpoints\":[" EP "\"port\":1,\"proto\":\"x\"}]}", 0, "bad-request",
	  "remove_endpoints[0].proto" },
	{ UPDATE, "{\"add_endpoints\":[{\"host\":\"h\",\"port\":1}]}", 0, "bad-request",
	  "add_endpoints[0].policy" },
	{ UPDATE, "{\"add_endpoints\":[{\"policy\":\"g\",\"port\":1}]}", 0, "bad-request",
	  "add_endpoints[0]" },
	{ UPDATE, "{\"add_endpoints\":[" EP "\"protocol\":\"rest\"}]}", 0, "bad-request",
	  "add_endpoints[0]" },
	{ UPDATE, "{\"add_endpoints\":[" EP "\"port\":1,\"ports\":[2]}]}", 0, "bad-request",
	  "add_endpoints[0]" },
	{ UPDATE, "{\"add_endpoints\":[" EP "\"ports\":[1,0]}]}", 0, "bad-request",
	  "add_endpoints[0].ports[1]" },
	{ UPDATE, "{\"add_endpoints\":[" EP "\"ports\":[]}]}", 0, "bad-request",
	  "add_endpoints[0].ports" },
	{ UPDATE, "{\"add_endpoints\":[" EP "\"port\":1,\"mcp\":{}}]}", 0, "bad-request",
	  "add_endpoints[0].mcp" },
	{ UPDATE, "{\"add_endpoints\":[" EP "\"port\":1,\"rules\":[1]}]}", 0, "bad-request",
	  "add_endpoints[0].rules[0]" },
	{ UPDATE, "{\"add_endpoints\":[" EP "\"port\":1,\"protocol\":7}]}", 0, "bad-request",
	  "add_endpoints[0].protocol" },
	{ UPDATE, "{\"add_endpoints\":[" EP "\"port\":1,\"allowed_ips\":[\"\"]}]}", 0,
	  "bad-request", "add_endpoints[0].allowed_ips[0]" },
	{ UPDATE,
	  "{\"add_endpoints\":[" EP "\"port\":1,\"protocol\":\"rest\",\"rules\":[{\"allow\":"
	  "{\"method\":\"GET\",\"method\":\"POST\"}}]}]}",
	  0, "bad-request", "add_endpoints[0].rules[0].allow.method" },
	{ UPDATE, "{\"add_endpoints\":[" EP "\"port\":1,\"host\":\"i\"}]}", 0, "bad-request",
	  "add_endpoints[0].host" },
	{ UPDATE, "{\"remove_binaries\":[{\"policy\":\"g\",\"path\":\"curl\"}]}", 0, "bad-request",
	  "remove_binaries[0].path" },
	{ UPDATE, "{\"add_binaries\":[{\"policy\":\"g\"}]}", 0, "bad-request",
	  "add_binaries[0].path" },
	{ UPDATE, "{\"add_binaries\":[{\"policy\":\"g\",\"path\":\"/bin/sh\",\"harness\":true}]}",
	  0, "bad-request", "add_binaries[0].harness" },
	{ UPDATE, RULE(""), 0, "bad-request", "add_rules[0].allow" },
	{ UPDATE, RULE(",\"allow\":{}"), 0, "bad-request", "add_rules[0].allow" },
	{ UPDATE, RULE(",\"allow\":[]"), 0, "bad-request", "add_rules[0].allow" },
	{ UPDATE, RULE(",\"allow\":{\"command\":\"x\"}"), 0, "bad-request",
	  "add_rules[0].allow.command" },
	{ UPDATE, RULE(",\"allow\":{\"method\":\"\"}"), 0, "bad-request",
	  "add_rules[0].allow.method" },
	{ UPDATE, RULE(",\"allow\":{\"query\":\"x\"}"), 0, "bad-request",
	  "add_rules[0].allow.query" },
	{ UPDATE, "{\"add_rules\":[{\"policy\":\"g\",\"host\":\"h\",\"allow\":{\"path\":\"/\"}}]}",
	  0, "bad-request", "add_rules[0].port" },
};

static void test_bad_bodies(void **state)
{
	size_t failed = 0;

	(void)state;
	assert_true(sizeof(bad_cases) / sizeof(bad_cases[0]) >= 40);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct osh_api_err err;
		size_t len = c->len ? c->len : strlen(c->body);
		int r;

		memset(&err, 0xa5, sizeof(err));
		err.code = NULL;
		r = parse(c->w, c->body, len, &err);
		if (r != -EINVAL || !err.code || strcmp(err.code, c->code) ||
		    strcmp(err.field, c->field) || !err.message[0] ||
		    !memchr(err.message, '\0', sizeof(err.message))) {
			print_error("case %zu (%s) %s: got r=%d code=%s field='%.128s' "
				    "message='%.256s'; want %s '%s'\n",
				    i, which_name[c->w], c->body, r, err.code ? err.code : "(null)",
				    err.code ? err.field : "", err.code ? err.message : "", c->code,
				    c->field);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* A bad body never touches *ret: it is written only on success. */
static void test_failure_leaves_result_alone(void **state)
{
	struct osh_req_create q = { .name = (char *)"untouched" };
	struct osh_api_err err = { 0 };

	(void)state;
	assert_int_equal(osh_req_create_parse("{\"name\":\"a\"}", 12, &q, &err), -EINVAL);
	assert_string_equal(q.name, "untouched");
	assert_string_equal(err.field, "policy");
	assert_non_null(strstr(err.message, "missing"));
}

static void test_too_large(void **state)
{
	size_t n = OSH_API_BODY_MAX + 1;
	char *body = malloc(n);
	struct osh_api_err err = { 0 };
	static const char head[] = "{\"name\":\"a\",\"policy\":\"";

	(void)state;
	assert_non_null(body);
	memset(body, 'x', n);
	memcpy(body, head, sizeof(head) - 1);
	body[n - 2] = '"';
	body[n - 1] = '}';
	for (int w = CREATE; w <= UPDATE; w++) {
		assert_int_equal(parse(w, body, n, &err), -EINVAL);
		assert_string_equal(err.code, "too-large");
		assert_string_equal(err.field, "");
	}
	/* One byte less is within the limit and parses. */
	body[n - 3] = '"';
	body[n - 2] = '}';
	assert_int_equal(parse(CREATE, body, n - 1, &err), 0);
	free(body);
}

/* Nesting is bounded (the error names where), and objects too big for the pairwise duplicate
 * check go through the sorting one. */
static void test_deep_and_wide(void **state)
{
	struct osh_api_err err = { 0 };
	char body[4096];
	size_t n = 0;

	(void)state;
	n +=
	    (size_t)snprintf(body + n, sizeof(body) - n, "{\"name\":\"a\",\"policy\":\"p\",\"x\":");
	for (int i = 0; i < 40; i++)
		body[n++] = '[';
	for (int i = 0; i < 40; i++)
		body[n++] = ']';
	body[n++] = '}';
	assert_int_equal(parse(CREATE, body, n, &err), -EINVAL);
	assert_string_equal(err.code, "bad-request");
	assert_int_equal(strncmp(err.field, "x[0][0]", 7), 0);
	assert_non_null(strstr(err.message, "nested"));

	n = (size_t)snprintf(body, sizeof(body), "{\"name\":\"a\",\"policy\":\"p\"");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, ",\"k%d\":%d", i, i);
	n += (size_t)snprintf(body + n, sizeof(body) - n, ",\"k17\":0}");
	assert_int_equal(parse(CREATE, body, n, &err), -EINVAL);
	assert_string_equal(err.field, "k17");
	assert_non_null(strstr(err.message, "more than once"));
	/* Without the duplicate, the first unknown member is named. */
	n = (size_t)snprintf(body, sizeof(body), "{\"name\":\"a\",\"policy\":\"p\"");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, ",\"k%d\":%d", i, i);
	body[n++] = '}';
	assert_int_equal(parse(CREATE, body, n, &err), -EINVAL);
	assert_string_equal(err.field, "k0");
	assert_non_null(strstr(err.message, "unknown member"));
	/* A very long key is cut in the field but still NUL-terminated. */
	n = (size_t)snprintf(body, sizeof(body), "{\"");
	memset(body + n, 'k', 1000);
	n += 1000;
	n += (size_t)snprintf(body + n, sizeof(body) - n, "\":1}");
	assert_int_equal(parse(CREATE, body, n, &err), -EINVAL);
	assert_int_equal(strlen(err.field), sizeof(err.field) - 1);
}

static void test_create_valid(void **state)
{
	/* Not NUL-terminated: the parser must stop at len. */
	static const char body[] = "{\"name\":\"agent-1.x_y\",\"policy\":\"version: 1\\n\","
				   "\"workdir\":\"/home/agent/src\",\"reason\":\"\","
				   "\"ephemeral\":true}TRAILING GARBAGE";
	static const char minimal[] = "\xef\xbb\xbf { \"policy\" : \"{\\\"version\\\":1}\" ,\r\n"
				      "\t\"name\":\"0\" } ";
	struct osh_req_create q = { 0 };
	struct osh_api_err err = { 0 };

	(void)state;
	assert_int_equal(osh_req_create_parse(body, strstr(body, "TRAILING") - body, &q, &err), 0);
	assert_string_equal(q.name, "agent-1.x_y");
	assert_string_equal(q.policy, "version: 1\n");
	assert_string_equal(q.workdir, "/home/agent/src");
	assert_string_equal(q.reason, "");
	assert_true(q.ephemeral);
	osh_req_create_free(&q);
	assert_null(q.name);
	osh_req_create_free(&q); /* twice is fine: it was zeroed */
	osh_req_create_free(NULL);

	assert_int_equal(osh_req_create_parse(minimal, sizeof(minimal) - 1, &q, &err), 0);
	assert_string_equal(q.name, "0");
	assert_string_equal(q.policy, "{\"version\":1}");
	assert_null(q.workdir);
	assert_null(q.reason);
	assert_false(q.ephemeral);
	osh_req_create_free(&q);

	/* No name: oshd picks one, for an ephemeral sandbox only. */
	assert_int_equal(
	    osh_req_create_parse("{\"policy\":\"p\",\"ephemeral\":true}", 31, &q, &err), 0);
	assert_null(q.name);
	assert_true(q.ephemeral);
	assert_null(q.exec);
	osh_req_create_free(&q);

	/* With a command: the create's connection becomes its exec session. */
	static const char with_exec[] = "{\"policy\":\"p\",\"ephemeral\":true,\"exec\":"
					"{\"argv\":[\"/bin/true\",\"-x\"],\"events\":true}}";
	assert_int_equal(osh_req_create_parse(with_exec, sizeof(with_exec) - 1, &q, &err), 0);
	assert_non_null(q.exec);
	assert_string_equal(q.exec->argv[0], "/bin/true");
	assert_string_equal(q.exec->argv[1], "-x");
	assert_null(q.exec->argv[2]);
	assert_true(q.exec->events);
	osh_req_create_free(&q);
	assert_null(q.exec);
}

static void test_exec_valid(void **state)
{
	static const char body[] =
	    "{\"argv\":[\"/bin/sh\",\"-c\",\"echo \\\"hi\\\" \\u00e9\",\"\"],"
	    "\"env\":[\"PATH=/usr/bin\",\"EMPTY=\",\"EQ=a=b\"],"
	    "\"workdir\":\"/tmp\",\"events\":true}";
	struct osh_req_exec q = { 0 };
	struct osh_api_err err = { 0 };

	(void)state;
	assert_int_equal(osh_req_exec_parse(body, sizeof(body) - 1, &q, &err), 0);
	assert_string_equal(q.argv[0], "/bin/sh");
	assert_string_equal(q.argv[1], "-c");
	assert_string_equal(q.argv[2], "echo \"hi\" \xc3\xa9");
	assert_string_equal(q.argv[3], "");
	assert_null(q.argv[4]);
	assert_string_equal(q.env[0], "PATH=/usr/bin");
	assert_string_equal(q.env[1], "EMPTY=");
	assert_string_equal(q.env[2], "EQ=a=b");
	assert_null(q.env[3]);
	assert_string_equal(q.workdir, "/tmp");
	assert_true(q.events);
	osh_req_exec_free(&q);
	osh_req_exec_free(NULL);

	assert_int_equal(osh_req_exec_parse("{\"argv\":[\"true\"]}", 17, &q, &err), 0);
	assert_string_equal(q.argv[0], "true");
	assert_null(q.argv[1]);
	assert_null(q.env);
	assert_null(q.workdir);
	assert_false(q.events); /* the default: only the exec protocol's own lines */
	osh_req_exec_free(&q);
	/* An empty env list is an empty environment, not an absent one. */
	assert_int_equal(osh_req_exec_parse("{\"argv\":[\"true\"],\"env\":[]}", 26, &q, &err), 0);
	assert_non_null(q.env);
	assert_null(q.env[0]);
	osh_req_exec_free(&q);
}

static void test_policy_set_valid(void **state)
{
	struct osh_req_policy_set q = { 0 };
	struct osh_api_err err = { 0 };
	const char *b1 = "{\"policy\":\"version: 1\\n\"}";
	const char *b2 = "{\"policy\":\"v\",\"reason\":\"tighten\",\"wait\":false}";

	(void)state;
	assert_int_equal(osh_req_policy_set_parse(b1, strlen(b1), &q, &err), 0);
	assert_string_equal(q.policy, "version: 1\n");
	assert_null(q.reason);
	assert_true(q.wait);
	osh_req_policy_set_free(&q);
	assert_int_equal(osh_req_policy_set_parse(b2, strlen(b2), &q, &err), 0);
	assert_string_equal(q.reason, "tighten");
	assert_false(q.wait);
	osh_req_policy_set_free(&q);
	osh_req_policy_set_free(NULL);
}

static void test_policy_update_valid(void **state)
{
	/* The example of docs/api.md, plus reason and wait. */
	static const char body[] =
	    "{\"remove_endpoints\": [{\"policy\": \"github\", \"host\": \"api.github.com\", "
	    "\"port\": 443}],\n"
	    " \"add_endpoints\":    [{\"policy\": \"github\", \"host\": \"uploads.github.com\", "
	    "\"port\": 443,\n"
	    "                       \"protocol\": \"rest\", \"access\": \"read-only\"}],\n"
	    " \"remove_binaries\":  [{\"policy\": \"github\", \"path\": \"/usr/bin/curl\"}],\n"
	    " \"add_binaries\":     [{\"policy\": \"github\", \"path\": \"/usr/bin/git\"}],\n"
	    " \"remove_policies\":  [\"old\", \"older\"],\n"
	    " \"add_rules\":        [{\"policy\": \"github\", \"host\": \"api.github.com\", "
	    "\"port\": 443,\n"
	    "                       \"allow\": {\"method\": \"GET\", \"path\": \"/repos/**\"}}],\n"
	    " \"reason\": \"ticket 7\", \"wait\": true}";
	static const char only_rm[] = "{\"remove_policies\":[\"x\"],\"add_rules\":[]}";
	struct osh_req_policy_update q = { 0 };
	struct osh_api_err err = { 0 };

	(void)state;
	assert_int_equal(osh_req_policy_update_parse(body, sizeof(body) - 1, &q, &err), 0);
	assert_int_equal(q.n_remove_endpoints, 1);
	assert_string_equal(q.remove_endpoints[0].policy, "github");
	assert_string_equal(q.remove_endpoints[0].host, "api.github.com");
	assert_int_equal(q.remove_endpoints[0].port, 443);
	assert_int_equal(q.n_add_endpoints, 1);
	assert_string_equal(q.add_endpoints[0].policy, "github");
	assert_string_equal(q.add_endpoints[0].json,
			    "{\"host\":\"uploads.github.com\",\"port\":443,\"protocol\":\"rest\","
			    "\"access\":\"read-only\"}");
	assert_int_equal(q.n_remove_binaries, 1);
	assert_string_equal(q.remove_binaries[0].path, "/usr/bin/curl");
	assert_int_equal(q.n_add_binaries, 1);
	assert_string_equal(q.add_binaries[0].policy, "github");
	assert_string_equal(q.add_binaries[0].path, "/usr/bin/git");
	assert_int_equal(q.n_remove_policies, 2);
	assert_string_equal(q.remove_policies[0], "old");
	assert_string_equal(q.remove_policies[1], "older");
	assert_null(q.remove_policies[2]);
	assert_int_equal(q.n_add_rules, 1);
	assert_string_equal(q.add_rules[0].policy, "github");
	assert_string_equal(
	    q.add_rules[0].json,
	    "{\"host\":\"api.github.com\",\"port\":443,\"allow\":{\"method\":\"GET\","
	    "\"path\":\"/repos/**\"}}");
	assert_string_equal(q.reason, "ticket 7");
	assert_true(q.wait);
	osh_req_policy_update_free(&q);
	assert_null(q.add_rules);
	osh_req_policy_update_free(NULL);

	/* Empty lists next to a non-empty one are fine; wait defaults to true. */
	assert_int_equal(osh_req_policy_update_parse(only_rm, sizeof(only_rm) - 1, &q, &err), 0);
	assert_int_equal(q.n_remove_policies, 1);
	assert_int_equal(q.n_add_rules, 0);
	assert_null(q.add_rules);
	assert_null(q.remove_endpoints);
	assert_null(q.reason);
	assert_true(q.wait);
	osh_req_policy_update_free(&q);

	/* Every endpoint member docs/policy.md lists is accepted and kept. */
	{
		static const char ep[] =
		    "{\"add_endpoints\":[{\"policy\":\"n\",\"ports\":[80,443],\"host\":\"*.example."
		    "com\","
		    "\"protocol\":\"rest\",\"tls\":\"skip\",\"enforcement\":\"audit\","
		    "\"rules\":[{\"allow\":{\"method\":\"GET\",\"query\":{\"a\":{\"any\":[\"1\"]}}}"
		    "}],"
		    "\"deny_rules\":[{\"method\":\"DELETE\"}],"
		    "\"allowed_ips\":[\"198.51.100.0/24\"]}],\"wait\":false}";

		assert_int_equal(osh_req_policy_update_parse(ep, sizeof(ep) - 1, &q, &err), 0);
		assert_false(q.wait);
		assert_null(strstr(q.add_endpoints[0].json, "\"policy\""));
		assert_non_null(strstr(q.add_endpoints[0].json, "\"deny_rules\""));
		osh_req_policy_update_free(&q);
	}
}

static void test_name_valid(void **state)
{
	static const char *const good[] = {
		"a",
		"0",
		"agent-1",
		"a.b_c-d",
		"a123456789012345678901234567890123456789012345678901234567890123" + 1,
	};
	static const char *const bad[] = {
		"",    "A",
		"-a",  ".a",
		"_a",  "a/b",
		"a b", "ä",
		"a\n", "a123456789012345678901234567890123456789012345678901234567890123",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(osh_api_name_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(osh_api_name_valid(bad[i]));
	assert_false(osh_api_name_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_failure_leaves_result_alone),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_deep_and_wide),
		cmocka_unit_test(test_create_valid),
		cmocka_unit_test(test_exec_valid),
		cmocka_unit_test(test_policy_set_valid),
		cmocka_unit_test(test_policy_update_valid),
		cmocka_unit_test(test_name_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
