//! What an operator scrapes at `SWITCHBOARD_METRICS_ADDR` (`GET /metrics`): the latency of
//! each stage of the data path, what came in and went out, and the gauges that say whether
//! the instance is keeping up. Names are fixed by the contract ("Operations").
//!
//! Each server owns its registry (not a process-wide one), so several servers in one
//! process (the integration tests) count apart.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A stage of the data path, timed into `switchboard_stage_seconds{stage}`.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// The webhook's signature check.
    Verify,
    /// A webhook body kept and applied to the store (before the 200).
    Commit,
    /// An event seen by the hub until its frame is flushed to a socket.
    Fanout,
    /// One call to Meta's send API.
    Send,
    /// One media download from Meta.
    Media,
    /// One delivery to a subscriber's URL.
    OutgoingWebhook,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Commit => "commit",
            Self::Fanout => "fanout",
            Self::Send => "send",
            Self::Media => "media",
            Self::OutgoingWebhook => "outgoing_webhook",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    kind: &'static str,
    outcome: &'static str,
}

/// How a webhook POST ended, by the status it got.
pub fn webhook_outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        401 | 403 => "bad_signature",
        413 => "too_large",
        400..=499 => "bad_json",
        _ => "unavailable",
    }
}

pub struct Metrics {
    registry: Registry,
    webhooks: Family<OutcomeLabel, Counter>,
    stages: Family<StageLabel, Histogram, fn() -> Histogram>,
    sends: Family<OutcomeLabel, Counter>,
    retries: Counter,
    jobs: Family<JobLabel, Counter>,
    sockets_open: Gauge,
    jobs_due: Gauge,
    event_log_head: Gauge,
    paused_inboxes: Gauge,
    events: Family<TypeLabel, Counter>,
    messages: Family<MessageLabel, Counter>,
    socket_queue_max: Gauge,
    socket_queue_sum: Gauge,
    /// Sockets past their replay, and the sum of the last seq each was handed: with the
    /// hub's head they give the events all sockets have yet to take, without a scan.
    sockets_live: Gauge,
    seen_sum: Gauge,
    redis_connected: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabel {
    direction: String,
    kind: String,
}

/// What the store-wide and hub gauges read at scrape time.
pub struct Gauges {
    pub jobs_due: i64,
    pub event_log_head: i64,
    pub paused_inboxes: i64,
    pub socket_queue_max: i64,
    /// The highest seq the hub has broadcast.
    pub broadcast_head: i64,
    pub redis_connected: bool,
}

/// Keeps a socket counted in `switchboard_sockets_open` while it lives.
pub struct OpenSocket(Gauge);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A socket on the live feed, counted in `switchboard_socket_queue_sum` while it lives.
pub struct LiveSocket {
    live: Gauge,
    seen_sum: Gauge,
    seen: i64,
}

impl LiveSocket {
    /// The socket has been handed every event up to `seen`.
    pub fn handed(&mut self, seen: i64) {
        self.seen_sum.inc_by(seen - self.seen);
        self.seen = seen;
    }
}

impl Drop for LiveSocket {
    fn drop(&mut self) {
        self.seen_sum.dec_by(self.seen);
        self.live.dec();
    }
}

fn stage_histogram() -> Histogram {
    // 0.5 ms … 16 s: from a signature check to a slow media download.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let webhooks = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "webhooks",
            "Webhook POSTs by outcome (ok, bad_signature, too_large, bad_json, unavailable)",
            webhooks.clone(),
        );
        let stages = Family::<StageLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            stage_histogram,
        );
        registry.register(
            "stage_seconds",
            "Latency of each stage of the data path",
            stages.clone(),
        );
        let sends = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "sends",
            "Calls to Meta's send API by outcome: ok, or Meta's error code",
            sends.clone(),
        );
        let retries = Counter::default();
        registry.register(
            "send_retries",
            "Sends scheduled again after a transient failure",
            retries.clone(),
        );
        let jobs = Family::<JobLabel, Counter>::default();
        registry.register(
            "jobs",
            "Claimed jobs run, by kind and outcome",
            jobs.clone(),
        );
        let sockets_open = Gauge::default();
        registry.register(
            "sockets_open",
            "WebSockets open on this instance",
            sockets_open.clone(),
        );
        let jobs_due = Gauge::default();
        registry.register(
            "jobs_due",
            "Jobs due now and not claimed (all instances)",
            jobs_due.clone(),
        );
        let event_log_head = Gauge::default();
        registry.register(
            "event_log_head",
            "The newest event's seq in the log",
            event_log_head.clone(),
        );
        let paused_inboxes = Gauge::default();
        registry.register(
            "paused_inboxes",
            "Inboxes whose sending is paused (a rejected token)",
            paused_inboxes.clone(),
        );
        let events = Family::<TypeLabel, Counter>::default();
        registry.register(
            "events",
            "Events this instance's hub broadcast, by type",
            events.clone(),
        );
        let messages = Family::<MessageLabel, Counter>::default();
        registry.register(
            "messages",
            "New messages this instance's hub broadcast, by direction and kind",
            messages.clone(),
        );
        let socket_queue_max = Gauge::default();
        registry.register(
            "socket_queue_max",
            "Batches the slowest socket on this instance has yet to take",
            socket_queue_max.clone(),
        );
        let socket_queue_sum = Gauge::default();
        registry.register(
            "socket_queue_sum",
            "Events broadcast and not yet handed to a socket, summed over this instance's sockets",
            socket_queue_sum.clone(),
        );
        let redis_connected = Gauge::default();
        registry.register(
            "redis_connected",
            "1 while the Redis fan-out holds its subscription (0 also without REDIS_URL)",
            redis_connected.clone(),
        );
        Self {
            registry,
            webhooks,
            stages,
            sends,
            retries,
            jobs,
            sockets_open,
            jobs_due,
            event_log_head,
            paused_inboxes,
            events,
            messages,
            socket_queue_max,
            socket_queue_sum,
            sockets_live: Gauge::default(),
            seen_sum: Gauge::default(),
            redis_connected,
        }
    }
}

