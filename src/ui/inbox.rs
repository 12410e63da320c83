//! The inbox layout: header, simulator controls, conversation list, and the open thread.

use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_location;

use super::state::InboxCtx;
use crate::api::{SignOut, me, server_info};
use crate::model::{ConversationStatus, Me, Role, ServerInfo, View};

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

    // Reloaded with everything else after a `resync`, so the paused banner is current. Read
    // after the conversation list: the socket starts from the list's seq, so a pause that
    // lands between the two reads is in this answer rather than lost between them.
    let info = Resource::new(
        move || ctx.epoch.get(),
        move |_| async move {
            let _ = ctx.list.await;
            server_info().await
        },
    );

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
        // Teammates see this agent away while every tab of theirs is hidden or idle.
        let idle = super::team::idle_signal();
        Effect::new(move |_| ctx.team.report(ctx.visible.get() && !idle.get()));
        Effect::new(move |_| {
            let offset = -(js_sys::Date::new_0().get_timezone_offset() as i32);
            ctx.clock.set(super::state::Clock {
                offset_minutes: offset,
                now_secs: super::state::now_secs(),
            });
        });
    }

    // Nothing of the inbox renders for a visitor who is not signed in: the server sends
    // them to sign in before anything is drawn, the browser when a session ends.
    #[cfg(feature = "ssr")]
    if crate::api::ctx::principal().is_err() {
        leptos_axum::redirect("/login");
    }
    let viewer = Resource::new(|| (), |_| me());
    // A Transition, not a Suspense: the router builds each next route's view as a task
    // of the nearest boundary, and a Suspense put this "Loading…" in place of the whole
    // app for a moment each time a conversation was opened (the list lost its scroll).
    view! {
        <Transition fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(me) => view! { <InboxShell me info/> }.into_any(),
                    Err(e) if e.status == 401 => view! { <Redirect path="/login"/> }.into_any(),
                    Err(e) => view! {
                        <p class="error" role="alert">"Switchboard is unavailable: " {e.message}</p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn InboxShell(me: Me, info: Resource<Result<ServerInfo, crate::error::ApiError>>) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    // Not during the render: a signal set while the server renders re-runs what reads it
    // mid-stream. Only "Mine" needs it, in the browser.
    let me_id = me.user.id.clone();
    let strip_me = me_id.clone();
    Effect::new(move |_| ctx.me.set(me_id.clone()));
    // For what fills `{{agent.name}}` and picks a canned response's inbox.
    provide_context(me.clone());
    #[cfg(feature = "hydrate")]
    {
        let navigate = leptos_router::hooks::use_navigate();
        super::notify::run_notifier(ctx, move |id| {
            navigate(&format!("/c/{id}"), Default::default())
        });
    }
    view! {
        <div class="app">
            <super::shortcuts::Shortcuts/>
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
                        match info.await.ok().filter(|i| i.simulator) {
                            Some(i) => Some(super::simulator::simulator_panel(i).await),
                            None => None,
                        }
                    })}
                </Suspense>
                <ListControls/>
                <super::team::TeamStrip me=strip_me/>
                <super::conversation_list::ConversationList/>
            </aside>
            <main class="main">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let inboxes = info.await.ok()?.inboxes;
                        // Live: `inbox.updated` events pause and resume after the load.
                        Some(move || {
                            let paused: Vec<_> = inboxes
                                .iter()
                                .filter_map(|i| {
                                    let reason = ctx
                                        .paused
                                        .with(|p| p.get(&i.id).cloned())
                                        .unwrap_or_else(|| i.sending_paused.clone())?;
                                    let name = i.name.clone().unwrap_or_else(|| i.phone_number_id.clone());
                                    Some((name, reason))
                                })
                                .collect();
                            (!paused.is_empty()).then(|| view! {
                                <div class="banner paused" role="alert" data-testid="sending-paused">
                                    {paused.into_iter().map(|(name, reason)| view! {
                                        <p>"Sending from " <strong>{name}</strong> " is paused. " {reason}</p>
                                    }).collect_view()}
                                </div>
                            })
                        })
                    })}
                </Suspense>
                <Outlet/>
            </main>
        </div>
    }
}

