// SPDX-License-Identifier: Apache-2.0
// Policy compile and diff: the exact map entries of a small policy (keys as BPF reads them), the
// ABI limits, and a diff that separates static sections from hot-reloadable network policies.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy.h"

static struct osh_policy *parse_ok(const char *doc)
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

static struct osh_policy *parse_file_ok(const char *path)
{
	struct osh_policy *p = NULL;

	assert_int_equal(osh_policy_parse_file(path, OSH_POLICY_FORMAT_AUTO, &p, NULL), 0);
	return p;
}

static void test_compile_text(void **state)
{
	struct osh_policy *p = parse_file_ok("tests/unit/policies/small.yaml");
	struct osh_policy_image *img = NULL;
	char *text = NULL;

	(void)state;
	assert_int_equal(osh_policy_compile(p, &img), 0);
	assert_int_equal(osh_policy_image_format(img, &text), 0);
	assert_string_equal(
	    text, "binary 0 /usr/bin/curl\n"
		  "binary 1 /usr/bin/psql\n"
		  "egress4 198.51.100.0/24 tcp/5432 binaries=0x3 l7=0x0 audit=0x0 rule=1\n"
		  "egress4 203.0.113.5/32 tcp/80 binaries=0x1 l7=0x0 audit=0x0 rule=0\n"
		  "egress4 203.0.113.5/32 tcp/443 binaries=0x3 l7=0x0 audit=0x0 rule=0 tls=skip\n"
		  "egress6 2001:db8::/48 tcp/5432 binaries=0x3 l7=0x0 audit=0x0 rule=1\n"
		  "name *.example.org tcp/443 wildcard binaries=0x3 l7=0x0 audit=0x0 rule=1\n"
		  "name api.example.com tcp/443 exact binaries=0x1 l7=0x1 audit=0x1 rule=0\n"
		  "l7 api api.example.com ports=443 protocol=rest access=read-only rules=0 "
		  "deny_rules=0 audit binaries=0x1\n"
		  "fs /etc r-- read_only index=0\n"
		  "fs /etc/shadow --D deny index=1\n"
		  "fs /tmp --D deny index=2\n"
		  "fs /usr r-- read_only index=3\n"
		  "workdir read-write\n"
		  "landlock best_effort\n"
		  "process run_as_user=1000 run_as_group=1000\n");
	free(text);
	osh_policy_image_free(img);
	osh_policy_free(p);
}

/* The same entries as raw structs: exactly the bytes a BPF lookup key must equal. */
static void test_compile_keys(void **state)
{
	struct osh_policy *p = parse_file_ok("tests/unit/policies/small.yaml");
	struct osh_policy_image *img = NULL;
	struct osh_egress_v4_key want4 = { 0 };
	struct osh_egress_v6_key want6 = { 0 };

	(void)state;
	assert_int_equal(osh_policy_compile(p, &img), 0);
	assert_int_equal(img->n_binaries, 2);
	assert_int_equal(img->n_v4, 3);
	assert_int_equal(img->n_v6, 1);
	assert_int_equal(img->n_names, 2);
	assert_int_equal(img->n_l7, 1);
	assert_int_equal(img->n_fs, 4);

	want4.prefixlen = OSH_EGRESS_KEY_PREFIX_BITS + 32;
	want4.port = htons(443);
	want4.proto = OSH_EGRESS_PROTO_TCP;
	assert_int_equal(inet_pton(AF_INET, "203.0.113.5", want4.addr), 1);
	assert_memory_equal(&img->v4[2].key, &want4, sizeof(want4));
	assert_int_equal(img->v4[2].value.binaries, 0x3);
	assert_int_equal(img->v4[2].value.flags, OSH_EGRESS_F_TLS_SKIP);

	want6.prefixlen = OSH_EGRESS_KEY_PREFIX_BITS + 48;
	want6.port = htons(5432);
	want6.proto = OSH_EGRESS_PROTO_TCP;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::", want6.addr), 1);
	assert_memory_equal(&img->v6[0].key, &want6, sizeof(want6));

	assert_string_equal(img->names[1].entry.name, "api.example.com");
	assert_int_equal(img->names[1].entry.port, htons(443));
	assert_int_equal(img->names[1].entry.kind, OSH_EGRESS_NAME_EXACT);
	assert_int_equal(img->names[1].entry.value.l7, 0x1);
	assert_int_equal(img->names[1].entry.value.audit, 0x1);
	/* NUL padding: the whole name buffer is part of a BPF hash key. */
	for (size_t i = strlen("api.example.com"); i < OSH_EGRESS_MAX_NAME_LEN; i++)
		assert_int_equal(img->names[1].entry.name[i], 0);

	assert_string_equal(img->fs[2].path, "/tmp");
	assert_int_equal(img->fs[2].value.access, OSH_FS_DENY);
	assert_int_equal(img->fs[2].value.kind, OSH_FS_RULE_DENY);
	assert_true(img->include_workdir);
	assert_int_equal(img->process.run_as_user.id, 1000);
	osh_policy_image_free(img);
	osh_policy_free(p);
}

