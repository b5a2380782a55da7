// SPDX-License-Identifier: Apache-2.0
// `oshctl policy validate|show|compile|diff`: the policy compiler on the command line. Prints
// diagnostics as `FILE:LINE:COL: message` on stderr (validate -o json: in its document);
// results on stdout, as text or, with -o json, one JSON document.
// `oshctl policy set|update|get|list`: a sandbox's policy in oshd (docs/api.md), revision by
// revision.
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/oshctl.h"
#include "cli/update-args.h"
#include "policy.h"

static void policy_usage(FILE *f)
{
	fprintf(f,
		"usage: oshctl policy validate FILE... [-o json|text]\n"
		"       oshctl policy show FILE [-o yaml|json|text]\n"
		"       oshctl policy compile FILE [-o json|text]\n"
		"       oshctl policy diff OLD NEW [-o json|text]\n"
		"       oshctl policy prove FILE [--against OLD] [options] (see prove --help)\n"
		"       oshctl policy set SANDBOX FILE [--reason R] [--no-wait]\n"
		"       oshctl policy update SANDBOX [--add-endpoint ...] [--remove-endpoint ...]\n"
		"                            [--add-binary ...] [--remove-binary ...]\n"
		"                            [--remove-policy P] [--add-rule ...] [--reason R]\n"
		"       oshctl policy get SANDBOX [--rev N]\n"
		"       oshctl policy list SANDBOX\n"
		"\n"
		"validate  check policies; exit 0 when all are valid, 1 with every error\n"
		"show      print the canonical form and its revision id\n"
		"compile   print the BPF map entries the policy compiles to\n"
		"diff      print what changed (static: new sandbox; dynamic: hot reload);\n"
		"          exit 0 when equal, 1 when different\n"
		"prove     look for exfiltration paths with Z3\n"
		"set       replace a sandbox's network policies (oshd; hot reload)\n"
		"update    add or remove endpoints, binaries, rules of a sandbox (oshd)\n"
		"get       print a sandbox's policy in force, or revision N (oshd)\n"
		"list      print a sandbox's policy revisions, newest first (oshd)\n"
		"\n"
		"'oshctl policy VERB --help' has each verb's options and examples.\n");
}

/* --- policies in files ---------------------------------------------------------------------- */

/* The options of the file verbs: -o json|text, --help. Each verb parses its own, so that
 * `policy VERB --help` and `policy VERB FILE -o json` work like the verbs of oshd's sandboxes. */
static const struct option file_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* Parses the options of a file verb into *json. Returns -1 to go on, else the exit code. */
static int file_verb_opts(int argc, char **argv, const char *cmd, bool *json,
			  void (*usage)(FILE *f))
{
	int c, r;

	*json = oshctl_output_json();
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", file_opts, NULL)) != -1) {
		r = oshctl_common_opt(c, cmd, json, usage);
		if (r >= 0)
			return r;
	}
	return -1;
}

/* Prints root on stdout and frees it; a NULL root (out of memory while building it) is the
 * system error it stands for. Returns ret, or OSHCTL_EXIT_SYSTEM. */
static int json_finish(cJSON *root, int ret)
{
	if (!root) {
		fprintf(stderr, "oshctl: out of memory\n");
		return OSHCTL_EXIT_SYSTEM;
	}
	oshctl_json_print(root);
	cJSON_Delete(root);
	return ret;
}

/* Adds item to o under key (to array arr): true, or false after freeing item. cJSON leaves an
 * item it could not add with the caller; NULL items (failed to create) are refused. */
static bool json_add(cJSON *o, const char *key, cJSON *item)
{
	if (item && cJSON_AddItemToObject(o, key, item))
		return true;
	cJSON_Delete(item);
	return false;
}

static bool json_push(cJSON *arr, cJSON *item)
{
	if (item && cJSON_AddItemToArray(arr, item))
		return true;
	cJSON_Delete(item);
	return false;
}

/* A new object appended to arr, or NULL. */
static cJSON *array_add_object(cJSON *arr)
{
	cJSON *o = cJSON_CreateObject();

	return json_push(arr, o) ? o : NULL;
}

/* A mask of binary indices as the text form writes it: JSON numbers stop being exact at
 * 2^53, and bit 63 is a binary like any other. */
static cJSON *mask_json(uint64_t mask)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)mask);
	return cJSON_CreateString(buf);
}

static void validate_usage(FILE *f)
{
	fprintf(f,
		"usage: oshctl policy validate FILE... [-o json|text]\n"
		"\n"
		"Checks each FILE (YAML or JSON) and prints 'FILE: valid', or every error as\n"
		"FILE:LINE:COL: message on stderr. Exit 0 when all are valid, 1 when one is\n"
		"invalid, 3 when one cannot be read. With -o json: one document on stdout with\n"
		"the errors in it (not on stderr); several FILEs: {\"valid\", \"files\": [...]}.\n"
		"\n"
		"examples:\n"
		"  oshctl policy validate agent.yaml ci.yaml\n"
		"  oshctl policy validate agent.yaml -o json | jq '.diagnostics[] | .line'\n");
}

