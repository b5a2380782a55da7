/* SPDX-License-Identifier: Apache-2.0 */
/* What the BPF loaders (bpf-egress.c, bpf-fs.c) share for state pinned under a bpffs root: pins
 * named relative to a directory descriptor, and the version record that says whether a pinned
 * directory was made by this build. Functions return 0 (or a descriptor) or -errno. */
#ifndef OSH_USERSPACE_BPF_PIN_H
#define OSH_USERSPACE_BPF_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strv.h"

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

/* Checking pinned state against what a process holds (oshd's answer to pins an admin removed
 * while it runs: bpffs has no inotify, so it looks). The process still holds descriptors of
 * every map, program and link, so enforcement goes on; the pins are what keeps it after the
 * process. Each call below looks at one directory or pin; what is missing is noted as a path
 * relative to the bpffs root and, with repair, put back from the descriptor. Nothing that is in
 * the way (a symlink, a directory where a pin belongs) is ever removed or followed: that pin
 * cannot be restored, and the check says so. */
struct osh_bpf_pin_check {
	bool repair;
	struct osh_strv *missing; /* appended to; NULL: not collected */
	unsigned int found;	  /* pins and directories found missing */
	int err;		  /* the first failure, -errno; 0: none */
	char failed[160];	  /* what failed: "sandboxes/x/state: File exists" */
};

/* Makes *dir_fd (may be -1: not open yet) the directory at path: when path is missing, or is
 * another directory than *dir_fd (removed and made again), it is noted as label + "/" and,
 * with repair, created (0700) and opened in place of *dir_fd (same descriptor number, so a
 * user of it never sees a closed one). Returns 1 when it was missing or replaced (the caller
 * then restores its whole content without listing it), 0 when fine, -errno when it is not
 * usable (noted in c). */
int osh_bpf_pin_check_path(struct osh_bpf_pin_check *c, const char *path, const char *label,
			   int *dir_fd);
/* The same for the directory name in at, noted as prefix/name/; returns a new descriptor in
 * *ret_fd when the result is >= 0 and the directory exists (-1 otherwise). */
int osh_bpf_pin_check_dir(struct osh_bpf_pin_check *c, int at, const char *prefix, const char *name,
			  int *ret_fd);
/* Pin name in dir (noted as prefix/name unless quiet: its directory was noted already); fd is
 * pinned there when it is missing. */
void osh_bpf_pin_check_fd(struct osh_bpf_pin_check *c, int dir, const char *prefix,
			  const char *name, int fd, bool quiet);
/* The same for a u64 record (osh_bpf_pin_u64_put) and the version record. */
void osh_bpf_pin_check_u64(struct osh_bpf_pin_check *c, int dir, const char *prefix,
			   const char *name, uint64_t value, bool quiet);
void osh_bpf_pin_check_version(struct osh_bpf_pin_check *c, int dir, const char *prefix,
			       const struct osh_bpf_pin_version *v, bool quiet);

#endif
