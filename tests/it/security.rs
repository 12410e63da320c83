//! Every door checked: sign-in, sessions, tokens, inbox scoping on every server function
//! and the socket, CSRF, cross-site sockets, throttling, and per-inbox webhook secrets.

use serde_json::{Value, json};

use crate::support::*;

const SECRET_B: &str = "inbox-b-app-secret";
pub const PNID_B: &str = "300000000000009";

/// Signs in over HTTP; returns the session cookie (`sb_session=…`).
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> Result<String, (u16, Value)> {
    let res = reqwest::Client::new()
        .post(format!("{}/api/sign_in", app.url))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let cookie = res
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string());
    let body: Value = res.json().await.unwrap_or(Value::Null);
    match (status, cookie) {
        (200, Some(c)) => {
            assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"), "{c}");
            Ok(c.split(';').next().unwrap().to_string())
        }
        _ => Err((status, body)),
    }
}

pub async fn demo_login(app: &TestApp) -> (String, String) {
    let info = app
        .call_with(&reqwest::Client::new(), "sign_in_info", json!({}))
        .await
        .1;
    (
        info["demo"]["email"].as_str().unwrap().to_string(),
        info["demo"]["password"].as_str().unwrap().to_string(),
    )
}

/// Two inboxes (A: the default, B: its own app secret), one agent for each, and a token
/// for each agent. Returns (inbox A id, inbox B id, token A, token B).
pub async fn two_inboxes(app: &TestApp) -> (String, String, String, String) {
    let inbox_b = app
        .ok(
            "create_inbox",
            json!({"phone_number_id": PNID_B, "name": "Inbox B", "app_secret": SECRET_B}),
        )
        .await;
    let inbox_a = app.ok("list_inboxes", json!({})).await.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let inbox_b = inbox_b["id"].as_str().unwrap().to_string();
    let mut tokens = Vec::new();
    for (email, inbox) in [("a@example.com", &inbox_a), ("b@example.com", &inbox_b)] {
        let user = app
            .ok(
                "create_user",
                json!({"email": email, "name": email, "role": "agent", "password": "long-enough-pw"}),
            )
            .await;
        let user_id = user["id"].as_str().unwrap();
        app.ok(
            "set_inbox_member",
            json!({"inbox_id": inbox, "user_id": user_id, "member": true}),
        )
        .await;
        let token = app
            .ok(
                "create_api_token",
                json!({"name": email, "user_id": user_id}),
            )
            .await;
        tokens.push(token["secret"].as_str().unwrap().to_string());
    }
    (inbox_a, inbox_b, tokens.remove(0), tokens.remove(0))
}

fn text_for(pnid: &str, wamid: &str, wa_id: &str, text: &str) -> Vec<u8> {
    String::from_utf8(text_body(wamid, wa_id, "Customer", text, 1_763_900_000))
        .unwrap()
        .replace("200000000000001", pnid)
        .into_bytes()
}

