//! The conformance suite's workflow part: assignment, status, snoozes, labels, notes,
//! contacts and the filtered list, on both backends.

use std::collections::{BTreeMap, HashSet};

use futures::future::join_all;
use switchboard::model::{
    Change, ConversationStatus, Direction, ListCursor, MessageKind, UserRef, View,
};
use switchboard::store::{
    ContactFilter, ContactUpdate, ConversationFilter, DynStore, EventKind, JobKind, NewOutbound,
    Scope, StoreError, TextQuery, WorkflowChange, change_conversation, now_ms,
};

use crate::conformance::{conversation, inbound, inbox};

fn user(id: &str) -> UserRef {
    UserRef {
        id: id.into(),
        name: format!("Agent {id}"),
    }
}

fn note(conversation_id: &str, client_id: &str, text: &str) -> NewOutbound {
    NewOutbound {
        direction: Direction::Note,
        sent_by: Some(user("ana")),
        conversation_id: conversation_id.into(),
        client_id: client_id.into(),
        kind: MessageKind::Note,
        text: Some(text.into()),
        reply_to: None,
        details: Default::default(),
    }
}

pub async fn two_agents_assigning_at_once_end_with_one_assignee_and_two_ordered_events(
    store: DynStore,
) {
    let inbox = inbox(&store).await;
    let c = conversation(&store, &inbox, "4470001").await;
    let head = store.event_bounds().await.unwrap().head;
    let (a, b) = (user("a"), user("b"));
    let runs = [a.clone(), b.clone()].map(|to| {
        let store = store.clone();
        let c = c.clone();
        async move {
            change_conversation(
                &store,
                &c,
                &WorkflowChange::Assign(Some(to.clone())),
                Some(&to),
            )
            .await
            .unwrap()
        }
    });
    join_all(runs).await;
    let end = store.conversation(&c).await.unwrap().unwrap();
    let owner = end.assignee.clone().expect("someone owns it");
    assert!(owner == a || owner == b);
    let events: Vec<_> = store
        .events_after(head, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::ConversationUpdated)
        .collect();
    assert_eq!(events.len(), 2, "one event per change");
    assert!(events[0].seq < events[1].seq);
    let last: serde_json::Value = serde_json::from_str(&events[1].data).unwrap();
    assert_eq!(
        last["assignee"]["id"],
        owner.id.as_str(),
        "the last event is the end state"
    );
    let lines = store.activities(&c, 10).await.unwrap();
    assert_eq!(lines.len(), 2, "two activity lines");
    assert!(matches!(&lines[1].change, Change::Assigned { to: Some(t) } if *t == owner));
    // Assigning to the owner again changes nothing and adds nothing.
    change_conversation(
        &store,
        &c,
        &WorkflowChange::Assign(Some(owner.clone())),
        None,
    )
    .await
    .unwrap();
    assert_eq!(store.activities(&c, 10).await.unwrap().len(), 2);
}

pub async fn a_claim_takes_only_an_unassigned_conversation(store: DynStore) {
    let inbox = inbox(&store).await;
    let c = conversation(&store, &inbox, "4470002").await;
    let runs = (0..5).map(|i| {
        let store = store.clone();
        let c = c.clone();
        async move {
            let me = user(&format!("u{i}"));
            change_conversation(&store, &c, &WorkflowChange::Claim(me.clone()), Some(&me))
                .await
                .unwrap()
        }
    });
    let results = join_all(runs).await;
    let owner = store
        .conversation(&c)
        .await
        .unwrap()
        .unwrap()
        .assignee
        .unwrap();
    assert!(
        results.iter().all(|r| r.assignee.as_ref() == Some(&owner)),
        "one winner"
    );
    assert_eq!(store.activities(&c, 10).await.unwrap().len(), 1);
}

