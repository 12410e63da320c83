//! The production store: MongoDB through the official driver.
//!
//! No write here needs a multi-document transaction, so a standalone server works. Each
//! state change is one single-document operation — an insert guarded by a unique index,
//! an upsert, `$max`, or a compare-and-set on `version` — that also marks the document
//! `unpublished`. The event (the whole current object) is written afterwards with a seq
//! from a counter document (`$inc`), and the mark is cleared. A crash in between leaves
//! the mark, and [`Store::repair`] publishes the current state later; since events carry
//! whole objects and clients merge by version, a late or repeated event is harmless.
//!
//! Conversation summaries (last message, unread count) are recomputed from the messages
//! rather than incremented, under a monotonic generation guard, so retries and races can
//! never double-count or let an older summary overwrite a newer one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use tokio::sync::Notify;

use super::{
    ContactKey, DeliveryState, Event, EventBounds, EventKind, InboundOutcome, Inbox,
    InboxCredentials, InboxUpdate, Job, JobKind, MessageEdit, NewApiToken, NewInbound, NewInbox,
    NewOutbound, NewUser, Scope, StatusOutcome, StatusReport, Store, StoreError, StoreResult,
    StoredWebhook, UserUpdate, WebhookState, new_id, now_ms, pause_key, to_json,
};
use crate::model::ApiTokenInfo;
use crate::model::{
    Contact, Conversation, Cursor, Details, Direction, ErrorInfo, Message,
    MessageKind, MessagePage, MessagePreview, MessageStatus, Role, UNREAD_CAP, User,
};

/// Documents whose publication is this old are assumed abandoned by a crashed writer.
const REPAIR_AFTER_MS: i64 = 10_000;

pub struct MongoStore {
    db: Database,
    commits: Arc<Notify>,
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
    /// Connects, checks the server answers, and creates collections' indexes (idempotent).
    /// The database the store uses (media files live beside the messages).
    pub fn database(&self) -> &Database {
        &self.db
    }

    pub async fn connect(uri: &str) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::Unavailable(describe_connect_error(&e)))?;
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
        };
        store.create_indexes().await?;
        Ok(store)
    }

    async fn create_indexes(&self) -> StoreResult<()> {
        let unique = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name(name.to_string())
                        .build(),
                )
                .build()
        };
        let unique_when_string = |keys: Document, field: &str, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name(name.to_string())
                        .partial_filter_expression(doc! { field: { "$type": "string" } })
                        .build(),
                )
                .build()
        };
        // Marker fields exist only while there is work to finish, so a sparse index holds
        // just the flagged documents and the repair pass never scans a collection.
        let marker = |field: &str| {
            IndexModel::builder()
                .keys(doc! { field: 1 })
                .options(
                    IndexOptions::builder()
                        .sparse(true)
                        .name(field.to_string())
                        .build(),
                )
                .build()
        };
        let plain = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_string()).build())
                .build()
        };
        let plan: Vec<(&str, Vec<IndexModel>)> = vec![
            (
                "inboxes",
                vec![unique(doc! { "phone_number_id": 1 }, "by_phone_number_id")],
            ),
            (
                "contacts",
                vec![
                    unique_when_string(doc! { "inbox_id": 1, "wa_id": 1 }, "wa_id", "by_wa_id"),
                    unique_when_string(
                        doc! { "inbox_id": 1, "user_id": 1 },
                        "user_id",
                        "by_user_id",
                    ),
                ],
            ),
            (
                "conversations",
                vec![
                    unique(doc! { "contact_id": 1 }, "by_contact"),
                    plain(doc! { "last_activity_at": -1 }, "by_activity"),
                    plain(
                        doc! { "inbox_id": 1, "last_activity_at": -1 },
                        "by_inbox_activity",
                    ),
                    marker("unpublished"),
                ],
            ),
            ("events", vec![unique(doc! { "seq": 1 }, "by_seq")]),
            (
                "messages",
                vec![
                    // Inbound idempotency: an inbox is one phone_number_id.
                    unique_when_string(doc! { "inbox_id": 1, "wamid": 1 }, "wamid", "by_wamid"),
                    unique_when_string(
                        doc! { "inbox_id": 1, "client_id": 1 },
                        "client_id",
                        "by_client_id",
                    ),
                    // History pages: (conversation, timestamp, seq), as one sortable key.
                    plain(doc! { "conversation_id": 1, "sort_key": 1 }, "history"),
                    plain(doc! { "inbox_id": 1, "reply_to": 1 }, "by_reply_to"),
                    marker("unpublished"),
                ],
            ),
            (
                "status_events",
                vec![
                    plain(doc! { "inbox_id": 1, "wamid": 1 }, "by_wamid"),
                    marker("pending"),
                    plain(doc! { "received_at": 1 }, "by_received"),
                ],
            ),
            (
                "webhooks",
                vec![
                    plain(doc! { "processed_at": 1, "received_at": 1 }, "unfinished"),
                    plain(doc! { "received_at": 1 }, "by_received"),
                ],
            ),
            ("users", vec![unique(doc! { "email": 1 }, "by_email")]),
            (
                "jobs",
                vec![
                    plain(doc! { "due_at": 1 }, "by_due"),
                    plain(doc! { "kind": 1, "due_at": 1 }, "by_kind_due"),
                ],
            ),
            ("sessions", vec![plain(doc! { "user_id": 1 }, "by_user")]),
            (
                "api_tokens",
                vec![unique(doc! { "token_hash": 1 }, "by_hash")],
            ),
            (
                "inbox_members",
                vec![
                    plain(doc! { "user_id": 1 }, "by_user"),
                    plain(doc! { "inbox_id": 1 }, "by_inbox"),
                ],
            ),
        ];
        for (collection, indexes) in plan {
            self.db
                .collection::<Document>(collection)
                .create_indexes(indexes)
                .await
                .map_err(map_err)?;
        }
        Ok(())
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

/// Numbers may come back as 32- or 64-bit integers (or doubles from other writers).
fn job_id(kind: JobKind, key: &str) -> Document {
    doc! { "_id": format!("{}:{key}", kind.as_str()) }
}

/// The upsert that creates or replaces a job; any claim on it ends.
fn job_update(job: &Job) -> Document {
    doc! { "$set": {
        "kind": job.kind.as_str(),
        "key": &job.key,
        "due_at": job.due_at,
        "attempts": job.attempts,
        "owner": Bson::Null,
        "claims": 0_i64,
    } }
}

fn job_from_doc(d: &Document) -> Option<Job> {
    Some(Job {
        kind: JobKind::parse(&opt_string(d, "kind")?)?,
        key: opt_string(d, "key")?,
        due_at: opt_int(d, "due_at")?,
        attempts: opt_int(d, "attempts").unwrap_or(0),
        claims: opt_int(d, "claims").unwrap_or(0),
    })
}

fn opt_int(d: &Document, key: &str) -> Option<i64> {
    match d.get(key)? {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(f) => Some(*f as i64),
        _ => None,
    }
}

fn int(d: &Document, key: &str) -> StoreResult<i64> {
    opt_int(d, key).ok_or_else(|| StoreError::Corrupt(format!("field {key} is not a number")))
}

fn opt_string(d: &Document, key: &str) -> Option<String> {
    match d.get(key)? {
        Bson::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn string(d: &Document, key: &str) -> StoreResult<String> {
    opt_string(d, key).ok_or_else(|| StoreError::Corrupt(format!("field {key} is not a string")))
}

/// Flags are written as booleans; integers are read as C would, so a server that stores
/// booleans as numbers still reads back what was meant.
fn boolean(d: &Document, key: &str) -> bool {
    match d.get(key) {
        Some(Bson::Boolean(b)) => *b,
        Some(Bson::Int32(n)) => *n != 0,
        Some(Bson::Int64(n)) => *n != 0,
        _ => false,
    }
}

/// Adds `key` only when there is a value: absent fields keep partial unique indexes and
/// `$exists` queries honest.
fn put_opt(d: &mut Document, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        d.insert(key, v.clone());
    }
}

fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
    }
}

