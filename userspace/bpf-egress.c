// SPDX-License-Identifier: Apache-2.0
// Loader of bpf/egress.bpf.c (see bpf-egress.h): skeleton, per-sandbox attach, generations of
// rules in the osh_gens map-of-maps named by generation keys, stable binary bit numbering, DNS
// answers, events.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "binid.h"
#include "bpf-egress.h"
#include "bpf-pin.h"
#include "cgroup.h"
#include "egress.skel.h"

_Static_assert(sizeof(struct osh_egress_proc_key) == 16, "osh_egress_proc_key ABI");
_Static_assert(sizeof(struct osh_egress_proc) == 16, "osh_egress_proc ABI");
_Static_assert(sizeof(struct osh_egress_exe_key) == 24, "osh_egress_exe_key ABI");
_Static_assert(sizeof(struct osh_egress_sandbox) == 40, "osh_egress_sandbox ABI");
_Static_assert(sizeof(struct osh_egress_dns_key) == 8, "osh_egress_dns_key ABI");
_Static_assert(sizeof(struct osh_egress_dns_orig) == 32, "osh_egress_dns_orig ABI");
_Static_assert(sizeof(struct osh_egress_sk) == 64, "osh_egress_sk ABI");
_Static_assert(sizeof(struct osh_egress_event) == 456, "osh_egress_event ABI");

/* The object's maps and programs by index: with pinning, a second process gets them from bpffs
 * by these names instead of from a loaded skeleton. */
enum egress_map { M_PROCS, M_EXES, M_SANDBOXES, M_GENS, M_DNS, M_SK, M_EVENTS, M_STATS, N_MAPS };
static const char *const map_names[N_MAPS] = {
	"osh_procs", "osh_exes", "osh_sandboxes", "osh_gens",
	"osh_dns",   "osh_sk",	 "osh_events",	  "osh_stats",
};

enum egress_prog {
	P_FORK,
	P_EXEC,
	P_EXIT,
	P_CONNECT4, /* first cgroup program */
	P_CONNECT6,
	P_SENDMSG4,
	P_SENDMSG6,
	P_RECVMSG4,
	P_RECVMSG6,
	P_SOCK_CREATE,
	P_SKB_EGRESS,
	P_CONNECT_UNIX, /* first optional program: Linux 6.7+ */
	P_SENDMSG_UNIX,
	N_PROGS,
};
#define N_TRACEPOINTS  P_CONNECT4
#define N_CGROUP_PROGS (N_PROGS - P_CONNECT4)
/* The unix hook attach types, spelled out: the uapi headers (Linux 6.1) and libbpf 1.1 of
 * Debian 12 predate them, so libbpf cannot guess the program type from the section either. */
#define OSH_BPF_CGROUP_UNIX_CONNECT 49
#define OSH_BPF_CGROUP_UNIX_SENDMSG 50
static const struct {
	const char *name;
	enum bpf_attach_type type; /* cgroup programs */
} prog_info[N_PROGS] = {
	{ "osh_fork", 0 },
	{ "osh_exec", 0 },
	{ "osh_exit", 0 },
	{ "osh_connect4", BPF_CGROUP_INET4_CONNECT },
	{ "osh_connect6", BPF_CGROUP_INET6_CONNECT },
	{ "osh_sendmsg4", BPF_CGROUP_UDP4_SENDMSG },
	{ "osh_sendmsg6", BPF_CGROUP_UDP6_SENDMSG },
	{ "osh_recvmsg4", BPF_CGROUP_UDP4_RECVMSG },
	{ "osh_recvmsg6", BPF_CGROUP_UDP6_RECVMSG },
	{ "osh_sock_create", BPF_CGROUP_INET_SOCK_CREATE },
	{ "osh_skb_egress", BPF_CGROUP_INET_EGRESS },
	{ "osh_connect_unix", (enum bpf_attach_type)OSH_BPF_CGROUP_UNIX_CONNECT },
	{ "osh_sendmsg_unix", (enum bpf_attach_type)OSH_BPF_CGROUP_UNIX_SENDMSG },
};

/* Layout of a pinned root; bumped when the pins or the per-sandbox maps change meaning (2: the
 * `named` map's value is the entry's expiry; 3: the unix programs and their links, pinned only
 * where the kernel has the hooks; 4: osh_gens keyed by generation keys). */
#define PIN_LAYOUT  4
#define PIN_EGRESS  "egress"
#define PIN_SBX	    "sandboxes"
#define PIN_VERSION OSH_BPF_PIN_VERSION
#define PIN_STATE   "state"
#define PIN_BINS    "bins"
#define PIN_NAMED   "named"
#define LINK_PREFIX "link_"

/* Per-sandbox pinned state (map `state`, one entry). */
struct pin_state {
	uint64_t cgroup_id;
};

struct exe_entry {
	struct osh_binid id;
	uint64_t mask;
};

/* An address the DNS responder installed; re-installed into each new generation whose policy
 * still names it. Also the key of the pinned `named` map, so no padding may be left undefined:
 * both parts are fully written (names NUL-padded). */
struct named_addr {
	struct osh_egress_name name;
	struct osh_egress_v6_key key;
};

/* A DNS-installed address and until when it stays allowed: CLOCK_BOOTTIME in ms, a clock every
 * process shares and that counts suspended time (a TTL is wall time). The expiry is also the
 * value of the pinned `named` map, so a process adopting the sandbox resumes the countdown. */
struct named_ent {
	struct named_addr a;
	uint64_t expires;
};

struct osh_egress_sb {
	struct osh_egress *eg;
	struct osh_egress_sb *next;
	uint64_t id;
	int cgroup_fd;
	int link_fd[N_CGROUP_PROGS];
	char *pin_dir; /* <root>/sandboxes/<name>, NULL without pinning */
	int bins_fd;   /* pinned bit allocation: bit -> path */
	int named_fd;  /* pinned DNS-installed addresses */
	struct osh_egress_sandbox cfg;
	/* Stable numbering: bit i of the kernel masks is binary path bin_paths[i] for the whole
	 * life of the sandbox, so process masks computed under one generation stay true under the
	 * next one. */
	char *bin_paths[OSH_EGRESS_MAX_BINARIES];
	size_t n_bins;
	int bit_of_index[OSH_EGRESS_MAX_BINARIES]; /* image binary index -> stable bit */
	struct exe_entry *exes;
	size_t n_exes;
	int gen_fd;
	const struct osh_policy_image *img;
	struct named_ent *named;
	size_t n_named;
};

/* Generation keys (osh_gens). Every update and delete of a map of maps returns only after an
 * RCU grace period (the kernel's maybe_wait_bpf_programs): 9-17 ms each on 6.18 with HZ=250,
 * measured twice per `oshctl run` (a start and an end), against a whole bwrap run of 5 ms. So a
 * sandbox's osh_sandboxes entry names its generation by key, and a start or a reload writes the
 * key there (a plain hash update). Where a pool runs (osh_egress_gen_pool_start, oshd), empty
 * tries are inserted ahead by its thread, and generations a reload or an end left are deleted
 * there, after a grace period of their own: no start, reload or end waits for one.
 *
 * A key: bit 63 set (never 0), the owner's pid in bits 32-61 (so that a later pool can tell
 * what a dead process left), random bits below. */
#define GEN_KEY_SET	 (1ULL << 63)
#define GEN_KEY_PID(k)	 ((pid_t)(((k) >> 32) & 0x3fffffff))
#define GEN_POOL_MAX	 32
#define GEN_POOL_RULES	 1024 /* a pooled trie takes a policy of up to this many entries */
#define GEN_POOL_RETRY_S 1    /* after a failed refill (osh_gens full, no memory) */

struct gen_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool stop;
	size_t want;
	uint64_t ready_key[GEN_POOL_MAX];
	int ready_fd[GEN_POOL_MAX];
	size_t n_ready;
	uint64_t *retired; /* no longer named by any sandbox; deleted after a grace period */
	size_t n_retired, cap_retired;
};

struct osh_egress {
	struct egress *skel; /* NULL when the programs were taken from pins */
	int map_fd[N_MAPS];  /* owned */
	int prog_fd[N_PROGS];
	struct bpf_link *tp_links[N_TRACEPOINTS];
	char *root; /* bpffs root, NULL: private to this process */
	int root_fd;
	/* With a root: the tracepoint links (from their pins; owned) and the version record, so
	 * that pins removed from outside can be restored (osh_egress_pins_check). */
	int tp_link_fd[N_TRACEPOINTS];
	struct osh_bpf_pin_version ver;
	struct ring_buffer *rb;
	bool unix_hooks; /* the kernel has the cgroup unix hooks (Linux 6.7+) */
	osh_egress_event_fn cb;
	void *cb_data;
	struct osh_egress_sb *sandboxes;
	struct gen_pool *pool; /* NULL: starts and reloads insert their generation themselves */
};

static int handle_event(void *ctx, void *data, size_t size)
{
	struct osh_egress *eg = ctx;

	if (size < sizeof(struct osh_egress_event) || !eg->cb)
		return 0;
	eg->cb(data, eg->cb_data);
	return 0;
}

static uint64_t boot_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct osh_bpf_pin_version version_of_build(unsigned int sandbox_level)
{
	size_t sz = 0;
	const void *elf = egress__elf_bytes(&sz);

	return osh_bpf_pin_version_of(elf, sz, sandbox_level, PIN_LAYOUT);
}

static int dup_fd(int fd)
{
	return fd < 0 ? -EBADF : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* Whether the kernel accepts a cgroup sock_addr program of the unix connect hook: before Linux
 * 6.7 the load fails with EINVAL (unknown expected attach type). */
static bool unix_hooks_probe(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .expected_attach_type = (enum bpf_attach_type)OSH_BPF_CGROUP_UNIX_CONNECT);
	int fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL, "GPL", insns, 2, &opts);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Loads the object and, with a root, pins maps, programs and tracepoint links under
 * <root>/egress/, the version last. */
static int egress_load(struct osh_egress *eg, unsigned int sandbox_level, int egress_dir)
{
	struct osh_bpf_pin_version ver = version_of_build(sandbox_level);
	int r;

	eg->skel = egress__open();
	if (!eg->skel)
		return -errno;
	eg->skel->rodata->sandbox_level = sandbox_level;
	eg->unix_hooks = unix_hooks_probe();
	for (int i = P_CONNECT_UNIX; i < N_PROGS; i++) {
		struct bpf_program *p =
		    bpf_object__find_program_by_name(eg->skel->obj, prog_info[i].name);

		if (!p)
			return -ENOENT;
		/* Set by hand: libbpf 1.1 does not know the sections. Not loaded at all where the
		 * kernel lacks the hooks; the caller reports that (osh_egress_unix_hooks). */
		bpf_program__set_type(p, BPF_PROG_TYPE_CGROUP_SOCK_ADDR);
		bpf_program__set_expected_attach_type(p, prog_info[i].type);
		bpf_program__set_autoload(p, eg->unix_hooks);
	}
	r = egress__load(eg->skel);
	if (r < 0)
		return r;
	for (int i = 0; i < N_MAPS; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(eg->skel->obj, map_names[i]);

		eg->map_fd[i] = m ? dup_fd(bpf_map__fd(m)) : -ENOENT;
		if (eg->map_fd[i] < 0)
			return m ? -errno : -ENOENT;
		if (egress_dir >= 0 &&
		    (r = osh_bpf_pin_put(egress_dir, map_names[i], eg->map_fd[i])) < 0)
			return r;
	}
	for (int i = 0; i < N_PROGS; i++) {
		struct bpf_program *p =
		    bpf_object__find_program_by_name(eg->skel->obj, prog_info[i].name);

		if (i >= P_CONNECT_UNIX && !eg->unix_hooks)
			continue;
		eg->prog_fd[i] = p ? dup_fd(bpf_program__fd(p)) : -ENOENT;
		if (eg->prog_fd[i] < 0)
			return p ? -errno : -ENOENT;
		if (egress_dir >= 0 &&
		    (r = osh_bpf_pin_put(egress_dir, prog_info[i].name, eg->prog_fd[i])) < 0)
			return r;
		if (i >= N_TRACEPOINTS)
			continue;
		eg->tp_links[i] = bpf_program__attach(p);
		if (!eg->tp_links[i])
			return -errno;
		if (egress_dir >= 0) {
			char name[64];

			snprintf(name, sizeof(name), LINK_PREFIX "%s", prog_info[i].name);
			r = osh_bpf_pin_put(egress_dir, name, bpf_link__fd(eg->tp_links[i]));
			if (r < 0)
				return r;
		}
	}
	if (egress_dir < 0)
		return 0;
	return osh_bpf_pin_version_put(egress_dir, &ver);
}

