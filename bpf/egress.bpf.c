// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0-only)
// Kernel egress enforcement: binary identity (raw tracepoints on fork/exec/exit) and the cgroup
// hooks that decide every connect/sendmsg of a sandbox, redirect its DNS to osh's responder and
// drop, as a backstop, packets no check let through. Maps and decision order: docs/arch-egress.md.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "egress.h"

#define AF_INET	    2
#define AF_INET6    10
#define SOCK_STREAM 1
#define SOCK_DGRAM  2
#define DNS_PORT    53
#define ETH_P_IP    0x0800

/* Depth of the sandbox cgroups below the cgroup2 root (<root>/osh/<name> is 2). Set at load. */
const volatile __u32 sandbox_level = 2;

enum stat_index {
	STAT_RINGBUF_FULL = 0,
	STAT_PROC_UPDATE = 1,
	STAT_SK_STORAGE = 2,
	STAT_DNS_FLOW = 3,
	STAT_MAX = 4,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OSH_EGRESS_MAX_PROCS);
	__type(key, struct osh_egress_proc_key);
	__type(value, struct osh_egress_proc);
} osh_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OSH_EGRESS_MAX_EXES);
	__type(key, struct osh_egress_exe_key);
	__type(value, struct osh_egress_bin_value);
} osh_exes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OSH_EGRESS_MAX_SANDBOXES);
	__type(key, __u64);
	__type(value, struct osh_egress_sandbox);
} osh_sandboxes SEC(".maps");

/* One generation of a sandbox's rules: both families in one trie (v4 as ::ffff:a.b.c.d) so that
 * a reload is one update of the sandbox's gen_key in osh_sandboxes. The loader sizes each generation's trie from its policy
 * (bpf-egress.c): since Linux 5.10 the kernel requires an inner LPM trie to match this template's
 * type, key and value sizes and flags, not its max_entries. */
struct gen_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, OSH_EGRESS_MAX_GEN);
	/* Sizes, not types: libbpf 1.1 cannot size a struct key of an inner map definition. */
	__uint(key_size, sizeof(struct osh_egress_v6_key));
	__uint(value_size, sizeof(struct osh_egress_value));
};

/* Key: a generation key (osh_egress_sandbox.gen_key), not a cgroup id. Room for every sandbox's
 * current generation and as many again for the loader's ready and retired ones. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 2 * OSH_EGRESS_MAX_SANDBOXES);
	__type(key, __u64);
	__array(values, struct gen_trie);
} osh_gens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, OSH_EGRESS_MAX_DNS_FLOWS);
	__type(key, struct osh_egress_dns_key);
	__type(value, struct osh_egress_dns_orig);
} osh_dns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct osh_egress_sk);
} osh_sk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, OSH_EGRESS_RINGBUF_BYTES);
} osh_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} osh_stats SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&osh_stats, &idx);

	if (v)
		(*v)++;
}

/* ---- binary identity ------------------------------------------------------------------------ */

/* Raw tracepoint arguments and bpf_get_current_task() are kernel pointers passed as u64. */
static __always_inline void *kptr(__u64 v)
{
	return (void *)(unsigned long)v; // NOLINT(performance-no-int-to-ptr)
}

static __always_inline void proc_key_of(struct task_struct *task, struct osh_egress_proc_key *k)
{
	k->start_time = BPF_CORE_READ(task, group_leader, start_time);
	k->tgid = BPF_CORE_READ(task, tgid);
	k->pad = 0;
}

SEC("raw_tracepoint/sched_process_fork")
int osh_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = kptr(ctx->args[0]);
	struct task_struct *child = kptr(ctx->args[1]);
	struct osh_egress_proc_key pk, ck = {};
	struct osh_egress_proc *p, copy;

	/* A new thread shares its process's entry. */
	if (BPF_CORE_READ(parent, tgid) == BPF_CORE_READ(child, tgid))
		return 0;
	proc_key_of(parent, &pk);
	p = bpf_map_lookup_elem(&osh_procs, &pk);
	if (!p)
		return 0;
	copy = *p;
	/* The child of a fork leads its own thread group: its own start time is the key. */
	ck.start_time = BPF_CORE_READ(child, start_time);
	ck.tgid = BPF_CORE_READ(child, tgid);
	if (bpf_map_update_elem(&osh_procs, &ck, &copy, BPF_ANY) < 0)
		stat_inc(STAT_PROC_UPDATE);
	return 0;
}

