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

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::model::{MediaState, Message};
use crate::server::admin::effective_credentials;
use crate::server::auth::Principal;
use crate::server::error::AppError;
use crate::server::state::AppState;
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
        download(state, &m).await
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
    let token = effective_credentials(&state.config, &inbox)
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

/// `GET /media/{message_id}`: the stored file, for agents who may see its inbox.
pub async fn serve(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Path(message_id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, AppError> {
    let Some(Extension(principal)) = principal else {
        return Err(AppError::Unauthorized("sign in to see media".into()));
    };
    if uuid::Uuid::parse_str(&message_id).is_err() {
        return Err(AppError::NotFound("media"));
    }
    let m = state
        .store
        .message(&message_id)
        .await?
        .filter(|m| principal.can_see(&m.inbox_id))
        .ok_or(AppError::NotFound("media"))?;
    let media = m.details.media.clone().ok_or(AppError::NotFound("media"))?;
    if media.state != MediaState::Stored {
        return Err(AppError::Conflict(format!(
            "the file is {}: {}",
            media.state.as_str(),
            media.error.unwrap_or_else(|| "not downloaded yet".into())
        )));
    }
    // Streamed: a 100 MB document is never held in memory.
    let file = match state.files.open(&m.id).await {
        Ok(Some(f)) => f,
        Ok(None) => {
            tracing::error!(message = %m.id, files = %state.files.describe(), "media: stored file is missing");
            return Err(AppError::NotFound("media file"));
        }
        Err(e) => {
            tracing::error!(message = %m.id, error = %e, "media: stored file cannot be read");
            return Err(AppError::Internal(format!("media file: {e}")));
        }
    };
    let length = file.size();
    // Video and audio players seek with `Range`; one range is served, several are not
    // (answering the whole file is allowed and no player asks for more than one).
    let range = match headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| byte_range(v, length))
    {
        Some(Ok(range)) => range,
        Some(Err(())) => return Err(AppError::RangeNotSatisfiable { length }),
        None => None,
    };
    let (status, first, count) = match range {
        Some((first, last)) => (StatusCode::PARTIAL_CONTENT, first, last - first + 1),
        None => (StatusCode::OK, 0, length),
    };
    let stream = file
        .read(first, count)
        .await
        .map_err(|e| AppError::Internal(format!("media file: {e}")))?;
    let body = axum::body::Body::from_stream(stream);
    let stored_mime = media
        .mime_type
        .as_deref()
        .and_then(safe_mime)
        .unwrap_or_else(|| "application/octet-stream".into());
    let (mime, disposition) = presentation(&stored_mime);
    let filename = media
        .filename
        .unwrap_or_else(|| format!("{}.{}", m.kind.as_str(), extension(&stored_mime)));
    let mut res = (
        status,
        [
            (header::CONTENT_TYPE, mime),
            (
                header::CONTENT_DISPOSITION,
                content_disposition(disposition, &filename),
            ),
            // Files never change under an id; only signed-in browsers may keep them.
            (header::CACHE_CONTROL, "private, max-age=86400".into()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            // Even a file a browser does open runs no script and loads nothing.
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".into(),
            ),
            (header::CONTENT_LENGTH, count.to_string()),
            (header::ACCEPT_RANGES, "bytes".into()),
        ],
        body,
    )
        .into_response();
    if let Some((first, last)) = range
        && let Ok(v) = header::HeaderValue::from_str(&format!("bytes {first}-{last}/{length}"))
    {
        res.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    Ok(res)
}

/// Reads a `Range` header against a file of `length` bytes: `Ok(Some((first, last)))`
/// for one satisfiable range, `Ok(None)` for anything to ignore (not bytes, several
/// ranges, malformed), `Err(())` when the range starts past the end.
fn byte_range(value: &str, length: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    let (first, last) = match (start.is_empty(), end.is_empty()) {
        // `-n`: the last n bytes.
        (true, false) => match parse(end) {
            Some(0) => return Err(()),
            Some(n) => (length.saturating_sub(n), length.saturating_sub(1)),
            None => return Ok(None),
        },
        (false, true) => match parse(start) {
            Some(first) => (first, length.saturating_sub(1)),
            None => return Ok(None),
        },
        (false, false) => match (parse(start), parse(end)) {
            (Some(first), Some(last)) if first <= last => {
                (first, last.min(length.saturating_sub(1)))
            }
            _ => return Ok(None),
        },
        (true, true) => return Ok(None),
    };
    if first >= length {
        return Err(());
    }
    Ok(Some((first, last)))
}

fn extension(mime: &str) -> &'static str {
    match mime.split(';').next().unwrap_or("").trim() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "application/pdf" => "pdf",
        _ => "bin",
    }
}

