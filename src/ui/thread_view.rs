//! The open conversation's messages: pages loaded as the agent scrolls, held within the
//! thread's window, only those near the view drawn, the bubble being read kept in place,
//! day separators and runs.

use leptos::html;
use leptos::prelude::*;

use super::bubble::Bubble;
use super::near_view::NearView;
#[cfg(feature = "hydrate")]
use super::near_view::entry_element;
use super::state::InboxCtx;
use super::thread::WINDOW;
use crate::api::{DEFAULT_PAGE, load_messages};
use crate::model::Direction;

#[component]
pub(super) fn ThreadView(conversation_id: String, target: Option<String>) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let scroller = NodeRef::<html::Div>::new();
    let near = NearView::new(scroller);
    // A page comes in at one end of what the agent reads while the window may let the
    // other end go: the bubble at the loading end is held where it was on screen, so the
    // view stays put (as browsers with scroll anchoring do, in both directions).
    let anchor = StoredValue::new(None::<Anchor>);
    let hold = move |oldest: bool| {
        let id = ctx.thread.thread.with_untracked(|t| {
            let mut entries = super::thread::entries(&t.messages);
            let m = if oldest {
                entries.next()
            } else {
                entries.next_back()
            };
            m.map(|m| m.id.clone())
        });
        anchor.set_value(id.and_then(Anchor::of));
    };
    let older = page_loader(ctx, conversation_id.clone(), true, near, scroller);
    let newer = page_loader(ctx, conversation_id.clone(), false, near, scroller);
    let (loading_older, loading_newer) = (older.pending(), newer.pending());
    // The next page at one end, unless it is loading or that end is reached.
    let load = move |is_older: bool| {
        let (action, loading) = if is_older {
            (older, loading_older)
        } else {
            (newer, loading_newer)
        };
        let more = ctx.thread.thread.with_untracked(|t| {
            if is_older {
                t.next.is_some()
            } else {
                t.newer.is_some()
            }
        });
        if more && !loading.get_untracked() {
            to_loading_end(scroller, ctx, is_older);
            hold(is_older);
            action.dispatch(());
        }
    };
    let load_older = move || load(true);
    let load_newer = move || load(false);
    let (older_done, newer_done) = (older.version(), newer.version());
    Effect::new(move |_| {
        older_done.track();
        newer_done.track();
        if let (Some(el), Some(held)) = (scroller.get_untracked(), anchor.get_value()) {
            anchor.set_value(None);
            // Now, if the page is in the DOM already: at the very top (where the browser's
            // anchoring does nothing) a frame could otherwise be painted showing the
            // page's far end first. Again at the next frame, once it surely is.
            held.clone().restore(&el);
            request_animation_frame(move || held.restore(&el));
        }
    });
    let latest = format!("/c/{conversation_id}");
    // Opened at a message, the link leaves `?at=` and the newest page loads with the
    // view; opened plainly, the URL would not change, so the newest page is loaded here.
    let newest_page = latest_loader(ctx, conversation_id.clone());
    let opened_at = target.is_some();
    // The message it was opened at stays marked while the thread shows it, drawn again
    // after the agent scrolled away and back.
    let marked = target.clone();

    // Follow the newest message as chat apps do, unless the agent has scrolled up to
    // read history (their own message always shows) or opened the thread at a message.
    let following = StoredValue::new(target.is_none());
    let newest = Memo::new(move |_| {
        ctx.thread
            .thread
            .read()
            .messages
            .last()
            .map(|m| (m.id.clone(), m.direction))
    });
    Effect::new(move |_| {
        let own = matches!(newest.get(), Some((_, Direction::Out)));
        if let Some(el) = scroller.get()
            && (following.get_value() || own)
        {
            // Next frame: a page's bubbles are drawn before they are attached, and the
            // height to scroll to is only known once they are.
            request_animation_frame(move || el.set_scroll_top(el.scroll_height()));
        }
    });
    // Opened at a message: bring it to the middle of the view and mark it, once it is
    // in the thread.
    Effect::new(move |shown: Option<bool>| {
        if shown == Some(true) {
            return true;
        }
        let Some(target) = target.clone() else {
            return true;
        };
        if !ctx.thread.order.read().contains(&target) {
            return false;
        }
        show_target(target, 10);
        true
    });
    // Day separators and runs of one sender's messages, in the viewer's zone.
    let marks = Memo::new(move |_| {
        let offset = ctx.clock.with(|c| c.offset_minutes);
        ctx.thread
            .thread
            .with(|t| super::thread::thread_marks(&t.messages, offset))
    });
    // More than a screen above the newest loaded message: "Jump to latest" shows.
    let away = RwSignal::new(false);
    let has_newer = Memo::new(move |_| ctx.thread.thread.read().newer.is_some());
    // Straight to the newest: what is loading at either end is moot, and the view is not
    // held where it was.
    let jump = move |ev: leptos::ev::MouseEvent| {
        if opened_at {
            return;
        }
        ev.prevent_default();
        anchor.set_value(None);
        following.set_value(true);
        if has_newer.get_untracked() {
            newest_page.dispatch(());
        } else if let Some(el) = scroller.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    };
    // Near either end, the next page loads by itself; the buttons stay for keyboards.
    let on_scroll = move |_| {
        near.scrolled(scroller);
        if let Some(el) = scroller.get_untracked() {
            // Scrolled while a page is on its way: the bubble held is held where it is
            // now, or the page's arrival would take the view back to where it was asked.
            if let Some(held) = anchor.get_value() {
                anchor.set_value(Anchor::of(held.id));
            }
            let gap = el.scroll_height() - el.scroll_top() - el.client_height();
            following.set_value(gap < 80 && !has_newer.get_untracked());
            let far = gap > el.client_height();
            if away.get_untracked() != far {
                away.set(far);
            }
            if el.scroll_top() < NEAR_END {
                load_older();
            }
            if gap < NEAR_END {
                load_newer();
            }
        }
    };

    view! {
        <div class="thread" node_ref=scroller data-testid="thread" on:scroll=on_scroll>
            <Show when=move || ctx.thread.thread.read().next.is_some()>
                <button class="load-older" data-testid="load-older" on:click=move |_| load_older()
                    disabled=move || loading_older.get()>
                    {move || if loading_older.get() { "Loading…" } else { "Load older messages" }}
                </button>
            </Show>
            <Show when=move || ctx.thread.order.read().is_empty()>
                <p class="hint">"No messages yet."</p>
            </Show>
            // Keyed by id: an event re-renders the one bubble whose message it changes.
            // Each entry (a bubble and the day separator above it) is drawn while near the
            // view, else an empty box of its height.
            <For
                each=move || ctx.thread.order.get()
                key=|id| id.clone()
                children=move |id| {
                    let message = ctx.thread.bubble(&id);
                    let (day_id, run_id) = (id.clone(), id.clone());
                    // `try_with`: a page that replaces this view can still reach these
                    // before they are dropped with it.
                    let starts_day = Memo::new(move |_| {
                        marks.try_with(|k| k.day_starts.contains(&day_id)).unwrap_or(false)
                    });
                    let continued = Signal::derive(move || {
                        marks.try_with(|k| k.continued.contains(&run_id)).unwrap_or(false)
                    });
                    let entry = NodeRef::<html::Div>::new();
                    let far = near.watch(id.clone(), entry);
                    let drawn = Memo::new(move |_| far.get().is_none());
                    let is_target = marked.as_deref() == Some(id.as_str());
                    message.map(|m| {
                        let ts = m.with_untracked(|m| m.timestamp);
                        view! {
                            <div class="entry" data-testid="entry" data-id=id node_ref=entry
                                style=move || far.get().map(|h| format!("height:{h}px"))>
                                <Show when=move || drawn.get()>
                                    <Show when=move || starts_day.get()>
                                        <DaySeparator ts/>
                                    </Show>
                                    {
                                        let m = m.clone();
                                        move || view! {
                                            <Bubble m=m.get() continued
                                                attr:data-target=is_target.then_some("true")/>
                                        }
                                    }
                                </Show>
                            </div>
                        }
                    })
                }
            />
            <Show when=move || has_newer.get()>
                <button class="load-older thread-newer" data-testid="load-newer" on:click=move |_| load_newer()
                    disabled=move || loading_newer.get()>
                    {move || if loading_newer.get() { "Loading…" } else { "Load newer messages" }}
                </button>
            </Show>
            // Stuck to the bottom of the view, not waiting at the thread's end: scrolling
            // down to it would load the newer pages it jumps past and move it from under
            // the pointer. Inside the scroller, so the wheel over it still scrolls.
            <Show when=move || has_newer.get() || away.get()>
                <leptos_router::components::A href=latest.clone() attr:class="load-older jump-latest"
                    attr:data-testid="jump-latest" on:click=jump>
                    <super::icons::DownIcon/>"Jump to latest"
                </leptos_router::components::A>
            </Show>
        </div>
    }
}

