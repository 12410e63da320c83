//! `GET /metrics` on its own listener: off unless `SWITCHBOARD_METRICS_ADDR` is set, and
//! every metric the contract names moves when its stage runs (scrape, act, scrape again).

use std::time::Duration;

use serde_json::json;
use switchboard::store::{Job, JobKind, now_ms};

use crate::cloud_api::send_outgoing;
use crate::scenarios::eventually_media;
use crate::support::*;

async fn metrics_app() -> TestApp {
    TestApp::start_with(&[("SWITCHBOARD_METRICS_ADDR", "127.0.0.1:0")]).await
}

/// The scrape, as text.
async fn scrape(app: &TestApp) -> String {
    let addr = app.running.metrics_addr.expect("a metrics listener");
    let res = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let kind = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.contains("text"), "{kind}");
    res.text().await.unwrap()
}

/// The value of one sample (`name` with its labels, as printed), 0 if it is not there yet.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

/// Scrapes until `name` has grown past `before` (stages finish a moment after the call
/// that starts them answers), or fails after a few seconds.
async fn grows(app: &TestApp, name: &str, before: f64) -> f64 {
    for _ in 0..100 {
        let now = sample(&scrape(app).await, name);
        if now > before {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} stayed at {before}");
}

#[tokio::test]
async fn metrics_are_not_served_unless_an_address_is_set() {
    let app = TestApp::start().await;
    assert!(app.running.metrics_addr.is_none());
    let res = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 200, "the app's own port serves no metrics");
}

