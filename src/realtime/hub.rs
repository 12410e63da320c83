//! Fan-out of committed events to every open socket.
//!
//! The hub does not trust in-memory publishing order: it tails the event log. Each commit
//! wakes it; it reads the events after the last one it published and broadcasts them in
//! sequence order. (When the store hands over the events this process just committed and
//! they continue exactly from the last one published, the read is skipped.) A write whose
//! caller went away, a commit on another instance, or a sequence number a concurrent
//! writer has reserved but not yet committed all resolve the same way: the log is the
//! single source of order, and sockets never see a gap the log does not have.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::model::ControlFrame;
use crate::store::{DynStore, Event, StoreResult};

/// Events read from the log together (typically one commit's), sent to each socket as
/// one write: a socket wakes and flushes once per batch, not once per event.
pub type Batch = Arc<Vec<LiveEvent>>;

/// One event ready to send: the frame is encoded once and shared by every socket.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub seq: i64,
    pub inbox_id: String,
    pub frame: Utf8Bytes,
    /// Not an event: every socket must tell its client to reload (`resync` at `seq`).
    pub resync: bool,
    /// When the hub took it from the store (for the fan-out latency).
    pub taken: Instant,
}

impl From<&Event> for LiveEvent {
    fn from(e: &Event) -> Self {
        Self {
            seq: e.seq,
            inbox_id: e.inbox_id.clone(),
            frame: e.frame_json().into(),
            resync: false,
            taken: Instant::now(),
        }
    }
}

/// A frame that is not an event (presence, typing): not stored, no seq, never replayed,
/// and best effort: a socket that falls behind on these simply misses some.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signal {
    /// Only sockets that may see this inbox get it; `None`: every socket.
    pub inbox_id: Option<String>,
    /// This user's own sockets skip it (their own typing).
    pub skip_user: Option<String>,
    pub frame: String,
}

/// Signals a socket may fall behind by before it misses some.
const SIGNAL_CAPACITY: usize = 1024;

/// Seqs the hub gave up on after [`GAP_GRACE`]: if an event lands in one later, it cannot
/// be sent in order any more, so the sockets are told to resync.
struct Hole {
    from: i64,
    to: i64,
    skipped_at: Instant,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<Batch>,
    /// Highest seq broadcast so far; everything at or below it has been sent in order.
    head: AtomicI64,
    /// Extra wake-ups (another instance committed, a test wants a poll).
    kick: Notify,
    /// The head after events committed by this instance were broadcast, for fan-out.
    local: watch::Sender<i64>,
    /// Signals for this instance's sockets, from here and from other instances.
    signals: broadcast::Sender<Arc<Signal>>,
    /// Signals made here, for the fan-out to pass to other instances.
    relay: broadcast::Sender<Arc<Signal>>,
    /// Whether the Redis fan-out holds its subscription now (false without Redis).
    redis_up: AtomicBool,
}

/// How long a hole in the sequence may stay open before it is taken as permanent (a
/// writer that reserved a number and then failed).
const GAP_GRACE: Duration = Duration::from_secs(2);
const READ_BATCH: usize = 1000;
/// How often skipped holes are looked at again, and for how long.
const HOLE_RECHECK: Duration = Duration::from_secs(1);
const HOLE_WATCH: Duration = Duration::from_secs(600);

