//! The SMPP server's contract: bind outcomes, statuses, and surviving bad input.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::AsyncWriteExt;

fn body(sim_port: u16) -> String {
    format!(
        "{}{}{}",
        account(
            "demo",
            "demopass",
            "balance = \"100\"\nprice = \"0.01\"\nmax_binds = 2"
        ),
        carrier("c1", sim_port, ""),
        route("", &["c1"])
    )
}

#[tokio::test]
async fn bind_outcomes() {
    let sim = Sim::start(&[]).await;
    let t = Tern::start(&body(sim.port)).await;
    // wrong password and unknown system_id look the same
    assert_eq!(
        bind(t.smpp, "demo", "wrong", Mode::Trx).await.err(),
        Some(0x0E)
    );
    assert_eq!(
        bind(t.smpp, "nobody", "demopass", Mode::Trx).await.err(),
        Some(0x0E)
    );
    // all three bind types work, up to max_binds
    let a = bind(t.smpp, "demo", "demopass", Mode::Tx)
        .await
        .expect("tx");
    let b = bind(t.smpp, "demo", "demopass", Mode::Rx)
        .await
        .expect("rx");
    assert_eq!(
        bind(t.smpp, "demo", "demopass", Mode::Trx).await.err(),
        Some(0x0D),
        "over max_binds"
    );
    // the binds are visible to the operator
    let (st, sessions) = t.get("/api/v1/sessions").await;
    assert_eq!(st, 200);
    assert_eq!(
        sessions.matches("\"system_id\":\"demo\"").count(),
        2,
        "{sessions}"
    );
    drop(b);
    a.client.unbind().await.expect("unbind");
    // a freed slot can be bound again
    let t0 = Instant::now();
    loop {
        match bind(t.smpp, "demo", "demopass", Mode::Trx).await {
            Ok(_) => break,
            Err(0x0D) if t0.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(s) => panic!("rebind failed: {s:#x}"),
        }
    }
}

#[tokio::test]
async fn statuses_before_and_after_bind() {
    let sim = Sim::start(&[]).await;
    let t = Tern::start(&body(sim.port)).await;
    let mut r = Raw::connect(t.smpp).await;
    // anything but a bind (or enquire_link) before binding
    r.send_bytes(&frame(0x04, 0, 1, &submit_body("ACME", b"4917", b"x")))
        .await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.status(), c.sequence_number()),
        (CommandId::SubmitSmResp, CommandStatus::EsmeRinvbndsts, 1)
    );
    r.send_bytes(&frame(0x15, 0, 2, &[])).await;
    assert_eq!(r.recv().await.id(), CommandId::EnquireLinkResp);
    // SMPP 3.4 bind
    r.send_bytes(&frame(0x09, 0, 3, &bind_body("demo", "demopass", 0x34)))
        .await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.status()),
        (CommandId::BindTransceiverResp, CommandStatus::EsmeRok)
    );
    // a second bind on the same session
    r.send_bytes(&frame(0x02, 0, 4, &bind_body("demo", "demopass", 0x34)))
        .await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.status()),
        (CommandId::BindTransmitterResp, CommandStatus::EsmeRalybnd)
    );
    // unknown command
    r.send_bytes(&frame(0x0000_1234, 0, 5, &[1, 2, 3])).await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.status(), c.sequence_number()),
        (CommandId::GenericNack, CommandStatus::EsmeRinvcmdid, 5)
    );
    // SMPP 5.0 binds are accepted too
    let mut r5 = Raw::connect(t.smpp).await;
    r5.send_bytes(&frame(0x02, 0, 1, &bind_body("demo", "demopass", 0x50)))
        .await;
    assert_eq!(r5.recv().await.status(), CommandStatus::EsmeRok);
}

