//! `/health/live`, `/health/ready` and `/metrics`: no token, for probes and Prometheus.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::actors::carrier::GetStatus;
use crate::domain::clock::now_ms;
use crate::store::keys;
use crate::store::kv::WriteBatch;

pub(super) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// Ready when the store takes a write and its checkpoints keep up, and a carrier is bound;
/// else 503 with the reason.
pub(super) async fn ready(st: web::Data<AppState>) -> HttpResponse {
    match not_ready(&st).await {
        None => HttpResponse::Ok().json(json!({"status": "ready"})),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "not_ready", "reason": reason})),
    }
}

async fn not_ready(st: &AppState) -> Option<String> {
    if let Err(e) = st.kv.health() {
        return Some(e);
    }
    let mut probe = WriteBatch::default();
    probe.put(keys::READY_PROBE.to_vec(), now_ms().to_be_bytes().to_vec());
    match tokio::time::timeout(Duration::from_secs(2), st.store.commit(probe)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Some(format!("the store cannot write: {e}")),
        Err(_) => return Some("the store did not take a write within 2 s".into()),
    }
    for c in st.carriers.values() {
        if let Ok(Some(s)) = c.send(GetStatus).await
            && s.binds_up > 0
        {
            return None;
        }
    }
    Some("no carrier is bound".into())
}

pub(super) async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(st.prom.render())
}
