#!/usr/bin/env bash
# The ClickHouse tests (Tests/clickhouse): `maildex export` loaded into the schema of
# deploy/clickhouse/schema.sql in embedded ClickHouse (chdb), and `maildex sql` against
# `maildex query`. Assumes `swift build` was done (or MAILDEX_BIN is set). Makes the
# virtual environment .build/ch-venv with chdb (PyPI, about 270 MB) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${MAILDEX_BIN:-.build/debug/maildex}"
if [ ! -x "$BIN" ]; then
  echo "test-clickhouse: no maildex binary at $BIN: run \`swift build\` first (or set MAILDEX_BIN)" >&2
  exit 2
fi

VENV=.build/ch-venv
if [ ! -x "$VENV/bin/python" ]; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    PYVER="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null \
      || $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "python$PYVER-venv" >/dev/null
    python3 -m venv "$VENV"
  fi
fi
if ! "$VENV/bin/python" -c 'import chdb' >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check chdb
fi

exec "$VENV/bin/python" -m unittest discover -s Tests/clickhouse -p 'test_*.py' -v
