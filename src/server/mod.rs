//! Wiring: open the store, start the hub and the simulator, build the router, serve.

pub mod cli;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use leptos::config::{Env, LeptosOptions};
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::accounts;
use crate::app::{App, shell};
use crate::config::{self, Config, DatabaseConfig, MediaStoreConfig};
use crate::context::ratelimit::SignInLimiter;
use crate::context::{AppState, Inner};
use crate::files::DynFiles;
use crate::files::disk::DiskFiles;
use crate::files::mongo::MongoFiles;
use crate::http::webhook;
use crate::http::ws;
use crate::realtime::hub::Hub;
use crate::simulator::{Simulator, SimulatorSettings};
use crate::store::mongo::MongoStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{DynStore, StoreError};
use crate::whatsapp::client::CloudApi;

/// Why the server could not start. Printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the database: {}", reason(.0))]
    Store(StoreError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot create the first accounts: {0}")]
    Bootstrap(String),
    #[error(
        "the browser app in {} was built without --split, so its pages cannot load: \
         build it with `cargo leptos build --split` (or run scripts/serve)",
        .0.display()
    )]
    UnsplitBrowserBuild(std::path::PathBuf),
}

fn reason(e: &StoreError) -> String {
    match e {
        StoreError::Unavailable(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A started server. Dropping it does not stop it; call [`Running::stop`].
pub struct Running {
    pub addr: SocketAddr,
    /// Where `GET /metrics` is served, if `SWITCHBOARD_METRICS_ADDR` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    server: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// `http://127.0.0.1:PORT`, reachable even when bound to 0.0.0.0.
    pub fn url(&self) -> String {
        format!("http://{}", loopback(self.addr))
    }

    /// Closes sockets with a going-away frame and lets in-flight requests finish.
    pub async fn stop(self) {
        self.state.shutdown.cancel();
        if tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .is_err()
        {
            tracing::warn!("shutdown: requests still running after 10 s; exiting anyway");
        }
        // Upgraded sockets are not requests: the server does not wait for them. Each holds
        // a hub subscription until it has sent its going-away frame.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while self.state.hub.subscriber_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn until_signal(self) {
        let shutdown = self.state.shutdown.clone();
        tokio::select! {
            _ = wait_for_signal() => tracing::info!("shutting down"),
            _ = shutdown.cancelled() => {}
        }
        self.stop().await;
    }
}

fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// The Leptos settings, from the same `LEPTOS_*` variables cargo-leptos sets, so the built
/// binary also runs on its own.
pub fn leptos_options(site_addr: SocketAddr) -> LeptosOptions {
    let var = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.to_string());
    LeptosOptions::builder()
        .output_name(var("LEPTOS_OUTPUT_NAME", "switchboard"))
        .site_root(var("LEPTOS_SITE_ROOT", "target/site"))
        .site_pkg_dir(var("LEPTOS_SITE_PKG_DIR", "pkg"))
        .env(
            match var("LEPTOS_ENV", "DEV").to_ascii_uppercase().as_str() {
                "PROD" | "PRODUCTION" => Env::PROD,
                _ => Env::DEV,
            },
        )
        .site_addr(site_addr)
        .reload_port(var("LEPTOS_RELOAD_PORT", "3001").parse().unwrap_or(3001))
        .build()
}

/// The site's package directory, if the browser app in it was built without `--split`:
/// its lazy parts then have no loader and every page stops while hydrating. (No browser
/// build at all is fine: the pages still render on the server.)
fn unsplit_browser_build(options: &LeptosOptions) -> Option<std::path::PathBuf> {
    let pkg = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let built = [".wasm", "_bg.wasm"].iter().any(|suffix| {
        pkg.join(format!("{}{suffix}", options.output_name))
            .exists()
    });
    (built && !pkg.join("__wasm_split_manifest.json").exists()).then_some(pkg)
}

/// The store, and the files beside it (in MongoDB, through the store's client).
pub async fn open_storage(
    config: &DatabaseConfig,
    media: &MediaStoreConfig,
) -> Result<(DynStore, DynFiles), StoreError> {
    let disk = |dir: &std::path::PathBuf| -> DynFiles { Arc::new(DiskFiles::new(dir.clone())) };
    match config {
        DatabaseConfig::Sqlite(options) => {
            let options = options.clone();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(options))
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))??;
            let files = match media {
                MediaStoreConfig::Disk(dir) => disk(dir),
                // The configuration refuses this without MongoDB.
                MediaStoreConfig::Mongo => {
                    return Err(StoreError::Unavailable(
                        "media in the database needs MongoDB".into(),
                    ));
                }
            };
            Ok((Arc::new(store), files))
        }
        DatabaseConfig::Mongo(url) => {
            let store = MongoStore::connect(url).await?;
            let files = match media {
                MediaStoreConfig::Disk(dir) => disk(dir),
                MediaStoreConfig::Mongo => Arc::new(
                    MongoFiles::open(store.database())
                        .await
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?,
                ),
            };
            Ok((Arc::new(store), files))
        }
    }
}

