#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# THREATS.md "Filesystem" 14-17: the agent's secrets (~/.ssh/id_rsa and ~/.env, denied inside
# the read-only home; secrets/aws, in no list) read through every name, read-only files written
# through every operation, descriptors from before the start, and the environment. Each attempt
# works outside the sandbox as the sandbox's own user (DAC allows it: only the policy decides),
# and fails inside. Landlock reports nothing on this kernel, so the errno is the record; where
# Landlock alone does not cover an operation (docs/arch-sandbox.md), the fallback is checked.

bats_require_minimum_version 1.5.0

setup_file() {
	load lib.bash
	attacks_setup_file
}

teardown_file() {
	load lib.bash
	attacks_teardown_file
}

setup() {
	load lib.bash
	attacks_setup
	H=$R/home/agent
	KEY=$H/.ssh/id_rsa
	ENV=$H/.env
	LL=$LANDLOCK_NOEVENT
}

teardown() {
	attacks_teardown
	# what an outside run may have changed, back as it was
	if [ -n "${H:-}" ]; then
		rm -rf "$WORK"/link* "$WORK"/hl* "$WORK/view" "$WORK/moved" "$H/.config.old" "$H/p" "$H/.profile"
		echo 'alias ls=ls' >"$H/.bashrc"
		echo 'setting=1' >"$H/.config/tool.conf"
		chown 65534:65534 "$H/.bashrc" "$H/.config/tool.conf"
		chmod 0666 "$H/.bashrc" "$H/.config/tool.conf"
	fi
}

# ---- 14: reading what the policy hides ---------------------------------------------------------

@test "T14 read ~/.ssh/id_rsa directly" {
	attack 14 "direct read, deny path (~/.ssh)"
	outside_ok SECRET-SSH-KEY cat "$KEY"
	inside_denied "*Permission denied*" cat "$KEY"
	kernel_only "$LL"
}

@test "T14 read ~/.env directly" {
	attack 14 "direct read, deny file (~/.env)"
	outside_ok SECRET-ENV-TOKEN cat "$ENV"
	inside_denied "*Permission denied*" cat "$ENV"
	kernel_only "$LL"
}

@test "T14 read a secret in no policy list" {
	attack 14 "direct read, path in no list"
	outside_ok SECRET-AWS-KEY cat "$R/secrets/aws"
	inside_denied "*Permission denied*" cat "$R/secrets/aws"
	kernel_only "$LL"
}

@test "T14 through a symlink made in the workdir" {
	attack 14 "symlink in the workdir"
	outside_ok SECRET-SSH-KEY /bin/sh -c "ln -s '$KEY' ./link-key && cat ./link-key"
	rm -f "$WORK/link-key"
	inside_denied "*Permission denied*" /bin/sh -c "ln -s '$KEY' ./link-key && cat ./link-key"
	kernel_only "$LL"
}

@test "T14 through a new hard link in the workdir" {
	attack 14 "new hard link"
	outside_ok SECRET-ENV-TOKEN /bin/sh -c "ln '$ENV' ./hl-env && cat ./hl-env"
	rm -f "$WORK/hl-env"
	inside_denied "ln: *" /bin/sh -c "ln '$ENV' ./hl-env && cat ./hl-env"
	kernel_only "$LL"
}

@test "T14 a hard link that existed before the start (documented: reported, not covered)" {
	attack 14 "hard link made before the start"
	ln "$ENV" "$WORK/hl-pre"
	outside_ok SECRET-ENV-TOKEN cat ./hl-pre
	run --separate-stderr fakenet_run_client "$OSHCTL" run --embedded --policy "$POLICY" --workdir "$WORK" -- cat ./hl-pre
	echo "$output"
	echo "$stderr"
	# Landlock rules follow the name: the other name still reads it (arch-sandbox.md), and
	# the start-up report says so.
	[[ $stderr == *"deny $ENV: not covered: 1 file(s) in it have other hard links"* ]]
	ROW_VERDICT=fallback
	if [ "$status" -eq 0 ]; then ROW_IN="readable (documented)"; else ROW_IN="refused"; fi
	ROW_EVENT="fallback: reported at start ('not covered: ... other hard links')"
}

@test "T14 through '..'" {
	attack 14 "'..' from the workdir"
	outside_ok SECRET-SSH-KEY cat "$WORK/../.ssh/id_rsa"
	inside_denied "*Permission denied*" cat "$WORK/../.ssh/id_rsa"
	kernel_only "$LL"
}

