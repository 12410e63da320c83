//! Approved templates: WhatsApp Manager's list offered to the composer, and sends checked
//! against it before Meta is called.

use serde_json::{Value, json};
use switchboard::config::SIMULATOR_APP_SECRET;

use crate::cloud_api::{send_outgoing, sent_log, wait_status};
use crate::support::*;
use crate::uploads::{PNG, upload};

async fn templates(app: &TestApp, conv: &str, refresh: bool) -> Value {
    app.ok(
        "approved_templates",
        json!({"conversation_id": conv, "refresh": refresh}),
    )
    .await
}

fn named<'a>(list: &'a Value, name: &str, language: &str) -> &'a Value {
    list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name && t["language"] == language)
        .unwrap_or_else(|| panic!("{name}/{language} not listed: {list}"))
}

#[tokio::test]
async fn the_composer_gets_every_approved_template_across_pages_and_no_others() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let list = templates(&app, &conv, false).await;
    assert!(list["problem"].is_null(), "{list}");
    assert!(list["fetched_at"].is_i64());
    let names: Vec<String> = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["name"].as_str().unwrap(),
                t["language"].as_str().unwrap()
            )
        })
        .collect();
    // Eleven approved templates over three simulator pages of four; the paused one is left
    // out.
    assert_eq!(
        names,
        [
            "appointment_reminder/en_US",
            "delivery_update/en_US",
            "flash_sale/en_US",
            "hello_world/en_US",
            "login_code/en_US",
            "order_update/en_US",
            "order_update/pt_BR",
            "seasonal_promo/en_US",
            "spring_collection/en_US",
            "store_pickup/en_US",
            "welcome_offer/en_US"
        ]
    );
    let order = named(&list, "order_update", "pt_BR");
    assert_eq!(order["params"], json!(["1", "2"]));
    assert_eq!(order["named"], false);
    let reminder = named(&list, "appointment_reminder", "en_US");
    assert_eq!(reminder["params"], json!(["first_name", "date"]));
    assert_eq!(reminder["named"], true);
    assert_eq!(reminder["buttons"], json!(["Confirm", "Reschedule"]));
    // What each header and button takes is listed, so the composer can ask for it.
    assert_eq!(
        named(&list, "seasonal_promo", "en_US")["header_format"],
        "IMAGE"
    );
    let delivery = named(&list, "delivery_update", "en_US");
    assert_eq!(delivery["header_params"], json!(["1"]));
    assert_eq!(
        delivery["button_slots"],
        json!([
            {"index": 0, "sub_type": "url", "label": "Track it", "required": true, "otp": false},
            {"index": 1, "sub_type": "quick_reply", "label": "Wrong address", "required": false, "otp": false}
        ])
    );
    assert_eq!(
        named(&list, "login_code", "en_US")["button_slots"][0]["otp"],
        true
    );
    assert_eq!(
        named(&list, "flash_sale", "en_US")["offer"],
        json!({"text": "Flash sale!", "has_expiration": true})
    );
    let unsupported: Vec<&str> = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| !t["unsupported"].is_null())
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(unsupported.is_empty(), "{unsupported:?}");
    // A carousel lists its cards and what each takes.
    let carousel = named(&list, "spring_collection", "en_US");
    assert_eq!(carousel["params"], json!(["1"]));
    assert_eq!(carousel["cards"][0]["header_format"], "IMAGE");
    assert_eq!(carousel["cards"][0]["params"], json!(["1", "2"]));
    assert_eq!(carousel["cards"][1]["params"], json!(["1"]));
    assert_eq!(
        carousel["cards"][1]["button_slots"],
        json!([
            {"index": 0, "sub_type": "quick_reply", "label": "More like this", "required": false, "otp": false},
            {"index": 1, "sub_type": "url", "label": "Buy", "required": true, "otp": false}
        ])
    );
    // A refresh right after a read is answered from the cache, not by calling Meta again.
    let again = templates(&app, &conv, true).await;
    assert_eq!(again["fetched_at"], list["fetched_at"]);
}

