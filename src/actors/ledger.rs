//! `Ledger`: one per shard of accounts (hash of system_id). Owns balances and each
//! account's TPS bucket. A submit is charged and stored in one store batch (message record,
//! state and the new balance together), so balances and messages always agree after a crash.
//!
//! The submits a shard accepts while its mailbox drains share that batch: one commit, one
//! wait for the store, and one balance write per account for all of them, instead of one
//! of each per submit. Each is answered once the batch is durable.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use rusmpp::pdus::SubmitSm;
use tokio::sync::{oneshot, watch};

use crate::accounts::AccountTable;
use crate::domain::ledger_entry::{EntryKind, LedgerEntry, encode_charges};
use crate::domain::message::{MessageMeta, format_id, now_ms};
use crate::domain::money::Micros;
use crate::domain::throttle::TokenBucket;
use crate::store::keys;
use crate::store::kv::{Kv, WriteBatch};
use crate::store::messages;

use super::router::{Outbound, RouteMessage, RouterShards};
use super::staged::Staged;
use super::store::{CommitError, StoreHandle};
use super::supervise::{Restart, guard};
use super::{FastMap, ReplyTo};

/// What the ledger answers to an [`Accept`]: tern's message id once it is durable.
pub type Accepted = Result<String, Refusal>;

impl super::Unanswered for Accepted {
    /// A submit the ledger dropped unanswered was not accepted.
    fn unanswered() -> Self {
        Err(Refusal::Failed)
    }
}

/// Why a submit was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the account's TPS (ESME_RTHROTTLED).
    Throttled,
    /// Balance below price × parts (ESME_RSUBMITFAIL).
    NoCredit,
    /// The store is saturated (ESME_RMSGQFUL).
    QueueFull,
    /// The store failed (ESME_RSYSERR).
    Failed,
}

/// Charge and store a new message. `meta.id` is filled in by the Ledger; the answer goes
/// to `reply` once the message is durable, or at once when it is refused.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Accept {
    /// What is known about the message (id empty).
    pub meta: MessageMeta,
    /// Price per part.
    pub price: Micros,
    /// The decoded submit_sm (forwarded to the carrier).
    pub sm: SubmitSm,
    /// The raw submit_sm PDU as received (stored).
    pub raw: Vec<u8>,
    /// Where the answer goes.
    pub reply: ReplyTo<Accepted>,
}

/// Charge and store the parts of one message tern split (sent over the customer API), all
/// or none: every part is billed and stored as a message of its own, with the message's
/// record in the same batch; answered with the message's id (its first part's) once they
/// are durable (then routed), or at once when refused. Ids are given here, as for every
/// submit, so an account's ledger keys follow the order its charges are stored in.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AcceptParts {
    /// The account.
    pub account: String,
    /// Price per part.
    pub price: Micros,
    /// The parts in order.
    pub parts: Vec<NewPart>,
    /// The message's record (its part ids are filled in here), stored as `x/<id>`.
    pub record: keys::ApiMessage,
    /// The request's `Idempotency-Key` and body hash: its answer is stored with the message.
    pub remember: Option<(String, String)>,
    /// The key held in flight; let go once the message is stored or refused.
    pub held: Option<crate::domain::idempotency::Held>,
    /// The answer: the message's id.
    pub done: PartsAnswer,
}

/// Where the answer to an [`AcceptParts`] goes: the customer API's handler, or the ESME
/// session whose one submit_sm was split.
pub enum PartsAnswer {
    /// An HTTP request waiting.
    Http(oneshot::Sender<Accepted>),
    /// An ESME session, as for a submit.
    Esme(ReplyTo<Accepted>),
}

impl PartsAnswer {
    /// Answers (dropped if nobody waits any more).
    pub fn send(self, value: Accepted) {
        match self {
            PartsAnswer::Http(tx) => {
                let _ = tx.send(value);
            }
            PartsAnswer::Esme(reply) => reply.send(value),
        }
    }
}

/// One part of an [`AcceptParts`].
pub struct NewPart {
    /// What is known about it (`id`, `charged` and `part_of.message` are filled in here).
    pub meta: MessageMeta,
    /// The submit_sm that carries it to the carrier.
    pub sm: SubmitSm,
    /// That submit_sm encoded (stored, resumed after a restart).
    pub raw: Vec<u8>,
}

