//! What goes into the store's traits and comes back out: the store's error, the records a
//! write takes, and the outcomes it reports.

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::model::{
    Conversation, Details, Direction, ErrorInfo, EventFrame, Message, MessageKind, Role, UserRef,
};

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// The database cannot be reached or refused the write; the caller should answer 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data that cannot be read back; a bug or manual tampering.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

/// A WhatsApp phone number the inbox serves.
#[derive(Clone, PartialEq, Eq)]
pub struct Inbox {
    pub id: String,
    pub phone_number_id: String,
    pub display_phone_number: Option<String>,
    pub name: Option<String>,
    /// The inbox's own Meta credentials; unset ones fall back to the environment's.
    pub credentials: InboxCredentials,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("id", &self.id)
            .field("phone_number_id", &self.phone_number_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Secrets never leave the server and are never logged: `Debug` prints only which are set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct InboxCredentials {
    pub access_token: Option<String>,
    pub app_secret: Option<String>,
    pub verify_token: Option<String>,
}

impl InboxCredentials {
    pub fn any(&self) -> bool {
        self.access_token.is_some() || self.app_secret.is_some() || self.verify_token.is_some()
    }
}

impl std::fmt::Debug for InboxCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "set" } else { "unset" };
        f.debug_struct("InboxCredentials")
            .field("access_token", &set(&self.access_token))
            .field("app_secret", &set(&self.app_secret))
            .field("verify_token", &set(&self.verify_token))
            .finish()
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewInbox {
    pub phone_number_id: String,
    pub display_phone_number: Option<String>,
    pub name: Option<String>,
    pub credentials: InboxCredentials,
}

/// Changes to an inbox; `None` leaves a field as it is. A credential set to an empty
/// string is cleared (the inbox falls back to the environment's).
#[derive(Debug, Clone, Default)]
pub struct InboxUpdate {
    pub name: Option<String>,
    pub display_phone_number: Option<String>,
    pub credentials: InboxCredentials,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub name: String,
    pub user_id: String,
    /// SHA-256 of the secret; the secret itself is never stored.
    pub token_hash: String,
}

/// Kinds of change the event log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    MessageCreated,
    MessageUpdated,
    ConversationUpdated,
    /// An inbox's sending was paused or resumed (`data` is a `model::InboxStatus`).
    InboxUpdated,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageCreated => "message.created",
            Self::MessageUpdated => "message.updated",
            Self::ConversationUpdated => "conversation.updated",
            Self::InboxUpdated => "inbox.updated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "message.created" => Some(Self::MessageCreated),
            "message.updated" => Some(Self::MessageUpdated),
            "conversation.updated" => Some(Self::ConversationUpdated),
            "inbox.updated" => Some(Self::InboxUpdated),
            _ => None,
        }
    }
}

/// The settings key that turns "a reply assigns an unassigned conversation to whoever
/// sent it" off for an inbox (it is on unless this says `off`).
pub fn assign_on_reply_key(inbox_id: &str) -> String {
    format!("assign_on_reply:{inbox_id}")
}

/// The settings key holding why an inbox's sending is paused.
pub fn pause_key(inbox_id: &str) -> String {
    format!("sending_paused:{inbox_id}")
}

/// One committed entry of the event log. `data` is the JSON of the whole object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: i64,
    pub inbox_id: String,
    pub kind: EventKind,
    pub data: String,
}

impl Event {
    /// The `/ws` frame for this event. `data` is already JSON, so it goes in as it is;
    /// stored data that is not JSON (never written so) goes as `null` rather than as a
    /// frame no client could read.
    pub fn frame_json(&self) -> String {
        let data = serde_json::from_str::<&RawValue>(&self.data).unwrap_or(RawValue::NULL);
        EventFrame {
            prev: None,
            seq: self.seq,
            kind: self.kind.as_str(),
            data,
        }
        .to_json()
    }
}

/// The retained part of the event log: events `floor+1 ..= head` can be replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventBounds {
    pub floor: i64,
    pub head: i64,
}

