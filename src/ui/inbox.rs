//! The inbox layout: header, simulator controls, conversation list, and the open thread.

use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_location;

use super::state::InboxCtx;
use super::status_icon::StatusIcon;
use super::time::list_time;
use crate::api::{me, server_info, sign_out, simulate_customer_message};
use crate::model::{Conversation, Direction, Me, Role, ServerInfo};

#[component]
pub fn InboxLayout() -> impl IntoView {
    let location = use_location();
    let open = Memo::new(move |_| {
        location
            .pathname
            .read()
            .strip_prefix("/c/")
            .filter(|id| !id.is_empty())
            .map(str::to_string)
    });
    let ctx = InboxCtx::new(open);
    provide_context(ctx);

    let info = Resource::new(|| (), |_| server_info());

    #[cfg(feature = "hydrate")]
    {
        // The socket starts once the first list is in, from the seq that list reflects.
        Effect::new(move |started: Option<bool>| {
            if started == Some(true) {
                return true;
            }
            match ctx.base_seq.get() {
                Some(seq) => {
                    super::live::start(ctx, seq);
                    true
                }
                None => false,
            }
        });
        // Visibility decides whether an open conversation counts as read.
        let is_visible = || {
            web_sys::window()
                .and_then(|w| w.document())
                .is_none_or(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
        };
        ctx.visible.set(is_visible());
        let handle = window_event_listener(leptos::ev::visibilitychange, move |_| {
            ctx.visible.set(is_visible());
        });
        on_cleanup(move || handle.remove());
        Effect::new(move |_| {
            let offset = -(js_sys::Date::new_0().get_timezone_offset() as i32);
            ctx.clock.set(super::state::Clock {
                offset_minutes: offset,
                now_secs: super::state::now_secs(),
            });
        });
    }

    // Nothing of the inbox renders for a visitor who is not signed in.
    let viewer = Resource::new(|| (), |_| me());
    view! {
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(me) => view! { <InboxShell me info/> }.into_any(),
                    Err(e) if e.status == 401 => view! { <Redirect path="/login"/> }.into_any(),
                    Err(e) => view! {
                        <p class="error" role="alert">"Switchboard is unavailable: " {e.message}</p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn InboxShell(me: Me, info: Resource<Result<ServerInfo, crate::error::ApiError>>) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    view! {
        <div class="app">
            <header class="topbar">
                <A href="/" attr:class="brand">"Switchboard"</A>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        info.await.ok().filter(|i| i.simulator).map(|_| view! {
                            <span class="sim-badge" data-testid="simulator-badge"
                                title="No WhatsApp credentials are set: messages go to a built-in simulator of the Cloud API">
                                "Simulator"
                            </span>
                        })
                    })}
                </Suspense>
                <LiveBadge/>
                <UserMenu me/>
            </header>
            <aside class="sidebar">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        info.await.ok().filter(|i| i.simulator).map(|i| view! { <SimulatorPanel info=i/> })
                    })}
                </Suspense>
                <nav class="conversations" data-testid="conversation-list" aria-label="Conversations">
                    <Transition fallback=|| view! { <p class="hint">"Loading conversations…"</p> }>
                        {move || Suspend::new(async move {
                            match ctx.conversations_loaded().await {
                                Ok(()) => view! { <ConversationRows/> }.into_any(),
                                Err(e) => view! {
                                    <p class="error" role="alert">"Could not load conversations: " {e.message}</p>
                                }.into_any(),
                            }
                        })}
                    </Transition>
                </nav>
            </aside>
            <main class="main">
                <Outlet/>
            </main>
        </div>
    }
}

#[component]
fn UserMenu(me: Me) -> impl IntoView {
    let signing_out = RwSignal::new(false);
    let out = move |_| {
        signing_out.set(true);
        leptos::task::spawn_local(async move {
            let _ = sign_out().await;
            #[cfg(feature = "hydrate")]
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_href("/login");
            }
        });
    };
    let is_admin = me.user.role == Role::Admin;
    view! {
        <nav class="user-menu" aria-label="Account">
            {is_admin.then(|| view! { <A href="/admin" attr:data-testid="admin-link">"Admin"</A> })}
            <span class="who" data-testid="signed-in-as" title=me.user.email.clone()>
                {me.user.name.clone()}
                <span class="role">{me.user.role.as_str()}</span>
            </span>
            <button class="link" data-testid="sign-out" on:click=out disabled=move || signing_out.get()>
                "Sign out"
            </button>
        </nav>
    }
}

