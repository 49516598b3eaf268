//! `RouterShard`: one per shard of destinations (hash of the destination number), which
//! keeps per-destination order. Picks the route (longest prefix), hands the message to the
//! first carrier of the route, moves on to the next carrier when one is down or answers a
//! temporary error, retries later when all have failed (`domain/retries.rs`: per
//! destination, in order, one tick for all), and ends the message (REJECTD on a permanent
//! error, EXPIRED past its validity or TTL) with a receipt back to the ESME. A message that
//! ends here never reached a carrier: an EXPIRED one is refunded, a REJECTD one when its
//! account says so, in the same batch as its final state (through the account's Ledger).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use actix::prelude::*;
use rusmpp::pdus::SubmitSm;
use tokio::sync::watch;

use crate::domain::backlog::{Backlogs, WaitingRetry};
use crate::domain::backoff::Backoff;
use crate::domain::dlr::Stat;
use crate::domain::message::{MessageMeta, now_ms};
use crate::domain::money::Micros;
use crate::domain::retries::Retries;
use crate::domain::route::{RouteTable, draw_key};

use super::carrier::{CarrierSet, CarrierSubmit};
use super::delivery::Delivery;
use super::ledger::{LedgerShards, Refund};
use super::store::StoreHandle;
use super::supervise::{Restart, guard};
use crate::accounts::AccountTable;

/// A stored message on its way to a carrier.
#[derive(Debug)]
pub struct Outbound {
    /// What tern knows about it.
    pub meta: MessageMeta,
    /// The ESME's submit_sm, forwarded as it came (plus a receipt request).
    pub sm: SubmitSm,
    /// [`UNSENT`], [`MAYBE_SENT`], [`ENDED`] or [`CANCELLED`]: a message is sent, ended
    /// here or cancelled, never two of them, whichever claims it first.
    fate: AtomicU8,
}

/// No carrier has seen it.
const UNSENT: u8 = 0;
/// It may have reached a carrier: written on a bind (its answer may have been lost), or
/// resumed after a restart. Such a message is never refunded, nor cancelled.
const MAYBE_SENT: u8 = 1;
/// An ESME cancelled (or replaced) it before any carrier had it: whoever holds it drops it.
const CANCELLED: u8 = 2;
/// A router ends it (EXPIRED, REJECTD) before any carrier had it.
const ENDED: u8 = 3;

impl Outbound {
    /// A message no carrier has seen.
    pub fn new(meta: MessageMeta, sm: SubmitSm) -> Outbound {
        Outbound {
            meta,
            sm,
            fate: AtomicU8::new(UNSENT),
        }
    }

    /// A message that may have reached a carrier (resumed after a restart).
    pub fn resumed(meta: MessageMeta, sm: SubmitSm) -> Outbound {
        Outbound {
            meta,
            sm,
            fate: AtomicU8::new(MAYBE_SENT),
        }
    }

    /// Whether it may have reached a carrier.
    pub fn maybe_sent(&self) -> bool {
        self.fate.load(Ordering::Acquire) == MAYBE_SENT
    }

    /// Whether it was cancelled or ended before any carrier had it (it goes nowhere).
    pub fn gone(&self) -> bool {
        matches!(self.fate.load(Ordering::Acquire), CANCELLED | ENDED)
    }

    /// Claims it for ending here: false when an ESME cancelled it or it ends already.
    fn claim_end(&self) -> bool {
        match self
            .fate
            .compare_exchange(UNSENT, ENDED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now == MAYBE_SENT,
        }
    }

    /// Claims it for a carrier's bind, from here on maybe sent; false when it was
    /// cancelled or ended first.
    pub fn claim_for_carrier(&self) -> bool {
        match self
            .fate
            .compare_exchange(UNSENT, MAYBE_SENT, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now == MAYBE_SENT,
        }
    }