/* A policy with no network_policies compiles to no egress entries at all (deny everything). */
static void test_compile_empty(void **state)
{
	struct osh_policy *p = parse_ok("version: 1\n");
	struct osh_policy_image *img = NULL;

	(void)state;
	assert_int_equal(osh_policy_compile(p, &img), 0);
	assert_int_equal(img->n_v4 + img->n_v6 + img->n_names + img->n_binaries + img->n_fs, 0);
	assert_false(img->include_workdir);
	osh_policy_image_free(img);
	osh_policy_free(p);
}

/* ---- diff ---- */

static const char base[] = "version: 1\n"
			   "filesystem_policy: { include_workdir: true, read_only: [/usr] }\n"
			   "process: { run_as_user: sandbox }\n"
			   "network_policies:\n"
			   "  a: { endpoints: [{ host: a.example.com, port: 443 }], "
			   "binaries: [{ path: /bin/a }] }\n"
			   "  b: { endpoints: [{ host: b.example.com, port: 443 }], "
			   "binaries: [{ path: /bin/b }] }\n";

static char *diff_text(const char *old, const char *new_, size_t *ret_static, size_t *ret_dynamic)
{
	struct osh_policy *a = parse_ok(old), *b = parse_ok(new_);
	struct osh_policy_diff *d = NULL;
	char *text = NULL;

	assert_int_equal(osh_policy_diff(a, b, &d), 0);
	assert_int_equal(osh_policy_diff_format(d, &text), 0);
	*ret_static = d->n_static;
	*ret_dynamic = d->n_dynamic;
	osh_policy_diff_free(d);
	osh_policy_free(a);
	osh_policy_free(b);
	return text;
}

static void test_diff_same(void **state)
{
	/* Reordered and renormalised, but the same policy. */
	static const char same[] =
	    "version: 1\n"
	    "network_policies:\n"
	    "  b: { endpoints: [{ host: B.example.com, ports: [443] }], "
	    "binaries: [{ path: /bin/b }, { path: /bin/b }] }\n"
	    "  a: { name: a, endpoints: [{ host: a.example.com, port: 443 }], "
	    "binaries: [{ path: /bin/a }] }\n"
	    "process: { run_as_user: sandbox }\n"
	    "filesystem_policy: { read_only: [/usr/], include_workdir: true }\n"
	    "landlock: { compatibility: best_effort }\n";
	size_t ns, nd;
	char *t = diff_text(base, same, &ns, &nd);

	(void)state;
	assert_string_equal(t, "");
	assert_int_equal(ns + nd, 0);
	free(t);
}

static void test_diff_dynamic_only(void **state)
{
	static const char changed[] =
	    "version: 1\n"
	    "filesystem_policy: { include_workdir: true, read_only: [/usr] }\n"
	    "process: { run_as_user: sandbox }\n"
	    "network_policies:\n"
	    "  b: { endpoints: [{ host: b.example.com, port: 8443 }], "
	    "binaries: [{ path: /bin/b }] }\n"
	    "  c: { endpoints: [{ host: c.example.com, port: 443 }], "
	    "binaries: [{ path: /bin/c }] }\n";
	size_t ns, nd;
	char *t = diff_text(base, changed, &ns, &nd);

	(void)state;
	assert_string_equal(t, "dynamic removed network_policies.a\n"
			       "dynamic changed network_policies.b\n"
			       "dynamic added   network_policies.c\n");
	assert_int_equal(ns, 0);
	assert_int_equal(nd, 3);
	free(t);
}

