// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0-only)
/* BPF LSM filesystem enforcement for sandboxes: file_open and the path_* write hooks check the
 * sandbox's rules (inode+device of the rule roots) by walking the dentry parents across mounts;
 * socket_create, ptrace, bpf, sb_mount and userns_create refuse what no sandbox may do. Every
 * denial goes to the ring buffer. Global programs, state keyed by sandbox cgroup id. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "fs.h"

#define EPERM  1
#define EACCES 13
#define EXDEV  18

/* include/linux/fs.h; not in BTF. Stable across the kernels osh supports. */
#define FMODE_READ  0x1
#define FMODE_WRITE 0x2
#define FMODE_EXEC  0x20
#define SB_NOUSER   (1U << 31)
#define S_PRIVATE   (1U << 9)

#define PTRACE_MODE_ATTACH 0x02
#define AF_NETLINK	   16
#define AF_PACKET	   17
#define AF_BLUETOOTH	   31
#define AF_ALG		   38
#define AF_VSOCK	   40

/* Depth of the sandbox cgroups below the cgroup2 root (<root>/osh/<name> = 2). */
const volatile __u32 sandbox_level = 2;

struct osh_fs_stats stats = {};

/* Hook argument i as a plain number: the verifier types a pointer argument as a kernel object,
 * which the global walk function cannot take; read through probe_read it is a scalar. */
#define ARG_SCALAR(i)                                                                              \
	({                                                                                         \
		__u64 __v = 0;                                                                     \
		bpf_probe_read_kernel(&__v, sizeof(__v), &ctx[i]);                                 \
		__v;                                                                               \
	})

struct fs_rules {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OSH_FS_MAX_INNER);
	/* sizes, not types: the inner definition is only reached through a pointer, so clang
	 * would emit the key struct as a forward declaration without a size */
	__uint(key_size, sizeof(struct osh_fs_key));
	__uint(value_size, sizeof(struct osh_fs_value));
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, OSH_FS_MAX_SANDBOXES);
	__type(key, __u64);
	__array(values, struct fs_rules);
} osh_fs_sbx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} osh_fs_events SEC(".maps");

/* The rules of the sandbox the current task belongs to (by cgroup ancestry, so a sub-cgroup
 * stays governed), or NULL when it is in no sandbox of ours. */
static __always_inline void *fs_rules_get(__u64 *ret_sandbox)
{
	__u64 id = bpf_get_current_ancestor_cgroup_id(sandbox_level);

	*ret_sandbox = id;
	if (!id)
		return NULL;
	return bpf_map_lookup_elem(&osh_fs_sbx, &id);
}

static __always_inline void fs_event(__u64 sandbox, struct dentry *d, __u16 op, __u16 reason,
				     __u16 rule, __u32 arg)
{
	struct osh_fs_event *ev;

	__sync_fetch_and_add(&stats.denials, 1);
	ev = bpf_ringbuf_reserve(&osh_fs_events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&stats.events_dropped, 1);
		return;
	}
	ev->sandbox = sandbox;
	ev->pid = bpf_get_current_pid_tgid() >> 32;
	ev->uid = (__u32)bpf_get_current_uid_gid();
	ev->op = op;
	ev->reason = reason;
	ev->rule = rule;
	ev->arg = arg;
	ev->pad = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ev->ino = 0;
	ev->dev = 0;
	ev->name[0] = '\0';
	if (d) {
		const unsigned char *name = BPF_CORE_READ(d, d_name.name);

		ev->ino = BPF_CORE_READ(d, d_inode, i_ino);
		ev->dev = BPF_CORE_READ(d, d_sb, s_dev);
		bpf_probe_read_kernel_str(ev->name, sizeof(ev->name), name);
	}
	bpf_ringbuf_submit(ev, 0);
}

/* Reads size bytes of the kernel object at addr (a scalar: see fs_walk). */
static __always_inline long kread(void *dst, __u32 size, __u64 addr)
{
	// NOLINTNEXTLINE(performance-no-int-to-ptr): a kernel address, read through probe_read
	return bpf_probe_read_kernel(dst, size, (const void *)addr);
}

