//! One suite for both file stores: a directory and MongoDB (on the test MongoDB server).
//! Files are written in uneven pieces and larger than a chunk (255 KiB), so ranges
//! cross chunk boundaries.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use switchboard::files::disk::DiskFiles;
use switchboard::files::mongo::MongoFiles;
use switchboard::files::{DynFiles, read_all, write_all};
use switchboard::store::now_ms;

use crate::conformance::Guard;

const CHUNK: usize = 255 * 1024;

/// Bytes that differ at every position within a few hundred KiB.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

async fn write_in_pieces(files: &DynFiles, name: &str, bytes: &[u8]) {
    let mut w = files.create(name).await.unwrap();
    for piece in bytes.chunks(70_001) {
        w.write(piece).await.unwrap();
    }
    assert_eq!(w.finish().await.unwrap(), bytes.len() as u64);
}

async fn read(files: &DynFiles, name: &str, offset: u64, count: u64) -> Vec<u8> {
    let file = files.open(name).await.unwrap().expect("the file exists");
    let mut body = file.read(offset, count).await.unwrap();
    let mut out = vec![];
    while let Some(piece) = body.next().await {
        out.extend_from_slice(&piece.unwrap());
    }
    out
}

pub async fn files_round_trip_whole_and_by_range(files: DynFiles) {
    let bytes = pattern(2 * CHUNK + 12_345);
    write_in_pieces(&files, "m-1", &bytes).await;
    let file = files.open("m-1").await.unwrap().unwrap();
    assert_eq!(file.size(), bytes.len() as u64);
    assert_eq!(read(&files, "m-1", 0, bytes.len() as u64).await, bytes);
    for (offset, count) in [
        (0, 1),
        (CHUNK - 3, 10),
        (CHUNK, CHUNK),
        (CHUNK - 1, CHUNK + 2),
        (bytes.len() - 5, 5),
        (10, 2 * CHUNK),
    ] {
        assert_eq!(
            read(&files, "m-1", offset as u64, count as u64).await,
            &bytes[offset..offset + count],
            "{offset}+{count}"
        );
    }
    // Past the end reads what there is.
    assert_eq!(
        read(&files, "m-1", bytes.len() as u64 - 2, 100).await,
        &bytes[bytes.len() - 2..]
    );
    assert!(files.open("m-2").await.unwrap().is_none());
    assert_eq!(
        read_all(&*files, "m-1", bytes.len() as u64).await.unwrap(),
        Some(bytes.clone())
    );
    assert!(read_all(&*files, "m-1", 10).await.is_err(), "over the cap");
}

pub async fn files_appear_only_whole_and_replace_older_ones(files: DynFiles) {
    let mut w = files.create("m-1").await.unwrap();
    w.write(b"half").await.unwrap();
    assert!(files.open("m-1").await.unwrap().is_none(), "not yet whole");
    w.abort().await;
    assert!(files.open("m-1").await.unwrap().is_none(), "aborted");

    write_all(&*files, "m-1", b"first").await.unwrap();
    let mut w = files.create("m-1").await.unwrap();
    w.write(b"second").await.unwrap();
    assert_eq!(
        read(&files, "m-1", 0, 100).await,
        b"first",
        "old until done"
    );
    w.finish().await.unwrap();
    assert_eq!(read(&files, "m-1", 0, 100).await, b"second");
}

pub async fn files_rename_and_remove(files: DynFiles) {
    write_all(&*files, "uploads/u-1", b"attached")
        .await
        .unwrap();
    write_all(&*files, "m-1", b"older file").await.unwrap();
    assert!(files.rename("uploads/u-1", "m-1").await.unwrap());
    assert!(files.open("uploads/u-1").await.unwrap().is_none());
    assert_eq!(read(&files, "m-1", 0, 100).await, b"attached");
    assert!(!files.rename("uploads/u-1", "m-2").await.unwrap(), "gone");

    files.remove("m-1").await.unwrap();
    assert!(files.open("m-1").await.unwrap().is_none());
    files.remove("m-1").await.unwrap();
}

pub async fn files_older_than_lists_one_folder(files: DynFiles) {
    write_all(&*files, "uploads/old", b"1").await.unwrap();
    write_all(&*files, "uploadsx", b"2").await.unwrap();
    write_all(&*files, "m-1", b"3").await.unwrap();
    // File times have a resolution of their own: wait past it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let cut = now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    write_all(&*files, "uploads/new", b"4").await.unwrap();
    assert_eq!(
        files.older_than("uploads", cut).await.unwrap(),
        vec!["uploads/old".to_string()]
    );
    assert!(files.older_than("elsewhere", cut).await.unwrap().is_empty());
}

