//! Who of the team is here. The store keeps when each user was last seen (shared by every
//! instance); this instance refreshes it for its connected users every
//! [`PRESENCE_BEAT_MS`], once per user however many tabs they have open.
//!
//! Changes are told to every socket as `presence.updated` signals: online when a user's
//! first socket opens here, away or online when their browser says so, offline once no
//! instance has seen a socket of theirs for a whole beat after their last one here closed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::{AppError, AppState, Principal};
use crate::model::{Frame, Presence as PresenceFrame, PresenceStatus, User};
use crate::realtime::hub::Signal;
use crate::store::{PRESENCE_BEAT_MS, PRESENCE_TTL_MS, Scope, away_key, now_ms};

/// How long after a user's last socket here closed before they may be told offline: long
/// enough for any other instance holding a socket of theirs to have seen it (one beat),
/// and for a page reload to have reconnected.
const OFFLINE_AFTER: Duration = Duration::from_millis(PRESENCE_BEAT_MS as u64 + 5_000);

#[derive(Default)]
pub struct Presence {
    sockets: Mutex<HashMap<String, usize>>,
}

impl Presence {
    /// A socket of `user_id` opened; says whether it is their first here.
    fn join(&self, user_id: &str) -> bool {
        match self.sockets.lock() {
            Ok(mut s) => {
                let n = s.entry(user_id.to_string()).or_insert(0);
                *n += 1;
                *n == 1
            }
            Err(_) => false,
        }
    }

    /// A socket of `user_id` closed; says whether it was their last here.
    fn leave(&self, user_id: &str) -> bool {
        let Ok(mut s) = self.sockets.lock() else {
            return false;
        };
        let Some(n) = s.get_mut(user_id) else {
            return false;
        };
        *n -= 1;
        if *n == 0 {
            s.remove(user_id);
            return true;
        }
        false
    }

    fn has_socket(&self, user_id: &str) -> bool {
        self.sockets
            .lock()
            .map(|s| s.contains_key(user_id))
            .unwrap_or(false)
    }

    fn connected(&self) -> Vec<String> {
        self.sockets
            .lock()
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Sends a presence or typing frame to the sockets of `inbox_id` (`None`: every socket),
/// except `skip_user`'s.
fn signal(state: &AppState, frame: &Frame, inbox_id: Option<&str>, skip_user: Option<&str>) {
    if let Ok(frame) = serde_json::to_string(frame) {
        state.hub.signal(Signal {
            inbox_id: inbox_id.map(str::to_string),
            skip_user: skip_user.map(str::to_string),
            frame,
        });
    }
}

/// Tells every socket how `user` is now.
fn announce(state: &AppState, user: &User, status: PresenceStatus) {
    let data = PresenceFrame {
        user_id: user.id.clone(),
        name: user.name.clone(),
        status,
    };
    signal(state, &Frame::PresenceUpdated { data }, None, None);
}

async fn is_away(state: &AppState, user_id: &str) -> bool {
    matches!(state.store.setting(&away_key(user_id)).await, Ok(Some(_)))
}

/// A socket of `user` opened: the first one here makes them online at once.
pub async fn socket_opened(state: &AppState, user: &User) {
    if !state.presence.join(&user.id) {
        return;
    }
    if let Err(e) = state.store.touch_presence(&user.id, now_ms()).await {
        tracing::warn!(user = %user.id, error = %e, "presence: cannot record a user online");
    }
    let status = if is_away(state, &user.id).await {
        PresenceStatus::Away
    } else {
        PresenceStatus::Online
    };
    announce(state, user, status);
}

/// A socket of `user` closed. After their last one here, they are told offline once no
/// instance has seen a socket of theirs for a whole beat (another may hold one).
pub fn socket_closed(state: &AppState, user: &User) {
    if !state.presence.leave(&user.id) {
        return;
    }
    let (state, user) = (state.clone(), user.clone());
    tokio::spawn(async move {
        loop {
            let since = now_ms();
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tokio::time::sleep(OFFLINE_AFTER) => {}
            }
            if state.presence.has_socket(&user.id) {
                return;
            }
            match state.store.present_users(since).await {
                Ok(seen) if seen.contains(&user.id) => continue,
                Ok(_) => return announce(&state, &user, PresenceStatus::Offline),
                Err(e) => {
                    tracing::warn!(user = %user.id, error = %e, "presence: cannot tell whether a user left");
                    return;
                }
            }
        }
    });
}

/// The caller's browser says its tabs are in use (`online`) or hidden (`away`).
pub async fn set_status(
    state: &AppState,
    principal: &Principal,
    status: PresenceStatus,
) -> Result<(), AppError> {
    let key = away_key(&principal.user.id);
    match status {
        PresenceStatus::Online => state.store.set_setting(&key, None).await?,
        PresenceStatus::Away => state.store.set_setting(&key, Some("1")).await?,
        PresenceStatus::Offline => {
            return Err(AppError::BadRequest(
                "status must be online or away; offline follows from closing every tab".into(),
            ));
        }
    }
    announce(state, &principal.user, status);
    Ok(())
}

/// The caller's teammates (everyone who shares an inbox with them; every user for an
/// admin), themselves included, and how each is now.
pub async fn team(state: &AppState, principal: &Principal) -> Result<Vec<PresenceFrame>, AppError> {
    let present: std::collections::HashSet<String> = state
        .store
        .present_users(now_ms() - PRESENCE_TTL_MS)
        .await?
        .into_iter()
        .collect();
    // An agent's teammates are the members of their inboxes: one read per inbox.
    let teammates: Option<std::collections::HashSet<String>> = match &principal.scope {
        Scope::All => None,
        Scope::Inboxes(inboxes) => {
            let mut ids = std::collections::HashSet::from([principal.user.id.clone()]);
            for inbox in inboxes {
                ids.extend(state.store.inbox_members(inbox).await?);
            }
            Some(ids)
        }
    };
    let mut out = Vec::new();
    for user in state.store.list_users().await? {
        if user.disabled || teammates.as_ref().is_some_and(|t| !t.contains(&user.id)) {
            continue;
        }
        let status = if !present.contains(&user.id) {
            PresenceStatus::Offline
        } else if is_away(state, &user.id).await {
            PresenceStatus::Away
        } else {
            PresenceStatus::Online
        };
        out.push(PresenceFrame {
            user_id: user.id,
            name: user.name,
            status,
        });
    }
    out.sort_by_key(|p| p.name.to_lowercase());
    Ok(out)
}

/// Refreshes the connected users' presence until shutdown.
pub async fn beat(state: AppState) {
    let mut timer = tokio::time::interval(Duration::from_millis(PRESENCE_BEAT_MS as u64));
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = timer.tick() => {}
        }
        let now = now_ms();
        for user in state.presence.connected() {
            if let Err(e) = state.store.touch_presence(&user, now).await {
                tracing::warn!(%user, error = %e, "presence: cannot refresh");
            }
        }
    }
}

/// Tells the teammates who can see the conversation's inbox that `user` is writing in it.
pub fn typing(state: &AppState, user: &User, inbox_id: &str, conversation_id: &str) {
    let data = crate::model::AgentTyping {
        conversation_id: conversation_id.to_string(),
        user_id: user.id.clone(),
        name: user.name.clone(),
    };
    signal(
        state,
        &Frame::AgentTyping { data },
        Some(inbox_id),
        Some(&user.id),
    );
}
