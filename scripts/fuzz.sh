#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make fuzz`: runs each libFuzzer target for FUZZ_SECONDS, seeded from tests/fuzz-corpus/<name>.
# New inputs go to $O/fuzz/corpus/<name> (not git); crashers to $O/fuzz/artifacts/<name>/.
# A crasher must become a regression unit test and a seed in tests/fuzz-corpus/<name>.
set -uo pipefail
cd "$(dirname "$0")/.."
O=${O:-build}
secs=${FUZZ_SECONDS:-60}
rc=0
for bin in "$@"; do
	name=${bin##*/}
	work=$O/fuzz/corpus/$name art=$O/fuzz/artifacts/$name/
	mkdir -p "$work" "$art" "tests/fuzz-corpus/$name"
	echo "fuzz: $name for ${secs}s"
	if ! ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$art" "$work" "tests/fuzz-corpus/$name" >"$O/fuzz/$name.log" 2>&1; then
		echo "fuzz: $name FAILED; see $O/fuzz/$name.log and $art"
		tail -30 "$O/fuzz/$name.log"
		rc=1
	else
		grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$O/fuzz/$name.log" | sed "s/^/fuzz: $name /"
	fi
done
exit $rc