SEC("raw_tracepoint/sched_process_exec")
int osh_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = kptr(ctx->args[0]);
	struct linux_binprm *bprm = kptr(ctx->args[2]);
	struct osh_egress_exe_key ek = {};
	struct osh_egress_proc_key pk;
	struct osh_egress_bin_value *bin;
	struct osh_egress_proc *p, fresh = {};
	__u64 sb = bpf_get_current_ancestor_cgroup_id(sandbox_level);
	__u64 bits;

	if (!sb || !bpf_map_lookup_elem(&osh_sandboxes, &sb))
		return 0;
	/* bprm->file is what really runs: for a script, its interpreter (as /proc/PID/exe). */
	ek.sandbox = sb;
	ek.ino = BPF_CORE_READ(bprm, file, f_inode, i_ino);
	ek.dev = BPF_CORE_READ(bprm, file, f_inode, i_sb, s_dev);
	bin = bpf_map_lookup_elem(&osh_exes, &ek);
	bits = bin ? bin->mask : 0;
	/* After de_thread() the exec'ing thread is the leader and has the leader's start time. */
	proc_key_of(task, &pk);
	p = bpf_map_lookup_elem(&osh_procs, &pk);
	if (p && p->sandbox == sb) {
		if (bits)
			__sync_fetch_and_or(&p->binaries, bits);
		return 0;
	}
	/* First exec in this sandbox (or moved here from another one): only what it runs now. */
	fresh.sandbox = sb;
	fresh.binaries = bits;
	if (bpf_map_update_elem(&osh_procs, &pk, &fresh, BPF_ANY) < 0)
		stat_inc(STAT_PROC_UPDATE);
	return 0;
}

SEC("raw_tracepoint/sched_process_exit")
int osh_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = kptr(ctx->args[0]);
	struct osh_egress_proc_key pk;

	/* Every thread passes here; the entry goes with the last one (signal->live reached 0). */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	proc_key_of(task, &pk);
	bpf_map_delete_elem(&osh_procs, &pk);
	return 0;
}

/* ---- addresses ------------------------------------------------------------------------------- */

/* An address in the trie's form: 16 bytes, IPv4 as ::ffff:a.b.c.d. Words in network order. */
struct addr {
	__u32 w[4];
};

static __always_inline void addr_from_v4(struct addr *a, __u32 ip4)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = bpf_htonl(0xffff);
	a->w[3] = ip4;
}

static __always_inline bool addr_is_v4(const struct addr *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == bpf_htonl(0xffff);
}

/* IPv6 forms that carry an IPv4 destination are matched as that IPv4 address: v4-mapped
 * (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16, the v4 in bits 16..47). */
static __always_inline void addr_normalise(struct addr *a)
{
	__u32 w0 = bpf_ntohl(a->w[0]);

	if (w0 == 0x0064ff9b && a->w[1] == 0 && a->w[2] == 0) {
		addr_from_v4(a, a->w[3]);
	} else if ((w0 >> 16) == 0x2002) {
		__u32 v4 = (w0 << 16) | (bpf_ntohl(a->w[1]) >> 16);

		addr_from_v4(a, bpf_htonl(v4));
	}
}

/* Loopback, unspecified, link-local (which holds the cloud metadata address 169.254.169.254)
 * and the IPv6 metadata address fd00:ec2::254. */
static __always_inline bool addr_is_special(const struct addr *a)
{
	if (addr_is_v4(a)) {
		__u32 v4 = bpf_ntohl(a->w[3]);

		return (v4 >> 24) == 0 || (v4 >> 24) == 127 || (v4 >> 16) == 0xa9fe;
	}
	__u32 w0 = bpf_ntohl(a->w[0]);

	/* ::/96 holds ::, ::1 and the deprecated IPv4-compatible forms. */
	if (w0 == 0 && a->w[1] == 0 && a->w[2] == 0)
		return true;
	if ((w0 & 0xffc00000) == 0xfe800000)
		return true;
	return w0 == 0xfd000ec2 && a->w[1] == 0 && a->w[2] == 0 && bpf_ntohl(a->w[3]) == 0x254;
}

static __always_inline bool addr_eq(const struct addr *a, const __u8 *b)
{
	const __u32 *w = (const __u32 *)b;

	return a->w[0] == w[0] && a->w[1] == w[1] && a->w[2] == w[2] && a->w[3] == w[3];
}

static __always_inline void addr_store(__u8 *dst, const struct addr *a)
{
	__u32 *w = (__u32 *)dst;

	w[0] = a->w[0];
	w[1] = a->w[1];
	w[2] = a->w[2];
	w[3] = a->w[3];
}

/* ---- events ---------------------------------------------------------------------------------- */

struct decision {
	__u64 sandbox;
	__u64 binaries;
	__u32 rule;
	__u8 verdict;
	__u8 reason;
};

/* The executable's path, walked up dentry by dentry and across mounts (no bpf_d_path for these
 * program types). Bounded: OSH_EGRESS_EXE_PARTS names plus as many mount crossings. */
