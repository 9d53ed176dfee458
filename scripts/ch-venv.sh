#!/usr/bin/env bash
# Makes the virtual environment .build/ch-venv with chdb (embedded ClickHouse, PyPI, about
# 270 MB with its dependencies) if it is missing, then prints its python. Used by
# scripts/test-clickhouse.sh and Benchmarks/clickhouse/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.build/ch-venv
if [ ! -x "$VENV/bin/python" ]; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    PYVER="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null \
      || $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "python$PYVER-venv" >/dev/null
    python3 -m venv "$VENV" >&2
  fi
fi
if ! "$VENV/bin/python" -c 'import chdb' >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check chdb >&2
fi
echo "$PWD/$VENV/bin/python"
