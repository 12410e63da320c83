//! The embedded store: one SQLite file in WAL mode.
//!
//! All writes go through one writer thread. It takes whatever jobs are queued, runs each in
//! its own savepoint inside one transaction and commits them together (group commit), so
//! a burst of webhooks costs one disk sync rather than one each, and a failing job never
//! takes its neighbours down. A job's caller hears back only after the commit, so nothing
//! is acknowledged that is not durable. Reads use a small pool of read-only connections,
//! which WAL lets run beside the writer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use super::{
    ContactKey, DeliveryState, Event, EventBounds, EventKind, InboundOutcome, Inbox,
    InboxCredentials, InboxUpdate, Job, JobKind, MessageEdit, NewApiToken, NewInbound, NewInbox,
    NewOutbound, NewUser, Scope, StatusOutcome, StatusReport, Store, StoreError, StoreResult,
    StoredWebhook, UserUpdate, WebhookState, new_id, now_ms, pause_key, to_json,
};
use crate::model::{
    ApiTokenInfo, Contact, Conversation, Cursor, Details, Direction, ErrorInfo,
    Message, MessageKind, MessagePage, MessagePreview, MessageStatus, Role, UNREAD_CAP, User,
};

/// How hard SQLite syncs. `Normal` (the default) survives a killed process, `kill -9`
/// included, because WAL frames reach the OS before a commit returns; `Full` also
/// survives power loss at the cost of an fsync per group commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    Normal,
    Full,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    pub synchronous: Synchronous,
    pub readers: usize,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            synchronous: Synchronous::Normal,
            readers: 4,
        }
    }
}

pub struct SqliteStore {
    writer: mpsc::Sender<Box<dyn WriteJob>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    read_slots: Arc<Semaphore>,
    commits: Arc<Notify>,
    committed: Arc<Mutex<Vec<Event>>>,
    /// Every webhook looks its inbox up, twice; the answer rarely changes.
    inbox_cache: Mutex<HashMap<String, (Option<Inbox>, Instant)>>,
    /// Dropped with the store, which ends the checkpoint thread.
    _stop_checkpoints: std::sync::mpsc::Sender<()>,
}

const MAX_BATCH: usize = 512;
/// Committed events waiting for the hub; past this, it reads them from the log instead.
const MAX_STAGED: usize = 100_000;
/// How long an inbox looked up by phone number is trusted: another instance may change
/// it, and credentials must not stay stale for long.
const INBOX_CACHE_TTL: Duration = Duration::from_secs(1);

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(options: SqliteOptions) -> StoreResult<Self> {
        if let Some(dir) = options.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let writer = open_connection(&options.path, options.synchronous, false)?;
        migrate(&writer)?;
        // Checkpoints (copying the WAL into the database, with fsyncs) run on their own
        // thread, so no commit waits behind one. The writer's own automatic checkpoint
        // stays as a backstop, far out, in case that thread cannot keep up.
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 20000;")
            .map_err(map_err)?;
        let checkpointer = open_connection(&options.path, options.synchronous, false)?;
        let (stop_checkpoints, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, stopped))
            .map_err(|e| StoreError::Unavailable(format!("cannot start checkpoint thread: {e}")))?;
        let mut readers = Vec::with_capacity(options.readers.max(1));
        for _ in 0..options.readers.max(1) {
            readers.push(open_connection(&options.path, options.synchronous, true)?);
        }
        let commits = Arc::new(Notify::new());
        let committed = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel(4096);
        let (notify, stage) = (commits.clone(), committed.clone());
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, notify, stage))
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer thread: {e}")))?;
        Ok(Self {
            writer: tx,
            read_slots: Arc::new(Semaphore::new(readers.len())),
            readers: Arc::new(Mutex::new(readers)),
            commits,
            committed,
            inbox_cache: Mutex::new(HashMap::new()),
            _stop_checkpoints: stop_checkpoints,
        })
    }

    /// After a change to inboxes, so the next lookup reads it.
    fn forget_inboxes(&self) {
        if let Ok(mut cache) = self.inbox_cache.lock() {
            cache.clear();
        }
    }

    async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        F: FnOnce(&Tx) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Box::new(WriteTask { f, reply }))
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?
    }

    async fn read<R, F>(&self, f: F) -> StoreResult<R>
    where
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let permit = self
            .read_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("reader pool closed".into()))?;
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool
                .lock()
                .map_err(|_| StoreError::Unavailable("reader pool poisoned".into()))?
                .pop()
                .ok_or_else(|| StoreError::Unavailable("no free reader".into()))?;
            let result = catch_unwind(AssertUnwindSafe(|| f(&conn)))
                .unwrap_or_else(|_| Err(StoreError::Corrupt("a read panicked".into())));
            if let Ok(mut p) = pool.lock() {
                p.push(conn);
            }
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }
}

fn open_connection(path: &Path, sync: Synchronous, read_only: bool) -> StoreResult<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        StoreError::Unavailable(format!("cannot open SQLite file {}: {e}", path.display()))
    })?;
    let sync = match sync {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    let mut pragmas = format!("PRAGMA busy_timeout = 5000; PRAGMA synchronous = {sync};");
    if !read_only {
        pragmas.push_str("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;");
    }
    conn.execute_batch(&pragmas).map_err(map_err)?;
    Ok(conn)
}

const SCHEMA_VERSION: i64 = 4;

/// Creates or replaces a job; any claim on it ends (used inside other writes too, so a
/// job is stored with the change that makes it necessary).
fn put_job(conn: &Connection, job: &Job) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO jobs (kind, key, due_at, attempts, owner, claims) \
         VALUES (?1, ?2, ?3, ?4, NULL, 0) \
         ON CONFLICT (kind, key) DO UPDATE SET due_at = ?3, attempts = ?4, owner = NULL, claims = 0",
    )
    .and_then(|mut s| s.execute(params![job.kind.as_str(), job.key, job.due_at, job.attempts]))
    .map_err(map_err)?;
    Ok(())
}

type JobRow = (String, String, i64, i64, i64);

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn jobs_of(rows: Vec<JobRow>) -> Vec<Job> {
    rows.into_iter()
        .filter_map(|(kind, key, due_at, attempts, claims)| {
            Some(Job {
                kind: JobKind::parse(&kind)?,
                key,
                due_at,
                attempts,
                claims,
            })
        })
        .collect()
}

fn migrate(conn: &Connection) -> StoreResult<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(map_err)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "database schema version {version} is newer than this build understands ({SCHEMA_VERSION})"
        )));
    }
    if version < 1 {
        conn.execute_batch(SCHEMA_V1).map_err(map_err)?;
    }
    if version < 2 {
        conn.execute_batch(SCHEMA_V2).map_err(map_err)?;
    }
    if version < 3 {
        conn.execute_batch(SCHEMA_V3).map_err(map_err)?;
    }
    if version < 4 {
        conn.execute_batch(SCHEMA_V4).map_err(map_err)?;
    }
    Ok(())
}

/// Jobs are claimed by one instance at a time; kept bodies and receipts are trimmed by age.
const SCHEMA_V4: &str = r#"
BEGIN;
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_kind_due ON jobs(kind, due_at);
CREATE INDEX webhooks_by_received ON webhooks(received_at);
CREATE INDEX status_events_by_received ON status_events(received_at);
PRAGMA user_version = 4;
COMMIT;
"#;

/// Message details (content, media, reactions), replies by target, and durable jobs.
const SCHEMA_V3: &str = r#"
BEGIN;
ALTER TABLE messages ADD COLUMN details TEXT;
CREATE INDEX messages_by_reply_to ON messages(inbox_id, reply_to) WHERE reply_to IS NOT NULL;
CREATE TABLE jobs (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key)
);
CREATE INDEX jobs_by_due ON jobs(due_at);
PRAGMA user_version = 3;
COMMIT;
"#;

