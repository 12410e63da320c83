//! Meta's JSON, as the simulator sends it: same shapes, same escaping.

use base64::Engine;
use rand::Rng;
use serde_json::{Value, json};

use super::faults::describe;

pub fn new_wamid() -> String {
    let mut bytes = [0u8; 27];
    rand::rng().fill(&mut bytes[..]);
    format!(
        "wamid.HBgN{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

pub fn trace_id() -> String {
    let mut bytes = [0u8; 9];
    rand::rng().fill(&mut bytes[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now_secs() -> String {
    (crate::store::now_ms() / 1000).to_string()
}

fn envelope(phone_number_id: &str, display: &str, value: Value) -> String {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({
        "display_phone_number": display,
        "phone_number_id": phone_number_id,
    });
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": crate::config::SIMULATOR_WABA_ID,
            "changes": [{ "field": "messages", "value": value }]
        }]
    });
    meta_escape(&body.to_string())
}

/// One customer message: `message` holds `type`, its object and any `context`.
pub fn inbound(
    phone_number_id: &str,
    display: &str,
    wa_id: &str,
    name: Option<&str>,
    wamid: &str,
    message: Value,
) -> String {
    let mut contact = json!({ "wa_id": wa_id });
    if let Some(name) = name {
        contact["profile"] = json!({ "name": name });
    }
    let mut message = message;
    message["from"] = json!(wa_id);
    message["id"] = json!(wamid);
    message["timestamp"] = json!(now_secs());
    envelope(
        phone_number_id,
        display,
        json!({ "contacts": [contact], "messages": [message] }),
    )
}

pub fn status(
    phone_number_id: &str,
    display: &str,
    wamid: &str,
    recipient: &str,
    status: &str,
    callback: Option<&str>,
    error_code: Option<i64>,
) -> String {
    let mut item = json!({
        "id": wamid,
        "status": status,
        "timestamp": now_secs(),
        "recipient_id": recipient,
    });
    if let Some(cb) = callback {
        item["biz_opaque_callback_data"] = json!(cb);
    }
    match status {
        "sent" | "delivered" => {
            item["pricing"] = json!({
                "billable": false,
                "pricing_model": "PMP",
                "category": "service",
                "type": "free_customer_service"
            });
        }
        "failed" => {
            let code = error_code.unwrap_or(131000);
            let (title, details) = describe(code);
            item["errors"] = json!([{
                "code": code,
                "title": title,
                "message": title,
                "error_data": { "details": details },
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
            }]);
        }
        _ => {}
    }
    envelope(phone_number_id, display, json!({ "statuses": [item] }))
}

pub fn send_response(to: &str, wamid: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to.trim_start_matches('+') }],
        "messages": [{ "id": wamid, "message_status": "accepted" }]
    })
}

/// Meta escapes non-ASCII as `\uXXXX` (UTF-16, lower-case hex) and `/` as `\/`, and signs
/// those bytes. Doing the same makes the app's raw-body signature check earn its keep.
/// Both only ever occur inside JSON strings, so a character-level pass is exact.
pub fn meta_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 8);
    for c in json.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_metas_and_round_trips() {
        let raw = r#"{"body":"Ação 😀 https://x.y/z"}"#;
        let escaped = meta_escape(raw);
        assert_eq!(
            escaped,
            r#"{"body":"A\u00e7\u00e3o \ud83d\ude00 https:\/\/x.y\/z"}"#
        );
        let back: Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back["body"], "Ação 😀 https://x.y/z");
    }

    #[test]
    fn receipts_parse_with_the_apps_own_parser() {
        let body = status(
            "1",
            "15550001000",
            "wamid.X",
            "5511",
            "failed",
            Some("m1"),
            Some(131047),
        );
        let changes = crate::whatsapp::wire::parse_payload(body.as_bytes()).unwrap();
        let crate::whatsapp::wire::Item::Ok(s) = &changes[0].statuses[0] else {
            panic!()
        };
        assert_eq!(s.errors[0].code, Some(131047));
        assert_eq!(s.biz_opaque_callback_data.as_deref(), Some("m1"));
    }
}
