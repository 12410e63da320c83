//! Golden tests: every sample webhook (one per §3/§4 type in `tests/fixtures/types`, plus
//! the shared samples in `tests/fixtures`) is parsed and compared with what it parsed to
//! when it was last reviewed (`tests/fixtures/golden/<name>.json`). After a deliberate
//! change, rerun with `UPDATE_GOLDEN=1` and review the diff.

use serde_json::{Value, json};
use switchboard::whatsapp::content::{self, Inbound, Parsed};
use switchboard::whatsapp::wire::{self, Item};

fn parsed(p: &Parsed) -> Value {
    json!({ "kind": p.kind, "text": p.text, "details": p.details })
}

/// What the inbox makes of one webhook body.
fn summary(body: &[u8]) -> Value {
    let changes = wire::parse_payload(body).expect("a webhook envelope");
    let mut out = Vec::new();
    for c in changes {
        let messages: Vec<Value> = c
            .messages
            .iter()
            .map(|m| match m {
                Item::Ok(m) => {
                    let read = match content::read(m) {
                        Inbound::New(p) => json!({ "new": parsed(&p) }),
                        Inbound::Edit {
                            original,
                            replacement,
                        } => json!({ "edit": { "original": original, "replacement": parsed(&replacement) } }),
                        Inbound::Revoke { original } => json!({ "revoke": original }),
                    };
                    json!({ "wamid": m.id, "from": m.from, "from_user_id": m.from_user_id,
                        "timestamp": m.timestamp, "reply_to": m.context.as_ref().and_then(|c| c.id.clone()),
                        "read": read })
                }
                Item::Malformed { reason, .. } => json!({ "malformed": reason }),
            })
            .collect();
        let statuses: Vec<Value> = c
            .statuses
            .iter()
            .map(|s| match s {
                Item::Ok(s) => json!({ "wamid": s.id, "status": s.status, "timestamp": s.timestamp,
                    "recipient": s.recipient_id, "recipient_user_id": s.recipient_user_id,
                    "callback": s.biz_opaque_callback_data,
                    "error": s.errors.first().map(|e| e.to_info()) }),
                Item::Malformed { reason, .. } => json!({ "malformed": reason }),
            })
            .collect();
        out.push(
            json!({ "field": c.field, "phone_number_id": c.phone_number_id,
            "contacts": c.contacts, "messages": messages, "statuses": statuses }),
        );
    }
    Value::Array(out)
}

#[test]
fn every_sample_parses_as_reviewed() {
    let root = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var("UPDATE_GOLDEN").is_ok();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for dir in [root.clone(), format!("{root}/types")] {
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        for name in names {
            let body = std::fs::read(format!("{dir}/{name}")).unwrap();
            let got = summary(&body);
            let golden = format!("{root}/golden/{name}");
            if update {
                std::fs::create_dir_all(format!("{root}/golden")).unwrap();
                let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
                std::fs::write(&golden, text).unwrap();
            }
            let want: Value = match std::fs::read(&golden) {
                Ok(b) => serde_json::from_slice(&b).unwrap(),
                Err(_) => panic!("{golden} is missing: run with UPDATE_GOLDEN=1 and review it"),
            };
            if got != want {
                mismatches.push(format!("{name}:\n  got  {got}\n  want {want}"));
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} samples found");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
