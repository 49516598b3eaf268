//! `DlrCorrelator`: one per shard of carrier message ids. Maps a carrier's message id to
//! tern's id (durably: receipts come days later), holds receipts that arrive before the
//! carrier's submit_sm_resp, ignores duplicate receipts, and ends the message with the
//! receipt's state, handing the ESME's receipt to `Delivery`.
//!
//! Registration and receipts for one carrier id always reach the same shard, so they are
//! handled in order. Writes not yet durable are remembered in memory (`registering`,
//! `finishing`, `early_pending`) so a receipt racing its own registration is still matched.
//! The registrations and ended messages of one mailbox drain go to the store as one batch,
//! in the order they happened; each receipt is answered once that batch is durable.
//!
//! The messages most recently handed to carriers are also kept in memory (`awaiting`, a
//! bounded cache), so a receipt that comes soon after its submit_sm_resp, the usual case,
//! ends its message without a single store read; older ones are looked up in the store.
//! A final receipt removes the stored mapping with the message's last event (most never
//! reach sled at all); the cache remembers the ids it ended, so a duplicate of the receipt
//! is recognised and dropped. One that comes after the cache forgot its id is held as an
//! unmatched receipt and dropped with them: it never reaches the ESME either way.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::domain::dlr::Stat;
use crate::domain::message::{MessageMeta, MessageState, now_ms};
use crate::store::keys::{self, EarlyReceipt};
use crate::store::kv::{Kv, WriteBatch};

use super::delivery::{Delivery, NewReceipt};
use super::router::Outbound;
use super::store::StoreHandle;
use super::{FastMap, FastSet};

/// The carrier accepted tern's message `tern_id` under `carrier_id`.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Register {
    /// Carrier (config id).
    pub carrier: String,
    /// The carrier's id, in the form its receipts will use.
    pub carrier_id: String,
    /// The message (tern's id is `msg.meta.id`).
    pub msg: Arc<Outbound>,
    /// A second try after a failed commit: the message may have ended meanwhile.
    pub retry: bool,
}

/// A receipt from a carrier. Answered once it is durable (then the carrier gets its
/// deliver_sm_resp), or with an error if it could not be stored.
#[derive(Message)]
#[rtype(result = "Result<(), ()>")]
pub struct CarrierReceipt {
    /// Carrier (config id).
    pub carrier: String,
    /// The id the receipt names.
    pub carrier_id: String,
    /// Reported state.
    pub stat: Stat,
    /// `err:` field.
    pub err: String,
}

/// Commit the writes gathered so far (sent to itself once per mailbox drain).
#[derive(Message)]
#[rtype(result = "()")]
struct CommitPending;

/// A message ended in the pending batch, and what follows once the batch is stored.
struct Ended {
    id: String,
    /// The carrier id it was ended under, when it still owned it.
    key: Option<(String, String)>,
    receipt: Option<keys::OutboxReceipt>,
    done: oneshot::Sender<Result<(), ()>>,
}

/// Resolves once the batch that ends a message is stored (`Err` if it was not).
type Finishing = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ()>>>>;

/// How long an early receipt waits for its submit_sm_resp.
const EARLY_TTL_MS: u64 = 10 * 60 * 1000;

/// Messages per shard whose receipt is awaited in memory; older ones are found in the store.
const AWAITING_MAX: usize = 50_000;
/// Carrier ids per shard remembered at all, waiting or ended (ended ones catch duplicates).
const REMEMBERED_MAX: usize = 2 * AWAITING_MAX;

/// A carrier message id the correlator remembers.
enum Slot {
    /// Registered; its final receipt has not come yet.
    Waiting(Arc<Outbound>),
    /// Its message has ended: another final receipt for it is a duplicate.
    Ended,
}

/// What [`Awaiting::receipt`] knew of a carrier id.
enum Known {
    /// Waiting for this receipt (now marked ended).
    Waiting(Arc<Outbound>),
    /// Its message has already ended.
    Ended,
    /// Not in memory: ask the store.
    Unknown,
}

/// The most recently registered or ended messages by (carrier, carrier id), oldest first
/// out: at most [`AWAITING_MAX`] waiting and [`REMEMBERED_MAX`] in all, so ended ones
/// never crowd out the ones still waiting for their receipt.
#[derive(Default)]
struct Awaiting {
    by_id: FastMap<(String, String), Slot>,
    /// Keys in the order they were first remembered (some may be gone from `by_id`).
    order: VecDeque<(String, String)>,
    /// Entries of `by_id` that are [`Slot::Waiting`].
    waiting: usize,
}

