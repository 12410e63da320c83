//! Inbound media: fetched from Meta as soon as it arrives, checked, and kept by the app.
//!
//! Meta's download URLs live five minutes and its media ids seven days, so the file is
//! fetched at once: `GET /{media-id}` for a fresh URL, a download with the bearer token,
//! and a SHA-256 check against the webhook's hash. An expired URL is fetched again; other
//! failures retry with backoff (state `failed`, shown to agents); media older than the id's
//! lifetime is marked `unavailable`. The download streams into the app's file store
//! (disk or MongoDB) with the hash computed on the way, so a 100 MB document is never held
//! in memory. Agents read files through `/media/{message_id}`, never from Meta.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::context::AppState;
use crate::model::{MediaState, Message};
use crate::store::{Job, JobKind, StoreResult, now_ms};
use crate::whatsapp::client::{CallError, Download};

/// Meta keeps an inbound media id for seven days.
pub const MEDIA_ID_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// Download attempts before a file is left `failed` for good.
pub const MAX_ATTEMPTS: i64 = 6;

/// Largest file accepted (Meta's document limit).
const MAX_BYTES: u64 = 100 * 1024 * 1024;

/// Why one download attempt failed.
enum Failure {
    /// Try again later.
    Retry(String),
    /// It will never work (the id expired at Meta, the file is too big).
    Gone(String),
}

/// Runs one download job.
pub async fn run_job(state: &AppState, job: &Job) -> StoreResult<()> {
    let store = &state.store;
    let Some(m) = store.message(&job.key).await? else {
        return store.finish_job(JobKind::Media, &job.key).await;
    };
    let Some(media) = m.details.media.clone() else {
        return store.finish_job(JobKind::Media, &job.key).await;
    };
    if matches!(media.state, MediaState::Stored | MediaState::Unavailable) {
        return store.finish_job(JobKind::Media, &job.key).await;
    }
    let attempt = job.attempts + 1;
    let age = now_ms() / 1000 - m.timestamp;
    let outcome = if age > MEDIA_ID_LIFETIME_SECS {
        Err(Failure::Gone(
            "older than the 7 days WhatsApp keeps media; ask the customer to send it again".into(),
        ))
    } else {
        let started = std::time::Instant::now();
        let got = download(state, &m).await;
        state
            .metrics
            .observe(crate::context::metrics::Stage::Media, started.elapsed());
        got
    };
    match outcome {
        Ok((size, mime)) => {
            store.finish_job(JobKind::Media, &m.id).await?;
            update(state, &m.id, move |md| {
                md.state = MediaState::Stored;
                md.size = Some(size);
                md.attempts = attempt;
                md.error = None;
                if md.mime_type.is_none() {
                    md.mime_type = mime.clone();
                }
            })
            .await?;
            tracing::info!(message = %m.id, size, "media: stored");
        }
        Err(Failure::Gone(reason)) => {
            store.finish_job(JobKind::Media, &m.id).await?;
            tracing::warn!(message = %m.id, %reason, "media: unavailable");
            update(state, &m.id, move |md| {
                md.state = MediaState::Unavailable;
                md.attempts = attempt;
                md.error = Some(reason.clone());
            })
            .await?;
        }
        Err(Failure::Retry(reason)) => {
            let last = attempt >= MAX_ATTEMPTS;
            tracing::warn!(message = %m.id, attempt, %reason, last, "media: download failed");
            if last {
                store.finish_job(JobKind::Media, &m.id).await?;
            } else {
                let wait = crate::outbound::dispatch::backoff(Duration::from_secs(2), 2, attempt);
                store
                    .schedule_job(Job::new(
                        JobKind::Media,
                        m.id.clone(),
                        now_ms() + wait.as_millis() as i64,
                        attempt,
                    ))
                    .await?;
            }
            update(state, &m.id, move |md| {
                md.state = MediaState::Failed;
                md.attempts = attempt;
                md.error = Some(if last {
                    format!("{reason} (gave up after {attempt} attempts)")
                } else {
                    format!("{reason} (retrying)")
                });
            })
            .await?;
        }
    }
    Ok(())
}

/// Queues a new download of a message whose media failed for good.
pub async fn refetch(state: &AppState, m: &Message) -> StoreResult<()> {
    state
        .store
        .schedule_job(Job::new(JobKind::Media, m.id.clone(), now_ms(), 0))
        .await?;
    update(state, &m.id, |md| {
        md.state = MediaState::Pending;
        md.error = None;
    })
    .await?;
    state.jobs.notify_one();
    Ok(())
}

