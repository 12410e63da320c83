//! The team's work on conversations: starting them, who owns them, where they stand,
//! labels, private notes and contacts. Each call checks the caller may see what it names
//! (anything else is "not found") and turns bad input into a 400 with the reason; the
//! rules of the change itself live in `store::workflow`, written once for both stores.

use crate::context::{AppError, AppState, Principal};
use crate::model::{
    ContactEntry, ContactPage, Conversation, ConversationList, ConversationStatus, ListCursor,
    MAX_TEXT_LEN, Message, MessageKind, Outgoing, Role, User, UserRef, View, ViewCounts,
    normalize_labels, normalize_phone,
};
use crate::store::{
    ContactFilter, ContactUpdate, ConversationFilter, DynStore, Job, JobKind, NewOutbound, Scope,
    StoreResult, TextQuery, WorkflowChange, change_conversation, now_ms, page_of,
};

/// Largest page of conversations or contacts.
pub const MAX_LIST_PAGE: usize = 200;
pub const DEFAULT_LIST_PAGE: usize = 50;

/// A conversation the caller may see; any other id is "not found" (a foreign id is
/// answered exactly like one that does not exist).
pub async fn visible_conversation(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Conversation, AppError> {
    match state.store.conversation(id).await? {
        Some(c) if principal.can_see(&c.inbox_id) => Ok(c),
        _ => Err(AppError::NotFound("conversation")),
    }
}

/// Whether `user` works `inbox_id`: admins see every inbox, agents their own.
pub async fn can_work(store: &DynStore, user: &User, inbox_id: &str) -> StoreResult<bool> {
    if user.disabled {
        return Ok(false);
    }
    Ok(match user.role {
        Role::Admin => true,
        Role::Agent => store
            .user_inboxes(&user.id)
            .await?
            .iter()
            .any(|i| i == inbox_id),
    })
}

/// The teammates who can see an inbox (for assigning and `@mentions`), by name.
pub async fn teammates(
    state: &AppState,
    principal: &Principal,
    inbox_id: &str,
) -> Result<Vec<UserRef>, AppError> {
    if !principal.can_see(inbox_id) || state.store.inbox(inbox_id).await?.is_none() {
        return Err(AppError::NotFound("inbox"));
    }
    let mut out = Vec::new();
    for u in state.store.list_users().await? {
        if can_work(&state.store, &u, inbox_id).await? {
            out.push(u.to_ref());
        }
    }
    out.sort_by_key(|u| u.name.to_lowercase());
    Ok(out)
}

pub async fn assign(
    state: &AppState,
    principal: &Principal,
    conversation_id: &str,
    assignee_id: Option<&str>,
) -> Result<Conversation, AppError> {
    let c = visible_conversation(state, principal, conversation_id).await?;
    let to = match assignee_id.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(id) => {
            let user = state.store.user(id).await?;
            match user {
                Some(u) if can_work(&state.store, &u, &c.inbox_id).await? => Some(u.to_ref()),
                Some(u) => {
                    return Err(AppError::BadRequest(format!(
                        "{} cannot see this conversation's inbox, so cannot own it",
                        u.name
                    )));
                }
                None => return Err(AppError::BadRequest(format!("no user has the id {id:?}"))),
            }
        }
    };
    let by = principal.user.to_ref();
    Ok(change_conversation(&state.store, &c.id, &WorkflowChange::Assign(to), Some(&by)).await?)
}

pub async fn set_status(
    state: &AppState,
    principal: &Principal,
    conversation_id: &str,
    status: &str,
    snoozed_until: Option<i64>,
) -> Result<Conversation, AppError> {
    let c = visible_conversation(state, principal, conversation_id).await?;
    let status = parse_status(status)?;
    match (status, snoozed_until) {
        (ConversationStatus::Snoozed, Some(t)) if t > now_ms() => {}
        (ConversationStatus::Snoozed, Some(_)) => {
            return Err(AppError::BadRequest(
                "snoozed_until must be in the future (Unix milliseconds)".into(),
            ));
        }
        (ConversationStatus::Snoozed, None) => {
            return Err(AppError::BadRequest(
                "a snooze needs snoozed_until (Unix milliseconds)".into(),
            ));
        }
        (_, Some(_)) => {
            return Err(AppError::BadRequest(
                "snoozed_until goes only with status snoozed".into(),
            ));
        }
        (_, None) => {}
    }
    let by = principal.user.to_ref();
    let change = WorkflowChange::Status {
        status,
        snoozed_until,
    };
    Ok(change_conversation(&state.store, &c.id, &change, Some(&by)).await?)
}

