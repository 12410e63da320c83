//! Approved message templates: the values one is sent with (body, header, buttons and
//! carousel cards), the templates as the composer offers them, and how their text reads
//! once filled in. Shared by the server (which checks sends against them) and the
//! browser (which previews them).

use serde::{Deserialize, Serialize};

use super::status::MessageKind;

/// An approved template and the values it is sent with: its body's, its header's and its
/// buttons'.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateSpec {
    pub name: String,
    /// e.g. `en_US`, `pt_BR`.
    pub language: String,
    #[serde(default)]
    pub params: Vec<String>,
    /// For a template with named variables: the name of each value in `params`. Filled
    /// in from the approved template when the caller leaves it out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_names: Vec<String>,
    /// The header's value, for a template whose header takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<TemplateHeader>,
    /// Values for the buttons that take one (a link's ending, a coupon code, a one-time
    /// password) or a quick reply's payload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<TemplateButton>,
    /// When a limited-time offer ends (Unix milliseconds), for a template whose offer
    /// shows a countdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_expires_at_ms: Option<i64>,
    /// A carousel's cards, in the template's order: every card it has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<TemplateCard>,
}

/// The values of one card of a carousel template: its header file, its body's values and
/// its buttons'.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateCard {
    /// An image or a video, by a public link (every card of a template has the same kind).
    pub header: TemplateHeader,
    #[serde(default)]
    pub params: Vec<String>,
    /// The name of each value, for a card with named variables; filled in from the
    /// approved template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<TemplateButton>,
    /// The card's text as the customer reads it, filled in from the approved template
    /// (absent when the send could not be checked against it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// What fills a template's header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TemplateHeader {
    /// The value of a text header's variable.
    Text {
        text: String,
        /// The variable's name, for a template with named variables.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    Image(HeaderMedia),
    Video(HeaderMedia),
    Document(HeaderMedia),
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        address: Option<String>,
    },
}

impl TemplateHeader {
    /// The media kind of a media header.
    pub fn media(&self) -> Option<(MessageKind, &HeaderMedia)> {
        match self {
            Self::Image(m) => Some((MessageKind::Image, m)),
            Self::Video(m) => Some((MessageKind::Video, m)),
            Self::Document(m) => Some((MessageKind::Document, m)),
            Self::Text { .. } | Self::Location { .. } => None,
        }
    }

    /// Meta's name for the header's format: `TEXT`, `IMAGE`, …
    pub fn format(&self) -> &'static str {
        match self {
            Self::Text { .. } => "TEXT",
            Self::Image(_) => "IMAGE",
            Self::Video(_) => "VIDEO",
            Self::Document(_) => "DOCUMENT",
            Self::Location { .. } => "LOCATION",
        }
    }
}

/// A media header's file: a public link WhatsApp fetches, or an agent's upload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderMedia {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// An id from `POST /uploads`; the app uploads the file to WhatsApp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
    /// A document's file name, as the customer sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// A value for one of a template's buttons, by its position (from 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateButton {
    pub index: u8,
    pub sub_type: ButtonValueKind,
    pub value: String,
}

/// What a button's value is, in Meta's `sub_type` words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonValueKind {
    /// The variable ending of a link button, or an authentication template's code.
    Url,
    /// What the webhook carries back when the customer taps a quick reply.
    QuickReply,
    /// A coupon code the customer can copy.
    CopyCode,
}

impl ButtonValueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::QuickReply => "quick_reply",
            Self::CopyCode => "copy_code",
        }
    }
}

impl TemplateInfo {
    /// Marketing templates are the ones an opted-out contact must not get.
    pub fn is_marketing(&self) -> bool {
        self.category.eq_ignore_ascii_case("MARKETING")
    }
}

/// One approved template in one language, as WhatsApp Manager holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateInfo {
    pub name: String,
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// A text header, or what kind of media header it has (`[IMAGE]`).
    #[serde(default)]
    pub header: Option<String>,
    /// Meta's header format: `TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT` or `LOCATION`.
    #[serde(default)]
    pub header_format: Option<String>,
    /// A text header's variable (Meta allows one).
    #[serde(default)]
    pub header_params: Vec<String>,
    pub body: String,
    #[serde(default)]
    pub footer: Option<String>,
    /// Button labels, as the customer sees them.
    #[serde(default)]
    pub buttons: Vec<String>,
    /// The body's variables, in the order their values are given: `1`, `2`, … for a
    /// positional template, or the names of a named one.
    #[serde(default)]
    pub params: Vec<String>,
    /// Whether the variables are sent by name (`parameter_name`) rather than position.
    #[serde(default)]
    pub named: bool,
    /// The buttons that take a value, or may (a quick reply's payload).
    #[serde(default)]
    pub button_slots: Vec<ButtonSlot>,
    /// A limited-time offer's headline, if the template has one.
    #[serde(default)]
    pub offer: Option<Offer>,
    /// A carousel's cards, which the customer swipes through below the body.
    #[serde(default)]
    pub cards: Vec<CardInfo>,
    /// Why this template cannot be sent from the app, if it cannot.
    #[serde(default)]
    pub unsupported: Option<String>,
}

/// A limited-time offer: its headline, and whether it counts down to an end the send
/// names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub text: String,
    pub has_expiration: bool,
}

/// One card of an approved carousel template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardInfo {
    /// `IMAGE` or `VIDEO`: each card shows a file above its text.
    pub header_format: String,
    pub body: String,
    /// The card body's variables, as for a template's body.
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub named: bool,
    #[serde(default)]
    pub buttons: Vec<String>,
    #[serde(default)]
    pub button_slots: Vec<ButtonSlot>,
}

impl CardInfo {
    /// The card's text as the customer will read it.
    pub fn render(&self, values: &[String]) -> String {
        fill(&self.body, &self.params, values)
    }
}

