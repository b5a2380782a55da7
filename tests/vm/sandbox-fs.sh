# SPDX-License-Identifier: Apache-2.0
# VM test (busybox sh): the real `oshctl run` with BPF LSM and Landlock together. The sandbox
# reports bpf-lsm active; deny paths inside an allowed tree are exact (the tree stays writable,
# the deny path is refused through any name, also for entries created later); each denial
# brings an `osh: denied ...` event line; without BPF LSM (the measurement switch) the same
# policy falls back to Landlock's carve-out.
T=${TMPDIR:-/tmp}/osh-sbfs
P=$T/policy.yaml
. "$(dirname "$0")/lib.sh"

# run CMD: sh -c CMD in a sandbox as nobody; stdout to $T/out, stderr to $T/err.
run() {
	echo "sandbox-fs: run $1" >&2
	timeout 20 oshctl run --policy "$P" --name osh-test-sbfs -- /bin/sh -c "$1" >"$T/out" 2>"$T/err"
	echo "sandbox-fs: rc $?" >&2
	cat "$T/err" >&2
}

rm -rf "$T"
mkdir -p "$T/work/secret" "$T/work/sub" "$T/other"
echo key >"$T/work/secret/key"
echo TOKEN=1 >"$T/work/.env"
echo hello >"$T/work/hello"
echo other >"$T/other/file"
ln -s secret/key "$T/work/key-link"
chmod -R a+rwX "$T"
trap 'rm -rf "$T"; rmdir /sys/fs/cgroup/osh/osh-test-sbfs 2>/dev/null' EXIT
cat >"$P" <<EOF
version: 1
filesystem_policy:
  include_workdir: false
  read_only: [/bin, /lib, /lib64, /usr, /osh, /etc, /proc, /dev/null]
  read_write: [$T/work]
  deny: [$T/work/secret, $T/work/.env]
landlock:
  compatibility: best_effort
process:
  run_as_user: 65534
  run_as_group: 65534
EOF

echo "1..13"
run "cat $T/work/hello"
check "the sandbox starts and reads an allowed file" grep -qx hello "$T/out"
check "the start-up line says bpf-lsm is active" grep -q '^osh: sandbox .*bpf-lsm active' "$T/err"
check "the deny report says exact" grep -q "deny $T/work/secret: exact (bpf-lsm" "$T/err"

# baseline outside: everything below works without the sandbox
check "outside the sandbox the deny path is readable" grep -qx key "$T/work/secret/key"

run "cat $T/work/secret/key"
check "deny dir inside the rw tree: read refused" \
	sh -c "! grep -q key '$T/out' && grep -q 'Permission denied' '$T/err'"
check "... with one denial event naming the file" \
	test "$(grep -c "osh: denied open-read of 'key'" "$T/err")" = 1
run "cat $T/work/key-link; cat $T/work/../work/secret/key; cat /proc/self/root$T/work/secret/key"
check "... also through a symlink, .. and /proc/self/root (3 events)" \
	sh -c "! grep -q key '$T/out' && test \$(grep -c 'osh: denied open-read' '$T/err') = 3"
run "cat $T/work/.env"
check "deny file inside the rw tree: read refused with an event" \
	sh -c "! grep -q TOKEN '$T/out' && grep -q \"osh: denied open-read of '.env'\" '$T/err'"
run "echo x > $T/work/secret/new"
check "creating inside the deny dir is refused with an event" \
	sh -c "test ! -e '$T/work/secret/new' && grep -q \"osh: denied create of 'new'\" '$T/err'"
run "echo new > $T/work/created && cat $T/work/created && ls $T/work"
check "the rest of the tree stays exact: create, read back, list" \
	sh -c "grep -qx new '$T/out' && grep -qx hello '$T/out'"
run "cat $T/other/file"
check "a path outside every rule is refused" \
	sh -c "! grep -q other '$T/out' && grep -q 'Permission denied' '$T/err'"
check "oshctl doctor: the bpf-lsm fs programs are usable" \
	sh -c "oshctl doctor | grep -q '^bpf-lsm fs programs *usable'"
n=$((n + 1))
if [ -e /sys/fs/cgroup/osh/osh-test-sbfs ]; then
	echo "not ok $n - the sandbox cgroup is removed after the run"
	fails=$((fails + 1))
else
	echo "ok $n - the sandbox cgroup is removed after the run"
fi
[ "$fails" -eq 0 ]
