#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Kernel egress enforcement through `oshctl run`, run inside the fake internet's client namespace
# (the cgroup and BPF work happens on the host kernel, the traffic stays in the namespaces): which
# binary may reach which address and port, special addresses, UDP without connect, TCP Fast Open,
# socket types, inheritance by children, sub-cgroups, DNS through osh's responder, atomic reload,
# and the denial line on stderr. Every denial is preceded by the same action succeeding (or
# reaching the network) without the sandbox or under an allowing policy.

bats_require_minimum_version 1.5.0

setup_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	local src o p
	src=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	o=${O:-build}
	[[ $o == /* ]] || o=$src/$o
	export OSHCTL=$o/bin/oshctl
	ROOT=$(mktemp -d /tmp/osh-test-egress.XXXXXX)
	chmod 755 "$ROOT"
	export ROOT
	mkdir -p "$ROOT/bin" "$ROOT/policies"
	for p in net-probe egress-probe; do
		[ -x "$o/tests/helpers/$p" ] && cp "$o/tests/helpers/$p" "$ROOT/bin/"
	done
	# A copy is another inode: not the allowed binary, whatever its name.
	cp "$ROOT/bin/net-probe" "$ROOT/bin/copy-probe"
	cp "$ROOT/bin/net-probe" "$ROOT/bin/curl"
	# The policy names the symlink; the kernel sees the target it resolves to.
	cp "$ROOT/bin/net-probe" "$ROOT/bin/target-probe"
	ln -s "$ROOT/bin/target-probe" "$ROOT/bin/link-to-target"
	# Running the allowed binary through a symlink runs the same file.
	ln -s "$ROOT/bin/net-probe" "$ROOT/bin/via-symlink"
	cp "$ROOT/bin/net-probe" "$ROOT/bin/aaa-first"
	for p in "$src"/tests/e2e/policies/egress-*.yaml.in; do
		sed "s|@ROOT@|$ROOT|g" "$p" >"$ROOT/policies/$(basename "$p" .in)"
	done
	chmod -R a+rX "$ROOT"
}

teardown_file() {
	[ -n "${ROOT:-}" ] && [ -d "$ROOT" ] && rm -rf "$ROOT"
	return 0
}

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, cgroups, BPF)"
	[ -x "$OSHCTL" ] || skip "oshctl not built: make O=${O:-build}"
	[ -x "$ROOT/bin/egress-probe" ] || skip "helpers not built: make O=${O:-build} all"
	load ../lib/fakenet.bash
	load ../lib/cgroup.bash
	PROBE=$ROOT/bin/net-probe
	EPROBE=$ROOT/bin/egress-probe
	POLICY=$ROOT/policies/egress-basic.yaml
	fakenet_setup
	fakenet_add_host svc.fakenet.test 198.51.100.20 2001:db8:2::20
	fakenet_start_tcp_echo 198.51.100.20 8080
	fakenet_start_tcp_echo 198.51.100.20 9090
	fakenet_start_tcp_echo 2001:db8:2::20 8080
	fakenet_start_tcp_echo 198.51.100.21 8080
	fakenet_start_udp_echo 198.51.100.20 8080
}

teardown() {
	fakenet_teardown
}

# osh_run [oshctl run options] -- CMD...: `oshctl run -q` with the test policy, in the client
# namespace. Output: the command's and osh's lines (denials come from another thread, so
# assertions look for lines, not their order).
osh_run() {
	fakenet_run_client "$OSHCTL" run -q --policy "$POLICY" "$@"
}

# file_has PATTERN FILE: FILE exists and a line matches (osht_wait_for gives up on status 2,
# which grep returns for a file not written yet).
file_has() { [ -e "$2" ] && grep -q "$1" "$2"; }

# A denial line as `oshctl run` prints it, for the event assertions.
has_line() { # PATTERN: some line of $output matches the glob
	local l
	while IFS= read -r l; do
		# The command and oshctl write to the same stderr from different processes: a denial
		# line can land after the start of one of the command's lines (python's traceback
		# indents in a write of its own), so the match may start anywhere in a line.
		# shellcheck disable=SC2053
		[[ $l == *$1 ]] && return 0
	done <<<"$output"
	echo "no line matching: $1"
	echo "output: $output"
	return 1
}

@test "egress: the allowed binary reaches the allowed address and port (IPv4 and IPv6 echo)" {
	run osh_run -- "$PROBE" tcp 198.51.100.20 8080 --send ping --expect ping
	[ "$status" -eq 0 ]
	has_line "received: ping"

	run osh_run -- "$PROBE" tcp 2001:db8:2::20 8080 --send ping6 --expect ping6
	[ "$status" -eq 0 ]
	has_line "received: ping6"
}

@test "egress: another port and another address are denied with EPERM and one denial line each" {
	# Control: both are reachable outside the sandbox.
	run fakenet_run_client "$PROBE" tcp 198.51.100.20 9090 --send a --expect a
	[ "$status" -eq 0 ]
	run fakenet_run_client "$PROBE" tcp 198.51.100.21 8080 --send a --expect a
	[ "$status" -eq 0 ]

	run osh_run -- "$PROBE" tcp 198.51.100.20 9090 --send a --expect a
	[ "$status" -eq 1 ]
	has_line "connect: EPERM (Operation not permitted)"
	has_line "osh: denied connect 198.51.100.20:9090/tcp by $PROBE (pid *): a network_policies entry allows the destination, but not for this binary or its ancestors; closest: via_env"

	run osh_run -- "$PROBE" tcp 198.51.100.21 8080 --send a --expect a
	[ "$status" -eq 1 ]
	has_line "connect: EPERM (Operation not permitted)"
	has_line "osh: denied connect 198.51.100.21:8080/tcp by $PROBE (pid *): no network_policies entry allows it; closest: echo"
	[ "$(grep -o 'osh: denied ' <<<"$output" | wc -l)" -eq 1 ]
}

@test "egress: identity is the file: a copy, a renamed copy and python are denied; a symlink to the allowed binary is it" {
	run osh_run -- "$ROOT/bin/copy-probe" tcp 198.51.100.20 8080 --send a --expect a
	[ "$status" -eq 1 ]
	has_line "connect: EPERM (Operation not permitted)"
	has_line "osh: denied connect 198.51.100.20:8080/tcp by $ROOT/bin/copy-probe (pid *): a network_policies entry allows the destination, but not for this binary or its ancestors; closest: echo"

	run osh_run -- "$ROOT/bin/curl" tcp 198.51.100.20 8080 --send a --expect a
	[ "$status" -eq 1 ]
	has_line "connect: EPERM (Operation not permitted)"

	# Control: python reaches the service outside the sandbox.
	local py='import socket; s = socket.create_connection(("198.51.100.20", 8080), timeout=3); s.sendall(b"x"); print(s.recv(1))'
	run fakenet_run_client /usr/bin/python3 -c "$py"
	[ "$status" -eq 0 ]
	[ "$output" = "b'x'" ]
	run osh_run -- /usr/bin/python3 -c "$py"
	[ "$status" -ne 0 ]
	has_line "PermissionError: \[Errno 1\] Operation not permitted"
	has_line "osh: denied connect 198.51.100.20:8080/tcp by /usr/bin/python3* (pid *): *"

	run osh_run -- "$ROOT/bin/via-symlink" tcp 198.51.100.20 8080 --send a --expect a
	[ "$status" -eq 0 ]
	has_line "received: a"
}

@test "egress: a symlinked policy path allows its target" {
	fakenet_start_tcp_echo 203.0.113.9 8080
	run osh_run -- "$ROOT/bin/target-probe" tcp 203.0.113.9 8080 --send t --expect t
	[ "$status" -eq 0 ]
	has_line "received: t"
	# The probe the policy does not name for that endpoint.
	run osh_run -- "$PROBE" tcp 203.0.113.9 8080 --send t --expect t
	[ "$status" -eq 1 ]
	has_line "connect: EPERM (Operation not permitted)"
}

@test "egress: a child of an allowed binary inherits it; the same child without that ancestor is denied" {
	run osh_run -- /usr/bin/env /bin/sh -c "exec '$ROOT/bin/copy-probe' tcp 198.51.100.20 9090 --send c --expect c"
	[ "$status" -eq 0 ]
	has_line "received: c"

	run osh_run -- /bin/sh -c "exec '$ROOT/bin/copy-probe' tcp 198.51.100.20 9090 --send c --expect c"
	[ "$status" -eq 1 ]
	has_line "connect: EPERM (Operation not permitted)"
}

@test "egress: UDP sendto and sendmmsg without connect are denied (no policy entry allows UDP)" {
	run fakenet_run_client "$EPROBE" udp-sendto 198.51.100.20 8080 u
	[ "$status" -eq 0 ]
	has_line "received: u"
	run fakenet_run_client "$EPROBE" udp-sendto 198.51.100.20 8080 u --mmsg
	[ "$status" -eq 0 ]

	run osh_run -- "$EPROBE" udp-sendto 198.51.100.20 8080 u
	[ "$status" -eq 1 ]
	has_line "sendto: EPERM (Operation not permitted)"
	has_line "osh: denied sendmsg 198.51.100.20:8080/udp by $EPROBE (pid *): no network_policies entry allows it; closest: echo"

	run osh_run -- "$EPROBE" udp-sendto 198.51.100.20 8080 u --mmsg
	[ "$status" -eq 1 ]
	has_line "sendmmsg: EPERM (Operation not permitted)"

	# A UDP connect() sends nothing and is let through (resolvers use it to learn their
	# source address); the first datagram is what is denied, with the connect's verdict.
	run osh_run -- "$PROBE" udp 198.51.100.20 8080 --send u --expect u
	[ "$status" -eq 1 ]
	has_line "connected"
	has_line "send: EPERM (Operation not permitted)"
	has_line "osh: denied sendmsg 198.51.100.20:8080/udp by $PROBE (pid *): no network_policies entry allows it; closest: echo"
}

@test "egress: IPv4-mapped IPv6 is matched as IPv4: allowed address echoes, denied address is EPERM" {
	run osh_run -- "$PROBE" tcp ::ffff:198.51.100.20 8080 --send m --expect m
	[ "$status" -eq 0 ]
	has_line "received: m"

	run fakenet_run_client "$PROBE" tcp ::ffff:198.51.100.21 8080 --send m --expect m
	[ "$status" -eq 0 ]
	run osh_run -- "$PROBE" tcp ::ffff:198.51.100.21 8080 --send m --expect m
	[ "$status" -eq 1 ]
	has_line "connect: EPERM (Operation not permitted)"
	has_line "osh: denied connect 198.51.100.21:8080/tcp by $PROBE (pid *): *"
}

@test "egress: loopback, unspecified, link-local/metadata, NAT64 and 6to4 forms are denied" {
	# Nothing here can leave: the client namespace routes only the fake internet. Checked
	# before any attempt, so even a broken program could not reach a real address.
	run fakenet_run_client ip route get 169.254.169.254
	[ "$status" -ne 0 ]
	run fakenet_run_client ip -6 route get 64:ff9b::c633:6415
	[ "$status" -ne 0 ]
	run fakenet_run_client ip -6 route get 2002:c633:6415::
	[ "$status" -ne 0 ]

	local dst want
	# Control: outside the sandbox each attempt reaches the kernel's routing (refused or
	# unreachable, never EPERM).
	for dst in 127.0.0.1 127.0.0.2 ::1 0.0.0.0 169.254.169.254 64:ff9b::c633:6415 2002:c633:6415::; do
		run fakenet_run_client "$PROBE" tcp "$dst" 8080 --timeout 2
		[ "$status" -eq 1 ]
		[[ "$output" == "connect: ECONNREFUSED"* || "$output" == "connect: ENETUNREACH"* ]] ||
			{ echo "$dst: $output"; false; }
	done
	for dst in 127.0.0.1 127.0.0.2 ::1 0.0.0.0 169.254.169.254 64:ff9b::c633:6415 2002:c633:6415::; do
		run osh_run -- "$PROBE" tcp "$dst" 8080 --timeout 2
		[ "$status" -eq 1 ]
		has_line "connect: EPERM (Operation not permitted)"
	done
	# NAT64 and 6to4 are reported (and matched) as the IPv4 address they carry.
	has_line "osh: denied connect 198.51.100.21:8080/tcp by $PROBE (pid *): no network_policies entry allows it; closest: echo"
	run osh_run -- "$PROBE" tcp 169.254.169.254 80 --timeout 2
	has_line "osh: denied connect 169.254.169.254:80/tcp by $PROBE (pid *): loopback, link-local, metadata and unspecified addresses are not reachable from a sandbox; closest: none"
	# The NAT64 form of the allowed address is allowed (matched as 198.51.100.20), so the
	# connect reaches routing, which has no route for it.
	run osh_run -- "$PROBE" tcp 64:ff9b::c633:6414 8080 --timeout 2
	[ "$status" -eq 1 ]
	has_line "connect: ENETUNREACH (Network is unreachable)"
}

@test "egress: TCP Fast Open: allowed destination echoes, denied destination is EPERM" {
	run osh_run -- "$EPROBE" tfo 198.51.100.20 8080 f
	[ "$status" -eq 0 ]
	has_line "received: f"

	run fakenet_run_client "$EPROBE" tfo 198.51.100.20 9090 f
	[ "$status" -eq 0 ]
	run osh_run -- "$EPROBE" tfo 198.51.100.20 9090 f
	[ "$status" -eq 1 ]
	has_line "sendto: EPERM (Operation not permitted)"
}

@test "egress: a source route (IP_OPTIONS LSRR) sends packets to a first hop no hook checked: the backstop drops them" {
	# connect() checks the final destination (allowed); with an LSRR option the kernel sends the
	# SYN (or, set after connect(), the data) to the option's first hop, 198.51.100.21, which
	# nothing allowed. Setting the option
	# needs CAP_NET_RAW (EPERM for `oshctl run`'s processes on 6.18), so this runs the engine's
	# egress on a test cgroup as root (egress-run). An nft counter in the fake internet counts
	# what arrives at the first hop.
	cgroup_root >/dev/null || skip "no cgroup2 mount"
	command -v nft >/dev/null || skip "nft missing"
	cgroup_create
	fakenet_run_server nft -f - <<-EOF
		table ip osht_lsrr {
			chain pre {
				type filter hook prerouting priority -300;
				ip daddr 198.51.100.21 tcp dport 8080 counter
			}
		}
	EOF
	# shellcheck disable=SC2016 # python, not shell
	local py='import socket, struct, subprocess, sys, time
s = socket.socket()
s.settimeout(2)
lsrr = bytes([0x83, 7, 4]) + socket.inet_aton("198.51.100.21")
if sys.argv[1] == "lsrr":
    s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, lsrr)
try:
    s.connect(("198.51.100.20", 8080))
    print("connected")
except OSError as e:
    print("connect:", e)
    sys.exit(0)
if sys.argv[1] == "late":
    s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, lsrr)
    # Any route change makes the socket route again, now to the first hop.
    subprocess.run(["ip", "route", "add", "blackhole", "203.0.113.99/32"], check=True)
    s.sendall(b"late")
    time.sleep(0.5)
    print("sent")
    # Reset, not an orphan that retransmits after the sandbox (and its programs) are gone.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()'
	sed "s|path: $ROOT/bin/egress-probe|path: /usr/bin/python3|" "$POLICY" >"$ROOT/policies/egress-lsrr.yaml"
	packets() { fakenet_run_server nft list table ip osht_lsrr | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'; }
	lsrr_run() {
		fakenet_run_client "$(osht_helper egress-run)" --cgroup "$CGROUP_DIR" \
			--policy "$ROOT/policies/egress-lsrr.yaml" -- /usr/bin/python3 -c "$py" "$1"
	}

	# Control: outside the sandbox the SYN reaches the first hop.
	run fakenet_run_client /usr/bin/python3 -c "$py" lsrr
	[ "$(packets)" -gt 0 ]
	local before
	before=$(packets)
	run lsrr_run lsrr
	has_line "connect: timed out"
	has_line "egress-run: denied packet 198.51.100.21:8080/tcp*backstop*"
	[ "$(packets)" -eq "$before" ]
	# Without the option the same connect is allowed: the policy is not what stopped it.
	run lsrr_run plain
	has_line "connected"
	# The option set once connected: once the socket routes again, its data goes to the first
	# hop, and is dropped too.
	run lsrr_run late
	has_line "connected"
	has_line "sent"
	has_line "egress-run: denied packet 198.51.100.21:8080/tcp*backstop*"
	[ "$(packets)" -eq "$before" ]
}

@test "egress: a sandbox's socket connected by a process outside every sandbox cannot send (backstop)" {
	# The connect hook runs for the socket's cgroup, but its caller is in no sandbox: nothing is
	# checked, the socket is marked, and the backstop drops its SYN. The command (egress-run, as
	# root) makes the socket in the sandbox, then moves itself to a cgroup without programs.
	cgroup_root >/dev/null || skip "no cgroup2 mount"
	cgroup_create out
	local out=$CGROUP_DIR
	cgroup_create
	# shellcheck disable=SC2016 # python, not shell
	local py='import socket, sys
s = socket.socket()
s.settimeout(2)
if len(sys.argv) > 1:
    with open(sys.argv[1] + "/cgroup.procs", "w") as f:
        f.write("0")
try:
    s.connect(("198.51.100.20", 8080))
    print("connected")
except OSError as e:
    print("connect:", e)'
	sed "s|path: $ROOT/bin/egress-probe|path: /usr/bin/python3|" "$POLICY" >"$ROOT/policies/egress-py.yaml"
	run fakenet_run_client "$(osht_helper egress-run)" --cgroup "$CGROUP_DIR" \
		--policy "$ROOT/policies/egress-py.yaml" -- /usr/bin/python3 -c "$py"
	has_line "connected"
	run fakenet_run_client "$(osht_helper egress-run)" --cgroup "$CGROUP_DIR" \
		--policy "$ROOT/policies/egress-py.yaml" -- /usr/bin/python3 -c "$py" "$out"
	has_line "connect: timed out"
	has_line "egress-run: denied packet 198.51.100.20:8080/tcp*backstop*"
}

@test "egress: raw and ICMP (ping) sockets are refused at socket(); TCP and UDP are created" {
	# Control: root outside the sandbox may create a raw socket. Inside, the missing
	# CAP_NET_RAW already refuses it (before the sock_create hook runs); the ping socket below,
	# which needs no capability, is what the hook alone refuses.
	run fakenet_run_client "$EPROBE" socket inet raw
	[ "$status" -eq 0 ]
	run osh_run -- "$EPROBE" socket inet raw
	[ "$status" -eq 1 ]
	[[ "$output" == *"socket: EPERM"* ]]

	run fakenet_run_client /bin/sh -c "sysctl -qw net.ipv4.ping_group_range='0 2147483647' && '$EPROBE' socket inet icmp"
	[ "$status" -eq 0 ]
	run osh_run -- "$EPROBE" socket inet icmp
	[ "$status" -eq 1 ]
	has_line "socket: EPERM (Operation not permitted)"
	has_line "osh: denied socket icmp socket by $EPROBE (pid *): only TCP stream and UDP datagram sockets are allowed; closest: none"

	run osh_run -- "$EPROBE" socket inet6 tcp
	[ "$status" -eq 0 ]
	run osh_run -- "$EPROBE" socket inet udp
	[ "$status" -eq 0 ]
}

@test "egress: a process in a sub-cgroup of the sandbox is governed by it" {
	# The engine's egress on a test cgroup (egress-run, no Landlock): the command moves itself
	# into a child cgroup of the sandbox, then runs the probe to an allowed and a denied port.
	cgroup_root >/dev/null || skip "no cgroup2 mount"
	cgroup_create
	mkdir "$CGROUP_DIR/sub"
	local script='echo $$ >"$1/sub/cgroup.procs" || exit 9
grep -q "/sub$" /proc/self/cgroup || exit 8
"$2" tcp 198.51.100.20 8080 --send s --expect s || exit 1
exec "$2" tcp 198.51.100.20 9090 --send s --expect s'
	run fakenet_run_client "$(osht_helper egress-run)" --cgroup "$CGROUP_DIR" --policy "$POLICY" -- \
		/bin/sh -c "$script" sh "$CGROUP_DIR" "$PROBE"
	[ "$status" -eq 1 ]
	has_line "received: s"
	has_line "connect: EPERM (Operation not permitted)"
	has_line "egress-run: denied connect 198.51.100.20:9090/tcp by $PROBE (pid *): *"
}

@test "egress: DNS goes to osh's responder: an allowed name resolves and connects; another is REFUSED and never reaches the resolver" {
	fakenet_add_host other.fakenet.test 198.51.100.21
	run osh_run -- "$PROBE" tcp svc.fakenet.test 8080 -4 --send d --expect d
	[ "$status" -eq 0 ]
	has_line "received: d"

	local before
	before=$(grep -c "query\[A\] other.fakenet.test" "$FAKENET_DIR/dnsmasq.log" || true)
	run osh_run -- "$PROBE" resolve other.fakenet.test -4
	[ "$status" -eq 1 ]
	has_line "getaddrinfo: *"
	has_line "osh: denied dns other.fakenet.test (type 1): *"
	# The resolver logged no new query for that name.
	[ "$(grep -c "query\[A\] other.fakenet.test" "$FAKENET_DIR/dnsmasq.log" || true)" = "$before" ]

	# The resolved address of an allowed name is not a licence for other binaries.
	run osh_run -- "$ROOT/bin/copy-probe" tcp svc.fakenet.test 8080 -4 --send d --expect d
	[ "$status" -eq 1 ]
	has_line "connect: EPERM (Operation not permitted)"
}

@test "egress reload: an open allowed connection survives the swap; a newly denied port is denied right after" {
	cgroup_root >/dev/null || skip "no cgroup2 mount"
	cgroup_create
	local run ack=$BATS_TEST_TMPDIR/ack flag=$BATS_TEST_TMPDIR/flag out=$BATS_TEST_TMPDIR/out
	local pidf=$BATS_TEST_TMPDIR/pid
	run=$(osht_helper egress-run)
	# The sandboxed command holds one connection open until $flag exists.
	fakenet_run_client "$run" --cgroup "$CGROUP_DIR" --ack "$ack" --pid-file "$pidf" \
		--policy "$ROOT/policies/egress-reload-a.yaml" \
		--policy "$ROOT/policies/egress-reload-b.yaml" -- \
		"$EPROBE" hold 198.51.100.20 8080 "$flag" >"$out" 2>&1 3>&- &
	local pid=$!
	_osht_stat "$pid" && osht_record pid "$pid" "$_osht_start"
	osht_wait_for 10 file_has holding "$out" || { cat "$out"; false; }
	[ "$(cat "$ack")" = 0 ]

	# A fresh process in the sandbox cgroup under generation A: port 9090 is allowed.
	local join='echo $$ >"$1/cgroup.procs" && shift && exec "$@"'
	run fakenet_run_client /bin/sh -c "$join" sh "$CGROUP_DIR" "$PROBE" tcp 198.51.100.20 9090 --send a --expect a
	[ "$status" -eq 0 ]

	# Swap to generation B.
	kill -USR1 "$(cat "$pidf")"
	osht_wait_for 10 file_has '^1$' "$ack"
	run fakenet_run_client /bin/sh -c "$join" sh "$CGROUP_DIR" "$PROBE" tcp 198.51.100.20 9090 --send b --expect b
	[ "$status" -eq 1 ]
	[ "$output" = "connect: EPERM (Operation not permitted)" ]
	run fakenet_run_client /bin/sh -c "$join" sh "$CGROUP_DIR" "$PROBE" tcp 198.51.100.20 8080 --send b --expect b
	[ "$status" -eq 0 ]

	# The held connection still carries data after the swap.
	touch "$flag"
	wait "$pid"
	grep -q "received: two" "$out" || { cat "$out"; false; }
}

# flips [--pool]: 100 reloads under a sandboxed connect loop; none may deny the port both allow.
flips() {
	cgroup_root >/dev/null || skip "no cgroup2 mount"
	cgroup_create
	local run ack=$BATS_TEST_TMPDIR/ack flag=$BATS_TEST_TMPDIR/flag out=$BATS_TEST_TMPDIR/out
	local pidf=$BATS_TEST_TMPDIR/pid i
	run=$(osht_helper egress-run)
	# The sandboxed loop connects to 8080 (allowed by both generations) until $flag exists.
	local loop='n=0; while [ ! -e "$1" ]; do "$2" tcp 198.51.100.20 8080 --send x --expect x >/dev/null 2>&1 || echo FAIL; n=$((n+1)); done; echo "rounds $n"'
	fakenet_run_client "$run" "$@" --cgroup "$CGROUP_DIR" --ack "$ack" --pid-file "$pidf" \
		--policy "$ROOT/policies/egress-reload-a.yaml" \
		--policy "$ROOT/policies/egress-reload-b.yaml" -- \
		/bin/sh -c "$loop" sh "$flag" "$PROBE" >"$out" 2>&1 3>&- &
	local pid=$!
	_osht_stat "$pid" && osht_record pid "$pid" "$_osht_start"
	osht_wait_for 10 test -s "$pidf"
	for i in $(seq 1 100); do
		kill -USR1 "$(cat "$pidf")"
		osht_wait_for 10 file_has "^$i\$" "$ack" || { cat "$out"; false; }
	done
	touch "$flag"
	wait "$pid"
	cat "$out"
	! grep -q FAIL "$out"
	# The loop really ran while the policy flipped.
	grep -q "^rounds [1-9]" "$out"
}

@test "egress reload under load: 100 flips between two policies never deny the port both allow" {
	flips
}

# The pool's reload (oshd's): a ready trie, filled, then named in osh_sandboxes; the old one is
# deleted by the pool's thread after a grace period. (That a program run never finds its trie gone
# is by the grace period, not by this test: the window is a few instructions wide.)
@test "egress reload under load, with the pool of tries: 100 flips never deny the port both allow" {
	flips --pool
}

@test "egress identity: a process entry is keyed by tgid and start time, and goes when the process exits" {
	cgroup_root >/dev/null || skip "no cgroup2 mount"
	cgroup_create
	local pidf=$BATS_TEST_TMPDIR/pid out=$BATS_TEST_TMPDIR/out flag=$BATS_TEST_TMPDIR/flag
	# A short-lived child, then the parent alone for a while.
	fakenet_run_client "$(osht_helper egress-run)" --cgroup "$CGROUP_DIR" --pid-file "$pidf" \
		--policy "$POLICY" -- /bin/sh -c 'sleep 1 & echo "child $!"; wait; echo "parent $$"; while [ ! -e "$0" ]; do sleep 0.1; done' "$flag" \
		>"$out" 2>&1 3>&- &
	local pid=$!
	_osht_stat "$pid" && osht_record pid "$pid" "$_osht_start"
	osht_wait_for 10 file_has "^child " "$out"
	local child parent
	child=$(sed -n 's/^child //p' "$out")
	# tgids of the osh_procs entries of this sandbox (value.sandbox = the cgroup's id), over
	# every loaded osh_procs map (bpftool cannot tell owners here).
	local cgid
	cgid=$(stat -c %i "$CGROUP_DIR")
	procs_tgids() { map_entries osh_procs value.sandbox "$cgid" key.tgid; }
	run procs_tgids
	[ "$status" -eq 0 ]
	[[ $'\n'$output$'\n' == *$'\n'$child$'\n'* ]] || { echo "no entry for $child: $output"; false; }
	osht_wait_for 10 file_has "^parent " "$out"
	parent=$(sed -n 's/^parent //p' "$out")
	run procs_tgids
	echo "after exit: $output"
	[ "$status" -eq 0 ]
	[[ $'\n'$output$'\n' != *$'\n'$child$'\n'* ]] || { echo "entry of exited $child left: $output"; false; }
	[[ $'\n'$output$'\n' == *$'\n'$parent$'\n'* ]]
	touch "$flag"
	wait "$pid"
}

# map_entries MAP MATCH_FIELD VALUE PRINT_FIELD: PRINT_FIELD of the entries whose MATCH_FIELD is
# VALUE, over every loaded map named MAP (bpftool cannot tell owners here). Fields are paths into
# bpftool's "formatted" entry, e.g. key.sandbox.
map_entries() {
	local id
	for id in $(bpftool -j map show | /usr/bin/python3 -c '
import json, sys
print(" ".join(str(m["id"]) for m in json.load(sys.stdin) if m.get("name") == sys.argv[1]))' "$1"); do
		# A map freed between show and dump gives an error object, not a list.
		bpftool -j map dump id "$id" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
def get(e, path):
    for k in path.split("."):
        e = e[k]
    return e
d = json.load(sys.stdin)
for e in d if isinstance(d, list) else []:
    f = e.get("formatted")
    if f and int(get(f, sys.argv[1])) == int(sys.argv[2]):
        print(get(f, sys.argv[3]))' "$2" "$3" "$4"
	done
}

# exes_inos CGROUP_ID: inode numbers of the osh_exes entries of that sandbox.
exes_inos() { map_entries osh_exes key.sandbox "$1" key.ino; }
has_ino() { # CGROUP_ID INO
	local inos
	inos=$(exes_inos "$1")
	grep -qx "$2" <<<"$inos"
}

# ttl_run POLICY SCRIPT: SCRIPT (sh; $1 is the probe) in the sandbox with the DNS responder and a
# 2 s TTL floor. It ran to its end (sequence-done) and its probes a, b and d were echoed.
ttl_run() {
	run fakenet_run_client "$(osht_helper egress-run)" --cgroup "$CGROUP_DIR" --policy "$1" \
		--dns --dns-ttl-floor 2 -- /bin/sh -c "$2" sh "$PROBE"
	echo "$output"
	[ "$status" -eq 0 ]
	has_line "sequence-done"
	for w in a b d; do has_line "received: $w"; done
}

@test "egress DNS TTL: an answered address expires (test floor 2 s): connect, EPERM naming the address after expiry, allowed again after a new answer" {
	cgroup_root >/dev/null || skip "no cgroup2 mount"
	cgroup_create
	# dnsmasq answers names of its hosts file with TTL 0: the floor decides the lifetime.
	fakenet_add_host ttl.fakenet.test 203.0.113.30
	fakenet_start_tcp_echo 203.0.113.30 8080
	local pol=$BATS_TEST_TMPDIR/ttl.yaml
	cat >"$pol" <<POLICY
version: 1
network_policies:
  ttl:
    endpoints:
      - { host: ttl.fakenet.test, port: 8080 }
    binaries:
      - path: $PROBE
POLICY
	# Control: by address, before any answer, the destination is denied.
	local script='"$1" tcp 203.0.113.30 8080 --send z --expect z && exit 5
"$1" tcp ttl.fakenet.test 8080 -4 --send a --expect a || exit 1
"$1" tcp 203.0.113.30 8080 --send b --expect b || exit 2
sleep 4
"$1" tcp 203.0.113.30 8080 --send c --expect c && exit 3
"$1" tcp ttl.fakenet.test 8080 -4 --send d --expect d || exit 4
echo sequence-done'
	ttl_run "$pol" "$script"
	[ "$(grep -c '^connect: EPERM' <<<"$output")" -eq 2 ]
	# Both denials (before the answer and after its expiry) name the address.
	[ "$(grep -c "^egress-run: denied connect 203.0.113.30:8080/tcp by $PROBE (pid [0-9]*): no network_policies entry allows it" <<<"$output")" -eq 2 ]
}

@test "egress DNS TTL: an expired answer for an address the policy names itself leaves the policy's entry" {
	cgroup_root >/dev/null || skip "no cgroup2 mount"
	cgroup_create
	# both. answers 203.0.113.31, which the policy also allows by address: the answer shares
	# its trie key, and its expiry must rewrite that key from the policy, not delete it.
	fakenet_add_host both.fakenet.test 203.0.113.31
	fakenet_add_host only.fakenet.test 203.0.113.32
	fakenet_start_tcp_echo 203.0.113.31 8080
	fakenet_start_tcp_echo 203.0.113.32 8080
	local pol=$BATS_TEST_TMPDIR/ttl.yaml
	cat >"$pol" <<POLICY
version: 1
network_policies:
  ttl:
    endpoints:
      - { host: both.fakenet.test, port: 8080 }
      - { host: only.fakenet.test, port: 8080 }
      - { host: 203.0.113.31, port: 8080 }
    binaries:
      - path: $PROBE
POLICY
	local script='"$1" tcp both.fakenet.test 8080 -4 --send a --expect a || exit 1
"$1" tcp only.fakenet.test 8080 -4 --send b --expect b || exit 2
sleep 4
"$1" tcp 203.0.113.32 8080 --send c --expect c && exit 3
"$1" tcp 203.0.113.31 8080 --send d --expect d || exit 4
echo sequence-done'
	ttl_run "$pol" "$script"
	# The name-only address expired (so the expiry ran); the policy's address still connects.
	[ "$(grep -c '^connect: EPERM' <<<"$output")" -eq 1 ]
}

@test "egress DNS TTL: an adopting process resumes the expiry of the addresses its predecessor installed" {
	cgroup_root >/dev/null || skip "no cgroup2 mount"
	[ -d /sys/fs/bpf ] && mountpoint -q /sys/fs/bpf || skip "bpffs is not mounted at /sys/fs/bpf"
	cgroup_create
	local bpffs=/sys/fs/bpf/osh-test-$OSHT_ID name=osh-test-ttl-$OSHT_ID
	osht_record path "$bpffs"
	fakenet_add_host ttl.fakenet.test 203.0.113.30
	fakenet_start_tcp_echo 203.0.113.30 8080
	local pol=$BATS_TEST_TMPDIR/ttl.yaml run out=$BATS_TEST_TMPDIR/out out2=$BATS_TEST_TMPDIR/out2
	local pidf=$BATS_TEST_TMPDIR/pid flag=$BATS_TEST_TMPDIR/flag
	cat >"$pol" <<POLICY
version: 1
network_policies:
  ttl:
    endpoints:
      - { host: ttl.fakenet.test, port: 8080 }
    binaries:
      - path: $PROBE
POLICY
	run=$(osht_helper egress-run)
	# The first process installs the answer (lifetime 4 s) and is killed; the sandboxed command
	# lives on and connects by address once told to.
	local script='"$1" tcp ttl.fakenet.test 8080 -4 --send a --expect a || exit 1
echo resolved
while [ ! -e "$2" ]; do sleep 0.05; done
"$1" tcp 203.0.113.30 8080 --send b --expect b && echo still-allowed
exit 0'
	fakenet_run_client "$run" --cgroup "$CGROUP_DIR" --pid-file "$pidf" --policy "$pol" --dns \
		--dns-ttl-floor 4 --bpffs "$bpffs" --name "$name" -- /bin/sh -c "$script" sh "$PROBE" "$flag" \
		>"$out" 2>&1 3>&- &
	local pid=$!
	_osht_stat "$pid" && osht_record pid "$pid" "$_osht_start"
	osht_wait_for 10 file_has '^resolved' "$out" || { cat "$out"; false; }
	kill -KILL "$(cat "$pidf")"
	wait "$pid" || true
	# The second process adopts the pinned sandbox (its command just waits in it) and removes
	# the address when the pinned expiry passes.
	fakenet_run_client "$run" --cgroup "$CGROUP_DIR" --policy "$pol" --dns --dns-ttl-floor 4 \
		--bpffs "$bpffs" --name "$name" --adopt -- /bin/sh -c 'sleep 8' >"$out2" 2>&1 3>&- &
	local pid2=$!
	_osht_stat "$pid2" && osht_record pid "$pid2" "$_osht_start"
	sleep 6
	touch "$flag"
	osht_wait_for 10 file_has 'EPERM' "$out" || { cat "$out" "$out2"; false; }
	wait "$pid2"
	cat "$out" "$out2"
	! grep -q still-allowed "$out"
	grep -q "^egress-run: denied connect 203.0.113.30:8080/tcp by $PROBE (pid [0-9]*): no network_policies entry allows it" "$out2"
	# The adopting process removed its pins on exit.
	[ ! -e "$bpffs/sandboxes/$name" ]
}

@test "egress glob: a binary created after load under a glob path is allowed; a non-matching one is denied" {
	cgroup_root >/dev/null || skip "no cgroup2 mount"
	cgroup_create
	# Short: the denial names the executable by at most 8 path components.
	local t=$ROOT/g$BATS_TEST_NUMBER pol=$BATS_TEST_TMPDIR/glob.yaml out=$BATS_TEST_TMPDIR/out
	local flag=$BATS_TEST_TMPDIR/flag pidf=$BATS_TEST_TMPDIR/pid cgid
	mkdir -p "$t/tools/old/bin" "$t/stage/bin"
	cp "$PROBE" "$t/tools/old/bin/agent"
	cat >"$pol" <<POLICY
version: 1
network_policies:
  tools:
    endpoints:
      - { host: 198.51.100.20, port: 8080 }
    binaries:
      - path: $t/tools/*/bin/agent
POLICY
	# The sandboxed shell waits for the files, then runs each once.
	local script='while [ ! -e "$1" ]; do sleep 0.05; done
"$2/tools/old/bin/agent" tcp 198.51.100.20 8080 --send o --expect o || echo old-denied
"$2/tools/new/bin/agent" tcp 198.51.100.20 8080 --send n --expect n || echo new-denied
"$2/tools/moved/bin/agent" tcp 198.51.100.20 8080 --send m --expect m || echo moved-denied
"$2/tools/new/bin/other" tcp 198.51.100.20 8080 --send x --expect x && echo other-allowed
exit 0'
	fakenet_run_client "$(osht_helper egress-run)" --cgroup "$CGROUP_DIR" --pid-file "$pidf" \
		--policy "$pol" -- /bin/sh -c "$script" sh "$flag" "$t" >"$out" 2>&1 3>&- &
	local pid=$!
	_osht_stat "$pid" && osht_record pid "$pid" "$_osht_start"
	osht_wait_for 10 test -s "$pidf"
	cgid=$(stat -c %i "$CGROUP_DIR")
	# Created after the policy was loaded: a new directory tree with a copy in it, a tree moved
	# in whole, and a file next to the new copy that the glob does not name.
	mkdir -p "$t/tools/new/bin"
	cp "$PROBE" "$t/tools/new/bin/agent"
	cp "$PROBE" "$t/stage/bin/agent"
	mv "$t/stage" "$t/tools/moved"
	cp "$PROBE" "$t/tools/new/bin/other"
	# The watcher runs on its own thread: wait until both identities are in the kernel.
	osht_wait_for 10 has_ino "$cgid" "$(stat -c %i "$t/tools/new/bin/agent")" ||
		{ exes_inos "$cgid"; false; }
	osht_wait_for 10 has_ino "$cgid" "$(stat -c %i "$t/tools/moved/bin/agent")"
	! has_ino "$cgid" "$(stat -c %i "$t/tools/new/bin/other")"
	touch "$flag"
	wait "$pid"
	cat "$out"
	for w in o n m; do grep -qx "received: $w" "$out"; done
	! grep -q -- "-denied\|other-allowed" "$out"
	grep -q "^egress-run: denied connect 198.51.100.20:8080/tcp by $t/tools/new/bin/other (pid [0-9]*): a network_policies entry allows the destination, but not for this binary or its ancestors; closest: tools" "$out"
}

@test "egress audit: an L7 endpoint with enforcement: audit is allowed and logged; the same with enforce is denied" {
	POLICY=$BATS_TEST_TMPDIR/audit.yaml
	cat >"$POLICY" <<POLICY
version: 1
network_policies:
  audited:
    endpoints:
      - { host: 198.51.100.20, port: 8080, protocol: rest, enforcement: audit, access: read-only }
    binaries:
      - path: $PROBE
  enforced:
    endpoints:
      - { host: 198.51.100.20, port: 9090, protocol: rest, access: read-only }
    binaries:
      - path: $PROBE
POLICY
	run osh_run -- "$PROBE" tcp 198.51.100.20 8080 --send a --expect a
	[ "$status" -eq 0 ]
	has_line "received: a"
	has_line "osh: audit connect 198.51.100.20:8080/tcp by $PROBE (pid *): allowed without L7 inspection (enforcement: audit; the L7 proxy is not available yet); closest: audited"
	# (counted anywhere in a line: the command's output and osh's lines share stderr)
	[ "$(grep -Eo 'osh: (audit|denied) ' <<<"$output" | wc -l)" -eq 1 ]

	# Control: outside the sandbox 9090 answers.
	run fakenet_run_client "$PROBE" tcp 198.51.100.20 9090 --send e --expect e
	[ "$status" -eq 0 ]
	run osh_run -- "$PROBE" tcp 198.51.100.20 9090 --send e --expect e
	[ "$status" -eq 1 ]
	has_line "connect: EPERM (Operation not permitted)"
	has_line "osh: denied connect 198.51.100.20:9090/tcp by $PROBE (pid *): the entry needs L7 inspection and the L7 proxy is not available yet; closest: enforced"
}

@test "egress unix: a host unix socket (mode 0666) answers outside; inside, connect is EPERM with a connect-unix denial line" {
	local v sock=$OSHT_STATE/host.sock
	v=$(uname -r)
	v=${v%%-*}
	[ "$(printf '%s\n6.7\n' "$v" | sort -V | head -n1)" = 6.7 ] ||
		skip "kernel $(uname -r) < 6.7 has no cgroup unix hooks: unix sockets are not restricted (reported on the sandbox)"
	# A host service: outside every sandbox, reachable by path (no network namespace applies).
	osht_spawn unix-host socat "UNIX-LISTEN:$sock,mode=0666,fork" SYSTEM:'echo unix-hello'
	osht_wait_for 5 test -S "$sock"
	local py='import os, socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    os.write(2, ("connect: %s\n" % e).encode())
    sys.exit(1)
print(s.recv(64).decode().strip())'

	run fakenet_run_client /usr/bin/python3 -c "$py" "$sock"
	[ "$status" -eq 0 ]
	has_line "unix-hello"

	run osh_run -- /usr/bin/python3 -c "$py" "$sock"
	[ "$status" -eq 1 ]
	has_line "connect: [[]Errno 1[]] Operation not permitted"
	has_line "osh: denied connect-unix unix:$sock by /usr/bin/python3* (pid *): named and abstract unix sockets are not reachable from a sandbox (their server acts outside its network policy); closest: none"
	[ "$(grep -o 'osh: denied ' <<<"$output" | wc -l)" -eq 1 ]
	[[ "$output" != *unix-hello* ]]
}
