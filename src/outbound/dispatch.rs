//! Handing a stored message to Meta, and what happens when Meta says no.
//!
//! Retryable errors (rate limits, Meta's transient codes, 5xx, timeouts) schedule a
//! durable job with exponential backoff and jitter; the message stays pending and says
//! when the next attempt is. Every attempt sends the same stored message with the same
//! callback id, and an attempt is skipped once a receipt has tied the message to a wamid,
//! so a send whose answer was lost is never sent twice. A bad access token pauses the
//! whole inbox instead of failing every message. Anything else fails the message with
//! Meta's code and reason.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::context::AppError;
use crate::context::AppState;
use crate::model::{Direction, ErrorInfo, Message, MessageStatus, Waiting};
use crate::store::{Job, JobKind, StoreResult, now_ms, pause_key};
use crate::whatsapp::client::{CallError, Recovery};

use crate::context::throttle::hold_key;

/// Attempts before a retryable error is shown as a failure.
pub const MAX_ATTEMPTS: i64 = 8;

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// While an inbox is paused, queued sends look again this often.
const PAUSED_RECHECK: Duration = Duration::from_secs(10);

/// Runs the first attempt inline, so the caller's answer already says accepted, waiting
/// or failed. It runs in its own task: a caller that goes away cannot cut it short.
pub async fn first_attempt(state: &AppState, message: Message) -> Result<Message, AppError> {
    let task_state = state.clone();
    let id = message.id.clone();
    let task = tokio::spawn(async move { attempt(&task_state, &id, 0).await });
    match task.await {
        Ok(result) => Ok(result?),
        Err(e) => Err(AppError::Internal(format!("send task failed: {e}"))),
    }
}

/// A scheduled retry (from the job runner).
pub async fn run_job(state: &AppState, job: &Job) -> StoreResult<()> {
    attempt(state, &job.key, job.attempts).await.map(|_| ())
}

/// One attempt to hand message `id` to Meta; `done` attempts were made before.
async fn attempt(state: &AppState, id: &str, done: i64) -> StoreResult<Message> {
    let store = &state.store;
    let Some(m) = store.message(id).await? else {
        store.finish_job(JobKind::Send, id).await?;
        return Err(crate::store::StoreError::NotFound("message"));
    };
    // Accepted already (a receipt linked it while the answer was lost), or given up.
    if m.wamid.is_some() || m.status != MessageStatus::Pending || m.direction != Direction::Out {
        store.finish_job(JobKind::Send, id).await?;
        return clear_waiting(state, m).await;
    }
    if let Some(reason) = store.setting(&pause_key(&m.inbox_id)).await? {
        let at = now_ms() + PAUSED_RECHECK.as_millis() as i64;
        schedule(state, id, at, done).await?;
        return set_waiting(state, &m, format!("Sending is paused: {reason}"), None).await;
    }
    if let Some(until) = held_until(state, &m.inbox_id).await? {
        // Spread the queued sends over a second so they do not all hit the limit again.
        let at = until + rand::rng().random_range(0..1000);
        schedule(state, id, at, done).await?;
        return set_waiting(
            state,
            &m,
            "WhatsApp's rate limit for this number (130429) — waiting for it to lift".into(),
            Some(at),
        )
        .await;
    }
    let (Some(inbox), Some(conversation)) = (
        store.inbox(&m.inbox_id).await?,
        store.conversation(&m.conversation_id).await?,
    ) else {
        store.finish_job(JobKind::Send, id).await?;
        return fail(
            state,
            &m,
            "The inbox or conversation no longer exists",
            None,
        )
        .await;
    };
    let token = state
        .config
        .credentials(&inbox)
        .access_token
        .unwrap_or_default();
    let m = match upload_if_needed(state, m, &token, &inbox.phone_number_id).await? {
        Uploaded::Ready(m) => m,
        // A duplicate upload costs nothing: only the send itself can be uncertain.
        Uploaded::Failed(m, e) => return handle_error(state, &m, done + 1, e, false).await,
        Uploaded::Missing(m, detail) => {
            store.finish_job(JobKind::Send, id).await?;
            return fail(state, &m, "The file to send is missing", Some(detail)).await;
        }
    };
    let body = match super::request_body(&m, &conversation.contact) {
        Ok(b) => b,
        Err(reason) => {
            store.finish_job(JobKind::Send, id).await?;
            return fail(state, &m, "This message cannot be sent", Some(reason)).await;
        }
    };
    let started = std::time::Instant::now();
    let result = state
        .cloud
        .send(&token, &inbox.phone_number_id, &body)
        .await;
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_info().code.to_string(),
    };
    state.metrics.send(&outcome, started.elapsed());
    match result {
        Ok(response) => {
            store.finish_job(JobKind::Send, id).await?;
            let Some(accepted) = response.messages.first() else {
                return fail(
                    state,
                    &m,
                    "WhatsApp accepted the request but returned no message id",
                    None,
                )
                .await;
            };
            let m = clear_waiting(state, m).await?;
            let m = store.mark_accepted(&m.id, &accepted.id).await?;
            if let Some(crate::model::Content::Reaction { target, emoji }) = &m.details.content
                && let Some(t) = store.message_by_wamid(&m.inbox_id, target).await?
            {
                crate::whatsapp::ingest::react(
                    store,
                    &t.id,
                    Direction::Out,
                    emoji.clone(),
                    m.timestamp,
                )
                .await?;
            }
            Ok(m)
        }
        Err(e) => handle_error(state, &m, done + 1, e, true).await,
    }
}

