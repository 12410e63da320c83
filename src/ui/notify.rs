//! Telling an agent something needs them while the inbox is in a background tab: a desktop
//! notification (one per conversation, replaced rather than stacked), a sound, and the
//! unread total in the tab title and on the favicon. Settings are kept with the account.

use leptos::prelude::*;

use super::sendable;
use crate::api::{get_notification_settings, save_notification_settings};
use crate::model::{Conversation, Direction, Message, MessageKind, NotificationSettings};

/// Something worth a notification.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub conversation_id: String,
    pub message_id: String,
    pub title: String,
    pub body: String,
}

/// Whether a new message should notify this agent, and what it says. `open` is the
/// conversation on screen and `visible` whether the tab is: nothing for what they are
/// looking at, nothing for their own messages, nothing for reactions.
pub fn decide(
    settings: &NotificationSettings,
    me: &str,
    m: &Message,
    conversation: Option<&Conversation>,
    open: Option<&str>,
    visible: bool,
) -> Option<Alert> {
    if visible && open == Some(m.conversation_id.as_str()) {
        return None;
    }
    if m.kind == MessageKind::Reaction || m.sent_by.as_ref().is_some_and(|u| u.id == me) {
        return None;
    }
    let contact = conversation.map(|c| c.contact.display_name());
    let (wanted, title) = match m.direction {
        Direction::In => {
            let assignee = conversation.and_then(|c| c.assignee.as_ref());
            let wanted = match assignee {
                Some(a) => a.id == me && settings.assigned_to_me,
                None => settings.unassigned,
            };
            (wanted, contact.unwrap_or_else(|| "A customer".into()))
        }
        Direction::Note => {
            let mentioned = m.details.mentions.iter().any(|u| u.id == me);
            let by = m.sent_by.as_ref().map_or("A teammate", |u| u.name.as_str());
            let about = contact.map(|c| format!(" about {c}")).unwrap_or_default();
            (
                mentioned && settings.mentions,
                format!("{by} mentioned you{about}"),
            )
        }
        Direction::Out => (false, String::new()),
    };
    wanted.then(|| Alert {
        conversation_id: m.conversation_id.clone(),
        message_id: m.id.clone(),
        title,
        body: m
            .text
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| format!("[{}]", m.kind.as_str())),
    })
}

/// The favicon with the unread total on a red badge (the plain icon at 0).
pub fn favicon(unread: u32) -> String {
    let mark = "<rect width='64' height='64' rx='14' fill='%230b7a5c'/>\
                <path d='M18 20h28v18H30l-8 7v-7h-4z' fill='white'/>";
    let badge = match unread {
        0 => String::new(),
        n => format!(
            "<circle cx='46' cy='18' r='17' fill='%23d93025'/>\
             <text x='46' y='25' font-size='{}' font-family='sans-serif' font-weight='bold' \
             fill='white' text-anchor='middle'>{}</text>",
            if n > 9 { 17 } else { 22 },
            if n > 99 {
                "99+".to_string()
            } else {
                n.to_string()
            }
        ),
    };
    format!(
        "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 64 64'>{mark}{badge}</svg>"
    )
}

#[derive(Clone, Copy)]
pub struct NotifyCtx {
    pub settings: RwSignal<NotificationSettings>,
    /// The newest alert, for the page's notifier to show.
    pub pending: RwSignal<Option<Alert>>,
    load: Action<(), ()>,
    pub save: Action<NotificationSettings, Result<NotificationSettings, crate::error::ApiError>>,
}

impl NotifyCtx {
    pub fn new() -> Self {
        let settings = RwSignal::new(NotificationSettings::default());
        Self {
            settings,
            pending: RwSignal::new(None),
            load: Action::new(move |_: &()| {
                sendable(async move {
                    if let Ok(s) = get_notification_settings().await {
                        settings.set(s);
                    }
                })
            }),
            save: Action::new(move |s: &NotificationSettings| {
                let s = *s;
                sendable(async move {
                    let saved = save_notification_settings(s).await?;
                    settings.set(saved);
                    Ok(saved)
                })
            }),
        }
    }

