//! `Delivery`: one per node. Knows every live ESME bind (and enforces max_binds), and gets
//! each receipt and MO to one of its account's receiver binds (RX or TRX) as a deliver_sm,
//! with a window per bind. They wait durably in the store's outbox (`o/<account>/<id>`)
//! while no receiver is bound, go out when one binds, and are dropped when they expire.
//! An MO for an account with no receiver bound goes to its `webhook_url` instead, when it
//! has one (the `Webhooks` actor then owns it until it is taken or given up).
//!
//! Messages: [`RegisterBind`], [`UnregisterBind`], [`UnbindAccount`], [`NewReceipt`],
//! [`NewMo`], [`MoBack`], [`MoWebhookDone`], [`PartEnded`], [`DeliverSmDone`], [`ListBinds`],
//! [`UnbindAll`], `CommitDelivered` (to itself).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use tokio::sync::watch;

use crate::accounts::AccountTable;
use crate::domain::message::now_ms;
use crate::domain::mo::{Mo, MoState};
use crate::store::keys::{self, OutboxReceipt, Outgoing};
use crate::store::kv::{Kv, WriteBatch};
use crate::store::record;

use super::esme_session::{EsmeSession, SendDeliverSm, Unbind};
use super::staged::Staged;
use super::store::StoreHandle;
use super::supervise::{Restart, guard};
use super::{FastMap, FastSet};

/// An ESME bound: count it, and if it receives, start feeding it receipts.
#[derive(Message)]
#[rtype(result = "Result<u64, ()>")]
pub struct RegisterBind {
    /// Account system_id.
    pub account: String,
    /// Binds the account may hold.
    pub max_binds: u32,
    /// RX or TRX: can take receipts.
    pub receiver: bool,
    /// deliver_sm window of this bind.
    pub window: usize,
    /// The session.
    pub addr: Addr<EsmeSession>,
    /// What the operator sees of it.
    pub info: SessionInfo,
}

/// A bind as `GET /sessions` shows it; the session counts its own submits.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// `transmitter`, `receiver` or `transceiver`.
    pub bind_type: &'static str,
    /// The ESME's address.
    pub peer: String,
    /// Bound since, Unix ms.
    pub since_ms: u64,
    /// submit_sm accepted on this bind (the session adds to it).
    pub submits: Arc<std::sync::atomic::AtomicU64>,
}

/// A bind ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UnregisterBind {
    /// Account system_id.
    pub account: String,
    /// Id given by [`RegisterBind`].
    pub bind_id: u64,
}

/// The account was deleted: unbind every bind it holds.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UnbindAccount(pub String);

/// A receipt is durable in the outbox: deliver it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NewReceipt(pub OutboxReceipt);

/// An MO is durable in its account's outbox: deliver it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NewMo(pub Box<Mo>);

/// The webhooks no longer hold this MO: it was taken or given up (its outbox entry is
/// gone), or could not be sent (it waits in the outbox for a receiver bind).
#[derive(Message)]
#[rtype(result = "()")]
pub struct MoWebhookDone {
    /// Its account.
    pub account: String,
    /// The MO's id.
    pub id: String,
}

/// MO the webhooks give back: a receiver bound for their account meanwhile.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MoBack(pub Vec<Mo>);

/// A part of a message sent over the customer API ended (its `w/` marker is stored): the
/// message's webhook goes out once every part has ended.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct PartEnded {
    /// The message (its first part's id).
    pub message: String,
    /// The part that ended.
    pub part: String,
    /// Its account.
    pub account: String,
}

/// How the ESME answered a deliver_sm (a receipt or an MO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverSmOutcome {
    /// deliver_sm_resp with ESME_ROK: done.
    Acked,
    /// deliver_sm_resp (or generic_nack) with an error status: counts as an attempt.
    Refused,
    /// No answer in time: sent again, not counted.
    TimedOut,
}

/// A session finished with a deliver_sm.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverSmDone {
    /// Account system_id.
    pub account: String,
    /// The bind that carried it.
    pub bind_id: u64,
    /// tern's id of the receipt's message, or of the MO.
    pub id: String,
    /// What the ESME said.
    pub outcome: DeliverSmOutcome,
}

