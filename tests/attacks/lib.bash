# SPDX-License-Identifier: Apache-2.0
# Harness of the attack suite (tests/attacks/*.bats): one fake internet and one realistic agent
# sandbox per bats file, the two ways to run an attack (outside any sandbox, where it must work,
# and inside `oshctl run --embedded`, where it must fail), and the coverage ledger that
# 99-coverage.bats prints. Needs root. Everything lives in the osht state dir, so the harness's
# one teardown removes it; see tests/README.md for the fake internet.
#
# The agent's world ($R = $OSHT_STATE/a):
#   $R/bin/agent, agent-curl   the binaries the policy allows (attack-probe and curl copies)
#   $R/bin/tool                attack-probe again, another inode: allowed nowhere
#   $R/home/agent              read_only; .ssh/ and .env in it are denied; project/ is the
#                              workdir (read-write); .bashrc and .config/ are owned by the
#                              sandbox user with mode 0666, so only Landlock keeps them read-only
#   $R/secrets/aws             in no policy list, world-readable: only the policy hides it
# The network: api.fakenet.test (198.51.100.10) and pypi.fakenet.test (203.0.113.30), HTTPS on
# 443, allowed for the agent by name; the attacker's host 203.0.113.66 (evil.attacker.test,
# secret.attacker.test) with echo servers, HTTPS and a "DoT" port; a second resolver at
# 203.0.113.53.

# bats sets $output and $status; the constants here are used by the files that load this one.
# shellcheck disable=SC2154,SC2034
# shellcheck source=tests/lib/fakenet.bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib/fakenet.bash"

API4=198.51.100.10
PYPI4=203.0.113.30
EVIL4=203.0.113.66
EVIL6=2001:db8:66::66
DNS2=203.0.113.53

# attacks_paths: OSHCTL, OSHD, HELPERS and the ledger, from $O like the e2e suite.
attacks_paths() {
	local src o
	src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	o=${O:-build}
	[[ $o == /* ]] || o=$src/$o
	export OSHCTL=$o/bin/oshctl OSHD=$o/bin/oshd HELPERS=$o/tests/helpers
	export ATTACKS_LEDGER=${ATTACKS_LEDGER:-$o/test-results/attacks-coverage.tsv}
}

# attacks_can_run: the reason this file cannot run here, or nothing.
attacks_cannot_run() {
	[ "$(id -u)" -eq 0 ] || { echo "needs root (namespaces, cgroups, BPF)"; return; }
	[ -x "$OSHCTL" ] || { echo "oshctl not built: make O=${O:-build} all"; return; }
	[ -x "$HELPERS/attack-probe" ] || { echo "attack-probe not built: make O=${O:-build} all"; return; }
	[ -x "$HELPERS/sys-probe" ] || { echo "sys-probe not built: make O=${O:-build} all"; return; }
	return 0
}

# attacks_setup_file: the fake internet, the agent's files and policy; from setup_file. What it
# exports is what the tests of the file share.
attacks_setup_file() {
	attacks_paths
	SKIP_REASON=$(attacks_cannot_run)
	export SKIP_REASON
	[ -z "$SKIP_REASON" ] || return 0
	fakenet_setup || return
	export OSHT_ID OSHT_STATE FAKENET_DIR FAKENET_SBX FAKENET_NET FAKENET_RESOLV FAKENET_DNS_PID \
		FAKENET_PROBE
	R=$OSHT_STATE/a
	export R AGENT=$OSHT_STATE/a/bin/agent TOOL=$OSHT_STATE/a/bin/tool
	export CURL=$R/bin/agent-curl SYSPROBE=$R/bin/sys-probe WORK=$R/home/agent/project
	export POLICY=$R/agent.yaml
	_attacks_files || return
	_attacks_net || return
	# rows of this file from an earlier run go; the others' stay
	mkdir -p "$(dirname "$ATTACKS_LEDGER")"
	touch "$ATTACKS_LEDGER"
	local me=${BATS_TEST_FILENAME##*/}
	grep -v -F "	$me" "$ATTACKS_LEDGER" >"$ATTACKS_LEDGER.new" || true
	mv "$ATTACKS_LEDGER.new" "$ATTACKS_LEDGER"
}

_attacks_files() {
	mkdir -p "$R/bin" "$R/home/agent/.ssh" "$R/home/agent/.config" "$WORK/src" "$R/secrets" \
		"$R/run" || return
	cp "$HELPERS/attack-probe" "$AGENT" && cp "$HELPERS/attack-probe" "$TOOL" || return
	cp "$HELPERS/sys-probe" "$SYSPROBE" && cp /usr/bin/curl "$CURL" || return
	echo SECRET-SSH-KEY >"$R/home/agent/.ssh/id_rsa"
	echo SECRET-ENV-TOKEN >"$R/home/agent/.env"
	echo SECRET-AWS-KEY >"$R/secrets/aws"
	echo 'alias ls=ls' >"$R/home/agent/.bashrc"
	echo 'setting=1' >"$R/home/agent/.config/tool.conf"
	echo 'print("hello")' >"$WORK/main.py"
	chown -R 65534:65534 "$R/home/agent"
	chmod -R a+rX "$OSHT_STATE"
	# DAC would let the sandbox user write these: only the policy keeps them read-only, and
	# outside the sandbox the same user can (the attack is real).
	chmod 0666 "$R/home/agent/.bashrc" "$R/home/agent/.config/tool.conf"
	chmod 0777 "$R/home/agent/.config"
	chmod 0644 "$R/home/agent/.ssh/id_rsa" "$R/home/agent/.env" "$R/secrets/aws"
	cat >"$POLICY" <<EOF
# The agent: reaches its model API and its package index by name, works in its project,
# and must not read or send anything else.
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /bin, /sbin, /lib, /lib64, /etc, /proc, /dev/urandom, "$R/bin", "$R/home/agent"]
  read_write: [/dev/null, /dev/tty, /dev/ptmx, /dev/pts]
  deny: ["$R/home/agent/.ssh", "$R/home/agent/.env"]
landlock:
  compatibility: best_effort
process:
  run_as_user: 65534
  run_as_group: 65534
network_policies:
  model_api:
    endpoints:
      - { host: api.fakenet.test, port: 443 }
    binaries:
      - { path: $AGENT }
      - { path: $CURL }
  packages:
    endpoints:
      - { host: pypi.fakenet.test, port: 443 }
    binaries:
      - { path: $AGENT }
      - { path: $CURL }
EOF
	chmod 0644 "$POLICY"
}

