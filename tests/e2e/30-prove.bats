#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# `oshctl policy prove` on the command line: exit codes (0 PASS, 1 REVIEW, 2 usage), the compact
# form, the full report with remediation and accepted risks, JSON that parses, delta mode, and
# the registry found next to the build. Needs no root and creates only files under $BATS_TEST_TMPDIR.

bats_require_minimum_version 1.5.0

setup_file() {
	local src o
	src=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	o=${O:-build}
	[[ $o == /* ]] || o=$src/$o
	export OSHCTL=$o/bin/oshctl SRC=$src
	export TESTDATA=$src/../shared/openshell-data/prover-testdata
	export FIX=$src/tests/unit/prover
}

setup() {
	cd "$SRC"
	unset OSH_PROVER_REGISTRY
	cat >"$BATS_TEST_TMPDIR/l4.yaml" <<-'EOF'
		version: 1
		network_policies:
		  up:
		    endpoints:
		      - { host: upload.example.com, port: 443 }
		    binaries:
		      - { path: /usr/bin/curl }
	EOF
	cat >"$BATS_TEST_TMPDIR/ro.yaml" <<-'EOF'
		version: 1
		network_policies:
		  up:
		    endpoints:
		      - { host: upload.example.com, port: 443, protocol: rest, access: read-only }
		    binaries:
		      - { path: /usr/bin/curl }
	EOF
}

@test "prove: a read-only L7 policy passes with exit 0 and the single line PASS" {
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/ro.yaml" --compact
	[ "$status" -eq 0 ]
	[ "$output" = "PASS" ]
}

@test "prove: an L4 endpoint for curl is a data exfiltration path: one line, REVIEW, exit 1" {
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml" --compact
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "FINDING high data_exfiltration /usr/bin/curl -> upload.example.com:443 POST [http-l4]" ]
	[ "${lines[1]}" = "REVIEW 1 findings" ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "prove: the full report explains the finding and how to fix it" {
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"[high] Data exfiltration path (data_exfiltration)"* ]]
	[[ "$output" == *"rule:        network_policies.up"* ]]
	[[ "$output" == *"why:         /usr/bin/curl can carry data"* ]]
	[[ "$output" == *"remediation: Add protocol: rest"* ]]
	[[ "${lines[-1]}" == "REVIEW 1 findings" ]]
}

@test "prove: OpenShell's testdata policy with its credentials reports git's credentialed L7 bypass" {
	[ -r "$TESTDATA/policy.yaml" ] || skip "../shared/openshell-data is not present"
	run "$OSHCTL" policy prove "$TESTDATA/policy.yaml" --credentials "$TESTDATA/credentials.yaml" --compact
	[ "$status" -eq 1 ]
	[[ "$output" == *"FINDING critical l7_bypass_credentialed /usr/bin/git -> github.com:443 RAW [raw-l4] credential=github-pat"* ]]
	[[ "$output" == *"FINDING critical l7_bypass_credentialed /usr/bin/git -> api.github.com:443 RAW [l7-bypass] credential=github-pat"* ]]
	[[ "${lines[-1]}" == "REVIEW "*" findings" ]]
	run "$OSHCTL" policy prove "$TESTDATA/empty-policy.yaml" --credentials "$TESTDATA/credentials.yaml" --compact
	[ "$status" -eq 0 ]
	[ "$output" = "PASS" ]
}

@test "prove: -o json is valid JSON with the findings and the verdict" {
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml" -o json
	[ "$status" -eq 1 ]
	echo "$output" | /usr/bin/python3 -m json.tool >/dev/null
	q=$(echo "$output" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["result"], d["findings"][0]["query"], d["findings"][0]["binary"], d["findings"][0]["port"])')
	[ "$q" = "REVIEW data_exfiltration /usr/bin/curl 443" ]
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/ro.yaml" -o json
	[ "$status" -eq 0 ]
	echo "$output" | /usr/bin/python3 -m json.tool >/dev/null
}

@test "prove: an accepted risk is shown as accepted with who and why, and the verdict passes" {
	cat >"$BATS_TEST_TMPDIR/acc.yaml" <<-'EOF'
		accepted_risks:
		  - query: data_exfiltration
		    binary: /usr/bin/curl
		    endpoint: upload.example.com:443
		    reason: "uploads are the agent's job"
		    accepted_by: alice
	EOF
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml" --accepted-risks "$BATS_TEST_TMPDIR/acc.yaml" --compact
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "ACCEPTED high data_exfiltration /usr/bin/curl -> upload.example.com:443 POST [http-l4] accepted-by=alice" ]
	[ "${lines[1]}" = "PASS" ]
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml" --accepted-risks "$BATS_TEST_TMPDIR/acc.yaml"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ACCEPTED"* ]]
	[[ "$output" == *"accepted by alice: uploads are the agent's job"* ]]
}

@test "prove: --against reports only what the new policy adds" {
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml" --against "$BATS_TEST_TMPDIR/l4.yaml" --compact
	[ "$status" -eq 0 ]
	[ "$output" = "PASS" ]
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml" --against "$BATS_TEST_TMPDIR/ro.yaml" --compact
	[ "$status" -eq 1 ]
	[[ "$output" == *"FINDING high data_exfiltration /usr/bin/curl -> upload.example.com:443 POST [http-l4]"* ]]
	[[ "$output" == *"capability_expansion /usr/bin/curl -> upload.example.com:443 POST"* ]]
	# narrowing adds nothing
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/ro.yaml" --against "$BATS_TEST_TMPDIR/l4.yaml" --compact
	[ "$status" -eq 0 ]
	[ "$output" = "PASS" ]
}

@test "prove: usage errors exit 2; an invalid policy or registry exits 1 with FILE:LINE:COL" {
	run "$OSHCTL" policy prove
	[ "$status" -eq 2 ]
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml" -o xml
	[ "$status" -eq 2 ]
	printf 'version: 3\n' >"$BATS_TEST_TMPDIR/bad.yaml"
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/bad.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == "$BATS_TEST_TMPDIR/bad.yaml:1:10: version:"* ]]
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml" --registry "$FIX/bad-registry"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad-registry/binaries/bad.yaml:4:1: unknown key 'bypass_l7'"* ]]
}

@test "prove: the registry comes from --registry, then \$OSH_PROVER_REGISTRY, then the source tree" {
	# From another directory: found relative to the oshctl binary.
	cd "$BATS_TEST_TMPDIR"
	run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml" --compact
	[ "$status" -eq 1 ]
	OSH_PROVER_REGISTRY=$FIX/bad-registry run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"unknown key 'bypass_l7'"* ]]
	OSH_PROVER_REGISTRY=$FIX/bad-registry run "$OSHCTL" policy prove "$BATS_TEST_TMPDIR/l4.yaml" \
		--registry "$SRC/prover/registry" --compact
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "REVIEW 1 findings" ]
}
