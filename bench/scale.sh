#!/usr/bin/env bash
# `make bench-scale`: `wsrelay bench scale` at 25,000, 100,000 and 250,000
# connections (or $CONNECTIONS alone), then docs/scaling.md's results section
# and docs/scaling.png (matplotlib in bench/.venv, as bench/run.sh sets it up).
# `make bench-scale-smoke` (--smoke): 3 relays, 20,000 connections, every one
# receiving; no report. Installs Debian's redis-server when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/external/lib.sh

ensure_redis_server bench-scale
# Every relay and load generator stays within 20,000 descriptors (what the
# development host allows); as root this also lifts a lower hard limit.
ulimit -n 20000 2>/dev/null || true
"$CARGO" build --release --quiet
bin="$TARGET/release/wsrelay"
if [ "${1:-}" = --smoke ]; then
  exec "$bin" bench scale --connections 20000 --relays 3 --timeout 5m
fi

venv=bench/.venv
if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  echo "bench-scale: creating $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt </dev/null
fi
exec "$venv/bin/python" bench/scale.py --bin "$bin" "$@"
