//! The team's work on a conversation (assignee, status, snooze, labels), written once: a
//! pure rule turns a change into the next state and its activity line, and one flow
//! applies it with compare-and-set on the conversation's version, so both backends keep
//! only [`WorkflowStore::replace_workflow`]'s write. Concurrent changes never interleave:
//! a writer that lost the race reads again and re-applies its change.

use crate::model::{
    Activity, Change, Contact, Conversation, ConversationStatus, ListCursor, UserRef, View,
};

use super::{DynStore, Job, JobKind, Scope, StoreError, StoreResult, new_id, now_ms};

/// A change to a conversation's workflow state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowChange {
    /// Assigns to this user, or unassigns (`None`).
    Assign(Option<UserRef>),
    /// Assigns to this user only if nobody owns the conversation (a reply by an agent,
    /// auto-assignment).
    Claim(UserRef),
    /// `snoozed_until` only with `Snoozed`.
    Status {
        status: ConversationStatus,
        snoozed_until: Option<i64>,
    },
    Labels(Vec<String>),
    /// A customer wrote: a resolved or snoozed conversation opens again. For a message
    /// delivered again, `stored_at` is when it was first stored: it reopens only if nothing
    /// changed the conversation since (the team may have resolved it after reading it),
    /// which finishes the reopen a crash after storing the message left undone.
    CustomerWrote {
        stored_at: Option<i64>,
    },
    /// A snooze job ran at `now`: the conversation opens if its snooze is over.
    SnoozeEnded {
        now: i64,
    },
}

impl WorkflowChange {
    /// The state after the change and its activity line, or `None` when it changes nothing.
    pub fn apply(
        &self,
        c: &Conversation,
        by: Option<&UserRef>,
        now: i64,
    ) -> Option<(Conversation, Option<Activity>)> {
        let mut next = c.clone();
        let change = match self {
            Self::Assign(to) => {
                if c.assignee.as_ref().map(|u| &u.id) == to.as_ref().map(|u| &u.id) {
                    return None;
                }
                next.assignee = to.clone();
                Some(Change::Assigned { to: to.clone() })
            }
            Self::Claim(to) => {
                if c.assignee.is_some() {
                    return None;
                }
                next.assignee = Some(to.clone());
                Some(Change::Assigned {
                    to: Some(to.clone()),
                })
            }
            Self::Status {
                status,
                snoozed_until,
            } => {
                let until = (*status == ConversationStatus::Snoozed)
                    .then_some(*snoozed_until)
                    .flatten();
                if c.status == *status && c.snoozed_until == until {
                    return None;
                }
                next.status = *status;
                next.snoozed_until = until;
                Some(Change::Status {
                    status: *status,
                    snoozed_until: until,
                })
            }
            Self::Labels(labels) => {
                if c.labels == *labels {
                    return None;
                }
                next.labels = labels.clone();
                None
            }
            Self::CustomerWrote { stored_at } => {
                let changed_since = stored_at
                    .is_some_and(|t| c.last_change.as_ref().is_some_and(|line| line.at > t));
                if changed_since
                    || !matches!(
                        c.status,
                        ConversationStatus::Resolved | ConversationStatus::Snoozed
                    )
                {
                    return None;
                }
                reopen(&mut next)
            }
            Self::SnoozeEnded { now } => {
                let over = c.status == ConversationStatus::Snoozed
                    && c.snoozed_until.is_none_or(|t| t <= *now);
                if !over {
                    return None;
                }
                reopen(&mut next)
            }
        };
        let activity = change.map(|change| Activity {
            id: new_id(),
            conversation_id: c.id.clone(),
            by: by.cloned(),
            change,
            at: now,
        });
        if activity.is_some() {
            next.last_change = activity.clone();
        }
        Some((next, activity))
    }
}

fn reopen(next: &mut Conversation) -> Option<Change> {
    next.status = ConversationStatus::Open;
    next.snoozed_until = None;
    Some(Change::Status {
        status: ConversationStatus::Open,
        snoozed_until: None,
    })
}

