//! `GET /ws?since=N`: replay what the client missed, say `ready`, then stream live events.
//!
//! The socket subscribes to the hub *before* it reads the log, and replays only up to the
//! hub's head at that moment, so replay and live traffic meet without a gap; any overlap
//! is dropped by seq. A client that falls behind the broadcast buffer is closed with
//! [`CLOSE_TOO_SLOW`] rather than skipped, and comes back with `since`.
//!
//! A socket belongs to a signed-in caller and carries only the events of inboxes they may
//! see. An event frame that does not directly follow the previous one this socket sent
//! names that one's seq (`prev`), so the client can tell a hidden event of another inbox
//! from a lost one. The caller is
//! re-checked every half minute: signing out, being disabled or losing an inbox takes
//! effect on open sockets too.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::SinkExt;
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::realtime::hub::{Batch, Signal};
use tracing::Instrument;

use crate::accounts::auth;
use crate::context::AppError;
use crate::context::AppState;
use crate::context::Principal;
use crate::context::metrics::Stage;
use crate::context::presence;
use crate::model::{CLOSE_SIGNED_OUT, CLOSE_TOO_SLOW, ControlFrame, EventFrame};
use crate::store::Scope;

/// One timer per socket drives both checks below (a timer per check costs every socket a
/// second timer poll on each wake-up, and there are thousands of sockets).
const TICK: Duration = Duration::from_secs(10);
/// Ticks between pings (20 s).
const PING_TICKS: u64 = 2;
/// Ticks between re-checks of the caller (30 s).
const REAUTHORISE_TICKS: u64 = 3;
/// A send that takes longer than this means the peer is not reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const REPLAY_PAGE: usize = 500;
/// Batches written before one flush, so a burst is a few writes rather than one per event.
const BATCHES_PER_FLUSH: usize = 32;

#[derive(Debug, Deserialize)]
pub struct WsParams {
    since: Option<String>,
}

pub async fn handler(
    State(state): State<AppState>,
    Query(params): Query<WsParams>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let Some(Extension(principal)) = principal else {
        return Err(AppError::Unauthorized(
            "sign in, or send Authorization: Bearer <API token>".into(),
        ));
    };
    // A page on another site could open a socket that carries our cookie; refuse it.
    if principal.uses_cookie() && !crate::http::auth::same_origin(&headers) {
        tracing::warn!(user = %principal.user.email, "refused a cross-site WebSocket");
        return Err(AppError::Forbidden("cross-site WebSocket refused".into()));
    }
    let since = match params.since.as_deref() {
        None | Some("") => None,
        Some(s) => Some(s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            AppError::BadRequest(format!("since must be a non-negative integer, got {s:?}"))
        })?),
    };
    // Only the credentials are kept, to re-check them, and as owned strings: a header
    // value shares the request's whole read buffer, which would stay alive with the socket.
    let copy = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let credentials = Credentials {
        authorization: copy(header::AUTHORIZATION),
        cookie: copy(header::COOKIE),
    };
    Ok(ws
        // Clients send nothing but control frames (a pong is at most 131 bytes), so a small
        // read buffer is plenty; it is allocated per socket for its whole life, and the
        // default (128 KiB) would dominate memory use. A larger frame grows it as needed.
        .read_buffer_size(256)
        .max_message_size(64 * 1024)
        // Frames collect here until a flush, so a batch of events is one write.
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(1024 * 1024)
        .on_upgrade(move |socket| {
            // Every line the socket logs, for as long as it is open, carries its id.
            let span = tracing::info_span!("socket", id = %crate::store::new_id(), user = %principal.user.id);
            serve(socket, state, principal, credentials, since).instrument(span)
        })
        .into_response())
}

enum End {
    PeerGone,
    TooSlow,
    Shutdown,
    StoreDown,
    SignedOut,
}

/// What the socket was opened with, to re-check it now and then.
struct Credentials {
    authorization: Option<String>,
    cookie: Option<String>,
}

impl Credentials {
    fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in [
            (header::AUTHORIZATION, &self.authorization),
            (header::COOKIE, &self.cookie),
        ] {
            if let Some(v) = value.as_deref().and_then(|v| v.parse().ok()) {
                h.insert(name, v);
            }
        }
        h
    }
}

