# SPDX-License-Identifier: Apache-2.0
# A fresh fake internet per test: a sandbox namespace (the client under test) joined by a veth
# pair to an "internet" namespace that hosts fake hosts, DNS, echo and HTTP(S) servers - all on
# documentation addresses, with no route anywhere else. Sourced by bats files; see tests/README.md.
#
#   sandbox ns  osht-<id>-sbx   sbx0  192.0.2.2/24      2001:db8:1::2/64   (FAKENET_CLIENT4/6)
#                                 | veth; routes only to 198.51.100/24, 203.0.113/24, 2001:db8::/32
#   internet ns osht-<id>-net   net0  192.0.2.1/24      2001:db8:1::1/64
#                               lo: fake hosts as /32 and /128 addresses,
#                               DNS at 198.51.100.53 and 2001:db8:2::53 (FAKENET_DNS4/6)
# Neither namespace has an interface to the host or a default route, and forwarding is off.

# shellcheck source=tests/lib/osht.bash
source "$(dirname "${BASH_SOURCE[0]}")/osht.bash"

FAKENET_CLIENT4=192.0.2.2
FAKENET_CLIENT6=2001:db8:1::2
FAKENET_GW4=192.0.2.1
FAKENET_GW6=2001:db8:1::1
FAKENET_DNS4=198.51.100.53
FAKENET_DNS6=2001:db8:2::53
FAKENET_DNS_NAME=ns.fakenet.test
FAKENET_PY=/usr/bin/python3