    pub fn reload(&self) {
        self.load.dispatch(());
    }
}

impl Default for NotifyCtx {
    fn default() -> Self {
        Self::new()
    }
}

/// Browser side: shows alerts, keeps the title and favicon counts.
#[cfg(feature = "hydrate")]
pub fn run_notifier(ctx: super::state::InboxCtx, go: impl Fn(&str) + Clone + 'static) {
    let notify = ctx.notify;
    notify.reload();
    Effect::new(move |_| {
        let Some(alert) = notify.pending.get() else {
            return;
        };
        let settings = notify.settings.get_untracked();
        if settings.sound && first_tab_to_claim(&alert.message_id) {
            beep();
        }
        if settings.desktop && permission() == "granted" {
            show(&alert, go.clone());
        }
    });
    // The unread total in the title and on the favicon.
    Effect::new(move |_| {
        let unread: u32 = ctx
            .conversations
            .with(|all| all.iter().map(|c| c.unread_count.max(0) as u32).sum());
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        document.set_title(&match unread {
            0 => "Switchboard".to_string(),
            n => format!("({n}) Switchboard"),
        });
        if let Ok(Some(icon)) = document.query_selector("link[rel='icon']") {
            let _ = icon.set_attribute("href", &favicon(unread));
        }
    });
}

/// `"granted"`, `"denied"` or `"default"` (not asked yet); `"unsupported"` without the API.
#[cfg(feature = "hydrate")]
pub fn permission() -> &'static str {
    use wasm_bindgen::JsValue;
    let supported = web_sys::window()
        .map(|w| js_sys::Reflect::has(&w, &JsValue::from_str("Notification")).unwrap_or(false))
        .unwrap_or(false);
    if !supported {
        return "unsupported";
    }
    match web_sys::Notification::permission() {
        web_sys::NotificationPermission::Granted => "granted",
        web_sys::NotificationPermission::Denied => "denied",
        _ => "default",
    }
}

/// Asks for permission (call it from a click), then runs `done` with the answer.
#[cfg(feature = "hydrate")]
pub fn ask_permission(done: impl Fn(&'static str) + 'static) {
    use wasm_bindgen::closure::Closure;
    let Ok(promise) = web_sys::Notification::request_permission() else {
        return;
    };
    let answered = Closure::once(move |_: wasm_bindgen::JsValue| done(permission()));
    let _ = promise.then(&answered);
    // Called once, whenever the agent answers.
    answered.forget();
}

/// One notification per conversation: a newer one replaces it (same `tag`), which also
/// makes the agent's other tabs showing the same alert one notification, not several.
#[cfg(feature = "hydrate")]
fn show(alert: &Alert, go: impl Fn(&str) + 'static) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    let options = web_sys::NotificationOptions::new();
    options.set_body(&alert.body);
    options.set_tag(&format!("switchboard:{}", alert.conversation_id));
    options.set_icon("/favicon.svg");
    let Ok(n) = web_sys::Notification::new_with_options(&alert.title, &options) else {
        return;
    };
    let id = alert.conversation_id.clone();
    let click = Closure::<dyn Fn(web_sys::Event)>::new(move |_| {
        if let Some(w) = web_sys::window() {
            let _ = w.focus();
        }
        go(&id);
    });
    n.set_onclick(Some(click.as_ref().unchecked_ref()));
    // Lives as long as the page: a notification may be clicked long after it was shown.
    click.forget();
}

/// Several tabs of one agent get the same frame; the first to mark the message in local
/// storage plays the sound, the others stay quiet.
#[cfg(feature = "hydrate")]
fn first_tab_to_claim(message_id: &str) -> bool {
    let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) else {
        return true;
    };
    let key = "switchboard:alerted";
    if storage.get_item(key).ok().flatten().as_deref() == Some(message_id) {
        return false;
    }
    let _ = storage.set_item(key, message_id);
    true
}

