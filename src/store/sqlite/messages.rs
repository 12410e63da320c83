//! Messages, contacts and conversations: the writes from webhooks and agents, each one
//! transaction with its events, applying the rules in `store::rules`.

use super::*;

/// Finds the contact by BSUID, then by phone, filling in whatever the payload adds.
pub(super) fn upsert_contact(
    conn: &Connection,
    inbox_id: &str,
    key: &ContactKey,
) -> StoreResult<String> {
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
                exec(
                    conn,
                    "UPDATE contacts SET wa_id = ?2 WHERE id = ?1 AND wa_id IS NULL",
                    params![id, key.wa_id],
                )?;
            }
            if by_user.is_none() && key.user_id.is_some() {
                exec(
                    conn,
                    "UPDATE contacts SET user_id = ?2 WHERE id = ?1 AND user_id IS NULL",
                    params![id, key.user_id],
                )?;
            }
            if let Some(name) = key.name.as_deref().filter(|n| !n.trim().is_empty()) {
                exec(
                    conn,
                    "UPDATE contacts SET name = ?2 WHERE id = ?1 AND (name IS NULL OR name <> ?2)",
                    params![id, name],
                )?;
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
            exec(
                conn,
                "INSERT INTO contacts (id, inbox_id, wa_id, user_id, name, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, inbox_id, key.wa_id, key.user_id, key.name, now_ms()],
            )?;
            Ok(id)
        }
    }
}

pub(super) fn ensure_conversation(
    conn: &Connection,
    inbox_id: &str,
    contact_id: &str,
) -> StoreResult<String> {
    let existing: Option<String> = conn
        .prepare_cached("SELECT id FROM conversations WHERE contact_id = ?1")
        .and_then(|mut s| s.query_row([contact_id], |r| r.get(0)).optional())
        .map_err(map_err)?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = new_id();
    exec(
        conn,
        // Activity comes from messages only, so a replayed old webhook does not float its
        // conversation to the top.
        "INSERT INTO conversations (id, inbox_id, contact_id, last_activity_at, created_at) \
         VALUES (?1, ?2, ?3, 0, ?4)",
        params![id, inbox_id, contact_id, now_ms()],
    )?;
    Ok(id)
}

/// Moves the conversation's "last message" forward if `m` sorts after it.
pub(super) fn touch_conversation(
    conn: &Connection,
    m: &Message,
    activity_ms: i64,
) -> StoreResult<()> {
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
pub(super) fn is_last_message(conn: &Connection, m: &Message) -> StoreResult<bool> {
    conn.prepare_cached("SELECT last_message_id = ?2 FROM conversations WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row(params![m.conversation_id, m.id], |r| {
                r.get::<_, Option<bool>>(0)
            })
        })
        .map(|v| v.unwrap_or(false))
        .map_err(map_err)
}