_attacks_net() {
	# The attacker's CDN name shares the API's address (technique 4): it is in DNS and in the
	# API server's certificate, as on a real shared CDN.
	fakenet_add_host api.fakenet.test "$API4" || return
	fakenet_add_host other-tenant.fakenet.test "$API4" || return
	fakenet_add_host pypi.fakenet.test "$PYPI4" || return
	fakenet_add_host evil.attacker.test "$EVIL4" "$EVIL6" || return
	fakenet_add_host secret.attacker.test "$EVIL4" || return
	fakenet_start_https "$API4" 443 || return
	fakenet_start_https "$PYPI4" 443 || return
	fakenet_start_https "$EVIL4" 443 || return
	fakenet_start_tcp_echo "$EVIL4" 8080 || return
	fakenet_start_udp_echo "$EVIL4" 8080 || return
	fakenet_start_tcp_echo "$EVIL4" 853 || return
	fakenet_start_tcp_echo "$EVIL6" 8080 || return
	# The sandbox reads the test CA where its policy lets it.
	install -m 0644 "$FAKENET_CA" "$R/home/agent/ca.pem" || return
	export CA=$R/home/agent/ca.pem
}

# attacks_teardown_file: everything the file created (processes, namespaces, cgroups, files).
attacks_teardown_file() {
	osht_teardown
}

# attacks_setup: per test. Skips the whole file's tests when it cannot run here.
attacks_setup() {
	[ -z "${SKIP_REASON:-}" ] || skip "$SKIP_REASON"
	ROW_TECH='' ROW_VARIANT='' ROW_OUT=- ROW_IN=- ROW_EVENT=- ROW_VERDICT=''
}

# attacks_teardown: one ledger row per test: technique, variant, outside, inside, event, verdict.
attacks_teardown() {
	[ -n "${ROW_TECH:-}" ] || return 0
	local verdict=${ROW_VERDICT:-}
	if [ -z "$verdict" ]; then
		if [ "${BATS_TEST_COMPLETED:-}" = 1 ]; then verdict=ok; else verdict=FAIL; fi
	fi
	# (an empty field would vanish: tabs are whitespace to `read`)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ROW_TECH" "$ROW_VARIANT" "${ROW_OUT:--}" \
		"${ROW_IN:--}" "${ROW_EVENT:--}" "$verdict" "${BATS_TEST_FILENAME##*/}" >>"$ATTACKS_LEDGER"
}

# attack N VARIANT: names this test's row.
attack() { ROW_TECH=$1 ROW_VARIANT=$2; }

# as_agent CMD...: CMD as the sandbox's user (65534, no groups) in the client namespace, in the
# workdir, outside any sandbox: the same user, minus osh.
as_agent() {
	# shellcheck disable=SC2016 # expanded by that shell
	fakenet_run_client setpriv --reuid=65534 --regid=65534 --clear-groups -- \
		/bin/sh -c 'cd "$0" && exec "$@"' "$WORK" "$@"
}

# in_sandbox CMD...: CMD in the agent's sandbox (embedded oshctl run, quiet), in the client
# namespace. Output: the command's and osh's lines, stdout and stderr together.
in_sandbox() {
	fakenet_run_client "$OSHCTL" run --embedded -q --policy "$POLICY" --workdir "$WORK" -- "$@"
}

# has_line GLOB: some line of $output matches.
has_line() {
	local l
	while IFS= read -r l; do
		# shellcheck disable=SC2053
		[[ $l == $1 ]] && return 0
	done <<<"$output"
	echo "no line matching: $1"
	echo "output: $output"
	return 1
}

