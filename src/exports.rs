//! Data out and in: a conversation as JSON or readable text, contacts and the audit log as
//! CSV, and the contacts import (with a dry run). Media stays by reference (`/media/{id}`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::audit::{self, Actor, Diff, rfc3339};
use crate::context::{AppError, AppState, Principal};
use crate::model::{
    Activity, AuditEntry, ContactEntry, ContactImport, Conversation, Cursor, Direction,
    ImportRowError, Message, MessageKind, normalize_phone,
};
use crate::store::{AuditFilter, ContactFilter, ContactUpdate, Scope};

/// Most rows one import may hold.
pub const MAX_IMPORT_ROWS: usize = 10_000;
/// The prefix of a contacts CSV column holding one attribute.
pub const ATTRIBUTE_COLUMN: &str = "attribute:";
const CONTACT_COLUMNS: [&str; 7] = [
    "id",
    "inbox_id",
    "phone",
    "name",
    "labels",
    "opted_out",
    "conversation_id",
];

fn csv_error(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("csv: {e}"))
}

/// A cell a spreadsheet will show as text: one starting with `=`, `+`, `-`, `@` (or a
/// tab or carriage return) would be run as a formula, so it gets a leading `'`.
pub fn cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    }
}

/// A whole conversation: its state, every message oldest first, and its activity lines.
#[derive(Serialize)]
pub struct ConversationExport {
    pub exported_at: String,
    pub conversation: Conversation,
    pub messages: Vec<Message>,
    pub activities: Vec<Activity>,
}

