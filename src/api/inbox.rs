//! Working the inbox: conversations, history, replies.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::ApiError;
use crate::model::TemplateList;
use crate::model::{
    Conversation, ConversationList, Message, MessagePage, Outgoing, ServerInfo, View, ViewCounts,
};

/// The caller's conversations, most recent activity first, with the event-log position
/// they reflect (open `/ws?since=seq` to follow on from them). Every filter is optional:
/// `view` (`all`, `mine`, `unassigned`), `status` (a list), `inbox_id`, `label`, `query`
/// (contact name, number or message text); `before` takes the previous answer's `next`.
#[server(endpoint = "list_conversations", input = Json, output = Json)]
pub async fn list_conversations(
    #[server(default)] view: Option<View>,
    #[server(default)] status: Option<Vec<String>>,
    #[server(default)] inbox_id: Option<String>,
    #[server(default)] label: Option<String>,
    #[server(default)] query: Option<String>,
    #[server(default)] before: Option<String>,
    #[server(default)] limit: Option<u32>,
) -> Result<ConversationList, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let req = crate::workflow::ListRequest {
        view,
        status,
        inbox_id,
        label,
        query,
        before,
        limit,
    };
    Ok(crate::workflow::list(&state, &principal, req).await?)
}

/// One conversation the caller may see, by id: one beyond the list's loaded pages,
/// opened from a search result, a link or a notification. Any other id is a 404.
#[server(endpoint = "get_conversation", input = Json, output = Json)]
pub async fn get_conversation(conversation_id: String) -> Result<Conversation, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(crate::workflow::visible_conversation(&state, &principal, &conversation_id).await?)
}

/// How many conversations each view (Mine, Unassigned, All) holds under the same filters
/// as `list_conversations` takes: `status` (a list), `inbox_id`, `label`, `query`.
#[server(endpoint = "count_conversations", input = Json, output = Json)]
pub async fn count_conversations(
    #[server(default)] status: Option<Vec<String>>,
    #[server(default)] inbox_id: Option<String>,
    #[server(default)] label: Option<String>,
    #[server(default)] query: Option<String>,
) -> Result<ViewCounts, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let req = crate::workflow::ListRequest {
        status,
        inbox_id,
        label,
        query,
        ..Default::default()
    };
    Ok(crate::workflow::count(&state, &principal, &req).await?)
}

/// One page of a conversation's history, newest first. Pass the previous answer's `next`
/// as `before` to get older messages, its `newer` as `after` to get newer ones, or a
/// message id as `around` for the page that holds it (a search result opens there).
#[server(endpoint = "load_messages", input = Json, output = Json)]
pub async fn load_messages(
    conversation_id: String,
    before: Option<String>,
    limit: Option<u32>,
    #[server(default)] after: Option<String>,
    #[server(default)] around: Option<String>,
) -> Result<MessagePage, ApiError> {
    use super::{MAX_PAGE, ctx};
    use crate::context::AppError;
    use crate::model::Cursor;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let limit = limit.unwrap_or(super::DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(AppError::BadRequest(format!("limit must be between 1 and {MAX_PAGE}")).into());
    }
    let cursor = |name: &str, c: Option<String>| match c {
        None => Ok(None),
        Some(c) => Cursor::decode(&c).map(Some).ok_or_else(|| {
            AppError::BadRequest(format!("{name} {c:?} is not a cursor from a page"))
        }),
    };
    let before = cursor("before", before)?;
    let after = cursor("after", after)?;
    if [before.is_some(), after.is_some(), around.is_some()]
        .iter()
        .filter(|x| **x)
        .count()
        > 1
    {
        return Err(
            AppError::BadRequest("give at most one of before, after and around".into()).into(),
        );
    }
    ctx::visible_conversation(&state, &principal, &conversation_id).await?;
    let store = &state.store;
    let page = match (after, around) {
        (Some(after), _) => {
            store
                .load_newer_messages(&conversation_id, after, limit as usize)
                .await?
        }
        (None, Some(id)) => {
            if limit < 2 {
                return Err(AppError::BadRequest(
                    "limit must be at least 2 to load around a message".into(),
                )
                .into());
            }
            let at = store
                .message(&id)
                .await?
                .filter(|m| m.conversation_id == conversation_id)
                .ok_or(AppError::NotFound("message"))?;
            store.load_messages_around(&at, limit as usize).await?
        }
        (None, None) => {
            store
                .load_messages(&conversation_id, before, limit as usize)
                .await?
        }
    };
    Ok(page)
}

