//! `POST /v1/messages` (send), `GET /v1/messages/{id}` and `GET /v1/messages` (the
//! account's own, a page at a time).
//!
//! A message is checked field by field (400 naming the field), encoded (GSM 03.38 when it
//! fits, else UCS-2) and split into parts (`domain::encoding`); its parts are charged and
//! stored in one batch with its record (`x/<id>`) and only then answered 202, so an id
//! the client holds is always a stored, charged message.

use std::sync::atomic::Ordering;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use bytes::BytesMut;
use rusmpp::{Command, CommandStatus};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::idempotency::{self, Seen};
use super::{Caller, CustomerState};
use crate::actors::ledger::{AcceptParts, NewPart, PartsAnswer, Refusal};
use crate::domain::address::{check_e164, check_sender};
use crate::domain::encoding::{Reference, UDHI, encode_text, split};
use crate::domain::message::{MessageMeta, PartOf, now_ms};
use crate::domain::money::Micros;
use crate::http::ApiError;
use crate::http::error::raw_body;
use crate::http::messages::{Filter, list_page, load};
use crate::http::page::PageQuery;
use crate::store::keys::ApiMessage;
use crate::store::kv::Kv;
use crate::store::messages::MessageRecord;

/// The longest text a message may have, in characters (ten GSM parts).
pub const MAX_TEXT_CHARS: usize = 1530;
/// The shortest validity a client may ask for.
const MIN_VALIDITY_S: u64 = 60;
/// The longest (beside `message_ttl_s`): a year.
const MAX_VALIDITY_S: u64 = 365 * 86_400;
/// The longest `client_ref`.
const MAX_CLIENT_REF: usize = 64;

/// `POST /v1/messages` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SendBody {
    to: String,
    from: String,
    text: String,
    #[serde(default)]
    callback_url: Option<String>,
    #[serde(default)]
    validity_s: Option<u64>,
    #[serde(default)]
    client_ref: Option<String>,
}

/// The JSON schema of `POST /v1/messages`'s body, for the OpenAPI document.
pub(super) fn body_schema(method: &str, path: &str) -> Option<Value> {
    (method == "post" && path == "/messages").then(|| {
        json!({
            "type": "object",
            "required": ["to", "from", "text"],
            "additionalProperties": false,
            "properties": {
                "to": {"type": "string", "description": "E.164, + optional, 8 to 15 digits", "example": "+491701234567"},
                "from": {"type": "string", "description": "an E.164 number, a short code or an alphanumeric sender ID (1-11)", "example": "ACME"},
                "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS, "description": "UTF-8; sent as GSM 03.38 when it fits, else UCS-2, split into parts as needed"},
                "validity_s": {"type": "integer", "minimum": MIN_VALIDITY_S, "description": "at most the switch's message_ttl_s"},
                "client_ref": {"type": "string", "maxLength": MAX_CLIENT_REF},
                "callback_url": {"type": "string", "maxLength": crate::accounts::MAX_WEBHOOK_URL, "description": "http(s) URL for the signed webhook; else the account's webhook_url"},
            },
        })
    })
}

fn refused(status: StatusCode, code: &'static str, message: &str) -> ApiError {
    ApiError::new(status, code, message)
}

/// Retry-After, in seconds, for a refusal the client should retry.
fn retry_after(e: ApiError, secs: u32) -> HttpResponse {
    let mut r = actix_web::ResponseError::error_response(&e);
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, v);
    }
    r
}

/// The body's fields checked, in the order a client reads its errors.
struct Checked {
    dest: String,
    source: (String, u8, u8),
    validity_s: Option<u64>,
}

fn check(st: &CustomerState, c: &Caller, b: &SendBody) -> Result<Checked, ApiError> {
    let dest = check_e164(&b.to).map_err(|e| ApiError::invalid("to", e))?;
    let (source, ton, npi) = check_sender(&b.from).map_err(|e| ApiError::invalid("from", e))?;
    if !c.account.source_allowed(source) {
        return Err(ApiError::invalid(
            "from",
            "this sender is not among the account's allowed_sources",
        ));
    }
    if b.text.is_empty() {
        return Err(ApiError::invalid("text", "must not be empty"));
    }
    let chars = b.text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ApiError::invalid(
            "text",
            format!("{chars} characters; at most {MAX_TEXT_CHARS}"),
        ));
    }
    let max_validity = st.max_validity_s.min(MAX_VALIDITY_S);
    if let Some(v) = b.validity_s
        && !(MIN_VALIDITY_S..=max_validity).contains(&v)
    {
        return Err(ApiError::invalid(
            "validity_s",
            format!("{v}: must be {MIN_VALIDITY_S} to {max_validity}"),
        ));
    }
    if let Some(u) = &b.callback_url {
        if u.is_empty() {
            return Err(ApiError::invalid("callback_url", "must not be empty"));
        }
        crate::accounts::check_webhook_url(u).map_err(|e| ApiError::invalid("callback_url", e))?;
    }
    if let Some(r) = &b.client_ref
        && r.chars().count() > MAX_CLIENT_REF
    {
        return Err(ApiError::invalid(
            "client_ref",
            format!("at most {MAX_CLIENT_REF} characters"),
        ));
    }
    Ok(Checked {
        dest: dest.to_string(),
        source: (source.to_string(), ton, npi),
        validity_s: b.validity_s,
    })
}

