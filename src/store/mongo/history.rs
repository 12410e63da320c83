//! Raw webhook bodies, and the reads of conversations and history.

use super::*;

#[async_trait]
impl HistoryStore for MongoStore {
    async fn save_webhook(&self, id: &str, body: &[u8]) -> StoreResult<WebhookState> {
        let body = Binary {
            subtype: BinarySubtype::Generic,
            bytes: body.to_vec(),
        };
        let inserted = self
            .coll("webhooks")
            .insert_one(doc! { "_id": id, "body": body, "received_at": now_ms() })
            .await;
        match inserted {
            Ok(_) => Ok(WebhookState::New),
            Err(e) if is_duplicate(&e) => {
                let d = self
                    .find("webhooks", doc! { "_id": id })
                    .await?
                    .ok_or(StoreError::NotFound("webhook"))?;
                Ok(if d.contains_key("processed_at") {
                    WebhookState::Done
                } else {
                    WebhookState::Pending
                })
            }
            Err(e) => Err(map_err(e)),
        }
    }

    async fn finish_webhook(&self, id: &str, error: Option<&str>) -> StoreResult<()> {
        let mut set = doc! { "processed_at": now_ms() };
        if let Some(e) = error {
            set.insert("error", e);
        }
        self.coll("webhooks")
            .update_one(
                doc! { "_id": id, "processed_at": { "$exists": false } },
                doc! { "$set": set },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn unfinished_webhooks(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<StoredWebhook>> {
        let docs: Vec<Document> = self
            .find_all(
                "webhooks",
                doc! { "processed_at": { "$exists": false }, "_id": { "$gt": after.unwrap_or("") } },
                Some(doc! { "_id": 1 }),
                Some(limit as i64),
            )
            .await?;
        docs.iter()
            .map(|d| {
                Ok(StoredWebhook {
                    id: string(d, "_id")?,
                    body: match d.get("body") {
                        Some(Bson::Binary(b)) => b.bytes.clone(),
                        _ => return Err(StoreError::Corrupt("webhook body is not binary".into())),
                    },
                })
            })
            .collect()
    }

    async fn trim_received(&self, before: i64) -> StoreResult<(u64, u64)> {
        let old = doc! { "received_at": { "$lt": before } };
        let webhooks = self
            .coll("webhooks")
            .delete_many(old.clone())
            .await
            .map_err(map_err)?;
        let receipts = self
            .coll("status_events")
            .delete_many(old)
            .await
            .map_err(map_err)?;
        Ok((webhooks.deleted_count, receipts.deleted_count))
    }

    async fn list_conversations(
        &self,
        scope: &Scope,
        filter: &ConversationFilter,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        let mut all = self.conversation_filter(scope, filter).await?;
        match filter.view {
            View::All => {}
            View::Mine => all.push(mine(&filter.user_id)),
            View::Unassigned => all.push(unassigned()),
        }
        if let Some(before) = &filter.before {
            all.push(doc! { "$or": [
                { "last_activity_at": { "$lt": before.last_activity_at } },
                { "last_activity_at": before.last_activity_at, "_id": { "$gt": &before.id } },
            ] });
        }
        let docs: Vec<Document> = self
            .find_all(
                "conversations",
                all_of(all),
                Some(doc! { "last_activity_at": -1, "_id": 1 }),
                Some(limit as i64),
            )
            .await?;
        docs.iter().map(conversation_from_doc).collect()
    }

    async fn count_conversations(
        &self,
        scope: &Scope,
        filter: &ConversationFilter,
    ) -> StoreResult<ViewCounts> {
        let base = self.conversation_filter(scope, filter).await?;
        let count = |extra: Option<Document>| {
            let mut docs = base.clone();
            docs.extend(extra);
            async move {
                self.coll("conversations")
                    .count_documents(all_of(docs))
                    .await
                    .map_err(map_err)
            }
        };
        Ok(ViewCounts {
            all: count(None).await?,
            mine: count(Some(mine(&filter.user_id))).await?,
            unassigned: count(Some(unassigned())).await?,
        })
    }

    async fn conversation(&self, id: &str) -> StoreResult<Option<Conversation>> {
        self.conversation_by_id(id).await
    }

    async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        self.message_by_id(id).await
    }

    async fn message_by_wamid(&self, inbox_id: &str, wamid: &str) -> StoreResult<Option<Message>> {
        match self
            .find("messages", doc! { "inbox_id": inbox_id, "wamid": wamid })
            .await?
        {
            Some(d) => Ok(Some(message_from_doc(&d)?)),
            None => Ok(None),
        }
    }

    async fn replies_to(
        &self,
        inbox_id: &str,
        wamid: &str,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        self.find_all(
            "messages",
            doc! { "inbox_id": inbox_id, "reply_to": wamid },
            Some(doc! { "timestamp": 1, "seq": 1 }),
            Some(limit as i64),
        )
        .await?
        .iter()
        .map(message_from_doc)
        .collect()
    }

    async fn load_messages(
        &self,
        conversation_id: &str,
        before: Option<Cursor>,
        limit: usize,
    ) -> StoreResult<MessagePage> {
        let mut filter = doc! { "conversation_id": conversation_id };
        if let Some(c) = before {
            filter.insert("sort_key", doc! { "$lt": sort_key(c.timestamp, c.seq) });
        }
        let rows = self.history_rows(filter, -1, limit).await?;
        Ok(MessagePage::from_overfetch(rows, limit))
    }

    async fn load_newer_messages(
        &self,
        conversation_id: &str,
        after: Cursor,
        limit: usize,
    ) -> StoreResult<MessagePage> {
        let filter = doc! {
            "conversation_id": conversation_id,
            "sort_key": { "$gt": sort_key(after.timestamp, after.seq) },
        };
        let rows = self.history_rows(filter, 1, limit).await?;
        Ok(MessagePage::from_newer_overfetch(rows, limit))
    }
}

impl MongoStore {
    /// Up to `limit + 1` messages matching `filter` in history order (`direction` 1) or
    /// newest first (-1).
    async fn history_rows(
        &self,
        filter: Document,
        direction: i32,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        self.find_all(
            "messages",
            filter,
            Some(doc! { "sort_key": direction }),
            Some(limit as i64 + 1),
        )
        .await?
        .iter()
        .map(message_from_doc)
        .collect()
    }
}

fn mine(user_id: &str) -> Document {
    doc! { "assignee.id": user_id }
}

/// Matches a null assignee and documents written before assignment existed.
fn unassigned() -> Document {
    doc! { "assignee": Bson::Null }
}

fn all_of(docs: Vec<Document>) -> Document {
    if docs.is_empty() {
        doc! {}
    } else {
        doc! { "$and": docs }
    }
}

impl MongoStore {
    /// The list's filters other than its view and cursor: what a page and the view counts
    /// share.
    async fn conversation_filter(
        &self,
        scope: &Scope,
        filter: &ConversationFilter,
    ) -> StoreResult<Vec<Document>> {
        let mut all: Vec<Document> = Vec::new();
        if let Scope::Inboxes(ids) = scope {
            all.push(doc! { "inbox_id": { "$in": ids.clone() } });
        }
        if !filter.statuses.is_empty() {
            let names: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
            let mut any = vec![doc! { "status": { "$in": names } }];
            if filter.statuses.contains(&ConversationStatus::Open) {
                // Conversations from before statuses existed are open.
                any.push(doc! { "status": { "$exists": false } });
            }
            all.push(doc! { "$or": any });
        }
        if let Some(inbox) = &filter.inbox_id {
            all.push(doc! { "inbox_id": inbox });
        }
        if let Some(label) = &filter.label {
            all.push(doc! { "labels": label });
        }
        if let Some(query) = &filter.query {
            let mut any = self.text_match(query, "contact.name", "contact.wa_id");
            let mut texts =
                doc! { "text": { "$regex": regex_escape(&query.text), "$options": "i" } };
            if let Scope::Inboxes(ids) = scope {
                texts.insert("inbox_id", doc! { "$in": ids.clone() });
            }
            let mut ids: Vec<String> = self
                .find_all("messages", texts, None, Some(MAX_TEXT_MATCHES))
                .await?
                .iter()
                .filter_map(|d| opt_string(d, "conversation_id"))
                .collect();
            ids.sort();
            ids.dedup();
            any.push(doc! { "_id": { "$in": ids } });
            all.push(doc! { "$or": any });
        }
        Ok(all)
    }
}
