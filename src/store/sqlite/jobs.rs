//! Background jobs, claimed with their lease in the same write.

use super::*;

/// Creates or replaces a job; any claim on it ends (used inside other writes too, so a
/// job is stored with the change that makes it necessary).
pub(super) fn put_job(conn: &Connection, job: &Job) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO jobs (kind, key, due_at, attempts, owner, claims) \
         VALUES (?1, ?2, ?3, ?4, NULL, 0) \
         ON CONFLICT (kind, key) DO UPDATE SET due_at = ?3, attempts = ?4, owner = NULL, claims = 0",
    )
    .and_then(|mut s| s.execute(params![job.kind.as_str(), job.key, job.due_at, job.attempts]))
    .map_err(map_err)?;
    Ok(())
}

pub(super) type JobRow = (String, String, i64, i64, i64);
pub(super) fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

pub(super) fn jobs_of(rows: Vec<JobRow>) -> Vec<Job> {
    rows.into_iter()
        .filter_map(|(kind, key, due_at, attempts, claims)| {
            Some(Job {
                kind: JobKind::parse(&kind)?,
                key,
                due_at,
                attempts,
                claims,
            })
        })
        .collect()
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn schedule_job(&self, job: Job) -> StoreResult<()> {
        self.write(move |tx| put_job(tx.conn, &job)).await
    }

    async fn add_job_if_missing(&self, job: Job) -> StoreResult<bool> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO jobs (kind, key, due_at, attempts) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (kind, key) DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        job.kind.as_str(),
                        job.key,
                        job.due_at,
                        job.attempts
                    ])
                })
                .map(|n| n > 0)
                .map_err(map_err)
        })
        .await
    }

    async fn due_jobs(&self, now: i64, limit: usize) -> StoreResult<Vec<Job>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT kind, key, due_at, attempts, claims FROM jobs WHERE due_at <= ?1 \
                 ORDER BY due_at LIMIT ?2",
            )
            .and_then(|mut s| s.query_map(params![now, limit as i64], job_row)?.collect())
            .map(jobs_of)
            .map_err(map_err)
        })
        .await
    }

    async fn count_due_jobs(&self, now: i64) -> StoreResult<u64> {
        self.read(move |c| {
            c.prepare_cached("SELECT COUNT(*) FROM jobs WHERE due_at <= ?1")
                .and_then(|mut s| s.query_row(params![now], |r| r.get::<_, i64>(0)))
                .map(|n| n.max(0) as u64)
                .map_err(map_err)
        })
        .await
    }

    async fn claim_jobs(
        &self,
        kind: JobKind,
        now: i64,
        owner: &str,
        lease_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Job>> {
        let owner = owner.to_string();
        // One statement picks and leases, inside the writer's IMMEDIATE transaction, so
        // another process on the same file waits for the lock and then sees the new due
        // times.
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "UPDATE jobs SET due_at = ?2 + ?4, owner = ?3, claims = claims + 1 \
                     WHERE rowid IN (SELECT rowid FROM jobs WHERE kind = ?1 AND due_at <= ?2 \
                     ORDER BY due_at LIMIT ?5) \
                     RETURNING kind, key, due_at, attempts, claims",
                )
                .and_then(|mut s| {
                    s.query_map(
                        params![kind.as_str(), now, owner, lease_ms, limit as i64],
                        job_row,
                    )?
                    .collect()
                })
                .map(jobs_of)
                .map_err(map_err)
        })
        .await
    }

    async fn release_job(&self, kind: JobKind, key: &str, due_at: i64) -> StoreResult<()> {
        let key = key.to_string();
        self.write(move |tx| {
            exec(
                tx.conn,
                "UPDATE jobs SET due_at = ?3, owner = NULL WHERE kind = ?1 AND key = ?2",
                params![kind.as_str(), key, due_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn finish_job(&self, kind: JobKind, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.write(move |tx| {
            exec(
                tx.conn,
                "DELETE FROM jobs WHERE kind = ?1 AND key = ?2",
                params![kind.as_str(), key],
            )?;
            Ok(())
        })
        .await
    }
}
