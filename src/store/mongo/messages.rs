//! Messages and their conversations: the writes from webhooks and agents, applying
//! the rules in `store::rules`.

use super::*;

impl MongoStore {
    /// Compare-and-set of a message's delivery state on its version, retried on races,
    /// starting from `first` if the caller has just read the message. Returns the message
    /// after, if the state changed.
    pub(super) async fn update_delivery(
        &self,
        message_id: &str,
        mut first: Option<Document>,
        change: impl Fn(&DeliveryState) -> DeliveryState,
    ) -> StoreResult<Option<Document>> {
        for _ in 0..20 {
            let d = match first.take() {
                Some(d) => d,
                None => self
                    .find("messages", doc! { "_id": message_id })
                    .await?
                    .ok_or(StoreError::NotFound("message"))?,
            };
            let before = delivery_from_doc(&d);
            let after = change(&before);
            if after == before {
                return Ok(None);
            }
            let mut set = doc! { "status_rank": after.rank, "failed": after.failed };
            if let Some(e) = &after.error {
                set.insert("error", error_doc(e));
            }
            let updated = self
                .coll("messages")
                .find_one_and_update(
                    doc! { "_id": message_id, "version": int(&d, "version")? },
                    marked(set),
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?;
            if updated.is_some() {
                return Ok(updated);
            }
        }
        Err(StoreError::Unavailable(format!(
            "message {message_id} is being changed too often to update"
        )))
    }

    /// Folds every not-yet-applied receipt for the message's wamid into its state.
    /// Links and applies a stored, pending receipt: by wamid, else through its callback id.
    pub(super) async fn apply_receipt(&self, report: &StatusReport) -> StoreResult<StatusOutcome> {
        // The receipt is stored before the message is looked up, and `mark_accepted`
        // stores the wamid before it looks for receipts: whichever runs second sees the
        // other, so no receipt is stranded.
        let by_wamid = doc! { "inbox_id": &report.inbox_id, "wamid": &report.wamid };
        let mut message = self.find("messages", by_wamid.clone()).await?;
        let mut linked = false;
        if message.is_none()
            && let Some(data) = &report.callback_data
            && let (our_id, attempt) = crate::store::parse_callback_data(data)
            && let Some(current) = self
                .message_by_id(our_id)
                .await?
                .filter(|m| crate::store::receipt_claims(m, &report.inbox_id, attempt))
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
                    marked(doc! { "wamid": &report.wamid }),
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
        if opt_string(&d, "direction").as_deref() == Some(Direction::In.as_str()) {
            return Ok(StatusOutcome::Unchanged);
        }
        // A message found by its wamid had it from `mark_accepted`, or from an earlier
        // receipt's link, and either applied the receipts parked until then: this one is
        // applied alone (one a crash left pending is the repair pass's). One linked just
        // now may have receipts parked for it.
        let applied = if linked {
            self.apply_pending_receipts(&d).await?
        } else {
            self.apply_one_receipt(&d, report).await?
        };
        let current = match applied {
            Some(after) => after,
            None if linked => d,
            None => return Ok(StatusOutcome::Unchanged),
        };
        let m = self.publish_message_doc(&current).await?;
        Ok(StatusOutcome::Applied(Box::new(m)))
    }

    /// A receipt that only raises the rank (to `rank`), for an agent's message known by
    /// its wamid, needs no parking: applying it again (a redelivery, or a replay after a
    /// crash) changes nothing, and it lands the same before or after any other receipt.
    /// So it is applied first, in one conditional write (most receipts do raise the rank:
    /// they come in order), and stored after, as applied; the store tells a redelivery.
    /// `None` if no agent's message has the wamid.
    async fn apply_known_receipt(
        &self,
        rank: i64,
        report: &StatusReport,
    ) -> StoreResult<Option<StatusOutcome>> {
        let by_wamid =
            doc! { "inbox_id": &report.inbox_id, "wamid": &report.wamid, "direction": "out" };
        // A message from before ranks were stored counts as rank 0, as `delivery_from_doc`
        // reads it. Spelled as `$and`: see `conversation_took`.
        let lower = doc! { "$and": [
            by_wamid.clone(),
            { "$or": [
                { "status_rank": { "$lt": rank } },
                { "status_rank": { "$exists": false } },
            ] },
        ] };
        let after = self
            .coll("messages")
            .find_one_and_update(lower, marked(doc! { "status_rank": rank }))
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)?;
        if after.is_none() && self.find("messages", by_wamid).await?.is_none() {
            return Ok(None);
        }
        let id = receipt_id(report);
        let mut receipt = receipt_doc(report);
        receipt.insert("applied_at", now_ms());
        let redelivered = match self.coll("status_events").insert_one(receipt).await {
            Ok(_) => false,
            Err(e) if is_duplicate(&e) => {
                // The first delivery may have parked it (before its message was known, or
                // dying before applying it): it is applied now.
                self.coll("status_events")
                    .update_one(
                        doc! { "_id": &id, "pending": { "$exists": true } },
                        doc! { "$set": { "applied_at": now_ms() }, "$unset": { "pending": "" } },
                    )
                    .await
                    .map_err(map_err)?;
                true
            }
            Err(e) => return Err(map_err(e)),
        };
        Ok(Some(match after {
            Some(after) => {
                StatusOutcome::Applied(Box::new(self.publish_message_doc(&after).await?))
            }
            None if redelivered => StatusOutcome::Duplicate,
            None => StatusOutcome::Unchanged,
        }))
    }

