//! A template send, checked before Meta is called: its name and language, and every value
//! (body, header, buttons) against the approved template when the list can be read. A
//! media header's file becomes the message's media, so an upload goes to WhatsApp the
//! same way an attachment does and the bubble shows it.

use std::collections::HashSet;

use super::{Draft, catalog, check_len, check_link};
use crate::model::{
    ButtonValueKind, Content, Conversation, Details, Media, MediaState, MessageKind,
    TemplateButton, TemplateHeader, TemplateSpec,
};
use crate::server::auth::Principal;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::templates::{TemplateInfo, unrendered_text};

fn bad<T>(why: impl Into<String>) -> Result<T, AppError> {
    Err(AppError::BadRequest(why.into()))
}

pub(super) async fn compose(
    state: &AppState,
    principal: &Principal,
    conversation: &Conversation,
    mut spec: TemplateSpec,
) -> Result<Draft, AppError> {
    spec.name = spec.name.trim().to_string();
    spec.language = spec.language.trim().to_string();
    check_shape(&mut spec)?;
    let inbox = state
        .store
        .inbox(&conversation.inbox_id)
        .await?
        .ok_or(AppError::NotFound("inbox"))?;
    let text = match catalog::lookup(state, &inbox, &spec.name, &spec.language).await? {
        // The list cannot be read: Meta judges the send.
        None => unrendered_text(&spec.name, &spec.params),
        Some(Err(reason)) => return bad(format!("{reason}; pick one from the list")),
        Some(Ok(approved)) => fill(&approved, &mut spec)?,
    };
    let (media, upload) = header_file(state, principal, spec.header.as_ref()).await?;
    Ok(Draft {
        kind: MessageKind::Template,
        text: Some(text),
        reply_to: None,
        details: Details {
            content: Some(Content::Template(spec)),
            media,
            ..Details::default()
        },
        upload,
    })
}

/// What can be checked without the approved template: names, sizes, links, coordinates.
fn check_shape(spec: &mut TemplateSpec) -> Result<(), AppError> {
    let name_ok = !spec.name.is_empty()
        && spec.name.len() <= 512
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !name_ok {
        return bad("template name must be the approved name: lowercase letters, digits and _");
    }
    let lang_ok = (2..=15).contains(&spec.language.len())
        && spec
            .language
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '_');
    if !lang_ok {
        return bad("language must be a code such as en_US or pt_BR");
    }
    if spec.params.len() > 20 || spec.params.iter().any(|p| p.trim().is_empty()) {
        return bad("template parameters must be 1 to 20 non-empty values");
    }
    for p in &spec.params {
        check_len("a template parameter", p, 1024)?;
    }
    if !spec.param_names.is_empty() && spec.param_names.len() != spec.params.len() {
        return bad("param_names must name every value in params, in order");
    }
    match &mut spec.header {
        None => {}
        Some(TemplateHeader::Text { text, .. }) => {
            *text = text.trim().to_string();
            if text.is_empty() {
                return bad("the header's value must not be empty");
            }
            check_len("the header's value", text, 60)?;
        }
        Some(TemplateHeader::Location {
            latitude,
            longitude,
            name,
            address,
        }) => {
            if !(-90.0..=90.0).contains(latitude) || !(-180.0..=180.0).contains(longitude) {
                return bad(
                    "a location header needs a latitude (-90 to 90) and a longitude (-180 to 180)",
                );
            }
            for (what, v) in [("the place's name", name), ("the address", address)] {
                if let Some(v) = v {
                    check_len(what, v, 1000)?;
                }
            }
        }
        Some(TemplateHeader::Image(file) | TemplateHeader::Video(file))
            if file.filename.is_some() =>
        {
            return bad("only a document header has a file name");
        }
        Some(
            TemplateHeader::Image(file)
            | TemplateHeader::Video(file)
            | TemplateHeader::Document(file),
        ) => match (&file.link, &file.upload) {
            (Some(link), None) => {
                check_link(link)?;
            }
            (None, Some(_)) => {}
            _ => {
                return bad("a header file needs either a link or an upload, not both");
            }
        },
    }
    if let Some(at) = spec.offer_expires_at_ms
        && at <= crate::store::now_ms()
    {
        return bad("the offer's end (offer_expires_at_ms) has passed; give a time to come");
    }
    let mut seen = HashSet::new();
    for b in &mut spec.buttons {
        b.value = b.value.trim().to_string();
        if b.index > 9 || !seen.insert(b.index) {
            return bad("button values need distinct positions from 0 to 9");
        }
        if b.value.is_empty() {
            return bad(format!("button {}'s value must not be empty", b.index + 1));
        }
        let max = match b.sub_type {
            ButtonValueKind::Url => 2000,
            ButtonValueKind::QuickReply => 1024,
            ButtonValueKind::CopyCode => 15,
        };
        check_len(&format!("button {}'s value", b.index + 1), &b.value, max)?;
    }
    Ok(())
}

/// Checks the values against the approved template and fills in what it implies: the
/// values' names, a code button's value. Returns the text the customer will read.
fn fill(approved: &TemplateInfo, spec: &mut TemplateSpec) -> Result<String, AppError> {
    let name = &spec.name;
    if let Some(why) = &approved.unsupported {
        return bad(format!("{name}: {why}"));
    }
    let values = body_values(approved, spec)?;
    let header_value = check_header(approved, spec)?;
    check_buttons(approved, spec, &values)?;
    check_offer(approved, spec)?;
    Ok(approved.customer_text(&values, header_value.as_deref()))
}