pub async fn status_changes_and_a_customer_message_reopens_keeping_the_assignee_a_redelivery_only_if_unchanged_since(
    store: DynStore,
) {
    let inbox = inbox(&store).await;
    let c = conversation(&store, &inbox, "4470003").await;
    let fresh = store.conversation(&c).await.unwrap().unwrap();
    assert_eq!(
        fresh.status,
        ConversationStatus::Open,
        "new conversations are open"
    );
    let bo = user("bo");
    change_conversation(&store, &c, &WorkflowChange::Assign(Some(bo.clone())), None)
        .await
        .unwrap();
    let resolve = WorkflowChange::Status {
        status: ConversationStatus::Resolved,
        snoozed_until: None,
    };
    let resolved = change_conversation(&store, &c, &resolve, Some(&bo))
        .await
        .unwrap();
    assert_eq!(resolved.status, ConversationStatus::Resolved);
    let line = resolved
        .last_change
        .clone()
        .expect("the change is on the conversation");
    assert_eq!(line.by, Some(bo.clone()));
    assert_eq!(line.describe(), "Agent bo resolved this");
    // A redelivery of a message stored before the resolve leaves it resolved …
    let stored_before = resolved.last_change.as_ref().unwrap().at - 1;
    let redelivered = WorkflowChange::CustomerWrote {
        stored_at: Some(stored_before),
    };
    let kept = change_conversation(&store, &c, &redelivered, None)
        .await
        .unwrap();
    assert_eq!(kept.status, ConversationStatus::Resolved);
    // … one stored after it (its reopen lost to a crash) reopens it.
    let lost = WorkflowChange::CustomerWrote {
        stored_at: Some(stored_before + 2),
    };
    let reopened = change_conversation(&store, &c, &lost, None).await.unwrap();
    assert_eq!(reopened.status, ConversationStatus::Open);
    let resolved = change_conversation(&store, &c, &resolve, Some(&bo))
        .await
        .unwrap();
    assert_eq!(resolved.status, ConversationStatus::Resolved);
    // The customer writes: it opens again.
    let customer_wrote = WorkflowChange::CustomerWrote { stored_at: None };
    let reopened = change_conversation(&store, &c, &customer_wrote, None)
        .await
        .unwrap();
    assert_eq!(reopened.status, ConversationStatus::Open);
    assert_eq!(reopened.assignee, Some(bo), "the assignee stays");
    // Writing again to an open conversation changes nothing and adds no line.
    let lines = store.activities(&c, 10).await.unwrap().len();
    change_conversation(&store, &c, &customer_wrote, None)
        .await
        .unwrap();
    assert_eq!(store.activities(&c, 10).await.unwrap().len(), lines);
}

pub async fn a_snooze_is_stored_with_its_wake_job_and_ends_only_when_due(store: DynStore) {
    let inbox = inbox(&store).await;
    let c = conversation(&store, &inbox, "4470004").await;
    let until = now_ms() + 60_000;
    let snooze = WorkflowChange::Status {
        status: ConversationStatus::Snoozed,
        snoozed_until: Some(until),
    };
    let snoozed = change_conversation(&store, &c, &snooze, None)
        .await
        .unwrap();
    assert_eq!(snoozed.snoozed_until, Some(until));
    let jobs = store.due_jobs(until, 100).await.unwrap();
    assert!(
        jobs.iter()
            .any(|j| j.kind == JobKind::Wake && j.key == c && j.due_at == until)
    );
    let early = change_conversation(
        &store,
        &c,
        &WorkflowChange::SnoozeEnded { now: until - 1 },
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        early.status,
        ConversationStatus::Snoozed,
        "not before its time"
    );
    let woke = change_conversation(
        &store,
        &c,
        &WorkflowChange::SnoozeEnded { now: until },
        None,
    )
    .await
    .unwrap();
    assert_eq!(woke.status, ConversationStatus::Open);
    assert_eq!(woke.snoozed_until, None);
}

