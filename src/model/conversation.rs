//! A customer's thread with one inbox, its contact and the 24-hour window.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::account::UserRef;
use super::message::MessagePreview;

/// How long a customer service window stays open after the customer's last message.
pub const WINDOW_SECS: i64 = 24 * 3600;

impl Conversation {
    /// Where it sorts in the conversation list (see [`list_order`]).
    pub fn list_order(&self) -> (std::cmp::Reverse<i64>, &str) {
        list_order(self.last_activity_at, &self.id)
    }

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
    #[serde(default)]
    pub labels: Vec<String>,
    /// The team's own key/value notes on the customer (plan, city, order number…).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The customer asked for no marketing: marketing templates are refused (409).
    #[serde(default)]
    pub opted_out: bool,
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
    #[serde(default)]
    pub status: ConversationStatus,
    /// Unix ms at which a snoozed conversation opens again.
    #[serde(default)]
    pub snoozed_until: Option<i64>,
    #[serde(default)]
    pub assignee: Option<UserRef>,
    #[serde(default)]
    pub labels: Vec<String>,
    /// The latest assignment or status change, as the thread's activity line shows it:
    /// it rides on the conversation's own event, so a reconnecting tab sees it too.
    #[serde(default)]
    pub last_change: Option<Activity>,
}

/// Where a conversation stands in the team's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    #[default]
    Open,
    Pending,
    Snoozed,
    Resolved,
}

impl ConversationStatus {
    pub const ALL: [Self; 4] = [Self::Open, Self::Pending, Self::Snoozed, Self::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Pending => "pending",
            Self::Snoozed => "snoozed",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One change to who owns a conversation or where it stands ("Ana assigned this to Bo").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub id: String,
    pub conversation_id: String,
    /// Who did it; `None` for the system (a customer's message, a snooze running out,
    /// auto-assignment).
    pub by: Option<UserRef>,
    pub change: Change,
    /// Unix ms.
    pub at: i64,
}

/// What an [`Activity`] changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    Assigned {
        to: Option<UserRef>,
    },
    Status {
        status: ConversationStatus,
        snoozed_until: Option<i64>,
    },
}

impl Activity {
    /// The activity line's words, e.g. "Ana assigned this to Bo".
    pub fn describe(&self) -> String {
        let who = self.by.as_ref().map(|u| u.name.as_str());
        match (&self.change, who) {
            (Change::Assigned { to: Some(to) }, Some(by))
                if by == to.name && self.by.as_ref().map(|u| &u.id) == Some(&to.id) =>
            {
                format!("{by} took this")
            }
            (Change::Assigned { to: Some(to) }, Some(by)) => {
                format!("{by} assigned this to {}", to.name)
            }
            (Change::Assigned { to: Some(to) }, None) => format!("Assigned to {}", to.name),
            (Change::Assigned { to: None }, Some(by)) => format!("{by} unassigned this"),
            (Change::Assigned { to: None }, None) => "Unassigned".to_string(),
            (Change::Status { status, .. }, by) => {
                let verb = match status {
                    ConversationStatus::Open => "reopened",
                    ConversationStatus::Pending => "marked this pending",
                    ConversationStatus::Snoozed => "snoozed this",
                    ConversationStatus::Resolved => "resolved this",
                };
                match (by, status) {
                    (Some(by), ConversationStatus::Open) => format!("{by} reopened this"),
                    (Some(by), _) => format!("{by} {verb}"),
                    (None, ConversationStatus::Open) => "Reopened".to_string(),
                    (None, _) => format!("Automatically {verb}"),
                }
            }
        }
    }
}

/// `list_conversations` answer. `seq` is the event log head read *before* the list, so a
/// socket opened with `since=seq` misses nothing that happened after the snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationList {
    pub conversations: Vec<Conversation>,
    pub seq: i64,
    /// Cursor for the next (older) page, or `None` at the end.
    #[serde(default)]
    pub next: Option<String>,
}