    /// Folds `report`, stored as a pending receipt, into the message's state and marks it
    /// applied. Returns the message after, if the state changed.
    async fn apply_one_receipt(
        &self,
        d: &Document,
        report: &StatusReport,
    ) -> StoreResult<Option<Document>> {
        let Some(status) = MessageStatus::from_wire(&report.status) else {
            return Ok(None);
        };
        let steps = [(status, report.error.clone())];
        self.apply_receipts(d, &steps, vec![Bson::String(receipt_id(report))])
            .await
    }

    /// Folds `steps` into the message's state, then marks the receipts `ids` applied.
    /// Returns the message after, if the state changed.
    async fn apply_receipts(
        &self,
        d: &Document,
        steps: &[(MessageStatus, Option<ErrorInfo>)],
        ids: Vec<Bson>,
    ) -> StoreResult<Option<Document>> {
        let after = self
            .update_delivery(&string(d, "_id")?, Some(d.clone()), |state| {
                state.fold(steps)
            })
            .await?;
        self.coll("status_events")
            .update_many(
                doc! { "_id": { "$in": ids } },
                doc! { "$set": { "applied_at": now_ms() }, "$unset": { "pending": "" } },
            )
            .await
            .map_err(map_err)?;
        Ok(after)
    }

    pub(super) async fn apply_pending_receipts(
        &self,
        d: &Document,
    ) -> StoreResult<Option<Document>> {
        let m = message_from_doc(d)?;
        let Some(wamid) = &m.wamid else {
            return Ok(None);
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
            return Ok(None);
        }
        let steps: Vec<(MessageStatus, Option<ErrorInfo>)> = receipts
            .iter()
            .filter_map(|r| {
                let status = MessageStatus::from_wire(&opt_string(r, "status")?)?;
                Some((status, error_from_doc(r)))
            })
            .collect();
        let ids: Vec<Bson> = receipts
            .iter()
            .filter_map(|r| r.get("_id").cloned())
            .collect();
        self.apply_receipts(d, &steps, ids).await
    }

    pub(super) fn new_message_doc(m: &Message, raw: Option<&str>) -> Document {
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
        if m.direction == Direction::Note {
            // Its conversation never takes a note in (see `create_outbound`).
            d.remove("new");
        }
        if let Some(u) = &m.sent_by {
            d.insert("sent_by", doc! { "id": &u.id, "name": &u.name });
        }
        if let Some(raw) = raw {
            d.insert("raw", raw);
        }
        if let Ok(details @ Bson::Document(_)) = details_bson(&m.details) {
            d.insert("details", details);
        }
        d.insert("terms", message_terms(m));
        d
    }
}