/// Runs one socket. What an idle socket holds is this future, at the size of its largest
/// state, for as long as the socket is open; with thousands open that size is the memory
/// per socket. So the rare steps (replay, re-checking the caller, closing) and anything
/// holding a timer (tokio pads each to 128 bytes) run boxed, and this is a plain function
/// returning an `async move` block: an `async fn` would keep a second copy of each
/// argument.
fn serve(
    mut socket: WebSocket,
    state: AppState,
    principal: Principal,
    credentials: Credentials,
    since: Option<i64>,
) -> impl Future<Output = ()> + Send {
    let Principal { user, scope, .. } = principal;
    let mut session = Session {
        scope,
        user_id: user.id.clone(),
        credentials,
        last: 0,
    };
    async move {
        let _counted = state.metrics.socket_opened();
        Box::pin(presence::socket_opened(&state, &user)).await;
        let end = match session.pump(&mut socket, &state, since).await {
            Err(end) => end,
            Ok(never) => match never {},
        };
        presence::socket_closed(&state, &user);
        Box::pin(close(socket, end)).await;
    }
}

/// Tells the client why the server ends the socket, when it is the server that does.
async fn close(mut socket: WebSocket, end: End) {
    let close = match end {
        End::TooSlow => {
            tracing::info!("ws: closing a client that fell behind; it will resume with since");
            Some((CLOSE_TOO_SLOW, "too slow: reconnect with since"))
        }
        End::Shutdown => Some((1001, "server shutting down")),
        End::StoreDown => Some((1011, "store unavailable: reconnect with since")),
        End::SignedOut => Some((CLOSE_SIGNED_OUT, "signed out")),
        End::PeerGone => None,
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        // A slow client has a backlog to read before it reaches the close frame; give it
        // as long as any other send. Everyone else gets it at once or not at all.
        let wait = if code == CLOSE_TOO_SLOW {
            SEND_TIMEOUT
        } else {
            Duration::from_secs(1)
        };
        let _ = tokio::time::timeout(wait, socket.send(Message::Close(Some(frame)))).await;
    }
}

struct Session {
    scope: Scope,
    user_id: String,
    credentials: Credentials,
    /// Seq of the last frame sent: the next event frame's `prev`.
    last: i64,
}

impl Session {
    /// Is this presence or typing signal for this socket's user?
    fn wants(&self, signal: &Signal) -> bool {
        signal
            .inbox_id
            .as_deref()
            .is_none_or(|i| self.scope.allows(i))
            && signal.skip_user.as_deref() != Some(self.user_id.as_str())
    }

    /// An event frame for this socket. When it directly follows the last one sent, the
    /// shared frame goes as it is (no copy per socket); otherwise `prev` is added.
    fn event_frame(&mut self, seq: i64, frame: &Utf8Bytes) -> Message {
        let message = if seq == self.last + 1 {
            Message::Text(frame.clone())
        } else {
            // The shared frame, read back with `prev` added.
            match serde_json::from_str::<EventFrame>(frame) {
                Ok(mut parts) => {
                    parts.prev = Some(self.last);
                    Message::Text(parts.to_json().into())
                }
                Err(_) => Message::Text(frame.clone()),
            }
        };
        self.last = seq;
        message
    }

    /// Runs the socket until it has to end, and says why.
    ///
    /// The socket is not split into halves: one task owns it and reads only between
    /// writes, which saves a lock on every read and write (`select!` drops the pending
    /// read before a branch writes, and that read is cancel-safe).
    async fn pump(
        &mut self,
        sink: &mut WebSocket,
        state: &AppState,
        since: Option<i64>,
    ) -> Result<Infallible, End> {
        let mut live = state.hub.subscribe();
        let mut signals = state.hub.subscribe_signals();
        let head = state.hub.head();
        Box::pin(self.replay(sink, state, since, head)).await?;
        let mut seen = head.max(since.unwrap_or(0));
        let mut queued = state.metrics.socket_live(seen);

        let mut timer = tokio::time::interval(TICK);
        timer.tick().await;
        let mut ticks: u64 = 0;
        let mut answered = true;
        // Made once: a fresh one per wake-up would register with the token each time, and
        // thousands of sockets would queue on its lock.
        let shutdown = state.shutdown.cancelled();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return Err(End::Shutdown),
                received = live.recv() => {
                    let batch = match received {
                        Ok(batch) => batch,
                        Err(RecvError::Lagged(_)) => return Err(End::TooSlow),
                        Err(RecvError::Closed) => return Err(End::Shutdown),
                    };
                    within_send_timeout(self.write_live(sink, state, &mut live, batch, &mut seen))
                        .await?;
                    queued.handed(seen);
                }
                signal = signals.recv() => match signal {
                    Ok(signal) if self.wants(&signal) => {
                        let frame = Message::Text(signal.frame.as_str().into());
                        within_send_timeout(send(sink, frame)).await?;
                    }
                    Ok(_) => {}
                    // Signals are best effort: one missed is soon made again.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return Err(End::Shutdown),
                },
                incoming = sink.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(End::PeerGone),
                    // Any traffic proves the peer is alive; the protocol has no client frames.
                    Some(Ok(_)) => answered = true,
                },
                _ = timer.tick() => {
                    ticks += 1;
                    if ticks.is_multiple_of(PING_TICKS) {
                        if !answered {
                            return Err(End::PeerGone);
                        }
                        answered = false;
                        send(sink, Message::Ping(Default::default())).await?;
                    }
                    if ticks.is_multiple_of(REAUTHORISE_TICKS) {
                        let headers = self.credentials.headers();
                        match Box::pin(auth::authenticate(&state.store, &headers)).await {
                            Ok(Some(p)) => self.scope = p.scope,
                            Ok(None) => return Err(End::SignedOut),
                            // A store hiccup is not a sign-out; keep the current scope.
                            Err(_) => {}
                        }
                    }
                }
            }
        }
    }
}

