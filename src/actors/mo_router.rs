//! `MoRouter`: one per node. Takes each MO a carrier sends (a deliver_sm that is not a
//! receipt), finds the account that owns the number it was written to (`[[mo_routes]]`),
//! and stores it before the carrier is answered: the `n/<id>` record, the account's outbox
//! entry it waits in, and, when its text is an opt-out or opt-in keyword, the suppression
//! entry, all in one batch. Only once that batch is durable does the carrier get its
//! deliver_sm_resp, Delivery get the MO and the suppression list change; a batch that
//! cannot be stored is answered with an error, so the carrier sends the MO again.
//!
//! An MO no route takes is stored as `unrouted` for the operator and acknowledged (the
//! carrier must not send it again and again), counted `tern_mo_total{outcome="no_route"}`.
//!
//! Messages: [`CarrierMo`] (from a CarrierSession), `CommitMo` (to itself, once its mailbox
//! is drained: one commit for the MO that came in a row).

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;

use crate::accounts::AccountTable;
use crate::domain::clock::now_ms;
use crate::domain::message::format_id;
use crate::domain::mo::{Concat, Mo, MoRouteTable, MoState, OptChange};
use crate::store::keys::{self, Suppression};
use crate::store::kv::{Kv, WriteBatch};
use crate::suppressions::Suppressions;

use super::ReplyTo;
use super::delivery::{Delivery, NewMo};
use super::dlr_correlator::ReceiptStored;
use super::staged::Staged;
use super::store::StoreHandle;
use super::supervise::{Restart, guard};

/// An MO as a carrier session read it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CarrierMo {
    /// The carrier.
    pub carrier: String,
    /// The handset.
    pub from: String,
    /// The number it wrote to.
    pub to: String,
    /// data_coding as sent.
    pub data_coding: u8,
    /// Its place in a longer MO, if it is a part.
    pub concat: Option<Concat>,
    /// Its text, decoded (for the keywords).
    pub text: String,
    /// The deliver_sm as received.
    pub pdu: Vec<u8>,
    /// Answered once it is stored (or not).
    pub ack: ReplyTo<ReceiptStored>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct CommitMo;

/// What one stored MO is owed once its batch is durable.
struct Stored {
    mo: Mo,
    ack: ReplyTo<ReceiptStored>,
}

/// The MO router (one per node).
pub struct MoRouter {
    kv: Arc<dyn Kv>,
    store: StoreHandle,
    routes: watch::Receiver<Arc<MoRouteTable>>,
    accounts: watch::Receiver<Arc<AccountTable>>,
    suppressions: Arc<Suppressions>,
    delivery: Addr<Delivery>,
    receipt_ttl_ms: u64,
    staged: Staged<Stored>,
}

impl MoRouter {
    /// The router over the node's store and tables.
    pub fn new(
        kv: Arc<dyn Kv>,
        store: StoreHandle,
        routes: watch::Receiver<Arc<MoRouteTable>>,
        accounts: watch::Receiver<Arc<AccountTable>>,
        suppressions: Arc<Suppressions>,
        delivery: Addr<Delivery>,
        receipt_ttl_ms: u64,
    ) -> Self {
        MoRouter {
            kv,
            store,
            routes,
            accounts,
            suppressions,
            delivery,
            receipt_ttl_ms,
            staged: Staged::default(),
        }
    }