#[tokio::test]
async fn malformed_pdus_are_answered_and_the_session_lives_on() {
    let sim = Sim::start(&["--dlr-delay-ms", "10"]).await;
    let t = Tern::start(&body(sim.port)).await;
    let mut r = raw_bound(t.smpp, 0x09, "demo", "demopass").await;

    // destination of 30 digits: the decoder refuses it; the answer names the field
    let mut bad = Vec::new();
    bad.extend(frame(0x04, 0, 10, &submit_body("ACME", &[b'9'; 30], b"x")));
    // truncated body
    bad.extend(frame(0x04, 0, 11, &[0, 5, 0, b'A']));
    // an enquire_link with trailing junk inside its frame
    bad.extend(frame(0x15, 0, 12, &[0xde, 0xad]));
    // TLV stream that runs past the end
    let mut tlv = submit_body("ACME", b"4917", b"x");
    tlv.extend_from_slice(&[0x04, 0x24, 0x00, 0x40, 1]);
    bad.extend(frame(0x04, 0, 13, &tlv));
    // and then a good submit_sm, all in one write
    bad.extend(frame(
        0x04,
        0,
        14,
        &submit_body("ACME", b"491701234567", b"ok"),
    ));
    r.send_bytes(&bad).await;

    let mut answers = Vec::new();
    let mut receipt = None;
    while answers.len() < 5 {
        let c = r.recv().await;
        if c.id() == CommandId::DeliverSm {
            receipt = Some(c);
            continue;
        }
        answers.push((c.sequence_number(), c.id(), c.status(), c));
    }
    answers.sort_by_key(|a| a.0);
    assert_eq!(
        (answers[0].1, answers[0].2),
        (CommandId::SubmitSmResp, CommandStatus::EsmeRinvdstadr)
    );
    assert_eq!(answers[1].1, CommandId::SubmitSmResp);
    assert_ne!(answers[1].2, CommandStatus::EsmeRok);
    assert_eq!(answers[2].1, CommandId::EnquireLinkResp);
    assert_eq!(answers[3].1, CommandId::SubmitSmResp);
    assert_ne!(answers[3].2, CommandStatus::EsmeRok);
    assert_eq!(
        (answers[4].1, answers[4].2),
        (CommandId::SubmitSmResp, CommandStatus::EsmeRok)
    );
    let Some(Pdu::SubmitSmResp(ok)) = answers[4].3.pdu() else {
        panic!("no body")
    };
    let id = ok.message_id().to_string();
    // the good message still makes the round trip on this session
    let receipt = match receipt {
        Some(c) => c,
        None => r.recv().await,
    };
    let Some(Pdu::DeliverSm(d)) = receipt.pdu() else {
        panic!("expected a receipt, got {receipt:?}")
    };
    let text = String::from_utf8_lossy(d.short_message().as_ref()).into_owned();
    assert_eq!(field(&text, "id"), Some(id.as_str()));
}

#[tokio::test]
async fn oversized_pdu_closes_the_session() {
    let sim = Sim::start(&[]).await;
    let t = Tern::start(&body(sim.port)).await;
    let mut r = Raw::connect(t.smpp).await;
    let mut hdr = Vec::new();
    hdr.extend_from_slice(&(70_000u32).to_be_bytes());
    hdr.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1]);
    r.send_bytes(&hdr).await;
    let c = r.recv().await;
    assert_eq!(c.id(), CommandId::GenericNack);
    use futures::StreamExt;
    let next = tokio::time::timeout(Duration::from_secs(10), r.framed.next())
        .await
        .expect("closed in time");
    assert!(
        next.is_none() || matches!(next, Some(Err(_))),
        "connection must close: {next:?}"
    );
    // the server is fine
    bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind after");
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_and_memory_stays_bounded() {
    let sim = Sim::start(&[]).await;
    let t = Tern::start(&body(sim.port)).await;
    let mut r = raw_bound(t.smpp, 0x09, "demo", "demopass").await;
    let rss_before = t.rss_kib();
    // enquire_links as fast as the socket takes them, never reading a response
    let chunk: Vec<u8> = (0..4096u32)
        .flat_map(|i| frame(0x15, 0, i + 2, &[]))
        .collect();
    let sock = r.framed.get_mut();
    let t0 = Instant::now();
    let mut sent = 0usize;
    let mut peak = rss_before;
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), sock.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(_)) => break true, // reset by tern
            Err(_) => {}              // blocked: tern stopped reading us
        }
        peak = peak.max(t.rss_kib());
        if t0.elapsed() > Duration::from_secs(60) {
            break false;
        }
    };
    assert!(
        closed,
        "tern kept a connection that never reads (sent {sent} bytes)"
    );
    assert!(
        sent > 1_000_000,
        "the client did send a flood ({sent} bytes)"
    );
    assert!(
        peak < rss_before + 64 * 1024,
        "memory grew by {} KiB for one stuck client",
        peak.saturating_sub(rss_before)
    );
    // and everyone else is still served
    bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind after");
}

