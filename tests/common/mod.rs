//! Shared harness of the end-to-end tests: runs the real `c4forge` binary
//! as child processes and talks to it over HTTP and websockets, like a user.
#![allow(dead_code)]

use futures_util::StreamExt;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_c4forge"))
}

/// The big bank container sample shipped with the project.
pub const BIGBANK: &str = include_str!("../fixtures/bigbank_container.puml");

/// A running `c4forge serve` process, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT` when the process serves HTTP.
    pub base: String,
    /// Collected stderr lines (logs), for failure messages.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The process's log so far.
    pub fn log_text(&self) -> String {
        self.logs.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("wait");
        std::mem::forget(self);
        status
    }
}

/// Starts `c4forge serve ARGS` with `envs`, waits for its "listening" line
/// and records the address: the API for ingest/notifier processes, the
/// admin port (`/healthz`, `/readyz`, `/metrics`) for the others.
pub fn spawn(args: &[&str], envs: &[(String, String)]) -> Server {
    let mut cmd = Command::new(bin());
    cmd.arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.env("RUST_LOG", "info,sqlx=warn")
        .env_remove("C4FORGE_CONFIG");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn c4forge");
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr");
    let l2 = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(mut l) = l2.lock() {
                l.push(line);
            }
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let addr = line
                .strip_prefix("c4forge listening on ")
                .or_else(|| line.strip_prefix("c4forge admin listening on "));
            if let Some(addr) = addr {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let mut server = Server {
        child,
        base: String::new(),
        logs,
    };
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(base) => server.base = base,
        Err(_) => panic!("server did not start; log:\n{}", server.log_text()),
    }
    server
}

/// A unique lowercase name for isolating a test's resources.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
        .chars()
        .take(40)
        .collect()
}

/// Registers a user and returns an access token.
pub async fn login(http: &reqwest::Client, base: &str, email: &str) -> String {
    let creds = serde_json::json!({"email": email, "password": "correct horse battery"});
    let r = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&creds)
        .send()
        .await
        .expect("register");
    assert_eq!(
        r.status(),
        201,
        "register: {}",
        r.text().await.unwrap_or_default()
    );
    let r = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&creds)
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_string()
}

/// Uploads a diagram and returns (status, body).
pub async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    name: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut req = http
        .post(format!("{base}/api/v1/diagrams?name={name}"))
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("upload");
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut json: serde_json::Value = r.json().await.unwrap_or_default();
    if let Some(l) = location {
        json["_location_header"] = l.into();
    }
    (status, json)
}

/// Follows a job's websocket until a terminal status; returns the statuses
/// in the order received (snapshot then live) and the event sequence ids.
pub async fn watch(base: &str, token: &str, job: &str) -> (Vec<String>, Vec<i64>) {
    let url = format!(
        "{}/api/v1/ws?job={job}&token={token}",
        base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    let mut statuses = Vec::new();
    let mut seqs = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, ws.next()).await {
        let msg = msg.expect("websocket message");
        let Ok(text) = msg.to_text() else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
            continue;
        };
        if v["type"] == "event" {
            let status = v["event"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            seqs.push(v["event"]["seq"].as_i64().unwrap_or_default());
            let terminal = matches!(status.as_str(), "done" | "failed" | "dead_lettered");
            statuses.push(status);
            if terminal {
                break;
            }
        }
    }
    (statuses, seqs)
}

/// Downloads the project zip and returns its entry names.
pub async fn zip_entries(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    job: &str,
) -> Vec<String> {
    let r = http
        .get(format!("{base}/api/v1/diagrams/{job}/code.zip"))
        .bearer_auth(token)
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/zip")
    );
    let bytes = r.bytes().await.expect("bytes");
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a valid zip");
    (0..archive.len())
        .map(|i| {
            archive
                .by_index(i)
                .expect("entry")
                .name()
                .expect("entry name")
                .to_string()
        })
        .collect()
}

/// The four own application containers of the big bank sample, as the
/// generator names their packages (the database is not a service).
pub const BIGBANK_SERVICES: [&str; 4] = [
    "web_application",
    "single_page_app",
    "mobile_app",
    "api_application",
];

/// Asserts the zip is a project with pyproject.toml and one package (with a
/// FastAPI app) per container.
pub fn assert_bigbank_project(entries: &[String]) {
    assert!(
        entries.iter().any(|e| e == "pyproject.toml"),
        "no pyproject.toml in {entries:?}"
    );
    assert!(
        entries.iter().any(|e| e == "c4forge.json"),
        "no manifest in {entries:?}"
    );
    for svc in BIGBANK_SERVICES {
        assert!(
            entries
                .iter()
                .any(|e| e.ends_with(&format!("/{svc}/app.py"))),
            "no package with app.py for container {svc} in {entries:?}"
        );
    }
}

/// The statuses a successful job goes through, in order.
pub const HAPPY_PATH: [&str; 5] = ["queued", "parsing", "generating", "storing", "done"];
