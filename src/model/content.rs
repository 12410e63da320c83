//! What a message carries beyond its text: typed content, media, reactions, quotes, and
//! an outbound message's waiting note and earlier attempts.

use serde::{Deserialize, Serialize};

use super::outgoing::InteractiveSpec;
use super::status::{Direction, ErrorInfo, MessageStatus};
use super::template::TemplateSpec;

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
    /// A note's `@mentions`: teammates who can see the inbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<super::account::UserRef>,
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub reason: String,
    /// Unix milliseconds of the next attempt, when one is scheduled.
    #[serde(default)]
    pub retry_at: Option<i64>,
}
