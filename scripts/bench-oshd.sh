#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# oshd rows of `make bench` (called by scripts/bench.sh, which prints the table header):
# `oshctl policy set` round trip until the kernel runs the new generation, on a 100-endpoint
# policy, next to `oshctl status` (the same client, socket and HTTP round trip, no policy work);
# and oshd's resident memory with 100 sandboxes. oshd runs with its files in a temp dir and its
# pins under /sys/fs/bpf/osh-test-bench-*; everything is removed at exit.
set -uo pipefail
cd "$(dirname "$0")/.."
O=${O:-build}
OSHD=$O/bin/oshd
OSHCTL=$O/bin/oshctl
row() { printf '| %-44s | %12s | %-30s | %7s |\n' "$1" "$2" "$3" "$4"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

if [ ! -x "$OSHD" ] || [ ! -x "$OSHCTL" ]; then
	row "oshd" "skipped" "oshd not built" "-"
	exit 0
fi
dir=$(mktemp -d /tmp/osh-test-bench-oshd.XXXXXX)
pin=/sys/fs/bpf/osh-test-bench-$$
sock=$dir/oshd.sock
pid=""
n_sb=0
cleanup() {
	local i
	if [ -n "$pid" ]; then
		for ((i = 1; i <= n_sb; i++)); do
			"$OSHCTL" --socket "$sock" sandbox delete "osh-test-bench-$$-$i" >/dev/null 2>&1
		done
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$pin" "$dir"
}
trap cleanup EXIT INT TERM

# policy N EXTRA: N endpoints (documentation addresses, never contacted) for one binary.
policy() {
	local i
	echo "version: 1"
	echo "network_policies:"
	echo "  bench:"
	echo "    endpoints:"
	for ((i = 0; i < $1; i++)); do
		echo "      - host: 203.0.113.$((i % 250 + 1))"
		echo "        port: $((1000 + i + $2))"
	done
	echo "    binaries:"
	echo "      - path: /usr/bin/curl"
}
policy 100 0 >"$dir/a.yaml"
policy 100 1 >"$dir/b.yaml"
policy 1 0 >"$dir/small.yaml"

"$OSHD" --socket "$sock" --database "$dir/osh.db" --bpffs "$pin" --event-log "" \
	--admin-group root --socket-group root >"$dir/oshd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	"$OSHCTL" --socket "$sock" status >/dev/null 2>&1 && break
	sleep 0.1
done

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

n_sb=1
"$OSHCTL" --socket "$sock" sandbox create "osh-test-bench-$$-1" --policy "$dir/a.yaml" \
	--workdir "$dir" >/dev/null || { row "oshd policy set" "failed" "see $dir/oshd.log" "-"; exit 0; }
set_t=() st_t=()
for i in $(seq 1 30); do
	f=$dir/a.yaml
	((i % 2)) && f=$dir/b.yaml
	# $EPOCHREALTIME (microseconds once its point is dropped), not $(date): a fork and an exec
	# per sample would be timed with the command, and cost about as much as oshctl here.
	t0=${EPOCHREALTIME//[.,]/}
	"$OSHCTL" --socket "$sock" policy set "osh-test-bench-$$-1" "$f" >/dev/null
	t1=${EPOCHREALTIME//[.,]/}
	"$OSHCTL" --socket "$sock" status >/dev/null
	t2=${EPOCHREALTIME//[.,]/}
	set_t+=("$((t1 - t0))")
	st_t+=("$((t2 - t1))")
done
set_us=$(median "${set_t[@]}")
st_us=$(median "${st_t[@]}")
row "oshctl policy set, 100 endpoints, median" "$((set_us / 1000)).$(((set_us % 1000) / 100))ms" \
	"target 20ms" "$(ratio "$set_us" 20000)"
row "oshctl policy set, 100 endpoints, median" "$((set_us / 1000)).$(((set_us % 1000) / 100))ms" \
	"oshctl status $((st_us / 1000)).$(((st_us % 1000) / 100))ms" "$(ratio "$set_us" "$st_us")"

# The same round trips from one long-lived client: the daemon's share without a CLI start-up.
if [ -x "$O/tests/helpers/bench-api" ]; then
	out=$("$O/tests/helpers/bench-api" "$sock" "osh-test-bench-$$-1" "$dir/a.yaml" "$dir/b.yaml" 50)
	api_set=$(sed -n 's/^policy-set: median_us=//p' <<<"$out")
	api_st=$(sed -n 's/^status: median_us=//p' <<<"$out")
	row "API PUT policy, 100 endpoints, median" "$((api_set / 1000)).$(((api_set % 1000) / 100))ms" \
		"target 20ms" "$(ratio "$api_set" 20000)"
	row "API PUT policy, 100 endpoints, median" "$((api_set / 1000)).$(((api_set % 1000) / 100))ms" \
		"API GET status $((api_st / 1000)).$(((api_st % 1000) / 100))ms" "$(ratio "$api_set" "$api_st")"
fi

# `oshctl run -- /bin/true` through this oshd (its programs loaded once, at its start): an
# ephemeral sandbox created, one exec, deleted; bwrap and plain /bin/true beside it, one run.
if command -v hyperfine >/dev/null && command -v bwrap >/dev/null &&
	"$OSHCTL" --socket "$sock" run --daemon -q -- /bin/true 2>/dev/null; then
	json=$dir/start.json
	hyperfine -N -w 3 -r 30 --export-json "$json" \
		-n true /bin/true \
		-n bwrap 'bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true' \
		-n osh "$OSHCTL --socket $sock run --daemon -q -- /bin/true" >/dev/null 2>&1
	mean_us() {
		/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("%.0f" % ([r["mean"] for r in d["results"] if r["command"] == sys.argv[2]][0] * 1e6))' "$json" "$1"
	}
	t_true=$(mean_us true) t_bwrap=$(mean_us bwrap) t_osh=$(mean_us osh)
	row "oshctl run --daemon -- /bin/true" "${t_osh}us" "bwrap ${t_bwrap}us" "$(ratio "$t_osh" "$t_bwrap")"
	row "oshctl run --daemon -- /bin/true" "${t_osh}us" "/bin/true ${t_true}us" "$(ratio "$t_osh" "$t_true")"
	# Back to back, the spare sandbox oshd makes after each run is made while the next run
	# starts, on the same two cores. With 50 ms between runs (each command alike), as an
	# agent's runs come, the next run finds it made.
	hyperfine -N -w 3 -r 30 --prepare 'sleep 0.05' --export-json "$json" \
		-n bwrap 'bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true' \
		-n osh "$OSHCTL --socket $sock run --daemon -q -- /bin/true" >/dev/null 2>&1
	t_bwrap=$(mean_us bwrap) t_osh=$(mean_us osh)
	row "  50 ms apart (spare sandbox ready)" "${t_osh}us" "bwrap ${t_bwrap}us" "$(ratio "$t_osh" "$t_bwrap")"
fi

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
rss1=$(rss_kb)
for i in $(seq 2 100); do
	"$OSHCTL" --socket "$sock" sandbox create "osh-test-bench-$$-$i" --policy "$dir/small.yaml" \
		--workdir "$dir" >/dev/null || break
	n_sb=$i
done
rss100=$(rss_kb)
row "oshd RSS with $n_sb sandboxes" "$((rss100 / 1024))MiB" "target 30MiB" "$(ratio "$rss100" 30720)"
row "oshd RSS with $n_sb sandboxes" "$((rss100 / 1024))MiB" "1 sandbox $((rss1 / 1024))MiB" "$(ratio "$rss100" "$rss1")"
