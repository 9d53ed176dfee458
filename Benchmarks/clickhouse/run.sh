#!/usr/bin/env bash
# maildex's sessions in ClickHouse, measured in one sitting on one index:
#  1. `maildex export` of the whole index to a Native file: sessions/s, MB/s, max RSS;
#  2. that file loaded into deploy/clickhouse/schema.sql in embedded ClickHouse (chdb):
#     rows/s, MB/s, then the table's bytes on disk per session against the index's;
#  3. for the same keys (message ids, line ids with dates, peers, /24 subnets, senders,
#     recipient domains), `maildex sql KEY` run in chdb beside `maildex query --json KEY`
#     run as a process: median and p90 wall time, and the two must count the same.
#
#   Benchmarks/clickhouse/run.sh INDEX [MAILDEX]
#
# INDEX: e.g. `maildex generate --days 7 --size 2G` indexed. Needs /usr/bin/time (Debian
# `time`); makes .build/ch-venv with chdb (scripts/ch-venv.sh). WORK (default a fresh
# temporary directory) holds the export (about 1.6x the logs) and chdb's data.
set -euo pipefail
index=$1; maildex=${2:-.build/release/maildex}
cd "$(dirname "$0")/../.."
python=$(scripts/ch-venv.sh)
work=${WORK:-$(mktemp -d)}; mkdir -p "$work"
trap '[ -n "${WORK:-}" ] || rm -rf "$work"' EXIT

sessions=$("$maildex" stats --index "$index" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessions"])')
index_bytes=$(du -sb "$index" | cut -f1)
echo "index: $index, $sessions sessions, $index_bytes bytes"

# 1. The export.
/usr/bin/time -f '%e %M' -o "$work/export.time" "$maildex" export --index "$index" > "$work/all.native"
read -r secs rss < "$work/export.time"
bytes=$(stat -c %s "$work/all.native")
python3 - "$sessions" "$bytes" "$secs" "$rss" <<'PY'
import sys
n, b, s, rss = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"export: {n:,} sessions, {b/1e9:.2f} GB Native in {s:.1f} s: {n/s:,.0f} sessions/s, {b/1e6/s:.0f} MB/s; max RSS {rss/1024:.0f} MB")
PY

# 2 and 3: chdb.
"$python" Benchmarks/clickhouse/bench.py "$index" "$maildex" "$work" "$sessions" "$index_bytes"
