//! Switchboard: a self-hosted, real-time team inbox for the WhatsApp Business Cloud API.
//!
//! One crate, two builds: the server (`ssr`) and the hydrated browser app (`hydrate`).
//! Modules shared by both hold the domain model, the server functions' signatures and the
//! UI; everything under `server`, `store`, `realtime`, `whatsapp` and `simulator` runs on
//! the server only.

// Leptos view types nest deeply; the release WebAssembly build needs more query depth
// than the default to lay them out.
#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod error;
pub mod model;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod accounts;
#[cfg(feature = "ssr")]
pub mod audit;
#[cfg(feature = "ssr")]
pub mod canned;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod context;
#[cfg(feature = "ssr")]
pub mod exports;
#[cfg(feature = "ssr")]
pub mod files;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod jobs;
#[cfg(feature = "ssr")]
pub mod media;
#[cfg(feature = "ssr")]
pub mod outbound;
#[cfg(feature = "ssr")]
pub mod realtime;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod simulator;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod uploads;
#[cfg(feature = "ssr")]
pub mod webhooks;
#[cfg(feature = "ssr")]
pub mod whatsapp;
#[cfg(feature = "ssr")]
pub mod workflow;

/// The WebAssembly entry point: attach to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        ui::load_rendered_parts().await;
        leptos::mount::hydrate_lazy(app::App);
    });
}
