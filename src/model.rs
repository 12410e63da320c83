//! The inbox's domain objects as they cross the wire: server functions return them and
//! WebSocket events carry them. They compile for both the server and the browser, so they
//! hold plain strings and integers, never database types.

use serde::{Deserialize, Serialize};

/// Which way a message travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

/// What a message carries. Unknown kinds from a newer server read as `Unsupported`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    Image,
    Video,
    Audio,
    Document,
    Sticker,
    Location,
    Contacts,
    Interactive,
    Button,
    Reaction,
    Order,
    System,
    /// An approved template we sent (the only kind allowed outside the 24-hour window).
    Template,
    #[serde(other)]
    Unsupported,
}

impl MessageKind {
    /// Maps Meta's `type` string. Anything we do not know becomes `Unsupported`; the raw
    /// payload is kept by the store so nothing is lost.
    pub fn from_wire(kind: &str) -> Self {
        match kind {
            "text" => Self::Text,
            "image" => Self::Image,
            "video" => Self::Video,
            "audio" => Self::Audio,
            "document" => Self::Document,
            "sticker" => Self::Sticker,
            "location" => Self::Location,
            "contacts" => Self::Contacts,
            "interactive" => Self::Interactive,
            "button" => Self::Button,
            "reaction" => Self::Reaction,
            "order" => Self::Order,
            "system" => Self::System,
            "template" => Self::Template,
            _ => Self::Unsupported,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
            Self::Location => "location",
            Self::Contacts => "contacts",
            Self::Interactive => "interactive",
            Self::Button => "button",
            Self::Reaction => "reaction",
            Self::Order => "order",
            Self::System => "system",
            Self::Template => "template",
            Self::Unsupported => "unsupported",
        }
    }

    /// The text shown where a message has no body of its own.
    pub fn placeholder(self) -> &'static str {
        match self {
            Self::Text => "",
            Self::Image => "📷 Photo",
            Self::Video => "🎬 Video",
            Self::Audio => "🎤 Audio",
            Self::Document => "📄 Document",
            Self::Sticker => "Sticker",
            Self::Location => "📍 Location",
            Self::Contacts => "👤 Contact card",
            Self::Interactive => "Interactive reply",
            Self::Button => "Button reply",
            Self::Reaction => "Reaction",
            Self::Order => "🛒 Order",
            Self::System => "System notice",
            Self::Template => "📋 Template",
            Self::Unsupported => "Unsupported message",
        }
    }
}

/// Delivery state of a message. Outbound messages move forward only:
/// pending → sent → delivered → read (→ played). Inbound messages are `received`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Received,
    Pending,
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
}

impl MessageStatus {
    /// Rank of a positive delivery state; `failed` and `received` sit outside the ladder.
    pub fn rank(self) -> i64 {
        match self {
            Self::Received | Self::Pending | Self::Failed => 0,
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Played => 4,
        }
    }

    /// The status an outbound message displays, given the highest positive rank seen and
    /// whether a failure was reported. A failure shows only while nothing proves delivery,
    /// so a late `sent` cannot hide it and a late `failed` cannot hide a `read`.
    pub fn displayed(rank: i64, failed: bool) -> Self {
        if failed && rank < Self::Delivered.rank() {
            return Self::Failed;
        }
        match rank {
            r if r >= 4 => Self::Played,
            3 => Self::Read,
            2 => Self::Delivered,
            1 => Self::Sent,
            _ => Self::Pending,
        }
    }

    /// Parses one of Meta's status strings. Unknown strings (`warning`, future values)
    /// return `None`; the caller keeps them raw.
    pub fn from_wire(status: &str) -> Option<Self> {
        match status {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "played" => Some(Self::Played),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed => "failed",
        }
    }
}

