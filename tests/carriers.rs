//! Carriers as real SMSCs behave: ones that throttle, ones that fail, routes that split
//! traffic. The real binary, the real simulator, a real SMPP client.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;

fn demo() -> String {
    account(
        "demo",
        "demopass",
        "balance = \"100.00\"\nprice = \"0.01\"\ntps = 10000\n",
    )
}

/// The carrier's status as `GET /api/v1/carriers/{id}` shows it.
async fn carrier_status(t: &Tern, id: &str) -> serde_json::Value {
    let (st, body) = t.get(&format!("/api/v1/carriers/{id}")).await;
    assert_eq!(st, 200, "{body}");
    serde_json::from_str(&body).expect("json")
}

/// Waits (up to `secs`) until `check` holds for carrier `id`'s status; returns it.
async fn until_status(
    t: &Tern,
    id: &str,
    secs: u64,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let s = carrier_status(t, id).await;
        if check(&s) {
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "carrier {id}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Submits `n` messages and returns their ids once every one has its DELIVRD receipt.
async fn send_all_delivered(e: &mut Esme, n: usize) -> HashSet<String> {
    let mut ids = HashSet::new();
    for i in 0..n {
        let id = submit(&e.client, sm("ACME", &format!("4917{i:06}"), "x"))
            .await
            .expect("accepted");
        ids.insert(id);
    }
    let mut got = HashSet::new();
    while got.len() < n {
        let r = e.next_receipt(30).await;
        assert_eq!(field(&r.text, "stat"), Some("DELIVRD"), "{}", r.text);
        got.insert(r.tlv_id.expect("receipted_message_id"));
    }
    assert_eq!(got, ids);
    ids
}

#[tokio::test]
async fn a_throttling_carrier_is_slowed_down_not_abandoned() {
    // every 3rd submit_sm answered ESME_RTHROTTLED; a second carrier that must not be needed
    let throttling = Sim::start(&["--throttle-every", "3", "--dlr-delay-ms", "0"]).await;
    let spare = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}{}",
        demo(),
        carrier("c1", throttling.port, "tps = 1000"),
        carrier("c2", spare.port, ""),
        route("", &["c1", "c2"])
    );
    let t = Tern::start(&body).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    send_all_delivered(&mut e, 60).await;

    let throttled = t
        .metric("tern_carrier_submit_total{carrier=\"c1\",status=\"ESME_RTHROTTLED\"}")
        .await;
    assert!(throttled >= 10.0, "c1 throttled {throttled} submits");
    assert_eq!(
        t.metric("tern_carrier_submit_total{carrier=\"c2\",status=\"ESME_ROK\"}")
            .await,
        0.0,
        "a throttled submit waits for its own carrier, it does not fail over"
    );
    let s = carrier_status(&t, "c1").await;
    assert_eq!(s["breaker"], "closed", "throttling is not a failure: {s}");
    let tps = s["tps"].as_u64().expect("tps");
    assert!(tps < 1000, "the send rate came down: {s}");
    let gauge = t.metric("tern_carrier_tps{carrier=\"c1\"}").await;
    assert!(gauge > 0.0 && gauge < 1000.0, "tern_carrier_tps {gauge}");
    // the operator's view counts the same answers
    assert_eq!(s["counts"]["throttled"].as_f64(), Some(throttled), "{s}");
    assert_eq!(s["counts"]["accepted"], 60, "{s}");
    assert_eq!(s["counts"]["timeouts"], 0, "{s}");
}

