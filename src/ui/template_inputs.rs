//! The inputs a template's values are typed into, and the drafts they fill: body
//! variables, buttons, carousel cards and headers of every kind.

use leptos::prelude::*;

use crate::model::{ButtonSlot, HeaderMedia, TemplateButton, TemplateHeader, UploadInfo};

/// An input for one of a list of values.
#[component]
pub(super) fn ValueInput(
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
pub(super) fn variable_label(name: &str, named: bool) -> String {
    if named {
        name.to_string()
    } else {
        format!("{{{{{name}}}}}")
    }
}

/// What is typed for one card of a carousel.
#[derive(Clone, Debug, Default)]
pub struct CardDraft {
    pub(super) link: String,
    pub(super) values: Vec<String>,
    /// One per button slot of the card, as for the template's own buttons.
    pub(super) buttons: Vec<String>,
}

/// One input of a card.
#[derive(Clone, Copy, Debug)]
pub enum CardField {
    Link,
    Value(usize),
    Button(usize),
}

impl CardDraft {
    pub(super) fn get(&self, field: CardField) -> Option<&String> {
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

    pub(super) fn clear(&mut self) {
        self.link.clear();
        self.values.iter_mut().for_each(String::clear);
        self.buttons.iter_mut().for_each(String::clear);
    }
}

/// An input for one field of one carousel card.
#[component]
pub(super) fn CardInput(
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
pub(super) fn local_time_ms(value: &str) -> Option<i64> {
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
pub(super) fn asked_slots(slots: &[ButtonSlot]) -> impl Iterator<Item = (usize, &ButtonSlot)> {
    slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.required && !s.otp)
}

/// Whether every asked slot has a value (`typed` holds one per slot).
pub(super) fn buttons_filled(slots: &[ButtonSlot], typed: &[String]) -> bool {
    asked_slots(slots).all(|(i, _)| typed.get(i).is_some_and(|v| !v.trim().is_empty()))
}

/// The button values to send: one per asked slot.
pub(super) fn button_specs(slots: &[ButtonSlot], typed: &[String]) -> Vec<TemplateButton> {
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
pub struct HeaderDraft {
    pub(super) text: String,
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
    pub(super) fn value(&self, format: &str) -> Option<TemplateHeader> {
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
    pub(super) fn describe(&self, format: &str) -> String {
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
pub(super) fn HeaderInputs(format: String, header: RwSignal<HeaderDraft>) -> impl IntoView {
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
                super::upload::upload_action(move |info| header.update(|h| h.upload = Some(info)));
            let uploading = upload.pending();
            let problem = move || super::upload::upload_problem(upload);
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
                        upload.dispatch(send_wrapper::SendWrapper::new(file));
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
