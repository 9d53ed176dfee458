#!/usr/bin/env bash
# The ClickHouse tests (Tests/clickhouse): `maildex export` loaded into the schema of
# deploy/clickhouse/schema.sql in embedded ClickHouse (chdb), and `maildex sql` against
# `maildex query`. Assumes `swift build` was done (or MAILDEX_BIN is set). Makes the
# virtual environment .build/ch-venv with chdb (scripts/ch-venv.sh) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${MAILDEX_BIN:-.build/debug/maildex}"
if [ ! -x "$BIN" ]; then
  echo "test-clickhouse: no maildex binary at $BIN: run \`swift build\` first (or set MAILDEX_BIN)" >&2
  exit 2
fi
PYTHON="$(scripts/ch-venv.sh)"
exec "$PYTHON" -m unittest discover -s Tests/clickhouse -p 'test_*.py' -v
