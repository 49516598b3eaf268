//! A message's record through its life: what acceptance writes (`m/` and its pending
//! marker `p/`), how each later state is appended to it, and how it reads back, in the
//! binary form of [`super::record`] or the JSON one written before it.

use crate::domain::message::{Event, MessageMeta, MessageState};

use super::keys::{self, message, pending};
use super::kv::{Kv, StoreError, WriteBatch};

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
    let bad = || StoreError::new("corrupt message record");
    let (len, rest) = v.split_at_checked(4).ok_or_else(bad)?;
    let len = u32::from_be_bytes(len.try_into().map_err(|_| bad())?) as usize;
    let (f, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
    *v = rest;
    Ok(f)
}

/// Decodes a whole message record.
pub fn decode_record(mut v: &[u8]) -> Result<MessageRecord, StoreError> {
    let (meta, pdu) = match v.split_first() {
        Some((
            &f
            @ (super::record::FORMAT | super::record::FORMAT_EXPIRY | super::record::FORMAT_PART),
            rest,
        )) => {
            let (meta, rest) = super::record::decode_meta(f, rest)?;
            v = rest;
            (meta, Vec::new())
        }
        _ => {
            let meta = serde_json::from_slice(field(&mut v)?)
                .map_err(|e| StoreError::new(e.to_string()))?;
            (meta, field(&mut v)?.to_vec())
        }
    };
    let mut events = Vec::new();
    while !v.is_empty() {
        events.push(decode_event(field(&mut v)?)?);
    }
    Ok(MessageRecord { meta, pdu, events })
}

/// What `query_sm` answers for `rec`: the SMPP message_state (ENROUTE until it ends), the
/// time it ended, and the error code of its end (the receipt's `err:` as a number, at most
/// 255; 0 when it is none). A message tern split (its `x/` record) answers for all its
/// parts: DELIVERED once every part is, else the first part's failure.
pub fn query_answer(kv: &dyn Kv, rec: &MessageRecord) -> Result<(u8, Option<u64>, u8), StoreError> {
    let mut records = vec![rec.clone()];
    if let Some(v) = kv.get(&keys::api_message(&rec.meta.id))? {
        let api: keys::ApiMessage = keys::decode(&v)?;
        for id in api.parts.iter().skip(1) {
            if let Some(r) = record_of(kv, id)? {
                records.push(r);
            }
        }
    }
    let states: Vec<MessageState> = records.iter().map(MessageRecord::state).collect();
    Ok(match crate::domain::message::combined_state(&states) {
        MessageState::Final { stat, err } => (
            stat.message_state(),
            records
                .iter()
                .filter(|r| r.state().is_final())
                .filter_map(|r| r.events.last().map(|e| e.at_ms))
                .max(),
            err.trim().parse::<u32>().map_or(0, |e| e.min(255) as u8),
        ),
        MessageState::Accepted | MessageState::Submitted { .. } => {
            (crate::domain::dlr::Stat::Enroute.message_state(), None, 0)
        }
    })
}

/// Message `id`'s record.
pub fn record_of(kv: &dyn Kv, id: &str) -> Result<Option<MessageRecord>, StoreError> {
    kv.get(&message(id))?.map(|v| decode_record(&v)).transpose()
}

/// Decodes a stored history event.
pub fn decode_event(v: &[u8]) -> Result<Event, StoreError> {
    super::record::decode_event(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::dlr::Stat;
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