pub async fn set_labels(
    state: &AppState,
    principal: &Principal,
    conversation_id: &str,
    labels: &[String],
) -> Result<Conversation, AppError> {
    let c = visible_conversation(state, principal, conversation_id).await?;
    let labels = normalize_labels(labels).map_err(AppError::BadRequest)?;
    let by = principal.user.to_ref();
    Ok(change_conversation(
        &state.store,
        &c.id,
        &WorkflowChange::Labels(labels),
        Some(&by),
    )
    .await?)
}

/// The teammates a note's `@name` or `@email` words name, among those who can see the
/// inbox. A name matches whole (`@Ana`, `@ana.lima@x.com`), or by its first word.
pub fn mentioned(text: &str, team: &[(UserRef, String)]) -> Vec<UserRef> {
    let lower = text.to_lowercase();
    let mut found: Vec<UserRef> = Vec::new();
    for (user, email) in team {
        let name = user.name.to_lowercase();
        let first = name.split_whitespace().next().unwrap_or("").to_string();
        let hit = [email.to_lowercase(), name.clone(), first]
            .iter()
            .filter(|n| !n.is_empty())
            .any(|n| {
                lower.match_indices(&format!("@{n}")).any(|(at, m)| {
                    let before_ok = lower[..at]
                        .chars()
                        .next_back()
                        .is_none_or(|c| !c.is_alphanumeric());
                    let after_ok = lower[at + m.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| !c.is_alphanumeric() && c != '@');
                    before_ok && after_ok
                })
            });
        if hit && !found.iter().any(|f| f.id == user.id) {
            found.push(user.clone());
        }
    }
    found
}

/// A private note: stored and pushed like a message, never sent to WhatsApp.
pub async fn add_note(
    state: &AppState,
    principal: &Principal,
    conversation_id: &str,
    text: &str,
    client_id: &str,
) -> Result<Message, AppError> {
    let client_id = check_client_id(client_id)?;
    let c = visible_conversation(state, principal, conversation_id).await?;
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::BadRequest("a note needs some text".into()));
    }
    if text.chars().count() > MAX_TEXT_LEN {
        return Err(AppError::BadRequest(format!(
            "a note is at most {MAX_TEXT_LEN} characters"
        )));
    }
    let mut team = Vec::new();
    for u in state.store.list_users().await? {
        if can_work(&state.store, &u, &c.inbox_id).await? {
            team.push((u.to_ref(), u.email.clone()));
        }
    }
    let details = crate::model::Details {
        mentions: mentioned(text, &team),
        ..Default::default()
    };
    let (m, _) = state
        .store
        .create_outbound(NewOutbound {
            conversation_id: c.id,
            direction: crate::model::Direction::Note,
            sent_by: Some(principal.user.to_ref()),
            client_id,
            kind: MessageKind::Note,
            text: Some(text.to_string()),
            reply_to: None,
            details,
        })
        .await?;
    Ok(m)
}

fn check_client_id(client_id: &str) -> Result<String, AppError> {
    let client_id = client_id.trim();
    if uuid::Uuid::parse_str(client_id).is_err() {
        return Err(AppError::BadRequest(
            "client_id must be a UUID generated by the caller".into(),
        ));
    }
    Ok(client_id.to_string())
}

