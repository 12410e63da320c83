//! Durable state behind one trait, so the embedded SQLite store and MongoDB can be swapped
//! without touching callers.
//!
//! Every write is one atomic operation that also appends its events to the event log, so
//! a change is never visible without its event or the other way round. The log's sequence
//! numbers come from the database and strictly increase across restarts.

mod audit;
pub mod mongo;
mod recent;
mod records;
mod rules;
pub mod sqlite;
mod webhooks;
mod workflow;

pub use audit::*;
pub use records::*;
pub use rules::*;
pub use webhooks::*;
pub use workflow::*;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::model::{
    Activity, ApiTokenInfo, CannedResponse, ContactEntry, Conversation, Cursor, ErrorInfo, Message,
    MessagePage, User, ViewCounts,
};

/// Storage for the inbox, in eight parts by concern. Both backends implement exactly these
/// semantics and are checked by the same conformance suite; callers hold a [`DynStore`]
/// and call any part's methods on it.
pub trait Store:
    AccountStore
    + MessageStore
    + HistoryStore
    + WorkflowStore
    + JobStore
    + WebhookStore
    + AuditStore
    + EventLog
{
}

impl<T> Store for T where
    T: AccountStore
        + MessageStore
        + HistoryStore
        + WorkflowStore
        + JobStore
        + WebhookStore
        + AuditStore
        + EventLog
{
}

/// Agents, their sessions and API tokens, inboxes and who may work them, and small settings.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Creates a user; the email must be new (`Conflict` otherwise).
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn user(&self, id: &str) -> StoreResult<Option<User>>;

    /// The user with this (normalised) email, with their password hash.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<(User, String)>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    async fn update_user(&self, id: &str, update: UserUpdate) -> StoreResult<User>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> StoreResult<()>;

    /// The user of a live (unexpired) session.
    async fn session_user(&self, token_hash: &str) -> StoreResult<Option<User>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<()>;
    async fn create_api_token(&self, token: NewApiToken) -> StoreResult<ApiTokenInfo>;

    /// The token and its user, if it exists and is not revoked; records its use.
    async fn api_token_user(&self, token_hash: &str) -> StoreResult<Option<(ApiTokenInfo, User)>>;
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenInfo>>;
    async fn revoke_api_token(&self, id: &str) -> StoreResult<ApiTokenInfo>;
    async fn list_inboxes(&self) -> StoreResult<Vec<Inbox>>;

    /// Creates an inbox; the phone number id must be new (`Conflict` otherwise).
    async fn create_inbox(&self, inbox: NewInbox) -> StoreResult<Inbox>;
    async fn update_inbox(&self, id: &str, update: InboxUpdate) -> StoreResult<Inbox>;
    async fn set_member(&self, inbox_id: &str, user_id: &str, member: bool) -> StoreResult<()>;
    async fn inbox_members(&self, inbox_id: &str) -> StoreResult<Vec<String>>;
    async fn user_inboxes(&self, user_id: &str) -> StoreResult<Vec<String>>;
    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// [`setting`](Self::setting) as this instance read it within the last second, for
    /// reads made on every message: a change made through this instance is seen at once,
    /// one made by another instance within a second.
    async fn recent_setting(&self, key: &str) -> StoreResult<Option<String>>;
    async fn set_setting(&self, key: &str, value: Option<&str>) -> StoreResult<()>;

    /// Pauses an inbox's sending with the reason shown to agents, or resumes it (`None`).
    /// A change is an `inbox.updated` event, so every open inbox page sees it at once;
    /// returns whether anything changed.
    async fn set_sending_paused(&self, inbox_id: &str, reason: Option<&str>) -> StoreResult<bool>;
    async fn ensure_inbox(
        &self,
        phone_number_id: &str,
        display_phone_number: Option<&str>,
    ) -> StoreResult<Inbox>;
    async fn inbox_by_phone_number_id(&self, phone_number_id: &str) -> StoreResult<Option<Inbox>>;
    async fn inbox(&self, id: &str) -> StoreResult<Option<Inbox>>;
}

