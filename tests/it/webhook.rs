use futures::future::join_all;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_signed_inbound_webhook_reaches_a_connected_socket() {
    let app = TestApp::start().await;
    let mut ws = app.socket(None).await;
    assert_eq!(ws.next().await["type"], "ready");

    let res = app.post_webhook(&fixture("inbound_text.json")).await;
    assert_eq!(res.status(), 200);

    let frames = ws.until(|f| f["type"] == "message.created").await;
    let created = frames.last().unwrap();
    assert!(created["seq"].as_i64().unwrap() > 0);
    let data = &created["data"];
    assert_eq!(data["text"], "Hi! Is my order on its way?");
    assert_eq!(data["direction"], "in");
    assert_eq!(data["kind"], "text");
    assert_eq!(data["timestamp"], 1763800000);
    assert!(data["wamid"].as_str().unwrap().starts_with("wamid."));
    assert!(data["conversation_id"].is_string());

    let conv = ws.until(|f| f["type"] == "conversation.updated").await;
    let conv = &conv.last().unwrap()["data"];
    assert_eq!(conv["contact"]["name"], "Ana Souza");
    assert_eq!(conv["unread_count"], 1);
    assert_eq!(conv["last_message"]["text"], "Hi! Is my order on its way?");
}

#[tokio::test]
async fn the_same_webhook_five_times_at_once_yields_one_message_and_one_event() {
    let app = TestApp::start().await;
    let body = fixture("inbound_text.json");
    let statuses = join_all((0..5).map(|_| app.post_webhook(&body))).await;
    assert!(statuses.iter().all(|r| r.status() == 200));

    let convs = app.conversations().await;
    assert_eq!(convs.len(), 1);
    assert_eq!(
        convs[0]["unread_count"], 1,
        "a duplicate must not count as unread"
    );
    let id = convs[0]["id"].as_str().unwrap();
    assert_eq!(app.messages(id).await.len(), 1);

    let mut ws = app.socket(Some(0)).await;
    let (events, _) = ws.replay().await;
    let created = events
        .iter()
        .filter(|f| f["type"] == "message.created")
        .count();
    assert_eq!(created, 1);
}

#[tokio::test]
async fn a_processed_body_delivered_again_is_not_applied_again_over_a_later_change() {
    let app = TestApp::start().await;
    let wa = "5511988887777";
    let original = text_body("wamid.ORIG", wa, "Ana", "helo", now_secs() - 60);
    assert_eq!(app.post_webhook(&original).await.status(), 200);
    let edit = |wamid: &str, text: &str| {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "100000000000001", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001000", "phone_number_id": "200000000000001"},
                "contacts": [{"profile": {"name": "Ana"}, "wa_id": wa}],
                "messages": [{"from": wa, "id": wamid, "timestamp": now_secs().to_string(),
                    "type": "edit", "edit": {"original_message_id": "wamid.ORIG",
                        "message": {"type": "text", "text": {"body": text}}}}]
            }}]}]
        })
        .to_string()
        .into_bytes()
    };
    let first = edit("wamid.EDIT1", "hello");
    assert_eq!(app.post_webhook(&first).await.status(), 200);
    assert_eq!(
        app.post_webhook(&edit("wamid.EDIT2", "hello there"))
            .await
            .status(),
        200
    );
    // Meta delivers the first edit again, as it does when our 200 was lost on the way.
    assert_eq!(app.post_webhook(&first).await.status(), 200);

    let convs = app.conversations().await;
    let id = convs[0]["id"].as_str().unwrap();
    let messages = app.messages(id).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["text"], "hello there");
}

#[tokio::test]
async fn a_bad_signature_gets_401_and_stores_nothing() {
    let app = TestApp::start().await;
    let body = fixture("inbound_text.json");

    let wrong = switchboard::whatsapp::signature::sign(b"not-the-secret", &body);
    assert_eq!(
        app.post_webhook_signed(&body, Some(&wrong)).await.status(),
        401
    );
    assert_eq!(app.post_webhook_signed(&body, None).await.status(), 401);
    assert_eq!(
        app.post_webhook_signed(&body, Some("sha256=zz"))
            .await
            .status(),
        401
    );

    // Signed, then one byte changed.
    let good = switchboard::whatsapp::signature::sign(
        switchboard::config::SIMULATOR_APP_SECRET.as_bytes(),
        &body,
    );
    let mut tampered = body.clone();
    let i = tampered.iter().position(|b| *b == b'?').unwrap();
    tampered[i] = b'!';
    let res = app.post_webhook_signed(&tampered, Some(&good)).await;
    assert_eq!(res.status(), 401);
    let reason = res.text().await.unwrap();
    assert!(reason.contains("does not match"), "{reason}");

    assert!(app.conversations().await.is_empty());
    let mut ws = app.socket(Some(0)).await;
    let (events, ready) = ws.replay().await;
    assert!(events.is_empty());
    assert_eq!(ready["seq"], 0);
}

