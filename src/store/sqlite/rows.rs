//! Rows to domain types and back: the column lists and the small reads every part uses.

use super::*;

pub(super) const MESSAGE_COLUMNS: &str = "id, wamid, conversation_id, inbox_id, direction, kind, text, \
     status, error_code, error_title, error_detail, timestamp, created_at, client_id, seq, \
     version, reply_to, details, sent_by";
/// Where a message sits in the search index, in result order: timestamp (clamped to
/// 31 bits) above seq (32 bits, four billion messages). Also written in SQL in the
/// schema's triggers and `schema::index_pending`.
pub(super) fn search_key(timestamp: i64, seq: i64) -> i64 {
    (timestamp.clamp(0, i32::MAX as i64) << 32) | (seq & 0xffff_ffff)
}

pub(super) fn message_from_row(r: &Row) -> rusqlite::Result<Message> {
    let direction: String = r.get(4)?;
    let kind: String = r.get(5)?;
    let status: String = r.get(7)?;
    let error_code: Option<i64> = r.get(8)?;
    Ok(Message {
        id: r.get(0)?,
        wamid: r.get(1)?,
        conversation_id: r.get(2)?,
        inbox_id: r.get(3)?,
        direction: Direction::parse(&direction),
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
        sent_by: json_column(r, 18)?,
    })
}

/// A JSON column; unreadable JSON (never written so) reads as the type's default.
pub(super) fn json_column<T: serde::de::DeserializeOwned + Default>(
    r: &Row,
    i: usize,
) -> rusqlite::Result<T> {
    Ok(r.get::<_, Option<String>>(i)?
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default())
}

pub(super) fn details_json(d: &Details) -> StoreResult<Option<String>> {
    if *d == Details::default() {
        Ok(None)
    } else {
        to_json(d).map(Some)
    }
}

pub(super) fn parse_status(s: &str) -> MessageStatus {
    match s {
        "received" => MessageStatus::Received,
        "failed" => MessageStatus::Failed,
        "pending" => MessageStatus::Pending,
        other => MessageStatus::from_wire(other).unwrap_or(MessageStatus::Pending),
    }
}

pub(super) fn query_message(conn: &Connection, id: &str) -> StoreResult<Option<Message>> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], message_from_row).optional())
    .map_err(map_err)
}

pub(super) fn query_message_by_wamid(
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

pub(super) const CONVERSATION_SELECT: &str = "SELECT c.id, c.inbox_id, c.unread_count, c.last_activity_at, \
     c.last_inbound_at, c.version, ct.id, ct.name, ct.wa_id, ct.user_id, \
     m.id, m.direction, m.kind, m.text, m.status, m.timestamp, \
     c.status, c.snoozed_until, c.assignee_id, c.assignee_name, c.labels, c.last_change, \
     ct.labels, ct.attributes, ct.opted_out \
     FROM conversations c JOIN contacts ct ON ct.id = c.contact_id \
     LEFT JOIN messages m ON m.id = c.last_message_id";
pub(super) fn conversation_from_row(r: &Row) -> rusqlite::Result<Conversation> {
    let last_id: Option<String> = r.get(10)?;
    let last_message = match last_id {
        Some(id) => {
            let direction: String = r.get(11)?;
            let kind = MessageKind::from_wire(&r.get::<_, String>(12)?);
            let text: Option<String> = r.get(13)?;
            let status: String = r.get(14)?;
            Some(MessagePreview {
                id,
                direction: Direction::parse(&direction),
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
            labels: json_column(r, 22)?,
            attributes: json_column(r, 23)?,
            opted_out: r.get(24)?,
        },
        last_message,
        status: ConversationStatus::parse(&r.get::<_, String>(16)?).unwrap_or_default(),
        snoozed_until: r.get(17)?,
        assignee: match (
            r.get::<_, Option<String>>(18)?,
            r.get::<_, Option<String>>(19)?,
        ) {
            (Some(id), name) => Some(UserRef {
                id,
                name: name.unwrap_or_default(),
            }),
            _ => None,
        },
        labels: json_column(r, 20)?,
        last_change: json_column(r, 21)?,
    })
}

pub(super) const CONTACT_SELECT: &str = "SELECT ct.id, ct.name, ct.wa_id, ct.user_id, ct.labels, \
     ct.attributes, ct.opted_out, ct.inbox_id, c.id \
     FROM contacts ct LEFT JOIN conversations c ON c.contact_id = ct.id";
pub(super) fn contact_from_row(r: &Row) -> rusqlite::Result<ContactEntry> {
    Ok(ContactEntry {
        contact: Contact {
            id: r.get(0)?,
            name: r.get(1)?,
            wa_id: r.get(2)?,
            user_id: r.get(3)?,
            labels: json_column(r, 4)?,
            attributes: json_column(r, 5)?,
            opted_out: r.get(6)?,
        },
        inbox_id: r.get(7)?,
        conversation_id: r.get(8)?,
    })
}

pub(super) fn query_conversation(conn: &Connection, id: &str) -> StoreResult<Option<Conversation>> {
    conn.prepare_cached(&format!("{CONVERSATION_SELECT} WHERE c.id = ?1"))
        .and_then(|mut s| s.query_row([id], conversation_from_row).optional())
        .map_err(map_err)
}

pub(super) const INBOX_COLUMNS: &str =
    "id, phone_number_id, display_phone_number, name, access_token, app_secret, verify_token";
pub(super) fn inbox_from_row(r: &Row) -> rusqlite::Result<Inbox> {
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

pub(super) fn query_inbox(
    conn: &Connection,
    column: &str,
    value: &str,
) -> StoreResult<Option<Inbox>> {
    conn.prepare_cached(&format!(
        "SELECT {INBOX_COLUMNS} FROM inboxes WHERE {column} = ?1"
    ))
    .and_then(|mut s| s.query_row([value], inbox_from_row).optional())
    .map_err(map_err)
}

pub(super) const USER_COLUMNS: &str = "id, email, name, role, disabled, created_at";
pub(super) fn user_from_row(r: &Row) -> rusqlite::Result<User> {
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

pub(super) fn query_user(conn: &Connection, id: &str) -> StoreResult<Option<User>> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], user_from_row).optional())
        .map_err(map_err)
}

