#!/usr/bin/env bash
# Autobahn TestSuite cases (run by kosoku, from PyPI) in fuzzingclient mode
# against `wsrelay serve --mode echo`:
#   1.*-10.*       against the defaults;
#   12.* and 13.*  (permessage-deflate) against a second relay with
#                  --deflate-threshold 1. kosoku 0.1.0 mishandles an
#                  uncompressed echo on a connection that negotiated the
#                  extension (the case errors with "Strings must be encoded
#                  before hashing"), so there every echo of a byte or more
#                  goes compressed; the default stays 128 bytes.
# Fails on any case that is not OK or INFORMATIONAL, and on any change
# from conformance/expected.json (UPDATE=1 rewrites it).
# CONFORMANCE_GROUPS=deflate (or plain) runs one half only, for a quick look;
# the check then still compares against every expected case and fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
venv="$here/.venv"
reports="$here/reports"
port="${CONFORMANCE_PORT:-9301}"
deflate_port=$((port + 1))
groups="${CONFORMANCE_GROUPS:-all}"

if [ ! -x "$venv/bin/kosoku" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kosoku==0.1.0"
fi

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
servers=()
trap 'for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done' EXIT
start_relay() { # PORT LOG [FLAGS...]
    local listen=$1 log=$2
    shift 2
    "$root/target/release/wsrelay" serve --mode echo --listen "127.0.0.1:$listen" --max-message 16MiB "$@" \
        >"$here/$log" 2>&1 &
    servers+=($!)
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$listen") 2>/dev/null && return
        sleep 0.1
    done
}
run_cases() { # PORT REPORT-DIR GROUP...
    local listen=$1 out=$2 cases=() started=$SECONDS
    shift 2
    for group in "$@"; do cases+=(-i "$group.*"); done
    timeout 1500 "$venv/bin/kosoku" -m fuzzingclient -p 2 -o "$out" "${cases[@]}" "127.0.0.1:$listen"
    echo "groups $* took $((SECONDS - started)) s"
}

rm -rf "$reports"
indexes=()
if [ "$groups" != deflate ]; then
    start_relay "$port" server.log
    run_cases "$port" "$reports/plain" 1 2 3 4 5 6 7 9 10
    indexes+=("$reports/plain/index.json")
fi
if [ "$groups" != plain ]; then
    start_relay "$deflate_port" server-deflate.log --deflate-threshold 1
    run_cases "$deflate_port" "$reports/deflate" 12 13
    indexes+=("$reports/deflate/index.json")
fi
python3 "$here/check.py" "${indexes[@]}" "$here/expected.json"
