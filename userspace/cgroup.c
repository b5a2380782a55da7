// SPDX-License-Identifier: Apache-2.0
// cgroup v2 sandboxes: mount discovery, osh's subtree, per-sandbox cgroup lifecycle.
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

int osh_cgroup_mount_find(char **ret_path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		/* id parent maj:min root mountpoint opts [optional fields...] - fstype source super */
		char *sep = strstr(line, " - ");
		char *save = NULL, *mnt = NULL, *fstype;
		int field = 0;

		if (!sep)
			continue;
		*sep = '\0';
		fstype = strtok_r(sep + 3, " \n", &save);
		if (!fstype || strcmp(fstype, "cgroup2"))
			continue;
		save = NULL;
		for (char *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			if (++field == 5) {
				mnt = tok;
				break;
			}
		if (!mnt)
			continue;
		unescape_octal(mnt);
		*ret_path = strdup(mnt);
		r = *ret_path ? 0 : -ENOMEM;
		break;
	}
	free(line);
	fclose(f);
	return r;
}

int osh_cgroup_name_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > OSH_CGROUP_NAME_MAX || name[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return -EINVAL;
	return 0;
}

static int write_at(int dir_fd, const char *file, const char *data)
{
	int fd = openat(dir_fd, file, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, data, strlen(data));
	if (n < 0)
		r = -errno;
	else if ((size_t)n != strlen(data))
		r = -EIO;
	close(fd);
	return r;
}

/* Reads a small cgroup file into buf (NUL-terminated). Returns the length or -errno. */
static ssize_t read_at(int dir_fd, const char *file, char *buf, size_t size)
{
	int fd = openat(dir_fd, file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return n;
}

/* Only the controllers the engine may later use for limits, and only when the parent offers them:
 * osh must run on hosts where the cgroup2 hierarchy has no controllers at all (hybrid layout). */
static void subtree_enable_controllers(int osh_fd)
{
	static const char *const wanted[] = { "pids" };
	char avail[512];

	if (read_at(osh_fd, "cgroup.controllers", avail, sizeof(avail)) <= 0)
		return;
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		char cmd[32];

		if (!strstr(avail, wanted[i]))
			continue;
		snprintf(cmd, sizeof(cmd), "+%s", wanted[i]);
		(void)write_at(osh_fd, "cgroup.subtree_control", cmd);
	}
}

/* create: mkdir the sandbox cgroup (-EEXIST if there); otherwise open an existing one (-ENOENT
 * if missing, and the subtree is not created either). */
static int cgroup_get(const char *name, bool create, struct osh_cgroup **ret,
		      struct osh_sandbox_error *e)
{
	struct osh_cgroup *cg = NULL;
	char *mount = NULL, *subtree = NULL;
	struct stat st;
	int r;

	if (osh_cgroup_name_check(name) < 0)
		return osh_sandbox_error_set(e, EINVAL, "cgroup", name,
					     "invalid sandbox name (1-%d of A-Z a-z 0-9 _ . -)",
					     OSH_CGROUP_NAME_MAX);
	r = osh_cgroup_mount_find(&mount);
	if (r < 0)
		return osh_sandbox_error_set(e, r, "cgroup", "/proc/self/mountinfo",
					     r == -ENOENT ? "no cgroup2 mount found" : NULL);
	cg = calloc(1, sizeof(*cg));
	if (!cg || asprintf(&subtree, "%s/%s", mount, OSH_CGROUP_SUBTREE) < 0) {
		subtree = NULL;
		r = osh_sandbox_error_set(e, ENOMEM, "cgroup", name, NULL);
		goto fail;
	}
	cg->dir_fd = cg->parent_fd = -1;
	if (create && mkdir(subtree, 0755) < 0 && errno != EEXIST) {
		r = osh_sandbox_error_set(e, errno, "cgroup", subtree, NULL);
		goto fail;
	}
	cg->parent_fd = open(subtree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->parent_fd < 0) {
		r = osh_sandbox_error_set(e, errno, "cgroup", subtree, NULL);
		goto fail;
	}
	if (create)
		subtree_enable_controllers(cg->parent_fd);
	if (asprintf(&cg->path, "%s/%s", subtree, name) < 0 || !(cg->name = strdup(name))) {
		cg->path = NULL;
		r = osh_sandbox_error_set(e, ENOMEM, "cgroup", name, NULL);
		goto fail;
	}
	if (create && mkdirat(cg->parent_fd, name, 0755) < 0) {
		r = osh_sandbox_error_set(e, errno, "cgroup", cg->path,
					  errno == EEXIST ? "a sandbox with this name exists"
							  : NULL);
		goto fail;
	}
	cg->dir_fd = openat(cg->parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->dir_fd < 0 || fstat(cg->dir_fd, &st) < 0) {
		r = osh_sandbox_error_set(e, errno, "cgroup", cg->path, NULL);
		if (create)
			(void)unlinkat(cg->parent_fd, name, AT_REMOVEDIR);
		goto fail;
	}
	cg->id = st.st_ino;
	free(mount);
	free(subtree);
	*ret = cg;
	return 0;
fail:
	osh_cgroup_free(cg);
	free(mount);
	free(subtree);
	return r;
}

int osh_cgroup_create(const char *name, struct osh_cgroup **ret, struct osh_sandbox_error *e)
{
	return cgroup_get(name, true, ret, e);
}

