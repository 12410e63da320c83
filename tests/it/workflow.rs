//! The team workflow over HTTP: starting conversations, assignment, status and snoozes,
//! labels, notes, contacts and the filtered list, with their 400/404/409 answers and
//! inbox scope.

use serde_json::{Value, json};

use crate::cloud_api::sent_log;
use crate::security::two_inboxes;
use crate::support::{TestApp, client_with_token, eventually, text_body, uuid};

fn hello() -> Value {
    json!({"type": "template", "name": "hello_world", "language": "en_US"})
}

async fn me(app: &TestApp) -> Value {
    app.ok("me", json!({})).await["user"].clone()
}

async fn conversation(app: &TestApp, id: &str) -> Value {
    app.conversations()
        .await
        .into_iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("conversation {id} is not listed"))
}

async fn user_id(app: &TestApp, email: &str) -> String {
    app.ok("list_users", json!({}))
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn ids(list: &Value) -> Vec<String> {
    list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_conversation_starts_with_a_template_to_any_number_format_and_only_once() {
    let app = TestApp::start().await;
    let inbox = app.ok("list_inboxes", json!({})).await[0]["id"].clone();
    let client_id = uuid();
    let args = json!({"inbox_id": inbox, "to": "+44 7700-900 123", "name": "Zoe",
        "client_id": client_id, "message": hello()});
    let started = app.ok("start_conversation", args.clone()).await;
    let conv = &started["conversation"];
    assert_eq!(conv["contact"]["wa_id"], "447700900123");
    assert_eq!(conv["contact"]["name"], "Zoe");
    assert_eq!(conv["status"], "open");
    let message = &started["message"];
    assert_eq!(message["kind"], "template");
    let admin = me(&app).await;
    assert_eq!(message["sent_by"]["id"], admin["id"]);
    let again = app.ok("start_conversation", args).await;
    assert_eq!(
        again["message"]["id"], message["id"],
        "same client_id, same message"
    );
    assert_eq!(again["conversation"]["id"], conv["id"]);
    let conv_id = conv["id"].as_str().unwrap().to_string();
    let message_id = message["id"].as_str().unwrap().to_string();
    crate::cloud_api::wait_status(&app, &conv_id, &message_id, "read").await;
    assert_eq!(
        crate::cloud_api::accepted_for(&app, &message_id).await,
        1,
        "sent once"
    );
    // The same number in another format goes to the same conversation.
    let other = app
        .ok(
            "start_conversation",
            json!({"inbox_id": inbox, "to": "00447700900123", "client_id": uuid(), "message": hello()}),
        )
        .await;
    assert_eq!(other["conversation"]["id"], conv_id.as_str());
    assert_eq!(other["conversation"]["contact"]["name"], "Zoe");
}

#[tokio::test]
async fn starting_a_conversation_refuses_what_cannot_go() {
    let app = TestApp::start().await;
    let inbox = app.ok("list_inboxes", json!({})).await[0]["id"].clone();
    let start = |to: &str, message: Value| json!({"inbox_id": inbox, "to": to, "client_id": uuid(), "message": message});
    let text = json!({"type": "text", "body": "hi"});
    let (status, body) = app
        .call("start_conversation", start("+1 415 555 0100", text.clone()))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("window_closed")),
        "{body}"
    );
    assert!(app.conversations().await.is_empty(), "nothing was created");
    for bad in ["hello", "+44", "07700 900123", "+1 (415) 555-0100 ext 3"] {
        let (status, body) = app.call("start_conversation", start(bad, hello())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["message"].as_str().unwrap().starts_with("to: "),
            "{body}"
        );
    }
    let (status, _) = app
        .call(
            "start_conversation",
            json!({"inbox_id": "nope", "to": "14155550100", "client_id": uuid(), "message": hello()}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call(
            "start_conversation",
            json!({"inbox_id": inbox, "to": "14155550100", "client_id": "x", "message": hello()}),
        )
        .await;
    assert_eq!(status, 400);
    // A customer who wrote lately can be answered with text.
    app.customer_writes("14155550111", "hello?").await;
    let (status, body) = app
        .call("start_conversation", start("+1 415 555 0111", text))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn one_conversation_is_fetched_by_id_only_by_those_who_may_see_it() {
    let app = TestApp::start().await;
    let (_inbox_a, _inbox_b, token_a, token_b) = two_inboxes(&app).await;
    let conv = app
        .customer_writes("5511900000031", "an old question")
        .await;
    let got = app
        .ok("get_conversation", json!({"conversation_id": conv}))
        .await;
    assert_eq!(got["id"], conv.as_str());
    assert_eq!(got["contact"]["wa_id"], "5511900000031");
    assert_eq!(got["last_message"]["text"], "an old question");
    let (status, body) = app
        .call_with(
            &client_with_token(&token_a),
            "get_conversation",
            json!({"conversation_id": conv}),
        )
        .await;
    assert_eq!(status, 200, "a works inbox A: {body}");
    let (status, _) = app
        .call_with(
            &client_with_token(&token_b),
            "get_conversation",
            json!({"conversation_id": conv}),
        )
        .await;
    assert_eq!(
        status, 404,
        "b cannot see inbox A: answered as for no such conversation"
    );
    let (status, _) = app
        .call("get_conversation", json!({"conversation_id": "nope"}))
        .await;
    assert_eq!(status, 404);
    let (status, body) = app.call("get_conversation", json!({})).await;
    assert_eq!(status, 400, "no id: {body}");
}

#[tokio::test]
async fn assignment_goes_only_to_teammates_who_see_the_inbox_and_shows_in_mine_live() {
    let app = TestApp::start().await;
    let (inbox_a, _inbox_b, token_a, token_b) = two_inboxes(&app).await;
    let conv = app.customer_writes("5511900000001", "hi").await;
    let agent_a = user_id(&app, "a@example.com").await;
    let agent_b = user_id(&app, "b@example.com").await;
    let a = client_with_token(&token_a);
    let b = client_with_token(&token_b);
    let mut ws_a = app.socket_as(&token_a, None).await;
    ws_a.until(|f| f["type"] == "ready").await;

    let (status, body) = app
        .call(
            "assign_conversation",
            json!({"conversation_id": conv, "assignee_id": agent_b}),
        )
        .await;
    assert_eq!(status, 400, "b cannot see inbox A: {body}");
    let (status, _) = app
        .call(
            "assign_conversation",
            json!({"conversation_id": conv, "assignee_id": "nobody"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .call(
            "assign_conversation",
            json!({"conversation_id": "nope", "assignee_id": null}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call_with(
            &b,
            "assign_conversation",
            json!({"conversation_id": conv, "assignee_id": agent_b}),
        )
        .await;
    assert_eq!(status, 404, "b cannot assign into an inbox it cannot see");

    let assigned = app
        .ok(
            "assign_conversation",
            json!({"conversation_id": conv, "assignee_id": agent_a}),
        )
        .await;
    assert_eq!(assigned["assignee"]["id"], agent_a.as_str());
    assert_eq!(assigned["last_change"]["change"]["type"], "assigned");
    let frames = ws_a
        .until(|f| {
            f["type"] == "conversation.updated" && f["data"]["assignee"]["id"] == agent_a.as_str()
        })
        .await;
    assert!(!frames.is_empty());
    let (_, mine) = app
        .call_with(&a, "list_conversations", json!({"view": "mine"}))
        .await;
    assert_eq!(ids(&mine), vec![conv.clone()]);
    let (_, unassigned) = app
        .call_with(&a, "list_conversations", json!({"view": "unassigned"}))
        .await;
    assert!(ids(&unassigned).is_empty());
    let (_, b_all) = app
        .call_with(&b, "list_conversations", json!({"query": "hi"}))
        .await;
    assert!(ids(&b_all).is_empty(), "b never lists inbox A");
    let (status, teammates) = app
        .call_with(&a, "list_teammates", json!({"inbox_id": inbox_a}))
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = teammates
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(names.contains(&agent_a.as_str()) && !names.contains(&agent_b.as_str()));
    let (status, _) = app
        .call_with(&b, "list_teammates", json!({"inbox_id": inbox_a}))
        .await;
    assert_eq!(status, 404);

    let activity = app
        .ok("load_activity", json!({"conversation_id": conv}))
        .await;
    assert_eq!(activity.as_array().unwrap().len(), 1);
    let cleared = app
        .ok(
            "assign_conversation",
            json!({"conversation_id": conv, "assignee_id": null}),
        )
        .await;
    assert!(cleared["assignee"].is_null());
}

#[tokio::test]
async fn a_reply_claims_an_unassigned_conversation_and_names_its_sender() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511900000002", "hi").await;
    let admin = me(&app).await;
    let m = app
        .ok(
            "send_message",
            json!({"conversation_id": conv, "text": "hello", "client_id": uuid()}),
        )
        .await;
    assert_eq!(m["sent_by"]["id"], admin["id"]);
    assert_eq!(m["sent_by"]["name"], admin["name"]);
    assert_eq!(
        conversation(&app, &conv).await["assignee"]["id"],
        admin["id"]
    );
    let inbound = app
        .messages(&conv)
        .await
        .into_iter()
        .find(|m| m["direction"] == "in")
        .unwrap();
    assert!(inbound["sent_by"].is_null());
}

#[tokio::test]
async fn status_resolves_snoozes_and_a_customer_message_reopens_it() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511900000003", "hi").await;
    let set = |status: &str, until: Option<i64>| json!({"conversation_id": conv, "status": status, "snoozed_until": until});
    let now = switchboard::store::now_ms();
    for (args, why) in [
        (set("closed", None), "unknown status"),
        (set("snoozed", None), "snooze without a time"),
        (set("snoozed", Some(now - 1000)), "snooze into the past"),
        (set("resolved", Some(now + 1000)), "a time without a snooze"),
    ] {
        let (status, body) = app.call("set_conversation_status", args).await;
        assert_eq!(status, 400, "{why}: {body}");
    }
    let resolved = app
        .ok("set_conversation_status", set("resolved", None))
        .await;
    assert_eq!(resolved["status"], "resolved");
    let open_only = app
        .ok("list_conversations", json!({"status": ["open"]}))
        .await;
    assert!(ids(&open_only).is_empty());
    let everything = app.ok("list_conversations", json!({})).await;
    assert_eq!(
        ids(&everything),
        vec![conv.clone()],
        "no filter means every status"
    );
    let (status, _) = app
        .call("list_conversations", json!({"status": ["done"]}))
        .await;
    assert_eq!(status, 400);

    let mut ws = app.socket(None).await;
    ws.until(|f| f["type"] == "ready").await;
    app.customer_writes("5511900000003", "one more thing").await;
    ws.until(|f| f["type"] == "conversation.updated" && f["data"]["status"] == "open")
        .await;

    let until = switchboard::store::now_ms() + 1200;
    let snoozed = app
        .ok("set_conversation_status", set("snoozed", Some(until)))
        .await;
    assert_eq!(snoozed["status"], "snoozed");
    assert_eq!(snoozed["snoozed_until"], until);
    eventually("the snooze ends by itself", || async {
        conversation(&app, &conv).await["status"] == "open"
    })
    .await;
    let lines = app
        .ok("load_activity", json!({"conversation_id": conv}))
        .await;
    let kinds: Vec<&str> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["change"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["resolved", "open", "snoozed", "open"]);
}

#[tokio::test]
async fn a_note_reaches_the_team_never_whatsapp_and_mentions_teammates() {
    let app = TestApp::start().await;
    let (_, _, token_a, _) = two_inboxes(&app).await;
    let conv = app.customer_writes("5511900000004", "hi").await;
    let before = conversation(&app, &conv).await;
    let mut ws_a = app.socket_as(&token_a, None).await;
    ws_a.until(|f| f["type"] == "ready").await;
    let client_id = uuid();
    let args = json!({"conversation_id": conv, "text": "@a@example.com can you call them?", "client_id": client_id});
    let n = app.ok("add_note", args.clone()).await;
    assert_eq!(
        (n["kind"].as_str(), n["direction"].as_str()),
        (Some("note"), Some("note"))
    );
    assert_eq!(n["details"]["mentions"][0]["name"], "a@example.com");
    assert_eq!(app.ok("add_note", args).await["id"], n["id"], "idempotent");
    ws_a.until(|f| f["type"] == "message.created" && f["data"]["id"] == n["id"])
        .await;
    let after = conversation(&app, &conv).await;
    assert_eq!(after["last_message"], before["last_message"]);
    assert_eq!(after["last_inbound_at"], before["last_inbound_at"]);
    assert_eq!(after["unread_count"], before["unread_count"]);
    let sent = sent_log(&app).await;
    assert!(
        !sent
            .iter()
            .any(|s| s.to_string().contains("can you call them")),
        "never sent"
    );
    for (args, code) in [
        (
            json!({"conversation_id": conv, "text": "  ", "client_id": uuid()}),
            400,
        ),
        (
            json!({"conversation_id": conv, "text": "x", "client_id": "1"}),
            400,
        ),
        (
            json!({"conversation_id": "nope", "text": "x", "client_id": uuid()}),
            404,
        ),
    ] {
        assert_eq!(app.call("add_note", args).await.0, code);
    }
}

#[tokio::test]
async fn labels_are_normalised_and_filter_the_list() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511900000005", "hi").await;
    app.customer_writes("5511900000006", "hi").await;
    let (status, body) = app
        .call(
            "set_conversation_labels",
            json!({"conversation_id": conv, "labels": ["no spaces"]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let labelled = app
        .ok(
            "set_conversation_labels",
            json!({"conversation_id": conv, "labels": ["VIP", "vip", "billing"]}),
        )
        .await;
    assert_eq!(labelled["labels"], json!(["billing", "vip"]));
    let list = app.ok("list_conversations", json!({"label": "VIP"})).await;
    assert_eq!(ids(&list), vec![conv]);
}

#[tokio::test]
async fn contacts_are_listed_searched_and_edited_and_an_opt_out_stops_marketing_only() {
    let app = TestApp::start().await;
    let (_, _, _, token_b) = two_inboxes(&app).await;
    let conv = app.customer_writes("5511900000007", "hi").await;
    app.customer_writes("5511900000008", "hi").await;
    let page = app.ok("list_contacts", json!({"query": "0007"})).await;
    let contacts = page["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 1);
    let contact = &contacts[0];
    assert_eq!(contact["conversation_id"], conv.as_str());
    let id = contact["id"].as_str().unwrap();
    let (status, _) = app
        .call_with(
            &client_with_token(&token_b),
            "get_contact",
            json!({"contact_id": id}),
        )
        .await;
    assert_eq!(status, 404, "another inbox's contact");
    let (status, body) = app
        .call(
            "update_contact",
            json!({"contact_id": id, "labels": ["not ok!"]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let updated = app
        .ok(
            "update_contact",
            json!({"contact_id": id, "name": "Maria", "attributes": {"plan": "gold"}, "opted_out": true}),
        )
        .await;
    assert_eq!(updated["name"], "Maria");
    assert_eq!(updated["attributes"]["plan"], "gold");
    assert_eq!(
        conversation(&app, &conv).await["contact"]["opted_out"],
        true
    );
    let promo = json!({"type": "template", "name": "seasonal_promo", "language": "en_US",
        "header": {"type": "image", "link": "https://cdn.example.com/spring.png"}, "params": ["Ana"]});
    let (status, body) = app
        .call(
            "send_outgoing",
            json!({"conversation_id": conv, "client_id": uuid(), "message": promo}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("opted_out")),
        "{body}"
    );
    let (status, body) = app
        .call(
            "send_outgoing",
            json!({"conversation_id": conv, "client_id": uuid(), "message": hello()}),
        )
        .await;
    assert_eq!(status, 200, "a utility template still goes: {body}");
    let (status, _) = app
        .call("update_contact", json!({"contact_id": "nope", "name": "x"}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_list_pages_past_any_size_and_refuses_bad_pages() {
    let app = TestApp::start().await;
    for i in 0..12 {
        app.customer_writes(&format!("55119000001{i:02}"), "hi")
            .await;
    }
    let mut seen = Vec::new();
    let mut before = Value::Null;
    loop {
        let page = app
            .ok("list_conversations", json!({"limit": 5, "before": before}))
            .await;
        seen.extend(ids(&page));
        before = page["next"].clone();
        if before.is_null() {
            break;
        }
    }
    assert_eq!(seen.len(), 12);
    assert_eq!(
        seen.iter().collect::<std::collections::HashSet<_>>().len(),
        12
    );
    assert_eq!(
        app.call("list_conversations", json!({"limit": 0})).await.0,
        400
    );
    assert_eq!(
        app.call("list_conversations", json!({"limit": 201}))
            .await
            .0,
        400
    );
    assert_eq!(
        app.call("list_conversations", json!({"before": "garbage"}))
            .await
            .0,
        400
    );
    let found = app
        .ok("list_conversations", json!({"query": "5511900000105"}))
        .await;
    assert_eq!(ids(&found).len(), 1);
}

#[tokio::test]
async fn an_inbox_can_hand_new_chats_to_online_members_and_stop_replies_claiming() {
    let app = TestApp::start().await;
    let (inbox_a, _, token_a, _) = two_inboxes(&app).await;
    let agent_a = user_id(&app, "a@example.com").await;
    let info = app
        .ok(
            "set_inbox_assignment",
            json!({"inbox_id": inbox_a, "auto_assign": true, "assign_on_reply": false}),
        )
        .await;
    assert_eq!(
        (
            info["auto_assign"].as_bool(),
            info["assign_on_reply"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let (status, _) = app
        .call_with(
            &client_with_token(&token_a),
            "set_inbox_assignment",
            json!({"inbox_id": inbox_a, "auto_assign": false}),
        )
        .await;
    assert_eq!(status, 403, "admins only");
    // Nobody online: the chat stays unassigned.
    let first = app.customer_writes("5511900000201", "hello").await;
    assert!(conversation(&app, &first).await["assignee"].is_null());
    // Agent A opens the inbox (a socket): the next new chat is theirs.
    let mut ws = app.socket_as(&token_a, None).await;
    ws.until(|f| f["type"] == "ready").await;
    let second = app.customer_writes("5511900000202", "hello").await;
    assert_eq!(
        conversation(&app, &second).await["assignee"]["id"],
        agent_a.as_str()
    );
    // Replies no longer claim.
    app.ok(
        "send_message",
        json!({"conversation_id": first, "text": "hi", "client_id": uuid()}),
    )
    .await;
    assert!(conversation(&app, &first).await["assignee"].is_null());
}

/// A crash between storing a customer's message and reopening its conversation must not
/// leave it resolved for good: the redelivery (Meta's, or the restart finishing the kept
/// body) reopens it. But a redelivery of a message the team resolved after reading stays
/// resolved.
#[tokio::test]
async fn a_redelivered_message_reopens_what_a_crash_left_resolved_and_nothing_resolved_since() {
    use switchboard::model::{Details, MessageKind};
    use switchboard::store::{ContactKey, NewInbound};
    let app = TestApp::start().await;
    let wa = "5511900000021";
    let conv = app.customer_writes(wa, "hi").await;
    let resolved = json!({"conversation_id": conv, "status": "resolved"});
    app.ok("set_conversation_status", resolved.clone()).await;

    // The crash: the next message is stored, and the process dies before the reopen.
    let store = &app.running.state.store;
    let inbox_id = conversation(&app, &conv).await["inbox_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ts = switchboard::store::now_ms() / 1000;
    store
        .record_inbound(NewInbound {
            inbox_id,
            wamid: "wamid.CRASHED.1".into(),
            contact: ContactKey {
                wa_id: Some(wa.into()),
                user_id: None,
                name: None,
            },
            kind: MessageKind::Text,
            text: Some("are you there?".into()),
            timestamp: ts,
            reply_to: None,
            awaits_target: false,
            details: Details::default(),
            raw: "{}".into(),
        })
        .await
        .unwrap();
    assert_eq!(conversation(&app, &conv).await["status"], "resolved");

    let again = text_body("wamid.CRASHED.1", wa, "Customer", "are you there?", ts);
    assert_eq!(app.post_webhook(&again).await.status(), 200);
    assert_eq!(
        conversation(&app, &conv).await["status"],
        "open",
        "the redelivery finishes what the crash left undone"
    );

    // Read and resolved since: the same message delivered once more changes nothing.
    app.ok("set_conversation_status", resolved).await;
    assert_eq!(app.post_webhook(&again).await.status(), 200);
    assert_eq!(conversation(&app, &conv).await["status"], "resolved");
}

#[tokio::test]
async fn view_counts_follow_assignment_and_status_and_count_only_what_the_caller_may_see() {
    let app = TestApp::start().await;
    let (_inbox_a, _inbox_b, token_a, token_b) = two_inboxes(&app).await;
    let first = app.customer_writes("5511900000031", "one").await;
    let second = app.customer_writes("5511900000032", "two").await;
    let counts = |args: Value| app.ok("count_conversations", args);
    assert_eq!(
        counts(json!({})).await,
        json!({"mine": 0, "unassigned": 2, "all": 2})
    );
    let me = me(&app).await["id"].as_str().unwrap().to_string();
    app.ok(
        "assign_conversation",
        json!({"conversation_id": first, "assignee_id": me}),
    )
    .await;
    app.ok(
        "set_conversation_status",
        json!({"conversation_id": second, "status": "resolved"}),
    )
    .await;
    assert_eq!(
        counts(json!({"status": ["open"]})).await,
        json!({"mine": 1, "unassigned": 0, "all": 1})
    );
    assert_eq!(
        counts(json!({})).await,
        json!({"mine": 1, "unassigned": 1, "all": 2})
    );
    assert_eq!(
        counts(json!({"query": "two"})).await,
        json!({"mine": 0, "unassigned": 1, "all": 1})
    );
    let (status, body) = app
        .call("count_conversations", json!({"status": ["done"]}))
        .await;
    assert_eq!(status, 400, "{body}");

    // Agent a sees inbox A (where both are); agent b sees inbox B, which has none.
    let (_, a) = app
        .call_with(
            &client_with_token(&token_a),
            "count_conversations",
            json!({}),
        )
        .await;
    assert_eq!(a, json!({"mine": 0, "unassigned": 1, "all": 2}));
    let (_, b) = app
        .call_with(
            &client_with_token(&token_b),
            "count_conversations",
            json!({}),
        )
        .await;
    assert_eq!(b, json!({"mine": 0, "unassigned": 0, "all": 0}));
}
