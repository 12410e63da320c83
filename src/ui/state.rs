//! The inbox page's shared state: the conversation list, the open thread with one
//! signal per message (so an event re-renders the one bubble it changes), the live
//! connection's state, and the actions that send.

use std::collections::HashMap;

use leptos::prelude::*;

use super::sendable;
use super::sending::{deliver, react, refetch, retry};
pub use super::thread::{
    ListFilter, Thread, activity_entry, deeper_cursor, is_activity, is_local, upsert_conversation,
    upsert_message,
};
pub use super::thread_store::ThreadStore;
use crate::error::ApiError;
use crate::model::{
    Content, Conversation, ConversationList, ConversationStatus, Details, Direction, Frame, Media,
    MediaState, Message, MessageKind, MessageStatus, Outgoing, Quote, TemplateSpec, UploadInfo,
};

/// How many conversations the list loads at a time.
pub(super) const LIST_PAGE: u32 = 50;

/// The socket's state, as the header shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveState {
    Connecting,
    CatchingUp(u32),
    Live,
    Reconnecting { attempt: u32, retry_in_ms: u32 },
}

impl LiveState {
    pub fn label(&self) -> String {
        match self {
            Self::Connecting => "Connecting…".into(),
            Self::CatchingUp(n) => format!("Catching up ({n})"),
            Self::Live => "Live".into(),
            Self::Reconnecting { retry_in_ms, .. } => {
                format!("Reconnecting in {}s…", retry_in_ms.div_ceil(1000))
            }
        }
    }

    pub fn key(&self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::CatchingUp(_) => "catching-up",
            Self::Live => "live",
            Self::Reconnecting { .. } => "reconnecting",
        }
    }
}

pub use super::time::Clock;

/// Everything the inbox page shares, provided as context. All fields are arena handles,
/// so the struct is `Copy`.
#[derive(Clone, Copy)]
pub struct InboxCtx {
    pub conversations: RwSignal<Vec<Conversation>>,
    pub thread: ThreadStore,
    pub open: Memo<Option<String>>,
    pub live: RwSignal<LiveState>,
    /// Event seq the first conversation list reflects; the socket resumes from it.
    pub base_seq: RwSignal<Option<i64>>,
    /// Bumped to reload everything through the server functions (after `resync`).
    pub epoch: RwSignal<u64>,
    pub clock: RwSignal<Clock>,
    /// Whether the page is visible; unread counts are only cleared while it is.
    pub visible: RwSignal<bool>,
    /// The conversation list as loaded (and reloaded on `epoch` and when the filter
    /// changes). Views that show conversation data await it, so server rendering and
    /// hydration agree.
    pub list: Resource<Result<ConversationList, ApiError>>,
    /// What the list shows; every conversation held is filtered by it, so live changes
    /// move conversations in and out of the view.
    pub filter: RwSignal<ListFilter>,
    /// The signed-in user's id (for "Mine").
    pub me: RwSignal<String>,
    /// The cursor of the list's next page under the current filter.
    pub next: RwSignal<Option<String>>,
    /// How far the list's pages reached under the current filter: the cursor of the
    /// deepest page loaded (`None`: the list's end). A resync reloads the first page and
    /// moves `next` back, but what was loaded stays shown.
    reach: RwSignal<Option<String>>,
    /// The epoch and filter whose first page set `next`: the views that await the list
    /// apply it again, and must not move `next` back to the second page.
    listed: StoredValue<Option<(u64, ListFilter)>>,
    more: Action<(ListFilter, String), ()>,
    /// Why the last assignment, status or label change was refused.
    pub workflow_error: RwSignal<Option<String>>,
    changing: Action<WorkflowCall, ()>,
    /// The message the agent is replying to, if any; the next send quotes it.
    pub replying: RwSignal<Option<Message>>,
    /// What each local bubble sends, by client id, so its retry sends the same thing.
    outgoing: StoredValue<HashMap<String, Outgoing>>,
    /// Sending paused (with why) or resumed (`None`) per inbox, as events told since the
    /// page's server info was loaded; it wins over that.
    pub paused: RwSignal<std::collections::HashMap<String, Option<String>>>,
    /// Who of the team is here and who is writing where.
    pub team: super::team::TeamCtx,
    /// What to tell the agent of, and how (notifications, sound, title count).
    pub notify: super::notify::NotifyCtx,
    /// Sends a local bubble (and sends it again after a failure), see [`Self::deliver`].
    delivering: Action<Message, ()>,
    retrying: Action<Message, ()>,
    reacting: Action<(String, String, String), ()>,
    refetching: Action<String, ()>,
}

