//! The customer HTTP API (`[api] listen`, `/v1`): applications that do not speak SMPP
//! send messages and read them back. Every request carries an account's API key
//! (`Authorization: Bearer tk_...`, [`crate::api_keys`]); one guard on the whole scope
//! checks it and the account's `allowed_ips`, and hands the handlers the [`Caller`]. An
//! account only ever sees its own messages.
//!
//! A message sent here takes the SMPP path from the ledger on: rated, charged and stored
//! in one batch per part, routed, sent and receipted like a submit_sm.

pub mod idempotency;
mod messages;
pub mod view;

use std::sync::Arc;
use std::sync::atomic::AtomicU16;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, web};
use tokio::sync::watch;

use super::ApiError;
use crate::accounts::{Account, AccountTable};
use crate::actors::ledger::LedgerShards;
use crate::api_keys::{ApiKey, ApiKeyTable};
use crate::domain::backlog::Backlogs;
use crate::domain::route::RouteTable;
use crate::store::kv::Kv;

/// What the customer API's handlers need.
#[derive(Clone)]
pub struct CustomerState {
    /// The store (ids, reads).
    pub kv: Arc<dyn Kv>,
    /// Accounts.
    pub accounts: watch::Receiver<Arc<AccountTable>>,
    /// Live API keys.
    pub api_keys: watch::Receiver<Arc<ApiKeyTable>>,
    /// Routes.
    pub routes: watch::Receiver<Arc<RouteTable>>,
    /// Carrier queue depths: a message for a carrier that holds all it may is refused.
    pub backlogs: Backlogs,
    /// Ledgers: charge and store.
    pub ledgers: LedgerShards,
    /// Concatenation references, one per split message (wraps).
    pub references: Arc<AtomicU16>,
    /// Longest validity a client may ask for (`message_ttl_s`).
    pub max_validity_s: u64,
    /// `Idempotency-Key`s of requests being answered.
    pub in_flight: idempotency::InFlight,
    /// Handsets that opted out: messages to them are refused (403 `opted_out`).
    pub suppressions: Arc<crate::suppressions::Suppressions>,
}

/// The account a request is from, and the key it came with.
#[derive(Clone)]
pub struct Caller {
    /// The account as it is now.
    pub account: Arc<Account>,
    /// The key.
    pub key: Arc<ApiKey>,
}

/// The one check of every `/v1` request: a live key of a live account, from an address
/// the account allows. 401 for no or a wrong key; 403 from an address it does not allow.
async fn api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let caller = match req.app_data::<web::Data<CustomerState>>() {
        Some(st) => who(st, &req),
        None => Err(ApiError::unavailable("customer API not configured")),
    };
    match caller {
        Ok(c) => {
            req.extensions_mut().insert(c);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(e) => {
            let resp = actix_web::ResponseError::error_response(&e);
            Ok(req.into_response(resp).map_into_right_body())
        }
    }
}

fn who(st: &CustomerState, req: &ServiceRequest) -> Result<Caller, ApiError> {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API key",
        )
    };
    let presented = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let key = crate::api_keys::check(&st.api_keys.borrow(), presented).ok_or_else(unauthorized)?;
    // a deleted account's keys stop with it
    let account = st
        .accounts
        .borrow()
        .get(&key.account)
        .cloned()
        .ok_or_else(unauthorized)?;
    let allowed = req
        .peer_addr()
        .is_some_and(|a| account.allowed_ips.allows(a.ip()));
    if !allowed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            "this account does not allow requests from this address",
        ));
    }
    Ok(Caller { account, key })
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("endpoint"))
}

super::api_routes! { customer_routes, "/v1";
    post "/messages" => messages::send, "send a message (202 once stored and charged; Idempotency-Key to retry safely)";
    get "/messages" => messages::list, "the account's messages, oldest first, a page at a time";
    get "/messages/{id}" => messages::get, "one message with each part's state";
}

/// The customer API's OpenAPI document.
pub const OPENAPI: super::openapi::Api = super::openapi::Api {
    title: "tern customer API",
    description: "Send SMS over HTTP and read them back; outcomes come as signed webhooks (Standard Webhooks). docs/customer-api.md has the rules and examples.",
    prefix: "/v1",
    routes: API,
    body: messages::body_schema,
    statuses: &[
        (
            "post",
            "/messages",
            "202",
            "accepted: {\"id\", \"parts\", \"price\"}",
        ),
        ("post", "/messages", "402", "no_credit"),
        (
            "post",
            "/messages",
            "403",
            "ip_not_allowed, or opted_out (the recipient sent STOP to this sender)",
        ),
        ("post", "/messages", "409", "idempotency_in_flight"),
        ("post", "/messages", "413", "too_large"),
        ("post", "/messages", "422", "idempotency_mismatch"),
        ("post", "/messages", "429", "throttled (Retry-After)"),
        (
            "post",
            "/messages",
            "503",
            "queue_full or unavailable (Retry-After)",
        ),
    ],
};

/// The customer API's OpenAPI document, with the `Idempotency-Key` header of a send.
pub fn openapi_spec() -> serde_json::Value {
    let mut doc = super::openapi::spec(&OPENAPI);
    if let Some(params) = doc["paths"]["/v1/messages"]["post"]["parameters"].as_array_mut() {
        params.push(serde_json::json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "schema": {"type": "string", "minLength": 1, "maxLength": idempotency::MAX_KEY},
            "description": "the same key and body within 24 h get the first answer; the message is sent once",
        }));
    }
    doc
}

async fn openapi() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(openapi_spec())
}

/// Registers the customer API on an actix-web `App` (which holds a [`CustomerState`]).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let query =
        web::QueryConfig::default().error_handler(|e, _| ApiError::invalid("query", e).into());
    cfg.app_data(query)
        .route("/health/live", web::get().to(super::health::live))
        // the document holds no secret: readable without a key, ahead of the guarded scope
        .route("/v1/openapi.json", web::get().to(openapi))
        .service(
            customer_routes()
                .wrap(from_fn(api_key))
                .default_service(web::to(not_found)),
        )
        .default_service(web::to(not_found));
}