/// Which conversations a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    #[default]
    All,
    Mine,
    Unassigned,
}

/// How many conversations each view holds under the same status, inbox, label and query
/// filters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewCounts {
    pub mine: u64,
    pub unassigned: u64,
    pub all: u64,
}

/// The conversation list's order: newest activity first, ties by id (ascending). The
/// server pages in it and the browser keeps its loaded rows in it.
pub fn list_order(last_activity_at: i64, id: &str) -> (std::cmp::Reverse<i64>, &str) {
    (std::cmp::Reverse(last_activity_at), id)
}

/// Position in the conversation list: everything after (older than) this.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListCursor {
    pub last_activity_at: i64,
    pub id: String,
}

impl ListCursor {
    pub fn of(c: &Conversation) -> Self {
        Self {
            last_activity_at: c.last_activity_at,
            id: c.id.clone(),
        }
    }

    /// Where this cursor's row sorts in the list (see [`list_order`]).
    pub fn order(&self) -> (std::cmp::Reverse<i64>, &str) {
        list_order(self.last_activity_at, &self.id)
    }

    /// Whether the list's pages up to this cursor (the last row of a page) hold `c`.
    pub fn holds(&self, c: &Conversation) -> bool {
        c.list_order() <= self.order()
    }

    pub fn encode(&self) -> String {
        format!("{}.{}", self.last_activity_at, self.id)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (at, id) = s.split_once('.')?;
        (!id.is_empty()).then_some(())?;
        Some(Self {
            last_activity_at: at.parse().ok()?,
            id: id.to_string(),
        })
    }
}

/// A contact as the contacts page lists it: with its inbox and conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactEntry {
    #[serde(flatten)]
    pub contact: Contact,
    pub inbox_id: String,
    pub conversation_id: Option<String>,
}

/// `start_conversation` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartedConversation {
    pub conversation: Conversation,
    pub message: super::message::Message,
}

/// `list_contacts` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactPage {
    pub contacts: Vec<ContactEntry>,
    pub next: Option<String>,
}

/// The longest label.
pub const MAX_LABEL_LEN: usize = 32;

/// A label as stored: lower-case, 1–32 of letters, digits, `-` and `_`; `None` otherwise.
pub fn normalize_label(label: &str) -> Option<String> {
    let l = label.trim().to_lowercase();
    let ok = !l.is_empty()
        && l.chars().count() <= MAX_LABEL_LEN
        && l.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    ok.then_some(l)
}

/// Labels as stored: each normalised, no repeats, sorted; the first bad one is the error.
pub fn normalize_labels(labels: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(labels.len());
    for l in labels {
        let n = normalize_label(l).ok_or_else(|| {
            format!("label {l:?} must be 1 to {MAX_LABEL_LEN} letters, digits, '-' or '_'")
        })?;
        out.push(n);
    }
    out.sort();
    out.dedup();
    if out.len() > 20 {
        return Err("a conversation or contact takes at most 20 labels".into());
    }
    Ok(out)
}

/// A phone number as WhatsApp ids write it: E.164 digits without the `+`. Accepts the
/// common ways people type one (`+44 7700 900123`, `(415) 555-0100` with a country code,
/// `0044…`); `Err` says why anything else is not a number.
pub fn normalize_phone(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err("a phone number is needed".into());
    }
    let mut digits = String::new();
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            other => return Err(format!("{other:?} cannot be part of a phone number")),
        }
    }
    let digits = digits
        .strip_prefix("00")
        .map(str::to_string)
        .unwrap_or(digits);
    if digits.starts_with('0') {
        return Err("start with the country code (e.g. +44 7700 900123), not a trunk 0".into());
    }
    if !(8..=15).contains(&digits.len()) {
        return Err(format!(
            "a phone number with its country code has 8 to 15 digits; this has {}",
            digits.len()
        ));
    }
    Ok(digits)
}
