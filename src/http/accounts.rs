//! `/accounts`: create, read, change and delete accounts; credit and debit them through
//! their ledger; list their ledger entries.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::json_body;
use super::page::{PageQuery, page};
use super::{ApiError, AppState, operator};
use crate::actors::ledger::{Adjust, AdjustError, GetBalance};
use crate::domain::ledger_entry::decode_record;
use crate::domain::money::Micros;
use crate::registry::{AccountChange, NewAccount, StoredAccount};
use crate::store::keys;

/// `POST /accounts/{id}/credit` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credit {
    /// Decimal string; negative for a debit.
    amount: String,
    /// Why (kept in the ledger entry and the audit trail).
    reason: String,
}

/// The account as shown, with its live balance.
async fn shown(st: &AppState, a: &StoredAccount) -> Result<Value, ApiError> {
    let balance = st
        .ledgers
        .for_key(&a.system_id)
        .send(GetBalance(a.system_id.clone()))
        .await
        .map_err(|_| ApiError::unavailable("ledger not running"))?;
    let mut v = a.to_json();
    v["balance"] = json!(balance.map(|b| b.to_string()));
    Ok(v)
}

fn live(st: &AppState, id: &str) -> Result<StoredAccount, ApiError> {
    match st.registry.stored(id)? {
        Some(a) if a.deleted_ms.is_none() => Ok(a),
        _ => Err(ApiError::not_found("account")),
    }
}

pub(super) async fn list(st: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut out = Vec::new();
    for a in st.registry.list()? {
        out.push(shown(&st, &a).await?);
    }
    Ok(HttpResponse::Ok().json(json!({ "accounts": out })))
}

pub(super) async fn get(
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let a = live(&st, &id)?;
    Ok(HttpResponse::Ok().json(shown(&st, &a).await?))
}

pub(super) async fn create(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let n: NewAccount = json_body(body).await?;
    let a = st.registry.create_account(n, &operator(&req)).await?;
    Ok(HttpResponse::Created().json(shown(&st, &a).await?))
}

pub(super) async fn update(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let c: AccountChange = json_body(body).await?;
    let a = st.registry.update_account(&id, c, &operator(&req)).await?;
    Ok(HttpResponse::Ok().json(shown(&st, &a).await?))
}

pub(super) async fn delete(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    st.registry.delete_account(&id, &operator(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) async fn credit(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let c: Credit = json_body(body).await?;
    let amount = Micros::parse(&c.amount).map_err(|e| ApiError::invalid("amount", e))?;
    if amount.0 == 0 {
        return Err(ApiError::invalid("amount", "must not be zero"));
    }
    if c.reason.trim().is_empty() || c.reason.len() > 500 {
        return Err(ApiError::invalid("reason", "1 to 500 characters"));
    }
    live(&st, &id)?;
    let entry = st
        .ledgers
        .for_key(&id)
        .send(Adjust {
            account: id.to_string(),
            amount,
            reason: c.reason,
            from: operator(&req),
        })
        .await
        .map_err(|_| ApiError::unavailable("ledger not running"))?
        .map_err(|e| match e {
            AdjustError::NoAccount => ApiError::not_found("account"),
            AdjustError::Insufficient(_) => {
                ApiError::new(StatusCode::CONFLICT, "insufficient_balance", e.to_string())
            }
            AdjustError::Store(m) => ApiError::unavailable(format!("not stored: {m}")),
        })?;
    Ok(HttpResponse::Ok().json(entry.to_json()))
}

pub(super) async fn ledger(
    st: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    if st.registry.stored(&id)?.is_none() {
        return Err(ApiError::not_found("account"));
    }
    let (entries, next) = page(&*st.kv, &keys::ledger_prefix(&id), &q, |v| {
        decode_record(v)
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.to_json())
    })?;
    Ok(HttpResponse::Ok().json(json!({"entries": entries, "next_cursor": next})))
}
