#!/usr/bin/env bash
# The main job end to end on generated sample data: build, generate, index, query.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --static-swift-stdlib --product maildex
bin=.build/release/maildex
work=${MAILDEX_DEMO_DIR:-/tmp/maildex-demo}
rm -rf "$work"; mkdir -p "$work"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "generate: 3 days of Stalker logs (zstd, many frames), plus the real 1999 sample"
$bin generate --out "$work/logs" --days 3 --start-date 2026-01-01 --sessions-per-day 20000 --seed 1 --compress zstd-frames
cp Tests/MaildexCoreTests/Fixtures/1999-04-2*.log "$work/logs/"

step "index them"
$bin index --index "$work/index" "$work/logs"

step "index again: nothing new, every file skipped"
$bin index --index "$work/index" "$work/logs"

step "the spammer's session of 28 April 1999, verbatim, with file and line of every line"
$bin query --index "$work/index" --provenance ip:209.162.104.65

step "the same session as JSON"
$bin query --index "$work/index" --json msg:S.0000014724

peer=$($bin stats --index "$work/index" --json | sed -E 's/.*"topPeers":\[\{"peer":"([^"]+)".*/\1/')
net=$(echo "$peer" | cut -d. -f1-2).0.0/16
step "the busiest peer ($peer): count, then its first 3 sessions as summaries"
$bin query --index "$work/index" --count "ip:$peer"
$bin query --index "$work/index" --summary --limit 3 "ip:$peer"

step "its /16 ($net) on 2 January, to example.com"
$bin query --index "$work/index" --count "ip:$net" date:2026-01-02 domain:example.com

step "statistics"
$bin stats --index "$work/index" --top 5

step "verify every checksum"
$bin verify --index "$work/index"

step "serve it over HTTP: a count and the first session's id from the API, on a free port"
$bin serve --index "$work/index" --listen 127.0.0.1:0 > "$work/serve.out" &
server=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/serve.out" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/serve.out")
python3 - "$url" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
get = lambda path: json.load(urllib.request.urlopen(url + path))
print("GET /api/v1/count?q=ip:209.162.104.65 ->", get("/api/v1/count?q=ip:209.162.104.65"))
page = get("/api/v1/sessions?q=msg:S.0000014724&limit=1")
print("GET /api/v1/sessions?q=msg:S.0000014724 -> total", page["total"], "id", page["sessions"][0]["id"])
PY
kill -TERM "$server"; wait "$server"

step "to browse this index: run the command below, then open http://127.0.0.1:8025/"
echo "$bin serve --index $work/index"
