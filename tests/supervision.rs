//! A crash stays in the actor it happens in. Failpoints (`TERN_FAILPOINTS`) make one actor
//! panic mid-traffic; the tests assert that the others keep flowing, that nothing
//! acknowledged is lost, and that the crashed actor serves again.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;

fn switch(sim: &Sim, account_extra: &str) -> String {
    format!(
        "{}{}{}",
        account(
            "demo",
            "demopass",
            &format!("balance = \"10.00\"\nprice = \"0.01\"\ntps = 10000\n{account_extra}")
        ),
        carrier("c1", sim.port, ""),
        route("", &["c1"])
    )
}

/// Submits `n` messages one by one; returns the ids accepted and the statuses refused.
async fn submit_n(e: &Esme, n: usize) -> (Vec<String>, Vec<u32>) {
    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    for i in 0..n {
        match submit(&e.client, sm("ACME", &format!("4917{i:06}"), "x")).await {
            Ok(id) => ok.push(id),
            Err(st) => refused.push(st),
        }
    }
    (ok, refused)
}

/// Waits for one receipt per id, each once.
async fn receipts_for(e: &mut Esme, ids: &[String]) {
    let mut got = HashSet::new();
    while got.len() < ids.len() {
        let r = e.next_receipt(30).await;
        assert!(
            got.insert(r.tlv_id.expect("receipted_message_id")),
            "a receipt came twice"
        );
    }
    assert_eq!(got, ids.iter().cloned().collect::<HashSet<_>>());
}

async fn restarts(t: &Tern, actor: &str) -> f64 {
    t.metric(&format!("tern_actor_restarts_total{{actor=\"{actor}\"}}"))
        .await
}

#[tokio::test]
async fn a_ledger_crash_refuses_that_submit_alone_and_the_shard_serves_on() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let t = Tern::start_failing("ledger.accept=5", &switch(&sim, "")).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let (ok, refused) = submit_n(&e, 20).await;
    assert_eq!(refused, [0x08], "the submit in the crash: ESME_RSYSERR");
    assert_eq!(ok.len(), 19);
    receipts_for(&mut e, &ok).await;
    assert_eq!(restarts(&t, "ledger").await, 1.0);
    // charged for exactly the 19 it accepted
    assert_eq!(t.balance("demo").await, "9.810000");
    assert!(t.log().contains("actor crashed"), "the crash is logged");
}

/// Sends `n` messages through a switch with `failpoint` armed: every one must be accepted
/// and receipted once, and `actor` restarted once. The switch (and its carrier) go on.
async fn all_receipted_despite(failpoint: &str, actor: &str, n: usize) -> (Sim, Tern) {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let t = Tern::start_failing(failpoint, &switch(&sim, "")).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let (ok, refused) = submit_n(&e, n).await;
    assert!(refused.is_empty(), "{refused:?}");
    receipts_for(&mut e, &ok).await;
    assert_eq!(restarts(&t, actor).await, 1.0);
    (sim, t)
}

#[tokio::test]
async fn a_correlator_crash_loses_no_receipt() {
    // the receipt in the crash is answered "not stored"; the carrier sends it again
    all_receipted_despite("correlator.receipt=3", "correlator", 10).await;
}

#[tokio::test]
async fn a_correlator_crash_while_registering_loses_no_receipt() {
    // the first carrier id mapping crashes its shard; the receipt comes right behind it
    all_receipted_despite("correlator.register=1", "correlator", 5).await;
}

#[tokio::test]
async fn a_carrier_crash_keeps_its_queue_and_sends_on() {
    let (_sim, t) = all_receipted_despite("carrier.submit=4", "carrier", 10).await;
    let (st, body) = t.get("/api/v1/carriers/c1").await;
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("\"binds_up\":1"), "{body}");
}

#[tokio::test]
async fn a_carrier_crash_with_an_answer_in_hand_loses_no_message() {
    // c1 refuses everything (temporary); the Carrier crashes as it takes the first answer,
    // the refusal of the first message, which must still go on to c2
    let sim = Sim::start(&["--fail-rate", "1.0", "--fail-status", "0x08"]).await;
    let good = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}{}",
        account(
            "demo",
            "demopass",
            "balance = \"10.00\"\nprice = \"0.01\"\ntps = 10000\n"
        ),
        carrier("c1", sim.port, "breaker_failures = 1000"),
        carrier("c2", good.port, ""),
        route("", &["c1", "c2"])
    );
    let t = Tern::start_failing("carrier.submit_done=1", &body).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let (ok, refused) = submit_n(&e, 20).await;
    assert!(refused.is_empty(), "{refused:?}");
    receipts_for(&mut e, &ok).await;
    assert_eq!(restarts(&t, "carrier").await, 1.0);
}

#[tokio::test]
async fn an_esme_session_crash_closes_it_and_releases_its_bind() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let t = Tern::start_failing("esme.submit=2", &switch(&sim, "max_binds = 1")).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let (first, _) = submit_n(&e, 1).await;
    assert_eq!(first.len(), 1);
    receipts_for(&mut e, &first).await;
    // the second submit crashes the session: the connection closes unanswered
    let crashed = tokio::time::timeout(
        Duration::from_secs(10),
        submit(&e.client, sm("ACME", "4917000001", "x")),
    )
    .await;
    assert!(
        !matches!(crashed, Ok(Ok(_))),
        "the crashed submit is not accepted"
    );
    drop(e);
    // max_binds = 1: binding again works only if the crashed session let its bind go
    let mut again = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind after the crash");
    let (ok, refused) = submit_n(&again, 3).await;
    assert!(refused.is_empty(), "{refused:?}");
    receipts_for(&mut again, &ok).await;
    assert_eq!(restarts(&t, "esme_session").await, 1.0);
}
