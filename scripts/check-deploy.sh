#!/usr/bin/env bash
# Checks the deployment files (Dockerfile, compose/, docs/METRICS.md) as far as
# possible without a Docker engine or a Kubernetes cluster, then runs the
# distributed mode exactly as compose/docker-compose.yml does against the local
# PostgreSQL, RabbitMQ and S3 test server. Idempotent: installs what it needs.
#
#   1. docker-compose config -q          (Debian's docker-compose 1.29)
#   2. promtool check config             (promtool from Debian's prometheus package,
#                                          unpacked into the cache, no daemon installed)
#      promtool check rules              (every Grafana panel expression, as PromQL)
#   3. kubectl kustomize                 every overlay of compose/k8s (base + dev/prod), then
#      kubernetes-validate --strict      (offline Kubernetes schemas, PyPI) and
#      checkov                           (own venv; skips with reasons in compose/k8s/.checkov.yaml)
#   4. compose/check-files.py            (cross-file consistency: metrics doc vs code,
#                                          dashboard vs docs/METRICS.md, Prometheus targets
#                                          vs compose ports, k8s vs compose commands,
#                                          env names vs src/config.rs, Dockerfile)
#   5. compose/run-like-compose.py       (the compose services' commands and environment,
#                                          run locally; needs the built binary; a real
#                                          Prometheus scrapes every replica and evaluates the
#                                          dashboard's expressions)
#
#   C4FORGE_CACHE      venv and tools (default ~/.cache/c4forge)
#   CARGO_TARGET_DIR   where the binary is (default $C4FORGE_CACHE/target)
#   C4FORGE_BIN        the binary (default $CARGO_TARGET_DIR/debug/c4forge; built if missing)
#   C4FORGE_TEST_S3_ENDPOINT  the S3 test server (default http://127.0.0.1:9000)
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${C4FORGE_CACHE:-$HOME/.cache/c4forge}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
bin="${C4FORGE_BIN:-$CARGO_TARGET_DIR/debug/c4forge}"
venv="$cache/venv"
step() { printf '\n==> %s\n' "$*"; }

step "deploy check tools"
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v docker-compose >/dev/null || apt_install docker-compose
command -v rabbitmqctl >/dev/null || { echo "rabbitmqctl not found: RabbitMQ must be installed (scripts/test.sh)"; exit 1; }
command -v psql >/dev/null || apt_install postgresql-client

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c 'import yaml, kubernetes_validate' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check PyYAML kubernetes-validate
fi
py="$venv/bin/python"

# promtool and the Prometheus server binary from Debian's prometheus package,
# unpacked into the cache (installing the package would also start a server).
promdir="$cache/prometheus"
promtool="$promdir/promtool"
prometheus="$promdir/prometheus"
if [ ! -x "$promtool" ] || [ ! -x "$prometheus" ]; then
  tmp=$(mktemp -d)
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null)
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  install -D -m 0755 "$tmp/x/usr/bin/promtool" "$promtool"
  install -D -m 0755 "$tmp/x/usr/bin/prometheus" "$prometheus"
  rm -rf "$tmp"
fi
echo "docker-compose $(docker-compose version --short), $("$promtool" --version 2>&1 | head -1), kubernetes-validate $("$venv/bin/kubernetes-validate" --version 2>&1 | tail -1)"

step "docker-compose config"
# The compose file requires a JWT secret (no default); any value resolves it.
C4FORGE_JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" \
  docker-compose -f compose/docker-compose.yml config -q
echo "compose/docker-compose.yml is valid"

step "promtool: Prometheus configuration and dashboard expressions"
"$promtool" check config compose/prometheus/prometheus.yml
rules=$(mktemp --suffix=.yml)
"$py" - "$rules" <<'EOF'
import json, pathlib, sys, yaml
rules = []
for path in sorted(pathlib.Path("compose/grafana/dashboards").glob("*.json")):
    for panel in json.loads(path.read_text()).get("panels", []):
        for t in panel.get("targets", []):
            rules.append({"record": f"dashboard:panel{panel['id']}:{t['refId'].lower()}", "expr": t["expr"]})
yaml.safe_dump({"groups": [{"name": "grafana-dashboard-expressions", "rules": rules}]}, open(sys.argv[1], "w"))
print(f"{len(rules)} dashboard expressions")
EOF
"$promtool" check rules "$rules"
rm -f "$rules"

step "kubectl kustomize + kubernetes-validate + checkov: compose/k8s overlays"
command -v kubectl >/dev/null || apt_install kubernetes-client
dvenv="$cache/deploy-venv"   # checkov's own venv (its pins clash with the test venv's)
[ -x "$dvenv/bin/python" ] || python3 -m venv "$dvenv"
"$dvenv/bin/checkov" --version 2>/dev/null | grep -qx 3.3.30 ||
  "$dvenv/bin/pip" install --quiet --disable-pip-version-check checkov==3.3.30
rendered=$(mktemp -d)
for overlay in compose/k8s/overlays/*/; do
  name=$(basename "$overlay")
  kubectl kustomize "$overlay" > "$rendered/$name.yaml"
  "$venv/bin/kubernetes-validate" --strict --quiet "$rendered/$name.yaml"
  BC_SKIP_MAPPING=TRUE "$dvenv/bin/checkov" -f "$rendered/$name.yaml" \
    --config-file compose/k8s/.checkov.yaml --compact --quiet
  echo "overlay $name: builds, valid (Kubernetes $("$venv/bin/kubernetes-validate" --version 2>&1 | tail -1) schemas), checkov clean"
done
rm -rf "$rendered"
echo "KEDA objects (compose/k8s/optional) checked structurally below"

if [ ! -x "$bin" ]; then
  step "cargo build (no binary at $bin)"
  cargo build --locked
fi

step "cross-file checks"
"$py" compose/check-files.py --bin "$bin"

step "the distributed mode exactly as compose runs it"
"$py" compose/run-like-compose.py --bin "$bin" --prometheus "$prometheus"

step "deployment checks passed"