/// Live binds, for `GET /sessions` and shutdown.
#[derive(Message)]
#[rtype(result = "Vec<BindInfo>")]
pub struct ListBinds;

/// Ask every session to unbind (shutdown).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct UnbindAll;

/// One live bind.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BindInfo {
    /// Account system_id.
    pub system_id: String,
    /// Bind id.
    pub bind_id: u64,
    /// Takes receipts.
    pub receiver: bool,
    /// `transmitter`, `receiver` or `transceiver`.
    pub bind_type: &'static str,
    /// The ESME's address.
    pub peer: String,
    /// Bound since (RFC 3339).
    pub since: String,
    /// submit_sm accepted on this bind.
    pub submits: u64,
    /// Receipts sent on this bind.
    pub receipts: u64,
}

struct Bind {
    id: u64,
    addr: Addr<EsmeSession>,
    receiver: bool,
    credits: usize,
    /// Receipts and MO sent on this bind and not yet answered: sent again elsewhere if it
    /// drops.
    inflight: FastMap<String, Outgoing>,
    info: SessionInfo,
    /// Receipts sent on it.
    receipts: u64,
}

#[derive(Default)]
struct AccountQueue {
    binds: Vec<Bind>,
    queue: VecDeque<(Outgoing, u32)>,
    known: FastSet<String>,
    attempts: FastMap<String, u32>,
    rr: usize,
}

/// Attempts refused by the ESME before a receipt or MO is dropped.
const MAX_ATTEMPTS: u32 = 5;

/// MO an account's webhook may hold at once; more wait in the outbox (the sweep offers
/// them again), so a flood of MO for an account whose receiver is down costs store space,
/// not memory.
const MAX_AT_WEBHOOK: usize = 10_000;

/// The MO handed to the webhooks, and how many per account.
#[derive(Default)]
struct AtWebhook {
    ids: FastSet<String>,
    per_account: FastMap<String, usize>,
}

impl AtWebhook {
    /// Takes MO `id` of `account` for its webhook: false when it is there already or the
    /// account's webhook holds [`MAX_AT_WEBHOOK`].
    fn take(&mut self, account: &str, id: &str) -> bool {
        let n = self.per_account.get(account).copied().unwrap_or(0);
        if n >= MAX_AT_WEBHOOK || !self.ids.insert(id.to_string()) {
            return false;
        }
        self.per_account.insert(account.to_string(), n + 1);
        true
    }

