#!/usr/bin/env python3
"""Generates every diagram with `--deploy all` and checks the deploy output offline.

Called by scripts/check-generated-deploy.sh (which installs the tools). Each
diagram is converted into its own directory; the output of every target across
all diagrams is then checked in ONE checkov run (checkov starts slowly and runs
its frameworks in parallel processes), with the skips of the configurations the
generator wrote (`deploy/<target>/.checkov.yaml`, the same for every project of
a target; their check ids are per framework, so their union skips nothing
another target checks). Conversions, `kubectl kustomize` and kubernetes-validate
batches run `--jobs` at a time (default: the CPU count); kubernetes-validate
runs while checkov does. Exit status 1 when anything failed, with every failure
listed; `--timings` prints the seconds of each step.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import hcl2
import yaml

TARGETS = ["k8s", "aws-ecs", "azure-aca", "gcp-run"]


def log(msg: str) -> None:
    print(msg, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


class Timer:
    """Seconds per step, printed at the end with `--timings`."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []
        self.start = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.steps.append((name, now - self.start))
        self.start = now


def diagrams(roots: list[str]) -> list[pathlib.Path]:
    out: list[pathlib.Path] = []
    seen: set[str] = set()
    for root in roots:
        for p in sorted(pathlib.Path(root).rglob("*.puml")):
            text = p.read_text(errors="replace")
            # The C4 library files themselves and repeated samples are skipped.
            if p.name.startswith("C4") and "_" in p.name and " " not in p.name:
                continue
            if text in seen:
                continue
            seen.add(text)
            out.append(p)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--checkov", required=True)
    ap.add_argument("--kubernetes-validate", required=True)
    ap.add_argument("--promtool", default="")
    ap.add_argument("--diagrams", action="append", default=[])
    ap.add_argument("--keep", help="keep the generated projects in this directory")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="processes at a time")
    ap.add_argument("--timings", action="store_true", help="print the seconds of each step")
    a = ap.parse_args()
    jobs = max(1, a.jobs)
    timer = Timer()

    work = pathlib.Path(a.keep or tempfile.mkdtemp(prefix="c4forge-deploy-"))
    work.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []

    def generate(item: tuple[int, pathlib.Path]) -> pathlib.Path | None:
        i, d = item
        out = work / "projects" / f"{i:03d}"
        if out.exists():
            shutil.rmtree(out)
        r = run([a.bin, "convert", str(d), "-o", str(out), "--deploy", "all"])
        if r.returncode != 0:
            # Diagrams that do not generate (no elements, parse errors) are not
            # this check's business: the generator's own tests cover them.
            return None
        manifest = json.loads((out / "c4forge.json").read_text())
        kinds = {e["kind"] for e in manifest["elements"]}
        if "container" not in kinds:
            return None
        (out / ".diagram").write_text(str(d))
        return out

    with ThreadPoolExecutor(jobs) as pool:
        projects = [p for p in pool.map(generate, enumerate(diagrams(a.diagrams))) if p]
    timer.lap("convert")
    log(f"{len(projects)} diagrams with containers generated under {work}")
    if not projects:
        print("no project generated")
        return 1

    def name(p: pathlib.Path) -> str:
        return (p / ".diagram").read_text()

    # 1. Terraform and tfvars parse.
    n = 0
    for p in projects:
        for f in sorted((p / "deploy").rglob("*.tf")) + sorted((p / "deploy").rglob("*.tfvars")):
            n += 1
            try:
                with f.open() as fh:
                    hcl2.load(fh)
            except Exception as e:  # noqa: BLE001 - any parse error is a failure
                failures.append(f"hcl2: {name(p)}: {f.relative_to(p)}: {e}")
    log(f"python-hcl2: {n} files parsed")
    timer.lap("python-hcl2")

    # 2. terraform fmt (offline) when terraform is here.
    tf = shutil.which("terraform")
    if tf:
        for p in projects:
            for t in ("aws-ecs", "gcp-run"):
                r = run([tf, "fmt", "-check", "-recursive", "-list=true", str(p / "deploy" / t)])
                if r.returncode != 0:
                    failures.append(f"terraform fmt: {name(p)}: {t}: {r.stdout.strip()}")
        print("terraform fmt -check: done")
    else:
        print("terraform not installed: fmt check skipped")
    timer.lap("terraform fmt")

    # 3. kustomize builds every overlay.
    rendered = work / "rendered"
    if rendered.exists():
        shutil.rmtree(rendered)
    rendered.mkdir()

    def kustomize(item: tuple[pathlib.Path, str]) -> str | None:
        p, overlay = item
        r = run(["kubectl", "kustomize", str(p / "deploy/k8s/overlays" / overlay)])
        if r.returncode != 0:
            return f"kustomize: {name(p)}: {overlay}: {r.stderr.strip()}"
        docs = [x for x in yaml.safe_load_all(r.stdout) if x]
        for j, doc in enumerate(docs):
            f = rendered / f"{p.name}-{overlay}-{j:03d}.yaml"
            f.write_text(yaml.safe_dump(doc))
        return None

    with ThreadPoolExecutor(jobs) as pool:
        overlays = [(p, o) for p in projects for o in ("dev", "prod")]
        failures.extend(f for f in pool.map(kustomize, overlays) if f)
    files = sorted(str(f) for f in rendered.glob("*.yaml"))
    log(f"kubectl kustomize: {len(files)} manifests rendered")
    timer.lap("kubectl kustomize")

    # 4 + 5. checkov once over every target's output, and kubernetes-validate
    # on every rendered manifest (batches, `jobs` at a time) while it runs.
    tree = work / "checkov"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    frameworks: list[str] = []
    skips: list[str] = []
    for t in TARGETS:
        (tree / t).mkdir()
        if t == "k8s":
            # What the prod overlay renders (namespace, replicas, images applied), not
            # the base and patch files, which are not complete objects on their own;
            # dev differs only in replicas and resource sizes (kubernetes-validate
            # checks both).
            for f in rendered.glob("*-prod-*.yaml"):
                shutil.copy(f, tree / t / f.name)
        else:
            for p in projects:
                shutil.copytree(
                    p / "deploy" / t,
                    tree / t / p.name,
                    ignore=shutil.ignore_patterns("overrides", ".checkov.yaml", "*.md"),
                )
        config = yaml.safe_load((projects[0] / "deploy" / t / ".checkov.yaml").read_text())
        frameworks += [f for f in config.get("framework", []) if f not in frameworks]
        skips += [c for c in config.get("skip-check", []) if c not in skips]
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false", LOG_LEVEL="ERROR")
    checkov = subprocess.Popen(
        [a.checkov, "-d", str(tree), "--framework", *frameworks, "--skip-check", ",".join(skips),
         "--compact", "--quiet", "--skip-download", "--output", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )

    def validate(batch: list[str]) -> str | None:
        r = run([a.kubernetes_validate, "--strict", "--quiet", *batch])
        if r.returncode != 0:
            return f"kubernetes-validate: {r.stdout.strip()} {r.stderr.strip()}"
        return None

    # Batches big enough that the tool's start-up (schemas) is paid rarely,
    # and at least one per job.
    size = max(1, min(400, -(-len(files) // jobs)))
    with ThreadPoolExecutor(jobs) as pool:
        batches = [files[k : k + size] for k in range(0, len(files), size)]
        failures.extend(f for f in pool.map(validate, batches) if f)
    print("kubernetes-validate: done")
    timer.lap("kubernetes-validate (checkov running)")

    out, err = checkov.communicate()
    try:
        reports = json.loads(out or "[]")
    except json.JSONDecodeError:
        reports = None
        failures.append(f"checkov: no report: {out[-2000:]} {err[-2000:]}")
    if isinstance(reports, dict):
        reports = [reports]
    for rep in reports or []:
        s = rep.get("summary", {})
        passed, failed = s.get("passed", 0), s.get("failed", 0)
        for c in rep.get("results", {}).get("failed_checks", []):
            failures.append(f"checkov {rep.get('check_type')}: {c['check_id']} {c['check_name']}: {c['file_path']} {c['resource']}")
        log(f"checkov {rep.get('check_type')}: {passed} passed, {failed} failed")
    checked = {rep.get("check_type") for rep in reports or [] if rep.get("summary", {}).get("passed", 0)}
    for fw in frameworks:
        if reports is not None and fw not in checked:
            failures.append(f"checkov {fw}: nothing was checked ({err[-500:]})")
    timer.lap("checkov (rest)")

    # 6. compose with Prometheus and Grafana.
    for p in projects:
        r = run(["docker-compose", "-f", str(p / "docker-compose.yml"), "config", "-q"])
        if r.returncode != 0:
            failures.append(f"docker-compose: {name(p)}: {r.stderr.strip()}")
        if a.promtool and os.access(a.promtool, os.X_OK):
            r = run([a.promtool, "check", "config", str(p / "monitoring/prometheus.yml")])
            if r.returncode != 0:
                failures.append(f"promtool: {name(p)}: {r.stdout.strip()} {r.stderr.strip()}")
    print("docker-compose config -q" + (" and promtool check config" if a.promtool else "") + ": done")
    timer.lap("docker-compose and promtool")
    if a.timings:
        for step, secs in timer.steps:
            print(f"  {secs:7.1f} s  {step}")

    if failures:
        log(f"\n{len(failures)} failures:")
        for f in failures[:300]:
            print("  " + f)
        return 1
    print("every generated deployment passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
