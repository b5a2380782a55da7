#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make bench`: speed figures as ratios measured side by side in one run (these machines are
# shared and noisy; absolute times mean little). Each row names its baseline. Not a test: it
# asserts nothing, it reports. Needs root (cgroups, BPF).
#
#   scripts/bench.sh [SECTION...]     sections: hook egress-connect policy start open vm prove
#                                     oshd egress (default: all, in that order)
# Each row can be reproduced alone by running its section (docs/PERFORMANCE.md names it).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
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
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
us() { printf '%.0fus' "$1"; }
# hyperfine_mean_us JSON NAME: the mean of the command named NAME in hyperfine's JSON export.
hyperfine_mean_us() {
	/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print([r["mean"] for r in d["results"] if r["command"] == sys.argv[2]][0] * 1e6)' "$1" "$2"
}
row() { printf '| %-44s | %12s | %-30s | %7s |\n' "$1" "$2" "$3" "$4"; }


# --- connect()+close() through the cgroup/connect4 hook ------------------------------------------
bench_hook() {
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
		base=$(median "${b[@]}") allow=$(median "${a[@]}") deny=$(median "${d[@]}")
		row "connect+close allowed, BPF hook attached" "${allow}ns" "no hook ${base}ns" "$(ratio "$allow" "$base")"
		row "connect+close denied (EPERM), BPF hook" "${deny}ns" "no hook, allowed ${base}ns" "$(ratio "$deny" "$base")"
		cleanup
		cgroup_dir=""
	else
		row "connect+close" "skipped" "helpers not built" "-"
	fi
}

# --- connect()+close() through the real egress programs (bpf/egress.bpf.c) -----------------------
# In a private network namespace on a documentation address on its lo (loopback destinations are
# never allowed from a sandbox). egress-run attaches the programs to a test cgroup with a policy
# allowing the listener's port; the baseline is the same cgroup without programs.
bench_egress_connect() {
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
		base=$(median "${b[@]}") allow=$(median "${a[@]}") deny=$(median "${d[@]}")
		row "connect+close allowed, egress programs" "${allow}ns" "no programs ${base}ns" "$(ratio "$allow" "$base")"
		row "connect+close denied (EPERM), egress" "${deny}ns" "no programs, allowed ${base}ns" "$(ratio "$deny" "$base")"
		cleanup
		cgroup_dir="" egress_ns=""
	else
		row "connect+close, egress programs" "skipped" "helpers not built" "-"
	fi
}

# --- policy compiler -----------------------------------------------------------------------------
bench_policy() {
	if [ -x "$H/bench-policy" ]; then
		line=$("$H/bench-policy")
		ms=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<<"$line")
		row "parse+validate+compile 2000 endpoints/50 bins" "${ms}ms" "target 20ms" "$(ratio "$ms" 20)"
	fi
}

# --- sandbox start -------------------------------------------------------------------------------
# Embedded `oshctl run` (loads its BPF programs itself, every run) against the peers, in one
# hyperfine run. The run through a live oshd, whose programs are loaded already, is a row of the
# oshd section (scripts/bench-oshd.sh).
bench_start() {
	if ! [ -x "$O/bin/oshctl" ] || ! command -v hyperfine >/dev/null || ! command -v bwrap >/dev/null ||
		! command -v firejail >/dev/null || ! "$O/bin/oshctl" run -q --embedded -- /bin/true 2>/dev/null; then
		row "sandbox start" "skipped" "oshctl run, hyperfine, bwrap or firejail missing" "-"
		return
	fi
	local json t_true t_bwrap t_fj t_osh
	json=$(mktemp)
	hyperfine -N -w 5 -r 40 --export-json "$json" \
		-n true /bin/true \
		-n bwrap 'bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true' \
		-n firejail 'firejail --quiet --noprofile /bin/true' \
		-n osh "$O/bin/oshctl run -q --embedded -- /bin/true" >/dev/null 2>&1
	t_true=$(hyperfine_mean_us "$json" true) t_bwrap=$(hyperfine_mean_us "$json" bwrap)
	t_fj=$(hyperfine_mean_us "$json" firejail) t_osh=$(hyperfine_mean_us "$json" osh)
	rm -f "$json"
	row "oshctl run --embedded -- /bin/true" "$(us "$t_osh")" "bwrap $(us "$t_bwrap")" "$(ratio "$t_osh" "$t_bwrap")"
	row "oshctl run --embedded -- /bin/true" "$(us "$t_osh")" "firejail $(us "$t_fj")" "$(ratio "$t_osh" "$t_fj")"
	row "bwrap --unshare-all ... /bin/true" "$(us "$t_bwrap")" "/bin/true $(us "$t_true")" "$(ratio "$t_bwrap" "$t_true")"
	row "firejail --noprofile /bin/true" "$(us "$t_fj")" "/bin/true $(us "$t_true")" "$(ratio "$t_fj" "$t_true")"
}

