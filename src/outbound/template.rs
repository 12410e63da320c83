//! A template send, checked before Meta is called: its name and language, and every value
//! (body, header, buttons, a carousel's cards) against the approved template when the
//! list can be read. A media header's file becomes the message's media, so an upload goes
//! to WhatsApp the same way an attachment does and the bubble shows it.

use std::collections::HashSet;

use super::{Draft, catalog, check_len, check_link};
use crate::context::AppError;
use crate::context::AppState;
use crate::context::Principal;
use crate::model::{ButtonSlot, TemplateInfo, in_order, unrendered_text};
use crate::model::{
    ButtonValueKind, Content, Conversation, Details, Media, MediaState, MessageKind,
    TemplateButton, TemplateHeader, TemplateSpec,
};

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
        Some(Ok(approved)) => {
            if conversation.contact.opted_out && approved.is_marketing() {
                return Err(AppError::OptedOut(format!(
                    "{} opted out of marketing messages; {} is a marketing template \
                     (replies and utility templates still go)",
                    conversation.contact.display_name(),
                    approved.name
                )));
            }
            fill(&approved, &mut spec)?
        }
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
    check_values("", &spec.params, &spec.param_names)?;
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
    check_button_values("", &mut spec.buttons)?;
    if spec.cards.len() > 10 {
        return bad("a carousel has at most 10 cards");
    }
    if !spec.cards.is_empty() && spec.header.is_some() {
        return bad("a carousel has no header of its own: each card has its file");
    }
    for (i, card) in spec.cards.iter_mut().enumerate() {
        let which = format!("card {}: ", i + 1);
        match &mut card.header {
            TemplateHeader::Image(file) | TemplateHeader::Video(file)
                if file.upload.is_none() && file.filename.is_none() =>
            {
                let Some(link) = &mut file.link else {
                    return bad(format!(
                        "{which}its header needs a link to its image or video"
                    ));
                };
                *link = check_link(link)?;
            }
            _ => {
                return bad(format!(
                    "{which}a card's header is an image or a video by a public link \
                     (uploads and file names are not taken for cards)"
                ));
            }
        }
        check_values(&which, &card.params, &card.param_names)?;
        check_button_values(&which, &mut card.buttons)?;
        // Filled in from the approved template, never taken from the caller.
        card.text = None;
    }
    Ok(())
}

/// A body's values: at most 20, none empty, each named if any is.
fn check_values(which: &str, params: &[String], names: &[String]) -> Result<(), AppError> {
    if params.len() > 20 || params.iter().any(|p| p.trim().is_empty()) {
        return bad(format!(
            "{which}template parameters must be 1 to 20 non-empty values"
        ));
    }
    for p in params {
        check_len(&format!("{which}a template parameter"), p, 1024)?;
    }
    if !names.is_empty() && names.len() != params.len() {
        return bad(format!(
            "{which}param_names must name every value in params, in order"
        ));
    }
    Ok(())
}

/// Button values at distinct positions, each present and within WhatsApp's length.
fn check_button_values(which: &str, buttons: &mut [TemplateButton]) -> Result<(), AppError> {
    let mut seen = HashSet::new();
    for b in buttons {
        b.value = b.value.trim().to_string();
        if b.index > 9 || !seen.insert(b.index) {
            return bad(format!(
                "{which}button values need distinct positions from 0 to 9"
            ));
        }
        if b.value.is_empty() {
            return bad(format!(
                "{which}button {}'s value must not be empty",
                b.index + 1
            ));
        }
        let max = match b.sub_type {
            ButtonValueKind::Url => 2000,
            ButtonValueKind::QuickReply => 1024,
            ButtonValueKind::CopyCode => 15,
        };
        check_len(
            &format!("{which}button {}'s value", b.index + 1),
            &b.value,
            max,
        )?;
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
    let body = Part {
        what: name.clone(),
        params: &approved.params,
        named: approved.named,
        slots: &approved.button_slots,
    };
    let values = body.values(&spec.params, &mut spec.param_names)?;
    let header_value = check_header(approved, spec)?;
    body.check_buttons(&mut spec.buttons, &values)?;
    check_offer(approved, spec)?;
    check_cards(approved, spec)?;
    Ok(approved.customer_text(&values, header_value.as_deref()))
}

/// What an approved body takes, the template's own or a card's: its variables and the
/// buttons that take a value.
struct Part<'a> {
    /// How refusals name it: the template, or one of its cards.
    what: String,
    params: &'a [String],
    named: bool,
    slots: &'a [ButtonSlot],
}

