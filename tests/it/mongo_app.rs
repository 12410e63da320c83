//! The whole app on MongoDB: the same loop as on SQLite, plus what happens when MongoDB
//! is misconfigured or goes away.
//!
//! nx-27017 (the wire-protocol server `scripts/test` starts) differs from MongoDB in ways
//! the store avoids rather than relies on; see the notes at the top of `conformance.rs`.

use std::process::Command;

use futures::future::join_all;
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_loop_runs_on_mongodb() {
    let url = mongo_url(&unique_db());
    let app = TestApp::start_on_mongo(&url).await;
    let mut ws = app.socket(None).await;
    assert_eq!(ws.next().await["type"], "ready");

    // A signed inbound webhook reaches the socket.
    let conv = app
        .customer_writes("5511987650001", "hello from mongo")
        .await;
    let frames = ws.until(|f| f["type"] == "message.created").await;
    assert_eq!(frames.last().unwrap()["data"]["text"], "hello from mongo");

    // A reply's ticks move live to read.
    let (status, msg) = app
        .call(
            "send_message",
            json!({"conversation_id": conv, "text": "hi!", "client_id": uuid()}),
        )
        .await;
    assert_eq!(status, 200, "{msg}");
    let id = msg["id"].as_str().unwrap().to_string();
    ws.until(|f| f["data"]["id"] == id.as_str() && f["data"]["status"] == "read")
        .await;

    // The same webhook five times at once: one message.
    let body = fixture("inbound_text.json");
    let results = join_all((0..5).map(|_| app.post_webhook(&body))).await;
    assert!(results.iter().all(|r| r.status() == 200));
    let ana = app
        .conversations()
        .await
        .into_iter()
        .find(|c| c["contact"]["wa_id"] == "5511987650001")
        .unwrap();
    let texts: Vec<_> = app
        .messages(ana["id"].as_str().unwrap())
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        texts
            .iter()
            .filter(|t| *t == "Hi! Is my order on its way?")
            .count(),
        1
    );

    // A reconnect with since replays exactly what came after.
    let mut all = app.socket(Some(0)).await;
    let (events, ready) = all.replay().await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gap-free: {seqs:?}"
    );
    let middle = seqs[seqs.len() / 2];
    let mut again = app.socket(Some(middle)).await;
    let (tail, _) = again.replay().await;
    let tail: Vec<i64> = tail.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        tail,
        seqs.iter()
            .copied()
            .filter(|s| *s > middle)
            .collect::<Vec<_>>()
    );
    assert_eq!(ready["seq"], *seqs.last().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_gives_503_then_nothing_is_lost() {
    let base = mongo_base();
    let proxy = Proxy::start(&first_host(&base)).await;
    let db = unique_db();
    let url = format!("mongodb://{}/{db}?directConnection=true", proxy.addr);
    let app = TestApp::start_on_mongo(&url).await;
    let ready = |app: &TestApp| {
        let url = format!("{}/readyz", app.url);
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(ready(&app).await, 200);

    proxy.cut();
    assert_eq!(ready(&app).await, 503, "/readyz reports the store is down");
    // As a load balancer asks: no credentials.
    let said = reqwest::Client::new()
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        said, "store unavailable",
        "the driver's error (hosts, ports) stays in the log"
    );
    let body = text_body(
        "wamid.OUTAGE",
        "5511000000777",
        "Outage",
        "during outage",
        1_763_900_000,
    );
    let res = app.post_webhook(&body).await;
    assert_eq!(res.status(), 503, "Meta must retry what was not stored");
    let said = res.text().await.unwrap();
    assert!(!said.contains(&proxy.addr.to_string()), "{said}");

    proxy.restore().await;
    eventually("the store is back", || {
        let app = &app;
        async move { ready(app).await == 200 }
    })
    .await;
    // Meta's retry of the same body is processed exactly once.
    assert_eq!(app.post_webhook(&body).await.status(), 200);
    assert_eq!(app.post_webhook(&body).await.status(), 200);
    let conv = app
        .conversations()
        .await
        .into_iter()
        .find(|c| c["contact"]["wa_id"] == "5511000000777")
        .unwrap();
    assert_eq!(app.messages(conv["id"].as_str().unwrap()).await.len(), 1);
    assert_eq!(conv["unread_count"], 1);
}

/// Runs the real binary with `DATABASE_URL` and returns (exit code, stderr).
fn run_binary(database_url: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .env("DATABASE_URL", database_url)
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn an_unreachable_mongodb_stops_startup_with_one_line() {
    // Nothing listens on port 1.
    let (code, stderr) = run_binary("mongodb://127.0.0.1:1/switchboard");
    assert_ne!(code, 0);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot reach MongoDB"), "{stderr}");
}

#[test]
fn a_malformed_mongodb_url_stops_startup_with_one_line_naming_the_variable() {
    let (code, stderr) = run_binary("mongodb://app:secret@db.example.com:notaport/x");
    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password must not be printed: {stderr}"
    );
}

/// A real MongoDB rejects the unknown user; nx-27017, which has no users, fails the
/// SCRAM exchange instead. The driver reports both as an authentication error, which is
/// the path under test.
#[test]
fn wrong_credentials_stop_startup_with_one_line() {
    let host = first_host(&mongo_base());
    let (code, stderr) = run_binary(&format!("mongodb://switchboard-nobody:wrong@{host}/x"));
    assert_ne!(code, 0);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    assert!(
        !stderr.contains("wrong"),
        "the password must not be printed: {stderr}"
    );
}

/// A store with one announced customer message, and beside it, in the same conversation,
/// what `record_inbound` had written when the process died a while ago: a message document
/// still marked new and unpublished (timestamp 2,000, after the first). Returns the store,
/// its guard, the conversation and the event log's head before the crashed message.
async fn crashed_after_storing(
    id: &str,
    text: &str,
) -> (
    switchboard::store::DynStore,
    crate::conformance::Guard,
    String,
    i64,
) {
    use mongodb::bson::doc;

    let (store, guard, inbox, conversation) = a_conversation("5511300").await;
    let head = store.event_bounds().await.unwrap().head;
    let crate::conformance::Guard::Database(db) = &guard else {
        unreachable!()
    };
    let stale = switchboard::store::now_ms() - 60_000;
    db.collection::<mongodb::bson::Document>("messages")
        .insert_one(doc! {
            "_id": id,
            "seq": 1_000_000i64,
            "inbox_id": &inbox,
            "conversation_id": &conversation,
            "direction": "in",
            "kind": "text",
            "text": text,
            "status_rank": 0i64,
            "failed": false,
            "timestamp": 2_000i64,
            "sort_key": format!("{:019}:{:019}", 2_000, 1_000_000),
            "created_at": stale,
            "version": 1i64,
            "published_version": 0i64,
            "unpublished": true,
            "new": true,
            "changed_at": stale,
            "wamid": format!("wamid.{id}.2"),
        })
        .await
        .unwrap();
    assert!(store.events_after(head, 10).await.unwrap().is_empty());
    (store, guard, conversation, head)
}

/// Runs the repair pass and checks what it published after `head`: the message's event
/// (`kind`), then its conversation's, saying `conversation_says`; a second pass finds
/// nothing left.
async fn repair_publishes(
    store: &switchboard::store::DynStore,
    head: i64,
    kind: &str,
    conversation_says: &str,
) {
    assert!(store.repair().await.unwrap() >= 1);
    let events = store.events_after(head, 10).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, [kind, "conversation.updated"]);
    assert!(
        events[1].data.contains(conversation_says),
        "{}",
        events[1].data
    );
    assert_eq!(store.repair().await.unwrap(), 0);
}

