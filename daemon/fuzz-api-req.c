// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the oshd request parsers (api-req.c): the first byte picks a parser (or
// all of them), the rest is the body. An accepted update is also applied to a small policy
// (policy-update.c) and the result goes through the policy compiler, as the daemon does.
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api-req.h"
#include "policy-update.h"
#include "policy.h"

static const char policy_doc[] =
    "version: 1\n"
    "network_policies:\n"
    "  github:\n"
    "    endpoints:\n"
    "      - { host: api.github.com, port: 443, protocol: rest,\n"
    "          rules: [{ allow: { method: GET, path: /user } }] }\n"
    "      - { host: h, ports: [1, 443, 8443], protocol: rest, access: full }\n"
    "    binaries: [{ path: /usr/bin/curl }]\n"
    "  g:\n"
    "    endpoints: [{ host: h, port: 1 }]\n"
    "    binaries: [{ path: /usr/bin/wget }]\n";

static char *cur_json;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct osh_policy *p = NULL;

	(void)argc;
	(void)argv;
	if (osh_policy_parse_buffer("fuzz.yaml", policy_doc, strlen(policy_doc),
				    OSH_POLICY_FORMAT_YAML, &p, NULL) < 0 ||
	    osh_policy_dump(p, OSH_POLICY_FORMAT_JSON, &cur_json) < 0)
		abort();
	osh_policy_free(p);
	return 0;
}

/* What every parser promises about a failure. */
static void check_err(int r, const struct osh_api_err *err)
{
	if (r != -EINVAL && r != -ENOMEM)
		abort();
	if (r == -EINVAL && (!err->code || !memchr(err->field, '\0', sizeof(err->field)) ||
			     !memchr(err->message, '\0', sizeof(err->message)) || !err->message[0]))
		abort();
}

static void no_nul_strv(char **v)
{
	/* Each string is a C string by construction; reading it end to end lets ASan check the
	 * allocation is as long as the string. */
	for (; v && *v; v++)
		if (strlen(*v) > OSH_API_BODY_MAX)
			abort();
}

static void one_create(const char *b, size_t n)
{
	struct osh_req_create q = { 0 };
	struct osh_api_err err = { 0 };
	int r = osh_req_create_parse(b, n, &q, &err);

	if (r < 0) {
		check_err(r, &err);
		return;
	}
	if ((q.name && !osh_api_name_valid(q.name)) || !q.policy || !q.policy[0] ||
	    (q.workdir && q.workdir[0] != '/'))
		abort();
	osh_req_create_free(&q);
}

static void one_exec(const char *b, size_t n)
{
	struct osh_req_exec q = { 0 };
	struct osh_api_err err = { 0 };
	int r = osh_req_exec_parse(b, n, &q, &err);

	if (r < 0) {
		check_err(r, &err);
		return;
	}
	if (!q.argv || !q.argv[0] || !q.argv[0][0])
		abort();
	no_nul_strv(q.argv);
	no_nul_strv(q.env);
	for (char **e = q.env; e && *e; e++)
		if (!strchr(*e, '=') || **e == '=')
			abort();
	osh_req_exec_free(&q);
}

static void one_set(const char *b, size_t n)
{
	struct osh_req_policy_set q = { 0 };
	struct osh_api_err err = { 0 };
	int r = osh_req_policy_set_parse(b, n, &q, &err);

	if (r < 0) {
		check_err(r, &err);
		return;
	}
	if (!q.policy || !q.policy[0])
		abort();
	osh_req_policy_set_free(&q);
}

static void one_update(const char *b, size_t n)
{
	struct osh_req_policy_update q = { 0 };
	struct osh_api_err err = { 0 };
	struct osh_policy *p = NULL;
	char *out = NULL;
	int r = osh_req_policy_update_parse(b, n, &q, &err);

	if (r < 0) {
		check_err(r, &err);
		return;
	}
	if (!q.n_remove_endpoints && !q.n_add_endpoints && !q.n_remove_binaries &&
	    !q.n_add_binaries && !q.n_remove_policies && !q.n_add_rules)
		abort();
	if (q.remove_policies && q.remove_policies[q.n_remove_policies])
		abort();
	r = osh_policy_update_apply(cur_json, &q, &out, &err);
	if (r == 0) {
		if (osh_policy_parse_buffer("<request>", out, strlen(out), OSH_POLICY_FORMAT_JSON,
					    &p, NULL) == 0)
			osh_policy_free(p);
		free(out);
	} else {
		check_err(r, &err);
	}
	osh_req_policy_update_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	size_t n;
	char *copy;

	if (size < 1)
		return 0;
	/* A copy of exactly the body's size: ASan then catches a read past its end, which is
	 * what a parser that expects a NUL would do. */
	n = size - 1;
	copy = malloc(n ? n : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, n);
	body = copy;
	switch (data[0] % 5) {
	case 0:
		one_create(body, n);
		break;
	case 1:
		one_exec(body, n);
		break;
	case 2:
		one_set(body, n);
		break;
	case 3:
		one_update(body, n);
		break;
	default:
		one_create(body, n);
		one_exec(body, n);
		one_set(body, n);
		one_update(body, n);
		break;
	}
	free(copy);
	return 0;
}