struct walk {
	__u32 access; /* of the deepest rule on the path; OSH_FS_DENY if any rule denies */
	__u16 rule;
	__u16 reason; /* set when the walk itself decides: deny rule, too deep */
};

/* Bytes read at once from the start of a dentry or a struct mount: the fields the walk needs
 * lie in their first 64 (dentry: d_parent 24, d_inode 48; mount: mnt_parent 16 up to
 * mnt.mnt_sb 40 on 6.1 and 6.18). One bpf_probe_read_kernel of 64 bytes costs about what one
 * of 8 does: it is the helper call that costs, so the walk makes as few as it can. */
#define WALK_BLOCK     64
#define BLOCK_HAS(off) ((off) <= WALK_BLOCK - 8 && !((off)&7))
/* The field at CO-RE byte offset off of a block read from the object's start. The offset is a
 * relocated constant, so the verifier sees a fixed stack slot. */
#define BLOCK_AT(blk, off) ((blk)[(off) / 8])

/* d's parent and inode, with one read where the layout allows (every kernel osh supports). */
static __always_inline void dentry_step(__u64 d, __u64 *parent, __u64 *inode)
{
	__u64 op = bpf_core_field_offset(struct dentry, d_parent);
	__u64 oi = bpf_core_field_offset(struct dentry, d_inode);
	__u64 blk[WALK_BLOCK / 8];

	if (BLOCK_HAS(op) && BLOCK_HAS(oi) && kread(blk, sizeof(blk), d) == 0) {
		*parent = BLOCK_AT(blk, op);
		*inode = BLOCK_AT(blk, oi);
		return;
	}
	*parent = *inode = 0;
	kread(parent, sizeof(*parent), d + op);
	kread(inode, sizeof(*inode), d + oi);
}

/* What the walk needs of a mount, read once per mount rather than once per level: its parent,
 * mountpoint and root, and the device of its superblock (every dentry reached through the
 * mount belongs to that superblock, so this is each level's d->d_sb->s_dev). */
struct walk_mount {
	__u64 parent, mountpoint, root;
	__u32 dev;
};

static __always_inline void mount_read(__u64 mnt, struct walk_mount *m)
{
	__u64 op = bpf_core_field_offset(struct mount, mnt_parent);
	__u64 omp = bpf_core_field_offset(struct mount, mnt_mountpoint);
	__u64 om = bpf_core_field_offset(struct mount, mnt);
	__u64 ort = om + bpf_core_field_offset(struct vfsmount, mnt_root);
	__u64 osb = om + bpf_core_field_offset(struct vfsmount, mnt_sb);
	__u64 blk[WALK_BLOCK / 8];
	__u64 sb = 0;

	m->dev = 0;
	if (BLOCK_HAS(op) && BLOCK_HAS(omp) && BLOCK_HAS(ort) && BLOCK_HAS(osb) &&
	    kread(blk, sizeof(blk), mnt) == 0) {
		m->parent = BLOCK_AT(blk, op);
		m->mountpoint = BLOCK_AT(blk, omp);
		m->root = BLOCK_AT(blk, ort);
		sb = BLOCK_AT(blk, osb);
	} else {
		m->parent = m->mountpoint = m->root = 0;
		kread(&m->parent, sizeof(m->parent), mnt + op);
		kread(&m->mountpoint, sizeof(m->mountpoint), mnt + omp);
		kread(&m->root, sizeof(m->root), mnt + ort);
		kread(&sb, sizeof(sb), mnt + osb);
	}
	kread(&m->dev, sizeof(m->dev), sb + bpf_core_field_offset(struct super_block, s_dev));
}

