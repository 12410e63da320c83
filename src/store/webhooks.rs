//! Outgoing webhook subscriptions: what is kept of each, and the rules both backends and
//! the delivery job share.
//!
//! A subscription's progress is one number, `cursor`: every event with `seq <= cursor`
//! has been delivered or skipped. Delivery moves it with a compare-and-set, so a second
//! runner (an instance whose claim ran out) can never move it back or skip an event.

use async_trait::async_trait;

use super::{Event, StoreResult};
use crate::model::{SubscriptionState, WebhookSubscription};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub id: String,
    pub url: String,
    /// The HMAC key; shown to the admin once, at creation.
    pub secret: String,
    /// Empty: every event type.
    pub events: Vec<String>,
    /// Empty: every inbox.
    pub inbox_ids: Vec<String>,
    pub paused: bool,
    /// The last event seq handled.
    pub cursor: i64,
    /// The last delivery attempt failed.
    pub retrying: bool,
    pub last_error: Option<String>,
    /// When the current run of failures began (Unix ms); `None` while deliveries succeed.
    pub failing_since: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
}

impl SubscriptionRecord {
    pub fn state(&self) -> SubscriptionState {
        if self.paused {
            SubscriptionState::Paused
        } else if self.retrying {
            SubscriptionState::Retrying
        } else {
            SubscriptionState::Active
        }
    }

    /// Does this subscription want `event`?
    pub fn wants(&self, event: &Event) -> bool {
        (self.events.is_empty() || self.events.iter().any(|t| t == event.kind.as_str()))
            && (self.inbox_ids.is_empty() || self.inbox_ids.contains(&event.inbox_id))
    }

    /// What the admin API shows; `head` is the event log's newest seq.
    pub fn to_api(&self, head: i64) -> WebhookSubscription {
        WebhookSubscription {
            id: self.id.clone(),
            url: self.url.clone(),
            events: self.events.clone(),
            inbox_ids: self.inbox_ids.clone(),
            state: self.state(),
            last_error: self.last_error.clone(),
            lag: (head - self.cursor).max(0),
        }
    }
}

/// How a delivery run left a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Delivered (or skipped) everything up to the new cursor.
    Delivered,
    /// Stopped at the new cursor: the next event failed for this reason.
    Failed(String),
}

#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Every subscription, oldest first.
    async fn webhook_subscriptions(&self) -> StoreResult<Vec<SubscriptionRecord>>;

    /// Creates it, or changes an existing one's `url`, `events`, `inbox_ids` and `paused`;
    /// its secret and delivery progress stay as they are.
    async fn save_webhook_subscription(&self, sub: &SubscriptionRecord) -> StoreResult<()>;

    /// Removes it; says whether it was there.
    async fn delete_webhook_subscription(&self, id: &str) -> StoreResult<bool>;

    /// Moves the cursor from `from` to `to` and records how the run went, only if the
    /// cursor is still `from`; says whether it was. A failure keeps `failing_since` (or
    /// starts it now); a delivery clears it.
    async fn record_webhook_progress(
        &self,
        id: &str,
        from: i64,
        to: i64,
        progress: &Progress,
    ) -> StoreResult<bool>;

    /// Sets the cursor (a replay) and clears `retrying`; says whether it exists.
    async fn rewind_webhook_subscription(&self, id: &str, cursor: i64) -> StoreResult<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventKind;

    fn sub(events: &[&str], inboxes: &[&str]) -> SubscriptionRecord {
        SubscriptionRecord {
            id: "s".into(),
            url: "https://example.com/h".into(),
            secret: "k".into(),
            events: events.iter().map(|s| s.to_string()).collect(),
            inbox_ids: inboxes.iter().map(|s| s.to_string()).collect(),
            paused: false,
            cursor: 7,
            retrying: false,
            last_error: None,
            failing_since: None,
            created_at: 0,
        }
    }

    fn event(kind: EventKind, inbox: &str) -> Event {
        Event {
            seq: 8,
            inbox_id: inbox.into(),
            kind,
            data: "{}".into(),
        }
    }

    #[test]
    fn a_subscription_wants_the_types_and_inboxes_it_names_and_all_when_it_names_none() {
        let created = event(EventKind::MessageCreated, "a");
        assert!(sub(&[], &[]).wants(&created));
        assert!(sub(&["message.created"], &["a"]).wants(&created));
        assert!(!sub(&["conversation.updated"], &[]).wants(&created));
        assert!(!sub(&[], &["b"]).wants(&created));
    }

    #[test]
    fn paused_wins_over_retrying_and_lag_counts_from_the_cursor() {
        let mut s = sub(&[], &[]);
        assert_eq!(s.to_api(10).state, SubscriptionState::Active);
        assert_eq!(s.to_api(10).lag, 3);
        assert_eq!(s.to_api(5).lag, 0);
        s.retrying = true;
        assert_eq!(s.state(), SubscriptionState::Retrying);
        s.paused = true;
        assert_eq!(s.state(), SubscriptionState::Paused);
    }
}
