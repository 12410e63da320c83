//! Canned responses: who may see and change which, and the shortcut rules.
//!
//! A global response (no inbox) is offered everywhere and only admins change it; one for
//! an inbox is offered there and changed by whoever works that inbox.

use crate::context::{AppError, AppState, Principal};
use crate::model::{CannedResponse, normalize_canned_text, normalize_shortcut};
use crate::store::{StoreError, new_id};

fn visible(principal: &Principal, r: &CannedResponse) -> bool {
    r.inbox_id.as_deref().is_none_or(|i| principal.can_see(i))
}

/// May the caller change a response kept under `inbox_id`?
fn may_manage(principal: &Principal, inbox_id: Option<&str>) -> Result<(), AppError> {
    match inbox_id {
        None => principal
            .require_admin()
            .map_err(|_| AppError::Forbidden("only admins manage global canned responses".into())),
        Some(inbox) if principal.can_see(inbox) => Ok(()),
        Some(_) => Err(AppError::NotFound("inbox")),
    }
}

/// The responses the caller may use, by shortcut.
pub async fn list(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<CannedResponse>, AppError> {
    let all = state.store.canned_responses().await?;
    Ok(all.into_iter().filter(|r| visible(principal, r)).collect())
}

/// Creates a response (no `id`) or changes one the caller may change.
pub async fn save(
    state: &AppState,
    principal: &Principal,
    id: Option<&str>,
    shortcut: &str,
    text: &str,
    inbox_id: Option<&str>,
) -> Result<CannedResponse, AppError> {
    let shortcut = normalize_shortcut(shortcut).map_err(AppError::BadRequest)?;
    let text = normalize_canned_text(text).map_err(AppError::BadRequest)?;
    let inbox_id = inbox_id.map(str::trim).filter(|i| !i.is_empty());
    may_manage(principal, inbox_id)?;
    let all = state.store.canned_responses().await?;
    let id = match id {
        Some(id) => {
            let current = all
                .iter()
                .find(|r| r.id == id && visible(principal, r))
                .ok_or(AppError::NotFound("canned response"))?;
            may_manage(principal, current.inbox_id.as_deref())?;
            id.to_string()
        }
        None => new_id(),
    };
    let taken = |s: &str| AppError::Conflict(format!("the shortcut /{s} is already in use"));
    if all.iter().any(|r| r.shortcut == shortcut && r.id != id) {
        return Err(taken(&shortcut));
    }
    let response = CannedResponse {
        id,
        shortcut,
        text,
        inbox_id: inbox_id.map(str::to_string),
    };
    // Two saves racing for one shortcut: the store's unique key decides.
    match state.store.put_canned_response(&response).await {
        Err(StoreError::Conflict(_)) => Err(taken(&response.shortcut)),
        other => other.map_err(AppError::from),
    }?;
    tracing::info!(user = %principal.user.id, shortcut = %response.shortcut, "canned response saved");
    Ok(response)
}

pub async fn delete(state: &AppState, principal: &Principal, id: &str) -> Result<(), AppError> {
    let all = state.store.canned_responses().await?;
    let current = all
        .iter()
        .find(|r| r.id == id && visible(principal, r))
        .ok_or(AppError::NotFound("canned response"))?;
    may_manage(principal, current.inbox_id.as_deref())?;
    state.store.delete_canned_response(id).await?;
    tracing::info!(user = %principal.user.id, shortcut = %current.shortcut, "canned response deleted");
    Ok(())
}