#[tokio::test]
async fn escaped_unicode_bodies_verify_over_their_raw_bytes() {
    let app = TestApp::start().await;
    assert_eq!(
        app.post_webhook(&fixture("inbound_text_escaped_raw.json"))
            .await
            .status(),
        200
    );
    let convs = app.conversations().await;
    assert_eq!(convs[0]["contact"]["name"], "João");
    let id = convs[0]["id"].as_str().unwrap();
    assert_eq!(
        app.messages(id).await[0]["text"],
        "Ação 😀 ok https://example.com/a?b=1"
    );
}

#[tokio::test]
async fn a_batch_stores_every_message_against_the_right_contact() {
    let app = TestApp::start().await;
    let res = app
        .post_webhook(&fixture("batch_two_contacts_three_messages.json"))
        .await;
    assert_eq!(res.status(), 200);
    let convs = app.conversations().await;
    assert_eq!(convs.len(), 2);
    let ana = convs
        .iter()
        .find(|c| c["contact"]["name"] == "Ana Souza")
        .unwrap();
    let bruno = convs
        .iter()
        .find(|c| c["contact"]["name"] == "Bruno Lima")
        .unwrap();
    let ana_texts: Vec<_> = app
        .messages(ana["id"].as_str().unwrap())
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ana_texts,
        ["second from Ana", "first from Ana"],
        "newest first"
    );
    assert_eq!(ana["unread_count"], 2);
    assert_eq!(app.messages(bruno["id"].as_str().unwrap()).await.len(), 1);
}

#[tokio::test]
async fn unknown_types_are_kept_as_placeholders_and_acknowledged() {
    let app = TestApp::start().await;
    let body = json!({"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
        {"field":"messages","value":{"messaging_product":"whatsapp",
            "metadata":{"display_phone_number":"15550001000","phone_number_id":"200000000000001"},
            "contacts":[{"profile":{"name":"Zed"},"wa_id":"4917000000001"}],
            "messages":[{"from":"4917000000001","id":"wamid.HOLO1","timestamp":"1763800700",
                "type":"hologram","hologram":{"beam":true}}],
            "statuses":[{"id":"wamid.UNKNOWN","status":"warning","timestamp":"1763800701"}]}},
        {"field":"message_template_status_update","value":{"event":"APPROVED"}}
    ]}]});
    let res = app.post_webhook(body.to_string().as_bytes()).await;
    assert_eq!(res.status(), 200);
    let convs = app.conversations().await;
    let id = convs[0]["id"].as_str().unwrap();
    let m = &app.messages(id).await[0];
    assert_eq!(m["kind"], "unsupported");
    assert_eq!(convs[0]["last_message"]["text"], "Unsupported message");
}

#[tokio::test]
async fn a_webhook_for_an_unknown_number_is_acknowledged_and_not_stored() {
    let app = TestApp::start().await;
    let body = String::from_utf8(fixture("inbound_text.json"))
        .unwrap()
        .replace("200000000000001", "999999999999999");
    assert_eq!(app.post_webhook(body.as_bytes()).await.status(), 200);
    assert!(app.conversations().await.is_empty());
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_is_refused_with_a_reason() {
    let app = TestApp::start().await;
    let res = app.post_webhook(b"this is not json").await;
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("not JSON"),
        "{body}"
    );
}

#[tokio::test]
async fn bodies_over_three_mebibytes_get_413() {
    let app = TestApp::start().await;
    let big = vec![b' '; 3 * 1024 * 1024 + 1];
    assert_eq!(app.post_webhook(&big).await.status(), 413);
}

#[tokio::test]
async fn the_verification_handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = TestApp::start().await;
    let get = |q: &str| {
        let url = format!("{}/webhook?{q}", app.url);
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let token = switchboard::config::SIMULATOR_VERIFY_TOKEN;
    let ok = get(&format!(
        "hub.mode=subscribe&hub.verify_token={token}&hub.challenge=9137"
    ))
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "9137");
    let bad = get("hub.mode=subscribe&hub.verify_token=nope&hub.challenge=9137").await;
    assert_eq!(bad.status(), 403);
    let mode = get(&format!(
        "hub.mode=unsubscribe&hub.verify_token={token}&hub.challenge=9137"
    ))
    .await;
    assert_eq!(mode.status(), 403);
    assert_eq!(get("").await.status(), 403);
}