#[tokio::test]
async fn an_idle_esme_is_unbound() {
    let sim = Sim::start(&[]).await;
    let t = Tern::start_with("inactivity_timeout_s = 1", &body(sim.port)).await;
    // taken before the bind, whose arrival is the last thing tern hears: the unbind comes
    // a whole timeout after that, however long the bind took on a busy machine
    let t0 = Instant::now();
    let mut r = raw_bound(t.smpp, 0x09, "demo", "demopass").await;
    let c = r.recv().await;
    assert_eq!(c.id(), CommandId::Unbind, "tern unbinds an idle ESME");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );
    // and the bind slot is freed
    let (_, sessions) = {
        let t1 = Instant::now();
        loop {
            let s = t.get("/api/v1/sessions").await;
            if !s.1.contains("demo") || t1.elapsed() > Duration::from_secs(10) {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(!sessions.contains("\"demo\""), "{sessions}");
}

#[tokio::test]
async fn query_sm_answers_for_the_accounts_own_messages_from_the_store() {
    let sim = Sim::start(&["--dlr-delay-ms", "1500"]).await;
    let t = Tern::start(&body(sim.port)).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    // a transmitter of the same account asks (receipts go to the transceiver)
    let mut r = raw_bound(t.smpp, 0x02, "demo", "demopass").await;

    let id = submit(&e.client, sm("ACME", "491701234567", "query me"))
        .await
        .expect("accepted");
    // on its way: ENROUTE, no final date yet
    let (st, got) = query(&mut r, 2, &id).await;
    assert_eq!(st, CommandStatus::EsmeRok);
    assert_eq!(got, Some((1, String::new(), 0)), "ENROUTE until it ends");

    let receipt = e.next_receipt(30).await;
    assert_eq!(field(&receipt.text, "stat"), Some("DELIVRD"));
    let (st, got) = query(&mut r, 3, &id).await;
    assert_eq!(st, CommandStatus::EsmeRok);
    let (state, final_date, error_code) = got.expect("a body");
    assert_eq!((state, error_code), (2, 0), "DELIVRD");
    assert!(
        final_date.len() == 16 && final_date.ends_with("00+"),
        "an absolute SMPP time: {final_date:?}"
    );

    // an id tern never gave, and another account's message, are the same failure
    let (st, got) = query(&mut r, 4, "ffffffffffffffff").await;
    assert_eq!((st, got), (CommandStatus::EsmeRqueryfail, None));
    let (code, v) = t
        .call(
            "POST",
            "/api/v1/accounts",
            Some(r#"{"system_id": "other", "password": "otherpw", "balance": "1"}"#),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    let mut o = raw_bound(t.smpp, 0x02, "other", "otherpw").await;
    let (st, got) = query(&mut o, 2, &id).await;
    assert_eq!((st, got), (CommandStatus::EsmeRqueryfail, None));

    // a receiver may not query (the transmitter unbinds first: max_binds is 2)
    r.send_bytes(&frame(0x06, 0, 9, &[])).await;
    assert_eq!(r.recv().await.id(), CommandId::UnbindResp);
    let mut rx = raw_bound(t.smpp, 0x01, "demo", "demopass").await;
    let (st, _) = query(&mut rx, 2, &id).await;
    assert_eq!(st, CommandStatus::EsmeRinvbndsts);
}

/// A data_sm with its text in message_payload, asking for a receipt.
fn data_sm(dest: &str, text: &[u8]) -> rusmpp::pdus::DataSm {
    use rusmpp::tlvs::MessageSubmissionRequestTlvValue as T;
    use rusmpp::types::COctetString;
    rusmpp::pdus::DataSm::builder()
        .source_addr(COctetString::from_string("ACME".to_string()).expect("source"))
        .destination_addr(COctetString::from_string(dest.to_string()).expect("dest"))
        .registered_delivery(rusmpp::values::RegisteredDelivery::from(1u8))
        .push_tlv(T::MessagePayload(rusmpp::values::MessagePayload::new(
            rusmpp::types::AnyOctetString::from_vec(text.to_vec()),
        )))
        .build()
}

#[tokio::test]
async fn data_sm_is_taken_as_a_submit_and_answered_with_data_sm_resp() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let t = Tern::start(&body(sim.port)).await;
    // receipts come to the transceiver; the data_sm goes from a transmitter
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let mut r = raw_bound(t.smpp, 0x02, "demo", "demopass").await;

    r.send(rusmpp::Command::new(
        CommandStatus::EsmeRok,
        2,
        data_sm("491701234567", b"hello by data_sm"),
    ))
    .await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.status(), c.sequence_number()),
        (CommandId::DataSmResp, CommandStatus::EsmeRok, 2)
    );
    let Some(Pdu::DataSmResp(resp)) = c.pdu() else {
        panic!("{c:?}")
    };
    let id = resp.message_id().to_string();
    assert_eq!(id.len(), 16, "a tern id: {id}");

    // it went on like any submit: to the carrier, charged, receipted
    let receipt = e.next_receipt(30).await;
    assert_eq!(
        receipt.tlv_id.as_deref(),
        Some(id.as_str()),
        "{}",
        receipt.text
    );
    assert_eq!(field(&receipt.text, "stat"), Some("DELIVRD"));
    assert_eq!(sim.stats().await.0, 1);
    assert_eq!(micros(&t.balance("demo").await), 100_000_000 - 10_000);

    // a long text in message_payload is billed by its parts, as in a submit_sm
    r.send(rusmpp::Command::new(
        CommandStatus::EsmeRok,
        4,
        data_sm("491701234567", &[b'a'; 400]),
    ))
    .await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.status()),
        (CommandId::DataSmResp, CommandStatus::EsmeRok)
    );
    let receipt = e.next_receipt(30).await;
    assert_eq!(field(&receipt.text, "stat"), Some("DELIVRD"));
    assert_eq!(
        micros(&t.balance("demo").await),
        100_000_000 - 4 * 10_000,
        "three parts for 400 characters"
    );

    // a data_sm with no body is answered, not left hanging
    r.send_bytes(&frame(0x0103, 0, 5, &[])).await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.status(), c.sequence_number()),
        (CommandId::DataSmResp, CommandStatus::EsmeRinvcmdlen, 5)
    );

    // a refusal comes as data_sm_resp too
    r.send(rusmpp::Command::new(
        CommandStatus::EsmeRok,
        3,
        data_sm("not-a-number", b"x"),
    ))
    .await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.status(), c.sequence_number()),
        (CommandId::DataSmResp, CommandStatus::EsmeRinvdstadr, 3)
    );
}

