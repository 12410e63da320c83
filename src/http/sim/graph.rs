//! The simulated Graph API: sends, media uploads and downloads, and the template list,
//! answered as Meta answers them. A call must carry the access token of the number it
//! names, as at Meta.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::Digest;

use super::not_simulating;
use crate::accounts::auth::bearer;
use crate::context::AppState;
use crate::simulator::faults::{self, Fault};
use crate::simulator::{Number, SentRecord, Simulator, payloads, templates};
use crate::whatsapp::wire::{GraphError, GraphErrorEnvelope};

fn graph_error(status: StatusCode, code: i64, message: &str, details: &str) -> Response {
    let body = GraphErrorEnvelope {
        error: GraphError {
            message: message.to_string(),
            kind: Some("OAuthException".into()),
            code,
            error_data: Some(serde_json::json!({
                "messaging_product": "whatsapp",
                "details": details,
            })),
            fbtrace_id: Some(payloads::trace_id()),
            ..Default::default()
        },
    };
    (status, Json(body)).into_response()
}

/// The simulator and the number a Graph call names, if the call carries that number's
/// access token; otherwise the answer to give.
pub(super) async fn graph_caller<'a>(
    state: &'a AppState,
    phone_number_id: &str,
    headers: &HeaderMap,
) -> Result<(&'a Simulator, Number), Response> {
    let Some(sim) = state.simulator.as_ref() else {
        return Err(not_simulating());
    };
    let inbox = match state.store.inbox_by_phone_number_id(phone_number_id).await {
        Ok(Some(inbox)) => inbox,
        Ok(None) => {
            return Err(graph_error(
                StatusCode::BAD_REQUEST,
                100,
                "(#100) Invalid parameter",
                "Unknown phone number id.",
            ));
        }
        Err(e) => return Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()),
    };
    let number = Number::of(&state.config, &inbox);
    if bearer(headers) != Some(number.access_token.as_str()) {
        return Err(bad_token());
    }
    Ok((sim, number))
}

/// Meta's answer to a call without a valid access token.
fn bad_token() -> Response {
    graph_error(
        StatusCode::UNAUTHORIZED,
        190,
        "Invalid OAuth access token - Cannot parse access token",
        "The access token is missing or invalid.",
    )
}

