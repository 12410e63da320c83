//! Outgoing webhooks: each stored event, as its `/ws` frame, POSTed to the URLs admins
//! subscribe, signed, in `seq` order, at least once.
//!
//! Delivery is a durable job per subscription (`JobKind::Webhook`, keyed by its id), so
//! one instance at a time works it and a restart loses nothing. The job walks the event
//! log from the subscription's cursor, posts what the subscription wants, and moves the
//! cursor with a compare-and-set after each delivery; a failure stops the walk and the
//! job comes back after a growing wait. Caught up, it looks again after [`POLL`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::audit::{self, Actor, Diff};
use crate::context::metrics::Stage;
use crate::context::{AppError, AppState};
use crate::model::{CreatedWebhookSubscription, WebhookSubscription, normalize_event_types};
use crate::store::DynStore;
use crate::store::{
    Event, Job, JobKind, Progress, StoreResult, SubscriptionRecord, new_id, now_ms,
};

/// How soon a caught-up subscription looks for new events.
const POLL: Duration = Duration::from_secs(1);
/// One POST may take this long before it counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// A run stops starting deliveries after this long, so its job's lease always covers it.
const RUN_BUDGET: Duration = Duration::from_secs(30);
/// The job's lease: the run budget plus one delivery's timeout, with room to spare.
pub const LEASE: Duration = Duration::from_secs(90);
/// Events read from the log at a time.
const BATCH: usize = 100;
/// The first wait after a failed delivery; it doubles per failure up to the dispatcher's cap.
const RETRY_BASE: Duration = Duration::from_secs(2);
const MAX_URL_LEN: usize = 2048;

/// The client that posts deliveries. Redirects are not followed (a 3xx is a failure), so a
/// public URL cannot bounce a delivery onto a private address.
pub fn http_client(allow_private: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")));
    let builder = if allow_private {
        builder
    } else {
        // Checked again at connect time: a name may resolve elsewhere than when it was saved.
        builder.dns_resolver(std::sync::Arc::new(PublicOnly))
    };
    builder.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "webhooks: cannot build the HTTP client; using the default");
        reqwest::Client::new()
    })
}

/// Resolves names like the system does, but refuses any that lead to a private address.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolve_public(&host, 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Is `ip` reachable on the public internet (not private, loopback, link-local, ...)?
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // Carrier-grade NAT, 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local())
            }
        },
    }
}

/// The addresses of `host`, all of them public, or why not.
async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    match addrs.iter().find(|a| !is_public(a.ip())) {
        Some(a) => Err(private_refusal(host, a.ip())),
        None => Ok(addrs),
    }
}

fn private_refusal(host: &str, ip: IpAddr) -> String {
    format!(
        "{host} is a private, loopback or link-local address ({ip}); \
         set SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE=1 to allow it"
    )
}

/// The URL as it will be stored: http(s), with a host, and (unless allowed) public.
pub async fn check_url(raw: &str, allow_private: bool) -> Result<String, AppError> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return Err(AppError::BadRequest(format!(
            "url is longer than {MAX_URL_LEN} characters"
        )));
    }
    let url = reqwest::Url::parse(raw)
        .map_err(|e| AppError::BadRequest(format!("url {raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AppError::BadRequest(format!(
            "url must start with http:// or https://, not {}://",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AppError::BadRequest(
            "url must not carry a user name or password; the signature authenticates".into(),
        ));
    }
    let Some(host) = host_of(&url) else {
        return Err(AppError::BadRequest(format!("url {raw:?} has no host")));
    };
    if !allow_private {
        let port = url.port_or_known_default().unwrap_or(443);
        resolve_public(&host, port)
            .await
            .map_err(AppError::BadRequest)?;
    }
    Ok(url.to_string())
}

/// One subscription (there are few: the store reads them all).
async fn record(store: &DynStore, id: &str) -> StoreResult<Option<SubscriptionRecord>> {
    let subs = store.webhook_subscriptions().await?;
    Ok(subs.into_iter().find(|s| s.id == id))
}

async fn find(store: &DynStore, id: &str) -> Result<SubscriptionRecord, AppError> {
    record(store, id)
        .await?
        .ok_or(AppError::NotFound("webhook subscription"))
}

async fn head(store: &DynStore) -> StoreResult<i64> {
    Ok(store.event_bounds().await?.head)
}