/// What an agent sends. Text goes through `send_message`; everything goes through
/// `send_outgoing`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outgoing {
    Text {
        body: String,
        /// Our id of the message this replies to.
        #[serde(default)]
        reply_to: Option<String>,
    },
    /// Media Meta fetches from a public HTTPS link.
    Media {
        kind: MessageKind,
        link: String,
        #[serde(default)]
        caption: Option<String>,
        #[serde(default)]
        filename: Option<String>,
    },
    /// A file the agent uploaded (`POST /uploads`); the app uploads it to Meta.
    Upload {
        upload: String,
        #[serde(default)]
        caption: Option<String>,
        /// Our id of the message this replies to.
        #[serde(default)]
        reply_to: Option<String>,
    },
    /// Our id of the message reacted to; no emoji removes our reaction.
    Reaction {
        message_id: String,
        #[serde(default)]
        emoji: Option<String>,
    },
    Template(TemplateSpec),
    Interactive(InteractiveSpec),
}

/// An agent's upload, kept until a send claims it (`POST /uploads` answers this).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadInfo {
    pub upload: String,
    pub kind: MessageKind,
    pub mime_type: String,
    #[serde(default)]
    pub filename: Option<String>,
    pub size: i64,
}

/// An approved template and the values it is sent with: its body's, its header's and its
/// buttons'.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateSpec {
    pub name: String,
    /// e.g. `en_US`, `pt_BR`.
    pub language: String,
    #[serde(default)]
    pub params: Vec<String>,
    /// For a template with named variables: the name of each value in `params`. Filled
    /// in from the approved template when the caller leaves it out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_names: Vec<String>,
    /// The header's value, for a template whose header takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<TemplateHeader>,
    /// Values for the buttons that take one (a link's ending, a coupon code, a one-time
    /// password) or a quick reply's payload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<TemplateButton>,
    /// When a limited-time offer ends (Unix milliseconds), for a template whose offer
    /// shows a countdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_expires_at_ms: Option<i64>,
    /// A carousel's cards, in the template's order: every card it has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<TemplateCard>,
}

/// The values of one card of a carousel template: its header file, its body's values and
/// its buttons'.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateCard {
    /// An image or a video, by a public link (every card of a template has the same kind).
    pub header: TemplateHeader,
    #[serde(default)]
    pub params: Vec<String>,
    /// The name of each value, for a card with named variables; filled in from the
    /// approved template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<TemplateButton>,
    /// The card's text as the customer reads it, filled in from the approved template
    /// (absent when the send could not be checked against it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// What fills a template's header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TemplateHeader {
    /// The value of a text header's variable.
    Text {
        text: String,
        /// The variable's name, for a template with named variables.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    Image(HeaderMedia),
    Video(HeaderMedia),
    Document(HeaderMedia),
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        address: Option<String>,
    },
}

impl TemplateHeader {
    /// The media kind of a media header.
    pub fn media(&self) -> Option<(MessageKind, &HeaderMedia)> {
        match self {
            Self::Image(m) => Some((MessageKind::Image, m)),
            Self::Video(m) => Some((MessageKind::Video, m)),
            Self::Document(m) => Some((MessageKind::Document, m)),
            Self::Text { .. } | Self::Location { .. } => None,
        }
    }

    /// Meta's name for the header's format: `TEXT`, `IMAGE`, …
    pub fn format(&self) -> &'static str {
        match self {
            Self::Text { .. } => "TEXT",
            Self::Image(_) => "IMAGE",
            Self::Video(_) => "VIDEO",
            Self::Document(_) => "DOCUMENT",
            Self::Location { .. } => "LOCATION",
        }
    }
}

/// A media header's file: a public link WhatsApp fetches, or an agent's upload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderMedia {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// An id from `POST /uploads`; the app uploads the file to WhatsApp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
    /// A document's file name, as the customer sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// A value for one of a template's buttons, by its position (from 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateButton {
    pub index: u8,
    pub sub_type: ButtonValueKind,
    pub value: String,
}

/// What a button's value is, in Meta's `sub_type` words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonValueKind {
    /// The variable ending of a link button, or an authentication template's code.
    Url,
    /// What the webhook carries back when the customer taps a quick reply.
    QuickReply,
    /// A coupon code the customer can copy.
    CopyCode,
}

impl ButtonValueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::QuickReply => "quick_reply",
            Self::CopyCode => "copy_code",
        }
    }
}

