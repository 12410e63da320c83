//! The inbox's domain objects as they cross the wire: server functions return them and
//! WebSocket events carry them. They compile for both the server and the browser, so they
//! hold plain strings and integers, never database types.
//!
//! One file per concept; everything is re-exported here, so callers name `model::X`.

mod account;
mod audit;
mod canned;
mod content;
mod conversation;
mod exchange;
mod frame;
mod message;
mod notify;
mod outgoing;
mod presence;
mod search;
mod status;
mod template;
mod webhook;

pub use account::*;
pub use audit::*;
pub use canned::*;
pub use content::*;
pub use conversation::*;
pub use exchange::*;
pub use frame::*;
pub use message::*;
pub use notify::*;
pub use outgoing::*;
pub use presence::*;
pub use search::*;
pub use status::*;
pub use template::*;
pub use webhook::*;

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