/// Agents, sessions, API tokens, per-inbox credentials and membership.
const SCHEMA_V2: &str = r#"
BEGIN;
ALTER TABLE inboxes ADD COLUMN access_token TEXT;
ALTER TABLE inboxes ADD COLUMN app_secret TEXT;
ALTER TABLE inboxes ADD COLUMN verify_token TEXT;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);
CREATE TABLE inbox_members (
    inbox_id TEXT NOT NULL REFERENCES inboxes(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (inbox_id, user_id)
);
CREATE INDEX inbox_members_by_user ON inbox_members(user_id);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE INDEX conversations_by_inbox_activity ON conversations(inbox_id, last_activity_at DESC, id);
PRAGMA user_version = 2;
COMMIT;
"#;

const SCHEMA_V1: &str = r#"
BEGIN;
CREATE TABLE inboxes (
    id TEXT PRIMARY KEY,
    phone_number_id TEXT NOT NULL UNIQUE,
    display_phone_number TEXT,
    name TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    inbox_id TEXT NOT NULL REFERENCES inboxes(id),
    wa_id TEXT,
    user_id TEXT,
    name TEXT,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX contacts_by_wa_id ON contacts(inbox_id, wa_id) WHERE wa_id IS NOT NULL;
CREATE UNIQUE INDEX contacts_by_user_id ON contacts(inbox_id, user_id) WHERE user_id IS NOT NULL;
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    inbox_id TEXT NOT NULL REFERENCES inboxes(id),
    contact_id TEXT NOT NULL UNIQUE REFERENCES contacts(id),
    unread_count INTEGER NOT NULL DEFAULT 0,
    last_activity_at INTEGER NOT NULL,
    last_inbound_at INTEGER,
    last_message_id TEXT,
    last_message_ts INTEGER,
    last_message_seq INTEGER,
    version INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE INDEX conversations_by_activity ON conversations(last_activity_at DESC, id);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    inbox_id TEXT NOT NULL REFERENCES inboxes(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    direction TEXT NOT NULL,
    wamid TEXT,
    client_id TEXT,
    kind TEXT NOT NULL,
    text TEXT,
    status TEXT NOT NULL,
    status_rank INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    error_code INTEGER,
    error_title TEXT,
    error_detail TEXT,
    timestamp INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    reply_to TEXT,
    raw TEXT
);
CREATE UNIQUE INDEX messages_by_wamid ON messages(inbox_id, wamid) WHERE wamid IS NOT NULL;
CREATE UNIQUE INDEX messages_by_client_id ON messages(inbox_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX messages_history ON messages(conversation_id, timestamp, seq);
CREATE TABLE status_events (
    id INTEGER PRIMARY KEY,
    inbox_id TEXT NOT NULL,
    wamid TEXT NOT NULL,
    status TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    error_code INTEGER NOT NULL DEFAULT 0,
    error_title TEXT,
    error_detail TEXT,
    callback_data TEXT,
    raw TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    applied INTEGER NOT NULL DEFAULT 0,
    UNIQUE (inbox_id, wamid, status, timestamp, error_code)
);
CREATE INDEX status_events_unapplied ON status_events(inbox_id, wamid) WHERE applied = 0;
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    inbox_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    processed_at INTEGER,
    error TEXT
);
CREATE INDEX webhooks_unfinished ON webhooks(received_at) WHERE processed_at IS NULL;
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
PRAGMA user_version = 1;
COMMIT;
"#;

fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            StoreError::Conflict(e.to_string())
        }
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

// ---- the writer ----------------------------------------------------------------------

/// Sets a setting, or removes it when `value` is `None`.
fn write_setting(conn: &Connection, key: &str, value: Option<&str>) -> StoreResult<()> {
    match value {
        Some(v) => conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, v],
        ),
        None => conn.execute("DELETE FROM settings WHERE key = ?1", [key]),
    }
    .map_err(map_err)?;
    Ok(())
}

/// The writer's view of the open transaction.
struct Tx<'a> {
    conn: &'a Connection,
    /// Events appended in this transaction, handed to the hub once it commits.
    appended: RefCell<Vec<Event>>,
}

impl Tx<'_> {
    fn append_event(&self, inbox_id: &str, kind: EventKind, data: String) -> StoreResult<()> {
        let seq = self
            .conn
            .prepare_cached(
                "INSERT INTO events (inbox_id, kind, data, created_at) VALUES (?1, ?2, ?3, ?4) \
                 RETURNING seq",
            )
            .and_then(|mut s| {
                s.query_row(params![inbox_id, kind.as_str(), &data, now_ms()], |r| {
                    r.get(0)
                })
            })
            .map_err(map_err)?;
        self.appended.borrow_mut().push(Event {
            seq,
            inbox_id: inbox_id.to_string(),
            kind,
            data,
        });
        Ok(())
    }

    fn emit_message(&self, kind: EventKind, m: &Message) -> StoreResult<()> {
        self.append_event(&m.inbox_id, kind, to_json(m)?)
    }

    fn emit_conversation(&self, conversation_id: &str) -> StoreResult<Conversation> {
        let c = query_conversation(self.conn, conversation_id)?
            .ok_or(StoreError::NotFound("conversation"))?;
        self.append_event(&c.inbox_id, EventKind::ConversationUpdated, to_json(&c)?)?;
        Ok(c)
    }
}

type Completion = Box<dyn FnOnce(Option<StoreError>) + Send>;

trait WriteJob: Send {
    /// Runs inside the open transaction; the completion is called once the commit's
    /// outcome is known.
    fn run(self: Box<Self>, tx: &Tx) -> (bool, Completion);
    /// Reports `error` without running.
    fn fail(self: Box<Self>, error: StoreError);
}

struct WriteTask<F, R> {
    f: F,
    reply: oneshot::Sender<StoreResult<R>>,
}

impl<F, R> WriteJob for WriteTask<F, R>
where
    F: FnOnce(&Tx) -> StoreResult<R> + Send,
    R: Send + 'static,
{
    fn run(self: Box<Self>, tx: &Tx) -> (bool, Completion) {
        let WriteTask { f, reply } = *self;
        let result = catch_unwind(AssertUnwindSafe(|| f(tx)))
            .unwrap_or_else(|_| Err(StoreError::Corrupt("a write panicked".into())));
        let ok = result.is_ok();
        let done = move |commit_error: Option<StoreError>| {
            let outcome = match commit_error {
                Some(e) if ok => Err(e),
                _ => result,
            };
            // The caller may have gone away; the write stands regardless.
            let _ = reply.send(outcome);
        };
        (ok, Box::new(done))
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// How often the WAL is copied into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

fn checkpoint_loop(conn: Connection, stop: std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        // PASSIVE never blocks the writer or readers; it copies what it can now and
        // the rest next time.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "SQLite: checkpoint postponed");
        }
    }
}

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn WriteJob>>,
    commits: Arc<Notify>,
    committed: Arc<Mutex<Vec<Event>>>,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let err = map_err(e);
            tracing::error!(error = %err, "SQLite: cannot begin a transaction");
            for job in batch {
                job.fail(err.clone());
            }
            continue;
        }
        let tx = Tx {
            conn: &conn,
            appended: RefCell::new(Vec::new()),
        };
        let mut completions = Vec::with_capacity(batch.len());
        for job in batch {
            let _ = conn.execute_batch("SAVEPOINT job");
            let before = tx.appended.borrow().len();
            let (ok, done) = job.run(&tx);
            if ok {
                let _ = conn.execute_batch("RELEASE job");
            } else {
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                tx.appended.borrow_mut().truncate(before);
            }
            completions.push(done);
        }
        let commit_error = conn.execute_batch("COMMIT").err().map(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            let err = map_err(e);
            tracing::error!(error = %err, "SQLite: commit failed");
            err
        });
        let appended = tx.appended.into_inner();
        let notify = commit_error.is_none() && !appended.is_empty();
        if notify && let Ok(mut staged) = committed.lock() {
            // Bounded: the hub takes everything on each wake-up. Should it fall behind,
            // the stage starts over, and the hub, seeing it does not continue from its
            // head, reads the log instead.
            if staged.len() >= MAX_STAGED {
                staged.clear();
            }
            staged.extend(appended);
        }
        for done in completions {
            done(commit_error.clone());
        }
        if notify {
            commits.notify_one();
        }
    }
}