async fn update(
    state: &AppState,
    id: &str,
    change: impl Fn(&mut crate::model::Media) + Send + Sync + 'static,
) -> StoreResult<()> {
    state
        .store
        .edit_message(
            id,
            Arc::new(move |m: &mut Message| match m.details.media.as_mut() {
                Some(md) => {
                    change(md);
                    true
                }
                None => false,
            }),
        )
        .await?;
    Ok(())
}

/// Fetches a fresh URL, downloads, checks the hash and writes the file. Returns its size
/// and the MIME type Meta states.
async fn download(state: &AppState, m: &Message) -> Result<(i64, Option<String>), Failure> {
    let media = m
        .details
        .media
        .as_ref()
        .ok_or(Failure::Gone("no media".into()))?;
    let media_id = media
        .media_id
        .as_deref()
        .ok_or(Failure::Gone("WhatsApp sent no media id".into()))?;
    let inbox = match state.store.inbox(&m.inbox_id).await {
        Ok(Some(i)) => i,
        Ok(None) => return Err(Failure::Gone("the inbox no longer exists".into())),
        Err(e) => return Err(Failure::Retry(e.to_string())),
    };
    let token = state
        .config
        .credentials(&inbox)
        .access_token
        .unwrap_or_default();
    // A URL can expire between the lookup and the download: look it up once more.
    for _ in 0..2 {
        let url = match state.cloud.media_url(&token, media_id).await {
            Ok(u) => u,
            Err(CallError::Api {
                http_status: 404 | 400,
                info,
            }) => {
                return Err(Failure::Gone(format!(
                    "WhatsApp no longer has this media: {}",
                    info.title
                )));
            }
            Err(e) => return Err(Failure::Retry(e.to_string())),
        };
        match state.cloud.download(&token, &url.url).await {
            Ok(body) => {
                let expected = media.sha256.as_deref().or(url.sha256.as_deref());
                let size = keep(state, &m.id, body, expected).await?;
                return Ok((size, url.mime_type));
            }
            Err(CallError::Api {
                http_status: 401 | 403 | 404,
                ..
            }) => {
                tracing::info!(message = %m.id, "media: download URL expired; fetching a new one");
                continue;
            }
            Err(e) => return Err(Failure::Retry(e.to_string())),
        }
    }
    Err(Failure::Retry("the download URL kept expiring".into()))
}

/// Streams a download into the file store, hashing it on the way. The file is kept only
/// if it is whole, within the size limit and matches WhatsApp's hash.
async fn keep(
    state: &AppState,
    id: &str,
    mut body: Download,
    expected: Option<&str>,
) -> Result<i64, Failure> {
    let too_big = || Failure::Gone("the file is larger than 100 MB".into());
    if body.stated_len().is_some_and(|n| n > MAX_BYTES) {
        return Err(too_big());
    }
    let mut file = state
        .files
        .create(id)
        .await
        .map_err(|e| Failure::Retry(format!("could not store the file: {e}")))?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let outcome = loop {
        let chunk = match body.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break Ok(()),
            Err(e) => break Err(Failure::Retry(format!("the download broke off: {e}"))),
        };
        size += chunk.len() as u64;
        if size > MAX_BYTES {
            break Err(too_big());
        }
        hasher.update(&chunk);
        if let Err(e) = file.write(&chunk).await {
            break Err(Failure::Retry(format!("could not store the file: {e}")));
        }
    };
    let digest = hasher.finalize();
    let outcome = outcome.and_then(|()| match expected {
        Some(expected) if !hash_matches(expected, &digest) => Err(Failure::Retry(
            "the downloaded file does not match WhatsApp's SHA-256".into(),
        )),
        _ => Ok(()),
    });
    match outcome {
        Ok(()) => file
            .finish()
            .await
            .map(|n| n as i64)
            .map_err(|e| Failure::Retry(format!("could not store the file: {e}"))),
        Err(failure) => {
            file.abort().await;
            Err(failure)
        }
    }
}

/// Meta states the hash as base64 in webhooks and as hex in some media answers.
fn hash_matches(expected: &str, digest: &[u8]) -> bool {
    let expected = expected.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(expected)
        .ok()
        .filter(|d| d.len() == 32)
        .or_else(|| hex::decode(expected).ok());
    decoded.is_some_and(|d| d == digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_compare_as_base64_or_hex() {
        let digest = Sha256::digest(b"hello");
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert!(hash_matches(&b64, &digest));
        assert!(hash_matches(&hex::encode(digest), &digest));
        assert!(!hash_matches("not a hash", &digest));
    }
}
