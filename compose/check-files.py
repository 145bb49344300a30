#!/usr/bin/env python3
"""Static checks of the deployment files, without a Docker engine or a cluster.

- docs/METRICS.md lists every metric the Rust code emits (metrics::counter!/gauge!/histogram!).
- The Grafana dashboard: valid JSON, every panel has the provisioned datasource and non-empty
  targets, every expression only uses metrics documented in docs/METRICS.md, and no
  histogram-only PromQL (histogram_quantile, _bucket) over a c4forge summary.
- Grafana provisioning: the datasource uid the panels use, the dashboard path compose mounts.
- Prometheus: every c4forge serve service of the compose file is scraped through
  dns_sd_configs on its service name and on the port its environment listens on; RabbitMQ's
  rabbitmq_prometheus plugin is enabled and scraped on 15692.
- Compose and Kubernetes: every variable is one c4forge reads (C4FORGE_* from src/config.rs
  ENV_VARS, RUST_LOG, AWS_*); `c4forge config` accepts each service's environment and the
  ConfigMap + Secret; Deployments run the same commands as the compose services, probe
  /healthz and /readyz on the port the configuration listens on; the Secret holds only
  placeholders; KEDA ScaledObjects target existing Deployments and their stage's queue.
- Compose text: C4FORGE_JWT_SECRET is required (no default), every image is pinned to a
  version (no `latest`), none from Docker Hub's removed minio/* repositories.
- Dockerfile: non-root user, HEALTHCHECK on the ports of its ENV, ENTRYPOINT/CMD, builder Rust
  version at least the workspace's rust-version.

Usage: check-files.py [--bin PATH]   (PyYAML needed; --bin enables the `c4forge config` checks)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose"
OTHER_KNOWN_VARS = {
    "RUST_LOG",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ALLOW_HTTP",
}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "and", "or", "unless", "inf", "nan",
}

errors: list[str] = []
notes: list[str] = []


def err(msg: str) -> None:
    errors.append(msg)


def note(msg: str) -> None:
    notes.append(msg)


# ------------------------------------------------------------------ shared inputs


def env_vars_of_binary() -> set[str]:
    text = (ROOT / "src" / "config.rs").read_text()
    m = re.search(r"pub const ENV_VARS[^=]*=\s*&\[(.*?)\];", text, re.S)
    names = set(re.findall(r'"(C4FORGE_[A-Z0-9_]+)"', m.group(1))) if m else set()
    if not names:
        err("src/config.rs: no ENV_VARS list with C4FORGE_* names found")
    return names


KNOWN = env_vars_of_binary()


def check_var_names(where: str, names) -> None:
    for name in names:
        if name.startswith("C4FORGE_"):
            if name not in KNOWN:
                err(f"{where}: {name} is not in src/config.rs ENV_VARS")
        elif name not in OTHER_KNOWN_VARS:
            err(f"{where}: {name} is not a variable c4forge reads")


def code_metrics() -> dict[str, str]:
    """Metric name -> kind, from the workspace's Rust sources."""
    found: dict[str, str] = {}
    pattern = re.compile(r'metrics::(counter|gauge|histogram)!\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"')
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in ("target", ".git", "node_modules") and not d.startswith(".")]
        for f in filenames:
            if f.endswith(".rs"):
                text = (Path(dirpath) / f).read_text(errors="replace")
                for kind, name in pattern.findall(text):
                    found[name] = kind
    return found


def documented_metrics() -> dict[str, str]:
    """Metric name -> type column, from the tables of docs/METRICS.md."""
    doc = ROOT / "docs" / "METRICS.md"
    if not doc.exists():
        err("docs/METRICS.md is missing")
        return {}
    out = {}
    for line in doc.read_text().splitlines():
        m = re.match(r"\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*([^|]*)\|", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def resolved_compose() -> dict:
    out = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE / "docker-compose.yml"), "config"],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            # required by the compose file (no default); any value resolves it
            "C4FORGE_JWT_SECRET": "0" * 64,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        err(f"docker-compose config: {out.stderr.strip()}")
        return {"services": {}}
    return yaml.safe_load(out.stdout)


