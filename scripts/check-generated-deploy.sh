#!/usr/bin/env bash
# Checks the deployment output of generated projects (`c4forge convert --deploy all`)
# offline, for every diagram with containers: the corpus (../shared/corpus), the
# deploy fixtures (infer/tests/deploy) and the parser fixtures (preprocess/tests/plantuml).
# Idempotent: installs what it needs. What each tool does offline, measured, is in
# docs/DEPLOY.md ("Checks").
#
#   1. python-hcl2          every .tf and .tfvars parses (main venv, scripts/test-requirements.txt)
#   2. terraform fmt -check when terraform is installed (offline; `validate` needs
#                            `init`, which downloads providers: not done)
#   3. kubectl kustomize    every overlay (dev, prod) builds; kubectl from the
#                            kubernetes-client apt package if missing
#   4. kubernetes-validate  --strict on every manifest the overlays render (offline schemas)
#   5. checkov              Terraform, Bicep and Kubernetes output, with the generated
#                            .checkov.yaml (own venv: its pinned dependencies clash
#                            with the test venv's; bc-python-hcl2 and python-hcl2 are
#                            the same `hcl2` module)
#   6. docker-compose config -q on the generated compose file (Prometheus + Grafana),
#      promtool check config on its Prometheus configuration when promtool is cached
#
# checkov runs once for every target while kubernetes-validate runs; conversions,
# kustomize and kubernetes-validate batches run C4FORGE_DEPLOY_CHECK_JOBS at a time
# (default: the CPU count). The seconds of each step are printed at the end.
#
#   C4FORGE_CACHE     venvs and tools (default ~/.cache/c4forge)
#   CARGO_TARGET_DIR  where the binary is (default $C4FORGE_CACHE/target)
#   C4FORGE_BIN       the binary (default $CARGO_TARGET_DIR/debug/c4forge; built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${C4FORGE_CACHE:-$HOME/.cache/c4forge}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
bin="${C4FORGE_BIN:-$CARGO_TARGET_DIR/debug/c4forge}"
venv="$cache/venv"
dvenv="$cache/deploy-venv"
step() { printf '\n==> %s\n' "$*"; }

step "generated-deploy check tools"
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v docker-compose >/dev/null || apt_install docker-compose
command -v kubectl >/dev/null || apt_install kubernetes-client
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import hcl2, yaml' 2>/dev/null ||
  "$venv/bin/pip" install --quiet --disable-pip-version-check python-hcl2==8.1.4 PyYAML
[ -x "$dvenv/bin/python" ] || python3 -m venv "$dvenv"
if ! "$dvenv/bin/checkov" --version 2>/dev/null | grep -qx 3.3.30 ||
   ! "$dvenv/bin/python" -c 'import kubernetes_validate' 2>/dev/null; then
  "$dvenv/bin/pip" install --quiet --disable-pip-version-check checkov==3.3.30 kubernetes-validate==1.37.0
fi
echo "checkov $("$dvenv/bin/checkov" --version), kubectl $(kubectl version --client 2>/dev/null | head -1), docker-compose $(docker-compose version --short)"

if [ ! -x "$bin" ]; then
  step "cargo build (no binary at $bin)"
  cargo build --locked
fi

step "generate and check every diagram's deploy output"
args=()
[ -d ../shared/corpus/c4-plantuml ] && args+=(--diagrams ../shared/corpus/c4-plantuml)
"$venv/bin/python" scripts/check_generated_deploy.py --bin "$bin" \
  --checkov "$dvenv/bin/checkov" --kubernetes-validate "$dvenv/bin/kubernetes-validate" \
  --promtool "$cache/prometheus/promtool" --timings \
  --jobs "${C4FORGE_DEPLOY_CHECK_JOBS:-$(nproc)}" \
  --diagrams infer/tests/deploy --diagrams preprocess/tests/plantuml "${args[@]}"

step "generated deploy checks passed"
