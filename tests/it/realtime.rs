//! The real-time guarantees under stress: a socket cut in the middle of a burst resumes
//! with exactly what it missed, across a restart and across two instances joined by
//! Redis; a slow consumer is closed and resumes; the log is trimmed to its window.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard::config::SIMULATOR_APP_SECRET;
use switchboard::model::CLOSE_TOO_SLOW;
use switchboard::whatsapp::signature;
use tokio::task::JoinHandle;

use crate::support::*;

const BURST: usize = 500;

/// Does with frames what the ChatBox does: applies each event once, in order. It fails
/// the test on a duplicate or a gap, which the server must never send.
#[derive(Default)]
struct Client {
    last: i64,
    readies: usize,
    applied: Vec<i64>,
    wamids: BTreeSet<String>,
}

impl Client {
    fn apply(&mut self, f: &Value) {
        match f["type"].as_str() {
            Some("ready") => {
                self.readies += 1;
                self.last = self.last.max(f["seq"].as_i64().unwrap());
            }
            Some("resync") => panic!("unexpected resync: {f}"),
            _ => {
                let seq = f["seq"].as_i64().unwrap();
                assert!(seq > self.last, "duplicate: {seq} after {}", self.last);
                // `prev` is named when the seqs skip (events of inboxes not shown).
                let prev = f["prev"].as_i64().unwrap_or(seq - 1);
                assert_eq!(prev, self.last, "a gap before {seq}");
                self.last = seq;
                self.applied.push(seq);
                if f["type"] == "message.created"
                    && let Some(w) = f["data"]["wamid"].as_str()
                {
                    self.wamids.insert(w.to_string());
                }
            }
        }
    }

    /// Applies frames until `done` holds (`None`) or the socket closes (its close code).
    async fn follow(
        &mut self,
        ws: &mut Socket,
        done: impl Fn(&Client) -> bool,
    ) -> Option<Option<u16>> {
        while !done(self) {
            match ws.incoming_within(WAIT).await {
                Some(Incoming::Frame(f)) => self.apply(&f),
                Some(Incoming::Closed(code)) => return Some(code),
                None => panic!("the socket went quiet at seq {}", self.last),
            }
        }
        None
    }

    async fn until_ready(&mut self, ws: &mut Socket) {
        let before = self.readies;
        assert_eq!(self.follow(ws, |c| c.readies > before).await, None);
    }
}

