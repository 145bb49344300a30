//! API tests through HTTP against an embedded-mode server: auth token
//! rotation, job management endpoints, limits and security headers.

use crate::common;

use common::*;

fn env(dir: &std::path::Path, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vec![
        ("C4FORGE_DATA_DIR".to_string(), dir.display().to_string()),
        ("C4FORGE_LISTEN".to_string(), "127.0.0.1:0".to_string()),
    ];
    v.extend(
        extra
            .iter()
            .map(|(k, val)| (k.to_string(), val.to_string())),
    );
    v
}

async fn post_json(
    http: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = http.post(url).json(&body).send().await.expect("post");
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(dir.path(), &[]));
    let http = reqwest::Client::new();
    let creds = serde_json::json!({"email": "r@example.com", "password": "correct horse battery"});
    post_json(
        &http,
        format!("{}/api/v1/auth/register", server.base),
        creds.clone(),
    )
    .await;
    let (status, first) =
        post_json(&http, format!("{}/api/v1/auth/token", server.base), creds).await;
    assert_eq!(status, 200);
    let r1 = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();

    let refresh = |t: &str| serde_json::json!({"refresh_token": t});
    let (status, second) = post_json(
        &http,
        format!("{}/api/v1/auth/refresh", server.base),
        refresh(&r1),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    assert_ne!(r1, r2);
    // The new access token works.
    let r = http
        .get(format!("{}/api/v1/diagrams", server.base))
        .bearer_auth(second["access_token"].as_str().expect("access"))
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), 200);

    // Replaying the first token is theft: refused, and its family (r2) dies too.
    let (status, _) = post_json(
        &http,
        format!("{}/api/v1/auth/refresh", server.base),
        refresh(&r1),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post_json(
        &http,
        format!("{}/api/v1/auth/refresh", server.base),
        refresh(&r2),
    )
    .await;
    assert_eq!(status, 401, "the family of a reused token must be revoked");
    let (status, _) = post_json(
        &http,
        format!("{}/api/v1/auth/refresh", server.base),
        refresh("made-up"),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn source_manifest_delete_retry_and_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(dir.path(), &[]));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "m@example.com").await;
    let base = &server.base;

    let models: serde_json::Value = http
        .get(format!("{base}/api/v1/models"))
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    assert!(
        models["items"].as_array().is_some_and(|m| m
            .iter()
            .any(|g| g["name"] == "python-fastapi" && g["version"].is_string())),
        "{models}"
    );

    let (_, body) = upload(
        &http,
        base,
        Some(&token),
        "bank.puml",
        BIGBANK.as_bytes().to_vec(),
    )
    .await;
    let job = body["job_id"].as_str().expect("job").to_string();
    assert_eq!(wait_terminal(&http, base, &token, &job, 30).await, "done");

    let source = http
        .get(format!("{base}/api/v1/diagrams/{job}/source"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("source");
    assert_eq!(source.text().await.expect("text"), BIGBANK);

    let manifest: serde_json::Value = http
        .get(format!("{base}/api/v1/diagrams/{job}/code"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("code")
        .json()
        .await
        .expect("json");
    let files = manifest["files"].as_array().expect("files");
    let pyproject = files
        .iter()
        .find(|f| f["path"] == "pyproject.toml")
        .expect("pyproject.toml listed");
    let link = pyproject["link"].as_str().expect("link");
    let r = http
        .get(format!("{base}{link}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("file");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );

    // A done job cannot be retried; a deleted job is gone with its objects.
    let r = http
        .post(format!("{base}/api/v1/diagrams/{job}/retry"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("retry");
    assert_eq!(r.status(), 409);
    let r = http
        .delete(format!("{base}/api/v1/diagrams/{job}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let r = http
        .get(format!("{base}/api/v1/diagrams/{job}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert!(
        !dir.path()
            .join("objects")
            .join("jobs")
            .join(&job)
            .join("code.zip")
            .exists(),
        "objects removed"
    );

    // A failed job can be retried; it runs again (and fails again, same diagnostics).
    let broken = "@startuml\n!include <C4/C4_Container>\nContainer(api, \"API\", \"Rust\")\nRel(api, apii, \"Calls\")\n@enduml\n";
    let (_, body) = upload(
        &http,
        base,
        Some(&token),
        "broken.puml",
        broken.as_bytes().to_vec(),
    )
    .await;
    let failed = body["job_id"].as_str().expect("job").to_string();
    assert_eq!(
        wait_terminal(&http, base, &token, &failed, 30).await,
        "failed"
    );
    let r = http
        .post(format!("{base}/api/v1/diagrams/{failed}/retry"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("retry");
    assert_eq!(r.status(), 202);
    assert_eq!(
        wait_terminal(&http, base, &token, &failed, 30).await,
        "failed"
    );
    let view: serde_json::Value = http
        .get(format!("{base}/api/v1/diagrams/{failed}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let queued = view["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|e| e["status"] == "queued")
        .count();
    assert_eq!(queued, 2, "the retry shows in the history");
}

#[tokio::test]
async fn uploads_are_rate_limited_and_capped_per_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Only ingest runs, so jobs stay queued (active).
    let server = spawn(
        &["--stages", "ingest"],
        &env(
            dir.path(),
            &[
                ("C4FORGE_UPLOADS_PER_MINUTE", "3"),
                ("C4FORGE_MAX_ACTIVE_JOBS", "2"),
            ],
        ),
    );
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "busy@example.com").await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = http
            .post(format!("{}/api/v1/diagrams?name=d{i}.puml", server.base))
            .bearer_auth(&token)
            .body(BIGBANK)
            .send()
            .await
            .expect("upload");
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        statuses.push((r.status().as_u16(), retry_after));
    }
    assert_eq!(statuses[0].0, 202);
    assert_eq!(statuses[1].0, 202);
    assert_eq!(statuses[2].0, 429, "active-job cap: {statuses:?}");
    assert_eq!(statuses[3].0, 429, "rate limit: {statuses:?}");
    assert!(
        statuses[2..]
            .iter()
            .all(|(_, ra)| ra.as_deref().is_some_and(|v| v.parse::<u64>().is_ok())),
        "{statuses:?}"
    );
}

fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start");
        w.write_all(text.as_bytes()).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

#[tokio::test]
async fn a_zip_bundle_with_relative_includes_is_one_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(dir.path(), &[]));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "zip@example.com").await;
    let main = "@startuml\n!include <C4/C4_Container>\n!include parts/people.iuml\nSystem_Boundary(shop, \"Shop\") {\n  Container(api, \"API\", \"Python, FastAPI\", \"Serves the shop\")\n  ContainerDb(db, \"Database\", \"PostgreSQL\", \"Orders\")\n}\nRel(customer, api, \"Uses\", \"HTTPS\")\nRel(api, db, \"Reads and writes\", \"SQL\")\n@enduml\n";
    let bundle = zip_of(&[
        ("main.puml", main),
        (
            "parts/people.iuml",
            "Person(customer, \"Customer\", \"Buys things\")\n",
        ),
    ]);
    let (status, body) = upload(&http, &server.base, Some(&token), "shop.zip", bundle).await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().expect("job").to_string();
    assert_eq!(
        wait_terminal(&http, &server.base, &token, &job, 30).await,
        "done",
        "{}",
        server.log_text()
    );
    let model: serde_json::Value = http
        .get(format!("{}/api/v1/diagrams/{job}/model", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("model")
        .json()
        .await
        .expect("json");
    let aliases = element_aliases(&model);
    assert!(
        aliases.contains(&"customer"),
        "the included person is in the model: {aliases:?}"
    );

    // Unsafe or oversized bundles are refused before anything is queued.
    for (what, bytes) in [
        (
            "traversal",
            zip_of(&[("../evil.puml", "@startuml\n@enduml\n")]),
        ),
        ("no diagram", zip_of(&[("readme.txt", "hello")])),
    ] {
        let (status, problem) = upload(&http, &server.base, Some(&token), "b.zip", bytes).await;
        assert_eq!(status, 400, "{what}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("bundle")),
            "{what}: {problem}"
        );
    }
}

#[tokio::test]
async fn job_list_pages_and_filters_by_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&["--stages", "ingest"], &env(dir.path(), &[]));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "pages@example.com").await;
    let jobs = submit(&http, &server.base, &token, 5).await;
    let get = |url: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("list")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let mut seen = Vec::new();
    let mut url = format!("{}/api/v1/diagrams?limit=2", server.base);
    loop {
        let page = get(url).await;
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["job_id"].as_str().unwrap_or_default().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => url = format!("{}{next}", server.base),
            None => break,
        }
    }
    let mut newest_first = jobs.clone();
    newest_first.reverse();
    assert_eq!(
        seen, newest_first,
        "pages cover every job once, newest first"
    );
    let queued = get(format!("{}/api/v1/diagrams?status=queued", server.base)).await;
    assert_eq!(queued["items"].as_array().map(Vec::len), Some(5));
    let done = get(format!("{}/api/v1/diagrams?status=done", server.base)).await;
    assert_eq!(done["items"].as_array().map(Vec::len), Some(0));
    let bad = http
        .get(format!("{}/api/v1/diagrams?status=nope", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("bad");
    assert_eq!(bad.status(), 400);
}

/// Writes a zip with Python's `zipfile` (ZIP_DEFLATED, as `zip`, Finder
/// and Explorer write them): `kind` is `plain` (a diagram and its include),
/// `twice` (one entry name twice) or `bomb` (a diagram and 1 GiB of zeros,
/// deflated while streamed: about 1 MB).
fn python_zip(kind: &str, dir: &std::path::Path) -> Vec<u8> {
    const SCRIPT: &str = r#"
import sys, warnings, zipfile
kind, out = sys.argv[1], sys.argv[2]
main = ('@startuml\n!include <C4/C4_Container>\n!include parts/people.iuml\n'
        'Container(api, "API", "Python, FastAPI", "Serves the shop")\n'
        'Rel(customer, api, "Uses", "HTTPS")\n@enduml\n')
warnings.simplefilter("ignore")  # zipfile warns about a duplicate name
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("main.puml", main)
    if kind == "plain":
        z.writestr("parts/people.iuml", 'Person(customer, "Customer", "Buys things")\n')
    elif kind == "twice":
        z.writestr("main.puml", "@startuml\n@enduml\n")
    elif kind == "bomb":
        with z.open("bomb.puml", "w") as f:
            zeros = bytes(1 << 20)
            for _ in range(1024):
                f.write(zeros)
"#;
    let python = std::env::var("C4FORGE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = dir.join(format!("{kind}.zip"));
    let o = std::process::Command::new(&python)
        .args(["-c", SCRIPT, kind])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    assert!(
        o.status.success(),
        "{python}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(&out).expect("zip written")
}

#[tokio::test]
async fn deflated_bundles_are_read_and_bombs_and_duplicates_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(&dir.path().join("data"), &[]));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "deflate@example.com").await;

    let (status, body) = upload(
        &http,
        &server.base,
        Some(&token),
        "shop.zip",
        python_zip("plain", dir.path()),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().expect("job").to_string();
    assert_eq!(
        wait_terminal(&http, &server.base, &token, &job, 30).await,
        "done",
        "{}",
        server.log_text()
    );
    let model: serde_json::Value = http
        .get(format!("{}/api/v1/diagrams/{job}/model", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("model")
        .json()
        .await
        .expect("json");
    let aliases = element_aliases(&model);
    assert!(aliases.contains(&"customer"), "{aliases:?}");

    for (kind, says) in [
        ("twice", ["`main.puml`", "twice"]),
        // 1 GiB in about 1 MB: the total unpacked size stops it
        ("bomb", ["`bomb.puml`", "unpacks to more than"]),
    ] {
        let bytes = python_zip(kind, dir.path());
        assert!(bytes.len() < 2 << 20, "{kind}: {} bytes", bytes.len());
        let (status, problem) = upload(&http, &server.base, Some(&token), "b.zip", bytes).await;
        assert_eq!(status, 400, "{kind}: {problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(says.iter().all(|s| detail.contains(s)), "{kind}: {problem}");
    }
}