static __always_inline void exe_path(struct osh_egress_event *e)
{
	struct task_struct *task = kptr(bpf_get_current_task());
	struct file *f = BPF_CORE_READ(task, mm, exe_file);
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
	struct mount *m = container_of(vm, struct mount, mnt);
	__u32 n = 0;

	if (!f)
		return;
#pragma unroll
	for (int i = 0; i < 2 * OSH_EGRESS_EXE_PARTS; i++) {
		struct dentry *root = BPF_CORE_READ(m, mnt.mnt_root);
		struct dentry *parent = BPF_CORE_READ(d, d_parent);

		if (d == root || d == parent) {
			struct mount *mp = BPF_CORE_READ(m, mnt_parent);

			if (mp == m) {
				e->exe_complete = 1;
				break;
			}
			d = BPF_CORE_READ(m, mnt_mountpoint);
			m = mp;
			continue;
		}
		if (n >= OSH_EGRESS_EXE_PARTS)
			break;
		bpf_probe_read_kernel_str(e->exe[n], OSH_EGRESS_EXE_PART_LEN,
					  BPF_CORE_READ(d, d_name.name));
		n++;
		d = parent;
	}
	e->exe_parts = n;
}

/* in_task: called in process context (socket calls), where current is the caller; the skb
 * program may run in softirq context, where current is whoever was interrupted. */
static __always_inline void event_fill(struct osh_egress_event *e, __u8 op,
				       const struct decision *d, const struct addr *a, __u16 port_n,
				       __u8 proto, bool in_task)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->sandbox = d->sandbox;
	e->binaries = d->binaries;
	e->ts_ns = bpf_ktime_get_ns();
	if (in_task) {
		/* Read from the task rather than with bpf_get_current_pid_tgid() and friends:
		 * cgroup_skb programs may not call those before Linux 6.3 (verified on 6.1). */
		struct task_struct *task = kptr(bpf_get_current_task());

		e->pid = BPF_CORE_READ(task, pid);
		e->tgid = BPF_CORE_READ(task, tgid);
		e->uid = BPF_CORE_READ(task, cred, uid.val);
		bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), &task->comm);
		exe_path(e);
	}
	e->rule = d->rule;
	e->op = op;
	e->verdict = d->verdict;
	e->reason = d->reason;
	e->proto = proto;
	e->port = bpf_ntohs(port_n);
	if (a) {
		if (addr_is_v4(a)) {
			e->family = 4;
			__builtin_memcpy(e->addr, &a->w[3], 4);
		} else {
			e->family = 6;
			addr_store(e->addr, a);
		}
	}
}

static __always_inline void event_emit(__u8 op, const struct decision *d, const struct addr *a,
				       __u16 port_n, __u8 proto, bool in_task)
{
	struct osh_egress_event *e = bpf_ringbuf_reserve(&osh_events, sizeof(*e), 0);

	if (!e) {
		stat_inc(STAT_RINGBUF_FULL);
		return;
	}
	event_fill(e, op, d, a, port_n, proto, in_task);
	bpf_ringbuf_submit(e, 0);
}

/* ---- the decision ---------------------------------------------------------------------------- */

static __always_inline __u64 current_binaries(__u64 sb)
{
	struct task_struct *task = kptr(bpf_get_current_task());
	struct osh_egress_proc_key k = {};
	struct osh_egress_proc *p;

	k.start_time = BPF_CORE_READ(task, group_leader, start_time);
	k.tgid = BPF_CORE_READ(task, tgid); /* not the helper: see event_emit() */
	p = bpf_map_lookup_elem(&osh_procs, &k);
	/* No entry (not tracked, map full) or an entry from another sandbox: no binaries. */
	return p && p->sandbox == sb ? p->binaries : 0;
}

/* Decides (sandbox, normalised address, port, proto, binaries). Order: the sandbox's current
 * generation; the trie entry for this port/proto/address; special addresses only through an
 * entry written by policy (not from a DNS answer); the process's binaries; L7. */
static __always_inline void decide(__u64 sb, const struct osh_egress_sandbox *cfg,
				   const struct addr *a, __u16 port_n, __u8 proto,
				   struct decision *d)
{
	struct osh_egress_v6_key k = {};
	struct osh_egress_value *v;
	__u64 allowed, gen_key = cfg->gen_key;
	void *gen;

