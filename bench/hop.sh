#!/usr/bin/env bash
# `make bench-hop`: the cost of the hop through Redis (bench/hop.py): four
# relays joined by a backplane beside one relay, driven by `wsrelay bench
# fanout`; writes the "Cost of the hop" results in docs/scaling.md.
# `bench/hop.sh --smoke`: one short run, fails on any loss; no report.
# Installs Debian's redis-server when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/external/lib.sh

ensure_redis_server bench-hop
"$CARGO" build --release --quiet
exec python3 bench/hop.py --bin "$TARGET/release/wsrelay" "$@"
