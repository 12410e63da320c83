//! Administration: agents, inboxes and membership, API tokens. Admins only.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::ApiError;
use crate::model::{ApiTokenInfo, InboxInfo, NewApiTokenSecret, Role, User};

#[cfg(feature = "ssr")]
pub(super) fn admin() -> Result<(crate::context::AppState, crate::context::Principal), ApiError> {
    let state = super::ctx::state()?;
    let principal = super::ctx::principal()?;
    principal.require_admin()?;
    Ok((state, principal))
}

#[server(endpoint = "list_users", input = Json, output = Json)]
pub async fn list_users() -> Result<Vec<User>, ApiError> {
    let (state, _) = admin()?;
    state.store.list_users().await.map_err(ApiError::from)
}

/// Adds an agent or admin with an initial password (at least 10 characters).
#[server(endpoint = "create_user", input = Json, output = Json)]
pub async fn create_user(
    email: String,
    name: String,
    role: Role,
    password: String,
) -> Result<User, ApiError> {
    use crate::accounts::{self, NewAgent};
    let (state, principal) = admin()?;
    let user = accounts::create_user(
        &state.store,
        &super::ctx::actor(&state, &principal),
        NewAgent {
            email,
            name,
            role,
            password,
        },
    )
    .await?;
    Ok(user)
}

/// Changes a user's name, role, status or password; omitted fields stay as they are.
#[server(endpoint = "update_user", input = Json, output = Json)]
pub async fn update_user(
    user_id: String,
    name: Option<String>,
    role: Option<Role>,
    disabled: Option<bool>,
    password: Option<String>,
) -> Result<User, ApiError> {
    use crate::accounts::{self, UserChanges};
    let (state, principal) = admin()?;
    let user = accounts::update_user(
        &state.store,
        &super::ctx::actor(&state, &principal),
        &user_id,
        UserChanges {
            name,
            role,
            disabled,
            password,
        },
    )
    .await?;
    Ok(user)
}

#[server(endpoint = "list_inboxes", input = Json, output = Json)]
pub async fn list_inboxes() -> Result<Vec<InboxInfo>, ApiError> {
    use crate::context::AppError;
    let (state, _) = admin()?;
    let mut out = Vec::new();
    for inbox in state.store.list_inboxes().await? {
        out.push(crate::accounts::inbox_info(&state.store, &inbox).await?);
    }
    Ok(Ok::<_, AppError>(out)?)
}

/// Adds an inbox (a WhatsApp phone number). Credentials left empty fall back to the
/// server's environment.
#[server(endpoint = "create_inbox", input = Json, output = Json)]
pub async fn create_inbox(
    phone_number_id: String,
    name: Option<String>,
    display_phone_number: Option<String>,
    access_token: Option<String>,
    app_secret: Option<String>,
    verify_token: Option<String>,
) -> Result<InboxInfo, ApiError> {
    use crate::store::{InboxCredentials, NewInbox};
    let (state, principal) = admin()?;
    let inbox = crate::accounts::create_inbox(
        &state.store,
        &super::ctx::actor(&state, &principal),
        NewInbox {
            phone_number_id: phone_number_id.trim().to_string(),
            display_phone_number: display_phone_number.filter(|d| !d.trim().is_empty()),
            name: name.filter(|n| !n.trim().is_empty()),
            credentials: InboxCredentials {
                access_token,
                app_secret,
                verify_token,
            },
        },
    )
    .await?;
    // Bodies Meta delivered for this number before it had an inbox are applied now.
    let store = state.store.clone();
    tokio::spawn(async move {
        match crate::http::webhook::replay_unfinished(&store).await {
            Ok(n) => {
                tracing::info!(applied = n, "webhook: kept bodies replayed for a new inbox")
            }
            Err(e) => {
                tracing::warn!(error = %e, "webhook: kept bodies not replayed; the next pass will")
            }
        }
    });
    Ok(crate::accounts::inbox_info(&state.store, &inbox).await?)
}

/// Changes an inbox. Omitted fields stay; an empty credential reverts to the
/// environment's.
#[server(endpoint = "update_inbox", input = Json, output = Json)]
pub async fn update_inbox(
    inbox_id: String,
    name: Option<String>,
    display_phone_number: Option<String>,
    access_token: Option<String>,
    app_secret: Option<String>,
    verify_token: Option<String>,
) -> Result<InboxInfo, ApiError> {
    use crate::store::{InboxCredentials, InboxUpdate};
    let (state, principal) = admin()?;
    let new_token = access_token.is_some();
    let inbox = crate::accounts::update_inbox(
        &state.store,
        &super::ctx::actor(&state, &principal),
        &inbox_id,
        InboxUpdate {
            name,
            display_phone_number,
            credentials: InboxCredentials {
                access_token,
                app_secret,
                verify_token,
            },
        },
    )
    .await?;
    // A replaced token is the fix for a token error: send what queued up.
    if new_token {
        crate::outbound::dispatch::resume(&state, &inbox.id).await?;
    }
    Ok(crate::accounts::inbox_info(&state.store, &inbox).await?)
}

