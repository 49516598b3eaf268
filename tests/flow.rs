//! A message end to end: bind, submit, rate, store, route, carrier, receipt back.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

/// The simulator with `sim_args`, and tern with the demo account routing everything to it.
async fn demo_switch(sim_args: &[&str]) -> (Sim, Tern) {
    let sim = Sim::start(sim_args).await;
    let body = format!(
        "{}{}{}",
        demo(""),
        carrier("c1", sim.port, ""),
        route("", &["c1"])
    );
    (sim, Tern::start(&body).await)
}

fn demo(extra: &str) -> String {
    account(
        "demo",
        "demopass",
        &format!("balance = \"100.00\"\nprice = \"0.01\"\ntps = 10000\n{extra}"),
    )
}

#[tokio::test]
async fn submit_then_receipt_carries_the_submit_id() {
    let (_sim, t) = demo_switch(&["--dlr-delay-ms", "50"]).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let id = submit(&e.client, sm("ACME", "491701234567", "hello"))
        .await
        .expect("accepted");
    assert!(!id.is_empty() && id.len() <= 64, "{id}");
    let r = e.next_receipt(20).await;
    assert_eq!(r.esm_class, 0x04);
    assert_eq!(r.tlv_id.as_deref(), Some(id.as_str()));
    assert_eq!(r.state, Some(2), "message_state DELIVERED");
    assert_eq!(field(&r.text, "id"), Some(id.as_str()), "{}", r.text);
    assert_eq!(field(&r.text, "stat"), Some("DELIVRD"), "{}", r.text);
    assert!(
        r.text.contains("submit date:") && r.text.contains("done date:"),
        "{}",
        r.text
    );
    assert!(
        !r.text.contains("hello"),
        "message text must not be echoed: {}",
        r.text
    );
    // charged exactly one part
    assert_eq!(t.balance("demo").await, "99.990000");
    // the message's history is there for the operator
    let (st, body) = t.get(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["carrier"], "c1");
    assert_eq!(v["state"], "DELIVRD", "{body}");
    assert_eq!(v["error"], "000", "{body}");
    let states: Vec<&str> = v["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| e["state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states, ["ACCEPTD", "ENROUTE", "DELIVRD"], "{body}");
}

#[tokio::test]
async fn transmitter_submits_and_a_separate_receiver_gets_the_receipt() {
    let (_sim, t) = demo_switch(&["--dlr-delay-ms", "20"]).await;
    let tx = bind(t.smpp, "demo", "demopass", Mode::Tx)
        .await
        .expect("bind tx");
    let mut rx = bind(t.smpp, "demo", "demopass", Mode::Rx)
        .await
        .expect("bind rx");
    let mut ids = HashSet::new();
    for i in 0..5 {
        ids.insert(
            submit(&tx.client, sm("ACME", &format!("4917000000{i:02}"), "x"))
                .await
                .expect("accepted"),
        );
    }
    let mut got = HashSet::new();
    while got.len() < ids.len() {
        let r = rx.next_receipt(20).await;
        got.insert(r.tlv_id.expect("receipted_message_id"));
    }
    assert_eq!(got, ids);
    // a receiver bind cannot submit
    assert_eq!(submit(&rx.client, sm("ACME", "4917", "x")).await, Err(0x04));
}