    /// The webhooks no longer hold MO `id`.
    fn release(&mut self, account: &str, id: &str) {
        if !self.ids.remove(id) {
            return;
        }
        if let Some(n) = self.per_account.get_mut(account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_account.remove(account);
            }
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The delivery actor.
pub struct Delivery {
    kv: Arc<dyn Kv>,
    store: StoreHandle,
    /// Where webhooks go out.
    webhooks: Addr<super::webhooks::Webhooks>,
    /// The accounts as they are now (for their webhook_url).
    settings: watch::Receiver<Arc<AccountTable>>,
    accounts: FastMap<String, AccountQueue>,
    /// MO handed to the webhooks: not loaded for a bind meanwhile.
    at_webhook: AtWebhook,
    /// While a sweep's scan runs: what was forgotten since it began (the scan may still
    /// show it).
    forgotten_while_sweeping: Option<FastSet<String>>,
    next_bind: u64,
    /// Outbox entries of delivered receipts, removed from the store together once the
    /// mailbox is drained: one commit for many receipts.
    delivered: Staged<()>,
}

/// Remove the delivered receipts from the outbox (sent to itself).
#[derive(Message)]
#[rtype(result = "()")]
struct CommitDelivered;

impl Delivery {
    /// Delivery over the node's store.
    pub fn new(
        kv: Arc<dyn Kv>,
        store: StoreHandle,
        webhooks: Addr<super::webhooks::Webhooks>,
        settings: watch::Receiver<Arc<AccountTable>>,
    ) -> Self {
        Delivery {
            kv,
            store,
            webhooks,
            settings,
            accounts: FastMap::default(),
            at_webhook: AtWebhook::default(),
            forgotten_while_sweeping: None,
            next_bind: 1,
            delivered: Staged::default(),
        }
    }

    fn receivers(&self, account: &str) -> bool {
        self.accounts
            .get(account)
            .is_some_and(|a| a.binds.iter().any(|b| b.receiver))
    }

    /// Loads an account's waiting receipts and MO from the outbox (but MO its webhook has).
    fn load_outbox(&mut self, account: &str) {
        let rows = self.kv.scan_prefix(&keys::outbox_prefix(account));
        let q = self.accounts.entry(account.to_string()).or_default();
        for row in rows.into_iter().flatten() {
            if let Ok(r) = record::decode_outgoing(&row.1)
                && !self.at_webhook.contains(r.id())
                && q.known.insert(r.id().to_string())
            {
                q.queue.push_back((r, 0));
            }
        }
    }

    /// Drops a receipt or MO that needs no more delivery (an MO's record says how it
    /// ended). Its outbox entry is removed with the next [`CommitDelivered`]; should tern
    /// stop before that is durable, it is sent again after the restart (at least once,
    /// never lost).
    fn forget(&mut self, r: &Outgoing, end: MoState, ctx: &mut Context<Self>) {
        let mut b = WriteBatch::default();
        if let Outgoing::Mo(mo) = r {
            crate::store::mo::end(&mut b, mo, end);
            let outcome = if end == MoState::Delivered {
                "smpp"
            } else {
                "expired"
            };
            metrics::counter!("tern_mo_total", "outcome" => outcome).increment(1);
        } else {
            b.del(keys::outbox(r.account(), r.id()));
        }
        if self.delivered.add(b, None) {
            ctx.notify(CommitDelivered);
        }
        if let Some(q) = self.accounts.get_mut(r.account()) {
            q.known.remove(r.id());
            q.attempts.remove(r.id());
        }
        if let Some(f) = &mut self.forgotten_while_sweeping {
            f.insert(r.id().to_string());
        }
    }

    /// An MO for an account with no receiver bound: to its webhook when it has one (and
    /// true), else it waits in the outbox.
    fn send_to_webhook(&mut self, mo: Box<Mo>) -> bool {
        let Some(account) = mo.account.as_deref() else {
            return false;
        };
        let url = self
            .settings
            .borrow()
            .get(account)
            .and_then(|a| a.webhook_url.clone());
        let Some(url) = url else {
            return false;
        };
        if self.at_webhook.take(account, &mo.id) {
            self.webhooks.do_send(super::webhooks::SendMo { mo, url });
        }
        true
    }

    fn pump(&mut self, account: &str, ctx: &mut Context<Self>) {
        let now = now_ms();
        let mut expired = Vec::new();
        if let Some(q) = self.accounts.get_mut(account) {
            while !q.queue.is_empty() {
                let n = q.binds.len();
                let Some(i) = (0..n)
                    .map(|k| (q.rr + k) % n.max(1))
                    .find(|&i| q.binds[i].receiver && q.binds[i].credits > 0)
                else {
                    break;
                };
                q.rr = (i + 1) % n;
                let Some((r, _)) = q.queue.pop_front() else {
                    break;
                };
                if r.expires_ms() < now {
                    expired.push(r);
                    continue;
                }
                let b = &mut q.binds[i];
                b.credits -= 1;
                b.receipts += 1;
                b.inflight.insert(r.id().to_string(), r.clone());
                b.addr.do_send(SendDeliverSm { item: r });
            }
        }
        for r in expired {
            tracing::info!(id = %r.id(), "expired before the ESME bound a receiver");
            self.forget(&r, MoState::Expired, ctx);
        }
    }

    /// Removes expired receipts and MO no bind is taking from the outbox, and sends the MO
    /// waiting for accounts with no receiver bound to their webhooks (at start, those of
    /// the last run; later, those whose account has a webhook_url since). The scan of the
    /// whole outbox runs on the blocking pool ([`scan_outbox`]), never on this actor's
    /// thread.
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.forgotten_while_sweeping.is_some() {
            return; // one scan at a time
        }
        self.forgotten_while_sweeping = Some(FastSet::default());
        let kv = self.kv.clone();
        let now = now_ms();
        let scan = tokio::task::spawn_blocking(move || scan_outbox(kv.as_ref(), now));
        ctx.spawn(scan.into_actor(self).map(|rows, act, ctx| {
            let forgotten = act.forgotten_while_sweeping.take().unwrap_or_default();
            // the scan is older than what happened since: an entry delivered, taken by a
            // webhook or handed on meanwhile is left alone (all known here, no store read
            // per entry)
            let Outbox { expired, waiting } = rows.unwrap_or_default();
            let stale = |act: &Delivery, r: &Outgoing| {
                forgotten.contains(r.id())
                    || act.at_webhook.contains(r.id())
                    || act
                        .accounts
                        .get(r.account())
                        .is_some_and(|q| q.known.contains(r.id()))
            };
            for mo in waiting {
                let mo = Outgoing::Mo(Box::new(mo));
                if stale(act, &mo) {
                    continue;
                }
                if let Some(Outgoing::Mo(mo)) = act.offer(mo, ctx) {
                    act.send_to_webhook(mo);
                }
            }
            let mut b = WriteBatch::default();
            for (k, r) in expired {
                if stale(act, &r) {
                    continue;
                }
                if let Outgoing::Mo(mo) = &r {
                    crate::store::mo::end(&mut b, mo, MoState::Expired);
                    metrics::counter!("tern_mo_total", "outcome" => "expired").increment(1);
                } else {
                    b.del(k);
                }
            }
            if !b.is_empty() {
                let n = b.ops.len();
                let commit = act.store.commit(b);
                actix::spawn(async move {
                    if commit.await.is_ok() {
                        tracing::info!(
                            count = n,
                            "expired receipts and MO removed from the outbox"
                        );
                    }
                });
            }
        }));
    }
}

/// What a scan of the whole outbox found.
#[derive(Default)]
struct Outbox {
    /// Entries expired by then, with their keys.
    expired: Vec<(Vec<u8>, Outgoing)>,
    /// MO still waiting.
    waiting: Vec<Mo>,
}

/// The outbox entries expired by `now`, and the MO still waiting.
fn scan_outbox(kv: &dyn Kv, now: u64) -> Outbox {
    let mut out = Outbox::default();
    for (k, v) in kv.scan_prefix(b"o/").into_iter().flatten() {
        match record::decode_outgoing(&v) {
            Ok(r) if r.expires_ms() < now => out.expired.push((k, r)),
            Ok(Outgoing::Mo(mo)) => out.waiting.push(*mo),
            _ => {}
        }
    }
    out
}

impl Actor for Delivery {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65_536);
        self.sweep(ctx);
        ctx.run_interval(Duration::from_secs(600), |act, ctx| act.sweep(ctx));
    }
}