/// The writes that make and change messages: from webhooks and from agents.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Stores a customer message once per (inbox, wamid), creating the contact and the
    /// conversation as needed, and counts it as unread.
    async fn record_inbound(&self, msg: NewInbound) -> StoreResult<InboundOutcome>;

    /// Stores a receipt once and applies it, never lowering the shown status.
    async fn record_status(&self, report: StatusReport) -> StoreResult<StatusOutcome>;

    /// Creates a pending outbound message, or returns the one already created with the
    /// same client id (`false`), so a repeated send never creates a second message.
    /// Stores a new outbound message together with its send job ([`first_send_job`]).
    async fn create_outbound(&self, msg: NewOutbound) -> StoreResult<(Message, bool)>;

    /// Records the wamid Meta assigned, then applies receipts that arrived before it.
    async fn mark_accepted(&self, message_id: &str, wamid: &str) -> StoreResult<Message>;

    /// Records a send Meta refused.
    async fn mark_send_failed(&self, message_id: &str, error: &ErrorInfo) -> StoreResult<Message>;

    /// Starts an agent's retry of a failed message: forgets its wamid, resets its delivery
    /// state to pending (keeping the old error to show until a new status arrives) and
    /// counts the attempt. `Conflict` unless the message is outbound and shows as failed.
    /// (With a fresh send job, like [`MessageStore::create_outbound`].)
    async fn retry_outbound(&self, message_id: &str) -> StoreResult<Message>;

    /// Applies `edit` to the message's text and details and publishes the change.
    /// `None` if the edit changed nothing.
    async fn edit_message(
        &self,
        message_id: &str,
        edit: MessageEdit,
    ) -> StoreResult<Option<Message>>;

    /// Moves a contact to a new phone number (the customer changed numbers). Their
    /// conversation and history stay. Returns whether a contact was found.
    async fn change_contact_phone(
        &self,
        inbox_id: &str,
        old_wa_id: &str,
        new_wa_id: &str,
    ) -> StoreResult<bool>;

    /// Clears the unread count.
    async fn mark_conversation_read(&self, conversation_id: &str) -> StoreResult<Conversation>;
}

