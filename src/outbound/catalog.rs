//! The approved templates of each inbox's business account, read from WhatsApp Manager
//! and kept for a while.
//!
//! Meta allows about 200 management calls an hour per business account, so the list is
//! cached: it is read at most every ten minutes on its own, and an agent's "refresh" is
//! honoured at most every half minute.

use std::time::Duration;

use crate::context::{AppError, AppState};
use crate::model::{TemplateInfo, TemplateList};
use crate::store::{Inbox, now_ms};
use crate::whatsapp::templates::waba_setting;

/// How long a list is used before it is read again.
const FRESH_FOR: Duration = Duration::from_secs(600);
/// The least time between two reads, whatever is asked (also after a failed read).
const MIN_INTERVAL: Duration = Duration::from_secs(30);
/// Pages of 100 read at most: more templates than WhatsApp lets an account have.
const MAX_PAGES: usize = 20;

/// The business account whose templates an inbox may send: the one its webhooks name, or
/// the environment's for an inbox on the environment's credentials.
async fn waba_of(state: &AppState, inbox: &Inbox) -> Result<Option<String>, AppError> {
    if let Some(id) = state.store.setting(&waba_setting(&inbox.id)).await? {
        return Ok(Some(id));
    }
    let own_token = inbox.credentials.access_token.is_some();
    Ok(if own_token && !state.config.whatsapp.simulator() {
        None
    } else {
        state.config.whatsapp.waba_id.clone()
    })
}

/// The inbox's approved templates; `refresh` reads them again unless that was just done.
pub async fn list(
    state: &AppState,
    inbox: &Inbox,
    refresh: bool,
) -> Result<TemplateList, AppError> {
    let cached = state.templates.get(&inbox.id);
    if let Some(c) = &cached {
        let age = c.read_at.elapsed();
        if age < MIN_INTERVAL || (!refresh && age < FRESH_FOR) {
            return Ok(c.list.clone());
        }
    }
    let Some(waba) = waba_of(state, inbox).await? else {
        return Ok(TemplateList {
            problem: Some(
                "The business account of this number is not known yet: it is learned from \
                 the first webhook, or set WHATSAPP_WABA_ID. Type the template's name instead."
                    .into(),
            ),
            ..Default::default()
        });
    };
    let token = state
        .config
        .credentials(inbox)
        .access_token
        .unwrap_or_default();
    let list = match read_all(state, &token, &waba).await {
        Ok(templates) => TemplateList {
            templates,
            fetched_at: Some(now_ms()),
            problem: None,
        },
        Err(e) => {
            tracing::warn!(inbox = %inbox.id, %waba, error = %e, "templates: cannot read the list");
            // Keep offering what was read before; say it may be out of date.
            let mut list = cached.map(|c| c.list).unwrap_or_default();
            list.problem = Some(format!("WhatsApp did not give the template list: {e}"));
            list
        }
    };
    state.templates.put(&inbox.id, list.clone());
    Ok(list)
}

async fn read_all(
    state: &AppState,
    token: &str,
    waba: &str,
) -> Result<Vec<TemplateInfo>, crate::whatsapp::client::CallError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = state
            .cloud
            .message_templates(token, waba, after.as_deref())
            .await?;
        all.extend(page.templates);
        match page.after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    all.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
    Ok(all)
}

/// What a template send must match, if the inbox's list can be read: `Ok(None)` when it
/// cannot (the send goes out and Meta judges it). A name missing from a list read a while
/// ago triggers one fresh read, so a template approved minutes ago is not refused.
pub async fn lookup(
    state: &AppState,
    inbox: &Inbox,
    name: &str,
    language: &str,
) -> Result<Option<Result<TemplateInfo, String>>, AppError> {
    let find = |list: &TemplateList| {
        list.templates
            .iter()
            .find(|t| t.name == name && t.language == language)
            .cloned()
    };
    let mut list = list(state, inbox, false).await?;
    if find(&list).is_none() && list.fetched_at.is_some() {
        list = self::list(state, inbox, true).await?;
    }
    if list.fetched_at.is_none() {
        return Ok(None);
    }
    if let Some(found) = find(&list) {
        return Ok(Some(Ok(found)));
    }
    let languages: Vec<&str> = list
        .templates
        .iter()
        .filter(|t| t.name == name)
        .map(|t| t.language.as_str())
        .collect();
    Ok(Some(Err(if languages.is_empty() {
        format!("there is no approved template named {name}")
    } else {
        format!(
            "template {name} is approved in {} but not in {language}",
            languages.join(", ")
        )
    })))
}
