//! Keyboard shortcuts for the inbox, and the `?` overlay that lists them. Single keys work
//! when no field has the focus; the Alt+Shift ones (in `controls.rs`) work anywhere.

use leptos::prelude::*;

/// What the overlay lists: keys, then what they do.
const SHORTCUTS: [(&str, &str); 10] = [
    ("j / k", "Next / previous conversation"),
    ("/", "Search messages"),
    ("r", "Write a reply"),
    ("n", "Write a private note"),
    ("t", "Pick a template (when the 24-hour window is closed)"),
    ("Alt+Shift+A", "Assign the conversation to me"),
    ("Alt+Shift+R", "Resolve the conversation"),
    ("Alt+Shift+O", "Reopen the conversation"),
    ("?", "Show or hide this list"),
    ("Esc", "Close this list"),
];

/// The conversation `step` places after (or before) `open` in `ids`, the list's order.
pub fn neighbour(ids: &[String], open: Option<&str>, step: isize) -> Option<String> {
    let at = open.and_then(|o| ids.iter().position(|i| i == o));
    let next = match at {
        Some(i) => i.checked_add_signed(step)?,
        None if step > 0 => 0,
        None => ids.len().checked_sub(1)?,
    };
    ids.get(next).cloned()
}

#[component]
pub fn Shortcuts() -> impl IntoView {
    let shown = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    {
        let ctx = expect_context::<super::state::InboxCtx>();
        let navigate = leptos_router::hooks::use_navigate();
        let handle = window_event_listener(leptos::ev::keydown, move |ev| {
            if ev.ctrl_key() || ev.meta_key() || ev.alt_key() || ev.is_composing() {
                return;
            }
            if ev.key() == "Escape" && shown.get_untracked() {
                shown.set(false);
                return;
            }
            if typing_in_a_field() {
                return;
            }
            let go = |id: Option<String>| {
                if let Some(id) = id {
                    navigate(&format!("/c/{id}"), Default::default());
                }
            };
            let step = |by: isize| {
                let ids: Vec<String> = ctx.shown().into_iter().map(|(id, _)| id).collect();
                neighbour(&ids, ctx.open.get_untracked().as_deref(), by)
            };
            match ev.key().as_str() {
                "?" => shown.update(|s| *s = !*s),
                "j" => go(step(1)),
                "k" => go(step(-1)),
                "/" => {
                    navigate("/search", Default::default());
                    focus_soon("[data-testid=search-input]");
                }
                "r" => {
                    click("[data-testid=mode-reply]");
                    focus_soon("[data-testid=composer]");
                }
                "n" => {
                    click("[data-testid=mode-note]");
                    focus_soon("[data-testid=composer]");
                }
                "t" => focus_soon("[data-testid=template-pick]"),
                _ => return,
            }
            ev.prevent_default();
        });
        on_cleanup(move || handle.remove());
    }
    view! {
        <Show when=move || shown.get()>
            <div class="shortcuts-backdrop" on:click=move |_| shown.set(false)>
                <div class="shortcuts" role="dialog" aria-modal="true" aria-labelledby="shortcuts-title"
                    data-testid="shortcuts" on:click=|ev| ev.stop_propagation()>
                    <div class="shortcuts-head">
                        <h2 id="shortcuts-title">"Keyboard shortcuts"</h2>
                        <button class="link" data-testid="shortcuts-close" on:click=move |_| shown.set(false)>
                            "Close"
                        </button>
                    </div>
                    <table>
                        <tbody>
                            {SHORTCUTS.iter().map(|(keys, what)| view! {
                                <tr><td><kbd>{*keys}</kbd></td><td>{*what}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </div>
        </Show>
    }
}

/// Whether the key goes to a field (typing a `j` in the composer is not a shortcut).
#[cfg(feature = "hydrate")]
fn typing_in_a_field() -> bool {
    let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
    else {
        return false;
    };
    matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
        || el.get_attribute("contenteditable").is_some()
}

#[cfg(feature = "hydrate")]
fn element(selector: &str) -> Option<web_sys::HtmlElement> {
    use wasm_bindgen::JsCast;
    web_sys::window()?
        .document()?
        .query_selector(selector)
        .ok()??
        .dyn_into()
        .ok()
}

#[cfg(feature = "hydrate")]
fn click(selector: &str) {
    if let Some(el) = element(selector) {
        el.click();
    }
}

/// Focuses what `selector` finds once the page has drawn it (after a navigation or a
/// mode switch).
#[cfg(feature = "hydrate")]
fn focus_soon(selector: &'static str) {
    set_timeout(
        move || {
            if let Some(el) = element(selector) {
                let _ = el.focus();
            }
        },
        std::time::Duration::from_millis(50),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn j_and_k_walk_the_list_and_stop_at_its_ends() {
        let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(neighbour(&ids, Some("a"), 1).as_deref(), Some("b"));
        assert_eq!(neighbour(&ids, Some("b"), -1).as_deref(), Some("a"));
        assert_eq!(neighbour(&ids, Some("c"), 1), None);
        assert_eq!(neighbour(&ids, Some("a"), -1), None);
        assert_eq!(neighbour(&ids, None, 1).as_deref(), Some("a"));
        assert_eq!(neighbour(&ids, None, -1).as_deref(), Some("c"));
        assert_eq!(neighbour(&ids, Some("gone"), 1).as_deref(), Some("a"));
        assert_eq!(neighbour(&[], None, 1), None);
    }
}
