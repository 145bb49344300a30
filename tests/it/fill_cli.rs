//! `c4forge convert --fill MODEL` end to end (issue 22): a real HTTP server
//! of the test's own speaks the chat-completions API from a script (a
//! correct body, a syntax error, a body that breaks a test, a timeout, a
//! 429 with Retry-After, a 500, malformed JSON); accepted bodies end up in
//! the output and pass the project's pytest, rejected ones leave the stub
//! and a reason in `c4forge.json`, a module the user edited is never
//! touched, and a failing endpoint opens the breaker while convert still
//! writes the project with its stubs.
//!
//! Needs `C4FORGE_PYTHON` (a venv with the generated projects' requirements,
//! ruff and pytest), as `infer/tests/python_projects.rs` does.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::bin;
use fill::fake::{FakeEndpoint, Reply};

const DIAGRAM: &str = r#"@startuml
!include <C4/C4_Component>
Container_Boundary(api, "Greeting API") {
  Component(greeter, "Greeter", "Python", "Greets people by name")
  Component(syntax, "Syntax Breaker", "Python", "Formats names")
  Component(slow, "Slow Cache", "Python", "Caches greetings")
  Component(limited, "Limited Auditor", "Python", "Audits greetings")
  Component(garbage, "Garbage Translator", "Python", "Translates greetings")
}
Rel(greeter, syntax, "Formats names with")
@enduml
"#;

const KEY: &str = "sk-test-never-shown";

fn python() -> String {
    std::env::var("C4FORGE_PYTHON").unwrap_or_else(|_| {
        panic!("C4FORGE_PYTHON is not set: a venv python with infer/python-requirements.txt")
    })
}

fn convert(dir: &Path, out: &str, extra: &[&str], endpoint: Option<&FakeEndpoint>) -> Output {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .args(["convert", "greeting.puml", "-o", out])
        .args(extra)
        .env("C4FORGE_FILL_PYTHON", python())
        .env("C4FORGE_FILL_API_KEY", KEY)
        .env("C4FORGE_FILL_REQUEST_TIMEOUT_SECS", "1")
        .env_remove("C4FORGE_FILL_URL");
    if let Some(e) = endpoint {
        cmd.env("C4FORGE_FILL_URL", &e.url);
    }
    cmd.output().expect("run c4forge convert")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `impl/` stubs convert writes without a fill, by file name.
fn stubs(dir: &Path) -> BTreeMap<String, (PathBuf, String)> {
    let out = convert(dir, "plain", &[], None);
    assert!(out.status.success(), "{}", text(&out));
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.join("plain")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.parent().unwrap().ends_with("impl")
                && p.file_name().unwrap() != "__init__.py"
            {
                let rel = p.strip_prefix(dir.join("plain")).unwrap().to_path_buf();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                found.insert(name, (rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    found
}

/// A correct body: the stub with one more method (as ruff formats it).
fn good(stub: &str, word: &str) -> String {
    format!(
        "{stub}\n    def {word}(self, name: str) -> str:\n        return f\"{word}, {{name}}!\"\n"
    )
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("c4forge.json")).unwrap()).unwrap()
}

fn module<'a>(m: &'a serde_json::Value, file: &str) -> &'a serde_json::Value {
    m["fill"]["modules"]
        .as_array()
        .expect("a fill section")
        .iter()
        .find(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/impl/{file}"))
        })
        .unwrap_or_else(|| panic!("no record of {file}: {m}"))
}

fn pytest(dir: &Path) -> Output {
    Command::new(python())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH")
        .output()
        .expect("run pytest")
}

