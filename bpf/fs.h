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
 * except that OSH_FS_DENY anywhere on the ancestry wins (deny paths inside allowed trees). */
enum osh_fs_access {
	OSH_FS_READ = 1,
	OSH_FS_WRITE = 2,
	OSH_FS_DENY = 4,
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

#endif