    /// Cancels it; false when a carrier may have it already.
    pub fn cancel(&self) -> bool {
        self.fate
            .compare_exchange(UNSENT, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// What an ESME asks of a message no carrier has yet.
pub enum Change {
    /// Cancel it: it ends DELETED (refunded), with a receipt if it asked for one.
    Cancel,
    /// Replace its text (`protocol::change::replaced`): it goes on with the new one,
    /// behind what waits for its destination.
    Replace(Box<rusmpp::pdus::ReplaceSm>),
}

/// How a cancel or replace came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Done, durably.
    Done,
    /// A carrier may have it already (or it is not known here).
    TooLate,
    /// Not stored: nothing changed.
    Failed,
    /// Refused with this status (a replacement that does not fit): nothing changed.
    Refused(rusmpp::CommandStatus),
}

impl super::Unanswered for ChangeOutcome {
    fn unanswered() -> Self {
        ChangeOutcome::Failed
    }
}

/// Cancel every message of `account` from `source` (any, when empty) to `dest` (digits)
/// with `service_type` (any, when empty) that no carrier has yet: a cancel_sm with no
/// message_id (SMPP 3.4 §4.9). Done once each cancelled one's end is stored; TooLate when
/// there was none.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelAll {
    /// The ESME's account.
    pub account: String,
    /// The sender, as submitted.
    pub source: String,
    /// The destination.
    pub dest: String,
    /// The service_type, as submitted; `None`: any.
    pub service_type: Option<rusmpp::values::ServiceType>,
    /// The answer.
    pub reply: super::ReplyTo<ChangeOutcome>,
}

/// Who waits for an end to be stored: an ESME's cancel of one message, or of several (the
/// answer goes when the last is stored).
enum Waiter {
    One(super::ReplyTo<ChangeOutcome>),
    Shared(std::rc::Rc<std::cell::RefCell<Tally>>),
}

/// Ends still to be stored before a cancel of several messages is answered.
struct Tally {
    left: usize,
    reply: Option<super::ReplyTo<ChangeOutcome>>,
}

impl Waiter {
    /// One end is stored.
    fn stored(self) {
        match self {
            Waiter::One(r) => r.send(ChangeOutcome::Done),
            Waiter::Shared(t) => {
                let mut t = t.borrow_mut();
                t.left = t.left.saturating_sub(1);
                if t.left == 0
                    && let Some(r) = t.reply.take()
                {
                    r.send(ChangeOutcome::Done);
                }
            }
        }
    }
}

/// Cancel or replace message `id` (from an ESME session, at its destination's shard).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChangeMessage {
    /// tern's id.
    pub id: String,
    /// What to do.
    pub change: Change,
    /// The answer.
    pub reply: super::ReplyTo<ChangeOutcome>,
}

/// Route this message (new, resumed after a restart, or retried).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RouteMessage {
    /// The message.
    pub msg: Arc<Outbound>,
    /// How many full passes over the route have failed so far.
    pub attempt: u32,
}

/// How a carrier failed a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Down, busy, throttled, timed out: try the next carrier or later.
    Temporary,
    /// The carrier refused the message for good (its command_status).
    Permanent(u32),
}

/// A carrier could not take a message.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubmitFailed {
    /// The message.
    pub msg: Arc<Outbound>,
    /// Position of the failing carrier in the route.
    pub pos: usize,
    /// Passes so far.
    pub attempt: u32,
    /// What happened.
    pub failure: Failure,
}

/// A router shard.
pub struct RouterShard {
    env: RouterEnv,
    /// Messages waiting for another pass, by destination; each counts against the
    /// backlog of the carrier it goes to first.
    retries: Retries<(Arc<Outbound>, Option<WaitingRetry>)>,
    /// Messages routed here no carrier has yet, by id: what cancel_sm and replace_sm can
    /// still reach. Pruned of those sent, ended or dropped when it has doubled since the
    /// last pruning, so each message pays O(1) for it however many wait.
    unsent: super::FastMap<String, Weak<Outbound>>,
    /// Its size after the last pruning.
    unsent_pruned: usize,
}

/// What every router shard is given.
#[derive(Clone)]
pub struct RouterEnv {
    /// The route table in force.
    pub routes: watch::Receiver<Arc<RouteTable>>,
    /// Carriers by id.
    pub carriers: CarrierSet,
    /// The store.
    pub store: StoreHandle,
    /// Where final receipts go.
    pub delivery: Addr<Delivery>,
    /// Carrier backlogs.
    pub backlogs: Backlogs,
    /// Accounts in force.
    pub accounts: watch::Receiver<Arc<AccountTable>>,
    /// The ledgers, once started.
    pub ledgers: Arc<OnceLock<LedgerShards>>,
    /// Default message TTL.
    pub message_ttl_ms: u64,
    /// Receipt TTL.
    pub receipt_ttl_ms: u64,
}

