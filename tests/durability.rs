//! Acknowledged means durable: kill -9 with messages in flight loses nothing and the
//! balance matches the stored messages exactly; SIGTERM drains and exits 0; volume.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const PRICE_MICROS: i64 = 10_000; // "0.01"
const OPENING_MICROS: i64 = 100_000_000; // "100.00"

fn micros(s: &str) -> i64 {
    let (i, f) = s.split_once('.').unwrap_or((s, "0"));
    i.parse::<i64>().unwrap() * 1_000_000 + format!("{f:0<6}")[..6].parse::<i64>().unwrap()
}

#[tokio::test]
async fn kill_9_with_messages_in_flight_loses_nothing() {
    // the carrier outlives tern's crash, as a real one would
    let sim = Sim::start(&["--dlr-delay-ms", "300"]).await;
    let body = format!(
        "{}{}{}",
        account(
            "demo",
            "demopass",
            "balance = \"100.00\"\nprice = \"0.01\"\ntps = 100000"
        ),
        carrier("c1", sim.port, ""),
        route("", &["c1"])
    );
    let mut t = Tern::start(&body).await;
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    {
        let e = bind(t.smpp, "demo", "demopass", Mode::Tx)
            .await
            .expect("bind");
        let sem = Arc::new(tokio::sync::Semaphore::new(20));
        let mut tasks = Vec::new();
        for i in 0..5000u32 {
            let permit = sem.clone().acquire_owned().await.unwrap();
            let c = e.client.clone();
            let acked2 = acked.clone();
            tasks.push(tokio::spawn(async move {
                if let Ok(id) = submit(&c, sm("ACME", &format!("4917{i:08}"), "crash")).await {
                    acked2.lock().unwrap().insert(id);
                }
                drop(permit);
            }));
            if acked.lock().unwrap().len() >= 300 {
                break;
            }
        }
        // crash while submits, carrier submits and receipts are all in flight
        t.kill9();
        for task in tasks {
            let _ = task.await;
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 300,
        "only {} acked before the crash",
        acked.len()
    );

    t.restart().await;
    let balance = micros(&t.balance("demo").await);
    let charged = OPENING_MICROS - balance;
    assert_eq!(
        charged % PRICE_MICROS,
        0,
        "balance {balance} is not a whole number of charges"
    );
    let stored = (charged / PRICE_MICROS) as usize;
    eprintln!(
        "crash: {} acknowledged, {stored} stored before the kill",
        acked.len()
    );
    assert!(
        stored >= acked.len(),
        "charged for {stored} messages but {} were acknowledged",
        acked.len()
    );

    // every stored message, acknowledged or not, finishes and its receipt reaches the ESME
    let mut rx = bind(t.smpp, "demo", "demopass", Mode::Rx)
        .await
        .expect("bind rx");
    let mut got = HashSet::new();
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
    // nothing charged twice by the resume
    assert_eq!(micros(&t.balance("demo").await), balance);
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
