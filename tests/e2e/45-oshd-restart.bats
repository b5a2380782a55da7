#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# oshd dying and coming back: SIGKILL in the middle of policy changes (afterwards the store and
# the kernel hold the same revision, and enforcement never lapsed while oshd was dead), and a
# restart with 100 live sandboxes, all re-adopted from their pins. oshd runs in the fake
# internet's client namespace, so the sandboxed commands it starts have no route out.

bats_require_minimum_version 1.5.0

setup_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	local src o
	src=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	o=${O:-build}
	[[ $o == /* ]] || o=$src/$o
	export OSHCTL=$o/bin/oshctl OSHD=$o/bin/oshd HELPERS=$o/tests/helpers
}

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (oshd: cgroups, BPF)"
	[ -x "$OSHD" ] || skip "oshd not built: make O=${O:-build}"
	[ -x "$HELPERS/connect-loop" ] || skip "helpers not built: make O=${O:-build} all"
	load ../lib/fakenet.bash
	load ../lib/cgroup.bash
	load ../lib/oshd.bash
	oshd_init
	oshd_echo_world
	policy_write a.yaml ""
	policy_write b.yaml "      - host: 198.51.100.22
        port: 8080"
}

teardown() {
	[ -n "${OSHT_STATE:-}" ] || return 0
	[ -n "${S:-}" ] && touch "$S/work/stop" 2>/dev/null
	oshd_delete_all
	fakenet_teardown
}

# policy_write FILE EXTRA_ENDPOINT: the probes may reach 198.51.100.20:8080 (and what
# EXTRA_ENDPOINT adds); 198.51.100.21:8080 stays denied in both.
policy_write() {
	cat >"$S/$1" <<EOF
version: 1
process:
  run_as_user: 65534
  run_as_group: 65534
network_policies:
  echo:
    endpoints:
      - host: 198.51.100.20
        port: 8080
$2
    binaries:
      - path: $S/bin/connect-loop
      - path: $S/bin/net-probe
EOF
	chmod 644 "$S/$1"
}

@test "oshd restart: SIGKILL during policy sets; store and kernel agree after, enforcement never lapsed" {
	oshd_start client
	sb_create "$SB-k" --policy "$S/a.yaml" >/dev/null
	osht_spawn loop "$OSHCTL" sandbox exec "$SB-k" -- \
		"$S/bin/connect-loop" "$S/work/tally" "$S/work/stop" 198.51.100.20:8080 198.51.100.21:8080
	osht_wait_for 20 rounds_past 3

	local i want got inkernel before
	for i in 1 2 3 4 5 6; do
		if ((i % 2)); then want=b; else want=a; fi
		# The set races the kill: either may win, and each outcome must be consistent.
		"$OSHCTL" policy set "$SB-k" "$S/$want.yaml" >/dev/null 2>&1 &
		local setpid=$!
		sleep "0.0$((RANDOM % 10))"
		oshd_kill9
		wait "$setpid" || true
		before=$(rounds)
		# While no oshd runs, the kernel still decides: the loop goes on, same verdicts.
		osht_wait_for 20 rounds_past "$((before + 3))"
		oshd_start client

		got=$("$OSHCTL" policy get "$SB-k")
		inkernel=$(probe "$SB-k" 198.51.100.22)
		if grep -q 198.51.100.22 <<<"$got"; then
			[ "$inkernel" = ok ] || { echo "round $i: store has b, kernel says $inkernel"; false; }
		else
			[ "$inkernel" = EPERM ] || { echo "round $i: store has a, kernel says $inkernel"; false; }
		fi
		# The stored history has no revision left pending: list shows the one in force first.
		"$OSHCTL" -o json sandbox get "$SB-k" | json_get 'd["status"]' | grep -qx running
	done

	# The two crash windows, hit on purpose: after the revision is stored (kernel still old),
	# and after the kernel flip (store still says pending). Both end with the new revision in
	# store and kernel once oshd is back.
	local fault rev
	for fault in policy-stored policy-flipped; do
		rev=$("$OSHCTL" -o json sandbox get "$SB-k" | json_get 'd["revision"]')
		if "$OSHCTL" policy get "$SB-k" | grep -q 198.51.100.22; then want=a; else want=b; fi
		oshd_kill9
		OSHD_FAULT=$fault oshd_start client
		run "$OSHCTL" policy set "$SB-k" "$S/$want.yaml"
		[ "$status" -ne 0 ] # oshd died under it
		osht_wait_for 10 oshd_gone
		oshd_start client
		grep -q "re-adopted at revision $((rev + 1)) (a pending revision, applied now)" "$S/oshd.log"
		[ "$("$OSHCTL" -o json sandbox get "$SB-k" | json_get 'd["revision"]')" -eq $((rev + 1)) ]
		inkernel=$(probe "$SB-k" 198.51.100.22)
		if [ "$want" = b ]; then [ "$inkernel" = ok ]; else [ "$inkernel" = EPERM ]; fi
	done

	# A connect the loaded machine's echo server did not answer within 1 s is a timeout, not a
	# verdict: tolerated for the allowed address only.
	touch "$S/work/stop"
	cat "$S/work/tally"
	[ "$(tally 198.51.100.20:8080 eperm)" -eq 0 ]
	[ "$(tally 198.51.100.20:8080 other)" -eq "$(tally 198.51.100.20:8080 timeout)" ]
	[ "$(tally 198.51.100.21:8080 ok)" -eq 0 ]
	[ "$(tally 198.51.100.21:8080 other)" -eq 0 ]
	[ "$(tally 198.51.100.21:8080 eperm)" -gt 20 ]
}

@test "oshd restart: 100 live sandboxes are all re-adopted and still enforced" {
	oshd_start client
	local i n
	for i in $(seq 1 100); do
		sb_create "$SB-$i" --policy "$S/a.yaml" >/dev/null
		osht_spawn "sleep-$i" "$OSHCTL" sandbox exec "$SB-$i" -- /bin/sleep 600
	done
	osht_wait_for 30 all_running 100

	oshd_kill9
	oshd_start client
	n=$("$OSHCTL" -o json sandbox list | json_get 'sum(1 for s in d["sandboxes"] if s["status"] == "running" and s["revision"] == 1 and "egress" in s["mechanisms"])')
	[ "$n" -eq 100 ]
	grep -c "re-adopted at revision 1" "$S/oshd.log" | grep -qx 100
	# Enforcement and management both work on a re-adopted sandbox.
	[ "$(probe "$SB-57" 198.51.100.20)" = ok ]
	[ "$(probe "$SB-57" 198.51.100.21)" = EPERM ]
	"$OSHCTL" policy set "$SB-57" "$S/b.yaml" >/dev/null
	[ "$(probe "$SB-57" 198.51.100.22)" = ok ]
	[ "$(probe "$SB-58" 198.51.100.22)" = EPERM ]
}

# all_running N: oshd lists N sandboxes with a process in them.
all_running() {
	local n
	n=$("$OSHCTL" -o json sandbox list | json_get 'sum(1 for s in d["sandboxes"] if s["status"] == "running")')
	[ "$n" -eq "$1" ]
}

# gens_unnamed: the owner pid (bits 32-61) of each osh_gens key that no sandbox's osh_sandboxes
# entry names, one per line: oshd's ready tries, or generations left behind.
gens_unnamed() {
	bpftool -j map dump pinned "$PIN/egress/osh_gens" >"$S/gens.json" &&
		bpftool -j map dump pinned "$PIN/egress/osh_sandboxes" >"$S/sbs.json" &&
		/usr/bin/python3 -c '
import json, sys
def u64(b): return int.from_bytes(bytes(int(x, 16) for x in b), "little")
named = {u64(e["value"][32:40]) for e in json.load(open(sys.argv[2]))}
for e in json.load(open(sys.argv[1])):
    k = u64(e["key"])
    if k not in named:
        print((k >> 32) & 0x3fffffff)
' "$S/gens.json" "$S/sbs.json"
}

# gens_settled PID N: no generation is left but oshd PID's N ready tries (NET_GEN_POOL).
gens_settled() {
	local u
	u=$(gens_unnamed) || return 1
	[ "$(grep -c . <<<"$u")" -eq "$2" ] && ! grep -qvx "$1" <<<"$u"
}

@test "oshd restart: reloads, ended sandboxes and a killed oshd leave no generation behind" {
	oshd_start client
	local i dead
	sb_create "$SB-g" --policy "$S/a.yaml" >/dev/null
	for i in 1 2 3 4 5 6; do
		"$OSHCTL" policy set "$SB-g" "$S/$([ $((i % 2)) -eq 1 ] && echo b || echo a).yaml" >/dev/null
	done
	for i in 1 2 3; do
		"$OSHCTL" run --daemon -q --policy "$S/a.yaml" -- /bin/true
	done
	# One generation per sandbox (osh_sandboxes names it) and oshd's 16 ready tries: the six
	# replaced ones and the ended runs' are deleted (after a grace period, by the pool's thread).
	osht_wait_for 10 gens_settled "$OSHD_PID" 16 || { gens_unnamed; return 1; }
	# The newest generation is the one enforced: policy a again, without .22.
	[ "$(probe "$SB-g" 198.51.100.20)" = ok ]
	[ "$(probe "$SB-g" 198.51.100.22)" = EPERM ]

	# A killed oshd leaves its ready tries; the next one deletes them (and keeps the sandbox's).
	dead=$OSHD_PID
	oshd_kill9
	[ "$(gens_unnamed | grep -cx "$dead")" -eq 16 ]
	oshd_start client
	osht_wait_for 10 gens_settled "$OSHD_PID" 16 || { gens_unnamed; return 1; }
	[ "$(probe "$SB-g" 198.51.100.20)" = ok ]
	[ "$(probe "$SB-g" 198.51.100.22)" = EPERM ]
}
