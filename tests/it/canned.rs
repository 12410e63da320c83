//! Canned responses over HTTP: who sees and changes which, and the shortcut rules.

use serde_json::{Value, json};

use crate::security::two_inboxes;
use crate::support::{TestApp, client_with_token};

fn shortcuts(list: &Value) -> Vec<String> {
    list["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["shortcut"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn canned_responses_are_global_for_admins_or_kept_to_an_inbox_its_agents_manage() {
    let app = TestApp::start().await;
    let (inbox_a, _inbox_b, token_a, token_b) = two_inboxes(&app).await;
    let (a, b) = (client_with_token(&token_a), client_with_token(&token_b));

    // An admin's global response: offered to everyone, its shortcut without `/`, lower-case.
    let thanks = app
        .ok(
            "save_canned_response",
            json!({"shortcut": "/Thanks", "text": "  Thanks, {{contact.name}}!  "}),
        )
        .await;
    assert_eq!(thanks["shortcut"], "thanks");
    assert_eq!(thanks["text"], "Thanks, {{contact.name}}!");
    for who in [&a, &b] {
        let (status, list) = app.call_with(who, "list_canned_responses", json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(shortcuts(&list), ["thanks"]);
    }

    // An agent may not change global ones, but keeps their own inbox's.
    let (status, body) = app
        .call_with(
            &a,
            "save_canned_response",
            json!({"shortcut": "x", "text": "y"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app
        .call_with(
            &a,
            "save_canned_response",
            json!({"id": thanks["id"], "shortcut": "thanks", "text": "mine now"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, hours) = app
        .call_with(
            &a,
            "save_canned_response",
            json!({"shortcut": "hours", "text": "We open at 9.", "inbox_id": inbox_a}),
        )
        .await;
    assert_eq!(status, 200, "{hours}");
    assert_eq!(hours["inbox_id"], inbox_a.as_str());

    // Another inbox's agent neither sees it nor can touch it.
    let (_, list) = app.call_with(&b, "list_canned_responses", json!({})).await;
    assert_eq!(shortcuts(&list), ["thanks"]);
    let (status, _) = app
        .call_with(&b, "delete_canned_response", json!({"id": hours["id"]}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call_with(
            &b,
            "save_canned_response",
            json!({"shortcut": "b-hours", "text": "t", "inbox_id": inbox_a}),
        )
        .await;
    assert_eq!(status, 404);

    // Its own agent edits it in place.
    let (status, edited) = app
        .call_with(
            &a,
            "save_canned_response",
            json!({"id": hours["id"], "shortcut": "opening-hours", "text": "9 to 5.", "inbox_id": inbox_a}),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["id"], hours["id"]);
    let (_, list) = app.call_with(&a, "list_canned_responses", json!({})).await;
    assert_eq!(shortcuts(&list), ["opening-hours", "thanks"]);

    let (status, _) = app
        .call_with(&a, "delete_canned_response", json!({"id": hours["id"]}))
        .await;
    assert_eq!(status, 200);
    let (_, list) = app.call_with(&a, "list_canned_responses", json!({})).await;
    assert_eq!(shortcuts(&list), ["thanks"]);
}

#[tokio::test]
async fn a_canned_response_needs_a_free_well_formed_shortcut_and_some_text() {
    let app = TestApp::start().await;
    app.ok(
        "save_canned_response",
        json!({"shortcut": "thanks", "text": "Thanks!"}),
    )
    .await;
    let cases = [
        (
            json!({"shortcut": "THANKS", "text": "again"}),
            409,
            "already in use",
        ),
        (
            json!({"shortcut": "two words", "text": "t"}),
            400,
            "shortcut",
        ),
        (json!({"shortcut": "/", "text": "t"}), 400, "shortcut"),
        (json!({"shortcut": "ok", "text": "   "}), 400, "empty"),
        (
            json!({"shortcut": "long", "text": "x".repeat(4097)}),
            400,
            "4096",
        ),
        (
            json!({"id": "nope", "shortcut": "ok", "text": "t"}),
            404,
            "not found",
        ),
    ];
    for (args, want, reason) in cases {
        let (status, body) = app.call("save_canned_response", args.clone()).await;
        assert_eq!(status, want, "{args} → {body}");
        assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
    }
    let (status, _) = app
        .call("delete_canned_response", json!({"id": "nope"}))
        .await;
    assert_eq!(status, 404);
    let list = app.ok("list_canned_responses", json!({})).await;
    assert_eq!(shortcuts(&list), ["thanks"]);
}
