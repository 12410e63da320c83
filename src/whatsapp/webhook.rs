//! `GET/POST /webhook`, exactly as Meta calls it.
//!
//! POST order matters: check the signature over the raw bytes, keep the body, apply it,
//! and only then answer 200. A body that could not be kept or applied because the store is
//! down gets 503, so Meta delivers it again; re-delivery is harmless because every item is
//! idempotent. The kept body is also replayed at start-up if the process died mid-way.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::server::admin::effective_credentials;
use crate::server::error::AppError;
use crate::server::state::AppState;
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

pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let header = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    check_signature(&state, &body, header).await?;

    let id = hex::encode(Sha256::digest(&body));
    match state.store.save_webhook(&id, &body).await? {
        WebhookState::Done => {
            tracing::debug!(webhook = %id, "webhook: repeat delivery of a processed body");
            return Ok(StatusCode::OK);
        }
        WebhookState::New | WebhookState::Pending => {}
    }
    let summary = process(&state.store, &id, &body).await?;
    if summary.media_queued > 0 {
        state.jobs.notify_one();
    }
    Ok(StatusCode::OK)
}

/// The body must be signed with the app secret of every inbox it names (each inbox's own,
/// or the environment's). A body that names no known inbox is checked against the
/// environment's secret. Meta signs each app's deliveries with that app's secret, so a
/// genuine body never mixes numbers of different apps.
async fn check_signature(
    state: &AppState,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), AppError> {
    let mut secrets: Vec<String> = Vec::new();
    for pnid in wire::phone_number_ids(body) {
        if let Some(inbox) = state.store.inbox_by_phone_number_id(&pnid).await? {
            let secret = effective_credentials(&state.config, &inbox)
                .app_secret
                .unwrap_or_default();
            if !secrets.contains(&secret) {
                secrets.push(secret);
            }
        }
    }
    if secrets.is_empty() {
        secrets.push(state.config.whatsapp.app_secret.clone());
    }
    for secret in &secrets {
        signature::verify(secret.as_bytes(), body, header)
            .map_err(|e| AppError::Unauthorized(e.to_string()))?;
    }
    Ok(())
}

/// Applies a kept body and marks it finished. Shared by live delivery and start-up replay.
pub async fn process(store: &DynStore, id: &str, body: &[u8]) -> Result<Summary, AppError> {
    match ingest(store, body).await {
        Ok(summary) => {
            store.finish_webhook(id, None).await?;
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

/// Finishes bodies that were kept but not processed when the process last stopped.
pub async fn replay_unfinished(store: &DynStore) -> Result<usize, AppError> {
    let mut done = 0;
    loop {
        let batch = store.unfinished_webhooks(100).await?;
        if batch.is_empty() {
            return Ok(done);
        }
        for w in batch {
            // A body that fails as a bad request is marked finished inside `process`.
            match process(store, &w.id, &w.body).await {
                Ok(_) | Err(AppError::BadRequest(_)) => done += 1,
                Err(e) => return Err(e),
            }
        }
    }
}
