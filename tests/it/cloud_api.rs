//! Sending every kind of message, and surviving what Meta does to sends: retryable
//! errors, lost answers, a bad token, failures an agent retries, the 24-hour window and
//! media that will not download.

use serde_json::{Value, json};

use crate::scenarios::eventually_media;
use crate::support::*;

pub async fn send_outgoing(app: &TestApp, conv: &str, message: Value) -> (u16, Value) {
    app.call(
        "send_outgoing",
        json!({"conversation_id": conv, "client_id": uuid(), "message": message}),
    )
    .await
}

pub async fn message(app: &TestApp, conv: &str, id: &str) -> Value {
    app.messages(conv)
        .await
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap()
}

pub async fn wait_status(app: &TestApp, conv: &str, id: &str, status: &str) -> Value {
    for _ in 0..300 {
        let m = message(app, conv, id).await;
        if m["status"] == status {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "{id} never reached {status}: {}",
        message(app, conv, id).await
    );
}

pub async fn sent_log(app: &TestApp) -> Vec<Value> {
    app.http
        .get(format!("{}/_sim/sent", app.url))
        .send()
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
}

/// Accepted sends whose callback data names message `id` (any attempt).
pub async fn accepted_for(app: &TestApp, id: &str) -> usize {
    sent_log(app)
        .await
        .iter()
        .filter(|s| s["callback"].as_str().is_some_and(|c| c.starts_with(id)))
        .count()
}

#[tokio::test]
async fn every_outbound_type_reaches_the_api_in_metas_shape() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let customer = app.messages(&conv).await[0].clone();
    let cases = [
        json!({"type": "text", "body": "See https://example.com", "reply_to": customer["id"]}),
        json!({"type": "media", "kind": "image", "link": "https://cdn.example.com/p.png", "caption": "photo"}),
        json!({"type": "media", "kind": "document", "link": "https://cdn.example.com/i.pdf", "filename": "invoice.pdf"}),
        json!({"type": "template", "name": "order_update", "language": "pt_BR", "params": ["Ana", "#42"]}),
        json!({"type": "interactive", "body": "Resolved?", "options": [{"id": "y", "title": "Yes"}, {"id": "n", "title": "No"}]}),
        json!({"type": "interactive", "body": "Pick a plan", "button": "Plans",
            "options": [{"id": "b", "title": "Basic", "description": "1 seat"}, {"id": "p", "title": "Pro"}]}),
        json!({"type": "reaction", "message_id": customer["id"], "emoji": "👍"}),
    ];
    for case in cases {
        let (status, m) = send_outgoing(&app, &conv, case.clone()).await;
        assert_eq!(status, 200, "{case}: {m}");
        assert!(m["wamid"].is_string(), "{case}: accepted: {m}");
    }
    let kinds: Vec<_> = sent_log(&app)
        .await
        .iter()
        .map(|s| s["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "text",
            "image",
            "document",
            "template",
            "interactive",
            "interactive",
            "reaction"
        ]
    );
    // The reply quotes what it answers; the reaction lands on the customer's bubble.
    let all = app.messages(&conv).await;
    let reply = all
        .iter()
        .find(|m| m["kind"] == "text" && m["direction"] == "out")
        .unwrap();
    assert_eq!(reply["reply_to"], customer["wamid"]);
    assert_eq!(reply["details"]["quote"]["text"], customer["text"]);
    let target = message(&app, &conv, customer["id"].as_str().unwrap()).await;
    assert_eq!(
        target["details"]["reactions"][0],
        json!({"by": "out", "emoji": "👍", "at": target["details"]["reactions"][0]["at"]})
    );
}

#[tokio::test]
async fn bad_outbound_content_gets_a_reason_and_sends_nothing() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    for bad in [
        json!({"type": "media", "kind": "image", "link": "ftp://x"}),
        json!({"type": "media", "kind": "audio", "link": "https://x/a.ogg", "caption": "no"}),
        json!({"type": "template", "name": "Bad Name", "language": "en_US"}),
        json!({"type": "interactive", "body": "x", "options": []}),
        json!({"type": "interactive", "body": "x", "options": [{"id": "1", "title": "a title far longer than twenty"}]}),
        json!({"type": "reaction", "message_id": "nope", "emoji": "👍"}),
    ] {
        let (status, body) = send_outgoing(&app, &conv, bad.clone()).await;
        assert!((400..500).contains(&status), "{bad}: {status} {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    assert!(sent_log(&app).await.is_empty());
}

#[tokio::test]
async fn retryable_errors_retry_with_the_same_message_and_send_once() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    app.add_fault(json!([
        {"fault": "send_error", "http_status": 429, "code": 130429},
        {"fault": "send_error", "http_status": 503, "code": 131016}
    ]))
    .await;
    let (status, m) = crate::send::send(&app, &conv, "eventually", &uuid()).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        m["status"], "pending",
        "waiting for a retry, not failed: {m}"
    );
    assert!(
        m["details"]["waiting"]["reason"]
            .as_str()
            .unwrap()
            .contains("retrying")
    );
    let id = m["id"].as_str().unwrap();
    let done = wait_status(&app, &conv, id, "read").await;
    assert!(done["details"]["waiting"].is_null(), "{done}");
    assert_eq!(accepted_for(&app, id).await, 1);
}

