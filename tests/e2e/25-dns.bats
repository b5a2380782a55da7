#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# osh's DNS responder against a real resolver: the fake internet's dnsmasq is the upstream, the
# responder (tests/helpers/dns-responder-run) runs in the sandbox namespace on loopback, and dig
# asks it. Allowed names are forwarded and their addresses installed (one line each); other names
# get REFUSED, a denial line, and never reach dnsmasq. The kernel redirect of port 53 to the
# responder is tested with the egress programs, not here.

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
	command -v dig >/dev/null || skip "dig is missing (scripts/install-deps.sh installs bind9-dnsutils)"
	load ../lib/fakenet.bash
	RUNNER=$(osht_helper dns-responder-run)
	fakenet_setup
	fakenet_add_host api.fakenet.test 203.0.113.7 2001:db8:3::7
	fakenet_add_host a.wild.fakenet.test 203.0.113.8
	fakenet_add_host a.b.wild.fakenet.test 203.0.113.9
	fakenet_add_host secret.attacker.test 198.51.100.66
	fakenet_add_host mixed.fakenet.test 203.0.113.10
	fakenet_add_host mixed.fakenet.test 198.51.100.10
	cat >"$FAKENET_DIR/policy.yaml" <<'EOF'
version: 1
network_policies:
  web:
    endpoints:
      - { host: api.fakenet.test, port: 443 }
      - { host: '*.wild.fakenet.test', port: 443 }
      - { host: mixed.fakenet.test, port: 443, allowed_ips: [203.0.113.0/24] }
    binaries:
      - path: /usr/bin/curl
EOF
	start_responder
}

teardown() {
	fakenet_teardown
}

# Starts the responder in the sandbox namespace on 127.0.0.1 and ::1 (an ephemeral port each),
# with this test's dnsmasq as upstream. Sets DNS_PORT4, DNS_PORT6, DNS_LOG, and DNSMASQ_SEEN (the
# lines of dnsmasq's log so far: setup resolved every name directly).
start_responder() {
	local ready=$FAKENET_DIR/dns.ready ip port
	DNS_LOG=$FAKENET_DIR/dns-responder.log
	osht_spawn dns-responder nsenter --net="/run/netns/$FAKENET_SBX" -- "$RUNNER" \
		--policy "$FAKENET_DIR/policy.yaml" --upstream "$FAKENET_DNS4" \
		--listen 127.0.0.1 --listen ::1 --ready "$ready"
	osht_wait_for 10 test -s "$ready" || { cat "$DNS_LOG"; return 1; }
	while read -r ip port; do
		case "$ip" in
		127.0.0.1) DNS_PORT4=$port ;;
		::1) DNS_PORT6=$port ;;
		esac
	done <"$ready"
	[[ $DNS_PORT4 =~ ^[0-9]+$ && $DNS_PORT6 =~ ^[0-9]+$ ]]
	DNSMASQ_SEEN=$(wc -l <"$FAKENET_DIR/dnsmasq.log")
}

# ask @127.0.0.1|@::1 [DIG ARGS...]: dig at the responder from the sandbox namespace.
ask() {
	local port=$DNS_PORT4
	if [ "$1" = @::1 ]; then port=$DNS_PORT6; fi
	fakenet_run_client dig +time=3 +tries=1 -p "$port" "$@"
}

# upstream_saw PATTERN: dnsmasq logged a query matching PATTERN since the responder started.
upstream_saw() {
	tail -n +"$((DNSMASQ_SEEN + 1))" "$FAKENET_DIR/dnsmasq.log" | grep -q -- "$1"
}

# not_in FILE PATTERN / upstream_never PATTERN: fail when the pattern is there (a plain `! grep`
# would not fail a bats test).
not_in() {
	if grep -q -- "$2" "$1"; then
		echo "unexpected in $1: $(grep -- "$2" "$1" | head -3)"
		return 1
	fi
}
upstream_never() {
	if upstream_saw "$1"; then
		echo "the resolver saw $1"
		return 1
	fi
}

status_of() { # the RCODE in dig's header line
	grep -o 'status: [A-Z]*' <<<"$1" | cut -d' ' -f2
}

