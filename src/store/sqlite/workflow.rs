//! The team's workflow: SQLite's reads and writes for the rules in `store::workflow`.

use super::messages::{ensure_conversation, upsert_contact};
use super::*;

fn query_contact(conn: &Connection, id: &str) -> StoreResult<Option<ContactEntry>> {
    conn.prepare_cached(&format!("{CONTACT_SELECT} WHERE ct.id = ?1"))
        .and_then(|mut s| s.query_row([id], contact_from_row).optional())
        .map_err(map_err)
}

#[async_trait]
impl WorkflowStore for SqliteStore {
    async fn replace_workflow(
        &self,
        current: &Conversation,
        next: &Conversation,
        activity: Option<&Activity>,
    ) -> StoreResult<Option<Conversation>> {
        let (id, version) = (current.id.clone(), current.version);
        let labels = to_json(&next.labels)?;
        let last_change = next.last_change.as_ref().map(to_json).transpose()?;
        let activity = activity.map(|a| Ok((a.id.clone(), a.at, to_json(a)?)));
        let activity: Option<(String, i64, String)> = activity.transpose()?;
        let (status, until) = (next.status.as_str(), next.snoozed_until);
        let (assignee_id, assignee_name) = match &next.assignee {
            Some(u) => (Some(u.id.clone()), Some(u.name.clone())),
            None => (None, None),
        };
        self.write(move |tx| {
            let changed = exec(tx.conn, "UPDATE conversations SET status = ?3, snoozed_until = ?4, assignee_id = ?5, \
                     assignee_name = ?6, labels = ?7, last_change = ?8, version = version + 1 \
                     WHERE id = ?1 AND version = ?2",
                    params![
                        id,
                        version,
                        status,
                        until,
                        assignee_id,
                        assignee_name,
                        labels,
                        last_change
                    ],)?;
            if changed == 0 {
                return Ok(None);
            }
            if let Some((aid, at, data)) = &activity {
                exec(tx.conn, "INSERT INTO activities (id, conversation_id, at, data) VALUES (?1, ?2, ?3, ?4)",
                        params![aid, id, at, data],)?;
            }
            tx.emit_conversation(&id).map(Some)
        })
        .await
    }

    async fn activities(&self, conversation_id: &str, limit: usize) -> StoreResult<Vec<Activity>> {
        let id = conversation_id.to_string();
        self.read(move |c| {
            let rows: Vec<String> = c
                .prepare_cached(
                    "SELECT data FROM activities WHERE conversation_id = ?1 \
                     ORDER BY at DESC, id DESC LIMIT ?2",
                )
                .and_then(|mut s| {
                    s.query_map(params![id, limit as i64], |r| r.get(0))?
                        .collect()
                })
                .map_err(map_err)?;
            // A line this build cannot read is left out rather than failing the thread.
            let mut lines: Vec<Activity> = rows
                .iter()
                .filter_map(|d| serde_json::from_str(d).ok())
                .collect();
            lines.reverse();
            Ok(lines)
        })
        .await
    }

    async fn open_conversation(
        &self,
        inbox_id: &str,
        wa_id: &str,
        name: Option<&str>,
    ) -> StoreResult<Conversation> {
        let inbox_id = inbox_id.to_string();
        let key = ContactKey {
            wa_id: Some(wa_id.to_string()),
            user_id: None,
            name: name.map(str::to_string),
        };
        self.write(move |tx| {
            let contact_id = upsert_contact(tx.conn, &inbox_id, &key)?;
            let id = ensure_conversation(tx.conn, &inbox_id, &contact_id)?;
            exec(
                tx.conn,
                "UPDATE conversations SET last_activity_at = MAX(last_activity_at, ?2), \
                     version = version + 1 WHERE id = ?1",
                params![id, now_ms()],
            )?;
            tx.emit_conversation(&id)
        })
        .await
    }

    async fn list_contacts(
        &self,
        scope: &Scope,
        filter: &ContactFilter,
        limit: usize,
    ) -> StoreResult<Vec<ContactEntry>> {
        let mut q = SqlFilter::default();
        q.in_scope(scope, "ct.inbox_id")?;
        if let Some(label) = &filter.label {
            q.has_label("ct.labels", label);
        }
        if let Some(query) = &filter.query {
            let (_, any) = q.text_match(query, "ct.name", "ct.wa_id");
            q.and(format!("({})", any.join(" OR ")));
        }
        if let Some(before) = &filter.before {
            let before = q.arg(before.clone());
            q.and(format!("ct.id < {before}"));
        }
        let limit = q.arg(limit as i64);
        let tail = format!("ORDER BY ct.id DESC LIMIT {limit}");
        self.read(move |c| q.select(c, CONTACT_SELECT, &tail, contact_from_row))
            .await
    }

    async fn contact(&self, id: &str) -> StoreResult<Option<ContactEntry>> {
        let id = id.to_string();
        self.read(move |c| query_contact(c, &id)).await
    }

