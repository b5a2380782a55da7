#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# `-o json` on the commands that need no daemon (issue #5): version, doctor, policy
# validate|show|compile|diff|prove, given before the command (global) or after it. Each prints
# one JSON document that parses and carries what the text form says, with the same exit code;
# the text form is unchanged. Only doctor needs root (its BPF probes); everything else runs as
# any user and writes only under $BATS_TEST_TMPDIR.

bats_require_minimum_version 1.5.0

setup_file() {
	local src o
	src=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	o=${O:-build}
	[[ $o == /* ]] || o=$src/$o
	export OSHCTL=$o/bin/oshctl SRC=$src
	export DEF=$src/examples/default.yaml MIN=$src/examples/minimal.yaml
}

setup() {
	cd "$SRC"
	unset OSH_PROVER_REGISTRY
	# Two errors at known places: the schema version, an unknown top-level key.
	printf 'version: 3\nfoo: 1\n' >"$BATS_TEST_TMPDIR/bad.yaml"
	cat >"$BATS_TEST_TMPDIR/ip.yaml" <<-'EOF'
		version: 1
		network_policies:
		  db:
		    endpoints:
		      - { host: 203.0.113.5, port: 443, tls: skip }
		      - { host: "2001:db8::1", port: 5432 }
		      - { host: "*.example.com", port: 443, allowed_ips: [198.51.100.0/24] }
		      - { host: api.example.com, port: 443, protocol: rest, enforcement: audit,
		          rules: [ { allow: { method: GET, path: /x } } ] }
		    binaries:
		      - { path: /usr/bin/curl }
	EOF
}

# Runs python on the JSON document in $output (d); an assertion failing shows d.
check_json() {
	echo "$output" | /usr/bin/python3 -c "import json, sys
d = json.load(sys.stdin)
$1"
}

# The revision the text form of `policy show` prints on stderr.
text_revision() {
	"$OSHCTL" policy show "$1" 2>&1 >/dev/null | sed -n 's/^# revision //p'
}

@test "version: {\"version\"} with -o json before or after the command; text unchanged" {
	run --separate-stderr "$OSHCTL" version
	[ "$status" -eq 0 ]
	[[ $output =~ ^oshctl\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	local v=${output#oshctl }
	run --separate-stderr "$OSHCTL" version -o json
	[ "$status" -eq 0 ]
	check_json "assert d == {'version': '$v'}, d"
	run --separate-stderr "$OSHCTL" -o json version
	[ "$status" -eq 0 ]
	check_json "assert d == {'version': '$v'}, d"
	# the command's own -o wins over the global one
	run --separate-stderr "$OSHCTL" -o json version -o text
	[ "$output" = "oshctl $v" ]
	run "$OSHCTL" version -o xml
	[ "$status" -eq 2 ]
	run "$OSHCTL" -o xml version
	[ "$status" -eq 2 ]
}

@test "validate: a valid policy is {file, valid: true, revision, diagnostics: []}, exit 0" {
	local rev
	rev=$(text_revision "$DEF")
	[ ${#rev} -eq 64 ]
	run --separate-stderr "$OSHCTL" policy validate "$DEF" -o json
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	check_json "assert d == {'file': '$DEF', 'valid': True, 'revision': '$rev', 'diagnostics': []}, d"
	run --separate-stderr "$OSHCTL" -o json policy validate "$MIN"
	[ "$status" -eq 0 ]
	check_json "assert d['valid'] is True and d['revision'] == '$(text_revision "$MIN")', d"
	# text form unchanged
	run --separate-stderr "$OSHCTL" policy validate "$DEF" "$MIN"
	[ "$status" -eq 0 ]
	[ "$output" = "$DEF: valid"$'\n'"$MIN: valid" ]
}

@test "validate: an invalid policy puts every diagnostic with line and column in the JSON, exit 1" {
	local bad=$BATS_TEST_TMPDIR/bad.yaml
	run --separate-stderr "$OSHCTL" policy validate "$bad" -o json
	[ "$status" -eq 1 ]
	# with -o json the diagnostics are in the document, not on stderr
	[ -z "$stderr" ]
	check_json "
assert d['file'] == '$bad' and d['valid'] is False and 'revision' not in d, d
g = d['diagnostics']
assert [(e['file'], e['line'], e['column']) for e in g] == [('$bad', 1, 10), ('$bad', 2, 1)], g
assert g[0]['message'].startswith('version: expected 1'), g
assert g[1]['message'].startswith(\"unknown key 'foo'\"), g"
	# the text form still prints them on stderr, FILE:LINE:COL
	run --separate-stderr "$OSHCTL" policy validate "$bad"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ $stderr == "$bad:1:10: version: expected 1"* ]]
	[[ $stderr == *$'\n'"$bad:2:1: unknown key 'foo'"* ]]
}

@test "validate: an unreadable file is invalid with a whole-file diagnostic (line 0), exit 3" {
	local missing=$BATS_TEST_TMPDIR/no-such.yaml
	run --separate-stderr "$OSHCTL" -o json policy validate "$missing"
	[ "$status" -eq 3 ]
	check_json "
assert d['valid'] is False, d
assert [(e['line'], e['column']) for e in d['diagnostics']] == [(0, 0)], d
assert d['diagnostics'][0]['message'].startswith('cannot open:'), d"
}

@test "validate: several files are one document {valid, files: [...]}; exit codes as the text form" {
	run --separate-stderr "$OSHCTL" policy validate -o json "$DEF" "$BATS_TEST_TMPDIR/bad.yaml" "$MIN"
	[ "$status" -eq 1 ]
	check_json "
assert d['valid'] is False, d
assert [(f['file'], f['valid']) for f in d['files']] == [('$DEF', True), ('$BATS_TEST_TMPDIR/bad.yaml', False), ('$MIN', True)], d
assert len(d['files'][1]['diagnostics']) == 2, d"
	run --separate-stderr "$OSHCTL" policy validate -o json "$DEF" "$MIN"
	[ "$status" -eq 0 ]
	check_json "assert d['valid'] is True and len(d['files']) == 2, d"
	# unreadable wins over invalid, as in the text form
	run --separate-stderr "$OSHCTL" policy validate -o json "$BATS_TEST_TMPDIR/bad.yaml" "$BATS_TEST_TMPDIR/none.yaml"
	[ "$status" -eq 3 ]
	check_json "assert [f['valid'] for f in d['files']] == [False, False], d"
}

@test "show: {file, revision, policy} with the canonical policy as an object that reads back" {
	local rev
	rev=$(text_revision "$MIN")
	run --separate-stderr "$OSHCTL" policy show "$MIN" -o json
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	check_json "
assert d['file'] == '$MIN' and d['revision'] == '$rev', d
p = d['policy']
assert p['version'] == 1, p
assert p['filesystem_policy'] == {'include_workdir': True, 'read_only': ['/bin', '/etc', '/lib', '/lib64', '/usr'], 'read_write': ['/tmp']}, p
assert p['landlock'] == {'compatibility': 'best_effort'}, p
assert 'network_policies' not in p, p"
	# .policy is a JSON policy file with the same revision
	"$OSHCTL" -o json policy show "$DEF" | /usr/bin/python3 -c 'import json, sys; json.dump(json.load(sys.stdin)["policy"], sys.stdout)' >"$BATS_TEST_TMPDIR/def.json"
	[ "$(text_revision "$BATS_TEST_TMPDIR/def.json")" = "$(text_revision "$DEF")" ]
	run --separate-stderr "$OSHCTL" -o json policy show "$DEF"
	check_json "
n = d['policy']['network_policies']
assert sorted(n) == ['model_api', 'package_index'], n"
}

@test "show: text and -o yaml print the canonical YAML with the revision on stderr; bad -o exits 2" {
	run --separate-stderr "$OSHCTL" policy show "$MIN"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "version: 1" ]
	[[ $stderr =~ ^#\ revision\ [0-9a-f]{64}$ ]]
	local text=$output
	run --separate-stderr "$OSHCTL" -o json policy show "$MIN" -o yaml
	[ "$status" -eq 0 ]
	[ "$output" = "$text" ]
	run "$OSHCTL" policy show "$MIN" -o xml
	[ "$status" -eq 2 ]
	run "$OSHCTL" policy show "$BATS_TEST_TMPDIR/bad.yaml" -o json
	[ "$status" -eq 1 ]
}

@test "compile: examples/default.yaml as {revision, binaries, v4, v6, names, l7, fs}, as the text lists it" {
	run --separate-stderr "$OSHCTL" policy compile "$DEF"
	[ "$status" -eq 0 ]
	local text=$output
	run --separate-stderr "$OSHCTL" policy compile "$DEF" -o json
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	TEXT=$text check_json "
import os
t = os.environ['TEXT'].splitlines()
assert t[0] == 'revision ' + d['revision'], (t[0], d['revision'])
assert ['binary %d %s%s' % (b['index'], b['path'], ' (glob)' if b['glob'] else '') for b in d['binaries']] == [l for l in t if l.startswith('binary ')]
assert d['v4'] == [] and d['v6'] == []
assert [(n['name'], n['port'], n['kind'], n['binaries'], n['l7'], n['rule']) for n in d['names']] == [
    ('api.anthropic.com', 443, 'exact', '0x9', '0x0', 0),
    ('files.pythonhosted.org', 443, 'exact', '0x16', '0x16', 1),
    ('pypi.org', 443, 'exact', '0x16', '0x16', 1)], d['names']
assert [(l['policy'], l['host'], l['ports'], l['protocol'], l['access'], l['binaries']) for l in d['l7']] == [
    ('package_index', 'files.pythonhosted.org', [443], 'rest', 'read-only', '0x16'),
    ('package_index', 'pypi.org', [443], 'rest', 'read-only', '0x16')], d['l7']
fs = ['fs %s %s%s%s %s index=%d' % (f['path'], 'r' if f['read'] else '-', 'w' if f['write'] else '-', 'D' if f['deny'] else '-', f['kind'], f['index']) for f in d['fs']]
assert fs == [l for l in t if l.startswith('fs ')], fs
assert d['workdir'] is True and d['landlock'] == 'best_effort', d
assert d['process'] == {'run_as_user': 'sandbox', 'run_as_group': 'sandbox'}, d"
}

@test "compile: examples/minimal.yaml has no network entries; IP endpoints fill v4 and v6" {
	run --separate-stderr "$OSHCTL" -o json policy compile "$MIN"
	[ "$status" -eq 0 ]
	check_json "
assert d['revision'] == '$(text_revision "$MIN")', d
assert d['binaries'] == d['v4'] == d['v6'] == d['names'] == d['l7'] == [], d
assert [(f['path'], f['kind']) for f in d['fs']] == [('/bin', 'read_only'), ('/etc', 'read_only'), ('/lib', 'read_only'), ('/lib64', 'read_only'), ('/tmp', 'read_write'), ('/usr', 'read_only')], d['fs']
assert d['process'] == {'run_as_user': None, 'run_as_group': None}, d"
	run --separate-stderr "$OSHCTL" policy compile "$BATS_TEST_TMPDIR/ip.yaml" -o json
	[ "$status" -eq 0 ]
	check_json "
v4, v6 = d['v4'], d['v6']
assert [(e['cidr'], e['port'], e['proto'], e['binaries'], e['tls_skip']) for e in v4] == [('203.0.113.5/32', 443, 'tcp', '0x1', True)], v4
assert [(e['cidr'], e['port'], e['tls_skip']) for e in v6] == [('2001:db8::1/128', 5432, False)], v6
n = {e['name']: e for e in d['names']}
assert n['*.example.com']['kind'] == 'wildcard' and n['*.example.com']['allowed_ips'] == ['198.51.100.0/24'], n
assert n['api.example.com']['l7'] == '0x1' and n['api.example.com']['audit'] == '0x1', n
assert [(l['host'], l['rules'], l['deny_rules'], l['audit'], l['access']) for l in d['l7']] == [('api.example.com', 1, 0, True, None)], d['l7']
assert d['workdir'] is False, d"
	# an invalid policy: exit 1, nothing on stdout, the diagnostics on stderr
	run --separate-stderr "$OSHCTL" policy compile "$BATS_TEST_TMPDIR/bad.yaml" -o json
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ $stderr == *"bad.yaml:1:10: "* ]]
}

@test "diff: {changes, static, dynamic}; exit 1 when different, 0 when equal, as the text form" {
	run --separate-stderr "$OSHCTL" policy diff "$MIN" "$DEF" -o json
	[ "$status" -eq 1 ]
	check_json "
assert d['static'] == 2 and d['dynamic'] == 2, d
assert [(c['section'], c['key'], c['kind'], c['static']) for c in d['changes']] == [
    ('filesystem_policy', None, 'changed', True),
    ('process', None, 'changed', True),
    ('network_policies', 'model_api', 'added', False),
    ('network_policies', 'package_index', 'added', False)], d"
	run --separate-stderr "$OSHCTL" -o json policy diff "$DEF" "$MIN"
	[ "$status" -eq 1 ]
	check_json "assert [c['kind'] for c in d['changes'] if not c['static']] == ['removed', 'removed'], d"
	run --separate-stderr "$OSHCTL" -o json policy diff "$DEF" "$DEF"
	[ "$status" -eq 0 ]
	check_json "assert d == {'changes': [], 'static': 0, 'dynamic': 0}, d"
	# text form unchanged
	run --separate-stderr "$OSHCTL" policy diff "$MIN" "$DEF"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "static  changed filesystem_policy" ]
	[ "${lines[2]}" = "dynamic added   network_policies.model_api" ]
	[ "${lines[4]}" = "2 static, 2 dynamic change(s): the static ones need a new sandbox" ]
	run "$OSHCTL" policy diff "$MIN" -o json
	[ "$status" -eq 2 ]
}

@test "prove: the global -o json selects its JSON report; its own -o text still wins" {
	run --separate-stderr "$OSHCTL" -o json policy prove "$BATS_TEST_TMPDIR/ip.yaml"
	[ "$status" -eq 1 ]
	check_json "assert d['result'] == 'REVIEW' and d['unaccepted'] >= 1, d"
	run --separate-stderr "$OSHCTL" -o json policy prove "$BATS_TEST_TMPDIR/ip.yaml" -o text --compact
	[ "$status" -eq 1 ]
	[[ ${lines[-1]} == "REVIEW "*" findings" ]]
}

@test "usage: each verb has --help; a bad -o exits 2 for every command" {
	local verb
	for verb in validate show compile diff; do
		run --separate-stderr "$OSHCTL" policy "$verb" --help
		[ "$status" -eq 0 ]
		[[ $output == "usage: oshctl policy $verb "* ]]
	done
	run "$OSHCTL" doctor --help
	[ "$status" -eq 0 ]
	run "$OSHCTL" policy validate "$DEF" -o yaml
	[ "$status" -eq 2 ]
	run "$OSHCTL" policy compile "$DEF" -o xml
	[ "$status" -eq 2 ]
	run "$OSHCTL" doctor -o xml
	[ "$status" -eq 2 ]
	run "$OSHCTL" policy validate -o json
	[ "$status" -eq 2 ]
}

@test "doctor: {kernel, checks, ok} says line by line what the text form says, same exit code" {
	[ "$(id -u)" -eq 0 ] || skip "needs root: doctor's BPF probes load real programs"
	run --separate-stderr "$OSHCTL" doctor
	local text=$output text_status=$status
	run --separate-stderr "$OSHCTL" -o json doctor
	[ "$status" -eq "$text_status" ]
	TEXT=$text check_json "
import os
t = os.environ['TEXT'].splitlines()
assert t[0] == '%-22s %s' % ('kernel', d['kernel']), t[0]
lines = []
for c in d['checks']:
    assert set(c) == {'name', 'ok', 'detail', 'required'}, c
    assert isinstance(c['ok'], bool) and isinstance(c['required'], bool), c
    if c['name'].startswith('bpf program '):
        lines.append('  %-20s %s' % (c['name'][len('bpf program '):], c['detail']))
    else:
        lines.append('%-22s %s' % (c['name'], c['detail']))
assert lines == [l for l in t[1:] if l != 'bpf program types (loaded for real):'][:len(lines)], (lines, t)
assert len(lines) + 4 == len(t), (lines, t)
assert d['ok'] == all(c['ok'] for c in d['checks'] if c['required']) == (d['missing'] == 0), d
assert d['ok'] == t[-1].startswith('result                 ok'), t[-1]
names = [c['name'] for c in d['checks']]
for n in ('cgroup2', 'landlock', 'seccomp', 'bpf program cgroup_sock_addr', 'bpf-lsm fs programs'):
    assert n in names, names
# the keys scripts read before checks existed
assert isinstance(d['landlock_abi'], int) and 'cgroup_skb' in d['bpf_prog_types'], d"
	run --separate-stderr "$OSHCTL" doctor -o json
	[ "$status" -eq "$text_status" ]
	check_json "assert d['checks'] and d['kernel'], d"
}
