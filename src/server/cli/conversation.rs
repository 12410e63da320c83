//! `switchboard conversation …`: the team's work from a shell, for what an operator does in
//! bulk or when nobody can sign in (an agent leaves: hand all their conversations on).
//! Changes go through the same rules and events as the UI's, so open tabs see them live.

use clap::Subcommand;

use std::collections::HashMap;

use super::{CliError, inbox_id, user, user_id};
use crate::model::{Conversation, ConversationStatus, ListCursor, UserRef, View};
use crate::store::{ConversationFilter, DynStore, Scope, WorkflowChange, change_conversation};
use crate::workflow::{can_work, parse_status};

/// Conversations read per store call while walking a whole view.
const WALK_PAGE: usize = 200;

/// Who the activity line names for a change made here ("The operator resolved this").
fn operator() -> UserRef {
    UserRef {
        id: "cli".into(),
        name: "The operator".into(),
    }
}

#[derive(Debug, Subcommand)]
pub enum ConversationCommand {
    /// Conversations, newest activity first: id, status, assignee, contact, last activity.
    List {
        /// Only these statuses (repeat; none: any): open, pending, snoozed, resolved.
        #[arg(long = "status")]
        statuses: Vec<String>,
        /// Only those assigned to this user.
        #[arg(long, conflicts_with = "unassigned")]
        assignee: Option<String>,
        /// Only those nobody owns.
        #[arg(long)]
        unassigned: bool,
        /// Only this inbox (its phone number id).
        #[arg(long)]
        inbox: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Assign one conversation (--id), or hand on every conversation of a user (--from),
    /// to a user (--to) or to nobody (--nobody).
    Assign {
        #[arg(long, required_unless_present = "from", conflicts_with = "from")]
        id: Option<String>,
        /// Every conversation assigned to this user (any status).
        #[arg(long)]
        from: Option<String>,
        #[arg(long, required_unless_present = "nobody", conflicts_with = "nobody")]
        to: Option<String>,
        #[arg(long)]
        nobody: bool,
    },
    /// Resolve, reopen or mark a conversation pending.
    Status {
        #[arg(long)]
        id: String,
        /// open, pending or resolved (a snooze needs a time: use the UI or the API).
        #[arg(long = "set")]
        status: String,
    },
}

pub async fn run(store: &DynStore, command: ConversationCommand) -> Result<String, CliError> {
    match command {
        ConversationCommand::List {
            statuses,
            assignee,
            unassigned,
            inbox,
            limit,
        } => {
            if !(1..=WALK_PAGE).contains(&limit) {
                return Err(CliError::Usage(format!(
                    "--limit must be between 1 and {WALK_PAGE}"
                )));
            }
            let mut filter = ConversationFilter {
                statuses: parse_statuses(&statuses)?,
                ..Default::default()
            };
            if let Some(email) = assignee {
                filter.view = View::Mine;
                filter.user_id = user_id(store, &email).await?;
            } else if unassigned {
                filter.view = View::Unassigned;
            }
            if let Some(pnid) = inbox {
                filter.inbox_id = Some(inbox_id(store, &pnid).await?);
            }
            let found = store
                .list_conversations(&Scope::All, &filter, limit)
                .await?;
            Ok(found.iter().map(line).collect::<Vec<_>>().join("\n"))
        }
        ConversationCommand::Assign {
            id,
            from,
            to,
            nobody: _,
        } => {
            let to = match to {
                Some(email) => Some(user(store, &email).await?),
                None => None,
            };
            let conversations = match (id, from) {
                (Some(id), _) => vec![
                    store
                        .conversation(&id)
                        .await?
                        .ok_or_else(|| CliError::Failed(format!("no conversation {id}")))?,
                ],
                (None, Some(email)) => assigned_to(store, &user_id(store, &email).await?).await?,
                (None, None) => return Err(CliError::Usage("--id or --from is required".into())),
            };
            // Whether the new owner may work each inbox, read once per inbox.
            let mut allowed: HashMap<String, bool> = HashMap::new();
            let (mut moved, mut refused) = (0, Vec::new());
            for c in &conversations {
                if let Some(user) = &to {
                    let may = match allowed.get(&c.inbox_id) {
                        Some(may) => *may,
                        None => {
                            let may = can_work(store, user, &c.inbox_id).await?;
                            allowed.insert(c.inbox_id.clone(), may);
                            may
                        }
                    };
                    if !may {
                        refused.push(format!(
                            "{}: {} cannot see its inbox, so cannot own it",
                            c.id, user.email
                        ));
                        continue;
                    }
                }
                let change = WorkflowChange::Assign(to.as_ref().map(|u| u.to_ref()));
                change_conversation(store, &c.id, &change, Some(&operator())).await?;
                moved += 1;
            }
            let whom = to.map_or_else(|| "nobody".to_string(), |u| u.email);
            let mut out = format!("assigned {moved} conversation(s) to {whom}");
            if !refused.is_empty() {
                out.push_str(&format!(
                    "; left {}:\n{}",
                    refused.len(),
                    refused.join("\n")
                ));
            }
            if moved == 0 && !refused.is_empty() {
                return Err(CliError::Failed(out));
            }
            Ok(out)
        }
        ConversationCommand::Status { id, status } => {
            let status = match parse_status(&status) {
                Ok(ConversationStatus::Snoozed) => {
                    return Err(CliError::Usage(
                        "a snooze needs a time: use the UI or set_conversation_status".into(),
                    ));
                }
                Ok(s) => s,
                Err(e) => return Err(CliError::Usage(e.to_string())),
            };
            if store.conversation(&id).await?.is_none() {
                return Err(CliError::Failed(format!("no conversation {id}")));
            }
            let change = WorkflowChange::Status {
                status,
                snoozed_until: None,
            };
            Ok(line(
                &change_conversation(store, &id, &change, Some(&operator())).await?,
            ))
        }
    }
}

fn parse_statuses(names: &[String]) -> Result<Vec<ConversationStatus>, CliError> {
    names
        .iter()
        .map(|s| parse_status(s).map_err(|e| CliError::Usage(e.to_string())))
        .collect()
}

/// Every conversation the user owns, whatever its status: read whole before any changes,
/// so reassigning (which moves them out of the view) cannot skip one.
async fn assigned_to(store: &DynStore, user_id: &str) -> Result<Vec<Conversation>, CliError> {
    let mut filter = ConversationFilter {
        view: View::Mine,
        user_id: user_id.to_string(),
        ..Default::default()
    };
    let mut all = Vec::new();
    loop {
        let page = store
            .list_conversations(&Scope::All, &filter, WALK_PAGE)
            .await?;
        let full = page.len() == WALK_PAGE;
        filter.before = page.last().map(ListCursor::of);
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

fn line(c: &Conversation) -> String {
    let contact = match (&c.contact.name, &c.contact.wa_id) {
        (Some(name), Some(wa)) => format!("{name} (+{wa})"),
        (Some(name), None) => name.clone(),
        (None, Some(wa)) => format!("+{wa}"),
        (None, None) => "unknown".into(),
    };
    format!(
        "{}\t{}\t{}\t{}\t{}",
        c.id,
        c.status.as_str(),
        c.assignee.as_ref().map_or("-", |u| u.name.as_str()),
        contact,
        crate::audit::rfc3339(c.last_activity_at)
    )
}
