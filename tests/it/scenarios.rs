//! The 25 conformance scenarios of the Cloud API reference (§12), each through the real
//! `/webhook` route of a running server.
//!
//! Scenarios that other files already test end to end are named here rather than copied:
//! - 1 handshake: `webhook::the_verification_handshake_echoes_the_challenge_only_for_the_right_token`
//! - 2 raw-byte signature with escapes: `webhook::escaped_unicode_bodies_verify_over_their_raw_bytes`
//!   and the signature unit tests (uppercase hex is refused; pinned in `signature.rs`)
//! - 3 tampered body: `webhook::a_bad_signature_gets_401_and_stores_nothing`
//! - 4 exact duplicate POST: `webhook::the_same_webhook_five_times_at_once_yields_one_message_and_one_event`
//! - 6 batch of 3 from 2 contacts: `webhook::a_batch_stores_every_message_against_the_right_contact`
//! - 13 status before the send response: `send::a_receipt_before_the_send_response_is_applied`
//!   (the orphan variant is `s13_a_receipt_for_a_wamid_we_never_sent_is_parked` below)
//! - 25 persistence down → 503 → exactly once: `mongo_app::a_store_outage_gives_503_then_nothing_is_lost`

use serde_json::{Value, json};

use crate::send::silent_send;
use crate::support::*;

const PNID: &str = "200000000000001";

/// One change for our demo number, with these `value` parts.
fn body(value: Value) -> Vec<u8> {
    envelope(vec![change(PNID, value)])
}

fn change(pnid: &str, value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550001000", "phone_number_id": pnid});
    json!({"field": "messages", "value": value})
}

fn envelope(changes: Vec<Value>) -> Vec<u8> {
    json!({"object": "whatsapp_business_account",
        "entry": changes.into_iter().map(|c| json!({"id": "100000000000001", "changes": [c]})).collect::<Vec<_>>()})
    .to_string()
    .into_bytes()
}

/// A customer message from `wa_id`; `extra` holds `type` and its object.
fn from(wa_id: &str, wamid: &str, ts: i64, extra: Value) -> Value {
    let mut m = extra;
    m["from"] = json!(wa_id);
    m["id"] = json!(wamid);
    m["timestamp"] = json!(ts.to_string());
    m
}

fn messages(wa_id: &str, name: &str, list: Vec<Value>) -> Vec<u8> {
    body(json!({"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": list}))
}

async fn post_ok(app: &TestApp, body: &[u8]) {
    let res = app.post_webhook(body).await;
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

/// The conversation of `wa_id` and its messages, oldest first.
async fn thread_of(app: &TestApp, wa_id: &str) -> (Value, Vec<Value>) {
    let conv = app
        .conversations()
        .await
        .into_iter()
        .find(|c| c["contact"]["wa_id"] == wa_id)
        .unwrap_or_else(|| panic!("no conversation for {wa_id}"));
    let mut list = app.messages(conv["id"].as_str().unwrap()).await;
    list.reverse();
    (conv, list)
}

fn by_wamid<'a>(list: &'a [Value], wamid: &str) -> &'a Value {
    list.iter()
        .find(|m| m["wamid"] == wamid)
        .unwrap_or_else(|| panic!("no message {wamid}"))
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": {"body": t}})
}

async fn status_of(app: &TestApp, conv: &str, id: &str) -> Value {
    app.messages(conv)
        .await
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap()
}

fn status(wamid: &str, s: &str, ts: i64, extra: Value) -> Value {
    let mut v = json!({"id": wamid, "status": s, "timestamp": ts.to_string(), "recipient_id": "5511987650001"});
    if let Value::Object(o) = extra {
        for (k, x) in o {
            v[k] = x;
        }
    }
    v
}

#[tokio::test]
async fn s05_the_same_wamid_in_two_different_bodies_is_one_message() {
    let app = TestApp::start().await;
    let m = from("5511900000005", "wamid.S5", 1_763_800_000, text("once"));
    post_ok(&app, &messages("5511900000005", "Five", vec![m.clone()])).await;
    // Re-batched by a second app: same message, different bytes.
    let other = body(
        json!({"contacts": [{"profile": {"name": "Five"}, "wa_id": "5511900000005"}],
        "messages": [m, from("5511900000005", "wamid.S5b", 1_763_800_001, text("twice"))]}),
    );
    post_ok(&app, &other).await;
    let (_, list) = thread_of(&app, "5511900000005").await;
    assert_eq!(list.iter().filter(|m| m["wamid"] == "wamid.S5").count(), 1);
    assert_eq!(list.len(), 2);
}

