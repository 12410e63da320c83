//! The composer once the 24-hour window has closed: approved templates only.

use leptos::prelude::*;

use super::state::InboxCtx;
use crate::api::approved_templates;
use crate::model::{ButtonSlot, TemplateInfo};
use crate::model::{
    ButtonValueKind, HeaderMedia, TemplateButton, TemplateCard, TemplateHeader, TemplateSpec,
    UploadInfo,
};

/// Outside the 24-hour window WhatsApp only delivers approved templates: pick one from
/// WhatsApp Manager's list and fill in its values, watching the text the customer will
/// read. When the list cannot be had, a template can still be typed by name.
#[component]
pub fn TemplateForm(conversation_id: String) -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let by_hand = RwSignal::new(false);
    let list = {
        let conversation_id = conversation_id.clone();
        Resource::new(
            move || reload.get(),
            move |n| approved_templates(conversation_id.clone(), n > 0),
        )
    };
    let body = move || {
        let conversation_id = conversation_id.clone();
        list.get().map(move |answer| {
            let (templates, problem) = match answer {
                Ok(l) => (l.templates, l.problem),
                Err(e) => (Vec::new(), Some(e.message)),
            };
            let problem = problem.map(|p| view! { <p class="hint" data-testid="template-problem">{p}</p> });
            if templates.is_empty() || by_hand.get() {
                let back = (!templates.is_empty()).then(|| view! {
                    <button type="button" class="link" on:click=move |_| by_hand.set(false)>"Choose from the list"</button>
                });
                view! { {problem} <TemplateByName conversation_id=conversation_id/> {back} }.into_any()
            } else {
                view! {
                    {problem}
                    <TemplatePicker conversation_id=conversation_id templates=templates reload=reload/>
                    <button type="button" class="link" data-testid="template-by-name"
                        on:click=move |_| by_hand.set(true)>"Type a template by name"</button>
                }
                .into_any()
            }
        })
    };
    view! {
        <div class="composer template" data-testid="window-banner">
            <p class="banner" role="status">
                "The 24-hour window is closed: the customer has not written for more than a day. "
                "WhatsApp only delivers approved templates now; when the customer replies, you can write freely again."
            </p>
            <Transition fallback=|| view! { <p class="hint">"Loading approved templates…"</p> }>
                {body.clone()}
            </Transition>
        </div>
    }
}