#[tokio::test]
async fn submit_multi_makes_each_number_its_own_message_and_names_the_refused_ones() {
    use rusmpp::types::{COctetString, OctetString};
    use rusmpp::values::{DestAddress, DistributionListName, Npi, SmeAddress, Ton};
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let t = Tern::start(&body(sim.port)).await;
    t.until_metric("tern_carrier_binds_up{carrier=\"c1\"}", 1.0)
        .await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let mut r = raw_bound(t.smpp, 0x02, "demo", "demopass").await;
    let sme = |n: &str| {
        DestAddress::SmeAddress(SmeAddress::new(
            Ton::International,
            Npi::Isdn,
            COctetString::from_string(n.to_string()).expect("addr"),
        ))
    };
    let mut m = rusmpp::pdus::SubmitMulti::builder()
        .source_addr(COctetString::from_string("ACME".into()).expect("source"))
        .registered_delivery(rusmpp::values::RegisteredDelivery::from(1u8))
        .dest_address(vec![
            sme("491701234567"),
            sme("49170abc"),
            DestAddress::DistributionListName(DistributionListName::new(
                COctetString::from_string("friends".into()).expect("dl"),
            )),
            sme("491701234568"),
        ])
        .build();
    m.set_short_message(OctetString::from_vec(b"to you all".to_vec()).expect("text"));
    let before = micros(&t.balance("demo").await);
    r.send(Command::new(CommandStatus::EsmeRok, 5, m)).await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.sequence_number(), c.status()),
        (CommandId::SubmitMultiResp, 5, CommandStatus::EsmeRok)
    );
    let Some(Pdu::SubmitMultiResp(resp)) = c.pdu() else {
        panic!("no body: {c:?}")
    };
    let first = resp.message_id.to_string();
    let refused: Vec<(String, CommandStatus)> = resp
        .unsuccess_sme()
        .iter()
        .map(|u| (u.destination_addr.to_string(), u.error_status_code))
        .collect();
    assert_eq!(
        refused,
        vec![
            ("49170abc".to_string(), CommandStatus::EsmeRinvdstadr),
            ("friends".to_string(), CommandStatus::EsmeRinvdlname),
        ]
    );
    // two messages: two parts charged, two receipts with their own ids, the first the resp's
    assert_eq!(before - micros(&t.balance("demo").await), 2 * 10_000);
    let mut got = [e.next_receipt(10).await, e.next_receipt(10).await];
    got.sort_by(|a, b| a.source.cmp(&b.source));
    assert_eq!(got[0].source, "491701234567");
    assert_eq!(got[0].tlv_id.as_deref(), Some(first.as_str()));
    assert_eq!(got[1].source, "491701234568");
    assert_ne!(got[1].tlv_id.as_deref(), Some(first.as_str()));
    assert_eq!(sim.stats().await.0, 2, "one submit_sm per number");

    // nothing to send to: refused as a whole
    let none = rusmpp::pdus::SubmitMulti::builder()
        .source_addr(COctetString::from_string("ACME".into()).expect("source"))
        .dest_address(vec![sme("x")])
        .build();
    r.send(Command::new(CommandStatus::EsmeRok, 6, none)).await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.status()),
        (CommandId::SubmitMultiResp, CommandStatus::EsmeRinvdstadr)
    );
}

