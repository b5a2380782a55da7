// SPDX-License-Identifier: Apache-2.0
// Loader of the BPF LSM filesystem programs (bpf/fs.bpf.c): load with the hooks this kernel has,
// attach (or take them from the pins under a bpffs root), install and swap per-sandbox rule maps,
// and pump denial events to the sandbox they belong to (see bpf-fs.h).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bpf-fs.h"
#include "bpf-pin.h"
#include "cgroup.h"
#include "fs.skel.h"

_Static_assert(sizeof(struct osh_fs_key) == 16, "osh_fs_key ABI");
_Static_assert(sizeof(struct osh_fs_value) == 8, "osh_fs_value ABI");
_Static_assert(sizeof(struct osh_fs_event) == 120, "osh_fs_event ABI");
_Static_assert(sizeof(struct osh_fs_stats) == 24, "osh_fs_stats ABI");

/* Layout of <root>/fs/; bumped when the pins or the sandbox records change meaning. */
#define PIN_LAYOUT   1
#define PIN_FS	     "fs"
#define PIN_SBX	     "sandboxes"
#define PIN_RULES    "osh_fs_sbx"
#define PIN_EVENTS   "osh_fs_events"
#define PIN_STATS    "osh_fs_stats"
#define LINK_PREFIX  "link_"
#define MAX_PROGRAMS 24

/* A sandbox's own receiver of events. */
struct handler {
	uint64_t sandbox;
	osh_bpf_fs_event_fn fn;
	void *ctx;
};

struct osh_bpf_fs {
	struct fs *skel; /* NULL when the programs were taken from pins */
	struct bpf_link *links[MAX_PROGRAMS];
	int rules_fd; /* osh_fs_sbx, owned */
	int events_fd;
	int stats_fd; /* the object's .bss: struct fs__bss */
	char *root;   /* bpffs root, NULL: private to the process */
	int fs_dir;   /* <root>/fs */
	/* With a root: each program and its link, from their pins (owned), and the version record,
	 * so that pins removed from outside can be restored (osh_bpf_fs_pins_check). */
	struct {
		char name[64];
		int prog_fd, link_fd;
	} held[MAX_PROGRAMS];
	size_t n_held;
	struct osh_bpf_pin_version ver;
	struct ring_buffer *rb;
	/* Guards the receivers: the event thread holds it while it calls one. */
	pthread_mutex_t lock;
	/* One reader of the ring buffer at a time: the thread, or a drain on the caller's thread
	 * (osh_bpf_fs_events_flush, a sandbox's last one). Taken before lock. */
	pthread_mutex_t consume_lock;
	/* Under consume_lock: the deadline of the flush that is consuming, NULL otherwise. */
	const struct timespec *flush_deadline;
	osh_bpf_fs_event_fn fn; /* events of sandboxes without a receiver of their own */
	void *fn_ctx;
	struct handler *handlers;
	size_t n_handlers;
	pthread_t thread;
	bool thread_on;
	int stop_fd; /* eventfd that ends the event thread */
};

/* Hooks a kernel may lack: the program is then not loaded (and the gap is documented). */
static const struct {
	const char *btf_func;
	const char *prog;
} optional_hooks[] = {
	{ "bpf_lsm_file_truncate", "osh_fs_file_truncate" }, /* 6.2+ */
	{ "bpf_lsm_userns_create", "osh_fs_userns_create" }, /* 6.1+ */
};

static int libbpf_print_none(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

uint32_t osh_bpf_fs_dev(uint64_t st_dev)
{
	return (uint32_t)((major(st_dev) << 20) | minor(st_dev));
}

/* A one-instruction LSM program with a bogus attach target: a kernel that refuses BPF LSM
 * altogether answers EPERM before it looks at the target (this costs microseconds, where the
 * real load first parses the kernel's BTF for several milliseconds). */
int osh_bpf_fs_refused(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_LSM_MAC,
		    .attach_btf_id = 1);
	int fd = bpf_prog_load(BPF_PROG_TYPE_LSM, "osh_probe", "GPL", insns, 2, &opts);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return fd == -EPERM ? -EPERM : 0;
}

static int set_reason(char **ret_reason, int r, const char *what)
{
	/* The first reason is the one that says why. */
	if (ret_reason && !*ret_reason && asprintf(ret_reason, "%s: %s", what, strerror(-r)) < 0)
		*ret_reason = NULL;
	return r;
}

static struct osh_bpf_fs *fs_new(void)
{
	struct osh_bpf_fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->rules_fd = fs->events_fd = fs->stats_fd = fs->fs_dir = fs->stop_fd = -1;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_mutex_init(&fs->consume_lock, NULL);
	return fs;
}

static int dup_fd(int fd)
{
	int r = fd < 0 ? -EBADF : fcntl(fd, F_DUPFD_CLOEXEC, 3);

	return r < 0 && fd >= 0 ? -errno : r;
}

/* Loads the object with the hooks this kernel has and attaches every program; with fs_dir >= 0
 * pins maps, programs and links there (the caller pins the version after them). */
