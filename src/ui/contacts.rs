//! The contacts page: every contact the user may see, searchable and paged; one opened to
//! edit its name, labels, attributes and marketing opt-out, with its conversation.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{get_contact, list_contacts, update_contact};
use crate::model::{ContactEntry, ContactPage};

const PAGE: u32 = 50;

#[component]
pub fn ContactsPage() -> impl IntoView {
    let query = RwSignal::new(String::new());
    let label = RwSignal::new(String::new());
    let chosen = RwSignal::new(None::<String>);
    // The pages loaded so far under the current search; a new search starts over.
    let pages = RwSignal::new(Vec::<ContactEntry>::new());
    let next = RwSignal::new(None::<String>);
    let first = Resource::new(
        move || (query.get(), label.get()),
        |(q, l)| fetch(q, l, None),
    );
    let more = Action::new(move |before: &String| {
        let before = before.clone();
        super::sendable(async move {
            if let Ok(page) =
                fetch(query.get_untracked(), label.get_untracked(), Some(before)).await
            {
                next.set(page.next);
                pages.update(|all| all.extend(page.contacts));
            }
        })
    });
    view! {
        <section class="contacts-page" data-testid="contacts-page">
            <header class="chat-header"><div class="title"><h1>"Contacts"</h1></div></header>
            <div class="contacts-body">
                <div class="contacts-list">
                    <super::contacts_io::ContactsTransfer/>
                    <form class="contact-search" on:submit=|ev| ev.prevent_default()>
                        <super::Interactive>
                            <input type="search" data-testid="contact-search" placeholder="Search by name or number"
                                aria-label="Search contacts" prop:value=move || query.get()
                                on:input=move |ev| query.set(event_target_value(&ev))/>
                            <input type="text" data-testid="contact-label-filter" placeholder="Label" aria-label="Filter by label"
                                prop:value=move || label.get() on:input=move |ev| label.set(event_target_value(&ev))/>
                        </super::Interactive>
                    </form>
                    <Transition fallback=|| view! { <p class="hint">"Loading contacts…"</p> }>
                        {move || Suspend::new(async move {
                            match first.await {
                                Ok(page) => {
                                    pages.set(page.contacts);
                                    next.set(page.next);
                                    view! { <ContactRows pages chosen next more/> }.into_any()
                                }
                                Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
                {move || chosen.get().map(|id| view! { <ContactCard id pages/> })}
            </div>
        </section>
    }
}

async fn fetch(
    query: String,
    label: String,
    before: Option<String>,
) -> Result<ContactPage, crate::error::ApiError> {
    let q = (!query.trim().is_empty()).then_some(query);
    let l = (!label.trim().is_empty()).then_some(label);
    list_contacts(q, l, before, Some(PAGE)).await
}

#[component]
fn ContactRows(
    pages: RwSignal<Vec<ContactEntry>>,
    chosen: RwSignal<Option<String>>,
    next: RwSignal<Option<String>>,
    more: Action<String, ()>,
) -> impl IntoView {
    view! {
        <Show when=move || !pages.read().is_empty()
            fallback=|| view! { <p class="hint">"No contacts match."</p> }>
            <ul class="contact-rows">
                <For each=move || pages.get() key=|e| (e.contact.id.clone(), e.contact.name.clone(), e.contact.labels.clone(), e.contact.opted_out)
                    children=move |e| {
                        let id = e.contact.id.clone();
                        let selected = {
                            let id = id.clone();
                            move || chosen.read().as_deref() == Some(id.as_str())
                        };
                        view! {
                            <li>
                                <button type="button" class="contact-row" data-testid="contact-row"
                                    aria-current=move || selected().then_some("true")
                                    on:click=move |_| chosen.set(Some(id.clone()))>
                                    <span class="name">{e.contact.display_name()}</span>
                                    {e.contact.name.as_ref().and(e.contact.wa_id.clone()).map(|w| view! { <span class="contact-id">{format!("+{w}")}</span> })}
                                    {e.contact.opted_out.then(|| view! { <span class="status-badge status-resolved">"opted out"</span> })}
                                    {e.contact.labels.iter().map(|l| view! { <span class="label">{l.clone()}</span> }).collect_view()}
                                </button>
                            </li>
                        }
                    }/>
            </ul>
        </Show>
        // Inside the loaded view, so the server and the browser agree on whether it shows.
        <Show when=move || next.read().is_some()>
                        <button type="button" class="load-older" data-testid="more-contacts"
                            disabled=move || more.pending().get()
                            on:click=move |_| if let Some(b) = next.get_untracked() { more.dispatch(b); }>
                            "More contacts"
                        </button>
                    </Show>
    }
}

/// One contact, editable.
#[component]
fn ContactCard(id: String, pages: RwSignal<Vec<ContactEntry>>) -> impl IntoView {
    let contact = Resource::new(move || id.clone(), get_contact);
    view! {
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match contact.await {
                    Ok(entry) => view! { <ContactForm entry pages/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ContactForm(entry: ContactEntry, pages: RwSignal<Vec<ContactEntry>>) -> impl IntoView {
    let c = entry.contact.clone();
    let name = RwSignal::new(c.name.clone().unwrap_or_default());
    let labels = RwSignal::new(c.labels.join(", "));
    let opted_out = RwSignal::new(c.opted_out);
    let attributes = RwSignal::new(
        c.attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain(std::iter::once((String::new(), String::new())))
            .collect::<Vec<_>>(),
    );
    let contact_id = c.id.clone();
    let save = Action::new(move |_: &()| {
        let id = contact_id.clone();
        let labels: Vec<String> = labels
            .get_untracked()
            .split(',')
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        let attributes: BTreeMap<String, String> = attributes
            .get_untracked()
            .into_iter()
            .filter(|(k, _)| !k.trim().is_empty())
            .collect();
        let name = name.get_untracked();
        let opted_out = opted_out.get_untracked();
        super::sendable(async move {
            let saved = update_contact(
                id,
                Some(name),
                Some(labels),
                Some(attributes),
                Some(opted_out),
            )
            .await;
            if let Ok(entry) = &saved {
                pages.update(|all| {
                    if let Some(e) = all.iter_mut().find(|e| e.contact.id == entry.contact.id) {
                        *e = entry.clone();
                    }
                });
            }
            saved.map(|_| ()).map_err(|e| e.message)
        })
    });
    let conversation = entry.conversation_id.clone();
    let number = c.wa_id.clone();
    let rows = move || (0..attributes.read().len()).collect::<Vec<usize>>();
    view! {
        <form class="contact-card" data-testid="contact-card" on:submit=move |ev| {
            ev.prevent_default();
            save.dispatch(());
        }>
            <h2>{c.display_name()}</h2>
            <p class="contact-id">{number.clone().map(|w| format!("+{w}"))}</p>
            <label>"Name" <input data-testid="contact-name" maxlength="200" prop:value=move || name.get()
                on:input=move |ev| name.set(event_target_value(&ev))/></label>
            <label>"Labels (comma-separated)" <input data-testid="contact-labels" prop:value=move || labels.get()
                on:input=move |ev| labels.set(event_target_value(&ev))/></label>
            <fieldset class="attributes">
                <legend>"Attributes"</legend>
                <For each=rows key=|i| *i
                    children=move |i| view! {
                        <div class="attribute">
                            <input aria-label="Attribute name" placeholder="name" data-testid="attribute-key"
                                prop:value=move || attributes.read().get(i).map(|a| a.0.clone()).unwrap_or_default()
                                on:input=move |ev| attributes.update(|a| if let Some(x) = a.get_mut(i) { x.0 = event_target_value(&ev); })/>
                            <input aria-label="Attribute value" placeholder="value" data-testid="attribute-value"
                                prop:value=move || attributes.read().get(i).map(|a| a.1.clone()).unwrap_or_default()
                                on:input=move |ev| attributes.update(|a| if let Some(x) = a.get_mut(i) { x.1 = event_target_value(&ev); })/>
                        </div>
                    }/>
                <button type="button" class="link" on:click=move |_| attributes.update(|a| a.push((String::new(), String::new())))>
                    "Add an attribute"
                </button>
            </fieldset>
            <label class="check">
                <input type="checkbox" data-testid="contact-opted-out" prop:checked=move || opted_out.get()
                    on:change=move |ev| opted_out.set(event_target_checked(&ev))/>
                " Opted out of marketing (marketing templates are refused; replies still go)"
            </label>
            <div class="actions">
                <button type="submit" class="primary" data-testid="save-contact" disabled=move || save.pending().get()>"Save"</button>
                {conversation.map(|id| view! { <A href=format!("/c/{id}") attr:data-testid="contact-conversation">"Open conversation"</A> })}
                {number.map(|w| view! { <A href=format!("/new?to=%2B{w}") attr:data-testid="contact-start">"Start a conversation"</A> })}
            </div>
            {move || save.value().get().map(|r| match r {
                Ok(()) => view! { <p class="hint" role="status" data-testid="contact-saved">"Saved."</p> }.into_any(),
                Err(why) => view! { <p class="error" role="alert">{why}</p> }.into_any(),
            })}
        </form>
    }
}
