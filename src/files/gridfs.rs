//! Files in GridFS, in the bucket `media` of the app's MongoDB database. Every instance on
//! that database sees every file, and MongoDB's backups hold them with the messages.
//!
//! The driver's upload stream writes a file: its chunks first, its `media.files` document
//! last, so a file becomes visible only whole. Reads go straight to `media.chunks` for the
//! chunks a range covers, so a player seeking in a video does not pull the whole file.

use std::io;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{AsyncWriteExt, StreamExt, TryStreamExt};
use mongodb::Collection;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::gridfs::{FilesCollectionDocument, GridFsBucket, GridFsUploadStream};
use mongodb::options::GridFsBucketOptions;

use super::{ByteStream, FileWriter, Files, StoredFile, check_name};

const BUCKET: &str = "media";

#[derive(Clone)]
pub struct GridFsFiles {
    bucket: GridFsBucket,
    chunks: Collection<Document>,
    database: String,
}

fn io_err(e: mongodb::error::Error) -> io::Error {
    io::Error::other(format!("GridFS: {e}"))
}

impl GridFsFiles {
    pub fn new(db: &mongodb::Database) -> Self {
        let options = GridFsBucketOptions::builder()
            .bucket_name(BUCKET.to_string())
            .build();
        Self {
            bucket: db.gridfs_bucket(options),
            chunks: db.collection(&format!("{BUCKET}.chunks")),
            database: db.name().to_string(),
        }
    }

    async fn revisions(&self, name: &str) -> io::Result<Vec<FilesCollectionDocument>> {
        self.bucket
            .find(doc! { "filename": name })
            .await
            .map_err(io_err)?
            .try_collect()
            .await
            .map_err(io_err)
    }

