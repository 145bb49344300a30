#!/usr/bin/env python3
"""Runs the distributed mode exactly as compose/docker-compose.yml does, on this machine.

It reads the compose file as `docker-compose config` resolves it (anchors, merge keys,
`${VAR:-default}` with an empty environment but for a random C4FORGE_JWT_SECRET, which the
file requires) and the runtime stage of the Dockerfile (ENV,
ENTRYPOINT), takes every c4forge service's command and environment, and changes only what
names a place:

- the broker `rabbitmq` -> 127.0.0.1:5672 (guest) with a fresh vhost,
- the database `postgres` -> 127.0.0.1:5432 (user postgres) with a fresh database,
- the S3 server `s3` -> the S3 test server ($C4FORGE_TEST_S3_ENDPOINT, default
  http://127.0.0.1:9000) with a fresh bucket,
- listen addresses `0.0.0.0:PORT` -> free ports on 127.0.0.1 (and a public URL on a
  published port -> the local API port), the data dir -> a temporary directory.

Then it runs `migrate`, starts every serve service (`--scale SERVICE=N` runs N replicas,
default parse=2), uploads tests/fixtures/bigbank_container.puml through the API, waits for
`done`, downloads the zip, checks /healthz, /readyz and /metrics of every process and the
queues in the vhost, stops everything with SIGTERM (as `docker compose stop`), and removes
the vhost, database and bucket. Any mismatch fails loudly with the processes' logs.

Usage: run-like-compose.py [--bin PATH] [--scale SERVICE=N ...]
Needs docker-compose (for `config` only), PyYAML, rabbitmqctl and psql.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
FIXTURE = ROOT / "tests" / "fixtures" / "bigbank_container.puml"
# The compose service of the S3 server (AWS_ENDPOINT_URL names it).
S3_SERVICE = "s3"

# Variables a c4forge container may set besides the C4FORGE_* names of src/config.rs.
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


class Failure(Exception):
    pass


def fail(msg: str) -> None:
    raise Failure(msg)


def log(msg: str) -> None:
    print(f"run-like-compose: {msg}", flush=True)


# ---------------------------------------------------------------- static inputs


def env_vars_of_binary() -> set[str]:
    """The C4FORGE_* names of src/config.rs's ENV_VARS list."""
    text = (ROOT / "src" / "config.rs").read_text()
    m = re.search(r"pub const ENV_VARS[^=]*=\s*&\[(.*?)\];", text, re.S)
    if not m:
        fail("cannot find ENV_VARS in src/config.rs")
    names = set(re.findall(r'"(C4FORGE_[A-Z0-9_]+)"', m.group(1)))
    if not names:
        fail("ENV_VARS in src/config.rs lists no C4FORGE_* name")
    return names


def check_var_names(where: str, names, known: set[str]) -> None:
    for name in names:
        if name.startswith("C4FORGE_"):
            if name not in known:
                fail(f"{where} sets {name}, which src/config.rs ENV_VARS does not list")
        elif name not in OTHER_KNOWN_VARS:
            fail(f"{where} sets {name}, which c4forge does not read")


def resolved_compose(compose_file: Path) -> dict:
    try:
        out = subprocess.run(
            ["docker-compose", "-f", str(compose_file), "config"],
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": os.environ.get("HOME", "/tmp"),
                # the compose file has no default for it (`${C4FORGE_JWT_SECRET:?...}`)
                "C4FORGE_JWT_SECRET": secrets.token_hex(32),
            },
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        fail("docker-compose is not installed (scripts/check-deploy.sh installs it)")
    if out.returncode != 0:
        fail(f"docker-compose config failed:\n{out.stderr}")
    return yaml.safe_load(out.stdout)


def dockerfile_runtime() -> tuple[list[str], list[str], dict[str, str]]:
    """ENTRYPOINT, CMD and ENV of the Dockerfile's last stage."""
    lines = DOCKERFILE.read_text().splitlines()
    joined: list[str] = []
    buf = ""
    for line in lines:
        if not buf and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        joined.append(buf + line)
        buf = ""
    last_from = max(i for i, line in enumerate(joined) if line.upper().startswith("FROM "))
    entrypoint: list[str] = []
    cmd: list[str] = []
    env: dict[str, str] = {}
    for line in joined[last_from + 1 :]:
        word, _, rest = line.strip().partition(" ")
        word = word.upper()
        if word == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif word == "CMD":
            cmd = json.loads(rest)
        elif word == "ENV":
            for k, v in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', rest):
                env[k] = v.strip('"')
    if entrypoint != ["c4forge"]:
        fail(f"Dockerfile ENTRYPOINT is {entrypoint}, expected [\"c4forge\"]")
    return entrypoint, cmd, env