/// Sends a text reply. `client_id` is a UUID the caller generates once per message;
/// repeating the call with it returns the same message and never sends twice.
#[server(endpoint = "send_message", input = Json, output = Json)]
pub async fn send_message(
    conversation_id: String,
    text: String,
    client_id: String,
) -> Result<Message, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let outgoing = crate::model::Outgoing::Text {
        body: text,
        reply_to: None,
    };
    crate::outbound::send(&state, &principal, &conversation_id, &client_id, outgoing)
        .await
        .map_err(ApiError::from)
}

/// Sends any kind of message: text (optionally as a reply), media by link, a reaction, a
/// template or interactive buttons/list. Idempotent on `client_id` like `send_message`.
/// Outside the 24-hour window only templates go out; anything else gets 409
/// `window_closed` before WhatsApp is called.
#[server(endpoint = "send_outgoing", input = Json, output = Json)]
pub async fn send_outgoing(
    conversation_id: String,
    client_id: String,
    message: Outgoing,
) -> Result<Message, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    crate::outbound::send(&state, &principal, &conversation_id, &client_id, message)
        .await
        .map_err(ApiError::from)
}

/// The approved templates a conversation's number can send (WhatsApp Manager's list,
/// cached for ten minutes); `refresh` reads it again. When the list cannot be had, it is
/// empty and `problem` says why; templates can still be sent by name.
#[server(endpoint = "approved_templates", input = Json, output = Json)]
pub async fn approved_templates(
    conversation_id: String,
    #[server(default)] refresh: bool,
) -> Result<TemplateList, ApiError> {
    use super::ctx;
    use crate::context::AppError;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let conversation = ctx::visible_conversation(&state, &principal, &conversation_id).await?;
    let inbox = state
        .store
        .inbox(&conversation.inbox_id)
        .await?
        .ok_or(AppError::NotFound("inbox"))?;
    Ok(crate::outbound::catalog::list(&state, &inbox, refresh).await?)
}

/// The approved templates of an inbox's number, for starting a conversation (see
/// `approved_templates`).
#[server(endpoint = "inbox_templates", input = Json, output = Json)]
pub async fn inbox_templates(
    inbox_id: String,
    #[server(default)] refresh: bool,
) -> Result<TemplateList, ApiError> {
    use super::ctx;
    use crate::context::AppError;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let inbox = state
        .store
        .inbox(&inbox_id)
        .await?
        .filter(|i| principal.can_see(&i.id))
        .ok_or(AppError::NotFound("inbox"))?;
    Ok(crate::outbound::catalog::list(&state, &inbox, refresh).await?)
}

/// Sends a failed message again: a new call to WhatsApp. The old error stays on the
/// message until the new attempt has an outcome.
#[server(endpoint = "retry_message", input = Json, output = Json)]
pub async fn retry_message(message_id: String) -> Result<Message, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    crate::outbound::retry(&state, &principal, &message_id)
        .await
        .map_err(ApiError::from)
}

/// Downloads a message's media again after it failed for good.
#[server(endpoint = "refetch_media", input = Json, output = Json)]
pub async fn refetch_media(message_id: String) -> Result<(), ApiError> {
    use super::ctx;
    use crate::context::AppError;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let m = state
        .store
        .message(&message_id)
        .await?
        .filter(|m| principal.can_see(&m.inbox_id) && m.details.media.is_some())
        .ok_or(AppError::NotFound("media"))?;
    if m.details
        .media
        .as_ref()
        .and_then(|md| md.media_id.as_ref())
        .is_none()
    {
        return Err(AppError::BadRequest("this media has no WhatsApp id to fetch".into()).into());
    }
    crate::media::refetch(&state, &m).await?;
    Ok(())
}

/// Clears a conversation's unread count (an agent has seen it).
#[server(endpoint = "mark_conversation_read", input = Json, output = Json)]
pub async fn mark_conversation_read(conversation_id: String) -> Result<Conversation, ApiError> {
    use super::ctx;
    use crate::context::AppError;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let conversation = ctx::visible_conversation(&state, &principal, &conversation_id).await?;
    let cleared = state.store.mark_conversation_read(&conversation_id).await?;
    // Blue ticks for the customer, in the background: the agent does not wait on Meta.
    let background = state.clone();
    tokio::spawn(async move {
        let _ = crate::outbound::receipts::mark_read(&background, &conversation, false).await;
    });
    Ok(Ok::<_, AppError>(cleared)?)
}

