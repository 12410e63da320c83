//! Presence and typing among agents: `presence.updated` and `agent.typing` frames, which
//! carry no seq, are never stored or replayed, and reach only those who may see them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::realtime::{Redis, two_instances};
use crate::security::two_inboxes;
use crate::support::{Socket, TestApp, client_with_token};

/// Reads frames until one of `kind` about `user` arrives; fails after the usual wait.
async fn frame_about(socket: &mut Socket, kind: &str, user: &str) -> Value {
    socket
        .until(|f| f["type"] == kind && f["data"]["user_id"] == user)
        .await
        .pop()
        .unwrap()
}

/// No frame of `kind` arrives within a while.
async fn none_of(socket: &mut Socket, kind: &str) {
    while let Some(f) = socket.next_within(Duration::from_millis(700)).await {
        assert_ne!(f["type"], kind, "unexpected {f}");
    }
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let (status, me) = app
        .call_with(&client_with_token(token), "me", json!({}))
        .await;
    assert_eq!(status, 200, "{me}");
    me["user"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn teammates_see_an_agent_come_online_go_away_and_type_only_where_they_may_see_it() {
    let app = TestApp::start().await;
    let (_inbox_a, _inbox_b, token_a, token_b) = two_inboxes(&app).await;
    let (a, b) = (client_with_token(&token_a), client_with_token(&token_b));
    let a_id = user_id(&app, &token_a).await;
    let conversation = app.customer_writes("15550004001", "hello").await;

    let mut admin = app.socket(None).await;
    admin.replay().await;
    let mut other_inbox = app.socket_as(&token_b, None).await;
    other_inbox.replay().await;

    let mut own = app.socket_as(&token_a, None).await;
    own.replay().await;
    let online = frame_about(&mut admin, "presence.updated", &a_id).await;
    assert_eq!(online["data"]["status"], "online");
    assert_eq!(online["data"]["name"], "a@example.com");
    assert!(online.get("seq").is_none(), "not an event: {online}");

    let (status, _) = app
        .call_with(&a, "set_presence", json!({"status": "away"}))
        .await;
    assert_eq!(status, 200);
    let away = frame_about(&mut admin, "presence.updated", &a_id).await;
    assert_eq!(away["data"]["status"], "away");
    let listed = app.ok("list_presence", json!({})).await;
    let entry = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == a_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(entry["status"], "away");
    // Agent b shares no inbox with a: a is not among b's teammates.
    let (_, theirs) = app.call_with(&b, "list_presence", json!({})).await;
    assert!(
        !theirs["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user_id"] == a_id.as_str()),
        "{theirs}"
    );

    let (status, body) = app
        .call_with(&a, "agent_typing", json!({"conversation_id": conversation}))
        .await;
    assert_eq!(status, 200, "{body}");
    let typing = frame_about(&mut admin, "agent.typing", &a_id).await;
    assert_eq!(typing["data"]["conversation_id"], conversation.as_str());
    assert_eq!(typing["data"]["name"], "a@example.com");
    assert!(typing.get("seq").is_none());
    // Not to whoever cannot see the inbox, and not back to the one typing.
    none_of(&mut other_inbox, "agent.typing").await;
    none_of(&mut own, "agent.typing").await;

    // Nothing of this is replayed.
    let mut later = app.socket(Some(0)).await;
    let (replayed, _) = later.replay().await;
    assert!(
        replayed
            .iter()
            .all(|f| f["type"] != "presence.updated" && f["type"] != "agent.typing"),
        "{replayed:?}"
    );

    // The rules: b cannot type in a's conversation; offline is not asked for.
    let (status, _) = app
        .call_with(&b, "agent_typing", json!({"conversation_id": conversation}))
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .call_with(&a, "set_presence", json!({"status": "offline"}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app
        .call_with(&a, "set_presence", json!({"status": "asleep"}))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_agent_whose_last_tab_closed_is_told_offline_after_a_beat_but_not_after_a_reload() {
    let app = TestApp::start().await;
    let (_, _, token_a, _) = two_inboxes(&app).await;
    let a_id = user_id(&app, &token_a).await;
    let mut admin = app.socket(None).await;
    admin.replay().await;

    let tab = app.socket_as(&token_a, None).await;
    frame_about(&mut admin, "presence.updated", &a_id).await;
    // A reload: the tab closes and opens again at once. Still online, no offline frame.
    tab.close().await;
    let tab = app.socket_as(&token_a, None).await;
    tokio::time::sleep(Duration::from_secs(36)).await;
    let mut frames = Vec::new();
    while let Some(f) = admin.next_within(Duration::from_millis(200)).await {
        frames.push(f);
    }
    assert!(
        frames
            .iter()
            .all(|f| !(f["type"] == "presence.updated" && f["data"]["status"] == "offline")),
        "{frames:?}"
    );

    tab.close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        let f = admin
            .next_within(deadline - tokio::time::Instant::now())
            .await
            .expect("an offline frame within a beat and a bit");
        if f["type"] == "presence.updated"
            && f["data"]["user_id"] == a_id.as_str()
            && f["data"]["status"] == "offline"
        {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_on_one_instance_reaches_a_socket_on_another_through_redis() {
    let redis = Redis::start();
    let (one, two, _dir) = two_instances(&redis).await;
    let conversation = one.customer_writes("15550004002", "hello").await;
    let mut watcher = two.socket(None).await;
    watcher.replay().await;
    // The watcher is the admin, so the one typing is a new agent (own typing is skipped).
    let agent = one
        .ok(
            "create_user",
            json!({"email": "t@example.com", "name": "Tess", "role": "agent", "password": "long-enough-pw"}),
        )
        .await;
    let inbox = one.ok("list_inboxes", json!({})).await[0]["id"].clone();
    one.ok(
        "set_inbox_member",
        json!({"inbox_id": inbox, "user_id": agent["id"], "member": true}),
    )
    .await;
    let token = one
        .ok(
            "create_api_token",
            json!({"name": "tess", "user_id": agent["id"]}),
        )
        .await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = one
        .call_with(
            &client_with_token(&token),
            "agent_typing",
            json!({"conversation_id": conversation}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let typing = frame_about(&mut watcher, "agent.typing", agent["id"].as_str().unwrap()).await;
    assert_eq!(typing["data"]["name"], "Tess");
}
