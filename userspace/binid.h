/* SPDX-License-Identifier: Apache-2.0 */
/* Binary identity for egress policies: a policy binary path (or glob with `*`, `**`, `?`) resolved
 * to the {device, inode} of the files it names, symlinks followed to their target, so that a
 * copied or renamed binary is not the allowed one. */
#ifndef OSH_USERSPACE_BINID_H
#define OSH_USERSPACE_BINID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OSH_BINID_MAX_MATCHES	 4096 /* files one glob may name */
#define OSH_BINID_MAX_DEPTH	 32   /* directory levels a `**` walk descends */
#define OSH_BINID_MAX_WATCH_DIRS 1024 /* directories osh_binid_glob_dirs reports for one glob */

struct osh_binid {
	uint64_t ino;
	uint32_t dev; /* the kernel's s_dev encoding: major << 20 | minor */
};

/* A growable set of identities; owns its array. Zero-initialise before use. */
struct osh_binid_set {
	struct osh_binid *v;
	size_t n;
	size_t cap;
};

/* st_dev as the kernel's inode->i_sb->s_dev (MKDEV), which BPF programs read. */
uint32_t osh_binid_dev_encode(dev_t dev);

/* Matches path against a policy glob: `*` and `?` stay within one path component, `**` crosses
 * '/' (any depth, also none: "a", "**", "b" as components also match a/b). */
bool osh_binid_glob_match(const char *pattern, const char *path);

/* Adds the identity of every regular file that pattern names (exactly, or as a glob) to set,
 * following symlinks. Returns the number of identities added (0 when nothing exists there: the
 * caller decides whether that is a warning), -E2BIG past OSH_BINID_MAX_MATCHES, -ENOMEM. */
int osh_binid_resolve(const char *pattern, bool glob, struct osh_binid_set *set);

/* True when some path below the directory dir (absolute, no trailing '/') could match pattern:
 * a directory where a file matching the glob may appear later. */
bool osh_binid_glob_dir_may_match(const char *pattern, const char *dir);

/* Calls fn for every existing directory where a file matching the glob pattern could appear or
 * lead to one: the wildcard-free prefix (or, when it does not exist yet, its deepest existing
 * ancestor) and every real directory below it that osh_binid_glob_dir_may_match() admits. fn
 * returning < 0 stops the walk with that error. Returns the number of directories, -E2BIG past
 * OSH_BINID_MAX_WATCH_DIRS (fn was called for the first ones), -EINVAL for a non-glob. */
int osh_binid_glob_dirs(const char *pattern, int (*fn)(const char *dir, void *ctx), void *ctx);

/* True when set holds id. */
bool osh_binid_set_contains(const struct osh_binid_set *set, const struct osh_binid *id);
void osh_binid_set_free(struct osh_binid_set *set);

#endif
