//! The audit log's writer: every admin action and sign-in, who did it, from where, and
//! what changed (old → new), never a secret's value.

use crate::context::AppError;
use crate::model::{
    AUDIT_ACTIONS, AuditChange, AuditEntry, AuditPage, SECRET_CLEARED, SECRET_REPLACED, SECRET_SET,
    User,
};
use crate::store::{AuditFilter, DynStore, audit_page, new_id, now_ms};

/// Who acts, as the log names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: Option<String>,
    pub label: String,
    pub address: Option<String>,
}

impl Actor {
    pub fn user(user: &User, address: impl Into<String>) -> Self {
        Self {
            id: Some(user.id.clone()),
            label: user.email.clone(),
            address: Some(address.into()),
        }
    }

    /// A sign-in attempt for an email that matched no usable account.
    pub fn attempt(email: &str, address: impl Into<String>) -> Self {
        Self {
            id: None,
            label: email.to_string(),
            address: Some(address.into()),
        }
    }

    /// The server itself (first-run accounts).
    pub fn system() -> Self {
        Self {
            id: None,
            label: "system".into(),
            address: None,
        }
    }

    /// An operator at the server's command line.
    pub fn cli() -> Self {
        Self {
            id: None,
            label: "cli".into(),
            address: Some("local".into()),
        }
    }
}

/// Appends one entry. The action has already happened, so a store that fails here does not
/// undo it: the failure is logged for the operator with everything the entry held.
pub async fn record(
    store: &DynStore,
    actor: &Actor,
    action: &'static str,
    target: Option<String>,
    changes: Vec<AuditChange>,
) {
    let entry = AuditEntry {
        id: new_id(),
        at: now_ms(),
        actor_id: actor.id.clone(),
        actor: actor.label.clone(),
        action: action.to_string(),
        target,
        changes,
        address: actor.address.clone(),
    };
    if let Err(e) = store.append_audit(&entry).await {
        tracing::error!(error = %e, ?entry, "audit: entry not stored");
    }
}

/// The entries an admin asked for; `limit` is clamped to 1..=500.
pub async fn page(
    store: &DynStore,
    filter: &AuditFilter,
    limit: Option<usize>,
) -> Result<AuditPage, AppError> {
    let limit = limit.unwrap_or(100).clamp(1, 500);
    let entries = store.audit_entries(filter, limit + 1).await?;
    Ok(audit_page(entries, limit))
}

/// An admin's filter, checked: an unknown action is refused rather than matching nothing.
pub fn filter(
    actor: Option<String>,
    action: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    before: Option<String>,
) -> Result<AuditFilter, AppError> {
    let blank = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let action = blank(action);
    if let Some(a) = &action
        && !AUDIT_ACTIONS.contains(&a.as_str())
    {
        return Err(AppError::BadRequest(format!(
            "unknown action {a:?}; one of: {}",
            AUDIT_ACTIONS.join(", ")
        )));
    }
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(AppError::BadRequest("since must be before until".into()));
    }
    Ok(AuditFilter {
        actor: blank(actor).map(|a| a.to_lowercase()),
        action,
        since,
        until,
        before: blank(before),
    })
}

/// The changes between two states, one field at a time.
#[derive(Debug, Default)]
pub struct Diff(Vec<AuditChange>);

impl Diff {
    /// Records `field` if its value changed.
    pub fn field<T: ToString>(mut self, field: &str, old: Option<T>, new: Option<T>) -> Self {
        let (old, new) = (old.map(|v| v.to_string()), new.map(|v| v.to_string()));
        if old != new {
            self.0.push(AuditChange {
                field: field.into(),
                old,
                new,
            });
        }
        self
    }

    /// A secret that `update` sets (`Some` non-empty), clears (`Some("")`) or leaves
    /// (`None`); `had` says whether one was set before. Values are never written.
    pub fn secret(mut self, field: &str, had: bool, update: Option<&str>) -> Self {
        let before = had.then(|| SECRET_SET.to_string());
        let after = match update.map(str::trim) {
            None => return self,
            Some("") if !had => return self,
            Some("") => SECRET_CLEARED,
            Some(_) if had => SECRET_REPLACED,
            Some(_) => SECRET_SET,
        };
        self.0.push(AuditChange {
            field: field.into(),
            old: before,
            new: Some(after.into()),
        });
        self
    }

    pub fn done(self) -> Vec<AuditChange> {
        self.0
    }
}

/// `2026-12-03T16:21:53Z` for a Unix ms time.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.replace_nanosecond(0)
                .ok()?
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_keeps_only_what_changed_and_never_a_secret() {
        let changes = Diff::default()
            .field("name", Some("Ana"), Some("Ana B"))
            .field("role", Some("agent"), Some("agent"))
            .field("display_phone_number", None, Some("+1 555"))
            .secret("access_token", true, Some("EAAG-new-secret"))
            .secret("app_secret", false, Some("s3cret"))
            .secret("verify_token", true, Some(""))
            .secret("password", true, None)
            .done();
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "display_phone_number",
                "access_token",
                "app_secret",
                "verify_token"
            ]
        );
        let text = serde_json::to_string(&changes).unwrap();
        assert!(!text.contains("EAAG") && !text.contains("s3cret"), "{text}");
        assert_eq!(changes[2].new.as_deref(), Some(SECRET_REPLACED));
        assert_eq!(changes[3].old, None);
        assert_eq!(changes[4].new.as_deref(), Some(SECRET_CLEARED));
    }

    #[test]
    fn times_read_as_utc_seconds() {
        assert_eq!(rfc3339(1_764_778_913_123), "2025-12-03T16:21:53Z");
    }
}
