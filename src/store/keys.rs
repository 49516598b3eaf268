//! The on-disk layout: one sled tree, keys prefixed by what they hold.
//!
//! | key | value | written by |
//! |---|---|---|
//! | `m/<id>` | [`MessageMeta`], then each [`Event`] after acceptance, appended; the last is the state (binary: [`super::record`]) | Ledger, with the charge; then Correlator / Router |
//! | `p/<id>` | the message is not final; until a carrier takes it, the ESME's submit_sm PDU as received (resumed on start) | Ledger / Correlator |
//! | `b/<account>` | balance, i64 big-endian micro-units | Ledger, with each charge |
//! | `c/<carrier>/<carrier id>` | tern id, while the message waits for its receipt | DlrCorrelator |
//! | `e/<carrier>/<carrier id>` | an early receipt waiting for its submit_sm_resp | DlrCorrelator |
//! | `o/<account>/<id>` | a receipt waiting for the ESME ([`OutboxReceipt`], binary: [`super::record`]) | DlrCorrelator / Router |
//!
//! Charge and message go in one batch, so after any crash balances and messages agree.
//!
//! Every key that reaches sled is paid for (a log record, a leaf copy), so a message touches
//! as few as tern can make it: acceptance is implied by `m/` (no `Accepted` event is stored),
//! later events are appended to `m/` itself ([`Op::Append`](super::kv::Op::Append)) rather
//! than kept under keys of their own, and the engine's checkpoints coalesce the rest. A
//! message whose receipt comes within a few seconds reaches sled as `m/` only: its PDU
//! (needed only until it is final) under `p/`, its carrier id mapping under `c/` and its
//! receipt under `o/` are removed again before the engine would write them.

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
/// Carrier id → tern id key: written when the carrier accepts the message, removed when
/// its final receipt comes (duplicates of that receipt are caught in memory by the
/// correlator, and a later one is held as an unmatched receipt and dropped in time).
/// A carrier id names one message (SMPP requires it); a carrier that gives an id again while
/// the correlator no longer remembers the first message, which still waits for its
/// receipt, leaves the two ambiguous: after the second ends, a receipt with that id may
/// end the first.
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
/// Key ranges whose new, young keys the engine's checkpoints keep out of sled (carried
/// into the next memtable, for at most a few seconds): carrier id mappings, pending
/// markers and outbox receipts, which are removed soon, usually before they would have
/// been worth a write and a removal.
/// Message records are not held: they are the bulk of what is written, and most are final
/// before their first checkpoint anyway.
/// In key order.
pub const HELD_PREFIXES: &[&[u8]] = &[b"c/", b"o/", PENDING_PREFIX];

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain structs (strings, integers, enums) to JSON cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// Adds the writes that accept message `meta`: its record, and its pending marker holding
/// the submit_sm PDU (all a restart needs to send it on).
pub fn accept(b: &mut WriteBatch, meta: &MessageMeta, pdu: &[u8]) {
    // ids are never reused, so both keys are new: a marker removed before the next
    // checkpoint never reaches sled
    b.insert_new(message(&meta.id), encode_message(meta));
    b.insert_new(pending(&meta.id), pdu.to_vec());
}

/// Adds "message `id` is now in `state_now`" to a batch: an event appended to its record;
/// once submitted, the PDU dropped from the pending marker; once final, the marker
/// removed. (`Accepted` is never recorded: [`accept`] is.)
pub fn set_state(b: &mut WriteBatch, id: &str, state_now: &MessageState, at_ms: u64) {
    let ev = super::record::encode_event(&Event {
        at_ms,
        state: state_now.clone(),
    });
    let mut v = Vec::with_capacity(4 + ev.len());
    v.extend_from_slice(&(ev.len() as u32).to_be_bytes());
    v.extend_from_slice(&ev);
    b.append(message(id), v);
    match state_now {
        MessageState::Final { .. } => b.del(pending(id)),
        // a carrier has it: a restart waits for its receipt and never sends it again, so
        // the PDU the marker held is not needed any more (the marker stays: it says the
        // message is not final)
        MessageState::Submitted { .. } => b.put(pending(id), Vec::new()),
        MessageState::Accepted => {}
    }
}

/// A message record as stored: what was accepted and what happened since.
#[derive(Debug, Clone)]
pub struct MessageRecord {
    /// What was accepted.
    pub meta: MessageMeta,
    /// The ESME's submit_sm PDU as received, in records written before the PDU moved to
    /// the pending marker; empty in newer ones.
    pub pdu: Vec<u8>,
    /// Every event after acceptance, oldest first.
    pub events: Vec<Event>,
}

impl MessageRecord {
    /// The current state: the last event, or `Accepted`.
    pub fn state(&self) -> MessageState {
        self.events
            .last()
            .map_or(MessageState::Accepted, |e| e.state.clone())
    }

    /// The whole history, oldest first, acceptance included.
    pub fn history(&self) -> Vec<Event> {
        let mut out = Vec::with_capacity(self.events.len() + 1);
        out.push(Event {
            at_ms: self.meta.accepted_ms,
            state: MessageState::Accepted,
        });
        out.extend(self.events.iter().cloned());
        out
    }
}

/// Encodes a message record at acceptance: the binary meta ([`super::record`]). Events are
/// appended later, each length-prefixed (u32 BE).
///
/// Records written before this form began with the meta's length (u32 BE), the meta as
/// JSON, the PDU's length and the PDU; [`decode_record`] reads both.
pub fn encode_message(meta: &MessageMeta) -> Vec<u8> {
    let mut v = Vec::with_capacity(96);
    super::record::encode_meta(meta, &mut v);
    v
}

