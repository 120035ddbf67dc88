#!/usr/bin/env bash
# `make test-prometheus`: /metrics read by Python's prometheus_client.
# Installs what is missing: python3 with its venv module (apt), and
# prometheus_client into a venv under target/external/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/external/lib.sh

# Debian ships ensurepip, which venv needs, in python3-venv.
if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip' 2>/dev/null; then
  echo "test-prometheus: installing python3 and python3-venv"
  apt_install python3 python3-venv
fi
venv="$TARGET/external/prometheus-venv"
if ! "$venv/bin/python" -c 'import prometheus_client' 2>/dev/null; then
  echo "test-prometheus: installing prometheus_client into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check prometheus_client==0.26.0
fi
run_ignored prometheus_client WSRELAY_TEST_PYTHON="$venv/bin/python"