/// Lifts a pause that a rejected access token put on an inbox's sending (e.g. once the
/// token was fixed where the environment sets it). Queued messages go out at once.
#[server(endpoint = "resume_sending", input = Json, output = Json)]
pub async fn resume_sending(inbox_id: String) -> Result<InboxInfo, ApiError> {
    use crate::context::AppError;
    let (state, principal) = admin()?;
    let inbox = state
        .store
        .inbox(&inbox_id)
        .await?
        .ok_or(AppError::NotFound("inbox"))?;
    let was = state
        .store
        .setting(&crate::store::pause_key(&inbox.id))
        .await?;
    crate::outbound::dispatch::resume(&state, &inbox.id).await?;
    if let Some(reason) = was {
        let target = Some(format!("inbox {}", inbox.phone_number_id));
        let changes = crate::audit::Diff::default()
            .field("sending_paused", Some(reason), None)
            .done();
        let actor = super::ctx::actor(&state, &principal);
        crate::audit::record(
            &state.store,
            &actor,
            "inbox.sending_resumed",
            target,
            changes,
        )
        .await;
    }
    Ok(crate::accounts::inbox_info(&state.store, &inbox).await?)
}

/// How an inbox's conversations get an owner: `auto_assign` (round-robin among its online
/// members, off by default) and `assign_on_reply` (a reply claims an unassigned
/// conversation, on by default). A field left out stays.
#[server(endpoint = "set_inbox_assignment", input = Json, output = Json)]
pub async fn set_inbox_assignment(
    inbox_id: String,
    #[server(default)] auto_assign: Option<bool>,
    #[server(default)] assign_on_reply: Option<bool>,
) -> Result<InboxInfo, ApiError> {
    use crate::context::AppError;
    let (state, principal) = admin()?;
    let inbox = state
        .store
        .inbox(&inbox_id)
        .await?
        .ok_or(AppError::NotFound("inbox"))?;
    let actor = super::ctx::actor(&state, &principal);
    Ok(crate::accounts::set_inbox_assignment(
        &state.store,
        &actor,
        &inbox,
        auto_assign,
        assign_on_reply,
    )
    .await?)
}

/// Adds (`member: true`) or removes an agent from an inbox.
#[server(endpoint = "set_inbox_member", input = Json, output = Json)]
pub async fn set_inbox_member(
    inbox_id: String,
    user_id: String,
    member: bool,
) -> Result<InboxInfo, ApiError> {
    use crate::context::AppError;
    let (state, principal) = admin()?;
    let actor = super::ctx::actor(&state, &principal);
    crate::accounts::set_member(&state.store, &actor, &inbox_id, &user_id, member).await?;
    let inbox = state
        .store
        .inbox(&inbox_id)
        .await?
        .ok_or(AppError::NotFound("inbox"))?;
    Ok(crate::accounts::inbox_info(&state.store, &inbox).await?)
}

#[server(endpoint = "list_api_tokens", input = Json, output = Json)]
pub async fn list_api_tokens() -> Result<Vec<ApiTokenInfo>, ApiError> {
    let (state, _) = admin()?;
    state.store.list_api_tokens().await.map_err(ApiError::from)
}

/// Creates an API token that acts as `user_id` (and sees what that user sees). The
/// secret is in the answer and nowhere else: it is stored only as a hash.
#[server(endpoint = "create_api_token", input = Json, output = Json)]
pub async fn create_api_token(
    name: String,
    user_id: String,
) -> Result<NewApiTokenSecret, ApiError> {
    let (state, principal) = admin()?;
    let actor = super::ctx::actor(&state, &principal);
    let created = crate::accounts::create_token(&state.store, &actor, &name, &user_id).await?;
    Ok(created)
}

#[server(endpoint = "revoke_api_token", input = Json, output = Json)]
pub async fn revoke_api_token(token_id: String) -> Result<ApiTokenInfo, ApiError> {
    let (state, principal) = admin()?;
    let actor = super::ctx::actor(&state, &principal);
    Ok(crate::accounts::revoke_token(&state.store, &actor, &token_id).await?)
}
