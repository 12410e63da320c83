//! The simulated business account's templates, in WhatsApp Manager's shape, and the checks
//! Meta makes when one is sent.
//!
//! The set covers what the composer must handle: positional and named variables, a
//! template in two languages, ones it cannot fill in (media header, one-time password)
//! and a paused one that is not offered but is refused with 132015 when sent anyway.

use serde_json::{Value, json};

/// Meta pages the list; the simulator uses small pages so paging is always exercised.
pub const PAGE_SIZE: usize = 4;

pub fn all() -> Vec<Value> {
    let body = |text: &str| json!({ "type": "BODY", "text": text });
    let template = |id: u32, name: &str, language: &str, category: &str, components: Value| {
        json!({
            "id": format!("9{id:014}"),
            "name": name,
            "language": language,
            "status": "APPROVED",
            "category": category,
            "parameter_format": "POSITIONAL",
            "components": components,
        })
    };
    let mut reminder = template(
        3,
        "appointment_reminder",
        "en_US",
        "UTILITY",
        json!([
            body("Hi {{first_name}}, this is a reminder of your appointment on {{date}}. Reply to confirm."),
            { "type": "BUTTONS", "buttons": [
                { "type": "QUICK_REPLY", "text": "Confirm" },
                { "type": "QUICK_REPLY", "text": "Reschedule" }
            ]}
        ]),
    );
    reminder["parameter_format"] = json!("NAMED");
    let mut paused = template(
        7,
        "winter_sale",
        "en_US",
        "MARKETING",
        json!([body("Our winter sale starts today!")]),
    );
    paused["status"] = json!("PAUSED");
    vec![
        template(
            1,
            "hello_world",
            "en_US",
            "UTILITY",
            json!([
                { "type": "HEADER", "format": "TEXT", "text": "Hello World" },
                body("Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us."),
                { "type": "FOOTER", "text": "WhatsApp Business Platform sample message" }
            ]),
        ),
        template(
            2,
            "order_update",
            "pt_BR",
            "UTILITY",
            json!([body("Olá {{1}}, seu pedido {{2}} saiu para entrega.")]),
        ),
        template(
            2,
            "order_update",
            "en_US",
            "UTILITY",
            json!([body("Hi {{1}}, your order {{2}} is on its way.")]),
        ),
        reminder,
        template(
            4,
            "seasonal_promo",
            "en_US",
            "MARKETING",
            json!([
                { "type": "HEADER", "format": "IMAGE" },
                body("{{1}}, our new collection is here.")
            ]),
        ),
        template(
            5,
            "login_code",
            "en_US",
            "AUTHENTICATION",
            json!([
                body("{{1}} is your verification code."),
                { "type": "BUTTONS", "buttons": [{ "type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code" }] }
            ]),
        ),
        paused,
    ]
}

/// One page of `GET /{waba-id}/message_templates`, filtered by `status` when asked.
pub fn page(status: Option<&str>, after: Option<&str>, limit: Option<usize>) -> Value {
    let listed: Vec<Value> = all()
        .into_iter()
        .filter(|t| status.is_none_or(|s| t["status"].as_str() == Some(s)))
        .collect();
    let start = after.and_then(|a| a.parse::<usize>().ok()).unwrap_or(0);
    let size = limit.unwrap_or(PAGE_SIZE).clamp(1, PAGE_SIZE);
    let data: Vec<Value> = listed.iter().skip(start).take(size).cloned().collect();
    let end = start + data.len();
    let mut paging =
        json!({ "cursors": { "before": start.to_string(), "after": end.to_string() } });
    if end < listed.len() {
        paging["next"] = json!(format!("?after={end}"));
    }
    json!({ "data": data, "paging": paging })
}

/// Meta's checks on a template send: `(code, title, details)` when it would refuse it.
pub fn check(request: &Value) -> Result<(), (i64, &'static str, String)> {
    let name = request
        .pointer("/template/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let language = request
        .pointer("/template/language/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(found) = all()
        .into_iter()
        .find(|t| t["name"].as_str() == Some(name) && t["language"].as_str() == Some(language))
    else {
        return Err((
            132001,
            "Template name does not exist in the translation",
            format!("template name ({name}) does not exist in {language}"),
        ));
    };
    if found["status"].as_str() != Some("APPROVED") {
        return Err((
            132015,
            "Template is Paused",
            format!("The template {name} is paused because of low quality."),
        ));
    }
    let text = found["components"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "BODY")
        .and_then(|c| c["text"].as_str())
        .unwrap_or("");
    let (expected, named) = crate::templates::variables(text);
    let given: Vec<&Value> = request
        .pointer("/template/components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "body")
        .flat_map(|c| c["parameters"].as_array().into_iter().flatten())
        .collect();
    // Named values may come in any order, but each name once.
    let names_match = !named
        || expected.iter().all(|e| {
            given
                .iter()
                .filter(|p| p["parameter_name"].as_str() == Some(e.as_str()))
                .count()
                == 1
        });
    if given.len() != expected.len() || !names_match {
        return Err((
            132000,
            "Number of parameters does not match the expected number of params",
            format!(
                "body: number of localizable_params ({}) does not match the expected number of params ({})",
                given.len(),
                expected.len()
            ),
        ));
    }
    Ok(())
}
