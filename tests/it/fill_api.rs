//! The fill step through the API in embedded mode (issue 22): `GET
//! /api/v1/models` lists the configured fill models, an upload's `fill`
//! names one (an unknown one is a 400), the job passes `filling` with
//! counts, accepted bodies are in the zip and pass its pytest, rejected
//! ones leave the stub and a reason in `c4forge.json`, and a failing
//! endpoint opens the breaker while the job still finishes `done`.
//!
//! The endpoint is a real HTTP server of the test's own answering from a
//! script. Needs `C4FORGE_PYTHON` (the gate's and the check's Python).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::io::Read;
use std::time::Duration;

use common::*;
use fill::fake::{FakeEndpoint, Reply};

const GREETING: &str = r#"@startuml
!include <C4/C4_Component>
Container_Boundary(api, "Greeting API") {
  Component(greeter, "Greeter", "Python", "Greets people by name")
  Component(syntax, "Syntax Breaker", "Python", "Formats names")
}
Rel(greeter, syntax, "Formats names with")
@enduml
"#;

const BROKEN: &str = r#"@startuml
!include <C4/C4_Component>
Container_Boundary(api, "Broken API") {
  Component(one, "Failing One", "Python", "Fails")
  Component(two, "Failing Two", "Python", "Fails too")
}
@enduml
"#;

pub(crate) const GREETER: &str = "\"\"\"Greeter.\"\"\"\n\nfrom __future__ import annotations\n\nfrom ..components.greeter import GreeterBase\n\n\nclass Greeter(GreeterBase):\n    \"\"\"Greets people by name.\"\"\"\n\n    def hello(self, name: str) -> str:\n        return f\"Hello, {name}!\"\n";

const SYNTAX_ERROR: &str = "class SyntaxBreaker(:\n    pass\n";

fn python() -> String {
    std::env::var("C4FORGE_PYTHON")
        .expect("C4FORGE_PYTHON: a venv python with the generated projects' requirements")
}