def c4forge_services(compose: dict) -> dict[str, dict]:
    """Services built from the repository's Dockerfile."""
    found = {}
    for name, svc in compose["services"].items():
        build = svc.get("build")
        if not build:
            continue
        ctx = Path(build["context"] if isinstance(build, dict) else build).resolve()
        dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        if ctx == ROOT and (ctx / dockerfile).resolve() == DOCKERFILE:
            found[name] = svc
    if not found:
        fail("no service of the compose file is built from the repository's Dockerfile")
    return found


def as_list(command) -> list[str]:
    if command is None:
        return []
    if isinstance(command, str):
        import shlex

        return shlex.split(command)
    return [str(c) for c in command]


def as_env(environment) -> dict[str, str]:
    if environment is None:
        return {}
    if isinstance(environment, list):
        out = {}
        for item in environment:
            k, _, v = item.partition("=")
            out[k] = v
        return out
    return {k: "" if v is None else str(v) for k, v in environment.items()}


# ---------------------------------------------------------------- local resources


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], what: str) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        fail(f"{what} failed ({' '.join(cmd)}):\n{out.stdout}{out.stderr}")
    return out.stdout


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Resources:
    def __init__(self, s3: str):
        tag = uuid.uuid4().hex[:16]
        self.vhost = f"c4rlc-{tag}"
        self.db = f"c4rlc_{tag}"
        self.bucket = f"c4rlc-{tag}"
        self.s3 = s3.rstrip("/")
        self.created: list[str] = []

    def create(self) -> None:
        run(["rabbitmqctl", "-q", "add_vhost", self.vhost], "rabbitmqctl add_vhost")
        self.created.append("vhost")
        run(["rabbitmqctl", "-q", "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*"], "rabbitmqctl set_permissions")
        run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", f"CREATE DATABASE {self.db}"], "psql CREATE DATABASE")
        self.created.append("db")
        try:
            status, _, body = http("PUT", f"{self.s3}/{self.bucket}")
        except OSError as e:
            fail(f"S3 test server at {self.s3} unreachable ({e}); scripts/test.sh starts it")
        if status not in (200, 201):
            fail(f"creating bucket {self.bucket}: HTTP {status} {body[:200]!r}")
        self.created.append("bucket")

    def cleanup(self) -> None:
        if "vhost" in self.created:
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], capture_output=True, check=False)
        if "db" in self.created:
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)"],
                capture_output=True,
                check=False,
            )
        if "bucket" in self.created:
            try:
                _, _, listing = http("GET", f"{self.s3}/{self.bucket}?list-type=2&max-keys=1000")
                for key in re.findall(rb"<Key>([^<]+)</Key>", listing):
                    http("DELETE", f"{self.s3}/{self.bucket}/{urllib.parse.quote(key.decode())}")
                http("DELETE", f"{self.s3}/{self.bucket}")
            except OSError:
                pass


# ---------------------------------------------------------------- rewriting


