//! The embedded store: one SQLite file in WAL mode.
//!
//! All writes go through one writer thread. It takes whatever jobs are queued, runs them
//! in one transaction and commits them together (group commit), so a burst of webhooks
//! costs one disk sync rather than one each; should a job fail, the batch runs again with
//! each job in its own savepoint, so a failing job never takes its neighbours down. A
//! job's caller hears back only after the commit, so nothing is acknowledged that is not
//! durable. Reads use a small pool of read-only connections, which WAL lets run beside
//! the writer.

mod accounts;
mod audit;
mod history;
mod jobs;
mod messages;
mod rows;
mod schema;
mod wal;
mod webhooks;
mod workflow;
mod writer;

pub use wal::WalOptions;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, config::DbConfig, params};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use super::recent::{InboxCache, SettingCache};
use super::{
    AccountStore, ContactFilter, ContactKey, ContactUpdate, ConversationFilter, DeliveryState,
    Event, EventBounds, EventKind, EventLog, HistoryStore, InboundOutcome, Inbox, InboxCredentials,
    InboxUpdate, Job, JobKind, JobStore, MessageEdit, MessageStore, NewApiToken, NewInbound,
    NewInbox, NewOutbound, NewUser, Scope, StatusOutcome, StatusReport, StoreError, StoreResult,
    StoredWebhook, UserUpdate, WebhookState, WorkflowStore, new_id, now_ms, pause_key, to_json,
};
use crate::model::{
    Activity, ApiTokenInfo, CannedResponse, Contact, ContactEntry, Conversation,
    ConversationStatus, Cursor, Details, Direction, ErrorInfo, Message, MessageKind, MessagePage,
    MessagePreview, MessageStatus, Role, UNREAD_CAP, User, UserRef, View, ViewCounts,
};
use jobs::*;
use rows::*;
use schema::*;
use writer::{WriteJob, WriteTask, writer_loop};

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
    pub wal: WalOptions,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            synchronous: Synchronous::Normal,
            readers: 4,
            wal: WalOptions::default(),
        }
    }
}

pub struct SqliteStore {
    writer: mpsc::Sender<Box<dyn WriteJob>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    read_slots: Arc<Semaphore>,
    commits: Arc<Notify>,
    committed: Arc<Mutex<Vec<Event>>>,
    inbox_cache: InboxCache,
    recent_settings: SettingCache,
    /// Dropped with the store, which ends the checkpoint thread.
    _stop_checkpoints: std::sync::mpsc::Sender<()>,
}

const MAX_BATCH: usize = 512;
/// Committed events waiting for the hub; past this, it reads them from the log instead.
const MAX_STAGED: usize = 100_000;
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
        // thread, so no commit waits behind one (`wal`). The writer's own automatic
        // checkpoint stays as a backstop, far out, in case that thread cannot keep up.
        //
        // Each job in a group commit runs in its own savepoint, which copies every page it
        // touches to a statement journal; past 64 KiB SQLite spills that journal to a temp
        // file, and those writes were most of the writer's system calls (four in five of
        // its `pwrite`s at 3,000 webhooks/s). In memory it is a copy.
        writer
            .execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = {}; PRAGMA temp_store = MEMORY;",
                wal::WRITER_BACKSTOP
            ))
            .map_err(map_err)?;
        let checkpointer = open_connection(&options.path, options.synchronous, false)?;
        let (stop_checkpoints, stopped) = std::sync::mpsc::channel::<()>();
        let catch_up = wal::CatchUp::default();
        let writer_catch_up = catch_up.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || wal::checkpoint_loop(checkpointer, options.wal, stopped, catch_up))
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
            .spawn(move || writer_loop(writer, rx, notify, stage, writer_catch_up))
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer thread: {e}")))?;
        Ok(Self {
            writer: tx,
            read_slots: Arc::new(Semaphore::new(readers.len())),
            readers: Arc::new(Mutex::new(readers)),
            commits,
            committed,
            inbox_cache: InboxCache::default(),
            recent_settings: SettingCache::default(),
            _stop_checkpoints: stop_checkpoints,
        })
    }

    /// Runs `f` on the writer, in the next group commit; answers once that committed.
    /// `f` may run twice (see `writer::run_batch`), so it only writes to the database.
    async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        F: Fn(&Tx) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Box::new(WriteTask {
                f,
                result: None,
                reply,
            }))
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
            let result = on_reader(&pool, f);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }

    /// A read by key, run on the calling task: it takes microseconds, less than handing
    /// it to the blocking pool and back (a thread switch each way, which showed in the
    /// ingest's profile). Anything that scans or sorts goes through [`Self::read`].
    async fn read_now<R, F>(&self, f: F) -> StoreResult<R>
    where
        F: FnOnce(&Connection) -> StoreResult<R>,
    {
        let _permit = self
            .read_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("reader pool closed".into()))?;
        on_reader(&self.readers, f)
    }
}

/// Runs `f` on a free reader connection (the caller holds a permit, so one is free) and
/// gives the connection back, even if `f` panicked.
fn on_reader<R>(
    pool: &Mutex<Vec<Connection>>,
    f: impl FnOnce(&Connection) -> StoreResult<R>,
) -> StoreResult<R> {
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
    result
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
    // Without the planner's stability guarantee SQLite may mark a statement to be
    // compiled again when a parameter is rebound, and rusqlite clears every cached
    // statement's parameters when it is put back: a join by id (a conversation with its
    // contact and last message) was parsed and planned anew on every call, a fifth of the
    // writer's time. The plans it would vary by value need statistics this database
    // never gathers (no ANALYZE), so nothing is lost.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(map_err)?;
    // rusqlite keeps 16 prepared statements by default, fewer than one webhook's path
    // uses, so the least recent were parsed again on every webhook.
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// Runs one statement through the connection's cache, so it is parsed once, not per call.
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(map_err)
}

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

// ---- row mapping -----------------------------------------------------------------------
#[async_trait]
impl EventLog for SqliteStore {
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
