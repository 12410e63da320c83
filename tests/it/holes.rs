//! The holes an audit found, each proven closed: customer files never run on our origin,
//! unsigned bodies are cheap to refuse, guessing in parallel is throttled, simulator mode
//! stays on one machine, and the smaller leaks.

use serde_json::{Value, json};

use crate::scenarios::eventually_media;
use crate::support::*;

/// A simulated customer sends a document of this type, name and content; returns its
/// stored message once the file is downloaded.
async fn customer_sends_file(
    app: &TestApp,
    wa_id: &str,
    mime: &str,
    name: &str,
    content: &str,
) -> Value {
    let res: Value = app
        .http
        .post(format!("{}/_sim/customer/messages", app.url))
        .json(&json!({"wa_id": wa_id, "kind": "document",
            "file": {"mime_type": mime, "filename": name, "content": content}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wamid = res["wamid"]
        .as_str()
        .expect("the simulator sent it")
        .to_string();
    eventually_media(app, wa_id, &wamid, "stored").await
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn customer_files_that_could_run_script_are_served_only_as_downloads() {
    let app = TestApp::start().await;
    let script = "<html><script>fetch('/api/send_message')</script></html>";
    for (mime, name) in [
        ("text/html", "invoice.html"),
        ("image/svg+xml", "logo.svg"),
        ("application/xhtml+xml", "page.xhtml"),
        ("text/xml", "data.xml"),
        ("application/xml", "feed.xml"),
    ] {
        let m = customer_sends_file(&app, "5511900001501", mime, name, script).await;
        let res = app.media(&m).await;
        assert_eq!(res.status(), 200, "{mime}");
        assert_eq!(
            header(&res, "content-type"),
            "application/octet-stream",
            "{mime}"
        );
        assert!(
            header(&res, "content-disposition").starts_with("attachment;"),
            "{mime}"
        );
        assert_eq!(header(&res, "x-content-type-options"), "nosniff");
        assert_eq!(
            header(&res, "content-security-policy"),
            "sandbox; default-src 'none'"
        );
        assert_eq!(
            res.text().await.unwrap(),
            script,
            "the file itself is unchanged"
        );
    }
    // Passive types still open in the browser, sandboxed too.
    let pdf = customer_sends_file(
        &app,
        "5511900001501",
        "application/pdf",
        "a.pdf",
        "%PDF-1.4",
    )
    .await;
    let res = app.media(&pdf).await;
    assert_eq!(header(&res, "content-type"), "application/pdf");
    assert!(header(&res, "content-disposition").starts_with("inline;"));
    assert_eq!(
        header(&res, "content-security-policy"),
        "sandbox; default-src 'none'"
    );
}

#[tokio::test]
async fn a_file_name_with_control_characters_is_served_sanitised() {
    let app = TestApp::start().await;
    let m = customer_sends_file(
        &app,
        "5511900001502",
        "application/pdf",
        "bad\u{1}na\tme\u{7f}.pdf",
        "%PDF",
    )
    .await;
    assert_eq!(
        m["details"]["media"]["filename"], "bad\u{1}na\tme\u{7f}.pdf",
        "kept as sent"
    );
    let res = app.media(&m).await;
    assert_eq!(res.status(), 200);
    let disposition = header(&res, "content-disposition");
    assert!(
        disposition.contains("filename=\"bad_na_me_.pdf\""),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename*=UTF-8''bad%01na%09me%7F%2Epdf"),
        "{disposition}"
    );
}

fn sign_in_request(app: &TestApp, email: &str, password: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/api/sign_in", app.url))
        .json(&json!({"email": email, "password": password}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_parallel_wrong_passwords_get_no_more_checks_than_five_in_a_row() {
    let app = TestApp::start().await;
    let (email, _) = crate::security::demo_login(&app).await;
    let attempts = (0..40).map(|i| {
        let req = sign_in_request(&app, &email, &format!("wrong-guess-{i}"));
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, throttled), (5, 35), "{statuses:?}");
}

#[tokio::test]
async fn a_disabled_account_with_the_right_password_is_answered_like_a_wrong_one() {
    let app = TestApp::start().await;
    let user = app
        .ok(
            "create_user",
            json!({"email": "off@example.com", "name": "Off", "role": "agent", "password": "long-enough-pw"}),
        )
        .await;
    app.ok(
        "update_user",
        json!({"user_id": user["id"], "disabled": true}),
    )
    .await;
    let wrong = sign_in_request(&app, "off@example.com", "not-the-password")
        .send()
        .await
        .unwrap();
    let (wrong_status, wrong_body) = (wrong.status().as_u16(), wrong.text().await.unwrap());
    let right = sign_in_request(&app, "off@example.com", "long-enough-pw")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), wrong_status);
    assert_eq!(right.text().await.unwrap(), wrong_body);
    assert_eq!(wrong_status, 401);
}

#[tokio::test]
async fn sign_in_from_another_site_is_refused() {
    let app = TestApp::start().await;
    let (email, password) = crate::security::demo_login(&app).await;
    let res = sign_in_request(&app, &email, &password)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(
        res.headers().get("set-cookie").is_none(),
        "no session for the other site"
    );
    let own = sign_in_request(&app, &email, &password)
        .header("origin", &app.url)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200, "our own page signs in");
}

/// A body naming `n` phone numbers, as an attacker would send it: about 58 bytes each.
fn body_naming_numbers(n: usize) -> Vec<u8> {
    let changes: Vec<Value> = (0..n)
        .map(|i| json!({"value": {"metadata": {"phone_number_id": format!("{}", 900_000_000_000_000u64 + i as u64)}}}))
        .collect();
    serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": changes}]}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_bodies_naming_forty_thousand_numbers_are_refused_at_once_and_health_answers() {
    let app = TestApp::start().await;
    let body = body_naming_numbers(40_000);
    assert!(
        body.len() > 2 * 1024 * 1024 && body.len() < 3 * 1024 * 1024,
        "{}",
        body.len()
    );
    let bad_sig = format!("sha256={}", "0".repeat(64));
    let started = std::time::Instant::now();
    let posts = (0..4).map(|_| {
        let (body, sig, app) = (body.clone(), bad_sig.clone(), &app);
        async move {
            let t = std::time::Instant::now();
            let status = app
                .post_webhook_signed(&body, Some(&sig))
                .await
                .status()
                .as_u16();
            (status, t.elapsed())
        }
    });
    let health = async {
        let mut worst = std::time::Duration::ZERO;
        while started.elapsed() < std::time::Duration::from_millis(1500) {
            let t = std::time::Instant::now();
            let res = app
                .http
                .get(format!("{}/healthz", app.url))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            worst = worst.max(t.elapsed());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        worst
    };
    let (refusals, worst_health) = tokio::join!(futures::future::join_all(posts), health);
    let times: Vec<_> = refusals.iter().map(|(_, t)| t.as_millis()).collect();
    println!(
        "4 parallel unsigned 2.3 MiB bodies naming 40,000 numbers: refused in {times:?} ms; /healthz worst {} ms",
        worst_health.as_millis()
    );
    assert!(refusals.iter().all(|(s, _)| *s == 401), "{refusals:?}");
    // Generous bounds for a debug build on 2 busy cores; before the fix each took ~29 s.
    assert!(
        refusals.iter().all(|(_, t)| t.as_secs_f64() < 3.0),
        "{times:?}"
    );
    assert!(worst_health.as_secs_f64() < 1.0, "{worst_health:?}");
}

#[tokio::test]
async fn a_signed_body_still_names_its_numbers_and_a_body_naming_too_many_is_refused() {
    let app = TestApp::start().await;
    // Signed with the right secret but naming 17 numbers: no body of Meta's does.
    let res = app.post_webhook(&body_naming_numbers(17)).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("17 phone numbers"));
    assert_eq!(
        app.post_webhook(&body_naming_numbers(3)).await.status(),
        200
    );
}

async fn app_with(extra: &[(&str, &str)]) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_on(&dir.path().join("db.sqlite"), extra).await;
    (app, dir)
}

#[tokio::test]
async fn a_send_whose_answer_and_receipts_come_late_is_waited_for_and_sent_once() {
    use crate::cloud_api::{accepted_for, message, sent_log, wait_status};
    let (app, _dir) = app_with(&[("SWITCHBOARD_GRAPH_TIMEOUT_MS", "400")]).await;
    let conv = app.customer_writes("5511900001507", "hi").await;
    // The receipts come 4 s after the send: long after a blind retry would have gone.
    app.add_fault(json!({"fault": "timeout", "receipts_after_ms": 4000}))
        .await;
    let (status, m) = crate::send::send(&app, &conv, "did it go?", &uuid()).await;
    assert_eq!(status, 200, "{m}");
    let id = m["id"].as_str().unwrap();
    assert_eq!(m["status"], "pending");
    let note = m["details"]["waiting"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        note.starts_with("Outcome unknown — waiting for WhatsApp"),
        "{m}"
    );
    wait_status(&app, &conv, id, "read").await;
    assert_eq!(
        accepted_for(&app, id).await,
        1,
        "{:?}",
        sent_log(&app).await
    );
    let settled = message(&app, &conv, id).await;
    assert!(
        settled["details"]["waiting"].is_null(),
        "the receipt settled it: {settled}"
    );
}

#[tokio::test]
async fn a_send_whose_outcome_stays_unknown_is_sent_again_after_the_wait() {
    use crate::cloud_api::{accepted_for, sent_log, wait_status};
    let (app, _dir) = app_with(&[
        ("SWITCHBOARD_GRAPH_TIMEOUT_MS", "400"),
        ("SWITCHBOARD_UNCERTAIN_SEND_WAIT_MS", "1500"),
    ])
    .await;
    let conv = app.customer_writes("5511900001508", "hi").await;
    // Lost answer and no receipt at all: after the wait, the send is tried again.
    app.add_fault(json!([{"fault": "timeout"}, {"fault": "silent"}]))
        .await;
    let (_, m) = crate::send::send(&app, &conv, "anyone?", &uuid()).await;
    let id = m["id"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(accepted_for(&app, &id).await, 1, "not before the wait");
    wait_status(&app, &conv, &id, "read").await;
    assert_eq!(
        accepted_for(&app, &id).await,
        2,
        "{:?}",
        sent_log(&app).await
    );
}

/// A slow Graph API that refuses each message's first send with 131056 (pair rate limit)
/// and accepts every later one, counting sends per message (by its callback id).
struct SlowGraph {
    url: String,
    sends: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl SlowGraph {
    async fn start(latency: std::time::Duration) -> Self {
        use axum::Json;
        use axum::http::StatusCode;
        use axum::response::IntoResponse;
        let sends: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> =
            Default::default();
        let counted = sends.clone();
        let app = axum::Router::new().route(
            "/v24.0/{pnid}/messages",
            axum::routing::post(move |Json(body): Json<Value>| {
                let counted = counted.clone();
                async move {
                    let key = body["biz_opaque_callback_data"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    let n = {
                        let mut map = counted.lock().unwrap();
                        let n = map.entry(key.clone()).or_insert(0);
                        *n += 1;
                        *n
                    };
                    tokio::time::sleep(latency).await;
                    if n == 1 {
                        let error = json!({"error": {"message": "(#131056) pair rate limit hit",
                            "type": "OAuthException", "code": 131056}});
                        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
                    }
                    Json(json!({"messaging_product": "whatsapp",
                        "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                        "messages": [{"id": format!("wamid.{key}.{n}")}]}))
                    .into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v24.0", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, sends }
    }
}

/// Two live-mode instances on one database, both sending to `graph`.
async fn two_live_instances(
    database_url: &str,
    graph: &SlowGraph,
    db: &std::path::Path,
) -> (TestApp, TestApp) {
    let env = [
        ("DATABASE_URL", database_url),
        ("WHATSAPP_ACCESS_TOKEN", "live-token"),
        (
            "WHATSAPP_APP_SECRET",
            switchboard::config::SIMULATOR_APP_SECRET,
        ),
        ("WHATSAPP_VERIFY_TOKEN", "verify"),
        ("WHATSAPP_PHONE_NUMBER_ID", "200000000000001"),
        ("WHATSAPP_API_BASE", graph.url.as_str()),
        ("SWITCHBOARD_ADMIN_EMAIL", "ops@example.com"),
        ("SWITCHBOARD_ADMIN_PASSWORD", "a-long-admin-password"),
    ];
    let a = TestApp::start_on(db, &env).await;
    let b = TestApp::start_on(db, &env).await;
    (a, b)
}

async fn twenty_retried_sends_reach_meta_twice_each(database_url: &str, db: &std::path::Path) {
    let graph = SlowGraph::start(std::time::Duration::from_millis(400)).await;
    let (a, b) = two_live_instances(database_url, &graph, db).await;
    let res = a
        .post_webhook(&text_body(
            "wamid.TWO1",
            "5511900001506",
            "Two",
            "hello",
            now_secs(),
        ))
        .await;
    assert_eq!(res.status(), 200);
    let conv = a.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sends = (0..20).map(|i| {
        let (a, conv) = (&a, conv.clone());
        async move {
            let (status, m) = crate::send::send(a, &conv, &format!("message {i}"), &uuid()).await;
            assert_eq!(status, 200, "{m}");
            m["id"].as_str().unwrap().to_string()
        }
    });
    let ids = futures::future::join_all(sends).await;
    eventually("every message accepted by Meta", || {
        let (a, conv) = (&a, &conv);
        async move {
            let messages = a.messages(conv).await;
            let out = messages.iter().filter(|m| m["direction"] == "out");
            out.filter(|m| m["wamid"].is_string()).count() == 20
        }
    })
    .await;
    // Time for any second instance's duplicate retry to show up.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let sends = graph.sends.lock().unwrap().clone();
    for id in &ids {
        assert_eq!(
            sends.get(id),
            Some(&2),
            "refused once, sent once more, never again: {sends:?}"
        );
    }
    b.running.stop().await;
    a.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_sqlite_file_send_each_retry_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    twenty_retried_sends_reach_meta_twice_each(&format!("sqlite://{}", db.display()), &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_mongodb_send_each_retry_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = mongo_url(&unique_db());
    twenty_retried_sends_reach_meta_twice_each(&url, &dir.path().join("unused.db")).await;
}

#[tokio::test]
async fn live_credentials_on_a_simulator_database_retire_the_demo_admin() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let sim = TestApp::start_on(&db, &[]).await;
    let (email, password) = crate::security::demo_login(&sim).await;
    let token = sim.token.clone();
    sim.stop().await;

    let live = TestApp::start_on(
        &db,
        &[
            ("WHATSAPP_ACCESS_TOKEN", "live-token"),
            ("WHATSAPP_APP_SECRET", "live-secret"),
            ("WHATSAPP_VERIFY_TOKEN", "verify"),
            ("WHATSAPP_PHONE_NUMBER_ID", "200000000000001"),
            ("WHATSAPP_API_BASE", "http://127.0.0.1:9/v24.0"),
            ("SWITCHBOARD_ADMIN_EMAIL", "ops@example.com"),
            ("SWITCHBOARD_ADMIN_PASSWORD", "a-long-admin-password"),
        ],
    )
    .await;
    let res = sign_in_request(&live, &email, &password)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        401,
        "the password the sign-in page showed no longer works"
    );
    let info = live
        .call_with(&reqwest::Client::new(), "sign_in_info", json!({}))
        .await
        .1;
    assert!(info["demo"].is_null(), "{info}");
    let store = &live.running.state.store;
    assert!(
        store.setting("demo_login").await.unwrap().is_none(),
        "the stored password is deleted"
    );
    let (demo, _) = store.user_by_email(&email).await.unwrap().unwrap();
    assert!(demo.disabled);
    let (status, _) = live
        .call_with(&client_with_token(&token), "me", json!({}))
        .await;
    assert_eq!(status, 401, "the demo admin's tokens stop working too");
}

#[tokio::test]
async fn simulator_faults_and_the_sent_list_belong_to_one_inbox() {
    use crate::security::{PNID_B, two_inboxes};
    let app = TestApp::start().await;
    let (_, _, token_a, token_b) = two_inboxes(&app).await;
    let (agent_a, agent_b) = (client_with_token(&token_a), client_with_token(&token_b));
    // Agent B breaks B's next send; agent A's send from inbox A is untouched by it.
    let res = agent_b
        .post(format!("{}/_sim/faults", app.url))
        .json(&json!({"fault": "send_error", "http_status": 400, "code": 131026}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let conv_a = app.customer_writes("5511900001504", "hi A").await;
    let (status, m) = app
        .call_with(
            &agent_a,
            "send_message",
            json!({"conversation_id": conv_a, "text": "to A", "client_id": uuid()}),
        )
        .await;
    assert_eq!(
        (status, m["status"].as_str()),
        (200, Some("pending")),
        "{m}"
    );
    let pending: Vec<Value> = agent_b
        .get(format!("{}/_sim/faults?phone_number_id={PNID_B}", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        pending.len(),
        1,
        "B's fault waits for B's send: {pending:?}"
    );
    let sent_to = |client: reqwest::Client| {
        let url = format!("{}/_sim/sent", app.url);
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Vec<Value>>()
                .await
                .unwrap()
        }
    };
    assert_eq!(sent_to(agent_a).await.len(), 1, "A sees its own send");
    assert!(sent_to(agent_b).await.is_empty(), "B sees nothing of A's");
}

#[tokio::test]
async fn a_redelivered_body_applies_what_its_first_delivery_died_before_applying() {
    use switchboard::model::{Details, MessageKind};
    use switchboard::store::{ContactKey, NewInbound};
    let app = TestApp::start().await;
    let wa = "5511900001509";
    let target = text_body("wamid.TARGET", wa, "Re", "react to me", now_secs() - 5);
    assert_eq!(app.post_webhook(&target).await.status(), 200);
    let store = &app.running.state.store;
    let inbox = store
        .inbox_by_phone_number_id("200000000000001")
        .await
        .unwrap()
        .unwrap()
        .id;
    let item = |wamid: &str, extra: Value| {
        let mut m = extra;
        m["from"] = json!(wa);
        m["id"] = json!(wamid);
        m["timestamp"] = json!(now_secs().to_string());
        m
    };
    let bodies = [
        item(
            "wamid.REACT",
            json!({"type": "reaction", "reaction": {"message_id": "wamid.TARGET", "emoji": "\u{1f44d}"}}),
        ),
        item(
            "wamid.IMG",
            json!({"type": "image", "image": {"id": "4242", "mime_type": "image/png"}}),
        ),
        item(
            "wamid.MOVE",
            json!({"type": "system", "system": {"body": "changed", "wa_id": "5511900001599", "type": "user_changed_number"}}),
        ),
    ];
    for m in &bodies {
        // The first delivery stored the message itself, then the process died.
        let kind = m["type"].as_str().unwrap();
        let details: Details = if kind == "image" {
            serde_json::from_value(json!({"media": {"media_id": "4242", "state": "pending"}}))
                .unwrap()
        } else {
            Details::default()
        };
        store
            .record_inbound(NewInbound {
                inbox_id: inbox.clone(),
                wamid: m["id"].as_str().unwrap().into(),
                contact: ContactKey {
                    wa_id: Some(wa.into()),
                    user_id: None,
                    name: None,
                },
                kind: MessageKind::from_wire(kind),
                text: None,
                timestamp: now_secs(),
                reply_to: None,
                awaits_target: false,
                details,
                raw: "{}".into(),
            })
            .await
            .unwrap();
    }
    // Meta delivers the body again.
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "100000000000001",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001000", "phone_number_id": "200000000000001"},
        "contacts": [{"profile": {"name": "Re"}, "wa_id": wa}], "messages": bodies}}]}]});
    assert_eq!(
        app.post_webhook(body.to_string().as_bytes()).await.status(),
        200
    );
    let conv = app
        .conversations()
        .await
        .into_iter()
        .find(|c| c["contact"]["wa_id"] == "5511900001599")
        .expect("the number change was applied");
    let conv = conv["id"].as_str().unwrap().to_string();
    let messages = app.messages(&conv).await;
    let by = |w: &str| messages.iter().find(|m| m["wamid"] == w).unwrap().clone();
    assert_eq!(
        by("wamid.TARGET")["details"]["reactions"][0]["emoji"],
        "\u{1f44d}",
        "the reaction landed"
    );
    eventually("the image's download was queued and ran", || {
        let (app, conv) = (&app, conv.clone());
        async move {
            let messages = app.messages(&conv).await;
            let img = messages.iter().find(|m| m["wamid"] == "wamid.IMG").unwrap();
            img["details"]["media"]["state"] != "pending"
        }
    })
    .await;
}

/// An event that lands in the log below the head, after the hub gave its seq up as a
/// hole (a MongoDB writer that reserved a seq and committed seconds later), still reaches
/// the sockets: they are told to resync, since the event cannot be sent in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_landing_in_a_skipped_hole_makes_sockets_resync() {
    let app = TestApp::start().await;
    let mut ws = app.socket(None).await;
    let ready = ws.next().await;
    assert_eq!(ready["type"], "ready");
    let head = ready["seq"].as_i64().unwrap();
    let inbox = app.ok("list_inboxes", json!({})).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Another writer, straight into the log: seq head+2 now, head+1 much later.
    let db = rusqlite::Connection::open(&app.db).unwrap();
    let insert = |seq: i64| {
        db.execute(
            "INSERT INTO events (seq, inbox_id, kind, data, created_at) VALUES (?1, ?2, 'conversation.updated', '{}', 0)",
            rusqlite::params![seq, inbox],
        )
        .unwrap();
    };
    insert(head + 2);
    app.running.state.hub.kick();
    let after_gap = ws.next().await;
    assert_eq!(
        after_gap["seq"],
        head + 2,
        "the hole is given up after its grace: {after_gap}"
    );
    insert(head + 1);
    let next = ws
        .next_within(std::time::Duration::from_secs(10))
        .await
        .expect("the late event is not lost in silence");
    assert_eq!(next["type"], "resync", "{next}");
    assert!(next["seq"].as_i64().unwrap() >= head + 2);
}

#[tokio::test]
async fn a_body_for_a_number_without_an_inbox_is_applied_once_the_inbox_is_created() {
    let app = TestApp::start().await;
    let body = text_body(
        "wamid.EARLY",
        "5511900001510",
        "Early",
        "before the inbox",
        now_secs(),
    )
    .iter()
    .map(|b| *b as char)
    .collect::<String>()
    .replace("200000000000001", "300000000000077");
    assert_eq!(app.post_webhook(body.as_bytes()).await.status(), 200);
    assert!(app.conversations().await.is_empty(), "no inbox yet");
    app.ok(
        "create_inbox",
        json!({"phone_number_id": "300000000000077", "name": "Late"}),
    )
    .await;
    eventually("the kept body is applied to the new inbox", || async {
        app.conversations()
            .await
            .iter()
            .any(|c| c["contact"]["wa_id"] == "5511900001510")
    })
    .await;
}
