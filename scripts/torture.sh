#!/usr/bin/env bash
# Fault campaigns against maildex's promises, many trials each, and a table of what was
# tried: campaign, trials, failures (issue #20). Exit 1 if any trial failed.
#
#   scripts/torture.sh [--quick] [--trials N] [--only CAMPAIGN] [--skip CAMPAIGN]...
#
# --quick: a few trials of each (CI); the full run (50 trials each) is a report kept in
# Benchmarks/RELIABILITY.md. MAILDEX_BIN: the binary (default .build/release/maildex if
# built, else .build/debug/maildex). TORTURE_SEED: the random seed (default: the time).
#
# Campaigns:
#   kill-index-plain, kill-index-zstd, kill-index-frames
#         kill -9 at a random moment of `index` (its merge included) over plain, one-frame
#         and many-frame zstd logs, onto an index holding the first days. After each: verify
#         passes; the index answers exactly as before the run or as after it; the same
#         command run again completes it, answering as after.
#   kill-merge
#         kill -9 during the merge that ends an `index` run (10 segments): verify passes, the
#         index answers as after the run (its files were committed first), and the same
#         command run again finishes the merge.
#   kill-compact
#         kill -9 at a random moment of `compact` of a many-segment index: verify passes,
#         the answers are unchanged, compact again completes.
#   damage
#         a flipped byte, a truncation or a zeroed page at a random offset of a random file
#         of the index (segments, MANIFEST, carry files, LOCK): verify and query never crash
#         and never answer differently; a refusal exits 2 naming a file of the index.
#   log-truncated, log-growing
#         a log truncated, or appended to, while it is indexed (modified just now, so read
#         rather than mapped): never a crash; verify passes; what was read is indexed, and
#         a second run answers as an index of the whole final file.
#   full-disk
#         indexing onto a small tmpfs that fills up: exit 2 naming the index, the previous
#         index answering as before; with room again, the same command completes.
#         Needs root (mount); skipped otherwise.
#   serve (scripts/torture_serve.py: serve-load, serve-slowloris, serve-malformed)
#         wrk with 64 connections (60 s; quick 15 s; SERVE_SECONDS) while index runs commit
#         and merge and a compact rewrites the index: no failed request, the heap flat;
#         400 (quick 200) connections sending a header every 1.5 s while ordinary requests
#         are answered; 43 kinds of malformed request, each a 4xx, the server alive after.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0; TRIALS=""; ONLY=""; SKIP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --trials) TRIALS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --skip) SKIP="$SKIP $2"; shift ;;
    *) echo "torture: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$TRIALS" ] || TRIALS=$([ $QUICK = 1 ] && echo 4 || echo 50)
BIN="${MAILDEX_BIN:-}"
if [ -z "$BIN" ]; then
  if [ -x .build/release/maildex ]; then BIN=.build/release/maildex; else BIN=.build/debug/maildex; fi
