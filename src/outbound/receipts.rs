//! What the customer sees of us reading: blue ticks on their messages, and "typing…"
//! while an agent writes a reply.
//!
//! Both are courtesy, not content: they are sent in the background, never retried, and
//! a failure is logged rather than shown, so they cannot get in an agent's way.

use crate::context::AppError;
use crate::context::AppState;
use crate::model::{Conversation, Direction};

/// Marks the customer's newest message read at WhatsApp (which marks every earlier one
/// read too), with the typing indicator when `typing`. Returns whether WhatsApp was told.
/// Typing is only shown while the agent can actually answer: inside the 24-hour window.
pub async fn mark_read(
    state: &AppState,
    conversation: &Conversation,
    typing: bool,
) -> Result<bool, AppError> {
    if typing && super::window_closed(conversation) {
        return Ok(false);
    }
    let page = state
        .store
        .load_messages(&conversation.id, None, 50)
        .await?;
    let Some(wamid) = page
        .messages
        .iter()
        .find(|m| m.direction == Direction::In && !m.is_reaction())
        .and_then(|m| m.wamid.clone())
    else {
        return Ok(false);
    };
    let pause = crate::store::pause_key(&conversation.inbox_id);
    if state.store.setting(&pause).await?.is_some() {
        return Ok(false);
    }
    let Some(inbox) = state.store.inbox(&conversation.inbox_id).await? else {
        return Ok(false);
    };
    let token = state
        .config
        .credentials(&inbox)
        .access_token
        .unwrap_or_default();
    match state
        .cloud
        .mark_read(&token, &inbox.phone_number_id, &wamid, typing)
        .await
    {
        Ok(()) => Ok(true),
        Err(e) => {
            tracing::warn!(conversation = %conversation.id, error = %e, typing,
                "read receipt not sent to WhatsApp");
            Ok(false)
        }
    }
}