/// Applies `change` to the conversation, racing writers included: returns the
/// conversation as it stands afterwards (unchanged when the change changed nothing).
pub async fn change_conversation(
    store: &DynStore,
    conversation_id: &str,
    change: &WorkflowChange,
    by: Option<&UserRef>,
) -> StoreResult<Conversation> {
    if let WorkflowChange::Status {
        status: ConversationStatus::Snoozed,
        snoozed_until: Some(until),
    } = change
    {
        // The wake-up is written first: if the snooze then loses a race or this process
        // dies, the job finds nothing to wake and ends; never a snooze without its wake.
        store
            .schedule_job(Job::new(JobKind::Wake, conversation_id, *until, 0))
            .await?;
    }
    let current = store
        .conversation(conversation_id)
        .await?
        .ok_or(StoreError::NotFound("conversation"))?;
    change_conversation_from(store, current, change, by).await
}

/// [`change_conversation`] from a copy the caller has just read or written, which saves
/// reading it again; a copy that is stale by then costs a retry, never the change.
pub async fn change_conversation_from(
    store: &DynStore,
    mut current: Conversation,
    change: &WorkflowChange,
    by: Option<&UserRef>,
) -> StoreResult<Conversation> {
    for _ in 0..20 {
        let Some((next, activity)) = change.apply(&current, by, now_ms()) else {
            return Ok(current);
        };
        if let Some(saved) = store
            .replace_workflow(&current, &next, activity.as_ref())
            .await?
        {
            return Ok(saved);
        }
        current = store
            .conversation(&current.id)
            .await?
            .ok_or(StoreError::NotFound("conversation"))?;
    }
    Err(StoreError::Unavailable(format!(
        "conversation {} is being changed too often to update",
        current.id
    )))
}

/// How long a user counts as online after their socket was last seen (sockets are seen
/// every [`PRESENCE_BEAT_MS`]).
pub const PRESENCE_TTL_MS: i64 = 75_000;
pub const PRESENCE_BEAT_MS: i64 = 30_000;

/// The settings key that marks a user away (every tab of theirs is hidden).
pub fn away_key(user_id: &str) -> String {
    format!("away:{user_id}")
}

/// The settings key that turns round-robin auto-assignment on for an inbox (`round_robin`;
/// anything else, or nothing, is off).
pub fn auto_assign_key(inbox_id: &str) -> String {
    format!("auto_assign:{inbox_id}")
}

/// Round-robin auto-assignment: when the inbox has it on (read as recent: another
/// instance's switch takes up to a second here) and the conversation has no owner, it
/// goes to the next of the inbox's members who are online and not away (never anyone who
/// cannot see the inbox). The turn comes from an atomic sequence, so simultaneous new
/// chats go to different agents on every instance. Returns the conversation if assigned.
pub async fn auto_assign(
    store: &DynStore,
    c: &Conversation,
    now: i64,
) -> StoreResult<Option<Conversation>> {
    if c.assignee.is_some()
        || store
            .recent_setting(&auto_assign_key(&c.inbox_id))
            .await?
            .as_deref()
            != Some("round_robin")
    {
        return Ok(None);
    }
    let present: std::collections::HashSet<String> = store
        .present_users(now - PRESENCE_TTL_MS)
        .await?
        .into_iter()
        .collect();
    let mut members = store.inbox_members(&c.inbox_id).await?;
    members.sort();
    let mut pool = Vec::new();
    for id in members.iter().filter(|m| present.contains(*m)) {
        // Connected but away (every tab hidden) is not there to answer.
        if store.setting(&away_key(id)).await?.is_some() {
            continue;
        }
        if let Some(u) = store.user(id).await?.filter(|u| !u.disabled) {
            pool.push(u.to_ref());
        }
    }
    if pool.is_empty() {
        return Ok(None);
    }
    let turn = store
        .next_in_sequence(&format!("round_robin:{}", c.inbox_id))
        .await?;
    let to = pool[(turn - 1).rem_euclid(pool.len() as i64) as usize].clone();
    let after = change_conversation(store, &c.id, &WorkflowChange::Claim(to.clone()), None).await?;
    Ok((after.assignee.as_ref() == Some(&to)).then_some(after))
}

