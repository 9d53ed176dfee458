#!/usr/bin/env bash
# query --batch: N single-IP queries answered in one process, beside the same queries
# as one process each (a sample of them, timed and scaled), in one sitting.
#
#   Benchmarks/batch/run.sh INDEX [N] [MAILDEX]
#
# Half the IPs are peers the index holds (drawn from its sessions), half are addresses
# it has never seen (the common case of an abuse desk's list). Needs hyperfine.
set -euo pipefail
INDEX="${1:?usage: run.sh INDEX [N] [MAILDEX]}"
N="${2:-10000}"
BIN="${3:-.build/release/maildex}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Peers of the index: the distinct peers of its sessions, in a spread-out sample.
"$BIN" query --index "$INDEX" --summary ip:::/0 | awk '{print $4}' \
  | sed -E 's/^\[(.*)\](:[0-9]+)?$/\1/; s/^([0-9.]+):[0-9]+$/\1/' | sort -u > "$WORK/peers"
HAVE=$(wc -l < "$WORK/peers")
HALF=$((N / 2))
awk -v n="$HALF" -v have="$HAVE" 'BEGIN { srand(7) } { a[NR] = $0 } END { for (i = 0; i < n; i++) print "ip:" a[1 + int(rand() * have)] }' "$WORK/peers" > "$WORK/queries"
awk -v n="$((N - HALF))" 'BEGIN { srand(11); for (i = 0; i < n; i++) printf "ip:%d.%d.%d.%d\n", 1 + int(rand() * 222), int(rand() * 256), int(rand() * 256), 1 + int(rand() * 254) }' >> "$WORK/queries"
shuf --random-source=<(yes) "$WORK/queries" -o "$WORK/queries"
echo "index: $INDEX ($(du -sh "$INDEX" | cut -f1)), $(wc -l < "$WORK/queries") queries ($HALF of peers it holds, of $HAVE distinct)"
"$BIN" query --index "$INDEX" --batch "$WORK/queries" --count > "$WORK/counts"
echo "sessions found: $(awk -F'"count":' '{ s += $2 } END { print s }' "$WORK/counts")"
"$BIN" query --index "$INDEX" --batch "$WORK/queries" > "$WORK/out.ndjson"
echo "NDJSON answer: $(wc -l < "$WORK/out.ndjson") sessions, $(du -h "$WORK/out.ndjson" | cut -f1)"
head -n 200 "$WORK/queries" > "$WORK/q200"
hyperfine --warmup 1 --runs 5 --export-markdown "$WORK/table.md" \
  -n "batch --count ($N)" "$BIN query --index $INDEX --batch $WORK/queries --count > /dev/null" \
  -n "batch NDJSON ($N)" "$BIN query --index $INDEX --batch $WORK/queries > /dev/null" \
  -n "200 processes, --count" "while read -r q; do $BIN query --index $INDEX --count \$q > /dev/null || true; done < $WORK/q200"
cat "$WORK/table.md"
/usr/bin/time -f "batch NDJSON: max RSS %M KB, %e s" "$BIN" query --index "$INDEX" --batch "$WORK/queries" > /dev/null
