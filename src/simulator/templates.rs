//! The simulated business account's templates, in WhatsApp Manager's shape, and the checks
//! Meta makes when one is sent.
//!
//! The set covers what the composer must handle: positional and named variables, a
//! template in two languages, headers that take a value (text, image, location), buttons
//! that take one (a link's end, a coupon code, a one-time password), a limited-time offer
//! that counts down, a carousel of cards, and a paused one that is not offered but
//! is refused with 132015.

use serde_json::{Value, json};

/// Meta pages the list; the simulator uses small pages so paging is always exercised.
pub const PAGE_SIZE: usize = 4;

pub fn all() -> Vec<Value> {
    let body = |text: &str| json!({ "type": "BODY", "text": text });
    // A carousel card: a photo, its text, and a button to see more and one to buy.
    let card = |text: &str| {
        json!({ "components": [
            { "type": "HEADER", "format": "IMAGE" },
            body(text),
            { "type": "BUTTONS", "buttons": [
                { "type": "QUICK_REPLY", "text": "More like this" },
                { "type": "URL", "text": "Buy", "url": "https://shop.example/p/{{1}}" }
            ]}
        ]})
    };
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
        template(
            8,
            "delivery_update",
            "en_US",
            "UTILITY",
            json!([
                { "type": "HEADER", "format": "TEXT", "text": "Order {{1}}" },
                body("Hi {{1}}, your parcel is out for delivery today."),
                { "type": "BUTTONS", "buttons": [
                    { "type": "URL", "text": "Track it", "url": "https://shop.example/track/{{1}}" },
                    { "type": "QUICK_REPLY", "text": "Wrong address" }
                ]}
            ]),
        ),
        template(
            9,
            "welcome_offer",
            "en_US",
            "MARKETING",
            json!([
                body("Welcome, {{1}}! Here is 10% off your first order."),
                { "type": "BUTTONS", "buttons": [{ "type": "COPY_CODE", "example": "WELCOME10" }] }
            ]),
        ),
        template(
            10,
            "store_pickup",
            "en_US",
            "UTILITY",
            json!([
                { "type": "HEADER", "format": "LOCATION" },
                body("Your order {{1}} is ready for pickup at this store.")
            ]),
        ),
        template(
            12,
            "flash_sale",
            "en_US",
            "MARKETING",
            json!([
                { "type": "LIMITED_TIME_OFFER",
                  "limited_time_offer": { "text": "Flash sale!", "has_expiration": true } },
                body("{{1}}, everything is half price until the timer runs out."),
                { "type": "BUTTONS", "buttons": [
                    { "type": "COPY_CODE", "example": "HALF50" },
                    { "type": "URL", "text": "Shop now", "url": "https://shop.example/sale" }
                ]}
            ]),
        ),
        template(
            11,
            "spring_collection",
            "en_US",
            "MARKETING",
            json!([
                body("{{1}}, our spring collection is in."),
                { "type": "CAROUSEL", "cards": [card("{{1}}, now {{2}}"), card("Also in: {{1}}")] }
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
    let sent: Vec<Value> = request
        .pointer("/template/components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    check_part(&found, &sent)?;
    check_offer(&found, &of_type(&sent, "limited_time_offer"))?;
    check_carousel(&found, &of_type(&sent, "carousel"))
}

/// The sent components of one type.
fn of_type(sent: &[Value], kind: &str) -> Vec<Value> {
    sent.iter().filter(|c| c["type"] == kind).cloned().collect()
}

/// A template's, or a carousel card's, body, header and buttons.
fn check_part(template: &Value, sent: &[Value]) -> Result<(), Refusal> {
    check_body(template, &of_type(sent, "body"))?;
    check_header(template, &of_type(sent, "header"))?;
    check_buttons(template, &of_type(sent, "button"))
}

/// One value per variable of the body; named values may come in any order, but each
/// name once.
fn check_body(template: &Value, sent: &[Value]) -> Result<(), Refusal> {
    let text = components(template)
        .find(|c| c["type"] == "BODY")
        .and_then(|c| c["text"].as_str())
        .unwrap_or("");
    let (expected, named) = crate::model::variables(text);
    let given: Vec<&Value> = sent
        .iter()
        .flat_map(|c| c["parameters"].as_array().into_iter().flatten())
        .collect();
    let names_match = !named
        || expected.iter().all(|e| {
            given
                .iter()
                .filter(|p| p["parameter_name"].as_str() == Some(e.as_str()))
                .count()
                == 1
        });
    if given.len() != expected.len() || !names_match {
        return Err(count_mismatch("body", given.len(), expected.len()));
    }
    Ok(())
}

/// A carousel needs every card, each at its `card_index` with what the card takes; no
/// other template takes cards.
fn check_carousel(template: &Value, sent: &[Value]) -> Result<(), Refusal> {
    let cards = components(template)
        .find(|c| c["type"] == "CAROUSEL")
        .and_then(|c| c["cards"].as_array());
    let given = sent.first().map(|c| c["cards"].as_array());
    let invalid = |why: String| Err((131009, "Parameter value is not valid", why));
    match (cards, given) {
        (None, None) => Ok(()),
        (None, Some(_)) => invalid("carousel: this template has no cards".into()),
        (Some(_), None) => Err((
            131008,
            "Required parameter is missing",
            "carousel: cards are required".into(),
        )),
        (Some(_), Some(None)) => invalid("carousel: cards must be a list".into()),
        (Some(cards), Some(Some(given))) => {
            if cards.len() != given.len() {
                return Err(count_mismatch("carousel cards", given.len(), cards.len()));
            }
            for (i, (card, sent)) in cards.iter().zip(given).enumerate() {
                if as_index(&sent["card_index"]) != Some(i) {
                    return invalid(format!("carousel: card {i} must have card_index {i}"));
                }
                let sent = sent["components"].as_array().cloned().unwrap_or_default();
                check_part(card, &sent)?;
            }
            Ok(())
        }
    }
}

/// An offer that counts down needs its end, in milliseconds and still to come; no other
/// template takes one.
fn check_offer(template: &Value, sent: &[Value]) -> Result<(), Refusal> {
    let counts_down = components(template)
        .find(|c| c["type"] == "LIMITED_TIME_OFFER")
        .is_some_and(|c| c["limited_time_offer"]["has_expiration"] == true);
    let end = sent.first().map(|c| {
        c.pointer("/parameters/0/limited_time_offer/expiration_time_ms")
            .and_then(Value::as_i64)
    });
    match (counts_down, end) {
        (true, None) => Err((
            131008,
            "Required parameter is missing",
            "limited_time_offer: expiration_time_ms is required".into(),
        )),
        (false, Some(_)) => Err((
            131009,
            "Parameter value is not valid",
            "limited_time_offer: this template has no offer that expires".into(),
        )),
        (true, Some(at)) if at.is_none_or(|at| at <= crate::store::now_ms()) => Err((
            131009,
            "Parameter value is not valid",
            "limited_time_offer: expiration_time_ms must be a time in the future".into(),
        )),
        _ => Ok(()),
    }
}

type Refusal = (i64, &'static str, String);

fn count_mismatch(part: &str, given: usize, expected: usize) -> Refusal {
    (
        132000,
        "Number of parameters does not match the expected number of params",
        format!(
            "{part}: number of localizable_params ({given}) does not match the expected number of params ({expected})"
        ),
    )
}

/// A media or location header needs a parameter of its format; a text header one per
/// variable.
fn check_header(template: &Value, sent: &[Value]) -> Result<(), Refusal> {
    let header = components(template).find(|c| c["type"] == "HEADER");
    let format = header
        .and_then(|h| h["format"].as_str())
        .unwrap_or("TEXT")
        .to_ascii_lowercase();
    let expected = match header {
        None => 0,
        Some(h) if format == "text" => crate::model::variables(h["text"].as_str().unwrap_or(""))
            .0
            .len(),
        Some(_) => 1,
    };
    let given: Vec<&Value> = sent
        .iter()
        .flat_map(|c| c["parameters"].as_array().into_iter().flatten())
        .collect();
    if given.len() != expected {
        if expected == 1 && format != "text" {
            return Err(format_mismatch(&format, "unknown"));
        }
        return Err(count_mismatch("header", given.len(), expected));
    }
    if let Some(p) = given.first() {
        let kind = p["type"].as_str().unwrap_or("unknown");
        if kind != format || (format != "text" && !p[kind].is_object()) {
            return Err(format_mismatch(&format, kind));
        }
    }
    Ok(())
}

fn format_mismatch(expected: &str, received: &str) -> Refusal {
    (
        132012,
        "Parameter format does not match format in the created template",
        format!(
            "header: Format mismatch, expected {}, received {}",
            expected.to_ascii_uppercase(),
            received.to_ascii_uppercase()
        ),
    )
}

/// A link button with a variable, a coupon button and a code button each need their
/// value; a quick reply may carry a payload; nothing else takes one.
fn check_buttons(template: &Value, sent: &[Value]) -> Result<(), Refusal> {
    let buttons: Vec<Value> = components(template)
        .filter(|c| c["type"] == "BUTTONS")
        .flat_map(|c| c["buttons"].as_array().cloned().unwrap_or_default())
        .collect();
    let takes = |b: &Value| -> Option<(&'static str, bool)> {
        match b["type"].as_str()? {
            "URL" if b["url"].as_str().is_some_and(|u| u.contains("{{")) => Some(("url", true)),
            "OTP" => Some(("url", true)),
            "COPY_CODE" => Some(("copy_code", true)),
            "QUICK_REPLY" => Some(("quick_reply", false)),
            _ => None,
        }
    };
    for c in sent {
        let fits = index_of(c)
            .and_then(|i| buttons.get(i))
            .and_then(takes)
            .is_some_and(|(sub_type, _)| c["sub_type"].as_str() == Some(sub_type));
        let has_value = c["parameters"].as_array().is_some_and(|p| p.len() == 1);
        if !fits || !has_value {
            return Err((
                131009,
                "Parameter value is not valid",
                format!(
                    "buttons: the button at index {} takes no such parameter",
                    c["index"]
                ),
            ));
        }
    }
    for (i, b) in buttons.iter().enumerate() {
        let Some((sub_type, true)) = takes(b) else {
            continue;
        };
        let given = sent.iter().any(|c| index_of(c) == Some(i));
        if !given {
            return Err((
                131008,
                "Required parameter is missing",
                format!("buttons: Button at index {i} of type {sub_type} requires a parameter"),
            ));
        }
    }
    Ok(())
}

/// A button component's `index`: Meta documents a string, and takes a number too.
fn index_of(component: &Value) -> Option<usize> {
    as_index(&component["index"])
}

fn as_index(index: &Value) -> Option<usize> {
    index
        .as_str()
        .and_then(|i| i.parse().ok())
        .or_else(|| index.as_u64().and_then(|i| usize::try_from(i).ok()))
}

fn components(template: &Value) -> impl Iterator<Item = &Value> {
    template["components"].as_array().into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(name: &str, components: Value) -> Result<(), i64> {
        let request = json!({ "type": "template", "template": {
            "name": name, "language": { "code": "en_US" }, "components": components } });
        check(&request).map_err(|(code, _, _)| code)
    }

    #[test]
    fn headers_and_buttons_are_refused_the_way_meta_refuses_them() {
        let body =
            |v: &str| json!({ "type": "body", "parameters": [{ "type": "text", "text": v }] });
        let image = json!({ "type": "header", "parameters": [
            { "type": "image", "image": { "link": "https://x.example/a.png" } }] });
        assert_eq!(send("seasonal_promo", json!([image, body("Ana")])), Ok(()));
        // No header, or the wrong kind: a format mismatch.
        assert_eq!(send("seasonal_promo", json!([body("Ana")])), Err(132012));
        let video = json!({ "type": "header", "parameters": [
            { "type": "video", "video": { "link": "https://x.example/a.mp4" } }] });
        assert_eq!(
            send("seasonal_promo", json!([video, body("Ana")])),
            Err(132012)
        );
        // A header where the template has none that takes a value.
        let text = json!({ "type": "header", "parameters": [{ "type": "text", "text": "x" }] });
        assert_eq!(send("hello_world", json!([text.clone()])), Err(132000));

        let track = json!({ "type": "button", "sub_type": "url", "index": "0",
            "parameters": [{ "type": "text", "text": "42" }] });
        assert_eq!(
            send("delivery_update", json!([text.clone(), body("Ana"), track])),
            Ok(())
        );
        assert_eq!(
            send("delivery_update", json!([text.clone(), body("Ana")])),
            Err(131008),
            "the link button's value is missing"
        );
        let payload = json!({ "type": "button", "sub_type": "quick_reply", "index": 0,
            "parameters": [{ "type": "payload", "payload": "P" }] });
        assert_eq!(
            send(
                "delivery_update",
                json!([text.clone(), body("Ana"), payload])
            ),
            Err(131009),
            "index 0 is the link, not the quick reply"
        );
        let otp = json!({ "type": "button", "sub_type": "url", "index": "0",
            "parameters": [{ "type": "text", "text": "482913" }] });
        assert_eq!(send("login_code", json!([body("482913"), otp])), Ok(()));
        assert_eq!(send("login_code", json!([body("482913")])), Err(131008));
    }

    #[test]
    fn a_carousel_needs_every_card_with_its_photo_values_and_link() {
        let body =
            |v: &str| json!({ "type": "body", "parameters": [{ "type": "text", "text": v }] });
        let card = |i: usize, values: &[&str], header: Value| {
            let values: Vec<Value> = values
                .iter()
                .map(|v| json!({ "type": "text", "text": v }))
                .collect();
            json!({ "card_index": i, "components": [
                { "type": "header", "parameters": [header] },
                { "type": "body", "parameters": values },
                { "type": "button", "sub_type": "url", "index": "1",
                  "parameters": [{ "type": "text", "text": "p1" }] }
            ]})
        };
        let image = json!({ "type": "image", "image": { "link": "https://x.example/a.png" } });
        let cards = |cards: Vec<Value>| json!({ "type": "carousel", "cards": cards });
        let first = card(0, &["Tulips", "$5"], image.clone());
        let second = card(1, &["Lilies"], image.clone());
        assert_eq!(
            send(
                "spring_collection",
                json!([body("Ana"), cards(vec![first.clone(), second.clone()])])
            ),
            Ok(())
        );
        assert_eq!(
            send("spring_collection", json!([body("Ana")])),
            Err(131008),
            "no cards"
        );
        assert_eq!(
            send(
                "spring_collection",
                json!([body("Ana"), cards(vec![first.clone()])])
            ),
            Err(132000),
            "a card missing"
        );
        assert_eq!(
            send(
                "spring_collection",
                json!([body("Ana"), cards(vec![second.clone(), first.clone()])])
            ),
            Err(131009),
            "out of order"
        );
        let video = json!({ "type": "video", "video": { "link": "https://x.example/a.mp4" } });
        assert_eq!(
            send(
                "spring_collection",
                json!([
                    body("Ana"),
                    cards(vec![first.clone(), card(1, &["Lilies"], video)])
                ])
            ),
            Err(132012),
            "a video where the card shows a photo"
        );
        assert_eq!(
            send(
                "spring_collection",
                json!([body("Ana"), cards(vec![first.clone(), card(1, &[], image)])])
            ),
            Err(132000),
            "a card's value missing"
        );
        assert_eq!(
            send("hello_world", json!([cards(vec![first])])),
            Err(131009),
            "cards for a template without them"
        );
    }

    #[test]
    fn an_offer_that_counts_down_needs_an_end_to_come() {
        let body = json!({ "type": "body", "parameters": [{ "type": "text", "text": "Ana" }] });
        let code = json!({ "type": "button", "sub_type": "copy_code", "index": "0",
            "parameters": [{ "type": "coupon_code", "coupon_code": "HALF50" }] });
        let ends = |at: i64| {
            json!({ "type": "limited_time_offer", "parameters": [
            { "type": "limited_time_offer", "limited_time_offer": { "expiration_time_ms": at } }] })
        };
        let later = crate::store::now_ms() + 3_600_000;
        assert_eq!(send("flash_sale", json!([body, ends(later), code])), Ok(()));
        assert_eq!(
            send("flash_sale", json!([body, code])),
            Err(131008),
            "no end"
        );
        assert_eq!(
            send("flash_sale", json!([body, ends(1_000), code])),
            Err(131009),
            "an end that has passed"
        );
        assert_eq!(
            send("welcome_offer", json!([body, ends(later), code])),
            Err(131009),
            "no offer to end"
        );
    }
}
