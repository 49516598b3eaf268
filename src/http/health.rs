//! `/health/live`, `/health/ready` and `/metrics`: no token, for probes and Prometheus.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::actors::carrier::GetStatus;
use crate::domain::clock::now_ms;
use crate::store::keys;
use crate::store::kv::WriteBatch;

pub(super) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// Ready when the store takes a write and its checkpoints keep up, and a carrier is bound;
/// else 503 with the reason.
pub(super) async fn ready(st: web::Data<AppState>) -> HttpResponse {
    match not_ready(&st).await {
        None => HttpResponse::Ok().json(json!({"status": "ready"})),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "not_ready", "reason": reason})),
    }
}

async fn not_ready(st: &AppState) -> Option<String> {
    if let Err(e) = st.kv.health() {
        return Some(e);
    }
    let mut probe = WriteBatch::default();
    probe.put(keys::READY_PROBE.to_vec(), now_ms().to_be_bytes().to_vec());
    match tokio::time::timeout(Duration::from_secs(2), st.store.commit(probe)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Some(format!("the store cannot write: {e}")),
        Err(_) => return Some("the store did not take a write within 2 s".into()),
    }
    for (_, c) in st.carriers.all() {
        if let Ok(Some(s)) = c.send(GetStatus).await
            && s.binds_up > 0
        {
            return None;
        }
    }
    Some("no carrier is bound".into())
}

pub(super) async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    process_gauges();
    metrics::gauge!("tern_store_ready").set(if st.kv.health().is_ok() { 1.0 } else { 0.0 });
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(st.prom.render())
}

/// The process's CPU time, resident memory and open file descriptors, read from /proc at
/// each scrape (Linux; elsewhere they are left out), under Prometheus's usual names.
fn process_gauges() {
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((_, after)) = stat.rsplit_once(')')
    {
        let f: Vec<&str> = after.split_whitespace().collect();
        // utime and stime, in clock ticks: 100 per second on Linux (USER_HZ)
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| f.get(i)?.parse::<u64>().ok())
            .sum();
        metrics::gauge!("process_cpu_seconds_total").set(ticks as f64 / 100.0);
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    {
        metrics::gauge!("process_resident_memory_bytes").set(kb * 1024.0);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!("process_open_fds").set(fds.count() as f64);
    }
}
