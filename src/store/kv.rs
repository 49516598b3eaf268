//! The small storage trait tern needs, and its sled 0.34 implementation.
//!
//! sled 0.34 is the last stable sled and is no longer maintained (crates.md §4); keeping
//! the rest of tern behind [`Kv`] means another engine can replace it without touching the
//! actors.

use std::path::Path;
use std::pin::Pin;

use futures::Future;

/// A storage failure. The store is the source of truth, so callers treat this as "not
/// accepted" and answer the ESME with an error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// One write in a batch.
#[derive(Debug, Clone)]
pub enum Op {
    /// Set `key` to `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Remove `key`.
    Del(Vec<u8>),
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
    /// Adds a delete.
    pub fn del(&mut self, k: impl Into<Vec<u8>>) {
        self.ops.push(Op::Del(k.into()));
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
    fn apply(&self, batch: WriteBatch) -> Result<(), StoreError>;
    /// Makes every write applied before this call durable (fsync).
    fn flush(&self) -> FlushFuture;
    /// Reads one key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every key and value under `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Vec<Row>;
    /// The greatest key under `prefix` and its value.
    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError>;
    /// A crash-safe, strictly increasing id.
    fn generate_id(&self) -> Result<u64, StoreError>;
}

/// sled 0.34 behind [`Kv`]: one tree, so every batch is atomic.
#[derive(Clone)]
pub struct SledKv {
    db: sled::Db,
    tree: sled::Tree,
}

impl SledKv {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<SledKv, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(128 * 1024 * 1024)
            // tern flushes explicitly per batch; the background flush is only a backstop
            .flush_every_ms(Some(1000))
            .open()?;
        let tree = db.open_tree("tern")?;
        Ok(SledKv { db, tree })
    }
}

impl Kv for SledKv {
    fn apply(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for op in batch.ops {
            match op {
                Op::Put(k, v) => b.insert(k, v),
                Op::Del(k) => b.remove(k),
            }
        }
        self.tree.apply_batch(b)?;
        Ok(())
    }

    fn flush(&self) -> FlushFuture {
        let tree = self.tree.clone();
        Box::pin(async move {
            tree.flush_async().await?;
            Ok(())
        })
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<Row> {
        self.tree
            .scan_prefix(prefix)
            .map(|r| {
                r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(StoreError::from)
            })
            .collect()
    }

    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
        match self.tree.scan_prefix(prefix).next_back() {
            Some(r) => {
                let (k, v) = r?;
                Ok(Some((k.to_vec(), v.to_vec())))
            }
            None => Ok(None),
        }
    }

    fn generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }
}
