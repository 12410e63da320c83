//! The browser's copy of the inbox, and how events and pages merge into it.
//!
//! Every merge is keyed by id and guarded by the object's `version`, so applying an event
//! twice, or a page that is older than an event already applied, changes nothing.

use leptos::prelude::*;

use crate::error::ApiError;
use crate::model::{
    Content, Conversation, ConversationList, Cursor, Details, Direction, ErrorInfo, Frame, Media,
    MediaState, Message, MessageKind, MessagePage, MessageStatus, Outgoing, Quote, TemplateSpec,
    UploadInfo,
};

/// Inserts or replaces a conversation, keeping the list ordered by last activity.
pub fn upsert_conversation(list: &mut Vec<Conversation>, c: Conversation) -> bool {
    match list.iter().position(|x| x.id == c.id) {
        Some(i) if list[i].version > c.version => return false,
        Some(i) if list[i] == c => return false,
        Some(i) => list[i] = c,
        None => list.push(c),
    }
    list.sort_by(|a, b| {
        b.last_activity_at
            .cmp(&a.last_activity_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    true
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

/// The open conversation's loaded history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thread {
    pub conversation_id: Option<String>,
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Cursor for the next older page; `None` once the start is reached.
    pub next: Option<String>,
    pub loaded: bool,
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
        if self.loaded {
            // A reload must not forget older pages already loaded.
            let ours = self.next.as_deref().and_then(Cursor::decode);
            let theirs = page.next.as_deref().and_then(Cursor::decode);
            self.next = match (ours, theirs) {
                (Some(a), Some(b)) => Some(a.min(b).encode()),
                _ => None,
            };
            for m in page.messages {
                upsert_message(&mut self.messages, m);
            }
            return;
        }
        self.next = page.next;
        self.loaded = true;
        for m in page.messages {
            upsert_message(&mut self.messages, m);
        }
    }

    /// Adds an older page fetched with `next`.
    pub fn add_older(&mut self, conversation_id: &str, page: MessagePage) {
        if self.conversation_id.as_deref() != Some(conversation_id) {
            return;
        }
        self.next = page.next;
        for m in page.messages {
            upsert_message(&mut self.messages, m);
        }
    }

    pub fn upsert(&mut self, m: Message) -> bool {
        if self.conversation_id.as_deref() != Some(m.conversation_id.as_str()) {
            return false;
        }
        upsert_message(&mut self.messages, m)
    }
}

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

/// Local clock for rendering times: UTC during server rendering, the browser's zone after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    pub offset_minutes: i32,
    pub now_secs: i64,
}

/// Everything the inbox page shares, provided as context. All fields are arena handles,
/// so the struct is `Copy`.
#[derive(Clone, Copy)]
pub struct InboxCtx {
    pub conversations: RwSignal<Vec<Conversation>>,
    pub thread: RwSignal<Thread>,
    pub open: Memo<Option<String>>,
    pub live: RwSignal<LiveState>,
    /// Event seq the first conversation list reflects; the socket resumes from it.
    pub base_seq: RwSignal<Option<i64>>,
    /// Bumped to reload everything through the server functions (after `resync`).
    pub epoch: RwSignal<u64>,
    pub clock: RwSignal<Clock>,
    /// Whether the page is visible; unread counts are only cleared while it is.
    pub visible: RwSignal<bool>,
    /// The conversation list as loaded (and reloaded on `epoch`). Views that show
    /// conversation data await it, so server rendering and hydration agree.
    pub list: Resource<Result<ConversationList, ApiError>>,
    /// The message the agent is replying to, if any; the next send quotes it.
    pub replying: RwSignal<Option<Message>>,
    /// What each local bubble sends, by client id, so its retry sends the same thing.
    outgoing: StoredValue<std::collections::HashMap<String, Outgoing>>,
    /// Sending paused (with why) or resumed (`None`) per inbox, as events told since the
    /// page's server info was loaded; it wins over that.
    pub paused: RwSignal<std::collections::HashMap<String, Option<String>>>,
}

impl InboxCtx {
    pub fn new(open: Memo<Option<String>>) -> Self {
        let epoch = RwSignal::new(0);
        Self {
            conversations: RwSignal::new(Vec::new()),
            thread: RwSignal::new(Thread::default()),
            open,
            live: RwSignal::new(LiveState::Connecting),
            base_seq: RwSignal::new(None),
            epoch,
            clock: RwSignal::new(Clock {
                offset_minutes: 0,
                now_secs: now_secs(),
            }),
            visible: RwSignal::new(true),
            list: Resource::new(move || epoch.get(), |_| crate::api::list_conversations()),
            replying: RwSignal::new(None),
            outgoing: StoredValue::new(Default::default()),
            paused: RwSignal::new(Default::default()),
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
        self.conversations.update(|all| {
            for c in list.conversations {
                upsert_conversation(all, c);
            }
        });
        if self.base_seq.get_untracked().is_none() {
            self.base_seq.set(Some(list.seq));
        }
    }

    /// Applies one event frame; returns false for frames that are not events.
    pub fn apply_event(&self, frame: Frame) -> bool {
        match frame {
            Frame::MessageCreated { data, .. } | Frame::MessageUpdated { data, .. } => {
                self.thread.update(|t| {
                    t.upsert(data);
                });
                true
            }
            Frame::ConversationUpdated { data, .. } => {
                self.conversations.update(|all| {
                    upsert_conversation(all, data);
                });
                true
            }
            Frame::InboxUpdated { data, .. } => {
                self.paused.update(|p| {
                    p.insert(data.id, data.sending_paused);
                });
                true
            }
            Frame::Ready { .. } | Frame::Resync { .. } | Frame::Unknown => false,
        }
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
            direction: Direction::Out,
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
        };
        self.thread.update(|t| {
            t.upsert(local.clone());
        });
        self.deliver(local);
    }

    /// (Re)sends a local bubble with its original client id.
    pub fn deliver(&self, local: Message) {
        let ctx = *self;
        leptos::task::spawn_local(async move {
            let client_id = local.client_id.clone().unwrap_or_default();
            let mut failed = local.clone();
            let Some(outgoing) = ctx.outgoing.with_value(|all| all.get(&client_id).cloned()) else {
                // Only bubbles made on this page can be sent from it.
                failed.status = MessageStatus::Failed;
                failed.error = Some(ErrorInfo {
                    code: 0,
                    title: "Not sent: write it again".into(),
                    detail: None,
                });
                failed.version += 1;
                ctx.thread.update(|t| {
                    t.upsert(failed);
                });
                return;
            };
            failed.status = MessageStatus::Pending;
            failed.error = None;
            ctx.thread.update(|t| {
                t.upsert(failed.clone());
            });
            let mut wait = 500;
            for attempt in 1..=4 {
                let result = crate::api::send_outgoing(
                    local.conversation_id.clone(),
                    client_id.clone(),
                    outgoing.clone(),
                )
                .await;
                match result {
                    Ok(m) => {
                        ctx.outgoing.update_value(|all| {
                            all.remove(&client_id);
                        });
                        ctx.thread.update(|t| {
                            t.upsert(m);
                        });
                        return;
                    }
                    Err(e) if e.is_transient() && attempt < 4 => {
                        crate::ui::sleep_ms(wait).await;
                        wait *= 2;
                    }
                    Err(e) => {
                        failed.status = MessageStatus::Failed;
                        failed.error = Some(local_error(&e));
                        ctx.thread.update(|t| {
                            t.upsert(failed);
                        });
                        return;
                    }
                }
            }
        });
    }

    /// Asks the server to send a failed message again. The answer (and the events that
    /// follow) replace the bubble; a refusal is shown on it.
    pub fn retry(&self, failed: Message) {
        let ctx = *self;
        leptos::task::spawn_local(async move {
            match crate::api::retry_message(failed.id.clone()).await {
                Ok(m) => ctx.thread.update(|t| {
                    t.upsert(m);
                }),
                Err(e) => {
                    let mut shown = failed.clone();
                    shown.error = Some(ErrorInfo {
                        code: failed.error.as_ref().map(|e| e.code).unwrap_or(0),
                        title: format!("Retry refused: {}", e.message),
                        detail: None,
                    });
                    shown.version += 1;
                    ctx.thread.update(|t| {
                        t.upsert(shown);
                    });
                }
            }
        });
    }

    /// Reacts to a customer's message. The reaction appears on the bubble once WhatsApp
    /// accepts it (a `message.updated` event).
    pub fn react(&self, conversation_id: String, message_id: String, emoji: String) {
        leptos::task::spawn_local(async move {
            let outgoing = Outgoing::Reaction {
                message_id,
                emoji: Some(emoji),
            };
            if let Err(e) =
                crate::api::send_outgoing(conversation_id, new_client_id(), outgoing).await
            {
                leptos::logging::warn!("reaction not sent: {}", e.message);
            }
        });
    }

    /// Asks the server to download a message's media again.
    pub fn refetch(&self, message_id: String) {
        leptos::task::spawn_local(async move {
            if let Err(e) = crate::api::refetch_media(message_id).await {
                leptos::logging::warn!("media refetch refused: {}", e.message);
            }
        });
    }
}

fn local_error(e: &ApiError) -> ErrorInfo {
    ErrorInfo {
        code: 0,
        title: if e.status == 0 {
            "Not sent: the server could not be reached".into()
        } else {
            format!("Not sent: {}", e.message)
        },
        detail: None,
    }
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

/// A v4 UUID from the browser's CSPRNG (`getRandomValues` works on plain http too,
/// unlike `randomUUID`).
pub fn new_client_id() -> String {
    #[cfg(feature = "hydrate")]
    let mut b = {
        let mut b = [0u8; 16];
        if let Some(crypto) = web_sys::window().and_then(|w| w.crypto().ok()) {
            let _ = crypto.get_random_values_with_u8_array(&mut b);
        }
        b
    };
    // Only the browser sends; the server build needs no RNG for this.
    #[cfg(not(feature = "hydrate"))]
    let mut b = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        .to_le_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Contact, MessagePreview};

    fn msg(id: &str, ts: i64, seq: i64, version: i64) -> Message {
        Message {
            id: id.into(),
            wamid: None,
            conversation_id: "c1".into(),
            inbox_id: "i".into(),
            direction: Direction::Out,
            kind: MessageKind::Text,
            text: Some(id.into()),
            status: MessageStatus::Pending,
            error: None,
            timestamp: ts,
            created_at: ts * 1000,
            client_id: None,
            seq,
            version,
            reply_to: None,
            details: Details::default(),
        }
    }

    fn conv(id: &str, activity: i64, version: i64) -> Conversation {
        Conversation {
            id: id.into(),
            inbox_id: "i".into(),
            contact: Contact {
                id: "k".into(),
                name: None,
                wa_id: Some("1".into()),
                user_id: None,
            },
            last_message: None::<MessagePreview>,
            unread_count: 0,
            last_activity_at: activity,
            last_inbound_at: None,
            version,
        }
    }

    #[test]
    fn messages_sort_by_timestamp_then_seq_and_ignore_stale_versions() {
        let mut list = Vec::new();
        upsert_message(&mut list, msg("b", 10, 2, 1));
        upsert_message(&mut list, msg("a", 10, 1, 1));
        upsert_message(&mut list, msg("c", 9, 3, 1));
        let ids: Vec<_> = list.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b"]);

        let mut newer = msg("a", 10, 1, 3);
        newer.status = MessageStatus::Read;
        assert!(upsert_message(&mut list, newer.clone()));
        assert!(!upsert_message(&mut list, newer), "same event twice");
        let mut stale = msg("a", 10, 1, 2);
        stale.status = MessageStatus::Sent;
        assert!(!upsert_message(&mut list, stale), "older version");
        assert_eq!(list[1].status, MessageStatus::Read);
    }

    #[test]
    fn the_server_copy_replaces_the_optimistic_bubble() {
        let mut list = Vec::new();
        let mut local = msg("local-x", 100, i64::MAX, 0);
        local.client_id = Some("x".into());
        upsert_message(&mut list, local);
        let mut server = msg("m1", 100, 7, 1);
        server.client_id = Some("x".into());
        upsert_message(&mut list, server);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].id, "m1");
    }

    #[test]
    fn conversations_order_by_activity_and_keep_the_newest_version() {
        let mut list = Vec::new();
        upsert_conversation(&mut list, conv("a", 1, 1));
        upsert_conversation(&mut list, conv("b", 2, 1));
        assert_eq!(list[0].id, "b");
        upsert_conversation(&mut list, conv("a", 3, 2));
        assert_eq!(list[0].id, "a");
        assert!(!upsert_conversation(&mut list, conv("a", 0, 1)));
        assert_eq!(list[0].last_activity_at, 3);
    }

    #[test]
    fn a_reloaded_first_page_keeps_older_pages_already_loaded() {
        let mut t = Thread::default();
        t.set_page(
            "c1",
            MessagePage {
                messages: vec![msg("m3", 30, 3, 1), msg("m2", 20, 2, 1)],
                next: Some(
                    Cursor {
                        timestamp: 20,
                        seq: 2,
                    }
                    .encode(),
                ),
            },
        );
        t.add_older(
            "c1",
            MessagePage {
                messages: vec![msg("m1", 10, 1, 1)],
                next: None,
            },
        );
        t.set_page(
            "c1",
            MessagePage {
                messages: vec![msg("m4", 40, 4, 1), msg("m3", 30, 3, 1)],
                next: Some(
                    Cursor {
                        timestamp: 30,
                        seq: 3,
                    }
                    .encode(),
                ),
            },
        );
        let ids: Vec<_> = t.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["m1", "m2", "m3", "m4"]);
        assert_eq!(t.next, None, "the start was already reached");
    }

    #[test]
    fn an_event_that_beats_the_first_page_is_kept() {
        let mut t = Thread::default();
        t.open("c1");
        assert!(t.upsert(msg("live", 50, 9, 1)));
        t.set_page(
            "c1",
            MessagePage {
                messages: vec![msg("old", 10, 1, 1)],
                next: None,
            },
        );
        let ids: Vec<_> = t.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["old", "live"]);
    }

    #[test]
    fn events_for_another_conversation_do_not_enter_the_thread() {
        let mut t = Thread {
            conversation_id: Some("c2".into()),
            loaded: true,
            ..Default::default()
        };
        assert!(!t.upsert(msg("m", 1, 1, 1)));
    }

    #[test]
    fn client_ids_are_v4_uuids() {
        let id = new_client_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}

/// Uploads a file the agent picked (`POST /uploads`); the answer names the upload a send
/// can then claim. Errors are the server's reason, ready to show.
#[cfg(feature = "hydrate")]
pub async fn upload_file(file: web_sys::File) -> Result<UploadInfo, String> {
    let name = String::from(js_sys::encode_uri_component(&file.name()));
    let request = gloo_net::http::Request::post(&format!("/uploads?filename={name}"))
        .header("content-type", &file.type_())
        .body(wasm_bindgen::JsValue::from(file))
        .map_err(|e| format!("the file could not be read: {e}"))?;
    let response = request
        .send()
        .await
        .map_err(|_| "the server could not be reached".to_string())?;
    let body = response.text().await.unwrap_or_default();
    if response.ok() {
        return serde_json::from_str(&body).map_err(|e| format!("unexpected answer: {e}"));
    }
    Err(serde_json::from_str::<ApiError>(&body)
        .map(|e| e.message)
        .unwrap_or_else(|_| format!("HTTP {}", response.status())))
}