/// A process that dies mid-write leaves pieces (a part file, chunks) that no finish or
/// abort will remove; the sweep does, once they are old, and leaves whole files and
/// writes still under way alone.
pub async fn files_sweep_drops_what_unfinished_writes_left(files: DynFiles, guard: &Guard) {
    let bytes = pattern(CHUNK + 10);
    write_in_pieces(&files, "m-1", &bytes).await;
    write_in_pieces(&files, "uploads/u-1", &bytes).await;
    // Two writes cut off by a crash: dropped without finish or abort, past a chunk.
    for name in ["m-2", "uploads/u-2"] {
        let mut w = files.create(name).await.unwrap();
        w.write(&bytes).await.unwrap();
        drop(w);
    }
    // A removal cut off after its description went would leave chunks too; it is noted
    // the same way, so a finished removal leaves nothing for the sweep.
    write_in_pieces(&files, "m-3", &bytes).await;
    files.remove("m-3").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let cut = now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut running = files.create("m-4").await.unwrap();
    running.write(&bytes).await.unwrap();
    assert!(debris(guard).await > 0, "the crashed writes left pieces");

    assert_eq!(files.sweep_unfinished(cut).await.unwrap(), 2);
    assert_eq!(
        files.sweep_unfinished(cut).await.unwrap(),
        0,
        "already gone"
    );
    assert_eq!(read(&files, "m-1", 0, bytes.len() as u64).await, bytes);
    assert_eq!(read(&files, "uploads/u-1", 0, 10).await, &bytes[..10]);
    assert!(files.open("m-2").await.unwrap().is_none());
    assert_eq!(running.finish().await.unwrap(), bytes.len() as u64);
    assert_eq!(read(&files, "m-4", 0, bytes.len() as u64).await, bytes);
    assert_eq!(
        files.sweep_unfinished(now_ms() + 1000).await.unwrap(),
        0,
        "a finished write leaves nothing to sweep"
    );
    assert_eq!(debris(guard).await, 0);
}

/// What no file owns: part files on disk; in MongoDB, chunks no description names and
/// notes of writes.
async fn debris(guard: &Guard) -> usize {
    match guard {
        Guard::Dir(dir) => {
            let mut parts = 0;
            let mut dirs = vec![dir.path().to_path_buf()];
            while let Some(d) = dirs.pop() {
                for entry in std::fs::read_dir(d).into_iter().flatten().flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else if path.to_string_lossy().ends_with(".part") {
                        parts += 1;
                    }
                }
            }
            parts
        }
        Guard::Database(db) => {
            let collection = |name| db.collection::<mongodb::bson::Document>(name);
            let named: Vec<String> = collection("media_files")
                .find(mongodb::bson::doc! {})
                .await
                .unwrap()
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
                .iter()
                .map(|d| d.get_str("chunks_id").unwrap().to_string())
                .collect();
            let chunks: Vec<_> = collection("media_chunks")
                .find(mongodb::bson::doc! {})
                .await
                .unwrap()
                .try_collect::<Vec<_>>()
                .await
                .unwrap();
            let orphans = chunks
                .iter()
                .filter(|c| {
                    !named
                        .iter()
                        .any(|n| c.get_str("files_id") == Ok(n.as_str()))
                })
                .count();
            let notes = collection("media_writes")
                .count_documents(mongodb::bson::doc! {})
                .await
                .unwrap();
            orphans + notes as usize
        }
    }
}

pub async fn files_refuse_names_the_app_does_not_make(files: DynFiles) {
    for bad in ["../x", "a/../../b", "", "a/b/c"] {
        assert!(files.create(bad).await.is_err(), "{bad}");
        assert!(files.open(bad).await.is_err(), "{bad}");
        assert!(files.remove(bad).await.is_err(), "{bad}");
    }
}

/// Instantiates every file-store test for one backend.
#[macro_export]
macro_rules! file_store {
    ($backend:ident, $open:expr) => {
        mod $backend {
            $crate::file_store!(@tests $open;
                files_round_trip_whole_and_by_range,
                files_appear_only_whole_and_replace_older_ones,
                files_rename_and_remove,
                files_older_than_lists_one_folder,
                files_refuse_names_the_app_does_not_make,
            );
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn files_sweep_drops_what_unfinished_writes_left() {
                let (files, guard) = $open.await;
                $crate::files::files_sweep_drops_what_unfinished_writes_left(files, &guard).await;
                guard.cleanup().await;
            }
        }
    };
    (@tests $open:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (files, guard) = $open.await;
                $crate::files::$name(files).await;
                guard.cleanup().await;
            }
        )*
    };
}

pub async fn open_disk() -> (DynFiles, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let files = DiskFiles::new(dir.path().join("media"));
    (Arc::new(files), Guard::Dir(dir))
}

/// The driver's own GridFS bucket is not used: nx-27017 refuses its dotted collection names
/// (`fs.files`: "Invalid identifier … must contain only alphanumeric characters and
/// underscores") and reads its `uploadDate` back as something other than a BSON date. It
/// also acknowledges a `$set` of the indexed `filename` without applying it, so a rename
/// writes a new description of the same chunks and removes the old one.
pub async fn open_mongo() -> (DynFiles, Guard) {
    let url = crate::support::mongo_url(&crate::support::unique_db());
    let client = mongodb::Client::with_uri_str(&url).await.unwrap();
    let db = client.default_database().unwrap();
    (
        Arc::new(MongoFiles::open(&db).await.unwrap()),
        Guard::Database(db),
    )
}

file_store!(disk, crate::files::open_disk());
file_store!(mongo, crate::files::open_mongo());
