//! The generated projects really work: for every IR fixture, random model and
//! corpus diagram the parser turns into at least one element, the project is
//! written to a temporary directory and its structure (pyproject, manifest,
//! docker-compose references), `python -m compileall`, `python -m ruff check`,
//! `python -m ruff format --check` (every file already as ruff formats it,
//! whatever the length of the diagram's names) and `python -m pytest` must
//! pass inside it (no network: the generated tests use mock transports and
//! fakes).
//!
//! Needs `C4FORGE_PYTHON`: the absolute path of a venv's python with
//! `infer/python-requirements.txt` installed. Without it the test FAILS (it
//! never skips silently).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use infer::{DEFAULT_GENERATOR, GenerateOptions, generate};
use schemas::files::FileSet;

const HOW: &str = "set C4FORGE_PYTHON to a venv python with infer's requirements, e.g.\n  \
    python3 -m venv /root/.cache/c4forge-venv && /root/.cache/c4forge-venv/bin/pip install -r infer/python-requirements.txt\n  \
    export C4FORGE_PYTHON=/root/.cache/c4forge-venv/bin/python";

fn python() -> PathBuf {
    let py = std::env::var_os("C4FORGE_PYTHON")
        .unwrap_or_else(|| panic!("C4FORGE_PYTHON is not set: {HOW}"));
    let py = PathBuf::from(py);
    let ok = Command::new(&py).args(["-c", "import fastapi, httpx, pydantic_settings, sqlalchemy, aio_pika, aiokafka, redis, grpc, pytest, ruff, yaml"]).output();
    match ok {
        Ok(o) if o.status.success() => py,
        Ok(o) => panic!(
            "{} lacks the requirements ({}): {HOW}",
            py.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run {}: {e}: {HOW}", py.display()),
    }
}

/// Structure of the project files Python does not compile: pyproject.toml
/// parses (tomllib), c4forge.json lists existing files, docker-compose.yml
/// parses and every `depends_on`, network and volume it names exists, and
/// every YAML file loads to the strings written in it: each key and scalar
/// read with types (`safe_load`, YAML 1.1 as docker compose v1 and PyYAML
/// read it: `true`, `null`, `yes`, `off` are not strings) equals the same
/// scalar read as text (`BaseLoader`); only `retries` is an integer, and the typed settings of
/// Grafana's provisioning files.
const STRUCTURE: &str = r#"
import json, pathlib, tomllib, yaml
# Grafana's provisioning files have typed settings (Grafana reads them into integers and booleans).
GRAFANA_TYPED = {"apiVersion", "disableDeletion", "allowUiUpdates", "isDefault", "editable"}
def same(typed, text, at):
    if isinstance(typed, dict):
        assert isinstance(text, dict) and len(typed) == len(text), f"{at}: keys {list(text)} load as {list(typed)}"
        for (k, v), (tk, tv) in zip(typed.items(), text.items()):
            assert isinstance(k, str) and k == tk, f"{at}: key {tk!r} loads as {k!r}"
            same(v, tv, f"{at}.{k}")
    elif isinstance(typed, list):
        assert isinstance(text, list) and len(typed) == len(text), f"{at}: {text!r} loads as {typed!r}"
        for n, (v, tv) in enumerate(zip(typed, text)):
            same(v, tv, f"{at}[{n}]")
    elif at.endswith(".retries"):
        assert type(typed) is int and str(typed) == text, f"{at}: {text!r} loads as {typed!r}"
    elif "/grafana/provisioning/" in at and at.rsplit(".", 1)[-1] in GRAFANA_TYPED:
        assert type(typed) in (int, bool) and str(typed).lower() == text.lower(), f"{at}: {text!r} loads as {typed!r}"
    else:
        assert isinstance(typed, str) and typed == text, f"{at}: {text!r} loads as {typed!r}"
for f in sorted(pathlib.Path(".").rglob("*.y*ml")):
    doc = f.read_text()
    same(yaml.safe_load(doc), yaml.load(doc, Loader=yaml.BaseLoader), str(f))
root = pathlib.Path(".")
project = tomllib.loads((root / "pyproject.toml").read_text())
assert project["project"]["name"], "pyproject without a name"
manifest = json.loads((root / "c4forge.json").read_text())
for f in manifest["files"]:
    assert (root / f["path"]).is_file(), f["path"]
compose = yaml.safe_load((root / "docker-compose.yml").read_text())
services = compose["services"]
networks = set((compose.get("networks") or {}).keys()) | {"default"}
volumes = set((compose.get("volumes") or {}).keys())
for name, svc in services.items():
    assert "image" in svc or "build" in svc, name
    for dep in svc.get("depends_on") or {}:
        assert dep in services, f"{name} depends on unknown {dep}"
    for net in svc.get("networks") or []:
        assert net in networks, f"{name} joins unknown network {net}"
    for vol in svc.get("volumes") or []:
        src = vol.split(":")[0]
        if src.startswith("./"):
            assert (root / src).exists(), f"{name} mounts missing file {vol}"
        else:
            assert src in volumes, f"{name} mounts unknown volume {vol}"
    for key, value in (svc.get("environment") or {}).items():
        assert isinstance(value, str), f"{name}: {key} is not a string"
"#;

/// Runs the checks in `dir`; Err carries the failing command's output.
fn check(py: &Path, dir: &Path) -> Result<(), String> {
    let steps: [&[&str]; 5] = [
        &["-c", STRUCTURE],
        &["-m", "compileall", "-q", "."],
        &["-m", "ruff", "check", "--no-cache", "."],
        &[
            "-m",
            "ruff",
            "format",
            "--check",
            "--diff",
            "--no-cache",
            ".",
        ],
        &["-m", "pytest", "-q", "-p", "no:cacheprovider"],
    ];
    for args in steps {
        let out = Command::new(py)
            .args(args)
            .current_dir(dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("PYTHONPATH")
            .output()
            .map_err(|e| format!("cannot run python: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`python {}` failed ({}):\n{}\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

/// Checks many projects on two threads; returns the failures.
fn check_all(py: &Path, projects: Vec<(String, FileSet)>) -> Vec<String> {
    let failures = Mutex::new(Vec::new());
    let queue = Mutex::new(projects);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some((name, files)) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let dir = tempfile::tempdir().unwrap();
                    common::write(dir.path(), &files);
                    if let Err(e) = check(py, dir.path()) {
                        failures.lock().unwrap().push(format!("=== {name}\n{e}"));
                    }
                }
            });
        }
    });
    failures.into_inner().unwrap()
}

