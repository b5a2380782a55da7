// SPDX-License-Identifier: Apache-2.0
/* VM test: loads tests/bpf/lsm_file_open.bpf.c and shows with real open() calls that it denies
 * exactly the file whose inode and device are in its map. Prints TAP. A kernel that refuses BPF
 * LSM makes it one counted skip, or one failure with --require-lsm (the test VM must load it). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/libbpf.h>

#include "tests/bpf/lsm_file_open.h"
#include "lsm_file_open.skel.h"

#define TEST_NAME "lsm file_open"

_Static_assert(sizeof(struct lsm_file_key) == 16, "lsm_file_key is the BPF map's key: no padding");

static int test_number;
static int test_failures;

static void tap_result(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tap_result(bool ok, const char *fmt, ...)
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

static int libbpf_print_stderr(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int libbpf_print_none(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

/* The active LSMs, for the reason of a skip: "bpf" missing from them is the usual cause. */
static void lsm_list_read(char *buf, size_t size)
{
	FILE *f = fopen("/sys/kernel/security/lsm", "re");

	snprintf(buf, size, "unknown: securityfs not mounted");
	if (!f)
		return;
	if (fgets(buf, (int)size, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* The key under which the kernel sees the file at path. stat() encodes st_dev for userspace;
 * the kernel's dev_t is MKDEV(major, minor) = major << 20 | minor. */
static int file_key_get(const char *path, struct lsm_file_key *ret_key)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	ret_key->ino = st.st_ino;
	ret_key->dev = ((__u64)major(st.st_dev) << 20) | minor(st.st_dev);
	return 0;
}

static int file_create(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	if (write(fd, "osh\n", 4) != 4) {
		int r = -errno;

		close(fd);
		return r < 0 ? r : -EIO;
	}
	close(fd);
	return 0;
}

/* open() path read-only and close it again: 0, or the negative errno open() failed with. */
static int file_try_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static void unavailable(bool require, const char *step, int err)
{
	char lsms[256];

	lsm_list_read(lsms, sizeof(lsms));
	if (require) {
		printf("1..1\nnot ok 1 - %s: BPF LSM program did not %s: %s (active LSMs: %s)\n",
		       TEST_NAME, step, strerror(-err), lsms);
		return;
	}
	printf("1..1\nok 1 - %s # skip BPF LSM not available: %s: %s (active LSMs: %s)\n",
	       TEST_NAME, step, strerror(-err), lsms);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: lsm-file-open [--require-lsm]\n"
		"  --require-lsm  a kernel that refuses the BPF LSM program is a failure, not a "
		"skip\n");
}

int main(int argc, char **argv)
{
	bool require = false;
	struct lsm_file_open *skel = NULL;
	/* Sized so that dir + "/allowed" always fits: a longer TMPDIR is refused below. */
	char dir[256], denied[sizeof(dir) + 16], allowed[sizeof(dir) + 16];
	const char *tmp = getenv("TMPDIR");
	struct lsm_file_key key = { 0 };
	__u8 one = 1;
	__u64 before;
	int r, exit_code = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--require-lsm") == 0) {
			require = true;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	/* libbpf's warnings (the verifier log) help in the VM, where the program must load; on a
	 * host that refuses BPF LSM they would only bury the skip line. */
	libbpf_set_print(require || getenv("OSH_TEST_VERBOSE") ? libbpf_print_stderr
							       : libbpf_print_none);

	skel = lsm_file_open__open();
	if (!skel) {
		unavailable(require, "open", -errno);
		return require ? 1 : 0;
	}
	r = lsm_file_open__load(skel);
	if (r < 0) {
		unavailable(require, "load", r);
		lsm_file_open__destroy(skel);
		return require ? 1 : 0;
	}
	r = lsm_file_open__attach(skel);
	if (r < 0) {
		unavailable(require, "attach", r);
		lsm_file_open__destroy(skel);
		return require ? 1 : 0;
	}

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/osh-test-lsm.XXXXXX", tmp) >= sizeof(dir)) {
		printf("1..1\nnot ok 1 - %s: TMPDIR too long: %s\n", TEST_NAME, tmp);
		lsm_file_open__destroy(skel);
		return 1;
	}
	if (!mkdtemp(dir)) {
		printf("1..1\nnot ok 1 - %s: mkdtemp(%s): %s\n", TEST_NAME, dir, strerror(errno));
		lsm_file_open__destroy(skel);
		return 1;
	}
	snprintf(denied, sizeof(denied), "%s/denied", dir);
	snprintf(allowed, sizeof(allowed), "%s/allowed", dir);

	printf("1..4\n");
	r = file_create(denied);
	if (r == 0)
		r = file_create(allowed);
	if (r == 0)
		r = file_key_get(denied, &key);
	if (r == 0)
		r = bpf_map__update_elem(skel->maps.osh_deny_files, &key, sizeof(key), &one,
					 sizeof(one), BPF_ANY);
	if (r < 0) {
		printf("Bail out! %s: setting up the test files failed: %s\n", TEST_NAME,
		       strerror(-r));
		goto out;
	}
	printf("# denied file %s: ino %llu dev %llu:%llu\n", denied, (unsigned long long)key.ino,
	       (unsigned long long)(key.dev >> 20), (unsigned long long)(key.dev & 0xfffff));

	before = skel->bss->denials;
	r = file_try_open(denied);
	tap_result(r == -EPERM,
		   "open() of the file in the BPF LSM deny map fails with EPERM (got %s)",
		   r == 0 ? "success" : strerror(-r));
	/* The counter is in the program's mmap-ed .bss: it moves only when the program denied. */
	tap_result(skel->bss->denials == before + 1,
		   "the denial came from the BPF program (denials %llu -> %llu)",
		   (unsigned long long)before, (unsigned long long)skel->bss->denials);
	r = file_try_open(allowed);
	tap_result(r == 0, "open() of another file in the same directory succeeds (got %s)",
		   r == 0 ? "success" : strerror(-r));

	r = bpf_map__delete_elem(skel->maps.osh_deny_files, &key, sizeof(key), 0);
	if (r == 0)
		r = file_try_open(denied);
	tap_result(r == 0, "the file opens again once its map entry is removed (got %s)",
		   r == 0 ? "success" : strerror(-r));
	exit_code = test_failures ? 1 : 0;
out:
	/* Detach before cleaning up, so that nothing of ours is denied on the way out. */
	lsm_file_open__destroy(skel);
	unlink(denied);
	unlink(allowed);
	rmdir(dir);
	return exit_code;
}
