//! A thin Cloud API client: one method per call we make, Meta's error shape decoded.

use std::time::Duration;

use crate::model::ErrorInfo;
use crate::whatsapp::wire::{GraphErrorEnvelope, SendResponse, SendTextRequest};

/// Calls the Graph API. The access token is per inbox, so it is passed to each call.
#[derive(Clone)]
pub struct CloudApi {
    http: reqwest::Client,
    base: String,
}

/// Why a call to Meta did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// Meta answered with its error envelope.
    #[error("Graph API error {code} (HTTP {http_status}): {title}", code = .info.code, title = .info.title)]
    Api { http_status: u16, info: ErrorInfo },
    /// No usable answer: connection refused, reset, or an unreadable body.
    #[error("could not reach the Graph API: {0}")]
    Transport(String),
    #[error("the Graph API did not answer in time")]
    Timeout,
}

impl CallError {
    /// What the agent sees on the message.
    pub fn to_info(&self) -> ErrorInfo {
        match self {
            Self::Api { info, .. } => info.clone(),
            Self::Transport(detail) => ErrorInfo {
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
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST /{phone-number-id}/messages`.
    pub async fn send_text(
        &self,
        token: &str,
        phone_number_id: &str,
        request: &SendTextRequest,
    ) -> Result<SendResponse, CallError> {
        let url = format!("{}/{phone_number_id}/messages", self.base);
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(request)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| CallError::Transport(format!("unreadable success response: {e}")));
        }
        match serde_json::from_slice::<GraphErrorEnvelope>(&bytes) {
            Ok(envelope) => Err(CallError::Api {
                http_status: status.as_u16(),
                info: envelope.error.to_info(),
            }),
            Err(_) => Err(CallError::Api {
                http_status: status.as_u16(),
                info: ErrorInfo {
                    code: 0,
                    title: format!("HTTP {} from WhatsApp", status.as_u16()),
                    detail: Some(String::from_utf8_lossy(&bytes).chars().take(300).collect()),
                },
            }),
        }
    }
}

fn transport(e: reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::Timeout
    } else {
        CallError::Transport(e.to_string())
    }
}
