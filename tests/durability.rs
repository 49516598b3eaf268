//! Acknowledged means durable: kill -9 with messages in flight loses nothing and the
//! balance matches the stored messages exactly; SIGTERM drains and exits 0; volume.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const PRICE_MICROS: i64 = 10_000; // "0.01"
const OPENING_MICROS: i64 = 100_000_000; // "100.00"

/// Crash cycles: `TERN_CRASH_CYCLES` (3 here; loadtest/README.md has the long run).
fn crash_cycles() -> usize {
    std::env::var("TERN_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// The carrier's window (binds × window): at most this many messages are out at a kill.
const CARRIER_WINDOW: u64 = 200;

#[tokio::test]
async fn kill_9_under_load_again_and_again_loses_nothing() {
    // the carrier outlives tern's crashes, as a real one would
    let sim = Sim::start(&["--dlr-delay-ms", "50"]).await;
    let body = format!(
        "{}{}{}",
        account(
            "demo",
            "demopass",
            "balance = \"100.00\"\nprice = \"0.01\"\ntps = 100000"
        ),
        carrier("c1", sim.port, &format!("window = {CARRIER_WINDOW}")),
        route("", &["c1"])
    );
    let mut t = Tern::start(&body).await;
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let receipted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let cycles = crash_cycles();
    let mut next = 0u32;
    for cycle in 0..cycles {
        // receipts flow to the ESME while it submits: some are in flight at the kill
        let mut rx = bind(t.smpp, "demo", "demopass", Mode::Rx)
            .await
            .expect("bind rx");
        let got = receipted.clone();
        let collector = tokio::spawn(async move {
            while let Some(r) = rx.receipts.recv().await {
                got.lock()
                    .unwrap()
                    .insert(r.tlv_id.expect("receipted_message_id"));
            }
        });
        let e = bind(t.smpp, "demo", "demopass", Mode::Tx)
            .await
            .expect("bind");
        let before = acked.lock().unwrap().len();
        let sem = Arc::new(tokio::sync::Semaphore::new(20));
        let mut tasks = Vec::new();
        while acked.lock().unwrap().len() < before + 300 {
            let permit = sem.clone().acquire_owned().await.unwrap();
            let (c, acked2) = (e.client.clone(), acked.clone());
            let i = next;
            next += 1;
            tasks.push(tokio::spawn(async move {
                if let Ok(id) = submit(&c, sm("ACME", &format!("4917{i:08}"), "crash")).await {
                    acked2.lock().unwrap().insert(id);
                }
                drop(permit);
            }));
        }
        // crash while submits, carrier submits and receipts are all in flight
        t.kill9();
        for task in tasks {
            let _ = task.await;
        }
        collector.abort();
        eprintln!(
            "cycle {}: {} acknowledged so far, {} receipted",
            cycle + 1,
            acked.lock().unwrap().len(),
            receipted.lock().unwrap().len()
        );
        t.restart().await;
    }

    let acked = acked.lock().unwrap().clone();
    let balance = micros(&t.balance("demo").await);
    let charged = OPENING_MICROS - balance;
    assert_eq!(
        charged % PRICE_MICROS,
        0,
        "balance {balance} is not a whole number of charges"
    );
    let stored = (charged / PRICE_MICROS) as usize;
    assert!(
        stored >= acked.len(),
        "charged for {stored} messages but {} were acknowledged",
        acked.len()
    );

    // the ledger: its entries add up, and no message is charged twice
    let entries = assert_ledger_exact(&t, "demo").await;
    let charges: Vec<&str> = entries
        .iter()
        .filter(|e| e["kind"] == "charge")
        .filter_map(|e| e["message_id"].as_str())
        .collect();
    let distinct: HashSet<&str> = charges.iter().copied().collect();
    eprintln!(
        "ledger: {} entries, {} charges for {} messages, {} refunds",
        entries.len(),
        charges.len(),
        distinct.len(),
        entries.iter().filter(|e| e["kind"] == "refund").count()
    );
    assert_eq!(charges.len(), distinct.len(), "a message charged twice");

    // every stored message, acknowledged or not, finishes and its receipt reaches the ESME
    let mut rx = bind(t.smpp, "demo", "demopass", Mode::Rx)
        .await
        .expect("bind rx");
    let mut got = receipted.lock().unwrap().clone();
    let t0 = Instant::now();
    while got.len() < stored {
        let left = Duration::from_secs(90).saturating_sub(t0.elapsed());
        match tokio::time::timeout(left, rx.receipts.recv()).await {
            Ok(Some(r)) => {
                got.insert(r.tlv_id.expect("receipted_message_id"));
            }
            _ => break,
        }
    }
    let missing: Vec<_> = acked.difference(&got).take(5).collect();
    assert!(
        missing.is_empty(),
        "acknowledged messages lost: {missing:?} ({} of {})",
        acked.len() - acked.intersection(&got).count(),
        acked.len()
    );
    assert_eq!(
        got.len(),
        stored,
        "receipts for exactly the stored (charged) messages"
    );
    // nothing charged twice by the resumes
    assert_eq!(micros(&t.balance("demo").await), balance);
    // at-least-once to the carrier: only what was in its window at a kill may go twice
    let (submits, repeats) = sim.stats().await;
    eprintln!(
        "{cycles} crashes: {} acknowledged, {stored} stored, {submits} submits to the carrier, {repeats} sent twice",
        acked.len()
    );
    assert!(
        repeats <= cycles as u64 * CARRIER_WINDOW,
        "{repeats} messages sent twice in {cycles} crashes; at most the carrier's window ({CARRIER_WINDOW}) each"
    );
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let sim = Sim::start(&[]).await;
    let body = format!(
        "{}{}{}",
        account("demo", "demopass", "balance = \"10\"\nprice = \"0.01\""),
        carrier("c1", sim.port, ""),
        route("", &["c1"])
    );
    let mut t = Tern::start(&body).await;
    let e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let id = submit(&e.client, sm("ACME", "4917", "x"))
        .await
        .expect("accepted");
    let st = t.terminate();
    assert!(st.success(), "exit status {st:?}\n{}", t.log());
    // a clean stop: the carrier is unbound, not cut off, and nothing is worth a warning
    let log = t.log();
    let stop = log.find("shutting down").expect("the stop is logged");
    assert!(
        !log[stop..].contains(" WARN ") && !log[stop..].contains(" ERROR "),
        "warnings at a clean stop:\n{}",
        &log[stop..]
    );
    // the ESME was unbound, not just cut off
    let t0 = Instant::now();
    while !e.client.is_closed() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "ESME still connected after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // the message survived the restart
    t.restart().await;
    let (code, _) = t.get(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn ten_thousand_messages_window_100_all_receipted() {
    let sim = Sim::start(&["--dlr-delay-ms", "5"]).await;
    let body = format!(
        "{}{}{}",
        account(
            "demo",
            "demopass",
            "balance = \"1000\"\nprice = \"0.01\"\ntps = 1000000\nmax_binds = 2"
        ),
        carrier("c1", sim.port, "binds = 2"),
        route("", &["c1"])
    );
    let t = Tern::start(&body).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let n = 10_000u32;
    let sem = Arc::new(tokio::sync::Semaphore::new(100));
    let ids: Arc<Mutex<HashSet<String>>> = Arc::default();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let c = e.client.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let id = submit(&c, sm("ACME", &format!("4917{i:08}"), "load"))
                .await
                .expect("accepted");
            assert!(ids.lock().unwrap().insert(id), "duplicate message id");
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let submit_s = t0.elapsed().as_secs_f64();
    let mut got = HashSet::new();
    while got.len() < n as usize {
        let r = e.next_receipt(60).await;
        assert!(got.insert(r.tlv_id.unwrap()), "duplicate receipt");
    }
    assert_eq!(&got, &*ids.lock().unwrap());
    eprintln!(
        "10k: submit {:.0} msg/s, end to end {:.0} msg/s (debug build, not a benchmark)",
        n as f64 / submit_s,
        n as f64 / t0.elapsed().as_secs_f64()
    );
    assert_eq!(t.balance("demo").await, "900.000000");
}

#[tokio::test]
async fn durability_os_acks_and_survives_a_clean_restart() {
    let sim = Sim::start(&[]).await;
    let body = format!(
        "{}{}{}",
        account("demo", "demopass", "balance = \"10\"\nprice = \"0.01\""),
        carrier("c1", sim.port, ""),
        route("", &["c1"])
    );
    let mut t = Tern::start_full("durability = \"os\"", "", &body).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let id = submit(&e.client, sm("ACME", "4917", "x"))
        .await
        .expect("accepted");
    assert_eq!(
        e.next_receipt(20).await.tlv_id.as_deref(),
        Some(id.as_str())
    );
    // a clean stop flushes what "os" acknowledged without waiting for it
    assert!(t.terminate().success());
    t.restart().await;
    assert_eq!(t.balance("demo").await, "9.990000");
    let (code, body) = t.get(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(code, 200, "{body}");
}

#[test]
fn check_config_reports_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "[node]\ndata_dir = \"d\"\n\n[[accounts]]\nsystem_id = \"a\"\npassword = \"muchtoolong\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:6:", p.display())), "{err}");
    assert!(err.contains("password"), "{err}");
    let ok = std::process::Command::new(BIN)
        .args(["check-config", "--config", "config/tern.toml"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[tokio::test]
async fn messages_waiting_for_a_carrier_survive_a_restart() {
    // the carrier is down: every message waits for another pass over its route
    let port = free_port();
    let mut t = Tern::start(&format!(
        "{}{}{}",
        account(
            "demo",
            "demopass",
            "balance = \"10.00\"\nprice = \"0.01\"\ntps = 10000\n"
        ),
        carrier("c1", port, ""),
        route("", &["c1"])
    ))
    .await;
    let e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            submit(&e.client, sm("ACME", "491700000001", &format!("part {i}")))
                .await
                .expect("accepted"),
        );
    }
    drop(e);
    t.kill9();
    // the carrier comes up, tern comes back: every waiting message reaches it, once
    let _sim = Sim::start_on(port, &["--dlr-delay-ms", "0"]).await;
    t.restart().await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind again");
    let mut got = std::collections::HashSet::new();
    while got.len() < ids.len() {
        let r = e.next_receipt(30).await;
        assert_eq!(field(&r.text, "stat"), Some("DELIVRD"), "{}", r.text);
        assert!(got.insert(r.tlv_id.expect("id")), "a receipt came twice");
    }
    assert_eq!(got, ids.into_iter().collect());
    assert_eq!(t.balance("demo").await, "9.950000", "charged once each");
}
