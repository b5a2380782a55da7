// SPDX-License-Identifier: Apache-2.0
// Loader of the BPF LSM filesystem programs (bpf/fs.bpf.c): load with the hooks this kernel has,
// attach, install and swap per-sandbox rule maps, and pump denial events (see bpf-fs.h).
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bpf-fs.h"
#include "fs.skel.h"

_Static_assert(sizeof(struct osh_fs_key) == 16, "osh_fs_key ABI");
_Static_assert(sizeof(struct osh_fs_value) == 8, "osh_fs_value ABI");
_Static_assert(sizeof(struct osh_fs_event) == 120, "osh_fs_event ABI");
_Static_assert(sizeof(struct osh_fs_stats) == 24, "osh_fs_stats ABI");

struct osh_bpf_fs {
	struct fs *skel;
	struct ring_buffer *rb;
	osh_bpf_fs_event_fn fn;
	void *fn_ctx;
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
	if (ret_reason && asprintf(ret_reason, "%s: %s", what, strerror(-r)) < 0)
		*ret_reason = NULL;
	return r;
}

int osh_bpf_fs_open(unsigned int sandbox_level, struct osh_bpf_fs **ret, char **ret_reason)
{
	libbpf_print_fn_t old_print;
	struct osh_bpf_fs *fs;
	struct btf *vmlinux;
	int r, bpf_id;

	if (ret_reason)
		*ret_reason = NULL;
	if ((r = osh_bpf_fs_refused()) < 0)
		return set_reason(ret_reason, r, "the kernel refuses BPF LSM programs");
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->stop_fd = -1;
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		r = errno ? -errno : -ENOENT;
		set_reason(ret_reason, r, "no kernel BTF (/sys/kernel/btf/vmlinux)");
		goto fail;
	}
	old_print = libbpf_set_print(libbpf_print_none);
	fs->skel = fs__open();
	libbpf_set_print(old_print);
	if (!fs->skel) {
		r = errno ? -errno : -ENOMEM;
		btf__free(vmlinux);
		set_reason(ret_reason, r, "opening the fs programs");
		goto fail;
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
	if (r == 0)
		r = fs__attach(fs->skel);
	libbpf_set_print(old_print);
	if (r < 0) {
		set_reason(ret_reason, r, "loading the BPF LSM fs programs");
		goto fail;
	}
	*ret = fs;
	return 0;
fail:
	osh_bpf_fs_free(fs);
	return r;
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
	fs__destroy(fs->skel);
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
	int inner, r = 0;

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
	r = bpf_map_update_elem(bpf_map__fd(fs->skel->maps.osh_fs_sbx), &sandbox, &inner, BPF_ANY);
	if (r < 0)
		osh_sandbox_error_set(e, r, "bpf-lsm", NULL, "installing the rule map");
out:
	close(inner);
	return r;
}

int osh_bpf_fs_rules_remove(struct osh_bpf_fs *fs, uint64_t sandbox)
{
	int r = bpf_map_delete_elem(bpf_map__fd(fs->skel->maps.osh_fs_sbx), &sandbox);

	return r == -ENOENT ? 0 : r;
}

static int event_dispatch(void *ctx, void *data, size_t size)
{
	struct osh_bpf_fs *fs = ctx;

	if (size < sizeof(struct osh_fs_event) || !fs->fn)
		return 0;
	fs->fn(data, fs->fn_ctx);
	return 0;
}

static int ringbuf_ensure(struct osh_bpf_fs *fs)
{
	if (fs->rb)
		return 0;
	fs->rb =
	    ring_buffer__new(bpf_map__fd(fs->skel->maps.osh_fs_events), event_dispatch, fs, NULL);
	return fs->rb ? 0 : (errno ? -errno : -ENOMEM);
}

int osh_bpf_fs_events_poll(struct osh_bpf_fs *fs, int timeout_ms, osh_bpf_fs_event_fn fn, void *ctx)
{
	int r = ringbuf_ensure(fs);

	if (r < 0)
		return r;
	fs->fn = fn;
	fs->fn_ctx = ctx;
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
		ring_buffer__consume(fs->rb);
		if (p[1].revents)
			break;
	}
	return NULL;
}

int osh_bpf_fs_events_start(struct osh_bpf_fs *fs, osh_bpf_fs_event_fn fn, void *ctx)
{
	int r;

	if (fs->thread_on)
		return -EBUSY;
	if ((r = ringbuf_ensure(fs)) < 0)
		return r;
	fs->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (fs->stop_fd < 0)
		return -errno;
	fs->fn = fn;
	fs->fn_ctx = ctx;
	r = pthread_create(&fs->thread, NULL, event_thread, fs);
	if (r)
		return -r;
	fs->thread_on = true;
	return 0;
}

int osh_bpf_fs_stats_get(struct osh_bpf_fs *fs, struct osh_fs_stats *ret)
{
	if (!fs->skel->bss)
		return -ENODATA;
	*ret = *(volatile struct osh_fs_stats *)&fs->skel->bss->stats;
	return 0;
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
