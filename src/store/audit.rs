//! The audit log: append-only, read newest first with filters. Entry ids are UUID v7, so
//! their order is time order and the last id of a page is the next page's cursor.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{AuditEntry, AuditPage};

/// What an admin narrows the log to; every field is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The actor's email (or `cli`), exactly, lower-cased.
    pub actor: Option<String>,
    /// One action, exactly.
    pub action: Option<String>,
    /// Unix ms, inclusive.
    pub since: Option<i64>,
    /// Unix ms, exclusive.
    pub until: Option<i64>,
    /// Entries with ids below this (the previous page's `next`).
    pub before: Option<String>,
}

impl AuditFilter {
    /// The rule each backend's query expresses.
    pub fn matches(&self, e: &AuditEntry) -> bool {
        self.actor.as_ref().is_none_or(|a| *a == e.actor)
            && self.action.as_ref().is_none_or(|a| *a == e.action)
            && self.since.is_none_or(|t| e.at >= t)
            && self.until.is_none_or(|t| e.at < t)
            && self.before.as_ref().is_none_or(|b| e.id < *b)
    }
}

/// A page from a read of `limit + 1` entries: the extra one only says there is more.
pub fn audit_page(mut entries: Vec<AuditEntry>, limit: usize) -> AuditPage {
    let more = entries.len() > limit;
    entries.truncate(limit);
    let next = more.then(|| entries.last().map(|e| e.id.clone())).flatten();
    AuditPage { entries, next }
}

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()>;

    /// Entries passing `filter`, newest (greatest id) first, at most `limit`.
    async fn audit_entries(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>>;
}
