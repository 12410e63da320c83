//! Publishing changes without a transaction: a write marks its document `unpublished`,
//! the event is appended, then the mark is cleared; `repair` finishes what a crash left.
//! Also the small reads every part uses.

use super::*;

/// How many recounts of a conversation's unread messages have begun; each takes the next.
pub(super) const RECOUNTS_BEGUN: &str = "unread_recounts";
/// The recount whose count `unread_count` holds. (Conversations from before recounts were
/// numbered per conversation also carry `unread_gen`, a global number no longer read.)
pub(super) const COUNTED_BY: &str = "unread_counted_by";
/// The wamids a conversation's messages named as replied to or reacted to before those
/// were stored, newest last: a message whose wamid is here is awaited. Kept in the write
/// that takes the message in, so a new message needs no look-up for what waits on it.
const AWAITING: &str = "awaiting";
/// On a message whose `reply_to` was not stored when it came (see [`AWAITING`]).
pub(super) const AWAITS_TARGET: &str = "awaits_target";
/// How many are kept: one whose target never comes (older than the inbox) is let go
/// after this many newer ones.
const AWAITING_CAP: i32 = 32;

/// The update that makes a change one to publish: `set`, with the `unpublished` mark and
/// its time, and the version bump on which the mark's clearing is guarded.
pub(super) fn marked(mut set: Document) -> Document {
    set.insert("unpublished", true);
    set.insert("changed_at", now_ms());
    doc! { "$set": set, "$inc": { "version": 1 } }
}

