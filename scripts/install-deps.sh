#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every build and test dependency of osh from Debian's packages (Debian 12, as root).
# Idempotent: it asks apt only for what is missing, and runs `apt-get update` only when needed.
# `--check` prints what is missing and exits 1 instead of installing.
set -euo pipefail

PKGS=(
  # build: host C and the BPF target
  build-essential pkg-config clang llvm lld libclang-rt-14-dev
  libbpf-dev bpftool libelf-dev zlib1g-dev
  # libraries the product links
  libyaml-dev libcjson-dev libz3-dev libseccomp-dev libcap-dev
  libnl-3-dev libnl-route-3-dev libnftnl-dev libmnl-dev
  libsqlite3-dev libssl-dev libcurl4-openssl-dev libmicrohttpd-dev
  libsystemd-dev libldns-dev
  libgnutls28-dev  # oshd's TCP listener: TLS with client certificates
  libhttp-parser-dev  # oshctl reads oshd's answers (cli/client.c)
  # unit tests, lint
  libcmocka-dev clang-format clang-tidy cppcheck
  # end-to-end tests: fake internet in network namespaces
  iproute2 nftables dnsmasq-base socat openssl curl tmux python3 procps util-linux
  bind9-dnsutils  # dig: queries the DNS responder (tests/e2e/25-dns.bats)
  systemd  # systemd-analyze verify of systemd/oshd.service (tests/e2e/42-oshd-tls.bats)
  bats
  # VM tests (BPF LSM): qemu under TCG, busybox for the initramfs
  qemu-system-x86 busybox-static cpio kmod
  # benchmarks against peers
  hyperfine bubblewrap firejail iperf3
)

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "${1:-}" = "--check" ]; then
  echo "missing packages: ${missing[*]}" >&2
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root: sudo scripts/install-deps.sh" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# An empty package list means apt has never been updated on this machine.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -print -quit 2>/dev/null)" ] ||
   ! apt-get install -y --no-install-recommends --dry-run "${missing[@]}" >/dev/null 2>&1; then
  apt-get update -q
fi
echo "install-deps: installing ${missing[*]}"
apt-get install -y -q --no-install-recommends "${missing[@]}"
