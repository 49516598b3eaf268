//! `/metrics` after real traffic: every name of DESIGN.md's contract, with the values the
//! traffic must have left, process metrics, and no label that grows with traffic.

mod common;

use std::collections::HashSet;

use common::*;

#[tokio::test]
async fn metrics_match_what_happened() {
    let sim = Sim::start(&["--dlr-delay-ms", "0", "--undeliverable-rate", "0.5"]).await;
    let body = format!(
        "{}{}{}",
        account(
            "demo",
            "demopass",
            "balance = \"1.00\"\nprice = \"0.01\"\ntps = 10000\nallowed_sources = [\"ACME\"]\n"
        ),
        carrier("sim", sim.port, ""),
        route("", &["sim"])
    );
    let t = Tern::start(&body).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let mut ids = HashSet::new();
    for i in 0..20 {
        ids.insert(
            submit(&e.client, sm("ACME", &format!("4917{i:08}"), "x"))
                .await
                .expect("accepted"),
        );
    }
    // refused: a sender the account may not use
    for _ in 0..3 {
        assert_eq!(
            submit(&e.client, sm("OTHER", "491700000000", "x")).await,
            Err(0x0A)
        );
    }
    let mut stats = Vec::new();
    for _ in 0..20 {
        let r = e.next_receipt(20).await;
        stats.push(field(&r.text, "stat").unwrap_or("").to_string());
    }
    let delivered = stats.iter().filter(|s| *s == "DELIVRD").count() as f64;
    let undeliv = stats.iter().filter(|s| *s == "UNDELIV").count() as f64;
    assert_eq!(delivered + undeliv, 20.0, "{stats:?}");

    let m = |s: &'static str| {
        let t = &t;
        async move { t.metric(s).await }
    };
    assert_eq!(
        m("tern_submit_total{account=\"demo\",status=\"ESME_ROK\"}").await,
        20.0
    );
    assert_eq!(
        m("tern_submit_total{account=\"demo\",status=\"ESME_RINVSRCADR\"}").await,
        3.0
    );
    assert_eq!(
        m("tern_carrier_submit_total{carrier=\"sim\",status=\"ESME_ROK\"}").await,
        20.0
    );
    assert_eq!(
        m("tern_dlr_total{carrier=\"sim\",stat=\"DELIVRD\"}").await,
        delivered
    );
    assert_eq!(
        m("tern_dlr_total{carrier=\"sim\",stat=\"UNDELIV\"}").await,
        undeliv
    );
    assert_eq!(m("tern_carrier_binds_up{carrier=\"sim\"}").await, 1.0);
    assert_eq!(m("tern_carrier_breaker_state{carrier=\"sim\"}").await, 0.0);
    assert_eq!(m("tern_queue_depth{carrier=\"sim\"}").await, 0.0);
    assert_eq!(m("tern_esme_binds{account=\"demo\"}").await, 1.0);
    assert_eq!(m("tern_account_balance{account=\"demo\"}").await, 0.8);
    assert_eq!(m("tern_submit_latency_seconds_count").await, 20.0);
    assert!(m("tern_store_flush_seconds_count").await >= 1.0);
    assert_eq!(m("tern_store_ready").await, 1.0);
    assert!(m("process_resident_memory_bytes").await > 1e6);
    assert!(m("process_open_fds").await >= 5.0);
    assert!(m("process_cpu_seconds_total").await > 0.0);

    // no label holds a message id or a phone number
    let (_, text) = http_get(t.http, "/metrics", None).await;
    for id in &ids {
        assert!(!text.contains(id.as_str()), "message id {id} in a label");
    }
    assert!(!text.contains("4917"), "a phone number in a label");
}
