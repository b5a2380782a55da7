/* SPDX-License-Identifier: Apache-2.0 */
/* Egress ABI shared by bpf/ programs and userspace: the key/value layouts of the egress maps the
 * policy compiler fills. Plain data only; userspace checks the sizes with _Static_assert. */
#ifndef OSH_BPF_EGRESS_H
#define OSH_BPF_EGRESS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define OSH_EGRESS_MAX_BINARIES 64    /* bits of osh_egress_value.binaries */
#define OSH_EGRESS_MAX_V4	16384 /* entries of the IPv4 LPM trie */
#define OSH_EGRESS_MAX_V6	16384 /* entries of the IPv6 LPM trie */
#define OSH_EGRESS_MAX_NAMES	4096  /* hostnames pending DNS */
#define OSH_EGRESS_MAX_NAME_LEN 256   /* bytes of osh_egress_name.name, NUL included */
#define OSH_EGRESS_MAX_BIN_IDS	4096  /* inode+dev identities of the binaries */

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

#endif
