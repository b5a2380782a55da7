// SPDX-License-Identifier: Apache-2.0
// osh-doctor, `oshctl doctor [-o json]` (oshctl execs it from ../libexec/osh/, cli/cmd-doctor.c):
// which enforcement mechanisms this kernel offers, found by trying them (userspace/probe.c). A
// program of its own so that libbpf, libelf, zlib and libseccomp load for it, not for every
// oshctl command. Exits 0 when everything the default policy needs is present, 3
// (OSHCTL_EXIT_SYSTEM) otherwise. The text and JSON forms print one list of checks.
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "cli/client.h"
#include "cli/oshctl.h"
#include "probe.h"
#include "sandbox.h"

/* One line of the report. name is the text form's label; JSON prefixes the BPF program types
 * with "bpf program " so that every name says what was tried. */
struct check {
	const char *name;
	bool ok;
	bool required; /* the default policy needs it: a failure counts in osh_probe.missing */
	bool prog;     /* a BPF program type: listed under its own heading in the text form */
	char detail[PATH_MAX + 128];
};

#define MAX_CHECKS (8 + OSH_PROBE_PROG_MAX)

static const char *err_text(int err, char *buf, size_t size)
{
	if (!err)
		return "ok";
	snprintf(buf, size, "%s", strerror(-err));
	return buf;
}

static void mechanisms_text(unsigned int mech, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned int bit = 1; bit <= OSH_MECH_BPF_LSM && len < size; bit <<= 1)
		if (mech & bit)
			len += snprintf(buf + len, size - len, "%s%s", len ? " " : "",
					osh_mechanism_name(bit));
}

static struct check *check_add(struct check *c, size_t *n, const char *name, bool ok, bool required)
{
	struct check *k = &c[(*n)++];

	*k = (struct check){ .name = name, .ok = ok, .required = required };
	return k;
}

/* The checks in the order of the report. Required ones are exactly those osh_probe_run counts
 * in missing (cgroup2 and clone3 count once there: clone3 fails without cgroup2), so "ok" of the
 * whole report is "every required check is ok". Returns the number of checks. */
static size_t checks_collect(const struct osh_probe *p, struct check *c)
{
	char buf[256];
	size_t n = 0;
	struct check *k;

	k = check_add(c, &n, "cgroup2", p->cgroup2[0], true);
	if (p->cgroup2[0])
		snprintf(k->detail, sizeof(k->detail), "%s (cgroup.kill: %s)", p->cgroup2,
			 p->cgroup_kill ? "yes" : "no, processes are killed one by one");
	else
		snprintf(k->detail, sizeof(k->detail), "MISSING: no cgroup2 mount");
	k = check_add(c, &n, "clone3 into cgroup", !p->clone_into_cgroup, true);
	snprintf(k->detail, sizeof(k->detail), "%s",
		 err_text(p->clone_into_cgroup, buf, sizeof(buf)));
	k = check_add(c, &n, "bpffs /sys/fs/bpf", p->bpffs, false);
	snprintf(k->detail, sizeof(k->detail), "%s",
		 p->bpffs ? "mounted" : "not mounted (mount -t bpf bpf /sys/fs/bpf)");
	k = check_add(c, &n, "active LSMs", p->lsm_list[0], false);
	snprintf(k->detail, sizeof(k->detail), "%s",
		 p->lsm_list[0] ? p->lsm_list : "unknown (securityfs not mounted)");
	for (int i = 0; i < OSH_PROBE_PROG_MAX; i++) {
		const struct osh_probe_prog *g = &p->progs[i];

		k = check_add(c, &n, g->name, !g->err, g->required);
		k->prog = true;
		snprintf(k->detail, sizeof(k->detail), "%s%s%s%s", g->err ? "refused: " : "loads",
			 g->err ? err_text(g->err, buf, sizeof(buf)) : "",
			 g->detail[0] ? " - " : "", g->detail);
	}
	k = check_add(c, &n, "bpf-lsm fs programs", !p->bpf_fs, false);
	snprintf(k->detail, sizeof(k->detail), "%s%s",
		 p->bpf_fs ? "not usable: " : "usable (load, attach; deny exact, reloadable)",
		 p->bpf_fs ? p->bpf_fs_reason : "");
	k = check_add(c, &n, "landlock", p->landlock_abi > 0, true);
	if (p->landlock_abi)
		snprintf(k->detail, sizeof(k->detail), "ABI %d", p->landlock_abi);
	else
		snprintf(k->detail, sizeof(k->detail), "MISSING");
	k = check_add(c, &n, "seccomp", p->seccomp, true);
	snprintf(k->detail, sizeof(k->detail), "%s", p->seccomp ? "available" : "MISSING");
	k = check_add(c, &n, "user namespaces", !p->userns, false);
	snprintf(k->detail, sizeof(k->detail), "%s",
		 p->userns ? err_text(p->userns, buf, sizeof(buf)) : "available");
	return n;
}

static void print_text(const struct osh_probe *p, const struct check *c, size_t n)
{
	char mech[256];
	bool heading = false;

	printf("%-22s %s\n", "kernel", p->kernel);
	for (size_t i = 0; i < n; i++) {
		if (!c[i].prog) {
			printf("%-22s %s\n", c[i].name, c[i].detail);
			continue;
		}
		if (!heading)
			printf("bpf program types (loaded for real):\n");
		heading = true;
		printf("  %-20s %s\n", c[i].name, c[i].detail);
	}
	mechanisms_text(p->mechanisms, mech, sizeof(mech));
	printf("%-22s %s%s\n", "mechanisms", mech,
	       (p->mechanisms & OSH_MECH_BPF_LSM) ? "" : " (bpf-lsm unavailable: Landlock alone)");
	if (p->missing)
		printf("%-22s %u required feature(s) missing\n", "result", p->missing);
	else
		printf("%-22s ok: everything the default policy needs is present\n", "result");
}

