//! Canned responses in the composer (`/shortcut`, then Tab or Enter) and the page that
//! manages them.

use leptos::prelude::*;

use crate::api::list_canned_responses;
use crate::model::{CannedResponse, Me, expand_canned, matching_canned};

/// At most this many suggestions show under a `/`.
const SHOWN: usize = 8;

/// The composer's `/shortcut` menu: what it offers for the text typed, which one is
/// highlighted, and the keys that move through it.
#[derive(Clone, Copy)]
pub struct CannedPicker {
    /// Loaded when a `/` starts the text, so a response added meanwhile is offered.
    list: Action<(), Vec<CannedResponse>>,
    active: RwSignal<usize>,
    /// Escape closes the menu until the text changes.
    dismissed: RwSignal<bool>,
}

/// What follows a leading `/` while it is still one word.
fn typed_shortcut(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('/')?;
    (!rest.contains(char::is_whitespace)).then_some(rest)
}

impl Default for CannedPicker {
    fn default() -> Self {
        Self {
            list: Action::new(|_: &()| {
                super::sendable(async move {
                    list_canned_responses()
                        .await
                        .map(|r| r.responses)
                        .unwrap_or_default()
                })
            }),
            active: RwSignal::new(0),
            dismissed: RwSignal::new(false),
        }
    }
}

impl CannedPicker {
    /// The text changed: a fresh `/` reloads the list (so does a pasted `/shortcut` when
    /// none is loaded yet); any change reopens the menu.
    pub fn typed(&self, text: &str) {
        self.dismissed.set(false);
        self.active.set(0);
        let unloaded = self.list.value().with_untracked(Option::is_none)
            && !self.list.pending().get_untracked();
        if text == "/" || (unloaded && typed_shortcut(text).is_some()) {
            self.list.dispatch(());
        }
    }

