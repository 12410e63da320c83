//! The team's workflow: starting conversations, owning them, their status and labels,
//! private notes, and contacts. The rules live in `crate::workflow`.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::ApiError;
use crate::model::{
    Activity, CannedResponse, CannedResponses, ContactEntry, ContactPage, Conversation, Message,
    Outgoing, PresenceStatus, StartedConversation, TeamPresence, UserRef,
};

/// Starts a conversation with a phone number (any common format) in an inbox, or goes on
/// with the one it has, and sends `message` (outside the 24-hour window only a template:
/// 409 `window_closed`). Idempotent on `client_id`, like `send_outgoing`.
#[server(endpoint = "start_conversation", input = Json, output = Json)]
pub async fn start_conversation(
    inbox_id: String,
    to: String,
    #[server(default)] name: Option<String>,
    client_id: String,
    message: Outgoing,
) -> Result<StartedConversation, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let (conversation, message) = crate::workflow::start(
        &state,
        &principal,
        &inbox_id,
        &to,
        name.as_deref(),
        &client_id,
        message,
    )
    .await?;
    Ok(StartedConversation {
        conversation,
        message,
    })
}

/// Gives a conversation to a teammate who can see its inbox, or takes it back (`null`).
#[server(endpoint = "assign_conversation", input = Json, output = Json)]
pub async fn assign_conversation(
    conversation_id: String,
    assignee_id: Option<String>,
) -> Result<Conversation, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(
        crate::workflow::assign(&state, &principal, &conversation_id, assignee_id.as_deref())
            .await?,
    )
}

/// Sets `open`, `pending`, `snoozed` (with a future `snoozed_until`, Unix ms: it opens by
/// itself then) or `resolved`.
#[server(endpoint = "set_conversation_status", input = Json, output = Json)]
pub async fn set_conversation_status(
    conversation_id: String,
    status: String,
    #[server(default)] snoozed_until: Option<i64>,
) -> Result<Conversation, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(
        crate::workflow::set_status(&state, &principal, &conversation_id, &status, snoozed_until)
            .await?,
    )
}

/// Replaces a conversation's labels (lower-case letters, digits, `-`, `_`; 1–32 each).
#[server(endpoint = "set_conversation_labels", input = Json, output = Json)]
pub async fn set_conversation_labels(
    conversation_id: String,
    labels: Vec<String>,
) -> Result<Conversation, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(crate::workflow::set_labels(&state, &principal, &conversation_id, &labels).await?)
}

/// A private note for the team: never sent to WhatsApp. `@name` or `@email` of a teammate
/// who can see the inbox mentions them.
#[server(endpoint = "add_note", input = Json, output = Json)]
pub async fn add_note(
    conversation_id: String,
    text: String,
    client_id: String,
) -> Result<Message, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(crate::workflow::add_note(&state, &principal, &conversation_id, &text, &client_id).await?)
}

/// A conversation's assignment and status changes, oldest first (the latest 200).
#[server(endpoint = "load_activity", input = Json, output = Json)]
pub async fn load_activity(conversation_id: String) -> Result<Vec<Activity>, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    ctx::visible_conversation(&state, &principal, &conversation_id).await?;
    Ok(state.store.activities(&conversation_id, 200).await?)
}

/// The teammates who can see an inbox: who a conversation can be assigned to or a note
/// can mention.
#[server(endpoint = "list_teammates", input = Json, output = Json)]
pub async fn list_teammates(inbox_id: String) -> Result<Vec<UserRef>, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(crate::workflow::teammates(&state, &principal, &inbox_id).await?)
}

/// Contacts the caller may see, newest first, searchable by name or number and by label.
#[server(endpoint = "list_contacts", input = Json, output = Json)]
pub async fn list_contacts(
    #[server(default)] query: Option<String>,
    #[server(default)] label: Option<String>,
    #[server(default)] before: Option<String>,
    #[server(default)] limit: Option<u32>,
) -> Result<ContactPage, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(crate::workflow::list_contacts(
        &state,
        &principal,
        query.as_deref(),
        label.as_deref(),
        before,
        limit,
    )
    .await?)
}

