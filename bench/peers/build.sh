#!/usr/bin/env bash
# Installs and builds the benchmark peers (bench/peers/*). Idempotent: npm
# packages are reinstalled only when a lockfile changed, cargo rebuilds only
# what changed. Needs node/npm and cargo; reads no stdin.
set -euo pipefail
cd "$(dirname "$0")"

for peer in node-ws uws; do
    # npm writes node_modules/.package-lock.json on install; a lockfile newer
    # than it means the installed tree may be stale.
    if [[ ! -f $peer/node_modules/.package-lock.json || $peer/package-lock.json -nt $peer/node_modules/.package-lock.json ]]; then
        echo "build.sh: npm ci in $peer" >&2
        (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
    fi
done

# The uWebSockets.js package ships native addons for a few Node.js ABIs only
# and would otherwise fall back to a slow pure-JS server; fail loudly instead.
(cd uws && node -e '
const abi = `${process.platform}_${process.arch}_${process.versions.modules}`;
try {
  require.resolve(`@trufflesuite/uws-js-unofficial/binaries/uws_${abi}.node`);
} catch (e) {
  console.error(`build.sh: uWebSockets.js has no native addon for ${abi} (Node.js ${process.version}); use Node.js 16, 18 or 20`);
  process.exit(1);
}')

echo "build.sh: cargo build --release in tokio-tungstenite" >&2
cargo build --release --locked --quiet --manifest-path tokio-tungstenite/Cargo.toml </dev/null