	d->sandbox = sb;
	d->binaries = current_binaries(sb);
	d->rule = OSH_EGRESS_NO_RULE;
	d->verdict = OSH_EGRESS_DENY;
	gen = gen_key ? bpf_map_lookup_elem(&osh_gens, &gen_key) : NULL;
	if (!gen) {
		d->reason = OSH_EGRESS_R_NO_POLICY;
		return;
	}
	k.prefixlen = OSH_EGRESS_KEY_PREFIX_BITS + 128;
	k.port = port_n;
	k.proto = proto;
	__builtin_memcpy(k.addr, a->w, 16);
	v = bpf_map_lookup_elem(gen, &k);
	if (addr_is_special(a) && (!v || (v->flags & OSH_EGRESS_F_FROM_NAME))) {
		d->reason = OSH_EGRESS_R_SPECIAL;
		if (v)
			d->rule = v->rule;
		return;
	}
	if (!v) {
		d->reason = OSH_EGRESS_R_NO_ENTRY;
		return;
	}
	d->rule = v->rule;
	allowed = v->binaries & d->binaries;
	if (!allowed) {
		d->reason = OSH_EGRESS_R_BINARY;
		return;
	}
	/* Some binary of the process may use the entry at L4: allowed. */
	if (allowed & ~v->l7) {
		d->verdict = OSH_EGRESS_ALLOW;
		return;
	}
	/* Only L7 entries: the proxy does not exist yet. Audit mode lets the flow through and logs
	 * it; enforce mode cannot be honoured at L4, so it is denied rather than widened. */
	if (allowed & v->audit) {
		d->verdict = OSH_EGRESS_AUDIT;
		d->reason = OSH_EGRESS_R_L7;
		return;
	}
	d->reason = OSH_EGRESS_R_L7;
}

/* The socket's storage, created if it has none. Creating it was the larger part of an allowed
 * connect's cost (an allocation, the socket's storage list, its release at close: osh_connect4
 * 1.2 us -> 0.6 us per run without it on 6.18, kernel.bpf_stats_enabled), so only the cases
 * that need it make one. */