/// Where a message's own file stands before the send.
enum Uploaded {
    /// Nothing to upload, or Meta has it: the message carries its media id.
    Ready(Message),
    /// The upload failed; handled like a failed send.
    Failed(Message, CallError),
    /// The file is gone: the message cannot be sent.
    Missing(Message, String),
}

/// A message with a file of ours (an agent's upload) needs Meta's media id before it can
/// go out. The id is kept on the message, so a later attempt does not upload again.
async fn upload_if_needed(
    state: &AppState,
    m: Message,
    token: &str,
    phone_number_id: &str,
) -> StoreResult<Uploaded> {
    let Some(media) = m
        .details
        .media
        .clone()
        .filter(|md| md.media_id.is_none() && md.link.is_none())
    else {
        return Ok(Uploaded::Ready(m));
    };
    let file = match state.files.open(&m.id).await {
        Ok(Some(file)) => file,
        Ok(None) => {
            let detail = format!(
                "the file is no longer in {}; attach it again",
                state.files.describe()
            );
            return Ok(Uploaded::Missing(m, detail));
        }
        Err(e) => {
            let e = CallError::Transport(format!("cannot read the file to upload: {e}"));
            return Ok(Uploaded::Failed(m, e));
        }
    };
    let mime = media
        .mime_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let filename = media
        .filename
        .clone()
        .unwrap_or_else(|| m.kind.as_str().to_string());
    let media_id = match state
        .cloud
        .upload_media(token, phone_number_id, file, &mime, &filename)
        .await
    {
        Ok(id) => id,
        Err(e) => return Ok(Uploaded::Failed(m, e)),
    };
    tracing::info!(message = %m.id, %media_id, "send: file uploaded to WhatsApp");
    let mut m = m;
    if let Some(md) = m.details.media.as_mut() {
        md.media_id = Some(media_id.clone());
    }
    let edit: crate::store::MessageEdit = Arc::new(move |msg: &mut Message| {
        msg.details.media.as_mut().is_some_and(|md| {
            md.media_id = Some(media_id.clone());
            true
        })
    });
    let updated = state.store.edit_message(&m.id, edit).await?;
    Ok(Uploaded::Ready(updated.unwrap_or(m)))
}

/// `sent` says the failed call was the send itself, which Meta may have accepted.
async fn handle_error(
    state: &AppState,
    m: &Message,
    made: i64,
    e: CallError,
    sent: bool,
) -> StoreResult<Message> {
    let store = &state.store;
    let info = e.to_info();
    match e.recovery() {
        Recovery::PauseInbox => {
            let reason = format!(
                "WhatsApp rejected the access token ({}). An admin must replace it, then resume sending.",
                info.title
            );
            tracing::error!(inbox = %m.inbox_id, code = info.code, title = %info.title,
                "send: access token rejected; sending paused for this inbox");
            store.set_sending_paused(&m.inbox_id, Some(&reason)).await?;
            let at = now_ms() + PAUSED_RECHECK.as_millis() as i64;
            schedule(state, &m.id, at, made - 1).await?;
            set_waiting(state, m, format!("Sending is paused: {reason}"), None).await
        }
        Recovery::Retry { .. } if sent && e.outcome_unknown() && made < MAX_ATTEMPTS => {
            // Meta may have accepted it: a receipt will say so (and link it through its
            // callback id). Only when none comes for a good while is it sent again.
            let wait = state.config.uncertain_send_wait;
            let at = now_ms() + wait.as_millis() as i64;
            tracing::warn!(message = %m.id, attempt = made, wait_ms = wait.as_millis() as u64,
                error = %e, "send: outcome unknown; waiting for a receipt before trying again");
            schedule(state, &m.id, at, made).await?;
            set_waiting(
                state,
                m,
                format!(
                    "Outcome unknown — waiting for WhatsApp to confirm it ({}). Sent again \
                     only if no receipt comes.",
                    info.title.trim_end_matches('.')
                ),
                Some(at),
            )
            .await
        }
        Recovery::Retry { base, factor } if made < MAX_ATTEMPTS => {
            let wait = backoff(base, factor, made);
            let at = now_ms() + wait.as_millis() as i64;
            tracing::warn!(message = %m.id, code = info.code, attempt = made, wait_ms = wait.as_millis() as u64,
                error = %e, "send: transient failure; will retry");
            schedule(state, &m.id, at, made).await?;
            state.metrics.retry();
            if info.code == 130429 {
                hold(state, &m.inbox_id, at).await?;
            }
            set_waiting(
                state,
                m,
                format!(
                    "{} — retrying (attempt {} of {MAX_ATTEMPTS})",
                    info.title,
                    made + 1
                ),
                Some(at),
            )
            .await
        }
        _ => {
            tracing::warn!(message = %m.id, code = info.code, error = %e, "send: Cloud API refused");
            store.finish_job(JobKind::Send, &m.id).await?;
            let m = clear_waiting(state, m.clone()).await?;
            store.mark_send_failed(&m.id, &info).await
        }
    }
}

