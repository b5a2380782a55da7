// SPDX-License-Identifier: Apache-2.0
// Policy parsing: the real OpenShell fixtures validate, YAML and JSON of one policy give the same
// IR (same canonical form and revision), and dump -> parse -> dump is a fixed point.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy.h"

/* tests/run.sh runs from the repository root; the shared data sits beside the clone. */
#define SHARED "../shared/openshell-data"

static struct osh_policy *parse_ok(const char *name, const char *buf, size_t len,
				   enum osh_policy_format fmt)
{
	struct osh_diag_list diags = { 0 };
	struct osh_policy *p = NULL;
	int r = osh_policy_parse_buffer(name, buf, len, fmt, &p, &diags);

	for (size_t i = 0; i < diags.n; i++) {
		char *s;

		if (osh_diag_format(&diags.items[i], &s) == 0) {
			print_error("%s\n", s);
			free(s);
		}
	}
	assert_int_equal(r, 0);
	assert_int_equal(diags.n, 0);
	osh_diag_list_clear(&diags);
	assert_non_null(p);
	return p;
}

static struct osh_policy *parse_file_ok(const char *path)
{
	struct osh_diag_list diags = { 0 };
	struct osh_policy *p = NULL;
	int r = osh_policy_parse_file(path, OSH_POLICY_FORMAT_AUTO, &p, &diags);

	for (size_t i = 0; i < diags.n; i++) {
		char *s;

		if (osh_diag_format(&diags.items[i], &s) == 0) {
			print_error("%s\n", s);
			free(s);
		}
	}
	osh_diag_list_clear(&diags);
	assert_int_equal(r, 0);
	return p;
}

static char *dump(const struct osh_policy *p, enum osh_policy_format fmt)
{
	char *s = NULL;

	assert_int_equal(osh_policy_dump(p, fmt, &s), 0);
	assert_non_null(s);
	return s;
}

/* YAML -> canonical YAML and JSON; each re-parsed gives the same canonical texts and revision. */
static void check_fixed_point(const struct osh_policy *p)
{
	char *y1 = dump(p, OSH_POLICY_FORMAT_YAML), *j1 = dump(p, OSH_POLICY_FORMAT_JSON);
	struct osh_policy *py = parse_ok("canon.yaml", y1, strlen(y1), OSH_POLICY_FORMAT_YAML);
	struct osh_policy *pj = parse_ok("canon.json", j1, strlen(j1), OSH_POLICY_FORMAT_JSON);
	char *y2 = dump(py, OSH_POLICY_FORMAT_YAML), *j2 = dump(py, OSH_POLICY_FORMAT_JSON);
	char *y3 = dump(pj, OSH_POLICY_FORMAT_YAML), *j3 = dump(pj, OSH_POLICY_FORMAT_JSON);
	char r1[65], r2[65], r3[65];

	assert_string_equal(y1, y2);
	assert_string_equal(y1, y3);
	assert_string_equal(j1, j2);
	assert_string_equal(j1, j3);
	assert_int_equal(osh_policy_revision(p, r1), 0);
	assert_int_equal(osh_policy_revision(py, r2), 0);
	assert_int_equal(osh_policy_revision(pj, r3), 0);
	assert_int_equal(strlen(r1), 64);
	assert_int_equal(strspn(r1, "0123456789abcdef"), 64);
	assert_string_equal(r1, r2);
	assert_string_equal(r1, r3);
	free(y1);
	free(y2);
	free(y3);
	free(j1);
	free(j2);
	free(j3);
	osh_policy_free(py);
	osh_policy_free(pj);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted YAML and JSON file names in dir; NULL when the directory does not exist. */
static char **list_dir(const char *dir, size_t *ret_n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;

	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l < 5 ||
		    (strcmp(de->d_name + l - 5, ".yaml") && strcmp(de->d_name + l - 5, ".json")))
			continue;
		char **nv = realloc(v, (n + 1) * sizeof(*v));

		assert_non_null(nv);
		v = nv;
		assert_true(asprintf(&v[n++], "%s/%s", dir, de->d_name) > 0);
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), name_cmp);
	*ret_n = n;
	return v;
}