# fakenet_is_fake_addr IP: true for addresses a fake host may use - 198.51.100.0/24,
# 203.0.113.0/24 and 2001:db8::/32 outside 2001:db8:1::/48 (the sandbox link). The harness
# refuses anything else, so a typo can never make a test talk to a real address.
fakenet_is_fake_addr() {
	local ip=${1,,} a b c d g3
	if [[ $ip == *:* ]]; then
		[[ $ip =~ ^[0-9a-f:]+$ ]] || return 1
		[[ $ip == 2001:db8:* || $ip == 2001:0db8:* ]] || return 1
		IFS=: read -r _ _ g3 _ <<<"$ip"
		g3=$((16#${g3:-0}))
		((g3 != 1))
	else
		IFS=. read -r a b c d <<<"$ip"
		[[ $ip =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || return 1
		((d >= 1 && d <= 254)) || return 1
		[[ "$a.$b.$c" == 198.51.100 || "$a.$b.$c" == 203.0.113 ]]
	fi
}

_fakenet_in() { # NS CMD...: run CMD in namespace NS, keeping the host's /sys and mounts.
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

# fakenet_setup: create this test's fake internet and its DNS server. Sets FAKENET_SBX,
# FAKENET_NET, FAKENET_DIR, FAKENET_RESOLV.
fakenet_setup() {
	osht_state_init || return
	FAKENET_DIR=$OSHT_STATE
	FAKENET_SBX=osht-$OSHT_ID-sbx
	FAKENET_NET=osht-$OSHT_ID-net
	FAKENET_RESOLV=/etc/netns/$FAKENET_SBX/resolv.conf
	# The harness checks DNS readiness with the same client the tests use.
	FAKENET_PROBE=$(osht_helper net-probe) || return
	: >"$FAKENET_DIR/hosts"
	chmod 0644 "$FAKENET_DIR/hosts"

	local ns
	for ns in "$FAKENET_SBX" "$FAKENET_NET"; do
		osht_record netns "$ns" || return
		ip netns add "$ns" || return
		# Set before any interface exists in the namespace: no DAD delay on the test
		# addresses, and no forwarding - the fake internet is a dead end, never a router.
		_fakenet_in "$ns" sysctl -q -w net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_ra=0 \
			net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 || return
		ip -n "$ns" link set lo up || return
	done
	# Both veth ends are born inside the namespaces: no host interface, no name clash with
	# parallel runs.
	ip link add sbx0 netns "$FAKENET_SBX" type veth peer name net0 netns "$FAKENET_NET" || return
	ip -n "$FAKENET_SBX" addr add "$FAKENET_CLIENT4/24" dev sbx0 || return
	ip -n "$FAKENET_SBX" addr add "$FAKENET_CLIENT6/64" dev sbx0 nodad || return
	ip -n "$FAKENET_SBX" link set sbx0 up || return
	ip -n "$FAKENET_NET" addr add "$FAKENET_GW4/24" dev net0 || return
	ip -n "$FAKENET_NET" addr add "$FAKENET_GW6/64" dev net0 nodad || return
	ip -n "$FAKENET_NET" link set net0 up || return
	# The sandbox's only routes lead into the fake internet: no default route.
	ip -n "$FAKENET_SBX" route add 198.51.100.0/24 via "$FAKENET_GW4" || return
	ip -n "$FAKENET_SBX" route add 203.0.113.0/24 via "$FAKENET_GW4" || return
	ip -n "$FAKENET_SBX" -6 route add 2001:db8::/32 via "$FAKENET_GW6" || return

	osht_record path "/etc/netns/$FAKENET_SBX" || return
	mkdir -p "/etc/netns/$FAKENET_SBX" || return
	printf 'nameserver %s\nnameserver %s\noptions timeout:1 attempts:2\n' \
		"$FAKENET_DNS4" "$FAKENET_DNS6" >"$FAKENET_RESOLV" || return

	_fakenet_addr_add "$FAKENET_DNS4" || return
	_fakenet_addr_add "$FAKENET_DNS6" || return
	printf '%s %s\n%s %s\n' "$FAKENET_DNS4" "$FAKENET_DNS_NAME" "$FAKENET_DNS6" \
		"$FAKENET_DNS_NAME" >>"$FAKENET_DIR/hosts"
	# --address=/#/ answers NXDOMAIN for every name not in the hosts file; nothing is
	# forwarded anywhere (--no-resolv, no --server).
	osht_spawn dnsmasq nsenter --net="/run/netns/$FAKENET_NET" -- dnsmasq --keep-in-foreground \
		--conf-file=/dev/null --no-resolv --no-hosts --addn-hosts="$FAKENET_DIR/hosts" \
		--address=/#/ --bind-interfaces --listen-address="$FAKENET_DNS4" \
		--listen-address="$FAKENET_DNS6" --user=root --group=root \
		--pid-file="$FAKENET_DIR/dnsmasq.pid" --log-queries \
		--log-facility="$FAKENET_DIR/dnsmasq.log" || return
	FAKENET_DNS_PID=$_osht_spawned_pid
	osht_wait_for 10 _fakenet_resolves "$FAKENET_DNS_NAME" "$FAKENET_DNS4" ||
		osht_die "fakenet: DNS server did not answer (see $FAKENET_DIR/dnsmasq*.log)"
}

# _fakenet_resolves NAME IP: NAME resolves to IP from the sandbox namespace.
_fakenet_resolves() {
	local out
	out=$(fakenet_run_client "$FAKENET_PROBE" resolve "$1" 2>/dev/null) || return
	[[ $'\n'$out$'\n' == *$'\n'$2$'\n'* ]]
}

# _fakenet_addr_add IP: give the internet namespace a fake host address. It goes on lo (the dummy
# driver is not always built): local delivery is all a fake host needs.
_fakenet_addr_add() {
	local ip=$1
	local -a args=("$ip/32")
	fakenet_is_fake_addr "$ip" || osht_die "fakenet: $ip is not a fake-internet address" || return
	[[ $ip == *:* ]] && args=("$ip/128" nodad)
	if ip -n "$FAKENET_NET" -o addr show dev lo | grep -qiF " ${args[0]} "; then
		return 0
	fi
	ip -n "$FAKENET_NET" addr add "${args[@]}" dev lo
}

# fakenet_add_host NAME IPV4 [IPV6]: a fake host NAME with these addresses, answered by DNS
# (A, and AAAA when IPV6 is given). Returns once the sandbox resolves it.
fakenet_add_host() {
	local name=$1 ip
	shift
	[[ $name =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] ||
		osht_die "fakenet_add_host: bad name '$name'" || return
	[ $# -ge 1 ] || osht_die "fakenet_add_host NAME IPV4 [IPV6]" || return
	for ip in "$@"; do
		_fakenet_addr_add "$ip" || return
		echo "$ip $name" >>"$FAKENET_DIR/hosts"
	done
	# dnsmasq re-reads --addn-hosts files on SIGHUP.
	kill -HUP "$FAKENET_DNS_PID" || return
	for ip in "$@"; do
		osht_wait_for 10 _fakenet_resolves "$name" "$ip" ||
			osht_die "fakenet: $name does not resolve to $ip" || return
	done
}

# fakenet_run_client CMD...: run CMD in the sandbox namespace. nsenter keeps the host's /sys
# (cgroup and bpffs stay visible); a private mount namespace puts the fake DNS in resolv.conf.
fakenet_run_client() {
	nsenter --net="/run/netns/$FAKENET_SBX" -- unshare --mount --propagation private -- \
		/bin/sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$FAKENET_RESOLV" "$@"
}

# fakenet_run_server CMD...: run CMD in the internet namespace (for checks from the far side).
fakenet_run_server() {
	_fakenet_in "$FAKENET_NET" "$@"
}

# _fakenet_start MODE IP PORT [ARGS...]: one fakenet-server.py, returns once it listens.
_fakenet_start() {
	local mode=$1 ip=$2 port=$3 ready
	shift 3
	[[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) ||
		osht_die "fakenet: bad port '$port'" || return
	_fakenet_addr_add "$ip" || return
	ready=$FAKENET_DIR/ready-$mode-$ip-$port
	rm -f "$ready"
	osht_spawn "$mode-$ip-$port" nsenter --net="/run/netns/$FAKENET_NET" -- "$FAKENET_PY" \
		"$OSHT_LIB/fakenet-server.py" --mode "$mode" --addr "$ip" --port "$port" \
		--ready "$ready" "$@" || return
	local pid=$_osht_spawned_pid start=$_osht_spawned_start
	osht_wait_for 10 _fakenet_ready "$ready" "$pid" "$start" ||
		osht_die "fakenet: $mode server on $ip port $port did not start" \
			"(see $FAKENET_DIR/$mode-$ip-$port.log)"
}

_fakenet_ready() { # FILE PID START: ready file written, and the server still runs.
	_osht_alive "$2" "$3" || return 2
	[ -s "$1" ]
}

# fakenet_start_tcp_echo IP PORT / fakenet_start_udp_echo IP PORT / fakenet_start_http IP PORT:
# echo every byte (TCP) or datagram (UDP) back; HTTP answers GET with
# "fakenet http IP:PORT PATH".
fakenet_start_tcp_echo() { _fakenet_start tcp-echo "$1" "$2"; }
fakenet_start_udp_echo() { _fakenet_start udp-echo "$1" "$2"; }
fakenet_start_http() { _fakenet_start http "$1" "$2"; }

# fakenet_start_https IP PORT: HTTPS with a certificate for IP and every name added for IP so
# far, signed by this test's throwaway CA ($FAKENET_CA, for curl --cacert).
fakenet_start_https() {
	local ip=$1 port=$2 cert key san name a
	_fakenet_ca || return
	san="IP:$ip"
	while read -r a name; do
		if [ "${a,,}" = "${ip,,}" ]; then san+=",DNS:$name"; fi
	done <"$FAKENET_DIR/hosts"
	key=$FAKENET_DIR/https-$ip-$port.key
	cert=$FAKENET_DIR/https-$ip-$port.pem
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		"$san" >"$cert.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$key" \
		-subj "/CN=$ip" -out "$cert.csr" 2>>"$FAKENET_DIR/openssl.log" || return
	openssl x509 -req -in "$cert.csr" -CA "$FAKENET_CA" -CAkey "$FAKENET_DIR/ca.key" \
		-CAcreateserial -days 2 -extfile "$cert.ext" -out "$cert" \
		2>>"$FAKENET_DIR/openssl.log" || return
	_fakenet_start https "$ip" "$port" --cert "$cert" --key "$key"
}

_fakenet_ca() { # A CA made for this test run only; its key never leaves the state dir.
	FAKENET_CA=$FAKENET_DIR/ca.pem
	[ -s "$FAKENET_CA" ] && return 0
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$FAKENET_DIR/ca.key" -out "$FAKENET_CA" -days 2 \
		-subj "/CN=osh test CA $OSHT_ID" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>>"$FAKENET_DIR/openssl.log"
}

# fakenet_teardown: remove everything this test created (processes, namespaces, cgroups,
# /etc/netns entry, state dir). Idempotent; bats' teardown() calls it.
fakenet_teardown() {
	osht_teardown
}