impl Hub {
    /// Starts tailing from the log's current head; earlier events are served by replay.
    ///
    /// `poll` is the safety net: the hub reads the log this often even without a wake-up,
    /// which bounds the delay of an event whose notice was lost (say, Redis was down).
    pub async fn start(
        store: DynStore,
        capacity: usize,
        poll: Duration,
        shutdown: CancellationToken,
    ) -> StoreResult<Self> {
        let head = store.event_bounds().await?.head;
        let (tx, _) = broadcast::channel(capacity);
        let hub = Self {
            inner: Arc::new(Inner {
                tx,
                head: AtomicI64::new(head),
                kick: Notify::new(),
                local: watch::channel(head).0,
                signals: broadcast::channel(SIGNAL_CAPACITY).0,
                relay: broadcast::channel(SIGNAL_CAPACITY).0,
                redis_up: AtomicBool::new(false),
            }),
        };
        tokio::spawn(hub.clone().tail(store, poll, shutdown));
        Ok(hub)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Batch> {
        self.inner.tx.subscribe()
    }

    /// Sends a signal made here to every socket, here and (through Redis) elsewhere.
    pub fn signal(&self, signal: Signal) {
        let signal = Arc::new(signal);
        // No receivers is not an error: nobody is listening right now.
        let _ = self.inner.signals.send(signal.clone());
        let _ = self.inner.relay.send(signal);
    }

    /// Sends a signal another instance made to this instance's sockets.
    pub fn signal_from_peer(&self, signal: Signal) {
        let _ = self.inner.signals.send(Arc::new(signal));
    }

    pub fn subscribe_signals(&self) -> broadcast::Receiver<Arc<Signal>> {
        self.inner.signals.subscribe()
    }

    /// Signals made here, for other instances.
    pub fn local_signals(&self) -> broadcast::Receiver<Arc<Signal>> {
        self.inner.relay.subscribe()
    }

    /// The Redis fan-out's subscription came up or went down.
    pub fn set_redis_up(&self, up: bool) {
        self.inner.redis_up.store(up, Ordering::Relaxed);
    }

    pub fn redis_up(&self) -> bool {
        self.inner.redis_up.load(Ordering::Relaxed)
    }

    /// Batches the slowest socket here has yet to take (the broadcast keeps each until
    /// every socket has it).
    pub fn queue_depth(&self) -> usize {
        self.inner.tx.len()
    }

    /// The highest seq already broadcast.
    pub fn head(&self) -> i64 {
        self.inner.head.load(Ordering::Acquire)
    }

    /// Asks the hub to look at the log now.
    pub fn kick(&self) {
        self.inner.kick.notify_one();
    }

    pub fn subscriber_count(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// Heads reached after this instance's own commits (what other instances should hear).
    pub fn local_commits(&self) -> watch::Receiver<i64> {
        self.inner.local.subscribe()
    }

    /// Broadcasts this process's just-committed events without reading them back, if the
    /// store handed them over and they continue exactly from `head`. Says whether it did.
    fn publish_staged(&self, store: &DynStore, head: i64) -> bool {
        let staged = store.take_committed();
        let fresh: Vec<LiveEvent> = staged
            .iter()
            .filter(|e| e.seq > head)
            .map(LiveEvent::from)
            .collect();
        let continues = fresh
            .iter()
            .zip(head + 1..)
            .all(|(event, expected)| event.seq == expected);
        if fresh.is_empty() || !continues {
            return false;
        }
        self.broadcast(fresh);
        true
    }

    fn broadcast(&self, batch: Vec<LiveEvent>) {
        if let Some(tail) = batch.last().map(|e| e.seq) {
            // Head first, then the broadcast. A socket subscribes, then reads the head,
            // then replays the log up to it: a batch broadcast before it subscribed is
            // already below the head it reads, so the replay has it; one broadcast after
            // reaches it live. Overlap is dropped by seq.
            self.inner.head.store(tail, Ordering::Release);
            // No receivers is not an error: nobody is watching right now.
            let _ = self.inner.tx.send(Arc::new(batch));
        }
    }

    /// Reads the log after the head and broadcasts it in order, waiting out a short hole
    /// (a seq reserved by a writer that has not committed yet).
    async fn publish_from_log(
        &self,
        store: &DynStore,
        gap_since: &mut Option<Instant>,
        holes: &mut Vec<Hole>,
    ) {
        loop {
            let last = self.head();
            let events = match store.events_after(last, READ_BATCH).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, "hub: cannot read the event log; will retry");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
            };
            let full = events.len() == READ_BATCH;
            let mut expected = last + 1;
            let mut batch = Vec::with_capacity(events.len());
            for event in &events {
                if event.seq != expected {
                    let since = *gap_since.get_or_insert_with(Instant::now);
                    if since.elapsed() < GAP_GRACE {
                        break;
                    }
                    tracing::warn!(
                        from = expected,
                        to = event.seq - 1,
                        "hub: skipping event seqs that never appeared in the log"
                    );
                    holes.push(Hole {
                        from: expected,
                        to: event.seq - 1,
                        skipped_at: Instant::now(),
                    });
                }
                *gap_since = None;
                batch.push(LiveEvent::from(event));
                expected = event.seq + 1;
            }
            self.broadcast(batch);
            if !full || gap_since.is_some() {
                break;
            }
        }
    }

    /// Looks into the holes skipped lately. An event found in one arrived below the head:
    /// it was never broadcast, so every socket is told to resync.
    async fn recheck_holes(&self, store: &DynStore, holes: &mut Vec<Hole>) {
        holes.retain(|h| h.skipped_at.elapsed() < HOLE_WATCH);
        let mut late = false;
        let mut i = 0;
        while i < holes.len() {
            let hole = &holes[i];
            let span = usize::try_from(hole.to - hole.from + 1).unwrap_or(READ_BATCH);
            match store
                .events_after(hole.from - 1, span.min(READ_BATCH))
                .await
            {
                Ok(events) if events.iter().any(|e| e.seq <= hole.to) => {
                    tracing::warn!(
                        from = hole.from,
                        to = hole.to,
                        "hub: an event landed in a skipped hole; sockets will resync"
                    );
                    holes.swap_remove(i);
                    late = true;
                }
                Ok(_) => i += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "hub: cannot re-read a skipped hole; will retry");
                    return;
                }
            }
        }
        if late {
            let seq = self.head();
            let resync = LiveEvent {
                seq,
                inbox_id: String::new(),
                frame: ControlFrame {
                    kind: "resync",
                    seq,
                }
                .to_json()
                .into(),
                resync: true,
                taken: Instant::now(),
            };
            let _ = self.inner.tx.send(Arc::new(vec![resync]));
        }
    }

    async fn tail(self, store: DynStore, poll: Duration, shutdown: CancellationToken) {
        let commits = store.commits();
        let mut gap_since: Option<Instant> = None;
        let mut holes: Vec<Hole> = Vec::new();
        let mut holes_checked = Instant::now();
        loop {
            let wait = if gap_since.is_some() {
                Duration::from_millis(10)
            } else if !holes.is_empty() {
                poll.min(HOLE_RECHECK)
            } else {
                poll
            };
            let local = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = commits.notified() => true,
                _ = self.inner.kick.notified() => false,
                _ = tokio::time::sleep(wait) => false,
            };
            let before = self.head();
            if !(local && self.publish_staged(&store, before)) {
                self.publish_from_log(&store, &mut gap_since, &mut holes)
                    .await;
            }
            if !holes.is_empty() && holes_checked.elapsed() >= HOLE_RECHECK {
                holes_checked = Instant::now();
                self.recheck_holes(&store, &mut holes).await;
            }
            if local && self.head() > before {
                self.inner.local.send_replace(self.head());
            }
        }
    }
}