/// Sends a cancel_sm (`replace`: None) or replace_sm for `id` and returns the answer's status.
async fn change(r: &mut Raw, seq: u32, id: &str, replace: Option<&[u8]>) -> CommandStatus {
    use rusmpp::types::{COctetString, OctetString};
    let id = COctetString::from_string(id.to_string()).expect("id");
    let source = COctetString::from_string("ACME".to_string()).expect("source");
    let (cmd, resp) = match replace {
        None => (
            Command::new(
                CommandStatus::EsmeRok,
                seq,
                rusmpp::pdus::CancelSm::builder()
                    .message_id(id)
                    .source_addr(source)
                    .build(),
            ),
            CommandId::CancelSmResp,
        ),
        Some(text) => {
            let mut p = rusmpp::pdus::ReplaceSm::builder()
                .message_id(id)
                .source_addr(source)
                .build();
            p.set_short_message(OctetString::from_vec(text.to_vec()).expect("text"));
            (
                Command::new(CommandStatus::EsmeRok, seq, p),
                CommandId::ReplaceSmResp,
            )
        }
    };
    r.send(cmd).await;
    let c = r.recv().await;
    assert_eq!((c.id(), c.sequence_number()), (resp, seq));
    c.status()
}

/// A switch whose one carrier an operator stopped (what is accepted waits for it), `demo`
/// bound as a transceiver and as a raw transmitter.
async fn stopped_carrier() -> (Sim, Tern, Esme, Raw) {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let t = Tern::start(&body(sim.port)).await;
    t.until_metric("tern_carrier_binds_up{carrier=\"c1\"}", 1.0)
        .await;
    let e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let r = raw_bound(t.smpp, 0x02, "demo", "demopass").await;
    let (st, v) = t.call("POST", "/api/v1/carriers/c1/stop", None).await;
    assert_eq!(st, 200, "{v}");
    (sim, t, e, r)
}

#[tokio::test]
async fn cancel_sm_and_replace_sm_change_only_what_no_carrier_has_yet() {
    // the carrier is stopped: what is accepted waits for it
    let (sim, t, mut e, mut r) = stopped_carrier().await;
    let before = micros(&t.balance("demo").await);
    let a = submit(&e.client, sm("ACME", "491701230001", "to cancel"))
        .await
        .expect("a");
    let b = submit(&e.client, sm("ACME", "491701230002", "first text"))
        .await
        .expect("b");
    let c = submit(&e.client, sm("ACME", "491701230002", "second text"))
        .await
        .expect("c");

    assert_eq!(change(&mut r, 2, &a, None).await, CommandStatus::EsmeRok);
    let receipt = e.next_receipt(10).await;
    assert_eq!(receipt.tlv_id.as_deref(), Some(a.as_str()));
    assert_eq!(field(&receipt.text, "stat"), Some("DELETED"));
    assert_eq!(
        micros(&t.balance("demo").await),
        before - 2 * 10_000,
        "the cancelled one refunded"
    );
    assert_eq!(
        change(&mut r, 3, &a, None).await,
        CommandStatus::EsmeRcancelfail,
        "ended already"
    );
    // a replacement needing another part count than was charged changes nothing
    assert_eq!(
        change(&mut r, 4, &b, Some(&[b'x'; 161])).await,
        CommandStatus::EsmeRreplacefail
    );
    assert_eq!(
        change(&mut r, 5, &b, Some(b"second text")).await,
        CommandStatus::EsmeRok
    );
    assert_eq!(
        change(&mut r, 6, "ffffffffffffffff", None).await,
        CommandStatus::EsmeRcancelfail
    );

    let (st, v) = t.call("POST", "/api/v1/carriers/c1/start", None).await;
    assert_eq!(st, 200, "{v}");
    let mut got = Vec::new();
    while got.len() < 2 {
        got.extend(e.next_receipt(30).await.tlv_id);
    }
    got.sort();
    let mut want = vec![b.clone(), c.clone()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        sim.stats().await,
        (2, 1),
        "the cancelled one never reached the carrier; the replaced one went with its new text"
    );
    // a carrier has it now
    assert_eq!(
        change(&mut r, 7, &b, None).await,
        CommandStatus::EsmeRcancelfail
    );
    assert_eq!(
        change(&mut r, 8, &c, Some(b"too late")).await,
        CommandStatus::EsmeRreplacefail
    );
}

