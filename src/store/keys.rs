//! The on-disk layout: one sled tree, keys prefixed by what they hold.
//!
//! | key | value | written by |
//! |---|---|---|
//! | `m/<id>` | [`MessageMeta`] + the ESME's submit_sm PDU | Ledger, with the charge |
//! | `h/<id>/<ms><seq>` | one history [`Event`] after acceptance; the last is the state | Correlator / Router |
//! | `p/<id>` | empty: the message is not final (resumed on start) | Ledger / Correlator |
//! | `b/<account>` | balance, i64 big-endian micro-units | Ledger, with each charge |
//! | `c/<carrier>/<carrier id>` | tern id | DlrCorrelator |
//! | `e/<carrier>/<carrier id>` | an early receipt waiting for its submit_sm_resp | DlrCorrelator |
//! | `o/<account>/<id>` | a receipt waiting for the ESME ([`OutboxReceipt`]) | DlrCorrelator / Router |
//!
//! Charge and message go in one batch, so after any crash balances and messages agree.
//!
//! Every key written is paid for in sled (a log record, a leaf copy), so a message costs as
//! few as tern can make it: acceptance is implied by `m/` (no `Accepted` event is stored) and
//! the current state is the last `h/` event, not a key of its own. A message with a receipt
//! makes nine writes in its life: `m/ p/ b/` at acceptance, `c/ h/` when a carrier takes it,
//! `h/`, `p/` removed and `o/` at its receipt, `o/` removed once the ESME has it.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::domain::dlr::Stat;
use crate::domain::message::{Event, MessageMeta, MessageState};

use super::kv::{Kv, StoreError, WriteBatch};

/// Message record key.
pub fn message(id: &str) -> Vec<u8> {
    format!("m/{id}").into_bytes()
}
/// Pending marker key.
pub fn pending(id: &str) -> Vec<u8> {
    format!("p/{id}").into_bytes()
}
/// Prefix of every pending marker.
pub const PENDING_PREFIX: &[u8] = b"p/";
/// Balance key.
pub fn balance(account: &str) -> Vec<u8> {
    format!("b/{account}").into_bytes()
}
/// Carrier id → tern id key.
pub fn correlation(carrier: &str, carrier_id: &str) -> Vec<u8> {
    format!("c/{carrier}/{carrier_id}").into_bytes()
}
/// Early receipt key.
pub fn early(carrier: &str, carrier_id: &str) -> Vec<u8> {
    format!("e/{carrier}/{carrier_id}").into_bytes()
}
/// Prefix of every early receipt.
pub const EARLY_PREFIX: &[u8] = b"e/";
/// Outbox key.
pub fn outbox(account: &str, id: &str) -> Vec<u8> {
    format!("o/{account}/{id}").into_bytes()
}
/// Prefix of an account's outbox.
pub fn outbox_prefix(account: &str) -> Vec<u8> {
    format!("o/{account}/").into_bytes()
}
/// Prefix of a message's history.
pub fn history_prefix(id: &str) -> Vec<u8> {
    format!("h/{id}/").into_bytes()
}

static HISTORY_SEQ: AtomicU64 = AtomicU64::new(0);

fn history(id: &str, at_ms: u64) -> Vec<u8> {
    let n = HISTORY_SEQ.fetch_add(1, Ordering::Relaxed);
    let mut k = history_prefix(id);
    k.extend_from_slice(&at_ms.to_be_bytes());
    k.extend_from_slice(&n.to_be_bytes());
    k
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain structs (strings, integers, enums) to JSON cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// Adds the writes that accept message `meta`: its record and its pending marker.
pub fn accept(b: &mut WriteBatch, meta: &MessageMeta, pdu: &[u8]) {
    b.put(message(&meta.id), encode_message(meta, pdu));
    b.put(pending(&meta.id), Vec::new());
}

/// Adds "message `id` is now in `state_now`" to a batch: a history event, and the pending
/// marker's removal once the state is final. (`Accepted` is never recorded: [`accept`] is.)
pub fn set_state(b: &mut WriteBatch, id: &str, state_now: &MessageState, at_ms: u64) {
    b.put(
        history(id, at_ms),
        json(&Event {
            at_ms,
            state: state_now.clone(),
        }),
    );
    if state_now.is_final() {
        b.del(pending(id));
    }
}

/// Message `id`'s current state: its last history event, or `Accepted` when it has none.
pub fn state_of(kv: &dyn Kv, id: &str) -> Result<MessageState, StoreError> {
    match kv.last_with_prefix(&history_prefix(id))? {
        Some((_, v)) => Ok(decode_event(&v)?.state),
        None => Ok(MessageState::Accepted),
    }
}

/// Message `meta`'s whole history, oldest first, its acceptance included.
pub fn history_of(kv: &dyn Kv, meta: &MessageMeta) -> Result<Vec<Event>, StoreError> {
    let mut out = vec![Event {
        at_ms: meta.accepted_ms,
        state: MessageState::Accepted,
    }];
    for row in kv.scan_prefix(&history_prefix(&meta.id)) {
        out.push(decode_event(&row?.1)?);
    }
    Ok(out)
}

/// Encodes a message record: meta length (u32 BE), meta JSON, then the raw submit_sm PDU.
pub fn encode_message(meta: &MessageMeta, pdu: &[u8]) -> Vec<u8> {
    let m = json(meta);
    let mut v = Vec::with_capacity(4 + m.len() + pdu.len());
    v.extend_from_slice(&(m.len() as u32).to_be_bytes());
    v.extend_from_slice(&m);
    v.extend_from_slice(pdu);
    v
}

/// Decodes a message record into its meta and raw PDU.
pub fn decode_message(v: &[u8]) -> Result<(MessageMeta, Vec<u8>), StoreError> {
    let bad = || StoreError("corrupt message record".into());
    let len =
        u32::from_be_bytes(v.get(..4).ok_or_else(bad)?.try_into().map_err(|_| bad())?) as usize;
    let meta_bytes = v.get(4..4 + len).ok_or_else(bad)?;
    let meta = serde_json::from_slice(meta_bytes).map_err(|e| StoreError(e.to_string()))?;
    Ok((meta, v[4 + len..].to_vec()))
}

/// Decodes a stored history event.
pub fn decode_event(v: &[u8]) -> Result<Event, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError(e.to_string()))
}

