//! The job runner: durable background work (media downloads, send retries, snooze ends,
//! outgoing webhooks) that must
//! survive a restart and run once however many instances share the database.
//!
//! Each kind of job has its own lane (its own claims and its own limit), so slow media
//! downloads can never starve sends. A lane claims due jobs atomically in the store: a
//! claim leases the job (its due time moves past the lease), so another instance, or
//! this one on its next tick, does not see it due while it runs. The handler re-reads
//! what the job is about before acting, and ends the job, reschedules it, or, when it
//! fails, the lane gives it back with a growing backoff. An instance that dies holding a
//! job leaves it to whoever claims it once the lease runs out.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::context::AppState;
use crate::store::{Job, JobKind, StoreResult, now_ms};

/// How often a lane looks for due jobs when nobody wakes it.
const TICK: Duration = Duration::from_millis(500);

/// A job that failed with an error waits this long, doubling per failed run...
const FAILURE_BACKOFF: Duration = Duration::from_secs(1);
/// ...up to this.
const MAX_FAILURE_BACKOFF: Duration = Duration::from_secs(300);

/// One kind of job: how many run at once and how long a claim holds.
struct Lane {
    kind: JobKind,
    parallel: usize,
    /// Longer than any run of the job can take, or a second instance would start it.
    lease: Duration,
}

/// A send attempt takes at most the Graph timeout plus a file upload (itself capped at
/// [`crate::whatsapp::client::MAX_UPLOAD_TIMEOUT`]); the same lease the creator of a new
/// message holds its first attempt by.
const SEND_LEASE: Duration = Duration::from_millis(crate::store::SEND_LEASE_MS as u64);
/// A download of Meta's largest file (100 MB) on a slow link.
const MEDIA_LEASE: Duration = Duration::from_secs(900);

const LANES: [Lane; 4] = [
    Lane {
        kind: JobKind::Send,
        parallel: 8,
        lease: SEND_LEASE,
    },
    Lane {
        kind: JobKind::Media,
        parallel: 4,
        lease: MEDIA_LEASE,
    },
    // Opening a snoozed conversation is one small write.
    Lane {
        kind: JobKind::Wake,
        parallel: 4,
        lease: Duration::from_secs(60),
    },
    // One job per subscription, so one delivery at a time each, in seq order.
    Lane {
        kind: JobKind::Webhook,
        parallel: 8,
        lease: crate::webhooks::LEASE,
    },
];

pub fn start(state: AppState) {
    // Names this instance in the claims it makes (for the operator reading the table).
    let owner = format!("{}:{}", std::process::id(), crate::store::new_id());
    for lane in LANES {
        tokio::spawn(run_lane(state.clone(), lane, owner.clone()));
    }
}

async fn run_lane(state: AppState, lane: Lane, owner: String) {
    let slots = Arc::new(Semaphore::new(lane.parallel));
    loop {
        let free = slots.available_permits();
        if free > 0 {
            let lease = lane.lease.as_millis() as i64;
            match state
                .store
                .claim_jobs(lane.kind, now_ms(), &owner, lease, free)
                .await
            {
                Ok(jobs) => {
                    for job in jobs {
                        let Ok(slot) = slots.clone().acquire_owned().await else {
                            return;
                        };
                        let state = state.clone();
                        // Every line a job run logs carries its kind and key.
                        let span =
                            tracing::info_span!("job", kind = job.kind.as_str(), key = %job.key);
                        tokio::spawn(
                            async move {
                                run_claimed(&state, &job).await;
                                drop(slot);
                            }
                            .instrument(span),
                        );
                    }
                }
                Err(e) => tracing::warn!(kind = lane.kind.as_str(), error = %e,
                    "jobs: cannot claim due jobs; will retry"),
            }
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = state.jobs.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

async fn run_claimed(state: &AppState, job: &Job) {
    let result: StoreResult<()> = match job.kind {
        JobKind::Media => crate::media::run_job(state, job).await,
        JobKind::Send => crate::outbound::dispatch::run_job(state, job).await,
        JobKind::Wake => crate::workflow::run_wake_job(state, job).await,
        JobKind::Webhook => crate::webhooks::run_job(state, job).await,
    };
    state.metrics.job(job.kind.as_str(), result.is_ok());
    if let Err(e) = result {
        let wait = failure_backoff(job.claims);
        tracing::warn!(kind = job.kind.as_str(), key = %job.key, claims = job.claims,
            wait_ms = wait.as_millis() as u64, error = %e, "jobs: job failed; it will run again");
        let due = now_ms() + wait.as_millis() as i64;
        if let Err(e) = state.store.release_job(job.kind, &job.key, due).await {
            // The lease still ends by itself; the job is not lost.
            tracing::warn!(kind = job.kind.as_str(), key = %job.key, error = %e,
                "jobs: cannot give the job back; it runs again when its lease ends");
        }
    }
}

/// The wait after the `claims`-th run of a job ended in an error: 1 s, 2 s, 4 s, … 5 min.
fn failure_backoff(claims: i64) -> Duration {
    let doublings = u32::try_from(claims.clamp(1, 20) - 1).unwrap_or(0);
    FAILURE_BACKOFF
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(MAX_FAILURE_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_job_backs_off_and_never_reruns_every_tick() {
        assert_eq!(failure_backoff(1), Duration::from_secs(1));
        assert_eq!(failure_backoff(4), Duration::from_secs(8));
        assert_eq!(failure_backoff(100), MAX_FAILURE_BACKOFF);
        assert!((1..100).all(|n| failure_backoff(n) >= TICK));
    }
}
