//! Agents, sessions, API tokens, inboxes, memberships and settings.

use super::*;

impl MongoStore {
    /// One side of the memberships matching `filter`, sorted.
    pub(super) async fn membership_ids(
        &self,
        filter: Document,
        field: &str,
    ) -> StoreResult<Vec<String>> {
        let docs: Vec<Document> = self.find_all("inbox_members", filter, None, None).await?;
        let mut ids = docs
            .iter()
            .map(|d| string(d, field))
            .collect::<StoreResult<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    }
}

#[async_trait]
impl AccountStore for MongoStore {
    async fn ensure_inbox(
        &self,
        phone_number_id: &str,
        display_phone_number: Option<&str>,
    ) -> StoreResult<Inbox> {
        // Find, else insert; a concurrent insert shows up as a duplicate key and is read back.
        if self
            .find("inboxes", doc! { "phone_number_id": phone_number_id })
            .await?
            .is_none()
        {
            let mut d = doc! {
                "_id": new_id(),
                "phone_number_id": phone_number_id,
                "created_at": now_ms(),
            };
            if let Some(display) = display_phone_number {
                d.insert("display_phone_number", display);
            }
            match self.coll("inboxes").insert_one(d).await {
                Ok(_) => {}
                Err(e) if is_duplicate(&e) => {}
                Err(e) => return Err(map_err(e)),
            }
        } else if let Some(display) = display_phone_number {
            self.coll("inboxes")
                .update_one(
                    doc! { "phone_number_id": phone_number_id },
                    doc! { "$set": { "display_phone_number": display } },
                )
                .await
                .map_err(map_err)?;
        }
        self.inbox_cache.forget();
        let d = self
            .find("inboxes", doc! { "phone_number_id": phone_number_id })
            .await?
            .ok_or(StoreError::NotFound("inbox"))?;
        inbox_from_doc(&d)
    }

    async fn inbox_by_phone_number_id(&self, phone_number_id: &str) -> StoreResult<Option<Inbox>> {
        let load = async {
            match self
                .find("inboxes", doc! { "phone_number_id": phone_number_id })
                .await?
            {
                Some(d) => Ok(Some(inbox_from_doc(&d)?)),
                None => Ok(None),
            }
        };
        self.inbox_cache.get_or_load(phone_number_id, load).await
    }

    async fn inbox(&self, id: &str) -> StoreResult<Option<Inbox>> {
        match self.find("inboxes", doc! { "_id": id }).await? {
            Some(d) => Ok(Some(inbox_from_doc(&d)?)),
            None => Ok(None),
        }
    }

    async fn list_inboxes(&self) -> StoreResult<Vec<Inbox>> {
        let docs: Vec<Document> = self
            .find_all("inboxes", doc! {}, Some(doc! { "created_at": 1 }), None)
            .await?;
        docs.iter().map(inbox_from_doc).collect()
    }

    async fn create_inbox(&self, inbox: NewInbox) -> StoreResult<Inbox> {
        let id = new_id();
        let mut d = doc! {
            "_id": &id,
            "phone_number_id": &inbox.phone_number_id,
            "created_at": now_ms(),
        };
        put_opt(&mut d, "display_phone_number", &inbox.display_phone_number);
        put_opt(&mut d, "name", &inbox.name);
        let mut unset = doc! {};
        credential_changes(&inbox.credentials, &mut d, &mut unset);
        match self.coll("inboxes").insert_one(d).await {
            Ok(_) => {}
            Err(e) if is_duplicate(&e) => {
                return Err(StoreError::Conflict(format!(
                    "an inbox for phone number id {} already exists",
                    inbox.phone_number_id
                )));
            }
            Err(e) => return Err(map_err(e)),
        }
        self.inbox_cache.forget();
        self.inbox(&id).await?.ok_or(StoreError::NotFound("inbox"))
    }

