//! The sign-in page.

use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::api::{SignIn, me, sign_in_info};

#[component]
pub fn SignInPage() -> impl IntoView {
    let info = Resource::new(|| (), |_| sign_in_info());
    let already = Resource::new(|| (), |_| me());
    // Uncontrolled inputs, read when the form is sent: a value bound to a signal would be
    // reset by hydration, wiping whatever was typed (or autofilled) before the app loaded.
    let email = NodeRef::<leptos::html::Input>::new();
    let password = NodeRef::<leptos::html::Input>::new();
    let signing_in = ServerAction::<SignIn>::new();
    // A full load once signed in, so the inbox is rendered for the new session; the
    // button stays busy until the page goes.
    let signed_in = move || matches!(signing_in.value().get(), Some(Ok(_)));
    Effect::new(move |_| {
        if signed_in() {
            #[cfg(feature = "hydrate")]
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_href("/");
            }
        }
    });
    let busy = move || signing_in.pending().get() || signed_in();
    let problem = move || match signing_in.value().get() {
        Some(Err(e)) if !signing_in.pending().get() => Some(e.message),
        _ => None,
    };
    // The button stays disabled until the page is interactive, so a submit can never fall
    // back to a plain form post that would put the password in a URL. The inputs stay
    // usable (see above), unlike the other forms' `Interactive`.
    let hydrated = super::hydrated();

    let submit = move || {
        if signing_in.pending().get_untracked() {
            return;
        }
        let read = |input: NodeRef<leptos::html::Input>| {
            input.get_untracked().map(|i| i.value()).unwrap_or_default()
        };
        signing_in.dispatch(SignIn {
            email: read(email),
            password: read(password),
        });
    };

    view! {
        <main class="sign-in">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    already.await.ok().map(|_| view! { <Redirect path="/"/> })
                })}
            </Suspense>
            <form class="card" on:submit=move |ev| {
                ev.prevent_default();
                submit();
            }>
                <h1>"Switchboard"</h1>
                <p class="muted">"Sign in to your team inbox"</p>
                <label>
                    "Email"
                    <input type="email" autocomplete="username" required data-testid="email" node_ref=email/>
                </label>
                <label>
                    "Password"
                    <input type="password" autocomplete="current-password" required data-testid="password"
                        node_ref=password/>
                </label>
                {move || problem().map(|p| view! { <p class="error" role="alert" data-testid="sign-in-error">{p}</p> })}
                <button type="submit" data-testid="sign-in" disabled=move || !hydrated.get() || busy()>
                    {move || if busy() { "Signing in…" } else { "Sign in" }}
                </button>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        info.await.ok().map(|info| view! {
                            {info.demo.map(|demo| view! {
                                <div class="demo" data-testid="demo-login">
                                    <strong>"Simulator mode"</strong>
                                    " — sign in as "
                                    <code data-testid="demo-email">{demo.email}</code>
                                    " with password "
                                    <code data-testid="demo-password">{demo.password}</code>
                                </div>
                            })}
                            {info.no_accounts.then(|| view! {
                                <p class="hint">
                                    "No accounts exist yet. Create the first admin with "
                                    <code>"switchboard user add --role admin --email … --name …"</code>
                                    " or set SWITCHBOARD_ADMIN_EMAIL and SWITCHBOARD_ADMIN_PASSWORD."
                                </p>
                            })}
                        })
                    })}
                </Suspense>
            </form>
        </main>
    }
}
