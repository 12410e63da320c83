//! Which of the thread's entries are near the view. Those within [`MARGIN`] of it are
//! drawn; the others are empty boxes as tall as they were when drawn, so the thread keeps
//! its height and the view its place while only what is near the view is in the DOM.
//! The browser's `IntersectionObserver` rather than arithmetic: bubbles differ in height
//! (media, cards, quotes) and the browser already knows where each one is. When the
//! thread's width changes (the window resized, a phone turned), text wraps anew and the
//! boxes' heights are stale: every entry is drawn once more and measured again.
//! A page of history comes in drawn only where it is near the view: the rest of it starts
//! as boxes of the thread's mean entry height, never built (drawing fifty bubbles to empty
//! thirty of them a frame later was most of what a page cost).

use std::collections::HashMap;

use leptos::html;
use leptos::prelude::*;

/// How far above and below the view entries are drawn: a screen and a half each way, so
/// a fast scroll or a page coming in does not show empty space.
#[cfg(feature = "hydrate")]
const MARGIN: &str = "150% 0px";
/// [`MARGIN`] in screens.
#[cfg(feature = "hydrate")]
const MARGIN_SCREENS: f64 = 1.5;

/// One entry's state: `None` while drawn, else the height of its empty box in CSS pixels.
pub(super) type Far = RwSignal<Option<f64>>;

/// The thread's entries and the one observer watching them. All handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub(super) struct NearView {
    entries: StoredValue<HashMap<String, Far>>,
    /// Entries of a page on its way in that start as boxes of this height (see
    /// [`NearView::expect_page`]); taken as each is drawn, cleared at the next frame.
    starting_far: StoredValue<HashMap<String, f64>>,
    #[cfg(feature = "hydrate")]
    observer: StoredValue<Option<send_wrapper::SendWrapper<browser::Observer>>>,
    /// Whether the browser keeps the view in place when what is above it changes height
    /// (CSS scroll anchoring): read once per thread, when first needed, since reading a
    /// computed style may cost a style pass and no browser changes its mind.
    #[cfg(feature = "hydrate")]
    anchoring: StoredValue<Option<bool>>,
    /// Where it has none: the entry read and how far below the thread's top it starts,
    /// as the agent's scrolling left it (see [`NearView::scrolled`]).
    #[cfg(feature = "hydrate")]
    read: StoredValue<Option<(String, f64)>>,
}

