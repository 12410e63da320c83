//! The audit log: what is recorded (sign-ins, every admin action, exports), that no secret
//! ever reaches it, who may read it, its CSV; and the store's part on both backends.

use serde_json::{Value, json};
use switchboard::model::AuditEntry;
use switchboard::store::{AuditFilter, DynStore};

use crate::security::{demo_login, sign_in};
use crate::support::{TestApp, client_with_token};

fn entry(id: &str, at: i64, actor: &str, action: &str) -> AuditEntry {
    AuditEntry {
        id: id.into(),
        at,
        actor_id: None,
        actor: actor.into(),
        action: action.into(),
        target: Some(format!("target of {id}")),
        changes: vec![switchboard::model::AuditChange {
            field: "name".into(),
            old: Some("A".into()),
            new: None,
        }],
        address: Some("127.0.0.1".into()),
    }
}

pub async fn the_audit_log_reads_newest_first_filters_by_actor_action_and_time_and_pages_without_gaps(
    store: DynStore,
) {
    // Ids are time-ordered; written out of order to prove the read sorts.
    for (id, at, actor, action) in [
        ("0003", 3_000, "ana@x.io", "user.updated"),
        ("0001", 1_000, "ana@x.io", "sign_in"),
        ("0005", 5_000, "cli", "user.created"),
        ("0002", 2_000, "bo@x.io", "sign_in"),
        ("0004", 4_000, "ana@x.io", "sign_in"),
    ] {
        store
            .append_audit(&entry(id, at, actor, action))
            .await
            .unwrap();
    }
    let ids = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let all = store
        .audit_entries(&AuditFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(
        all[0],
        entry("0005", 5_000, "cli", "user.created"),
        "round-trips"
    );
    assert_eq!(ids(all), ["0005", "0004", "0003", "0002", "0001"]);
    let f = |actor: Option<&str>, action: Option<&str>, since, until| AuditFilter {
        actor: actor.map(String::from),
        action: action.map(String::from),
        since,
        until,
        before: None,
    };
    let read = |filter: AuditFilter| {
        let store = store.clone();
        async move { ids(store.audit_entries(&filter, 10).await.unwrap()) }
    };
    let by_ana = read(f(Some("ana@x.io"), None, None, None)).await;
    assert_eq!(by_ana, ["0004", "0003", "0001"]);
    let sign_ins = read(f(None, Some("sign_in"), None, None)).await;
    assert_eq!(sign_ins, ["0004", "0002", "0001"]);
    let window = read(f(None, None, Some(2_000), Some(4_000))).await;
    assert_eq!(window, ["0003", "0002"], "since inclusive, until not");
    let both = read(f(Some("ana@x.io"), Some("sign_in"), Some(2_000), None)).await;
    assert_eq!(both, ["0004"]);
    // Pages of two, each after the last id of the one before.
    let mut filter = AuditFilter::default();
    let mut seen = Vec::new();
    loop {
        let page = store.audit_entries(&filter, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        filter.before = Some(last.id.clone());
        seen.extend(ids(page));
    }
    assert_eq!(seen, ["0005", "0004", "0003", "0002", "0001"]);
}

pub async fn an_imported_contact_is_created_once_without_a_conversation_and_found_by_number(
    store: DynStore,
) {
    let inbox = crate::conformance::inbox(&store).await;
    assert_eq!(
        store
            .contact_by_number(&inbox, "447700900001")
            .await
            .unwrap(),
        None
    );
    let made = store.ensure_contact(&inbox, "447700900001").await.unwrap();
    assert_eq!(made.contact.wa_id.as_deref(), Some("447700900001"));
    assert_eq!(
        made.conversation_id, None,
        "an import starts no conversation"
    );
    let again = store.ensure_contact(&inbox, "447700900001").await.unwrap();
    assert_eq!(
        again.contact.id, made.contact.id,
        "once per number and inbox"
    );
    let found = store
        .contact_by_number(&inbox, "447700900001")
        .await
        .unwrap();
    assert_eq!(found.map(|e| e.contact.id), Some(made.contact.id.clone()));
    // The customer writes later: the same contact gets its conversation.
    let conversation = crate::conformance::conversation(&store, &inbox, "447700900001").await;
    let entry = store.contact(&made.contact.id).await.unwrap().unwrap();
    assert_eq!(entry.conversation_id, Some(conversation));
    assert!(
        store
            .list_conversations(&switchboard::store::Scope::All, &Default::default(), 10)
            .await
            .unwrap()
            .len()
            == 1
    );
}

macro_rules! audit_conformance {
    ($backend:ident, $open:expr) => {
        mod $backend {
            $crate::store_tests!(super; $open;
                the_audit_log_reads_newest_first_filters_by_actor_action_and_time_and_pages_without_gaps,
                an_imported_contact_is_created_once_without_a_conversation_and_found_by_number,
            );
        }
    };
}

audit_conformance!(sqlite, crate::conformance::open_sqlite());
audit_conformance!(mongo, crate::conformance::open_mongo());

async fn log(app: &TestApp, args: Value) -> Vec<Value> {
    app.ok("list_audit_log", args).await["entries"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn sign_ins_and_refused_attempts_are_audited_with_the_address_and_never_the_password() {
    let app = TestApp::start().await;
    let (email, password) = demo_login(&app).await;
    sign_in(&app, &email, &password).await.unwrap();
    sign_in(&app, &email, "wrong-guess-123").await.unwrap_err();
    sign_in(&app, "nobody@example.com", "wrong-guess-456")
        .await
        .unwrap_err();
    let entries = log(&app, json!({})).await;
    let text = serde_json::to_string(&entries).unwrap();
    assert!(
        !text.contains(&password) && !text.contains("wrong-guess"),
        "{text}"
    );
    let find = |action: &str, actor: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["actor"] == actor)
            .unwrap_or_else(|| panic!("no {action} by {actor} in {text}"))
            .clone()
    };
    let ok = find("sign_in", &email);
    assert_eq!(ok["address"], "127.0.0.1");
    assert!(ok["actor_id"].is_string());
    assert_eq!(
        find("sign_in.failed", &email)["target"],
        "reason: wrong password"
    );
    let unknown = find("sign_in.failed", "nobody@example.com");
    assert_eq!(unknown["target"], "reason: unknown email");
    assert!(unknown["actor_id"].is_null());
    // Newest first.
    let ats: Vec<i64> = entries.iter().map(|e| e["at"].as_i64().unwrap()).collect();
    assert!(ats.windows(2).all(|w| w[0] >= w[1]), "{ats:?}");
}

#[tokio::test]
async fn admin_changes_are_audited_old_to_new_and_secrets_never_appear() {
    let app = TestApp::start().await;
    let user = app
        .ok(
            "create_user",
            json!({"email": "bo@example.com", "name": "Bo", "role": "agent", "password": "first-password-1"}),
        )
        .await;
    let user_id = user["id"].as_str().unwrap();
    app.ok(
        "update_user",
        json!({"user_id": user_id, "name": "Bo B", "role": "admin", "password": "second-password-2"}),
    )
    .await;
    let inbox = app
        .ok(
            "create_inbox",
            json!({"phone_number_id": "300000000000001", "name": "Sales", "access_token": "EAAG-first-token"}),
        )
        .await;
    let inbox_id = inbox["id"].as_str().unwrap();
    app.ok(
        "update_inbox",
        json!({"inbox_id": inbox_id, "name": "Sales EU", "access_token": "EAAG-second-token"}),
    )
    .await;
    app.ok(
        "set_inbox_member",
        json!({"inbox_id": inbox_id, "user_id": user_id, "member": true}),
    )
    .await;
    app.ok(
        "set_inbox_assignment",
        json!({"inbox_id": inbox_id, "auto_assign": true}),
    )
    .await;
    let token = app
        .ok(
            "create_api_token",
            json!({"name": "zapier", "user_id": user_id}),
        )
        .await;
    let secret = token["secret"].as_str().unwrap().to_string();
    app.ok(
        "revoke_api_token",
        json!({"token_id": token["token"]["id"]}),
    )
    .await;
    let entries = log(&app, json!({})).await;
    let text = serde_json::to_string(&entries).unwrap();
    for never in [
        "first-password-1",
        "second-password-2",
        "EAAG-first",
        "EAAG-second",
        &secret,
    ] {
        assert!(!text.contains(never), "{never} leaked: {text}");
    }
    let change = |action: &str, field: &str| -> (Value, Value) {
        let e = entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action}: {text}"));
        let c = e["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["field"] == field)
            .unwrap_or_else(|| panic!("{action} lacks {field}: {e}"));
        (c["old"].clone(), c["new"].clone())
    };
    assert_eq!(
        change("user.created", "role"),
        (Value::Null, json!("agent"))
    );
    assert_eq!(change("user.updated", "name"), (json!("Bo"), json!("Bo B")));
    assert_eq!(
        change("user.updated", "role"),
        (json!("agent"), json!("admin"))
    );
    assert_eq!(
        change("user.updated", "password"),
        (json!("(set, not shown)"), json!("(replaced, not shown)"))
    );
    assert_eq!(
        change("inbox.updated", "name"),
        (json!("Sales"), json!("Sales EU"))
    );
    assert_eq!(
        change("inbox.updated", "access_token").1,
        json!("(replaced, not shown)")
    );
    assert_eq!(
        change("inbox.member_added", "member").1,
        json!("bo@example.com")
    );
    assert_eq!(
        change("inbox.assignment_changed", "auto_assign"),
        (json!("false"), json!("true"))
    );
    assert_eq!(
        change("api_token.created", "acts_as").1,
        json!("bo@example.com")
    );
    let revoked = entries
        .iter()
        .find(|e| e["action"] == "api_token.revoked")
        .unwrap();
    assert!(
        revoked["target"].as_str().unwrap().contains("zapier"),
        "{revoked}"
    );
    // Every entry names the admin who acted (the tests' token acts as the demo admin),
    // but the first-run accounts and the tests' own token, which the server made itself.
    let (admin_email, _) = demo_login(&app).await;
    let by_admin = |e: &&Value| e["actor"] == admin_email.as_str();
    assert!(
        entries
            .iter()
            .filter(|e| e["actor"] != "system")
            .all(|e| by_admin(&e)),
        "{text}"
    );
    assert_eq!(entries.iter().filter(by_admin).count(), 8, "{text}");
}

#[tokio::test]
async fn only_admins_read_or_export_the_audit_log_and_the_csv_filters_like_the_list() {
    let app = TestApp::start().await;
    let (_, _, agent_token, _) = crate::security::two_inboxes(&app).await;
    let agent = client_with_token(&agent_token);
    let (status, body) = app.call_with(&agent, "list_audit_log", json!({})).await;
    assert_eq!(status, 403, "{body}");
    let csv = agent
        .get(format!("{}/export/audit.csv", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 403);
    let anonymous = reqwest::get(format!("{}/export/audit.csv", app.url))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let (status, body) = app
        .call("list_audit_log", json!({"action": "user.deleted_all"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("unknown action"),
        "{body}"
    );

    let created = log(&app, json!({"action": "user.created"})).await;
    assert_eq!(
        created.len(),
        3,
        "the demo admin and the two agents two_inboxes made"
    );
    let page = app.ok("list_audit_log", json!({"limit": 1})).await;
    let next = page["next"].as_str().expect("more than one entry");
    let second = app
        .ok("list_audit_log", json!({"limit": 1, "before": next}))
        .await;
    assert_ne!(page["entries"][0]["id"], second["entries"][0]["id"]);

    let res = app
        .http
        .get(format!("{}/export/audit.csv?action=user.created", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("audit-log.csv")
    );
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "time", "actor", "actor_id", "action", "target", "changes", "address"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows.iter().all(|r| &r[3] == "user.created"));
    assert!(
        rows[0][0].ends_with('Z') && rows[0][0].contains('T'),
        "RFC 3339 times"
    );
    assert!(
        rows.iter().any(|r| r[4].contains("a@example.com")),
        "{text}"
    );
    // The export is itself audited.
    let exported = log(&app, json!({"action": "audit.exported"})).await;
    assert_eq!(exported.len(), 1);
}
