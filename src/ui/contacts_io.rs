//! The contacts page's import and export: download every contact as CSV; pick a CSV file
//! and an inbox, check it (a dry run that lists each bad row), then import.

use leptos::prelude::*;

use super::Interactive;
use crate::api::{import_contacts, server_info};
use crate::model::ContactImport;

/// Reads a picked file's text in the browser.
#[cfg(feature = "hydrate")]
async fn read_picked(input: &web_sys::HtmlInputElement) -> Result<String, String> {
    let file = input
        .files()
        .and_then(|f| f.get(0))
        .ok_or("pick a CSV file first")?;
    let text = wasm_bindgen_futures::JsFuture::from(file.text())
        .await
        .map_err(|_| "the file could not be read".to_string())?;
    text.as_string()
        .ok_or_else(|| "the file is not text".into())
}

#[component]
pub fn ContactsTransfer() -> impl IntoView {
    let info = Resource::new(|| (), |_| server_info());
    view! {
        <details class="contacts-transfer" data-testid="contacts-transfer">
            <summary>"Import / export"</summary>
            <a class="button-link" href="/export/contacts.csv" download data-testid="contacts-csv">
                "Download all as CSV"
            </a>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let inboxes: Vec<(String, String)> = info
                        .await
                        .map(|i| {
                            i.inboxes
                                .into_iter()
                                .map(|i| (i.id, i.name.unwrap_or(i.phone_number_id)))
                                .collect()
                        })
                        .unwrap_or_default();
                    view! { <ImportForm inboxes/> }
                })}
            </Suspense>
        </details>
    }
}

#[component]
fn ImportForm(inboxes: Vec<(String, String)>) -> impl IntoView {
    let inbox = RwSignal::new(inboxes.first().map(|i| i.0.clone()).unwrap_or_default());
    let file = NodeRef::<leptos::html::Input>::new();
    let run = Action::new(move |dry_run: &bool| {
        let dry_run = *dry_run;
        let inbox = inbox.get_untracked();
        #[cfg(feature = "hydrate")]
        let input = file.get_untracked();
        super::sendable(async move {
            #[cfg(feature = "hydrate")]
            let csv = match input {
                Some(input) => read_picked(&input)
                    .await
                    .map_err(crate::error::ApiError::bad_request)?,
                None => return Err(crate::error::ApiError::bad_request("pick a CSV file first")),
            };
            #[cfg(not(feature = "hydrate"))]
            let csv = String::new();
            import_contacts(inbox, csv, dry_run).await
        })
    });
    let problem = move || super::action_error(run);
    view! {
        <form class="contacts-import" data-testid="contacts-import" on:submit=|ev| ev.prevent_default()>
            <Interactive>
                <p class="hint">"Columns: "<code>"phone"</code>" (required), "<code>"name"</code>", "
                    <code>"labels"</code>" (separated by ;), "<code>"opted_out"</code>" (yes/no), "
                    <code>"attribute:<name>"</code>". Labels are added, attributes set; a blank cell changes nothing."</p>
                <label>"Inbox"
                    <select data-testid="import-inbox" on:change=move |ev| inbox.set(event_target_value(&ev))>
                        {inboxes.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                    </select>
                </label>
                <input type="file" accept=".csv,text/csv" node_ref=file data-testid="import-file"
                    aria-label="CSV file"/>
                <div class="row-actions">
                    <button type="button" data-testid="import-check" disabled=move || run.pending().get()
                        on:click=move |_| { run.dispatch(true); }>"Check"</button>
                    <button type="button" data-testid="import-apply" disabled=move || run.pending().get()
                        on:click=move |_| { run.dispatch(false); }>"Import"</button>
                </div>
            </Interactive>
            {move || problem().map(|p| view! { <p class="error" role="alert" data-testid="import-error">{p}</p> })}
            {move || run.value().get().and_then(Result::ok).map(|r| view! { <ImportReport report=r/> })}
        </form>
    }
}

#[component]
fn ImportReport(report: ContactImport) -> impl IntoView {
    let verb = if report.dry_run {
        "Would create"
    } else {
        "Created"
    };
    let summary = format!(
        "{verb} {}, {} {}, {} unchanged, {} row(s) with errors.",
        report.created,
        if report.dry_run { "update" } else { "updated" },
        report.updated,
        report.unchanged,
        report.errors.len()
    );
    view! {
        <div class="import-report" data-testid="import-report" role="status">
            <p>{summary}</p>
            {(!report.errors.is_empty()).then(|| view! {
                <table class="import-errors" data-testid="import-errors">
                    <thead><tr><th>"Line"</th><th>"Problem"</th></tr></thead>
                    <tbody>
                        {report.errors.into_iter().map(|e| view! {
                            <tr><td>{e.row}</td><td>{e.message}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </div>
    }
}
