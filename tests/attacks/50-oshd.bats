#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# THREATS.md "Against osh itself" 18-20, against a real oshd (in the fake internet's client
# namespace, socket mode 0660 root:root, pins under /sys/fs/bpf/osh-test-<id>): signalling oshd
# and asking its API from inside a sandbox, a flood of a million denied connects (enforcement,
# memory, a real denial still reported, drops counted), malformed DNS from the sandbox and
# malformed API requests. Killing oshd itself and the restart are tests/e2e/45-oshd-restart.bats.

bats_require_minimum_version 1.5.0

FLOOD=${ATTACKS_FLOOD:-1000000}
RSS_MAX_KIB=$((64 * 1024))

setup_file() {
	load lib.bash
	attacks_setup_file || return
	[ -z "$SKIP_REASON" ] || return 0
	[ -x "$OSHD" ] || { export SKIP_REASON="oshd not built"; return 0; }
	export OSH_SOCKET=$OSHT_STATE/oshd.sock PIN=/sys/fs/bpf/osh-test-$OSHT_ID
	export SB=osh-test-$OSHT_ID-agent CG
	CG=$(awk '$0 ~ / - cgroup2 / {print $5; exit}' /proc/self/mountinfo)/osh
	osht_record path "$PIN" || return
	osht_spawn oshd nsenter --net="/run/netns/$FAKENET_SBX" -- unshare --mount --propagation private -- \
		/bin/sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$FAKENET_RESOLV" \
		"$OSHD" --socket "$OSH_SOCKET" --database "$OSHT_STATE/osh.db" --bpffs "$PIN" \
		--event-log "$OSHT_STATE/events.jsonl" --admin-group root --socket-group root || return
	export OSHD_PID=$_osht_spawned_pid OSHD_START=$_osht_spawned_start
	osht_wait_for 60 oshd_up || { cat "$OSHT_STATE/oshd.log"; return 1; }
	osht_record cgroup "$CG/$SB"
	"$OSHCTL" sandbox create "$SB" --policy "$POLICY" --workdir "$WORK" >/dev/null
}

oshd_up() {
	_osht_alive "$OSHD_PID" "$OSHD_START" || return 2
	"$OSHCTL" status >/dev/null 2>&1
}

teardown_file() {
	load lib.bash
	if [ -n "${OSHD_PID:-}" ] && [ -S "${OSH_SOCKET:-}" ]; then
		"$OSHCTL" sandbox delete "$SB" >/dev/null 2>&1 || true
	fi
	attacks_teardown_file
}

setup() {
	load lib.bash
	attacks_setup
}

teardown() {
	attacks_teardown
}

# in_oshd CMD...: CMD in the agent's sandbox through oshd.
in_oshd() { "$OSHCTL" sandbox exec "$SB" -- "$@"; }

oshd_alive() { _osht_alive "$OSHD_PID" "$OSHD_START"; }

# metric NAME{LABELS}: one value of oshd's /metrics.
metric() {
	curl -s --unix-socket "$OSH_SOCKET" http://osh/metrics | awk -v k="$1" '$1 == k {print $2}'
}

@test "T18 signal oshd from inside a sandbox" {
	attack 18 "kill -KILL oshd from inside"
	run kill -0 "$OSHD_PID"
	[ "$status" -eq 0 ]
	ROW_OUT="works (root, kill -0)"
	run in_oshd /bin/kill -KILL "$OSHD_PID"
	echo "$output"
	[ "$status" -ne 0 ]
	has_line "*Operation not permitted*"
	oshd_alive
	ROW_IN=EPERM
	ROW_EVENT="kernel-denied, no event (other uid; Landlock signal scope)"
}

@test "T10 ask oshd's API for a wider sandbox from inside" {
	attack 10 "oshd API socket from inside"
	run curl -sS --unix-socket "$OSH_SOCKET" http://osh/v1/status
	[ "$status" -eq 0 ]
	[[ $output == *'"version"'* ]]
	ROW_OUT="works (root)"
	run in_oshd /usr/bin/python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print("connected")' "$OSH_SOCKET"
	echo "$output"
	[ "$status" -ne 0 ]
	# 6.7+: the cgroup unix hook refuses every named unix connect (EPERM, an event);
	# below: DAC on the 0660 root:root socket (EACCES); oshd would also answer 403.
	if has_line "PermissionError: *Operation not permitted*"; then
		ROW_IN="EPERM (cgroup/connect_unix)"
		ROW_EVENT="yes (connect-unix)"
	else
		has_line "PermissionError: *Permission denied*"
		ROW_IN="EACCES (socket 0660 root:root)"
		ROW_EVENT="kernel-denied, no event (DAC on the socket; oshd refuses sandboxed peers)"
	fi
}