/* Walks from d up to the root of the namespace-independent tree, crossing into the parent
 * mount at each mount root (struct mount is the container of the vfsmount), and looks every
 * {inode, device} up in the sandbox's rules. The deepest rule decides between read-only and
 * read-write; a deny rule anywhere on the way wins (a deny path inside an allowed tree), so the
 * walk goes on past the first rule unless that rule says no deny rule can come (OSH_FS_LAST).
 * Pointers are read with CO-RE (probe_read) so the same object runs on 6.1 and 6.18.
 *
 * Per level it costs two reads (the dentry's parent and inode together, the inode's number)
 * and one lookup; the mount's root, parent, mountpoint and device are read once per mount.
 *
 * A global function: the verifier checks it once, not once per caller (16 call sites, each
 * with a 64-step loop, took 13 s to verify under qemu TCG). Its arguments are therefore
 * scalars, and it looks the sandbox's inner map up itself; the result lives in *w (memory,
 * not registers) so the loop's verifier states stay few. Returns 0, or -1 when the sandbox
 * has no rules (any more: a concurrent removal). */
__attribute__((noinline)) int fs_walk(__u64 sandbox, __u64 vmnt, __u64 dentry, struct walk *w)
{
	/* The scalars are kernel addresses, only ever read through kread. */
	__u64 d = dentry, mnt = vmnt - bpf_core_field_offset(struct mount, mnt);
	__u64 ino_off = bpf_core_field_offset(struct inode, i_ino);
	struct walk_mount m;
	void *rules;

	if (!w)
		return -1;
	w->access = 0;
	w->rule = OSH_FS_NO_RULE;
	w->reason = OSH_FS_REASON_NO_RULE;
	rules = bpf_map_lookup_elem(&osh_fs_sbx, &sandbox);
	if (!rules)
		return -1;
	mount_read(mnt, &m);
	for (int i = 0; i < OSH_FS_MAX_DEPTH; i++) {
		struct osh_fs_key key = {};
		struct osh_fs_value *v;
		__u64 parent, inode;

		dentry_step(d, &parent, &inode);
		if (inode) {
			kread(&key.ino, sizeof(key.ino), inode + ino_off);
			key.dev = m.dev;
			v = bpf_map_lookup_elem(rules, &key);
			if (v) {
				if (v->access & OSH_FS_DENY) {
					w->access = OSH_FS_DENY;
					w->rule = v->index;
					w->reason = OSH_FS_REASON_DENY;
					return 0;
				}
				if (w->rule == OSH_FS_NO_RULE) {
					w->access = v->access & (OSH_FS_READ | OSH_FS_WRITE);
					w->rule = v->index;
					if (v->access & OSH_FS_LAST)
						return 0;
				}
			}
		}
		if (d == m.root) {
			if (m.parent == mnt)
				return 0;
			/* The mountpoint's own inode is looked up too: a rule on a directory
			 * that something was mounted over later still applies. */
			d = m.mountpoint;
			mnt = m.parent;
			mount_read(mnt, &m);
			continue;
		}
		if (parent == d)
			return 0;
		d = parent;
	}
	__sync_fetch_and_add(&stats.too_deep, 1);
	w->access = OSH_FS_DENY;
	w->rule = OSH_FS_NO_RULE;
	w->reason = OSH_FS_REASON_TOO_DEEP;
	return 0;
}

/* 0 when the walk from d grants every bit of need, else -EACCES and an event. */
static __always_inline int fs_check(void *rules, __u64 sandbox, struct vfsmount *mnt,
				    struct dentry *d, __u32 need, __u16 op, struct dentry *report)
{
	struct walk w;

	if (fs_walk(sandbox, (__u64)mnt, (__u64)d, &w) < 0)
		return 0;
	if (!(w.access & OSH_FS_DENY) && (w.access & need) == need)
		return 0;
	if (w.reason == OSH_FS_REASON_NO_RULE && w.rule != OSH_FS_NO_RULE)
		w.reason = OSH_FS_REASON_READ_ONLY;
	fs_event(sandbox, report ? report : d, op, w.reason, w.rule, 0);
	return -EACCES;
}

/* Internal filesystems (pipes, sockets, anonymous inodes) have no path a policy could name;
 * Landlock skips them the same way. Direct (BTF) loads from the hook's own argument: no helper
 * calls on the path every open takes. */
static __always_inline bool fs_is_private(struct file *file)
{
	struct dentry *d = file->f_path.dentry;
	struct inode *inode = d->d_inode;

	if (d->d_sb->s_flags & SB_NOUSER)
		return true;
	return inode && (inode->i_flags & S_PRIVATE);
}