#[async_trait]
impl MessageStore for MongoStore {
    async fn record_inbound(&self, msg: NewInbound) -> StoreResult<InboundOutcome> {
        // A known customer's message is told from a redelivery by its insert (the wamid is
        // unique), and what it adds to the contact is written after, so a redelivery
        // changes nothing. A customer not found is looked for first: a redelivery whose
        // contact has since changed number must not leave an empty conversation behind.
        let (conversation_id, known) =
            match self.conversation_of(&msg.inbox_id, &msg.contact).await? {
                Some((conversation, contact)) => (Some(conversation), Some(contact)),
                None => (None, self.find_contact(&msg.inbox_id, &msg.contact).await?),
            };
        let (contact_id, mut contact_changed, created) = match &known {
            Some(existing) => (string(existing, "_id")?, false, None),
            None => {
                let stored = doc! { "inbox_id": &msg.inbox_id, "wamid": &msg.wamid };
                if self.find("messages", stored).await?.is_some() {
                    return Ok(InboundOutcome::Duplicate);
                }
                match self.create_contact(&msg.inbox_id, &msg.contact).await? {
                    Some(created) => (string(&created, "_id")?, false, Some(created)),
                    // A concurrent writer created it first.
                    None => self.upsert_contact(&msg.inbox_id, &msg.contact).await?,
                }
            }
        };
        let conversation_id = match conversation_id {
            Some(id) => id,
            None => {
                self.ensure_conversation(&msg.inbox_id, &contact_id, created)
                    .await?
            }
        };
        let m = msg.message(conversation_id, self.next("messages", 1).await?, now_ms());
        let mut d = Self::new_message_doc(&m, Some(&msg.raw));
        // Kept on the message too, for a repair that announces it again.
        let awaits = msg.reply_to.as_deref().filter(|_| msg.awaits_target);
        if awaits.is_some() {
            d.insert(AWAITS_TARGET, true);
        }
        // Announced as a reader would see it, without reading it back.
        let m = message_from_doc(&d)?;
        match self.coll("messages").insert_one(d).await {
            Ok(_) => {}
            // A redelivery, or a race with the same delivery: the first one publishes.
            Err(e) if is_duplicate(&e) => return Ok(InboundOutcome::Duplicate),
            Err(e) => return Err(map_err(e)),
        }
        if let Some(existing) = &known {
            contact_changed = self.update_contact(existing, &msg.contact).await?;
        }
        let (m, c, awaited) = self
            .announce_new(&m, contact_changed, EventKind::MessageCreated, awaits)
            .await?;
        Ok(InboundOutcome::Created {
            message: Box::new(m),
            conversation: Box::new(c),
            awaited,
        })
    }

