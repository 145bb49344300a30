//! The HTTP side of the client: one `reqwest` client, the bearer token, and
//! the error taxonomy that decides what the sender does with each failure.
//!
//! | answer | [`ApiError`] | the sender |
//! |---|---|---|
//! | 400, 413, 415, 422 and other 4xx | `Rejected` | marks the row failed with the server's `detail`, at once |
//! | 401 | `Unauthorized` | (after [`Api`] renewed the token once and the retry was refused too) stops |
//! | 403 | `Forbidden` | stops |
//! | 429, 5xx | `Transient` (certain) | backs off, honouring `Retry-After` |
//! | connection refused | `Transient` (certain) | backs off |
//! | timeout, reset, other network errors | `Transient` (ambiguous) | backs off; reconciles before re-sending |

use super::state::{ClientDir, Session};
use anyhow::{Context, Result};
use schemas::api::{Credentials, DiagramAccepted, JobView, TokenResponse};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Longest honoured `Retry-After`.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Timeout of one request (uploads included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request did not succeed, classified for the sender.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server refused the request for good (4xx other than 401/403/429).
    #[error("{status}: {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The problem's `detail` (or the body).
        detail: String,
    },
    /// The token is missing, expired or invalid.
    #[error("not authorized: {0}")]
    Unauthorized(String),
    /// The account may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Worth retrying later.
    #[error("{message}")]
    Transient {
        /// What happened.
        message: String,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
        /// Whether the request surely had no effect (the server answered, or
        /// the connection was refused). False when it may have been
        /// processed (timeout, connection cut after sending).
        certain: bool,
    },
}

impl ApiError {
    /// The exit status of a command that ends with this error.
    pub fn exit(&self) -> crate::exit::Exit {
        use crate::exit::Exit;
        match self {
            ApiError::Rejected { status: 404, .. } => Exit::NotFound,
            // no request was made: the server URL is unusable
            ApiError::Rejected { status: 0, .. } => Exit::Usage,
            ApiError::Rejected { .. } => Exit::InvalidInput,
            ApiError::Unauthorized(_) | ApiError::Forbidden(_) => Exit::Denied,
            ApiError::Transient { .. } => Exit::Unavailable,
        }
    }

    fn from_reqwest(e: reqwest::Error) -> Self {
        // A refused connection never carried the request; anything later
        // (timeouts, resets) might have.
        let certain = e.is_connect() || e.is_builder();
        ApiError::Transient {
            message: format!("cannot reach the server: {}", chain(&e)),
            retry_after: None,
            certain,
        }
    }
}

/// The error and its sources on one line (reqwest hides the useful part in
/// the source chain).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Parses `Retry-After` (delay seconds or an HTTP date), capped.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let d = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        let ms = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// Turns a non-success response into an [`ApiError`], reading the problem
/// document's `detail`.
pub async fn classify(resp: reqwest::Response) -> ApiError {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let text = resp.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_string))
        .unwrap_or_else(|| {
            let t = text.trim();
            if t.is_empty() {
                format!("HTTP {status}")
            } else {
                t.chars().take(300).collect()
            }
        });
    match status {
        401 => ApiError::Unauthorized(detail),
        403 => ApiError::Forbidden(detail),
        408 | 429 | 500..=599 => ApiError::Transient {
            message: format!("server answered {status}: {detail}"),
            retry_after,
            certain: true,
        },
        _ => ApiError::Rejected { status, detail },
    }
}

/// How an [`Api`] renews a refused token: with the stored refresh token
/// (rotated by the server on each use), else by logging in again with the
/// stored e-mail and `C4FORGE_PASSWORD`; the new tokens are saved in the
/// session file.
#[derive(Debug)]
pub struct Renewal {
    /// Where the session is saved.
    pub dir: ClientDir,
    /// The stored session (e-mail, refresh token).
    pub session: Session,
    /// The password for a new login, if the environment has it.
    pub password: Option<String>,
}

/// A client of one server, with the current token.
#[derive(Debug)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Mutex<String>,
    renewal: Option<tokio::sync::Mutex<Renewal>>,
    gave_up: AtomicBool,
}

