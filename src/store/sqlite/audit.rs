//! The audit log, one row per entry; `changes` is a JSON list.

use super::*;
use crate::model::AuditEntry;
use crate::store::{AuditFilter, AuditStore};

const COLUMNS: &str = "id, at, actor_id, actor, action, target, changes, address";

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    let changes: String = r.get(6)?;
    Ok(AuditEntry {
        id: r.get(0)?,
        at: r.get(1)?,
        actor_id: r.get(2)?,
        actor: r.get(3)?,
        action: r.get(4)?,
        target: r.get(5)?,
        changes: serde_json::from_str(&changes).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e))
        })?,
        address: r.get(7)?,
    })
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let e = entry.clone();
        let changes = to_json(&e.changes)?;
        self.write(move |tx| {
            tx.conn
                .execute(
                    &format!(
                        "INSERT INTO audit_log ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    ),
                    params![
                        e.id, e.at, e.actor_id, e.actor, e.action, e.target, changes, e.address
                    ],
                )
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn audit_entries(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut q = SqlFilter::default();
        if let Some(actor) = &filter.actor {
            let actor = q.arg(actor.clone());
            q.and(format!("actor = {actor}"));
        }
        if let Some(action) = &filter.action {
            let action = q.arg(action.clone());
            q.and(format!("action = {action}"));
        }
        if let Some(since) = filter.since {
            let since = q.arg(since);
            q.and(format!("at >= {since}"));
        }
        if let Some(until) = filter.until {
            let until = q.arg(until);
            q.and(format!("at < {until}"));
        }
        if let Some(before) = &filter.before {
            let before = q.arg(before.clone());
            q.and(format!("id < {before}"));
        }
        let limit = q.arg(limit as i64);
        let head = format!("SELECT {COLUMNS} FROM audit_log");
        let tail = format!("ORDER BY id DESC LIMIT {limit}");
        self.read(move |c| q.select(c, &head, &tail, entry_from_row))
            .await
    }
}
