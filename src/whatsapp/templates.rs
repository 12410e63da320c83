//! `GET /{waba-id}/message_templates`: reading WhatsApp Manager's template list.
//!
//! Templates belong to the WhatsApp Business Account (WABA), not to a phone number. Every
//! webhook names its WABA in `entry[].id`, so the app learns it from traffic; the
//! environment can name it up front.

use serde_json::Value;

use crate::model::ButtonValueKind;
use crate::model::{ButtonSlot, CardInfo, Offer, TemplateInfo, variables};

/// The settings key holding the WABA id last seen in an inbox's webhooks.
pub fn waba_setting(inbox_id: &str) -> String {
    format!("waba_id:{inbox_id}")
}

/// One page of the list: the templates and the cursor of the next page, if any.
#[derive(Debug, Default)]
pub struct TemplatePage {
    pub templates: Vec<TemplateInfo>,
    pub after: Option<String>,
}

/// Reads one page. Templates that are not approved, or too odd to read, are left out: the
/// composer offers only what WhatsApp will deliver.
pub fn parse_page(body: &[u8]) -> Result<TemplatePage, String> {
    let root: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let data = root
        .get("data")
        .and_then(Value::as_array)
        .ok_or("no data array")?;
    let templates = data.iter().filter_map(template).collect();
    // Only follow a cursor when Meta says there is a next page.
    let after = root
        .pointer("/paging/next")
        .and_then(|_| root.pointer("/paging/cursors/after"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(TemplatePage { templates, after })
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn upper(v: &Value, k: &str) -> String {
    s(v, k).unwrap_or_default().to_ascii_uppercase()
}

fn template(t: &Value) -> Option<TemplateInfo> {
    if !s(t, "status")?.eq_ignore_ascii_case("APPROVED") {
        return None;
    }
    let mut info = TemplateInfo {
        name: s(t, "name")?,
        language: s(t, "language")?,
        category: upper(t, "category"),
        header: None,
        header_format: None,
        header_params: Vec::new(),
        body: String::new(),
        footer: None,
        buttons: Vec::new(),
        params: Vec::new(),
        named: false,
        button_slots: Vec::new(),
        offer: None,
        cards: Vec::new(),
        unsupported: None,
    };
    let named_format = s(t, "parameter_format").is_some_and(|f| f.eq_ignore_ascii_case("NAMED"));
    let components = t.get("components").and_then(Value::as_array);
    for c in components.into_iter().flatten() {
        match upper(c, "type").as_str() {
            "HEADER" => {
                let format = match upper(c, "format") {
                    f if f.is_empty() => "TEXT".to_string(),
                    f => f,
                };
                if format == "TEXT" {
                    let text = s(c, "text").unwrap_or_default();
                    info.header_params = variables(&text).0;
                    info.header = Some(text);
                } else {
                    info.header = Some(format!("[{format}]"));
                }
                info.header_format = Some(format);
            }
            "BODY" => info.body = s(c, "text").unwrap_or_default(),
            "FOOTER" => info.footer = s(c, "text"),
            "BUTTONS" => read_buttons(
                c,
                &mut info.buttons,
                &mut info.button_slots,
                &mut info.unsupported,
            ),
            "CAROUSEL" => {
                let cards = c.get("cards").and_then(Value::as_array);
                for c in cards.into_iter().flatten() {
                    let card = card(c, named_format, &mut info.unsupported);
                    info.cards.push(card);
                }
                if info.cards.is_empty() {
                    refuse(&mut info.unsupported, "its carousel has no cards");
                }
            }
            "LIMITED_TIME_OFFER" => {
                let offer = c.get("limited_time_offer");
                info.offer = Some(Offer {
                    text: offer.and_then(|o| s(o, "text")).unwrap_or_default(),
                    has_expiration: offer
                        .and_then(|o| o.get("has_expiration"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                });
            }
            _ => {}
        }
    }
    if info
        .header_format
        .as_deref()
        .is_some_and(|f| !matches!(f, "TEXT" | "IMAGE" | "VIDEO" | "DOCUMENT" | "LOCATION"))
    {
        refuse(
            &mut info.unsupported,
            "its header is of a kind the app cannot fill",
        );
    }
    let (params, named) = variables(&info.body);
    info.params = params;
    info.named = named || named_format;
    info.unsupported = info
        .unsupported
        .map(|why| format!("Not from the composer: {why}."));
    Some(info)
}

/// One card of a carousel: a media header, a body and buttons, as a template has.
fn card(c: &Value, named_format: bool, unsupported: &mut Option<String>) -> CardInfo {
    let mut card = CardInfo {
        header_format: String::new(),
        body: String::new(),
        params: Vec::new(),
        named: false,
        buttons: Vec::new(),
        button_slots: Vec::new(),
    };
    let components = c.get("components").and_then(Value::as_array);
    for c in components.into_iter().flatten() {
        match upper(c, "type").as_str() {
            "HEADER" => card.header_format = upper(c, "format"),
            "BODY" => card.body = s(c, "text").unwrap_or_default(),
            "BUTTONS" => read_buttons(c, &mut card.buttons, &mut card.button_slots, unsupported),
            _ => {}
        }
    }
    if !matches!(card.header_format.as_str(), "IMAGE" | "VIDEO") {
        refuse(
            unsupported,
            "a carousel card's header is not an image or a video",
        );
    }
    let (params, named) = variables(&card.body);
    card.params = params;
    card.named = named || named_format;
    card
}

/// A `BUTTONS` component: each button's label, and the value it takes if any.
fn read_buttons(
    c: &Value,
    labels: &mut Vec<String>,
    slots: &mut Vec<ButtonSlot>,
    unsupported: &mut Option<String>,
) {
    let buttons = c.get("buttons").and_then(Value::as_array);
    for (i, b) in buttons.into_iter().flatten().enumerate() {
        let label = s(b, "text").unwrap_or_default();
        if let Some(slot) = button_slot(i, b, &label, unsupported) {
            slots.push(slot);
        }
        labels.push(label);
    }
}

/// Keeps the first reason found, which is the one shown.
fn refuse(unsupported: &mut Option<String>, why: &str) {
    unsupported.get_or_insert_with(|| why.to_string());
}

/// The value button `b` (at `index`) takes when sent, if any.
fn button_slot(
    index: usize,
    b: &Value,
    label: &str,
    unsupported: &mut Option<String>,
) -> Option<ButtonSlot> {
    let kind = b
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_uppercase();
    let slot = |sub_type, required, otp| {
        Some(ButtonSlot {
            index: u8::try_from(index).ok()?,
            sub_type,
            label: label.to_string(),
            required,
            otp,
        })
    };
    match kind.as_str() {
        "QUICK_REPLY" => slot(ButtonValueKind::QuickReply, false, false),
        "URL" => {
            let url = b.get("url").and_then(Value::as_str).unwrap_or_default();
            let dynamic = !variables(url).0.is_empty();
            if dynamic {
                slot(ButtonValueKind::Url, true, false)
            } else {
                None
            }
        }
        "COPY_CODE" => slot(ButtonValueKind::CopyCode, true, false),
        // Every kind of code button (copy, one-tap, zero-tap) is sent as a `url` button
        // whose value is the code.
        "OTP" => slot(ButtonValueKind::Url, true, true),
        "PHONE_NUMBER" | "VOICE_CALL" | "FLOW" | "CATALOG" => None,
        _ => {
            refuse(
                unsupported,
                &format!("its {} button", kind.to_ascii_lowercase()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(slots: &[ButtonSlot]) -> Vec<(u8, ButtonValueKind, bool)> {
        slots
            .iter()
            .map(|b| (b.index, b.sub_type, b.required))
            .collect()
    }

    #[test]
    fn reads_approved_templates_with_what_their_header_and_buttons_take() {
        let body = serde_json::json!({
            "data": [
                {"name": "order_update", "language": "pt_BR", "status": "APPROVED",
                 "category": "UTILITY", "parameter_format": "POSITIONAL",
                 "components": [
                    {"type": "HEADER", "format": "TEXT", "text": "Pedido"},
                    {"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} saiu."},
                    {"type": "FOOTER", "text": "Loja"},
                    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Obrigado"}]}]},
                {"name": "promo", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
                 "components": [{"type": "HEADER", "format": "IMAGE"},
                                {"type": "BODY", "text": "Hi {{first_name}}"}]},
                {"name": "track", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
                 "components": [{"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                                {"type": "BODY", "text": "On its way"},
                                {"type": "BUTTONS", "buttons": [
                                    {"type": "URL", "text": "Track", "url": "https://x.example/t/{{1}}"},
                                    {"type": "URL", "text": "Shop", "url": "https://x.example/"},
                                    {"type": "COPY_CODE", "example": "SAVE10"}]}]},
                {"name": "code", "language": "en_US", "status": "APPROVED", "category": "AUTHENTICATION",
                 "components": [{"type": "BODY", "text": "{{1}} is your code"},
                                {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "ONE_TAP", "text": "Autofill"}]}]},
                {"name": "cards", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
                 "components": [{"type": "BODY", "text": "Look, {{1}}"}, {"type": "CAROUSEL", "cards": [
                    {"components": [{"type": "HEADER", "format": "IMAGE"},
                                    {"type": "BODY", "text": "{{1}} for {{2}}"},
                                    {"type": "BUTTONS", "buttons": [
                                        {"type": "QUICK_REPLY", "text": "More"},
                                        {"type": "URL", "text": "Buy", "url": "https://x.example/p/{{1}}"}]}]},
                    {"components": [{"type": "HEADER", "format": "IMAGE"},
                                    {"type": "BODY", "text": "Plain"},
                                    {"type": "BUTTONS", "buttons": [
                                        {"type": "QUICK_REPLY", "text": "More"},
                                        {"type": "URL", "text": "Buy", "url": "https://x.example/p/{{1}}"}]}]}]}]},
                {"name": "empty_cards", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
                 "components": [{"type": "BODY", "text": "Look"}, {"type": "CAROUSEL", "cards": []}]},
                {"name": "doc_cards", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
                 "components": [{"type": "BODY", "text": "Look"}, {"type": "CAROUSEL", "cards": [
                    {"components": [{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "x"}]}]}]},
                {"name": "flash", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
                 "components": [{"type": "LIMITED_TIME_OFFER", "limited_time_offer": {"text": "Ends soon!", "has_expiration": true}},
                                {"type": "BODY", "text": "Half price"},
                                {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "HALF"},
                                                               {"type": "URL", "text": "Shop", "url": "https://x.example/"}]}]},
                {"name": "paused_one", "language": "en_US", "status": "PAUSED",
                 "components": [{"type": "BODY", "text": "x"}]},
                {"status": "APPROVED"}
            ],
            "paging": {"cursors": {"before": "b", "after": "a1"}, "next": "https://graph/next"}
        });
        let page = parse_page(body.to_string().as_bytes()).unwrap();
        assert_eq!(page.after.as_deref(), Some("a1"));
        let [
            order,
            promo,
            track,
            code,
            cards,
            empty_cards,
            doc_cards,
            flash,
        ] = &page.templates[..]
        else {
            panic!("{:?}", page.templates)
        };
        assert_eq!(order.params, ["1", "2"]);
        assert_eq!(order.header.as_deref(), Some("Pedido"));
        assert_eq!(order.buttons, ["Obrigado"]);
        assert!(order.unsupported.is_none());
        assert_eq!(
            order.header_needs(),
            None,
            "a fixed text header takes nothing"
        );
        assert_eq!(order.button_slots.len(), 1);
        assert!(
            !order.button_slots[0].required,
            "a quick reply's payload is optional"
        );
        assert!(promo.named);
        assert_eq!(promo.params, ["first_name"]);
        assert_eq!(promo.header_needs(), Some("IMAGE"));
        assert!(promo.unsupported.is_none());

        assert_eq!(track.header_needs(), Some("TEXT"));
        assert_eq!(
            track.customer_text(&[], Some("#42")),
            "Order #42\nOn its way"
        );
        assert_eq!(
            slots(&track.button_slots),
            [
                (0, ButtonValueKind::Url, true),
                (2, ButtonValueKind::CopyCode, true)
            ],
            "a fixed link takes nothing"
        );
        assert!(code.unsupported.is_none());
        assert!(code.button_slots[0].otp);
        assert_eq!(code.button_slots[0].sub_type, ButtonValueKind::Url);
        assert!(cards.unsupported.is_none(), "{:?}", cards.unsupported);
        assert_eq!(cards.params, ["1"]);
        let [first, second] = &cards.cards[..] else {
            panic!("{:?}", cards.cards)
        };
        assert_eq!(first.header_format, "IMAGE");
        assert_eq!(first.params, ["1", "2"]);
        assert_eq!(
            first.render(&["Tulips".into(), "$5".into()]),
            "Tulips for $5"
        );
        assert_eq!(first.buttons, ["More", "Buy"]);
        assert_eq!(
            slots(&second.button_slots),
            [
                (0, ButtonValueKind::QuickReply, false),
                (1, ButtonValueKind::Url, true)
            ]
        );
        assert!(second.params.is_empty());
        assert!(
            empty_cards
                .unsupported
                .as_deref()
                .unwrap()
                .contains("no cards")
        );
        assert!(
            doc_cards
                .unsupported
                .as_deref()
                .unwrap()
                .contains("not an image or a video")
        );
        assert!(flash.unsupported.is_none());
        assert_eq!(
            flash.offer,
            Some(Offer {
                text: "Ends soon!".into(),
                has_expiration: true
            })
        );
        assert_eq!(flash.button_slots[0].sub_type, ButtonValueKind::CopyCode);
    }

    #[test]
    fn the_last_page_has_no_cursor_to_follow_and_garbage_is_an_error() {
        let last = br#"{"data": [], "paging": {"cursors": {"after": "zz"}}}"#;
        assert!(parse_page(last).unwrap().after.is_none());
        assert!(parse_page(b"<html>").is_err());
        assert!(parse_page(b"{}").is_err());
    }
}