def dockerfile_final_stage() -> dict:
    lines, buf = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not buf and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        lines.append(buf + line)
        buf = ""
    froms = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    info: dict = {"env": {}, "from": [lines[i].split()[1] for i in froms], "user": None, "healthcheck": None}
    for line in lines[froms[-1] + 1 :]:
        word, _, rest = line.strip().partition(" ")
        word = word.upper()
        if word == "ENV":
            for k, v in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', rest):
                info["env"][k] = v.strip('"')
        elif word == "USER":
            info["user"] = rest.strip()
        elif word == "HEALTHCHECK":
            info["healthcheck"] = rest
        elif word in ("ENTRYPOINT", "CMD"):
            info[word.lower()] = json.loads(rest)
    return info


def as_env(environment) -> dict[str, str]:
    if not environment:
        return {}
    if isinstance(environment, list):
        return {k: v for k, _, v in (i.partition("=") for i in environment)}
    return {k: "" if v is None else str(v) for k, v in environment.items()}


def port_of(addr: str) -> int | None:
    _, _, port = addr.rpartition(":")
    return int(port) if port.isdigit() else None


# ------------------------------------------------------------------ checks


def check_metrics_doc() -> dict[str, str]:
    code = code_metrics()
    doc = documented_metrics()
    if not code:
        err("found no metrics::counter!/gauge!/histogram! call in the workspace")
    for name, kind in sorted(code.items()):
        if name not in doc:
            err(f"docs/METRICS.md does not list {name} ({kind} in the code)")
        elif kind == "histogram" and "summary" not in doc[name] and "histogram" not in doc[name]:
            err(f"docs/METRICS.md: {name} is a metrics::histogram! (rendered as a summary), documented as {doc[name]!r}")
    for name in sorted(set(doc) - set(code)):
        if name.startswith("c4forge_"):
            note(f"docs/METRICS.md lists {name}, which no Rust source in this tree emits")
    return doc


def promql_metric_names(expr: str) -> set[str]:
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS:
            continue
        if re.fullmatch(r"\d+[smhdwy]?", word):
            continue
        names.add(word)
    return names


def check_dashboard(doc: dict[str, str], compose: dict) -> None:
    ds_file = COMPOSE / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    uids = {d.get("uid") for d in (yaml.safe_load(ds_file.read_text()) or {}).get("datasources", [])}
    if not uids - {None}:
        err(f"{ds_file.relative_to(ROOT)}: no datasource with a uid")
    prov = yaml.safe_load((COMPOSE / "grafana" / "provisioning" / "dashboards" / "c4forge.yml").read_text())
    paths = [p.get("options", {}).get("path") for p in prov.get("providers", [])]
    mounts = {}
    for v in compose["services"].get("grafana", {}).get("volumes", []):
        if isinstance(v, dict):
            mounts[v.get("target")] = v.get("source")
        else:
            src, _, rest = str(v).partition(":")
            mounts[rest.split(":")[0]] = src
    for p in paths:
        if p not in mounts:
            err(f"grafana dashboard provider path {p} is not a volume of the compose grafana service")
        elif not Path(mounts[p]).resolve().samefile(COMPOSE / "grafana" / "dashboards"):
            err(f"grafana dashboard provider path {p} is mounted from {mounts[p]}, not compose/grafana/dashboards")

    dashboards = sorted((COMPOSE / "grafana" / "dashboards").glob("*.json"))
    if not dashboards:
        err("no dashboard in compose/grafana/dashboards")
    kinds = {n: t for n, t in doc.items()}
    for path in dashboards:
        rel = path.relative_to(ROOT)
        try:
            dash = json.loads(path.read_text())
        except ValueError as e:
            err(f"{rel}: not JSON: {e}")
            continue
        if not dash.get("uid") or not dash.get("title"):
            err(f"{rel}: needs a uid and a title")
        panels = dash.get("panels") or []
        if not panels:
            err(f"{rel}: no panels")
        ids = [p.get("id") for p in panels]
        if len(set(ids)) != len(ids):
            err(f"{rel}: duplicate panel ids {ids}")
        used: set[str] = set()
        for p in panels:
            where = f"{rel} panel {p.get('title')!r}"
            if p.get("type") == "row":
                continue
            ds = p.get("datasource") or {}
            if not isinstance(ds, dict) or ds.get("uid") not in uids:
                err(f"{where}: datasource {ds!r} is not the provisioned one ({sorted(u for u in uids if u)})")
            if "gridPos" not in p:
                err(f"{where}: no gridPos")
            targets = p.get("targets") or []
            if not targets:
                err(f"{where}: no targets")
            for t in targets:
                expr = (t.get("expr") or "").strip()
                if not expr:
                    err(f"{where}: target {t.get('refId')} has no expression")
                    continue
                if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
                    err(f"{where}: unbalanced brackets in {expr}")
                tds = t.get("datasource")
                if tds is not None and (not isinstance(tds, dict) or tds.get("uid") not in uids):
                    err(f"{where}: target datasource {tds!r} is not the provisioned one")
                for name in promql_metric_names(expr):
                    base = re.sub(r"_(sum|count|bucket)$", "", name)
                    if name in kinds:
                        used.add(name)
                    elif base in kinds and name != base:
                        used.add(base)
                        if name.endswith("_bucket") and "histogram" not in kinds[base]:
                            err(f"{where}: {name}: {base} is a {kinds[base]}, it has no buckets")
                    else:
                        err(f"{where}: {name} is not a metric listed in docs/METRICS.md")
                if "histogram_quantile" in expr:
                    for name in promql_metric_names(expr):
                        base = re.sub(r"_bucket$", "", name)
                        if base in kinds and "summary" in kinds[base]:
                            err(f"{where}: histogram_quantile over {base}, which is a summary")
        missing = {
            "c4forge_stage_messages_total", "c4forge_stage_duration_seconds", "c4forge_ws_clients",
            "c4forge_outbox_published_total", "c4forge_breaker_state", "rabbitmq_queue_messages_ready",
            "rabbitmq_queue_messages",
        } - used
        if missing:
            err(f"{rel}: no panel uses {sorted(missing)}")


