#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# THREATS.md "Leaving the sandbox's scope" 10-13: other cgroups and namespaces, other
# processes' memory and the allowed binary's identity, kernel interfaces, terminal injection.
# Each attempt reaches the kernel outside the sandbox (as the sandbox's own user, or as root
# where it needs a privilege the sandbox drops), and is refused inside. These refusals come
# from seccomp, Landlock, DAC or the dropped capabilities, none of which reports an event on
# this kernel: the errno itself is the record. Where the host cannot stop an attack (no BPF
# LSM), the test checks the fallback and the table says so.

bats_require_minimum_version 1.5.0

setup_file() {
	load lib.bash
	attacks_setup_file
}

teardown_file() {
	load lib.bash
	attacks_teardown_file
}

setup() {
	load lib.bash
	attacks_setup
	CGROOT=$(cgroup_root_path)
}

teardown() {
	attacks_teardown
}

cgroup_root_path() { awk '$0 ~ / - cgroup2 / {print $5; exit}' /proc/self/mountinfo; }

# outside_reaches [--root] CMD...: the call gets the kernel's own answer outside (anything but
# EPERM from a filter), e.g. "ok" or an errno for bad arguments.
outside_reaches() {
	local who=as_agent
	if [ "$1" = --root ]; then who=fakenet_run_client; shift; fi
	run "$who" "$@"
	echo "outside ($who): $output"
	[ -n "$output" ] && [[ $output != *EPERM* ]] || { echo "refused outside too"; return 1; }
	ROW_OUT="reaches kernel: $output"
	[ "$who" = as_agent ] || ROW_OUT="reaches kernel (root): $output"
}

# sys_case [--root] CMD: sys-probe CMD reaches the kernel outside, is EPERM inside (seccomp).
sys_case() {
	local root=
	if [ "$1" = --root ]; then root=--root; shift; fi
	outside_reaches $root "$SYSPROBE" "$1"
	inside_denied "EPERM" "$SYSPROBE" "$1"
	kernel_only "$SECCOMP_NOEVENT"
}

# ---- 10: other cgroups, namespaces ---------------------------------------------------------------

@test "T10 move itself to the root cgroup (cgroup.procs)" {
	attack 10 "write cgroup.procs of the root cgroup"
	outside_ok --root "0::/" /bin/sh -c "echo \$\$ >'$CGROOT/cgroup.procs' && grep '^0::' /proc/self/cgroup"
	inside_denied "*Permission denied*" /bin/sh -c "echo \$\$ >'$CGROOT/cgroup.procs' && grep '^0::' /proc/self/cgroup"
	kernel_only "DAC (cgroupfs is root's) and Landlock (not in the policy)"
}

@test "T10 create a sub-cgroup of its own sandbox cgroup" {
	attack 10 "mkdir a sub-cgroup"
	local sub=$CGROOT/osh-test-$OSHT_ID-sub
	osht_record cgroup "$sub"
	outside_ok --root made /bin/sh -c "mkdir '$sub' && echo made"
	rmdir "$sub"
	inside_denied "*Permission denied*" /bin/sh -c 'mkdir "'"$CGROOT"'$(sed -n "s/^0:://p" /proc/self/cgroup)/sub" && echo made'
	kernel_only "DAC and Landlock"
}

@test "T10 unshare a user namespace (syscall)" {
	attack 10 "unshare(CLONE_NEWUSER)"
	sys_case unshare
}

@test "T10 unshare a user + network namespace to leave the egress hooks (unshare -Urn)" {
	attack 10 "unshare -Urn (new netns)"
	outside_ok inside-new-netns /usr/bin/unshare -Urn /bin/sh -c 'echo inside-new-netns'
	inside_denied "unshare: unshare failed: Operation not permitted" /usr/bin/unshare -Urn /bin/sh -c 'echo inside-new-netns'
	kernel_only "$SECCOMP_NOEVENT"
}

@test "T10 clone with CLONE_NEWUSER" {
	attack 10 "clone(CLONE_NEWUSER)"
	sys_case clone-ns
}