def rewrite_env(service: str, env: dict[str, str], res: Resources, service_names: set[str], tmp: Path,
                published: dict[int, int]) -> tuple[dict[str, str], dict[str, int]]:
    """Returns the local environment and {variable: local port} for listen addresses."""
    out = dict(env)
    ports: dict[str, int] = {}
    for name, value in env.items():
        if name == "C4FORGE_BUS":
            u = urllib.parse.urlsplit(value)
            if u.hostname != "rabbitmq":
                fail(f"{service}: C4FORGE_BUS host is {u.hostname!r}, expected the compose service rabbitmq")
            out[name] = urllib.parse.urlunsplit((u.scheme, "guest:guest@127.0.0.1:5672", "/" + res.vhost, u.query, ""))
        elif name == "C4FORGE_DATABASE":
            u = urllib.parse.urlsplit(value)
            if u.hostname != "postgres":
                fail(f"{service}: C4FORGE_DATABASE host is {u.hostname!r}, expected the compose service postgres")
            out[name] = urllib.parse.urlunsplit((u.scheme, "postgres@127.0.0.1:5432", "/" + res.db, u.query, ""))
        elif name == "C4FORGE_OBJECTS":
            if not value.startswith("s3://"):
                fail(f"{service}: C4FORGE_OBJECTS={value!r} is not an s3:// URL")
            _, _, prefix = value[len("s3://"):].partition("/")
            out[name] = f"s3://{res.bucket}" + (f"/{prefix}" if prefix else "")
        elif name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT"):
            if urllib.parse.urlsplit(value).hostname != S3_SERVICE:
                fail(f"{service}: {name} host is not the compose service {S3_SERVICE}: {value!r}")
            out[name] = res.s3
        elif name in ("C4FORGE_LISTEN", "C4FORGE_ADMIN_LISTEN"):
            host, _, port = value.rpartition(":")
            if host != "0.0.0.0" or not port.isdigit():
                fail(f"{service}: {name}={value!r}: a container must listen on 0.0.0.0:PORT")
            local = free_port()
            ports[name] = local
            published.setdefault(int(port), local)
            out[name] = f"127.0.0.1:{local}"
        elif name == "C4FORGE_DATA_DIR":
            d = tmp / f"data-{service}-{uuid.uuid4().hex[:6]}"
            out[name] = str(d)
    pattern = re.compile(r"(//|@)(" + "|".join(map(re.escape, sorted(service_names))) + r")([:/]|$)")
    for name, value in out.items():
        if pattern.search(value):
            fail(f"{service}: {name}={value!r} still names a compose service after rewriting")
    return out, ports


def rewrite_public_url(service: str, env: dict[str, str], svc: dict, published: dict[int, int]) -> None:
    value = env.get("C4FORGE_PUBLIC_URL")
    if not value:
        return
    u = urllib.parse.urlsplit(value)
    host_ports = {}
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            host_ports[int(p["published"])] = int(p["target"])
        else:
            parts = str(p).split(":")
            host_ports[int(parts[-2])] = int(parts[-1])
    if u.hostname not in ("localhost", "127.0.0.1") or (u.port or 80) not in host_ports:
        fail(f"{service}: C4FORGE_PUBLIC_URL={value!r} is not one of the service's published ports {sorted(host_ports)}")
    target = host_ports[u.port or 80]
    if target not in published:
        fail(f"{service}: C4FORGE_PUBLIC_URL points at published port {u.port}, but the container listens on none of {target}")
    env["C4FORGE_PUBLIC_URL"] = f"{u.scheme}://127.0.0.1:{published[target]}{u.path}"


# ---------------------------------------------------------------- processes


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, logdir: Path):
        self.name = name
        self.argv = argv
        self.log_path = logdir / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.addr: str | None = None
        self._ready = threading.Event()
        self.p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.p.stdout
        for line in self.p.stdout:
            line = line.strip()
            for prefix in ("c4forge listening on ", "c4forge admin listening on "):
                if line.startswith(prefix):
                    self.addr = line[len(prefix):]
                    self._ready.set()

    def wait_listening(self, timeout: float) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self._ready.wait(0.2):
                return self.addr or ""
            if self.p.poll() is not None:
                fail(f"{self.name} exited with {self.p.returncode} before listening")
        fail(f"{self.name} did not print its listening line within {timeout:.0f}s")
        return ""

    def tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def stop(self, grace: float) -> int | None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                return None
        return self.p.returncode