def listen_port(env: dict[str, str], stages: list[str]) -> int | None:
    var = "C4FORGE_LISTEN" if {"ingest", "notifier"} & set(stages) else "C4FORGE_ADMIN_LISTEN"
    return port_of(env.get(var, ""))


def stages_of(args: list[str]) -> list[str]:
    if "--stages" in args:
        return args[args.index("--stages") + 1].split(",")
    return []


def c4forge_services(compose: dict) -> dict[str, dict]:
    out = {}
    for name, svc in compose["services"].items():
        build = svc.get("build")
        if isinstance(build, dict) and Path(build.get("context", "")).resolve() == ROOT:
            out[name] = svc
    return out


def check_compose_and_prometheus(compose: dict, image: dict, binary: str | None) -> dict[str, list[str]]:
    services = c4forge_services(compose)
    if not services:
        err("compose: no service is built from the repository's Dockerfile")
    commands = {}
    for name, svc in services.items():
        env = {**image["env"], **as_env(svc.get("environment"))}
        check_var_names(f"compose service {name}", as_env(svc.get("environment")))
        cmd = [str(c) for c in (svc.get("command") or image.get("cmd") or [])]
        commands[name] = cmd
        if cmd[:1] == ["serve"] and name != "api":
            if svc.get("container_name") or svc.get("ports"):
                err(f"compose service {name}: a scalable stage has no container_name and no host ports")
        if binary:
            run_config(f"compose service {name}", binary, env)
    for needed in ("rabbitmq", "postgres", "s3", "s3-init", "migrate", "api", "parse", "generate", "store", "prometheus", "grafana"):
        if needed not in compose["services"]:
            err(f"compose: no service {needed}")
    if "api" in compose["services"]:
        ports = compose["services"]["api"].get("ports") or []
        if not any((p.get("published") if isinstance(p, dict) else str(p).split(":")[0]) in (8080, "8080") for p in ports):
            err("compose: api does not publish 8080")

    # RabbitMQ's Prometheus plugin
    rabbit = compose["services"].get("rabbitmq", {})
    plugins_file = COMPOSE / "rabbitmq" / "enabled_plugins"
    if "rabbitmq_prometheus" not in plugins_file.read_text():
        err("compose/rabbitmq/enabled_plugins does not enable rabbitmq_prometheus")
    mounted = [v for v in rabbit.get("volumes", []) if "enabled_plugins" in (v.get("target", "") if isinstance(v, dict) else str(v))]
    if not mounted:
        err("compose rabbitmq does not mount compose/rabbitmq/enabled_plugins")

    prom_file = COMPOSE / "prometheus" / "prometheus.yml"
    prom = yaml.safe_load(prom_file.read_text())
    jobs = prom.get("scrape_configs") or []
    names = [j.get("job_name") for j in jobs]
    if len(set(names)) != len(names):
        err(f"prometheus.yml: duplicate job names {names}")
    scraped: dict[str, int] = {}
    rabbit_ok = False
    for j in jobs:
        for sd in j.get("dns_sd_configs") or []:
            if sd.get("type", "SRV") == "A" and not sd.get("port"):
                err(f"prometheus.yml job {j.get('job_name')}: dns_sd_configs of type A needs a port")
            for n in sd.get("names") or []:
                if n not in compose["services"]:
                    err(f"prometheus.yml job {j.get('job_name')}: {n} is not a compose service")
                scraped[n] = int(sd.get("port", 0))
        for sc in j.get("static_configs") or []:
            for t in sc.get("targets") or []:
                if t.startswith("rabbitmq:"):
                    rabbit_ok = t == "rabbitmq:15692" and j.get("metrics_path") == "/metrics/per-object"
    if not rabbit_ok:
        err("prometheus.yml: no job scraping rabbitmq:15692 at /metrics/per-object (per-queue metrics)")
    for name, cmd in commands.items():
        if cmd[:1] != ["serve"]:
            continue
        env = {**image["env"], **as_env(services[name].get("environment"))}
        port = listen_port(env, stages_of(cmd))
        if name not in scraped:
            err(f"prometheus.yml: compose service {name} is not scraped (dns_sd_configs names)")
        elif scraped[name] != port:
            err(f"prometheus.yml: scrapes {name} on port {scraped[name]}, but it listens on {port}")
    return commands


