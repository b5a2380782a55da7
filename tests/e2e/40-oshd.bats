#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# oshd's API end to end through oshctl, against a real oshd each test starts (socket, database,
# event log in the test's state dir; BPF pins under /sys/fs/bpf/osh-test-<id>): sandbox
# create/list/get/delete, exec with the caller's stdio, exit status and signals, a Landlock
# denial inside, policy set/get/list/update with revisions, invalid policies named
# FILE:LINE:COL, static changes refused, an egress denial in `oshctl logs --json` (oshd in the
# fake internet's client namespace), -o json, the permissions of a non-root user, and
# `oshctl run` through the daemon. Sandboxes are named osh-test-<id>-*; teardown deletes them
# through oshd, stops oshd by its pid and removes the cgroups, pins and files, also on failure.

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
	[ -x "$OSHCTL" ] || skip "oshctl not built: make O=${O:-build}"
	[ -x "$OSHD" ] || skip "oshd not built: make O=${O:-build}"
	load ../lib/fakenet.bash
	load ../lib/cgroup.bash
	load ../lib/oshd.bash
	oshd_init
	mkdir -p "$S/bin" "$S/work"
	echo public-data >"$S/work/public"
	echo secret-data >"$S/work/secret"
	if [ -x "$HELPERS/net-probe" ]; then cp "$HELPERS/net-probe" "$S/bin/"; fi
	chown -R 65534:65534 "$S/work"
	chmod -R a+rX "$S"
	policy_write a.yaml ""
	# The same static sections, one more endpoint: a dynamic change.
	policy_write b.yaml "      - host: 198.51.100.21
        port: 8080"
	# A static change: one more read-only path.
	policy_write c.yaml "" "/opt, "
	cat >"$S/bad.yaml" <<-'EOF'
		version: 1
		network_policies:
		  echo:
		    endpoints:
		      - host: 198.51.100.20
		        port: 99999
	EOF
}

teardown() {
	[ -n "${OSHT_STATE:-}" ] || return 0
	# Sandboxes first, through oshd (it removes their kernel state); the recorded cgroups and
	# the pin folder are removed by the harness should oshd fail to.
	# A client stopped by the job-control test when it failed half-way.
	if [ -n "${STOPPED_CLIENT:-}" ]; then kill -KILL "$STOPPED_CLIENT" 2>/dev/null || true; fi
	oshd_delete_all
	osht_teardown
}

# policy_write FILE EXTRA_ENDPOINT EXTRA_RO: the test policy (Landlock: system dirs read-only,
# the workdir read-write but its secret denied; network: the probe to the echo service).
policy_write() {
	cat >"$S/$1" <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [$3/usr, /bin, /sbin, /lib, /lib64, /etc, /proc, /dev/urandom, "$S/bin"]
  read_write: [/dev/null]
  deny: ["$S/work/secret"]
landlock:
  compatibility: best_effort
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
      - path: $S/bin/net-probe
EOF
	chmod 644 "$S/$1"
}

# sb_listed NAME: oshd lists sandbox NAME to the caller.
sb_listed() { "$OSHCTL" sandbox list -o json | sb_names | grep -qx "$1"; }

# as_nobody CMD...: CMD as uid/gid 65534 without supplementary groups.
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups env OSH_SOCKET="$OSH_SOCKET" "$@"
}

has_line() { # PATTERN: some line of $output matches the glob
	local l
	while IFS= read -r l; do
		# shellcheck disable=SC2053
		[[ $l == $1 ]] && return 0
	done <<<"$output"
	echo "no line matching: $1"
	echo "output: $output"
	return 1
}

@test "oshd: status answers; without a daemon every command says so and exits 3" {
	run -3 env OSH_SOCKET="$S/none.sock" "$OSHCTL" status
	has_line "oshctl: oshd is not running: no socket at $S/none.sock*"
	run -3 "$OSHCTL" --socket "$S/none.sock" sandbox list
	run -125 "$OSHCTL" --socket "$S/none.sock" sandbox exec x -- true

	oshd_start
	run -0 "$OSHCTL" status
	has_line "oshd * on $OSH_SOCKET"
	has_line "bpffs:*$PIN"
	"$OSHCTL" status -o json | json_ok
	"$OSHCTL" -o json status | json_ok
}

