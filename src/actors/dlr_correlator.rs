//! `DlrCorrelator`: one per shard of carrier message ids. Maps a carrier's message id to
//! tern's id (durably: receipts come days later), holds receipts that arrive before the
//! carrier's submit_sm_resp, ignores duplicate receipts, and ends the message with the
//! receipt's state, handing the ESME's receipt to `Delivery`.
//!
//! Registration and receipts for one carrier id always reach the same shard, so they are
//! handled in order. Writes not yet durable are remembered in memory (`registering`,
//! `finishing`, `early`: [`EarlyReceipts`]) so a receipt racing its own registration is
//! still matched.
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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::domain::awaiting::{Awaiting, Known};
use crate::domain::dlr::Stat;
use crate::domain::message::{MessageMeta, MessageState, now_ms};
use crate::store::keys::{self, EarlyReceipt};
use crate::store::kv::{Kv, WriteBatch};
use crate::store::messages;

use super::delivery::Delivery;
use super::router::Outbound;
use super::staged::Staged;
use super::store::StoreHandle;
use super::supervise::{Restart, guard};
use super::{FastMap, FastSet, ReplyTo};

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

/// A receipt from a carrier. `ack` hears once it is durable (then the carrier gets its
/// deliver_sm_resp), or that it could not be stored.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CarrierReceipt {
    /// Carrier (config id).
    pub carrier: String,
    /// The id the receipt names.
    pub carrier_id: String,
    /// Reported state.
    pub stat: Stat,
    /// `err:` field.
    pub err: String,
    /// Where to say whether it was stored.
    pub ack: Option<ReplyTo<ReceiptStored>>,
}

/// Whether a carrier's receipt is durable (answered to [`CarrierReceipt::ack`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptStored {
    /// Stored (or known already): acknowledge it to the carrier.
    Yes,
    /// Not stored: the carrier must send it again.
    No,
}

impl super::Unanswered for ReceiptStored {
    /// A receipt the correlator dropped unanswered was not stored.
    fn unanswered() -> Self {
        ReceiptStored::No
    }
}

/// Commit the writes gathered so far (sent to itself once per mailbox drain).
#[derive(Message)]
#[rtype(result = "()")]
struct CommitStaged;

use super::early_receipts::{CarrierKey, EarlyReceipts};

/// A message to end, and what follows once its end is stored.
struct End {
    meta: MessageMeta,
    key: CarrierKey,
    /// The carrier id still maps to this message: its mapping and cache entry go with it.
    /// (A carrier that gave the id to a newer message since owns them for that one.)
    owns_id: bool,
    stat: Stat,
    err: String,
    /// The carrier's deliver_sm that waits for this end to be stored.
    ack: Option<ReplyTo<ReceiptStored>>,
    /// Ended at registration by a receipt that came first: should the commit fail, the
    /// receipt goes back where it was and the registration is tried again.
    early: Option<Box<EarlyUndo>>,
}

/// How to undo the use of an early receipt whose end was not stored.
struct EarlyUndo {
    receipt: EarlyReceipt,
    register: Register,
}

/// A store read failed: the receipt or registration is answered "not stored" or tried
/// again, never taken as "not there".
struct ReadFailed;

/// What one staged write owes, once the batch carrying it is stored (or not).
enum Owed {
    /// A carrier id mapping: forgotten once stored, tried again if not.
    Registered(CarrierKey, Arc<Outbound>),
    /// A receipt that came before its registration, held in the store.
    Early(CarrierKey, Option<ReplyTo<ReceiptStored>>),
    /// A message ended: its receipt goes to Delivery.
    Ended {
        id: String,
        /// The key it owned (its cache entry is forgotten if the end was not stored).
        key: Option<CarrierKey>,
        receipt: Option<super::Due>,
        ack: Option<ReplyTo<ReceiptStored>>,
        early: Option<Box<EarlyUndo>>,
    },
}

/// How long an early receipt waits for its submit_sm_resp.
const EARLY_TTL_MS: u64 = 10 * 60 * 1000;

/// Messages per shard whose receipt is awaited in memory; older ones are found in the store.
const AWAITING_MAX: usize = 50_000;
/// Carrier ids per shard remembered at all, waiting or ended (ended ones catch duplicates).
const REMEMBERED_MAX: usize = 2 * AWAITING_MAX;