/// Starts (or continues) a conversation with a number: finds or creates the contact and
/// conversation, then sends. A number with no open 24-hour window takes only a template.
pub async fn start(
    state: &AppState,
    principal: &Principal,
    inbox_id: &str,
    to: &str,
    name: Option<&str>,
    client_id: &str,
    message: Outgoing,
) -> Result<(Conversation, Message), AppError> {
    check_client_id(client_id)?;
    if !principal.can_see(inbox_id) || state.store.inbox(inbox_id).await?.is_none() {
        return Err(AppError::NotFound("inbox"));
    }
    let wa_id = normalize_phone(to).map_err(|why| AppError::BadRequest(format!("to: {why}")))?;
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 200) {
        return Err(AppError::BadRequest(
            "name is at most 200 characters".into(),
        ));
    }
    if message.needs_open_window() {
        // Only a conversation the customer wrote in lately takes a free-form message;
        // look without creating anything.
        let existing = existing_conversation(state, inbox_id, &wa_id).await?;
        match existing {
            Some(c) if !crate::outbound::window_closed(&c) => {}
            _ => {
                return Err(AppError::WindowClosed(
                    "this number has no open 24-hour window; start the conversation with \
                     an approved template"
                        .into(),
                ));
            }
        }
    }
    let c = state
        .store
        .open_conversation(inbox_id, &wa_id, name)
        .await?;
    let m = crate::outbound::send(state, principal, &c.id, client_id, message).await?;
    let c = state.store.conversation(&c.id).await?.unwrap_or(c);
    Ok((c, m))
}

async fn existing_conversation(
    state: &AppState,
    inbox_id: &str,
    wa_id: &str,
) -> Result<Option<Conversation>, AppError> {
    let filter = ContactFilter {
        query: TextQuery::parse(wa_id),
        ..ContactFilter::default()
    };
    let scope = Scope::Inboxes(vec![inbox_id.to_string()]);
    let mut before = None;
    loop {
        let page = state
            .store
            .list_contacts(
                &scope,
                &ContactFilter {
                    before,
                    ..filter.clone()
                },
                100,
            )
            .await?;
        if let Some(e) = page
            .iter()
            .find(|e| e.contact.wa_id.as_deref() == Some(wa_id))
        {
            return Ok(match &e.conversation_id {
                Some(id) => state.store.conversation(id).await?,
                None => None,
            });
        }
        if page.len() < 100 {
            return Ok(None);
        }
        before = page.last().map(|e| e.contact.id.clone());
    }
}

/// `list_conversations`' arguments as they arrive.
#[derive(Debug, Default, Clone)]
pub struct ListRequest {
    pub view: Option<View>,
    pub status: Option<Vec<String>>,
    pub inbox_id: Option<String>,
    pub label: Option<String>,
    pub query: Option<String>,
    pub before: Option<String>,
    pub limit: Option<u32>,
}

fn page_limit(limit: Option<u32>) -> Result<usize, AppError> {
    match limit {
        None => Ok(DEFAULT_LIST_PAGE),
        Some(n) if (1..=MAX_LIST_PAGE as u32).contains(&n) => Ok(n as usize),
        Some(_) => Err(AppError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIST_PAGE}"
        ))),
    }
}

/// A status as a caller names it, or a 400 naming the four there are.
pub fn parse_status(name: &str) -> Result<ConversationStatus, AppError> {
    ConversationStatus::parse(name.trim()).ok_or_else(|| {
        AppError::BadRequest(format!(
            "status {name:?} is not one of open, pending, snoozed, resolved"
        ))
    })
}

/// The filters a page and the view counts share, checked; the view and cursor are the
/// page's own.
fn filter_of(principal: &Principal, req: &ListRequest) -> Result<ConversationFilter, AppError> {
    let statuses = req
        .status
        .iter()
        .flatten()
        .map(|s| parse_status(s))
        .collect::<Result<Vec<_>, _>>()?;
    let label = match req
        .label
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        None => None,
        Some(l) => Some(
            crate::model::normalize_label(l)
                .ok_or_else(|| AppError::BadRequest(format!("{l:?} is not a label")))?,
        ),
    };
    Ok(ConversationFilter {
        view: View::All,
        user_id: principal.user.id.clone(),
        statuses,
        inbox_id: req.inbox_id.clone().filter(|i| !i.is_empty()),
        label,
        query: req.query.as_deref().and_then(TextQuery::parse),
        before: None,
    })
}