#[component]
fn UserMenu(me: Me) -> impl IntoView {
    let signing_out = ServerAction::<SignOut>::new();
    // Signed out (or the session was already gone): to the sign-in page.
    Effect::new(move |_| {
        if signing_out.value().read().is_some() {
            #[cfg(feature = "hydrate")]
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_href("/login");
            }
        }
    });
    let out = move |_| {
        signing_out.dispatch(SignOut {});
    };
    let is_admin = me.user.role == Role::Admin;
    view! {
        <nav class="user-menu" aria-label="Account">
            <A href="/contacts" attr:data-testid="contacts-link">"Contacts"</A>
            <A href="/search" attr:data-testid="search-link">"Search"</A>
            <A href="/canned" attr:data-testid="canned-link">"Canned"</A>
            <A href="/settings" attr:data-testid="settings-link">"Settings"</A>
            {is_admin.then(|| view! { <A href="/admin" attr:data-testid="admin-link">"Admin"</A> })}
            <span class="who" data-testid="signed-in-as" title=me.user.email.clone()>
                {me.user.name.clone()}
                <span class="role">{me.user.role.as_str()}</span>
            </span>
            <button class="link" data-testid="sign-out" on:click=out disabled=move || signing_out.pending().get() || signing_out.value().read().is_some()>
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

/// The list's views (Mine, Unassigned, All), its status filter, and "New conversation".
#[component]
fn ListControls() -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let counts = super::view_counts::Counts::new(ctx);
    let tab = move |view: View, label: &'static str| {
        let selected = move || ctx.filter.read().view == view;
        view! {
            <button type="button" role="tab" class="tab" aria-selected=move || selected().to_string()
                data-testid=format!("view-{}", view_key(view))
                on:click=move |_| ctx.filter.update(|f| f.view = view)>
                {label}
                {counts.badge(view)}
            </button>
        }
    };
    let status_value = move || {
        ctx.filter
            .read()
            .status
            .map(|s| s.as_str())
            .unwrap_or("any")
            .to_string()
    };
    view! {
        <div class="list-controls">
            <div class="tabs" role="tablist" aria-label="Which conversations">
                {tab(View::Mine, "Mine")}
                {tab(View::Unassigned, "Unassigned")}
                {tab(View::All, "All")}
            </div>
            <div class="list-tools">
                // Usable once the app runs: a choice made before would be reset unapplied.
                <super::Interactive>
                    <label class="visually-hidden" for="status-filter">"Status"</label>
                    <select id="status-filter" data-testid="status-filter" prop:value=status_value
                        on:change=move |ev| {
                            let status = ConversationStatus::parse(&event_target_value(&ev));
                            ctx.filter.update(|f| f.status = status);
                        }>
                        <option value="open">"Open"</option>
                        <option value="pending">"Pending"</option>
                        <option value="snoozed">"Snoozed"</option>
                        <option value="resolved">"Resolved"</option>
                        <option value="any">"Any status"</option>
                    </select>
                    <input type="text" class="label-filter" data-testid="label-filter" placeholder="Label" aria-label="Only this label"
                        maxlength="32" prop:value=move || ctx.filter.read().label.clone().unwrap_or_default()
                        on:change=move |ev| {
                            let label = crate::model::normalize_label(&event_target_value(&ev));
                            ctx.filter.update(|f| f.label = label);
                        }/>
                </super::Interactive>
                <A href="/new" attr:class="button new-conversation" attr:data-testid="new-conversation">
                    "New conversation"
                </A>
            </div>
        </div>
    }
}

fn view_key(view: View) -> &'static str {
    match view {
        View::All => "all",
        View::Mine => "mine",
        View::Unassigned => "unassigned",
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
