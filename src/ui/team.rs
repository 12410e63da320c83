//! Who of the team is here and who is writing where: kept from `presence.updated` and
//! `agent.typing` frames, shown as a strip above the list and a line above the composer.

use leptos::prelude::*;

use super::sendable;
use crate::api::{agent_typing, list_presence, set_presence};
use crate::model::{AgentTyping, Frame, Presence, PresenceStatus};

/// A teammate's typing shows this long after their last `agent.typing` (the composer
/// sends one every [`TYPING_EVERY_MS`] while they type).
const TYPING_SHOWN_MS: f64 = 6_000.0;
const TYPING_EVERY_MS: f64 = 3_000.0;

#[derive(Clone, Debug, PartialEq)]
struct Typing {
    who: AgentTyping,
    /// Browser clock, ms.
    until: f64,
}

fn now_ms() -> f64 {
    super::state::now_secs() as f64 * 1000.0
}

/// With no key, click, touch or pointer movement for this long, the agent counts as away.
pub const IDLE_AFTER_MS: f64 = 5.0 * 60_000.0;

/// Whether the agent has been idle for [`IDLE_AFTER_MS`] at `now`.
pub fn is_idle(last_active_ms: f64, now_ms: f64) -> bool {
    now_ms - last_active_ms >= IDLE_AFTER_MS
}

/// True while the agent has not touched this tab for [`IDLE_AFTER_MS`]; checked every
/// 15 s, and false again at the next input.
#[cfg(feature = "hydrate")]
pub fn idle_signal() -> RwSignal<bool> {
    let idle = RwSignal::new(false);
    let last = StoredValue::new(js_sys::Date::now());
    let active = move || {
        last.set_value(js_sys::Date::now());
        if idle.get_untracked() {
            idle.set(false);
        }
    };
    let handles = [
        window_event_listener(leptos::ev::keydown, move |_| active()),
        window_event_listener(leptos::ev::pointerdown, move |_| active()),
        window_event_listener(leptos::ev::pointermove, move |_| active()),
        window_event_listener(leptos::ev::wheel, move |_| active()),
    ];
    let check = set_interval_with_handle(
        move || {
            let now = is_idle(last.get_value(), js_sys::Date::now());
            if now != idle.get_untracked() {
                idle.set(now);
            }
        },
        std::time::Duration::from_secs(15),
    );
    on_cleanup(move || {
        for h in handles {
            h.remove();
        }
        if let Ok(h) = check {
            h.clear();
        }
    });
    idle
}

#[derive(Clone, Copy)]
pub struct TeamCtx {
    people: RwSignal<Vec<Presence>>,
    typing: RwSignal<Vec<Typing>>,
    /// When this tab last said its user is typing, and where.
    told: StoredValue<(String, f64)>,
    load: Action<(), ()>,
    report: Action<PresenceStatus, ()>,
    tell: Action<String, ()>,
}

impl TeamCtx {
    pub fn new() -> Self {
        let people = RwSignal::new(Vec::new());
        Self {
            people,
            typing: RwSignal::new(Vec::new()),
            told: StoredValue::new((String::new(), 0.0)),
            load: Action::new(move |_: &()| {
                sendable(async move {
                    match list_presence().await {
                        Ok(team) => people.set(team.users),
                        Err(e) => leptos::logging::warn!("presence: {}", e.message),
                    }
                })
            }),
            report: Action::new(|status: &PresenceStatus| {
                let status = *status;
                sendable(async move {
                    let _ = set_presence(status).await;
                })
            }),
            tell: Action::new(|conversation_id: &String| {
                let id = conversation_id.clone();
                sendable(async move {
                    let _ = agent_typing(id).await;
                })
            }),
        }
    }

    /// Reads everyone's presence again (each time the socket is ready: what changed
    /// while it was away is not replayed).
    pub fn reload(&self) {
        self.load.dispatch(());
    }

    /// This tab is shown (`online`) or hidden (`away`).
    pub fn report(&self, visible: bool) {
        self.report.dispatch(if visible {
            PresenceStatus::Online
        } else {
            PresenceStatus::Away
        });
    }

    /// The agent types in `conversation_id`; teammates hear of it every few seconds.
    pub fn typed(&self, conversation_id: &str) {
        let now = now_ms();
        let (last_id, last_at) = self.told.get_value();
        if last_id == conversation_id && now - last_at < TYPING_EVERY_MS {
            return;
        }
        self.told.set_value((conversation_id.to_string(), now));
        self.tell.dispatch(conversation_id.to_string());
    }

