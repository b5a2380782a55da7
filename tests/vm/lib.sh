# SPDX-License-Identifier: Apache-2.0
# Sourced by the VM test scripts (busybox sh): the TAP counters and the helpers they share.
# scripts/vm/build-initramfs.sh ships it next to them as /osh/vm/lib.sh.
n=0
fails=0

# check DESC CMD...: one TAP line, ok when CMD succeeds.
check() {
	desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		fails=$((fails + 1))
	fi
}

# fresh SECONDS: empties $T/loop.out (a loop's log; it appends, so truncation is safe) and waits.
fresh() {
	: >"$T/loop.out"
	sleep "$1"
}

# wait_for FILE PATTERN: up to 10 s.
wait_for() {
	i=0
	while [ $i -lt 50 ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}
