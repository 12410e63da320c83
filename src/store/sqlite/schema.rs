//! The SQLite schema, one migration per version, applied in order at start-up.

use super::*;

pub(super) const SCHEMA_VERSION: i64 = 12;
pub(super) fn migrate(conn: &Connection) -> StoreResult<()> {
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
    if version < 5 {
        conn.execute_batch(SCHEMA_V5).map_err(map_err)?;
    }
    if version < 6 {
        conn.execute_batch(SCHEMA_V6).map_err(map_err)?;
    }
    if version < 7 {
        conn.execute_batch(SCHEMA_V7).map_err(map_err)?;
    }
    if version < 8 {
        conn.execute_batch(SCHEMA_V8).map_err(map_err)?;
    }
    if version < 9 {
        conn.execute_batch(SCHEMA_V9).map_err(map_err)?;
    }
    if version < 10 {
        conn.execute_batch(SCHEMA_V10).map_err(map_err)?;
    }
    if version < 11 {
        conn.execute_batch(SCHEMA_V11).map_err(map_err)?;
    }
    if version < 12 {
        conn.execute_batch(SCHEMA_V12).map_err(map_err)?;
    }
    Ok(())
}

/// The search index is written once per group commit instead of once per message. Each
/// write job ran in a savepoint then, and FTS5 flushes what it holds in memory to a new
/// segment of its own at every savepoint, so each message became a segment, merged again
/// later: a fifth of the writer's time at 3,000 webhooks/s. The triggers now only note the
/// message (`messages_fts_pending`) and the writer indexes the noted ones just before it
/// commits ([`index_pending`]), outside any savepoint. An edit's old entry is still
/// deleted at once (edits are rare); one not yet indexed has no entry to delete.
pub(super) const SCHEMA_V12: &str = r#"
BEGIN;
CREATE TABLE messages_fts_pending (seq INTEGER PRIMARY KEY);
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT OR IGNORE INTO messages_fts_pending (seq) VALUES (new.seq);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, details, timestamp ON messages BEGIN
    DELETE FROM messages_fts
        WHERE rowid = (max(min(old.timestamp, 2147483647), 0) << 32) | old.seq;
    INSERT OR IGNORE INTO messages_fts_pending (seq) VALUES (new.seq);
END;
PRAGMA user_version = 12;
COMMIT;
"#;

/// Indexes the messages noted since the last call (see [`SCHEMA_V12`]) as they are now,
/// each under its `search_key`. Called by the writer inside its transaction, after the
/// batch's jobs, before it commits.
pub(super) fn index_pending(conn: &Connection) -> StoreResult<()> {
    exec(
        conn,
        "INSERT INTO messages_fts (rowid, body) \
         SELECT (max(min(m.timestamp, 2147483647), 0) << 32) | m.seq, \
             coalesce(m.text, '') || ' ' || coalesce(CASE WHEN json_valid(m.details) \
             THEN json_extract(m.details, '$.media.filename') END, '') \
         FROM messages_fts_pending p JOIN messages m ON m.seq = p.seq ORDER BY p.seq",
        [],
    )?;
    exec(conn, "DELETE FROM messages_fts_pending", [])?;
    Ok(())
}

/// The search index keyed in result order: each entry's rowid is the message's
/// `search_key` (timestamp in the high 32 bits, seq in the low 32), so the newest matches
/// come straight from the index and a page stops after `limit` of them. Prefixes of one
/// to four letters are indexed too: without that, a short word start ("de") merges the
/// lists of every word it begins before the first result. (The key's formula is also
/// `rows::search_key`, which SQL cannot call.)
pub(super) const SCHEMA_V11: &str = r#"
BEGIN;
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3 4'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (
        (max(min(new.timestamp, 2147483647), 0) << 32) | new.seq,
        coalesce(new.text, '') || ' ' || coalesce(CASE WHEN json_valid(new.details)
            THEN json_extract(new.details, '$.media.filename') END, ''));
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, details, timestamp ON messages BEGIN
    DELETE FROM messages_fts
        WHERE rowid = (max(min(old.timestamp, 2147483647), 0) << 32) | old.seq;
    INSERT INTO messages_fts (rowid, body) VALUES (
        (max(min(new.timestamp, 2147483647), 0) << 32) | new.seq,
        coalesce(new.text, '') || ' ' || coalesce(CASE WHEN json_valid(new.details)
            THEN json_extract(new.details, '$.media.filename') END, ''));
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    DELETE FROM messages_fts
        WHERE rowid = (max(min(old.timestamp, 2147483647), 0) << 32) | old.seq;
END;
INSERT INTO messages_fts (rowid, body)
    SELECT (max(min(timestamp, 2147483647), 0) << 32) | seq,
        coalesce(text, '') || ' ' || coalesce(CASE WHEN json_valid(details)
        THEN json_extract(details, '$.media.filename') END, '') FROM messages;
PRAGMA user_version = 11;
COMMIT;
"#;

/// The audit log; ids are UUID v7, so the primary key is also time order.
pub(super) const SCHEMA_V10: &str = r#"
BEGIN;
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at INTEGER NOT NULL,
    actor_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    changes TEXT NOT NULL,
    address TEXT
);
CREATE INDEX audit_by_actor ON audit_log(actor, id);
CREATE INDEX audit_by_action ON audit_log(action, id);
PRAGMA user_version = 10;
COMMIT;
"#;

/// Outgoing webhook subscriptions; `events` and `inbox_ids` are JSON arrays of strings.
pub(super) const SCHEMA_V9: &str = r#"
BEGIN;
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    inbox_ids TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    cursor INTEGER NOT NULL,
    retrying INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    failing_since INTEGER,
    created_at INTEGER NOT NULL
);
PRAGMA user_version = 9;
COMMIT;
"#;

