# syntax=docker/dockerfile:1
# One image for every c4forge process: the stage is chosen by the command,
#   docker run IMAGE                          # embedded mode, all stages (CMD ["serve"])
#   docker run IMAGE serve --stages parse     # one stage of the distributed mode
#   docker run IMAGE migrate                  # apply the database schema and exit
# compose/docker-compose.yml and compose/k8s/ use it that way.

# ---- build ------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target caches stay between builds (BuildKit); the binary is
# copied out of the cache mount inside the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin c4forge \
 && install -m 0755 target/release/c4forge /usr/local/bin/c4forge

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: TLS to S3 and brokers; curl: the HEALTHCHECK below.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 c4forge \
 && useradd --system --uid 10001 --gid c4forge --home-dir /var/lib/c4forge --create-home --shell /usr/sbin/nologin c4forge
COPY --from=builder /usr/local/bin/c4forge /usr/local/bin/c4forge

# Containers listen on every interface. The API (ingest, notifier) serves its
# probes on C4FORGE_LISTEN; a stage-only process (parse, generate, store)
# serves /healthz, /readyz and /metrics on C4FORGE_ADMIN_LISTEN.
ENV C4FORGE_LISTEN=0.0.0.0:8080 \
    C4FORGE_ADMIN_LISTEN=0.0.0.0:9090 \
    C4FORGE_DATA_DIR=/var/lib/c4forge/data
EXPOSE 8080 9090
USER 10001:10001
WORKDIR /var/lib/c4forge

# The API answers on 8080, a stage-only process on 9090: whichever this
# container runs answers. (A `migrate` container exits before the first check.)
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || curl -fsS -o /dev/null http://127.0.0.1:9090/healthz || exit 1

ENTRYPOINT ["c4forge"]
CMD ["serve"]
