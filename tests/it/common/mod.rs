//! Shared harness of the end-to-end tests: runs the real `c4forge` binary
//! as child processes and talks to it over HTTP and websockets, like a user.
#![allow(dead_code)]

use futures_util::StreamExt;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Command as StdCommand;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_c4forge"))
}

/// The big bank container sample shipped with the project.
pub const BIGBANK: &str = include_str!("../../fixtures/bigbank_container.puml");

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

    /// Waits up to `secs` for the process to exit by itself (a fail point
    /// aborting it): its status, or `None` while it still runs.
    pub async fn exited_within(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        for _ in 0..secs * 20 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }

    /// Whether the process still runs (it did not exit or die).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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

/// `env` with the variables of `extra` set (replacing earlier values).
pub fn with(mut env: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
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
    watch_events(base, token, job)
        .await
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap_or_default().to_string(),
                e["seq"].as_i64().unwrap_or_default(),
            )
        })
        .unzip()
}

/// Follows a job's websocket until a terminal status; returns the events
/// (`StatusEvent` JSON) in the order received, snapshot then live.
pub async fn watch_events(base: &str, token: &str, job: &str) -> Vec<serde_json::Value> {
    let url = format!(
        "{}/api/v1/ws?job={job}&token={token}",
        base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, ws.next()).await {
        let msg = msg.expect("websocket message");
        let Ok(text) = msg.to_text() else { continue };
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(text) else {
            continue;
        };
        if v["type"] == "event" {
            let event = v["event"].take();
            let terminal = matches!(
                event["status"].as_str(),
                Some("done" | "failed" | "dead_lettered")
            );
            events.push(event);
            if terminal {
                break;
            }
        }
    }
    events
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

// ---- distributed mode: isolated PostgreSQL database, RabbitMQ vhost, S3 bucket ----

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const AMQP_BASE: &str = "amqp://guest:guest@127.0.0.1:5672";

pub fn s3_endpoint() -> String {
    std::env::var("C4FORGE_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".into())
}

/// Isolated resources of one test, removed on drop.
pub struct Isolated {
    /// PostgreSQL database name.
    pub db_name: String,
    /// RabbitMQ vhost.
    pub vhost: String,
    /// S3 bucket.
    pub bucket: String,
}

impl Isolated {
    pub async fn create() -> Self {
        let me = Self {
            db_name: unique("c4t_"),
            vhost: unique("c4t-"),
            bucket: unique("c4t-"),
        };
        let admin = Database::connect(PG_ADMIN)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (user postgres)");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {}", me.db_name))
            .await
            .expect("create database");
        for args in [
            vec!["add_vhost", &me.vhost],
            vec![
                "set_permissions",
                "-p",
                &me.vhost,
                "guest",
                ".*",
                ".*",
                ".*",
            ],
        ] {
            let ok = StdCommand::new("rabbitmqctl")
                .args(&args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            assert!(ok, "rabbitmqctl {args:?} failed: is RabbitMQ running?");
        }
        let r = reqwest::Client::new()
            .put(format!("{}/{}", s3_endpoint(), me.bucket))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "S3 test server at {} unreachable ({e}); scripts/test.sh starts it",
                    s3_endpoint()
                )
            });
        assert!(r.status().is_success(), "create bucket: {}", r.status());
        me
    }

    pub fn database_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.db_name)
    }

    /// The same environment with Kafka as the bus: the broker of
    /// `C4FORGE_TEST_KAFKA` (default 127.0.0.1:9092, the tansu that
    /// `scripts/test.sh` starts), topics under a prefix of this test's own.
    pub fn kafka_env(&self) -> Vec<(String, String)> {
        let broker =
            std::env::var("C4FORGE_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into());
        assert!(
            std::net::TcpStream::connect(&broker).is_ok(),
            "Kafka test broker at {broker} unreachable; scripts/test.sh starts tansu there"
        );
        // A killed member is noticed after 6 s instead of the default 45 s.
        let bus = format!("kafka://{broker}?session.timeout.ms=6000");
        with(
            self.env(),
            &[("C4FORGE_BUS", &bus), ("C4FORGE_BUS_PREFIX", &self.vhost)],
        )
    }

    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("C4FORGE_BUS", format!("{AMQP_BASE}/{}", self.vhost)),
            ("C4FORGE_DATABASE", self.database_url()),
            ("C4FORGE_OBJECTS", format!("s3://{}", self.bucket)),
            (
                "C4FORGE_JWT_SECRET",
                "distributed-test-secret-0123456789abcdef".into(),
            ),
            ("C4FORGE_LISTEN", "127.0.0.1:0".into()),
            ("AWS_ENDPOINT_URL", s3_endpoint()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    pub fn s3(&self) -> impl ObjectStore {
        AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_endpoint(s3_endpoint())
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_allow_http(true)
            .build()
            .expect("s3 client")
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        let _ = StdCommand::new("rabbitmqctl")
            .args(["delete_vhost", &self.vhost])
            .output();
        let _ = StdCommand::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db_name),
            ])
            .output();
    }
}