/// The body's values in the order its variables take them; names them if it is named.
fn body_values(approved: &TemplateInfo, spec: &mut TemplateSpec) -> Result<Vec<String>, AppError> {
    let name = &spec.name;
    if spec.params.len() != approved.params.len() {
        return bad(format!(
            "{name} takes {} value(s) ({}), not {}",
            approved.params.len(),
            approved.params.join(", "),
            spec.params.len()
        ));
    }
    if !approved.named {
        spec.param_names.clear();
        return Ok(spec.params.clone());
    }
    if spec.param_names.is_empty() {
        // Values in the order the body names them.
        spec.param_names = approved.params.clone();
        return Ok(spec.params.clone());
    }
    // The caller named each value: any order, but every name.
    approved
        .in_body_order(&spec.param_names, &spec.params)
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "{name} takes values named {}",
                approved.params.join(", ")
            ))
        })
}

/// A header value where the template's header takes one, of its format. Returns a text
/// header's value.
fn check_header(
    approved: &TemplateInfo,
    spec: &mut TemplateSpec,
) -> Result<Option<String>, AppError> {
    let name = &spec.name;
    match (approved.header_needs(), &mut spec.header) {
        (None, None) => Ok(None),
        (None, Some(_)) => bad(format!("{name} has no header that takes a value")),
        (Some(format), None) => bad(format!(
            "{name}'s header needs {}{}",
            header_words(format),
            if matches!(format, "TEXT" | "LOCATION") {
                ""
            } else {
                " (a link or an upload)"
            }
        )),
        (Some(format), Some(h)) if h.format() != format => bad(format!(
            "{name}'s header takes {}, not {}",
            header_words(format),
            header_words(h.format())
        )),
        (
            Some(_),
            Some(TemplateHeader::Text {
                text,
                parameter_name,
            }),
        ) => {
            *parameter_name = approved
                .named
                .then(|| approved.header_params.first().cloned())
                .flatten();
            Ok(Some(text.clone()))
        }
        (Some(_), Some(_)) => Ok(None),
    }
}

/// A header format in words: "an image", "a value" (text).
fn header_words(format: &str) -> &'static str {
    match format {
        "TEXT" => "a value",
        "IMAGE" => "an image",
        "VIDEO" => "a video",
        "DOCUMENT" => "a document",
        "LOCATION" => "a location",
        "AUDIO" => "an audio file",
        _ => "something else",
    }
}

/// Every button that needs a value has one of the right kind, and no other button gets
/// one. A code button of an authentication template takes the code from the body.
fn check_buttons(
    approved: &TemplateInfo,
    spec: &mut TemplateSpec,
    body_values: &[String],
) -> Result<(), AppError> {
    let name = &spec.name;
    for b in &spec.buttons {
        let fits = approved
            .button_slots
            .iter()
            .any(|s| s.index == b.index && s.sub_type == b.sub_type);
        if !fits {
            return bad(format!(
                "{name} has no button {} that takes a {} value",
                b.index + 1,
                b.sub_type.as_str()
            ));
        }
    }
    for slot in approved.button_slots.iter().filter(|s| s.required) {
        if spec.buttons.iter().any(|b| b.index == slot.index) {
            continue;
        }
        match body_values.first().filter(|_| slot.otp) {
            Some(code) => spec.buttons.push(TemplateButton {
                index: slot.index,
                sub_type: slot.sub_type,
                value: code.clone(),
            }),
            None => {
                return bad(format!("{name}'s button \"{}\" needs a value", slot.label));
            }
        }
    }
    spec.buttons.sort_by_key(|b| b.index);
    Ok(())
}

/// A limited-time offer that counts down needs its end; no other template takes one.
fn check_offer(approved: &TemplateInfo, spec: &TemplateSpec) -> Result<(), AppError> {
    let name = &spec.name;
    let counts_down = approved.offer.as_ref().is_some_and(|o| o.has_expiration);
    match (counts_down, spec.offer_expires_at_ms) {
        (true, None) => bad(format!(
            "{name}'s offer counts down: give offer_expires_at_ms, when it ends"
        )),
        (false, Some(_)) => bad(format!("{name} has no offer that ends")),
        _ => Ok(()),
    }
}

/// A media header's file as the message's media, and the upload it claims if any.
async fn header_file(
    state: &AppState,
    principal: &Principal,
    header: Option<&TemplateHeader>,
) -> Result<(Option<Media>, Option<String>), AppError> {
    let Some((kind, file)) = header.and_then(TemplateHeader::media) else {
        return Ok((None, None));
    };
    let Some(upload) = &file.upload else {
        let media = Media {
            link: file.link.clone(),
            filename: file.filename.clone(),
            state: MediaState::Stored,
            ..Media::default()
        };
        return Ok((Some(media), None));
    };
    let found = crate::uploads::find(state, principal, upload).await?;
    if found.info.kind != kind {
        return bad(format!(
            "the upload is {}, but the header takes {}",
            header_words(&found.info.kind.as_str().to_ascii_uppercase()),
            header_words(&kind.as_str().to_ascii_uppercase())
        ));
    }
    let media = Media {
        mime_type: Some(found.info.mime_type),
        filename: file.filename.clone().or(found.info.filename),
        sha256: Some(found.sha256),
        size: Some(found.info.size),
        state: MediaState::Stored,
        ..Media::default()
    };
    Ok((Some(media), Some(upload.clone())))
}
