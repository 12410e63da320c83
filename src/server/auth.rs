//! Who is calling, and what they may see.
//!
//! Browsers carry a server-side session in an HttpOnly, SameSite=Lax cookie; scripts send
//! `Authorization: Bearer <API token>`. Both resolve to a [`Principal`]: a user and the
//! inboxes they may see. Only SHA-256 hashes of session and token secrets are stored,
//! passwords are hashed with Argon2id, and none of them is ever logged.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::model::{Me, Role, User};
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::store::{DynStore, Scope};

pub const SESSION_COOKIE: &str = "sb_session";
pub const MIN_PASSWORD_LEN: usize = 10;

/// A signed-in caller.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    pub scope: Scope,
    pub via: Via,
}

#[derive(Clone, Debug)]
pub enum Via {
    /// A browser session; the hash identifies it for sign-out.
    Session { token_hash: String },
    /// An API token.
    Token { id: String },
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden("only admins may do this".into()))
        }
    }

    pub fn can_see(&self, inbox_id: &str) -> bool {
        self.scope.allows(inbox_id)
    }

    pub fn uses_cookie(&self) -> bool {
        matches!(self.via, Via::Session { .. })
    }

    pub async fn me(&self, store: &DynStore) -> Result<Me, AppError> {
        let inbox_ids = match &self.scope {
            Scope::All => store
                .list_inboxes()
                .await?
                .into_iter()
                .map(|i| i.id)
                .collect(),
            Scope::Inboxes(ids) => ids.clone(),
        };
        Ok(Me {
            user: self.user.clone(),
            inbox_ids,
        })
    }
}

/// The inboxes a user may see: all for admins, their memberships otherwise.
pub async fn scope_for(store: &DynStore, user: &User) -> Result<Scope, AppError> {
    Ok(match user.role {
        Role::Admin => Scope::All,
        Role::Agent => Scope::Inboxes(store.user_inboxes(&user.id).await?),
    })
}

/// 32 random bytes, URL-safe: a session or API token secret.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn hash_password(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AppError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

/// Password checks run at once, at most: each holds a blocking thread for tens of
/// milliseconds, and sign-ins must never stall sockets or webhooks.
pub const PARALLEL_PASSWORD_CHECKS: usize = 2;

/// Checks `password` against `hash` on a blocking thread, behind `slots`; a missing hash
/// (unknown email) costs the same as a wrong password, so timing does not reveal which
/// accounts exist.
pub async fn check_password(
    slots: &tokio::sync::Semaphore,
    hash: Option<String>,
    password: String,
) -> Result<bool, AppError> {
    let _slot = slots
        .acquire()
        .await
        .map_err(|e| AppError::Internal(format!("password check slots closed: {e}")))?;
    tokio::task::spawn_blocking(move || match hash {
        Some(hash) => verify_password(&hash, &password),
        None => {
            burn_password_check(&password);
            false
        }
    })
    .await
    .map_err(|e| AppError::Internal(format!("password check failed: {e}")))
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checked when an email is unknown, so a miss costs as much time as a wrong password
/// and response times do not reveal which accounts exist.
pub fn burn_password_check(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default());
    let _ = verify_password(hash, password);
}

pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub fn validate_password(password: &str) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AppError::BadRequest(format!(
            "passwords need at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Authorization: Bearer` token of a request.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Resolves the caller from a bearer token or the session cookie. Disabled users and
/// expired or revoked credentials resolve to nobody.
pub async fn authenticate(
    store: &DynStore,
    headers: &HeaderMap,
) -> Result<Option<Principal>, AppError> {
    let (user, via) = if let Some(token) = bearer(headers) {
        match store.api_token_user(&sha256_hex(token)).await? {
            Some((t, user)) => (user, Via::Token { id: t.id }),
            None => return Ok(None),
        }
    } else if let Some(secret) = cookie_value(headers, SESSION_COOKIE) {
        let token_hash = sha256_hex(secret);
        match store.session_user(&token_hash).await? {
            Some(user) => (user, Via::Session { token_hash }),
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(None);
    }
    let scope = scope_for(store, &user).await?;
    Ok(Some(Principal { user, scope, via }))
}

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

/// `Set-Cookie` for a new session.
pub fn session_cookie(secret: &str, lifetime: Duration, secure: bool) -> HeaderValue {
    let value = format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        lifetime.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie(secure: bool) -> HeaderValue {
    HeaderValue::from_static(if secure {
        "sb_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
    } else {
        "sb_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
    })
}

/// Whether cookies must be `Secure`: the public URL is HTTPS, or the request came
/// through a proxy that says it was.
pub fn is_https(state: &AppState, headers: &HeaderMap) -> bool {
    state.config.public_url_https()
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "wrong"));
        assert!(!verify_password("not a hash", "x"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let h = headers(&[("cookie", "a=1; sb_session=abc; b=2")]);
        assert_eq!(cookie_value(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie_value(&headers(&[]), SESSION_COOKIE), None);
    }

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

    #[test]
    fn session_cookies_are_http_only_and_lax() {
        let c = session_cookie("s3cret", Duration::from_secs(60), true);
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
        assert!(
            !session_cookie("x", Duration::from_secs(1), false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }
}