/// The 202 of an accepted message (sent again, as it was, for a replayed key).
fn accepted(id: &str, parts: u32, price: Micros, replayed: bool) -> HttpResponse {
    let mut r = HttpResponse::Accepted();
    if replayed {
        r.insert_header(("idempotent-replayed", "true"));
    }
    r.json(json!({"id": id, "parts": parts, "price": price.to_string()}))
}

pub(super) async fn send(
    st: web::Data<CustomerState>,
    caller: web::ReqData<Caller>,
    req: actix_web::HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let c = caller.into_inner();
    let raw = raw_body(payload).await?;
    let key = match req.headers().get("idempotency-key") {
        Some(v) => {
            let k = v.to_str().unwrap_or("\u{0}");
            idempotency::check_key(k).map_err(|e| ApiError::invalid("Idempotency-Key", e))?;
            Some(k.to_string())
        }
        None => None,
    };
    // held until the ledger has stored or refused the message (the hold goes with it): a
    // second request with the key meanwhile is a 409
    let mut remember = None;
    let held = match &key {
        Some(k) => {
            let held = st.in_flight.hold(&c.account.system_id, k).ok_or_else(|| {
                refused(
                    StatusCode::CONFLICT,
                    "idempotency_in_flight",
                    "a request with this Idempotency-Key is being answered; retry later",
                )
            })?;
            let hash = idempotency::body_sha256(&raw);
            let stored = idempotency::stored(&*st.kv, &c.account.system_id, k)
                .map_err(|e| ApiError::unavailable(e.to_string()))?;
            match idempotency::seen(stored, &hash, now_ms()) {
                Seen::Replay(a) => return Ok(accepted(&a.id, a.parts, a.price, true)),
                Seen::Mismatch => {
                    return Err(refused(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "idempotency_mismatch",
                        "this Idempotency-Key was used with another body",
                    ));
                }
                Seen::Fresh => remember = Some((k.clone(), hash)),
            }
            Some(held)
        }
        None => None,
    };
    let body: SendBody = crate::http::error::body(&raw)?;
    let checked = check(&st, &c, &body)?;
    if st
        .suppressions
        .contains(&c.account.system_id, &checked.dest, &checked.source.0)
    {
        metrics::counter!("tern_suppressed_total", "account" => c.account.system_id.clone())
            .increment(1);
        return Err(refused(
            StatusCode::FORBIDDEN,
            "opted_out",
            "the recipient opted out of messages from this sender",
        ));
    }
    let Some(route) = st.routes.borrow().lookup(&checked.dest) else {
        return Err(ApiError::invalid("to", "no route to this destination"));
    };
    if st.backlogs.full(&route) {
        return Ok(retry_after(
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_full",
                "the carriers for this destination hold all they may; retry later",
            ),
            1,
        ));
    }
    let encoded = encode_text(&body.text);
    let reference = Reference::Eight(st.references.fetch_add(1, Ordering::Relaxed) as u8);
    let short_messages = split(&encoded.octets, encoded.data_coding, reference)
        .map_err(|e| ApiError::invalid("text", e))?;
    let total = short_messages.len();
    let now = now_ms();
    // absolute, so a part sent again (retry, restart) keeps the end the client asked for
    let expires_ms = checked
        .validity_s
        .map(|v| now.saturating_add(v.saturating_mul(1000)));
    let validity = expires_ms.map(crate::domain::validity::absolute);
    let source = (
        checked.source.0.as_str(),
        checked.source.1,
        checked.source.2,
    );
    let esm_class = if total > 1 { UDHI } else { 0 };
    let mut parts = Vec::with_capacity(total);
    for (i, short_message) in short_messages.into_iter().enumerate() {
        let sm = crate::protocol::pdu::text_submit_sm(
            source,
            &checked.dest,
            encoded.data_coding,
            esm_class,
            short_message,
            validity.as_deref(),
        )
        .ok_or_else(|| ApiError::invalid("body", "cannot be made into a submit_sm"))?;
        let mut raw = BytesMut::new();
        tokio_util::codec::Encoder::encode(
            &mut rusmpp::tokio_codec::CommandCodec::new(),
            &Command::new(CommandStatus::EsmeRok, 1, sm.clone()),
            &mut raw,
        )
        .map_err(|e| ApiError::invalid("body", e))?;
        parts.push(NewPart {
            meta: MessageMeta {
                // given by the ledger, with part_of.message
                id: String::new(),
                account: c.account.system_id.clone(),
                source: checked.source.0.clone(),
                source_ton: checked.source.1,
                source_npi: checked.source.2,
                dest: checked.dest.clone(),
                // its receipt goes to the client by webhook, never to the account's binds
                registered_delivery: 0,
                parts: 1,
                charged: Micros(0),
                accepted_ms: now,
                expires_ms,
                // i < total <= 255 parts (split refuses more)
                part_of: Some(PartOf {
                    message: String::new(),
                    seq: (i + 1) as u8,
                    total: total as u8,
                }),
            },
            sm,
            raw: raw.to_vec(),
        });
    }
    let record = ApiMessage {
        esme_receipt: None,
        key_id: c.key.key_id.clone(),
        callback_url: body.callback_url,
        client_ref: body.client_ref,
        parts: Vec::new(),
        to: body.to,
        from: body.from,
        data_coding: encoded.data_coding,
    };
    let price = c.account.price;
    let (done, answer) = oneshot::channel();
    st.ledgers
        .for_key(&c.account.system_id)
        .do_send(AcceptParts {
            account: c.account.system_id.clone(),
            price,
            parts,
            record,
            remember,
            held,
            done: PartsAnswer::Http(done),
        });
    let outcome = answer.await.unwrap_or(Err(Refusal::Failed));
    metrics::counter!("tern_api_messages_total",
        "account" => c.account.system_id.clone(),
        "outcome" => match outcome { Ok(_) => "accepted", Err(Refusal::Throttled) => "throttled", Err(Refusal::NoCredit) => "no_credit", Err(Refusal::QueueFull) => "queue_full", Err(Refusal::Failed) => "failed" })
    .increment(1);
    match outcome {
        Ok(id) => {
            let charged = price.times(total as u32).unwrap_or(Micros(0));
            tracing::info!(message_id = %id, system_id = %c.account.system_id, parts = total, "message accepted over the customer API");
            Ok(accepted(&id, total as u32, charged, false))
        }
        Err(Refusal::Throttled) => Ok(retry_after(
            refused(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "over the account's messages per second",
            ),
            1,
        )),
        Err(Refusal::NoCredit) => Err(refused(
            StatusCode::PAYMENT_REQUIRED,
            "no_credit",
            "the account's balance does not cover this message",
        )),
        Err(Refusal::QueueFull) => Ok(retry_after(
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_full",
                "the store is full; retry later",
            ),
            5,
        )),
        Err(Refusal::Failed) => Err(ApiError::unavailable("the message was not stored")),
    }
}

