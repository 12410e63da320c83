//! The ChatBox header's controls: who owns the conversation, its status (resolve, reopen,
//! snooze, with keyboard shortcuts) and its labels.

use leptos::prelude::*;

use super::state::{InboxCtx, WorkflowCall};
use crate::api::list_teammates;
use crate::model::{Conversation, ConversationStatus};

#[component]
pub fn ConversationControls(conversation: Memo<Option<Conversation>>) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let ready = super::hydrated();
    let inbox = Memo::new(move |_| conversation.read().as_ref().map(|c| c.inbox_id.clone()));
    let team = Resource::new(
        move || inbox.get(),
        |inbox| async move {
            match inbox {
                Some(id) => list_teammates(id).await.unwrap_or_default(),
                None => Vec::new(),
            }
        },
    );
    let id = move || conversation.read().as_ref().map(|c| c.id.clone());
    let status = move || {
        conversation
            .read()
            .as_ref()
            .map(|c| c.status)
            .unwrap_or_default()
    };
    let assignee = move || {
        conversation
            .read()
            .as_ref()
            .and_then(|c| c.assignee.as_ref().map(|a| a.id.clone()))
    };
    let mine = move || assignee().is_some_and(|a| a == ctx.me.get());
    let set_status = move |s: ConversationStatus, until: Option<i64>| {
        if let Some(id) = id() {
            ctx.change(WorkflowCall::Status(id, s, until));
        }
    };
    let assign = move |to: Option<String>| {
        if let Some(id) = id() {
            ctx.change(WorkflowCall::Assign(id, to));
        }
    };

    #[cfg(feature = "hydrate")]
    {
        // Alt+Shift+R resolves, Alt+Shift+O reopens, Alt+Shift+A takes the conversation.
        let handle = window_event_listener(leptos::ev::keydown, move |ev| {
            if !(ev.alt_key() && ev.shift_key()) || ev.ctrl_key() || ev.meta_key() {
                return;
            }
            match ev.code().as_str() {
                "KeyR" => set_status(ConversationStatus::Resolved, None),
                "KeyO" => set_status(ConversationStatus::Open, None),
                "KeyA" => assign(Some(ctx.me.get_untracked())),
                _ => return,
            }
            ev.prevent_default();
        });
        on_cleanup(move || handle.remove());
    }

    let label_text = RwSignal::new(String::new());
    let add_label = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let new = label_text.get_untracked().trim().to_lowercase();
        if new.is_empty() {
            return;
        }
        if let Some(c) = conversation.get_untracked() {
            let mut labels = c.labels.clone();
            labels.push(new);
            label_text.set(String::new());
            ctx.change(WorkflowCall::Labels(c.id, labels));
        }
    };
    let remove_label = move |label: String| {
        if let Some(c) = conversation.get_untracked() {
            let labels = c.labels.iter().filter(|l| **l != label).cloned().collect();
            ctx.change(WorkflowCall::Labels(c.id, labels));
        }
    };

    view! {
        <div class="controls" data-testid="conversation-controls">
            <span class=move || format!("status-badge status-{}", status().as_str())
                data-testid="conversation-status">
                {move || match status() {
                    ConversationStatus::Snoozed => {
                        let until = conversation.read().as_ref().and_then(|c| c.snoozed_until).unwrap_or(0);
                        format!("Snoozed until {}", super::time::list_time(until / 1000, ctx.clock.get()))
                    }
                    s => capitalised(s.as_str()),
                }}
            </span>
            <Show
                when=move || status() == ConversationStatus::Open || status() == ConversationStatus::Pending
                fallback=move || view! {
                    <button type="button" class="secondary" data-testid="reopen"
                        title="Reopen (Alt+Shift+O)" disabled=move || ctx.changing()
                        on:click=move |_| set_status(ConversationStatus::Open, None)>"Reopen"</button>
                }
            >
                <button type="button" class="primary" data-testid="resolve"
                    title="Resolve (Alt+Shift+R)" disabled=move || ctx.changing()
                    on:click=move |_| set_status(ConversationStatus::Resolved, None)>"Resolve"</button>
                <select class="snooze" data-testid="snooze" aria-label="Snooze" prop:value=""
                    on:change=move |ev| {
                        if let Ok(minutes) = event_target_value(&ev).parse::<i64>() {
                            let until = super::state::now_secs() * 1000 + minutes * 60_000;
                            set_status(ConversationStatus::Snoozed, Some(until));
                        }
                    }>
                    // Written out: a list inside a server-rendered <select> loses the
                    // markers hydration looks for.
                    <option value="">"Snooze…"</option>
                    <option value="60">"1 hour"</option>
                    <option value="240">"4 hours"</option>
                    <option value="1440">"1 day"</option>
                    <option value="10080">"1 week"</option>
                </select>
            </Show>
            <label class="visually-hidden" for="assignee">"Assigned to"</label>
            // The teammates' list is drawn in the browser only (see the snooze options).
            <Show when=move || ready.get()>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let team = team.await;
                    view! {
                        <select id="assignee" class="assignee" data-testid="assignee"
                            prop:value=move || assignee().unwrap_or_default()
                            on:change=move |ev| {
                                let v = event_target_value(&ev);
                                assign((!v.is_empty()).then_some(v));
                            }>
                            <option value="">"Unassigned"</option>
                            {team.into_iter().map(|u| {
                                let id = u.id.clone();
                                let label = move || super::team::with_presence(&u.name, ctx.team.status_of(&id));
                                view! { <option value=u.id.clone()>{label}</option> }
                            }).collect_view()}
                        </select>
                    }
                })}
            </Transition>
            </Show>
            <Show when=move || !mine()>
                <button type="button" class="secondary" data-testid="assign-to-me"
                    title="Assign to me (Alt+Shift+A)" disabled=move || ctx.changing()
                    on:click=move |_| assign(Some(ctx.me.get_untracked()))>"Assign to me"</button>
            </Show>
            <ul class="labels" aria-label="Labels">
                <For
                    each=move || conversation.read().as_ref().map(|c| c.labels.clone()).unwrap_or_default()
                    key=|l| l.clone()
                    children=move |l| {
                        let remove = l.clone();
                        view! {
                            <li class="label" data-testid="label">{l.clone()}
                                <button type="button" class="remove" aria-label=format!("Remove label {l}")
                                    on:click=move |_| remove_label(remove.clone())>"×"</button>
                            </li>
                        }
                    }
                />
            </ul>
            <form class="add-label" on:submit=add_label>
                <input type="text" data-testid="add-label" placeholder="Add label" aria-label="Add a label"
                    maxlength="32" prop:value=move || label_text.get()
                    on:input=move |ev| label_text.set(event_target_value(&ev))/>
            </form>
            <details class="export-menu" data-testid="export-menu">
                <summary>"Export"</summary>
                <div class="menu">
                    <a download data-testid="export-json"
                        href=move || id().map(|id| format!("/export/conversations/{id}?format=json"))>"As JSON"</a>
                    <a download data-testid="export-text"
                        href=move || id().map(|id| format!("/export/conversations/{id}?format=text"))>"As text"</a>
                </div>
            </details>
            <Show when=move || ctx.workflow_error.read().is_some()>
                <p class="error" role="alert" data-testid="workflow-error">
                    {move || ctx.workflow_error.get().unwrap_or_default()}
                </p>
            </Show>
        </div>
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
