//! Turns a verified webhook body into stored messages and receipts.
//!
//! Every entry × change × message/status is handled on its own. Messages go first, so a
//! receipt that cannot be applied never costs a customer's message. Only a store outage
//! fails the whole body (so Meta retries it); everything else is logged and skipped.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use crate::model::{Content, Direction, Message, MessageKind, MessageStatus, Quote};
use crate::store::{
    ContactKey, DynStore, InboundOutcome, Job, JobKind, MessageEdit, NewInbound, StatusOutcome,
    StatusReport, StoreError, StoreResult,
};
use crate::whatsapp::content::{self, Inbound};
use crate::whatsapp::wire::{self, InboundMessage, Item, PayloadError, WireContact};

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
    /// Earlier messages edited or deleted by their sender.
    pub edits: usize,
    /// Media downloads queued; the job runner should look now rather than at its next tick.
    pub media_queued: usize,
    /// Phone number ids no inbox has (yet): the body is kept for when one is created.
    pub unknown_numbers: Vec<String>,
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
                "webhook: no inbox has this phone_number_id; the body is kept and applied when one is created"
            );
            summary.skipped += change.messages.len() + change.statuses.len();
            summary.unknown_numbers.push(pnid.to_string());
            continue;
        };

        if let Some(waba) = change.waba_id.as_deref() {
            remember_waba(store, &inbox.id, waba).await?;
        }
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
            let name = m
                .from
                .as_ref()
                .and_then(|f| names.get(f.as_str()))
                .or_else(|| m.from_user_id.as_ref().and_then(|u| names.get(u.as_str())))
                .cloned();
            let contact = ContactKey {
                wa_id: m.from.clone(),
                user_id: m.from_user_id.clone(),
                name,
            };
            match record_message(store, &inbox.id, contact, &m, &mut summary).await {
                Ok(()) => {}
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
            match store.record_status(report.clone()).await {
                Ok(StatusOutcome::Applied(m)) => {
                    summary.statuses_applied += 1;
                    settle_uncertain_send(store, &m).await?;
                }
                Ok(StatusOutcome::Unchanged) => summary.statuses_applied += 1,
                Ok(StatusOutcome::Parked) => {
                    if note_earlier_attempt(store, &report).await? {
                        tracing::info!(wamid = %s.id, status = %s.status,
                            "webhook: receipt for an attempt a retry replaced; noted on its message");
                        summary.statuses_applied += 1;
                    } else {
                        tracing::info!(wamid = %s.id, status = %s.status,
                            "webhook: receipt for a message not known yet; kept for later");
                        summary.statuses_parked += 1;
                    }
                }
                Ok(StatusOutcome::Duplicate) => {
                    summary.duplicates += 1;
                    // Noting an earlier attempt's receipt is idempotent, so a redelivery
                    // after a crash between storing it and noting it completes the note.
                    note_earlier_attempt(store, &report).await?;
                }
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

/// A receipt proves a send whose outcome was unknown reached Meta: its retry is called
/// off and the "outcome unknown" note goes.
async fn settle_uncertain_send(store: &DynStore, m: &Message) -> Result<(), IngestError> {
    if m.direction != Direction::Out || m.wamid.is_none() || m.details.waiting.is_none() {
        return Ok(());
    }
    store.finish_job(JobKind::Send, &m.id).await?;
    store
        .edit_message(
            &m.id,
            Arc::new(|m: &mut Message| m.details.waiting.take().is_some()),
        )
        .await?;
    tracing::info!(message = %m.id, "send: a receipt settled a send whose outcome was unknown");
    Ok(())
}

/// [`earlier_attempt`], with a failure other than an outage logged and reported as
/// "not noted": the receipt itself is stored either way.
async fn note_earlier_attempt(
    store: &DynStore,
    report: &StatusReport,
) -> Result<bool, IngestError> {
    match earlier_attempt(store, report).await {
        Ok(noted) => Ok(noted),
        Err(e @ StoreError::Unavailable(_)) => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, wamid = %report.wamid,
                "webhook: receipt for an earlier attempt not noted");
            Ok(false)
        }
    }
}