    async fn update_inbox(&self, id: &str, update: InboxUpdate) -> StoreResult<Inbox> {
        let mut set = doc! {};
        let mut unset = doc! {};
        let fields = [
            ("name", &update.name),
            ("display_phone_number", &update.display_phone_number),
        ];
        field_changes(&fields, &mut set, &mut unset);
        credential_changes(&update.credentials, &mut set, &mut unset);
        let mut change = doc! {};
        if !set.is_empty() {
            change.insert("$set", set);
        }
        if !unset.is_empty() {
            change.insert("$unset", unset);
        }
        if self.inbox(id).await?.is_none() {
            return Err(StoreError::NotFound("inbox"));
        }
        if !change.is_empty() {
            self.coll("inboxes")
                .update_one(doc! { "_id": id }, change)
                .await
                .map_err(map_err)?;
            self.inbox_cache.forget();
        }
        self.inbox(id).await?.ok_or(StoreError::NotFound("inbox"))
    }

    async fn set_member(&self, inbox_id: &str, user_id: &str, member: bool) -> StoreResult<()> {
        if self.inbox(inbox_id).await?.is_none() {
            return Err(StoreError::NotFound("inbox"));
        }
        if self.user(user_id).await?.is_none() {
            return Err(StoreError::NotFound("user"));
        }
        // One document per membership, keyed by the pair, so adding twice is harmless.
        let key = format!("{inbox_id}|{user_id}");
        let members = self.coll("inbox_members");
        if member {
            match members
                .insert_one(doc! { "_id": &key, "inbox_id": inbox_id, "user_id": user_id })
                .await
            {
                Ok(_) => {}
                Err(e) if is_duplicate(&e) => {}
                Err(e) => return Err(map_err(e)),
            }
        } else {
            members
                .delete_one(doc! { "_id": &key })
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn inbox_members(&self, inbox_id: &str) -> StoreResult<Vec<String>> {
        self.membership_ids(doc! { "inbox_id": inbox_id }, "user_id")
            .await
    }

    async fn user_inboxes(&self, user_id: &str) -> StoreResult<Vec<String>> {
        self.membership_ids(doc! { "user_id": user_id }, "inbox_id")
            .await
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let id = new_id();
        let inserted = self
            .coll("users")
            .insert_one(doc! {
                "_id": &id,
                "email": &user.email,
                "name": &user.name,
                "role": user.role.as_str(),
                "password_hash": &user.password_hash,
                "disabled": false,
                "created_at": now_ms(),
            })
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_duplicate(&e) => {
                return Err(StoreError::Conflict(format!(
                    "a user with email {} exists",
                    user.email
                )));
            }
            Err(e) => return Err(map_err(e)),
        }
        self.user(&id).await?.ok_or(StoreError::NotFound("user"))
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        match self.find("users", doc! { "_id": id }).await? {
            Some(d) => Ok(Some(user_from_doc(&d)?)),
            None => Ok(None),
        }
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        match self.find("users", doc! { "email": email }).await? {
            Some(d) => Ok(Some((user_from_doc(&d)?, string(&d, "password_hash")?))),
            None => Ok(None),
        }
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let docs: Vec<Document> = self
            .find_all("users", doc! {}, Some(doc! { "email": 1 }), None)
            .await?;
        docs.iter().map(user_from_doc).collect()
    }

    async fn update_user(&self, id: &str, update: UserUpdate) -> StoreResult<User> {
        let mut set = doc! {};
        if let Some(name) = &update.name {
            set.insert("name", name);
        }
        if let Some(role) = update.role {
            set.insert("role", role.as_str());
        }
        if let Some(disabled) = update.disabled {
            set.insert("disabled", disabled);
        }
        if let Some(hash) = &update.password_hash {
            set.insert("password_hash", hash);
        }
        if self.user(id).await?.is_none() {
            return Err(StoreError::NotFound("user"));
        }
        if !set.is_empty() {
            self.coll("users")
                .update_one(doc! { "_id": id }, doc! { "$set": set })
                .await
                .map_err(map_err)?;
        }
        self.user(id).await?.ok_or(StoreError::NotFound("user"))
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let sessions = self.coll("sessions");
        let now = now_ms();
        // Expired sessions go whenever a new one starts: no sweeper needed.
        sessions
            .delete_many(doc! { "expires_at": { "$lte": now } })
            .await
            .map_err(map_err)?;
        sessions
            .insert_one(doc! {
                "_id": token_hash,
                "user_id": user_id,
                "created_at": now,
                "expires_at": expires_at,
            })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &str) -> StoreResult<Option<User>> {
        let Some(s) = self
            .find(
                "sessions",
                doc! { "_id": token_hash, "expires_at": { "$gt": now_ms() } },
            )
            .await?
        else {
            return Ok(None);
        };
        self.user(&string(&s, "user_id")?).await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        self.coll("sessions")
            .delete_one(doc! { "_id": token_hash })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        self.coll("sessions")
            .delete_many(doc! { "user_id": user_id })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn create_api_token(&self, token: NewApiToken) -> StoreResult<ApiTokenInfo> {
        if self.user(&token.user_id).await?.is_none() {
            return Err(StoreError::NotFound("user"));
        }
        let id = new_id();
        self.coll("api_tokens")
            .insert_one(doc! {
                "_id": &id,
                "name": &token.name,
                "user_id": &token.user_id,
                "token_hash": &token.token_hash,
                "created_at": now_ms(),
            })
            .await
            .map_err(map_err)?;
        let d = self
            .find("api_tokens", doc! { "_id": &id })
            .await?
            .ok_or(StoreError::NotFound("token"))?;
        token_from_doc(&d)
    }

    async fn api_token_user(&self, token_hash: &str) -> StoreResult<Option<(ApiTokenInfo, User)>> {
        let Some(d) = self
            .find("api_tokens", doc! { "token_hash": token_hash })
            .await?
        else {
            return Ok(None);
        };
        let token = token_from_doc(&d)?;
        if token.revoked {
            return Ok(None);
        }
        let Some(user) = self.user(&token.user_id).await? else {
            return Ok(None);
        };
        let now = now_ms();
        if crate::store::token_use_due(token.last_used_at, now) {
            self.coll("api_tokens")
                .update_one(
                    doc! { "_id": &token.id },
                    doc! { "$set": { "last_used_at": now } },
                )
                .await
                .map_err(map_err)?;
        }
        Ok(Some((token, user)))
    }

    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenInfo>> {
        let docs: Vec<Document> = self
            .find_all("api_tokens", doc! {}, Some(doc! { "created_at": 1 }), None)
            .await?;
        docs.iter().map(token_from_doc).collect()
    }

    async fn revoke_api_token(&self, id: &str) -> StoreResult<ApiTokenInfo> {
        self.coll("api_tokens")
            .update_one(
                doc! { "_id": id, "revoked_at": { "$exists": false } },
                doc! { "$set": { "revoked_at": now_ms() } },
            )
            .await
            .map_err(map_err)?;
        let d = self
            .find("api_tokens", doc! { "_id": id })
            .await?
            .ok_or(StoreError::NotFound("token"))?;
        token_from_doc(&d)
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self
            .find("settings", doc! { "_id": key })
            .await?
            .and_then(|d| opt_string(&d, "value")))
    }

    async fn recent_setting(&self, key: &str) -> StoreResult<Option<String>> {
        self.recent_settings
            .get_or_load(key, self.setting(key))
            .await
    }

    async fn set_setting(&self, key: &str, value: Option<&str>) -> StoreResult<()> {
        let written = self.write_setting(key, value).await;
        self.recent_settings.forget();
        written
    }

    async fn set_sending_paused(&self, inbox_id: &str, reason: Option<&str>) -> StoreResult<bool> {
        // The setting is written before its event: a crash between the two leaves the
        // pause in force and shown on the next page load, which is the safe side.
        let key = pause_key(inbox_id);
        if self.setting(&key).await?.as_deref() == reason {
            return Ok(false);
        }
        self.set_setting(&key, reason).await?;
        let status = crate::store::inbox_status(inbox_id, reason)?;
        self.append_event(inbox_id, EventKind::InboxUpdated, status)
            .await?;
        Ok(true)
    }
}

impl MongoStore {
    async fn write_setting(&self, key: &str, value: Option<&str>) -> StoreResult<()> {
        let settings = self.coll("settings");
        match value {
            Some(v) => {
                settings
                    .update_one(doc! { "_id": key }, doc! { "$set": { "value": v } })
                    .upsert(true)
                    .await
                    .map_err(map_err)?;
            }
            None => {
                settings
                    .delete_one(doc! { "_id": key })
                    .await
                    .map_err(map_err)?;
            }
        }
        Ok(())
    }
}
