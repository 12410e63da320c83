//! The audit log as admins read it: who did what to which thing, when and from where.

use serde::{Deserialize, Serialize};

/// Every action the audit log records, for filters and documentation.
pub const AUDIT_ACTIONS: [&str; 21] = [
    "sign_in",
    "sign_in.failed",
    "sign_out",
    "user.created",
    "user.updated",
    "inbox.created",
    "inbox.updated",
    "inbox.assignment_changed",
    "inbox.member_added",
    "inbox.member_removed",
    "inbox.sending_resumed",
    "api_token.created",
    "api_token.revoked",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
    "webhook.replayed",
    "audit.exported",
    "conversation.exported",
    "contacts.exported",
    "contacts.imported",
];

/// One field's value before and after. Secrets never appear: their change reads as
/// [`SECRET_SET`], [`SECRET_CLEARED`] or [`SECRET_REPLACED`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

pub const SECRET_SET: &str = "(set, not shown)";
pub const SECRET_CLEARED: &str = "(cleared)";
pub const SECRET_REPLACED: &str = "(replaced, not shown)";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Time-ordered (UUID v7): newer entries have greater ids.
    pub id: String,
    /// Unix ms.
    pub at: i64,
    /// The acting user; `None` for the command line and for a sign-in to an unknown email.
    pub actor_id: Option<String>,
    /// The acting user's email, `cli` for the command line, or the email a failed
    /// sign-in tried.
    pub actor: String,
    /// One of [`AUDIT_ACTIONS`].
    pub action: String,
    /// What it was done to, in words ("user bo@example.com", "inbox Sales").
    pub target: Option<String>,
    #[serde(default)]
    pub changes: Vec<AuditChange>,
    /// The client's address (behind a trusted proxy, its `X-Forwarded-For`), or `local`
    /// for the command line.
    pub address: Option<String>,
}

/// `list_audit_log` answer: newest first; `next` pages on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<String>,
}
