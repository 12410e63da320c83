//! Outgoing webhook subscriptions.

use super::*;
use crate::store::{Progress, SubscriptionRecord, WebhookStore};

const COLUMNS: &str = "id, url, secret, events, inbox_ids, paused, cursor, retrying, \
     last_error, failing_since, created_at";

fn subscription_from_row(r: &Row<'_>) -> rusqlite::Result<SubscriptionRecord> {
    let list = |i: usize| -> rusqlite::Result<Vec<String>> {
        let text: String = r.get(i)?;
        serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    Ok(SubscriptionRecord {
        id: r.get(0)?,
        url: r.get(1)?,
        secret: r.get(2)?,
        events: list(3)?,
        inbox_ids: list(4)?,
        paused: r.get(5)?,
        cursor: r.get(6)?,
        retrying: r.get(7)?,
        last_error: r.get(8)?,
        failing_since: r.get(9)?,
        created_at: r.get(10)?,
    })
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn webhook_subscriptions(&self) -> StoreResult<Vec<SubscriptionRecord>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhook_subscriptions ORDER BY created_at, id"
            ))
            .and_then(|mut s| s.query_map([], subscription_from_row)?.collect())
            .map_err(map_err)
        })
        .await
    }

    async fn save_webhook_subscription(&self, sub: &SubscriptionRecord) -> StoreResult<()> {
        let s = sub.clone();
        let events = to_json(&s.events)?;
        let inboxes = to_json(&s.inbox_ids)?;
        self.write(move |tx| {
            tx.conn
                .execute(
                    &format!(
                        "INSERT INTO webhook_subscriptions ({COLUMNS}) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                         ON CONFLICT (id) DO UPDATE SET url = excluded.url, \
                         events = excluded.events, inbox_ids = excluded.inbox_ids, \
                         paused = excluded.paused"
                    ),
                    params![
                        s.id,
                        s.url,
                        s.secret,
                        events,
                        inboxes,
                        s.paused,
                        s.cursor,
                        s.retrying,
                        s.last_error,
                        s.failing_since,
                        s.created_at
                    ],
                )
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn delete_webhook_subscription(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.conn
                .execute("DELETE FROM webhook_subscriptions WHERE id = ?1", [&id])
                .map(|n| n > 0)
                .map_err(map_err)
        })
        .await
    }

    async fn record_webhook_progress(
        &self,
        id: &str,
        from: i64,
        to: i64,
        progress: &Progress,
    ) -> StoreResult<bool> {
        let id = id.to_string();
        let error = match progress {
            Progress::Delivered => None,
            Progress::Failed(e) => Some(e.clone()),
        };
        self.write(move |tx| {
            tx.conn
                .execute(
                    "UPDATE webhook_subscriptions SET cursor = ?3, retrying = ?4, \
                     last_error = coalesce(?5, last_error), failing_since = \
                     CASE WHEN ?4 THEN coalesce(failing_since, ?6) END \
                     WHERE id = ?1 AND cursor = ?2",
                    params![id, from, to, error.is_some(), error, now_ms()],
                )
                .map(|n| n > 0)
                .map_err(map_err)
        })
        .await
    }

    async fn rewind_webhook_subscription(&self, id: &str, cursor: i64) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.conn
                .execute(
                    "UPDATE webhook_subscriptions SET cursor = ?2, retrying = 0 WHERE id = ?1",
                    params![id, cursor],
                )
                .map(|n| n > 0)
                .map_err(map_err)
        })
        .await
    }
}