/// How often waiting messages are looked at.
const RETRY_TICK: Duration = Duration::from_millis(100);

impl RouterShard {
    /// A shard routing over `env.carriers`.
    pub fn new(env: RouterEnv) -> Self {
        RouterShard {
            env,
            retries: Retries::default(),
            unsent: super::FastMap::default(),
            unsent_pruned: 0,
        }
    }

    /// Indexes a message no carrier has yet, for cancel_sm and replace_sm.
    fn remember_unsent(&mut self, msg: &Arc<Outbound>) {
        self.unsent.insert(msg.meta.id.clone(), Arc::downgrade(msg));
        if self.unsent.len() > (2 * self.unsent_pruned).max(4096) {
            self.unsent
                .retain(|_, m| m.upgrade().is_some_and(|m| !m.maybe_sent() && !m.gone()));
            self.unsent_pruned = self.unsent.len();
        }
    }

    fn try_from(&mut self, msg: Arc<Outbound>, pos: usize, attempt: u32, ctx: &mut Context<Self>) {
        if msg.gone() {
            return; // cancelled, replaced or ended already
        }
        if now_ms() > msg.meta.deadline_ms(self.env.message_ttl_ms) {
            return self.end(msg, Stat::Expired, "000", ctx);
        }
        let route = self.env.routes.borrow().lookup(&msg.meta.dest);
        let Some(route) = route else {
            // the route went away after acceptance: keep trying until it comes back or expires
            return self.retry_later(msg, attempt);
        };
        let Some(id) = route.carrier_at(pos, draw_key(msg.meta.draw_id())) else {
            return self.retry_later(msg, attempt + 1);
        };
        match self.env.carriers.get(id) {
            Some(carrier) => carrier.do_send(CarrierSubmit {
                msg,
                pos,
                attempt,
                throttled: 0,
                reply_to: ctx.address().recipient(),
                settled: false,
            }),
            None => self.try_from(msg, pos + 1, attempt, ctx),
        }
    }

    fn retry_later(&mut self, msg: Arc<Outbound>, attempt: u32) {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..attempt.min(10) {
            b.next_delay(1.0);
        }
        let delay = b.next_delay(rand::random::<f64>());
        self.wait(msg, attempt, now_ms() + delay.as_millis() as u64);
    }

    /// `msg` waits for its destination's next pass (at `due_ms` unless others to it wait
    /// already), counted against the backlog of the carrier it goes to first.
    fn wait(&mut self, msg: Arc<Outbound>, attempt: u32, due_ms: u64) {
        let first = self
            .env
            .routes
            .borrow()
            .lookup(&msg.meta.dest)
            .and_then(|r| {
                r.carrier_at(0, draw_key(msg.meta.draw_id()))
                    .and_then(|c| self.env.backlogs.get(c))
                    .map(|b| b.begin_wait())
            });
        let dest = msg.meta.dest.clone();
        self.retries.wait(&dest, (msg, first), attempt, due_ms);
    }

    /// Sends every message whose wait is over on a new pass, in order.
    fn retry_due(&mut self, ctx: &mut Context<Self>) {
        for ((msg, _counted), attempt) in self.retries.take_due(now_ms()) {
            self.try_from(msg, 0, attempt, ctx);
        }
    }

    /// What ending `msg` as `stat` here gives back: no carrier took it.
    fn refund_of(&self, msg: &Outbound, stat: Stat) -> Micros {
        let meta = &msg.meta;
        let refunded = match stat {
            // one that may have reached a carrier (its answer lost) stays charged
            Stat::Expired | Stat::Deleted => !msg.maybe_sent(),
            Stat::Rejectd => self
                .env
                .accounts
                .borrow()
                .get(&meta.account)
                .is_some_and(|a| a.refund_rejected),
            _ => false,
        };
        if refunded { meta.charged } else { Micros(0) }
    }