# --- open()+close() of an allowed file: sandbox vs the bare mechanisms vs nothing -----------------
# The sandbox (`oshctl run`: Landlock + seccomp, + BPF LSM where it loads) against the same
# helper under a bare Landlock ruleset with the same rules, with osh's seccomp filter, with a
# one-instruction allow-all filter (a filter's mere presence sends every syscall through the
# kernel's slow entry path, even for a syscall its cache allows outright) and without a filter,
# and against no restriction at all.
bench_open() {
	if ! [ -x "$H/bench-open" ] || ! [ -x "$O/bin/oshctl" ]; then
		row "open+close" "skipped" "helpers not built" "-"
		return
	fi
	local NO=${BENCH_OPENS:-200000} file=/usr/include/linux/bpf.h pol none ll llsc sb
	local ll_args=(--ro /usr --ro /lib --ro /lib64 --ro /bin --ro /sbin --ro /etc --ro /proc
		--rw /tmp --rw /dev/null --rw "$PWD")
	[ -r "$file" ] || file=/etc/passwd
	pol=$(mktemp --suffix=.yaml)
	cat >"$pol" <<-POLICY
	version: 1
	filesystem_policy:
	  include_workdir: true
	  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, /proc]
	  read_write: [/tmp, /dev/null]
	POLICY
	# the loop's CPU time (bench-open's cpu_ns_per_op): time slices lost to other work on this
	# shared machine swing the wall-clock figure by 2x between rounds
	ns() { sed -n 's/.* cpu_ns_per_op=\([0-9]*\).*/\1/p'; }
	local n0=() n1=() n2=() n3=() n4=() allow
	for _ in 1 2 3 4 5; do
		n0+=("$("$H/bench-open" "$file" "$NO" | ns)")
		n1+=("$("$H/bench-open" "${ll_args[@]}" "$file" "$NO" | ns)")
		n4+=("$("$H/bench-open" --seccomp-allow "${ll_args[@]}" "$file" "$NO" | ns)")
		n3+=("$("$H/bench-open" --seccomp "${ll_args[@]}" "$file" "$NO" | ns)")
		n2+=("$("$O/bin/oshctl" run -q --embedded --policy "$pol" -- "$H/bench-open" "$file" "$NO" 2>/dev/null | ns)")
	done
	rm -f "$pol"
	none=$(median "${n0[@]}") ll=$(median "${n1[@]}") sb=$(median "${n2[@]}") llsc=$(median "${n3[@]}")
	allow=$(median "${n4[@]}")
	row "open+close allowed file, oshctl run sandbox" "${sb}ns" "bare Landlock ${ll}ns" "$(ratio "$sb" "$ll")"
	row "open+close allowed file, oshctl run sandbox" "${sb}ns" "Landlock+osh seccomp ${llsc}ns" "$(ratio "$sb" "$llsc")"
	row "open+close, bare Landlock + osh seccomp" "${llsc}ns" "bare Landlock ${ll}ns" "$(ratio "$llsc" "$ll")"
	# Any filter at all sends every syscall through the slow entry path: this row is the
	# mechanism's cost, the one above minus it what osh's filter adds.
	row "open+close, bare Landlock + allow-all seccomp" "${allow}ns" "bare Landlock ${ll}ns" "$(ratio "$allow" "$ll")"
	row "open+close, bare Landlock + osh seccomp" "${llsc}ns" "Landlock+allow-all seccomp ${allow}ns" "$(ratio "$llsc" "$allow")"
	row "open+close allowed file, bare Landlock" "${ll}ns" "no sandbox ${none}ns" "$(ratio "$ll" "$none")"
}

