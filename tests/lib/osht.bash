# SPDX-License-Identifier: Apache-2.0
# Per-test resource registry of the end-to-end harness, shared by fakenet.bash and cgroup.bash:
# every process, network namespace, cgroup and path a test creates is recorded in its state dir
# first, so one idempotent teardown removes them - also after a failure, an interrupt or a kill.
#
# Variables set by osht_state_init (in the test's own shell, never in a subshell):
#   OSHT_ID     unique id of this test's resources (hex of the test shell's pid + random)
#   OSHT_STATE  /tmp/osht-$OSHT_ID, the state dir (resources file, logs, certificates)
# Optional: OSHT_LEDGER=FILE makes every recorded resource also appended to FILE, so a later
# test can check that all of them are gone.

OSHT_LIB=${OSHT_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
OSHT_ROOT=${OSHT_ROOT:-$(cd "$OSHT_LIB/../.." && pwd)}

# osht_helper NAME: absolute path of the test helper binary NAME in the build dir ($O, relative
# to the source tree unless absolute); fails with a hint when it was not built.
osht_helper() {
	local o=${O:-build} p
	[[ $o == /* ]] || o=$OSHT_ROOT/$o
	p=$o/tests/helpers/$1
	[ -x "$p" ] || osht_die "$p is missing: build it with make O=${O:-build} all" || return
	echo "$p"
}

osht_die() {
	echo "osht: $*" >&2
	return 1
}

# _osht_stat PID: sets _osht_pgrp, _osht_start and _osht_pstate from /proc/PID/stat; fails if
# the process does not exist. The comm field may hold spaces, so split after its last ')'.
_osht_stat() {
	local line
	read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	line=${line##*) }
	# shellcheck disable=SC2086
	set -- $line
	_osht_pstate=$1 _osht_pgrp=$3 _osht_start=${20}
}

# _osht_alive PID START: the process PID exists, is not a zombie, and is the one that was
# recorded (same start time), so a reused pid is never killed.
_osht_alive() {
	_osht_stat "$1" || return 1
	[ "$_osht_start" = "$2" ] && [ "$_osht_pstate" != Z ] && [ "$_osht_pstate" != X ]
}

# osht_record KIND VALUE...: remember a resource for teardown (kinds: pid, guard, cgroup,
# netns, mount, path; a mount is unmounted before any path is removed). Record before creating,
# so an interrupt in between still cleans it up.
osht_record() {
	[ -n "${OSHT_STATE:-}" ] && [ -d "$OSHT_STATE" ] || osht_die "osht_record: no state dir" || return
	echo "$*" >>"$OSHT_STATE/resources"
	if [ -n "${OSHT_LEDGER:-}" ]; then echo "$*" >>"$OSHT_LEDGER"; fi
}

# osht_state_init: create this test's state dir and start its guard. Idempotent.
osht_state_init() {
	if [ -n "${OSHT_STATE:-}" ] && [ -d "$OSHT_STATE" ]; then return 0; fi
	# Variables set in a subshell would be lost and the next call would start a second state.
	[ "$BASHPID" = "$$" ] || osht_die "osht_state_init must run in the test's shell, not a subshell" || return
	OSHT_ID=$(printf '%x%04x' "$$" "$((RANDOM))")
	OSHT_STATE=/tmp/osht-$OSHT_ID
	mkdir -m 0755 "$OSHT_STATE" || return
	: >"$OSHT_STATE/resources"
	if [ -n "${OSHT_LEDGER:-}" ]; then echo "path $OSHT_STATE" >>"$OSHT_LEDGER"; fi
	_osht_guard_start || return
	_osht_traps
}

# The guard is a detached watcher (own session, so a Ctrl-C to the test's process group does not
# reach it): when the test's shell dies without tearing down - SIGKILL, a broken pipe - it runs
# the teardown of the state dir. Under bats it also watches the bats process the run started
# from: when that is killed alone (timeout(1) does this), the test shell can stay blocked in a
# foreground command for long, so the guard ends it and cleans up. A normal teardown stops it.
_osht_guard_start() {
	local -a bats_root=()
	_osht_stat "$$" || return
	local owner_start=$_osht_start
	if [ -n "${BATS_ROOT_PID:-}" ]; then
		# A test starting after bats was killed would never be torn down by bats.
		_osht_stat "$BATS_ROOT_PID" || osht_die "bats ($BATS_ROOT_PID) is gone: run aborted" ||
			return
		bats_root=("$BATS_ROOT_PID" "$_osht_start")
	fi
	osht_spawn_raw guard bash "$OSHT_LIB/osht.bash" --guard "$$" "$owner_start" "$OSHT_STATE" \
		"${bats_root[@]}" || return
	osht_record guard "$_osht_spawned_pid" "$_osht_spawned_start"
}

# Under bats, SIGINT is bats' own: it marks the test interrupted and runs teardown through its
# EXIT trap. bats does not handle SIGTERM/SIGHUP; turning them into `exit` gets the same teardown.
# Outside bats (a plain script sourcing this), the signals and EXIT run the teardown directly.
_osht_traps() {
	if [ -n "${BATS_TEST_FILENAME:-}" ]; then
		trap 'exit 143' TERM
		trap 'exit 129' HUP
	else
		trap 'osht_teardown; exit 130' INT
		trap 'osht_teardown; exit 143' TERM
		trap 'osht_teardown; exit 129' HUP
		if [ -z "$(trap -p EXIT)" ]; then trap 'osht_teardown' EXIT; fi
	fi
}

# osht_spawn_raw NAME CMD...: start CMD detached in its own session and process group, cwd in the
# state dir, stdio on $OSHT_STATE/NAME.log, no inherited descriptors (bats waits for its pipes to
# close, so a server holding one would hang the run). Sets _osht_spawned_pid/_start. Does not
# record: callers record the pid under the kind they mean.
osht_spawn_raw() {
	local name=$1
	shift
	(
		cd "$OSHT_STATE" || exit 1
		for fd in "/proc/$BASHPID/fd/"*; do
			fd=${fd##*/}
			if ((fd > 2)); then eval "exec $fd>&-"; fi
		done
		# Not a process group leader, so setsid(1) calls setsid() and execs: $! is CMD's pid.
		exec setsid "$@" </dev/null >>"$OSHT_STATE/$name.log" 2>&1
	) &
	_osht_spawned_pid=$!
	local i
	for ((i = 0; i < 50; i++)); do
		if _osht_stat "$_osht_spawned_pid" && [ "$_osht_pgrp" = "$_osht_spawned_pid" ]; then
			_osht_spawned_start=$_osht_start
			return 0
		fi
		sleep 0.02
	done
	osht_die "spawn $name: process $_osht_spawned_pid did not start (see $OSHT_STATE/$name.log)"
}

# osht_spawn NAME CMD...: osht_spawn_raw and record the process for teardown.
osht_spawn() {
	osht_spawn_raw "$@" || return
	osht_record pid "$_osht_spawned_pid" "$_osht_spawned_start"
}

# osht_wait_for SECONDS CMD...: poll CMD every 50 ms until it succeeds; fail after SECONDS, or at
# once when CMD returns 2 (it knows waiting cannot help, e.g. the server died).
osht_wait_for() {
	local deadline=$((SECONDS + $1)) n=0 rc
	shift
	while true; do
		"$@" && return 0
		rc=$?
		if ((rc == 2)); then return 1; fi
		if ((SECONDS >= deadline && n > 0)); then return 1; fi
		n=$((n + 1))
		sleep 0.05
	done
}

# _osht_kill PID:START...: TERM each process (its whole group when it leads one), all at once,
# then KILL whatever still runs after 3 s. Processes that are gone or whose pid now belongs to
# another process are left alone.
_osht_kill() {
	local p pid start i left
	local -a live=()
	for p in "$@"; do
		pid=${p%%:*} start=${p##*:}
		_osht_alive "$pid" "$start" || continue
		live+=("$p")
		if [ "$_osht_pgrp" = "$pid" ]; then kill -TERM -- "-$pid" 2>/dev/null; fi
		kill -TERM -- "$pid" 2>/dev/null
	done
	for ((i = 0; i < 100 && ${#live[@]} > 0; i++)); do
		left=()
		for p in "${live[@]}"; do
			if _osht_alive "${p%%:*}" "${p##*:}"; then left+=("$p"); fi
		done
		live=("${left[@]}")
		((${#live[@]} == 0)) && return 0
		if ((i == 60)); then
			for p in "${live[@]}"; do
				pid=${p%%:*}
				_osht_alive "$pid" "${p##*:}" || continue
				if [ "$_osht_pgrp" = "$pid" ]; then kill -KILL -- "-$pid" 2>/dev/null; fi
				kill -KILL -- "$pid" 2>/dev/null
			done
		fi
		sleep 0.05
	done
	((${#live[@]} == 0)) || echo "osht: processes survived SIGKILL: ${live[*]}" >&2
	((${#live[@]} == 0))
}

# _osht_kill_pids PID...: kill unrecorded processes found in a namespace or cgroup, by pid.
_osht_kill_pids() {
	local pid
	local -a targets=()
	for pid in "$@"; do
		[ "$pid" = "$$" ] && continue
		if _osht_stat "$pid"; then targets+=("$pid:$_osht_start"); fi
	done
	((${#targets[@]} == 0)) || _osht_kill "${targets[@]}"
}

# _osht_children PID: print PID:START of each direct child of PID, except the caller (the guard
# is a child of the test shell it watches).
_osht_children() {
	local f line
	local -a st
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		read -r -a st <<<"${line##*) }"
		f=${f#/proc/}
		if [ "${st[1]}" = "$1" ] && [ "${f%/stat}" != "$$" ]; then
			echo "${f%/stat}:${st[19]}"
		fi
	done
}

# _osht_cgroup_remove DIR: empty every cgroup below DIR (deepest first) by killing its members
# by pid, then rmdir it.
_osht_cgroup_remove() {
	local dir=$1 d i
	[ -d "$dir" ] || return 0
	while IFS= read -r d; do
		for ((i = 0; i < 20; i++)); do
			# shellcheck disable=SC2046
			_osht_kill_pids $(cat "$d/cgroup.procs" 2>/dev/null)
			rmdir "$d" 2>/dev/null && break
			sleep 0.1
		done
		[ -d "$d" ] && echo "osht: cannot remove cgroup $d" >&2
	done < <(find "$dir" -depth -type d)
	[ ! -d "$dir" ]
}

# osht_teardown_state DIR: remove everything recorded in state dir DIR, then DIR. Idempotent;
# returns non-zero if something could not be removed. Safe to run from the guard.
osht_teardown_state() {
	local state=$1 kind a b rc=0 self=${2:-}
	local -a lines=() pids=()
	[ -n "$state" ] && [ -d "$state" ] || return 0
	[ -f "$state/resources" ] && mapfile -t lines <"$state/resources"
	# Stop the guard first so it does not race this teardown (unless we are the guard).
	for line in "${lines[@]}"; do
		read -r kind a b <<<"$line"
		if [ "$kind" = guard ] && [ "$self" != guard ]; then _osht_kill "$a:$b" || rc=1; fi
	done
	for line in "${lines[@]}"; do
		read -r kind a b <<<"$line"
		if [ "$kind" = pid ]; then pids+=("$a:$b"); fi
	done
	((${#pids[@]} == 0)) || _osht_kill "${pids[@]}" || rc=1
	for line in "${lines[@]}"; do
		read -r kind a b <<<"$line"
		if [ "$kind" = cgroup ]; then _osht_cgroup_remove "$a" || rc=1; fi
	done
	for line in "${lines[@]}"; do
		read -r kind a b <<<"$line"
		[ "$kind" = netns ] || continue
		[ -e "/run/netns/$a" ] || continue
		# Whatever still runs inside (a client the test left behind) would keep it alive.
		# shellcheck disable=SC2046
		_osht_kill_pids $(ip netns pids "$a" 2>/dev/null)
		ip netns delete "$a" || rc=1
	done
	for line in "${lines[@]}"; do
		read -r kind a b <<<"$line"
		[ "$kind" = mount ] && mountpoint -q -- "$a" || continue
		umount -- "$a" 2>/dev/null || umount -l -- "$a" || rc=1
	done
	for line in "${lines[@]}"; do
		read -r kind a b <<<"$line"
		if [ "$kind" = path ]; then rm -rf -- "$a" || rc=1; fi
	done
	if ((rc == 0)); then rm -rf -- "$state"; fi
	return $rc
}

# osht_teardown: tear down the current test's state (everything fakenet/cgroup helpers created).
osht_teardown() {
	[ -n "${OSHT_STATE:-}" ] || return 0
	osht_teardown_state "$OSHT_STATE" || return
	unset OSHT_STATE OSHT_ID
}

# Guard mode: bash osht.bash --guard OWNER_PID OWNER_START STATE [ROOT_PID ROOT_START]
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = --guard ]; then
	g_owner=$2 g_owner_start=$3 g_state=$4 g_root=${5:-} g_root_start=${6:-}
	while _osht_alive "$g_owner" "$g_owner_start"; do
		if [ -n "$g_root" ] && ! _osht_alive "$g_root" "$g_root_start"; then
			echo "osht guard: bats ($g_root) is gone; ending test shell $g_owner" >&2
			# Its foreground command too: it holds bats' output pipe open.
			# shellcheck disable=SC2046 # one PID:START per word
			_osht_kill "$g_owner:$g_owner_start" $(_osht_children "$g_owner")
			break
		fi
		sleep 0.5
	done
	if [ -d "$g_state" ]; then
		echo "osht guard: test process $g_owner died without teardown; cleaning $g_state" >&2
		# Tests of the harness check who cleaned up.
		if [ -n "${OSHT_LEDGER:-}" ]; then echo "guard-cleaned $g_state" >>"$OSHT_LEDGER"; fi
		osht_teardown_state "$g_state" guard
	fi
	exit 0
fi
