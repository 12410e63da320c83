//! Exports and the contacts import: a conversation as JSON and as text, contacts as CSV
//! and back, each only for what the caller may see.

use serde_json::{Value, json};

use crate::security::two_inboxes;
use crate::support::{TestApp, client_with_token, uuid};

async fn get(http: &reqwest::Client, url: String) -> (u16, String, String) {
    let res = http.get(url).send().await.unwrap();
    let status = res.status().as_u16();
    let disposition = res
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, disposition, res.text().await.unwrap())
}

#[tokio::test]
async fn a_conversation_exports_whole_as_json_and_as_text_with_notes_and_activity_in_order() {
    let app = TestApp::start().await;
    let conv = app
        .customer_writes("447700900123", "Where is my parcel?")
        .await;
    let me = app.ok("me", json!({})).await["user"].clone();
    app.ok(
        "assign_conversation",
        json!({"conversation_id": conv, "assignee_id": me["id"]}),
    )
    .await;
    app.ok(
        "add_note",
        json!({"conversation_id": conv, "text": "=courier lost it", "client_id": uuid()}),
    )
    .await;
    app.ok(
        "send_message",
        json!({"conversation_id": conv, "text": "Sorry! A new one is on its way.", "client_id": uuid()}),
    )
    .await;
    let url = format!("{}/export/conversations/{conv}", app.url);

    let (status, disposition, body) = get(&app.http, url.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        disposition.starts_with("attachment; filename=\"conversation-"),
        "{disposition}"
    );
    assert!(disposition.ends_with(".json\""), "{disposition}");
    let export: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(export["conversation"]["id"], conv.as_str());
    let texts: Vec<&str> = export["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Where is my parcel?",
            "=courier lost it",
            "Sorry! A new one is on its way."
        ],
        "every message, oldest first"
    );
    assert_eq!(export["messages"][1]["direction"], "note");
    assert_eq!(export["activities"][0]["change"]["type"], "assigned");

    let (status, disposition, text) = get(&app.http, format!("{url}?format=text")).await;
    assert_eq!(status, 200);
    assert!(disposition.ends_with(".txt\""), "{disposition}");
    let name = me["name"].as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("Conversation with ") && lines[0].contains("+447700900123"),
        "{text}"
    );
    let body: Vec<&str> = lines
        .iter()
        .skip_while(|l| !l.is_empty())
        .skip(1)
        .copied()
        .collect();
    assert_eq!(body.len(), 4, "{text}");
    assert!(body[0].ends_with(": Where is my parcel?"), "{text}");
    assert!(
        body.iter()
            .any(|l| l.contains(&format!("-- {name} took this"))),
        "{text}"
    );
    assert!(
        body.iter()
            .any(|l| l.ends_with(&format!("Note by {name}: =courier lost it"))),
        "{text}"
    );
    assert!(
        body[3].contains(&format!("{name}: Sorry! A new one is on its way.")),
        "{text}"
    );

    let (status, _, body) = get(&app.http, format!("{url}?format=pdf")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("json or text"), "{body}");
    let audited = app
        .ok("list_audit_log", json!({"action": "conversation.exported"}))
        .await;
    assert_eq!(audited["entries"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_agent_exports_only_what_their_inboxes_hold() {
    let app = TestApp::start().await;
    let (inbox_a, inbox_b, token_a, _) = two_inboxes(&app).await;
    let a_conv = app.customer_writes("447700900001", "for A").await;
    let agent = client_with_token(&token_a);
    // Inbox B gets a contact through an import by the admin.
    app.ok(
        "import_contacts",
        json!({"inbox_id": inbox_b, "csv": "phone,name\n+447700900002,Only B\n"}),
    )
    .await;
    let (status, _, body) = get(&agent, format!("{}/export/conversations/{a_conv}", app.url)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, csv) = get(&agent, format!("{}/export/contacts.csv", app.url)).await;
    assert_eq!(status, 200);
    assert!(
        csv.contains("447700900001") && !csv.contains("Only B"),
        "{csv}"
    );
    let (status, _, _) = get(
        &agent,
        format!("{}/export/contacts.csv?inbox_id={inbox_b}", app.url),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .call_with(
            &agent,
            "import_contacts",
            json!({"inbox_id": inbox_b, "csv": "phone\n+447700900003\n"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let anonymous = reqwest::get(format!("{}/export/contacts.csv", app.url))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // The admin's export of B's conversation-less contact.
    let (_, _, csv) = get(
        &app.http,
        format!("{}/export/contacts.csv?inbox_id={inbox_b}", app.url),
    )
    .await;
    assert!(
        csv.contains("Only B") && !csv.contains("447700900001"),
        "{csv}"
    );
    let _ = inbox_a;
}

#[tokio::test]
async fn a_contacts_import_dry_run_reports_each_bad_row_and_writes_nothing_then_the_import_applies_and_round_trips()
 {
    let app = TestApp::start().await;
    let inbox = app.ok("list_inboxes", json!({})).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let existing = app.customer_writes("447700900123", "hi").await;
    let file = "phone,name,labels,opted_out,attribute:plan\n\
                +44 7700 900123,Zoe,vip,no,gold\n\
                not a number,Bad,,,\n\
                +1 415 555 0100,Al,wholesale;vip,yes,\n\
                +1 415 555 0101,,bad label!,,\n";
    let dry = app
        .ok(
            "import_contacts",
            json!({"inbox_id": inbox, "csv": file, "dry_run": true}),
        )
        .await;
    assert_eq!(
        (
            dry["dry_run"].clone(),
            dry["created"].clone(),
            dry["updated"].clone()
        ),
        (json!(true), json!(1), json!(1)),
        "{dry}"
    );
    let rows: Vec<i64> = dry["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["row"].as_i64().unwrap())
        .collect();
    assert_eq!(rows, [3, 5], "{dry}");
    assert!(
        dry["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be part of a phone number"),
        "{dry}"
    );
    let list = app.ok("list_contacts", json!({})).await;
    assert_eq!(
        list["contacts"].as_array().unwrap().len(),
        1,
        "a dry run writes nothing"
    );

    let done = app
        .ok("import_contacts", json!({"inbox_id": inbox, "csv": file}))
        .await;
    assert_eq!(
        (done["created"].clone(), done["updated"].clone()),
        (json!(1), json!(1)),
        "{done}"
    );
    assert_eq!(done["errors"].as_array().unwrap().len(), 2);
    let again = app
        .ok("import_contacts", json!({"inbox_id": inbox, "csv": file}))
        .await;
    assert_eq!(
        (again["created"].clone(), again["unchanged"].clone()),
        (json!(0), json!(2)),
        "{again}"
    );

    let (status, _, csv) = get(&app.http, format!("{}/export/contacts.csv", app.url)).await;
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "id",
            "inbox_id",
            "phone",
            "name",
            "labels",
            "opted_out",
            "conversation_id",
            "attribute:plan"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let zoe = rows.iter().find(|r| &r[2] == "+447700900123").expect(&csv);
    assert_eq!(
        (&zoe[3], &zoe[4], &zoe[5], &zoe[7]),
        ("Zoe", "vip", "false", "gold")
    );
    assert_eq!(&zoe[6], existing.as_str(), "the customer's conversation");
    let al = rows.iter().find(|r| &r[2] == "+14155550100").expect(&csv);
    assert_eq!(
        (&al[4], &al[5], &al[6]),
        ("vip;wholesale", "true", ""),
        "no conversation started"
    );
    // The export imports back unchanged.
    let back = app
        .ok(
            "import_contacts",
            json!({"inbox_id": inbox, "csv": csv, "dry_run": true}),
        )
        .await;
    assert_eq!(
        (back["unchanged"].clone(), back["errors"].clone()),
        (json!(2), json!([])),
        "{back}"
    );

    let (status, body) = app
        .call(
            "import_contacts",
            json!({"inbox_id": inbox, "csv": "name\nZoe\n"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("phone"),
        "{body}"
    );
}