static int checks_json(cJSON *root, const struct check *c, size_t n)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "checks");

	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		char name[64];

		snprintf(name, sizeof(name), "%s%s", c[i].prog ? "bpf program " : "", c[i].name);
		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
		if (!cJSON_AddStringToObject(o, "name", name) ||
		    !cJSON_AddBoolToObject(o, "ok", c[i].ok) ||
		    !cJSON_AddStringToObject(o, "detail", c[i].detail) ||
		    !cJSON_AddBoolToObject(o, "required", c[i].required))
			return -ENOMEM;
	}
	return 0;
}

/* {"kernel", "checks", "mechanisms", "missing", "ok"}, then the raw probe results scripts
 * written before "checks" read (landlock_abi, bpf_prog_types, ...). */
static int print_json(const struct osh_probe *p, const struct check *c, size_t n)
{
	cJSON *root = cJSON_CreateObject(), *progs, *mechs;
	char buf[256];
	int r = -ENOMEM;

	if (!root || !cJSON_AddStringToObject(root, "kernel", p->kernel) ||
	    checks_json(root, c, n) < 0)
		goto out;
	mechs = cJSON_AddArrayToObject(root, "mechanisms");
	for (unsigned int bit = 1; mechs && bit <= OSH_MECH_BPF_LSM; bit <<= 1)
		if (p->mechanisms & bit)
			cJSON_AddItemToArray(mechs, cJSON_CreateString(osh_mechanism_name(bit)));
	cJSON_AddNumberToObject(root, "missing", p->missing);
	cJSON_AddBoolToObject(root, "ok", p->missing == 0);
	if (p->cgroup2[0])
		cJSON_AddStringToObject(root, "cgroup2", p->cgroup2);
	else
		cJSON_AddNullToObject(root, "cgroup2");
	cJSON_AddBoolToObject(root, "cgroup_kill", p->cgroup_kill);
	cJSON_AddStringToObject(root, "clone_into_cgroup",
				err_text(p->clone_into_cgroup, buf, sizeof(buf)));
	cJSON_AddBoolToObject(root, "bpffs", p->bpffs);
	if (p->lsm_list[0])
		cJSON_AddStringToObject(root, "lsm", p->lsm_list);
	else
		cJSON_AddNullToObject(root, "lsm");
	progs = cJSON_AddObjectToObject(root, "bpf_prog_types");
	for (int i = 0; progs && i < OSH_PROBE_PROG_MAX; i++) {
		cJSON *o = cJSON_AddObjectToObject(progs, p->progs[i].name);

		if (!o)
			continue;
		cJSON_AddBoolToObject(o, "loads", p->progs[i].err == 0);
		cJSON_AddBoolToObject(o, "required", p->progs[i].required);
		if (p->progs[i].err)
			cJSON_AddStringToObject(o, "error",
						err_text(p->progs[i].err, buf, sizeof(buf)));
		if (p->progs[i].detail[0])
			cJSON_AddStringToObject(o, "detail", p->progs[i].detail);
	}
	cJSON_AddBoolToObject(root, "bpf_lsm_fs", p->bpf_fs == 0);
	if (p->bpf_fs)
		cJSON_AddStringToObject(root, "bpf_lsm_fs_reason", p->bpf_fs_reason);
	cJSON_AddNumberToObject(root, "landlock_abi", p->landlock_abi);
	cJSON_AddBoolToObject(root, "seccomp", p->seccomp);
	if (!cJSON_AddStringToObject(root, "user_namespaces",
				     err_text(p->userns, buf, sizeof(buf))))
		goto out;
	oshctl_json_print(root);
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

static void doctor_usage(FILE *f)
{
	fprintf(f,
		"usage: oshctl doctor [-o json|text]\n"
		"\n"
		"Reports which enforcement mechanisms this kernel offers; exits 3 when\n"
		"something the default policy needs is missing. Run as root: the BPF\n"
		"probes load real programs.\n"
		"\n"
		"examples:\n"
		"  sudo oshctl doctor\n"
		"  sudo oshctl doctor -o json | jq -r '.checks[] | select(.ok | not) | .name'\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct check checks[MAX_CHECKS];
	struct osh_probe p;
	bool json = oshctl_output_json();
	size_t n;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		r = oshctl_common_opt(c, "doctor", &json, doctor_usage);
		if (r >= 0)
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "oshctl: doctor: unexpected argument '%s'\n", argv[optind]);
		return OSHCTL_EXIT_USAGE;
	}
	/* libbpf would print its own view of a refused load; the report says it once. */
	libbpf_set_print(NULL);
	osh_probe_run(&p);
	n = checks_collect(&p, checks);
	if (!json) {
		print_text(&p, checks, n);
	} else if (print_json(&p, checks, n) < 0) {
		fprintf(stderr, "oshctl: doctor: out of memory\n");
		return OSHCTL_EXIT_SYSTEM;
	}
	if (geteuid() != 0 && p.missing)
		fprintf(stderr, "oshctl doctor: not running as root: BPF loads need privileges\n");
	return p.missing ? OSHCTL_EXIT_SYSTEM : OSHCTL_EXIT_OK;
}
