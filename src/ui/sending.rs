//! What a bubble's send, retry, reaction and media refetch ask of the server, and how
//! their failures show on the bubble.

use std::collections::HashMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use leptos::prelude::*;

use super::state::new_client_id;
use super::thread_store::ThreadStore;
use crate::error::ApiError;
use crate::model::{Direction, ErrorInfo, Message, MessageStatus, Outgoing};

/// Sends a local bubble, retrying transient failures with the same client id (which the
/// server deduplicates); the server's copy or the reason it failed replaces the bubble.
pub(super) async fn deliver(
    thread: ThreadStore,
    outgoing: StoredValue<HashMap<String, Outgoing>>,
    local: Message,
) {
    let client_id = local.client_id.clone().unwrap_or_default();
    let mut failed = local.clone();
    let Some(sending) = outgoing.with_value(|all| all.get(&client_id).cloned()) else {
        // Only bubbles made on this page can be sent from it.
        failed.status = MessageStatus::Failed;
        failed.error = Some(ErrorInfo {
            code: 0,
            title: "Not sent: write it again".into(),
            detail: None,
        });
        failed.version += 1;
        thread.upsert(failed);
        return;
    };
    failed.status = MessageStatus::Pending;
    failed.error = None;
    thread.upsert(failed.clone());
    let note = local.direction == Direction::Note;
    let send = || {
        let (conversation_id, client_id, sending) = (
            local.conversation_id.clone(),
            client_id.clone(),
            sending.clone(),
        );
        async move {
            match (note, sending) {
                (true, Outgoing::Text { body, .. }) => {
                    crate::api::add_note(conversation_id, body, client_id).await
                }
                (_, sending) => {
                    crate::api::send_outgoing(conversation_id, client_id, sending).await
                }
            }
        }
    };
    // Four tries, 0.5 s, 1 s and 2 s apart, while the failure is one that may pass.
    let patience = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_times(3);
    match send.retry(patience).when(ApiError::is_transient).await {
        Ok(m) => {
            outgoing.update_value(|all| {
                all.remove(&client_id);
            });
            thread.upsert(m);
        }
        Err(e) => {
            failed.status = MessageStatus::Failed;
            failed.error = Some(local_error(&e));
            thread.upsert(failed);
        }
    }
}

pub(super) async fn retry(thread: ThreadStore, failed: Message) {
    match crate::api::retry_message(failed.id.clone()).await {
        Ok(m) => thread.upsert(m),
        Err(e) => {
            let mut shown = failed.clone();
            shown.error = Some(ErrorInfo {
                code: failed.error.as_ref().map(|e| e.code).unwrap_or(0),
                title: format!("Retry refused: {}", e.message),
                detail: None,
            });
            shown.version += 1;
            thread.upsert(shown);
        }
    }
}

pub(super) async fn react(conversation_id: String, message_id: String, emoji: String) {
    let outgoing = Outgoing::Reaction {
        message_id,
        emoji: Some(emoji),
    };
    if let Err(e) = crate::api::send_outgoing(conversation_id, new_client_id(), outgoing).await {
        leptos::logging::warn!("reaction not sent: {}", e.message);
    }
}

pub(super) async fn refetch(message_id: String) {
    if let Err(e) = crate::api::refetch_media(message_id).await {
        leptos::logging::warn!("media refetch refused: {}", e.message);
    }
}

fn local_error(e: &ApiError) -> ErrorInfo {
    ErrorInfo {
        code: 0,
        title: if e.status == 0 {
            "Not sent: the server could not be reached".into()
        } else {
            format!("Not sent: {}", e.message)
        },
        detail: None,
    }
}
