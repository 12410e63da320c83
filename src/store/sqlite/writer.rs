//! The writer thread: takes the queued write jobs, runs them in one transaction and
//! commits them together, then answers each job and hands the events to the hub.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{Notify, mpsc, oneshot};

use super::schema::index_pending;
use super::{MAX_BATCH, MAX_STAGED, Tx, exec, map_err, wal};
use crate::store::{Event, StoreError, StoreResult};

pub(super) trait WriteJob: Send {
    /// Runs inside the open transaction and keeps its result; tells whether it succeeded.
    /// A batch may run it again after a rollback, so it only writes to the database.
    fn run(&mut self, tx: &Tx) -> bool;
    /// Replies with the last run's result, or the commit's error if that failed.
    fn finish(self: Box<Self>, commit_error: Option<StoreError>);
}

pub(super) struct WriteTask<F, R> {
    pub(super) f: F,
    pub(super) result: Option<StoreResult<R>>,
    pub(super) reply: oneshot::Sender<StoreResult<R>>,
}

impl<F, R> WriteJob for WriteTask<F, R>
where
    F: Fn(&Tx) -> StoreResult<R> + Send,
    R: Send + 'static,
{
    fn run(&mut self, tx: &Tx) -> bool {
        let result = catch_unwind(AssertUnwindSafe(|| (self.f)(tx)))
            .unwrap_or_else(|_| Err(StoreError::Corrupt("a write panicked".into())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit_error: Option<StoreError>) {
        let WriteTask { result, reply, .. } = *self;
        let outcome = match (result, commit_error) {
            (Some(Ok(_)), Some(e)) | (None, Some(e)) => Err(e),
            (Some(result), _) => result,
            (None, None) => Err(StoreError::Unavailable("a write did not run".into())),
        };
        // The caller may have gone away; the write stands regardless.
        let _ = reply.send(outcome);
    }
}

pub(super) fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn WriteJob>>,
    commits: Arc<Notify>,
    committed: Arc<Mutex<Vec<Event>>>,
    catch_up: wal::CatchUp,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        catch_up.take(&conn);
        let (commit_error, appended) = match run_batch(&conn, &mut batch) {
            Ok(appended) => (None, appended),
            Err(err) => (Some(err), Vec::new()),
        };
        let notify = !appended.is_empty();
        if notify && let Ok(mut staged) = committed.lock() {
            // Bounded: the hub takes everything on each wake-up. Should it fall behind,
            // the stage starts over, and the hub, seeing it does not continue from its
            // head, reads the log instead.
            if staged.len() >= MAX_STAGED {
                staged.clear();
            }
            staged.extend(appended);
        }
        for job in batch {
            job.finish(commit_error.clone());
        }
        if notify {
            commits.notify_one();
        }
    }
}

