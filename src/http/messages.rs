//! `GET /messages/{id}` (one message with its history) and `GET /messages` (a listing by
//! account, state and time, oldest first, a page at a time). States by their SMPP receipt
//! names: `ACCEPTD` (stored, no carrier has it yet), `ENROUTE` (a carrier has it), then
//! the final stat (`DELIVRD`, `UNDELIV`, `EXPIRED`, `REJECTD`...).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{PageQuery, page};
use super::{ApiError, AppState};
use crate::domain::clock::{parse_rfc3339, rfc3339};
use crate::domain::ledger_entry::{EntryKind, decode_record};
use crate::domain::message::{Event, MessageState};
use crate::domain::mo::Mo;
use crate::store::messages::{self, MessageRecord};
use crate::store::{keys, kv::Kv};

/// A state's SMPP receipt name.
pub(super) fn state_name(s: &MessageState) -> &'static str {
    match s {
        MessageState::Accepted => "ACCEPTD",
        MessageState::Submitted { .. } => "ENROUTE",
        MessageState::Final { stat, .. } => stat.as_str(),
    }
}

pub(super) fn event_json(e: &Event) -> Value {
    let mut v = json!({"at": rfc3339(e.at_ms), "state": state_name(&e.state)});
    match &e.state {
        MessageState::Submitted {
            carrier,
            carrier_id,
        } => {
            v["carrier"] = json!(carrier);
            v["carrier_id"] = json!(carrier_id);
        }
        MessageState::Final { err, .. } => v["error"] = json!(err),
        MessageState::Accepted => {}
    }
    v
}

/// A message as the admin API shows it.
fn message_json(rec: &MessageRecord) -> Value {
    let history = rec.history();
    let meta = &rec.meta;
    let last = history.last().map(|e| &e.state);
    let (carrier, carrier_id) = history
        .iter()
        .rev()
        .find_map(|e| match &e.state {
            MessageState::Submitted {
                carrier,
                carrier_id,
            } => Some((Some(carrier.clone()), Some(carrier_id.clone()))),
            _ => None,
        })
        .unwrap_or((None, None));
    json!({
        "id": meta.id,
        "account": meta.account,
        "source": meta.source,
        "destination": meta.dest,
        "parts": meta.parts,
        "price": meta.charged.to_string(),
        "accepted": rfc3339(meta.accepted_ms),
        "validity": meta.expires_ms.map(rfc3339),
        "carrier": carrier,
        "carrier_id": carrier_id,
        "state": last.map(state_name),
        "final": last.is_some_and(MessageState::is_final),
        "error": match last { Some(MessageState::Final { err, .. }) => Some(err.clone()), _ => None },
        "history": history.iter().map(event_json).collect::<Vec<_>>(),
    })
}

pub(super) fn load(kv: &dyn Kv, id: &str) -> Result<Option<MessageRecord>, ApiError> {
    match kv
        .get(&keys::message(id))
        .map_err(|e| ApiError::unavailable(e.to_string()))?
    {
        Some(v) => messages::decode_record(&v)
            .map(Some)
            .map_err(|e| ApiError::unavailable(format!("message record unreadable: {e}"))),
        None => Ok(None),
    }
}

pub(super) async fn get(
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if let Some(rec) = load(&*st.kv, &id)? {
        return Ok(HttpResponse::Ok().json(message_json(&rec)));
    }
    // ids come from one sequence: an id that is no message may be an MO
    let mo = st
        .kv
        .get(&keys::mo(&id))
        .map_err(|e| ApiError::unavailable(e.to_string()))?
        .ok_or_else(|| ApiError::not_found("message"))?;
    let mo: Mo = keys::decode(&mo).map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(HttpResponse::Ok().json(mo_json(&mo)))
}

/// An MO as the admin API shows it.
fn mo_json(mo: &Mo) -> Value {
    let mut v = crate::http::customer::view::mo(mo);
    v["direction"] = json!("mo");
    v
}

