//! One behavioural suite for every store backend. Each test is written once as an async
//! function over a `DynStore`; `conformance!` instantiates all of them for a backend.
//!
//! The MongoDB instance runs against `MONGODB_TEST_URI`: by default nx-27017 (0.8.1), a
//! wire-protocol server on SQLite, which `scripts/test` starts. The store is written to
//! MongoDB's documented semantics; where nx-27017 was seen to differ, the store avoids
//! the feature rather than relying on either behaviour:
//! - `findAndModify` with `upsert` ignores `$setOnInsert`, and `$setOnInsert` of `_id`
//!   on an existing document fails ("JSON path error near '_id'"): inserts are plain
//!   `insert_one`s that read back on a duplicate-key race.
//! - A compound index containing `_id` fails on insert with the same error: the
//!   conversations-by-activity index is on `last_activity_at` alone.
//! - `{field: {$ne: null}}` also matches documents where the field is missing: presence
//!   is tested with `$exists`/`$type` only.
//! - Booleans written by `$set` read back as integers: flags that are queried are field
//!   presence (`unpublished`, `pending`), and `failed` is read as true for any
//!   non-zero number as well as `true`.
//! - Sorting on an integer `_id` is lexicographic (1, 10, 11, 2, …): the event log has a
//!   separate, uniquely indexed `seq` field that it sorts and ranges on.
//! - No authentication: a credentialed URL fails the SCRAM exchange, which the driver
//!   reports as an authentication error, as for a real wrong password.

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::join_all;
use rand::seq::SliceRandom;
use switchboard::model::Role;
use switchboard::model::{Cursor, ErrorInfo, MessageKind, MessageStatus};
use switchboard::store::{
    ContactKey, DynStore, InboundOutcome, InboxCredentials, InboxUpdate, NewApiToken, NewInbound,
    NewInbox, NewOutbound, NewUser, Scope, StatusOutcome, StatusReport, StoreError, UserUpdate,
    WebhookState, now_ms,
};

pub const PNID: &str = "200000000000001";

pub async fn inbox(store: &DynStore) -> String {
    store
        .ensure_inbox(PNID, Some("15550001000"))
        .await
        .unwrap()
        .id
}

pub fn inbound(inbox: &str, wamid: &str, wa_id: &str, ts: i64) -> NewInbound {
    NewInbound {
        inbox_id: inbox.into(),
        wamid: wamid.into(),
        contact: ContactKey {
            wa_id: Some(wa_id.into()),
            user_id: None,
            name: Some(format!("Customer {wa_id}")),
        },
        kind: MessageKind::Text,
        text: Some(format!("text of {wamid}")),
        timestamp: ts,
        reply_to: None,
        awaits_target: false,
        details: Default::default(),
        raw: "{}".into(),
    }
}

pub fn status(inbox: &str, wamid: &str, s: &str, ts: i64) -> StatusReport {
    StatusReport {
        inbox_id: inbox.into(),
        wamid: wamid.into(),
        status: s.into(),
        timestamp: ts,
        error: (s == "failed").then(|| ErrorInfo {
            code: 131047,
            title: "Re-engagement message".into(),
            detail: None,
        }),
        callback_data: None,
        raw: "{}".into(),
    }
}

/// A conversation with one customer message; returns its id.
pub async fn conversation(store: &DynStore, inbox: &str, wa_id: &str) -> String {
    match store
        .record_inbound(inbound(
            inbox,
            &format!("wamid.first.{wa_id}"),
            wa_id,
            1_000,
        ))
        .await
        .unwrap()
    {
        InboundOutcome::Created { message: m, .. } => m.conversation_id,
        InboundOutcome::Duplicate => panic!("fresh message reported as duplicate"),
    }
}

/// Every conversation (up to ten), newest activity first.
pub async fn listed(store: &DynStore) -> Vec<switchboard::model::Conversation> {
    store
        .list_conversations(&Scope::All, &Default::default(), 10)
        .await
        .unwrap()
}

pub async fn outbound(store: &DynStore, conversation: &str) -> String {
    let (m, created) = store
        .create_outbound(NewOutbound {
            direction: switchboard::model::Direction::Out,
            sent_by: None,
            conversation_id: conversation.into(),
            client_id: uuid::Uuid::new_v4().to_string(),
            kind: MessageKind::Text,
            text: Some("reply".into()),
            reply_to: None,
            details: Default::default(),
        })
        .await
        .unwrap();
    assert!(created);
    m.id
}

async fn status_of(store: &DynStore, id: &str) -> MessageStatus {
    store.message(id).await.unwrap().unwrap().status
}

pub async fn inbound_is_idempotent(store: DynStore) {
    let inbox = inbox(&store).await;
    let first = store
        .record_inbound(inbound(&inbox, "wamid.A", "551100", 100))
        .await
        .unwrap();
    assert!(matches!(first, InboundOutcome::Created { .. }));
    let again = store
        .record_inbound(inbound(&inbox, "wamid.A", "551100", 100))
        .await
        .unwrap();
    assert_eq!(again, InboundOutcome::Duplicate);
    let convs = listed(&store).await;
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0].unread_count, 1);
}

pub async fn a_new_inbound_message_comes_with_its_conversation_as_stored(store: DynStore) {
    let inbox = inbox(&store).await;
    for (wamid, at) in [("wamid.C1", 100), ("wamid.C2", 200), ("wamid.C0", 50)] {
        let InboundOutcome::Created {
            message: m,
            conversation: c,
            ..
        } = store
            .record_inbound(inbound(&inbox, wamid, "551102", at))
            .await
            .unwrap()
        else {
            panic!("{wamid} reported as a duplicate");
        };
        let stored = store.conversation(&m.conversation_id).await.unwrap();
        assert_eq!(Some(*c), stored, "after {wamid}");
    }
}

pub async fn twenty_concurrent_identical_inbound_writes_give_one_message(store: DynStore) {
    let inbox = inbox(&store).await;
    let results = join_all((0..20).map(|_| {
        let store = store.clone();
        let msg = inbound(&inbox, "wamid.SAME", "551101", 100);
        async move { store.record_inbound(msg).await.unwrap() }
    }))
    .await;
    let created = results
        .iter()
        .filter(|r| matches!(r, InboundOutcome::Created { .. }))
        .count();
    assert_eq!(created, 1);
    let conv = &listed(&store).await[0];
    let page = store.load_messages(&conv.id, None, 50).await.unwrap();
    assert_eq!(page.messages.len(), 1);
    let events = store.events_after(0, 1000).await.unwrap();
    let created_events = events
        .iter()
        .filter(|e| e.kind.as_str() == "message.created")
        .count();
    assert_eq!(created_events, 1);
}

