#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The host end-to-end harness proves itself: the fake internet (DNS, echo, HTTP/HTTPS, no route
# out), its teardown (also after an interrupt or a kill), and a first real BPF program turning a
# real connect() into EPERM in a test cgroup while another port still connects.

setup_file() {
	# Every resource any test of this file records is also listed here; the last test checks
	# that all of them are gone.
	export OSHT_LEDGER=$BATS_FILE_TMPDIR/ledger
	: >"$OSHT_LEDGER"
}

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, cgroups, BPF)"
	load ../lib/fakenet.bash
	load ../lib/cgroup.bash
	PROBE=$(osht_helper net-probe)
	CGROUP_RUN=$(osht_helper cgroup-run)
	fakenet_setup
}

teardown() {
	fakenet_teardown
}

# A test cgroup for the BPF scenarios (CGROUP_DIR); skipped, and counted so, without cgroup v2.
need_test_cgroup() {
	cgroup_root >/dev/null || skip "no cgroup2 mount in /proc/self/mountinfo"
	cgroup_create
}

# The fake host of the BPF scenarios: one name, IPv4 and IPv6, echo on two ports.
start_echo_host() {
	fakenet_add_host svc.fakenet.test 198.51.100.20 2001:db8:2::20
	fakenet_start_tcp_echo 198.51.100.20 8080
	fakenet_start_tcp_echo 198.51.100.20 9090
	fakenet_start_tcp_echo 2001:db8:2::20 8080
	fakenet_start_tcp_echo 2001:db8:2::20 9090
}

@test "fakenet: DNS answers a configured name (A and AAAA) from the sandbox, NXDOMAIN for another" {
	fakenet_add_host api.fakenet.test 203.0.113.7 2001:db8:3::7

	run fakenet_run_client "$PROBE" resolve api.fakenet.test -4
	[ "$status" -eq 0 ]
	[ "$output" = "203.0.113.7" ]

	run fakenet_run_client "$PROBE" resolve api.fakenet.test -6
	[ "$status" -eq 0 ]
	[ "$output" = "2001:db8:3::7" ]

	run fakenet_run_client "$PROBE" resolve other.fakenet.test
	[ "$status" -eq 1 ]
	[ "$output" = "getaddrinfo: EAI_NONAME (Name or service not known)" ]
	# The answer came from this test's dnsmasq, which logged the query.
	grep -q "query\[A\] other.fakenet.test from 192.0.2.2" "$FAKENET_DIR/dnsmasq.log"
}

@test "fakenet: TCP and UDP echo round-trips over IPv4 and IPv6" {
	fakenet_add_host echo.fakenet.test 198.51.100.7 2001:db8:2::7
	fakenet_start_tcp_echo 198.51.100.7 7
	fakenet_start_tcp_echo 2001:db8:2::7 7
	fakenet_start_udp_echo 198.51.100.7 7
	fakenet_start_udp_echo 2001:db8:2::7 7

	run fakenet_run_client "$PROBE" tcp 198.51.100.7 7 --send hello4 --expect hello4
	[ "$status" -eq 0 ]
	[[ "$output" == *"received: hello4"* ]]

	run fakenet_run_client "$PROBE" tcp echo.fakenet.test 7 -6 --send hello6 --expect hello6
	[ "$status" -eq 0 ]
	[[ "$output" == *"received: hello6"* ]]

	run fakenet_run_client "$PROBE" udp 198.51.100.7 7 --send dgram4 --expect dgram4
	[ "$status" -eq 0 ]
	[[ "$output" == *"received: dgram4"* ]]

	run fakenet_run_client "$PROBE" udp 2001:db8:2::7 7 --send dgram6 --expect dgram6
	[ "$status" -eq 0 ]
	[[ "$output" == *"received: dgram6"* ]]

	# Nothing listens on port 8 of the fake host: the probe reports the kernel's answer.
	run fakenet_run_client "$PROBE" tcp 198.51.100.7 8
	[ "$status" -eq 1 ]
	[ "$output" = "connect: ECONNREFUSED (Connection refused)" ]
}