pub async fn the_list_filters_by_view_status_inbox_label_and_words_pages_without_gaps_and_counts_each_view(
    store: DynStore,
) {
    let inbox = inbox(&store).await;
    let other = store
        .ensure_inbox("200000000000777", None)
        .await
        .unwrap()
        .id;
    let mut ids = Vec::new();
    for i in 0..23 {
        let target = if i % 5 == 0 { &other } else { &inbox };
        let mut m = inbound(
            target,
            &format!("wamid.list.{i}"),
            &format!("4471{i:03}"),
            1_000 + i / 3,
        );
        m.text = Some(if i == 7 {
            "my parcel is late".into()
        } else {
            format!("hello {i}")
        });
        let c = match store.record_inbound(m).await.unwrap() {
            switchboard::store::InboundOutcome::Created { message: m, .. } => m.conversation_id,
            _ => unreachable!(),
        };
        ids.push(c);
    }
    let me = user("me");
    for c in &ids[..4] {
        change_conversation(&store, c, &WorkflowChange::Assign(Some(me.clone())), None)
            .await
            .unwrap();
    }
    change_conversation(
        &store,
        &ids[1],
        &WorkflowChange::Status {
            status: ConversationStatus::Resolved,
            snoozed_until: None,
        },
        None,
    )
    .await
    .unwrap();
    change_conversation(
        &store,
        &ids[2],
        &WorkflowChange::Labels(vec!["vip".into()]),
        None,
    )
    .await
    .unwrap();
    let list = |f: ConversationFilter, scope: Scope| {
        let store = store.clone();
        async move { store.list_conversations(&scope, &f, 100).await.unwrap() }
    };
    let set = |v: Vec<switchboard::model::Conversation>| -> HashSet<String> {
        v.into_iter().map(|c| c.id).collect()
    };
    let mine = ConversationFilter {
        view: View::Mine,
        user_id: "me".into(),
        ..Default::default()
    };
    assert_eq!(
        set(list(mine.clone(), Scope::All).await),
        ids[..4].iter().cloned().collect()
    );
    let mine_open = ConversationFilter {
        statuses: vec![ConversationStatus::Open],
        ..mine.clone()
    };
    let expect: HashSet<String> = [0, 2, 3].iter().map(|i| ids[*i].clone()).collect();
    assert_eq!(set(list(mine_open, Scope::All).await), expect);
    let unassigned = ConversationFilter {
        view: View::Unassigned,
        ..Default::default()
    };
    assert_eq!(list(unassigned, Scope::All).await.len(), 19);
    let vip = ConversationFilter {
        label: Some("vip".into()),
        ..Default::default()
    };
    assert_eq!(set(list(vip, Scope::All).await), [ids[2].clone()].into());
    let in_other = ConversationFilter {
        inbox_id: Some(other.clone()),
        ..Default::default()
    };
    assert_eq!(list(in_other, Scope::All).await.len(), 5);
    let scoped = list(
        ConversationFilter::default(),
        Scope::Inboxes(vec![other.clone()]),
    )
    .await;
    assert!(scoped.iter().all(|c| c.inbox_id == other) && scoped.len() == 5);
    let words = |q: &str| ConversationFilter {
        query: TextQuery::parse(q),
        ..Default::default()
    };
    assert_eq!(
        set(list(words("PARCEL"), Scope::All).await),
        [ids[7].clone()].into(),
        "message text"
    );
    assert_eq!(
        set(list(words("+44 71-012"), Scope::All).await),
        [ids[12].clone()].into(),
        "number"
    );
    assert_eq!(
        list(words("customer 4471015"), Scope::All).await.len(),
        1,
        "name"
    );
    assert!(
        list(words("100%"), Scope::All).await.is_empty(),
        "LIKE characters are literal"
    );
    // Each view's count is the length of its list, under every filter and scope.
    let counted = store.count_conversations(&Scope::All, &mine).await.unwrap();
    assert_eq!((counted.mine, counted.unassigned, counted.all), (4, 19, 23));
    let open_only = ConversationFilter {
        statuses: vec![ConversationStatus::Open],
        ..Default::default()
    };
    let vip_only = ConversationFilter {
        label: Some("vip".into()),
        ..Default::default()
    };
    for f in [
        ConversationFilter::default(),
        open_only,
        vip_only,
        words("PARCEL"),
        ConversationFilter {
            inbox_id: Some(other.clone()),
            ..Default::default()
        },
    ] {
        for scope in [Scope::All, Scope::Inboxes(vec![other.clone()])] {
            let f = ConversationFilter {
                user_id: "me".into(),
                ..f.clone()
            };
            let n = |view| {
                let f = ConversationFilter { view, ..f.clone() };
                let scope = scope.clone();
                let list = &list;
                async move { list(f, scope).await.len() as u64 }
            };
            let want = switchboard::model::ViewCounts {
                mine: n(View::Mine).await,
                unassigned: n(View::Unassigned).await,
                all: n(View::All).await,
            };
            let got = store.count_conversations(&scope, &f).await.unwrap();
            assert_eq!(got, want, "{f:?} in {scope:?}");
        }
    }
    // Pages of 4 cover everything once, newest first.
    let everything = list(ConversationFilter::default(), Scope::All).await;
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let f = ConversationFilter {
            before: before.clone(),
            ..Default::default()
        };
        let page = store.list_conversations(&Scope::All, &f, 4).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(ListCursor::of);
        paged.extend(page);
    }
    let order =
        |v: &[switchboard::model::Conversation]| v.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(order(&paged), order(&everything));
    assert_eq!(paged.len(), 23);
}