/// Binds, opens everything and starts serving in the background.
pub async fn start(config: Config) -> Result<Running, StartError> {
    // reqwest is built without a default TLS provider; ring is the one MongoDB uses too.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let listener = TcpListener::bind(config.site_addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.site_addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.site_addr,
        source,
    })?;
    let app_url = format!("http://{}", loopback(addr));
    let leptos_options = leptos_options(addr);
    if let Some(pkg) = unsplit_browser_build(&leptos_options) {
        return Err(StartError::UnsplitBrowserBuild(pkg));
    }

    let (store, files) = open_storage(&config.database, &config.media)
        .await
        .map_err(StartError::Store)?;
    tracing::info!(files = %files.describe(), "media files");
    store
        .ensure_inbox(
            &config.whatsapp.phone_number_id,
            config.whatsapp.display_phone_number.as_deref(),
        )
        .await
        .map_err(StartError::Store)?;

    let shutdown = CancellationToken::new();
    let hub = Hub::start(
        store.clone(),
        config.socket_buffer,
        config.log_poll,
        shutdown.clone(),
    )
    .await
    .map_err(StartError::Store)?;
    if let Some(url) = &config.redis_url {
        // Validated with the configuration; a Redis that is down only delays cross-instance
        // delivery (hubs poll the log), so start-up does not wait for it.
        if let Ok(client) = crate::realtime::fanout::parse(url) {
            crate::realtime::fanout::start(client, hub.clone(), shutdown.clone());
        }
    }

    let (cloud, simulator) = match &config.whatsapp.api_base {
        Some(base) => (CloudApi::new(base, config.graph_timeout), None),
        None => {
            let sim = Simulator::new(SimulatorSettings {
                app_url: app_url.clone(),
                receipt_delays: config.simulator.receipt_delays,
            });
            let cloud = CloudApi::new(&Simulator::api_base(&app_url), config.graph_timeout);
            (cloud, Some(sim))
        }
    };

    if let Some(demo) = accounts::bootstrap(&store, &config)
        .await
        .map_err(|e| StartError::Bootstrap(e.to_string()))?
    {
        // Shown once here and on the sign-in page; deliberately not sent to the log.
        println!(
            "Simulator mode: sign in at {app_url}/login as {} with password {}",
            demo.email, demo.password
        );
    }
    if store
        .list_users()
        .await
        .map_err(StartError::Store)?
        .is_empty()
    {
        tracing::warn!(
            "no accounts exist: create an admin with `switchboard user add --role admin` \
             or SWITCHBOARD_ADMIN_EMAIL/SWITCHBOARD_ADMIN_PASSWORD"
        );
    }

    let config_allow_private = config.webhook_allow_private;
    let state = AppState::new(Inner {
        leptos_options,
        config,
        store,
        files,
        hub,
        cloud,
        simulator,
        shutdown: shutdown.clone(),
        sign_in_limiter: SignInLimiter::new(Duration::from_secs(15 * 60), 5, 30),
        password_checks: tokio::sync::Semaphore::new(
            crate::accounts::auth::PARALLEL_PASSWORD_CHECKS,
        ),
        jobs: std::sync::Arc::new(tokio::sync::Notify::new()),
        send_throttle: Default::default(),
        templates: Default::default(),
        presence: Default::default(),
        metrics: Default::default(),
        webhook_http: crate::webhooks::http_client(config_allow_private),
    });

    tokio::spawn(replay_unfinished_webhooks(state.clone()));
    tokio::spawn(trim_event_log(state.clone()));
    tokio::spawn(repair_store(state.clone()));
    crate::jobs::start(state.clone());
    tokio::spawn(crate::context::presence::beat(state.clone()));
    if state.config.metrics_addr.is_some() {
        tokio::spawn(crate::context::metrics::count_events(state.clone()));
    }
    crate::uploads::start_sweeper(state.clone());

    let metrics_addr = match state.config.metrics_addr {
        Some(at) => Some(serve_metrics(at, state.clone()).await?),
        None => None,
    };
    let app = router(state.clone());
    let server = tokio::spawn(
        axum::serve(
            // Small frames go out at once instead of waiting on Nagle's algorithm.
            listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            }),
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .into_future(),
    );
    tracing::info!(
        url = %app_url,
        mode = if state.simulator.is_some() { "simulator" } else { "live" },
        "Switchboard is serving"
    );
    Ok(Running {
        addr,
        metrics_addr,
        state,
        server,
    })
}

