// SPDX-License-Identifier: Apache-2.0
// The static-key anchor of osh's cgroup programs (see bpf-anchor.h).
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf-anchor.h"
#include "cgroup.h"

/* The pid keeps two oshd (other bpffs roots, e.g. tests) from removing each other's anchor. */
#define ANCHOR_PREFIX ".static-keys-"
#define ANCHOR_LINKS  16

static struct {
	int parent_fd; /* <cgroup2>/osh */
	char name[64];
	int link_fd[ANCHOR_LINKS];
	unsigned int n_links;
} A = { .parent_fd = -1 };

/* Anchors of processes that died without releasing theirs (SIGKILL): empty, so removable. */
static void remove_stale(int parent_fd)
{
	int fd = openat(parent_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		char *end;
		long pid;

		if (strncmp(de->d_name, ANCHOR_PREFIX, strlen(ANCHOR_PREFIX)))
			continue;
		pid = strtol(de->d_name + strlen(ANCHOR_PREFIX), &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			(void)unlinkat(parent_fd, de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

int osh_bpf_anchor_hold(const struct osh_egress *eg)
{
	char *mount = NULL, *subtree = NULL;
	int dir_fd = -1, r;

	if (A.parent_fd >= 0)
		return -EALREADY;
	r = osh_cgroup_mount_find(&mount);
	if (r < 0)
		return r;
	if (asprintf(&subtree, "%s/%s", mount, OSH_CGROUP_SUBTREE) < 0) {
		subtree = NULL;
		r = -ENOMEM;
		goto out;
	}
	if (mkdir(subtree, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	A.parent_fd = open(subtree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (A.parent_fd < 0) {
		r = -errno;
		goto out;
	}
	remove_stale(A.parent_fd);
	snprintf(A.name, sizeof(A.name), ANCHOR_PREFIX "%d", (int)getpid());
	if (mkdirat(A.parent_fd, A.name, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	dir_fd = openat(A.parent_fd, A.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		r = -errno;
		goto out;
	}
	for (unsigned int i = 0; A.n_links < ANCHOR_LINKS; i++) {
		unsigned int type;
		int prog_fd, link;

		r = osh_egress_cgroup_prog(eg, i, &prog_fd, &type);
		if (r == -ERANGE)
			break;
		if (r < 0)
			continue;
		link = bpf_link_create(prog_fd, dir_fd, (enum bpf_attach_type)type, NULL);
		if (link < 0) {
			r = link;
			goto out;
		}
		A.link_fd[A.n_links++] = link;
	}
	r = 0;
out:
	if (dir_fd >= 0)
		close(dir_fd);
	if (r < 0)
		osh_bpf_anchor_release();
	free(subtree);
	free(mount);
	return r;
}

void osh_bpf_anchor_release(void)
{
	for (unsigned int i = 0; i < A.n_links; i++)
		close(A.link_fd[i]);
	A.n_links = 0;
	if (A.parent_fd >= 0) {
		if (A.name[0])
			(void)unlinkat(A.parent_fd, A.name, AT_REMOVEDIR);
		close(A.parent_fd);
	}
	A.parent_fd = -1;
	A.name[0] = '\0';
}
