// SPDX-License-Identifier: Apache-2.0
/* VM test of the BPF LSM filesystem programs (bpf/fs.bpf.c via userspace/bpf-fs.c) on their own,
 * without Landlock: a test cgroup is the sandbox, each case runs a real syscall once outside it
 * (must work) and once in a process inside it (expected verdict), and every denial must bring
 * exactly one ring-buffer event. Also: a reload on a running sandbox, sub-cgroups, non-file
 * hooks. Prints TAP; where BPF LSM does not load: one counted skip (--require-lsm: a failure). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/netlink.h>

#include "bpf-fs.h"
#include "cgroup.h"
#include "policy.h"
#include "sandbox.h"

#define LEVEL 1 /* the test cgroups sit directly below the cgroup2 root */

static int test_number, test_failures;
static char root[256];		/* the test tree */
static char cg_path[512];	/* the sandbox cgroup */
static char sub_path[PATH_MAX]; /* a child cgroup of it */
static struct osh_bpf_fs *fs;
static uint64_t sandbox_id;
static unsigned int events_seen;
static struct osh_fs_event last_event;

static void tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++test_number);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		test_failures++;
}

static void on_event(const struct osh_fs_event *ev, void *ctx)
{
	char *line = NULL;

	events_seen++;
	last_event = *ev;
	if (osh_fs_event_format(ev, &line) == 0)
		fprintf(stderr, "lsm-fs-test: event: %s\n", line);
	free(line);
}

static unsigned int events_drain(void)
{
	unsigned int before = events_seen;

	while (osh_bpf_fs_events_poll(fs, 0, on_event, NULL) > 0)
		;
	return events_seen - before;
}

static const char *P(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", root, rel);
	return buf[k];
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror(path);
		close(fd);
	}
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (remove(path) < 0)
		fprintf(stderr, "lsm-fs-test: remove %s: %s\n", path, strerror(errno));
	return 0;
}