#[tokio::test]
async fn s07_changes_route_by_phone_number_id_and_unknown_numbers_are_acknowledged() {
    let app = TestApp::start().await;
    let known = change(
        PNID,
        json!({"contacts": [{"wa_id": "5511900000007"}],
            "messages": [from("5511900000007", "wamid.S7", 1_763_800_000, text("routed"))]}),
    );
    let unknown = change(
        "999999999999999",
        json!({"contacts": [{"wa_id": "5511900000070"}],
            "messages": [from("5511900000070", "wamid.S7x", 1_763_800_000, text("nobody"))]}),
    );
    post_ok(&app, &envelope(vec![known, unknown])).await;
    let convs = app.conversations().await;
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0]["contact"]["wa_id"], "5511900000007");
}

#[tokio::test]
async fn s08_messages_and_statuses_in_one_post_are_both_processed() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let (id, wamid) = silent_send(&app, &conv).await;
    let both = body(json!({
        "contacts": [{"wa_id": "5511987650001"}],
        "messages": [from("5511987650001", "wamid.S8", 1_763_800_100, text("and another thing"))],
        // A receipt that cannot be applied must not cost the message.
        "statuses": [status(&wamid, "delivered", 1_763_800_101, json!({})),
                     {"id": 42, "status": ["nonsense"]}]
    }));
    post_ok(&app, &both).await;
    assert_eq!(status_of(&app, &conv, &id).await["status"], "delivered");
    let (_, list) = thread_of(&app, "5511987650001").await;
    by_wamid(&list, "wamid.S8");
}

/// Posts receipts for a silent send and returns its final state.
async fn receipts(app: &TestApp, conv: &str, seq: &[(&str, i64, Value)]) -> Value {
    let (id, wamid) = silent_send(app, conv).await;
    for (s, ts, extra) in seq {
        post_ok(
            app,
            &body(json!({"statuses": [status(&wamid, s, *ts, extra.clone())]})),
        )
        .await;
    }
    status_of(app, conv, &id).await
}

#[tokio::test]
async fn s09_to_s12_receipt_order_and_repeats_never_move_ticks_backwards() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    // 9: read before delivered.
    let m = receipts(
        &app,
        &conv,
        &[
            ("sent", 100, json!({})),
            ("read", 105, json!({})),
            ("delivered", 104, json!({})),
        ],
    )
    .await;
    assert_eq!(m["status"], "read");
    // 10: delivered never sent.
    let m = receipts(
        &app,
        &conv,
        &[("sent", 100, json!({})), ("read", 101, json!({}))],
    )
    .await;
    assert_eq!(m["status"], "read");
    // 11: sent after delivered.
    let m = receipts(
        &app,
        &conv,
        &[("delivered", 104, json!({})), ("sent", 100, json!({}))],
    )
    .await;
    assert_eq!(m["status"], "delivered");
    // 12: the same delivered twice: one update.
    let (id, wamid) = silent_send(&app, &conv).await;
    let d = body(json!({"statuses": [status(&wamid, "delivered", 104, json!({}))]}));
    post_ok(&app, &d).await;
    let before = status_of(&app, &conv, &id).await;
    let d2 = body(
        json!({"statuses": [status(&wamid, "delivered", 104, json!({"pricing": {"type": "regular"}}))]}),
    );
    post_ok(&app, &d2).await;
    let after = status_of(&app, &conv, &id).await;
    assert_eq!(before["version"], after["version"], "no second update");
}

#[tokio::test]
async fn s13_a_receipt_for_a_wamid_we_never_sent_is_parked() {
    let app = TestApp::start().await;
    let orphan = body(
        json!({"statuses": [status("wamid.NEVER", "delivered", 100, json!({"biz_opaque_callback_data": "not-ours"}))]}),
    );
    post_ok(&app, &orphan).await;
    assert!(app.conversations().await.is_empty());
}

