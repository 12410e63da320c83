//! The team's workflow: MongoDB's reads and writes for the rules in `store::workflow`.

use super::*;

use crate::store::TextQuery;

/// A search reads at most this many matching messages to find their conversations.
pub(super) const MAX_TEXT_MATCHES: i64 = 2000;

/// `text` as a regular expression that matches it literally.
pub(super) fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~/".contains(c) || c.is_whitespace() && c != ' ' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl MongoStore {
    /// The `$or` branches a [`TextQuery`] makes of a name and a number field.
    pub(super) fn text_match(&self, query: &TextQuery, name: &str, number: &str) -> Vec<Document> {
        let mut any = vec![doc! { name: { "$regex": regex_escape(&query.text), "$options": "i" } }];
        if let Some(digits) = &query.digits {
            any.push(doc! { number: { "$regex": regex_escape(digits) } });
        }
        any
    }

    async fn contact_entry(&self, d: &Document) -> StoreResult<ContactEntry> {
        let contact = contact_from_doc(d, "_id")?;
        let conversation = self
            .find("conversations", doc! { "contact_id": &contact.id })
            .await?;
        Ok(ContactEntry {
            inbox_id: string(d, "inbox_id")?,
            conversation_id: conversation.and_then(|c| opt_string(&c, "_id")),
            contact,
        })
    }
}

#[async_trait]
impl WorkflowStore for MongoStore {
    async fn replace_workflow(
        &self,
        current: &Conversation,
        next: &Conversation,
        activity: Option<&Activity>,
    ) -> StoreResult<Option<Conversation>> {
        let mut set = doc! {
            "status": next.status.as_str(),
            "assignee": user_ref_bson(&next.assignee),
            "labels": next.labels.clone(),
        };
        let mut unset = doc! {};
        match next.snoozed_until {
            Some(t) => set.insert("snoozed_until", t),
            None => unset.insert("snoozed_until", ""),
        };
        match &next.last_change {
            Some(a) => set.insert("last_change", to_json(a)?),
            None => unset.insert("last_change", ""),
        };
        let mut update = marked(set);
        if !unset.is_empty() {
            update.insert("$unset", unset);
        }
        let result = self
            .coll("conversations")
            .update_one(
                doc! { "_id": &current.id, "version": current.version },
                update,
            )
            .await
            .map_err(map_err)?;
        if result.matched_count == 0 {
            return Ok(None);
        }
        // After the change: a crash between the two loses only the history's copy of the
        // line; the conversation's `last_change` still has it.
        if let Some(a) = activity {
            self.coll("activities")
                .insert_one(doc! {
                    "_id": &a.id,
                    "conversation_id": &a.conversation_id,
                    "at": a.at,
                    "data": to_json(a)?,
                })
                .await
                .map_err(map_err)?;
        }
        self.publish_conversation(&current.id).await?;
        self.conversation_by_id(&current.id).await
    }

    async fn activities(&self, conversation_id: &str, limit: usize) -> StoreResult<Vec<Activity>> {
        let docs = self
            .find_all(
                "activities",
                doc! { "conversation_id": conversation_id },
                Some(doc! { "at": -1, "_id": -1 }),
                Some(limit as i64),
            )
            .await?;
        let mut lines: Vec<Activity> = docs.iter().filter_map(|d| json_field(d, "data")).collect();
        lines.reverse();
        Ok(lines)
    }

    async fn open_conversation(
        &self,
        inbox_id: &str,
        wa_id: &str,
        name: Option<&str>,
    ) -> StoreResult<Conversation> {
        let key = ContactKey {
            wa_id: Some(wa_id.to_string()),
            user_id: None,
            name: name.map(str::to_string),
        };
        let (contact_id, _, created) = self.upsert_contact(inbox_id, &key).await?;
        let id = self
            .ensure_conversation(inbox_id, &contact_id, created)
            .await?;
        let mut update = marked(doc! {});
        update.insert("$max", doc! { "last_activity_at": now_ms() });
        self.coll("conversations")
            .update_one(doc! { "_id": &id }, update)
            .await
            .map_err(map_err)?;
        self.publish_conversation(&id).await?;
        self.conversation_by_id(&id)
            .await?
            .ok_or(StoreError::NotFound("conversation"))
    }

    async fn list_contacts(
        &self,
        scope: &Scope,
        filter: &ContactFilter,
        limit: usize,
    ) -> StoreResult<Vec<ContactEntry>> {
        let mut all: Vec<Document> = Vec::new();
        if let Scope::Inboxes(ids) = scope {
            all.push(doc! { "inbox_id": { "$in": ids.clone() } });
        }
        if let Some(label) = &filter.label {
            all.push(doc! { "labels": label });
        }
        if let Some(query) = &filter.query {
            all.push(doc! { "$or": self.text_match(query, "name", "wa_id") });
        }
        if let Some(before) = &filter.before {
            all.push(doc! { "_id": { "$lt": before } });
        }
        let query = if all.is_empty() {
            doc! {}
        } else {
            doc! { "$and": all }
        };
        let docs = self
            .find_all(
                "contacts",
                query,
                Some(doc! { "_id": -1 }),
                Some(limit as i64),
            )
            .await?;
        let mut entries = Vec::with_capacity(docs.len());
        for d in &docs {
            entries.push(self.contact_entry(d).await?);
        }
        Ok(entries)
    }

    async fn contact(&self, id: &str) -> StoreResult<Option<ContactEntry>> {
        match self.find("contacts", doc! { "_id": id }).await? {
            Some(d) => Ok(Some(self.contact_entry(&d).await?)),
            None => Ok(None),
        }
    }

