/* SPDX-License-Identifier: Apache-2.0 */
/* The anchor: osh's cgroup programs attached to one empty cgroup for as long as a long-lived
 * process (oshd) holds them. The kernel guards each cgroup BPF hook with a static key that it
 * switches on when the first program of that hook is attached anywhere and off when the last
 * goes; each switch rewrites kernel text on every CPU. Without an anchor, the first sandbox's
 * create and the last one's delete flip ten of them, which was half of oshd's CPU time for an
 * `oshctl run`. With it, the hooks stay on while oshd runs (host processes outside any sandbox
 * then take the hook's check of an empty program list). Returns 0 or -errno; never prints. */
#ifndef OSH_USERSPACE_BPF_ANCHOR_H
#define OSH_USERSPACE_BPF_ANCHOR_H

#include "bpf-egress.h"

/* Creates <cgroup2>/osh/.static-keys-<pid> (no process ever enters it) and attaches every cgroup
 * program of eg to it; anchors of processes that are gone are removed first. */
int osh_bpf_anchor_hold(const struct osh_egress *eg);

/* Detaches and removes the anchor. No-op without one. */
void osh_bpf_anchor_release(void);

#endif