impl Metrics {
    pub fn webhook(&self, outcome: &str) {
        self.webhooks
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn observe(&self, stage: Stage, took: Duration) {
        self.stages
            .get_or_create(&StageLabel {
                stage: stage.as_str(),
            })
            .observe(took.as_secs_f64());
    }

    /// A send call ended: `ok`, or Meta's error code (`0` when there was no answer).
    pub fn send(&self, outcome: &str, took: Duration) {
        self.observe(Stage::Send, took);
        self.sends
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// A socket opened; it counts as open until the guard is dropped, however it ends.
    pub fn socket_opened(&self) -> OpenSocket {
        self.sockets_open.inc();
        OpenSocket(self.sockets_open.clone())
    }

    /// A socket joined the live feed, handed every event up to `seen`; it counts towards
    /// the queue sum until the guard is dropped.
    pub fn socket_live(&self, seen: i64) -> LiveSocket {
        self.sockets_live.inc();
        self.seen_sum.inc_by(seen);
        LiveSocket {
            live: self.sockets_live.clone(),
            seen_sum: self.seen_sum.clone(),
            seen,
        }
    }

    pub fn retry(&self) {
        self.retries.inc();
    }

    pub fn job(&self, kind: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.jobs.get_or_create(&JobLabel { kind, outcome }).inc();
    }

    /// An event went out to this instance's sockets; `frame` is its `/ws` JSON.
    pub fn event(&self, frame: &str) {
        #[derive(serde::Deserialize)]
        struct Head<'a> {
            #[serde(rename = "type", borrow)]
            kind: &'a str,
            #[serde(default)]
            data: Option<Fields>,
        }
        #[derive(serde::Deserialize)]
        struct Fields {
            direction: Option<String>,
            kind: Option<String>,
        }
        let Ok(head) = serde_json::from_str::<Head>(frame) else {
            return;
        };
        self.events
            .get_or_create(&TypeLabel {
                r#type: head.kind.to_string(),
            })
            .inc();
        if head.kind == "message.created"
            && let Some(Fields {
                direction: Some(direction),
                kind: Some(kind),
            }) = head.data
        {
            self.messages
                .get_or_create(&MessageLabel { direction, kind })
                .inc();
        }
    }

    /// The text exposition, with the store-wide and hub gauges as just read.
    pub fn render(&self, g: Gauges) -> String {
        self.jobs_due.set(g.jobs_due);
        self.event_log_head.set(g.event_log_head);
        self.paused_inboxes.set(g.paused_inboxes);
        self.socket_queue_max.set(g.socket_queue_max);
        // Read apart from the sockets' updates, so a moment's skew could go below zero.
        let behind = self.sockets_live.get() * g.broadcast_head - self.seen_sum.get();
        self.socket_queue_sum.set(behind.max(0));
        self.redis_connected.set(i64::from(g.redis_connected));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Counts every event (and new message) this instance's hub broadcasts, until shutdown.
pub async fn count_events(state: super::AppState) {
    use tokio::sync::broadcast::error::RecvError;
    let mut live = state.hub.subscribe();
    loop {
        let batch = tokio::select! {
            _ = state.shutdown.cancelled() => return,
            b = live.recv() => match b {
                Ok(b) => b,
                // Counting is not worth holding the hub back for; a burst may go uncounted.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        };
        for e in batch.iter().filter(|e| !e.resync) {
            state.metrics.event(&e.frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_metric_the_contract_lists() {
        let m = Metrics::default();
        m.webhook("ok");
        m.observe(Stage::Verify, Duration::from_millis(2));
        m.event(r#"{"type":"message.created","seq":1,"data":{"direction":"in","kind":"text"}}"#);
        let text = m.render(Gauges {
            jobs_due: 3,
            event_log_head: 42,
            paused_inboxes: 0,
            socket_queue_max: 2,
            broadcast_head: 42,
            redis_connected: false,
        });
        for name in [
            "switchboard_webhooks_total{outcome=\"ok\"} 1",
            "switchboard_stage_seconds_count{stage=\"verify\"} 1",
            "switchboard_sockets_open 0",
            "switchboard_jobs_due 3",
            "switchboard_event_log_head 42",
            "switchboard_events_total{type=\"message.created\"} 1",
            "switchboard_messages_total{direction=\"in\",kind=\"text\"} 1",
            "switchboard_socket_queue_max 2",
            "switchboard_socket_queue_sum 0",
            "switchboard_redis_connected 0",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }

    #[test]
    fn the_queue_sum_is_what_each_live_socket_has_yet_to_take() {
        let m = Metrics::default();
        let at = |head| Gauges {
            jobs_due: 0,
            event_log_head: head,
            paused_inboxes: 0,
            socket_queue_max: 0,
            broadcast_head: head,
            redis_connected: false,
        };
        let mut a = m.socket_live(10);
        let b = m.socket_live(7);
        assert!(
            m.render(at(10))
                .contains("switchboard_socket_queue_sum 3\n")
        );
        a.handed(10);
        assert!(
            m.render(at(15))
                .contains("switchboard_socket_queue_sum 13\n")
        );
        drop(b);
        assert!(
            m.render(at(15))
                .contains("switchboard_socket_queue_sum 5\n")
        );
        drop(a);
        assert!(
            m.render(at(15))
                .contains("switchboard_socket_queue_sum 0\n")
        );
    }

    #[test]
    fn webhook_statuses_map_to_the_contracts_outcomes() {
        assert_eq!(webhook_outcome(200), "ok");
        assert_eq!(webhook_outcome(401), "bad_signature");
        assert_eq!(webhook_outcome(413), "too_large");
        assert_eq!(webhook_outcome(400), "bad_json");
        assert_eq!(webhook_outcome(503), "unavailable");
    }
}
