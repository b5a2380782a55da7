# SPDX-License-Identifier: Apache-2.0
# VM test (busybox sh): BPF LSM pins removed by an admin while a process holds the sandbox, as
# oshd's pins check sees it (osh_sandbox_pins_check; tests/helpers/sandbox-run --hold restores on
# SIGUSR1). A sandboxed loop reads a deny path every 0.2 s. `rm -r ROOT/fs` under the process
# that loaded the programs: the denial holds (its descriptors keep the links), the pins come
# back on the check, and after the process released it the restored pins alone keep denying.
# The same with `rm -r ROOT` under a process that adopted the sandbox (it took the links from
# the pins). The egress side is tests/e2e/47-oshd-faults.bats (host kernel).
T=${TMPDIR:-/tmp}/osh-sbrest
ROOT=/sys/fs/bpf/osh-test-rest
NAME=osh-test-rest
CG=/sys/fs/cgroup/osh/$NAME
PA=$T/a.yaml
. "$(dirname "$0")/lib.sh"
holder=

cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	if [ -e "$CG" ]; then
		sandbox-run purge --bpffs "$ROOT" --name "$NAME" >/dev/null 2>&1
	fi
	rm -rf "$ROOT" "$T"
}
trap cleanup EXIT

# denied: the loop was denied the file since the log was emptied, and never allowed.
denied() {
	grep -qx denied "$T/loop.out" && ! grep -qx allowed "$T/loop.out"
}


# pins_back: the BPF LSM pins of the root and of the sandbox are all there.
pins_back() {
	[ -e "$ROOT/fs/osh_version" ] && [ -e "$ROOT/fs/osh_fs_sbx" ] &&
		[ -e "$ROOT/fs/osh_fs_file_open" ] && [ -e "$ROOT/fs/link_osh_fs_file_open" ] &&
		[ -e "$ROOT/fs/sandboxes/$NAME" ]
}

# stop_holder FILE: SIGTERM to the holding process, which releases the sandbox.
stop_holder() {
	kill -TERM "$holder"
	wait "$holder"
	holder=
	grep -q '^released' "$1"
}

rm -rf "$T" "$ROOT"
mkdir -p "$T/work/secret"
echo key >"$T/work/secret/key"
chmod -R a+rwX "$T"
cat >"$PA" <<EOF
version: 1
filesystem_policy:
  include_workdir: false
  read_only: [/bin, /lib, /lib64, /usr, /osh, /etc, /proc]
  read_write: [$T/work, /dev/null]
  deny: [$T/work/secret]
landlock:
  compatibility: best_effort
process:
  run_as_user: 65534
  run_as_group: 65534
EOF

echo "1..9"
sandbox-run create --bpffs "$ROOT" --policy "$PA" --name "$NAME" --no-net --workdir "$T/work" \
	--out "$T/loop.out" --hold -- /bin/sh -c "while :; do if cat $T/work/secret/key \
>/dev/null 2>&1; then echo allowed; else echo denied; fi; sleep 0.2; done" \
	>"$T/create.out" 2>"$T/create.err" &
holder=$!
wait_for "$T/create.out" '^holding'
cat "$T/create.err" >&2
fresh 1
check "create (holding): bpf-lsm active, pinned, the loop is denied the file" \
	sh -c "grep -q 'bpf-lsm active' '$T/create.err' && [ -e $ROOT/fs/link_osh_fs_file_open ] &&
	grep -qx denied '$T/loop.out' && ! grep -qx allowed '$T/loop.out'"

rm -r "$ROOT/fs"
fresh 1.5
check "fs/ removed under the process that loaded it: still denied (its descriptors hold the links)" \
	denied
kill -USR1 "$holder"
wait_for "$T/create.out" '^pins '
cat "$T/create.out" >&2
check "the check restores fs/ and the sandbox's record from the descriptors" \
	sh -c "grep -q '^pins [1-9][0-9]* restored: fs/' '$T/create.out' && [ -e $ROOT/fs/osh_version ] &&
	[ -e $ROOT/fs/link_osh_fs_file_open ] && [ -e $ROOT/fs/sandboxes/$NAME ]"
check "the holder releases it" stop_holder "$T/create.out"
fresh 1.5
check "... and the restored pins alone keep denying" denied

sandbox-run adopt --bpffs "$ROOT" --policy "$PA" --name "$NAME" --no-net --workdir "$T/work" \
	--hold >"$T/adopt.out" 2>"$T/adopt.err" &
holder=$!
wait_for "$T/adopt.out" '^holding'
cat "$T/adopt.err" >&2
rm -r "$ROOT"
fresh 1.5
check "the whole root removed under a process that adopted it: still denied" denied
kill -USR1 "$holder"
wait_for "$T/adopt.out" '^pins '
cat "$T/adopt.out" >&2
check "the check restores the root from the descriptors taken at adoption" pins_back
check "the adopter releases it" stop_holder "$T/adopt.out"
fresh 1.5
check "... and the restored pins alone keep denying" denied
[ "$fails" -eq 0 ]
