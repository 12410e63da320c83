//! Full-text search over a large history: how long `search_messages` takes for the first
//! page (20 results) of a one-word and a two-word query.
//!
//!     cargo bench --features ssr --bench search                      # SQLite, 1,000,000 messages
//!     cargo bench --features ssr --bench search -- --messages 100000
//!     cargo bench --features ssr --bench search -- --mongo URL --messages 100000
//!     cargo bench --features ssr --bench search -- --db /tmp/search.db   # keep (and reuse) the file
//!
//! It fills 2,000 conversations in 4 inboxes through the `Store` trait (the production
//! write path, so the same triggers and indexes), with text drawn from a Portuguese,
//! Spanish, German and English vocabulary by Zipf's law (a few words everywhere, most
//! words rare) plus order numbers, as a support inbox reads. Then it times 400 queries of
//! each kind, words picked at random from the vocabulary, as an admin (every inbox) and as
//! an agent of one inbox, and prints the median and p99.

mod common;
use common::arg;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rand::prelude::*;
use switchboard::model::{MessageKind, search_words};
use switchboard::store::{ContactKey, NewInbound, Scope};

const CONVERSATIONS: usize = 2_000;
const INBOXES: usize = 4;
const QUERIES: usize = 400;
const LIMIT: usize = 20;

const VOCABULARY: &str = "de a o que e do da em um para é com não uma os no se na por mais \
    as dos como mas foi ao ele das tem à seu sua ou ser quando muito há nos já está eu \
    também só pelo pela até isso ela entre era depois sem mesmo aos ter seus quem nas me \
    esse eles estão você tinha foram essa num nem suas meu às minha têm numa pelos elas \
    pedido entrega pagamento boleto cartão troca devolução prazo frete cupom desconto \
    produto tamanho cor estoque nota fiscal reembolso cancelamento atraso endereço \
    rastreio código informações obrigado obrigada bom dia boa tarde noite olá ajuda \
    problema urgente amanhã hoje ontem semana mês transportadora correios loja site \
    aplicativo senha conta cadastro garantia defeito quebrado faltando errado certo \
    hola gracias pedido envío pago tarjeta devolución plazo cupón descuento producto \
    talla color factura reembolso cancelación retraso dirección seguimiento ayuda \
    problema mañana semana tienda contraseña cuenta garantía roto equivocado \
    hallo danke bestellung lieferung zahlung rechnung rückgabe umtausch versand \
    gutschein rabatt größe farbe lager erstattung stornierung verspätung adresse \
    sendungsverfolgung hilfe morgen woche geschäft passwort konto garantie kaputt \
    hello thanks order delivery payment invoice refund return shipping coupon discount \
    size colour stock cancellation delay address tracking help tomorrow week store \
    password account warranty broken wrong missing";

/// A sentence of 4 to 14 words by Zipf's law over `words`, sometimes with an order number.
fn sentence(rng: &mut StdRng, words: &[&str], weights: &[f64], total: f64) -> String {
    let n = rng.random_range(4..=14);
    let mut out: Vec<String> = Vec::with_capacity(n + 1);
    for _ in 0..n {
        let mut x = rng.random_range(0.0..total);
        let mut i = 0;
        while x > weights[i] && i + 1 < weights.len() {
            x -= weights[i];
            i += 1;
        }
        out.push(words[i].to_string());
    }
    if rng.random_bool(0.2) {
        out.push(format!("#{}", rng.random_range(100_000..999_999)));
    }
    out.join(" ")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let total: usize = arg("--messages")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, backend) = common::open_store(dir.path()).await;
    let mut inboxes = Vec::new();
    for i in 0..INBOXES {
        let inbox = store
            .ensure_inbox(&format!("30000000000000{i}"), None)
            .await
            .expect("inbox");
        inboxes.push(inbox.id);
    }
    let words: Vec<&str> = VOCABULARY.split_whitespace().collect();
    let weights: Vec<f64> = (1..=words.len()).map(|r| 1.0 / r as f64).collect();
    let weight_total: f64 = weights.iter().sum();

    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(7);
    let base_ts = 1_700_000_000i64;
    // A kept database already filled is searched as it is.
    let empty = store
        .search_messages(&Scope::All, None, &search_words("de"), None, 1)
        .await
        .expect("search")
        .is_empty();
    let mut done = if empty { 0 } else { total };
    while done < total {
        let chunk = (total - done).min(500);
        let batch: Vec<NewInbound> = (done..done + chunk)
            .map(|i| {
                let conversation = i % CONVERSATIONS;
                NewInbound {
                    inbox_id: inboxes[conversation % INBOXES].clone(),
                    wamid: format!("wamid.SEARCH{i}"),
                    contact: ContactKey {
                        wa_id: Some(format!("55119{conversation:08}")),
                        user_id: None,
                        name: Some(format!("Customer {conversation}")),
                    },
                    kind: MessageKind::Text,
                    text: Some(sentence(&mut rng, &words, &weights, weight_total)),
                    timestamp: base_ts + i as i64 / 4,
                    reply_to: None,
                    awaits_target: false,
                    details: Default::default(),
                    raw: "{}".into(),
                }
            })
            .collect();
        join_all(batch.into_iter().map(|msg| {
            let store = store.clone();
            async move { store.record_inbound(msg).await.expect("insert") }
        }))
        .await;
        done += chunk;
    }
    let fill = started.elapsed();
    if empty {
        println!(
            "{backend}: stored {total} messages in {CONVERSATIONS} conversations, {INBOXES} \
             inboxes, in {:.0} s ({:.0} msg/s)",
            fill.as_secs_f64(),
            total as f64 / fill.as_secs_f64()
        );
    } else {
        println!("{backend}: searching the kept database as it is");
    }

    println!(
        "{:<30} {:>10} {:>10} {:>10} {:>12}",
        "query (first page of 20)", "median", "p99", "max", "avg found"
    );
    let agent = Scope::Inboxes(vec![inboxes[0].clone()]);
    for (name, count, scope) in [
        ("one word, admin", 1, &Scope::All),
        ("two words, admin", 2, &Scope::All),
        ("one word, agent of 1 inbox", 1, &agent),
        ("two words, agent of 1 inbox", 2, &agent),
    ] {
        let mut rng = StdRng::seed_from_u64(11);
        let mut times = Vec::with_capacity(QUERIES);
        let mut slowest: Vec<(Duration, String)> = Vec::new();
        let mut found = 0;
        for _ in 0..QUERIES {
            let query: Vec<&str> = words.choose_multiple(&mut rng, count).copied().collect();
            let query = search_words(&query.join(" "));
            let t = Instant::now();
            let page = store
                .search_messages(scope, None, &query, None, LIMIT)
                .await
                .expect("search");
            times.push(t.elapsed());
            slowest.push((t.elapsed(), query.join(" ")));
            found += page.len();
        }
        times.sort();
        slowest.sort();
        println!(
            "{name:<30} {:>7.2} ms {:>7.2} ms {:>7.2} ms {:>12.1}",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            percentile(&times, 1.0),
            found as f64 / QUERIES as f64
        );
        let worst: Vec<String> = slowest
            .iter()
            .rev()
            .take(3)
            .map(|(t, q)| format!("\"{q}\" {:.1} ms", t.as_secs_f64() * 1000.0))
            .collect();
        println!("{:<30} slowest: {}", "", worst.join(", "));
    }
}