/// How close (px) to either end of the thread scrolling brings in the next page.
const NEAR_END: i32 = 300;

/// With the window full, a page lets go of the other end. Asked for from far away from
/// the end it loads at (the button pressed without scrolling: a keyboard, a screen
/// reader), that other end is what the agent reads: it would go, the view would land at
/// the edge, and that edge's page would load it back, over and over. So the view goes to
/// where the page comes in first.
fn to_loading_end(scroller: NodeRef<html::Div>, ctx: InboxCtx, older: bool) {
    let full = ctx
        .thread
        .thread
        .with_untracked(|t| t.messages.len() + DEFAULT_PAGE as usize > WINDOW);
    let Some(el) = scroller.get_untracked().filter(|_| full) else {
        return;
    };
    let gap = el.scroll_height() - el.scroll_top() - el.client_height();
    if older && el.scroll_top() >= NEAR_END {
        el.set_scroll_top(0);
    } else if !older && gap >= NEAR_END {
        el.set_scroll_top(el.scroll_height());
    }
}

/// A message's entry and how far from the top of the screen its bottom was. The bottom,
/// not the top: a page coming in above can take the day separator off the top of its
/// entry (the day now begins further up), which moved the bubble read by its height.
#[derive(Clone)]
struct Anchor {
    id: String,
    bottom: f64,
}

