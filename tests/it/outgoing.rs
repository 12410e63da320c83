//! Outgoing webhooks: the admin API's rules, and deliveries as a receiver sees them
//! (signed, in seq order, at least once, retried, paused, replayed). Also the store's
//! part, on both backends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use switchboard::store::{DynStore, Progress, SubscriptionRecord};
use switchboard::whatsapp::signature;

use crate::security::two_inboxes;
use crate::support::{TestApp, client_with_token, eventually};

/// One POST the receiver got.
#[derive(Clone, Debug)]
struct Delivery {
    body: Value,
    raw: Vec<u8>,
    signature: String,
    id: String,
    timestamp: i64,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Delivery>>>,
    /// Answer 500 to this many requests before accepting.
    fail_next: Arc<Mutex<u32>>,
}

impl Receiver {
    /// Listens on 127.0.0.1; returns the URL deliveries go to.
    async fn start(&self) -> String {
        async fn take(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
            {
                let mut fail = r.fail_next.lock().unwrap();
                if *fail > 0 {
                    *fail -= 1;
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
            }
            let h = |n: &str| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            r.got.lock().unwrap().push(Delivery {
                body: serde_json::from_slice(&body).unwrap(),
                raw: body.to_vec(),
                signature: h("x-switchboard-signature"),
                id: h("x-switchboard-delivery"),
                timestamp: h("x-switchboard-timestamp").parse().unwrap_or(0),
            });
            StatusCode::NO_CONTENT
        }
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(take))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    fn got(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    fn seqs(&self) -> Vec<i64> {
        self.got()
            .iter()
            .map(|d| d.body["seq"].as_i64().unwrap())
            .collect()
    }

    /// The `text` of each delivered message, in order of arrival.
    fn texts(&self) -> Vec<String> {
        self.got()
            .iter()
            .filter(|d| d.body["type"] == "message.created")
            .map(|d| d.body["data"]["text"].as_str().unwrap().to_string())
            .collect()
    }

    async fn wait_for(&self, what: &str, n: usize) {
        eventually(what, || async { self.got().len() >= n }).await;
    }
}

async fn allowed_app() -> TestApp {
    TestApp::start_with(&[("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE", "1")]).await
}

/// Subscribes `url` to new messages only; returns the subscription's id.
async fn subscribe_to_messages(app: &TestApp, url: &str) -> String {
    let created = app
        .ok(
            "create_webhook_subscription",
            json!({ "url": url, "events": ["message.created"] }),
        )
        .await;
    created["subscription"]["id"].as_str().unwrap().to_string()
}

async fn subscription(app: &TestApp, id: &str) -> Value {
    let list = app.ok("list_webhook_subscriptions", json!({})).await;
    list["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn each_event_is_posted_as_its_socket_frame_signed_and_in_seq_order() {
    let app = allowed_app().await;
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let created = app
        .ok("create_webhook_subscription", json!({ "url": url }))
        .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    let sub = &created["subscription"];
    assert_eq!(sub["state"], "active");
    assert_eq!(sub["events"], json!([]));
    assert_eq!(sub["lag"], 0);
    assert!(secret.len() >= 32);
    // The secret is shown once: the list never carries it.
    let listed = subscription(&app, sub["id"].as_str().unwrap()).await;
    assert!(listed.get("secret").is_none(), "{listed}");
    assert!(!listed.to_string().contains(&secret));

    let mut socket = app.socket(Some(0)).await;
    app.customer_writes("15550002001", "first").await;
    app.customer_writes("15550002001", "second").await;
    // Each inbound message is at least a message.created and a conversation.updated.
    receiver.wait_for("four deliveries", 4).await;
    let got = receiver.got();
    let seqs = receiver.seqs();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in seq order: {seqs:?}"
    );
    let mut ids: Vec<_> = got.iter().map(|d| d.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "every delivery has its own id");
    let now = crate::support::now_secs();
    for d in &got {
        assert_eq!(
            d.signature,
            signature::sign(secret.as_bytes(), &d.raw),
            "signed with the subscription's secret over the raw body"
        );
        assert!((d.timestamp - now).abs() < 60, "timestamp {}", d.timestamp);
    }
    // The body is exactly the frame a socket gets for the same seq.
    let frames = socket
        .until(|f| f["seq"].as_i64() >= Some(*seqs.last().unwrap()))
        .await;
    for d in &got {
        let frame = frames.iter().find(|f| f["seq"] == d.body["seq"]).unwrap();
        assert_eq!(&d.body, frame);
    }
    assert_eq!(receiver.texts(), ["first", "second"]);
    eventually("lag back to 0", || async {
        subscription(&app, sub["id"].as_str().unwrap()).await["lag"] == 0
    })
    .await;
}

#[tokio::test]
async fn a_subscription_gets_only_the_event_types_and_inboxes_it_names() {
    let app = allowed_app().await;
    let (_inbox_a, inbox_b, _, _) = two_inboxes(&app).await;
    let (only_b, only_created) = (Receiver::default(), Receiver::default());
    let url_b = only_b.start().await;
    let url_created = only_created.start().await;
    app.ok(
        "create_webhook_subscription",
        json!({ "url": url_b, "inbox_ids": [inbox_b] }),
    )
    .await;
    app.ok(
        "create_webhook_subscription",
        json!({ "url": url_created, "events": ["message.created"] }),
    )
    .await;
    // A customer writes to the first inbox; an agent starts a conversation in inbox b.
    app.customer_writes("15550002002", "hello").await;
    let started = app
        .ok(
            "start_conversation",
            json!({"inbox_id": inbox_b, "to": "+1 555 000 3003", "client_id": crate::support::uuid(),
                   "message": {"type": "template", "name": "hello_world", "language": "en_US"}}),
        )
        .await;
    assert!(started["message"]["id"].is_string(), "{started}");
    only_created.wait_for("two message.created", 2).await;
    only_b.wait_for("inbox b's events", 2).await;
    // Give any stray delivery time to arrive before judging.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let types: Vec<_> = only_created
        .got()
        .iter()
        .map(|d| d.body["type"].as_str().unwrap().to_string())
        .collect();
    assert!(types.iter().all(|t| t == "message.created"), "{types:?}");
    let inboxes: Vec<_> = only_b
        .got()
        .iter()
        .map(|d| {
            d.body["data"]["inbox_id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(inboxes.iter().all(|i| *i == inbox_b), "{inboxes:?}");
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_in_order_and_shown_as_retrying_until_it_recovers() {
    let app = allowed_app().await;
    let receiver = Receiver::default();
    *receiver.fail_next.lock().unwrap() = 3;
    let url = receiver.start().await;
    let id = subscribe_to_messages(&app, &url).await;
    app.customer_writes("15550002004", "one").await;
    app.customer_writes("15550002004", "two").await;
    eventually("the subscription to show it is retrying", || async {
        let s = subscription(&app, &id).await;
        s["state"] == "retrying"
            && s["last_error"].as_str().unwrap_or_default().contains("500")
            && s["lag"].as_i64() > Some(0)
    })
    .await;
    // 2 s, 4 s then 8 s of backoff (each ±25 %) before the fourth try succeeds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while receiver.got().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let texts = receiver.texts();
    assert_eq!(texts, ["one", "two"], "nothing lost, nothing reordered");
    eventually("active again, caught up", || async {
        let s = subscription(&app, &id).await;
        s["state"] == "active" && s["lag"] == 0
    })
    .await;
    // The reason stays for the record.
    assert!(
        subscription(&app, &id).await["last_error"]
            .as_str()
            .unwrap()
            .contains("500")
    );
}

#[tokio::test]
async fn a_paused_subscription_waits_and_a_replay_delivers_again_from_a_seq() {
    let app = allowed_app().await;
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let id = subscribe_to_messages(&app, &url).await;
    app.customer_writes("15550002005", "before pause").await;
    receiver.wait_for("the first message", 1).await;
    let first_seq = receiver.seqs()[0];

    let paused = app
        .ok(
            "update_webhook_subscription",
            json!({ "id": id, "paused": true }),
        )
        .await;
    assert_eq!(paused["state"], "paused");
    app.customer_writes("15550002005", "while paused").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.got().len(), 1, "nothing is sent while paused");
    assert!(subscription(&app, &id).await["lag"].as_i64() > Some(0));

    let resumed = app
        .ok(
            "update_webhook_subscription",
            json!({ "id": id, "paused": false }),
        )
        .await;
    assert_ne!(resumed["state"], "paused");
    receiver.wait_for("the message sent while paused", 2).await;

    // Replay from just before the first: both come again, in order.
    let replayed = app
        .ok(
            "replay_webhook_subscription",
            json!({ "id": id, "since": first_seq - 1 }),
        )
        .await;
    assert!(replayed["lag"].as_i64() > Some(0), "{replayed}");
    receiver.wait_for("both again", 4).await;
    let texts = receiver.texts();
    assert_eq!(
        texts,
        [
            "before pause",
            "while paused",
            "before pause",
            "while paused"
        ]
    );
    let (status, body) = app
        .call(
            "replay_webhook_subscription",
            json!({ "id": id, "since": 1_000_000 }),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // Deleted: gone from the list, and nothing more is sent.
    app.ok("delete_webhook_subscription", json!({ "id": id }))
        .await;
    let list = app.ok("list_webhook_subscriptions", json!({})).await;
    assert_eq!(list["subscriptions"], json!([]));
    app.customer_writes("15550002005", "after delete").await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(receiver.got().len(), 4);
}

#[tokio::test]
async fn private_targets_bad_input_and_non_admins_are_refused_with_the_reason() {
    let app = TestApp::start().await;
    let (status, body) = app
        .call(
            "create_webhook_subscription",
            json!({ "url": "http://127.0.0.1:9/hook" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE"),
        "{body}"
    );
    for (args, says) in [
        (
            json!({ "url": "http://169.254.169.254/latest" }),
            "link-local",
        ),
        (json!({ "url": "ftp://example.com/x" }), "http"),
        (
            json!({ "url": "https://93.184.216.34/h", "events": ["message.deleted"] }),
            "message.deleted",
        ),
        (
            json!({ "url": "https://93.184.216.34/h", "inbox_ids": ["nope"] }),
            "nope",
        ),
    ] {
        let (status, body) = app.call("create_webhook_subscription", args).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
    for name in [
        "update_webhook_subscription",
        "delete_webhook_subscription",
        "replay_webhook_subscription",
    ] {
        let (status, body) = app.call(name, json!({ "id": "no-such-id" })).await;
        assert_eq!(status, 404, "{name}: {body}");
    }
    let (_, _, agent_token, _) = two_inboxes(&app).await;
    let agent = client_with_token(&agent_token);
    let (status, _) = app
        .call_with(&agent, "list_webhook_subscriptions", json!({}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call_with(
            &agent,
            "create_webhook_subscription",
            json!({ "url": "https://example.com/h" }),
        )
        .await;
    assert_eq!(status, 403);
}

// The store's part, on both backends.

fn record(id: &str, cursor: i64) -> SubscriptionRecord {
    SubscriptionRecord {
        id: id.into(),
        url: "https://example.com/a".into(),
        secret: "secret-1".into(),
        events: vec!["message.created".into()],
        inbox_ids: vec![],
        paused: false,
        cursor,
        retrying: false,
        last_error: None,
        failing_since: None,
        created_at: 1,
    }
}

async fn progress_moves_only_from_the_cursor_it_expects(store: DynStore) {
    store
        .save_webhook_subscription(&record("s1", 10))
        .await
        .unwrap();
    // A change by an admin keeps the secret and the progress.
    assert!(
        store
            .record_webhook_progress("s1", 10, 12, &Progress::Delivered)
            .await
            .unwrap()
    );
    let mut changed = record("s1", 0);
    changed.url = "https://example.com/b".into();
    changed.secret = "other".into();
    changed.paused = true;
    changed.inbox_ids = vec!["i1".into()];
    store.save_webhook_subscription(&changed).await.unwrap();
    let all = store.webhook_subscriptions().await.unwrap();
    assert_eq!(all.len(), 1);
    let s = &all[0];
    assert_eq!(
        (s.url.as_str(), s.secret.as_str(), s.paused, s.cursor),
        ("https://example.com/b", "secret-1", true, 12)
    );
    assert_eq!(s.inbox_ids, ["i1"]);
    assert_eq!(s.events, ["message.created"]);

    // A runner that read an old cursor cannot move it.
    assert!(
        !store
            .record_webhook_progress("s1", 10, 20, &Progress::Delivered)
            .await
            .unwrap()
    );
    let failed = Progress::Failed("https://example.com/b answered 500".into());
    assert!(
        store
            .record_webhook_progress("s1", 12, 13, &failed)
            .await
            .unwrap()
    );
    let s = store.webhook_subscriptions().await.unwrap().remove(0);
    assert_eq!((s.cursor, s.retrying), (13, true));
    assert_eq!(
        s.last_error.as_deref(),
        Some("https://example.com/b answered 500")
    );
    let since = s
        .failing_since
        .expect("a failure starts the run of failures");
    assert!((since - switchboard::store::now_ms()).abs() < 60_000);
    // A second failure keeps when the run began.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        store
            .record_webhook_progress("s1", 13, 13, &failed)
            .await
            .unwrap()
    );
    let s = store.webhook_subscriptions().await.unwrap().remove(0);
    assert_eq!(s.failing_since, Some(since));
    // Success clears `retrying` but keeps the last error for the record.
    assert!(
        store
            .record_webhook_progress("s1", 13, 14, &Progress::Delivered)
            .await
            .unwrap()
    );
    let s = store.webhook_subscriptions().await.unwrap().remove(0);
    assert_eq!((s.cursor, s.retrying, s.failing_since), (14, false, None));
    assert!(s.last_error.is_some());

    // Twenty racing runners from one cursor: exactly one moves it.
    let racers = (0..20).map(|n| {
        let store = store.clone();
        async move {
            store
                .record_webhook_progress("s1", 14, 15 + n, &Progress::Delivered)
                .await
                .unwrap()
        }
    });
    let won = futures::future::join_all(racers).await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1);

    assert!(store.rewind_webhook_subscription("s1", 3).await.unwrap());
    assert_eq!(store.webhook_subscriptions().await.unwrap()[0].cursor, 3);
    assert!(!store.rewind_webhook_subscription("nope", 3).await.unwrap());
    store
        .save_webhook_subscription(&record("s2", 0))
        .await
        .unwrap();
    assert!(store.delete_webhook_subscription("s1").await.unwrap());
    assert!(!store.delete_webhook_subscription("s1").await.unwrap());
    let ids: Vec<_> = store
        .webhook_subscriptions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["s2"]);
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn webhook_progress_moves_only_from_the_cursor_it_expects() {
        let (store, guard) = crate::conformance::open_sqlite().await;
        super::progress_moves_only_from_the_cursor_it_expects(store).await;
        guard.cleanup().await;
    }
}

mod mongo {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn webhook_progress_moves_only_from_the_cursor_it_expects() {
        let (store, guard) = crate::conformance::open_mongo().await;
        super::progress_moves_only_from_the_cursor_it_expects(store).await;
        guard.cleanup().await;
    }
}

#[tokio::test]
async fn the_event_log_keeps_what_a_subscription_still_owes_until_it_is_deleted() {
    let settings = [
        ("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE", "1"),
        ("SWITCHBOARD_EVENT_RETENTION", "2"),
    ];
    let app = TestApp::start_with(&settings).await;
    let receiver = Receiver::default();
    *receiver.fail_next.lock().unwrap() = u32::MAX;
    let url = receiver.start().await;
    let created = app
        .ok("create_webhook_subscription", json!({ "url": url }))
        .await;
    let id = created["subscription"]["id"].as_str().unwrap().to_string();
    let start = app.running.state.store.event_bounds().await.unwrap().head;
    for text in ["one", "two", "three"] {
        app.customer_writes("15550002006", text).await;
    }
    // Paused too: what a failing receiver missed stays for a replay.
    app.ok(
        "update_webhook_subscription",
        json!({ "id": id, "paused": true }),
    )
    .await;
    // The log is trimmed at start-up: restart to trim now.
    let (db, dir) = app.stop().await;
    let app = TestApp::start_on(&db, &settings).await;
    // The start-up trim runs at once; give it time to have run.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let bounds = app.running.state.store.event_bounds().await.unwrap();
    assert!(bounds.head - start > 2, "more events than the log keeps");
    assert!(
        bounds.floor <= start,
        "the subscription still owes everything after {start}: {bounds:?}"
    );

    app.ok("delete_webhook_subscription", json!({ "id": id }))
        .await;
    let (db, _) = app.stop().await;
    let app = TestApp::start_on(&db, &settings).await;
    eventually("a deleted subscription to hold nothing", || async {
        let b = app.running.state.store.event_bounds().await.unwrap();
        b.floor == b.head - 2
    })
    .await;
    drop(dir);
}

#[tokio::test]
async fn a_receiver_down_past_the_max_retry_age_pauses_the_subscription_and_resuming_delivers_the_rest()
 {
    let app = TestApp::start_with(&[
        ("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE", "1"),
        ("SWITCHBOARD_WEBHOOK_MAX_RETRY_SECS", "3"),
    ])
    .await;
    let receiver = Receiver::default();
    *receiver.fail_next.lock().unwrap() = u32::MAX;
    let url = receiver.start().await;
    let id = subscribe_to_messages(&app, &url).await;
    app.customer_writes("15550002007", "first").await;
    app.customer_writes("15550002007", "second").await;
    // Tries at 0 s, ~2 s and ~6 s: the third is past 3 s of failing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let paused = loop {
        let s = subscription(&app, &id).await;
        if s["state"] == "paused" {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "never paused: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let reason = paused["last_error"].as_str().unwrap();
    assert!(
        reason.contains("paused after failing") && reason.contains("500"),
        "{reason}"
    );
    assert!(paused["lag"].as_i64() > Some(0));

    // The receiver is back; resuming delivers everything it missed, in order, once.
    *receiver.fail_next.lock().unwrap() = 0;
    app.ok(
        "update_webhook_subscription",
        json!({ "id": id, "paused": false }),
    )
    .await;
    receiver.wait_for("both messages", 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let texts = receiver.texts();
    assert_eq!(texts, ["first", "second"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_deliver_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let env = [("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE", "1")];
    let one = TestApp::start_on(&db, &env).await;
    let two = TestApp::start_on(&db, &env).await;
    let receiver = Receiver::default();
    let url = receiver.start().await;
    one.ok("create_webhook_subscription", json!({ "url": url }))
        .await;
    for (n, app) in [&one, &two, &one, &two].into_iter().enumerate() {
        app.customer_writes("15550002008", &format!("message {n}"))
            .await;
    }
    receiver.wait_for("four messages' events", 8).await;
    // Both instances poll every second: give a duplicate every chance to show.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let seqs = receiver.seqs();
    let mut unique = seqs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seqs, unique, "each event once, in order");
    assert_eq!(
        receiver.texts(),
        ["message 0", "message 1", "message 2", "message 3"]
    );
}
