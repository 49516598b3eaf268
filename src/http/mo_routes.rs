//! `GET|PUT /mo-routes`: the whole MO route table (number written to → account),
//! validated and swapped at once.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::json_body;
use super::{ApiError, AppState, operator};
use crate::domain::mo::MoRoute;

/// `PUT /mo-routes` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    mo_routes: Vec<MoRoute>,
}

pub(super) async fn get(st: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let routes = st.registry.mo_routes()?;
    Ok(HttpResponse::Ok().json(json!({ "mo_routes": routes })))
}

pub(super) async fn replace(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let t: Table = json_body(body).await?;
    st.registry
        .replace_mo_routes(t.mo_routes, &operator(&req))
        .await?;
    get(st).await
}
