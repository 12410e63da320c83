//! A built-in stand-in for the Cloud API, used when no access token is configured.
//!
//! It speaks Meta's JSON on both sides: it answers `POST /{phone-number-id}/messages` like
//! the Graph API, and it delivers signed webhooks to the app's real `/webhook` route, with
//! the receipts' realistic delays and Meta's retry-on-failure. Faults are scripted on
//! demand so every ugly case can be tried by hand and by tests.

pub(crate) mod faults;
pub(crate) mod payloads;
pub(crate) mod templates;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use rand::Rng;
use serde::Deserialize;
use sha2::Digest;

pub use faults::Fault;

/// Reads one fault or a list, as `POST /_sim/faults` and the UI send them.
pub fn parse_faults(value: serde_json::Value) -> Result<Vec<Fault>, serde_json::Error> {
    serde_json::from_value::<faults::FaultInput>(value).map(faults::FaultInput::into_vec)
}

use crate::config::Config;
use crate::model::DemoCustomer;
use crate::store::Inbox;
use crate::whatsapp::signature;

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
pub(crate) struct SimMedia {
    pub(crate) mime_type: String,
    pub(crate) bytes: Vec<u8>,
    access_token: String,
    /// The number it was sent to or uploaded from: its faults apply.
    pub(crate) phone_number_id: String,
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
pub(crate) struct Number {
    pub(crate) phone_number_id: String,
    pub(crate) display_phone_number: String,
    pub(crate) app_secret: String,
    pub(crate) access_token: String,
}

impl Number {
    pub(crate) fn of(config: &Config, inbox: &Inbox) -> Self {
        let c = config.credentials(inbox);
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

    /// Where the app listens, as its URLs to the simulated media name it.
    pub(crate) fn app_url(&self) -> &str {
        &self.inner.app_url
    }

    /// Keeps one accepted send, so nothing that went out twice goes unseen.
    pub(crate) fn record_sent(&self, record: SentRecord) {
        if let Ok(mut sent) = self.inner.sent.lock() {
            sent.push(record);
        }
    }

    /// The accepted sends of the numbers `visible` names.
    pub(crate) fn sent_by(&self, visible: &[String]) -> Vec<SentRecord> {
        self.inner
            .sent
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|r| visible.contains(&r.phone_number_id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
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
        config: &Config,
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
        self.customer_message(config, inbox, &input).await
    }

    /// A customer sends a message of any type to `inbox`: builds Meta's inbound webhook
    /// and delivers it. Returns the wamid.
    pub async fn customer_message(
        &self,
        config: &Config,
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
        let number = Number::of(config, inbox);
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

    pub(crate) fn add_media(&self, mime: &str, bytes: Vec<u8>, number: &Number) -> String {
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
    pub async fn burst(&self, config: &Config, inbox: &Inbox, count: usize) -> usize {
        let config = Arc::new(config.clone());
        let mut tasks = Vec::new();
        for i in 0..count {
            let sim = self.clone();
            let config = config.clone();
            let inbox = inbox.clone();
            tasks.push(tokio::spawn(async move {
                let input = CustomerInput {
                    text: Some(format!("Burst message {}", i + 1)),
                    ..CustomerInput::default()
                };
                sim.customer_message(&config, &inbox, &input).await
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
    pub(crate) async fn deliver(&self, app_secret: &str, body: String) -> Result<(), SimError> {
        let sig = signature::sign(app_secret.as_bytes(), body.as_bytes());
        let post = || async {
            let r = self
                .inner
                .http
                .post(&self.inner.webhook_url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", &sig)
                .body(body.clone())
                .send()
                .await
                .map_err(|e| Undelivered::Failed(e.to_string()))?;
            match r.status() {
                s if s.is_success() => Ok(()),
                // Meta keeps retrying 4xx too, but for the simulator a 4xx is a bug.
                s if s.is_client_error() => Err(Undelivered::Rejected(s.as_u16())),
                s => Err(Undelivered::Failed(format!("HTTP {}", s.as_u16()))),
            }
        };
        // Six tries, 0.25 s doubling, as Meta retries (much faster, for people watching).
        let patience = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_times(5);
        post.retry(patience)
            .when(|e| matches!(e, Undelivered::Failed(_)))
            .notify(|e, wait| {
                tracing::warn!(error = %e, ?wait, "simulator: webhook not accepted; retrying")
            })
            .await
            .map_err(|e| match e {
                Undelivered::Rejected(status) => SimError::Rejected(status),
                Undelivered::Failed(_) => SimError::Undelivered,
            })
    }

    pub(crate) fn take_fault(
        &self,
        phone_number_id: &str,
        pick: impl Fn(&Fault) -> bool,
    ) -> Option<Fault> {
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

    pub(crate) fn clear_faults(&self, phone_number_id: &str) {
        if let Ok(mut q) = self.inner.faults.lock() {
            q.remove(phone_number_id);
        }
    }

    /// Plays the receipts for an accepted send, in the order a fault asks for.
    pub(crate) fn play_receipts(
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

/// Why one delivery of a simulated webhook did not go through.
#[derive(Debug, thiserror::Error)]
enum Undelivered {
    #[error("the app answered HTTP {0}")]
    Rejected(u16),
    #[error("{0}")]
    Failed(String),
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

impl Simulator {
    /// A send that names a media id must name one uploaded here.
    pub(crate) fn check_media_id(&self, request: &serde_json::Value) -> Result<(), String> {
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
    pub(crate) fn media_for(&self, media_id: &str, token: Option<&str>) -> Option<SimMedia> {
        let token = token?;
        let media = self.inner.media.lock().ok()?.get(media_id).cloned()?;
        (media.access_token == token).then_some(media)
    }
}
