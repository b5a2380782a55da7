# SPDX-License-Identifier: Apache-2.0
# VM test (busybox sh): the host harness's cgroup/connect4 program (tests/bpf/connect_deny.bpf.c,
# driven by cgroup-run) on the VM's older kernel, where CO-RE and attach must work too. Loopback
# only: the VM has no network device.
CG=/sys/fs/cgroup/osh-test-vm-connect
ALLOW=8080
DENY=8081
. "$(dirname "$0")/lib.sh"

# check DESCRIPTION CMD...: one TAP line, ok when CMD succeeds.
# probe_in_cgroup PORT: an echo exchange with 127.0.0.1:PORT from inside the cgroup whose
# connect() to $DENY is denied; its errors land in /tmp/probe.err.
probe_in_cgroup() {
	cgroup-run --cgroup "$CG" --deny-port "$DENY" -- \
		net-probe tcp 127.0.0.1 "$1" --send osh --expect osh --timeout 5 2>/tmp/probe.err
}

echo "1..4"
nc -ll -p "$ALLOW" -e /bin/cat &
allow_pid=$!
nc -ll -p "$DENY" -e /bin/cat &
deny_pid=$!
trap 'kill "$allow_pid" "$deny_pid" 2>/dev/null; rmdir "$CG" 2>/dev/null' EXIT
mkdir "$CG"

# The listeners start in the background: wait until the denied port answers outside the cgroup.
# That answer is also the baseline which makes the EPERM below mean something.
i=0
while ! net-probe tcp 127.0.0.1 "$DENY" --send osh --expect osh --timeout 2 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -ge 50 ] && break
	sleep 0.1
done
check "connect4: port $DENY echoes outside the cgroup" \
	net-probe tcp 127.0.0.1 "$DENY" --send osh --expect osh --timeout 5

probe_in_cgroup "$DENY"
rc=$?
err=$(cat /tmp/probe.err)
check "connect4: connect() to port $DENY inside the cgroup fails with EPERM (exit $rc: $err)" \
	grep -q 'connect: EPERM' /tmp/probe.err

probe_in_cgroup "$ALLOW"
rc=$?
err=$(cat /tmp/probe.err)
check "connect4: port $ALLOW still echoes inside the cgroup (exit $rc${err:+: $err})" [ "$rc" -eq 0 ]

# A denied port reached over IPv6 goes through connect6; no v6 listener is needed to see EPERM.
cgroup-run --cgroup "$CG" --deny-port "$DENY" -- \
	net-probe tcp ::1 "$DENY" --send osh --timeout 5 -6 2>/tmp/probe.err
err=$(cat /tmp/probe.err)
check "connect6: connect() to [::1]:$DENY inside the cgroup fails with EPERM ($err)" \
	grep -q 'connect: EPERM' /tmp/probe.err

[ "$fails" -eq 0 ]
