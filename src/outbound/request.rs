//! The Cloud API request for a stored outbound message. It is built from the message
//! itself, so a retry after a restart sends exactly what the first attempt did.

use serde_json::{Value, json};

use crate::model::{
    ButtonValueKind, Contact, Content, InteractiveSpec, Media, Message, MessageKind,
    TemplateButton, TemplateCard, TemplateHeader, TemplateSpec,
};
use crate::store::callback_data;

/// The `POST /{phone-number-id}/messages` body for `m`, sent to `contact`.
pub fn request_body(m: &Message, contact: &Contact) -> Result<Value, String> {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        // Lets a receipt that beats the HTTP response find this message.
        "biz_opaque_callback_data": callback_data(&m.id, m.details.attempt),
    });
    match (&contact.wa_id, &contact.user_id) {
        (Some(wa_id), _) => body["to"] = json!(wa_id),
        (None, Some(bsuid)) => body["recipient"] = json!(bsuid),
        (None, None) => return Err("the contact has neither a number nor a user id".into()),
    }
    let text = m.text.clone().unwrap_or_default();
    let (kind, payload) = match (m.kind, &m.details.content) {
        (MessageKind::Text, _) => (
            "text",
            json!({ "body": text, "preview_url": text.contains("https://") || text.contains("http://") }),
        ),
        (MessageKind::Reaction, Some(Content::Reaction { target, emoji })) => (
            "reaction",
            // An empty emoji removes our reaction.
            json!({ "message_id": target, "emoji": emoji.clone().unwrap_or_default() }),
        ),
        (MessageKind::Template, Some(Content::Template(spec))) => {
            ("template", template(spec, m.details.media.as_ref())?)
        }
        (
            MessageKind::Interactive,
            Some(Content::Interactive(InteractiveSpec {
                header,
                body,
                footer,
                button,
                options,
            })),
        ) => {
            let mut interactive = match button {
                None => json!({
                    "type": "button",
                    "action": { "buttons": options.iter().map(|o| json!({
                        "type": "reply", "reply": { "id": o.id, "title": o.title }
                    })).collect::<Vec<_>>() },
                }),
                Some(label) => json!({
                    "type": "list",
                    "action": { "button": label, "sections": [{
                        "title": label,
                        "rows": options.iter().map(|o| {
                            let mut row = json!({ "id": o.id, "title": o.title });
                            if let Some(d) = &o.description {
                                row["description"] = json!(d);
                            }
                            row
                        }).collect::<Vec<_>>(),
                    }] },
                }),
            };
            interactive["body"] = json!({ "text": body });
            if let Some(h) = header {
                interactive["header"] = json!({ "type": "text", "text": h });
            }
            if let Some(f) = footer {
                interactive["footer"] = json!({ "text": f });
            }
            ("interactive", interactive)
        }
        (
            MessageKind::Image
            | MessageKind::Video
            | MessageKind::Audio
            | MessageKind::Document
            | MessageKind::Sticker,
            _,
        ) => {
            let media = m.details.media.as_ref().ok_or("the media is missing")?;
            let mut object = match (&media.media_id, &media.link) {
                (Some(id), _) => json!({ "id": id }),
                (None, Some(link)) => json!({ "link": link }),
                (None, None) => return Err("the media has neither an id nor a link".into()),
            };
            if !text.is_empty() {
                object["caption"] = json!(text);
            }
            if m.kind == MessageKind::Document
                && let Some(f) = &media.filename
            {
                object["filename"] = json!(f);
            }
            (m.kind.as_str(), object)
        }
        (kind, _) => return Err(format!("{} messages cannot be sent", kind.as_str())),
    };
    body["type"] = json!(kind);
    body[kind] = payload;
    if let Some(wamid) = m
        .reply_to
        .as_ref()
        .filter(|_| m.kind != MessageKind::Reaction)
    {
        body["context"] = json!({ "message_id": wamid });
    }
    Ok(body)
}