/* Takes maps and programs from an existing <root>/egress/ made by this same build. */
static int egress_reuse(struct osh_egress *eg, unsigned int sandbox_level, int egress_dir)
{
	struct osh_bpf_pin_version want = version_of_build(sandbox_level);
	int r = osh_bpf_pin_version_check(egress_dir, &want);

	if (r < 0)
		return r;
	for (int i = 0; i < N_MAPS; i++)
		if ((eg->map_fd[i] = osh_bpf_pin_get(egress_dir, map_names[i])) < 0)
			return -errno;
	for (int i = 0; i < N_PROGS; i++) {
		if ((eg->prog_fd[i] = osh_bpf_pin_get(egress_dir, prog_info[i].name)) >= 0)
			continue;
		/* The unix programs are pinned only where the kernel had the hooks. */
		if (i < P_CONNECT_UNIX || errno != ENOENT)
			return -errno;
	}
	eg->unix_hooks = eg->prog_fd[P_CONNECT_UNIX] >= 0 && eg->prog_fd[P_SENDMSG_UNIX] >= 0;
	/* The tracepoint links stay pinned; nothing to hold here. */
	return 0;
}

/* The tracepoints' names, for attaching a program whose link pin is missing. */
static const char *const tp_names[N_TRACEPOINTS] = {
	"sched_process_fork",
	"sched_process_exec",
	"sched_process_exit",
};

/* Takes a descriptor of each pinned tracepoint link, attaching (and pinning) again a program
 * whose link pin is missing (removed while no process held it: it stopped then). */
static int egress_links_hold(struct osh_egress *eg, unsigned int sandbox_level, int egress_dir)
{
	eg->ver = version_of_build(sandbox_level);
	for (int i = 0; i < N_TRACEPOINTS; i++) {
		char name[64];
		int fd, r;

		snprintf(name, sizeof(name), LINK_PREFIX "%s", prog_info[i].name);
		fd = osh_bpf_pin_get(egress_dir, name);
		if (fd == -ENOENT) {
			fd = bpf_raw_tracepoint_open(tp_names[i], eg->prog_fd[i]);
			if (fd < 0)
				return -errno;
			if ((r = osh_bpf_pin_put(egress_dir, name, fd)) < 0) {
				close(fd);
				return r;
			}
		}
		if (fd < 0)
			return fd;
		eg->tp_link_fd[i] = fd;
	}
	return 0;
}

