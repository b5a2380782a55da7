#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the test VM's initramfs (cpio newc, gzip): busybox, scripts/vm/init, the programs named
# in tests/vm/tests.list (or $VM_LIST: `make bench` boots tests/vm/bench.list) with their shared
# libraries (ldd closure and the dynamic loader).
#
#   [VM_LIST=FILE] scripts/vm/build-initramfs.sh O BUSYBOX OUTPUT
#
# Run from the top of the tree. Prints what went wrong on stderr and exits non-zero on failure.
set -euo pipefail

O=$1 BUSYBOX=$2 OUT=$3
LIST=${VM_LIST:-tests/vm/tests.list}
STAGE=$O/vm/root

fail() {
	echo "build-initramfs: $*" >&2
	exit 1
}

[ -r "$LIST" ] || fail "$LIST is missing"
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,osh/bin,osh/vm}

install -m 0755 "$BUSYBOX" "$STAGE/bin/busybox"
# The other applet links are made by /init itself (busybox --install), cheaper than 270 ln here.
ln -s busybox "$STAGE/bin/sh"
install -m 0755 scripts/vm/init "$STAGE/init"
install -m 0644 "$LIST" "$STAGE/osh/tests.list"
# The helpers every VM test script sources.
install -m 0644 tests/vm/lib.sh "$STAGE/osh/vm/lib.sh"

# copy_with_libs FILE DEST: install an executable and, if it is dynamic, every library it loads
# at the path the loader expects it.
copy_with_libs() {
	local file=$1 dest=$2 lib
	install -m 0755 "$file" "$STAGE/$dest"
	# ldd fails on a static binary; that simply means there is nothing more to copy.
	ldd "$file" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' |
		while read -r lib; do
			[ -e "$STAGE/$lib" ] && continue
			mkdir -p "$STAGE/$(dirname "$lib")"
			cp -L "$lib" "$STAGE/$lib"
		done
}

while read -r prog _; do
	case "$prog" in
	'' | '#'*) continue ;;
	*.sh)
		[ -r "tests/vm/$prog" ] || fail "$LIST names tests/vm/$prog, which does not exist"
		install -m 0755 "tests/vm/$prog" "$STAGE/osh/vm/$prog"
		;;
	*)
		[ -x "$O/tests/helpers/$prog" ] ||
			fail "$LIST names $O/tests/helpers/$prog, which is not built (make O=$O all)"
		copy_with_libs "$O/tests/helpers/$prog" "osh/bin/$prog"
		;;
	esac
done <"$LIST"

# Scripts may call any helper: ship all of them, and the data files tests need.
for helper in "$O"/tests/helpers/*; do
	if [ ! -f "$helper" ] || [ ! -x "$helper" ]; then
		continue
	fi
	[ -e "$STAGE/osh/bin/${helper##*/}" ] || copy_with_libs "$helper" "osh/bin/${helper##*/}"
done
# `oshctl run` for the tests that drive the real runner, and the users it resolves.
if [ -x "$O/bin/oshctl" ]; then
	copy_with_libs "$O/bin/oshctl" osh/bin/oshctl
	# Its embedded run and doctor are programs of their own, found at ../libexec/osh/ from
	# oshctl's folder (osh-prove, with Z3, is not needed in the VM).
	mkdir -p "$STAGE/osh/libexec/osh"
	copy_with_libs "$O/libexec/osh/osh-run" osh/libexec/osh/osh-run
	copy_with_libs "$O/libexec/osh/osh-doctor" osh/libexec/osh/osh-doctor
fi
mkdir -p "$STAGE/etc"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
	>"$STAGE/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$STAGE/etc/group"
if [ -d tests/vm/data ]; then
	cp -r tests/vm/data "$STAGE/osh/data"
fi

tmp=$OUT.tmp.$$
(cd "$STAGE" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) |
	gzip -1 >"$tmp"
mv "$tmp" "$OUT"
