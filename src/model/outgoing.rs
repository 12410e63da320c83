//! What an agent sends: the shapes `send_outgoing` takes.

use serde::{Deserialize, Serialize};

use super::status::MessageKind;
use super::template::TemplateSpec;

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

/// A reply button or a list row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
}
