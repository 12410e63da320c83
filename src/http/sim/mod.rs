//! `/_sim`: the simulator's HTTP face. `graph` stands in for Meta's Graph API; the
//! controls here let a signed-in person (or a test) write as a customer, send a burst,
//! and script faults for the inboxes they may see.

mod graph;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use crate::context::{AppError, AppState, Principal};
use crate::simulator::faults;
use crate::simulator::{CustomerInput, Fault, SimError, Simulator};
use crate::store::Inbox;
use graph::{graph_media_url, graph_send, graph_templates, graph_upload, media_download};

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

pub(crate) fn not_simulating() -> Response {
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
    let delivered = sim.burst(&state.config, &inbox, input.count).await;
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
    Json(sim.sent_by(&visible)).into_response()
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
    match sim.customer_message(&state.config, &inbox, &m.input).await {
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