# --- open()+close() in the qemu VM, where BPF LSM loads (tests/vm/bench-open.sh) ----------------
# The sandbox there is BPF LSM + Landlock + seccomp; also the file_open program's own run time
# from the kernel's BPF statistics. TCG emulation: the ratios count, not the nanoseconds.
bench_vm() {
	local out v_none v_ll v_sb v_prog
	if ! out=$(VM_LIST=tests/vm/bench.list O=$O scripts/vmtest.sh 2>/dev/null); then
		row "open+close in the VM (BPF LSM)" "failed" "VM_LIST=tests/vm/bench.list scripts/vmtest.sh" "-"
		return
	fi
	vm_val() { sed -n "s/^ok [0-9]* - .*vm $1=\([0-9]*\)$/\1/p" <<<"$out"; }
	v_none=$(vm_val "open none_ns") v_ll=$(vm_val "open landlock_ns")
	v_sb=$(vm_val "open sandbox_ns") v_prog=$(vm_val "bpf file_open prog_ns")
	row "VM open+close, sandbox (BPF LSM+Landlock)" "${v_sb}ns" "bare Landlock ${v_ll}ns" "$(ratio "$v_sb" "$v_ll")"
	row "VM open+close, sandbox (BPF LSM+Landlock)" "${v_sb}ns" "no sandbox ${v_none}ns" "$(ratio "$v_sb" "$v_none")"
	row "VM BPF file_open program per run (TCG)" "${v_prog}ns" "VM open+close ${v_none}ns" "$(ratio "$v_prog" "$v_none")"
}

# --- prover: `oshctl policy prove` on generated policies of 100..1000 endpoints, 30 binaries --------
# Time follows the number of distinct target classes the solver meets, not the policy's size
# (docs/prover.md), hence the ratios; the first prove of a process also starts Z3.
bench_prove() {
	if [ -x "$H/bench-prove" ]; then
		out=$("$H/bench-prove" prover/registry)
		pms() { sed -n "s/^prove-$1: ms=\([0-9.]*\).*/\1/p" <<<"$out"; }
		pfind() { sed -n "s/^prove-$1: .*findings=\([0-9]*\).*/\1/p" <<<"$out"; }
		m100=$(pms 100)
		row "prove 500 endpoints/30 binaries" "$(pms 500)ms" "target 2000ms" "$(ratio "$(pms 500)" 2000)"
		row "prove 500 endpoints, first in process" "$(pms first-500)ms" "target 2000ms" \
			"$(ratio "$(pms first-500)" 2000)"
		for n in 100 250 500 1000; do
			row "prove $n endpoints/30 bins, $(pfind "$n") findings" "$(pms "$n")ms" \
				"prove 100 endpoints ${m100}ms" "$(ratio "$(pms "$n")" "$m100")"
		done
	else
		row "prove" "skipped" "helpers not built" "-"
	fi
}

# --- oshd: policy set round trip (100 endpoints) and resident memory with 100 sandboxes ----------
bench_oshd() {
	O=$O scripts/bench-oshd.sh
}

# --- egress: trie size, reload, DNS responder latency, iperf3 in vs out of a sandbox ------------
bench_egress() {
	O=$O scripts/bench-egress.sh
}

all_sections=(hook egress-connect policy start open vm prove oshd egress)
sections=("${all_sections[@]}")
[ $# -gt 0 ] && sections=("$@")
for s in "${sections[@]}"; do
	if [[ " ${all_sections[*]} " != *" $s "* ]]; then
		echo "bench.sh: unknown section '$s' (${all_sections[*]})" >&2
		exit 2
	fi
done

echo "osh bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -r), $(nproc) cores"
row "measurement" "value" "baseline" "ratio"
row "---" "---" "---" "---"
for s in "${sections[@]}"; do
	"bench_${s//-/_}"
done
