//! The HTML shell and the router. Isomorphic: rendered on the server, hydrated in the
//! browser.

use leptos::prelude::*;
use leptos_meta::{Link, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{Lazy, LazyRoute, ParamSegment, StaticSegment, lazy_route};

use crate::ui::admin::AdminPage;
use crate::ui::canned::CannedPage;
use crate::ui::chat_box::ChatPane;
use crate::ui::contacts::ContactsPage;
use crate::ui::inbox::{InboxLayout, NoConversation};
use crate::ui::new_conversation::NewConversation;
use crate::ui::search::SearchPage;
use crate::ui::settings::SettingsPage;
use crate::ui::sign_in::SignInPage;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // Installable as an app (no offline mode: the inbox is live or nothing).
                <meta name="theme-color" content="#0b7a5c"/>
                <link rel="manifest" href="/manifest.webmanifest"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/switchboard.css"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Title text="Switchboard"/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=StaticSegment("login") view=SignInPage/>
                <ParentRoute path=StaticSegment("") view=InboxLayout>
                    <Route path=StaticSegment("") view=NoConversation/>
                    <Route path=(StaticSegment("c"), ParamSegment("id")) view=ChatPane/>
                    <Route path=StaticSegment("admin") view={Lazy::<AdminScreen>::new()}/>
                    <Route path=StaticSegment("new") view={Lazy::<NewScreen>::new()}/>
                    <Route path=StaticSegment("contacts") view={Lazy::<ContactsScreen>::new()}/>
                    <Route path=StaticSegment("canned") view={Lazy::<CannedScreen>::new()}/>
                    <Route path=StaticSegment("search") view={Lazy::<SearchScreen>::new()}/>
                    <Route path=StaticSegment("settings") view={Lazy::<SettingsScreen>::new()}/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// A screen opened now and then: its code is a WebAssembly chunk of its own (with
/// `cargo leptos build --split`), fetched when the screen is first opened, so the inbox's
/// first load does not carry it. Without `--split` it is an ordinary route.
macro_rules! lazy_screen {
    ($route:ident, $page:ident) => {
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    };
}

lazy_screen!(AdminScreen, AdminPage);
lazy_screen!(NewScreen, NewConversation);
lazy_screen!(ContactsScreen, ContactsPage);
lazy_screen!(CannedScreen, CannedPage);
lazy_screen!(SearchScreen, SearchPage);
lazy_screen!(SettingsScreen, SettingsPage);

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(axum::http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <main class="not-found">
            <h1>"Not found"</h1>
            <p><a href="/">"Back to the inbox"</a></p>
        </main>
    }
}
