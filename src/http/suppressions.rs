//! `GET|POST|DELETE /suppressions`: the handsets that opted out of an account's messages
//! from a number (by keyword, or put there by an operator). Changes are durable and
//! audited before submits see them.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::json_body;
use super::{ApiError, AppState, operator};
use crate::domain::clock::rfc3339;
use crate::domain::mo::OptChange;
use crate::store::keys::Suppression;

/// `?account=` (list), and with `handset=&number=` (delete).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Query {
    account: Option<String>,
    handset: Option<String>,
    number: Option<String>,
}

/// `POST /suppressions` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    account: String,
    handset: String,
    number: String,
}

fn view(e: &Suppression) -> serde_json::Value {
    json!({
        "account": e.account,
        "handset": e.handset,
        "number": e.number,
        "since": rfc3339(e.since_ms),
        "source": e.source,
    })
}

pub(super) async fn list(
    st: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let all = st.registry.suppressions(q.account.as_deref())?;
    let out: Vec<_> = all.iter().map(view).collect();
    Ok(HttpResponse::Ok().json(json!({ "suppressions": out })))
}

pub(super) async fn add(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let e: Entry = json_body(body).await?;
    let stored = st
        .registry
        .change_suppression(
            &e.account,
            &e.handset,
            &e.number,
            OptChange::OptOut,
            &operator(&req),
        )
        .await?;
    Ok(HttpResponse::Created().json(view(&stored)))
}

pub(super) async fn remove(
    req: HttpRequest,
    st: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let need = |v: &Option<String>, name: &str| {
        v.clone()
            .ok_or_else(|| ApiError::invalid(name, "required to remove an entry"))
    };
    let (account, handset, number) = (
        need(&q.account, "account")?,
        need(&q.handset, "handset")?,
        need(&q.number, "number")?,
    );
    st.registry
        .change_suppression(
            &account,
            &handset,
            &number,
            OptChange::OptIn,
            &operator(&req),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
