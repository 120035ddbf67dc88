#!/usr/bin/env bash
# `make e2e`: installs what the browser test needs when it is missing (Debian's chromium,
# playwright-core from npm into e2e/node_modules), builds the relay and runs e2e/demo.test.mjs.
#
#   E2E_PROFILE=release   test a release build (default: debug, which `make test` already built)
#   E2E_SERVER_CMD=...    test another server instead of the relay (it must listen on $E2E_LISTEN);
#                         the relay is then not built
#   E2E_ROOMS=0           skip the check that rooms do not hear each other
#   E2E_TLS=1             over https:// and wss:// with a certificate made here (`make e2e-tls`)
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=/usr/bin/chromium
TEST_TIMEOUT_S=150

. tests/external/lib.sh  # as_root, apt_install

if [ ! -x "$CHROMIUM" ]; then
  echo "e2e: installing Debian's chromium"
  apt_install chromium
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "e2e: installing node and npm"
  apt_install nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "e2e: playwright-core needs Node.js 20 or newer, found $(node --version)" >&2
  exit 1
fi

# npm records what it installed in node_modules/.package-lock.json: reinstall when the lock changed.
if [ ! -d e2e/node_modules/playwright-core ] || [ e2e/package-lock.json -nt e2e/node_modules/.package-lock.json ]; then
  echo "e2e: installing playwright-core (no browser download: the test uses $CHROMIUM)"
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ -z "${E2E_SERVER_CMD:-}" ]; then
  profile=${E2E_PROFILE:-debug}
  if [ "$profile" = release ]; then
    cargo build --release --bin wsrelay
  else
    cargo build --bin wsrelay
  fi
  export WSRELAY_BIN="${CARGO_TARGET_DIR:-$PWD/target}/$profile/wsrelay"
fi

if [ -n "${E2E_TLS:-}" ]; then
  # A CA and an ECDSA P-256 leaf for 127.0.0.1 made here; Chromium trusts the leaf's key
  # (--ignore-certificate-errors-spki-list), node's fetch the CA.
  tls_dir=$(mktemp -d)
  trap 'rm -rf "$tls_dir"' EXIT
  curve=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${curve[@]}" -keyout "$tls_dir/ca.key" -out "$tls_dir/ca.pem" -days 1 \
    -subj "/CN=wsrelay e2e CA" 2>/dev/null
  openssl req "${curve[@]}" -keyout "$tls_dir/key.pem" -out "$tls_dir/leaf.csr" -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$tls_dir/leaf.ext"
  openssl x509 -req -in "$tls_dir/leaf.csr" -CA "$tls_dir/ca.pem" -CAkey "$tls_dir/ca.key" \
    -CAcreateserial -out "$tls_dir/cert.pem" -days 1 -extfile "$tls_dir/leaf.ext" 2>/dev/null
  export E2E_TLS_CERT="$tls_dir/cert.pem" E2E_TLS_KEY="$tls_dir/key.pem"
  E2E_TLS_SPKI=$(openssl x509 -in "$tls_dir/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)
  export E2E_TLS_SPKI NODE_EXTRA_CA_CERTS="$tls_dir/ca.pem"
  export E2E_SCREENSHOT="${E2E_SCREENSHOT:-$tls_dir/demo.png}"
fi

export CHROMIUM
# The test bounds itself well below this; the outer limit only guards against a wedged node.
timeout --kill-after=10 "$TEST_TIMEOUT_S" node e2e/demo.test.mjs
