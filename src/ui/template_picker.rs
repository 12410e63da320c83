//! Choosing an approved template and filling it in: the draft (one signal per part), the
//! inputs for each part, and the preview of what the customer will read.

use leptos::prelude::*;

use super::template_inputs::{
    CardDraft, CardField, CardInput, HeaderDraft, HeaderInputs, ValueInput, asked_slots,
    button_specs, buttons_filled, local_time_ms, variable_label,
};
use crate::model::{
    ButtonValueKind, HeaderMedia, TemplateCard, TemplateHeader, TemplateInfo, TemplateSpec,
};

/// The template being filled in. All handles, so it is `Copy` and every part can hold it.
#[derive(Clone, Copy)]
struct Draft {
    chosen: RwSignal<Option<TemplateInfo>>,
    values: RwSignal<Vec<String>>,
    header: RwSignal<HeaderDraft>,
    /// One per button slot; only the slots an agent fills are shown.
    button_values: RwSignal<Vec<String>>,
    /// A limited-time offer's end, as the agent's `datetime-local` input gives it.
    offer_end: RwSignal<String>,
    /// A carousel's cards, one draft each.
    cards: RwSignal<Vec<CardDraft>>,
}

fn counts_down(t: &TemplateInfo) -> bool {
    t.offer.as_ref().is_some_and(|o| o.has_expiration)
}

fn filled(v: &[String]) -> bool {
    v.iter().all(|v| !v.trim().is_empty())
}

fn trimmed(v: Vec<String>) -> Vec<String> {
    v.iter().map(|v| v.trim().to_string()).collect()
}

impl Draft {
    fn new() -> Self {
        Self {
            chosen: RwSignal::new(None),
            values: RwSignal::new(Vec::new()),
            header: RwSignal::new(HeaderDraft::default()),
            button_values: RwSignal::new(Vec::new()),
            offer_end: RwSignal::new(String::new()),
            cards: RwSignal::new(Vec::new()),
        }
    }

    /// Starts over with `t` (or nothing): one blank value per variable, button and card.
    fn choose(&self, t: Option<TemplateInfo>) {
        let blank = |n: usize| vec![String::new(); n];
        self.values
            .set(blank(t.as_ref().map_or(0, |t| t.params.len())));
        self.button_values
            .set(blank(t.as_ref().map_or(0, |t| t.button_slots.len())));
        self.header.set(HeaderDraft::default());
        self.offer_end.set(String::new());
        self.cards.set(
            t.iter()
                .flat_map(|t| &t.cards)
                .map(|c| CardDraft {
                    link: String::new(),
                    values: blank(c.params.len()),
                    buttons: blank(c.button_slots.len()),
                })
                .collect(),
        );
        self.chosen.set(t);
    }

    /// Everything the chosen template asks for is there.
    fn ready(&self) -> bool {
        self.chosen.with(|t| {
            let Some(t) = t.as_ref().filter(|t| t.unsupported.is_none()) else {
                return false;
            };
            let header_ok = t
                .header_needs()
                .is_none_or(|f| self.header.with(|h| h.value(f).is_some()));
            let buttons_ok = self
                .button_values
                .with(|v| buttons_filled(&t.button_slots, v));
            let offer_ok = !counts_down(t) || self.offer_end.with(|e| local_time_ms(e).is_some());
            let cards_ok = self.cards.with(|drafts| {
                t.cards.iter().zip(drafts).all(|(c, d)| {
                    !d.link.trim().is_empty()
                        && filled(&d.values)
                        && buttons_filled(&c.button_slots, &d.buttons)
                })
            });
            header_ok && buttons_ok && offer_ok && cards_ok && self.values.with(|v| filled(v))
        })
    }