impl InboxCtx {
    pub fn new(open: Memo<Option<String>>) -> Self {
        let epoch = RwSignal::new(0);
        let filter = RwSignal::new(ListFilter::default());
        let conversations = RwSignal::new(Vec::new());
        let next = RwSignal::new(None);
        let reach = RwSignal::new(None);
        let workflow_error = RwSignal::new(None);
        let thread = ThreadStore::new();
        let outgoing = StoredValue::new(HashMap::new());
        Self {
            conversations,
            thread,
            open,
            live: RwSignal::new(LiveState::Connecting),
            base_seq: RwSignal::new(None),
            epoch,
            clock: RwSignal::new(Clock {
                offset_minutes: 0,
                now_secs: now_secs(),
            }),
            visible: RwSignal::new(true),
            list: Resource::new(
                move || (epoch.get(), filter.get()),
                |(_, f)| list_page(f, None),
            ),
            filter,
            me: RwSignal::new(String::new()),
            next,
            reach,
            listed: StoredValue::new(None),
            more: Action::new(move |(f, before): &(ListFilter, String)| {
                let (f, before) = (f.clone(), before.clone());
                sendable(async move {
                    match list_page(f.clone(), Some(before)).await {
                        Ok(list) if filter.get_untracked() == f => {
                            next.set(list.next.clone());
                            reach.update(|r| *r = deeper_cursor(r.take(), list.next.clone()));
                            merge_conversations(conversations, list.conversations);
                        }
                        Ok(_) => {}
                        Err(e) => leptos::logging::warn!("more conversations: {}", e.message),
                    }
                })
            }),
            workflow_error,
            changing: Action::new(move |call: &WorkflowCall| {
                sendable(change(conversations, workflow_error, call.clone()))
            }),
            replying: RwSignal::new(None),
            outgoing,
            paused: RwSignal::new(Default::default()),
            team: super::team::TeamCtx::new(),
            notify: super::notify::NotifyCtx::new(),
            delivering: Action::new(move |local: &Message| {
                sendable(deliver(thread, outgoing, local.clone()))
            }),
            retrying: Action::new(move |failed: &Message| sendable(retry(thread, failed.clone()))),
            reacting: Action::new(
                |(conversation_id, message_id, emoji): &(String, String, String)| {
                    sendable(react(
                        conversation_id.clone(),
                        message_id.clone(),
                        emoji.clone(),
                    ))
                },
            ),
            refetching: Action::new(|message_id: &String| sendable(refetch(message_id.clone()))),
        }
    }

    /// Waits for the conversation list and merges it in (idempotent, so every view that
    /// needs it may call this).
    pub async fn conversations_loaded(&self) -> Result<(), ApiError> {
        let list = self.list.await?;
        self.apply_list(list);
        Ok(())
    }

    pub fn apply_list(&self, list: ConversationList) {
        let key = Some((self.epoch.get_untracked(), self.filter.get_untracked()));
        if self.listed.get_value() != key {
            // The same filter's first page again: a resync (or a reload after one).
            let reloaded = self
                .listed
                .with_value(|was| was.as_ref().map(|(_, f)| f) == key.as_ref().map(|(_, f)| f));
            self.listed.set_value(key);
            self.next.set(list.next.clone());
            self.reach.update(|r| {
                *r = if reloaded {
                    deeper_cursor(r.take(), list.next.clone())
                } else {
                    list.next.clone()
                }
            });
        }
        merge_conversations(self.conversations, list.conversations);
        if self.base_seq.get_untracked().is_none() {
            self.base_seq.set(Some(list.seq));
        }
    }