    /// Ends `msg` as `stat` here, unless an ESME's cancel claimed it first (then that
    /// ends it).
    fn end(&mut self, msg: Arc<Outbound>, stat: Stat, err: &str, ctx: &mut Context<Self>) {
        if msg.claim_end() {
            self.finish(msg, stat, err, None, ctx);
        }
    }

    /// Stores `msg`'s end as `stat` (no carrier took it, or its carrier refused it),
    /// refunding what [`Self::refund_of`] says; `done` is answered once that is stored.
    /// The caller has claimed the end (once per message).
    fn finish(
        &mut self,
        msg: Arc<Outbound>,
        stat: Stat,
        err: &str,
        done: Option<Waiter>,
        ctx: &mut Context<Self>,
    ) {
        let (batch, receipt) =
            super::finalize(&msg.meta, stat, err, now_ms(), self.env.receipt_ttl_ms);
        let err = err.to_string();
        let refund = self.refund_of(&msg, stat);
        let commit: std::pin::Pin<Box<dyn Future<Output = Result<(), String>>>> =
            match self.env.ledgers.get() {
                Some(ledgers) if refund.0 > 0 => {
                    let (done, rx) = tokio::sync::oneshot::channel();
                    ledgers.for_key(&msg.meta.account).do_send(Refund {
                        account: msg.meta.account.clone(),
                        message_id: msg.meta.id.clone(),
                        amount: refund,
                        writes: batch,
                        done,
                    });
                    Box::pin(
                        async move { rx.await.unwrap_or_else(|_| Err("ledger restarted".into())) },
                    )
                }
                _ => {
                    let c = self.env.store.commit(batch);
                    Box::pin(async move { c.await.map_err(|e| e.to_string()) })
                }
            };
        ctx.spawn(commit.into_actor(self).map(move |res, act, ctx| match res {
            Ok(()) => {
                if let Some(r) = receipt {
                    r.send(&act.env.delivery);
                }
                if let Some(d) = done {
                    d.stored();
                }
            }
            Err(e) => {
                tracing::warn!(id = %msg.meta.id, error = %e, "could not store final state; retrying");
                ctx.run_later(Duration::from_secs(1), move |act, ctx| {
                    act.finish(msg, stat, &err, done, ctx)
                });
            }
        }));
    }
}

impl Actor for RouterShard {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65_536);
        ctx.run_interval(RETRY_TICK, |act, ctx| {
            guard(act, ctx, |act, ctx| act.retry_due(ctx));
        });
    }
}

impl Restart for RouterShard {
    const NAME: &'static str = "router";

    /// Its waiting messages are whole between handlers, and its tick goes on.
    fn restart(&mut self, _: &mut Context<Self>) {}
}

impl Handler<RouteMessage> for RouterShard {
    type Result = ();
    fn handle(&mut self, m: RouteMessage, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            if !m.msg.maybe_sent() {
                this.remember_unsent(&m.msg);
            }
            if this.retries.holds(&m.msg.meta.dest) {
                // others to this handset wait: behind them, never ahead
                return this.wait(m.msg, m.attempt, 0);
            }
            this.try_from(m.msg, 0, m.attempt, ctx);
        });
    }
}

impl Handler<SubmitFailed> for RouterShard {
    type Result = ();
    fn handle(&mut self, m: SubmitFailed, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| match m.failure {
            Failure::Temporary => this.try_from(m.msg, m.pos + 1, m.attempt, ctx),
            Failure::Permanent(status) => {
                let err = format!("{:03}", status.min(999));
                this.end(m.msg, Stat::Rejectd, &err, ctx)
            }
        });
    }
}

impl Handler<CancelAll> for RouterShard {
    type Result = ();
    fn handle(&mut self, m: CancelAll, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| this.cancel_all(m, ctx));
    }
}

impl Handler<ChangeMessage> for RouterShard {
    type Result = ();
    fn handle(&mut self, m: ChangeMessage, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| this.change(m, ctx));
    }
}

