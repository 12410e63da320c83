//! Raw webhook bodies, and the reads of conversations and history.

use super::*;

#[async_trait]
impl HistoryStore for SqliteStore {
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

    async fn list_conversations(
        &self,
        scope: &Scope,
        filter: &ConversationFilter,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        let mut q = conversation_filter(scope, filter)?;
        match filter.view {
            View::All => {}
            View::Mine => {
                let me = q.arg(filter.user_id.clone());
                q.and(format!("c.assignee_id = {me}"));
            }
            View::Unassigned => q.and("c.assignee_id IS NULL".into()),
        }
        if let Some(before) = &filter.before {
            let at = q.arg(before.last_activity_at);
            let id = q.arg(before.id.clone());
            q.and(format!(
                "(c.last_activity_at < {at} OR (c.last_activity_at = {at} AND c.id > {id}))"
            ));
        }
        let limit = q.arg(limit as i64);
        let tail = format!("ORDER BY c.last_activity_at DESC, c.id LIMIT {limit}");
        self.read(move |c| q.select(c, CONVERSATION_SELECT, &tail, conversation_from_row))
            .await
    }

    async fn count_conversations(
        &self,
        scope: &Scope,
        filter: &ConversationFilter,
    ) -> StoreResult<ViewCounts> {
        let mut q = conversation_filter(scope, filter)?;
        let me = q.arg(filter.user_id.clone());
        let head = format!(
            "SELECT COUNT(*), COALESCE(SUM(c.assignee_id = {me}), 0), \
             COALESCE(SUM(c.assignee_id IS NULL), 0) \
             FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
        );
        let counts = self
            .read(move |c| {
                q.select(c, &head, "", |row| {
                    let n = |i| row.get::<_, i64>(i).map(|v| v.max(0) as u64);
                    Ok(ViewCounts {
                        all: n(0)?,
                        mine: n(1)?,
                        unassigned: n(2)?,
                    })
                })
            })
            .await?;
        Ok(counts.into_iter().next().unwrap_or_default())
    }

    async fn conversation(&self, id: &str) -> StoreResult<Option<Conversation>> {
        self.read_now(|c| query_conversation(c, id)).await
    }

    async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        self.read_now(|c| query_message(c, id)).await
    }

    async fn message_by_wamid(&self, inbox_id: &str, wamid: &str) -> StoreResult<Option<Message>> {
        self.read_now(|c| query_message_by_wamid(c, inbox_id, wamid))
            .await
    }

    async fn replies_to(
        &self,
        inbox_id: &str,
        wamid: &str,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        self.read_now(|c| {
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

    async fn load_messages(
        &self,
        conversation_id: &str,
        before: Option<Cursor>,
        limit: usize,
    ) -> StoreResult<MessagePage> {
        let before = before.unwrap_or(Cursor {
            timestamp: i64::MAX,
            seq: i64::MAX,
        });
        let rows = self
            .history_rows(conversation_id, before, false, limit)
            .await?;
        Ok(MessagePage::from_overfetch(rows, limit))
    }

    async fn load_newer_messages(
        &self,
        conversation_id: &str,
        after: Cursor,
        limit: usize,
    ) -> StoreResult<MessagePage> {
        let rows = self
            .history_rows(conversation_id, after, true, limit)
            .await?;
        Ok(MessagePage::from_newer_overfetch(rows, limit))
    }
}

impl SqliteStore {
    /// Up to `limit + 1` messages of a conversation beyond `from`, nearest first: newer
    /// ones oldest first, or older ones newest first.
    async fn history_rows(
        &self,
        conversation_id: &str,
        from: Cursor,
        newer: bool,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        let id = conversation_id.to_string();
        let (beyond, order) = if newer { (">", "") } else { ("<", " DESC") };
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 \
                 AND (timestamp, seq) {beyond} (?2, ?3) \
                 ORDER BY timestamp{order}, seq{order} LIMIT ?4"
            ))
            .and_then(|mut s| {
                s.query_map(
                    params![id, from.timestamp, from.seq, (limit + 1) as i64],
                    message_from_row,
                )?
                .collect()
            })
            .map_err(map_err)
        })
        .await
    }
}

/// The list's filters other than its view and cursor, on `conversations c` joined with
/// `contacts ct`: what a page and the view counts share.
fn conversation_filter(scope: &Scope, filter: &ConversationFilter) -> StoreResult<SqlFilter> {
    let mut q = SqlFilter::default();
    q.in_scope(scope, "c.inbox_id")?;
    if !filter.statuses.is_empty() {
        let names: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let names = q.arg(to_json(&names)?);
        q.and(format!(
            "c.status IN (SELECT value FROM json_each({names}))"
        ));
    }
    if let Some(inbox) = &filter.inbox_id {
        let inbox = q.arg(inbox.clone());
        q.and(format!("c.inbox_id = {inbox}"));
    }
    if let Some(label) = &filter.label {
        q.has_label("c.labels", label);
    }
    if let Some(query) = &filter.query {
        let (text, mut any) = q.text_match(query, "ct.name", "ct.wa_id");
        any.push(format!(
            "EXISTS (SELECT 1 FROM messages t WHERE t.conversation_id = c.id \
             AND lower(t.text) LIKE {text} ESCAPE '\\')"
        ));
        q.and(format!("({})", any.join(" OR ")));
    }
    Ok(q)
}
