//! MongoDB round trips per webhook: what the driver sends while a webhook is kept and
//! applied, counted by a command monitor on the store's own client.
//!
//!     cargo bench --features ssr --bench round_trips -- --mongo mongodb://127.0.0.1:27017/rt
//!
//! For each kind of webhook it runs the path `POST /webhook` takes after the signature
//! check (the inbox lookup, `save_webhook`, `ingest`, `finish_webhook`) `--runs` times
//! and prints the mean number of commands, and which commands they were; likewise an
//! agent's reply as the store sees it (stored with its send job, then accepted). Commands are
//! counted, not timed: the count is the same on any server, the time is the server's.
//! The event log's reader (one `find` per batch of events, whatever their number) and
//! background jobs run outside these paths and are not counted. `--trace` prints every
//! command and its collection on stderr (use `--runs 1`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::ClientOptions;
use sha2::{Digest, Sha256};
use switchboard::model::{Direction, MessageKind};
use switchboard::store::mongo::MongoStore;
use switchboard::store::{DynStore, NewOutbound};

#[path = "common/mod.rs"]
mod common;

const PHONE_NUMBER_ID: &str = "200000000000001";

fn envelope(value: &str) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"100000000000001","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001000","phone_number_id":"{PHONE_NUMBER_ID}"}},{value}}}}}]}}]}}"#
    )
    .into_bytes()
}

fn inbound(n: u64, customer: u64) -> Vec<u8> {
    envelope(&format!(
        r#""contacts":[{{"profile":{{"name":"Customer {customer}"}},"wa_id":"49000{customer:07}"}}],"messages":[{{"from":"49000{customer:07}","id":"wamid.RT.IN.{n}","timestamp":"{ts}","type":"text","text":{{"body":"message {n}"}}}}]"#,
        // In the past, as a customer's message is by the time an agent replies to it.
        ts = 1_763_800_000 + n % 1_000_000
    ))
}

fn status(wamid: &str, status: &str, customer: u64, n: u64) -> Vec<u8> {
    envelope(&format!(
        r#""statuses":[{{"id":"{wamid}","status":"{status}","timestamp":"{ts}","recipient_id":"49000{customer:07}"}}]"#,
        ts = 1_763_900_000 + n
    ))
}

/// Commands seen since the last `take`, by name.
#[derive(Clone, Default)]
struct Counter(Arc<Mutex<BTreeMap<String, u64>>>);

impl Counter {
    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn add(total: &mut BTreeMap<String, u64>, more: BTreeMap<String, u64>) {
    for (name, n) in more {
        *total.entry(name).or_default() += n;
    }
}

/// What `POST /webhook` does with a body once its signature is checked.
async fn deliver(store: &DynStore, body: &[u8], trace: bool) {
    if trace {
        eprintln!("webhook:");
    }
    store
        .inbox_by_phone_number_id(PHONE_NUMBER_ID)
        .await
        .expect("inbox lookup");
    // Kept under its SHA-256, as the server keeps it.
    let id = hex::encode(Sha256::digest(body));
    store.save_webhook(&id, body).await.expect("save_webhook");
    switchboard::http::webhook::process(store, &id, body)
        .await
        .expect("process");
}

struct Row {
    what: &'static str,
    runs: u64,
    commands: BTreeMap<String, u64>,
}

impl Row {
    fn print(&self) {
        let total: u64 = self.commands.values().sum();
        let detail: Vec<String> = self
            .commands
            .iter()
            .map(|(name, n)| format!("{name} {:.1}", *n as f64 / self.runs as f64))
            .collect();
        println!(
            "{:<44} {:>6.1}   {}",
            self.what,
            total as f64 / self.runs as f64,
            detail.join(", ")
        );
    }
}

#[tokio::main]
async fn main() {
    let url = common::arg("--mongo").expect("--mongo URL (a database this may fill)");
    let runs: u64 = common::arg("--runs").map_or(20, |v| v.parse().expect("--runs N"));
    // `--trace`: every command on stderr, with its collection.
    let trace = std::env::args().any(|a| a == "--trace");
    let counter = Counter::default();
    let mut options = ClientOptions::parse(&url).await.expect("a MongoDB URL");
    let seen = counter.0.clone();
    options.command_event_handler = Some(EventHandler::callback(move |ev| {
        if let CommandEvent::Started(started) = ev {
            if trace {
                // The collection is the command's first value ("find": "messages", …).
                let target = started
                    .command
                    .get_str(&started.command_name)
                    .unwrap_or_default();
                eprintln!("  {} {target}", started.command_name);
            }
            *seen
                .lock()
                .unwrap()
                .entry(started.command_name)
                .or_default() += 1;
        }
    }));
    let store: DynStore = Arc::new(MongoStore::connect_with(options).await.expect("MongoDB"));
    store
        .ensure_inbox(PHONE_NUMBER_ID, Some("15550001000"))
        .await
        .expect("inbox");
    // A first webhook, uncounted: the WABA id is remembered once, as on a live server.
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 1_000_000
        * 1000;
    deliver(&store, &inbound(base, base), trace).await;
    counter.take();

    let mut rows = Vec::new();
    let mut measure = |what: &'static str, commands: BTreeMap<String, u64>| {
        rows.push(Row {
            what,
            runs,
            commands,
        })
    };

