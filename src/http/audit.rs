//! `GET /audit?limit=&cursor=`: every admin change, oldest first.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::page::{PageQuery, page};
use super::{ApiError, AppState};
use crate::domain::audit::AuditEntry;
use crate::store::keys;

pub(super) async fn list(
    st: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (entries, next) = page(&*st.kv, keys::AUDIT_PREFIX, &q, |v| {
        keys::decode::<AuditEntry>(v).ok().map(|e| e.to_json())
    })?;
    Ok(HttpResponse::Ok().json(json!({"entries": entries, "next_cursor": next})))
}
