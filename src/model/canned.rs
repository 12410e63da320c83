//! Canned responses: text an agent inserts with `/shortcut`, global or for one inbox.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CannedResponse {
    pub id: String,
    pub shortcut: String,
    pub text: String,
    /// The inbox it belongs to; `None`: every inbox (only admins manage those).
    #[serde(default)]
    pub inbox_id: Option<String>,
}

/// `list_canned_responses` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CannedResponses {
    pub responses: Vec<CannedResponse>,
}

/// The longest text a canned response may hold (WhatsApp's text limit).
pub const MAX_CANNED_TEXT: usize = 4096;

/// A shortcut as stored: without its `/`, lower-case, 1–32 letters, digits, `-` or `_`.
pub fn normalize_shortcut(raw: &str) -> Result<String, String> {
    let s = raw.trim().trim_start_matches('/').to_lowercase();
    let ok = (1..=32).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(s)
    } else {
        Err(format!(
            "shortcut {raw:?} must be 1-32 letters, digits, '-' or '_' (after the '/')"
        ))
    }
}

/// The text to store: trimmed, not empty, at most [`MAX_CANNED_TEXT`] characters.
pub fn normalize_canned_text(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("the text of a canned response cannot be empty".into());
    }
    if t.chars().count() > MAX_CANNED_TEXT {
        return Err(format!(
            "the text of a canned response is limited to {MAX_CANNED_TEXT} characters"
        ));
    }
    Ok(t.to_string())
}

/// The text with `{{contact.name}}` and `{{agent.name}}` filled in (spaces inside the
/// braces allowed); other `{{…}}` stay as written, so a typo shows rather than vanishes.
pub fn expand_canned(text: &str, contact_name: &str, agent_name: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        match after[..close].trim() {
            "contact.name" => out.push_str(contact_name),
            "agent.name" => out.push_str(agent_name),
            _ => out.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// The responses a composer offers for what follows the `/` typed so far: shortcuts that
/// start with it first, then those that contain it, each group by shortcut.
pub fn matching_canned<'a>(all: &'a [CannedResponse], typed: &str) -> Vec<&'a CannedResponse> {
    let typed = typed.to_lowercase();
    let mut starts: Vec<_> = all
        .iter()
        .filter(|r| r.shortcut.starts_with(&typed))
        .collect();
    let mut contains: Vec<_> = all
        .iter()
        .filter(|r| !r.shortcut.starts_with(&typed) && r.shortcut.contains(&typed))
        .collect();
    starts.sort_by(|a, b| a.shortcut.cmp(&b.shortcut));
    contains.sort_by(|a, b| a.shortcut.cmp(&b.shortcut));
    starts.extend(contains);
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_are_lower_case_without_their_slash_and_refuse_spaces() {
        assert_eq!(normalize_shortcut(" /Thanks ").unwrap(), "thanks");
        assert_eq!(normalize_shortcut("olá_2").unwrap(), "olá_2");
        assert!(normalize_shortcut("/").is_err());
        assert!(normalize_shortcut("two words").is_err());
        assert!(normalize_shortcut(&"a".repeat(33)).is_err());
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_stay() {
        assert_eq!(
            expand_canned(
                "Thanks {{contact.name}}! — {{ agent.name }}",
                "Ana",
                "Bruno"
            ),
            "Thanks Ana! — Bruno"
        );
        assert_eq!(
            expand_canned("{{order.id}} {{", "A", "B"),
            "{{order.id}} {{"
        );
    }

    #[test]
    fn matches_that_start_with_the_typed_text_come_first() {
        let r = |s: &str| CannedResponse {
            id: s.into(),
            shortcut: s.into(),
            text: String::new(),
            inbox_id: None,
        };
        let all = [r("nothanks"), r("thanks"), r("hours")];
        let found: Vec<_> = matching_canned(&all, "th")
            .iter()
            .map(|r| r.shortcut.as_str())
            .collect();
        assert_eq!(found, ["thanks", "nothanks"]);
    }
}
