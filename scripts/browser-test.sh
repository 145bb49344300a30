#!/usr/bin/env bash
# End-to-end test of the web page at `/` in headless Chromium: installs
# Debian's chromium and playwright-core (npm ci, no browser download) if
# missing, starts `c4forge serve` in embedded mode on a free port with a fresh
# data directory and an admin account, runs tests/browser/e2e.mjs, stops the
# server. Idempotent; exits non-zero on any failure.
#
#   C4FORGE_CACHE      cache root (default ~/.cache/c4forge)
#   CARGO_TARGET_DIR   where the debug binary is (default $C4FORGE_CACHE/target);
#                      built with `cargo build` if missing
#   C4FORGE_ARTIFACTS  screenshots and downloads (default $C4FORGE_CACHE/artifacts/browser)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

cache="${C4FORGE_CACHE:-$HOME/.cache/c4forge}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
export C4FORGE_ARTIFACTS="${C4FORGE_ARTIFACTS:-$cache/artifacts/browser}"
mkdir -p "$C4FORGE_ARTIFACTS"
step() { printf '\n==> %s\n' "$*"; }

step "browser test: chromium and playwright-core"
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null || { echo "chromium is not usable" >&2; exit 1; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq nodejs npm >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "playwright-core needs node >= 20, found $(node --version)" >&2; exit 1; }
lock_sum=$(sha256sum tests/browser/package-lock.json | cut -c1-16)
if [ ! -f "tests/browser/node_modules/.c4forge-$lock_sum" ]; then
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  touch "tests/browser/node_modules/.c4forge-$lock_sum"
fi

bin="$CARGO_TARGET_DIR/debug/c4forge"
# Build when missing, or when the page's assets (embedded at compile time)
# are newer than the binary: a stale binary would test an old page.
if [ ! -x "$bin" ] || [ -n "$(find ingest/web ingest/src/web.rs -newer "$bin" -print -quit)" ]; then
  step "browser test: building $bin"
  cargo build --bin c4forge
fi

step "browser test: starting c4forge serve (embedded mode)"
data=$(mktemp -d)
log="$data/serve.log"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

export C4FORGE_DATA_DIR="$data/state"
export C4FORGE_LISTEN=127.0.0.1:0
# Short-lived access tokens: the test checks that the page renews them.
export C4FORGE_TOKEN_TTL_SECS=30
export C4FORGE_ADMIN_EMAIL=admin@example.com
export C4FORGE_ADMIN_PASSWORD="admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
C4FORGE_USER_PASSWORD="$C4FORGE_ADMIN_PASSWORD" "$bin" user create "$C4FORGE_ADMIN_EMAIL" --admin >/dev/null

"$bin" serve >"$log" 2>&1 &
pid=$!
addr=""
for _ in $(seq 300); do
  addr=$(sed -nE 's#^c4forge listening on (http://[^ ]+)$#\1#p' "$log" | head -n1)
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "c4forge serve did not start; its log:" >&2
  cat "$log" >&2
  exit 1
fi
echo "server at $addr"
export C4FORGE_URL="$addr"

step "browser test: tests/browser/e2e.mjs"
status=0
node tests/browser/e2e.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- c4forge serve log (last 60 lines) ---" >&2
  tail -n 60 "$log" >&2
  exit "$status"
fi
echo "screenshot: $C4FORGE_ARTIFACTS/browser-e2e.png"
