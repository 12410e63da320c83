//! The inbox page: conversation list, ChatBox and the live connection.

pub mod admin;
pub mod audit;
pub mod bubble;
pub mod canned;
pub mod chat_box;
pub mod contacts;
mod contacts_io;
pub mod controls;
pub mod conversation_list;
pub mod icons;
pub mod inbox;
#[cfg(feature = "hydrate")]
pub mod live;
mod near_view;
pub mod new_conversation;
pub mod notify;
pub mod search;
pub mod sending;
pub mod settings;
pub mod shortcuts;
pub mod sign_in;
pub mod simulator;
pub mod state;
pub mod status_icon;
pub mod structured;
pub mod team;
pub mod template_form;
mod template_inputs;
mod template_picker;
pub mod thread;
pub mod thread_store;
mod thread_view;
pub mod time;
pub mod upload;
mod view_counts;
pub mod webhooks;

use leptos::prelude::*;

/// Loads, before hydration, the split-off code (`#[lazy]`) of each part the server put in
/// this page. Hydration walks the server's HTML in one pass and does not wait: a part
/// whose code were still on its way would hydrate as nothing, a mismatch that stops the
/// app. The preload functions are the ones `#[lazy]` generates (`lazy_preload!` wraps the
/// same in a signal, which cannot be awaited).
#[cfg(feature = "hydrate")]
pub async fn load_rendered_parts() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    // The simulator panel is the one split-off part the server draws (the template
    // picker, the structured forms and the screens are drawn in the browser or, for the
    // screens, awaited by the router itself).
    let rendered = document
        .query_selector("[data-testid=simulator-panel]")
        .ok()
        .flatten()
        .is_some();
    if rendered {
        simulator::__preload_simulator_panel().await;
    }
}

/// Becomes true once the page is interactive (never on the server).
pub fn hydrated() -> Signal<bool> {
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    ready.into()
}

/// A form's controls, disabled until the page is interactive. Before hydration a submit
/// would fall back to a plain GET that puts the fields (passwords and tokens included) in
/// the URL, and whatever was typed would be reset by hydration; so nothing can be typed
/// or sent until the app has taken over.
#[component]
pub fn Interactive(children: Children) -> impl IntoView {
    let ready = hydrated();
    view! { <fieldset class="interactive" disabled=move || !ready.get()>{children()}</fieldset> }
}

/// A wide table that scrolls sideways by itself on a narrow screen, rather than the page;
/// focusable, so the keyboard can scroll it too.
#[component]
pub fn TableScroll(label: &'static str, children: Children) -> impl IntoView {
    view! { <div class="table-scroll" tabindex="0" role="region" aria-label=label>{children()}</div> }
}

/// Why an action's last call failed, until its next call is under way.
pub fn action_error<I, T>(action: Action<I, Result<T, crate::error::ApiError>>) -> Option<String>
where
    I: Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    if action.pending().get() {
        return None;
    }
    action.value().with(|v| match v {
        Some(Err(e)) => Some(e.message.clone()),
        _ => None,
    })
}

/// A browser future made `Send`, for `Action::new`. The browser has one thread, so it never
/// moves; on the server the futures are `Send` already. (`Action::new_local` would tie
/// the action to the thread that made it, and a server render may end on another one.)
#[cfg(feature = "hydrate")]
pub fn sendable<F: std::future::Future>(
    future: F,
) -> impl std::future::Future<Output = F::Output> + Send {
    send_wrapper::SendWrapper::new(future)
}

#[cfg(not(feature = "hydrate"))]
pub fn sendable<F: std::future::Future + Send>(
    future: F,
) -> impl std::future::Future<Output = F::Output> + Send {
    future
}

/// A value read in the browser once the page is hydrated (never on the server), and read
/// again whenever a signal `fetch` reads before its `async` part changes; only the newest
/// read's answer is kept. For loads made inside another `Suspense`'s content, where a
/// resource breaks the hydration of a page loaded whole: a `Resource` created there is
/// streamed out of order, and a `LocalResource` holds the outer `Suspense` back in the
/// browser but not on the server.
pub fn loaded_in_browser<T, F>(fetch: impl Fn() -> F + 'static) -> RwSignal<Option<T>>
where
    T: Send + Sync + 'static,
    F: std::future::Future<Output = T> + 'static,
{
    let value = RwSignal::new(None);
    #[cfg(feature = "hydrate")]
    {
        let latest = StoredValue::new(0u64);
        Effect::new(move |_| {
            let answer = fetch();
            latest.update_value(|n| *n += 1);
            let asked = latest.get_value();
            leptos::task::spawn_local(async move {
                let answer = answer.await;
                // The page may have moved on (or away) while it was asked.
                if latest.try_get_value() == Some(asked) {
                    value.try_set(Some(answer));
                }
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = fetch;
    value
}

/// Waits in the browser; a no-op elsewhere (nothing on the server waits through the UI).
pub async fn sleep_ms(ms: u32) {
    #[cfg(feature = "hydrate")]
    gloo_timers::future::TimeoutFuture::new(ms).await;
    #[cfg(not(feature = "hydrate"))]
    let _ = ms;
}

/// Calls `changed` whenever `el`'s box changes size: the window resized, a panel above it
/// opened or closed, a part shown again on a phone. Stops with the calling owner.
#[cfg(feature = "hydrate")]
pub fn observe_size(el: &web_sys::Element, changed: impl Fn() + 'static) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    let callback = Closure::<dyn Fn(js_sys::Array)>::new(move |_| changed());
    let Ok(observer) = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()) else {
        return;
    };
    observer.observe(el);
    let held = send_wrapper::SendWrapper::new((observer, callback));
    on_cleanup(move || held.0.disconnect());
}
