/* SPDX-License-Identifier: Apache-2.0 */
/* ABI of the lsm_file_open test program: the key of its deny map, shared by the BPF side and
 * tests/helpers/lsm-file-open.c. */
#ifndef OSH_TESTS_LSM_FILE_OPEN_H
#define OSH_TESTS_LSM_FILE_OPEN_H

#define LSM_FILE_OPEN_MAX_FILES 64

/* A file as the kernel names it. dev is the kernel's dev_t encoding, MKDEV(major, minor) =
 * major << 20 | minor, not the userspace encoding stat() returns in st_dev. */
struct lsm_file_key {
	__u64 ino;
	__u64 dev;
};

#endif
