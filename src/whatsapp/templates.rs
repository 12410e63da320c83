//! `GET /{waba-id}/message_templates`: reading WhatsApp Manager's template list.
//!
//! Templates belong to the WhatsApp Business Account (WABA), not to a phone number. Every
//! webhook names its WABA in `entry[].id`, so the app learns it from traffic; the
//! environment can name it up front.

use serde_json::Value;

use crate::templates::{TemplateInfo, variables};

/// The settings key holding the WABA id last seen in an inbox's webhooks.
pub fn waba_setting(inbox_id: &str) -> String {
    format!("waba_id:{inbox_id}")
}

/// One page of the list: the templates and the cursor of the next page, if any.
#[derive(Debug, Default)]
pub struct TemplatePage {
    pub templates: Vec<TemplateInfo>,
    pub after: Option<String>,
}

/// Reads one page. Templates that are not approved, or too odd to read, are left out: the
/// composer offers only what WhatsApp will deliver.
pub fn parse_page(body: &[u8]) -> Result<TemplatePage, String> {
    let root: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let data = root
        .get("data")
        .and_then(Value::as_array)
        .ok_or("no data array")?;
    let templates = data.iter().filter_map(template).collect();
    // Only follow a cursor when Meta says there is a next page.
    let after = root
        .pointer("/paging/next")
        .and_then(|_| root.pointer("/paging/cursors/after"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(TemplatePage { templates, after })
}

fn template(t: &Value) -> Option<TemplateInfo> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if !s(t, "status")?.eq_ignore_ascii_case("APPROVED") {
        return None;
    }
    let name = s(t, "name")?;
    let language = s(t, "language")?;
    let category = s(t, "category").unwrap_or_default().to_ascii_uppercase();
    let components = t
        .get("components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let (mut header, mut body, mut footer, mut buttons) = (None, String::new(), None, Vec::new());
    let mut unsupported = None;
    let mut refuse = |why: &str| {
        unsupported.get_or_insert_with(|| why.to_string());
    };
    // The first reason found is the one shown, so the plainest goes first.
    if category == "AUTHENTICATION" {
        refuse("one-time-password templates are sent by your sign-in system");
    }
    for c in &components {
        let kind = s(c, "type").unwrap_or_default().to_ascii_uppercase();
        match kind.as_str() {
            "HEADER" => match s(c, "format")
                .unwrap_or_default()
                .to_ascii_uppercase()
                .as_str()
            {
                "TEXT" | "" => {
                    let text = s(c, "text").unwrap_or_default();
                    if !variables(&text).0.is_empty() {
                        refuse("its header takes a value");
                    }
                    header = Some(text);
                }
                other => {
                    refuse(&format!(
                        "its header needs a file ({})",
                        other.to_ascii_lowercase()
                    ));
                    header = Some(format!("[{other}]"));
                }
            },
            "BODY" => body = s(c, "text").unwrap_or_default(),
            "FOOTER" => footer = s(c, "text"),
            "BUTTONS" => {
                for b in c
                    .get("buttons")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let text = s(b, "text").unwrap_or_default();
                    let kind = s(b, "type").unwrap_or_default().to_ascii_uppercase();
                    let dynamic_url =
                        kind == "URL" && s(b, "url").is_some_and(|u| !variables(&u).0.is_empty());
                    if dynamic_url || matches!(kind.as_str(), "OTP" | "COPY_CODE" | "FLOW") {
                        refuse("a button takes a value");
                    }
                    buttons.push(text);
                }
            }
            "CAROUSEL" | "LIMITED_TIME_OFFER" => refuse("it has cards or an offer"),
            _ => {}
        }
    }
    let (params, named) = variables(&body);
    let named = named || s(t, "parameter_format").is_some_and(|f| f.eq_ignore_ascii_case("NAMED"));
    Some(TemplateInfo {
        name,
        language,
        category,
        header,
        body,
        footer,
        buttons,
        params,
        named,
        unsupported: unsupported.map(|why| format!("Not from the composer: {why}.")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_approved_templates_and_says_which_need_more_than_body_values() {
        let body = serde_json::json!({
            "data": [
                {"name": "order_update", "language": "pt_BR", "status": "APPROVED",
                 "category": "UTILITY", "parameter_format": "POSITIONAL",
                 "components": [
                    {"type": "HEADER", "format": "TEXT", "text": "Pedido"},
                    {"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} saiu."},
                    {"type": "FOOTER", "text": "Loja"},
                    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Obrigado"}]}]},
                {"name": "promo", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
                 "components": [{"type": "HEADER", "format": "IMAGE"},
                                {"type": "BODY", "text": "Hi {{first_name}}"}]},
                {"name": "paused_one", "language": "en_US", "status": "PAUSED",
                 "components": [{"type": "BODY", "text": "x"}]},
                {"status": "APPROVED"}
            ],
            "paging": {"cursors": {"before": "b", "after": "a1"}, "next": "https://graph/next"}
        });
        let page = parse_page(body.to_string().as_bytes()).unwrap();
        assert_eq!(page.after.as_deref(), Some("a1"));
        let [order, promo] = &page.templates[..] else {
            panic!("{:?}", page.templates)
        };
        assert_eq!(order.params, ["1", "2"]);
        assert_eq!(order.header.as_deref(), Some("Pedido"));
        assert_eq!(order.buttons, ["Obrigado"]);
        assert!(order.unsupported.is_none());
        assert!(promo.named);
        assert_eq!(promo.params, ["first_name"]);
        assert!(promo.unsupported.as_deref().unwrap().contains("image"));
    }

    #[test]
    fn the_last_page_has_no_cursor_to_follow_and_garbage_is_an_error() {
        let last = br#"{"data": [], "paging": {"cursors": {"after": "zz"}}}"#;
        assert!(parse_page(last).unwrap().after.is_none());
        assert!(parse_page(b"<html>").is_err());
        assert!(parse_page(b"{}").is_err());
    }
}