/// A process that dies after storing a message but before announcing it leaves the
/// message marked; the repair pass folds it into its conversation and publishes both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cut_short_by_a_crash_is_finished_by_repair() {
    let (store, guard, conversation, head) =
        crashed_after_storing("crashed-message", "stored, never announced").await;

    assert!(store.repair().await.unwrap() >= 1);
    let events = store.events_after(head, 10).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["message.created", "conversation.updated"]);
    assert!(events[0].data.contains("stored, never announced"));
    let conv = store.conversation(&conversation).await.unwrap().unwrap();
    assert_eq!(conv.unread_count, 2);
    assert_eq!(conv.last_message.unwrap().id, "crashed-message");
    // Nothing is left to repair, and a second pass publishes nothing twice.
    assert_eq!(store.repair().await.unwrap(), 0);
    assert_eq!(store.events_after(head, 10).await.unwrap().len(), 2);
    guard.cleanup().await;
}

/// A reply stored before its target, whose process died before its conversation took it
/// in, still waits for the target once the repair pass has announced it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_a_crash_left_unannounced_still_awaits_its_target_after_repair() {
    use mongodb::bson::doc;

    let (store, guard, conversation, _) =
        crashed_after_storing("crashed-reply", "about that one").await;
    let crate::conformance::Guard::Database(db) = &guard else {
        unreachable!()
    };
    db.collection::<mongodb::bson::Document>("messages")
        .update_one(
            doc! { "_id": "crashed-reply" },
            doc! { "$set": { "reply_to": "wamid.target", "awaits_target": true } },
        )
        .await
        .unwrap();
    assert!(store.repair().await.unwrap() >= 1);
    let c = store.conversation(&conversation).await.unwrap().unwrap();
    let inbox = c.inbox_id.clone();
    let target = crate::conformance::inbound(&inbox, "wamid.target", "5511300", 1_500);
    assert!(matches!(
        store.record_inbound(target).await.unwrap(),
        switchboard::store::InboundOutcome::Created { awaited: true, .. }
    ));
    guard.cleanup().await;
}

