//! The thread's merge rules, window and marks.

use super::*;
use crate::model::{Contact, Details, Direction, MessageKind, MessagePreview, MessageStatus};

fn msg(id: &str, ts: i64, seq: i64, version: i64) -> Message {
    Message {
        id: id.into(),
        wamid: None,
        conversation_id: "c1".into(),
        inbox_id: "i".into(),
        direction: Direction::Out,
        kind: MessageKind::Text,
        text: Some(id.into()),
        status: MessageStatus::Pending,
        error: None,
        timestamp: ts,
        created_at: ts * 1000,
        client_id: None,
        seq,
        version,
        reply_to: None,
        details: Details::default(),
        sent_by: None,
    }
}

fn conv(id: &str, activity: i64, version: i64) -> Conversation {
    Conversation {
        id: id.into(),
        inbox_id: "i".into(),
        contact: Contact {
            id: "k".into(),
            name: None,
            wa_id: Some("1".into()),
            user_id: None,
            labels: Vec::new(),
            attributes: Default::default(),
            opted_out: false,
        },
        last_message: None::<MessagePreview>,
        unread_count: 0,
        last_activity_at: activity,
        last_inbound_at: None,
        version,
        status: Default::default(),
        snoozed_until: None,
        assignee: None,
        labels: Vec::new(),
        last_change: None,
    }
}

#[test]
fn a_colleagues_reply_after_i_began_is_found_and_nothing_else() {
    use crate::model::UserRef;
    let by = |id: &str| {
        Some(UserRef {
            id: id.into(),
            name: format!("Agent {id}"),
        })
    };
    let mut thread = Thread::default();
    thread.open("c1");
    let mut old = msg("old", 100, 1, 1);
    old.sent_by = by("bo");
    let mut mine = msg("mine", 200, 2, 1);
    mine.sent_by = by("me");
    let mut customer = msg("customer", 210, 3, 1);
    customer.direction = Direction::In;
    let mut note = msg("note", 220, 4, 1);
    note.direction = Direction::Note;
    note.sent_by = by("bo");
    for m in [old, mine, customer, note] {
        thread.upsert(m);
    }
    let begun = 1;
    assert_eq!(
        thread.replied_since("me", begun),
        None,
        "before I began, mine, the customer's, a note"
    );
    let mut pending = msg("local-1", 225, i64::MAX, 0);
    pending.sent_by = by("bo");
    thread.upsert(pending);
    assert_eq!(thread.last_seq(), 4, "a bubble not yet stored has no place");
    assert_eq!(thread.replied_since("me", begun), None);
    let mut bos = msg("bos", 230, 5, 1);
    bos.sent_by = by("bo");
    thread.upsert(bos);
    assert_eq!(
        thread.replied_since("me", begun).as_deref(),
        Some("Agent bo")
    );
    assert_eq!(
        thread.replied_since("me", thread.last_seq()),
        None,
        "begun after it"
    );
}

#[test]
fn messages_sort_by_timestamp_then_seq_and_ignore_stale_versions() {
    let mut list = Vec::new();
    upsert_message(&mut list, msg("b", 10, 2, 1));
    upsert_message(&mut list, msg("a", 10, 1, 1));
    upsert_message(&mut list, msg("c", 9, 3, 1));
    let ids: Vec<_> = list.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["c", "a", "b"]);

    let mut newer = msg("a", 10, 1, 3);
    newer.status = MessageStatus::Read;
    assert!(upsert_message(&mut list, newer.clone()));
    assert!(!upsert_message(&mut list, newer), "same event twice");
    let mut stale = msg("a", 10, 1, 2);
    stale.status = MessageStatus::Sent;
    assert!(!upsert_message(&mut list, stale), "older version");
    assert_eq!(list[1].status, MessageStatus::Read);
}

#[test]
fn the_server_copy_replaces_the_optimistic_bubble() {
    let mut list = Vec::new();
    let mut local = msg("local-x", 100, i64::MAX, 0);
    local.client_id = Some("x".into());
    upsert_message(&mut list, local);
    let mut server = msg("m1", 100, 7, 1);
    server.client_id = Some("x".into());
    upsert_message(&mut list, server);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, "m1");
}