@test "T10 clone3 (flags seccomp cannot read)" {
	attack 10 "clone3"
	outside_reaches "$SYSPROBE" clone3
	inside_denied "ENOSYS" "$SYSPROBE" clone3
	kernel_only "$SECCOMP_NOEVENT; ENOSYS so libc falls back to clone"
}

@test "T10 setns" {
	attack 10 "setns"
	sys_case setns
}

# ---- 11: other processes, the allowed binary's identity -----------------------------------------

@test "T11 ptrace" {
	attack 11 "ptrace (PTRACE_SEIZE a child)"
	sys_case ptrace
}

@test "T11 process_vm_writev" {
	attack 11 "process_vm_writev"
	sys_case pvw
}

# start_victim: the agent, outside any sandbox as the same user, waiting with its buffers;
# sets VPID, VMSG.
start_victim() {
	osht_spawn victim nsenter --net="/run/netns/$FAKENET_SBX" -- setpriv --reuid=65534 \
		--regid=65534 --clear-groups -- "$AGENT" borrow-wait api.fakenet.test 443 "$WORK/never"
	osht_wait_for 5 grep -q '^pid ' "$OSHT_STATE/victim.log"
	read -r _ VPID _ VMSG _ <"$OSHT_STATE/victim.log"
}

@test "T11 /proc/PID/mem of a process outside the sandbox (same user)" {
	attack 11 "/proc/PID/mem, process outside"
	start_victim
	outside_ok written "$TOOL" mem-write "$VPID" "$VMSG" pwned
	inside_denied "open mem: EACCES*" "$TOOL" mem-write "$VPID" "$VMSG" pwned
	kernel_only "$LANDLOCK_NOEVENT (ptrace-mode access outside the domain)"
}

@test "T11 /proc/PID/environ of a process outside the sandbox (same user)" {
	attack 11 "/proc/PID/environ, process outside"
	start_victim
	outside_ok "*" /bin/sh -c "tr '\\0' '\\n' </proc/$VPID/environ | head -1"
	inside_denied "*Permission denied*" /bin/sh -c "cat /proc/$VPID/environ"
	kernel_only "$LANDLOCK_NOEVENT"
}

# borrow SH: inside the sandbox, the agent waits; the unlisted tool rewrites its memory as SH
# says ($1 pid, $2 message address, $3 destination address), then lets it go.
BORROW='"$AGENT" borrow-wait api.fakenet.test 443 ./go >./borrow.out 2>&1 &
for i in $(seq 50); do grep -q "^pid " ./borrow.out && break; sleep 0.1; done
read -r _ pid _ msg _ dst <./borrow.out
'

@test "T11 /proc/PID/mem of the allowed binary inside the sandbox (borrow its identity)" {
	attack 11 "/proc/PID/mem of the allowed agent, same sandbox"
	local sh="$BORROW"'"$TOOL" mem-write $pid $msg STOLEN-SECRET; touch ./go; wait; cat ./borrow.out; rm -f ./go ./borrow.out'
	run as_agent env AGENT="$AGENT" TOOL="$TOOL" /bin/sh -c "$sh"
	echo "outside: $output"
	has_line "sending STOLEN-SECRET to api.fakenet.test"
	ROW_OUT=works
	run in_sandbox env AGENT="$AGENT" TOOL="$TOOL" /bin/sh -c "$sh"
	echo "inside: $output"
	if [[ $output == *"sending STOLEN-SECRET"* ]]; then
		# Without BPF LSM (ptrace_access_check) nothing refuses it here: what the borrowed
		# identity gets is bounded by the agent's own entries (next test).
		has_line reached
		ROW_IN="NOT STOPPED: memory written, agent sent it to its API"
		ROW_EVENT="fallback: no BPF LSM here; bounded by the agent's own entries"
		ROW_VERDICT=fallback
	else
		has_line "open mem: EACCES*"
		no_line "*sending STOLEN*"
		ROW_IN="open mem: EACCES"
		ROW_EVENT="kernel-denied, no event (ptrace-mode check on /proc/PID/mem)"
	fi
}