impl Part<'_> {
    /// The values in the order the variables take them; names them if they are named.
    fn values(&self, params: &[String], names: &mut Vec<String>) -> Result<Vec<String>, AppError> {
        let what = &self.what;
        if params.len() != self.params.len() {
            return bad(format!(
                "{what} takes {} value(s) ({}), not {}",
                self.params.len(),
                self.params.join(", "),
                params.len()
            ));
        }
        if !self.named {
            names.clear();
            return Ok(params.to_vec());
        }
        if names.is_empty() {
            // Values in the order the text names them.
            *names = self.params.to_vec();
            return Ok(params.to_vec());
        }
        // The caller named each value: any order, but every name.
        in_order(self.params, names, params).ok_or_else(|| {
            AppError::BadRequest(format!(
                "{what} takes values named {}",
                self.params.join(", ")
            ))
        })
    }

    /// Every button that needs a value has one of the right kind, and no other button
    /// gets one. A code button of an authentication template takes the code from the body.
    fn check_buttons(
        &self,
        buttons: &mut Vec<TemplateButton>,
        body_values: &[String],
    ) -> Result<(), AppError> {
        let what = &self.what;
        for b in buttons.iter() {
            let fits = self
                .slots
                .iter()
                .any(|s| s.index == b.index && s.sub_type == b.sub_type);
            if !fits {
                return bad(format!(
                    "{what} has no button {} that takes a {} value",
                    b.index + 1,
                    b.sub_type.as_str()
                ));
            }
        }
        for slot in self.slots.iter().filter(|s| s.required) {
            if buttons.iter().any(|b| b.index == slot.index) {
                continue;
            }
            match body_values.first().filter(|_| slot.otp) {
                Some(code) => buttons.push(TemplateButton {
                    index: slot.index,
                    sub_type: slot.sub_type,
                    value: code.clone(),
                }),
                None => {
                    return bad(format!("{what}'s button \"{}\" needs a value", slot.label));
                }
            }
        }
        buttons.sort_by_key(|b| b.index);
        Ok(())
    }
}

/// A carousel's send has every card, in order, each with its file of the card's kind and
/// its values; no other template takes cards. Each card's text is kept for the bubble.
fn check_cards(approved: &TemplateInfo, spec: &mut TemplateSpec) -> Result<(), AppError> {
    let name = &spec.name;
    match (approved.cards.len(), spec.cards.len()) {
        (0, 0) => return Ok(()),
        (0, _) => return bad(format!("{name} is not a carousel: it takes no cards")),
        (want, given) if want != given => {
            return bad(format!(
                "{name} is a carousel of {want} cards: give each card's values (cards), not {given}"
            ));
        }
        _ => {}
    }
    for (i, (approved, card)) in approved.cards.iter().zip(&mut spec.cards).enumerate() {
        let what = format!("{name}'s card {}", i + 1);
        if card.header.format() != approved.header_format {
            return bad(format!(
                "{what} shows {}, not {}",
                header_words(&approved.header_format),
                header_words(card.header.format())
            ));
        }
        let part = Part {
            what,
            params: &approved.params,
            named: approved.named,
            slots: &approved.button_slots,
        };
        let values = part.values(&card.params, &mut card.param_names)?;
        part.check_buttons(&mut card.buttons, &values)?;
        card.text = Some(approved.render(&values));
    }
    Ok(())
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
