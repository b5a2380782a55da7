#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# oshd's optional TCP listener: the API over TLS, served only to clients whose certificates the
# configured CA signed, each client being the local user its certificate's CN names (root: an
# admin, nobody: a user who sees its own sandboxes only). The file makes its certificates with
# openssl: a CA, a server certificate, client certificates, and the ones that must be refused
# (expired, for servers only, from another CA, two CNs, a CN that names no user). oshd listens on
# 127.0.0.1 or [::1] on a port the kernel picks; curl and openssl s_client are the clients.
# Loopback only. Also: configuration errors stop oshd with FILE:LINE:COL, unsafe TLS files stop
# it at start, and systemd-analyze verify accepts systemd/oshd.service.

bats_require_minimum_version 1.5.0

setup_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	local src o
	src=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	o=${O:-build}
	[[ $o == /* ]] || o=$src/$o
	export OSHCTL=$o/bin/oshctl OSHD=$o/bin/oshd SRC=$src PKI=$BATS_FILE_TMPDIR/pki
	if command -v openssl >/dev/null; then pki_make >"$BATS_FILE_TMPDIR/pki.log" 2>&1; fi
}

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (oshd: cgroups, BPF)"
	[ -x "$OSHD" ] || skip "oshd not built: make O=${O:-build}"
	command -v curl >/dev/null || skip "curl is not installed (scripts/install-deps.sh)"
	[ -s "$PKI/foreign.pem" ] || skip "no test certificates (openssl: $(cat "$BATS_FILE_TMPDIR/pki.log" 2>/dev/null))"
	load ../lib/fakenet.bash
	load ../lib/cgroup.bash
	load ../lib/oshd.bash
	oshd_init
	mkdir -p "$S/work"
	chown 65534:65534 "$S/work"
	chmod -R a+rX "$S"
	cat >"$S/policy.yaml" <<-'EOF'
		version: 1
		filesystem_policy:
		  include_workdir: true
		  read_only: [/usr, /lib, /lib64, /bin, /etc]
	EOF
}

teardown() {
	[ -n "${OSHT_STATE:-}" ] || return 0
	oshd_delete_all
	osht_teardown
}

# pki_make: in $PKI, a CA and what it signs: server (127.0.0.1, ::1), admin (CN=root), user
# (CN=nobody), expired (CN=nobody, 2020), serveronly (CN=root, serverAuth only), twocn
# (CN=nobody and CN=root), nouser (a CN no account has); and foreign (CN=root) from a CA of its
# own.
pki_make() {
	mkdir -p "$PKI" && cd "$PKI" || return
	cat >ca.cnf <<-'EOF'
		[ca]
		default_ca = test
		[test]
		database = index.txt
		new_certs_dir = .
		serial = serial
		default_md = sha256
		policy = any
		unique_subject = no
		[any]
		commonName = supplied
		[client]
		basicConstraints = critical,CA:FALSE
		extendedKeyUsage = clientAuth
		[server]
		basicConstraints = critical,CA:FALSE
		extendedKeyUsage = serverAuth
		subjectAltName = IP:127.0.0.1,IP:::1,DNS:localhost
	EOF
	: >index.txt
	echo 01 >serial
	pki_ca ca osh-test-ca || return
	pki_issue server /CN=localhost server || return
	pki_issue admin /CN=root client || return
	pki_issue user /CN=nobody client || return
	pki_issue expired /CN=nobody client -startdate 20200101000000Z -enddate 20200102000000Z ||
		return
	pki_issue serveronly /CN=root server || return
	pki_issue twocn /CN=nobody/CN=root client || return
	pki_issue nouser /CN=osh-test-no-such-user client || return
	pki_ca other osh-test-other-ca || return
	pki_key foreign && openssl req -new -key foreign.key -subj /CN=root -out foreign.csr &&
		openssl x509 -req -in foreign.csr -CA other.pem -CAkey other.key -CAcreateserial \
			-days 2 -extfile ca.cnf -extensions client -out foreign.pem
}

pki_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" && chmod 600 "$1.key"; }

# pki_ca NAME CN: a self-signed CA certificate NAME.pem with its key NAME.key.
pki_ca() {
	pki_key "$1" && openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

# pki_issue NAME SUBJECT EXTENSIONS [openssl ca options]: NAME.pem signed by the test CA.
pki_issue() {
	local name=$1 subject=$2 ext=$3
	shift 3
	[ $# -gt 0 ] || set -- -days 2
	pki_key "$name" && openssl req -new -key "$name.key" -subj "$subject" -out "$name.csr" &&
		openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in "$name.csr" \
			-out "$name.pem" -extensions "$ext" -notext -preserveDN "$@"
}

# tls_conf ADDR [KEY]: $S/oshd.conf with a TCP listener on ADDR and the test's server
# certificate, KEY its key file (default the test's); OSHD_CONFIG names it for oshd_start.
tls_conf() {
	cat >"$S/oshd.conf" <<-EOF
		# the TCP listener of the test
		tcp_listen = $1
		tls_cert = $PKI/server.pem
		tls_key = ${2:-$PKI/server.key}
		tls_client_ca = $PKI/ca.pem
	EOF
	# shellcheck disable=SC2034 # read by oshd_start (tests/lib/oshd.bash)
	OSHD_CONFIG=$S/oshd.conf
}

# tls_start ADDR: oshd with a TCP listener on ADDR (port 0: the kernel picks); sets URL.
tls_start() {
	local bound
	tls_conf "$1"
	oshd_start || return
	bound=$(sed -n 's/^.*oshd: info: TCP listener on \([^ ]*\) .*$/\1/p' "$S/oshd.log" | tail -1)
	[ -n "$bound" ] || {
		echo "no TCP listener in oshd's log:"
		cat "$S/oshd.log"
		return 1
	}
	URL=https://$bound
}

# api WHO METHOD PATH [BODY]: a request as client WHO (certificate $PKI/WHO.pem, or none);
# prints the answer's body, then its HTTP status on a line of its own: 000 when no HTTP
# answer came at all (the TLS handshake or the connection failed). curl's errors: stderr.
api() {
	local who=$1 method=$2 path=$3 body=${4:-}
	local -a c=(-s --max-time 30 --cacert "$PKI/ca.pem" -X "$method" -w '\n%{http_code}\n')
	if [ "$who" != none ]; then c+=(--cert "$PKI/$who.pem" --key "$PKI/$who.key"); fi
	if [ -n "$body" ]; then c+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
	curl "${c[@]}" "$URL$path"
}

# create_body NAME: the JSON of POST /v1/sandboxes for sandbox NAME with the test's policy.
create_body() {
	/usr/bin/python3 -c 'import json, sys
print(json.dumps({"name": sys.argv[1], "policy": open(sys.argv[2]).read(), "workdir": sys.argv[3]}))' \
		"$1" "$S/policy.yaml" "$S/work"
}

# status_is CODE: the last line of $output (api's status line) is CODE.
status_is() {
	[ "${lines[-1]}" = "$1" ] || {
		echo "want HTTP $1, got: $output"
		return 1
	}
}

names() { sed '$d' <<<"$output" | sb_names | sort | tr '\n' ' '; }

@test "oshd tls: an admin's certificate sees every sandbox, a user's only its own" {
	tls_start 127.0.0.1:0
	sb_create "$SB-root" --policy "$S/policy.yaml" >/dev/null

	# nobody creates one over TCP: it is nobody's, as if made on the unix socket.
	osht_record cgroup "$CG/$SB-user"
	run --separate-stderr api user POST /v1/sandboxes "$(create_body "$SB-user")"
	status_is 201
	[ "$(sed '$d' <<<"$output" | json_get 'd["owner_uid"]')" = 65534 ]

	run --separate-stderr api admin GET /v1/sandboxes
	status_is 200
	[ "$(names)" = "$SB-root $SB-user " ]
	run --separate-stderr api user GET /v1/sandboxes
	status_is 200
	[ "$(names)" = "$SB-user " ]

	run --separate-stderr api user GET "/v1/sandboxes/$SB-root"
	status_is 403
	[[ ${lines[0]} == *'"code":"forbidden"'* ]]
	run --separate-stderr api user DELETE "/v1/sandboxes/$SB-root"
	status_is 403
	run --separate-stderr api user GET "/v1/sandboxes/$SB-user/policy"
	status_is 200
	run --separate-stderr api user GET /v1/status
	status_is 200

	# The unix socket agrees: root sees both, and nobody's sandbox is nobody's there too.
	[ "$("$OSHCTL" sandbox list -o json | sb_names | sort | tr '\n' ' ')" = "$SB-root $SB-user " ]
	run --separate-stderr api user DELETE "/v1/sandboxes/$SB-user"
	status_is 200
	run --separate-stderr api admin DELETE "/v1/sandboxes/$SB-root"
	status_is 200
}

@test "oshd tls: no certificate, another CA's, an expired one, a server's, plain HTTP: never served" {
	tls_start 127.0.0.1:0
	# The control: a good certificate is served on the same port.
	run --separate-stderr api admin GET /v1/status
	status_is 200

	local who
	for who in none foreign expired serveronly; do
		run --separate-stderr api "$who" GET /v1/status
		[ "$status" -ne 0 ] || {
			echo "$who: curl succeeded: $output"
			return 1
		}
		status_is 000
	done
	# oshd says why it refused the certificates it verified (once each connection is cleaned
	# up, which may be after the client saw it close).
	local refused="oshd: notice: tls: refused the client certificate of 127.0.0.1:[0-9]*: "
	osht_wait_for 10 grep -q "$refused.*issuer is unknown" "$S/oshd.log"
	osht_wait_for 10 grep -q "$refused.*expired" "$S/oshd.log"
	osht_wait_for 10 grep -q "$refused.*intended purpose" "$S/oshd.log"

	run curl -s --max-time 30 -o /dev/null -w '%{http_code}' "http://${URL#https://}/v1/status"
	[ "$status" -ne 0 ]
	[ "$output" = 000 ]
}

@test "oshd tls: TLS 1.2 and 1.3 are served, TLS 1.1 is not" {
	tls_start 127.0.0.1:0
	local v
	for v in tls1_2 tls1_3 tls1_1; do
		# SECLEVEL=0: OpenSSL's own floor would otherwise refuse TLS 1.1 before oshd could.
		run --separate-stderr timeout 30 openssl s_client -connect "${URL#https://}" -"$v" \
			-cipher 'DEFAULT@SECLEVEL=0' -CAfile "$PKI/ca.pem" -cert "$PKI/admin.pem" \
			-key "$PKI/admin.key" -quiet -ign_eof \
			<<<$'GET /v1/status HTTP/1.1\r\nHost: osh\r\nConnection: close\r\n\r'
		if [ "$v" = tls1_1 ]; then
			[[ $output != *"HTTP/1.1 200"* ]]
		else
			[[ ${lines[0]} == "HTTP/1.1 200"* ]] || {
				echo "$v: $output"
				return 1
			}
		fi
	done
}

@test "oshd tls: a CN that names no local user, or two CNs, is 403; exec over TCP is 501" {
	tls_start 127.0.0.1:0
	run --separate-stderr api nouser GET /v1/sandboxes
	status_is 403
	[ "${lines[0]}" = '{"error":{"code":"forbidden","message":"the client certificate'"'"'s CN must name a local user; '"'"'osh-test-no-such-user'"'"' does not"}}' ]
	run --separate-stderr api twocn GET /v1/status
	status_is 403
	[[ ${lines[0]} == *"exactly one common name"* ]]

	sb_create "$SB-x" --policy "$S/policy.yaml" >/dev/null
	run --separate-stderr api admin POST "/v1/sandboxes/$SB-x/exec" '{"argv": ["true"]}'
	status_is 501
	[[ ${lines[0]} == *'"code":"exec-needs-unix-socket"'* ]]
	# The same request on the unix socket reaches exec (and asks for the upgrade).
	run curl -s --unix-socket "$OSH_SOCKET" -H 'Content-Type: application/json' \
		-d '{"argv": ["true"]}' -w '\n%{http_code}\n' "http://osh/v1/sandboxes/$SB-x/exec"
	status_is 400
	[[ ${lines[0]} == *"Upgrade: osh-exec/1"* ]]
}

@test "oshd tls: the listener on IPv6 loopback [::1]" {
	grep -qs '^0\{31\}1 ' /proc/net/if_inet6 || skip "no ::1 on this host"
	tls_start '[::1]:0'
	[[ $URL == "https://[::1]:"* ]]
	run --separate-stderr api admin GET /v1/status
	status_is 200
	run --separate-stderr api none GET /v1/status
	status_is 000
}

@test "oshd tls: tcp_listen without tls_client_ca stops oshd with FILE:LINE:COL" {
	local -a args=(--config "$S/oshd.conf" --socket "$OSH_SOCKET" --database "$S/osh.db"
		--bpffs "$PIN" --event-log "")
	tls_conf 127.0.0.1:0
	sed -i '/^tls_client_ca/d; s/^tcp_listen/  tcp_listen/' "$S/oshd.conf"
	run -1 timeout 60 "$OSHD" "${args[@]}"
	[ "$output" = "<3>oshd: error: $S/oshd.conf:2:3: tcp_listen: needs tls_cert, tls_key and tls_client_ca, missing tls_client_ca (TCP is served only over TLS, to clients whose certificates tls_client_ca signed)" ]
	[ ! -e "$S/osh.db" ] # stopped before anything started

	tls_conf 127.0.0.1:0
	sed -i '/^tcp_listen/d' "$S/oshd.conf"
	run -1 timeout 60 "$OSHD" "${args[@]}"
	[ "$output" = "<3>oshd: error: $S/oshd.conf:2:1: tls_cert: set without tcp_listen (the TLS files serve only the TCP listener)" ]

	tls_conf localhost:7443
	run -1 timeout 60 "$OSHD" "${args[@]}"
	[[ $output == "<3>oshd: error: $S/oshd.conf:2:14: tcp_listen: expected ADDR:PORT with an IPv4 address or an IPv6 address in brackets"* ]]
}

@test "oshd tls: a private key every user can read, or a missing certificate, stops oshd" {
	local -a args=(--config "$S/oshd.conf" --socket "$OSH_SOCKET" --database "$S/osh.db"
		--bpffs "$PIN" --event-log "" --admin-group root --socket-group nogroup)
	osht_record path "$PIN"
	cp "$PKI/server.key" "$S/open.key"
	chmod 644 "$S/open.key"
	tls_conf 127.0.0.1:0 "$S/open.key"
	run -1 timeout 60 "$OSHD" "${args[@]}"
	[[ ${lines[-1]} == "<3>oshd: error: tls_key $S/open.key: readable or writable by every user; refusing it (chmod o-rw $S/open.key)" ]]
	[ ! -e "$OSH_SOCKET" ] # the unix socket went with it

	chmod 640 "$S/open.key"
	tls_conf 127.0.0.1:0 "$S/open.key"
	sed -i "s|^tls_cert = .*|tls_cert = $S/missing.pem|" "$S/oshd.conf"
	run -1 timeout 60 "$OSHD" "${args[@]}"
	[ "${lines[-1]}" = "<3>oshd: error: tls_cert $S/missing.pem: No such file or directory" ]
}

@test "oshd: systemd-analyze verify accepts systemd/oshd.service" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (Debian package systemd)"
	# The unit names the installed /usr/local/sbin/oshd, which a test must not install; verify
	# checks that ExecStart= is executable, so the copy runs this build's oshd instead. Every
	# other line is the unit as shipped, and any complaint (an unknown key is only a warning)
	# fails the test.
	grep -q '^ExecStart=/usr/local/sbin/oshd$' "$SRC/systemd/oshd.service"
	sed "s|^ExecStart=/usr/local/sbin/oshd$|ExecStart=$OSHD|" "$SRC/systemd/oshd.service" \
		>"$S/oshd.service"
	run systemd-analyze verify "$S/oshd.service"
	[ "$status" -eq 0 ]
	[ -z "$output" ] || {
		echo "systemd-analyze: $output"
		return 1
	}
}
