// SPDX-License-Identifier: Apache-2.0
// `oshctl doctor [-o json]`: which enforcement mechanisms this kernel offers, found by trying
// them (userspace/probe.c). Exits 0 when everything the default policy needs is present, 3
// (OSHCTL_EXIT_SYSTEM) otherwise.
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "cli/oshctl.h"
#include "probe.h"
#include "sandbox.h"

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

static void print_text(const struct osh_probe *p)
{
	char buf[256], mech[256];

	printf("%-22s %s\n", "kernel", p->kernel);
	if (p->cgroup2[0])
		printf("%-22s %s (cgroup.kill: %s)\n", "cgroup2", p->cgroup2,
		       p->cgroup_kill ? "yes" : "no, processes are killed one by one");
	else
		printf("%-22s MISSING: no cgroup2 mount\n", "cgroup2");
	printf("%-22s %s\n", "clone3 into cgroup",
	       p->clone_into_cgroup ? err_text(p->clone_into_cgroup, buf, sizeof(buf)) : "ok");
	printf("%-22s %s\n", "bpffs /sys/fs/bpf",
	       p->bpffs ? "mounted" : "not mounted (mount -t bpf bpf /sys/fs/bpf)");
	printf("%-22s %s\n", "active LSMs",
	       p->lsm_list[0] ? p->lsm_list : "unknown (securityfs not mounted)");
	printf("bpf program types (loaded for real):\n");
	for (int i = 0; i < OSH_PROBE_PROG_MAX; i++) {
		const struct osh_probe_prog *g = &p->progs[i];

		printf("  %-20s %s%s%s%s\n", g->name, g->err ? "refused: " : "loads",
		       g->err ? err_text(g->err, buf, sizeof(buf)) : "", g->detail[0] ? " - " : "",
		       g->detail);
	}
	printf("%-22s %s%s\n", "bpf-lsm fs programs",
	       p->bpf_fs ? "not usable: " : "usable (load, attach; deny exact, reloadable)",
	       p->bpf_fs ? p->bpf_fs_reason : "");
	if (p->landlock_abi)
		printf("%-22s ABI %d\n", "landlock", p->landlock_abi);
	else
		printf("%-22s MISSING\n", "landlock");
	printf("%-22s %s\n", "seccomp", p->seccomp ? "available" : "MISSING");
	printf("%-22s %s\n", "user namespaces",
	       p->userns ? err_text(p->userns, buf, sizeof(buf)) : "available");
	mechanisms_text(p->mechanisms, mech, sizeof(mech));
	printf("%-22s %s%s\n", "mechanisms", mech,
	       (p->mechanisms & OSH_MECH_BPF_LSM) ? "" : " (bpf-lsm unavailable: Landlock alone)");
	if (p->missing)
		printf("%-22s %u required feature(s) missing\n", "result", p->missing);
	else
		printf("%-22s ok: everything the default policy needs is present\n", "result");
}

static int print_json(const struct osh_probe *p)
{
	cJSON *root = cJSON_CreateObject(), *progs, *mechs;
	char buf[256], *text;

	if (!root)
		return -1;
	cJSON_AddStringToObject(root, "kernel", p->kernel);
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
	cJSON_AddStringToObject(root, "user_namespaces", err_text(p->userns, buf, sizeof(buf)));
	mechs = cJSON_AddArrayToObject(root, "mechanisms");
	for (unsigned int bit = 1; mechs && bit <= OSH_MECH_BPF_LSM; bit <<= 1)
		if (p->mechanisms & bit)
			cJSON_AddItemToArray(mechs, cJSON_CreateString(osh_mechanism_name(bit)));
	cJSON_AddNumberToObject(root, "missing", p->missing);
	cJSON_AddBoolToObject(root, "ok", p->missing == 0);
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return -1;
	printf("%s\n", text);
	cJSON_free(text);
	return 0;
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct osh_probe p;
	bool json = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				fprintf(stderr, "oshctl doctor: unknown output format '%s'\n",
					optarg);
				return OSHCTL_EXIT_USAGE;
			}
			json = !strcmp(optarg, "json");
			break;
		case 'h':
			printf(
			    "usage: oshctl doctor [-o text|json]\n"
			    "Reports which enforcement mechanisms this kernel offers; exits 3 "
			    "when\n"
			    "something the default policy needs is missing. Run as root: the BPF\n"
			    "probes load real programs.\n");
			return 0;
		default:
			fprintf(stderr, "usage: oshctl doctor [-o text|json]\n");
			return OSHCTL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "oshctl doctor: unexpected argument '%s'\n", argv[optind]);
		return OSHCTL_EXIT_USAGE;
	}
	/* libbpf would print its own view of a refused load; the report says it once. */
	libbpf_set_print(NULL);
	osh_probe_run(&p);
	if (json) {
		if (print_json(&p) < 0)
			return OSHCTL_EXIT_SYSTEM;
	} else {
		print_text(&p);
	}
	if (geteuid() != 0 && p.missing)
		fprintf(stderr, "oshctl doctor: not running as root: BPF loads need privileges\n");
	return p.missing ? OSHCTL_EXIT_SYSTEM : OSHCTL_EXIT_OK;
}
