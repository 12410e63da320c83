//! Background jobs, claimed with their lease in one `findOneAndUpdate`.

use super::*;

/// Numbers may come back as 32- or 64-bit integers (or doubles from other writers).
pub(super) fn job_id(kind: JobKind, key: &str) -> Document {
    doc! { "_id": format!("{}:{key}", kind.as_str()) }
}

/// The upsert that creates or replaces a job; any claim on it ends.
pub(super) fn job_update(job: &Job) -> Document {
    doc! { "$set": {
        "kind": job.kind.as_str(),
        "key": &job.key,
        "due_at": job.due_at,
        "attempts": job.attempts,
        "owner": Bson::Null,
        "claims": 0_i64,
    } }
}

pub(super) fn job_from_doc(d: &Document) -> Option<Job> {
    Some(Job {
        kind: JobKind::parse(&opt_string(d, "kind")?)?,
        key: opt_string(d, "key")?,
        due_at: opt_int(d, "due_at")?,
        attempts: opt_int(d, "attempts").unwrap_or(0),
        claims: opt_int(d, "claims").unwrap_or(0),
    })
}

#[async_trait]
impl JobStore for MongoStore {
    async fn schedule_job(&self, job: Job) -> StoreResult<()> {
        self.coll("jobs")
            .update_one(job_id(job.kind, &job.key), job_update(&job))
            .upsert(true)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn add_job_if_missing(&self, job: Job) -> StoreResult<bool> {
        // $setOnInsert leaves an existing job (and any claim on it) as it is.
        let result = self
            .coll("jobs")
            .update_one(
                job_id(job.kind, &job.key),
                doc! { "$setOnInsert": {
                    "kind": job.kind.as_str(),
                    "key": &job.key,
                    "due_at": job.due_at,
                    "attempts": job.attempts,
                    "claims": 0_i64,
                } },
            )
            .upsert(true)
            .await
            .map_err(map_err)?;
        Ok(result.upserted_id.is_some())
    }

    async fn due_jobs(&self, now: i64, limit: usize) -> StoreResult<Vec<Job>> {
        let docs = self
            .find_all(
                "jobs",
                doc! { "due_at": { "$lte": now } },
                Some(doc! { "due_at": 1 }),
                Some(limit as i64),
            )
            .await?;
        Ok(docs.iter().filter_map(job_from_doc).collect())
    }

    async fn count_due_jobs(&self, now: i64) -> StoreResult<u64> {
        self.coll("jobs")
            .count_documents(doc! { "due_at": { "$lte": now } })
            .await
            .map_err(map_err)
    }

    async fn claim_jobs(
        &self,
        kind: JobKind,
        now: i64,
        owner: &str,
        lease_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Job>> {
        let mut claimed = Vec::new();
        // findOneAndUpdate is atomic per document: of several instances racing for one
        // due job, exactly one matches it while it is still due.
        while claimed.len() < limit {
            let found = self
                .coll("jobs")
                .find_one_and_update(
                    doc! { "kind": kind.as_str(), "due_at": { "$lte": now } },
                    doc! {
                        "$set": { "due_at": now + lease_ms, "owner": owner },
                        "$inc": { "claims": 1_i64 },
                    },
                )
                .sort(doc! { "due_at": 1 })
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?;
            let Some(d) = found else { break };
            if let Some(job) = job_from_doc(&d) {
                claimed.push(job);
            }
        }
        Ok(claimed)
    }

    async fn release_job(&self, kind: JobKind, key: &str, due_at: i64) -> StoreResult<()> {
        self.coll("jobs")
            .update_one(
                job_id(kind, key),
                doc! { "$set": { "due_at": due_at, "owner": Bson::Null } },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn finish_job(&self, kind: JobKind, key: &str) -> StoreResult<()> {
        self.coll("jobs")
            .delete_one(job_id(kind, key))
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
