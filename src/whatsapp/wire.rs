//! Cloud API JSON shapes: webhook payloads in, send requests and responses out.
//!
//! Meta documents every array as batchable and every enum as open, so parsing is lenient:
//! each entry, change, message and status is read on its own, an item that does not fit
//! is reported without sinking its neighbours, and unknown types and fields are kept raw.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Why a webhook body could not be read at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is JSON but not an object with an `entry` array")]
    NotAnEnvelope,
}

/// One `entry[].changes[]` element, flattened with the parts of its `value` we use.
#[derive(Debug, Clone)]
pub struct Change {
    /// `entry[].id`: the WhatsApp Business Account the change belongs to.
    pub waba_id: Option<String>,
    pub field: String,
    pub phone_number_id: Option<String>,
    pub display_phone_number: Option<String>,
    pub contacts: Vec<WireContact>,
    pub messages: Vec<Item<InboundMessage>>,
    pub statuses: Vec<Item<StatusItem>>,
    pub errors: Vec<WireError>,
}

/// A batch element: parsed, or kept raw with the reason it did not parse.
#[derive(Debug, Clone)]
pub enum Item<T> {
    Ok(T),
    Malformed { raw: Value, reason: String },
}

/// Reads a webhook body into its changes. Only a body that is not a JSON envelope fails;
/// anything inside that is odd is returned as `Item::Malformed` or kept raw.
pub fn parse_payload(body: &[u8]) -> Result<Vec<Change>, PayloadError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let entries = root
        .get("entry")
        .and_then(Value::as_array)
        .ok_or(PayloadError::NotAnEnvelope)?;
    let mut changes = Vec::new();
    for entry in entries {
        let Some(list) = entry.get("changes").and_then(Value::as_array) else {
            continue;
        };
        // Meta sends the id as a string; a number is read too rather than dropped.
        let waba_id = match entry.get("id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        for change in list {
            changes.push(read_change(waba_id.clone(), change));
        }
    }
    Ok(changes)
}

/// Every `metadata.phone_number_id` a body names, in order, without duplicates. Used to
/// pick the app secret(s) to check the signature with, so it reads leniently and returns
/// nothing for a body that is not a webhook envelope.
pub fn phone_number_ids(body: &[u8]) -> std::collections::BTreeSet<String> {
    parse_payload(body)
        .map(|changes| {
            changes
                .into_iter()
                .filter_map(|c| c.phone_number_id)
                .collect()
        })
        .unwrap_or_default()
}

fn read_change(waba_id: Option<String>, change: &Value) -> Change {
    let field = change
        .get("field")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let value = change.get("value").cloned().unwrap_or(Value::Null);
    let metadata = value.get("metadata");
    let meta_str = |key: &str| {
        metadata
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Change {
        waba_id,
        field,
        phone_number_id: meta_str("phone_number_id"),
        display_phone_number: meta_str("display_phone_number"),
        contacts: read_array(&value, "contacts")
            .filter_map(|c| serde_json::from_value(c.clone()).ok())
            .collect(),
        messages: read_array(&value, "messages").map(read_item).collect(),
        statuses: read_array(&value, "statuses").map(read_item).collect(),
        errors: read_array(&value, "errors")
            .filter_map(|e| serde_json::from_value(e.clone()).ok())
            .collect(),
    }
}

fn read_array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
}

fn read_item<T: WithRaw>(raw: &Value) -> Item<T> {
    match T::deserialize(raw) {
        Ok(mut item) => {
            item.set_raw(raw.clone());
            Item::Ok(item)
        }
        Err(e) => Item::Malformed {
            raw: raw.clone(),
            reason: e.to_string(),
        },
    }
}

trait WithRaw: for<'de> Deserialize<'de> {
    fn set_raw(&mut self, raw: Value);
}

/// `value.contacts[]`: who wrote, as Meta knows them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct WireContact {
    #[serde(default)]
    pub wa_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Profile {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

/// `value.messages[]`. The type-specific object stays in `raw`.
#[derive(Debug, Clone, Deserialize)]
pub struct InboundMessage {
    pub id: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub from_user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub timestamp: Option<i64>,
    #[serde(rename = "type", default = "unknown_type")]
    pub kind: String,
    #[serde(default)]
    pub context: Option<MessageContext>,
    #[serde(skip)]
    pub raw: Value,
}

impl WithRaw for InboundMessage {
    fn set_raw(&mut self, raw: Value) {
        self.raw = raw;
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageContext {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub forwarded: Option<bool>,
    #[serde(default)]
    pub frequently_forwarded: Option<bool>,
}

/// `value.statuses[]`: a receipt for something we sent.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusItem {
    pub id: String,
    pub status: String,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub recipient_id: Option<String>,
    #[serde(default)]
    pub recipient_user_id: Option<String>,
    #[serde(default)]
    pub biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    pub errors: Vec<WireError>,
    #[serde(skip)]
    pub raw: Value,
}

impl WithRaw for StatusItem {
    fn set_raw(&mut self, raw: Value) {
        self.raw = raw;
    }
}

/// The error object Meta uses in `value.errors`, `messages[].errors` and `statuses[].errors`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct WireError {
    #[serde(default, deserialize_with = "lenient_i64")]
    pub code: Option<i64>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// An object with `details` for messaging errors, a plain string elsewhere.
    #[serde(default)]
    pub error_data: Option<Value>,
    #[serde(default)]
    pub href: Option<String>,
}

impl WireError {
    pub fn details(&self) -> Option<String> {
        match &self.error_data {
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => v.get("details").and_then(Value::as_str).map(str::to_string),
            None => None,
        }
    }

    pub fn to_info(&self) -> crate::model::ErrorInfo {
        crate::model::ErrorInfo {
            code: self.code.unwrap_or(0),
            title: self
                .title
                .clone()
                .or_else(|| self.message.clone())
                .unwrap_or_else(|| "Unknown error".to_string()),
            detail: self.details(),
        }
    }
}

fn unknown_type() -> String {
    "unknown".to_string()
}

/// Meta sends Unix seconds as strings; some tools send numbers. Accept both, and treat
/// anything else as absent rather than failing the item.
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .as_ref()
        .and_then(lenient_int))
}

