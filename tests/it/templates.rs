//! Approved templates: WhatsApp Manager's list offered to the composer, and sends checked
//! against it before Meta is called.

use serde_json::{Value, json};
use switchboard::server::config::SIMULATOR_APP_SECRET;

use crate::cloud_api::{send_outgoing, sent_log, wait_status};
use crate::support::*;

async fn templates(app: &TestApp, conv: &str, refresh: bool) -> Value {
    app.ok(
        "approved_templates",
        json!({"conversation_id": conv, "refresh": refresh}),
    )
    .await
}

fn named<'a>(list: &'a Value, name: &str, language: &str) -> &'a Value {
    list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name && t["language"] == language)
        .unwrap_or_else(|| panic!("{name}/{language} not listed: {list}"))
}

#[tokio::test]
async fn the_composer_gets_every_approved_template_across_pages_and_no_others() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let list = templates(&app, &conv, false).await;
    assert!(list["problem"].is_null(), "{list}");
    assert!(list["fetched_at"].is_i64());
    let names: Vec<String> = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["name"].as_str().unwrap(),
                t["language"].as_str().unwrap()
            )
        })
        .collect();
    // Six approved templates over two simulator pages of four; the paused one is left out.
    assert_eq!(
        names,
        [
            "appointment_reminder/en_US",
            "hello_world/en_US",
            "login_code/en_US",
            "order_update/en_US",
            "order_update/pt_BR",
            "seasonal_promo/en_US"
        ]
    );
    let order = named(&list, "order_update", "pt_BR");
    assert_eq!(order["params"], json!(["1", "2"]));
    assert_eq!(order["named"], false);
    let reminder = named(&list, "appointment_reminder", "en_US");
    assert_eq!(reminder["params"], json!(["first_name", "date"]));
    assert_eq!(reminder["named"], true);
    assert_eq!(reminder["buttons"], json!(["Confirm", "Reschedule"]));
    for (name, why) in [("seasonal_promo", "image"), ("login_code", "password")] {
        let t = named(&list, name, "en_US");
        assert!(t["unsupported"].as_str().unwrap().contains(why), "{t}");
    }
    // A refresh right after a read is answered from the cache, not by calling Meta again.
    let again = templates(&app, &conv, true).await;
    assert_eq!(again["fetched_at"], list["fetched_at"]);
}

#[tokio::test]
async fn a_template_send_is_checked_against_the_list_and_keeps_the_text_the_customer_reads() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let (status, m) = send_outgoing(
        &app,
        &conv,
        json!({"type": "template", "name": "order_update", "language": "pt_BR", "params": ["Ana", "#42"]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["text"], "Olá Ana, seu pedido #42 saiu para entrega.");
    wait_status(&app, &conv, m["id"].as_str().unwrap(), "read").await;

    // Named variables go out by name: the simulator, like Meta, refuses them otherwise.
    let (status, m) = send_outgoing(
        &app,
        &conv,
        json!({"type": "template", "name": "appointment_reminder", "language": "en_US",
            "params": ["Ana", "May 3"]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        m["details"]["content"]["param_names"],
        json!(["first_name", "date"])
    );
    assert_eq!(
        m["text"],
        "Hi Ana, this is a reminder of your appointment on May 3. Reply to confirm."
    );
    let m = wait_status(&app, &conv, m["id"].as_str().unwrap(), "read").await;
    assert!(m["error"].is_null(), "{m}");
    // A caller may name the values itself, in any order.
    let (status, m) = send_outgoing(
        &app,
        &conv,
        json!({"type": "template", "name": "appointment_reminder", "language": "en_US",
            "params": ["June 1", "Bo"], "param_names": ["date", "first_name"]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert!(m["text"].as_str().unwrap().starts_with("Hi Bo, "), "{m}");
    wait_status(&app, &conv, m["id"].as_str().unwrap(), "read").await;

    let before = sent_log(&app).await.len();
    for (bad, reason) in [
        (
            json!({"type": "template", "name": "order_update", "language": "pt_BR", "params": ["Ana"]}),
            "takes 2 value(s) (1, 2), not 1",
        ),
        (
            json!({"type": "template", "name": "order_update", "language": "de_DE", "params": ["a", "b"]}),
            "approved in en_US, pt_BR but not in de_DE",
        ),
        (
            json!({"type": "template", "name": "appointment_reminder", "language": "en_US",
                "params": ["a", "b"], "param_names": ["first_name", "time"]}),
            "takes values named first_name, date",
        ),
        (
            json!({"type": "template", "name": "winter_sale", "language": "en_US"}),
            "no approved template named winter_sale",
        ),
        (
            json!({"type": "template", "name": "seasonal_promo", "language": "en_US", "params": ["Ana"]}),
            "header needs a file (image)",
        ),
    ] {
        let (status, body) = send_outgoing(&app, &conv, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(reason),
            "{bad}: {body}"
        );
    }
    assert_eq!(
        sent_log(&app).await.len(),
        before,
        "a refused send reached Meta"
    );
}

#[tokio::test]
async fn without_a_readable_list_the_reason_is_given_and_templates_still_go_by_name() {
    let dir = tempfile::tempdir().unwrap();
    // A real-API configuration whose Graph endpoint is unreachable, and no WABA id.
    let app = TestApp::start_on(
        &dir.path().join("db.sqlite"),
        &[
            ("WHATSAPP_ACCESS_TOKEN", "token"),
            ("WHATSAPP_APP_SECRET", SIMULATOR_APP_SECRET),
            ("WHATSAPP_VERIFY_TOKEN", "verify"),
            ("WHATSAPP_PHONE_NUMBER_ID", "200000000000001"),
            ("WHATSAPP_API_BASE", "http://127.0.0.1:9"),
            ("SWITCHBOARD_ADMIN_EMAIL", "admin@example.com"),
            ("SWITCHBOARD_ADMIN_PASSWORD", "a long enough password"),
        ],
    )
    .await;
    let now = now_secs();
    let mut body: Value =
        serde_json::from_slice(&text_body("wamid.T1", "5511987650002", "Ana", "hello", now))
            .unwrap();
    // Until a webhook names the business account, there is nothing to read.
    body["entry"][0]["id"] = json!("not-a-number");
    let res = app.post_webhook(body.to_string().as_bytes()).await;
    assert_eq!(res.status(), 200);
    let conv = app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let list = templates(&app, &conv, false).await;
    assert!(list["templates"].as_array().unwrap().is_empty());
    assert!(
        list["problem"]
            .as_str()
            .unwrap()
            .contains("WHATSAPP_WABA_ID"),
        "{list}"
    );

    // The next webhook names it; now the read is tried, and its failure is explained.
    body["entry"][0]["id"] = json!("123456789012345");
    body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!("wamid.T2");
    let res = app.post_webhook(body.to_string().as_bytes()).await;
    assert_eq!(res.status(), 200);
    let learned = app
        .running
        .state
        .store
        .setting(&switchboard::whatsapp::templates::waba_setting(
            app.conversations().await[0]["inbox_id"].as_str().unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(learned.as_deref(), Some("123456789012345"));
    let list = templates(&app, &conv, true).await;
    assert!(
        list["problem"]
            .as_str()
            .unwrap()
            .contains("did not give the template list"),
        "{list}"
    );

    // Meta is left to judge a template it could not be checked against.
    let (status, m) = send_outgoing(
        &app,
        &conv,
        json!({"type": "template", "name": "anything_goes", "language": "en_US", "params": ["x"]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["text"], "anything_goes: x");
}