@test "oshd: sandbox create, list, get, delete (text and -o json)" {
	oshd_start
	run -0 sb_create "$SB-a" --policy "$S/a.yaml" --reason "first"
	has_line "name: *$SB-a"
	has_line "status: *idle"
	has_line "revision: *1 (sha256:*)"

	run -1 sb_create "$SB-a" --policy "$S/a.yaml"
	has_line "oshctl: exists: *"

	run -0 "$OSHCTL" sandbox list
	has_line "NAME *STATUS *OWNER *REVISION *PROCESSES *CREATED"
	has_line "$SB-a *idle *root *1 *0 *"
	[ "$("$OSHCTL" sandbox list -o json | sb_names | grep -c "^$SB-a\$")" -eq 1 ]

	run -0 "$OSHCTL" sandbox get "$SB-a"
	has_line "cgroup: *$CG/$SB-a"
	has_line "mechanisms: *cgroup*landlock*"
	run -0 "$OSHCTL" -o json sandbox get "$SB-a"
	[ "$(echo "$output" | json_get 'd["name"], d["revision"]')" = "$SB-a 1" ]

	run -0 "$OSHCTL" sandbox delete "$SB-a"
	[ "$output" = "deleted $SB-a" ]
	[ ! -e "$CG/$SB-a" ]
	run -1 "$OSHCTL" sandbox get "$SB-a"
	has_line "oshctl: not-found: *"
	run -1 "$OSHCTL" sandbox delete "$SB-a"
	"$OSHCTL" sandbox list -o json | json_ok
	run -1 sb_listed "$SB-a"
}

