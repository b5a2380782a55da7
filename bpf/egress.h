/* SPDX-License-Identifier: Apache-2.0 */
/* Egress ABI shared by bpf/ programs and userspace: the key/value layouts of the egress maps the
 * policy compiler fills. Plain data only; userspace checks the sizes with _Static_assert. */
#ifndef OSH_BPF_EGRESS_H
#define OSH_BPF_EGRESS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define OSH_EGRESS_MAX_BINARIES 64 /* bits of osh_egress_value.binaries */
/* Address entries of one policy (a host address or allowed_ips range, times each port; equal
 * ones once), IPv4 and IPv6 together: they share the sandbox's LPM trie. Its nodes are allocated
 * as entries go in (no prealloc), ~120-180 bytes of kernel memory each. */
#define OSH_EGRESS_MAX_ADDR_ENTRIES 131072
#define OSH_EGRESS_MAX_NAMES	    4096 /* hostnames pending DNS */
#define OSH_EGRESS_MAX_NAME_LEN	    256	 /* bytes of osh_egress_name.name, NUL included */
#define OSH_EGRESS_MAX_BIN_IDS	    4096 /* inode+dev identities of the binaries */

/* Bits of the LPM key before the address: port, proto and pad must match exactly, so the
 * prefix length of an entry is this plus the CIDR's prefix length. */
#define OSH_EGRESS_KEY_PREFIX_BITS 32

enum osh_egress_proto {
	OSH_EGRESS_PROTO_TCP = 6,
	OSH_EGRESS_PROTO_UDP = 17,
};

enum osh_egress_flags {
	OSH_EGRESS_F_TLS_SKIP = 1,  /* the L7 proxy splices instead of terminating */
	OSH_EGRESS_F_FROM_NAME = 2, /* entry was made from a DNS answer (has a TTL in userspace) */
};

enum osh_egress_name_kind {
	OSH_EGRESS_NAME_EXACT = 1,
	OSH_EGRESS_NAME_WILDCARD = 2, /* '*' or '**' in the first label */
};

/* BPF_MAP_TYPE_LPM_TRIE key. The port and protocol come before the address so that one trie
 * answers "this address prefix on this port" in a single lookup: a lookup key carries
 * prefixlen = OSH_EGRESS_KEY_PREFIX_BITS + 32 and the exact port/proto. */
struct osh_egress_v4_key {
	__u32 prefixlen;
	__u16 port; /* network byte order, as bpf_sock_addr.user_port */
	__u8 proto; /* enum osh_egress_proto */
	__u8 pad;   /* zero */
	__u8 addr[4];
};

struct osh_egress_v6_key {
	__u32 prefixlen;
	__u16 port;
	__u8 proto;
	__u8 pad;
	__u8 addr[16]; /* IPv4-mapped destinations are normalised to v4 before lookup */
};

/* Which binaries may use an entry. Bit i stands for binary i of the policy (the process's
 * executable or any ancestor's, tracked by the exec/fork programs). */
struct osh_egress_value {
	__u64 binaries;
	__u64 l7;    /* subset of binaries whose flows go to the L7 proxy */
	__u64 audit; /* subset of l7 whose L7 violations are logged, not blocked */
	__u32 rule;  /* index of the first network_policies entry (canonical order), for hints */
	__u32 flags; /* enum osh_egress_flags */
};

/* A hostname the DNS responder turns into v4/v6 entries with the same value. */
struct osh_egress_name {
	char name[OSH_EGRESS_MAX_NAME_LEN]; /* lower case, NUL padded; wildcards keep their '*' */
	__u16 port;			    /* network byte order */
	__u8 proto;
	__u8 kind; /* enum osh_egress_name_kind */
	__u32 pad;
	struct osh_egress_value value;
};

/* Binary identity map: the loader resolves each policy binary to inode+device. */
struct osh_egress_bin_key {
	__u64 ino;
	__u32 dev; /* new_encode_dev() form, as the kernel's inode->i_sb->s_dev */
	__u32 pad;
};

struct osh_egress_bin_value {
	__u64 mask; /* the binary's bit(s) in osh_egress_value.binaries */
};

/* ---- kernel-side state of the egress programs (bpf/egress.bpf.c) -------------------------------
 * Everything below is written by the loader (userspace/bpf-egress.c) or by the programs, never by
 * the policy compiler. */