static void tree_remove(void)
{
	if (nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		fprintf(stderr, "lsm-fs-test: removing %s: %s\n", root, strerror(errno));
}

/* A fresh tree for every case, so a destructive baseline outside does not change the next. */
static void tree_make(void)
{
	tree_remove();
	mkdir(root, 0755);
	mkdir(P("ro"), 0755);
	mkdir(P("ro/sub"), 0755);
	mkdir(P("ro/empty"), 0755);
	mkdir(P("rw"), 0755);
	mkdir(P("rw/secret"), 0755);
	mkdir(P("rw/dir"), 0755);
	mkdir(P("out"), 0755);
	write_file(P("ro/file"), "ro\n");
	write_file(P("ro/sub/f"), "ro\n");
	write_file(P("rw/file"), "rw\n");
	write_file(P("rw/.env"), "TOKEN=1\n");
	write_file(P("rw/secret/key"), "key\n");
	write_file(P("out/file"), "out\n");
	if (symlink("../out/file", P("rw/link-out")) < 0 ||
	    symlink("secret/key", P("rw/link-secret")) < 0)
		perror("symlink");
}

/* Installs the rules for the current tree (inodes change with every tree_make). deny_secret
 * false: the reload case's second rule set. */
static int rules_install(bool deny_secret, bool allow_out)
{
	struct osh_bpf_fs_rule r[6];
	struct osh_strv warn = { 0 };
	struct osh_sandbox_error e;
	size_t n = 0;
	int ret;

	r[n++] = (struct osh_bpf_fs_rule){ P("ro"), { OSH_FS_READ, OSH_FS_RULE_READ_ONLY, 0 } };
	r[n++] =
	    (struct osh_bpf_fs_rule){ P("rw"),
				      { OSH_FS_READ | OSH_FS_WRITE, OSH_FS_RULE_READ_WRITE, 1 } };
	if (deny_secret) {
		r[n++] = (struct osh_bpf_fs_rule){ P("rw/secret"),
						   { OSH_FS_DENY, OSH_FS_RULE_DENY, 2 } };
		r[n++] =
		    (struct osh_bpf_fs_rule){ P("rw/.env"), { OSH_FS_DENY, OSH_FS_RULE_DENY, 3 } };
	}
	if (allow_out)
		r[n++] =
		    (struct osh_bpf_fs_rule){ P("out"), { OSH_FS_READ, OSH_FS_RULE_READ_ONLY, 4 } };
	ret = osh_bpf_fs_rules_set(fs, sandbox_id, r, n, 1, &warn, &e);
	if (ret < 0)
		fprintf(stderr, "lsm-fs-test: rules: %s: %s\n", e.subject, strerror(-ret));
	osh_strv_free(&warn);
	return ret;
}

static int cgroup_join(const char *path)
{
	char procs[PATH_MAX + 16];
	int fd, ok;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ok = write(fd, "0\n", 2) == 2;
	close(fd);
	return ok ? 0 : -EIO;
}

typedef int (*op_fn)(const char *a, const char *b);

/* Runs op in a child, inside cgroup (NULL: outside every sandbox). Returns 0 or the errno. */
static int run_op(const char *cgroup, op_fn op, const char *a, const char *b)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return errno;
	if (pid == 0) {
		if (cgroup && cgroup_join(cgroup) < 0)
			_exit(200);
		_exit(op(a, b) < 0 ? (errno & 0xff) : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 250;
}

static int op_read(const char *a, const char *b)
{
	int fd = open(a, O_RDONLY);

	return fd < 0 ? -1 : close(fd);
}

static int op_write(const char *a, const char *b)
{
	int fd = open(a, O_WRONLY);

	return fd < 0 ? -1 : close(fd);
}

static int op_rdonly_trunc(const char *a, const char *b)
{
	int fd = open(a, O_RDONLY | O_TRUNC);

	return fd < 0 ? -1 : close(fd);
}

static int op_create(const char *a, const char *b)
{
	int fd = open(a, O_WRONLY | O_CREAT | O_EXCL, 0644);

	return fd < 0 ? -1 : close(fd);
}

/* O_PATH opens are not checked; the reopen through /proc/self/fd is, with the real path. */
static int op_opath_reopen_write(const char *a, const char *b)
{
	char proc[64];
	int fd = open(a, O_PATH), fd2;

	if (fd < 0)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	fd2 = open(proc, b ? O_RDONLY : O_WRONLY);
	return fd2 < 0 ? -1 : close(fd2);
}

static int op_rename(const char *a, const char *b)
{
	return rename(a, b);
}

static int op_link(const char *a, const char *b)
{
	return link(a, b);
}

static int op_symlink(const char *a, const char *b)
{
	return symlink("x", a);
}

static int op_unlink(const char *a, const char *b)
{
	return unlink(a);
}

static int op_mkdir(const char *a, const char *b)
{
	return mkdir(a, 0755);
}

static int op_rmdir(const char *a, const char *b)
{
	return rmdir(a);
}

static int op_truncate(const char *a, const char *b)
{
	return truncate(a, 0);
}

static int op_chmod(const char *a, const char *b)
{
	return chmod(a, 0600);
}

static int op_chown(const char *a, const char *b)
{
	return chown(a, 1, 1);
}

static int op_mknod_fifo(const char *a, const char *b)
{
	return mkfifo(a, 0644);
}

struct fs_case {
	const char *name;
	op_fn op;
	const char *a, *b; /* relative to root; b may be NULL */
	int expect;	   /* errno inside the sandbox, 0 = allowed */
	unsigned int op_code;
	bool proc_root; /* a is reached through /proc/self/root */
};

static void fs_case_run(const struct fs_case *c)
{
	char a[PATH_MAX + 32], b[PATH_MAX];
	int out, in;
	unsigned int ev;

	tree_make();
	if (rules_install(true, false) < 0) {
		tap(false, "%s: rules could not be installed", c->name);
		return;
	}
	snprintf(a, sizeof(a), "%s%s", c->proc_root ? "/proc/self/root" : "", P(c->a));
	snprintf(b, sizeof(b), "%s", c->b ? P(c->b) : "");
	out = run_op(NULL, c->op, a, c->b ? b : NULL);
	events_drain();
	tree_make();
	if (rules_install(true, false) < 0) {
		tap(false, "%s: rules could not be installed", c->name);
		return;
	}
	in = run_op(cg_path, c->op, a, c->b ? b : NULL);
	ev = events_drain();
	if (c->expect == 0)
		tap(out == 0 && in == 0 && ev == 0,
		    "%s: allowed (outside %s, inside %s, %u events)", c->name, strerror(out),
		    strerror(in), ev);
	else
		tap(out == 0 && in == c->expect && ev == 1 && last_event.op == c->op_code &&
			last_event.sandbox == sandbox_id,
		    "%s: works outside (%s), inside %s (want %s), %u event(s) op %s", c->name,
		    strerror(out), strerror(in), strerror(c->expect), ev,
		    ev ? osh_fs_op_name(last_event.op) : "-");
}

static const struct fs_case fs_cases[] = {
	{ "read a read_only file", op_read, "ro/file", NULL, 0, 0, false },
	{ "write a read_only file", op_write, "ro/file", NULL, EACCES, OSH_FS_OP_OPEN_WRITE,
	  false },
	{ "write a read_write file", op_write, "rw/file", NULL, 0, 0, false },
	{ "read outside every rule", op_read, "out/file", NULL, EACCES, OSH_FS_OP_OPEN_READ,
	  false },
	{ "read through a symlink out of rw", op_read, "rw/link-out", NULL, EACCES,
	  OSH_FS_OP_OPEN_READ, false },
	{ "read through rw/../out", op_read, "rw/../out/file", NULL, EACCES, OSH_FS_OP_OPEN_READ,
	  false },
	{ "read via /proc/self/root", op_read, "out/file", NULL, EACCES, OSH_FS_OP_OPEN_READ,
	  true },
	{ "read a read_only file via /proc/self/root", op_read, "ro/file", NULL, 0, 0, true },
	{ "O_PATH reopen of a read_only file for writing", op_opath_reopen_write, "ro/file", NULL,
	  EACCES, OSH_FS_OP_OPEN_WRITE, false },
	{ "O_PATH reopen of an outside file for reading", op_opath_reopen_write, "out/file", "read",
	  EACCES, OSH_FS_OP_OPEN_READ, false },
	{ "deny dir inside rw: read", op_read, "rw/secret/key", NULL, EACCES, OSH_FS_OP_OPEN_READ,
	  false },
	{ "deny dir inside rw: through a symlink", op_read, "rw/link-secret", NULL, EACCES,
	  OSH_FS_OP_OPEN_READ, false },
	{ "deny file inside rw: read", op_read, "rw/.env", NULL, EACCES, OSH_FS_OP_OPEN_READ,
	  false },
	{ "deny dir inside rw: create in it", op_create, "rw/secret/new", NULL, EACCES,
	  OSH_FS_OP_CREATE, false },
	{ "deny dir inside rw: rename it away", op_rename, "rw/secret", "rw/public", EACCES,
	  OSH_FS_OP_RENAME, false },
	{ "deny file inside rw: unlink", op_unlink, "rw/.env", NULL, EACCES, OSH_FS_OP_UNLINK,
	  false },
	{ "create in rw", op_create, "rw/new", NULL, 0, 0, false },
	{ "create in ro", op_create, "ro/new", NULL, EACCES, OSH_FS_OP_CREATE, false },
	{ "mkfifo in ro", op_mknod_fifo, "ro/fifo", NULL, EACCES, OSH_FS_OP_CREATE, false },
	{ "mkdir in ro", op_mkdir, "ro/d", NULL, EACCES, OSH_FS_OP_MKDIR, false },
	{ "rmdir in ro", op_rmdir, "ro/empty", NULL, EACCES, OSH_FS_OP_RMDIR, false },
	{ "symlink in ro", op_symlink, "ro/sl", NULL, EACCES, OSH_FS_OP_SYMLINK, false },
	{ "unlink in ro", op_unlink, "ro/file", NULL, EACCES, OSH_FS_OP_UNLINK, false },
	{ "unlink in rw", op_unlink, "rw/file", NULL, 0, 0, false },
	{ "rename out of ro into rw", op_rename, "ro/file", "rw/moved", EACCES, OSH_FS_OP_RENAME,
	  false },
	{ "rename from rw into ro", op_rename, "rw/file", "ro/moved", EACCES, OSH_FS_OP_RENAME,
	  false },
	{ "rename within rw", op_rename, "rw/file", "rw/dir/moved", 0, 0, false },
	{ "hard link of a ro file into rw", op_link, "ro/file", "rw/hl", EXDEV, OSH_FS_OP_LINK,
	  false },
	{ "hard link of a denied file into rw", op_link, "rw/.env", "rw/hl", EACCES, OSH_FS_OP_LINK,
	  false },
	{ "hard link within rw", op_link, "rw/file", "rw/hl", 0, 0, false },
	{ "truncate a ro file", op_truncate, "ro/file", NULL, EACCES, OSH_FS_OP_TRUNCATE, false },
	{ "open(O_RDONLY|O_TRUNC) a ro file", op_rdonly_trunc, "ro/file", NULL, EACCES,
	  OSH_FS_OP_TRUNCATE, false },
	{ "truncate a rw file", op_truncate, "rw/file", NULL, 0, 0, false },
	{ "chmod a ro file", op_chmod, "ro/file", NULL, EACCES, OSH_FS_OP_CHMOD, false },
	{ "chmod a rw file", op_chmod, "rw/file", NULL, 0, 0, false },
	{ "chown a ro file", op_chown, "ro/file", NULL, EACCES, OSH_FS_OP_CHOWN, false },
};

static void case_sub_cgroup(void)
{
	int in;

	tree_make();
	rules_install(true, false);
	in = run_op(sub_path, op_read, P("out/file"), NULL);
	tap(in == EACCES && events_drain() == 1 && last_event.sandbox == sandbox_id,
	    "a process in a sub-cgroup of the sandbox stays governed (%s)", strerror(in));
	in = run_op(sub_path, op_read, P("ro/file"), NULL);
	tap(in == 0, "a sub-cgroup process reads a read_only file (%s)", strerror(in));
}

static void case_created_later(void)
{
	int in;

	tree_make();
	rules_install(true, false);
	/* created after the rules were installed, by a process outside the sandbox */
	write_file(P("rw/secret/later"), "x\n");
	mkdir(P("rw/secret/deeper"), 0755);
	write_file(P("rw/secret/deeper/f"), "x\n");
	in = run_op(cg_path, op_read, P("rw/secret/deeper/f"), NULL);
	tap(in == EACCES && events_drain() == 1 && last_event.op == OSH_FS_OP_OPEN_READ,
	    "a file created later inside a deny dir is denied (%s)", strerror(in));
	write_file(P("rw/newfile"), "x\n");
	in = run_op(cg_path, op_write, P("rw/newfile"), NULL);
	tap(in == 0, "a file created later in the rw tree is writable (%s)", strerror(in));
}

/* A rule set without deny rules: the walk stops at the first rule it meets (OSH_FS_LAST), which
 * must still decide between read-only and read-write, and a path without a rule stays denied. */
static void case_no_deny(void)
{
	int ro_w, ro_r, rw_w, out_r;

	tree_make();
	rules_install(false, false);
	ro_r = run_op(cg_path, op_read, P("ro/sub/f"), NULL);
	ro_w = run_op(cg_path, op_write, P("ro/sub/f"), NULL);
	rw_w = run_op(cg_path, op_write, P("rw/secret/key"), NULL);
	out_r = run_op(cg_path, op_read, P("out/file"), NULL);
	tap(ro_r == 0 && ro_w == EACCES && rw_w == 0 && out_r == EACCES && events_drain() == 2,
	    "no deny rules: ro read %s, ro write %s, rw write %s, outside read %s", strerror(ro_r),
	    strerror(ro_w), strerror(rw_w), strerror(out_r));
}

/* One process stays in the sandbox across the reload and retries the same opens. */
static void case_reload(void)
{
	int to_child[2], to_parent[2], status;
	char res[4] = { 0 };
	pid_t pid;
	unsigned int ev1;

	tree_make();
	rules_install(true, false);
	if (pipe(to_child) < 0 || pipe(to_parent) < 0) {
		tap(false, "reload: pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		char go;

		if (cgroup_join(cg_path) < 0)
			_exit(1);
		res[0] = op_read(P("rw/secret/key"), NULL) < 0 ? (char)errno : 0;
		res[1] = op_read(P("out/file"), NULL) < 0 ? (char)errno : 0;
		if (write(to_parent[1], res, 2) != 2 || read(to_child[0], &go, 1) != 1)
			_exit(1);
		res[0] = op_read(P("rw/secret/key"), NULL) < 0 ? (char)errno : 0;
		res[1] = op_read(P("out/file"), NULL) < 0 ? (char)errno : 0;
		_exit(write(to_parent[1], res, 2) == 2 ? 0 : 1);
	}
	if (read(to_parent[0], res, 2) != 2)
		res[0] = res[1] = 99;
	ev1 = events_drain();
	tap(res[0] == EACCES && res[1] == EACCES && ev1 == 2,
	    "reload: before, the deny path and the outside path are refused (%d %d, %u events)",
	    res[0], res[1], ev1);
	tap(rules_install(false, true) == 0,
	    "reload: new rule set installed on the running sandbox");
	if (write(to_child[1], "g", 1) != 1 || read(to_parent[0], res, 2) != 2)
		res[0] = res[1] = 99;
	waitpid(pid, &status, 0);
	tap(res[0] == 0 && res[1] == 0 && events_drain() == 0,
	    "reload: the same process now opens both (%d %d)", res[0], res[1]);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

static int op_socket(const char *a, const char *b)
{
	int fd = socket((int)strtol(a, NULL, 10), SOCK_RAW, b ? (int)strtol(b, NULL, 10) : 0);

	return fd < 0 ? -1 : close(fd);
}

static int op_bpf(const char *a, const char *b)
{
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -1 : close(fd);
}

static int op_userns(const char *a, const char *b)
{
	return unshare(CLONE_NEWUSER);
}

static int op_mount(const char *a, const char *b)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -1;
	return mount("none", a, "tmpfs", 0, NULL);
}

static int op_ptrace(const char *a, const char *b)
{
	pid_t t = fork();
	int r, saved;

	if (t == 0) {
		pause();
		_exit(0);
	}
	r = (int)ptrace(PTRACE_ATTACH, t, NULL, NULL);
	saved = errno;
	kill(t, SIGKILL);
	waitpid(t, NULL, 0);
	errno = saved;
	return r;
}

static void cases_forbidden(void)
{
	static const struct {
		const char *name;
		op_fn op;
		const char *a, *b;
		unsigned int op_code;
	} t[] = {
		{ "socket(AF_PACKET)", op_socket, "17", NULL, OSH_FS_OP_SOCKET },
		{ "socket(AF_NETLINK, NETLINK_GENERIC)", op_socket, "16", "16", OSH_FS_OP_SOCKET },
		{ "bpf(BPF_MAP_CREATE)", op_bpf, NULL, NULL, OSH_FS_OP_BPF },
		{ "unshare(CLONE_NEWUSER)", op_userns, NULL, NULL, OSH_FS_OP_USERNS },
		{ "mount", op_mount, "/tmp", NULL, OSH_FS_OP_MOUNT },
		{ "ptrace(PTRACE_ATTACH)", op_ptrace, NULL, NULL, OSH_FS_OP_PTRACE },
	};
	int in, out;
	unsigned int ev;

	for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++) {
		out = run_op(NULL, t[i].op, t[i].a, t[i].b);
		events_drain();
		in = run_op(cg_path, t[i].op, t[i].a, t[i].b);
		ev = events_drain();
		tap(out == 0 && in == EPERM && ev == 1 && last_event.op == t[i].op_code,
		    "%s: works outside (%s), EPERM inside (%s), %u event(s)", t[i].name,
		    strerror(out), strerror(in), ev);
	}
	/* NETLINK_ROUTE stays allowed, as in the seccomp filter. */
	in = run_op(cg_path, op_socket, "16", "0");
	tap(in == 0 && events_drain() == 0, "socket(AF_NETLINK, NETLINK_ROUTE) allowed (%s)",
	    strerror(in));
}

static struct osh_policy *policy_from(const char *yaml)
{
	struct osh_diag_list diags = { 0 };
	struct osh_policy *pol = NULL;

	if (osh_policy_parse_buffer("lsm-fs-test", yaml, strlen(yaml), OSH_POLICY_FORMAT_YAML, &pol,
				    &diags) < 0)
		pol = NULL;
	osh_diag_list_clear(&diags);
	return pol;
}

static bool file_has(const char *path, const char *needle)
{
	char buf[512] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	return n > 0 && strstr(buf, needle);
}

/* The engine's reload API on a real sandbox (Landlock + seccomp + BPF LSM, as nobody): one shell
 * reads the deny path, waits on a FIFO while osh_sandbox_fs_reload() installs a policy without
 * the deny, then reads it again. */
static void case_engine_reload(void)
{
	char yaml_a[2048], yaml_b[2048], cmd[1536];
	struct osh_policy *pa, *pb;
	struct osh_policy_image *img = NULL;
	struct osh_sandbox_config cfg;
	struct osh_sandbox_error e = { 0 };
	struct osh_sandbox *sb = NULL;
	int r, status = -1, fd;
	const char *head = "version: 1\nfilesystem_policy:\n  include_workdir: false\n"
			   "  read_only: [/bin, /lib, /lib64, /usr, /osh, /proc]\n";

	tree_make();
	chmod(root, 0777);
	chmod(P("rw"), 0777);
	chmod(P("rw/secret"), 0755);
	mkfifo(P("rw/fifo"), 0666);
	snprintf(yaml_a, sizeof(yaml_a),
		 "%s  read_write: [%s]\n  deny: [%s]\nprocess:\n  run_as_user: 65534\n", head,
		 P("rw"), P("rw/secret"));
	snprintf(yaml_b, sizeof(yaml_b), "%s  read_write: [%s]\nprocess:\n  run_as_user: 65534\n",
		 head, P("rw"));
	snprintf(cmd, sizeof(cmd),
		 "cat %s/rw/secret/key >%s/rw/out1 2>&1; read x <%s/rw/fifo; "
		 "cat %s/rw/secret/key >%s/rw/out2 2>&1",
		 root, root, root, root, root);
	pa = policy_from(yaml_a);
	pb = policy_from(yaml_b);
	osh_sandbox_config_init(&cfg);
	cfg.name = strdup("osh-test-lsmfs-engine");
	r = pa && pb ? osh_sandbox_config_from_policy(pa, &cfg, &e) : -EBADMSG;
	/* filesystem only: the network programs are tested elsewhere */
	osh_policy_free(cfg.net_policy);
	cfg.net_policy = NULL;
	if (r == 0)
		r = osh_sandbox_create(&cfg, &sb, &e);
	tap(r == 0 && (osh_sandbox_mechanisms(sb) & OSH_MECH_BPF_LSM),
	    "engine: sandbox created with bpf-lsm active (%s; %s: %s: %s)", strerror(-r), e.step,
	    e.subject, e.message);
	if (r == 0)
		r = osh_sandbox_spawn(sb, (char *const[]){ "/bin/sh", "-c", cmd, NULL }, NULL,
				      &status, &e);
	for (int i = 0; r == 0 && i < 200 && access(P("rw/out1"), F_OK) < 0; i++)
		usleep(50000);
	if (r == 0 && osh_policy_compile(pb, &img) == 0)
		r = osh_sandbox_fs_reload(sb, img, &e);
	else if (r == 0)
		r = -ENOMEM;
	tap(r == 0 && file_has(P("rw/out1"), "Permission denied"),
	    "engine: before the reload the deny path is refused; osh_sandbox_fs_reload: %s",
	    strerror(-r));
	fd = open(P("rw/fifo"), O_WRONLY | O_NONBLOCK | O_CLOEXEC); /* ENXIO: nobody waits */
	if (fd >= 0) {
		if (write(fd, "go\n", 3) != 3)
			perror("fifo");
		close(fd);
	}
	if (sb && osh_sandbox_pid(sb) > 0)
		osh_sandbox_wait(sb, &status, &e);
	tap(file_has(P("rw/out2"), "key"),
	    "engine: after the reload the same sandbox reads it, no restart (exit %d)", status);
	osh_sandbox_destroy(sb, NULL);
	osh_policy_image_free(img);
	osh_policy_free(pa);
	osh_policy_free(pb);
	osh_sandbox_config_free(&cfg);
	events_drain();
}

static void cleanup(void)
{
	osh_bpf_fs_free(fs);
	fs = NULL;
	if (sub_path[0])
		rmdir(sub_path);
	if (cg_path[0])
		rmdir(cg_path);
	if (root[0])
		tree_remove();
}

int main(int argc, char **argv)
{
	bool require = argc > 1 && !strcmp(argv[1], "--require-lsm");
	const size_t n_cases = sizeof(fs_cases) / sizeof(*fs_cases);
	char *reason = NULL, *mount_path = NULL;
	struct osh_fs_stats st;
	struct timespec t0, t1;
	struct stat cst;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (require) /* the verifier log on the VM console when the load fails */
		setenv("OSH_BPF_DEBUG", "1", 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = osh_bpf_fs_open(LEVEL, &fs, &reason);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "lsm-fs-test: loading and attaching took %ld ms\n",
		(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	if (r < 0) {
		printf("1..1\n");
		if (require)
			printf("not ok 1 - lsm fs: BPF LSM programs did not load: %s\n",
			       reason ? reason : strerror(-r));
		else
			printf("ok 1 - lsm fs # skip BPF LSM unavailable: %s\n",
			       reason ? reason : strerror(-r));
		free(reason);
		return require ? 1 : 0;
	}
	printf("1..%zu\n", n_cases + 2 + 2 + 1 + 3 + 7 + 3 + 1);
	if (osh_cgroup_mount_find(&mount_path) < 0) {
		printf("Bail out! no cgroup2 mount\n");
		return 1;
	}
	snprintf(root, sizeof(root), "%s/osh-lsmfs-%d",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	snprintf(cg_path, sizeof(cg_path), "%s/osh-test-lsmfs-%d", mount_path, (int)getpid());
	snprintf(sub_path, sizeof(sub_path), "%s/sub", cg_path);
	free(mount_path);
	atexit(cleanup);
	if (mkdir(cg_path, 0755) < 0 || mkdir(sub_path, 0755) < 0 || stat(cg_path, &cst) < 0) {
		printf("Bail out! cgroup %s: %s\n", cg_path, strerror(errno));
		return 1;
	}
	sandbox_id = cst.st_ino;

	for (size_t i = 0; i < n_cases; i++)
		fs_case_run(&fs_cases[i]);
	case_sub_cgroup();
	case_created_later();
	case_no_deny();
	case_reload();
	cases_forbidden();
	case_engine_reload();
	r = osh_bpf_fs_stats_get(fs, &st);
	tap(r == 0 && st.events_dropped == 0 && st.denials >= events_seen && events_seen > 0,
	    "counters: %llu denials, %llu events dropped, %u events read",
	    (unsigned long long)st.denials, (unsigned long long)st.events_dropped, events_seen);
	return test_failures ? 1 : 0;
}