@test "oshd: exec passes stdio through pipes, returns the status; Landlock denies inside" {
	oshd_start
	sb_create "$SB-x" --policy "$S/a.yaml" >/dev/null

	# stdin from a pipe, stdout and stderr to different files: oshd hands the descriptors to
	# the command and never reads them.
	echo piped-in | "$OSHCTL" sandbox exec "$SB-x" -- /bin/sh -c 'cat; echo to-err >&2; id -u; exit 7' \
		>"$S/out" 2>"$S/err" && rc=0 || rc=$?
	[ "$rc" -eq 7 ]
	[ "$(cat "$S/out")" = "piped-in
65534" ]
	[ "$(cat "$S/err")" = "to-err" ]

	# The workdir is the sandbox's; the caller's environment is passed, --env adds to it.
	# shellcheck disable=SC2016 # expanded inside the sandbox
	run -0 env OSHT_CALLER=yes "$OSHCTL" sandbox exec "$SB-x" --env OSHT_X=1 -- /bin/sh -c \
		'pwd; echo "$OSHT_CALLER $OSHT_X"'
	[ "$output" = "$S/work
yes 1" ]
	# shellcheck disable=SC2016 # expanded inside the sandbox
	run -0 env OSHT_CALLER=yes "$OSHCTL" sandbox exec "$SB-x" --no-env -- /bin/sh -c \
		'echo "[${OSHT_CALLER:-}]"'
	[ "$output" = "[]" ]

	# Landlock: the workdir is readable, its denied file is not, /root is outside the policy.
	run -0 "$OSHCTL" sandbox exec "$SB-x" -- cat public
	[ "$output" = public-data ]
	cat "$S/work/secret" >/dev/null # control: readable outside the sandbox
	run -1 "$OSHCTL" sandbox exec "$SB-x" -- cat "$S/work/secret"
	has_line "*secret*Permission denied*"
	run "$OSHCTL" sandbox exec "$SB-x" -- ls /root
	[ "$status" -ne 0 ]
	has_line "*Permission denied*"

	run -127 "$OSHCTL" sandbox exec "$SB-x" -- /nonexistent/cmd
	run -125 "$OSHCTL" sandbox exec "$SB-nope" -- true
	has_line "oshctl: not-found: *"
}

@test "oshd: exec forwards SIGTERM to the command and returns its status" {
	oshd_start
	sb_create "$SB-sig" --policy "$S/a.yaml" >/dev/null
	"$OSHCTL" sandbox exec "$SB-sig" -- /bin/sh -c \
		'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done' \
		>"$S/sig.out" 2>&1 &
	local pid=$!
	osht_wait_for 10 grep -q ready "$S/sig.out"
	kill -TERM "$pid"
	wait "$pid" && rc=0 || rc=$?
	[ "$rc" -eq 3 ]
	grep -qx got-term "$S/sig.out"
}

# proc_state PID: the state letter of PID (R, S, T, ...).
proc_state() { sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat"; }

# state_is PID LETTERS: PID's state is one of LETTERS.
state_is() { local st; st=$(proc_state "$1"); [ -n "$st" ] && [[ $2 == *"$st"* ]]; }

@test "oshd: exec job control: SIGTSTP to oshctl stops the command, SIGCONT resumes it" {
	oshd_start
	sb_create "$SB-tstp" --policy "$S/a.yaml" >/dev/null
	# (the pid goes to stdout: the workdir takes no new files, its deny path splits it)
	# fd 3 is bats' own: a client left stopped by a failure must not hold it open.
	# One process that never forks: dash spawns with vfork(), and a group stopped while a
	# vfork child has not exec'd yet leaves the shell in state D (waiting for the stopped
	# child), which once failed this test although the relay worked.
	"$OSHCTL" sandbox exec "$SB-tstp" -- /bin/sh -c \
		'echo "pid $$"; exec sleep 1000' >"$S/tstp.out" 2>&1 3>&- &
	local client=$! cmd
	STOPPED_CLIENT=$client
	osht_wait_for 10 grep -q '^pid ' "$S/tstp.out"
	cmd=$(sed -n 's/^pid //p' "$S/tstp.out")
	state_is "$cmd" RS
	kill -TSTP "$client"
	# The command stops (not only oshctl: it is in another session, oshd's).
	osht_wait_for 10 state_is "$cmd" T || {
		echo "command $cmd: $(proc_state "$cmd"), oshctl $client: $(proc_state "$client")"
		grep -v '^<6>' "$S/oshd.log"
		false
	}
	osht_wait_for 10 state_is "$client" T
	kill -CONT "$client"
	osht_wait_for 10 state_is "$cmd" RS
	kill -TERM "$client"
	wait "$client" && rc=0 || rc=$?
	[ "$rc" -eq $((128 + 15)) ]
}

@test "oshd: policy set, get, list and update make revisions; unchanged stores none" {
	oshd_start
	sb_create "$SB-p" --policy "$S/a.yaml" >/dev/null

	run -0 "$OSHCTL" policy set "$SB-p" "$S/b.yaml" --reason "add .21"
	[ "$output" = "$SB-p: policy revision 2 applied ($(echo "$output" | grep -o 'sha256:[0-9a-f]*'))" ]
	run -0 "$OSHCTL" policy set "$SB-p" "$S/b.yaml"
	has_line "$SB-p: policy unchanged (revision 2, sha256:*)"

	run -0 "$OSHCTL" policy update "$SB-p" --add-endpoint "echo:[2001:db8::20]:8080" \
		--add-binary "extra:/usr/bin/true" --add-endpoint "extra:203.0.113.5:443" \
		--reason "via update"
	has_line "$SB-p: policy revision 3 applied (sha256:*)"
	run -0 "$OSHCTL" policy get "$SB-p"
	has_line "*2001:db8::20*"
	has_line "*203.0.113.5*"
	run -0 "$OSHCTL" policy update "$SB-p" --remove-policy extra
	has_line "$SB-p: policy revision 4 applied (sha256:*)"
	run -1 "$OSHCTL" policy update "$SB-p" --remove-endpoint "echo:198.51.100.99:8080"
	has_line "oshctl: bad-request: *"
	run -2 "$OSHCTL" policy update "$SB-p" --add-endpoint "echo:2001:db8::20:8080"
	has_line "*brackets*"

	run -0 "$OSHCTL" policy list "$SB-p"
	has_line "REV *CREATED *AUTHOR *HASH *REASON"
	has_line "4 *root *sha256:*"
	has_line "3 *root *sha256:* *via update"
	has_line "1 *root *sha256:* *"
	[ "$("$OSHCTL" policy list "$SB-p" -o json | json_get '[r["rev"] for r in d["revisions"]]')" = "[4, 3, 2, 1]" ]

	# Revision 1 is the first policy: 198.51.100.21 came with revision 2.
	run -0 "$OSHCTL" policy get "$SB-p" --rev 1
	[[ $output != *198.51.100.21* ]]
	run -0 "$OSHCTL" policy get "$SB-p" --rev 2
	has_line "*198.51.100.21*"
	# What get prints is a policy set takes back: no change.
	"$OSHCTL" policy get "$SB-p" >"$S/back.yaml" 2>/dev/null
	run -0 "$OSHCTL" policy set "$SB-p" "$S/back.yaml"
	has_line "*unchanged*"
	"$OSHCTL" policy get "$SB-p" -o json | json_ok
	[ "$("$OSHCTL" policy get "$SB-p" --rev 3 -o json | json_get 'd["reason"]')" = "via update" ]
	run -1 "$OSHCTL" policy get "$SB-p" --rev 99
	has_line "oshctl: not-found: *"
}

@test "oshd: an invalid policy is refused with FILE:LINE:COL of the user's file" {
	oshd_start
	run -1 sb_create "$SB-bad" --policy "$S/bad.yaml"
	has_line "$S/bad.yaml:6:15: *port*"
	[ ! -e "$CG/$SB-bad" ]
	[ -z "$("$OSHCTL" sandbox list -o json | sb_names)" ]

	sb_create "$SB-v" --policy "$S/a.yaml" >/dev/null
	run -1 "$OSHCTL" policy set "$SB-v" "$S/bad.yaml"
	has_line "$S/bad.yaml:6:15: *port*"
	[ "$("$OSHCTL" policy list "$SB-v" -o json | json_get 'len(d["revisions"])')" = 1 ]
}

@test "oshd: a static change is refused naming the section; nothing is stored" {
	oshd_start
	sb_create "$SB-st" --policy "$S/a.yaml" >/dev/null
	run -1 "$OSHCTL" policy set "$SB-st" "$S/c.yaml"
	has_line "oshctl: static-change: *"
	has_line "oshctl: static sections changed: filesystem_policy (they need a new sandbox)"
	[ "$("$OSHCTL" policy list "$SB-st" -o json | json_get 'len(d["revisions"])')" = 1 ]
}

@test "oshd: an egress denial inside a sandbox shows in logs, --json and human form" {
	[ -x "$S/bin/net-probe" ] || skip "helpers not built: make O=${O:-build} all"
	fakenet_setup
	fakenet_start_tcp_echo 198.51.100.20 8080
	fakenet_start_tcp_echo 198.51.100.20 9090
	# oshd in the client namespace: the commands it starts use the fake internet.
	oshd_start client
	sb_create "$SB-net" --policy "$S/a.yaml" >/dev/null

	run -0 "$OSHCTL" sandbox exec "$SB-net" -- "$S/bin/net-probe" tcp 198.51.100.20 8080 \
		--send ping --expect ping
	has_line "received: ping"
	run -0 fakenet_run_client "$S/bin/net-probe" tcp 198.51.100.20 9090 --send a --expect a
	# A follower started before the denial sees it arrive.
	osht_spawn follow "$OSHCTL" logs "$SB-net" --json -f
	run -1 "$OSHCTL" sandbox exec "$SB-net" -- "$S/bin/net-probe" tcp 198.51.100.20 9090 \
		--send a --expect a
	has_line "connect: EPERM (Operation not permitted)"

	osht_wait_for 10 logs_have_denial
	osht_wait_for 10 grep -q '"target":"198.51.100.20:9090/tcp"' "$S/follow.log"
	run -0 "$OSHCTL" logs "$SB-net" --json
	echo "$output" | /usr/bin/python3 -c '
import json, sys
evs = [json.loads(l) for l in sys.stdin if l.strip()]
d = [e for e in evs if e["decision"] == "deny" and e["kind"] == "egress"]
assert d, evs
e = d[-1]
assert e["sandbox"] == sys.argv[1], e
assert e["target"] == "198.51.100.20:9090/tcp", e
assert e["exe"] == sys.argv[2], e
assert isinstance(e["id"], int) and e["message"], e
' "$SB-net" "$S/bin/net-probe"
	run -0 "$OSHCTL" logs "$SB-net"
	has_line "????-??-??T??:??:??*Z $SB-net deny denied connect 198.51.100.20:9090/tcp by $S/bin/net-probe *"
	# --since the last id: nothing newer.
	local last
	last=$("$OSHCTL" logs "$SB-net" --json | tail -1 | json_get 'd["id"]')
	run -0 "$OSHCTL" logs "$SB-net" --json --since "$last"
	[ -z "$output" ]
	run -0 "$OSHCTL" logs "$SB-net" --json --limit 1
	[ "$(echo "$output" | wc -l)" -eq 1 ]
	# The event log file gets the same events.
	grep -q '198.51.100.20' "$S/events.jsonl"

	# `oshctl run` in oshd's namespaces goes through oshd and prints the run's denials.
	run -1 nsenter --net="/run/netns/$FAKENET_SBX" -- "$OSHCTL" run -q --policy "$S/a.yaml" \
		--name "$SB-run" -- "$S/bin/net-probe" tcp 198.51.100.20 9090 --send a --expect a
	has_line "connect: EPERM (Operation not permitted)"
	has_line "osh: denied connect 198.51.100.20:9090/tcp by $S/bin/net-probe (pid *): *"
	# The same name again, nothing denied: the earlier run's denial is not shown again.
	run -0 nsenter --net="/run/netns/$FAKENET_SBX" -- "$OSHCTL" run -q --policy "$S/a.yaml" \
		--name "$SB-run" -- "$S/bin/net-probe" tcp 198.51.100.20 8080 --send b --expect b
	has_line "received: b"
	[[ $output != *"osh: denied"* ]]
}

logs_have_denial() {
	"$OSHCTL" logs "$SB-net" --json 2>/dev/null | grep -q '"decision":"deny"'
}

@test "oshd: a non-root user sees and changes only its own sandboxes" {
	oshd_start
	sb_create "$SB-root" --policy "$S/a.yaml" >/dev/null
	cd "$S"

	run -0 as_nobody "$OSHCTL" sandbox list
	[[ $output != *"$SB-root"* ]]
	run -4 as_nobody "$OSHCTL" sandbox get "$SB-root"
	has_line "oshctl: forbidden: *"
	run -4 as_nobody "$OSHCTL" sandbox delete "$SB-root"
	run -4 as_nobody "$OSHCTL" policy set "$SB-root" "$S/b.yaml"
	run -125 as_nobody "$OSHCTL" sandbox exec "$SB-root" -- true
	run -0 "$OSHCTL" sandbox get "$SB-root"

	# Its own: created, listed, used and deleted. The policy's identity is the user's own.
	osht_record cgroup "$CG/$SB-own"
	run -0 as_nobody "$OSHCTL" sandbox create "$SB-own" --policy "$S/a.yaml" --workdir "$S/work"
	run -0 as_nobody "$OSHCTL" sandbox list
	has_line "$SB-own *idle *nobody *"
	[[ $output != *"$SB-root"* ]]
	run -0 as_nobody "$OSHCTL" sandbox exec "$SB-own" -- id -u
	[ "$output" = 65534 ]
	# Root (an admin) sees both.
	[ "$("$OSHCTL" sandbox list -o json | sb_names | sort | tr '\n' ' ')" = "$SB-own $SB-root " ]
	run -0 as_nobody "$OSHCTL" sandbox delete "$SB-own"
}

@test "oshd: oshctl run uses the daemon when it answers, --embedded and --daemon choose" {
	oshd_start
	run -5 "$OSHCTL" run -q --daemon --policy "$S/a.yaml" --name "$SB-run" -- /bin/sh -c \
		'cat /proc/self/cgroup; id -u; exit 5'
	has_line "*/osh/$SB-run"
	has_line 65534
	# Ephemeral: gone once its command ended.
	run -1 sb_listed "$SB-run"

	run -0 "$OSHCTL" run -q --policy "$S/a.yaml" --name "$SB-run2" -- /bin/true
	run -0 "$OSHCTL" run -q --embedded --policy "$S/a.yaml" --name "$SB-run3" -- /bin/true

	run -125 env OSH_SOCKET="$S/none.sock" "$OSHCTL" run -q --daemon --policy "$S/a.yaml" \
		-- /bin/true
	has_line "oshctl: oshd is not running*"
	# Invalid policy through the daemon path: the user's file is named.
	run -125 "$OSHCTL" run -q --daemon --policy "$S/bad.yaml" -- /bin/true
	has_line "$S/bad.yaml:6:15: *"
}

# api METHOD PATH [BODY [CONTENT-TYPE]]: one raw request; prints `STATUS CODE` (the error code,
# or - for a success).
api() {
	local body=${3-} ctype=${4-application/json} out
	local -a args=(-s -o "$S/api.out" -w '%{http_code}' --unix-socket "$OSH_SOCKET" -X "$1")
	if [ $# -ge 3 ]; then
		printf '%s' "$body" >"$S/api.in"
		args+=(-H "Content-Type: $ctype" --data-binary "@$S/api.in")
	fi
	out=$(curl "${args[@]}" "http://localhost$2")
	printf '%s %s\n' "$out" "$(/usr/bin/python3 -c 'import json, sys
try:
    print(json.load(open(sys.argv[1]))["error"]["code"])
except Exception:
    print("-")' "$S/api.out")"
}

@test "oshd: malformed API requests get the documented status and code" {
	oshd_start
	sb_create "$SB-m" --policy "$S/a.yaml" >/dev/null
	local -a cases=(
		"GET /v1/nothing||404 not-found"
		"DELETE /v1/status||405 method-not-allowed"
		"PUT /v1/sandboxes||405 method-not-allowed"
		"POST /v1/sandboxes|{|400 bad-json"
		"POST /v1/sandboxes|[]|400 bad-json"
		"POST /v1/sandboxes|{\"name\":\"x\"}|400 bad-request"
		"POST /v1/sandboxes|{\"name\":\"x\",\"policy\":\"version: 1\",\"typo\":1}|400 bad-request"
		"POST /v1/sandboxes|{\"name\":\"Bad Name\",\"policy\":\"version: 1\"}|400 bad-request"
		"POST /v1/sandboxes|{\"name\":\"x\",\"policy\":\"version: 2\"}|400 invalid-policy"
		"POST /v1/sandboxes|{\"name\":\"$SB-m\",\"policy\":\"version: 1\"}|409 exists"
		"PUT /v1/sandboxes/$SB-m/policy|{\"policy\":7}|400 bad-request"
		"PUT /v1/sandboxes/$SB-m/policy|{\"policy\":\"version: 1\",\"policy\":\"version: 1\"}|400 bad-request"
		"PATCH /v1/sandboxes/$SB-m/policy|{}|400 bad-request"
		"PATCH /v1/sandboxes/$SB-m/policy|{\"remove_policies\":[\"none\"]}|400 bad-request"
		"GET /v1/sandboxes/$SB-m/policy?rev=0||400 bad-request"
		"GET /v1/sandboxes/$SB-m/policy?rev=99||404 not-found"
		"GET /v1/sandboxes/nope||404 not-found"
		"GET /v1/events?since=x||400 bad-request"
		"GET /v1/events?sandbox=nope||404 not-found"
		"POST /v1/sandboxes/$SB-m/exec|{\"argv\":[\"true\"]}|400 bad-request"
	)
	local c method path body want got
	for c in "${cases[@]}"; do
		IFS='|' read -r req body want <<<"$c"
		method=${req%% *} path=${req#* }
		if [ -n "$body" ]; then got=$(api "$method" "$path" "$body"); else got=$(api "$method" "$path"); fi
		[ "$got" = "$want" ] || { echo "$req $body: want $want, got $got"; cat "$S/api.out"; false; }
	done
	got=$(api POST /v1/sandboxes '{"name":"x","policy":"version: 1"}' text/plain)
	[ "$got" = "415 bad-content-type" ]
	got=$(api POST /v1/sandboxes "$(head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' x)")
	[ "$got" = "413 too-large" ]
	# None of it changed anything.
	[ "$("$OSHCTL" -o json sandbox list | json_get 'len(d["sandboxes"])')" -eq 1 ]
	[ "$("$OSHCTL" -o json policy list "$SB-m" | json_get 'len(d["revisions"])')" -eq 1 ]
}

@test "oshd: a process inside a sandbox cannot use the API, even with socket access" {
	oshd_start
	sb_create "$SB-in" --policy "$S/a.yaml" >/dev/null
	cp "$OSHCTL" "$S/bin/oshctl-inside"
	cp "$S/c.yaml" "$S/bin/wide.yaml"
	chmod 755 "$S/bin/oshctl-inside"
	chmod 644 "$S/bin/wide.yaml"
	# The socket's group is the sandbox user's here (nogroup): DAC lets the agent in. On 6.7+
	# the kernel refuses its unix connect (cgroup/connect_unix); below, oshd's own check must.
	run "$OSHCTL" sandbox exec "$SB-in" -- "$S/bin/oshctl-inside" --socket "$OSH_SOCKET" \
		sandbox create "$SB-wider" --policy "$S/bin/wide.yaml" --workdir /tmp
	[ "$status" -ne 0 ]
	if has_line "*connect: operation not permitted*"; then
		:
	else
		has_line "oshctl: forbidden: requests from inside a sandbox are refused"
	fi
	run -1 sb_listed "$SB-wider"

	# oshd's check alone: a process in a cgroup under osh's subtree, with no BPF program that
	# would refuse its connect, is refused by oshd (403), whatever its uid.
	local cg=$CG/$SB-bare
	osht_record cgroup "$cg"
	mkdir "$cg"
	run sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$cg" \
		"$OSHCTL" --socket "$OSH_SOCKET" sandbox create "$SB-wider" --policy "$S/c.yaml" \
		--workdir /tmp
	has_line "oshctl: forbidden: requests from inside a sandbox are refused"
	run -1 sb_listed "$SB-wider"
	# Outside, the same binary as the sandbox's user is served.
	run -0 as_nobody "$S/bin/oshctl-inside" --socket "$OSH_SOCKET" status
}

@test "oshd: its programs stay attached to an empty anchor cgroup while it runs; dead oshd's anchors go" {
	# The anchor keeps the kernel's per-hook static keys on (docs/arch-daemon.md): this checks
	# it exists, holds every cgroup program and never a process, and is removed with oshd.
	local dead anchor
	dead=$(($(cat /proc/sys/kernel/pid_max) - 1))
	! kill -0 "$dead" 2>/dev/null
	mkdir -p "$CG"
	osht_record cgroup "$CG/.static-keys-$dead"
	mkdir "$CG/.static-keys-$dead"
	oshd_start
	anchor=$CG/.static-keys-$OSHD_PID
	[ ! -e "$CG/.static-keys-$dead" ]
	[ -d "$anchor" ]
	[ -z "$(cat "$anchor/cgroup.procs")" ]
	run -0 bpftool cgroup show "$anchor"
	for p in connect4 connect6 sendmsg4 sendmsg6 recvmsg4 recvmsg6 sock_create skb_egress; do
		has_line "* osh_$p *"
	done
	kill -TERM "$OSHD_PID"
	osht_wait_for 10 oshd_gone
	[ ! -e "$anchor" ]
}
