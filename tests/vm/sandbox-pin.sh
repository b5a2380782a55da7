# SPDX-License-Identifier: Apache-2.0
# VM test (busybox sh): BPF LSM pinned under a bpffs root, as oshd runs it across restarts
# (tests/helpers/sandbox-run, filesystem only). A sandboxed loop reads a deny path every 0.2 s;
# its creator exits (release) and the denial holds on the pinned links alone; removing the file
# hook's link pin lets it through (the pins are what enforces), adopting attaches it again and
# receives the loop's denial events; adopting with a policy without the deny lets the running
# loop read the file; destroy leaves no pin and no cgroup. A second sandbox is purged by name.
T=${TMPDIR:-/tmp}/osh-sbpin
ROOT=/sys/fs/bpf/osh-test-pin
NAME=osh-test-pin
CG=/sys/fs/cgroup/osh/$NAME
PA=$T/a.yaml
PB=$T/b.yaml
. "$(dirname "$0")/lib.sh"
adopter=

cleanup() {
	[ -n "$adopter" ] && kill "$adopter" 2>/dev/null
	for s in "$NAME" "$NAME-2"; do
		if [ -e "/sys/fs/cgroup/osh/$s" ]; then
			sandbox-run purge --bpffs "$ROOT" --name "$s" >/dev/null 2>&1
		fi
	done
	rm -rf "$ROOT" "$T"
}
trap cleanup EXIT

# seen WORD: the loop wrote WORD since the log was last emptied.
seen() {
	grep -qx "$1" "$T/loop.out"
}


rm -rf "$T" "$ROOT"
mkdir -p "$T/work/secret"
echo key >"$T/work/secret/key"
chmod -R a+rwX "$T"
policy() {
	cat <<EOF
version: 1
filesystem_policy:
  include_workdir: false
  read_only: [/bin, /lib, /lib64, /usr, /osh, /etc, /proc]
  read_write: [$T/work, /dev/null]
$1
landlock:
  compatibility: best_effort
process:
  run_as_user: 65534
  run_as_group: 65534
EOF
}
policy "  deny: [$T/work/secret]" >"$PA"
policy "" >"$PB"

echo "1..15"
sandbox-run create --bpffs "$ROOT" --policy "$PA" --name "$NAME" --no-net --workdir "$T/work" \
	--out "$T/loop.out" -- /bin/sh -c "while :; do if cat $T/work/secret/key >/dev/null 2>&1; \
then echo allowed; else echo denied; fi; sleep 0.2; done" >"$T/create.out" 2>"$T/create.err"
rc=$?
cat "$T/create.out" "$T/create.err" >&2
check "create with a bpffs root: bpf-lsm active, released (exit $rc)" \
	sh -c "[ $rc = 0 ] && grep -q 'bpf-lsm active' '$T/create.err' && grep -q released '$T/create.out'"
check "the fs programs, links, maps and the sandbox's record are pinned under $ROOT/fs" \
	sh -c "[ -e $ROOT/fs/osh_version ] && [ -e $ROOT/fs/osh_fs_sbx ] && [ -e $ROOT/fs/osh_fs_file_open ] &&
	[ -e $ROOT/fs/link_osh_fs_file_open ] && [ -e $ROOT/fs/sandboxes/$NAME ] && [ -e $ROOT/fs/osh_fs_events ]"
fresh 1.5
check "outside the sandbox the deny path is readable" grep -qx key "$T/work/secret/key"
check "the creator is gone and the loop is still denied the file (pinned links)" \
	sh -c "grep -qx denied '$T/loop.out' && ! grep -qx allowed '$T/loop.out'"

# The pins are what enforces: without the file_open link (nothing else holds it) the file is
# readable, since Landlock grants the whole read_write tree when BPF LSM is active.
rm "$ROOT/fs/link_osh_fs_file_open"
fresh 1.5
check "with the file_open link pin removed the loop reads the file (enforcement was the pin)" \
	seen allowed

sandbox-run adopt --bpffs "$ROOT" --policy "$PA" --name "$NAME" --no-net --workdir "$T/work" \
	--hold >"$T/adopt1.out" 2>"$T/adopt1.err" &
adopter=$!
wait_for "$T/adopt1.out" '^holding'
cat "$T/adopt1.err" >&2
check "adopt: bpf-lsm active again, the missing link attached and pinned again" \
	sh -c "grep -q 'bpf-lsm active' '$T/adopt1.err' && [ -e $ROOT/fs/link_osh_fs_file_open ]"
fresh 1.5
check "... the running loop is denied again" \
	sh -c "grep -qx denied '$T/loop.out' && ! grep -qx allowed '$T/loop.out'"
check "... and the adopter receives the loop's denial events" \
	wait_for "$T/adopt1.out" "^fsevent .*denied open-read of 'key'.*deny rule"
kill -TERM "$adopter"
wait "$adopter"
adopter=
check "the adopter released it on SIGTERM" grep -q '^released' "$T/adopt1.out"
fresh 1
check "... and the denial still holds" \
	sh -c "grep -qx denied '$T/loop.out' && ! grep -qx allowed '$T/loop.out'"

sandbox-run adopt --bpffs "$ROOT" --policy "$PB" --name "$NAME" --no-net --workdir "$T/work" \
	-- /bin/cat "$T/work/secret/key" >"$T/adopt2.out" 2>"$T/adopt2.err"
cat "$T/adopt2.out" "$T/adopt2.err" >&2
check "adopt with a policy without the deny: a new exec reads the file" \
	sh -c "grep -qx key '$T/adopt2.out' && grep -q 'exec exit 0' '$T/adopt2.out'"
fresh 1.5
check "... and the running loop reads it too (rules re-installed at adoption)" \
	sh -c "grep -qx allowed '$T/loop.out' && ! grep -qx denied '$T/loop.out'"

# purge by name: a second sandbox, released, removed without a struct
sandbox-run create --bpffs "$ROOT" --policy "$PA" --name "$NAME-2" --no-net --workdir "$T/work" \
	-- /bin/sleep 600 >/dev/null 2>"$T/create2.err"
sandbox-run purge --bpffs "$ROOT" --name "$NAME-2" >"$T/purge.out" 2>&1
cat "$T/create2.err" "$T/purge.out" >&2
check "purge removes the second sandbox's cgroup and record, the first one's stays" \
	sh -c "grep -q purged '$T/purge.out' && [ ! -e $ROOT/fs/sandboxes/$NAME-2 ] &&
	[ ! -e /sys/fs/cgroup/osh/$NAME-2 ] && [ -e $ROOT/fs/sandboxes/$NAME ]"

sandbox-run destroy --bpffs "$ROOT" --policy "$PB" --name "$NAME" --no-net --workdir "$T/work" \
	>"$T/destroy.out" 2>&1
cat "$T/destroy.out" >&2
check "destroy: the sandbox's cgroup is gone" \
	sh -c "grep -q destroyed '$T/destroy.out' && [ ! -e $CG ]"
check "destroy: no pin is left ($ROOT removed)" sh -c "[ ! -e $ROOT ]"
[ "$fails" -eq 0 ]
