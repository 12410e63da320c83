//! Contacts and their conversations as webhooks find them: looked up by BSUID or phone,
//! created on a customer's first message, and copied into the conversation the list shows.

use super::*;

/// When a contact was changed in a way its conversation's copy has not taken yet. Set by
/// the same write that changes the contact and cleared once the copy is made, so the
/// repair pass finishes a copy a crash cut short (known customers' messages find their
/// conversation by that copy).
pub(super) const COPY_STALE: &str = "copy_changed_at";

impl MongoStore {
    /// Finds the contact by BSUID, then by phone, filling in whatever the payload adds.
    /// Returns its id, whether it changed (so the conversation's copy is refreshed), and
    /// its document if this call created it (it has no conversation yet).
    pub(super) async fn upsert_contact(
        &self,
        inbox_id: &str,
        key: &ContactKey,
    ) -> StoreResult<(String, bool, Option<Document>)> {
        for _ in 0..3 {
            if let Some(existing) = self.find_contact(inbox_id, key).await? {
                let changed = self.update_contact(&existing, key).await?;
                return Ok((string(&existing, "_id")?, changed, None));
            }
            if let Some(created) = self.create_contact(inbox_id, key).await? {
                return Ok((string(&created, "_id")?, false, Some(created)));
            }
        }
        Err(StoreError::Unavailable("contact upsert kept racing".into()))
    }

