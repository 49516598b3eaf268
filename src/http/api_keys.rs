//! `/accounts/{id}/api-keys`: the keys an account's applications send with over the
//! customer API. A key and its webhook secret are shown once, when made.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{ApiError, AppState, operator};

pub(super) async fn create(
    st: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let issued = st.registry.create_api_key(&id, &operator(&req)).await?;
    Ok(HttpResponse::Created().json(json!({
        "key_id": issued.record.key_id,
        "key": issued.key.expose(),
        "webhook_secret": issued.record.webhook_secret.expose(),
    })))
}

pub(super) async fn list(
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match st.registry.stored(&id)? {
        Some(a) if a.deleted_ms.is_none() => {}
        _ => return Err(ApiError::not_found("account")),
    }
    let keys: Vec<_> = st
        .registry
        .account_api_keys(&id)?
        .iter()
        .map(|k| k.to_json())
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "api_keys": keys })))
}

pub(super) async fn revoke(
    st: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (account, key_id) = path.into_inner();
    st.registry
        .revoke_api_key(&account, &key_id, &operator(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