/// How many conversations each view holds under the request's filters (its view, cursor
/// and limit are not used).
pub async fn count(
    state: &AppState,
    principal: &Principal,
    req: &ListRequest,
) -> Result<ViewCounts, AppError> {
    let filter = filter_of(principal, req)?;
    Ok(state
        .store
        .count_conversations(&principal.scope, &filter)
        .await?)
}

pub async fn list(
    state: &AppState,
    principal: &Principal,
    req: ListRequest,
) -> Result<ConversationList, AppError> {
    let limit = page_limit(req.limit)?;
    let before = match req.before.as_deref() {
        None => None,
        Some(b) => Some(ListCursor::decode(b).ok_or_else(|| {
            AppError::BadRequest(format!("before {b:?} is not a cursor from `next`"))
        })?),
    };
    let filter = ConversationFilter {
        view: req.view.unwrap_or_default(),
        before,
        ..filter_of(principal, &req)?
    };
    // Head first: anything committed after it will be replayed, never missed.
    let seq = state.hub.head();
    let found = state
        .store
        .list_conversations(&principal.scope, &filter, limit + 1)
        .await?;
    let (conversations, next) = page_of(found, limit, |c| ListCursor::of(c).encode());
    Ok(ConversationList {
        conversations,
        seq,
        next,
    })
}

pub async fn list_contacts(
    state: &AppState,
    principal: &Principal,
    query: Option<&str>,
    label: Option<&str>,
    before: Option<String>,
    limit: Option<u32>,
) -> Result<ContactPage, AppError> {
    let limit = page_limit(limit)?;
    let label = match label.map(str::trim).filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(
            crate::model::normalize_label(l)
                .ok_or_else(|| AppError::BadRequest(format!("{l:?} is not a label")))?,
        ),
    };
    let filter = ContactFilter {
        query: query.and_then(TextQuery::parse),
        label,
        before: before.filter(|b| !b.is_empty()),
    };
    let found = state
        .store
        .list_contacts(&principal.scope, &filter, limit + 1)
        .await?;
    let (contacts, next) = page_of(found, limit, |e| e.contact.id.clone());
    Ok(ContactPage { contacts, next })
}

pub async fn contact(
    state: &AppState,
    principal: &Principal,
    contact_id: &str,
) -> Result<ContactEntry, AppError> {
    match state.store.contact(contact_id).await? {
        Some(e) if principal.can_see(&e.inbox_id) => Ok(e),
        _ => Err(AppError::NotFound("contact")),
    }
}

pub async fn update_contact(
    state: &AppState,
    principal: &Principal,
    contact_id: &str,
    update: ContactUpdate,
) -> Result<ContactEntry, AppError> {
    let entry = contact(state, principal, contact_id).await?;
    let update = checked_contact_update(update)?;
    Ok(state
        .store
        .update_contact(&entry.contact.id, &update)
        .await?)
}

/// A contact update with its name, labels and attributes checked and tidied (trimmed,
/// labels normalised); the reason when one is not acceptable.
pub fn checked_contact_update(mut update: ContactUpdate) -> Result<ContactUpdate, AppError> {
    if let Some(name) = &update.name
        && name.trim().chars().count() > 200
    {
        return Err(AppError::BadRequest(
            "name is at most 200 characters".into(),
        ));
    }
    if let Some(labels) = &update.labels {
        update.labels = Some(normalize_labels(labels).map_err(AppError::BadRequest)?);
    }
    if let Some(attributes) = &update.attributes {
        if attributes.len() > 50 {
            return Err(AppError::BadRequest("at most 50 attributes".into()));
        }
        let mut clean = std::collections::BTreeMap::new();
        for (k, v) in attributes {
            let key = k.trim();
            if key.is_empty() || key.chars().count() > 64 {
                return Err(AppError::BadRequest(format!(
                    "attribute name {k:?} must be 1 to 64 characters"
                )));
            }
            if v.chars().count() > 1024 {
                return Err(AppError::BadRequest(format!(
                    "attribute {key:?} is longer than 1024 characters"
                )));
            }
            clean.insert(key.to_string(), v.trim().to_string());
        }
        update.attributes = Some(clean);
    }
    Ok(update)
}

