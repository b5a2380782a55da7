#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# `oshctl run` through oshd shows every denial of the run, the last included: oshd drains the
# engine's event pipelines when the command exits and sends every event of the sandbox on the
# exec connection before the exit line (no fixed delay that a slow machine could outlast). The denial is a connect to loopback, which no
# policy can allow, so nothing leaves the machine even if enforcement failed. Sandboxes are named
# osh-test-<id>-*; teardown deletes them through oshd, stops oshd by its pid and removes the
# cgroups, pins and files, also on failure.

bats_require_minimum_version 1.5.0

setup_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	local src o
	src=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	o=${O:-build}
	[[ $o == /* ]] || o=$src/$o
	export OSHCTL=$o/bin/oshctl OSHD=$o/bin/oshd
}

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (oshd: cgroups, BPF)"
	[ -x "$OSHCTL" ] || skip "oshctl not built: make O=${O:-build}"
	[ -x "$OSHD" ] || skip "oshd not built: make O=${O:-build}"
	[ -x /bin/bash ] || skip "needs /bin/bash (its /dev/tcp connects)"
	load ../lib/fakenet.bash
	load ../lib/cgroup.bash
	load ../lib/oshd.bash
	oshd_init
	mkdir -p "$S/work"
	chown 65534:65534 "$S/work"
	chmod -R a+rX "$S"
	# Egress enforced (one endpoint, never contacted), the sandbox user, system dirs readable.
	cat >"$S/p.yaml" <<-EOF
		version: 1
		filesystem_policy:
		  include_workdir: true
		  read_only: [/usr, /bin, /sbin, /lib, /lib64, /etc, /proc, /dev/urandom]
		  read_write: [/dev/null]
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
		    binaries:
		      - path: /usr/bin/curl
	EOF
	chmod 644 "$S/p.yaml"
}

teardown() {
	[ -n "${OSHT_STATE:-}" ] || return 0
	# A client stopped by a test that failed half-way.
	if [ -n "${STOPPED_CLIENT:-}" ]; then kill -KILL "$STOPPED_CLIENT" 2>/dev/null || true; fi
	oshd_delete_all
	osht_teardown
}

@test "oshd run: a denial that is the command's last act is always printed" {
	oshd_start
	local i
	for i in $(seq 1 20); do
		osht_record cgroup "$CG/$SB-last-$i"
		# connect(2) is the last thing bash does: it exits on the redirection's failure.
		run -1 --separate-stderr "$OSHCTL" run -q --daemon --policy "$S/p.yaml" \
			--name "$SB-last-$i" --workdir "$S/work" -- /bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/9'
		if [[ $stderr != *"osh: denied connect 127.0.0.1:9/tcp by "*"/bash (pid "* ]]; then
			echo "run $i: no denial line; stderr: $stderr"
			return 1
		fi
		# Exactly one: the stream is not read twice, and an earlier run's is not shown.
		if [ "$(grep -c '^osh: denied connect' <<<"$stderr")" -ne 1 ]; then
			echo "run $i: not exactly one denial line; stderr: $stderr"
			return 1
		fi
	done
}

@test "oshd run: the denials of a command that forks and exits at once all come" {
	oshd_start
	osht_record cgroup "$CG/$SB-many"
	# Eight connects from eight processes, the last ones racing the command's exit.
	run -0 --separate-stderr "$OSHCTL" run -q --daemon --policy "$S/p.yaml" --name "$SB-many" \
		--workdir "$S/work" -- /bin/bash -c \
		'for p in 1 2 3 4 5 6 7 8; do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null & done; wait; exit 0'
	local p
	for p in 1 2 3 4 5 6 7 8; do
		[[ $stderr == *"osh: denied connect 127.0.0.1:$p/tcp by "* ]] || {
			echo "no denial line for port $p; stderr: $stderr"
			return 1
		}
	done
}

@test "oshd run: a command that ends at once prints nothing of osh's with -q" {
	# /bin/true's ephemeral sandbox goes within milliseconds: nothing about it may be printed
	# (a run with a separate event stream once printed "no sandbox named ..." 1 in 40 times).
	oshd_start
	local i
	for i in $(seq 1 40); do
		osht_record cgroup "$CG/$SB-true-$i"
		run -0 --separate-stderr "$OSHCTL" run -q --daemon --policy "$S/p.yaml" \
			--name "$SB-true-$i" --workdir "$S/work" -- /bin/true
		[ -z "$stderr$output" ] || {
			echo "run $i: stdout '$output' stderr '$stderr'"
			return 1
		}
	done
}

@test "oshd run: back-to-back runs of one name each get the sandbox, none is left behind" {
	# oshd reports the exit before it removes the ephemeral sandbox; a run asking for the same
	# name in between gets it (the ending one goes first), and the last one goes too.
	oshd_start
	osht_record cgroup "$CG/$SB-again"
	local i
	for i in $(seq 1 20); do
		run -3 "$OSHCTL" run -q --daemon --policy "$S/p.yaml" --name "$SB-again" \
			--workdir "$S/work" -- /bin/sh -c 'exit 3'
	done
	for i in $(seq 1 50); do
		[ -d "$CG/$SB-again" ] || break
		sleep 0.1
	done
	[ ! -d "$CG/$SB-again" ]
	run -0 "$OSHCTL" sandbox list -o json
	[[ $output != *"$SB-again"* ]]
}

@test "oshd run: a stopped client that no longer reads its events does not hold oshd's stop" {
	# oshctl is stopped (Ctrl-Z) while its command's denials fill the exec connection; the
	# command ends; oshd, told to stop, must not wait for the client to read.
	[ -x /usr/bin/python3 ] || skip "needs /usr/bin/python3 (a fast loop of denied connects)"
	oshd_start
	osht_record cgroup "$CG/$SB-stopped"
	"$OSHCTL" run -q --daemon --policy "$S/p.yaml" --name "$SB-stopped" --workdir "$S/work" \
		-- /usr/bin/python3 -c '
import socket, time
time.sleep(1)
# Denials for 3 s: the client is still there when the test sees the first one and stops it
# (3000 connects once took less than one look of the test, every 50 ms).
end = time.time() + 3
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=1).close()
    except OSError:
        pass' >/dev/null 2>"$S/stopped.err" &
	STOPPED_CLIENT=$!
	# Stopped once its denials flow.
	osht_wait_for 30 grep -q '^osh: denied connect 127.0.0.1:9/tcp' "$S/stopped.err"
	kill -STOP "$STOPPED_CLIENT"
	# The command has ended once its cgroup has no process left (oshd keeps the cgroup until
	# the exit line is out, which the full connection holds up).
	osht_wait_for 60 sh -c '[ -z "$(cat "$1/cgroup.procs" 2>/dev/null)" ]' - "$CG/$SB-stopped"
	kill -TERM "$OSHD_PID"
	osht_wait_for 10 oshd_gone
	kill -KILL "$STOPPED_CLIENT"
	wait "$STOPPED_CLIENT" 2>/dev/null || true
	STOPPED_CLIENT=
}

# create_exec_request NAME EXEC_JSON: a create of an ephemeral sandbox NAME with "exec", raw on
# oshd's socket; prints the status line of the answer and, after a 101, the first line, then
# closes the connection without handing over any stdio.
create_exec_request() {
	/usr/bin/python3 - "$OSH_SOCKET" "$S/p.yaml" "$S/work" "$1" "$2" <<-'PY'
		import json, socket, sys
		sock, policy, work, name, ex = sys.argv[1:]
		body = {"name": name, "policy": open(policy).read(), "workdir": work,
		        "ephemeral": True, "exec": json.loads(ex)}
		data = json.dumps(body).encode()
		s = socket.socket(socket.AF_UNIX)
		s.connect(sock)
		s.sendall(b"POST /v1/sandboxes HTTP/1.1\r\nHost: osh\r\nConnection: Upgrade\r\n"
		          b"Upgrade: osh-exec/1\r\nContent-Type: application/json\r\n"
		          b"Content-Length: %d\r\n\r\n" % len(data) + data)
		buf = b""
		while True:
		    got = s.recv(65536)
		    if not got:
		        break
		    buf += got
		    head, _, rest = buf.partition(b"\r\n\r\n")
		    if _ and (not head.startswith(b"HTTP/1.1 101") or b"\n" in rest):
		        break
		print(head.split(b"\r\n")[0].decode())
		if head.startswith(b"HTTP/1.1 101"):
		    print(rest.split(b"\n")[0].decode())
		s.close()
	PY
}

@test "oshd run: a create with exec whose client goes before the command starts leaves nothing" {
	[ -x /usr/bin/python3 ] || skip "needs /usr/bin/python3 (a raw request on the socket)"
	oshd_start
	osht_record cgroup "$CG/$SB-gone"
	run -0 create_exec_request "$SB-gone" '{"argv": ["/bin/true"]}'
	[ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
	[ "$(json_get 'd["sandbox"]["name"]' <<<"${lines[1]}")" = "$SB-gone" ]
	[ "$(json_get 'd["sandbox"]["ephemeral"]' <<<"${lines[1]}")" = True ]
	# No stdio came: oshd removes the sandbox it made for this request.
	for _ in $(seq 1 50); do
		[ -d "$CG/$SB-gone" ] || break
		sleep 0.1
	done
	[ ! -d "$CG/$SB-gone" ]
	run -0 "$OSHCTL" sandbox list -o json
	[[ $output != *"$SB-gone"* ]]
	# A command that cannot start: the sandbox goes too (oshctl run prints why, exit 127).
	osht_record cgroup "$CG/$SB-nocmd"
	run -127 --separate-stderr "$OSHCTL" run -q --daemon --policy "$S/p.yaml" \
		--name "$SB-nocmd" --workdir "$S/work" -- /nonexistent
	[[ $stderr == *"/nonexistent"* ]]
	[ ! -d "$CG/$SB-nocmd" ]
	run -0 "$OSHCTL" sandbox list -o json
	[[ $output != *"$SB-nocmd"* ]]
}

@test "oshd run: a create with exec needs the upgrade and an ephemeral sandbox" {
	oshd_start
	local body
	body=$(/usr/bin/python3 -c 'import json, sys
print(json.dumps({"name": sys.argv[2], "policy": open(sys.argv[1]).read(),
                  "exec": {"argv": ["/bin/true"]}}))' "$S/p.yaml" "$SB-x")
	run -0 curl -sS --unix-socket "$OSH_SOCKET" -X POST -H 'Content-Type: application/json' \
		--data-binary "$body" http://osh/v1/sandboxes
	[ "$(json_get 'd["error"]["code"] + " " + d["error"]["field"]' <<<"$output")" = "bad-request exec" ]
	body=$(/usr/bin/python3 -c 'import json, sys
print(json.dumps({"policy": open(sys.argv[1]).read(), "ephemeral": True,
                  "exec": {"argv": ["/bin/true"]}}))' "$S/p.yaml")
	run -0 curl -sS --unix-socket "$OSH_SOCKET" -X POST -H 'Content-Type: application/json' \
		--data-binary "$body" http://osh/v1/sandboxes
	[ "$(json_get 'd["error"]["code"] + " " + d["error"]["field"]' <<<"$output")" = "bad-request exec" ]
	[[ $output == *Upgrade* ]]
	run -0 "$OSHCTL" sandbox list -o json
	[ "$(sb_names <<<"$output" | wc -l)" -eq 0 ]
}