impl Anchor {
    #[cfg(feature = "hydrate")]
    fn of(id: String) -> Option<Self> {
        let bottom = entry_element(&id)?.get_bounding_client_rect().bottom();
        Some(Self { id, bottom })
    }

    /// Scrolls `scroller` so the entry is where it was (if the thread still holds it).
    #[cfg(feature = "hydrate")]
    fn restore(self, scroller: &web_sys::HtmlDivElement) {
        if let Some(entry) = entry_element(&self.id) {
            let moved = entry.get_bounding_client_rect().bottom() - self.bottom;
            scroller.set_scroll_top(scroller.scroll_top() + moved.round() as i32);
        }
    }

    // The server draws no scrolling.
    #[cfg(not(feature = "hydrate"))]
    fn of(_: String) -> Option<Self> {
        None
    }

    #[cfg(not(feature = "hydrate"))]
    fn restore<T>(self, _: &T) {
        let _ = (self.id, self.bottom);
    }
}

/// Loads the page beyond what the thread holds, `older` or newer, from its cursor; only
/// its part near the view is drawn.
fn page_loader(
    ctx: InboxCtx,
    id: String,
    older: bool,
    near: NearView,
    scroller: NodeRef<html::Div>,
) -> Action<(), ()> {
    Action::new(move |_: &()| {
        let id = id.clone();
        let cursor = ctx.thread.thread.with_untracked(|t| {
            if older {
                t.next.clone()
            } else {
                t.newer.clone()
            }
        });
        super::sendable(async move {
            let mut cursor = cursor;
            // Asked again, once, when the other end's page let this end go while this one
            // was on its way; should that happen twice, the next scroll asks again.
            for _ in 0..2 {
                let Some(from) = cursor.take() else { return };
                let (before, after) = if older {
                    (Some(from.clone()), None)
                } else {
                    (None, Some(from.clone()))
                };
                let Ok(page) =
                    load_messages(id.clone(), before, Some(DEFAULT_PAGE), after, None).await
                else {
                    return;
                };
                let mut entries: Vec<_> = super::thread::entries(&page.messages).collect();
                entries.sort_by_key(|m| m.sort_key());
                near.expect_page(
                    scroller,
                    entries.iter().map(|m| m.id.clone()).collect(),
                    older,
                );
                ctx.thread.change_thread(|t| {
                    cursor = t.apply_page(&id, older, &from, page);
                });
            }
        })
    })
}

/// Replaces the thread's window with its newest page.
fn latest_loader(ctx: InboxCtx, id: String) -> Action<(), ()> {
    Action::new(move |_: &()| {
        let id = id.clone();
        super::sendable(async move {
            if let Ok(page) = load_messages(id.clone(), None, Some(DEFAULT_PAGE), None, None).await
            {
                ctx.thread.change_thread(|t| t.set_page(&id, page));
            }
        })
    })
}

/// The line between two days of a thread.
#[component]
fn DaySeparator(ts: i64) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    view! {
        <div class="day-separator" role="separator" data-testid="day-separator">
            <span>{move || super::time::day_label(ts, ctx.clock.get())}</span>
        </div>
    }
}

/// Scrolls the message `id` to the middle of the thread (marked as it is drawn). Called
/// when it joins the list, it waits for the next frame: a page's bubbles are drawn before
/// they are attached, and a detached one cannot scroll. `tries` frames at most.
fn show_target(id: String, tries: u32) {
    #[cfg(feature = "hydrate")]
    request_animation_frame(move || match entry_element(&id) {
        Some(entry) => {
            let options = web_sys::ScrollIntoViewOptions::new();
            options.set_block(web_sys::ScrollLogicalPosition::Center);
            entry.scroll_into_view_with_scroll_into_view_options(&options);
        }
        None if tries > 1 => show_target(id, tries - 1),
        None => {}
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, tries);
}
