#!/usr/bin/env bash
# `make test-prometheus`: /metrics read by Python's prometheus_client.
# Installs what is missing: python3 with its venv module (apt), and
# prometheus_client into a venv under target/external/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/external/lib.sh

python_venv prometheus-venv prometheus_client prometheus_client==0.26.0
run_ignored prometheus_client WSRELAY_TEST_PYTHON="$venv_python"
