//! The admin page's audit log: who did what and when, filtered, paged, and downloadable
//! as CSV with the same filters.

use leptos::prelude::*;

use super::time::{utc_date_time, utc_day_start_ms};
use crate::api::list_audit_log;
use crate::model::{AUDIT_ACTIONS, AuditEntry, AuditPage, User};

/// The filters as the form holds them; empty means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Filters {
    actor: String,
    action: String,
    from: String,
    to: String,
}

impl Filters {
    fn since(&self) -> Option<i64> {
        utc_day_start_ms(&self.from)
    }

    /// The end of the "to" day: the next day's start.
    fn until(&self) -> Option<i64> {
        utc_day_start_ms(&self.to).map(|t| t + 86_400_000)
    }

    async fn fetch(self, before: Option<String>) -> Result<AuditPage, crate::error::ApiError> {
        let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
        list_audit_log(
            some(&self.actor),
            some(&self.action),
            self.since(),
            self.until(),
            before,
            Some(50),
        )
        .await
    }

    /// The CSV download's address, with these filters.
    fn csv_href(&self) -> String {
        let mut q = Vec::new();
        let enc = |v: &str| {
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        if !self.actor.is_empty() {
            q.push(format!("actor={}", enc(&self.actor)));
        }
        if !self.action.is_empty() {
            q.push(format!("action={}", enc(&self.action)));
        }
        if let Some(s) = self.since() {
            q.push(format!("since={s}"));
        }
        if let Some(u) = self.until() {
            q.push(format!("until={u}"));
        }
        if q.is_empty() {
            "/export/audit.csv".into()
        } else {
            format!("/export/audit.csv?{}", q.join("&"))
        }
    }
}

#[component]
pub fn AuditLog(users: Vec<User>) -> impl IntoView {
    let filters = RwSignal::new(Filters::default());
    // Loaded in the browser: the log sits below the fold, so the page need not wait for it
    // (and it sits inside the admin page's own `Suspense`).
    let reload = RwSignal::new(0u64);
    let first = super::loaded_in_browser(move || {
        reload.track();
        filters.get().fetch(None)
    });
    // Later pages, appended by "Load more"; a new filter starts over.
    let more = Action::new(|(f, before): &(Filters, String)| {
        super::sendable(f.clone().fetch(Some(before.clone())))
    });
    let extra = RwSignal::new(Vec::<AuditEntry>::new());
    let next = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        filters.track();
        reload.track();
        extra.set(Vec::new());
    });
    Effect::new(move |_| {
        if let Some(Ok(page)) = first.get() {
            next.set(page.next.clone());
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(page)) = more.value().get() {
            extra.update(|e| e.extend(page.entries.clone()));
            next.set(page.next.clone());
        }
    });
    let field = move |f: fn(&mut Filters) -> &mut String| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            filters.update(|x| *f(x) = value);
        }
    };
    let mut people: Vec<String> = users.into_iter().map(|u| u.email).collect();
    people.extend(["cli".to_string(), "system".to_string()]);
    view! {
        <h2 id="audit">"Audit log"</h2>
        <p class="hint">"Sign-ins and every administrative change, newest first. Times are UTC; "
            "secrets are never recorded, only that they changed."</p>
        <div class="audit-filters" data-testid="audit-filters">
            <super::Interactive>
                <label>"Who"
                    <select data-testid="audit-actor" on:change=field(|f| &mut f.actor)>
                        <option value="">"Anyone"</option>
                        {people.into_iter().map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Action"
                    <select data-testid="audit-action" on:change=field(|f| &mut f.action)>
                        <option value="">"Any"</option>
                        {AUDIT_ACTIONS.iter().map(|a| view! { <option value=*a>{*a}</option> }).collect_view()}
                    </select>
                </label>
                <label>"From"<input type="date" data-testid="audit-from" on:change=field(|f| &mut f.from)/></label>
                <label>"To"<input type="date" data-testid="audit-to" on:change=field(|f| &mut f.to)/></label>
            </super::Interactive>
            <a class="button-link" data-testid="audit-csv" download
                href=move || filters.with(Filters::csv_href)>"Download CSV"</a>
            <button class="link" data-testid="audit-refresh" on:click=move |_| reload.update(|n| *n += 1)>"Refresh"</button>
        </div>
        {move || match first.get() {
            None => view! { <p class="hint">"Loading…"</p> }.into_any(),
            Some(Ok(page)) if page.entries.is_empty() => view! {
                <p class="hint" data-testid="audit-empty">"Nothing matches these filters."</p>
            }.into_any(),
            Some(Ok(page)) => view! {
                <super::TableScroll label="Audit log entries">
                    <table class="audit" data-testid="audit-log">
                        <thead><tr>
                            <th>"Time (UTC)"</th><th>"Who"</th><th>"Action"</th>
                            <th>"What"</th><th>"Changes"</th><th>"From"</th>
                        </tr></thead>
                        <tbody>
                            {page.entries.into_iter().map(|e| view! { <AuditRow entry=e/> }).collect_view()}
                            {move || extra.get().into_iter().map(|e| view! { <AuditRow entry=e/> }).collect_view()}
                        </tbody>
                    </table>
                </super::TableScroll>
            }.into_any(),
            Some(Err(e)) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
        }}
        {move || next.get().map(|before| view! {
            <button class="link" data-testid="audit-more" disabled=move || more.pending().get()
                on:click=move |_| { more.dispatch((filters.get_untracked(), before.clone())); }>
                "Load more"
            </button>
        })}
    }
}

#[component]
fn AuditRow(entry: AuditEntry) -> impl IntoView {
    let changes = entry
        .changes
        .iter()
        .map(|c| {
            view! {
                <li>
                    <span class="field">{c.field.clone()}</span>": "
                    <span class="old">{c.old.clone().unwrap_or_else(|| "—".into())}</span>
                    " → "
                    <span class="new">{c.new.clone().unwrap_or_else(|| "—".into())}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <tr data-testid="audit-row" data-action=entry.action.clone()>
            <td class="when">{utc_date_time(entry.at)}</td>
            <td>{entry.actor.clone()}</td>
            <td><code>{entry.action.clone()}</code></td>
            <td>{entry.target.clone().unwrap_or_default()}</td>
            <td><ul class="changes">{changes}</ul></td>
            <td>{entry.address.clone().unwrap_or_default()}</td>
        </tr>
    }
}