#[tokio::test]
async fn a_webhook_counts_by_outcome_and_times_its_check_and_commit() {
    let app = metrics_app().await;
    let before = scrape(&app).await;
    let ok = r#"switchboard_webhooks_total{outcome="ok"}"#;
    let head = sample(&before, "switchboard_event_log_head");

    app.customer_writes("5511987650001", "hello").await;
    let after = scrape(&app).await;
    assert_eq!(sample(&after, ok), sample(&before, ok) + 1.0);
    for stage in ["verify", "commit"] {
        let count = format!(r#"switchboard_stage_seconds_count{{stage="{stage}"}}"#);
        assert_eq!(
            sample(&after, &count),
            sample(&before, &count) + 1.0,
            "{stage}"
        );
    }
    assert!(sample(&after, "switchboard_event_log_head") > head);

    let refused = [
        (
            "bad_signature",
            app.post_webhook_signed(b"{}", Some("sha256=00")).await,
        ),
        ("bad_json", app.post_webhook(b"not json").await),
        (
            "too_large",
            app.post_webhook(&vec![b' '; 3 * 1024 * 1024 + 1]).await,
        ),
    ];
    let after_refusals = scrape(&app).await;
    for (outcome, res) in refused {
        assert!(
            res.status().is_client_error(),
            "{outcome}: {}",
            res.status()
        );
        let name = format!(r#"switchboard_webhooks_total{{outcome="{outcome}"}}"#);
        assert_eq!(sample(&after_refusals, &name), 1.0, "{outcome}");
    }
}

#[tokio::test]
async fn a_send_a_retry_a_socket_and_a_download_each_move_their_metric() {
    let app = metrics_app().await;
    let conv = app.customer_writes("5511987650001", "hi").await;

    // A socket is counted while open, and an event reaching it times the fan-out.
    let before = scrape(&app).await;
    let fanout = r#"switchboard_stage_seconds_count{stage="fanout"}"#;
    let mut socket = app.socket(None).await;
    socket.next().await; // ready
    assert_eq!(
        sample(&scrape(&app).await, "switchboard_sockets_open"),
        sample(&before, "switchboard_sockets_open") + 1.0
    );
    app.customer_writes("5511987650001", "again").await;
    grows(&app, fanout, sample(&before, fanout)).await;
    drop(socket);
    for _ in 0..100 {
        if sample(&scrape(&app).await, "switchboard_sockets_open") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sample(&scrape(&app).await, "switchboard_sockets_open"), 0.0);

    // A send: timed, and counted by outcome; a 503 from Meta is a retry.
    let before = scrape(&app).await;
    let (status, _) = send_outgoing(&app, &conv, json!({"type": "text", "body": "yes"})).await;
    assert_eq!(status, 200);
    grows(
        &app,
        r#"switchboard_sends_total{outcome="ok"}"#,
        sample(&before, r#"switchboard_sends_total{outcome="ok"}"#),
    )
    .await;
    let send = r#"switchboard_stage_seconds_count{stage="send"}"#;
    assert!(sample(&scrape(&app).await, send) > sample(&before, send));
    app.add_fault(json!({"fault": "send_error", "http_status": 503, "code": 131016}))
        .await;
    send_outgoing(&app, &conv, json!({"type": "text", "body": "later"})).await;
    grows(&app, r#"switchboard_sends_total{outcome="131016"}"#, 0.0).await;
    grows(&app, "switchboard_send_retries_total", 0.0).await;

    // A media download: timed, and its job counted.
    let before = scrape(&app).await;
    let wamid = app
        .http
        .post(format!("{}/_sim/customer/messages", app.url))
        .json(&json!({"wa_id": "5511987650002", "kind": "document"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["wamid"]
        .as_str()
        .unwrap()
        .to_string();
    eventually_media(&app, "5511987650002", &wamid, "stored").await;
    let media = r#"switchboard_stage_seconds_count{stage="media"}"#;
    grows(&app, media, sample(&before, media)).await;
    let jobs = r#"switchboard_jobs_total{kind="media",outcome="ok"}"#;
    grows(&app, jobs, sample(&before, jobs)).await;
}

#[tokio::test]
async fn due_jobs_are_counted_from_the_store() {
    let app = metrics_app().await;
    let store = &app.running.state.store;
    // Far more than the runner claims in one go (it takes a handful per wake-up), so some
    // are still due when the scrape reads the count.
    let past = now_ms() - 60_000;
    for i in 0..60 {
        let job = Job::new(JobKind::Wake, format!("no-such-conversation-{i}"), past, 0);
        store.schedule_job(job).await.unwrap();
    }
    let due = sample(&scrape(&app).await, "switchboard_jobs_due");
    assert!(due >= 1.0, "jobs_due {due}");
    assert!(due <= 60.0, "jobs_due {due}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_events_are_counted_by_type_and_redis_and_socket_queues_are_gauged() {
    let app = metrics_app().await;
    let before = scrape(&app).await;
    assert_eq!(sample(&before, "switchboard_redis_connected"), 0.0);
    assert!(before.contains("switchboard_socket_queue_max "), "{before}");
    let inbound = r#"switchboard_messages_total{direction="in",kind="text"}"#;
    let created = r#"switchboard_events_total{type="message.created"}"#;
    app.customer_writes("5511987650003", "count me").await;
    grows(&app, inbound, sample(&before, inbound)).await;
    grows(&app, created, sample(&before, created)).await;
    let note = r#"switchboard_messages_total{direction="note",kind="note"}"#;
    let conv = app.conversations().await[0]["id"].clone();
    app.ok(
        "add_note",
        json!({"conversation_id": conv, "text": "internal", "client_id": uuid()}),
    )
    .await;
    grows(&app, note, 0.0).await;

    // With Redis, the gauge says whether the fan-out holds its subscription.
    let redis = crate::realtime::Redis::start();
    let url = redis.url();
    let joined = TestApp::start_with(&[
        ("SWITCHBOARD_METRICS_ADDR", "127.0.0.1:0"),
        ("REDIS_URL", url.as_str()),
    ])
    .await;
    grows(&joined, "switchboard_redis_connected", 0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_stops_reading_raises_the_socket_queue_gauges() {
    let app = metrics_app().await;
    let mut slow = Socket::open_slow(&app, None).await;
    loop {
        match slow.incoming_within(WAIT).await {
            Some(Incoming::Frame(f)) if f["type"] == "ready" => break,
            Some(Incoming::Frame(_)) => {}
            other => panic!("no ready frame: {other:?}"),
        }
    }
    let idle = scrape(&app).await;
    assert_eq!(sample(&idle, "switchboard_socket_queue_sum"), 0.0, "{idle}");

    // The socket reads nothing more while long messages arrive: once the kernel's buffers
    // and the server's write buffer are full, events wait in its queue.
    let long = "a long message ".repeat(250);
    for i in 0..3000 {
        app.customer_writes(&format!("55119000{:05}", i % 7), &long)
            .await;
        if i % 50 == 49 {
            let now = scrape(&app).await;
            if sample(&now, "switchboard_socket_queue_sum") > 0.0
                && sample(&now, "switchboard_socket_queue_max") > 0.0
            {
                return;
            }
        }
    }
    panic!("the queue gauges stayed at 0 behind a socket that reads nothing");
}
