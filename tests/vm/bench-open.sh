# SPDX-License-Identifier: Apache-2.0
# VM bench (busybox sh, booted by `scripts/bench.sh vm`): open()+close() of an allowed file in a
# loop, in an `oshctl run` sandbox (BPF LSM file_open + Landlock + seccomp) vs a bare Landlock
# ruleset with the same rules vs nothing, interleaved rounds, medians. Also the BPF LSM file_open
# program's own cost from the kernel's BPF run-time statistics (run_time_ns / run_cnt of the
# sandbox's program, read from oshctl's descriptors while the sandbox lives). Prints TAP whose
# descriptions carry the numbers; asserts nothing but that each measurement ran. Under TCG every
# figure is emulated time: compare the ratios, not the nanoseconds with a host's.
T=${TMPDIR:-/tmp}/osh-bench-open
N=${BENCH_VM_OPENS:-20000}
F=/etc/passwd
n=0

report() {
	n=$((n + 1))
	if [ -n "$2" ]; then
		echo "ok $n - $1=$2"
	else
		echo "not ok $n - $1: no measurement"
	fi
}

median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
ns() { sed -n 's/^ns_per_op=\([0-9]*\).*/\1/p'; }

rm -rf "$T"
mkdir -p "$T"
chmod 0777 "$T"
trap 'rm -rf "$T"; rmdir /sys/fs/cgroup/osh/osh-test-bench-open* 2>/dev/null' EXIT
cat >"$T/policy.yaml" <<POLICY
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, /proc, /osh]
  read_write: [/tmp, /dev/null]
POLICY
LL="--ro /usr --ro /lib --ro /lib64 --ro /bin --ro /sbin --ro /etc --ro /proc --ro /osh --rw /tmp --rw /dev/null --rw $T"

echo 1 >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null
echo "1..4"
a="" b="" c="" prog=""
for round in 1 2 3; do
	a="$a $(bench-open "$F" "$N" | ns)"
	# shellcheck disable=SC2086 # LL is a list of words
	b="$b $(bench-open $LL "$F" "$N" | ns)"
	# The sandboxed loop, then a pause during which oshctl (the sandbox's owner) still holds its
	# programs' descriptors, so their run-time statistics can be read.
	rm -f "$T/out"
	oshctl run -q --policy "$T/policy.yaml" --workdir "$T" --name "osh-test-bench-open-$round" -- \
		/bin/sh -c "bench-open $F $N >$T/out; sleep 2" 2>"$T/err" &
	pid=$!
	i=0
	while [ $i -lt 600 ] && ! grep -q ns_per_op "$T/out" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	for fdi in /proc/"$pid"/fdinfo/*; do
		# The file_open program: an LSM program (type 29) whose run count grew with the loop.
		grep -q '^prog_type:[[:space:]]*29$' "$fdi" 2>/dev/null || continue
		rt=$(sed -n 's/^run_time_ns:[[:space:]]*//p' "$fdi")
		rc=$(sed -n 's/^run_cnt:[[:space:]]*//p' "$fdi")
		[ -n "$rc" ] && [ "$rc" -ge "$N" ] && prog="$prog $((rt / rc))"
	done
	wait "$pid"
	c="$c $(ns <"$T/out")"
	cat "$T/err" >&2
done
echo 0 >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null

# shellcheck disable=SC2086 # word lists
report "vm open none_ns" "$(median3 $a)"
# shellcheck disable=SC2086
report "vm open landlock_ns" "$(median3 $b)"
# shellcheck disable=SC2086
report "vm open sandbox_ns" "$(median3 $c)"
# shellcheck disable=SC2086
report "vm bpf file_open prog_ns" "$(median3 $prog)"
