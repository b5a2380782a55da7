// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0-only)
/* Test BPF LSM program: lsm/file_open denies opening the files whose {inode, device} are in
 * osh_deny_files. The VM test proves with it that BPF LSM enforcement works end to end. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "lsm_file_open.h"

#define EPERM 1

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LSM_FILE_OPEN_MAX_FILES);
	__type(key, struct lsm_file_key);
	__type(value, __u8);
} osh_deny_files SEC(".maps");

/* Lets the test tell a denial by this program from an EPERM of any other origin. */
__u64 denials = 0;

SEC("lsm/file_open")
int BPF_PROG(osh_test_file_open, struct file *file, int ret)
{
	struct lsm_file_key key = {};

	/* A program before this one already refused: keep its verdict. */
	if (ret != 0)
		return ret;
	/* CO-RE reads: the VM kernel (6.1) lays these structs out differently from the kernel
	 * whose BTF produced vmlinux.h. */
	key.ino = BPF_CORE_READ(file, f_inode, i_ino);
	key.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	if (!bpf_map_lookup_elem(&osh_deny_files, &key))
		return 0;
	__sync_fetch_and_add(&denials, 1);
	return -EPERM;
}

/* The kernel attaches LSM programs only with a GPL-compatible license. */
char LICENSE[] SEC("license") = "GPL";
