//! Cross-instance fan-out through Redis pub/sub.
//!
//! Redis carries wake-ups, not events (and, on a second channel, the presence and typing
//! signals, which are never stored). When an instance commits events it publishes the
//! new log head; every instance that hears it asks its hub to read the log. Order and
//! completeness come from the database, so a lost or repeated Redis message costs at most
//! a little latency: hubs also poll the log every second, and a subscriber that
//! reconnects to Redis reads everything it may have missed at once.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use futures::StreamExt;
use redis::AsyncCommands;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::realtime::hub::{Hub, Signal};

pub const CHANNEL: &str = "switchboard:events";
pub const SIGNALS: &str = "switchboard:signals";

/// A signal on the wire, naming the instance that made it (which ignores its own).
#[derive(serde::Serialize, serde::Deserialize)]
struct Relayed {
    origin: String,
    #[serde(flatten)]
    signal: Signal,
}

/// Checks a `REDIS_URL` without connecting.
pub fn parse(url: &str) -> Result<redis::Client, String> {
    redis::Client::open(url).map_err(|e| e.to_string())
}

/// Starts publishing this instance's commits and waking its hub on everyone else's.
pub fn start(client: redis::Client, hub: Hub, shutdown: CancellationToken) {
    let origin = uuid::Uuid::new_v4().to_string();
    tokio::spawn(publish(
        client.clone(),
        hub.local_commits(),
        shutdown.clone(),
    ));
    tokio::spawn(relay_signals(
        client.clone(),
        hub.clone(),
        origin.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(subscribe(client, hub, origin, shutdown));
}

/// Passes this instance's signals on. Best effort, like the signals: one that cannot be
/// published is dropped (a typing hint or presence change is soon made again).
async fn relay_signals(
    client: redis::Client,
    hub: Hub,
    origin: String,
    shutdown: CancellationToken,
) {
    let mut signals = hub.local_signals();
    let mut conn = None;
    loop {
        let signal = tokio::select! {
            _ = shutdown.cancelled() => return,
            s = signals.recv() => match s {
                Ok(s) => s,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        if conn.is_none() {
            conn = client.get_multiplexed_async_connection().await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        let relayed = Relayed {
            origin: origin.clone(),
            signal: (*signal).clone(),
        };
        let Ok(payload) = serde_json::to_string(&relayed) else {
            continue;
        };
        if let Err(e) = c.publish::<_, _, ()>(SIGNALS, payload).await {
            tracing::debug!(error = %e, "fan-out: a signal was not published");
            conn = None;
        }
    }
}

/// The waits between tries to reach Redis: 0.25 s doubling to 5 s, for as long as it takes.
fn reconnect_waits() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .build()
}

async fn wait(waits: &mut ExponentialBackoff) {
    tokio::time::sleep(waits.next().unwrap_or(Duration::from_secs(5))).await;
}

async fn publish(
    client: redis::Client,
    mut heads: watch::Receiver<i64>,
    shutdown: CancellationToken,
) {
    let mut waits = reconnect_waits();
    'connect: loop {
        let mut conn = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = client.get_multiplexed_async_connection() => match c {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "fan-out: cannot reach Redis to publish; retrying");
                    wait(&mut waits).await;
                    continue;
                }
            },
        };
        waits = reconnect_waits();
        // Publishes the current head first: a notice may have been lost with the old
        // connection, and a repeated one only costs a log read.
        loop {
            let head = *heads.borrow_and_update();
            if let Err(e) = conn.publish::<_, _, ()>(CHANNEL, head).await {
                // Other instances still find the events by polling the log.
                tracing::warn!(error = %e, "fan-out: publish to Redis failed; reconnecting");
                continue 'connect;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = heads.changed() => if changed.is_err() { return },
            }
        }
    }
}

async fn subscribe(client: redis::Client, hub: Hub, origin: String, shutdown: CancellationToken) {
    let mut waits = reconnect_waits();
    let mut lost = false;
    loop {
        let pubsub = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&[CHANNEL, SIGNALS]).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            _ = shutdown.cancelled() => return,
            p = pubsub => p,
        };
        match pubsub {
            Ok(mut pubsub) => {
                if lost {
                    tracing::info!("fan-out: Redis subscription restored");
                }
                waits = reconnect_waits();
                hub.set_redis_up(true);
                // Whatever was published while we were away is in the log: read it now.
                hub.kick();
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        m = messages.next() => match m {
                            Some(m) if m.get_channel_name() == SIGNALS => {
                                let relayed = m.get_payload::<String>().ok()
                                    .and_then(|p| serde_json::from_str::<Relayed>(&p).ok());
                                if let Some(r) = relayed.filter(|r| r.origin != origin) {
                                    hub.signal_from_peer(r.signal);
                                }
                            }
                            Some(_) => hub.kick(),
                            None => break,
                        },
                    }
                }
                hub.set_redis_up(false);
                tracing::warn!("fan-out: Redis subscription lost; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "fan-out: cannot subscribe to Redis; retrying"),
        }
        lost = true;
        wait(&mut waits).await;
    }
}