/// A receipt on its way to the ESME, kept until an RX/TRX bind takes it or it expires.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutboxReceipt {
    /// tern's message id.
    pub id: String,
    /// The account to deliver to.
    pub account: String,
    /// The message's destination (the receipt's source).
    pub from: String,
    /// The message's source (the receipt's destination).
    pub to: String,
    /// Its TON.
    pub to_ton: u8,
    /// Its NPI.
    pub to_npi: u8,
    /// Final state.
    pub stat: Stat,
    /// Error code.
    pub err: String,
    /// Acceptance time, Unix ms.
    pub submit_ms: u64,
    /// Final time, Unix ms.
    pub done_ms: u64,
    /// Dropped after this, Unix ms.
    pub expires_ms: u64,
}

/// An early receipt: arrived before the carrier's submit_sm_resp told tern its id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EarlyReceipt {
    /// Reported state.
    pub stat: Stat,
    /// Error code.
    pub err: String,
    /// Arrival, Unix ms.
    pub at_ms: u64,
}

/// Encodes any record as JSON.
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    json(v)
}

/// Decodes any JSON record.
pub fn decode<T: for<'de> Deserialize<'de>>(v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Micros;

    #[test]
    fn message_record_round_trips() {
        let meta = MessageMeta {
            id: "00000000000000ff".into(),
            account: "demo".into(),
            source: "ACME".into(),
            source_ton: 5,
            source_npi: 0,
            dest: "491701234567".into(),
            registered_delivery: 1,
            parts: 2,
            charged: Micros(20_000),
            accepted_ms: 1,
        };
        let v = encode_message(&meta, &[1, 2, 3]);
        let (m, pdu) = decode_message(&v).unwrap();
        assert_eq!(m.id, meta.id);
        assert_eq!(m.charged, Micros(20_000));
        assert_eq!(pdu, vec![1, 2, 3]);
        assert!(decode_message(&v[..3]).is_err());
        assert!(decode_message(&[0, 0, 0, 99, b'{']).is_err());
    }

    #[test]
    fn final_state_clears_the_pending_marker() {
        let mut b = WriteBatch::default();
        let submitted = MessageState::Submitted {
            carrier: "c".into(),
            carrier_id: "1".into(),
        };
        set_state(&mut b, "x", &submitted, 1);
        assert_eq!(
            b.ops.len(),
            1,
            "a submit keeps the marker and adds one event"
        );
        let mut b = WriteBatch::default();
        set_state(
            &mut b,
            "x",
            &MessageState::Final {
                stat: Stat::Delivrd,
                err: "000".into(),
            },
            2,
        );
        assert!(matches!(&b.ops[1], super::super::kv::Op::Del(k) if k == b"p/x"));
    }

    #[test]
    fn the_last_event_is_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let kv = super::super::kv::SledKv::open(dir.path()).unwrap();
        let meta = MessageMeta {
            id: "0000000000000001".into(),
            account: "demo".into(),
            source: "ACME".into(),
            source_ton: 5,
            source_npi: 0,
            dest: "491701234567".into(),
            registered_delivery: 1,
            parts: 1,
            charged: Micros(1),
            accepted_ms: 5,
        };
        let mut b = WriteBatch::default();
        accept(&mut b, &meta, &[0]);
        kv.apply(b).unwrap();
        assert_eq!(state_of(&kv, &meta.id).unwrap(), MessageState::Accepted);
        let submitted = MessageState::Submitted {
            carrier: "c".into(),
            carrier_id: "9".into(),
        };
        let fin = MessageState::Final {
            stat: Stat::Delivrd,
            err: "000".into(),
        };
        let mut b = WriteBatch::default();
        set_state(&mut b, &meta.id, &submitted, 6);
        kv.apply(b).unwrap();
        // a different id sharing the prefix must not leak into this one's state
        let mut b = WriteBatch::default();
        set_state(&mut b, "00000000000000010", &fin, 7);
        kv.apply(b).unwrap();
        assert_eq!(state_of(&kv, &meta.id).unwrap(), submitted);
        let mut b = WriteBatch::default();
        set_state(&mut b, &meta.id, &fin, 8);
        kv.apply(b).unwrap();
        assert_eq!(state_of(&kv, &meta.id).unwrap(), fin);
        let h = history_of(&kv, &meta).unwrap();
        let states: Vec<_> = h.iter().map(|e| e.state.clone()).collect();
        assert_eq!(states, vec![MessageState::Accepted, submitted, fin]);
        assert!(kv.get(&pending(&meta.id)).unwrap().is_none());
    }
}