/// Our interactive message: reply buttons (no `button`), or a list behind a button.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractiveSpec {
    #[serde(default)]
    pub header: Option<String>,
    pub body: String,
    #[serde(default)]
    pub footer: Option<String>,
    /// The list's button label; `None` for reply buttons.
    #[serde(default)]
    pub button: Option<String>,
    pub options: Vec<ChoiceOption>,
}

impl Outgoing {
    /// Only templates may be sent outside the 24-hour customer service window.
    pub fn needs_open_window(&self) -> bool {
        !matches!(self, Self::Template(_))
    }
}

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

/// A delivery error as Meta reports it, plus what the agent should do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub code: i64,
    pub title: String,
    #[serde(default)]
    pub detail: Option<String>,
}

impl ErrorInfo {
    /// What the agent should do next, in plain words, for the codes an agent can act on.
    pub fn advice(&self) -> Option<&'static str> {
        Some(match self.code {
            131047 => {
                "More than 24 hours have passed since the customer last wrote. Send an approved template; they can reply to it."
            }
            131026 => {
                "WhatsApp could not deliver this: the number may not use WhatsApp, or the app is out of date."
            }
            131049 | 131050 => {
                "WhatsApp held this marketing message for this customer. Do not resend it for now."
            }
            131053 => {
                "WhatsApp could not process the attachment. Check its size and type, then retry."
            }
            131056 | 130429 | 131048 => {
                "Too many messages in a short time. Wait a moment and retry."
            }
            0 | 190 => "The WhatsApp access token is invalid or expired. An admin must replace it.",
            132000 | 132001 | 132005 | 132007 | 132012 | 132015 | 132016 => {
                "The template was refused. Check its name, language and parameters."
            }
            131008 | 131009 => "A value is missing or not valid. Check what you filled in.",
            131021 => "You cannot message your own business number.",
            131030 => "This number is not in the test number's allowed list.",
            131051 => "WhatsApp does not support this message type.",
            131062 => "This customer can only be reached by phone number for this message type.",
            368 | 131031 | 131042 => {
                "The WhatsApp account is restricted. An admin must check WhatsApp Manager."
            }
            _ => return None,
        })
    }
}

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
}

impl Message {
    /// The text a list shows for this message.
    pub fn preview(&self) -> String {
        if self.details.deleted {
            return "🚫 Message deleted".to_string();
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
}

/// What a message carries beyond its text. Every part is optional, so an older or newer
/// copy of this struct still reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Details {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    /// One slot per side (customer, agent); an emptied slot keeps its time so an older
    /// reaction arriving late cannot bring it back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub forwarded: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub frequently_forwarded: bool,
    /// The customer edited the message; `text` holds the latest version.
    #[serde(default, skip_serializing_if = "is_false")]
    pub edited: bool,
    /// The customer deleted the message for everyone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// The Click-to-WhatsApp ad or post the customer came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<Referral>,
    /// What the replied-to message said, once it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<Quote>,
    /// Outbound: why the message is still waiting (a retry is scheduled, sending is paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// Outbound: how many times an agent asked to send it again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: i64,
    /// Outbound: the attempts an agent's retry replaced, with what their late receipts
    /// said (the newest last).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_attempts: Vec<EarlierAttempt>,
}

/// How many replaced attempts a message remembers.
pub const MAX_EARLIER_ATTEMPTS: usize = 20;

/// An attempt an agent's retry replaced, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlierAttempt {
    pub attempt: i64,
    /// Meta's id for it, if Meta accepted it.
    #[serde(default)]
    pub wamid: Option<String>,
    pub status: MessageStatus,
    #[serde(default)]
    pub error: Option<ErrorInfo>,
}

impl Details {
    /// Applies a receipt that arrived for an earlier attempt, by the same rule as a
    /// message's own receipts: the highest step wins, and a failure shows only while
    /// nothing proves delivery. Returns whether anything changed.
    pub fn note_earlier_receipt(
        &mut self,
        attempt: i64,
        wamid: &str,
        status: MessageStatus,
        error: Option<ErrorInfo>,
    ) -> bool {
        let Some(a) = self
            .earlier_attempts
            .iter_mut()
            .find(|a| a.attempt == attempt)
        else {
            return false;
        };
        if a.wamid.as_deref().is_some_and(|w| w != wamid) {
            return false;
        }
        let failed = a.status == MessageStatus::Failed || status == MessageStatus::Failed;
        let shown = MessageStatus::displayed(a.status.rank().max(status.rank()), failed);
        let before = a.clone();
        a.wamid = Some(wamid.to_string());
        a.status = shown;
        if status == MessageStatus::Failed && a.error.is_none() {
            a.error = error;
        }
        *a != before
    }

