//! Server functions: the browser's (and any script's) request/response API.
//!
//! Each is `POST /api/<name>` with a JSON body of its arguments and a JSON answer, so they
//! are as usable from `curl` (with `Authorization: Bearer <token>`) as from the ChatBox.
//! Every one but sign-in needs a caller, and every id it is given is checked against the
//! caller's inboxes: an id from another inbox is answered exactly like one that does not
//! exist (404).

mod account;
mod admin;
mod data;
mod inbox;
mod team;
mod webhooks;

pub use account::*;
pub use admin::*;
pub use data::*;
pub use inbox::*;
pub use team::*;
pub use webhooks::*;

/// Largest page `load_messages` returns.
pub const MAX_PAGE: u32 = 200;
pub const DEFAULT_PAGE: u32 = 50;

/// Server-side plumbing shared by the server functions.
#[cfg(feature = "ssr")]
pub(crate) mod ctx {
    use axum::http::request::Parts;
    use leptos::prelude::use_context;

    use crate::context::AppError;
    use crate::context::AppState;
    use crate::context::Principal;
    use crate::error::ApiError;

    pub fn state() -> Result<AppState, ApiError> {
        use_context::<AppState>()
            .ok_or_else(|| ApiError::new(500, "internal", "server state missing"))
    }

    fn parts() -> Result<Parts, ApiError> {
        use_context::<Parts>().ok_or_else(|| ApiError::new(500, "internal", "request missing"))
    }

    /// The signed-in caller, or 401.
    pub fn principal() -> Result<Principal, ApiError> {
        parts()?
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| AppError::Unauthorized("sign in first".into()).into())
    }

    pub fn headers() -> Result<axum::http::HeaderMap, ApiError> {
        Ok(parts()?.headers)
    }

    /// The client's address: the peer, or the proxy's `X-Forwarded-For` when trusted.
    pub fn client_address(state: &AppState) -> String {
        match parts() {
            Ok(parts) => {
                crate::http::auth::client_address(state, &parts.headers, &parts.extensions)
            }
            Err(_) => "unknown".into(),
        }
    }

    /// The caller as the audit log names them.
    pub fn actor(state: &AppState, principal: &Principal) -> crate::audit::Actor {
        crate::audit::Actor::user(&principal.user, client_address(state))
    }

    pub use crate::workflow::visible_conversation;
}
