#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Egress rows of `make bench` (called by scripts/bench.sh, which prints the table header), each a
# ratio measured in this run beside its baseline:
#   - connect()+close() allowed through the egress programs with ~1,000 and ~32,700 entries in
#     the sandbox's trie vs 1 entry (the trie holds OSH_EGRESS_MAX_RULES = 32,768 per sandbox, so
#     100,000 cannot be loaded: reported as such);
#   - osh_sandbox_net_reload of 100 / 1,000 / 10,000-endpoint policies (ms, ratio to 100);
#   - a DNS query through osh's responder (kernel redirect, forward, install, relay) vs straight
#     to the same dnsmasq;
#   - iperf3 bulk TCP throughput over a veth pair from inside a sandbox vs outside.
# Namespaces osht-bench-*, cgroups osh-test-bench-*, documentation addresses only; all removed at
# exit. Needs root.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
O=${O:-build}
H=$O/tests/helpers
N=${BENCH_CONNECTS:-20000}
row() { printf '| %-44s | %12s | %-30s | %7s |\n' "$1" "$2" "$3" "$4"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.1fms", u / 1000 }'; }

for h in egress-run bench-connect bench-reload bench-dns; do
	if [ ! -x "$H/$h" ]; then
		row "egress" "skipped" "helpers not built" "-"
		exit 0
	fi
done

tmp=$(mktemp -d /tmp/osh-test-bench-egress.XXXXXX)
mnt=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5; break } }' \
	/proc/self/mountinfo | head -1)
cg=$mnt/osh-test-bench-egress2-$$
ns=osht-bench-e-$$
ns2=osht-bench-e2-$$
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	if [ -d "$cg" ]; then
		while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$cg/cgroup.procs"
		rmdir "$cg" 2>/dev/null
	fi
	ip netns del "$ns" 2>/dev/null
	ip netns del "$ns2" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
mkdir "$cg" || exit 0
ip netns add "$ns" && ip -n "$ns" link set lo up && ip -n "$ns" addr add 198.51.100.1/32 dev lo &&
	ip -n "$ns" addr add 198.51.100.53/32 dev lo || exit 0
inns() { nsenter --net="/run/netns/$ns" -- "$@"; }
nsper() { sed -n 's/.*ns_per_op=\([0-9]*\).*/\1/p'; }

# policy BINARY V4_HOSTS V6_HOSTS PORTS: the listener's endpoint (198.51.100.1:20080) plus
# V4_HOSTS and V6_HOSTS documentation hosts with PORTS ports each (never contacted): 1 +
# (V4_HOSTS + V6_HOSTS) * PORTS trie entries.
policy() {
	local i p ports=""
	for ((p = 0; p < $4; p++)); do ports+="${ports:+, }$((30000 + p))"; done
	printf 'version: 1\nnetwork_policies:\n  bench:\n    endpoints:\n'
	printf '      - { host: 198.51.100.1, port: 20080 }\n'
	for ((i = 0; i < $2; i++)); do
		printf '      - { host: 203.0.113.%d, ports: [%s] }\n' "$((i % 254 + 1))" "$ports"
	done | sort -u
	for ((i = 0; i < $3; i++)); do
		printf '      - { host: "2001:db8:%x::%x", ports: [%s] }\n' "$((i / 250 + 16))" "$((i % 250 + 1))" "$ports"
	done
	printf '    binaries:\n      - path: %s\n' "$1"
}

# --- connect()+close() with 1, ~1,000 and ~32,700 trie entries ---------------------------------
bc=$(realpath "$H/bench-connect")
policy "$bc" 0 0 1 >"$tmp/p1.yaml"
policy "$bc" 0 999 1 >"$tmp/p1k.yaml"                   # 1 + 999
policy "$bc" 254 255 64 >"$tmp/p32k.yaml"               # 1 + 509 * 64 = 32,577
e1=() e1k=() e32k=()
for _ in 1 2 3 4 5; do
	e1+=("$(inns "$H/egress-run" --cgroup "$cg" --policy "$tmp/p1.yaml" -- "$H/bench-connect" "$N" 20080 198.51.100.1 | nsper)")
	e1k+=("$(inns "$H/egress-run" --cgroup "$cg" --policy "$tmp/p1k.yaml" -- "$H/bench-connect" "$N" 20080 198.51.100.1 | nsper)")
	e32k+=("$(inns "$H/egress-run" --cgroup "$cg" --policy "$tmp/p32k.yaml" -- "$H/bench-connect" "$N" 20080 198.51.100.1 | nsper)")
done
m1=$(median "${e1[@]}") m1k=$(median "${e1k[@]}") m32k=$(median "${e32k[@]}")
row "connect+close allowed, 1,000 trie entries" "${m1k}ns" "1 entry ${m1}ns" "$(ratio "$m1k" "$m1")"
row "connect+close allowed, 32,577 trie entries" "${m32k}ns" "1 entry ${m1}ns" "$(ratio "$m32k" "$m1")"
row "connect+close allowed, 100,000 trie entries" "n/a" "trie capacity 32,768/sandbox" "-"

