// SPDX-License-Identifier: Apache-2.0
// Policy binary paths and globs -> {dev, ino} identities (see binid.h). Globs are expanded by
// walking from the longest wildcard-free directory prefix; `**` needs a recursive walk, which
// glob(3) does not do.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "binid.h"

uint32_t osh_binid_dev_encode(dev_t dev)
{
	return (uint32_t)((major(dev) << 20) | (minor(dev) & 0xfffff));
}

bool osh_binid_glob_match(const char *p, const char *s)
{
	while (*p) {
		if (p[0] == '*' && p[1] == '*') {
			p += 2;
			/* A whole-component ** also matches zero directories. */
			if (*p == '/' && osh_binid_glob_match(p + 1, s))
				return true;
			for (const char *t = s;; t++) {
				if (osh_binid_glob_match(p, t))
					return true;
				if (!*t)
					return false;
			}
		}
		if (*p == '*') {
			p++;
			for (const char *t = s;; t++) {
				if (osh_binid_glob_match(p, t))
					return true;
				if (!*t || *t == '/')
					return false;
			}
		}
		if (!*s)
			return false;
		if (*p == '?') {
			if (*s == '/')
				return false;
		} else if (*p != *s) {
			return false;
		}
		p++;
		s++;
	}
	return !*s;
}

bool osh_binid_set_contains(const struct osh_binid_set *set, const struct osh_binid *id)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].ino == id->ino && set->v[i].dev == id->dev)
			return true;
	return false;
}

void osh_binid_set_free(struct osh_binid_set *set)
{
	if (!set)
		return;
	free(set->v);
	memset(set, 0, sizeof(*set));
}

static int set_add(struct osh_binid_set *set, const struct stat *st)
{
	struct osh_binid id = { .ino = st->st_ino, .dev = osh_binid_dev_encode(st->st_dev) };

	if (osh_binid_set_contains(set, &id))
		return 0;
	if (set->n >= OSH_BINID_MAX_MATCHES)
		return -E2BIG;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		struct osh_binid *v = realloc(set->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		set->v = v;
		set->cap = cap;
	}
	set->v[set->n++] = id;
	return 1;
}

/* stat() follows symlinks: a symlink in the policy or among a glob's matches stands for its
 * target. Only regular files can be executed. */
static int add_path(struct osh_binid_set *set, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	return set_add(set, &st); /* 1 new, 0 already there (another name of the same file) */
}

struct walk {
	const char *pattern;
	struct osh_binid_set *set;
	int max_depth;
	int found;
	int error;
};

/* path holds len bytes of a directory ("" for the root); entries are appended as "/name". */
static void walk_dir(struct walk *w, char *path, size_t len, int depth)
{
	DIR *d;
	struct dirent *de;

	if (depth >= w->max_depth || w->error)
		return;
	d = opendir(len ? path : "/");
	if (!d)
		return;
	while (!w->error && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct stat lst;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (len + 1 + n >= PATH_MAX)
			continue;
		path[len] = '/';
		memcpy(path + len + 1, de->d_name, n + 1);
		if (osh_binid_glob_match(w->pattern, path)) {
			int r = add_path(w->set, path);

			if (r < 0)
				w->error = r;
			else
				w->found += r;
		}
		/* Real directories only: a symlinked directory could loop or leave the tree. */
		if (lstat(path, &lst) == 0 && S_ISDIR(lst.st_mode))
			walk_dir(w, path, len + 1 + n, depth + 1);
		path[len] = '\0';
	}
	closedir(d);
}

int osh_binid_resolve(const char *pattern, bool glob, struct osh_binid_set *set)
{
	char path[PATH_MAX];
	const char *wild = glob ? strpbrk(pattern, "*?") : NULL;
	size_t root_len;
	struct walk w = { .pattern = pattern, .set = set };

	if (!wild)
		return add_path(set, pattern);
	if (pattern[0] != '/')
		return -EINVAL;
	/* The walk starts at the directory part before the first wildcard (without its '/'). */
	root_len = (size_t)(wild - pattern);
	while (pattern[root_len - 1] != '/')
		root_len--;
	root_len--;
	if (root_len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, pattern, root_len);
	path[root_len] = '\0';
	/* Without `**` a match is exactly as deep as the pattern. */
	if (strstr(pattern, "**")) {
		w.max_depth = OSH_BINID_MAX_DEPTH;
	} else {
		for (const char *c = pattern + root_len; *c; c++)
			w.max_depth += *c == '/';
	}
	walk_dir(&w, path, root_len, 0);
	if (w.error)
		return w.error;
	return w.found;
}