// ---- row mapping -----------------------------------------------------------------------

const MESSAGE_COLUMNS: &str = "id, wamid, conversation_id, inbox_id, direction, kind, text, \
     status, error_code, error_title, error_detail, timestamp, created_at, client_id, seq, \
     version, reply_to, details";

fn message_from_row(r: &Row) -> rusqlite::Result<Message> {
    let direction: String = r.get(4)?;
    let kind: String = r.get(5)?;
    let status: String = r.get(7)?;
    let error_code: Option<i64> = r.get(8)?;
    Ok(Message {
        id: r.get(0)?,
        wamid: r.get(1)?,
        conversation_id: r.get(2)?,
        inbox_id: r.get(3)?,
        direction: if direction == "out" {
            Direction::Out
        } else {
            Direction::In
        },
        kind: MessageKind::from_wire(&kind),
        text: r.get(6)?,
        status: parse_status(&status),
        error: match error_code {
            Some(code) => Some(ErrorInfo {
                code,
                title: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
                detail: r.get(10)?,
            }),
            None => None,
        },
        timestamp: r.get(11)?,
        created_at: r.get(12)?,
        client_id: r.get(13)?,
        seq: r.get(14)?,
        version: r.get(15)?,
        reply_to: r.get(16)?,
        details: match r.get::<_, Option<String>>(17)? {
            // A details blob this build cannot read still leaves the message readable.
            Some(json) => serde_json::from_str(&json).unwrap_or_default(),
            None => Details::default(),
        },
    })
}

fn details_json(d: &Details) -> StoreResult<Option<String>> {
    if *d == Details::default() {
        Ok(None)
    } else {
        to_json(d).map(Some)
    }
}

fn parse_status(s: &str) -> MessageStatus {
    match s {
        "received" => MessageStatus::Received,
        "failed" => MessageStatus::Failed,
        "pending" => MessageStatus::Pending,
        other => MessageStatus::from_wire(other).unwrap_or(MessageStatus::Pending),
    }
}

fn query_message(conn: &Connection, id: &str) -> StoreResult<Option<Message>> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], message_from_row).optional())
    .map_err(map_err)
}

fn query_message_by_wamid(
    conn: &Connection,
    inbox_id: &str,
    wamid: &str,
) -> StoreResult<Option<Message>> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE inbox_id = ?1 AND wamid = ?2"
    ))
    .and_then(|mut s| s.query_row([inbox_id, wamid], message_from_row).optional())
    .map_err(map_err)
}

const CONVERSATION_SELECT: &str = "SELECT c.id, c.inbox_id, c.unread_count, c.last_activity_at, \
     c.last_inbound_at, c.version, ct.id, ct.name, ct.wa_id, ct.user_id, \
     m.id, m.direction, m.kind, m.text, m.status, m.timestamp \
     FROM conversations c JOIN contacts ct ON ct.id = c.contact_id \
     LEFT JOIN messages m ON m.id = c.last_message_id";

fn conversation_from_row(r: &Row) -> rusqlite::Result<Conversation> {
    let last_id: Option<String> = r.get(10)?;
    let last_message = match last_id {
        Some(id) => {
            let direction: String = r.get(11)?;
            let kind = MessageKind::from_wire(&r.get::<_, String>(12)?);
            let text: Option<String> = r.get(13)?;
            let status: String = r.get(14)?;
            Some(MessagePreview {
                id,
                direction: if direction == "out" {
                    Direction::Out
                } else {
                    Direction::In
                },
                kind,
                text: text
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| kind.placeholder().to_string()),
                status: parse_status(&status),
                timestamp: r.get(15)?,
            })
        }
        None => None,
    };
    Ok(Conversation {
        id: r.get(0)?,
        inbox_id: r.get(1)?,
        unread_count: r.get(2)?,
        last_activity_at: r.get(3)?,
        last_inbound_at: r.get(4)?,
        version: r.get(5)?,
        contact: Contact {
            id: r.get(6)?,
            name: r.get(7)?,
            wa_id: r.get(8)?,
            user_id: r.get(9)?,
        },
        last_message,
    })
}

fn query_conversation(conn: &Connection, id: &str) -> StoreResult<Option<Conversation>> {
    conn.prepare_cached(&format!("{CONVERSATION_SELECT} WHERE c.id = ?1"))
        .and_then(|mut s| s.query_row([id], conversation_from_row).optional())
        .map_err(map_err)
}

const INBOX_COLUMNS: &str =
    "id, phone_number_id, display_phone_number, name, access_token, app_secret, verify_token";

fn inbox_from_row(r: &Row) -> rusqlite::Result<Inbox> {
    Ok(Inbox {
        id: r.get(0)?,
        phone_number_id: r.get(1)?,
        display_phone_number: r.get(2)?,
        name: r.get(3)?,
        credentials: InboxCredentials {
            access_token: r.get(4)?,
            app_secret: r.get(5)?,
            verify_token: r.get(6)?,
        },
    })
}

fn query_inbox(conn: &Connection, column: &str, value: &str) -> StoreResult<Option<Inbox>> {
    conn.prepare_cached(&format!(
        "SELECT {INBOX_COLUMNS} FROM inboxes WHERE {column} = ?1"
    ))
    .and_then(|mut s| s.query_row([value], inbox_from_row).optional())
    .map_err(map_err)
}

const USER_COLUMNS: &str = "id, email, name, role, disabled, created_at";

fn user_from_row(r: &Row) -> rusqlite::Result<User> {
    let role: String = r.get(3)?;
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        role: Role::parse(&role).unwrap_or(Role::Agent),
        disabled: r.get(4)?,
        created_at: r.get(5)?,
    })
}

fn query_user(conn: &Connection, id: &str) -> StoreResult<Option<User>> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], user_from_row).optional())
        .map_err(map_err)
}

const TOKEN_COLUMNS: &str = "id, name, user_id, created_at, last_used_at, revoked_at";

fn token_from_row(r: &Row) -> rusqlite::Result<ApiTokenInfo> {
    let revoked: Option<i64> = r.get(5)?;
    Ok(ApiTokenInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        user_id: r.get(2)?,
        created_at: r.get(3)?,
        last_used_at: r.get(4)?,
        revoked: revoked.is_some(),
    })
}

/// An empty string clears a credential; `None` keeps it.
fn credential_sql(value: &Option<String>) -> (bool, Option<String>) {
    match value {
        None => (false, None),
        Some(v) if v.trim().is_empty() => (true, None),
        Some(v) => (true, Some(v.trim().to_string())),
    }
}

// ---- write helpers -----------------------------------------------------------------------

/// Finds the contact by BSUID, then by phone, filling in whatever the payload adds.
fn upsert_contact(conn: &Connection, inbox_id: &str, key: &ContactKey) -> StoreResult<String> {
    let find = |col: &str, value: &Option<String>| -> StoreResult<Option<String>> {
        match value {
            Some(v) => conn
                .prepare_cached(&format!(
                    "SELECT id FROM contacts WHERE inbox_id = ?1 AND {col} = ?2"
                ))
                .and_then(|mut s| s.query_row([inbox_id, v], |r| r.get(0)).optional())
                .map_err(map_err),
            None => Ok(None),
        }
    };
    let by_user = find("user_id", &key.user_id)?;
    let by_phone = find("wa_id", &key.wa_id)?;
    let existing = by_user.clone().or(by_phone.clone());
    match existing {
        Some(id) => {
            // Fill identifiers the contact lacks, unless another contact already owns them.
            if by_phone.is_none() && key.wa_id.is_some() {
                conn.execute(
                    "UPDATE contacts SET wa_id = ?2 WHERE id = ?1 AND wa_id IS NULL",
                    params![id, key.wa_id],
                )
                .map_err(map_err)?;
            }
            if by_user.is_none() && key.user_id.is_some() {
                conn.execute(
                    "UPDATE contacts SET user_id = ?2 WHERE id = ?1 AND user_id IS NULL",
                    params![id, key.user_id],
                )
                .map_err(map_err)?;
            }
            if let Some(name) = key.name.as_deref().filter(|n| !n.trim().is_empty()) {
                conn.execute(
                    "UPDATE contacts SET name = ?2 WHERE id = ?1 AND (name IS NULL OR name <> ?2)",
                    params![id, name],
                )
                .map_err(map_err)?;
            }
            Ok(id)
        }
        None => {
            if key.wa_id.is_none() && key.user_id.is_none() {
                return Err(StoreError::Conflict(
                    "a contact needs a wa_id or a user_id".into(),
                ));
            }
            let id = new_id();
            conn.execute(
                "INSERT INTO contacts (id, inbox_id, wa_id, user_id, name, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, inbox_id, key.wa_id, key.user_id, key.name, now_ms()],
            )
            .map_err(map_err)?;
            Ok(id)
        }
    }
}

