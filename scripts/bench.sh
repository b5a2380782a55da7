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
cleanup() {
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
