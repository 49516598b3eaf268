//! actix-web: the admin API under `/api/v1` (one bearer-token guard on the whole scope),
//! health and Prometheus `/metrics`. One file per resource; the error shape and body
//! reading in `error.rs`, listings in `page.rs`.

mod accounts;
mod api_keys;
mod audit;
mod carriers;
pub mod customer;
mod error;
mod health;
mod messages;
mod mo_routes;
pub mod openapi;
mod page;
mod routes;
mod sessions;
mod suppressions;

use std::sync::Arc;

use actix::Addr;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpRequest, web};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use crate::accounts::AccountTable;
use crate::actors::carrier::CarrierSet;
use crate::actors::delivery::Delivery;
use crate::actors::ledger::LedgerShards;
use crate::registry::Registry;
use crate::store::kv::Kv;

pub use error::ApiError;

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
    /// Ledgers, for balances, credits and debits.
    pub ledgers: LedgerShards,
    /// Carriers.
    pub carriers: CarrierSet,
    /// Delivery, for sessions.
    pub delivery: Addr<Delivery>,
    /// Account and route changes.
    pub registry: Arc<Registry>,
    /// The store's writer (readiness writes through it).
    pub store: crate::actors::store::StoreHandle,
}

/// The one check of the admin token, for every route under `/api/v1`: constant-time, 401
/// for a missing or wrong token.
async fn bearer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let ok = match req.app_data::<web::Data<AppState>>() {
        Some(st) => req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| constant_time_eq(t.as_bytes(), st.token.as_bytes())),
        None => false,
    };
    if ok {
        Ok(next.call(req).await?.map_into_left_body())
    } else {
        let resp = actix_web::ResponseError::error_response(&ApiError::unauthorized());
        Ok(req.into_response(resp).map_into_right_body())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // the length is not secret (the token's is fixed); the content is compared in full
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The admin client's address, as the audit trail and ledger record the operator.
fn operator(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("endpoint"))
}

/// Declares an HTTP API once: the routes registered under its scope and the list its
/// OpenAPI document is made from (`API`) come from the same lines, so they cannot drift
/// apart. Used for the admin API here and the customer API (`customer`).
macro_rules! api_routes {
    ($routes:ident, $scope:literal; $( $method:ident $path:literal => $handler:path, $summary:literal; )*) => {
        /// Every route of this API: method, path under its scope, what it does.
        pub const API: &[(&str, &str, &str)] = &[ $( (stringify!($method), $path, $summary), )* ];

        fn $routes() -> actix_web::Scope {
            actix_web::web::scope($scope) $( .route($path, actix_web::web::$method().to($handler)) )*
        }
    };
}
pub(crate) use api_routes;

api_routes! { admin_routes, "/api/v1";
    get "/accounts" => accounts::list, "list accounts with their balances";
    post "/accounts" => accounts::create, "create an account (its opening balance is a ledger entry)";
    get "/accounts/{id}" => accounts::get, "one account with its balance";
    put "/accounts/{id}" => accounts::update, "change an account's fields (not its balance)";
    delete "/accounts/{id}" => accounts::delete, "delete an account: its binds are unbound, its history kept";
    post "/accounts/{id}/credit" => accounts::credit, "credit an account, or debit it with a negative amount";
    get "/accounts/{id}/ledger" => accounts::ledger, "an account's ledger entries, oldest first";
    post "/accounts/{id}/api-keys" => api_keys::create, "make a customer API key (key and webhook secret shown once)";
    get "/accounts/{id}/api-keys" => api_keys::list, "an account's API keys (no secrets)";
    delete "/accounts/{id}/api-keys/{key_id}" => api_keys::revoke, "revoke an API key at once";
    get "/routes" => routes::get, "the route table";
    put "/routes" => routes::replace, "replace the route table (validated, swapped at once)";
    get "/mo-routes" => mo_routes::get, "the MO route table (number written to → account)";
    put "/mo-routes" => mo_routes::replace, "replace the MO route table (validated, swapped at once)";
    get "/suppressions" => suppressions::list, "handsets opted out of an account's messages from a number";
    post "/suppressions" => suppressions::add, "put a handset on an account's suppression list";
    delete "/suppressions" => suppressions::remove, "take a handset off it (?account=&handset=&number=)";
    get "/carriers" => carriers::list, "carriers and their live state";
    post "/carriers" => carriers::create, "add a carrier (it binds at once)";
    get "/carriers/{id}" => carriers::get, "one carrier's live state and settings";
    put "/carriers/{id}" => carriers::update, "change a carrier's settings (it binds again with them)";
    delete "/carriers/{id}" => carriers::delete, "remove a carrier no route names";
    post "/carriers/{id}/stop" => carriers::stop, "stop a carrier: unbind, its traffic fails over (kept across restarts)";
    post "/carriers/{id}/start" => carriers::start, "start a stopped carrier";
    get "/messages" => messages::list, "messages by account, state (SMPP name) and time, oldest first";
    get "/messages/{id}" => messages::get, "one message with its state history";
    get "/sessions" => sessions::list, "live ESME binds";
    get "/audit" => audit::list, "the audit trail of admin changes, oldest first";
    get "/openapi.json" => openapi::document, "this API as an OpenAPI 3 document";
}

/// Registers every route on an actix-web `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // a query string that does not parse is a 400 in the API's own shape
    let query =
        web::QueryConfig::default().error_handler(|e, _| ApiError::invalid("query", e).into());
    cfg.app_data(query)
        .route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .route("/metrics", web::get().to(health::metrics))
        .service(
            admin_routes()
                .wrap(from_fn(bearer))
                .default_service(web::to(not_found)),
        )
        .default_service(web::to(not_found));
}