#[test]
fn scripted_answers_are_kept_only_when_they_pass_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greeting.puml"), DIAGRAM).unwrap();
    let stubs = stubs(dir.path());
    assert_eq!(
        stubs.keys().cloned().collect::<Vec<_>>(),
        [
            "garbage_translator.py",
            "greeter.py",
            "limited_auditor.py",
            "service.py",
            "slow_cache.py",
            "syntax_breaker.py"
        ]
    );
    let stub = |f: &str| stubs[f].1.clone();
    let service = stub("service.py");
    // Ruff-clean, formatted, and the app cannot start with it.
    let breaks_a_test = format!(
        "{}\n    def __init__(self, *args: object, **kwargs: object) -> None:\n        raise RuntimeError(\"refusing to start\")\n",
        service.trim_end()
    );
    let syntax_error = format!(
        "{}\n    def broken(self) -> str\n        return 1\n",
        stub("syntax_breaker.py").trim_end()
    );
    let endpoint = FakeEndpoint::start(
        vec![
            (
                "/greeter.py",
                vec![Reply::Code(good(&stub("greeter.py"), "hello"))],
            ),
            ("/syntax_breaker.py", vec![Reply::Code(syntax_error)]),
            (
                "/service.py",
                vec![
                    Reply::Code(breaks_a_test),
                    Reply::Code(good(&service, "describe")),
                ],
            ),
            (
                "/slow_cache.py",
                vec![
                    Reply::Hang(Duration::from_secs(3)),
                    Reply::Code(good(&stub("slow_cache.py"), "cached")),
                ],
            ),
            (
                "/limited_auditor.py",
                vec![
                    Reply::Status(429, Some(1)),
                    Reply::Code(good(&stub("limited_auditor.py"), "audited")),
                ],
            ),
            (
                "/garbage_translator.py",
                vec![Reply::Raw("{\"choices\": [{\"message\": ".into())],
            ),
        ],
        vec![Reply::Status(404, None)],
    );
    let out = convert(
        dir.path(),
        "filled",
        &["--fill", "coder:7b"],
        Some(&endpoint),
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        !shown.contains(KEY),
        "the key leaked into the output: {shown}"
    );
    let project = dir.path().join("filled");
    let m = manifest(&project);
    assert!(
        !std::fs::read_to_string(project.join("c4forge.json"))
            .unwrap()
            .contains(KEY),
        "the key is stored in the manifest"
    );
    assert_eq!(m["fill"]["model"], "coder:7b");
    let on_disk = |f: &str| std::fs::read_to_string(project.join(&stubs[f].0)).unwrap();

    // Accepted on the first answer: in the output, recorded as such.
    let r = module(&m, "greeter.py");
    assert_eq!(r["outcome"], "accepted", "{r}");
    assert_eq!(r["retries"], 0, "{r}");
    assert_eq!(r["prompt_sha256"].as_str().unwrap().len(), 64, "{r}");
    assert!(on_disk("greeter.py").contains("def hello("));
    // A timeout and a 429 are transport retries: the answer after them is
    // the first answer, and the 429's Retry-After was waited for.
    for (file, word) in [
        ("slow_cache.py", "cached"),
        ("limited_auditor.py", "audited"),
    ] {
        let r = module(&m, file);
        assert_eq!(r["outcome"], "accepted", "{r}");
        assert_eq!(r["answers"], 1, "{r}");
        assert!(on_disk(file).contains(&format!("def {word}(")), "{file}");
        assert_eq!(endpoint.seen_for(&format!("/{file}")).len(), 2, "{file}");
    }
    let limited = endpoint.seen_for("/limited_auditor.py");
    assert!(
        limited[1].at - limited[0].at >= Duration::from_secs(1),
        "the 429's Retry-After was not honoured"
    );
    // The body that broke the app's tests was rejected; the second answer,
    // asked with the rejection in the conversation, was kept.
    let r = module(&m, "service.py");
    assert_eq!(r["outcome"], "accepted", "{r}");
    assert_eq!(r["answers"], 2, "{r}");
    assert_eq!(r["retries"], 1, "{r}");
    let service_requests = endpoint.seen_for("/service.py");
    assert_eq!(service_requests.len(), 2);
    assert_eq!(service_requests[1].messages, 4, "the rejection is fed back");
    assert!(on_disk("service.py").contains("def describe("));
    assert!(!on_disk("service.py").contains("refusing to start"));
    // Rejected: the stub stays, the reason is recorded.
    let r = module(&m, "syntax_breaker.py");
    assert_eq!(r["outcome"], "rejected", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("does not parse"),
        "{r}"
    );
    assert_eq!(on_disk("syntax_breaker.py"), stub("syntax_breaker.py"));
    let r = module(&m, "garbage_translator.py");
    assert_eq!(r["outcome"], "rejected", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("malformed answer"),
        "{r}"
    );
    assert_eq!(
        on_disk("garbage_translator.py"),
        stub("garbage_translator.py")
    );
    // Every request named the model and carried the key.
    for s in endpoint.seen() {
        assert_eq!(s.model, "coder:7b");
        assert_eq!(s.authorization.as_deref(), Some(&*format!("Bearer {KEY}")));
    }
    // The manifest's hashes are those of the files written, and the filled
    // project passes its own tests.
    for f in m["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        if path == "c4forge.json" {
            continue;
        }
        let contents = std::fs::read_to_string(project.join(path)).unwrap();
        assert_eq!(
            f["sha256"].as_str().unwrap(),
            fill::record::sha256_hex(&contents),
            "{path}"
        );
    }
    let tests = pytest(&project);
    assert!(tests.status.success(), "{}", text(&tests));

    // A user edit is never overwritten: convert again with the fill.
    let greeter = project.join(&stubs["greeter.py"].0);
    let edited = format!("{}\n# mine\n", on_disk("greeter.py").trim_end());
    std::fs::write(&greeter, &edited).unwrap();
    let asked_before = endpoint.seen_for("/greeter.py").len();
    let out = convert(
        dir.path(),
        "filled",
        &["--fill", "coder:7b"],
        Some(&endpoint),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&greeter).unwrap(), edited);
    assert_eq!(
        endpoint.seen_for("/greeter.py").len(),
        asked_before,
        "an edited module was asked for"
    );
    let r = module(&manifest(&project), "greeter.py").clone();
    assert_eq!(r["outcome"], "skipped", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("edited by the user"),
        "{r}"
    );
}

