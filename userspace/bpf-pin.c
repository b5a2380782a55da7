// SPDX-License-Identifier: Apache-2.0
// Pins relative to a directory and the build version record, shared by the BPF loaders that pin
// under a bpffs root (see bpf-pin.h).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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
	int fd = openat(at, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
