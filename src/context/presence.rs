//! Who has a socket open on this instance. The store keeps when each user was last seen
//! (shared by every instance); this instance refreshes it for its connected users every
//! [`PRESENCE_BEAT_MS`], once per user however many tabs they have open.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::store::{DynStore, PRESENCE_BEAT_MS, now_ms};

#[derive(Default)]
pub struct Presence {
    sockets: Mutex<HashMap<String, usize>>,
}

impl Presence {
    /// A socket of `user_id` opened; the first one makes them online at once.
    pub async fn join(&self, store: &DynStore, user_id: &str) {
        let first = match self.sockets.lock() {
            Ok(mut s) => {
                let n = s.entry(user_id.to_string()).or_insert(0);
                *n += 1;
                *n == 1
            }
            Err(_) => false,
        };
        if first && let Err(e) = store.touch_presence(user_id, now_ms()).await {
            tracing::warn!(user = user_id, error = %e, "presence: cannot record a user online");
        }
    }

    /// A socket of `user_id` closed. Presence then runs out by itself (another instance may
    /// still hold a socket of theirs, so nothing is removed).
    pub fn leave(&self, user_id: &str) {
        if let Ok(mut s) = self.sockets.lock()
            && let Some(n) = s.get_mut(user_id)
        {
            *n -= 1;
            if *n == 0 {
                s.remove(user_id);
            }
        }
    }

    fn connected(&self) -> Vec<String> {
        self.sockets
            .lock()
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Refreshes the connected users' presence until shutdown.
pub async fn beat(state: super::AppState) {
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
