#!/usr/bin/env bash
# The test command: set up a fresh machine, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test --skip-build
# `maildex serve`: the API against the real server, the page in headless Chromium
# (installs python3-venv, selenium, chromium and chromium-driver if missing).
scripts/test-web.sh
# `maildex export` and `maildex sql` against embedded ClickHouse (chdb, in .build/ch-venv).
scripts/test-clickhouse.sh
# Fault campaigns, a few trials each (the full run: Benchmarks/RELIABILITY.md). The growing
# log is left out here until the failure the CI run of 2026-12-08 found (1 trial of 4 in a
# debug build: answers differ, sessions the same) is understood (issue #20, RELIABILITY.md);
# its Swift test (GrowingLogTests) runs above.
scripts/torture.sh --quick --skip log-growing
# The searcher shared by eight threads while runs commit and merge, under ThreadSanitizer
# (a build folder of its own: every module is instrumented).
swift test --scratch-path .build-tsan --sanitize=thread --filter SearcherTests
# The fuzz targets, built with libFuzzer and AddressSanitizer, over their seeds (inputs
# that once failed among them): they must build and pass. Fuzzing itself: scripts/fuzz.sh.
for target in FuzzSessions FuzzIndex FuzzArchive FuzzManifest FuzzCarry FuzzQuery; do
  scripts/fuzz.sh "$target" replay
done
