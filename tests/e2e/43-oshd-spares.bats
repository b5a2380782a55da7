#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Spare sandboxes (docs/arch-daemon.md, "Spare sandboxes"): after an unnamed `oshctl run` through
# oshd ends, oshd makes the next one ahead, and the next run asking for the same takes it, but
# only if it is what a creation would make now. These tests change the filesystem between the
# runs so that a spare kept by mistake would show: a path that appeared, a path replaced by
# another directory (the spare's rule holds the old inode), an entry created beside a deny path
# (the spare's plan grants the siblings it listed). No network: the policy has no
# network_policies and the commands only read files. Spares get names oshd picks (osh-run-*);
# each is recorded for teardown from oshd's log, and oshd stops by its pid, which removes them.

bats_require_minimum_version 1.5.0

setup_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	local src o
	src=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	o=${O:-build}
	[[ $o == /* ]] || o=$src/$o
	export OSHCTL=$o/bin/oshctl OSHD=$o/bin/oshd
}

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (oshd: cgroups, BPF)"
	[ -x "$OSHCTL" ] || skip "oshctl not built: make O=${O:-build}"
	[ -x "$OSHD" ] || skip "oshd not built: make O=${O:-build}"
	load ../lib/fakenet.bash
	load ../lib/cgroup.bash
	load ../lib/oshd.bash
	oshd_init
	mkdir -p "$S/work" "$S/data" "$S/tree"
	echo one >"$S/data/f"
	echo kept >"$S/tree/a"
	echo secret >"$S/tree/secret"
	chown -R 65534:65534 "$S/work"
	chmod -R a+rX "$S"
	cat >"$S/p.yaml" <<-EOF
		version: 1
		filesystem_policy:
		  include_workdir: true
		  read_only: [/usr, /bin, /sbin, /lib, /lib64, /etc, /proc, $S/data, $S/later, $S/tree]
		  read_write: [/dev/null]
		  deny: [$S/tree/secret]
		landlock:
		  compatibility: best_effort
		process:
		  run_as_user: 65534
		  run_as_group: 65534
	EOF
	chmod 644 "$S/p.yaml"
}

teardown() {
	[ -n "${OSHT_STATE:-}" ] || return 0
	record_names
	oshd_delete_all
	osht_teardown
}

# record_names: records the cgroup of every sandbox oshd named (runs and spares) for teardown.
record_names() {
	local n
	[ -f "$S/oshd.log" ] || return 0
	for n in $(grep -o 'sandbox osh-run-[0-9a-f]*' "$S/oshd.log" | sort -u | cut -d' ' -f2); do
		grep -qx "cgroup $CG/$n" "$S/resources" || osht_record cgroup "$CG/$n"
	done
}

# srun CMD...: an unnamed `oshctl run` through oshd with the test policy.
srun() {
	"$OSHCTL" run -q --daemon --policy "$S/p.yaml" --workdir "$S/work" -- "$@"
}

spares() { "$OSHCTL" status -o json | json_get 'd["sandboxes"]["spare"]'; }
spare_made() { [ "$(spares)" = "$1" ]; }
# taken: how many creations took a spare so far.
taken() { grep -c 'a spare made before' "$S/oshd.log" || true; }

# needs_landlock_only: spares are for Landlock sandboxes (BPF LSM rules are never reused).
needs_landlock_only() {
	local out
	out=$("$OSHCTL" run --daemon --policy "$S/p.yaml" --workdir "$S/work" -- /bin/true 2>&1)
	record_names
	[[ $out != *bpf-lsm* ]] || skip "BPF LSM is active here: oshd makes no spares"
}

@test "spares: the next unnamed run takes the spare; named runs and the list never see one" {
	oshd_start
	needs_landlock_only
	osht_wait_for 10 spare_made 1
	[ "$(taken)" -eq 0 ]
	run -0 --separate-stderr srun /bin/cat "$S/data/f"
	[ "$output" = one ]
	[ "$(taken)" -eq 1 ]
	osht_wait_for 10 spare_made 1
	# Not listed, not reachable by its name; a named run neither takes nor makes one.
	run -0 "$OSHCTL" sandbox list -o json
	[ "$(sb_names <<<"$output" | wc -l)" -eq 0 ]
	local spare
	spare=$(grep -o 'spare sandbox osh-run-[0-9a-f]* made' "$S/oshd.log" | tail -1 | cut -d' ' -f3)
	run -1 "$OSHCTL" sandbox get "$spare"
	osht_record cgroup "$CG/$SB-named"
	run -0 "$OSHCTL" run -q --daemon --policy "$S/p.yaml" --name "$SB-named" \
		--workdir "$S/work" -- /bin/true
	[ "$(taken)" -eq 1 ]
	[ "$(spares)" -eq 1 ]
	# Another workdir is another request: a sandbox of its own, and a spare of its own after.
	run -0 "$OSHCTL" run -q --daemon --policy "$S/p.yaml" --workdir "$S" -- /bin/true
	[ "$(taken)" -eq 1 ]
	osht_wait_for 10 spare_made 2
	record_names
	# The deny path stays denied in a sandbox that was a spare.
	run -1 srun /bin/cat "$S/tree/secret"
	[ "$(taken)" -eq 2 ]
}

@test "spares: a path that appeared, a directory replaced, a new entry beside a deny path" {
	oshd_start
	needs_landlock_only
	osht_wait_for 10 spare_made 1
	# $S/later did not exist when the spare was made: the spare lacks its rule.
	mkdir "$S/later"
	echo later >"$S/later/f"
	chmod -R a+rX "$S/later"
	run -0 --separate-stderr srun /bin/cat "$S/later/f"
	[ "$output" = later ]
	[ "$(taken)" -eq 0 ]
	grep -q 'spare sandbox osh-run-[0-9a-f]* removed: the filesystem or the identity changed' \
		"$S/oshd.log"
	osht_wait_for 10 spare_made 1
	# $S/data replaced by another directory: the spare's rule holds the old one, now $S/old.
	mv "$S/data" "$S/old"
	mkdir "$S/data"
	echo two >"$S/data/f"
	chmod -R a+rX "$S/data"
	run -0 --separate-stderr srun /bin/cat "$S/data/f"
	[ "$output" = two ]
	# The spare the first run left, made once oshd has been quiet for a moment.
	osht_wait_for 10 spare_made 1
	run -1 srun /bin/cat "$S/old/f"
	[ "$(taken)" -eq 1 ] # the second of the two, made after the first
	osht_wait_for 10 spare_made 1
	# An entry created beside the deny path: Landlock grants the siblings one by one, and the
	# spare's plan did not list this one.
	echo new >"$S/tree/b"
	chmod a+r "$S/tree/b"
	run -0 --separate-stderr srun /bin/cat "$S/tree/b"
	[ "$output" = new ]
	run -1 srun /bin/cat "$S/tree/secret"
	record_names
}

@test "spares: removed when oshd stops; a crash's spare is removed at the next start" {
	oshd_start
	needs_landlock_only
	osht_wait_for 10 spare_made 1
	record_names
	local spare
	spare=$(grep -o 'spare sandbox osh-run-[0-9a-f]* made' "$S/oshd.log" | tail -1 | cut -d' ' -f3)
	[ -d "$CG/$spare" ]
	oshd_kill9
	[ -d "$CG/$spare" ]
	oshd_start
	[ ! -d "$CG/$spare" ]
	grep -q "sandbox $spare: creation was interrupted" "$S/oshd.log"
	run -0 srun /bin/true
	osht_wait_for 10 spare_made 1
	record_names
	spare=$(grep -o 'spare sandbox osh-run-[0-9a-f]* made' "$S/oshd.log" | tail -1 | cut -d' ' -f3)
	[ -d "$CG/$spare" ]
	kill -TERM "$OSHD_PID"
	osht_wait_for 10 oshd_gone
	[ ! -d "$CG/$spare" ]
	[ -z "$(find "$PIN" -name "$spare" 2>/dev/null)" ]
}

@test "spares: with every spare made, a young one keeps its place" {
	printf 'spare_sandboxes = 1\n' >"$S/oshd.conf"
	OSHD_CONFIG=$S/oshd.conf oshd_start
	needs_landlock_only
	osht_wait_for 10 spare_made 1
	# Another workdir, another request: its spare would push out the one just made.
	run -0 "$OSHCTL" run -q --daemon --policy "$S/p.yaml" --workdir "$S" -- /bin/true
	sleep 0.5
	[ "$(spares)" -eq 1 ]
	! grep -q 'room for a newer one' "$S/oshd.log"
	run -0 srun /bin/true
	[ "$(taken)" -eq 1 ]
	record_names
}

@test "spares: spare_sandboxes = 0 turns them off" {
	printf 'spare_sandboxes = 0\n' >"$S/oshd.conf"
	OSHD_CONFIG=$S/oshd.conf oshd_start
	run -0 srun /bin/true
	run -0 srun /bin/true
	sleep 0.5
	[ "$(spares)" -eq 0 ]
	[ "$(taken)" -eq 0 ]
	! grep -q 'spare sandbox' "$S/oshd.log"
	record_names
}