/* {"file", "valid", "revision"?, "diagnostics": [{"file", "line", "column", "message"}]}:
 * what the text form prints for one file, the diagnostics it would have printed on stderr
 * included. "diagnostics_dropped" counts those past OSH_POLICY_MAX_DIAGS. Empties diags. */
static cJSON *validate_json(const char *file, const struct osh_policy *p,
			    struct osh_diag_list *diags)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	char rev[65];
	bool ok = false;

	if (!o || !cJSON_AddStringToObject(o, "file", file) ||
	    !cJSON_AddBoolToObject(o, "valid", p != NULL))
		goto out;
	if (p && (osh_policy_revision(p, rev) < 0 || !cJSON_AddStringToObject(o, "revision", rev)))
		goto out;
	arr = cJSON_AddArrayToObject(o, "diagnostics");
	if (!arr)
		goto out;
	for (size_t i = 0; i < diags->n; i++) {
		const struct osh_diag *d = &diags->items[i];
		cJSON *e = array_add_object(arr);

		if (!e || !cJSON_AddStringToObject(e, "file", d->file) ||
		    !cJSON_AddNumberToObject(e, "line", d->line) ||
		    !cJSON_AddNumberToObject(e, "column", d->col) ||
		    !cJSON_AddStringToObject(e, "message", d->message))
			goto out;
	}
	if (diags->dropped &&
	    !cJSON_AddNumberToObject(o, "diagnostics_dropped", (double)diags->dropped))
		goto out;
	ok = true;
out:
	osh_diag_list_clear(diags);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int policy_validate(int argc, char **argv)
{
	cJSON *root = NULL, *files = NULL;
	bool json;
	int ret = file_verb_opts(argc, argv, "policy validate", &json, validate_usage);

	if (ret >= 0)
		return ret;
	ret = OSHCTL_EXIT_OK;
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		validate_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	if (json && argc > 1) {
		root = cJSON_CreateObject();
		files = cJSON_AddArrayToObject(root, "files");
		if (!files) {
			cJSON_Delete(root);
			return json_finish(NULL, ret);
		}
	}
	for (int i = 0; i < argc; i++) {
		struct osh_diag_list diags = { 0 };
		struct osh_policy *p = NULL;
		int r = oshctl_policy_parse("policy", argv[i], &p, &diags);

		if (json) {
			cJSON *o = validate_json(argv[i], r == OSHCTL_EXIT_OK ? p : NULL, &diags);

			if (!files) {
				root = o;
			} else if (!json_push(files, o)) {
				cJSON_Delete(root);
				root = NULL;
			}
		} else {
			oshctl_diags_print(&diags);
			if (r == OSHCTL_EXIT_OK)
				printf("%s: valid\n", argv[i]);
		}
		if (r != OSHCTL_EXIT_OK && (ret == OSHCTL_EXIT_OK || r == OSHCTL_EXIT_SYSTEM))
			ret = r;
		osh_policy_free(p);
		if (json && !root)
			break;
	}
	if (!json)
		return ret;
	/* Several files: "valid" after the list, since it is known only now. */
	if (root && files && !cJSON_AddBoolToObject(root, "valid", ret == OSHCTL_EXIT_OK)) {
		cJSON_Delete(root);
		root = NULL;
	}
	return json_finish(root, ret);
}

static void show_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: oshctl policy show FILE [-o yaml|json|text]\n"
	    "\n"
	    "Prints the canonical form of FILE, a policy that can be fed back in, on stdout\n"
	    "and '# revision <sha256>' on stderr. -o yaml (or text, the default): YAML.\n"
	    "-o json: one JSON document {\"file\", \"revision\", \"policy\"} with the canonical\n"
	    "policy as an object (jq .policy is a JSON policy file).\n"
	    "\n"
	    "examples:\n"
	    "  oshctl policy show agent.yaml > agent.canonical.yaml\n"
	    "  oshctl policy show agent.yaml -o json | jq -r .revision\n");
}

static int policy_show(int argc, char **argv)
{
	bool json = oshctl_output_json();
	const char *file;
	struct osh_policy *p = NULL;
	cJSON *root = NULL;
	char rev[65], *text = NULL;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", file_opts, NULL)) != -1) {
		/* yaml: the name of the text form here, since that is what it prints */
		if (c == 'o' && strcmp(optarg, "yaml") && strcmp(optarg, "json") &&
		    strcmp(optarg, "text")) {
			fprintf(stderr,
				"oshctl: policy show: unknown output format '%s' (expected yaml, "
				"json or text)\n",
				optarg);
			return OSHCTL_EXIT_USAGE;
		}
		if (c == 'o' && !strcmp(optarg, "yaml")) {
			json = false;
			continue;
		}
		r = oshctl_common_opt(c, "policy show", &json, show_usage);
		if (r >= 0)
			return r;
	}
	if (optind + 1 != argc) {
		show_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	file = argv[optind];
	r = oshctl_policy_load("policy", file, &p);
	if (r != OSHCTL_EXIT_OK)
		return r;
	r = osh_policy_dump(p, json ? OSH_POLICY_FORMAT_JSON : OSH_POLICY_FORMAT_YAML, &text);
	if (r >= 0)
		r = osh_policy_revision(p, rev);
	if (r < 0) {
		fprintf(stderr, "oshctl: policy show: %s: %s\n", file, strerror(-r));
		r = OSHCTL_EXIT_SYSTEM;
		goto out;
	}
	r = OSHCTL_EXIT_OK;
	if (!json) {
		/* The revision goes to stderr so stdout stays a policy that can be fed back in. */
		fprintf(stderr, "# revision %s\n", rev);
		fputs(text, stdout);
		goto out;
	}
	/* The canonical JSON text parsed back: "policy" is that document, as an object. */
	root = cJSON_CreateObject();
	if (!root || !cJSON_AddStringToObject(root, "file", file) ||
	    !cJSON_AddStringToObject(root, "revision", rev) ||
	    !json_add(root, "policy", cJSON_Parse(text))) {
		cJSON_Delete(root);
		root = NULL;
	}
	r = json_finish(root, r);
out:
	free(text);
	osh_policy_free(p);
	return r;
}