/// Normalizes a server URL: trims it and its trailing slashes, and adds
/// `http://` when no scheme is given.
pub fn normalize_server(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

impl Api {
    /// A client of `base` using `token` (may be empty before login).
    pub fn new(base: &str, token: &str) -> Result<Self> {
        runtime::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("c4forge-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base: normalize_server(base),
            token: Mutex::new(token.to_string()),
            renewal: None,
            gave_up: AtomicBool::new(false),
        })
    }

    /// Lets requests answered 401 renew the token once and retry.
    pub fn with_renewal(mut self, renewal: Renewal) -> Self {
        self.renewal = Some(tokio::sync::Mutex::new(renewal));
        self
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The current token.
    pub fn token(&self) -> String {
        self.token.lock().map(|t| t.clone()).unwrap_or_default()
    }

    fn set_token(&self, token: &str) {
        if let Ok(mut t) = self.token.lock() {
            *t = token.to_string();
        }
    }

    async fn send_once(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let resp = req.send().await.map_err(ApiError::from_reqwest)?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(classify(resp).await)
        }
    }

    /// Sends the request `build` makes (with the current token); on a 401
    /// renews the token once and sends it again. A 401 is refused before
    /// any work, so re-sending an upload after it cannot duplicate it.
    async fn send(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let used = self.token();
        match self.send_once(build(&used)).await {
            Err(ApiError::Unauthorized(detail)) => {
                if self.renew(&used).await {
                    self.send_once(build(&self.token())).await
                } else {
                    Err(ApiError::Unauthorized(detail))
                }
            }
            other => other,
        }
    }

    /// Renews the token after `refused` was refused. Serialized, so that
    /// concurrent requests use one renewal (a refresh token works once: a
    /// second use would revoke its family). `false` when it is not
    /// possible or failed (then it is not tried again by this process).
    async fn renew(&self, refused: &str) -> bool {
        let Some(renewal) = &self.renewal else {
            return false;
        };
        let mut r = renewal.lock().await;
        if self.token() != refused {
            return true; // another request renewed it meanwhile
        }
        if self.gave_up.load(Ordering::SeqCst) {
            return false;
        }
        let mut how = None;
        if let Some(refresh) = r.session.refresh_token.clone() {
            match self.refresh(&refresh).await {
                Ok(t) => how = Some(("renewed the token with the refresh token", t)),
                Err(e) => eprintln!("renewing the token with the refresh token failed: {e}"),
            }
        }
        if how.is_none()
            && let Some(password) = r.password.clone()
            && !r.session.email.is_empty()
        {
            match self.login(&r.session.email, &password).await {
                Ok(t) => how = Some(("logged in again", t)),
                Err(e) => eprintln!("logging in again as {} failed: {e}", r.session.email),
            }
        }
        let Some((how, t)) = how else {
            self.gave_up.store(true, Ordering::SeqCst);
            return false;
        };
        r.session.server = self.base.clone();
        r.session.token = t.access_token.clone();
        r.session.refresh_token = t.refresh_token.clone();
        r.session.expires_at = chrono::Utc::now().timestamp() + t.expires_in as i64;
        if let Err(e) = r.dir.save_session(&r.session) {
            eprintln!("warning: could not store the new token: {e:#}");
        }
        eprintln!("the token was refused: {how} as {}", r.session.email);
        true
    }

    /// `POST /auth/refresh`; keeps the new token for later requests.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, ApiError> {
        let body = serde_json::json!({ "refresh_token": refresh_token });
        let url = format!("{}/api/v1/auth/refresh", self.base);
        let resp = self.send_once(self.http.post(url).json(&body)).await?;
        self.token_from(resp).await
    }

    async fn token_from(&self, resp: reqwest::Response) -> Result<TokenResponse, ApiError> {
        let t: TokenResponse = resp.json().await.map_err(|e| ApiError::Transient {
            message: format!("unreadable token response: {e}"),
            retry_after: None,
            certain: true,
        })?;
        self.set_token(&t.access_token);
        Ok(t)
    }

    /// `POST /auth/register`. A taken e-mail is not an error: the caller
    /// logs in next.
    pub async fn register(&self, email: &str, password: &str) -> Result<bool, ApiError> {
        let body = Credentials {
            email: email.into(),
            password: password.into(),
        };
        let req = self
            .http
            .post(format!("{}/api/v1/auth/register", self.base))
            .json(&body);
        match self.send_once(req).await {
            Ok(_) => Ok(true),
            Err(ApiError::Rejected { status: 409, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `POST /auth/token`; keeps the new token for later requests.
    pub async fn login(&self, email: &str, password: &str) -> Result<TokenResponse, ApiError> {
        let body = Credentials {
            email: email.into(),
            password: password.into(),
        };
        let req = self
            .http
            .post(format!("{}/api/v1/auth/token", self.base))
            .json(&body);
        let resp = self.send_once(req).await?;
        self.token_from(resp).await
    }

    /// `POST /diagrams?name=FILE` with the raw body.
    pub async fn upload(
        &self,
        file_name: &str,
        body: Vec<u8>,
    ) -> Result<DiagramAccepted, ApiError> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/diagrams", self.base),
            &[("name", file_name)],
        )
        .map_err(|e| ApiError::Rejected {
            status: 0,
            detail: format!("bad server URL {}: {e}", self.base),
        })?;
        let resp = self
            .send(|token| {
                self.http
                    .post(url.clone())
                    .bearer_auth(token)
                    .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(body.clone())
            })
            .await?;
        resp.json().await.map_err(|e| ApiError::Transient {
            // The job exists but we cannot read its id: reconcile later.
            message: format!("unreadable upload response: {e}"),
            retry_after: None,
            certain: false,
        })
    }

    /// `POST` to an API path with no body; the JSON answer.
    pub async fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .send(|token| self.http.post(&url).bearer_auth(token))
            .await?;
        resp.json().await.map_err(|e| ApiError::Transient {
            message: format!("unreadable answer of {path}: {e}"),
            retry_after: None,
            certain: true,
        })
    }

    /// `GET` an API path; the JSON answer.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .send(|token| self.http.get(&url).bearer_auth(token))
            .await?;
        resp.json().await.map_err(|e| ApiError::Transient {
            message: format!("unreadable answer of {path}: {e}"),
            retry_after: None,
            certain: true,
        })
    }

    /// `GET /diagrams?limit=N`: the caller's newest jobs.
    pub async fn list(&self, limit: u64) -> Result<Vec<JobSummary>, ApiError> {
        #[derive(serde::Deserialize)]
        struct Page {
            items: Vec<JobSummary>,
        }
        let page: Page = self
            .get_json(&format!("/api/v1/diagrams?limit={limit}"))
            .await?;
        Ok(page.items)
    }

    /// `GET /diagrams/{id}`.
    pub async fn job(&self, id: &str) -> Result<JobView, ApiError> {
        self.get_json(&format!("/api/v1/diagrams/{id}")).await
    }

    /// `GET /diagrams/{id}/code.zip`: the bytes and the suggested file name.
    pub async fn code_zip(&self, id: &str) -> Result<(Vec<u8>, Option<String>), ApiError> {
        let url = format!("{}/api/v1/diagrams/{id}/code.zip", self.base);
        let resp = self
            .send(|token| {
                self.http
                    .get(&url)
                    .bearer_auth(token)
                    .timeout(Duration::from_secs(300))
            })
            .await?;
        let name = resp
            .headers()
            .get(reqwest::header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split("filename=").nth(1))
            .map(|n| n.trim_matches(['"', ' ', ';']).to_string())
            .filter(|n| !n.is_empty() && !n.contains(['/', '\\']) && n != "..");
        let bytes = resp.bytes().await.map_err(ApiError::from_reqwest)?;
        Ok((bytes.to_vec(), name))
    }

    /// The websocket URL of one job's events.
    pub fn websocket_url(&self, job: &str) -> String {
        let ws = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.base.clone()
        };
        format!("{ws}/api/v1/ws?job={job}&token={}", self.token())
    }
}

/// One item of `GET /diagrams`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct JobSummary {
    /// Job id.
    pub job_id: String,
    /// Status name.
    pub status: String,
    /// Uploaded file name.
    pub file_name: String,
    /// When the server accepted it.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_dates_and_is_capped() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("99999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn server_urls_are_normalized() {
        assert_eq!(normalize_server("localhost:8080/"), "http://localhost:8080");
        assert_eq!(normalize_server("https://x.example"), "https://x.example");
    }
}
