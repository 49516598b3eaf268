//! The moving parts of the switch, one actor kind per file (DESIGN.md "Actors").
//! Actors are thin: they own state and pass the typed messages defined next to them; the
//! rules they apply live in `domain`.

pub mod carrier;
pub mod carrier_session;
pub mod delivery;
pub mod dlr_correlator;
pub mod early_receipts;
pub mod esme_session;
pub mod ledger;
pub mod mo_router;
pub mod router;
pub mod staged;
pub mod store;
pub mod supervise;
pub mod webhooks;

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use actix::prelude::*;

use crate::domain::dlr::Stat;
use crate::domain::message::{MessageMeta, MessageState};
use crate::store::keys::{self, OutboxReceipt};
use crate::store::kv::WriteBatch;
use crate::store::messages;
use crate::store::record;

/// A hash map on the message path. foldhash, randomly seeded, costs a fraction of std's
/// SipHash on the short ids these maps hold (tern's own ids and sequence numbers, and the
/// ids of carriers tern is bound to), and tens of these lookups are made per message.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
/// A hash set on the message path (see [`FastMap`]).
pub type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// An answer delivered to the asking actor's mailbox, tagged with what the asker needs to
/// know which request it answers.
///
/// Actors answer requests that wait on the store this way rather than by returning a
/// future: every future spawned on an actix context is polled again on each wake of that
/// actor, so one future per message in flight makes each message cost as much as the
/// number of messages waiting. A mailbox message costs the same however many wait.
pub struct Answer<T> {
    /// The asker's tag, as given in its [`ReplyTo`].
    pub tag: u64,
    /// The answer.
    pub value: T,
}

impl<T: Send + 'static> Message for Answer<T> {
    type Result = ();
}

/// The answer a request gets when whoever held it dropped it unanswered (the actor
/// stopped or panicked): an asker is never left waiting.
pub trait Unanswered {
    /// That answer.
    fn unanswered() -> Self;
}

/// Where the answer to one request goes: an actor's mailbox and the tag it chose. Dropped
/// without [`ReplyTo::send`], it answers [`Unanswered::unanswered`].
pub struct ReplyTo<T: Unanswered + Send + 'static> {
    to: Option<Recipient<Answer<T>>>,
    tag: u64,
}

impl<T: Unanswered + Send + 'static> ReplyTo<T> {
    /// Answers go to `to`, carrying `tag`.
    pub fn new(to: Recipient<Answer<T>>, tag: u64) -> Self {
        ReplyTo { to: Some(to), tag }
    }

    /// Nobody waits for the answer (a request not yet sent).
    pub fn nobody() -> Self {
        ReplyTo { to: None, tag: 0 }
    }

    /// Sends the answer (dropped if the asker has stopped: it no longer waits for it).
    pub fn send(mut self, value: T) {
        self.answer(value);
    }

    fn answer(&mut self, value: T) {
        if let Some(to) = self.to.take() {
            to.do_send(Answer {
                tag: self.tag,
                value,
            });
        }
    }
}

impl<T: Unanswered + Send + 'static> Drop for ReplyTo<T> {
    fn drop(&mut self) {
        if self.to.is_some() {
            self.answer(T::unanswered());
        }
    }
}

/// An actor kind run as shards, each owning the keys that hash to it (destinations,
/// accounts, carrier message ids).
pub struct Shards<A: Actor>(Arc<[Addr<A>]>);

impl<A: Actor> Clone for Shards<A> {
    fn clone(&self) -> Self {
        Shards(self.0.clone())
    }
}

impl<A: Actor<Context = Context<A>> + Send> Shards<A> {
    /// Starts `n` shards, shard `i` built by `make(i)` and run on `arbiters[i % len]`.
    pub fn start(
        arbiters: &[actix::dev::ArbiterHandle],
        n: usize,
        mut make: impl FnMut(usize) -> A,
    ) -> Self {
        let addrs: Vec<Addr<A>> = (0..n)
            .map(|i| {
                let act = make(i);
                A::start_in_arbiter(&arbiters[i % arbiters.len()], move |_| act)
            })
            .collect();
        Shards(addrs.into())
    }
}

impl<A: Actor> Shards<A> {
    /// The shard that owns `key`.
    pub fn for_key(&self, key: &str) -> &Addr<A> {
        &self.0[shard_of(key, self.0.len())]
    }

    /// Every shard.
    pub fn all(&self) -> &[Addr<A>] {
        &self.0
    }
}

/// Which of `n` shards owns `key`.
pub fn shard_of(key: &str, n: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % n.max(1) as u64) as usize
}

/// What is owed to the account once a message's end is stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// A receipt for its ESME (in the outbox).
    Receipt(OutboxReceipt),
    /// A part of a message sent over the customer API ended: its webhook may be due.
    Webhook(delivery::PartEnded),
}

impl Due {
    /// Hands it to Delivery (which sends receipts to binds and webhooks to their URLs).
    pub fn send(self, delivery: &Addr<delivery::Delivery>) {
        match self {
            Due::Receipt(r) => delivery.do_send(delivery::NewReceipt(r)),
            Due::Webhook(p) => delivery.do_send(p),
        }
    }
}

