//! The binary form of a message's meta, its history events and its outbox receipt in the
//! store.
//!
//! Every message writes its record to sled once (keys.rs), so its size is paid for in
//! sled's leaf copies, the journal and the memtables. JSON with field names made the record
//! about three times larger than the facts in it; this form writes the fields in a fixed
//! order: strings as a u16 length and UTF-8 bytes, integers big-endian.
//!
//! Records written by earlier versions (JSON) still decode: a binary meta starts with
//! [`FORMAT`] where the JSON form started with a zero byte (its length's high byte), and a
//! binary event or outbox receipt starts with [`FORMAT`] where JSON started with `{`.

use crate::domain::dlr::Stat;
use crate::domain::message::{Event, MessageMeta, MessageState, PartOf};
use crate::domain::money::Micros;

use super::keys::{OutboxReceipt, Outgoing};
use super::kv::StoreError;

/// First byte of a binary meta or event.
pub const FORMAT: u8 = 1;
/// First byte of a binary meta that ends with its validity (u64 BE Unix ms, 0: none).
pub const FORMAT_EXPIRY: u8 = 2;
/// First byte of a binary meta that ends with its validity and then the message it is a
/// part of (string id, u8 seq, u8 total): a part of a message tern split.
pub const FORMAT_PART: u8 = 3;

/// First byte of an outbox entry that is an MO (its JSON record follows).
pub const MO_FORMAT: u8 = 2;

const ACCEPTED: u8 = 0;
const SUBMITTED: u8 = 1;
const FINAL: u8 = 2;

fn corrupt() -> StoreError {
    StoreError::new("corrupt message record")
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // every string here is an SMPP field or a config id: far below 64 KiB; clamp anyway so
    // a length can never wrap
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

/// Reads fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let (h, t) = self.0.split_at_checked(n).ok_or_else(corrupt)?;
        self.0 = t;
        Ok(h)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        self.take(N)?.try_into().map_err(|_| corrupt())
    }
    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn str(&mut self) -> Result<String, StoreError> {
        let n = u16::from_be_bytes(self.array()?) as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| corrupt())
    }
}

/// Appends `meta` in binary form, [`FORMAT`] first.
pub fn encode_meta(meta: &MessageMeta, out: &mut Vec<u8>) {
    out.push(if meta.part_of.is_some() {
        FORMAT_PART
    } else {
        FORMAT_EXPIRY
    });
    put_str(out, &meta.id);
    put_str(out, &meta.account);
    put_str(out, &meta.source);
    out.push(meta.source_ton);
    out.push(meta.source_npi);
    put_str(out, &meta.dest);
    out.push(meta.registered_delivery);
    out.extend_from_slice(&meta.parts.to_be_bytes());
    out.extend_from_slice(&meta.charged.0.to_be_bytes());
    out.extend_from_slice(&meta.accepted_ms.to_be_bytes());
    out.extend_from_slice(&meta.expires_ms.unwrap_or(0).to_be_bytes());
    if let Some(p) = &meta.part_of {
        put_str(out, &p.message);
        out.push(p.seq);
        out.push(p.total);
    }
}

/// Reads a binary meta (after its first byte, [`FORMAT`], [`FORMAT_EXPIRY`] or [`FORMAT_PART`]) off the
/// front of `v`; returns the rest.
pub fn decode_meta(format: u8, v: &[u8]) -> Result<(MessageMeta, &[u8]), StoreError> {
    let mut r = Reader(v);
    let mut meta = MessageMeta {
        id: r.str()?,
        account: r.str()?,
        source: r.str()?,
        source_ton: r.u8()?,
        source_npi: r.u8()?,
        dest: r.str()?,
        registered_delivery: r.u8()?,
        parts: r.u32()?,
        charged: Micros(r.u64()? as i64),
        accepted_ms: r.u64()?,
        expires_ms: None,
        part_of: None,
    };
    if format == FORMAT_EXPIRY || format == FORMAT_PART {
        meta.expires_ms = Some(r.u64()?).filter(|v| *v > 0);
    }
    if format == FORMAT_PART {
        meta.part_of = Some(PartOf {
            message: r.str()?,
            seq: r.u8()?,
            total: r.u8()?,
        });
    }
    Ok((meta, r.0))
}

