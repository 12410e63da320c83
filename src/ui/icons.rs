//! Small inline SVG icons drawn in the text colour. Emoji would need an emoji font, which
//! many Linux desktops lack (they show empty boxes). Each is decorative: the control that
//! holds it carries the accessible name.

use leptos::prelude::*;

/// The frame every icon shares: a 24-unit stroked drawing of `size` pixels.
fn icon(size: u32, stroke_width: &'static str, drawing: impl IntoView) -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" width=size height=size aria-hidden="true" fill="none"
            stroke="currentColor" stroke-width=stroke_width stroke-linecap="round" stroke-linejoin="round">
            {drawing}
        </svg>
    }
}

/// A paper clip: attach a file.
#[component]
pub fn AttachIcon() -> impl IntoView {
    icon(
        18,
        "2",
        view! {
            <path d="M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9"/>
        },
    )
}

/// A curved arrow back: reply to a message.
#[component]
pub fn ReplyIcon() -> impl IntoView {
    icon(
        14,
        "2",
        view! { <path d="M9 14L4 9l5-5"/><path d="M4 9h10a6 6 0 0 1 6 6v4"/> },
    )
}

/// A smiling face: react to a message.
#[component]
pub fn SmileIcon() -> impl IntoView {
    icon(
        14,
        "2",
        view! {
            <circle cx="12" cy="12" r="9"/>
            <path d="M8 14s1.5 2 4 2 4-2 4-2"/>
            <path d="M9 9.5h.01M15 9.5h.01"/>
        },
    )
}

/// A cross: cancel or remove.
#[component]
pub fn CloseIcon() -> impl IntoView {
    icon(14, "2.5", view! { <path d="M6 6l12 12M18 6L6 18"/> })
}

/// An arrow down: to the newest message.
#[component]
pub fn DownIcon() -> impl IntoView {
    icon(16, "2", view! { <path d="M12 5v14M6 13l6 6 6-6"/> })
}
