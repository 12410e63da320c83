//! The production store: MongoDB through the official driver.
//!
//! No write here needs a multi-document transaction, so a standalone server works. Each
//! state change is one single-document operation — an insert guarded by a unique index,
//! an upsert, `$max`, or a compare-and-set on `version` — that also marks the document
//! `unpublished`. The event (the whole current object) is written afterwards with a seq
//! from a counter document (`$inc`), and the mark is cleared. A crash in between leaves
//! the mark, and [`Store::repair`] publishes the current state later; since events carry
//! whole objects and clients merge by version, a late or repeated event is harmless. (A
//! new message's mark also stands for what it changed in its conversation: a repair
//! announces both.)
//!
//! Conversation summaries (last message, unread count) are recomputed from the messages
//! rather than incremented, under a monotonic generation guard, so retries and races can
//! never double-count or let an older summary overwrite a newer one.

mod accounts;
mod audit;
mod contacts;
mod docs;
mod history;
mod indexes;
mod jobs;
mod messages;
mod publish;
mod webhooks;
mod workflow;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use tokio::sync::Notify;

use super::recent::{InboxCache, SettingCache};
use super::{
    AccountStore, ContactFilter, ContactKey, ContactUpdate, ConversationFilter, DeliveryState,
    Event, EventBounds, EventKind, EventLog, HistoryStore, InboundOutcome, Inbox, InboxCredentials,
    InboxUpdate, Job, JobKind, JobStore, MessageEdit, MessageStore, NewApiToken, NewInbound,
    NewInbox, NewOutbound, NewUser, Scope, StatusOutcome, StatusReport, StoreError, StoreResult,
    StoredWebhook, UserUpdate, WebhookState, WorkflowStore, new_id, now_ms, pause_key, to_json,
};
use crate::model::ApiTokenInfo;
use crate::model::{
    Activity, CannedResponse, Contact, ContactEntry, Conversation, ConversationStatus, Cursor,
    Details, Direction, ErrorInfo, Message, MessageKind, MessagePage, MessagePreview,
    MessageStatus, Role, UNREAD_CAP, User, UserRef, View, ViewCounts,
};
use contacts::COPY_STALE;
use docs::*;
use publish::{AWAITS_TARGET, COUNTED_BY, RECOUNTS_BEGUN, marked};
use workflow::*;

/// Documents whose publication is this old are assumed abandoned by a crashed writer.
const REPAIR_AFTER_MS: i64 = 10_000;
pub struct MongoStore {
    db: Database,
    commits: Arc<Notify>,
    inbox_cache: InboxCache,
    recent_settings: SettingCache,
}

fn map_err(e: mongodb::error::Error) -> StoreError {
    if is_duplicate(&e) {
        return StoreError::Conflict(e.to_string());
    }
    match *e.kind {
        ErrorKind::BsonDeserialization(_) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn is_duplicate(e: &mongodb::error::Error) -> bool {
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => false,
    }
}

/// Why MongoDB could not be used at start-up, in one line.
pub fn describe_connect_error(e: &mongodb::error::Error) -> String {
    match &*e.kind {
        ErrorKind::Authentication { message, .. } => {
            format!("MongoDB refused the credentials: {message}")
        }
        ErrorKind::ServerSelection { .. } => {
            "cannot reach MongoDB (no server answered within 5 s)".to_string()
        }
        ErrorKind::DnsResolve { message, .. } => {
            format!("cannot resolve the MongoDB host: {message}")
        }
        ErrorKind::InvalidArgument { message, .. } => format!("invalid MongoDB URL: {message}"),
        _ => e.to_string(),
    }
}

impl MongoStore {
    /// The database the store uses (media files live beside the messages).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Connects, checks the server answers, and creates collections' indexes (idempotent).
    pub async fn connect(uri: &str) -> Result<Self, StoreError> {
        let options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::Unavailable(describe_connect_error(&e)))?;
        Self::connect_with(options).await
    }

    /// [`connect`](Self::connect) with options already parsed, so a benchmark can watch
    /// the driver's commands.
    pub async fn connect_with(mut options: ClientOptions) -> Result<Self, StoreError> {
        options.app_name = Some("switchboard".into());
        // Fail fast: a webhook waiting 30 s for a dead server helps nobody; Meta retries.
        options.server_selection_timeout = Some(Duration::from_secs(5));
        options
            .connect_timeout
            .get_or_insert(Duration::from_secs(5));
        let database = options
            .default_database
            .clone()
            .unwrap_or_else(|| "switchboard".to_string());
        let client = Client::with_options(options)
            .map_err(|e| StoreError::Unavailable(describe_connect_error(&e)))?;
        let db = client.database(&database);
        db.run_command(doc! { "ping": 1 })
            .await
            .map_err(|e| StoreError::Unavailable(describe_connect_error(&e)))?;
        let store = Self {
            db,
            commits: Arc::new(Notify::new()),
            inbox_cache: InboxCache::default(),
            recent_settings: SettingCache::default(),
        };
        store.create_indexes().await?;
        Ok(store)
    }

    fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    /// Reserves `n` numbers from a counter and returns the last; they never repeat.
    async fn next(&self, counter: &str, n: i64) -> StoreResult<i64> {
        let counters = self.coll("counters");
        for attempt in 0..2 {
            let result = counters
                .find_one_and_update(doc! { "_id": counter }, doc! { "$inc": { "n": n } })
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match result {
                Ok(Some(d)) => return int(&d, "n"),
                Ok(None) => return Err(StoreError::Corrupt(format!("counter {counter} vanished"))),
                // Two first-ever upserts raced; the loser simply increments again.
                Err(e) if is_duplicate(&e) && attempt == 0 => continue,
                Err(e) => return Err(map_err(e)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "counter {counter} is contended"
        )))
    }
}

