//! A customer's thread with one inbox, its contact and the 24-hour window.

use serde::{Deserialize, Serialize};

use super::message::MessagePreview;

/// How long a customer service window stays open after the customer's last message.
pub const WINDOW_SECS: i64 = 24 * 3600;

impl Conversation {
    /// Seconds left in the 24-hour window at `now` (Unix seconds); 0 when closed.
    pub fn window_left(&self, now: i64) -> i64 {
        match self.last_inbound_at {
            Some(t) => (t + WINDOW_SECS - now).max(0),
            None => 0,
        }
    }
}

/// The customer on the other end of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: String,
    pub name: Option<String>,
    /// Phone number digits; may be absent for username-only (BSUID) customers.
    pub wa_id: Option<String>,
    /// Business-scoped user id (2026 identity), when Meta sends one.
    pub user_id: Option<String>,
}

impl Contact {
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| self.wa_id.as_ref().map(|w| format!("+{w}")))
            .or_else(|| self.user_id.clone())
            .unwrap_or_else(|| "Unknown".to_string())
    }
}

/// One customer's thread with one inbox (phone number).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub inbox_id: String,
    pub contact: Contact,
    pub last_message: Option<MessagePreview>,
    pub unread_count: i64,
    /// Unix milliseconds of the last message in either direction; the list's order.
    pub last_activity_at: i64,
    /// Unix seconds of the customer's last message; the 24-hour window runs from here.
    pub last_inbound_at: Option<i64>,
    pub version: i64,
}

/// `list_conversations` answer. `seq` is the event log head read *before* the list, so a
/// socket opened with `since=seq` misses nothing that happened after the snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationList {
    pub conversations: Vec<Conversation>,
    pub seq: i64,
}