fn ensure_conversation(conn: &Connection, inbox_id: &str, contact_id: &str) -> StoreResult<String> {
    let existing: Option<String> = conn
        .prepare_cached("SELECT id FROM conversations WHERE contact_id = ?1")
        .and_then(|mut s| s.query_row([contact_id], |r| r.get(0)).optional())
        .map_err(map_err)?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = new_id();
    conn.execute(
        // Activity comes from messages only, so a replayed old webhook does not float its
        // conversation to the top.
        "INSERT INTO conversations (id, inbox_id, contact_id, last_activity_at, created_at) \
         VALUES (?1, ?2, ?3, 0, ?4)",
        params![id, inbox_id, contact_id, now_ms()],
    )
    .map_err(map_err)?;
    Ok(id)
}

/// Moves the conversation's "last message" forward if `m` sorts after it.
fn touch_conversation(conn: &Connection, m: &Message, activity_ms: i64) -> StoreResult<()> {
    let inbound = m.direction == Direction::In;
    conn.prepare_cached(
        "UPDATE conversations SET \
           last_activity_at = MAX(last_activity_at, ?2), \
           unread_count = MIN(unread_count + ?3, ?7), \
           last_inbound_at = CASE WHEN ?3 = 1 THEN MAX(COALESCE(last_inbound_at, 0), ?4) \
                                  ELSE last_inbound_at END, \
           last_message_id = CASE WHEN last_message_id IS NULL \
                OR (?4, ?5) > (last_message_ts, last_message_seq) THEN ?6 ELSE last_message_id END, \
           last_message_seq = CASE WHEN last_message_id IS NULL \
                OR (?4, ?5) > (last_message_ts, last_message_seq) THEN ?5 ELSE last_message_seq END, \
           last_message_ts = CASE WHEN last_message_ts IS NULL \
                OR (?4, ?5) > (last_message_ts, last_message_seq) THEN ?4 ELSE last_message_ts END, \
           version = version + 1 \
         WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            m.conversation_id,
            activity_ms,
            i64::from(inbound),
            m.timestamp,
            m.seq,
            m.id,
            UNREAD_CAP
        ])
    })
    .map_err(map_err)?;
    Ok(())
}

/// True when `message_id` is the conversation's newest message, so its status shows in
/// the list and a change to it is also a change to the conversation.
fn is_last_message(conn: &Connection, m: &Message) -> StoreResult<bool> {
    conn.prepare_cached("SELECT last_message_id = ?2 FROM conversations WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row(params![m.conversation_id, m.id], |r| {
                r.get::<_, Option<bool>>(0)
            })
        })
        .map(|v| v.unwrap_or(false))
        .map_err(map_err)
}

fn delivery_state(conn: &Connection, message_id: &str) -> StoreResult<DeliveryState> {
    conn.prepare_cached(
        "SELECT status_rank, failed, error_code, error_title, error_detail FROM messages WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.query_row([message_id], |r| {
            let code: Option<i64> = r.get(2)?;
            Ok(DeliveryState {
                rank: r.get(0)?,
                failed: r.get(1)?,
                error: match code {
                    Some(code) => Some(ErrorInfo {
                        code,
                        title: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                        detail: r.get(4)?,
                    }),
                    None => None,
                },
            })
        })
    })
    .map_err(map_err)
}

fn save_delivery_state(conn: &Connection, message_id: &str, s: &DeliveryState) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE messages SET status_rank = ?2, failed = ?3, status = ?4, error_code = ?5, \
         error_title = ?6, error_detail = ?7 WHERE id = ?1",
    )
    .and_then(|mut st| {
        st.execute(params![
            message_id,
            s.rank,
            s.failed,
            s.status().as_str(),
            s.error.as_ref().map(|e| e.code),
            s.error.as_ref().map(|e| e.title.clone()),
            s.error.as_ref().and_then(|e| e.detail.clone()),
        ])
    })
    .map_err(map_err)?;
    Ok(())
}

