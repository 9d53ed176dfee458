#!/usr/bin/env bash
# The main job end to end on generated sample data: build, generate, index, query.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product maildex
bin=.build/release/maildex
work=${MAILDEX_DEMO_DIR:-/tmp/maildex-demo}
rm -rf "$work"; mkdir -p "$work"
echo "== generate: 3 days of Stalker logs, zstd-compressed"
$bin generate --out "$work/logs" --days 3 --start-date 2026-01-01 --sessions-per-day 20000 --seed 1 --compress zstd-frames
echo "== the real 1999 sample sessions"
cp Tests/MaildexCoreTests/Fixtures/1999-04-2*.log "$work/logs/"
$bin sessions --summary "$work/logs/1999-04-28.log"
