#!/usr/bin/env python3
"""Generates every diagram with `--deploy all` and checks the deploy output offline.

Called by scripts/check-generated-deploy.sh (which installs the tools). Each
diagram is converted into its own directory; the output of one target across
all diagrams is then checked in one checkov run (checkov starts slowly), with
the configuration the generator wrote (`deploy/<target>/.checkov.yaml`, the
same for every project of a target). Exit status 1 on the first kind of failure
found, with every failure listed.
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

import hcl2
import yaml

TARGETS = ["k8s", "aws-ecs", "azure-aca", "gcp-run"]


def log(msg: str) -> None:
    print(msg, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


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
    a = ap.parse_args()

    work = pathlib.Path(a.keep or tempfile.mkdtemp(prefix="c4forge-deploy-"))
    work.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    projects: list[pathlib.Path] = []
    for i, d in enumerate(diagrams(a.diagrams)):
        out = work / "projects" / f"{i:03d}"
        if out.exists():
            shutil.rmtree(out)
        r = run([a.bin, "convert", str(d), "-o", str(out), "--deploy", "all"])
        if r.returncode != 0:
            # Diagrams that do not generate (no elements, parse errors) are not
            # this check's business: the generator's own tests cover them.
            continue
        manifest = json.loads((out / "c4forge.json").read_text())
        kinds = {e["kind"] for e in manifest["elements"]}
        if "container" not in kinds:
            continue
        (out / ".diagram").write_text(str(d))
        projects.append(out)
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

    # 3 + 4. kustomize builds every overlay; kubernetes-validate accepts what it renders.
    rendered = work / "rendered"
    if rendered.exists():
        shutil.rmtree(rendered)
    rendered.mkdir()
    for p in projects:
        for overlay in ("dev", "prod"):
            r = run(["kubectl", "kustomize", str(p / "deploy/k8s/overlays" / overlay)])
            if r.returncode != 0:
                failures.append(f"kustomize: {name(p)}: {overlay}: {r.stderr.strip()}")
                continue
            docs = [x for x in yaml.safe_load_all(r.stdout) if x]
            for j, doc in enumerate(docs):
                f = rendered / f"{p.name}-{overlay}-{j:03d}.yaml"
                f.write_text(yaml.safe_dump(doc))
    files = sorted(str(f) for f in rendered.glob("*.yaml"))
    log(f"kubectl kustomize: {len(files)} manifests rendered")
    for k in range(0, len(files), 200):
        r = run([a.kubernetes_validate, "--strict", "--quiet", *files[k : k + 200]])
        if r.returncode != 0:
            failures.append(f"kubernetes-validate: {r.stdout.strip()} {r.stderr.strip()}")
    print("kubernetes-validate: done")

    # 5. checkov, once per target over every project's output.
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false", LOG_LEVEL="ERROR")
    for t in TARGETS:
        tree = work / "checkov" / t
        if tree.exists():
            shutil.rmtree(tree)
        tree.mkdir(parents=True)
        if t == "k8s":
            # What the prod overlay renders (namespace, replicas, images applied), not
            # the base and patch files, which are not complete objects on their own;
            # dev differs only in replicas and resource sizes (kubernetes-validate
            # checks both).
            (tree / "rendered").mkdir()
            for f in rendered.glob("*-prod-*.yaml"):
                shutil.copy(f, tree / "rendered" / f.name)
        else:
            for p in projects:
                shutil.copytree(p / "deploy" / t, tree / p.name, ignore=shutil.ignore_patterns("overrides"))
        config = projects[0] / "deploy" / t / ".checkov.yaml"
        r = run(
            [a.checkov, "-d", str(tree), "--config-file", str(config), "--compact", "--quiet",
             "--skip-download", "--output", "json"],
            env=env,
        )
        try:
            reports = json.loads(r.stdout or "[]")
        except json.JSONDecodeError:
            failures.append(f"checkov {t}: no report: {r.stdout[-2000:]} {r.stderr[-2000:]}")
            continue
        if isinstance(reports, dict):
            reports = [reports]
        passed = failed = 0
        for rep in reports:
            s = rep.get("summary", {})
            passed += s.get("passed", 0)
            failed += s.get("failed", 0)
            for c in rep.get("results", {}).get("failed_checks", []):
                failures.append(f"checkov {t}: {c['check_id']} {c['check_name']}: {c['file_path']} {c['resource']}")
        log(f"checkov {t}: {passed} passed, {failed} failed")
        if passed == 0:
            failures.append(f"checkov {t}: nothing was checked ({r.stderr[-500:]})")

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

    if failures:
        log(f"\n{len(failures)} failures:")
        for f in failures[:300]:
            print("  " + f)
        return 1
    print("every generated deployment passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
