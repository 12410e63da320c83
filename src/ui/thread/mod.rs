//! The open thread and the conversation list as plain data, and how events and pages
//! merge into them.
//!
//! Every merge is keyed by id and guarded by the object's `version`, so applying an event
//! twice, or a page that is older than an event already applied, changes nothing.

use std::collections::HashSet;

use super::time::local_day;
use crate::model::{
    Activity, Conversation, ConversationStatus, Cursor, Direction, Message, MessageKind,
    MessagePage, MessageStatus, View,
};

/// What the conversation list shows: a view, a status (none: every status) and a label.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListFilter {
    pub view: View,
    pub status: Option<ConversationStatus>,
    pub label: Option<String>,
}

impl Default for ListFilter {
    /// Every open conversation, as a team starts its day.
    fn default() -> Self {
        Self {
            view: View::All,
            status: Some(ConversationStatus::Open),
            label: None,
        }
    }
}

impl ListFilter {
    /// Whether the list shows `c` to the user `me`: the same rule the server's filter
    /// applies, so a live change moves a conversation in or out of the view at once.
    pub fn admits(&self, c: &Conversation, me: &str) -> bool {
        let in_view = match self.view {
            View::All => true,
            View::Mine => c.assignee.as_ref().is_some_and(|a| a.id == me),
            View::Unassigned => c.assignee.is_none(),
        };
        in_view
            && self.status.is_none_or(|s| s == c.status)
            && self.label.as_ref().is_none_or(|l| c.labels.contains(l))
    }
}

/// Turns an activity line into the thread entry that shows it among the messages.
pub fn activity_entry(a: &Activity) -> Message {
    Message {
        id: format!("activity-{}", a.id),
        wamid: None,
        conversation_id: a.conversation_id.clone(),
        inbox_id: String::new(),
        direction: Direction::Note,
        kind: MessageKind::System,
        text: Some(a.describe()),
        status: MessageStatus::Received,
        error: None,
        timestamp: a.at / 1000,
        created_at: a.at,
        client_id: None,
        seq: i64::MAX - 1,
        version: 1,
        reply_to: None,
        details: Default::default(),
        sent_by: None,
    }
}

/// How the thread draws each entry beside its neighbours: whether it opens a day (a
/// separator above it) and whether it continues the previous sender's run (drawn close,
/// without a tail of its own).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThreadMarks {
    pub day_starts: HashSet<String>,
    pub continued: HashSet<String>,
}

/// Messages from one sender less than this many seconds apart are drawn as one run.
pub const RUN_SECS: i64 = 5 * 60;

/// The messages drawn as entries of the thread, in their order: all but reactions, which
/// show on the message they react to.
pub fn entries(messages: &[Message]) -> impl DoubleEndedIterator<Item = &Message> {
    messages.iter().filter(|m| !m.is_reaction())
}

/// The marks of a thread held oldest first, in the viewer's zone.
pub fn thread_marks(messages: &[Message], offset_minutes: i32) -> ThreadMarks {
    let mut marks = ThreadMarks::default();
    let mut prev: Option<&Message> = None;
    for m in entries(messages) {
        let day = local_day(m.timestamp, offset_minutes);
        match prev {
            Some(p) if local_day(p.timestamp, offset_minutes) == day => {
                if same_sender(p, m) && m.timestamp - p.timestamp < RUN_SECS {
                    marks.continued.insert(m.id.clone());
                }
            }
            _ => {
                marks.day_starts.insert(m.id.clone());
            }
        }
        prev = Some(m);
    }
    marks
}

/// Two messages one after the other from the same side and the same agent.
fn same_sender(a: &Message, b: &Message) -> bool {
    !is_activity(a)
        && !is_activity(b)
        && a.direction == b.direction
        && a.sent_by.as_ref().map(|u| &u.id) == b.sent_by.as_ref().map(|u| &u.id)
}

/// Whether a thread entry is an activity line rather than a message.
pub fn is_activity(m: &Message) -> bool {
    m.id.starts_with("activity-")
}