/// The metrics listener, apart from the app's so it can be bound where only Prometheus
/// reaches. Returns the address it is bound to.
async fn serve_metrics(at: SocketAddr, state: AppState) -> Result<SocketAddr, StartError> {
    let bind = |source| StartError::Bind { addr: at, source };
    let listener = TcpListener::bind(at).await.map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    let shutdown = state.shutdown.clone();
    let app = crate::http::metrics::routes(state);
    tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .into_future(),
    );
    tracing::info!(url = %format!("http://{}/metrics", loopback(addr)), "metrics are served");
    Ok(addr)
}

/// Every route the app serves.
pub fn router(state: AppState) -> Router {
    let routes = page_routes();
    let leptos_options = state.leptos_options.clone();
    let mut app = Router::new()
        .route(
            "/webhook",
            get(webhook::verify)
                .post(webhook::receive)
                .layer(DefaultBodyLimit::max(webhook::MAX_BODY))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    crate::http::metrics::count_webhooks,
                )),
        )
        .route("/ws", get(ws::handler))
        .route("/media/{message_id}", get(crate::http::media::serve))
        .route(
            "/uploads",
            post(crate::http::uploads::receive)
                .layer(DefaultBodyLimit::max(crate::uploads::MAX_UPLOAD as usize)),
        )
        .route(
            "/export/conversations/{id}",
            get(crate::http::export::conversation),
        )
        .route("/export/contacts.csv", get(crate::http::export::contacts))
        .route("/export/audit.csv", get(crate::http::export::audit))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if state.simulator.is_some() {
        app = app.nest("/_sim", crate::http::sim::routes());
    }
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, || {}, move || shell(leptos_options.clone()))
        .layer(middleware::from_fn(crate::http::render::on_own_thread));
    app.merge(pages)
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(crate::http::auth::csrf_guard))
        .layer(middleware::from_fn_with_state(state.clone(), crate::http::auth::resolve))
        // Paths only: query strings can carry secrets (the webhook handshake's verify token).
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            // `id` ties together every line one request logs.
            tracing::info_span!("request", id = %crate::store::new_id(), method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

/// The app's page routes, found once per process. Leptos finds them by rendering the app
/// with resource loads switched off for the whole process (`SuppressResourceLoad`), so
/// finding them again while another server of the process rendered a page left that
/// page waiting for data that never loaded.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready".to_string()),
        // The reason goes to the log, not to whoever asks: driver errors name hosts.
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readyz: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store unavailable".to_string(),
            )
        }
        Err(_) => {
            tracing::warn!("readyz: store gave no answer within 2 s");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store unavailable".to_string(),
            )
        }
    }
}

