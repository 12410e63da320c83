//! What every handler and server function shares.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use tokio_util::sync::CancellationToken;

use super::catalog::Catalog;
use super::ratelimit::SignInLimiter;
use super::throttle::Throttle;
use crate::config::Config;
use crate::files::DynFiles;
use crate::realtime::hub::Hub;
use crate::simulator::Simulator;
use crate::store::DynStore;
use crate::whatsapp::client::CloudApi;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub leptos_options: LeptosOptions,
    pub config: Config,
    pub store: DynStore,
    /// Media files: downloaded from WhatsApp and attached by agents.
    pub files: DynFiles,
    pub hub: Hub,
    pub cloud: CloudApi,
    /// Present in simulator mode only.
    pub simulator: Option<Simulator>,
    /// Cancelled when the server shuts down; sockets and background tasks watch it.
    pub shutdown: CancellationToken,
    pub sign_in_limiter: SignInLimiter,
    /// Slots for password checks (Argon2 on blocking threads).
    pub password_checks: tokio::sync::Semaphore,
    /// Wakes the job runner (media downloads, send retries) before its next tick.
    pub jobs: Arc<tokio::sync::Notify>,
    /// Numbers WhatsApp told to slow down (130429): their sends wait.
    pub send_throttle: Throttle,
    /// Approved templates per inbox, read from WhatsApp Manager now and then.
    pub templates: Catalog,
    /// Users with a socket open here (for auto-assignment).
    pub presence: super::presence::Presence,
    /// What `GET /metrics` reports.
    pub metrics: super::metrics::Metrics,
    /// Posts outgoing webhooks: no redirects, and (unless allowed) no private addresses.
    pub webhook_http: reqwest::Client,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
