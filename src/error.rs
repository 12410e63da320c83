//! The error a server function returns, as both the server and the browser see it.
//!
//! It travels as JSON (`{"status":404,"code":"not_found","message":"…"}`) and the server
//! sets the HTTP status from `status`, so plain HTTP callers get a real 4xx/5xx with a reason.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status; 0 when the request never reached the server.
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    /// On the server, inside a server function, this also sets the HTTP status of its
    /// answer (server functions answer 500 unless told otherwise): an error is mapped to
    /// HTTP here, once.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        let e = Self {
            status,
            code: code.to_string(),
            message: message.into(),
        };
        #[cfg(feature = "ssr")]
        if status >= 400 {
            e.set_response_status();
        }
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    /// Makes the server function's HTTP answer carry this error's status (and say it is
    /// JSON). Only when the request is a call of a server function (`/api/…`): while a
    /// page renders, its resources call server functions directly, and their errors
    /// (say, 401 for a visitor) must not become the page's status.
    #[cfg(feature = "ssr")]
    fn set_response_status(&self) {
        use leptos::prelude::use_context;
        let server_fn_call = use_context::<axum::http::request::Parts>()
            .is_some_and(|parts| parts.uri.path().starts_with("/api/"));
        let Some(res) = use_context::<leptos_axum::ResponseOptions>().filter(|_| server_fn_call)
        else {
            return;
        };
        if let Ok(status) = axum::http::StatusCode::from_u16(self.status) {
            res.set_status(status);
        }
        res.insert_header(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
    }

    /// True when the call may not have reached the server, so retrying it (with the same
    /// idempotency key) is safe and useful.
    pub fn is_transient(&self) -> bool {
        self.status == 0 || self.status == 502 || self.status == 503 || self.status == 504
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let e = Self::from_framework(value);
        #[cfg(feature = "ssr")]
        if e.status >= 400 {
            tracing::info!(status = e.status, reason = %e.message, "server function refused its request");
        }
        e
    }
}

impl ApiError {
    fn from_framework(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                Self::bad_request(format!("invalid arguments: {m}"))
            }
            ServerFnErrorErr::Request(m) => Self::new(0, "network", m),
            // On the server this is the request body failing to decode; in the browser it
            // is the response.
            ServerFnErrorErr::Deserialization(m) if cfg!(feature = "ssr") => {
                Self::bad_request(format!("invalid arguments: {m}"))
            }
            ServerFnErrorErr::Deserialization(m) => Self::new(
                0,
                "bad_response",
                format!("could not read the response: {m}"),
            ),
            ServerFnErrorErr::Serialization(m) => Self::new(500, "internal", m),
            other => Self::new(500, "internal", other.to_string()),
        }
    }
}
