# SPDX-License-Identifier: Apache-2.0
# Harness for tests that drive a real oshd through oshctl: start it (optionally inside the fake
# internet's client namespace) with its socket, store and event log in the test's state dir and
# its pins under /sys/fs/bpf/osh-test-<id>, all recorded for teardown; JSON helpers. Needs
# osht.bash (loaded by fakenet.bash) and cgroup.bash, and OSHD, OSHCTL set by the test file.

# oshd_init: sets S (state dir), SB (sandbox name prefix), PIN, CG and OSH_SOCKET.
oshd_init() {
	osht_state_init || return
	S=$OSHT_STATE
	SB=osh-test-${OSHT_ID:?}
	PIN=/sys/fs/bpf/osh-test-$OSHT_ID
	CG=$(cgroup_root)/osh
	export OSH_SOCKET=$S/oshd.sock
	OSHD_PID=
}

# oshd_start [client]: start oshd with its files in the state dir (the store at $OSHD_DATABASE
# when set), recorded for teardown; returns once its socket answers. `client`: in the fake
# internet's client namespace (what fakenet_run_client does, spelled out: osht_spawn execs a
# program, not a shell function), so the commands it starts in sandboxes have no route out. OSHD_CONFIG, when set, is the
# configuration file (the options given here still override it).
oshd_start() {
	local -a wrap=() conf=()
	if [ -n "${OSHD_CONFIG:-}" ]; then conf=(--config "$OSHD_CONFIG"); fi
	if [ "${1:-}" = client ]; then
		wrap=(nsenter --net="/run/netns/$FAKENET_SBX" -- unshare --mount --propagation private --
			/bin/sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$FAKENET_RESOLV")
	fi
	osht_record path "$PIN" || return
	osht_spawn oshd "${wrap[@]}" "$OSHD" "${conf[@]}" --socket "$OSH_SOCKET" \
		--database "${OSHD_DATABASE:-$S/osh.db}" --bpffs "$PIN" --event-log "$S/events.jsonl" \
		--admin-group root --socket-group nogroup || return
	# shellcheck disable=SC2154 # set by osht_spawn
	OSHD_PID=$_osht_spawned_pid OSHD_START=$_osht_spawned_start
	osht_wait_for 60 oshd_ready || {
		echo "oshd did not come up; its log:"
		cat "$S/oshd.log"
		return 1
	}
}

oshd_ready() {
	_osht_alive "$OSHD_PID" "$OSHD_START" || return 2
	"$OSHCTL" status >/dev/null 2>&1
}

# oshd_kill9: SIGKILL oshd (by its pid) and wait until it is gone.
oshd_kill9() {
	kill -KILL "$OSHD_PID" 2>/dev/null || true
	osht_wait_for 10 oshd_gone
}

oshd_gone() { ! _osht_alive "$OSHD_PID" "$OSHD_START"; }

# oshd_delete_all: delete every sandbox oshd lists (teardown, before osht_teardown).
oshd_delete_all() {
	[ -n "${OSHD_PID:-}" ] && [ -S "${OSH_SOCKET:-}" ] || return 0
	local n
	for n in $("$OSHCTL" sandbox list -o json 2>/dev/null | sb_names); do
		"$OSHCTL" sandbox delete "$n" >/dev/null 2>&1 || true
	done
}

# sb_names: the sandbox names of a `sandbox list -o json` answer on stdin, one a line.
sb_names() {
	/usr/bin/python3 -c 'import json, sys
for s in json.load(sys.stdin)["sandboxes"]: print(s["name"])'
}

# json_ok: stdin parses as JSON (one document).
json_ok() { /usr/bin/python3 -c 'import json, sys; json.load(sys.stdin)'; }

# json_get EXPR: evaluates EXPR on the JSON document on stdin (bound to d) and prints it.
json_get() { /usr/bin/python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# sb_create NAME [oshctl options]: `sandbox create` with the cgroup recorded for teardown.
sb_create() {
	local name=$1
	shift
	osht_record cgroup "$CG/$name"
	"$OSHCTL" sandbox create "$name" --workdir "$S/work" "$@"
}

# The restart and fault tests' world and probes.

# oshd_echo_world: connect-loop and net-probe in $S/bin, the workdir $S/work (the sandbox
# user's), the fake internet with TCP echo servers at 198.51.100.20, .21 and .22, port 8080.
oshd_echo_world() {
	mkdir -p "$S/bin" "$S/work" || return
	cp "$HELPERS/connect-loop" "$HELPERS/net-probe" "$S/bin/" || return
	chown -R 65534:65534 "$S/work"
	chmod -R a+rX "$S"
	fakenet_setup || return
	fakenet_start_tcp_echo 198.51.100.20 8080 || return
	fakenet_start_tcp_echo 198.51.100.21 8080 || return
	fakenet_start_tcp_echo 198.51.100.22 8080
}

# tally TARGET FIELD: a counter from connect-loop's tally file.
tally() {
	sed -n "s/^$1 .*$2=\([0-9]*\).*/\1/p" "$S/work/tally"
}

rounds() { sed -n 's/^rounds //p' "$S/work/tally" 2>/dev/null; }

# rounds_past N: connect-loop has finished more than N rounds.
rounds_past() { local r; r=$(rounds); [ -n "$r" ] && [ "$r" -gt "$1" ]; }

# probe NAME ADDR: one connect to ADDR:8080 from a fresh command in sandbox NAME; prints ok or
# the errno.
probe() {
	local out
	if out=$("$OSHCTL" sandbox exec "$1" -- "$S/bin/net-probe" tcp "$2" 8080 --timeout 2 2>&1); then
		echo ok
	else
		sed -n 's/^connect: \(E[A-Z]*\).*/\1/p' <<<"$out" | head -1
	fi
}
