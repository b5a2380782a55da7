#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs osh's test suites and counts every test they report (TAP) into one closing line:
# `N passed, N failed, N skipped`. Exit status is non-zero when any test failed.
#
#   tests/run.sh [all|unit|e2e|attacks|vm|lint|leftovers]...
#
# Each producer (one unit binary, one bats file, the VM run) prints TAP. A producer that
# dies before reporting its whole plan, or exits non-zero without a failing test line, is
# counted as one more failure so a crash can never read as a pass.
set -uo pipefail

cd "$(dirname "$0")/.."
O=${O:-build}
RESULTS=$O/test-results
mkdir -p "$RESULTS"

passed=0 failed=0 skipped=0
failures=()

# tally NAME LOGFILE EXITCODE: count TAP lines of one producer.
tally() {
	local name=$1 log=$2 rc=$3 plan=0 seen=0 p=0 f=0 s=0 line
	while IFS= read -r line; do
		case "$line" in
		1..*) plan=$((plan + ${line#1..})) ;;
		"ok "* | "not ok "*)
			seen=$((seen + 1))
			if [[ "$line" =~ \#[[:space:]]*[Ss][Kk][Ii][Pp] ]]; then
				s=$((s + 1))
			elif [[ "$line" == ok* ]]; then
				p=$((p + 1))
			else
				f=$((f + 1))
				failures+=("$name: ${line}")
			fi
			;;
		esac
	done <"$log"
	if ((seen < plan)); then
		f=$((f + plan - seen))
		failures+=("$name: reported $seen of $plan planned tests (crashed?)")
	fi
	if ((rc != 0 && f == 0)); then
		f=$((f + 1))
		failures+=("$name: exited $rc without a failing test line")
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

# run_producer NAME CMD...: run one TAP producer, show its output, tally it.
run_producer() {
	local name=$1 log
	shift
	log="$RESULTS/$(echo "$name" | tr '/ ' '__').tap"
	echo "# --- $name"
	"$@" 2>&1 | tee "$log"
	tally "$name" "$log" "${PIPESTATUS[0]}"
}

suite_unit() {
	local t found=0
	for t in "$O"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		found=1
		CMOCKA_MESSAGE_OUTPUT=TAP ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 \
			UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			run_producer "unit/${t##*/}" "$t"
	done
	if ((found == 0)); then
		failures+=("unit: no unit test binaries under $O/tests/unit (run make check-tests)")
		failed=$((failed + 1))
	fi
}

suite_e2e() {
	local f
	for f in tests/e2e/*.bats; do
		[ -e "$f" ] || continue
		run_producer "e2e/${f##*/}" env O="$O" bats --tap "$f"
	done
}

# The attack suite (THREATS.md), then its coverage table from the ledger the files write.
suite_attacks() {
	local f ledger
	ledger=$(cd "$O" && pwd)/test-results/attacks-coverage.tsv
	rm -f "$ledger"
	for f in tests/attacks/*.bats; do
		[ -e "$f" ] || continue
		run_producer "attacks/${f##*/}" env O="$O" ATTACKS_LEDGER="$ledger" bats --tap "$f"
	done
}

suite_vm() {
	run_producer "vm" env O="$O" scripts/vmtest.sh
}

# `make lint` counted as one test, so a style or analyzer finding fails the run like a bug.
suite_lint() {
	run_producer "lint" sh -c 'echo 1..1; if out=$(O="$0" scripts/lint.sh 2>&1); then echo "ok 1 - make lint clean";
		else echo "$out" | sed "s/^/# /"; echo "not ok 1 - make lint reported findings"; fi' "$O"
}

# The acceptance rule "a test run leaves nothing behind", checked as a test of its own.
suite_leftovers() {
	run_producer "leftovers" tests/lib/leftovers.sh
}

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(all)
for s in "${suites[@]}"; do
	case "$s" in
	all) suite_unit; suite_e2e; suite_attacks; suite_vm; suite_lint; suite_leftovers ;;
	unit | e2e | attacks | vm | lint | leftovers) "suite_$s" ;;
	*) echo "run.sh: unknown suite '$s' (expected all, unit, e2e, attacks, vm, lint, leftovers)" >&2; exit 2 ;;
	esac
done

if ((${#failures[@]})); then
	echo "# failures:"
	printf '#   %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