static void compile_usage(FILE *f)
{
	fprintf(f,
		"usage: oshctl policy compile FILE [-o json|text]\n"
		"\n"
		"Prints the revision of FILE and the BPF map entries it compiles to, one a line\n"
		"(docs/policy.md, Compiled map entries); -o json: the same as one document.\n"
		"Exit 1 when the policy is invalid or exceeds a limit of the BPF maps.\n"
		"\n"
		"examples:\n"
		"  oshctl policy compile agent.yaml\n"
		"  oshctl policy compile agent.yaml -o json | jq -r '.names[].name'\n");
}

/* "ADDR/LEN" of an address family's first bytes of addr. */
static cJSON *cidr_json(int family, const void *addr, unsigned int prefix_len)
{
	char a[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 8];

	if (!inet_ntop(family, addr, a, sizeof(a)))
		return NULL;
	snprintf(buf, sizeof(buf), "%s/%u", a, prefix_len);
	return cJSON_CreateString(buf);
}

static const char *proto_name(uint8_t proto)
{
	return proto == OSH_EGRESS_PROTO_UDP ? "udp" : "tcp";
}

/* The members of an egress value, into o. Returns 0 or -ENOMEM. */
static int egress_value_json(cJSON *o, const struct osh_egress_value *v)
{
	if (!json_add(o, "binaries", mask_json(v->binaries)) ||
	    !json_add(o, "l7", mask_json(v->l7)) || !json_add(o, "audit", mask_json(v->audit)) ||
	    !cJSON_AddNumberToObject(o, "rule", v->rule) ||
	    !cJSON_AddBoolToObject(o, "tls_skip", v->flags & OSH_EGRESS_F_TLS_SKIP) ||
	    !cJSON_AddBoolToObject(o, "from_name", v->flags & OSH_EGRESS_F_FROM_NAME))
		return -ENOMEM;
	return 0;
}

/* One egress LPM entry: {"cidr", "port", "proto", "binaries", "l7", "audit", "rule", ...}. The
 * key's prefix length counts the port and protocol bits; the CIDR's does not. */
static int egress_json(cJSON *arr, int family, const void *addr, uint32_t prefixlen, uint16_t port,
		       uint8_t proto, const struct osh_egress_value *v)
{
	cJSON *o = array_add_object(arr);

	if (!o ||
	    !json_add(o, "cidr", cidr_json(family, addr, prefixlen - OSH_EGRESS_KEY_PREFIX_BITS)) ||
	    !cJSON_AddNumberToObject(o, "port", ntohs(port)) ||
	    !cJSON_AddStringToObject(o, "proto", proto_name(proto)))
		return -ENOMEM;
	return egress_value_json(o, v);
}

