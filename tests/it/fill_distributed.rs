//! The fill step in distributed mode (issue 22): `fill` is a stage of its
//! own, with its own queue and process, between generate and store; a job
//! that did not ask for it goes generate -> store as before, with no fill
//! process running at all. Real processes on the local PostgreSQL, RabbitMQ
//! and S3 (own database, vhost and bucket), as tests/distributed.rs; the
//! model endpoint is a scripted server of the test's own.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use crate::fill_api::{GREETER, file, files, record};
use common::*;
use fill::fake::{FakeEndpoint, Reply};

const GREETING: &str = r#"@startuml
!include <C4/C4_Component>
Container_Boundary(api, "Greeting API") {
  Component(greeter, "Greeter", "Python", "Greets people by name")
}
@enduml
"#;

async fn history(http: &reqwest::Client, base: &str, token: &str, job: &str) -> Vec<String> {
    let view: serde_json::Value = http
        .get(format!("{base}/api/v1/diagrams/{job}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn fill_is_a_stage_of_its_own_in_distributed_mode() {
    let python = std::env::var("C4FORGE_PYTHON").expect("C4FORGE_PYTHON");
    let endpoint = FakeEndpoint::start(
        vec![("/greeter.py", vec![Reply::Code(GREETER.into())])],
        vec![Reply::Status(404, None)],
    );
    let iso = Isolated::create().await;
    let env = with(
        iso.env(),
        &[
            ("C4FORGE_FILL_URL", &endpoint.url),
            ("C4FORGE_FILL_MODEL", "coder:7b"),
            ("C4FORGE_FILL_PYTHON", &python),
        ],
    );
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let _parse = spawn(&["--stages", "parse"], &env);
    let _generate = spawn(&["--stages", "generate"], &env);
    let _store = spawn(&["--stages", "store"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "distfill@example.com").await;

    // Without a fill: generate -> store, though no fill process runs.
    let (status, body) = upload(
        &http,
        &api.base,
        Some(&token),
        "bigbank.puml",
        BIGBANK.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let plain = body["job_id"].as_str().unwrap().to_string();
    assert_eq!(
        wait_terminal(&http, &api.base, &token, &plain, 60).await,
        "done"
    );
    assert_eq!(
        history(&http, &api.base, &token, &plain).await,
        ["queued", "parsing", "generating", "storing", "done"]
    );
    assert!(endpoint.seen().is_empty());

    // With a fill: through the fill process.
    let _fill = spawn(&["--stages", "fill"], &env);
    let r = http
        .post(format!(
            "{}/api/v1/diagrams?name=greeting.puml&fill=coder:7b",
            api.base
        ))
        .bearer_auth(&token)
        .body(GREETING)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let body: serde_json::Value = r.json().await.unwrap();
    let job = body["job_id"].as_str().unwrap().to_string();
    assert_eq!(
        wait_terminal(&http, &api.base, &token, &job, 300).await,
        "done"
    );
    assert_eq!(
        history(&http, &api.base, &token, &job).await,
        [
            "queued",
            "parsing",
            "generating",
            "filling",
            "storing",
            "done"
        ]
    );
    let project = files(&http, &api.base, &token, &job).await;
    assert!(file(&project, "impl/greeter.py").contains("def hello("));
    let manifest: serde_json::Value = serde_json::from_str(file(&project, "c4forge.json")).unwrap();
    assert_eq!(
        record(&manifest, "impl/greeter.py")["outcome"],
        "accepted",
        "{manifest}"
    );
    assert_eq!(
        endpoint.seen_for("/greeter.py").len(),
        1,
        "asked once, not duplicated"
    );
}
