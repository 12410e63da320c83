//! A built-in stand-in for the Cloud API, used when no access token is configured.
//!
//! It speaks Meta's JSON on both sides: it answers `POST /{phone-number-id}/messages` like
//! the Graph API, and it delivers signed webhooks to the app's real `/webhook` route, with
//! the receipts' realistic delays and Meta's retry-on-failure. Faults are scripted on
//! demand so every ugly case can be tried by hand and by tests.

mod faults;
mod payloads;
mod templates;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use rand::Rng;
use serde::Deserialize;
use sha2::Digest;

pub use faults::Fault;

/// Reads one fault or a list, as `POST /_sim/faults` and the UI send them.
pub fn parse_faults(value: serde_json::Value) -> Result<Vec<Fault>, serde_json::Error> {
    serde_json::from_value::<faults::FaultInput>(value).map(faults::FaultInput::into_vec)
}

use crate::model::DemoCustomer;
use crate::server::admin::effective_credentials;
use crate::server::auth::{Principal, bearer};
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::store::Inbox;
use crate::whatsapp::signature;
use crate::whatsapp::wire::{GraphError, GraphErrorEnvelope};

/// Customers the simulator can write as.
pub const DEMO_CUSTOMERS: &[(&str, &str)] = &[
    ("5511987650001", "Ana Souza"),
    ("5511987650002", "Bruno Lima"),
    ("4915112345678", "Jonas Weber"),
    ("14155550123", "Maya Chen"),
    ("447700900123", "Olivia Brown"),
    ("918012345678", "Priya Sharma"),
];

const CUSTOMER_LINES: &[&str] = &[
    "Hi! Is my order on its way?",
    "Can I change the delivery address?",
    "The package arrived damaged 😕",
    "Do you ship to Portugal?",
    "Thanks, that worked!",
    "What are your opening hours?",
    "I was charged twice for order #4411",
    "Can I get an invoice for my last purchase?",
];

#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    webhook_url: String,
    receipt_delays: [Duration; 3],
    /// Queued faults, per phone number id: one inbox's test never trips another's send.
    faults: Mutex<HashMap<String, Vec<Fault>>>,
    /// Files customers "sent", by media id: what `GET /{media-id}` and the download serve.
    media: Mutex<HashMap<String, SimMedia>>,
    /// Every accepted send, so tests and people can check nothing went out twice.
    sent: Mutex<Vec<SentRecord>>,
    app_url: String,
}

#[derive(Clone)]
struct SimMedia {
    mime_type: String,
    bytes: Vec<u8>,
    access_token: String,
    /// The number it was sent to or uploaded from: its faults apply.
    phone_number_id: String,
}

/// One send the simulated Graph API accepted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SentRecord {
    /// The number that sent it: each caller sees only its own inboxes' sends.
    pub phone_number_id: String,
    pub wamid: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub to: String,
    pub callback: Option<String>,
    /// The type's object as sent (`template`, `image`, …), so a test can see exactly what
    /// went out; empty for read receipts.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub payload: serde_json::Value,
}

/// A small PNG, the "photo" simulated customers send.
const SAMPLE_PNG: &[u8] = include_bytes!("sample.png");

/// What a simulated customer sends: `kind` is a message type (text when left out).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomerInput {
    pub wa_id: Option<String>,
    pub name: Option<String>,
    pub text: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// The wamid a reaction, reply or button tap refers to.
    #[serde(default)]
    pub target: Option<String>,
    /// A file of the caller's choosing for a media kind, instead of the sample: its
    /// type, its name (documents) and its content as text.
    #[serde(default)]
    pub file: Option<CustomerFile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomerFile {
    pub mime_type: String,
    pub filename: Option<String>,
    #[serde(default)]
    pub content: String,
}

pub struct SimulatorSettings {
    /// Where the app listens, e.g. `http://127.0.0.1:3000`.
    pub app_url: String,
    pub receipt_delays: [Duration; 3],
}

/// How the simulator speaks for one inbox: Meta signs with the app secret of the app the
/// number belongs to, and accepts that number's access token.
struct Number {
    phone_number_id: String,
    display_phone_number: String,
    app_secret: String,
    access_token: String,
}

