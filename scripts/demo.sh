#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: osh's main job on the embedded default policy. An agent-like script runs under
# `oshctl run` (no --policy: the policy built into oshctl) and tries legitimate work and the
# moves an injected prompt would make; each line says what the kernel answered. Needs root.
set -uo pipefail
cd "$(dirname "$0")/.."
O=${O:-build}
OSHCTL=$(realpath "$O/bin/oshctl")

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (sudo make demo): osh creates cgroups and loads BPF programs" >&2
	exit 1
fi

work=$(mktemp -d /tmp/osh-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0777 "$work"
echo "notes of the agent's project" >"$work/README"

echo "== oshctl doctor: what this kernel offers"
"$OSHCTL" doctor | sed 's/^/   /'
echo
echo "== the embedded default policy (examples/default.yaml), canonical form and revision"
"$OSHCTL" policy show examples/default.yaml 2>&1 >/dev/null | sed 's/^/   /'
echo
echo "== an agent in a sandbox: oshctl run --workdir $work -- sh agent.sh"
cat >"$work/agent.sh" <<'EOF'
try() {
	what=$1
	shift
	if out=$("$@" 2>&1); then
		printf '   %-8s %s\n' allowed "$what"
	else
		printf '   %-8s %s: %s\n' denied "$what" "$(echo "$out" | grep -v dmesg | tail -1)"
	fi
}
echo "   running as $(id -un) (uid $(id -u)) in cgroup $(sed -n 's/^0:://p' /proc/self/cgroup)"
try "read the project in the workdir"      cat README
try "write a file in the workdir"          sh -c 'echo patch > change.diff'
try "read system files (/etc/os-release)"  cat /etc/os-release
try "write to /etc"                        sh -c 'echo x > /etc/osh-demo'
try "read /etc/shadow (denied path)"       cat /etc/shadow
try "list /root/.ssh (denied path)"        ls /root/.ssh
try "read another user's home (/home)"     ls /home
try "create a user namespace (unshare -U)" unshare -U true
try "mount a tmpfs"                        mount -t tmpfs none /tmp
try "connect to 127.0.0.1:22 (a host service)" python3 -c 'import socket; socket.create_connection(("127.0.0.1", 22), 2)'
try "open a packet socket"                 python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'
EOF
(cd "$work" && "$OSHCTL" run --workdir "$work" -- /bin/sh "$work/agent.sh")
status=$?
echo
echo "== the agent exited with status $status; the sandbox's cgroup is gone:"
ls -d "$(awk '$9 == "cgroup2" { print $5; exit }' <(sed 's/ - / /' /proc/self/mountinfo))"/osh/osh-run-* 2>/dev/null ||
	echo "   no osh-run-* cgroup left"
exit $status
