//! What an inbound message means: Meta's per-type object read into the inbox's model.
//!
//! Every reader here is lenient. A field of the wrong shape is skipped, never an error,
//! and a type this build does not know becomes a placeholder with its raw payload kept.

use serde_json::Value;

use crate::model::{
    ContactCard, Content, Details, Media, MediaState, MessageKind, OrderItem, Referral,
};
use crate::whatsapp::wire::{self, InboundMessage};

/// What to do with one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A message to store.
    New(Parsed),
    /// The customer edited an earlier message; `replacement` is its new content.
    Edit {
        original: String,
        replacement: Parsed,
    },
    /// The customer deleted an earlier message for everyone.
    Revoke { original: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub kind: MessageKind,
    pub text: Option<String>,
    pub details: Details,
}

pub fn read(m: &InboundMessage) -> Inbound {
    match m.kind.as_str() {
        "edit" => {
            let edit = m.raw.get("edit");
            let original = edit.and_then(|e| str_at(e, &["original_message_id"]));
            let inner = edit.and_then(|e| e.get("message"));
            match (original, inner) {
                (Some(original), Some(inner)) => {
                    let kind = str_at(inner, &["type"]).unwrap_or_else(|| "unknown".into());
                    let mut replacement = read_typed(&kind, inner);
                    replacement.details.edited = true;
                    Inbound::Edit {
                        original,
                        replacement,
                    }
                }
                _ => Inbound::New(unsupported("edit", Some("an edit without its original"))),
            }
        }
        "revoke" => match m
            .raw
            .get("revoke")
            .and_then(|r| str_at(r, &["original_message_id"]))
        {
            Some(original) => Inbound::Revoke { original },
            None => Inbound::New(unsupported(
                "revoke",
                Some("a deletion without its original"),
            )),
        },
        kind => {
            let mut parsed = read_typed(kind, &m.raw);
            add_envelope(&mut parsed.details, &m.raw);
            Inbound::New(parsed)
        }
    }
}