/// One event in binary form, [`FORMAT`] first.
pub fn encode_event(ev: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.push(FORMAT);
    out.extend_from_slice(&ev.at_ms.to_be_bytes());
    match &ev.state {
        MessageState::Accepted => out.push(ACCEPTED),
        MessageState::Submitted {
            carrier,
            carrier_id,
        } => {
            out.push(SUBMITTED);
            put_str(&mut out, carrier);
            put_str(&mut out, carrier_id);
        }
        MessageState::Final { stat, err } => {
            out.push(FINAL);
            put_str(&mut out, stat.as_str());
            put_str(&mut out, err);
        }
    }
    out
}

/// Decodes one event, binary or (as written before) JSON.
pub fn decode_event(v: &[u8]) -> Result<Event, StoreError> {
    let Some(rest) = v.strip_prefix(&[FORMAT]) else {
        return serde_json::from_slice(v).map_err(|e| StoreError::new(e.to_string()));
    };
    let mut r = Reader(rest);
    let at_ms = r.u64()?;
    let state = match r.u8()? {
        ACCEPTED => MessageState::Accepted,
        SUBMITTED => MessageState::Submitted {
            carrier: r.str()?,
            carrier_id: r.str()?,
        },
        FINAL => MessageState::Final {
            stat: Stat::parse(&r.str()?).ok_or_else(corrupt)?,
            err: r.str()?,
        },
        _ => return Err(corrupt()),
    };
    Ok(Event { at_ms, state })
}

/// An outbox receipt in binary form, [`FORMAT`] first.
pub fn encode_outbox(r: &OutboxReceipt) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + r.id.len() + r.from.len() + r.to.len());
    out.push(FORMAT);
    put_str(&mut out, &r.id);
    put_str(&mut out, &r.account);
    put_str(&mut out, &r.from);
    put_str(&mut out, &r.to);
    out.push(r.to_ton);
    out.push(r.to_npi);
    put_str(&mut out, r.stat.as_str());
    put_str(&mut out, &r.err);
    for t in [r.submit_ms, r.done_ms, r.expires_ms] {
        out.extend_from_slice(&t.to_be_bytes());
    }
    out
}

/// Decodes an outbox receipt, binary or (as written before) JSON.
pub fn decode_outbox(v: &[u8]) -> Result<OutboxReceipt, StoreError> {
    let Some(rest) = v.strip_prefix(&[FORMAT]) else {
        return serde_json::from_slice(v).map_err(|e| StoreError::new(e.to_string()));
    };
    let mut r = Reader(rest);
    let out = OutboxReceipt {
        id: r.str()?,
        account: r.str()?,
        from: r.str()?,
        to: r.str()?,
        to_ton: r.u8()?,
        to_npi: r.u8()?,
        stat: Stat::parse(&r.str()?).ok_or_else(corrupt)?,
        err: r.str()?,
        submit_ms: r.u64()?,
        done_ms: r.u64()?,
        expires_ms: r.u64()?,
    };
    if !r.0.is_empty() {
        return Err(corrupt());
    }
    Ok(out)
}

/// An MO as its outbox entry: [`MO_FORMAT`], then its JSON record.
pub fn encode_outbox_mo(mo: &crate::domain::mo::Mo) -> Vec<u8> {
    let mut out = vec![MO_FORMAT];
    out.extend_from_slice(&super::keys::encode(mo));
    out
}

