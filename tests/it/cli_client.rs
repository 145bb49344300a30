//! End-to-end tests of the CLI client (`c4forge login`, `submit`, `jobs`)
//! against a real embedded-mode server: the durable outbox delivers uploads
//! made while the server was down, survives restarts of the CLI without
//! sending anything twice, and fails 4xx uploads at once.

use crate::common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

const PASSWORD: &str = "correct horse battery";

fn embedded_env(dir: &Path, listen: &str) -> Vec<(String, String)> {
    vec![
        ("C4FORGE_DATA_DIR".into(), dir.display().to_string()),
        ("C4FORGE_LISTEN".into(), listen.into()),
    ]
}

/// Runs `c4forge ARGS` as the client with its own state directory, from
/// `cwd` (so no c4forge.toml of the repository is read).
fn cli(cwd: &Path, client_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .current_dir(cwd)
        .env("C4FORGE_CLIENT_DIR", client_dir)
        .env_remove("C4FORGE_CONFIG")
        .env_remove("C4FORGE_SERVER")
        .env_remove("C4FORGE_PASSWORD")
        .env_remove("C4FORGE_CLIENT_FAULT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run c4forge")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A port nobody listens on (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The user's jobs on the server, as (job id, file name, status).
async fn server_jobs(base: &str, token: &str) -> Vec<(String, String, String)> {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/diagrams?limit=200"))
        .bearer_auth(token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|j| {
            (
                j["job_id"].as_str().unwrap_or_default().to_string(),
                j["file_name"].as_str().unwrap_or_default().to_string(),
                j["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn session_token(client_dir: &Path) -> String {
    let s: serde_json::Value = serde_json::from_slice(
        &std::fs::read(client_dir.join("session.json")).expect("session file"),
    )
    .expect("session json");
    s["token"].as_str().expect("token").to_string()
}

fn named<'a>(jobs: &'a [(String, String, String)], name: &str) -> Vec<&'a String> {
    jobs.iter()
        .filter(|(_, n, _)| n == name)
        .map(|(id, _, _)| id)
        .collect()
}

#[tokio::test]
async fn uploads_made_while_the_server_is_down_are_delivered_once_after_restarts() {
    let work = tempfile::tempdir().expect("tempdir");
    let (data, client, downloads) = (
        work.path().join("data"),
        work.path().join("client"),
        work.path().join("downloads"),
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{listen}");
    for name in [
        "bank.puml",
        "crash_after_post.puml",
        "crash_after_mark.puml",
    ] {
        std::fs::write(work.path().join(name), BIGBANK).expect("write diagram");
    }
    let pw = [("C4FORGE_PASSWORD", PASSWORD)];

    // Log in while the server is up, then stop it.
    let server = spawn(&[], &embedded_env(&data, &listen));
    let o = cli(
        work.path(),
        &client,
        &[
            "login",
            "--server",
            &url,
            "--email",
            "cli@example.com",
            "--register",
        ],
        &pw,
    );
    assert!(o.status.success(), "{}", text(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(client.join("session.json"))
            .expect("session")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
    }
    assert!(server.terminate().success());

    // Submit with nobody listening: saved, not delivered, will retry.
    let o = cli(
        work.path(),
        &client,
        &["submit", "bank.puml", "--wait-secs", "1"],
        &[],
    );
    assert_eq!(o.status.code(), Some(6), "pending: {}", text(&o));
    assert!(
        text(&o).contains("pending") && text(&o).contains("jobs sync"),
        "{}",
        text(&o)
    );
    let o = cli(work.path(), &client, &["jobs", "list"], &[]);
    assert!(
        stdout(&o).contains("bank.puml") && stdout(&o).contains("saving"),
        "the row stays pending: {}",
        text(&o)
    );

    // The server comes back (same data directory, same port): a new CLI
    // process sends what is pending.
    let server = spawn(&[], &embedded_env(&data, &listen));
    let token = session_token(&client);
    assert!(
        server_jobs(&server.base, &token).await.is_empty(),
        "nothing arrived while it was down"
    );
    let o = cli(work.path(), &client, &["jobs", "sync"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("bank.puml: accepted as job"),
        "{}",
        text(&o)
    );
    let jobs = server_jobs(&server.base, &token).await;
    let bank = named(&jobs, "bank.puml");
    assert_eq!(bank.len(), 1, "{jobs:?}");
    let bank_job = bank[0].clone();

    // It completes; `jobs watch` shows it and downloads the project.
    let o = cli(
        work.path(),
        &client,
        &[
            "jobs",
            "watch",
            &bank_job,
            "--download",
            downloads.to_str().expect("utf-8 path"),
            "--timeout-secs",
            "60",
        ],
        &[],
    );
    assert!(
        o.status.success(),
        "{}\nserver log:\n{}",
        text(&o),
        server.log_text()
    );
    assert!(
        stdout(&o).contains(&format!("{bank_job} bank.puml: done"))
            && stdout(&o).contains(&format!("/api/v1/diagrams/{bank_job}/code.zip")),
        "{}",
        text(&o)
    );
    let zip = downloads.join("bank.zip");
    let bytes = std::fs::read(&zip).expect("downloaded zip");
    assert!(
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).is_ok(),
        "a valid zip"
    );

    // Crash right after the server accepted (before the outbox knew): the
    // next run finds the job on the server and does not send it again.
    let o = cli(
        work.path(),
        &client,
        &["submit", "crash_after_post.puml"],
        &[("C4FORGE_CLIENT_FAULT", "exit-after-post")],
    );
    assert_eq!(o.status.code(), Some(86), "{}", text(&o));
    assert_eq!(
        named(
            &server_jobs(&server.base, &token).await,
            "crash_after_post.puml"
        )
        .len(),
        1
    );
    let o = cli(work.path(), &client, &["jobs", "sync"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("not sent again"), "{}", text(&o));

    // Crash right after marking the row `transmitting`, before the POST:
    // the next `submit` (with no new file) checks, finds nothing, sends it.
    let o = cli(
        work.path(),
        &client,
        &["submit", "crash_after_mark.puml"],
        &[("C4FORGE_CLIENT_FAULT", "exit-after-mark")],
    );
    assert_eq!(o.status.code(), Some(86), "{}", text(&o));
    assert!(
        named(
            &server_jobs(&server.base, &token).await,
            "crash_after_mark.puml"
        )
        .is_empty()
    );
    let o = cli(work.path(), &client, &["submit", "--watch"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("crash_after_mark.puml: accepted as job")
            && stdout(&o).contains("crash_after_mark.puml: done"),
        "{}",
        text(&o)
    );

    // Nothing is pending any more, and a further sync sends nothing.
    let o = cli(work.path(), &client, &["jobs", "sync"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("nothing pending"), "{}", text(&o));
    let jobs = server_jobs(&server.base, &token).await;
    assert_eq!(jobs.len(), 3, "exactly one job per upload: {jobs:?}");
    for name in [
        "bank.puml",
        "crash_after_post.puml",
        "crash_after_mark.puml",
    ] {
        assert_eq!(named(&jobs, name).len(), 1, "{name}: {jobs:?}");
    }
    let o = cli(work.path(), &client, &["jobs", "list"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains(&bank_job), "{}", text(&o));
    assert!(!stdout(&o).contains("not delivered"), "{}", text(&o));
}

#[tokio::test]
async fn a_rejected_upload_fails_at_once_and_auth_errors_are_clear() {
    let work = tempfile::tempdir().expect("tempdir");
    let (data, client) = (work.path().join("data"), work.path().join("client"));
    let server = spawn(&[], &embedded_env(&data, "127.0.0.1:0"));
    let pw = [("C4FORGE_PASSWORD", PASSWORD)];
    let o = cli(
        work.path(),
        &client,
        &[
            "login",
            "--server",
            &server.base,
            "--email",
            "rejected@example.com",
            "--register",
        ],
        &pw,
    );
    assert!(o.status.success(), "{}", text(&o));
    let token = session_token(&client);

    // An empty file: the server's 400 detail, failed at once, not retried.
    std::fs::write(work.path().join("empty.puml"), "").expect("write");
    let o = cli(work.path(), &client, &["submit", "empty.puml"], &[]);
    assert_eq!(o.status.code(), Some(3), "invalid input: {}", text(&o));
    assert!(
        text(&o).contains("rejected by the server (400): the diagram is empty"),
        "{}",
        text(&o)
    );
    let o = cli(work.path(), &client, &["jobs", "list"], &[]);
    let listed = stdout(&o);
    assert!(
        listed.contains("failed") && listed.contains("empty.puml") && listed.contains("1 attempt,"),
        "{}",
        text(&o)
    );
    let o = cli(work.path(), &client, &["jobs", "sync"], &[]);
    assert!(stdout(&o).contains("nothing pending"), "{}", text(&o));
    assert!(server_jobs(&server.base, &token).await.is_empty());

    // An invalid diagram is accepted, then fails: the watch shows the
    // diagnostics as file:line:column.
    std::fs::write(
        work.path().join("broken.puml"),
        "@startuml\n!include <C4/C4_Container>\nPerson(user, \"User\")\nContainer(api, \"API\", \"Rust\")\nRel(user, apii, \"Uses\")\n@enduml\n",
    )
    .expect("write");
    let o = cli(
        work.path(),
        &client,
        &["submit", "broken.puml", "--watch", "--timeout-secs", "60"],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "invalid input: {}", text(&o));
    assert!(
        stdout(&o).contains("broken.puml: failed") && stdout(&o).contains("broken.puml:5:"),
        "{}",
        text(&o)
    );

    // A token the server refuses is renewed once: with the stored refresh
    // token (rotated and stored again)...
    let spoil = |client: &Path, keep_refresh: bool| {
        let path = client.join("session.json");
        let mut s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        s["token"] = "not-a-token".into();
        if !keep_refresh {
            s["refresh_token"] = serde_json::Value::Null;
        }
        std::fs::write(&path, serde_json::to_vec(&s).expect("json")).expect("write");
    };
    std::fs::write(work.path().join("ok.puml"), BIGBANK).expect("write");
    spoil(&client, true);
    let o = cli(work.path(), &client, &["submit", "ok.puml"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("renewed the token with the refresh token"),
        "{}",
        text(&o)
    );
    assert_ne!(
        session_token(&client),
        "not-a-token",
        "the new token is stored"
    );
    // ...else by logging in again with C4FORGE_PASSWORD...
    spoil(&client, false);
    let o = cli(work.path(), &client, &["submit", "ok.puml"], &pw);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("logged in again"), "{}", text(&o));
    assert_ne!(
        session_token(&client),
        "not-a-token",
        "the new token is stored"
    );
    // ...and with neither the command stops with a clear message, keeping
    // the upload pending.
    spoil(&client, false);
    let o = cli(work.path(), &client, &["submit", "ok.puml"], &[]);
    assert_eq!(o.status.code(), Some(7), "denied: {}", text(&o));
    assert!(text(&o).contains("c4forge login"), "{}", text(&o));
    let o = cli(work.path(), &client, &["jobs", "list"], &[]);
    assert!(
        text(&o).contains("refused the login"),
        "the list says why: {}",
        text(&o)
    );
    assert!(stdout(&o).contains("saving"), "{}", text(&o));
}

/// A stand-in server that answers each upload with the next canned
/// response (status, extra headers, body) and counts the requests.
async fn canned_server(
    answers: Vec<(u16, &'static str, String)>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            // Read the head and the body (Content-Length) of one request.
            let mut buf = Vec::new();
            let mut chunk = [0_u8; 4096];
            let head_end = loop {
                let Ok(n) = conn.read(&mut chunk).await else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let Ok(n) = conn.read(&mut chunk).await else {
                    break;
                };
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let i = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (status, headers, body) = answers.get(i).cloned().unwrap_or((
                500,
                "",
                "{\"detail\":\"too many requests in the test\"}".into(),
            ));
            let resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes()).await;
            let _ = conn.shutdown().await;
        }
    });
    (base, count)
}

#[tokio::test]
async fn a_busy_server_is_retried_honouring_retry_after() {
    let work = tempfile::tempdir().expect("tempdir");
    let client = work.path().join("client");
    let job = uuid::Uuid::now_v7().to_string();
    let accepted = format!(
        "{{\"job_id\":\"{job}\",\"status\":\"queued\",\"location\":\"/api/v1/diagrams/{job}\",\"websocket\":\"ws://x/api/v1/ws?job={job}\"}}"
    );
    let (base, count) = canned_server(vec![
        (
            503,
            "Retry-After: 2\r\n",
            "{\"status\":503,\"detail\":\"database unavailable\"}".into(),
        ),
        (
            429,
            "Retry-After: 1\r\n",
            "{\"status\":429,\"detail\":\"slow down\"}".into(),
        ),
        (202, "", accepted),
    ])
    .await;
    std::fs::create_dir_all(&client).expect("client dir");
    std::fs::write(
        client.join("session.json"),
        format!("{{\"server\":\"{base}\",\"email\":\"a@b.c\",\"token\":\"t\"}}"),
    )
    .expect("session");
    std::fs::write(work.path().join("busy.puml"), BIGBANK).expect("write");
    let started = std::time::Instant::now();
    let o = tokio::task::spawn_blocking({
        let (cwd, client) = (work.path().to_path_buf(), client.clone());
        move || {
            cli(
                &cwd,
                &client,
                &["submit", "busy.puml", "--wait-secs", "20"],
                &[],
            )
        }
    })
    .await
    .expect("cli");
    let took = started.elapsed();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains(&format!("busy.puml: accepted as job {job}")),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("database unavailable") && text(&o).contains("slow down"),
        "{}",
        text(&o)
    );
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert!(
        took >= std::time::Duration::from_secs(3),
        "Retry-After honoured (2 s, then 1 s): took {took:?}"
    );
}

/// Every outcome has its own documented exit status (`--help` lists them),
/// decided by the kind of error, not its message.
#[tokio::test]
async fn exit_statuses_tell_the_outcomes_apart() {
    let work = tempfile::tempdir().expect("tempdir");
    let (data, client) = (work.path().join("data"), work.path().join("client"));
    let dir = work.path();
    let run = |args: &[&str], env: &[(&str, &str)]| cli(dir, &client, args, env);
    let code = |o: &Output| o.status.code();

    // --help of the program and of a command lists the statuses.
    for args in [&["--help"][..], &["submit", "--help"]] {
        let o = run(args, &[]);
        assert!(o.status.success(), "{}", text(&o));
        for line in [
            "Exit status:",
            "2  usage",
            "3  invalid input",
            "4  not found",
            "5  unavailable",
            "6  pending",
            "7  denied",
        ] {
            assert!(
                stdout(&o).contains(line),
                "{args:?} lacks {line:?}: {}",
                text(&o)
            );
        }
    }

    // 2: usage, from clap and from the command itself.
    assert_eq!(code(&run(&["submit", "--no-such-flag"], &[])), Some(2));
    let o = run(&["jobs", "list"], &[]);
    assert_eq!(code(&o), Some(2), "not logged in: {}", text(&o));

    // 3: invalid input; 4: not found (offline commands).
    let broken = dir.join("broken.puml");
    std::fs::write(
        &broken,
        "@startuml\n!include <C4/C4_Container>\nPerson()\n@enduml\n",
    )
    .expect("write");
    let broken = broken.to_str().expect("utf-8 path");
    let o = run(&["parse", broken], &[]);
    assert_eq!(code(&o), Some(3), "{}", text(&o));
    let out = dir.join("out");
    let o = run(
        &["convert", broken, "-o", out.to_str().expect("utf-8 path")],
        &[],
    );
    assert_eq!(code(&o), Some(3), "{}", text(&o));
    let o = run(&["parse", "missing.puml"], &[]);
    assert_eq!(code(&o), Some(4), "{}", text(&o));
    let data_dir = data.to_str().expect("utf-8 path");
    for args in [["dlq", "replay", "999"], ["dlq", "show", "999"]] {
        let mut full = vec!["--data-dir", data_dir];
        full.extend(args);
        let o = run(&full, &[]);
        assert_eq!(code(&o), Some(4), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("999"), "{}", text(&o));
    }

    // Against a server: 7 denied, 4 not found (a job, a dead letter).
    let o = run(
        &[
            "--data-dir",
            data_dir,
            "user",
            "create",
            "admin@example.com",
            "--admin",
        ],
        &[("C4FORGE_USER_PASSWORD", PASSWORD)],
    );
    assert!(o.status.success(), "{}", text(&o));
    let server = spawn(&[], &embedded_env(&data, "127.0.0.1:0"));
    let login = |password: &str| {
        run(
            &[
                "login",
                "--server",
                &server.base,
                "--email",
                "admin@example.com",
            ],
            &[("C4FORGE_PASSWORD", password)],
        )
    };
    let o = login("not the password");
    assert_eq!(code(&o), Some(7), "{}", text(&o));
    let o = login(PASSWORD);
    assert!(o.status.success(), "{}", text(&o));
    let unknown = uuid::Uuid::now_v7().to_string();
    let o = run(&["jobs", "show", &unknown], &[]);
    assert_eq!(code(&o), Some(4), "{}", text(&o));
    let o = run(&["dlq", "--remote", "replay", "999"], &[]);
    assert_eq!(code(&o), Some(4), "{}", text(&o));
    assert!(stdout(&o).contains("999: not found"), "{}", text(&o));

    // 5: the server is gone.
    drop(server);
    let o = run(&["jobs", "show", &unknown], &[]);
    assert_eq!(code(&o), Some(5), "{}", text(&o));
}