/// Raw webhook bodies kept before processing, and the reads of conversations and history.
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Keeps a webhook body keyed by its SHA-256 and tells whether it was seen before.
    async fn save_webhook(&self, id: &str, body: &[u8]) -> StoreResult<WebhookState>;

    /// Marks a webhook processed; `error` records why a body could not be used.
    async fn finish_webhook(&self, id: &str, error: Option<&str>) -> StoreResult<()>;

    /// Bodies saved but never finished (crash recovery, or waiting for an inbox to be
    /// created for a number they name), by id, after the id `after`.
    async fn unfinished_webhooks(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<StoredWebhook>>;

    /// Drops webhook bodies and receipts received before `before` (Unix ms); returns how
    /// many of each went.
    async fn trim_received(&self, before: i64) -> StoreResult<(u64, u64)>;

    /// Conversations of the inboxes in `scope` that pass `filter`, by last activity,
    /// newest first (ties by id), at most `limit`.
    async fn list_conversations(
        &self,
        scope: &Scope,
        filter: &ConversationFilter,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>>;
    /// How many conversations of the inboxes in `scope` pass `filter` in each view (the
    /// filter's own view and cursor are not used; Mine is `filter.user_id`'s).
    async fn count_conversations(
        &self,
        scope: &Scope,
        filter: &ConversationFilter,
    ) -> StoreResult<ViewCounts>;
    async fn conversation(&self, id: &str) -> StoreResult<Option<Conversation>>;
    async fn message(&self, id: &str) -> StoreResult<Option<Message>>;
    async fn message_by_wamid(&self, inbox_id: &str, wamid: &str) -> StoreResult<Option<Message>>;

    /// Messages (replies and reactions) whose `reply_to` is `wamid`, oldest first, at most
    /// `limit`.
    async fn replies_to(
        &self,
        inbox_id: &str,
        wamid: &str,
        limit: usize,
    ) -> StoreResult<Vec<Message>>;

    /// A page of history, newest first, strictly older than `before`.
    async fn load_messages(
        &self,
        conversation_id: &str,
        before: Option<Cursor>,
        limit: usize,
    ) -> StoreResult<MessagePage>;

    /// A page of history strictly newer than `after`: the `limit` oldest such messages,
    /// newest first, with `newer` set while there are more.
    async fn load_newer_messages(
        &self,
        conversation_id: &str,
        after: Cursor,
        limit: usize,
    ) -> StoreResult<MessagePage>;

    /// The history around `at`, one of the conversation's messages: up to half of `limit`
    /// newer messages, then `at` and older ones, newest first, with both cursors.
    async fn load_messages_around(&self, at: &Message, limit: usize) -> StoreResult<MessagePage> {
        let half = (limit / 2).max(1);
        let newer = self
            .load_newer_messages(&at.conversation_id, at.cursor(), half)
            .await?;
        let rest = limit.saturating_sub(newer.messages.len()).max(1);
        let older = self
            .load_messages(&at.conversation_id, Some(at.cursor_through()), rest)
            .await?;
        Ok(MessagePage::joined(newer, older))
    }
}

/// The team's work on conversations and contacts. The rules live in [`workflow`]; a
/// backend keeps only its reads and writes.
#[async_trait]
pub trait WorkflowStore: Send + Sync + 'static {
    /// Writes `next`'s status, snooze, assignee, labels and last change, if the
    /// conversation is still at `current.version`, with one `conversation.updated` event,
    /// and keeps `activity` in its history. `None` when it changed meanwhile: the caller
    /// reads it again and re-applies its rule ([`change_conversation`]).
    async fn replace_workflow(
        &self,
        current: &Conversation,
        next: &Conversation,
        activity: Option<&Activity>,
    ) -> StoreResult<Option<Conversation>>;

    /// A conversation's activity lines, oldest first: the latest `limit`.
    async fn activities(&self, conversation_id: &str, limit: usize) -> StoreResult<Vec<Activity>>;

    /// The conversation with this number in this inbox, creating the contact and the
    /// conversation if needed (an agent starts one); it moves to the top of the list, and
    /// a name given is the contact's name from now on.
    async fn open_conversation(
        &self,
        inbox_id: &str,
        wa_id: &str,
        name: Option<&str>,
    ) -> StoreResult<Conversation>;

    /// Contacts of the inboxes in `scope` that pass `filter`, newest first, at most `limit`.
    async fn list_contacts(
        &self,
        scope: &Scope,
        filter: &ContactFilter,
        limit: usize,
    ) -> StoreResult<Vec<ContactEntry>>;
    async fn contact(&self, id: &str) -> StoreResult<Option<ContactEntry>>;

    /// The contact with this number in this inbox, if there is one.
    async fn contact_by_number(
        &self,
        inbox_id: &str,
        wa_id: &str,
    ) -> StoreResult<Option<ContactEntry>>;

    /// The contact with this number in this inbox, created without a conversation (an
    /// import) if there is none.
    async fn ensure_contact(&self, inbox_id: &str, wa_id: &str) -> StoreResult<ContactEntry>;

    /// Applies the update; the contact's conversation is republished (its copy of the
    /// contact changed).
    async fn update_contact(&self, id: &str, update: &ContactUpdate) -> StoreResult<ContactEntry>;

    /// Records that a user was seen online at `at` (Unix ms): one of their sockets is open,
    /// on any instance.
    async fn touch_presence(&self, user_id: &str, at: i64) -> StoreResult<()>;

    /// Users seen online at or after `since` (Unix ms).
    async fn present_users(&self, since: i64) -> StoreResult<Vec<String>>;

    /// The next number of a named sequence (1, 2, 3, …), atomically across instances.
    async fn next_in_sequence(&self, name: &str) -> StoreResult<i64>;

    /// Messages of the inboxes in `scope` (and of `inbox_id`, if given) with every one of
    /// `words` at the start of a word of their text, caption or file name, case and
    /// accents aside; deleted ones never. Newest first (timestamp, then seq), after
    /// `before`, at most `limit`.
    async fn search_messages(
        &self,
        scope: &Scope,
        inbox_id: Option<&str>,
        words: &[String],
        before: Option<Cursor>,
        limit: usize,
    ) -> StoreResult<Vec<Message>>;

    /// Every canned response, by shortcut.
    async fn canned_responses(&self) -> StoreResult<Vec<CannedResponse>>;

    /// Inserts it, or replaces the one with its id; `Conflict` if another has its shortcut.
    async fn put_canned_response(&self, response: &CannedResponse) -> StoreResult<()>;

    /// Removes it; says whether it was there.
    async fn delete_canned_response(&self, id: &str) -> StoreResult<bool>;
}

