//! Files agents attach: uploaded to us, checked, then uploaded to Meta by the send, which
//! sends it by media id; the file is served from our copy.

use serde_json::{Value, json};

use crate::cloud_api::{message, send_outgoing, sent_log, wait_status};
use crate::support::*;

pub const PNG: &[u8] = include_bytes!("../../src/simulator/sample.png");

pub async fn upload(app: &TestApp, mime: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let res = app
        .http
        .post(format!("{}/uploads?filename={name}", app.url))
        .header("content-type", mime)
        .body(bytes)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn an_attached_photo_goes_out_by_media_id_and_is_served_from_our_copy() {
    let app = TestApp::start().await;
    let conv = app
        .customer_writes("5511987650001", "Can you send a photo?")
        .await;
    let customer = app.messages(&conv).await[0].clone();

    let (status, info) = upload(&app, "image/png", "shelf%20photo.png", PNG.to_vec()).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["kind"], "image");
    assert_eq!(info["filename"], "shelf photo.png");
    assert_eq!(info["size"], PNG.len());

    let send = json!({"type": "upload", "upload": info["upload"], "caption": "Here it is",
        "reply_to": customer["id"]});
    let (status, m) = send_outgoing(&app, &conv, send.clone()).await;
    assert_eq!(status, 200, "{m}");
    assert!(m["wamid"].is_string(), "accepted: {m}");
    assert_eq!(m["kind"], "image");
    assert_eq!(m["text"], "Here it is");
    assert_eq!(m["reply_to"], customer["wamid"]);
    let media = &m["details"]["media"];
    assert!(media["media_id"].is_string(), "uploaded to Meta first: {m}");
    assert_eq!(media["state"], "stored");

    let sent = sent_log(&app).await;
    assert_eq!(sent.last().unwrap()["type"], "image");

    // Agents see it from our copy, streamed with its type and length.
    let res = app.media(&m).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(
        res.headers()["content-length"],
        PNG.len().to_string().as_str()
    );
    assert_eq!(&res.bytes().await.unwrap()[..], PNG);

    // A send claims its upload: the same upload cannot be sent again.
    let (status, again) = send_outgoing(&app, &conv, send).await;
    assert_eq!(status, 404, "{again}");
}

#[tokio::test]
async fn files_whatsapp_would_refuse_are_refused_with_the_reason() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;

    let (status, e) = upload(&app, "image/gif", "a.gif", b"GIF89a".to_vec()).await;
    assert_eq!(status, 415, "{e}");
    assert!(e["message"].as_str().unwrap().contains("image/gif"), "{e}");

    let (status, e) = upload(&app, "image/webp", "big.webp", vec![0; 600 * 1024]).await;
    assert_eq!(status, 413, "a sticker is at most 500 KiB: {e}");
    assert!(e["message"].as_str().unwrap().contains("sticker"), "{e}");

    let (status, e) = upload(&app, "application/pdf", "empty.pdf", Vec::new()).await;
    assert_eq!(status, 400, "{e}");

    let res = reqwest::Client::new()
        .post(format!("{}/uploads", app.url))
        .header("content-type", "image/png")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "uploads need a signed-in caller");

    // Audio takes no caption; an unknown upload is not found. Nothing went out.
    let (_, audio) = upload(&app, "audio/ogg", "note.ogg", vec![1; 1000]).await;
    let (status, e) = send_outgoing(
        &app,
        &conv,
        json!({"type": "upload", "upload": audio["upload"], "caption": "listen"}),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    let (status, _) = send_outgoing(&app, &conv, json!({"type": "upload", "upload": uuid()})).await;
    assert_eq!(status, 404);
    let (status, _) = send_outgoing(
        &app,
        &conv,
        json!({"type": "upload", "upload": "../../etc/passwd"}),
    )
    .await;
    assert_eq!(status, 404);
    assert!(sent_log(&app).await.is_empty());
}

#[tokio::test]
async fn a_failed_upload_to_meta_is_retried_and_the_file_goes_out_once() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let (_, info) = upload(
        &app,
        "application/pdf",
        "invoice.pdf",
        b"%PDF-1.4 test".to_vec(),
    )
    .await;
    app.add_fault(json!({"fault": "upload_error", "http_status": 503}))
        .await;
    let (status, m) = send_outgoing(
        &app,
        &conv,
        json!({"type": "upload", "upload": info["upload"]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["status"], "pending", "waiting for the retry: {m}");
    assert!(m["details"]["waiting"].is_object(), "{m}");
    let id = m["id"].as_str().unwrap();
    // The receipts follow at once: wait for the last, not for `sent`, which may pass
    // between two looks.
    wait_status(&app, &conv, id, "read").await;
    let m = message(&app, &conv, id).await;
    assert_eq!(m["details"]["media"]["filename"], "invoice.pdf");
    let documents = sent_log(&app)
        .await
        .iter()
        .filter(|s| s["type"] == "document")
        .count();
    assert_eq!(documents, 1);
}
