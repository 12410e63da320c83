//! The composer once the 24-hour window has closed: approved templates only.

use leptos::prelude::*;

use super::state::InboxCtx;
use super::template_picker::template_picker;
use crate::api::{approved_templates, inbox_templates};
use crate::model::TemplateSpec;

/// Outside the 24-hour window WhatsApp only delivers approved templates: pick one from
/// WhatsApp Manager's list and fill in its values, watching the text the customer will
/// read. When the list cannot be had, a template can still be typed by name.
#[component]
pub fn TemplateForm(
    conversation_id: String,
    /// The customer opted out of marketing messages.
    #[prop(into)]
    opted_out: Signal<bool>,
) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let id = conversation_id.clone();
    let on_send = Callback::new(move |(spec, text): (TemplateSpec, String)| {
        ctx.send_template(id.clone(), spec, text);
    });
    view! {
        <div class="composer template" data-testid="window-banner">
            <p class="banner" role="status">
                "The 24-hour window is closed: the customer has not written for more than a day. "
                "WhatsApp only delivers approved templates now; when the customer replies, you can write freely again."
            </p>
            <TemplateChooser source=TemplateSource::Conversation(conversation_id) on_send opted_out/>
        </div>
    }
}

/// Whose approved templates to list: an open conversation's inbox, or an inbox.
#[derive(Clone, Debug, PartialEq)]
pub enum TemplateSource {
    Conversation(String),
    Inbox(String),
}

/// The approved templates of a conversation's (or an inbox's) number, one picked and
/// filled in, or a template typed by name when the list cannot be had; `on_send` gets
/// the template and the text the customer will read.
#[component]
pub fn TemplateChooser(
    source: TemplateSource,
    on_send: Callback<(TemplateSpec, String)>,
    #[prop(into, optional)] opted_out: Signal<bool>,
) -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let by_hand = RwSignal::new(false);
    // Loaded in the browser only: the list comes from WhatsApp Manager, which the page
    // need not wait for, and a server-drawn picker (in the composer's `Suspense`) did not
    // hydrate on a reload, which stopped the app.
    let list = super::loaded_in_browser(move || {
        let n = reload.get();
        let source = source.clone();
        async move {
            match source {
                TemplateSource::Conversation(id) => approved_templates(id, n > 0).await,
                TemplateSource::Inbox(id) => inbox_templates(id, n > 0).await,
            }
        }
    });
    move || {
        let Some(answer) = list.get() else {
            return view! { <p class="hint">"Loading approved templates…"</p> }.into_any();
        };
        let (templates, problem) = match answer {
            Ok(l) => (l.templates, l.problem),
            Err(e) => (Vec::new(), Some(e.message)),
        };
        let problem =
            problem.map(|p| view! { <p class="hint" data-testid="template-problem">{p}</p> });
        if templates.is_empty() || by_hand.get() {
            let back = (!templates.is_empty()).then(|| view! {
                <button type="button" class="link" on:click=move |_| by_hand.set(false)>"Choose from the list"</button>
            });
            view! { {problem} <TemplateByName on_send/> {back} }.into_any()
        } else {
            view! {
                {problem}
                {Suspend::new(template_picker(on_send, templates, reload, opted_out))}
                <button type="button" class="link" data-testid="template-by-name"
                    on:click=move |_| by_hand.set(true)>"Type a template by name"</button>
            }
            .into_any()
        }
    }
}

/// A template typed by name, language and values, for when the list is not available.
#[component]
fn TemplateByName(on_send: Callback<(TemplateSpec, String)>) -> impl IntoView {
    let name = RwSignal::new(String::from("hello_world"));
    let language = RwSignal::new(String::from("en_US"));
    let params = RwSignal::new(String::new());
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let params: Vec<String> = params
            .get_untracked()
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        let name = name.get_untracked().trim().to_string();
        let text = crate::model::unrendered_text(&name, &params);
        on_send.run((
            TemplateSpec {
                name,
                language: language.get_untracked().trim().to_string(),
                params,
                ..TemplateSpec::default()
            },
            text,
        ));
    };
    view! {
        <form class="template-picker" on:submit=send>
            <label>"Template name "
                <input data-testid="template-name" prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))/>
            </label>
            <label>"Language "
                <input data-testid="template-language" size="6" prop:value=move || language.get()
                    on:input=move |ev| language.set(event_target_value(&ev))/>
            </label>
            <label>"Values (one per line) "
                <textarea data-testid="template-params" rows="2" prop:value=move || params.get()
                    on:input=move |ev| params.set(event_target_value(&ev))></textarea>
            </label>
            <button type="submit" data-testid="send-template">"Send template"</button>
        </form>
    }
}