fn gauge_binds(account: &str, n: usize) {
    metrics::gauge!("tern_esme_binds", "account" => account.to_string()).set(n as f64);
}

impl Restart for Delivery {
    const NAME: &'static str = "delivery";

    /// Receipts are in the store's outbox until delivered; the queues it keeps go on.
    /// Delivered ones gathered for removal are committed.
    fn restart(&mut self, ctx: &mut Context<Self>) {
        if !self.delivered.is_empty() {
            ctx.notify(CommitDelivered);
        }
        // a sweep whose scan was running starts again at the next interval
        self.forgotten_while_sweeping = None;
    }
}

impl Handler<RegisterBind> for Delivery {
    type Result = Result<u64, ()>;
    fn handle(&mut self, m: RegisterBind, ctx: &mut Context<Self>) -> Result<u64, ()> {
        // a crash refuses the bind; the ESME binds again
        guard(self, ctx, |this, ctx| this.register_bind(m, ctx)).unwrap_or(Err(()))
    }
}

impl Delivery {
    fn register_bind(&mut self, m: RegisterBind, ctx: &mut Context<Self>) -> Result<u64, ()> {
        let had_receiver = self.receivers(&m.account);
        let q = self.accounts.entry(m.account.clone()).or_default();
        if q.binds.len() >= m.max_binds as usize {
            return Err(());
        }
        let id = self.next_bind;
        self.next_bind += 1;
        q.binds.push(Bind {
            id,
            addr: m.addr,
            receiver: m.receiver,
            credits: m.window,
            inflight: FastMap::default(),
            info: m.info,
            receipts: 0,
        });
        gauge_binds(&m.account, q.binds.len());
        if m.receiver && !had_receiver {
            self.load_outbox(&m.account);
            if !self.at_webhook.is_empty() {
                self.webhooks.do_send(super::webhooks::GiveBackMo {
                    account: m.account.clone(),
                });
            }
        }
        self.pump(&m.account, ctx);
        Ok(id)
    }
}

