//! Delivery ticks: clock, ✓, grey ✓✓, blue ✓✓, or a red ! with the reason.

use leptos::prelude::*;

use crate::model::{ErrorInfo, MessageStatus};

#[component]
pub fn StatusIcon(status: MessageStatus, error: Option<ErrorInfo>) -> impl IntoView {
    let label = match status {
        MessageStatus::Pending => "Sending".to_string(),
        MessageStatus::Sent => "Sent".to_string(),
        MessageStatus::Delivered => "Delivered".to_string(),
        MessageStatus::Read => "Read".to_string(),
        MessageStatus::Played => "Played".to_string(),
        MessageStatus::Received => String::new(),
        MessageStatus::Failed => match &error {
            Some(e) => match &e.detail {
                Some(d) => format!("{} — {d}", e.title),
                None => e.title.clone(),
            },
            None => "Failed".to_string(),
        },
    };
    let icon = match status {
        MessageStatus::Received => return ().into_any(),
        MessageStatus::Pending => view! {
            <svg viewBox="0 0 16 16" aria-hidden="true">
                <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="1.5"/>
                <path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round"/>
            </svg>
        }
        .into_any(),
        MessageStatus::Sent => view! {
            <svg viewBox="0 0 16 16" aria-hidden="true">
                <path d="M3 8.5l3 3 7-7" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>
            </svg>
        }
        .into_any(),
        MessageStatus::Delivered | MessageStatus::Read | MessageStatus::Played => view! {
            <svg viewBox="0 0 20 16" aria-hidden="true">
                <path d="M1.5 8.5l3 3 7-7" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>
                <path d="M7.5 11.5l7-7" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>
                <path d="M9.5 11.5l7-7" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>
            </svg>
        }
        .into_any(),
        MessageStatus::Failed => view! {
            <svg viewBox="0 0 16 16" aria-hidden="true">
                <circle cx="8" cy="8" r="7" fill="currentColor"/>
                <path d="M8 4v5" stroke="#fff" stroke-width="1.8" stroke-linecap="round"/>
                <circle cx="8" cy="11.8" r="1" fill="#fff"/>
            </svg>
        }
        .into_any(),
    };
    view! {
        <span
            class=format!("tick tick-{}", status.as_str())
            data-testid="status"
            data-status=status.as_str()
            role="img"
            title=label.clone()
            aria-label=label
        >
            {icon}
        </span>
    }
    .into_any()
}
