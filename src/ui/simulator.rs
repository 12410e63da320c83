//! The simulator's controls: play the customer with any message type, and break things
//! on purpose (every fault the simulated Cloud API can inject) to see how the inbox copes.

use leptos::prelude::*;
use serde_json::json;

use super::Interactive;
use crate::api::{SimulateCustomerMessage, simulate_burst, simulate_fault};
use crate::error::ApiError;
use crate::model::ServerInfo;

/// What a customer can send from the panel: (kind, label).
const KINDS: &[(&str, &str)] = &[
    ("text", "Text"),
    ("referral", "Text from an ad"),
    ("image", "Photo"),
    ("video", "Video"),
    ("document", "Document"),
    ("audio", "Voice note"),
    ("sticker", "Sticker"),
    ("location", "Location"),
    ("contacts", "Contact card"),
    ("list_reply", "List choice"),
    ("nfm_reply", "Form (Flow) answers"),
    ("button", "Template quick reply"),
    ("order", "Order"),
    ("unsupported", "Unsupported (poll)"),
    ("hologram", "Unknown future type"),
];

/// Faults one click away: (label, the fault's JSON).
fn faults() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "Next send fails: 24 h window (131047)",
            json!({"fault": "fail_with", "code": 131047}),
        ),
        (
            "Next send fails: undeliverable (131026)",
            json!({"fault": "fail_with", "code": 131026}),
        ),
        (
            "Next send: 429 rate limit, then retried",
            json!({"fault": "send_error", "http_status": 429, "code": 130429}),
        ),
        (
            "Next send: 503 from Meta, then retried",
            json!({"fault": "send_error", "http_status": 503, "code": 131016}),
        ),
        (
            "Next send: answer lost (timeout)",
            json!({"fault": "timeout"}),
        ),
        (
            "Next send: access token rejected (190)",
            json!({"fault": "send_error", "http_status": 401, "code": 190}),
        ),
        (
            "Next send: receipts shuffled",
            json!({"fault": "shuffle_receipts"}),
        ),
        (
            "Next send: receipt before the answer",
            json!({"fault": "receipt_before_response"}),
        ),
        (
            "Next webhook delivered twice",
            json!({"fault": "duplicate_webhooks"}),
        ),
        (
            "Next media URL expired",
            json!({"fault": "media_url_expired"}),
        ),
        (
            "Next media download: 503",
            json!({"fault": "media_error", "http_status": 503}),
        ),
        (
            "Next media id gone (expired)",
            json!({"fault": "media_gone"}),
        ),
        (
            "Next file upload to Meta: 503, then retried",
            json!({"fault": "upload_error", "http_status": 503}),
        ),
    ]
}

/// The panel, as a WebAssembly chunk of its own (`cargo leptos build --split`): a server
/// connected to Meta never shows it, so its browsers never fetch it.
#[lazy]
pub fn simulator_panel(info: ServerInfo) -> AnyView {
    view! { <SimulatorPanel info/> }.into_any()
}

/// Lets a new user play the customer while no Meta account is connected.
#[component]
fn SimulatorPanel(info: ServerInfo) -> impl IntoView {
    let who = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let kind = RwSignal::new(String::from("text"));
    let problem = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    let writing = ServerAction::<SimulateCustomerMessage>::new();
    // Faults and bursts answer with a line for the panel.
    let scheduling = Action::new(
        |(label, fault, inbox): &(&'static str, serde_json::Value, Option<String>)| {
            let (label, fault, inbox) = (*label, fault.clone(), inbox.clone());
            super::sendable(async move {
                let n = simulate_fault(fault, inbox).await?;
                Ok::<_, ApiError>(format!("Scheduled: {label} ({n} pending)"))
            })
        },
    );
    let bursting = Action::new(|inbox: &Option<String>| {
        let inbox = inbox.clone();
        super::sendable(async move {
            let n = simulate_burst(25, inbox).await?;
            Ok::<_, ApiError>(format!("{n} customers wrote at once"))
        })
    });
    Effect::new(move |_| match writing.value().get() {
        Some(Ok(_)) => text.set(String::new()),
        Some(Err(e)) => problem.set(Some(e.message)),
        None => {}
    });
    let show = move |answer: Option<Result<String, ApiError>>| match answer {
        Some(Ok(line)) => notice.set(Some(line)),
        Some(Err(e)) => problem.set(Some(e.message)),
        None => {}
    };
    Effect::new(move |_| show(scheduling.value().get()));
    Effect::new(move |_| show(bursting.value().get()));
    let busy = writing.pending();
    let send = move || {
        if busy.get_untracked() {
            return;
        }
        problem.set(None);
        writing.dispatch(SimulateCustomerMessage {
            wa_id: Some(who.get_untracked()).filter(|w| !w.is_empty()),
            text: Some(text.get_untracked()).filter(|t| !t.trim().is_empty()),
            inbox_id: Some(to.get_untracked()).filter(|i| !i.is_empty()),
            kind: Some(kind.get_untracked()),
            target: None,
        });
    };
    let fault = move |label: &'static str, value: serde_json::Value| {
        let inbox = Some(to.get_untracked()).filter(|i| !i.is_empty());
        scheduling.dispatch((label, value, inbox));
    };
    let burst = move |_| {
        bursting.dispatch(Some(to.get_untracked()).filter(|i| !i.is_empty()));
    };
    view! {
        <section class="sim-panel" data-testid="simulator-panel" aria-label="Simulator">
            <h2>"Try it: play the customer"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                send();
            }>
                <Interactive>
                    <select aria-label="Customer" data-testid="sim-customer"
                        on:change=move |ev| who.set(event_target_value(&ev))>
                        <option value="">"Any demo customer"</option>
                        {info.demo_customers.into_iter().map(|c| view! {
                            <option value=c.wa_id.clone()>{c.name}</option>
                        }).collect_view()}
                    </select>
                    {(info.inboxes.len() > 1).then(|| view! {
                        <select aria-label="To inbox" data-testid="sim-inbox"
                            on:change=move |ev| to.set(event_target_value(&ev))>
                            {info.inboxes.iter().map(|i| view! {
                                <option value=i.id.clone()>
                                    {i.name.clone().unwrap_or_else(|| i.phone_number_id.clone())}
                                </option>
                            }).collect_view()}
                        </select>
                    })}
                    <select aria-label="Message type" data-testid="sim-kind"
                        on:change=move |ev| kind.set(event_target_value(&ev))>
                        {KINDS.iter().map(|(k, label)| view! { <option value=*k>{*label}</option> }).collect_view()}
                    </select>
                    <input type="text" placeholder="Their message or caption (blank: a sample)" data-testid="sim-text"
                        aria-label="Customer message" bind:value=text/>
                    <button type="submit" data-testid="sim-send" disabled=move || busy.get()>
                        "Customer sends a message"
                    </button>
                </Interactive>
            </form>
            <details class="sim-faults">
                <summary>"Break something"</summary>
                <ul>
                    {faults().into_iter().map(|(label, value)| view! {
                        <li>
                            <button type="button" data-testid="sim-fault" data-fault=value.to_string()
                                on:click=move |_| fault(label, value.clone())>{label}</button>
                        </li>
                    }).collect_view()}
                    <li>
                        <button type="button" data-testid="sim-burst" on:click=burst>
                            "25 customers write at once"
                        </button>
                    </li>
                </ul>
            </details>
            {move || notice.get().map(|n| view! { <p class="hint" role="status">{n}</p> })}
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
        </section>
    }
}