    /// Applies one event frame; returns false for frames that are not events.
    pub fn apply_event(&self, frame: Frame) -> bool {
        match frame {
            Frame::MessageCreated { data, .. } | Frame::MessageUpdated { data, .. } => {
                self.thread.upsert(data);
                true
            }
            Frame::ConversationUpdated { data, .. } => {
                // Its newest assignment or status change is a line in its thread.
                if let Some(line) = &data.last_change {
                    self.thread.upsert(activity_entry(line));
                }
                self.keep(data);
                true
            }
            Frame::InboxUpdated { data, .. } => {
                self.paused.update(|p| {
                    p.insert(data.id, data.sending_paused);
                });
                true
            }
            Frame::Ready { .. }
            | Frame::Resync { .. }
            | Frame::PresenceUpdated { .. }
            | Frame::AgentTyping { .. }
            | Frame::Unknown => false,
        }
    }

    /// The conversations the list shows now, newest activity first, as (id, version): the
    /// list's keys. Only keys, so an event costs a copy of ids, not of every loaded
    /// conversation (and their comparison); a row reads its conversation by id.
    ///
    /// Reads with `try_`: on the server a `Suspense` may walk its children once more after
    /// the page's state was disposed at the end of the stream; that late walk must find
    /// nothing rather than panic (a panic there stalled the render).
    pub fn shown(&self) -> Vec<(String, i64)> {
        let Some(filter) = self.filter.try_get() else {
            return Vec::new();
        };
        // Only "Mine" depends on who is signed in (set once the viewer is known).
        let me = if filter.view == crate::model::View::Mine {
            self.me.try_get().unwrap_or_default()
        } else {
            String::new()
        };
        // One fetched by itself (a link, a search result) or moved by an event but still
        // older than the pages loaded joins the list when its page comes, not below them.
        let edge = self.reach.try_get().flatten();
        let edge = edge.as_deref().and_then(crate::model::ListCursor::decode);
        self.conversations
            .try_with(|all| {
                all.iter()
                    .filter(|c| filter.admits(c, &me))
                    .filter(|c| edge.as_ref().is_none_or(|e| e.holds(c)))
                    .map(|c| (c.id.clone(), c.version))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The loaded conversation `id` as it is now (read with `try_`, as [`Self::shown`]).
    pub fn conversation(&self, id: &str) -> Option<Conversation> {
        self.conversations
            .try_with(|all| all.iter().find(|c| c.id == id).cloned())
            .flatten()
    }

    /// Puts `c` in the loaded list, in its place by activity (unless an older copy).
    pub fn keep(&self, c: Conversation) {
        merge_conversations(self.conversations, [c]);
    }

    /// Loads the list's next page (infinite scroll); a no-op at the end or while loading.
    pub fn load_more(&self) {
        if self.more.pending().get_untracked() {
            return;
        }
        if let Some(before) = self.next.get_untracked() {
            self.more.dispatch((self.filter.get_untracked(), before));
        }
    }

    pub fn loading_more(&self) -> bool {
        self.more.pending().get()
    }

    /// Assigns, changes the status or the labels of a conversation; the answer (and the
    /// event after it) updates the list, a refusal shows in `workflow_error`.
    pub fn change(&self, call: WorkflowCall) {
        self.workflow_error.set(None);
        self.changing.dispatch(call);
    }

    pub fn changing(&self) -> bool {
        self.changing.pending().get()
    }

    /// Writes a private note: shown at once, then stored (never sent to WhatsApp).
    pub fn add_note(&self, conversation_id: String, text: String) {
        let outgoing = Outgoing::Text {
            body: text.clone(),
            reply_to: None,
        };
        self.show_and_deliver_as(
            Direction::Note,
            conversation_id,
            MessageKind::Note,
            text,
            Details::default(),
            outgoing,
        );
    }

    /// Reloads the list and the open history (the socket said `resync`).
    pub fn reload(&self) {
        // The server info reloads with the epoch, so what events said is superseded.
        self.paused.update(|p| p.clear());
        self.epoch.update(|e| *e += 1);
    }

    /// Shows the reply at once, then sends it (retrying transient failures with the same
    /// client id, which the server deduplicates). A reply in progress (see `replying`)
    /// makes it a reply to that message.
    pub fn send(&self, conversation_id: String, text: String) {
        let reply = self.take_reply(&conversation_id);
        let outgoing = Outgoing::Text {
            body: text.clone(),
            reply_to: reply.as_ref().map(|m| m.id.clone()),
        };
        let details = Details {
            quote: reply.as_ref().map(Quote::of),
            ..Details::default()
        };
        self.show_and_deliver(conversation_id, MessageKind::Text, text, details, outgoing);
    }

    /// Sends a template the same way (outside the 24-hour window).
    /// `text` is what the customer will read, shown until the server's copy arrives.
    pub fn send_template(&self, conversation_id: String, spec: TemplateSpec, text: String) {
        let outgoing = Outgoing::Template(spec.clone());
        let details = Details {
            content: Some(Content::Template(spec)),
            ..Details::default()
        };
        self.show_and_deliver(
            conversation_id,
            MessageKind::Template,
            text,
            details,
            outgoing,
        );
    }

    /// Sends reply buttons, a list or media by link; other kinds have their own methods.
    pub fn send_structured(&self, conversation_id: String, outgoing: Outgoing) {
        let (kind, text, details) = match &outgoing {
            Outgoing::Interactive(spec) => (
                MessageKind::Interactive,
                spec.body.clone(),
                Details {
                    content: Some(Content::Interactive(spec.clone())),
                    ..Details::default()
                },
            ),
            Outgoing::Media {
                kind,
                link,
                caption,
                filename,
            } => (
                *kind,
                caption.clone().unwrap_or_default(),
                Details {
                    media: Some(Media {
                        link: Some(link.clone()),
                        filename: filename.clone(),
                        state: MediaState::Stored,
                        ..Media::default()
                    }),
                    ..Details::default()
                },
            ),
            _ => return,
        };
        self.show_and_deliver(conversation_id, kind, text, details, outgoing);
    }

    /// Sends an uploaded file, with `caption` where WhatsApp allows one (not on audio or
    /// stickers). Returns whether the caption was used.
    pub fn send_upload(&self, conversation_id: String, info: UploadInfo, caption: String) -> bool {
        let reply = self.take_reply(&conversation_id);
        let captioned = !matches!(info.kind, MessageKind::Audio | MessageKind::Sticker);
        let caption = Some(caption.trim().to_string()).filter(|c| captioned && !c.is_empty());
        let outgoing = Outgoing::Upload {
            upload: info.upload,
            caption: caption.clone(),
            reply_to: reply.as_ref().map(|m| m.id.clone()),
        };
        let details = Details {
            quote: reply.as_ref().map(Quote::of),
            media: Some(Media {
                mime_type: Some(info.mime_type),
                filename: info.filename,
                size: Some(info.size),
                state: MediaState::Pending,
                ..Media::default()
            }),
            ..Details::default()
        };
        let used = caption.is_some();
        let text = caption.unwrap_or_default();
        self.show_and_deliver(conversation_id, info.kind, text, details, outgoing);
        used
    }

    /// The reply in progress, if it is in this conversation; it is used up either way.
    fn take_reply(&self, conversation_id: &str) -> Option<Message> {
        let reply = self
            .replying
            .get_untracked()
            .filter(|m| m.conversation_id == conversation_id);
        self.replying.set(None);
        reply
    }

    /// Shows a local bubble at once, then sends it (see `deliver`).
    fn show_and_deliver(
        &self,
        conversation_id: String,
        kind: MessageKind,
        text: String,
        details: Details,
        outgoing: Outgoing,
    ) {
        self.show_and_deliver_as(
            Direction::Out,
            conversation_id,
            kind,
            text,
            details,
            outgoing,
        );
    }

    fn show_and_deliver_as(
        &self,
        direction: Direction,
        conversation_id: String,
        kind: MessageKind,
        text: String,
        details: Details,
        outgoing: Outgoing,
    ) {
        let client_id = new_client_id();
        self.outgoing.update_value(|all| {
            all.insert(client_id.clone(), outgoing);
        });
        let now = now_secs();
        let local = Message {
            id: format!("local-{client_id}"),
            wamid: None,
            conversation_id,
            inbox_id: String::new(),
            direction,
            kind,
            text: Some(text),
            status: MessageStatus::Pending,
            error: None,
            timestamp: now,
            created_at: now * 1000,
            client_id: Some(client_id),
            seq: i64::MAX,
            version: 0,
            reply_to: None,
            details,
            sent_by: None,
        };
        self.thread.upsert(local.clone());
        self.deliver(local);
    }

    /// (Re)sends a local bubble with its original client id.
    pub fn deliver(&self, local: Message) {
        self.delivering.dispatch(local);
    }

    /// Asks the server to send a failed message again. The answer (and the events that
    /// follow) replace the bubble; a refusal is shown on it.
    pub fn retry(&self, failed: Message) {
        self.retrying.dispatch(failed);
    }

    /// Reacts to a customer's message. The reaction appears on the bubble once WhatsApp
    /// accepts it (a `message.updated` event).
    pub fn react(&self, conversation_id: String, message_id: String, emoji: String) {
        self.reacting.dispatch((conversation_id, message_id, emoji));
    }

    /// Asks the server to download a message's media again.
    pub fn refetch(&self, message_id: String) {
        self.refetching.dispatch(message_id);
    }
}

/// A change to a conversation's owner, status or labels.
#[derive(Clone, Debug)]
pub enum WorkflowCall {
    Assign(String, Option<String>),
    Status(String, ConversationStatus, Option<i64>),
    Labels(String, Vec<String>),
}

async fn change(
    conversations: RwSignal<Vec<Conversation>>,
    problem: RwSignal<Option<String>>,
    call: WorkflowCall,
) {
    let answer = match call {
        WorkflowCall::Assign(id, to) => crate::api::assign_conversation(id, to).await,
        WorkflowCall::Status(id, status, until) => {
            crate::api::set_conversation_status(id, status.as_str().to_string(), until).await
        }
        WorkflowCall::Labels(id, labels) => crate::api::set_conversation_labels(id, labels).await,
    };
    match answer {
        Ok(c) => merge_conversations(conversations, [c]),
        Err(e) => problem.set(Some(e.message)),
    }
}

/// Puts each of `cs` in the loaded list, in its place by activity (unless an older copy);
/// the list's readers hear of it only if one changed it (a list asked for again by every
/// view that needs it, an event already applied).
fn merge_conversations(
    list: RwSignal<Vec<Conversation>>,
    cs: impl IntoIterator<Item = Conversation>,
) {
    list.maybe_update(|all| {
        let mut changed = false;
        for c in cs {
            changed |= upsert_conversation(all, c);
        }
        changed
    });
}

fn list_page(
    f: ListFilter,
    before: Option<String>,
) -> impl std::future::Future<Output = Result<ConversationList, ApiError>> + Send {
    crate::api::list_conversations(
        Some(f.view),
        f.status.map(|s| vec![s.as_str().to_string()]),
        None,
        f.label,
        None,
        before,
        Some(LIST_PAGE),
    )
}

pub fn now_secs() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        (js_sys::Date::now() / 1000.0) as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A v4 UUID for a send's `client_id` (in the browser, from its CSPRNG).
pub fn new_client_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_v4_uuids() {
        let id = new_client_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