/// Folds every not-yet-applied receipt for the message's wamid into its state. Returns
/// whether anything visible changed.
fn apply_pending_receipts(conn: &Connection, m: &Message) -> StoreResult<bool> {
    let Some(wamid) = &m.wamid else {
        return Ok(false);
    };
    struct Receipt {
        id: i64,
        status: String,
        code: i64,
        title: Option<String>,
        detail: Option<String>,
    }
    let receipts: Vec<Receipt> = conn
        .prepare_cached(
            "SELECT id, status, error_code, error_title, error_detail FROM status_events \
             WHERE inbox_id = ?1 AND wamid = ?2 AND applied = 0 ORDER BY timestamp, id",
        )
        .and_then(|mut s| {
            s.query_map([&m.inbox_id, wamid], |r| {
                Ok(Receipt {
                    id: r.get(0)?,
                    status: r.get(1)?,
                    code: r.get(2)?,
                    title: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?
            .collect()
        })
        .map_err(map_err)?;
    if receipts.is_empty() {
        return Ok(false);
    }
    let steps: Vec<_> = receipts
        .iter()
        .filter_map(|r| super::receipt_step(&r.status, r.code, r.title.clone(), r.detail.clone()))
        .collect();
    let before = delivery_state(conn, &m.id)?;
    let state = before.fold(&steps);
    for r in &receipts {
        conn.prepare_cached("UPDATE status_events SET applied = 1 WHERE id = ?1")
            .and_then(|mut s| s.execute([r.id]))
            .map_err(map_err)?;
    }
    if state == before {
        return Ok(false);
    }
    save_delivery_state(conn, &m.id, &state)?;
    Ok(true)
}

/// Bumps the message's version and emits its update (and the conversation's, when the
/// message is the one the list shows).
fn publish_message_change(tx: &Tx, message_id: &str) -> StoreResult<Message> {
    tx.conn
        .prepare_cached("UPDATE messages SET version = version + 1 WHERE id = ?1")
        .and_then(|mut s| s.execute([message_id]))
        .map_err(map_err)?;
    let m = query_message(tx.conn, message_id)?.ok_or(StoreError::NotFound("message"))?;
    tx.emit_message(EventKind::MessageUpdated, &m)?;
    if is_last_message(tx.conn, &m)? {
        tx.conn
            .prepare_cached("UPDATE conversations SET version = version + 1 WHERE id = ?1")
            .and_then(|mut s| s.execute([&m.conversation_id]))
            .map_err(map_err)?;
        tx.emit_conversation(&m.conversation_id)?;
    }
    Ok(m)
}

fn insert_message(conn: &Connection, m: &Message, raw: Option<&str>) -> StoreResult<i64> {
    let status_rank = m.status.rank();
    let details = details_json(&m.details)?;
    conn.prepare_cached(
        "INSERT INTO messages (id, inbox_id, conversation_id, direction, wamid, client_id, kind, \
         text, status, status_rank, timestamp, created_at, version, reply_to, raw, details) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1, ?13, ?14, ?15) RETURNING seq",
    )
    .and_then(|mut s| {
        s.query_row(
            params![
                m.id,
                m.inbox_id,
                m.conversation_id,
                if m.direction == Direction::Out {
                    "out"
                } else {
                    "in"
                },
                m.wamid,
                m.client_id,
                m.kind.as_str(),
                m.text,
                m.status.as_str(),
                status_rank,
                m.timestamp,
                m.created_at,
                m.reply_to,
                raw,
                details,
            ],
            |r| r.get(0),
        )
    })
    .map_err(map_err)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(map_err))
            .await?;
        // A reader answering is not enough: the writer must be alive too.
        if self.writer.is_closed() {
            return Err(StoreError::Unavailable(
                "the SQLite writer has stopped".into(),
            ));
        }
        Ok(())
    }

    fn commits(&self) -> Arc<Notify> {
        self.commits.clone()
    }

    fn take_committed(&self) -> Vec<Event> {
        self.committed
            .lock()
            .map(|mut staged| std::mem::take(&mut *staged))
            .unwrap_or_default()
    }

    async fn ensure_inbox(
        &self,
        phone_number_id: &str,
        display_phone_number: Option<&str>,
    ) -> StoreResult<Inbox> {
        let pnid = phone_number_id.to_string();
        let display = display_phone_number.map(str::to_string);
        let result = self.write(move |tx| {
            tx.conn
                .execute(
                    "INSERT INTO inboxes (id, phone_number_id, display_phone_number, created_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT(phone_number_id) DO UPDATE SET \
                     display_phone_number = COALESCE(excluded.display_phone_number, display_phone_number)",
                    params![new_id(), pnid, display, now_ms()],
                )
                .map_err(map_err)?;
            query_inbox(tx.conn, "phone_number_id", &pnid)?
                .ok_or(StoreError::NotFound("inbox"))
        })
        .await;
        self.forget_inboxes();
        result
    }

    async fn inbox_by_phone_number_id(&self, phone_number_id: &str) -> StoreResult<Option<Inbox>> {
        if let Ok(cache) = self.inbox_cache.lock()
            && let Some((inbox, at)) = cache.get(phone_number_id)
            && at.elapsed() < INBOX_CACHE_TTL
        {
            return Ok(inbox.clone());
        }
        let pnid = phone_number_id.to_string();
        let inbox = self
            .read(move |c| query_inbox(c, "phone_number_id", &pnid))
            .await?;
        // Misses are never cached: any body can name any number, so caching them would let
        // strangers fill the map, and an inbox created a moment later must be found.
        if inbox.is_some()
            && let Ok(mut cache) = self.inbox_cache.lock()
        {
            cache.retain(|_, (_, at)| at.elapsed() < INBOX_CACHE_TTL);
            cache.insert(phone_number_id.to_string(), (inbox.clone(), Instant::now()));
        }
        Ok(inbox)
    }

    async fn inbox(&self, id: &str) -> StoreResult<Option<Inbox>> {
        let id = id.to_string();
        self.read(move |c| query_inbox(c, "id", &id)).await
    }

    async fn list_inboxes(&self) -> StoreResult<Vec<Inbox>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {INBOX_COLUMNS} FROM inboxes ORDER BY created_at, id"
            ))
            .and_then(|mut s| s.query_map([], inbox_from_row)?.collect())
            .map_err(map_err)
        })
        .await
    }

    async fn create_inbox(&self, inbox: NewInbox) -> StoreResult<Inbox> {
        let result = self
            .write(move |tx| {
                let id = new_id();
                let clean = |v: &Option<String>| {
                    v.as_ref()
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                };
                tx.conn
                    .execute(
                        "INSERT INTO inboxes (id, phone_number_id, display_phone_number, name, \
                     access_token, app_secret, verify_token, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![
                            id,
                            inbox.phone_number_id,
                            inbox.display_phone_number,
                            inbox.name,
                            clean(&inbox.credentials.access_token),
                            clean(&inbox.credentials.app_secret),
                            clean(&inbox.credentials.verify_token),
                            now_ms()
                        ],
                    )
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict(format!(
                            "an inbox for phone number id {} already exists",
                            inbox.phone_number_id
                        )),
                        other => other,
                    })?;
                query_inbox(tx.conn, "id", &id)?.ok_or(StoreError::NotFound("inbox"))
            })
            .await;
        self.forget_inboxes();
        result
    }

    async fn update_inbox(&self, id: &str, update: InboxUpdate) -> StoreResult<Inbox> {
        let id = id.to_string();
        let result = self
            .write(move |tx| {
                if query_inbox(tx.conn, "id", &id)?.is_none() {
                    return Err(StoreError::NotFound("inbox"));
                }
                if let Some(name) = &update.name {
                    tx.conn
                        .execute(
                            "UPDATE inboxes SET name = ?2 WHERE id = ?1",
                            params![id, Some(name.trim()).filter(|n| !n.is_empty())],
                        )
                        .map_err(map_err)?;
                }
                if let Some(display) = &update.display_phone_number {
                    tx.conn
                        .execute(
                            "UPDATE inboxes SET display_phone_number = ?2 WHERE id = ?1",
                            params![id, Some(display.trim()).filter(|n| !n.is_empty())],
                        )
                        .map_err(map_err)?;
                }
                let c = &update.credentials;
                for (column, value) in [
                    ("access_token", &c.access_token),
                    ("app_secret", &c.app_secret),
                    ("verify_token", &c.verify_token),
                ] {
                    let (change, value) = credential_sql(value);
                    if change {
                        tx.conn
                            .execute(
                                &format!("UPDATE inboxes SET {column} = ?2 WHERE id = ?1"),
                                params![id, value],
                            )
                            .map_err(map_err)?;
                    }
                }
                query_inbox(tx.conn, "id", &id)?.ok_or(StoreError::NotFound("inbox"))
            })
            .await;
        self.forget_inboxes();
        result
    }

    async fn set_member(&self, inbox_id: &str, user_id: &str, member: bool) -> StoreResult<()> {
        let (inbox_id, user_id) = (inbox_id.to_string(), user_id.to_string());
        self.write(move |tx| {
            if query_inbox(tx.conn, "id", &inbox_id)?.is_none() {
                return Err(StoreError::NotFound("inbox"));
            }
            if query_user(tx.conn, &user_id)?.is_none() {
                return Err(StoreError::NotFound("user"));
            }
            let sql = if member {
                "INSERT OR IGNORE INTO inbox_members (inbox_id, user_id) VALUES (?1, ?2)"
            } else {
                "DELETE FROM inbox_members WHERE inbox_id = ?1 AND user_id = ?2"
            };
            tx.conn
                .execute(sql, params![inbox_id, user_id])
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn inbox_members(&self, inbox_id: &str) -> StoreResult<Vec<String>> {
        let inbox_id = inbox_id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id FROM inbox_members WHERE inbox_id = ?1 ORDER BY user_id",
            )
            .and_then(|mut s| s.query_map([&inbox_id], |r| r.get(0))?.collect())
            .map_err(map_err)
        })
        .await
    }

    async fn user_inboxes(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let user_id = user_id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT inbox_id FROM inbox_members WHERE user_id = ?1 ORDER BY inbox_id",
            )
            .and_then(|mut s| s.query_map([&user_id], |r| r.get(0))?.collect())
            .map_err(map_err)
        })
        .await
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.write(move |tx| {
            let id = new_id();
            tx.conn
                .execute(
                    "INSERT INTO users (id, email, name, role, password_hash, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        id,
                        user.email,
                        user.name,
                        user.role.as_str(),
                        user.password_hash,
                        now_ms()
                    ],
                )
                .map_err(|e| match map_err(e) {
                    StoreError::Conflict(_) => {
                        StoreError::Conflict(format!("a user with email {} exists", user.email))
                    }
                    other => other,
                })?;
            query_user(tx.conn, &id)?.ok_or(StoreError::NotFound("user"))
        })
        .await
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_string();
        self.read(move |c| query_user(c, &id)).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        let email = email.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = ?1"
            ))
            .and_then(|mut s| {
                s.query_row([&email], |r| Ok((user_from_row(r)?, r.get(6)?)))
                    .optional()
            })
            .map_err(map_err)
        })
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
                .and_then(|mut s| s.query_map([], user_from_row)?.collect())
                .map_err(map_err)
        })
        .await
    }

    async fn update_user(&self, id: &str, update: UserUpdate) -> StoreResult<User> {
        let id = id.to_string();
        self.write(move |tx| {
            if query_user(tx.conn, &id)?.is_none() {
                return Err(StoreError::NotFound("user"));
            }
            if let Some(name) = &update.name {
                tx.conn
                    .execute(
                        "UPDATE users SET name = ?2 WHERE id = ?1",
                        params![id, name],
                    )
                    .map_err(map_err)?;
            }
            if let Some(role) = update.role {
                tx.conn
                    .execute(
                        "UPDATE users SET role = ?2 WHERE id = ?1",
                        params![id, role.as_str()],
                    )
                    .map_err(map_err)?;
            }
            if let Some(disabled) = update.disabled {
                tx.conn
                    .execute(
                        "UPDATE users SET disabled = ?2 WHERE id = ?1",
                        params![id, disabled],
                    )
                    .map_err(map_err)?;
            }
            if let Some(hash) = &update.password_hash {
                tx.conn
                    .execute(
                        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                        params![id, hash],
                    )
                    .map_err(map_err)?;
            }
            query_user(tx.conn, &id)?.ok_or(StoreError::NotFound("user"))
        })
        .await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let (hash, user_id) = (token_hash.to_string(), user_id.to_string());
        self.write(move |tx| {
            let now = now_ms();
            // Expired sessions go whenever a new one starts: no sweeper needed.
            tx.conn
                .execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])
                .map_err(map_err)?;
            tx.conn
                .execute(
                    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![hash, user_id, now, expires_at],
                )
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn session_user(&self, token_hash: &str) -> StoreResult<Option<User>> {
        let hash = token_hash.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT u.id, u.email, u.name, u.role, u.disabled, u.created_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![hash, now_ms()], user_from_row)
                    .optional()
            })
            .map_err(map_err)
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let hash = token_hash.to_string();
        self.write(move |tx| {
            tx.conn
                .execute("DELETE FROM sessions WHERE token_hash = ?1", [hash])
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        let user_id = user_id.to_string();
        self.write(move |tx| {
            tx.conn
                .execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn create_api_token(&self, token: NewApiToken) -> StoreResult<ApiTokenInfo> {
        self.write(move |tx| {
            if query_user(tx.conn, &token.user_id)?.is_none() {
                return Err(StoreError::NotFound("user"));
            }
            let id = new_id();
            tx.conn
                .execute(
                    "INSERT INTO api_tokens (id, name, user_id, token_hash, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, token.name, token.user_id, token.token_hash, now_ms()],
                )
                .map_err(map_err)?;
            tx.conn
                .query_row(
                    &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"),
                    [&id],
                    token_from_row,
                )
                .map_err(map_err)
        })
        .await
    }

    async fn api_token_user(&self, token_hash: &str) -> StoreResult<Option<(ApiTokenInfo, User)>> {
        let hash = token_hash.to_string();
        let found = self
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT t.{}, u.id, u.email, u.name, u.role, u.disabled, u.created_at \
                     FROM api_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = ?1 AND t.revoked_at IS NULL",
                    TOKEN_COLUMNS.replace(", ", ", t.")
                ))
                .and_then(|mut s| {
                    s.query_row([&hash], |r| {
                        let token = token_from_row(r)?;
                        let role: String = r.get(9)?;
                        let user = User {
                            id: r.get(6)?,
                            email: r.get(7)?,
                            name: r.get(8)?,
                            role: Role::parse(&role).unwrap_or(Role::Agent),
                            disabled: r.get(10)?,
                            created_at: r.get(11)?,
                        };
                        Ok((token, user))
                    })
                    .optional()
                })
                .map_err(map_err)
            })
            .await?;
        if let Some((token, _)) = &found {
            // Record use, at most once a minute, without holding up the request.
            let now = now_ms();
            if super::token_use_due(token.last_used_at, now) {
                let id = token.id.clone();
                self.write(move |tx| {
                    tx.conn
                        .execute(
                            "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                            params![id, now],
                        )
                        .map_err(map_err)?;
                    Ok(())
                })
                .await?;
            }
        }
        Ok(found)
    }

    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenInfo>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id"
            ))
            .and_then(|mut s| s.query_map([], token_from_row)?.collect())
            .map_err(map_err)
        })
        .await
    }

    async fn revoke_api_token(&self, id: &str) -> StoreResult<ApiTokenInfo> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.conn
                .execute(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                    params![id, now_ms()],
                )
                .map_err(map_err)?;
            tx.conn
                .query_row(
                    &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"),
                    [&id],
                    token_from_row,
                )
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound("token"))
        })
        .await
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT value FROM settings WHERE key = ?1")
                .and_then(|mut s| s.query_row([&key], |r| r.get(0)).optional())
                .map_err(map_err)
        })
        .await
    }

    async fn set_setting(&self, key: &str, value: Option<&str>) -> StoreResult<()> {
        let key = key.to_string();
        let value = value.map(str::to_string);
        self.write(move |tx| write_setting(tx.conn, &key, value.as_deref()))
            .await
    }

    async fn set_sending_paused(&self, inbox_id: &str, reason: Option<&str>) -> StoreResult<bool> {
        let inbox_id = inbox_id.to_string();
        let reason = reason.map(str::to_string);
        self.write(move |tx| {
            let key = pause_key(&inbox_id);
            let current: Option<String> = tx
                .conn
                .query_row("SELECT value FROM settings WHERE key = ?1", [&key], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(map_err)?;
            if current == reason {
                return Ok(false);
            }
            write_setting(tx.conn, &key, reason.as_deref())?;
            let status = super::inbox_status(&inbox_id, reason.as_deref())?;
            tx.append_event(&inbox_id, EventKind::InboxUpdated, status)?;
            Ok(true)
        })
        .await
    }

    async fn save_webhook(&self, id: &str, body: &[u8]) -> StoreResult<WebhookState> {
        let id = id.to_string();
        let body = body.to_vec();
        self.write(move |tx| {
            let inserted = tx
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO webhooks (id, body, received_at) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![id, body, now_ms()]))
                .map_err(map_err)?;
            if inserted == 1 {
                return Ok(WebhookState::New);
            }
            let processed: Option<i64> = tx
                .conn
                .query_row(
                    "SELECT processed_at FROM webhooks WHERE id = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            Ok(if processed.is_some() {
                WebhookState::Done
            } else {
                WebhookState::Pending
            })
        })
        .await
    }

    async fn finish_webhook(&self, id: &str, error: Option<&str>) -> StoreResult<()> {
        let id = id.to_string();
        let error = error.map(str::to_string);
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "UPDATE webhooks SET processed_at = ?2, error = ?3 WHERE id = ?1 AND processed_at IS NULL",
                )
                .and_then(|mut s| s.execute(params![id, now_ms(), error]))
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn unfinished_webhooks(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<StoredWebhook>> {
        let after = after.unwrap_or("").to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT id, body FROM webhooks WHERE processed_at IS NULL AND id > ?1 \
                 ORDER BY id LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map(params![after, limit as i64], |r| {
                    Ok(StoredWebhook {
                        id: r.get(0)?,
                        body: r.get(1)?,
                    })
                })?
                .collect()
            })
            .map_err(map_err)
        })
        .await
    }

    async fn trim_received(&self, before: i64) -> StoreResult<(u64, u64)> {
        self.write(move |tx| {
            let webhooks = tx
                .conn
                .execute("DELETE FROM webhooks WHERE received_at < ?1", [before])
                .map_err(map_err)?;
            let receipts = tx
                .conn
                .execute("DELETE FROM status_events WHERE received_at < ?1", [before])
                .map_err(map_err)?;
            Ok((webhooks as u64, receipts as u64))
        })
        .await
    }

    async fn record_inbound(&self, msg: NewInbound) -> StoreResult<InboundOutcome> {
        self.write(move |tx| {
            if query_message_by_wamid(tx.conn, &msg.inbox_id, &msg.wamid)?.is_some() {
                return Ok(InboundOutcome::Duplicate);
            }
            let contact_id = upsert_contact(tx.conn, &msg.inbox_id, &msg.contact)?;
            let conversation_id = ensure_conversation(tx.conn, &msg.inbox_id, &contact_id)?;
            let mut m = msg.message(conversation_id, 0, now_ms());
            m.seq = insert_message(tx.conn, &m, Some(&msg.raw))?;
            touch_conversation(tx.conn, &m, m.timestamp.saturating_mul(1000))?;
            tx.emit_message(EventKind::MessageCreated, &m)?;
            tx.emit_conversation(&m.conversation_id)?;
            Ok(InboundOutcome::Created(Box::new(m)))
        })
        .await
    }

    async fn record_status(&self, report: StatusReport) -> StoreResult<StatusOutcome> {
        self.write(move |tx| {
            let error_code = report.error.as_ref().map(|e| e.code).unwrap_or(0);
            let inserted = tx
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO status_events (inbox_id, wamid, status, timestamp, \
                     error_code, error_title, error_detail, callback_data, raw, received_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        report.inbox_id,
                        report.wamid,
                        report.status,
                        report.timestamp,
                        error_code,
                        report.error.as_ref().map(|e| e.title.clone()),
                        report.error.as_ref().and_then(|e| e.detail.clone()),
                        report.callback_data,
                        report.raw,
                        now_ms(),
                    ])
                })
                .map_err(map_err)?;
            if inserted == 0 {
                return Ok(StatusOutcome::Duplicate);
            }
            if MessageStatus::from_wire(&report.status).is_none() {
                return Ok(StatusOutcome::Unrecognised);
            }
            let mut message = query_message_by_wamid(tx.conn, &report.inbox_id, &report.wamid)?;
            let mut linked = false;
            if message.is_none() {
                // The receipt beat the send response: our id rides in the callback data.
                if let Some(data) = &report.callback_data {
                    let (our_id, attempt) = super::parse_callback_data(data);
                    let current = query_message(tx.conn, our_id)?
                        .filter(|m| super::receipt_claims(m, &report.inbox_id, attempt));
                    if current.is_some() {
                        tx.conn
                            .execute(
                                "UPDATE messages SET wamid = ?2 WHERE id = ?1",
                                params![our_id, report.wamid],
                            )
                            .map_err(map_err)?;
                        linked = true;
                        message = query_message(tx.conn, our_id)?;
                    }
                }
            }
            let Some(m) = message else {
                return Ok(StatusOutcome::Parked);
            };
            if m.direction == Direction::In {
                return Ok(StatusOutcome::Unchanged);
            }
            let changed = apply_pending_receipts(tx.conn, &m)?;
            if changed || linked {
                Ok(StatusOutcome::Applied(Box::new(publish_message_change(
                    tx, &m.id,
                )?)))
            } else {
                Ok(StatusOutcome::Unchanged)
            }
        })
        .await
    }

    async fn create_outbound(&self, msg: NewOutbound) -> StoreResult<(Message, bool)> {
        self.write(move |tx| {
            let inbox_id: Option<String> = tx
                .conn
                .prepare_cached("SELECT inbox_id FROM conversations WHERE id = ?1")
                .and_then(|mut s| s.query_row([&msg.conversation_id], |r| r.get(0)).optional())
                .map_err(map_err)?;
            let inbox_id = inbox_id.ok_or(StoreError::NotFound("conversation"))?;
            let existing = tx
                .conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE inbox_id = ?1 AND client_id = ?2"
                ))
                .and_then(|mut s| {
                    s.query_row([&inbox_id, &msg.client_id], message_from_row)
                        .optional()
                })
                .map_err(map_err)?;
            if let Some(m) = existing {
                return msg.repeated(m);
            }
            let created_at = now_ms();
            let mut m = msg.message(inbox_id, 0, created_at);
            m.seq = insert_message(tx.conn, &m, None)?;
            put_job(tx.conn, &super::first_send_job(&m.id, created_at))?;
            touch_conversation(tx.conn, &m, created_at)?;
            tx.emit_message(EventKind::MessageCreated, &m)?;
            tx.emit_conversation(&m.conversation_id)?;
            Ok((m, true))
        })
        .await
    }

    async fn mark_accepted(&self, message_id: &str, wamid: &str) -> StoreResult<Message> {
        let id = message_id.to_string();
        let wamid = wamid.to_string();
        self.write(move |tx| {
            let m = query_message(tx.conn, &id)?.ok_or(StoreError::NotFound("message"))?;
            let mut changed = super::wamid_to_set(&m, &wamid)?;
            if changed {
                tx.conn
                    .execute(
                        "UPDATE messages SET wamid = ?2 WHERE id = ?1",
                        params![id, wamid],
                    )
                    .map_err(map_err)?;
            }
            let m = query_message(tx.conn, &id)?.ok_or(StoreError::NotFound("message"))?;
            changed |= apply_pending_receipts(tx.conn, &m)?;
            if changed {
                publish_message_change(tx, &id)
            } else {
                Ok(m)
            }
        })
        .await
    }

    async fn mark_send_failed(&self, message_id: &str, error: &ErrorInfo) -> StoreResult<Message> {
        let id = message_id.to_string();
        let error = error.clone();
        self.write(move |tx| {
            if query_message(tx.conn, &id)?.is_none() {
                return Err(StoreError::NotFound("message"));
            }
            let before = delivery_state(tx.conn, &id)?;
            let after = before.apply(MessageStatus::Failed, Some(&error));
            save_delivery_state(tx.conn, &id, &after)?;
            publish_message_change(tx, &id)
        })
        .await
    }

    async fn retry_outbound(&self, message_id: &str) -> StoreResult<Message> {
        let id = message_id.to_string();
        self.write(move |tx| {
            let m = query_message(tx.conn, &id)?.ok_or(StoreError::NotFound("message"))?;
            let details = super::retry_details(&m)?;
            tx.conn
                .execute(
                    "UPDATE messages SET wamid = NULL, status_rank = 0, failed = 0, \
                     status = 'pending', details = ?2 WHERE id = ?1",
                    params![id, details_json(&details)?],
                )
                .map_err(map_err)?;
            put_job(tx.conn, &super::first_send_job(&id, now_ms()))?;
            publish_message_change(tx, &id)
        })
        .await
    }

    async fn edit_message(
        &self,
        message_id: &str,
        edit: MessageEdit,
    ) -> StoreResult<Option<Message>> {
        let id = message_id.to_string();
        self.write(move |tx| {
            let before = query_message(tx.conn, &id)?.ok_or(StoreError::NotFound("message"))?;
            let Some(after) = super::edited(&before, &edit) else {
                return Ok(None);
            };
            tx.conn
                .execute(
                    "UPDATE messages SET text = ?2, details = ?3 WHERE id = ?1",
                    params![id, after.text, details_json(&after.details)?],
                )
                .map_err(map_err)?;
            publish_message_change(tx, &id).map(Some)
        })
        .await
    }

    async fn change_contact_phone(
        &self,
        inbox_id: &str,
        old_wa_id: &str,
        new_wa_id: &str,
    ) -> StoreResult<bool> {
        let (inbox_id, old, new) = (
            inbox_id.to_string(),
            old_wa_id.to_string(),
            new_wa_id.to_string(),
        );
        self.write(move |tx| {
            let contact: Option<String> = tx
                .conn
                .prepare_cached("SELECT id FROM contacts WHERE inbox_id = ?1 AND wa_id = ?2")
                .and_then(|mut s| s.query_row([&inbox_id, &old], |r| r.get(0)).optional())
                .map_err(map_err)?;
            let Some(contact) = contact else {
                return Ok(false);
            };
            if old == new {
                return Ok(true);
            }
            let taken: Option<String> = tx
                .conn
                .prepare_cached("SELECT id FROM contacts WHERE inbox_id = ?1 AND wa_id = ?2")
                .and_then(|mut s| s.query_row([&inbox_id, &new], |r| r.get(0)).optional())
                .map_err(map_err)?;
            if taken.is_some() {
                return Err(StoreError::Conflict(format!(
                    "another contact already has the number {new}"
                )));
            }
            tx.conn
                .execute(
                    "UPDATE contacts SET wa_id = ?2 WHERE id = ?1",
                    params![contact, new],
                )
                .map_err(map_err)?;
            let conversation: Option<String> = tx
                .conn
                .prepare_cached("SELECT id FROM conversations WHERE contact_id = ?1")
                .and_then(|mut s| s.query_row([&contact], |r| r.get(0)).optional())
                .map_err(map_err)?;
            if let Some(c) = conversation {
                tx.conn
                    .execute(
                        "UPDATE conversations SET version = version + 1 WHERE id = ?1",
                        [&c],
                    )
                    .map_err(map_err)?;
                tx.emit_conversation(&c)?;
            }
            Ok(true)
        })
        .await
    }

    async fn mark_conversation_read(&self, conversation_id: &str) -> StoreResult<Conversation> {
        let id = conversation_id.to_string();
        self.write(move |tx| {
            let changed = tx
                .conn
                .execute(
                    "UPDATE conversations SET unread_count = 0, version = version + 1 \
                     WHERE id = ?1 AND unread_count > 0",
                    [&id],
                )
                .map_err(map_err)?;
            if changed == 1 {
                tx.emit_conversation(&id)
            } else {
                query_conversation(tx.conn, &id)?.ok_or(StoreError::NotFound("conversation"))
            }
        })
        .await
    }

    async fn list_conversations(
        &self,
        scope: &Scope,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        let scope = scope.clone();
        self.read(move |c| match scope {
            Scope::All => c
                .prepare_cached(&format!(
                    "{CONVERSATION_SELECT} ORDER BY c.last_activity_at DESC, c.id LIMIT ?1"
                ))
                .and_then(|mut s| {
                    s.query_map([limit as i64], conversation_from_row)?
                        .collect()
                })
                .map_err(map_err),
            Scope::Inboxes(ids) => {
                // The scope holds the viewer's inboxes: a handful, so an IN list is fine.
                let ids =
                    serde_json::to_string(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                c.prepare_cached(&format!(
                    "{CONVERSATION_SELECT} WHERE c.inbox_id IN (SELECT value FROM json_each(?2)) \
                     ORDER BY c.last_activity_at DESC, c.id LIMIT ?1"
                ))
                .and_then(|mut s| {
                    s.query_map(params![limit as i64, ids], conversation_from_row)?
                        .collect()
                })
                .map_err(map_err)
            }
        })
        .await
    }

    async fn conversation(&self, id: &str) -> StoreResult<Option<Conversation>> {
        let id = id.to_string();
        self.read(move |c| query_conversation(c, &id)).await
    }

    async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        let id = id.to_string();
        self.read(move |c| query_message(c, &id)).await
    }

    async fn message_by_wamid(&self, inbox_id: &str, wamid: &str) -> StoreResult<Option<Message>> {
        let (inbox_id, wamid) = (inbox_id.to_string(), wamid.to_string());
        self.read(move |c| query_message_by_wamid(c, &inbox_id, &wamid))
            .await
    }

    async fn replies_to(
        &self,
        inbox_id: &str,
        wamid: &str,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        let (inbox_id, wamid) = (inbox_id.to_string(), wamid.to_string());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE inbox_id = ?1 AND reply_to = ?2 \
                 ORDER BY timestamp, seq LIMIT ?3"
            ))
            .and_then(|mut s| {
                s.query_map(params![inbox_id, wamid, limit as i64], message_from_row)?
                    .collect()
            })
            .map_err(map_err)
        })
        .await
    }

    async fn schedule_job(&self, job: Job) -> StoreResult<()> {
        self.write(move |tx| put_job(tx.conn, &job)).await
    }

    async fn add_job_if_missing(&self, job: Job) -> StoreResult<bool> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO jobs (kind, key, due_at, attempts) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (kind, key) DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        job.kind.as_str(),
                        job.key,
                        job.due_at,
                        job.attempts
                    ])
                })
                .map(|n| n > 0)
                .map_err(map_err)
        })
        .await
    }

    async fn due_jobs(&self, now: i64, limit: usize) -> StoreResult<Vec<Job>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT kind, key, due_at, attempts, claims FROM jobs WHERE due_at <= ?1 \
                 ORDER BY due_at LIMIT ?2",
            )
            .and_then(|mut s| s.query_map(params![now, limit as i64], job_row)?.collect())
            .map(jobs_of)
            .map_err(map_err)
        })
        .await
    }

    async fn claim_jobs(
        &self,
        kind: JobKind,
        now: i64,
        owner: &str,
        lease_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Job>> {
        let owner = owner.to_string();
        // One statement picks and leases, inside the writer's IMMEDIATE transaction, so
        // another process on the same file waits for the lock and then sees the new due
        // times.
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "UPDATE jobs SET due_at = ?2 + ?4, owner = ?3, claims = claims + 1 \
                     WHERE rowid IN (SELECT rowid FROM jobs WHERE kind = ?1 AND due_at <= ?2 \
                     ORDER BY due_at LIMIT ?5) \
                     RETURNING kind, key, due_at, attempts, claims",
                )
                .and_then(|mut s| {
                    s.query_map(
                        params![kind.as_str(), now, owner, lease_ms, limit as i64],
                        job_row,
                    )?
                    .collect()
                })
                .map(jobs_of)
                .map_err(map_err)
        })
        .await
    }

    async fn release_job(&self, kind: JobKind, key: &str, due_at: i64) -> StoreResult<()> {
        let key = key.to_string();
        self.write(move |tx| {
            tx.conn
                .execute(
                    "UPDATE jobs SET due_at = ?3, owner = NULL WHERE kind = ?1 AND key = ?2",
                    params![kind.as_str(), key, due_at],
                )
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn finish_job(&self, kind: JobKind, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.write(move |tx| {
            tx.conn
                .execute(
                    "DELETE FROM jobs WHERE kind = ?1 AND key = ?2",
                    params![kind.as_str(), key],
                )
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn load_messages(
        &self,
        conversation_id: &str,
        before: Option<Cursor>,
        limit: usize,
    ) -> StoreResult<MessagePage> {
        let id = conversation_id.to_string();
        self.read(move |c| {
            let before = before.unwrap_or(Cursor {
                timestamp: i64::MAX,
                seq: i64::MAX,
            });
            let messages: Vec<Message> = c
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 \
                     AND (timestamp, seq) < (?2, ?3) ORDER BY timestamp DESC, seq DESC LIMIT ?4"
                ))
                .and_then(|mut s| {
                    s.query_map(
                        params![id, before.timestamp, before.seq, (limit + 1) as i64],
                        message_from_row,
                    )?
                    .collect()
                })
                .map_err(map_err)?;
            Ok(MessagePage::from_overfetch(messages, limit))
        })
        .await
    }

    async fn events_after(&self, after: i64, limit: usize) -> StoreResult<Vec<Event>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT seq, inbox_id, kind, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map(params![after, limit as i64], |r| {
                    let kind: String = r.get(2)?;
                    Ok((r.get(0)?, r.get(1)?, kind, r.get(3)?))
                })?
                .collect::<rusqlite::Result<Vec<(i64, String, String, String)>>>()
            })
            .map_err(map_err)?
            .into_iter()
            .map(|(seq, inbox_id, kind, data)| {
                Ok(Event {
                    seq,
                    inbox_id,
                    kind: EventKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind}")))?,
                    data,
                })
            })
            .collect()
        })
        .await
    }

    async fn event_bounds(&self) -> StoreResult<EventBounds> {
        self.read(|c| {
            // sqlite_sequence remembers the highest seq ever handed out, even once trimmed.
            let head: i64 = c
                .query_row(
                    "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
                    [],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            let floor: i64 = c
                .query_row(
                    "SELECT COALESCE((SELECT value FROM meta WHERE key = 'event_floor'), 0)",
                    [],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            Ok(EventBounds { floor, head })
        })
        .await
    }

    async fn trim_events(&self, upto: i64) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = tx
                .conn
                .execute("DELETE FROM events WHERE seq <= ?1", [upto])
                .map_err(map_err)?;
            tx.conn
                .execute(
                    "INSERT INTO meta (key, value) VALUES ('event_floor', ?1) \
                     ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
                    [upto],
                )
                .map_err(map_err)?;
            Ok(n as u64)
        })
        .await
    }
}
