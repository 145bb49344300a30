//! Accounts and access checks through the API of an embedded-mode server:
//! deactivation, demotion and session revocation reach access tokens
//! already handed out (HTTP and websocket), sign-in and registration do not
//! reveal which e-mails have accounts, the password and e-mail policy, and
//! the `Authorization` scheme in any case.

use crate::common;

use common::*;
use futures_util::StreamExt;
use ingest::auth::ACCESS_CHECK_TTL;
use sea_orm::ConnectionTrait;
use std::path::Path;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PASSWORD: &str = "correct horse battery";

fn env(dir: &Path) -> Vec<(String, String)> {
    vec![
        ("C4FORGE_DATA_DIR".to_string(), dir.display().to_string()),
        ("C4FORGE_LISTEN".to_string(), "127.0.0.1:0".to_string()),
    ]
}

/// Runs `sql` on the server's SQLite database, as an operator would.
async fn operator_sql(dir: &Path, sql: &str) {
    let url = format!("sqlite://{}?mode=rw", dir.join("c4forge.db").display());
    let db = sea_orm::Database::connect(url)
        .await
        .expect("open database");
    db.execute_unprepared(sql).await.expect("operator sql");
}

/// Waits until cached access checks made before now have expired.
async fn past_access_ttl() {
    tokio::time::sleep(ACCESS_CHECK_TTL + Duration::from_secs(1)).await;
}

async fn post_json(
    http: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> (u16, String, serde_json::Value) {
    let r = http.post(url).json(&body).send().await.expect("post");
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, kind, r.json().await.unwrap_or_default())
}

async fn register(http: &reqwest::Client, base: &str, email: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = post_json(
        http,
        format!("{base}/api/v1/auth/register"),
        serde_json::json!({"email": email, "password": PASSWORD}),
    )
    .await;
    (status, body)
}

/// Signs in; the token response.
async fn sign_in(http: &reqwest::Client, base: &str, email: &str) -> serde_json::Value {
    let (status, _, body) = post_json(
        http,
        format!("{base}/api/v1/auth/token"),
        serde_json::json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "sign in as {email}: {body}");
    body
}

/// `GET /api/v1/diagrams` with `Authorization: <scheme> <token>`: status
/// and problem detail.
async fn list_with(http: &reqwest::Client, base: &str, auth: &str) -> (u16, String) {
    let r = http
        .get(format!("{base}/api/v1/diagrams"))
        .header("authorization", auth)
        .send()
        .await
        .expect("list");
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (
        status,
        body["detail"].as_str().unwrap_or_default().to_string(),
    )
}

async fn list(http: &reqwest::Client, base: &str, token: &str) -> (u16, String) {
    list_with(http, base, &format!("Bearer {token}")).await
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the websocket with `Authorization: <auth>`; the HTTP status of a
/// refused handshake as the error.
async fn websocket(base: &str, auth: &str) -> Result<Ws, u16> {
    let mut req = format!("{}/api/v1/ws", base.replacen("http", "ws", 1))
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("authorization", auth.parse().expect("header"));
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket: {e}"),
    }
}