/// A receipt for an attempt an agent's retry replaced. Its callback data names our
/// message and the attempt; the message keeps that attempt, so the receipt is noted there
/// (an earlier attempt that was delivered after all means the customer may have it twice).
async fn earlier_attempt(store: &DynStore, report: &StatusReport) -> StoreResult<bool> {
    let (Some(data), Some(status)) = (
        &report.callback_data,
        MessageStatus::from_wire(&report.status),
    ) else {
        return Ok(false);
    };
    let (our_id, attempt) = crate::store::parse_callback_data(data);
    let replaced = store.message(our_id).await?.is_some_and(|m| {
        m.inbox_id == report.inbox_id
            && m.direction == Direction::Out
            && attempt < m.details.attempt
    });
    if !replaced {
        return Ok(false);
    }
    let (wamid, error) = (report.wamid.clone(), report.error.clone());
    let edit: MessageEdit = Arc::new(move |m: &mut Message| {
        m.details
            .note_earlier_receipt(attempt, &wamid, status, error.clone())
    });
    Ok(store.edit_message(our_id, edit).await?.is_some())
}

/// Keeps the business account an inbox's webhooks name, which is where its approved
/// templates live. A per-process memo keeps this to one write per change of account, not
/// one per webhook.
async fn remember_waba(store: &DynStore, inbox_id: &str, waba: &str) -> StoreResult<()> {
    static KNOWN: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Default::default);
    let known = |id: &str| {
        KNOWN
            .lock()
            .is_ok_and(|k| k.get(id).is_some_and(|w| w == waba))
    };
    if known(inbox_id) || !waba.chars().all(|c| c.is_ascii_digit()) || waba.is_empty() {
        return Ok(());
    }
    let key = super::templates::waba_setting(inbox_id);
    if store.setting(&key).await?.as_deref() != Some(waba) {
        tracing::info!(
            inbox = inbox_id,
            waba,
            "webhook: inbox's business account learned"
        );
        store.set_setting(&key, Some(waba)).await?;
    }
    if let Ok(mut k) = KNOWN.lock() {
        k.insert(inbox_id.to_string(), waba.to_string());
    }
    Ok(())
}

