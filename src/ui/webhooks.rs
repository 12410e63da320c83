//! The admin page's outgoing webhooks: subscribe a URL, see how delivery goes, pause,
//! replay, delete.

use leptos::prelude::*;

use super::Interactive;
use crate::api::{
    create_webhook_subscription, delete_webhook_subscription, list_webhook_subscriptions,
    replay_webhook_subscription, update_webhook_subscription,
};
use crate::error::ApiError;
use crate::model::{InboxInfo, SubscriptionState, WEBHOOK_EVENT_TYPES, WebhookSubscription};

#[derive(Clone, Debug)]
enum HookChange {
    Create {
        url: String,
        events: Vec<String>,
        inbox_ids: Vec<String>,
    },
    Pause {
        id: String,
        paused: bool,
    },
    Replay {
        id: String,
    },
    Delete {
        id: String,
    },
}

impl HookChange {
    /// A created subscription's secret (shown once), or nothing.
    async fn run(self) -> Result<Option<String>, ApiError> {
        match self {
            Self::Create {
                url,
                events,
                inbox_ids,
            } => {
                let created =
                    create_webhook_subscription(url, Some(events), Some(inbox_ids)).await?;
                return Ok(Some(created.secret));
            }
            Self::Pause { id, paused } => {
                update_webhook_subscription(id, None, None, None, Some(paused)).await?;
            }
            Self::Replay { id } => {
                replay_webhook_subscription(id, None).await?;
            }
            Self::Delete { id } => delete_webhook_subscription(id).await?,
        }
        Ok(None)
    }
}

type HookChanges = Action<HookChange, Result<Option<String>, ApiError>>;

#[component]
pub fn Webhooks(inboxes: Vec<InboxInfo>) -> impl IntoView {
    let changes: HookChanges = Action::new(|c: &HookChange| super::sendable(c.clone().run()));
    // Read in the browser: this section sits inside the admin page's own `Suspense`.
    let reload = RwSignal::new(0u64);
    let subs = super::loaded_in_browser(move || {
        changes.version().track();
        reload.track();
        list_webhook_subscriptions()
    });
    let secret = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(Some(s))) = changes.value().get() {
            secret.set(Some(s));
        }
    });
    let problem = move || super::action_error(changes);
    let names: Vec<(String, String)> = inboxes
        .iter()
        .map(|i| {
            (
                i.id.clone(),
                i.name.clone().unwrap_or_else(|| i.phone_number_id.clone()),
            )
        })
        .collect();
    let table_names = names.clone();
    view! {
        <h2 id="webhooks">"Outgoing webhooks"</h2>
        <p class="hint">"Each event (the same JSON a socket gets) is POSTed to the URL, in order, signed with "
            <code>"X-Switchboard-Signature: sha256=…"</code>" (HMAC-SHA256 of the body with the secret). "
            "No event types or inboxes ticked means all of them."</p>
        {move || problem().map(|p| view! { <p class="error" role="alert" data-testid="webhook-error">{p}</p> })}
        {move || secret.get().map(|s| view! {
            <p class="secret" data-testid="new-webhook-secret">
                "Signing secret (shown once — copy it now): " <code>{s}</code>
            </p>
        })}
        {move || match subs.get() {
            None => view! { <p class="hint">"Loading…"</p> }.into_any(),
            Some(Ok(list)) => view! {
                <SubscriptionTable subs=list.subscriptions names=table_names.clone() changes/>
            }.into_any(),
            Some(Err(e)) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
        }}
        // Lag and state move by themselves; this reads them again.
        <button class="link" data-testid="refresh-webhooks" on:click=move |_| reload.update(|n| *n += 1)>
            "Refresh"
        </button>
        <NewSubscription names changes/>
    }
}