#[tokio::test]
async fn receipts_wait_until_a_receiver_binds() {
    let (_sim, t) = demo_switch(&["--dlr-delay-ms", "0"]).await;
    let tx = bind(t.smpp, "demo", "demopass", Mode::Tx)
        .await
        .expect("bind tx");
    let id = submit(&tx.client, sm("ACME", "4915112345678", "x"))
        .await
        .expect("accepted");
    // wait until tern has the receipt (final state) before any receiver exists
    let t0 = std::time::Instant::now();
    loop {
        let (_, body) = t.get(&format!("/api/v1/messages/{id}")).await;
        if body.contains("\"final\":true") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no receipt stored: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut rx = bind(t.smpp, "demo", "demopass", Mode::Rx)
        .await
        .expect("bind rx");
    let r = rx.next_receipt(20).await;
    assert_eq!(r.tlv_id.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn over_the_account_tps_is_throttled() {
    let sim = Sim::start(&[]).await;
    let acct = account("slow", "pw", "tps = 5\nbalance = \"10\"\nprice = \"0.01\"");
    let t = Tern::start(&format!(
        "{acct}{}{}",
        carrier("c1", sim.port, ""),
        route("", &["c1"])
    ))
    .await;
    let e = bind(t.smpp, "slow", "pw", Mode::Trx).await.expect("bind");
    let mut futs = Vec::new();
    for i in 0..40 {
        let c = e.client.clone();
        futs.push(tokio::spawn(async move {
            submit(&c, sm("ACME", &format!("49170{i:06}"), "x")).await
        }));
    }
    let mut ok = 0;
    let mut throttled = 0;
    for f in futs {
        match f.await.unwrap() {
            Ok(_) => ok += 1,
            Err(0x58) => throttled += 1,
            Err(s) => panic!("unexpected status {s:#x}"),
        }
    }
    assert!(
        ok >= 5,
        "the burst of one second's worth goes through ({ok})"
    );
    assert!(throttled >= 20, "the rest is throttled ({throttled} of 40)");
    // only accepted messages are charged
    let expected = 10_000_000 - ok * 10_000;
    assert_eq!(
        t.balance("slow").await,
        format!("{}.{:06}", expected / 1_000_000, expected % 1_000_000)
    );
}

#[tokio::test]
async fn no_credit_refuses_without_charging() {
    let sim = Sim::start(&[]).await;
    let acct = account("poor", "pw", "balance = \"0.03\"\nprice = \"0.01\"");
    let t = Tern::start(&format!(
        "{acct}{}{}",
        carrier("c1", sim.port, ""),
        route("", &["c1"])
    ))
    .await;
    let e = bind(t.smpp, "poor", "pw", Mode::Trx).await.expect("bind");
    for i in 0..3 {
        submit(&e.client, sm("ACME", &format!("4917{i}"), "x"))
            .await
            .expect("within credit");
    }
    assert_eq!(submit(&e.client, sm("ACME", "49179", "x")).await, Err(0x45));
    assert_eq!(t.balance("poor").await, "0.000000");
}

#[tokio::test]
async fn multipart_text_is_charged_per_part() {
    let sim = Sim::start(&[]).await;
    let acct = account("multi", "pw", "balance = \"1.00\"\nprice = \"0.10\"");
    let t = Tern::start(&format!(
        "{acct}{}{}",
        carrier("c1", sim.port, ""),
        route("", &["c1"])
    ))
    .await;
    let e = bind(t.smpp, "multi", "pw", Mode::Trx).await.expect("bind");
    // 200 GSM characters: 2 parts of 153
    submit(&e.client, sm("ACME", "4917", &"a".repeat(200)))
        .await
        .expect("accepted");
    assert_eq!(t.balance("multi").await, "0.800000");
}

#[tokio::test]
async fn routing_and_address_checks() {
    let sim = Sim::start(&[]).await;
    let acct = account(
        "r",
        "pw",
        "balance = \"10\"\nprice = \"0.01\"\nallowed_sources = [\"ACME\"]",
    );
    let t = Tern::start(&format!(
        "{acct}{}{}",
        carrier("c1", sim.port, ""),
        route("44", &["c1"])
    ))
    .await;
    let mut e = bind(t.smpp, "r", "pw", Mode::Trx).await.expect("bind");
    assert_eq!(
        submit(&e.client, sm("ACME", "491701234567", "x")).await,
        Err(0x45),
        "no route"
    );
    assert_eq!(
        submit(&e.client, sm("ACME", "44770090ab", "x")).await,
        Err(0x0B),
        "not digits"
    );
    assert_eq!(
        submit(&e.client, sm("ACME", "4477009001234567", "x")).await,
        Err(0x0B),
        "16 digits"
    );
    assert_eq!(
        submit(&e.client, sm("EVIL", "447700900123", "x")).await,
        Err(0x0A),
        "sender not allowed"
    );
    let id = submit(&e.client, sm("ACME", "+447700900123", "x"))
        .await
        .expect("routed");
    assert_eq!(e.next_receipt(20).await.tlv_id, Some(id));
    assert_eq!(t.balance("r").await, "9.990000", "refusals are free");
}

#[tokio::test]
async fn fails_over_when_the_first_carrier_is_down() {
    let sim = Sim::start(&[]).await;
    let dead = free_port(); // nothing listens here
    let body = format!(
        "{}{}{}{}",
        demo(""),
        carrier("dead", dead, ""),
        carrier("live", sim.port, ""),
        route("", &["dead", "live"])
    );
    let t = Tern::start(&body).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let mut ids = HashSet::new();
    for i in 0..5 {
        ids.insert(
            submit(&e.client, sm("ACME", &format!("3361234567{i}"), "x"))
                .await
                .expect("accepted"),
        );
    }
    let mut got = HashSet::new();
    while got.len() < 5 {
        let r = e.next_receipt(40).await;
        assert_eq!(field(&r.text, "stat"), Some("DELIVRD"));
        got.insert(r.tlv_id.unwrap());
    }
    assert_eq!(got, ids);
    let id = ids.iter().next().unwrap();
    let (_, body) = t.get(&format!("/api/v1/messages/{id}")).await;
    assert!(body.contains("\"carrier\":\"live\""), "{body}");
}

#[tokio::test]
async fn permanent_carrier_error_ends_rejected_with_a_receipt() {
    let (_sim, t) = demo_switch(&["--fail-rate", "1.0", "--fail-status", "0x0B"]).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let id = submit(&e.client, sm("ACME", "4917", "x"))
        .await
        .expect("accepted");
    let r = e.next_receipt(20).await;
    assert_eq!(r.tlv_id.as_deref(), Some(id.as_str()));
    assert_eq!(field(&r.text, "stat"), Some("REJECTD"), "{}", r.text);
    assert_eq!(r.state, Some(8));
}

#[tokio::test]
async fn receipt_before_submit_resp_is_matched() {
    let (_sim, t) = demo_switch(&["--dlr-before-resp"]).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let mut ids = HashSet::new();
    for i in 0..10 {
        ids.insert(
            submit(&e.client, sm("ACME", &format!("4917{i:04}"), "x"))
                .await
                .expect("accepted"),
        );
    }
    let mut got = HashSet::new();
    while got.len() < 10 {
        got.insert(e.next_receipt(30).await.tlv_id.unwrap());
    }
    assert_eq!(got, ids);
}

#[tokio::test]
async fn a_burst_of_receipts_reaches_the_esme_once_each_while_submits_go_on() {
    // the carrier holds its receipts and releases them together, many more than a bind
    // hands on to be stored at once: every one must still come through, once
    let (_sim, t) = demo_switch(&["--dlr-delay-ms", "300", "--dlr-burst-ms", "1500"]).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let n = 400;
    let mut ids = HashSet::new();
    for i in 0..n {
        ids.insert(
            submit(&e.client, sm("ACME", &format!("4917{i:04}"), "x"))
                .await
                .expect("accepted"),
        );
    }
    let mut got = HashSet::new();
    while got.len() < n {
        let id = e.next_receipt(30).await.tlv_id.unwrap();
        assert!(got.insert(id), "a receipt came twice");
        if got.len() == n / 2 {
            // mid-burst: the bind still takes submits and their receipts come too
            ids.insert(
                submit(&e.client, sm("ACME", "49170000", "after"))
                    .await
                    .expect("accepted mid-burst"),
            );
        }
    }
    while got.len() < ids.len() {
        assert!(got.insert(e.next_receipt(30).await.tlv_id.unwrap()));
    }
    assert_eq!(got, ids);
}

#[tokio::test]
async fn duplicate_receipts_reach_the_esme_once() {
    let (_sim, t) = demo_switch(&["--duplicate-dlr", "--dlr-delay-ms", "10"]).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let n = 20;
    for i in 0..n {
        submit(&e.client, sm("ACME", &format!("4917{i:04}"), "x"))
            .await
            .expect("accepted");
    }
    let mut got = HashSet::new();
    while got.len() < n {
        assert!(
            got.insert(e.next_receipt(30).await.tlv_id.unwrap()),
            "a receipt came twice"
        );
    }
    // every duplicate has been seen and ignored by tern
    let t0 = std::time::Instant::now();
    while t.metric("tern_dlr_duplicate_total{carrier=\"c1\"}").await < n as f64 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "duplicates never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // round trip on the session: anything queued before it has been written
    e.client.enquire_link().await.expect("enquire_link");
    assert!(
        e.receipts.try_recv().is_err(),
        "a duplicate receipt reached the ESME"
    );
}

#[tokio::test]
async fn decimal_receipt_ids_quirk() {
    let sim = Sim::start(&["--decimal-receipt-ids"]).await;
    let t = Tern::start(&format!(
        "{}{}{}",
        demo(""),
        carrier("c1", sim.port, "decimal_receipt_ids = true"),
        route("", &["c1"])
    ))
    .await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let id = submit(&e.client, sm("ACME", "4917", "x"))
        .await
        .expect("accepted");
    assert_eq!(e.next_receipt(20).await.tlv_id, Some(id));
}

#[tokio::test]
async fn receipts_on_a_dropped_bind_go_out_on_another() {
    use rusmpp::{CommandId, CommandStatus};
    let (_sim, t) = demo_switch(&["--dlr-delay-ms", "0"]).await;
    // a receiver that takes receipts and never answers them
    let mut mute = Raw::connect(t.smpp).await;
    let mut body = b"demo\0demopass\0\0".to_vec();
    body.extend_from_slice(&[0x34, 0, 0, 0]);
    mute.send_bytes(&frame(0x01, 0, 1, &body)).await;
    let c = mute.recv().await;
    assert_eq!(
        (c.id(), c.status()),
        (CommandId::BindReceiverResp, CommandStatus::EsmeRok)
    );
    let mut good = bind(t.smpp, "demo", "demopass", Mode::Rx)
        .await
        .expect("bind rx");
    let tx = bind(t.smpp, "demo", "demopass", Mode::Tx)
        .await
        .expect("bind tx");
    let mut ids = HashSet::new();
    for i in 0..10 {
        ids.insert(
            submit(&tx.client, sm("ACME", &format!("4917{i:04}"), "x"))
                .await
                .expect("accepted"),
        );
    }
    // the mute bind gets its share, then goes away without answering
    let first = mute.recv().await;
    assert_eq!(first.id(), CommandId::DeliverSm);
    drop(mute);
    let mut got = HashSet::new();
    while got.len() < ids.len() {
        got.insert(good.next_receipt(20).await.tlv_id.unwrap());
    }
    assert_eq!(got, ids);
}

#[tokio::test]
async fn a_receipt_that_never_comes_ends_expired() {
    let sim = Sim::start(&["--dlr-delay-ms", "3600000"]).await;
    let t = Tern::start_full(
        "message_ttl_s = 2",
        "",
        &format!(
            "{}{}{}",
            demo(""),
            carrier("c1", sim.port, ""),
            route("", &["c1"])
        ),
    )
    .await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let id = submit(&e.client, sm("ACME", "4917", "x"))
        .await
        .expect("accepted");
    let r = e.next_receipt(20).await;
    assert_eq!(r.tlv_id.as_deref(), Some(id.as_str()));
    assert_eq!(field(&r.text, "stat"), Some("EXPIRED"), "{}", r.text);
}

/// `sm` with the ESME's validity_period.
fn valid_for(mut s: rusmpp::pdus::SubmitSm, validity: &str) -> rusmpp::pdus::SubmitSm {
    s.validity_period =
        rusmpp::types::EmptyOrFullCOctetString::from_vec(format!("{validity}\0").into_bytes())
            .expect("17 bytes at most");
    s
}

#[tokio::test]
async fn a_message_no_carrier_takes_within_its_validity_ends_expired() {
    // the only carrier is down: nothing listens on its port
    let t = Tern::start(&format!(
        "{}{}{}",
        demo(""),
        carrier("c1", free_port(), ""),
        route("", &["c1"])
    ))
    .await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    // valid for 2 s (relative); the default TTL is a day
    let id = submit(
        &e.client,
        valid_for(sm("ACME", "4917", "x"), "000000000002000R"),
    )
    .await
    .expect("accepted");
    let r = e.next_receipt(30).await;
    assert_eq!(r.tlv_id.as_deref(), Some(id.as_str()));
    assert_eq!(field(&r.text, "stat"), Some("EXPIRED"), "{}", r.text);

    // not an SMPP time, a month 13, and a time already past: ESME_RINVEXPIRY, not charged
    let before = t.balance("demo").await;
    for bad in ["2612021100000a4+", "261302110000004+", "200101000000000+"] {
        let r = submit(&e.client, valid_for(sm("ACME", "4917", "x"), bad)).await;
        assert_eq!(r, Err(0x62), "{bad}");
    }
    assert_eq!(t.balance("demo").await, before);
}

/// The demo account routed to a carrier that takes one message at a time, 10 ms each
/// (about 100/s): its queue passes its high-water mark (256) at once, and sessions hold
/// submits for it back.
async fn slow_carrier_switch() -> (Sim, Tern) {
    let sim = Sim::start(&["--response-delay-ms", "10", "--dlr-delay-ms", "1"]).await;
    let slow = format!(
        "[[carriers]]\nid = \"c1\"\nhost = \"127.0.0.1\"\nport = {}\nsystem_id = \"tern\"\npassword = \"ternpass\"\ntps = 100000\nwindow = 1\nresponse_timeout_s = 5\n",
        sim.port
    );
    let t = Tern::start(&format!("{}{}{}", demo(""), slow, route("", &["c1"]))).await;
    (sim, t)
}

#[tokio::test]
async fn a_backlogged_carrier_slows_its_esmes_without_losing_anything() {
    let (_sim, t) = slow_carrier_switch().await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let n = 400;
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..n {
        let c = e.client.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let r = submit(&c, sm("ACME", &format!("4917{i:04}"), "x")).await;
            acked.fetch_add(1, Ordering::Relaxed);
            r
        }));
    }
    // held back, not stuck: the session still answers while its submits wait
    e.client
        .enquire_link()
        .await
        .expect("enquire_link answered while submits are held back");
    // the carrier takes at most 100 a second, so in half a second at most about 310 (256
    // queued, a few in flight, 50 taken) can have been acknowledged; without flow control
    // all 400 are, as soon as they are stored
    tokio::time::sleep(Duration::from_millis(500)).await;
    let early = acked.load(Ordering::Relaxed);
    assert!(
        early < n,
        "all {early} acknowledged at once: nothing was held back"
    );
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.expect("task").expect("accepted"));
    }
    assert_eq!(ids.len(), n, "every submit accepted once");
    let mut got = HashSet::new();
    while got.len() < n {
        got.insert(
            e.next_receipt(60)
                .await
                .tlv_id
                .expect("receipted_message_id"),
        );
    }
    assert_eq!(got, ids, "every message delivered and receipted");
}