/// Every inbox id must exist; returned sorted and without repeats.
async fn check_inboxes(store: &DynStore, ids: &[String]) -> Result<Vec<String>, AppError> {
    let known = store.list_inboxes().await?;
    let mut out: Vec<String> = Vec::new();
    for id in ids.iter().map(|i| i.trim()) {
        if !known.iter().any(|i| i.id == id) {
            return Err(AppError::BadRequest(format!("inbox {id:?} does not exist")));
        }
        if !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// Starts (or restarts) the subscription's delivery now (a job runner picks it up within
/// its tick; the API also wakes this instance's). A run already under way on another claim
/// is harmless: the cursor moves only by compare-and-set.
async fn kick(store: &DynStore, id: &str) -> StoreResult<()> {
    store
        .schedule_job(Job::new(JobKind::Webhook, id, now_ms(), 0))
        .await
}

pub async fn list(store: &DynStore) -> Result<Vec<WebhookSubscription>, AppError> {
    let head = head(store).await?;
    let subs = store.webhook_subscriptions().await?;
    Ok(subs.iter().map(|s| s.to_api(head)).collect())
}

/// A new subscription starts at the log's head: it gets what happens from now on.
pub async fn create(
    store: &DynStore,
    actor: &Actor,
    allow_private: bool,
    url: &str,
    events: &[String],
    inbox_ids: &[String],
) -> Result<CreatedWebhookSubscription, AppError> {
    let events = normalize_event_types(events).map_err(AppError::BadRequest)?;
    let inbox_ids = check_inboxes(store, inbox_ids).await?;
    let url = check_url(url, allow_private).await?;
    let cursor = head(store).await?;
    let sub = SubscriptionRecord {
        id: new_id(),
        url,
        secret: new_secret(),
        events,
        inbox_ids,
        paused: false,
        cursor,
        retrying: false,
        last_error: None,
        failing_since: None,
        created_at: now_ms(),
    };
    store.save_webhook_subscription(&sub).await?;
    kick(store, &sub.id).await?;
    tracing::info!(id = %sub.id, url = %sub.url, "webhooks: subscription created");
    let changes = Diff::default()
        .field("url", None, Some(&sub.url))
        .field("events", None, Some(listed(&sub.events)))
        .field("inbox_ids", None, Some(listed(&sub.inbox_ids)))
        .done();
    audit::record(store, actor, "webhook.created", Some(target(&sub)), changes).await;
    Ok(CreatedWebhookSubscription {
        subscription: sub.to_api(cursor),
        secret: sub.secret,
    })
}

/// What `update_webhook_subscription` may change; `None` leaves it.
#[derive(Default)]
pub struct Changes {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub inbox_ids: Option<Vec<String>>,
    pub paused: Option<bool>,
}

pub async fn update(
    store: &DynStore,
    actor: &Actor,
    allow_private: bool,
    id: &str,
    changes: Changes,
) -> Result<WebhookSubscription, AppError> {
    let mut sub = find(store, id).await?;
    let before = sub.clone();
    if let Some(events) = changes.events {
        sub.events = normalize_event_types(&events).map_err(AppError::BadRequest)?;
    }
    if let Some(inboxes) = changes.inbox_ids {
        sub.inbox_ids = check_inboxes(store, &inboxes).await?;
    }
    if let Some(url) = changes.url {
        sub.url = check_url(&url, allow_private).await?;
    }
    let resumed = sub.paused && changes.paused == Some(false);
    if let Some(paused) = changes.paused {
        sub.paused = paused;
    }
    store.save_webhook_subscription(&sub).await?;
    if resumed {
        kick(store, id).await?;
    }
    tracing::info!(id, url = %sub.url, paused = sub.paused, "webhooks: subscription changed");
    let diff = Diff::default()
        .field("url", Some(&before.url), Some(&sub.url))
        .field(
            "events",
            Some(listed(&before.events)),
            Some(listed(&sub.events)),
        )
        .field(
            "inbox_ids",
            Some(listed(&before.inbox_ids)),
            Some(listed(&sub.inbox_ids)),
        )
        .field("paused", Some(before.paused), Some(sub.paused))
        .done();
    audit::record(store, actor, "webhook.updated", Some(target(&sub)), diff).await;
    // Read back: delivery may have moved on meanwhile.
    let head = head(store).await?;
    Ok(find(store, id).await?.to_api(head))
}

pub async fn delete(store: &DynStore, actor: &Actor, id: &str) -> Result<(), AppError> {
    let sub = find(store, id).await?;
    if !store.delete_webhook_subscription(id).await? {
        return Err(AppError::NotFound("webhook subscription"));
    }
    store.finish_job(JobKind::Webhook, id).await?;
    tracing::info!(id, "webhooks: subscription deleted");
    audit::record(store, actor, "webhook.deleted", Some(target(&sub)), vec![]).await;
    Ok(())
}

/// Delivers again every kept event after `since` (default: all that are kept).
pub async fn replay(
    store: &DynStore,
    actor: &Actor,
    id: &str,
    since: Option<i64>,
) -> Result<WebhookSubscription, AppError> {
    let sub = find(store, id).await?;
    let bounds = store.event_bounds().await?;
    let since = since.unwrap_or(bounds.floor);
    if since < bounds.floor || since > bounds.head {
        return Err(AppError::BadRequest(format!(
            "since must be between {} and {} (the events kept); got {since}",
            bounds.floor, bounds.head
        )));
    }
    if !store.rewind_webhook_subscription(id, since).await? {
        return Err(AppError::NotFound("webhook subscription"));
    }
    if !sub.paused {
        kick(store, id).await?;
    }
    tracing::info!(id, since, "webhooks: replay asked for");
    let diff = Diff::default().field("since", None, Some(since)).done();
    audit::record(store, actor, "webhook.replayed", Some(target(&sub)), diff).await;
    Ok(find(store, id).await?.to_api(bounds.head))
}

/// How the audit log names a subscription.
fn target(sub: &SubscriptionRecord) -> String {
    format!("webhook {}", sub.url)
}

/// A list as the audit log shows it; empty means "all".
fn listed(items: &[String]) -> String {
    if items.is_empty() {
        "(all)".into()
    } else {
        items.join(", ")
    }
}

/// 32 random bytes, hex: the HMAC key of one subscription.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", hex::encode(bytes))
}

/// The lowest seq still owed to a subscription: the event log keeps everything after it,
/// paused subscriptions included (what a failing receiver missed stays for a replay).
/// Deleting a subscription lets go of its events.
pub async fn owed_from(state: &AppState) -> StoreResult<Option<i64>> {
    let subs = state.store.webhook_subscriptions().await?;
    Ok(subs.iter().map(|s| s.cursor).min())
}

/// One run of a subscription's delivery job.
pub async fn run_job(state: &AppState, job: &Job) -> StoreResult<()> {
    let store = &state.store;
    let Some(sub) = record(store, &job.key).await? else {
        return store.finish_job(JobKind::Webhook, &job.key).await;
    };
    if sub.paused {
        // Resuming schedules it again.
        return store.finish_job(JobKind::Webhook, &job.key).await;
    }
    let mut cursor = sub.cursor;
    let floor = store.event_bounds().await?.floor;
    if cursor < floor {
        let lost = format!(
            "events {}..={floor} left the event log before they were delivered",
            cursor + 1
        );
        tracing::warn!(id = %sub.id, cursor, floor, "webhooks: {lost}");
        if !store
            .record_webhook_progress(&sub.id, cursor, floor, &Progress::Failed(lost))
            .await?
        {
            return again(state, &sub.id, 0, Duration::ZERO).await;
        }
        cursor = floor;
    }
    let started = Instant::now();
    loop {
        let events = store.events_after(cursor, BATCH).await?;
        if events.is_empty() {
            return again(state, &sub.id, 0, POLL).await;
        }
        // Skipped events (not wanted) move the cursor with the next write.
        let mut handled = cursor;
        for event in &events {
            if !sub.wants(event) {
                handled = event.seq;
                continue;
            }
            let outcome = deliver(state, &sub, event).await;
            // Failing for longer than allowed: paused, with the reason, to be replayed.
            let give_up = outcome.is_err()
                && sub.failing_since.is_some_and(|t| {
                    now_ms() - t > state.config.webhook_max_retry.as_millis() as i64
                });
            let (to, progress) = match outcome {
                Ok(()) => (event.seq, Progress::Delivered),
                Err(reason) if give_up => (
                    handled,
                    Progress::Failed(format!(
                        "paused after failing for longer than {} s: {reason}",
                        state.config.webhook_max_retry.as_secs()
                    )),
                ),
                Err(reason) => (handled, Progress::Failed(reason)),
            };
            if !store
                .record_webhook_progress(&sub.id, cursor, to, &progress)
                .await?
            {
                // Replayed or deleted meanwhile: start over from what is stored.
                return again(state, &sub.id, 0, Duration::ZERO).await;
            }
            cursor = to;
            if give_up {
                // Read again, so an admin's change made meanwhile is kept.
                if let Some(mut paused) = record(store, &sub.id).await? {
                    paused.paused = true;
                    store.save_webhook_subscription(&paused).await?;
                }
                tracing::warn!(id = %sub.id, seq = event.seq, "webhooks: failing too long; paused");
                return store.finish_job(JobKind::Webhook, &sub.id).await;
            }
            if let Progress::Failed(reason) = progress {
                let attempt = job.attempts + 1;
                let wait = crate::outbound::dispatch::backoff(RETRY_BASE, 2, attempt);
                tracing::warn!(id = %sub.id, seq = event.seq, attempt, %reason,
                    wait_ms = wait.as_millis() as u64, "webhooks: delivery failed; will retry");
                return again(state, &sub.id, attempt, wait).await;
            }
            handled = cursor;
        }
        if handled > cursor {
            if !store
                .record_webhook_progress(&sub.id, cursor, handled, &Progress::Delivered)
                .await?
            {
                return again(state, &sub.id, 0, Duration::ZERO).await;
            }
            cursor = handled;
        }
        if started.elapsed() > RUN_BUDGET {
            return again(state, &sub.id, 0, Duration::ZERO).await;
        }
    }
}

async fn again(state: &AppState, id: &str, attempts: i64, wait: Duration) -> StoreResult<()> {
    let due = now_ms() + wait.as_millis() as i64;
    state
        .store
        .schedule_job(Job::new(JobKind::Webhook, id, due, attempts))
        .await
}

/// POSTs one event; `Err` says why it did not count as delivered.
async fn deliver(state: &AppState, sub: &SubscriptionRecord, event: &Event) -> Result<(), String> {
    let body = event.frame_json();
    // A literal IP in the URL never reaches the resolver, so it is checked here.
    if !state.config.webhook_allow_private
        && let Ok(url) = reqwest::Url::parse(&sub.url)
        && let Some(ip) = literal_ip(&url)
        && !is_public(ip)
    {
        return Err(private_refusal(&ip.to_string(), ip));
    }
    let signature = crate::whatsapp::signature::sign(sub.secret.as_bytes(), body.as_bytes());
    let started = Instant::now();
    let sent = state
        .webhook_http
        .post(&sub.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Switchboard-Signature", signature)
        .header("X-Switchboard-Delivery", new_id())
        .header("X-Switchboard-Timestamp", (now_ms() / 1000).to_string())
        .body(body)
        .send()
        .await;
    state
        .metrics
        .observe(Stage::OutgoingWebhook, started.elapsed());
    match sent {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("answered {}", r.status())),
        // The URL is on the subscription already; the reason is what is worth reading.
        Err(e) => Err(error_chain(&e.without_url())),
    }
}

/// The host as a resolver takes it (an IPv6 literal without its brackets).
fn host_of(url: &reqwest::Url) -> Option<String> {
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    (!host.is_empty()).then(|| host.to_string())
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    host_of(url)?.parse().ok()
}

/// reqwest's top-level message ("error sending request") hides the cause; name it.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_not_public() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[tokio::test]
    async fn a_url_must_be_http_without_credentials_and_public_unless_allowed() {
        for bad in [
            "ftp://example.com/x",
            "not a url",
            "https://user:pw@example.com/",
            "http://127.0.0.1:9/hook",
            "http://[::1]/hook",
            "http://10.0.0.5/hook",
            "http://localhost/hook",
        ] {
            assert!(
                matches!(check_url(bad, false).await, Err(AppError::BadRequest(_))),
                "{bad} must be refused"
            );
        }
        let ok = check_url(" http://127.0.0.1:9/hook ", true).await.unwrap();
        assert_eq!(ok, "http://127.0.0.1:9/hook");
        let refused = check_url("http://10.0.0.5/hook", false).await.unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE")
        );
    }
}
