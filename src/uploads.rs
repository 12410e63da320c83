//! Files agents attach: `POST /uploads` keeps the file until a send claims it.
//!
//! The file is checked against what WhatsApp accepts (type and size, reference §8) while
//! it streams into the app's file store, so a 100 MB document never sits in memory and a wrong file is
//! refused before anything is stored. A send then claims the upload: the file becomes the
//! message's own (served by `/media/{message_id}` like any other), and the send job
//! uploads it to Meta (`POST /{phone-number-id}/media`) before the message goes out.
//! Uploads no send claimed are removed after a day.

use std::time::Duration;

use axum::body::Body;
use base64::Engine;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::context::{AppError, AppState, Principal};
use crate::model::{MessageKind, UploadInfo};
use crate::store::now_ms;

/// An upload no send has claimed is removed after this long.
const KEEP_UNCLAIMED: Duration = Duration::from_secs(24 * 3600);

/// A kept upload: the file, and this record beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upload {
    pub info: UploadInfo,
    /// Base64 SHA-256, as Meta states hashes.
    pub sha256: String,
    /// The user who uploaded it; only they can send it.
    pub by: String,
    pub at_ms: i64,
}

/// What WhatsApp accepts, and the largest file of each kind (reference §8).
pub fn kind_of(mime: &str) -> Option<(MessageKind, u64)> {
    const MB: u64 = 1024 * 1024;
    Some(match mime {
        "image/jpeg" | "image/png" => (MessageKind::Image, 5 * MB),
        "video/mp4" | "video/3gpp" => (MessageKind::Video, 16 * MB),
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => {
            (MessageKind::Audio, 16 * MB)
        }
        "image/webp" => (MessageKind::Sticker, 500 * 1024),
        "application/pdf"
        | "text/plain"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            (MessageKind::Document, 100 * MB)
        }
        _ => return None,
    })
}

/// The largest upload of any kind.
pub const MAX_UPLOAD: u64 = 100 * 1024 * 1024;

const FOLDER: &str = "uploads";

fn file_name(id: &str) -> String {
    format!("{FOLDER}/{id}")
}

fn record_name(id: &str) -> String {
    format!("{FOLDER}/{id}.json")
}

/// Upload records are a few hundred bytes; anything bigger is not one.
const MAX_RECORD: u64 = 64 * 1024;

/// A name safe to show and to put in a header: no path, no control characters.
fn clean_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty()).then_some(clean)
}

/// Keeps a file `principal` uploads, once it is one WhatsApp takes: `mime` is its
/// declared type without parameters, `filename` the name they gave it.
pub async fn keep(
    state: &AppState,
    principal: &Principal,
    mime: String,
    filename: Option<&str>,
    body: Body,
) -> Result<UploadInfo, AppError> {
    let Some((kind, max)) = kind_of(&mime) else {
        return Err(AppError::UnsupportedMediaType(format!(
            "WhatsApp does not take {:?} files; send JPEG or PNG images, MP4 or 3GP video, \
             AAC, AMR, MP3, M4A or OGG audio, WebP stickers, or PDF, Office and text documents",
            if mime.is_empty() { "untyped" } else { &mime }
        )));
    };
    let id = uuid::Uuid::new_v4().to_string();
    let filename = filename.and_then(clean_filename);
    let (size, sha256) = store_body(state, &id, body, max, kind).await?;
    let info = UploadInfo {
        upload: id.clone(),
        kind,
        mime_type: mime,
        filename,
        size: size as i64,
    };
    let upload = Upload {
        info: info.clone(),
        sha256,
        by: principal.user.id.clone(),
        at_ms: now_ms(),
    };
    let record = serde_json::to_vec(&upload)
        .map_err(|e| AppError::Internal(format!("upload record: {e}")))?;
    if let Err(e) = crate::files::write_all(&*state.files, &record_name(&id), &record).await {
        let _ = state.files.remove(&file_name(&id)).await;
        return Err(AppError::Internal(format!("cannot keep the upload: {e}")));
    }
    tracing::info!(upload = %id, kind = kind.as_str(), size, user = %principal.user.email, "upload kept");
    Ok(info)
}

