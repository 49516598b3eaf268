//! `GET /carriers[/{id}]`: carriers and their live state (binds up, breaker, queue, rate).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{ApiError, AppState, operator};
use crate::actors::carrier::GetStatus;

pub(super) async fn list(st: web::Data<AppState>) -> HttpResponse {
    let mut out = Vec::new();
    for c in st.carriers.values() {
        if let Ok(Some(s)) = c.send(GetStatus).await {
            out.push(s);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    HttpResponse::Ok().json(json!({"carriers": out}))
}

pub(super) async fn get(
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = st
        .carriers
        .get(id.as_str())
        .ok_or_else(|| ApiError::not_found("carrier"))?;
    match c.send(GetStatus).await {
        Ok(Some(s)) => Ok(HttpResponse::Ok().json(s)),
        Ok(None) | Err(_) => Err(ApiError::unavailable("carrier not running")),
    }
}

/// Stops or starts a carrier: recorded (it stays so across restarts), then in force.
async fn set_stopped(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
    stopped: bool,
) -> Result<HttpResponse, ApiError> {
    let c = st
        .carriers
        .get(id.as_str())
        .ok_or_else(|| ApiError::not_found("carrier"))?
        .clone();
    st.registry
        .stop_carrier(&id, &c, stopped, &operator(&req))
        .await?;
    get(st, id).await
}

pub(super) async fn stop(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_stopped(req, st, id, true).await
}

pub(super) async fn start(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_stopped(req, st, id, false).await
}
