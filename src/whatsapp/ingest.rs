//! Turns a verified webhook body into stored messages and receipts.
//!
//! Every entry × change × message/status is handled on its own. Messages go first, so a
//! receipt that cannot be applied never costs a customer's message. Only a store outage
//! fails the whole body (so Meta retries it); everything else is logged and skipped.

use std::collections::HashMap;

use crate::model::MessageKind;
use crate::store::{
    ContactKey, DynStore, InboundOutcome, NewInbound, StatusOutcome, StatusReport, StoreError,
};
use crate::whatsapp::wire::{self, Item, PayloadError, WireContact};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one body changed, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub messages_created: usize,
    pub duplicates: usize,
    pub statuses_applied: usize,
    pub statuses_parked: usize,
    pub skipped: usize,
}

pub async fn ingest(store: &DynStore, body: &[u8]) -> Result<Summary, IngestError> {
    let changes = wire::parse_payload(body)?;
    let mut summary = Summary::default();
    for change in changes {
        if change.field != "messages" {
            tracing::info!(field = %change.field, "webhook: ignoring a field we do not subscribe to");
            continue;
        }
        for e in &change.errors {
            tracing::warn!(code = ?e.code, title = ?e.title, details = ?e.details(),
                "webhook: Meta reported an error");
        }
        let Some(pnid) = change.phone_number_id.as_deref() else {
            tracing::warn!("webhook: change without metadata.phone_number_id; skipped");
            summary.skipped += change.messages.len() + change.statuses.len();
            continue;
        };
        let Some(inbox) = store.inbox_by_phone_number_id(pnid).await? else {
            tracing::warn!(
                phone_number_id = pnid,
                "webhook: unknown phone_number_id; skipped"
            );
            summary.skipped += change.messages.len() + change.statuses.len();
            continue;
        };

        let names = contact_names(&change.contacts);
        for item in change.messages {
            let m = match item {
                Item::Ok(m) => m,
                Item::Malformed { reason, raw } => {
                    tracing::warn!(%reason, %raw, "webhook: unreadable message; skipped");
                    summary.skipped += 1;
                    continue;
                }
            };
            if m.from.is_none() && m.from_user_id.is_none() {
                tracing::warn!(wamid = %m.id, "webhook: message without a sender; skipped");
                summary.skipped += 1;
                continue;
            }
            let kind = MessageKind::from_wire(&m.kind);
            if kind == MessageKind::Unsupported {
                tracing::info!(wamid = %m.id, kind = %m.kind, "webhook: message type shown as a placeholder");
            }
            let name = m
                .from
                .as_ref()
                .and_then(|f| names.get(f.as_str()))
                .or_else(|| m.from_user_id.as_ref().and_then(|u| names.get(u.as_str())))
                .cloned();
            let inbound = NewInbound {
                inbox_id: inbox.id.clone(),
                wamid: m.id.clone(),
                contact: ContactKey {
                    wa_id: m.from.clone(),
                    user_id: m.from_user_id.clone(),
                    name,
                },
                kind,
                text: m.text(),
                timestamp: m.timestamp.unwrap_or_else(|| crate::store::now_ms() / 1000),
                reply_to: m.context.as_ref().and_then(|c| c.id.clone()),
                raw: m.raw.to_string(),
            };
            match store.record_inbound(inbound).await {
                Ok(InboundOutcome::Created(_)) => summary.messages_created += 1,
                Ok(InboundOutcome::Duplicate) => summary.duplicates += 1,
                Err(e @ StoreError::Unavailable(_)) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(error = %e, wamid = %m.id, "webhook: message not stored");
                    summary.skipped += 1;
                }
            }
        }

        for item in change.statuses {
            let s = match item {
                Item::Ok(s) => s,
                Item::Malformed { reason, raw } => {
                    tracing::warn!(%reason, %raw, "webhook: unreadable status; skipped");
                    summary.skipped += 1;
                    continue;
                }
            };
            let report = StatusReport {
                inbox_id: inbox.id.clone(),
                wamid: s.id.clone(),
                status: s.status.clone(),
                timestamp: s.timestamp.unwrap_or_else(|| crate::store::now_ms() / 1000),
                error: s.errors.first().map(|e| e.to_info()),
                callback_data: s.biz_opaque_callback_data.clone(),
                raw: s.raw.to_string(),
            };
            match store.record_status(report).await {
                Ok(StatusOutcome::Applied(_) | StatusOutcome::Unchanged) => {
                    summary.statuses_applied += 1
                }
                Ok(StatusOutcome::Parked) => {
                    tracing::info!(wamid = %s.id, status = %s.status,
                        "webhook: receipt for a message not known yet; kept for later");
                    summary.statuses_parked += 1;
                }
                Ok(StatusOutcome::Duplicate) => summary.duplicates += 1,
                Ok(StatusOutcome::Unrecognised) => {
                    tracing::info!(wamid = %s.id, status = %s.status, "webhook: unknown status kept raw");
                    summary.skipped += 1;
                }
                Err(e @ StoreError::Unavailable(_)) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(error = %e, wamid = %s.id, "webhook: status not stored");
                    summary.skipped += 1;
                }
            }
        }
    }
    Ok(summary)
}

/// Profile names by every id a contact is known by.
fn contact_names(contacts: &[WireContact]) -> HashMap<&str, String> {
    let mut names = HashMap::new();
    for c in contacts {
        let Some(name) = c.profile.as_ref().and_then(|p| p.name.clone()) else {
            continue;
        };
        for id in [c.wa_id.as_deref(), c.user_id.as_deref()]
            .into_iter()
            .flatten()
        {
            names.insert(id, name.clone());
        }
    }
    names
}