/// Reads the type-specific object of `obj` (a message, or an edit's inner message).
fn read_typed(kind: &str, obj: &Value) -> Parsed {
    let body = obj.get(kind).unwrap_or(&Value::Null);
    let s = |path: &[&str]| str_at(body, path);
    let plain = |kind: MessageKind, text: Option<String>, content: Option<Content>| Parsed {
        kind,
        text,
        details: Details {
            content,
            ..Details::default()
        },
    };
    match kind {
        "text" => plain(MessageKind::Text, s(&["body"]), None),
        "image" | "video" | "audio" | "document" | "sticker" => {
            let mut media = Media {
                media_id: s(&["id"]),
                link: s(&["link"]),
                mime_type: s(&["mime_type"]),
                filename: s(&["filename"]),
                sha256: s(&["sha256"]),
                size: int_at(body, &["file_size"]),
                voice: body.get("voice").and_then(Value::as_bool).unwrap_or(false),
                animated: body
                    .get("animated")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                state: MediaState::Pending,
                attempts: 0,
                error: None,
            };
            // Meta could not fetch what the customer sent (131052): nothing to download.
            if let Some(e) = first_error(obj) {
                media.state = MediaState::Unavailable;
                media.error = Some(e);
            } else if media.media_id.is_none() {
                media.state = MediaState::Unavailable;
                media.error = Some("WhatsApp sent no media id".into());
            }
            Parsed {
                kind: MessageKind::from_wire(kind),
                text: s(&["caption"]),
                details: Details {
                    media: Some(media),
                    ..Details::default()
                },
            }
        }
        "location" => {
            let lat = float_at(body, "latitude");
            let long = float_at(body, "longitude");
            match (lat, long) {
                (Some(latitude), Some(longitude)) => plain(
                    MessageKind::Location,
                    s(&["name"]).or_else(|| s(&["address"])),
                    Some(Content::Location {
                        latitude,
                        longitude,
                        name: s(&["name"]),
                        address: s(&["address"]),
                        url: s(&["url"]),
                    }),
                ),
                _ => unsupported("location", Some("a location without coordinates")),
            }
        }
        "contacts" => {
            let cards: Vec<ContactCard> = obj
                .get("contacts")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(contact_card).collect())
                .unwrap_or_default();
            let text = match cards.as_slice() {
                [] => None,
                [one] => Some(one.name.clone()),
                [first, rest @ ..] => Some(format!("{} and {} more", first.name, rest.len())),
            };
            plain(
                MessageKind::Contacts,
                text,
                Some(Content::Contacts { cards }),
            )
        }
        "interactive" => {
            let via = s(&["type"]).unwrap_or_else(|| "unknown".into());
            let reply = body.get(&via).unwrap_or(&Value::Null);
            let r = |key: &str| str_at(reply, &[key]);
            let title = match via.as_str() {
                "nfm_reply" => r("body").or_else(|| r("name")),
                _ => r("title"),
            };
            match title {
                Some(title) => plain(
                    MessageKind::Interactive,
                    Some(title.clone()),
                    Some(Content::Choice {
                        id: r("id"),
                        title,
                        description: r("description"),
                        response: r("response_json"),
                        via,
                    }),
                ),
                None => unsupported(&format!("interactive {via}"), None),
            }
        }
        "button" => {
            let title = s(&["text"]).unwrap_or_default();
            plain(
                MessageKind::Button,
                Some(title.clone()),
                Some(Content::Choice {
                    via: "button".into(),
                    id: s(&["payload"]),
                    title,
                    description: None,
                    response: None,
                }),
            )
        }
        "reaction" => match s(&["message_id"]) {
            Some(target) => {
                let emoji = s(&["emoji"]).filter(|e| !e.is_empty());
                plain(
                    MessageKind::Reaction,
                    emoji.clone(),
                    Some(Content::Reaction { target, emoji }),
                )
            }
            None => unsupported("reaction", Some("a reaction without its target")),
        },
        "order" => {
            let items: Vec<OrderItem> = body
                .get("product_items")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|i| OrderItem {
                            sku: str_at(i, &["product_retailer_id"]).unwrap_or_default(),
                            quantity: int_at(i, &["quantity"]).unwrap_or(1),
                            price: float_at(i, "item_price"),
                            currency: str_at(i, &["currency"]),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let note = s(&["text"]).filter(|t| !t.is_empty());
            let count: i64 = items.iter().map(|i| i.quantity).sum();
            plain(
                MessageKind::Order,
                Some(note.clone().unwrap_or_else(|| {
                    format!("Order of {count} item{}", if count == 1 { "" } else { "s" })
                })),
                Some(Content::Order {
                    catalog_id: s(&["catalog_id"]),
                    note,
                    items,
                }),
            )
        }
        "system" => plain(
            MessageKind::System,
            s(&["body"]),
            Some(Content::System {
                kind: s(&["type"]),
                new_wa_id: s(&["wa_id"]),
            }),
        ),
        "request_welcome" => plain(
            MessageKind::System,
            Some("The customer opened the chat".into()),
            Some(Content::System {
                kind: Some("request_welcome".into()),
                new_wa_id: None,
            }),
        ),
        "unsupported" | "unknown" => {
            let wire_type = s(&["type"]).unwrap_or_else(|| kind.to_string());
            unsupported(&wire_type, first_error(obj).as_deref())
        }
        other => unsupported(other, None),
    }
}

/// Parts every type may carry: reply context, forwarding flags, the ad it came from.
fn add_envelope(details: &mut Details, msg: &Value) {
    if let Some(ctx) = msg.get("context") {
        details.forwarded = ctx.get("forwarded").and_then(Value::as_bool) == Some(true);
        details.frequently_forwarded =
            ctx.get("frequently_forwarded").and_then(Value::as_bool) == Some(true);
    }
    if let Some(r) = msg.get("referral") {
        details.referral = Some(Referral {
            headline: str_at(r, &["headline"]),
            body: str_at(r, &["body"]),
            source_url: str_at(r, &["source_url"]),
            source_type: str_at(r, &["source_type"]),
        });
    }
}

fn unsupported(wire_type: &str, reason: Option<&str>) -> Parsed {
    Parsed {
        kind: MessageKind::Unsupported,
        text: None,
        details: Details {
            content: Some(Content::Unsupported {
                wire_type: wire_type.to_string(),
                reason: reason.map(str::to_string),
            }),
            ..Details::default()
        },
    }
}

fn contact_card(c: &Value) -> ContactCard {
    let list = |key: &str, field: &str| -> Vec<String> {
        c.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|p| str_at(p, &[field])).collect())
            .unwrap_or_default()
    };
    let name = str_at(c, &["name", "formatted_name"])
        .or_else(|| {
            let first = str_at(c, &["name", "first_name"]).unwrap_or_default();
            let last = str_at(c, &["name", "last_name"]).unwrap_or_default();
            let full = format!("{first} {last}").trim().to_string();
            (!full.is_empty()).then_some(full)
        })
        .unwrap_or_else(|| "Unnamed contact".into());
    ContactCard {
        name,
        phones: list("phones", "phone"),
        emails: list("emails", "email"),
        org: str_at(c, &["org", "company"]),
    }
}

