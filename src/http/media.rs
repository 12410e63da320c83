//! `GET /media/{message_id}`: a message's file, for agents who may see its inbox, with
//! single byte ranges (audio and video seek) and only passive types shown inline.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::context::{AppError, AppState, Principal};
use crate::model::MediaState;

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
