//! Agents, sessions, API tokens, inboxes, memberships and settings.

use super::*;

#[async_trait]
impl AccountStore for SqliteStore {
    async fn ensure_inbox(
        &self,
        phone_number_id: &str,
        display_phone_number: Option<&str>,
    ) -> StoreResult<Inbox> {
        let pnid = phone_number_id.to_string();
        let display = display_phone_number.map(str::to_string);
        let result = self.write(move |tx| {
            tx.conn
                .execute(
                    "INSERT INTO inboxes (id, phone_number_id, display_phone_number, created_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT(phone_number_id) DO UPDATE SET \
                     display_phone_number = COALESCE(excluded.display_phone_number, display_phone_number)",
                    params![new_id(), pnid, display, now_ms()],
                )
                .map_err(map_err)?;
            query_inbox(tx.conn, "phone_number_id", &pnid)?
                .ok_or(StoreError::NotFound("inbox"))
        })
        .await;
        self.inbox_cache.forget();
        result
    }

    async fn inbox_by_phone_number_id(&self, phone_number_id: &str) -> StoreResult<Option<Inbox>> {
        let pnid = phone_number_id.to_string();
        let load = self.read(move |c| query_inbox(c, "phone_number_id", &pnid));
        self.inbox_cache.get_or_load(phone_number_id, load).await
    }

    async fn inbox(&self, id: &str) -> StoreResult<Option<Inbox>> {
        let id = id.to_string();
        self.read(move |c| query_inbox(c, "id", &id)).await
    }

