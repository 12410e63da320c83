//! Publishing changes without a transaction: a write marks its document `unpublished`,
//! the event is appended, then the mark is cleared; `repair` finishes what a crash left.
//! Also the small reads every part uses.

use super::*;

impl MongoStore {
    pub(super) async fn find(&self, coll: &str, filter: Document) -> StoreResult<Option<Document>> {
        self.coll(coll).find_one(filter).await.map_err(map_err)
    }

    /// The documents of `coll` matching `filter`, in `sort` order, at most `limit`.
    pub(super) async fn find_all(
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

    pub(super) async fn message_by_id(&self, id: &str) -> StoreResult<Option<Message>> {
        match self.find("messages", doc! { "_id": id }).await? {
            Some(d) => Ok(Some(message_from_doc(&d)?)),
            None => Ok(None),
        }
    }

    pub(super) async fn conversation_by_id(&self, id: &str) -> StoreResult<Option<Conversation>> {
        match self.find("conversations", doc! { "_id": id }).await? {
            Some(d) => Ok(Some(conversation_from_doc(&d)?)),
            None => Ok(None),
        }
    }

    pub(super) async fn append_event(
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
    pub(super) async fn clear_mark(&self, coll: &str, id: &str, version: i64) -> StoreResult<()> {
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
    pub(super) async fn publish_message(&self, id: &str) -> StoreResult<Message> {
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
    pub(super) async fn conversation_took(&self, m: &Message) -> StoreResult<bool> {
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
    pub(super) async fn announce_new(
        &self,
        m: &Message,
        conversation_changed: bool,
    ) -> StoreResult<Message> {
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
    pub(super) async fn sync_preview(&self, m: &Message) -> StoreResult<bool> {
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
    pub(super) async fn recount_unread(&self, conversation_id: &str) -> StoreResult<bool> {
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

    pub(super) async fn publish_conversation(&self, conversation_id: &str) -> StoreResult<()> {
        let d = self
            .find("conversations", doc! { "_id": conversation_id })
            .await?
            .ok_or(StoreError::NotFound("conversation"))?;
        let c = conversation_from_doc(&d)?;
        self.append_event(&c.inbox_id, EventKind::ConversationUpdated, to_json(&c)?)
            .await?;
        self.clear_mark("conversations", &c.id, c.version).await
    }
}