/// Reads until the server closes the connection: its close code and reason.
async fn close_frame(ws: &mut Ws) -> Option<(u16, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, ws.next()).await {
        match msg {
            Ok(Message::Close(frame)) => {
                return frame.map(|f| (u16::from(f.code), f.reason.as_str().to_string()));
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[tokio::test]
async fn a_deactivated_user_loses_list_upload_and_websocket_within_the_check_ttl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(dir.path()));
    let http = reqwest::Client::new();
    let (status, user) = register(&http, &server.base, "gone@example.com").await;
    assert_eq!(status, 201);
    let token = sign_in(&http, &server.base, "gone@example.com").await["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(list(&http, &server.base, &token).await.0, 200);
    let mut open = websocket(&server.base, &format!("Bearer {token}"))
        .await
        .expect("websocket before deactivation");

    operator_sql(
        dir.path(),
        &format!(
            "UPDATE users SET is_active = 0 WHERE id = '{}'",
            user["id"].as_str().expect("id")
        ),
    )
    .await;
    past_access_ttl().await;

    let (status, detail) = list(&http, &server.base, &token).await;
    assert_eq!(status, 401, "{detail}");
    assert!(detail.contains("deactivated"), "{detail}");
    let (status, body) = upload(
        &http,
        &server.base,
        Some(&token),
        "a.puml",
        BIGBANK.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        websocket(&server.base, &format!("Bearer {token}"))
            .await
            .err(),
        Some(401)
    );
    // The connection opened before is closed at its next check.
    let (code, reason) = close_frame(&mut open).await.expect("close frame");
    assert_eq!(code, 1008);
    assert!(reason.contains("revoked"), "{reason}");
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_access_tokens_of_its_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(dir.path()));
    let http = reqwest::Client::new();
    assert_eq!(
        register(&http, &server.base, "stolen@example.com").await.0,
        201
    );
    let first = sign_in(&http, &server.base, "stolen@example.com").await;
    let other_session = sign_in(&http, &server.base, "stolen@example.com").await;
    let refresh = |t: &serde_json::Value| serde_json::json!({"refresh_token": t["refresh_token"]});
    let url = format!("{}/api/v1/auth/refresh", server.base);
    let (status, _, second) = post_json(&http, url.clone(), refresh(&first)).await;
    assert_eq!(status, 200);
    let a2 = second["access_token"].as_str().expect("access").to_string();
    assert_eq!(list(&http, &server.base, &a2).await.0, 200);

    // The first refresh token again: theft; the family is revoked.
    let (status, _, _) = post_json(&http, url, refresh(&first)).await;
    assert_eq!(status, 401);
    past_access_ttl().await;

    for token in [first["access_token"].as_str().expect("a1"), a2.as_str()] {
        let (status, detail) = list(&http, &server.base, token).await;
        assert_eq!(status, 401, "{detail}");
        assert!(detail.contains("revoked"), "{detail}");
        assert_eq!(
            websocket(&server.base, &format!("Bearer {token}"))
                .await
                .err(),
            Some(401)
        );
    }
    // Another sign-in of the same user is another session: unaffected.
    let other = other_session["access_token"].as_str().expect("other");
    assert_eq!(list(&http, &server.base, other).await.0, 200);
}

#[tokio::test]
async fn the_role_is_read_per_request_not_from_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = env(dir.path());
    let server = spawn(&[], &env);
    let http = reqwest::Client::new();
    // `user create` folds the e-mail and applies the password policy.
    let create = |email: &str, password: &str| {
        std::process::Command::new(bin())
            .args(["user", "create", email, "--admin"])
            .env("C4FORGE_USER_PASSWORD", password)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("user create")
    };
    let weak = create("weak@example.com", "password");
    assert!(!weak.status.success());
    assert!(
        String::from_utf8_lossy(&weak.stderr).contains("12 characters"),
        "{}",
        String::from_utf8_lossy(&weak.stderr)
    );
    let out = create("Ops@Example.COM", PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin = sign_in(&http, &server.base, "ops@example.com").await;
    let admin = admin["access_token"].as_str().expect("token").to_string();
    assert_eq!(
        register(&http, &server.base, "plain@example.com").await.0,
        201
    );
    let plain = sign_in(&http, &server.base, "plain@example.com").await;
    let plain = plain["access_token"].as_str().expect("token").to_string();
    let dlq = |token: String| {
        let http = http.clone();
        let url = format!("{}/api/v1/admin/dlq", server.base);
        async move {
            let r = http.get(url).bearer_auth(token).send().await.expect("dlq");
            r.status().as_u16()
        }
    };
    assert_eq!(dlq(admin.clone()).await, 200);
    assert_eq!(dlq(plain.clone()).await, 403);

    operator_sql(
        dir.path(),
        "UPDATE users SET is_admin = NOT is_admin WHERE email IN ('ops@example.com', 'plain@example.com')",
    )
    .await;
    past_access_ttl().await;
    // Same tokens, new roles.
    assert_eq!(
        dlq(admin.clone()).await,
        403,
        "a demoted admin keeps admin routes"
    );
    assert_eq!(
        dlq(plain).await,
        200,
        "a promoted user waits for a new token"
    );
    // The demoted admin is still a user.
    assert_eq!(list(&http, &server.base, &admin).await.0, 200);
}

#[tokio::test]
async fn sign_in_answers_the_same_for_unknown_and_known_emails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(dir.path()));
    let http = reqwest::Client::new();
    assert_eq!(
        register(&http, &server.base, "known@example.com").await.0,
        201
    );
    let attempt = |email: &str| {
        post_json(
            &http,
            format!("{}/api/v1/auth/token", server.base),
            serde_json::json!({"email": email, "password": "not the password at all"}),
        )
    };
    let known = attempt("known@example.com").await;
    let unknown = attempt("unknown@example.com").await;
    assert_eq!(known.0, 401);
    assert_eq!(known, unknown);
    assert_eq!(known.1, "application/problem+json");
}