async fn post_signed(app: &TestApp, body: &[u8], secret: &str) -> u16 {
    let sig = switchboard::whatsapp::signature::sign(secret.as_bytes(), body);
    app.post_webhook_signed(body, Some(&sig))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_agent_never_sees_another_inboxs_conversations() {
    let app = TestApp::start().await;
    let (inbox_a, inbox_b, token_a, token_b) = two_inboxes(&app).await;
    let default_secret = switchboard::config::SIMULATOR_APP_SECRET;
    assert_eq!(
        post_signed(
            &app,
            &text_for("200000000000001", "wamid.A1", "5511100", "for A"),
            default_secret
        )
        .await,
        200
    );
    assert_eq!(
        post_signed(
            &app,
            &text_for(PNID_B, "wamid.B1", "5511200", "for B"),
            SECRET_B
        )
        .await,
        200
    );

    let agent_a = client_with_token(&token_a);
    let agent_b = client_with_token(&token_b);
    let list = |http: &reqwest::Client| {
        let http = http.clone();
        let app = &app;
        async move {
            app.call_with(&http, "list_conversations", json!({}))
                .await
                .1
        }
    };
    let a_convs = list(&agent_a).await["conversations"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(a_convs.len(), 1);
    assert_eq!(a_convs[0]["inbox_id"], inbox_a.as_str());
    let b_convs = list(&agent_b).await["conversations"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(b_convs.len(), 1);
    let b_conv = b_convs[0]["id"].as_str().unwrap().to_string();

    // Every function that takes a conversation id answers B's id to A as if it did not exist.
    for (name, args) in [
        (
            "load_messages",
            json!({"conversation_id": b_conv, "before": null}),
        ),
        (
            "send_message",
            json!({"conversation_id": b_conv, "text": "x", "client_id": uuid()}),
        ),
        ("mark_conversation_read", json!({"conversation_id": b_conv})),
        (
            "simulate_customer_message",
            json!({"inbox_id": inbox_b, "text": "x"}),
        ),
    ] {
        let (status, body) = app.call_with(&agent_a, name, args).await;
        assert_eq!(status, 404, "{name}: {body}");
        assert!(!body.to_string().contains("for B"), "{name} leaked: {body}");
    }
    let (status, _) = app
        .call_with(
            &agent_a,
            "load_messages",
            json!({"conversation_id": "guessed-id", "before": null}),
        )
        .await;
    assert_eq!(status, 404);

    // The socket: replay and live traffic carry only A's inbox, and `prev` chains.
    let mut ws_a = app.socket_as(&token_a, Some(0)).await;
    let (replayed, ready) = ws_a.replay().await;
    assert!(!replayed.is_empty());
    assert!(
        replayed
            .iter()
            .all(|f| f["data"]["inbox_id"] == inbox_a.as_str()),
        "{replayed:?}"
    );
    let mut last = 0;
    for f in &replayed {
        // Named when the seqs skip; implied (seq - 1) when they do not.
        let seq = f["seq"].as_i64().unwrap();
        assert_eq!(f["prev"].as_i64().unwrap_or(seq - 1), last);
        last = seq;
    }
    let ready_seq = ready["seq"].as_i64().unwrap();
    post_signed(
        &app,
        &text_for(PNID_B, "wamid.B2", "5511200", "B again"),
        SECRET_B,
    )
    .await;
    post_signed(
        &app,
        &text_for("200000000000001", "wamid.A2", "5511100", "A again"),
        default_secret,
    )
    .await;
    let first = ws_a.next().await;
    assert_eq!(first["data"]["inbox_id"], inbox_a.as_str(), "{first}");
    assert_eq!(first["data"]["text"], "A again");
    assert_eq!(
        first["prev"].as_i64().unwrap(),
        ready_seq,
        "B's events were skipped, not lost"
    );
    assert!(first["seq"].as_i64().unwrap() > ready_seq + 1);
}

#[tokio::test]
async fn agents_cannot_administer_and_revoked_tokens_stop_working() {
    let app = TestApp::start().await;
    let (_, _, token_a, _) = two_inboxes(&app).await;
    let agent = client_with_token(&token_a);
    for name in ["list_users", "list_inboxes", "list_api_tokens"] {
        assert_eq!(
            app.call_with(&agent, name, json!({})).await.0,
            403,
            "{name}"
        );
    }
    let (status, _) = app
        .call_with(
            &agent,
            "create_user",
            json!({"email": "x@example.com", "name": "x", "role": "admin", "password": "long-enough-pw"}),
        )
        .await;
    assert_eq!(status, 403);

    let tokens = app.ok("list_api_tokens", json!({})).await;
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "a@example.com")
        .unwrap()["id"]
        .clone();
    app.ok("revoke_api_token", json!({"token_id": id})).await;
    assert_eq!(
        app.call_with(&agent, "list_conversations", json!({}))
            .await
            .0,
        401
    );
    assert_eq!(
        app.try_socket(&[("authorization", &format!("Bearer {token_a}"))], None)
            .await
            .err(),
        Some(401)
    );
}

#[tokio::test]
async fn nothing_works_without_signing_in() {
    let app = TestApp::start().await;
    let anonymous = reqwest::Client::new();
    for name in ["list_conversations", "server_info", "me", "list_users"] {
        let (status, body) = app.call_with(&anonymous, name, json!({})).await;
        assert_eq!(status, 401, "{name}: {body}");
    }
    assert_eq!(app.try_socket(&[], None).await.err(), Some(401));
    assert_eq!(
        app.try_socket(&[("authorization", "Bearer not-a-token")], None)
            .await
            .err(),
        Some(401)
    );
    let res = anonymous
        .post(format!("{}/_sim/customer/messages", app.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn sessions_sign_in_work_and_sign_out() {
    let app = TestApp::start().await;
    let (email, password) = demo_login(&app).await;
    let cookie = sign_in(&app, &email, &password).await.unwrap();
    let with_cookie = |origin: Option<&str>| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("cookie", cookie.parse().unwrap());
        if let Some(o) = origin {
            h.insert("origin", o.parse().unwrap());
        }
        reqwest::Client::builder()
            .default_headers(h)
            .build()
            .unwrap()
    };
    let own = with_cookie(Some(&app.url));
    let me = app.call_with(&own, "me", json!({})).await;
    assert_eq!(me.0, 200);
    assert_eq!(me.1["user"]["email"], email.as_str());
    assert_eq!(me.1["user"]["role"], "admin");

    app.ok("sign_out", json!({})).await; // the token's sign-out ends nothing of the cookie's
    assert_eq!(app.call_with(&own, "me", json!({})).await.0, 200);
    assert_eq!(app.call_with(&own, "sign_out", json!({})).await.0, 200);
    assert_eq!(
        app.call_with(&own, "me", json!({})).await.0,
        401,
        "the session is over"
    );

    let (status, body) = sign_in(&app, &email, "wrong password").await.unwrap_err();
    assert_eq!(status, 401);
    assert_eq!(body["message"], "wrong email or password");
    let (status, body) = sign_in(&app, "nobody@example.com", "whatever-long")
        .await
        .unwrap_err();
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("wrong email or password"))
    );
}

#[tokio::test]
async fn cross_site_requests_with_the_cookie_are_refused() {
    let app = TestApp::start().await;
    let (email, password) = demo_login(&app).await;
    let cookie = sign_in(&app, &email, &password).await.unwrap();
    let conv = app.customer_writes("5511987650001", "hello").await;
    let client = |origin: &str| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("cookie", cookie.parse().unwrap());
        h.insert("origin", origin.parse().unwrap());
        reqwest::Client::builder()
            .default_headers(h)
            .build()
            .unwrap()
    };
    let args = || json!({"conversation_id": conv, "text": "sent from evil", "client_id": uuid()});
    let (status, body) = app
        .call_with(&client("https://evil.example"), "send_message", args())
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("cross-site"));
    assert!(
        app.messages(&conv)
            .await
            .iter()
            .all(|m| m["text"] != "sent from evil"),
        "nothing was sent"
    );
    let (status, _) = app
        .call_with(&client(&app.url), "send_message", args())
        .await;
    assert_eq!(status, 200, "the same request from our own origin works");

    // The socket: a cookie-authenticated upgrade from another site is refused.
    let host = app.url.trim_start_matches("http://").to_string();
    let refused = app
        .try_socket(
            &[
                ("cookie", &cookie),
                ("origin", "https://evil.example"),
                ("host", &host),
            ],
            None,
        )
        .await;
    assert_eq!(refused.err(), Some(403));
    let mut own = app
        .try_socket(
            &[("cookie", &cookie), ("origin", &app.url), ("host", &host)],
            None,
        )
        .await
        .expect("same-origin socket");
    assert_eq!(own.next().await["type"], "ready");
}

