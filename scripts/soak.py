#!/usr/bin/env python3
"""Soak test of the distributed mode: N jobs through one process per stage
on the local RabbitMQ, PostgreSQL and S3 test server while random faults are
injected (SIGKILL or SIGTERM of a stage process and its restart, the broker
closing every connection), then counts what was lost or duplicated.

    scripts/soak.py [--jobs 1000] [--rate 20] [--fault-every 5] [--max-secs 900]

Prints a last line `jobs=N done=N lost=0 duplicated=0` and exits 1 unless
nothing was lost or duplicated. Needs a built binary
($CARGO_TARGET_DIR/debug/c4forge, or --bin) and the moto S3 server of
scripts/test.sh at $C4FORGE_TEST_S3_ENDPOINT (default http://127.0.0.1:9000).
Stdlib only; bounded in jobs and time; loopback only.
"""
import argparse, json, os, random, signal, subprocess, sys, tempfile, time, urllib.request, uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
S3 = os.environ.get("C4FORGE_TEST_S3_ENDPOINT", "http://127.0.0.1:9000")


def sh(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def psql(sql, db="postgres"):
    return sh("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tAq", "-c", sql)


def http(method, url, body=None, token=None):
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, json.loads(r.read() or b"null")


class Proc:
    def __init__(self, binary, stages, env, logdir):
        self.args = [binary, "serve", "--stages", stages]
        self.env, self.stages, self.logdir = env, stages, logdir
        self.start()

    def start(self):
        log = open(self.logdir / f"{self.stages.replace(',', '_')}-{time.time_ns()}.log", "w")
        self.p = subprocess.Popen(self.args, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.p.stdout.readline()
        self.base = line.split(" on ", 1)[1].strip() if " on " in line else ""

    def fault(self, how):
        self.p.send_signal(how)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.start()

    def stop(self):
        self.p.kill()
        self.p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=20.0, help="uploads per second")
    ap.add_argument("--fault-every", type=float, default=5.0, help="seconds between faults")
    ap.add_argument("--max-secs", type=float, default=900.0)
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/c4forge/target"))
    ap.add_argument("--bin", default=str(target / "debug/c4forge"))
    args = ap.parse_args()
    random.seed(int(os.environ.get("SOAK_SEED", "7")))

    name = "soak_" + uuid.uuid4().hex[:12]
    psql(f"CREATE DATABASE {name}")
    sh("rabbitmqctl", "add_vhost", name)
    sh("rabbitmqctl", "set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    urllib.request.urlopen(urllib.request.Request(f"{S3}/{name.replace('_', '-')}", method="PUT"), timeout=30)
    env = dict(os.environ,
               C4FORGE_BUS=f"amqp://guest:guest@127.0.0.1:5672/{name}",
               C4FORGE_DATABASE=f"postgres://postgres@127.0.0.1:5432/{name}",
               C4FORGE_OBJECTS=f"s3://{name.replace('_', '-')}",
               C4FORGE_JWT_SECRET="soak-" + uuid.uuid4().hex, C4FORGE_LISTEN="127.0.0.1:0",
               C4FORGE_UPLOADS_PER_MINUTE="1000000", C4FORGE_MAX_ACTIVE_JOBS="1000000",
               C4FORGE_STALE_AFTER_SECS="60", RUST_LOG="warn",
               AWS_ENDPOINT_URL=S3, AWS_ACCESS_KEY_ID="soak", AWS_SECRET_ACCESS_KEY="soak",
               AWS_REGION="us-east-1", AWS_ALLOW_HTTP="true")
    logdir = Path(tempfile.mkdtemp(prefix="c4forge-soak-"))
    procs = []
    try:
        subprocess.run([args.bin, "migrate"], env=env, check=True, capture_output=True)
        api = Proc(args.bin, "ingest,notifier", env, logdir)
        stages = [Proc(args.bin, s, env, logdir) for s in ("parse", "parse", "generate", "store")]
        procs = [api, *stages]
        creds = json.dumps({"email": "soak@example.com", "password": "correct horse battery"}).encode()
        http("POST", f"{api.base}/api/v1/auth/register", creds)
        token = http("POST", f"{api.base}/api/v1/auth/token", creds)[1]["access_token"]
        diagram = (ROOT / "tests/fixtures/bigbank_container.puml").read_bytes()
        deadline = time.time() + args.max_secs
        submitted, faults, next_fault = [], [], time.time() + args.fault_every
        while len(submitted) < args.jobs and time.time() < deadline:
            try:
                status, body = http("POST", f"{api.base}/api/v1/diagrams?name=d{len(submitted)}.puml", diagram, token)
                if status == 202:
                    submitted.append(body["job_id"])
            except OSError as e:
                print(f"upload refused ({e}); retrying", file=sys.stderr)
                time.sleep(0.5)
            if time.time() >= next_fault:
                kind = random.choice(["kill", "term", "close_connections"])
                if kind == "close_connections":
                    subprocess.run(["rabbitmqctl", "close_all_connections", "-p", name, "soak fault"], capture_output=True)
                else:
                    victim = random.choice(stages)
                    victim.fault(signal.SIGKILL if kind == "kill" else signal.SIGTERM)
                faults.append(kind)
                next_fault = time.time() + args.fault_every
            time.sleep(1.0 / args.rate)
        print(f"submitted {len(submitted)} jobs with {len(faults)} faults: "
              f"{ {k: faults.count(k) for k in set(faults)} }", file=sys.stderr)
        while time.time() < deadline:
            left = psql("SELECT COUNT(*) FROM jobs WHERE status NOT IN ('done','failed','dead_lettered')", name).strip()
            if left == "0":
                break
            time.sleep(2)
        done = int(psql("SELECT COUNT(*) FROM jobs WHERE status = 'done'", name))
        total = int(psql("SELECT COUNT(*) FROM jobs", name))
        dup_events = int(psql("SELECT COUNT(*) FROM (SELECT job_id, status FROM job_events GROUP BY job_id, status HAVING COUNT(*) > 1) d", name))
        bad_objects = int(psql("SELECT COUNT(*) FROM (SELECT job_id FROM objects GROUP BY job_id HAVING COUNT(*) <> 4) o", name))
        duplicated = dup_events + bad_objects + max(0, total - len(submitted))
        lost = len(submitted) - done
        print(f"jobs={len(submitted)} done={done} lost={lost} duplicated={duplicated}")
        return 0 if lost == 0 and duplicated == 0 and len(submitted) == args.jobs else 1
    finally:
        for p in procs:
            p.stop()
        subprocess.run(["rabbitmqctl", "delete_vhost", name], capture_output=True)
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