SEC("lsm/file_open")
int BPF_PROG(osh_fs_file_open, struct file *file, int ret)
{
	struct path p = {};
	void *rules;
	__u64 sandbox;
	__u32 mode, need = 0;

	/* A BPF LSM program before this one refused: keep its verdict (systemd restrict-fs). */
	if (ret)
		return ret;
	rules = fs_rules_get(&sandbox);
	if (!rules)
		return 0;
	if (fs_is_private(file))
		return 0;
	mode = file->f_mode;
	if (mode & FMODE_WRITE)
		need |= OSH_FS_WRITE;
	/* An open for neither (O_WRONLY|O_RDWR, ioctl only) still reveals the file. */
	if ((mode & (FMODE_READ | FMODE_EXEC)) || !need)
		need |= OSH_FS_READ;
	/* The walk takes scalars (see fs_walk): mount and dentry in one read. */
	bpf_core_read(&p, sizeof(p), &file->f_path);
	return fs_check(rules, sandbox, p.mnt, p.dentry, need,
			(need & OSH_FS_WRITE) ? OSH_FS_OP_OPEN_WRITE : OSH_FS_OP_OPEN_READ, NULL);
}

/* Creating an entry needs write access to the directory it goes in. */
static __always_inline int fs_create(const struct path *dir, struct dentry *dentry, __u16 op)
{
	void *rules;
	__u64 sandbox;

	rules = fs_rules_get(&sandbox);
	if (!rules)
		return 0;
	return fs_check(rules, sandbox, BPF_CORE_READ(dir, mnt), BPF_CORE_READ(dir, dentry),
			OSH_FS_WRITE, op, dentry);
}

/* Removing or changing an entry needs write access to the entry itself (so a deny or read-only
 * rule on that very file counts), which includes its directory on the walk. */
static __always_inline int fs_modify(struct vfsmount *mnt, __u64 dentry, __u16 op)
{
	void *rules;
	__u64 sandbox;

	rules = fs_rules_get(&sandbox);
	if (!rules)
		return 0;
	// NOLINTNEXTLINE(performance-no-int-to-ptr): a kernel address, read through probe_read
	return fs_check(rules, sandbox, mnt, (struct dentry *)dentry, OSH_FS_WRITE, op, NULL);
}

SEC("lsm/path_mknod")
int BPF_PROG(osh_fs_path_mknod, const struct path *dir, struct dentry *dentry, umode_t mode,
	     unsigned int dev, int ret)
{
	return ret ? ret : fs_create(dir, dentry, OSH_FS_OP_CREATE);
}

SEC("lsm/path_mkdir")
int BPF_PROG(osh_fs_path_mkdir, const struct path *dir, struct dentry *dentry, umode_t mode,
	     int ret)
{
	return ret ? ret : fs_create(dir, dentry, OSH_FS_OP_MKDIR);
}

SEC("lsm/path_symlink")
int BPF_PROG(osh_fs_path_symlink, const struct path *dir, struct dentry *dentry,
	     const char *old_name, int ret)
{
	return ret ? ret : fs_create(dir, dentry, OSH_FS_OP_SYMLINK);
}

SEC("lsm/path_unlink")
int BPF_PROG(osh_fs_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
	return ret ? ret : fs_modify(BPF_CORE_READ(dir, mnt), ARG_SCALAR(1), OSH_FS_OP_UNLINK);
}

SEC("lsm/path_rmdir")
int BPF_PROG(osh_fs_path_rmdir, const struct path *dir, struct dentry *dentry, int ret)
{
	return ret ? ret : fs_modify(BPF_CORE_READ(dir, mnt), ARG_SCALAR(1), OSH_FS_OP_RMDIR);
}

SEC("lsm/path_truncate")
int BPF_PROG(osh_fs_path_truncate, const struct path *path, int ret)
{
	return ret ? ret
		   : fs_modify(BPF_CORE_READ(path, mnt), (__u64)BPF_CORE_READ(path, dentry),
			       OSH_FS_OP_TRUNCATE);
}

