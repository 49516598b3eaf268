//! The `Store` actor: group commit over the [`Kv`] store.
//!
//! Writers send a [`Commit`] with a batch and a oneshot for the result. While one flush
//! runs, new batches queue; when it ends, everything queued is applied and flushed together.
//! Under load the batch grows by itself; idle, a lone write is flushed at once. A write is
//! acknowledged only after the flush (durability "fsync") or after it is applied ("os").

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::config::Durability;
use crate::store::kv::{Kv, StoreError, WriteBatch};

/// Result of a commit, sent on the oneshot.
pub type CommitResult = Result<(), StoreError>;

/// Make `batch` durable, then answer on `done`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Commit {
    /// Writes applied atomically.
    pub batch: WriteBatch,
    /// Where the result goes.
    pub done: oneshot::Sender<CommitResult>,
}

/// Flush everything, then answer (used on shutdown).
#[derive(Message)]
#[rtype(result = "CommitResult")]
pub struct FlushAll;

/// The group-commit writer. One per node, on its own arbiter.
pub struct Store {
    kv: Arc<dyn Kv>,
    durability: Durability,
    pending: Vec<Commit>,
    flushing: bool,
}

/// Mailbox size: commits queued beyond this are refused and the ESME gets ESME_RMSGQFUL.
pub const STORE_MAILBOX: usize = 16_384;

/// Commits waiting for the next group beyond this are refused as well (a slow fsync must
/// not let the queue grow without bound).
pub const MAX_PENDING_COMMITS: usize = 65_536;

const FULL: &str = "store queue full";

impl Store {
    /// A store writing to `kv`.
    pub fn new(kv: Arc<dyn Kv>, durability: Durability) -> Self {
        Store {
            kv,
            durability,
            pending: Vec::new(),
            flushing: false,
        }
    }

    fn maybe_flush(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.pending.is_empty() {
            return;
        }
        self.flushing = true;
        let group = std::mem::take(&mut self.pending);
        let mut merged = WriteBatch::default();
        let mut waiters = Vec::with_capacity(group.len());
        for c in group {
            merged.ops.extend(c.batch.ops);
            waiters.push(c.done);
        }
        let kv = self.kv.clone();
        let fsync = self.durability == Durability::Fsync;
        let n = waiters.len();
        let fut = async move {
            let t = Instant::now();
            kv.apply(merged)?;
            if fsync {
                kv.flush().await?;
            }
            metrics::histogram!("tern_store_flush_seconds").record(t.elapsed().as_secs_f64());
            Ok(())
        };
        ctx.spawn(
            fut.into_actor(self)
                .map(move |res: CommitResult, act, ctx| {
                    if let Err(e) = &res {
                        tracing::error!(error = %e, batch = n, "store commit failed");
                    }
                    for w in waiters {
                        let _ = w.send(res.clone());
                    }
                    act.flushing = false;
                    act.maybe_flush(ctx);
                }),
        );
    }
}

impl Actor for Store {
    type Context = Context<Self>;
}

impl Handler<Commit> for Store {
    type Result = ();
    fn handle(&mut self, c: Commit, ctx: &mut Context<Self>) {
        if self.pending.len() >= MAX_PENDING_COMMITS {
            let _ = c.done.send(Err(StoreError(FULL.into())));
            return;
        }
        self.pending.push(c);
        self.maybe_flush(ctx);
    }
}

impl Handler<FlushAll> for Store {
    type Result = ResponseFuture<CommitResult>;
    fn handle(&mut self, _: FlushAll, _: &mut Context<Self>) -> Self::Result {
        let kv = self.kv.clone();
        Box::pin(async move { kv.flush().await })
    }
}

/// A cheap handle for committing batches: refuses at once when the store is saturated.
#[derive(Clone)]
pub struct StoreHandle {
    addr: Addr<Store>,
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The store's queue is full: shed load (ESME_RMSGQFUL).
    #[error("store queue full")]
    Full,
    /// The write failed or the store is gone.
    #[error("{0}")]
    Failed(String),
}

impl StoreHandle {
    /// Wraps the store's address.
    pub fn new(addr: Addr<Store>) -> Self {
        StoreHandle { addr }
    }

    /// Commits `batch`; the future resolves once it is durable.
    pub fn commit(
        &self,
        batch: WriteBatch,
    ) -> impl Future<Output = Result<(), CommitError>> + 'static {
        let queued = self.try_commit(batch);
        async move { queued?.await }
    }

    /// Queues `batch` now, or refuses at once when the store is saturated; the returned
    /// future resolves once the batch is durable.
    pub fn try_commit(
        &self,
        batch: WriteBatch,
    ) -> Result<impl Future<Output = Result<(), CommitError>> + 'static, CommitError> {
        let (done, rx) = oneshot::channel();
        match self.addr.try_send(Commit { batch, done }) {
            Err(SendError::Full(_)) => return Err(CommitError::Full),
            Err(SendError::Closed(_)) => return Err(CommitError::Failed("store stopped".into())),
            Ok(()) => {}
        }
        Ok(async move {
            match rx.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) if e.0 == FULL => Err(CommitError::Full),
                Ok(Err(e)) => Err(CommitError::Failed(e.0)),
                Err(_) => Err(CommitError::Failed("store stopped".into())),
            }
        })
    }

    /// Flushes everything written so far.
    pub async fn flush_all(&self) -> Result<(), CommitError> {
        match self.addr.send(FlushAll).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CommitError::Failed(e.0)),
            Err(e) => Err(CommitError::Failed(e.to_string())),
        }
    }
}
