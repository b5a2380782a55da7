#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the tests that need BPF LSM (tests/vm/tests.list) in Debian's cloud kernel under qemu (TCG)
# booted with bpf in lsm=, and prints their results as TAP on stdout (progress goes to stderr).
# Kernel and busybox packages are cached in .cache/vm/; see tests/vm/README.md.
#
#   O=build scripts/vmtest.sh        VM_KERNEL=/path/to/vmlinuz to boot another kernel
#                                    VM_LIST=FILE to run another list (tests/vm/bench.list)
#
# Exits non-zero when a test failed or the harness itself broke; the latter is reported as one
# `not ok` line saying what broke.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
O=${O:-build}
VMDIR=$O/vm
CACHE=${OSH_VM_CACHE:-.cache/vm}
VM_TIMEOUT=${VM_TIMEOUT:-600}
TEST_TIMEOUT=${VM_TEST_TIMEOUT:-120}
APPEND="console=ttyS0 quiet lsm=landlock,lockdown,yama,bpf panic=-1 osh.test_timeout=$TEST_TIMEOUT"

tmpdirs=()
qemu_wrapper=""

# The qemu we started, and only it: by the pid it wrote, checked against its command line.
cleanup() {
	local pid
	if [ -n "$qemu_wrapper" ] && kill -0 "$qemu_wrapper" 2>/dev/null; then
		kill "$qemu_wrapper" 2>/dev/null
	fi
	if [ -r "$VMDIR/qemu.pid" ]; then
		pid=$(cat "$VMDIR/qemu.pid" 2>/dev/null)
		if [ -n "$pid" ] &&
			{ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q -- '-name osh-vm'; then
			kill -KILL "$pid" 2>/dev/null
		fi
		rm -f "$VMDIR/qemu.pid"
	fi
	[ -n "$qemu_wrapper" ] && wait "$qemu_wrapper" 2>/dev/null
	qemu_wrapper=""
	if [ ${#tmpdirs[@]} -gt 0 ]; then
		rm -rf "${tmpdirs[@]}"
	fi
}
trap cleanup EXIT
trap 'cleanup; printf "1..1\nnot ok 1 - vm: interrupted\n"; exit 130' INT
trap 'cleanup; printf "1..1\nnot ok 1 - vm: terminated\n"; exit 143' TERM HUP

log() {
	echo "vm: $*" >&2
}

# broken WHAT [LOGFILE...]: the harness could not produce results. Report it as one failed test
# with the end of each non-empty LOGFILE as TAP comments, and stop.
broken() {
	local f
	echo "1..1"
	echo "not ok 1 - vm: $1"
	shift
	for f in "$@"; do
		[ -s "$f" ] || continue
		echo "# --- end of $f"
		tail -n 40 "$f" | tr -d '\r' | sed 's/^/# /'
	done
	exit 1
}

mkdir -p "$VMDIR" "$CACHE" || broken "cannot create $VMDIR and $CACHE"
for tool in qemu-system-x86_64 cpio gzip apt-get dpkg-deb flock timeout; do
	command -v "$tool" >/dev/null ||
		broken "$tool is not installed (run scripts/install-deps.sh as root)"
done

# Candidate versions from one apt-cache run: each run costs most of a second.
declare -A candidate=()
resolve_candidates() {
	local pkg ver
	while read -r pkg ver; do
		[ "$ver" = "(none)" ] || candidate[$pkg]=$ver
	done < <(apt-cache policy "$@" 2>/dev/null |
		awk '/^[^ ].*:$/ {sub(/:$/, ""); pkg = $0} $1 == "Candidate:" {print pkg, $2}')
}

# cached_from_deb PKG MEMBER NAME FALLBACK_GLOB: set $cached to a file extracted from Debian's
# package PKG (its candidate version): MEMBER is a glob inside the package, NAME the file in the
# cache folder .cache/vm/PKG_VERSION/. Downloads only what is not cached. Without a candidate
# (no apt lists) it falls back on the newest cached folder matching FALLBACK_GLOB.
cached_from_deb() {
	local pkg=$1 member=$2 name=$3 fallback=$4 ver dir tmp f
	ver=${candidate[$pkg]:-}
	if [ -z "$ver" ]; then
		dir=$(find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name "$fallback" | sort -V | tail -n 1)
		if [ -z "$dir" ] || [ ! -r "$dir/$name" ]; then
			broken "apt knows no package $pkg and nothing is cached (run apt-get update)"
		fi
		log "apt knows no $pkg; using cached $dir"
		cached=$dir/$name
		return
	fi
	dir=$CACHE/${pkg}_${ver//:/_}
	cached=$dir/$name
	[ -r "$cached" ] && return
	tmp=$(mktemp -d "$CACHE/.download.XXXXXX") || broken "mktemp in $CACHE failed"
	tmpdirs+=("$tmp")
	log "downloading $pkg $ver"
	(cd "$tmp" && apt-get download "$pkg=$ver") >"$tmp/apt.log" 2>&1 ||
		broken "download of $pkg $ver failed" "$tmp/apt.log"
	dpkg-deb -x "$tmp"/*.deb "$tmp/x" 2>"$tmp/dpkg.log" ||
		broken "unpacking $pkg $ver failed" "$tmp/dpkg.log"
	f=$(find "$tmp/x" -path "$tmp/x/$member" -type f | sort -V | tail -n 1)
	[ -n "$f" ] || broken "$pkg $ver holds no $member"
	if ! { mkdir "$tmp/out" && cp "$f" "$tmp/out/$name" &&
		echo "$pkg $ver $member" >"$tmp/out/SOURCE"; }; then
		broken "copying $member of $pkg into $CACHE failed"
	fi
	rm -rf "$dir"
	mv -T "$tmp/out" "$dir" || broken "moving $pkg into $CACHE failed"
	# Older versions of the same package are never used again.
	find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name "$fallback" ! -path "$dir" \
		-exec rm -rf {} +
}

# The newest 6.1 cloud kernel Debian ships: the ABI package the metapackage depends on, in its
# -unsigned flavour (same kernel, plain vmlinuz).
kernel_package() {
	local abi
	abi=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-cloud-amd64\)$/\1/p' | sort -V | tail -n 1)
	if [ -z "$abi" ]; then
		abi=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' \
			2>/dev/null | awk '{print $1}' | sed 's/-unsigned$//' | sort -V | tail -n 1)
	fi
	kernel_pkg=${abi:+$abi-unsigned}
}

start=$(date +%s)
{
	# One download at a time, also across build directories sharing the cache.
	flock 9 || broken "cannot lock $CACHE/.lock"
	if [ -n "${VM_KERNEL:-}" ]; then
		[ -r "$VM_KERNEL" ] || broken "VM_KERNEL=$VM_KERNEL is not readable"
		kernel=$VM_KERNEL
		resolve_candidates busybox-static
	else
		kernel_package
		resolve_candidates ${kernel_pkg:+"$kernel_pkg"} busybox-static
		kernel_pkg=${kernel_pkg:-linux-image-6.1.0-N-cloud-amd64-unsigned}
		cached_from_deb "$kernel_pkg" 'boot/vmlinuz-*' vmlinuz \
			'linux-image-6.1.0-*-cloud-amd64-unsigned_*'
		kernel=$cached
	fi
	cached_from_deb busybox-static bin/busybox busybox 'busybox-static_*'
	busybox=$cached
} 9>"$CACHE/.lock"
log "kernel $kernel, busybox $busybox"

initrd=$VMDIR/initrd.gz
scripts/vm/build-initramfs.sh "$O" "$busybox" "$initrd" 2>"$VMDIR/initramfs.log" ||
	broken "building the initramfs failed: $(tail -n 1 "$VMDIR/initramfs.log")" "$VMDIR/initramfs.log"
log "initramfs $initrd ($(du -k "$initrd" | cut -f1) KiB); ready to boot after $(($(date +%s) - start)) s"

console=$VMDIR/console.log
rm -f "$console" "$VMDIR/qemu.pid"
boot=$(date +%s)
# -name lets the leftover checker recognize a stray VM; no network device: VM tests stay offline.
timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 -name osh-vm -accel tcg -cpu max -m 1024 -smp 2 \
	-display none -monitor none -serial "file:$console" -nic none -no-reboot \
	-pidfile "$VMDIR/qemu.pid" -kernel "$kernel" -initrd "$initrd" -append "$APPEND" \
	</dev/null >"$VMDIR/qemu.log" 2>&1 &
qemu_wrapper=$!
wait "$qemu_wrapper"
rc=$?
qemu_wrapper=""
elapsed=$(($(date +%s) - boot))
log "qemu exited $rc after $elapsed s; console log: $console"

[ -r "$console" ] || broken "qemu did not start (exit $rc)" "$VMDIR/qemu.log"
tap=$VMDIR/tap
if ! tr -d '\r' <"$console" | awk '/OSH-VM-TAP-BEGIN$/ {on = 1; next}
	/OSH-VM-TAP-END$/ {on = 0; end = 1} on; END {exit !end}' >"$tap"; then
	if [ "$rc" -eq 124 ]; then
		broken "no results: the VM was killed after ${VM_TIMEOUT} s (console log $console)" \
			"$VMDIR/qemu.log" "$console"
	fi
	broken "no results: the VM stopped (qemu exit $rc) before printing them (console log $console)" \
		"$VMDIR/qemu.log" "$console"
fi
cat "$tap"
echo "# vm: kernel $(basename "$(dirname "$kernel")"), booted and ran in $elapsed s"
! grep -q '^not ok' "$tap"
