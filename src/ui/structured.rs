//! The composer's structured messages: reply buttons, a list, or media WhatsApp fetches
//! from a link. WhatsApp's limits are the inputs' limits, so what can be typed can be sent;
//! the server checks them again.

use leptos::prelude::*;

use super::state::InboxCtx;
use crate::model::{ChoiceOption, InteractiveSpec, MessageKind, Outgoing};

/// An input's text, trimmed; `None` when that leaves nothing.
fn trimmed(s: RwSignal<String>) -> Option<String> {
    Some(s.get_untracked().trim().to_string()).filter(|s| !s.is_empty())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Buttons,
    List,
    Link,
}

/// Toggles above the composer, and the open form.
#[component]
pub fn StructuredComposer(conversation_id: String) -> impl IntoView {
    let mode = RwSignal::new(None::<Mode>);
    let toggle =
        move |m: Mode| mode.update(|cur| *cur = if *cur == Some(m) { None } else { Some(m) });
    let tab = move |m: Mode, label: &'static str, testid: &'static str| {
        view! {
            <button type="button" class="link" data-testid=testid
                aria-pressed=move || (mode.get() == Some(m)).to_string()
                on:click=move |_| toggle(m)>{label}</button>
        }
    };
    let done = Callback::new(move |()| mode.set(None));
    let form = move || {
        let conversation_id = conversation_id.clone();
        mode.get()
            .map(|m| Suspend::new(structured_form(m, conversation_id, done)))
    };
    view! {
        <div class="structured">
            <span class="hint">"Send:"</span>
            {tab(Mode::Buttons, "reply buttons", "more-buttons")}
            {tab(Mode::List, "a list", "more-list")}
            {tab(Mode::Link, "media by link", "more-link")}
        </div>
        {form}
    }
}

/// The open form, as a WebAssembly chunk of its own (`cargo leptos build --split`),
/// fetched the first time an agent opens one.
#[lazy]
fn structured_form(mode: Mode, conversation_id: String, done: Callback<()>) -> AnyView {
    let done = move || done.run(());
    match mode {
        Mode::Buttons => view! { <ChoicesForm conversation_id list=false done/> }.into_any(),
        Mode::List => view! { <ChoicesForm conversation_id list=true done/> }.into_any(),
        Mode::Link => view! { <LinkForm conversation_id done/> }.into_any(),
    }
}

/// Reply buttons (up to 3) or a list (up to 10 rows behind a button).
#[component]
fn ChoicesForm(
    conversation_id: String,
    list: bool,
    done: impl Fn() + Clone + 'static,
) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let title_max = if list { 24 } else { 20 };
    let header = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    let footer = RwSignal::new(String::new());
    let button = RwSignal::new(String::new());
    // (title, description) per option; lists also describe rows.
    let options = RwSignal::new(vec![(String::new(), String::new()); 2]);
    // WhatsApp's most: three buttons, or ten rows in a list.
    let full = move || options.with(Vec::len) >= if list { 10 } else { 3 };
    let ready = move || {
        !body.read().trim().is_empty()
            && (!list || !button.read().trim().is_empty())
            && options.with(|o| !o.is_empty() && o.iter().all(|(t, _)| !t.trim().is_empty()))
    };
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !ready() {
            return;
        }
        let spec = InteractiveSpec {
            header: trimmed(header),
            body: body.get_untracked().trim().to_string(),
            footer: trimmed(footer),
            button: if list { trimmed(button) } else { None },
            options: options
                .get_untracked()
                .into_iter()
                .enumerate()
                .map(|(i, (title, description))| ChoiceOption {
                    // Ids come back in the customer's answer; the position is enough.
                    id: format!("{}{}", if list { "row" } else { "button" }, i + 1),
                    title: title.trim().to_string(),
                    description: Some(description.trim().to_string())
                        .filter(|d| list && !d.is_empty()),
                })
                .collect(),
        };
        ctx.send_structured(conversation_id.clone(), Outgoing::Interactive(spec));
        done();
    };
    let rows = move || {
        (0..options.with(Vec::len))
            .map(|i| {
                let title = move || options.with(|o| o.get(i).map(|o| o.0.clone()).unwrap_or_default());
                let description = move || options.with(|o| o.get(i).map(|o| o.1.clone()).unwrap_or_default());
                view! {
                    <div class="option">
                        <input data-testid="option-title" maxlength=title_max.to_string()
                            placeholder=if list { format!("Row {}", i + 1) } else { format!("Button {}", i + 1) }
                            prop:value=title
                            on:input=move |ev| {
                                let v = event_target_value(&ev);
                                options.update(|o| if let Some(o) = o.get_mut(i) { o.0 = v; });
                            }/>
                        {list.then(|| view! {
                            <input data-testid="option-description" maxlength="72" placeholder="Description (optional)"
                                prop:value=description
                                on:input=move |ev| {
                                    let v = event_target_value(&ev);
                                    options.update(|o| if let Some(o) = o.get_mut(i) { o.1 = v; });
                                }/>
                        })}
                        <button type="button" class="link" aria-label="Remove"
                            disabled=move || options.with(Vec::len) <= 1
                            on:click=move |_| options.update(|o| { if o.len() > 1 { o.remove(i); } })><super::icons::CloseIcon/></button>
                    </div>
                }
            })
            .collect_view()
    };
    view! {
        <form class="structured-form" data-testid=if list { "list-form" } else { "buttons-form" } on:submit=send>
            <input placeholder="Header (optional)" maxlength="60" prop:value=move || header.get()
                on:input=move |ev| header.set(event_target_value(&ev))/>
            <textarea data-testid="structured-body" rows="2" maxlength="1024" placeholder="Message"
                prop:value=move || body.get() on:input=move |ev| body.set(event_target_value(&ev))></textarea>
            <input placeholder="Footer (optional)" maxlength="60" prop:value=move || footer.get()
                on:input=move |ev| footer.set(event_target_value(&ev))/>
            {list.then(|| view! {
                <input data-testid="list-button" maxlength="20" placeholder="Button that opens the list"
                    prop:value=move || button.get() on:input=move |ev| button.set(event_target_value(&ev))/>
            })}
            {rows}
            <div class="actions">
                <button type="button" class="link" data-testid="add-option"
                    disabled=full
                    on:click=move |_| if !full() { options.update(|o| o.push(Default::default())); }>
                    {if list { "+ row" } else { "+ button" }}
                </button>
                <button type="submit" data-testid="send-structured" disabled=move || !ready()>"Send"</button>
            </div>
        </form>
    }
}