#[tokio::test]
async fn submits_held_back_at_unbind_are_refused_not_dropped() {
    let (_sim, t) = slow_carrier_switch().await;
    let e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    // 500 submits/s offered for 2 s to a carrier that takes 100/s: its queue passes the
    // high-water mark within a second, and from then on the newest submits are held
    let mut tasks = Vec::new();
    for i in 0..1000u64 {
        let c = e.client.clone();
        // no receipts: the ESME answering them while it unbinds would race the unbind
        let mut m = sm("ACME", &format!("4917{i:04}"), "x");
        m.registered_delivery = 0u8.into();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2 * i)).await;
            submit(&c, m).await
        }));
    }
    // the unbind comes amid them: those read just before it are held, however slowly
    // this machine runs, and must be answered, not dropped
    tokio::time::sleep(Duration::from_millis(1500)).await;
    e.client.unbind().await.expect("unbind answered");
    let mut refused = 0;
    let mut outcomes = std::collections::BTreeMap::new();
    for task in tasks {
        let r = task.await.expect("task");
        *outcomes
            .entry(format!("{r:?}").chars().take(12).collect::<String>())
            .or_insert(0) += 1;
        // ESME_RMSGQFUL: not stored, send it again
        if let Err(0x14) = r {
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "held submits must be answered ESME_RMSGQFUL before unbind_resp: {outcomes:?}"
    );
}