/// Splits off one length-prefixed field.
fn field<'a>(v: &mut &'a [u8]) -> Result<&'a [u8], StoreError> {
    let bad = || StoreError("corrupt message record".into());
    let (len, rest) = v.split_at_checked(4).ok_or_else(bad)?;
    let len = u32::from_be_bytes(len.try_into().map_err(|_| bad())?) as usize;
    let (f, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
    *v = rest;
    Ok(f)
}

/// Decodes a whole message record.
pub fn decode_record(mut v: &[u8]) -> Result<MessageRecord, StoreError> {
    let (meta, pdu) = match v.split_first() {
        Some((&f @ (super::record::FORMAT | super::record::FORMAT_EXPIRY), rest)) => {
            let (meta, rest) = super::record::decode_meta(f, rest)?;
            v = rest;
            (meta, Vec::new())
        }
        _ => {
            let meta =
                serde_json::from_slice(field(&mut v)?).map_err(|e| StoreError(e.to_string()))?;
            (meta, field(&mut v)?.to_vec())
        }
    };
    let mut events = Vec::new();
    while !v.is_empty() {
        events.push(decode_event(field(&mut v)?)?);
    }
    Ok(MessageRecord { meta, pdu, events })
}

/// Message `id`'s record.
pub fn record_of(kv: &dyn Kv, id: &str) -> Result<Option<MessageRecord>, StoreError> {
    kv.get(&message(id))?.map(|v| decode_record(&v)).transpose()
}

/// Decodes a stored history event.
pub fn decode_event(v: &[u8]) -> Result<Event, StoreError> {
    super::record::decode_event(v)
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
        let meta = MessageMeta::sample();
        let mut v = encode_message(&meta);
        set_state_bytes(&mut v, &MessageState::Accepted);
        let r = decode_record(&v).unwrap();
        assert_eq!(r.meta.id, meta.id);
        assert_eq!(r.meta.charged, Micros(20_000));
        assert!(r.pdu.is_empty(), "the PDU lives under p/ now");
        assert_eq!(r.events.len(), 1);
        assert!(decode_record(&v[..3]).is_err());
        assert!(decode_record(&[0, 0, 0, 99, b'{']).is_err());

        // a record as written before the binary form: JSON meta, the PDU, a JSON event
        let m = serde_json::to_vec(&meta).unwrap();
        let ev = serde_json::to_vec(&Event {
            at_ms: 3,
            state: MessageState::Final {
                stat: Stat::Delivrd,
                err: "000".into(),
            },
        })
        .unwrap();
        let mut old = Vec::new();
        for f in [&m[..], &[1, 2, 3], &ev[..]] {
            old.extend_from_slice(&(f.len() as u32).to_be_bytes());
            old.extend_from_slice(f);
        }
        let r = decode_record(&old).unwrap();
        assert_eq!(
            (r.meta.id.as_str(), r.pdu.clone()),
            (meta.id.as_str(), vec![1, 2, 3])
        );
        assert!(r.state().is_final());
    }

    /// Appends one event the way [`set_state`] does.
    fn set_state_bytes(v: &mut Vec<u8>, state: &MessageState) {
        let ev = super::super::record::encode_event(&Event {
            at_ms: 1,
            state: state.clone(),
        });
        v.extend_from_slice(&(ev.len() as u32).to_be_bytes());
        v.extend_from_slice(&ev);
    }

    #[test]
    fn final_state_clears_the_pending_marker() {
        let mut b = WriteBatch::default();
        let submitted = MessageState::Submitted {
            carrier: "c".into(),
            carrier_id: "1".into(),
        };
        set_state(&mut b, "x", &submitted, 1);
        assert_eq!(b.ops.len(), 2, "a submit appends one event");
        assert!(
            matches!(&b.ops[1], super::super::kv::Op::Put(k, v) if k == b"p/x" && v.is_empty()),
            "and keeps the marker without the PDU"
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
        let kv = super::super::engine::Engine::open(dir.path(), 16).unwrap();
        let kv: &dyn Kv = &*kv;
        let meta = MessageMeta {
            id: "0000000000000001".into(),
            accepted_ms: 5,
            ..MessageMeta::sample()
        };
        let mut b = WriteBatch::default();
        accept(&mut b, &meta, &[0, 1]);
        kv.apply(&mut b).unwrap();
        let rec = record_of(kv, &meta.id).unwrap().unwrap();
        assert_eq!(rec.state(), MessageState::Accepted);
        assert_eq!(kv.get(&pending(&meta.id)).unwrap(), Some(vec![0, 1]));
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
        kv.apply(&mut b).unwrap();
        assert_eq!(record_of(kv, &meta.id).unwrap().unwrap().state(), submitted);
        kv.checkpoint().unwrap();
        let mut b = WriteBatch::default();
        set_state(&mut b, &meta.id, &fin, 8);
        kv.apply(&mut b).unwrap();
        let rec = record_of(kv, &meta.id).unwrap().unwrap();
        assert_eq!(rec.state(), fin);
        let states: Vec<_> = rec.history().into_iter().map(|e| e.state).collect();
        assert_eq!(states, vec![MessageState::Accepted, submitted, fin]);
        assert_eq!(rec.meta.id, meta.id);
        assert!(kv.get(&pending(&meta.id)).unwrap().is_none());
    }
}
