//! Documents to domain types and back.

use super::*;

pub(super) fn opt_int(d: &Document, key: &str) -> Option<i64> {
    match d.get(key)? {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(f) => Some(*f as i64),
        _ => None,
    }
}

pub(super) fn int(d: &Document, key: &str) -> StoreResult<i64> {
    opt_int(d, key).ok_or_else(|| StoreError::Corrupt(format!("field {key} is not a number")))
}

pub(super) fn opt_string(d: &Document, key: &str) -> Option<String> {
    match d.get(key)? {
        Bson::String(s) => Some(s.clone()),
        _ => None,
    }
}

pub(super) fn string(d: &Document, key: &str) -> StoreResult<String> {
    opt_string(d, key).ok_or_else(|| StoreError::Corrupt(format!("field {key} is not a string")))
}

/// Flags are written as booleans; integers are read as C would, so a server that stores
/// booleans as numbers still reads back what was meant.
pub(super) fn boolean(d: &Document, key: &str) -> bool {
    match d.get(key) {
        Some(Bson::Boolean(b)) => *b,
        Some(Bson::Int32(n)) => *n != 0,
        Some(Bson::Int64(n)) => *n != 0,
        _ => false,
    }
}

/// Adds `key` only when there is a value: absent fields keep partial unique indexes and
/// `$exists` queries honest.
pub(super) fn put_opt(d: &mut Document, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        d.insert(key, v.clone());
    }
}

pub(super) fn direction_str(d: Direction) -> &'static str {
    d.as_str()
}

/// A value kept as a JSON string (as SQLite keeps it); one this build cannot read is `None`.
pub(super) fn json_field<T: serde::de::DeserializeOwned>(d: &Document, key: &str) -> Option<T> {
    serde_json::from_str(d.get_str(key).ok()?).ok()
}