@test "fakenet: HTTP and HTTPS servers answer by name; HTTPS verifies only with the test CA" {
	fakenet_add_host www.fakenet.test 198.51.100.8 2001:db8:2::8
	fakenet_start_http 198.51.100.8 80
	fakenet_start_https 198.51.100.8 443
	fakenet_start_https 2001:db8:2::8 443

	run fakenet_run_client curl -sS -4 --max-time 10 http://www.fakenet.test/plain
	[ "$status" -eq 0 ]
	[ "$output" = "fakenet http 198.51.100.8:80 /plain" ]

	run fakenet_run_client curl -sS -4 --max-time 10 --cacert "$FAKENET_CA" \
		https://www.fakenet.test/tls
	[ "$status" -eq 0 ]
	[ "$output" = "fakenet https 198.51.100.8:443 /tls" ]

	run fakenet_run_client curl -sS -6 --max-time 10 --cacert "$FAKENET_CA" \
		https://www.fakenet.test/tls6
	[ "$status" -eq 0 ]
	[ "$output" = "fakenet https 2001:db8:2::8:443 /tls6" ]

	# Against the system's CAs the certificate must not verify (curl 60: peer not trusted).
	run fakenet_run_client curl -sS -4 --max-time 10 https://www.fakenet.test/
	[ "$status" -eq 60 ]
}

@test "fakenet: the sandbox has no route to a real address, and the harness refuses one" {
	# Route lookups only: nothing is sent to these addresses.
	run fakenet_run_client ip route get 8.8.8.8
	[ "$status" -ne 0 ]
	[[ "$output" == *"Network is unreachable"* ]]

	run fakenet_run_client ip -6 route get 2001:4860:4860::8888
	[ "$status" -ne 0 ]
	[[ "$output" == *"unreachable"* ]]

	# The fake internet is a dead end too: no route out, no forwarding.
	run fakenet_run_server ip route get 8.8.8.8
	[ "$status" -ne 0 ]
	[ "$(fakenet_run_server sysctl -n net.ipv4.ip_forward)" = 0 ]
	[ "$(fakenet_run_server sysctl -n net.ipv6.conf.all.forwarding)" = 0 ]

	# While a fake address routes into the fake internet.
	run fakenet_run_client ip route get 198.51.100.20
	[ "$status" -eq 0 ]
	[[ "$output" == *"via 192.0.2.1 dev sbx0"* ]]

	run fakenet_add_host real.fakenet.test 8.8.8.8
	[ "$status" -ne 0 ]
	run fakenet_start_tcp_echo 2001:4860:4860::8888 80
	[ "$status" -ne 0 ]
}

@test "connect_deny: TCP connect to the denied port fails with EPERM, another port echoes (IPv4)" {
	start_echo_host
	need_test_cgroup

	run fakenet_run_client "$CGROUP_RUN" --cgroup "$CGROUP_DIR" --deny-port 8080 -- \
		"$PROBE" tcp 198.51.100.20 8080 --send ping --expect ping
	[ "$status" -eq 1 ]
	[ "$output" = "connect: EPERM (Operation not permitted)" ]

	run fakenet_run_client "$CGROUP_RUN" --cgroup "$CGROUP_DIR" --deny-port 8080 -- \
		"$PROBE" tcp 198.51.100.20 9090 --send ping --expect ping
	[ "$status" -eq 0 ]
	[[ "$output" == *"received: ping"* ]]
}

@test "connect_deny: TCP connect to the denied port fails with EPERM, another port echoes (IPv6)" {
	start_echo_host
	need_test_cgroup

	run fakenet_run_client "$CGROUP_RUN" --cgroup "$CGROUP_DIR" --deny-port 8080 -- \
		"$PROBE" tcp svc.fakenet.test 8080 -6 --send ping6 --expect ping6
	[ "$status" -eq 1 ]
	[ "$output" = "connect: EPERM (Operation not permitted)" ]

	run fakenet_run_client "$CGROUP_RUN" --cgroup "$CGROUP_DIR" --deny-port 8080 -- \
		"$PROBE" tcp 2001:db8:2::20 9090 --send ping6 --expect ping6
	[ "$status" -eq 0 ]
	[[ "$output" == *"received: ping6"* ]]
}