#[tokio::test]
async fn a_rate_limited_number_holds_its_other_sends_until_the_limit_lifts() {
    let app = TestApp::start().await;
    let ana = app.customer_writes("5511987650001", "hi").await;
    let bruno = app.customer_writes("5511987650002", "hello").await;
    app.add_fault(json!({"fault": "send_error", "http_status": 429, "code": 130429}))
        .await;
    let (_, first) = crate::send::send(&app, &ana, "first", &uuid()).await;
    assert_eq!(first["status"], "pending", "{first}");
    // 130429 is about the number: the next send waits without calling Meta, although
    // nothing would have refused it.
    let (status, second) = crate::send::send(&app, &bruno, "second", &uuid()).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["status"], "pending", "{second}");
    assert!(second["wamid"].is_null(), "{second}");
    let reason = second["details"]["waiting"]["reason"].as_str().unwrap();
    assert!(reason.contains("rate limit for this number"), "{reason}");
    assert!(sent_log(&app).await.is_empty());
    // Both go out once the hold has passed, each exactly once.
    for (conv, m) in [(&ana, &first), (&bruno, &second)] {
        let id = m["id"].as_str().unwrap();
        wait_status(&app, conv, id, "read").await;
        assert_eq!(accepted_for(&app, id).await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_hold_is_shared_by_every_instance() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let a = TestApp::start_on(&db, &[]).await;
    let b = TestApp::start_on(&db, &[]).await;
    let ana = a.customer_writes("5511987650001", "hi").await;
    let bruno = a.customer_writes("5511987650002", "hello").await;
    a.add_fault(json!({"fault": "send_error", "http_status": 429, "code": 130429}))
        .await;
    let (_, first) = crate::send::send(&a, &ana, "first", &uuid()).await;
    assert_eq!(first["status"], "pending", "{first}");
    // Instance b never got a 130429 itself, yet holds the number's sends too.
    let (status, second) = crate::send::send(&b, &bruno, "second", &uuid()).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["status"], "pending", "{second}");
    let reason = second["details"]["waiting"]["reason"].as_str().unwrap();
    assert!(reason.contains("rate limit for this number"), "{reason}");
    assert!(sent_log(&b).await.is_empty());
    for (app, conv, m) in [(&a, &ana, &first), (&b, &bruno, &second)] {
        wait_status(app, conv, m["id"].as_str().unwrap(), "read").await;
    }
}

#[tokio::test]
async fn a_lost_answer_is_not_sent_twice() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_on(
        &dir.path().join("db.sqlite"),
        &[("SWITCHBOARD_GRAPH_TIMEOUT_MS", "400")],
    )
    .await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    app.add_fault(json!({"fault": "timeout"})).await;
    let (status, m) = crate::send::send(&app, &conv, "did it go?", &uuid()).await;
    assert_eq!(status, 200, "{m}");
    let id = m["id"].as_str().unwrap();
    // Meta accepted it; its receipts name our message, so the retry finds it sent.
    wait_status(&app, &conv, id, "read").await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        accepted_for(&app, id).await,
        1,
        "{:?}",
        sent_log(&app).await
    );
}

#[tokio::test]
async fn a_rejected_token_pauses_the_inbox_until_resumed() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let mut socket = app.socket(None).await;
    socket.replay().await;
    app.add_fault(json!({"fault": "send_error", "http_status": 401, "code": 190}))
        .await;
    let (_, first) = crate::send::send(&app, &conv, "one", &uuid()).await;
    assert_eq!(first["status"], "pending", "paused, not failed: {first}");
    assert!(
        first["details"]["waiting"]["reason"]
            .as_str()
            .unwrap()
            .contains("paused")
    );
    // The next message queues behind the pause without calling Meta.
    let (_, second) = crate::send::send(&app, &conv, "two", &uuid()).await;
    assert_eq!(second["status"], "pending");
    assert!(sent_log(&app).await.is_empty());
    let info = app.ok("server_info", json!({})).await;
    assert!(
        info["inboxes"][0]["sending_paused"]
            .as_str()
            .unwrap()
            .contains("access token")
    );

    // Open pages learn of the pause at once, and of its end.
    let inbox = info["inboxes"][0]["id"].as_str().unwrap();
    let paused = socket.until(|f| f["type"] == "inbox.updated").await;
    let paused = paused.last().unwrap();
    assert_eq!(paused["data"]["id"], inbox);
    assert!(
        paused["data"]["sending_paused"]
            .as_str()
            .unwrap()
            .contains("access token")
    );
    app.ok("resume_sending", json!({"inbox_id": inbox})).await;
    let resumed = socket.until(|f| f["type"] == "inbox.updated").await;
    assert!(resumed.last().unwrap()["data"]["sending_paused"].is_null());
    for m in [&first, &second] {
        wait_status(&app, &conv, m["id"].as_str().unwrap(), "read").await;
    }
    assert_eq!(sent_log(&app).await.len(), 2);
}