/// Read an account's balance.
#[derive(Message)]
#[rtype(result = "Option<Micros>")]
pub struct GetBalance(pub String);

struct Book {
    balance: Micros,
    /// `tern_account_balance` for this account.
    gauge: metrics::Gauge,
    bucket: TokenBucket,
    tps: u32,
}

/// A balance change written into the shard's next batch, waiting for it to be durable.
struct Charged {
    account: String,
    /// Signed: negative for a charge or a debit.
    amount: Micros,
    what: Settles,
}

/// What a staged balance change settles once it is stored.
enum Settles {
    /// A submit: routed, and its ESME answered.
    Submit {
        msg: Arc<Outbound>,
        reply: ReplyTo<Accepted>,
    },
    /// A message ended without a carrier taking it: its final state stored with the
    /// refund, then answered.
    Refund {
        done: oneshot::Sender<Result<(), String>>,
    },
    /// The parts of one message: all routed, then answered with the message's id.
    Parts {
        msgs: Vec<Arc<Outbound>>,
        done: PartsAnswer,
        /// Let go (dropped) with the answer.
        held: Option<crate::domain::idempotency::Held>,
    },
    /// An operator's credit or debit: answered with its entry.
    Adjust {
        entry: LedgerEntry,
        done: oneshot::Sender<Result<LedgerEntry, AdjustError>>,
    },
}

/// An operator credits (`amount` > 0) or debits (< 0) an account; answered with the
/// ledger entry once it is durable.
#[derive(Message)]
#[rtype(result = "Result<LedgerEntry, AdjustError>")]
pub struct Adjust {
    /// The account.
    pub account: String,
    /// Signed amount, not zero.
    pub amount: Micros,
    /// The operator's reason.
    pub reason: String,
    /// The operator's address.
    pub from: String,
}

/// A message ends without a carrier having taken it: store `writes` (its final state and
/// receipt) with the charge given back, as one batch; answered once durable.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Refund {
    /// The account charged.
    pub account: String,
    /// The message.
    pub message_id: String,
    /// What it was charged.
    pub amount: Micros,
    /// Its final state and receipt.
    pub writes: WriteBatch,
    /// The answer: `Err` when the batch was not stored (nothing changed).
    pub done: oneshot::Sender<Result<(), String>>,
}

/// Why a credit or debit was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjustError {
    /// No such (live) account.
    #[error("no such account")]
    NoAccount,
    /// A debit larger than the balance.
    #[error("balance {0} is less than the debit")]
    Insufficient(Micros),
    /// Not stored: nothing changed.
    #[error("not stored: {0}")]
    Store(String),
}

/// Commit the submits accepted so far (sent to itself once per mailbox drain).
#[derive(Message)]
#[rtype(result = "()")]
struct CommitCharged;

/// Submits in one batch at most (bounds the wait of the first).
const MAX_BATCH: usize = 1024;

/// A ledger shard.
pub struct Ledger {
    kv: Arc<dyn Kv>,
    store: StoreHandle,
    routers: RouterShards,
    accounts: watch::Receiver<Arc<AccountTable>>,
    books: FastMap<String, Book>,
    /// Submits accepted, with their writes, not yet handed to the store.
    charged: Staged<Charged>,
    /// Per account, the charges staged in a row whose ledger record is not written yet.
    charges: FastMap<String, ChargesInARow>,
}

/// An account's charges staged one after another: one ledger record for all of them
/// (`domain/ledger_entry.rs`), written before the account's next other entry or commit.
struct ChargesInARow {
    at_ms: u64,
    /// (message number, price × parts), in order.
    items: Vec<(u64, Micros)>,
    /// The balance after the last.
    balance: Micros,
}

impl Ledger {
    /// A shard; balances are loaded lazily from the store (or the account's opening balance).
    pub fn new(
        kv: Arc<dyn Kv>,
        store: StoreHandle,
        routers: RouterShards,
        accounts: watch::Receiver<Arc<AccountTable>>,
    ) -> Self {
        Ledger {
            kv,
            store,
            routers,
            accounts,
            books: FastMap::default(),
            charged: Staged::default(),
            charges: FastMap::default(),
        }
    }

