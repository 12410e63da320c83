//! Downloads: `GET /export/conversations/{id}?format=json|text`, `GET /export/contacts.csv
//! [?inbox_id=]` and `GET /export/audit.csv` (admins; the audit log's filters as query
//! parameters). Plain routes so a link or `curl` can fetch them; each is audited.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{HeaderMap, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::audit::Actor;
use crate::context::{AppError, AppState, Principal};

/// The signed-in caller, named for the audit log with the address the request came from.
pub struct Caller {
    principal: Principal,
    actor: Actor,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| AppError::Unauthorized("sign in to export".into()))?;
        let address = super::auth::client_address(state, &parts.headers, &parts.extensions);
        let actor = Actor::user(&principal.user, address);
        Ok(Self { principal, actor })
    }
}

/// A download: the browser saves it as `filename` instead of showing it.
fn attachment(body: impl IntoResponse, content_type: &str, filename: &str) -> Response {
    let mut headers = HeaderMap::new();
    let disposition = format!("attachment; filename=\"{filename}\"");
    for (name, value) in [
        (header::CONTENT_TYPE, content_type.to_string()),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, "no-store".to_string()),
    ] {
        if let Ok(v) = value.parse() {
            headers.insert(name, v);
        }
    }
    (headers, body).into_response()
}

/// Letters, digits and dashes only: safe in a `Content-Disposition` filename.
fn slug(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[derive(Debug, Deserialize)]
pub struct ConversationParams {
    format: Option<String>,
}

pub async fn conversation(
    State(state): State<AppState>,
    Caller { principal, actor }: Caller,
    Path(id): Path<String>,
    Query(params): Query<ConversationParams>,
) -> Result<Response, AppError> {
    let format = params.format.as_deref().unwrap_or("json");
    if format != "json" && format != "text" {
        return Err(AppError::BadRequest(format!(
            "format {format:?} is not json or text"
        )));
    }
    let export = crate::exports::conversation(&state, &principal, &actor, &id, format).await?;
    let name = format!(
        "conversation-{}-{}",
        slug(&export.conversation.contact.display_name()),
        &export.exported_at[..10]
    );
    Ok(if format == "text" {
        let text = crate::exports::conversation_text(&export);
        attachment(text, "text/plain; charset=utf-8", &format!("{name}.txt"))
    } else {
        let json =
            serde_json::to_vec_pretty(&export).map_err(|e| AppError::Internal(e.to_string()))?;
        attachment(json, "application/json", &format!("{name}.json"))
    })
}

#[derive(Debug, Deserialize)]
pub struct ContactsParams {
    inbox_id: Option<String>,
}

pub async fn contacts(
    State(state): State<AppState>,
    Caller { principal, actor }: Caller,
    Query(params): Query<ContactsParams>,
) -> Result<Response, AppError> {
    let inbox = params.inbox_id.filter(|i| !i.is_empty());
    let csv = crate::exports::contacts_csv(&state, &principal, &actor, inbox.as_deref()).await?;
    Ok(attachment(csv, "text/csv; charset=utf-8", "contacts.csv"))
}

#[derive(Debug, Deserialize)]
pub struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
}

pub async fn audit(
    State(state): State<AppState>,
    Caller { principal, actor }: Caller,
    Query(params): Query<AuditParams>,
) -> Result<Response, AppError> {
    principal.require_admin()?;
    let filter = crate::audit::filter(
        params.actor,
        params.action,
        params.since,
        params.until,
        None,
    )?;
    let csv = crate::exports::audit_csv(&state, &actor, filter).await?;
    Ok(attachment(csv, "text/csv; charset=utf-8", "audit-log.csv"))
}