@test "T14 through /proc/self/root" {
	attack 14 "/proc/self/root"
	outside_ok SECRET-SSH-KEY cat "/proc/self/root$KEY"
	inside_denied "*Permission denied*" cat "/proc/self/root$KEY"
	kernel_only "$LL"
}

@test "T14 through /proc/PID/cwd of a process outside whose cwd is ~/.ssh" {
	attack 14 "/proc/PID/cwd of an outside process"
	osht_spawn cwdproc setpriv --reuid=65534 --regid=65534 --clear-groups -- /bin/sh -c "cd '$H/.ssh' && exec sleep 120"
	local pid=$_osht_spawned_pid
	osht_wait_for 5 test "$(readlink /proc/$pid/cwd)" = "$H/.ssh"
	outside_ok SECRET-SSH-KEY cat "/proc/$pid/cwd/id_rsa"
	inside_denied "*Permission denied*" cat "/proc/$pid/cwd/id_rsa"
	kernel_only "$LL (ptrace-mode access outside the domain)"
}

@test "T14 through /proc/self/fd of an O_PATH descriptor" {
	attack 14 "O_PATH then /proc/self/fd reopen"
	outside_ok SECRET-SSH-KEY "$AGENT" opath-reopen "$KEY"
	inside_denied "reopen: EACCES*" "$AGENT" opath-reopen "$KEY"
	kernel_only "$LL"
}

@test "T14 openat2 (RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)" {
	attack 14 "openat2"
	outside_ok SECRET-SSH-KEY "$AGENT" openat2 "$KEY"
	inside_denied "openat2: EACCES*" "$AGENT" openat2 "$KEY"
	kernel_only "$LL"
}

@test "T14 open_by_handle_at (no path at all)" {
	attack 14 "name_to_handle_at + open_by_handle_at"
	outside_ok --root SECRET-SSH-KEY "$AGENT" by-handle "$KEY"
	inside_denied "open_by_handle_at: EPERM*" "$AGENT" by-handle "$KEY"
	kernel_only "no CAP_DAC_READ_SEARCH (capabilities dropped)"
}

@test "T14 a bind mount of ~/.ssh made by the agent" {
	attack 14 "bind mount by the agent (userns)"
	mkdir -p "$WORK/view" && chown 65534:65534 "$WORK/view"
	outside_ok SECRET-SSH-KEY /usr/bin/unshare -Urm /bin/sh -c "mount --bind '$H/.ssh' ./view && cat ./view/id_rsa"
	inside_denied "unshare: unshare failed: Operation not permitted" /usr/bin/unshare -Urm /bin/sh -c "mount --bind '$H/.ssh' ./view && cat ./view/id_rsa"
	kernel_only "$SECCOMP_NOEVENT"
}

@test "T14 a bind mount of ~/.ssh inside the workdir made on the host before the start" {
	attack 14 "host-made bind mount into the workdir"
	mkdir -p "$WORK/view" && chown 65534:65534 "$WORK/view"
	# The mount lives in fakenet_run_client's private mount namespace only.
	run fakenet_run_client /bin/sh -c 'mount --bind "$0" "$1" && shift && exec "$@"' "$H/.ssh" "$WORK/view" \
		setpriv --reuid=65534 --regid=65534 --clear-groups -- cat "$WORK/view/id_rsa"
	echo "outside: $output"
	[ "$status" -eq 0 ]
	has_line SECRET-SSH-KEY
	ROW_OUT=works
	run fakenet_run_client /bin/sh -c 'mount --bind "$0" "$1" && shift && exec "$@"' "$H/.ssh" "$WORK/view" \
		"$OSHCTL" run --embedded -q --policy "$POLICY" --workdir "$WORK" -- cat "$WORK/view/id_rsa"
	echo "inside: $output"
	if [ "$status" -eq 0 ]; then
		ROW_IN="NOT STOPPED (the mount was not recognised as another name of the deny path)"
		echo "BYPASS: a deny path bind-mounted into an allowed tree is readable"
		false
	fi
	has_line "*Permission denied*"
	ROW_IN="refused"
	kernel_only "$LL"
}

@test "T14 io_uring, no open syscall" {
	attack 14 "io_uring openat (see T7)"
	outside_ok SECRET-SSH-KEY "$AGENT" uring-read "$KEY"
	inside_denied "io_uring_setup: EPERM*" "$AGENT" uring-read "$KEY"
	kernel_only "$SECCOMP_NOEVENT"
}

# ---- 15: writing what is read-only ---------------------------------------------------------------

