#!/usr/bin/env bash
# Runs Schemathesis against /openapi.json of a running embedded-mode server:
# no 5xx and every response matches the documented schema. Bounded in
# examples per operation and in time. Needs the venv of scripts/test.sh and
# a built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${C4FORGE_CACHE:-$HOME/.cache/c4forge}"
target="${CARGO_TARGET_DIR:-$cache/target}"
venv="$cache/venv"
data=$(mktemp -d)
log="$data/server.log"
C4FORGE_DATA_DIR="$data" C4FORGE_LISTEN=127.0.0.1:0 C4FORGE_UPLOADS_PER_MINUTE=100000 \
  C4FORGE_AUTH_PER_MINUTE=100000 "$target/debug/c4forge" serve >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
base=""
for _ in $(seq 100); do
  base=$(sed -n 's/^c4forge listening on //p' "$log" | head -n1)
  [ -n "$base" ] && break
  sleep 0.2
done
[ -n "$base" ] || { cat "$log"; echo "server did not start"; exit 1; }
creds='{"email":"schemathesis@example.com","password":"correct horse battery"}'
curl -sf -X POST "$base/api/v1/auth/register" -d "$creds" >/dev/null
token=$(curl -sf -X POST "$base/api/v1/auth/token" -d "$creds" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
curl -sf -X POST "$base/api/v1/diagrams?name=bigbank.puml" -H "Authorization: Bearer $token" \
  --data-binary @tests/fixtures/bigbank_container.puml >/dev/null
timeout 600 "$venv/bin/schemathesis" run "$base/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples 25 --workers 1 --request-timeout 10 --generation-deterministic