    /// An earlier attempt that reached the customer: they may have the message twice.
    pub fn earlier_attempt_delivered(&self) -> Option<&EarlierAttempt> {
        self.earlier_attempts
            .iter()
            .find(|a| a.status.rank() >= MessageStatus::Delivered.rank())
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Type-specific content, for the types that are more than a body or a caption.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        address: Option<String>,
        #[serde(default)]
        url: Option<String>,
    },
    Contacts {
        cards: Vec<ContactCard>,
    },
    /// The customer tapped one of our buttons or list rows, or finished a Flow.
    Choice {
        /// `button_reply`, `list_reply`, `nfm_reply` or `button` (a template quick reply).
        via: String,
        #[serde(default)]
        id: Option<String>,
        title: String,
        #[serde(default)]
        description: Option<String>,
        /// A Flow's answers (`nfm_reply.response_json`), as sent.
        #[serde(default)]
        response: Option<String>,
    },
    Order {
        #[serde(default)]
        catalog_id: Option<String>,
        #[serde(default)]
        note: Option<String>,
        items: Vec<OrderItem>,
    },
    System {
        #[serde(default)]
        kind: Option<String>,
        #[serde(default)]
        new_wa_id: Option<String>,
    },
    Reaction {
        target: String,
        /// `None` removes the sender's reaction.
        #[serde(default)]
        emoji: Option<String>,
    },
    Template(TemplateSpec),
    Interactive(InteractiveSpec),
    /// A type shown as a placeholder; the raw payload is kept by the store.
    Unsupported {
        wire_type: String,
        #[serde(default)]
        reason: Option<String>,
    },
    /// A content type from a newer server.
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactCard {
    pub name: String,
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub org: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub sku: String,
    pub quantity: i64,
    #[serde(default)]
    pub price: Option<f64>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// A reply button or a list row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A media attachment and where fetching it stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// Meta's media id (inbound, or an upload of ours).
    #[serde(default)]
    pub media_id: Option<String>,
    /// A public link Meta fetches (outbound by link).
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    /// Base64 SHA-256 as Meta states it.
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub size: Option<i64>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub voice: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub animated: bool,
    pub state: MediaState,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: i64,
    #[serde(default)]
    pub error: Option<String>,
}

/// pending → stored, or failed (retried) → stored, or unavailable (for good).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaState {
    #[default]
    Pending,
    Stored,
    Failed,
    Unavailable,
}

impl MediaState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Stored => "stored",
            Self::Failed => "failed",
            Self::Unavailable => "unavailable",
        }
    }
}

/// One side's reaction to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// `in`: the customer; `out`: an agent.
    pub by: Direction,
    /// Empty when removed.
    pub emoji: String,
    /// Unix seconds of the reaction; a later one replaces an earlier one.
    pub at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    #[serde(default)]
    pub headline: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub source_url: Option<String>,
    #[serde(default)]
    pub source_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub direction: Direction,
    pub text: String,
}