impl Number {
    fn of(state: &AppState, inbox: &Inbox) -> Self {
        let c = effective_credentials(&state.config, inbox);
        Self {
            phone_number_id: inbox.phone_number_id.clone(),
            display_phone_number: inbox.display_phone_number.clone().unwrap_or_default(),
            app_secret: c.app_secret.unwrap_or_default(),
            access_token: c.access_token.unwrap_or_default(),
        }
    }
}

impl Simulator {
    pub fn new(s: SimulatorSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                http,
                webhook_url: format!("{}/webhook", s.app_url.trim_end_matches('/')),
                receipt_delays: s.receipt_delays,
                faults: Mutex::new(HashMap::new()),
                media: Mutex::new(HashMap::new()),
                sent: Mutex::new(Vec::new()),
                app_url: s.app_url.trim_end_matches('/').to_string(),
            }),
        }
    }

    /// The Graph API base the app's client should use.
    pub fn api_base(app_url: &str) -> String {
        format!("{}/_sim/graph/v24.0", app_url.trim_end_matches('/'))
    }

    pub fn demo_customers() -> Vec<DemoCustomer> {
        DEMO_CUSTOMERS
            .iter()
            .map(|(wa_id, name)| DemoCustomer {
                wa_id: wa_id.to_string(),
                name: name.to_string(),
            })
            .collect()
    }

    /// A customer writes a text to `inbox`. Returns the wamid.
    pub async fn customer_text(
        &self,
        state: &AppState,
        inbox: &Inbox,
        wa_id: Option<&str>,
        name: Option<&str>,
        text: Option<&str>,
    ) -> Result<String, SimError> {
        let input = CustomerInput {
            wa_id: wa_id.map(str::to_string),
            name: name.map(str::to_string),
            text: text.map(str::to_string),
            ..CustomerInput::default()
        };
        self.customer_message(state, inbox, &input).await
    }

    /// A customer sends a message of any type to `inbox`: builds Meta's inbound webhook
    /// and delivers it. Returns the wamid.
    pub async fn customer_message(
        &self,
        state: &AppState,
        inbox: &Inbox,
        input: &CustomerInput,
    ) -> Result<String, SimError> {
        let (wa_id, default_name) = match input.wa_id.as_deref() {
            Some(w) => {
                if w.is_empty() || !w.chars().all(|c| c.is_ascii_digit()) || w.len() > 20 {
                    return Err(SimError::BadRequest(
                        "wa_id must be phone digits without +".into(),
                    ));
                }
                let known = DEMO_CUSTOMERS.iter().find(|(id, _)| *id == w);
                (w.to_string(), known.map(|(_, n)| n.to_string()))
            }
            None => {
                let (w, n) = DEMO_CUSTOMERS[rand::rng().random_range(0..DEMO_CUSTOMERS.len())];
                (w.to_string(), Some(n.to_string()))
            }
        };
        let name = input.name.clone().or(default_name);
        let text = input
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let number = Number::of(state, inbox);
        let message = self.message_of(&number, input, text)?;
        let wamid = payloads::new_wamid();
        let body = payloads::inbound(
            &number.phone_number_id,
            &number.display_phone_number,
            &wa_id,
            name.as_deref(),
            &wamid,
            message,
        );
        let times = if self
            .take_fault(&number.phone_number_id, |f| {
                matches!(f, Fault::DuplicateWebhooks)
            })
            .is_some()
        {
            2
        } else {
            1
        };
        for _ in 0..times {
            self.deliver(&number.app_secret, body.clone()).await?;
        }
        Ok(wamid)
    }

    /// The `messages[]` object for one simulated customer message.
    fn message_of(
        &self,
        number: &Number,
        input: &CustomerInput,
        text: Option<String>,
    ) -> Result<serde_json::Value, SimError> {
        use serde_json::json;
        let kind = input.kind.as_deref().unwrap_or("text");
        let target = || {
            input.target.clone().ok_or_else(|| {
                SimError::BadRequest(format!("a {kind} needs `target`, the wamid it refers to"))
            })
        };
        let line = || {
            text.clone().unwrap_or_else(|| {
                CUSTOMER_LINES[rand::rng().random_range(0..CUSTOMER_LINES.len())].to_string()
            })
        };
        let mut message = match kind {
            "text" => json!({ "type": "text", "text": { "body": line() } }),
            "image" | "document" | "audio" | "video" | "sticker" => {
                let (mime, bytes): (&str, Vec<u8>) = match (kind, &input.file) {
                    (_, Some(f)) => (f.mime_type.as_str(), f.content.clone().into_bytes()),
                    (kind, None) => match kind {
                        "image" => ("image/png", SAMPLE_PNG.to_vec()),
                        "video" => ("video/mp4", b"\0\0\0\x18ftypmp42 simulated".to_vec()),
                        "sticker" => ("image/png", SAMPLE_PNG.to_vec()),
                        "document" => (
                            "application/pdf",
                            b"%PDF-1.4\n% Switchboard simulator invoice\n%%EOF\n".to_vec(),
                        ),
                        _ => (
                            "audio/ogg; codecs=opus",
                            b"OggS simulated voice note".to_vec(),
                        ),
                    },
                };
                let media_id = self.add_media(mime, bytes.clone(), number);
                let sha = base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    sha2::Sha256::digest(&bytes),
                );
                let mut object = json!({ "id": media_id, "mime_type": mime, "sha256": sha });
                match kind {
                    "document" => {
                        let name = input.file.as_ref().and_then(|f| f.filename.clone());
                        object["filename"] = json!(name.as_deref().unwrap_or("invoice-42.pdf"))
                    }
                    "audio" => object["voice"] = json!(true),
                    _ => {}
                }
                if let Some(t) = &text
                    && !matches!(kind, "audio" | "sticker")
                {
                    object["caption"] = json!(t);
                }
                json!({ "type": kind, kind: object })
            }
            "location" => json!({ "type": "location", "location": {
                "latitude": -23.5613, "longitude": -46.6565,
                "name": "Av. Paulista, 1578", "address": "São Paulo, SP" } }),
            "contacts" => json!({ "type": "contacts", "contacts": [{
                "name": { "formatted_name": "Rachel Green", "first_name": "Rachel" },
                "phones": [{ "phone": "+1 777-777-7777", "wa_id": "17777777777", "type": "WORK" }],
                "emails": [{ "email": "rachel@example.com", "type": "WORK" }] }] }),
            "reaction" => json!({ "type": "reaction", "reaction": {
                "message_id": target()?, "emoji": text.clone().unwrap_or_default() } }),
            "button_reply" => json!({ "type": "interactive",
                "context": { "from": number.display_phone_number, "id": target()? },
                "interactive": { "type": "button_reply",
                    "button_reply": { "id": "yes", "title": text.clone().unwrap_or_else(|| "Yes".into()) } } }),
            "list_reply" => json!({ "type": "interactive",
                "interactive": { "type": "list_reply",
                    "list_reply": { "id": "plan_pro", "title": text.clone().unwrap_or_else(|| "Pro".into()),
                        "description": "5 seats" } } }),
            "nfm_reply" => json!({ "type": "interactive",
                "interactive": { "type": "nfm_reply", "nfm_reply": { "name": "flow", "body": "Sent",
                    "response_json": "{\"flow_token\":\"FT1\",\"rating\":\"5\"}" } } }),
            "button" => json!({ "type": "button",
                "button": { "text": text.clone().unwrap_or_else(|| "Stop promotions".into()), "payload": "OPT_OUT" } }),
            "edit" => json!({ "type": "edit", "edit": { "original_message_id": target()?,
                "message": { "type": "text", "text": { "body": line() } } } }),
            "revoke" => json!({ "type": "revoke", "revoke": { "original_message_id": target()? } }),
            "referral" => json!({ "type": "text", "text": { "body": line() },
                "referral": { "source_url": "https://fb.me/sim", "source_id": "120211000000",
                    "source_type": "ad", "headline": "Summer sale", "body": "Tap to chat",
                    "media_type": "image", "ctwa_clid": "ARAkSIM" } }),
            "order" => {
                json!({ "type": "order", "order": { "catalog_id": "354160437058781", "text": "",
                "product_items": [
                    { "product_retailer_id": "SKU-1", "quantity": 2, "item_price": 30, "currency": "BRL" },
                    { "product_retailer_id": "SKU-7", "quantity": 1, "item_price": 12.5, "currency": "BRL" } ] } })
            }
            "unsupported" => {
                json!({ "type": "unsupported", "unsupported": { "type": "poll_creation" },
                "errors": [{ "code": 131051, "title": "Message type unknown",
                    "error_data": { "details": "Message type is currently not supported." } }] })
            }
            "hologram" => json!({ "type": "hologram", "hologram": { "depth": 3 } }),
            other => {
                return Err(SimError::BadRequest(format!(
                    "unknown kind {other}: use text, image, video, document, audio, sticker, \
                     location, contacts, reaction, button_reply, list_reply, nfm_reply, button, \
                     order, edit, revoke, referral, unsupported or hologram"
                )));
            }
        };
        if kind == "text"
            && let Some(t) = &input.target
        {
            message["context"] = json!({ "from": number.display_phone_number, "id": t });
        }
        Ok(message)
    }

    fn add_media(&self, mime: &str, bytes: Vec<u8>, number: &Number) -> String {
        let id: u64 = rand::rng().random_range(1_000_000_000_000_000..9_000_000_000_000_000);
        let id = id.to_string();
        if let Ok(mut m) = self.inner.media.lock() {
            m.insert(
                id.clone(),
                SimMedia {
                    mime_type: mime.to_string(),
                    bytes,
                    access_token: number.access_token.clone(),
                    phone_number_id: number.phone_number_id.clone(),
                },
            );
        }
        id
    }

    /// `count` customers write at once, as after an outage or a broadcast reply.
    pub async fn burst(&self, state: &AppState, inbox: &Inbox, count: usize) -> usize {
        let mut tasks = Vec::new();
        for i in 0..count {
            let sim = self.clone();
            let state = state.clone();
            let inbox = inbox.clone();
            tasks.push(tokio::spawn(async move {
                let input = CustomerInput {
                    text: Some(format!("Burst message {}", i + 1)),
                    ..CustomerInput::default()
                };
                sim.customer_message(&state, &inbox, &input).await
            }));
        }
        let mut delivered = 0;
        for t in tasks {
            if let Ok(Ok(_)) = t.await {
                delivered += 1;
            }
        }
        delivered
    }

    /// Signs and POSTs one webhook body to the app, retrying like Meta on failure.
    async fn deliver(&self, app_secret: &str, body: String) -> Result<(), SimError> {
        let sig = signature::sign(app_secret.as_bytes(), body.as_bytes());
        let mut wait = Duration::from_millis(250);
        for attempt in 1..=6 {
            let result = self
                .inner
                .http
                .post(&self.inner.webhook_url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", &sig)
                .body(body.clone())
                .send()
                .await;
            match result {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if r.status().is_client_error() => {
                    // Meta keeps retrying 4xx too, but for the simulator a 4xx is a bug.
                    return Err(SimError::Rejected(r.status().as_u16()));
                }
                Ok(r) => tracing::warn!(
                    status = r.status().as_u16(),
                    attempt,
                    "simulator: webhook not accepted; retrying"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "simulator: webhook delivery failed; retrying")
                }
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        Err(SimError::Undelivered)
    }

    fn take_fault(&self, phone_number_id: &str, pick: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let mut faults = self.inner.faults.lock().ok()?;
        let queue = faults.get_mut(phone_number_id)?;
        let i = queue.iter().position(pick)?;
        Some(queue.remove(i))
    }

    /// Queues faults for the inbox with this phone number id.
    pub fn add_faults(&self, phone_number_id: &str, faults: Vec<Fault>) {
        if let Ok(mut q) = self.inner.faults.lock() {
            q.entry(phone_number_id.to_string())
                .or_default()
                .extend(faults);
        }
    }

    pub fn pending_faults(&self, phone_number_id: &str) -> Vec<Fault> {
        self.inner
            .faults
            .lock()
            .ok()
            .and_then(|q| q.get(phone_number_id).cloned())
            .unwrap_or_default()
    }

    fn clear_faults(&self, phone_number_id: &str) {
        if let Ok(mut q) = self.inner.faults.lock() {
            q.remove(phone_number_id);
        }
    }

    /// Plays the receipts for an accepted send, in the order a fault asks for.
    fn play_receipts(
        &self,
        number: Number,
        plan: faults::ReceiptPlan,
        wamid: String,
        to: String,
        callback: Option<String>,
    ) {
        let sim = self.clone();
        tokio::spawn(async move {
            for step in plan.steps(&sim.inner.receipt_delays) {
                tokio::time::sleep(step.delay).await;
                let body = payloads::status(
                    &number.phone_number_id,
                    &number.display_phone_number,
                    &wamid,
                    &to,
                    step.status,
                    callback.as_deref(),
                    step.error_code,
                );
                let copies = if plan.duplicate { 2 } else { 1 };
                let mut deliveries = Vec::new();
                for _ in 0..copies {
                    let sim = sim.clone();
                    let body = body.clone();
                    let secret = number.app_secret.clone();
                    deliveries.push(tokio::spawn(
                        async move { sim.deliver(&secret, body).await },
                    ));
                }
                for d in deliveries {
                    if let Ok(Err(e)) = d.await {
                        tracing::warn!(error = %e, "simulator: receipt not delivered");
                    }
                }
            }
        });
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    BadRequest(String),
    #[error("the app rejected the simulated webhook with HTTP {0}")]
    Rejected(u16),
    #[error("the app did not accept the simulated webhook after several tries")]
    Undelivered,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/graph/{version}/{phone_number_id}/messages",
            post(graph_send),
        )
        .route(
            "/graph/{version}/{phone_number_id}/media",
            // Meta takes documents up to 100 MB.
            post(graph_upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::uploads::MAX_UPLOAD as usize + 64 * 1024,
            )),
        )
        .route("/graph/{version}/{media_id}", get(graph_media_url))
        .route(
            "/graph/{version}/{waba_id}/message_templates",
            get(graph_templates),
        )
        .route("/media/{media_id}", get(media_download))
        .route("/customer/messages", post(customer_message))
        .route("/burst", post(burst))
        .route("/sent", get(list_sent))
        .route(
            "/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
}

fn not_simulating() -> Response {
    (StatusCode::NOT_FOUND, "not in simulator mode").into_response()
}

/// The simulator's controls act on real inboxes: they need a signed-in caller who may see
/// the inbox in question (the Graph endpoint instead checks the inbox's access token, as
/// Meta does).
fn controls(
    state: &AppState,
    principal: Option<Extension<Principal>>,
) -> Result<(&Simulator, Principal), Refusal> {
    let Some(Extension(principal)) = principal else {
        return Err(Refusal::NotSignedIn);
    };
    match state.simulator.as_ref() {
        Some(sim) => Ok((sim, principal)),
        None => Err(Refusal::NotSimulating),
    }
}

/// Why a simulator control was refused.
enum Refusal {
    NotSignedIn,
    NotSimulating,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::NotSignedIn => {
                AppError::Unauthorized("sign in, or send Authorization: Bearer <API token>".into())
                    .into_response()
            }
            Self::NotSimulating => not_simulating(),
        }
    }
}

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
async fn graph_caller<'a>(
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
    let number = Number::of(state, &inbox);
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
struct TemplateQuery {
    status: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

/// `GET /{version}/{waba-id}/message_templates`: the simulated business account's
/// templates, for any number's access token (they all belong to that one account).
async fn graph_templates(
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
            .any(|i| Number::of(&state, i).access_token == t)
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
async fn graph_upload(
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
async fn graph_send(
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
    if let Ok(mut sent) = sim.inner.sent.lock() {
        sent.push(SentRecord {
            phone_number_id: pnid.clone(),
            wamid: wamid.clone(),
            kind: kind.clone(),
            to: to.clone(),
            callback: callback.clone(),
            payload: request.get(&kind).cloned().unwrap_or_default(),
        });
    }
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
    if let Ok(mut sent) = sim.inner.sent.lock() {
        sent.push(SentRecord {
            phone_number_id: phone_number_id.to_string(),
            wamid: wamid.to_string(),
            kind: if typing { "read+typing" } else { "read" }.into(),
            to: String::new(),
            callback: None,
            payload: serde_json::Value::Null,
        });
    }
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
async fn graph_media_url(
    State(state): State<AppState>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(sim) = state.simulator.as_ref() else {
        return not_simulating();
    };
    // The `media_gone` fault is only used up on a lookup that would have succeeded.
    let Some(media) = sim.media_for(&media_id, &headers).filter(|m| {
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
        "url": format!("{}/_sim/media/{media_id}?ext={}", sim.inner.app_url, crate::store::now_ms() / 1000 + 300),
        "mime_type": media.mime_type,
        "sha256": sha,
        "file_size": media.bytes.len().to_string(),
        "id": media_id,
    }))
    .into_response()
}

/// The download itself: needs the bearer token, and the scripted media faults apply.
async fn media_download(
    State(state): State<AppState>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(sim) = state.simulator.as_ref() else {
        return not_simulating();
    };
    let Some(media) = sim.media_for(&media_id, &headers) else {
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

impl Simulator {
    /// A send that names a media id must name one uploaded here.
    fn check_media_id(&self, request: &serde_json::Value) -> Result<(), String> {
        let kind = request.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let Some(id) = request
            .get(kind)
            .and_then(|m| m.get("id"))
            .and_then(|v| v.as_str())
        else {
            return Ok(());
        };
        let known = self
            .inner
            .media
            .lock()
            .is_ok_and(|media| media.contains_key(id));
        if known {
            Ok(())
        } else {
            Err(format!(
                "{kind}.id {id} is not a media id uploaded to this number."
            ))
        }
    }

    /// The media with this id, if the request carries the token it was sent to.
    fn media_for(&self, media_id: &str, headers: &HeaderMap) -> Option<SimMedia> {
        let token = bearer(headers)?;
        let media = self.inner.media.lock().ok()?.get(media_id).cloned()?;
        (media.access_token == token).then_some(media)
    }
}

#[derive(Debug, Deserialize)]
struct BurstInput {
    count: usize,
    phone_number_id: Option<String>,
}

/// `POST /_sim/burst {"count": N}`: N customers write at once.
async fn burst(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    body: Option<Json<BurstInput>>,
) -> Response {
    let (sim, principal) = match controls(&state, principal) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let Some(Json(input)) = body else {
        return (StatusCode::BAD_REQUEST, "send {\"count\": N}").into_response();
    };
    if !(1..=1000).contains(&input.count) {
        return (StatusCode::BAD_REQUEST, "count must be 1 to 1000").into_response();
    }
    let inbox = match target_inbox(
        &state,
        &principal,
        input
            .phone_number_id
            .as_deref()
            .map(InboxRef::PhoneNumberId),
    )
    .await
    {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let delivered = sim.burst(&state, &inbox, input.count).await;
    Json(serde_json::json!({ "delivered": delivered })).into_response()
}

/// `?phone_number_id=` on the simulator's routes: which inbox they act on.
#[derive(Debug, Default, Deserialize)]
pub struct NumberQuery {
    phone_number_id: Option<String>,
}

/// `GET /_sim/sent`: every send the simulated Graph API accepted from the inboxes the
/// caller may see (or the one `?phone_number_id=` names), oldest first.
async fn list_sent(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Query(query): Query<NumberQuery>,
) -> Response {
    let (sim, principal) = match controls(&state, principal) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let visible: Vec<String> = match state.store.list_inboxes().await {
        Ok(inboxes) => inboxes
            .into_iter()
            .filter(|i| principal.can_see(&i.id))
            .map(|i| i.phone_number_id)
            .filter(|p| query.phone_number_id.as_ref().is_none_or(|q| q == p))
            .collect(),
        Err(e) => return AppError::from(e).into_response(),
    };
    let sent: Vec<SentRecord> = sim
        .inner
        .sent
        .lock()
        .map(|s| {
            s.iter()
                .filter(|r| visible.contains(&r.phone_number_id))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Json(sent).into_response()
}

/// Names an inbox by our id (server functions) or by its phone number id (HTTP routes).
pub enum InboxRef<'a> {
    Id(&'a str),
    PhoneNumberId(&'a str),
}

/// The inbox a simulator control acts on: the named one, or the caller's first.
pub async fn target_inbox(
    state: &AppState,
    principal: &Principal,
    named: Option<InboxRef<'_>>,
) -> Result<Inbox, AppError> {
    let inbox = match named {
        Some(InboxRef::Id(id)) => state.store.inbox(id).await?,
        Some(InboxRef::PhoneNumberId(pnid)) => state.store.inbox_by_phone_number_id(pnid).await?,
        None => state
            .store
            .list_inboxes()
            .await?
            .into_iter()
            .find(|i| principal.can_see(&i.id)),
    };
    inbox
        .filter(|i| principal.can_see(&i.id))
        .ok_or(AppError::NotFound("inbox"))
}

#[derive(Debug, Default, Deserialize)]
pub struct CustomerMessage {
    #[serde(flatten)]
    pub input: CustomerInput,
    /// Which inbox the customer writes to; the caller's first one if left out.
    pub phone_number_id: Option<String>,
}

/// `POST /_sim/customer/messages`: a simulated customer writes to the inbox.
async fn customer_message(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    body: Option<Json<CustomerMessage>>,
) -> Response {
    let (sim, principal) = match controls(&state, principal) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let m = body.map(|Json(b)| b).unwrap_or_default();
    let inbox = match target_inbox(
        &state,
        &principal,
        m.phone_number_id.as_deref().map(InboxRef::PhoneNumberId),
    )
    .await
    {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    match sim.customer_message(&state, &inbox, &m.input).await {
        Ok(wamid) => Json(serde_json::json!({ "wamid": wamid })).into_response(),
        Err(SimError::BadRequest(reason)) => (StatusCode::BAD_REQUEST, reason).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// The inbox a fault route acts on: `?phone_number_id=`, else the caller's first.
async fn fault_target(
    state: &AppState,
    principal: Option<Extension<Principal>>,
    query: &NumberQuery,
) -> Result<(Simulator, String), Response> {
    let (sim, principal) = controls(state, principal).map_err(IntoResponse::into_response)?;
    let named = query
        .phone_number_id
        .as_deref()
        .map(InboxRef::PhoneNumberId);
    let inbox = target_inbox(state, &principal, named)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((sim.clone(), inbox.phone_number_id))
}

async fn list_faults(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Query(query): Query<NumberQuery>,
) -> Response {
    match fault_target(&state, principal, &query).await {
        Ok((sim, pnid)) => Json(sim.pending_faults(&pnid)).into_response(),
        Err(refused) => refused,
    }
}

/// `POST /_sim/faults` with one fault or a list; each applies to one later send (or, for
/// `duplicate_webhooks`, one later customer message or send) of the inbox.
async fn add_faults(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Query(query): Query<NumberQuery>,
    body: axum::body::Bytes,
) -> Response {
    let (sim, pnid) = match fault_target(&state, principal, &query).await {
        Ok(target) => target,
        Err(refused) => return refused,
    };
    let faults: Vec<Fault> = match serde_json::from_slice::<faults::FaultInput>(&body) {
        Ok(input) => input.into_vec(),
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("unknown fault: {e}. See README, Simulator."),
            )
                .into_response();
        }
    };
    tracing::info!(?faults, phone_number_id = %pnid, "simulator: faults scheduled");
    sim.add_faults(&pnid, faults);
    Json(sim.pending_faults(&pnid)).into_response()
}

async fn clear_faults(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Query(query): Query<NumberQuery>,
) -> Response {
    match fault_target(&state, principal, &query).await {
        Ok((sim, pnid)) => {
            sim.clear_faults(&pnid);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(refused) => refused,
    }
}