impl Awaiting {
    fn put(&mut self, key: (String, String), slot: Slot) {
        self.waiting += usize::from(matches!(slot, Slot::Waiting(_)));
        match self.by_id.insert(key.clone(), slot) {
            None => self.order.push_back(key),
            Some(Slot::Waiting(_)) => self.waiting -= 1,
            Some(Slot::Ended) => {}
        }
        while self.waiting > AWAITING_MAX || self.order.len() > REMEMBERED_MAX {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(Slot::Waiting(_)) = self.by_id.remove(&old) {
                self.waiting -= 1;
            }
        }
    }

    /// Remembers a message handed to its carrier.
    fn insert(&mut self, key: (String, String), msg: Arc<Outbound>) {
        self.put(key, Slot::Waiting(msg));
    }

    /// A final receipt for `key` came: what was known of it; from now on it counts as ended.
    fn receipt(&mut self, key: &(String, String)) -> Known {
        match self.by_id.get_mut(key) {
            None => Known::Unknown,
            Some(slot) => match std::mem::replace(slot, Slot::Ended) {
                Slot::Waiting(msg) => {
                    self.waiting -= 1;
                    Known::Waiting(msg)
                }
                Slot::Ended => Known::Ended,
            },
        }
    }

    /// `key`'s message has ended.
    fn ended(&mut self, key: (String, String)) {
        self.put(key, Slot::Ended);
    }

    /// Forgets `key` (its end could not be stored: the store decides next time).
    fn forget(&mut self, key: &(String, String)) {
        if let Some(Slot::Waiting(_)) = self.by_id.remove(key) {
            self.waiting -= 1;
        }
    }

    /// Whether `key` is remembered at all.
    fn knows(&self, key: &(String, String)) -> bool {
        self.by_id.contains_key(key)
    }
}

/// A correlator shard.
pub struct DlrCorrelator {
    kv: Arc<dyn Kv>,
    store: StoreHandle,
    delivery: Addr<Delivery>,
    receipt_ttl_ms: u64,
    message_ttl_ms: u64,
    shard: (usize, usize),
    registering: FastMap<(String, String), String>,
    finishing: FastSet<String>,
    early_pending: FastMap<(String, String), EarlyReceipt>,
    /// Early receipts of this shard held in the store: only these are looked up there, so
    /// the usual case (no early receipt) costs no store read.
    early_stored: FastSet<(String, String)>,
    /// Registered messages whose receipt has not come yet (bounded; a cache of the store).
    awaiting: Awaiting,
    /// Writes not yet handed to the store (registrations, ended messages), in the order
    /// they happened: committed together once the mailbox is drained, so a message's
    /// events reach the store in order.
    pending: WriteBatch,
    /// The registrations in `pending`, to try again should the commit fail.
    registered: Vec<((String, String), Arc<Outbound>)>,
    /// The messages `pending` ends.
    ended: Vec<Ended>,
    /// `tern_dlr_total` by carrier and stat, registered once each.
    dlr_counters: HashMap<String, HashMap<Stat, metrics::Counter>>,
}

impl DlrCorrelator {
    /// Shard `shard.0` of `shard.1`. Receipts wait `message_ttl_ms` after acceptance at most;
    /// then the message ends EXPIRED.
    pub fn new(
        kv: Arc<dyn Kv>,
        store: StoreHandle,
        delivery: Addr<Delivery>,
        receipt_ttl_ms: u64,
        message_ttl_ms: u64,
        shard: (usize, usize),
    ) -> Self {
        DlrCorrelator {
            kv,
            store,
            delivery,
            receipt_ttl_ms,
            message_ttl_ms,
            shard,
            registering: FastMap::default(),
            finishing: FastSet::default(),
            early_pending: FastMap::default(),
            early_stored: FastSet::default(),
            awaiting: Awaiting::default(),
            dlr_counters: HashMap::new(),
            pending: WriteBatch::default(),
            registered: Vec::new(),
            ended: Vec::new(),
        }
    }

    fn lookup(&self, carrier: &str, cid: &str) -> Option<String> {
        let k = (carrier.to_string(), cid.to_string());
        if let Some(id) = self.registering.get(&k) {
            return Some(id.clone());
        }
        let v = self.kv.get(&keys::correlation(carrier, cid)).ok()??;
        String::from_utf8(v).ok()
    }

