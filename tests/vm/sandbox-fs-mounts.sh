# SPDX-License-Identifier: Apache-2.0
# VM test (busybox sh): the BPF LSM walk across mounts, with the real `oshctl run` (BPF LSM +
# Landlock; Landlock gets the allowed trees whole, so every denial here is the BPF program's,
# and each brings an `osh: denied` event line). The walk reads a mount's root, parent,
# mountpoint and device once per mount; these cases fail if a level is looked up with the wrong
# mount's device or a crossing is missed: a deny dir reached through a bind mount of its
# parent tree outside every rule and through a bind mount of itself inside the read-write tree,
# a file on a mount inside the deny dir, a mount over the deny dir made after the start, and a
# mount inside the read-write tree (allowed). Then the same mounts under a policy without deny
# rules, where the walk stops at the first rule it meets: everything there is readable.
T=${TMPDIR:-/tmp}/osh-sbmnt
P=$T/policy.yaml
. "$(dirname "$0")/lib.sh"

# run CMD: sh -c CMD in a sandbox as nobody; stdout to $T/out, stderr to $T/err. Background.
run() {
	echo "sandbox-fs-mounts: run $1" >&2
	timeout 30 oshctl run --policy "$P" --name osh-test-sbmnt -- /bin/sh -c "$1" >"$T/out" 2>"$T/err"
}

cleanup() {
	for m in "$T/other/w" "$T/work/pub" "$T/work/secret" "$T/work/secret/m" "$T/work/mnt"; do
		while grep -q " $m " /proc/mounts 2>/dev/null; do
			umount "$m" 2>/dev/null || break
		done
	done
	rm -rf "$T"
	rmdir /sys/fs/cgroup/osh/osh-test-sbmnt 2>/dev/null
}
trap cleanup EXIT

# events NAME: how many `osh: denied open-read of 'NAME'` lines the last run printed.
events() {
	grep -c "osh: denied open-read of '$1'" "$T/err"
}

policy() {
	cat >"$P" <<EOF
version: 1
filesystem_policy:
  include_workdir: false
  read_only: [/bin, /lib, /lib64, /usr, /osh, /etc, /proc, /dev/null]
  read_write: [$T/work]
$1
landlock:
  compatibility: best_effort
process:
  run_as_user: 65534
  run_as_group: 65534
EOF
}

rm -rf "$T"
mkdir -p "$T/work/secret/m" "$T/work/pub" "$T/work/mnt" "$T/other/w"
echo key >"$T/work/secret/key"
echo hello >"$T/work/hello"
mount -t tmpfs osh-test "$T/work/secret/m" && echo inner >"$T/work/secret/m/f"
mount -t tmpfs osh-test "$T/work/mnt" && echo gee >"$T/work/mnt/g"
mount -o bind "$T/work/secret" "$T/work/pub"
mount -o bind "$T/work" "$T/other/w"
chmod -R a+rwX "$T"

echo "1..9"
check "outside the sandbox every name is readable (bind mounts, the mount in the deny dir)" \
	sh -c "grep -qx key '$T/other/w/secret/key' && grep -qx key '$T/work/pub/key' &&
		grep -qx inner '$T/work/secret/m/f' && grep -qx gee '$T/work/mnt/g'"

policy "  deny: [$T/work/secret]"
run "cat $T/work/hello $T/other/w/hello $T/work/mnt/g; cat $T/other/w/secret/key; \
cat $T/work/pub/key; cat $T/work/secret/m/f; echo mounted-over-next; \
while [ ! -e $T/work/go ]; do sleep 0.1; done; cat $T/work/secret/late" &
pid=$!
# The deny dir mounted over while the sandbox runs: the rule names the covered directory.
i=0
while [ $i -lt 300 ] && ! grep -q mounted-over-next "$T/out" 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
grep -q mounted-over-next "$T/out" && mount -t tmpfs osh-test "$T/work/secret" &&
	echo late >"$T/work/secret/late" && chmod a+r "$T/work/secret/late"
touch "$T/work/go"
wait "$pid"
echo "sandbox-fs-mounts: rc $?" >&2
cat "$T/err" >&2
check "the rw tree is readable directly, through a bind mount outside every rule and on a mount inside it" \
	test "$(grep -c -e '^hello$' -e '^gee$' "$T/out")" = 3
check "the deny dir through a bind mount of its parent tree: refused" \
	sh -c "! grep -q key '$T/out'"
check "the deny dir through a bind mount of itself inside the rw tree: refused (2 events for key)" \
	test "$(events key)" = 2
check "a file on a mount inside the deny dir: refused with an event" \
	sh -c "! grep -q inner '$T/out' && test \$(grep -c \"osh: denied open-read of 'f'\" '$T/err') = 1"
check "the deny dir mounted over after the start: refused with an event" \
	sh -c "! grep -q late '$T/out' && test \$(grep -c \"osh: denied open-read of 'late'\" '$T/err') = 1"

# Without deny rules the walk stops at the first rule: the same names all read.
umount "$T/work/secret"
policy ""
run "cat $T/work/hello $T/other/w/hello $T/work/mnt/g $T/other/w/secret/key $T/work/pub/key \
$T/work/secret/m/f"
cat "$T/err" >&2
check "no deny rules: every name of the rw tree reads" \
	test "$(grep -c -e '^hello$' -e '^gee$' -e '^key$' -e '^inner$' "$T/out")" = 6
check "no deny rules: no denial events" sh -c "! grep -q 'osh: denied' '$T/err'"
run "cat $T/other/w/../../work/hello; echo x >$T/work/new && cat $T/work/new; grep -q root /etc/passwd && echo etc"
cat "$T/out" "$T/err" >&2
check "no deny rules: .. out of a bind mount, a write in the rw tree and a read-only tree" \
	test "$(grep -c -e '^hello$' -e '^x$' -e '^etc$' "$T/out")" = 3
[ "$fails" -eq 0 ]
