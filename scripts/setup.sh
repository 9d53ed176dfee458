#!/usr/bin/env bash
# Installs what maildex needs to build and test on a fresh Debian machine:
# libzstd-dev, libssl-dev and libjemalloc-dev (libraries), zstd and ripgrep (benchmarks).
set -euo pipefail
need=()
pkg-config --exists libzstd 2>/dev/null || need+=(libzstd-dev)
pkg-config --exists libcrypto 2>/dev/null || need+=(libssl-dev)
pkg-config --exists jemalloc 2>/dev/null || need+=(libjemalloc-dev)
command -v zstd >/dev/null || need+=(zstd)
command -v rg >/dev/null || need+=(ripgrep)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" pkg-config >/dev/null
fi