@test "T19 a million denied connects: enforcement holds, oshd stays small, a real denial is still reported, drops are counted" {
	attack 19 "flood of $FLOOD denied connects"
	local half=$((FLOOD / 2)) t0 t1 a b
	t0=$(date +%s.%N)
	in_oshd "$AGENT" flood "$EVIL4" 8080 "$half" >"$OSHT_STATE/flood1" 2>&1 &
	a=$!
	in_oshd "$AGENT" flood "$EVIL4" 8080 "$half" >"$OSHT_STATE/flood2" 2>&1 &
	b=$!
	wait "$a" && wait "$b"
	t1=$(date +%s.%N)
	cat "$OSHT_STATE/flood1" "$OSHT_STATE/flood2"
	echo "flood took $(echo "$t1 - $t0" | bc) s"
	grep -q "^eperm=$half other=0 connected=0" "$OSHT_STATE/flood1"
	grep -q "^eperm=$half other=0 connected=0" "$OSHT_STATE/flood2"
	ROW_OUT=-

	# Enforcement intact right after: denied still denied, allowed still allowed.
	run in_oshd "$AGENT" tcp "$EVIL4" 8080 x
	has_line "connect: EPERM*"
	run in_oshd "$AGENT" tcp api.fakenet.test 443
	[ "$status" -eq 0 ]
	oshd_alive

	# The real one, after the flood: it must reach the log.
	run in_oshd "$AGENT" tcp "$EVIL4" 853 q
	has_line "connect: EPERM*"
	osht_wait_for 60 real_one_logged || { echo "the real denial was not reported"; false; }

	# Memory bounded (peak resident set of oshd over the whole run).
	local hwm
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$OSHD_PID/status")
	echo "oshd peak RSS: $hwm KiB"
	[ "$hwm" -lt "$RSS_MAX_KIB" ]

	# Every attempt is either reported or counted as dropped where a user can see it: the
	# kernel ring buffer's drops in `oshctl status` and in /metrics.
	local denied dropped kernel_lost kernel_status kernel_metric
	sleep 2
	denied=$(metric 'osh_decisions_total{verdict="deny",kind="egress"}')
	dropped=$("$OSHCTL" status -o json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["events_dropped"])')
	kernel_status=$("$OSHCTL" status -o json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["events_dropped_kernel"])')
	kernel_metric=$(metric 'osh_events_dropped_total{sink="kernel"}')
	kernel_lost=$(kernel_drops)
	echo "reported denials: $denied, events_dropped (status): $dropped, kernel drops: osh_stats $kernel_lost, status $kernel_status, metrics $kernel_metric"
	ROW_IN="EPERM x$FLOOD; oshd alive; peak RSS $((hwm / 1024)) MiB; real denial logged"
	ROW_EVENT="reported $denied; kernel drops $kernel_status in status and /metrics"
	[ "$kernel_status" -ge "$kernel_lost" ]
	[ "$kernel_metric" -ge "$kernel_lost" ]
	[ "$((denied + kernel_status))" -ge "$FLOOD" ] || {
		echo "not every attempt is accounted for: $denied reported + $kernel_status dropped in the kernel < $FLOOD"
		false
	}
}

real_one_logged() {
	"$OSHCTL" logs "$SB" --json 2>/dev/null | grep -q "\"target\":\"$EVIL4:853/tcp\""
}

# kernel_drops: events the egress ring buffer could not take (osh_stats[0], summed over CPUs).
kernel_drops() {
	bpftool -j map dump pinned "$PIN/egress/osh_stats" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
n = 0
for e in json.load(sys.stdin):
    f = e.get("formatted", e)
    if int(f["key"]) != 0:
        continue
    for v in f["values"]:
        n += int(v["value"])
print(n)' 2>/dev/null || echo unknown
}

allowed_resolves() { in_oshd "$AGENT" dns "$FAKENET_DNS4" api.fakenet.test 2>&1 | grep -q "answer $API4"; }

@test "T20 malformed DNS messages from the sandbox to osh's responder" {
	attack 20 "malformed DNS into the responder"
	outside_ok "sent 3000" "$AGENT" dns-garbage "$FAKENET_DNS4" 3000
	run in_oshd "$AGENT" dns-garbage "$FAKENET_DNS4" 3000
	echo "$output"
	[ "$status" -eq 0 ]
	has_line "sent 3000"
	local t0=$SECONDS
	# The responder may still be working through the refusals; it must answer again.
	osht_wait_for 30 allowed_resolves || { echo "the responder does not answer any more"; false; }
	echo "answered again after $((SECONDS - t0)) s"
	oshd_alive
	"$OSHCTL" status >/dev/null
	ROW_IN="responder alive, allowed name answered after $((SECONDS - t0)) s"
	ROW_EVENT="n/a (parser robustness; fuzz-dns-msg covers the parser)"
}

@test "T20 malformed API requests to oshd" {
	attack 20 "malformed API requests"
	ROW_OUT=-
	/usr/bin/python3 - "$OSH_SOCKET" <<-'EOF2'
		import socket, sys
		reqs = [b"GARBAGE\r\n\r\n", b"GET /" + b"A" * 100000 + b" HTTP/1.1\r\n\r\n",
		        b"POST /v1/sandboxes HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{",
		        b"POST /v1/sandboxes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		        b"POST /v1/sandboxes HTTP/1.1\r\nContent-Length: 12\r\n\r\n{\"name\":[[[",
		        b"GET /v1/sandboxes/%00%ff/../../etc HTTP/1.1\r\n\r\n", b"\x00" * 4096]
		for r in reqs:
		    s = socket.socket(socket.AF_UNIX)
		    s.settimeout(3)
		    s.connect(sys.argv[1])
		    try:
		        s.sendall(r)
		        s.shutdown(socket.SHUT_WR)
		        s.recv(4096)
		    except OSError:
		        pass
		    s.close()
	EOF2
	run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$OSH_SOCKET" http://osh/v1/sandboxes \
		-H 'Content-Type: application/json' -d '{"name":"osh-test-bad","policy":"version: [1, {]]"}'
	echo "bad policy: $output"
	[[ $output == 4?? ]]
	oshd_alive
	run "$OSHCTL" status
	[ "$status" -eq 0 ]
	ROW_IN="oshd alive; bad policy 4xx"
	ROW_EVENT="n/a (parser robustness; fuzz-api-req, fuzz-policy-* cover the parsers)"
}
