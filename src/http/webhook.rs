//! `GET/POST /webhook`, exactly as Meta calls it.
//!
//! POST order matters: check the signature over the raw bytes, keep the body, apply it,
//! and only then answer 200. A body that could not be kept or applied because the store is
//! down gets 503, so Meta delivers it again; re-delivery is harmless because every item is
//! idempotent. The kept body is also replayed at start-up if the process died mid-way.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::context::AppError;
use crate::context::AppState;
use crate::context::metrics::Stage;
use crate::store::{DynStore, WebhookState};
use crate::whatsapp::ingest::{IngestError, Summary, ingest};
use crate::whatsapp::{signature, wire};

/// Meta's payloads stay under about 3 MB.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// The verification handshake: echo `hub.challenge` when the token is the verify token
/// of the environment or of any inbox (the callback URL is shared, so the handshake does
/// not say which number it is for).
pub async fn verify(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mode = params.get("hub.mode").map(String::as_str);
    let token = params.get("hub.verify_token").map(String::as_str);
    let challenge = params.get("hub.challenge");
    let mut accepted = vec![state.config.whatsapp.verify_token.clone()];
    match state.store.list_inboxes().await {
        Ok(inboxes) => accepted.extend(
            inboxes
                .into_iter()
                .filter_map(|i| i.credentials.verify_token),
        ),
        Err(e) => return AppError::from(e).into_response(),
    }
    let matches = |token: &str| {
        accepted
            .iter()
            .any(|t| bool::from(token.as_bytes().ct_eq(t.as_bytes())))
    };
    match (mode, token, challenge) {
        (Some("subscribe"), Some(token), Some(challenge)) if matches(token) => {
            tracing::info!("webhook: verification handshake accepted");
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain")],
                challenge.clone(),
            )
                .into_response()
        }
        _ => {
            tracing::info!(mode = ?mode, "webhook: verification handshake refused");
            (StatusCode::FORBIDDEN, "verification failed").into_response()
        }
    }
}

/// Meta's deliveries name a handful of phone numbers at most; a body naming more is not
/// one of Meta's and is refused before a single number is looked up.
pub const MAX_NUMBERS_PER_BODY: usize = 16;

pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let header = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let started = Instant::now();
    check_signature(&state, &body, header).await?;
    state.metrics.observe(Stage::Verify, started.elapsed());

    let started = Instant::now();
    let id = hex::encode(Sha256::digest(&body));
    match state.store.save_webhook(&id, &body).await? {
        WebhookState::Done => {
            tracing::debug!(webhook = %id, "webhook: repeat delivery of a processed body");
            return Ok(StatusCode::OK);
        }
        WebhookState::New | WebhookState::Pending => {}
    }
    let summary = process(&state.store, &id, &body).await?;
    state.metrics.observe(Stage::Commit, started.elapsed());
    if summary.media_queued > 0 {
        state.jobs.notify_one();
    }
    Ok(StatusCode::OK)
}