#define OSH_EGRESS_MAX_SANDBOXES 1024  /* sandboxes one loaded object governs */
#define OSH_EGRESS_MAX_PROCS	 65536 /* processes tracked by the identity programs */
#define OSH_EGRESS_MAX_EXES	 16384 /* {sandbox, dev, ino} binary identities */
/* Addresses the DNS responder may add to one sandbox's trie beyond its policy's entries: the
 * kernel memory a sandbox can make osh spend by resolving names (~3 MB). */
#define OSH_EGRESS_MAX_DNS_ADDRS 16384
/* A generation's trie is created with max_entries = its policy's address entries +
 * OSH_EGRESS_MAX_DNS_ADDRS, at most this. */
#define OSH_EGRESS_MAX_GEN	 (OSH_EGRESS_MAX_ADDR_ENTRIES + OSH_EGRESS_MAX_DNS_ADDRS)
#define OSH_EGRESS_MAX_DNS_FLOWS 4096 /* redirected DNS flows remembered for the responder */
#define OSH_EGRESS_RINGBUF_BYTES (256 * 1024)
#define OSH_EGRESS_NO_RULE	 0xffffffffu /* osh_egress_event.rule when no entry matched */
#define OSH_EGRESS_COMM_LEN	 16
#define OSH_EGRESS_EXE_PARTS	 8   /* path components of the executable an event carries */
#define OSH_EGRESS_EXE_PART_LEN	 32  /* bytes of one component, NUL included (longer: cut) */
#define OSH_EGRESS_UNIX_PATH_LEN 108 /* sizeof(sockaddr_un.sun_path) */

/* Prefix bits of an IPv4 destination stored in the (single, IPv6-keyed) LPM trie of a
 * generation: v4 addresses are kept as ::ffff:a.b.c.d so one trie (one map-of-maps slot) holds
 * both families and a reload flips both at once. */
#define OSH_EGRESS_V4_MAPPED_BITS 96

/* Identity of a process: tgid alone is reused, start time of the group leader is not. The u64
 * first so the key has no hole. */
struct osh_egress_proc_key {
	__u64 start_time; /* task->group_leader->start_time (ns, monotonic) */
	__u32 tgid;
	__u32 pad;
};

/* What a process is: its sandbox (cgroup id) and the binaries it or any ancestor inside that
 * sandbox executed, as bits of the sandbox's stable binary numbering (osh_egress_exe_key). */
struct osh_egress_proc {
	__u64 sandbox;
	__u64 binaries;
};

/* A policy binary in one sandbox. sandbox first: entries of one sandbox sort together when the
 * loader dumps or deletes them. dev is the kernel's s_dev (MKDEV: major << 20 | minor). */
