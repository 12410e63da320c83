//! A thin Cloud API client: one method per call we make, Meta's error shape decoded.

use std::time::Duration;

use serde::Deserialize;

use crate::model::ErrorInfo;
use crate::whatsapp::wire::{GraphErrorEnvelope, SendResponse};

/// Calls the Graph API. The access token is per inbox, so it is passed to each call.
#[derive(Clone)]
pub struct CloudApi {
    http: reqwest::Client,
    base: String,
    /// The timeout of a call with a small answer; uploads add time for their size.
    timeout: Duration,
}

/// An upload may take the Graph timeout plus this long per MiB (a slow 256 KiB/s link)...
const UPLOAD_SECS_PER_MIB: u64 = 4;
/// ...and at most this long in all.
pub const MAX_UPLOAD_TIMEOUT: Duration = Duration::from_secs(240);

/// How long an upload of `len` bytes may take.
pub fn upload_timeout(graph_timeout: Duration, len: u64) -> Duration {
    let mib = len.div_ceil(1024 * 1024);
    (graph_timeout + Duration::from_secs(mib.saturating_mul(UPLOAD_SECS_PER_MIB)))
        .min(MAX_UPLOAD_TIMEOUT.max(graph_timeout))
}

/// Why a call to Meta did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// Meta answered with its error envelope.
    #[error("Graph API error {code} (HTTP {http_status}): {title}", code = .info.code, title = .info.title)]
    Api { http_status: u16, info: ErrorInfo },
    /// The connection could not be made: the request never left, so trying again soon
    /// cannot send anything twice.
    #[error("could not connect to the Graph API: {0}")]
    Unreachable(String),
    /// No usable answer after the request went out: reset, or an unreadable body. Meta may
    /// have accepted it.
    #[error("could not reach the Graph API: {0}")]
    Transport(String),
    /// Meta may have accepted it.
    #[error("the Graph API did not answer in time")]
    Timeout,
}

/// What to do after a failed call, as Meta's error codes say (§6.1 of the reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Try again after a backoff starting at `base`, growing by `factor` each attempt.
    Retry { base: Duration, factor: u32 },
    /// The access token is bad: stop sending for the whole inbox until it is replaced.
    PauseInbox,
    /// Terminal: show the failure.
    GiveUp,
}

impl CallError {
    pub fn recovery(&self) -> Recovery {
        let seconds = |s| Recovery::Retry {
            base: Duration::from_secs(s),
            factor: 2,
        };
        match self {
            Self::Timeout | Self::Transport(_) | Self::Unreachable(_) => seconds(2),
            Self::Api { http_status, info } => match info.code {
                190 => Recovery::PauseInbox,
                0 if *http_status == 401 => Recovery::PauseInbox,
                // Pair rate limit: Meta suggests waiting 4^n seconds.
                131056 => Recovery::Retry {
                    base: Duration::from_secs(1),
                    factor: 4,
                },
                130429 | 131000 | 131016 | 1 | 2 => seconds(1),
                // Graph call-rate limits reset over minutes.
                4 | 80007 => seconds(60),
                _ if *http_status >= 500 => seconds(1),
                _ => Recovery::GiveUp,
            },
        }
    }

    /// The request may have reached Meta and been accepted although no answer said so:
    /// sending it again blindly could deliver it twice.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Timeout | Self::Transport(_))
    }

    /// What the agent sees on the message.
    pub fn to_info(&self) -> ErrorInfo {
        match self {
            Self::Api { info, .. } => info.clone(),
            Self::Unreachable(detail) | Self::Transport(detail) => ErrorInfo {
                code: 0,
                title: "Could not reach WhatsApp".into(),
                detail: Some(detail.clone()),
            },
            Self::Timeout => ErrorInfo {
                code: 0,
                title: "WhatsApp did not answer in time".into(),
                detail: None,
            },
        }
    }
}