    fn early(&self, carrier: &str, cid: &str) -> Option<EarlyReceipt> {
        if let Some(e) = self
            .early_pending
            .get(&(carrier.to_string(), cid.to_string()))
        {
            return Some(e.clone());
        }
        if !self
            .early_stored
            .contains(&(carrier.to_string(), cid.to_string()))
        {
            return None;
        }
        let v = self.kv.get(&keys::early(carrier, cid)).ok()??;
        keys::decode(&v).ok()
    }

    /// Adds writes to the pending batch; the first after a commit schedules the next.
    fn stage(&mut self, ops: WriteBatch, ctx: &mut Context<Self>) {
        if self.pending.is_empty() {
            // runs after the messages already in the mailbox: one commit for all of them
            ctx.notify(CommitPending);
        }
        self.pending.ops.extend(ops.ops);
    }

    /// Hands the writes gathered so far to the store as one commit.
    fn commit_pending(&mut self, ctx: &mut Context<Self>) {
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        let regs = std::mem::take(&mut self.registered);
        let ended = std::mem::take(&mut self.ended);
        let commit = self.store.commit(batch);
        ctx.spawn(commit.into_actor(self).map(move |res, act, ctx| {
            let stored = res.is_ok();
            for e in ended {
                act.finishing.remove(&e.id);
                if stored {
                    if let Some(r) = e.receipt {
                        act.delivery.do_send(NewReceipt(r));
                    }
                    let _ = e.done.send(Ok(()));
                } else {
                    tracing::warn!(id = %e.id, "could not store receipt");
                    // nothing of it was stored: the next receipt for it goes to the store
                    if let Some(key) = &e.key {
                        act.awaiting.forget(key);
                    }
                    let _ = e.done.send(Err(()));
                }
            }
            act.registrations_done(regs, stored, ctx);
        }));
    }

    /// After the commit that carried `regs`: forget them, or, when it failed, try again
    /// (without the mapping a receipt would be lost). A retry checks first whether the
    /// message ended meanwhile, so a late Submitted event never follows a Final one.
    fn registrations_done(
        &mut self,
        regs: Vec<((String, String), Arc<Outbound>)>,
        stored: bool,
        ctx: &mut Context<Self>,
    ) {
        if stored {
            for (key, _) in &regs {
                self.registering.remove(key);
            }
            return;
        }
        if !regs.is_empty() {
            tracing::error!(
                count = regs.len(),
                "could not store carrier id mappings; retrying"
            );
        }
        for ((carrier, carrier_id), msg) in regs {
            let again = Register {
                carrier,
                carrier_id,
                msg,
                retry: true,
            };
            ctx.notify_later(again, Duration::from_secs(1));
        }
    }

    /// Ends `meta`'s message, handed to its carrier under `key`, with a receipt; `extra`
    /// writes go in the same batch. The carrier id's mapping is removed with it.
    fn finish(
        &mut self,
        meta: MessageMeta,
        key: (String, String),
        stat: Stat,
        err: &str,
        extra: WriteBatch,
        ctx: &mut Context<Self>,
    ) -> Finishing {
        self.finish_as(meta, key, true, stat, err, extra, ctx)
    }

    /// [`Self::finish`]; unless the message `owns_id` (the carrier id still maps to it),
    /// the mapping and the cache entry under `key` belong to a newer message and are left.
    #[allow(clippy::too_many_arguments)]
    fn finish_as(
        &mut self,
        meta: MessageMeta,
        key: (String, String),
        owns_id: bool,
        stat: Stat,
        err: &str,
        mut extra: WriteBatch,
        ctx: &mut Context<Self>,
    ) -> Finishing {
        let (batch, receipt) = super::finalize(&meta, stat, err, now_ms(), self.receipt_ttl_ms);
        extra.ops.extend(batch.ops);
        if owns_id {
            extra.del(keys::correlation(&key.0, &key.1));
        }
        match self.dlr_counters.get(&key.0).and_then(|m| m.get(&stat)) {
            Some(c) => c.increment(1),
            None => {
                let c = metrics::counter!("tern_dlr_total", "carrier" => key.0.clone(), "stat" => stat.as_str());
                c.increment(1);
                self.dlr_counters
                    .entry(key.0.clone())
                    .or_default()
                    .insert(stat, c);
            }
        }
        self.finishing.insert(meta.id.clone());
        if owns_id {
            self.awaiting.ended(key.clone());
        }
        self.stage(extra, ctx);
        let (done, stored) = oneshot::channel();
        self.ended.push(Ended {
            id: meta.id,
            key: owns_id.then_some(key),
            receipt,
            done,
        });
        Box::pin(async move { stored.await.unwrap_or(Err(())) })
    }