/// Decodes an outbox entry: an MO or a receipt.
pub fn decode_outgoing(v: &[u8]) -> Result<Outgoing, StoreError> {
    match v.strip_prefix(&[MO_FORMAT]) {
        Some(json) => Ok(Outgoing::Mo(Box::new(super::keys::decode(json)?))),
        None => decode_outbox(v).map(Outgoing::Receipt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> MessageMeta {
        MessageMeta::sample()
    }

    #[test]
    fn meta_round_trips_and_is_small() {
        let mut v = Vec::new();
        encode_meta(&meta(), &mut v);
        let json = serde_json::to_vec(&meta()).unwrap();
        assert!(
            v.len() * 2 < json.len(),
            "{} vs {} bytes",
            v.len(),
            json.len()
        );
        v.extend_from_slice(b"rest");
        assert_eq!(v[0], FORMAT_EXPIRY);
        let (m, rest) = decode_meta(v[0], &v[1..]).unwrap();
        assert_eq!(rest, b"rest");
        assert_eq!(
            (m.id, m.account, m.source, m.dest),
            (
                "00000000000000ff".into(),
                "demo".into(),
                "ACME".into(),
                "491701234567".into()
            )
        );
        assert_eq!((m.source_ton, m.registered_delivery, m.parts), (5, 1, 2));
        assert_eq!(
            (m.charged, m.accepted_ms),
            (Micros(20_000), 1_700_000_000_000)
        );
        for cut in 1..v.len() - 4 {
            assert!(decode_meta(v[0], &v[1..cut]).is_err(), "truncated at {cut}");
        }
    }

    #[test]
    fn a_part_keeps_the_message_it_belongs_to() {
        let mut m = meta();
        m.expires_ms = Some(1_700_000_060_000);
        m.part_of = Some(PartOf {
            message: "00000000000000fe".into(),
            seq: 2,
            total: 3,
        });
        let mut v = Vec::new();
        encode_meta(&m, &mut v);
        assert_eq!(v[0], FORMAT_PART);
        let (back, rest) = decode_meta(v[0], &v[1..]).unwrap();
        assert!(rest.is_empty());
        assert_eq!(back.part_of, m.part_of);
        assert_eq!(back.expires_ms, m.expires_ms);
        for cut in 1..v.len() {
            assert!(decode_meta(v[0], &v[1..cut]).is_err(), "truncated at {cut}");
        }
    }

    #[test]
    fn a_meta_keeps_its_validity_and_one_written_before_reads_without() {
        let mut m = meta();
        m.expires_ms = Some(1_700_000_060_000);
        let mut v = Vec::new();
        encode_meta(&m, &mut v);
        let (back, rest) = decode_meta(v[0], &v[1..]).unwrap();
        assert!(rest.is_empty());
        assert_eq!(back.expires_ms, Some(1_700_000_060_000));
        // the form before validity: FORMAT, the same fields, no trailing u64
        let mut old = v[..v.len() - 8].to_vec();
        old[0] = FORMAT;
        old.extend_from_slice(b"rest");
        let (back, rest) = decode_meta(old[0], &old[1..]).unwrap();
        assert_eq!((back.expires_ms, rest), (None, &b"rest"[..]));
        assert_eq!(back.accepted_ms, m.accepted_ms);
    }

    #[test]
    fn events_round_trip_and_json_events_still_read() {
        for state in [
            MessageState::Accepted,
            MessageState::Submitted {
                carrier: "sim".into(),
                carrier_id: "abc/1".into(),
            },
            MessageState::Final {
                stat: Stat::Undeliv,
                err: "001".into(),
            },
        ] {
            let ev = Event { at_ms: 42, state };
            let back = decode_event(&encode_event(&ev)).unwrap();
            assert_eq!((back.at_ms, back.state), (42, ev.state.clone()));
            let old = serde_json::to_vec(&ev).unwrap();
            assert_eq!(decode_event(&old).unwrap().state, ev.state);
        }
        assert!(decode_event(&[FORMAT, 0, 0]).is_err());
        assert!(decode_event(&[FORMAT, 0, 0, 0, 0, 0, 0, 0, 1, 9]).is_err());
    }

    #[test]
    fn outbox_receipts_round_trip_and_json_ones_still_read() {
        let r = OutboxReceipt {
            id: "00000000000000ff".into(),
            account: "demo".into(),
            from: "491701234567".into(),
            to: "ACME".into(),
            to_ton: 5,
            to_npi: 0,
            stat: Stat::Undeliv,
            err: "001".into(),
            submit_ms: 1,
            done_ms: 2,
            expires_ms: 3,
        };
        let v = encode_outbox(&r);
        assert_eq!(decode_outbox(&v).unwrap(), r);
        let json = serde_json::to_vec(&r).unwrap();
        assert!(
            v.len() * 5 < json.len() * 3,
            "{} vs {} bytes",
            v.len(),
            json.len()
        );
        assert_eq!(
            decode_outbox(&json).unwrap(),
            r,
            "written by an earlier version"
        );
        for cut in 0..v.len() {
            assert!(decode_outbox(&v[..cut]).is_err(), "truncated at {cut}");
        }
        let mut long = v.clone();
        long.push(0);
        assert!(decode_outbox(&long).is_err(), "trailing bytes");
    }
}