def open_websocket(url: str, token: str) -> socket.socket:
    """Opens a websocket (RFC 6455 handshake) and returns the connected socket."""
    import base64

    u = urllib.parse.urlsplit(url)
    if u.scheme != "ws":
        fail(f"websocket URL {url!r} is not ws://")
    sock = socket.create_connection((u.hostname, u.port or 80), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    path = f"{u.path}?{u.query}&token={urllib.parse.quote(token)}" if u.query else f"{u.path}?token={urllib.parse.quote(token)}"
    sock.sendall(
        (f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 101 " not in status_line + " ":
        fail(f"websocket {url}: {status_line!r}")
    return sock


def get_json(url: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, body = http("GET", url, headers=headers)
    try:
        return status, json.loads(body or b"null")
    except ValueError:
        return status, body.decode(errors="replace")


def wait_ready(p: Proc, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        status, body = get_json(f"{p.addr}/readyz")
        last = (status, body)
        if status == 200:
            if not (isinstance(body, dict) and body and all(v == "ok" for v in body.values() if isinstance(v, str))):
                fail(f"{p.name} /readyz answered 200 with {body!r}")
            return
        time.sleep(0.5)
    fail(f"{p.name} /readyz never became ready: {last}")


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", str(text))
    if not m or not any(m.groups()):
        return 10.0
    return int(m.group(1) or 0) * 60 + float(m.group(2) or 0)



def check_with_prometheus(prom_bin: str, by_service: dict, tmp: Path, extra: list) -> None:
    """Scrapes the running processes with a real Prometheus, configured like
    compose/prometheus/prometheus.yml (DNS discovery replaced by the local addresses of each
    service's replicas), and runs every dashboard expression that does not need RabbitMQ's
    plugin: each must evaluate, and return data unless it counts retries or failures."""
    cfg = yaml.safe_load((ROOT / "compose" / "prometheus" / "prometheus.yml").read_text())
    port = free_port()
    jobs = []
    for job in cfg.get("scrape_configs", []):
        j = dict(job)
        sds = j.pop("dns_sd_configs", None)
        statics = j.get("static_configs") or []
        if sds:
            j["static_configs"] = []
            for sd in sds:
                for n in sd.get("names", []):
                    if n not in by_service:
                        fail(f"prometheus.yml job {j['job_name']} discovers {n}, which runs no c4forge process")
                    targets = [urllib.parse.urlsplit(p.addr).netloc for p in by_service[n]]
                    j["static_configs"].append({"targets": targets, "labels": {"service": n}})
            kept = [r for r in j.get("relabel_configs", []) if "__meta_dns_name" not in r.get("source_labels", [])]
            j.pop("relabel_configs", None)
            if kept:
                j["relabel_configs"] = kept
        elif any(str(t).startswith("rabbitmq:") for sc in statics for t in sc.get("targets", [])):
            continue  # the local RabbitMQ does not run rabbitmq_prometheus
        elif any(str(t).startswith("localhost:9090") for sc in statics for t in sc.get("targets", [])):
            j["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
        j["scrape_interval"] = "1s"
        jobs.append(j)
    cfg["scrape_configs"] = jobs
    cfg.setdefault("global", {})["scrape_interval"] = "1s"
    cfg_path = tmp / "prometheus.yml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    log_path = tmp / "prometheus.log"
    prom = subprocess.Popen(
        [prom_bin, f"--config.file={cfg_path}", f"--storage.tsdb.path={tmp / 'prometheus-data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(log_path, "w"), cwd=tmp,
    )
    extra.append(prom)
    base = f"http://127.0.0.1:{port}"

    def query(expr: str):
        status, _, body = http("GET", f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        data = json.loads(body or b"{}")
        if status != 200 or data.get("status") != "success":
            fail(f"Prometheus rejects {expr!r}: {status} {data.get('error', body[:300])}")
        return data["data"]["result"]

    n_procs = sum(len(v) for v in by_service.values())
    deadline = time.time() + 60
    while True:
        if prom.poll() is not None:
            fail(f"Prometheus exited {prom.returncode}: {log_path.read_text()[-2000:]}")
        try:
            up = query('count(up{job=~"c4forge-.*"} == 1)')
            if up and int(float(up[0]["value"][1])) == n_procs:
                break
        except OSError:
            pass
        if time.time() > deadline:
            fail(f"Prometheus does not scrape all {n_procs} c4forge processes; targets: {http('GET', base + '/api/v1/targets')[2][:2000]!r}")
        time.sleep(0.5)
    time.sleep(3)  # two samples in every rate() window
    per_service = {r["metric"].get("service"): int(float(r["value"][1])) for r in query('count by (service) (up{job=~"c4forge-.*"} == 1)')}
    want = {n: len(v) for n, v in by_service.items()}
    if per_service != want:
        fail(f"Prometheus sees replicas per service {per_service}, expected {want}")
    checked = 0
    for path in sorted((ROOT / "compose" / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text()).get("panels", []):
            for t in panel.get("targets", []):
                expr = t.get("expr", "")
                if "rabbitmq_" in expr:
                    continue
                result = query(expr)
                checked += 1
                if not result and not re.search(r"retried|failed|dead_lettered", expr):
                    fail(f"dashboard panel {panel.get('title')!r}: {expr!r} returns no data after a finished job")
    log(f"Prometheus {port}: scraped {n_procs} processes ({per_service}); {checked} dashboard expressions evaluated")

# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "c4forge" / "target"))
    ap.add_argument("--bin", default=str(Path(target) / "debug" / "c4forge"))
    ap.add_argument("--scale", action="append", default=[], metavar="SERVICE=N")
    ap.add_argument("--prometheus", help="a Prometheus server binary: scrape the processes and evaluate the dashboard")
    ap.add_argument("--compose", default=str(COMPOSE_FILE), help="compose file (default: compose/docker-compose.yml)")
    args = ap.parse_args()
    compose_file = Path(args.compose).resolve()
    binary = Path(args.bin)
    if not os.access(binary, os.X_OK):
        fail(f"binary {binary} not found: build it first (cargo build)")
    scale = {"parse": 2}
    for item in args.scale:
        k, _, v = item.partition("=")
        scale[k] = int(v)

    known = env_vars_of_binary()
    compose = resolved_compose(compose_file)
    entrypoint, default_cmd, image_env = dockerfile_runtime()
    check_var_names("Dockerfile ENV", image_env, known)
    services = c4forge_services(compose)
    all_names = set(compose["services"])
    for k in scale:
        if k not in services:
            fail(f"--scale {k}: not a c4forge service of the compose file")

    migrate_services = [n for n, s in services.items() if as_list(s.get("command") or default_cmd)[:1] == ["migrate"]]
    serve_services = [n for n, s in services.items() if as_list(s.get("command") or default_cmd)[:1] == ["serve"]]
    other = set(services) - set(migrate_services) - set(serve_services)
    if other:
        fail(f"c4forge services that neither migrate nor serve: {sorted(other)}")
    if len(migrate_services) != 1:
        fail(f"expected one migrate service, found {migrate_services}")
    for name, svc in services.items():
        if name in serve_services and (svc.get("container_name") or (name != "api" and svc.get("ports"))):
            fail(f"{name}: a scalable stage must have no container_name and no host ports")
        check_var_names(f"compose service {name}", as_env(svc.get("environment")), known)
        if svc.get("env_file"):
            fail(f"{name}: env_file is not followed by this check; put variables in `environment`")

    s3 = os.environ.get("C4FORGE_TEST_S3_ENDPOINT", "http://127.0.0.1:9000")
    res = Resources(s3)
    procs: list[Proc] = []
    extra: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="c4forge-rlc-"))
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp)}
    ok = False
    try:
        res.create()
        log(f"vhost {res.vhost}, database {res.db}, bucket {res.bucket} at {s3}")

        def local_env(name: str, svc: dict) -> tuple[dict[str, str], dict[str, int]]:
            env = dict(image_env)
            env.update(as_env(svc.get("environment")))
            published: dict[int, int] = {}
            env, ports = rewrite_env(name, env, res, all_names, tmp, published)
            rewrite_public_url(name, env, svc, published)
            return {**base_env, **env}, ports

        # migrate, as the one-shot service
        m = migrate_services[0]
        env, _ = local_env(m, services[m])
        argv = [str(binary)] + as_list(services[m].get("command") or default_cmd)
        out = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            fail(f"{m}: {' '.join(argv[1:])} exited {out.returncode}:\n{out.stderr}")
        log(f"{m}: {out.stdout.strip()}")

        # every serve service, with its replicas
        api: Proc | None = None
        by_service: dict[str, list[Proc]] = {}
        for name in serve_services:
            svc = services[name]
            cmd = as_list(svc.get("command") or default_cmd)
            for i in range(scale.get(name, 1)):
                env, ports = local_env(name, svc)
                p = Proc(f"{name}-{i + 1}", [str(binary)] + cmd, env, tmp, tmp)
                p.compose_ports = ports  # type: ignore[attr-defined]
                p.env = env  # type: ignore[attr-defined]
                p.stages = cmd[cmd.index("--stages") + 1].split(",") if "--stages" in cmd else []  # type: ignore[attr-defined]
                p.grace = parse_duration(svc.get("stop_grace_period", "10s"))  # type: ignore[attr-defined]
                procs.append(p)
                by_service.setdefault(name, []).append(p)
        for p in procs:
            addr = p.wait_listening(90)
            port = int(addr.rsplit(":", 1)[1])
            expected = p.compose_ports.get("C4FORGE_LISTEN") if ("ingest" in p.stages or "notifier" in p.stages) else p.compose_ports.get("C4FORGE_ADMIN_LISTEN")  # type: ignore[attr-defined]
            if expected is None:
                fail(f"{p.name}: its probe port is not set by the compose file or the image (C4FORGE_LISTEN / C4FORGE_ADMIN_LISTEN)")
            if port != expected:
                fail(f"{p.name} listens on {addr}, not on the port its environment names ({expected})")
            if "ingest" in p.stages:
                api = p
            log(f"{p.name}: {' '.join(p.argv[1:])} listening on {addr}")
        if api is None:
            fail("no compose service runs the ingest stage")

        for p in procs:
            status, body = get_json(f"{p.addr}/healthz")
            if status != 200:
                fail(f"{p.name} /healthz: {status} {body!r}")
            wait_ready(p)
        log(f"/healthz and /readyz ok on {len(procs)} processes")

        # the user's path through the API
        base = api.addr
        creds = json.dumps({"email": f"rlc-{uuid.uuid4().hex[:8]}@example.com", "password": "correct horse battery"}).encode()
        status, _, body = http("POST", f"{base}/api/v1/auth/register", creds, {"Content-Type": "application/json"})
        if status != 201:
            fail(f"register: {status} {body[:300]!r}")
        status, _, body = http("POST", f"{base}/api/v1/auth/token", creds, {"Content-Type": "application/json"})
        if status != 200:
            fail(f"token: {status} {body[:300]!r}")
        token = json.loads(body)["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        status, headers, body = http("POST", f"{base}/api/v1/diagrams?name=bigbank.puml", FIXTURE.read_bytes(), auth)
        if status != 202:
            fail(f"upload: {status} {body[:500]!r}")
        accepted = json.loads(body)
        job = accepted["job_id"]
        public_url = api.env.get("C4FORGE_PUBLIC_URL", "")  # type: ignore[attr-defined]
        if public_url and not accepted["location"].startswith(public_url.rstrip("/") + "/"):
            fail(f"upload answered location {accepted['location']!r}, not under C4FORGE_PUBLIC_URL {public_url!r}")
        log(f"uploaded bigbank.puml: job {job}")
        ws = open_websocket(accepted["websocket"], token)
        deadline = time.time() + 10  # the handler counts the client after the 101 answer
        while True:
            _, _, metrics = http("GET", f"{base}/metrics")
            if re.search(rb"^c4forge_ws_clients [1-9]", metrics, re.M):
                break
            if time.time() > deadline:
                fail("c4forge_ws_clients is not >= 1 on the API's /metrics while a websocket is open")
            time.sleep(0.2)
        log(f"websocket {accepted['websocket'].split('?')[0]} open, c4forge_ws_clients counted")
        deadline = time.time() + 180
        seen = []
        while True:
            status, view = get_json(f"{base}/api/v1/diagrams/{job}", token)
            if status != 200:
                fail(f"GET job: {status} {view!r}")
            if not seen or seen[-1] != view["status"]:
                seen.append(view["status"])
            if view["status"] == "done":
                break
            if view["status"] in ("failed", "dead_lettered"):
                fail(f"job ended {view['status']}: {json.dumps(view)[:2000]}")
            if time.time() > deadline:
                fail(f"job not done after 180s (statuses seen: {seen})")
            time.sleep(0.3)
        ws.close()
        status, _, body = http("GET", f"{base}/api/v1/diagrams/{job}/code.zip", headers=auth)
        if status != 200 or not body.startswith(b"PK"):
            fail(f"code.zip: {status}, {len(body)} bytes")
        log(f"job done (statuses seen: {' -> '.join(seen)}), code.zip {len(body)} bytes")

        # metrics: what the dashboard reads must be there after one job
        exposed: dict[str, str] = {}
        for p in procs:
            status, _, body = http("GET", f"{p.addr}/metrics")
            if status != 200:
                fail(f"{p.name} /metrics: {status}")
            exposed[p.name] = body.decode()
        text = "\n".join(exposed.values())
        wanted = ['c4forge_uploads_total{outcome="accepted"}', "c4forge_outbox_published_total", "c4forge_stage_duration_seconds_count"]
        for stage in ("parse", "generate", "store"):
            wanted.append(f'c4forge_stage_messages_total{{stage="{stage}",outcome="ok"}}')
        for w in wanted:
            if w not in text:
                fail(f"no process exposes {w} after a finished job")
        dash_names: set[str] = set()
        quantiles: set[str] = set()
        for path in sorted((ROOT / "compose" / "grafana" / "dashboards").glob("*.json")):
            for panel in json.loads(path.read_text()).get("panels", []):
                for t in panel.get("targets", []):
                    dash_names |= set(re.findall(r"\b(c4forge_[a-z0-9_]+)", t.get("expr", "")))
                    quantiles |= set(re.findall(r'quantile="([0-9.]+)"', t.get("expr", "")))
        for name in sorted(dash_names):
            if not re.search(rf"^{name}[{{ ]", text, re.M):
                fail(f"the dashboard queries {name}, which no process exposes after a finished job")
        for q in sorted(quantiles):
            if f'quantile="{q}"' not in text:
                fail(f'the dashboard queries quantile="{q}", which /metrics does not expose')
        log(f"metrics present: {', '.join(wanted)}; every c4forge metric the dashboard queries: {', '.join(sorted(dash_names))}")

        # queues: the names Prometheus/Grafana and KEDA use, one consumer per replica
        prefix = api.env.get("C4FORGE_BUS_PREFIX", "c4forge")  # type: ignore[attr-defined]
        expected: dict[str, int] = {}
        for name, plist in by_service.items():
            for stage in {s for p in plist for s in p.stages} & {"parse", "generate", "store"}:  # type: ignore[attr-defined]
                expected[f"{prefix}.{stage}"] = expected.get(f"{prefix}.{stage}", 0) + len(plist)
        deadline = time.time() + 20
        while True:
            listing = run(["rabbitmqctl", "-q", "list_queues", "-p", res.vhost, "name", "consumers", "--no-table-headers"], "list_queues")
            consumers = {}
            for line in listing.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1].isdigit():
                    consumers[parts[0]] = int(parts[1])
            wrong = {q: (consumers.get(q), n) for q, n in expected.items() if consumers.get(q) != n}
            if not wrong:
                break
            if time.time() > deadline:
                fail(f"queue consumers (found, expected one per replica): {wrong}; queues: {consumers}")
            time.sleep(1)
        if f"{prefix}.dlq" not in consumers:
            fail(f"no {prefix}.dlq queue in the vhost: {sorted(consumers)}")
        log("queues: " + ", ".join(f"{q}={c}" for q, c in sorted(consumers.items()) if not q.startswith(f'{prefix}.retry')))

        if args.prometheus:
            check_with_prometheus(args.prometheus, by_service, tmp, extra)

        # docker compose stop: SIGTERM, then the grace period
        for p in procs:
            code = p.stop(p.grace)  # type: ignore[attr-defined]
            if code is None:
                fail(f"{p.name} did not stop within its stop_grace_period after SIGTERM")
            if code != 0:
                fail(f"{p.name} exited {code} after SIGTERM")
        log(f"all {len(procs)} processes stopped cleanly on SIGTERM")
        ok = True
        return 0
    except Failure as e:
        print(f"\nrun-like-compose: FAILED: {e}", file=sys.stderr)
        for p in procs:
            print(f"\n--- log of {p.name} ({' '.join(p.argv[1:])}) ---\n{p.tail()}", file=sys.stderr)
        return 1
    finally:
        for x in extra:
            if x.poll() is None:
                x.terminate()
                try:
                    x.wait(10)
                except subprocess.TimeoutExpired:
                    x.kill()
                    x.wait()
        for p in procs:
            p.stop(5)
        res.cleanup()
        if ok:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"run-like-compose: logs kept in {tmp}", file=sys.stderr)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print(f"run-like-compose: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
