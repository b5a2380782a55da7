# SPDX-License-Identifier: Apache-2.0
# cgroup v2 helpers for end-to-end tests: find the cgroup2 mount, create a test cgroup
# (osh-test-<id>) recorded for teardown, move processes in. Teardown: cgroup_teardown.
#
#   cgroup_setup              -> CGROUP_ROOT (the cgroup2 mount), fails if there is none
#   cgroup_create [SUFFIX]    -> CGROUP_DIR=$CGROUP_ROOT/osh-test-<id>[-SUFFIX], recorded
#   cgroup_move PID [DIR]     write PID into DIR/cgroup.procs (DIR defaults to CGROUP_DIR)
#   cgroup_teardown           kill member processes by pid, rmdir; same as fakenet_teardown

# shellcheck source=tests/lib/osht.bash
source "$(dirname "${BASH_SOURCE[0]}")/osht.bash"

# cgroup_root: print the mount point of the cgroup2 hierarchy (hybrid hosts mount it at
# /sys/fs/cgroup/unified, others at /sys/fs/cgroup: never assume either).
cgroup_root() {
	local line mnt fstype
	while IFS= read -r line; do
		# mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER
		fstype=${line#* - }
		fstype=${fstype%% *}
		[ "$fstype" = cgroup2 ] || continue
		read -r _ _ _ _ mnt _ <<<"$line"
		printf '%b\n' "$mnt" # mountinfo escapes blanks as \040
		return 0
	done </proc/self/mountinfo
	echo "cgroup: no cgroup2 mount in /proc/self/mountinfo" >&2
	return 1
}

cgroup_setup() {
	CGROUP_ROOT=$(cgroup_root) || return
	osht_state_init
}

# cgroup_create [SUFFIX]: create an empty test cgroup directly under the cgroup2 mount. No
# controllers are enabled: BPF cgroup hooks and membership need none.
cgroup_create() {
	[ -n "${CGROUP_ROOT:-}" ] || cgroup_setup || return
	osht_state_init || return
	local dir=$CGROUP_ROOT/osh-test-$OSHT_ID${1:+-$1}
	osht_record cgroup "$dir" || return
	mkdir "$dir" || return
	CGROUP_DIR=$dir
}

# cgroup_move PID [DIR]: move process PID into DIR (default CGROUP_DIR).
cgroup_move() {
	local dir=${2:-${CGROUP_DIR:-}}
	[ -n "$dir" ] && [ -d "$dir" ] || osht_die "cgroup_move: no cgroup" || return
	echo "$1" >"$dir/cgroup.procs"
}

# cgroup_teardown: everything of this test goes, cgroups after their processes.
cgroup_teardown() {
	osht_teardown
}