/// The customer's view of a message, or `None` (see [`view::message`]).
fn shown(kv: &dyn Kv, account: &str, rec: &MessageRecord) -> Result<Option<Value>, ApiError> {
    super::view::message(kv, account, rec).map_err(|e| ApiError::unavailable(e.to_string()))
}

pub(super) async fn get(
    st: web::Data<CustomerState>,
    caller: web::ReqData<Caller>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = &caller.account.system_id;
    let mut rec = load(&*st.kv, &id)?.ok_or_else(|| ApiError::not_found("message"))?;
    // a part's id (from parts_detail) shows the message it is part of
    if let Some(p) = rec.meta.part_of.clone().filter(|p| p.seq > 1) {
        rec = load(&*st.kv, &p.message)?.ok_or_else(|| ApiError::not_found("message"))?;
    }
    // another account's message does not exist as far as this caller knows
    let v = shown(&*st.kv, account, &rec)?.ok_or_else(|| ApiError::not_found("message"))?;
    Ok(HttpResponse::Ok().json(v))
}

/// `GET /v1/messages` filters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    state: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub(super) async fn list(
    st: web::Data<CustomerState>,
    caller: web::ReqData<Caller>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let account = caller.account.system_id.clone();
    let filter = Filter {
        since: None,
        until: None,
        state: q.state.as_deref().map(str::to_ascii_uppercase),
    };
    let pq = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let kv = &*st.kv;
    let (out, next) = list_page(kv, Some(&account), pq, |rec| {
        let v = shown(kv, &account, rec).ok().flatten()?;
        let state = v["state"].as_str().unwrap_or_default();
        filter
            .state
            .as_deref()
            .is_none_or(|s| s == state)
            .then_some(v)
    })?;
    Ok(HttpResponse::Ok().json(json!({"messages": out, "next_cursor": next})))
}