#[test]
fn generated_projects_compile_lint_and_pass_their_tests() {
    let py = python();
    let projects: Vec<(String, FileSet)> = common::fixtures()
        .into_iter()
        .map(|(name, model)| {
            let files = common::gen_fixture(&name, &model);
            (format!("fixture {name}"), files)
        })
        .collect();
    let failures = check_all(&py, projects);
    assert!(
        failures.is_empty(),
        "{} generated project(s) fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Containers, a database, a queue and a deployment node named `true`,
/// `null`, `yes`, `off`, `no`, `False` and `on` (YAML 1.1 booleans and null)
/// keep their names in docker-compose.yml as loaded: services, the
/// dependencies on them and the networks joined are those strings.
#[test]
fn yaml_special_names_stay_strings_in_docker_compose() {
    let py = python();
    let (name, model) = common::fixtures()
        .into_iter()
        .find(|(n, _)| n == "yaml_names")
        .expect("fixture yaml_names");
    let files = common::gen_fixture(&name, &model);
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), &files);
    let out = Command::new(&py)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(dir.path().join("docker-compose.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker-compose.yml does not load: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let compose: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let services = compose["services"].as_object().expect("services by name");
    for (host, alias) in [
        ("true", "t"),
        ("null", "n"),
        ("yes", "y"),
        ("off", "o"),
        ("no", "no"),
        ("false", "false"),
    ] {
        let svc = services
            .get(host)
            .unwrap_or_else(|| panic!("no service {host:?} in {:?}", services.keys()));
        assert_eq!(svc["labels"]["c4forge.element"], alias, "{host}");
    }
    let depends: Vec<&String> = services["true"]["depends_on"]
        .as_object()
        .expect("true depends on its database and queue")
        .keys()
        .collect();
    assert!(
        depends.contains(&&"no".to_string()) && depends.contains(&&"false".to_string()),
        "{depends:?}"
    );
    assert_eq!(
        services["true"]["networks"],
        serde_json::json!(["default", "on"])
    );
    assert!(
        compose["networks"]["on"].is_object(),
        "{}",
        compose["networks"]
    );
    assert!(
        compose["volumes"]["no-data"].is_object(),
        "{}",
        compose["volumes"]
    );
}

#[test]
fn random_models_give_working_projects() {
    let py = python();
    // C4FORGE_RANDOM_MODELS=N checks more (default 10).
    let n: u64 = std::env::var("C4FORGE_RANDOM_MODELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let projects: Vec<(String, FileSet)> = (0..n)
        .map(|seed| {
            let model = common::random_model(seed);
            let opts = GenerateOptions {
                source_name: format!("random{seed}.puml"),
                templates_dir: None,
                ..Default::default()
            };
            (
                format!("random model {seed}"),
                generate(DEFAULT_GENERATOR, &model, &opts).unwrap(),
            )
        })
        .collect();
    let failures = check_all(&py, projects);
    assert!(
        failures.is_empty(),
        "{} random project(s) fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn corpus_diagrams() -> Vec<PathBuf> {
    let root = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpus/c4-plantuml"
    ));
    let mut out = Vec::new();
    for sub in ["samples", "percy"] {
        let Ok(entries) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "puml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn corpus_diagrams_generate_working_projects() {
    let py = python();
    let diagrams = corpus_diagrams();
    assert!(
        !diagrams.is_empty(),
        "corpus not found next to the repository (../shared/corpus/c4-plantuml)"
    );
    let mut projects = Vec::new();
    let mut generation_failures = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for path in &diagrams {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        // percy/ repeats some samples/ diagrams verbatim: check each text once.
        if !seen.insert(text.clone()) {
            continue;
        }
        let model = preprocess::parse(
            &preprocess::SourceFile {
                path: name.clone(),
                text,
            },
            &preprocess::NoIncludes,
        );
        if model.diagrams.iter().all(|d| d.elements.is_empty()) {
            continue;
        }
        let opts = GenerateOptions {
            source_name: name.clone(),
            templates_dir: None,
            ..Default::default()
        };
        match generate(DEFAULT_GENERATOR, &model, &opts) {
            Ok(files) => projects.push((format!("corpus {name}"), files)),
            Err(e) => generation_failures.push(format!("=== corpus {name}: {e}")),
        }
    }
    assert!(
        generation_failures.is_empty(),
        "generation failed:\n{}",
        generation_failures.join("\n")
    );
    assert!(
        projects.len() >= 10,
        "only {} corpus diagrams gave elements",
        projects.len()
    );
    eprintln!(
        "checking {} corpus projects (of {} diagrams)",
        projects.len(),
        diagrams.len()
    );
    let failures = check_all(&py, projects);
    assert!(
        failures.is_empty(),
        "{} corpus project(s) fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