#[tokio::test]
async fn s14_a_131047_failure_shows_the_window_and_the_template_path() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let failed = json!({"errors": [{"code": 131047, "title": "Re-engagement message",
        "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]});
    let m = receipts(&app, &conv, &[("failed", 200, failed)]).await;
    assert_eq!(m["status"], "failed");
    assert_eq!(m["error"]["code"], 131047);
    assert!(m["error"]["detail"].as_str().unwrap().contains("24 hours"));
    // The plain-language next step the bubble shows comes from the code.
    let info: switchboard::model::ErrorInfo = serde_json::from_value(m["error"].clone()).unwrap();
    assert!(info.advice().unwrap().contains("template"));
}

#[tokio::test]
async fn s15_failure_and_delivery_in_either_order_keep_the_best_state_and_the_error() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let err = json!({"errors": [{"code": 131026, "title": "Message undeliverable"}]});
    let m = receipts(
        &app,
        &conv,
        &[("failed", 100, err.clone()), ("delivered", 101, json!({}))],
    )
    .await;
    assert_eq!(m["status"], "delivered");
    assert_eq!(m["error"]["code"], 131026, "the error is kept for audit");
    let m = receipts(
        &app,
        &conv,
        &[("delivered", 100, json!({})), ("failed", 101, err.clone())],
    )
    .await;
    assert_eq!(m["status"], "delivered");
    let m = receipts(
        &app,
        &conv,
        &[("failed", 100, err), ("sent", 99, json!({}))],
    )
    .await;
    assert_eq!(m["status"], "failed", "a late sent does not clear failed");
}

fn reaction(target: &str, emoji: Option<&str>) -> Value {
    match emoji {
        Some(e) => json!({"type": "reaction", "reaction": {"message_id": target, "emoji": e}}),
        None => json!({"type": "reaction", "reaction": {"message_id": target}}),
    }
}

#[tokio::test]
async fn s16_reactions_add_change_and_remove_in_one_slot_and_wait_for_unknown_targets() {
    s16(TestApp::start().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s16_reactions_wait_for_unknown_targets_on_mongodb_too() {
    s16(TestApp::start_on_mongo(&mongo_url(&unique_db())).await).await
}

async fn s16(app: TestApp) {
    let wa = "5511900000016";
    post_ok(
        &app,
        &messages(
            wa,
            "Sixteen",
            vec![from(wa, "wamid.T16", 100, text("target"))],
        ),
    )
    .await;
    let reactions = |list: &[Value]| by_wamid(list, "wamid.T16")["details"]["reactions"].clone();
    post_ok(
        &app,
        &messages(
            wa,
            "Sixteen",
            vec![from(wa, "wamid.R1", 101, reaction("wamid.T16", Some("👍")))],
        ),
    )
    .await;
    let (_, list) = thread_of(&app, wa).await;
    assert_eq!(
        reactions(&list),
        json!([{"by": "in", "emoji": "👍", "at": 101}])
    );
    post_ok(
        &app,
        &messages(
            wa,
            "Sixteen",
            vec![from(wa, "wamid.R2", 102, reaction("wamid.T16", Some("❤️")))],
        ),
    )
    .await;
    let (_, list) = thread_of(&app, wa).await;
    assert_eq!(reactions(&list)[0]["emoji"], "❤️");
    assert_eq!(
        reactions(&list).as_array().unwrap().len(),
        1,
        "one slot per side"
    );
    post_ok(
        &app,
        &messages(
            wa,
            "Sixteen",
            vec![from(wa, "wamid.R3", 103, reaction("wamid.T16", Some("")))],
        ),
    )
    .await;
    post_ok(
        &app,
        &messages(
            wa,
            "Sixteen",
            vec![from(wa, "wamid.R4", 104, reaction("wamid.T16", None))],
        ),
    )
    .await;
    let (_, list) = thread_of(&app, wa).await;
    assert_eq!(reactions(&list)[0]["emoji"], "", "ends empty");
    // A late, older add does not bring it back.
    post_ok(
        &app,
        &messages(
            wa,
            "Sixteen",
            vec![from(wa, "wamid.R0", 100, reaction("wamid.T16", Some("😂")))],
        ),
    )
    .await;
    let (_, list) = thread_of(&app, wa).await;
    assert_eq!(reactions(&list)[0]["emoji"], "");

    // A reaction to a message not stored yet waits for it.
    post_ok(
        &app,
        &messages(
            wa,
            "Sixteen",
            vec![from(
                wa,
                "wamid.R5",
                110,
                reaction("wamid.LATER", Some("🙏")),
            )],
        ),
    )
    .await;
    post_ok(
        &app,
        &messages(
            wa,
            "Sixteen",
            vec![from(wa, "wamid.LATER", 109, text("arrived late"))],
        ),
    )
    .await;
    let (_, list) = thread_of(&app, wa).await;
    assert_eq!(
        by_wamid(&list, "wamid.LATER")["details"]["reactions"][0]["emoji"],
        "🙏"
    );
}

#[tokio::test]
async fn s17_replies_to_unknown_messages_resolve_later_and_forward_flags_are_kept() {
    s17(TestApp::start().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s17_replies_to_unknown_messages_resolve_later_on_mongodb_too() {
    s17(TestApp::start_on_mongo(&mongo_url(&unique_db())).await).await
}

async fn s17(app: TestApp) {
    let wa = "5511900000017";
    let mut reply = from(wa, "wamid.Q1", 101, text("about that"));
    reply["context"] = json!({"from": "15550001000", "id": "wamid.OLD"});
    let mut fwd = from(wa, "wamid.F1", 102, text("look"));
    fwd["context"] = json!({"forwarded": true});
    let mut many = from(wa, "wamid.F2", 103, text("look again"));
    many["context"] = json!({"frequently_forwarded": true});
    post_ok(&app, &messages(wa, "Seventeen", vec![reply, fwd, many])).await;
    let (_, list) = thread_of(&app, wa).await;
    let q = by_wamid(&list, "wamid.Q1");
    assert_eq!(q["reply_to"], "wamid.OLD");
    assert!(
        q["details"]["quote"].is_null(),
        "dangling until the original is known"
    );
    assert_eq!(by_wamid(&list, "wamid.F1")["details"]["forwarded"], true);
    assert_eq!(
        by_wamid(&list, "wamid.F2")["details"]["frequently_forwarded"],
        true
    );
    // The original turns up (e.g. a backfill): the reply now quotes it.
    post_ok(
        &app,
        &messages(
            wa,
            "Seventeen",
            vec![from(wa, "wamid.OLD", 90, text("the original"))],
        ),
    )
    .await;
    let (_, list) = thread_of(&app, wa).await;
    assert_eq!(
        by_wamid(&list, "wamid.Q1")["details"]["quote"]["text"],
        "the original"
    );
}

#[tokio::test]
async fn s18_s19_unsupported_unknown_and_future_types_are_placeholders() {
    let app = TestApp::start().await;
    let wa = "5511900000018";
    let poll = json!({"type": "unsupported", "unsupported": {"type": "poll_creation"},
        "errors": [{"code": 131051, "title": "Message type unknown"}]});
    let legacy = json!({"type": "unknown"});
    let future = json!({"type": "hologram", "hologram": {"depth": 3}, "aura": {"glow": true}});
    post_ok(
        &app,
        &messages(
            wa,
            "Eighteen",
            vec![
                from(wa, "wamid.U1", 100, poll),
                from(wa, "wamid.U2", 101, legacy),
                from(wa, "wamid.U3", 102, future),
            ],
        ),
    )
    .await;
    // 19: an unknown status is acknowledged too.
    post_ok(
        &app,
        &body(json!({"statuses": [status("wamid.U1", "warning", 103, json!({}))]})),
    )
    .await;
    let (_, list) = thread_of(&app, wa).await;
    let content = |w: &str| by_wamid(&list, w)["details"]["content"].clone();
    assert_eq!(content("wamid.U1")["wire_type"], "poll_creation");
    assert_eq!(content("wamid.U1")["reason"], "Message type unknown");
    assert_eq!(content("wamid.U2")["wire_type"], "unknown");
    assert_eq!(content("wamid.U3")["wire_type"], "hologram");
    assert!(list.iter().all(|m| m["kind"] == "unsupported"));
}

#[tokio::test]
async fn s20_inbound_media_is_fetched_checked_and_served_by_the_app() {
    let app = TestApp::start().await;
    app.add_fault(json!({"fault": "media_url_expired"})).await;
    let res = app
        .http
        .post(format!("{}/_sim/customer/messages", app.url))
        .json(&json!({"wa_id": "5511987650001", "kind": "image", "text": "receipt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let wamid = res.json::<Value>().await.unwrap()["wamid"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = eventually_media(&app, "5511987650001", &wamid, "stored").await;
    assert_eq!(stored["text"], "receipt");
    assert_eq!(stored["details"]["media"]["mime_type"], "image/png");
    let file = app.media(&stored).await;
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "image/png");
    assert_eq!(file.headers()["accept-ranges"], "bytes");
    let whole = file.bytes().await.unwrap();
    assert!(whole.starts_with(b"\x89PNG"));
    // Players seek with one byte range; past the end is a 416 that names the length.
    let url = format!("{}/media/{}", app.url, stored["id"].as_str().unwrap());
    let ranged = |range: &'static str| app.http.get(&url).header("range", range).send();
    let part = ranged("bytes=1-3").await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 1-3/{}", whole.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap(), &whole[1..4]);
    let tail = ranged("bytes=-4").await.unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap(), &whole[whole.len() - 4..]);
    let past = ranged("bytes=99999999-").await.unwrap();
    assert_eq!(past.status(), 416);
    assert_eq!(
        past.headers()["content-range"],
        format!("bytes */{}", whole.len()).as_str()
    );
    // Without a session or token: no file.
    let anon = reqwest::get(format!(
        "{}/media/{}",
        app.url,
        stored["id"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert_eq!(anon.status(), 401);

    // A media id older than seven days is marked unavailable, not fetched.
    let old = crate::support::now_secs() - 8 * 24 * 3600;
    let image = json!({"type": "image", "image": {"id": "1479537139650973", "mime_type": "image/jpeg",
        "sha256": "P9bXnQ0iVL2N5Jb3lQ9X1K0bqW1y5m0Zz5a7pTq0Q2c="}});
    post_ok(
        &app,
        &messages(
            "5511900000020",
            "Twenty",
            vec![from("5511900000020", "wamid.OLDIMG", old, image)],
        ),
    )
    .await;
    let gone = eventually_media(&app, "5511900000020", "wamid.OLDIMG", "unavailable").await;
    assert!(
        gone["details"]["media"]["error"]
            .as_str()
            .unwrap()
            .contains("7 days")
    );
}

/// Waits until the message's media reaches `state`; returns the message.
pub async fn eventually_media(app: &TestApp, wa_id: &str, wamid: &str, state: &str) -> Value {
    for _ in 0..200 {
        let (_, list) = thread_of(app, wa_id).await;
        if let Some(m) = list.iter().find(|m| m["wamid"] == wamid)
            && m["details"]["media"]["state"] == state
        {
            return m.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, list) = thread_of(app, wa_id).await;
    panic!("media of {wamid} never reached {state}: {list:?}");
}

#[tokio::test]
async fn s21_interactive_and_template_replies_keep_their_ids_and_origin() {
    let app = TestApp::start().await;
    let wa = "5511900000021";
    let ctx = json!({"from": "15550001000", "id": "wamid.BIZ1"});
    let mut button = from(
        wa,
        "wamid.I1",
        100,
        json!({"type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "ticket_yes", "title": "Yes"}}}),
    );
    button["context"] = ctx.clone();
    let list_full = from(
        wa,
        "wamid.I2",
        101,
        json!({"type": "interactive", "interactive": {"type": "list_reply",
        "list_reply": {"id": "plan_pro", "title": "Pro", "description": "5 seats"}}}),
    );
    let list_bare = from(
        wa,
        "wamid.I3",
        102,
        json!({"type": "interactive", "interactive": {"type": "list_reply",
        "list_reply": {"id": "plan_basic", "title": "Basic"}}}),
    );
    let flow = from(
        wa,
        "wamid.I4",
        103,
        json!({"type": "interactive", "interactive": {"type": "nfm_reply",
        "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{\"flow_token\":\"FT1\",\"rating\":\"4\"}"}}}),
    );
    let mut quick = from(
        wa,
        "wamid.I5",
        104,
        json!({"type": "button", "button": {"text": "Stop promotions", "payload": "OPT_OUT"}}),
    );
    quick["context"] = json!({"from": "15550001000", "id": "wamid.TPL1"});
    post_ok(
        &app,
        &messages(
            wa,
            "TwentyOne",
            vec![button, list_full, list_bare, flow, quick],
        ),
    )
    .await;
    let (_, list) = thread_of(&app, wa).await;
    let c = |w: &str| by_wamid(&list, w)["details"]["content"].clone();
    assert_eq!(
        c("wamid.I1"),
        json!({"type": "choice", "via": "button_reply", "id": "ticket_yes", "title": "Yes", "description": null, "response": null})
    );
    assert_eq!(by_wamid(&list, "wamid.I1")["reply_to"], "wamid.BIZ1");
    assert_eq!(c("wamid.I2")["description"], "5 seats");
    assert!(c("wamid.I3")["description"].is_null());
    let answers: Value = serde_json::from_str(c("wamid.I4")["response"].as_str().unwrap()).unwrap();
    assert_eq!(answers["rating"], "4");
    assert_eq!(c("wamid.I5")["id"], "OPT_OUT");
    assert_eq!(by_wamid(&list, "wamid.I5")["reply_to"], "wamid.TPL1");
}

#[tokio::test]
async fn s22_location_contacts_order_and_number_change() {
    let app = TestApp::start().await;
    let wa = "5511900000022";
    let loc_num = json!({"type": "location", "location": {"latitude": 37.4611978, "longitude": -122.2164385, "name": "Meta HQ"}});
    let loc_str =
        json!({"type": "location", "location": {"latitude": "-23.5613", "longitude": "-46.6565"}});
    let card = |n: &str| json!({"name": {"formatted_name": n}, "phones": [{"phone": "+1 555"}]});
    let contacts = json!({"type": "contacts", "contacts": [card("A"), card("B"), card("C")]});
    let order = json!({"type": "order", "order": {"catalog_id": "1", "text": "", "product_items": [
        {"product_retailer_id": "SKU-1", "quantity": 2, "item_price": 30, "currency": "BRL"},
        {"product_retailer_id": "SKU-2", "quantity": 1, "item_price": 5.5, "currency": "BRL"}]}});
    post_ok(
        &app,
        &messages(
            wa,
            "TwentyTwo",
            vec![
                from(wa, "wamid.L1", 100, loc_num),
                from(wa, "wamid.L2", 101, loc_str),
                from(wa, "wamid.C1", 102, contacts),
                from(wa, "wamid.O1", 103, order),
            ],
        ),
    )
    .await;
    let (conv, list) = thread_of(&app, wa).await;
    let c = |w: &str| by_wamid(&list, w)["details"]["content"].clone();
    assert_eq!(c("wamid.L1")["latitude"], 37.4611978);
    assert_eq!(c("wamid.L2")["longitude"], -46.6565);
    assert_eq!(c("wamid.C1")["cards"].as_array().unwrap().len(), 3);
    assert_eq!(c("wamid.O1")["items"].as_array().unwrap().len(), 2);
    assert_eq!(c("wamid.O1")["items"][1]["price"], 5.5);

    let change = json!({"type": "system", "system": {"body": "User changed from 5511900000022 to 5511900000099",
        "wa_id": "5511900000099", "type": "user_changed_number"}});
    post_ok(
        &app,
        &messages(wa, "TwentyTwo", vec![from(wa, "wamid.SYS", 104, change)]),
    )
    .await;
    let (moved, list) = thread_of(&app, "5511900000099").await;
    assert_eq!(moved["id"], conv["id"], "same conversation, new number");
    assert_eq!(list.len(), 5, "history preserved");
}

#[tokio::test]
async fn s23_a_bsuid_only_sender_merges_when_the_phone_appears() {
    let app = TestApp::start().await;
    let bsuid = "US.13491208655302741918";
    let only = body(
        json!({"contacts": [{"profile": {"name": "Sheena"}, "user_id": bsuid}],
        "messages": [{"from_user_id": bsuid, "id": "wamid.B1", "timestamp": "100", "type": "text", "text": {"body": "hi"}}]}),
    );
    post_ok(&app, &only).await;
    let convs = app.conversations().await;
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0]["contact"]["user_id"], bsuid);
    assert!(convs[0]["contact"]["wa_id"].is_null());
    let both = body(
        json!({"contacts": [{"profile": {"name": "Sheena"}, "user_id": bsuid, "wa_id": "16505551234"}],
        "messages": [{"from": "16505551234", "from_user_id": bsuid, "id": "wamid.B2", "timestamp": "101", "type": "text", "text": {"body": "again"}}]}),
    );
    post_ok(&app, &both).await;
    let convs = app.conversations().await;
    assert_eq!(convs.len(), 1, "merged into one contact");
    assert_eq!(convs[0]["contact"]["wa_id"], "16505551234");
    assert_eq!(
        app.messages(convs[0]["id"].as_str().unwrap()).await.len(),
        2
    );
}

#[tokio::test]
async fn s24_value_errors_and_other_fields_are_acknowledged_and_store_nothing() {
    let app = TestApp::start().await;
    let errors = body(
        json!({"errors": [{"code": 130429, "title": "Rate limit hit",
        "error_data": {"details": "too many messages"}}]}),
    );
    post_ok(&app, &errors).await;
    let other = envelope(vec![json!({"field": "message_template_status_update",
        "value": {"event": "APPROVED", "message_template_name": "order_update"}})]);
    post_ok(&app, &other).await;
    assert!(app.conversations().await.is_empty());
}