/// A process that dies after the conversation took a new message but before either event
/// left no mark on the conversation: the message's own mark brings both events back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_conversation_took_a_message_still_publishes_the_conversation() {
    use mongodb::bson::doc;

    let (store, guard, conversation, head) =
        crashed_after_storing("took-message", "taken in, never announced").await;
    let crate::conformance::Guard::Database(db) = &guard else {
        unreachable!()
    };
    // What `conversation_took` had written: this message is its last one and counted as
    // unread, and nothing is marked.
    db.collection::<mongodb::bson::Document>("conversations")
        .update_one(
            doc! { "_id": &conversation },
            doc! {
                "$set": {
                    "last_ts": 2_000i64,
                    "last_seq": 1_000_000i64,
                    "unread_count": 2i64,
                    "unread_counted_by": 2i64,
                },
                "$inc": { "version": 1i64, "unread_recounts": 1i64 },
            },
        )
        .await
        .unwrap();

    repair_publishes(&store, head, "message.created", "\"unread_count\":2").await;
    guard.cleanup().await;
}

/// A fresh MongoDB store with one customer's conversation (`wa_id`, one message). Returns
/// the store, its guard, the inbox and the conversation.
async fn a_conversation(
    wa_id: &str,
) -> (
    switchboard::store::DynStore,
    crate::conformance::Guard,
    String,
    String,
) {
    let (store, guard) = crate::conformance::open_mongo().await;
    let inbox = crate::conformance::inbox(&store).await;
    let conversation = crate::conformance::conversation(&store, &inbox, wa_id).await;
    (store, guard, inbox, conversation)
}

/// A store with one customer's conversation and an agent's reply in it that Meta accepted
/// as `wamid`. Returns the store, its guard, the inbox, the conversation and the reply.
async fn an_accepted_reply(
    wa_id: &str,
    wamid: &str,
) -> (
    switchboard::store::DynStore,
    crate::conformance::Guard,
    String,
    String,
    String,
) {
    let (store, guard, inbox, conversation) = a_conversation(wa_id).await;
    let id = crate::conformance::outbound(&store, &conversation).await;
    store.mark_accepted(&id, wamid).await.unwrap();
    (store, guard, inbox, conversation, id)
}

/// Writes what `record_status` had stored when its process died: the receipt (timestamp
/// 1,000, no error), still pending.
async fn a_pending_receipt(
    guard: &crate::conformance::Guard,
    inbox: &str,
    wamid: &str,
    status: &str,
    received_at: i64,
    callback_data: Option<&str>,
) {
    let crate::conformance::Guard::Database(db) = guard else {
        unreachable!()
    };
    let mut receipt = mongodb::bson::doc! {
        "_id": format!("{inbox}|{wamid}|{status}|1000|0"),
        "inbox_id": inbox,
        "wamid": wamid,
        "status": status,
        "timestamp": 1_000i64,
        "raw": "{}",
        "received_at": received_at,
        "pending": true,
    };
    if let Some(data) = callback_data {
        receipt.insert("callback_data", data);
    }
    db.collection::<mongodb::bson::Document>("status_events")
        .insert_one(receipt)
        .await
        .unwrap();
}