    /// Hands the submits accepted so far to the store as one batch, with each account's
    /// balance after them; answers each once it is durable.
    /// Stages the ledger record of `account`'s charges in a row (every account's when
    /// `None`), so that what comes after is ordered after them.
    fn close_charges(&mut self, account: Option<&str>) {
        let mut writes = WriteBatch::default();
        let mut close = |a: &str, c: ChargesInARow| {
            if let Some(&(first, _)) = c.items.first() {
                writes.put(
                    keys::ledger_entry(a, first),
                    encode_charges(c.at_ms, c.balance, &c.items),
                );
            }
        };
        match account {
            Some(a) => {
                if let Some(c) = self.charges.remove(a) {
                    close(a, c);
                }
            }
            None => {
                for (a, c) in self.charges.drain() {
                    close(&a, c);
                }
            }
        }
        if !writes.is_empty() {
            // the charges themselves are staged already: their commit is on its way
            let _ = self.charged.add(writes, None);
        }
    }

    fn commit_charged(&mut self, ctx: &mut Context<Self>) {
        self.close_charges(None);
        let Some((mut batch, charged)) = self.charged.take() else {
            return;
        };
        let mut accounts: Vec<&str> = charged.iter().map(|c| c.account.as_str()).collect();
        accounts.sort_unstable();
        accounts.dedup();
        for a in &accounts {
            if let Some(b) = self.books.get(*a) {
                batch.put(keys::balance(a), b.balance.0.to_be_bytes().to_vec());
            }
        }
        let commit = match self.store.try_commit(batch) {
            Ok(c) => c,
            Err(e) => return self.undo(charged, e),
        };
        ctx.spawn(commit.into_actor(self).map(move |res, act, ctx| match res {
            Ok(()) => {
                let mut last: Option<&str> = None;
                for c in &charged {
                    if last != Some(c.account.as_str())
                        && let Some(b) = act.books.get(&c.account)
                    {
                        b.gauge.set(b.balance.0 as f64 / 1e6);
                    }
                    last = Some(c.account.as_str());
                }
                for c in charged {
                    guard(act, ctx, |act, _| match c.what {
                        Settles::Submit { msg, reply } => {
                            let id = msg.meta.id.clone();
                            act.routers.route(RouteMessage { msg, attempt: 0 });
                            reply.send(Ok(id));
                        }
                        Settles::Parts { msgs, done, held } => {
                            let id = msgs.first().map(|m| m.meta.id.clone()).unwrap_or_default();
                            for msg in msgs {
                                act.routers.route(RouteMessage { msg, attempt: 0 });
                            }
                            done.send(Ok(id));
                            drop(held);
                        }
                        Settles::Adjust { entry, done } => {
                            let _ = done.send(Ok(entry));
                        }
                        Settles::Refund { done } => {
                            let _ = done.send(Ok(()));
                        }
                    });
                }
            }
            Err(e) => act.undo(charged, e),
        }));
    }

    /// The batch carrying `charged` was not stored: none of them is acknowledged. Gives
    /// the money back and writes the corrected balances, so the stored balances match the
    /// stored messages again.
    fn undo(&mut self, charged: Vec<Charged>, e: CommitError) {
        tracing::error!(count = charged.len(), error = %e, "submits not stored; charges refunded");
        let refusal = match e {
            CommitError::Full => Refusal::QueueFull,
            CommitError::Failed(_) => Refusal::Failed,
        };
        let mut fix = WriteBatch::default();
        let mut fixed: Vec<String> = Vec::new();
        for c in charged {
            if let Some(b) = self.books.get_mut(&c.account) {
                b.balance = Micros(b.balance.0 - c.amount.0);
            }
            // charges staged since carry balances that counted this one
            if let Some(open) = self.charges.get_mut(&c.account) {
                open.balance = Micros(open.balance.0 - c.amount.0);
            }
            if !fixed.contains(&c.account) {
                fixed.push(c.account);
            }
            match c.what {
                Settles::Submit { reply, .. } => reply.send(Err(refusal)),
                Settles::Parts { done, .. } => done.send(Err(refusal)),
                Settles::Adjust { done, .. } => {
                    let _ = done.send(Err(AdjustError::Store(e.to_string())));
                }
                Settles::Refund { done } => {
                    let _ = done.send(Err(e.to_string()));
                }
            }
        }
        for a in fixed {
            if let Some(b) = self.books.get(&a) {
                // submits accepted since are charged in memory but not stored yet: their
                // batch comes after this write and carries them, so leave them out here
                let waiting: i64 = self
                    .charged
                    .items()
                    .iter()
                    .filter(|c| c.account == a)
                    .map(|c| c.amount.0)
                    .sum();
                let stored = b.balance.0.saturating_sub(waiting);
                fix.put(keys::balance(&a), stored.to_be_bytes().to_vec());
            }
        }
        let c = self.store.commit(fix);
        actix::spawn(async move {
            if let Err(e) = c.await {
                tracing::error!(error = %e, "could not store corrected balance");
            }
        });
    }

