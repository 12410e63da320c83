//! Outgoing webhook subscriptions, one document each.

use super::*;
use crate::store::{Progress, SubscriptionRecord, WebhookStore};

const COLLECTION: &str = "webhook_subscriptions";

fn subscription_from_doc(d: &Document) -> StoreResult<SubscriptionRecord> {
    Ok(SubscriptionRecord {
        id: string(d, "_id")?,
        url: string(d, "url")?,
        secret: string(d, "secret")?,
        events: strings(d, "events"),
        inbox_ids: strings(d, "inbox_ids"),
        paused: boolean(d, "paused"),
        cursor: int(d, "cursor")?,
        retrying: boolean(d, "retrying"),
        last_error: opt_string(d, "last_error"),
        failing_since: opt_int(d, "failing_since"),
        created_at: int(d, "created_at")?,
    })
}

#[async_trait]
impl WebhookStore for MongoStore {
    async fn webhook_subscriptions(&self) -> StoreResult<Vec<SubscriptionRecord>> {
        self.find_all(
            COLLECTION,
            doc! {},
            Some(doc! { "created_at": 1, "_id": 1 }),
            None,
        )
        .await?
        .iter()
        .map(subscription_from_doc)
        .collect()
    }

    async fn save_webhook_subscription(&self, s: &SubscriptionRecord) -> StoreResult<()> {
        // What an admin may change is set; the secret and progress only on insert.
        self.coll(COLLECTION)
            .update_one(
                doc! { "_id": &s.id },
                doc! {
                    "$set": {
                        "url": &s.url,
                        "events": &s.events,
                        "inbox_ids": &s.inbox_ids,
                        "paused": s.paused,
                    },
                    "$setOnInsert": {
                        "secret": &s.secret,
                        "cursor": s.cursor,
                        "retrying": s.retrying,
                        "created_at": s.created_at,
                    },
                },
            )
            .upsert(true)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn delete_webhook_subscription(&self, id: &str) -> StoreResult<bool> {
        self.coll(COLLECTION)
            .delete_one(doc! { "_id": id })
            .await
            .map(|r| r.deleted_count > 0)
            .map_err(map_err)
    }

    async fn record_webhook_progress(
        &self,
        id: &str,
        from: i64,
        to: i64,
        progress: &Progress,
    ) -> StoreResult<bool> {
        let filter = doc! { "_id": id, "cursor": from };
        let update = match progress {
            Progress::Delivered => doc! {
                "$set": { "cursor": to, "retrying": false },
                "$unset": { "failing_since": "" },
            },
            // `$min` starts the run of failures now, or keeps its earlier start.
            Progress::Failed(error) => doc! {
                "$set": { "cursor": to, "retrying": true, "last_error": error },
                "$min": { "failing_since": now_ms() },
            },
        };
        self.coll(COLLECTION)
            .update_one(filter, update)
            .await
            .map(|r| r.matched_count > 0)
            .map_err(map_err)
    }

    async fn rewind_webhook_subscription(&self, id: &str, cursor: i64) -> StoreResult<bool> {
        self.coll(COLLECTION)
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "cursor": cursor, "retrying": false } },
            )
            .await
            .map(|r| r.matched_count > 0)
            .map_err(map_err)
    }
}