static int fs_load(struct osh_bpf_fs *fs, unsigned int sandbox_level, int fs_dir, char **ret_reason)
{
	libbpf_print_fn_t old_print;
	struct btf *vmlinux;
	struct bpf_program *p;
	size_t n = 0;
	int r, bpf_id;

	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		r = errno ? -errno : -ENOENT;
		return set_reason(ret_reason, r, "no kernel BTF (/sys/kernel/btf/vmlinux)");
	}
	old_print = libbpf_set_print(libbpf_print_none);
	fs->skel = fs__open();
	libbpf_set_print(old_print);
	if (!fs->skel) {
		r = errno ? -errno : -ENOMEM;
		btf__free(vmlinux);
		return set_reason(ret_reason, r, "opening the fs programs");
	}
	fs->skel->rodata->sandbox_level = sandbox_level;
	bpf_id = btf__find_by_name_kind(vmlinux, "bpf_lsm_bpf", BTF_KIND_FUNC);
	if (bpf_id > 0) {
		const struct btf_type *fn = btf__type_by_id(vmlinux, bpf_id);
		const struct btf_type *proto = fn ? btf__type_by_id(vmlinux, fn->type) : NULL;

		bool with_kernel_arg = proto && btf_vlen(proto) >= 4;

		bpf_program__set_autoload(with_kernel_arg ? fs->skel->progs.osh_fs_bpf
							  : fs->skel->progs.osh_fs_bpf_k,
					  false);
	} else {
		bpf_program__set_autoload(fs->skel->progs.osh_fs_bpf, false);
		bpf_program__set_autoload(fs->skel->progs.osh_fs_bpf_k, false);
	}
	for (size_t i = 0; i < sizeof(optional_hooks) / sizeof(*optional_hooks); i++)
		if (btf__find_by_name_kind(vmlinux, optional_hooks[i].btf_func, BTF_KIND_FUNC) <= 0)
			bpf_program__set_autoload(
			    bpf_object__find_program_by_name(fs->skel->obj, optional_hooks[i].prog),
			    false);
	btf__free(vmlinux);
	/* Quiet: a refusal is an answer here, reported by the caller; the verifier log of a real
	 * failure shows with LIBBPF_LOG or in the VM tests, which load with libbpf's printing. */
	old_print = libbpf_set_print(libbpf_print_none);
	if (getenv("OSH_BPF_DEBUG"))
		libbpf_set_print(old_print);
	r = fs__load(fs->skel);
	libbpf_set_print(old_print);
	if (r < 0)
		return set_reason(ret_reason, r, "loading the BPF LSM fs programs");
	if ((fs->rules_fd = dup_fd(bpf_map__fd(fs->skel->maps.osh_fs_sbx))) < 0 ||
	    (fs->events_fd = dup_fd(bpf_map__fd(fs->skel->maps.osh_fs_events))) < 0 ||
	    (fs->stats_fd = dup_fd(bpf_map__fd(fs->skel->maps.bss))) < 0)
		return set_reason(ret_reason, -EBADF, "loading the BPF LSM fs programs");
	if (fs_dir >= 0 && ((r = osh_bpf_pin_put(fs_dir, PIN_RULES, fs->rules_fd)) < 0 ||
			    (r = osh_bpf_pin_put(fs_dir, PIN_EVENTS, fs->events_fd)) < 0 ||
			    (r = osh_bpf_pin_put(fs_dir, PIN_STATS, fs->stats_fd)) < 0))
		return set_reason(ret_reason, r, "pinning the BPF LSM maps");
	bpf_object__for_each_program (p, fs->skel->obj) {
		char name[64];

		if (!bpf_program__autoload(p))
			continue;
		if (n == MAX_PROGRAMS)
			return set_reason(ret_reason, -E2BIG, "attaching the BPF LSM fs programs");
		fs->links[n] = bpf_program__attach(p);
		if (!fs->links[n])
			return set_reason(ret_reason, errno ? -errno : -EINVAL,
					  "attaching the BPF LSM fs programs");
		if (fs_dir < 0) {
			n++;
			continue;
		}
		snprintf(name, sizeof(name), LINK_PREFIX "%s", bpf_program__name(p));
		if ((r = osh_bpf_pin_put(fs_dir, bpf_program__name(p), bpf_program__fd(p))) < 0 ||
		    (r = osh_bpf_pin_put(fs_dir, name, bpf_link__fd(fs->links[n]))) < 0)
			return set_reason(ret_reason, r, "pinning the BPF LSM fs programs");
		n++;
	}
	return 0;
}
static struct osh_bpf_pin_version version_of_build(unsigned int sandbox_level)
{
	size_t sz = 0;
	const void *elf = fs__elf_bytes(&sz);

	return osh_bpf_pin_version_of(elf, sz, sandbox_level, PIN_LAYOUT);
}

/* The programs are the pins of fs/ that are neither maps, links, the version nor a
 * directory. */