#[component]
fn SubscriptionTable(
    subs: Vec<WebhookSubscription>,
    names: Vec<(String, String)>,
    changes: HookChanges,
) -> impl IntoView {
    if subs.is_empty() {
        return view! { <p class="hint" data-testid="webhooks-empty">"No subscriptions yet."</p> }
            .into_any();
    }
    let inbox_name = move |id: &String| {
        names
            .iter()
            .find(|(i, _)| i == id)
            .map_or_else(|| id.clone(), |(_, n)| n.clone())
    };
    view! {
        <super::TableScroll label="Webhook subscriptions">
        <table data-testid="webhooks">
            <thead><tr>
                <th>"URL"</th><th>"Events"</th><th>"Inboxes"</th><th>"State"</th>
                <th>"Behind"</th><th>"Last error"</th><th></th>
            </tr></thead>
            <tbody>
                {subs.into_iter().map(|s| {
                    let events = if s.events.is_empty() { "all".to_string() } else { s.events.join(", ") };
                    let inboxes = if s.inbox_ids.is_empty() {
                        "all".to_string()
                    } else {
                        s.inbox_ids.iter().map(&inbox_name).collect::<Vec<_>>().join(", ")
                    };
                    let paused = s.state == SubscriptionState::Paused;
                    let (pause_id, replay_id, delete_id) = (s.id.clone(), s.id.clone(), s.id.clone());
                    view! {
                        <tr data-testid="webhook-row">
                            <td class="url"><code>{s.url.clone()}</code></td>
                            <td>{events}</td>
                            <td>{inboxes}</td>
                            <td><span class=format!("state {}", s.state.as_str()) data-testid="webhook-state">
                                {s.state.as_str()}
                            </span></td>
                            <td data-testid="webhook-lag">{s.lag}</td>
                            <td class="last-error">{s.last_error.clone().unwrap_or_default()}</td>
                            <td><div class="row-actions">
                                <button class="link" on:click=move |_| {
                                    changes.dispatch(HookChange::Pause { id: pause_id.clone(), paused: !paused });
                                }>{if paused { "Resume" } else { "Pause" }}</button>
                                <button class="link" title="Deliver every kept event again, in order"
                                    on:click=move |_| {
                                        changes.dispatch(HookChange::Replay { id: replay_id.clone() });
                                    }>"Replay"</button>
                                <button class="link danger" on:click=move |_| {
                                    changes.dispatch(HookChange::Delete { id: delete_id.clone() });
                                }>"Delete"</button>
                            </div></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </super::TableScroll>
    }
    .into_any()
}

#[component]
fn NewSubscription(names: Vec<(String, String)>, changes: HookChanges) -> impl IntoView {
    let url = RwSignal::new(String::new());
    let events = RwSignal::new(Vec::<String>::new());
    let inbox_ids = RwSignal::new(Vec::<String>::new());
    let toggle = |list: RwSignal<Vec<String>>, item: String, on: bool| {
        list.update(|l| {
            l.retain(|i| *i != item);
            if on {
                l.push(item);
            }
        });
    };
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        changes.dispatch(HookChange::Create {
            url: url.get_untracked(),
            events: events.get_untracked(),
            inbox_ids: inbox_ids.get_untracked(),
        });
    };
    Effect::new(move |_| {
        if let Some(Ok(Some(_))) = changes.value().get() {
            url.set(String::new());
        }
    });
    view! {
        <form class="webhook-form" on:submit=create data-testid="add-webhook">
            <Interactive>
                <input type="url" required placeholder="https://example.com/switchboard-events"
                    aria-label="Webhook URL" bind:value=url/>
                <div class="choices" role="group" aria-label="Event types">
                    {WEBHOOK_EVENT_TYPES.iter().map(|t| {
                        let t = t.to_string();
                        let name = t.clone();
                        view! {
                            <label class="member">
                                <input type="checkbox" on:change=move |ev| {
                                    toggle(events, t.clone(), event_target_checked(&ev));
                                }/>
                                {name}
                            </label>
                        }
                    }).collect_view()}
                </div>
                <div class="choices" role="group" aria-label="Inboxes">
                    {names.into_iter().map(|(id, name)| view! {
                        <label class="member">
                            <input type="checkbox" on:change=move |ev| {
                                toggle(inbox_ids, id.clone(), event_target_checked(&ev));
                            }/>
                            {name}
                        </label>
                    }).collect_view()}
                </div>
                <button type="submit">"Add webhook"</button>
            </Interactive>
        </form>
    }
}
