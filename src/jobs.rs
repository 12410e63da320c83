//! The job runner: durable background work (media downloads, send retries) that must
//! survive a restart. Jobs live in the store; this loop picks up the due ones.

use std::time::Duration;

use crate::server::state::AppState;
use crate::store::{JobKind, now_ms};

/// How often the runner looks for due jobs when nobody wakes it.
const TICK: Duration = Duration::from_millis(500);

/// Jobs run at the same time, at most.
const PARALLEL: usize = 8;

pub fn start(state: AppState) {
    tokio::spawn(async move {
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        let running = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        loop {
            match state.store.due_jobs(now_ms(), 100).await {
                Ok(jobs) => {
                    for job in jobs {
                        let key = (job.kind, job.key.clone());
                        // A job still running from the last tick is not started twice.
                        if !running
                            .lock()
                            .map(|mut r| r.insert(key.clone()))
                            .unwrap_or(false)
                        {
                            continue;
                        }
                        let Ok(permit) = limit.clone().acquire_owned().await else {
                            return;
                        };
                        let state = state.clone();
                        let running = running.clone();
                        tokio::spawn(async move {
                            let result = match job.kind {
                                JobKind::Media => crate::media::run_job(&state, &job).await,
                                JobKind::Send => {
                                    crate::outbound::dispatch::run_job(&state, &job).await
                                }
                            };
                            if let Err(e) = result {
                                tracing::warn!(kind = job.kind.as_str(), key = %job.key, error = %e,
                                    "jobs: job failed; it stays scheduled");
                            }
                            if let Ok(mut r) = running.lock() {
                                r.remove(&key);
                            }
                            drop(permit);
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "jobs: cannot read due jobs; will retry"),
            }
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = state.jobs.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    });
}