/// A receipt a crash left pending is not stranded when a later receipt for the same message
/// is applied first (alone): the repair pass applies it, and the shown status never drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_a_crash_left_pending_is_applied_by_repair_after_a_later_one() {
    use switchboard::model::MessageStatus;
    use switchboard::store::StatusOutcome;

    let (store, guard, inbox, _, id) = an_accepted_reply("5511300000902", "wamid.LATER").await;
    // `delivered`, stored by a process that died before applying it, a while ago.
    let stale = switchboard::store::now_ms() - 60_000;
    a_pending_receipt(&guard, &inbox, "wamid.LATER", "delivered", stale, None).await;
    let sent = crate::conformance::status(&inbox, "wamid.LATER", "sent", 999);
    let outcome = store.record_status(sent).await.unwrap();
    assert!(matches!(outcome, StatusOutcome::Applied(_)), "{outcome:?}");
    assert!(store.repair().await.unwrap() >= 1);
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Delivered);
    assert_eq!(pending_receipts(&guard).await, 0);
    assert_eq!(store.repair().await.unwrap(), 0);
    guard.cleanup().await;
}

/// Writes what a `delivered` receipt had written to message `id` when its process died a
/// while ago: the message's new state, marked unpublished.
async fn delivered_before_a_crash(guard: &crate::conformance::Guard, id: &str) {
    let crate::conformance::Guard::Database(db) = guard else {
        unreachable!()
    };
    let stale = switchboard::store::now_ms() - 60_000;
    db.collection::<mongodb::bson::Document>("messages")
        .update_one(
            mongodb::bson::doc! { "_id": id },
            mongodb::bson::doc! {
                "$set": { "status_rank": 2i64, "unpublished": true, "changed_at": stale },
                "$inc": { "version": 1i64 },
            },
        )
        .await
        .unwrap();
}

/// How many receipts are still waiting to be applied.
async fn pending_receipts(guard: &crate::conformance::Guard) -> u64 {
    let crate::conformance::Guard::Database(db) = guard else {
        unreachable!()
    };
    db.collection::<mongodb::bson::Document>("status_events")
        .count_documents(mongodb::bson::doc! { "pending": { "$exists": true } })
        .await
        .unwrap()
}

/// A receipt for a known message is applied before it is stored: a crash between the two
/// leaves the message marked (the repair pass publishes it), and Meta's redelivery stores
/// the receipt without applying it twice, then is the duplicate it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_applied_but_not_stored_before_a_crash_is_stored_on_redelivery() {
    use mongodb::bson::doc;
    use switchboard::model::MessageStatus;
    use switchboard::store::StatusOutcome;

    let (store, guard, inbox, _, id) = an_accepted_reply("5511300000903", "wamid.UNSTORED").await;
    let crate::conformance::Guard::Database(db) = &guard else {
        unreachable!()
    };
    // No receipt kept, no event.
    delivered_before_a_crash(&guard, &id).await;
    let version = store.message(&id).await.unwrap().unwrap().version;
    let report = crate::conformance::status(&inbox, "wamid.UNSTORED", "delivered", 1_000);
    let outcome = store.record_status(report.clone()).await.unwrap();
    assert_eq!(outcome, StatusOutcome::Unchanged);
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!((m.status, m.version), (MessageStatus::Delivered, version));
    let stored = db
        .collection::<mongodb::bson::Document>("status_events")
        .count_documents(doc! { "wamid": "wamid.UNSTORED", "applied_at": { "$exists": true } })
        .await
        .unwrap();
    assert_eq!(stored, 1);
    assert_eq!(
        store.record_status(report).await.unwrap(),
        StatusOutcome::Duplicate
    );
    let head = store.event_bounds().await.unwrap().head;
    assert!(store.repair().await.unwrap() >= 1);
    let events = store.events_after(head, 10).await.unwrap();
    assert_eq!(events[0].kind.as_str(), "message.updated");
    assert!(events[0].data.contains("\"status\":\"delivered\""));
    guard.cleanup().await;
}