static bool is_program_pin(const char *name)
{
	return name[0] != '.' && strncmp(name, LINK_PREFIX, strlen(LINK_PREFIX)) &&
	       strcmp(name, PIN_RULES) && strcmp(name, PIN_EVENTS) && strcmp(name, PIN_STATS) &&
	       strcmp(name, PIN_SBX) && strcmp(name, OSH_BPF_PIN_VERSION);
}

/* Takes maps from an existing <root>/fs/ made by this same build; attaches again a program
 * whose link pin is missing (removed by hand: it stopped enforcing then). */
static int fs_reuse(struct osh_bpf_fs *fs, int fs_dir)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	if ((fs->rules_fd = osh_bpf_pin_get(fs_dir, PIN_RULES)) < 0)
		return fs->rules_fd;
	if ((fs->events_fd = osh_bpf_pin_get(fs_dir, PIN_EVENTS)) < 0)
		return fs->events_fd;
	if ((fs->stats_fd = osh_bpf_pin_get(fs_dir, PIN_STATS)) < 0)
		return fs->stats_fd;
	r = dup_fd(fs_dir);
	if (r < 0 || !(d = fdopendir(r)))
		return r < 0 ? r : -errno;
	r = 0;
	while (r == 0 && (de = readdir(d))) {
		char link[NAME_MAX + 8];
		int prog, lfd;

		if (!is_program_pin(de->d_name))
			continue;
		snprintf(link, sizeof(link), LINK_PREFIX "%s", de->d_name);
		if (faccessat(fs_dir, link, F_OK, 0) == 0)
			continue;
		if ((prog = osh_bpf_pin_get(fs_dir, de->d_name)) < 0) {
			r = prog;
			break;
		}
		/* An LSM program attaches by the BTF id it was loaded for. */
		lfd = bpf_raw_tracepoint_open(NULL, prog);
		r = lfd < 0 ? -errno : osh_bpf_pin_put(fs_dir, link, lfd);
		if (lfd >= 0)
			close(lfd);
		close(prog);
	}
	closedir(d);
	return r;
}

/* Takes a descriptor of every pinned program and its link (all attached by now), so that they
 * stay while this process lives even if their pins are removed, and can be pinned again. */
static int fs_hold(struct osh_bpf_fs *fs, int fs_dir)
{
	struct dirent *de;
	DIR *d;
	int r = dup_fd(fs_dir);

	if (r < 0 || !(d = fdopendir(r)))
		return r < 0 ? r : -errno;
	/* A dup shares the offset, which fs_reuse's walk of the same directory left at its end. */
	rewinddir(d);
	r = 0;
	while (r == 0 && (de = readdir(d))) {
		char link[NAME_MAX + 8];
		__typeof__(fs->held[0]) *h = &fs->held[fs->n_held];
		size_t len = strlen(de->d_name);

		if (!is_program_pin(de->d_name))
			continue;
		if (fs->n_held == MAX_PROGRAMS || len >= sizeof(h->name)) {
			r = -E2BIG;
			break;
		}
		memcpy(h->name, de->d_name, len + 1);
		snprintf(link, sizeof(link), LINK_PREFIX "%s", de->d_name);
		h->prog_fd = osh_bpf_pin_get(fs_dir, de->d_name);
		h->link_fd = h->prog_fd < 0 ? -1 : osh_bpf_pin_get(fs_dir, link);
		fs->n_held++;
		if (h->prog_fd < 0 || h->link_fd < 0)
			r = h->prog_fd < 0 ? h->prog_fd : h->link_fd;
	}
	closedir(d);
	return r;
}