static __always_inline struct osh_egress_sk *sk_state(struct bpf_sock *sk)
{
	struct osh_egress_sk *st;

	if (!sk)
		return NULL;
	st = bpf_sk_storage_get(&osh_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		stat_inc(STAT_SK_STORAGE);
	return st;
}

/* Remembers what the check let through, as it will appear on the wire. A connect() needs no
 * storage: the kernel sets the socket's destination from the very address the hook just checked
 * (__inet_stream_connect() and inet_dgram_connect() call sk_prot->pre_connect, which runs
 * BPF_CGROUP_RUN_PROG_INET4/6_CONNECT, right before sk_prot->connect with the same sockaddr;
 * TCP Fast Open's sendto goes through __inet_stream_connect() too), and the backstop compares
 * packets with that. Storage the socket already has is brought up to date, so that a denied or
 * unchecked earlier connect() no longer counts. */
static __always_inline void sk_record(struct bpf_sock_addr *ctx, __u8 op, const struct addr *wire,
				      __u16 port_n)
{
	struct osh_egress_sk *st;

	if (op == OSH_EGRESS_OP_CONNECT) {
		if (!ctx->sk)
			return;
		st = bpf_sk_storage_get(&osh_sk, ctx->sk, 0, 0);
		if (!st)
			return;
		addr_store(st->conn_addr, wire);
		st->conn_port = port_n;
		st->conn_ok = 1;
		st->conn_denied = 0;
		st->conn_unchecked = 0;
		return;
	}
	st = sk_state(ctx->sk);
	if (!st)
		return;
	addr_store(st->send_addr, wire);
	st->send_port = port_n;
	st->send_ok = 1;
}

/* All port-53 traffic goes to the responder, whatever resolver the client named; the original
 * destination is kept for the responder (osh_dns, filled by the skb program) and for recvmsg. */
static __always_inline bool dns_redirect(struct bpf_sock_addr *ctx, __u8 op, bool v6,
					 const struct osh_egress_sandbox *cfg,
					 const struct addr *orig)
{
	struct osh_egress_sk *st;
	struct addr wire;
	__u16 port_n;

	if (v6) {
		if (!(cfg->flags & OSH_EGRESS_SB_DNS6))
			return false;
		__builtin_memcpy(wire.w, cfg->dns_addr6, 16);
		port_n = cfg->dns_port6;
		ctx->user_ip6[0] = wire.w[0];
		ctx->user_ip6[1] = wire.w[1];
		ctx->user_ip6[2] = wire.w[2];
		ctx->user_ip6[3] = wire.w[3];
	} else {
		__u32 ip4;

		if (!(cfg->flags & OSH_EGRESS_SB_DNS4))
			return false;
		__builtin_memcpy(&ip4, cfg->dns_addr4, 4);
		addr_from_v4(&wire, ip4);
		port_n = cfg->dns_port4;
		ctx->user_ip4 = ip4;
	}
	ctx->user_port = port_n;
	/* Created here: recvmsg needs the original resolver, and the backstop the note for the
	 * responder; sk_record() then finds it for a connect too. Without it the flow still only
	 * reaches osh's own responder. */
	st = sk_state(ctx->sk);
	if (st) {
		addr_store(st->dns_addr, orig);
		st->dns_port = bpf_htons(DNS_PORT);
		st->dns = 1;
	}
	sk_record(ctx, op, &wire, port_n);
	return true;
}

static __always_inline int sock_addr_check(struct bpf_sock_addr *ctx, __u8 op, bool v6)
{
	__u64 sb = bpf_get_current_ancestor_cgroup_id(sandbox_level);
	struct osh_egress_sandbox *cfg = bpf_map_lookup_elem(&osh_sandboxes, &sb);
	__u16 port_n = (__u16)ctx->user_port;
	__u8 proto = (__u8)ctx->protocol;
	struct decision d = {};
	struct addr a, orig;

	/* Attached only to sandbox cgroups; a caller in no sandbox osh knows is not ours to judge.
	 * But the socket is a sandbox's (these programs run for its cgroup), and the backstop
	 * trusts a socket's destination unless told: a connect() here is marked unchecked. */
	if (!cfg) {
		if (op == OSH_EGRESS_OP_CONNECT) {
			struct osh_egress_sk *st = sk_state(ctx->sk);

			/* Without the mark the destination would pass: refuse instead. */
			if (!st)
				return 0;
			st->conn_ok = 0;
			st->conn_denied = 0;
			st->conn_unchecked = 1;
		}
		return 1;
	}
	if (v6) {
		a.w[0] = ctx->user_ip6[0];
		a.w[1] = ctx->user_ip6[1];
		a.w[2] = ctx->user_ip6[2];
		a.w[3] = ctx->user_ip6[3];
	} else {
		addr_from_v4(&a, ctx->user_ip4);
	}
	orig = a;
	if (bpf_ntohs(port_n) == DNS_PORT && (proto == IPPROTO_UDP || proto == IPPROTO_TCP) &&
	    dns_redirect(ctx, op, v6, cfg, &orig))
		return 1;
	addr_normalise(&a);
	decide(sb, cfg, &a, port_n, proto, &d);
	if (d.verdict == OSH_EGRESS_DENY && op == OSH_EGRESS_OP_CONNECT && proto == IPPROTO_UDP) {
		struct osh_egress_sk *st = sk_state(ctx->sk);

		/* Without storage the backstop would trust the socket's destination: the connect
		 * is refused like a TCP one instead. */
		if (!st) {
			event_emit(op, &d, &a, port_n, proto, true);
			return 0;
		}
		addr_store(st->conn_addr, &orig);
		st->conn_port = port_n;
		st->conn_ok = 0;
		st->conn_denied = d.reason;
		st->conn_unchecked = 0;
		st->conn_rule = d.rule;
		return 1;
	}
	if (d.verdict != OSH_EGRESS_ALLOW)
		event_emit(op, &d, &a, port_n, proto, true);
	if (d.verdict == OSH_EGRESS_DENY)
		return 0;
	/* On the wire the destination is what the caller wrote, not the normalised form. */
	sk_record(ctx, op, &orig, port_n);
	return 1;
}

SEC("cgroup/connect4")
int osh_connect4(struct bpf_sock_addr *ctx)
{
	return sock_addr_check(ctx, OSH_EGRESS_OP_CONNECT, false);
}

SEC("cgroup/connect6")
int osh_connect6(struct bpf_sock_addr *ctx)
{
	return sock_addr_check(ctx, OSH_EGRESS_OP_CONNECT, true);
}

SEC("cgroup/sendmsg4")
int osh_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_addr_check(ctx, OSH_EGRESS_OP_SENDMSG, false);
}

SEC("cgroup/sendmsg6")
int osh_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_addr_check(ctx, OSH_EGRESS_OP_SENDMSG, true);
}

