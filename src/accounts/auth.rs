//! Who is calling, and what they may see.
//!
//! Browsers carry a server-side session in an HttpOnly, SameSite=Lax cookie; scripts send
//! `Authorization: Bearer <API token>`. Both resolve to a [`Principal`]: a user and the
//! inboxes they may see. Only SHA-256 hashes of session and token secrets are stored,
//! passwords are hashed with Argon2id, and none of them is ever logged.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::context::{AppError, AppState, Principal, Via, scope_for};
use crate::model::MIN_PASSWORD_LEN;
use crate::store::DynStore;

pub const SESSION_COOKIE: &str = "sb_session";

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
pub(crate) mod tests {
    use super::*;

    /// Request headers from name/value pairs (also used by `http::auth`'s tests).
    pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
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
