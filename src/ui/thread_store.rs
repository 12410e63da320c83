//! The open thread as the page holds it: one signal per message, so an event re-renders
//! the one bubble it changes and the list only when a message comes or goes.

use std::collections::HashMap;

use leptos::prelude::*;

use super::thread::{Thread, entries, is_local};
use crate::model::Message;

/// The open thread, keyed: the plain [`Thread`] (order, cursor), the ids of its bubbles,
/// and one signal per message, so an event re-renders the one bubble it changes and the
/// list only when a message comes or goes. All handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub struct ThreadStore {
    pub thread: RwSignal<Thread>,
    /// The ids of the bubbles, oldest first (reactions show on their message).
    pub order: RwSignal<Vec<String>>,
    bubbles: StoredValue<HashMap<String, ArcRwSignal<Message>>>,
}

impl ThreadStore {
    pub(super) fn new() -> Self {
        Self {
            thread: RwSignal::new(Thread::default()),
            order: RwSignal::new(Vec::new()),
            bubbles: StoredValue::new(HashMap::new()),
        }
    }

    /// The message behind a bubble, as a signal of its own.
    pub fn bubble(&self, id: &str) -> Option<ArcRwSignal<Message>> {
        self.bubbles.with_value(|b| b.get(id).cloned())
    }

    /// Changes the thread as a whole (opening it, a page of history): every bubble whose
    /// message changed gets its new copy, and the order is set again.
    pub fn change_thread(&self, change: impl FnOnce(&mut Thread)) {
        self.thread.update(change);
        let thread = self.thread.read_untracked();
        let mut order = Vec::with_capacity(thread.messages.len());
        self.bubbles.update_value(|bubbles| {
            let mut kept = HashMap::with_capacity(thread.messages.len());
            for m in entries(&thread.messages) {
                let bubble = match bubbles.remove(&m.id) {
                    Some(b) => {
                        if b.with_untracked(|old| old != m) {
                            b.set(m.clone());
                        }
                        b
                    }
                    None => ArcRwSignal::new(m.clone()),
                };
                order.push(m.id.clone());
                kept.insert(m.id.clone(), bubble);
            }
            *bubbles = kept;
        });
        if self.order.with_untracked(|o| *o != order) {
            self.order.set(order);
        }
    }

    /// Merges one message (an event, a send's answer): only its bubble re-renders, unless
    /// it is new or replaces a local bubble, which changes the order.
    pub fn upsert(&self, m: Message) {
        // `None`: another conversation's message, which the thread does not take.
        let replaces_local = self.thread.with_untracked(|t| {
            (t.conversation_id.as_deref() == Some(m.conversation_id.as_str())).then(|| {
                m.client_id.as_ref().is_some_and(|cid| {
                    t.messages
                        .iter()
                        .any(|x| x.id != m.id && is_local(x) && x.client_id.as_ref() == Some(cid))
                })
            })
        });
        let Some(replaces_local) = replaces_local else {
            return;
        };
        match self.bubble(&m.id) {
            Some(bubble) if !replaces_local => {
                let mut changed = false;
                self.thread
                    .update_untracked(|t| changed = t.upsert(m.clone()));
                if changed {
                    bubble.set(m);
                }
            }
            _ => self.change_thread(|t| {
                t.upsert(m);
            }),
        }
    }
}