/// `base · factor^(n-1)`, capped, with ±25 % jitter so retries of many messages spread.
pub fn backoff(base: Duration, factor: u32, attempt: i64) -> Duration {
    let exp = u32::try_from(attempt.clamp(1, 16) - 1).unwrap_or(0);
    let raw = base
        .saturating_mul(factor.saturating_pow(exp))
        .min(MAX_BACKOFF);
    let jitter = rand::rng().random_range(0.75..1.25);
    raw.mul_f64(jitter)
}

async fn schedule(state: &AppState, id: &str, due_at: i64, attempts: i64) -> StoreResult<()> {
    state
        .store
        .schedule_job(Job::new(JobKind::Send, id, due_at, attempts))
        .await?;
    state.jobs.notify_one();
    Ok(())
}

async fn set_waiting(
    state: &AppState,
    m: &Message,
    reason: String,
    retry_at: Option<i64>,
) -> StoreResult<Message> {
    let waiting = Waiting { reason, retry_at };
    let edited = state
        .store
        .edit_message(
            &m.id,
            Arc::new(move |m: &mut Message| {
                m.details.waiting = Some(waiting.clone());
                true
            }),
        )
        .await?;
    Ok(edited.unwrap_or_else(|| m.clone()))
}

async fn clear_waiting(state: &AppState, m: Message) -> StoreResult<Message> {
    if m.details.waiting.is_none() {
        return Ok(m);
    }
    let edited = state
        .store
        .edit_message(
            &m.id,
            Arc::new(|m: &mut Message| m.details.waiting.take().is_some()),
        )
        .await?;
    Ok(edited.unwrap_or(m))
}

pub(super) async fn fail(
    state: &AppState,
    m: &Message,
    title: &str,
    detail: Option<String>,
) -> StoreResult<Message> {
    let m = clear_waiting(state, m.clone()).await?;
    state
        .store
        .mark_send_failed(
            &m.id,
            &ErrorInfo {
                code: 0,
                title: title.to_string(),
                detail,
            },
        )
        .await
}

/// Until when sends from `inbox_id` wait for Meta's rate limit (130429), if they must:
/// this process's hold, or one another instance stored.
async fn held_until(state: &AppState, inbox_id: &str) -> StoreResult<Option<i64>> {
    let now = now_ms();
    if let Some(until) = state.send_throttle.held_until(inbox_id, now) {
        return Ok(Some(until));
    }
    let shared = state
        .store
        .setting(&hold_key(inbox_id))
        .await?
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|until| *until > now);
    if let Some(until) = shared {
        state.send_throttle.hold(inbox_id, until);
    }
    Ok(shared)
}

/// Holds the number's sends until `until`, here and for every other instance.
async fn hold(state: &AppState, inbox_id: &str, until: i64) -> StoreResult<()> {
    state.send_throttle.hold(inbox_id, until);
    let latest = state
        .send_throttle
        .held_until(inbox_id, now_ms())
        .unwrap_or(until);
    state
        .store
        .set_setting(&hold_key(inbox_id), Some(&latest.to_string()))
        .await
}

/// Lifts an inbox's pause (after its token was replaced) and sends what queued up.
pub async fn resume(state: &AppState, inbox_id: &str) -> StoreResult<bool> {
    if !state.store.set_sending_paused(inbox_id, None).await? {
        return Ok(false);
    }
    tracing::info!(inbox = %inbox_id, "send: sending resumed");
    let now = now_ms();
    for job in state.store.due_jobs(i64::MAX, 10_000).await? {
        if job.kind != JobKind::Send {
            continue;
        }
        if let Some(m) = state.store.message(&job.key).await?
            && m.inbox_id == inbox_id
        {
            state.store.schedule_job(Job { due_at: now, ..job }).await?;
        }
    }
    state.jobs.notify_one();
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_the_factor_and_stays_capped() {
        let b = |n| backoff(Duration::from_secs(1), 4, n).as_secs_f64();
        assert!((0.75..1.25).contains(&b(1)));
        assert!((3.0..5.0).contains(&b(2)));
        assert!((12.0..20.0).contains(&b(3)));
        assert!(b(12) <= 300.0 * 1.25);
    }
}
