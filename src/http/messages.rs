//! `GET /messages/{id}`: one message, its state and its history.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::{ApiError, AppState};
use crate::domain::message::MessageState;
use crate::store::{keys, messages};

pub(super) async fn get(
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let v = st
        .kv
        .get(&keys::message(&id))
        .map_err(|e| ApiError::unavailable(e.to_string()))?
        .ok_or_else(|| ApiError::not_found("message"))?;
    let rec = messages::decode_record(&v)
        .map_err(|e| ApiError::unavailable(format!("message record unreadable: {e}")))?;
    let history = rec.history();
    let meta = rec.meta;
    let state = history.last().map(|e| e.state.clone());
    let (carrier, carrier_id) = history
        .iter()
        .rev()
        .find_map(|e| match &e.state {
            MessageState::Submitted {
                carrier,
                carrier_id,
            } => Some((Some(carrier.clone()), Some(carrier_id.clone()))),
            _ => None,
        })
        .unwrap_or((None, None));
    Ok(HttpResponse::Ok().json(json!({
        "id": meta.id,
        "account": meta.account,
        "destination": meta.dest,
        "parts": meta.parts,
        "price": meta.charged.to_string(),
        "carrier": carrier,
        "carrier_id": carrier_id,
        "state": state,
        "history": history,
    })))
}
