#!/usr/bin/env bash
# `make e2e`: installs what the browser test needs when it is missing (Debian's chromium,
# playwright-core from npm into e2e/node_modules), builds the relay and runs e2e/demo.test.mjs.
#
#   E2E_PROFILE=release   test a release build (default: debug, which `make test` already built)
#   E2E_SERVER_CMD=...    test another server instead of the relay (it must listen on $E2E_LISTEN);
#                         the relay is then not built
#   E2E_ROOMS=0           skip the check that rooms do not hear each other
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=/usr/bin/chromium
TEST_TIMEOUT_S=150

. tests/external/lib.sh  # as_root, apt_install

if [ ! -x "$CHROMIUM" ]; then
  echo "e2e: installing Debian's chromium"
  apt_install chromium
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "e2e: installing node and npm"
  apt_install nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "e2e: playwright-core needs Node.js 20 or newer, found $(node --version)" >&2
  exit 1
fi

# npm records what it installed in node_modules/.package-lock.json: reinstall when the lock changed.
if [ ! -d e2e/node_modules/playwright-core ] || [ e2e/package-lock.json -nt e2e/node_modules/.package-lock.json ]; then
  echo "e2e: installing playwright-core (no browser download: the test uses $CHROMIUM)"
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ -z "${E2E_SERVER_CMD:-}" ]; then
  profile=${E2E_PROFILE:-debug}
  if [ "$profile" = release ]; then
    cargo build --release --bin wsrelay
  else
    cargo build --bin wsrelay
  fi
  export WSRELAY_BIN="${CARGO_TARGET_DIR:-$PWD/target}/$profile/wsrelay"
fi

export CHROMIUM
# The test bounds itself well below this; the outer limit only guards against a wedged node.
exec timeout --kill-after=10 "$TEST_TIMEOUT_S" node e2e/demo.test.mjs