    async fn list_inboxes(&self) -> StoreResult<Vec<Inbox>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {INBOX_COLUMNS} FROM inboxes ORDER BY created_at, id"
            ))
            .and_then(|mut s| s.query_map([], inbox_from_row)?.collect())
            .map_err(map_err)
        })
        .await
    }

    async fn create_inbox(&self, inbox: NewInbox) -> StoreResult<Inbox> {
        let result = self
            .write(move |tx| {
                let id = new_id();
                let clean = |v: &Option<String>| {
                    v.as_ref()
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                };
                tx.conn
                    .execute(
                        "INSERT INTO inboxes (id, phone_number_id, display_phone_number, name, \
                     access_token, app_secret, verify_token, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![
                            id,
                            inbox.phone_number_id,
                            inbox.display_phone_number,
                            inbox.name,
                            clean(&inbox.credentials.access_token),
                            clean(&inbox.credentials.app_secret),
                            clean(&inbox.credentials.verify_token),
                            now_ms()
                        ],
                    )
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => StoreError::Conflict(format!(
                            "an inbox for phone number id {} already exists",
                            inbox.phone_number_id
                        )),
                        other => other,
                    })?;
                query_inbox(tx.conn, "id", &id)?.ok_or(StoreError::NotFound("inbox"))
            })
            .await;
        self.inbox_cache.forget();
        result
    }

    async fn update_inbox(&self, id: &str, update: InboxUpdate) -> StoreResult<Inbox> {
        let id = id.to_string();
        let result = self
            .write(move |tx| {
                if query_inbox(tx.conn, "id", &id)?.is_none() {
                    return Err(StoreError::NotFound("inbox"));
                }
                if let Some(name) = &update.name {
                    tx.conn
                        .execute(
                            "UPDATE inboxes SET name = ?2 WHERE id = ?1",
                            params![id, Some(name.trim()).filter(|n| !n.is_empty())],
                        )
                        .map_err(map_err)?;
                }
                if let Some(display) = &update.display_phone_number {
                    tx.conn
                        .execute(
                            "UPDATE inboxes SET display_phone_number = ?2 WHERE id = ?1",
                            params![id, Some(display.trim()).filter(|n| !n.is_empty())],
                        )
                        .map_err(map_err)?;
                }
                let c = &update.credentials;
                for (column, value) in [
                    ("access_token", &c.access_token),
                    ("app_secret", &c.app_secret),
                    ("verify_token", &c.verify_token),
                ] {
                    let (change, value) = credential_sql(value);
                    if change {
                        tx.conn
                            .execute(
                                &format!("UPDATE inboxes SET {column} = ?2 WHERE id = ?1"),
                                params![id, value],
                            )
                            .map_err(map_err)?;
                    }
                }
                query_inbox(tx.conn, "id", &id)?.ok_or(StoreError::NotFound("inbox"))
            })
            .await;
        self.inbox_cache.forget();
        result
    }

    async fn set_member(&self, inbox_id: &str, user_id: &str, member: bool) -> StoreResult<()> {
        let (inbox_id, user_id) = (inbox_id.to_string(), user_id.to_string());
        self.write(move |tx| {
            if query_inbox(tx.conn, "id", &inbox_id)?.is_none() {
                return Err(StoreError::NotFound("inbox"));
            }
            if query_user(tx.conn, &user_id)?.is_none() {
                return Err(StoreError::NotFound("user"));
            }
            let sql = if member {
                "INSERT OR IGNORE INTO inbox_members (inbox_id, user_id) VALUES (?1, ?2)"
            } else {
                "DELETE FROM inbox_members WHERE inbox_id = ?1 AND user_id = ?2"
            };
            tx.conn
                .execute(sql, params![inbox_id, user_id])
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn inbox_members(&self, inbox_id: &str) -> StoreResult<Vec<String>> {
        let inbox_id = inbox_id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id FROM inbox_members WHERE inbox_id = ?1 ORDER BY user_id",
            )
            .and_then(|mut s| s.query_map([&inbox_id], |r| r.get(0))?.collect())
            .map_err(map_err)
        })
        .await
    }

    async fn user_inboxes(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let user_id = user_id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT inbox_id FROM inbox_members WHERE user_id = ?1 ORDER BY inbox_id",
            )
            .and_then(|mut s| s.query_map([&user_id], |r| r.get(0))?.collect())
            .map_err(map_err)
        })
        .await
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.write(move |tx| {
            let id = new_id();
            tx.conn
                .execute(
                    "INSERT INTO users (id, email, name, role, password_hash, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        id,
                        user.email,
                        user.name,
                        user.role.as_str(),
                        user.password_hash,
                        now_ms()
                    ],
                )
                .map_err(|e| match map_err(e) {
                    StoreError::Conflict(_) => {
                        StoreError::Conflict(format!("a user with email {} exists", user.email))
                    }
                    other => other,
                })?;
            query_user(tx.conn, &id)?.ok_or(StoreError::NotFound("user"))
        })
        .await
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_string();
        self.read(move |c| query_user(c, &id)).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        let email = email.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = ?1"
            ))
            .and_then(|mut s| {
                s.query_row([&email], |r| Ok((user_from_row(r)?, r.get(6)?)))
                    .optional()
            })
            .map_err(map_err)
        })
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
                .and_then(|mut s| s.query_map([], user_from_row)?.collect())
                .map_err(map_err)
        })
        .await
    }

    async fn update_user(&self, id: &str, update: UserUpdate) -> StoreResult<User> {
        let id = id.to_string();
        self.write(move |tx| {
            if query_user(tx.conn, &id)?.is_none() {
                return Err(StoreError::NotFound("user"));
            }
            if let Some(name) = &update.name {
                tx.conn
                    .execute(
                        "UPDATE users SET name = ?2 WHERE id = ?1",
                        params![id, name],
                    )
                    .map_err(map_err)?;
            }
            if let Some(role) = update.role {
                tx.conn
                    .execute(
                        "UPDATE users SET role = ?2 WHERE id = ?1",
                        params![id, role.as_str()],
                    )
                    .map_err(map_err)?;
            }
            if let Some(disabled) = update.disabled {
                tx.conn
                    .execute(
                        "UPDATE users SET disabled = ?2 WHERE id = ?1",
                        params![id, disabled],
                    )
                    .map_err(map_err)?;
            }
            if let Some(hash) = &update.password_hash {
                tx.conn
                    .execute(
                        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                        params![id, hash],
                    )
                    .map_err(map_err)?;
            }
            query_user(tx.conn, &id)?.ok_or(StoreError::NotFound("user"))
        })
        .await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let (hash, user_id) = (token_hash.to_string(), user_id.to_string());
        self.write(move |tx| {
            let now = now_ms();
            // Expired sessions go whenever a new one starts: no sweeper needed.
            tx.conn
                .execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])
                .map_err(map_err)?;
            tx.conn
                .execute(
                    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![hash, user_id, now, expires_at],
                )
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn session_user(&self, token_hash: &str) -> StoreResult<Option<User>> {
        let hash = token_hash.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT u.id, u.email, u.name, u.role, u.disabled, u.created_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![hash, now_ms()], user_from_row)
                    .optional()
            })
            .map_err(map_err)
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let hash = token_hash.to_string();
        self.write(move |tx| {
            tx.conn
                .execute("DELETE FROM sessions WHERE token_hash = ?1", [&hash])
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        let user_id = user_id.to_string();
        self.write(move |tx| {
            tx.conn
                .execute("DELETE FROM sessions WHERE user_id = ?1", [&user_id])
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn create_api_token(&self, token: NewApiToken) -> StoreResult<ApiTokenInfo> {
        self.write(move |tx| {
            if query_user(tx.conn, &token.user_id)?.is_none() {
                return Err(StoreError::NotFound("user"));
            }
            let id = new_id();
            tx.conn
                .execute(
                    "INSERT INTO api_tokens (id, name, user_id, token_hash, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, token.name, token.user_id, token.token_hash, now_ms()],
                )
                .map_err(map_err)?;
            tx.conn
                .query_row(
                    &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"),
                    [&id],
                    token_from_row,
                )
                .map_err(map_err)
        })
        .await
    }

    async fn api_token_user(&self, token_hash: &str) -> StoreResult<Option<(ApiTokenInfo, User)>> {
        let hash = token_hash.to_string();
        let found = self
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT t.{}, u.id, u.email, u.name, u.role, u.disabled, u.created_at \
                     FROM api_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = ?1 AND t.revoked_at IS NULL",
                    TOKEN_COLUMNS.replace(", ", ", t.")
                ))
                .and_then(|mut s| {
                    s.query_row([&hash], |r| {
                        let token = token_from_row(r)?;
                        let role: String = r.get(9)?;
                        let user = User {
                            id: r.get(6)?,
                            email: r.get(7)?,
                            name: r.get(8)?,
                            role: Role::parse(&role).unwrap_or(Role::Agent),
                            disabled: r.get(10)?,
                            created_at: r.get(11)?,
                        };
                        Ok((token, user))
                    })
                    .optional()
                })
                .map_err(map_err)
            })
            .await?;
        if let Some((token, _)) = &found {
            // Record use, at most once a minute, without holding up the request.
            let now = now_ms();
            if crate::store::token_use_due(token.last_used_at, now) {
                let id = token.id.clone();
                self.write(move |tx| {
                    tx.conn
                        .execute(
                            "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                            params![id, now],
                        )
                        .map_err(map_err)?;
                    Ok(())
                })
                .await?;
            }
        }
        Ok(found)
    }

    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenInfo>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id"
            ))
            .and_then(|mut s| s.query_map([], token_from_row)?.collect())
            .map_err(map_err)
        })
        .await
    }

    async fn revoke_api_token(&self, id: &str) -> StoreResult<ApiTokenInfo> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.conn
                .execute(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                    params![id, now_ms()],
                )
                .map_err(map_err)?;
            tx.conn
                .query_row(
                    &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"),
                    [&id],
                    token_from_row,
                )
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound("token"))
        })
        .await
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        self.read_now(|c| {
            c.prepare_cached("SELECT value FROM settings WHERE key = ?1")
                .and_then(|mut s| s.query_row([&key], |r| r.get(0)).optional())
                .map_err(map_err)
        })
        .await
    }

    async fn recent_setting(&self, key: &str) -> StoreResult<Option<String>> {
        self.recent_settings
            .get_or_load(key, self.setting(key))
            .await
    }

    async fn set_setting(&self, key: &str, value: Option<&str>) -> StoreResult<()> {
        let key = key.to_string();
        let value = value.map(str::to_string);
        let written = self
            .write(move |tx| write_setting(tx.conn, &key, value.as_deref()))
            .await;
        self.recent_settings.forget();
        written
    }

    async fn set_sending_paused(&self, inbox_id: &str, reason: Option<&str>) -> StoreResult<bool> {
        let inbox_id = inbox_id.to_string();
        let reason = reason.map(str::to_string);
        let changed = self
            .write(move |tx| {
                let key = pause_key(&inbox_id);
                let current: Option<String> = tx
                    .conn
                    .query_row("SELECT value FROM settings WHERE key = ?1", [&key], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(map_err)?;
                if current == reason {
                    return Ok(false);
                }
                write_setting(tx.conn, &key, reason.as_deref())?;
                let status = crate::store::inbox_status(&inbox_id, reason.as_deref())?;
                tx.append_event(&inbox_id, EventKind::InboxUpdated, status)?;
                Ok(true)
            })
            .await;
        self.recent_settings.forget();
        changed
    }
}