    /// The template as sent, and the text the customer will read.
    fn spec(&self) -> Option<(TemplateSpec, String)> {
        let t = self.chosen.get_untracked().filter(|_| self.ready())?;
        let params = trimmed(self.values.get_untracked());
        let header = t
            .header_needs()
            .and_then(|f| self.header.with_untracked(|h| h.value(f)));
        let header_text = match &header {
            Some(TemplateHeader::Text { text, .. }) => Some(text.clone()),
            _ => None,
        };
        let buttons = button_specs(
            &t.button_slots,
            &trimmed(self.button_values.get_untracked()),
        );
        let cards = t
            .cards
            .iter()
            .zip(self.cards.get_untracked())
            .map(|(c, d)| {
                let params = trimmed(d.values);
                let file = HeaderMedia {
                    link: Some(d.link.trim().to_string()),
                    ..HeaderMedia::default()
                };
                TemplateCard {
                    header: if c.header_format == "VIDEO" {
                        TemplateHeader::Video(file)
                    } else {
                        TemplateHeader::Image(file)
                    },
                    param_names: if c.named {
                        c.params.clone()
                    } else {
                        Vec::new()
                    },
                    buttons: button_specs(&c.button_slots, &trimmed(d.buttons)),
                    text: Some(c.render(&params)),
                    params,
                }
            })
            .collect();
        let text = t.customer_text(&params, header_text.as_deref());
        let param_names = if t.named {
            t.params.clone()
        } else {
            Vec::new()
        };
        let offer_expires_at_ms = counts_down(&t)
            .then(|| self.offer_end.with_untracked(|e| local_time_ms(e)))
            .flatten();
        let spec = TemplateSpec {
            name: t.name,
            language: t.language,
            params,
            param_names,
            header,
            buttons,
            offer_expires_at_ms,
            cards,
        };
        Some((spec, text))
    }

    /// Empties what was typed, keeping the template chosen.
    fn clear(&self) {
        self.values.update(|v| v.iter_mut().for_each(String::clear));
        self.button_values
            .update(|v| v.iter_mut().for_each(String::clear));
        self.header.set(HeaderDraft::default());
        self.cards
            .update(|drafts| drafts.iter_mut().for_each(CardDraft::clear));
    }
}

/// The picker, as a WebAssembly chunk of its own (`cargo leptos build --split`): most
/// replies are written inside the 24-hour window and never need it.
#[lazy]
pub(super) fn template_picker(
    on_send: Callback<(TemplateSpec, String)>,
    templates: Vec<TemplateInfo>,
    reload: RwSignal<u32>,
    opted_out: Signal<bool>,
) -> AnyView {
    view! { <TemplatePicker on_send templates reload opted_out/> }.into_any()
}

/// The approved templates, one chosen, its values and a preview of the text.
#[component]
fn TemplatePicker(
    on_send: Callback<(TemplateSpec, String)>,
    templates: Vec<TemplateInfo>,
    reload: RwSignal<u32>,
    /// The customer opted out of marketing: marketing templates are refused here, before
    /// the server would refuse them.
    #[prop(into)]
    opted_out: Signal<bool>,
) -> impl IntoView {
    let draft = Draft::new();
    let refused = move || {
        opted_out.get()
            && draft
                .chosen
                .read()
                .as_ref()
                .is_some_and(|t| t.is_marketing())
    };
    let options = templates.clone();
    let pick = move |ev: leptos::ev::Event| {
        let index = event_target_value(&ev).parse::<usize>().ok();
        draft.choose(index.and_then(|i| templates.get(i).cloned()));
    };
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if refused() {
            return;
        }
        if let Some((spec, text)) = draft.spec() {
            on_send.run((spec, text));
            draft.clear();
        }
    };
    let header_inputs = move || {
        draft.chosen.get().and_then(|t| {
            let format = t.header_needs()?.to_string();
            Some(view! { <HeaderInputs format=format header=draft.header/> })
        })
    };
    view! {
        <form class="template-picker" on:submit=send>
            <label>"Approved template"
                <select data-testid="template-pick" on:change=pick>
                    <option value="">"Choose…"</option>
                    {options.iter().enumerate().map(|(i, t)| view! {
                        <option value=i.to_string() data-name=t.name.clone()>
                            {format!("{} · {} · {}", t.name, t.language, t.category.to_lowercase())}
                            {t.unsupported.is_some().then_some(" (not from here)")}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <button type="button" class="link" data-testid="template-refresh" title="Read the list from WhatsApp again"
                on:click=move |_| reload.update(|n| *n += 1)>"↻"</button>
            {header_inputs}
            <VariableInputs draft/>
            <ButtonInputs draft/>
            <CardInputs draft/>
            <OfferInput draft/>
            <TemplatePreview draft/>
            <Show when=refused>
                <p class="error" role="alert" data-testid="template-opted-out">
                    "This customer opted out of marketing messages: choose a utility template, or reply once they write."
                </p>
            </Show>
            <button type="submit" data-testid="send-template" disabled=move || !draft.ready() || refused()>"Send template"</button>
        </form>
    }
}

/// One input per variable of the body.
#[component]
fn VariableInputs(draft: Draft) -> impl IntoView {
    move || {
        draft.chosen.get().map(|t| {
            t.params
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    view! {
                        <label>{variable_label(name, t.named)}
                            <ValueInput values=draft.values index=i testid="template-param" placeholder="" max=1024/>
                        </label>
                    }
                })
                .collect_view()
        })
    }
}