static int egress_open_pinned(struct osh_egress *eg, unsigned int sandbox_level, const char *root)
{
	int dir = -1, r;

	if (mkdir(root, 0700) < 0 && errno != EEXIST)
		return -errno;
	eg->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (eg->root_fd < 0)
		return -errno;
	/* One loader at a time decides between loading and reusing. */
	if (flock(eg->root_fd, LOCK_EX) < 0)
		return -errno;
	if (mkdirat(eg->root_fd, PIN_SBX, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	dir = openat(eg->root_fd, PIN_EGRESS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir >= 0 && faccessat(dir, PIN_VERSION, F_OK, 0) == 0) {
		r = egress_reuse(eg, sandbox_level, dir);
		goto out;
	}
	/* Nothing pinned, or a pinning that was interrupted before its version (no sandbox can
	 * use it): start afresh. */
	if (dir >= 0) {
		close(dir);
		dir = -1;
		if ((r = osh_bpf_pin_dir_remove(eg->root_fd, PIN_EGRESS)) < 0)
			goto out;
	}
	if (mkdirat(eg->root_fd, PIN_EGRESS, 0700) < 0 ||
	    (dir = openat(eg->root_fd, PIN_EGRESS, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = -errno;
		goto out;
	}
	r = egress_load(eg, sandbox_level, dir);
	if (r < 0)
		(void)osh_bpf_pin_dir_remove(eg->root_fd, PIN_EGRESS);
out:
	if (r == 0 && dir >= 0)
		r = egress_links_hold(eg, sandbox_level, dir);
	if (dir >= 0)
		close(dir);
	flock(eg->root_fd, LOCK_UN);
	return r;
}

/* ---- generation keys and the pool ------------------------------------------------------------ */

static uint64_t gen_key_new(void)
{
	static _Atomic uint32_t counter;
	uint32_t low;

	/* Without entropy (early boot): a counter still keeps this process's keys apart, and an
	 * insert never replaces a key it finds (BPF_NOEXIST, or a lookup first). */
	if (getrandom(&low, sizeof(low), GRND_NONBLOCK) != sizeof(low))
		low = (uint32_t)time(NULL) ^ ++counter;
	return GEN_KEY_SET | ((uint64_t)(getpid() & 0x3fffffff) << 32) | low;
}

/* A trie that generations use: the template's type, key, value and flags (bpf/egress.bpf.c). */
static int gen_trie_create(uint32_t max_entries)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "osh_gen", sizeof(struct osh_egress_v6_key),
				sizeof(struct osh_egress_value), max_entries, &opts);

	return fd < 0 ? -errno : fd;
}

/* Inserts trie fd under a new key. Waits for a grace period (the kernel's, after the update). */
static int gen_insert(const int *map_fd, int fd, uint64_t *ret_key)
{
	for (int i = 0; i < 8; i++) {
		uint64_t key = gen_key_new();

		if (bpf_map_update_elem(map_fd[M_GENS], &key, &fd, BPF_NOEXIST) == 0) {
			*ret_key = key;
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Returns once every program run that began before has ended (they run under rcu_read_lock, so
 * none still holds a key it read from osh_sandboxes before a flip). */
static void gen_grace_period(const int *map_fd)
{
	uint64_t key;
	int fd;

	/* MEMBARRIER_CMD_GLOBAL is synchronize_rcu() where more than one CPU is online (refused
	 * with nohz_full). With one CPU it returns at once, which is no grace period for a
	 * preemptible kernel's readers: then an insert into the map of maps, whose own wait is. */
	if (get_nprocs() > 1 && syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0)
		return;
	fd = gen_trie_create(1);
	if (fd < 0)
		return;
	if (gen_insert(map_fd, fd, &key) == 0)
		bpf_map_delete_elem(map_fd[M_GENS], &key);
	close(fd);
}

/* Deletes keys from osh_gens: one batch (one grace period) where the kernel takes it. */
static void gens_delete(const int *map_fd, const uint64_t *keys, size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	size_t i = 0;

	while (i < n) {
		uint32_t count = (uint32_t)(n - i);

		if (bpf_map_delete_batch(map_fd[M_GENS], keys + i, &count, &opts) == 0)
			return;
		if (errno != ENOENT || count >= n - i) {
			/* No batch operations here: one at a time. */
			for (; i < n; i++)
				bpf_map_delete_elem(map_fd[M_GENS], &keys[i]);
			return;
		}
		i += count + 1; /* that one was gone already */
	}
}

/* key is no longer named by any sandbox (or never was). wait: a program run may still have read
 * it (a reload's old generation): deleted only after a grace period. */
static void gen_retire(struct osh_egress *eg, uint64_t key, bool wait)
{
	struct gen_pool *p = eg->pool;

	if (p) {
		pthread_mutex_lock(&p->lock);
		if (p->n_retired == p->cap_retired) {
			size_t cap = p->cap_retired ? 2 * p->cap_retired : 16;
			uint64_t *v = realloc(p->retired, cap * sizeof(*v));

			if (v) {
				p->retired = v;
				p->cap_retired = cap;
			}
		}
		if (p->n_retired < p->cap_retired) {
			p->retired[p->n_retired++] = key;
			pthread_cond_signal(&p->wake);
			pthread_mutex_unlock(&p->lock);
			return;
		}
		pthread_mutex_unlock(&p->lock);
	}
	if (wait)
		gen_grace_period(eg->map_fd);
	bpf_map_delete_elem(eg->map_fd[M_GENS], &key);
}

/* A pooled trie for a policy of n_rules entries; false: none (then the caller makes one). */
static bool gen_pool_take(struct osh_egress *eg, size_t n_rules, uint64_t *ret_key, int *ret_fd)
{
	struct gen_pool *p = eg->pool;

	if (!p || n_rules > GEN_POOL_RULES)
		return false;
	pthread_mutex_lock(&p->lock);
	while (p->n_ready) {
		uint64_t key = p->ready_key[--p->n_ready];
		int fd = p->ready_fd[p->n_ready];
		uint32_t id;

		/* Still there: a pool of another pid namespace could have taken it for a dead
		 * process's (gen_pool_collect). */
		if (bpf_map_lookup_elem(eg->map_fd[M_GENS], &key, &id) == 0) {
			pthread_cond_signal(&p->wake);
			pthread_mutex_unlock(&p->lock);
			*ret_key = key;
			*ret_fd = fd;
			return true;
		}
		close(fd);
	}
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	return false;
}

/* Makes up to n empty tries and inserts them (one batch: one grace period). Returns how many
 * are in keys/fds, or -errno. */
static int gen_pool_fill(const int *map_fd, uint64_t *keys, int *fds, size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	size_t made = 0;
	uint32_t count;
	int r = 0;

	for (; made < n; made++) {
		uint32_t id;

		fds[made] = gen_trie_create(GEN_POOL_RULES + OSH_EGRESS_MAX_DNS_ADDRS);
		if (fds[made] < 0) {
			r = fds[made];
			break;
		}
		/* A batch update replaces what it finds: only keys not taken go in. */
		do
			keys[made] = gen_key_new();
		while (bpf_map_lookup_elem(map_fd[M_GENS], &keys[made], &id) == 0);
	}
	if (made == 0)
		return r;
	count = (uint32_t)made;
	if (bpf_map_update_batch(map_fd[M_GENS], keys, fds, &count, &opts) < 0) {
		/* No batch operations here (the count is then not the kernel's), or one failed
		 * part-way: all again one at a time, each waiting on its own. The keys are this
		 * call's, so an update that finds one replaces nothing else. */
		for (count = 0; count < made; count++)
			if (bpf_map_update_elem(map_fd[M_GENS], &keys[count], &fds[count],
						BPF_ANY) < 0) {
				r = -errno;
				break;
			}
		for (size_t i = count; i < made; i++)
			bpf_map_delete_elem(map_fd[M_GENS], &keys[i]);
	}
	for (size_t i = count; i < made; i++)
		close(fds[i]);
	return count ? (int)count : r;
}

static void *gen_pool_main(void *arg)
{
	struct osh_egress *eg = arg;
	struct gen_pool *p = eg->pool;
	uint64_t keys[GEN_POOL_MAX] = { 0 };
	int fds[GEN_POOL_MAX] = { 0 };
	bool failed = false;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		uint64_t *retired;
		size_t n_retired, need;
		int n;

		if (!p->n_retired && (p->n_ready >= p->want || failed)) {
			struct timespec until;

			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += GEN_POOL_RETRY_S;
			if (failed)
				(void)pthread_cond_timedwait(&p->wake, &p->lock, &until);
			else
				pthread_cond_wait(&p->wake, &p->lock);
			failed = false;
			continue;
		}
		retired = p->retired;
		n_retired = p->n_retired;
		p->retired = NULL;
		p->n_retired = p->cap_retired = 0;
		need = p->n_ready < p->want ? p->want - p->n_ready : 0;
		pthread_mutex_unlock(&p->lock);

		if (n_retired) {
			gen_grace_period(eg->map_fd);
			gens_delete(eg->map_fd, retired, n_retired);
		}
		free(retired);
		n = need ? gen_pool_fill(eg->map_fd, keys, fds, need) : 0;

		pthread_mutex_lock(&p->lock);
		failed = n < 0 || (size_t)n < need;
		for (int i = 0; i < n; i++) {
			if (p->n_ready < GEN_POOL_MAX) {
				p->ready_key[p->n_ready] = keys[i];
				p->ready_fd[p->n_ready++] = fds[i];
			} else { /* not reached: only this thread adds, up to want */
				close(fds[i]);
				bpf_map_delete_elem(eg->map_fd[M_GENS], &keys[i]);
			}
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Deletes the generations a dead process left in osh_gens: keys no sandbox names whose owner is
 * gone (a process killed between an insert and its flip, or with its pool or retired keys).
 * Called before this process has inserted any, so an unnamed key with this pid is a dead one's
 * too: an oshd that is pid 1 of its container after each restart. */
static void gen_pool_collect(const int *map_fd)
{
	struct osh_egress_sandbox cfg;
	uint64_t k, *prev = NULL, last, sbk, *sprev = NULL, slast;
	uint64_t *named = NULL, *dead = NULL;
	size_t n_named = 0, n_dead = 0;

	while (bpf_map_get_next_key(map_fd[M_SANDBOXES], sprev, &sbk) == 0) {
		uint64_t *v;

		slast = sbk;
		sprev = &slast;
		if (bpf_map_lookup_elem(map_fd[M_SANDBOXES], &sbk, &cfg) < 0 || !cfg.gen_key)
			continue;
		if (!(v = realloc(named, (n_named + 1) * sizeof(*v))))
			goto out;
		named = v;
		named[n_named++] = cfg.gen_key;
	}
	while (bpf_map_get_next_key(map_fd[M_GENS], prev, &k) == 0) {
		pid_t owner = GEN_KEY_PID(k);
		bool is_named = false;
		uint64_t *v;

		last = k;
		prev = &last;
		for (size_t i = 0; i < n_named && !is_named; i++)
			is_named = named[i] == k;
		if (is_named || (owner != getpid() && (kill(owner, 0) == 0 || errno != ESRCH)))
			continue;
		if (!(v = realloc(dead, (n_dead + 1) * sizeof(*v))))
			goto out;
		dead = v;
		dead[n_dead++] = k;
	}
	if (n_dead) {
		gen_grace_period(map_fd);
		gens_delete(map_fd, dead, n_dead);
	}
out:
	free(named);
	free(dead);
}

int osh_egress_gen_pool_start(struct osh_egress *eg, unsigned int n)
{
	struct gen_pool *p;
	sigset_t all, old;
	int r;

	if (eg->pool)
		return 0;
	if (n == 0 || n > GEN_POOL_MAX)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	gen_pool_collect(eg->map_fd);
	pthread_mutex_init(&p->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&p->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	p->want = n;
	eg->pool = p;
	/* The thread takes no signals: the caller's handlers and waits stay as they were. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&p->thread, NULL, gen_pool_main, eg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		eg->pool = NULL;
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->lock);
		free(p);
	}
	return r;
}

/* Stops the thread and deletes what the pool held: its ready tries and, after a grace period,
 * the retired generations. */
static void gen_pool_stop(struct osh_egress *eg)
{
	struct gen_pool *p = eg->pool;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	eg->pool = NULL;
	if (p->n_retired)
		gen_grace_period(eg->map_fd);
	gens_delete(eg->map_fd, p->retired, p->n_retired);
	gens_delete(eg->map_fd, p->ready_key, p->n_ready);
	for (size_t i = 0; i < p->n_ready; i++)
		close(p->ready_fd[i]);
	free(p->retired);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int osh_egress_open(unsigned int sandbox_level, const char *bpffs_root, struct osh_egress **ret)
{
	struct osh_egress *eg = calloc(1, sizeof(*eg));
	int r;

	if (!eg)
		return -ENOMEM;
	eg->root_fd = -1;
	for (int i = 0; i < N_MAPS; i++)
		eg->map_fd[i] = -1;
	for (int i = 0; i < N_PROGS; i++)
		eg->prog_fd[i] = -1;
	for (int i = 0; i < N_TRACEPOINTS; i++)
		eg->tp_link_fd[i] = -1;
	if (bpffs_root) {
		eg->root = strdup(bpffs_root);
		r = eg->root ? egress_open_pinned(eg, sandbox_level, bpffs_root) : -ENOMEM;
	} else {
		r = egress_load(eg, sandbox_level, -1);
	}
	if (r < 0)
		goto fail;
	eg->rb = ring_buffer__new(eg->map_fd[M_EVENTS], handle_event, eg, NULL);
	if (!eg->rb) {
		r = -errno;
		goto fail;
	}
	*ret = eg;
	return 0;
fail:
	osh_egress_free(eg);
	return r < 0 ? r : -EINVAL;
}

void osh_egress_free(struct osh_egress *eg)
{
	if (!eg)
		return;
	while (eg->sandboxes)
		osh_egress_sandbox_release(eg->sandboxes);
	gen_pool_stop(eg);
	ring_buffer__free(eg->rb);
	/* Pinned tracepoint links stay attached through their pins. */
	for (int i = 0; i < N_TRACEPOINTS; i++) {
		bpf_link__destroy(eg->tp_links[i]);
		if (eg->tp_link_fd[i] >= 0)
			close(eg->tp_link_fd[i]);
	}
	for (int i = 0; i < N_MAPS; i++)
		if (eg->map_fd[i] >= 0)
			close(eg->map_fd[i]);
	for (int i = 0; i < N_PROGS; i++)
		if (eg->prog_fd[i] >= 0)
			close(eg->prog_fd[i]);
	egress__destroy(eg->skel);
	if (eg->root_fd >= 0)
		close(eg->root_fd);
	free(eg->root);
	free(eg);
}

const char *osh_egress_root(const struct osh_egress *eg)
{
	return eg->root;
}

bool osh_egress_unix_hooks(const struct osh_egress *eg)
{
	return eg->unix_hooks;
}

int osh_egress_unpin_if_unused(struct osh_egress *eg)
{
	int r = 0;

	if (!eg->root || eg->root_fd < 0)
		return 0;
	flock(eg->root_fd, LOCK_EX);
	/* rmdir fails while any sandbox (of any process) has pins. */
	if (unlinkat(eg->root_fd, PIN_SBX, AT_REMOVEDIR) < 0 && errno != ENOENT) {
		r = errno == ENOTEMPTY ? 0 : -errno;
		goto out;
	}
	r = osh_bpf_pin_dir_remove(eg->root_fd, PIN_EGRESS);
	if (r == 0 && rmdir(eg->root) < 0 && errno != ENOENT)
		r = -errno;
out:
	flock(eg->root_fd, LOCK_UN);
	return r;
}

int osh_egress_cgroup_level(const char *cgroup_path, unsigned int *ret_level)
{
	char *mount = NULL;
	const char *rest;
	unsigned int level = 0;
	size_t n;
	int r = osh_cgroup_mount_find(&mount);

	if (r < 0)
		return r;
	n = strlen(mount);
	while (n > 1 && mount[n - 1] == '/')
		n--;
	if (strncmp(cgroup_path, mount, n) != 0 || (cgroup_path[n] != '/' && cgroup_path[n])) {
		free(mount);
		return -EINVAL;
	}
	for (rest = cgroup_path + n; *rest; rest++)
		if (*rest == '/' && rest[1] && rest[1] != '/')
			level++;
	free(mount);
	*ret_level = level;
	return 0;
}

/* ---- sandboxes ------------------------------------------------------------------------------- */

static struct osh_egress_sb *sb_new(struct osh_egress *eg, int cgroup_fd, uint64_t cgroup_id)
{
	struct osh_egress_sb *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return NULL;
	sb->eg = eg;
	sb->id = cgroup_id;
	sb->gen_fd = sb->bins_fd = sb->named_fd = -1;
	for (int i = 0; i < N_CGROUP_PROGS; i++)
		sb->link_fd[i] = -1;
	sb->cgroup_fd = fcntl(cgroup_fd, F_DUPFD_CLOEXEC, 3);
	if (sb->cgroup_fd < 0) {
		free(sb);
		return NULL;
	}
	sb->next = eg->sandboxes;
	eg->sandboxes = sb;
	return sb;
}

static int link_name(int prog, char *buf, size_t size)
{
	return snprintf(buf, size, LINK_PREFIX "%s", prog_info[P_CONNECT4 + prog].name);
}

/* Attaches the cgroup programs that are not attached yet (with pins: whose link pin is
 * missing, e.g. after an interrupted creation). */
static int sb_attach(struct osh_egress_sb *sb, int dir)
{
	for (int i = 0; i < N_CGROUP_PROGS; i++) {
		char name[64];
		int r;

		link_name(i, name, sizeof(name));
		/* No program: an optional hook this kernel lacks (see osh_egress_unix_hooks). */
		if (sb->eg->prog_fd[P_CONNECT4 + i] < 0)
			continue;
		if (sb->link_fd[i] >= 0 || (dir >= 0 && faccessat(dir, name, F_OK, 0) == 0))
			continue;
		sb->link_fd[i] = bpf_link_create(sb->eg->prog_fd[P_CONNECT4 + i], sb->cgroup_fd,
						 prog_info[P_CONNECT4 + i].type, NULL);
		if (sb->link_fd[i] < 0)
			return -errno;
		if (dir >= 0 && (r = osh_bpf_pin_put(dir, name, sb->link_fd[i])) < 0)
			return r;
	}
	return 0;
}

/* Deletes the global map entries of sandbox id (its identities are found by walking
 * osh_exes: also those an earlier process recorded). eg: the object whose pool, if it runs,
 * deletes the generation; NULL: deleted here. */
static void sb_entries_delete(struct osh_egress *eg, const int *map_fd, uint64_t id)
{
	struct osh_egress_exe_key k, next, *prev = NULL;
	struct osh_egress_exe_key del[256];
	struct osh_egress_sandbox cfg = { 0 };
	size_t n_del;

	(void)bpf_map_lookup_elem(map_fd[M_SANDBOXES], &id, &cfg);
	bpf_map_delete_elem(map_fd[M_SANDBOXES], &id);
	/* No wait: the sandbox is gone for the programs, and its processes with it. */
	if (cfg.gen_key && eg)
		gen_retire(eg, cfg.gen_key, false);
	else if (cfg.gen_key)
		bpf_map_delete_elem(map_fd[M_GENS], &cfg.gen_key);
	/* Delete in batches, restarting the walk: deleting the current key would end it. */
	do {
		n_del = 0;
		prev = NULL;
		while (n_del < 256 && bpf_map_get_next_key(map_fd[M_EXES], prev, &next) == 0) {
			k = next;
			if (k.sandbox == id)
				del[n_del++] = k;
			prev = &k;
		}
		for (size_t i = 0; i < n_del; i++)
			bpf_map_delete_elem(map_fd[M_EXES], &del[i]);
	} while (n_del == 256);
}

/* The sandbox's pin directory, name checked (it becomes a path component). */
static int sb_pin_dir(const struct osh_egress *eg, const char *name, char **ret)
{
	if (!name || osh_cgroup_name_check(name) < 0)
		return -EINVAL;
	return asprintf(ret, "%s/" PIN_SBX "/%s", eg->root, name) < 0 ? -ENOMEM : 0;
}

static int state_read(int dir, struct pin_state *ret)
{
	uint32_t zero = 0;
	int fd = osh_bpf_pin_get(dir, PIN_STATE), r;

	if (fd < 0)
		return -errno;
	r = bpf_map_lookup_elem(fd, &zero, ret) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* Removes what an earlier sandbox of this name left pinned (a daemon that died before destroying
 * it, the cgroup gone since): its links, state and global map entries. */
static int pins_purge(const int *map_fd, const char *dir_path)
{
	struct pin_state st = { 0 };
	int dir = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (dir < 0)
		return errno == ENOENT ? 0 : -errno;
	if (state_read(dir, &st) == 0 && map_fd)
		sb_entries_delete(NULL, map_fd, st.cgroup_id);
	close(dir);
	r = osh_bpf_pin_dir_remove(AT_FDCWD, dir_path);
	return r;
}

int osh_egress_sandbox_add(struct osh_egress *eg, const char *name, int cgroup_fd,
			   uint64_t cgroup_id, struct osh_egress_sb **ret)
{
	struct osh_egress_sb *sb = sb_new(eg, cgroup_fd, cgroup_id);
	struct pin_state st = { .cgroup_id = cgroup_id };
	uint32_t zero = 0;
	int dir = -1, fd, r;

	if (!sb)
		return -ENOMEM;
	if (eg->root) {
		LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);

		if ((r = sb_pin_dir(eg, name, &sb->pin_dir)) < 0)
			goto fail;
		if ((r = pins_purge(eg->map_fd, sb->pin_dir)) < 0)
			goto fail;
		if (mkdir(sb->pin_dir, 0700) < 0) {
			r = -errno;
			free(sb->pin_dir);
			sb->pin_dir = NULL; /* not ours to remove */
			goto fail;
		}
		dir = open(sb->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dir < 0) {
			r = -errno;
			goto fail;
		}
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "osh_sb_state", sizeof(uint32_t),
				    sizeof(st), 1, NULL);
		if (fd < 0) {
			r = -errno;
			goto fail;
		}
		r = bpf_map_update_elem(fd, &zero, &st, BPF_ANY) < 0 ? -errno : 0;
		if (r == 0)
			r = osh_bpf_pin_put(dir, PIN_STATE, fd);
		close(fd);
		if (r < 0)
			goto fail;
		sb->bins_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "osh_sb_bins", sizeof(uint32_t),
					     PATH_MAX, OSH_EGRESS_MAX_BINARIES, &opts);
		sb->named_fd =
		    bpf_map_create(BPF_MAP_TYPE_HASH, "osh_sb_named", sizeof(struct named_addr),
				   sizeof(uint64_t), OSH_EGRESS_MAX_DNS_ADDRS, &opts);
		if (sb->bins_fd < 0 || sb->named_fd < 0) {
			r = -errno;
			goto fail;
		}
		if ((r = osh_bpf_pin_put(dir, PIN_BINS, sb->bins_fd)) < 0 ||
		    (r = osh_bpf_pin_put(dir, PIN_NAMED, sb->named_fd)) < 0)
			goto fail;
	}
	/* Known before the programs run there: an unknown sandbox is let through by the hooks. */
	if (bpf_map_update_elem(eg->map_fd[M_SANDBOXES], &sb->id, &sb->cfg, BPF_ANY) < 0) {
		r = -errno;
		goto fail;
	}
	r = sb_attach(sb, dir);
	if (r < 0)
		goto fail;
	if (dir >= 0)
		close(dir);
	*ret = sb;
	return 0;
fail:
	if (dir >= 0)
		close(dir);
	osh_egress_sandbox_remove(sb);
	return r < 0 ? r : -EINVAL;
}

/* Reads a pinned sandbox's userspace state back: bit allocation, DNS-installed addresses,
 * identities, settings, current generation. */
static int sb_state_load(struct osh_egress_sb *sb)
{
	const int *mfd = sb->eg->map_fd;
	uint32_t bit;
	struct named_addr na, nlast, *nprev = NULL;
	struct osh_egress_exe_key ek, elast, *eprev = NULL;
	uint32_t gen_id;
	char *path = malloc(PATH_MAX);
	int r = 0;

	if (!path)
		return -ENOMEM;
	/* Bits are given out in order and never freed, so 0..n-1 are all present. */
	for (bit = 0; bit < OSH_EGRESS_MAX_BINARIES; bit++) {
		if (bpf_map_lookup_elem(sb->bins_fd, &bit, path) < 0)
			break;
		path[PATH_MAX - 1] = '\0';
		if (!(sb->bin_paths[bit] = strdup(path))) {
			r = -ENOMEM;
			goto out;
		}
		sb->n_bins = bit + 1;
	}
	while (bpf_map_get_next_key(sb->named_fd, nprev, &na) == 0) {
		struct named_ent *nv;
		uint64_t expires;

		nlast = na;
		nprev = &nlast;
		if (bpf_map_lookup_elem(sb->named_fd, &na, &expires) < 0)
			continue;
		nv = realloc(sb->named, (sb->n_named + 1) * sizeof(*nv));
		if (!nv) {
			r = -ENOMEM;
			goto out;
		}
		sb->named = nv;
		sb->named[sb->n_named++] = (struct named_ent){ .a = na, .expires = expires };
	}
	while (bpf_map_get_next_key(mfd[M_EXES], eprev, &ek) == 0) {
		struct osh_egress_bin_value v;

		elast = ek;
		eprev = &elast;
		if (ek.sandbox != sb->id || bpf_map_lookup_elem(mfd[M_EXES], &ek, &v) < 0)
			continue;
		struct exe_entry *xv = realloc(sb->exes, (sb->n_exes + 1) * sizeof(*xv));

		if (!xv) {
			r = -ENOMEM;
			goto out;
		}
		sb->exes = xv;
		sb->exes[sb->n_exes++] =
		    (struct exe_entry){ .id = { .ino = ek.ino, .dev = ek.dev }, .mask = v.mask };
	}
	if (bpf_map_lookup_elem(mfd[M_SANDBOXES], &sb->id, &sb->cfg) < 0) {
		r = -ENOENT;
		goto out;
	}
	if (sb->cfg.gen_key && bpf_map_lookup_elem(mfd[M_GENS], &sb->cfg.gen_key, &gen_id) == 0) {
		sb->gen_fd = bpf_map_get_fd_by_id(gen_id);
		if (sb->gen_fd < 0)
			r = -errno;
	}
out:
	free(path);
	return r;
}

/* Takes a descriptor of each link pinned by an earlier process, so that the links stay
 * attached while this one lives even if their pins are removed (and can be pinned again). */
static int sb_links_hold(struct osh_egress_sb *sb, int dir)
{
	for (int i = 0; i < N_CGROUP_PROGS; i++) {
		char name[64];

		if (sb->link_fd[i] >= 0 || sb->eg->prog_fd[P_CONNECT4 + i] < 0)
			continue;
		link_name(i, name, sizeof(name));
		if ((sb->link_fd[i] = osh_bpf_pin_get(dir, name)) < 0)
			return sb->link_fd[i];
	}
	return 0;
}

int osh_egress_sandbox_adopt(struct osh_egress *eg, const char *name, int cgroup_fd,
			     uint64_t cgroup_id, struct osh_egress_sb **ret)
{
	struct osh_egress_sb *sb;
	struct pin_state st = { 0 };
	int dir = -1, r;

	if (!eg->root)
		return -EINVAL;
	sb = sb_new(eg, cgroup_fd, cgroup_id);
	if (!sb)
		return -ENOMEM;
	if ((r = sb_pin_dir(eg, name, &sb->pin_dir)) < 0)
		goto fail;
	dir = open(sb->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0) {
		r = -errno;
		goto fail;
	}
	/* Pins of an earlier cgroup of the same name are not this sandbox's. */
	if (state_read(dir, &st) < 0 || st.cgroup_id != cgroup_id) {
		r = -ENOENT;
		goto fail;
	}
	if ((sb->bins_fd = osh_bpf_pin_get(dir, PIN_BINS)) < 0 ||
	    (sb->named_fd = osh_bpf_pin_get(dir, PIN_NAMED)) < 0) {
		r = -ENOENT;
		goto fail;
	}
	if ((r = sb_state_load(sb)) < 0)
		goto fail;
	/* A link pin missing (creation interrupted) is attached again. */
	if ((r = sb_attach(sb, dir)) < 0 || (r = sb_links_hold(sb, dir)) < 0)
		goto fail;
	close(dir);
	*ret = sb;
	return 0;
fail:
	if (dir >= 0)
		close(dir);
	osh_egress_sandbox_release(sb);
	return r;
}

/* Frees the userspace side; with remove, also detaches and deletes the kernel state. */
static void sb_free(struct osh_egress_sb *sb, bool remove)
{
	if (!sb)
		return;
	if (remove) {
		/* Closing the last reference (fd and pin) of a link detaches it. */
		if (sb->pin_dir)
			(void)osh_bpf_pin_dir_remove(AT_FDCWD, sb->pin_dir);
		sb_entries_delete(sb->eg, sb->eg->map_fd, sb->id);
	}
	for (int i = 0; i < N_CGROUP_PROGS; i++)
		if (sb->link_fd[i] >= 0)
			close(sb->link_fd[i]);
	for (struct osh_egress_sb **p = &sb->eg->sandboxes; *p; p = &(*p)->next)
		if (*p == sb) {
			*p = sb->next;
			break;
		}
	for (size_t i = 0; i < sb->n_bins; i++)
		free(sb->bin_paths[i]);
	if (sb->gen_fd >= 0)
		close(sb->gen_fd);
	if (sb->bins_fd >= 0)
		close(sb->bins_fd);
	if (sb->named_fd >= 0)
		close(sb->named_fd);
	if (sb->cgroup_fd >= 0)
		close(sb->cgroup_fd);
	free(sb->pin_dir);
	free(sb->exes);
	free(sb->named);
	free(sb);
}

void osh_egress_sandbox_remove(struct osh_egress_sb *sb)
{
	sb_free(sb, true);
}

void osh_egress_sandbox_release(struct osh_egress_sb *sb)
{
	sb_free(sb, false);
}

int osh_egress_purge(const char *bpffs_root, const char *name)
{
	int map_fd[N_MAPS], egress_dir, r;
	char *path = NULL;

	if (!name || osh_cgroup_name_check(name) < 0)
		return -EINVAL;
	if (asprintf(&path, "%s/" PIN_EGRESS, bpffs_root) < 0)
		return -ENOMEM;
	egress_dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(path);
	for (int i = 0; i < N_MAPS; i++)
		map_fd[i] = egress_dir >= 0 ? osh_bpf_pin_get(egress_dir, map_names[i]) : -1;
	if (egress_dir >= 0)
		close(egress_dir);
	if (asprintf(&path, "%s/" PIN_SBX "/%s", bpffs_root, name) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = pins_purge(
	    map_fd[M_GENS] >= 0 && map_fd[M_SANDBOXES] >= 0 && map_fd[M_EXES] >= 0 ? map_fd : NULL,
	    path);
	free(path);
out:
	for (int i = 0; i < N_MAPS; i++)
		if (map_fd[i] >= 0)
			close(map_fd[i]);
	return r;
}

/* ---- pins removed from outside ---------------------------------------------------------- */

int osh_egress_pins_check(struct osh_egress *eg, struct osh_bpf_pin_check *c)
{
	int dir = -1, sbx = -1, r;
	bool quiet;

	if (!eg->root)
		return 0;
	/* Without repair a vanished root stays the (empty) directory held: what it held is
	 * then noted as missing below. */
	if (osh_bpf_pin_check_path(c, eg->root, NULL, &eg->root_fd) < 0)
		return c->err;
	flock(eg->root_fd, LOCK_EX);
	r = osh_bpf_pin_check_dir(c, eg->root_fd, "", PIN_EGRESS, &dir);
	if (dir >= 0) {
		char name[64];

		quiet = r == 1;
		for (int i = 0; i < N_MAPS; i++)
			osh_bpf_pin_check_fd(c, dir, PIN_EGRESS, map_names[i], eg->map_fd[i],
					     quiet);
		for (int i = 0; i < N_PROGS; i++)
			if (eg->prog_fd[i] >= 0)
				osh_bpf_pin_check_fd(c, dir, PIN_EGRESS, prog_info[i].name,
						     eg->prog_fd[i], quiet);
		for (int i = 0; i < N_TRACEPOINTS; i++) {
			snprintf(name, sizeof(name), LINK_PREFIX "%s", prog_info[i].name);
			osh_bpf_pin_check_fd(c, dir, PIN_EGRESS, name, eg->tp_link_fd[i], quiet);
		}
		/* Last, and only over a complete directory: a version says "usable". */
		if (!c->err)
			osh_bpf_pin_check_version(c, dir, PIN_EGRESS, &eg->ver, quiet);
		close(dir);
	}
	(void)osh_bpf_pin_check_dir(c, eg->root_fd, "", PIN_SBX, &sbx);
	if (sbx >= 0)
		close(sbx);
	flock(eg->root_fd, LOCK_UN);
	return c->err;
}

int osh_egress_sandbox_pins_check(struct osh_egress_sb *sb, struct osh_bpf_pin_check *c)
{
	const char *name;
	char prefix[NAME_MAX + 16];
	int sbx, dir = -1, r;
	bool quiet;

	if (!sb->pin_dir)
		return 0;
	name = strrchr(sb->pin_dir, '/') + 1;
	snprintf(prefix, sizeof(prefix), PIN_SBX "/%s", name);
	sbx = openat(sb->eg->root_fd, PIN_SBX, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sbx < 0) {
		/* osh_egress_pins_check noted (or could not restore) the directory. */
		if (!c->err && c->repair) {
			c->err = -errno;
			snprintf(c->failed, sizeof(c->failed), PIN_SBX ": %s", strerror(errno));
		}
		return c->err;
	}
	r = osh_bpf_pin_check_dir(c, sbx, PIN_SBX, name, &dir);
	close(sbx);
	if (dir < 0)
		return c->err;
	quiet = r == 1;
	osh_bpf_pin_check_u64(c, dir, prefix, PIN_STATE, sb->id, quiet);
	osh_bpf_pin_check_fd(c, dir, prefix, PIN_BINS, sb->bins_fd, quiet);
	osh_bpf_pin_check_fd(c, dir, prefix, PIN_NAMED, sb->named_fd, quiet);
	for (int i = 0; i < N_CGROUP_PROGS; i++) {
		char link[64];

		if (sb->eg->prog_fd[P_CONNECT4 + i] < 0)
			continue;
		link_name(i, link, sizeof(link));
		osh_bpf_pin_check_fd(c, dir, prefix, link, sb->link_fd[i], quiet);
	}
	close(dir);
	return c->err;
}

struct osh_egress_sb *osh_egress_sandbox_find(struct osh_egress *eg, uint64_t sandbox_id)
{
	for (struct osh_egress_sb *sb = eg->sandboxes; sb; sb = sb->next)
		if (sb->id == sandbox_id)
			return sb;
	return NULL;
}

int osh_egress_sandbox_set_dns(struct osh_egress_sb *sb, const struct sockaddr_in *a4,
			       const struct sockaddr_in6 *a6)
{
	struct osh_egress_sandbox cfg = sb->cfg;

	cfg.flags &= ~(uint32_t)(OSH_EGRESS_SB_DNS4 | OSH_EGRESS_SB_DNS6);
	if (a4) {
		cfg.flags |= OSH_EGRESS_SB_DNS4;
		memcpy(cfg.dns_addr4, &a4->sin_addr, 4);
		cfg.dns_port4 = a4->sin_port;
	}
	if (a6) {
		cfg.flags |= OSH_EGRESS_SB_DNS6;
		memcpy(cfg.dns_addr6, &a6->sin6_addr, 16);
		cfg.dns_port6 = a6->sin6_port;
	}
	if (bpf_map_update_elem(sb->eg->map_fd[M_SANDBOXES], &sb->id, &cfg, BPF_EXIST) < 0)
		return -errno;
	sb->cfg = cfg;
	return 0;
}

static void exes_delete(struct osh_egress_sb *sb, const struct exe_entry *e, size_t n)
{
	int fd = sb->eg->map_fd[M_EXES];

	for (size_t i = 0; i < n; i++) {
		struct osh_egress_exe_key k = { .sandbox = sb->id,
						.ino = e[i].id.ino,
						.dev = e[i].id.dev };

		bpf_map_delete_elem(fd, &k);
	}
}

/* Pinned sandboxes keep what a later process needs to go on (docs/arch-egress.md). */
static int bins_store(const struct osh_egress_sb *sb, size_t from)
{
	char *path;
	int r = 0;

	if (sb->bins_fd < 0 || from >= sb->n_bins)
		return 0;
	path = calloc(1, PATH_MAX);
	if (!path)
		return -ENOMEM;
	for (size_t i = from; i < sb->n_bins && r == 0; i++) {
		uint32_t bit = (uint32_t)i;

		memset(path, 0, PATH_MAX);
		snprintf(path, PATH_MAX, "%s", sb->bin_paths[i]);
		if (bpf_map_update_elem(sb->bins_fd, &bit, path, BPF_ANY) < 0)
			r = -errno;
	}
	free(path);
	return r;
}

static int named_store(const struct osh_egress_sb *sb, const struct named_ent *e, bool add)
{
	if (sb->named_fd < 0)
		return 0;
	if (add)
		return bpf_map_update_elem(sb->named_fd, &e->a, &e->expires, BPF_ANY) < 0 ? -errno
											  : 0;
	return bpf_map_delete_elem(sb->named_fd, &e->a) < 0 && errno != ENOENT ? -errno : 0;
}

/* ---- generations ----------------------------------------------------------------------------- */

static uint64_t mask_remap(const struct osh_egress_sb *sb, uint64_t m)
{
	uint64_t out = 0;

	for (int i = 0; i < OSH_EGRESS_MAX_BINARIES; i++)
		if ((m >> i) & 1 && sb->bit_of_index[i] >= 0)
			out |= 1ull << sb->bit_of_index[i];
	return out;
}

static struct osh_egress_value value_remap(const struct osh_egress_sb *sb,
					   const struct osh_egress_value *v)
{
	struct osh_egress_value out = *v;

	out.binaries = mask_remap(sb, v->binaries);
	out.l7 = mask_remap(sb, v->l7);
	out.audit = mask_remap(sb, v->audit);
	return out;
}

/* Two entries under one key merge as the compiler merges: masks OR-ed, lowest rule kept. */
static void value_merge(struct osh_egress_value *cur, const struct osh_egress_value *v)
{
	cur->binaries |= v->binaries;
	cur->l7 |= v->l7;
	cur->audit |= v->audit;
	cur->flags |= v->flags;
	if (v->rule < cur->rule)
		cur->rule = v->rule;
}

/* Inserts an entry, merging with one already under the same key. */
static int gen_put(int fd, const struct osh_egress_v6_key *k, const struct osh_egress_value *v)
{
	struct osh_egress_value cur;

	if (bpf_map_update_elem(fd, k, v, BPF_NOEXIST) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (bpf_map_lookup_elem(fd, k, &cur) < 0)
		return -errno;
	value_merge(&cur, v);
	return bpf_map_update_elem(fd, k, &cur, BPF_EXIST) < 0 ? -errno : 0;
}

static void key_from_v4(struct osh_egress_v6_key *k, const struct osh_egress_v4_key *k4)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = k4->prefixlen + OSH_EGRESS_V4_MAPPED_BITS;
	k->port = k4->port;
	k->proto = k4->proto;
	k->addr[10] = k->addr[11] = 0xff;
	memcpy(k->addr + 12, k4->addr, 4);
}

static bool name_eq(const struct osh_egress_name *a, const struct osh_egress_name *b)
{
	return a->port == b->port && a->proto == b->proto &&
	       strncmp(a->name, b->name, sizeof(a->name)) == 0;
}

static const struct osh_image_name *image_name_find(const struct osh_policy_image *img,
						    const struct osh_egress_name *n)
{
	for (size_t i = 0; img && i < img->n_names; i++)
		if (name_eq(&img->names[i].entry, n))
			return &img->names[i];
	return NULL;
}

static bool cidr_contains(const struct osh_cidr *c, const struct osh_egress_v6_key *k)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *a = k->addr;
	unsigned full = c->prefix_len / 8, rest = c->prefix_len % 8;

	if (c->family == 4) {
		if (memcmp(a, mapped, 12))
			return false;
		a += 12;
	} else if (!memcmp(a, mapped, 12)) {
		return false;
	}
	if (memcmp(c->addr, a, full))
		return false;
	return !rest || ((c->addr[full] ^ a[full]) & (0xff << (8 - rest))) == 0;
}

/* An answered address becomes an entry for every name entry of the policy with that name, port
 * and protocol whose endpoint admits it (no allowed_ips, or one containing it): entries that
 * differ only in allowed_ips are kept apart by the compiler. Their merged value, or -ENOENT when
 * none admits it. */
static int named_value(const struct osh_egress_sb *sb, const struct named_addr *na,
		       struct osh_egress_value *ret)
{
	int r = -ENOENT;

	for (size_t i = 0; sb->img && i < sb->img->n_names; i++) {
		const struct osh_image_name *in = &sb->img->names[i];
		const struct osh_endpoint *ep = in->endpoint;
		struct osh_egress_value v;
		bool admitted = !ep || ep->n_allowed_ips == 0;

		if (!name_eq(&in->entry, &na->name))
			continue;
		for (size_t j = 0; !admitted && j < ep->n_allowed_ips; j++)
			admitted = cidr_contains(&ep->allowed_ips[j], &na->key);
		if (!admitted)
			continue;
		v = value_remap(sb, &in->entry.value);
		v.flags |= OSH_EGRESS_F_FROM_NAME;
		if (r == 0)
			value_merge(ret, &v);
		else
			*ret = v;
		r = 0;
	}
	return r;
}

static int named_put(const struct osh_egress_sb *sb, int fd, const struct named_addr *na)
{
	struct osh_egress_value v = { 0 };
	int r = named_value(sb, na, &v);

	return r < 0 ? r : gen_put(fd, &na->key, &v);
}

/* A generation's entries before they go into its trie: sorted by key, equal keys merged, so one
 * batch update writes each key once (one syscall instead of one per entry: on a 10,000-entry
 * policy that is most of a reload's time). */
struct gen_set {
	struct osh_egress_v6_key *keys;
	struct osh_egress_value *vals;
	size_t n;
};

static void gen_set_free(struct gen_set *g)
{
	free(g->keys);
	free(g->vals);
}

/* Appends in key order, merging with the last entry under the same key. */
static int gen_push(struct gen_set *g, const struct osh_egress_v6_key *k,
		    const struct osh_egress_value *v)
{
	int c = g->n ? memcmp(&g->keys[g->n - 1], k, sizeof(*k)) : -1;

	if (c > 0)
		return -EINVAL; /* a source out of order: the image's arrays are sorted */
	if (c == 0) {
		value_merge(&g->vals[g->n - 1], v);
		return 0;
	}
	g->keys[g->n] = *k;
	g->vals[g->n++] = *v;
	return 0;
}

static int gen_ent_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct osh_egress_v6_key));
}

/* The entries of a generation of img (sb->img and sb->bit_of_index already set to it): its
 * policy entries and the DNS-installed addresses whose name it still has (keep[i] says which
 * of sb->named). Three sorted sources merged in one pass: the image's IPv4 entries (sorted by
 * key bytes, which ::ffff: mapping keeps: their prefix lengths 128..160 stay in one byte), its
 * IPv6 entries, and the named addresses, sorted here. */
static int gen_build(const struct osh_egress_sb *sb, const struct osh_policy_image *img, bool *keep,
		     struct gen_set *ret)
{
	size_t cap = img->n_v4 + img->n_v6 + sb->n_named, i4 = 0, i6 = 0, in = 0, n_named = 0;
	struct gen_set g = { .keys = malloc((cap ? cap : 1) * sizeof(*g.keys)),
			     .vals = malloc((cap ? cap : 1) * sizeof(*g.vals)) };
	/* Named entries as key + value, for sorting: same layout as the policy's. */
	struct osh_image_v6 *named = calloc(sb->n_named + 1, sizeof(*named));
	int r = 0;

	if (!g.keys || !g.vals || !named) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < sb->n_named; i++) {
		struct osh_egress_value v = { 0 };

		if (named_value(sb, &sb->named[i].a, &v) < 0)
			continue;
		keep[i] = true;
		named[n_named++] = (struct osh_image_v6){ .key = sb->named[i].a.key, .value = v };
	}
	qsort(named, n_named, sizeof(*named), gen_ent_cmp);
	while (r == 0 && (i4 < img->n_v4 || i6 < img->n_v6 || in < n_named)) {
		struct osh_egress_v6_key k4;
		const struct osh_egress_v6_key *k = NULL;
		struct osh_egress_value v;
		int from = -1;

		if (i4 < img->n_v4) {
			key_from_v4(&k4, &img->v4[i4].key);
			k = &k4;
			from = 4;
		}
		if (i6 < img->n_v6 && (!k || memcmp(&img->v6[i6].key, k, sizeof(*k)) < 0)) {
			k = &img->v6[i6].key;
			from = 6;
		}
		if (in < n_named && (!k || memcmp(&named[in].key, k, sizeof(*k)) < 0)) {
			k = &named[in].key;
			from = 0;
		}
		if (from == 4)
			v = value_remap(sb, &img->v4[i4++].value);
		else if (from == 6)
			v = value_remap(sb, &img->v6[i6++].value);
		else
			v = named[in++].value;
		r = gen_push(&g, k, &v);
	}
out:
	free(named);
	if (r < 0) {
		gen_set_free(&g);
		return r;
	}
	*ret = g;
	return 0;
}

/* Assigns stable bits to the image's binaries. Fails before anything changed. */
static int bits_assign(struct osh_egress_sb *sb, const struct osh_policy_image *img,
		       int *bit_of_index)
{
	char *added[OSH_EGRESS_MAX_BINARIES] = { 0 };
	size_t n_added = 0, n = sb->n_bins;

	for (int i = 0; i < OSH_EGRESS_MAX_BINARIES; i++)
		bit_of_index[i] = -1;
	for (size_t i = 0; i < img->n_binaries; i++) {
		const char *path = img->binaries[i].path;
		size_t b;

		for (b = 0; b < n; b++)
			if (!strcmp(b < sb->n_bins ? sb->bin_paths[b] : added[b - sb->n_bins],
				    path))
				break;
		if (b == n) {
			if (n == OSH_EGRESS_MAX_BINARIES)
				goto too_many;
			added[n_added] = strdup(path);
			if (!added[n_added]) {
				for (size_t j = 0; j < n_added; j++)
					free(added[j]);
				return -ENOMEM;
			}
			n_added++;
			n++;
		}
		if (img->binaries[i].index < OSH_EGRESS_MAX_BINARIES)
			bit_of_index[img->binaries[i].index] = (int)b;
	}
	for (size_t j = 0; j < n_added; j++)
		sb->bin_paths[sb->n_bins++] = added[j];
	return 0;
too_many:
	for (size_t j = 0; j < n_added; j++)
		free(added[j]);
	return -E2BIG;
}

static int exes_build(const struct osh_policy_image *img, const int *bit_of_index,
		      struct osh_strv *warnings, struct exe_entry **ret, size_t *ret_n)
{
	struct exe_entry *v = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	for (size_t i = 0; i < img->n_binaries; i++) {
		const struct osh_image_binary *b = &img->binaries[i];
		struct osh_binid_set set = { 0 };
		int found = osh_binid_resolve(b->path, b->glob, &set);

		if (found < 0) {
			r = found;
			osh_binid_set_free(&set);
			goto fail;
		}
		if (found == 0 && warnings &&
		    (r = osh_strv_pushf(
			 warnings, "network_policies: binary %s: %s; it cannot be matched", b->path,
			 b->glob ? "no file matches the glob" : "no such file")) < 0) {
			osh_binid_set_free(&set);
			goto fail;
		}
		for (size_t j = 0; j < set.n; j++) {
			size_t k;

			for (k = 0; k < n; k++)
				if (v[k].id.ino == set.v[j].ino && v[k].id.dev == set.v[j].dev)
					break;
			if (k == n) {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 32;
					struct exe_entry *nv = realloc(v, nc * sizeof(*nv));

					if (!nv) {
						r = -ENOMEM;
						osh_binid_set_free(&set);
						goto fail;
					}
					v = nv;
					cap = nc;
				}
				v[n++] = (struct exe_entry){ .id = set.v[j] };
			}
			v[k].mask |= 1ull << bit_of_index[b->index];
		}
		osh_binid_set_free(&set);
	}
	if (n > OSH_EGRESS_MAX_EXES) {
		r = -E2BIG;
		goto fail;
	}
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	free(v);
	return r;
}

int osh_egress_sandbox_update(struct osh_egress_sb *sb, const struct osh_policy_image *img,
			      struct osh_strv *warnings)
{
	const int *mfd = sb->eg->map_fd;
	size_t old_n_bins = sb->n_bins;
	int bit_of_index[OSH_EGRESS_MAX_BINARIES], saved_bits[OSH_EGRESS_MAX_BINARIES];
	const struct osh_policy_image *saved_img = sb->img;
	struct osh_egress_sandbox cfg;
	struct exe_entry *exes = NULL;
	struct gen_set set = { 0 };
	bool *keep = calloc(sb->n_named + 1, sizeof(*keep));
	size_t n_exes = 0, kept = 0, n_rules = img->n_v4 + img->n_v6;
	uint64_t key = 0;
	int exes_fd = mfd[M_EXES];
	int fd = -1, r;

	if (!keep)
		return -ENOMEM;
	r = bits_assign(sb, img, bit_of_index);
	if (r < 0)
		goto fail;
	/* Before any identity carries the new bits, so a later process can read what they mean. */
	r = bins_store(sb, old_n_bins);
	if (r < 0)
		goto fail;
	r = exes_build(img, bit_of_index, warnings, &exes, &n_exes);
	if (r < 0)
		goto fail;
	/* Identities first: bits are stable, so a process exec'ing now gets bits that mean the
	 * same under the old and the new generation. */
	for (size_t i = 0; i < n_exes; i++) {
		struct osh_egress_exe_key k = { .sandbox = sb->id,
						.ino = exes[i].id.ino,
						.dev = exes[i].id.dev };
		struct osh_egress_bin_value v = { .mask = exes[i].mask };

		if (bpf_map_update_elem(exes_fd, &k, &v, BPF_ANY) < 0) {
			r = -errno;
			goto fail;
		}
	}
	memcpy(saved_bits, sb->bit_of_index, sizeof(saved_bits));
	memcpy(sb->bit_of_index, bit_of_index, sizeof(bit_of_index));
	sb->img = img;
	/* DNS answers for names the new policy still has stay allowed. */
	r = gen_build(sb, img, keep, &set);
	/* A pooled trie, already in osh_gens; or one sized from the policy: room for its entries
	 * and OSH_EGRESS_MAX_DNS_ADDRS answers (osh_egress_install_name_addr holds the named ones
	 * to that), so a sandbox can make the kernel spend at most that (or a pooled trie's
	 * GEN_POOL_RULES more) on DNS answers. */
	if (r >= 0 && !gen_pool_take(sb->eg, n_rules, &key, &fd)) {
		fd = gen_trie_create((uint32_t)(n_rules + OSH_EGRESS_MAX_DNS_ADDRS));
		r = fd < 0 ? fd : 0;
	}
	if (r >= 0 && set.n) {
		/* elem_flags 0 (BPF_ANY, the only flag generic batch updates take): the keys are
		 * distinct. */
		LIBBPF_OPTS(bpf_map_batch_opts, bopts);
		uint32_t count = (uint32_t)set.n;

		r = bpf_map_update_batch(fd, set.keys, set.vals, &count, &bopts);
	}
	gen_set_free(&set);
	if (r >= 0 && !key)
		r = gen_insert(mfd, fd, &key); /* no pool, or none ready: waits */
	/* The flip: one update of the sandbox's entry; programs see the old trie or the new. */
	cfg = sb->cfg;
	cfg.gen_key = key;
	cfg.generation++;
	if (r >= 0 && bpf_map_update_elem(mfd[M_SANDBOXES], &sb->id, &cfg, BPF_EXIST) < 0)
		r = -errno;
	if (r < 0) {
		memcpy(sb->bit_of_index, saved_bits, sizeof(saved_bits));
		sb->img = saved_img;
		if (key)
			gen_retire(sb->eg, key, false); /* never named */
		goto fail;
	}
	/* The old generation goes once no program run can still be in it. */
	if (sb->cfg.gen_key)
		gen_retire(sb->eg, sb->cfg.gen_key, true);
	sb->cfg = cfg;
	if (sb->gen_fd >= 0)
		close(sb->gen_fd);
	sb->gen_fd = fd;
	/* Answers for names the new policy dropped are gone with the old generation. */
	for (size_t i = 0; i < sb->n_named; i++)
		if (keep[i])
			sb->named[kept++] = sb->named[i];
		else
			(void)named_store(sb, &sb->named[i], false);
	sb->n_named = kept;
	/* Identities the new policy no longer names: a freed inode number could be reused. */
	for (size_t i = 0; i < sb->n_exes; i++) {
		bool still = false;

		for (size_t j = 0; j < n_exes && !still; j++)
			still = exes[j].id.ino == sb->exes[i].id.ino &&
				exes[j].id.dev == sb->exes[i].id.dev;
		if (!still)
			exes_delete(sb, &sb->exes[i], 1);
	}
	free(sb->exes);
	sb->exes = exes;
	sb->n_exes = n_exes;
	free(keep);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(exes);
	free(keep);
	return r;
}

int osh_egress_sandbox_add_binary(struct osh_egress_sb *sb, const char *path,
				  const struct osh_binid *id)
{
	struct osh_egress_exe_key k = { .sandbox = sb->id, .ino = id->ino, .dev = id->dev };
	struct osh_egress_bin_value v = { 0 };
	struct exe_entry *e = NULL;
	bool named = false;
	size_t b;

	for (size_t i = 0; sb->img && i < sb->img->n_binaries && !named; i++)
		named = !strcmp(sb->img->binaries[i].path, path);
	for (b = 0; named && b < sb->n_bins; b++)
		if (!strcmp(sb->bin_paths[b], path))
			break;
	if (!named || b == sb->n_bins)
		return -ENOENT;
	for (size_t i = 0; i < sb->n_exes && !e; i++)
		if (sb->exes[i].id.ino == id->ino && sb->exes[i].id.dev == id->dev)
			e = &sb->exes[i];
	if (e && e->mask & (1ull << b))
		return 0;
	if (!e) {
		struct exe_entry *xv;

		if (sb->n_exes >= OSH_EGRESS_MAX_EXES)
			return -E2BIG;
		xv = realloc(sb->exes, (sb->n_exes + 1) * sizeof(*xv));
		if (!xv)
			return -ENOMEM;
		sb->exes = xv;
		e = &sb->exes[sb->n_exes];
		*e = (struct exe_entry){ .id = *id };
	}
	v.mask = e->mask | 1ull << b;
	if (bpf_map_update_elem(sb->eg->map_fd[M_EXES], &k, &v, BPF_ANY) < 0)
		return -errno;
	if (e == &sb->exes[sb->n_exes])
		sb->n_exes++;
	e->mask = v.mask;
	return 1;
}

static int name_key(int family, const uint8_t *addr, const struct osh_egress_name *name,
		    struct osh_egress_v6_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = OSH_EGRESS_KEY_PREFIX_BITS + 128;
	k->port = name->port;
	k->proto = name->proto;
	if (family == 4) {
		k->addr[10] = k->addr[11] = 0xff;
		memcpy(k->addr + 12, addr, 4);
	} else if (family == 6) {
		memcpy(k->addr, addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

static bool named_same(const struct named_ent *e, const struct osh_egress_name *name,
		       const struct osh_egress_v6_key *k)
{
	return !memcmp(&e->a.key, k, sizeof(*k)) && name_eq(&e->a.name, name);
}

int osh_egress_install_name_addr(struct osh_egress_sb *sb, const struct osh_egress_name *name,
				 int family, const uint8_t *addr, uint32_t ttl)
{
	struct named_ent ne = { .a.name = *name }, *nv;
	int r = name_key(family, addr, name, &ne.a.key);

	if (r < 0)
		return r;
	if (sb->gen_fd < 0 || !image_name_find(sb->img, name))
		return -ENOENT;
	ne.expires = boot_ms() + (uint64_t)ttl * 1000;
	for (size_t i = 0; i < sb->n_named; i++) {
		struct named_ent *e = &sb->named[i];
		uint64_t was = e->expires;

		if (!named_same(e, name, &ne.a.key))
			continue;
		/* A new answer extends the entry, never shortens it. */
		if (ne.expires <= was)
			return 0;
		e->expires = ne.expires;
		if ((r = named_store(sb, e, true)) < 0)
			e->expires = was;
		return r;
	}
	/* The trie has room for this many beyond the policy (and the pinned record as many). */
	if (sb->n_named >= OSH_EGRESS_MAX_DNS_ADDRS)
		return -ENOSPC;
	nv = realloc(sb->named, (sb->n_named + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	sb->named = nv;
	/* Recorded before the entry goes in: a later process must be able to carry it over. */
	r = named_store(sb, &ne, true);
	if (r < 0)
		return r;
	r = named_put(sb, sb->gen_fd, &ne.a);
	if (r < 0) {
		(void)named_store(sb, &ne, false);
		return r;
	}
	sb->named[sb->n_named++] = ne;
	return 0;
}

/* Rewrites key k of the current generation from what still contributes to it - policy entries
 * with exactly this key, addresses answered for other names - or deletes it when nothing does.
 * One update: a connection to an address something else still allows never finds it missing. */
static int image_v4_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct osh_egress_v4_key));
}

/* The policy's values under trie key k: the image's arrays are sorted by key bytes, and a key
 * may be both an IPv4 entry (as ::ffff:a.b.c.d) and an IPv6 one. */
static const struct osh_egress_value *image_values(const struct osh_policy_image *img,
						   const struct osh_egress_v6_key *k,
						   const struct osh_egress_value **ret_v6)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct osh_image_v4 k4 = { 0 };
	const struct osh_image_v4 *e4 = NULL;
	const struct osh_image_v6 *e6 =
	    bsearch(k, img->v6, img->n_v6, sizeof(*img->v6), gen_ent_cmp);

	if (k->prefixlen >= OSH_EGRESS_V4_MAPPED_BITS + OSH_EGRESS_KEY_PREFIX_BITS &&
	    !memcmp(k->addr, mapped, sizeof(mapped))) {
		k4.key.prefixlen = k->prefixlen - OSH_EGRESS_V4_MAPPED_BITS;
		k4.key.port = k->port;
		k4.key.proto = k->proto;
		memcpy(k4.key.addr, k->addr + 12, 4);
		e4 = bsearch(&k4, img->v4, img->n_v4, sizeof(*img->v4), image_v4_cmp);
	}
	*ret_v6 = e6 ? &e6->value : NULL;
	return e4 ? &e4->value : NULL;
}

static int key_rebuild(struct osh_egress_sb *sb, const struct osh_egress_v6_key *k)
{
	struct osh_egress_value acc = { 0 }, v;
	const struct osh_egress_value *pv[2] = { NULL, NULL };
	bool any = false;

	if (sb->img)
		pv[0] = image_values(sb->img, k, &pv[1]);
	for (size_t j = 0; j < 2; j++) {
		if (!pv[j])
			continue;
		v = value_remap(sb, pv[j]);
		if (any)
			value_merge(&acc, &v);
		else
			acc = v;
		any = true;
	}
	for (size_t j = 0; j < sb->n_named; j++) {
		if (memcmp(&sb->named[j].a.key, k, sizeof(*k)) ||
		    named_value(sb, &sb->named[j].a, &v) < 0)
			continue;
		if (any)
			value_merge(&acc, &v);
		else
			acc = v;
		any = true;
	}
	if (any)
		return bpf_map_update_elem(sb->gen_fd, k, &acc, BPF_ANY) < 0 ? -errno : 0;
	return bpf_map_delete_elem(sb->gen_fd, k) < 0 && errno != ENOENT ? -errno : 0;
}

/* Takes sb->named[i] out: the kernel entry first, then its pinned record, so a process dying in
 * between leaves a record whose expiry the next process honours, never a kernel entry nobody
 * knows of. On failure the array is as it was. */
static int named_drop(struct osh_egress_sb *sb, size_t i)
{
	struct named_ent e = sb->named[i];
	size_t last = sb->n_named - 1;
	int r;

	sb->named[i] = sb->named[last];
	sb->n_named--;
	r = sb->gen_fd >= 0 ? key_rebuild(sb, &e.a.key) : 0;
	if (r < 0) {
		sb->named[last] = sb->named[i];
		sb->named[i] = e;
		sb->n_named++;
		return r;
	}
	(void)named_store(sb, &e, false);
	return 0;
}

int osh_egress_remove_name_addr(struct osh_egress_sb *sb, const struct osh_egress_name *name,
				int family, const uint8_t *addr)
{
	struct osh_egress_v6_key k;
	int r = name_key(family, addr, name, &k);

	if (r < 0)
		return r;
	for (size_t i = 0; i < sb->n_named; i++)
		if (named_same(&sb->named[i], name, &k))
			return named_drop(sb, i);
	return -ENOENT;
}

/* A removal that failed (the map update, e.g. -ENOMEM) is retried this much later. */
#define EXPIRE_RETRY_MS 1000

int osh_egress_sandbox_expire(struct osh_egress_sb *sb, uint64_t *ret_next)
{
	uint64_t now = boot_ms(), next = UINT64_MAX;
	int n = 0, r = 0;

	for (size_t i = 0; i < sb->n_named;) {
		uint64_t at = sb->named[i].expires;
		int q;

		if (at > now) {
			if (at < next)
				next = at;
			i++;
			continue;
		}
		q = named_drop(sb, i);
		if (q < 0) {
			r = r < 0 ? r : q;
			if (now + EXPIRE_RETRY_MS < next)
				next = now + EXPIRE_RETRY_MS;
			i++;
			continue;
		}
		n++;
	}
	*ret_next = next;
	return r < 0 ? r : n;
}

uint64_t osh_egress_clock_ms(void)
{
	return boot_ms();
}

int osh_egress_dns_orig_lookup(struct osh_egress *eg, uint8_t proto, uint8_t family, uint16_t sport,
			       struct osh_egress_dns_orig *ret_orig)
{
	struct osh_egress_dns_key k = { .sport = htons(sport), .proto = proto, .family = family };
	struct osh_egress_dns_orig o;

	if (bpf_map_lookup_elem(eg->map_fd[M_DNS], &k, &o) < 0)
		return -errno;
	*ret_orig = o;
	return 0;
}

/* ---- events ---------------------------------------------------------------------------------- */

int osh_egress_events_poll(struct osh_egress *eg, int timeout_ms, osh_egress_event_fn fn,
			   void *userdata)
{
	int r;

	eg->cb = fn;
	eg->cb_data = userdata;
	r = ring_buffer__poll(eg->rb, timeout_ms);
	eg->cb = NULL;
	eg->cb_data = NULL;
	return r;
}

int osh_egress_events_consume(struct osh_egress *eg, osh_egress_event_fn fn, void *userdata)
{
	int r;

	/* Not through epoll: its readiness may trail a commit (the kernel's wake-up is deferred). */
	eg->cb = fn;
	eg->cb_data = userdata;
	r = ring_buffer__consume(eg->rb);
	eg->cb = NULL;
	eg->cb_data = NULL;
	return r;
}

int osh_egress_events_fd(const struct osh_egress *eg)
{
	return ring_buffer__epoll_fd(eg->rb);
}

int osh_egress_events_dropped(struct osh_egress *eg, uint64_t *ret_dropped)
{
	int ncpu = libbpf_num_possible_cpus();
	uint32_t key = 0; /* STAT_RINGBUF_FULL */
	uint64_t *vals, sum = 0;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(eg->map_fd[M_STATS], &key, vals) < 0) {
		free(vals);
		return -errno;
	}
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	free(vals);
	*ret_dropped = sum;
	return 0;
}

static const char *op_name(uint8_t op)
{
	switch (op) {
	case OSH_EGRESS_OP_CONNECT:
		return "connect";
	case OSH_EGRESS_OP_SENDMSG:
		return "sendmsg";
	case OSH_EGRESS_OP_SOCKET:
		return "socket";
	case OSH_EGRESS_OP_CONNECT_UNIX:
		return "connect-unix";
	case OSH_EGRESS_OP_SENDMSG_UNIX:
		return "sendmsg-unix";
	default:
		return "packet";
	}
}

static const char *reason_text(uint8_t reason)
{
	switch (reason) {
	case OSH_EGRESS_R_NO_ENTRY:
		return "no network_policies entry allows it";
	case OSH_EGRESS_R_BINARY:
		return "a network_policies entry allows the destination, but not for this binary "
		       "or its ancestors";
	case OSH_EGRESS_R_SPECIAL:
		return "loopback, link-local, metadata and unspecified addresses are not reachable "
		       "from a sandbox";
	case OSH_EGRESS_R_L7:
		return "the entry needs L7 inspection and the L7 proxy is not available yet";
	case OSH_EGRESS_R_SOCKET:
		return "only TCP stream and UDP datagram sockets are allowed";
	case OSH_EGRESS_R_UNCHECKED:
		return "a packet that no connect/sendmsg check let through (backstop)";
	case OSH_EGRESS_R_NO_POLICY:
		return "the sandbox has no network policy loaded";
	case OSH_EGRESS_R_UNIX:
		return "named and abstract unix sockets are not reachable from a sandbox (their "
		       "server acts outside its network policy)";
	default:
		return "unknown reason";
	}
}

static bool prefix_covers(const uint8_t *net, unsigned bits, const uint8_t *a)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(net, a, full))
		return false;
	return !rest || ((net[full] ^ a[full]) & (0xff << (8 - rest))) == 0;
}

/* The policy rule nearest to a destination no entry matched: one allowing the address on
 * another port, else one allowing the port elsewhere. */
static uint32_t closest_rule(const struct osh_egress_event *ev, const struct osh_policy_image *img)
{
	uint32_t by_port = OSH_EGRESS_NO_RULE;

	if (ev->rule != OSH_EGRESS_NO_RULE || !img || ev->op == OSH_EGRESS_OP_CONNECT_UNIX ||
	    ev->op == OSH_EGRESS_OP_SENDMSG_UNIX)
		return ev->rule;
	for (size_t i = 0; ev->family == 4 && i < img->n_v4; i++) {
		const struct osh_egress_v4_key *k = &img->v4[i].key;

		if (prefix_covers(k->addr, k->prefixlen - OSH_EGRESS_KEY_PREFIX_BITS, ev->addr))
			return img->v4[i].value.rule;
		if (ntohs(k->port) == ev->port && by_port == OSH_EGRESS_NO_RULE)
			by_port = img->v4[i].value.rule;
	}
	for (size_t i = 0; ev->family == 6 && i < img->n_v6; i++) {
		const struct osh_egress_v6_key *k = &img->v6[i].key;

		if (prefix_covers(k->addr, k->prefixlen - OSH_EGRESS_KEY_PREFIX_BITS, ev->addr))
			return img->v6[i].value.rule;
		if (ntohs(k->port) == ev->port && by_port == OSH_EGRESS_NO_RULE)
			by_port = img->v6[i].value.rule;
	}
	for (size_t i = 0; i < img->n_names && by_port == OSH_EGRESS_NO_RULE; i++)
		if (ntohs(img->names[i].entry.port) == ev->port)
			by_port = img->names[i].entry.value.rule;
	return by_port;
}

/* "unix:/run/x.sock", or "unix:@name" for an abstract name (its leading NUL as '@'); bytes
 * that are not printable ASCII become '?' (the name is the caller's choice, the line a log's). */
static void unix_target(const struct osh_egress_event *ev, char *buf, size_t size)
{
	size_t len = ev->unix_path_len, o;
	size_t i = 0;

	if (len > OSH_EGRESS_UNIX_PATH_LEN)
		len = OSH_EGRESS_UNIX_PATH_LEN;
	o = (size_t)snprintf(buf, size, "unix:");
	if (len == 0) {
		snprintf(buf + o, size - o, "(unnamed)");
		return;
	}
	if (ev->unix_path[0] == '\0') {
		buf[o++] = '@';
		i = 1;
	} else {
		len = strnlen(ev->unix_path, len);
	}
	for (; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)ev->unix_path[i];

		buf[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[o] = '\0';
}

bool osh_egress_event_unix_absent(const struct osh_egress_event *ev)
{
	char path[OSH_EGRESS_UNIX_PATH_LEN + 1], base[64];
	size_t len = ev->unix_path_len;
	const char *rel;
	struct stat st;
	int dir, r;

	if ((ev->op != OSH_EGRESS_OP_CONNECT_UNIX && ev->op != OSH_EGRESS_OP_SENDMSG_UNIX) ||
	    !ev->tgid || len == 0 || ev->unix_path[0] == '\0')
		return false;
	if (len > OSH_EGRESS_UNIX_PATH_LEN)
		len = OSH_EGRESS_UNIX_PATH_LEN;
	memcpy(path, ev->unix_path, len);
	path[len] = '\0';
	/* As the process sees it: its root for an absolute path, its cwd otherwise. Gone: unknown,
	 * so the event stays. */
	snprintf(base, sizeof(base), "/proc/%u/%s", ev->tgid, path[0] == '/' ? "root" : "cwd");
	dir = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return false;
	for (rel = path; *rel == '/'; rel++)
		;
	r = fstatat(dir, *rel ? rel : ".", &st, 0);
	close(dir);
	return r < 0 && (errno == ENOENT || errno == ENOTDIR);
}

int osh_egress_event_fields_get(const struct osh_egress_event *ev, const struct osh_policy *pol,
				const struct osh_policy_image *img,
				struct osh_egress_event_fields *ret)
{
	struct osh_egress_event_fields *f = ret;
	char proc[64], addr[INET6_ADDRSTRLEN], proto[16];
	uint32_t rule = closest_rule(ev, img);
	ssize_t n = -1;

	memset(f, 0, sizeof(*f));
	f->verdict = ev->verdict == OSH_EGRESS_AUDIT ? "audit" : "deny";
	f->op = op_name(ev->op);
	f->reason = reason_text(ev->reason);
	if (ev->verdict == OSH_EGRESS_AUDIT && ev->reason == OSH_EGRESS_R_L7)
		f->reason =
		    "allowed without L7 inspection (enforcement: audit; the L7 proxy is not "
		    "available yet)";
	memcpy(f->comm, ev->comm, OSH_EGRESS_COMM_LEN);
	f->comm[OSH_EGRESS_COMM_LEN] = '\0';
	if (ev->exe_parts > 0 && ev->exe_parts <= OSH_EGRESS_EXE_PARTS) {
		/* The kernel's reading, at the time of the event: the process may be gone now. */
		size_t len = 0;

		if (!ev->exe_complete)
			len = (size_t)snprintf(f->exe, sizeof(f->exe), "...");
		for (int i = ev->exe_parts - 1; i >= 0 && len < sizeof(f->exe); i--)
			len += (size_t)snprintf(f->exe + len, sizeof(f->exe) - len, "/%.*s",
						OSH_EGRESS_EXE_PART_LEN, ev->exe[i]);
		n = (ssize_t)len;
	} else if (ev->tgid) {
		snprintf(proc, sizeof(proc), "/proc/%u/exe", ev->tgid);
		n = readlink(proc, f->exe, sizeof(f->exe) - 1);
		if (n > 0)
			f->exe[n] = '\0';
	}
	if (n <= 0)
		f->exe[0] = '\0';
	if (ev->proto == IPPROTO_TCP)
		snprintf(proto, sizeof(proto), "tcp");
	else if (ev->proto == IPPROTO_UDP)
		snprintf(proto, sizeof(proto), "udp");
	else if (ev->proto == IPPROTO_ICMP || ev->proto == IPPROTO_ICMPV6)
		snprintf(proto, sizeof(proto), "icmp");
	else
		snprintf(proto, sizeof(proto), "proto-%u", ev->proto);
	if (ev->op == OSH_EGRESS_OP_CONNECT_UNIX || ev->op == OSH_EGRESS_OP_SENDMSG_UNIX) {
		unix_target(ev, f->target, sizeof(f->target));
	} else if (ev->family == 4 || ev->family == 6) {
		inet_ntop(ev->family == 4 ? AF_INET : AF_INET6, ev->addr, addr, sizeof(addr));
		snprintf(f->target, sizeof(f->target), ev->family == 6 ? "[%s]:%u/%s" : "%s:%u/%s",
			 addr, ev->port, proto);
	} else {
		snprintf(f->target, sizeof(f->target), "%s socket", proto);
	}
	if (rule != OSH_EGRESS_NO_RULE && pol && rule < pol->n_net_rules)
		snprintf(f->closest, sizeof(f->closest), "%s", pol->net_rules[rule].key);
	return 0;
}

int osh_egress_event_format(const struct osh_egress_event *ev, const struct osh_policy *pol,
			    const struct osh_policy_image *img, char **ret_text)
{
	struct osh_egress_event_fields *f = malloc(sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	osh_egress_event_fields_get(ev, pol, img, f);
	r = osh_egress_event_fields_line(ev, f, ret_text);
	free(f);
	return r;
}

int osh_egress_event_fields_line(const struct osh_egress_event *ev,
				 const struct osh_egress_event_fields *f, char **ret_text)
{
	int r = asprintf(ret_text, "%s %s %s by %s (pid %u): %s; closest: %s",
			 ev->verdict == OSH_EGRESS_AUDIT ? "audit" : "denied", f->op, f->target,
			 f->exe[0]  ? f->exe
			 : ev->tgid ? f->comm
				    : "(kernel context)",
			 ev->tgid, f->reason, f->closest[0] ? f->closest : "none");

	return r < 0 ? -ENOMEM : 0;
}

const char *osh_egress_sandbox_name_of(const struct osh_egress_sb *sb, int family,
				       const uint8_t *addr)
{
	struct osh_egress_v6_key k;

	memset(&k, 0, sizeof(k));
	if (family == 4) {
		k.addr[10] = k.addr[11] = 0xff;
		memcpy(k.addr + 12, addr, 4);
	} else if (family == 6) {
		memcpy(k.addr, addr, 16);
	} else {
		return NULL;
	}
	for (size_t i = 0; sb && i < sb->n_named; i++)
		if (!memcmp(sb->named[i].a.key.addr, k.addr, 16))
			return sb->named[i].a.name.name;
	return NULL;
}

int osh_egress_cgroup_prog(const struct osh_egress *eg, unsigned int i, int *ret_fd,
			   unsigned int *ret_type)
{
	if (i >= N_CGROUP_PROGS)
		return -ERANGE;
	if (eg->prog_fd[P_CONNECT4 + i] < 0)
		return -ENOENT; /* the unix hooks before Linux 6.7 */
	*ret_fd = eg->prog_fd[P_CONNECT4 + i];
	*ret_type = (unsigned int)prog_info[P_CONNECT4 + i].type;
	return 0;
}
