//! `search_messages` over HTTP: only what the caller may see, notes for the team, paged,
//! with a snippet; a query without words is refused with the reason.

use serde_json::{Value, json};

use crate::security::two_inboxes;
use crate::support::{TestApp, client_with_token, uuid};

fn texts(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"]["text"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn search_finds_only_what_the_caller_may_see_notes_included_newest_first_and_paged() {
    let app = TestApp::start().await;
    let (inbox_a, _inbox_b, token_a, token_b) = two_inboxes(&app).await;
    let (a, b) = (client_with_token(&token_a), client_with_token(&token_b));
    // Customers write to the first inbox (agent A's); B works the other inbox only.
    let conv = app
        .customer_writes("5511987650001", "Where is my parcel?")
        .await;
    app.customer_writes("5511987650002", "The PARCEL arrived, thanks")
        .await;
    let (status, note) = app
        .call_with(
            &a,
            "add_note",
            json!({"conversation_id": conv, "text": "parcel lost by the courier", "client_id": uuid()}),
        )
        .await;
    assert_eq!(status, 200, "{note}");

    let (status, page) = app
        .call_with(&a, "search_messages", json!({"query": "parcel"}))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        texts(&page),
        [
            "parcel lost by the courier",
            "The PARCEL arrived, thanks",
            "Where is my parcel?"
        ]
    );
    let first = &page["results"][0];
    assert_eq!(first["conversation_id"], conv.as_str());
    assert_eq!(first["contact_name"], "Ana Souza");
    assert_eq!(first["snippet"], "parcel lost by the courier");
    assert!(page["next"].is_null());

    let (status, page) = app
        .call_with(&b, "search_messages", json!({"query": "parcel"}))
        .await;
    assert_eq!(status, 200);
    assert!(
        texts(&page).is_empty(),
        "another inbox's agent finds nothing: {page}"
    );

    // Paged: two, then the rest after `next`.
    let page = app
        .ok("search_messages", json!({"query": "parcel", "limit": 2}))
        .await;
    assert_eq!(texts(&page).len(), 2);
    let next = page["next"].as_str().unwrap();
    let rest = app
        .ok(
            "search_messages",
            json!({"query": "parcel", "limit": 2, "before": next}),
        )
        .await;
    assert_eq!(texts(&rest), ["Where is my parcel?"]);

    for (args, why) in [
        (json!({"query": " ?! "}), "word"),
        (json!({"query": "parcel", "before": "yesterday"}), "cursor"),
        (json!({"query": "parcel", "limit": 0}), "limit"),
    ] {
        let (status, body) = app.call("search_messages", args).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");
    }
    let (status, _) = app
        .call_with(
            &b,
            "search_messages",
            json!({"query": "parcel", "inbox_id": inbox_a}),
        )
        .await;
    assert_eq!(status, 404, "an inbox the caller cannot see");
}
