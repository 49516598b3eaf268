//! A message as the customer who sent it sees it: over the customer API (`GET
//! /v1/messages/{id}`) and in its webhook. One view for both, so a webhook says exactly
//! what a read of the message would. An MO a handset sent to the customer's number is
//! shown the same way to its webhook and to the operator.

use serde_json::{Value, json};

use crate::domain::clock::rfc3339;
use crate::domain::message::{Event, MessageState, combined_state};
use crate::domain::mo::Mo;
use crate::domain::money::Micros;
use crate::http::messages::state_name;
use crate::store::keys::{self, ApiMessage};
use crate::store::kv::{Kv, StoreError};
use crate::store::messages::{self, MessageRecord};

/// A step of a part's history as its sender sees it: when, the state, an error code; not
/// which carrier (the operator's business).
fn event_view(e: &Event) -> Value {
    let mut v = json!({"at": rfc3339(e.at_ms), "state": state_name(&e.state)});
    if let MessageState::Final { err, .. } = &e.state {
        v["error"] = json!(err);
    }
    v
}

/// A message as its sender sees it: one sent here with its parts, or one sent over SMPP.
/// `None` when it is not the caller's, or is a part other than the first.
pub fn message(
    kv: &dyn Kv,
    account: &str,
    rec: &MessageRecord,
) -> Result<Option<Value>, StoreError> {
    if rec.meta.account != account || rec.meta.part_of.as_ref().is_some_and(|p| p.seq > 1) {
        return Ok(None);
    }
    let api: Option<ApiMessage> = match kv.get(&keys::api_message(&rec.meta.id))? {
        Some(v) => Some(keys::decode(&v)?),
        None => None,
    };
    let mut records = vec![rec.clone()];
    if let Some(a) = &api {
        for id in a.parts.iter().skip(1) {
            // a part's record is written in the same batch as the first: it is there
            if let Some(r) = messages::record_of(kv, id)? {
                records.push(r);
            }
        }
    }
    let states: Vec<MessageState> = records.iter().map(MessageRecord::state).collect();
    let state = combined_state(&states);
    let price: i64 = records.iter().map(|r| r.meta.charged.0).sum();
    let meta = &rec.meta;
    let error = match &state {
        MessageState::Final { err, .. } => Some(err.clone()),
        _ => None,
    };
    let detail: Vec<Value> = records
        .iter()
        .zip(&states)
        .enumerate()
        .map(|(i, (r, s))| {
            let carrier_id = r.history().iter().rev().find_map(|e| match &e.state {
                MessageState::Submitted { carrier_id, .. } => Some(carrier_id.clone()),
                _ => None,
            });
            json!({
                "part": i + 1,
                "id": r.meta.id,
                "state": state_name(s),
                "carrier_id": carrier_id,
                "history": r.history().iter().map(event_view).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Some(json!({
        "id": meta.id,
        // an HTTP client's own spelling; an SMPP one's as a + number
        "to": match &api {
            Some(a) if a.esme_receipt.is_none() => a.to.clone(),
            _ => format!("+{}", meta.dest),
        },
        "from": api.as_ref().map_or_else(|| meta.source.clone(), |a| a.from.clone()),
        "state": state_name(&state),
        "final": state.is_final(),
        "error": error,
        "parts": api.as_ref().map_or(meta.parts as usize, |a| a.parts.len()),
        "price": Micros(price).to_string(),
        "created": rfc3339(meta.accepted_ms),
        "validity": meta.expires_ms.map(rfc3339),
        "client_ref": api.as_ref().and_then(|a| a.client_ref.clone()),
        "callback_url": api.as_ref().and_then(|a| a.callback_url.clone()),
        "via": match &api {
            Some(a) if a.esme_receipt.is_none() => "http",
            _ => "smpp",
        },
        "parts_detail": detail,
    })))
}

/// An MO as its webhook and the admin API show it: the numbers, the text decoded, and
/// where it belongs when it is one part of a longer MO (`part`).
pub fn mo(mo: &Mo) -> Value {
    let text = crate::protocol::mo::read_stored(&mo.pdu)
        .map(|f| f.text)
        .unwrap_or_default();
    let mut v = json!({
        "id": mo.id,
        "from": mo.from,
        "to": mo.to,
        "text": text,
        "data_coding": mo.data_coding,
        "carrier": mo.carrier,
        "received_at": rfc3339(mo.received_ms),
        "state": mo.state.as_str(),
    });
    if let Some(a) = &mo.account {
        v["account"] = json!(a);
    }
    if let Some(c) = mo.concat {
        v["part"] = json!({"reference": c.reference, "total": c.total, "seq": c.seq});
    }
    if let Some(o) = mo.opt {
        v["opt"] = json!(o);
    }
    v
}

/// A concatenated MO whose parts (in order) have all come, as one: the text of the parts'
/// octets joined and decoded once (a character split between parts stays whole), the
/// first part's id, and every part's id.
pub fn mo_whole(parts: &[Mo]) -> Value {
    let Some(first) = parts.first() else {
        return Value::Null;
    };
    let mut octets = Vec::new();
    for p in parts {
        if let Some(f) = crate::protocol::mo::read_stored(&p.pdu) {
            octets.extend_from_slice(&f.octets);
        }
    }
    let mut v = mo(first);
    v["text"] = json!(crate::domain::mo::decode_text(first.data_coding, &octets));
    if let Some(o) = v.as_object_mut() {
        o.remove("part");
    }
    v["parts"] = json!(parts.len());
    v["part_ids"] = json!(parts.iter().map(|p| p.id.as_str()).collect::<Vec<_>>());
    v
}