@test "T11 a borrowed identity still reaches only the allowed binary's destinations" {
	attack 11 "borrowed agent aimed at an unlisted address"
	local sh="$BORROW"'"$TOOL" mem-write $pid $dst '"$EVIL4"'; touch ./go; wait; cat ./borrow.out; rm -f ./go ./borrow.out'
	run in_sandbox env AGENT="$AGENT" TOOL="$TOOL" /bin/sh -c "$sh"
	echo "$output"
	ROW_OUT=-
	if [[ $output == *"open mem: EACCES"* ]]; then
		ROW_IN="open mem: EACCES (nothing borrowed)" ROW_EVENT="kernel-denied, no event"
		return 0
	fi
	has_line "sending hello-from-agent to $EVIL4"
	has_line "connect: EPERM*"
	ROW_IN="connect: EPERM"
	event "connect $EVIL4:443/tcp by $AGENT (pid *)*"
}

@test "T11 LD_PRELOAD code inside the allowed binary" {
	attack 11 "LD_PRELOAD into the allowed agent"
	command -v cc >/dev/null || { ROW_OUT=-; counted_skip "no C compiler to build the preload library"; }
	cat >"$OSHT_STATE/preload.c" <<-'EOF2'
		#include <stdio.h>
		#include <unistd.h>
		/* The attacker's own code, run inside the agent's process before its main(). */
		__attribute__((constructor)) static void grab(void)
		{
			fprintf(stderr, "preload: running in pid %d\n", (int)getpid());
		}
	EOF2
	cc -shared -fPIC -o "$WORK/evil.so" "$OSHT_STATE/preload.c"
	chown 65534:65534 "$WORK/evil.so"
	# The agent connects with the attacker's code in it: the preloaded constructor ran.
	outside_ok "preload: running*" env LD_PRELOAD="$WORK/evil.so" "$AGENT" tcp api.fakenet.test 443
	run in_sandbox /bin/sh -c "'$AGENT' dns $FAKENET_DNS4 api.fakenet.test >/dev/null; LD_PRELOAD='$WORK/evil.so' exec '$AGENT' tcp api.fakenet.test 443"
	echo "$output"
	rm -f "$WORK/evil.so"
	if [[ $output == *"preload: running"* ]] && [[ $output == *reached* ]]; then
		ROW_IN="NOT STOPPED: preloaded code runs as the agent"
		ROW_EVENT="fallback: egress identity is the executable; bounded by the agent's own entries"
		ROW_VERDICT=fallback
	else
		ROW_IN="refused"
	fi
}

# ---- 12: kernel interfaces -------------------------------------------------------------------------

@test "T12 bpf()" { attack 12 "bpf()"; sys_case --root bpf; }
@test "T12 perf_event_open" { attack 12 "perf_event_open"; sys_case perf; }
@test "T12 finit_module" { attack 12 "finit_module (module loading)"; sys_case --root finit_module; }
@test "T12 init_module" { attack 12 "init_module"; sys_case --root init_module; }
@test "T12 mount" { attack 12 "mount"; sys_case mount; }
@test "T12 open_tree / move_mount" { attack 12 "open_tree"; sys_case open_tree; }
@test "T12 fsopen" { attack 12 "fsopen (new mount API)"; sys_case fsopen; }
@test "T12 kexec_file_load" { attack 12 "kexec_file_load"; sys_case --root kexec; }
@test "T12 kexec_load" { attack 12 "kexec_load"; sys_case --root kexec_load; }
@test "T12 userfaultfd" { attack 12 "userfaultfd"; sys_case userfaultfd; }
@test "T12 keyctl" { attack 12 "keyctl"; sys_case keyctl; }
@test "T12 add_key" { attack 12 "add_key"; sys_case add_key; }

# ---- 13: the parent's terminal ---------------------------------------------------------------------

@test "T13 TIOCSTI (inject input into the terminal)" { attack 13 "ioctl TIOCSTI"; sys_case tiocsti; }
@test "T13 TIOCSTI with garbage in the upper 32 bits" { attack 13 "ioctl TIOCSTI | 1<<32"; sys_case tiocsti-hi; }
@test "T13 TIOCLINUX" { attack 13 "ioctl TIOCLINUX"; sys_case --root tioclinux; }