    async fn contact_by_number(
        &self,
        inbox_id: &str,
        wa_id: &str,
    ) -> StoreResult<Option<ContactEntry>> {
        let (inbox_id, wa_id) = (inbox_id.to_string(), wa_id.to_string());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "{CONTACT_SELECT} WHERE ct.inbox_id = ?1 AND ct.wa_id = ?2"
            ))
            .and_then(|mut s| s.query_row([inbox_id, wa_id], contact_from_row).optional())
            .map_err(map_err)
        })
        .await
    }

    async fn ensure_contact(&self, inbox_id: &str, wa_id: &str) -> StoreResult<ContactEntry> {
        let inbox_id = inbox_id.to_string();
        let key = ContactKey {
            wa_id: Some(wa_id.to_string()),
            user_id: None,
            name: None,
        };
        self.write(move |tx| {
            let id = upsert_contact(tx.conn, &inbox_id, &key)?;
            query_contact(tx.conn, &id)?.ok_or(StoreError::NotFound("contact"))
        })
        .await
    }

    async fn update_contact(&self, id: &str, update: &ContactUpdate) -> StoreResult<ContactEntry> {
        let id = id.to_string();
        let update = update.clone();
        self.write(move |tx| {
            let entry = query_contact(tx.conn, &id)?.ok_or(StoreError::NotFound("contact"))?;
            let next = update.apply(&entry.contact);
            if next == entry.contact {
                return Ok(entry);
            }
            exec(
                tx.conn,
                "UPDATE contacts SET name = ?2, labels = ?3, attributes = ?4, opted_out = ?5 \
                     WHERE id = ?1",
                params![
                    id,
                    next.name,
                    to_json(&next.labels)?,
                    to_json(&next.attributes)?,
                    next.opted_out
                ],
            )?;
            if let Some(conversation) = &entry.conversation_id {
                exec(
                    tx.conn,
                    "UPDATE conversations SET version = version + 1 WHERE id = ?1",
                    [conversation],
                )?;
                tx.emit_conversation(conversation)?;
            }
            query_contact(tx.conn, &id)?.ok_or(StoreError::NotFound("contact"))
        })
        .await
    }

    async fn touch_presence(&self, user_id: &str, at: i64) -> StoreResult<()> {
        let user_id = user_id.to_string();
        self.write(move |tx| {
            exec(
                tx.conn,
                "INSERT INTO presence (user_id, seen_at) VALUES (?1, ?2) \
                     ON CONFLICT (user_id) DO UPDATE SET seen_at = MAX(seen_at, excluded.seen_at)",
                params![user_id, at],
            )?;
            Ok(())
        })
        .await
    }

    async fn present_users(&self, since: i64) -> StoreResult<Vec<String>> {
        self.read(move |c| {
            c.prepare_cached("SELECT user_id FROM presence WHERE seen_at >= ?1")
                .and_then(|mut s| s.query_map([since], |r| r.get(0))?.collect())
                .map_err(map_err)
        })
        .await
    }

    async fn search_messages(
        &self,
        scope: &Scope,
        inbox_id: Option<&str>,
        words: &[String],
        before: Option<Cursor>,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = SqlFilter::default();
        // Each word a quoted FTS5 string (its own quotes doubled) and a prefix: `"wor"*`.
        let matching: Vec<String> = words
            .iter()
            .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
            .collect();
        let matching = q.arg(matching.join(" "));
        q.and(format!("messages_fts MATCH {matching}"));
        q.in_scope(scope, "inbox_id")?;
        if let Some(inbox) = inbox_id {
            let inbox = q.arg(inbox.to_string());
            q.and(format!("inbox_id = {inbox}"));
        }
        q.and(
            "NOT coalesce(CASE WHEN json_valid(details) THEN json_extract(details, '$.deleted') END, 0)"
                .into(),
        );
        if let Some(before) = before {
            let key = q.arg(search_key(before.timestamp, before.seq));
            q.and(format!("messages_fts.rowid < {key}"));
        }
        let limit = q.arg(limit as i64);
        // The index's rowids are in result order: it is read newest first and the page
        // stops after `limit` rows that pass the filters.
        let head = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages_fts \
             JOIN messages ON messages.seq = (messages_fts.rowid & 4294967295)"
        );
        let tail = format!("ORDER BY messages_fts.rowid DESC LIMIT {limit}");
        self.read(move |c| q.select(c, &head, &tail, message_from_row))
            .await
    }

    async fn canned_responses(&self) -> StoreResult<Vec<CannedResponse>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT id, shortcut, text, inbox_id FROM canned_responses ORDER BY shortcut",
            )
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(CannedResponse {
                        id: r.get(0)?,
                        shortcut: r.get(1)?,
                        text: r.get(2)?,
                        inbox_id: r.get(3)?,
                    })
                })?
                .collect()
            })
            .map_err(map_err)
        })
        .await
    }

    async fn put_canned_response(&self, response: &CannedResponse) -> StoreResult<()> {
        let r = response.clone();
        self.write(move |tx| {
            exec(
                tx.conn,
                "INSERT INTO canned_responses (id, shortcut, text, inbox_id) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET \
                     shortcut = excluded.shortcut, text = excluded.text, \
                     inbox_id = excluded.inbox_id",
                params![r.id, r.shortcut, r.text, r.inbox_id],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_canned_response(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |tx| {
            exec(tx.conn, "DELETE FROM canned_responses WHERE id = ?1", [&id]).map(|n| n > 0)
        })
        .await
    }

    async fn next_in_sequence(&self, name: &str) -> StoreResult<i64> {
        let key = format!("sequence:{name}");
        self.write(move |tx| {
            tx.conn
                .query_row(
                    "INSERT INTO meta (key, value) VALUES (?1, 1) \
                     ON CONFLICT (key) DO UPDATE SET value = value + 1 RETURNING value",
                    [&key],
                    |r| r.get(0),
                )
                .map_err(map_err)
        })
        .await
    }
}