    // A new customer: contact, conversation, message and events all created.
    for i in 1..=runs {
        deliver(&store, &inbound(base + i, base + i), trace).await;
    }
    measure("inbound text, new customer", counter.take());

    // The same customers again: everything exists but the message.
    for i in 1..=runs {
        deliver(&store, &inbound(base + runs + i, base + i), trace).await;
    }
    measure("inbound text, known customer", counter.take());

    let inbox = store
        .inbox_by_phone_number_id(PHONE_NUMBER_ID)
        .await
        .unwrap()
        .expect("the inbox");
    let first_message = |i: u64| {
        let (store, inbox_id) = (store.clone(), inbox.id.clone());
        async move {
            store
                .message_by_wamid(&inbox_id, &format!("wamid.RT.IN.{}", base + i))
                .await
                .unwrap()
                .expect("the inbound message")
        }
    };

    // An agent opens each conversation: its two customer messages are read.
    let mut read = BTreeMap::new();
    for i in 1..=runs {
        let message = first_message(i).await;
        counter.take();
        store
            .mark_conversation_read(&message.conversation_id)
            .await
            .unwrap();
        add(&mut read, counter.take());
    }
    measure("conversation read (mark_conversation_read)", read);

    // Agents' replies: stored with their send job, then accepted by Meta (the send
    // itself is HTTP to Meta, not MongoDB); then their receipts.
    let mut wamids = Vec::new();
    let mut accepted = BTreeMap::new();
    let mut stored = BTreeMap::new();
    for i in 1..=runs {
        let message = first_message(i).await;
        counter.take();
        let (out, _) = store
            .create_outbound(NewOutbound {
                conversation_id: message.conversation_id.clone(),
                direction: Direction::Out,
                sent_by: None,
                client_id: format!("00000000-0000-4000-8000-{:012}", base + i),
                kind: MessageKind::Text,
                text: Some("reply".into()),
                reply_to: None,
                details: Default::default(),
            })
            .await
            .unwrap();
        add(&mut stored, counter.take());
        let wamid = format!("wamid.RT.OUT.{}", base + i);
        store.mark_accepted(&out.id, &wamid).await.unwrap();
        add(&mut accepted, counter.take());
        wamids.push((wamid, base + i));
    }
    measure("agent's reply stored (create_outbound)", stored);
    measure("reply accepted by Meta (mark_accepted)", accepted);
    for (step, name) in [
        ("sent", "status sent"),
        ("delivered", "status delivered"),
        ("read", "status read"),
    ] {
        for (n, (wamid, customer)) in wamids.iter().enumerate() {
            deliver(&store, &status(wamid, step, *customer, n as u64), trace).await;
        }
        measure(name, counter.take());
    }
    // A receipt Meta sends twice: applied once, the second only seen.
    for (n, (wamid, customer)) in wamids.iter().enumerate() {
        deliver(
            &store,
            &status(wamid, "read", *customer, n as u64 + 1_000_000),
            trace,
        )
        .await;
    }
    measure("status read again (no change)", counter.take());

    println!(
        "MongoDB commands per webhook (the path after its signature check) and per agent's reply, mean of {runs}:"
    );
    println!("{:<44} {:>6}   by command", "what", "trips");
    for row in &rows {
        row.print();
    }
}