def check_compose_text() -> None:
    """What `docker-compose config` resolves away: the JWT secret has no default, images are pinned."""
    text = (COMPOSE / "docker-compose.yml").read_text()
    m = re.search(r"C4FORGE_JWT_SECRET:\s*(\S.*)", text)
    if not m or not m.group(1).startswith("${C4FORGE_JWT_SECRET:?"):
        err("compose: C4FORGE_JWT_SECRET must be required (${C4FORGE_JWT_SECRET:?message}), never defaulted")
    for image in re.findall(r"^\s*image:\s*(\S+)", text, re.M):
        if image.startswith("${"):
            continue
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if tag in ("", "latest"):
            err(f"compose: image {image} is not pinned to a version")
        if image.startswith(("minio/", "docker.io/minio/")):
            err(f"compose: {image}: Docker Hub no longer serves MinIO's images")


def run_config(where: str, binary: str, env: dict[str, str]) -> None:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", **env}
    out = subprocess.run([binary, "config"], env=clean, cwd="/", capture_output=True, text=True, check=False)
    if out.returncode != 0:
        err(f"{where}: `c4forge config` rejects the environment: {out.stderr.strip()}")


def check_k8s(commands: dict[str, list[str]], binary: str | None) -> None:
    docs = []
    for path in sorted((COMPOSE / "k8s").rglob("*.yaml")):
        if path.name.startswith("."):  # tool configuration (.checkov.yaml)
            continue
        for d in yaml.safe_load_all(path.read_text()):
            # Kustomize's own files (base and overlays) are not cluster objects.
            if d and d.get("kind") not in ("Kustomization", "Component"):
                docs.append((path.relative_to(ROOT), d))
    by_kind: dict[str, dict[str, tuple]] = {}
    for rel, d in docs:
        for key in ("apiVersion", "kind", "metadata"):
            if key not in d:
                err(f"{rel}: a document without {key}")
        md = d.get("metadata", {})
        if not md.get("name"):
            err(f"{rel}: {d.get('kind')} without metadata.name")
        if d.get("kind") != "Namespace" and md.get("namespace") != "c4forge":
            err(f"{rel}: {d.get('kind')}/{md.get('name')} is not in namespace c4forge")
        by_kind.setdefault(d.get("kind"), {})[md.get("name")] = (rel, d)
    for kind in ("Namespace", "ConfigMap", "Secret", "Deployment", "Service", "Job"):
        if kind not in by_kind:
            err(f"compose/k8s: no {kind}")
    config = {k: str(v) for _, d in by_kind.get("ConfigMap", {}).values() for k, v in (d.get("data") or {}).items()}
    secret = {k: str(v) for _, d in by_kind.get("Secret", {}).values() for k, v in (d.get("stringData") or {}).items()}
    check_var_names("k8s ConfigMap", config)
    check_var_names("k8s Secret", secret)
    for k, v in secret.items():
        if "CHANGE-ME" not in v:
            err(f"k8s Secret {k}: not a clearly marked placeholder (CHANGE-ME)")
    for k in ("C4FORGE_BUS", "C4FORGE_DATABASE", "C4FORGE_JWT_SECRET"):
        if k not in secret:
            err(f"k8s Secret: no {k}")
        if k in config:
            err(f"k8s ConfigMap: {k} holds a secret, it belongs in the Secret")
    env = {**config, **secret}
    if binary:
        run_config("k8s ConfigMap + Secret", binary, env)

    compose_cmds = {tuple(c) for c in commands.values()}
    deploy_stages: dict[str, list[str]] = {}
    pods = [(rel, "Deployment", n, d["spec"]["template"]) for n, (rel, d) in by_kind.get("Deployment", {}).items()]
    pods += [(rel, "Job", n, d["spec"]["template"]) for n, (rel, d) in by_kind.get("Job", {}).items()]
    for rel, kind, name, tmpl in pods:
        for c in tmpl["spec"].get("containers", []):
            args = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
            where = f"{rel} {kind}/{name} container {c.get('name')}"
            if tuple(args) not in compose_cmds:
                err(f"{where}: args {args} are not the command of any compose c4forge service {sorted(compose_cmds)}")
            for ref in c.get("envFrom") or []:
                if "configMapRef" in ref and ref["configMapRef"]["name"] not in by_kind.get("ConfigMap", {}):
                    err(f"{where}: envFrom names a missing ConfigMap")
                if "secretRef" in ref and ref["secretRef"]["name"] not in by_kind.get("Secret", {}):
                    err(f"{where}: envFrom names a missing Secret")
            check_var_names(where, [e["name"] for e in c.get("env") or []])
            if c.get("securityContext", {}).get("allowPrivilegeEscalation") is not False:
                err(f"{where}: allowPrivilegeEscalation must be false")
            if not tmpl["spec"].get("securityContext", {}).get("runAsNonRoot"):
                err(f"{where}: pod must set runAsNonRoot")
            if kind != "Deployment":
                continue
            stages = stages_of(args)
            deploy_stages[name] = stages
            port = listen_port(env, stages)
            ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = (c.get(probe) or {}).get("httpGet") or {}
                if get.get("path") != path:
                    err(f"{where}: {probe} must GET {path}")
                p = get.get("port")
                p = ports.get(p, p)
                if p != port:
                    err(f"{where}: {probe} on port {p}, but the configuration listens on {port}")
    for cmd in compose_cmds:
        if cmd and cmd[0] == "serve" and cmd not in {tuple(c.get("args") or []) for _, _, _, t in pods for c in t["spec"]["containers"]}:
            err(f"compose/k8s: no Deployment runs {' '.join(cmd)}")
    for name, (rel, svc) in by_kind.get("Service", {}).items():
        sel = svc["spec"].get("selector") or {}
        matches = [n for n, (_, d) in by_kind.get("Deployment", {}).items() if sel and all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())]
        if not matches:
            err(f"{rel} Service/{name}: selector {sel} matches no Deployment")
    api_services = [n for n, (_, s) in by_kind.get("Service", {}).items() if any(p.get("port") == 8080 for p in s["spec"].get("ports", []))]
    if not api_services:
        err("compose/k8s: no Service exposes the API on 8080")

    prefix = config.get("C4FORGE_BUS_PREFIX", "c4forge")
    auths = by_kind.get("TriggerAuthentication", {})
    for name, (rel, so) in by_kind.get("ScaledObject", {}).items():
        target = so["spec"]["scaleTargetRef"]["name"]
        if target not in deploy_stages:
            err(f"{rel} ScaledObject/{name}: target {target} is not a Deployment")
            continue
        stages = deploy_stages[target]
        for t in so["spec"].get("triggers", []):
            if t.get("type") != "rabbitmq":
                continue
            q = t.get("metadata", {}).get("queueName")
            if [q] != [f"{prefix}.{s}" for s in stages]:
                err(f"{rel} ScaledObject/{name}: queueName {q}, but {target} consumes {[f'{prefix}.{s}' for s in stages]}")
            ref = (t.get("authenticationRef") or {}).get("name")
            if ref not in auths:
                err(f"{rel} ScaledObject/{name}: authenticationRef {ref} is not a TriggerAuthentication")
    for name, (rel, ta) in auths.items():
        for s in ta["spec"].get("secretTargetRef", []):
            if s.get("name") not in by_kind.get("Secret", {}) or s.get("key") not in secret:
                err(f"{rel} TriggerAuthentication/{name}: secret {s.get('name')}/{s.get('key')} does not exist")
    if by_kind.get("ScaledObject") and not any("KEDA" in p.read_text() for p in (COMPOSE / "k8s").rglob("*.yaml") if "ScaledObject" in p.read_text()):
        err("compose/k8s: the ScaledObject file must say it needs KEDA")


