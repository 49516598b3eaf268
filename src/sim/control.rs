//! The simulator's control endpoint: what tests ask a carrier after the fact. `GET /stats`
//! answers `{"submits": N, "repeats": M}`: submit_sm taken, and how many of them repeated
//! a destination and text taken before (a message the switch sent twice), plus
//! `udh_parts` and `sar_parts`: submits that were parts of a long message, by how they
//! were joined, and `mo_sent` / `mo_acked`: MO parts written to the switch (each time) and
//! acknowledged by it.
//!
//! `POST /mo` `{"from", "to", "text", "joined"?: "udh8"|"udh16"|"sar", "system_id"?}` sends
//! a handset's MO (in parts when the text needs more than one SMS) on a bound connection
//! (of `system_id`, else any): 202 `{"parts": n}`, or 409 when no client is bound.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix_web::{App, HttpResponse, HttpServer, web};

use super::Sim;

/// Starts the endpoint on `addr` (an actix system must be running).
pub(super) fn start(addr: &str, sim: Arc<Sim>) -> std::io::Result<()> {
    let state = web::Data::new(sim);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/stats", web::get().to(stats))
            .route("/mo", web::post().to(mo))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?
    .run();
    actix_rt::spawn(server);
    Ok(())
}

async fn stats(sim: web::Data<Arc<Sim>>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "submits": sim.submits.load(Ordering::Relaxed),
        "repeats": sim.repeats.load(Ordering::Relaxed),
        "udh_parts": sim.udh_parts.load(Ordering::Relaxed),
        "sar_parts": sim.sar_parts.load(Ordering::Relaxed),
        "mo_sent": sim.mo_sent.load(Ordering::Relaxed),
        "mo_acked": sim.mo_acked.load(Ordering::Relaxed),
    }))
}

/// `POST /mo` body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SendMo {
    from: String,
    to: String,
    text: String,
    #[serde(default)]
    joined: Option<crate::protocol::mo::Joined>,
    #[serde(default)]
    system_id: Option<String>,
}

/// Takes a JSON body whatever its content type says (`curl -d` sends a form type).
async fn mo(sim: web::Data<Arc<Sim>>, body: web::Bytes) -> HttpResponse {
    let m: SendMo = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            return HttpResponse::BadRequest()
                .json(serde_json::json!({"error": format!("not an MO: {e}")}));
        }
    };
    let reference = sim.mo_reference.fetch_add(1, Ordering::Relaxed);
    let joined = m.joined.unwrap_or(crate::protocol::mo::Joined::Udh8);
    let Some(parts) = crate::protocol::mo::from_handset(&m.from, &m.to, &m.text, joined, reference)
    else {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({"error": "the MO cannot be made into deliver_sm"}));
    };
    let n = parts.len();
    if !sim.send_mo(m.system_id.as_deref(), parts) {
        return HttpResponse::Conflict().json(serde_json::json!({"error": "no client is bound"}));
    }
    HttpResponse::Accepted().json(serde_json::json!({ "parts": n }))
}
