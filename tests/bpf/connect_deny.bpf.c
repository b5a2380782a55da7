// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0-only)
// Test program for the host end-to-end harness: denies TCP connect() to one port (IPv4 and IPv6)
// for every process in the cgroup it is attached to. Later egress programs replace it.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Set by the loader through the skeleton's rodata before load; 0 denies nothing. */
const volatile __u16 deny_port = 0;

/* cgroup_sock_addr programs return 1 to let the call proceed and 0 to fail it with EPERM. */
static __always_inline int verdict(const struct bpf_sock_addr *ctx)
{
	/* user_port holds the port in network byte order in its low 16 bits. */
	__u16 port = bpf_ntohs((__u16)ctx->user_port);

	if (deny_port != 0 && ctx->protocol == IPPROTO_TCP && port == deny_port)
		return 0;
	return 1;
}

SEC("cgroup/connect4")
int connect_deny4(struct bpf_sock_addr *ctx)
{
	return verdict(ctx);
}

SEC("cgroup/connect6")
int connect_deny6(struct bpf_sock_addr *ctx)
{
	return verdict(ctx);
}

/* GPL-compatible so the kernel lets the program call GPL-only helpers. */
char LICENSE[] SEC("license") = "GPL";