    /// The responses offered for `text`, best first.
    pub fn suggestions(&self, text: &str) -> Vec<CannedResponse> {
        let Some(typed) = typed_shortcut(text) else {
            return Vec::new();
        };
        if self.dismissed.get() {
            return Vec::new();
        }
        self.list.value().with(|list| {
            list.as_deref()
                .map(|all| {
                    matching_canned(all, typed)
                        .into_iter()
                        .take(SHOWN)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Handles a key while suggestions show: whether the key was the menu's (so the
    /// composer leaves it alone), and the response chosen, if any.
    pub fn key(&self, key: &str, shown: &[CannedResponse]) -> (bool, Option<CannedResponse>) {
        if shown.is_empty() {
            return (false, None);
        }
        let n = shown.len();
        match key {
            "ArrowDown" => self.active.update(|i| *i = (*i + 1) % n),
            "ArrowUp" => self.active.update(|i| *i = (*i + n - 1) % n),
            "Escape" => self.dismissed.set(true),
            "Tab" | "Enter" => {
                let i = self.active.get_untracked().min(n - 1);
                return (true, shown.get(i).cloned());
            }
            _ => return (false, None),
        }
        (true, None)
    }

    pub fn active(&self) -> RwSignal<usize> {
        self.active
    }
}

/// The text a chosen response puts in the composer: its placeholders filled.
pub fn fill(response: &CannedResponse, contact_name: &str) -> String {
    let agent = use_context::<Me>()
        .map(|me| me.user.name)
        .unwrap_or_default();
    expand_canned(&response.text, contact_name, &agent)
}

/// The list under the composer while a `/shortcut` is typed.
#[component]
pub fn CannedMenu(
    shown: Signal<Vec<CannedResponse>>,
    active: RwSignal<usize>,
    #[prop(into)] pick: Callback<CannedResponse>,
) -> impl IntoView {
    view! {
        <Show when=move || !shown.read().is_empty()>
            <ul class="canned-menu" role="listbox" aria-label="Canned responses" data-testid="canned-menu">
                {move || shown.get().into_iter().enumerate().map(|(i, r)| {
                    let chosen = r.clone();
                    view! {
                        <li role="option" data-testid="canned-option"
                            aria-selected=move || (active.get() == i).to_string()
                            on:mousedown=move |ev| {
                                // Before the textarea loses focus.
                                ev.prevent_default();
                                pick.run(chosen.clone());
                            }>
                            <span class="shortcut">"/" {r.shortcut.clone()}</span>
                            <span class="text">{r.text.clone()}</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </Show>
    }
}

/// `/canned`: the responses the user may use, and a form to add or change them.
#[component]
pub fn CannedPage() -> impl IntoView {
    let saving = ServerAction::<crate::api::SaveCannedResponse>::new();
    let deleting = ServerAction::<crate::api::DeleteCannedResponse>::new();
    let list = Resource::new(
        move || (saving.version().get(), deleting.version().get()),
        |_| list_canned_responses(),
    );
    let editing = RwSignal::new(None::<CannedResponse>);
    let problem = move || {
        saving
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| deleting.value().get().and_then(|r| r.err()))
            .map(|e| e.message)
    };
    view! {
        <section class="canned-page" data-testid="canned-page">
            <header class="chat-header"><div class="title"><h1>"Canned responses"</h1></div></header>
            <div class="canned-body">
                <p class="hint">
                    "Type " <kbd>"/"</kbd> " and a shortcut in the composer, then Tab or Enter. "
                    <code>"{{contact.name}}"</code> " and " <code>"{{agent.name}}"</code> " are filled in."
                </p>
                <CannedForm saving editing/>
                <Show when=move || problem().is_some()>
                    <p class="error" role="alert" data-testid="canned-error">{problem}</p>
                </Show>
                <Transition fallback=|| view! { <p class="hint">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match list.await {
                            Ok(list) if list.responses.is_empty() => view! {
                                <p class="hint" data-testid="canned-empty">"No canned responses yet."</p>
                            }.into_any(),
                            Ok(list) => view! {
                                <ul class="canned-list" data-testid="canned-list">
                                    {list.responses.into_iter().map(|r| view! {
                                        <CannedRow response=r editing deleting/>
                                    }).collect_view()}
                                </ul>
                            }.into_any(),
                            Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </div>
        </section>
    }
}

#[component]
fn CannedRow(
    response: CannedResponse,
    editing: RwSignal<Option<CannedResponse>>,
    deleting: ServerAction<crate::api::DeleteCannedResponse>,
) -> impl IntoView {
    let id = response.id.clone();
    let edit = response.clone();
    let scope = if response.inbox_id.is_some() {
        "This inbox"
    } else {
        "All inboxes"
    };
    view! {
        <li class="canned-row" data-testid="canned-row">
            <div class="canned-head">
                <span class="shortcut">"/" {response.shortcut.clone()}</span>
                <span class="scope">{scope}</span>
            </div>
            <p class="text">{response.text.clone()}</p>
            <div class="row-actions">
                <button type="button" class="secondary" data-testid="canned-edit"
                    on:click=move |_| editing.set(Some(edit.clone()))>"Edit"</button>
                <button type="button" class="danger" data-testid="canned-delete"
                    on:click=move |_| {
                        deleting.dispatch(crate::api::DeleteCannedResponse { id: id.clone() });
                    }>"Delete"</button>
            </div>
        </li>
    }
}

/// New, or the one being edited; cleared after a save that worked.
#[component]
fn CannedForm(
    saving: ServerAction<crate::api::SaveCannedResponse>,
    editing: RwSignal<Option<CannedResponse>>,
) -> impl IntoView {
    let shortcut = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    // "" is every inbox (admins only); agents start on their first inbox.
    let me = use_context::<Me>();
    let default_scope = StoredValue::new(
        me.filter(|m| m.user.role != crate::model::Role::Admin)
            .and_then(|m| m.inbox_ids.first().cloned())
            .unwrap_or_default(),
    );
    let scope = RwSignal::new(default_scope.get_value());
    Effect::new(move |_| {
        if let Some(r) = editing.get() {
            shortcut.set(r.shortcut);
            text.set(r.text);
            scope.set(r.inbox_id.unwrap_or_default());
        }
    });
    let ready = super::hydrated();
    let inboxes = LocalResource::new(crate::api::server_info);
    Effect::new(move |_| {
        if matches!(saving.value().get(), Some(Ok(_))) {
            editing.set(None);
            shortcut.set(String::new());
            text.set(String::new());
        }
    });
    view! {
        <form class="canned-form" data-testid="canned-form" on:submit=move |ev| {
            ev.prevent_default();
            let inbox = scope.get_untracked();
            saving.dispatch(crate::api::SaveCannedResponse {
                id: editing.get_untracked().map(|r| r.id),
                shortcut: shortcut.get_untracked(),
                text: text.get_untracked(),
                inbox_id: (!inbox.is_empty()).then_some(inbox),
            });
        }>
            <label>
                <span>"Shortcut"</span>
                <input type="text" data-testid="canned-shortcut" required placeholder="thanks"
                    prop:value=move || shortcut.get() on:input=move |ev| shortcut.set(event_target_value(&ev))/>
            </label>
            <label>
                <span>"Text"</span>
                <textarea data-testid="canned-text" rows="3" required
                    placeholder="Thanks for writing, {{contact.name}}!"
                    prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            </label>
            // Drawn in the browser only: a list inside a server-rendered <select> loses
            // the markers hydration looks for.
            <Show when=move || ready.get()>
                <label>
                    <span>"For"</span>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let inboxes = inboxes.await.map(|i| i.inboxes).unwrap_or_default();
                            view! {
                                <select data-testid="canned-scope" prop:value=move || scope.get()
                                    on:change=move |ev| scope.set(event_target_value(&ev))>
                                    <option value="">"All inboxes"</option>
                                    {inboxes.into_iter().map(|i| {
                                        let name = i.name.clone().unwrap_or_else(|| i.phone_number_id.clone());
                                        view! { <option value=i.id.clone()>{name}</option> }
                                    }).collect_view()}
                                </select>
                            }
                        })}
                    </Transition>
                </label>
            </Show>
            <div class="row-actions">
                <button type="submit" data-testid="canned-save" disabled=move || saving.pending().get()>
                    {move || if editing.read().is_some() { "Save changes" } else { "Add response" }}
                </button>
                <Show when=move || editing.read().is_some()>
                    <button type="button" class="secondary" on:click=move |_| {
                        editing.set(None);
                        shortcut.set(String::new());
                        text.set(String::new());
                        scope.set(default_scope.get_value());
                    }>"Cancel"</button>
                </Show>
            </div>
        </form>
    }
}
