//! Outgoing webhooks as the admin API shows them: where events go, which, and how far
//! delivery has got.

use serde::{Deserialize, Serialize};

/// The event types a subscription may ask for (the `/ws` frame types that are stored).
pub const WEBHOOK_EVENT_TYPES: [&str; 4] = [
    "message.created",
    "message.updated",
    "conversation.updated",
    "inbox.updated",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionState {
    /// Delivering, or caught up.
    Active,
    /// The last delivery failed; it is tried again with a growing wait.
    Retrying,
    /// An admin paused it; nothing is sent until it is resumed.
    Paused,
}

impl SubscriptionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retrying => "retrying",
            Self::Paused => "paused",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSubscription {
    pub id: String,
    pub url: String,
    /// Event types delivered; empty: all of them.
    pub events: Vec<String>,
    /// Inboxes whose events are delivered; empty: every inbox.
    pub inbox_ids: Vec<String>,
    pub state: SubscriptionState,
    /// Why the most recent failed delivery failed (kept after it recovers, for the record).
    pub last_error: Option<String>,
    /// Events in the log not yet handled (delivered, or skipped as not asked for).
    pub lag: i64,
}

/// `list_webhook_subscriptions` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSubscriptions {
    pub subscriptions: Vec<WebhookSubscription>,
}

/// `create_webhook_subscription` answer: the only time the signing secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedWebhookSubscription {
    pub subscription: WebhookSubscription,
    pub secret: String,
}

/// The event types as asked for: known, without repeats, in a stable order.
pub fn normalize_event_types(raw: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in raw {
        let t = t.trim();
        if !WEBHOOK_EVENT_TYPES.contains(&t) {
            return Err(format!(
                "unknown event type {t:?}; known: {}",
                WEBHOOK_EVENT_TYPES.join(", ")
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    out.sort_by_key(|t| WEBHOOK_EVENT_TYPES.iter().position(|k| k == t));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_checked_deduplicated_and_ordered() {
        let asked = vec![
            "conversation.updated".to_string(),
            " message.created".into(),
            "message.created".into(),
        ];
        assert_eq!(
            normalize_event_types(&asked).unwrap(),
            vec!["message.created", "conversation.updated"]
        );
        let err = normalize_event_types(&["message.deleted".into()]).unwrap_err();
        assert!(err.contains("message.deleted") && err.contains("inbox.updated"));
        assert!(normalize_event_types(&[]).unwrap().is_empty());
    }
}
