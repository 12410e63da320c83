//! Files in the app's MongoDB database, so every instance on it sees every file and
//! MongoDB's backups hold them with the messages.
//!
//! The layout is GridFS's: a file is split into chunks of 255 KiB (`media_chunks`, one
//! document each, unique by file and position) and described by one document in
//! `media_files`, written last, so a file becomes visible only whole. The collection
//! names use `_` rather than GridFS's `.`, and times are Unix milliseconds like the rest of
//! the store: nx-27017, the wire-protocol server the tests use, refuses dotted collection
//! names and does not return BSON dates as dates (see `tests/it/files.rs`). Reads fetch
//! only the chunks a range covers, so a player seeking in a video does not pull the
//! whole file.
//!
//! Without transactions, a process that dies while writing a file (or removing one) would
//! leave chunks that no description names. Each write and removal therefore notes its
//! chunks in `media_writes` first and clears the note when done; a sweep drops the chunks
//! of old notes that no description names.

use std::io;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use mongodb::bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use super::{ByteStream, FileWriter, Files, StoredFile, check_name};
use crate::store::now_ms;

/// GridFS's default chunk size.
const CHUNK: usize = 255 * 1024;

#[derive(Clone)]
pub struct MongoFiles {
    files: Collection<Document>,
    chunks: Collection<Document>,
    /// Chunk sets being written or removed: `{_id: chunks_id, started_at_ms}`.
    writes: Collection<Document>,
    database: String,
}

fn io_err(e: mongodb::error::Error) -> io::Error {
    io::Error::other(format!("MongoDB files: {e}"))
}

fn bad(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("MongoDB files: {why}"))
}

fn int(d: &Document, key: &str) -> Option<i64> {
    match d.get(key)? {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        _ => None,
    }
}

/// A file's description, as `media_files` holds it.
struct FileDoc {
    id: String,
    /// The chunks' `files_id`: the id the file was written under, kept through renames.
    chunks_id: String,
    length: u64,
    chunk_size: u64,
    uploaded_at_ms: i64,
}

impl FileDoc {
    fn read(d: &Document) -> io::Result<Self> {
        let field = |k: &str| int(d, k).ok_or_else(|| bad(format!("a file has no {k}")));
        let text = |k: &str| {
            d.get_str(k)
                .map(str::to_string)
                .map_err(|e| bad(format!("a file has no {k}: {e}")))
        };
        Ok(Self {
            id: text("_id")?,
            chunks_id: text("chunks_id")?,
            length: field("length")? as u64,
            chunk_size: field("chunk_size")? as u64,
            uploaded_at_ms: field("uploaded_at_ms")?,
        })
    }
}

