#!/usr/bin/env bash
# The test command: set up a fresh machine, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test --skip-build