    async fn contact_by_number(
        &self,
        inbox_id: &str,
        wa_id: &str,
    ) -> StoreResult<Option<ContactEntry>> {
        let filter = doc! { "inbox_id": inbox_id, "wa_id": wa_id };
        match self.find("contacts", filter).await? {
            Some(d) => Ok(Some(self.contact_entry(&d).await?)),
            None => Ok(None),
        }
    }

    async fn ensure_contact(&self, inbox_id: &str, wa_id: &str) -> StoreResult<ContactEntry> {
        let key = ContactKey {
            wa_id: Some(wa_id.to_string()),
            user_id: None,
            name: None,
        };
        let (id, _, _) = self.upsert_contact(inbox_id, &key).await?;
        self.contact(&id)
            .await?
            .ok_or(StoreError::NotFound("contact"))
    }

    async fn update_contact(&self, id: &str, update: &ContactUpdate) -> StoreResult<ContactEntry> {
        let entry = self
            .contact(id)
            .await?
            .ok_or(StoreError::NotFound("contact"))?;
        let next = update.apply(&entry.contact);
        if next == entry.contact {
            return Ok(entry);
        }
        let mut set = contact_doc(&next);
        set.remove("id");
        set.insert(COPY_STALE, now_ms());
        let mut update = doc! { "$set": &set };
        if next.name.is_none() {
            update.insert("$unset", doc! { "name": "" });
        }
        self.coll("contacts")
            .update_one(doc! { "_id": id }, update)
            .await
            .map_err(map_err)?;
        self.embed_contact(id).await?;
        if let Some(conversation) = &entry.conversation_id {
            self.publish_conversation(conversation).await?;
        }
        self.contact(id)
            .await?
            .ok_or(StoreError::NotFound("contact"))
    }

    async fn touch_presence(&self, user_id: &str, at: i64) -> StoreResult<()> {
        self.coll("presence")
            .update_one(doc! { "_id": user_id }, doc! { "$max": { "seen_at": at } })
            .upsert(true)
            .await
            .map(|_| ())
            .or_else(|e| {
                if is_duplicate(&e) {
                    Ok(())
                } else {
                    Err(map_err(e))
                }
            })
    }

    async fn present_users(&self, since: i64) -> StoreResult<Vec<String>> {
        let docs = self
            .find_all(
                "presence",
                doc! { "seen_at": { "$gte": since } },
                None,
                None,
            )
            .await?;
        Ok(docs.iter().filter_map(|d| opt_string(d, "_id")).collect())
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
        // Every word's start is a term of the message (see `model::search_terms`): the
        // index on (terms, sort_key) is read newest first from the most selective term.
        let mut all: Vec<Document> = vec![
            doc! { "terms": { "$all": crate::model::query_terms(words) } },
            doc! { "details.deleted": { "$ne": true } },
        ];
        if let Scope::Inboxes(ids) = scope {
            all.push(doc! { "inbox_id": { "$in": ids.clone() } });
        }
        if let Some(inbox) = inbox_id {
            all.push(doc! { "inbox_id": inbox });
        }
        let mut after = before;
        let mut found = Vec::new();
        let mut scanned = 0;
        while found.len() < limit && scanned < MAX_TEXT_MATCHES {
            let mut page = all.clone();
            if let Some(c) = &after {
                page.push(doc! { "sort_key": { "$lt": sort_key(c.timestamp, c.seq) } });
            }
            let batch = (limit as i64 * 2).clamp(20, 500);
            let docs = self
                .find_all(
                    "messages",
                    doc! { "$and": page },
                    Some(doc! { "sort_key": -1 }),
                    Some(batch),
                )
                .await?;
            scanned += docs.len() as i64;
            let last = docs.len() < batch as usize;
            for d in &docs {
                let m = message_from_doc(d)?;
                after = Some(m.cursor());
                let text = crate::model::searchable_text(&m);
                let every = words.iter().all(|w| {
                    !crate::model::word_matches(&text, std::slice::from_ref(w)).is_empty()
                });
                if every && found.len() < limit {
                    found.push(m);
                }
            }
            if last {
                break;
            }
        }
        Ok(found)
    }

    async fn canned_responses(&self) -> StoreResult<Vec<CannedResponse>> {
        let docs = self
            .find_all(
                "canned_responses",
                doc! {},
                Some(doc! { "shortcut": 1 }),
                None,
            )
            .await?;
        docs.iter()
            .map(|d| {
                Ok(CannedResponse {
                    id: string(d, "_id")?,
                    shortcut: string(d, "shortcut")?,
                    text: string(d, "text")?,
                    inbox_id: opt_string(d, "inbox_id"),
                })
            })
            .collect()
    }

    async fn put_canned_response(&self, r: &CannedResponse) -> StoreResult<()> {
        // A replace, not a field update: a unique-index clash on `shortcut` fails it whole.
        self.coll("canned_responses")
            .replace_one(
                doc! { "_id": &r.id },
                doc! {
                    "_id": &r.id,
                    "shortcut": &r.shortcut,
                    "text": &r.text,
                    "inbox_id": r.inbox_id.as_deref(),
                },
            )
            .upsert(true)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn delete_canned_response(&self, id: &str) -> StoreResult<bool> {
        self.coll("canned_responses")
            .delete_one(doc! { "_id": id })
            .await
            .map(|r| r.deleted_count > 0)
            .map_err(map_err)
    }

    async fn next_in_sequence(&self, name: &str) -> StoreResult<i64> {
        self.next(&format!("sequence:{name}"), 1).await
    }
}
