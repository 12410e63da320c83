//! The Cloud API request for a stored outbound message. It is built from the message
//! itself, so a retry after a restart sends exactly what the first attempt did.

use serde_json::{Value, json};

use crate::model::{Contact, Content, InteractiveSpec, Message, MessageKind, TemplateSpec};
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
        (
            MessageKind::Template,
            Some(Content::Template(TemplateSpec {
                name,
                language,
                params,
                param_names,
            })),
        ) => {
            let mut template = json!({ "name": name, "language": { "code": language } });
            if !params.is_empty() {
                let parameters: Vec<Value> = params
                    .iter()
                    .enumerate()
                    .map(|(i, p)| match param_names.get(i) {
                        Some(n) => json!({ "type": "text", "parameter_name": n, "text": p }),
                        None => json!({ "type": "text", "text": p }),
                    })
                    .collect();
                template["components"] = json!([{ "type": "body", "parameters": parameters }]);
            }
            ("template", template)
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