pub async fn a_note_is_stored_and_pushed_but_touches_neither_window_nor_list(store: DynStore) {
    let inbox = inbox(&store).await;
    let c = conversation(&store, &inbox, "4470005").await;
    let before = store.conversation(&c).await.unwrap().unwrap();
    let head = store.event_bounds().await.unwrap().head;
    let client = uuid::Uuid::new_v4().to_string();
    let (n, created) = store
        .create_outbound(note(&c, &client, "call them back"))
        .await
        .unwrap();
    assert!(created);
    assert_eq!((n.direction, n.kind), (Direction::Note, MessageKind::Note));
    assert_eq!(n.sent_by, Some(user("ana")));
    let (again, created) = store
        .create_outbound(note(&c, &client, "call them back"))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, n.id, "idempotent by client id");
    let after = store.conversation(&c).await.unwrap().unwrap();
    assert_eq!(after.last_message, before.last_message);
    assert_eq!(after.unread_count, before.unread_count);
    assert_eq!(after.last_inbound_at, before.last_inbound_at);
    assert_eq!(after.last_activity_at, before.last_activity_at);
    let events = store.events_after(head, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::MessageCreated);
    let jobs = store.due_jobs(i64::MAX, 100).await.unwrap();
    assert!(
        !jobs.iter().any(|j| j.key == n.id),
        "a note has no send job"
    );
    let page = store.load_messages(&c, None, 10).await.unwrap();
    assert_eq!(page.messages[0].id, n.id);
    assert_eq!(page.messages[0].direction, Direction::Note);
    assert_eq!(
        store.message(&n.id).await.unwrap().unwrap().sent_by,
        Some(user("ana"))
    );
}

pub async fn opening_a_conversation_finds_or_creates_it_and_moves_it_up(store: DynStore) {
    let inbox = inbox(&store).await;
    let old = conversation(&store, &inbox, "4470006").await;
    let started = store
        .open_conversation(&inbox, "4479999", Some("Zoe"))
        .await
        .unwrap();
    assert_eq!(started.contact.name.as_deref(), Some("Zoe"));
    assert_eq!(started.contact.wa_id.as_deref(), Some("4479999"));
    let again = store
        .open_conversation(&inbox, "4479999", None)
        .await
        .unwrap();
    assert_eq!(again.id, started.id);
    assert_eq!(
        again.contact.name.as_deref(),
        Some("Zoe"),
        "no name keeps the name"
    );
    let top = store
        .list_conversations(&Scope::All, &Default::default(), 10)
        .await
        .unwrap();
    assert_eq!(
        top[0].id, started.id,
        "a started conversation is at the top"
    );
    let existing = store
        .open_conversation(&inbox, "4470006", None)
        .await
        .unwrap();
    assert_eq!(existing.id, old);
}