#[component]
fn LiveBadge() -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    view! {
        <span
            class=move || format!("live live-{}", ctx.live.read().key())
            data-testid="live-state"
            data-state=move || ctx.live.read().key()
            role="status"
        >
            <span class="dot" aria-hidden="true"></span>
            {move || ctx.live.read().label()}
        </span>
    }
}

#[component]
fn ConversationRows() -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    view! {
        <Show
            when=move || !ctx.conversations.read().is_empty()
            fallback=|| view! {
                <p class="hint">"No conversations yet. When a customer writes, it shows up here."</p>
            }
        >
            <ul>
                <For
                    each=move || ctx.conversations.get()
                    key=|c| (c.id.clone(), c.version)
                    children=move |c| view! { <ConversationRow c/> }
                />
            </ul>
        </Show>
    }
}

#[component]
fn ConversationRow(c: Conversation) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let id = c.id.clone();
    let is_open = Memo::new(move |_| ctx.open.read().as_deref() == Some(id.as_str()));
    let name = c.contact.display_name();
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().find(|ch| ch.is_alphanumeric()))
        .take(2)
        .collect();
    let unread = c.unread_count;
    let preview = c.last_message.clone();
    let activity = c.last_activity_at / 1000;
    view! {
        <li>
            <A href=format!("/c/{}", c.id) attr:class="conversation" attr:data-testid="conversation"
                attr:data-id=c.id.clone()>
                <span class="avatar" aria-hidden="true">{initials}</span>
                <span class="summary">
                    <span class="name-row">
                        <span class="name" data-testid="conversation-name">{name}</span>
                        <time class="when">{move || list_time(activity, ctx.clock.get())}</time>
                    </span>
                    <span class="preview-row">
                        {preview.map(|p| view! {
                            <span class="preview" data-testid="conversation-preview">
                                {(p.direction == Direction::Out).then(|| view! { <StatusIcon status=p.status error=None/> })}
                                <span class="preview-text">{p.text}</span>
                            </span>
                        })}
                        <Show when=move || { unread > 0 && !is_open.get() }>
                            <span class="unread" data-testid="unread" aria-label=format!("{unread} unread")>
                                {if unread >= crate::model::UNREAD_CAP { "999+".to_string() } else { unread.to_string() }}
                            </span>
                        </Show>
                    </span>
                </span>
            </A>
        </li>
    }
}

/// Lets a new user play the customer while no Meta account is connected.
#[component]
fn SimulatorPanel(info: ServerInfo) -> impl IntoView {
    let who = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let send = move || {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        problem.set(None);
        let wa_id = Some(who.get_untracked()).filter(|w| !w.is_empty());
        let body = Some(text.get_untracked()).filter(|t| !t.trim().is_empty());
        let inbox = Some(to.get_untracked()).filter(|i| !i.is_empty());
        leptos::task::spawn_local(async move {
            match simulate_customer_message(wa_id, body, inbox).await {
                Ok(_) => text.set(String::new()),
                Err(e) => problem.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="sim-panel" data-testid="simulator-panel" aria-label="Simulator">
            <h2>"Try it: play the customer"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                send();
            }>
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
                <input type="text" placeholder="Their message (blank: a sample line)" data-testid="sim-text"
                    aria-label="Customer message" bind:value=text/>
                <button type="submit" data-testid="sim-send" disabled=move || busy.get()>
                    "Customer sends a message"
                </button>
            </form>
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
        </section>
    }
}

/// Shown at `/` before a conversation is picked.
#[component]
pub fn NoConversation() -> impl IntoView {
    view! {
        <div class="empty-state">
            <h1>"Pick a conversation"</h1>
            <p>"New customer messages appear on the left as they arrive — no reload needed."</p>
        </div>
    }
}
