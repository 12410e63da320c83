//! The conversation list: a virtual list of the loaded conversations (only the rows near
//! the view are in the DOM, however many are loaded), paged in as its end comes near.
//! Written here: no kept virtual-list crate for Leptos 0.8 was found, and with rows of one
//! height it is arithmetic (`rows_in_view`).

use std::ops::Range;

use leptos::html::Nav;
use leptos::prelude::*;
use leptos_router::components::A;

use super::state::InboxCtx;
use super::status_icon::StatusIcon;
use super::thread::ListFilter;
use super::time::list_time;
use crate::model::{Conversation, Direction, View};

/// Every row's height in CSS pixels; set on each row here, so the list's arithmetic and
/// what the browser draws cannot disagree.
pub const ROW_PX: usize = 62;
/// Rows drawn above and below the view, so a fast scroll does not show blank space.
const OVERSCAN: usize = 12;
/// Rows drawn before the list's height is known: by the server and while hydrating (the
/// two must draw the same), then until the browser has measured it. The whole first page,
/// so a page read without the app (or before it) shows what was loaded.
const FIRST_ROWS: usize = super::state::LIST_PAGE as usize;
/// The next page is asked for when the list's end is this close (in pixels).
#[cfg(feature = "hydrate")]
const MORE_WITHIN_PX: i32 = 400;

/// Where the list is scrolled to and how tall it is, in CSS pixels (`None` until measured).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Viewport {
    top: i32,
    height: Option<i32>,
}

/// Which of `len` rows to draw for `view`: those it shows and [`OVERSCAN`] either side.
fn rows_in_view(view: Viewport, len: usize) -> Range<usize> {
    let Some(height) = view.height else {
        return 0..len.min(FIRST_ROWS);
    };
    let first = usize::try_from(view.top.max(0)).unwrap_or(0) / ROW_PX;
    let shown = usize::try_from(height.max(0)).unwrap_or(0).div_ceil(ROW_PX) + 1;
    let start = first.saturating_sub(OVERSCAN).min(len);
    let end = first
        .saturating_add(shown)
        .saturating_add(OVERSCAN)
        .min(len);
    start..end.max(start)
}

/// Where to scroll so that row `at` is wholly in a view of `height` scrolled to `top`, or
/// `None` when it already is, or when the list is not shown (a phone, a thread open).
fn scroll_to_show(at: usize, top: i32, height: i32) -> Option<i32> {
    if height <= 0 {
        return None;
    }
    let row_top = i32::try_from(at.saturating_mul(ROW_PX)).unwrap_or(i32::MAX);
    let row_end = row_top.saturating_add(ROW_PX as i32);
    if row_top < top {
        Some(row_top)
    } else if row_end > top.saturating_add(height) {
        Some(row_end.saturating_sub(height).max(0))
    } else {
        None
    }
}

/// Rows read together, kept for [`keep_reading`].
const READ_ROWS: usize = 8;

/// The rows at the top of the view when the list last changed or was scrolled: what the
/// agent is reading, kept in place when rows come or move above it.
#[derive(Clone, Debug, PartialEq)]
struct Reading {
    /// The first [`READ_ROWS`] rows from the one at the top of the view.
    ids: Vec<String>,
    top: i32,
    filter: ListFilter,
}

impl Reading {
    fn of(ids: &[(String, i64)], top: i32, filter: ListFilter) -> Self {
        let first = usize::try_from(top.max(0)).unwrap_or(0) / ROW_PX;
        let ids = ids
            .iter()
            .skip(first)
            .take(READ_ROWS)
            .map(|(id, _)| id.clone())
            .collect();
        Self { ids, top, filter }
    }
}

/// Where to scroll so the rows `was` read stay where they were after the list changed
/// under them (a new conversation on top, one moved there from below), or `None`: when
/// nothing above them changed, the view was scrolled meanwhile, is at the top (there the
/// agent watches new ones come in), or shows another filter. The rows move by the shift
/// most of them took, so one of them going to the top itself does not take the view.
fn keep_reading(
    was: &Reading,
    top: i32,
    filter: &ListFilter,
    ids: &[(String, i64)],
) -> Option<i32> {
    if top != was.top || top <= 0 || *filter != was.filter {
        return None;
    }
    let first = usize::try_from(top).ok()? / ROW_PX;
    let mut shifts: Vec<(isize, usize)> = Vec::new();
    for (now, (id, _)) in ids.iter().enumerate() {
        if let Some(k) = was.ids.iter().position(|w| w == id) {
            let shift = now as isize - (first + k) as isize;
            match shifts.iter_mut().find(|(s, _)| *s == shift) {
                Some((_, n)) => *n += 1,
                None => shifts.push((shift, 1)),
            }
        }
    }
    // The most common shift; of two as common, the smaller.
    let (shift, _) = shifts
        .into_iter()
        .max_by_key(|&(s, n)| (n, std::cmp::Reverse(s.unsigned_abs())))?;
    (shift != 0).then(|| (top as isize + shift * ROW_PX as isize).max(0) as i32)
}