impl MongoFiles {
    /// Uses `db`, creating the indexes the layout needs.
    pub async fn open(db: &mongodb::Database) -> io::Result<Self> {
        let files = db.collection::<Document>("media_files");
        let chunks = db.collection::<Document>("media_chunks");
        let index = |keys: Document, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().unique(unique).build())
                .build()
        };
        for keys in [doc! { "filename": 1 }, doc! { "chunks_id": 1 }] {
            files
                .create_index(index(keys, false))
                .await
                .map_err(io_err)?;
        }
        chunks
            .create_index(index(doc! { "files_id": 1, "n": 1 }, true))
            .await
            .map_err(io_err)?;
        let writes = db.collection::<Document>("media_writes");
        writes
            .create_index(index(doc! { "started_at_ms": 1 }, false))
            .await
            .map_err(io_err)?;
        Ok(Self {
            files,
            chunks,
            writes,
            database: db.name().to_string(),
        })
    }

    /// Notes that the chunks `chunks_id` are being written or removed. An upsert, since a
    /// removal may follow a write whose note a crash kept.
    async fn note_write(&self, chunks_id: &str) -> io::Result<()> {
        self.writes
            .update_one(
                doc! { "_id": chunks_id },
                doc! { "$set": { "started_at_ms": now_ms() } },
            )
            .upsert(true)
            .await
            .map_err(io_err)?;
        Ok(())
    }

    /// The write or removal of `chunks_id` is over. Failing to say so costs only a later
    /// look by the sweep, so it is logged, not returned.
    async fn clear_write(&self, chunks_id: &str) {
        if let Err(e) = self.writes.delete_one(doc! { "_id": chunks_id }).await {
            tracing::warn!(chunks = %chunks_id, error = %e, "MongoDB files: could not clear a write's note");
        }
    }

    async fn find(&self, filter: Document) -> io::Result<Vec<Document>> {
        self.files
            .find(filter)
            .await
            .map_err(io_err)?
            .try_collect()
            .await
            .map_err(io_err)
    }

    async fn revisions(&self, filter: Document) -> io::Result<Vec<FileDoc>> {
        self.find(filter).await?.iter().map(FileDoc::read).collect()
    }

    /// The description first, so a reader never finds a file with chunks missing.
    async fn delete(&self, file: &FileDoc) -> io::Result<()> {
        self.note_write(&file.chunks_id).await?;
        self.files
            .delete_one(doc! { "_id": &file.id })
            .await
            .map_err(io_err)?;
        // A renamed file's chunks stay while another description names them.
        let named = self
            .files
            .find_one(doc! { "chunks_id": &file.chunks_id })
            .await
            .map_err(io_err)?;
        if named.is_none() {
            self.delete_chunks(&file.chunks_id).await?;
        }
        self.clear_write(&file.chunks_id).await;
        Ok(())
    }

    async fn delete_chunks(&self, chunks_id: &str) -> io::Result<()> {
        self.chunks
            .delete_many(doc! { "files_id": chunks_id })
            .await
            .map_err(io_err)?;
        Ok(())
    }

    /// The newest file called `name`; with `prune`, the others are removed. Every writer
    /// and reader picks the same one, so two writers racing on one name leave one file.
    async fn newest(&self, name: &str, prune: bool) -> io::Result<Option<FileDoc>> {
        let mut all = self.revisions(doc! { "filename": name }).await?;
        all.sort_by(|a, b| (a.uploaded_at_ms, &a.id).cmp(&(b.uploaded_at_ms, &b.id)));
        let newest = all.pop();
        if prune {
            for old in all {
                self.delete(&old).await?;
            }
        }
        Ok(newest)
    }
}

#[async_trait]
impl Files for MongoFiles {
    async fn create(&self, name: &str) -> io::Result<Box<dyn FileWriter>> {
        check_name(name)?;
        Ok(Box::new(MongoWriter {
            files: self.clone(),
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            buffer: Vec::with_capacity(CHUNK),
            n: 0,
            size: 0,
        }))
    }