/// Inserts or replaces a conversation, keeping the list ordered by last activity.
pub fn upsert_conversation(list: &mut Vec<Conversation>, c: Conversation) -> bool {
    if let Some(i) = list.iter().position(|x| x.id == c.id) {
        if list[i].version > c.version || list[i] == c {
            return false;
        }
        list.remove(i);
    }
    // Into its place, the list kept in order: a page of 50 into 5,000 loaded would
    // otherwise sort all of them 50 times.
    let at = list.partition_point(|x| x.list_order() < c.list_order());
    list.insert(at, c);
    true
}

/// The deeper of two page cursors in the list's order (`None`, the list's end, is deepest).
pub fn deeper_cursor(a: Option<String>, b: Option<String>) -> Option<String> {
    use crate::model::ListCursor;
    match (a, b) {
        (Some(a), Some(b)) => {
            let (at, bt) = (ListCursor::decode(&a), ListCursor::decode(&b));
            let deeper_a = at.as_ref().map(ListCursor::order) >= bt.as_ref().map(ListCursor::order);
            Some(if deeper_a { a } else { b })
        }
        _ => None,
    }
}

/// Inserts or replaces a message, keeping history ordered oldest first. A server copy
/// replaces the optimistic local bubble with the same `client_id`.
pub fn upsert_message(list: &mut Vec<Message>, m: Message) -> bool {
    if let Some(cid) = &m.client_id
        && let Some(i) = list
            .iter()
            .position(|x| x.id != m.id && x.client_id.as_ref() == Some(cid) && is_local(x))
    {
        list.remove(i);
    }
    match list.iter().position(|x| x.id == m.id) {
        Some(i) if list[i].version > m.version => return false,
        Some(i) if list[i] == m => return false,
        Some(i) => {
            list.remove(i);
        }
        None => {}
    }
    let at = list.partition_point(|x| x.sort_key() <= m.sort_key());
    list.insert(at, m);
    true
}

/// A bubble that exists only in this browser so far.
pub fn is_local(m: &Message) -> bool {
    m.id.starts_with("local-")
}

/// The most messages a thread holds, and so draws: paging on past it lets the far end go
/// (its cursor brings it back), so a tab costs the same at any depth of history.
pub const WINDOW: usize = 200;

/// The open conversation's loaded history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thread {
    pub conversation_id: Option<String>,
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Cursor for the next older page; `None` once the start is reached.
    pub next: Option<String>,
    /// Cursor for the next newer page while the loaded part stops short of the newest
    /// message (opened at a search result); `None` when it reaches the newest.
    pub newer: Option<String>,
    pub loaded: bool,
    /// The cursor each end had before the other end's page let it go (older, newer): a
    /// page still on its way from it was asked for, and is asked for again from the new one.
    let_go: [Option<String>; 2],
}

impl Thread {
    /// Switches to `conversation_id` before its history arrives, so live events for it
    /// are kept rather than dropped while the first page loads.
    pub fn open(&mut self, conversation_id: &str) {
        if self.conversation_id.as_deref() != Some(conversation_id) {
            *self = Thread {
                conversation_id: Some(conversation_id.to_string()),
                ..Default::default()
            };
        }
    }

    /// Takes a first page (or a reload of it) for `conversation_id`.
    pub fn set_page(&mut self, conversation_id: &str, page: MessagePage) {
        self.open(conversation_id);
        if self.loaded && self.newer.is_none() && page.newer.is_none() {
            // A reload must not forget older pages already loaded.
            let ours = self.next.as_deref().and_then(Cursor::decode);
            let theirs = page.next.as_deref().and_then(Cursor::decode);
            self.next = match (ours, theirs) {
                (Some(a), Some(b)) => Some(a.min(b).encode()),
                _ => None,
            };
            self.merge(page.messages);
            return;
        }
        // A first page, a page around a message, or the newest page after one: it
        // replaces what is held, which stays only where it touches the page (events that
        // came while it loaded), so no gap opens in the middle.
        let held = std::mem::take(&mut self.messages);
        self.let_go = Default::default();
        let oldest = page.messages.last().map(Message::sort_key);
        let newest = page.messages.first().map(Message::sort_key);
        self.next = page.next;
        self.newer = page.newer;
        self.loaded = true;
        self.merge(page.messages);
        for m in held {
            let key = m.sort_key();
            let above_start = self.next.is_none() || oldest.is_some_and(|o| key >= o);
            let below_end = self.newer.is_none() || newest.is_some_and(|n| key <= n);
            if above_start && below_end {
                upsert_message(&mut self.messages, m);
            }
        }
    }

