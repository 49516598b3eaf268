//! The `Store` actor: group commit over the [`Kv`] store.
//!
//! Writers send a [`Commit`] with a batch and a oneshot for the result. Commits that arrive
//! together are applied together as one batch (sled then writes each key once per group, so
//! a busy account's balance is one write, not one per message). Applying and fsync overlap:
//! while one flush runs, the next group is applied, and it is flushed as soon as the first
//! flush ends. Under load the groups grow by themselves; idle, a lone write is flushed at
//! once. A write is acknowledged only after a flush that began after it was applied
//! (durability "fsync"), or once it is applied ("os").
//!
//! A write the store refused (nothing of it kept) is answered with the error. A write
//! whose fate is unknown (the store stopped itself during it, see `store::engine`) is
//! never answered: its waiter is held until the process exits, so nobody is told it
//! failed when the next start may find it stored. A panic in this actor loses track of
//! which writes reached the journal, so it stops the store the same way.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::supervise::{Restart, guard};
use crate::config::Durability;
use crate::store::kv::{Fate, Kv, StoreError, WriteBatch};

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

/// Apply the commits received so far (sent to itself once per mailbox drain).
#[derive(Message)]
#[rtype(result = "()")]
struct Apply;

/// The group-commit writer. One per node, on its own arbiter.
pub struct Store {
    kv: Arc<dyn Kv>,
    durability: Durability,
    /// Received, not applied yet.
    pending: Vec<Commit>,
    /// An [`Apply`] is on its way.
    apply_queued: bool,
    /// Applied, waiting for the next flush.
    applied: Vec<oneshot::Sender<CommitResult>>,
    /// A flush is running.
    flushing: bool,
    /// The group being applied; kept between groups so its room is allocated once.
    merged: WriteBatch,
    /// Waiters of writes whose fate is unknown: never answered.
    held: Vec<oneshot::Sender<CommitResult>>,
    /// Waiters of the group being applied, and of the flush running: kept in the actor
    /// (not in a local or a closure) so that a panic cannot drop them, which their writers
    /// would read as a refusal.
    applying: Vec<oneshot::Sender<CommitResult>>,
    in_flush: Vec<oneshot::Sender<CommitResult>>,
}

/// Mailbox size: commits queued beyond this are refused and the ESME gets ESME_RMSGQFUL.
pub const STORE_MAILBOX: usize = 16_384;

/// Commits waiting for the next group beyond this are refused as well (a slow fsync must
/// not let the queue grow without bound).
pub const MAX_PENDING_COMMITS: usize = 65_536;

/// Commits applied as one batch at most (bounds the latency of the first in a group).
const MAX_GROUP: usize = 4096;

const FULL: &str = "store queue full";

impl Store {
    /// A store writing to `kv`.
    pub fn new(kv: Arc<dyn Kv>, durability: Durability) -> Self {
        Store {
            kv,
            durability,
            pending: Vec::new(),
            apply_queued: false,
            applied: Vec::new(),
            flushing: false,
            merged: WriteBatch::default(),
            held: Vec::new(),
            applying: Vec::new(),
            in_flush: Vec::new(),
        }
    }

    /// Answers `waiters` with `res`, or holds them when their writes' fate is unknown.
    fn settle(&mut self, waiters: Vec<oneshot::Sender<CommitResult>>, res: &CommitResult) {
        match res {
            Err(e) if e.fate() == Fate::Unknown => self.held.extend(waiters),
            res => {
                for w in waiters {
                    let _ = w.send(res.clone());
                }
            }
        }
    }

    /// Applies every pending commit as one batch; they then wait for a flush.
    fn apply_pending(&mut self, ctx: &mut Context<Self>) {
        if self.pending.is_empty() {
            return;
        }
        for c in self.pending.drain(..) {
            self.merged.ops.extend(c.batch.ops);
            self.applying.push(c.done);
        }
        let t = Instant::now();
        let res = self.kv.apply(&mut self.merged);
        let waiters = std::mem::take(&mut self.applying);
        // a failed apply may leave writes behind: they belong to the failed group
        self.merged.ops.clear();
        metrics::histogram!("tern_store_apply_seconds").record(t.elapsed().as_secs_f64());
        match res {
            Err(e) => {
                tracing::error!(error = %e, batch = waiters.len(), "store apply failed");
                self.settle(waiters, &Err(e));
            }
            Ok(()) if self.durability == Durability::Os => self.settle(waiters, &Ok(())),
            Ok(()) => {
                self.applied.extend(waiters);
                self.maybe_flush(ctx);
            }
        }
    }

