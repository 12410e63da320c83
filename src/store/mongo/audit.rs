//! The audit log, one document per entry, `_id` the entry's time-ordered id.

use super::*;
use crate::model::{AuditChange, AuditEntry};
use crate::store::{AuditFilter, AuditStore};

const COLLECTION: &str = "audit_log";

fn entry_from_doc(d: &Document) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        id: string(d, "_id")?,
        at: int(d, "at")?,
        actor_id: opt_string(d, "actor_id"),
        actor: string(d, "actor")?,
        action: string(d, "action")?,
        target: opt_string(d, "target"),
        changes: json_field::<Vec<AuditChange>>(d, "changes").unwrap_or_default(),
        address: opt_string(d, "address"),
    })
}

#[async_trait]
impl AuditStore for MongoStore {
    async fn append_audit(&self, e: &AuditEntry) -> StoreResult<()> {
        let mut d = doc! {
            "_id": &e.id,
            "at": e.at,
            "actor": &e.actor,
            "action": &e.action,
            "changes": serde_json::to_string(&e.changes)
                .map_err(|err| StoreError::Corrupt(err.to_string()))?,
        };
        put_opt(&mut d, "actor_id", &e.actor_id);
        put_opt(&mut d, "target", &e.target);
        put_opt(&mut d, "address", &e.address);
        self.coll(COLLECTION).insert_one(d).await.map_err(map_err)?;
        Ok(())
    }

    async fn audit_entries(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut q = doc! {};
        if let Some(actor) = &filter.actor {
            q.insert("actor", actor);
        }
        if let Some(action) = &filter.action {
            q.insert("action", action);
        }
        let mut at = doc! {};
        if let Some(since) = filter.since {
            at.insert("$gte", since);
        }
        if let Some(until) = filter.until {
            at.insert("$lt", until);
        }
        if !at.is_empty() {
            q.insert("at", at);
        }
        if let Some(before) = &filter.before {
            q.insert("_id", doc! { "$lt": before });
        }
        self.find_all(COLLECTION, q, Some(doc! { "_id": -1 }), Some(limit as i64))
            .await?
            .iter()
            .map(entry_from_doc)
            .collect()
    }
}