/// The client's events must be exactly the server's log after `start`.
async fn assert_matches_log(app: &TestApp, start: i64, client: &Client, webhooks: usize) {
    let log: Vec<i64> = app
        .running
        .state
        .store
        .events_after(start, 1_000_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(client.applied.len(), log.len(), "as many events as the log");
    assert_eq!(client.applied, log, "the same events, in order");
    assert_eq!(client.wamids.len(), webhooks, "every message arrived");
}

async fn head(app: &TestApp) -> i64 {
    app.running.state.store.event_bounds().await.unwrap().head
}

/// Posts `n` signed customer texts to `url`, from a handful of customers. A delivery that
/// does not get a 200 (the server is restarting) is retried, as Meta does.
fn burst(
    url: String,
    n: usize,
    tag: &str,
    text: String,
    acked: Arc<AtomicUsize>,
) -> JoinHandle<()> {
    let tag = tag.to_string();
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        for i in 0..n {
            let body = text_body(
                &format!("wamid.{tag}.{i}"),
                &format!("55119000{:05}", i % 7),
                "Burst",
                &text,
                1_763_900_000 + i as i64,
            );
            let sig = signature::sign(SIMULATOR_APP_SECRET.as_bytes(), &body);
            let deadline = Instant::now() + WAIT;
            loop {
                let res = http
                    .post(format!("{url}/webhook"))
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", &sig)
                    .body(body.clone())
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 200 => break,
                    Ok(r) if r.status().is_client_error() => panic!("refused: {}", r.status()),
                    _ if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => panic!("webhook {i} never accepted: {other:?}"),
                }
            }
            acked.fetch_add(1, Ordering::SeqCst);
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_cut_mid_burst_resumes_with_exactly_the_missed_events() {
    let app = TestApp::start().await;
    let mut client = Client::default();
    let mut ws = app.socket(None).await;
    client.until_ready(&mut ws).await;
    let start = client.last;

    let acked = Arc::new(AtomicUsize::new(0));
    let poster = burst(app.url.clone(), BURST, "CUT", "hi".into(), acked.clone());
    client.follow(&mut ws, |c| c.applied.len() >= 150).await;
    drop(ws);
    assert!(
        acked.load(Ordering::SeqCst) < BURST,
        "cut before the burst ended"
    );

    let mut ws = app.socket(Some(client.last)).await;
    poster.await.unwrap();
    let head = head(&app).await;
    client.follow(&mut ws, |c| c.last >= head).await;
    assert_matches_log(&app, start, &client, BURST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_cut_by_a_restart_mid_burst_resumes_on_the_new_server() {
    let app = TestApp::start().await;
    let port = app.running.addr.port();
    let mut client = Client::default();
    let mut ws = app.socket(None).await;
    client.until_ready(&mut ws).await;
    let start = client.last;

    let acked = Arc::new(AtomicUsize::new(0));
    let poster = burst(
        app.url.clone(),
        BURST,
        "RESTART",
        "hi".into(),
        acked.clone(),
    );
    client.follow(&mut ws, |c| c.applied.len() >= 150).await;

    // A graceful stop: webhooks in flight finish, and the socket is told it is going away.
    let (db, _dir) = app.stop().await;
    let stopped_at = acked.load(Ordering::SeqCst);
    assert!(stopped_at < BURST, "stopped before the burst ended");
    let code = client.follow(&mut ws, |_| false).await;
    assert_eq!(code, Some(Some(1001)), "going-away close on shutdown");

    let addr = format!("127.0.0.1:{port}");
    let app = TestApp::start_on(&db, &[("LEPTOS_SITE_ADDR", &addr)]).await;
    let mut ws = app.socket(Some(client.last)).await;
    poster.await.unwrap();
    let head = head(&app).await;
    client.follow(&mut ws, |c| c.last >= head).await;
    assert_matches_log(&app, start, &client, BURST).await;
}

/// A `redis-server` of our own on a free loopback port, which a test can stop and start.
pub struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.resume();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn resume(&mut self) {
        let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&bin)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {bin} ({e}); scripts/setup installs Debian's redis-server")
            });
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two instances on one database, joined by Redis. Their hubs poll the log only once a
/// minute, so within a test anything that crosses over was carried by Redis or by the
/// catch-up after a Redis reconnect.
pub async fn two_instances(redis: &Redis) -> (TestApp, TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("SWITCHBOARD_LOG_POLL_MS", "60000"),
    ];
    let a = TestApp::start_on(&db, &env).await;
    let b = TestApp::start_on(&db, &env).await;
    // Both must be subscribed before the test relies on them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (a, b, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_to_one_instance_reaches_a_socket_on_another_even_across_a_redis_outage() {
    let mut redis = Redis::start();
    let (a, b, _dir) = two_instances(&redis).await;
    let mut client = Client::default();
    let mut ws = b.socket(None).await;
    client.until_ready(&mut ws).await;
    let start = client.last;

    a.post_webhook(&text_body(
        "wamid.X.1",
        "5511900000001",
        "X",
        "hello",
        1_763_900_001,
    ))
    .await;
    let sent = Instant::now();
    let first = head(&a).await;
    client.follow(&mut ws, |c| c.last >= first).await;
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "carried by Redis, not the poll"
    );

    // Redis goes away; instance A keeps accepting webhooks.
    redis.kill();
    let acked = Arc::new(AtomicUsize::new(0));
    burst(
        a.url.clone(),
        20,
        "OUTAGE",
        "while Redis was down".into(),
        acked,
    )
    .await
    .unwrap();
    match ws.incoming_within(Duration::from_millis(300)).await {
        None => {}
        Some(other) => panic!("nothing can cross over without Redis here, got {other:?}"),
    }

    // When it is back, B's subscriber reconnects and reads everything it missed.
    redis.resume();
    let head = head(&a).await;
    client.follow(&mut ws, |c| c.last >= head).await;
    assert_matches_log(&b, start, &client, 21).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_cut_mid_burst_on_one_instance_resumes_on_the_other() {
    let redis = Redis::start();
    let (a, b, _dir) = two_instances(&redis).await;
    let mut client = Client::default();
    let mut ws = b.socket(None).await;
    client.until_ready(&mut ws).await;
    let start = client.last;

    let acked = Arc::new(AtomicUsize::new(0));
    let poster = burst(a.url.clone(), BURST, "CROSS", "hi".into(), acked.clone());
    client.follow(&mut ws, |c| c.applied.len() >= 150).await;
    drop(ws);
    assert!(
        acked.load(Ordering::SeqCst) < BURST,
        "cut before the burst ended"
    );

    // The seq the client holds means the same on every instance.
    let mut ws = a.socket(Some(client.last)).await;
    poster.await.unwrap();
    let head = head(&a).await;
    client.follow(&mut ws, |c| c.last >= head).await;
    assert_matches_log(&a, start, &client, BURST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_closed_without_holding_up_others_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("slow.db");
    let app = TestApp::start_on(&db, &[("SWITCHBOARD_SOCKET_BUFFER", "4")]).await;

    let mut slow_client = Client::default();
    let mut slow = Socket::open_slow(&app, None).await;
    slow_client.until_ready(&mut slow).await;
    let start = slow_client.last;
    let mut healthy_client = Client::default();
    let mut healthy = app.socket(None).await;
    healthy_client.until_ready(&mut healthy).await;

    // The slow client reads nothing while a burst of long messages arrives: more than the
    // kernel will buffer for it (the send buffer grows up to tcp_wmem's maximum), plus the
    // server's own write buffer (1 MiB), so its server-side queue must overflow.
    let kernel_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2).and_then(|v| v.parse().ok()))
        .unwrap_or(4 << 20);
    let long = "a long message ".repeat(250);
    // Each webhook's text travels twice: in the message and in the conversation's preview.
    let webhooks = (kernel_max + (2 << 20)) / (2 * long.len()) + 50;
    let acked = Arc::new(AtomicUsize::new(0));
    let poster = burst(app.url.clone(), webhooks, "SLOW", long, acked);
    let head_now = {
        let healthy_done = async {
            poster.await.unwrap();
            let head = head(&app).await;
            healthy_client
                .follow(&mut healthy, |c| c.last >= head)
                .await;
            head
        };
        tokio::time::timeout(Duration::from_secs(30), healthy_done)
            .await
            .expect("the healthy socket is not held up by the slow one")
    };

    // Now it reads: its backlog, then the close that tells it to resume.
    let code = slow_client.follow(&mut slow, |_| false).await;
    assert_eq!(code, Some(Some(CLOSE_TOO_SLOW)));
    assert!(
        slow_client.last < head_now,
        "it was cut off, not fed everything"
    );

    let mut again = app.socket(Some(slow_client.last)).await;
    slow_client.follow(&mut again, |c| c.last >= head_now).await;
    assert_matches_log(&app, start, &slow_client, webhooks).await;
}

#[tokio::test]
async fn the_log_is_trimmed_to_its_configured_window() {
    let app = TestApp::start().await;
    let mut ws = app.socket(None).await;
    let start = ws.next().await["seq"].as_i64().unwrap();
    for i in 0..10 {
        app.post_webhook(&text_body(
            &format!("wamid.TRIM.{i}"),
            "5511900000009",
            "T",
            "x",
            1_763_900_100 + i,
        ))
        .await;
    }
    let head = head(&app).await;
    assert!(head - start >= 10);
    let (db, _dir) = app.stop().await;

    let app = TestApp::start_on(&db, &[("SWITCHBOARD_EVENT_RETENTION", "5")]).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let bounds = app.running.state.store.event_bounds().await.unwrap();
        if bounds.floor == head - 5 {
            break;
        }
        assert!(Instant::now() < deadline, "not trimmed: {bounds:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Inside the window: replayed. Outside it: told to reload.
    let mut ws = app.socket(Some(head - 3)).await;
    let (replayed, end) = ws.replay().await;
    assert_eq!(end["type"], "ready");
    assert_eq!(replayed.len(), 3);
    let mut ws = app.socket(Some(start)).await;
    assert_eq!(ws.replay().await.1["type"], "resync");
}
