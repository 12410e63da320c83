//! Who of the team is here, and who is writing in a conversation: frames that are not
//! stored and carry no `seq`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceStatus {
    /// A tab of theirs is open and in use.
    Online,
    /// Their tabs are open but hidden or idle.
    Away,
    /// No tab open.
    Offline,
}

impl PresenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }
}

/// `presence.updated` data, and one entry of `list_presence`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub user_id: String,
    pub name: String,
    pub status: PresenceStatus,
}

/// `list_presence` answer: the teammates who share an inbox with the caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamPresence {
    pub users: Vec<Presence>,
}

/// `agent.typing` data: a teammate is writing a reply or note in this conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTyping {
    pub conversation_id: String,
    pub user_id: String,
    pub name: String,
}