#[tokio::test]
async fn an_esme_unbinding_while_it_answers_receipts_gets_its_unbind_resp() {
    let (_sim, t) = demo_switch(&["--dlr-delay-ms", "1"]).await;
    let mut ids = HashSet::new();
    let mut got = HashSet::new();
    // more rounds than the account's max_binds (4), with the connections left open: an
    // unbound bind must not count against it
    for round in 0..6 {
        let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
            .await
            .expect("bind");
        let mut tasks = Vec::new();
        for i in 0..200 {
            let c = e.client.clone();
            tasks.push(tokio::spawn(async move {
                submit(&c, sm("ACME", &format!("49{round}{i:04}"), "x")).await
            }));
        }
        for task in tasks {
            ids.insert(task.await.expect("task").expect("accepted"));
        }
        // receipts are flowing and being answered while the unbind goes out
        got.insert(
            e.next_receipt(30)
                .await
                .tlv_id
                .expect("receipted_message_id"),
        );
        e.client
            .unbind()
            .await
            .expect("unbind_resp, not a reset, while deliver_sm_resps are on their way");
        while let Ok(r) = e.receipts.try_recv() {
            got.extend(r.tlv_id);
        }
    }
    // what an unbound session had not acknowledged comes again on the next bind
    let mut rx = bind(t.smpp, "demo", "demopass", Mode::Rx)
        .await
        .expect("bind rx");
    while !ids.is_subset(&got) {
        got.extend(rx.next_receipt(30).await.tlv_id);
    }
}