    /// Adds a page fetched from cursor `from` (`older`: the `next` one, else `newer`),
    /// unless the thread has moved on since it was asked for (replaced by a jump, or the
    /// same page already added): then it would reopen a gap that is closed. Returns the
    /// cursor to ask again from, when the page must be asked for again.
    pub fn apply_page(
        &mut self,
        conversation_id: &str,
        older: bool,
        from: &str,
        page: MessagePage,
    ) -> Option<String> {
        let (current, let_go) = if older {
            (&self.next, &self.let_go[0])
        } else {
            (&self.newer, &self.let_go[1])
        };
        if current.as_deref() != Some(from) {
            return current.clone().filter(|_| let_go.as_deref() == Some(from));
        }
        if older {
            self.add_older(conversation_id, page)
        } else {
            self.add_newer(conversation_id, page)
        }
        None
    }

    /// Adds a newer page fetched with `newer`; past [`WINDOW`], the oldest are let go.
    pub fn add_newer(&mut self, conversation_id: &str, page: MessagePage) {
        if self.conversation_id.as_deref() == Some(conversation_id) {
            self.newer = page.newer;
            self.merge(page.messages);
            if self.messages.len() > WINDOW {
                self.messages.drain(..self.messages.len() - WINDOW);
                let next = self.messages.first().map(|m| m.cursor().encode());
                self.let_go[0] = std::mem::replace(&mut self.next, next);
            }
        }
    }

    /// Adds an older page fetched with `next`; past [`WINDOW`], the newest are let go
    /// (unless a bubble of the agent's is still unsent: it must stay in sight).
    pub fn add_older(&mut self, conversation_id: &str, page: MessagePage) {
        if self.conversation_id.as_deref() == Some(conversation_id) {
            self.next = page.next;
            self.merge(page.messages);
            if self.messages.len() > WINDOW && !self.messages.iter().any(is_local) {
                self.messages.truncate(WINDOW);
                let newer = self.messages.last().map(|m| m.cursor().encode());
                self.let_go[1] = std::mem::replace(&mut self.newer, newer);
            }
        }
    }

    fn merge(&mut self, messages: Vec<Message>) {
        for m in messages {
            upsert_message(&mut self.messages, m);
        }
    }

    pub fn upsert(&mut self, m: Message) -> bool {
        if self.conversation_id.as_deref() != Some(m.conversation_id.as_str()) {
            return false;
        }
        if self.beyond_the_gap(&m) {
            return false;
        }
        upsert_message(&mut self.messages, m)
    }

    /// A new message newer than all that is loaded while newer pages are still to load:
    /// drawn now it would sit across a gap, and the next newer page brings it anyway.
    /// The agent's own unsent bubbles and reactions (drawn on their message) are kept.
    fn beyond_the_gap(&self, m: &Message) -> bool {
        self.newer.is_some()
            && !is_local(m)
            && !m.is_reaction()
            && !self.messages.iter().any(|x| x.id == m.id)
            && self
                .messages
                .last()
                .is_some_and(|last| m.sort_key() > last.sort_key())
    }

    /// The newest stored message's insertion order (0 for none): where a reply begins.
    pub fn last_seq(&self) -> i64 {
        self.messages
            .iter()
            .filter(|m| !is_local(m))
            .map(|m| m.seq)
            .max()
            .unwrap_or(0)
    }

    /// Who else replied to the customer after `after_seq` (a [`Self::last_seq`]), if
    /// anyone: the composer warns an agent whose reply was begun before a colleague's went
    /// out. By insertion order, so no clock is compared with another.
    pub fn replied_since(&self, me: &str, after_seq: i64) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .filter(|m| m.seq > after_seq && m.direction == Direction::Out && !is_local(m))
            .find_map(|m| m.sent_by.as_ref().filter(|by| by.id != me))
            .map(|by| by.name.clone())
    }
}

#[cfg(test)]
mod tests;
