//! The words every other model file uses: which way a message went, its kind, its
//! delivery status, and Meta's error.

use serde::{Deserialize, Serialize};

/// Which way a message travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
    /// A private note: written by an agent for the team, never sent to WhatsApp.
    Note,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
            Self::Note => "note",
        }
    }

    /// Reads a stored direction; anything unknown is inbound, the kind that is never sent.
    pub fn parse(s: &str) -> Self {
        match s {
            "out" => Self::Out,
            "note" => Self::Note,
            _ => Self::In,
        }
    }
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
    /// A private note among agents.
    Note,
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
            "note" => Self::Note,
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
            Self::Note => "note",
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
            Self::Note => "Note",
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