/// What a recount of the unread did.
enum Recount {
    /// The count was right already.
    Same,
    /// It wrote the count; the conversation after.
    Wrote(Document),
    /// A recount that began later had written its count first.
    Superseded,
}

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
        self.append_events(vec![(inbox_id, kind, data)]).await
    }

    /// Appends events in order, in two round trips whatever their number: one counter
    /// increment reserves their seqs, one ordered insert writes them. Returns the last seq.
    pub(super) async fn append_events(
        &self,
        events: Vec<(&str, EventKind, String)>,
    ) -> StoreResult<i64> {
        let n = events.len() as i64;
        let last = self.next("events", n).await?;
        let now = now_ms();
        let docs = events
            .into_iter()
            .zip(last - n + 1..)
            .map(|((inbox_id, kind, data), seq)| {
                doc! {
                    "_id": seq,
                    "seq": seq,
                    "inbox_id": inbox_id,
                    "kind": kind.as_str(),
                    "data": data,
                    "created_at": now,
                }
            });
        self.coll("events")
            .insert_many(docs)
            .await
            .map_err(map_err)?;
        self.commits.notify_one();
        Ok(last)
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
        self.publish_message_by_id(id, false).await
    }

    /// [`Self::publish_message`] from the message as just read or written.
    pub(super) async fn publish_message_doc(&self, d: &Document) -> StoreResult<Message> {
        self.publish_message_as(d, false).await
    }

    /// [`Self::publish_message`] for the repair pass, which finishes what a crash left.
    pub(super) async fn republish_message(&self, id: &str) -> StoreResult<Message> {
        self.publish_message_by_id(id, true).await
    }

    async fn publish_message_by_id(&self, id: &str, repairing: bool) -> StoreResult<Message> {
        let d = self
            .find("messages", doc! { "_id": id })
            .await?
            .ok_or(StoreError::NotFound("message"))?;
        self.publish_message_as(&d, repairing).await
    }

    async fn publish_message_as(&self, d: &Document, repairing: bool) -> StoreResult<Message> {
        let m = message_from_doc(d)?;
        let kind = if opt_int(d, "published_version").unwrap_or(0) == 0 {
            EventKind::MessageCreated
        } else {
            EventKind::MessageUpdated
        };
        // The list's preview first, so the two events go in one append.
        let (c, marked) = match self.sync_preview(&m).await? {
            // Marked by another writer still at work, whose own clearing the preview's
            // version bump defeats: this event covers its change too.
            Some(d) => (
                Some(conversation_from_doc(&d)?),
                d.contains_key("unpublished"),
            ),
            // A preview already in step may be one a crash left unannounced (it carries
            // no mark of its own): a repair announces the conversation it leads.
            None if repairing => (
                self.conversation_by_id(&m.conversation_id)
                    .await?
                    .filter(|c| c.last_message.as_ref().is_some_and(|p| p.id == m.id)),
                false,
            ),
            None => (None, false),
        };
        let mut events = vec![(m.inbox_id.as_str(), kind, to_json(&m)?)];
        if let Some(c) = &c {
            events.push((&c.inbox_id, EventKind::ConversationUpdated, to_json(c)?));
        }
        self.append_events(events).await?;
        if let Some(c) = c.as_ref().filter(|_| marked) {
            self.clear_mark("conversations", &c.id, c.version).await?;
        }
        self.clear_mark("messages", &m.id, m.version).await?;
        Ok(m)
    }

    /// Folds a new message into its conversation: activity, the list's last message
    /// (if it sorts last, by timestamp then seq), the unread count, and the target it
    /// `awaits` (see [`AWAITING`]). Every step is idempotent, so a repair may run it
    /// again (a target already kept is only kept twice). Returns the conversation after,
    /// and whether its summary changed. The conversation is not marked `unpublished`: the
    /// message's `new` mark covers it (a repair announces the message again and publishes
    /// its conversation whatever this finds).
    pub(super) async fn conversation_took(
        &self,
        m: &Message,
        awaits: Option<&str>,
    ) -> StoreResult<(Document, bool)> {
        let conversations = self.coll("conversations");
        let inbound = m.direction == Direction::In;
        // A customer's message begins a recount of the unread in the same write that
        // takes it in (see `begin_recount`).
        let begin = if inbound {
            doc! { RECOUNTS_BEGUN: 1i64 }
        } else {
            doc! {}
        };
        let mut inc = begin.clone();
        inc.insert("version", 1);
        let mut activity = doc! {
            "last_activity_at": if inbound { m.timestamp.saturating_mul(1000) } else { m.created_at },
        };
        if inbound {
            activity.insert("last_inbound_at", m.timestamp);
        }
        // Most new messages sort last: one write takes both; else activity alone moves.
        let mut took_update = doc! {
            "$set": {
                "last_message": preview_doc(m),
                "last_ts": m.timestamp,
                "last_seq": m.seq,
            },
            "$inc": inc,
            "$max": activity.clone(),
        };
        let mut moved = doc! { "$max": activity };
        if !begin.is_empty() {
            moved.insert("$inc", begin);
        }
        if let Some(target) = awaits {
            let push = doc! { AWAITING: { "$each": [target], "$slice": -AWAITING_CAP } };
            moved.insert("$push", push.clone());
            took_update.insert("$push", push);
        }
        let took = conversations
            .find_one_and_update(
                // Spelled as `$and`: nx-27017, the test server, drops an `_id` beside `$or`.
                doc! { "$and": [
                    { "_id": &m.conversation_id },
                    { "$or": [
                        { "last_ts": { "$lt": m.timestamp } },
                        { "last_ts": m.timestamp, "last_seq": { "$lt": m.seq } },
                    ] },
                ] },
                took_update,
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)?;
        let (conv, took) = match took {
            Some(conv) => (conv, true),
            None => conversations
                .find_one_and_update(doc! { "_id": &m.conversation_id }, moved)
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?
                .map(|conv| (conv, false))
                .ok_or(StoreError::NotFound("conversation"))?,
        };
        if !inbound {
            return Ok((conv, took));
        }
        match self.recount_unread_from(&conv, false).await? {
            Recount::Wrote(recounted) => Ok((recounted, true)),
            // A later recount publishes its count.
            Recount::Same | Recount::Superseded => Ok((conv, took)),
        }
    }

    /// Publishes a newly stored message after folding it into its conversation: the
    /// message's event and then the conversation's, in one append, then the message's
    /// marks go.
    /// `kind` is what the message's event says (a repair may find it published before);
    /// `awaits`, the target it waits for (see [`AWAITING`]). Returns the message, its
    /// conversation as the message left it, and whether a message stored before it
    /// awaits it.
    pub(super) async fn announce_new(
        &self,
        m: &Message,
        conversation_changed: bool,
        kind: EventKind,
        awaits: Option<&str>,
    ) -> StoreResult<(Message, Conversation, bool)> {
        let (conv, took) = self.conversation_took(m, awaits).await?;
        let awaited = m.wamid.as_deref().is_some_and(|wamid| {
            conv.get_array(AWAITING)
                .is_ok_and(|a| a.iter().any(|t| t.as_str() == Some(wamid)))
        });
        let c = conversation_from_doc(&conv)?;
        let publish = took || conversation_changed;
        let mut events = vec![(m.inbox_id.as_str(), kind, to_json(m)?)];
        if publish {
            events.push((&c.inbox_id, EventKind::ConversationUpdated, to_json(&c)?));
        }
        self.append_events(events).await?;
        let cleared = self
            .coll("messages")
            .update_one(
                doc! { "_id": &m.id, "version": m.version },
                doc! {
                    "$unset": { "unpublished": "", "changed_at": "", "new": "" },
                    "$max": { "published_version": m.version },
                },
            )
            .await
            .map_err(map_err)?
            .matched_count
            == 1;
        if cleared {
            return Ok((m.clone(), c, awaited));
        }
        // The message changed while it was announced; its writer publishes the change but
        // may have looked at the list's preview before this message was in it.
        let m = self.publish_message(&m.id).await?;
        self.coll("messages")
            .update_one(doc! { "_id": &m.id }, doc! { "$unset": { "new": "" } })
            .await
            .map_err(map_err)?;
        Ok((m, c, awaited))
    }

    /// Keeps the list's preview in step when the last message changes (its ticks). The
    /// version guard stops an older copy overwriting a newer one. Returns the
    /// conversation after, if it changed. The conversation is not marked `unpublished`:
    /// the message's own mark covers it (see [`Self::republish_message`]).
    pub(super) async fn sync_preview(&self, m: &Message) -> StoreResult<Option<Document>> {
        self.coll("conversations")
            .find_one_and_update(
                doc! {
                    "_id": &m.conversation_id,
                    "last_message.id": &m.id,
                    "last_message.version": { "$lt": m.version },
                },
                doc! {
                    "$set": { "last_message": preview_doc(m) },
                    "$inc": { "version": 1 },
                },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)
    }

    /// Begins a recount of the unread with `update` (which may move the read mark), then
    /// recounts. Returns the conversation after, and whether the count changed.
    ///
    /// Recounts are numbered per conversation, each number taken by the same atomic write
    /// that reads the read mark (`RECOUNTS_BEGUN`), and a count is written only over the
    /// count of an earlier recount (`COUNTED_BY`): the recount that began last saw every
    /// message stored before it, so concurrent recounts cannot leave a stale number.
    pub(super) async fn begin_recount(
        &self,
        conversation_id: &str,
        mut update: Document,
    ) -> StoreResult<(Document, bool)> {
        update.insert("$inc", doc! { RECOUNTS_BEGUN: 1i64 });
        let conv = self
            .coll("conversations")
            .find_one_and_update(doc! { "_id": conversation_id }, update)
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("conversation"))?;
        Ok(match self.recount_unread_from(&conv, true).await? {
            Recount::Wrote(recounted) => (recounted, true),
            Recount::Same => (conv, false),
            // Its count is newer than this one's; the caller gets the conversation with it.
            Recount::Superseded => (
                self.find("conversations", doc! { "_id": conversation_id })
                    .await?
                    .ok_or(StoreError::NotFound("conversation"))?,
                false,
            ),
        })
    }

    /// The recount of [`Self::begin_recount`] from the conversation as the write that
    /// began it left it, marking it `unpublished` if `mark` (see `conversation_took` for
    /// when it need not be). Counts unread inbound messages after the read mark, up to
    /// [`UNREAD_CAP`].
    async fn recount_unread_from(&self, conv: &Document, mark: bool) -> StoreResult<Recount> {
        let conversation_id = string(conv, "_id")?;
        let generation = int(conv, RECOUNTS_BEGUN)?;
        let read_upto = opt_int(conv, "read_upto_seq").unwrap_or(0);
        let unread = self
            .coll("messages")
            .count_documents(doc! {
                "conversation_id": &conversation_id,
                "direction": "in",
                "seq": { "$gt": read_upto },
            })
            .limit(UNREAD_CAP as u64)
            .await
            .map_err(map_err)? as i64;
        if opt_int(conv, "unread_count") == Some(unread) {
            return Ok(Recount::Same);
        }
        let mut set = doc! { "unread_count": unread, COUNTED_BY: generation };
        if mark {
            set.insert("unpublished", true);
            set.insert("changed_at", now_ms());
        }
        self.coll("conversations")
            .find_one_and_update(
                // Or one no numbered recount has written yet. Spelled as `$and`: see
                // `conversation_took`.
                doc! { "$and": [
                    { "_id": &conversation_id },
                    { "$or": [
                        { COUNTED_BY: { "$lt": generation } },
                        { COUNTED_BY: { "$exists": false } },
                    ] },
                ] },
                doc! { "$set": set, "$inc": { "version": 1 } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)
            .map(|written| written.map_or(Recount::Superseded, Recount::Wrote))
    }

    pub(super) async fn publish_conversation(&self, conversation_id: &str) -> StoreResult<()> {
        let d = self
            .find("conversations", doc! { "_id": conversation_id })
            .await?
            .ok_or(StoreError::NotFound("conversation"))?;
        self.publish_conversation_doc(&d).await
    }

    /// [`Self::publish_conversation`] from the conversation as just written.
    pub(super) async fn publish_conversation_doc(&self, d: &Document) -> StoreResult<()> {
        let c = conversation_from_doc(d)?;
        self.append_event(&c.inbox_id, EventKind::ConversationUpdated, to_json(&c)?)
            .await?;
        self.clear_mark("conversations", &c.id, c.version).await
    }
}