/// The body must be signed with the app secret of every inbox it names (each inbox's own,
/// or the environment's). A body that names no known inbox is checked against the
/// environment's secret. Meta signs each app's deliveries with that app's secret, so a
/// genuine body never mixes numbers of different apps.
///
/// Refusing must stay cheap, since anyone can POST here. A missing or malformed header is
/// refused before the body is touched; then the signature is checked against the
/// environment's secret and, only if that fails, the inboxes' own secrets (a large
/// body is hashed off the runtime threads). A body no secret signed is refused without being parsed.
/// Only a signed body is read for the numbers it names, at most
/// [`MAX_NUMBERS_PER_BODY`] of which are looked up.
async fn check_signature(
    state: &AppState,
    body: &Bytes,
    header: Option<String>,
) -> Result<(), AppError> {
    let unauthorized = |e: signature::SignatureError| AppError::Unauthorized(e.to_string());
    signature::parse_header(header.as_deref()).map_err(unauthorized)?;
    let verify = |secret: String| {
        let (body, header) = (body.clone(), header.clone());
        off_runtime_if_large(body.len(), move || {
            signature::verify(secret.as_bytes(), &body, header.as_deref())
        })
    };
    let env_secret = state.config.whatsapp.app_secret.clone();
    let mut signed_by = None;
    let mut refusal = match verify(env_secret.clone()).await? {
        Ok(()) => {
            signed_by = Some(env_secret.clone());
            None
        }
        Err(e) => Some(e),
    };
    if signed_by.is_none() {
        let own: std::collections::BTreeSet<String> = state
            .store
            .list_inboxes()
            .await?
            .into_iter()
            .filter_map(|i| i.credentials.app_secret)
            .filter(|s| *s != env_secret)
            .collect();
        for secret in own {
            match verify(secret.clone()).await? {
                Ok(()) => {
                    signed_by = Some(secret);
                    refusal = None;
                    break;
                }
                Err(e) => refusal = Some(e),
            }
        }
    }
    let Some(signed_by) = signed_by else {
        return Err(unauthorized(
            refusal.unwrap_or(signature::SignatureError::Mismatch),
        ));
    };
    let numbers = {
        let body = body.clone();
        off_runtime_if_large(body.len(), move || wire::phone_number_ids(&body)).await?
    };
    if numbers.len() > MAX_NUMBERS_PER_BODY {
        tracing::warn!(
            numbers = numbers.len(),
            "webhook: refused a signed body naming more phone numbers than Meta ever sends"
        );
        return Err(AppError::Unauthorized(format!(
            "the body names {} phone numbers; Meta names at most {MAX_NUMBERS_PER_BODY}",
            numbers.len()
        )));
    }
    let mut known = false;
    for pnid in &numbers {
        if let Some(inbox) = state.store.inbox_by_phone_number_id(pnid).await? {
            known = true;
            let secret = state
                .config
                .credentials(&inbox)
                .app_secret
                .unwrap_or_default();
            if secret != signed_by {
                tracing::warn!(phone_number_id = %pnid, "webhook: body not signed with its inbox's app secret");
                return Err(unauthorized(signature::SignatureError::Mismatch));
            }
        }
    }
    if !known && signed_by != env_secret {
        return Err(unauthorized(signature::SignatureError::Mismatch));
    }
    Ok(())
}

/// Bodies up to this size are hashed and read on the runtime thread: a few microseconds,
/// where each hand-off to the blocking pool cost thread switches (with them, switching
/// threads was a third of the server's CPU at 3,000 webhooks/s). Larger ones, which only
/// a sender of junk makes, still go to the pool so they cannot hold up other requests.
const INLINE_BODY: usize = 64 * 1024;

async fn off_runtime_if_large<T: Send + 'static>(
    len: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    if len <= INLINE_BODY {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Internal(format!("reading the webhook body failed: {e}")))
}

/// Applies a kept body and marks it finished. Shared by live delivery and start-up replay.
/// A body naming a number no inbox has stays unfinished: it is applied again when an inbox
/// is created (Meta's webhook can beat the operator's setup), or trimmed with age.
pub async fn process(store: &DynStore, id: &str, body: &[u8]) -> Result<Summary, AppError> {
    match ingest(store, body).await {
        Ok(summary) => {
            if summary.unknown_numbers.is_empty() {
                store.finish_webhook(id, None).await?;
            }
            tracing::debug!(webhook = %id, ?summary, "webhook: processed");
            Ok(summary)
        }
        Err(IngestError::Payload(e)) => {
            // Signed by Meta but unusable: keep it (for audit) and say why.
            store.finish_webhook(id, Some(&e.to_string())).await?;
            Err(AppError::BadRequest(e.to_string()))
        }
        Err(IngestError::Store(e)) => Err(e.into()),
    }
}

/// Applies every kept body that is not finished: after a crash, and after an inbox is
/// created. Each is visited once per call (some stay unfinished, waiting for an inbox).
pub async fn replay_unfinished(store: &DynStore) -> Result<usize, AppError> {
    let mut done = 0;
    let mut after: Option<String> = None;
    loop {
        let batch = store.unfinished_webhooks(after.as_deref(), 100).await?;
        let Some(last) = batch.last() else {
            return Ok(done);
        };
        after = Some(last.id.clone());
        for w in batch {
            // A body that fails as a bad request is marked finished inside `process`.
            match process(store, &w.id, &w.body).await {
                Ok(s) if !s.unknown_numbers.is_empty() => {}
                Ok(_) | Err(AppError::BadRequest(_)) => done += 1,
                Err(e) => return Err(e),
            }
        }
    }
}