#[derive(Deserialize)]
pub(super) struct TemplateQuery {
    status: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

/// `GET /{version}/{waba-id}/message_templates`: the simulated business account's
/// templates, for any number's access token (they all belong to that one account).
pub(super) async fn graph_templates(
    State(state): State<AppState>,
    Path((_version, _waba_id)): Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<TemplateQuery>,
    headers: HeaderMap,
) -> Response {
    if state.simulator.is_none() {
        return not_simulating();
    }
    let inboxes = match state.store.list_inboxes().await {
        Ok(inboxes) => inboxes,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let authorised = bearer(&headers).is_some_and(|t| {
        inboxes
            .iter()
            .any(|i| Number::of(&state.config, i).access_token == t)
    });
    if !authorised {
        return bad_token();
    }
    Json(templates::page(
        query.status.as_deref(),
        query.after.as_deref(),
        query.limit,
    ))
    .into_response()
}

/// `POST /{version}/{phone-number-id}/media`: a multipart upload, answered with a media id
/// that later sends (and `GET /{media-id}`) accept.
pub(super) async fn graph_upload(
    State(state): State<AppState>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    mut form: axum::extract::Multipart,
) -> Response {
    let (sim, number) = match graph_caller(&state, &phone_number_id, &headers).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let invalid = |details: &str| {
        graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "(#100) Invalid parameter",
            details,
        )
    };
    let (mut product, mut kind, mut file) = (None, None, None);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return invalid(&format!("The form could not be read: {e}")),
        };
        let name = field.name().unwrap_or_default().to_string();
        let part_type = field.content_type().map(str::to_string);
        let Ok(data) = field.bytes().await else {
            return invalid("The form could not be read.");
        };
        match name.as_str() {
            "messaging_product" => product = Some(String::from_utf8_lossy(&data).into_owned()),
            "type" => kind = Some(String::from_utf8_lossy(&data).into_owned()),
            "file" => file = Some((part_type, data.to_vec())),
            _ => {}
        }
    }
    if product.as_deref() != Some("whatsapp") {
        return invalid("messaging_product must be whatsapp.");
    }
    let Some((part_type, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return invalid("Param file must be a file.");
    };
    let Some(mime) = kind.or(part_type) else {
        return invalid("Param type is required.");
    };
    if let Some(Fault::UploadError { http_status }) = sim.take_fault(&number.phone_number_id, |f| {
        matches!(f, Fault::UploadError { .. })
    }) {
        let status = StatusCode::from_u16(http_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let (title, details) = faults::describe(131016);
        return graph_error(status, 131016, &format!("(#131016) {title}"), details);
    }
    let id = sim.add_media(&mime, bytes, &number);
    Json(serde_json::json!({ "id": id })).into_response()
}

/// `POST /{version}/{phone-number-id}/messages`, as the Graph API answers it.
pub(super) async fn graph_send(
    State(state): State<AppState>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (sim, number) = match graph_caller(&state, &phone_number_id, &headers).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let request: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                "(#100) Invalid parameter",
                &format!("The request body could not be read: {e}"),
            );
        }
    };
    if request.get("status").and_then(|s| s.as_str()) == Some("read") {
        return read_receipt(sim, &number.phone_number_id, &request);
    }
    if let Err(details) = check_send(&request).and_then(|()| sim.check_media_id(&request)) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "(#100) Invalid parameter",
            &details,
        );
    }
    if request.get("type").and_then(|t| t.as_str()) == Some("template")
        && let Err((code, title, details)) = templates::check(&request)
    {
        return graph_error(
            StatusCode::BAD_REQUEST,
            code,
            &format!("(#{code}) {title}"),
            &details,
        );
    }
    let field = |k: &str| request.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let Some(to) = field("to").or_else(|| field("recipient")) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            131008,
            "(#131008) Required parameter is missing",
            "Either to or recipient is required.",
        );
    };
    let kind = field("type").unwrap_or_default();

    if let Some(Fault::SendError { http_status, code }) = sim
        .take_fault(&number.phone_number_id, |f| {
            matches!(f, Fault::SendError { .. })
        })
    {
        let status = StatusCode::from_u16(http_status).unwrap_or(StatusCode::BAD_REQUEST);
        let (title, details) = faults::describe(code);
        return graph_error(status, code, &format!("(#{code}) {title}"), details);
    }

    let wamid = payloads::new_wamid();
    let pnid = number.phone_number_id.clone();
    let timeout = sim.take_fault(&pnid, |f| matches!(f, Fault::Timeout { .. }));
    let mut plan = faults::ReceiptPlan::from_faults(|pick| sim.take_fault(&pnid, pick));
    if let Some(Fault::Timeout {
        receipts_after_ms: Some(ms),
    }) = timeout
    {
        plan = plan.late(Duration::from_millis(ms));
    }
    if kind == "reaction" {
        // Meta only ever confirms a reaction as `sent`.
        plan.no_read = true;
    }
    let callback = field("biz_opaque_callback_data");
    sim.record_sent(SentRecord {
        phone_number_id: pnid.clone(),
        wamid: wamid.clone(),
        kind: kind.clone(),
        to: to.clone(),
        callback: callback.clone(),
        payload: request.get(&kind).cloned().unwrap_or_default(),
    });
    if plan.early {
        // The `sent` receipt lands before this response, as Meta sometimes manages.
        let body = payloads::status(
            &number.phone_number_id,
            &number.display_phone_number,
            &wamid,
            &to,
            "sent",
            callback.as_deref(),
            None,
        );
        if let Err(e) = sim.deliver(&number.app_secret, body).await {
            tracing::warn!(error = %e, "simulator: early receipt not delivered");
        }
    }
    sim.play_receipts(number, plan, wamid.clone(), to.clone(), callback);
    if timeout.is_some() {
        // Accepted, but the answer arrives after the app has stopped waiting for it.
        tokio::time::sleep(state.config.graph_timeout + Duration::from_millis(500)).await;
    }
    Json(payloads::send_response(&to, &wamid)).into_response()
}