/// The approved templates, one chosen, its values and a preview of the text.
#[component]
fn TemplatePicker(
    conversation_id: String,
    templates: Vec<TemplateInfo>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let chosen = RwSignal::new(None::<TemplateInfo>);
    let values = RwSignal::new(Vec::<String>::new());
    let header = RwSignal::new(HeaderDraft::default());
    // One per button slot; only the slots an agent fills are shown.
    let button_values = RwSignal::new(Vec::<String>::new());
    // A limited-time offer's end, as the agent's `datetime-local` input gives it.
    let offer_end = RwSignal::new(String::new());
    // A carousel's cards, one draft each.
    let cards = RwSignal::new(Vec::<CardDraft>::new());
    let options = templates.clone();
    let pick = move |ev: leptos::ev::Event| {
        let t = event_target_value(&ev)
            .parse::<usize>()
            .ok()
            .and_then(|i| templates.get(i).cloned());
        let blank = |n: usize| vec![String::new(); n];
        values.set(blank(t.as_ref().map_or(0, |t| t.params.len())));
        button_values.set(blank(t.as_ref().map_or(0, |t| t.button_slots.len())));
        header.set(HeaderDraft::default());
        offer_end.set(String::new());
        cards.set(
            t.iter()
                .flat_map(|t| &t.cards)
                .map(|c| CardDraft {
                    link: String::new(),
                    values: blank(c.params.len()),
                    buttons: blank(c.button_slots.len()),
                })
                .collect(),
        );
        chosen.set(t);
    };
    let counts_down = |t: &TemplateInfo| t.offer.as_ref().is_some_and(|o| o.has_expiration);
    let filled = |v: &Vec<String>| v.iter().all(|v| !v.trim().is_empty());
    let ready = move || {
        chosen.with(|t| {
            let Some(t) = t.as_ref().filter(|t| t.unsupported.is_none()) else {
                return false;
            };
            let header_ok = t
                .header_needs()
                .is_none_or(|f| header.with(|h| h.value(f).is_some()));
            let buttons_ok = button_values.with(|v| buttons_filled(&t.button_slots, v));
            let offer_ok = !counts_down(t) || offer_end.with(|e| local_time_ms(e).is_some());
            let cards_ok = cards.with(|drafts| {
                t.cards.iter().zip(drafts).all(|(c, d)| {
                    !d.link.trim().is_empty()
                        && filled(&d.values)
                        && buttons_filled(&c.button_slots, &d.buttons)
                })
            });
            header_ok && buttons_ok && offer_ok && cards_ok && values.with(filled)
        })
    };
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(t) = chosen.get_untracked().filter(|_| ready()) else {
            return;
        };
        let trimmed = |v: Vec<String>| v.iter().map(|v| v.trim().to_string()).collect::<Vec<_>>();
        let params = trimmed(values.get_untracked());
        let header_value = t
            .header_needs()
            .and_then(|f| header.with_untracked(|h| h.value(f)));
        let header_text = match &header_value {
            Some(TemplateHeader::Text { text, .. }) => Some(text.clone()),
            _ => None,
        };
        let buttons = button_specs(&t.button_slots, &trimmed(button_values.get_untracked()));
        let card_specs = t
            .cards
            .iter()
            .zip(cards.get_untracked())
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
            .then(|| offer_end.with_untracked(|e| local_time_ms(e)))
            .flatten();
        ctx.send_template(
            conversation_id.clone(),
            TemplateSpec {
                name: t.name,
                language: t.language,
                params,
                param_names,
                header: header_value,
                buttons,
                offer_expires_at_ms,
                cards: card_specs,
            },
            text,
        );
        values.update(|v| v.iter_mut().for_each(String::clear));
        button_values.update(|v| v.iter_mut().for_each(String::clear));
        header.set(HeaderDraft::default());
        cards.update(|drafts| drafts.iter_mut().for_each(CardDraft::clear));
    };
    let inputs = move || {
        chosen.get().map(|t| {
            t.params
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    view! {
                        <label>{variable_label(name, t.named)}
                            <ValueInput values=values index=i testid="template-param" placeholder="" max=1024/>
                        </label>
                    }
                })
                .collect_view()
        })
    };
    let header_inputs = move || {
        chosen.get().and_then(|t| {
            let format = t.header_needs()?.to_string();
            Some(view! { <HeaderInputs format=format header=header/> })
        })
    };
    let button_inputs = move || {
        chosen.get().map(|t| {
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
                            <ValueInput values=button_values index=i testid="template-button-value" placeholder=hint max=max/>
                        </label>
                    }
                })
                .collect_view();
            view! { {asked} {otp} }
        })
    };
    let card_inputs = move || {
        chosen.get().map(|t| {
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
    };
    let offer_input = move || {
        chosen.get().filter(counts_down).map(|t| {
            let headline = t.offer.map(|o| o.text).unwrap_or_default();
            view! {
                <label>{format!("“{headline}” ends at")}
                    <input type="datetime-local" data-testid="template-offer-end"
                        prop:value=move || offer_end.get()
                        on:input=move |ev| offer_end.set(event_target_value(&ev))/>
                </label>
            }
        })
    };
    let preview = move || {
        chosen.get().map(|t| {
            let header_text = header.with(|h| Some(h.text.trim().to_string()).filter(|s| !s.is_empty()));
            let text = values.with(|v| t.customer_text(v, header_text.as_deref()));
            let media = t
                .header_needs()
                .filter(|f| *f != "TEXT")
                .map(|f| header.with(|h| h.describe(f)));
            view! {
                <div class="template-preview" data-testid="template-preview">
                    {media.map(|m| view! { <p class="kind" data-testid="template-header-preview">{m}</p> })}
                    <p class="body">{text}</p>
                    {t.footer.clone().map(|f| view! { <p class="hint">{f}</p> })}
                    {(!t.buttons.is_empty()).then(|| view! { <p class="hint">{t.buttons.join(" · ")}</p> })}
                    {cards.with(|drafts| t.cards.iter().zip(drafts).enumerate().map(|(i, (c, d))| view! {
                        <p class="hint" data-testid="template-card-preview">
                            {format!("Card {}: {}", i + 1, c.render(&d.values))}
                            {(!c.buttons.is_empty()).then(|| format!(" [{}]", c.buttons.join(" · ")))}
                        </p>
                    }).collect_view())}
                    {t.unsupported.clone().map(|u| view! { <p class="error" role="alert">{u}</p> })}
                </div>
            }
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
            {inputs}
            {button_inputs}
            {card_inputs}
            {offer_input}
            {preview}
            <button type="submit" data-testid="send-template" disabled=move || !ready()>"Send template"</button>
        </form>
    }
}

/// An input for one of a list of values.
#[component]
fn ValueInput(
    values: RwSignal<Vec<String>>,
    index: usize,
    testid: &'static str,
    placeholder: &'static str,
    max: usize,
) -> impl IntoView {
    view! {
        <input data-testid=testid placeholder=placeholder maxlength=max
            prop:value=move || values.with(|v| v.get(index).cloned().unwrap_or_default())
            on:input=move |ev| {
                let value = event_target_value(&ev);
                values.update(|v| if let Some(slot) = v.get_mut(index) { *slot = value; });
            }/>
    }
}

/// How the composer names a variable: by name, or as `{{1}}`.
fn variable_label(name: &str, named: bool) -> String {
    if named {
        name.to_string()
    } else {
        format!("{{{{{name}}}}}")
    }
}

/// What is typed for one card of a carousel.
#[derive(Clone, Debug, Default)]
struct CardDraft {
    link: String,
    values: Vec<String>,
    /// One per button slot of the card, as for the template's own buttons.
    buttons: Vec<String>,
}

/// One input of a card.
#[derive(Clone, Copy, Debug)]
enum CardField {
    Link,
    Value(usize),
    Button(usize),
}

impl CardDraft {
    fn get(&self, field: CardField) -> Option<&String> {
        match field {
            CardField::Link => Some(&self.link),
            CardField::Value(i) => self.values.get(i),
            CardField::Button(i) => self.buttons.get(i),
        }
    }

    fn field(&mut self, field: CardField) -> Option<&mut String> {
        match field {
            CardField::Link => Some(&mut self.link),
            CardField::Value(i) => self.values.get_mut(i),
            CardField::Button(i) => self.buttons.get_mut(i),
        }
    }

    fn clear(&mut self) {
        self.link.clear();
        self.values.iter_mut().for_each(String::clear);
        self.buttons.iter_mut().for_each(String::clear);
    }
}

/// An input for one field of one carousel card.
#[component]
fn CardInput(
    cards: RwSignal<Vec<CardDraft>>,
    card: usize,
    field: CardField,
    testid: &'static str,
    placeholder: &'static str,
    max: usize,
) -> impl IntoView {
    view! {
        <input data-testid=testid placeholder=placeholder maxlength=max
            prop:value=move || cards.with(|c| {
                c.get(card).and_then(|d| d.get(field)).cloned().unwrap_or_default()
            })
            on:input=move |ev| {
                let value = event_target_value(&ev);
                cards.update(|c| {
                    if let Some(slot) = c.get_mut(card).and_then(|d| d.field(field)) {
                        *slot = value;
                    }
                });
            }/>
    }
}

/// A `datetime-local` value (the agent's own time zone) as Unix milliseconds, if it is a
/// time to come. Only the browser knows the agent's zone.
fn local_time_ms(value: &str) -> Option<i64> {
    #[cfg(feature = "hydrate")]
    {
        let ms = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(value)).get_time();
        (!value.is_empty() && ms.is_finite() && ms > js_sys::Date::now()).then_some(ms as i64)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = value;
        None
    }
}

/// The button slots an agent types a value for, with their position in `slots`:
/// required ones, except a code button, which takes the body's code.
fn asked_slots(slots: &[ButtonSlot]) -> impl Iterator<Item = (usize, &ButtonSlot)> {
    slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.required && !s.otp)
}

/// Whether every asked slot has a value (`typed` holds one per slot).
fn buttons_filled(slots: &[ButtonSlot], typed: &[String]) -> bool {
    asked_slots(slots).all(|(i, _)| typed.get(i).is_some_and(|v| !v.trim().is_empty()))
}

/// The button values to send: one per asked slot.
fn button_specs(slots: &[ButtonSlot], typed: &[String]) -> Vec<TemplateButton> {
    asked_slots(slots)
        .map(|(i, slot)| TemplateButton {
            index: slot.index,
            sub_type: slot.sub_type,
            value: typed.get(i).cloned().unwrap_or_default(),
        })
        .collect()
}

/// What is typed for a header, for every kind of header.
#[derive(Clone, Debug, Default)]
struct HeaderDraft {
    text: String,
    link: String,
    filename: String,
    upload: Option<UploadInfo>,
    latitude: String,
    longitude: String,
    place: String,
    address: String,
}

impl HeaderDraft {
    /// The header as sent, once what a `format` header needs is there.
    fn value(&self, format: &str) -> Option<TemplateHeader> {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        match format {
            "TEXT" => some(&self.text).map(|text| TemplateHeader::Text {
                text,
                parameter_name: None,
            }),
            "LOCATION" => Some(TemplateHeader::Location {
                latitude: self.latitude.trim().parse().ok()?,
                longitude: self.longitude.trim().parse().ok()?,
                name: some(&self.place),
                address: some(&self.address),
            }),
            media => {
                let file = match &self.upload {
                    Some(u) => HeaderMedia {
                        upload: Some(u.upload.clone()),
                        ..HeaderMedia::default()
                    },
                    None => HeaderMedia {
                        link: Some(some(&self.link)?),
                        filename: some(&self.filename).filter(|_| media == "DOCUMENT"),
                        ..HeaderMedia::default()
                    },
                };
                match media {
                    "IMAGE" => Some(TemplateHeader::Image(file)),
                    "VIDEO" => Some(TemplateHeader::Video(file)),
                    "DOCUMENT" => Some(TemplateHeader::Document(file)),
                    _ => None,
                }
            }
        }
    }

    /// The preview's line for a media or location header.
    fn describe(&self, format: &str) -> String {
        let what = match format {
            "LOCATION" => format!("{} {}", self.latitude.trim(), self.longitude.trim()),
            _ => match &self.upload {
                Some(u) => u
                    .filename
                    .clone()
                    .unwrap_or_else(|| "the uploaded file".into()),
                None => self.link.trim().to_string(),
            },
        };
        format!("[{format}] {what}")
    }
}

/// The inputs a header of `format` needs.
#[component]
fn HeaderInputs(format: String, header: RwSignal<HeaderDraft>) -> impl IntoView {
    type Field = fn(&mut HeaderDraft) -> &mut String;
    let input = move |label: &'static str, testid: &'static str, field: Field| {
        view! {
            <label>{label}
                <input data-testid=testid
                    prop:value=move || field(&mut header.get()).clone()
                    on:input=move |ev| {
                        let value = event_target_value(&ev);
                        header.update(|h| *field(h) = value);
                    }/>
            </label>
        }
    };
    match format.as_str() {
        "TEXT" => input("Header value", "template-header-text", |h| &mut h.text).into_any(),
        "LOCATION" => view! {
            {input("Latitude", "template-header-latitude", |h| &mut h.latitude)}
            {input("Longitude", "template-header-longitude", |h| &mut h.longitude)}
            {input("Place", "template-header-place", |h| &mut h.place)}
            {input("Address", "template-header-address", |h| &mut h.address)}
        }
        .into_any(),
        media => {
            let kind = media.to_ascii_lowercase();
            let accept = match media {
                "IMAGE" => "image/jpeg,image/png",
                "VIDEO" => "video/mp4,video/3gpp",
                _ => "application/pdf",
            };
            let document = media == "DOCUMENT";
            let upload =
                super::state::upload_action(move |info| header.update(|h| h.upload = Some(info)));
            let uploading = upload.pending();
            let problem = move || super::state::upload_problem(upload);
            let attach = move |ev: leptos::ev::Event| {
                #[cfg(feature = "hydrate")]
                {
                    use wasm_bindgen::JsCast;
                    if let Some(input) = ev
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                        && let Some(file) = input.files().and_then(|list| list.get(0))
                    {
                        input.set_value("");
                        upload.dispatch_local(file);
                    }
                }
                #[cfg(not(feature = "hydrate"))]
                let _ = ev;
            };
            let attached = move || {
                header.with(|h| {
                    h.upload
                        .as_ref()
                        .map(|u| u.filename.clone().unwrap_or_default())
                })
            };
            view! {
                <Show when=move || attached().is_none()
                    fallback=move || view! {
                        <p class="hint" data-testid="template-header-attached">
                            {format!("Header {kind}: ")} {attached}
                            <button type="button" class="link" on:click=move |_| header.update(|h| h.upload = None)>"remove"</button>
                        </p>
                    }>
                    {input("Header file: a public link", "template-header-link", |h| &mut h.link)}
                    {document.then(|| input("File name", "template-header-filename", |h| &mut h.filename))}
                    <label>"or upload"
                        <input type="file" data-testid="template-header-file" accept=accept on:change=attach
                            disabled=move || uploading.get()/>
                    </label>
                </Show>
                <Show when=move || uploading.get()>
                    <p class="hint" role="status">"Uploading…"</p>
                </Show>
                {move || problem().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            }
            .into_any()
        }
    }
}

/// A template typed by name, language and values, for when the list is not available.
#[component]
fn TemplateByName(conversation_id: String) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
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
        ctx.send_template(
            conversation_id.clone(),
            TemplateSpec {
                name,
                language: language.get_untracked().trim().to_string(),
                params,
                ..TemplateSpec::default()
            },
            text,
        );
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