    /// Starts a flush for everything applied so far, unless one is running.
    fn maybe_flush(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.applied.is_empty() {
            return;
        }
        self.flushing = true;
        self.in_flush = std::mem::take(&mut self.applied);
        let flush = self.kv.flush();
        let t = Instant::now();
        ctx.spawn(flush.into_actor(self).map(move |res, act, ctx| {
            guard(act, ctx, |act, ctx| {
                metrics::histogram!("tern_store_flush_seconds").record(t.elapsed().as_secs_f64());
                let waiters = std::mem::take(&mut act.in_flush);
                if let Err(e) = &res {
                    tracing::error!(error = %e, batch = waiters.len(), "store flush failed");
                }
                act.settle(waiters, &res);
                act.flushing = false;
                act.maybe_flush(ctx);
            });
        }));
    }
}

impl Actor for Store {
    type Context = Context<Self>;
}

impl Restart for Store {
    const NAME: &'static str = "store";

    /// A crash may have left a group applied but not flushed, or half applied: which
    /// waiters' writes are in the journal is unknown, so the store stops (fail-stop) and
    /// every waiter is held.
    fn restart(&mut self, _ctx: &mut Context<Self>) {
        self.kv.stop("the group-commit actor crashed");
        let pending: Vec<_> = self.pending.drain(..).map(|c| c.done).collect();
        self.held.extend(pending);
        self.held.append(&mut self.applying);
        self.held.append(&mut self.applied);
        self.held.append(&mut self.in_flush);
        self.merged.ops.clear();
    }
}

impl Handler<Commit> for Store {
    type Result = ();
    fn handle(&mut self, c: Commit, ctx: &mut Context<Self>) {
        guard(self, ctx, |act, ctx| {
            if act.pending.len() + act.applied.len() >= MAX_PENDING_COMMITS {
                let _ = c.done.send(Err(StoreError::full(FULL)));
                return;
            }
            act.pending.push(c);
            if act.pending.len() >= MAX_GROUP {
                // writers faster than the mailbox drains: do not let one group grow forever
                act.apply_pending(ctx);
            } else if !act.apply_queued {
                // runs after the commits already in the mailbox, so they make one group
                act.apply_queued = true;
                ctx.notify(Apply);
            }
        });
    }
}

impl Handler<Apply> for Store {
    type Result = ();
    fn handle(&mut self, _: Apply, ctx: &mut Context<Self>) {
        guard(self, ctx, |act, ctx| {
            act.apply_queued = false;
            act.apply_pending(ctx);
        });
    }
}

impl Handler<FlushAll> for Store {
    type Result = ResponseFuture<CommitResult>;
    fn handle(&mut self, _: FlushAll, ctx: &mut Context<Self>) -> Self::Result {
        guard(self, ctx, |act, ctx| act.apply_pending(ctx));
        let kv = self.kv.clone();
        Box::pin(async move {
            kv.flush().await?;
            // leave nothing for the next start to replay
            kv.checkpoint()
        })
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
    /// The store's queue or disk is full, or it is behind: shed load (ESME_RMSGQFUL).
    #[error("store full")]
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
                Ok(Err(e)) if e.fate() == Fate::Full => Err(CommitError::Full),
                Ok(Err(e)) => Err(CommitError::Failed(e.what().to_string())),
                Err(_) => Err(CommitError::Failed("store stopped".into())),
            }
        })
    }

    /// Flushes everything written so far.
    pub async fn flush_all(&self) -> Result<(), CommitError> {
        match self.addr.send(FlushAll).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CommitError::Failed(e.what().to_string())),
            Err(e) => Err(CommitError::Failed(e.to_string())),
        }
    }
}
