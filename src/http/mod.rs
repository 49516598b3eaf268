//! actix-web: health, Prometheus `/metrics`, and the read side of the admin API.
//!
//! Implemented so far: `GET /api/v1/accounts[/{id}]` (with live balance),
//! `GET /api/v1/messages/{id}` (state history), `GET /api/v1/carriers[/{id}]`,
//! `GET /api/v1/sessions`. Writes (POST/PUT/DELETE) come with the admin API issue.

use std::collections::HashMap;
use std::sync::Arc;

use actix::Addr;
use actix_web::{HttpRequest, HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::sync::watch;

use crate::accounts::AccountTable;
use crate::actors::carrier::{Carrier, GetStatus};
use crate::actors::delivery::{Delivery, ListBinds};
use crate::actors::ledger::{GetBalance, LedgerShards};
use crate::store::keys;
use crate::store::kv::Kv;
use crate::store::messages;

/// What the handlers need.
#[derive(Clone)]
pub struct AppState {
    /// Bearer token for /api/v1.
    pub token: Arc<String>,
    /// Metrics renderer.
    pub prom: PrometheusHandle,
    /// The store, read-only here.
    pub kv: Arc<dyn Kv>,
    /// Accounts.
    pub accounts: watch::Receiver<Arc<AccountTable>>,
    /// Ledgers, for balances.
    pub ledgers: LedgerShards,
    /// Carriers.
    pub carriers: Arc<HashMap<String, Addr<Carrier>>>,
    /// Delivery, for sessions.
    pub delivery: Addr<Delivery>,
}

fn error(status: actix_web::http::StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message}}))
}

fn authorized(req: &HttpRequest, st: &AppState) -> Result<(), Box<HttpResponse>> {
    let ok = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.as_bytes(), st.token.as_bytes()));
    if ok {
        Ok(())
    } else {
        Err(Box::new(error(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        )))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

async fn ready() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ready"}))
}

async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(st.prom.render())
}

async fn account_json(st: &AppState, id: &str) -> Option<serde_json::Value> {
    let acct = st.accounts.borrow().get(id).cloned()?;
    let balance = st
        .ledgers
        .for_key(id)
        .send(GetBalance(id.to_string()))
        .await
        .ok()
        .flatten()?;
    Some(json!({
        "system_id": acct.system_id,
        "tps": acct.tps,
        "max_binds": acct.max_binds,
        "balance": balance.to_string(),
        "price": acct.price.to_string(),
        "allowed_sources": acct.allowed_sources,
    }))
}

async fn list_accounts(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    if let Err(r) = authorized(&req, &st) {
        return *r;
    }
    let mut ids: Vec<String> = st.accounts.borrow().keys().cloned().collect();
    ids.sort();
    let mut out = Vec::new();
    for id in ids {
        if let Some(a) = account_json(&st, &id).await {
            out.push(a);
        }
    }
    HttpResponse::Ok().json(json!({"accounts": out}))
}

async fn get_account(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    if let Err(r) = authorized(&req, &st) {
        return *r;
    }
    match account_json(&st, &id).await {
        Some(a) => HttpResponse::Ok().json(a),
        None => error(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            "no such account",
        ),
    }
}

async fn get_message(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    if let Err(r) = authorized(&req, &st) {
        return *r;
    }
    let Ok(Some(v)) = st.kv.get(&keys::message(&id)) else {
        return error(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            "no such message",
        );
    };
    let Ok(rec) = messages::decode_record(&v) else {
        return error(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "corrupt",
            "message record unreadable",
        );
    };
    let history = rec.history();
    let meta = rec.meta;
    let state = history.last().map(|e| e.state.clone());
    let (carrier, carrier_id) = history
        .iter()
        .rev()
        .find_map(|e| match &e.state {
            crate::domain::message::MessageState::Submitted {
                carrier,
                carrier_id,
            } => Some((Some(carrier.clone()), Some(carrier_id.clone()))),
            _ => None,
        })
        .unwrap_or((None, None));
    HttpResponse::Ok().json(json!({
        "id": meta.id,
        "account": meta.account,
        "destination": meta.dest,
        "parts": meta.parts,
        "price": meta.charged.to_string(),
        "carrier": carrier,
        "carrier_id": carrier_id,
        "state": state,
        "history": history,
    }))
}

async fn list_carriers(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    if let Err(r) = authorized(&req, &st) {
        return *r;
    }
    let mut out = Vec::new();
    for c in st.carriers.values() {
        if let Ok(Some(s)) = c.send(GetStatus).await {
            out.push(s);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    HttpResponse::Ok().json(json!({"carriers": out}))
}

async fn get_carrier(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    if let Err(r) = authorized(&req, &st) {
        return *r;
    }
    let Some(c) = st.carriers.get(id.as_str()) else {
        return error(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            "no such carrier",
        );
    };
    match c.send(GetStatus).await {
        Ok(Some(s)) => HttpResponse::Ok().json(s),
        Ok(None) | Err(_) => error(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "carrier not running",
        ),
    }
}

async fn sessions(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    if let Err(r) = authorized(&req, &st) {
        return *r;
    }
    match st.delivery.send(ListBinds).await {
        Ok(b) => HttpResponse::Ok().json(json!({"sessions": b})),
        Err(_) => error(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "delivery not running",
        ),
    }
}

async fn not_found() -> HttpResponse {
    error(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint",
    )
}

/// Registers every route on an actix-web `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(live))
        .route("/health/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics))
        .route("/api/v1/accounts", web::get().to(list_accounts))
        .route("/api/v1/accounts/{id}", web::get().to(get_account))
        .route("/api/v1/messages/{id}", web::get().to(get_message))
        .route("/api/v1/carriers", web::get().to(list_carriers))
        .route("/api/v1/carriers/{id}", web::get().to(get_carrier))
        .route("/api/v1/sessions", web::get().to(sessions))
        .default_service(web::to(not_found));
}
