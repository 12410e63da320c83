//! Meta's rate limit for a whole phone number (130429).
//!
//! Error 130429 means the number sent too much in a short time, so it is about every
//! message of the inbox, not just the one that got it. Once one send hits it, the others
//! queued for the same number wait until that send's backoff has passed instead of each
//! calling Meta and each collecting its own 130429. The hold is kept here for this
//! process and in the store for the other instances (see `dispatch::held_until`).

use std::collections::HashMap;
use std::sync::Mutex;

/// The settings key holding until when (Unix ms) an inbox's number is held.
pub fn hold_key(inbox_id: &str) -> String {
    format!("send_hold:{inbox_id}")
}

#[derive(Default)]
pub struct Throttle {
    /// Unix milliseconds until which each inbox's number is held.
    held: Mutex<HashMap<String, i64>>,
}

impl Throttle {
    /// Until when sends from `inbox_id` must wait, if they must.
    pub fn held_until(&self, inbox_id: &str, now_ms: i64) -> Option<i64> {
        let mut held = self.held.lock().ok()?;
        match held.get(inbox_id).copied() {
            Some(until) if until > now_ms => Some(until),
            Some(_) => {
                held.remove(inbox_id);
                None
            }
            None => None,
        }
    }

    /// Holds `inbox_id`'s sends until `until_ms` (a later hold wins).
    pub fn hold(&self, inbox_id: &str, until_ms: i64) {
        if let Ok(mut held) = self.held.lock() {
            let until = held.entry(inbox_id.to_string()).or_insert(until_ms);
            *until = (*until).max(until_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_lasts_until_its_time_and_the_latest_wins() {
        let t = Throttle::default();
        assert_eq!(t.held_until("a", 0), None);
        t.hold("a", 1_000);
        t.hold("a", 500);
        assert_eq!(t.held_until("a", 999), Some(1_000));
        assert_eq!(t.held_until("b", 999), None, "other numbers are not held");
        assert_eq!(t.held_until("a", 1_000), None);
    }
}