    /// Ends messages of this shard whose receipt never came within the message TTL.
    fn sweep_stale(&mut self, ctx: &mut Context<Self>) {
        let cutoff = now_ms().saturating_sub(self.message_ttl_ms);
        for (k, _) in self
            .kv
            .scan_prefix(keys::PENDING_PREFIX)
            .into_iter()
            .flatten()
        {
            let id = String::from_utf8_lossy(&k[keys::PENDING_PREFIX.len()..]).into_owned();
            let Ok(Some(rec)) = keys::record_of(self.kv.as_ref(), &id) else {
                continue;
            };
            let MessageState::Submitted {
                carrier,
                carrier_id,
            } = rec.state()
            else {
                continue;
            };
            if super::shard_of(&carrier_id, self.shard.1) != self.shard.0
                || self.finishing.contains(&id)
            {
                continue;
            }
            let meta = rec.meta;
            if meta.accepted_ms > cutoff {
                continue;
            }
            tracing::info!(%id, %carrier, "no receipt within the message TTL; ending EXPIRED");
            let key = (carrier, carrier_id);
            // a carrier that gave this id to a newer message since: the mapping is that one's
            let owns_id = self.lookup(&key.0, &key.1).as_deref() == Some(id.as_str());
            let f = self.finish_as(
                meta,
                key,
                owns_id,
                Stat::Expired,
                "000",
                WriteBatch::default(),
                ctx,
            );
            ctx.spawn(f.into_actor(self).map(|_, _, _| ()));
        }
    }

    fn early_pairs(&self, k: &[u8]) -> Vec<(String, String)> {
        early_pairs(k, self.shard)
    }

    /// Learns which early receipts of this shard the store holds (on start).
    fn load_early(&mut self) {
        for (k, _) in self
            .kv
            .scan_prefix(keys::EARLY_PREFIX)
            .into_iter()
            .flatten()
        {
            let pairs = self.early_pairs(&k);
            self.early_stored.extend(pairs);
        }
    }

    fn sweep_early(&mut self) {
        let cutoff = now_ms().saturating_sub(EARLY_TTL_MS);
        let mut b = WriteBatch::default();
        for (k, v) in self
            .kv
            .scan_prefix(keys::EARLY_PREFIX)
            .into_iter()
            .flatten()
        {
            let pairs = self.early_pairs(&k);
            if pairs.is_empty() {
                continue; // another shard's
            }
            if let Ok(e) = keys::decode::<EarlyReceipt>(&v)
                && e.at_ms < cutoff
            {
                for p in &pairs {
                    self.early_stored.remove(p);
                }
                b.del(k);
            }
        }
        if !b.is_empty() {
            tracing::info!(
                count = b.ops.len(),
                "receipts for unknown carrier ids dropped after waiting"
            );
            let c = self.store.commit(b);
            actix::spawn(async move {
                let _ = c.await;
            });
        }
    }
}

/// The (carrier, carrier id) pairs an early-receipt key can stand for that belong to
/// `shard` (a carrier id may itself hold a `/`, so every split is a candidate).
fn early_pairs(k: &[u8], shard: (usize, usize)) -> Vec<(String, String)> {
    let Some(rest) = k.strip_prefix(keys::EARLY_PREFIX) else {
        return Vec::new();
    };
    let rest = String::from_utf8_lossy(rest);
    rest.match_indices('/')
        .map(|(i, _)| (rest[..i].to_string(), rest[i + 1..].to_string()))
        .filter(|(_, cid)| super::shard_of(cid, shard.1) == shard.0)
        .collect()
}

impl Actor for DlrCorrelator {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65_536);
        self.load_early();
        ctx.run_interval(Duration::from_secs(60), |act, _| act.sweep_early());
        let every = Duration::from_millis((self.message_ttl_ms / 4).clamp(1000, 600_000));
        ctx.run_interval(every, |act, ctx| act.sweep_stale(ctx));
    }
}