#[tokio::test]
async fn a_message_cancelled_in_its_carriers_queue_is_never_sent() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    // one message a second: the others wait in the carrier's queue
    let body = format!(
        "{}{}{}",
        account(
            "demo",
            "demopass",
            "balance = \"100\"\nprice = \"0.01\"\nmax_binds = 2"
        ),
        carrier("c1", sim.port, "tps = 1"),
        route("", &["c1"])
    );
    let t = Tern::start(&body).await;
    t.until_metric("tern_carrier_binds_up{carrier=\"c1\"}", 1.0)
        .await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let mut r = raw_bound(t.smpp, 0x02, "demo", "demopass").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let dest = format!("49170123000{i}");
        ids.push(
            submit(&e.client, sm("ACME", &dest, "queued"))
                .await
                .expect("accepted"),
        );
    }
    assert_eq!(
        change(&mut r, 2, &ids[2], None).await,
        CommandStatus::EsmeRok
    );
    let mut ended = std::collections::HashMap::new();
    while ended.len() < 3 {
        let d = e.next_receipt(15).await;
        ended.insert(
            d.tlv_id.expect("id"),
            field(&d.text, "stat").map(str::to_string),
        );
    }
    assert_eq!(ended[&ids[2]].as_deref(), Some("DELETED"));
    assert_eq!(ended[&ids[0]].as_deref(), Some("DELIVRD"));
    assert_eq!(ended[&ids[1]].as_deref(), Some("DELIVRD"));
    assert_eq!(
        sim.stats().await.0,
        2,
        "the cancelled one never reached the carrier"
    );
}

#[tokio::test]
async fn a_cancel_sm_without_an_id_cancels_every_waiting_message_to_that_number() {
    use rusmpp::types::COctetString;
    let (sim, t, mut e, mut r) = stopped_carrier().await;
    let mut to_x = Vec::new();
    for i in 0..3 {
        to_x.push(
            submit(&e.client, sm("ACME", "491701239999", &format!("x {i}")))
                .await
                .expect("x"),
        );
    }
    let y = submit(&e.client, sm("ACME", "491701238888", "y"))
        .await
        .expect("y");
    let before = micros(&t.balance("demo").await);
    let cancel = |seq: u32| {
        Command::new(
            CommandStatus::EsmeRok,
            seq,
            rusmpp::pdus::CancelSm::builder()
                .source_addr(COctetString::from_string("ACME".into()).expect("source"))
                .dest_addr_ton(rusmpp::values::Ton::International)
                .dest_addr_npi(rusmpp::values::Npi::Isdn)
                .destination_addr(COctetString::from_string("491701239999".into()).expect("dest"))
                .build(),
        )
    };
    r.send(cancel(2)).await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.status()),
        (CommandId::CancelSmResp, CommandStatus::EsmeRok)
    );
    let mut deleted = Vec::new();
    while deleted.len() < 3 {
        let d = e.next_receipt(10).await;
        assert_eq!(field(&d.text, "stat"), Some("DELETED"));
        deleted.extend(d.tlv_id);
    }
    deleted.sort();
    to_x.sort();
    assert_eq!(deleted, to_x);
    assert_eq!(
        micros(&t.balance("demo").await),
        before + 3 * 10_000,
        "all three refunded"
    );
    // nothing left to cancel there
    r.send(cancel(3)).await;
    assert_eq!(r.recv().await.status(), CommandStatus::EsmeRcancelfail);
    let (st, v) = t.call("POST", "/api/v1/carriers/c1/start", None).await;
    assert_eq!(st, 200, "{v}");
    let d = e.next_receipt(30).await;
    assert_eq!(d.tlv_id.as_deref(), Some(y.as_str()));
    assert_eq!(field(&d.text, "stat"), Some("DELIVRD"));
    assert_eq!(
        sim.stats().await.0,
        1,
        "only the other number's message was sent"
    );
}
