//! Every webhook looks its inbox up by phone number id, twice (the signature check, then
//! the ingest); the answer rarely changes, so both backends keep it for a moment.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Inbox, StoreResult};

/// How long an inbox looked up by phone number is trusted: another instance may change
/// it, and credentials must not stay stale for long.
const TTL: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct InboxCache(Mutex<HashMap<String, (Inbox, Instant)>>);

impl InboxCache {
    /// The cached inbox for `phone_number_id`, else `load`'s answer (kept if found).
    /// Misses are never cached: any body can name any number, so caching them would let
    /// strangers fill the map, and an inbox created a moment later must be found.
    pub(crate) async fn get_or_load<F>(
        &self,
        phone_number_id: &str,
        load: F,
    ) -> StoreResult<Option<Inbox>>
    where
        F: Future<Output = StoreResult<Option<Inbox>>>,
    {
        if let Ok(cache) = self.0.lock()
            && let Some((inbox, at)) = cache.get(phone_number_id)
            && at.elapsed() < TTL
        {
            return Ok(Some(inbox.clone()));
        }
        let inbox = load.await?;
        if let Some(found) = &inbox
            && let Ok(mut cache) = self.0.lock()
        {
            cache.retain(|_, (_, at)| at.elapsed() < TTL);
            cache.insert(phone_number_id.to_string(), (found.clone(), Instant::now()));
        }
        Ok(inbox)
    }

    /// After a change to inboxes, so the next lookup reads it.
    pub(crate) fn forget(&self) {
        if let Ok(mut cache) = self.0.lock() {
            cache.clear();
        }
    }
}
