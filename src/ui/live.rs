//! The browser end of `/ws`: resume from the last applied seq, apply events, reconnect.
//!
//! The client remembers the last seq it applied. Every (re)connect asks for `since` that
//! seq, so a dropped socket or a restarted server costs nothing but a replay. A live event
//! whose seq skips ahead means something was missed; the socket is dropped and resumed at
//! once, which repairs the gap from the server's log.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use futures::StreamExt;
use gloo_net::websocket::{Message as WsMessage, WebSocketError, futures::WebSocket};
use leptos::prelude::*;

use super::sleep_ms;
use super::state::{InboxCtx, LiveState};
use crate::model::{CLOSE_SIGNED_OUT, Frame};

pub fn start(ctx: InboxCtx, since: i64) {
    leptos::task::spawn_local(run(ctx, since));
}

fn socket_url(since: i64) -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!(
        "{scheme}://{}/ws?since={since}",
        location.host().ok()?
    ))
}

/// The waits between reconnects: from 0.25–0.5 s, doubling, to 15–30 s, with jitter so
/// that a server restart is not met by every browser at the same instant.
fn reconnect_waits() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(15))
        .with_jitter()
        // The browser's own randomness: each tab waits differently.
        .with_jitter_seed((js_sys::Math::random() * u64::MAX as f64) as u64)
        .without_max_times()
        .build()
}

enum Ended {
    /// The socket closed or failed.
    Dropped { was_ready: bool },
    /// A live seq skipped ahead: resume now.
    Gap,
    /// The session ended (signed out elsewhere, expired, or the account was disabled).
    SignedOut,
}

/// Back to the sign-in page, with a full load so no state of this session lingers.
fn to_sign_in() {
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href("/login");
    }
}

async fn run(ctx: InboxCtx, mut last_seq: i64) {
    let mut attempt: u32 = 0;
    let mut waits = reconnect_waits();
    let mut gaps_in_row: u32 = 0;
    let mut last_gap_at = 0.0;
    loop {
        let Some(url) = socket_url(last_seq) else {
            return;
        };
        if attempt == 0 {
            ctx.live.set(LiveState::Connecting);
        }
        let ended = match WebSocket::open(&url) {
            Ok(ws) => session(ctx, ws, &mut last_seq).await,
            Err(_) => Ended::Dropped { was_ready: false },
        };
        if matches!(ended, Ended::Gap) {
            // A burst of gaps means something is wrong; fall back to backoff after three.
            let now = js_sys::Date::now();
            if now - last_gap_at > 10_000.0 {
                gaps_in_row = 0;
            }
            last_gap_at = now;
        }
        match ended {
            Ended::SignedOut => {
                to_sign_in();
                return;
            }
            Ended::Gap if gaps_in_row < 3 => {
                gaps_in_row += 1;
                sleep_ms(50).await;
                continue;
            }
            Ended::Dropped { was_ready: true } => {
                gaps_in_row = 0;
                attempt = 1;
                waits = reconnect_waits();
            }
            _ => attempt = attempt.saturating_add(1),
        }
        // A socket refused at the handshake looks like any network failure; ask whether
        // the session is still good before retrying for ever.
        if attempt >= 2
            && let Err(e) = crate::api::me().await
            && e.status == 401
        {
            to_sign_in();
            return;
        }
        let wait = waits.next().map_or(30_000, |d| d.as_millis() as u32);
        ctx.live.set(LiveState::Reconnecting {
            attempt,
            retry_in_ms: wait,
        });
        sleep_ms(wait).await;
    }
}

async fn session(ctx: InboxCtx, ws: WebSocket, last_seq: &mut i64) -> Ended {
    let (_sink, mut stream) = ws.split();
    let mut ready = false;
    let mut replayed: u32 = 0;
    while let Some(item) = stream.next().await {
        let text = match item {
            Ok(WsMessage::Text(t)) => t,
            Ok(WsMessage::Bytes(_)) => continue,
            Err(WebSocketError::ConnectionClose(close)) if close.code == CLOSE_SIGNED_OUT => {
                return Ended::SignedOut;
            }
            Err(_) => break,
        };
        let frame: Frame = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                leptos::logging::warn!("ignoring an unreadable frame: {e}");
                continue;
            }
        };
        match frame {
            Frame::Ready { seq } => {
                *last_seq = (*last_seq).max(seq);
                ready = true;
                ctx.live.set(LiveState::Live);
                // Presence is not replayed: read it afresh on every (re)connect.
                ctx.team.reload();
            }
            Frame::Resync { seq } => {
                ctx.reload();
                *last_seq = seq;
                ready = true;
                ctx.live.set(LiveState::Live);
                ctx.team.reload();
            }
            signal @ (Frame::PresenceUpdated { .. } | Frame::AgentTyping { .. }) => {
                ctx.team.apply(&signal);
            }
            Frame::Unknown => {}
            event => {
                let Some(seq) = event.event_seq() else {
                    continue;
                };
                if seq <= *last_seq {
                    continue;
                }
                if ready && !event.follows(*last_seq) {
                    return Ended::Gap;
                }
                // Only live messages alert: a replay after a reconnect is old news.
                if ready && let Frame::MessageCreated { data, .. } = &event {
                    alert(&ctx, data);
                }
                ctx.apply_event(event);
                *last_seq = seq;
                if !ready {
                    replayed += 1;
                    ctx.live.set(LiveState::CatchingUp(replayed));
                }
            }
        }
    }
    Ended::Dropped { was_ready: ready }
}

/// Hands a new message to the notifier if it should alert this agent.
fn alert(ctx: &InboxCtx, m: &crate::model::Message) {
    let conversation = ctx
        .conversations
        .with_untracked(|all| all.iter().find(|c| c.id == m.conversation_id).cloned());
    let settings = ctx.notify.settings.get_untracked();
    let me = ctx.me.get_untracked();
    let open = ctx.open.get_untracked();
    let visible = ctx.visible.get_untracked();
    if let Some(a) = super::notify::decide(
        &settings,
        &me,
        m,
        conversation.as_ref(),
        open.as_deref(),
        visible,
    ) {
        ctx.notify.pending.set(Some(a));
    }
}