PY_OP='import os, sys
op, a = sys.argv[1], sys.argv[2:]
{"rename": lambda: os.rename(a[0], a[1]), "link": lambda: os.link(a[0], a[1]),
 "xattr": lambda: os.setxattr(a[0], "user.osh", b"x"), "mkfifo": lambda: os.mkfifo(a[0]),
 "chmod": lambda: os.chmod(a[0], 0o777), "chown": lambda: os.chown(a[0], 0, 0)}[op]()
print(op, "done")'

@test "T15 append to a read-only file" {
	attack 15 "write (O_APPEND)"
	outside_ok done /bin/sh -c "echo x >>'$H/.bashrc' && echo done"
	inside_denied "*Permission denied*" /bin/sh -c "echo x >>'$H/.bashrc' && echo done"
	kernel_only "$LL"
}

@test "T15 truncate a read-only file" {
	attack 15 "truncate"
	outside_ok done /bin/sh -c "truncate -s 0 '$H/.bashrc' && echo done"
	echo 'alias ls=ls' >"$H/.bashrc"
	inside_denied "*Permission denied*" /bin/sh -c "truncate -s 0 '$H/.bashrc' && echo done"
	[ "$(cat "$H/.bashrc")" = "alias ls=ls" ]
	kernel_only "$LL (TRUNCATE right, ABI 3+)"
}

@test "T15 rename a read-only file out into the workdir" {
	attack 15 "rename out of the read-only tree"
	outside_ok "rename done" /usr/bin/python3 -c "$PY_OP" rename "$H/.bashrc" "$WORK/moved"
	mv "$WORK/moved" "$H/.bashrc"
	inside_denied "*Error: *" /usr/bin/python3 -c "$PY_OP" rename "$H/.bashrc" "$WORK/moved"
	[ -e "$H/.bashrc" ]
	kernel_only "$LL"
}

@test "T15 hard link a read-only file into the workdir (then write it)" {
	attack 15 "hard link into the workdir"
	outside_ok "link done" /usr/bin/python3 -c "$PY_OP" link "$H/.bashrc" "$WORK/hl-bashrc"
	rm -f "$WORK/hl-bashrc"
	inside_denied "*Error: *" /usr/bin/python3 -c "$PY_OP" link "$H/.bashrc" "$WORK/hl-bashrc"
	kernel_only "$LL (REFER)"
}

@test "T15 replace a parent directory (rename ~/.config away, make a new one)" {
	attack 15 "replace the parent directory"
	local sh="mv '$H/.config' '$H/.config.old' && mkdir '$H/.config' && echo evil >'$H/.config/tool.conf' && echo done"
	outside_ok done /bin/sh -c "$sh"
	rm -rf "$H/.config" && mv "$H/.config.old" "$H/.config"
	inside_denied "*Permission denied*" /bin/sh -c "$sh"
	[ "$(cat "$H/.config/tool.conf")" = setting=1 ]
	kernel_only "$LL"
}

@test "T15 create a file in a read-only directory" {
	attack 15 "create a new file (~/.profile)"
	outside_ok done /bin/sh -c "echo evil >'$H/.profile' && echo done"
	rm -f "$H/.profile"
	inside_denied "*Permission denied*" /bin/sh -c "echo evil >'$H/.profile' && echo done"
	kernel_only "$LL"
}

@test "T15 mknod (a FIFO) in a read-only directory" {
	attack 15 "mknod FIFO"
	outside_ok "mkfifo done" /usr/bin/python3 -c "$PY_OP" mkfifo "$H/p"
	rm -f "$H/p"
	inside_denied "*PermissionError*" /usr/bin/python3 -c "$PY_OP" mkfifo "$H/p"
	kernel_only "$LL"
}

@test "T15 delete a read-only file" {
	attack 15 "unlink"
	cp -p "$H/.bashrc" "$OSHT_STATE/bashrc.keep"
	outside_ok done /bin/sh -c "rm -f '$H/.bashrc' && echo done"
	cp -p "$OSHT_STATE/bashrc.keep" "$H/.bashrc"
	inside_denied "*Permission denied*" /bin/sh -c "rm -f '$H/.bashrc' && echo done"
	kernel_only "$LL"
}

@test "T15 chown a read-only file" {
	attack 15 "chown"
	outside_ok --root "chown done" /usr/bin/python3 -c "$PY_OP" chown "$H/.bashrc"
	chown 65534:65534 "$H/.bashrc"
	inside_denied "*PermissionError*" /usr/bin/python3 -c "$PY_OP" chown "$H/.bashrc"
	kernel_only "no CAP_CHOWN (capabilities dropped)"
}

