//! The small storage trait tern needs, and sled 0.34 underneath it.
//!
//! sled 0.34 is the last stable sled and is no longer maintained (crates.md §4); keeping
//! the rest of tern behind [`Kv`] means another engine can replace it without touching the
//! actors. [`SledKv`] is only the checkpointed layer of [`super::engine::Engine`].

use std::ops::Bound;
use std::path::Path;
use std::pin::Pin;

use futures::Future;

/// A storage failure, and what it means for the writes it answers.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store: {what}")]
pub struct StoreError {
    what: String,
    fate: Fate,
}

/// What a failed write left behind; decides what the writer may tell its client (the
/// policy is in [`super::engine`]'s module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Nothing of the write was kept: refuse it (ESME_RSYSERR).
    Refused,
    /// Nothing was kept, for want of room: a full disk, a store that is behind, a full
    /// queue (ESME_RMSGQFUL: try again later).
    Full,
    /// The store stopped itself in the middle of the write: it may be durable or not, and
    /// the next start decides. Nobody may be told it failed, nor that it worked.
    Unknown,
}

impl StoreError {
    /// A refused write (or a failed read), described by `what`.
    pub fn new(what: impl Into<String>) -> StoreError {
        StoreError {
            what: what.into(),
            fate: Fate::Refused,
        }
    }

    /// A write refused for want of room.
    pub fn full(what: impl Into<String>) -> StoreError {
        StoreError {
            what: what.into(),
            fate: Fate::Full,
        }
    }

    /// A write whose fate is unknown because the store stopped during it.
    pub fn unknown(what: impl Into<String>) -> StoreError {
        StoreError {
            what: what.into(),
            fate: Fate::Unknown,
        }
    }

    /// A refusal for an I/O error while doing `doing`: a full disk or quota is
    /// [`Fate::Full`].
    pub fn io(doing: impl std::fmt::Display, e: &std::io::Error) -> StoreError {
        const ENOSPC: i32 = 28;
        const EDQUOT: i32 = 122;
        let full = e.kind() == std::io::ErrorKind::StorageFull
            || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT));
        StoreError {
            what: format!("{doing}: {e}"),
            fate: if full { Fate::Full } else { Fate::Refused },
        }
    }

    /// What the failed write left behind.
    pub fn fate(&self) -> Fate {
        self.fate
    }

    /// What went wrong, without the `store:` prefix.
    pub fn what(&self) -> &str {
        &self.what
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(io) => StoreError::io("sled", &io),
            e => StoreError::new(e.to_string()),
        }
    }
}

/// One write in a batch.
#[derive(Debug, Clone)]
pub enum Op {
    /// Set `key` to `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Set `key`, which the writer knows was never written before (a key named by a new
    /// message id): removing it while it is still in memory costs sled nothing.
    Insert(Vec<u8>, Vec<u8>),
    /// Remove `key`.
    Del(Vec<u8>),
    /// Append `value` to `key`'s value (an absent key counts as empty).
    Append(Vec<u8>, Vec<u8>),
}

/// Writes applied atomically together.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    /// The writes, in order.
    pub ops: Vec<Op>,
}

impl WriteBatch {
    /// Adds a put.
    pub fn put(&mut self, k: impl Into<Vec<u8>>, v: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put(k.into(), v.into()));
    }
    /// Adds the first write of a key that has never existed (see [`Op::Insert`]).
    pub fn insert_new(&mut self, k: impl Into<Vec<u8>>, v: impl Into<Vec<u8>>) {
        self.ops.push(Op::Insert(k.into(), v.into()));
    }
    /// Adds a delete.
    pub fn del(&mut self, k: impl Into<Vec<u8>>) {
        self.ops.push(Op::Del(k.into()));
    }
    /// Adds an append.
    pub fn append(&mut self, k: impl Into<Vec<u8>>, v: impl Into<Vec<u8>>) {
        self.ops.push(Op::Append(k.into(), v.into()));
    }
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// One key and its value, from a scan.
pub type Row = Result<(Vec<u8>, Vec<u8>), StoreError>;

