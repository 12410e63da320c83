//! Outgoing webhook subscriptions. Admins only.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::ApiError;
use crate::model::{CreatedWebhookSubscription, WebhookSubscription, WebhookSubscriptions};

#[server(endpoint = "list_webhook_subscriptions", input = Json, output = Json)]
pub async fn list_webhook_subscriptions() -> Result<WebhookSubscriptions, ApiError> {
    let (state, _) = super::admin::admin()?;
    let subscriptions = crate::webhooks::list(&state.store).await?;
    Ok(WebhookSubscriptions { subscriptions })
}

/// Subscribes `url` to `events` (default: all) of `inbox_ids` (default: all), from now
/// on. The signing secret is in the answer and shown nowhere else.
#[server(endpoint = "create_webhook_subscription", input = Json, output = Json)]
pub async fn create_webhook_subscription(
    url: String,
    #[server(default)] events: Option<Vec<String>>,
    #[server(default)] inbox_ids: Option<Vec<String>>,
) -> Result<CreatedWebhookSubscription, ApiError> {
    let (state, principal) = super::admin::admin()?;
    let created = crate::webhooks::create(
        &state.store,
        &super::ctx::actor(&state, &principal),
        state.config.webhook_allow_private,
        &url,
        &events.unwrap_or_default(),
        &inbox_ids.unwrap_or_default(),
    )
    .await?;
    state.jobs.notify_one();
    Ok(created)
}

/// Changes what is given; `paused: false` resumes delivery where it stopped.
#[server(endpoint = "update_webhook_subscription", input = Json, output = Json)]
pub async fn update_webhook_subscription(
    id: String,
    #[server(default)] url: Option<String>,
    #[server(default)] events: Option<Vec<String>>,
    #[server(default)] inbox_ids: Option<Vec<String>>,
    #[server(default)] paused: Option<bool>,
) -> Result<WebhookSubscription, ApiError> {
    let (state, principal) = super::admin::admin()?;
    let changes = crate::webhooks::Changes {
        url,
        events,
        inbox_ids,
        paused,
    };
    let allow_private = state.config.webhook_allow_private;
    let actor = super::ctx::actor(&state, &principal);
    let sub = crate::webhooks::update(&state.store, &actor, allow_private, &id, changes).await?;
    state.jobs.notify_one();
    Ok(sub)
}

#[server(endpoint = "delete_webhook_subscription", input = Json, output = Json)]
pub async fn delete_webhook_subscription(id: String) -> Result<(), ApiError> {
    let (state, principal) = super::admin::admin()?;
    crate::webhooks::delete(&state.store, &super::ctx::actor(&state, &principal), &id).await?;
    Ok(())
}

/// Delivers again every kept event after `since` (default: all that are kept), in order.
#[server(endpoint = "replay_webhook_subscription", input = Json, output = Json)]
pub async fn replay_webhook_subscription(
    id: String,
    #[server(default)] since: Option<i64>,
) -> Result<WebhookSubscription, ApiError> {
    let (state, principal) = super::admin::admin()?;
    let actor = super::ctx::actor(&state, &principal);
    let sub = crate::webhooks::replay(&state.store, &actor, &id, since).await?;
    state.jobs.notify_one();
    Ok(sub)
}