    async fn delete(&self, id: Bson) -> io::Result<()> {
        match self.bucket.delete(id).await {
            Ok(()) => Ok(()),
            // Someone else removed it first.
            Err(e) if matches!(*e.kind, mongodb::error::ErrorKind::GridFs(_)) => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Keeps the newest file called `name` and removes the others. Every writer and reader
    /// picks the same one, so two writers racing on one name leave exactly one file.
    async fn newest(&self, name: &str, prune: bool) -> io::Result<Option<FilesCollectionDocument>> {
        let mut all = self.revisions(name).await?;
        all.sort_by_key(|f| (f.upload_date, f.id.to_string()));
        let newest = all.pop();
        if prune {
            for old in all {
                self.delete(old.id).await?;
            }
        }
        Ok(newest)
    }
}

#[async_trait]
impl Files for GridFsFiles {
    async fn create(&self, name: &str) -> io::Result<Box<dyn FileWriter>> {
        check_name(name)?;
        let stream = self.bucket.open_upload_stream(name).await.map_err(io_err)?;
        Ok(Box::new(GridFsWriter {
            stream,
            name: name.to_string(),
            size: 0,
            files: self.clone(),
        }))
    }

    async fn open(&self, name: &str) -> io::Result<Option<Box<dyn StoredFile>>> {
        check_name(name)?;
        Ok(self.newest(name, false).await?.map(|file| {
            Box::new(GridFsFile {
                file,
                chunks: self.chunks.clone(),
            }) as Box<dyn StoredFile>
        }))
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<bool> {
        check_name(from)?;
        check_name(to)?;
        let Some(file) = self.newest(from, false).await? else {
            return Ok(false);
        };
        for old in self.revisions(to).await? {
            self.delete(old.id).await?;
        }
        self.bucket.rename(file.id, to).await.map_err(io_err)?;
        Ok(true)
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        for file in self.revisions(name).await? {
            self.delete(file.id).await?;
        }
        Ok(())
    }

    async fn older_than(&self, folder: &str, before_ms: i64) -> io::Result<Vec<String>> {
        check_name(folder)?;
        // `0` follows `/`: the range is every name that starts with `folder/`.
        let filter = doc! {
            "filename": { "$gte": format!("{folder}/"), "$lt": format!("{folder}0") },
        };
        let files: Vec<FilesCollectionDocument> = self
            .bucket
            .find(filter)
            .await
            .map_err(io_err)?
            .try_collect()
            .await
            .map_err(io_err)?;
        let before = DateTime::from_millis(before_ms);
        Ok(files
            .into_iter()
            .filter(|f| f.upload_date < before)
            .filter_map(|f| f.filename)
            .collect())
    }

    fn describe(&self) -> String {
        format!("GridFS bucket {BUCKET} in database {}", self.database)
    }
}

struct GridFsWriter {
    stream: GridFsUploadStream,
    name: String,
    size: u64,
    files: GridFsFiles,
}

#[async_trait]
impl FileWriter for GridFsWriter {
    async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.stream.write_all(chunk).await?;
        self.size += chunk.len() as u64;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> io::Result<u64> {
        self.stream.close().await?;
        self.files.newest(&self.name, true).await?;
        Ok(self.size)
    }

    async fn abort(mut self: Box<Self>) {
        if let Err(e) = self.stream.abort().await {
            tracing::warn!(file = %self.name, error = %e, "GridFS: could not drop an unfinished file");
        }
    }
}

struct GridFsFile {
    file: FilesCollectionDocument,
    chunks: Collection<Document>,
}

#[async_trait]
impl StoredFile for GridFsFile {
    fn size(&self) -> u64 {
        self.file.length
    }

    async fn read(self: Box<Self>, offset: u64, count: u64) -> io::Result<ByteStream> {
        let end = offset.saturating_add(count).min(self.file.length);
        let size = u64::from(self.file.chunk_size_bytes);
        if offset >= end || size == 0 {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let (first, last) = (offset / size, (end - 1) / size);
        let cursor = self
            .chunks
            .find(doc! {
                "files_id": self.file.id.clone(),
                "n": { "$gte": first as i64, "$lte": last as i64 },
            })
            .sort(doc! { "n": 1 })
            .await
            .map_err(io_err)?;
        let stream = futures::stream::unfold((cursor, first), move |(mut cursor, n)| async move {
            if n > last {
                return None;
            }
            let item = match cursor.next().await {
                None => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("GridFS: chunk {n} of the file is missing"),
                )),
                Some(Err(e)) => Err(io_err(e)),
                Some(Ok(chunk)) => slice(&chunk, n, size, offset, end),
            };
            // After an error the stream ends.
            let next = if item.is_ok() { n + 1 } else { last + 1 };
            Some((item, (cursor, next)))
        });
        Ok(Box::pin(stream))
    }
}

/// The part of chunk `n` (of `size` bytes each) that falls in `offset..end`.
fn slice(chunk: &Document, n: u64, size: u64, offset: u64, end: u64) -> io::Result<Bytes> {
    let stored_n = match chunk.get("n") {
        Some(Bson::Int32(v)) => Some(i64::from(*v)),
        Some(Bson::Int64(v)) => Some(*v),
        _ => None,
    };
    let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, format!("GridFS: {why}"));
    if stored_n != Some(n as i64) {
        return Err(bad(format!("expected chunk {n}, found {stored_n:?}")));
    }
    let data = chunk
        .get_binary_generic("data")
        .map_err(|e| bad(format!("chunk {n} has no data: {e}")))?;
    let start = n * size;
    let from = offset.max(start) - start;
    let to = end.min(start + size) - start;
    if (data.len() as u64) < to {
        return Err(bad(format!(
            "chunk {n} holds {} bytes, {to} expected",
            data.len()
        )));
    }
    Ok(Bytes::copy_from_slice(&data[from as usize..to as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::{Binary, spec::BinarySubtype};

    fn chunk(n: i32, data: &[u8]) -> Document {
        doc! { "n": n, "data": Binary { subtype: BinarySubtype::Generic, bytes: data.to_vec() } }
    }

    #[test]
    fn a_range_takes_its_part_of_each_chunk() {
        let c0 = chunk(0, b"0123");
        let c1 = chunk(1, b"4567");
        let c2 = chunk(2, b"89");
        // bytes 3..9 of a 10-byte file in 4-byte chunks
        assert_eq!(&slice(&c0, 0, 4, 3, 9).unwrap()[..], b"3");
        assert_eq!(&slice(&c1, 1, 4, 3, 9).unwrap()[..], b"4567");
        assert_eq!(&slice(&c2, 2, 4, 3, 9).unwrap()[..], b"8");
        assert!(slice(&c1, 2, 4, 3, 9).is_err(), "out of order");
        assert!(slice(&chunk(1, b"45"), 1, 4, 3, 9).is_err(), "short");
    }
}