/// Runs `batch` in one transaction and commits it; returns the events it appended. Each
/// job first runs straight in the transaction, since a savepoint per job copied every
/// page the job touched into its journal first (README, "Where the writer's time goes").
/// Should one fail, the transaction is rolled back and every job runs again in a
/// savepoint of its own, so the failing one is undone alone and its neighbours commit.
fn run_batch(conn: &Connection, batch: &mut [Box<dyn WriteJob>]) -> StoreResult<Vec<Event>> {
    let tx = Tx {
        conn,
        appended: RefCell::new(Vec::new()),
    };
    let mut run = || {
        exec(conn, "BEGIN IMMEDIATE", [])?;
        if !batch.iter_mut().all(|job| job.run(&tx)) {
            tx.appended.borrow_mut().clear();
            // Some errors (a full disk) have ended the transaction already.
            let _ = conn.execute_batch("ROLLBACK");
            exec(conn, "BEGIN IMMEDIATE", [])?;
            for job in batch.iter_mut() {
                // Through the statement cache: parsing these two anew for every job
                // showed in the writer's profile.
                exec(conn, "SAVEPOINT job", [])?;
                let before = tx.appended.borrow().len();
                if job.run(&tx) {
                    exec(conn, "RELEASE job", [])?;
                } else {
                    conn.execute_batch("ROLLBACK TO job; RELEASE job")
                        .map_err(map_err)?;
                    tx.appended.borrow_mut().truncate(before);
                }
            }
        }
        index_pending(conn)?;
        exec(conn, "COMMIT", [])
    };
    if let Err(err) = run() {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::error!(error = %err, "SQLite: a group commit failed");
        return Err(err);
    }
    Ok(tx.appended.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::store::EventKind;

    /// A job that notes a row (and an event) and then fails if `fails`; counts its runs.
    fn job(
        name: &'static str,
        fails: bool,
        runs: Arc<AtomicUsize>,
    ) -> (Box<dyn WriteJob>, oneshot::Receiver<StoreResult<()>>) {
        let (reply, rx) = oneshot::channel();
        let f = move |tx: &Tx| {
            runs.fetch_add(1, Ordering::SeqCst);
            exec(
                tx.conn,
                "INSERT INTO meta (key, value) VALUES (?1, 'x')",
                [name],
            )?;
            tx.append_event("inbox", EventKind::InboxUpdated, name.to_string())?;
            if fails {
                return Err(StoreError::Conflict(format!("{name} fails")));
            }
            Ok(())
        };
        let task = WriteTask {
            f,
            result: None,
            reply,
        };
        (Box::new(task), rx)
    }

    fn store() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&conn).unwrap();
        conn
    }

    fn keys(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT key FROM meta WHERE key LIKE 'job %' ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_failing_job_leaves_nothing_behind_and_its_neighbours_commit() {
        let conn = store();
        let runs: Vec<_> = (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        let (a, mut a_rx) = job("job a", false, runs[0].clone());
        let (b, mut b_rx) = job("job b", true, runs[1].clone());
        let (c, mut c_rx) = job("job c", false, runs[2].clone());
        let mut batch = vec![a, b, c];
        let appended = run_batch(&conn, &mut batch).unwrap();
        for job in batch {
            job.finish(None);
        }
        assert_eq!(keys(&conn), ["job a", "job c"]);
        let data: Vec<_> = appended.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["job a", "job c"]);
        assert!(a_rx.try_recv().unwrap().is_ok());
        assert!(matches!(
            b_rx.try_recv().unwrap(),
            Err(StoreError::Conflict(_))
        ));
        assert!(c_rx.try_recv().unwrap().is_ok());
        // The batch ran again, each job in its savepoint, once the second job failed.
        let runs: Vec<_> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
        assert_eq!(runs, [2, 2, 1]);
        // And the transaction is closed: the next batch begins its own.
        let (d, _) = job("job d", false, Arc::default());
        run_batch(&conn, &mut [d]).unwrap();
        assert_eq!(keys(&conn), ["job a", "job c", "job d"]);
    }

    #[test]
    fn a_batch_whose_jobs_all_succeed_runs_each_once() {
        let conn = store();
        let runs = Arc::new(AtomicUsize::new(0));
        let mut batch: Vec<_> = ["job a", "job b", "job c"]
            .into_iter()
            .map(|name| job(name, false, runs.clone()).0)
            .collect();
        let appended = run_batch(&conn, &mut batch).unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(appended.len(), 3);
        assert_eq!(keys(&conn), ["job a", "job b", "job c"]);
    }

    #[test]
    fn a_job_that_panics_is_answered_and_undone_alone() {
        let conn = store();
        let (a, mut a_rx) = job("job a", false, Arc::default());
        let (reply, mut b_rx) = oneshot::channel::<StoreResult<()>>();
        let b = WriteTask {
            f: |tx: &Tx| -> StoreResult<()> {
                exec(
                    tx.conn,
                    "INSERT INTO meta (key, value) VALUES ('job b', 'x')",
                    [],
                )?;
                panic!("a bug in a write")
            },
            result: None,
            reply,
        };
        let mut batch: Vec<Box<dyn WriteJob>> = vec![a, Box::new(b)];
        run_batch(&conn, &mut batch).unwrap();
        for job in batch {
            job.finish(None);
        }
        assert_eq!(keys(&conn), ["job a"]);
        assert!(a_rx.try_recv().unwrap().is_ok());
        assert!(matches!(
            b_rx.try_recv().unwrap(),
            Err(StoreError::Corrupt(_))
        ));
    }
}