/* Files in prover-testdata that are prover inputs, not policies (no version, other keys). */
static bool is_prover_input(const char *path)
{
	return strstr(path, "/credentials.yaml") || strstr(path, "/accepted-risks.yaml");
}

static void check_dir(const char *dir, size_t min_files)
{
	size_t n = 0, policies = 0;
	char **files = list_dir(dir, &n);

	if (!files && access(SHARED, F_OK) != 0)
		skip();
	assert_non_null(files);
	if (!files) /* not reached; tells the analyzer that cmocka's assert does not return */
		return;
	assert_true(n >= min_files);
	for (size_t i = 0; i < n; i++) {
		struct osh_diag_list diags = { 0 };
		struct osh_policy *p = NULL;
		int r = osh_policy_parse_file(files[i], OSH_POLICY_FORMAT_AUTO, &p, &diags);

		if (is_prover_input(files[i])) {
			/* Rejected as not a policy: its top-level key is unknown, version missing. */
			assert_int_equal(r, -EINVAL);
			assert_int_equal(diags.n, 2);
			assert_non_null(strstr(diags.items[0].message, "unknown key"));
			assert_non_null(
			    strstr(diags.items[1].message, "missing required key 'version'"));
		} else {
			if (r != 0)
				print_error("%s does not validate (%zu errors, first: %s)\n",
					    files[i], diags.n,
					    diags.n ? diags.items[0].message : "-");
			assert_int_equal(r, 0);
			check_fixed_point(p);
			policies++;
		}
		osh_diag_list_clear(&diags);
		osh_policy_free(p);
		free(files[i]);
	}
	assert_true(policies > 0);
	free(files);
}

static void test_openshell_policies(void **state)
{
	(void)state;
	check_dir(SHARED "/policies", 2);
}

static void test_openshell_prover_testdata(void **state)
{
	(void)state;
	check_dir(SHARED "/prover-testdata", 4);
}

static void test_examples(void **state)
{
	(void)state;
	check_dir("examples", 2);
}

static void test_unit_fixtures(void **state)
{
	(void)state;
	check_dir("tests/unit/policies", 2);
}

/* full.yaml and full.json are one policy written two ways: same IR, same canonical text. */
static void test_yaml_json_equivalence(void **state)
{
	struct osh_policy *y = parse_file_ok("tests/unit/policies/full.yaml");
	struct osh_policy *j = parse_file_ok("tests/unit/policies/full.json");
	char *yy = dump(y, OSH_POLICY_FORMAT_YAML), *jy = dump(j, OSH_POLICY_FORMAT_YAML);
	char *yj = dump(y, OSH_POLICY_FORMAT_JSON), *jj = dump(j, OSH_POLICY_FORMAT_JSON);
	char ry[65], rj[65];

	(void)state;
	assert_string_equal(yy, jy);
	assert_string_equal(yj, jj);
	assert_int_equal(osh_policy_revision(y, ry), 0);
	assert_int_equal(osh_policy_revision(j, rj), 0);
	assert_string_equal(ry, rj);
	free(yy);
	free(jy);
	free(yj);
	free(jj);
	osh_policy_free(y);
	osh_policy_free(j);
}

