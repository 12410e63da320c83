//! Server-side page renders, each on a thread and runtime of its own.
//!
//! Leptos spawns effects for a page's `Suspense` boundaries onto the current tokio
//! runtime. On the shared multi-threaded runtime one of them could run on another worker
//! while the stream's end disposed the page's reactive owners, and the two then raced
//! inside the reactive graph: a panic on a disposed value, once a deadlock, and the page
//! stopped half-way. A render on a current-thread runtime of its own has nothing running
//! beside it, and whatever it spawned and left unfinished is dropped with the runtime.
//! (The UI's reads inside a `Suspense` also tolerate disposed state: see
//! `InboxCtx::shown`. Renders that still stalled after both had another cause: see
//! `page_routes` in `server/mod.rs`.)

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

/// Chunks of a page buffered between the render thread and the connection.
const BUFFERED_CHUNKS: usize = 16;
/// The longest a page may take to render and stream.
const RENDER_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Renders `GET` pages on their own thread; server functions and everything else pass.
pub async fn on_own_thread(req: Request, next: Next) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let (head_tx, head_rx) = oneshot::channel();
    let (body_tx, body_rx) = mpsc::channel::<Result<Bytes, axum::Error>>(BUFFERED_CHUNKS);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::error!(error = %e, "no runtime for a page render");
                return;
            }
        };
        let render = async move {
            let (parts, body) = next.run(req).await.into_parts();
            if head_tx.send(parts).is_err() {
                return;
            }
            let mut chunks = body.into_data_stream();
            loop {
                // The visitor left: stop rendering, even while the page waits on data.
                let chunk = tokio::select! {
                    _ = body_tx.closed() => return,
                    chunk = chunks.next() => chunk,
                };
                let Some(chunk) = chunk else { return };
                if body_tx.send(chunk).await.is_err() {
                    return;
                }
            }
        };
        // A render that never ends must not hold a thread for ever.
        if runtime
            .block_on(tokio::time::timeout(RENDER_LIMIT, render))
            .is_err()
        {
            tracing::error!(
                limit_s = RENDER_LIMIT.as_secs(),
                "a page render did not finish; cut off"
            );
        }
        // Whatever the render spawned and did not finish goes with it; never wait on it.
        runtime.shutdown_background();
    });
    match head_rx.await {
        Ok(parts) => {
            let chunks = futures::stream::unfold(body_rx, |mut rx| async move {
                rx.recv().await.map(|chunk| (chunk, rx))
            });
            Response::from_parts(parts, Body::from_stream(chunks))
        }
        Err(_) => {
            tracing::error!("a page render ended before its response began");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