    /// Applies a presence or typing frame; says whether it was one.
    pub fn apply(&self, frame: &Frame) -> bool {
        match frame {
            Frame::PresenceUpdated { data } => {
                self.people.update(|all| {
                    match all.iter_mut().find(|p| p.user_id == data.user_id) {
                        Some(p) => *p = data.clone(),
                        None => all.push(data.clone()),
                    }
                });
                if data.status == PresenceStatus::Offline {
                    self.typing
                        .update(|t| t.retain(|t| t.who.user_id != data.user_id));
                }
                true
            }
            Frame::AgentTyping { data } => {
                let entry = Typing {
                    who: data.clone(),
                    until: now_ms() + TYPING_SHOWN_MS,
                };
                self.typing.update(|all| {
                    all.retain(|t| {
                        !(t.who.user_id == data.user_id
                            && t.who.conversation_id == data.conversation_id)
                    });
                    all.push(entry);
                });
                let typing = self.typing;
                set_timeout(
                    move || {
                        let now = now_ms();
                        typing.update(|all| all.retain(|t| t.until > now));
                    },
                    std::time::Duration::from_millis(TYPING_SHOWN_MS as u64 + 100),
                );
                true
            }
            _ => false,
        }
    }

    /// Whether `user_id` is online, away or offline, as the last frames said (tracked).
    pub fn status_of(&self, user_id: &str) -> PresenceStatus {
        self.people.with(|all| {
            all.iter()
                .find(|p| p.user_id == user_id)
                .map_or(PresenceStatus::Offline, |p| p.status)
        })
    }

    /// Names of the teammates writing in `conversation_id` now.
    fn typing_in(&self, conversation_id: &str) -> Vec<String> {
        self.typing.with(|all| {
            all.iter()
                .filter(|t| t.who.conversation_id == conversation_id)
                .map(|t| t.who.name.clone())
                .collect()
        })
    }
}

impl Default for TeamCtx {
    fn default() -> Self {
        Self::new()
    }
}

/// A teammate as a picker lists them: the name alone while online, "(away)" or
/// "(offline)" after it otherwise.
pub fn with_presence(name: &str, status: PresenceStatus) -> String {
    match status {
        PresenceStatus::Online => name.to_string(),
        other => format!("{name} ({})", other.as_str()),
    }
}

/// "Bo is replying…" above the composer: another agent is writing here too.
#[component]
pub fn TypingNotice(conversation_id: String) -> impl IntoView {
    let team = expect_context::<super::state::InboxCtx>().team;
    let names = Memo::new(move |_| team.typing_in(&conversation_id));
    move || {
        let names = names.get();
        (!names.is_empty()).then(|| {
            let who = names.join(", ");
            let verb = if names.len() == 1 { "is" } else { "are" };
            view! {
                <p class="agent-typing" role="status" data-testid="agent-typing">
                    <span class="dot"></span>
                    {format!("{who} {verb} replying — check before you send")}
                </p>
            }
        })
    }
}

/// The team above the list: a dot per teammate, green online, amber away, grey offline.
#[component]
pub fn TeamStrip(me: String) -> impl IntoView {
    let team = expect_context::<super::state::InboxCtx>().team;
    let others = Memo::new(move |_| {
        team.people.with(|all| {
            let mut v: Vec<Presence> = all.iter().filter(|p| p.user_id != me).cloned().collect();
            // Online first, then away, then offline; by name within each.
            v.sort_by_key(|p| (p.status as u8, p.name.to_lowercase()));
            v
        })
    });
    move || {
        let others = others.get();
        (!others.is_empty()).then(|| {
            view! {
                <ul class="team-strip" aria-label="Team" data-testid="team">
                    {others.into_iter().map(|p| {
                        let status = p.status.as_str();
                        let title = format!("{} — {status}", p.name);
                        view! {
                            <li class=format!("teammate {status}") data-testid="teammate"
                                data-status=status title=title>
                                <span class="dot"></span>{p.name}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picker_names_a_teammate_with_their_presence_unless_online() {
        assert_eq!(with_presence("Bo", PresenceStatus::Online), "Bo");
        assert_eq!(with_presence("Bo", PresenceStatus::Away), "Bo (away)");
        assert_eq!(with_presence("Bo", PresenceStatus::Offline), "Bo (offline)");
    }

    #[test]
    fn an_agent_is_idle_only_after_five_minutes_without_input() {
        let last = 1_000_000.0;
        assert!(!is_idle(last, last));
        assert!(!is_idle(last, last + IDLE_AFTER_MS - 1.0));
        assert!(is_idle(last, last + IDLE_AFTER_MS));
    }
}
