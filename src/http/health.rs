//! `/health/live`, `/health/ready` and `/metrics`: no token, for probes and Prometheus.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;

pub(super) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

pub(super) async fn ready() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ready"}))
}

pub(super) async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(st.prom.render())
}
