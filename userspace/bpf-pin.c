// SPDX-License-Identifier: Apache-2.0
// Pins relative to a directory and the build version record, shared by the BPF loaders that pin
// under a bpffs root (see bpf-pin.h).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf-pin.h"

static uint64_t fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

struct osh_bpf_pin_version osh_bpf_pin_version_of(const void *elf, size_t size,
						  unsigned int sandbox_level, unsigned int layout)
{
	return (struct osh_bpf_pin_version){ .elf_hash = fnv1a(elf, size),
					     .sandbox_level = sandbox_level,
					     .layout = layout };
}

int osh_bpf_pin_get(int at, const char *name)
{
	char path[128];
	int fd;

	/* bpf_obj_get takes a path; /proc/self/fd/N/name resolves relative to the directory. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", at, name);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int osh_bpf_pin_put(int at, const char *name, int fd)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", at, name);
	return bpf_obj_pin(fd, path) < 0 ? -errno : 0;
}

int osh_bpf_pin_dir_remove(int at, const char *dir)
{
	/* Never through a symlink: what it points to is not osh's to empty. */
	int fd = openat(at, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	return unlinkat(at, dir, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

/* An array map (called map_name) of one entry of size bytes holding value, pinned as name. */
static int pin_value_put(int at, const char *name, const char *map_name, const void *value,
			 size_t size)
{
	uint32_t zero = 0;
	int fd =
	    bpf_map_create(BPF_MAP_TYPE_ARRAY, map_name, sizeof(zero), (uint32_t)size, 1, NULL);
	int r;

	if (fd < 0)
		return -errno;
	r = bpf_map_update_elem(fd, &zero, value, BPF_ANY) < 0 ? -errno : 0;
	if (r == 0)
		r = osh_bpf_pin_put(at, name, fd);
	close(fd);
	return r;
}

static int pin_value_get(int at, const char *name, void *ret_value, size_t size)
{
	struct bpf_map_info info = { 0 };
	uint32_t zero = 0, len = sizeof(info);
	int fd = osh_bpf_pin_get(at, name), r;

	if (fd < 0)
		return fd;
	/* The kernel copies value_size bytes: a pin of another size is not ours to read. */
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		r = -errno;
	else if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != size)
		r = -ESTALE;
	else
		r = bpf_map_lookup_elem(fd, &zero, ret_value) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int osh_bpf_pin_version_put(int dir, const struct osh_bpf_pin_version *v)
{
	return pin_value_put(dir, OSH_BPF_PIN_VERSION, "osh_version", v, sizeof(*v));
}

int osh_bpf_pin_version_check(int dir, const struct osh_bpf_pin_version *want)
{
	struct osh_bpf_pin_version have;
	int r = pin_value_get(dir, OSH_BPF_PIN_VERSION, &have, sizeof(have));

	if (r < 0)
		return r;
	return memcmp(want, &have, sizeof(have)) ? -ESTALE : 0;
}

int osh_bpf_pin_u64_put(int at, const char *name, uint64_t value)
{
	return pin_value_put(at, name, "osh_pin_u64", &value, sizeof(value));
}

int osh_bpf_pin_u64_get(int at, const char *name, uint64_t *ret_value)
{
	uint64_t v = 0;
	int r = pin_value_get(at, name, &v, sizeof(v));

	if (r == 0)
		*ret_value = v;
	return r;
}

/* ---- checking and restoring -------------------------------------------------------------- */

static void check_note(struct osh_bpf_pin_check *c, const char *prefix, const char *name,
		       const char *suffix, bool quiet)
{
	c->found++;
	if (!quiet && c->missing)
		(void)osh_strv_pushf(c->missing, "%s%s%s%s", prefix, *prefix ? "/" : "", name,
				     suffix);
}

static int check_fail(struct osh_bpf_pin_check *c, int r, const char *prefix, const char *name)
{
	if (c->err == 0) {
		c->err = r;
		snprintf(c->failed, sizeof(c->failed), "%s%s%s: %s", prefix, *prefix ? "/" : "",
			 name, strerror(-r));
	}
	return r;
}

/* Replaces *dir_fd by the directory path (opened here), keeping its number. */
static int dir_reopen(const char *path, int *dir_fd)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (*dir_fd < 0) {
		*dir_fd = fd;
		return 0;
	}
	if (dup3(fd, *dir_fd, O_CLOEXEC) < 0)
		r = -errno;
	close(fd);
	return r;
}

int osh_bpf_pin_check_path(struct osh_bpf_pin_check *c, const char *path, const char *label,
			   int *dir_fd)
{
	struct stat st, held;
	int r = 0, rr;

	if (lstat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			if (label)
				check_note(c, "", label, "/", false);
			return check_fail(c, -ENOTDIR, "", label ? label : path);
		}
		if (*dir_fd >= 0 && fstat(*dir_fd, &held) == 0 && held.st_ino == st.st_ino &&
		    held.st_dev == st.st_dev)
			return 0;
		/* Not the directory held: removed, and made again by someone else. */
		if (*dir_fd >= 0) {
			if (label)
				check_note(c, "", label, "/", false);
			r = 1;
		}
	} else if (errno == ENOENT) {
		if (label)
			check_note(c, "", label, "/", false);
		r = 1;
		if (c->repair && mkdir(path, 0700) < 0 && errno != EEXIST)
			return check_fail(c, -errno, "", label ? label : path);
	} else {
		return check_fail(c, -errno, "", label ? label : path);
	}
	if (r == 1 && !c->repair)
		return 1;
	rr = dir_reopen(path, dir_fd);
	return rr < 0 ? check_fail(c, rr, "", label ? label : path) : r;
}

int osh_bpf_pin_check_dir(struct osh_bpf_pin_check *c, int at, const char *prefix, const char *name,
			  int *ret_fd)
{
	struct stat st;
	int fd, r = 0;

	*ret_fd = -1;
	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return check_fail(c, -errno, prefix, name);
		check_note(c, prefix, name, "/", false);
		if (!c->repair)
			return 1;
		if (mkdirat(at, name, 0700) < 0 && errno != EEXIST)
			return check_fail(c, -errno, prefix, name);
		r = 1;
	} else if (!S_ISDIR(st.st_mode)) {
		check_note(c, prefix, name, "/", false);
		return check_fail(c, -ENOTDIR, prefix, name);
	}
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return check_fail(c, -errno, prefix, name);
	*ret_fd = fd;
	return r;
}

