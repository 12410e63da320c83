//! Starting a conversation: an inbox, a number in any common format, an optional name, and
//! an approved template (WhatsApp's only way to write first).

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::state::{InboxCtx, new_client_id};
use super::template_form::{TemplateChooser, TemplateSource};
use crate::api::{server_info, start_conversation};
use crate::model::{Outgoing, StartedConversation, TemplateSpec, normalize_phone};

#[component]
pub fn NewConversation() -> impl IntoView {
    let info = Resource::new(|| (), |_| server_info());
    view! {
        <section class="new-conversation-page" data-testid="new-conversation-page">
            <header class="chat-header"><div class="title"><h1>"New conversation"</h1></div></header>
            <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match info.await {
                        Ok(info) if !info.inboxes.is_empty() => {
                            let inboxes: Vec<(String, String)> = info
                                .inboxes
                                .into_iter()
                                .map(|i| {
                                    let label = match (i.name, i.display_phone_number) {
                                        (Some(n), Some(p)) => format!("{n} (+{p})"),
                                        (Some(n), None) => n,
                                        (None, Some(p)) => format!("+{p}"),
                                        (None, None) => i.phone_number_id,
                                    };
                                    (i.id, label)
                                })
                                .collect();
                            view! { <StartForm inboxes/> }.into_any()
                        }
                        Ok(_) => view! { <p class="hint">"You cannot see any inbox yet: ask an admin to add you to one."</p> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn StartForm(inboxes: Vec<(String, String)>) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let inbox = RwSignal::new(inboxes.first().map(|i| i.0.clone()).unwrap_or_default());
    // `/new?to=…` (from a contact) starts with the number filled in.
    let query = leptos_router::hooks::use_query_map();
    let to = RwSignal::new(query.read_untracked().get("to").unwrap_or_default());
    let name = RwSignal::new(String::new());
    // The number as it will be written to, or why it cannot be one (shown once typed).
    let number = Memo::new(move |_| {
        let typed = to.get();
        (!typed.trim().is_empty()).then(|| normalize_phone(&typed))
    });
    let starting: Action<
        (String, String, String, TemplateSpec),
        Result<StartedConversation, String>,
    > = Action::new(
        move |(inbox, to, name, spec): &(String, String, String, TemplateSpec)| {
            let (inbox, to, name, spec) = (inbox.clone(), to.clone(), name.clone(), spec.clone());
            super::sendable(async move {
                let name = (!name.trim().is_empty()).then_some(name);
                start_conversation(inbox, to, name, new_client_id(), Outgoing::Template(spec))
                    .await
                    .map_err(|e| e.message)
            })
        },
    );
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(started)) = starting.value().get() {
            let id = started.conversation.id.clone();
            ctx.keep(started.conversation.clone());
            ctx.thread.upsert(started.message.clone());
            navigate(&format!("/c/{id}"), Default::default());
        }
    });
    let on_send = Callback::new(move |(spec, _text): (TemplateSpec, String)| {
        if let Some(Ok(_)) = number.get_untracked() {
            starting.dispatch((
                inbox.get_untracked(),
                to.get_untracked(),
                name.get_untracked(),
                spec,
            ));
        }
    });
    let many = inboxes.len() > 1;
    // Drawn in the browser only: a list inside a server-rendered <select> loses the
    // markers hydration looks for.
    let ready = super::hydrated();
    view! {
        <div class="start-form">
            <div class="fields">
                <Show when=move || many && ready.get()>
                    <label>"From "
                        <select data-testid="new-inbox" prop:value=move || inbox.get()
                            on:change=move |ev| inbox.set(event_target_value(&ev))>
                            {inboxes.iter().map(|(id, label)| view! { <option value=id.clone()>{label.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                </Show>
                <label>"To (phone number with country code) "
                    <input type="tel" data-testid="new-number" placeholder="+44 7700 900123" autocomplete="off"
                        prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev))/>
                </label>
                <label>"Name (optional) "
                    <input type="text" data-testid="new-name" maxlength="200"
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                {move || match number.get() {
                    Some(Ok(digits)) => view! { <p class="hint" data-testid="new-number-ok">"Writes to +" {digits}</p> }.into_any(),
                    Some(Err(why)) => view! { <p class="error" role="alert" data-testid="new-number-error">{why}</p> }.into_any(),
                    None => ().into_any(),
                }}
            </div>
            <p class="banner" role="status">
                "WhatsApp lets a business write first only with an approved template. When the customer replies, you can write freely for 24 hours. "
                "If this number already has a conversation, the template goes there."
            </p>
            <Show when=move || matches!(number.get(), Some(Ok(_)))
                fallback=|| view! { <p class="hint">"Type the number to choose a template."</p> }>
                {move || {
                    let source = TemplateSource::Inbox(inbox.get());
                    view! { <TemplateChooser source on_send/> }
                }}
            </Show>
            <Show when=move || starting.pending().get()>
                <p class="hint" role="status">"Starting…"</p>
            </Show>
            {move || starting.value().get().and_then(|r| r.err()).map(|why| view! {
                <p class="error" role="alert" data-testid="new-conversation-error">"Not started: " {why}</p>
            })}
        </div>
    }
}