#[tokio::test]
async fn emails_are_case_insensitive_and_registration_does_not_name_accounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(dir.path()));
    let http = reqwest::Client::new();
    let (status, alice) = register(&http, &server.base, " Alice@Example.com ").await;
    assert_eq!(status, 201, "{alice}");
    assert_eq!(alice["email"], "alice@example.com");

    // Signing in with any case reaches alice's account.
    let token = sign_in(&http, &server.base, "ALICE@EXAMPLE.COM").await;
    let token = token["access_token"].as_str().expect("token");
    let (status, _) = upload(
        &http,
        &server.base,
        Some(token),
        "a.puml",
        BIGBANK.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 202);
    let lower = sign_in(&http, &server.base, "alice@example.com").await;
    let jobs: serde_json::Value = http
        .get(format!("{}/api/v1/diagrams", server.base))
        .bearer_auth(lower["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(jobs["items"].as_array().map(Vec::len), Some(1), "{jobs}");

    // A second account under another case is refused without naming the
    // account.
    for email in ["ALICE@EXAMPLE.COM", "alice@example.com"] {
        let (status, body) = register(&http, &server.base, email).await;
        assert_eq!(status, 409, "{body}");
        let detail = body["detail"].as_str().unwrap_or_default().to_lowercase();
        assert!(!detail.contains("alice"), "{detail}");
        assert!(detail.contains("cannot be registered"), "{detail}");
    }
}

#[tokio::test]
async fn weak_passwords_and_bad_emails_are_refused_with_problem_details() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(dir.path()));
    let http = reqwest::Client::new();
    let cases = [
        ("weak1@example.com", "password", "at least 12 characters"),
        ("weak2@example.com", "12345678", "at least 12 characters"),
        ("weak3@example.com", "        ", "at least 12 characters"),
        ("weak4@example.com", "              ", "only spaces"),
        // 11 characters of 2 bytes each: 22 bytes, still too short.
        ("weak5@example.com", "ééééééééééé", "(it has 11)"),
        ("weak6@example.com", "Password1234", "common"),
        ("weak7@example.com", "weak7@example.com", "e-mail address"),
        ("alice", PASSWORD, "no `@`"),
        ("alice@localhost", PASSWORD, "domain"),
        ("al ice@example.com", PASSWORD, "space"),
        ("a@b@example.com", PASSWORD, "more than one `@`"),
        ("@example.com", PASSWORD, "nothing before the `@`"),
    ];
    for (email, password, expected) in cases {
        let (status, kind, body) = post_json(
            &http,
            format!("{}/api/v1/auth/register", server.base),
            serde_json::json!({"email": email, "password": password}),
        )
        .await;
        assert_eq!(status, 422, "{email} / {password:?}: {body}");
        assert_eq!(kind, "application/problem+json");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(expected),
            "{email} / {password:?}: {detail}"
        );
    }
    // Twelve characters counted as characters pass, and the README's example.
    for (email, password) in [
        ("ok1@example.com", "éééééééééééé"),
        ("ok2@example.com", "change-me-please"),
    ] {
        let (status, _, body) = post_json(
            &http,
            format!("{}/api/v1/auth/register", server.base),
            serde_json::json!({"email": email, "password": password}),
        )
        .await;
        assert_eq!(status, 201, "{email}: {body}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(dir.path()));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "scheme@example.com").await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let (status, detail) = list_with(&http, &server.base, &format!("{scheme} {token}")).await;
        assert_eq!(status, 200, "{scheme}: {detail}");
        assert!(
            websocket(&server.base, &format!("{scheme} {token}"))
                .await
                .is_ok(),
            "{scheme}"
        );
    }
    assert_eq!(
        list_with(&http, &server.base, &format!("Basic {token}"))
            .await
            .0,
        401
    );
}
