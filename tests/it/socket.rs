use serde_json::Value;

use crate::support::*;

fn seqs(frames: &[Value]) -> Vec<i64> {
    frames.iter().filter_map(|f| f["seq"].as_i64()).collect()
}

#[tokio::test]
async fn a_reconnect_with_since_replays_exactly_the_missed_events() {
    let app = TestApp::start().await;
    let mut ws = app.socket(None).await;
    let start = ws.next().await["seq"].as_i64().unwrap();

    app.post_webhook(&text_body(
        "wamid.R1",
        "5511000000001",
        "A",
        "one",
        1_763_800_001,
    ))
    .await;
    let first = ws.until(|f| f["type"] == "conversation.updated").await;
    let seen = *seqs(&first).last().unwrap();
    ws.close().await;

    // Missed while disconnected.
    for (i, w) in ["wamid.R2", "wamid.R3", "wamid.R4"].iter().enumerate() {
        app.post_webhook(&text_body(
            w,
            "5511000000002",
            "B",
            "missed",
            1_763_800_010 + i as i64,
        ))
        .await;
    }

    let mut again = app.socket(Some(seen)).await;
    let (replayed, ready) = again.replay().await;
    let all = {
        let mut ws = app.socket(Some(start)).await;
        ws.replay().await.0
    };
    let expected: Vec<i64> = seqs(&all).into_iter().filter(|s| *s > seen).collect();
    assert_eq!(
        seqs(&replayed),
        expected,
        "exactly the missed events, in order"
    );
    assert_eq!(
        expected.len(),
        6,
        "three messages, each with its conversation update"
    );
    assert!(expected.windows(2).all(|w| w[1] == w[0] + 1), "no gaps");
    assert_eq!(ready["seq"], *expected.last().unwrap());

    // And live events continue after ready.
    app.post_webhook(&text_body(
        "wamid.R5",
        "5511000000002",
        "B",
        "live",
        1_763_800_020,
    ))
    .await;
    let live = again.until(|f| f["type"] == "message.created").await;
    assert_eq!(
        live.last().unwrap()["seq"].as_i64().unwrap(),
        expected.last().unwrap() + 1
    );
}

#[tokio::test]
async fn a_since_from_another_database_or_before_the_log_gets_resync() {
    let app = TestApp::start().await;
    app.post_webhook(&fixture("inbound_text.json")).await;
    let mut ws = app.socket(Some(1_000_000)).await;
    let (events, end) = ws.replay().await;
    assert!(events.is_empty());
    assert_eq!(end["type"], "resync");

    let head = {
        let mut ws = app.socket(Some(0)).await;
        ws.replay().await.1["seq"].as_i64().unwrap()
    };
    app.running.state.store.trim_events(head - 1).await.unwrap();
    let mut ws = app.socket(Some(0)).await;
    let (events, end) = ws.replay().await;
    assert!(events.is_empty());
    assert_eq!(end["type"], "resync");
    assert_eq!(end["seq"], head);
    // Within the retained window replay still works.
    let mut ws = app.socket(Some(head - 1)).await;
    let (events, end) = ws.replay().await;
    assert_eq!(seqs(&events), [head]);
    assert_eq!(end["type"], "ready");
}

#[tokio::test]
async fn a_malformed_since_is_a_400() {
    let app = TestApp::start().await;
    let res = app
        .http
        .get(format!("{}/ws?since=abc", app.url))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn nothing_is_lost_across_a_restart() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "before restart").await;
    let mut ws = app.socket(None).await;
    let seen = ws.next().await["seq"].as_i64().unwrap();
    ws.close().await;
    let (db, dir) = app.stop().await;

    let app = TestApp::start_on(&db, &[]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    app.post_webhook(&text_body(
        "wamid.AFTER",
        "5511987650001",
        "Ana",
        "after restart",
        now + 5,
    ))
    .await;
    let texts: Vec<_> = app
        .messages(&conv)
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["after restart", "before restart"]);

    let mut ws = app.socket(Some(seen)).await;
    let (events, ready) = ws.replay().await;
    assert_eq!(events.len(), 2, "the message and its conversation update");
    assert!(events.iter().all(|e| e["seq"].as_i64().unwrap() > seen));
    assert_eq!(ready["type"], "ready");
    drop(dir);
}
