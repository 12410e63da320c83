//! Frames on `/ws`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::account::InboxStatus;
use super::conversation::Conversation;
use super::message::Message;
use super::presence::{AgentTyping, Presence};

/// An event frame as the server writes it: `data` is the event's stored JSON, passed
/// through as it is rather than parsed into its type and encoded again. `prev` names the
/// seq of the frame this socket sent before, when that is not `seq - 1`.
#[derive(Debug, Serialize, Deserialize)]
pub struct EventFrame<'a> {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prev: Option<i64>,
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(borrow)]
    pub data: &'a RawValue,
}

impl EventFrame<'_> {
    pub fn to_json(&self) -> String {
        // Fields of plain types and JSON already checked: this cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A frame without data (`ready`, `resync`), as the server writes it.
#[derive(Debug, Serialize)]
pub struct ControlFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub seq: i64,
}

impl ControlFrame<'_> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
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
    /// A teammate came online, went away or left. Not an event: no `seq`, never replayed.
    #[serde(rename = "presence.updated")]
    PresenceUpdated { data: Presence },
    /// A teammate is writing in a conversation. Not an event: no `seq`, never replayed.
    #[serde(rename = "agent.typing")]
    AgentTyping { data: AgentTyping },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_frame_passes_its_data_through_and_names_prev_only_when_given() {
        let data = RawValue::from_string(r#"{"id":"m1","text":"a \"quoted\" ✓"}"#.into()).unwrap();
        let mut frame = EventFrame {
            prev: None,
            seq: 7,
            kind: "message.updated",
            data: &data,
        };
        let plain = frame.to_json();
        assert_eq!(
            plain,
            r#"{"seq":7,"type":"message.updated","data":{"id":"m1","text":"a \"quoted\" ✓"}}"#
        );
        let mut read: EventFrame = serde_json::from_str(&plain).unwrap();
        read.prev = Some(4);
        assert!(read.to_json().starts_with(r#"{"prev":4,"seq":7,"#));
        frame.prev = Some(4);
        assert_eq!(frame.to_json(), read.to_json());
        assert_eq!(
            ControlFrame {
                kind: "ready",
                seq: 9
            }
            .to_json(),
            r#"{"type":"ready","seq":9}"#
        );
    }
}
