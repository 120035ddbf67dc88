#!/usr/bin/env bash
# `make test-backplane`: the --backplane tests against real redis-server
# processes they start themselves. Installs Debian's redis-server when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/external/lib.sh

ensure_redis_server test-backplane
# One at a time: each test starts relays and Redis servers of its own.
log=$(mktemp)
status=0
"$CARGO" test --test backplane -- --ignored --test-threads=1 2>&1 | tee "$log" || status=$?
if [ "$status" = 0 ] && ! grep -q "^test result: ok\. [1-9]" "$log"; then
  echo "no backplane test ran" >&2
  status=1
fi
rm -f "$log"
exit "$status"