fn error_doc(e: &ErrorInfo) -> Document {
    let mut d = doc! { "code": e.code, "title": &e.title };
    put_opt(&mut d, "detail", &e.detail);
    d
}

fn error_from_doc(d: &Document) -> Option<ErrorInfo> {
    let e = d.get_document("error").ok()?;
    Some(ErrorInfo {
        code: opt_int(e, "code").unwrap_or(0),
        title: opt_string(e, "title").unwrap_or_default(),
        detail: opt_string(e, "detail"),
    })
}

fn delivery_from_doc(d: &Document) -> DeliveryState {
    DeliveryState {
        rank: opt_int(d, "status_rank").unwrap_or(0),
        failed: boolean(d, "failed"),
        error: error_from_doc(d),
    }
}

fn message_from_doc(d: &Document) -> StoreResult<Message> {
    let direction = if string(d, "direction")? == "out" {
        Direction::Out
    } else {
        Direction::In
    };
    let delivery = delivery_from_doc(d);
    Ok(Message {
        id: string(d, "_id")?,
        wamid: opt_string(d, "wamid"),
        conversation_id: string(d, "conversation_id")?,
        inbox_id: string(d, "inbox_id")?,
        direction,
        kind: MessageKind::from_wire(&string(d, "kind")?),
        text: opt_string(d, "text"),
        status: match direction {
            Direction::In => MessageStatus::Received,
            Direction::Out => delivery.status(),
        },
        error: delivery.error,
        timestamp: int(d, "timestamp")?,
        created_at: int(d, "created_at")?,
        client_id: opt_string(d, "client_id"),
        seq: int(d, "seq")?,
        version: int(d, "version")?,
        reply_to: opt_string(d, "reply_to"),
        details: details_from_doc(d),
    })
}

/// Details are a sub-document; one this build cannot read leaves the message readable.
fn details_from_doc(d: &Document) -> Details {
    match d.get("details") {
        Some(Bson::Document(inner)) => {
            mongodb::bson::from_document(inner.clone()).unwrap_or_default()
        }
        _ => Details::default(),
    }
}

fn details_bson(d: &Details) -> StoreResult<Bson> {
    if *d == Details::default() {
        return Ok(Bson::Null);
    }
    mongodb::bson::to_document(d)
        .map(Bson::Document)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn contact_doc(c: &Contact) -> Document {
    let mut d = doc! { "id": &c.id };
    put_opt(&mut d, "name", &c.name);
    put_opt(&mut d, "wa_id", &c.wa_id);
    put_opt(&mut d, "user_id", &c.user_id);
    d
}

fn contact_from_doc(d: &Document, id_key: &str) -> StoreResult<Contact> {
    Ok(Contact {
        id: string(d, id_key)?,
        name: opt_string(d, "name"),
        wa_id: opt_string(d, "wa_id"),
        user_id: opt_string(d, "user_id"),
    })
}

fn preview_doc(m: &Message) -> Document {
    doc! {
        "id": &m.id,
        "direction": direction_str(m.direction),
        "kind": m.kind.as_str(),
        "text": m.preview(),
        "status": m.status.as_str(),
        "timestamp": m.timestamp,
        "version": m.version,
    }
}

fn preview_from_doc(d: &Document) -> StoreResult<MessagePreview> {
    let status = string(d, "status")?;
    Ok(MessagePreview {
        id: string(d, "id")?,
        direction: if string(d, "direction")? == "out" {
            Direction::Out
        } else {
            Direction::In
        },
        kind: MessageKind::from_wire(&string(d, "kind")?),
        text: string(d, "text")?,
        status: match status.as_str() {
            "received" => MessageStatus::Received,
            "pending" => MessageStatus::Pending,
            other => MessageStatus::from_wire(other).unwrap_or(MessageStatus::Pending),
        },
        timestamp: int(d, "timestamp")?,
    })
}

fn conversation_from_doc(d: &Document) -> StoreResult<Conversation> {
    let contact = d
        .get_document("contact")
        .map_err(|_| StoreError::Corrupt("conversation without contact".into()))?;
    let last_message = match d.get_document("last_message") {
        Ok(p) => Some(preview_from_doc(p)?),
        Err(_) => None,
    };
    Ok(Conversation {
        id: string(d, "_id")?,
        inbox_id: string(d, "inbox_id")?,
        contact: contact_from_doc(contact, "id")?,
        last_message,
        unread_count: opt_int(d, "unread_count").unwrap_or(0),
        last_activity_at: int(d, "last_activity_at")?,
        last_inbound_at: opt_int(d, "last_inbound_at"),
        version: opt_int(d, "version").unwrap_or(0),
    })
}

fn inbox_from_doc(d: &Document) -> StoreResult<Inbox> {
    Ok(Inbox {
        id: string(d, "_id")?,
        phone_number_id: string(d, "phone_number_id")?,
        display_phone_number: opt_string(d, "display_phone_number"),
        name: opt_string(d, "name"),
        credentials: InboxCredentials {
            access_token: opt_string(d, "access_token"),
            app_secret: opt_string(d, "app_secret"),
            verify_token: opt_string(d, "verify_token"),
        },
    })
}

fn user_from_doc(d: &Document) -> StoreResult<User> {
    Ok(User {
        id: string(d, "_id")?,
        email: string(d, "email")?,
        name: string(d, "name")?,
        role: Role::parse(&string(d, "role")?).unwrap_or(Role::Agent),
        disabled: boolean(d, "disabled"),
        created_at: int(d, "created_at")?,
    })
}

fn token_from_doc(d: &Document) -> StoreResult<ApiTokenInfo> {
    Ok(ApiTokenInfo {
        id: string(d, "_id")?,
        name: string(d, "name")?,
        user_id: string(d, "user_id")?,
        created_at: int(d, "created_at")?,
        last_used_at: opt_int(d, "last_used_at"),
        revoked: d.contains_key("revoked_at"),
    })
}

/// `$set`/`$unset` for credentials: `None` keeps, empty clears, anything else sets.
fn credential_changes(c: &InboxCredentials, set: &mut Document, unset: &mut Document) {
    for (field, value) in [
        ("access_token", &c.access_token),
        ("app_secret", &c.app_secret),
        ("verify_token", &c.verify_token),
    ] {
        match value.as_deref().map(str::trim) {
            None => {}
            Some("") => {
                unset.insert(field, "");
            }
            Some(v) => {
                set.insert(field, v);
            }
        }
    }
}

/// History order as one string — zero-padded timestamp, then seq — so that a page is a
/// single indexed range however the server plans `$or` queries. Timestamps before 1970
/// do not occur; both parts are padded to the width of `i64::MAX`.
fn sort_key(timestamp: i64, seq: i64) -> String {
    format!("{:019}:{:019}", timestamp.max(0), seq.max(0))
}

/// Receipts are unique per (inbox, wamid, status, timestamp, error code): that tuple is
/// the document id, so the primary key does the deduplication.
fn receipt_id(r: &StatusReport) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        r.inbox_id,
        r.wamid,
        r.status,
        r.timestamp,
        r.error.as_ref().map(|e| e.code).unwrap_or(0)
    )
}

// ---- write helpers -----------------------------------------------------------------------

impl MongoStore {
    async fn find(&self, coll: &str, filter: Document) -> StoreResult<Option<Document>> {
        self.coll(coll).find_one(filter).await.map_err(map_err)
    }

    /// The documents of `coll` matching `filter`, in `sort` order, at most `limit`.
    async fn find_all(
        &self,
        coll: &str,
        filter: Document,
        sort: Option<Document>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<Document>> {
        let collection = self.coll(coll);
        let mut find = collection.find(filter);
        if let Some(sort) = sort {
            find = find.sort(sort);
        }
        if let Some(limit) = limit {
            find = find.limit(limit);
        }
        find.await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)
    }

