#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The attack suite's coverage table, from the ledger the other files wrote (one row per test:
# technique of THREATS.md, variant, result outside the sandbox, result inside, event). Printed as
# TAP comments, so tests/run.sh counts only the one test here: every technique 1-20 has a row.

setup() {
	load lib.bash
	attacks_paths
	[ -s "$ATTACKS_LEDGER" ] || skip "no ledger at $ATTACKS_LEDGER: run the other attack files first"
}

@test "coverage: every THREATS.md technique (1-20) was attempted" {
	local t missing=() tech variant out in ev verdict file
	{
		echo "# coverage of THREATS.md (outside: without osh, as the sandbox's user unless noted; inside: the agent's sandbox)"
		printf '# %-3s | %-44s | %-22s | %-40s | %-8s | %s\n' T variant outside inside verdict event
		sort -t $'\t' -k1,1n -s "$ATTACKS_LEDGER" |
			while IFS=$'\t' read -r tech variant out in ev verdict file; do
				printf '# %-3s | %-44s | %-22s | %-40s | %-8s | %s\n' "$tech" "$variant" \
					"$out" "$in" "$verdict" "$ev"
			done
		echo "# verdicts: ok = stopped (and reported where an event exists); fallback = not stopped on this kernel, documented fallback checked; skip = not stopped, counted skip; FAIL = test failed (bypass or gap, see its output)"
	} >&3
	for t in $(seq 1 20); do
		cut -f1 "$ATTACKS_LEDGER" | grep -qx "$t" || missing+=("$t")
	done
	[ ${#missing[@]} -eq 0 ] || { echo "no row for technique(s): ${missing[*]}"; false; }
}