#[tokio::test]
async fn an_agent_retry_of_a_failed_message_is_a_new_call() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    app.add_fault(json!({"fault": "fail_with", "code": 131026}))
        .await;
    let (_, m) = crate::send::send(&app, &conv, "again please", &uuid()).await;
    let id = m["id"].as_str().unwrap();
    let failed = wait_status(&app, &conv, id, "failed").await;
    let old_wamid = failed["wamid"].clone();

    // Only failed messages can be retried.
    let (status, _) = app.call("retry_message", json!({"message_id": id})).await;
    assert_eq!(status, 200);
    let done = wait_status(&app, &conv, id, "read").await;
    assert_ne!(done["wamid"], old_wamid, "a new API call, a new wamid");
    assert_eq!(done["details"]["attempt"], 1);
    assert_eq!(accepted_for(&app, id).await, 2);
    let (status, body) = app.call("retry_message", json!({"message_id": id})).await;
    assert_eq!(status, 409, "{body}");

    // The replaced attempt is kept, with its wamid and why it failed.
    let earlier = &done["details"]["earlier_attempts"];
    assert_eq!(earlier.as_array().unwrap().len(), 1, "{done}");
    assert_eq!(earlier[0]["attempt"], 0);
    assert_eq!(earlier[0]["wamid"], old_wamid);
    assert_eq!(earlier[0]["status"], "failed");
    assert_eq!(earlier[0]["error"]["code"], 131026);

    // A late receipt for the failed attempt does not touch the new one...
    let res = app
        .post_webhook(&status_body(
            old_wamid.as_str().unwrap(),
            "failed",
            now_secs(),
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(message(&app, &conv, id).await["status"], "read");
    // ...but one that says the failed attempt was delivered after all is noted on it, live,
    // found by the attempt its callback data names: the customer may have it twice.
    let mut socket = app.socket(None).await;
    let mut late: Value = serde_json::from_slice(&status_body(
        old_wamid.as_str().unwrap(),
        "delivered",
        now_secs(),
    ))
    .unwrap();
    late["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] =
        json!(switchboard::store::callback_data(id, 0));
    let res = app.post_webhook(late.to_string().as_bytes()).await;
    assert_eq!(res.status(), 200);
    let frames = socket
        .until(|f| f["data"]["details"]["earlier_attempts"][0]["status"] == "delivered")
        .await;
    assert_eq!(frames.last().unwrap()["data"]["id"], id);
    let now = message(&app, &conv, id).await;
    assert_eq!(now["status"], "read", "the current attempt is untouched");
    assert_eq!(now["wamid"], done["wamid"]);
    assert_eq!(now["details"]["earlier_attempts"][0]["status"], "delivered");
    assert_eq!(
        now["details"]["earlier_attempts"][0]["error"]["code"],
        131026
    );
}

#[tokio::test]
async fn outside_the_window_only_templates_go_out() {
    let app = TestApp::start().await;
    let old = now_secs() - 25 * 3600;
    let res = app
        .post_webhook(&text_body(
            "wamid.W1",
            "5511900000300",
            "Late",
            "hello?",
            old,
        ))
        .await;
    assert_eq!(res.status(), 200);
    let conv = app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = crate::send::send(&app, &conv, "free-form", &uuid()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "window_closed");
    assert!(body["message"].as_str().unwrap().contains("template"));
    assert!(
        sent_log(&app).await.is_empty(),
        "refused before Meta is called"
    );
    let (status, m) = send_outgoing(
        &app,
        &conv,
        json!({"type": "template", "name": "hello_world", "language": "en_US"}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["kind"], "template");
}

#[tokio::test]
async fn media_downloads_retry_and_can_be_fetched_again() {
    let app = TestApp::start().await;
    app.add_fault(json!([{"fault": "media_error", "http_status": 503}]))
        .await;
    let post = |kind: &'static str| {
        let app = &app;
        async move {
            app.http
                .post(format!("{}/_sim/customer/messages", app.url))
                .json(&json!({"wa_id": "5511987650002", "kind": kind}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["wamid"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    // A 503 first: the file shows failed (retrying), then arrives.
    let doc = post("document").await;
    let stored = eventually_media(&app, "5511987650002", &doc, "stored").await;
    assert!(
        stored["details"]["media"]["attempts"].as_i64().unwrap() >= 2,
        "{stored}"
    );
    assert_eq!(stored["details"]["media"]["filename"], "invoice-42.pdf");

    // The media id has expired at Meta: unavailable for good.
    app.add_fault(json!({"fault": "media_gone"})).await;
    let voice = post("audio").await;
    let gone = eventually_media(&app, "5511987650002", &voice, "unavailable").await;
    assert_eq!(gone["details"]["media"]["voice"], true);
    let (status, _) = app
        .call("refetch_media", json!({"message_id": "not-a-message"}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_burst_of_customers_arrives_complete() {
    let app = TestApp::start().await;
    let res = app
        .http
        .post(format!("{}/_sim/burst", app.url))
        .json(&json!({"count": 40}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["delivered"], 40);
    let mut total = 0;
    for c in app.conversations().await {
        total += app.messages(c["id"].as_str().unwrap()).await.len();
    }
    assert_eq!(total, 40);
}

#[tokio::test]
async fn every_sample_fixture_parses_and_is_stored() {
    let app = TestApp::start().await;
    let mut names: Vec<_> =
        std::fs::read_dir(format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".json"))
            .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let bytes = fixture(&name);
        let changes = switchboard::whatsapp::wire::parse_payload(&bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for c in &changes {
            for m in &c.messages {
                assert!(
                    matches!(m, switchboard::whatsapp::wire::Item::Ok(_)),
                    "{name}: {m:?}"
                );
            }
        }
        let res = app.post_webhook(&bytes).await;
        assert_eq!(res.status(), 200, "{name}");
    }
    assert!(!app.conversations().await.is_empty());
}

#[tokio::test]
async fn reading_marks_the_customers_messages_read_and_typing_shows_only_in_the_window() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "anyone?").await;
    let wamid = app.messages(&conv).await[0]["wamid"].clone();
    app.ok("mark_conversation_read", json!({"conversation_id": conv}))
        .await;
    for _ in 0..100 {
        if sent_log(&app).await.iter().any(|s| s["type"] == "read") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let log = sent_log(&app).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["type"], "read");
    assert_eq!(log[0]["wamid"], wamid);

    let told = app
        .ok("show_typing", json!({"conversation_id": conv}))
        .await;
    assert_eq!(told, true);
    assert_eq!(sent_log(&app).await[1]["type"], "read+typing");

    // Outside the window nobody can answer, so no "typing…" is promised.
    let old = now_secs() - 25 * 3600;
    app.post_webhook(&text_body("wamid.OLDT", "5511900000301", "Late", "hi", old))
        .await;
    let late = app
        .conversations()
        .await
        .into_iter()
        .find(|c| c["contact"]["wa_id"] == "5511900000301")
        .unwrap();
    let told = app
        .ok("show_typing", json!({"conversation_id": late["id"]}))
        .await;
    assert_eq!(told, false);
}

#[tokio::test]
async fn the_simulator_sends_every_customer_kind_and_edits_and_deletions_apply() {
    let app = TestApp::start().await;
    let sim = |body: Value| {
        let app = &app;
        async move {
            let res = app
                .http
                .post(format!("{}/_sim/customer/messages", app.url))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{body}");
            res.json::<Value>().await.unwrap()["wamid"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let wa = "5511987650001";
    let original = sim(json!({"wa_id": wa, "text": "helo"})).await;
    let kinds = [
        ("referral", "text"),
        ("video", "video"),
        ("sticker", "sticker"),
        ("list_reply", "interactive"),
        ("nfm_reply", "interactive"),
        ("button", "button"),
        ("contacts", "contacts"),
    ];
    for (kind, _) in kinds {
        sim(json!({"wa_id": wa, "kind": kind})).await;
    }
    sim(json!({"wa_id": wa, "kind": "edit", "target": original, "text": "hello"})).await;
    let conv = app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let all = app.messages(&conv).await;
    for (_, stored) in kinds {
        assert!(all.iter().any(|m| m["kind"] == stored), "{stored}: {all:?}");
    }
    assert!(all.iter().any(|m| !m["details"]["referral"].is_null()));
    let edited = all
        .iter()
        .find(|m| m["wamid"] == original.as_str())
        .unwrap();
    assert_eq!(edited["text"], "hello");
    assert_eq!(edited["details"]["edited"], true);

    sim(json!({"wa_id": wa, "kind": "revoke", "target": original})).await;
    let all = app.messages(&conv).await;
    let deleted = all
        .iter()
        .find(|m| m["wamid"] == original.as_str())
        .unwrap();
    assert_eq!(deleted["details"]["deleted"], true);
    let res = app
        .http
        .post(format!("{}/_sim/customer/messages", app.url))
        .json(&json!({"kind": "edit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "an edit needs its target");
}