// ---- document mapping ------------------------------------------------------------------
#[async_trait]
impl EventLog for MongoStore {
    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    fn commits(&self) -> Arc<Notify> {
        self.commits.clone()
    }

    async fn events_after(&self, after: i64, limit: usize) -> StoreResult<Vec<Event>> {
        let docs: Vec<Document> = self
            .find_all(
                "events",
                doc! { "seq": { "$gt": after } },
                Some(doc! { "seq": 1 }),
                Some(limit as i64),
            )
            .await?;
        docs.iter()
            .map(|d| {
                let kind = string(d, "kind")?;
                Ok(Event {
                    seq: int(d, "seq")?,
                    inbox_id: string(d, "inbox_id")?,
                    kind: EventKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind}")))?,
                    data: string(d, "data")?,
                })
            })
            .collect()
    }

    async fn event_bounds(&self) -> StoreResult<EventBounds> {
        let head = self
            .find("counters", doc! { "_id": "events" })
            .await?
            .and_then(|d| opt_int(&d, "n"))
            .unwrap_or(0);
        let floor = self
            .find("meta", doc! { "_id": "event_floor" })
            .await?
            .and_then(|d| opt_int(&d, "value"))
            .unwrap_or(0);
        Ok(EventBounds { floor, head })
    }

    async fn trim_events(&self, upto: i64) -> StoreResult<u64> {
        let removed = self
            .coll("events")
            .delete_many(doc! { "seq": { "$lte": upto } })
            .await
            .map_err(map_err)?
            .deleted_count;
        self.coll("meta")
            .update_one(
                doc! { "_id": "event_floor" },
                doc! { "$max": { "value": upto } },
            )
            .upsert(true)
            .await
            .map_err(map_err)?;
        Ok(removed)
    }

    async fn repair(&self) -> StoreResult<usize> {
        let cutoff = now_ms() - REPAIR_AFTER_MS;
        let stale = doc! { "unpublished": { "$exists": true }, "changed_at": { "$lt": cutoff } };
        let mut repaired = 0;
        let messages: Vec<Document> = self
            .find_all("messages", stale.clone(), None, Some(200))
            .await?;
        for d in &messages {
            // One unreadable document must not stop the pass for everything behind it.
            let m = match message_from_doc(d) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(id = ?d.get("_id"), error = %e,
                        "store repair: skipped a message document it cannot read");
                    continue;
                }
            };
            if d.contains_key("new") {
                let kind = match opt_int(d, "published_version").unwrap_or(0) {
                    0 => EventKind::MessageCreated,
                    _ => EventKind::MessageUpdated,
                };
                // Its conversation carries no mark of its own for it (`conversation_took`).
                let awaits = m
                    .reply_to
                    .as_deref()
                    .filter(|_| d.contains_key(AWAITS_TARGET));
                self.announce_new(&m, true, kind, awaits).await?;
            } else {
                self.republish_message(&m.id).await?;
            }
            repaired += 1;
        }
        repaired += self.repair_contact_copies(cutoff).await?;
        let conversations: Vec<Document> = self
            .find_all("conversations", stale, None, Some(200))
            .await?;
        for d in &conversations {
            let Ok(id) = string(d, "_id") else {
                tracing::warn!(id = ?d.get("_id"), "store repair: skipped a conversation without a string id");
                continue;
            };
            self.publish_conversation(&id).await?;
            repaired += 1;
        }
        let receipts: Vec<Document> = self
            .find_all(
                "status_events",
                doc! { "pending": { "$exists": true }, "received_at": { "$lt": cutoff } },
                None,
                Some(200),
            )
            .await?;
        for r in &receipts {
            let (Ok(inbox_id), Ok(wamid)) = (string(r, "inbox_id"), string(r, "wamid")) else {
                tracing::warn!(id = ?r.get("_id"), "store repair: skipped a receipt it cannot read");
                continue;
            };
            let by_wamid = doc! { "inbox_id": inbox_id, "wamid": wamid };
            if let Some(d) = self.find("messages", by_wamid).await? {
                if message_from_doc(&d).is_err() {
                    tracing::warn!(id = ?d.get("_id"), "store repair: skipped a message document it cannot read");
                    continue;
                }
                if let Some(after) = self.apply_pending_receipts(&d).await? {
                    self.publish_message_doc(&after).await?;
                    repaired += 1;
                }
            }
        }
        Ok(repaired)
    }
}
