//! The `switchboard` administration commands, run as a shell user would.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::support::*;

fn switchboard(db: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn admins_manage_users_inboxes_and_tokens_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");

    let (code, out, err) = switchboard(
        &db,
        &[
            "user",
            "add",
            "--email",
            "Boss@Example.com",
            "--name",
            "Boss",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("a-long-password\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created admin boss@example.com"), "{out}");
    assert!(!out.contains("a-long-password"));

    let (code, out, _) = switchboard(
        &db,
        &[
            "user",
            "add",
            "--email",
            "agent@example.com",
            "--name",
            "Agent",
        ],
        None,
    );
    assert_eq!(code, 0);
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap()
        .to_string();
    assert!(generated.len() >= 16);

    let (code, _, err) = switchboard(
        &db,
        &[
            "inbox",
            "add",
            "--phone-number-id",
            "400000000000001",
            "--name",
            "Support",
            "--app-secret",
            "s3",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = switchboard(
        &db,
        &[
            "member",
            "add",
            "--email",
            "agent@example.com",
            "--phone-number-id",
            "400000000000001",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = switchboard(
        &db,
        &[
            "token",
            "create",
            "--email",
            "agent@example.com",
            "--name",
            "crm",
        ],
        None,
    );
    assert_eq!(code, 0);
    let secret = out.lines().last().unwrap().trim().to_string();
    assert!(secret.starts_with("sbt_"), "{out}");

    let (_, users, _) = switchboard(&db, &["user", "list"], None);
    assert!(
        users.contains("boss@example.com\tadmin") && users.contains("agent@example.com\tagent"),
        "{users}"
    );
    let (_, inboxes, _) = switchboard(&db, &["inbox", "list"], None);
    assert!(
        inboxes.contains("400000000000001\tSupport\t1 member(s)\town credentials"),
        "{inboxes}"
    );

    // Mistakes are one clear complaint and exit 2; nothing changes.
    let (code, _, err) = switchboard(&db, &["user", "add", "--email", "x@example.com"], None);
    assert_eq!(code, 2);
    assert!(err.contains("--name is required"), "{err}");
    let (code, _, err) = switchboard(&db, &["user", "frobnicate"], None);
    assert_eq!(code, 2);
    assert!(err.contains("unknown command"), "{err}");
    let (code, _, err) = switchboard(
        &db,
        &[
            "member",
            "add",
            "--email",
            "nobody@example.com",
            "--phone-number-id",
            "1",
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("no user with email"), "{err}");

    // What the shell created works against a running server.
    let app = TestApp::start_on(&db, &[]).await;
    let agent = client_with_token(&secret);
    let (status, me) = app.call_with(&agent, "me", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["email"], "agent@example.com");
    assert_eq!(me["inbox_ids"].as_array().unwrap().len(), 1);
    let (status, _) = app.call_with(&agent, "list_users", json!({})).await;
    assert_eq!(status, 403);
    let (code, _, _) = switchboard(&db, &["token", "list"], None);
    assert_eq!(code, 0);
    drop(dir);
}

#[tokio::test]
async fn admins_manage_outgoing_webhooks_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let run = |args: &[&str]| switchboard(&db, args, None);

    let (code, _, err) = run(&["webhook", "add", "--url", "http://127.0.0.1:9/hook"]);
    assert_ne!(code, 0);
    assert!(err.contains("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE"), "{err}");
    let (code, _, err) = run(&[
        "webhook",
        "add",
        "--url",
        "https://93.184.216.34/h",
        "--inbox",
        "999",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("999"), "{err}");

    let (code, out, err) = run(&[
        "webhook",
        "add",
        "--url",
        "https://93.184.216.34/h",
        "--event",
        "message.created",
        "--event",
        "conversation.updated",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("shown once"), "{out}");
    let secret = out.lines().last().unwrap();
    assert!(secret.starts_with("whsec_"), "{out}");
    let id = out.split_whitespace().nth(2).unwrap().to_string();

    let (code, out, _) = run(&["webhook", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&id) && out.contains("message.created,conversation.updated"),
        "{out}"
    );
    assert!(out.contains("active") && !out.contains(secret), "{out}");
    let (code, out, _) = run(&["webhook", "pause", "--id", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("paused"), "{out}");
    let (code, out, _) = run(&["webhook", "replay", "--id", &id, "--since", "0"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&["webhook", "delete", "--id", &id]);
    assert_eq!((code, out.trim()), (0, "webhook deleted"));
    let (code, _, err) = run(&["webhook", "delete", "--id", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("no such webhook subscription"), "{err}");
}

#[tokio::test]
async fn an_operator_hands_a_leaving_agents_conversations_on_from_the_shell_and_tabs_see_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let app = TestApp::start_on(&db, &[]).await;
    let run = |args: &[&str]| switchboard(&db, args, None);
    let pnid = "200000000000001";
    for (email, name) in [("bo@example.com", "Bo"), ("cy@example.com", "Cy")] {
        let (code, _, err) = switchboard(
            &db,
            &[
                "user",
                "add",
                "--email",
                email,
                "--name",
                name,
                "--role",
                "agent",
                "--password-stdin",
            ],
            Some("a-long-password\n"),
        );
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = run(&[
        "member",
        "add",
        "--email",
        "bo@example.com",
        "--phone-number-id",
        pnid,
    ]);
    assert_eq!(code, 0, "{err}");
    let mut ids = Vec::new();
    for (i, text) in ["one", "two", "three"].iter().enumerate() {
        ids.push(app.customer_writes(&format!("551190000010{i}"), text).await);
    }
    for id in &ids {
        let (code, out, err) = run(&[
            "conversation",
            "assign",
            "--id",
            id,
            "--to",
            "bo@example.com",
        ]);
        assert_eq!(
            (code, out.trim()),
            (0, "assigned 1 conversation(s) to bo@example.com"),
            "{err}"
        );
    }
    let (code, out, _) = run(&["conversation", "list", "--assignee", "bo@example.com"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.lines().all(|l| l.contains("\topen\tBo\t")), "{out}");

    // Cy cannot see the inbox yet: nothing moves, and the operator is told why.
    let (code, _, err) = run(&[
        "conversation",
        "assign",
        "--from",
        "bo@example.com",
        "--to",
        "cy@example.com",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot see its inbox"), "{err}");
    let (code, _, _) = run(&[
        "member",
        "add",
        "--email",
        "cy@example.com",
        "--phone-number-id",
        pnid,
    ]);
    assert_eq!(code, 0);

    let mut ws = app.socket(None).await;
    ws.until(|f| f["type"] == "ready").await;
    let (code, out, err) = run(&[
        "conversation",
        "assign",
        "--from",
        "bo@example.com",
        "--to",
        "cy@example.com",
    ]);
    assert_eq!(
        (code, out.trim()),
        (0, "assigned 3 conversation(s) to cy@example.com"),
        "{err}"
    );
    ws.until(|f| f["type"] == "conversation.updated" && f["data"]["assignee"]["name"] == "Cy")
        .await;
    let (_, out, _) = run(&["conversation", "list", "--assignee", "bo@example.com"]);
    assert_eq!(out.trim(), "", "Bo owns nothing now");
    let (_, out, _) = run(&["conversation", "list", "--assignee", "cy@example.com"]);
    assert_eq!(out.lines().count(), 3, "{out}");

    let (code, out, _) = run(&[
        "conversation",
        "status",
        "--id",
        &ids[0],
        "--set",
        "resolved",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("{}\tresolved\tCy\t", ids[0])),
        "{out}"
    );
    let (_, out, _) = run(&["conversation", "list", "--status", "resolved"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let (code, _, err) = run(&[
        "conversation",
        "status",
        "--id",
        &ids[0],
        "--set",
        "snoozed",
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["conversation", "status", "--id", "nope", "--set", "open"]);
    assert_eq!(code, 1);
    assert!(err.contains("no conversation nope"), "{err}");
    let (code, out, _) = run(&["conversation", "assign", "--id", &ids[1], "--nobody"]);
    assert_eq!(
        (code, out.trim()),
        (0, "assigned 1 conversation(s) to nobody")
    );
    let (_, out, _) = run(&["conversation", "list", "--unassigned"]);
    assert!(out.starts_with(&ids[1]), "{out}");
}