/* Removes <root>/fs/ with its sandbox records. */
static int fs_dir_remove(int root_fd)
{
	int dir = openat(root_fd, PIN_FS, O_RDONLY | O_DIRECTORY | O_CLOEXEC), sbx, r = 0;
	struct dirent *de;
	DIR *d;

	if (dir < 0)
		return errno == ENOENT ? 0 : -errno;
	sbx = openat(dir, PIN_SBX, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sbx >= 0 && (d = fdopendir(sbx))) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				(void)unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	} else if (sbx >= 0) {
		close(sbx);
	}
	if (unlinkat(dir, PIN_SBX, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -errno;
	close(dir);
	return r < 0 ? r : osh_bpf_pin_dir_remove(root_fd, PIN_FS);
}

static int fs_open_pinned(struct osh_bpf_fs *fs, unsigned int sandbox_level, char **ret_reason)
{
	struct osh_bpf_pin_version want = version_of_build(sandbox_level);
	int root_fd, r;

	fs->ver = want;
	if (mkdir(fs->root, 0700) < 0 && errno != EEXIST)
		return set_reason(ret_reason, -errno, fs->root);
	root_fd = open(fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return set_reason(ret_reason, -errno, fs->root);
	/* One loader at a time decides between loading and reusing (the egress loader takes the
	 * same lock for its own directory). */
	if (flock(root_fd, LOCK_EX) < 0) {
		r = set_reason(ret_reason, -errno, fs->root);
		goto out;
	}
	fs->fs_dir = openat(root_fd, PIN_FS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->fs_dir >= 0 && faccessat(fs->fs_dir, OSH_BPF_PIN_VERSION, F_OK, 0) == 0) {
		r = osh_bpf_pin_version_check(fs->fs_dir, &want);
		if (r == -ESTALE && ret_reason &&
		    asprintf(ret_reason, "%s/" PIN_FS ": pinned by another build of osh",
			     fs->root) < 0)
			*ret_reason = NULL;
		else if (r == 0 &&
			 ((r = fs_reuse(fs, fs->fs_dir)) < 0 || (r = fs_hold(fs, fs->fs_dir)) < 0))
			set_reason(ret_reason, r, "adopting the pinned BPF LSM programs");
		else if (r < 0)
			set_reason(ret_reason, r, "reading the pinned BPF LSM version");
		goto out;
	}
	/* Nothing pinned, or a pinning interrupted before its version (no sandbox can use it):
	 * start afresh. */
	if (fs->fs_dir >= 0) {
		close(fs->fs_dir);
		fs->fs_dir = -1;
		if ((r = fs_dir_remove(root_fd)) < 0) {
			set_reason(ret_reason, r, "removing an interrupted BPF LSM pinning");
			goto out;
		}
	}
	if (mkdirat(root_fd, PIN_FS, 0700) < 0 ||
	    (fs->fs_dir = openat(root_fd, PIN_FS, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    mkdirat(fs->fs_dir, PIN_SBX, 0700) < 0) {
		r = set_reason(ret_reason, -errno, fs->root);
		goto out;
	}
	r = fs_load(fs, sandbox_level, fs->fs_dir, ret_reason);
	if (r == 0)
		r = osh_bpf_pin_version_put(fs->fs_dir, &want);
	if (r == 0)
		r = fs_hold(fs, fs->fs_dir);
	if (r < 0) {
		/* The links held here still detach when fs is freed. */
		(void)fs_dir_remove(root_fd);
		if (ret_reason && !*ret_reason)
			set_reason(ret_reason, r, "pinning the BPF LSM version");
	}
out:
	flock(root_fd, LOCK_UN);
	close(root_fd);
	return r;
}

int osh_bpf_fs_open_root(unsigned int sandbox_level, const char *bpffs_root,
			 struct osh_bpf_fs **ret, char **ret_reason)
{
	struct osh_bpf_fs *fs;
	int r;

	if (ret_reason)
		*ret_reason = NULL;
	if ((r = osh_bpf_fs_refused()) < 0)
		return set_reason(ret_reason, r, "the kernel refuses BPF LSM programs");
	fs = fs_new();
	if (!fs)
		return -ENOMEM;
	if (bpffs_root) {
		fs->root = strdup(bpffs_root);
		r = fs->root ? fs_open_pinned(fs, sandbox_level, ret_reason) : -ENOMEM;
	} else {
		r = fs_load(fs, sandbox_level, -1, ret_reason);
	}
	if (r < 0) {
		osh_bpf_fs_free(fs);
		return r;
	}
	*ret = fs;
	return 0;
}

int osh_bpf_fs_open(unsigned int sandbox_level, struct osh_bpf_fs **ret, char **ret_reason)
{
	return osh_bpf_fs_open_root(sandbox_level, NULL, ret, ret_reason);
}

const char *osh_bpf_fs_root(const struct osh_bpf_fs *fs)
{
	return fs->root;
}

void osh_bpf_fs_free(struct osh_bpf_fs *fs)
{
	if (!fs)
		return;
	if (fs->thread_on) {
		uint64_t one = 1;

		if (write(fs->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(fs->thread, NULL);
	}
	if (fs->stop_fd >= 0)
		close(fs->stop_fd);
	ring_buffer__free(fs->rb);
	/* Closes the link descriptors: without pins that detaches the programs; pinned links stay
	 * attached through their pins. */
	for (size_t i = 0; i < MAX_PROGRAMS; i++)
		bpf_link__destroy(fs->links[i]);
	for (size_t i = 0; i < fs->n_held; i++) {
		if (fs->held[i].prog_fd >= 0)
			close(fs->held[i].prog_fd);
		if (fs->held[i].link_fd >= 0)
			close(fs->held[i].link_fd);
	}
	if (fs->rules_fd >= 0)
		close(fs->rules_fd);
	if (fs->events_fd >= 0)
		close(fs->events_fd);
	if (fs->stats_fd >= 0)
		close(fs->stats_fd);
	if (fs->fs_dir >= 0)
		close(fs->fs_dir);
	fs__destroy(fs->skel);
	pthread_mutex_destroy(&fs->lock);
	pthread_mutex_destroy(&fs->consume_lock);
	free(fs->handlers);
	free(fs->root);
	free(fs);
}
static int access_rank(uint32_t access)
{
	return access & OSH_FS_DENY ? 3 : access & OSH_FS_WRITE ? 2 : 1;
}

int osh_bpf_fs_rules_set(struct osh_bpf_fs *fs, uint64_t sandbox,
			 const struct osh_bpf_fs_rule *rules, size_t n, int hard,
			 struct osh_strv *warnings, struct osh_sandbox_error *e)
{
	uint32_t last = OSH_FS_LAST;
	int inner, r = 0;

	/* Without deny rules the first rule a walk meets decides (see OSH_FS_LAST). Any deny
	 * rule, even one whose path is missing now, keeps every walk going to the root. */
	for (size_t i = 0; i < n; i++)
		if (rules[i].value.access & OSH_FS_DENY)
			last = 0;
	if (n > OSH_FS_MAX_INNER)
		return osh_sandbox_error_set(e, E2BIG, "bpf-lsm", NULL, "%zu rules, at most %d", n,
					     OSH_FS_MAX_INNER);
	inner = bpf_map_create(BPF_MAP_TYPE_HASH, "osh_fs_rules", sizeof(struct osh_fs_key),
			       sizeof(struct osh_fs_value), OSH_FS_MAX_INNER, NULL);
	if (inner < 0)
		return osh_sandbox_error_set(e, inner, "bpf-lsm", NULL, "creating the rule map");
	for (size_t i = 0; i < n; i++) {
		struct osh_fs_key key = { 0 };
		struct osh_fs_value old, val = rules[i].value;
		struct stat st;

		val.access |= last;
		if (stat(rules[i].path, &st) < 0) {
			r = -errno;
			if (hard) {
				osh_sandbox_error_set(e, r, "bpf-lsm", rules[i].path, NULL);
				goto out;
			}
			if (warnings && (r = osh_strv_pushf(warnings, "bpf-lsm: skipping %s: %s",
							    rules[i].path, strerror(-r))) < 0) {
				osh_sandbox_error_set(e, r, "bpf-lsm", NULL, NULL);
				goto out;
			}
			continue;
		}
		key.ino = st.st_ino;
		key.dev = osh_bpf_fs_dev(st.st_dev);
		if (bpf_map_lookup_elem(inner, &key, &old) == 0 &&
		    access_rank(old.access) >= access_rank(val.access))
			continue;
		if ((r = bpf_map_update_elem(inner, &key, &val, BPF_ANY)) < 0) {
			osh_sandbox_error_set(e, r, "bpf-lsm", rules[i].path, "adding the rule");
			goto out;
		}
	}
	/* The switch: one update of the outer map. Programs running now keep the inner map
	 * they looked up; the kernel frees the old one after them. */
	r = bpf_map_update_elem(fs->rules_fd, &sandbox, &inner, BPF_ANY);
	if (r < 0)
		osh_sandbox_error_set(e, r, "bpf-lsm", NULL, "installing the rule map");
out:
	close(inner);
	return r;
}

int osh_bpf_fs_rules_remove(struct osh_bpf_fs *fs, uint64_t sandbox)
{
	int r = bpf_map_delete_elem(fs->rules_fd, &sandbox) < 0 ? -errno : 0;

	return r == -ENOENT ? 0 : r;
}

static int event_dispatch(void *ctx, void *data, size_t size)
{
	struct osh_bpf_fs *fs = ctx;
	const struct osh_fs_event *ev = data;
	osh_bpf_fs_event_fn fn;
	void *fn_ctx;

	if (size < sizeof(struct osh_fs_event))
		return 0;
	pthread_mutex_lock(&fs->lock);
	fn = fs->fn;
	fn_ctx = fs->fn_ctx;
	for (size_t i = 0; i < fs->n_handlers; i++)
		if (fs->handlers[i].sandbox == ev->sandbox) {
			fn = fs->handlers[i].fn;
			fn_ctx = fs->handlers[i].ctx;
			break;
		}
	/* Called under the lock: once a receiver is removed, it is never called again. */
	if (fn)
		fn(ev, fn_ctx);
	pthread_mutex_unlock(&fs->lock);
	/* A flood (of any sandbox) keeps ring_buffer__consume going; a flush stops at its deadline
	 * (what it handled stays handled: libbpf has advanced past this event). */
	if (fs->flush_deadline) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > fs->flush_deadline->tv_sec ||
		    (now.tv_sec == fs->flush_deadline->tv_sec &&
		     now.tv_nsec >= fs->flush_deadline->tv_nsec))
			return -ETIMEDOUT;
	}
	return 0;
}

static int ringbuf_ensure(struct osh_bpf_fs *fs)
{
	if (fs->rb)
		return 0;
	fs->rb = ring_buffer__new(fs->events_fd, event_dispatch, fs, NULL);
	return fs->rb ? 0 : (errno ? -errno : -ENOMEM);
}

int osh_bpf_fs_events_poll(struct osh_bpf_fs *fs, int timeout_ms, osh_bpf_fs_event_fn fn, void *ctx)
{
	int r = ringbuf_ensure(fs);

	if (r < 0)
		return r;
	pthread_mutex_lock(&fs->lock);
	fs->fn = fn;
	fs->fn_ctx = ctx;
	pthread_mutex_unlock(&fs->lock);
	return ring_buffer__poll(fs->rb, timeout_ms);
}

static void *event_thread(void *arg)
{
	struct osh_bpf_fs *fs = arg;
	struct pollfd p[2] = {
		{ .fd = ring_buffer__epoll_fd(fs->rb), .events = POLLIN },
		{ .fd = fs->stop_fd, .events = POLLIN },
	};

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		pthread_mutex_lock(&fs->consume_lock);
		ring_buffer__consume(fs->rb);
		pthread_mutex_unlock(&fs->consume_lock);
		if (p[1].revents)
			break;
	}
	return NULL;
}

static int thread_ensure(struct osh_bpf_fs *fs)
{
	sigset_t all, old;
	int r;

	if (fs->thread_on)
		return 0;
	if ((r = ringbuf_ensure(fs)) < 0)
		return r;
	if (fs->stop_fd < 0 && (fs->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0)
		return -errno;
	/* The thread takes no signals: the caller's handlers and sigwait stay as they were. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&fs->thread, NULL, event_thread, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		fs->thread_on = true;
	return r;
}

int osh_bpf_fs_events_start(struct osh_bpf_fs *fs, osh_bpf_fs_event_fn fn, void *ctx)
{
	pthread_mutex_lock(&fs->lock);
	fs->fn = fn;
	fs->fn_ctx = ctx;
	pthread_mutex_unlock(&fs->lock);
	return thread_ensure(fs);
}

int osh_bpf_fs_sandbox_events(struct osh_bpf_fs *fs, uint64_t sandbox, osh_bpf_fs_event_fn fn,
			      void *ctx)
{
	size_t i;
	int r = 0;

	/* A receiver that goes still gets what its sandbox's last moments left in the buffer
	 * (the command has exited; its denials were written before its syscalls returned). */
	if (!fn && fs->thread_on) {
		pthread_mutex_lock(&fs->consume_lock);
		ring_buffer__consume(fs->rb);
		pthread_mutex_unlock(&fs->consume_lock);
	}
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < fs->n_handlers && fs->handlers[i].sandbox != sandbox; i++)
		;
	if (!fn) {
		if (i < fs->n_handlers)
			fs->handlers[i] = fs->handlers[--fs->n_handlers];
	} else if (i < fs->n_handlers) {
		fs->handlers[i] = (struct handler){ sandbox, fn, ctx };
	} else {
		struct handler *v = realloc(fs->handlers, (i + 1) * sizeof(*v));

		if (v) {
			fs->handlers = v;
			fs->handlers[fs->n_handlers++] = (struct handler){ sandbox, fn, ctx };
		} else {
			r = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return r < 0 || !fn ? r : thread_ensure(fs);
}

int osh_bpf_fs_events_flush(struct osh_bpf_fs *fs, const struct timespec *deadline)
{
	int r;

	/* Without the thread no receiver is set, so nothing would be delivered. thread_on is set
	 * before the first receiver's osh_bpf_fs_sandbox_events returns. */
	if (!fs || !fs->thread_on)
		return 0;
	/* Waits for the batch the thread may be delivering, then takes what is left: once the
	 * lock is ours, every event committed before is ours or already delivered. */
	r = -pthread_mutex_clocklock(&fs->consume_lock, CLOCK_MONOTONIC, deadline);
	if (r < 0)
		return r;
	fs->flush_deadline = deadline;
	r = ring_buffer__consume(fs->rb);
	fs->flush_deadline = NULL;
	pthread_mutex_unlock(&fs->consume_lock);
	return r == -ETIMEDOUT ? r : 0;
}

int osh_bpf_fs_stats_get(struct osh_bpf_fs *fs, struct osh_fs_stats *ret)
{
	struct fs__bss bss;
	uint32_t zero = 0;

	/* The .bss map's one value is the whole section. */
	if (bpf_map_lookup_elem(fs->stats_fd, &zero, &bss) < 0)
		return -errno;
	*ret = bss.stats;
	return 0;
}

/* ---- sandboxes under a bpffs root ----------------------------------------------------------- */

/* The sandbox's record: <root>/fs/sandboxes/<name>, its cgroup id. */
static int sbx_path(const char *name, char *buf, size_t size)
{
	if (!name || osh_cgroup_name_check(name) < 0)
		return -EINVAL;
	snprintf(buf, size, PIN_SBX "/%s", name);
	return 0;
}

/* Drops the rules and the record of what is pinned as name (under fs_dir). */
static int sbx_purge(int fs_dir, int rules_fd, const char *path)
{
	uint64_t id;

	if (osh_bpf_pin_u64_get(fs_dir, path, &id) == 0 && rules_fd >= 0)
		(void)bpf_map_delete_elem(rules_fd, &id);
	return unlinkat(fs_dir, path, 0) < 0 && errno != ENOENT ? -errno : 0;
}

int osh_bpf_fs_sandbox_add(struct osh_bpf_fs *fs, const char *name, uint64_t sandbox)
{
	char path[64];
	int r;

	if (!fs->root)
		return 0;
	if ((r = sbx_path(name, path, sizeof(path))) < 0)
		return r;
	/* An earlier cgroup of this name (a daemon that died before destroying it) left these. */
	if ((r = sbx_purge(fs->fs_dir, fs->rules_fd, path)) < 0)
		return r;
	return osh_bpf_pin_u64_put(fs->fs_dir, path, sandbox);
}

int osh_bpf_fs_sandbox_adopt(struct osh_bpf_fs *fs, const char *name, uint64_t sandbox)
{
	char path[64];
	uint64_t id;
	int r;

	if (!fs->root)
		return -EINVAL;
	if ((r = sbx_path(name, path, sizeof(path))) < 0)
		return r;
	r = osh_bpf_pin_u64_get(fs->fs_dir, path, &id);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : r;
	/* The record of an earlier cgroup of the same name is not this sandbox's. */
	return id == sandbox ? 0 : -ENOENT;
}

int osh_bpf_fs_sandbox_remove(struct osh_bpf_fs *fs, const char *name, uint64_t sandbox)
{
	char path[64];
	uint64_t id;
	int r;

	(void)osh_bpf_fs_sandbox_events(fs, sandbox, NULL, NULL);
	r = osh_bpf_fs_rules_remove(fs, sandbox);
	if (!fs->root || sbx_path(name, path, sizeof(path)) < 0)
		return r;
	/* Only our own record: a later sandbox of the same name may have replaced it. */
	if (osh_bpf_pin_u64_get(fs->fs_dir, path, &id) == 0 && id == sandbox &&
	    unlinkat(fs->fs_dir, path, 0) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	return r;
}

/* <root>/fs as a descriptor, or -errno. */
static int fs_dir_open(const char *bpffs_root)
{
	char *path = NULL;
	int fd;

	if (asprintf(&path, "%s/" PIN_FS, bpffs_root) < 0)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(path);
	return fd < 0 ? -errno : fd;
}

int osh_bpf_fs_pinned(const char *bpffs_root, const char *name)
{
	char path[64];
	int dir, r;

	if ((r = sbx_path(name, path, sizeof(path))) < 0)
		return r;
	dir = fs_dir_open(bpffs_root);
	if (dir < 0)
		return dir == -ENOENT ? 0 : dir;
	r = faccessat(dir, path, F_OK, 0) == 0 ? 1 : errno == ENOENT ? 0 : -errno;
	close(dir);
	return r;
}

int osh_bpf_fs_purge(const char *bpffs_root, const char *name)
{
	char path[64];
	int dir, rules, r;

	if ((r = sbx_path(name, path, sizeof(path))) < 0)
		return r;
	dir = fs_dir_open(bpffs_root);
	if (dir < 0)
		return dir == -ENOENT ? 0 : dir;
	/* Any build's pins: the rule map is keyed by cgroup id whatever the programs are. */
	rules = osh_bpf_pin_get(dir, PIN_RULES);
	r = sbx_purge(dir, rules, path);
	if (rules >= 0)
		close(rules);
	close(dir);
	return r;
}

int osh_bpf_fs_pins_check(struct osh_bpf_fs *fs, struct osh_bpf_pin_check *c)
{
	char path[PATH_MAX];
	int root_fd = -1, sbx = -1, r;
	bool quiet;

	if (!fs->root)
		return 0;
	/* The root (not noted: the egress loader's check names what was in it). */
	if (osh_bpf_pin_check_path(c, fs->root, NULL, &root_fd) < 0 || root_fd < 0)
		return c->err;
	flock(root_fd, LOCK_EX);
	snprintf(path, sizeof(path), "%s/" PIN_FS, fs->root);
	r = osh_bpf_pin_check_path(c, path, PIN_FS, &fs->fs_dir);
	if (r < 0 || (r == 1 && !c->repair))
		goto out;
	quiet = r == 1;
	osh_bpf_pin_check_fd(c, fs->fs_dir, PIN_FS, PIN_RULES, fs->rules_fd, quiet);
	osh_bpf_pin_check_fd(c, fs->fs_dir, PIN_FS, PIN_EVENTS, fs->events_fd, quiet);
	osh_bpf_pin_check_fd(c, fs->fs_dir, PIN_FS, PIN_STATS, fs->stats_fd, quiet);
	for (size_t i = 0; i < fs->n_held; i++) {
		char link[NAME_MAX + 8];

		snprintf(link, sizeof(link), LINK_PREFIX "%s", fs->held[i].name);
		osh_bpf_pin_check_fd(c, fs->fs_dir, PIN_FS, fs->held[i].name, fs->held[i].prog_fd,
				     quiet);
		osh_bpf_pin_check_fd(c, fs->fs_dir, PIN_FS, link, fs->held[i].link_fd, quiet);
	}
	(void)osh_bpf_pin_check_dir(c, fs->fs_dir, PIN_FS, PIN_SBX, &sbx);
	if (sbx >= 0)
		close(sbx);
	/* Last, and only over a complete directory: a version says "usable". */
	if (!c->err)
		osh_bpf_pin_check_version(c, fs->fs_dir, PIN_FS, &fs->ver, quiet);
out:
	flock(root_fd, LOCK_UN);
	close(root_fd);
	return c->err;
}

int osh_bpf_fs_sandbox_pins_check(struct osh_bpf_fs *fs, const char *name, uint64_t sandbox,
				  struct osh_bpf_pin_check *c)
{
	int sbx;

	if (!fs->root || !name || osh_cgroup_name_check(name) < 0)
		return 0;
	sbx = openat(fs->fs_dir, PIN_SBX, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sbx < 0) {
		/* osh_bpf_fs_pins_check noted (or could not restore) the directory. */
		if (!c->err && c->repair) {
			c->err = -errno;
			snprintf(c->failed, sizeof(c->failed), PIN_FS "/" PIN_SBX ": %s",
				 strerror(errno));
		}
		return c->err;
	}
	osh_bpf_pin_check_u64(c, sbx, PIN_FS "/" PIN_SBX, name, sandbox, false);
	close(sbx);
	return c->err;
}

int osh_bpf_fs_unpin_if_unused(struct osh_bpf_fs *fs)
{
	int root_fd, r = 0;

	if (!fs->root || fs->fs_dir < 0)
		return 0;
	root_fd = open(fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return errno == ENOENT ? 0 : -errno;
	flock(root_fd, LOCK_EX);
	/* rmdir fails while any sandbox (of any process) has a record. */
	if (unlinkat(fs->fs_dir, PIN_SBX, AT_REMOVEDIR) < 0 && errno != ENOENT) {
		r = errno == ENOTEMPTY ? 0 : -errno;
		goto out;
	}
	r = osh_bpf_pin_dir_remove(root_fd, PIN_FS);
	/* The root goes with the last loader's pins (the egress loader does the same). */
	if (r == 0 && rmdir(fs->root) < 0 && errno != ENOENT && errno != ENOTEMPTY)
		r = -errno;
out:
	flock(root_fd, LOCK_UN);
	close(root_fd);
	return r;
}

const char *osh_fs_op_name(unsigned int op)
{
	static const char *const names[OSH_FS_OP_MAX] = {
		[OSH_FS_OP_OPEN_READ] = "open-read",
		[OSH_FS_OP_OPEN_WRITE] = "open-write",
		[OSH_FS_OP_CREATE] = "create",
		[OSH_FS_OP_MKDIR] = "mkdir",
		[OSH_FS_OP_SYMLINK] = "symlink",
		[OSH_FS_OP_UNLINK] = "unlink",
		[OSH_FS_OP_RMDIR] = "rmdir",
		[OSH_FS_OP_LINK] = "link",
		[OSH_FS_OP_RENAME] = "rename",
		[OSH_FS_OP_TRUNCATE] = "truncate",
		[OSH_FS_OP_CHMOD] = "chmod",
		[OSH_FS_OP_CHOWN] = "chown",
		[OSH_FS_OP_SOCKET] = "socket",
		[OSH_FS_OP_PTRACE] = "ptrace",
		[OSH_FS_OP_BPF] = "bpf",
		[OSH_FS_OP_MOUNT] = "mount",
		[OSH_FS_OP_USERNS] = "userns",
	};

	return op < OSH_FS_OP_MAX && names[op] ? names[op] : "unknown";
}

const char *osh_fs_reason_name(unsigned int reason)
{
	switch (reason) {
	case OSH_FS_REASON_NO_RULE:
		return "outside every allowed path";
	case OSH_FS_REASON_DENY:
		return "deny rule";
	case OSH_FS_REASON_READ_ONLY:
		return "read-only";
	case OSH_FS_REASON_TOO_DEEP:
		return "path deeper than the walk limit";
	case OSH_FS_REASON_ESCALATE:
		return "would gain access by the new name";
	case OSH_FS_REASON_FORBIDDEN:
		return "forbidden in sandboxes";
	default:
		return "unknown";
	}
}

int osh_fs_event_format(const struct osh_fs_event *ev, char **ret_text)
{
	char comm[OSH_FS_COMM_MAX + 1], name[OSH_FS_NAME_MAX + 1], rule[32] = "";
	int r;

	memcpy(comm, ev->comm, OSH_FS_COMM_MAX);
	comm[OSH_FS_COMM_MAX] = '\0';
	memcpy(name, ev->name, OSH_FS_NAME_MAX);
	name[OSH_FS_NAME_MAX] = '\0';
	if (ev->rule != OSH_FS_NO_RULE)
		snprintf(rule, sizeof(rule), " #%u", ev->rule);
	if (ev->op >= OSH_FS_OP_SOCKET)
		r = asprintf(ret_text, "denied %s (arg %u): %s; pid %u uid %u comm %s",
			     osh_fs_op_name(ev->op), ev->arg, osh_fs_reason_name(ev->reason),
			     ev->pid, ev->uid, comm);
	else
		r = asprintf(ret_text,
			     "denied %s of '%s' (ino %llu dev %u:%u): %s%s; pid %u uid %u comm %s",
			     osh_fs_op_name(ev->op), name, (unsigned long long)ev->ino,
			     ev->dev >> 20, ev->dev & 0xfffff, osh_fs_reason_name(ev->reason), rule,
			     ev->pid, ev->uid, comm);
	return r < 0 ? -ENOMEM : 0;
}