impl Handler<UnregisterBind> for Delivery {
    type Result = ();
    fn handle(&mut self, m: UnregisterBind, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, _| {
            let Some(q) = this.accounts.get_mut(&m.account) else {
                return;
            };
            let mut orphaned = Vec::new();
            q.binds.retain_mut(|b| {
                if b.id == m.bind_id {
                    orphaned.extend(b.inflight.drain().map(|(_, r)| r));
                    false
                } else {
                    true
                }
            });
            gauge_binds(&m.account, q.binds.len());
            // receipts that were on the dropped bind go out again first
            for r in orphaned {
                q.queue.push_front((r, 0));
            }
            let mut waiting_mo = Vec::new();
            if !q.binds.iter().any(|b| b.receiver) {
                // receipts and MO stay in the store's outbox; reload when a receiver binds
                // again (MO go to the account's webhook meanwhile, if it has one)
                waiting_mo = q
                    .queue
                    .drain(..)
                    .filter_map(|(r, _)| match r {
                        Outgoing::Mo(mo) => Some(mo),
                        Outgoing::Receipt(_) => None,
                    })
                    .collect();
                q.known.clear();
            }
            if q.binds.is_empty() {
                this.accounts.remove(&m.account);
            }
            for mo in waiting_mo {
                this.send_to_webhook(mo);
            }
        });
    }
}

impl Handler<PartEnded> for Delivery {
    type Result = ();
    fn handle(&mut self, m: PartEnded, _: &mut Context<Self>) {
        self.webhooks.do_send(m);
    }
}

impl Delivery {
    /// A receipt or MO is in the outbox: to a receiver bind's queue, if one is bound;
    /// else it is given back.
    fn offer(&mut self, item: Outgoing, ctx: &mut Context<Self>) -> Option<Outgoing> {
        let account = item.account().to_string();
        if !self.receivers(&account) {
            return Some(item);
        }
        if let Some(q) = self.accounts.get_mut(&account)
            && q.known.insert(item.id().to_string())
        {
            q.queue.push_back((item, 0));
        }
        self.pump(&account, ctx);
        None
    }
}

impl Handler<NewReceipt> for Delivery {
    type Result = ();
    fn handle(&mut self, m: NewReceipt, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            // with no receiver bound it waits in the outbox
            let _ = this.offer(Outgoing::Receipt(m.0), ctx);
        });
    }
}

impl Handler<NewMo> for Delivery {
    type Result = ();
    fn handle(&mut self, m: NewMo, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            if let Some(Outgoing::Mo(mo)) = this.offer(Outgoing::Mo(m.0), ctx) {
                // with no webhook either it waits in the outbox
                this.send_to_webhook(mo);
            }
        });
    }
}

impl Handler<MoBack> for Delivery {
    type Result = ();
    fn handle(&mut self, m: MoBack, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            for mo in m.0 {
                let account = mo.account.clone().unwrap_or_default();
                this.at_webhook.release(&account, &mo.id);
                if !matches!(this.kv.get(&keys::outbox(&account, &mo.id)), Ok(Some(_))) {
                    continue; // done with meanwhile
                }
                if let Some(Outgoing::Mo(mo)) = this.offer(Outgoing::Mo(Box::new(mo)), ctx) {
                    // the receiver is gone again
                    this.send_to_webhook(mo);
                }
            }
        });
    }
}

impl Handler<MoWebhookDone> for Delivery {
    type Result = ();
    fn handle(&mut self, m: MoWebhookDone, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, _| {
            this.at_webhook.release(&m.account, &m.id);
            // a sweep's scan running may still show it
            if let Some(f) = &mut this.forgotten_while_sweeping {
                f.insert(m.id.clone());
            }
            tracing::debug!(id = %m.id, account = %m.account, "MO webhook done");
        });
    }
}

