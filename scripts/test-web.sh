#!/usr/bin/env bash
# The tests of `maildex serve` (Tests/web): the HTTP API against the real binary, and the
# page in headless Chromium. Assumes `swift build` was done (or MAILDEX_BIN is set).
# Installs what it needs if missing: a virtualenv at .build/web-venv with selenium, and
# Debian's chromium and chromium-driver.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=""
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

BIN="${MAILDEX_BIN:-.build/debug/maildex}"
if [ ! -x "$BIN" ]; then
  echo "test-web: no maildex binary at $BIN: run \`swift build\` first (or set MAILDEX_BIN)" >&2
  exit 2
fi

VENV=.build/web-venv
if [ ! -x "$VENV/bin/python" ]; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    # Debian splits venv (and ensurepip) off python3: python3-venv, or python3.X-venv.
    PYVER="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    apt_install python3-venv || apt_install "python$PYVER-venv"
    python3 -m venv "$VENV"
  fi
fi
if ! "$VENV/bin/python" -c 'import selenium' >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check selenium
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt_install chromium chromium-driver
fi

exec "$VENV/bin/python" -m unittest discover -s Tests/web -p 'test_*.py' -v
