//! The inbox page: conversation list, ChatBox and the live connection.

pub mod admin;
pub mod bubble;
pub mod chat_box;
pub mod inbox;
#[cfg(feature = "hydrate")]
pub mod live;
pub mod sign_in;
pub mod simulator;
pub mod state;
pub mod status_icon;
pub mod structured;
pub mod time;

/// Waits in the browser; a no-op elsewhere (nothing on the server waits through the UI).
pub async fn sleep_ms(ms: u32) {
    #[cfg(feature = "hydrate")]
    gloo_timers::future::TimeoutFuture::new(ms).await;
    #[cfg(not(feature = "hydrate"))]
    let _ = ms;
}