    async fn record_status(&self, report: StatusReport) -> StoreResult<StatusOutcome> {
        let status = MessageStatus::from_wire(&report.status);
        // Most receipts: applied, then kept (see `apply_known_receipt`). A failure, or a
        // receipt whose message is not known by its wamid yet, is kept (parked) first.
        if let Some(rank) = status.and_then(DeliveryState::raises_to)
            && let Some(outcome) = self.apply_known_receipt(rank, &report).await?
        {
            return Ok(outcome);
        }
        let known = status.is_some();
        let mut receipt = receipt_doc(&report);
        if known {
            receipt.insert("pending", true);
        } else {
            // Kept for audit only; there is nothing to apply.
            receipt.insert("applied_at", now_ms());
        }
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
        // A repeated send is told by its insert (the client id is unique in its inbox),
        // not by a look-up first: repeats are rare, every send pays for a look-up.
        let created_at = now_ms();
        let m = msg.message(inbox_id, self.next("messages", 1).await?, created_at);
        // The job goes first: without a transaction, a crash between the two writes must
        // leave a job without a message (it ends itself), never a message without a job.
        let note = m.direction == Direction::Note;
        if !note {
            let job = crate::store::first_send_job(&m.id, created_at);
            self.schedule_job(job).await?;
        }
        let d = Self::new_message_doc(&m, None);
        let m = message_from_doc(&d)?;
        match self.coll("messages").insert_one(d).await {
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
        if note {
            // A note touches nothing of its conversation: it only needs its event.
            return Ok((self.publish_message(&m.id).await?, true));
        }
        let (m, ..) = self
            .announce_new(&m, false, EventKind::MessageCreated, None)
            .await?;
        Ok((m, true))
    }

    async fn mark_accepted(&self, message_id: &str, wamid: &str) -> StoreResult<Message> {
        // A message accepted has no wamid yet, bar a repeat or a receipt's link: set it, and
        // read the message only if that matched nothing.
        let set = self
            .coll("messages")
            .find_one_and_update(
                doc! { "_id": message_id, "wamid": { "$exists": false } },
                marked(doc! { "wamid": wamid }),
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)?;
        let (mut current, mut changed) = match set {
            Some(after) => (after, true),
            None => {
                let now = self
                    .find("messages", doc! { "_id": message_id })
                    .await?
                    .ok_or(StoreError::NotFound("message"))?;
                // It has a wamid already, which must be this one.
                if crate::store::wamid_to_set(&message_from_doc(&now)?, wamid)? {
                    return Err(StoreError::Conflict(format!(
                        "message {message_id} changed while its wamid was set"
                    )));
                }
                (now, false)
            }
        };
        if let Some(after) = self.apply_pending_receipts(&current).await? {
            (current, changed) = (after, true);
        }
        if changed {
            self.publish_message_doc(&current).await
        } else {
            message_from_doc(&current)
        }
    }

    async fn mark_send_failed(&self, message_id: &str, error: &ErrorInfo) -> StoreResult<Message> {
        let failed = self
            .update_delivery(message_id, None, |s| {
                s.apply(MessageStatus::Failed, Some(error))
            })
            .await?;
        match failed {
            Some(after) => self.publish_message_doc(&after).await,
            None => self
                .message_by_id(message_id)
                .await?
                .ok_or(StoreError::NotFound("message")),
        }
    }

    async fn retry_outbound(&self, message_id: &str) -> StoreResult<Message> {
        let m = self
            .message_by_id(message_id)
            .await?
            .ok_or(StoreError::NotFound("message"))?;
        let details = crate::store::retry_details(&m)?;
        // Job first, as in create_outbound: a job for a message that is not pending ends
        // itself.
        self.schedule_job(crate::store::first_send_job(message_id, now_ms()))
            .await?;
        let mut update = marked(doc! {
            "details": details_bson(&details)?,
            "status_rank": 0i64,
            "failed": false,
        });
        update.insert("$unset", doc! { "wamid": "" });
        let result = self
            .coll("messages")
            .update_one(doc! { "_id": message_id, "version": m.version }, update)
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
            let Some(after) = crate::store::edited(&before, &edit) else {
                return Ok(None);
            };
            let text = after.text.clone().map(Bson::String).unwrap_or(Bson::Null);
            let result = self
                .coll("messages")
                .update_one(
                    doc! { "_id": message_id, "version": before.version },
                    marked(doc! {
                        "text": text,
                        "details": details_bson(&after.details)?,
                        "terms": message_terms(&after),
                    }),
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
                doc! { "$set": { "wa_id": new_wa_id, COPY_STALE: now_ms() } },
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
        let moved = doc! { "$max": { "read_upto_seq": upto } };
        let (conversation, changed) = self.begin_recount(conversation_id, moved).await?;
        if changed {
            self.publish_conversation_doc(&conversation).await?;
        }
        conversation_from_doc(&conversation)
    }
}