@test "connect_deny control: in the same cgroup without the program, the denied port connects" {
	start_echo_host
	need_test_cgroup

	# Same cgroup, same namespace, same client - only the program is missing.
	run fakenet_run_client /bin/sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh \
		"$CGROUP_DIR" "$PROBE" tcp 198.51.100.20 8080 --send ping --expect ping
	[ "$status" -eq 0 ]
	[[ "$output" == *"received: ping"* ]]

	run fakenet_run_client /bin/sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh \
		"$CGROUP_DIR" "$PROBE" tcp 2001:db8:2::20 8080 --send ping6 --expect ping6
	[ "$status" -eq 0 ]
	[[ "$output" == *"received: ping6"* ]]
}

@test "connect_deny: UDP to the denied port still passes, and the program is gone after cgroup-run" {
	start_echo_host
	fakenet_start_udp_echo 198.51.100.20 8080
	need_test_cgroup

	# The program matches TCP only.
	run fakenet_run_client "$CGROUP_RUN" --cgroup "$CGROUP_DIR" --deny-port 8080 -- \
		"$PROBE" udp 198.51.100.20 8080 --send dgram --expect dgram
	[ "$status" -eq 0 ]
	[[ "$output" == *"received: dgram"* ]]

	# cgroup-run detached both programs when its command exited.
	run bpftool cgroup show "$CGROUP_DIR"
	[ "$status" -eq 0 ]
	[[ "$output" != *connect* ]]
	run fakenet_run_client /bin/sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh \
		"$CGROUP_DIR" "$PROBE" tcp 198.51.100.20 8080 --send again --expect again
	[ "$status" -eq 0 ]
}

@test "cgroup: a process moved into the test cgroup is killed by pid and the cgroup removed" {
	need_test_cgroup
	local root
	root=$(cgroup_root)
	[[ "$CGROUP_DIR" == "$root"/osh-test-* ]]
	# Deliberately not recorded: teardown must find it through cgroup.procs.
	sleep 300 </dev/null >/dev/null 2>&1 3>&- &
	local pid=$!
	_osht_stat "$pid"
	local start=$_osht_start
	cgroup_move "$pid"
	grep -qx "$pid" "$CGROUP_DIR/cgroup.procs"
	grep -qx "0::/${CGROUP_DIR#"$root"/}" "/proc/$pid/cgroup"

	cgroup_teardown
	! _osht_alive "$pid" "$start" || { echo "process $pid still runs"; false; }
	[ ! -e "$CGROUP_DIR" ]
	wait "$pid" || true
}

# Runs a nested bats file that builds a fake internet and a cgroup and then sleeps, so the
# caller can interrupt it. Sets NESTED_PID (bats, leading its own process group), NESTED_IDS
# (state dir, namespaces, cgroup) and NESTED_PIDS (the processes it recorded).
start_nested_sleeper() {
	local dir=$BATS_TEST_TMPDIR mark=$BATS_TEST_TMPDIR/mark at=@
	# ${at}test: bats would take a literal one in this heredoc for a test of this file.
	cat >"$dir/nested.bats" <<EOF
setup() {
	source "$OSHT_LIB/fakenet.bash"
	source "$OSHT_LIB/cgroup.bash"
	fakenet_setup
	fakenet_add_host sleeper.fakenet.test 198.51.100.30
	fakenet_start_tcp_echo 198.51.100.30 7
	cgroup_create
	cp "\$OSHT_STATE/resources" "$mark.res"
	echo "\$OSHT_STATE \$FAKENET_SBX \$FAKENET_NET \$CGROUP_DIR" >"$mark.tmp"
	mv "$mark.tmp" "$mark"
}
teardown() {
	fakenet_teardown
}
${at}test "sleeps until interrupted" {
	sleep 60
}
EOF
	# Its own session: signals aimed at its process group are what a Ctrl-C or a killed CI job
	# delivers, and they do not reach this test.
	# A clean environment (the outer bats' BATS_* variables would confuse the nested one), and
	# SIGINT back to default: a background job of a non-interactive shell starts with it
	# ignored, unlike bats started from a terminal, and bash cannot undo that itself. Its
	# temporary files go below this test's, which bats removes even when the nested run was
	# killed before it could.
	mkdir "$dir/tmp"
	setsid env -i --default-signal=INT PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/bin \
		HOME="$HOME" TMPDIR="$dir/tmp" O="${O:-build}" OSHT_LEDGER="$OSHT_LEDGER" \
		bats --tap "$dir/nested.bats" >"$dir/nested.out" 2>&1 </dev/null 3>&- &
	NESTED_PID=$!
	# If this test fails before it interrupts the nested run, teardown ends it.
	_osht_stat "$NESTED_PID" && osht_record pid "$NESTED_PID" "$_osht_start"
	osht_wait_for 30 test -s "$mark" || { cat "$dir/nested.out"; return 1; }
	read -r -a NESTED_IDS <"$mark"
	NESTED_PIDS=$(awk '$1 == "pid" || $1 == "guard" {print $2 ":" $3}' "$mark.res")
	[ -n "$NESTED_PIDS" ]
	[ -e "/run/netns/${NESTED_IDS[1]}" ]
	[ -d "${NESTED_IDS[3]}" ]
}

