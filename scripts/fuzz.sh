#!/usr/bin/env bash
# Fuzzes maildex with libFuzzer and AddressSanitizer (the targets are in Tests/Fuzz):
#
#   scripts/fuzz.sh [FuzzSessions|FuzzIndex|FuzzArchive|FuzzManifest|FuzzCarry|FuzzQuery] [SECONDS|replay|save] [libFuzzer options...]
#
# `replay` runs the target once over its seeds only (scripts/test.sh does, for each target).
# `save` minimizes the corpus into Tests/Fuzz/Corpus/TARGET.tar.zst, which a later campaign
# (on any machine) starts from; commit it after a campaign.
#
# FuzzSessions: any bytes as a day's log give the sessions of one sequential read
#   whatever the chunks, windows, threads and reading (mapped, read(2), zstd frames).
# FuzzIndex: any bytes, indexed, give those sessions back, each found by its terms.
# FuzzArchive: any bytes as a .zst archive read as libzstd streams it, or one clear error.
# FuzzManifest: any bytes as MANIFEST: one naming only the index's own files, the same
#   stored and loaded again, or an error naming the file.
# FuzzCarry: any bytes as a carry file: sessions that round-trip and resume, or an error.
# FuzzQuery: any bytes as query terms: a query that runs, with SQL whose literals are all
#   quoted, or a syntax error.
#
# The corpus grows in .build/fuzz/corpus-TARGET (seeded from Tests/Fuzz/Seeds, or
# Tests/Fuzz/SeedArchives, SeedManifests, SeedCarries, SeedQueries); a failing
# input is written to .build/fuzz/ as crash-*, and `.build/fuzz/TARGET FILE` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-FuzzSessions}
seconds=${2:-60}
shift $(( $# < 2 ? $# : 2 ))
bash scripts/setup.sh
swift build --package-path Tests/Fuzz --scratch-path .build/fuzz-build -c release \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -g -Xswiftc -use-ld=lld --product "$target"
mkdir -p ".build/fuzz/corpus-$target"
seeds=../../Tests/Fuzz/Seeds
case "$target" in
  FuzzArchive) seeds=../../Tests/Fuzz/SeedArchives ;;
  FuzzManifest) seeds=../../Tests/Fuzz/SeedManifests ;;
  FuzzCarry) seeds=../../Tests/Fuzz/SeedCarries ;;
  FuzzQuery) seeds=../../Tests/Fuzz/SeedQueries ;;
esac
cp .build/fuzz-build/release/"$target" .build/fuzz/"$target"
kept=Tests/Fuzz/Corpus/$target.tar.zst
cd .build/fuzz
# Swift's own crash backtracer and ASan get in each other's way; ASan reports.
export SWIFT_BACKTRACE=enable=no
if [ "$seconds" = replay ]; then
  exec ./"$target" -runs=0 "$@" "$seeds"
fi
# The corpus kept from earlier campaigns (minimized), when this machine has none yet.
if [ -f "../../$kept" ] && [ -z "$(ls -A "corpus-$target")" ]; then
  tar --zstd -xf "../../$kept" -C "corpus-$target"
fi
if [ "$seconds" = save ]; then
  # Minimizes the corpus (the inputs that add coverage) into Tests/Fuzz/Corpus.
  rm -rf "min-$target"; mkdir "min-$target"
  ./"$target" -merge=1 -max_len=16384 -timeout=30 -rss_limit_mb=4096 "$@" "min-$target" "corpus-$target" "$seeds" 2>&1 | tail -2
  mkdir -p ../../Tests/Fuzz/Corpus
  tar --zstd -cf "../../$kept" -C "min-$target" .
  echo "fuzz: kept $(ls "min-$target" | wc -l) inputs in $kept ($(stat -c %s "../../$kept") bytes)"
  exit 0
fi
exec ./"$target" -max_total_time="$seconds" -max_len=16384 -timeout=30 -rss_limit_mb=4096 \
  -print_final_stats=1 "$@" "corpus-$target" "$seeds"