impl Handler<Register> for DlrCorrelator {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, m: Register, ctx: &mut Context<Self>) -> Self::Result {
        let tern_id = m.msg.meta.id.clone();
        if m.retry
            && (self.finishing.contains(&tern_id)
                || keys::record_of(self.kv.as_ref(), &tern_id)
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.state().is_final()))
        {
            // it ended while its registration waited for a second try: nothing to add
            self.registering.remove(&(m.carrier, m.carrier_id));
            return Box::pin(fut::ready(()));
        }
        let submitted = MessageState::Submitted {
            carrier: m.carrier.clone(),
            carrier_id: m.carrier_id.clone(),
        };
        let key = (m.carrier, m.carrier_id);
        let mut batch = WriteBatch::default();
        let mapping = keys::correlation(&key.0, &key.1);
        if self.registering.contains_key(&key) || self.awaiting.knows(&key) {
            // the carrier used this id before (a carrier id names one message, but not
            // every carrier keeps to that): the key may be in the store already
            batch.put(mapping, tern_id.clone().into_bytes());
        } else {
            batch.insert_new(mapping, tern_id.clone().into_bytes());
        }
        keys::set_state(&mut batch, &tern_id, &submitted, now_ms());
        if let Some(early) = self.early(&key.0, &key.1) {
            // the receipt came first: record the submit and end the message in one batch
            self.early_pending.remove(&key);
            let was_stored = self.early_stored.remove(&key);
            batch.del(keys::early(&key.0, &key.1));
            let f = self.finish(
                m.msg.meta.clone(),
                key.clone(),
                early.stat,
                &early.err,
                batch,
                ctx,
            );
            return Box::pin(f.into_actor(self).map(move |res, act, ctx| {
                if res.is_err() {
                    // nothing of the batch was stored: the early receipt is still where it was
                    if was_stored {
                        act.early_stored.insert(key.clone());
                    } else {
                        act.early_pending.insert(key.clone(), early);
                    }
                    let again = Register {
                        carrier: key.0,
                        carrier_id: key.1,
                        msg: m.msg,
                        retry: true,
                    };
                    ctx.notify_later(again, Duration::from_secs(1));
                }
            }));
        }
        self.registering.insert(key.clone(), tern_id);
        self.awaiting.insert(key.clone(), m.msg.clone());
        self.stage(batch, ctx);
        self.registered.push((key, m.msg));
        Box::pin(fut::ready(()))
    }
}

impl Handler<CommitPending> for DlrCorrelator {
    type Result = ();
    fn handle(&mut self, _: CommitPending, ctx: &mut Context<Self>) {
        self.commit_pending(ctx);
    }
}

impl Handler<CarrierReceipt> for DlrCorrelator {
    type Result = ResponseActFuture<Self, Result<(), ()>>;
    fn handle(&mut self, m: CarrierReceipt, ctx: &mut Context<Self>) -> Self::Result {
        if !m.stat.is_final() {
            return Box::pin(fut::ready(Ok(())));
        }
        let key = (m.carrier, m.carrier_id);
        match self.awaiting.receipt(&key) {
            // registered recently and no receipt for it yet: no store read needed
            Known::Waiting(msg) if !self.finishing.contains(&msg.meta.id) => {
                let f = self.finish(
                    msg.meta.clone(),
                    key,
                    m.stat,
                    &m.err,
                    WriteBatch::default(),
                    ctx,
                );
                return Box::pin(f.into_actor(self));
            }
            Known::Waiting(_) | Known::Ended => {
                metrics::counter!("tern_dlr_duplicate_total", "carrier" => key.0).increment(1);
                return Box::pin(fut::ready(Ok(())));
            }
            Known::Unknown => {}
        }
        let (carrier, carrier_id) = key;
        let Some(tern_id) = self.lookup(&carrier, &carrier_id) else {
            // before its submit_sm_resp (or unknown): hold it durably until it is matched
            let key = (carrier, carrier_id);
            if self.early_pending.contains_key(&key) {
                return Box::pin(fut::ready(Ok(())));
            }
            let e = EarlyReceipt {
                stat: m.stat,
                err: m.err,
                at_ms: now_ms(),
            };
            let mut b = WriteBatch::default();
            b.put(keys::early(&key.0, &key.1), keys::encode(&e));
            self.early_pending.insert(key.clone(), e);
            let commit = self.store.commit(b);
            return Box::pin(commit.into_actor(self).map(move |res, act, _| {
                act.early_pending.remove(&key);
                if res.is_ok() {
                    act.early_stored.insert(key);
                }
                res.map_err(|_| ())
            }));
        };
        // one read of the record answers both "already final?" and "what was it?"
        let rec = match keys::record_of(self.kv.as_ref(), &tern_id) {
            Ok(Some(rec)) => rec,
            _ => {
                tracing::warn!(%tern_id, "receipt for a message with no readable record");
                return Box::pin(fut::ready(Ok(())));
            }
        };
        if self.finishing.contains(&tern_id) || rec.state().is_final() {
            metrics::counter!("tern_dlr_duplicate_total", "carrier" => carrier).increment(1);
            return Box::pin(fut::ready(Ok(())));
        }
        let f = self.finish(
            rec.meta,
            (carrier, carrier_id),
            m.stat,
            &m.err,
            WriteBatch::default(),
            ctx,
        );
        Box::pin(f.into_actor(self))
    }
}