/// Streams the body into the file store, refusing it once it passes `max`. Returns size
/// and hash.
async fn store_body(
    state: &AppState,
    id: &str,
    body: Body,
    max: u64,
    kind: MessageKind,
) -> Result<(u64, String), AppError> {
    let io = |e: std::io::Error| AppError::Internal(format!("cannot keep the upload: {e}"));
    let mut file = state.files.create(&file_name(id)).await.map_err(io)?;
    let mut hasher = sha2::Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    let outcome = loop {
        let Some(chunk) = stream.next().await else {
            break Ok(());
        };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                break Err(AppError::BadRequest(format!(
                    "the upload was cut short: {e}"
                )));
            }
        };
        size += chunk.len() as u64;
        if size > max {
            break Err(AppError::PayloadTooLarge(format!(
                "WhatsApp takes {} files of at most {} KiB",
                kind.as_str(),
                max / 1024
            )));
        }
        hasher.update(&chunk);
        if let Err(e) = file.write(&chunk).await {
            break Err(io(e));
        }
    };
    match outcome {
        Ok(()) if size == 0 => {
            file.abort().await;
            return Err(AppError::BadRequest("the file is empty".into()));
        }
        Ok(()) => {
            file.finish().await.map_err(io)?;
        }
        Err(e) => {
            file.abort().await;
            return Err(e);
        }
    }
    let sha = base64::engine::general_purpose::STANDARD.encode(hasher.finalize());
    Ok((size, sha))
}

/// The upload `id`, if it exists and `principal` made it.
pub async fn find(state: &AppState, principal: &Principal, id: &str) -> Result<Upload, AppError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound("upload"));
    }
    let bytes = match crate::files::read_all(&*state.files, &record_name(id), MAX_RECORD).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(AppError::NotFound("upload")),
        Err(e) => return Err(AppError::Internal(format!("cannot read the upload: {e}"))),
    };
    let upload: Upload = serde_json::from_slice(&bytes)
        .map_err(|e| AppError::Internal(format!("unreadable upload record {id}: {e}")))?;
    if upload.by != principal.user.id {
        return Err(AppError::NotFound("upload"));
    }
    Ok(upload)
}

/// Makes the upload's file message `message_id`'s file. A claimed upload is gone.
pub async fn claim(state: &AppState, id: &str, message_id: &str) -> std::io::Result<()> {
    if !state.files.rename(&file_name(id), message_id).await? {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("upload {id} is gone"),
        ));
    }
    // The record alone is harmless; the sweep removes it if this fails.
    let _ = state.files.remove(&record_name(id)).await;
    Ok(())
}

/// Removes uploads no send claimed within a day, and what writes of any file left
/// unfinished a day ago (a process that died mid-download or mid-upload; no write runs
/// that long). Runs hourly.
pub fn start_sweeper(state: AppState) {
    tokio::spawn(async move {
        loop {
            let removed = sweep(&state).await;
            if removed > 0 {
                tracing::info!(count = removed, "uploads: removed files no send claimed");
            }
            let before = now_ms() - KEEP_UNCLAIMED.as_millis() as i64;
            match state.files.sweep_unfinished(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "files: dropped what unfinished writes left"),
                Err(e) => {
                    tracing::warn!(error = %e, "files: cannot sweep unfinished writes; trying again later")
                }
            }
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            }
        }
    });
}

async fn sweep(state: &AppState) -> usize {
    let before = now_ms() - KEEP_UNCLAIMED.as_millis() as i64;
    let old = match state.files.older_than(FOLDER, before).await {
        Ok(names) => names,
        Err(e) => {
            tracing::warn!(error = %e, "uploads: cannot list old uploads; trying again later");
            return 0;
        }
    };
    let mut removed = 0;
    for name in old {
        match state.files.remove(&name).await {
            Ok(()) => removed += 1,
            Err(e) => tracing::warn!(file = %name, error = %e, "uploads: cannot remove"),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_metas_list() {
        assert_eq!(kind_of("image/png").map(|k| k.0), Some(MessageKind::Image));
        assert_eq!(
            kind_of("image/webp").map(|k| k.0),
            Some(MessageKind::Sticker)
        );
        assert_eq!(
            kind_of("application/pdf").map(|k| k.0),
            Some(MessageKind::Document)
        );
        assert_eq!(kind_of("image/gif"), None);
        assert_eq!(kind_of("application/x-msdownload"), None);
    }

    #[test]
    fn filenames_lose_paths_and_control_characters() {
        assert_eq!(
            clean_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            clean_filename("C:\\x\\a\"b\n.pdf").as_deref(),
            Some("ab.pdf")
        );
        assert_eq!(clean_filename("  "), None);
    }
}