/// The first of a message's `errors[]`, as "title: details".
fn first_error(msg: &Value) -> Option<String> {
    let e = msg.get("errors")?.as_array()?.first()?;
    let title = str_at(e, &["title"]).or_else(|| str_at(e, &["message"]));
    let details = str_at(e, &["error_data", "details"]);
    match (title, details) {
        (Some(t), Some(d)) if t != d => Some(format!("{t}: {d}")),
        (Some(t), _) => Some(t),
        (None, d) => d,
    }
}

fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str().map(str::to_string)
}

fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    wire::lenient_int(cur)
}

/// Coordinates and prices are JSON numbers from Meta but strings from some tools.
fn float_at(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Content;

    fn msg(json: &str) -> InboundMessage {
        let raw: Value = serde_json::from_str(json).unwrap();
        let mut m: InboundMessage = serde_json::from_value(raw.clone()).unwrap();
        m.raw = raw;
        m
    }

    fn parsed(json: &str) -> Parsed {
        match read(&msg(json)) {
            Inbound::New(p) => p,
            other => panic!("expected a new message, got {other:?}"),
        }
    }

    #[test]
    fn location_accepts_numbers_and_strings() {
        for json in [
            r#"{"id":"w","type":"location","location":{"latitude":37.46,"longitude":-122.21,"name":"HQ"}}"#,
            r#"{"id":"w","type":"location","location":{"latitude":"37.46","longitude":"-122.21","name":"HQ"}}"#,
        ] {
            let p = parsed(json);
            assert_eq!(p.kind, MessageKind::Location);
            let Some(Content::Location {
                latitude,
                longitude,
                ..
            }) = p.details.content
            else {
                panic!()
            };
            assert!((latitude - 37.46).abs() < 1e-9 && (longitude + 122.21).abs() < 1e-9);
        }
    }

    #[test]
    fn reaction_removal_has_no_emoji_either_way() {
        for json in [
            r#"{"id":"r","type":"reaction","reaction":{"message_id":"wamid.T","emoji":""}}"#,
            r#"{"id":"r","type":"reaction","reaction":{"message_id":"wamid.T"}}"#,
        ] {
            assert_eq!(
                parsed(json).details.content,
                Some(Content::Reaction {
                    target: "wamid.T".into(),
                    emoji: None
                })
            );
        }
    }

    #[test]
    fn media_keeps_what_the_download_needs() {
        let p = parsed(
            r#"{"id":"w","type":"audio","audio":{"id":"M1","mime_type":"audio/ogg; codecs=opus","sha256":"abc=","voice":true}}"#,
        );
        let media = p.details.media.unwrap();
        assert_eq!(media.media_id.as_deref(), Some("M1"));
        assert!(media.voice);
        assert_eq!(media.state, MediaState::Pending);
    }

    #[test]
    fn unknown_and_unsupported_become_placeholders() {
        let p = parsed(r#"{"id":"w","type":"hologram","hologram":{"depth":3}}"#);
        assert_eq!(p.kind, MessageKind::Unsupported);
        let p = parsed(
            r#"{"id":"w","type":"unsupported","unsupported":{"type":"poll_creation"},
               "errors":[{"code":131051,"title":"Message type unknown"}]}"#,
        );
        assert_eq!(
            p.details.content,
            Some(Content::Unsupported {
                wire_type: "poll_creation".into(),
                reason: Some("Message type unknown".into())
            })
        );
    }

    #[test]
    fn edits_and_revokes_point_at_the_original() {
        let e = read(&msg(
            r#"{"id":"e","type":"edit","edit":{"original_message_id":"wamid.U5","message":{"type":"text","text":{"body":"fixed"}}}}"#,
        ));
        let Inbound::Edit {
            original,
            replacement,
        } = e
        else {
            panic!()
        };
        assert_eq!(original, "wamid.U5");
        assert_eq!(replacement.text.as_deref(), Some("fixed"));
        assert!(replacement.details.edited);
        assert_eq!(
            read(&msg(
                r#"{"id":"d","type":"revoke","revoke":{"original_message_id":"wamid.U5"}}"#
            )),
            Inbound::Revoke {
                original: "wamid.U5".into()
            }
        );
    }
}