#[test]
fn conversations_order_by_activity_and_keep_the_newest_version() {
    let mut list = Vec::new();
    upsert_conversation(&mut list, conv("a", 1, 1));
    upsert_conversation(&mut list, conv("b", 2, 1));
    assert_eq!(list[0].id, "b");
    upsert_conversation(&mut list, conv("a", 3, 2));
    assert_eq!(list[0].id, "a");
    assert!(!upsert_conversation(&mut list, conv("a", 0, 1)));
    assert_eq!(list[0].last_activity_at, 3);
}

#[test]
fn conversations_upserted_in_any_order_stay_newest_first_with_ties_by_id() {
    let mut list = Vec::new();
    // Activity times with ties, ids out of order, and later versions that move rows.
    for (i, id) in ["e", "b", "d", "a", "c", "f"].iter().enumerate() {
        upsert_conversation(&mut list, conv(id, (i % 3) as i64, 1));
    }
    upsert_conversation(&mut list, conv("a", 9, 2));
    upsert_conversation(&mut list, conv("f", -1, 2));
    let order: Vec<_> = list
        .iter()
        .map(|c| (c.last_activity_at, c.id.as_str()))
        .collect();
    assert_eq!(
        order,
        [(9, "a"), (2, "d"), (1, "b"), (1, "c"), (0, "e"), (-1, "f")]
    );
}

#[test]
fn a_page_cursor_holds_the_rows_up_to_its_last_one_in_the_lists_order() {
    use crate::model::ListCursor;
    let mut list = Vec::new();
    for (id, at) in [("a", 5), ("b", 3), ("c", 3), ("d", 1)] {
        upsert_conversation(&mut list, conv(id, at, 1));
    }
    // A page that ended at `b`: it and everything above it are loaded, `c` and `d` are not.
    let cursor = ListCursor::of(&list[1]);
    let held: Vec<_> = list
        .iter()
        .filter(|c| cursor.holds(c))
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(held, ["a", "b"]);
    assert!(cursor.holds(&conv("z", 4, 1)), "newer than the edge");
    assert!(!cursor.holds(&conv("0", 2, 1)), "older than the edge");
}

#[test]
fn the_deeper_of_two_page_cursors_is_the_one_further_down_the_list() {
    use crate::model::ListCursor;
    let at = |id: &str, t: i64| Some(ListCursor::of(&conv(id, t, 1)).encode());
    assert_eq!(deeper_cursor(at("a", 5), at("b", 3)), at("b", 3));
    assert_eq!(
        deeper_cursor(at("c", 3), at("b", 3)),
        at("c", 3),
        "ties by id"
    );
    assert_eq!(deeper_cursor(at("a", 5), None), None, "the list's end");
    assert_eq!(deeper_cursor(None, at("a", 5)), None);
}

#[test]
fn a_reloaded_first_page_keeps_older_pages_already_loaded() {
    let mut t = Thread::default();
    t.set_page(
        "c1",
        MessagePage {
            messages: vec![msg("m3", 30, 3, 1), msg("m2", 20, 2, 1)],
            next: Some(
                Cursor {
                    timestamp: 20,
                    seq: 2,
                }
                .encode(),
            ),
            ..Default::default()
        },
    );
    t.add_older(
        "c1",
        MessagePage {
            messages: vec![msg("m1", 10, 1, 1)],
            next: None,
            ..Default::default()
        },
    );
    t.set_page(
        "c1",
        MessagePage {
            messages: vec![msg("m4", 40, 4, 1), msg("m3", 30, 3, 1)],
            next: Some(
                Cursor {
                    timestamp: 30,
                    seq: 3,
                }
                .encode(),
            ),
            ..Default::default()
        },
    );
    let ids: Vec<_> = t.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["m1", "m2", "m3", "m4"]);
    assert_eq!(t.next, None, "the start was already reached");
}

#[test]
fn an_event_that_beats_the_first_page_is_kept() {
    let mut t = Thread::default();
    t.open("c1");
    assert!(t.upsert(msg("live", 50, 9, 1)));
    t.set_page(
        "c1",
        MessagePage {
            messages: vec![msg("old", 10, 1, 1)],
            next: None,
            ..Default::default()
        },
    );
    let ids: Vec<_> = t.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["old", "live"]);
}

