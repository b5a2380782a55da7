# SPDX-License-Identifier: Apache-2.0
# VM test (busybox sh): the egress programs on the VM's older kernel with generation tries of
# different sizes. Each generation's LPM trie is created with max_entries sized from its policy
# (bpf-egress.c), so the osh_gens map-of-maps must accept inner tries whose max_entries differ
# from its template's, and the trie must take a batch update: a 1-entry and a 33,281-entry policy
# (more than the 32,768 one fixed-size trie held before) decide connects, flipped by reloads in
# one egress-run (each BPF load costs seconds under TCG; 100,000 entries work too). The VM has
# no network device: a documentation address on lo stands for a remote listener.
CG=/sys/fs/cgroup/osh-test-vm-egress
T=${TMPDIR:-/tmp}/osh-egress-trie
. "$(dirname "$0")/lib.sh"

cleanup() {
	if [ -d "$CG" ]; then
		while read -r p; do kill -9 "$p" 2>/dev/null; done <"$CG/cgroup.procs"
		rmdir "$CG" 2>/dev/null
	fi
	ip addr del 198.51.100.1/32 dev lo 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# policy HOSTS PORTS LISTEN: 198.51.100.1:LISTEN for bench-connect, plus HOSTS IPv6
# documentation hosts with PORTS ports each: 1 + HOSTS * PORTS address entries.
policy() {
	awk -v hosts="$1" -v nports="$2" -v listen="$3" -v bin="$(command -v bench-connect)" 'BEGIN {
		for (p = 0; p < nports; p++) ports = ports (p ? ", " : "") 30000 + p
		print "version: 1\nnetwork_policies:\n  vm:\n    endpoints:"
		print "      - { host: 198.51.100.1, port: " listen " }"
		for (i = 0; i < hosts; i++)
			printf "      - { host: \"2001:db8:%x::%x\", ports: [%s] }\n", int(i / 250) + 16, i % 250 + 1, ports
		print "    binaries:\n      - path: " bin
	}'
}

# The sandboxed side: connects under each generation, asking egress-run for the next policy
# (SIGUSR1 to its parent) and waiting for its acknowledgement in between.
cat_inside() {
	cat <<'EOF'
#!/bin/sh
gen() {
	i=0
	while [ "$(cat "$1" 2>/dev/null)" != "$2" ] && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
for g in 0 1 2; do
	[ $g -gt 0 ] && kill -USR1 $PPID
	gen "$1" $g
	echo "gen$g 20080 $(bench-connect 20 20080 198.51.100.1)"
	echo "gen$g 20081 $(bench-connect 20 20081 198.51.100.1)"
done
EOF
}

# saw PREFIX EXPECT: the sandboxed side printed a line starting with PREFIX that has EXPECT.
saw() {
	grep "^$1 " "$T/out" | grep -q "$2"
}

echo "1..6"
mkdir -p "$T" "$CG"
ip addr add 198.51.100.1/32 dev lo
policy 0 1 20080 >"$T/small.yaml"
policy 520 64 20081 >"$T/big.yaml"
cat_inside >"$T/inside.sh"
chmod +x "$T/inside.sh"
egress-run --cgroup "$CG" --policy "$T/small.yaml" --policy "$T/big.yaml" --ack "$T/ack" -- \
	"$T/inside.sh" "$T/ack" >"$T/out" 2>"$T/err"

# The small policy allows port 20080, the big one 20081 instead.
check "egress: a 1-entry generation allows its endpoint" saw "gen0 20080" "ok=20 eperm=0"
check "egress: a 1-entry generation denies another port" saw "gen0 20081" "ok=0 eperm=20"
check "egress: reloaded to 33,281 entries, allows its endpoint" saw "gen1 20081" "ok=20 eperm=0"
check "egress: reloaded to 33,281 entries, denies the old one" saw "gen1 20080" "ok=0 eperm=20"
check "egress: reloaded back to 1 entry, allows its endpoint" saw "gen2 20080" "ok=20 eperm=0"
check "egress: reloaded back to 1 entry, denies the other" saw "gen2 20081" "ok=0 eperm=20"
[ $fails -eq 0 ] || sed 's/^/# /' "$T/out" "$T/err"
exit $((fails > 0))