#[tokio::test]
async fn sign_in_is_throttled_per_account_and_address() {
    let app = TestApp::start().await;
    let (email, password) = demo_login(&app).await;
    for _ in 0..5 {
        assert_eq!(
            sign_in(&app, &email, "guess-guess").await.unwrap_err().0,
            401
        );
    }
    let (status, body) = sign_in(&app, &email, &password).await.unwrap_err();
    assert_eq!(status, 429, "even the right password waits: {body}");
    assert!(body["message"].as_str().unwrap().contains("try again in"));
    // The address is throttled across accounts too (30 failures in the window).
    for i in 0..30 {
        let _ = sign_in(&app, &format!("spray{i}@example.com"), "guess-guess").await;
    }
    assert_eq!(
        sign_in(&app, "another@example.com", "guess-guess")
            .await
            .unwrap_err()
            .0,
        429
    );
}

#[tokio::test]
async fn each_inbox_checks_webhooks_against_its_own_app_secret() {
    let app = TestApp::start().await;
    // Looked up before the inbox exists: an unknown number is checked against the
    // environment's secret, and that answer must not outlive the inbox's creation.
    let early = text_for(PNID_B, "wamid.EARLY", "5511300", "too early");
    let default_secret = switchboard::config::SIMULATOR_APP_SECRET;
    assert_eq!(post_signed(&app, &early, default_secret).await, 200);
    let (_, inbox_b, _, _) = two_inboxes(&app).await;
    let body = text_for(PNID_B, "wamid.SIG", "5511300", "signed?");
    assert_eq!(
        post_signed(&app, &body, default_secret).await,
        401,
        "not B's secret"
    );
    assert_eq!(post_signed(&app, &body, SECRET_B).await, 200);
    // A rotated secret applies to the very next webhook.
    app.ok(
        "update_inbox",
        json!({"inbox_id": inbox_b, "app_secret": "inbox-b-rotated"}),
    )
    .await;
    let after = text_for(PNID_B, "wamid.ROTATED", "5511300", "rotated");
    assert_eq!(post_signed(&app, &after, SECRET_B).await, 401);
    assert_eq!(post_signed(&app, &after, "inbox-b-rotated").await, 200);
    // A body naming both numbers must be signed for both: it cannot be.
    let mut both: Value = serde_json::from_slice(&body).unwrap();
    let mut change_a = both["entry"][0]["changes"][0].clone();
    change_a["value"]["metadata"]["phone_number_id"] = json!("200000000000001");
    both["entry"][0]["changes"]
        .as_array_mut()
        .unwrap()
        .push(change_a);
    let both = serde_json::to_vec(&both).unwrap();
    assert_eq!(post_signed(&app, &both, "inbox-b-rotated").await, 401);
    assert_eq!(post_signed(&app, &both, default_secret).await, 401);
}

#[tokio::test]
async fn the_last_admin_cannot_lock_everyone_out() {
    let app = TestApp::start().await;
    let users = app.ok("list_users", json!({})).await;
    let admin_id = users[0]["id"].clone();
    let (status, body) = app
        .call("update_user", json!({"user_id": admin_id, "role": "agent"}))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = app
        .call(
            "update_user",
            json!({"user_id": admin_id, "disabled": true}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, body) = app
        .call(
            "create_user",
            json!({"email": "short@example.com", "name": "S", "role": "agent", "password": "short"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}