/// The sidebar's list: scrolling draws the rows it comes to and pages in more near the end.
#[component]
pub fn ConversationList() -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let nav = NodeRef::<Nav>::new();
    let viewport = RwSignal::new(Viewport::default());
    // Measured once the list is in the page (the server cannot: a size observer reports
    // the box when it starts) and whenever its box changes size; scrolling measures it too.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(el) = nav.get() {
            super::observe_size(&el, move || measure(nav, viewport, ctx));
        }
    });
    view! {
        <nav class="conversations" data-testid="conversation-list" aria-label="Conversations"
            node_ref=nav
            on:scroll=move |_| measure(nav, viewport, ctx)>
            <Transition fallback=|| view! { <p class="hint">"Loading conversations…"</p> }>
                {move || Suspend::new(async move {
                    match ctx.conversations_loaded().await {
                        Ok(()) => view! { <ConversationRows nav viewport/> }.into_any(),
                        Err(e) => view! {
                            <p class="error" role="alert">"Could not load conversations: " {e.message}</p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </nav>
    }
}

/// Reads where the list is scrolled to and how tall it is; near its end, asks for the next
/// page.
fn measure(nav: NodeRef<Nav>, viewport: RwSignal<Viewport>, ctx: InboxCtx) {
    #[cfg(feature = "hydrate")]
    if let Some(el) = nav.get_untracked() {
        let seen = Viewport {
            top: el.scroll_top(),
            height: Some(el.client_height()),
        };
        // The rows drawn are a memo of this, so a scroll within one row redraws nothing.
        if viewport.get_untracked() != seen {
            viewport.set(seen);
        }
        if el.scroll_height() - el.scroll_top() - el.client_height() < MORE_WITHIN_PX {
            ctx.load_more();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (nav, viewport, ctx);
}

#[component]
fn ConversationRows(nav: NodeRef<Nav>, viewport: RwSignal<Viewport>) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let shown = Memo::new(move |_| ctx.shown());
    let loaded = Memo::new(move |_| shown.with(Vec::len));
    let rows = Memo::new(move |_| rows_in_view(viewport.get(), loaded.get()));
    // The open conversation is scrolled into view when it changes: `j` and `k` walk past
    // the rows drawn, and a link may open one far down.
    Effect::new(move |_| {
        let open = ctx.open.get()?;
        let at = shown.with_untracked(|all| all.iter().position(|(id, _)| *id == open))?;
        let el = nav.get_untracked()?;
        let to = scroll_to_show(at, el.scroll_top(), el.client_height())?;
        el.set_scroll_top(to);
        Some(())
    });
    // What the agent reads stays in place when rows come or move above it. Done here,
    // not left to the browser's scroll anchoring (off for the list, `overflow-anchor`):
    // that did not hold the view when a row came in above the drawn ones, and Safari has
    // none.
    let reading = StoredValue::new(None::<Reading>);
    Effect::new(move |_| {
        let top = viewport.get().top;
        let filter = ctx.filter.get();
        let moved = reading.with_value(|was| {
            let was = was.as_ref()?;
            shown.with(|all| keep_reading(was, top, &filter, all))
        });
        if let Some(to) = moved
            && let Some(el) = nav.get_untracked()
        {
            // Its scroll event measures the list again, and this runs again to record it.
            el.set_scroll_top(to);
            return;
        }
        reading.set_value(Some(shown.with(|all| Reading::of(all, top, filter))));
    });
    view! {
        <Show
            when=move || !shown.read().is_empty()
            fallback=move || view! {
                <p class="hint">{move || if ctx.filter.read().view == View::Mine {
                    "Nothing assigned to you here. Assign yourself a conversation, or reply to one: it becomes yours."
                } else {
                    "No conversations here yet. When a customer writes, it shows up here."
                }}</p>
            }
        >
            // The rows drawn, between two spacers as tall as the rows above and below them.
            <ul class="conversation-rows" data-testid="conversation-rows"
                data-loaded=loaded>
                <li class="spacer" aria-hidden="true"
                    style:height=move || format!("{}px", rows.get().start * ROW_PX)></li>
                // Keyed by version: a change redraws its one row and moves it.
                <For
                    each=move || {
                        let range = rows.get();
                        shown.with(|all| all.get(range).map(<[_]>::to_vec).unwrap_or_default())
                    }
                    key=|k| k.clone()
                    children=move |(id, _)| untrack(|| ctx.conversation(&id)).map(|c| view! { <ConversationRow c/> })
                />
                <li class="spacer" aria-hidden="true"
                    style:height=move || format!("{}px", loaded.get().saturating_sub(rows.get().end) * ROW_PX)></li>
            </ul>
            <Show when=move || ctx.next.read().is_some()>
                <button type="button" class="load-older" data-testid="load-more-conversations"
                    on:click=move |_| ctx.load_more() disabled=move || ctx.loading_more()>
                    {move || if ctx.loading_more() { "Loading…" } else { "Load older conversations" }}
                </button>
            </Show>
        </Show>
    }
}

#[component]
fn ConversationRow(c: Conversation) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let id = c.id.clone();
    let is_open = Memo::new(move |_| ctx.open.read().as_deref() == Some(id.as_str()));
    let name = c.contact.display_name();
    let initials = initials_of(&name);
    let assignee = c.assignee.as_ref().map(|a| a.name.clone());
    let unread = c.unread_count;
    let preview = c.last_message.clone();
    let activity = c.last_activity_at / 1000;
    view! {
        <li style:height=format!("{ROW_PX}px")>
            <A href=format!("/c/{}", c.id) attr:class="conversation" attr:data-testid="conversation"
                attr:data-id=c.id.clone()>
                <span class="avatar" aria-hidden="true">{initials}</span>
                <span class="summary">
                    <span class="name-row">
                        <span class="name" data-testid="conversation-name">{name}</span>
                        <time class="when">{move || list_time(activity, ctx.clock.get())}</time>
                    </span>
                    <span class="preview-row">
                        {preview.map(|p| view! {
                            <span class="preview" data-testid="conversation-preview">
                                {(p.direction == Direction::Out).then(|| view! { <StatusIcon status=p.status error=None/> })}
                                <span class="preview-text">{p.text}</span>
                            </span>
                        })}
                        {assignee.map(|a| view! {
                            <span class="assignee-chip" data-testid="conversation-assignee" title=format!("Assigned to {a}")>{initials_of(&a)}</span>
                        })}
                        <Show when=move || { unread > 0 && !is_open.get() }>
                            <span class="unread" data-testid="unread" role="img" aria-label=format!("{unread} unread")>
                                {if unread >= crate::model::UNREAD_CAP { "999+".to_string() } else { unread.to_string() }}
                            </span>
                        </Show>
                    </span>
                </span>
            </A>
        </li>
    }
}

fn initials_of(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().find(|ch| ch.is_alphanumeric()))
        .take(2)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(top: i32, height: i32) -> Viewport {
        Viewport {
            top,
            height: Some(height),
        }
    }

    #[test]
    fn before_the_list_is_measured_its_first_rows_are_drawn_the_same_on_server_and_browser() {
        assert_eq!(rows_in_view(Viewport::default(), 5_000), 0..FIRST_ROWS);
        assert_eq!(rows_in_view(Viewport::default(), 7), 0..7);
    }

    #[test]
    fn only_the_rows_in_view_and_a_margin_either_side_are_drawn() {
        let height = 10 * ROW_PX as i32;
        // At the top: no margin above.
        assert_eq!(rows_in_view(at(0, height), 5_000), 0..11 + OVERSCAN);
        // Far down: the row at the top of the view is 2,000.
        let r = rows_in_view(at(2_000 * ROW_PX as i32, height), 5_000);
        assert_eq!(r, 2_000 - OVERSCAN..2_000 + 11 + OVERSCAN);
        // Half a row further still starts there.
        assert_eq!(
            rows_in_view(at(2_000 * ROW_PX as i32 + 30, height), 5_000),
            r
        );
    }

    #[test]
    fn the_open_row_is_scrolled_into_view_only_when_it_is_out_of_it() {
        let row = ROW_PX as i32;
        assert_eq!(scroll_to_show(3, 0, 10 * row), None);
        assert_eq!(
            scroll_to_show(9, 0, 10 * row),
            None,
            "the last row wholly in view"
        );
        assert_eq!(
            scroll_to_show(10, 0, 10 * row),
            Some(row),
            "one below: the view moves a row"
        );
        assert_eq!(
            scroll_to_show(500, 0, 10 * row),
            Some(491 * row),
            "far below: it is the last in view"
        );
        assert_eq!(
            scroll_to_show(4, 20 * row, 10 * row),
            Some(4 * row),
            "above: it is the first in view"
        );
        assert_eq!(
            scroll_to_show(0, 30, 10 * row),
            Some(0),
            "half hidden at the top"
        );
        assert_eq!(
            scroll_to_show(500, 0, 0),
            None,
            "a hidden list keeps its place"
        );
    }

    fn list(n: usize) -> Vec<(String, i64)> {
        (0..n).map(|i| (format!("c{i}"), 0)).collect()
    }

    fn move_to_top(list: &mut Vec<(String, i64)>, id: &str) {
        let at = list.iter().position(|(i, _)| i == id).unwrap();
        let row = list.remove(at);
        list.insert(0, row);
    }

    #[test]
    fn a_row_added_or_moved_above_the_ones_read_keeps_them_in_place() {
        let row = ROW_PX as i32;
        let f = ListFilter::default();
        let mut l = list(100);
        let top = 40 * row + 7;
        let was = Reading::of(&l, top, f.clone());
        assert_eq!(was.ids[0], "c40");
        assert_eq!(keep_reading(&was, top, &f, &l), None, "nothing moved");
        l.insert(0, ("new".into(), 0));
        assert_eq!(
            keep_reading(&was, top, &f, &l),
            Some(41 * row + 7),
            "one row more above them: the view moves down a row, to the same pixel"
        );
        move_to_top(&mut l, "c90");
        assert_eq!(
            keep_reading(&was, top, &f, &l),
            Some(42 * row + 7),
            "one from below"
        );
        move_to_top(&mut l, "c10");
        assert_eq!(
            keep_reading(&was, top, &f, &l),
            Some(42 * row + 7),
            "one from above: no change"
        );
        l.retain(|(id, _)| id != "c5");
        assert_eq!(
            keep_reading(&was, top, &f, &l),
            Some(41 * row + 7),
            "one above left the view"
        );
    }

    #[test]
    fn a_row_read_going_to_the_top_itself_does_not_take_the_view_with_it() {
        let row = ROW_PX as i32;
        let f = ListFilter::default();
        let mut l = list(100);
        let top = 40 * row;
        let was = Reading::of(&l, top, f.clone());
        move_to_top(&mut l, "c40");
        // The others under it moved up a row into its place; the view stays.
        assert_eq!(keep_reading(&was, top, &f, &l), None);
    }

    #[test]
    fn the_view_is_left_alone_at_the_top_after_a_scroll_under_another_filter_or_when_the_rows_left()
    {
        let row = ROW_PX as i32;
        let f = ListFilter::default();
        let mut l = list(100);
        let at_top = Reading::of(&l, 0, f.clone());
        let was = Reading::of(&l, 40 * row, f.clone());
        l.insert(0, ("new".into(), 0));
        assert_eq!(
            keep_reading(&at_top, 0, &f, &l),
            None,
            "at the top, new ones push the list down"
        );
        assert_eq!(
            keep_reading(&was, 50 * row, &f, &l),
            None,
            "the agent scrolled"
        );
        let other = ListFilter {
            label: Some("vip".into()),
            ..f.clone()
        };
        assert_eq!(
            keep_reading(&was, was.top, &other, &l),
            None,
            "another filter"
        );
        l.retain(|(id, _)| !was.ids.contains(id));
        assert_eq!(
            keep_reading(&was, was.top, &f, &l),
            None,
            "the rows left the list"
        );
    }

    #[test]
    fn the_rows_drawn_never_run_past_the_list() {
        let height = 10 * ROW_PX as i32;
        assert_eq!(rows_in_view(at(0, height), 3), 0..3);
        let end = rows_in_view(at(1_000_000, height), 50);
        assert_eq!(
            end,
            50..50,
            "scrolled past what is loaded (the list shrank)"
        );
        assert_eq!(rows_in_view(at(-40, -1), 50), 0..1 + OVERSCAN);
    }
}