fn acknowledge(ack: Option<ReplyTo<ReceiptStored>>, stored: ReceiptStored) {
    if let Some(a) = ack {
        a.send(stored);
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
    /// Mappings staged or being stored (a receipt may come before they are).
    registering: FastMap<CarrierKey, String>,
    /// Messages whose end is staged or being stored.
    finishing: FastSet<String>,
    /// A stale sweep's scan is running.
    sweeping: bool,
    /// Receipts that came before their registration: being written, or maybe stored.
    early: EarlyReceipts,
    /// Registered messages whose receipt has not come yet (bounded; a cache of the store).
    awaiting: Awaiting<CarrierKey, Arc<Outbound>>,
    /// Writes not yet handed to the store, in the order they happened, and what each owes.
    staged: Staged<Owed>,
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
            sweeping: false,
            early: EarlyReceipts::default(),
            awaiting: Awaiting::new(AWAITING_MAX, REMEMBERED_MAX),
            staged: Staged::default(),
            dlr_counters: HashMap::new(),
        }
    }

    /// The tern id a carrier id maps to, staged or stored.
    fn lookup(&self, key: &CarrierKey) -> Result<Option<String>, ReadFailed> {
        if let Some(id) = self.registering.get(key) {
            return Ok(Some(id.clone()));
        }
        let v = self
            .kv
            .get(&keys::correlation(&key.0, &key.1))
            .map_err(|_| ReadFailed)?;
        Ok(v.and_then(|v| String::from_utf8(v).ok()))
    }

    /// The early receipt held for a carrier id, staged or stored.
    fn early_receipt(&mut self, key: &CarrierKey) -> Result<Option<EarlyReceipt>, ReadFailed> {
        if let Some(e) = self.early.pending(key) {
            return Ok(Some(e.clone()));
        }
        if !self.early.maybe_stored(key) {
            return Ok(None);
        }
        let v = self
            .kv
            .get(&keys::early(&key.0, &key.1))
            .map_err(|_| ReadFailed)?;
        let e = v.and_then(|v| keys::decode(&v).ok());
        if e.is_none() {
            self.early.not_stored(key);
        }
        Ok(e)
    }

    /// Forgets a mapping being stored, unless the carrier id was taken by another message
    /// meanwhile.
    fn unregister(&mut self, key: &CarrierKey, tern_id: &str) {
        if self.registering.get(key).is_some_and(|id| id == tern_id) {
            self.registering.remove(key);
        }
    }

    /// Stages writes and what they owe; the first after a commit schedules the next.
    fn stage(&mut self, ops: WriteBatch, owed: Owed, ctx: &mut Context<Self>) {
        if self.staged.add(ops, Some(owed)) {
            // runs after the messages already in the mailbox: one commit for all of them
            ctx.notify(CommitStaged);
        }
    }

    /// Hands the writes gathered so far to the store as one commit; one future per
    /// commit, never one per receipt.
    fn commit_staged(&mut self, ctx: &mut Context<Self>) {
        if let Some(commit) = self.commit() {
            ctx.spawn(commit);
        }
    }

    /// The commit of everything staged, settling each item once the store answers;
    /// `None` when nothing is staged.
    fn commit(&mut self) -> Option<ResponseActFuture<Self, ()>> {
        let (batch, owed) = self.staged.take()?;
        let commit = self.store.commit(batch);
        Some(Box::pin(commit.into_actor(self).map(move |res, act, ctx| {
            let stored = res.is_ok();
            if !stored {
                tracing::warn!(count = owed.len(), "could not store receipts and carrier id mappings; the carriers send the receipts again, mappings are retried");
            }
            // one at a time: a crash in one leaves the others settled
            for o in owed {
                guard(act, ctx, |act, ctx| act.settle(o, stored, ctx));
            }
        })))
    }

    /// What follows for one staged write once its batch is stored, or is not.
    fn settle(&mut self, owed: Owed, stored: bool, ctx: &mut Context<Self>) {
        match owed {
            Owed::Registered(key, msg) => {
                if stored {
                    self.unregister(&key, &msg.meta.id);
                } else {
                    // without the mapping a receipt would be lost: try again. The retry
                    // checks first whether the message ended meanwhile, so a late
                    // Submitted event never follows a Final one.
                    let again = Register {
                        carrier: key.0,
                        carrier_id: key.1,
                        msg,
                        retry: true,
                    };
                    ctx.notify_later(again, Duration::from_secs(1));
                }
            }
            Owed::Early(key, ack) => {
                // still pending unless a registration took it meanwhile (whose end then
                // deletes it, or holds it again should that end fail)
                self.early.settled(&key, stored);
                acknowledge(
                    ack,
                    if stored {
                        ReceiptStored::Yes
                    } else {
                        ReceiptStored::No
                    },
                );
            }
            Owed::Ended {
                id,
                key,
                receipt,
                ack,
                early,
            } => {
                self.finishing.remove(&id);
                if stored {
                    if let Some(r) = receipt {
                        r.send(&self.delivery);
                    }
                    if let Some(u) = early {
                        // its early receipt was deleted with the end
                        let key = (u.register.carrier, u.register.carrier_id);
                        self.early.not_stored(&key);
                    }
                    return acknowledge(ack, ReceiptStored::Yes);
                }
                tracing::warn!(%id, "could not store the end of a message");
                // nothing of it was stored: the next receipt for it goes to the store
                if let Some(key) = &key {
                    self.awaiting.forget(key);
                }
                acknowledge(ack, ReceiptStored::No);
                if let Some(u) = early {
                    // the receipt was acknowledged when its own write was stored: hold it
                    // again (the store may still have it, or may not) and register again
                    let key = (u.register.carrier.clone(), u.register.carrier_id.clone());
                    self.early.may_be_stored([key.clone()]);
                    self.hold_copy(key, u.receipt, None, ctx);
                    ctx.notify_later(u.register, Duration::from_secs(1));
                }
            }
        }
    }

    /// Ends a message with a receipt; `extra` writes go in the same batch. The carrier
    /// id's mapping is removed with it when the message owns it.
    fn finish(&mut self, end: End, mut extra: WriteBatch, ctx: &mut Context<Self>) {
        let End {
            meta,
            key,
            owns_id,
            stat,
            err,
            ack,
            early,
        } = end;
        let (batch, receipt) = super::finalize(&meta, stat, &err, now_ms(), self.receipt_ttl_ms);
        extra.ops.extend(batch.ops);
        if owns_id {
            extra.del(keys::correlation(&key.0, &key.1));
        }
        self.count(&key.0, stat);
        self.finishing.insert(meta.id.clone());
        if owns_id {
            self.awaiting.ended(key.clone());
        }
        let owed = Owed::Ended {
            id: meta.id,
            key: owns_id.then_some(key),
            receipt,
            ack,
            early,
        };
        self.stage(extra, owed, ctx);
    }

    /// Counts a final receipt in `tern_dlr_total`.
    fn count(&mut self, carrier: &str, stat: Stat) {
        match self.dlr_counters.get(carrier).and_then(|m| m.get(&stat)) {
            Some(c) => c.increment(1),
            None => {
                let c = metrics::counter!("tern_dlr_total", "carrier" => carrier.to_string(), "stat" => stat.as_str());
                c.increment(1);
                self.dlr_counters
                    .entry(carrier.to_string())
                    .or_default()
                    .insert(stat, c);
            }
        }
    }

    /// Ends messages of this shard whose receipt never came within the message TTL. The
    /// scan of every pending message runs on the blocking pool ([`stale_ids`]); the shard
    /// ends what it found, one point read each, when the scan is back.
    fn sweep_stale(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let (kv, shard) = (self.kv.clone(), self.shard);
        let cutoff = now_ms().saturating_sub(self.message_ttl_ms);
        let scan = tokio::task::spawn_blocking(move || stale_ids(kv.as_ref(), cutoff, shard));
        ctx.spawn(scan.into_actor(self).map(|ids, act, ctx| {
            act.sweeping = false;
            let ids = ids.unwrap_or_default();
            guard(act, ctx, |act, ctx| act.expire_stale(ids, ctx));
        }));
    }

    /// Ends the messages `ids` EXPIRED, those still waiting (a receipt may have ended one
    /// since the scan found it).
    fn expire_stale(&mut self, ids: Vec<String>, ctx: &mut Context<Self>) {
        for id in ids {
            if self.finishing.contains(&id) {
                continue;
            }
            let Ok(Some(rec)) = messages::record_of(self.kv.as_ref(), &id) else {
                continue;
            };
            let MessageState::Submitted {
                carrier,
                carrier_id,
            } = rec.state()
            else {
                continue;
            };
            if super::shard_of(&carrier_id, self.shard.1) != self.shard.0 {
                continue;
            }
            tracing::info!(%id, %carrier, "no receipt within the message TTL; ending EXPIRED");
            let key = (carrier, carrier_id);
            let Ok(owner) = self.lookup(&key) else {
                continue; // the next sweep tries again
            };
            let owns_id = owner.as_deref() == Some(id.as_str());
            let end = End {
                meta: rec.meta,
                key,
                owns_id,
                stat: Stat::Expired,
                err: "000".into(),
                ack: None,
                early: None,
            };
            self.finish(end, WriteBatch::default(), ctx);
        }
    }

    fn early_pairs(&self, k: &[u8]) -> Vec<CarrierKey> {
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
            self.early.may_be_stored(pairs);
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
                    self.early.not_stored(p);
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

    /// A final receipt for a carrier id this shard does not know yet (before its
    /// submit_sm_resp, or never sent by tern): held durably until it is matched.
    fn hold_early(&mut self, key: CarrierKey, m: CarrierReceipt, ctx: &mut Context<Self>) {
        let e = EarlyReceipt {
            stat: m.stat,
            err: m.err,
            at_ms: now_ms(),
        };
        self.hold_copy(key, e, m.ack, ctx);
    }

    /// Stages one write of an early receipt; `ack` is answered by that write's outcome.
    fn hold_copy(
        &mut self,
        key: CarrierKey,
        e: EarlyReceipt,
        ack: Option<ReplyTo<ReceiptStored>>,
        ctx: &mut Context<Self>,
    ) {
        // a copy of one being written: the first one's receipt stands
        let e = self.early.hold(key.clone(), e);
        let mut b = WriteBatch::default();
        b.put(keys::early(&key.0, &key.1), keys::encode(&e));
        self.stage(b, Owed::Early(key, ack), ctx);
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

/// The ids of shard `shard`'s messages still waiting for a receipt that were accepted
/// before `cutoff`: a scan of every pending marker and a read of each record, so it runs on
/// the blocking pool, never on a shard's thread.
fn stale_ids(kv: &dyn Kv, cutoff: u64, shard: (usize, usize)) -> Vec<String> {
    let mut out = Vec::new();
    for (k, _) in kv.scan_prefix(keys::PENDING_PREFIX).into_iter().flatten() {
        let id = String::from_utf8_lossy(&k[keys::PENDING_PREFIX.len()..]).into_owned();
        let Ok(Some(rec)) = messages::record_of(kv, &id) else {
            continue;
        };
        if let MessageState::Submitted { carrier_id, .. } = rec.state()
            && super::shard_of(&carrier_id, shard.1) == shard.0
            && rec.meta.accepted_ms <= cutoff
        {
            out.push(id);
        }
    }
    out
}

impl Actor for DlrCorrelator {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65_536);
        self.load_early();
        ctx.run_interval(Duration::from_secs(60), |act, ctx| {
            guard(act, ctx, |act, _| act.sweep_early());
        });
        let every = Duration::from_millis((self.message_ttl_ms / 4).clamp(1000, 600_000));
        ctx.run_interval(every, |act, ctx| {
            guard(act, ctx, |act, ctx| act.sweep_stale(ctx));
        });
    }
}

