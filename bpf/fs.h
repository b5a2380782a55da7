/* SPDX-License-Identifier: Apache-2.0 */
/* Filesystem ABI shared by bpf/ programs and userspace: the rule entries the policy compiler
 * produces from filesystem_policy. Plain data only; userspace checks the sizes. */
#ifndef OSH_BPF_FS_H
#define OSH_BPF_FS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define OSH_FS_MAX_RULES 260 /* 256 policy paths + workdir and runner additions */

/* Access a rule grants. A path's effective access is that of its deepest ancestor with a rule,
 * except that OSH_FS_DENY anywhere on the ancestry wins (deny paths inside allowed trees).
 * OSH_FS_LAST is no access: the loader adds it to every rule of a rule set without deny rules,
 * where the first rule a walk meets decides and the walk stops there. */
enum osh_fs_access {
	OSH_FS_READ = 1,
	OSH_FS_WRITE = 2,
	OSH_FS_DENY = 4,
	OSH_FS_LAST = 8,
};

enum osh_fs_rule_kind {
	OSH_FS_RULE_READ_ONLY = 1,
	OSH_FS_RULE_READ_WRITE = 2,
	OSH_FS_RULE_DENY = 3,
	OSH_FS_RULE_WORKDIR = 4,
};

/* The loader resolves each rule's path to inode+device. */
struct osh_fs_key {
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

struct osh_fs_value {
	__u32 access; /* enum osh_fs_access bits */
	__u16 kind;   /* enum osh_fs_rule_kind */
	__u16 index;  /* position in the compiled rule list, for denial messages */
};

/* ---- BPF LSM enforcement (bpf/fs.bpf.c, loader userspace/bpf-fs.c) ---------------------------
 * One inner hash map {osh_fs_key -> osh_fs_value} per sandbox, reached through the outer
 * hash-of-maps keyed by the sandbox cgroup id: a reload builds a fresh inner map and swaps the
 * outer entry, so one access sees the old rule set or the new one, never a mix. */
#define OSH_FS_MAX_INNER     (2 * OSH_FS_MAX_RULES) /* rules + several names of one inode */
#define OSH_FS_MAX_SANDBOXES 1024
#define OSH_FS_MAX_DEPTH     64 /* dentry levels walked; deeper is denied and counted */
#define OSH_FS_NAME_MAX	     64 /* last path component carried in an event */
#define OSH_FS_COMM_MAX	     16
#define OSH_FS_NO_RULE	     0xffff

/* What a denied process tried. */
enum osh_fs_op {
	OSH_FS_OP_OPEN_READ = 1,
	OSH_FS_OP_OPEN_WRITE = 2,
	OSH_FS_OP_CREATE = 3, /* mknod, O_CREAT */
	OSH_FS_OP_MKDIR = 4,
	OSH_FS_OP_SYMLINK = 5,
	OSH_FS_OP_UNLINK = 6,
	OSH_FS_OP_RMDIR = 7,
	OSH_FS_OP_LINK = 8,
	OSH_FS_OP_RENAME = 9,
	OSH_FS_OP_TRUNCATE = 10,
	OSH_FS_OP_CHMOD = 11,
	OSH_FS_OP_CHOWN = 12,
	OSH_FS_OP_SOCKET = 13, /* arg: address family */
	OSH_FS_OP_PTRACE = 14, /* arg: ptrace mode */
	OSH_FS_OP_BPF = 15,    /* arg: bpf command */
	OSH_FS_OP_MOUNT = 16,
	OSH_FS_OP_USERNS = 17,
	OSH_FS_OP_MAX = 18,
};

/* Why it was denied. */
enum osh_fs_reason {
	OSH_FS_REASON_NO_RULE = 1,   /* no rule on the path: outside every allowed tree */
	OSH_FS_REASON_DENY = 2,	     /* a deny rule on the path */
	OSH_FS_REASON_READ_ONLY = 3, /* write to a read-only tree */
	OSH_FS_REASON_TOO_DEEP = 4,  /* more than OSH_FS_MAX_DEPTH levels */
	OSH_FS_REASON_ESCALATE = 5,  /* link/rename would give the file more access */
	OSH_FS_REASON_FORBIDDEN = 6, /* a non-filesystem operation no sandbox may do */
};

/* One denial, as the ring buffer carries it. */
struct osh_fs_event {
	__u64 sandbox; /* sandbox cgroup id */
	__u64 ino;     /* the file the walk started from (0 for non-file operations) */
	__u32 dev;     /* kernel dev_t: major << 20 | minor */
	__u32 pid;     /* tgid */
	__u32 uid;
	__u32 arg;    /* op-specific: socket family, ptrace mode, bpf command */
	__u16 op;     /* enum osh_fs_op */
	__u16 reason; /* enum osh_fs_reason */
	__u16 rule;   /* index of the deciding rule, OSH_FS_NO_RULE if none */
	__u16 pad;
	char comm[OSH_FS_COMM_MAX];
	char name[OSH_FS_NAME_MAX]; /* last component of the path */
};

/* Counters the programs keep in their .bss (read by the loader). */
struct osh_fs_stats {
	__u64 denials;
	__u64 events_dropped; /* ring buffer full */
	__u64 too_deep;
};

#endif
