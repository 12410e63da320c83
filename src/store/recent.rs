//! Reads made for every webhook whose answers rarely change, kept for a moment by both
//! backends: the inbox by phone number id (the signature check, then the ingest), and
//! settings read on every message (an inbox's auto-assignment).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Inbox, StoreResult};

/// How long an answer is trusted: another instance may change it, and credentials must
/// not stay stale for long. A change made through this instance is seen at once.
const TTL: Duration = Duration::from_secs(1);

pub(crate) struct Recent<V> {
    kept: Mutex<Kept<V>>,
    /// Which answers may be kept.
    keeps: fn(&V) -> bool,
}

struct Kept<V> {
    answers: HashMap<String, (V, Instant)>,
    /// How many changes were made through this instance: an answer loaded across one is
    /// not kept.
    changes: u64,
}

/// Inboxes by phone number id. Misses are never kept: any body can name any number, so
/// keeping them would let strangers fill the map, and an inbox created a moment later
/// must be found.
pub(crate) type InboxCache = Recent<Option<Inbox>>;

impl Default for InboxCache {
    fn default() -> Self {
        Self::keeping(Option::is_some)
    }
}

/// Settings by key; an absent one is kept too (only our own keys are asked for).
pub(crate) type SettingCache = Recent<Option<String>>;

impl Default for SettingCache {
    fn default() -> Self {
        Self::keeping(|_| true)
    }
}

impl<V: Clone> Recent<V> {
    fn keeping(keeps: fn(&V) -> bool) -> Self {
        Self {
            kept: Mutex::new(Kept {
                answers: HashMap::new(),
                changes: 0,
            }),
            keeps,
        }
    }

    /// The answer kept for `key`, else `load`'s (kept if it may be).
    pub(crate) async fn get_or_load<F>(&self, key: &str, load: F) -> StoreResult<V>
    where
        F: Future<Output = StoreResult<V>>,
    {
        let mut changes = None;
        if let Ok(kept) = self.kept.lock() {
            if let Some((value, at)) = kept.answers.get(key)
                && at.elapsed() < TTL
            {
                return Ok(value.clone());
            }
            changes = Some(kept.changes);
        }
        let value = load.await?;
        if (self.keeps)(&value)
            && let Ok(mut kept) = self.kept.lock()
            && changes == Some(kept.changes)
        {
            kept.answers.retain(|_, (_, at)| at.elapsed() < TTL);
            kept.answers
                .insert(key.to_string(), (value.clone(), Instant::now()));
        }
        Ok(value)
    }

    /// After a change, so the next read asks the database.
    pub(crate) fn forget(&self) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.answers.clear();
            kept.changes += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_is_kept_for_a_moment_and_a_change_here_drops_it() {
        let cache = SettingCache::default();
        let first = cache.get_or_load("k", async { Ok(Some("on".to_string())) });
        assert_eq!(first.await.unwrap().as_deref(), Some("on"));
        let kept = cache.get_or_load("k", async { Ok(None) });
        assert_eq!(kept.await.unwrap().as_deref(), Some("on"));
        cache.forget();
        assert_eq!(
            cache.get_or_load("k", async { Ok(None) }).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn an_answer_loaded_across_a_change_here_is_not_kept() {
        let cache = SettingCache::default();
        let across = cache.get_or_load("k", async {
            cache.forget();
            Ok(Some("old".to_string()))
        });
        assert_eq!(across.await.unwrap().as_deref(), Some("old"));
        let next = cache.get_or_load("k", async { Ok(Some("new".to_string())) });
        assert_eq!(next.await.unwrap().as_deref(), Some("new"));
    }

    #[tokio::test]
    async fn an_inbox_not_found_is_not_kept() {
        let cache = InboxCache::default();
        assert_eq!(
            cache.get_or_load("p", async { Ok(None) }).await.unwrap(),
            None
        );
        let created = cache.get_or_load("p", async {
            Err(crate::store::StoreError::NotFound("asked"))
        });
        assert!(created.await.is_err(), "a miss is asked again");
    }
}