/* One pin: present (a bpffs object; a symlink or directory in its place is not), or noted
 * and, with repair, made by put. */
static void check_pin(struct osh_bpf_pin_check *c, int dir, const char *prefix, const char *name,
		      bool quiet, int (*put)(int dir, const char *name, const void *arg),
		      const void *arg)
{
	struct stat st;
	int r;

	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		r = S_ISREG(st.st_mode) ? 1 : -EEXIST;
	else
		r = errno == ENOENT ? 0 : -errno;
	if (r == 1)
		return;
	check_note(c, prefix, name, "", quiet);
	if (r == 0 && c->repair)
		r = put(dir, name, arg);
	if (r < 0)
		check_fail(c, r, prefix, name);
}

static int put_fd(int dir, const char *name, const void *arg)
{
	int fd = *(const int *)arg;

	return fd < 0 ? -EBADF : osh_bpf_pin_put(dir, name, fd);
}

static int put_u64(int dir, const char *name, const void *arg)
{
	return osh_bpf_pin_u64_put(dir, name, *(const uint64_t *)arg);
}

static int put_version(int dir, const char *name, const void *arg)
{
	(void)name;
	return osh_bpf_pin_version_put(dir, arg);
}

void osh_bpf_pin_check_fd(struct osh_bpf_pin_check *c, int dir, const char *prefix,
			  const char *name, int fd, bool quiet)
{
	check_pin(c, dir, prefix, name, quiet, put_fd, &fd);
}

void osh_bpf_pin_check_u64(struct osh_bpf_pin_check *c, int dir, const char *prefix,
			   const char *name, uint64_t value, bool quiet)
{
	check_pin(c, dir, prefix, name, quiet, put_u64, &value);
}

void osh_bpf_pin_check_version(struct osh_bpf_pin_check *c, int dir, const char *prefix,
			       const struct osh_bpf_pin_version *v, bool quiet)
{
	check_pin(c, dir, prefix, OSH_BPF_PIN_VERSION, quiet, put_version, v);
}