/* 6.2+: ftruncate() and open(O_TRUNC) come here instead of path_truncate. Optional: the loader
 * turns it off where the kernel lacks the hook. */
SEC("lsm/file_truncate")
int BPF_PROG(osh_fs_file_truncate, struct file *file, int ret)
{
	return ret ? ret
		   : fs_modify(BPF_CORE_READ(file, f_path.mnt),
			       (__u64)BPF_CORE_READ(file, f_path.dentry), OSH_FS_OP_TRUNCATE);
}

SEC("lsm/path_chmod")
int BPF_PROG(osh_fs_path_chmod, const struct path *path, umode_t mode, int ret)
{
	return ret ? ret
		   : fs_modify(BPF_CORE_READ(path, mnt), (__u64)BPF_CORE_READ(path, dentry),
			       OSH_FS_OP_CHMOD);
}

SEC("lsm/path_chown")
int BPF_PROG(osh_fs_path_chown, const struct path *path, __u64 uid, __u64 gid, int ret)
{
	return ret ? ret
		   : fs_modify(BPF_CORE_READ(path, mnt), (__u64)BPF_CORE_READ(path, dentry),
			       OSH_FS_OP_CHOWN);
}

/* A new name for a file must not give it more access than it has where it is: the
 * destination's access must be a subset of the source's (Landlock's REFER rule), and the
 * destination needs write access. Otherwise a read-only or denied file could be linked or moved into a writable
 * tree and reached from there. */
static __always_inline int fs_relink(__u64 sandbox, struct vfsmount *old_mnt, __u64 old_d,
				     struct vfsmount *new_mnt, __u64 new_d, __u32 need_old,
				     __u16 op)
{
	// NOLINTNEXTLINE(performance-no-int-to-ptr): kernel addresses, read through probe_read
	struct dentry *old = (struct dentry *)old_d, *new_walk = (struct dentry *)new_d;
	struct walk src, dst;

	if (fs_walk(sandbox, (__u64)old_mnt, old_d, &src) < 0 ||
	    fs_walk(sandbox, (__u64)new_mnt, new_d, &dst) < 0)
		return 0;
	if (src.access & OSH_FS_DENY || (src.access & need_old) != need_old || !src.access) {
		fs_event(sandbox, old, op,
			 src.reason == OSH_FS_REASON_NO_RULE && src.rule != OSH_FS_NO_RULE
			     ? OSH_FS_REASON_READ_ONLY
			     : src.reason,
			 src.rule, 0);
		return -EACCES;
	}
	if (dst.access & OSH_FS_DENY || !(dst.access & OSH_FS_WRITE)) {
		fs_event(sandbox, new_walk, op,
			 dst.reason == OSH_FS_REASON_NO_RULE && dst.rule != OSH_FS_NO_RULE
			     ? OSH_FS_REASON_READ_ONLY
			     : dst.reason,
			 dst.rule, 0);
		return -EACCES;
	}
	if (dst.access & ~src.access) {
		fs_event(sandbox, old, op, OSH_FS_REASON_ESCALATE, dst.rule, 0);
		return -EXDEV; /* like Landlock: mv then falls back to copy + unlink */
	}
	return 0;
}

SEC("lsm/path_link")
int BPF_PROG(osh_fs_path_link, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry, int ret)
{
	struct vfsmount *mnt;
	void *rules;
	__u64 sandbox;

	if (ret)
		return ret;
	rules = fs_rules_get(&sandbox);
	if (!rules)
		return 0;
	/* link() never crosses mounts: the source is on new_dir's mount. */
	mnt = BPF_CORE_READ(new_dir, mnt);
	return fs_relink(sandbox, mnt, ARG_SCALAR(0), mnt, (__u64)BPF_CORE_READ(new_dir, dentry),
			 OSH_FS_READ, OSH_FS_OP_LINK);
}