pub async fn status_never_regresses(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551102").await;
    for order in [
        vec!["sent", "read", "delivered"],
        vec!["read", "sent"],
        vec!["delivered", "sent"],
    ] {
        let id = outbound(&store, &conv).await;
        let wamid = format!("wamid.{id}");
        store.mark_accepted(&id, &wamid).await.unwrap();
        for (i, s) in order.iter().enumerate() {
            store
                .record_status(status(&inbox, &wamid, s, 200 + i as i64))
                .await
                .unwrap();
        }
        let top = order
            .iter()
            .map(|s| MessageStatus::from_wire(s).unwrap())
            .max_by_key(|s| s.rank())
            .unwrap();
        assert_eq!(status_of(&store, &id).await, top, "{order:?}");
    }
}

pub async fn twenty_concurrent_status_writes_give_the_highest(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551103").await;
    let id = outbound(&store, &conv).await;
    store.mark_accepted(&id, "wamid.RACE").await.unwrap();
    let mut reports: Vec<StatusReport> = (0..20)
        .map(|i| {
            let s = ["sent", "delivered", "read", "sent", "delivered"][i % 5];
            status(&inbox, "wamid.RACE", s, 300 + i as i64)
        })
        .collect();
    reports.shuffle(&mut rand::rng());
    join_all(reports.into_iter().map(|r| {
        let store = store.clone();
        async move { store.record_status(r).await.unwrap() }
    }))
    .await;
    assert_eq!(status_of(&store, &id).await, MessageStatus::Read);
}

pub async fn duplicate_receipts_are_reported_and_change_nothing(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551104").await;
    let id = outbound(&store, &conv).await;
    store.mark_accepted(&id, "wamid.DUP").await.unwrap();
    let first = store
        .record_status(status(&inbox, "wamid.DUP", "delivered", 400))
        .await
        .unwrap();
    assert!(matches!(first, StatusOutcome::Applied(_)));
    let version = store.message(&id).await.unwrap().unwrap().version;
    let again = store
        .record_status(status(&inbox, "wamid.DUP", "delivered", 400))
        .await
        .unwrap();
    assert_eq!(again, StatusOutcome::Duplicate);
    assert_eq!(store.message(&id).await.unwrap().unwrap().version, version);
}

pub async fn early_receipts_are_applied_once_the_wamid_is_known(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551105").await;
    let id = outbound(&store, &conv).await;
    // Receipts for a wamid nobody has stored yet are parked...
    for (s, ts) in [("sent", 500), ("delivered", 501)] {
        let outcome = store
            .record_status(status(&inbox, "wamid.EARLY", s, ts))
            .await
            .unwrap();
        assert_eq!(outcome, StatusOutcome::Parked);
    }
    assert_eq!(status_of(&store, &id).await, MessageStatus::Pending);
    // ...and applied when the send response records it.
    let m = store.mark_accepted(&id, "wamid.EARLY").await.unwrap();
    assert_eq!(m.status, MessageStatus::Delivered);
    assert_eq!(m.wamid.as_deref(), Some("wamid.EARLY"));
}

pub async fn an_early_receipt_with_callback_data_links_the_message(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551106").await;
    let id = outbound(&store, &conv).await;
    let mut report = status(&inbox, "wamid.CB", "sent", 600);
    report.callback_data = Some(id.clone());
    let outcome = store.record_status(report).await.unwrap();
    let StatusOutcome::Applied(m) = outcome else {
        panic!("not applied: {outcome:?}")
    };
    assert_eq!(m.wamid.as_deref(), Some("wamid.CB"));
    assert_eq!(m.status, MessageStatus::Sent);
    // The send response arriving afterwards agrees and changes nothing.
    let m = store.mark_accepted(&id, "wamid.CB").await.unwrap();
    assert_eq!(m.status, MessageStatus::Sent);
}

