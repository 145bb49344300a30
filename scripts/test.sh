#!/usr/bin/env bash
# Runs the whole c4forge test suite on a fresh machine: installs and starts
# what the tests need and the machine lacks, idempotently, then runs the
# format, lint, test and parser-oracle checks. `.ci/run` calls exactly this.
#
#   C4FORGE_CACHE      where the venv, the S3 server's log and (by default) the
#                      cargo target dir live (default ~/.cache/c4forge)
#   CARGO_TARGET_DIR   reused between runs (default $C4FORGE_CACHE/target)
#   C4FORGE_TEST_KAFKA_PORT  loopback port of the tansu test broker (default 9092)
#   C4FORGE_KEEP_SERVICES=1  leave the servers this run started running at the end
#                      (e.g. for scripts/soak.py); by default they are stopped
#
# Servers that were already running are used as they are and left running;
# the ones this script starts (S3 test server, tansu, and PostgreSQL or
# RabbitMQ if they were stopped) are stopped when it ends, also on failure or
# Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

cache="${C4FORGE_CACHE:-$HOME/.cache/c4forge}"
mkdir -p "$cache"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
step() { printf '\n==> %s\n' "$*"; }

# What this run started, stopped by the EXIT trap in reverse order.
started_pids=()   # "name:pid" of background servers
started_pg=""     # PostgreSQL cluster version, if started here
started_rabbit="" # 1 if RabbitMQ was started here
stop_pid() {
  local name=${1%:*} pid=${1##*:}
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local n
  for ((n = 0; n < 50; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
  echo "stopped the $name (pid $pid) this run started"
}
stop_started() {
  local status=$?
  trap - EXIT INT TERM
  if [ "${C4FORGE_KEEP_SERVICES:-}" = 1 ]; then
    [ ${#started_pids[@]} -eq 0 ] || printf 'left running (C4FORGE_KEEP_SERVICES=1): %s\n' "${started_pids[@]}"
    exit "$status"
  fi
  local i
  for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
    stop_pid "${started_pids[$i]}"
  done
  if [ -n "$started_rabbit" ]; then
    rabbitmqctl -q stop >/dev/null 2>&1 || true
    echo "stopped RabbitMQ, which this run started"
  fi
  if [ -n "$started_pg" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$started_pg" main stop || true
    echo "stopped PostgreSQL, which this run started"
  fi
  exit "$status"
}
trap stop_started EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "python venv (generated-project checks, S3 test server)"
venv="$cache/venv"
stamp="$venv/.requirements-$(cat infer/python-requirements.txt scripts/test-requirements.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -r infer/python-requirements.txt -r scripts/test-requirements.txt
  touch "$stamp"
fi
export C4FORGE_PYTHON="$venv/bin/python"

step "services: PostgreSQL, RabbitMQ, S3 test server"
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  started_pg="$(ls /etc/postgresql)"
  pg_ctlcluster --skip-systemctl-redirect "$started_pg" main start
fi
if ! rabbitmqctl -q status >/dev/null 2>&1; then
  started_rabbit=1
  rabbitmq-server -detached
  rabbitmqctl -q wait --timeout 60 /var/lib/rabbitmq/mnesia/rabbit@"$(hostname -s)".pid >/dev/null 2>&1 || true
fi
for _ in $(seq 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
s3_port="${C4FORGE_TEST_S3_PORT:-9000}"
export C4FORGE_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
if ! curl -sf -o /dev/null "$C4FORGE_TEST_S3_ENDPOINT/"; then
  nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" >"$cache/moto.log" 2>&1 &
  started_pids+=("S3 test server:$!")
  for _ in $(seq 60); do curl -sf -o /dev/null "$C4FORGE_TEST_S3_ENDPOINT/" && break; sleep 0.5; done
fi
curl -sf -o /dev/null "$C4FORGE_TEST_S3_ENDPOINT/" || { echo "S3 test server did not start; see $cache/moto.log"; exit 1; }

step "Kafka: librdkafka build tools, tansu test broker"
# The `kafka` feature (on in --all-features) builds librdkafka with cmake.
missing=$(for p in cmake libcurl4-openssl-dev; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  apt-get update -qq && apt-get install -y -qq $missing
fi
# tansu speaks the Kafka protocol; a test server only, built once outside the clone.
tansu="$cache/tansu/bin/tansu"
if [ ! -x "$tansu" ]; then
  CARGO_TARGET_DIR="$cache/tansu-target" cargo install tansu --version 0.6.0 --locked \
    --features dynostore --root "$cache/tansu"
fi
kafka_port="${C4FORGE_TEST_KAFKA_PORT:-9092}"
export C4FORGE_TEST_KAFKA="127.0.0.1:$kafka_port"
kafka_up() { (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null; }
if ! kafka_up; then
  nohup "$tansu" broker --listener-url "tcp://127.0.0.1:$kafka_port" \
    --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
    --storage-engine memory://tansu/ >"$cache/tansu.log" 2>&1 &
  started_pids+=("Kafka test broker (tansu):$!")
  for _ in $(seq 60); do kafka_up && break; sleep 0.5; done
fi
kafka_up || { echo "tansu did not start; see $cache/tansu.log"; exit 1; }

step "Redis (system tests of generated projects)"
if ! command -v redis-server >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq redis-server
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
# infer/tests/system_projects.rs runs `pytest -m system` of the property fixture and
# corpus projects against these (every service a process, real infrastructure).
export SYSTEM_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:5432/postgres"
export SYSTEM_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/"
export SYSTEM_TEST_REDIS_URL="redis://127.0.0.1:6379/0"
export SYSTEM_TEST_KAFKA_BOOTSTRAP="$C4FORGE_TEST_KAFKA"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test"
cargo test --workspace --all-features

step "schemathesis against /openapi.json (no 5xx, responses match the schema)"
./scripts/schemathesis.sh

step "web page end to end in headless Chromium"
./scripts/browser-test.sh

step "deployment files (compose, Prometheus, Grafana, k8s) and a run exactly as compose starts it"
./scripts/check-deploy.sh

step "generated deployments (--deploy all): hcl2, kustomize, kubernetes-validate, checkov, compose"
./scripts/check-generated-deploy.sh

oracle="$root/../shared/oracle/c4oracle.py"
corpus="$root/../shared/corpus/c4-plantuml"
if [ -f "$oracle" ] && [ -d "$corpus" ]; then
  step "parser agrees with PlantUML on the corpus (oracle)"
  out=$(python3 "$oracle" corpus "$corpus" --project-bin "$CARGO_TARGET_DIR/debug/c4forge")
  summary=$(printf '%s\n' "$out" | tail -n 1)
  echo "$summary"
  read -r agree total < <(printf '%s\n' "$summary" | sed -E 's#^oracle: ([0-9]+)/([0-9]+) files agree.*#\1 \2#')
  if [ "$agree" != "$total" ]; then
    printf '%s\n' "$out" | tail -n 40
    echo "the parser disagrees with PlantUML on $((total - agree)) corpus file(s)"
    exit 1
  fi

  # the project's own fixtures of constructs met in real diagrams; PlantUML's
  # reading of each is cached beside them, so no java is needed here
  step "parser agrees with PlantUML on tests/plantuml (oracle, cached)"
  fixtures="$root/preprocess/tests/plantuml"
  out=$(C4ORACLE_CACHE="$root/preprocess/tests/plantuml-oracle" \
    python3 "$oracle" corpus "$fixtures" --project-bin "$CARGO_TARGET_DIR/debug/c4forge")
  summary=$(printf '%s\n' "$out" | tail -n 1)
  echo "$summary"
  files=$(find "$fixtures" -name '*.puml' | wc -l)
  if ! printf '%s\n' "$summary" | grep -q "^oracle: $files/$files files agree"; then
    printf '%s\n' "$out" | tail -n 40
    echo "the parser disagrees with PlantUML on tests/plantuml, or a fixture has no cached"
    echo "PlantUML reading: refresh with ../shared/oracle/install-plantuml.sh, then"
    echo "C4ORACLE_CACHE=preprocess/tests/plantuml-oracle python3 ../shared/oracle/c4oracle.py corpus preprocess/tests/plantuml"
    exit 1
  fi
else
  step "oracle skipped: ../shared (PlantUML oracle and corpus) is not beside this checkout"
fi

step "all checks passed"