async fn finished(http: &reqwest::Client, base: &str, token: &str, job: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let view: serde_json::Value = http
            .get(format!("{base}/api/v1/diagrams/{job}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if matches!(
            view["status"].as_str(),
            Some("done" | "failed" | "dead_lettered")
        ) {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {job} unfinished: {view}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn upload_fill(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    fill: &str,
    text: &str,
) -> (u16, serde_json::Value) {
    let r = http
        .post(format!("{base}/api/v1/diagrams?name={name}&fill={fill}"))
        .bearer_auth(token)
        .body(text.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

/// The zip's files: path -> text.
pub(crate) async fn files(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    job: &str,
) -> Vec<(String, String)> {
    let bytes = http
        .get(format!("{base}/api/v1/diagrams/{job}/code.zip"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut text = String::new();
            f.read_to_string(&mut text).unwrap();
            (f.name().unwrap().to_string(), text)
        })
        .collect()
}

/// The text of the one file whose path ends with `suffix`.
pub(crate) fn file<'a>(files: &'a [(String, String)], suffix: &str) -> &'a str {
    &files
        .iter()
        .find(|(p, _)| p.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {suffix}"))
        .1
}

/// The `fill` record of the module whose path ends with `suffix`.
pub(crate) fn record<'a>(manifest: &'a serde_json::Value, suffix: &str) -> &'a serde_json::Value {
    manifest["fill"]["modules"]
        .as_array()
        .expect("a fill section")
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no record of {suffix}: {manifest}"))
}

#[tokio::test]
async fn fill_through_the_api_in_embedded_mode() {
    let endpoint = FakeEndpoint::start(
        vec![
            ("/greeter.py", vec![Reply::Code(GREETER.into())]),
            ("/syntax_breaker.py", vec![Reply::Code(SYNTAX_ERROR.into())]),
            ("src/broken", vec![Reply::Status(500, None)]),
        ],
        vec![Reply::Status(404, None)],
    );
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = vec![
        ("C4FORGE_DATA_DIR".into(), dir.path().display().to_string()),
        ("C4FORGE_LISTEN".into(), "127.0.0.1:0".into()),
        ("C4FORGE_FILL_URL".into(), endpoint.url.clone()),
        ("C4FORGE_FILL_MODEL".into(), "coder:7b, tiny".into()),
        ("C4FORGE_FILL_PYTHON".into(), python()),
    ];
    let server = spawn(&[], &env);
    let http = reqwest::Client::new();
    let base = server.base.clone();

    // The registry lists the fill models with their versions.
    let models: serde_json::Value = http
        .get(format!("{base}/api/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        models["fill"],
        serde_json::json!([
            {"name": "coder:7b", "version": "7b", "default": true},
            {"name": "tiny", "version": "latest", "default": false}
        ]),
        "{models}"
    );
    let token = login(&http, &base, "fill@example.com").await;
    let (status, body) = upload_fill(&http, &base, &token, "g.puml", "gpt-5", GREETING).await;
    assert_eq!(status, 400, "{body}");

    // A fill: one accepted, one rejected by the gate, the service refused
    // by the endpoint (404).
    let (status, body) =
        upload_fill(&http, &base, &token, "greeting.puml", "coder:7b", GREETING).await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().unwrap().to_string();
    let view = finished(&http, &base, &token, &job).await;
    assert_eq!(
        view["status"],
        "done",
        "{view}\nlog:\n{}",
        server.log_text()
    );
    let history = view["history"].as_array().unwrap();
    let statuses: Vec<&str> = history
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "queued",
            "parsing",
            "generating",
            "filling",
            "storing",
            "done"
        ],
        "{view}"
    );
    let filling = &history[3]["detail"];
    assert_eq!(filling["model"], "coder:7b");
    assert_eq!(filling["modules"], 3, "{filling}");
    let counts = &history[4]["detail"]["fill"];
    assert_eq!(
        (&counts["accepted"], &counts["rejected"], &counts["failed"]),
        (&1.into(), &1.into(), &1.into()),
        "{counts}"
    );
    let project = files(&http, &base, &token, &job).await;
    let manifest: serde_json::Value = serde_json::from_str(file(&project, "c4forge.json")).unwrap();
    assert_eq!(manifest["fill"]["model"], "coder:7b");
    assert!(file(&project, "impl/greeter.py").contains("def hello("));
    assert_eq!(record(&manifest, "impl/greeter.py")["outcome"], "accepted");
    assert!(!file(&project, "impl/syntax_breaker.py").contains("class SyntaxBreaker(:"));
    let r = record(&manifest, "impl/syntax_breaker.py");
    assert_eq!(r["outcome"], "rejected", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("does not parse"),
        "{r}"
    );
    let r = record(&manifest, "impl/service.py");
    assert_eq!(r["outcome"], "failed", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("404"), "{r}");
    // The zip passes its own tests with the accepted body.
    let out = tempfile::tempdir().unwrap();
    for (path, text) in &project {
        let p = out.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let tests = std::process::Command::new(python())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(out.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH")
        .output()
        .unwrap();
    assert!(
        tests.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&tests.stdout),
        String::from_utf8_lossy(&tests.stderr)
    );

    // A failing endpoint: the breaker opens, the job still finishes done,
    // with its stubs.
    let (status, body) = upload_fill(&http, &base, &token, "broken.puml", "coder:7b", BROKEN).await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().unwrap().to_string();
    let view = finished(&http, &base, &token, &job).await;
    assert_eq!(
        view["status"],
        "done",
        "{view}\nlog:\n{}",
        server.log_text()
    );
    let project = files(&http, &base, &token, &job).await;
    let manifest: serde_json::Value = serde_json::from_str(file(&project, "c4forge.json")).unwrap();
    let modules = manifest["fill"]["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 3, "{manifest}");
    assert!(
        modules.iter().all(|m| m["outcome"] != "accepted"),
        "{manifest}"
    );
    assert!(
        modules.iter().any(|m| m["reason"]
            .as_str()
            .unwrap()
            .contains("circuit breaker is open")),
        "{manifest}"
    );
    assert!(file(&project, "impl/failing_one.py").contains("class FailingOne(FailingOneBase):"));
    // Each stub is listed with the hash of what the zip holds.
    for f in manifest["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        if path != "c4forge.json" {
            assert_eq!(
                f["sha256"].as_str().unwrap(),
                fill::record::sha256_hex(file(&project, path)),
                "{path}"
            );
        }
    }
    let broken_requests = endpoint.seen_for("src/broken").len();
    assert!(
        broken_requests < 3 * 4,
        "{broken_requests} requests: the breaker never opened"
    );
}