/// Two short tones through Web Audio (no file to fetch, nothing to decode).
#[cfg(feature = "hydrate")]
fn beep() {
    let Ok(audio) = web_sys::AudioContext::new() else {
        return;
    };
    let now = audio.current_time();
    for (i, freq) in [880.0_f32, 1320.0].into_iter().enumerate() {
        let (Ok(osc), Ok(gain)) = (audio.create_oscillator(), audio.create_gain()) else {
            return;
        };
        let start = now + i as f64 * 0.15;
        osc.frequency().set_value(freq);
        gain.gain().set_value(0.08);
        let _ = osc.connect_with_audio_node(&gain);
        let _ = gain.connect_with_audio_node(&audio.destination());
        let _ = osc.start_with_when(start);
        let _ = osc.stop_with_when(start + 0.12);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserRef;

    fn message(direction: Direction, conversation: &str) -> Message {
        serde_json::from_value(serde_json::json!({
            "id": "m1", "conversation_id": conversation, "inbox_id": "i",
            "direction": direction.as_str(), "kind": "text", "text": "hello",
            "status": "received", "timestamp": 1, "created_at": 1, "seq": 1, "version": 1,
        }))
        .unwrap()
    }

    fn conversation(assignee: Option<&str>) -> Conversation {
        let mut c: Conversation = serde_json::from_value(serde_json::json!({
            "id": "c1", "inbox_id": "i",
            "contact": {"id": "k", "name": "Ana Souza", "wa_id": "5511"},
            "unread_count": 1, "last_activity_at": 1, "version": 1,
        }))
        .unwrap();
        c.assignee = assignee.map(|id| UserRef {
            id: id.into(),
            name: id.into(),
        });
        c
    }

    #[test]
    fn customer_messages_notify_the_assignee_or_everyone_when_unassigned() {
        let s = NotificationSettings::default();
        let m = message(Direction::In, "c1");
        let mine = conversation(Some("me"));
        let alert = decide(&s, "me", &m, Some(&mine), None, false).unwrap();
        assert_eq!(
            (alert.title.as_str(), alert.body.as_str()),
            ("Ana Souza", "hello")
        );
        assert!(decide(&s, "me", &m, Some(&conversation(None)), None, false).is_some());
        assert!(decide(&s, "me", &m, Some(&conversation(Some("bo"))), None, false).is_none());
        let off = NotificationSettings {
            unassigned: false,
            ..s
        };
        assert!(decide(&off, "me", &m, Some(&conversation(None)), None, false).is_none());
    }

    #[test]
    fn nothing_for_the_conversation_on_screen_nor_for_my_own_messages() {
        let s = NotificationSettings::default();
        let m = message(Direction::In, "c1");
        let c = conversation(Some("me"));
        assert!(decide(&s, "me", &m, Some(&c), Some("c1"), true).is_none());
        assert!(decide(&s, "me", &m, Some(&c), Some("c1"), false).is_some());
        let mut mine = message(Direction::Out, "c1");
        mine.sent_by = Some(UserRef {
            id: "me".into(),
            name: "Me".into(),
        });
        assert!(decide(&s, "me", &mine, Some(&c), None, false).is_none());
    }

    #[test]
    fn a_note_notifies_only_whom_it_mentions() {
        let s = NotificationSettings::default();
        let mut note = message(Direction::Note, "c1");
        note.sent_by = Some(UserRef {
            id: "ana".into(),
            name: "Ana".into(),
        });
        note.details.mentions = vec![UserRef {
            id: "bo".into(),
            name: "Bo".into(),
        }];
        let c = conversation(None);
        let alert = decide(&s, "bo", &note, Some(&c), None, false).unwrap();
        assert_eq!(alert.title, "Ana mentioned you about Ana Souza");
        assert!(decide(&s, "cy", &note, Some(&c), None, false).is_none());
        assert!(decide(&s, "ana", &note, Some(&c), None, false).is_none());
    }

    #[test]
    fn the_favicon_carries_the_count() {
        assert!(!favicon(0).contains("circle"));
        assert!(favicon(3).contains(">3</text>"));
        assert!(favicon(250).contains(">99+</text>"));
    }
}