/* The IR of full.yaml, field by field: normalisation and defaults. */
static void test_ir_contents(void **state)
{
	struct osh_policy *p = parse_file_ok("tests/unit/policies/full.yaml");
	const struct osh_net_rule *gh, *in;
	const struct osh_endpoint *ep;

	(void)state;
	assert_int_equal(p->version, 1);
	assert_true(p->filesystem.present);
	assert_true(p->filesystem.include_workdir);
	assert_int_equal(p->filesystem.n_read_only, 3);		      /* duplicate /usr dropped */
	assert_string_equal(p->filesystem.read_only[0], "/etc");      /* trailing '/' dropped */
	assert_string_equal(p->filesystem.read_write[1], "/var/tmp"); /* '//' collapsed */
	assert_int_equal(p->filesystem.n_deny, 2);
	assert_string_equal(p->filesystem.deny[0], "/home/agent/.aws");
	assert_int_equal(p->landlock_compat, OSH_LANDLOCK_HARD_REQUIREMENT);
	assert_int_equal(p->process.run_as_user.kind, OSH_IDENT_ID);
	assert_int_equal(p->process.run_as_user.id, 1000);
	assert_int_equal(p->process.run_as_group.kind, OSH_IDENT_SANDBOX);
	assert_int_equal(p->n_net_rules, 2);
	gh = &p->net_rules[0];
	in = &p->net_rules[1];
	assert_string_equal(gh->key, "github");
	assert_string_equal(gh->name, "GitHub API");
	assert_string_equal(in->name, "internal"); /* defaults to the key */
	assert_int_equal(gh->n_endpoints, 2);
	ep = &gh->endpoints[0];
	assert_string_equal(ep->host, "*.githubusercontent.com");
	assert_int_equal(ep->host_kind, OSH_HOST_WILDCARD);
	assert_int_equal(ep->n_ports, 2);
	assert_int_equal(ep->ports[0], 80);
	assert_int_equal(ep->ports[1], 443);
	assert_int_equal(ep->tls, OSH_TLS_SKIP);
	ep = &gh->endpoints[1];
	assert_string_equal(ep->host, "api.github.com");
	assert_int_equal(ep->protocol, OSH_L7_REST);
	assert_int_equal(ep->enforcement, OSH_AUDIT);
	assert_int_equal(ep->n_rules, 2);
	assert_string_equal(ep->rules[0].method, "GET");
	assert_string_equal(ep->rules[0].path, "/repos/**");
	assert_int_equal(ep->rules[0].n_query, 2);
	assert_string_equal(ep->rules[0].query[1].name, "state");
	assert_int_equal(ep->rules[0].query[1].n_any, 2);
	assert_string_equal(ep->rules[0].query[1].any[0], "closed");
	assert_int_equal(ep->n_deny_rules, 1);
	assert_string_equal(ep->deny_rules[0].method, "DELETE");
	assert_null(ep->deny_rules[0].path);
	assert_int_equal(in->n_endpoints, 4);
	assert_int_equal(in->endpoints[0].host_kind, OSH_HOST_NONE);
	assert_int_equal(in->endpoints[0].n_allowed_ips, 2);
	assert_int_equal(in->endpoints[1].host_kind, OSH_HOST_IPV6);
	assert_string_equal(in->endpoints[1].host, "2001:db8::1");
	assert_int_equal(in->endpoints[2].host_kind, OSH_HOST_IPV4);
	assert_int_equal(in->endpoints[2].access, OSH_ACCESS_READ_WRITE);
	assert_int_equal(in->n_binaries, 2);
	assert_true(in->binaries[0].glob);
	assert_false(in->binaries[1].glob);
	/* Positions survive into the IR for the prover's messages. */
	assert_int_equal(gh->pos.line, 16);
	assert_int_equal(gh->pos.col, 3);
	osh_policy_free(p);
}

/* Defaults: landlock best_effort, no filesystem_policy, process unset, workdir not included. */
static void test_defaults(void **state)
{
	static const char doc[] = "version: 1\n";
	struct osh_policy *p = parse_ok("d.yaml", doc, sizeof(doc) - 1, OSH_POLICY_FORMAT_YAML);
	char *y = dump(p, OSH_POLICY_FORMAT_YAML);

	(void)state;
	assert_false(p->filesystem.present);
	assert_false(p->filesystem.include_workdir);
	assert_int_equal(p->landlock_compat, OSH_LANDLOCK_BEST_EFFORT);
	assert_int_equal(p->process.run_as_user.kind, OSH_IDENT_UNSET);
	assert_int_equal(p->n_net_rules, 0);
	assert_string_equal(y, "version: 1\nlandlock:\n  compatibility: best_effort\n");
	free(y);
	osh_policy_free(p);
}