# no_line GLOB: no line of $output matches.
no_line() {
	local l
	while IFS= read -r l; do
		# shellcheck disable=SC2053
		if [[ $l == $1 ]]; then
			echo "unexpected line: $l"
			echo "output: $output"
			return 1
		fi
	done <<<"$output"
}

# outside_ok [--root] GLOB CMD...: the attack works outside the sandbox (as the agent's user,
# or as root with --root where it needs a privilege the sandbox drops); GLOB is a line its
# success prints.
outside_ok() {
	local who=as_agent
	if [ "$1" = --root ]; then who=fakenet_run_client; shift; fi
	local want=$1
	shift
	run "$who" "$@"
	echo "outside ($who): status $status"
	echo "$output"
	[ "$status" -eq 0 ] || { echo "the attack does not work outside the sandbox"; return 1; }
	has_line "$want" || return
	ROW_OUT=works
	[ "$who" = as_agent ] || ROW_OUT="works (root)"
}

# inside_denied GLOB CMD...: the attack fails in the sandbox with a line matching GLOB (the
# refusal, e.g. "connect: EPERM*").
inside_denied() {
	local want=$1
	shift
	run in_sandbox "$@"
	echo "inside: status $status"
	echo "$output"
	if [ "$status" -eq 0 ]; then
		ROW_IN="NOT STOPPED"
		echo "BYPASS: the attack succeeded inside the sandbox"
		return 1
	fi
	has_line "$want" || { ROW_IN="failed, unexpectedly"; return 1; }
	# the refusal as the table shows it: the glob without its wildcards
	ROW_IN=$(echo "${want//\*/ }" | tr -s ' ' | sed 's/^ //; s/ $//')
}

# event GLOB: the denial line of osh names the attempt (`osh: denied ...`).
event() {
	# The denial comes from oshctl, the command's output from the command: one can land inside
	# a line of the other (python's traceback writes its indent apart), so match anywhere.
	has_line "*osh: denied $1" || { ROW_EVENT=MISSING; return 1; }
	ROW_EVENT=yes
}

# kernel_only WHAT: no osh event exists for this denial; the refusal itself is the record.
kernel_only() {
	no_line "*osh: denied *" || return
	ROW_EVENT="kernel-denied, no event ($1)"
}

LANDLOCK_NOEVENT="Landlock has no audit hook on this kernel"
SECCOMP_NOEVENT="seccomp has no audit hook on this kernel"

# counted_skip REASON: an explicit, counted skip that the table reports as not stopped.
counted_skip() {
	ROW_VERDICT="skip"
	ROW_EVENT=${ROW_EVENT:--}
	skip "$1"
}

# _attacks_server NS MODE IP PORT: a fakenet-server on an address the fake-internet helpers
# refuse (loopback, link-local, NAT64, 6to4). Such an address exists only inside this test's
# namespaces, which have no link out: the caller adds it there first.
_attacks_server() {
	local ns=$1 mode=$2 ip=$3 port=$4 ready
	ready=$FAKENET_DIR/ready-$mode-$ip-$port
	osht_spawn "$mode-$ip-$port" nsenter --net="/run/netns/$ns" -- "$FAKENET_PY" \
		"$OSHT_LIB/fakenet-server.py" --mode "$mode" --addr "$ip" --port "$port" \
		--ready "$ready" || return
	osht_wait_for 10 _fakenet_ready "$ready" "$_osht_spawned_pid" "$_osht_spawned_start"
}

# attacks_special_addrs: loopback services in the client namespace (a host's local daemons),
# and the metadata, NAT64 and 6to4 forms of the attacker's address in the fake internet, with
# routes to them from the client namespace only. Outside a sandbox all of them answer.
attacks_special_addrs() {
	local gw6=$FAKENET_GW6
	_attacks_server "$FAKENET_SBX" tcp-echo 127.0.0.1 8080 || return
	_attacks_server "$FAKENET_SBX" tcp-echo 127.1.2.3 8080 || return
	_attacks_server "$FAKENET_SBX" tcp-echo ::1 8080 || return
	ip -n "$FAKENET_NET" addr add 169.254.169.254/32 dev lo || return
	ip -n "$FAKENET_SBX" route add 169.254.169.254/32 via "$FAKENET_GW4" || return
	_attacks_server "$FAKENET_NET" tcp-echo 169.254.169.254 80 || return
	# 64:ff9b::cb00:7142 and 2002:cb00:7142::1 carry 203.0.113.66.
	ip -n "$FAKENET_NET" addr add 64:ff9b::cb00:7142/128 dev lo nodad || return
	ip -n "$FAKENET_NET" addr add 2002:cb00:7142::1/128 dev lo nodad || return
	ip -n "$FAKENET_SBX" -6 route add 64:ff9b::/96 via "$gw6" || return
	ip -n "$FAKENET_SBX" -6 route add 2002::/16 via "$gw6" || return
	_attacks_server "$FAKENET_NET" tcp-echo 64:ff9b::cb00:7142 8080 || return
	_attacks_server "$FAKENET_NET" tcp-echo 2002:cb00:7142::1 8080
}
