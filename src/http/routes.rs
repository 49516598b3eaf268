//! `GET|PUT /routes`: the whole route table, validated and swapped at once.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::json_body;
use super::{ApiError, AppState, operator};
use crate::domain::route::Route;

/// `PUT /routes` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    routes: Vec<Route>,
}

pub(super) async fn get(st: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let routes = st.registry.routes()?;
    Ok(HttpResponse::Ok().json(json!({ "routes": routes })))
}

pub(super) async fn replace(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let t: Table = json_body(body).await?;
    st.registry
        .replace_routes(t.routes, &operator(&req))
        .await?;
    get(st).await
}
