#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Pinned egress state (osh_sandbox_config.bpffs_root), driven through the engine API by
# tests/helpers/sandbox-run the way oshd uses it across restarts: a sandboxed loop keeps being
# allowed and denied exactly the same while no userspace runs at all (the creating process was
# SIGKILLed), a second process adopts the sandbox, its events and reloads, DNS-installed
# addresses carried over, purge of what a dead daemon left, the build guard, and 100 sandboxes
# adopted at once. Pins live under /sys/fs/bpf/osh-test-*, sandboxes are osh-test-pin-*; both
# are recorded before they exist, so teardown removes them also after a failure.

bats_require_minimum_version 1.5.0

setup_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	local src o p
	src=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	o=${O:-build}
	[[ $o == /* ]] || o=$src/$o
	ROOT=$(mktemp -d /tmp/osh-test-pin.XXXXXX)
	chmod 755 "$ROOT"
	export ROOT
	mkdir -p "$ROOT/bin" "$ROOT/policies" "$ROOT/wd"
	[ -x "$o/tests/helpers/net-probe" ] && cp "$o/tests/helpers/net-probe" "$ROOT/bin/"
	for p in "$src"/tests/e2e/policies/pin-*.yaml.in; do
		sed "s|@ROOT@|$ROOT|g" "$p" >"$ROOT/policies/$(basename "$p" .in)"
	done
	chmod -R a+rX "$ROOT"
	chmod 777 "$ROOT/wd"
}

teardown_file() {
	[ -n "${ROOT:-}" ] && [ -d "$ROOT" ] && rm -rf "$ROOT"
	return 0
}

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, cgroups, BPF)"
	[ -x "$ROOT/bin/net-probe" ] || skip "helpers not built: make O=${O:-build} all"
	[ -d /sys/fs/bpf ] && mountpoint -q /sys/fs/bpf || skip "bpffs is not mounted at /sys/fs/bpf"
	load ../lib/fakenet.bash
	load ../lib/cgroup.bash
	RUN=$(osht_helper sandbox-run)
	PROBE=$ROOT/bin/net-probe
	POL_A=$ROOT/policies/pin-a.yaml
	POL_B=$ROOT/policies/pin-b.yaml
	fakenet_setup
	fakenet_add_host svc.fakenet.test 198.51.100.20
	fakenet_start_tcp_echo 198.51.100.20 8080
	fakenet_start_tcp_echo 198.51.100.20 9090
	fakenet_start_tcp_echo 198.51.100.21 8080
	CGMNT=$(cgroup_root)
	NAME=osh-test-pin-$OSHT_ID
	BPFFS=/sys/fs/bpf/osh-test-$OSHT_ID
	# Teardown kills and removes recorded cgroups before it removes recorded paths: the pins go
	# once nothing they govern runs.
	osht_record cgroup "$CGMNT/osh/$NAME"
	osht_record cgroup "$CGMNT/osh/$NAME-2"
	osht_record path "$BPFFS"
}

teardown() {
	fakenet_teardown
}

file_has() { [ -e "$2" ] && grep -q "$1" "$2"; }

# sbx MODE ARGS...: sandbox-run in the client namespace with this test's root and workdir.
sbx() {
	local mode=$1
	shift
	fakenet_run_client "$RUN" "$mode" --bpffs "$BPFFS" --workdir "$ROOT/wd" "$@"
}

# bg_sbx LOG MODE ARGS... --hold: the same in the background, recorded for teardown; returns
# once it holds the sandbox, with BG set to the helper's own pid (it runs behind nsenter and
# unshare wrappers and a subshell).
bg_sbx() {
	local log=$1 wrapper
	shift
	sbx "$@" >"$log" 2>&1 3>&- &
	wrapper=$!
	_osht_stat "$wrapper" && osht_record pid "$wrapper" "$_osht_start"
	osht_wait_for 10 file_has '^holding pid' "$log" || { cat "$log"; return 1; }
	BG=$(sed -n 's/^holding pid //p' "$log")
	_osht_stat "$BG" && osht_record pid "$BG" "$_osht_start"
}

# bg_end PID: wait until the process PID is gone (not our child: no wait(1)).
bg_end() { osht_wait_for 10 bash -c '! kill -0 "$1" 2>/dev/null' sh "$1"; }

# The sandboxed command: connects to .20:8080 and .21:8080 in turn forever, one line per try.
LOOP='while :; do
	for t in 20 21; do
		o=$("$1" tcp 198.51.100.$t 8080 --send x --expect x --timeout 2 2>&1)
		case $o in
		*received*) echo "$t ok" ;;
		*EPERM*) echo "$t eperm" ;;
		*) echo "$t other: $o" ;;
		esac
	done
	sleep 0.02
done'

# lines_after FILE N: the lines of FILE after its first N.
lines_after() { tail -n "+$(($2 + 1))" "$1"; }
has_after() { lines_after "$3" "$2" | grep -q "$1"; }

@test "pinning: enforcement never lapses while no userspace runs; an adopting process reloads; destroy removes every pin" {
	local out=$BATS_TEST_TMPDIR/out log=$BATS_TEST_TMPDIR/log n
	bg_sbx "$log" create --policy "$POL_A" --name "$NAME" --out "$out" --hold -- \
		/bin/sh -c "$LOOP" sh "$PROBE"
	local creator=$BG
	osht_wait_for 10 file_has '^21 eperm' "$out" || { cat "$log" "$out"; false; }
	file_has '^20 ok' "$out"
	# The creating process gets every denial as fields.
	osht_wait_for 10 file_has "^event kind=egress decision=deny pid=[0-9]* uid=65534 comm=net-probe exe=$PROBE op=connect target=198.51.100.21:8080/tcp host=- closest=echo .*hint=to allow it, add an endpoint {host: 198.51.100.21, port: 8080} to a network_policies entry | denied connect 198.51.100.21:8080/tcp" "$log" ||
		{ cat "$log"; false; }

	# No userspace at all: the process that created the sandbox dies without a word.
	kill -KILL "$creator"
	bg_end "$creator"
	n=$(wc -l <"$out")
	sleep 2
	lines_after "$out" "$n" >"$BATS_TEST_TMPDIR/unattended"
	cat "$BATS_TEST_TMPDIR/unattended"
	# The command went on, and every verdict was the same as before.
	[ "$(grep -c '^20 ok$' "$BATS_TEST_TMPDIR/unattended")" -ge 5 ]
	[ "$(grep -c '^21 eperm$' "$BATS_TEST_TMPDIR/unattended")" -ge 5 ]
	! grep -v -e '^20 ok$' -e '^21 eperm$' "$BATS_TEST_TMPDIR/unattended"
	[ -e "$BPFFS/egress/osh_version" ]
	[ -e "$BPFFS/sandboxes/$NAME/link_osh_connect4" ]

	# A second process adopts it under the same policy and gets its events.
	bg_sbx "$log.2" adopt --policy "$POL_A" --name "$NAME" --hold
	osht_wait_for 10 file_has "^event kind=egress decision=deny .*target=198.51.100.21:8080/tcp" "$log.2" ||
		{ cat "$log.2"; false; }
	kill -TERM "$BG"
	bg_end "$BG"
	osht_wait_for 10 file_has '^released' "$log.2"

	# A third adopts with policy B: .21 becomes allowed, for a command exec'd now and for the
	# loop that has been running all along.
	n=$(wc -l <"$out")
	run sbx adopt --policy "$POL_B" --name "$NAME" -- "$PROBE" tcp 198.51.100.21 8080 --send y --expect y
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *adopted* ]]
	[[ $output == *"received: y"* ]]
	[[ $output == *"exec exit 0"* ]]
	osht_wait_for 10 has_after '^21 ok' "$n" "$out" || { tail "$out"; false; }
	# Never a failure other than the policy's.
	! grep -q other "$out"

	run sbx destroy --policy "$POL_B" --name "$NAME"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *destroyed* ]]
	[ ! -d "$CGMNT/osh/$NAME" ]
	[ -z "$(ls -d "$BPFFS" 2>/dev/null)" ]
}

@test "pinning: addresses the DNS responder installed are carried over by adoption; a fresh sandbox does not have them" {
	local out=$BATS_TEST_TMPDIR/out out2=$BATS_TEST_TMPDIR/out2
	# svc.fakenet.test:9090 is allowed by name only: resolving it installs 198.51.100.20:9090.
	# (held until the answer came: while no process runs a responder, DNS fails closed)
	bg_sbx "$BATS_TEST_TMPDIR/log" create --policy "$POL_A" --name "$NAME" --out "$out" --hold -- \
		/bin/sh -c '"$1" tcp svc.fakenet.test 9090 -4 --send a --expect a; exec sleep 600' sh "$PROBE"
	osht_wait_for 10 file_has 'received: a' "$out" || { cat "$out"; false; }
	kill -TERM "$BG"
	bg_end "$BG"

	# A new process, a new responder, a new generation: the address stays allowed by IP.
	run sbx adopt --policy "$POL_A" --name "$NAME" -- "$PROBE" tcp 198.51.100.20 9090 --send b --expect b
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"received: b"* ]]
	# DNS is answered by the adopting process's responder.
	run sbx adopt --policy "$POL_A" --name "$NAME" -- "$PROBE" tcp svc.fakenet.test 9090 -4 --send c --expect c
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"received: c"* ]]

	# Control: a sandbox that never resolved the name may not use the address.
	run sbx create --policy "$POL_A" --name "$NAME-2" --out "$out2" -- \
		"$PROBE" tcp 198.51.100.20 9090 --send d --expect d
	[ "$status" -eq 0 ]
	osht_wait_for 10 file_has 'EPERM' "$out2" || { cat "$out2"; false; }

	run sbx destroy --policy "$POL_A" --name "$NAME-2"
	[ "$status" -eq 0 ]
	[ -d "$BPFFS/sandboxes/$NAME" ]
	run sbx destroy --policy "$POL_A" --name "$NAME"
	[ "$status" -eq 0 ]
	[ -z "$(ls -d "$BPFFS" 2>/dev/null)" ]
}

@test "pinning: a sandbox whose cgroup vanished is refused by adopt (ENOENT) and purged; another build's pins are refused (ESTALE)" {
	run sbx create --policy "$POL_A" --name "$NAME" -- sleep 600
	[ "$status" -eq 0 ]
	run sbx create --policy "$POL_A" --name "$NAME-2" -- sleep 600
	[ "$status" -eq 0 ]

	# The cgroup goes while no daemon runs.
	echo 1 >"$CGMNT/osh/$NAME/cgroup.kill"
	osht_wait_for 10 rmdir "$CGMNT/osh/$NAME"
	run sbx adopt --policy "$POL_A" --name "$NAME"
	echo "$output"
	[ "$status" -eq 3 ]
	[[ $output == *"No such file or directory"* ]]
	[ -d "$BPFFS/sandboxes/$NAME" ]
	run sbx purge --name "$NAME"
	[ "$status" -eq 0 ]
	[ ! -e "$BPFFS/sandboxes/$NAME" ]
	[ -d "$BPFFS/sandboxes/$NAME-2" ]

	# Pins made by another build (its version record differs) are never mixed with this one.
	bpftool map update pinned "$BPFFS/egress/osh_version" key 0 0 0 0 \
		value 1 2 3 4 5 6 7 8 2 0 0 0 1 0 0 0
	run sbx adopt --policy "$POL_A" --name "$NAME-2"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"$BPFFS: pinned by another build of osh"* ]]
	# Purge needs no loaded programs: it works on any build's pins.
	run sbx purge --name "$NAME-2"
	[ "$status" -eq 0 ]
	[ ! -d "$CGMNT/osh/$NAME-2" ]
	[ ! -e "$BPFFS/sandboxes/$NAME-2" ]
}

@test "pinning: 100 pinned sandboxes are created, adopted (each still running its process) and destroyed" {
	local i
	for i in $(seq 0 99); do osht_record cgroup "$CGMNT/osh/$NAME-m-$i"; done
	run sbx many --policy "$POL_A" --name "$NAME-m" --count 100 create
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(ls "$BPFFS/sandboxes" | wc -l)" -eq 100 ]
	run sbx many --policy "$POL_A" --name "$NAME-m" --count 100 adopt
	echo "$output"
	[ "$status" -eq 0 ]
	local ms=${output##*adopt }
	ms=${ms%% ms*}
	echo "adopting 100 took $ms ms"
	[ "$ms" -lt 20000 ]
	run sbx many --policy "$POL_A" --name "$NAME-m" --count 100 destroy
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$(ls -d "$BPFFS" 2>/dev/null)" ]
	[ -z "$(ls -d "$CGMNT/osh/$NAME-m-"* 2>/dev/null)" ]
}