/// One contact, with its inbox and conversation.
#[server(endpoint = "get_contact", input = Json, output = Json)]
pub async fn get_contact(contact_id: String) -> Result<ContactEntry, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(crate::workflow::contact(&state, &principal, &contact_id).await?)
}

/// Changes a contact's name, labels, attributes or marketing opt-out; a field left out
/// stays as it is. An opted-out contact gets no marketing template (409 `opted_out`).
#[server(endpoint = "update_contact", input = Json, output = Json)]
pub async fn update_contact(
    contact_id: String,
    #[server(default)] name: Option<String>,
    #[server(default)] labels: Option<Vec<String>>,
    #[server(default)] attributes: Option<BTreeMap<String, String>>,
    #[server(default)] opted_out: Option<bool>,
) -> Result<ContactEntry, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let update = crate::store::ContactUpdate {
        name,
        labels,
        attributes,
        opted_out,
    };
    Ok(crate::workflow::update_contact(&state, &principal, &contact_id, update).await?)
}

/// The canned responses the caller may use (global ones and their inboxes'), by shortcut.
#[server(endpoint = "list_canned_responses", input = Json, output = Json)]
pub async fn list_canned_responses() -> Result<CannedResponses, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let responses = crate::canned::list(&state, &principal).await?;
    Ok(CannedResponses { responses })
}

/// Creates a canned response, or changes the one with `id`. `shortcut` is 1–32 letters,
/// digits, `-` or `_` (a leading `/` is dropped) and unique (409); `inbox_id` keeps it to
/// one inbox, without it every inbox has it and only admins may change it.
#[server(endpoint = "save_canned_response", input = Json, output = Json)]
pub async fn save_canned_response(
    #[server(default)] id: Option<String>,
    shortcut: String,
    text: String,
    #[server(default)] inbox_id: Option<String>,
) -> Result<CannedResponse, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(crate::canned::save(
        &state,
        &principal,
        id.as_deref(),
        &shortcut,
        &text,
        inbox_id.as_deref(),
    )
    .await?)
}

/// Removes a canned response the caller may change.
#[server(endpoint = "delete_canned_response", input = Json, output = Json)]
pub async fn delete_canned_response(id: String) -> Result<(), ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(crate::canned::delete(&state, &principal, &id).await?)
}

/// Messages (text, captions, file names, notes) the caller may see with every word of
/// `query` at the start of a word, case and accents aside; newest first, paged by `next`.
#[server(endpoint = "search_messages", input = Json, output = Json)]
pub async fn search_messages(
    query: String,
    #[server(default)] inbox_id: Option<String>,
    #[server(default)] before: Option<String>,
    #[server(default)] limit: Option<u32>,
) -> Result<crate::model::SearchPage, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(crate::workflow::search_messages(
        &state,
        &principal,
        &query,
        inbox_id.as_deref(),
        before.as_deref(),
        limit,
    )
    .await?)
}

/// The caller's browser says whether its tabs are in use (`online`) or hidden (`away`);
/// teammates get a `presence.updated` frame. `offline` is not asked for: it follows
/// when every tab is closed.
#[server(endpoint = "set_presence", input = Json, output = Json)]
pub async fn set_presence(status: PresenceStatus) -> Result<(), ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    Ok(crate::context::presence::set_status(&state, &principal, status).await?)
}

/// Teammates who share an inbox with the caller (every user, for an admin), and whether
/// each is online, away or offline; `presence.updated` frames keep it current.
#[server(endpoint = "list_presence", input = Json, output = Json)]
pub async fn list_presence() -> Result<TeamPresence, ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let users = crate::context::presence::team(&state, &principal).await?;
    Ok(TeamPresence { users })
}

/// The caller is writing a reply or note in the conversation: teammates who can see it get
/// an `agent.typing` frame (the composer sends this every few seconds while typing).
#[server(endpoint = "agent_typing", input = Json, output = Json)]
pub async fn agent_typing(conversation_id: String) -> Result<(), ApiError> {
    use super::ctx;
    let state = ctx::state()?;
    let principal = ctx::principal()?;
    let c = ctx::visible_conversation(&state, &principal, &conversation_id).await?;
    crate::context::presence::typing(&state, &principal.user, &c.inbox_id, &c.id);
    Ok(())
}
