#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make lint`: clang-format (check only), cppcheck and clang-tidy over every tracked C file.
# Exits non-zero on the first tool that reports anything, after running all of them.
set -uo pipefail
cd "$(dirname "$0")/.."
O=${O:-build}

mapfile -t all < <(git ls-files --cached --others --exclude-standard '*.c' '*.h' | grep -v '^build')
host=() bpf=()
for f in "${all[@]}"; do
	[ -f "$f" ] || continue
	case "$f" in
	*.bpf.c | bpf/lib/*) bpf+=("$f") ;;
	*) host+=("$f") ;;
	esac
done
rc=0

echo "lint: clang-format (${#all[@]} files)"
clang-format --dry-run -Werror "${host[@]}" "${bpf[@]}" || rc=1

pkgs="libbpf yaml-0.1 libcjson z3 libseccomp libcap sqlite3 openssl libcurl libmicrohttpd libsystemd ldns libnl-3.0 libnl-route-3.0 libnftnl libmnl cmocka"
incs=(-I. -Ipolicy-compiler -Iuserspace -Iprover -Idaemon -Ibpf -I"$O"/bpf -I"$O"/tests/bpf)
mapfile -t pkgi < <(pkg-config --cflags-only-I $pkgs | tr ' ' '\n' | grep -v '^$')
csrc=()
for f in "${host[@]}"; do [[ "$f" == *.c ]] && csrc+=("$f"); done

echo "lint: cppcheck (${#csrc[@]} files)"
cppcheck -q --std=c11 --enable=warning,performance,portability --inline-suppr \
	--error-exitcode=1 --library=scripts/cppcheck.cfg --suppress=missingIncludeSystem -D__linux__ -D__x86_64__ \
	"${incs[@]}" "${csrc[@]}" || rc=1

echo "lint: clang-tidy (${#csrc[@]} files)"
# Host files with the same flags the build uses; BPF files with the BPF target. Findings inside
# generated files under the build folder (bpftool skeletons) are not ours to fix and are dropped.
tidy_fail=0
printf '%s\n' "${csrc[@]}" | xargs -P "$(nproc)" -I{} sh -c \
	'out=$(clang-tidy --quiet "$1" -- -std=gnu11 -DOSH_TESTING=1 '"${incs[*]} ${pkgi[*]}"' 2>&1) || { echo "$out"; exit 1; }
	 echo "$out" | grep -E "(warning|error):" | grep -vE "^(/[^:]*/)?build[^/]*/" && exit 1; exit 0' _ {} || tidy_fail=1
for f in "${bpf[@]}"; do
	[[ "$f" == *.c ]] || continue
	out=$(clang-tidy --quiet "$f" -- -target bpf -D__TARGET_ARCH_x86 -Ibpf -Ibpf/lib -I"$O" -I"$O"/bpf 2>&1) ||
		{ echo "$out"; tidy_fail=1; continue; }
	echo "$out" | grep -E "(warning|error):" && tidy_fail=1
done
((tidy_fail)) && rc=1

if ((rc)); then echo "lint: FAILED"; else echo "lint: clean"; fi
exit $rc