impl NearView {
    /// Starts watching once `scroller` (the thread) is in the page; the server and the
    /// hydrating browser draw every entry.
    pub(super) fn new(scroller: NodeRef<html::Div>) -> Self {
        let near = Self {
            entries: StoredValue::new(HashMap::new()),
            starting_far: StoredValue::new(HashMap::new()),
            #[cfg(feature = "hydrate")]
            observer: StoredValue::new(None),
            #[cfg(feature = "hydrate")]
            anchoring: StoredValue::new(None),
            #[cfg(feature = "hydrate")]
            read: StoredValue::new(None),
        };
        #[cfg(feature = "hydrate")]
        Effect::new(move |_| {
            if let Some(root) = scroller.get()
                && near.observer.try_with_value(Option::is_none) == Some(true)
            {
                // Without one (no browser lacks it today) every entry stays drawn.
                let Some(observer) = browser::Observer::new(&root, near) else {
                    return;
                };
                // Entries drawn before the observer began.
                for el in browser::entries_in(&root) {
                    observer.observe(&el);
                }
                near.observer
                    .set_value(Some(send_wrapper::SendWrapper::new(observer)));
            }
        });
        // Text wraps anew when the thread's width changes: its boxes are measured again.
        #[cfg(feature = "hydrate")]
        Effect::new(move |_| {
            if let Some(root) = scroller.get() {
                browser::remeasure_on_width_change(&root, near);
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = scroller;
        near
    }

    /// The thread was scrolled: where the browser has no scroll anchoring, the entry read
    /// is noted, so a change of height above it can be undone (see
    /// `browser::remeasure_on_width_change`).
    pub(super) fn scrolled(self, scroller: NodeRef<html::Div>) {
        #[cfg(feature = "hydrate")]
        if let Some(thread) = scroller.get_untracked()
            && !self.anchors(&thread)
        {
            self.read.set_value(browser::entry_read(&thread));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (self, scroller);
    }

    #[cfg(feature = "hydrate")]
    fn anchors(self, thread: &web_sys::Element) -> bool {
        if let Some(known) = self.anchoring.try_get_value().flatten() {
            return known;
        }
        let anchors = browser::anchors_scroll(thread);
        self.anchoring.try_set_value(Some(anchors));
        anchors
    }

    /// Watches entry `id`, drawn in `el`: returns its state, which the observer sets.
    pub(super) fn watch(self, id: String, el: NodeRef<html::Div>) -> Far {
        let far = RwSignal::new(
            self.starting_far
                .try_update_value(|s| s.remove(&id))
                .flatten(),
        );
        self.entries.try_update_value(|e| {
            e.insert(id.clone(), far);
        });
        #[cfg(feature = "hydrate")]
        Effect::new(move |_| {
            if let Some(el) = el.get() {
                let el: web_sys::Element = el.into();
                // `try_`: the thread may be gone while its last entries are still drawn.
                self.observer.try_with_value(|o| {
                    if let Some(o) = o {
                        o.observe(&el);
                    }
                });
                let el = send_wrapper::SendWrapper::new(el);
                on_cleanup(move || {
                    self.observer.try_with_value(|o| {
                        if let Some(o) = o {
                            o.unobserve(&el);
                        }
                    });
                });
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = el;
        on_cleanup(move || {
            self.entries.try_update_value(|e| {
                // The same id drawn again (a page replaced the view) has its own state.
                if e.get(&id) == Some(&far) {
                    e.remove(&id);
                }
            });
        });
        far
    }

    /// A page is about to come in at one end of the thread (`older`: above its first
    /// entry, else below its last), `ids` its entries oldest first. Those that will be
    /// beyond the drawing margin start as boxes of the mean entry height so far; the part
    /// within it, and half a screen more for estimates that fall short, is drawn. The
    /// observer draws any box that turns out near a frame later, above or below the view,
    /// never in it; the browser's scroll anchoring absorbs the difference in height (where
    /// it has none, the observer scrolls by it).
    pub(super) fn expect_page(self, scroller: NodeRef<html::Div>, ids: Vec<String>, older: bool) {
        #[cfg(feature = "hydrate")]
        {
            let Some(el) = scroller.get_untracked() else {
                return;
            };
            let count = self.entries.try_with_value(HashMap::len).unwrap_or(0);
            let height = f64::from(el.client_height());
            // Nothing measured yet, or the thread hidden (a phone showing its list).
            if count == 0 || height <= 0.0 {
                return;
            }
            let mean = f64::from(el.scroll_height()) / count as f64;
            let gap = if older {
                el.scroll_top()
            } else {
                el.scroll_height() - el.scroll_top() - el.client_height()
            };
            let near_px = (MARGIN_SCREENS + 0.5) * height - f64::from(gap);
            let near = (near_px.max(0.0) / mean).ceil() as usize;
            let Some(far) = ids.len().checked_sub(near).filter(|n| *n > 0) else {
                return;
            };
            // The page's end away from the thread is the far part.
            let far_ids = if older {
                &ids[..far]
            } else {
                &ids[ids.len() - far..]
            };
            self.starting_far.update_value(|s| {
                s.extend(far_ids.iter().map(|id| (id.clone(), mean)));
            });
            // Entries the page did not add after all (held already, or the page dropped).
            request_animation_frame(move || {
                self.starting_far.try_update_value(HashMap::clear);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (self, scroller, ids, older);
    }
}

/// The thread's entry of message `id` (drawn or not, it is where the bubble is).
#[cfg(feature = "hydrate")]
pub(super) fn entry_element(id: &str) -> Option<web_sys::Element> {
    let selector = format!("[data-testid=entry][data-id=\"{}\"]", id.replace('"', ""));
    document().query_selector(&selector).ok().flatten()
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use gloo_timers::callback::Timeout;
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{Element, IntersectionObserver, IntersectionObserverEntry};

    use super::{MARGIN, NearView};

    /// How long the thread's width must hold still before its entries are measured again:
    /// a window dragged wider would otherwise redraw them at every frame.
    const SETTLE_MS: u32 = 200;

    /// The observer and the callback it calls, which must live as long as it does.
    pub(super) struct Observer {
        observer: IntersectionObserver,
        _callback: Closure<dyn Fn(js_sys::Array)>,
    }

    impl Observer {
        pub(super) fn new(root: &Element, near: NearView) -> Option<Self> {
            let thread = root.clone();
            let entries = near.entries;
            let callback = Closure::<dyn Fn(js_sys::Array)>::new(move |seen: js_sys::Array| {
                for seen in seen.iter() {
                    let seen: IntersectionObserverEntry = seen.unchecked_into();
                    let target = seen.target();
                    let Some(far) = target
                        .get_attribute("data-id")
                        .and_then(|id| entries.try_with_value(|e| e.get(&id).copied()).flatten())
                    else {
                        continue;
                    };
                    // `try_`: an entry dropped since the browser queued this report.
                    let Some(was) = far.try_get_untracked() else {
                        continue;
                    };
                    let height = seen.bounding_client_rect().height();
                    let now = if seen.is_intersecting() {
                        None
                    } else if was.is_some() || height <= 0.0 || holds_focus(&target) {
                        // Already an empty box; or not laid out (the thread hidden on a
                        // phone): no height to keep; or the agent is in it (a keyboard).
                        continue;
                    } else {
                        Some(height)
                    };
                    if was != now {
                        far.set(now);
                    }
                    // A box above the view drawn at a height other than its estimate.
                    if let (Some(estimate), None) = (was, now)
                        && !near.anchors(&thread)
                        && seen.bounding_client_rect().bottom()
                            <= thread.get_bounding_client_rect().top()
                    {
                        hold_view(&thread, target, estimate);
                    }
                }
            });
            let init = web_sys::IntersectionObserverInit::new();
            init.set_root(Some(root));
            init.set_root_margin(MARGIN);
            let observer =
                IntersectionObserver::new_with_options(callback.as_ref().unchecked_ref(), &init)
                    .ok()?;
            Some(Self {
                observer,
                _callback: callback,
            })
        }

        pub(super) fn observe(&self, el: &Element) {
            self.observer.observe(el);
        }

        pub(super) fn unobserve(&self, el: &Element) {
            self.observer.unobserve(el);
        }
    }

    impl Drop for Observer {
        fn drop(&mut self) {
            self.observer.disconnect();
        }
    }

    /// Once the thread's width has changed and held still, draws every empty entry again
    /// and has the observer look at each anew: the far ones become boxes of their new
    /// height a frame later. A width of 0 (the thread hidden on a phone) changes nothing.
    /// Where the browser has no scroll anchoring (Safari), what is read is put back where
    /// it was, both when the text wraps anew and when the boxes are drawn again (see
    /// [`NearView::scrolled`]). Stops with the calling owner.
    pub(super) fn remeasure_on_width_change(root: &Element, near: NearView) {
        let width = Cell::new(root.client_width());
        let pending: Rc<RefCell<Option<Timeout>>> = Rc::default();
        let (thread, timer) = (root.clone(), pending.clone());
        crate::ui::observe_size(root, move || {
            let now = thread.client_width();
            if now <= 0 || now == width.get() {
                return;
            }
            width.set(now);
            // Called after layout, before paint: the rewrapped text is not seen moved.
            put_back(&thread, near);
            let thread = thread.clone();
            // Replacing the timer cancels the one before.
            *timer.borrow_mut() = Some(Timeout::new(SETTLE_MS, move || {
                remeasure(&thread, near);
                // The entries are drawn by then, not painted yet.
                request_animation_frame(move || put_back(&thread, near));
            }));
        });
        // A timer still waiting would draw entries and re-arm an observer that are gone.
        let pending = send_wrapper::SendWrapper::new(pending);
        on_cleanup(move || {
            if let Ok(mut timer) = pending.try_borrow_mut() {
                timer.take();
            }
        });
    }

    /// Scrolls the thread so the entry read (where the browser has no scroll anchoring)
    /// is where it was, if the thread still holds it.
    fn put_back(thread: &Element, near: NearView) {
        let Some((id, offset)) = near.read.try_get_value().flatten() else {
            return;
        };
        if let Some(entry) = super::entry_element(&id) {
            let top = thread.get_bounding_client_rect().top();
            let moved = entry.get_bounding_client_rect().top() - top - offset;
            if moved.abs() >= 0.5 {
                thread.scroll_by_with_x_and_y(0.0, moved);
            }
        }
    }

    /// The entry read: the first that starts within the thread's view (the one above it
    /// is on its way out), or the one filling the view; and how far below the view's top
    /// it starts. Looked up where the browser draws it, not by walking every entry.
    pub(super) fn entry_read(thread: &Element) -> Option<(String, f64)> {
        let view = thread.get_bounding_client_rect();
        let x = (view.left() + view.width() / 2.0) as f32;
        // A little lower too: the top line may be the gap between two entries.
        let at_top = [1.0, 16.0, 32.0].into_iter().find_map(|dy| {
            let hit = document().element_from_point(x, (view.top() + dy) as f32)?;
            hit.closest(".entry").ok()?
        })?;
        let entry = match at_top.next_element_sibling() {
            Some(next)
                if at_top.get_bounding_client_rect().top() < view.top()
                    && next.class_list().contains("entry")
                    && next.get_bounding_client_rect().top() < view.bottom() =>
            {
                next
            }
            _ => at_top,
        };
        let offset = entry.get_bounding_client_rect().top() - view.top();
        Some((entry.get_attribute("data-id")?, offset))
    }

    fn remeasure(root: &Element, near: NearView) {
        near.entries.try_with_value(|e| {
            for far in e.values() {
                if far.try_get_untracked().flatten().is_some() {
                    far.set(None);
                }
            }
        });
        near.observer.try_with_value(|o| {
            if let Some(o) = o {
                for el in entries_in(root) {
                    o.unobserve(&el);
                    o.observe(&el);
                }
            }
        });
    }

    /// The thread's entries already in the page.
    pub(super) fn entries_in(root: &Element) -> Vec<Element> {
        let Ok(list) = root.query_selector_all(".entry") else {
            return Vec::new();
        };
        (0..list.length())
            .filter_map(|i| list.item(i)?.dyn_into::<Element>().ok())
            .collect()
    }

    /// Whether the browser keeps the view in place when what is above it changes height
    /// (CSS scroll anchoring). Safari has none: there [`hold_view`] does it.
    pub(super) fn anchors_scroll(thread: &Element) -> bool {
        window()
            .get_computed_style(thread)
            .ok()
            .flatten()
            .and_then(|style| style.get_property_value("overflow-anchor").ok())
            .is_some_and(|v| v == "auto")
    }

    /// Once `entry`, above the view, is drawn (in the next frame, before it is painted),
    /// scrolls the thread by what its height differs from `estimate`, so what the agent
    /// reads stays where it was.
    fn hold_view(thread: &Element, entry: Element, estimate: f64) {
        let thread = thread.clone();
        request_animation_frame(move || {
            let grew = entry.get_bounding_client_rect().height() - estimate;
            if grew.abs() >= 0.5 {
                thread.scroll_by_with_x_and_y(0.0, grew);
            }
        });
    }

    /// Whether the focus is in `el` (emptying it would drop the focus).
    fn holds_focus(el: &Element) -> bool {
        document()
            .active_element()
            .is_some_and(|active| el.contains(Some(&active)))
    }
}
