//! Server functions: the browser's (and any script's) request/response API.
//!
//! Each is `POST /api/<name>` with a JSON body of its arguments and a JSON answer, so they
//! are as usable from `curl` as from the ChatBox. Bodies stay thin: they find the shared
//! state and call the domain code, and errors are mapped in `server::error`.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::ApiError;
use crate::model::{Conversation, ConversationList, Message, MessagePage, ServerInfo};

/// Largest page `load_messages` returns.
pub const MAX_PAGE: u32 = 200;
pub const DEFAULT_PAGE: u32 = 50;

#[cfg(feature = "ssr")]
fn state() -> Result<crate::server::state::AppState, ApiError> {
    use_context::<crate::server::state::AppState>()
        .ok_or_else(|| ApiError::new(500, "internal", "server state missing"))
}

/// All conversations, most recent activity first, with the event-log position they
/// reflect (open `/ws?since=seq` to follow on from them).
#[server(endpoint = "list_conversations", input = Json, output = Json)]
pub async fn list_conversations() -> Result<ConversationList, ApiError> {
    let state = state()?;
    let run = async {
        // Head first: anything committed after it will be replayed, never missed.
        let seq = state.hub.head();
        let conversations = state.store.list_conversations(500).await?;
        Ok::<_, crate::server::error::AppError>(ConversationList { conversations, seq })
    };
    run.await.map_err(|e| e.into_api())
}

/// One page of a conversation's history, newest first. Pass the previous answer's `next`
/// as `before` to get older messages.
#[server(endpoint = "load_messages", input = Json, output = Json)]
pub async fn load_messages(
    conversation_id: String,
    before: Option<String>,
    limit: Option<u32>,
) -> Result<MessagePage, ApiError> {
    use crate::model::Cursor;
    use crate::server::error::AppError;
    let state = state()?;
    let run = async {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(AppError::BadRequest(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        let before = match before.as_deref() {
            None => None,
            Some(c) => Some(Cursor::decode(c).ok_or_else(|| {
                AppError::BadRequest(format!("before {c:?} is not a cursor from `next`"))
            })?),
        };
        if state.store.conversation(&conversation_id).await?.is_none() {
            return Err(AppError::NotFound("conversation"));
        }
        Ok(state
            .store
            .load_messages(&conversation_id, before, limit as usize)
            .await?)
    };
    run.await.map_err(|e| e.into_api())
}

/// Sends a text reply. `client_id` is a UUID the caller generates once per message;
/// repeating the call with it returns the same message and never sends twice.
#[server(endpoint = "send_message", input = Json, output = Json)]
pub async fn send_message(
    conversation_id: String,
    text: String,
    client_id: String,
) -> Result<Message, ApiError> {
    let state = state()?;
    crate::outbound::send_text(&state, &conversation_id, &text, &client_id)
        .await
        .map_err(|e| e.into_api())
}

/// Clears a conversation's unread count (the agent has seen it).
#[server(endpoint = "mark_conversation_read", input = Json, output = Json)]
pub async fn mark_conversation_read(conversation_id: String) -> Result<Conversation, ApiError> {
    let state = state()?;
    state
        .store
        .mark_conversation_read(&conversation_id)
        .await
        .map_err(|e| crate::server::error::AppError::from(e).into_api())
}

/// How this server runs: simulator mode, and the demo customers it offers.
#[server(name = GetServerInfo, endpoint = "server_info", input = Json, output = Json)]
pub async fn server_info() -> Result<ServerInfo, ApiError> {
    let state = state()?;
    let simulator = state.simulator.is_some();
    Ok(ServerInfo {
        simulator,
        demo_customers: if simulator {
            crate::simulator::Simulator::demo_customers()
        } else {
            Vec::new()
        },
    })
}

/// Simulator mode only: a demo customer sends a text (random ones when left out).
#[server(endpoint = "simulate_customer_message", input = Json, output = Json)]
pub async fn simulate_customer_message(
    wa_id: Option<String>,
    text: Option<String>,
) -> Result<String, ApiError> {
    use crate::server::error::AppError;
    use crate::simulator::SimError;
    let state = state()?;
    let Some(sim) = state.simulator.as_ref() else {
        return Err(AppError::NotFound("simulator").into_api());
    };
    sim.customer_text(wa_id.as_deref(), None, text.as_deref())
        .await
        .map_err(|e| match e {
            SimError::BadRequest(m) => AppError::BadRequest(m).into_api(),
            other => AppError::Internal(other.to_string()).into_api(),
        })
}
