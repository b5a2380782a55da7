#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make bench`: speed figures as ratios measured side by side in one run (these machines are
# shared and noisy; absolute times mean little). Each row names its baseline. Not a test: it
# asserts nothing, it reports. Needs root (cgroups, BPF).
set -uo pipefail
cd "$(dirname "$0")/.."
O=${O:-build}
H=$O/tests/helpers
N=${BENCH_CONNECTS:-20000}
cgroup_dir=""
egress_ns=""
cleanup() {
	[ -n "$egress_ns" ] && ip netns del "$egress_ns" 2>/dev/null
	if [ -n "$cgroup_dir" ] && [ -d "$cgroup_dir" ]; then
		while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$cgroup_dir/cgroup.procs"
		rmdir "$cgroup_dir" 2>/dev/null
	fi
}
trap cleanup EXIT INT TERM

cgroup2_mount() {
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5; break } }' \
		/proc/self/mountinfo | head -1
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
row() { printf '| %-44s | %12s | %-30s | %7s |\n' "$1" "$2" "$3" "$4"; }

echo "osh bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -r), $(nproc) cores"
row "measurement" "value" "baseline" "ratio"
row "---" "---" "---" "---"

# --- connect()+close() through the cgroup/connect4 hook ------------------------------------------
if [ -x "$H/bench-connect" ] && [ -x "$H/cgroup-run" ]; then
	mnt=$(cgroup2_mount)
	cgroup_dir=$mnt/osh-test-bench-$$
	mkdir "$cgroup_dir"
	port=$((20000 + $$ % 10000)) # below the ephemeral range
	ns() { sed -n 's/.*ns_per_op=\([0-9]*\).*/\1/p'; }
	# Allowed rounds use an ephemeral port (their TIME_WAIT sockets would block a fixed one);
	# the denied rounds open no connection, so one fixed port serves them all.
	# Interleaved rounds, median of each, so a burst of load on the shared machine hits all three.
	b=() a=() d=()
	for _ in 1 2 3 4 5; do
		# The baseline runs in the same cgroup (no program attached to it then), so cgroup
		# accounting costs are on both sides and the ratio is the hook's alone.
		b+=("$(sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2" "$3" 0' _ "$cgroup_dir" "$H/bench-connect" "$N" | ns)")
		a+=("$("$H/cgroup-run" --cgroup "$cgroup_dir" --deny-port 1 -- "$H/bench-connect" "$N" 0 | ns)")
		d+=("$("$H/cgroup-run" --cgroup "$cgroup_dir" --deny-port "$port" -- "$H/bench-connect" "$N" "$port" | ns)")
	done
	median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
	base=$(median "${b[@]}") allow=$(median "${a[@]}") deny=$(median "${d[@]}")
	row "connect+close allowed, BPF hook attached" "${allow}ns" "no hook ${base}ns" "$(ratio "$allow" "$base")"
	row "connect+close denied (EPERM), BPF hook" "${deny}ns" "no hook, allowed ${base}ns" "$(ratio "$deny" "$base")"
	cleanup
	cgroup_dir=""
else
	row "connect+close" "skipped" "helpers not built" "-"
fi

# --- connect()+close() through the real egress programs (bpf/egress.bpf.c) -----------------------
# In a private network namespace on a documentation address on its lo (loopback destinations are
# never allowed from a sandbox). egress-run attaches the programs to a test cgroup with a policy
# allowing the listener's port; the baseline is the same cgroup without programs.
if [ -x "$H/bench-connect" ] && [ -x "$H/egress-run" ]; then
	mnt=$(cgroup2_mount)
	cgroup_dir=$mnt/osh-test-bench-egress-$$
	egress_ns=osht-bench-$$
	mkdir "$cgroup_dir"
	ip netns add "$egress_ns" && ip -n "$egress_ns" link set lo up &&
		ip -n "$egress_ns" addr add 198.51.100.1/32 dev lo
	pol=$(mktemp --suffix=.yaml)
	printf 'version: 1\nnetwork_policies:\n  bench:\n    endpoints:\n      - host: 198.51.100.1\n        port: 20080\n    binaries:\n      - path: %s\n' \
		"$(realpath "$H/bench-connect")" >"$pol"
	ns() { sed -n 's/.*ns_per_op=\([0-9]*\).*/\1/p'; }
	inns() { nsenter --net="/run/netns/$egress_ns" -- "$@"; }
	b=() a=() d=()
	for _ in 1 2 3 4 5; do
		b+=("$(inns sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2" "$3" 20080 198.51.100.1' _ "$cgroup_dir" "$H/bench-connect" "$N" | ns)")
		a+=("$(inns "$H/egress-run" --cgroup "$cgroup_dir" --policy "$pol" -- "$H/bench-connect" "$N" 20080 198.51.100.1 | ns)")
		d+=("$(inns "$H/egress-run" --cgroup "$cgroup_dir" --policy "$pol" -- "$H/bench-connect" "$N" 20081 198.51.100.1 2>/dev/null | ns)")
	done
	rm -f "$pol"
	median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
	base=$(median "${b[@]}") allow=$(median "${a[@]}") deny=$(median "${d[@]}")
	row "connect+close allowed, egress programs" "${allow}ns" "no programs ${base}ns" "$(ratio "$allow" "$base")"
	row "connect+close denied (EPERM), egress" "${deny}ns" "no programs, allowed ${base}ns" "$(ratio "$deny" "$base")"
	cleanup
	cgroup_dir="" egress_ns=""
else
	row "connect+close, egress programs" "skipped" "helpers not built" "-"
fi

# --- policy compiler -----------------------------------------------------------------------------
if [ -x "$H/bench-policy" ]; then
	line=$("$H/bench-policy")
	ms=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<<"$line")
	row "parse+validate+compile 2000 endpoints/50 bins" "${ms}ms" "target 20ms" "$(ratio "$ms" 20)"
fi

# --- sandbox start -------------------------------------------------------------------------------
if [ -x "$O/bin/oshctl" ] && command -v hyperfine >/dev/null && command -v bwrap >/dev/null &&
	"$O/bin/oshctl" run -q -- /bin/true 2>/dev/null; then
	json=$(mktemp)
	hyperfine -N -w 20 -r 200 --export-json "$json" \
		-n true /bin/true \
		-n bwrap 'bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true' \
		-n osh "$O/bin/oshctl run -q -- /bin/true" >/dev/null 2>&1
	mean() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$json')); print([r['mean'] for r in d['results'] if r['command']=='$1'][0]*1e6)"; }
	t_true=$(mean true) t_bwrap=$(mean bwrap) t_osh=$(mean osh)
	row "oshctl run -- /bin/true" "$(printf %.0fus "$t_osh")" "bwrap $(printf %.0fus "$t_bwrap")" "$(ratio "$t_osh" "$t_bwrap")"
	row "oshctl run -- /bin/true" "$(printf %.0fus "$t_osh")" "/bin/true $(printf %.0fus "$t_true")" "$(ratio "$t_osh" "$t_true")"
	row "bwrap --unshare-all ... /bin/true" "$(printf %.0fus "$t_bwrap")" "/bin/true $(printf %.0fus "$t_true")" "$(ratio "$t_bwrap" "$t_true")"
	rm -f "$json"
else
	row "sandbox start" "skipped" "oshctl run or hyperfine/bwrap missing" "-"
fi

# --- open()+close() of an allowed file: sandbox vs the bare mechanism vs nothing -------------------
# The sandbox (`oshctl run`: Landlock + seccomp, + BPF LSM where it loads) against a bare Landlock
# ruleset with the same rules in the same helper, and against no restriction at all.
if [ -x "$H/bench-open" ] && [ -x "$O/bin/oshctl" ]; then
	NO=${BENCH_OPENS:-200000}
	file=/usr/include/linux/bpf.h
	[ -r "$file" ] || file=/etc/passwd
	pol=$(mktemp --suffix=.yaml)
	cat >"$pol" <<POLICY
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, /proc]
  read_write: [/tmp, /dev/null]
