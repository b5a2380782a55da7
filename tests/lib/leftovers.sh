#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# TAP check that a test run left nothing on the machine: test network namespaces (osht-*),
# cgroups (osh-test*), bpffs pins (/sys/fs/bpf/osh-test*), processes started from the build's
# test helpers or by the e2e harness (tests/lib/osht.bash), and the harness's files
# (/etc/netns/osht-*, state dirs /tmp/osht-*, tmux sockets osh-test-tmux-*). Test resources are
# named with these prefixes so this can find them.
set -u
O=${O:-build}
echo "1..5"

ns=$(ip netns list 2>/dev/null | awk '$1 ~ /^osht-/ {print $1}' | tr '\n' ' ')
if [ -z "$ns" ]; then echo "ok 1 - no test network namespace left"
else echo "not ok 1 - test network namespaces left: $ns"; fi

cg=""
while read -r _ _ _ _ mnt _ _ fstype _; do
	[ "$fstype" = cgroup2 ] || continue
	cg+=$(find "$mnt" -mindepth 1 -maxdepth 3 -type d -name 'osh-test*' 2>/dev/null | tr '\n' ' ')
done < <(sed 's/ - / /' /proc/self/mountinfo)
if [ -z "$cg" ]; then echo "ok 2 - no test cgroup left"
else echo "not ok 2 - test cgroups left: $cg"; fi

pins=$(find /sys/fs/bpf -maxdepth 1 -name 'osh-test*' 2>/dev/null | tr '\n' ' ')
if [ -z "$pins" ]; then echo "ok 3 - no test bpffs pin left"
else echo "not ok 3 - test bpffs pins left: $pins"; fi

absO=$(cd "$O" 2>/dev/null && pwd)
procs=$(pgrep -a -f "${absO:-/nonexistent}/tests/|osht-|qemu-system.*osh-vm" 2>/dev/null | grep -v "^$$ " | grep -v pgrep || true)
# The harness starts every server with its cwd in the test's state dir: that finds them (and
# anything they started) even when their command line does not say osht-.
for d in /proc/[0-9]*; do
	cwd=$(readlink "$d/cwd" 2>/dev/null) || continue
	case "$cwd" in
	/tmp/osht-*)
		grep -q "^${d#/proc/} " <<<"$procs" && continue
		procs+=$'\n'"${d#/proc/} (cwd $cwd) $(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)"
		;;
	esac
done
procs=$(echo "$procs" | sed '/^$/d')
if [ -z "$procs" ]; then echo "ok 4 - no test process left"
else echo "not ok 4 - test processes left:"; echo "$procs" | sed 's/^/# /'; fi

files=$(ls -d /etc/netns/osht-* /tmp/osht-* "${TMUX_TMPDIR:-/tmp}"/tmux-*/osh-test-tmux-* \
	2>/dev/null | tr '\n' ' ')
if [ -z "$files" ]; then echo "ok 5 - no test namespace config, harness state dir or tmux socket left"
else echo "not ok 5 - test files left: $files"; fi