/// The `template` object: name, language and a component per part that takes values.
fn template(spec: &TemplateSpec, media: Option<&Media>) -> Result<Value, String> {
    let mut components = Vec::new();
    if let Some(header) = &spec.header {
        let parameter = match header {
            TemplateHeader::Text {
                text,
                parameter_name,
            } => text_parameter(text, parameter_name.as_deref()),
            TemplateHeader::Location {
                latitude,
                longitude,
                name,
                address,
            } => {
                let mut location = json!({ "latitude": latitude, "longitude": longitude });
                for (k, v) in [("name", name), ("address", address)] {
                    if let Some(v) = v {
                        location[k] = json!(v);
                    }
                }
                json!({ "type": "location", "location": location })
            }
            media_header => {
                let kind = header.format().to_ascii_lowercase();
                let media = media.ok_or("the header's file is missing")?;
                let mut object = match (&media.media_id, &media.link) {
                    (Some(id), _) => json!({ "id": id }),
                    (None, Some(link)) => json!({ "link": link }),
                    (None, None) => {
                        return Err("the header's file has neither an id nor a link".into());
                    }
                };
                if let (TemplateHeader::Document(_), Some(f)) = (media_header, &media.filename) {
                    object["filename"] = json!(f);
                }
                json!({ "type": kind, kind: object })
            }
        };
        components.push(json!({ "type": "header", "parameters": [parameter] }));
    }
    components.extend(body_component(&spec.params, &spec.param_names));
    if let Some(at) = spec.offer_expires_at_ms {
        components.push(json!({
            "type": "limited_time_offer",
            "parameters": [{
                "type": "limited_time_offer",
                "limited_time_offer": { "expiration_time_ms": at },
            }],
        }));
    }
    components.extend(spec.buttons.iter().map(button_component));
    if !spec.cards.is_empty() {
        let cards = spec
            .cards
            .iter()
            .enumerate()
            .map(|(i, card)| card_object(i, card))
            .collect::<Result<Vec<_>, _>>()?;
        components.push(json!({ "type": "carousel", "cards": cards }));
    }
    let mut template = json!({ "name": spec.name, "language": { "code": spec.language } });
    if !components.is_empty() {
        template["components"] = json!(components);
    }
    Ok(template)
}

/// One carousel card: its header file by link, its body's values and its buttons'.
fn card_object(index: usize, card: &TemplateCard) -> Result<Value, String> {
    let kind = card.header.format().to_ascii_lowercase();
    let link = card
        .header
        .media()
        .and_then(|(_, file)| file.link.as_ref())
        .ok_or_else(|| format!("card {} has no link to its file", index + 1))?;
    let mut components = vec![json!({
        "type": "header",
        "parameters": [{ "type": kind, kind: { "link": link } }],
    })];
    components.extend(body_component(&card.params, &card.param_names));
    components.extend(card.buttons.iter().map(button_component));
    Ok(json!({ "card_index": index, "components": components }))
}

/// The `body` component, when the body takes values.
fn body_component(params: &[String], names: &[String]) -> Option<Value> {
    let parameters: Vec<Value> = params
        .iter()
        .enumerate()
        .map(|(i, p)| text_parameter(p, names.get(i).map(String::as_str)))
        .collect();
    (!parameters.is_empty()).then(|| json!({ "type": "body", "parameters": parameters }))
}

fn button_component(b: &TemplateButton) -> Value {
    let parameter = match b.sub_type {
        ButtonValueKind::Url => json!({ "type": "text", "text": b.value }),
        ButtonValueKind::QuickReply => json!({ "type": "payload", "payload": b.value }),
        ButtonValueKind::CopyCode => json!({ "type": "coupon_code", "coupon_code": b.value }),
    };
    json!({
        "type": "button",
        "sub_type": b.sub_type.as_str(),
        "index": b.index.to_string(),
        "parameters": [parameter],
    })
}

fn text_parameter(text: &str, name: Option<&str>) -> Value {
    match name {
        Some(n) => json!({ "type": "text", "parameter_name": n, "text": text }),
        None => json!({ "type": "text", "text": text }),
    }
}