/* Replies of the DNS responder appear to come from the resolver the client asked for. */
static __always_inline int recvmsg_rewrite(struct bpf_sock_addr *ctx, bool v6)
{
	struct osh_egress_sk *st;
	struct addr src;

	if (!ctx->sk)
		return 1;
	st = bpf_sk_storage_get(&osh_sk, ctx->sk, 0, 0);
	if (!st || !st->dns)
		return 1;
	if (v6) {
		src.w[0] = ctx->user_ip6[0];
		src.w[1] = ctx->user_ip6[1];
		src.w[2] = ctx->user_ip6[2];
		src.w[3] = ctx->user_ip6[3];
	} else {
		addr_from_v4(&src, ctx->user_ip4);
	}
	if ((__u16)ctx->user_port != st->conn_port && (__u16)ctx->user_port != st->send_port)
		return 1;
	if (!addr_eq(&src, st->conn_addr) && !addr_eq(&src, st->send_addr))
		return 1;
	if (v6) {
		const __u32 *w = (const __u32 *)st->dns_addr;

		ctx->user_ip6[0] = w[0];
		ctx->user_ip6[1] = w[1];
		ctx->user_ip6[2] = w[2];
		ctx->user_ip6[3] = w[3];
	} else {
		const __u32 *w = (const __u32 *)st->dns_addr;

		ctx->user_ip4 = w[3];
	}
	ctx->user_port = st->dns_port;
	return 1;
}

SEC("cgroup/recvmsg4")
int osh_recvmsg4(struct bpf_sock_addr *ctx)
{
	return recvmsg_rewrite(ctx, false);
}

SEC("cgroup/recvmsg6")
int osh_recvmsg6(struct bpf_sock_addr *ctx)
{
	return recvmsg_rewrite(ctx, true);
}

/* Only TCP stream and UDP datagram sockets: raw, ICMP (ping), SCTP, MPTCP and UDP-Lite would
 * each need their own checks, and no policy can allow them. */
SEC("cgroup/sock_create")
int osh_sock_create(struct bpf_sock *ctx)
{
	struct decision d = {};
	__u64 sb;

	/* Allowed whoever asks: decided before the sandbox lookup, which only a refusal needs. */
	if ((ctx->type == SOCK_STREAM && ctx->protocol == IPPROTO_TCP) ||
	    (ctx->type == SOCK_DGRAM && ctx->protocol == IPPROTO_UDP))
		return 1;
	sb = bpf_get_current_ancestor_cgroup_id(sandbox_level);
	if (!bpf_map_lookup_elem(&osh_sandboxes, &sb))
		return 1;
	d.sandbox = sb;
	d.binaries = current_binaries(sb);
	d.rule = OSH_EGRESS_NO_RULE;
	d.verdict = OSH_EGRESS_DENY;
	d.reason = OSH_EGRESS_R_SOCKET;
	event_emit(OSH_EGRESS_OP_SOCKET, &d, NULL, 0, (__u8)ctx->protocol, true);
	return 0;
}

/* ---- unix sockets ---------------------------------------------------------------------------- */

/* The kernel-side context of the unix hooks. Only its flavour is named here, so the object
 * also builds against the BTF of a kernel older than 6.7 (where these programs never load). */
struct bpf_sock_addr_kern___osh {
	struct sockaddr *uaddr;
	u32 uaddrlen;
} __attribute__((preserve_access_index));

/* Weak: kernels before 6.3 lack it, and there the unix programs are not loaded anyway. */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

/* The server of a named or abstract unix socket runs outside the sandbox's egress policy (a
 * process outside can hand a connected TCP socket over it with SCM_RIGHTS, a host daemon can act
 * for the caller): every connect/sendmsg to one is denied. The hook cannot tell whether the
 * listener lives in the same sandbox (the peer is looked up after it), so that is denied too;
 * socketpair() never reaches these hooks. */
