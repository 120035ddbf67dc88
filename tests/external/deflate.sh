#!/usr/bin/env bash
# `make test-deflate-interop`: permessage-deflate against Python's websockets
# (compression="deflate") and Node's ws (perMessageDeflate). Installs what is
# missing: python3 with venv and node/npm (apt), websockets into a venv under
# target/, ws into tests/external/deflate/node_modules.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/external/lib.sh

if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip' 2>/dev/null; then
  echo "test-deflate-interop: installing python3 and python3-venv"
  apt_install python3 python3-venv
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "test-deflate-interop: installing node and npm"
  apt_install nodejs npm
fi
venv="$TARGET/external/deflate-venv"
if ! "$venv/bin/python" -c 'import websockets' 2>/dev/null; then
  echo "test-deflate-interop: installing websockets into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check websockets==15.0.1
fi
peers=tests/external/deflate
if [ ! -d "$peers/node_modules/ws" ] || [ "$peers/package-lock.json" -nt "$peers/node_modules/.package-lock.json" ]; then
  echo "test-deflate-interop: installing ws"
  (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
fi
run_ignored deflate_interop WSRELAY_TEST_PYTHON_WEBSOCKETS="$venv/bin/python" WSRELAY_TEST_NODE="$(command -v node)"