/// Applies webhook bodies that were kept but not finished (before the last stop, or for a
/// number that had no inbox yet: one created meanwhile, say by the CLI, gets them now),
/// and drops bodies and receipts older than their retention. Every instance does it; all
/// of it is idempotent.
async fn replay_unfinished_webhooks(state: AppState) {
    const EVERY: Duration = Duration::from_secs(600);
    loop {
        match webhook::replay_unfinished(&state.store).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "applied kept webhook bodies"),
            Err(e) => {
                tracing::error!(error = %e, "could not apply kept webhook bodies; will retry")
            }
        }
        let before = crate::store::now_ms() - state.config.webhook_retention.as_millis() as i64;
        match state.store.trim_received(before).await {
            Ok((0, 0)) => {}
            Ok((bodies, receipts)) => {
                tracing::info!(
                    bodies,
                    receipts,
                    "trimmed kept webhook bodies and receipts by age"
                )
            }
            Err(e) => tracing::warn!(error = %e, "trimming kept webhook bodies failed; will retry"),
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// Finishes writes a crashed process left half done (MongoDB), now and then.
async fn repair_store(state: AppState) {
    loop {
        match state.store.repair().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(repaired = n, "store: published changes left unpublished"),
            Err(e) => tracing::warn!(error = %e, "store: repair pass failed; will retry"),
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

/// Keeps the event log to its configured window.
async fn trim_event_log(state: AppState) {
    let keep = state.config.event_retention;
    // At start-up too, so a lowered retention takes effect at once.
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = Duration::from_secs(60);
        // Events still owed to a webhook subscription stay, however many there are.
        let owed = match crate::webhooks::owed_from(&state).await {
            Ok(owed) => owed,
            Err(e) => {
                tracing::warn!(error = %e, "event log trim skipped: webhook progress unavailable");
                continue;
            }
        };
        match state.store.event_bounds().await {
            Ok(b) if b.head - b.floor > keep && owed.is_none_or(|o| o > b.floor) => {
                let upto = owed.map_or(b.head - keep, |o| o.min(b.head - keep));
                match state.store.trim_events(upto).await {
                    Ok(n) => tracing::info!(removed = n, "event log trimmed"),
                    Err(e) => tracing::warn!(error = %e, "event log trim failed"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "event log bounds unavailable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options_for(site: &std::path::Path) -> LeptosOptions {
        LeptosOptions::builder()
            .output_name("switchboard")
            .site_root(site.display().to_string())
            .site_pkg_dir("pkg")
            .build()
    }

    #[test]
    fn a_browser_build_without_split_is_refused_with_the_command_that_fixes_it() {
        let site = tempfile::tempdir().unwrap();
        let options = options_for(site.path());
        // No browser build: the server still renders pages.
        assert_eq!(unsplit_browser_build(&options), None);
        std::fs::create_dir(site.path().join("pkg")).unwrap();
        std::fs::write(site.path().join("pkg/switchboard.wasm"), b"\0asm").unwrap();
        let problem = StartError::UnsplitBrowserBuild(
            unsplit_browser_build(&options).expect("an unsplit build is found"),
        )
        .to_string();
        assert!(problem.contains("cargo leptos build --split"), "{problem}");
        std::fs::write(site.path().join("pkg/__wasm_split_manifest.json"), b"{}").unwrap();
        assert_eq!(unsplit_browser_build(&options), None);
    }
}