def check_dockerfile(image: dict) -> None:
    user = image.get("user")
    if not user or user.split(":")[0] in ("root", "0"):
        err(f"Dockerfile: the runtime stage must run as a non-root USER (found {user!r})")
    if image.get("entrypoint") != ["c4forge"] or image.get("cmd") != ["serve"]:
        err(f"Dockerfile: expected ENTRYPOINT [\"c4forge\"] and CMD [\"serve\"], found {image.get('entrypoint')} {image.get('cmd')}")
    hc = image.get("healthcheck") or ""
    for var in ("C4FORGE_LISTEN", "C4FORGE_ADMIN_LISTEN"):
        port = port_of(image["env"].get(var, ""))
        if not port or f"127.0.0.1:{port}/healthz" not in hc:
            err(f"Dockerfile: HEALTHCHECK does not probe /healthz on the {var} port ({port})")
        if not image["env"].get(var, "").startswith("0.0.0.0:"):
            err(f"Dockerfile: {var} must listen on 0.0.0.0 in a container")
    check_var_names("Dockerfile ENV", image["env"])
    builder = image["from"][0]
    m = re.match(r"rust:(\d+)\.(\d+)", builder)
    want = re.search(r'rust-version\s*=\s*"(\d+)\.(\d+)', (ROOT / "Cargo.toml").read_text())
    if not m:
        err(f"Dockerfile: the builder should be a pinned rust:X.Y image, found {builder}")
    elif want and (int(m.group(1)), int(m.group(2))) < (int(want.group(1)), int(want.group(2))):
        err(f"Dockerfile: builder {builder} is older than the workspace's rust-version {want.group(1)}.{want.group(2)}")
    ignore = (ROOT / ".dockerignore").read_text().split()
    for needed in ("target", ".git"):
        if needed not in ignore:
            err(f".dockerignore: does not exclude {needed}")