/// A receipt a crash left parked, delivered again once its message is known: the
/// redelivery applies it and the parked copy is no longer waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_receipt_delivered_again_for_a_known_message_is_applied_once() {
    use switchboard::model::MessageStatus;
    use switchboard::store::StatusOutcome;

    let (store, guard, inbox, _, id) = an_accepted_reply("5511300000904", "wamid.PARKED").await;
    let now = switchboard::store::now_ms();
    a_pending_receipt(&guard, &inbox, "wamid.PARKED", "read", now, None).await;
    let report = crate::conformance::status(&inbox, "wamid.PARKED", "read", 1_000);
    let outcome = store.record_status(report.clone()).await.unwrap();
    assert!(matches!(outcome, StatusOutcome::Applied(_)), "{outcome:?}");
    assert_eq!(
        store.message(&id).await.unwrap().unwrap().status,
        MessageStatus::Read
    );
    assert_eq!(pending_receipts(&guard).await, 0);
    assert_eq!(
        store.record_status(report).await.unwrap(),
        StatusOutcome::Duplicate
    );
    assert_eq!(store.repair().await.unwrap(), 0);
    guard.cleanup().await;
}

/// A process that dies after a receipt moved the list's preview of its message but before
/// either event: the preview leaves no mark of its own on the conversation, and the
/// message's mark brings both events back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_receipt_moved_the_preview_still_publishes_the_conversation() {
    use mongodb::bson::doc;

    let (store, guard, _, conversation, id) = an_accepted_reply("5511500", "wamid.preview").await;
    let version = store.message(&id).await.unwrap().unwrap().version;
    let head = store.event_bounds().await.unwrap().head;
    let crate::conformance::Guard::Database(db) = &guard else {
        unreachable!()
    };
    // And the list's preview of it.
    delivered_before_a_crash(&guard, &id).await;
    db.collection::<mongodb::bson::Document>("conversations")
        .update_one(
            doc! { "_id": &conversation },
            doc! {
                "$set": { "last_message.status": "delivered", "last_message.version": version + 1 },
                "$inc": { "version": 1i64 },
            },
        )
        .await
        .unwrap();

    repair_publishes(&store, head, "message.updated", "\"status\":\"delivered\"").await;
    guard.cleanup().await;
}

/// A process that dies after changing a contact but before copying it into its
/// conversation (the list's copy, by which a known customer's messages find it): the
/// repair pass copies it and publishes the conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_changed_before_a_crash_is_copied_into_its_conversation_by_repair() {
    use mongodb::bson::doc;

    let (store, guard, inbox, conversation) = a_conversation("5511300000905").await;
    let crate::conformance::Guard::Database(db) = &guard else {
        unreachable!()
    };
    let head = store.event_bounds().await.unwrap().head;
    // What `change_contact_phone` had written when the process died: the contact's new
    // number, stamped as not yet copied.
    let stale = switchboard::store::now_ms() - 60_000;
    db.collection::<mongodb::bson::Document>("contacts")
        .update_one(
            doc! { "wa_id": "5511300000905" },
            doc! { "$set": { "wa_id": "5511300000906", "copy_changed_at": stale } },
        )
        .await
        .unwrap();

    assert!(store.repair().await.unwrap() >= 1);
    let c = store.conversation(&conversation).await.unwrap().unwrap();
    assert_eq!(c.contact.wa_id.as_deref(), Some("5511300000906"));
    let events = store.events_after(head, 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind.as_str(), "conversation.updated");
    assert!(events[0].data.contains("5511300000906"));
    assert_eq!(store.repair().await.unwrap(), 0);
    // A change that finishes leaves no stamp behind.
    assert!(
        store
            .change_contact_phone(&inbox, "5511300000906", "5511300000907")
            .await
            .unwrap()
    );
    let stamped = db
        .collection::<mongodb::bson::Document>("contacts")
        .count_documents(doc! { "copy_changed_at": { "$exists": true } })
        .await
        .unwrap();
    assert_eq!(stamped, 0);
    guard.cleanup().await;
}

/// Conversations stored before unread recounts were numbered per conversation carry a
/// number from one global counter instead; their counts still follow new messages and
/// read marks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_stored_before_per_conversation_recounts_still_counts_unread() {
    use mongodb::bson::doc;

    let (store, guard, inbox, conversation) = a_conversation("5511400").await;
    let crate::conformance::Guard::Database(db) = &guard else {
        unreachable!()
    };
    db.collection::<mongodb::bson::Document>("conversations")
        .update_one(
            doc! { "_id": &conversation },
            doc! {
                "$set": { "unread_gen": 1_000_000i64 },
                "$unset": { "unread_recounts": "", "unread_counted_by": "" },
            },
        )
        .await
        .unwrap();

    store
        .record_inbound(crate::conformance::inbound(
            &inbox,
            "wamid.legacy.2",
            "5511400",
            2_000,
        ))
        .await
        .unwrap();
    let conv = store.conversation(&conversation).await.unwrap().unwrap();
    assert_eq!(conv.unread_count, 2);
    let read = store.mark_conversation_read(&conversation).await.unwrap();
    assert_eq!(read.unread_count, 0);
    guard.cleanup().await;
}

