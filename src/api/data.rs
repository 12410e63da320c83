//! The audit log (admins) and the contacts import. Downloads (CSV, conversation exports)
//! are plain routes in `http::export`, so a link can fetch them.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::ApiError;
use crate::model::{AuditPage, ContactImport};

/// Audit log entries, newest first: sign-ins and every admin action, with who, from where
/// and what changed. `actor` is an email (or `cli`), `action` one of the logged actions,
/// `since`/`until` Unix ms; `before` is the previous page's `next`. Admins only.
#[server(endpoint = "list_audit_log", input = Json, output = Json)]
pub async fn list_audit_log(
    #[server(default)] actor: Option<String>,
    #[server(default)] action: Option<String>,
    #[server(default)] since: Option<i64>,
    #[server(default)] until: Option<i64>,
    #[server(default)] before: Option<String>,
    #[server(default)] limit: Option<u32>,
) -> Result<AuditPage, ApiError> {
    let (state, _) = super::admin::admin()?;
    let filter = crate::audit::filter(actor, action, since, until, before)?;
    Ok(crate::audit::page(&state.store, &filter, limit.map(|l| l as usize)).await?)
}

/// Imports contacts into an inbox from CSV text (columns `phone`, `name`, `labels`,
/// `opted_out`, `attribute:<name>`; at most 10,000 rows). With `dry_run` nothing is
/// written and the answer says what would be created, updated and refused, row by row.
#[server(endpoint = "import_contacts", input = Json, output = Json)]
pub async fn import_contacts(
    inbox_id: String,
    csv: String,
    #[server(default)] dry_run: bool,
) -> Result<ContactImport, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let actor = ctx::actor(&state, &principal);
    Ok(
        crate::exports::import_contacts(&state, &principal, &actor, &inbox_id, &csv, dry_run)
            .await?,
    )
}