/// Full-text search: each message's text (body, caption or note) and file name, indexed
/// by its `seq` with accents folded (`unicode61 remove_diacritics 2`), kept in step by
/// triggers so no write path can forget it. Existing messages are indexed here once.
pub(super) const SCHEMA_V8: &str = r#"
BEGIN;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.seq,
        coalesce(new.text, '') || ' ' || coalesce(CASE WHEN json_valid(new.details)
            THEN json_extract(new.details, '$.media.filename') END, ''));
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, details ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.seq;
    INSERT INTO messages_fts (rowid, body) VALUES (new.seq,
        coalesce(new.text, '') || ' ' || coalesce(CASE WHEN json_valid(new.details)
            THEN json_extract(new.details, '$.media.filename') END, ''));
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.seq;
END;
INSERT INTO messages_fts (rowid, body)
    SELECT seq, coalesce(text, '') || ' ' || coalesce(CASE WHEN json_valid(details)
        THEN json_extract(details, '$.media.filename') END, '') FROM messages;
PRAGMA user_version = 8;
COMMIT;
"#;
/// Canned responses: a shortcut names one response across every inbox.
pub(super) const SCHEMA_V7: &str = r#"
BEGIN;
CREATE TABLE canned_responses (
    id TEXT PRIMARY KEY,
    shortcut TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    inbox_id TEXT
);
PRAGMA user_version = 7;
COMMIT;
"#;
/// Who is online (for auto-assignment): a socket's user, last seen at.
pub(super) const SCHEMA_V6: &str = r#"
BEGIN;
CREATE TABLE presence (
    user_id TEXT PRIMARY KEY,
    seen_at INTEGER NOT NULL
);
PRAGMA user_version = 6;
COMMIT;
"#;
/// The team's workflow: who owns a conversation and where it stands, labels, contact
/// details, who sent a message, and the activity lines.
pub(super) const SCHEMA_V5: &str = r#"
BEGIN;
ALTER TABLE conversations ADD COLUMN status TEXT NOT NULL DEFAULT 'open';
ALTER TABLE conversations ADD COLUMN snoozed_until INTEGER;
ALTER TABLE conversations ADD COLUMN assignee_id TEXT;
ALTER TABLE conversations ADD COLUMN assignee_name TEXT;
ALTER TABLE conversations ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE conversations ADD COLUMN last_change TEXT;
ALTER TABLE contacts ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE contacts ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN opted_out INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN sent_by TEXT;
CREATE TABLE activities (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX activities_by_conversation ON activities(conversation_id, at);
CREATE INDEX conversations_by_assignee ON conversations(assignee_id, last_activity_at DESC, id);
CREATE INDEX contacts_by_inbox ON contacts(inbox_id, id);
PRAGMA user_version = 5;
COMMIT;
"#;
/// Jobs are claimed by one instance at a time; kept bodies and receipts are trimmed by age.
pub(super) const SCHEMA_V4: &str = r#"
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
pub(super) const SCHEMA_V3: &str = r#"
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
pub(super) const SCHEMA_V2: &str = r#"
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
pub(super) const SCHEMA_V1: &str = r#"
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

#[cfg(test)]
mod tests {
    use super::*;

    /// How many messages the search index holds for `word`.
    fn found(conn: &Connection, word: &str) -> i64 {
        conn.query_row(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1",
            [word],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn upgrading_to_v11_indexes_existing_messages_in_result_order() {
        let conn = Connection::open_in_memory().unwrap();
        for sql in [
            SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6, SCHEMA_V7, SCHEMA_V8,
            SCHEMA_V9, SCHEMA_V10,
        ] {
            conn.execute_batch(sql).unwrap();
        }
        // One message alone, without the inbox and conversation it would belong to.
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        conn.execute(
            "INSERT INTO messages (id, inbox_id, conversation_id, direction, kind, text, \
             status, timestamp, created_at) \
             VALUES ('m1', 'i', 'c', 'in', 'text', 'Entrega hoje', 'received', 100, 0)",
            [],
        )
        .unwrap();
        migrate(&conn).unwrap();
        let key: i64 = conn
            .query_row(
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'entrega'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(key, search_key(100, 1));
        // Later writes keep it in step.
        conn.execute("UPDATE messages SET text = 'chegou' WHERE id = 'm1'", [])
            .unwrap();
        index_pending(&conn).unwrap();
        let found = |word| found(&conn, word);
        assert_eq!((found("entrega"), found("chegou")), (0, 1));
    }

    #[test]
    fn a_message_edited_before_its_batch_is_indexed_is_found_once_by_its_new_text() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             BEGIN;
             INSERT INTO messages (id, inbox_id, conversation_id, direction, kind, text, \
                 status, timestamp, created_at) \
                 VALUES ('m1', 'i', 'c', 'in', 'text', 'Entrega hoje', 'received', 100, 0);
             SAVEPOINT job;
             UPDATE messages SET text = 'Chegou hoje' WHERE id = 'm1';
             RELEASE job;",
        )
        .unwrap();
        // Nothing is in the index until the writer indexes the batch, just before commit.
        let found = |word| found(&conn, word);
        assert_eq!(found("hoje"), 0);
        index_pending(&conn).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        assert_eq!(
            (found("entrega"), found("chegou"), found("hoje")),
            (0, 1, 1)
        );
        let pending: i64 = conn
            .query_row("SELECT count(*) FROM messages_fts_pending", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(pending, 0);
    }
}
