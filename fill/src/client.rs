//! The OpenAI-compatible chat-completions client (`POST {url}/chat/completions`),
//! which Ollama, vLLM, llama.cpp's server and the hosted services all speak.
//!
//! One call is one HTTP request: the retry policy (backoff, `Retry-After`,
//! budgets, breaker) is the caller's ([`crate::run`]). Every failure is
//! classified here as transient (worth another request) or not. The API key
//! only ever goes into the `Authorization` header.

use std::time::Duration;

use reqwest::StatusCode;
use runtime::config::{ApiKey, FillConfig};
use serde::{Deserialize, Serialize};

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message with `role`.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// The usable part of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatAnswer {
    /// The first choice's message text.
    pub content: String,
    /// Tokens the request cost (the endpoint's `usage.total_tokens`, else an
    /// estimate of a token per four bytes of prompt and answer).
    pub tokens: u64,
}

/// Why a call brought no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer within the request timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// 429: the endpoint asks to come back later.
    #[error("rate limited (429){}", .retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// The `Retry-After` header in seconds, when sent.
        retry_after: Option<Duration>,
    },
    /// 5xx (or 408): the endpoint failed this time.
    #[error("endpoint error {status}: {excerpt}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        excerpt: String,
    },
    /// The connection could not be made or broke.
    #[error("cannot reach the endpoint: {0}")]
    Connect(String),
    /// Another 4xx: the request itself is refused (unknown model, bad key);
    /// asking again does not help.
    #[error("endpoint refused the request ({status}): {excerpt}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        excerpt: String,
    },
    /// 200 but not a chat-completions answer (garbage), or no text in it.
    #[error("malformed answer: {0}")]
    Malformed(String),
}

impl CallError {
    /// Worth another request after a pause (timeouts, 429, 5xx, broken
    /// connections). A malformed answer is an answer: the caller counts it
    /// against the module's answers instead.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CallError::Timeout(_)
                | CallError::RateLimited { .. }
                | CallError::Server { .. }
                | CallError::Connect(_)
        )
    }

    /// Says the endpoint is unwell (counts against its circuit breaker): a
    /// 429 is a healthy endpoint pacing its clients, a malformed answer a
    /// model's fault.
    pub fn is_endpoint_failure(&self) -> bool {
        matches!(
            self,
            CallError::Timeout(_) | CallError::Server { .. } | CallError::Connect(_)
        )
    }
}

/// A chat-completions client for one endpoint.
#[derive(Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    endpoint: String,
    key: ApiKey,
    timeout: Duration,
    max_answer_bytes: usize,
    max_answer_tokens: u32,
}

impl std::fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient")
            .field("endpoint", &self.endpoint)
            .field("key", &self.key)
            .finish()
    }
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client of the fill endpoint: {0}")]
pub struct ClientError(String);

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    max_tokens: u32,
    temperature: f32,
    stream: bool,
}

#[derive(Deserialize)]
struct Response {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
}

#[derive(Deserialize)]
struct AnswerMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    total_tokens: Option<u64>,
}

/// At most `n` characters of `text` on one line, for reasons and logs.
pub(crate) fn excerpt(text: &str, n: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        one_line.chars().take(n).collect::<String>() + "..."
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by model
/// servers; it reads as absent and the backoff applies).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl ChatClient {
    /// A client of the endpoint configured in `cfg`.
    pub fn new(cfg: &FillConfig) -> Result<Self, ClientError> {
        let timeout = Duration::from_secs(cfg.request_timeout_secs.max(1));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(Self {
            http,
            endpoint: format!("{}/chat/completions", cfg.url.trim_end_matches('/')),
            key: cfg.api_key.clone(),
            timeout,
            max_answer_bytes: cfg.max_answer_bytes,
            max_answer_tokens: cfg.max_answer_tokens,
        })
    }

    /// One request: the answer of `model` to `messages`.
    pub async fn complete(
        &self,
        model: &str,
        messages: &[ChatMessage],
    ) -> Result<ChatAnswer, CallError> {
        let body = Request {
            model,
            messages,
            max_tokens: self.max_answer_tokens,
            temperature: 0.0,
            stream: false,
        };
        let mut req = self.http.post(&self.endpoint).json(&body);
        if !self.key.is_empty() {
            req = req.bearer_auth(self.key.expose());
        }
        let mut resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(e))? {
            if bytes.len() + chunk.len() > self.max_answer_bytes {
                return Err(CallError::Malformed(format!(
                    "answer larger than {} bytes",
                    self.max_answer_bytes
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&bytes);
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(CallError::RateLimited {
                retry_after: retry_after(&headers),
            });
        }
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            return Err(CallError::Server {
                status: status.as_u16(),
                excerpt: excerpt(&text, 200),
            });
        }
        if !status.is_success() {
            return Err(CallError::Refused {
                status: status.as_u16(),
                excerpt: excerpt(&text, 200),
            });
        }
        let parsed: Response = serde_json::from_slice(&bytes).map_err(|e| {
            CallError::Malformed(format!("{e} (body starts {:?})", excerpt(&text, 80)))
        })?;
        let content = parsed
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| CallError::Malformed("no message text in the answer".into()))?;
        let estimate =
            (messages.iter().map(|m| m.content.len()).sum::<usize>() + content.len()) as u64 / 4;
        let tokens = parsed
            .usage
            .and_then(|u| u.total_tokens)
            .unwrap_or(estimate);
        Ok(ChatAnswer { content, tokens })
    }

    fn transport(&self, e: reqwest::Error) -> CallError {
        if e.is_timeout() {
            CallError::Timeout(self.timeout)
        } else {
            // reqwest's message names the URL, never the headers.
            CallError::Connect(excerpt(&e.to_string(), 200))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let cfg = FillConfig {
            url: "http://127.0.0.1:1/v1/".into(),
            api_key: ApiKey::new("sk-very-secret"),
            ..FillConfig::default()
        };
        let client = ChatClient::new(&cfg).expect("client");
        let shown = format!("{client:?} {cfg:?}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert!(
            shown.contains("http://127.0.0.1:1/v1/chat/completions"),
            "{shown}"
        );
    }

    #[test]
    fn only_endpoint_trouble_is_retried() {
        assert!(CallError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(CallError::RateLimited { retry_after: None }.is_transient());
        assert!(
            CallError::Server {
                status: 503,
                excerpt: String::new()
            }
            .is_transient()
        );
        assert!(!CallError::Malformed("x".into()).is_transient());
        assert!(
            !CallError::Refused {
                status: 404,
                excerpt: String::new()
            }
            .is_transient()
        );
        assert!(!CallError::RateLimited { retry_after: None }.is_endpoint_failure());
    }
}