pub(super) fn delivery_state(conn: &Connection, message_id: &str) -> StoreResult<DeliveryState> {
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

pub(super) fn save_delivery_state(
    conn: &Connection,
    message_id: &str,
    s: &DeliveryState,
) -> StoreResult<()> {
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
pub(super) fn apply_pending_receipts(conn: &Connection, m: &Message) -> StoreResult<bool> {
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
        .filter_map(|r| {
            crate::store::receipt_step(&r.status, r.code, r.title.clone(), r.detail.clone())
        })
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
pub(super) fn publish_message_change(tx: &Tx, message_id: &str) -> StoreResult<Message> {
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

pub(super) fn insert_message(
    conn: &Connection,
    m: &Message,
    raw: Option<&str>,
) -> StoreResult<i64> {
    let status_rank = m.status.rank();
    let details = details_json(&m.details)?;
    let sent_by = m.sent_by.as_ref().map(to_json).transpose()?;
    conn.prepare_cached(
        "INSERT INTO messages (id, inbox_id, conversation_id, direction, wamid, client_id, kind, \
         text, status, status_rank, timestamp, created_at, version, reply_to, raw, details, sent_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1, ?13, ?14, ?15, ?16) RETURNING seq",
    )
    .and_then(|mut s| {
        s.query_row(
            params![
                m.id,
                m.inbox_id,
                m.conversation_id,
                m.direction.as_str(),
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
                sent_by,
            ],
            |r| r.get(0),
        )
    })
    .map_err(map_err)
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn record_inbound(&self, msg: NewInbound) -> StoreResult<InboundOutcome> {
        self.write(move |tx| {
            if query_message_by_wamid(tx.conn, &msg.inbox_id, &msg.wamid)?.is_some() {
                return Ok(InboundOutcome::Duplicate);
            }
            let contact_id = upsert_contact(tx.conn, &msg.inbox_id, &msg.contact)?;
            let conversation_id = ensure_conversation(tx.conn, &msg.inbox_id, &contact_id)?;
            // Whatever names this wamid was stored before it, so it waits for it.
            let awaited = tx
                .conn
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM messages WHERE inbox_id = ?1 AND reply_to = ?2)",
                )
                .and_then(|mut s| s.query_row(params![msg.inbox_id, msg.wamid], |r| r.get(0)))
                .map_err(map_err)?;
            let mut m = msg.message(conversation_id, 0, now_ms());
            m.seq = insert_message(tx.conn, &m, Some(&msg.raw))?;
            touch_conversation(tx.conn, &m, m.timestamp.saturating_mul(1000))?;
            tx.emit_message(EventKind::MessageCreated, &m)?;
            let c = tx.emit_conversation(&m.conversation_id)?;
            Ok(InboundOutcome::Created {
                message: Box::new(m),
                conversation: Box::new(c),
                awaited,
            })
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
                    let (our_id, attempt) = crate::store::parse_callback_data(data);
                    let current = query_message(tx.conn, our_id)?
                        .filter(|m| crate::store::receipt_claims(m, &report.inbox_id, attempt));
                    if current.is_some() {
                        exec(
                            tx.conn,
                            "UPDATE messages SET wamid = ?2 WHERE id = ?1",
                            params![our_id, report.wamid],
                        )?;
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
            tx.emit_message(EventKind::MessageCreated, &m)?;
            if m.direction == Direction::Out {
                put_job(tx.conn, &crate::store::first_send_job(&m.id, created_at))?;
                touch_conversation(tx.conn, &m, created_at)?;
                tx.emit_conversation(&m.conversation_id)?;
            }
            Ok((m, true))
        })
        .await
    }

    async fn mark_accepted(&self, message_id: &str, wamid: &str) -> StoreResult<Message> {
        let id = message_id.to_string();
        let wamid = wamid.to_string();
        self.write(move |tx| {
            let m = query_message(tx.conn, &id)?.ok_or(StoreError::NotFound("message"))?;
            let mut changed = crate::store::wamid_to_set(&m, &wamid)?;
            if changed {
                exec(
                    tx.conn,
                    "UPDATE messages SET wamid = ?2 WHERE id = ?1",
                    params![id, wamid],
                )?;
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
            let details = crate::store::retry_details(&m)?;
            exec(
                tx.conn,
                "UPDATE messages SET wamid = NULL, status_rank = 0, failed = 0, \
                     status = 'pending', details = ?2 WHERE id = ?1",
                params![id, details_json(&details)?],
            )?;
            put_job(tx.conn, &crate::store::first_send_job(&id, now_ms()))?;
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
            let Some(after) = crate::store::edited(&before, &edit) else {
                return Ok(None);
            };
            exec(
                tx.conn,
                "UPDATE messages SET text = ?2, details = ?3 WHERE id = ?1",
                params![id, after.text, details_json(&after.details)?],
            )?;
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
            exec(
                tx.conn,
                "UPDATE contacts SET wa_id = ?2 WHERE id = ?1",
                params![contact, new],
            )?;
            let conversation: Option<String> = tx
                .conn
                .prepare_cached("SELECT id FROM conversations WHERE contact_id = ?1")
                .and_then(|mut s| s.query_row([&contact], |r| r.get(0)).optional())
                .map_err(map_err)?;
            if let Some(c) = conversation {
                exec(
                    tx.conn,
                    "UPDATE conversations SET version = version + 1 WHERE id = ?1",
                    [&c],
                )?;
                tx.emit_conversation(&c)?;
            }
            Ok(true)
        })
        .await
    }

    async fn mark_conversation_read(&self, conversation_id: &str) -> StoreResult<Conversation> {
        let id = conversation_id.to_string();
        self.write(move |tx| {
            let changed = exec(
                tx.conn,
                "UPDATE conversations SET unread_count = 0, version = version + 1 \
                     WHERE id = ?1 AND unread_count > 0",
                [&id],
            )?;
            if changed == 1 {
                tx.emit_conversation(&id)
            } else {
                query_conversation(tx.conn, &id)?.ok_or(StoreError::NotFound("conversation"))
            }
        })
        .await
    }
}
