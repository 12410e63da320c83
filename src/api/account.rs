//! Signing in and out.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::ApiError;
use crate::model::{Me, SignInInfo};

/// Signs in with email and password and starts a session (an HttpOnly cookie).
/// Failed attempts are throttled per account and per address (429 with a wait).
#[server(endpoint = "sign_in", input = Json, output = Json)]
pub async fn sign_in(email: String, password: String) -> Result<Me, ApiError> {
    use super::ctx;
    use crate::accounts::auth;
    use crate::audit::{self, Actor};
    use crate::context::AppError;
    use crate::context::{Principal, Via};
    let state = ctx::state()?;
    let address = ctx::client_address(&state);
    let email = auth::normalise_email(&email);
    // A refused attempt is logged with why; the caller hears only "wrong email or password".
    let failed = |reason: &'static str| {
        let (store, actor) = (state.store.clone(), Actor::attempt(&email, address.clone()));
        async move {
            let reason = Some(format!("reason: {reason}"));
            audit::record(&store, &actor, "sign_in.failed", reason, vec![]).await;
        }
    };
    let headers = ctx::headers()?;
    // Login CSRF: another site must not sign a browser in to an account of its choosing.
    if !crate::http::auth::same_origin(&headers) {
        tracing::warn!(%address, "sign-in refused: cross-site request");
        return Err(AppError::Forbidden("cross-site sign-in refused".into()).into());
    }
    if let Err(wait) = state.sign_in_limiter.begin(&email, &address) {
        // Not audited: the limiter bounds how many refused attempts reach the log.
        tracing::warn!(%email, %address, "sign-in throttled");
        return Err(AppError::TooManyRequests {
            retry_after: wait.as_secs().max(1),
        }
        .into());
    }
    let found = state.store.user_by_email(&email).await?;
    let hash = found.as_ref().map(|(_, hash)| hash.clone());
    let matches = auth::check_password(&state.password_checks, hash, password).await?;
    // A disabled account answers exactly like a wrong password: the answer must not
    // tell a guesser that the password was right.
    let user = match found {
        Some((user, _)) if matches && !user.disabled => user,
        Some((user, _)) if matches => {
            tracing::info!(email = %user.email, %address, "sign-in refused: account disabled");
            failed("account disabled").await;
            return Err(AppError::Unauthorized("wrong email or password".into()).into());
        }
        Some(_) => {
            tracing::info!(%email, %address, "sign-in failed: wrong password");
            failed("wrong password").await;
            return Err(AppError::Unauthorized("wrong email or password".into()).into());
        }
        None => {
            tracing::info!(%email, %address, "sign-in failed: unknown email");
            failed("unknown email").await;
            return Err(AppError::Unauthorized("wrong email or password".into()).into());
        }
    };
    state.sign_in_limiter.record_success(&email, &address);
    let secret = auth::new_secret("");
    let token_hash = auth::sha256_hex(&secret);
    let lifetime = state.config.session_lifetime;
    state
        .store
        .create_session(
            &token_hash,
            &user.id,
            crate::store::now_ms() + lifetime.as_millis() as i64,
        )
        .await?;
    let cookie = auth::session_cookie(&secret, lifetime, auth::is_https(&state, &headers));
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.append_header(axum::http::header::SET_COOKIE, cookie);
    }
    tracing::info!(email = %user.email, "signed in");
    let actor = Actor::user(&user, address);
    audit::record(&state.store, &actor, "sign_in", None, vec![]).await;
    let scope = crate::context::scope_for(&state.store, &user).await?;
    let principal = Principal {
        user,
        scope,
        via: Via::Session { token_hash },
    };
    Ok(principal.me(&state.store).await?)
}

/// Ends the current session.
#[server(endpoint = "sign_out", input = Json, output = Json)]
pub async fn sign_out() -> Result<(), ApiError> {
    use super::ctx;
    use crate::accounts::auth;
    use crate::context::Via;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    if let Via::Session { token_hash } = &principal.via {
        state
            .store
            .delete_session(token_hash)
            .await
            .map_err(ApiError::from)?;
        let actor = ctx::actor(&state, &principal);
        crate::audit::record(&state.store, &actor, "sign_out", None, vec![]).await;
    }
    let headers = ctx::headers()?;
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.append_header(
            axum::http::header::SET_COOKIE,
            auth::cleared_cookie(auth::is_https(&state, &headers)),
        );
    }
    Ok(())
}

/// The signed-in caller, or 401.
#[server(name = GetMe, endpoint = "me", input = Json, output = Json)]
pub async fn me() -> Result<Me, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    ctx::principal()?
        .me(&state.store)
        .await
        .map_err(ApiError::from)
}

/// What the sign-in page shows (needs no session).
#[server(name = GetSignInInfo, endpoint = "sign_in_info", input = Json, output = Json)]
pub async fn sign_in_info() -> Result<SignInInfo, ApiError> {
    use super::ctx;
    use crate::context::AppError;
    let state = ctx::state()?;
    Ok(Ok::<_, AppError>(SignInInfo {
        demo: crate::accounts::demo_login(&state.store, &state.config).await?,
        no_accounts: state.store.list_users().await?.is_empty(),
    })?)
}

/// Changes the caller's own password (the current one is required). Other sessions end.
#[server(endpoint = "change_password", input = Json, output = Json)]
pub async fn change_password(current: String, new: String) -> Result<(), ApiError> {
    use super::ctx;
    use crate::accounts::auth;
    use crate::accounts::{UserChanges, update_user};
    use crate::context::AppError;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let (_, hash) = state
        .store
        .user_by_email(&principal.user.email)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    if !auth::check_password(&state.password_checks, Some(hash), current).await? {
        return Err(AppError::Unauthorized("the current password is wrong".into()).into());
    }
    update_user(
        &state.store,
        &ctx::actor(&state, &principal),
        &principal.user.id,
        UserChanges {
            password: Some(new),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// What the caller wants to be told of (defaults until they save their own).
#[server(endpoint = "get_notification_settings", input = Json, output = Json)]
pub async fn get_notification_settings() -> Result<crate::model::NotificationSettings, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let key = crate::model::notification_settings_key(&principal.user.id);
    let stored = state.store.setting(&key).await.map_err(ApiError::from)?;
    // A value this build cannot read (an older shape) falls back to the defaults.
    Ok(stored
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

/// Keeps the caller's notification settings with their account (every tab and device).
#[server(endpoint = "save_notification_settings", input = Json, output = Json)]
pub async fn save_notification_settings(
    settings: crate::model::NotificationSettings,
) -> Result<crate::model::NotificationSettings, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let key = crate::model::notification_settings_key(&principal.user.id);
    let json = serde_json::to_string(&settings)
        .map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    state
        .store
        .set_setting(&key, Some(&json))
        .await
        .map_err(ApiError::from)?;
    Ok(settings)
}
