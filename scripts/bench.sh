#!/usr/bin/env bash
# Throughput and latency benchmarks of c4forge (see BENCHMARKS.md).
#
#   scripts/bench.sh [scenario]
#
# Scenarios (default: all, in this order):
#   infra           raw capacity of RabbitMQ, PostgreSQL and the S3 test server
#                   through c4forge's runtime code (c4forge-bench infra)
#   embedded        `c4forge serve` (SQLite, local objects, in-process bus):
#                   idle RSS, maximum throughput (closed loop), then low load
#                   (open loop at 20% of the measured maximum) for latency
#   distributed     one process per stage on RabbitMQ + PostgreSQL + S3: same
#   distributed-2x  the same with two processes of the slowest stage: $SLOW_STAGE,
#                   else the stage with the longest mean handling time in the
#                   logs of the `distributed` run just before (all), else store
#   distributed-kafka  one process per stage with Kafka as the bus (the tansu
#                   broker of scripts/test.sh at $KAFKA, default 127.0.0.1:9092;
#                   binaries built with --features kafka; librdkafka settings
#                   in KAFKA_OPTS, default fetch.wait.max.ms=10) + PostgreSQL + S3
#   ws              websocket fan-out on the embedded mode: the notifier's RSS
#                   per idle connection with WS_CLIENTS connections, then
#                   WS_CLIENTS clients each following its own job to `done`,
#                   delivery latency from the event's commit to the client
#   all             every scenario above
#
# Knobs (environment): JOBS (closed-loop uploads, 300), CONCURRENCY (16),
# LOW_JOBS (open-loop uploads at low load, 60), LOW_FRACTION (0.2), LOW_RATE
# (fixed low-load rate instead of the fraction), INFRA_COUNT (100000),
# INFRA_SECS (8), INFRA_CONCURRENCY (16), SLOW_STAGE (see above), MAX_SECS
# (300), WS_CLIENTS (10000), BENCH_OUT (results directory). Parser throughput is a criterion
# bench: `cargo bench -p preprocess`.
#
# Needs the local services of scripts/test.sh: PostgreSQL on 127.0.0.1:5432
# (user postgres, trust), RabbitMQ on 127.0.0.1:5672 (guest, `rabbitmqctl`),
# the S3 test server on http://127.0.0.1:9000. Every run gets its own
# database, vhost and bucket, removed at exit; only processes started here
# are stopped.
set -euo pipefail

SCENARIO=${1:-all}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/c4forge/target}
JOBS=${JOBS:-300}
CONCURRENCY=${CONCURRENCY:-16}
LOW_JOBS=${LOW_JOBS:-60}
LOW_FRACTION=${LOW_FRACTION:-0.2}
INFRA_COUNT=${INFRA_COUNT:-100000}
INFRA_SECS=${INFRA_SECS:-8}
INFRA_CONCURRENCY=${INFRA_CONCURRENCY:-16}
SLOW_STAGE=${SLOW_STAGE:-}
MAX_SECS=${MAX_SECS:-300}
WS_CLIENTS=${WS_CLIENTS:-10000}
S3_ENDPOINT=${C4FORGE_TEST_S3_ENDPOINT:-http://127.0.0.1:9000}
PG=postgres://postgres@127.0.0.1:5432
AMQP=amqp://guest:guest@127.0.0.1:5672
KAFKA=${C4FORGE_TEST_KAFKA:-127.0.0.1:9092}
# tansu answers a fetch only when fetch.wait.max.ms (librdkafka default 500 ms)
# has passed, so every hop would wait that long; a real Kafka answers as soon
# as data arrives (see BENCHMARKS.md).
KAFKA_OPTS=${KAFKA_OPTS:-fetch.wait.max.ms=10}
VENV=$HOME/.cache/c4forge/venv

case "$SCENARIO" in
infra | embedded | distributed | distributed-2x | distributed-kafka | ws | all) ;;
*)
    sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