static void test_diff_static(void **state)
{
	static const char changed[] =
	    "version: 1\n"
	    "filesystem_policy: { include_workdir: true, read_only: [/usr], "
	    "deny: [/usr/secret] }\n"
	    "landlock: { compatibility: hard_requirement }\n"
	    "network_policies:\n"
	    "  a: { endpoints: [{ host: a.example.com, port: 443 }], "
	    "binaries: [{ path: /bin/a }] }\n"
	    "  b: { endpoints: [{ host: b.example.com, port: 443 }], "
	    "binaries: [{ path: /bin/b }, { path: /bin/c }] }\n";
	static const char no_fs[] = "version: 1\n"
				    "process: { run_as_user: sandbox }\n"
				    "network_policies:\n"
				    "  a: { endpoints: [{ host: a.example.com, port: 443 }], "
				    "binaries: [{ path: /bin/a }] }\n"
				    "  b: { endpoints: [{ host: b.example.com, port: 443 }], "
				    "binaries: [{ path: /bin/b }] }\n";
	size_t ns, nd;
	char *t = diff_text(base, changed, &ns, &nd);

	(void)state;
	assert_string_equal(t, "static  changed filesystem_policy\n"
			       "static  changed landlock\n"
			       "static  changed process\n"
			       "dynamic changed network_policies.b\n");
	assert_int_equal(ns, 3);
	assert_int_equal(nd, 1);
	free(t);
	t = diff_text(base, no_fs, &ns, &nd);
	assert_string_equal(t, "static  removed filesystem_policy\n");
	free(t);
	t = diff_text(no_fs, base, &ns, &nd);
	assert_string_equal(t, "static  added   filesystem_policy\n");
	free(t);
}

/* Two rules naming the same host and port with different allowed_ips keep separate name entries,
 * each with its own binaries and its own address restriction (merging them would hand one rule's
 * binaries the other's restriction, or none). Equal allowed_ips still merge. */
static void test_compile_names_keep_allowed_ips(void **state)
{
	struct osh_policy *p = parse_ok("version: 1\n"
					"network_policies:\n"
					"  a:\n"
					"    endpoints:\n"
					"      - host: x.example.com\n"
					"        port: 443\n"
					"        allowed_ips: [203.0.113.0/24]\n"
					"    binaries: [{path: /usr/bin/curl}]\n"
					"  b:\n"
					"    endpoints:\n"
					"      - host: x.example.com\n"
					"        port: 443\n"
					"    binaries: [{path: /usr/bin/wget}]\n"
					"  c:\n"
					"    endpoints:\n"
					"      - host: x.example.com\n"
					"        port: 443\n"
					"    binaries: [{path: /usr/bin/git}]\n");
	struct osh_policy_image *img = NULL;
	char *text = NULL;

	(void)state;
	assert_int_equal(osh_policy_compile(p, &img), 0);
	assert_int_equal(osh_policy_image_format(img, &text), 0);
	assert_non_null(strstr(text, "name x.example.com tcp/443 exact binaries=0x6 "));
	assert_non_null(strstr(
	    text, "name x.example.com tcp/443 exact allowed_ips=203.0.113.0/24 binaries=0x1 "));
	assert_int_equal(img->n_names, 2);
	for (size_t i = 0; i < img->n_names; i++)
		assert_int_equal(img->names[i].endpoint->n_allowed_ips,
				 img->names[i].entry.value.binaries == 0x1 ? 1 : 0);
	free(text);
	osh_policy_image_free(img);
	osh_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_names_keep_allowed_ips),
		cmocka_unit_test(test_compile_text),
		cmocka_unit_test(test_compile_keys),
		cmocka_unit_test(test_compile_empty),
		cmocka_unit_test(test_diff_same),
		cmocka_unit_test(test_diff_dynamic_only),
		cmocka_unit_test(test_diff_static),
	};

	return cmocka_run_group_tests_name("policy_compile", tests, NULL, NULL);
}