impl Session {
    /// Sends what the client missed since `since` (up to `head`, where live traffic
    /// takes over), then `ready`; or `resync` when `since` is out of the log's reach.
    async fn replay(
        &mut self,
        sink: &mut WebSocket,
        state: &AppState,
        since: Option<i64>,
        head: i64,
    ) -> Result<(), End> {
        self.last = head;
        match since {
            None => send(sink, control("ready", head)).await?,
            Some(n) => {
                let bounds = state
                    .store
                    .event_bounds()
                    .await
                    .map_err(|_| End::StoreDown)?;
                if n < bounds.floor || n > bounds.head {
                    // Older than we keep, or from another database: start over.
                    send(sink, control("resync", head)).await?;
                } else {
                    self.last = n;
                    let mut cursor = n;
                    while cursor < head {
                        let page = state
                            .store
                            .events_after(cursor, REPLAY_PAGE)
                            .await
                            .map_err(|_| End::StoreDown)?;
                        let Some(tail) = page.last().map(|e| e.seq) else {
                            break;
                        };
                        for e in page.iter().filter(|e| e.seq <= head) {
                            if self.scope.allows(&e.inbox_id) {
                                let frame = self.event_frame(e.seq, &e.frame_json().into());
                                send(sink, frame).await?;
                            }
                        }
                        cursor = tail;
                    }
                    self.last = self.last.max(head.max(n));
                    send(sink, control("ready", head.max(n))).await?;
                }
            }
        }
        Ok(())
    }

    /// Writes this batch and any already waiting behind it, then flushes once: a burst is
    /// a few writes rather than one per event. The caller bounds the whole call with one
    /// timeout (one timer per wake-up, not one per frame).
    async fn write_live(
        &mut self,
        sink: &mut WebSocket,
        state: &AppState,
        live: &mut broadcast::Receiver<Batch>,
        mut batch: Batch,
        seen: &mut i64,
    ) -> Result<(), End> {
        let mut wrote = false;
        // The oldest event in this write: its wait is the fan-out latency.
        let mut oldest: Option<std::time::Instant> = None;
        for _ in 0..BATCHES_PER_FLUSH {
            for e in batch.iter() {
                if e.resync {
                    // An event arrived below what this socket was sent: start over.
                    let seq = e.seq.max(*seen);
                    sink.feed(control("resync", seq))
                        .await
                        .map_err(|_| End::PeerGone)?;
                    self.last = seq;
                    *seen = seq;
                    wrote = true;
                    continue;
                }
                if e.seq <= *seen {
                    continue;
                }
                *seen = e.seq;
                if self.scope.allows(&e.inbox_id) {
                    let frame = self.event_frame(e.seq, &e.frame);
                    sink.feed(frame).await.map_err(|_| End::PeerGone)?;
                    wrote = true;
                    oldest.get_or_insert(e.taken);
                }
            }
            batch = match live.try_recv() {
                Ok(next) => next,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(_)) => return Err(End::TooSlow),
                Err(TryRecvError::Closed) => return Err(End::Shutdown),
            };
        }
        if wrote {
            sink.flush().await.map_err(|_| End::PeerGone)?;
        }
        if let Some(taken) = oldest {
            state.metrics.observe(Stage::Fanout, taken.elapsed());
        }
        Ok(())
    }
}

fn control(kind: &str, seq: i64) -> Message {
    Message::Text(ControlFrame { kind, seq }.to_json().into())
}

/// Sends at once (control frames, replay).
async fn send(sink: &mut WebSocket, msg: Message) -> Result<(), End> {
    within_send_timeout(async { sink.send(msg).await.map_err(|_| End::PeerGone) }).await
}

/// A peer that does not take our bytes within the timeout is not reading: it is too slow.
async fn within_send_timeout(
    op: impl std::future::Future<Output = Result<(), End>>,
) -> Result<(), End> {
    Box::pin(tokio::time::timeout(SEND_TIMEOUT, op))
        .await
        .unwrap_or(Err(End::TooSlow))
}