#[tokio::test]
async fn a_template_send_is_checked_against_the_list_and_keeps_the_text_the_customer_reads() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let (status, m) = send_outgoing(
        &app,
        &conv,
        json!({"type": "template", "name": "order_update", "language": "pt_BR", "params": ["Ana", "#42"]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["text"], "Olá Ana, seu pedido #42 saiu para entrega.");
    wait_status(&app, &conv, m["id"].as_str().unwrap(), "read").await;

    // Named variables go out by name: the simulator, like Meta, refuses them otherwise.
    let (status, m) = send_outgoing(
        &app,
        &conv,
        json!({"type": "template", "name": "appointment_reminder", "language": "en_US",
            "params": ["Ana", "May 3"]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        m["details"]["content"]["param_names"],
        json!(["first_name", "date"])
    );
    assert_eq!(
        m["text"],
        "Hi Ana, this is a reminder of your appointment on May 3. Reply to confirm."
    );
    let m = wait_status(&app, &conv, m["id"].as_str().unwrap(), "read").await;
    assert!(m["error"].is_null(), "{m}");
    // A caller may name the values itself, in any order.
    let (status, m) = send_outgoing(
        &app,
        &conv,
        json!({"type": "template", "name": "appointment_reminder", "language": "en_US",
            "params": ["June 1", "Bo"], "param_names": ["date", "first_name"]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert!(m["text"].as_str().unwrap().starts_with("Hi Bo, "), "{m}");
    wait_status(&app, &conv, m["id"].as_str().unwrap(), "read").await;

    let before = sent_log(&app).await.len();
    for (bad, reason) in [
        (
            json!({"type": "template", "name": "order_update", "language": "pt_BR", "params": ["Ana"]}),
            "takes 2 value(s) (1, 2), not 1",
        ),
        (
            json!({"type": "template", "name": "order_update", "language": "de_DE", "params": ["a", "b"]}),
            "approved in en_US, pt_BR but not in de_DE",
        ),
        (
            json!({"type": "template", "name": "appointment_reminder", "language": "en_US",
                "params": ["a", "b"], "param_names": ["first_name", "time"]}),
            "takes values named first_name, date",
        ),
        (
            json!({"type": "template", "name": "winter_sale", "language": "en_US"}),
            "no approved template named winter_sale",
        ),
        (
            json!({"type": "template", "name": "seasonal_promo", "language": "en_US", "params": ["Ana"]}),
            "header needs an image (a link or an upload)",
        ),
    ] {
        refused(&app, &conv, bad, reason).await;
    }
    assert_eq!(
        sent_log(&app).await.len(),
        before,
        "a refused send reached Meta"
    );
}

#[tokio::test]
async fn without_a_readable_list_the_reason_is_given_and_templates_still_go_by_name() {
    let dir = tempfile::tempdir().unwrap();
    // A real-API configuration whose Graph endpoint is unreachable, and no WABA id.
    let app = TestApp::start_on(
        &dir.path().join("db.sqlite"),
        &[
            ("WHATSAPP_ACCESS_TOKEN", "token"),
            ("WHATSAPP_APP_SECRET", SIMULATOR_APP_SECRET),
            ("WHATSAPP_VERIFY_TOKEN", "verify"),
            ("WHATSAPP_PHONE_NUMBER_ID", "200000000000001"),
            ("WHATSAPP_API_BASE", "http://127.0.0.1:9"),
            ("SWITCHBOARD_ADMIN_EMAIL", "admin@example.com"),
            ("SWITCHBOARD_ADMIN_PASSWORD", "a long enough password"),
        ],
    )
    .await;
    let now = now_secs();
    let mut body: Value =
        serde_json::from_slice(&text_body("wamid.T1", "5511987650002", "Ana", "hello", now))
            .unwrap();
    // Until a webhook names the business account, there is nothing to read.
    body["entry"][0]["id"] = json!("not-a-number");
    let res = app.post_webhook(body.to_string().as_bytes()).await;
    assert_eq!(res.status(), 200);
    let conv = app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let list = templates(&app, &conv, false).await;
    assert!(list["templates"].as_array().unwrap().is_empty());
    assert!(
        list["problem"]
            .as_str()
            .unwrap()
            .contains("WHATSAPP_WABA_ID"),
        "{list}"
    );

    // The next webhook names it; now the read is tried, and its failure is explained.
    body["entry"][0]["id"] = json!("123456789012345");
    body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!("wamid.T2");
    let res = app.post_webhook(body.to_string().as_bytes()).await;
    assert_eq!(res.status(), 200);
    let learned = app
        .running
        .state
        .store
        .setting(&switchboard::whatsapp::templates::waba_setting(
            app.conversations().await[0]["inbox_id"].as_str().unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(learned.as_deref(), Some("123456789012345"));
    let list = templates(&app, &conv, true).await;
    assert!(
        list["problem"]
            .as_str()
            .unwrap()
            .contains("did not give the template list"),
        "{list}"
    );

    // Meta is left to judge a template it could not be checked against.
    let (status, m) = send_outgoing(
        &app,
        &conv,
        json!({"type": "template", "name": "anything_goes", "language": "en_US", "params": ["x"]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["text"], "anything_goes: x");
}

/// `bad` is answered 400 with a message that says `reason`.
async fn refused(app: &TestApp, conv: &str, bad: Value, reason: &str) {
    let (status, body) = send_outgoing(app, conv, bad.clone()).await;
    assert_eq!(status, 400, "{bad}: {body}");
    assert!(
        body["message"].as_str().unwrap().contains(reason),
        "{bad}: {body}"
    );
}

/// The template object of the last request that reached the simulator.
async fn last_template(app: &TestApp) -> Value {
    let sent = sent_log(app).await;
    let last = sent.iter().rev().find(|s| s["type"] == "template");
    last.expect("a template was sent")["payload"].clone()
}

#[tokio::test]
async fn headers_and_buttons_take_their_values_and_go_out_as_meta_documents_them() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let send = |message: Value| {
        let (app, conv) = (&app, &conv);
        async move {
            let (status, m) = send_outgoing(app, conv, message.clone()).await;
            assert_eq!(status, 200, "{message}: {m}");
            // Read: the simulator accepted every part.
            wait_status(app, conv, m["id"].as_str().unwrap(), "read").await
        }
    };

    // A text header's value and a link button's ending.
    let m = send(
        json!({"type": "template", "name": "delivery_update", "language": "en_US",
        "header": {"type": "text", "text": "#42"}, "params": ["Ana"],
        "buttons": [{"index": 0, "sub_type": "url", "value": "42"}]}),
    )
    .await;
    assert_eq!(
        m["text"],
        "Order #42\nHi Ana, your parcel is out for delivery today."
    );
    let sent = last_template(&app).await;
    assert_eq!(
        sent["components"],
        json!([
            {"type": "header", "parameters": [{"type": "text", "text": "#42"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
            {"type": "button", "sub_type": "url", "index": "0",
             "parameters": [{"type": "text", "text": "42"}]}
        ])
    );

    // An image header by link: the bubble shows it from the link.
    let m = send(json!({"type": "template", "name": "seasonal_promo", "language": "en_US",
        "header": {"type": "image", "link": "https://cdn.example.com/spring.png"}, "params": ["Ana"]}))
    .await;
    assert_eq!(
        m["details"]["media"]["link"],
        "https://cdn.example.com/spring.png"
    );
    assert_eq!(
        last_template(&app).await["components"][0],
        json!({"type": "header", "parameters": [
            {"type": "image", "image": {"link": "https://cdn.example.com/spring.png"}}]})
    );

    // An image header from an agent's upload: uploaded to WhatsApp, sent by media id, and
    // served to agents from our copy.
    let (status, info) = upload(&app, "image/png", "spring.png", PNG.to_vec()).await;
    assert_eq!(status, 201, "{info}");
    let m = send(
        json!({"type": "template", "name": "seasonal_promo", "language": "en_US",
        "header": {"type": "image", "upload": info["upload"]}, "params": ["Bo"]}),
    )
    .await;
    let media_id = m["details"]["media"]["media_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        last_template(&app).await["components"][0]["parameters"][0],
        json!({"type": "image", "image": {"id": media_id}})
    );
    let res = app.media(&m).await;
    assert_eq!(res.status(), 200);
    assert_eq!(&res.bytes().await.unwrap()[..], PNG);

    // A location header, and a coupon code.
    send(
        json!({"type": "template", "name": "store_pickup", "language": "en_US",
        "header": {"type": "location", "latitude": -23.55, "longitude": -46.63,
                   "name": "Loja Paulista", "address": "Av. Paulista 1000"},
        "params": ["#42"]}),
    )
    .await;
    assert_eq!(
        last_template(&app).await["components"][0]["parameters"][0],
        json!({"type": "location", "location": {"latitude": -23.55, "longitude": -46.63,
            "name": "Loja Paulista", "address": "Av. Paulista 1000"}})
    );
    send(json!({"type": "template", "name": "welcome_offer", "language": "en_US",
        "params": ["Ana"], "buttons": [{"index": 0, "sub_type": "copy_code", "value": "WELCOME10"}]}))
    .await;
    assert_eq!(
        last_template(&app).await["components"][1],
        json!({"type": "button", "sub_type": "copy_code", "index": "0",
            "parameters": [{"type": "coupon_code", "coupon_code": "WELCOME10"}]})
    );

    // A one-time password: the code button carries the body's code without being asked.
    send(json!({"type": "template", "name": "login_code", "language": "en_US", "params": ["482913"]}))
        .await;
    assert_eq!(
        last_template(&app).await["components"][1],
        json!({"type": "button", "sub_type": "url", "index": "0",
            "parameters": [{"type": "text", "text": "482913"}]})
    );

    // A limited-time offer: its end, then its coupon code.
    let ends = now_secs() * 1000 + 6 * 3_600_000;
    send(
        json!({"type": "template", "name": "flash_sale", "language": "en_US", "params": ["Ana"],
        "offer_expires_at_ms": ends,
        "buttons": [{"index": 0, "sub_type": "copy_code", "value": "HALF50"}]}),
    )
    .await;
    assert_eq!(
        last_template(&app).await["components"],
        json!([
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
            {"type": "limited_time_offer", "parameters": [
                {"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": ends}}]},
            {"type": "button", "sub_type": "copy_code", "index": "0",
             "parameters": [{"type": "coupon_code", "coupon_code": "HALF50"}]}
        ])
    );
}

#[tokio::test]
async fn a_header_or_button_value_that_does_not_fit_is_refused_before_meta() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let before = sent_log(&app).await.len();
    let delivery = |header: Value, buttons: Value| {
        json!({"type": "template", "name": "delivery_update", "language": "en_US",
            "header": header, "params": ["Ana"], "buttons": buttons})
    };
    let text = json!({"type": "text", "text": "#42"});
    let track = json!([{"index": 0, "sub_type": "url", "value": "42"}]);
    for (bad, reason) in [
        (
            delivery(text.clone(), json!([])),
            "button \"Track it\" needs a value",
        ),
        (delivery(Value::Null, track.clone()), "header needs a value"),
        (
            delivery(
                text.clone(),
                json!([{"index": 0, "sub_type": "copy_code", "value": "X"}]),
            ),
            "has no button 1 that takes a copy_code value",
        ),
        (
            delivery(
                text.clone(),
                json!([{"index": 0, "sub_type": "url", "value": "1"},
                                          {"index": 0, "sub_type": "url", "value": "2"}]),
            ),
            "distinct positions",
        ),
        (
            delivery(
                json!({"type": "image", "link": "https://x.example/a.png"}),
                track.clone(),
            ),
            "header takes a value, not an image",
        ),
        (
            json!({"type": "template", "name": "order_update", "language": "en_US",
                "params": ["a", "b"], "header": {"type": "text", "text": "x"}}),
            "has no header that takes a value",
        ),
        (
            json!({"type": "template", "name": "seasonal_promo", "language": "en_US", "params": ["a"],
                "header": {"type": "image", "link": "https://x.example/a.png", "upload": "u"}}),
            "either a link or an upload",
        ),
        (
            json!({"type": "template", "name": "seasonal_promo", "language": "en_US", "params": ["a"],
                "header": {"type": "image", "link": "ftp://x.example/a.png"}}),
            "http(s) URL",
        ),
        (
            json!({"type": "template", "name": "store_pickup", "language": "en_US", "params": ["a"],
                "header": {"type": "location", "latitude": 91.0, "longitude": 0.0}}),
            "latitude (-90 to 90)",
        ),
        (
            json!({"type": "template", "name": "welcome_offer", "language": "en_US", "params": ["a"],
                "buttons": [{"index": 0, "sub_type": "copy_code", "value": "A CODE FAR TOO LONG"}]}),
            "longer than WhatsApp's 15",
        ),
        (
            json!({"type": "template", "name": "flash_sale", "language": "en_US", "params": ["a"],
                "buttons": [{"index": 0, "sub_type": "copy_code", "value": "HALF50"}]}),
            "give offer_expires_at_ms",
        ),
        (
            json!({"type": "template", "name": "flash_sale", "language": "en_US", "params": ["a"],
                "offer_expires_at_ms": 1_000,
                "buttons": [{"index": 0, "sub_type": "copy_code", "value": "HALF50"}]}),
            "has passed",
        ),
        (
            json!({"type": "template", "name": "welcome_offer", "language": "en_US", "params": ["a"],
                "offer_expires_at_ms": 4_102_444_800_000_i64,
                "buttons": [{"index": 0, "sub_type": "copy_code", "value": "W"}]}),
            "has no offer that ends",
        ),
    ] {
        refused(&app, &conv, bad, reason).await;
    }
    // A header upload of the wrong kind is refused too, and stays unclaimed.
    let (_, pdf) = upload(&app, "application/pdf", "a.pdf", b"%PDF-1.4 x".to_vec()).await;
    let (status, body) = send_outgoing(
        &app,
        &conv,
        json!({"type": "template", "name": "seasonal_promo", "language": "en_US", "params": ["a"],
            "header": {"type": "image", "upload": pdf["upload"]}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("the upload is a document, but the header takes an image"),
        "{body}"
    );
    assert_eq!(
        sent_log(&app).await.len(),
        before,
        "a refused send reached Meta"
    );
}

/// A carousel card of `spring_collection`: its photo, its values and its product's link.
fn card(link: &str, params: Value, product: &str) -> Value {
    json!({"header": {"type": "image", "link": link}, "params": params,
        "buttons": [{"index": 1, "sub_type": "url", "value": product}]})
}

fn carousel(cards: Value) -> Value {
    json!({"type": "template", "name": "spring_collection", "language": "en_US",
        "params": ["Ana"], "cards": cards})
}

#[tokio::test]
async fn a_carousel_goes_out_with_every_card_and_keeps_what_each_card_reads() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let mut tulips = card(
        "https://cdn.example.com/tulips.png",
        json!(["Tulips", "$5"]),
        "tulips",
    );
    // A card's quick reply may carry a payload, which comes back when it is tapped.
    tulips["buttons"]
        .as_array_mut()
        .unwrap()
        .push(json!({"index": 0, "sub_type": "quick_reply", "value": "MORE_TULIPS"}));
    let lilies = card(
        "https://cdn.example.com/lilies.png",
        json!(["Lilies"]),
        "lilies",
    );
    let (status, m) = send_outgoing(&app, &conv, carousel(json!([tulips, lilies]))).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["text"], "Ana, our spring collection is in.");
    let cards = &m["details"]["content"]["cards"];
    assert_eq!(cards[0]["text"], "Tulips, now $5");
    assert_eq!(cards[1]["text"], "Also in: Lilies");
    // Read: the simulator, checking as Meta does, accepted every card.
    let m = wait_status(&app, &conv, m["id"].as_str().unwrap(), "read").await;
    assert!(m["error"].is_null(), "{m}");
    let button = |index: &str, sub_type: &str, parameter: Value| json!({"type": "button", "sub_type": sub_type, "index": index, "parameters": [parameter]});
    let image = |link: &str| json!({"type": "header", "parameters": [{"type": "image", "image": {"link": link}}]});
    let text = |v: &str| json!({"type": "text", "text": v});
    assert_eq!(
        last_template(&app).await["components"],
        json!([
            {"type": "body", "parameters": [text("Ana")]},
            {"type": "carousel", "cards": [
                {"card_index": 0, "components": [
                    image("https://cdn.example.com/tulips.png"),
                    {"type": "body", "parameters": [text("Tulips"), text("$5")]},
                    button("0", "quick_reply", json!({"type": "payload", "payload": "MORE_TULIPS"})),
                    button("1", "url", text("tulips"))
                ]},
                {"card_index": 1, "components": [
                    image("https://cdn.example.com/lilies.png"),
                    {"type": "body", "parameters": [text("Lilies")]},
                    button("1", "url", text("lilies"))
                ]}
            ]}
        ])
    );
}

#[tokio::test]
async fn a_carousel_without_each_of_its_cards_filled_is_refused_before_meta() {
    let app = TestApp::start().await;
    let conv = app.customer_writes("5511987650001", "hi").await;
    let before = sent_log(&app).await.len();
    let tulips = card("https://x.example/t.png", json!(["Tulips", "$5"]), "t");
    let lilies = card("https://x.example/l.png", json!(["Lilies"]), "l");
    let mut video = lilies.clone();
    video["header"]["type"] = json!("video");
    let mut no_link = lilies.clone();
    no_link["buttons"] = json!([]);
    let mut uploaded = lilies.clone();
    uploaded["header"] = json!({"type": "image", "upload": "u1"});
    let mut ftp = lilies.clone();
    ftp["header"]["link"] = json!("ftp://x.example/l.png");
    let mut order = json!({"type": "template", "name": "order_update", "language": "en_US",
        "params": ["a", "b"]});
    order["cards"] = json!([tulips.clone()]);
    let eleven: Vec<Value> = (0..11).map(|_| lilies.clone()).collect();
    for (bad, reason) in [
        (
            carousel(json!([])),
            "is a carousel of 2 cards: give each card's values (cards), not 0",
        ),
        (carousel(json!([tulips.clone()])), "not 1"),
        (
            carousel(json!([tulips.clone(), video])),
            "card 2 shows an image, not a video",
        ),
        (
            carousel(json!([tulips.clone(), no_link])),
            "spring_collection's card 2's button \"Buy\" needs a value",
        ),
        (
            carousel(json!([lilies.clone(), lilies.clone()])),
            "spring_collection's card 1 takes 2 value(s) (1, 2), not 1",
        ),
        (
            carousel(json!([tulips.clone(), uploaded])),
            "card 2: a card's header is an image or a video by a public link",
        ),
        (carousel(json!([tulips.clone(), ftp])), "http(s) URL"),
        (order, "order_update is not a carousel"),
        (carousel(json!(eleven)), "at most 10 cards"),
    ] {
        refused(&app, &conv, bad, reason).await;
    }
    assert_eq!(
        sent_log(&app).await.len(),
        before,
        "a refused send reached Meta"
    );
}