/* A different policy has a different revision; the same policy reordered has the same one. */
static void test_revision_changes(void **state)
{
	static const char a[] = "version: 1\nfilesystem_policy: {read_only: [/usr, /etc]}\n";
	static const char b[] = "version: 1\nfilesystem_policy: {read_only: [/etc, /usr/]}\n";
	static const char c[] = "version: 1\nfilesystem_policy: {read_only: [/etc]}\n";
	struct osh_policy *pa = parse_ok("a", a, sizeof(a) - 1, OSH_POLICY_FORMAT_YAML);
	struct osh_policy *pb = parse_ok("b", b, sizeof(b) - 1, OSH_POLICY_FORMAT_YAML);
	struct osh_policy *pc = parse_ok("c", c, sizeof(c) - 1, OSH_POLICY_FORMAT_YAML);
	char ra[65], rb[65], rc[65];

	(void)state;
	assert_int_equal(osh_policy_revision(pa, ra), 0);
	assert_int_equal(osh_policy_revision(pb, rb), 0);
	assert_int_equal(osh_policy_revision(pc, rc), 0);
	assert_string_equal(ra, rb);
	assert_string_not_equal(ra, rc);
	osh_policy_free(pa);
	osh_policy_free(pb);
	osh_policy_free(pc);
}

/* Strings that need quoting in YAML (look like numbers, booleans, null) survive a round trip. */
static void test_yaml_quoting_round_trip(void **state)
{
	static const char doc[] = "version: 1\n"
				  "network_policies:\n"
				  "  \"123\":\n"
				  "    name: \"null\"\n"
				  "    endpoints: [{ host: a.example.com, port: 1 }]\n"
				  "    binaries: [{ path: \"/bin/x: y\" }, { path: \"/bin/#z\" }, "
				  "{ path: \"/b/\\u00e9\" }]\n"
				  "  \"true\":\n"
				  "    name: \"- x\"\n"
				  "    endpoints: [{ host: b.example.com, port: 2 }]\n"
				  "    binaries: [{ path: /b/c }]\n";
	struct osh_policy *p = parse_ok("q.yaml", doc, sizeof(doc) - 1, OSH_POLICY_FORMAT_YAML);

	(void)state;
	assert_string_equal(p->net_rules[0].key, "123");
	assert_string_equal(p->net_rules[0].name, "null");
	assert_string_equal(p->net_rules[0].binaries[0].path, "/b/\xc3\xa9");
	check_fixed_point(p);
	osh_policy_free(p);
}

/* Filesystem paths keep where they were written (normalised, first occurrence), so the runner's
 * errors can name FILE:LINE:COL. */
static void test_fs_path_positions(void **state)
{
	static const char doc[] = "version: 1\n"
				  "filesystem_policy:\n"
				  "  read_only: [/usr, \"/opt//tools/\"]\n"
				  "  read_write:\n"
				  "    - /tmp\n"
				  "  deny: [/usr]\n";
	struct osh_policy *p = parse_ok("pos.yaml", doc, sizeof(doc) - 1, OSH_POLICY_FORMAT_YAML);
	struct osh_pos pos;

	assert_int_equal(osh_policy_fs_path_pos(p, "/usr", &pos), 0);
	assert_int_equal(pos.line, 3);
	assert_int_equal(pos.col, 15);
	assert_int_equal(osh_policy_fs_path_pos(p, "/opt/tools", &pos), 0);
	assert_int_equal(pos.line, 3);
	assert_int_equal(pos.col, 21);
	assert_int_equal(osh_policy_fs_path_pos(p, "/tmp", &pos), 0);
	assert_int_equal(pos.line, 5);
	assert_int_equal(pos.col, 7);
	assert_int_equal(osh_policy_fs_path_pos(p, "/etc", &pos), -ENOENT);
	osh_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openshell_policies),
		cmocka_unit_test(test_openshell_prover_testdata),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_unit_fixtures),
		cmocka_unit_test(test_yaml_json_equivalence),
		cmocka_unit_test(test_ir_contents),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_revision_changes),
		cmocka_unit_test(test_yaml_quoting_round_trip),
		cmocka_unit_test(test_fs_path_positions),
	};

	return cmocka_run_group_tests_name("policy_parse", tests, NULL, NULL);
}