/// A button of an approved template that takes a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonSlot {
    /// The button's position among the template's buttons, from 0.
    pub index: u8,
    pub sub_type: ButtonValueKind,
    /// The button's label, as the customer sees it.
    pub label: String,
    /// Whether Meta refuses the send without it (a quick reply's payload is optional).
    pub required: bool,
    /// An authentication template's code button: its value is the code in the body.
    #[serde(default)]
    pub otp: bool,
}

impl TemplateInfo {
    /// The body as the customer will read it. Variables without a value stay as `{{x}}`,
    /// which is what a preview should show while the agent types.
    pub fn render(&self, values: &[String]) -> String {
        fill(&self.body, &self.params, values)
    }

    /// The header format that needs a value when sending: any media or location header,
    /// and a text header with a variable.
    pub fn header_needs(&self) -> Option<&str> {
        let format = self.header_format.as_deref()?;
        (format != "TEXT" || !self.header_params.is_empty()).then_some(format)
    }

    /// What the customer reads: a text header's line, then the body.
    pub fn customer_text(&self, values: &[String], header_value: Option<&str>) -> String {
        let body = self.render(values);
        match (self.header_format.as_deref(), &self.header) {
            (Some("TEXT"), Some(header)) if !header.is_empty() => {
                let value: Vec<String> = header_value.map(str::to_string).into_iter().collect();
                format!("{}\n{body}", fill(header, &self.header_params, &value))
            }
            _ => body,
        }
    }
}

/// `text` with each variable named in `names` replaced by its value, by position.
fn fill(text: &str, names: &[String], values: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((before, var, after)) = next_variable(rest) {
        out.push_str(before);
        match names
            .iter()
            .position(|p| p == var)
            .and_then(|i| values.get(i))
            .filter(|v| !v.trim().is_empty())
        {
            Some(value) => out.push_str(value),
            None => {
                out.push_str("{{");
                out.push_str(var);
                out.push_str("}}");
            }
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The values a caller named (`names[i]` names `values[i]`), in the order a text's
/// variables (`params`) take them; `None` unless every variable is named.
pub fn in_order(params: &[String], names: &[String], values: &[String]) -> Option<Vec<String>> {
    params
        .iter()
        .map(|p| {
            let i = names.iter().position(|n| n == p)?;
            values.get(i).cloned()
        })
        .collect()
}

/// The text kept for a template sent while its approved body was unknown: its name and
/// values. The bubble recognises it and shows the values alone.
pub fn unrendered_text(name: &str, values: &[String]) -> String {
    if values.is_empty() {
        name.to_string()
    } else {
        format!("{name}: {}", values.join(" · "))
    }
}

/// What the composer gets: the approved templates of a conversation's number, or why there
/// are none to offer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateList {
    pub templates: Vec<TemplateInfo>,
    /// When the list was read from WhatsApp (ms since the epoch).
    #[serde(default)]
    pub fetched_at: Option<i64>,
    /// Why the list is empty or may be out of date (no business account id known yet,
    /// WhatsApp refused the call), for the agent to read.
    #[serde(default)]
    pub problem: Option<String>,
}

/// The variables of a template text, in order of first appearance, and whether they are
/// named. Positional variables come back sorted (`{{2}} … {{1}}` still takes `1` first).
pub fn variables(text: &str) -> (Vec<String>, bool) {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some((_, var, after)) = next_variable(rest) {
        if !found.iter().any(|f| f == var) {
            found.push(var.to_string());
        }
        rest = after;
    }
    let positional = found.iter().all(|v| v.chars().all(|c| c.is_ascii_digit()));
    if positional {
        found.sort_by_key(|v| v.parse::<u32>().unwrap_or(u32::MAX));
    }
    (found, !positional)
}

/// The next `{{variable}}` in `text`: what precedes it, its name, and what follows.
/// Braces around anything that is not a variable name are left as text.
fn next_variable(text: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    loop {
        let open = from + text[from..].find("{{")?;
        let inner = &text[open + 2..];
        let close = inner.find("}}")?;
        let name = inner[..close].trim();
        let is_name = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if is_name {
            return Some((&text[..open], name, &inner[close + 2..]));
        }
        from = open + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(body: &str) -> TemplateInfo {
        let (params, named) = variables(body);
        TemplateInfo {
            name: "t".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            header: None,
            header_format: None,
            header_params: vec![],
            body: body.into(),
            footer: None,
            buttons: vec![],
            params,
            named,
            button_slots: vec![],
            offer: None,
            cards: vec![],
            unsupported: None,
        }
    }

    #[test]
    fn positional_variables_are_taken_in_number_order() {
        let t = template("Order {{2}} for {{1}} ships today. {{1}}, thanks!");
        assert_eq!(t.params, ["1", "2"]);
        assert!(!t.named);
        assert_eq!(
            t.render(&["Ana".into(), "#42".into()]),
            "Order #42 for Ana ships today. Ana, thanks!"
        );
    }

    #[test]
    fn named_variables_keep_their_order_and_missing_values_stay_visible() {
        let t = template("Hi {{first_name}}, see you at {{ time }}.");
        assert_eq!(t.params, ["first_name", "time"]);
        assert!(t.named);
        assert_eq!(t.render(&["Ana".into()]), "Hi Ana, see you at {{time}}.");
    }

    #[test]
    fn braces_that_are_not_variables_are_text() {
        let t = template("Use {{ }} or {{Not A Var}} and {{x}}}");
        assert_eq!(t.params, ["x"]);
        assert_eq!(t.render(&["1".into()]), "Use {{ }} or {{Not A Var}} and 1}");
        assert_eq!(variables("no variables {{"), (vec![], false));
    }
}