pub async fn contacts_list_search_and_update_and_their_conversation_follows(store: DynStore) {
    let inbox = inbox(&store).await;
    let other = store
        .ensure_inbox("200000000000778", None)
        .await
        .unwrap()
        .id;
    for i in 0..7 {
        conversation(&store, &inbox, &format!("4472{i:03}")).await;
    }
    let elsewhere = conversation(&store, &other, "4473000").await;
    let all = store
        .list_contacts(&Scope::All, &Default::default(), 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 8);
    let mine = store
        .list_contacts(
            &Scope::Inboxes(vec![inbox.clone()]),
            &Default::default(),
            100,
        )
        .await
        .unwrap();
    assert_eq!(mine.len(), 7);
    assert!(
        mine.iter()
            .all(|e| e.inbox_id == inbox && e.conversation_id.is_some())
    );
    // Pages by id, newest first, without gaps.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let f = ContactFilter {
            before: before.clone(),
            ..Default::default()
        };
        let page = store.list_contacts(&Scope::All, &f, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|e| e.contact.id.clone());
        seen.extend(page.into_iter().map(|e| e.contact.id));
    }
    assert_eq!(
        seen,
        all.iter().map(|e| e.contact.id.clone()).collect::<Vec<_>>()
    );
    let found = store
        .list_contacts(
            &Scope::All,
            &ContactFilter {
                query: TextQuery::parse("4472003"),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let target = found[0].clone();
    let head = store.event_bounds().await.unwrap().head;
    let update = ContactUpdate {
        name: Some("Maria Souza".into()),
        labels: Some(vec!["vip".into(), "wholesale".into()]),
        attributes: Some(BTreeMap::from([("plan".to_string(), "gold".to_string())])),
        opted_out: Some(true),
    };
    let updated = store
        .update_contact(&target.contact.id, &update)
        .await
        .unwrap();
    assert_eq!(updated.contact.name.as_deref(), Some("Maria Souza"));
    assert!(updated.contact.opted_out);
    assert_eq!(updated.contact.attributes["plan"], "gold");
    let conv = store
        .conversation(target.conversation_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        conv.contact, updated.contact,
        "the conversation's copy follows"
    );
    let events = store.events_after(head, 10).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::ConversationUpdated)
    );
    let by_name = store
        .list_contacts(
            &Scope::All,
            &ContactFilter {
                query: TextQuery::parse("souza"),
                label: Some("vip".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(by_name.len(), 1);
    // A partial update keeps the rest.
    let renamed = store
        .update_contact(
            &target.contact.id,
            &ContactUpdate {
                name: Some(String::new()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.contact.name, None, "an empty name clears it");
    assert!(renamed.contact.opted_out && renamed.contact.labels.len() == 2);
    let other_contact = store
        .conversation(&elsewhere)
        .await
        .unwrap()
        .unwrap()
        .contact;
    assert!(store.contact(&other_contact.id).await.unwrap().is_some());
    assert!(store.contact("nope").await.unwrap().is_none());
}

pub async fn round_robin_spreads_twenty_simultaneous_chats_seven_seven_six_over_online_members_never_away_ones(
    store: DynStore,
) {
    use switchboard::model::Role;
    use switchboard::store::{NewUser, auto_assign, auto_assign_key};
    let inbox = inbox(&store).await;
    let mut agents = Vec::new();
    for name in ["ana", "bo", "cy", "offline", "outsider", "away"] {
        let u = store
            .create_user(NewUser {
                email: format!("{name}@example.com"),
                name: name.into(),
                role: Role::Agent,
                password_hash: "x".into(),
            })
            .await
            .unwrap();
        agents.push(u.id);
    }
    for id in agents[..4].iter().chain([&agents[5]]) {
        store.set_member(&inbox, id, true).await.unwrap();
    }
    let now = now_ms();
    for id in [&agents[0], &agents[1], &agents[2], &agents[4], &agents[5]] {
        store.touch_presence(id, now).await.unwrap();
    }
    // Connected, but every tab of theirs is hidden.
    store
        .set_setting(&switchboard::store::away_key(&agents[5]), Some("1"))
        .await
        .unwrap();
    store
        .touch_presence(&agents[3], now - 10 * 60_000)
        .await
        .unwrap();
    let mut chats = Vec::new();
    for i in 0..20 {
        chats.push(conversation(&store, &inbox, &format!("4474{i:03}")).await);
    }
    // Off by default: nothing is assigned.
    let first = store.conversation(&chats[0]).await.unwrap().unwrap();
    assert!(auto_assign(&store, &first, now).await.unwrap().is_none());
    store
        .set_setting(&auto_assign_key(&inbox), Some("round_robin"))
        .await
        .unwrap();
    let runs = chats.iter().map(|c| {
        let store = store.clone();
        let c = c.clone();
        async move {
            let c = store.conversation(&c).await.unwrap().unwrap();
            auto_assign(&store, &c, now).await.unwrap()
        }
    });
    let assigned = join_all(runs).await;
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for c in assigned {
        let owner = c.expect("every chat is assigned").assignee.unwrap();
        *counts.entry(owner.id).or_default() += 1;
    }
    let mut spread: Vec<usize> = counts.values().copied().collect();
    spread.sort();
    assert_eq!(spread, vec![6, 7, 7], "{counts:?}");
    assert!(!counts.contains_key(&agents[3]), "never someone offline");
    assert!(!counts.contains_key(&agents[5]), "never someone away");
    assert!(
        !counts.contains_key(&agents[4]),
        "never someone who cannot see the inbox"
    );
    // An owned conversation keeps its owner.
    let owned = store.conversation(&chats[0]).await.unwrap().unwrap();
    assert!(auto_assign(&store, &owned, now).await.unwrap().is_none());
}

pub async fn search_finds_every_word_at_a_word_start_whatever_accents_newest_first_in_scope(
    store: DynStore,
) {
    use switchboard::model::{Cursor, Media, search_words};
    let inbox = inbox(&store).await;
    let c = conversation(&store, &inbox, "4470100").await;
    let say = |wamid: &str, ts: i64, text: &str| {
        let mut m = inbound(&inbox, wamid, "4470100", ts);
        m.text = Some(text.into());
        m
    };
    let texts = [
        ("w1", 2_000, "Quero INFORMAÇÕES sobre a entrega"),
        ("w2", 3_000, "a entrega chegou, obrigado"),
        ("w3", 4_000, "representação comercial"),
        ("w4", 5_000, "nada a ver"),
    ];
    for (wamid, ts, text) in texts {
        store.record_inbound(say(wamid, ts, text)).await.unwrap();
    }
    // A file's name is found too.
    let mut doc = say("w5", 6_000, "");
    doc.kind = MessageKind::Document;
    doc.text = None;
    doc.details.media = Some(Media {
        filename: Some("Fatura-Março.pdf".into()),
        ..Default::default()
    });
    store.record_inbound(doc).await.unwrap();
    let (n, _) = store
        .create_outbound(note(&c, "search-note", "ligar sobre a fatura"))
        .await
        .unwrap();

    let find = |q: &str, before: Option<Cursor>, limit: usize| {
        let store = store.clone();
        let words = search_words(q);
        async move {
            store
                .search_messages(&Scope::All, None, &words, before, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.text.unwrap_or_else(|| "(file)".into()))
                .collect::<Vec<_>>()
        }
    };
    // Accents and case aside, at the start of a word, every word, newest first.
    assert_eq!(find("informacoes", None, 10).await, [texts[0].2]);
    assert_eq!(find("entrega", None, 10).await, [texts[1].2, texts[0].2]);
    // Stored last but sent first (a late webhook): it sorts by its time, not its arrival.
    store
        .record_inbound(say("w0", 1_000, "entrega tardia"))
        .await
        .unwrap();
    assert_eq!(
        find("entrega", None, 10).await,
        [texts[1].2, texts[0].2, "entrega tardia"]
    );
    assert_eq!(find("ENTREGA obrig", None, 10).await, [texts[1].2]);
    assert!(find("sent", None, 10).await.is_empty(), "not inside a word");
    assert_eq!(find("marco", None, 10).await, ["(file)"]);
    assert_eq!(
        find("fatura", None, 10).await,
        ["ligar sobre a fatura", "(file)"]
    );
    assert_eq!(n.kind, MessageKind::Note);
    // Pages continue after the last one seen.
    let first = store
        .search_messages(&Scope::All, None, &search_words("a"), None, 2)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    let rest = find("a", Some(first[1].cursor()), 10).await;
    assert_eq!(rest, [texts[1].2, texts[0].2]);
    assert_eq!(
        find("a", None, 10).await,
        ["ligar sobre a fatura", texts[3].2, texts[1].2, texts[0].2]
    );
    // Another inbox's messages are not the caller's, and an inbox filter narrows.
    let elsewhere = Scope::Inboxes(vec!["another-inbox".into()]);
    let words = search_words("entrega");
    assert!(
        store
            .search_messages(&elsewhere, None, &words, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search_messages(&Scope::All, Some("another-inbox"), &words, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .search_messages(&Scope::All, Some(&inbox), &words, None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
}

pub async fn canned_responses_keep_one_shortcut_each_and_are_replaced_by_id(store: DynStore) {
    use switchboard::model::CannedResponse;
    let r = |id: &str, shortcut: &str, inbox: Option<&str>| CannedResponse {
        id: id.into(),
        shortcut: shortcut.into(),
        text: format!("text of {shortcut}"),
        inbox_id: inbox.map(str::to_string),
    };
    store
        .put_canned_response(&r("1", "thanks", None))
        .await
        .unwrap();
    store
        .put_canned_response(&r("2", "hours", Some("inbox-a")))
        .await
        .unwrap();
    // Another response may not take a shortcut in use, in any inbox.
    let clash = store
        .put_canned_response(&r("3", "thanks", Some("inbox-b")))
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    // The same id replaces: a new shortcut and text, and the old shortcut is free again.
    store
        .put_canned_response(&r("1", "thank-you", None))
        .await
        .unwrap();
    store
        .put_canned_response(&r("3", "thanks", None))
        .await
        .unwrap();
    let all = store.canned_responses().await.unwrap();
    let shortcuts: Vec<_> = all
        .iter()
        .map(|r| (r.id.as_str(), r.shortcut.as_str()))
        .collect();
    assert_eq!(
        shortcuts,
        [("2", "hours"), ("1", "thank-you"), ("3", "thanks")]
    );
    assert_eq!(all[0].inbox_id.as_deref(), Some("inbox-a"));
    assert_eq!(all[1].text, "text of thank-you");
    assert!(store.delete_canned_response("2").await.unwrap());
    assert!(!store.delete_canned_response("2").await.unwrap());
    assert_eq!(store.canned_responses().await.unwrap().len(), 2);
}

macro_rules! workflow_conformance {
    ($backend:ident, $open:expr) => {
        mod $backend {
            $crate::store_tests!(super; $open;
                two_agents_assigning_at_once_end_with_one_assignee_and_two_ordered_events,
                a_claim_takes_only_an_unassigned_conversation,
                status_changes_and_a_customer_message_reopens_keeping_the_assignee_a_redelivery_only_if_unchanged_since,
                a_snooze_is_stored_with_its_wake_job_and_ends_only_when_due,
                the_list_filters_by_view_status_inbox_label_and_words_pages_without_gaps_and_counts_each_view,
                a_note_is_stored_and_pushed_but_touches_neither_window_nor_list,
                opening_a_conversation_finds_or_creates_it_and_moves_it_up,
                contacts_list_search_and_update_and_their_conversation_follows,
                round_robin_spreads_twenty_simultaneous_chats_seven_seven_six_over_online_members_never_away_ones,
                canned_responses_keep_one_shortcut_each_and_are_replaced_by_id,
                search_finds_every_word_at_a_word_start_whatever_accents_newest_first_in_scope,
            );
        }
    };
}

workflow_conformance!(sqlite, crate::conformance::open_sqlite());
workflow_conformance!(mongo, crate::conformance::open_mongo());
