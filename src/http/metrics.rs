//! `GET /metrics` on its own listener (`SWITCHBOARD_METRICS_ADDR`), and the middleware that
//! counts webhook POSTs by how they ended.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::context::metrics::{Gauges, webhook_outcome};
use crate::context::{AppError, AppState};
use crate::store::{now_ms, pause_key};

/// The metrics listener's routes: only `/metrics`, no authentication (bind it where only
/// Prometheus reaches).
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

/// The store-wide gauges are read at scrape time, so every instance reports the same.
async fn scrape(State(state): State<AppState>) -> Result<Response, AppError> {
    let due = state.store.count_due_jobs(now_ms()).await?;
    let head = state.store.event_bounds().await?.head;
    let mut paused = 0;
    for inbox in state.store.list_inboxes().await? {
        if state.store.setting(&pause_key(&inbox.id)).await?.is_some() {
            paused += 1;
        }
    }
    let text = state.metrics.render(Gauges {
        jobs_due: i64::try_from(due).unwrap_or(i64::MAX),
        event_log_head: head,
        paused_inboxes: paused,
        socket_queue_max: i64::try_from(state.hub.queue_depth()).unwrap_or(i64::MAX),
        broadcast_head: state.hub.head(),
        redis_connected: state.hub.redis_up(),
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Counts each webhook POST under the outcome its status names (a body over the limit is
/// refused before the handler runs, so this wraps the route, not the handler).
pub async fn count_webhooks(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let post = req.method() == Method::POST;
    let response = next.run(req).await;
    if post {
        state
            .metrics
            .webhook(webhook_outcome(response.status().as_u16()));
    }
    response
}
