#!/usr/bin/env bash
# `make test-tls`: wss:// and https:// from Python's `websockets` (asyncio
# client with an ssl context) and from curl --cacert. Installs what is
# missing: python3 with venv and curl (apt), websockets into a venv under target/external/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/external/lib.sh

missing=()
if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip' 2>/dev/null; then
  missing+=(python3 python3-venv)
fi
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-tls: installing ${missing[*]}"
  apt_install "${missing[@]}"
fi
venv="$TARGET/external/tls-venv"
if ! "$venv/bin/python" -c 'import websockets.asyncio.client' 2>/dev/null; then
  echo "test-tls: installing websockets into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check websockets==15.0.1
fi
run_ignored tls_ WSRELAY_TEST_TLS_PYTHON="$venv/bin/python" WSRELAY_TEST_TLS_CURL="$(command -v curl)"
