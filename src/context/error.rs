//! The one place where errors become HTTP statuses.
//!
//! Handlers and server functions return [`AppError`]. Client errors are logged at `info`
//! with their reason, server errors at `error`; the caller always gets a JSON body with a
//! reason it can act on, never internals.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// A free-form send outside the customer service window.
    #[error("{0}")]
    WindowClosed(String),
    /// A marketing template for a contact who opted out.
    #[error("{0}")]
    OptedOut(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A `Range` that starts past the end of a file of `length` bytes.
    #[error("the range asked for is outside the file's {length} bytes")]
    RangeNotSatisfiable { length: u64 },
    #[error("too many attempts; try again in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
    #[error("the store is unavailable; try again")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::WindowClosed(_) | Self::OptedOut(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::WindowClosed(_) => "window_closed",
            Self::OptedOut(_) => "opted_out",
            Self::PayloadTooLarge(_) => "too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn log(&self) {
        match self {
            Self::Unavailable(e) => {
                tracing::error!(error = %e, "request failed: store unavailable")
            }
            Self::Internal(detail) => tracing::error!(%detail, "request failed: internal error"),
            other => {
                tracing::info!(status = other.status().as_u16(), reason = %other, "request rejected")
            }
        }
    }

    /// The error as a server function returns it (which sets its HTTP status). Logs it
    /// once, here.
    pub fn into_api(self) -> ApiError {
        self.log();
        ApiError::new(self.status().as_u16(), self.code(), self.to_string())
    }
}

/// Lets server functions use `?` on anything that fails with an [`AppError`].
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        e.into_api()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into_api()
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Unavailable(_) => Self::Unavailable(e),
            StoreError::Corrupt(m) => Self::Internal(m),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        // RFC 9110 §15.5.17: a 416 says how long the file is.
        let range = match &self {
            Self::RangeNotSatisfiable { length } => Some(format!("bytes */{length}")),
            _ => None,
        };
        let body = self.into_api();
        let json = serde_json::to_string(&body).unwrap_or_else(|_| "{}".into());
        let mut res = (status, [(header::CONTENT_TYPE, "application/json")], json).into_response();
        if let Some(range) = range.and_then(|r| header::HeaderValue::from_str(&r).ok()) {
            res.headers_mut().insert(header::CONTENT_RANGE, range);
        }
        res
    }
}
