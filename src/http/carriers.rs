//! `GET /carriers[/{id}]`: carriers and their live state (binds up, breaker, queue, rate).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::error::json_body;
use super::{ApiError, AppState, operator};
use crate::actors::carrier::GetStatus;
use crate::config::CarrierConfig;

pub(super) async fn list(st: web::Data<AppState>) -> HttpResponse {
    let mut out = Vec::new();
    for (_, c) in st.carriers.all() {
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
    let settings = st.registry.carrier(&id)?;
    match c.send(GetStatus).await {
        Ok(Some(s)) => {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["settings"] = settings.map(|c| c.to_json()).unwrap_or_default();
            Ok(HttpResponse::Ok().json(v))
        }
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
        .ok_or_else(|| ApiError::not_found("carrier"))?;
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

pub(super) async fn create(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let c: CarrierConfig = json_body(body).await?;
    let id = c.id.clone();
    st.registry.create_carrier(c, &operator(&req)).await?;
    let shown = get(st, web::Path::from(id)).await?;
    Ok(HttpResponse::Created()
        .content_type("application/json")
        .body(shown.into_body()))
}

pub(super) async fn update(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let change: serde_json::Map<String, serde_json::Value> = json_body(body).await?;
    st.registry
        .update_carrier(&id, change, &operator(&req))
        .await?;
    get(st, id).await
}

pub(super) async fn delete(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    st.registry.delete_carrier(&id, &operator(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}