impl CloudApi {
    pub fn new(base: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            timeout,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST /{phone-number-id}/messages` with any message body.
    pub async fn send(
        &self,
        token: &str,
        phone_number_id: &str,
        body: &serde_json::Value,
    ) -> Result<SendResponse, CallError> {
        let url = format!("{}/{phone_number_id}/messages", self.base);
        let request = self.http.post(url).bearer_auth(token).json(body);
        let bytes = Self::call(request).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CallError::Transport(format!("unreadable success response: {e}")))
    }

    /// Marks `wamid` (and everything before it) read, and shows "typing…" when `typing`.
    pub async fn mark_read(
        &self,
        token: &str,
        phone_number_id: &str,
        wamid: &str,
        typing: bool,
    ) -> Result<(), CallError> {
        let mut body = serde_json::json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
        });
        if typing {
            body["typing_indicator"] = serde_json::json!({ "type": "text" });
        }
        let url = format!("{}/{phone_number_id}/messages", self.base);
        Self::call(self.http.post(url).bearer_auth(token).json(&body))
            .await
            .map(|_| ())
    }

    /// `POST /{phone-number-id}/media`: uploads a file and returns Meta's media id (valid
    /// for 30 days). The file is streamed from where the app keeps it, not read into memory.
    pub async fn upload_media(
        &self,
        token: &str,
        phone_number_id: &str,
        file: Box<dyn crate::files::StoredFile>,
        mime_type: &str,
        filename: &str,
    ) -> Result<String, CallError> {
        #[derive(Deserialize)]
        struct Uploaded {
            id: String,
        }
        let len = file.size();
        let stream = file
            .read(0, len)
            .await
            .map_err(|e| CallError::Transport(format!("cannot read the file to upload: {e}")))?;
        let body = reqwest::Body::wrap_stream(stream);
        let part = reqwest::multipart::Part::stream_with_length(body, len)
            .file_name(filename.to_string())
            .mime_str(mime_type)
            .map_err(|e| CallError::Transport(format!("bad media type {mime_type:?}: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_string())
            .part("file", part);
        let url = format!("{}/{phone_number_id}/media", self.base);
        let request = self
            .http
            .post(url)
            .bearer_auth(token)
            .timeout(upload_timeout(self.timeout, len))
            .multipart(form);
        let bytes = Self::call(request).await?;
        serde_json::from_slice::<Uploaded>(&bytes)
            .map(|u| u.id)
            .map_err(|e| CallError::Transport(format!("unreadable upload answer: {e}")))
    }

    /// `GET /{media-id}`: a fresh download URL (valid for about five minutes).
    pub async fn media_url(&self, token: &str, media_id: &str) -> Result<MediaUrl, CallError> {
        let url = format!("{}/{media_id}", self.base);
        let bytes = Self::call(self.http.get(url).bearer_auth(token)).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CallError::Transport(format!("unreadable media answer: {e}")))
    }

    /// `GET /{waba-id}/message_templates`: one page of the approved templates, from the
    /// `after` cursor of the previous page.
    pub async fn message_templates(
        &self,
        token: &str,
        waba_id: &str,
        after: Option<&str>,
    ) -> Result<super::templates::TemplatePage, CallError> {
        let mut url = reqwest::Url::parse(&format!("{}/{waba_id}/message_templates", self.base))
            .map_err(|e| CallError::Transport(format!("bad template list URL: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair(
                    "fields",
                    "name,language,status,category,components,parameter_format",
                )
                .append_pair("status", "APPROVED")
                .append_pair("limit", "100");
            if let Some(after) = after {
                query.append_pair("after", after);
            }
        }
        let bytes = Self::call(self.http.get(url).bearer_auth(token)).await?;
        super::templates::parse_page(&bytes)
            .map_err(|e| CallError::Transport(format!("unreadable template list: {e}")))
    }

    /// Starts downloading a media URL with the bearer token, as Meta requires. The body is
    /// left to the caller to read chunk by chunk.
    pub async fn download(&self, token: &str, url: &str) -> Result<Download, CallError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        if response.status().is_success() {
            return Ok(Download(response));
        }
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        Err(Self::api_error(status, &bytes))
    }

    async fn call(request: reqwest::RequestBuilder) -> Result<bytes::Bytes, CallError> {
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok(bytes);
        }
        Err(Self::api_error(status, &bytes))
    }

    fn api_error(status: reqwest::StatusCode, bytes: &[u8]) -> CallError {
        let info = match serde_json::from_slice::<GraphErrorEnvelope>(bytes) {
            Ok(envelope) => envelope.error.to_info(),
            Err(_) => ErrorInfo {
                code: 0,
                title: format!("HTTP {} from WhatsApp", status.as_u16()),
                detail: Some(String::from_utf8_lossy(bytes).chars().take(300).collect()),
            },
        };
        CallError::Api {
            http_status: status.as_u16(),
            info,
        }
    }
}

/// A whole media download may take this long (the Graph call timeout is for small
/// answers; a 100 MB document needs longer).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// A download under way.
pub struct Download(reqwest::Response);

impl Download {
    /// The size the server states, if it states one.
    pub fn stated_len(&self) -> Option<u64> {
        self.0.content_length()
    }

    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, CallError> {
        self.0.chunk().await.map_err(transport)
    }
}

/// `GET /{media-id}` answer. `file_size` is a number or a numeric string.
#[derive(Debug, Clone, Deserialize)]
pub struct MediaUrl {
    pub url: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
}

fn transport(e: reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::Timeout
    } else if e.is_connect() {
        CallError::Unreachable(e.to_string())
    } else {
        CallError::Transport(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_gets_time_for_its_size_within_a_cap() {
        let graph = Duration::from_secs(15);
        assert_eq!(upload_timeout(graph, 1000), Duration::from_secs(19));
        assert_eq!(
            upload_timeout(graph, 16 * 1024 * 1024),
            Duration::from_secs(15 + 64)
        );
        assert_eq!(upload_timeout(graph, 100 * 1024 * 1024), MAX_UPLOAD_TIMEOUT);
        assert!(upload_timeout(Duration::from_secs(600), 1) >= Duration::from_secs(600));
    }

    #[test]
    fn only_a_request_that_may_have_left_has_an_unknown_outcome() {
        assert!(CallError::Timeout.outcome_unknown());
        assert!(CallError::Transport("reset".into()).outcome_unknown());
        assert!(!CallError::Unreachable("refused".into()).outcome_unknown());
    }
}
