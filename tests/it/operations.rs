//! What an operator of the service meets: a placeholder JWT secret refused
//! at start, registration closed with the first admin created from the CLI,
//! and the embedded mode's data files readable by the service's user only.

use crate::common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn embedded_env(dir: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("C4FORGE_DATA_DIR".into(), dir.display().to_string()),
        ("C4FORGE_LISTEN".into(), "127.0.0.1:0".into()),
    ]
}

/// Runs `c4forge serve` with `env` and waits up to a minute for it to exit
/// by itself: (exit code, stderr). A server that keeps running fails the test.
async fn serve_exit(env: &[(String, String)]) -> (Option<i32>, String) {
    let mut child = Command::new(bin())
        .arg("serve")
        .env_remove("C4FORGE_CONFIG")
        .env_remove("C4FORGE_JWT_SECRET")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn c4forge serve");
    for _ in 0..600 {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (status.code(), err);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("c4forge serve kept running with a placeholder JWT secret");
}

#[tokio::test]
async fn the_placeholder_jwt_secret_of_the_deployment_files_is_refused_at_start() {
    let placeholders = [
        // compose/k8s/base/11-secret.yaml
        "CHANGE-ME-run-openssl-rand-hex-32",
        // the default an earlier compose file carried
        "compose-local-only-jwt-secret-0123456789abcdef",
    ];
    let secret_file = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/k8s/base/11-secret.yaml"),
    )
    .expect("read the k8s Secret");
    assert!(
        secret_file.contains(&format!("C4FORGE_JWT_SECRET: {}", placeholders[0])),
        "the k8s Secret's placeholder changed: update this test and src/serve.rs"
    );
    for placeholder in placeholders {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = with(
            embedded_env(dir.path()),
            &[("C4FORGE_JWT_SECRET", placeholder)],
        );
        let (code, stderr) = serve_exit(&env).await;
        assert_ne!(code, Some(0), "serve accepted {placeholder}: {stderr}");
        assert!(
            stderr.contains("C4FORGE_JWT_SECRET (auth.jwt_secret) is a placeholder"),
            "the error names the setting: {stderr}"
        );
        assert!(
            !stderr.contains(placeholder),
            "the error does not echo the secret: {stderr}"
        );
    }

    // A real secret starts (the same server, so the refusal above was the secret's).
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(
        &[],
        &with(
            embedded_env(dir.path()),
            &[("C4FORGE_JWT_SECRET", "3f9c1b7e5a2d4c6e8f0a1b3c5d7e9f1a")],
        ),
    );
    let http = reqwest::Client::new();
    login(&http, &server.base, "secret@example.com").await;
}

#[tokio::test]
async fn closed_registration_answers_403_and_the_operator_creates_the_first_admin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = with(
        embedded_env(dir.path()),
        &[("C4FORGE_ALLOW_REGISTER", "false")],
    );
    // The first admin, as the README says: `c4forge user create --admin`.
    let out = Command::new(bin())
        .args(["user", "create", "first-admin@example.com", "--admin"])
        .env_remove("C4FORGE_CONFIG")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("C4FORGE_USER_PASSWORD", "correct horse battery")
        .output()
        .expect("run user create");
    assert!(
        out.status.success(),
        "user create: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = spawn(&[], &env);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/v1/auth/register", server.base))
        .json(&serde_json::json!({"email": "someone@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let problem: serde_json::Value = r.json().await.expect("problem json");
    assert_eq!(problem["status"], 403, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("registration is disabled")),
        "{problem}"
    );

    let r = http
        .post(format!("{}/api/v1/auth/token", server.base))
        .json(&serde_json::json!({"email": "first-admin@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200, "the operator-created admin signs in");
    let token = r.json::<serde_json::Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let r = http
        .get(format!("{}/api/v1/admin/dlq", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("dlq");
    assert_eq!(r.status(), 200, "and is an admin");
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_the_objects_are_private_to_the_service_user() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &embedded_env(dir.path()));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "private@example.com").await;
    let (status, body) = upload(
        &http,
        &server.base,
        Some(&token),
        "bigbank.puml",
        BIGBANK.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().expect("job id").to_string();
    assert_eq!(
        wait_terminal(&http, &server.base, &token, &job, 120).await,
        "done",
        "log:\n{}",
        server.log_text()
    );

    let data = dir.path();
    assert_eq!(mode(&data.join("c4forge.db")), 0o600, "c4forge.db");
    for side in ["c4forge.db-wal", "c4forge.db-shm"] {
        if data.join(side).exists() {
            assert_eq!(mode(&data.join(side)), 0o600, "{side}");
        }
    }
    assert_eq!(mode(&data.join("jwt-secret")), 0o600, "jwt-secret");
    assert_eq!(mode(&data.join("objects")), 0o700, "objects/");
    let job_dir = data.join("objects").join("jobs").join(&job);
    for rel in [
        "source/bigbank.puml",
        "model.json",
        "code.zip",
        "c4forge.json",
    ] {
        assert_eq!(mode(&job_dir.join(rel)), 0o600, "{rel}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn files_an_earlier_version_left_readable_are_tightened_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let set = |p: std::path::PathBuf, m: u32| {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).expect("chmod");
    };
    let mode =
        |p: std::path::PathBuf| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    // A first start creates the files; then they are opened up as 0644/0755 were.
    drop(spawn(&[], &embedded_env(dir.path())));
    set(dir.path().join("c4forge.db"), 0o644);
    set(dir.path().join("objects"), 0o755);
    let _server = spawn(&[], &embedded_env(dir.path()));
    assert_eq!(mode(dir.path().join("c4forge.db")), 0o600);
    assert_eq!(mode(dir.path().join("objects")), 0o700);
}