static __always_inline int unix_check(struct bpf_sock_addr *ctx, __u8 op)
{
	__u64 sb = bpf_get_current_ancestor_cgroup_id(sandbox_level);
	struct bpf_sock_addr_kern___osh *sa;
	struct osh_egress_event *e;
	struct decision d = {};
	__u32 len;

	if (!bpf_map_lookup_elem(&osh_sandboxes, &sb))
		return 1;
	d.sandbox = sb;
	d.binaries = current_binaries(sb);
	d.rule = OSH_EGRESS_NO_RULE;
	d.verdict = OSH_EGRESS_DENY;
	d.reason = OSH_EGRESS_R_UNIX;
	e = bpf_ringbuf_reserve(&osh_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(STAT_RINGBUF_FULL);
		return 0;
	}
	event_fill(e, op, &d, NULL, 0, 0, true);
	sa = bpf_cast_to_kern_ctx(ctx);
	len = BPF_CORE_READ(sa, uaddrlen);
	/* uaddrlen counts sun_family (2 bytes) and, for a pathname, maybe a trailing NUL. */
	len = len > 2 ? len - 2 : 0;
	if (len > OSH_EGRESS_UNIX_PATH_LEN)
		len = OSH_EGRESS_UNIX_PATH_LEN;
	e->unix_path_len = (__u8)len;
	bpf_probe_read_kernel(e->unix_path, sizeof(e->unix_path),
			      (const char *)BPF_CORE_READ(sa, uaddr) + 2);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("cgroup/connect_unix")
int osh_connect_unix(struct bpf_sock_addr *ctx)
{
	return unix_check(ctx, OSH_EGRESS_OP_CONNECT_UNIX);
}

SEC("cgroup/sendmsg_unix")
int osh_sendmsg_unix(struct bpf_sock_addr *ctx)
{
	return unix_check(ctx, OSH_EGRESS_OP_SENDMSG_UNIX);
}

/* ---- backstop -------------------------------------------------------------------------------- */

struct pkt {
	struct addr daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 family;
	bool has_ports;
	bool tcp_synack; /* SYN and ACK: a listener's answer to a SYN */
};

/* Copies len bytes at offset off of the packet (skb->data is its network header here): straight
 * from the linear head when it holds them, as it does for the IP and TCP/UDP headers of what
 * the local stack sends, else through the helper. */
static __always_inline int pkt_load(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	void *data = (void *)(long)skb->data;	 // NOLINT(performance-no-int-to-ptr)
	void *end = (void *)(long)skb->data_end; // NOLINT(performance-no-int-to-ptr)

	if (off <= 60 && data + off + len <= end) {
		__builtin_memcpy(to, data + off, len);
		return 0;
	}
	return bpf_skb_load_bytes(skb, off, to, len);
}

static __always_inline int pkt_parse(struct __sk_buff *skb, struct pkt *p)
{
	__u32 l4off;
	__u8 ver;

	if (pkt_load(skb, 0, &ver, 1) < 0)
		return -1;
	ver >>= 4;
	if (ver == 4) {
		struct iphdr ip;

		if (pkt_load(skb, 0, &ip, sizeof(ip)) < 0)
			return -1;
		addr_from_v4(&p->daddr, ip.daddr);
		p->proto = ip.protocol;
		p->family = 4;
		l4off = (ip.ihl & 0xf) * 4;
		/* Later fragments carry no ports. */
		p->has_ports = (bpf_ntohs(ip.frag_off) & 0x1fff) == 0;
	} else if (ver == 6) {
		struct ipv6hdr ip6;

		if (pkt_load(skb, 0, &ip6, sizeof(ip6)) < 0)
			return -1;
		__builtin_memcpy(p->daddr.w, &ip6.daddr, 16);
		p->proto = ip6.nexthdr;
		p->family = 6;
		l4off = sizeof(ip6);
		/* Extension headers (fragments included) are matched on the address alone. */
		p->has_ports = p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP;
	} else {
		return -1;
	}
	if (!p->has_ports)
		return 0;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr th;

		if (pkt_load(skb, l4off, &th, sizeof(th)) < 0)
			return -1;
		p->sport = th.source;
		p->dport = th.dest;
		p->tcp_synack = th.syn && th.ack;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr uh;

		if (pkt_load(skb, l4off, &uh, sizeof(uh)) < 0)
			return -1;
		p->sport = uh.source;
		p->dport = uh.dest;
	} else {
		p->has_ports = false;
	}
	return 0;
}

static __always_inline bool pkt_matches(const struct pkt *p, const __u8 *addr, __u16 port)
{
	return addr_eq(&p->daddr, addr) && (!p->has_ports || p->dport == port);
}

/* A socket's own destination: sk->sk_daddr / sk_v6_daddr and sk_dport, the address connect()
 * set after its hook allowed it, or an accepted connection's peer. */
struct sk_dst {
	__u32 ip4;
	__u32 ip6[4];
	__u16 port; /* network order; 0: not connected */
};

/* Each field one load at its own offset, before any branch: the verifier allows no arithmetic
 * on a socket pointer, which the compiler otherwise uses to pick between fields. */
static __always_inline void sk_dst_read(const struct bpf_sock *sk, struct sk_dst *d)
{
	d->port = *(volatile __be16 *)&sk->dst_port; /* 16 bits wide since Linux 5.18 */
	d->ip4 = *(volatile __u32 *)&sk->dst_ip4;
	d->ip6[0] = *(volatile __u32 *)&sk->dst_ip6[0];
	d->ip6[1] = *(volatile __u32 *)&sk->dst_ip6[1];
	d->ip6[2] = *(volatile __u32 *)&sk->dst_ip6[2];
	d->ip6[3] = *(volatile __u32 *)&sk->dst_ip6[3];
}

/* The packet goes to the socket's own destination. An IPv4 packet is compared with the IPv4
 * field whatever the socket's family: a v4-mapped destination of an AF_INET6 socket is sent as
 * IPv4 to inet_daddr. Not what goes on the wire in one case: with a source route (IP_OPTIONS
 * SRR, an IPv6 routing header) the packet goes to the first hop, which no hook checked
 * (__ip_queue_xmit(): daddr = opt.faddr; fl6_update_dst()): it does not match, and is dropped. */