    /// Stages an operator's credit or debit with its entry and audit entry; the receiver
    /// gets the entry once they are stored.
    fn adjust(
        &mut self,
        m: Adjust,
        ctx: &mut Context<Self>,
    ) -> Result<oneshot::Receiver<Result<LedgerEntry, AdjustError>>, AdjustError> {
        let kv = self.kv.clone();
        self.close_charges(Some(&m.account));
        let book = self.book(&m.account).ok_or(AdjustError::NoAccount)?;
        let before = book.balance;
        let after = before
            .0
            .checked_add(m.amount.0)
            .ok_or(AdjustError::Insufficient(before))?;
        if m.amount.0 < 0 && after < 0 {
            return Err(AdjustError::Insufficient(before));
        }
        let seq = kv
            .generate_id()
            .map_err(|e| AdjustError::Store(e.to_string()))?;
        let kind = if m.amount.0 < 0 {
            EntryKind::Debit
        } else {
            EntryKind::Credit
        };
        let entry = LedgerEntry {
            seq,
            at_ms: now_ms(),
            kind,
            amount: m.amount,
            balance: Micros(after),
            message_id: None,
            reason: Some(m.reason.clone()),
            operator: Some(m.from.clone()),
        };
        let mut writes = WriteBatch::default();
        writes.put(keys::ledger_entry(&m.account, seq), keys::encode(&entry));
        let action = if kind == EntryKind::Debit {
            "account.debit"
        } else {
            "account.credit"
        };
        crate::registry::audit(
            &kv,
            &mut writes,
            &m.from,
            action,
            &m.account,
            serde_json::json!({"balance": before.to_string()}),
            serde_json::json!({"balance": Micros(after).to_string(),
                "amount": m.amount.to_string(), "reason": m.reason}),
        )
        .map_err(AdjustError::Store)?;
        book.balance = Micros(after);
        let (done, rx) = oneshot::channel();
        let staged = Charged {
            account: m.account,
            amount: m.amount,
            what: Settles::Adjust { entry, done },
        };
        if self.charged.add(writes, Some(staged)) {
            ctx.notify(CommitCharged);
        }
        Ok(rx)
    }

    /// Adds a charge to the account's charges in a row (one ledger record for them all).
    fn charge_in_a_row(&mut self, account: &str, n: u64, charge: Micros, balance: Micros) {
        match self.charges.get_mut(account) {
            Some(c) => {
                c.items.push((n, charge));
                c.balance = balance;
            }
            None => {
                self.charges.insert(
                    account.to_string(),
                    ChargesInARow {
                        at_ms: now_ms(),
                        items: vec![(n, charge)],
                        balance,
                    },
                );
            }
        }
    }