impl Restart for DlrCorrelator {
    const NAME: &'static str = "correlator";

    /// The cache of awaited ids is dropped (the store answers until it fills again); a
    /// receipt that was being handled is answered "not stored" and comes again. What is
    /// staged is committed.
    fn restart(&mut self, ctx: &mut Context<Self>) {
        self.awaiting = Awaiting::new(AWAITING_MAX, REMEMBERED_MAX);
        if !self.staged.is_empty() {
            ctx.notify(CommitStaged);
        }
    }
}

impl Handler<Register> for DlrCorrelator {
    type Result = ();
    fn handle(&mut self, m: Register, ctx: &mut Context<Self>) {
        if guard(self, ctx, |this, ctx| this.register(&m, ctx)).is_none() {
            // a mapping lost in a crash would leave a message the carrier took
            // unregistered (and sent again after a restart): try it again
            ctx.notify_later(Register { retry: true, ..m }, Duration::from_secs(1));
        }
    }
}

impl DlrCorrelator {
    /// Records that a carrier took a message under `m.carrier_id`, or ends it at once when
    /// its receipt came first.
    fn register(&mut self, m: &Register, ctx: &mut Context<Self>) {
        crate::failpoint::hit("correlator.register");
        let tern_id = m.msg.meta.id.clone();
        let key = (m.carrier.clone(), m.carrier_id.clone());
        if m.retry {
            let ended = match messages::record_of(self.kv.as_ref(), &tern_id) {
                Ok(rec) => {
                    self.finishing.contains(&tern_id) || rec.is_some_and(|r| r.state().is_final())
                }
                Err(_) => {
                    ctx.notify_later(m.clone(), Duration::from_secs(1));
                    return;
                }
            };
            if ended {
                // it ended while its registration waited for a second try: nothing to add
                self.unregister(&key, &tern_id);
                return;
            }
        }
        let early = match self.early_receipt(&key) {
            Ok(e) => e,
            // without knowing whether its receipt came first it cannot be registered yet
            Err(_) => {
                ctx.notify_later(
                    Register {
                        retry: true,
                        ..m.clone()
                    },
                    Duration::from_secs(1),
                );
                return;
            }
        };
        let submitted = MessageState::Submitted {
            carrier: m.carrier.clone(),
            carrier_id: m.carrier_id.clone(),
        };
        let mut batch = WriteBatch::default();
        let mapping = keys::correlation(&key.0, &key.1);
        if self.registering.contains_key(&key) || self.awaiting.knows(&key) {
            // the carrier used this id before (a carrier id names one message, but not
            // every carrier keeps to that): the key may be in the store already
            batch.put(mapping, tern_id.clone().into_bytes());
        } else {
            batch.insert_new(mapping, tern_id.clone().into_bytes());
        }
        messages::set_state(&mut batch, &tern_id, &submitted, now_ms());
        if let Some(receipt) = early {
            // the receipt came first: record the submit and end the message in one batch
            self.early.take(&key);
            batch.del(keys::early(&key.0, &key.1));
            let end = End {
                meta: m.msg.meta.clone(),
                key,
                owns_id: true,
                stat: receipt.stat,
                err: receipt.err.clone(),
                ack: None,
                early: Some(Box::new(EarlyUndo {
                    receipt,
                    register: Register {
                        retry: true,
                        ..m.clone()
                    },
                })),
            };
            return self.finish(end, batch, ctx);
        }
        self.registering.insert(key.clone(), tern_id);
        self.awaiting.insert(key.clone(), m.msg.clone());
        self.stage(batch, Owed::Registered(key, m.msg.clone()), ctx);
    }
}