/// Shows the customer "typing…" (and marks their messages read) while an agent writes a
/// reply. WhatsApp shows it for up to 25 s, so call it again about every 20 s while typing.
/// Returns whether WhatsApp was told (never outside the 24-hour window).
#[server(endpoint = "show_typing", input = Json, output = Json)]
pub async fn show_typing(conversation_id: String) -> Result<bool, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let conversation = ctx::visible_conversation(&state, &principal, &conversation_id).await?;
    Ok(crate::outbound::receipts::mark_read(&state, &conversation, true).await?)
}

/// How this server runs, and the inboxes the caller may use.
#[server(name = GetServerInfo, endpoint = "server_info", input = Json, output = Json)]
pub async fn server_info() -> Result<ServerInfo, ApiError> {
    use super::ctx;
    use crate::context::AppError;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let mut inboxes = Vec::new();
    for inbox in state.store.list_inboxes().await? {
        if principal.can_see(&inbox.id) {
            let mut info = crate::accounts::inbox_info(&state.store, &inbox).await?;
            if !principal.is_admin() {
                info.member_ids.clear();
            }
            inboxes.push(info);
        }
    }
    let simulator = state.simulator.is_some();
    Ok(Ok::<_, AppError>(ServerInfo {
        simulator,
        demo_customers: if simulator {
            crate::simulator::Simulator::demo_customers()
        } else {
            Vec::new()
        },
        inboxes,
    })?)
}

/// Simulator mode only: a demo customer writes to one of the caller's inboxes (the first
/// when `inbox_id` is left out; a random customer and line when those are). `kind` picks
/// the message type (text, image, document, audio, location, contacts, order,
/// unsupported, hologram; reaction and button_reply need `target`, a wamid).
#[server(endpoint = "simulate_customer_message", input = Json, output = Json)]
pub async fn simulate_customer_message(
    wa_id: Option<String>,
    text: Option<String>,
    inbox_id: Option<String>,
    kind: Option<String>,
    target: Option<String>,
) -> Result<String, ApiError> {
    use super::ctx;
    use crate::context::AppError;
    use crate::simulator::{CustomerInput, SimError};
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let Some(sim) = state.simulator.as_ref() else {
        return Err(AppError::NotFound("simulator").into());
    };
    let named = inbox_id.as_deref().map(crate::http::sim::InboxRef::Id);
    let inbox = crate::http::sim::target_inbox(&state, &principal, named).await?;
    let input = CustomerInput {
        wa_id,
        name: None,
        text,
        kind,
        target,
        file: None,
    };
    Ok(sim
        .customer_message(&state.config, &inbox, &input)
        .await
        .map_err(|e| match e {
            SimError::BadRequest(m) => AppError::BadRequest(m),
            other => AppError::Internal(other.to_string()),
        })?)
}

/// Simulator mode only: schedules faults for the next sends, media downloads or
/// deliveries (the same JSON as `POST /_sim/faults`: one fault or a list).
#[server(endpoint = "simulate_fault", input = Json, output = Json)]
pub async fn simulate_fault(
    fault: serde_json::Value,
    inbox_id: Option<String>,
) -> Result<usize, ApiError> {
    use super::ctx;
    use crate::context::AppError;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let Some(sim) = state.simulator.as_ref() else {
        return Err(AppError::NotFound("simulator").into());
    };
    let faults = crate::simulator::parse_faults(fault)
        .map_err(|e| AppError::BadRequest(format!("unknown fault: {e}")))?;
    let named = inbox_id.as_deref().map(crate::http::sim::InboxRef::Id);
    let inbox = crate::http::sim::target_inbox(&state, &principal, named).await?;
    tracing::info!(?faults, phone_number_id = %inbox.phone_number_id, "simulator: faults scheduled");
    sim.add_faults(&inbox.phone_number_id, faults);
    Ok(sim.pending_faults(&inbox.phone_number_id).len())
}

/// Simulator mode only: `count` demo customers write at once.
#[server(endpoint = "simulate_burst", input = Json, output = Json)]
pub async fn simulate_burst(count: u32, inbox_id: Option<String>) -> Result<usize, ApiError> {
    use super::ctx;
    use crate::context::AppError;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let Some(sim) = state.simulator.as_ref() else {
        return Err(AppError::NotFound("simulator").into());
    };
    if !(1..=1000).contains(&count) {
        return Err(AppError::BadRequest("count must be 1 to 1000".into()).into());
    }
    let named = inbox_id.as_deref().map(crate::http::sim::InboxRef::Id);
    let inbox = crate::http::sim::target_inbox(&state, &principal, named).await?;
    Ok(Ok::<_, AppError>(
        sim.burst(&state.config, &inbox, count as usize).await,
    )?)
}