fi
[ -x "$BIN" ] || { echo "torture: no maildex binary at $BIN (swift build first, or set MAILDEX_BIN)" >&2; exit 2; }
BIN=$(realpath "$BIN")
SEED=${TORTURE_SEED:-$(date +%s)}
RANDOM=$SEED
WORK=$(mktemp -d /tmp/maildex-torture.XXXXXX)
MOUNTED=""
cleanup() { if [ -n "$MOUNTED" ]; then umount "$MOUNTED" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT
echo "torture: $BIN, $TRIALS trials per campaign, seed $SEED, in $WORK"

RESULTS=()
FAILS_TOTAL=0
# fail CAMPAIGN TRIAL WHY: one failed trial, kept with its evidence.
fail() { echo "  FAIL $1 #$2: $3" >&2; FAILED=$((FAILED + 1)); }
record() { RESULTS+=("$1|$2|$3|$4"); FAILS_TOTAL=$((FAILS_TOTAL + $3)); }
want() { case " $SKIP " in *" $1 "*) return 1 ;; esac; [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

# The answers of an index, as one hash: every session whole, with its trail and source.
answers() { "$BIN" query --index "$1" --json --messages since:1970-01-01 2>/dev/null | sha256sum | cut -c1-16; }
# A random number of milliseconds below $1.
below() { echo $(( (RANDOM * 32768 + RANDOM) % ($1 > 0 ? $1 : 1) )); }
ms() { date +%s%3N; }
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
# The number of sessions of an index.
sessions() { "$BIN" query --index "$1" --count since:1970-01-01; }
# run_killed MS CMD...: runs CMD, kills it with SIGKILL after MS milliseconds if still running.
run_killed() {
  local delay=$1; shift
  "$@" > /dev/null 2>&1 &
  local pid=$!
  sleep_ms "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Logs: 4 days of Stalker, a little over 10 MB (quick) or 14 MB (the full run: its 50 trials of each fit in an hour); the first 2 days are the
# index as it was before each run.
PER_DAY=$([ $QUICK = 1 ] && echo 6000 || echo 8000)
make_logs() {  # DIR COMPRESSION
  "$BIN" generate --out "$1" --days 4 --sessions-per-day "$PER_DAY" --seed 5 --compress "$2" > /dev/null
  touch -d '2 hours ago' "$1"/*
}

kill_index_campaign() {  # NAME COMPRESSION
  local name=$1 logs=$WORK/logs-$2
  make_logs "$logs" "$2"
  local files=("$logs"/*)
  local base=$WORK/$name-base after=$WORK/$name-after
  "$BIN" index --index "$base" "${files[0]}" "${files[1]}" > /dev/null 2>&1
  cp -a "$base" "$after"
  local t0; t0=$(ms)
  "$BIN" index --index "$after" "${files[@]}" > /dev/null 2>&1
  local span=$(( $(ms) - t0 ))
  local before_hash after_hash; before_hash=$(answers "$base"); after_hash=$(answers "$after")
  FAILED=0
  for trial in $(seq "$TRIALS"); do
    local idx=$WORK/$name-trial
    rm -rf "$idx"; cp -a "$base" "$idx"
    run_killed "$(below $((span * 11 / 10)))" "$BIN" index --index "$idx" "${files[@]}"
    if ! "$BIN" verify --index "$idx" > /dev/null 2> "$WORK/err"; then fail "$name" "$trial" "verify after kill: $(head -c 300 "$WORK/err")"; continue; fi
    local h; h=$(answers "$idx")
    if [ "$h" != "$before_hash" ] && [ "$h" != "$after_hash" ]; then fail "$name" "$trial" "answers neither before nor after the run"; continue; fi
    if ! "$BIN" index --index "$idx" "${files[@]}" > /dev/null 2> "$WORK/err"; then fail "$name" "$trial" "the run again: $(head -c 300 "$WORK/err")"; continue; fi
    [ "$(answers "$idx")" = "$after_hash" ] || fail "$name" "$trial" "the run again does not answer as a run without the kill"
  done
  record "$name" "$TRIALS" "$FAILED" "index of 4 days onto 2 ($((span)) ms a run), killed at 0-110% of it"
}

want kill-index-plain && kill_index_campaign kill-index-plain none
want kill-index-zstd && kill_index_campaign kill-index-zstd zstd
want kill-index-frames && kill_index_campaign kill-index-frames zstd-frames

if want kill-merge; then
  # Ten small days, nine indexed a run each: the tenth run's merge takes the ten segments.
  logs=$WORK/logs-merge
  "$BIN" generate --out "$logs" --days 10 --sessions-per-day $((PER_DAY / 3)) --seed 3 > /dev/null
  touch -d '2 hours ago' "$logs"/*
  base=$WORK/merge-base
  for f in $(ls "$logs"/* | head -9); do "$BIN" index --index "$base" "$f" > /dev/null 2>&1; done
  # index_until_merging IDX ERR: starts the run in the background (PID in $pid) and returns
  # once it says it merges (or has ended). ERR is emptied first: the child truncates its
  # stderr only once it runs, and an earlier run's "merging" must not be read as this one's.
  index_until_merging() {
    : > "$2"
    "$BIN" index --index "$1" "$logs" > /dev/null 2>> "$2" &
    pid=$!
    until grep -q merging "$2" 2>/dev/null || ! kill -0 $pid 2>/dev/null; do sleep 0.005; done
  }
  cp -a "$base" "$WORK/merge-span"
  index_until_merging "$WORK/merge-span" "$WORK/merge-err"
  t0=$(ms); wait $pid; span=$(( $(ms) - t0 ))
  grep -q merging "$WORK/merge-err" || { echo "torture: the tenth run did not merge" >&2; exit 2; }
  after_hash=$(answers "$WORK/merge-span"); segs=$(ls "$WORK/merge-span" | grep -c '^seg-')
  FAILED=0
  for trial in $(seq "$TRIALS"); do
    idx=$WORK/merge-trial; rm -rf "$idx"; cp -a "$base" "$idx"
    index_until_merging "$idx" "$WORK/merge-trial-err"
    sleep_ms "$(below $((span * 11 / 10)))"
    kill -9 $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
    if ! "$BIN" verify --index "$idx" > /dev/null 2> "$WORK/err"; then fail kill-merge "$trial" "verify after kill: $(head -c 300 "$WORK/err")"; continue; fi
    # The run's files were committed before its merge began.
    [ "$(answers "$idx")" = "$after_hash" ] || { fail kill-merge "$trial" "answers differ from a run without the kill"; continue; }
    if ! "$BIN" index --index "$idx" "$logs" > /dev/null 2> "$WORK/err"; then fail kill-merge "$trial" "the run again: $(head -c 300 "$WORK/err")"; continue; fi
    [ "$(answers "$idx")" = "$after_hash" ] || { fail kill-merge "$trial" "the run again answers differently"; continue; }
    n=$(ls "$idx" | grep -c '^seg-'); left=$(ls "$idx" | grep -c '\.tmp$' || true)
    [ "$n" = "$segs" ] && [ "$left" = 0 ] || fail kill-merge "$trial" "the run again left $n segments and $left temporary files (a run without the kill: $segs, 0)"
  done
  record kill-merge "$TRIALS" "$FAILED" "the merge of 10 segments that ends an index run ($span ms), killed at 0-110% of it; the run again finishes the merge"
fi

if want kill-compact; then
  logs=$WORK/logs-none; [ -d "$logs" ] || make_logs "$logs" none
  base=$WORK/compact-base
  for f in "$logs"/*; do "$BIN" index --index "$base" --no-merge "$f" > /dev/null 2>&1; done
  h0=$(answers "$base")
  cp -a "$base" "$WORK/compact-span"; t0=$(ms); "$BIN" compact --index "$WORK/compact-span" > /dev/null 2>&1; span=$(( $(ms) - t0 ))
  FAILED=0
  for trial in $(seq "$TRIALS"); do
    idx=$WORK/compact-trial; rm -rf "$idx"; cp -a "$base" "$idx"
    run_killed "$(below $((span * 11 / 10)))" "$BIN" compact --index "$idx"
    if ! "$BIN" verify --index "$idx" > /dev/null 2> "$WORK/err"; then fail kill-compact "$trial" "verify: $(head -c 300 "$WORK/err")"; continue; fi
    [ "$(answers "$idx")" = "$h0" ] || { fail kill-compact "$trial" "answers changed"; continue; }
    if ! "$BIN" compact --index "$idx" > /dev/null 2> "$WORK/err"; then fail kill-compact "$trial" "compact again: $(head -c 300 "$WORK/err")"; continue; fi
    [ "$(answers "$idx")" = "$h0" ] || fail kill-compact "$trial" "answers changed after compact again"
  done
  record kill-compact "$TRIALS" "$FAILED" "compact of 4 segments ($span ms), killed at 0-110% of it"
fi

if want damage; then
  logs=$WORK/logs-none; [ -d "$logs" ] || make_logs "$logs" none
  good=$WORK/damage-good
  # Two runs, the second leaving sessions open at its end: a carry file.
  files=("$logs"/*)
  "$BIN" index --index "$good" --no-merge "${files[0]}" "${files[1]}" > /dev/null 2>&1
  head -c 300000 "${files[2]}" > "$WORK/partial.log"; touch -d '2 hours ago' "$WORK/partial.log"
  "$BIN" index --index "$good" --no-merge --date 2026-01-03 "$WORK/partial.log" > /dev/null 2>&1
  h0=$(answers "$good")
  FAILED=0; refused=0; same=0; unchanged=0; passed=()
  for trial in $(seq $((TRIALS * 4))); do
    idx=$WORK/damage-trial; rm -rf "$idx"; cp -a "$good" "$idx"
    # The files the index is: MANIFEST, LOCK and what MANIFEST names (a file a later run
    # superseded may linger for readers of the older manifest; no answer reads it).
    mapfile -t victims < <(echo MANIFEST; echo LOCK; awk '$1 == "segment" || $1 == "carry" { print $2 }' "$good/MANIFEST")
    victim=${victims[$((RANDOM % ${#victims[@]}))]}
    size=$(stat -c %s "$idx/$victim")
    offset=$(below "$size")
    case $((RANDOM % 3)) in
      0) how="flip at $offset"
         python3 -c 'import sys
p, o = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, "rb").read())
if b: b[o] ^= 1 << (o % 8)
open(p, "wb").write(b)' "$idx/$victim" "$offset" ;;
      1) how="truncate to $offset"; truncate -s "$offset" "$idx/$victim" ;;
      2) page=$(( offset / 4096 * 4096 )); how="zero page at $page"
         dd if=/dev/zero of="$idx/$victim" bs=4096 seek=$((page / 4096)) count=1 conv=notrunc status=none ;;
    esac
    set +e
    "$BIN" verify --index "$idx" > /dev/null 2> "$WORK/verr"; v=$?
    "$BIN" query --index "$idx" --json --messages since:1970-01-01 > "$WORK/qout" 2> "$WORK/qerr"; q=$?
    set -e
    what="$victim, $how"
    if [ $v -ge 128 ] || [ $q -ge 128 ]; then fail damage "$trial" "$what: killed by a signal (verify $v, query $q)"; continue; fi
    if [ $q -eq 0 ] && [ "$(sha256sum < "$WORK/qout" | cut -c1-16)" != "$h0" ]; then
      fail damage "$trial" "$what: query answered differently (verify exit $v)"; continue
    fi
    for pair in "$v:$WORK/verr" "$q:$WORK/qerr"; do
      rc=${pair%%:*}; err=${pair#*:}
      if [ "$rc" -ne 0 ] && { [ "$rc" -ne 2 ] || ! grep -q "$idx" "$err"; }; then
        fail damage "$trial" "$what: exit $rc without naming a file of the index: $(head -c 200 "$err")"; continue 2
      fi
    done
    if [ $v -ne 0 ] || [ $q -ne 0 ]; then refused=$((refused + 1)); else same=$((same + 1)); fi
    if [ $v -eq 0 ] && cmp -s "$good/$victim" "$idx/$victim"; then unchanged=$((unchanged + 1))
    elif [ $v -eq 0 ]; then passed+=("${victim%%-*} ($how)"); fi
  done
  record damage $((TRIALS * 4)) "$FAILED" "$refused refused naming the file, $same answered as before ($unchanged left the file as it was; verify passed ${#passed[@]} changed: ${passed[*]:-none})"
fi

# A log of 60 MB (quick: 15 MB) modified just now, so it is read, not mapped.
big_log() {
  "$BIN" generate --out "$WORK/biglog" --days 1 --sessions-per-day $((PER_DAY * 4)) --seed 9 > /dev/null
  mv "$WORK/biglog"/*.log "$1"; rm -rf "$WORK/biglog"
}

if want log-truncated; then
  FAILED=0
  big_log "$WORK/whole.log"
  t0=$(ms); "$BIN" index --index "$WORK/trunc-span" --date 2026-01-01 "$WORK/whole.log" > /dev/null 2>&1; span=$(( $(ms) - t0 ))
  for trial in $(seq "$TRIALS"); do
    log=$WORK/trunc/2026-01-01.log; rm -rf "$WORK/trunc"; mkdir -p "$WORK/trunc"; cp "$WORK/whole.log" "$log"
    idx=$WORK/trunc-idx; rm -rf "$idx"
    cut_at=$(below "$(stat -c %s "$log")")
    "$BIN" index --index "$idx" "$log" > /dev/null 2> "$WORK/err" &
    pid=$!
    sleep_ms "$(below "$span")"
    truncate -s "$cut_at" "$log"
    set +e; wait $pid; rc=$?; set -e
    if [ $rc -ge 128 ] || { [ $rc -ne 0 ] && [ $rc -ne 1 ]; }; then fail log-truncated "$trial" "index exit $rc: $(head -c 300 "$WORK/err")"; continue; fi
    "$BIN" verify --index "$idx" > /dev/null 2> "$WORK/err" || { fail log-truncated "$trial" "verify: $(head -c 300 "$WORK/err")"; continue; }
  done
  record log-truncated "$TRIALS" "$FAILED" "a log truncated at a random size at a random moment of its run: exit 0 or 1, verify passes"
fi

if want log-growing; then
  FAILED=0
  [ -f "$WORK/whole.log" ] || big_log "$WORK/whole.log"
  size=$(stat -c %s "$WORK/whole.log")
  # The reference: the whole file indexed at the path the trials use, so answers compare.
  log=$WORK/grow/2026-01-01.log; mkdir -p "$WORK/grow"; cp "$WORK/whole.log" "$log"
  ref=$WORK/grow-ref
  t0=$(ms); "$BIN" index --index "$ref" "$log" > /dev/null 2>&1; span=$(( $(ms) - t0 ))
  href=$(answers "$ref")
  for trial in $(seq "$TRIALS"); do
    rm -rf "$WORK/grow"; mkdir -p "$WORK/grow"
    first=$(( size / 4 + $(below $((size / 2))) ))
    head -c "$first" "$WORK/whole.log" > "$log"
    idx=$WORK/grow-idx; rm -rf "$idx"
    "$BIN" index --index "$idx" "$log" > /dev/null 2> "$WORK/err" &
    pid=$!
    sleep_ms "$(below "$span")"
    tail -c +$((first + 1)) "$WORK/whole.log" >> "$log"
    set +e; wait $pid; rc=$?; set -e
    if [ $rc -ne 0 ]; then fail log-growing "$trial" "index exit $rc: $(head -c 300 "$WORK/err")"; continue; fi
    "$BIN" verify --index "$idx" > /dev/null 2> "$WORK/err" || { fail log-growing "$trial" "verify: $(head -c 300 "$WORK/err")"; continue; }
    "$BIN" index --index "$idx" "$log" > /dev/null 2> "$WORK/err" || { fail log-growing "$trial" "the second run: $(head -c 300 "$WORK/err")"; continue; }
    "$BIN" verify --index "$idx" > /dev/null 2> "$WORK/err" || { fail log-growing "$trial" "verify after the second run: $(head -c 300 "$WORK/err")"; continue; }
    h=$(answers "$idx")
    [ "$h" = "$href" ] || fail log-growing "$trial" "after the second run the answers ($(sessions "$idx") sessions) differ from an index of the whole file ($(sessions "$ref"))"
  done
  record log-growing "$TRIALS" "$FAILED" "a log appended to at a random moment of its run, then indexed again: every answer as an index of the whole file"
fi

if want full-disk; then
  FAILED=0; trials=$(( TRIALS > 4 ? TRIALS / 5 : 2 ))
  mnt=$WORK/small
  mkdir -p "$mnt"
  if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=8m tmpfs "$mnt" 2>/dev/null; then
    MOUNTED=$mnt
    logs=$WORK/logs-none; [ -d "$logs" ] || make_logs "$logs" none
    files=("$logs"/*)
    for trial in $(seq "$trials"); do
      rm -rf "${mnt:?}"/*
      mount -o remount,size=8m "$mnt"
      idx=$mnt/idx
      "$BIN" index --index "$idx" "${files[0]}" > /dev/null 2>&1 || { fail full-disk "$trial" "the first day does not fit in 8 MB"; continue; }
      h0=$(answers "$idx")
      # Fill the disk but for a little room (random), then index the other days.
      room=$(( 200 + $(below 2000) ))
      avail=$(df --output=avail -k "$mnt" | tail -1)
      if [ $((avail - room)) -gt 0 ]; then dd if=/dev/zero of="$mnt/filler" bs=1k count=$((avail - room)) status=none 2>/dev/null || true; fi
      set +e; "$BIN" index --index "$idx" "${files[@]}" > /dev/null 2> "$WORK/err"; rc=$?; set -e
      if [ $rc -ne 2 ]; then fail full-disk "$trial" "index onto a full disk: exit $rc (want 2): $(head -c 300 "$WORK/err")"; continue; fi
      grep -q "$idx" "$WORK/err" || { fail full-disk "$trial" "the error does not name the index: $(head -c 300 "$WORK/err")"; continue; }
      [ "$(answers "$idx")" = "$h0" ] || { fail full-disk "$trial" "the previous index answers differently"; continue; }
      rm -f "$mnt/filler"; mount -o remount,size=64m "$mnt"
      "$BIN" index --index "$idx" "${files[@]}" > /dev/null 2> "$WORK/err" || { fail full-disk "$trial" "with room again: $(head -c 300 "$WORK/err")"; continue; }
      "$BIN" verify --index "$idx" > /dev/null 2>&1 || fail full-disk "$trial" "verify with room again"
    done
    record full-disk "$trials" "$FAILED" "index of 4 days onto a tmpfs of 8 MB left with 0.2-2.2 MB, then with room"
  else
    record full-disk 0 0 "skipped: mounting a tmpfs needs root"
  fi
fi

if want serve; then
  # wrk from Debian, when it is missing and we may install it.
  if ! command -v wrk > /dev/null && [ "$(id -u)" -eq 0 ] && command -v apt-get > /dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } > /dev/null 2>&1 || true
  fi
  while IFS= read -r line; do
    IFS='|' read -r c t f n <<< "$line"
    record "$c" "$t" "$f" "$n"
  done < <(python3 scripts/torture_serve.py --bin "$BIN" --work "$WORK" $([ $QUICK = 1 ] && echo --quick) ${SERVE_SECONDS:+--seconds "$SERVE_SECONDS"} \
           || echo "serve|1|1|scripts/torture_serve.py failed")
fi

echo
printf '| %-18s | %6s | %8s | %s |\n' campaign trials failures notes
printf '|%s|%s|%s|%s|\n' "--------------------" "--------" "----------" "------"
for r in "${RESULTS[@]}"; do
  IFS='|' read -r c t f n <<< "$r"
  printf '| %-18s | %6s | %8s | %s |\n' "$c" "$t" "$f" "$n"
done
[ "$FAILS_TOTAL" -eq 0 ]
