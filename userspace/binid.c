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

/* d_type spares the lstat() where the file system fills it in. */
static bool is_real_dir(const struct dirent *de, const char *path, struct stat *st)
{
	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return lstat(path, st) == 0 && S_ISDIR(st->st_mode);
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
		/* Real directories only: a symlinked directory could loop or leave the tree. Only
		 * where a match can still lie below: a glob over /usr/bin would otherwise stat its
		 * thousands of files on every sandbox start. */
		if (depth + 1 < w->max_depth && osh_binid_glob_dir_may_match(w->pattern, path) &&
		    is_real_dir(de, path, &lst))
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

/* The first n components of path ("/a/b/c", 2 -> "/a/b") into buf; false when path has fewer. */
static bool components(const char *path, size_t n, char *buf, size_t size)
{
	const char *p = path;

	for (size_t i = 0; i < n; i++) {
		if (*p != '/' || !p[1])
			return false;
		p = strchrnul(p + 1, '/');
	}
	if ((size_t)(p - path) >= size)
		return false;
	memcpy(buf, path, (size_t)(p - path));
	buf[p - path] = '\0';
	return true;
}

static size_t count_components(const char *path)
{
	size_t n = 0;

	for (const char *p = path; *p; p++)
		n += *p == '/' && p[1] && p[1] != '/';
	return n;
}

bool osh_binid_glob_dir_may_match(const char *pattern, const char *dir)
{
	char pre[PATH_MAX], d[PATH_MAX];
	size_t k = count_components(dir), n = count_components(pattern), star2 = SIZE_MAX;

	if (pattern[0] != '/' || dir[0] != '/')
		return false;
	/* The component of the first `**`: from there on any depth can still match. */
	for (size_t i = 1; i <= n && star2 == SIZE_MAX; i++)
		if (components(pattern, i, pre, sizeof(pre)) && strstr(pre, "**"))
			star2 = i;
	if (star2 != SIZE_MAX && k >= star2 - 1) {
		if (!components(pattern, star2 - 1, pre, sizeof(pre)) ||
		    !components(dir, star2 - 1, d, sizeof(d)))
			return star2 == 1;
		return star2 == 1 || osh_binid_glob_match(pre, d);
	}
	/* Without `**` in reach a match is a file exactly n components deep. */
	if (k >= n || !components(pattern, k, pre, sizeof(pre)))
		return false;
	return k == 0 || osh_binid_glob_match(pre, dir);
}

struct dirs_walk {
	const char *pattern;
	int (*fn)(const char *dir, void *ctx);
	void *ctx;
	size_t n;
	int error;
};

static void dirs_walk(struct dirs_walk *w, char *path, size_t len, int depth)
{
	DIR *d;
	struct dirent *de;
	int r;

	if (w->error || depth > OSH_BINID_MAX_DEPTH)
		return;
	if (w->n >= OSH_BINID_MAX_WATCH_DIRS) {
		w->error = -E2BIG;
		return;
	}
	w->n++;
	r = w->fn(len ? path : "/", w->ctx);
	if (r < 0) {
		w->error = r;
		return;
	}
	/* The pattern's last directory (a `*` in the file name only, no `**`): no directory
	 * below can hold a match, and /usr/bin need not be listed. */
	if (!strstr(w->pattern, "**") &&
	    count_components(w->pattern) <= count_components(len ? path : "/") + 1)
		return;
	d = opendir(len ? path : "/");
	if (!d)
		return;
	while (!w->error && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct stat lst;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    len + 1 + n >= PATH_MAX)
			continue;
		path[len] = '/';
		memcpy(path + len + 1, de->d_name, n + 1);
		/* Real directories only, as the resolution walks them. */
		if (osh_binid_glob_dir_may_match(w->pattern, path) && is_real_dir(de, path, &lst))
			dirs_walk(w, path, len + 1 + n, depth + 1);
		path[len] = '\0';
	}
	closedir(d);
}

int osh_binid_glob_dirs(const char *pattern, int (*fn)(const char *dir, void *ctx), void *ctx)
{
	char path[PATH_MAX];
	const char *wild = strpbrk(pattern, "*?");
	struct dirs_walk w = { .pattern = pattern, .fn = fn, .ctx = ctx };
	size_t len;
	struct stat st;

	if (!wild || pattern[0] != '/')
		return -EINVAL;
	len = (size_t)(wild - pattern);
	while (len > 0 && pattern[len - 1] != '/')
		len--;
	len = len > 0 ? len - 1 : 0;
	if (len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, pattern, len);
	path[len] = '\0';
	/* The wildcard-free root may not exist yet: watch its deepest existing ancestor, whose new
	 * entries lead towards it. */
	while (len > 0 && (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))) {
		while (len > 0 && path[len - 1] != '/')
			len--;
		len = len > 0 ? len - 1 : 0;
		path[len] = '\0';
	}
	dirs_walk(&w, path, len, 0);
	return w.error < 0 ? w.error : (int)w.n;
}