/// The conversation list's filters; each `None` or empty one lets everything through.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub view: View,
    /// The viewer, whom `Mine` means.
    pub user_id: String,
    pub statuses: Vec<ConversationStatus>,
    pub inbox_id: Option<String>,
    pub label: Option<String>,
    /// Words in the contact's name or number, or in any message's text.
    pub query: Option<TextQuery>,
    pub before: Option<ListCursor>,
}

impl ConversationFilter {
    /// Whether `c` passes every filter but the query (which also looks at messages, so
    /// each backend runs it as a search).
    pub fn admits(&self, scope: &Scope, c: &Conversation) -> bool {
        scope.allows(&c.inbox_id)
            && match self.view {
                View::All => true,
                View::Mine => c.assignee.as_ref().is_some_and(|a| a.id == self.user_id),
                View::Unassigned => c.assignee.is_none(),
            }
            && (self.statuses.is_empty() || self.statuses.contains(&c.status))
            && self.inbox_id.as_ref().is_none_or(|i| *i == c.inbox_id)
            && self.label.as_ref().is_none_or(|l| c.labels.contains(l))
            && self.before.as_ref().is_none_or(|b| {
                (c.last_activity_at, std::cmp::Reverse(&c.id))
                    < (b.last_activity_at, std::cmp::Reverse(&b.id))
            })
    }
}

/// The contacts list's filters.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub query: Option<TextQuery>,
    pub label: Option<String>,
    /// The id of the last contact of the previous page: pages go newest first, by id.
    pub before: Option<String>,
}

/// Changes to a contact; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ContactUpdate {
    /// An empty name clears it.
    pub name: Option<String>,
    pub labels: Option<Vec<String>>,
    pub attributes: Option<std::collections::BTreeMap<String, String>>,
    pub opted_out: Option<bool>,
}

impl ContactUpdate {
    /// The contact after the update.
    pub fn apply(&self, c: &Contact) -> Contact {
        let mut next = c.clone();
        if let Some(name) = &self.name {
            let name = name.trim();
            next.name = (!name.is_empty()).then(|| name.to_string());
        }
        if let Some(labels) = &self.labels {
            next.labels = labels.clone();
        }
        if let Some(attributes) = &self.attributes {
            next.attributes = attributes.clone();
        }
        if let Some(opted_out) = self.opted_out {
            next.opted_out = opted_out;
        }
        next
    }
}

/// What a search box's words match, decided once for both backends: the text
/// (case-insensitive, anywhere in a name or message) and, when the words are mostly a
/// number, its digits (anywhere in a phone number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    /// Lower-cased and trimmed.
    pub text: String,
    pub digits: Option<String>,
}

impl TextQuery {
    pub fn parse(query: &str) -> Option<Self> {
        let text = query.trim().to_lowercase();
        if text.is_empty() {
            return None;
        }
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let typed = text
            .chars()
            .filter(|c| !c.is_whitespace() && !"+-().".contains(*c))
            .count();
        let digits = (!digits.is_empty() && digits.len() == typed).then_some(digits);
        Some(Self { text, digits })
    }

    /// The rule each backend's query expresses, for a contact.
    pub fn matches_contact(&self, c: &Contact) -> bool {
        c.name
            .as_deref()
            .is_some_and(|n| n.to_lowercase().contains(&self.text))
            || self
                .digits
                .as_ref()
                .is_some_and(|d| c.wa_id.as_deref().is_some_and(|w| w.contains(d.as_str())))
    }
}

/// A page from up to `limit + 1` items in list order: the extra one only proves there is
/// more, and the cursor (`key` of the last item kept) continues after it.
pub fn page_of<T>(
    mut items: Vec<T>,
    limit: usize,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(key)
    } else {
        None
    };
    (items, next)
}
