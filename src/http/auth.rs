//! Per-request authentication and the CSRF guard, as axum middleware.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::accounts::auth::authenticate;
use crate::context::{AppError, AppState, Principal};

/// Resolves the caller once per request and leaves it in the request's extensions, where
/// server functions and the socket find it. Static assets skip the lookup.
pub async fn resolve(
    State(state): State<AppState>,
    mut req: Request<Body>,
    next: Next,
) -> Response {
    if !req.uri().path().starts_with("/pkg/") {
        match authenticate(&state.store, req.headers()).await {
            Ok(Some(principal)) => {
                req.extensions_mut().insert(principal);
            }
            Ok(None) => {}
            Err(e) => return e.into_response(),
        }
    }
    next.run(req).await
}

/// The client's address: the peer, or the last hop of `X-Forwarded-For` when the server
/// is configured to trust its proxy.
pub fn client_address(
    state: &AppState,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
) -> String {
    if state.config.trust_proxy
        && let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
    {
        return forwarded.trim().to_string();
    }
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The host a browser request says it came from matches ours. Cookie-authenticated
/// requests from another site are refused: with `SameSite=Lax` the cookie should not even
/// arrive, and this stops the browsers and proxies where it would.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        Some(origin) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host)),
        // No Origin: only a same-origin navigation or a non-browser client.
        None => headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|site| site == "same-origin" || site == "none"),
    }
}

/// CSRF protection for server functions: a cookie-authenticated call must come from our
/// own pages. Bearer tokens are not sent by browsers on their own, so they pass.
pub async fn csrf_guard(req: Request<Body>, next: Next) -> Response {
    let cookie_auth = req
        .extensions()
        .get::<Principal>()
        .is_some_and(Principal::uses_cookie);
    let unsafe_method = req.method() != Method::GET && req.method() != Method::HEAD;
    if cookie_auth && unsafe_method && !same_origin(req.headers()) {
        tracing::warn!(path = %req.uri().path(), "refused a cross-site request carrying a session cookie");
        return AppError::Forbidden("cross-site request refused".into()).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::auth::tests::headers;

    #[test]
    fn origins_must_match_the_host() {
        let ok = headers(&[
            ("host", "inbox.example.com"),
            ("origin", "https://inbox.example.com"),
        ]);
        assert!(same_origin(&ok));
        let evil = headers(&[
            ("host", "inbox.example.com"),
            ("origin", "https://evil.example"),
        ]);
        assert!(!same_origin(&evil));
        let cross = headers(&[
            ("host", "inbox.example.com"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(!same_origin(&cross));
        let cli = headers(&[("host", "inbox.example.com")]);
        assert!(same_origin(&cli));
    }
}
