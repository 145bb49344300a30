//! A scripted chat-completions endpoint for tests (feature `fake-endpoint`):
//! a real HTTP server on `127.0.0.1:0`, on a thread of its own so sync and
//! async tests can use it, answering each module's requests from a script
//! (a correct body, a syntax error, a body that breaks a test, a timeout, a
//! 429 with `Retry-After`, a 500, malformed JSON). No model runs anywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this module text in a ```python block.
    Code(String),
    /// 200 with a status and this raw body (malformed JSON, garbage).
    Raw(String),
    /// This HTTP status, with a `Retry-After` in seconds when given.
    Status(u16, Option<u64>),
    /// Waits this long, then answers like the next reply of the script
    /// (the client has given up by then: a timeout).
    Hang(Duration),
}

/// One request the endpoint saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The module the prompt asked for ("" when none was named).
    pub module: String,
    /// The `model` field.
    pub model: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// When it arrived.
    pub at: Instant,
    /// Messages in the request (a retry after a rejection has more).
    pub messages: usize,
}

#[derive(Default)]
struct Shared {
    script: Vec<(String, Vec<Reply>)>,
    default: Vec<Reply>,
    counts: BTreeMap<String, usize>,
    seen: Vec<Seen>,
}

/// A running fake endpoint; stops with the test process.
#[derive(Clone)]
pub struct FakeEndpoint {
    /// Base URL to configure (`http://127.0.0.1:PORT/v1`).
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

fn answer(content: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    })
}

fn module_of(body: &serde_json::Value) -> String {
    let text = body["messages"][1]["content"].as_str().unwrap_or("");
    text.split("Module to write: `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .unwrap_or("")
        .to_string()
}

async fn complete(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let module = module_of(&body);
    let replies = {
        let mut s = shared.lock().unwrap();
        s.seen.push(Seen {
            module: module.clone(),
            model: body["model"].as_str().unwrap_or("").to_string(),
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(String::from),
            at: Instant::now(),
            messages: body["messages"].as_array().map(Vec::len).unwrap_or(0),
        });
        let script = s
            .script
            .iter()
            .find(|(key, _)| module.contains(key.as_str()))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| s.default.clone());
        let n = s.counts.entry(module).or_default();
        let from = (*n).min(script.len().saturating_sub(1));
        *n += 1;
        script[from..].to_vec()
    };
    let mut replies = replies.into_iter();
    let mut reply = replies.next().unwrap_or(Reply::Status(500, None));
    while let Reply::Hang(d) = reply {
        tokio::time::sleep(d).await;
        reply = replies.next().unwrap_or(Reply::Status(500, None));
    }
    match reply {
        Reply::Code(code) => Json(answer(&format!(
            "Here is the module.\n\n```python\n{code}```\n"
        )))
        .into_response(),
        Reply::Raw(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response(),
        Reply::Status(code, after) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp =
                (status, "{\"error\": {\"message\": \"scripted failure\"}}").into_response();
            if let Some(s) = after {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, s.to_string().parse().unwrap());
            }
            resp
        }
        Reply::Hang(_) => unreachable!("hangs are consumed above"),
    }
}

impl FakeEndpoint {
    /// Starts an endpoint answering the modules whose path contains a
    /// script key with that script (the n-th request gets the n-th reply,
    /// the last one repeating), any other module with `default`.
    pub fn start(script: Vec<(&str, Vec<Reply>)>, default: Vec<Reply>) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            script: script
                .into_iter()
                .map(|(k, r)| (k.to_string(), r))
                .collect(),
            default,
            ..Shared::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .with_state(shared.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await.expect("serve");
            });
        });
        Self {
            url: format!("http://{addr}/v1"),
            shared,
        }
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().seen.clone()
    }

    /// Requests so far for modules whose path contains `key`.
    pub fn seen_for(&self, key: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.module.contains(key))
            .collect()
    }
}