    /// Stages the parts of one message, all or none (see [`AcceptParts`]).
    fn accept_parts(&mut self, m: AcceptParts, ctx: &mut Context<Self>) {
        let AcceptParts {
            account,
            price,
            parts,
            mut record,
            remember,
            held,
            done,
        } = m;
        let kv = self.kv.clone();
        let Some(book) = self.book(&account).filter(|_| !parts.is_empty()) else {
            done.send(Err(Refusal::Failed));
            return;
        };
        // a part is a submit: it takes a token, but a message never needs more than a
        // second's worth, so a long one can always go
        let count = u32::try_from(parts.len()).unwrap_or(u32::MAX);
        // an ESME's one submit_sm takes one token however tern split it, as unsplit
        let tokens = match done {
            PartsAnswer::Esme(_) => 1,
            PartsAnswer::Http(_) => count,
        };
        if !book.bucket.try_take_n(tokens, Instant::now()) {
            done.send(Err(Refusal::Throttled));
            return;
        }
        let Some(charge) = price.times(count) else {
            done.send(Err(Refusal::NoCredit));
            return;
        };
        if book.balance < charge {
            done.send(Err(Refusal::NoCredit));
            return;
        }
        let mut numbers = Vec::with_capacity(parts.len());
        for _ in &parts {
            match kv.generate_id() {
                Ok(n) => numbers.push(n),
                Err(e) => {
                    tracing::error!(error = %e, "id generation failed");
                    done.send(Err(Refusal::Failed));
                    return;
                }
            }
        }
        let id = format_id(numbers[0]);
        book.balance = Micros(book.balance.0 - charge.0);
        let mut balance = Micros(book.balance.0 + charge.0);
        let mut msgs = Vec::with_capacity(parts.len());
        let mut writes = WriteBatch::default();
        record.parts = numbers.iter().map(|n| format_id(*n)).collect();
        writes.insert_new(keys::api_message(&id), keys::encode(&record));
        if let Some((key, body_sha256)) = remember {
            let answer = keys::IdempotentAnswer {
                body_sha256,
                id: id.clone(),
                parts: count,
                price: charge,
                created_ms: crate::domain::clock::now_ms(),
            };
            // put, not insert_new: a key past its 24 h may be used again
            writes.put(keys::idempotency(&account, &key), keys::encode(&answer));
        }
        for (NewPart { mut meta, sm, raw }, number) in parts.into_iter().zip(numbers) {
            balance = Micros(balance.0 - price.0);
            meta.id = format_id(number);
            meta.charged = price;
            if let Some(p) = meta.part_of.as_mut() {
                p.message = id.clone();
            }
            messages::accept(&mut writes, &meta, &raw);
            self.charge_in_a_row(&account, number, price, balance);
            msgs.push(Arc::new(Outbound::new(meta, sm)));
        }
        let charged = Charged {
            account,
            amount: Micros(-charge.0),
            what: Settles::Parts { msgs, done, held },
        };
        if self.charged.add(writes, Some(charged)) {
            ctx.notify(CommitCharged);
        }
        if self.charged.len() >= MAX_BATCH {
            self.commit_charged(ctx);
        }
    }

    /// An account's balance as stored (no book holds it yet); `None` if it cannot be read.
    fn stored_balance(&self, account: &str) -> Option<Micros> {
        match self.kv.get(&keys::balance(account)) {
            Ok(Some(v)) => <[u8; 8]>::try_from(v.as_slice())
                .ok()
                .map(|b| Micros(i64::from_be_bytes(b))),
            Ok(None) => Some(Micros(0)),
            Err(_) => None,
        }
    }

    fn book(&mut self, account: &str) -> Option<&mut Book> {
        let acct = self.accounts.borrow().get(account).cloned()?;
        if !self.books.contains_key(account) {
            // never guess a balance: refuse the account's traffic until it can be read
            let Some(balance) = self.stored_balance(account) else {
                tracing::error!(%account, "stored balance unreadable; submits refused");
                return None;
            };
            let gauge = metrics::gauge!("tern_account_balance", "account" => account.to_string());
            gauge.set(balance.0 as f64 / 1e6);
            self.books.insert(
                account.to_string(),
                Book {
                    balance,
                    gauge,
                    bucket: TokenBucket::new(acct.tps, Instant::now()),
                    tps: acct.tps,
                },
            );
        }
        let book = self.books.get_mut(account)?;
        if book.tps != acct.tps {
            book.bucket = TokenBucket::new(acct.tps, Instant::now());
            book.tps = acct.tps;
        }
        Some(book)
    }
}

impl Actor for Ledger {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65_536);
    }
}

impl Restart for Ledger {
    const NAME: &'static str = "ledger";

    /// Balances change only where a charge is staged or settled, both whole between
    /// handlers; a submit that was being charged is answered ESME_RSYSERR (its reply was
    /// dropped). What is staged is committed.
    fn restart(&mut self, ctx: &mut Context<Self>) {
        if !self.charged.is_empty() {
            ctx.notify(CommitCharged);
        }
    }
}

impl Handler<Accept> for Ledger {
    type Result = ();

