//! Property tests of the webhook parser and route: whatever Meta (or anyone holding the
//! secret) sends, nothing panics, no batch item is silently dropped, and the answer is a
//! 200 or a 400 with a reason, never a 5xx.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use switchboard::store::WebhookState;
use switchboard::whatsapp::wire::{Item, parse_payload, phone_number_ids};

use crate::support::*;

/// Any JSON value, a few levels deep, with the keys Meta's payloads use mixed in so that
/// generated objects often look like (broken) messages and statuses.
fn any_json() -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("id".to_string()),
        Just("type".to_string()),
        Just("from".to_string()),
        Just("timestamp".to_string()),
        Just("text".to_string()),
        Just("body".to_string()),
        Just("status".to_string()),
        Just("errors".to_string()),
        Just("context".to_string()),
        Just("image".to_string()),
        Just("reaction".to_string()),
        Just("emoji".to_string()),
        Just("message_id".to_string()),
        Just("recipient_id".to_string()),
        Just("code".to_string()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("text"),
            Just("image"),
            Just("reaction"),
            Just("sent"),
            Just("delivered"),
            Just("read"),
            Just("failed"),
            Just("1763800000"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An envelope with arbitrary contents where Meta puts its batches.
fn any_envelope() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(any_json(), 0..4),
        prop::collection::vec(any_json(), 0..4),
        any_json(),
        any_json(),
        prop::bool::ANY,
    )
        .prop_map(|(messages, statuses, contacts, errors, known_number)| {
            let pnid = if known_number {
                "200000000000001"
            } else {
                "999999999999999"
            };
            json!({
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550001000", "phone_number_id": pnid},
                    "contacts": contacts,
                    "messages": messages,
                    "statuses": statuses,
                    "errors": errors,
                }}]}]
            })
        })
}

#[test]
fn arbitrary_bytes_never_panic_the_parser() {
    let mut runner = TestRunner::new(Config::with_cases(2000));
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..1024), |bytes| {
            let _ = parse_payload(&bytes);
            let _ = phone_number_ids(&bytes);
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_json_in_an_envelope_is_parsed_item_by_item_and_nothing_is_dropped() {
    let mut runner = TestRunner::new(Config::with_cases(1000));
    runner
        .run(&any_envelope(), |envelope| {
            let body = serde_json::to_vec(&envelope).unwrap();
            let changes = parse_payload(&body).expect("an envelope always parses");
            prop_assert_eq!(changes.len(), 1);
            let value = &envelope["entry"][0]["changes"][0]["value"];
            let count = |key: &str| value[key].as_array().map_or(0, Vec::len);
            prop_assert_eq!(changes[0].messages.len(), count("messages"));
            prop_assert_eq!(changes[0].statuses.len(), count("statuses"));
            // A malformed item keeps its raw JSON and says why.
            for item in &changes[0].messages {
                if let Item::Malformed { reason, .. } = item {
                    prop_assert!(!reason.is_empty());
                }
            }
            Ok(())
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_signed_bodies_get_200_or_a_reasoned_400_and_are_kept() {
    let app = TestApp::start().await;
    // Generated up front: the runner is synchronous and the route is not.
    let mut runner = TestRunner::new(Config::with_cases(1));
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let strategy = prop_oneof![
        3 => any_envelope().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 1..256),
    ];
    for _ in 0..150 {
        bodies.push(strategy.new_tree(&mut runner).unwrap().current());
    }
    for body in &bodies {
        let res = app.post_webhook(body).await;
        let status = res.status().as_u16();
        let answer = res.text().await.unwrap();
        assert!(
            status == 200 || status == 400,
            "{status} {answer} for {}",
            String::from_utf8_lossy(body)
        );
        if status == 400 {
            assert!(answer.contains("message"), "a reason: {answer}");
        }
        // Signed, so kept either way, and finished (a repeat is recognised as done)
        // unless it names a number no inbox has: then it waits for that inbox.
        let id = hex::encode(Sha256::digest(body));
        let store = &app.running.state.store;
        let state = store.save_webhook(&id, body).await.unwrap();
        let mut names_unknown_number = false;
        for pnid in switchboard::whatsapp::wire::phone_number_ids(body) {
            names_unknown_number |= store
                .inbox_by_phone_number_id(&pnid)
                .await
                .unwrap()
                .is_none();
        }
        assert!(
            state == WebhookState::Done || (state == WebhookState::Pending && names_unknown_number),
            "{state:?} for {}",
            String::from_utf8_lossy(body)
        );
    }
    let ready = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "still healthy");
}
