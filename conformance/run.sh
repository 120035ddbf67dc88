#!/usr/bin/env bash
# Autobahn TestSuite cases 1.* to 10.* (run by kosoku, from PyPI) in
# fuzzingclient mode against `wsrelay serve --mode echo`.
# Fails on any case that is not OK or INFORMATIONAL, and on any change
# from conformance/expected.json (UPDATE=1 rewrites it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
venv="$here/.venv"
reports="$here/reports"
port="${CONFORMANCE_PORT:-9301}"

if [ ! -x "$venv/bin/kosoku" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kosoku==0.1.0"
fi

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
"$root/target/release/wsrelay" serve --mode echo --listen "127.0.0.1:$port" --max-message 16MiB \
    >"$here/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

rm -rf "$reports"
cases=()
for group in 1 2 3 4 5 6 7 9 10; do cases+=(-i "$group.*"); done
timeout 1200 "$venv/bin/kosoku" -m fuzzingclient -p 2 -o "$reports" "${cases[@]}" "127.0.0.1:$port"
python3 "$here/check.py" "$reports/index.json" "$here/expected.json"