    /// Routes and stages one MO; `None` when no id could be had (the carrier sends it again).
    fn stage(&mut self, m: CarrierMo) -> Option<(WriteBatch, Stored)> {
        let id = match self.kv.generate_id() {
            Ok(n) => format_id(n),
            Err(e) => {
                tracing::warn!(error = %e, "MO not stored: no id; the carrier will send it again");
                return None;
            }
        };
        // an account deleted since the route was written owns nothing any more
        let account = self
            .routes
            .borrow()
            .lookup(&m.to)
            .filter(|a| self.accounts.borrow().contains_key(*a))
            .map(str::to_string);
        // a keyword is a whole message: never a part of a longer one; and only between
        // numbers a suppression entry can name
        let opt = account
            .as_ref()
            .filter(|_| m.concat.is_none())
            .filter(|_| suppressible(&m.from) && suppressible(&m.to))
            .and_then(|a| {
                let accounts = self.accounts.borrow();
                accounts.get(a).and_then(|a| a.keywords.classify(&m.text))
            });
        let now = now_ms();
        let mo = Mo {
            id: id.clone(),
            carrier: m.carrier,
            account: account.clone(),
            from: m.from,
            to: m.to,
            data_coding: m.data_coding,
            concat: m.concat,
            opt,
            pdu: m.pdu,
            received_ms: now,
            expires_ms: now.saturating_add(self.receipt_ttl_ms),
            state: if account.is_some() {
                MoState::Queued
            } else {
                MoState::Unrouted
            },
        };
        let mut b = WriteBatch::default();
        crate::store::mo::accept(&mut b, &mo);
        if let Some(account) = &account {
            let key = crate::suppressions::key(account, &mo.from, &mo.to);
            match opt {
                Some(OptChange::OptOut) => b.put(
                    key,
                    keys::encode(&Suppression {
                        account: account.clone(),
                        handset: crate::domain::mo::number(&mo.from).to_string(),
                        number: crate::domain::mo::number(&mo.to).to_string(),
                        since_ms: now,
                        source: "mo".into(),
                    }),
                ),
                Some(OptChange::OptIn) => b.del(key),
                None => {}
            }
        }
        Some((b, Stored { mo, ack: m.ack }))
    }

    fn commit(&mut self, ctx: &mut Context<Self>) {
        let Some((batch, stored)) = self.staged.take() else {
            return;
        };
        let commit = self.store.commit(batch);
        ctx.spawn(commit.into_actor(self).map(move |res, act, _| {
            let ok = res.is_ok();
            if let Err(e) = &res {
                tracing::warn!(count = stored.len(), error = %e, "MO not stored; the carrier will send them again");
            }
            for Stored { mo, ack } in stored {
                if !ok {
                    ack.send(ReceiptStored::No);
                    continue;
                }
                ack.send(ReceiptStored::Yes);
                act.stored(mo);
            }
        }));
    }

    /// An MO is durable: count it, apply its keyword, hand it to Delivery.
    fn stored(&self, mo: Mo) {
        let Some(account) = mo.account.clone() else {
            tracing::info!(id = %mo.id, carrier = %mo.carrier, "MO with no route stored");
            metrics::counter!("tern_mo_total", "outcome" => "no_route").increment(1);
            return;
        };
        metrics::counter!("tern_mo_total", "outcome" => "received").increment(1);
        if let Some(change) = mo.opt {
            self.suppressions
                .refresh(&*self.kv, &account, &mo.from, &mo.to);
            tracing::info!(id = %mo.id, %account, ?change, "keyword MO changed the suppression list");
        }
        self.delivery.do_send(NewMo(Box::new(mo)));
    }
}

/// Whether a number can be a suppression entry's: what the admin API takes too.
fn suppressible(n: &str) -> bool {
    crate::suppressions::valid_number(n)
}

impl Actor for MoRouter {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65_536);
    }
}

impl Restart for MoRouter {
    const NAME: &'static str = "mo_router";

    /// What was staged goes to the store as it would have.
    fn restart(&mut self, ctx: &mut Context<Self>) {
        if !self.staged.is_empty() {
            ctx.notify(CommitMo);
        }
    }
}

impl Handler<CarrierMo> for MoRouter {
    type Result = ();
    fn handle(&mut self, m: CarrierMo, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            crate::failpoint::hit("mo.route");
            let Some((b, stored)) = this.stage(m) else {
                return;
            };
            if this.staged.add(b, Some(stored)) {
                ctx.notify(CommitMo);
            }
        });
    }
}

impl Handler<CommitMo> for MoRouter {
    type Result = ();
    fn handle(&mut self, _: CommitMo, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| this.commit(ctx));
    }
}