    async fn message_by_id(&self, id: &str) -> StoreResult<Option<Message>> {
        match self.find("messages", doc! { "_id": id }).await? {
            Some(d) => Ok(Some(message_from_doc(&d)?)),
            None => Ok(None),
        }
    }

    async fn conversation_by_id(&self, id: &str) -> StoreResult<Option<Conversation>> {
        match self.find("conversations", doc! { "_id": id }).await? {
            Some(d) => Ok(Some(conversation_from_doc(&d)?)),
            None => Ok(None),
        }
    }

    async fn append_event(
        &self,
        inbox_id: &str,
        kind: EventKind,
        data: String,
    ) -> StoreResult<i64> {
        let seq = self.next("events", 1).await?;
        self.coll("events")
            .insert_one(doc! {
                "_id": seq,
                "seq": seq,
                "inbox_id": inbox_id,
                "kind": kind.as_str(),
                "data": data,
                "created_at": now_ms(),
            })
            .await
            .map_err(map_err)?;
        self.commits.notify_one();
        Ok(seq)
    }

    /// Clears the unpublished mark, unless the document changed again meanwhile (then its
    /// own writer clears it).
    async fn clear_mark(&self, coll: &str, id: &str, version: i64) -> StoreResult<()> {
        self.coll(coll)
            .update_one(
                doc! { "_id": id, "version": version },
                doc! {
                    "$unset": { "unpublished": "", "changed_at": "" },
                    "$max": { "published_version": version },
                },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Appends the message's event and brings the conversation's preview of it up to
    /// date, then clears the message's unpublished mark.
    async fn publish_message(&self, id: &str) -> StoreResult<Message> {
        let d = self
            .find("messages", doc! { "_id": id })
            .await?
            .ok_or(StoreError::NotFound("message"))?;
        let m = message_from_doc(&d)?;
        let kind = if opt_int(&d, "published_version").unwrap_or(0) == 0 {
            EventKind::MessageCreated
        } else {
            EventKind::MessageUpdated
        };
        self.append_event(&m.inbox_id, kind, to_json(&m)?).await?;
        if self.sync_preview(&m).await? {
            self.publish_conversation(&m.conversation_id).await?;
        }
        self.clear_mark("messages", &m.id, m.version).await?;
        Ok(m)
    }

    /// Folds a new message into its conversation: activity, the list's last message
    /// (if it sorts last, by timestamp then seq) and the unread count. Every step is
    /// idempotent, so a repair may run it again. Returns whether the summary changed.
    async fn conversation_took(&self, m: &Message) -> StoreResult<bool> {
        let conversations = self.coll("conversations");
        let inbound = m.direction == Direction::In;
        let mut activity = doc! {
            "last_activity_at": if inbound { m.timestamp.saturating_mul(1000) } else { m.created_at },
        };
        if inbound {
            activity.insert("last_inbound_at", m.timestamp);
        }
        conversations
            .update_one(
                doc! { "_id": &m.conversation_id },
                doc! { "$max": activity },
            )
            .await
            .map_err(map_err)?;
        let took_last = conversations
            .update_one(
                doc! {
                    "_id": &m.conversation_id,
                    "$or": [
                        { "last_ts": { "$lt": m.timestamp } },
                        { "last_ts": m.timestamp, "last_seq": { "$lt": m.seq } },
                    ],
                },
                doc! {
                    "$set": {
                        "last_message": preview_doc(m),
                        "last_ts": m.timestamp,
                        "last_seq": m.seq,
                        "unpublished": true,
                        "changed_at": now_ms(),
                    },
                    "$inc": { "version": 1 },
                },
            )
            .await
            .map_err(map_err)?
            .matched_count
            == 1;
        let recounted = inbound && self.recount_unread(&m.conversation_id).await?;
        Ok(took_last || recounted)
    }

    /// Publishes a newly stored message after folding it into its conversation: the
    /// message's event first, then the conversation's, then the message is marked done.
    async fn announce_new(&self, m: &Message, conversation_changed: bool) -> StoreResult<Message> {
        let took = self.conversation_took(m).await?;
        let m = self.publish_message(&m.id).await?;
        if took || conversation_changed {
            self.publish_conversation(&m.conversation_id).await?;
        }
        self.coll("messages")
            .update_one(doc! { "_id": &m.id }, doc! { "$unset": { "new": "" } })
            .await
            .map_err(map_err)?;
        Ok(m)
    }

    /// Keeps the list's preview in step when the last message changes (its ticks). The
    /// version guard stops an older copy overwriting a newer one.
    async fn sync_preview(&self, m: &Message) -> StoreResult<bool> {
        let result = self
            .coll("conversations")
            .update_one(
                doc! {
                    "_id": &m.conversation_id,
                    "last_message.id": &m.id,
                    "last_message.version": { "$lt": m.version },
                },
                doc! {
                    "$set": {
                        "last_message": preview_doc(m),
                        "unpublished": true,
                        "changed_at": now_ms(),
                    },
                    "$inc": { "version": 1 },
                },
            )
            .await
            .map_err(map_err)?;
        Ok(result.matched_count == 1)
    }

    /// Recounts unread inbound messages after the read mark, up to [`UNREAD_CAP`], under a
    /// generation guard: a count that started later always wins, so concurrent recounts
    /// cannot leave a stale number. Returns whether the count changed.
    async fn recount_unread(&self, conversation_id: &str) -> StoreResult<bool> {
        let generation = self.next("summaries", 1).await?;
        let conv = self
            .find("conversations", doc! { "_id": conversation_id })
            .await?
            .ok_or(StoreError::NotFound("conversation"))?;
        let read_upto = opt_int(&conv, "read_upto_seq").unwrap_or(0);
        let unread = self
            .coll("messages")
            .count_documents(doc! {
                "conversation_id": conversation_id,
                "direction": "in",
                "seq": { "$gt": read_upto },
            })
            .limit(UNREAD_CAP as u64)
            .await
            .map_err(map_err)? as i64;
        if opt_int(&conv, "unread_count") == Some(unread) {
            return Ok(false);
        }
        let result = self
            .coll("conversations")
            .update_one(
                doc! { "_id": conversation_id, "unread_gen": { "$lt": generation } },
                doc! {
                    "$set": {
                        "unread_count": unread,
                        "unread_gen": generation,
                        "unpublished": true,
                        "changed_at": now_ms(),
                    },
                    "$inc": { "version": 1 },
                },
            )
            .await
            .map_err(map_err)?;
        Ok(result.matched_count == 1)
    }

    async fn publish_conversation(&self, conversation_id: &str) -> StoreResult<()> {
        let d = self
            .find("conversations", doc! { "_id": conversation_id })
            .await?
            .ok_or(StoreError::NotFound("conversation"))?;
        let c = conversation_from_doc(&d)?;
        self.append_event(&c.inbox_id, EventKind::ConversationUpdated, to_json(&c)?)
            .await?;
        self.clear_mark("conversations", &c.id, c.version).await
    }

    /// Compare-and-set of a message's delivery state on its version, retried on races.
    /// Returns whether the state changed.
    async fn update_delivery(
        &self,
        message_id: &str,
        change: impl Fn(&DeliveryState) -> DeliveryState,
    ) -> StoreResult<bool> {
        for _ in 0..20 {
            let d = self
                .find("messages", doc! { "_id": message_id })
                .await?
                .ok_or(StoreError::NotFound("message"))?;
            let before = delivery_from_doc(&d);
            let after = change(&before);
            if after == before {
                return Ok(false);
            }
            let mut set = doc! {
                "status_rank": after.rank,
                "failed": after.failed,
                "unpublished": true,
                "changed_at": now_ms(),
            };
            if let Some(e) = &after.error {
                set.insert("error", error_doc(e));
            }
            let result = self
                .coll("messages")
                .update_one(
                    doc! { "_id": message_id, "version": int(&d, "version")? },
                    doc! { "$set": set, "$inc": { "version": 1 } },
                )
                .await
                .map_err(map_err)?;
            if result.matched_count == 1 {
                return Ok(true);
            }
        }
        Err(StoreError::Unavailable(format!(
            "message {message_id} is being changed too often to update"
        )))
    }

    /// Folds every not-yet-applied receipt for the message's wamid into its state.
    /// Links and applies a stored, pending receipt: by wamid, else through its callback id.
    async fn apply_receipt(&self, report: &StatusReport) -> StoreResult<StatusOutcome> {
        // The receipt is stored before the message is looked up, and `mark_accepted`
        // stores the wamid before it looks for receipts: whichever runs second sees the
        // other, so no receipt is stranded.
        let by_wamid = doc! { "inbox_id": &report.inbox_id, "wamid": &report.wamid };
        let mut message = self.find("messages", by_wamid.clone()).await?;
        let mut linked = false;
        if message.is_none()
            && let Some(data) = &report.callback_data
            && let (our_id, attempt) = super::parse_callback_data(data)
            && let Some(current) = self
                .message_by_id(our_id)
                .await?
                .filter(|m| super::receipt_claims(m, &report.inbox_id, attempt))
        {
            let result = self
                .coll("messages")
                .update_one(
                    doc! {
                        "_id": our_id,
                        "inbox_id": &report.inbox_id,
                        "direction": "out",
                        "wamid": { "$exists": false },
                        // An agent's retry in between starts a new attempt.
                        "version": current.version,
                    },
                    doc! {
                        "$set": { "wamid": &report.wamid, "unpublished": true, "changed_at": now_ms() },
                        "$inc": { "version": 1 },
                    },
                )
                .await;
            match result {
                Ok(r) if r.matched_count == 1 => linked = true,
                Ok(_) => {}
                Err(e) if is_duplicate(&e) => {}
                Err(e) => return Err(map_err(e)),
            }
            message = self.find("messages", by_wamid).await?;
        }
        let Some(d) = message else {
            return Ok(StatusOutcome::Parked);
        };
        let m = message_from_doc(&d)?;
        if m.direction == Direction::In {
            return Ok(StatusOutcome::Unchanged);
        }
        let changed = self.apply_pending_receipts(&m).await?;
        if changed || linked {
            let m = self.publish_message(&m.id).await?;
            Ok(StatusOutcome::Applied(Box::new(m)))
        } else {
            Ok(StatusOutcome::Unchanged)
        }
    }

    async fn apply_pending_receipts(&self, m: &Message) -> StoreResult<bool> {
        let Some(wamid) = &m.wamid else {
            return Ok(false);
        };
        let receipts: Vec<Document> = self
            .find_all(
                "status_events",
                doc! {
                    "inbox_id": &m.inbox_id,
                    "wamid": wamid,
                    "pending": { "$exists": true },
                },
                Some(doc! { "timestamp": 1, "received_at": 1 }),
                None,
            )
            .await?;
        if receipts.is_empty() {
            return Ok(false);
        }
        let steps: Vec<(MessageStatus, Option<ErrorInfo>)> = receipts
            .iter()
            .filter_map(|r| {
                let status = MessageStatus::from_wire(&opt_string(r, "status")?)?;
                Some((status, error_from_doc(r)))
            })
            .collect();
        let changed = self
            .update_delivery(&m.id, |state| state.fold(&steps))
            .await?;
        let ids: Vec<Bson> = receipts
            .iter()
            .filter_map(|r| r.get("_id").cloned())
            .collect();
        self.coll("status_events")
            .update_many(
                doc! { "_id": { "$in": ids } },
                doc! { "$set": { "applied_at": now_ms() }, "$unset": { "pending": "" } },
            )
            .await
            .map_err(map_err)?;
        Ok(changed)
    }

    /// Finds the contact by BSUID, then by phone, filling in whatever the payload adds.
    /// Returns its id and whether it changed (so the conversation's copy is refreshed).
    async fn upsert_contact(
        &self,
        inbox_id: &str,
        key: &ContactKey,
    ) -> StoreResult<(String, bool)> {
        let contacts = self.coll("contacts");
        for _ in 0..3 {
            let mut found = None;
            for (field, value) in [("user_id", &key.user_id), ("wa_id", &key.wa_id)] {
                if let (None, Some(v)) = (&found, value) {
                    found = self
                        .find("contacts", doc! { "inbox_id": inbox_id, field: v })
                        .await?;
                }
            }
            if let Some(existing) = found {
                let id = string(&existing, "_id")?;
                let mut changed = false;
                for (field, value) in [("user_id", &key.user_id), ("wa_id", &key.wa_id)] {
                    if let Some(v) = value
                        && existing.get(field).is_none()
                    {
                        // Another contact may own this id; then it stays where it is.
                        match contacts
                            .update_one(
                                doc! { "_id": &id, field: { "$exists": false } },
                                doc! { "$set": { field: v } },
                            )
                            .await
                        {
                            Ok(r) => changed |= r.matched_count == 1,
                            Err(e) if is_duplicate(&e) => {}
                            Err(e) => return Err(map_err(e)),
                        }
                    }
                }
                if let Some(name) = key.name.as_deref().filter(|n| !n.trim().is_empty())
                    && opt_string(&existing, "name").as_deref() != Some(name)
                {
                    contacts
                        .update_one(doc! { "_id": &id }, doc! { "$set": { "name": name } })
                        .await
                        .map_err(map_err)?;
                    changed = true;
                }
                if changed {
                    self.embed_contact(&id).await?;
                }
                return Ok((id, changed));
            }
            if key.wa_id.is_none() && key.user_id.is_none() {
                return Err(StoreError::Conflict(
                    "a contact needs a wa_id or a user_id".into(),
                ));
            }
            let id = new_id();
            let mut d = doc! { "_id": &id, "inbox_id": inbox_id, "created_at": now_ms() };
            put_opt(&mut d, "wa_id", &key.wa_id);
            put_opt(&mut d, "user_id", &key.user_id);
            put_opt(&mut d, "name", &key.name);
            match contacts.insert_one(d).await {
                Ok(_) => return Ok((id, false)),
                // A concurrent writer created it first: look again.
                Err(e) if is_duplicate(&e) => continue,
                Err(e) => return Err(map_err(e)),
            }
        }
        Err(StoreError::Unavailable("contact upsert kept racing".into()))
    }

    /// Copies the contact into its conversation, which the list shows.
    async fn embed_contact(&self, contact_id: &str) -> StoreResult<()> {
        let contact = self
            .find("contacts", doc! { "_id": contact_id })
            .await?
            .ok_or(StoreError::NotFound("contact"))?;
        self.coll("conversations")
            .update_one(
                doc! { "contact_id": contact_id },
                doc! {
                    "$set": {
                        "contact": contact_doc(&contact_from_doc(&contact, "_id")?),
                        "unpublished": true,
                        "changed_at": now_ms(),
                    },
                    "$inc": { "version": 1 },
                },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn ensure_conversation(&self, inbox_id: &str, contact_id: &str) -> StoreResult<String> {
        for _ in 0..3 {
            if let Some(d) = self
                .find("conversations", doc! { "contact_id": contact_id })
                .await?
            {
                return string(&d, "_id");
            }
            let contact = self
                .find("contacts", doc! { "_id": contact_id })
                .await?
                .ok_or(StoreError::NotFound("contact"))?;
            let id = new_id();
            let now = now_ms();
            let result = self
                .coll("conversations")
                .insert_one(doc! {
                    "_id": &id,
                    "inbox_id": inbox_id,
                    "contact_id": contact_id,
                    "contact": contact_doc(&contact_from_doc(&contact, "_id")?),
                    "last_message": Bson::Null,
                    "unread_count": 0i64,
                    "unread_gen": 0i64,
                    "read_upto_seq": 0i64,
                    "last_ts": -1i64,
                    "last_seq": -1i64,
                    "version": 0i64,
                    // Activity comes from messages only, so a replayed old webhook does
                    // not float its conversation to the top.
                    "last_activity_at": 0i64,
                    "created_at": now,
                })
                .await;
            match result {
                Ok(_) => return Ok(id),
                Err(e) if is_duplicate(&e) => continue,
                Err(e) => return Err(map_err(e)),
            }
        }
        Err(StoreError::Unavailable(
            "conversation upsert kept racing".into(),
        ))
    }

    /// One side of the memberships matching `filter`, sorted.
    async fn membership_ids(&self, filter: Document, field: &str) -> StoreResult<Vec<String>> {
        let docs: Vec<Document> = self.find_all("inbox_members", filter, None, None).await?;
        let mut ids = docs
            .iter()
            .map(|d| string(d, field))
            .collect::<StoreResult<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    }

    fn new_message_doc(m: &Message, raw: Option<&str>) -> Document {
        let mut d = doc! {
            "_id": &m.id,
            "seq": m.seq,
            "inbox_id": &m.inbox_id,
            "conversation_id": &m.conversation_id,
            "direction": direction_str(m.direction),
            "kind": m.kind.as_str(),
            "status_rank": 0i64,
            "failed": false,
            "timestamp": m.timestamp,
            "sort_key": sort_key(m.timestamp, m.seq),
            "created_at": m.created_at,
            "version": m.version,
            "published_version": 0i64,
            "unpublished": true,
            // Until its conversation has taken it in (see `conversation_took`).
            "new": true,
            "changed_at": now_ms(),
        };
        put_opt(&mut d, "wamid", &m.wamid);
        put_opt(&mut d, "client_id", &m.client_id);
        put_opt(&mut d, "text", &m.text);
        put_opt(&mut d, "reply_to", &m.reply_to);
        if let Some(raw) = raw {
            d.insert("raw", raw);
        }
        if let Ok(details @ Bson::Document(_)) = details_bson(&m.details) {
            d.insert("details", details);
        }
        d
    }
}

#[async_trait]
impl Store for MongoStore {
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

    async fn ensure_inbox(
        &self,
        phone_number_id: &str,
        display_phone_number: Option<&str>,
    ) -> StoreResult<Inbox> {
        // Find, else insert; a concurrent insert shows up as a duplicate key and is read back.
        if self
            .find("inboxes", doc! { "phone_number_id": phone_number_id })
            .await?
            .is_none()
        {
            let mut d = doc! {
                "_id": new_id(),
                "phone_number_id": phone_number_id,
                "created_at": now_ms(),
            };
            if let Some(display) = display_phone_number {
                d.insert("display_phone_number", display);
            }
            match self.coll("inboxes").insert_one(d).await {
                Ok(_) => {}
                Err(e) if is_duplicate(&e) => {}
                Err(e) => return Err(map_err(e)),
            }
        } else if let Some(display) = display_phone_number {
            self.coll("inboxes")
                .update_one(
                    doc! { "phone_number_id": phone_number_id },
                    doc! { "$set": { "display_phone_number": display } },
                )
                .await
                .map_err(map_err)?;
        }
        let d = self
            .find("inboxes", doc! { "phone_number_id": phone_number_id })
            .await?
            .ok_or(StoreError::NotFound("inbox"))?;
        inbox_from_doc(&d)
    }

    async fn inbox_by_phone_number_id(&self, phone_number_id: &str) -> StoreResult<Option<Inbox>> {
        match self
            .find("inboxes", doc! { "phone_number_id": phone_number_id })
            .await?
        {
            Some(d) => Ok(Some(inbox_from_doc(&d)?)),
            None => Ok(None),
        }
    }

    async fn inbox(&self, id: &str) -> StoreResult<Option<Inbox>> {
        match self.find("inboxes", doc! { "_id": id }).await? {
            Some(d) => Ok(Some(inbox_from_doc(&d)?)),
            None => Ok(None),
        }
    }

    async fn list_inboxes(&self) -> StoreResult<Vec<Inbox>> {
        let docs: Vec<Document> = self
            .find_all("inboxes", doc! {}, Some(doc! { "created_at": 1 }), None)
            .await?;
        docs.iter().map(inbox_from_doc).collect()
    }

    async fn create_inbox(&self, inbox: NewInbox) -> StoreResult<Inbox> {
        let id = new_id();
        let mut d = doc! {
            "_id": &id,
            "phone_number_id": &inbox.phone_number_id,
            "created_at": now_ms(),
        };
        put_opt(&mut d, "display_phone_number", &inbox.display_phone_number);
        put_opt(&mut d, "name", &inbox.name);
        let mut unset = doc! {};
        credential_changes(&inbox.credentials, &mut d, &mut unset);
        match self.coll("inboxes").insert_one(d).await {
            Ok(_) => {}
            Err(e) if is_duplicate(&e) => {
                return Err(StoreError::Conflict(format!(
                    "an inbox for phone number id {} already exists",
                    inbox.phone_number_id
                )));
            }
            Err(e) => return Err(map_err(e)),
        }
        self.inbox(&id).await?.ok_or(StoreError::NotFound("inbox"))
    }

    async fn update_inbox(&self, id: &str, update: InboxUpdate) -> StoreResult<Inbox> {
        let mut set = doc! {};
        let mut unset = doc! {};
        for (field, value) in [
            ("name", &update.name),
            ("display_phone_number", &update.display_phone_number),
        ] {
            match value.as_deref().map(str::trim) {
                None => {}
                Some("") => {
                    unset.insert(field, "");
                }
                Some(v) => {
                    set.insert(field, v);
                }
            }
        }
        credential_changes(&update.credentials, &mut set, &mut unset);
        let mut change = doc! {};
        if !set.is_empty() {
            change.insert("$set", set);
        }
        if !unset.is_empty() {
            change.insert("$unset", unset);
        }
        if self.inbox(id).await?.is_none() {
            return Err(StoreError::NotFound("inbox"));
        }
        if !change.is_empty() {
            self.coll("inboxes")
                .update_one(doc! { "_id": id }, change)
                .await
                .map_err(map_err)?;
        }
        self.inbox(id).await?.ok_or(StoreError::NotFound("inbox"))
    }

    async fn set_member(&self, inbox_id: &str, user_id: &str, member: bool) -> StoreResult<()> {
        if self.inbox(inbox_id).await?.is_none() {
            return Err(StoreError::NotFound("inbox"));
        }
        if self.user(user_id).await?.is_none() {
            return Err(StoreError::NotFound("user"));
        }
        // One document per membership, keyed by the pair, so adding twice is harmless.
        let key = format!("{inbox_id}|{user_id}");
        let members = self.coll("inbox_members");
        if member {
            match members
                .insert_one(doc! { "_id": &key, "inbox_id": inbox_id, "user_id": user_id })
                .await
            {
                Ok(_) => {}
                Err(e) if is_duplicate(&e) => {}
                Err(e) => return Err(map_err(e)),
            }
        } else {
            members
                .delete_one(doc! { "_id": &key })
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn inbox_members(&self, inbox_id: &str) -> StoreResult<Vec<String>> {
        self.membership_ids(doc! { "inbox_id": inbox_id }, "user_id")
            .await
    }

    async fn user_inboxes(&self, user_id: &str) -> StoreResult<Vec<String>> {
        self.membership_ids(doc! { "user_id": user_id }, "inbox_id")
            .await
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let id = new_id();
        let inserted = self
            .coll("users")
            .insert_one(doc! {
                "_id": &id,
                "email": &user.email,
                "name": &user.name,
                "role": user.role.as_str(),
                "password_hash": &user.password_hash,
                "disabled": false,
                "created_at": now_ms(),
            })
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_duplicate(&e) => {
                return Err(StoreError::Conflict(format!(
                    "a user with email {} exists",
                    user.email
                )));
            }
            Err(e) => return Err(map_err(e)),
        }
        self.user(&id).await?.ok_or(StoreError::NotFound("user"))
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        match self.find("users", doc! { "_id": id }).await? {
            Some(d) => Ok(Some(user_from_doc(&d)?)),
            None => Ok(None),
        }
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        match self.find("users", doc! { "email": email }).await? {
            Some(d) => Ok(Some((user_from_doc(&d)?, string(&d, "password_hash")?))),
            None => Ok(None),
        }
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let docs: Vec<Document> = self
            .find_all("users", doc! {}, Some(doc! { "email": 1 }), None)
            .await?;
        docs.iter().map(user_from_doc).collect()
    }

    async fn update_user(&self, id: &str, update: UserUpdate) -> StoreResult<User> {
        let mut set = doc! {};
        if let Some(name) = &update.name {
            set.insert("name", name);
        }
        if let Some(role) = update.role {
            set.insert("role", role.as_str());
        }
        if let Some(disabled) = update.disabled {
            set.insert("disabled", disabled);
        }
        if let Some(hash) = &update.password_hash {
            set.insert("password_hash", hash);
        }
        if self.user(id).await?.is_none() {
            return Err(StoreError::NotFound("user"));
        }
        if !set.is_empty() {
            self.coll("users")
                .update_one(doc! { "_id": id }, doc! { "$set": set })
                .await
                .map_err(map_err)?;
        }
        self.user(id).await?.ok_or(StoreError::NotFound("user"))
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let sessions = self.coll("sessions");
        let now = now_ms();
        // Expired sessions go whenever a new one starts: no sweeper needed.
        sessions
            .delete_many(doc! { "expires_at": { "$lte": now } })
            .await
            .map_err(map_err)?;
        sessions
            .insert_one(doc! {
                "_id": token_hash,
                "user_id": user_id,
                "created_at": now,
                "expires_at": expires_at,
            })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &str) -> StoreResult<Option<User>> {
        let Some(s) = self
            .find(
                "sessions",
                doc! { "_id": token_hash, "expires_at": { "$gt": now_ms() } },
            )
            .await?
        else {
            return Ok(None);
        };
        self.user(&string(&s, "user_id")?).await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        self.coll("sessions")
            .delete_one(doc! { "_id": token_hash })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        self.coll("sessions")
            .delete_many(doc! { "user_id": user_id })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn create_api_token(&self, token: NewApiToken) -> StoreResult<ApiTokenInfo> {
        if self.user(&token.user_id).await?.is_none() {
            return Err(StoreError::NotFound("user"));
        }
        let id = new_id();
        self.coll("api_tokens")
            .insert_one(doc! {
                "_id": &id,
                "name": &token.name,
                "user_id": &token.user_id,
                "token_hash": &token.token_hash,
                "created_at": now_ms(),
            })
            .await
            .map_err(map_err)?;
        let d = self
            .find("api_tokens", doc! { "_id": &id })
            .await?
            .ok_or(StoreError::NotFound("token"))?;
        token_from_doc(&d)
    }

    async fn api_token_user(&self, token_hash: &str) -> StoreResult<Option<(ApiTokenInfo, User)>> {
        let Some(d) = self
            .find("api_tokens", doc! { "token_hash": token_hash })
            .await?
        else {
            return Ok(None);
        };
        let token = token_from_doc(&d)?;
        if token.revoked {
            return Ok(None);
        }
        let Some(user) = self.user(&token.user_id).await? else {
            return Ok(None);
        };
        let now = now_ms();
        if super::token_use_due(token.last_used_at, now) {
            self.coll("api_tokens")
                .update_one(
                    doc! { "_id": &token.id },
                    doc! { "$set": { "last_used_at": now } },
                )
                .await
                .map_err(map_err)?;
        }
        Ok(Some((token, user)))
    }

    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenInfo>> {
        let docs: Vec<Document> = self
            .find_all("api_tokens", doc! {}, Some(doc! { "created_at": 1 }), None)
            .await?;
        docs.iter().map(token_from_doc).collect()
    }

    async fn revoke_api_token(&self, id: &str) -> StoreResult<ApiTokenInfo> {
        self.coll("api_tokens")
            .update_one(
                doc! { "_id": id, "revoked_at": { "$exists": false } },
                doc! { "$set": { "revoked_at": now_ms() } },
            )
            .await
            .map_err(map_err)?;
        let d = self
            .find("api_tokens", doc! { "_id": id })
            .await?
            .ok_or(StoreError::NotFound("token"))?;
        token_from_doc(&d)
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self
            .find("settings", doc! { "_id": key })
            .await?
            .and_then(|d| opt_string(&d, "value")))
    }

    async fn set_setting(&self, key: &str, value: Option<&str>) -> StoreResult<()> {
        let settings = self.coll("settings");
        match value {
            Some(v) => {
                settings
                    .update_one(doc! { "_id": key }, doc! { "$set": { "value": v } })
                    .upsert(true)
                    .await
                    .map_err(map_err)?;
            }
            None => {
                settings
                    .delete_one(doc! { "_id": key })
                    .await
                    .map_err(map_err)?;
            }
        }
        Ok(())
    }

    async fn set_sending_paused(&self, inbox_id: &str, reason: Option<&str>) -> StoreResult<bool> {
        // The setting is written before its event: a crash between the two leaves the
        // pause in force and shown on the next page load, which is the safe side.
        let key = pause_key(inbox_id);
        if self.setting(&key).await?.as_deref() == reason {
            return Ok(false);
        }
        self.set_setting(&key, reason).await?;
        let status = super::inbox_status(inbox_id, reason)?;
        self.append_event(inbox_id, EventKind::InboxUpdated, status)
            .await?;
        Ok(true)
    }

    async fn save_webhook(&self, id: &str, body: &[u8]) -> StoreResult<WebhookState> {
        let body = Binary {
            subtype: BinarySubtype::Generic,
            bytes: body.to_vec(),
        };
        let inserted = self
            .coll("webhooks")
            .insert_one(doc! { "_id": id, "body": body, "received_at": now_ms() })
            .await;
        match inserted {
            Ok(_) => Ok(WebhookState::New),
            Err(e) if is_duplicate(&e) => {
                let d = self
                    .find("webhooks", doc! { "_id": id })
                    .await?
                    .ok_or(StoreError::NotFound("webhook"))?;
                Ok(if d.contains_key("processed_at") {
                    WebhookState::Done
                } else {
                    WebhookState::Pending
                })
            }
            Err(e) => Err(map_err(e)),
        }
    }

    async fn finish_webhook(&self, id: &str, error: Option<&str>) -> StoreResult<()> {
        let mut set = doc! { "processed_at": now_ms() };
        if let Some(e) = error {
            set.insert("error", e);
        }
        self.coll("webhooks")
            .update_one(
                doc! { "_id": id, "processed_at": { "$exists": false } },
                doc! { "$set": set },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn unfinished_webhooks(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<StoredWebhook>> {
        let docs: Vec<Document> = self
            .find_all(
                "webhooks",
                doc! { "processed_at": { "$exists": false }, "_id": { "$gt": after.unwrap_or("") } },
                Some(doc! { "_id": 1 }),
                Some(limit as i64),
            )
            .await?;
        docs.iter()
            .map(|d| {
                Ok(StoredWebhook {
                    id: string(d, "_id")?,
                    body: match d.get("body") {
                        Some(Bson::Binary(b)) => b.bytes.clone(),
                        _ => return Err(StoreError::Corrupt("webhook body is not binary".into())),
                    },
                })
            })
            .collect()
    }

    async fn trim_received(&self, before: i64) -> StoreResult<(u64, u64)> {
        let old = doc! { "received_at": { "$lt": before } };
        let webhooks = self
            .coll("webhooks")
            .delete_many(old.clone())
            .await
            .map_err(map_err)?;
        let receipts = self
            .coll("status_events")
            .delete_many(old)
            .await
            .map_err(map_err)?;
        Ok((webhooks.deleted_count, receipts.deleted_count))
    }

    async fn record_inbound(&self, msg: NewInbound) -> StoreResult<InboundOutcome> {
        let existing = doc! { "inbox_id": &msg.inbox_id, "wamid": &msg.wamid };
        if self.find("messages", existing.clone()).await?.is_some() {
            return Ok(InboundOutcome::Duplicate);
        }
        let (contact_id, contact_changed) =
            self.upsert_contact(&msg.inbox_id, &msg.contact).await?;
        let conversation_id = self.ensure_conversation(&msg.inbox_id, &contact_id).await?;
        let m = msg.message(conversation_id, self.next("messages", 1).await?, now_ms());
        match self
            .coll("messages")
            .insert_one(Self::new_message_doc(&m, Some(&msg.raw)))
            .await
        {
            Ok(_) => {}
            // Lost a race with the same delivery: the winner publishes.
            Err(e) if is_duplicate(&e) => return Ok(InboundOutcome::Duplicate),
            Err(e) => return Err(map_err(e)),
        }
        let m = self.announce_new(&m, contact_changed).await?;
        Ok(InboundOutcome::Created(Box::new(m)))
    }

    async fn record_status(&self, report: StatusReport) -> StoreResult<StatusOutcome> {
        let known = MessageStatus::from_wire(&report.status).is_some();
        let mut receipt = doc! {
            "_id": receipt_id(&report),
            "inbox_id": &report.inbox_id,
            "wamid": &report.wamid,
            "status": &report.status,
            "timestamp": report.timestamp,
            "raw": &report.raw,
            "received_at": now_ms(),
        };
        if known {
            receipt.insert("pending", true);
        } else {
            // Kept for audit only; there is nothing to apply.
            receipt.insert("applied_at", now_ms());
        }
        if let Some(e) = &report.error {
            receipt.insert("error", error_doc(e));
        }
        put_opt(&mut receipt, "callback_data", &report.callback_data);
        let id = receipt_id(&report);
        // A redelivery is a duplicate, unless the first delivery stored the receipt and
        // died before applying it (it is still pending): then this one finishes the job,
        // and reports a duplicate only if that changes nothing.
        let redelivered = match self.coll("status_events").insert_one(receipt).await {
            Ok(_) => false,
            Err(e) if is_duplicate(&e) => {
                let pending = self
                    .find(
                        "status_events",
                        doc! { "_id": &id, "pending": { "$exists": true } },
                    )
                    .await?
                    .is_some();
                if !pending {
                    return Ok(StatusOutcome::Duplicate);
                }
                true
            }
            Err(e) => return Err(map_err(e)),
        };
        if !known {
            return Ok(StatusOutcome::Unrecognised);
        }
        let outcome = self.apply_receipt(&report).await?;
        Ok(match outcome {
            StatusOutcome::Applied(m) => StatusOutcome::Applied(m),
            _ if redelivered => StatusOutcome::Duplicate,
            other => other,
        })
    }

    async fn create_outbound(&self, msg: NewOutbound) -> StoreResult<(Message, bool)> {
        let conv = self
            .find("conversations", doc! { "_id": &msg.conversation_id })
            .await?
            .ok_or(StoreError::NotFound("conversation"))?;
        let inbox_id = string(&conv, "inbox_id")?;
        let by_client = doc! { "inbox_id": &inbox_id, "client_id": &msg.client_id };
        let same = |d: Document| msg.repeated(message_from_doc(&d)?);
        if let Some(d) = self.find("messages", by_client.clone()).await? {
            return same(d);
        }
        let created_at = now_ms();
        let m = msg.message(inbox_id, self.next("messages", 1).await?, created_at);
        // The job goes first: without a transaction, a crash between the two writes must
        // leave a job without a message (it ends itself), never a message without a job.
        let job = super::first_send_job(&m.id, created_at);
        self.schedule_job(job).await?;
        match self
            .coll("messages")
            .insert_one(Self::new_message_doc(&m, None))
            .await
        {
            Ok(_) => {}
            Err(e) if is_duplicate(&e) => {
                self.finish_job(JobKind::Send, &m.id).await?;
                let d = self
                    .find("messages", by_client)
                    .await?
                    .ok_or_else(|| StoreError::Conflict(e.to_string()))?;
                return same(d);
            }
            Err(e) => return Err(map_err(e)),
        }
        let m = self.announce_new(&m, false).await?;
        Ok((m, true))
    }

    async fn mark_accepted(&self, message_id: &str, wamid: &str) -> StoreResult<Message> {
        let m = self
            .message_by_id(message_id)
            .await?
            .ok_or(StoreError::NotFound("message"))?;
        let mut changed = false;
        if super::wamid_to_set(&m, wamid)? {
            let result = self
                .coll("messages")
                .update_one(
                    doc! { "_id": message_id, "wamid": { "$exists": false } },
                    doc! {
                        "$set": { "wamid": wamid, "unpublished": true, "changed_at": now_ms() },
                        "$inc": { "version": 1 },
                    },
                )
                .await
                .map_err(map_err)?;
            changed = result.matched_count == 1;
            // Otherwise a receipt's callback data linked it first; it must agree.
            let now = self.message_by_id(message_id).await?;
            if !changed && now.is_none_or(|now| super::wamid_to_set(&now, wamid) != Ok(false)) {
                return Err(StoreError::Conflict(format!(
                    "message {message_id} already has another wamid"
                )));
            }
        }
        let m = self
            .message_by_id(message_id)
            .await?
            .ok_or(StoreError::NotFound("message"))?;
        changed |= self.apply_pending_receipts(&m).await?;
        if changed {
            self.publish_message(message_id).await
        } else {
            Ok(m)
        }
    }

    async fn mark_send_failed(&self, message_id: &str, error: &ErrorInfo) -> StoreResult<Message> {
        let changed = self
            .update_delivery(message_id, |s| s.apply(MessageStatus::Failed, Some(error)))
            .await?;
        if changed {
            self.publish_message(message_id).await
        } else {
            self.message_by_id(message_id)
                .await?
                .ok_or(StoreError::NotFound("message"))
        }
    }

    async fn retry_outbound(&self, message_id: &str) -> StoreResult<Message> {
        let m = self
            .message_by_id(message_id)
            .await?
            .ok_or(StoreError::NotFound("message"))?;
        let details = super::retry_details(&m)?;
        // Job first, as in create_outbound: a job for a message that is not pending ends
        // itself.
        self.schedule_job(super::first_send_job(message_id, now_ms()))
            .await?;
        let result = self
            .coll("messages")
            .update_one(
                doc! { "_id": message_id, "version": m.version },
                doc! {
                    "$set": {
                        "details": details_bson(&details)?,
                        "status_rank": 0i64,
                        "failed": false,
                        "unpublished": true,
                        "changed_at": now_ms(),
                    },
                    "$unset": { "wamid": "" },
                    "$inc": { "version": 1 },
                },
            )
            .await
            .map_err(map_err)?;
        if result.matched_count != 1 {
            return Err(StoreError::Conflict(
                "the message changed meanwhile; try again".into(),
            ));
        }
        self.publish_message(message_id).await
    }

    async fn edit_message(
        &self,
        message_id: &str,
        edit: MessageEdit,
    ) -> StoreResult<Option<Message>> {
        for _ in 0..20 {
            let before = self
                .message_by_id(message_id)
                .await?
                .ok_or(StoreError::NotFound("message"))?;
            let Some(after) = super::edited(&before, &edit) else {
                return Ok(None);
            };
            let text = after.text.clone().map(Bson::String).unwrap_or(Bson::Null);
            let result = self
                .coll("messages")
                .update_one(
                    doc! { "_id": message_id, "version": before.version },
                    doc! {
                        "$set": {
                            "text": text,
                            "details": details_bson(&after.details)?,
                            "unpublished": true,
                            "changed_at": now_ms(),
                        },
                        "$inc": { "version": 1 },
                    },
                )
                .await
                .map_err(map_err)?;
            if result.matched_count == 1 {
                return self.publish_message(message_id).await.map(Some);
            }
        }
        Err(StoreError::Unavailable(format!(
            "message {message_id} is being changed too often to update"
        )))
    }

    async fn change_contact_phone(
        &self,
        inbox_id: &str,
        old_wa_id: &str,
        new_wa_id: &str,
    ) -> StoreResult<bool> {
        let Some(contact) = self
            .find(
                "contacts",
                doc! { "inbox_id": inbox_id, "wa_id": old_wa_id },
            )
            .await?
        else {
            return Ok(false);
        };
        if old_wa_id == new_wa_id {
            return Ok(true);
        }
        let contact_id = string(&contact, "_id")?;
        let result = self
            .coll("contacts")
            .update_one(
                doc! { "_id": &contact_id },
                doc! { "$set": { "wa_id": new_wa_id } },
            )
            .await;
        match result {
            Ok(_) => {}
            Err(e) if is_duplicate(&e) => {
                return Err(StoreError::Conflict(format!(
                    "another contact already has the number {new_wa_id}"
                )));
            }
            Err(e) => return Err(map_err(e)),
        }
        self.embed_contact(&contact_id).await?;
        if let Some(c) = self
            .find("conversations", doc! { "contact_id": &contact_id })
            .await?
        {
            self.publish_conversation(&string(&c, "_id")?).await?;
        }
        Ok(true)
    }

    async fn mark_conversation_read(&self, conversation_id: &str) -> StoreResult<Conversation> {
        // Every message stored so far has a seq at or below the counter.
        let upto = self
            .find("counters", doc! { "_id": "messages" })
            .await?
            .and_then(|d| opt_int(&d, "n"))
            .unwrap_or(0);
        let result = self
            .coll("conversations")
            .update_one(
                doc! { "_id": conversation_id },
                doc! { "$max": { "read_upto_seq": upto } },
            )
            .await
            .map_err(map_err)?;
        if result.matched_count == 0 {
            return Err(StoreError::NotFound("conversation"));
        }
        if self.recount_unread(conversation_id).await? {
            self.publish_conversation(conversation_id).await?;
        }
        self.conversation_by_id(conversation_id)
            .await?
            .ok_or(StoreError::NotFound("conversation"))
    }

    async fn list_conversations(
        &self,
        scope: &Scope,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        let filter = match scope {
            Scope::All => doc! {},
            Scope::Inboxes(ids) => doc! { "inbox_id": { "$in": ids.clone() } },
        };
        let docs: Vec<Document> = self
            .find_all(
                "conversations",
                filter,
                Some(doc! { "last_activity_at": -1, "_id": 1 }),
                Some(limit as i64),
            )
            .await?;
        docs.iter().map(conversation_from_doc).collect()
    }

    async fn conversation(&self, id: &str) -> StoreResult<Option<Conversation>> {
        self.conversation_by_id(id).await
    }

    async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        self.message_by_id(id).await
    }

    async fn message_by_wamid(&self, inbox_id: &str, wamid: &str) -> StoreResult<Option<Message>> {
        match self
            .find("messages", doc! { "inbox_id": inbox_id, "wamid": wamid })
            .await?
        {
            Some(d) => Ok(Some(message_from_doc(&d)?)),
            None => Ok(None),
        }
    }

    async fn replies_to(
        &self,
        inbox_id: &str,
        wamid: &str,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        self.find_all(
            "messages",
            doc! { "inbox_id": inbox_id, "reply_to": wamid },
            Some(doc! { "timestamp": 1, "seq": 1 }),
            Some(limit as i64),
        )
        .await?
        .iter()
        .map(message_from_doc)
        .collect()
    }

    async fn schedule_job(&self, job: Job) -> StoreResult<()> {
        self.coll("jobs")
            .update_one(job_id(job.kind, &job.key), job_update(&job))
            .upsert(true)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn add_job_if_missing(&self, job: Job) -> StoreResult<bool> {
        // $setOnInsert leaves an existing job (and any claim on it) as it is.
        let result = self
            .coll("jobs")
            .update_one(
                job_id(job.kind, &job.key),
                doc! { "$setOnInsert": {
                    "kind": job.kind.as_str(),
                    "key": &job.key,
                    "due_at": job.due_at,
                    "attempts": job.attempts,
                    "claims": 0_i64,
                } },
            )
            .upsert(true)
            .await
            .map_err(map_err)?;
        Ok(result.upserted_id.is_some())
    }

    async fn due_jobs(&self, now: i64, limit: usize) -> StoreResult<Vec<Job>> {
        let docs = self
            .find_all(
                "jobs",
                doc! { "due_at": { "$lte": now } },
                Some(doc! { "due_at": 1 }),
                Some(limit as i64),
            )
            .await?;
        Ok(docs.iter().filter_map(job_from_doc).collect())
    }

    async fn claim_jobs(
        &self,
        kind: JobKind,
        now: i64,
        owner: &str,
        lease_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Job>> {
        let mut claimed = Vec::new();
        // findOneAndUpdate is atomic per document: of several instances racing for one
        // due job, exactly one matches it while it is still due.
        while claimed.len() < limit {
            let found = self
                .coll("jobs")
                .find_one_and_update(
                    doc! { "kind": kind.as_str(), "due_at": { "$lte": now } },
                    doc! {
                        "$set": { "due_at": now + lease_ms, "owner": owner },
                        "$inc": { "claims": 1_i64 },
                    },
                )
                .sort(doc! { "due_at": 1 })
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?;
            let Some(d) = found else { break };
            if let Some(job) = job_from_doc(&d) {
                claimed.push(job);
            }
        }
        Ok(claimed)
    }

    async fn release_job(&self, kind: JobKind, key: &str, due_at: i64) -> StoreResult<()> {
        self.coll("jobs")
            .update_one(
                job_id(kind, key),
                doc! { "$set": { "due_at": due_at, "owner": Bson::Null } },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn finish_job(&self, kind: JobKind, key: &str) -> StoreResult<()> {
        self.coll("jobs")
            .delete_one(job_id(kind, key))
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn load_messages(
        &self,
        conversation_id: &str,
        before: Option<Cursor>,
        limit: usize,
    ) -> StoreResult<MessagePage> {
        let mut filter = doc! { "conversation_id": conversation_id };
        if let Some(c) = before {
            filter.insert("sort_key", doc! { "$lt": sort_key(c.timestamp, c.seq) });
        }
        let docs: Vec<Document> = self
            .find_all(
                "messages",
                filter,
                Some(doc! { "sort_key": -1 }),
                Some(limit as i64 + 1),
            )
            .await?;
        let messages = docs
            .iter()
            .map(message_from_doc)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(MessagePage::from_overfetch(messages, limit))
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
                self.announce_new(&m, false).await?;
            } else {
                self.publish_message(&m.id).await?;
            }
            repaired += 1;
        }
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
                let Ok(m) = message_from_doc(&d) else {
                    tracing::warn!(id = ?d.get("_id"), "store repair: skipped a message document it cannot read");
                    continue;
                };
                if self.apply_pending_receipts(&m).await? {
                    self.publish_message(&m.id).await?;
                    repaired += 1;
                }
            }
        }
        Ok(repaired)
    }
}
