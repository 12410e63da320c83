//! History paging cost at different depths of one very long conversation.
//!
//!     cargo bench --features ssr --bench paging                     # SQLite, 100,000 messages
//!     cargo bench --features ssr --bench paging -- --mongo URL      # MongoDB
//!     cargo bench --features ssr --bench paging -- --messages 20000
//!
//! It fills one conversation through the `Store` trait (so the same indexes as in
//! production are used), walks the whole history with `load_messages` pages of 50, and
//! prints the median time of a page fetched at several depths. Constant time means the
//! deep pages cost about what the first page costs.

mod common;
use common::arg;
use std::time::{Duration, Instant};

use futures::future::join_all;
use switchboard::model::{Cursor, MessageKind};
use switchboard::store::{ContactKey, InboundOutcome, NewInbound};

const PAGE: usize = 50;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let total: usize = arg("--messages")
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, backend) = common::open_store(dir.path()).await;
    let inbox = store
        .ensure_inbox("200000000000001", None)
        .await
        .expect("inbox")
        .id;

    let started = Instant::now();
    let base_ts = 1_763_800_000;
    let mut conversation = None;
    for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
        let results = join_all(chunk.iter().map(|i| {
            let store = store.clone();
            let msg = NewInbound {
                inbox_id: inbox.clone(),
                wamid: format!("wamid.BENCH{i}"),
                contact: ContactKey {
                    wa_id: Some("5511999990000".into()),
                    user_id: None,
                    name: Some("Bench".into()),
                },
                kind: MessageKind::Text,
                text: Some(format!("message {i}")),
                // Ten messages per second: many timestamp ties, as in real bursts.
                timestamp: base_ts + (*i as i64) / 10,
                reply_to: None,
                awaits_target: false,
                details: Default::default(),
                raw: "{}".into(),
            };
            async move { store.record_inbound(msg).await.expect("insert") }
        }))
        .await;
        if conversation.is_none()
            && let Some(InboundOutcome::Created { message: m, .. }) = results.into_iter().next()
        {
            conversation = Some(m.conversation_id);
        }
    }
    let conversation = conversation.expect("a conversation");
    let fill = started.elapsed();
    println!(
        "{backend}: stored {total} messages in one conversation in {:.1} s ({:.0} msg/s)",
        fill.as_secs_f64(),
        total as f64 / fill.as_secs_f64()
    );

    // Walk the whole history, keeping the cursor that starts each page.
    let started = Instant::now();
    let mut cursors: Vec<Option<Cursor>> = vec![None];
    let mut seen = 0;
    loop {
        let page = store
            .load_messages(&conversation, *cursors.last().unwrap(), PAGE)
            .await
            .expect("page");
        seen += page.messages.len();
        match page.next {
            Some(c) => cursors.push(Cursor::decode(&c)),
            None => break,
        }
    }
    let walk = started.elapsed();
    assert_eq!(seen, total, "the walk must see every message exactly once");
    println!(
        "walked {} pages of {PAGE} in {:.2} s: {:.3} ms per page on average",
        cursors.len(),
        walk.as_secs_f64(),
        walk.as_secs_f64() * 1000.0 / cursors.len() as f64
    );

    println!("{:>12}  {:>12}  {:>10}", "depth", "messages in", "median");
    for fraction in [0.0, 0.1, 0.5, 0.9, 1.0] {
        let index = ((cursors.len() - 1) as f64 * fraction) as usize;
        let cursor = cursors[index];
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..51 {
            let t = Instant::now();
            store
                .load_messages(&conversation, cursor, PAGE)
                .await
                .expect("page");
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{:>11.0}%  {:>12}  {:>8.3} ms",
            fraction * 100.0,
            index * PAGE,
            times[times.len() / 2].as_secs_f64() * 1000.0
        );
    }
}