@test "T15 chmod a read-only file (documented: mode changes, content stays read-only)" {
	attack 15 "chmod"
	chmod 0644 "$H/.bashrc"
	outside_ok "chmod done" /usr/bin/python3 -c "$PY_OP" chmod "$H/.bashrc"
	chmod 0644 "$H/.bashrc"
	run in_sandbox /bin/sh -c "/usr/bin/python3 -c '$PY_OP' chmod '$H/.bashrc'; echo x >>'$H/.bashrc' && echo WROTE"
	echo "$output"
	no_line WROTE
	has_line "*Permission denied*"
	[ "$(cat "$H/.bashrc")" = "alias ls=ls" ]
	if [[ $output == *"chmod done"* ]]; then ROW_IN="mode changed; write EACCES"; else ROW_IN="refused"; fi
	ROW_EVENT="fallback: Landlock has no setattr right (BPF LSM path_chmod in the VM); content stays read-only"
	ROW_VERDICT=fallback
}

@test "T15 extended attributes on a read-only file (documented: set, content stays read-only)" {
	attack 15 "setxattr"
	outside_ok "xattr done" /usr/bin/python3 -c "$PY_OP" xattr "$H/.bashrc"
	setfattr -x user.osh "$H/.bashrc" 2>/dev/null || /usr/bin/python3 -c "import os; os.removexattr('$H/.bashrc', 'user.osh')"
	run in_sandbox /bin/sh -c "/usr/bin/python3 -c '$PY_OP' xattr '$H/.bashrc'; echo x >>'$H/.bashrc' && echo WROTE"
	echo "$output"
	no_line WROTE
	if [[ $output == *"xattr done"* ]]; then ROW_IN="xattr set; write EACCES"; else ROW_IN="refused"; fi
	ROW_EVENT="fallback: no xattr right in Landlock nor hook in BPF LSM yet; content stays read-only"
	ROW_VERDICT=fallback
}

# ---- 16: descriptors from before the start --------------------------------------------------------

@test "T16 a file descriptor the caller had open (fd 7 on ~/.ssh/id_rsa)" {
	attack 16 "fd opened before the start"
	run fakenet_run_client /bin/bash -c "exec 7<'$KEY' && cat <&7"
	has_line SECRET-SSH-KEY
	ROW_OUT="works (root)"
	run fakenet_run_client /bin/bash -c "exec 7<'$KEY' && exec \"\$@\"" bash \
		"$OSHCTL" run --embedded -q --policy "$POLICY" --workdir "$WORK" -- /bin/sh -c 'cat <&7'
	echo "$output"
	[ "$status" -ne 0 ]
	no_line SECRET-SSH-KEY
	has_line "*7: Bad file descriptor*"
	ROW_IN="EBADF (closed)"
	ROW_EVENT="n/a: every descriptor but stdio closed before exec (close_range)"
}

# ---- 17: secrets in the environment ---------------------------------------------------------------

@test "T17 a secret in the caller's environment" {
	attack 17 "secret in the environment"
	outside_ok "AKIA-SECRET" env AWS_SECRET_ACCESS_KEY=AKIA-SECRET /bin/sh -c 'echo "$AWS_SECRET_ACCESS_KEY"'
	run env AWS_SECRET_ACCESS_KEY=AKIA-SECRET "$BASH" -c "$(declare -f fakenet_run_client in_sandbox); in_sandbox /bin/sh -c 'echo \"\$AWS_SECRET_ACCESS_KEY\"'"
	echo "$output"
	if [[ $output == *AKIA-SECRET* ]]; then ROW_IN="NOT STOPPED (visible)"; else ROW_IN="hidden"; fi
	counted_skip "not stopped: the environment is the caller's (docs/arch-sandbox.md); credential placeholders are a later issue"
}

@test "T17 another process's environment (/proc/PID/environ, same user, outside)" {
	attack 17 "/proc/PID/environ of an outside process"
	osht_spawn envproc setpriv --reuid=65534 --regid=65534 --clear-groups -- env GITHUB_TOKEN=ghp-SECRET sleep 120
	local pid=$_osht_spawned_pid
	outside_ok "*ghp-SECRET*" /bin/sh -c "tr '\\0' '\\n' </proc/$pid/environ"
	inside_denied "*Permission denied*" /bin/sh -c "tr '\\0' '\\n' </proc/$pid/environ"
	kernel_only "$LL (ptrace-mode access outside the domain)"
}
