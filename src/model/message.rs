//! A message, what the conversation list and a reply show of it, and pages of history.

use serde::{Deserialize, Serialize};

use super::content::{Content, Details, Quote};
use super::status::{Direction, ErrorInfo, MessageKind, MessageStatus};

/// One message in a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Ours, stable from creation.
    pub id: String,
    /// Meta's id, once known.
    pub wamid: Option<String>,
    pub conversation_id: String,
    pub inbox_id: String,
    pub direction: Direction,
    pub kind: MessageKind,
    /// Body or caption, where there is one.
    pub text: Option<String>,
    pub status: MessageStatus,
    pub error: Option<ErrorInfo>,
    /// Unix seconds: Meta's timestamp for inbound messages, ours for outbound ones.
    pub timestamp: i64,
    /// Unix milliseconds at which we stored it.
    pub created_at: i64,
    /// The sender's idempotency key for outbound messages.
    pub client_id: Option<String>,
    /// Database-assigned insertion order; breaks ties between equal timestamps.
    pub seq: i64,
    /// Bumped on every change, so a stale copy never overwrites a newer one.
    pub version: i64,
    /// The wamid this message replies to, if any (it may be one we never stored).
    pub reply_to: Option<String>,
    /// Everything a type carries beyond its text: structured content, media, reactions.
    #[serde(default)]
    pub details: Details,
    /// Who sent an outbound message or wrote a note; `None` for inbound and automatic
    /// messages. Shown to the team only.
    #[serde(default)]
    pub sent_by: Option<super::account::UserRef>,
}

impl Message {
    /// The text a list shows for this message.
    pub fn preview(&self) -> String {
        if self.details.deleted {
            return "Message deleted".to_string();
        }
        if let Some(Content::Reaction { emoji, .. }) = &self.details.content {
            return match emoji.as_deref().filter(|e| !e.is_empty()) {
                Some(e) => format!("Reacted {e}"),
                None => "Removed a reaction".to_string(),
            };
        }
        match &self.text {
            Some(t) if !t.is_empty() => t.clone(),
            _ => self.kind.placeholder().to_string(),
        }
    }

    /// Reactions are shown on the message they react to, not as bubbles of their own.
    pub fn is_reaction(&self) -> bool {
        self.kind == MessageKind::Reaction
    }

    /// Ordering of a conversation's history: timestamp, then insertion order.
    pub fn sort_key(&self) -> (i64, i64) {
        (self.timestamp, self.seq)
    }

    pub fn cursor(&self) -> Cursor {
        Cursor {
            timestamp: self.timestamp,
            seq: self.seq,
        }
    }

    /// A `before` cursor whose page starts with this message: nothing lies between
    /// `(timestamp, seq)` and `(timestamp, seq + 1)`.
    pub fn cursor_through(&self) -> Cursor {
        Cursor {
            timestamp: self.timestamp,
            seq: self.seq + 1,
        }
    }
}

/// What the conversation list shows of the newest message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessagePreview {
    pub id: String,
    pub direction: Direction,
    pub kind: MessageKind,
    pub text: String,
    pub status: MessageStatus,
    pub timestamp: i64,
}

impl From<&Message> for MessagePreview {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.clone(),
            direction: m.direction,
            kind: m.kind,
            text: m.preview(),
            status: m.status,
            timestamp: m.timestamp,
        }
    }
}

/// Position in a conversation's history: everything strictly older than this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    pub timestamp: i64,
    pub seq: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.timestamp, self.seq)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (ts, seq) = s.split_once('.')?;
        Some(Self {
            timestamp: ts.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

/// `load_messages` answer: newest first, and the cursor for the next (older) page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub next: Option<String>,
    /// Cursor for the next newer page, when the page stops short of the newest message
    /// (a page loaded `after` a cursor or `around` a message); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer: Option<String>,
}

impl MessagePage {
    /// A page from up to `limit + 1` rows, newest first: the extra row only proves there
    /// is more, and the cursor continues after the last row kept.
    pub fn from_overfetch(messages: Vec<Message>, limit: usize) -> Self {
        let (messages, next) = keep_overfetch(messages, limit);
        Self {
            messages,
            next,
            newer: None,
        }
    }

    /// A page of newer messages from up to `limit + 1` rows, oldest first: it keeps the
    /// `limit` oldest, newest first, and `newer` continues after the newest kept.
    pub fn from_newer_overfetch(messages: Vec<Message>, limit: usize) -> Self {
        let (mut messages, newer) = keep_overfetch(messages, limit);
        messages.reverse();
        Self {
            messages,
            next: None,
            newer,
        }
    }

    /// One page from a newer page (after a message) and an older one (that message and
    /// before it): the history around the message, both cursors kept.
    pub fn joined(newer: MessagePage, older: MessagePage) -> Self {
        let mut messages = newer.messages;
        messages.extend(older.messages);
        Self {
            messages,
            next: older.next,
            newer: newer.newer,
        }
    }
}

/// The first `limit` of up to `limit + 1` rows in page order, and a cursor after the
/// last one kept if the extra row proved there is more.
fn keep_overfetch(mut rows: Vec<Message>, limit: usize) -> (Vec<Message>, Option<String>) {
    if rows.len() > limit {
        rows.truncate(limit);
        let cursor = rows.last().map(|m| m.cursor().encode());
        (rows, cursor)
    } else {
        (rows, None)
    }
}

/// Unread counts stop at this (the list shows "999+"), which keeps counting cheap however
/// long a conversation has been ignored.
pub const UNREAD_CAP: i64 = 1000;

/// Longest text body Meta accepts.
pub const MAX_TEXT_LEN: usize = 4096;

// Built from a message, so it lives beside `Message`: `content` stays below `message`.
impl Quote {
    /// How a reply shows the message it answers.
    pub fn of(m: &Message) -> Self {
        Self {
            direction: m.direction,
            text: m.preview().chars().take(200).collect(),
        }
    }
}