/// `GET /messages?direction=mo`: the MO, oldest first, by account, state (`unrouted`,
/// `queued`, `delivered`, `expired`) and time received. Like the messages' listing, a page
/// looks at [`SCAN_BUDGET`] stored MO at most.
fn list_mo(kv: &dyn Kv, q: ListQuery, mut pq: PageQuery) -> Result<HttpResponse, ApiError> {
    let since = time_param("since", q.since.as_deref())?;
    let until = time_param("until", q.until.as_deref())?;
    let state = q.state.map(|s| s.to_ascii_lowercase());
    let keep = |mo: &Mo| {
        q.account
            .as_ref()
            .is_none_or(|a| mo.account.as_ref() == Some(a))
            && state.as_deref().is_none_or(|s| mo.state.as_str() == s)
            && since.is_none_or(|s| mo.received_ms >= s)
            && until.is_none_or(|u| mo.received_ms < u)
    };
    let want = pq.limit()?;
    let mut out = Vec::new();
    let mut scanned = 0;
    let next = loop {
        let chunk = (want - out.len()).max(1);
        pq.limit = Some(chunk);
        // every stored MO is a row (those left out are None), so the budget counts rows
        let (rows, next) = page(kv, keys::MO_PREFIX, &pq, |v| {
            Some(keys::decode::<Mo>(v).ok().filter(&keep))
        })?;
        scanned += chunk;
        out.extend(rows.into_iter().flatten().map(|mo| mo_json(&mo)));
        match next {
            Some(c) if out.len() < want && scanned < SCAN_BUDGET => pq.cursor = Some(c),
            other => break other,
        }
    };
    Ok(HttpResponse::Ok().json(json!({"messages": out, "next_cursor": next})))
}

/// `GET /messages` filters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// `mt` (default: messages accounts sent) or `mo` (messages handsets sent).
    direction: Option<String>,
    account: Option<String>,
    state: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Rows looked at for one page at most, so a rare filter cannot make one request scan the
/// whole store: the page comes back short, with a cursor to go on from.
const SCAN_BUDGET: usize = 10_000;

pub(super) async fn list(
    st: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    match q.direction.as_deref() {
        None | Some("mt") => {}
        Some("mo") => {
            let pq = PageQuery {
                limit: q.limit,
                cursor: q.cursor.clone(),
            };
            return list_mo(&*st.kv, q, pq);
        }
        Some(_) => return Err(ApiError::invalid("direction", "mt or mo")),
    }
    let filter = Filter {
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        state: q.state.as_deref().map(str::to_ascii_uppercase),
    };
    let pq = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (out, next) = list_page(&*st.kv, q.account.as_deref(), pq, |rec| {
        filter
            .keeps(rec.meta.accepted_ms, &rec.state())
            .then(|| message_json(rec))
    })?;
    Ok(HttpResponse::Ok().json(json!({"messages": out, "next_cursor": next})))
}

/// Which messages a listing keeps.
pub(super) struct Filter {
    /// Accepted at or after (Unix ms).
    pub since: Option<u64>,
    /// Accepted before (Unix ms).
    pub until: Option<u64>,
    /// In this state (SMPP name, upper case).
    pub state: Option<String>,
}

impl Filter {
    /// Whether a message accepted at `at_ms`, now in `state`, is listed.
    pub fn keeps(&self, at_ms: u64, state: &MessageState) -> bool {
        self.since.is_none_or(|s| at_ms >= s)
            && self.until.is_none_or(|u| at_ms < u)
            && self.state.as_deref().is_none_or(|s| state_name(state) == s)
    }
}

/// One page of messages, oldest first: an account's (read through its charges, only as
/// far as the page goes) or every message; `view` shows a record, or leaves it out.
pub(super) fn list_page(
    kv: &dyn Kv,
    account: Option<&str>,
    mut pq: PageQuery,
    view: impl Fn(&MessageRecord) -> Option<Value>,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let want = pq.limit()?;
    let mut out = Vec::new();
    let mut scanned = 0;
    let next = loop {
        pq.limit = Some((want - out.len()).max(1));
        let (recs, next) = match account {
            // lazily: only the messages that fit the page are read
            Some(a) => page(kv, &keys::ledger_prefix(a), &pq, |v| {
                decode_record(v)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|e| e.kind == EntryKind::Charge)
                    .filter_map(|e| e.message_id)
                    .filter_map(|id| load(kv, &id).ok().flatten())
            })?,
            None => page(kv, b"m/", &pq, |v| messages::decode_record(v).ok())?,
        };
        scanned += pq.limit.unwrap_or(1);
        out.extend(recs.iter().filter_map(&view));
        match next {
            Some(c) if out.len() < want && scanned < SCAN_BUDGET => pq.cursor = Some(c),
            other => break other,
        }
    };
    Ok((out, next))
}

pub(super) fn time_param(name: &str, v: Option<&str>) -> Result<Option<u64>, ApiError> {
    v.map(|s| parse_rfc3339(s).ok_or_else(|| ApiError::invalid(name, "not an RFC 3339 time")))
        .transpose()
}