/// Who a message is from or to, as the webhook names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactKey {
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
    pub name: Option<String>,
}

/// A customer message from a webhook.
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub inbox_id: String,
    pub wamid: String,
    pub contact: ContactKey,
    pub kind: MessageKind,
    pub text: Option<String>,
    /// Meta's timestamp, Unix seconds.
    pub timestamp: i64,
    pub reply_to: Option<String>,
    /// `reply_to` names a message not stored (yet): the store remembers that this one
    /// waits for it, so its arrival comes back `awaited`.
    pub awaits_target: bool,
    pub details: Details,
    /// The message object exactly as received, for types we do not render yet.
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InboundOutcome {
    /// The message and its conversation as it stood once the message was in it;
    /// `awaited`: a message stored before it names it as its target (a reply or a
    /// reaction that came first), so the caller resolves what waits for it.
    Created {
        message: Box<Message>,
        conversation: Box<Conversation>,
        awaited: bool,
    },
    /// Already stored (Meta retry or a second subscribed app); nothing changed.
    Duplicate,
}

/// A delivery receipt from a webhook.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub inbox_id: String,
    pub wamid: String,
    /// Meta's status string, kept even when unknown.
    pub status: String,
    pub timestamp: i64,
    pub error: Option<ErrorInfo>,
    /// `biz_opaque_callback_data`: our message id, echoed back.
    pub callback_data: Option<String>,
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StatusOutcome {
    /// The message changed (or was confirmed) by this receipt.
    Applied(Box<Message>),
    /// The receipt was stored but the message already showed as much or more.
    Unchanged,
    /// The same receipt was seen before.
    Duplicate,
    /// No message with this wamid yet: kept and applied once the send response arrives.
    Parked,
    /// A status string we do not know; kept raw for audit, nothing shown.
    Unrecognised,
}

/// An agent's outgoing message before it is handed to Meta, or a private note.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    pub conversation_id: String,
    /// `Out`, or `Note` for a note: stored and shown, never sent, and it moves neither
    /// the 24-hour window nor the list's last message.
    pub direction: Direction,
    pub sent_by: Option<UserRef>,
    pub client_id: String,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub reply_to: Option<String>,
    pub details: Details,
}

/// A change to a message's `text` and `details` (nothing else is kept). It returns whether
/// it changed anything, and may run more than once if the message changes meanwhile.
pub type MessageEdit = Arc<dyn Fn(&mut Message) -> bool + Send + Sync>;

/// Background work that must survive a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Fetch an inbound message's media from Meta.
    Media,
    /// Hand an outbound message to Meta (again).
    Send,
    /// Open a snoozed conversation when its snooze ends (`key` is the conversation id).
    Wake,
    /// Deliver a subscription's pending events (`key` is the subscription id).
    Webhook,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Media => "media",
            Self::Send => "send",
            Self::Wake => "wake",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "media" => Some(Self::Media),
            "send" => Some(Self::Send),
            "wake" => Some(Self::Wake),
            "webhook" => Some(Self::Webhook),
            _ => None,
        }
    }
}

/// One scheduled job: `key` is the message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub kind: JobKind,
    pub key: String,
    /// Unix milliseconds.
    pub due_at: i64,
    /// Attempts made so far.
    pub attempts: i64,
    /// Claims since it was last scheduled: more than one means runs that ended in an
    /// error (or an instance that died holding it), so the next run backs off.
    pub claims: i64,
}

impl Job {
    pub fn new(kind: JobKind, key: impl Into<String>, due_at: i64, attempts: i64) -> Self {
        Self {
            kind,
            key: key.into(),
            due_at,
            attempts,
            claims: 0,
        }
    }
}

/// A raw webhook body, kept before processing so a crash cannot lose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWebhook {
    pub id: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookState {
    /// First time this body was seen.
    New,
    /// Seen before but not finished (a concurrent delivery, or a crash mid-way).
    Pending,
    /// Seen and fully processed before.
    Done,
}