echo "== building release binaries (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$ROOT" && cargo build --release --bins -p c4forge -p c4forge-bench --features kafka)
BIN=$CARGO_TARGET_DIR/release/c4forge
BENCH=$CARGO_TARGET_DIR/release/c4forge-bench
OUT=${BENCH_OUT:-$CARGO_TARGET_DIR/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
RUN=$(mktemp -d /tmp/c4forge-bench.XXXXXX)

echo "== machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(free -m | awk '/^Mem:/ {print $2 " MiB"}') memory; $(date -u +%FT%TZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== results in $OUT"

PIDS=()
VHOSTS=()
DBS=()
BUCKETS=()

stop_servers() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

delete_bucket() {
    # Empties and removes the bucket (moto keeps objects in memory).
    local py
    for py in "$VENV/bin/python" "$HOME/.cache/c4forge-s3venv/bin/python"; do
        [ -x "$py" ] && "$py" -c 'import boto3' 2>/dev/null && break
        py=
    done
    if [ -n "$py" ]; then
        "$py" - "$1" "$S3_ENDPOINT" <<'EOF' >/dev/null 2>&1 || true
import sys, boto3
s3 = boto3.resource("s3", endpoint_url=sys.argv[2], aws_access_key_id="test",
                    aws_secret_access_key="test", region_name="us-east-1")
b = s3.Bucket(sys.argv[1])
b.objects.all().delete()
b.delete()
EOF
    fi
}

cleanup() {
    stop_servers
    cp "$RUN"/*.err "$OUT/" 2>/dev/null || true
    local v d b
    for v in "${VHOSTS[@]}"; do rabbitmqctl delete_vhost "$v" >/dev/null 2>&1 || true; done
    for d in "${DBS[@]}"; do psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
    for b in "${BUCKETS[@]}"; do delete_bucket "$b"; done
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh database, vhost and bucket named $1; sets DB_URL, AMQP_URL, BUCKET.
isolate() {
    local name=$1
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $name" >/dev/null
    DBS+=("$name")
    rabbitmqctl add_vhost "$name" >/dev/null
    VHOSTS+=("$name")
    rabbitmqctl set_permissions -p "$name" guest '.*' '.*' '.*' >/dev/null
    local bucket=${name//_/-}
    curl -fsS -X PUT "$S3_ENDPOINT/$bucket" -o /dev/null
    BUCKETS+=("$bucket")
    DB_URL=$PG/$name
    AMQP_URL=$AMQP/$name
    BUCKET=$bucket
}

export AWS_ENDPOINT_URL=$S3_ENDPOINT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true
# The per-user limits would otherwise answer 429 to one user's load, and the
# websocket fan-out holds more connections than the default caps.
export C4FORGE_UPLOADS_PER_MINUTE=10000000 C4FORGE_MAX_ACTIVE_JOBS=10000000
export C4FORGE_MAX_WEBSOCKETS_PER_USER=10000000 C4FORGE_MAX_CONNECTIONS=1000000
export C4FORGE_JWT_SECRET=bench-secret-0123456789abcdef0123456789abcdef
unset C4FORGE_CONFIG C4FORGE_BUS C4FORGE_DATABASE C4FORGE_OBJECTS C4FORGE_LISTEN C4FORGE_ADMIN_LISTEN

# Starts `c4forge serve ARGS...` as $1, waits for its listening line; sets
# LAST_PID and LAST_ADDR.
start() {
    local name=$1
    shift
    name=$SCN-$name
    "$BIN" serve "$@" >"$RUN/$name.out" 2>"$RUN/$name.err" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    local i
    for i in $(seq 1 300); do
        if LAST_ADDR=$(sed -n 's/^c4forge \(admin \)\{0,1\}listening on //p' "$RUN/$name.out" | head -1) && [ -n "$LAST_ADDR" ]; then
            return 0
        fi
        if ! kill -0 "$LAST_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "$name did not start:" >&2
    tail -20 "$RUN/$name.err" >&2
    exit 1
}

idle_rss() {
    local pid
    sleep 3
    for pid in "$@"; do
        echo "idle RSS pid $pid: $(awk '/^VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status")  $(tr '\0' ' ' <"/proc/$pid/cmdline" | sed 's|^[^ ]*/||')"
    done | tee -a "$OUT/$SCN-idle.txt"
}

json_field() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# CPU seconds used so far by all PostgreSQL processes (one per connection).
pg_cpu() {
    local tck
    tck=$(getconf CLK_TCK)
    for f in /proc/[0-9]*/stat; do
        cat "$f" 2>/dev/null
    done | awk -v t="$tck" '$2 == "(postgres)" {s += $14 + $15} END {printf "%.2f", s / t}'
}

# Max throughput (closed loop), then low load (open loop) against $API.
# Besides ours, the RSS and CPU of the S3 test server and of RabbitMQ are
# read (read only) in the distributed scenarios, and PostgreSQL's CPU.
load_runs() {
    local pidargs=()
    local pid
    for pid in "$@"; do pidargs+=(--pid "$pid"); done
    if [ "$SCN" != embedded ]; then
        for pid in $(pgrep -f moto_server | head -1) $(pgrep -x beam.smp | head -1); do
            pidargs+=(--pid "$pid")
        done
    fi
    local pg0
    pg0=$(pg_cpu)
    echo "-- $SCN: maximum throughput (closed loop, $CONCURRENCY in flight, $JOBS jobs)"
    "$BENCH" load --server "$API" --jobs "$JOBS" --concurrency "$CONCURRENCY" \
        --max-secs "$MAX_SECS" "${pidargs[@]}" --label "$SCN-max" --json "$OUT/$SCN-max.json" |
        tee "$OUT/$SCN-max.txt"
    echo "PostgreSQL processes CPU $(python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))' "$pg0" "$(pg_cpu)") s" |
        tee -a "$OUT/$SCN-max.txt"
    local rate=${LOW_RATE:-}
    if [ -z "$rate" ]; then
        rate=$(python3 -c 'import sys; print(max(0.5, round(float(sys.argv[1]) * float(sys.argv[2]), 2)))' \
            "$(json_field "$OUT/$SCN-max.json" throughput_jobs_per_sec)" "$LOW_FRACTION")
    fi
    sleep 2
    echo "-- $SCN: low load (open loop, $rate uploads/s = $LOW_FRACTION of the maximum, $LOW_JOBS jobs)"
    "$BENCH" load --server "$API" --jobs "$LOW_JOBS" --rate "$rate" \
        --max-secs "$MAX_SECS" "${pidargs[@]}" --label "$SCN-low" --json "$OUT/$SCN-low.json" |
        tee "$OUT/$SCN-low.txt"
    # Mean handling time per stage over both runs, from the servers' logs.
    { cat "$RUN/$SCN"-*.err 2>/dev/null || true; } | sed 's/\x1b\[[0-9;]*m//g' |
        sed -n -E 's/.*stage=([a-z]+).*delivery handled.*elapsed_ms=([0-9]+).*/\1 \2/p' |
        awk '{s[$1] += $2; n[$1]++} END {for (k in s) printf "stage %s: %d deliveries, mean %.1f ms\n", k, n[k], s[k] / n[k]}' |
        tee "$OUT/$SCN-stages.txt"
}

run_infra() {
    SCN=infra
    echo "== infra: RabbitMQ, PostgreSQL, S3 through runtime::{bus,jobs,objects}"
    isolate "c4bench_infra_$$"
    "$BENCH" infra --amqp "$AMQP_URL" --database "$DB_URL" --s3-bucket "$BUCKET" \
        --count "$INFRA_COUNT" --secs "$INFRA_SECS" --concurrency "$INFRA_CONCURRENCY" \
        --json "$OUT/infra.json" | tee "$OUT/infra.txt"
}

run_embedded() {
    SCN=embedded
    echo "== embedded: one process, SQLite, local objects, in-process bus"
    mkdir -p "$RUN/embedded-data"
    C4FORGE_LISTEN=127.0.0.1:0 start embedded --data-dir "$RUN/embedded-data"
    API=$LAST_ADDR
    local pid=$LAST_PID
    idle_rss "$pid"
    load_runs "$pid"
    stop_servers
}

run_ws() {
    SCN=ws
    echo "== ws: websocket fan-out, $WS_CLIENTS clients, embedded mode"
    # Each client holds a descriptor in c4forge-bench and one in the server.
    ulimit -n "$(ulimit -Hn)"
    if [ "$(ulimit -n)" -lt $((WS_CLIENTS + 1024)) ]; then
        echo "ulimit -n is $(ulimit -n): too low for $WS_CLIENTS websocket clients" >&2
        exit 1
    fi
    mkdir -p "$RUN/ws-data"
    C4FORGE_LISTEN=127.0.0.1:0 start ws --data-dir "$RUN/ws-data"
    "$BENCH" ws --server "$LAST_ADDR" --clients "$WS_CLIENTS" --pid "$LAST_PID" \
        --max-secs "$((MAX_SECS * 2))" --label "ws-$WS_CLIENTS" --json "$OUT/ws.json" |
        tee "$OUT/ws.txt"
    stop_servers
}

# The stage whose deliveries took longest on average in the logs of the
# `distributed` scenario ("delivery handled ... elapsed_ms=N"); store if none.
slowest_stage() {
    { cat "$RUN"/distributed-parse-*.err "$RUN"/distributed-generate-*.err "$RUN"/distributed-store-*.err 2>/dev/null || true; } |
        sed 's/\x1b\[[0-9;]*m//g' |
        sed -n -E 's/.*stage=([a-z]+).*delivery handled.*elapsed_ms=([0-9]+).*/\1 \2/p' |
        awk '{s[$1] += $2; n[$1]++} END {best = "store"; m = -1; for (k in s) if (s[k] / n[k] > m) {m = s[k] / n[k]; best = k}; print best}'
}

# $1: processes of the slowest stage (1 or 2).
run_distributed() {
    local copies=$1
    if [ -z "$SLOW_STAGE" ] && [ "$copies" = 2 ]; then
        SLOW_STAGE=$(slowest_stage)
    fi
    SCN=distributed
    [ "$copies" = 2 ] && SCN=distributed-2x
    local what="one process per stage" broker=RabbitMQ
    [ "$copies" = 2 ] && what="one process per stage, two of $SLOW_STAGE"
    [ "${2:-}" = kafka ] && SCN=distributed-kafka && broker="Kafka (tansu at $KAFKA)"
    echo "== $SCN: $what, on $broker + PostgreSQL + S3"
    isolate "c4bench_${copies}_${2:-amqp}_$$"
    export C4FORGE_BUS=$AMQP_URL C4FORGE_DATABASE=$DB_URL C4FORGE_OBJECTS=s3://$BUCKET
    if [ "${2:-}" = kafka ]; then
        export C4FORGE_BUS="kafka://$KAFKA?$KAFKA_OPTS" C4FORGE_BUS_PREFIX="c4bench$$"
    fi
    "$BIN" migrate >/dev/null
    local pids=()
    C4FORGE_LISTEN=127.0.0.1:0 start api --stages ingest,notifier
    API=$LAST_ADDR
    pids+=("$LAST_PID")
    local stage n
    for stage in parse generate store; do
        n=1
        [ "$stage" = "$SLOW_STAGE" ] && n=$copies
        for i in $(seq 1 "$n"); do
            C4FORGE_ADMIN_LISTEN=127.0.0.1:0 start "$stage-$i" --stages "$stage"
            pids+=("$LAST_PID")
        done
    done
    idle_rss "${pids[@]}"
    load_runs "${pids[@]}"
    stop_servers
    unset C4FORGE_BUS C4FORGE_DATABASE C4FORGE_OBJECTS C4FORGE_BUS_PREFIX
}

case "$SCENARIO" in
infra) run_infra ;;
embedded) run_embedded ;;
distributed) run_distributed 1 ;;
distributed-2x) run_distributed 2 ;;
distributed-kafka) run_distributed 1 kafka ;;
ws) run_ws ;;
all)
    run_infra
    run_embedded
    run_distributed 1
    run_distributed 2
    run_ws
    ;;
esac
echo "== done; results in $OUT"