# nested_gone: nothing of the nested test is left (returns 1 while something is).
nested_gone() {
	local p
	[ ! -e "${NESTED_IDS[0]}" ] || return 1
	[ ! -e "/run/netns/${NESTED_IDS[1]}" ] || return 1
	[ ! -e "/run/netns/${NESTED_IDS[2]}" ] || return 1
	[ ! -e "/etc/netns/${NESTED_IDS[1]}" ] || return 1
	[ ! -e "${NESTED_IDS[3]}" ] || return 1
	for p in $NESTED_PIDS; do
		if _osht_alive "${p%%:*}" "${p##*:}"; then return 1; fi
	done
}

@test "teardown: a test interrupted by SIGINT (Ctrl-C) leaves nothing behind" {
	start_nested_sleeper
	kill -INT -- "-$NESTED_PID"
	osht_wait_for 30 nested_gone || { cat "$BATS_TEST_TMPDIR/nested.out"; false; }
	wait "$NESTED_PID" || true
	# bats ran the nested test's teardown; its guard had nothing left to do.
	run grep -cxF "guard-cleaned ${NESTED_IDS[0]}" "$OSHT_LEDGER"
	[ "$output" = 0 ]
	grep -q "^not ok 1 sleeps until interrupted" "$BATS_TEST_TMPDIR/nested.out"
}

@test "teardown: a test killed by SIGKILL is cleaned up by its guard" {
	start_nested_sleeper
	kill -KILL -- "-$NESTED_PID"
	osht_wait_for 30 nested_gone
	wait "$NESTED_PID" || true
	# No teardown could run in the killed test: the guard did the cleaning.
	grep -qxF "guard-cleaned ${NESTED_IDS[0]}" "$OSHT_LEDGER"
}

@test "teardown: when bats alone is killed (as timeout(1) does), the guard ends the test and cleans up" {
	start_nested_sleeper
	# Only the bats process: the test shell lives on, blocked in its `sleep 60`.
	kill -TERM "$NESTED_PID"
	osht_wait_for 30 nested_gone || { cat "$BATS_TEST_TMPDIR/nested.out"; false; }
	wait "$NESTED_PID" || true
	grep -qxF "guard-cleaned ${NESTED_IDS[0]}" "$OSHT_LEDGER"
}

@test "teardown: no namespace, cgroup, process or file of this file's tests is left" {
	local kind a b n=0 netns=0 cgroups=0 pids=0
	fakenet_teardown
	while read -r kind a b; do
		n=$((n + 1))
		case "$kind" in
		netns)
			netns=$((netns + 1))
			[ ! -e "/run/netns/$a" ] || { echo "namespace $a left"; false; }
			;;
		cgroup)
			cgroups=$((cgroups + 1))
			[ ! -e "$a" ] || { echo "cgroup $a left"; false; }
			;;
		pid | guard)
			pids=$((pids + 1))
			! _osht_alive "$a" "$b" ||
				{ echo "process $a left: $(tr '\0' ' ' </proc/"$a"/cmdline)"; false; }
			;;
		path)
			[ ! -e "$a" ] || { echo "path $a left"; false; }
			;;
		esac
	done <"$OSHT_LEDGER"
	# The ledger really tracked what the tests created (this one's setup at least).
	((netns >= 2 && cgroups >= 1 && pids >= 2)) ||
		{ echo "ledger incomplete: $n entries, $netns netns, $cgroups cgroups, $pids pids"; false; }
}