SEC("lsm/path_rename")
int BPF_PROG(osh_fs_path_rename, const struct path *old_dir, struct dentry *old_dentry,
	     const struct path *new_dir, struct dentry *new_dentry, unsigned int flags, int ret)
{
	struct vfsmount *mnt;
	__u64 old_d, new_d, target;
	void *rules;
	__u64 sandbox;
	int r;

	if (ret)
		return ret;
	rules = fs_rules_get(&sandbox);
	if (!rules)
		return 0;
	mnt = BPF_CORE_READ(old_dir, mnt);
	/* An existing target is replaced (or exchanged): the walk starts at it, so a rule on
	 * that very file counts; else at the new directory. */
	old_d = ARG_SCALAR(1);
	new_d = ARG_SCALAR(3);
	target = BPF_CORE_READ(new_dentry, d_inode) ? new_d : (__u64)BPF_CORE_READ(new_dir, dentry);
	r = fs_relink(sandbox, mnt, old_d, mnt, target, OSH_FS_WRITE, OSH_FS_OP_RENAME);
	if (r || !(flags & 2 /* RENAME_EXCHANGE */))
		return r;
	return fs_relink(sandbox, mnt, new_d, mnt, old_d, OSH_FS_WRITE, OSH_FS_OP_RENAME);
}

/* ---- operations no sandbox may do (seccomp refuses them too; this is the kernel-side
 * backstop that also sees io_uring or an older syscall variant) -------------------------------- */

static __always_inline int forbid(__u16 op, __u32 arg)
{
	__u64 sandbox;

	if (!fs_rules_get(&sandbox))
		return 0;
	fs_event(sandbox, NULL, op, OSH_FS_REASON_FORBIDDEN, OSH_FS_NO_RULE, arg);
	return -EPERM;
}

SEC("lsm/socket_create")
int BPF_PROG(osh_fs_socket_create, int family, int type, int protocol, int kern, int ret)
{
	if (ret || kern)
		return ret;
	switch (family) {
	case AF_PACKET:
	case AF_VSOCK:
	case AF_ALG:
	case AF_BLUETOOTH:
		return forbid(OSH_FS_OP_SOCKET, (__u32)family);
	case AF_NETLINK:
		return protocol == 0 /* NETLINK_ROUTE */ ? 0 : forbid(OSH_FS_OP_SOCKET, AF_NETLINK);
	default:
		return 0;
	}
}

/* Attaching (ptrace, process_vm_*) is refused; read-mode checks (/proc/PID/...) are left to
 * Landlock's domain rule, which already confines them to the sandbox. */
SEC("lsm/ptrace_access_check")
int BPF_PROG(osh_fs_ptrace, struct task_struct *child, unsigned int mode, int ret)
{
	if (ret || !(mode & PTRACE_MODE_ATTACH))
		return ret;
	return forbid(OSH_FS_OP_PTRACE, mode);
}

/* The bpf hook has 3 arguments up to 6.x and a 4th (bool kernel) on newer kernels, which moves
 * `ret`: two programs, and the loader loads the one that matches the kernel's BTF. */
SEC("lsm/bpf")
int BPF_PROG(osh_fs_bpf, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	return ret ? ret : forbid(OSH_FS_OP_BPF, (__u32)cmd);
}

SEC("lsm/bpf")
int BPF_PROG(osh_fs_bpf_k, int cmd, union bpf_attr *attr, unsigned int size, bool kernel, int ret)
{
	/* kernel: the kernel's own use (light skeletons, preload) */
	return ret || kernel ? ret : forbid(OSH_FS_OP_BPF, (__u32)cmd);
}

SEC("lsm/sb_mount")
int BPF_PROG(osh_fs_sb_mount, const char *dev_name, const struct path *path, const char *type,
	     unsigned long flags, void *data, int ret)
{
	return ret ? ret : forbid(OSH_FS_OP_MOUNT, 0);
}

SEC("lsm/userns_create")
int BPF_PROG(osh_fs_userns_create, const struct cred *cred, int ret)
{
	return ret ? ret : forbid(OSH_FS_OP_USERNS, 0);
}

/* The kernel attaches LSM programs only with a GPL-compatible license. */
char LICENSE[] SEC("license") = "GPL";