/// Whether an ESME that submitted with `registered_delivery` wants a receipt for a message
/// that ended `stat` (bits 1..0: 01 always, 10 on failure only).
pub fn receipt_wanted(registered_delivery: u8, stat: Stat) -> bool {
    match registered_delivery & 0x03 {
        0x01 => true,
        0x02 => stat != Stat::Delivrd,
        _ => false,
    }
}

/// The receipt of message `meta` (its ESME's addresses turned round) that ended `stat` at
/// `done_ms`, kept in the outbox until `expires_ms`.
pub fn receipt_for(
    meta: &MessageMeta,
    stat: Stat,
    err: &str,
    done_ms: u64,
    expires_ms: u64,
) -> OutboxReceipt {
    OutboxReceipt {
        id: meta.id.clone(),
        account: meta.account.clone(),
        from: meta.dest.clone(),
        to: meta.source.clone(),
        to_ton: meta.source_ton,
        to_npi: meta.source_npi,
        stat,
        err: err.to_string(),
        submit_ms: meta.accepted_ms,
        done_ms,
        expires_ms,
    }
}

/// The writes that end a message with `stat`, and what is owed to its account then: the
/// receipt the ESME asked for, or, for a message sent over the customer API, its webhook
/// marker (`w/`, in the same batch, so a restart still sends it).
pub fn finalize(
    meta: &MessageMeta,
    stat: Stat,
    err: &str,
    now_ms: u64,
    receipt_ttl_ms: u64,
) -> (WriteBatch, Option<Due>) {
    let mut b = WriteBatch::default();
    messages::set_state(
        &mut b,
        &meta.id,
        &MessageState::Final {
            stat,
            err: err.to_string(),
        },
        now_ms,
    );
    let receipt = receipt_wanted(meta.registered_delivery, stat).then(|| {
        receipt_for(
            meta,
            stat,
            err,
            now_ms,
            now_ms.saturating_add(receipt_ttl_ms),
        )
    });
    if let Some(r) = &receipt {
        // one receipt per message id: a receipt the ESME takes before the next checkpoint
        // never reaches sled
        b.insert_new(keys::outbox(&r.account, &r.id), record::encode_outbox(r));
    }
    if let Some(p) = &meta.part_of {
        b.insert_new(
            keys::webhook_due(&p.message, &meta.id),
            meta.account.as_bytes().to_vec(),
        );
        return (
            b,
            Some(Due::Webhook(delivery::PartEnded {
                message: p.message.clone(),
                part: meta.id.clone(),
                account: meta.account.clone(),
            })),
        );
    }
    (b, receipt.map(Due::Receipt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Micros;

    fn meta(rd: u8) -> MessageMeta {
        MessageMeta {
            id: "1".into(),
            account: "a".into(),
            source: "S".into(),
            source_ton: 5,
            source_npi: 0,
            dest: "49".into(),
            registered_delivery: rd,
            parts: 1,
            charged: Micros(1),
            accepted_ms: 10,
            expires_ms: None,
            part_of: None,
        }
    }

    #[test]
    fn receipts_only_when_asked() {
        assert!(
            finalize(&meta(0), Stat::Delivrd, "000", 20, 1000)
                .1
                .is_none()
        );
        assert!(
            finalize(&meta(1), Stat::Delivrd, "000", 20, 1000)
                .1
                .is_some()
        );
        assert!(
            finalize(&meta(2), Stat::Delivrd, "000", 20, 1000)
                .1
                .is_none()
        );
        let (b, r) = finalize(&meta(2), Stat::Undeliv, "001", 20, 1000);
        let Some(Due::Receipt(r)) = r else {
            panic!("a receipt is due: {r:?}")
        };
        assert_eq!(
            (r.from.as_str(), r.to.as_str(), r.expires_ms),
            ("49", "S", 1020)
        );
        assert_eq!(b.ops.len(), 3, "history, pending removal, outbox");
    }

    #[test]
    fn a_customer_api_part_owes_a_webhook_marker_not_a_receipt() {
        let mut m = meta(0);
        m.part_of = Some(crate::domain::message::PartOf {
            message: "0".into(),
            seq: 2,
            total: 2,
        });
        let (b, due) = finalize(&m, Stat::Delivrd, "000", 20, 1000);
        assert_eq!(
            due,
            Some(Due::Webhook(delivery::PartEnded {
                message: "0".into(),
                part: "1".into(),
                account: "a".into()
            }))
        );
        let marker = format!("{:?}", keys::webhook_due("0", "1"));
        assert!(
            b.ops.iter().any(|op| format!("{op:?}").contains(&marker)),
            "the marker goes with the end: {:?}",
            b.ops
        );
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        for k in ["a", "b", "491701234567"] {
            assert_eq!(shard_of(k, 4), shard_of(k, 4));
            assert!(shard_of(k, 4) < 4);
        }
        assert_eq!(shard_of("x", 0), 0);
    }
}
