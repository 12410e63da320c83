//! A built-in stand-in for the Cloud API, used when no access token is configured.
//!
//! It speaks Meta's JSON on both sides: it answers `POST /{phone-number-id}/messages` like
//! the Graph API, and it delivers signed webhooks to the app's real `/webhook` route, with
//! the receipts' realistic delays and Meta's retry-on-failure. Faults are scripted on
//! demand so every ugly case can be tried by hand and by tests.

mod faults;
mod payloads;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use rand::Rng;
use serde::Deserialize;

pub use faults::Fault;

use crate::model::DemoCustomer;
use crate::server::admin::effective_credentials;
use crate::server::auth::Principal;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::store::Inbox;
use crate::whatsapp::signature;
use crate::whatsapp::wire::{GraphError, GraphErrorEnvelope, SendTextRequest};

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
    faults: Mutex<Vec<Fault>>,
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
                faults: Mutex::new(Vec::new()),
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

    /// A customer writes to `inbox`: builds Meta's inbound webhook and delivers it.
    /// Returns the wamid.
    pub async fn customer_text(
        &self,
        state: &AppState,
        inbox: &Inbox,
        wa_id: Option<&str>,
        name: Option<&str>,
        text: Option<&str>,
    ) -> Result<String, SimError> {
        let (wa_id, default_name) = match wa_id {
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
        let name = name.map(str::to_string).or(default_name);
        let text = match text.map(str::trim) {
            Some("") => return Err(SimError::BadRequest("text must not be empty".into())),
            Some(t) => t.to_string(),
            None => CUSTOMER_LINES[rand::rng().random_range(0..CUSTOMER_LINES.len())].to_string(),
        };
        let number = Number::of(state, inbox);
        let wamid = payloads::new_wamid();
        let body = payloads::inbound_text(
            &number.phone_number_id,
            &number.display_phone_number,
            &wa_id,
            name.as_deref(),
            &wamid,
            &text,
        );
        let times = if self
            .take_fault(|f| matches!(f, Fault::DuplicateWebhooks))
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

    fn take_fault(&self, pick: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let mut faults = self.inner.faults.lock().ok()?;
        let i = faults.iter().position(pick)?;
        Some(faults.remove(i))
    }

    pub fn add_faults(&self, faults: Vec<Fault>) {
        if let Ok(mut q) = self.inner.faults.lock() {
            q.extend(faults);
        }
    }

    pub fn pending_faults(&self) -> Vec<Fault> {
        self.inner
            .faults
            .lock()
            .map(|q| q.clone())
            .unwrap_or_default()
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
        .route("/customer/messages", post(customer_message))
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

/// `POST /{version}/{phone-number-id}/messages`, as the Graph API answers it.
async fn graph_send(
    State(state): State<AppState>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(sim) = state.simulator.as_ref() else {
        return not_simulating();
    };
    let inbox = match state.store.inbox_by_phone_number_id(&phone_number_id).await {
        Ok(Some(inbox)) => inbox,
        Ok(None) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                "(#100) Invalid parameter",
                "Unknown phone number id.",
            );
        }
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let number = Number::of(&state, &inbox);
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == number.access_token);
    if !authorised {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            190,
            "Invalid OAuth access token - Cannot parse access token",
            "The access token is missing or invalid.",
        );
    }
    let request: SendTextRequest = match serde_json::from_slice(&body) {
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
    if request.messaging_product != "whatsapp" || request.kind != "text" {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "(#100) Invalid parameter",
            "messaging_product must be whatsapp and type must be text.",
        );
    }
    let Some(to) = request.to.clone().or_else(|| request.recipient.clone()) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            131008,
            "(#131008) Required parameter is missing",
            "Either to or recipient is required.",
        );
    };
    if request.text.body.trim().is_empty() || request.text.body.chars().count() > 4096 {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "(#100) Invalid parameter",
            "text.body must be 1 to 4096 characters.",
        );
    }

    if let Some(Fault::SendError { http_status, code }) =
        sim.take_fault(|f| matches!(f, Fault::SendError { .. }))
    {
        let status = StatusCode::from_u16(http_status).unwrap_or(StatusCode::BAD_REQUEST);
        let (title, details) = faults::describe(code);
        return graph_error(status, code, &format!("(#{code}) {title}"), details);
    }

    let wamid = payloads::new_wamid();
    let plan = faults::ReceiptPlan::from_faults(|pick| sim.take_fault(pick));
    let callback = request.biz_opaque_callback_data.clone();
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
    Json(payloads::send_response(&to, &wamid)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct CustomerMessage {
    pub wa_id: Option<String>,
    pub name: Option<String>,
    pub text: Option<String>,
    /// Which inbox the customer writes to; the first one if left out.
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
    let m = body.map(|Json(b)| b).unwrap_or(CustomerMessage {
        wa_id: None,
        name: None,
        text: None,
        phone_number_id: None,
    });
    let inbox = match &m.phone_number_id {
        Some(pnid) => state.store.inbox_by_phone_number_id(pnid).await,
        None => state
            .store
            .list_inboxes()
            .await
            .map(|all| all.into_iter().next()),
    };
    let inbox = match inbox {
        Ok(Some(i)) if principal.can_see(&i.id) => i,
        Ok(_) => return (StatusCode::NOT_FOUND, "no such inbox").into_response(),
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    match sim
        .customer_text(
            &state,
            &inbox,
            m.wa_id.as_deref(),
            m.name.as_deref(),
            m.text.as_deref(),
        )
        .await
    {
        Ok(wamid) => Json(serde_json::json!({ "wamid": wamid })).into_response(),
        Err(SimError::BadRequest(reason)) => (StatusCode::BAD_REQUEST, reason).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn list_faults(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Response {
    match controls(&state, principal) {
        Ok((sim, _)) => Json(sim.pending_faults()).into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// `POST /_sim/faults` with one fault or a list; each applies to one later send (or, for
/// `duplicate_webhooks`, one later customer message or send).
async fn add_faults(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    body: axum::body::Bytes,
) -> Response {
    let sim = match controls(&state, principal) {
        Ok((sim, _)) => sim,
        Err(refused) => return refused.into_response(),
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
    tracing::info!(?faults, "simulator: faults scheduled");
    sim.add_faults(faults);
    Json(sim.pending_faults()).into_response()
}

async fn clear_faults(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Response {
    match controls(&state, principal) {
        Ok((sim, _)) => {
            if let Ok(mut q) = sim.inner.faults.lock() {
                q.clear();
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(refused) => refused.into_response(),
    }
}