pub fn migrate(env: &[(String, String)]) {
    let out = StdCommand::new(bin())
        .arg("migrate")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("migrate");
    assert!(
        out.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .expect("query")
}

// ---- fault injection ----

/// A TCP proxy the test controls: while "down" it refuses new connections
/// and has cut every open one, like a dependency that went away. It also
/// notes the request line of every HTTP request that passes towards the
/// upstream ([`Proxy::requests`]), so a test can tell what a process asked
/// of an HTTP dependency such as S3.
pub struct Proxy {
    /// `127.0.0.1:PORT` to point the service at.
    pub addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::broadcast::Sender<()>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// HTTP methods whose request lines [`Proxy`] notes.
const METHODS: [&[u8]; 5] = [b"GET /", b"PUT /", b"HEAD /", b"POST /", b"DELETE /"];

/// Copies `from` to `to`, noting each HTTP request line that starts a line
/// of the stream (a request line inside a body would be noted too: the
/// tests send none).
async fn copy_noting_requests(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    // The bytes since the last line break, to find lines that span reads.
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                if METHODS.iter().any(|m| line.starts_with(m)) {
                    let text = String::from_utf8_lossy(&line).trim_end().to_string();
                    seen.lock().expect("requests").push(text);
                }
                line.clear();
            } else if line.len() < 512 {
                line.push(b);
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Proxy {
    /// Starts a proxy to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (cut, _) = tokio::sync::broadcast::channel(4);
        let (u, c, upstream, noted) = (up.clone(), cut.clone(), upstream.to_string(), seen.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !u.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut_rx = c.subscribe();
                let upstream = upstream.clone();
                let noted = noted.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (in_read, mut in_write) = inbound.into_split();
                    let (mut out_read, out_write) = outbound.into_split();
                    tokio::select! {
                        _ = async {
                            tokio::join!(
                                copy_noting_requests(in_read, out_write, noted),
                                async {
                                    let _ = tokio::io::copy(&mut out_read, &mut in_write).await;
                                }
                            )
                        } => {}
                        _ = cut_rx.recv() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            up,
            cut,
            seen,
        }
    }

    /// The request lines (`GET /bucket/key HTTP/1.1`) seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("requests").clone()
    }

    /// Takes the dependency away: open connections are cut, new ones refused.
    pub fn down(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        let _ = self.cut.send(());
    }

    /// Brings it back.
    pub fn up(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The distributed mode with its S3 traffic through a [`Proxy`] the test
/// controls: an API process (ingest, notifier) that reaches S3 directly and
/// one process of the parse, generate and store stages that reaches it
/// through the proxy. Returns the proxy, the API process and the stages.
pub async fn stages_behind_s3_proxy(iso: &Isolated) -> (Proxy, Server, Server) {
    let upstream = s3_endpoint().trim_start_matches("http://").to_string();
    let proxy = Proxy::start(&upstream).await;
    let direct = iso.env();
    migrate(&direct);
    let via_proxy = with(
        direct.clone(),
        &[("AWS_ENDPOINT_URL", &format!("http://{}", proxy.addr))],
    );
    let api = spawn(&["--stages", "ingest,notifier"], &direct);
    let stages = spawn(&["--stages", "parse,generate,store"], &via_proxy);
    (proxy, api, stages)
}

/// Polls a job until it reaches a terminal status (or the deadline) and
/// returns that status.
pub async fn wait_terminal(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    job: &str,
    secs: u64,
) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        if let Some(s) = status(http, base, token, job).await {
            last = s;
            if matches!(last.as_str(), "done" | "failed" | "dead_lettered") {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    last
}

/// The job's current status through the API (`None` when the request fails).
pub async fn status(http: &reqwest::Client, base: &str, token: &str, job: &str) -> Option<String> {
    let r = http
        .get(format!("{base}/api/v1/diagrams/{job}"))
        .bearer_auth(token)
        .send()
        .await
        .ok()?;
    let v = r.json::<serde_json::Value>().await.ok()?;
    v["status"].as_str().map(str::to_string)
}

/// Waits up to `secs` until one of `jobs` has one of the `wanted`
/// statuses; panics otherwise. A fault test uses it to inject its fault
/// while a stage is really at work (a stage sets its status when it starts
/// a job), not while its consumer may still be joining.
pub async fn wait_any(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    jobs: &[String],
    wanted: &[&str],
    secs: u64,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        for job in jobs {
            if let Some(s) = status(http, base, token, job).await
                && wanted.contains(&s.as_str())
            {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no job reached {wanted:?} within {secs} s");
}

pub async fn check_jobs(iso: &Isolated, expected: &[(String, &str)]) {
    use object_store::ObjectStoreExt;
    use sha2::Digest;
    let db = Database::connect(iso.database_url())
        .await
        .expect("test database");
    let s3 = iso.s3();
    for (job, want) in expected {
        let status = rows(&db, &format!("SELECT status FROM jobs WHERE id = '{job}'")).await;
        let status: String = status
            .first()
            .expect("job row")
            .try_get("", "status")
            .expect("status");
        // A replayed job legitimately passes some statuses twice.
        let replayed = *want == "done_after_replay";
        let want = if replayed { "done" } else { *want };
        assert_eq!(status, want, "job {job}");
        if want != "done" {
            continue;
        }
        let events = rows(&db, &format!("SELECT status, COUNT(*) AS n FROM job_events WHERE job_id = '{job}' GROUP BY status")).await;
        for e in &events {
            let (s, n): (String, i64) = (
                e.try_get("", "status").expect("s"),
                e.try_get("", "n").expect("n"),
            );
            assert!(
                n == 1 || (replayed && s != "done"),
                "job {job}: status {s} recorded {n} times"
            );
        }
        let statuses: Vec<String> = events
            .iter()
            .map(|e| e.try_get("", "status").expect("s"))
            .collect();
        for s in HAPPY_PATH {
            assert!(
                statuses.iter().any(|x| x == s),
                "job {job} never went through {s}: {statuses:?}"
            );
        }
        let linked = rows(&db, &format!("SELECT object_key, sha256 FROM objects WHERE job_id = '{job}' AND kind <> 'staging'")).await;
        assert_eq!(linked.len(), 4, "job {job}: linked objects");
        for r in &linked {
            let key: String = r.try_get("", "object_key").expect("key");
            let bytes = s3
                .get(&object_store::path::Path::from(key.as_str()))
                .await
                .unwrap_or_else(|e| panic!("{key} missing in S3: {e}"))
                .bytes()
                .await
                .expect("bytes");
            assert_eq!(
                r.try_get::<String>("", "sha256").expect("sha"),
                hex::encode(sha2::Sha256::digest(&bytes)),
                "{key}"
            );
        }
        let mut listed = s3.list(Some(&object_store::path::Path::from(
            format!("jobs/{job}").as_str(),
        )));
        let mut in_s3 = 0;
        while let Some(meta) = futures_util::StreamExt::next(&mut listed).await {
            let meta = meta.expect("list");
            in_s3 += 1;
            let key = meta.location.to_string();
            assert!(
                linked
                    .iter()
                    .any(|r| r.try_get::<String>("", "object_key").ok().as_deref()
                        == Some(key.as_str())),
                "orphan object {key} has no row"
            );
        }
        assert_eq!(in_s3, 4, "job {job}: objects in S3");
        let runs = rows(
            &db,
            &format!("SELECT stage FROM stage_runs WHERE job_id = '{job}'"),
        )
        .await;
        assert_eq!(runs.len(), 4, "job {job}: one committed run per stage");
    }
}

/// Uploads `n` copies of the big bank sample (`d0.puml`, `d1.puml`, ...),
/// asserting each is accepted; returns the job ids.
pub async fn submit(http: &reqwest::Client, base: &str, token: &str, n: usize) -> Vec<String> {
    let mut jobs = Vec::new();
    for i in 0..n {
        let (status, body) = upload(
            http,
            base,
            Some(token),
            &format!("d{i}.puml"),
            BIGBANK.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        jobs.push(body["job_id"].as_str().expect("job").to_string());
    }
    jobs
}

/// The aliases of the first diagram's elements in an IR model (JSON), in
/// model order.
pub fn element_aliases(model: &serde_json::Value) -> Vec<&str> {
    model["diagrams"][0]["elements"]
        .as_array()
        .expect("elements")
        .iter()
        .filter_map(|e| e["alias"].as_str())
        .collect()
}