impl Quote {
    /// How a reply shows the message it answers.
    pub fn of(m: &Message) -> Self {
        Self {
            direction: m.direction,
            text: m.preview().chars().take(200).collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub reason: String,
    /// Unix milliseconds of the next attempt, when one is scheduled.
    #[serde(default)]
    pub retry_at: Option<i64>,
}

impl Details {
    /// Sets `by`'s reaction unless a newer one is already there. Returns whether it changed.
    pub fn react(&mut self, by: Direction, emoji: Option<&str>, at: i64) -> bool {
        let emoji = emoji.unwrap_or("").to_string();
        match self.reactions.iter_mut().find(|r| r.by == by) {
            Some(r) if r.at > at || (r.at == at && r.emoji == emoji) => false,
            Some(r) => {
                r.emoji = emoji;
                r.at = at;
                true
            }
            None => {
                self.reactions.push(Reaction { by, emoji, at });
                true
            }
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub next: Option<String>,
}

/// `list_conversations` answer. `seq` is the event log head read *before* the list, so a
/// socket opened with `since=seq` misses nothing that happened after the snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationList {
    pub conversations: Vec<Conversation>,
    pub seq: i64,
}

/// What the page needs to know about how the server runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub simulator: bool,
    /// Demo customers the simulator can write as (empty outside simulator mode).
    pub demo_customers: Vec<DemoCustomer>,
    /// Inboxes the viewer may use, for the simulator's "to" picker and the admin pages.
    pub inboxes: Vec<InboxInfo>,
}

/// What an agent may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages agents, inboxes and API tokens, and sees every inbox.
    Admin,
    /// Works the inboxes they are a member of.
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "agent" => Some(Self::Agent),
            _ => None,
        }
    }
}

/// A person (or an integration's identity) who signs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// The signed-in viewer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user: User,
    /// Ids of the inboxes they may see (all of them for admins).
    pub inbox_ids: Vec<String>,
}

/// An inbox as agents and admins see it: never its credentials, only whether it has them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxInfo {
    pub id: String,
    pub phone_number_id: String,
    pub display_phone_number: Option<String>,
    pub name: Option<String>,
    /// Whether the inbox has its own access token / app secret / verify token, rather
    /// than using the ones from the server's environment.
    pub own_credentials: bool,
    pub member_ids: Vec<String>,
    /// Why sending from this inbox is paused (WhatsApp rejected its access token).
    #[serde(default)]
    pub sending_paused: Option<String>,
}

/// Whether an inbox can send, as `inbox.updated` frames announce it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxStatus {
    pub id: String,
    /// Why sending is paused; `None` once it is resumed.
    #[serde(default)]
    pub sending_paused: Option<String>,
}

/// An API token as listed: the secret itself is shown once, at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenInfo {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

/// A newly created API token, with its secret (shown once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiTokenSecret {
    pub token: ApiTokenInfo,
    pub secret: String,
}

/// What the sign-in page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInInfo {
    /// Demo credentials, in simulator mode only, while the demo password is unchanged.
    pub demo: Option<DemoLogin>,
    /// No account exists yet: tell the operator how to create one.
    pub no_accounts: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoLogin {
    pub email: String,
    pub password: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoCustomer {
    pub wa_id: String,
    pub name: String,
}

/// A frame on `/ws`. Event frames carry the whole current object, so applying one twice
/// changes nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Frame {
    #[serde(rename = "message.created")]
    MessageCreated {
        seq: i64,
        #[serde(default)]
        prev: Option<i64>,
        data: Message,
    },
    #[serde(rename = "message.updated")]
    MessageUpdated {
        seq: i64,
        #[serde(default)]
        prev: Option<i64>,
        data: Message,
    },
    #[serde(rename = "conversation.updated")]
    ConversationUpdated {
        seq: i64,
        #[serde(default)]
        prev: Option<i64>,
        data: Conversation,
    },
    /// Sending from an inbox was paused or resumed.
    #[serde(rename = "inbox.updated")]
    InboxUpdated {
        seq: i64,
        #[serde(default)]
        prev: Option<i64>,
        data: InboxStatus,
    },
    /// Replay is over; live events follow.
    #[serde(rename = "ready")]
    Ready { seq: i64 },
    /// The requested `since` is outside the retained log: reload, then continue live.
    #[serde(rename = "resync")]
    Resync { seq: i64 },
    /// A frame type this build does not know; ignored rather than treated as an error.
    #[serde(other)]
    Unknown,
}

