//! The simulator's control endpoint: what tests ask a carrier after the fact. `GET /stats`
//! answers `{"submits": N, "repeats": M}`: submit_sm taken, and how many of them repeated
//! a destination and text taken before (a message the switch sent twice), plus
//! `udh_parts` and `sar_parts`: submits that were parts of a long message, by how they
//! were joined.

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
    }))
}