/// Meta's acceptance sets a message's wamid once: the same again changes nothing (and
/// publishes nothing), another is refused, and a message not stored is not found.
pub async fn a_message_takes_one_wamid(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551190").await;
    let id = outbound(&store, &conv).await;
    let first = store.mark_accepted(&id, "wamid.ONE").await.unwrap();
    assert_eq!(first.wamid.as_deref(), Some("wamid.ONE"));
    let head = store.event_bounds().await.unwrap().head;
    let again = store.mark_accepted(&id, "wamid.ONE").await.unwrap();
    assert_eq!(again.version, first.version);
    assert!(store.events_after(head, 10).await.unwrap().is_empty());
    assert!(matches!(
        store.mark_accepted(&id, "wamid.TWO").await,
        Err(StoreError::Conflict(_))
    ));
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!(m.wamid.as_deref(), Some("wamid.ONE"));
    assert!(matches!(
        store.mark_accepted("missing", "wamid.THREE").await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn failure_shows_until_delivery_and_keeps_its_error(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551107").await;
    let id = outbound(&store, &conv).await;
    store.mark_accepted(&id, "wamid.F").await.unwrap();
    store
        .record_status(status(&inbox, "wamid.F", "failed", 700))
        .await
        .unwrap();
    store
        .record_status(status(&inbox, "wamid.F", "sent", 699))
        .await
        .unwrap();
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!(
        m.status,
        MessageStatus::Failed,
        "a late sent must not clear failed"
    );
    store
        .record_status(status(&inbox, "wamid.F", "delivered", 701))
        .await
        .unwrap();
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Delivered);
    assert_eq!(m.error.unwrap().code, 131047, "the error is kept for audit");
}

pub async fn sends_are_idempotent_by_client_id(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551108").await;
    let other = conversation(&store, &inbox, "551109").await;
    let new = |c: &str, text: &str| NewOutbound {
        direction: switchboard::model::Direction::Out,
        sent_by: None,
        conversation_id: c.into(),
        client_id: "7d1f7a36-32a4-4c55-9f67-000000000001".into(),
        kind: MessageKind::Text,
        text: Some(text.into()),
        reply_to: None,
        details: Default::default(),
    };
    let (a, created_a) = store.create_outbound(new(&conv, "hello")).await.unwrap();
    let (b, created_b) = store.create_outbound(new(&conv, "hello")).await.unwrap();
    assert!(created_a && !created_b);
    assert_eq!(a.id, b.id);
    let results = join_all((0..10).map(|_| store.create_outbound(new(&conv, "hello")))).await;
    assert!(results.iter().all(|r| r.as_ref().unwrap().0.id == a.id));
    // One send job, for the one message: a repeat leaves none of its own behind.
    let jobs: Vec<String> = store
        .due_jobs(now_ms() + 3_600_000, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.key)
        .collect();
    assert_eq!(jobs, std::slice::from_ref(&a.id));
    assert!(
        store.create_outbound(new(&other, "hello")).await.is_err(),
        "a client id cannot be reused in another conversation"
    );
    assert!(store.create_outbound(new("missing", "x")).await.is_err());
}

pub async fn pages_neither_skip_nor_repeat_when_timestamps_tie(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551110").await;
    for i in 0..25 {
        // Five messages per second: plenty of ties.
        store
            .record_inbound(inbound(
                &inbox,
                &format!("wamid.P{i}"),
                "551110",
                2_000 + i / 5,
            ))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut before: Option<Cursor> = None;
    loop {
        let page = store.load_messages(&conv, before, 4).await.unwrap();
        seen.extend(page.messages.iter().map(|m| m.wamid.clone().unwrap()));
        match page.next {
            Some(c) => before = Some(Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 26);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 26, "no message repeated");
    let mut expected: Vec<String> = (0..25).rev().map(|i| format!("wamid.P{i}")).collect();
    expected.push("wamid.first.551110".into());
    assert_eq!(seen, expected, "newest first, ties broken by arrival");
}

pub async fn a_page_around_a_message_holds_it_and_pages_on_both_ways_without_gaps(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551113").await;
    for i in 0..25 {
        store
            .record_inbound(inbound(
                &inbox,
                &format!("wamid.R{i}"),
                "551113",
                3_000 + i / 5,
            ))
            .await
            .unwrap();
    }
    let all = store
        .load_messages(&conv, None, 100)
        .await
        .unwrap()
        .messages;
    let at = all
        .iter()
        .find(|m| m.wamid.as_deref() == Some("wamid.R12"))
        .unwrap()
        .clone();
    let page = store.load_messages_around(&at, 6).await.unwrap();
    let wamids = |p: &switchboard::model::MessagePage| -> Vec<String> {
        p.messages
            .iter()
            .map(|m| m.wamid.clone().unwrap())
            .collect()
    };
    assert_eq!(
        wamids(&page),
        [
            "wamid.R15",
            "wamid.R14",
            "wamid.R13",
            "wamid.R12",
            "wamid.R11",
            "wamid.R10"
        ],
        "half newer, then the message and older, newest first"
    );
    // Newer pages up to the newest, older pages down to the first: each message once.
    let mut seen = wamids(&page);
    let mut after = page.newer.clone();
    while let Some(c) = after {
        let newer = store
            .load_newer_messages(&conv, Cursor::decode(&c).unwrap(), 4)
            .await
            .unwrap();
        assert_eq!(newer.next, None);
        let mut batch = wamids(&newer);
        batch.extend(seen);
        seen = batch;
        after = newer.newer;
    }
    let mut before = page.next.clone();
    while let Some(c) = before {
        let older = store
            .load_messages(&conv, Some(Cursor::decode(&c).unwrap()), 4)
            .await
            .unwrap();
        seen.extend(wamids(&older));
        before = older.next;
    }
    let expected: Vec<String> = all.iter().map(|m| m.wamid.clone().unwrap()).collect();
    assert_eq!(seen, expected);

    // At the newest message: nothing newer to load.
    let newest = store.load_messages_around(&all[0], 6).await.unwrap();
    assert_eq!(newest.newer, None);
    assert_eq!(newest.messages[0].id, all[0].id);
    assert_eq!(newest.messages.len(), 6);
}

pub async fn unread_counts_and_activity_order(store: DynStore) {
    let inbox = inbox(&store).await;
    let a = conversation(&store, &inbox, "551111").await;
    let b = conversation(&store, &inbox, "551112").await;
    store
        .record_inbound(inbound(&inbox, "wamid.A2", "551111", 5_000))
        .await
        .unwrap();
    let convs = listed(&store).await;
    assert_eq!(convs[0].id, a, "most recent activity first");
    assert_eq!(convs[0].unread_count, 2);
    assert_eq!(convs[0].last_inbound_at, Some(5_000));
    let read = store.mark_conversation_read(&a).await.unwrap();
    assert_eq!(read.unread_count, 0);
    // A reply moves its conversation to the top and does not count as unread.
    outbound(&store, &b).await;
    let convs = listed(&store).await;
    assert_eq!(convs[0].id, b);
    assert_eq!(convs[0].unread_count, 1);
    assert_eq!(convs[0].last_message.as_ref().unwrap().text, "reply");
    assert!(store.mark_conversation_read("missing").await.is_err());
}

/// Each new message recounts its conversation's unread messages; recounts racing each
/// other must leave the count of the one that started last, which saw every message.
pub async fn unread_count_is_exact_after_concurrent_customer_messages(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551150").await;
    store.mark_conversation_read(&conv).await.unwrap();
    join_all((0..24).map(|i| {
        let store = store.clone();
        let msg = inbound(&inbox, &format!("wamid.race.{i}"), "551150", 2_000 + i % 5);
        async move { store.record_inbound(msg).await.unwrap() }
    }))
    .await;
    let convs = listed(&store).await;
    assert_eq!(convs[0].id, conv);
    assert_eq!(convs[0].unread_count, 24);
    let read = store.mark_conversation_read(&conv).await.unwrap();
    assert_eq!(read.unread_count, 0);
    store
        .record_inbound(inbound(&inbox, "wamid.race.after", "551150", 3_000))
        .await
        .unwrap();
    let convs = listed(&store).await;
    assert_eq!(convs[0].unread_count, 1);
}

pub async fn concurrent_event_appends_get_distinct_gap_free_seqs(store: DynStore) {
    let inbox = inbox(&store).await;
    let before = store.event_bounds().await.unwrap().head;
    join_all((0..30).map(|i| {
        let store = store.clone();
        let msg = inbound(&inbox, &format!("wamid.E{i}"), &format!("5520{i}"), 3_000);
        async move { store.record_inbound(msg).await.unwrap() }
    }))
    .await;
    let events = store.events_after(before, 1000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs.len(),
        60,
        "one message.created and one conversation.updated each"
    );
    let expected: Vec<i64> = (before + 1..=before + 60).collect();
    assert_eq!(seqs, expected);
    assert_eq!(store.event_bounds().await.unwrap().head, before + 60);
}

pub async fn the_event_log_trims_to_a_floor(store: DynStore) {
    let inbox = inbox(&store).await;
    for i in 0..5 {
        store
            .record_inbound(inbound(&inbox, &format!("wamid.T{i}"), "551113", 100 + i))
            .await
            .unwrap();
    }
    let bounds = store.event_bounds().await.unwrap();
    assert_eq!(bounds.floor, 0);
    let removed = store.trim_events(bounds.head - 3).await.unwrap();
    assert_eq!(removed, (bounds.head - 3) as u64);
    let after = store.event_bounds().await.unwrap();
    assert_eq!(after.floor, bounds.head - 3);
    assert_eq!(after.head, bounds.head, "the head survives trimming");
    let left: Vec<i64> = store
        .events_after(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(left, (bounds.head - 2..=bounds.head).collect::<Vec<_>>());
    // New events continue above the old head.
    store
        .record_inbound(inbound(&inbox, "wamid.T9", "551113", 200))
        .await
        .unwrap();
    assert!(store.event_bounds().await.unwrap().head > bounds.head);
}

pub async fn webhook_bodies_are_kept_until_finished(store: DynStore) {
    assert_eq!(
        store.save_webhook("h1", b"{}").await.unwrap(),
        WebhookState::New
    );
    assert_eq!(
        store.save_webhook("h1", b"{}").await.unwrap(),
        WebhookState::Pending
    );
    let unfinished = store.unfinished_webhooks(None, 10).await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].body, b"{}");
    store.finish_webhook("h1", None).await.unwrap();
    assert_eq!(
        store.save_webhook("h1", b"{}").await.unwrap(),
        WebhookState::Done
    );
    assert!(
        store
            .unfinished_webhooks(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn unfinished_bodies_page_by_id_and_old_bodies_and_receipts_are_trimmed(store: DynStore) {
    for id in ["c", "a", "b"] {
        store.save_webhook(id, b"{}").await.unwrap();
    }
    let first = store.unfinished_webhooks(None, 2).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    let rest = store.unfinished_webhooks(Some("b"), 2).await.unwrap();
    assert_eq!(
        rest.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["c"]
    );
    let inbox = inbox(&store).await;
    store
        .record_status(status(&inbox, "wamid.OLD", "sent", 1))
        .await
        .unwrap();
    assert_eq!(
        store.trim_received(now_ms() - 60_000).await.unwrap(),
        (0, 0),
        "nothing is old yet"
    );
    assert_eq!(store.trim_received(now_ms() + 1).await.unwrap(), (3, 1));
    assert!(
        store
            .unfinished_webhooks(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn contacts_found_by_phone_or_bsuid_merge(store: DynStore) {
    let inbox = inbox(&store).await;
    let mut first = inbound(&inbox, "wamid.U1", "ignored", 100);
    first.contact = ContactKey {
        wa_id: None,
        user_id: Some("BR.123".into()),
        name: Some("Username only".into()),
    };
    let InboundOutcome::Created { message: a, .. } = store.record_inbound(first).await.unwrap()
    else {
        panic!()
    };
    let mut second = inbound(&inbox, "wamid.U2", "5511777", 101);
    second.contact.user_id = Some("BR.123".into());
    let InboundOutcome::Created { message: b, .. } = store.record_inbound(second).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(a.conversation_id, b.conversation_id);
    let conv = store
        .conversation(&a.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.contact.wa_id.as_deref(), Some("5511777"));
    assert_eq!(conv.contact.user_id.as_deref(), Some("BR.123"));
}

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: email.into(),
        name: format!("User {email}"),
        role,
        password_hash: "$argon2id$fake".into(),
    }
}

pub async fn users_are_unique_by_email_and_updatable(store: DynStore) {
    let ana = store
        .create_user(new_user("ana@example.com", Role::Agent))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_user(new_user("ana@example.com", Role::Admin))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let (found, hash) = store
        .user_by_email("ana@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, ana);
    assert_eq!(hash, "$argon2id$fake");
    assert!(
        store
            .user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let updated = store
        .update_user(
            &ana.id,
            UserUpdate {
                role: Some(Role::Admin),
                disabled: Some(true),
                password_hash: Some("$argon2id$new".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.role, Role::Admin);
    assert!(updated.disabled);
    assert_eq!(updated.name, ana.name, "untouched fields stay");
    assert_eq!(
        store
            .user_by_email("ana@example.com")
            .await
            .unwrap()
            .unwrap()
            .1,
        "$argon2id$new"
    );
    assert_eq!(store.list_users().await.unwrap().len(), 1);
    assert!(
        store
            .update_user("missing", UserUpdate::default())
            .await
            .is_err()
    );
}

pub async fn sessions_expire_and_end(store: DynStore) {
    let u = store
        .create_user(new_user("s@example.com", Role::Agent))
        .await
        .unwrap();
    let later = now_ms() + 60_000;
    store.create_session("live", &u.id, later).await.unwrap();
    store.create_session("other", &u.id, later).await.unwrap();
    store
        .create_session("expired", &u.id, now_ms() - 1)
        .await
        .unwrap();
    assert_eq!(store.session_user("live").await.unwrap().unwrap().id, u.id);
    assert!(store.session_user("expired").await.unwrap().is_none());
    assert!(store.session_user("unknown").await.unwrap().is_none());
    store.delete_session("live").await.unwrap();
    assert!(store.session_user("live").await.unwrap().is_none());
    assert!(store.session_user("other").await.unwrap().is_some());
    store.delete_user_sessions(&u.id).await.unwrap();
    assert!(store.session_user("other").await.unwrap().is_none());
}

pub async fn api_tokens_resolve_until_revoked(store: DynStore) {
    let u = store
        .create_user(new_user("bot@example.com", Role::Agent))
        .await
        .unwrap();
    let t = store
        .create_api_token(NewApiToken {
            name: "crm".into(),
            user_id: u.id.clone(),
            token_hash: "hash-1".into(),
        })
        .await
        .unwrap();
    assert!(!t.revoked);
    let (found, user) = store.api_token_user("hash-1").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), user.id.as_str()),
        (t.id.as_str(), u.id.as_str())
    );
    let listed = store.list_api_tokens().await.unwrap();
    assert!(listed[0].last_used_at.is_some(), "use is recorded");
    assert!(store.api_token_user("hash-2").await.unwrap().is_none());
    assert!(store.revoke_api_token(&t.id).await.unwrap().revoked);
    assert!(store.api_token_user("hash-1").await.unwrap().is_none());
    assert!(
        store
            .create_api_token(NewApiToken {
                name: "x".into(),
                user_id: "missing".into(),
                token_hash: "hash-3".into(),
            })
            .await
            .is_err()
    );
}

pub async fn inboxes_keep_their_own_credentials(store: DynStore) {
    let a = store
        .create_inbox(NewInbox {
            phone_number_id: "300000000000001".into(),
            name: Some("Sales".into()),
            display_phone_number: Some("15550002000".into()),
            credentials: InboxCredentials {
                access_token: Some("tok".into()),
                app_secret: Some("sec".into()),
                verify_token: None,
            },
        })
        .await
        .unwrap();
    assert_eq!(a.credentials.app_secret.as_deref(), Some("sec"));
    assert!(matches!(
        store
            .create_inbox(NewInbox {
                phone_number_id: "300000000000001".into(),
                ..Default::default()
            })
            .await,
        Err(StoreError::Conflict(_))
    ));
    let b = store
        .update_inbox(
            &a.id,
            InboxUpdate {
                name: Some("Sales EU".into()),
                credentials: InboxCredentials {
                    access_token: Some(String::new()),
                    app_secret: None,
                    verify_token: Some("ver".into()),
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(b.name.as_deref(), Some("Sales EU"));
    assert_eq!(b.credentials.access_token, None, "empty clears");
    assert_eq!(
        b.credentials.app_secret.as_deref(),
        Some("sec"),
        "None keeps"
    );
    assert_eq!(b.credentials.verify_token.as_deref(), Some("ver"));
    let by_pnid = store
        .inbox_by_phone_number_id("300000000000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_pnid.id, a.id);
    assert_eq!(store.list_inboxes().await.unwrap().len(), 1);
}

pub async fn membership_scopes_what_an_agent_sees(store: DynStore) {
    let first = inbox(&store).await;
    let second = store
        .create_inbox(NewInbox {
            phone_number_id: "300000000000002".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    let agent = store
        .create_user(new_user("agent@example.com", Role::Agent))
        .await
        .unwrap();
    store.set_member(&second, &agent.id, true).await.unwrap();
    store.set_member(&second, &agent.id, true).await.unwrap();
    assert_eq!(
        store.user_inboxes(&agent.id).await.unwrap(),
        vec![second.clone()]
    );
    assert_eq!(
        store.inbox_members(&second).await.unwrap(),
        vec![agent.id.clone()]
    );

    conversation(&store, &first, "551120").await;
    store
        .record_inbound(inbound(&second, "wamid.SECOND", "551121", 1_000))
        .await
        .unwrap();
    let all = listed(&store).await;
    assert_eq!(all.len(), 2);
    let scoped = store
        .list_conversations(
            &Scope::Inboxes(vec![second.clone()]),
            &Default::default(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(scoped.len(), 1);
    assert_eq!(scoped[0].inbox_id, second);
    assert!(
        store
            .list_conversations(&Scope::Inboxes(vec![]), &Default::default(), 10)
            .await
            .unwrap()
            .is_empty()
    );

    store.set_member(&second, &agent.id, false).await.unwrap();
    assert!(store.user_inboxes(&agent.id).await.unwrap().is_empty());
    assert!(store.set_member("missing", &agent.id, true).await.is_err());
    assert!(store.set_member(&second, "missing", true).await.is_err());
}

pub async fn settings_are_kept_and_removed(store: DynStore) {
    assert_eq!(store.setting("k").await.unwrap(), None);
    store.set_setting("k", Some("v1")).await.unwrap();
    store.set_setting("k", Some("v2")).await.unwrap();
    assert_eq!(store.setting("k").await.unwrap().as_deref(), Some("v2"));
    store.set_setting("k", None).await.unwrap();
    assert_eq!(store.setting("k").await.unwrap(), None);
}

pub async fn pausing_an_inbox_is_an_event_only_when_it_changes(store: DynStore) {
    use switchboard::model::InboxStatus;
    use switchboard::store::{EventKind, pause_key};
    let inbox = inbox(&store).await;
    let head = store.event_bounds().await.unwrap().head;
    let events = || async {
        store
            .events_after(head, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                assert_eq!(e.kind, EventKind::InboxUpdated);
                assert_eq!(e.inbox_id, inbox);
                serde_json::from_str::<InboxStatus>(&e.data).unwrap()
            })
            .collect::<Vec<_>>()
    };
    assert!(
        store
            .set_sending_paused(&inbox, Some("token rejected"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_sending_paused(&inbox, Some("token rejected"))
            .await
            .unwrap()
    );
    let key = pause_key(&inbox);
    assert_eq!(
        store.setting(&key).await.unwrap().as_deref(),
        Some("token rejected")
    );
    assert!(store.set_sending_paused(&inbox, None).await.unwrap());
    assert!(!store.set_sending_paused(&inbox, None).await.unwrap());
    assert_eq!(store.setting(&key).await.unwrap(), None);
    let paused = |reason: Option<&str>| InboxStatus {
        id: inbox.clone(),
        sending_paused: reason.map(str::to_string),
    };
    assert_eq!(
        events().await,
        [paused(Some("token rejected")), paused(None)]
    );
}

pub async fn message_details_round_trip_and_edits_publish(store: DynStore) {
    use switchboard::model::{Content, Details, Direction, Media, MediaState};
    let inbox = inbox(&store).await;
    let mut m = inbound(&inbox, "wamid.D1", "5511900000001", 100);
    m.kind = MessageKind::Location;
    m.details = Details {
        content: Some(Content::Location {
            latitude: -23.5,
            longitude: -46.6,
            name: Some("Paulista".into()),
            address: None,
            url: None,
        }),
        media: Some(Media {
            media_id: Some("123".into()),
            state: MediaState::Pending,
            ..Media::default()
        }),
        forwarded: true,
        ..Details::default()
    };
    let InboundOutcome::Created {
        message: created, ..
    } = store.record_inbound(m.clone()).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(created.details, m.details);
    let read = store.message(&created.id).await.unwrap().unwrap();
    assert_eq!(read.details, m.details, "details survive a round trip");
    assert_eq!(
        store
            .message_by_wamid(&inbox, "wamid.D1")
            .await
            .unwrap()
            .unwrap()
            .id,
        created.id
    );

    let head = store.event_bounds().await.unwrap().head;
    let edited = store
        .edit_message(
            &created.id,
            Arc::new(|m: &mut switchboard::model::Message| {
                m.text = Some("edited".into());
                m.details.react(Direction::In, Some("👍"), 5)
            }),
        )
        .await
        .unwrap()
        .expect("changed");
    assert_eq!(edited.text.as_deref(), Some("edited"));
    assert!(edited.version > read.version);
    assert_eq!(edited.details.reactions[0].emoji, "👍");
    let events = store.events_after(head, 10).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == switchboard::store::EventKind::MessageUpdated),
        "an edit is published"
    );
    // An edit that changes nothing is not a change.
    let same = store
        .edit_message(
            &created.id,
            Arc::new(|m: &mut switchboard::model::Message| {
                m.details.react(Direction::In, Some("👍"), 5)
            }),
        )
        .await
        .unwrap();
    assert!(same.is_none());

    // Replies and reactions are found by the wamid they point at.
    let mut reply = inbound(&inbox, "wamid.D2", "5511900000001", 101);
    reply.reply_to = Some("wamid.D1".into());
    store.record_inbound(reply).await.unwrap();
    let replies = store.replies_to(&inbox, "wamid.D1", 10).await.unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].wamid.as_deref(), Some("wamid.D2"));
}

pub async fn a_failed_send_can_be_retried_once_per_failure(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "5511900000002").await;
    let id = outbound(&store, &conv).await;
    assert!(matches!(
        store.retry_outbound(&id).await,
        Err(StoreError::Conflict(_))
    ));
    store.mark_accepted(&id, "wamid.R1").await.unwrap();
    let mut failed = status(&inbox, "wamid.R1", "failed", 10);
    failed.error = Some(ErrorInfo {
        code: 131026,
        title: "Message undeliverable".into(),
        detail: None,
    });
    store.record_status(failed).await.unwrap();
    let retried = store.retry_outbound(&id).await.unwrap();
    assert_eq!(retried.status, MessageStatus::Pending);
    assert_eq!(retried.wamid, None);
    assert_eq!(retried.details.attempt, 1);
    assert_eq!(
        retried.error.as_ref().map(|e| e.code),
        Some(131026),
        "kept until a new status"
    );
    // The replaced attempt is kept, so its late receipts can be noted on it.
    let earlier = &retried.details.earlier_attempts;
    assert_eq!(earlier.len(), 1);
    assert_eq!(
        (
            earlier[0].attempt,
            earlier[0].wamid.as_deref(),
            earlier[0].status
        ),
        (0, Some("wamid.R1"), MessageStatus::Failed)
    );
    assert_eq!(earlier[0].error.as_ref().map(|e| e.code), Some(131026));
    // A receipt of the old attempt, naming the message, does not claim the new one.
    let mut late = status(&inbox, "wamid.OLD", "sent", 11);
    late.callback_data = Some(switchboard::store::callback_data(&id, 0));
    assert_eq!(
        store.record_status(late).await.unwrap(),
        StatusOutcome::Parked
    );
    let mut early = status(&inbox, "wamid.R2", "sent", 12);
    early.callback_data = Some(switchboard::store::callback_data(&id, 1));
    assert!(matches!(
        store.record_status(early).await.unwrap(),
        StatusOutcome::Applied(_)
    ));
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!(m.wamid.as_deref(), Some("wamid.R2"));
    assert_eq!(m.status, MessageStatus::Sent);
}

pub async fn jobs_come_due_in_order_and_finish(store: DynStore) {
    use switchboard::store::{Job, JobKind};
    let job = |key: &str, due_at| Job::new(JobKind::Media, key, due_at, 0);
    store.schedule_job(job("b", 200)).await.unwrap();
    store.schedule_job(job("a", 100)).await.unwrap();
    store.schedule_job(job("later", 10_000)).await.unwrap();
    let due = store.due_jobs(500, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|j| j.key.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(store.count_due_jobs(500).await.unwrap(), 2);
    assert_eq!(store.count_due_jobs(50).await.unwrap(), 0);
    // Rescheduling replaces, it does not add.
    store
        .schedule_job(Job {
            attempts: 3,
            ..job("a", 300)
        })
        .await
        .unwrap();
    let due = store.due_jobs(500, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due.iter().find(|j| j.key == "a").unwrap().attempts, 3);
    store.finish_job(JobKind::Media, "a").await.unwrap();
    store.finish_job(JobKind::Send, "b").await.unwrap();
    let due = store.due_jobs(500, 10).await.unwrap();
    assert_eq!(due.len(), 1, "only the media job a finished");
}

pub async fn each_due_job_is_claimed_by_exactly_one_of_many_racing_instances(store: DynStore) {
    use switchboard::store::{Job, JobKind};
    for i in 0..12 {
        store
            .schedule_job(Job::new(JobKind::Send, format!("j{i:02}"), 100 + i, 0))
            .await
            .unwrap();
    }
    store
        .schedule_job(Job::new(JobKind::Media, "media", 100, 0))
        .await
        .unwrap();
    let claims = (0..6).map(|n| {
        let store = store.clone();
        async move {
            store
                .claim_jobs(JobKind::Send, 1_000, &format!("instance-{n}"), 60_000, 3)
                .await
                .unwrap()
        }
    });
    let claimed: Vec<Job> = join_all(claims).await.into_iter().flatten().collect();
    let mut keys: Vec<&str> = claimed.iter().map(|j| j.key.as_str()).collect();
    keys.sort();
    let expected: Vec<String> = (0..12).map(|i| format!("j{i:02}")).collect();
    assert_eq!(keys, expected, "every job once, none twice, no media job");
    assert!(claimed.iter().all(|j| j.due_at == 61_000 && j.claims == 1));
    // Leased: nobody sees them due until the lease runs out.
    assert!(
        store
            .claim_jobs(JobKind::Send, 60_999, "late", 60_000, 20)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_jobs(JobKind::Send, 61_000, "late", 60_000, 20)
        .await
        .unwrap();
    assert_eq!(
        again.len(),
        12,
        "an instance that died holding them leaves them to others"
    );
    assert!(again.iter().all(|j| j.claims == 2));
    let media = store
        .claim_jobs(JobKind::Media, 1_000, "x", 60_000, 5)
        .await
        .unwrap();
    assert_eq!(media.len(), 1, "each kind is claimed on its own");
}

pub async fn a_released_job_keeps_its_claims_and_a_rescheduled_one_starts_over(store: DynStore) {
    use switchboard::store::{Job, JobKind};
    store
        .schedule_job(Job::new(JobKind::Send, "k", 100, 2))
        .await
        .unwrap();
    let first = store
        .claim_jobs(JobKind::Send, 100, "a", 1_000, 1)
        .await
        .unwrap();
    assert_eq!(first[0].claims, 1);
    store.release_job(JobKind::Send, "k", 5_000).await.unwrap();
    assert!(
        store
            .claim_jobs(JobKind::Send, 4_999, "b", 1_000, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let second = store
        .claim_jobs(JobKind::Send, 5_000, "b", 1_000, 1)
        .await
        .unwrap();
    assert_eq!((second[0].claims, second[0].attempts), (2, 2));
    store
        .schedule_job(Job::new(JobKind::Send, "k", 7_000, 3))
        .await
        .unwrap();
    let third = store
        .claim_jobs(JobKind::Send, 7_000, "c", 1_000, 1)
        .await
        .unwrap();
    assert_eq!((third[0].claims, third[0].attempts), (1, 3));
    // An existing job is left alone; a missing one is added.
    assert!(
        !store
            .add_job_if_missing(Job::new(JobKind::Send, "k", 0, 0))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_jobs(JobKind::Send, 7_999, "d", 1_000, 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .add_job_if_missing(Job::new(JobKind::Media, "k", 50, 0))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .claim_jobs(JobKind::Media, 50, "d", 1_000, 1)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn a_new_or_retried_outbound_message_is_stored_with_its_send_job(store: DynStore) {
    use switchboard::store::{JobKind, SEND_LEASE_MS};
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "5511900000015").await;
    let before = now_ms();
    let id = outbound(&store, &conv).await;
    // Held by its creator (who tries at once) for the lease; then anyone's to claim.
    assert!(
        store
            .claim_jobs(JobKind::Send, before, "other", 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = now_ms() + SEND_LEASE_MS;
    let jobs = store
        .claim_jobs(JobKind::Send, later, "other", 1_000, 10)
        .await
        .unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.key.as_str()).collect::<Vec<_>>(),
        [id.as_str()]
    );
    store.finish_job(JobKind::Send, &id).await.unwrap();
    store
        .mark_send_failed(
            &id,
            &ErrorInfo {
                code: 131026,
                title: "x".into(),
                detail: None,
            },
        )
        .await
        .unwrap();
    store.retry_outbound(&id).await.unwrap();
    let jobs = store
        .claim_jobs(JobKind::Send, now_ms() + SEND_LEASE_MS, "other", 1_000, 10)
        .await
        .unwrap();
    assert_eq!(
        jobs.len(),
        1,
        "the agent's retry is stored with its job too"
    );
}

pub async fn a_number_change_moves_the_contact(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "5511900000003").await;
    conversation(&store, &inbox, "5511900000004").await;
    assert!(
        store
            .change_contact_phone(&inbox, "5511900000003", "5511900000033")
            .await
            .unwrap()
    );
    let c = store.conversation(&conv).await.unwrap().unwrap();
    assert_eq!(c.contact.wa_id.as_deref(), Some("5511900000033"));
    assert!(matches!(
        store
            .change_contact_phone(&inbox, "5511900000033", "5511900000004")
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        !store
            .change_contact_phone(&inbox, "0000", "1111")
            .await
            .unwrap()
    );
}

/// A redelivered message is the message as it was: what it says of the customer (the
/// name they had then) changes nothing stored since.
pub async fn a_redelivered_message_does_not_bring_back_an_old_name(store: DynStore) {
    let inbox = inbox(&store).await;
    let conv = conversation(&store, &inbox, "551170").await;
    let mut renamed = inbound(&inbox, "wamid.renamed", "551170", 2_000);
    renamed.contact.name = Some("New Name".into());
    store.record_inbound(renamed).await.unwrap();
    let again = inbound(&inbox, "wamid.first.551170", "551170", 1_000);
    assert!(matches!(
        store.record_inbound(again).await.unwrap(),
        InboundOutcome::Duplicate
    ));
    let c = store.conversation(&conv).await.unwrap().unwrap();
    assert_eq!(c.contact.name.as_deref(), Some("New Name"));
}

/// A message redelivered after its customer changed number is still a duplicate, and
/// leaves no contact or empty conversation behind for the old number.
pub async fn a_redelivery_after_a_number_change_leaves_nothing_behind(store: DynStore) {
    let inbox = inbox(&store).await;
    conversation(&store, &inbox, "551180").await;
    assert!(
        store
            .change_contact_phone(&inbox, "551180", "551181")
            .await
            .unwrap()
    );
    let again = inbound(&inbox, "wamid.first.551180", "551180", 1_000);
    assert!(matches!(
        store.record_inbound(again).await.unwrap(),
        InboundOutcome::Duplicate
    ));
    let convs = listed(&store).await;
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0].contact.wa_id.as_deref(), Some("551181"));
}

fn awaited(outcome: InboundOutcome) -> bool {
    match outcome {
        InboundOutcome::Created { awaited, .. } => awaited,
        InboundOutcome::Duplicate => panic!("fresh message reported as duplicate"),
    }
}

/// A message is awaited when one stored before it named it as what it replies or reacts
/// to (they came out of order), so the ingest resolves those; one nothing names is not.
pub async fn a_message_an_earlier_reply_or_reaction_named_is_awaited_and_no_other(store: DynStore) {
    let inbox = inbox(&store).await;
    let wa = "551190";
    // Replies to messages that never come (older than the inbox) pile up in a long
    // conversation; they do not push out those that came after them.
    for i in 0..40 {
        let mut dangling = inbound(&inbox, &format!("wamid.dangling.{i}"), wa, 999);
        dangling.reply_to = Some(format!("wamid.never.{i}"));
        dangling.awaits_target = true;
        store.record_inbound(dangling).await.unwrap();
    }
    let mut reply = inbound(&inbox, "wamid.reply", wa, 1_001);
    reply.reply_to = Some("wamid.original".into());
    reply.awaits_target = true;
    assert!(!awaited(store.record_inbound(reply).await.unwrap()));
    let mut reaction = inbound(&inbox, "wamid.reaction", wa, 1_002);
    reaction.kind = MessageKind::Reaction;
    reaction.reply_to = Some("wamid.second".into());
    reaction.awaits_target = true;
    assert!(!awaited(store.record_inbound(reaction).await.unwrap()));
    let mut late = inbound(&inbox, "wamid.late-reply", wa, 1_004);
    late.reply_to = Some("wamid.third".into());
    late.awaits_target = true;
    store.record_inbound(late).await.unwrap();
    let unrelated = inbound(&inbox, "wamid.unrelated", wa, 1_005);
    assert!(!awaited(store.record_inbound(unrelated).await.unwrap()));
    // Older than the conversation's last message, then newer: both ways it is taken in.
    let original = inbound(&inbox, "wamid.original", wa, 1_000);
    assert!(awaited(store.record_inbound(original).await.unwrap()));
    let second = inbound(&inbox, "wamid.second", wa, 1_006);
    assert!(awaited(store.record_inbound(second).await.unwrap()));
    let third = inbound(&inbox, "wamid.third", wa, 1_007);
    assert!(awaited(store.record_inbound(third).await.unwrap()));
}

/// Instantiates every conformance test for one backend. `$open` is an async expression
/// yielding `(DynStore, guard)`; the guard keeps the backend's resources alive.
#[macro_export]
macro_rules! conformance {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use $crate::conformance as c;
            $crate::store_tests!(c; $open;
                inbound_is_idempotent,
                a_new_inbound_message_comes_with_its_conversation_as_stored,
                twenty_concurrent_identical_inbound_writes_give_one_message,
                status_never_regresses,
                twenty_concurrent_status_writes_give_the_highest,
                duplicate_receipts_are_reported_and_change_nothing,
                early_receipts_are_applied_once_the_wamid_is_known,
                an_early_receipt_with_callback_data_links_the_message,
                a_message_takes_one_wamid,
                failure_shows_until_delivery_and_keeps_its_error,
                sends_are_idempotent_by_client_id,
                pages_neither_skip_nor_repeat_when_timestamps_tie,
                a_page_around_a_message_holds_it_and_pages_on_both_ways_without_gaps,
                unread_counts_and_activity_order,
                unread_count_is_exact_after_concurrent_customer_messages,
                concurrent_event_appends_get_distinct_gap_free_seqs,
                the_event_log_trims_to_a_floor,
                webhook_bodies_are_kept_until_finished,
                unfinished_bodies_page_by_id_and_old_bodies_and_receipts_are_trimmed,
                contacts_found_by_phone_or_bsuid_merge,
                users_are_unique_by_email_and_updatable,
                sessions_expire_and_end,
                api_tokens_resolve_until_revoked,
                inboxes_keep_their_own_credentials,
                membership_scopes_what_an_agent_sees,
                settings_are_kept_and_removed,
                pausing_an_inbox_is_an_event_only_when_it_changes,
                message_details_round_trip_and_edits_publish,
                a_failed_send_can_be_retried_once_per_failure,
                jobs_come_due_in_order_and_finish,
                each_due_job_is_claimed_by_exactly_one_of_many_racing_instances,
                a_released_job_keeps_its_claims_and_a_rescheduled_one_starts_over,
                a_new_or_retried_outbound_message_is_stored_with_its_send_job,
                a_number_change_moves_the_contact,
                a_redelivered_message_does_not_bring_back_an_old_name,
                a_redelivery_after_a_number_change_leaves_nothing_behind,
                a_message_an_earlier_reply_or_reaction_named_is_awaited_and_no_other,
            );
        }
    };
}

/// One test per named store test in module `$m`, each on a fresh store from `$open`; the
/// conformance, workflow and audit suites instantiate theirs through it.
#[macro_export]
macro_rules! store_tests {
    ($m:ident; $open:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, guard) = $open.await;
                $m::$name(store).await;
                guard.cleanup().await;
            }
        )*
    };
}

/// What a backend leaves behind for one test, removed afterwards.
pub enum Guard {
    Dir(tempfile::TempDir),
    Database(mongodb::Database),
}

impl Guard {
    pub async fn cleanup(self) {
        match self {
            Guard::Dir(dir) => drop(dir),
            Guard::Database(db) => {
                let _ = db.drop().await;
            }
        }
    }
}

pub async fn open_sqlite() -> (DynStore, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let options = switchboard::store::sqlite::SqliteOptions::new(dir.path().join("c.db"));
    let store = switchboard::store::sqlite::SqliteStore::open(options).unwrap();
    (Arc::new(store), Guard::Dir(dir))
}

/// A fresh database on the test MongoDB server (see `support::mongo_url`).
pub async fn open_mongo() -> (DynStore, Guard) {
    let url = crate::support::mongo_url(&crate::support::unique_db());
    let store = switchboard::store::mongo::MongoStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot use the test MongoDB: {e}"));
    let client = mongodb::Client::with_uri_str(&url).await.unwrap();
    let db = client.default_database().unwrap();
    (Arc::new(store), Guard::Database(db))
}

/// A second instance on the backend `guard` holds (the same file or database).
pub async fn second_instance(guard: &Guard) -> DynStore {
    match guard {
        Guard::Dir(dir) => {
            let options = switchboard::store::sqlite::SqliteOptions::new(dir.path().join("c.db"));
            Arc::new(switchboard::store::sqlite::SqliteStore::open(options).unwrap())
        }
        Guard::Database(db) => Arc::new(
            switchboard::store::mongo::MongoStore::connect(&crate::support::mongo_url(db.name()))
                .await
                .unwrap(),
        ),
    }
}

/// A setting read as recent (as auto-assignment reads it on every message) shows a change
/// made through the same instance at once, and one made by another within a second.
async fn a_recent_setting_shows_a_change_here_at_once_and_one_elsewhere_within_a_second(
    (store, guard): (DynStore, Guard),
) {
    let other = second_instance(&guard).await;
    assert_eq!(store.recent_setting("k").await.unwrap(), None);
    assert_eq!(other.recent_setting("k").await.unwrap(), None);
    store.set_setting("k", Some("on")).await.unwrap();
    assert_eq!(
        store.recent_setting("k").await.unwrap().as_deref(),
        Some("on")
    );
    other.set_setting("k", Some("off")).await.unwrap();
    assert_eq!(
        other.recent_setting("k").await.unwrap().as_deref(),
        Some("off")
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(
        store.recent_setting("k").await.unwrap().as_deref(),
        Some("off")
    );
    guard.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recent_setting_is_fresh_within_a_second_on_sqlite() {
    a_recent_setting_shows_a_change_here_at_once_and_one_elsewhere_within_a_second(
        open_sqlite().await,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recent_setting_is_fresh_within_a_second_on_mongodb() {
    a_recent_setting_shows_a_change_here_at_once_and_one_elsewhere_within_a_second(
        open_mongo().await,
    )
    .await
}

conformance!(sqlite, c::open_sqlite());
conformance!(mongo, c::open_mongo());