impl Handler<DeliverSmDone> for Delivery {
    type Result = ();
    fn handle(&mut self, m: DeliverSmDone, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            let mut forget = None;
            if let Some(q) = this.accounts.get_mut(&m.account) {
                let Some(b) = q.binds.iter_mut().find(|b| b.id == m.bind_id) else {
                    return;
                };
                let Some(r) = b.inflight.remove(&m.id) else {
                    return;
                };
                b.credits += 1;
                match m.outcome {
                    DeliverSmOutcome::Acked => forget = Some((r, MoState::Delivered)),
                    DeliverSmOutcome::TimedOut => q.queue.push_back((r, 0)),
                    DeliverSmOutcome::Refused => {
                        let n = q.attempts.entry(r.id().to_string()).or_insert(0);
                        *n += 1;
                        if *n >= MAX_ATTEMPTS {
                            tracing::warn!(id = %r.id(), "ESME refused the deliver_sm {MAX_ATTEMPTS} times; dropped");
                            forget = Some((r, MoState::Expired));
                        } else {
                            let n = *n;
                            q.queue.push_back((r, n));
                        }
                    }
                }
            }
            if let Some((r, end)) = forget {
                this.forget(&r, end, ctx);
            }
            this.pump(&m.account, ctx);
        });
    }
}

impl Handler<CommitDelivered> for Delivery {
    type Result = ();
    fn handle(&mut self, _: CommitDelivered, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            let Some((batch, _)) = this.delivered.take() else {
                return;
            };
            let again = batch.clone();
            let commit = this.store.commit(batch);
            ctx.spawn(commit.into_actor(this).map(move |res, act, ctx| {
                if let Err(e) = res {
                    // left in the outbox they would be sent again at the next bind: try later
                    tracing::warn!(error = %e, count = again.ops.len(), "could not remove delivered receipts from the outbox; retrying");
                    if act.delivered.add(again, None) {
                        ctx.notify_later(CommitDelivered, Duration::from_secs(1));
                    }
                }
            }));
        });
    }
}

impl Handler<ListBinds> for Delivery {
    type Result = MessageResult<ListBinds>;
    fn handle(&mut self, _: ListBinds, ctx: &mut Context<Self>) -> Self::Result {
        let binds = guard(self, ctx, |this, _| {
            let mut out = Vec::new();
            for (acct, q) in &this.accounts {
                for b in &q.binds {
                    out.push(BindInfo {
                        system_id: acct.clone(),
                        bind_id: b.id,
                        receiver: b.receiver,
                        bind_type: b.info.bind_type,
                        peer: b.info.peer.clone(),
                        since: crate::domain::clock::rfc3339(b.info.since_ms),
                        submits: b.info.submits.load(std::sync::atomic::Ordering::Relaxed),
                        receipts: b.receipts,
                    });
                }
            }
            out
        });
        MessageResult(binds.unwrap_or_default())
    }
}

impl Handler<UnbindAccount> for Delivery {
    type Result = ();
    fn handle(&mut self, m: UnbindAccount, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, _| {
            if let Some(q) = this.accounts.get(&m.0) {
                for b in &q.binds {
                    b.addr.do_send(Unbind);
                }
            }
        });
    }
}

impl Handler<UnbindAll> for Delivery {
    type Result = usize;
    fn handle(&mut self, _: UnbindAll, ctx: &mut Context<Self>) -> usize {
        guard(self, ctx, |this, _| {
            let mut n = 0;
            for q in this.accounts.values() {
                for b in &q.binds {
                    b.addr.do_send(Unbind);
                    n += 1;
                }
            }
            n
        })
        .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_webhook_holds_a_bounded_number_of_mo() {
        let mut w = AtWebhook::default();
        for i in 0..MAX_AT_WEBHOOK {
            assert!(w.take("a", &i.to_string()));
        }
        assert!(!w.take("a", "one more"), "full: it waits in the outbox");
        assert!(w.take("b", "other account"));
        assert!(!w.take("b", "other account"), "once");
        w.release("a", "0");
        assert!(w.take("a", "one more"));
        w.release("b", "other account");
        w.release("b", "other account");
        assert!(!w.contains("other account"));
        assert!(!w.per_account.contains_key("b"));
    }
}