static int names_json(cJSON *arr, const struct osh_policy_image *img)
{
	for (size_t i = 0; i < img->n_names; i++) {
		const struct osh_egress_name *n = &img->names[i].entry;
		const struct osh_endpoint *ep = img->names[i].endpoint;
		cJSON *o = array_add_object(arr), *ips;

		if (!o || !cJSON_AddStringToObject(o, "name", n->name) ||
		    !cJSON_AddNumberToObject(o, "port", ntohs(n->port)) ||
		    !cJSON_AddStringToObject(o, "proto", proto_name(n->proto)) ||
		    !cJSON_AddStringToObject(
			o, "kind", n->kind == OSH_EGRESS_NAME_WILDCARD ? "wildcard" : "exact") ||
		    !(ips = cJSON_AddArrayToObject(o, "allowed_ips")))
			return -ENOMEM;
		for (size_t k = 0; ep && k < ep->n_allowed_ips; k++) {
			const struct osh_cidr *c = &ep->allowed_ips[k];

			if (!json_push(ips, cidr_json(c->family == 6 ? AF_INET6 : AF_INET, c->addr,
						      c->prefix_len)))
				return -ENOMEM;
		}
		if (egress_value_json(o, &n->value) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int l7_json(cJSON *arr, const struct osh_policy_image *img)
{
	for (size_t i = 0; i < img->n_l7; i++) {
		const struct osh_image_l7 *l = &img->l7[i];
		const struct osh_endpoint *ep = l->endpoint;
		cJSON *o = array_add_object(arr), *ports;

		if (!o || !cJSON_AddStringToObject(o, "policy", l->rule->key) ||
		    !(ep->host ? cJSON_AddStringToObject(o, "host", ep->host)
			       : cJSON_AddNullToObject(o, "host")) ||
		    !(ports = cJSON_AddArrayToObject(o, "ports")))
			return -ENOMEM;
		for (size_t k = 0; k < ep->n_ports; k++)
			if (!json_push(ports, cJSON_CreateNumber(ep->ports[k])))
				return -ENOMEM;
		if (!cJSON_AddStringToObject(o, "protocol", osh_l7_protocol_name(ep->protocol)) ||
		    !(ep->access ? cJSON_AddStringToObject(o, "access", osh_access_name(ep->access))
				 : cJSON_AddNullToObject(o, "access")) ||
		    !cJSON_AddNumberToObject(o, "rules", (double)ep->n_rules) ||
		    !cJSON_AddNumberToObject(o, "deny_rules", (double)ep->n_deny_rules) ||
		    !cJSON_AddBoolToObject(o, "audit", ep->enforcement == OSH_AUDIT) ||
		    !json_add(o, "binaries", mask_json(l->binaries)))
			return -ENOMEM;
	}
	return 0;
}

static int fs_json(cJSON *arr, const struct osh_policy_image *img)
{
	static const char *const kinds[] = {
		[OSH_FS_RULE_READ_ONLY] = "read_only",
		[OSH_FS_RULE_READ_WRITE] = "read_write",
		[OSH_FS_RULE_DENY] = "deny",
		[OSH_FS_RULE_WORKDIR] = "workdir",
	};

	for (size_t i = 0; i < img->n_fs; i++) {
		const struct osh_fs_value *v = &img->fs[i].value;
		cJSON *o = array_add_object(arr);

		if (!o || !cJSON_AddStringToObject(o, "path", img->fs[i].path) ||
		    !cJSON_AddBoolToObject(o, "read", v->access & OSH_FS_READ) ||
		    !cJSON_AddBoolToObject(o, "write", v->access & OSH_FS_WRITE) ||
		    !cJSON_AddBoolToObject(o, "deny", v->access & OSH_FS_DENY) ||
		    !cJSON_AddStringToObject(o, "kind",
					     v->kind < sizeof(kinds) / sizeof(kinds[0]) &&
						     kinds[v->kind]
						 ? kinds[v->kind]
						 : "workdir") ||
		    !cJSON_AddNumberToObject(o, "index", v->index))
			return -ENOMEM;
	}
	return 0;
}

/* run_as_user/run_as_group: "sandbox", the id, or null when unset (the runner chooses). */
static cJSON *ident_json(const struct osh_ident *id)
{
	if (id->kind == OSH_IDENT_SANDBOX)
		return cJSON_CreateString("sandbox");
	if (id->kind == OSH_IDENT_ID)
		return cJSON_CreateNumber(id->id);
	return cJSON_CreateNull();
}

/* What osh_policy_image_format lists, structured: one array per map, then the static
 * settings the text form ends with. Returns a new object or NULL (out of memory). */
static cJSON *image_json(const char *rev, const struct osh_policy_image *img)
{
	cJSON *o = cJSON_CreateObject(), *bins, *v4, *v6, *names, *l7, *fs, *proc;
	int r = -ENOMEM;

	if (!o || !cJSON_AddStringToObject(o, "revision", rev) ||
	    !(bins = cJSON_AddArrayToObject(o, "binaries")) ||
	    !(v4 = cJSON_AddArrayToObject(o, "v4")) || !(v6 = cJSON_AddArrayToObject(o, "v6")) ||
	    !(names = cJSON_AddArrayToObject(o, "names")) ||
	    !(l7 = cJSON_AddArrayToObject(o, "l7")) || !(fs = cJSON_AddArrayToObject(o, "fs")))
		goto out;
	for (size_t i = 0; i < img->n_binaries; i++) {
		cJSON *b = array_add_object(bins);

		if (!b || !cJSON_AddNumberToObject(b, "index", img->binaries[i].index) ||
		    !cJSON_AddStringToObject(b, "path", img->binaries[i].path) ||
		    !cJSON_AddBoolToObject(b, "glob", img->binaries[i].glob))
			goto out;
	}
	for (size_t i = 0; i < img->n_v4; i++) {
		const struct osh_egress_v4_key *k = &img->v4[i].key;

		if (egress_json(v4, AF_INET, k->addr, k->prefixlen, k->port, k->proto,
				&img->v4[i].value) < 0)
			goto out;
	}
	for (size_t i = 0; i < img->n_v6; i++) {
		const struct osh_egress_v6_key *k = &img->v6[i].key;

		if (egress_json(v6, AF_INET6, k->addr, k->prefixlen, k->port, k->proto,
				&img->v6[i].value) < 0)
			goto out;
	}
	if (names_json(names, img) < 0 || l7_json(l7, img) < 0 || fs_json(fs, img) < 0)
		goto out;
	if (!cJSON_AddBoolToObject(o, "workdir", img->include_workdir) ||
	    !cJSON_AddStringToObject(o, "landlock",
				     osh_landlock_compat_name(img->landlock_compat)) ||
	    !(proc = cJSON_AddObjectToObject(o, "process")) ||
	    !json_add(proc, "run_as_user", ident_json(&img->process.run_as_user)) ||
	    !json_add(proc, "run_as_group", ident_json(&img->process.run_as_group)))
		goto out;
	r = 0;
out:
	if (r < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int policy_compile(int argc, char **argv)
{
	struct osh_policy *p = NULL;
	struct osh_policy_image *img = NULL;
	char *text = NULL, rev[65];
	bool json;
	int r;

	r = file_verb_opts(argc, argv, "policy compile", &json, compile_usage);
	if (r >= 0)
		return r;
	if (optind + 1 != argc) {
		compile_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	r = oshctl_policy_load("policy", argv[optind], &p);
	if (r != OSHCTL_EXIT_OK)
		return r;
	r = osh_policy_compile(p, &img);
	if (r >= 0 && !json)
		r = osh_policy_image_format(img, &text);
	if (r >= 0)
		r = osh_policy_revision(p, rev);
	if (r < 0) {
		fprintf(stderr, "oshctl: policy compile: %s: %s\n", argv[optind], strerror(-r));
		r = r == -E2BIG ? OSHCTL_EXIT_FAIL : OSHCTL_EXIT_SYSTEM;
	} else if (json) {
		r = json_finish(image_json(rev, img), OSHCTL_EXIT_OK);
	} else {
		printf("revision %s\n%s", rev, text);
		r = OSHCTL_EXIT_OK;
	}
	free(text);
	osh_policy_image_free(img);
	osh_policy_free(p);
	return r;
}

static void diff_usage(FILE *f)
{
	fprintf(f, "usage: oshctl policy diff OLD NEW [-o json|text]\n"
		   "\n"
		   "Prints what changed from OLD to NEW, one change a line: static (needs a new\n"
		   "sandbox) or dynamic (hot-reloadable), added, removed or changed, and the\n"
		   "section. Exit 0 when the policies are equal, 1 when they differ.\n"
		   "\n"
		   "examples:\n"
		   "  oshctl policy diff agent.yaml agent-new.yaml\n"
		   "  oshctl policy diff agent.yaml agent-new.yaml -o json | jq .static\n");
}

/* {"changes": [{"section", "key", "kind", "static"}], "static": N, "dynamic": N}; key is
 * null for the static sections. Returns a new object or NULL (out of memory). */
static cJSON *diff_json(const struct osh_policy_diff *d)
{
	static const char *const kinds[] = {
		[OSH_DIFF_ADDED] = "added",
		[OSH_DIFF_REMOVED] = "removed",
		[OSH_DIFF_CHANGED] = "changed",
	};
	cJSON *o = cJSON_CreateObject(), *arr;

	if (!o || !(arr = cJSON_AddArrayToObject(o, "changes")))
		goto fail;
	for (size_t i = 0; i < d->n_changes; i++) {
		const struct osh_diff_change *c = &d->changes[i];
		cJSON *e = array_add_object(arr);

		if (!e || !cJSON_AddStringToObject(e, "section", c->section) ||
		    !(c->key ? cJSON_AddStringToObject(e, "key", c->key)
			     : cJSON_AddNullToObject(e, "key")) ||
		    !cJSON_AddStringToObject(e, "kind", kinds[c->kind]) ||
		    !cJSON_AddBoolToObject(e, "static", c->is_static))
			goto fail;
	}
	if (!cJSON_AddNumberToObject(o, "static", (double)d->n_static) ||
	    !cJSON_AddNumberToObject(o, "dynamic", (double)d->n_dynamic))
		goto fail;
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static int policy_diff(int argc, char **argv)
{
	struct osh_policy *a = NULL, *b = NULL;
	struct osh_policy_diff *d = NULL;
	char *text = NULL;
	bool json;
	int r;

	r = file_verb_opts(argc, argv, "policy diff", &json, diff_usage);
	if (r >= 0)
		return r;
	if (optind + 2 != argc) {
		diff_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	r = oshctl_policy_load("policy", argv[optind], &a);
	if (r == OSHCTL_EXIT_OK)
		r = oshctl_policy_load("policy", argv[optind + 1], &b);
	if (r != OSHCTL_EXIT_OK)
		goto out;
	r = osh_policy_diff(a, b, &d);
	if (r >= 0 && !json)
		r = osh_policy_diff_format(d, &text);
	if (r < 0) {
		fprintf(stderr, "oshctl: policy diff: %s\n", strerror(-r));
		r = OSHCTL_EXIT_SYSTEM;
		goto out;
	}
	r = d->n_changes ? OSHCTL_EXIT_FAIL : OSHCTL_EXIT_OK;
	if (json) {
		r = json_finish(diff_json(d), r);
		goto out;
	}
	fputs(text, stdout);
	if (d->n_changes)
		printf("%zu static, %zu dynamic change(s)%s\n", d->n_static, d->n_dynamic,
		       d->n_static ? ": the static ones need a new sandbox" : ": hot-reloadable");
out:
	free(text);
	osh_policy_diff_free(d);
	osh_policy_free(a);
	osh_policy_free(b);
	return r;
}

int cmd_policy_prove(int argc, char **argv);

/* --- policies of oshd's sandboxes --------------------------------------------------------------- */

/* "/v1/sandboxes/NAME/policy" + suffix into path. Returns 0, or -ENAMETOOLONG after printing. */
static int policy_path(const char *name, const char *suffix, char *path, size_t size)
{
	char *e = oshctl_url_escape(name);
	int n = e ? snprintf(path, size, "/v1/sandboxes/%s/policy%s", e, suffix) : -1;

	free(e);
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "oshctl: policy: sandbox name too long\n");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* The answer to PUT and PATCH: a Revision and "changed". */
static void print_change(const char *name, const cJSON *rev)
{
	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(rev, "changed")))
		printf("%s: policy unchanged (revision %.0f, %s)\n", name,
		       oshctl_json_num(rev, "rev"), oshctl_json_str(rev, "hash", "?"));
	else
		printf("%s: policy revision %.0f applied (%s)\n", name, oshctl_json_num(rev, "rev"),
		       oshctl_json_str(rev, "hash", "?"));
}

static void set_usage(FILE *f)
{
	fprintf(f,
		"usage: oshctl policy set SANDBOX FILE [--reason R] [--no-wait] [-o json|text]\n"
		"\n"
		"Replaces the network policies of SANDBOX with those of FILE, as a new revision\n"
		"applied to the running sandbox without a restart. FILE is validated here first\n"
		"(errors name FILE:LINE:COL). Its static sections (filesystem_policy, landlock,\n"
		"process) must be those the sandbox was created with: changing them needs a new\n"
		"sandbox, and oshd refuses (static-change, naming them). Setting the policy in\n"
		"force again stores no revision and says 'unchanged'.\n"
		"\n"
		"  -r, --reason R   recorded with the revision\n"
		"      --no-wait    do not wait for the kernel to run the new generation\n"
		"\n"
		"examples:\n"
		"  oshctl policy set agent-1 agent.yaml --reason 'allow the package mirror'\n"
		"  oshctl policy set agent-1 agent.yaml -o json | jq .rev\n");
}

static int policy_set(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *reason = NULL, *file;
	bool json = oshctl_output_json(), wait = true;
	char path[512], *text = NULL;
	cJSON *body = NULL, *rev = NULL;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "r:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			reason = optarg;
			break;
		case 'W':
			wait = false;
			break;
		default:
			r = oshctl_common_opt(c, "policy set", &json, set_usage);
			if (r >= 0)
				return r;
		}
	}
	if (argc - optind != 2) {
		set_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	file = argv[optind + 1];
	if (policy_path(argv[optind], "", path, sizeof(path)) < 0)
		return OSHCTL_EXIT_USAGE;
	r = oshctl_policy_read(file, &text);
	if (r != OSHCTL_EXIT_OK)
		return r;
	body = cJSON_CreateObject();
	if (!body || !cJSON_AddStringToObject(body, "policy", text) ||
	    (reason && !cJSON_AddStringToObject(body, "reason", reason)) ||
	    !cJSON_AddBoolToObject(body, "wait", wait)) {
		fprintf(stderr, "oshctl: out of memory\n");
		r = OSHCTL_EXIT_SYSTEM;
		goto out;
	}
	r = oshctl_call("PUT", path, body, &(struct oshctl_call_opts){ .policy_file = file }, NULL,
			&rev);
	if (r == OSHCTL_EXIT_OK) {
		if (json)
			oshctl_json_print(rev);
		else
			print_change(argv[optind], rev);
	}
out:
	cJSON_Delete(rev);
	cJSON_Delete(body);
	free(text);
	return r;
}

static void update_usage(FILE *f)
{
	fprintf(
	    f, "usage: oshctl policy update SANDBOX [--add-endpoint "
	       "POLICY:HOST:PORT[:PROTOCOL[:ACCESS]]]...\n"
	       "                            [--remove-endpoint POLICY:HOST:PORT]...\n"
	       "                            [--add-binary POLICY:PATH]... [--remove-binary "
	       "POLICY:PATH]...\n"
	       "                            [--remove-policy POLICY]...\n"
	       "                            [--add-rule POLICY:HOST:PORT:METHOD:PATH]...\n"
	       "                            [--reason R] [--no-wait] [-o json|text]\n"
	       "\n"
	       "Changes the network policies of SANDBOX in place, as one new revision: removals\n"
	       "first, then additions, in the order endpoints, binaries, policies, rules; the\n"
	       "result is validated and compiled like 'policy set'. Adding to a POLICY (a\n"
	       "network_policies key) that does not exist creates it; removing what is not\n"
	       "there is an error. Write an IPv6 HOST in brackets: [2001:db8::1].\n"
	       "PROTOCOL: tcp, rest, websocket, graphql; ACCESS: read-only, read-write, full.\n"
	       "\n"
	       "examples:\n"
	       "  oshctl policy update agent-1 --add-endpoint github:uploads.github.com:443\n"
	       "  oshctl policy update agent-1 --add-endpoint pypi:pypi.org:443:rest:read-only \\\n"
	       "      --add-binary pypi:/usr/bin/pip --reason 'pip install'\n"
	       "  oshctl policy update agent-1 --remove-endpoint github:api.github.com:443\n"
	       "  oshctl policy update agent-1 --add-rule api:api.example.com:443:GET:/repos/**\n"
	       "  oshctl policy update agent-1 --remove-policy old\n");
}

static int policy_update(int argc, char **argv)
{
	enum { ADD_EP = 1000, RM_EP, ADD_BIN, RM_BIN, RM_POL, ADD_RULE, NO_WAIT };
	static const struct option opts[] = {
		{ "add-endpoint", required_argument, NULL, ADD_EP },
		{ "remove-endpoint", required_argument, NULL, RM_EP },
		{ "add-binary", required_argument, NULL, ADD_BIN },
		{ "remove-binary", required_argument, NULL, RM_BIN },
		{ "remove-policy", required_argument, NULL, RM_POL },
		{ "add-rule", required_argument, NULL, ADD_RULE },
		{ "reason", required_argument, NULL, 'r' },
		{ "no-wait", no_argument, NULL, NO_WAIT },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* Indexed by option value - ADD_EP, in the order of the enum above. */
	static const enum oshctl_update_kind kinds[] = {
		OSHCTL_ADD_ENDPOINT,  OSHCTL_REMOVE_ENDPOINT, OSHCTL_ADD_BINARY,
		OSHCTL_REMOVE_BINARY, OSHCTL_REMOVE_POLICY,   OSHCTL_ADD_RULE,
	};
	const char *reason = NULL;
	bool json = oshctl_output_json(), wait = true, any = false;
	char path[512], err[256];
	cJSON *body = cJSON_CreateObject(), *rev = NULL;
	int c, r = OSHCTL_EXIT_USAGE;

	if (!body) {
		fprintf(stderr, "oshctl: out of memory\n");
		return OSHCTL_EXIT_SYSTEM;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "r:o:h", opts, NULL)) != -1) {
		switch (c) {
		case ADD_EP:
		case RM_EP:
		case ADD_BIN:
		case RM_BIN:
		case RM_POL:
		case ADD_RULE:
			r = oshctl_update_arg(body, kinds[c - ADD_EP], optarg, err, sizeof(err));
			if (r == -ENOMEM) {
				fprintf(stderr, "oshctl: out of memory\n");
				r = OSHCTL_EXIT_SYSTEM;
				goto out;
			}
			if (r < 0) {
				fprintf(stderr, "oshctl: policy update: --%s %s: %s\n",
					opts[c - ADD_EP].name, optarg, err);
				r = OSHCTL_EXIT_USAGE;
				goto out;
			}
			any = true;
			break;
		case 'r':
			reason = optarg;
			break;
		case NO_WAIT:
			wait = false;
			break;
		default:
			r = oshctl_common_opt(c, "policy update", &json, update_usage);
			if (r >= 0)
				goto out;
		}
	}
	r = OSHCTL_EXIT_USAGE;
	if (optind + 1 != argc || !any) {
		if (!any && optind + 1 == argc)
			fprintf(stderr, "oshctl: policy update: nothing to change\n");
		update_usage(stderr);
		goto out;
	}
	if (policy_path(argv[optind], "", path, sizeof(path)) < 0)
		goto out;
	if ((reason && !cJSON_AddStringToObject(body, "reason", reason)) ||
	    !cJSON_AddBoolToObject(body, "wait", wait)) {
		fprintf(stderr, "oshctl: out of memory\n");
		r = OSHCTL_EXIT_SYSTEM;
		goto out;
	}
	r = oshctl_call("PATCH", path, body, NULL, NULL, &rev);
	if (r == OSHCTL_EXIT_OK) {
		if (json)
			oshctl_json_print(rev);
		else
			print_change(argv[optind], rev);
	}
out:
	cJSON_Delete(rev);
	cJSON_Delete(body);
	return r;
}

static void get_usage(FILE *f)
{
	fprintf(f, "usage: oshctl policy get SANDBOX [--rev N] [-o json|text]\n"
		   "\n"
		   "Prints the policy of SANDBOX in force (or of revision N) in canonical form, a\n"
		   "policy file 'policy set' takes back. The revision goes to stderr.\n"
		   "\n"
		   "examples:\n"
		   "  oshctl policy get agent-1 > agent.yaml\n"
		   "  oshctl policy get agent-1 --rev 2 | diff - agent.yaml\n"
		   "  oshctl policy get agent-1 -o json | jq -r .reason\n");
}

static int policy_get(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rev", required_argument, NULL, 'R' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = oshctl_output_json();
	char path[512], suffix[32] = "";
	cJSON *rev = NULL;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		char *end;
		unsigned long long n;

		switch (c) {
		case 'R':
			errno = 0;
			n = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-' || n == 0) {
				fprintf(stderr,
					"oshctl: policy get: --rev takes a revision number, "
					"not '%s'\n",
					optarg);
				return OSHCTL_EXIT_USAGE;
			}
			snprintf(suffix, sizeof(suffix), "?rev=%llu", n);
			break;
		default:
			r = oshctl_common_opt(c, "policy get", &json, get_usage);
			if (r >= 0)
				return r;
		}
	}
	if (optind + 1 != argc) {
		get_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	if (policy_path(argv[optind], suffix, path, sizeof(path)) < 0)
		return OSHCTL_EXIT_USAGE;
	r = oshctl_call("GET", path, NULL, NULL, NULL, &rev);
	if (r != OSHCTL_EXIT_OK)
		return r;
	if (json) {
		oshctl_json_print(rev);
	} else {
		const char *text = oshctl_json_str(rev, "policy", "");
		size_t n = strlen(text);

		/* Like `policy show`: stdout stays a policy that can be fed back in. */
		fprintf(stderr, "# %s revision %.0f %s\n", argv[optind],
			oshctl_json_num(rev, "rev"), oshctl_json_str(rev, "hash", "?"));
		fputs(text, stdout);
		if (n && text[n - 1] != '\n')
			putchar('\n');
	}
	cJSON_Delete(rev);
	return OSHCTL_EXIT_OK;
}

static void list_usage(FILE *f)
{
	fprintf(f,
		"usage: oshctl policy list SANDBOX [-o json|text]\n"
		"\n"
		"Prints the policy revisions of SANDBOX, newest first: revision, creation time,\n"
		"author, hash and reason.\n"
		"\n"
		"examples:\n"
		"  oshctl policy list agent-1\n"
		"  oshctl policy list agent-1 -o json | jq '.revisions[0].rev'\n");
}

static int policy_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *const header[] = { "REV", "CREATED", "AUTHOR", "HASH", "REASON" };
	enum { NCOL = sizeof(header) / sizeof(header[0]) };
	bool json = oshctl_output_json();
	const cJSON *list, *it;
	cJSON *answer = NULL;
	char path[512], **cells = NULL;
	size_t row = 0;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		r = oshctl_common_opt(c, "policy list", &json, list_usage);
		if (r >= 0)
			return r;
	}
	if (optind + 1 != argc) {
		list_usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
	if (policy_path(argv[optind], "/revisions", path, sizeof(path)) < 0)
		return OSHCTL_EXIT_USAGE;
	r = oshctl_call("GET", path, NULL, NULL, NULL, &answer);
	if (r != OSHCTL_EXIT_OK)
		return r;
	if (json) {
		oshctl_json_print(answer);
		goto out;
	}
	list = cJSON_GetObjectItemCaseSensitive(answer, "revisions");
	cells = calloc((size_t)cJSON_GetArraySize(list) * NCOL + 1, sizeof(*cells));
	if (!cells) {
		r = OSHCTL_EXIT_SYSTEM;
		goto out;
	}
	cJSON_ArrayForEach (it, list) {
		char author[64], **cell = cells + row++ * NCOL;

		if (asprintf(&cell[0], "%.0f", oshctl_json_num(it, "rev")) < 0)
			cell[0] = NULL;
		cell[1] = strdup(oshctl_json_str(it, "created", ""));
		cell[2] = strdup(
		    oshctl_uid_name(oshctl_json_num(it, "author_uid"), author, sizeof(author)));
		cell[3] = strdup(oshctl_json_str(it, "hash", ""));
		cell[4] = strdup(oshctl_json_str(it, "reason", ""));
	}
	oshctl_table_print(header, NCOL, cells, row);
out:
	for (size_t i = 0; cells && i < row * NCOL; i++)
		free(cells[i]);
	free(cells);
	cJSON_Delete(answer);
	return r;
}

/* One verb a line: clang-format would pack five short entries into a grid. The verbs that parse
 * with getopt_long get the verb as argv[0], as it wants; prove gets its arguments only. */
/* clang-format off */
static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	bool getopt;
} verbs[] = {
	{ "validate", policy_validate, true },
	{ "show", policy_show, true },
	{ "compile", policy_compile, true },
	{ "diff", policy_diff, true },
	{ "prove", cmd_policy_prove, false }, /* cli/cmd-prove.c */
	{ "set", policy_set, true },
	{ "update", policy_update, true },
	{ "get", policy_get, true },
	{ "list", policy_list, true },
};
/* clang-format on */

int cmd_policy(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		policy_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? OSHCTL_EXIT_USAGE : OSHCTL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].getopt ? verbs[i].run(argc - 1, argv + 1)
					       : verbs[i].run(argc - 2, argv + 2);
	fprintf(stderr, "oshctl: policy: unknown verb '%s'\n", argv[1]);
	policy_usage(stderr);
	return OSHCTL_EXIT_USAGE;
}