/// Types a browser shows without running anything in them. Every other file a customer
/// or an agent sends (HTML, SVG, XML, scripts, archives) is only ever downloaded.
const INLINE_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "video/mp4",
    "video/3gpp",
    "audio/aac",
    "audio/amr",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "application/pdf",
];

/// The `Content-Type` and disposition a stored file is served with: passive types
/// inline as themselves, anything else as an opaque download.
fn presentation(mime: &str) -> (String, &'static str) {
    let essence = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if INLINE_TYPES.contains(&essence.as_str()) {
        (mime.to_string(), "inline")
    } else {
        ("application/octet-stream".into(), "attachment")
    }
}

/// `Content-Disposition` with the file's name: a plain-ASCII fallback for old clients
/// and the exact name in RFC 6266's `filename*`, so no name can break the header.
fn content_disposition(disposition: &str, filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC);
    format!("{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

/// MIME types from Meta are trusted only as far as their shape: `type/subtype` plus
/// parameters, printable ASCII, so they are safe to echo in a header.
fn safe_mime(s: &str) -> Option<String> {
    let s = s.trim();
    let main = s.split(';').next().unwrap_or("").trim();
    let shaped = main.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && main
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/.+-".contains(c))
    });
    (shaped && s.chars().all(|c| (' '..='~').contains(&c))).then(|| s.to_string())
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

    #[test]
    fn one_byte_range_is_served_and_others_are_ignored_or_refused() {
        assert_eq!(byte_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(byte_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=-500", 100), Ok(Some((0, 99))));
        assert_eq!(byte_range("bytes=50-5000", 100), Ok(Some((50, 99))));
        for ignored in [
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=9-2",
            "bytes=x-",
            "bytes=-",
        ] {
            assert_eq!(byte_range(ignored, 100), Ok(None), "{ignored}");
        }
        assert_eq!(byte_range("bytes=100-", 100), Err(()));
        assert_eq!(byte_range("bytes=-0", 100), Err(()));
        assert_eq!(byte_range("bytes=0-", 0), Err(()));
    }

    #[test]
    fn only_passive_types_are_served_inline() {
        for passive in [
            "image/jpeg",
            "audio/ogg; codecs=opus",
            "application/pdf",
            "video/mp4",
        ] {
            assert_eq!(presentation(passive), (passive.to_string(), "inline"));
        }
        for active in [
            "text/html",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/xml",
            "TEXT/HTML; charset=utf-8",
            "application/javascript",
        ] {
            assert_eq!(
                presentation(active),
                ("application/octet-stream".to_string(), "attachment"),
                "{active}"
            );
        }
    }

    #[test]
    fn any_file_name_makes_a_valid_header() {
        for name in [
            "a\u{1}b.pdf",
            "x\ty\r\n.pdf",
            "\"quoted\".pdf",
            "fatura ção.pdf",
            "\u{7f}",
        ] {
            let v = content_disposition("attachment", name);
            assert!(header::HeaderValue::from_str(&v).is_ok(), "{name:?} -> {v}");
        }
        assert_eq!(
            content_disposition("inline", "ação 1.pdf"),
            "inline; filename=\"a__o 1.pdf\"; filename*=UTF-8''a%C3%A7%C3%A3o%201%2Epdf"
        );
    }

    #[test]
    fn only_plain_mime_types_reach_a_header() {
        assert!(safe_mime("audio/ogg; codecs=opus").is_some());
        assert!(safe_mime("text/html\r\nX: y").is_none());
        assert!(safe_mime("nonsense").is_none());
    }
}