/// The correlator shards, addressed by carrier message id.
#[derive(Clone)]
pub struct CorrelatorShards(pub Arc<[Addr<DlrCorrelator>]>);

impl CorrelatorShards {
    /// The shard that owns `carrier_id`.
    pub fn for_id(&self, carrier_id: &str) -> &Addr<DlrCorrelator> {
        &self.0[super::shard_of(carrier_id, self.0.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> (String, String) {
        ("sim".into(), format!("{i:x}"))
    }

    fn outbound() -> Arc<Outbound> {
        Arc::new(Outbound {
            meta: MessageMeta::sample(),
            sm: rusmpp::pdus::SubmitSm::default(),
        })
    }

    #[test]
    fn ended_ids_catch_duplicates_without_crowding_out_waiting_ones() {
        let mut a = Awaiting::default();
        a.insert(key(0), outbound());
        assert!(matches!(a.receipt(&key(0)), Known::Waiting(_)));
        assert!(matches!(a.receipt(&key(0)), Known::Ended), "a duplicate");
        // more messages than may wait come and end: one still waiting stays, since ended
        // ones do not count against the waiting ones
        a.insert(key(1), outbound());
        for i in 2..AWAITING_MAX + 10 {
            a.insert(key(i), outbound());
            assert!(matches!(a.receipt(&key(i)), Known::Waiting(_)));
        }
        assert_eq!(a.waiting, 1);
        assert!(a.knows(&key(0)), "and duplicates are still caught");
        // what is remembered at all is bounded: the oldest ids go, waiting or not
        for i in AWAITING_MAX + 10..REMEMBERED_MAX + 10 {
            a.insert(key(i), outbound());
            assert!(matches!(a.receipt(&key(i)), Known::Waiting(_)));
        }
        assert!(a.order.len() <= REMEMBERED_MAX);
        assert!(!a.knows(&key(0)), "the oldest ended id is forgotten");
        assert!(
            matches!(a.receipt(&key(1)), Known::Unknown),
            "key 1 is asked of the store"
        );
        assert_eq!(a.waiting, 0);
    }

    #[test]
    fn at_most_awaiting_max_wait_in_memory() {
        let mut a = Awaiting::default();
        for i in 0..AWAITING_MAX + 5 {
            a.insert(key(i), outbound());
        }
        assert_eq!(a.waiting, AWAITING_MAX);
        assert!(
            matches!(a.receipt(&key(0)), Known::Unknown),
            "oldest: ask the store"
        );
        assert!(matches!(
            a.receipt(&key(AWAITING_MAX + 4)),
            Known::Waiting(_)
        ));
        assert_eq!(a.waiting, AWAITING_MAX - 1);
        a.forget(&key(AWAITING_MAX + 4));
        a.forget(&key(AWAITING_MAX + 3));
        assert_eq!(a.waiting, AWAITING_MAX - 2);
    }

    #[test]
    fn early_receipt_keys_name_their_carrier_and_id() {
        let k = keys::early("sim", "a/b");
        let all: Vec<_> = (0..4).flat_map(|i| early_pairs(&k, (i, 4))).collect();
        // both readings of the ambiguous key are kept, each by the shard of its id
        assert!(all.contains(&("sim".into(), "a/b".into())));
        assert!(all.contains(&("sim/a".into(), "b".into())));
        assert_eq!(all.len(), 2);
        assert!(early_pairs(b"x/sim/1", (0, 1)).is_empty());
    }
}