/// A future returned by [`Kv::flush`].
pub type FlushFuture = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// An ordered key-value store with atomic batches and an explicit durability point.
pub trait Kv: Send + Sync + 'static {
    /// Applies `batch` atomically; visible to reads at once, durable after [`Kv::flush`].
    /// Takes the writes out of `batch` and leaves it empty, its room kept for the next.
    fn apply(&self, batch: &mut WriteBatch) -> Result<(), StoreError>;
    /// Makes every write applied before this call durable (fsync).
    fn flush(&self) -> FlushFuture;
    /// Reads one key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every key and value under `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Vec<Row>;
    /// At most `limit` keys and values under `prefix` from `start` on, in key order: one
    /// page of a listing.
    fn scan_page(&self, prefix: &[u8], start: Bound<&[u8]>, limit: usize) -> Vec<Row> {
        self.scan_prefix(prefix)
            .into_iter()
            .filter(|r| match (r, start) {
                (Ok((k, _)), Bound::Excluded(a)) => k.as_slice() > a,
                (Ok((k, _)), Bound::Included(a)) => k.as_slice() >= a,
                _ => true,
            })
            .take(limit)
            .collect()
    }
    /// A crash-safe, strictly increasing id.
    fn generate_id(&self) -> Result<u64, StoreError>;
    /// Whether the store keeps up: `Err` says why not (its background work stopped).
    fn health(&self) -> Result<(), String> {
        Ok(())
    }
    /// Stops the store for good (fail-stop, see the engine's module doc): called by a
    /// writer that lost track of what it wrote, such as a crashed group-commit actor.
    fn stop(&self, why: &str);
    /// Moves everything written so far into the long-term store (shutdown calls this so the
    /// next start has nothing to replay).
    fn checkpoint(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// sled 0.34: one tree, written only by checkpoints, each one batch.
#[derive(Clone)]
pub struct SledKv {
    db: sled::Db,
    tree: sled::Tree,
}

impl SledKv {
    /// Opens (or creates) the database in `dir` with a page cache of `cache_mb` MiB.
    pub fn open(dir: &Path, cache_mb: u64) -> Result<SledKv, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mb.saturating_mul(1024 * 1024))
            // checkpoints flush explicitly; the background flush is only a backstop
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|e| match e {
                // sled words it "could not acquire lock on ..." (kind Other, errno 11 inside)
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => StoreError::new(format!(
                    "data_dir {} is in use by another tern process (its lock is held): stop that one or use another data_dir",
                    dir.display()
                )),
                e => StoreError::from(e),
            })?;
        let tree = db.open_tree("tern")?;
        Ok(SledKv { db, tree })
    }

    /// Writes every entry of `table` (a `None` removes the key), key by key.
    ///
    /// Not one batch on purpose: a sled batch takes a global lock that blocks every sled
    /// read for its whole length, and a checkpoint holds a second of traffic. Atomicity is
    /// not needed here: the journal holds the same writes as resolved values, so a crash
    /// halfway is repaired by replaying it.
    pub fn apply_all<'a>(
        &self,
        table: impl Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        for (k, v) in table {
            match v {
                Some(v) => self.tree.insert(k.as_slice(), v.as_slice())?,
                None => self.tree.remove(k.as_slice())?,
            };
        }
        Ok(())
    }

    /// Records that sled holds every journal segment up to `upto`.
    pub fn set_marker(&self, marker: &[u8], upto: u64) -> Result<(), StoreError> {
        self.tree.insert(marker, &upto.to_be_bytes())?;
        Ok(())
    }

    /// Makes everything applied durable, now.
    pub fn flush_now(&self) -> Result<(), StoreError> {
        self.tree.flush()?;
        Ok(())
    }

    /// Reads one key.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    /// Every key and value under `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Vec<Row> {
        self.tree
            .scan_prefix(prefix)
            .map(|r| {
                r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(StoreError::from)
            })
            .collect()
    }

    /// A crash-safe, strictly increasing id.
    pub fn generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// Keys and values under `prefix` from `start` (inclusive) on, in key order, read
    /// lazily.
    pub fn range_from<'a>(
        &self,
        prefix: &'a [u8],
        start: Vec<u8>,
    ) -> impl Iterator<Item = Row> + use<'a> {
        self.tree
            .range(start..)
            .map(|r| {
                r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(StoreError::from)
            })
            .take_while(move |r| r.as_ref().map_or(true, |(k, _)| k.starts_with(prefix)))
    }
}