#[test]
fn events_for_another_conversation_do_not_enter_the_thread() {
    let mut t = Thread {
        conversation_id: Some("c2".into()),
        loaded: true,
        ..Default::default()
    };
    assert!(!t.upsert(msg("m", 1, 1, 1)));
}

fn ids(t: &Thread) -> Vec<&str> {
    t.messages.iter().map(|m| m.id.as_str()).collect()
}

fn around_m2() -> MessagePage {
    MessagePage {
        messages: vec![msg("m3", 30, 3, 1), msg("m2", 20, 2, 1)],
        next: Some(msg("m2", 20, 2, 1).cursor().encode()),
        newer: Some(msg("m3", 30, 3, 1).cursor().encode()),
    }
}

#[test]
fn a_thread_opened_around_a_message_keeps_no_event_across_its_gap() {
    let mut t = Thread::default();
    t.open("c1");
    t.set_page("c1", around_m2());
    assert!(
        !t.upsert(msg("m9", 90, 9, 1)),
        "newer than the gap: not drawn"
    );
    let mut read = msg("m2", 20, 2, 2);
    read.status = crate::model::MessageStatus::Read;
    assert!(t.upsert(read), "a loaded message still takes its ticks");
    let mut local = msg("local-1", 95, 0, 1);
    local.client_id = Some("c".into());
    assert!(t.upsert(local), "the agent's own bubble shows");
    t.add_newer(
        "c1",
        MessagePage {
            messages: vec![msg("m9", 90, 9, 1), msg("m4", 40, 4, 1)],
            next: None,
            newer: None,
        },
    );
    assert!(t.upsert(msg("m10", 100, 10, 1)), "the newest is reached");
    assert_eq!(ids(&t), ["m2", "m3", "m4", "m9", "local-1", "m10"]);
}

#[test]
fn the_newest_page_after_a_search_result_replaces_it_without_a_gap() {
    let mut t = Thread::default();
    t.set_page("c1", around_m2());
    t.set_page(
        "c1",
        MessagePage {
            messages: vec![msg("m9", 90, 9, 1), msg("m8", 80, 8, 1)],
            next: Some(msg("m8", 80, 8, 1).cursor().encode()),
            newer: None,
        },
    );
    assert_eq!(ids(&t), ["m8", "m9"]);
    assert_eq!(t.newer, None);
    // And back to a search result from the newest page.
    t.set_page("c1", around_m2());
    assert_eq!(ids(&t), ["m2", "m3"]);
}

/// Messages `from..to` (seq = timestamp), as a page of newest first.
fn page(from: i64, to: i64, next: bool, newer: bool) -> MessagePage {
    let messages: Vec<Message> = (from..to)
        .rev()
        .map(|n| msg(&format!("m{n}"), n, n, 1))
        .collect();
    MessagePage {
        next: next.then(|| messages.last().unwrap().cursor().encode()),
        newer: newer.then(|| messages[0].cursor().encode()),
        messages,
    }
}

#[test]
fn a_thread_paged_past_its_window_lets_the_far_end_go_and_can_page_back() {
    let p = 50;
    let mut t = Thread::default();
    t.set_page("c1", page(1000, 1000 + p, true, false));
    let mut bottom = 1000;
    for _ in 0..6 {
        t.add_older("c1", page(bottom - p, bottom, true, false));
        bottom -= p;
        assert!(t.messages.len() <= WINDOW);
    }
    assert_eq!(t.messages.len(), WINDOW);
    assert_eq!(
        t.messages[0].id,
        format!("m{bottom}"),
        "the oldest page stays"
    );
    let top = t.messages.last().unwrap().timestamp;
    assert_eq!(top, bottom + WINDOW as i64 - 1);
    // The newest that was let go is the next newer page, exactly after the last kept.
    let newer = Cursor::decode(t.newer.as_deref().unwrap()).unwrap();
    assert_eq!((newer.timestamp, newer.seq), (top, top));
    assert!(
        !t.upsert(msg("live", 5000, 5000, 1)),
        "past the window: not drawn"
    );
    // Paging back down lets the old end go the same way, and reaches the newest.
    let mut top = top + 1;
    while top < 1000 + p {
        let last = top + p >= 1000 + p;
        t.add_newer("c1", page(top, top + p, false, !last));
        top += p;
        assert!(t.messages.len() <= WINDOW);
    }
    assert_eq!(t.newer, None);
    assert_eq!(t.messages.last().unwrap().id, format!("m{}", 1000 + p - 1));
    let next = Cursor::decode(t.next.as_deref().unwrap()).unwrap();
    assert_eq!(
        next.timestamp, t.messages[0].timestamp,
        "older pages come back"
    );
    assert!(
        t.upsert(msg("live", 5000, 5000, 1)),
        "at the newest: live again"
    );
}