/// Background jobs (media downloads, sends), claimed atomically so that several instances
/// can share one database.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Creates or replaces the job with this kind and key; any claim on it ends.
    async fn schedule_job(&self, job: Job) -> StoreResult<()>;

    /// Creates the job unless one of its kind and key exists; says whether it did.
    async fn add_job_if_missing(&self, job: Job) -> StoreResult<bool>;

    /// Jobs due at `now` (Unix ms), soonest first.
    async fn due_jobs(&self, now: i64, limit: usize) -> StoreResult<Vec<Job>>;

    /// How many jobs are due at `now` and not claimed (a claim moves a job's due time on).
    async fn count_due_jobs(&self, now: i64) -> StoreResult<u64>;

    /// Claims up to `limit` jobs of `kind` due at `now` for `owner`, soonest first. Each
    /// claim is atomic: the job's due time moves to `now + lease_ms` (its lease) in the
    /// same write that picks it, so no other instance sees it due until the lease runs
    /// out. The returned jobs carry their new `due_at` and `claims`.
    async fn claim_jobs(
        &self,
        kind: JobKind,
        now: i64,
        owner: &str,
        lease_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Job>>;

    /// Gives a claimed job back, due at `due_at`, keeping its count of claims (a run that
    /// failed; the runner chose the backoff).
    async fn release_job(&self, kind: JobKind, key: &str, due_at: i64) -> StoreResult<()>;
    async fn finish_job(&self, kind: JobKind, key: &str) -> StoreResult<()>;
}

/// The event log every change appends to, and the health of the database.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Succeeds when the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Signalled after every commit that appended events; the hub waits on it.
    fn commits(&self) -> Arc<Notify>;

    /// Events this process committed since the last call, in seq order, when the backend
    /// knows them without a read. The hub uses them only if they continue exactly where
    /// it is; otherwise it reads the log, which stays the source of truth.
    fn take_committed(&self) -> Vec<Event> {
        Vec::new()
    }

    /// Events with `seq > after`, in order, at most `limit`.
    async fn events_after(&self, after: i64, limit: usize) -> StoreResult<Vec<Event>>;
    async fn event_bounds(&self) -> StoreResult<EventBounds>;

    /// Drops events with `seq <= upto` and raises the floor; returns how many went.
    async fn trim_events(&self, upto: i64) -> StoreResult<u64>;

    /// Finishes work a crashed writer left half done (publishing events for changes that
    /// were stored without them). Backends whose writes are transactional have none.
    async fn repair(&self) -> StoreResult<usize> {
        Ok(0)
    }
}

pub type DynStore = Arc<dyn Store>;
