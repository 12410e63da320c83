use serde_json::{Value, json};

use crate::support::*;

pub async fn send(
    app: &TestApp,
    conversation_id: &str,
    text: &str,
    client_id: &str,
) -> (u16, Value) {
    app.call(
        "send_message",
        json!({"conversation_id": conversation_id, "text": text, "client_id": client_id}),
    )
    .await
}

async fn message_status(app: &TestApp, conversation_id: &str, id: &str) -> Value {
    app.messages(conversation_id)
        .await
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap()
}

#[tokio::test]
async fn a_reply_moves_live_from_pending_to_read() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hello").await;
    let mut ws = app.socket(None).await;
    assert_eq!(ws.next().await["type"], "ready");

    let (status, msg) = send(&app, &conv, "On its way!", &uuid()).await;
    assert_eq!(status, 200, "{msg}");
    assert_eq!(msg["direction"], "out");
    assert!(msg["wamid"].as_str().unwrap().starts_with("wamid."));
    let id = msg["id"].as_str().unwrap().to_string();

    // Every status the socket shows for this message, in order.
    let mut seen = Vec::new();
    let frames = ws
        .until(|f| f["data"]["id"] == id.as_str() && f["data"]["status"] == "read")
        .await;
    for f in frames.iter().filter(|f| f["data"]["id"] == id.as_str()) {
        seen.push(f["data"]["status"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.first().map(String::as_str), Some("pending"));
    assert_eq!(seen.last().map(String::as_str), Some("read"));
    let ranks: Vec<i32> = seen
        .iter()
        .map(|s| match s.as_str() {
            "pending" => 0,
            "sent" => 1,
            "delivered" => 2,
            "read" => 3,
            other => panic!("unexpected status {other}"),
        })
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "ticks went backwards: {seen:?}"
    );
    assert!(seen.iter().any(|s| s == "delivered"), "{seen:?}");
}

#[tokio::test]
async fn a_repeated_client_id_returns_the_original_and_sends_once() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650002", "hi").await;
    let client_id = uuid();
    let (s1, first) = send(&app, &conv, "once", &client_id).await;
    let (s2, second) = send(&app, &conv, "once", &client_id).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["wamid"], second["wamid"]);
    let outbound: Vec<_> = app
        .messages(&conv)
        .await
        .into_iter()
        .filter(|m| m["direction"] == "out")
        .collect();
    assert_eq!(outbound.len(), 1);
}

pub async fn silent_send(app: &TestApp, conv: &str) -> (String, String) {
    app.add_fault(json!({"fault": "silent"})).await;
    let (status, msg) = send(app, conv, "ticks by hand", &uuid()).await;
    assert_eq!(status, 200, "{msg}");
    assert_eq!(msg["status"], "pending");
    (
        msg["id"].as_str().unwrap().to_string(),
        msg["wamid"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn receipts_in_any_order_end_at_read() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("4915112345678", "hallo").await;
    for order in [vec!["sent", "read", "delivered"], vec!["read", "sent"]] {
        let (id, wamid) = silent_send(&app, &conv).await;
        for (i, status) in order.iter().enumerate() {
            let res = app
                .post_webhook(&status_body(&wamid, status, 1_763_900_000 + i as i64))
                .await;
            assert_eq!(res.status(), 200);
        }
        let m = message_status(&app, &conv, &id).await;
        assert_eq!(m["status"], "read", "order {order:?}");
    }
}

#[tokio::test]
async fn a_late_sent_never_lowers_delivered_and_duplicates_change_nothing() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("14155550123", "yo").await;
    let (id, wamid) = silent_send(&app, &conv).await;
    for status in ["delivered", "delivered", "sent"] {
        app.post_webhook(&status_body(&wamid, status, 1_763_900_100))
            .await;
    }
    let m = message_status(&app, &conv, &id).await;
    assert_eq!(m["status"], "delivered");
}

#[tokio::test]
async fn a_receipt_before_the_send_response_is_applied() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("447700900123", "hey").await;
    app.add_fault(json!([{"fault": "receipt_before_response"}, {"fault": "no_read_receipt"}]))
        .await;
    let (status, msg) = send(&app, &conv, "early bird", &uuid()).await;
    assert_eq!(status, 200);
    let id = msg["id"].as_str().unwrap().to_string();
    assert_ne!(
        msg["status"], "pending",
        "the early `sent` was applied: {msg}"
    );
    eventually("delivered", || {
        let app = &app;
        let conv = conv.clone();
        let id = id.clone();
        async move { message_status(app, &conv, &id).await["status"] == "delivered" }
    })
    .await;
}

#[tokio::test]
async fn a_failed_receipt_shows_metas_code_and_title() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("918012345678", "hi").await;
    app.add_fault(json!({"fault": "fail_with", "code": 131047}))
        .await;
    let (_, msg) = send(&app, &conv, "too late", &uuid()).await;
    let id = msg["id"].as_str().unwrap().to_string();
    eventually("failed", || {
        let app = &app;
        let conv = conv.clone();
        let id = id.clone();
        async move { message_status(app, &conv, &id).await["status"] == "failed" }
    })
    .await;
    let m = message_status(&app, &conv, &id).await;
    assert_eq!(m["error"]["code"], 131047);
    assert_eq!(m["error"]["title"], "Re-engagement message");
}

#[tokio::test]
async fn an_api_error_marks_the_message_failed_with_the_reason() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    app.add_fault(json!({"fault": "send_error", "http_status": 400, "code": 131026}))
        .await;
    let (status, msg) = send(&app, &conv, "nope", &uuid()).await;
    assert_eq!(
        status, 200,
        "the message exists; its status says what happened"
    );
    assert_eq!(msg["status"], "failed");
    assert_eq!(msg["error"]["code"], 131026);
    assert!(msg["wamid"].is_null());
}

#[tokio::test]
async fn bad_sends_get_a_4xx_with_a_reason() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let (s, body) = send(&app, &conv, "   ", &uuid()).await;
    assert_eq!(s, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("empty"));
    let (s, _) = send(&app, &conv, "x", "not-a-uuid").await;
    assert_eq!(s, 400);
    let (s, _) = send(&app, "no-such-conversation", "x", &uuid()).await;
    assert_eq!(s, 404);
    let (s, _) = send(&app, &conv, &"x".repeat(4097), &uuid()).await;
    assert_eq!(s, 400);
    let (s, body) = app.call("send_message", json!({"text": 5})).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["code"], "bad_request");
}