def check_raw_names() -> None:
    """Every C4FORGE_* name written anywhere in the deployment files (environment keys,
    `${...}` interpolations, comments) is one the binary reads."""
    files = [ROOT / "Dockerfile", COMPOSE / "docker-compose.yml", COMPOSE / "prometheus" / "prometheus.yml"]
    files += sorted((COMPOSE / "k8s").rglob("*.yaml"))
    for path in files:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for name in re.findall(r"\bC4FORGE_[A-Z0-9_]+", line):
                if name not in KNOWN:
                    err(f"{path.relative_to(ROOT)}:{lineno}: {name} is not in src/config.rs ENV_VARS")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", help="the c4forge binary, for `c4forge config` checks of every environment")
    args = ap.parse_args()
    binary = args.bin if args.bin and os.access(args.bin, os.X_OK) else None
    if args.bin and not binary:
        err(f"--bin {args.bin}: not an executable")
    image = dockerfile_final_stage()
    compose = resolved_compose()
    doc = check_metrics_doc()
    check_dashboard(doc, compose)
    commands = check_compose_and_prometheus(compose, image, binary)
    check_compose_text()
    check_k8s(commands, binary)
    check_dockerfile(image)
    check_raw_names()
    for n in notes:
        print(f"check-files: note: {n}")
    if errors:
        for e in errors:
            print(f"check-files: ERROR: {e}", file=sys.stderr)
        print(f"check-files: {len(errors)} error(s)", file=sys.stderr)
        return 1
    print("check-files: metrics doc, dashboard, Grafana provisioning, Prometheus targets, compose, k8s and Dockerfile agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