POLICY
	ll_args=(--ro /usr --ro /lib --ro /lib64 --ro /bin --ro /sbin --ro /etc --ro /proc
		--rw /tmp --rw /dev/null --rw "$PWD")
	ns() { sed -n 's/.*ns_per_op=\([0-9]*\).*/\1/p'; }
	n0=() n1=() n2=()
	for _ in 1 2 3 4 5; do
		n0+=("$("$H/bench-open" "$file" "$NO" | ns)")
		n1+=("$("$H/bench-open" "${ll_args[@]}" "$file" "$NO" | ns)")
		n2+=("$("$O/bin/oshctl" run -q --policy "$pol" -- "$H/bench-open" "$file" "$NO" 2>/dev/null | ns)")
	done
	rm -f "$pol"
	median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
	none=$(median "${n0[@]}") ll=$(median "${n1[@]}") sb=$(median "${n2[@]}")
	row "open+close allowed file, oshctl run sandbox" "${sb}ns" "bare Landlock ${ll}ns" "$(ratio "$sb" "$ll")"
	row "open+close allowed file, bare Landlock" "${ll}ns" "no sandbox ${none}ns" "$(ratio "$ll" "$none")"
	row "open+close allowed file, oshctl run sandbox" "${sb}ns" "no sandbox ${none}ns" "$(ratio "$sb" "$none")"
else
	row "open+close" "skipped" "helpers not built" "-"
fi

# --- prover: `oshctl policy prove` on generated policies of 100..1000 endpoints, 30 binaries --------
# Time grows with the number of findings (each is a few solver round trips), hence the ratios.
if [ -x "$H/bench-prove" ]; then
	out=$("$H/bench-prove" prover/registry)
	pms() { sed -n "s/^prove-$1: ms=\([0-9.]*\).*/\1/p" <<<"$out"; }
	pfind() { sed -n "s/^prove-$1: .*findings=\([0-9]*\).*/\1/p" <<<"$out"; }
	m100=$(pms 100)
	row "prove 500 endpoints/30 binaries" "$(pms 500)ms" "target 2000ms" "$(ratio "$(pms 500)" 2000)"
	for n in 100 250 500 1000; do
		row "prove $n endpoints/30 bins, $(pfind "$n") findings" "$(pms "$n")ms" \
			"prove 100 endpoints ${m100}ms" "$(ratio "$(pms "$n")" "$m100")"
	done
else
	row "prove" "skipped" "helpers not built" "-"
fi

# --- oshd: policy set round trip (100 endpoints) and resident memory with 100 sandboxes ----------
O=$O scripts/bench-oshd.sh

# --- egress: trie size, reload, DNS responder latency, iperf3 in vs out of a sandbox ------------
O=$O scripts/bench-egress.sh