pub(super) const TOKEN_COLUMNS: &str = "id, name, user_id, created_at, last_used_at, revoked_at";
pub(super) fn token_from_row(r: &Row) -> rusqlite::Result<ApiTokenInfo> {
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
pub(super) fn credential_sql(value: &Option<String>) -> (bool, Option<String>) {
    match value {
        None => (false, None),
        Some(v) if v.trim().is_empty() => (true, None),
        Some(v) => (true, Some(v.trim().to_string())),
    }
}

/// A `WHERE` clause built from optional filters, with its arguments numbered in order.
#[derive(Default)]
pub(super) struct SqlFilter {
    clauses: Vec<String>,
    pub(super) args: Vec<rusqlite::types::Value>,
}

impl SqlFilter {
    /// Adds an argument and returns its placeholder.
    pub(super) fn arg(&mut self, v: impl Into<rusqlite::types::Value>) -> String {
        self.args.push(v.into());
        format!("?{}", self.args.len())
    }

    pub(super) fn and(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// Only rows of the inboxes in `scope` (by `column`).
    pub(super) fn in_scope(&mut self, scope: &Scope, column: &str) -> StoreResult<()> {
        if let Scope::Inboxes(ids) = scope {
            // The scope holds the viewer's inboxes: a handful, so an IN list is fine.
            let ids = self.arg(to_json(ids)?);
            self.and(format!("{column} IN (SELECT value FROM json_each({ids}))"));
        }
        Ok(())
    }

    /// Only rows whose JSON list `column` holds `label`.
    pub(super) fn has_label(&mut self, column: &str, label: &str) {
        let label = self.arg(label.to_string());
        self.and(format!(
            "EXISTS (SELECT 1 FROM json_each({column}) WHERE value = {label})"
        ));
    }

    /// The `OR` branches a [`TextQuery`] makes of a name and a number column, and the
    /// placeholder of its text pattern (for more branches on other text columns).
    pub(super) fn text_match(
        &mut self,
        query: &crate::store::TextQuery,
        name: &str,
        number: &str,
    ) -> (String, Vec<String>) {
        let text = self.arg(like_pattern(&query.text));
        let mut any = vec![format!("lower({name}) LIKE {text} ESCAPE '\\'")];
        if let Some(digits) = &query.digits {
            let digits = self.arg(like_pattern(digits));
            any.push(format!("{number} LIKE {digits} ESCAPE '\\'"));
        }
        (text, any)
    }

    /// Runs `SELECT … WHERE <these clauses> <tail>` and maps every row.
    pub(super) fn select<T>(
        self,
        c: &Connection,
        head: &str,
        tail: &str,
        row: impl FnMut(&Row) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        let sql = format!("{head} WHERE {} {tail}", self.clauses());
        c.prepare(&sql)
            .and_then(|mut s| {
                s.query_map(rusqlite::params_from_iter(self.args), row)?
                    .collect()
            })
            .map_err(map_err)
    }

    pub(super) fn clauses(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".into()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

/// `%text%` for `LIKE … ESCAPE '\'`, with the pattern's own characters escaped.
pub(super) fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// Reading a conversation happens in every write that changes one (its event carries
    /// it); a statement SQLite compiles again on each new argument cost a fifth of the
    /// writer's time at 3,000 webhooks/s.
    #[test]
    fn reading_conversations_by_id_compiles_the_statement_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = super::super::open_connection(&path, Synchronous::Normal, false).unwrap();
        super::super::schema::migrate(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO inboxes (id, phone_number_id, created_at) VALUES ('i', 'p', 0);
             INSERT INTO contacts (id, inbox_id, wa_id, created_at) VALUES ('k1', 'i', '1', 0);
             INSERT INTO contacts (id, inbox_id, wa_id, created_at) VALUES ('k2', 'i', '2', 0);
             INSERT INTO conversations (id, inbox_id, contact_id, last_activity_at, created_at)
                 VALUES ('c1', 'i', 'k1', 0, 0);
             INSERT INTO conversations (id, inbox_id, contact_id, last_activity_at, created_at)
                 VALUES ('c2', 'i', 'k2', 0, 0);",
        )
        .unwrap();
        for id in ["c1", "c2", "c1", "c2"] {
            assert_eq!(query_conversation(&conn, id).unwrap().unwrap().id, id);
        }
        let sql = format!("{CONVERSATION_SELECT} WHERE c.id = ?1");
        let statement = conn.prepare_cached(&sql).unwrap();
        assert_eq!(statement.get_status(StatementStatus::RePrepare), 0);
    }
}