struct osh_egress_exe_key {
	__u64 sandbox;
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

enum osh_egress_sandbox_flags {
	OSH_EGRESS_SB_DNS4 = 1, /* redirect IPv4 port 53 to dns_addr4:dns_port4 */
	OSH_EGRESS_SB_DNS6 = 2, /* redirect IPv6 port 53 to dns_addr6:dns_port6 */
};

/* Per-sandbox settings (map osh_sandboxes, key: the sandbox cgroup id). */
struct osh_egress_sandbox {
	__u32 flags;	 /* enum osh_egress_sandbox_flags */
	__u16 dns_port4; /* network byte order */
	__u16 dns_port6; /* network byte order */
	__u8 dns_addr4[4];
	__u32 generation; /* bumped by every reload, for events and tests */
	__u8 dns_addr6[16];
	/* The key of the current generation in osh_gens (0: none yet, so everything is denied).
	 * A reload writes a new key here: one update of a plain hash, not of the map of maps,
	 * whose every update and delete waits for an RCU grace period (bpf-egress.c, gen keys). */
	__u64 gen_key;
};

/* The original destination of a redirected DNS flow, for the responder to forward to. Key: the
 * client's protocol and local port (known only once the packet leaves, so the cgroup_skb program
 * writes it), in the sandbox's network namespace. */
struct osh_egress_dns_key {
	__u16 sport; /* client local port, network byte order */
	__u8 proto;  /* enum osh_egress_proto */
	__u8 family; /* 4 or 6: the family of the client socket's destination */
	__u32 pad;
};

struct osh_egress_dns_orig {
	__u64 sandbox;
	__u8 addr[16]; /* v4 as ::ffff:a.b.c.d */
	__u16 port;    /* network byte order */
	__u16 pad;
	__u32 pad2;
};

/* What the connect/sendmsg programs let through on a socket, for the cgroup_skb backstop and
 * for recvmsg (sk_storage osh_sk). Addresses as they go on the wire (after a DNS rewrite).
 * Created only where the socket's own destination does not say it (sendmsg to an address, a DNS
 * rewrite, a denied UDP connect, an unchecked connect): an allowed connect() leaves none, the
 * backstop then trusts the socket's destination, which only connect() set (docs/arch-egress.md,
 * "Backstop"). An allowed connect() on a socket that has storage updates conn_*. */
struct osh_egress_sk {
	__u8 conn_ok; /* connect() was allowed to conn_addr:conn_port */
	__u8 send_ok; /* the last allowed sendmsg() went to send_addr:send_port */
	__u8 dns;     /* the flow was redirected to the DNS responder */
	/* A UDP connect() to conn_addr:conn_port that policy denies: connect() itself sends
	 * nothing and is let through (resolvers connect UDP sockets only to learn a source
	 * address), the first datagram is dropped with this reason (enum osh_egress_reason). */
	__u8 conn_denied;
	__u16 conn_port;
	__u16 send_port;
	__u8 conn_addr[16];
	__u8 send_addr[16];
	__u8 dns_addr[16]; /* the original resolver the client asked for */
	__u16 dns_port;
	/* connect() ran while the caller was in no sandbox osh knows (a sandbox socket handed out):
	 * the socket's destination was not checked, the backstop drops packets to it. */
	__u8 conn_unchecked;
	__u8 pad;
	__u32 conn_rule; /* with conn_denied: the closest rule */
};

enum osh_egress_op {
	OSH_EGRESS_OP_CONNECT = 1,
	OSH_EGRESS_OP_SENDMSG = 2,
	OSH_EGRESS_OP_SOCKET = 3,	/* sock_create: a socket type osh never allows */
	OSH_EGRESS_OP_PACKET = 4,	/* cgroup_skb backstop */
	OSH_EGRESS_OP_CONNECT_UNIX = 5, /* connect() to a named or abstract AF_UNIX socket */
	OSH_EGRESS_OP_SENDMSG_UNIX = 6, /* sendmsg() with an AF_UNIX destination address */
};

enum osh_egress_verdict {
	OSH_EGRESS_ALLOW = 0,
	OSH_EGRESS_DENY = 1,
	OSH_EGRESS_AUDIT = 2, /* allowed and logged */
};

enum osh_egress_reason {
	OSH_EGRESS_R_NO_ENTRY = 1,  /* no network_policies entry for this destination */
	OSH_EGRESS_R_BINARY = 2,    /* an entry exists, not for this process's binaries */
	OSH_EGRESS_R_SPECIAL = 3,   /* loopback, link-local, metadata or unspecified address */
	OSH_EGRESS_R_L7 = 4,	    /* the entry needs the L7 proxy, which is not available */
	OSH_EGRESS_R_SOCKET = 5,    /* raw, ICMP or another protocol than TCP/UDP */
	OSH_EGRESS_R_UNCHECKED = 6, /* a packet no connect/sendmsg check let through */
	OSH_EGRESS_R_NO_POLICY = 7, /* the sandbox has no policy generation loaded */
	OSH_EGRESS_R_UNIX = 8,	    /* a named or abstract unix socket (its server is outside) */
};

/* One event of the ring buffer osh_events. */
struct osh_egress_event {
	__u64 sandbox;
	__u64 binaries; /* the process's mask */
	__u64 ts_ns;	/* bpf_ktime_get_ns() */
	__u32 pid;
	__u32 tgid;
	__u32 uid;
	__u32 rule; /* network_policies index of the matching entry, or OSH_EGRESS_NO_RULE */
	__u8 op;    /* enum osh_egress_op */
	__u8 verdict;
	__u8 reason; /* enum osh_egress_reason */
	__u8 family; /* 4 or 6: of addr as matched (after normalisation) */
	__u8 proto;  /* IPPROTO_* */
	__u8 pad;
	__u16 port;    /* host byte order */
	__u8 addr[16]; /* v4 in the first 4 bytes */
	char comm[OSH_EGRESS_COMM_LEN];
	/* The executable's path, read in the kernel (the process may be gone when userspace reads
	 * the event): components leaf first, exe_parts of them; exe_complete when they reach the
	 * root, otherwise the path is longer than what is shown. */
	char exe[OSH_EGRESS_EXE_PARTS][OSH_EGRESS_EXE_PART_LEN];
	__u8 exe_parts;
	__u8 exe_complete;
	/* The unix ops: bytes of unix_path used (abstract names start with a NUL and are not
	 * NUL-terminated, pathnames may be). */
	__u8 unix_path_len;
	__u8 pad2[5];
	char unix_path[OSH_EGRESS_UNIX_PATH_LEN];
	__u8 pad3[4];
};

#endif