    async fn open(&self, name: &str) -> io::Result<Option<Box<dyn StoredFile>>> {
        check_name(name)?;
        Ok(self.newest(name, false).await?.map(|file| {
            Box::new(MongoFile {
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
        for old in self.revisions(doc! { "filename": to }).await? {
            self.delete(&old).await?;
        }
        // A new description of the same chunks, then the old one goes. (nx-27017, the test
        // server, acknowledges a `$set` of an indexed field without applying it.)
        self.files
            .insert_one(doc! {
                "_id": uuid::Uuid::new_v4().to_string(),
                "chunks_id": &file.chunks_id,
                "filename": to,
                "length": file.length as i64,
                "chunk_size": file.chunk_size as i64,
                "uploaded_at_ms": file.uploaded_at_ms,
            })
            .await
            .map_err(io_err)?;
        self.files
            .delete_one(doc! { "_id": &file.id })
            .await
            .map_err(io_err)?;
        Ok(true)
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        for file in self.revisions(doc! { "filename": name }).await? {
            self.delete(&file).await?;
        }
        Ok(())
    }

    async fn older_than(&self, folder: &str, before_ms: i64) -> io::Result<Vec<String>> {
        check_name(folder)?;
        // `0` follows `/`: the range is every name that starts with `folder/`.
        let filter = doc! {
            "filename": { "$gte": format!("{folder}/"), "$lt": format!("{folder}0") },
            "uploaded_at_ms": { "$lt": before_ms },
        };
        Ok(self
            .find(filter)
            .await?
            .iter()
            .filter_map(|d| d.get_str("filename").ok().map(str::to_string))
            .collect())
    }

    async fn sweep_unfinished(&self, before_ms: i64) -> io::Result<usize> {
        let notes: Vec<Document> = self
            .writes
            .find(doc! { "started_at_ms": { "$lt": before_ms } })
            .await
            .map_err(io_err)?
            .try_collect()
            .await
            .map_err(io_err)?;
        let mut dropped = 0;
        for note in notes {
            let Ok(chunks_id) = note.get_str("_id") else {
                continue;
            };
            // A write that got as far as its description is a file, not debris.
            let named = self
                .files
                .find_one(doc! { "chunks_id": chunks_id })
                .await
                .map_err(io_err)?;
            if named.is_none() {
                self.delete_chunks(chunks_id).await?;
                dropped += 1;
            }
            self.clear_write(chunks_id).await;
        }
        Ok(dropped)
    }

    fn describe(&self) -> String {
        format!(
            "collections media_files and media_chunks of MongoDB database {}",
            self.database
        )
    }
}

struct MongoWriter {
    files: MongoFiles,
    id: String,
    name: String,
    buffer: Vec<u8>,
    n: i64,
    size: u64,
}

impl MongoWriter {
    async fn flush_chunk(&mut self) -> io::Result<()> {
        if self.n == 0 {
            self.files.note_write(&self.id).await?;
        }
        let data = Binary {
            subtype: BinarySubtype::Generic,
            bytes: std::mem::take(&mut self.buffer),
        };
        self.files
            .chunks
            .insert_one(doc! { "files_id": &self.id, "n": self.n, "data": data })
            .await
            .map_err(io_err)?;
        self.n += 1;
        self.buffer.reserve(CHUNK);
        Ok(())
    }
}

#[async_trait]
impl FileWriter for MongoWriter {
    async fn write(&mut self, mut chunk: &[u8]) -> io::Result<()> {
        self.size += chunk.len() as u64;
        while !chunk.is_empty() {
            let take = (CHUNK - self.buffer.len()).min(chunk.len());
            self.buffer.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.buffer.len() == CHUNK {
                self.flush_chunk().await?;
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> io::Result<u64> {
        let written = async {
            if !self.buffer.is_empty() {
                self.flush_chunk().await?;
            }
            self.files
                .files
                .insert_one(doc! {
                    "_id": &self.id,
                    "chunks_id": &self.id,
                    "filename": &self.name,
                    "length": self.size as i64,
                    "chunk_size": CHUNK as i64,
                    "uploaded_at_ms": now_ms(),
                })
                .await
                .map_err(io_err)
        }
        .await;
        if let Err(e) = written {
            if self.files.delete_chunks(&self.id).await.is_ok() {
                self.files.clear_write(&self.id).await;
            }
            return Err(e);
        }
        self.files.clear_write(&self.id).await;
        self.files.newest(&self.name, true).await?;
        Ok(self.size)
    }

    async fn abort(self: Box<Self>) {
        match self.files.delete_chunks(&self.id).await {
            Ok(()) => self.files.clear_write(&self.id).await,
            // The note stays, so the sweep drops them later.
            Err(e) => {
                tracing::warn!(file = %self.name, error = %e, "MongoDB files: could not drop an unfinished file")
            }
        }
    }
}

struct MongoFile {
    file: FileDoc,
    chunks: Collection<Document>,
}

#[async_trait]
impl StoredFile for MongoFile {
    fn size(&self) -> u64 {
        self.file.length
    }

    async fn read(self: Box<Self>, offset: u64, count: u64) -> io::Result<ByteStream> {
        let end = offset.saturating_add(count).min(self.file.length);
        let size = self.file.chunk_size;
        if offset >= end || size == 0 {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let (first, last) = (offset / size, (end - 1) / size);
        let cursor = self
            .chunks
            .find(doc! {
                "files_id": &self.file.chunks_id,
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
                    format!("MongoDB files: chunk {n} of the file is missing"),
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
    let stored_n = int(chunk, "n");
    if stored_n != Some(n as i64) {
        return Err(bad(format!("expected chunk {n}, found {stored_n:?}")));
    }
    let data = match chunk.get("data") {
        Some(Bson::Binary(b)) => &b.bytes,
        _ => return Err(bad(format!("chunk {n} has no data"))),
    };
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
