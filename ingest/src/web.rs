//! The web page at `/`: sign in, upload diagrams, watch jobs live over the
//! websocket, read diagnostics, download code, and (for admins) replay the
//! dead-letter queue.
//!
//! Plain HTML, CSS and JavaScript from `ingest/web/`, embedded in the binary
//! with `include_str!`: no build step, nothing fetched at run time. Every
//! response carries a strict Content-Security-Policy (scripts and styles only
//! from this origin, no inline code, API and websocket on this origin).

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page's HTML.
pub const INDEX_HTML: &str = include_str!("../web/index.html");
/// The page's script (vanilla JavaScript, no framework).
pub const APP_JS: &str = include_str!("../web/app.js");
/// The page's style sheet.
pub const STYLE_CSS: &str = include_str!("../web/style.css");

/// The Content-Security-Policy of every web asset: nothing but this origin
/// (plus `ws:`/`wss:` for the websocket and `data:` images), no inline
/// scripts or styles, no plugins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Routes `/`, `/app.js` and `/style.css`.
pub fn router() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    let mut resp = (headers, body).into_response();
    resp.headers_mut().insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn assets_have_types_and_a_strict_csp() {
        for (ty, body, needle) in [
            ("text/html", INDEX_HTML, "<script src=\"/app.js\""),
            ("text/javascript", APP_JS, "/api/v1/ws"),
            ("text/css", STYLE_CSS, "body"),
        ] {
            let resp = asset(ty, body);
            let h = resp.headers();
            assert_eq!(h[header::CONTENT_TYPE], ty);
            let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
            assert!(csp.contains("default-src 'self'"), "{csp}");
            assert!(csp.contains("connect-src 'self' ws: wss:"), "{csp}");
            assert!(!csp.contains("unsafe"), "{csp}");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            assert!(String::from_utf8_lossy(&bytes).contains(needle), "{ty}");
        }
    }

    #[test]
    fn page_has_no_inline_code_or_remote_assets() {
        for forbidden in ["<script>", " style=", " onclick=", "http://", "https://"] {
            assert!(
                !INDEX_HTML.contains(forbidden),
                "index.html contains {forbidden}"
            );
        }
        for forbidden in ["http://", "https://", "innerHTML", "eval("] {
            assert!(!APP_JS.contains(forbidden), "app.js contains {forbidden}");
        }
    }
}