/// Reads a conversation the caller may see, whole, and audits the export.
pub async fn conversation(
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    id: &str,
    format: &str,
) -> Result<ConversationExport, AppError> {
    let conversation = crate::workflow::visible_conversation(state, principal, id).await?;
    let mut messages = Vec::new();
    let mut before: Option<Cursor> = None;
    loop {
        let page = state.store.load_messages(id, before, 500).await?;
        messages.extend(page.messages);
        match page.next.as_deref().and_then(Cursor::decode) {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    messages.reverse();
    let activities = state.store.activities(id, 100_000).await?;
    let target = Some(format!(
        "conversation with {}",
        conversation.contact.display_name()
    ));
    let changes = Diff::default().field("format", None, Some(format)).done();
    audit::record(
        &state.store,
        actor,
        "conversation.exported",
        target,
        changes,
    )
    .await;
    Ok(ConversationExport {
        exported_at: rfc3339(crate::store::now_ms()),
        conversation,
        messages,
        activities,
    })
}

/// The conversation as a person reads it: one line per message and activity, in time
/// order, times in UTC.
pub fn conversation_text(export: &ConversationExport) -> String {
    let c = &export.conversation;
    let contact = c.contact.display_name();
    let mut out = format!(
        "Conversation with {contact}{}\nStatus: {}{}\nExported {} (times are UTC)\n\n",
        c.contact
            .wa_id
            .as_ref()
            .map(|w| format!(" (+{w})"))
            .unwrap_or_default(),
        c.status.as_str(),
        c.assignee
            .as_ref()
            .map(|a| format!(", assigned to {}", a.name))
            .unwrap_or_default(),
        export.exported_at,
    );
    // Messages keep their thread order; each activity goes before the first message
    // stored after it (both times are our clock, in ms).
    let mut activities = export.activities.iter().peekable();
    let mut line = |at_ms: i64, text: String| {
        let time = rfc3339(at_ms).replace('T', " ").replace('Z', "");
        out.push_str(&format!("{time}  {text}\n"));
    };
    for m in export.messages.iter().filter(|m| !m.is_reaction()) {
        while let Some(a) = activities.next_if(|a| a.at < m.created_at) {
            line(a.at, format!("-- {}", a.describe()));
        }
        let who = match (m.direction, &m.sent_by) {
            (Direction::In, _) => contact.clone(),
            (Direction::Note, Some(by)) => format!("Note by {}", by.name),
            (Direction::Note, None) => "Note".into(),
            (_, Some(by)) => by.name.clone(),
            (_, None) => "Business".into(),
        };
        let mut text = m.preview();
        if let Some(media) = &m.details.media {
            let name = media.filename.as_deref().unwrap_or(m.kind.placeholder());
            text.push_str(&format!(" [{name}: /media/{}]", m.id));
        }
        if m.direction == Direction::Out && m.kind != MessageKind::Unsupported {
            text.push_str(&format!(" ({})", m.status.as_str()));
        }
        line(m.timestamp * 1000, format!("{who}: {text}"));
    }
    for a in activities {
        line(a.at, format!("-- {}", a.describe()));
    }
    out
}

/// The contacts the caller may see (of one inbox, if given), as CSV: the fixed columns,
/// then one `attribute:<name>` column per attribute any of them has.
pub async fn contacts_csv(
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    inbox_id: Option<&str>,
) -> Result<Vec<u8>, AppError> {
    if let Some(inbox) = inbox_id
        && !principal.can_see(inbox)
    {
        return Err(AppError::NotFound("inbox"));
    }
    // One inbox narrows the store's scope, so only its contacts are read.
    let scope = match inbox_id {
        Some(inbox) => Scope::Inboxes(vec![inbox.to_string()]),
        None => principal.scope.clone(),
    };
    let mut contacts: Vec<ContactEntry> = Vec::new();
    let mut filter = ContactFilter::default();
    loop {
        let page = state.store.list_contacts(&scope, &filter, 1000).await?;
        let Some(last) = page.last() else { break };
        filter.before = Some(last.contact.id.clone());
        contacts.extend(page);
    }
    let keys: BTreeSet<&String> = contacts
        .iter()
        .flat_map(|c| c.contact.attributes.keys())
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = CONTACT_COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(keys.iter().map(|k| format!("{ATTRIBUTE_COLUMN}{k}")));
    w.write_record(&header).map_err(csv_error)?;
    for e in &contacts {
        let c = &e.contact;
        let mut row = vec![
            c.id.clone(),
            e.inbox_id.clone(),
            c.wa_id
                .as_ref()
                .map(|w| format!("+{w}"))
                .unwrap_or_default(),
            cell(c.name.as_deref().unwrap_or_default()),
            c.labels.join(";"),
            c.opted_out.to_string(),
            e.conversation_id.clone().unwrap_or_default(),
        ];
        row.extend(
            keys.iter()
                .map(|k| cell(c.attributes.get(*k).map(String::as_str).unwrap_or_default())),
        );
        w.write_record(&row).map_err(csv_error)?;
    }
    let changes = Diff::default()
        .field("contacts", None, Some(contacts.len()))
        .done();
    let target = inbox_id.map(|i| format!("inbox {i}"));
    audit::record(&state.store, actor, "contacts.exported", target, changes).await;
    w.into_inner().map_err(csv_error)
}

/// The audit log entries `filter` selects, newest first, as CSV.
pub async fn audit_csv(
    state: &AppState,
    actor: &Actor,
    mut filter: AuditFilter,
) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "time", "actor", "actor_id", "action", "target", "changes", "address",
    ])
    .map_err(csv_error)?;
    let mut rows = 0usize;
    loop {
        let page: Vec<AuditEntry> = state.store.audit_entries(&filter, 1000).await?;
        let Some(last) = page.last() else { break };
        filter.before = Some(last.id.clone());
        for e in &page {
            let changes = e
                .changes
                .iter()
                .map(|c| {
                    format!(
                        "{}: {} -> {}",
                        c.field,
                        c.old.as_deref().unwrap_or("(none)"),
                        c.new.as_deref().unwrap_or("(none)")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            w.write_record([
                rfc3339(e.at),
                cell(&e.actor),
                e.actor_id.clone().unwrap_or_default(),
                e.action.clone(),
                cell(e.target.as_deref().unwrap_or_default()),
                cell(&changes),
                e.address.clone().unwrap_or_default(),
            ])
            .map_err(csv_error)?;
        }
        rows += page.len();
    }
    let changes = Diff::default().field("entries", None, Some(rows)).done();
    audit::record(&state.store, actor, "audit.exported", None, changes).await;
    w.into_inner().map_err(csv_error)
}

/// One row of an import, parsed and checked.
struct ImportRow {
    line: u64,
    wa_id: String,
    update: ContactUpdate,
    labels_to_add: Vec<String>,
}

/// Reads a contacts CSV into rows, and the reasons rows (or the whole file) cannot be used.
fn parse_import(csv_text: &str) -> Result<(Vec<ImportRow>, Vec<ImportRowError>), AppError> {
    let text = csv_text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    // csv places a record after a blank line at the blank line, so count lines from the
    // first character the record really starts with.
    let line_at = |byte: u64| {
        let start = text.get(byte as usize..).map_or(text.len(), |rest| {
            text.len() - rest.trim_start_matches(['\r', '\n']).len()
        });
        1 + text[..start].matches('\n').count() as u64
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| AppError::BadRequest(format!("the file is not CSV: {e}")))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let phone_at = column("phone").ok_or_else(|| {
        AppError::BadRequest("the first line must name the columns, one of them \"phone\"".into())
    })?;
    for h in &header {
        if !CONTACT_COLUMNS.contains(&h.as_str()) && !h.starts_with(ATTRIBUTE_COLUMN) {
            return Err(AppError::BadRequest(format!(
                "unknown column {h:?}: use phone, name, labels, opted_out or attribute:<name> \
                 (id, inbox_id and conversation_id are ignored)"
            )));
        }
    }
    let (name_at, labels_at, opt_at) = (column("name"), column("labels"), column("opted_out"));
    let attributes: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| Some((i, h.strip_prefix(ATTRIBUTE_COLUMN)?.trim().to_string())))
        .collect();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // The file's own line number, so blank lines do not shift what the user sees.
        let line = match &record {
            Ok(r) => r.position().map(|p| line_at(p.byte())),
            Err(e) => e.position().map(|p| line_at(p.byte())),
        }
        .unwrap_or(i as u64 + 2);
        if rows.len() + errors.len() >= MAX_IMPORT_ROWS {
            return Err(AppError::BadRequest(format!(
                "at most {MAX_IMPORT_ROWS} rows per import; split the file"
            )));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(ImportRowError {
                    row: line,
                    message: format!("unreadable: {e}"),
                });
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let get = |at: Option<usize>| at.and_then(|i| record.get(i)).filter(|v| !v.is_empty());
        let parsed = (|| -> Result<ImportRow, String> {
            let wa_id = normalize_phone(get(Some(phone_at)).unwrap_or_default())?;
            let opted_out = match get(opt_at).map(str::to_lowercase).as_deref() {
                None => None,
                Some("true" | "yes" | "1" | "y") => Some(true),
                Some("false" | "no" | "0" | "n") => Some(false),
                Some(other) => return Err(format!("opted_out {other:?} is not yes or no")),
            };
            let labels_to_add: Vec<String> = get(labels_at)
                .map(|l| {
                    l.split([';', ','])
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let attrs: BTreeMap<String, String> = attributes
                .iter()
                .filter_map(|(i, k)| Some((k.clone(), get(Some(*i))?.to_string())))
                .collect();
            let update = crate::workflow::checked_contact_update(ContactUpdate {
                name: get(name_at).map(String::from),
                labels: (!labels_to_add.is_empty()).then(|| labels_to_add.clone()),
                attributes: (!attrs.is_empty()).then_some(attrs),
                opted_out,
            })
            .map_err(|e| e.to_string())?;
            Ok(ImportRow {
                line,
                wa_id,
                labels_to_add: update.labels.clone().unwrap_or_default(),
                update,
            })
        })();
        match parsed {
            Ok(row) => rows.push(row),
            Err(message) => errors.push(ImportRowError { row: line, message }),
        }
    }
    Ok((rows, errors))
}

/// Imports contacts into an inbox from CSV. A row's name, labels (added to the contact's),
/// attributes (set; a blank cell leaves one alone) and opt-out are applied to the contact
/// with its number, created without a conversation if new. Rows with errors are reported
/// and skipped; `dry_run` reports what would happen and writes nothing.
pub async fn import_contacts(
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    inbox_id: &str,
    csv_text: &str,
    dry_run: bool,
) -> Result<ContactImport, AppError> {
    if !principal.can_see(inbox_id) || state.store.inbox(inbox_id).await?.is_none() {
        return Err(AppError::NotFound("inbox"));
    }
    let (rows, errors) = parse_import(csv_text)?;
    let mut report = ContactImport {
        dry_run,
        errors,
        ..ContactImport::default()
    };
    let mut seen = BTreeSet::new();
    for mut row in rows {
        let existing = state.store.contact_by_number(inbox_id, &row.wa_id).await?;
        let current = existing.as_ref().map(|e| e.contact.clone());
        if let Some(c) = &current {
            // Labels in the file are added; attributes in the file are set, others kept.
            let mut labels = c.labels.clone();
            labels.extend(row.labels_to_add.iter().cloned());
            labels.sort();
            labels.dedup();
            row.update.labels = Some(labels);
            if let Some(attrs) = &mut row.update.attributes {
                let mut all = c.attributes.clone();
                all.append(attrs);
                if all.len() > 50 {
                    report.errors.push(ImportRowError {
                        row: row.line,
                        message: "the contact would have more than 50 attributes".into(),
                    });
                    continue;
                }
                *attrs = all;
            }
        }
        let is_new = current.is_none() && seen.insert(row.wa_id.clone());
        let changes = current.as_ref().is_none_or(|c| row.update.apply(c) != *c);
        if dry_run {
            match (is_new, changes) {
                (true, _) => report.created += 1,
                (false, true) => report.updated += 1,
                (false, false) => report.unchanged += 1,
            }
            continue;
        }
        let entry = match existing {
            Some(e) => e,
            None => state.store.ensure_contact(inbox_id, &row.wa_id).await?,
        };
        let before = entry.contact.clone();
        let after = state
            .store
            .update_contact(&entry.contact.id, &row.update)
            .await?;
        match (is_new, after.contact != before) {
            (true, _) => report.created += 1,
            (false, true) => report.updated += 1,
            (false, false) => report.unchanged += 1,
        }
    }
    if !dry_run {
        let changes = Diff::default()
            .field("created", None, Some(report.created))
            .field("updated", None, Some(report.updated))
            .field("rows_with_errors", None, Some(report.errors.len() as u64))
            .done();
        let target = Some(format!("inbox {inbox_id}"));
        audit::record(&state.store, actor, "contacts.imported", target, changes).await;
    }
    report.errors.sort_by_key(|e| e.row);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_quoted() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+44 7700"), "'+44 7700");
        assert_eq!(cell("@ana"), "'@ana");
        assert_eq!(cell("Ana"), "Ana");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn an_import_reports_each_bad_row_by_its_line_and_keeps_the_good_ones() {
        let text = "\u{feff}Phone,Name,Labels,opted_out,attribute:plan\n\
                    +44 7700 900123,Zoe,vip;Wholesale,no,gold\n\
                    hello,Bad,,,\n\
                    \n\
                    +1 415 555 0100,,bad label!,,\n\
                    +1 415 555 0101,Al,,maybe,\n";
        let (rows, errors) = parse_import(text).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].wa_id, "447700900123");
        assert_eq!(rows[0].labels_to_add, ["vip", "wholesale"]);
        assert_eq!(rows[0].update.opted_out, Some(false));
        let lines: Vec<u64> = errors.iter().map(|e| e.row).collect();
        assert_eq!(lines, [3, 5, 6], "{errors:?}");
        assert!(errors[2].message.contains("maybe"));
    }

    #[test]
    fn an_import_without_a_phone_column_or_with_an_unknown_one_is_refused() {
        assert!(parse_import("name\nZoe\n").is_err());
        assert!(parse_import("phone,email\n+447700900123,z@x\n").is_err());
    }
}