@test "dns: an allowed name over UDP is forwarded, installed and answered" {
	run ask @127.0.0.1 +short api.fakenet.test A
	[ "$status" -eq 0 ]
	[ "$output" = "203.0.113.7" ]
	grep -qx "install api.fakenet.test 443 203.0.113.7 ttl=[0-9]*" "$DNS_LOG"
	# dnsmasq saw the query from the responder.
	upstream_saw "query\[A\] api.fakenet.test from 192.0.2.2"
}

@test "dns: AAAA over TCP and over the IPv6 listener" {
	run ask @::1 +tcp +short api.fakenet.test AAAA
	[ "$status" -eq 0 ]
	[ "$output" = "2001:db8:3::7" ]
	grep -qx "install api.fakenet.test 443 2001:db8:3::7 ttl=[0-9]*" "$DNS_LOG"
	upstream_saw "query\[AAAA\] api.fakenet.test from 192.0.2.2"
}

@test "dns: a name no policy allows gets REFUSED and a denial, and never reaches the resolver" {
	run ask @127.0.0.1 secret.attacker.test A
	[ "$status" -eq 0 ]
	[ "$(status_of "$output")" = REFUSED ]
	run ask @127.0.0.1 +tcp secret.attacker.test A
	[ "$(status_of "$output")" = REFUSED ]
	[ "$(grep -c '^deny secret.attacker.test A name not allowed by policy$' "$DNS_LOG")" -eq 2 ]
	upstream_never "secret.attacker.test"
	not_in "$DNS_LOG" "^install"

	# Control: the resolver itself would have answered it.
	run fakenet_run_client dig +time=3 +tries=1 +short "@$FAKENET_DNS4" secret.attacker.test A
	[ "$output" = "198.51.100.66" ]
}

@test "dns: a wildcard allows one label, not two" {
	run ask @127.0.0.1 +short a.wild.fakenet.test A
	[ "$output" = "203.0.113.8" ]
	grep -qx "install \*.wild.fakenet.test 443 203.0.113.8 ttl=[0-9]*" "$DNS_LOG"

	run ask @127.0.0.1 a.b.wild.fakenet.test A
	[ "$(status_of "$output")" = REFUSED ]
	grep -qx "deny a.b.wild.fakenet.test A name not allowed by policy" "$DNS_LOG"
	upstream_never "a.b.wild.fakenet.test"
}

@test "dns: an answer outside allowed_ips is removed and not installed" {
	# Control: the resolver answers both addresses.
	run fakenet_run_client dig +time=3 +tries=1 +short "@$FAKENET_DNS4" mixed.fakenet.test A
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "198.51.100.10 203.0.113.10 " ]

	run ask @127.0.0.1 +short mixed.fakenet.test A
	[ "$status" -eq 0 ]
	[ "$output" = "203.0.113.10" ]
	grep -qx "install mixed.fakenet.test 443 203.0.113.10 ttl=[0-9]*" "$DNS_LOG"
	grep -qx "filtered mixed.fakenet.test 198.51.100.10 outside the endpoint's allowed_ips" \
		"$DNS_LOG"
	not_in "$DNS_LOG" "^install .* 198.51.100.10 "
}

@test "dns: ANY, zone transfers and smuggled label bytes are refused" {
	run ask @127.0.0.1 api.fakenet.test ANY
	[ "$(status_of "$output")" = REFUSED ]
	run ask @127.0.0.1 +tcp api.fakenet.test AXFR
	[[ "$output" == *"Transfer failed"* || "$output" == *"REFUSED"* ]]
	run ask @127.0.0.1 'a\061b.api.fakenet.test' A
	[ "$(status_of "$output")" = REFUSED ]
	grep -qx "deny api.fakenet.test ANY ANY, AXFR and IXFR queries are not answered" "$DNS_LOG"
	grep -qx "deny api.fakenet.test AXFR ANY, AXFR and IXFR queries are not answered" "$DNS_LOG"
	grep -q "^deny a\\\\061b.api.fakenet.test A invalid character in name$" "$DNS_LOG"
	upstream_never "query\[ANY\]\|query\[AXFR\]\|a=b"
}

@test "dns: an unknown allowed-looking name is forwarded and its NXDOMAIN relayed" {
	run ask @127.0.0.1 nope.wild.fakenet.test A
	[ "$(status_of "$output")" = NXDOMAIN ]
	upstream_saw "query\[A\] nope.wild.fakenet.test from 192.0.2.2"
	not_in "$DNS_LOG" "^install"
}
