//! The plain axum routes: Meta's webhook, the event socket, media and uploads, the
//! per-request authentication, and the simulator's stand-in for the Graph API. Each
//! handler reads the request, calls a service, and maps its answer; the rules live below.

pub mod auth;
pub mod export;
pub mod media;
pub mod metrics;
pub mod render;
pub mod sim;
pub mod uploads;
pub mod webhook;
pub mod ws;