#[test]
fn a_failing_endpoint_opens_the_breaker_and_the_stubs_stay() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greeting.puml"), DIAGRAM).unwrap();
    let stubs = stubs(dir.path());
    let endpoint = FakeEndpoint::start(vec![], vec![Reply::Status(500, None)]);
    let cmd_out = {
        let mut cmd = Command::new(bin());
        cmd.current_dir(dir.path())
            .args([
                "convert",
                "greeting.puml",
                "-o",
                "filled",
                "--fill",
                "coder:7b",
            ])
            .env("C4FORGE_FILL_URL", &endpoint.url)
            .env("C4FORGE_FILL_PYTHON", python())
            .env("C4FORGE_FILL_MAX_RETRIES", "1")
            .env("C4FORGE_FILL_CONCURRENCY", "1");
        cmd.output().unwrap()
    };
    assert!(cmd_out.status.success(), "{}", text(&cmd_out));
    let project = dir.path().join("filled");
    let m = manifest(&project);
    let records = m["fill"]["modules"].as_array().unwrap();
    assert_eq!(records.len(), stubs.len());
    for r in records {
        assert_ne!(r["outcome"], "accepted", "{r}");
    }
    let reasons: Vec<&str> = records
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("endpoint error 500")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("circuit breaker is open")),
        "{reasons:?}"
    );
    // Three failures open it; the modules after that are not asked.
    assert!(
        endpoint.seen().len() < 2 * stubs.len(),
        "{} requests for {} modules",
        endpoint.seen().len(),
        stubs.len()
    );
    for (rel, stub) in stubs.values() {
        assert_eq!(&std::fs::read_to_string(project.join(rel)).unwrap(), stub);
    }
}

#[test]
fn fill_without_an_endpoint_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greeting.puml"), DIAGRAM).unwrap();
    let out = convert(dir.path(), "out", &["--fill", "coder:7b"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("C4FORGE_FILL_URL"));
    assert!(!dir.path().join("out").exists());
}

/// The checks count against the job's time budget (`fill.max_seconds`): a
/// body that makes the project's pytest outlast it is cut short, keeps the
/// stub and says why, and the conversion still succeeds.
#[test]
fn checks_that_outlast_the_time_budget_keep_the_stub() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greeting.puml"), DIAGRAM).unwrap();
    let stubs = stubs(dir.path());
    let service = stubs["service.py"].1.clone();
    // Ruff-clean and formatted; importing it (as the app's tests do) takes 60 s.
    let slow_import = format!(
        "{}\n\n_ = __import__(\"time\").sleep(60)\n",
        good(&service, "describe")
    );
    let endpoint = FakeEndpoint::start(
        vec![("/service.py", vec![Reply::Code(slow_import)])],
        vec![Reply::Status(404, None)],
    );
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir.path())
        .args(["convert", "greeting.puml", "-o", "filled"])
        .args(["--fill", "coder:7b"])
        .env("C4FORGE_FILL_URL", &endpoint.url)
        .env("C4FORGE_FILL_PYTHON", python())
        .env("C4FORGE_FILL_API_KEY", KEY)
        .env("C4FORGE_FILL_REQUEST_TIMEOUT_SECS", "1")
        .env("C4FORGE_FILL_MAX_SECONDS", "8");
    let out = cmd.output().expect("run c4forge convert");
    assert!(out.status.success(), "{}", text(&out));
    let project = dir.path().join("filled");
    let m = manifest(&project);
    let r = module(&m, "service.py");
    assert_eq!(r["outcome"], "rejected", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("during the checks (fill.max_seconds)"),
        "{r}"
    );
    assert_eq!(
        std::fs::read_to_string(project.join(&stubs["service.py"].0)).unwrap(),
        service
    );
}