/// Stores one customer message (or applies an edit or a deletion to an earlier one) and
/// does what its type implies: queue a media download, move a reaction, update a number.
async fn record_message(
    store: &DynStore,
    inbox_id: &str,
    contact: ContactKey,
    m: &InboundMessage,
    summary: &mut Summary,
) -> StoreResult<()> {
    let timestamp = m.timestamp.unwrap_or_else(|| crate::store::now_ms() / 1000);
    let parsed = match content::read(m) {
        Inbound::New(parsed) => parsed,
        Inbound::Edit {
            original,
            replacement,
        } => {
            if let Some(target) = store.message_by_wamid(inbox_id, &original).await? {
                let text = replacement.text.clone();
                store
                    .edit_message(
                        &target.id,
                        Arc::new(move |t: &mut Message| {
                            t.text = text.clone();
                            t.details.edited = true;
                            true
                        }),
                    )
                    .await?;
                summary.edits += 1;
                return Ok(());
            }
            // The original is unknown (older than us): keep the edited text as a message.
            replacement
        }
        Inbound::Revoke { original } => {
            if let Some(target) = store.message_by_wamid(inbox_id, &original).await? {
                store
                    .edit_message(
                        &target.id,
                        Arc::new(|t: &mut Message| {
                            t.details.deleted = true;
                            true
                        }),
                    )
                    .await?;
                summary.edits += 1;
                return Ok(());
            }
            content::Parsed {
                kind: MessageKind::Text,
                text: None,
                details: crate::model::Details {
                    deleted: true,
                    ..Default::default()
                },
            }
        }
    };
    if parsed.kind == MessageKind::Unsupported {
        tracing::info!(wamid = %m.id, kind = %m.kind, "webhook: message type shown as a placeholder");
    }
    let reply_to = match &parsed.details.content {
        Some(Content::Reaction { target, .. }) => Some(target.clone()),
        _ => m.context.as_ref().and_then(|c| c.id.clone()),
    };
    let mut details = parsed.details;
    // What it replies or reacts to, if stored: a reply quotes it, a reaction lands on it
    // (once the reaction is stored). If not, it waits for it (`resolve_waiting_on`).
    let target = match &reply_to {
        Some(wamid) => store.message_by_wamid(inbox_id, wamid).await?,
        None => None,
    };
    if parsed.kind != MessageKind::Reaction
        && let Some(quoted) = &target
    {
        details.quote = Some(Quote::of(quoted));
    }
    let media_pending = details
        .media
        .as_ref()
        .is_some_and(|md| md.state == crate::model::MediaState::Pending);
    let reaction = match &details.content {
        Some(Content::Reaction { emoji, .. }) => Some(emoji.clone()),
        _ => None,
    };
    let system = match &details.content {
        Some(Content::System {
            kind: Some(kind),
            new_wa_id: Some(new),
        }) if kind.ends_with("changed_number") => Some(new.clone()),
        _ => None,
    };
    let outcome = store
        .record_inbound(NewInbound {
            inbox_id: inbox_id.to_string(),
            wamid: m.id.clone(),
            contact,
            kind: parsed.kind,
            text: parsed.text,
            timestamp,
            awaits_target: reply_to.is_some() && target.is_none(),
            reply_to,
            details,
            raw: m.raw.to_string(),
        })
        .await?;
    // A redelivery still applies what it carries beyond the message itself (all of it
    // idempotent): a first delivery may have died after storing the message.
    let mut awaited = false;
    let (created, redelivered) = match outcome {
        InboundOutcome::Created {
            message: created,
            conversation,
            awaited: waits_on_it,
        } => {
            awaited = waits_on_it;
            summary.messages_created += 1;
            // The customer wrote: a resolved or snoozed conversation is open again, and
            // one nobody owns may go to the next online member (from the same copy).
            let conversation = crate::store::change_conversation_from(
                store,
                *conversation,
                &crate::store::WorkflowChange::CustomerWrote { stored_at: None },
                None,
            )
            .await?;
            crate::store::auto_assign(store, &conversation, crate::store::now_ms()).await?;
            (Some(created), None)
        }
        InboundOutcome::Duplicate => {
            summary.duplicates += 1;
            let stored = store
                .message_by_wamid(inbox_id, &m.id)
                .await?
                .filter(|s| s.direction == Direction::In);
            if let Some(stored) = &stored {
                crate::store::change_conversation(
                    store,
                    &stored.conversation_id,
                    &crate::store::WorkflowChange::CustomerWrote {
                        stored_at: Some(stored.created_at),
                    },
                    None,
                )
                .await?;
            }
            (None, stored)
        }
    };
    if media_pending {
        let now = crate::store::now_ms();
        if let Some(created) = &created {
            store
                .schedule_job(Job::new(JobKind::Media, created.id.clone(), now, 0))
                .await?;
            summary.media_queued += 1;
        } else if let Some(stored) = &redelivered
            && stored
                .details
                .media
                .as_ref()
                .is_some_and(|md| md.state == crate::model::MediaState::Pending)
            && store
                .add_job_if_missing(Job::new(JobKind::Media, stored.id.clone(), now, 0))
                .await?
        {
            tracing::info!(message = %stored.id, "webhook: redelivery queued a download its first delivery did not");
            summary.media_queued += 1;
        }
    }
    if let (Some(emoji), Some(target)) = (reaction, &target) {
        react(store, &target.id, Direction::In, emoji, timestamp).await?;
    }
    if let (Some(new), Some(old)) = (system, m.from.as_deref()) {
        match store.change_contact_phone(inbox_id, old, &new).await {
            Ok(true) => tracing::info!(old, new = %new, "webhook: customer changed number"),
            Ok(false) => {}
            Err(StoreError::Conflict(reason)) => {
                tracing::warn!(%reason, "webhook: number change not applied")
            }
            Err(e) => return Err(e),
        }
    }
    // A redelivery looks: its first delivery may have died before resolving them.
    match created {
        Some(created) if awaited => resolve_waiting_on(store, &created).await,
        Some(_) => Ok(()),
        None => match store.message_by_wamid(inbox_id, &m.id).await? {
            Some(stored) => resolve_waiting_on(store, &stored).await,
            None => Ok(()),
        },
    }
}

/// A message with a wamid just became known: reactions that were waiting for it land on
/// it, and replies quoting it learn what it said.
pub async fn resolve_waiting_on(store: &DynStore, target: &Message) -> StoreResult<()> {
    let Some(wamid) = &target.wamid else {
        return Ok(());
    };
    for waiting in store.replies_to(&target.inbox_id, wamid, 200).await? {
        match &waiting.details.content {
            Some(Content::Reaction { emoji, .. }) => {
                react(
                    store,
                    &target.id,
                    waiting.direction,
                    emoji.clone(),
                    waiting.timestamp,
                )
                .await?;
            }
            _ if waiting.details.quote.is_none() => {
                let quote = Quote::of(target);
                store
                    .edit_message(
                        &waiting.id,
                        Arc::new(move |w: &mut Message| {
                            w.details.quote = Some(quote.clone());
                            true
                        }),
                    )
                    .await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Sets one side's reaction on a message, unless a newer one is there already.
pub async fn react(
    store: &DynStore,
    target_id: &str,
    by: Direction,
    emoji: Option<String>,
    at: i64,
) -> StoreResult<Option<Message>> {
    store
        .edit_message(
            target_id,
            Arc::new(move |t: &mut Message| t.details.react(by, emoji.as_deref(), at)),
        )
        .await
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
