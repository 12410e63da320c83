//! Where the app keeps files: media it downloaded from WhatsApp and files agents attached.
//!
//! Two backends behind one trait: a directory on disk (the default, and the only choice
//! with SQLite) and the MongoDB database (chunked as GridFS does it), so several instances on one MongoDB
//! share their files without a shared disk. Files are streamed both ways; a 100 MB
//! document is never held in memory. A file appears under its name only once it is
//! whole, so a reader never sees half of one.

pub mod disk;
pub mod mongo;

use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

/// A file's bytes, in order.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

pub type DynFiles = Arc<dyn Files>;

/// Names are ours (`{message_id}`, `uploads/{id}`), never a caller's: a name is one or two
/// `/`-separated parts of letters, digits, `-`, `_` and `.`, and no part starts with `.`.
pub fn check_name(name: &str) -> io::Result<()> {
    let parts: Vec<&str> = name.split('/').collect();
    let good = parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
    if good {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a file name the app makes"),
        ))
    }
}

#[async_trait]
pub trait Files: Send + Sync {
    /// Starts a file called `name`. Until [`FileWriter::finish`], nothing is visible under
    /// that name; then the new file replaces any older one.
    async fn create(&self, name: &str) -> io::Result<Box<dyn FileWriter>>;

    /// The file called `name`, if there is one.
    async fn open(&self, name: &str) -> io::Result<Option<Box<dyn StoredFile>>>;

    /// Gives the file `from` the name `to`, replacing any file called `to`. False when
    /// there is no file `from`.
    async fn rename(&self, from: &str, to: &str) -> io::Result<bool>;

    /// Removes the file `name`; removing a file that is not there is not an error.
    async fn remove(&self, name: &str) -> io::Result<()>;

    /// Names in `folder` (as `folder/…`) written before `before_ms`, including writes that
    /// were never finished.
    async fn older_than(&self, folder: &str, before_ms: i64) -> io::Result<Vec<String>>;

    /// Drops what writes started before `before_ms` and never finished or aborted (a
    /// process that died mid-write) left behind. Returns how many it dropped.
    async fn sweep_unfinished(&self, before_ms: i64) -> io::Result<usize>;

    /// Where the files are, for the log.
    fn describe(&self) -> String;
}

/// A file being written.
#[async_trait]
pub trait FileWriter: Send {
    async fn write(&mut self, chunk: &[u8]) -> io::Result<()>;
    /// Makes the file visible under its name. Returns its size.
    async fn finish(self: Box<Self>) -> io::Result<u64>;
    /// Drops what was written.
    async fn abort(self: Box<Self>);
}

/// A stored file, opened.
#[async_trait]
pub trait StoredFile: Send {
    fn size(&self) -> u64;
    /// `count` bytes from `offset` (fewer at the end of the file).
    async fn read(self: Box<Self>, offset: u64, count: u64) -> io::Result<ByteStream>;
}

/// Writes `bytes` as the file `name`.
pub async fn write_all(files: &dyn Files, name: &str, bytes: &[u8]) -> io::Result<u64> {
    let mut w = files.create(name).await?;
    if let Err(e) = w.write(bytes).await {
        w.abort().await;
        return Err(e);
    }
    w.finish().await
}

/// The whole file `name`, if there is one no larger than `max` bytes.
pub async fn read_all(files: &dyn Files, name: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
    let Some(file) = files.open(name).await? else {
        return Ok(None);
    };
    let len = file.size();
    if len > max {
        return Err(io::Error::other(format!(
            "{name} is {len} bytes; at most {max} are read whole"
        )));
    }
    let mut out = Vec::with_capacity(len as usize);
    let mut body = file.read(0, len).await?;
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn only_names_the_app_makes_are_taken() {
        for good in [
            "0b9c6a1e-2f7d-4c55-9a0e-1d2b3c4d5e6f",
            "uploads/abc-123",
            "uploads/abc.json",
        ] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "../etc/passwd",
            "uploads/../x",
            "a/b/c",
            "/abs",
            ".hidden",
            "uploads/.x",
            "a b",
            "a\\b",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