# --- policy reload --------------------------------------------------------------------------------
# A and B differ in one port, so every reload changes the policy as a daemon's `policy set` would.
# IPv6 hosts: the documentation prefix has room for all of them.
reload_row() { # ENDPOINTS -> "median_us copy_compile_median_us"
	policy /usr/bin/curl 0 "$(($1 - 1))" 1 >"$tmp/ra.yaml"
	sed 's/port: 20080/port: 20081/' "$tmp/ra.yaml" >"$tmp/rb.yaml"
	"$H/bench-reload" --cgroup "$cg" "$tmp/ra.yaml" "$tmp/rb.yaml" 21 |
		sed -n 's/.* median_us=\([0-9]*\).*copy_compile_median_us=\([0-9]*\).*/\1 \2/p'
}
read -r r100 _ <<<"$(reload_row 100)"
read -r r1k _ <<<"$(reload_row 1000)"
read -r r10k c10k <<<"$(reload_row 10000)"
row "osh_sandbox_net_reload, 100 endpoints" "$(ms "$r100")" "target 50ms" "$(ratio "$r100" 50000)"
row "osh_sandbox_net_reload, 1,000 endpoints" "$(ms "$r1k")" "100 endpoints $(ms "$r100")" "$(ratio "$r1k" "$r100")"
row "osh_sandbox_net_reload, 10,000 endpoints" "$(ms "$r10k")" "100 endpoints $(ms "$r100")" "$(ratio "$r10k" "$r100")"
row "osh_sandbox_net_reload, 10,000 endpoints" "$(ms "$r10k")" "target 50ms" "$(ratio "$r10k" 50000)"
# The kernel side alone: what a reload costs beyond copying and compiling the policy.
row "reload 10,000 endpoints minus copy+compile" "$(ms "$((r10k - c10k))")" "reload $(ms "$r10k")" \
	"$(ratio "$((r10k - c10k))" "$r10k")"

# --- DNS: through osh's responder vs straight to dnsmasq --------------------------------------------
if command -v dnsmasq >/dev/null; then
	echo "198.51.100.7 bench.fakenet.test" >"$tmp/hosts"
	inns dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
		--addn-hosts="$tmp/hosts" --address=/#/ --bind-interfaces --listen-address=198.51.100.53 \
		--user=root --group=root --pid-file="$tmp/dnsmasq.pid" >"$tmp/dnsmasq.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		inns "$H/bench-dns" 198.51.100.53 53 bench.fakenet.test 1 >/dev/null 2>&1 && break
		sleep 0.1
	done
	bd=$(realpath "$H/bench-dns")
	printf 'version: 1\nnetwork_policies:\n  dns:\n    endpoints:\n      - { host: bench.fakenet.test, port: 443 }\n    binaries:\n      - path: %s\n' \
		"$bd" >"$tmp/dns.yaml"
	usec() { sed -n 's/.*median_us=\([0-9]*\).*/\1/p'; }
	d0=() d1=()
	for _ in 1 2 3; do
		d0+=("$(inns "$H/bench-dns" 198.51.100.53 53 bench.fakenet.test 2000 | usec)")
		d1+=("$(inns "$H/egress-run" --cgroup "$cg" --dns --policy "$tmp/dns.yaml" -- \
			"$H/bench-dns" 198.51.100.53 53 bench.fakenet.test 2000 | usec)")
	done
	dd=$(median "${d0[@]}") dr=$(median "${d1[@]}")
	row "DNS A query via osh responder, median" "${dr}us" "direct to dnsmasq ${dd}us" "$(ratio "$dr" "$dd")"
	row "DNS added latency via responder, median" "$((dr - dd))us" "target 200us" "$(ratio "$((dr - dd))" 200)"
else
	row "DNS via responder" "skipped" "dnsmasq missing" "-"
fi

# --- iperf3 over veth: in a sandbox vs outside ------------------------------------------------------
if command -v iperf3 >/dev/null; then
	ip netns add "$ns2" &&
		ip link add bveth0 netns "$ns" type veth peer name bveth1 netns "$ns2" &&
		ip -n "$ns" addr add 192.0.2.1/24 dev bveth0 && ip -n "$ns" link set bveth0 up &&
		ip -n "$ns2" addr add 192.0.2.2/24 dev bveth1 && ip -n "$ns2" link set bveth1 up &&
		ip -n "$ns2" link set lo up
	nsenter --net="/run/netns/$ns2" -- iperf3 -s -B 192.0.2.2 -p 5201 >"$tmp/iperf3-s.log" 2>&1 &
	pids+=($!)
	sleep 0.5
	printf 'version: 1\nnetwork_policies:\n  iperf:\n    endpoints:\n      - { host: 192.0.2.2, port: 5201 }\n    binaries:\n      - path: %s\n' \
		"$(realpath "$(command -v iperf3)")" >"$tmp/iperf.yaml"
	bps() { /usr/bin/python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))' 2>/dev/null; }
	i0=() i1=()
	for _ in 1 2 3; do
		i0+=("$(inns iperf3 -c 192.0.2.2 -p 5201 -t 3 -J | bps)")
		i1+=("$(inns "$H/egress-run" --cgroup "$cg" --policy "$tmp/iperf.yaml" -- \
			iperf3 -c 192.0.2.2 -p 5201 -t 3 -J | bps)")
	done
	io=$(median "${i0[@]}") ii=$(median "${i1[@]}")
	gbit() { awk -v b="$1" 'BEGIN { printf "%.2fGbit/s", b / 1e9 }'; }
	row "iperf3 TCP over veth, in a sandbox" "$(gbit "$ii")" "outside $(gbit "$io")" "$(ratio "$ii" "$io")"
else
	row "iperf3 over veth" "skipped" "iperf3 missing" "-"
fi