/// Commit what is staged now and answer once it is settled (the node is stopping).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlushStaged;

impl Handler<FlushStaged> for DlrCorrelator {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: FlushStaged, ctx: &mut Context<Self>) -> Self::Result {
        guard(self, ctx, |this, _| this.commit())
            .flatten()
            .unwrap_or_else(|| Box::pin(actix::fut::ready(())))
    }
}

impl Handler<CommitStaged> for DlrCorrelator {
    type Result = ();
    fn handle(&mut self, _: CommitStaged, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            this.commit_staged(ctx);
        });
    }
}

impl Handler<CarrierReceipt> for DlrCorrelator {
    type Result = ();
    fn handle(&mut self, m: CarrierReceipt, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            crate::failpoint::hit("correlator.receipt");
            if !m.stat.is_final() {
                return acknowledge(m.ack, ReceiptStored::Yes);
            }
            let key = (m.carrier.clone(), m.carrier_id.clone());
            let meta = match this.awaiting.receipt(&key) {
                // registered recently and no receipt for it yet: no store read needed
                Known::Waiting(msg) if !this.finishing.contains(&msg.meta.id) => msg.meta.clone(),
                // a copy of a receipt whose end is stored or being stored: acknowledged now;
                // should that end fail to store, the first copy is answered "not stored" and
                // the carrier sends it again
                Known::Waiting(_) | Known::Ended => return this.duplicate(&key.0, m.ack),
                Known::Unknown => {
                    let tern_id = match this.lookup(&key) {
                        Ok(Some(id)) => id,
                        Ok(None) => return this.hold_early(key, m, ctx),
                        Err(ReadFailed) => return acknowledge(m.ack, ReceiptStored::No),
                    };
                    // one read of the record answers both "already final?" and "what was it?"
                    let rec = match messages::record_of(this.kv.as_ref(), &tern_id) {
                        Ok(Some(rec)) => rec,
                        Ok(None) => {
                            tracing::warn!(%tern_id, "receipt for a carrier id whose message has no record");
                            return acknowledge(m.ack, ReceiptStored::Yes);
                        }
                        Err(_) => return acknowledge(m.ack, ReceiptStored::No),
                    };
                    if this.finishing.contains(&tern_id) || rec.state().is_final() {
                        return this.duplicate(&key.0, m.ack);
                    }
                    rec.meta
                }
            };
            let end = End {
                meta,
                key,
                owns_id: true,
                stat: m.stat,
                err: m.err,
                ack: m.ack,
                early: None,
            };
            this.finish(end, WriteBatch::default(), ctx);
        });
    }
}

impl DlrCorrelator {
    /// A second final receipt for one message: counted, acknowledged, not passed on.
    fn duplicate(&mut self, carrier: &str, ack: Option<ReplyTo<ReceiptStored>>) {
        metrics::counter!("tern_dlr_duplicate_total", "carrier" => carrier.to_string())
            .increment(1);
        acknowledge(ack, ReceiptStored::Yes);
    }
}

/// The correlator shards, addressed by carrier message id.
pub type CorrelatorShards = super::Shards<DlrCorrelator>;

#[cfg(test)]
mod tests {
    use super::*;

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
