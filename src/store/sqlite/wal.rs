//! Keeping the WAL short without holding up a commit.
//!
//! A checkpoint copies the WAL into the database file and syncs both; the WAL can then
//! start over from its beginning, which SQLite does only when a write transaction begins
//! with every frame already copied. Under a steady stream of writes that moment never
//! comes for a checkpoint run beside the writer (the writer adds frames while it copies),
//! so the WAL grew until the writer's own automatic checkpoint took over: every few hundred
//! milliseconds at 3,000 webhooks/s a commit waited 10–57 ms for tens of megabytes to be
//! copied and synced, and those waits were the acknowledgement's p99. Here the checkpoint
//! thread does the copying, in passes that shrink while the writes go on, and then asks the
//! writer to copy the last few hundred frames itself between two transactions; its next
//! transaction starts the WAL over.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::Connection;

/// When the WAL is copied, and when it is brought to start over.
#[derive(Debug, Clone, Copy)]
pub struct WalOptions {
    /// How often the WAL is copied into the database file.
    pub checkpoint_every: Duration,
    /// A WAL this many frames long (one page each) is brought to a restart.
    pub restart_after: i64,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            checkpoint_every: Duration::from_millis(200),
            // 16 MiB at 4 KiB pages.
            restart_after: 4096,
        }
    }
}

/// Catch-up passes stop once a pass finds this few new frames: the writer's share.
const WRITER_SHARE: i64 = 512;
/// Each pass copies what the writes added during the one before; a few suffice.
const MAX_PASSES: usize = 4;
/// The writer's automatic checkpoint, kept as a backstop should this thread fall behind
/// (256 MiB at 4 KiB pages).
pub(super) const WRITER_BACKSTOP: i64 = 65_536;

/// Set by the checkpoint thread once the WAL is copied up to the last few frames; the
/// writer takes it before its next transaction.
#[derive(Clone, Default)]
pub(super) struct CatchUp(Arc<AtomicBool>);

impl CatchUp {
    /// Called by the writer between transactions: copies the frames the checkpoint
    /// thread left, so the next transaction begins with all of them copied and the WAL
    /// starts over.
    pub(super) fn take(&self, writer: &Connection) {
        if self.0.swap(false, Ordering::AcqRel) {
            passive(writer);
        }
    }
}

pub(super) fn checkpoint_loop(
    conn: Connection,
    options: WalOptions,
    stop: std::sync::mpsc::Receiver<()>,
    catch_up: CatchUp,
) {
    use std::sync::mpsc::RecvTimeoutError;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(options.checkpoint_every) {
        // PASSIVE never blocks the writer or readers; it copies what it can now and
        // the rest next time.
        let Some(mut log) = passive(&conn) else {
            continue;
        };
        if log < options.restart_after {
            continue;
        }
        for _ in 0..MAX_PASSES {
            let Some(now) = passive(&conn) else {
                break;
            };
            let added = now - log;
            log = now;
            // Fewer frames than before: the WAL started over meanwhile, and the writer
            // has nothing to catch up on.
            if added < 0 {
                break;
            }
            if added <= WRITER_SHARE {
                catch_up.0.store(true, Ordering::Release);
                break;
            }
        }
    }
}

/// One passive checkpoint: the number of frames in the WAL if every one of them was
/// copied, `None` if it could not run or copy them all (a reader still needs some).
fn passive(conn: &Connection) -> Option<i64> {
    let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    match outcome {
        Ok((0, log, copied)) if log == copied => Some(log),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(error = %e, "SQLite: checkpoint postponed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::store::HistoryStore;
    use crate::store::sqlite::{SqliteOptions, SqliteStore};

    /// The WAL header's checkpoint sequence number, which SQLite raises each time the WAL
    /// starts over.
    fn restarts(wal: &Path) -> u32 {
        use std::io::Read;
        let mut header = [0u8; 16];
        std::fs::File::open(wal)
            .and_then(|mut f| f.read_exact(&mut header))
            .unwrap();
        u32::from_be_bytes(header[12..16].try_into().unwrap())
    }

    /// Before, under writes that never paused, only the writer's own checkpoint could
    /// start the WAL over, holding a commit while it copied and synced.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_while_writes_never_pause() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = SqliteOptions::new(dir.path().join("w.db"));
        options.wal = WalOptions {
            checkpoint_every: Duration::from_millis(20),
            restart_after: 64,
        };
        let store = Arc::new(SqliteStore::open(options).unwrap());
        store.save_webhook("first", b"{}").await.unwrap();
        let wal = dir.path().join("w.db-wal");
        let before = restarts(&wal);
        // Four tasks write at once, without a pause (a pause lets the checkpoint thread
        // catch up and the WAL start over by itself), until it has started over three
        // times: at most 16,000 writes, some 20,000 frames, far fewer than the writer's
        // backstop, so every restart comes from the checkpoint thread's catch-up.
        let enough = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (store, enough, wal) = (store.clone(), enough.clone(), wal.clone());
                tokio::spawn(async move {
                    let body = vec![b'x'; 2000];
                    for i in 0..4000 {
                        if enough.load(Ordering::Relaxed) {
                            break;
                        }
                        let id = format!("{w}-{i}");
                        store.save_webhook(&id, &body).await.unwrap();
                        if w == 0 && restarts(&wal) - before >= 3 {
                            enough.store(true, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        let started_over = restarts(&wal) - before;
        assert!(
            started_over >= 3,
            "the WAL started over {started_over} times"
        );
    }
}
