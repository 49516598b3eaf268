//! `GET /sessions`: the live ESME binds.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::{ApiError, AppState};
use crate::actors::delivery::ListBinds;

pub(super) async fn list(st: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let binds = st
        .delivery
        .send(ListBinds)
        .await
        .map_err(|_| ApiError::unavailable("delivery not running"))?;
    Ok(HttpResponse::Ok().json(json!({"sessions": binds})))
}