static __always_inline bool pkt_to_sk_dst(const struct pkt *p, const struct sk_dst *d)
{
	if (!d->port || (p->has_ports && p->dport != d->port))
		return false;
	if (p->family == 4)
		return p->daddr.w[3] == d->ip4;
	return p->daddr.w[0] == d->ip6[0] && p->daddr.w[1] == d->ip6[1] &&
	       p->daddr.w[2] == d->ip6[2] && p->daddr.w[3] == d->ip6[3];
}

static __always_inline void dns_flow_note(const struct pkt *p, __u64 sb,
					  const struct osh_egress_sk *st)
{
	struct osh_egress_dns_key k = {};
	struct osh_egress_dns_orig o = {};

	k.sport = p->sport;
	k.proto = p->proto;
	k.family = p->family;
	o.sandbox = sb;
	__builtin_memcpy(o.addr, st->dns_addr, 16);
	o.port = st->dns_port;
	if (bpf_map_update_elem(&osh_dns, &k, &o, BPF_ANY) < 0)
		stat_inc(STAT_DNS_FLOW);
}

/* Drops what the socket-level checks did not let through: a packet of a sandbox socket is
 * passed when its destination is the one connect() or the last sendmsg() allowed on that
 * socket, or the peer of a connection it accepted (that socket's own destination). SYN-ACKs
 * come from no full socket: a request socket, or none for a syncookie (tcp_make_synack()); a
 * Fast Open SYN-ACK from the child socket, to its peer. Anything else, e.g. a protocol path
 * without a cgroup hook, or a source route, is dropped.
 * What connect() allowed is the socket's own destination unless its storage says otherwise
 * (sk_record()). The passes come first and need no sandbox lookup: they hold for any socket. */
SEC("cgroup_skb/egress")
int osh_skb_egress(struct __sk_buff *skb)
{
	struct osh_egress_sk *st;
	struct bpf_sock *sk = skb->sk;
	struct decision d = {};
	struct pkt p = {};
	struct sk_dst dst;
	__u64 sb;
	int parsed;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || (sk->family != AF_INET && sk->family != AF_INET6))
		return 1;
	sk_dst_read(sk, &dst);
	parsed = pkt_parse(skb, &p);
	st = bpf_sk_storage_get(&osh_sk, sk, 0, 0);
	if (parsed == 0 && !st && pkt_to_sk_dst(&p, &dst))
		return 1;
	/* A SYN-ACK goes to the peer whose SYN reached a listener of the sandbox (an inbound
	 * connection, passed like the accepted socket's packets later). Linux 6.1 runs the program
	 * for it with the listening socket, whose own destination is unset (6.18 with the request
	 * socket, not a full one, passed above). */
	if (parsed == 0 && p.tcp_synack && sk->state == BPF_TCP_LISTEN)
		return 1;
	sb = bpf_skb_ancestor_cgroup_id(skb, sandbox_level);
	if (!bpf_map_lookup_elem(&osh_sandboxes, &sb))
		return 1;
	if (parsed < 0)
		goto drop;
	if (st) {
		if ((st->conn_ok && pkt_matches(&p, st->conn_addr, st->conn_port)) ||
		    (st->send_ok && pkt_matches(&p, st->send_addr, st->send_port))) {
			if (st->dns && p.has_ports)
				dns_flow_note(&p, sb, st);
			return 1;
		}
		/* A datagram to the destination of a denied UDP connect(): the sender is the
		 * current task (UDP sends run the egress path in the sending syscall). */
		if (st->conn_denied && p.proto == IPPROTO_UDP &&
		    pkt_matches(&p, st->conn_addr, st->conn_port)) {
			struct addr a = p.daddr;

			addr_normalise(&a);
			d.sandbox = sb;
			d.binaries = current_binaries(sb);
			d.rule = st->conn_rule;
			d.verdict = OSH_EGRESS_DENY;
			d.reason = st->conn_denied;
			event_emit(OSH_EGRESS_OP_SENDMSG, &d, &a, p.dport, p.proto, true);
			return 0;
		}
		/* A connect() allowed before the storage was made (for a sendmsg) left none. */
		if (!st->conn_denied && !st->conn_unchecked && pkt_to_sk_dst(&p, &dst))
			return 1;
	}
drop:
	d.sandbox = sb;
	d.rule = OSH_EGRESS_NO_RULE;
	d.verdict = OSH_EGRESS_DENY;
	d.reason = OSH_EGRESS_R_UNCHECKED;
	event_emit(OSH_EGRESS_OP_PACKET, &d, &p.daddr, p.dport, p.proto, false);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