/// The buttons that take a value (a coupon code, the end of a link); an OTP button's code
/// is the first variable.
#[component]
fn ButtonInputs(draft: Draft) -> impl IntoView {
    move || {
        draft.chosen.get().map(|t| {
            let otp = t.button_slots.iter().find(|s| s.otp).map(|s| view! {
                <p class="hint">{format!("“{}” carries the code given as {{{{1}}}}.", s.label)}</p>
            });
            let asked = asked_slots(&t.button_slots)
                .map(|(i, slot)| {
                    let (hint, max) = match slot.sub_type {
                        ButtonValueKind::CopyCode => ("the coupon code", 15),
                        _ => ("the end of the button's link", 2000),
                    };
                    view! {
                        <label>{format!("Button “{}”", slot.label)}
                            <ValueInput values=draft.button_values index=i testid="template-button-value" placeholder=hint max=max/>
                        </label>
                    }
                })
                .collect_view();
            view! { {asked} {otp} }
        })
    }
}

/// A carousel's cards: each one's photo or video link, variables and buttons.
#[component]
fn CardInputs(draft: Draft) -> impl IntoView {
    let cards = draft.cards;
    move || {
        draft.chosen.get().map(|t| {
            t.cards
                .iter()
                .enumerate()
                .map(|(c, card)| {
                    let kind = if card.header_format == "VIDEO" { "video" } else { "photo" };
                    let values = card
                        .params
                        .iter()
                        .enumerate()
                        .map(|(i, name)| view! {
                            <label>{variable_label(name, card.named)}
                                <CardInput cards=cards card=c field=CardField::Value(i) testid="template-card-param" placeholder="" max=1024/>
                            </label>
                        })
                        .collect_view();
                    let buttons = asked_slots(&card.button_slots)
                        .map(|(i, slot)| view! {
                            <label>{format!("Button “{}”", slot.label)}
                                <CardInput cards=cards card=c field=CardField::Button(i) testid="template-card-button-value"
                                    placeholder="the end of the button's link" max=2000/>
                            </label>
                        })
                        .collect_view();
                    view! {
                        <fieldset class="card" data-testid="template-card-fields">
                            <legend>{format!("Card {}", c + 1)}</legend>
                            <label>{format!("Its {kind}: a public link")}
                                <CardInput cards=cards card=c field=CardField::Link testid="template-card-link" placeholder="https://…" max=2000/>
                            </label>
                            {values}
                            {buttons}
                        </fieldset>
                    }
                })
                .collect_view()
        })
    }
}

/// When a limited-time offer ends, for a template that counts down.
#[component]
fn OfferInput(draft: Draft) -> impl IntoView {
    let offer_end = draft.offer_end;
    move || {
        draft.chosen.get().filter(counts_down).map(|t| {
            let headline = t.offer.map(|o| o.text).unwrap_or_default();
            view! {
                <label>{format!("“{headline}” ends at")}
                    <input type="datetime-local" data-testid="template-offer-end"
                        prop:value=move || offer_end.get()
                        on:input=move |ev| offer_end.set(event_target_value(&ev))/>
                </label>
            }
        })
    }
}

/// The text the customer will read, as it is typed.
#[component]
fn TemplatePreview(draft: Draft) -> impl IntoView {
    move || {
        draft.chosen.get().map(|t| {
            let header_text = draft
                .header
                .with(|h| Some(h.text.trim().to_string()).filter(|s| !s.is_empty()));
            let text = draft
                .values
                .with(|v| t.customer_text(v, header_text.as_deref()));
            let media = t
                .header_needs()
                .filter(|f| *f != "TEXT")
                .map(|f| draft.header.with(|h| h.describe(f)));
            view! {
                <div class="template-preview" data-testid="template-preview">
                    {media.map(|m| view! { <p class="kind" data-testid="template-header-preview">{m}</p> })}
                    <p class="body">{text}</p>
                    {t.footer.clone().map(|f| view! { <p class="hint">{f}</p> })}
                    {(!t.buttons.is_empty()).then(|| view! { <p class="hint">{t.buttons.join(" · ")}</p> })}
                    {draft.cards.with(|drafts| t.cards.iter().zip(drafts).enumerate().map(|(i, (c, d))| view! {
                        <p class="hint" data-testid="template-card-preview">
                            {format!("Card {}: {}", i + 1, c.render(&d.values))}
                            {(!c.buttons.is_empty()).then(|| format!(" [{}]", c.buttons.join(" · ")))}
                        </p>
                    }).collect_view())}
                    {t.unsupported.clone().map(|u| view! { <p class="error" role="alert">{u}</p> })}
                </div>
            }
        })
    }
}
