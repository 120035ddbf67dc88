#!/usr/bin/env bash
# `make test-tls`: wss:// and https:// from Python's `websockets` (asyncio
# client with an ssl context) and from curl --cacert. Installs what is
# missing: python3 with venv and curl (apt), websockets into a venv under target/external/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/external/lib.sh

command -v curl >/dev/null || apt_install curl
python_venv tls-venv websockets.asyncio.client websockets==15.0.1
run_ignored tls_ WSRELAY_TEST_TLS_PYTHON="$venv_python" WSRELAY_TEST_TLS_CURL="$(command -v curl)"