int osh_cgroup_open(const char *name, struct osh_cgroup **ret, struct osh_sandbox_error *e)
{
	return cgroup_get(name, false, ret, e);
}

/* Calls fn(pid, ud) for each pid in cgroup.procs of dir_fd and of every cgroup below it (depth
 * bounded: a sandbox running as root could nest cgroups). Returns the number of pids seen. */
static int procs_walk(int dir_fd, int depth, int (*fn)(pid_t pid, void *ud), void *ud)
{
	int fd = openat(dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	char buf[64];
	int n = 0, r;
	DIR *d;
	struct dirent *de;

	if (!f) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return r;
	}
	while (fgets(buf, sizeof(buf), f)) {
		long pid = strtol(buf, NULL, 10);

		if (pid <= 0)
			continue;
		n++;
		if (fn)
			fn((pid_t)pid, ud);
	}
	fclose(f);
	if (depth >= 16)
		return n;
	fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return n;
	}
	while ((de = readdir(d))) {
		int sub;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0)
			continue;
		r = procs_walk(sub, depth + 1, fn, ud);
		close(sub);
		if (r > 0)
			n += r;
	}
	closedir(d);
	return n;
}

int osh_cgroup_nprocs(const struct osh_cgroup *cg)
{
	return procs_walk(cg->dir_fd, 0, NULL, NULL);
}

static int kill_one(pid_t pid, void *ud)
{
	return kill(pid, *(int *)ud) < 0 ? -errno : 0;
}

static void cgroup_kill_by_pid(int dir_fd);

int osh_cgroup_signal(struct osh_cgroup *cg, int sig)
{
	int r;

	if (sig == SIGKILL) {
		if (write_at(cg->dir_fd, "cgroup.kill", "1") == 0)
			return 0;
		cgroup_kill_by_pid(cg->dir_fd);
		return 0;
	}
	r = procs_walk(cg->dir_fd, 0, kill_one, &sig);
	return r < 0 ? r : 0;
}

static bool cgroup_populated(int dir_fd)
{
	char buf[256];
	const char *p;

	if (read_at(dir_fd, "cgroup.events", buf, sizeof(buf)) <= 0)
		return false;
	p = strstr(buf, "populated ");
	return p && p[10] == '1';
}

/* Without cgroup.kill: freeze so nothing forks while we kill, SIGKILL every listed pid, repeat
 * until the list is empty. A killed task leaves the frozen state, so freezing does not stall it. */
static void cgroup_kill_by_pid(int dir_fd)
{
	bool frozen = write_at(dir_fd, "cgroup.freeze", "1") == 0;

	for (int round = 0; round < 100; round++) {
		char buf[4096];
		int killed = 0;
		int fd = openat(dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
		FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

		if (!f) {
			if (fd >= 0)
				close(fd);
			break;
		}
		while (fgets(buf, sizeof(buf), f)) {
			long pid = strtol(buf, NULL, 10);

			if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
				killed++;
		}
		fclose(f);
		if (!killed)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	if (frozen)
		(void)write_at(dir_fd, "cgroup.freeze", "0");
}

int osh_cgroup_destroy(struct osh_cgroup *cg, struct osh_sandbox_error *e)
{
	long waited_us = 0;

	if (!cg || cg->dir_fd < 0)
		return 0;
	if (cgroup_populated(cg->dir_fd) && write_at(cg->dir_fd, "cgroup.kill", "1") < 0)
		cgroup_kill_by_pid(cg->dir_fd);
	/* Dying tasks leave the cgroup asynchronously; rmdir is EBUSY until they are gone. */
	for (;;) {
		if (!cgroup_populated(cg->dir_fd)) {
			if (unlinkat(cg->parent_fd, cg->name, AT_REMOVEDIR) == 0 || errno == ENOENT)
				break;
			if (errno != EBUSY)
				return osh_sandbox_error_set(e, errno, "cgroup", cg->path, NULL);
		}
		if (waited_us >= 5000000)
			return osh_sandbox_error_set(e, EBUSY, "cgroup", cg->path,
						     "processes still present after 5 s");
		if (waited_us > 100000)
			cgroup_kill_by_pid(cg->dir_fd);
		nanosleep(&(struct timespec){ .tv_nsec = 200000 }, NULL);
		waited_us += 200;
	}
	close(cg->dir_fd);
	cg->dir_fd = -1;
	return 0;
}

void osh_cgroup_free(struct osh_cgroup *cg)
{
	if (!cg)
		return;
	if (cg->dir_fd >= 0)
		close(cg->dir_fd);
	if (cg->parent_fd >= 0)
		close(cg->parent_fd);
	free(cg->path);
	free(cg->name);
	free(cg);
}

int osh_cgroup_has_kill(const char *mount)
{
	char path[PATH_MAX];

	/* The root cgroup has no cgroup.kill; osh's subtree does when the kernel supports it. */
	snprintf(path, sizeof(path), "%s/%s/cgroup.kill", mount, OSH_CGROUP_SUBTREE);
	if (access(path, F_OK) == 0)
		return 1;
	snprintf(path, sizeof(path), "%s/%s", mount, OSH_CGROUP_SUBTREE);
	if (access(path, F_OK) == 0)
		return 0;
	/* No subtree yet: look at any child cgroup of the mount. */
	DIR *d = opendir(mount);
	struct dirent *de;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/cgroup.kill", mount, de->d_name);
		found = access(path, F_OK) == 0;
	}
	closedir(d);
	return found;
}