#[test]
fn a_page_asked_for_before_the_thread_was_replaced_is_dropped() {
    let mut t = Thread::default();
    t.set_page("c1", page(1000, 1050, true, false));
    t.add_older("c1", page(950, 1000, true, false));
    t.add_older("c1", page(900, 950, true, false));
    t.add_older("c1", page(850, 900, true, false));
    t.add_older("c1", page(800, 850, true, false));
    let stale = t.newer.clone().expect("the newest were let go");
    // Jump to latest replaces the window while a newer page is on its way.
    t.set_page("c1", page(1000, 1050, true, false));
    let again = t.apply_page("c1", false, &stale, page(1000, 1050, false, true));
    assert_eq!(
        again, None,
        "not asked for again: the agent jumped away from it"
    );
    assert_eq!(t.newer, None, "still at the newest: live messages show");
    assert!(t.upsert(msg("live", 5000, 5000, 1)));
}

#[test]
fn a_page_dropped_because_the_other_ends_page_let_its_end_go_is_asked_again() {
    let mut t = Thread::default();
    // Opened at a search result: a full window, with more at both ends.
    t.set_page("c1", page(1000, 1000 + WINDOW as i64, true, true));
    let (older_from, newer_from) = (t.next.clone().unwrap(), t.newer.clone().unwrap());
    // The agent's scroll asked for both ends; the newer page comes first and lets the
    // oldest go, so the older page on its way no longer fits and is dropped.
    let newer = t.apply_page("c1", false, &newer_from, page(1200, 1250, false, true));
    assert_eq!(newer, None, "added");
    assert_eq!(t.messages[0].id, "m1050");
    let again = t.apply_page("c1", true, &older_from, page(950, 1000, true, false));
    assert_eq!(t.messages[0].id, "m1050", "not added across the gap");
    assert_eq!(
        again, t.next,
        "but asked for again, from the window's new start"
    );
    // What comes from there (the messages let go) is added.
    let again = again.expect("a cursor to ask again from");
    assert_eq!(
        t.apply_page("c1", true, &again, page(1000, 1050, true, false)),
        None
    );
    assert_eq!(t.messages[0].id, "m1000");
    assert_eq!(t.messages.len(), WINDOW);
}

#[test]
fn an_unsent_bubble_keeps_the_newest_in_the_window() {
    let mut t = Thread::default();
    t.set_page("c1", page(1000, 1200, true, false));
    let mut local = msg("local-1", 2000, 0, 1);
    local.client_id = Some("c".into());
    assert!(t.upsert(local));
    t.add_older("c1", page(950, 1000, true, false));
    assert_eq!(t.newer, None);
    assert_eq!(t.messages.last().unwrap().id, "local-1");
}

#[test]
fn days_open_with_a_separator_and_one_senders_close_messages_form_a_run() {
    let day = 86_400 * 20_000;
    let mut a = msg("a", day + 100, 1, 1);
    a.direction = Direction::In;
    let mut b = msg("b", day + 160, 2, 1);
    b.direction = Direction::In;
    let c = msg("c", day + 200, 3, 1); // the agent answers: a new run
    let d = msg("d", day + 200 + RUN_SECS, 4, 1); // too long after: a new run
    let e = msg("e", day + 86_400, 5, 1); // the next day
    let mut reaction = msg("r", day + 210, 6, 1);
    reaction.kind = MessageKind::Reaction;
    let list = vec![a, b, c, reaction, d, e];
    let marks = thread_marks(&list, 0);
    let mut starts: Vec<_> = marks.day_starts.iter().map(String::as_str).collect();
    starts.sort();
    assert_eq!(starts, ["a", "e"]);
    assert_eq!(marks.continued, HashSet::from(["b".to_string()]));
    // Four hours east, a's evening and e's next morning... are still two days.
    assert_eq!(thread_marks(&list, 240).day_starts.len(), 2);
}