    /// The contact with the key's BSUID, else the one with its phone number.
    pub(super) async fn find_contact(
        &self,
        inbox_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Option<Document>> {
        for (field, value) in [("user_id", &key.user_id), ("wa_id", &key.wa_id)] {
            if let Some(v) = value
                && let Some(found) = self
                    .find("contacts", doc! { "inbox_id": inbox_id, field: v })
                    .await?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The conversation of the key's contact and the contact as it carries it, in one read:
    /// by the key's BSUID if it has one, else by phone. `None` if not found that way (the
    /// contact may still exist: see [`Self::find_contact`]).
    pub(super) async fn conversation_of(
        &self,
        inbox_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Option<(String, Document)>> {
        let by = match (&key.user_id, &key.wa_id) {
            (Some(user_id), _) => doc! { "inbox_id": inbox_id, "contact.user_id": user_id },
            (None, Some(wa_id)) => doc! { "inbox_id": inbox_id, "contact.wa_id": wa_id },
            (None, None) => return Ok(None),
        };
        let Some(conversation) = self.find("conversations", by).await? else {
            return Ok(None);
        };
        let mut contact = conversation
            .get_document("contact")
            .map_err(|_| StoreError::Corrupt("conversation without its contact".into()))?
            .clone();
        contact.insert("_id", string(&conversation, "contact_id")?);
        Ok(Some((string(&conversation, "_id")?, contact)))
    }

    /// Fills in what the key adds to `existing` (an id it lacks, a new name) and refreshes
    /// the conversation's copy if anything changed. Returns whether it did.
    pub(super) async fn update_contact(
        &self,
        existing: &Document,
        key: &ContactKey,
    ) -> StoreResult<bool> {
        let contacts = self.coll("contacts");
        let id = string(existing, "_id")?;
        let mut changed = false;
        for (field, value) in [("user_id", &key.user_id), ("wa_id", &key.wa_id)] {
            if let Some(v) = value
                && existing.get(field).is_none()
            {
                // Another contact may own this id; then it stays where it is.
                match contacts
                    .update_one(
                        doc! { "_id": &id, field: { "$exists": false } },
                        doc! { "$set": { field: v, COPY_STALE: now_ms() } },
                    )
                    .await
                {
                    Ok(r) => changed |= r.matched_count == 1,
                    Err(e) if is_duplicate(&e) => {}
                    Err(e) => return Err(map_err(e)),
                }
            }
        }
        if let Some(name) = key.name.as_deref().filter(|n| !n.trim().is_empty())
            && opt_string(existing, "name").as_deref() != Some(name)
        {
            contacts
                .update_one(
                    doc! { "_id": &id },
                    doc! { "$set": { "name": name, COPY_STALE: now_ms() } },
                )
                .await
                .map_err(map_err)?;
            changed = true;
        }
        if changed {
            self.embed_contact(&id).await?;
        }
        Ok(changed)
    }

    /// Creates the key's contact; `None` if a concurrent writer created it first.
    pub(super) async fn create_contact(
        &self,
        inbox_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Option<Document>> {
        if key.wa_id.is_none() && key.user_id.is_none() {
            return Err(StoreError::Conflict(
                "a contact needs a wa_id or a user_id".into(),
            ));
        }
        let mut d = doc! { "_id": new_id(), "inbox_id": inbox_id, "created_at": now_ms() };
        put_opt(&mut d, "wa_id", &key.wa_id);
        put_opt(&mut d, "user_id", &key.user_id);
        put_opt(&mut d, "name", &key.name);
        match self.coll("contacts").insert_one(&d).await {
            Ok(_) => Ok(Some(d)),
            Err(e) if is_duplicate(&e) => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    /// Copies the contact into its conversation, which the list shows, and clears its
    /// [`COPY_STALE`] stamp unless a later change stamped it again.
    pub(super) async fn embed_contact(&self, contact_id: &str) -> StoreResult<()> {
        let contact = self
            .find("contacts", doc! { "_id": contact_id })
            .await?
            .ok_or(StoreError::NotFound("contact"))?;
        self.coll("conversations")
            .update_one(
                doc! { "contact_id": contact_id },
                marked(doc! { "contact": contact_doc(&contact_from_doc(&contact, "_id")?) }),
            )
            .await
            .map_err(map_err)?;
        if let Some(stamp) = contact.get(COPY_STALE) {
            self.coll("contacts")
                .update_one(
                    doc! { "_id": contact_id, COPY_STALE: stamp },
                    doc! { "$unset": { COPY_STALE: "" } },
                )
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    /// Finishes the copies a crash cut short (see [`COPY_STALE`]), at most 200 a call:
    /// each conversation gets its contact and is published. Returns how many.
    pub(super) async fn repair_contact_copies(&self, cutoff: i64) -> StoreResult<usize> {
        let stale = self
            .find_all(
                "contacts",
                doc! { COPY_STALE: { "$lt": cutoff } },
                None,
                Some(200),
            )
            .await?;
        let mut repaired = 0;
        for d in &stale {
            let Ok(id) = string(d, "_id") else {
                tracing::warn!(id = ?d.get("_id"), "store repair: skipped a contact without a string id");
                continue;
            };
            self.embed_contact(&id).await?;
            if let Some(c) = self
                .find("conversations", doc! { "contact_id": &id })
                .await?
            {
                self.publish_conversation_doc(&c).await?;
            }
            repaired += 1;
        }
        Ok(repaired)
    }

    pub(super) async fn ensure_conversation(
        &self,
        inbox_id: &str,
        contact_id: &str,
        mut created: Option<Document>,
    ) -> StoreResult<String> {
        for _ in 0..3 {
            // A contact created a moment ago has no conversation to look for (a racing
            // writer's shows up as a duplicate key, and the next turn finds it).
            let contact = match created.take() {
                Some(contact) => contact,
                None => {
                    if let Some(d) = self
                        .find("conversations", doc! { "contact_id": contact_id })
                        .await?
                    {
                        return string(&d, "_id");
                    }
                    self.find("contacts", doc! { "_id": contact_id })
                        .await?
                        .ok_or(StoreError::NotFound("contact"))?
                }
            };
            let id = new_id();
            let now = now_ms();
            let result = self
                .coll("conversations")
                .insert_one(doc! {
                    "_id": &id,
                    "inbox_id": inbox_id,
                    "contact_id": contact_id,
                    "contact": contact_doc(&contact_from_doc(&contact, "_id")?),
                    "last_message": Bson::Null,
                    "unread_count": 0i64,
                    RECOUNTS_BEGUN: 0i64,
                    COUNTED_BY: 0i64,
                    "read_upto_seq": 0i64,
                    "last_ts": -1i64,
                    "last_seq": -1i64,
                    "version": 0i64,
                    // Activity comes from messages only, so a replayed old webhook does
                    // not float its conversation to the top.
                    "last_activity_at": 0i64,
                    "created_at": now,
                })
                .await;
            match result {
                Ok(_) => return Ok(id),
                Err(e) if is_duplicate(&e) => continue,
                Err(e) => return Err(map_err(e)),
            }
        }
        Err(StoreError::Unavailable(
            "conversation upsert kept racing".into(),
        ))
    }
}