/// With MongoDB, files live in the database: an instance that never saw a file serves it, whole
/// and by range, with nothing on its own disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_lives_in_mongodb_so_every_instance_serves_it() {
    let url = mongo_url(&unique_db());
    let first = TestApp::start_on_mongo(&url).await;
    let res = first
        .http
        .post(format!("{}/_sim/customer/messages", first.url))
        .json(&json!({"wa_id": "5511987650001", "kind": "image", "text": "receipt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let wamid = res.json::<serde_json::Value>().await.unwrap()["wamid"]
        .as_str()
        .unwrap()
        .to_string();
    let photo = crate::scenarios::eventually_media(&first, "5511987650001", &wamid, "stored").await;
    let conv = photo["conversation_id"].as_str().unwrap().to_string();

    // A document bigger than a chunk (255 KiB), attached and sent.
    let pdf: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let (status, info) =
        crate::uploads::upload(&first, "application/pdf", "big.pdf", pdf.clone()).await;
    assert_eq!(status, 201, "{info}");
    let (status, sent) = crate::cloud_api::send_outgoing(
        &first,
        &conv,
        json!({"type": "upload", "upload": info["upload"]}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert!(sent["details"]["media"]["media_id"].is_string(), "{sent}");
    let photo_bytes = first.media(&photo).await.bytes().await.unwrap();
    assert!(photo_bytes.starts_with(b"\x89PNG"));
    // The first instance goes, and its temporary directory with it.
    let (_, dir) = first.stop().await;
    drop(dir);

    let second = TestApp::start_on_mongo(&url).await;
    assert_eq!(
        second.media(&photo).await.bytes().await.unwrap(),
        photo_bytes
    );
    let whole = second.media(&sent).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "application/pdf");
    assert_eq!(&whole.bytes().await.unwrap()[..], &pdf[..]);
    // Across the first chunk boundary (255 KiB).
    let part = second
        .http
        .get(format!(
            "{}/media/{}",
            second.url,
            sent["id"].as_str().unwrap()
        ))
        .header("range", "bytes=261100-261150")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(&part.bytes().await.unwrap()[..], &pdf[261_100..=261_150]);
}

/// A crash between storing a receipt and linking its message (through the callback id):
/// Meta's redelivery of the receipt completes the link instead of being dropped as a
/// duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_stored_but_not_applied_before_a_crash_is_applied_on_redelivery() {
    use switchboard::model::MessageStatus;
    use switchboard::store::{StatusOutcome, StatusReport};

    let (store, guard, inbox, conv) = a_conversation("5511300000901").await;
    let id = crate::conformance::outbound(&store, &conv).await;
    let report = StatusReport {
        inbox_id: inbox.clone(),
        wamid: "wamid.CRASHED".into(),
        status: "sent".into(),
        timestamp: 1_000,
        error: None,
        callback_data: Some(id.clone()),
        raw: "{}".into(),
    };
    let now = switchboard::store::now_ms();
    a_pending_receipt(&guard, &inbox, "wamid.CRASHED", "sent", now, Some(&id)).await;
    let outcome = store.record_status(report.clone()).await.unwrap();
    assert!(matches!(outcome, StatusOutcome::Applied(_)), "{outcome:?}");
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!(m.wamid.as_deref(), Some("wamid.CRASHED"));
    assert_eq!(m.status, MessageStatus::Sent);
    // Once applied, a further redelivery is the plain duplicate it is.
    assert!(matches!(
        store.record_status(report).await.unwrap(),
        StatusOutcome::Duplicate
    ));
    guard.cleanup().await;
}

/// One unreadable document does not stop the repair pass: it is logged and skipped, and
/// the writes behind it are still finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repair_pass_skips_a_bad_document_and_finishes_the_rest() {
    use mongodb::bson::doc;
    let (store, guard, inbox, conv) = a_conversation("5511300000902").await;
    let head = store.event_bounds().await.unwrap().head;
    let crate::conformance::Guard::Database(db) = &guard else {
        unreachable!()
    };
    let stale = switchboard::store::now_ms() - 60_000;
    let messages = db.collection::<mongodb::bson::Document>("messages");
    messages
        .insert_one(doc! {
            "_id": "0-bad", "inbox_id": &inbox, "direction": 42i64,
            "unpublished": true, "changed_at": stale - 1,
        })
        .await
        .unwrap();
    messages
        .insert_one(doc! {
            "_id": "1-good", "seq": 2_000_000i64, "inbox_id": &inbox, "conversation_id": &conv,
            "direction": "in", "kind": "text", "text": "behind a bad one", "status_rank": 0i64,
            "failed": false, "timestamp": 3_000i64,
            "sort_key": format!("{:019}:{:019}", 3_000, 2_000_000),
            "created_at": stale, "version": 1i64, "published_version": 0i64,
            "unpublished": true, "new": true, "changed_at": stale, "wamid": "wamid.GOOD",
        })
        .await
        .unwrap();
    assert!(store.repair().await.unwrap() >= 1, "the pass completes");
    let events = store.events_after(head, 10).await.unwrap();
    assert!(
        events.iter().any(|e| e.data.contains("behind a bad one")),
        "{events:?}"
    );
    guard.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_stored_before_search_terms_existed_are_found_after_a_restart() {
    use mongodb::bson::doc;
    use switchboard::model::search_words;
    use switchboard::store::Scope;

    let (store, guard) = crate::conformance::open_mongo().await;
    let inbox = crate::conformance::inbox(&store).await;
    let mut m = crate::conformance::inbound(&inbox, "wamid.T1", "5511301", 1_000);
    m.text = Some("Preciso da segunda via do boleto".into());
    store.record_inbound(m).await.unwrap();
    let words = search_words("bolet");
    let found = |store: switchboard::store::DynStore| {
        let words = words.clone();
        async move {
            store
                .search_messages(&Scope::All, None, &words, None, 10)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(found(store.clone()).await, 1);

    // As an older version stored it: no search terms.
    let crate::conformance::Guard::Database(db) = &guard else {
        unreachable!()
    };
    db.collection::<mongodb::bson::Document>("messages")
        .update_many(doc! {}, doc! { "$unset": { "terms": "" } })
        .await
        .unwrap();
    assert_eq!(found(store.clone()).await, 0, "search reads the terms");

    let restarted = switchboard::store::mongo::MongoStore::connect(&mongo_url(db.name()))
        .await
        .unwrap();
    assert_eq!(found(std::sync::Arc::new(restarted)).await, 1);
    guard.cleanup().await;
}

/// A receipt is applied in one conditional write on the message's rank; a message stored
/// before ranks were (no `status_rank`) counts as rank 0, so its receipts still land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_lands_on_a_message_stored_without_a_rank() {
    use mongodb::bson::doc;
    use switchboard::model::MessageStatus;
    use switchboard::store::StatusOutcome;

    let (store, guard, inbox, _, id) = an_accepted_reply("5511300000913", "wamid.NORANK").await;
    let crate::conformance::Guard::Database(db) = &guard else {
        unreachable!()
    };
    db.collection::<mongodb::bson::Document>("messages")
        .update_one(
            doc! { "_id": &id },
            doc! { "$unset": { "status_rank": "" } },
        )
        .await
        .unwrap();
    let report = crate::conformance::status(&inbox, "wamid.NORANK", "delivered", 1_000);
    let outcome = store.record_status(report.clone()).await.unwrap();
    assert!(matches!(outcome, StatusOutcome::Applied(_)), "{outcome:?}");
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Delivered);
    // The same receipt again changes nothing and is told as the redelivery it is; an
    // earlier step arriving late changes nothing either.
    assert_eq!(
        store.record_status(report).await.unwrap(),
        StatusOutcome::Duplicate
    );
    let late = crate::conformance::status(&inbox, "wamid.NORANK", "sent", 900);
    assert_eq!(
        store.record_status(late).await.unwrap(),
        StatusOutcome::Unchanged
    );
    assert_eq!(
        store.message(&id).await.unwrap().unwrap().status,
        MessageStatus::Delivered
    );
}