#[tokio::test]
async fn a_failing_carrier_opens_its_breaker_for_longer_after_each_failed_probe() {
    // c1 answers every submit ESME_RSYSERR (temporary); c2 takes the traffic
    let failing = Sim::start(&["--fail-rate", "1.0", "--fail-status", "0x08"]).await;
    let good = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}{}",
        demo(),
        carrier(
            "c1",
            failing.port,
            "breaker_failures = 2\nbreaker_cooldown_s = 1"
        ),
        carrier("c2", good.port, ""),
        route("", &["c1", "c2"])
    );
    let t = Tern::start(&body).await;
    until_status(&t, "c1", 10, |s| s["binds_up"] == 1).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");

    // two failures open it for 1 s; every message still reaches c2. One message at a time,
    // each waited for to its receipt, so c1's second failure is in before the third dispatch
    for _ in 0..5 {
        send_all_delivered(&mut e, 1).await;
    }
    let s = carrier_status(&t, "c1").await;
    assert_ne!(s["breaker"], "closed", "{s}");
    assert_eq!(s["breaker_cooldown_s"], 1, "{s}");
    assert_eq!(
        t.metric("tern_carrier_submit_total{carrier=\"c1\",status=\"ESME_RSYSERR\"}")
            .await,
        2.0,
        "an open breaker sends nothing more to c1"
    );

    // after the cool-down one message is the probe; it fails and the breaker opens for 2 s
    until_status(&t, "c1", 5, |s| s["breaker"] == "half-open").await;
    for _ in 0..3 {
        send_all_delivered(&mut e, 1).await;
    }
    let s = carrier_status(&t, "c1").await;
    assert_eq!(s["breaker"], "open", "{s}");
    assert_eq!(s["breaker_cooldown_s"], 2, "{s}");
    assert_eq!(
        t.metric("tern_carrier_breaker_state{carrier=\"c1\"}").await,
        2.0
    );
    assert_eq!(
        t.metric("tern_carrier_submit_total{carrier=\"c1\",status=\"ESME_RSYSERR\"}")
            .await,
        3.0,
        "one probe, no more"
    );
    assert!(
        t.log().contains("carrier breaker open"),
        "the transition is logged"
    );
}

#[tokio::test]
async fn a_weighted_route_splits_traffic_and_skips_a_carrier_that_is_down() {
    let s1 = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let s2 = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}[[routes]]\nprefix = \"\"\ncarriers = [\"c1\", \"c2\"]\nweights = [3, 1]\n",
        demo(),
        carrier("c1", s1.port, ""),
        carrier("c2", s2.port, ""),
    );
    let t = Tern::start(&body).await;
    until_status(&t, "c1", 10, |s| s["binds_up"] == 1).await;
    until_status(&t, "c2", 10, |s| s["binds_up"] == 1).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let ok = |c: &str| format!("tern_carrier_submit_total{{carrier=\"{c}\",status=\"ESME_ROK\"}}");

    send_all_delivered(&mut e, 200).await;
    let (c1, c2) = (t.metric(&ok("c1")).await, t.metric(&ok("c2")).await);
    assert_eq!(c1 + c2, 200.0);
    // 3:1 of 200 is 150:50; a binomial draw stays well within ±30
    assert!((120.0..=180.0).contains(&c1), "c1 took {c1}, c2 {c2}");

    // c1's carrier goes away: its share fails over to c2 and nothing is lost
    drop(s1);
    until_status(&t, "c1", 20, |s| s["binds_up"] == 0).await;
    send_all_delivered(&mut e, 40).await;
    assert_eq!(t.metric(&ok("c1")).await, c1, "nothing more to c1");
    assert_eq!(t.metric(&ok("c2")).await, c2 + 40.0);
}