    fn handle(&mut self, m: Accept, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            crate::failpoint::hit("ledger.accept");
            let Accept {
                mut meta,
                price,
                sm,
                raw,
                reply,
            } = m;
            let kv = this.kv.clone();
            let Some(book) = this.book(&meta.account) else {
                return reply.send(Err(Refusal::Failed));
            };
            if !book.bucket.try_take(Instant::now()) {
                return reply.send(Err(Refusal::Throttled));
            }
            let Some(charge) = price.times(meta.parts) else {
                return reply.send(Err(Refusal::NoCredit));
            };
            if book.balance < charge {
                return reply.send(Err(Refusal::NoCredit));
            }
            let n = match kv.generate_id() {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "id generation failed");
                    return reply.send(Err(Refusal::Failed));
                }
            };
            // the batch carries the balance as it stands when it is handed to the store
            book.balance = Micros(book.balance.0 - charge.0);
            let balance = book.balance;
            meta.id = format_id(n);
            meta.charged = charge;
            let mut writes = WriteBatch::default();
            messages::accept(&mut writes, &meta, &raw);
            this.charge_in_a_row(&meta.account, n, charge, balance);
            let charged = Charged {
                account: meta.account.clone(),
                amount: Micros(-charge.0),
                what: Settles::Submit {
                    msg: Arc::new(Outbound::new(meta, sm)),
                    reply,
                },
            };
            if this.charged.add(writes, Some(charged)) {
                // runs after the submits already in the mailbox: one batch for all of them
                ctx.notify(CommitCharged);
            }
            if this.charged.len() >= MAX_BATCH {
                this.commit_charged(ctx);
            }
        });
    }
}

impl Handler<AcceptParts> for Ledger {
    type Result = ();

    fn handle(&mut self, m: AcceptParts, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| this.accept_parts(m, ctx));
    }
}

impl Handler<CommitCharged> for Ledger {
    type Result = ();
    fn handle(&mut self, _: CommitCharged, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            this.commit_charged(ctx);
        });
    }
}

impl Handler<Adjust> for Ledger {
    type Result = ResponseFuture<Result<LedgerEntry, AdjustError>>;

    fn handle(&mut self, m: Adjust, ctx: &mut Context<Self>) -> Self::Result {
        let staged = guard(self, ctx, |this, ctx| this.adjust(m, ctx))
            .unwrap_or_else(|| Err(AdjustError::Store("ledger crashed".into())));
        Box::pin(async move {
            match staged {
                Ok(rx) => rx
                    .await
                    .unwrap_or_else(|_| Err(AdjustError::Store("ledger restarted".into()))),
                Err(e) => Err(e),
            }
        })
    }
}

impl Handler<Refund> for Ledger {
    type Result = ();

    fn handle(&mut self, m: Refund, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            let Refund {
                account,
                message_id,
                amount,
                mut writes,
                done,
            } = m;
            let kv = this.kv.clone();
            this.close_charges(Some(&account));
            // a deleted account's message still ends; there is no balance to give back to
            let refunded = match this.book(&account) {
                Some(book) if amount.0 > 0 => {
                    let seq = match kv.generate_id() {
                        Ok(n) => n,
                        Err(e) => {
                            let _ = done.send(Err(e.to_string()));
                            return;
                        }
                    };
                    book.balance = Micros(book.balance.0.saturating_add(amount.0));
                    let entry = LedgerEntry {
                        seq,
                        at_ms: now_ms(),
                        kind: EntryKind::Refund,
                        amount,
                        balance: book.balance,
                        message_id: Some(message_id),
                        reason: None,
                        operator: None,
                    };
                    writes.put(keys::ledger_entry(&account, seq), keys::encode(&entry));
                    amount
                }
                _ => Micros(0),
            };
            let staged = Charged {
                account,
                amount: refunded,
                what: Settles::Refund { done },
            };
            if this.charged.add(writes, Some(staged)) {
                ctx.notify(CommitCharged);
            }
        });
    }
}

impl Handler<GetBalance> for Ledger {
    type Result = Option<Micros>;
    fn handle(&mut self, m: GetBalance, ctx: &mut Context<Self>) -> Option<Micros> {
        // an account the store holds but this shard's table does not show yet (just made,
        // its table on its way) has the balance the store holds
        guard(self, ctx, |this, _| match this.book(&m.0) {
            Some(b) => Some(b.balance),
            None => this.stored_balance(&m.0),
        })
        .flatten()
    }
}

/// The ledger shards, addressed by account.
pub type LedgerShards = super::Shards<Ledger>;