impl RouterShard {
    /// Cancels every message a [`CancelAll`] names that no carrier has yet: each claimed,
    /// taken from its retry queue and ended DELETED; answered once all are stored.
    fn cancel_all(&mut self, m: CancelAll, ctx: &mut Context<Self>) {
        let matches = |o: &Outbound| {
            o.meta.account == m.account
                && o.meta.dest == m.dest
                && (m.source.is_empty() || o.meta.source == m.source)
                && o.meta.part_of.is_none()
                && m.service_type
                    .as_ref()
                    .is_none_or(|t| *t == o.sm.service_type)
        };
        let found: Vec<Arc<Outbound>> = self
            .unsent
            .values()
            .filter_map(Weak::upgrade)
            .filter(|o| matches(o))
            .collect();
        let cancelled: Vec<Arc<Outbound>> = found.into_iter().filter(|o| o.cancel()).collect();
        if cancelled.is_empty() {
            return m.reply.send(ChangeOutcome::TooLate);
        }
        let tally = std::rc::Rc::new(std::cell::RefCell::new(Tally {
            left: cancelled.len(),
            reply: Some(m.reply),
        }));
        for old in cancelled {
            self.unsent.remove(&old.meta.id);
            let id = old.meta.id.clone();
            self.retries
                .remove_where(&old.meta.dest, |(msg, _)| msg.meta.id == id);
            let waiter = Waiter::Shared(tally.clone());
            self.finish(old, Stat::Deleted, "000", Some(waiter), ctx);
        }
    }

    /// Cancels or replaces a message no carrier has yet: claimed here first, so no carrier
    /// sends it after, then ended DELETED, or stored with its new submit_sm and routed again.
    fn change(&mut self, m: ChangeMessage, ctx: &mut Context<Self>) {
        let Some(old) = self.unsent.get(&m.id).and_then(Weak::upgrade) else {
            return m.reply.send(ChangeOutcome::TooLate);
        };
        // the replacement is made before the claim: one that does not fit changes nothing
        let replacement = match &m.change {
            Change::Cancel => None,
            Change::Replace(r) => {
                match crate::protocol::change::replaced(&old.sm, r, old.meta.parts) {
                    Ok(sm) => {
                        let cmd =
                            rusmpp::Command::new(rusmpp::CommandStatus::EsmeRok, 1, sm.clone());
                        match crate::protocol::pdu::encode(&cmd) {
                            Some(raw) => Some((sm, raw)),
                            None => return m.reply.send(ChangeOutcome::Failed),
                        }
                    }
                    Err(status) => return m.reply.send(ChangeOutcome::Refused(status)),
                }
            }
        };
        if !old.cancel() {
            return m.reply.send(ChangeOutcome::TooLate);
        }
        self.unsent.remove(&m.id);
        // a retry it waited for is no longer its: the destination's others go on
        let id = old.meta.id.clone();
        self.retries
            .remove_where(&old.meta.dest, |(msg, _)| msg.meta.id == id);
        match replacement {
            None => self.finish(old, Stat::Deleted, "000", Some(Waiter::One(m.reply)), ctx),
            Some((sm, raw)) => {
                let mut b = crate::store::kv::WriteBatch::default();
                b.put(crate::store::keys::pending(&old.meta.id), raw);
                let commit = self.env.store.commit(b);
                let reply = m.reply;
                ctx.spawn(commit.into_actor(self).map(move |res, act, ctx| {
                    // the old one is claimed: a new Outbound goes on, the new text or the old
                    let (sm, outcome) = match res {
                        Ok(()) => (sm, ChangeOutcome::Done),
                        Err(e) => {
                            tracing::warn!(id = %old.meta.id, error = %e, "replace_sm not stored; the message goes on as it was");
                            (old.sm.clone(), ChangeOutcome::Failed)
                        }
                    };
                    let msg = Arc::new(Outbound::new(old.meta.clone(), sm));
                    act.remember_unsent(&msg);
                    if act.retries.holds(&msg.meta.dest) {
                        act.wait(msg, 0, 0);
                    } else {
                        act.try_from(msg, 0, 0, ctx);
                    }
                    reply.send(outcome);
                }));
            }
        }
    }
}

/// The router shards, addressed by destination.
pub type RouterShards = super::Shards<RouterShard>;

impl RouterShards {
    /// Sends `m` to the shard that owns its destination.
    pub fn route(&self, m: RouteMessage) {
        self.for_key(&m.msg.meta.dest).do_send(m);
    }
}