impl Frame {
    /// The event's sequence number, for frames that are events.
    pub fn event_seq(&self) -> Option<i64> {
        match self {
            Self::MessageCreated { seq, .. }
            | Self::MessageUpdated { seq, .. }
            | Self::ConversationUpdated { seq, .. }
            | Self::InboxUpdated { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// The seq of the frame this socket sent before this one. Events of inboxes the
    /// viewer may not see are left out, so seqs skip; `prev` is what must chain.
    pub fn prev(&self) -> Option<i64> {
        match self {
            Self::MessageCreated { prev, .. }
            | Self::MessageUpdated { prev, .. }
            | Self::ConversationUpdated { prev, .. }
            | Self::InboxUpdated { prev, .. } => *prev,
            _ => None,
        }
    }

    /// Whether this event follows directly on `last`, the seq last applied.
    pub fn follows(&self, last: i64) -> bool {
        match (self.prev(), self.event_seq()) {
            (Some(prev), _) => prev == last,
            (None, Some(seq)) => seq == last + 1,
            (None, None) => true,
        }
    }
}

/// WebSocket close code for a client that fell too far behind; it should resume with
/// `since` at once.
pub const CLOSE_TOO_SLOW: u16 = 4008;

/// WebSocket close code when the session or token behind a socket is no longer valid.
pub const CLOSE_SIGNED_OUT: u16 = 4001;

/// Unread counts stop at this (the list shows "999+"), which keeps counting cheap however
/// long a conversation has been ignored.
pub const UNREAD_CAP: i64 = 1000;

/// Longest text body Meta accepts.
pub const MAX_TEXT_LEN: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_receipt_for_a_replaced_attempt_follows_the_same_rules_as_any_receipt() {
        let failure = ErrorInfo {
            code: 131026,
            title: "Message undeliverable".into(),
            detail: None,
        };
        let mut d = Details {
            earlier_attempts: vec![EarlierAttempt {
                attempt: 0,
                wamid: Some("wamid.A".into()),
                status: MessageStatus::Failed,
                error: Some(failure.clone()),
            }],
            ..Details::default()
        };
        assert!(
            !d.note_earlier_receipt(1, "wamid.A", MessageStatus::Read, None),
            "no such attempt"
        );
        assert!(
            !d.note_earlier_receipt(0, "wamid.B", MessageStatus::Read, None),
            "another wamid"
        );
        assert!(
            !d.note_earlier_receipt(0, "wamid.A", MessageStatus::Sent, None),
            "sent does not hide a failure"
        );
        assert!(d.earlier_attempt_delivered().is_none());
        assert!(d.note_earlier_receipt(0, "wamid.A", MessageStatus::Delivered, None));
        assert_eq!(
            d.earlier_attempt_delivered().map(|a| a.status),
            Some(MessageStatus::Delivered)
        );
        assert!(
            !d.note_earlier_receipt(0, "wamid.A", MessageStatus::Failed, None),
            "nor a failure delivery"
        );
        assert_eq!(
            d.earlier_attempts[0].error,
            Some(failure),
            "the original reason stays"
        );
    }

    #[test]
    fn displayed_status_keeps_failure_until_delivery_is_proven() {
        assert_eq!(MessageStatus::displayed(0, true), MessageStatus::Failed);
        assert_eq!(MessageStatus::displayed(1, true), MessageStatus::Failed);
        assert_eq!(MessageStatus::displayed(2, true), MessageStatus::Delivered);
        assert_eq!(MessageStatus::displayed(3, false), MessageStatus::Read);
        assert_eq!(MessageStatus::displayed(0, false), MessageStatus::Pending);
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            timestamp: 1_763_800_200,
            seq: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("nope"), None);
        assert_eq!(Cursor::decode("1.x"), None);
    }

    #[test]
    fn unknown_frame_types_are_ignored_not_errors() {
        let f: Frame = serde_json::from_str(r#"{"type":"presence.changed","seq":3}"#).unwrap();
        assert_eq!(f, Frame::Unknown);
        let f: Frame = serde_json::from_str(r#"{"type":"ready","seq":9}"#).unwrap();
        assert_eq!(f, Frame::Ready { seq: 9 });
    }

    #[test]
    fn unknown_kinds_map_to_unsupported() {
        assert_eq!(MessageKind::from_wire("hologram"), MessageKind::Unsupported);
        let k: MessageKind = serde_json::from_str(r#""hologram""#).unwrap();
        assert_eq!(k, MessageKind::Unsupported);
    }
}
