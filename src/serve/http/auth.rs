//! The token check, run before every route (the API, unknown paths and wrong methods included),
//! and the headers every reply carries.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::page::percent_decode;
use super::state::error;
use super::App;

/// Lets the request through when no token is configured or when it carries the token; else 401.
pub(super) async fn require_token(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    // The path only: the query may hold the token.
    tracing::debug!("http: {} {}", request.method(), request.uri().path());
    let query = request.uri().query().unwrap_or("");
    if authorized(app.token.as_deref(), request.headers(), query) {
        return next.run(request).await;
    }
    let mut reply = error(StatusCode::UNAUTHORIZED, "unauthorized");
    reply
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    reply
}

/// Every reply, refusals included: never cached (previews and health are live), never sniffed
/// into another type than the one declared.
pub(super) async fn common_headers(mut reply: Response) -> Response {
    let headers = reply.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    reply
}

/// True without a token; otherwise the request must carry it as a bearer token or as the
/// `token` query parameter (which `<img>` tags can send).
fn authorized(expected: Option<&str>, headers: &HeaderMap, query: &str) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let from_headers = headers
        .get_all(AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| bearer_token(v).map(str::to_string));
    let from_query = query_param(query, "token");
    from_headers
        .chain(from_query)
        .any(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

/// The token of an `Authorization: Bearer TOKEN` header value.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Compares in time that depends on the expected token's length only, so that response times
/// tell an attacker nothing about how much of a guess was right.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= e ^ given.get(i).copied().unwrap_or(!e);
    }
    diff == 0
}

/// The percent-decoded value of a query parameter. `+` stays itself: tokens are not form data.
fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_decode(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_and_comparison() {
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
    }

    #[test]
    fn the_token_comes_from_a_header_or_the_query() {
        let mut headers = HeaderMap::new();
        assert!(authorized(None, &headers, ""));
        assert!(!authorized(Some("t+k"), &headers, "x=1"));
        assert!(authorized(Some("t+k"), &headers, "x=1&token=t%2Bk"));
        assert!(authorized(Some("t+k"), &headers, "token=t+k"));
        assert!(!authorized(Some("t+k"), &headers, "token=t%2"));
        headers.append(AUTHORIZATION, HeaderValue::from_static("Basic eA=="));
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer t+k"));
        assert!(authorized(Some("t+k"), &headers, ""));
    }
}
