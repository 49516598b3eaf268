//! `Ledger`: one per shard of accounts (hash of system_id). Owns balances and each
//! account's TPS bucket. A submit is charged and stored in one store batch (message record,
//! state and the new balance together), so balances and messages always agree after a crash.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use rusmpp::pdus::SubmitSm;
use tokio::sync::watch;

use crate::accounts::AccountTable;
use crate::domain::message::{MessageMeta, format_id};
use crate::domain::money::Micros;
use crate::domain::throttle::TokenBucket;
use crate::store::keys;
use crate::store::kv::{Kv, WriteBatch};

use super::FastMap;
use super::router::{Outbound, RouteMessage, RouterShards};
use super::store::{CommitError, StoreHandle};

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

/// Charge and store a new message. `meta.id` is filled in by the Ledger.
#[derive(Message)]
#[rtype(result = "Result<String, Refusal>")]
pub struct Accept {
    /// What is known about the message (id empty).
    pub meta: MessageMeta,
    /// Price per part.
    pub price: Micros,
    /// The decoded submit_sm (forwarded to the carrier).
    pub sm: SubmitSm,
    /// The raw submit_sm PDU as received (stored).
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

/// A ledger shard.
pub struct Ledger {
    kv: Arc<dyn Kv>,
    store: StoreHandle,
    routers: RouterShards,
    accounts: watch::Receiver<Arc<AccountTable>>,
    books: FastMap<String, Book>,
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
        }
    }

    fn book(&mut self, account: &str) -> Option<&mut Book> {
        let acct = self.accounts.borrow().get(account).cloned()?;
        if !self.books.contains_key(account) {
            let balance = match self.kv.get(&keys::balance(account)) {
                Ok(Some(v)) if v.len() == 8 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&v);
                    Micros(i64::from_be_bytes(b))
                }
                Ok(None) => acct.opening_balance,
                // never guess a balance: refuse the account's traffic until it can be read
                Ok(Some(_)) | Err(_) => {
                    tracing::error!(%account, "stored balance unreadable; submits refused");
                    return None;
                }
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
}

impl Handler<Accept> for Ledger {
    type Result = ResponseActFuture<Self, Result<String, Refusal>>;

    fn handle(&mut self, m: Accept, _ctx: &mut Context<Self>) -> Self::Result {
        let Accept {
            mut meta,
            price,
            sm,
            raw,
        } = m;
        let account = meta.account.clone();
        let kv = self.kv.clone();
        let Some(book) = self.book(&account) else {
            return Box::pin(fut::ready(Err(Refusal::Failed)));
        };
        if !book.bucket.try_take(Instant::now()) {
            return Box::pin(fut::ready(Err(Refusal::Throttled)));
        }
        let Some(charge) = price.times(meta.parts) else {
            return Box::pin(fut::ready(Err(Refusal::NoCredit)));
        };
        if book.balance < charge {
            return Box::pin(fut::ready(Err(Refusal::NoCredit)));
        }
        let id = match kv.generate_id() {
            Ok(n) => format_id(n),
            Err(e) => {
                tracing::error!(error = %e, "id generation failed");
                return Box::pin(fut::ready(Err(Refusal::Failed)));
            }
        };
        let balance = Micros(book.balance.0 - charge.0);
        meta.id = id.clone();
        meta.charged = charge;
        let mut batch = WriteBatch::default();
        keys::accept(&mut batch, &meta, &raw);
        batch.put(keys::balance(&account), balance.0.to_be_bytes().to_vec());
        // Batches reach the store in the order they are queued here, each carrying the
        // absolute balance; the in-memory balance moves only once the batch is queued.
        let commit = match self.store.try_commit(batch) {
            Ok(c) => c,
            Err(CommitError::Full) => return Box::pin(fut::ready(Err(Refusal::QueueFull))),
            Err(CommitError::Failed(_)) => return Box::pin(fut::ready(Err(Refusal::Failed))),
        };
        if let Some(b) = self.books.get_mut(&account) {
            b.balance = balance;
        }
        let out = Arc::new(Outbound { meta, sm });
        Box::pin(commit.into_actor(self).map(move |res, act, _ctx| match res {
            Ok(()) => {
                if let Some(b) = act.books.get(&account) {
                    b.gauge.set(balance.0 as f64 / 1e6);
                }
                act.routers.route(RouteMessage { msg: out, attempt: 0 });
                Ok(id)
            }
            Err(e) => {
                // Not acknowledged. Give the money back and write the corrected balance, so
                // the stored balance matches the stored messages again.
                tracing::error!(%id, error = %e, "submit not stored; charge refunded");
                if let Some(b) = act.books.get_mut(&account) {
                    b.balance = Micros(b.balance.0 + charge.0);
                    let mut fix = WriteBatch::default();
                    fix.put(keys::balance(&account), b.balance.0.to_be_bytes().to_vec());
                    let c = act.store.commit(fix);
                    actix::spawn(async move {
                        if let Err(e) = c.await {
                            tracing::error!(error = %e, "could not store corrected balance");
                        }
                    });
                }
                match e {
                    CommitError::Full => Err(Refusal::QueueFull),
                    CommitError::Failed(_) => Err(Refusal::Failed),
                }
            }
        }))
    }
}

impl Handler<GetBalance> for Ledger {
    type Result = Option<Micros>;
    fn handle(&mut self, m: GetBalance, _: &mut Context<Self>) -> Option<Micros> {
        self.book(&m.0).map(|b| b.balance)
    }
}

/// The ledger shards, addressed by account.
#[derive(Clone)]
pub struct LedgerShards(pub Arc<[Addr<Ledger>]>);

impl LedgerShards {
    /// The shard that owns `account`.
    pub fn for_account(&self, account: &str) -> &Addr<Ledger> {
        &self.0[super::shard_of(account, self.0.len())]
    }
}