/// Media WhatsApp downloads from a public HTTPS link.
#[component]
fn LinkForm(conversation_id: String, done: impl Fn() + Clone + 'static) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let kind = RwSignal::new(MessageKind::Image);
    let link = RwSignal::new(String::new());
    let caption = RwSignal::new(String::new());
    let filename = RwSignal::new(String::new());
    let captioned = move || !matches!(kind.get(), MessageKind::Audio | MessageKind::Sticker);
    let ready =
        move || link.with(|l| l.trim().starts_with("https://") || l.trim().starts_with("http://"));
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !ready() {
            return;
        }
        let kind = kind.get_untracked();
        let outgoing = Outgoing::Media {
            kind,
            link: link.get_untracked().trim().to_string(),
            caption: trimmed(caption)
                .filter(|_| !matches!(kind, MessageKind::Audio | MessageKind::Sticker)),
            filename: trimmed(filename).filter(|_| kind == MessageKind::Document),
        };
        ctx.send_structured(conversation_id.clone(), outgoing);
        done();
    };
    let kinds = [
        (MessageKind::Image, "Image"),
        (MessageKind::Video, "Video"),
        (MessageKind::Audio, "Audio"),
        (MessageKind::Document, "Document"),
        (MessageKind::Sticker, "Sticker"),
    ];
    view! {
        <form class="structured-form" data-testid="link-form" on:submit=send>
            <select data-testid="link-kind" on:change=move |ev| {
                let picked = MessageKind::from_wire(&event_target_value(&ev));
                kind.set(picked);
            }>
                {kinds.into_iter().map(|(k, label)| view! { <option value=k.as_str()>{label}</option> }).collect_view()}
            </select>
            <input data-testid="link-url" type="url" placeholder="https://… (public; WhatsApp downloads it)"
                prop:value=move || link.get() on:input=move |ev| link.set(event_target_value(&ev))/>
            <Show when=captioned>
                <input data-testid="link-caption" maxlength="1024" placeholder="Caption (optional)"
                    prop:value=move || caption.get() on:input=move |ev| caption.set(event_target_value(&ev))/>
            </Show>
            <Show when=move || kind.get() == MessageKind::Document>
                <input data-testid="link-filename" placeholder="File name shown (optional)"
                    prop:value=move || filename.get() on:input=move |ev| filename.set(event_target_value(&ev))/>
            </Show>
            <div class="actions">
                <button type="submit" data-testid="send-structured" disabled=move || !ready()>"Send"</button>
            </div>
        </form>
    }
}
