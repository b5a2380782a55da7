/* SPDX-License-Identifier: Apache-2.0 */
/* What the BPF loaders (bpf-egress.c, bpf-fs.c) share for state pinned under a bpffs root: pins
 * named relative to a directory descriptor, and the version record that says whether a pinned
 * directory was made by this build. Functions return 0 (or a descriptor) or -errno. */
#ifndef OSH_USERSPACE_BPF_PIN_H
#define OSH_USERSPACE_BPF_PIN_H

#include <stddef.h>
#include <stdint.h>

/* The version record's pin name; written last, so a directory without it is an interrupted
 * pinning that no sandbox can be using. */
#define OSH_BPF_PIN_VERSION "osh_version"

/* What a pinned directory was made by: the BPF object's bytes and its load-time settings. */
struct osh_bpf_pin_version {
	uint64_t elf_hash; /* FNV-1a 64 of the object file the skeleton embeds */
	uint32_t sandbox_level;
	uint32_t layout; /* the loader's pin layout number, bumped when pins change meaning */
};

/* The record of this build for the object elf (size bytes). */
struct osh_bpf_pin_version osh_bpf_pin_version_of(const void *elf, size_t size,
						  unsigned int sandbox_level, unsigned int layout);
/* Pins v as OSH_BPF_PIN_VERSION (an array map of one entry) in the directory dir. */
int osh_bpf_pin_version_put(int dir, const struct osh_bpf_pin_version *v);
/* 0 when dir's pinned record equals want, -ESTALE when it differs (another build), -ENOENT when
 * there is none. */
int osh_bpf_pin_version_check(int dir, const struct osh_bpf_pin_version *want);

/* A new descriptor for the object pinned as name in the directory at, or -errno. */
int osh_bpf_pin_get(int at, const char *name);
/* Pins fd as name in the directory at. */
int osh_bpf_pin_put(int at, const char *name, int fd);
/* Removes every pin in the directory dir (relative to at), then the directory; one level, which
 * is all osh creates there. 0 also when dir does not exist. */
int osh_bpf_pin_dir_remove(int at, const char *dir);

/* A 64-bit number (e.g. a sandbox's cgroup id) pinned as name: an array map of one entry. */
int osh_bpf_pin_u64_put(int at, const char *name, uint64_t value);
int osh_bpf_pin_u64_get(int at, const char *name, uint64_t *ret_value);

#endif