/// An integer Meta may send as a number or as a numeric string.
pub fn lenient_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

// ---- Sending -------------------------------------------------------------------------

/// Meta's success answer to a send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendResponse {
    #[serde(default)]
    pub messaging_product: Option<String>,
    #[serde(default)]
    pub contacts: Vec<SendResponseContact>,
    pub messages: Vec<SendResponseMessage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendResponseContact {
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default)]
    pub wa_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendResponseMessage {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_status: Option<String>,
}

/// Graph API error envelope (`{"error": {...}}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphErrorEnvelope {
    pub error: GraphError,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub message: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_subcode: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_msg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbtrace_id: Option<String>,
}

impl GraphError {
    pub fn to_info(&self) -> crate::model::ErrorInfo {
        let details = match &self.error_data {
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => v.get("details").and_then(Value::as_str).map(str::to_string),
            None => None,
        };
        crate::model::ErrorInfo {
            code: self.code,
            title: self
                .error_user_title
                .clone()
                .unwrap_or_else(|| self.message.clone()),
            detail: details.or_else(|| self.error_user_msg.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn parses_a_batch_of_three_messages_from_two_contacts() {
        let changes = parse_payload(&fixture("batch_two_contacts_three_messages.json")).unwrap();
        assert_eq!(changes.len(), 1);
        let c = &changes[0];
        assert_eq!(c.phone_number_id.as_deref(), Some("200000000000001"));
        assert_eq!(c.contacts.len(), 2);
        assert_eq!(c.messages.len(), 3);
        let Item::Ok(m) = &c.messages[2] else {
            panic!("third message did not parse")
        };
        assert_eq!(m.raw["text"]["body"], "second from Ana");
        assert_eq!(m.timestamp, Some(1_763_800_201));
    }

    #[test]
    fn escaped_unicode_is_decoded() {
        let changes = parse_payload(&fixture("inbound_text_escaped_raw.json")).unwrap();
        let Item::Ok(m) = &changes[0].messages[0] else {
            panic!()
        };
        assert_eq!(
            m.raw["text"]["body"],
            "Ação 😀 ok https://example.com/a?b=1"
        );
        assert_eq!(
            changes[0].contacts[0]
                .profile
                .as_ref()
                .unwrap()
                .name
                .as_deref(),
            Some("João")
        );
    }

    #[test]
    fn failed_status_carries_its_error() {
        let changes = parse_payload(&fixture("status_failed_131047.json")).unwrap();
        let Item::Ok(s) = &changes[0].statuses[0] else {
            panic!()
        };
        assert_eq!(s.status, "failed");
        let info = s.errors[0].to_info();
        assert_eq!(info.code, 131047);
        assert_eq!(info.title, "Re-engagement message");
        assert!(info.detail.unwrap().contains("24 hours"));
    }

    #[test]
    fn a_bad_item_does_not_sink_its_neighbours() {
        let body = br#"{"entry":[{"changes":[{"field":"messages","value":{
            "metadata":{"phone_number_id":"1"},
            "messages":[{"no_id":true},{"id":"wamid.ok","type":"hologram","timestamp":1700000000}]}}]}]}"#;
        let changes = parse_payload(body).unwrap();
        assert!(matches!(changes[0].messages[0], Item::Malformed { .. }));
        let Item::Ok(m) = &changes[0].messages[1] else {
            panic!()
        };
        assert_eq!(m.kind, "hologram");
        assert_eq!(m.timestamp, Some(1_700_000_000));
    }

    #[test]
    fn non_envelopes_are_rejected() {
        assert!(matches!(
            parse_payload(b"not json"),
            Err(PayloadError::NotJson(_))
        ));
        assert_eq!(
            parse_payload(b"[1,2]").unwrap_err(),
            PayloadError::NotAnEnvelope
        );
    }

    #[test]
    fn graph_errors_prefer_the_user_title() {
        let e: GraphErrorEnvelope = serde_json::from_str(
            r#"{"error":{"message":"(#131056) pair rate limit hit","type":"OAuthException","code":131056,
                "error_data":{"messaging_product":"whatsapp","details":"too many messages"},"fbtrace_id":"x"}}"#,
        )
        .unwrap();
        let info = e.error.to_info();
        assert_eq!(info.code, 131056);
        assert_eq!(info.title, "(#131056) pair rate limit hit");
        assert_eq!(info.detail.as_deref(), Some("too many messages"));
    }
}
