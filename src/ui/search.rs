//! `/search`: messages the user may see with the words typed, newest first, each with the
//! words found marked; one opens its conversation.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::search_messages;
use crate::model::{SearchResult, search_words, word_matches};

#[component]
pub fn SearchPage() -> impl IntoView {
    let query = RwSignal::new(String::new());
    let found = Resource::new(
        move || query.get(),
        |q| async move {
            if search_words(&q).is_empty() {
                return Ok(None);
            }
            search_messages(q, None, None, Some(50)).await.map(Some)
        },
    );
    view! {
        <section class="search-page" data-testid="search-page">
            <header class="chat-header"><div class="title"><h1>"Search messages"</h1></div></header>
            <div class="search-body">
                // Usable once the app runs: typed before, the words would be reset unsearched.
                <form class="contact-search" role="search" on:submit=|ev| ev.prevent_default()>
                    <super::Interactive>
                        <input type="search" data-testid="search-input" aria-label="Search messages"
                            placeholder="Words from a message, caption, file name or note"
                            prop:value=move || query.get() on:input=move |ev| query.set(event_target_value(&ev))/>
                    </super::Interactive>
                </form>
                <Transition fallback=|| view! { <p class="hint">"Searching…"</p> }>
                    {move || Suspend::new(async move {
                        let words = search_words(&query.get_untracked());
                        match found.await {
                            Ok(None) => view! { <p class="hint">"Type a word to search every conversation you can see."</p> }.into_any(),
                            Ok(Some(page)) if page.results.is_empty() => view! {
                                <p class="hint" data-testid="search-empty">"Nothing found."</p>
                            }.into_any(),
                            Ok(Some(page)) => view! {
                                <ul class="search-results" data-testid="search-results">
                                    {page.results.into_iter().map(|r| view! { <Hit result=r words=words.clone()/> }).collect_view()}
                                </ul>
                            }.into_any(),
                            Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </div>
        </section>
    }
}

#[component]
fn Hit(result: SearchResult, words: Vec<String>) -> impl IntoView {
    let href = format!("/c/{}?at={}", result.conversation_id, result.message.id);
    let ctx = expect_context::<super::state::InboxCtx>();
    let ts = result.message.timestamp;
    let when = move || super::time::list_time(ts, ctx.clock.get());
    let kind = match result.message.direction {
        crate::model::Direction::Note => "Note",
        crate::model::Direction::Out => "Sent",
        _ => "Received",
    };
    view! {
        <li>
            <A href=href attr:class="search-hit" attr:data-testid="search-hit">
                <span class="meta"><span class="who">{result.contact_name.clone()}</span> " · " {kind} " · " {when}</span>
                <span class="snippet">{marked(&result.snippet, &words)}</span>
            </A>
        </li>
    }
}

/// The snippet with each word found wrapped in `<mark>`.
fn marked(text: &str, words: &[String]) -> Vec<AnyView> {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut at = 0;
    for (start, end) in word_matches(text, words) {
        parts.push(chars[at..start].iter().collect::<String>().into_any());
        let hit: String = chars[start..end].iter().collect();
        parts.push(view! { <mark>{hit}</mark> }.into_any());
        at = end;
    }
    parts.push(chars[at..].iter().collect::<String>().into_any());
    parts
}