/// A mark-as-read (with or without the typing indicator): `{"success": true}`.
fn read_receipt(sim: &Simulator, phone_number_id: &str, request: &serde_json::Value) -> Response {
    let Some(wamid) = request.get("message_id").and_then(|v| v.as_str()) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            131009,
            "(#131009) Parameter value is not valid",
            "message_id is required to mark a message read.",
        );
    };
    let typing = request.get("typing_indicator").is_some();
    sim.record_sent(SentRecord {
        phone_number_id: phone_number_id.to_string(),
        wamid: wamid.to_string(),
        kind: if typing { "read+typing" } else { "read" }.into(),
        to: String::new(),
        callback: None,
        payload: serde_json::Value::Null,
    });
    Json(serde_json::json!({ "success": true })).into_response()
}

/// The checks Meta makes before accepting a send, for the types the app sends.
fn check_send(r: &serde_json::Value) -> Result<(), String> {
    let s = |path: &[&str]| {
        let mut v = r;
        for k in path {
            v = v.get(k)?;
        }
        v.as_str()
    };
    if s(&["messaging_product"]) != Some("whatsapp") {
        return Err("messaging_product must be whatsapp.".into());
    }
    match s(&["type"]).unwrap_or("text") {
        "text" => match s(&["text", "body"]) {
            Some(b) if !b.trim().is_empty() && b.chars().count() <= 4096 => Ok(()),
            _ => Err("text.body must be 1 to 4096 characters.".into()),
        },
        "reaction" => s(&["reaction", "message_id"])
            .map(|_| ())
            .ok_or_else(|| "reaction.message_id is required.".into()),
        "template" => match (
            s(&["template", "name"]),
            s(&["template", "language", "code"]),
        ) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err("template.name and template.language.code are required.".into()),
        },
        "interactive" => s(&["interactive", "body", "text"])
            .map(|_| ())
            .ok_or_else(|| "interactive.body.text is required.".into()),
        kind @ ("image" | "video" | "audio" | "document" | "sticker") => {
            if s(&[kind, "id"]).is_some() || s(&[kind, "link"]).is_some() {
                Ok(())
            } else {
                Err(format!("{kind}.id or {kind}.link is required."))
            }
        }
        other => Err(format!("type {other} is not supported by the simulator.")),
    }
}

/// `GET /{version}/{media-id}`: a short-lived download URL, as Meta answers it.
pub(super) async fn graph_media_url(
    State(state): State<AppState>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(sim) = state.simulator.as_ref() else {
        return not_simulating();
    };
    // The `media_gone` fault is only used up on a lookup that would have succeeded.
    let Some(media) = sim.media_for(&media_id, bearer(&headers)).filter(|m| {
        sim.take_fault(&m.phone_number_id, |f| matches!(f, Fault::MediaGone))
            .is_none()
    }) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            100,
            "(#100) Invalid parameter",
            "Unsupported get request. Object does not exist or has expired.",
        );
    };
    let sha = hex::encode(sha2::Sha256::digest(&media.bytes));
    Json(serde_json::json!({
        "messaging_product": "whatsapp",
        "url": format!("{}/_sim/media/{media_id}?ext={}", sim.app_url(), crate::store::now_ms() / 1000 + 300),
        "mime_type": media.mime_type,
        "sha256": sha,
        "file_size": media.bytes.len().to_string(),
        "id": media_id,
    }))
    .into_response()
}

/// The download itself: needs the bearer token, and the scripted media faults apply.
pub(super) async fn media_download(
    State(state): State<AppState>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(sim) = state.simulator.as_ref() else {
        return not_simulating();
    };
    let Some(media) = sim.media_for(&media_id, bearer(&headers)) else {
        return (StatusCode::NOT_FOUND, "no such media").into_response();
    };
    if sim
        .take_fault(&media.phone_number_id, |f| {
            matches!(f, Fault::MediaUrlExpired)
        })
        .is_some()
    {
        return (StatusCode::UNAUTHORIZED, "URL signature expired").into_response();
    }
    if let Some(Fault::MediaError { http_status }) = sim.take_fault(&media.phone_number_id, |f| {
        matches!(f, Fault::MediaError { .. })
    }) {
        let status = StatusCode::from_u16(http_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return (status, "simulated media failure").into_response();
    }
    (
        [(axum::http::header::CONTENT_TYPE, media.mime_type)],
        media.bytes,
    )
        .into_response()
}
