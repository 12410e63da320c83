//! The number beside each view's tab (Mine, Unassigned, All), under the list's status and
//! label filter. Read in the browser once hydrated, and again a moment after the list
//! changes, so a burst of events costs one read.

use leptos::prelude::*;

use super::state::InboxCtx;
use crate::model::{View, ViewCounts};

#[derive(Clone, Copy)]
pub struct Counts(RwSignal<Option<Option<ViewCounts>>>);

impl Counts {
    pub fn new(ctx: InboxCtx) -> Self {
        let refresh = settled_changes(ctx);
        Self(super::loaded_in_browser(move || {
            refresh.track();
            ctx.epoch.track();
            let (status, label) = ctx.filter.with(|f| {
                let status = f.status.map(|s| vec![s.as_str().to_string()]);
                (status, f.label.clone())
            });
            async move {
                crate::api::count_conversations(status, None, label, None)
                    .await
                    .ok()
            }
        }))
    }

    /// The count beside a tab, once known.
    pub fn badge(self, view: View) -> impl IntoView {
        move || {
            self.0.get().flatten().map(|c| {
                let n = match view {
                    View::Mine => c.mine,
                    View::Unassigned => c.unassigned,
                    View::All => c.all,
                };
                view! { <span class="count" data-testid="view-count">{n}</span> }
            })
        }
    }
}

/// Moves a moment after the list changes: changes in between share one move.
fn settled_changes(ctx: InboxCtx) -> RwSignal<u64> {
    let refresh = RwSignal::new(0u64);
    #[cfg(feature = "hydrate")]
    {
        const SETTLE: std::time::Duration = std::time::Duration::from_millis(700);
        let waiting = StoredValue::new(false);
        Effect::new(move |ran: Option<()>| {
            ctx.conversations.track();
            if ran.is_none() || waiting.get_value() {
                return;
            }
            waiting.set_value(true);
            set_timeout(
                move || {
                    waiting.set_value(false);
                    refresh.update(|n| *n += 1);
                },
                SETTLE,
            );
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ctx;
    refresh
}