#[tokio::test]
async fn a_submit_accepted_without_a_message_id_is_not_sent_again() {
    let sim = Sim::start(&["--no-message-id"]).await;
    let t = Tern::start_full(
        "message_ttl_s = 2",
        "",
        &format!(
            "{}{}{}",
            demo(),
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
    // its receipt can never be matched: it ends EXPIRED at its TTL, sent once
    let r = e.next_receipt(30).await;
    assert_eq!(r.tlv_id.as_deref(), Some(id.as_str()));
    assert_eq!(field(&r.text, "stat"), Some("EXPIRED"), "{}", r.text);
    assert_eq!(
        t.metric("tern_carrier_submit_total{carrier=\"c1\",status=\"ESME_ROK\"}")
            .await,
        1.0,
        "one submit to the carrier"
    );
}

#[tokio::test]
async fn a_dead_carrier_holds_a_bounded_number_of_messages_and_refuses_the_rest() {
    // 1 bind × window 10: at most 1,000 messages wait for a retry with it as first choice
    let port = free_port(); // nothing listens here yet
    let body = format!(
        "{}{}{}",
        demo(),
        carrier(
            "dead",
            port,
            "binds = 1\nwindow = 10\nbreaker_cooldown_s = 1"
        ),
        route("", &["dead"])
    );
    let t = Tern::start(&body).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let mut ids = HashSet::new();
    let t0 = Instant::now();
    let refused = loop {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "never refused after {} accepted",
            ids.len()
        );
        match submit(&e.client, sm("ACME", &format!("4917{:06}", ids.len()), "x")).await {
            Ok(id) => {
                ids.insert(id);
                if ids.len() >= 1_000 {
                    // the queue is full once these have left the carrier for the retry queue
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Err(status) => break status,
        }
    };
    assert_eq!(refused, 0x14, "ESME_RMSGQFUL once 1,000 wait");
    assert!(
        (1_000..1_100).contains(&ids.len()),
        "{} accepted before the first refusal",
        ids.len()
    );
    let charged = ids.len() as f64 * 0.01;
    assert_eq!(
        t.balance("demo").await,
        format!("{:.6}", 100.0 - charged),
        "refused submits are not charged"
    );

    // the carrier comes up: every accepted message is delivered, and submits are taken again
    let _sim = Sim::start_on(port, &["--dlr-delay-ms", "0"]).await;
    let mut got = HashSet::new();
    while got.len() < ids.len() {
        let r = e.next_receipt(120).await;
        assert_eq!(field(&r.text, "stat"), Some("DELIVRD"), "{}", r.text);
        got.insert(r.tlv_id.expect("receipted_message_id"));
    }
    assert_eq!(got, ids);
    submit(&e.client, sm("ACME", "4917999999", "x"))
        .await
        .expect("accepted once the queue has drained");
}

/// A carrier that binds anyone and answers every submit_sm OK with a body that does not
/// decode (a message_id without its NUL); sends the sequence number of each submit_sm.
async fn carrier_with_broken_resps() -> (u16, tokio::sync::mpsc::UnboundedReceiver<u32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut c = Raw {
                    framed: tokio_util::codec::Framed::new(
                        s,
                        tern::protocol::codec::SmppCodec::default(),
                    ),
                };
                while let Some(Ok(Ok(cmd))) = c.framed.next().await {
                    let seq = cmd.sequence_number();
                    let answer = match u32::from(cmd.id()) {
                        0x0000_0009 => frame(0x8000_0009, 0, seq, b"fake\0"),
                        0x0000_0015 => frame(0x8000_0015, 0, seq, b""),
                        0x0000_0004 => {
                            let _ = tx.send(seq);
                            frame(0x8000_0004, 0, seq, b"abc")
                        }
                        _ => continue,
                    };
                    c.send_bytes(&answer).await;
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn an_ok_submit_resp_that_does_not_decode_is_taken_as_accepted_never_resent() {
    let (port, mut submits) = carrier_with_broken_resps().await;
    let body = format!(
        "{}{}{}",
        demo(),
        carrier("fake", port, "binds = 1\nresponse_timeout_s = 1"),
        route("", &["fake"])
    );
    let t = Tern::start(&body).await;
    let e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let id = submit(&e.client, sm("ACME", "4917000001", "x"))
        .await
        .expect("accepted");
    tokio::time::timeout(Duration::from_secs(20), submits.recv())
        .await
        .expect("submitted in time")
        .expect("carrier running");
    // the header said OK: the message is the carrier's now
    let t0 = Instant::now();
    loop {
        let (_, body) = t.get(&format!("/api/v1/messages/{id}")).await;
        if body.contains("\"carrier\":\"fake\"") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // and it is not sent again once the response timeout (1 s) has passed, several times over
    let again = tokio::time::timeout(Duration::from_secs(4), submits.recv()).await;
    assert!(again.is_err(), "sent twice: {again:?}");
}

/// Two carriers with instant receipts: `u` joins parts by UDH only (routes 4917), `a`
/// takes them as sent (4915); tern on both, and a transceiver of `demo`.
async fn udh_and_as_sent() -> (Sim, Sim, Tern, Esme) {
    let udh_only = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let as_sent = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}[[routes]]\nprefix = \"4917\"\ncarriers = [\"u\"]\n\n[[routes]]\nprefix = \"4915\"\ncarriers = [\"a\"]\n",
        demo(),
        carrier("u", udh_only.port, "concatenation = \"udh\""),
        carrier("a", as_sent.port, ""),
    );
    let t = Tern::start(&body).await;
    until_status(&t, "u", 10, |s| s["binds_up"] == 1).await;
    until_status(&t, "a", 10, |s| s["binds_up"] == 1).await;
    let e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    (udh_only, as_sent, t, e)
}

#[tokio::test]
async fn sar_parts_reach_a_udh_only_carrier_with_a_udh_and_others_as_sent() {
    use rusmpp::tlvs::MessageSubmissionRequestTlvValue as T;
    let (udh_only, as_sent, _t, mut e) = udh_and_as_sent().await;

    // a two-part message the ESME joined with SAR TLVs, to each carrier
    let mut ids = HashSet::new();
    for dest in ["491700000001", "491500000001"] {
        for seq in 1..=2u8 {
            let mut part = sm("ACME", dest, &format!("part {seq} of a long text"));
            part.push_tlv(T::SarMsgRefNum(0x2A));
            part.push_tlv(T::SarTotalSegments(2));
            part.push_tlv(T::SarSegmentSeqnum(seq));
            ids.insert(submit(&e.client, part).await.expect("accepted"));
        }
    }
    // one receipt per part the ESME submitted
    let mut got = HashSet::new();
    while got.len() < 4 {
        let r = e.next_receipt(30).await;
        assert_eq!(field(&r.text, "stat"), Some("DELIVRD"), "{}", r.text);
        got.insert(r.tlv_id.expect("receipted_message_id"));
    }
    assert_eq!(got, ids);

    let u = udh_only.stats_json().await;
    assert_eq!(
        (
            u["submits"].as_u64(),
            u["udh_parts"].as_u64(),
            u["sar_parts"].as_u64()
        ),
        (Some(2), Some(2), Some(0)),
        "the UDH-only carrier gets each part with a UDH, no SAR: {u}"
    );
    let a = as_sent.stats_json().await;
    assert_eq!(
        (
            a["submits"].as_u64(),
            a["udh_parts"].as_u64(),
            a["sar_parts"].as_u64()
        ),
        (Some(2), Some(0), Some(2)),
        "the other carrier gets the parts as the ESME sent them: {a}"
    );
}

/// A submit_sm with its text in message_payload.
fn payload_sm(dest: &str, text: &[u8]) -> rusmpp::pdus::SubmitSm {
    use rusmpp::tlvs::MessageSubmissionRequestTlvValue as T;
    let mut s = sm("ACME", dest, "");
    s.push_tlv(T::MessagePayload(rusmpp::values::MessagePayload::new(
        rusmpp::types::AnyOctetString::from_vec(text.to_vec()),
    )));
    s
}

#[tokio::test]
async fn a_long_message_payload_is_split_for_a_udh_only_carrier_and_receipted_once() {
    let (udh_only, as_sent, t, mut e) = udh_and_as_sent().await;

    // 400 GSM characters: three SMS. To the UDH-only carrier they go as three parts
    let id = submit(&e.client, payload_sm("491700000001", &[b'a'; 400]))
        .await
        .expect("accepted");
    let r = e.next_receipt(30).await;
    assert_eq!(r.tlv_id.as_deref(), Some(id.as_str()), "{}", r.text);
    assert_eq!(field(&r.text, "stat"), Some("DELIVRD"), "{}", r.text);
    let u = udh_only.stats_json().await;
    assert_eq!(
        (u["submits"].as_u64(), u["udh_parts"].as_u64()),
        (Some(3), Some(3)),
        "{u}"
    );
    // billed as three parts, like the same text in one submit to any carrier
    assert_eq!(micros(&t.balance("demo").await), 100_000_000 - 3 * 10_000);

    // to the other carrier it goes as the ESME sent it: one submit with the payload
    let id2 = submit(&e.client, payload_sm("491500000001", &[b'a'; 400]))
        .await
        .expect("accepted");
    // nothing but one receipt per submit: no part's receipt reaches the ESME
    let r = e.next_receipt(30).await;
    assert_eq!(
        r.tlv_id.as_deref(),
        Some(id2.as_str()),
        "the next receipt is the second message's: {}",
        r.text
    );
    let a = as_sent.stats_json().await;
    assert_eq!(
        (a["submits"].as_u64(), a["udh_parts"].as_u64()),
        (Some(1), Some(0)),
        "{a}"
    );
    assert_eq!(micros(&t.balance("demo").await), 100_000_000 - 6 * 10_000);
    assert_ledger_exact(&t, "demo").await;

    // query_sm for the ESME's id answers for all three parts
    let mut r = raw_bound(t.smpp, 0x02, "demo", "demopass").await;
    let (st, got) = query(&mut r, 2, &id).await;
    assert_eq!(st, rusmpp::CommandStatus::EsmeRok);
    let (state, final_date, _) = got.expect("a body");
    assert_eq!(state, 2, "DELIVERED: every part was");
    assert_eq!(final_date.len(), 16, "{final_date:?}");
}
