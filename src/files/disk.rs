//! Files in a directory (`SWITCHBOARD_MEDIA_DIR`). Several instances can share it only
//! through a shared filesystem; files in MongoDB need none.

use std::io;
use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{ByteStream, FileWriter, Files, StoredFile, check_name};

pub struct DiskFiles {
    root: PathBuf,
}

impl DiskFiles {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        check_name(name)?;
        Ok(self.root.join(name))
    }
}

#[async_trait]
impl Files for DiskFiles {
    async fn create(&self, name: &str) -> io::Result<Box<dyn FileWriter>> {
        let path = self.path(name)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        // Written aside and renamed into place; the part's own name keeps two writers of
        // one file (a download retried while the first still runs) apart.
        let part = path.with_extension(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::File::create(&part).await?;
        Ok(Box::new(DiskWriter {
            file,
            part,
            path,
            size: 0,
        }))
    }

    async fn open(&self, name: &str) -> io::Result<Option<Box<dyn StoredFile>>> {
        let file = match tokio::fs::File::open(self.path(name)?).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata().await?.len();
        Ok(Some(Box::new(DiskFile { file, len })))
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<bool> {
        let (from, to) = (self.path(from)?, self.path(to)?);
        if let Some(dir) = to.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        match tokio::fs::rename(from, to).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path(name)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    async fn older_than(&self, folder: &str, before_ms: i64) -> io::Result<Vec<String>> {
        let dir = self.path(folder)?;
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        let before = std::time::UNIX_EPOCH + std::time::Duration::from_millis(before_ms as u64);
        let mut old = vec![];
        while let Some(entry) = entries.next_entry().await? {
            let modified = entry.metadata().await.and_then(|m| m.modified());
            if modified.is_ok_and(|t| t < before)
                && let Some(name) = entry.file_name().to_str()
            {
                old.push(format!("{folder}/{name}"));
            }
        }
        Ok(old)
    }

    async fn sweep_unfinished(&self, before_ms: i64) -> io::Result<usize> {
        let before = std::time::UNIX_EPOCH + std::time::Duration::from_millis(before_ms as u64);
        // Names have at most two parts, so parts lie in the root or one folder down.
        let mut dirs = vec![self.root.clone()];
        let mut removed = 0;
        while let Some(dir) = dirs.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            while let Some(entry) = entries.next_entry().await? {
                // A write that finished (renamed) since the listing is no longer there.
                let meta = match entry.metadata().await {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if meta.is_dir() {
                    if dir == self.root {
                        dirs.push(entry.path());
                    }
                    continue;
                }
                let is_part = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(".part"));
                if is_part && meta.modified().is_ok_and(|t| t < before) {
                    match tokio::fs::remove_file(entry.path()).await {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                        _ => removed += 1,
                    }
                }
            }
        }
        Ok(removed)
    }

    fn describe(&self) -> String {
        format!("directory {}", self.root.display())
    }
}

struct DiskWriter {
    file: tokio::fs::File,
    part: PathBuf,
    path: PathBuf,
    size: u64,
}

#[async_trait]
impl FileWriter for DiskWriter {
    async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.write_all(chunk).await?;
        self.size += chunk.len() as u64;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> io::Result<u64> {
        let done = async {
            self.file.flush().await?;
            self.file.sync_data().await?;
            tokio::fs::rename(&self.part, &self.path).await
        }
        .await;
        if let Err(e) = done {
            let _ = tokio::fs::remove_file(&self.part).await;
            return Err(e);
        }
        Ok(self.size)
    }

    async fn abort(self: Box<Self>) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.part).await;
    }
}

struct DiskFile {
    file: tokio::fs::File,
    len: u64,
}

#[async_trait]
impl StoredFile for DiskFile {
    fn size(&self) -> u64 {
        self.len
    }

    async fn read(mut self: Box<Self>, offset: u64, count: u64) -> io::Result<ByteStream> {
        if offset > 0 {
            self.file.seek(io::SeekFrom::Start(offset)).await?;
        }
        let reader = self.file.take(count);
        Ok(Box::pin(tokio_util::io::ReaderStream::new(reader)))
    }
}
