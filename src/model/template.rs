//! The values an approved template is sent with: body, header, buttons and carousel cards.

use serde::{Deserialize, Serialize};

use super::status::MessageKind;

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