/// The wake job of a snooze: opens the conversation if its snooze is over, or waits for
/// a snooze that was moved later.
pub async fn run_wake_job(state: &AppState, job: &Job) -> StoreResult<()> {
    let store = &state.store;
    let Some(c) = store.conversation(&job.key).await? else {
        return store.finish_job(JobKind::Wake, &job.key).await;
    };
    let now = now_ms();
    if c.status == ConversationStatus::Snoozed
        && let Some(until) = c.snoozed_until.filter(|t| *t > now)
    {
        return store
            .schedule_job(Job::new(JobKind::Wake, &job.key, until, 0))
            .await;
    }
    change_conversation(store, &job.key, &WorkflowChange::SnoozeEnded { now }, None).await?;
    store.finish_job(JobKind::Wake, &job.key).await
}

/// Messages the caller may see with every word of `query`, newest first, paged.
pub async fn search_messages(
    state: &AppState,
    principal: &Principal,
    query: &str,
    inbox_id: Option<&str>,
    before: Option<&str>,
    limit: Option<u32>,
) -> Result<crate::model::SearchPage, AppError> {
    use crate::model::{Cursor, SearchPage, SearchResult, search_words, searchable_text, snippet};
    let limit = page_limit(limit)?;
    let words = search_words(query);
    if words.is_empty() {
        return Err(AppError::BadRequest(
            "query needs at least one word (letters or digits)".into(),
        ));
    }
    let inbox_id = inbox_id.map(str::trim).filter(|i| !i.is_empty());
    if let Some(inbox) = inbox_id
        && !principal.can_see(inbox)
    {
        return Err(AppError::NotFound("inbox"));
    }
    let before = match before.map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(
            Cursor::decode(b)
                .ok_or_else(|| AppError::BadRequest(format!("{b:?} is not a search cursor")))?,
        ),
    };
    let found = state
        .store
        .search_messages(&principal.scope, inbox_id, &words, before, limit + 1)
        .await?;
    let page = crate::model::MessagePage::from_overfetch(found, limit);
    // Each conversation read once, however many of its messages matched.
    let mut names = std::collections::HashMap::new();
    for m in &page.messages {
        if !names.contains_key(&m.conversation_id) {
            let name = state
                .store
                .conversation(&m.conversation_id)
                .await?
                .map(|c| c.contact.display_name())
                .unwrap_or_default();
            names.insert(m.conversation_id.clone(), name);
        }
    }
    let results = page
        .messages
        .into_iter()
        .map(|m| SearchResult {
            conversation_id: m.conversation_id.clone(),
            contact_name: names.get(&m.conversation_id).cloned().unwrap_or_default(),
            snippet: snippet(&searchable_text(&m), &words),
            message: m,
        })
        .collect();
    Ok(SearchPage {
        results,
        next: page.next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> Vec<(UserRef, String)> {
        let u = |id: &str, name: &str, email: &str| {
            (
                UserRef {
                    id: id.into(),
                    name: name.into(),
                },
                email.to_string(),
            )
        };
        vec![
            u("1", "Ana Lima", "ana@example.com"),
            u("2", "Bo", "bo@example.com"),
            u("3", "Anatole", "anatole@example.com"),
        ]
    }

    #[test]
    fn a_mention_names_a_teammate_by_name_first_name_or_email_and_nothing_else() {
        let ids = |text: &str| -> Vec<String> {
            mentioned(text, &team()).into_iter().map(|u| u.id).collect()
        };
        assert_eq!(ids("@ana can you look?"), vec!["1"]);
        assert_eq!(ids("cc @Ana Lima, @bo"), vec!["1", "2"]);
        assert_eq!(ids("mail @anatole@example.com"), vec!["3"]);
        assert!(
            ids("ana@example.com wrote").is_empty(),
            "an email is not a mention"
        );
        assert!(ids("@bob").is_empty());
        assert!(ids("no one").is_empty());
    }
}