pub(super) fn strings(d: &Document, key: &str) -> Vec<String> {
    match d.get(key) {
        Some(Bson::Array(items)) => items
            .iter()
            .filter_map(|b| b.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn user_ref(d: &Document, key: &str) -> Option<UserRef> {
    let u = d.get_document(key).ok()?;
    Some(UserRef {
        id: opt_string(u, "id")?,
        name: opt_string(u, "name").unwrap_or_default(),
    })
}

pub(super) fn user_ref_bson(u: &Option<UserRef>) -> Bson {
    match u {
        Some(u) => Bson::Document(doc! { "id": &u.id, "name": &u.name }),
        None => Bson::Null,
    }
}

pub(super) fn error_doc(e: &ErrorInfo) -> Document {
    let mut d = doc! { "code": e.code, "title": &e.title };
    put_opt(&mut d, "detail", &e.detail);
    d
}

pub(super) fn error_from_doc(d: &Document) -> Option<ErrorInfo> {
    let e = d.get_document("error").ok()?;
    Some(ErrorInfo {
        code: opt_int(e, "code").unwrap_or(0),
        title: opt_string(e, "title").unwrap_or_default(),
        detail: opt_string(e, "detail"),
    })
}

pub(super) fn delivery_from_doc(d: &Document) -> DeliveryState {
    DeliveryState {
        rank: opt_int(d, "status_rank").unwrap_or(0),
        failed: boolean(d, "failed"),
        error: error_from_doc(d),
    }
}

pub(super) fn message_from_doc(d: &Document) -> StoreResult<Message> {
    let direction = Direction::parse(&string(d, "direction")?);
    let delivery = delivery_from_doc(d);
    Ok(Message {
        id: string(d, "_id")?,
        wamid: opt_string(d, "wamid"),
        conversation_id: string(d, "conversation_id")?,
        inbox_id: string(d, "inbox_id")?,
        direction,
        kind: MessageKind::from_wire(&string(d, "kind")?),
        text: opt_string(d, "text"),
        status: match direction {
            Direction::In | Direction::Note => MessageStatus::Received,
            Direction::Out => delivery.status(),
        },
        error: delivery.error,
        timestamp: int(d, "timestamp")?,
        created_at: int(d, "created_at")?,
        client_id: opt_string(d, "client_id"),
        seq: int(d, "seq")?,
        version: int(d, "version")?,
        reply_to: opt_string(d, "reply_to"),
        details: details_from_doc(d),
        sent_by: user_ref(d, "sent_by"),
    })
}

/// Details are a sub-document; one this build cannot read leaves the message readable.
pub(super) fn details_from_doc(d: &Document) -> Details {
    match d.get("details") {
        Some(Bson::Document(inner)) => {
            mongodb::bson::from_document(inner.clone()).unwrap_or_default()
        }
        _ => Details::default(),
    }
}

pub(super) fn details_bson(d: &Details) -> StoreResult<Bson> {
    if *d == Details::default() {
        return Ok(Bson::Null);
    }
    mongodb::bson::to_document(d)
        .map(Bson::Document)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn contact_doc(c: &Contact) -> Document {
    let mut d = doc! { "id": &c.id };
    put_opt(&mut d, "name", &c.name);
    put_opt(&mut d, "wa_id", &c.wa_id);
    put_opt(&mut d, "user_id", &c.user_id);
    d.insert("labels", c.labels.clone());
    let attributes: Document = c
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), Bson::String(v.clone())))
        .collect();
    d.insert("attributes", attributes);
    d.insert("opted_out", c.opted_out);
    d
}

pub(super) fn contact_from_doc(d: &Document, id_key: &str) -> StoreResult<Contact> {
    Ok(Contact {
        id: string(d, id_key)?,
        name: opt_string(d, "name"),
        wa_id: opt_string(d, "wa_id"),
        user_id: opt_string(d, "user_id"),
        labels: strings(d, "labels"),
        attributes: d
            .get_document("attributes")
            .map(|a| {
                a.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        opted_out: boolean(d, "opted_out"),
    })
}

pub(super) fn preview_doc(m: &Message) -> Document {
    doc! {
        "id": &m.id,
        "direction": direction_str(m.direction),
        "kind": m.kind.as_str(),
        "text": m.preview(),
        "status": m.status.as_str(),
        "timestamp": m.timestamp,
        "version": m.version,
    }
}

pub(super) fn preview_from_doc(d: &Document) -> StoreResult<MessagePreview> {
    let status = string(d, "status")?;
    Ok(MessagePreview {
        id: string(d, "id")?,
        direction: Direction::parse(&string(d, "direction")?),
        kind: MessageKind::from_wire(&string(d, "kind")?),
        text: string(d, "text")?,
        status: match status.as_str() {
            "received" => MessageStatus::Received,
            "pending" => MessageStatus::Pending,
            other => MessageStatus::from_wire(other).unwrap_or(MessageStatus::Pending),
        },
        timestamp: int(d, "timestamp")?,
    })
}

pub(super) fn conversation_from_doc(d: &Document) -> StoreResult<Conversation> {
    let contact = d
        .get_document("contact")
        .map_err(|_| StoreError::Corrupt("conversation without contact".into()))?;
    let last_message = match d.get_document("last_message") {
        Ok(p) => Some(preview_from_doc(p)?),
        Err(_) => None,
    };
    Ok(Conversation {
        id: string(d, "_id")?,
        inbox_id: string(d, "inbox_id")?,
        contact: contact_from_doc(contact, "id")?,
        last_message,
        unread_count: opt_int(d, "unread_count").unwrap_or(0),
        last_activity_at: int(d, "last_activity_at")?,
        last_inbound_at: opt_int(d, "last_inbound_at"),
        version: opt_int(d, "version").unwrap_or(0),
        status: opt_string(d, "status")
            .and_then(|s| ConversationStatus::parse(&s))
            .unwrap_or_default(),
        snoozed_until: opt_int(d, "snoozed_until"),
        assignee: user_ref(d, "assignee"),
        labels: strings(d, "labels"),
        last_change: json_field(d, "last_change"),
    })
}

pub(super) fn inbox_from_doc(d: &Document) -> StoreResult<Inbox> {
    Ok(Inbox {
        id: string(d, "_id")?,
        phone_number_id: string(d, "phone_number_id")?,
        display_phone_number: opt_string(d, "display_phone_number"),
        name: opt_string(d, "name"),
        credentials: InboxCredentials {
            access_token: opt_string(d, "access_token"),
            app_secret: opt_string(d, "app_secret"),
            verify_token: opt_string(d, "verify_token"),
        },
    })
}

pub(super) fn user_from_doc(d: &Document) -> StoreResult<User> {
    Ok(User {
        id: string(d, "_id")?,
        email: string(d, "email")?,
        name: string(d, "name")?,
        role: Role::parse(&string(d, "role")?).unwrap_or(Role::Agent),
        disabled: boolean(d, "disabled"),
        created_at: int(d, "created_at")?,
    })
}

pub(super) fn token_from_doc(d: &Document) -> StoreResult<ApiTokenInfo> {
    Ok(ApiTokenInfo {
        id: string(d, "_id")?,
        name: string(d, "name")?,
        user_id: string(d, "user_id")?,
        created_at: int(d, "created_at")?,
        last_used_at: opt_int(d, "last_used_at"),
        revoked: d.contains_key("revoked_at"),
    })
}

/// `$set`/`$unset` for optional fields: `None` keeps, empty clears, anything else sets.
pub(super) fn field_changes(
    fields: &[(&str, &Option<String>)],
    set: &mut Document,
    unset: &mut Document,
) {
    for &(field, value) in fields {
        match value.as_deref().map(str::trim) {
            None => {}
            Some("") => {
                unset.insert(field, "");
            }
            Some(v) => {
                set.insert(field, v);
            }
        }
    }
}

/// `$set`/`$unset` for credentials, as [`field_changes`].
pub(super) fn credential_changes(c: &InboxCredentials, set: &mut Document, unset: &mut Document) {
    let fields = [
        ("access_token", &c.access_token),
        ("app_secret", &c.app_secret),
        ("verify_token", &c.verify_token),
    ];
    field_changes(&fields, set, unset);
}

/// What `search_messages` looks a message up by (see `model::search_terms`).
pub(super) fn message_terms(m: &Message) -> Vec<String> {
    crate::model::search_terms(&crate::model::searchable_text(m))
}

/// History order as one string — zero-padded timestamp, then seq — so that a page is a
/// single indexed range however the server plans `$or` queries. Timestamps before 1970
/// do not occur; both parts are padded to the width of `i64::MAX`.
pub(super) fn sort_key(timestamp: i64, seq: i64) -> String {
    format!("{:019}:{:019}", timestamp.max(0), seq.max(0))
}

/// A receipt as `status_events` keeps it; the caller says whether it is applied yet.
pub(super) fn receipt_doc(r: &StatusReport) -> Document {
    let mut d = doc! {
        "_id": receipt_id(r),
        "inbox_id": &r.inbox_id,
        "wamid": &r.wamid,
        "status": &r.status,
        "timestamp": r.timestamp,
        "raw": &r.raw,
        "received_at": now_ms(),
    };
    if let Some(e) = &r.error {
        d.insert("error", error_doc(e));
    }
    put_opt(&mut d, "callback_data", &r.callback_data);
    d
}

/// Receipts are unique per (inbox, wamid, status, timestamp, error code): that tuple is
/// the document id, so the primary key does the deduplication.
pub(super) fn receipt_id(r: &StatusReport) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        r.inbox_id,
        r.wamid,
        r.status,
        r.timestamp,
        r.error.as_ref().map(|e| e.code).unwrap_or(0)
    )
}

// ---- write helpers -----------------------------------------------------------------------
