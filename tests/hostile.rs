//! Hostile peers on the SMPP port: garbage, broken lengths, truncated PDUs, slowloris,
//! thousands of connections that never bind, more than `max_connections`, password
//! guessing, binds from addresses an account does not allow. Each gets the SMPP-correct
//! answer or is closed; tern never panics, and a real ESME keeps sending meanwhile.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rusmpp::{CommandId, CommandStatus, Pdu};

const ESME_ROK: u32 = 0;
const ESME_RINVPASWD: u32 = 0x0E;
const ESME_RBINDFAIL: u32 = 0x0D;

fn body(sim: &Sim, extra_accounts: &str) -> String {
    format!(
        "{}{extra_accounts}{}{}",
        account(
            "demo",
            "demopass",
            "balance = \"100\"\nprice = \"0.01\"\ntps = 100000"
        ),
        carrier("c1", sim.port, ""),
        route("", &["c1"])
    )
}

/// An ESME that submits `n` messages and waits for their receipts: the proof that the
/// hostile traffic beside it stalls nothing.
async fn a_real_esme_sends(t: &Tern, n: usize) {
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("a real ESME binds");
    for i in 0..n {
        submit(&e.client, sm("ACME", &format!("4917{i:08}"), "real"))
            .await
            .expect("accepted");
    }
    for got in 0..n {
        if tokio::time::timeout(Duration::from_secs(30), e.receipts.recv())
            .await
            .is_err()
        {
            let log = t.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!("{got} of {n} receipts; log:\n{}", tail.join("\n"));
        }
    }
    // gone for good: later receipts go to the next ESME's bind
    let _ = e.client.unbind().await;
}

#[tokio::test]
async fn broken_bytes_get_the_smpp_answer_and_the_others_keep_flowing() {
    let sim = Sim::start(&["--dlr-delay-ms", "10"]).await;
    let t = Tern::start_with("bind_timeout_s = 1", &body(&sim, "")).await;
    let real = a_real_esme_sends(&t, 50);

    // an HTTP request: its first four bytes read as a command_length of 1.2 GB
    let mut http = Raw::connect(t.smpp).await;
    http.send_bytes(b"GET / HTTP/1.1\r\nHost: tern\r\n\r\n")
        .await;
    // command_length 0, and 12 (below the 16-byte header)
    let mut zero = Raw::connect(t.smpp).await;
    zero.send_bytes(&[0u8; 16]).await;
    let mut short = Raw::connect(t.smpp).await;
    let mut below = frame(0x15, 0, 1, &[]);
    below[..4].copy_from_slice(&12u32.to_be_bytes());
    short.send_bytes(&below).await;
    for (name, raw) in [
        ("http", &mut http),
        ("zero", &mut zero),
        ("short", &mut short),
    ] {
        let sent = raw
            .until_closed(5)
            .await
            .unwrap_or_else(|| panic!("{name}: not closed"));
        let nack = sent.iter().find(|c| c.id() == CommandId::GenericNack);
        assert_eq!(
            nack.map(|c| c.status()),
            Some(CommandStatus::EsmeRinvcmdlen),
            "{name}: generic_nack ESME_RINVCMDLEN before the close"
        );
    }

    // a bind PDU cut off halfway, then silence: closed once bind_timeout_s passes
    let mut cut = Raw::connect(t.smpp).await;
    let whole = frame(0x09, 0, 1, &bind_body("demo", "demopass", 0x34));
    cut.send_bytes(&whole[..whole.len() / 2]).await;
    let t0 = Instant::now();
    assert!(cut.until_closed(5).await.is_some(), "truncated: not closed");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );

    // slowloris: a bind a byte every 300 ms never completes before the timeout
    let mut slow = Raw::connect(t.smpp).await;
    let t0 = Instant::now();
    let mut sent = 0;
    let closed = loop {
        if sent < whole.len() {
            use tokio::io::AsyncWriteExt;
            if slow
                .framed
                .get_mut()
                .write_all(&whole[sent..=sent])
                .await
                .is_err()
            {
                break true;
            }
            sent += 1;
        }
        if let Some(got) = slow.until_closed(0).await {
            assert!(got.is_empty(), "nothing answered to half a PDU");
            break true;
        }
        if t0.elapsed() > Duration::from_secs(5) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(closed, "slowloris: still open after 5 s");
    assert!(sent < whole.len(), "closed before the bind was whole");

    real.await;
    let failures = t
        .metric("tern_bind_failures_total{reason=\"bind_timeout\"}")
        .await;
    assert!(failures >= 2.0, "bind timeouts counted: {failures}");
}

#[tokio::test]
async fn odd_fields_are_answered_and_the_session_lives_on() {
    let sim = Sim::start(&["--dlr-delay-ms", "10"]).await;
    let t = Tern::start(&body(&sim, "")).await;
    let mut r = Raw::connect(t.smpp).await;
    // a system_id that is not ASCII: refused like any unknown one
    let mut b = vec![0xff, 0xfe, 0xc3, 0x28, 0];
    b.extend_from_slice(b"demopass\0\0\x34\0\0\0");
    r.send_bytes(&frame(0x09, 0, 1, &b)).await;
    let resp = r.recv().await;
    assert_eq!(resp.id(), CommandId::BindTransceiverResp);
    assert_ne!(resp.status(), CommandStatus::EsmeRok);
    // the session lives: a right bind on it works
    r.send_bytes(&frame(0x09, 0, 2, &bind_body("demo", "demopass", 0x34)))
        .await;
    assert_eq!(r.recv().await.status(), CommandStatus::EsmeRok);

    // a vendor TLV tern does not know is ignored, as SMPP 3.4 asks (5.3)
    let mut with_tlv = submit_body("ACME", b"491701234567", b"tlv");
    with_tlv.extend_from_slice(&[0x15, 0x00, 0x00, 0x02, 0xab, 0xcd]);
    r.send_bytes(&frame(0x04, 0, 3, &with_tlv)).await;
    // a sender with bytes that are not ASCII
    let mut bad_src = submit_body("ACME", b"491701234568", b"src");
    bad_src[3] = 0xff;
    r.send_bytes(&frame(0x04, 0, 4, &bad_src)).await;
    let mut answers = std::collections::BTreeMap::new();
    while answers.len() < 2 {
        let c = r.recv().await;
        if c.id() == CommandId::SubmitSmResp {
            answers.insert(c.sequence_number(), c.status());
        }
    }
    assert_eq!(answers[&3], CommandStatus::EsmeRok, "unknown TLV ignored");
    assert_ne!(
        answers[&4],
        CommandStatus::EsmeRok,
        "a non-ASCII sender is refused"
    );
    // and still alive
    r.send_bytes(&frame(0x15, 0, 5, &[])).await;
    loop {
        let c = r.recv().await;
        if c.id() == CommandId::EnquireLinkResp {
            assert_eq!(c.sequence_number(), 5);
            break;
        }
        assert!(matches!(c.pdu(), Some(Pdu::DeliverSm(_))), "{c:?}");
    }
}

#[tokio::test]
async fn two_thousand_connections_that_never_bind_are_closed_while_esmes_send() {
    let sim = Sim::start(&["--dlr-delay-ms", "10"]).await;
    let t = Tern::start_with("bind_timeout_s = 5", &body(&sim, "")).await;
    let mut idle = Vec::with_capacity(2000);
    for _ in 0..2000 {
        idle.push(Raw::connect(t.smpp).await);
    }
    // the real ESME binds and sends while the 2,000 sit there
    a_real_esme_sends(&t, 200).await;
    assert!(
        idle[1999].until_closed(0).await.is_none(),
        "the ESME was done before the idle connections timed out"
    );
    let t0 = Instant::now();
    for (i, r) in idle.iter_mut().enumerate() {
        let left = 20u64.saturating_sub(t0.elapsed().as_secs()).max(1);
        assert!(
            r.until_closed(left).await.is_some(),
            "idle connection {i} still open"
        );
    }
    let closed = t
        .metric("tern_bind_failures_total{reason=\"bind_timeout\"}")
        .await;
    assert!(closed >= 2000.0, "{closed} counted");
    // the slots came back: a new ESME binds
    a_real_esme_sends(&t, 1).await;
}

#[tokio::test]
async fn connections_past_max_connections_are_closed_at_once() {
    let sim = Sim::start(&[]).await;
    let t = Tern::start_with("max_connections = 10", &body(&sim, "")).await;
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(Raw::connect(t.smpp).await);
    }
    let mut over = Raw::connect(t.smpp).await;
    // closed without a session: nothing is answered (the bound is generous: a busy
    // machine may take a while to accept at all)
    assert_eq!(
        over.until_closed(15).await.map(|c| c.len()),
        Some(0),
        "the 11th is closed at once, unanswered"
    );
    assert!(t.metric("tern_connections_refused_total").await >= 1.0);
    // the ten are served
    held[0]
        .send_bytes(&frame(0x09, 0, 1, &bind_body("demo", "demopass", 0x34)))
        .await;
    assert_eq!(held[0].recv().await.status(), CommandStatus::EsmeRok);
    // a closed one gives its place back
    held.truncate(5);
    let t0 = Instant::now();
    loop {
        match bind(t.smpp, "demo", "demopass", Mode::Tx).await {
            Ok(_) => break,
            Err(s) if t0.elapsed() < Duration::from_secs(10) => {
                eprintln!("not yet: {s:#x}");
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(s) => panic!("no room after closing five: {s:#x}"),
        }
    }
}

#[tokio::test]
async fn failed_binds_lock_the_address_out_for_lockout_s() {
    let sim = Sim::start(&[]).await;
    let t = Tern::start_with(
        "bind_failures_before_lockout = 3\nlockout_s = 2",
        &body(&sim, ""),
    )
    .await;
    for pw in ["guess1", "guess2", "guess3"] {
        assert_eq!(
            bind(t.smpp, "demo", pw, Mode::Tx).await.err(),
            Some(ESME_RINVPASWD)
        );
    }
    // locked out: even the right password is refused, before it is checked
    assert_eq!(
        bind(t.smpp, "demo", "demopass", Mode::Tx).await.err(),
        Some(ESME_RBINDFAIL)
    );
    assert!(
        t.metric("tern_bind_failures_total{reason=\"locked_out\"}")
            .await
            >= 1.0
    );
    assert_eq!(
        t.metric("tern_bind_failures_total{reason=\"credentials\"}")
            .await,
        3.0
    );
    // lockout_s later it binds again
    let t0 = Instant::now();
    loop {
        match bind(t.smpp, "demo", "demopass", Mode::Tx).await {
            Ok(_) => break,
            Err(ESME_RBINDFAIL) if t0.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(s) => panic!("still refused after the lockout: {s:#x}"),
        }
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(1000),
        "not lifted at once"
    );
    // no password, right or guessed, and no token in the log, the metrics or the audit
    let (_, metrics) = http_get(t.http, "/metrics", None).await;
    let (_, audit) = t.get("/api/v1/audit").await;
    for (what, text) in [("log", t.log()), ("metrics", metrics), ("audit", audit)] {
        for secret in ["guess1", "demopass", "ternpass", TOKEN] {
            assert!(!text.contains(secret), "{secret} in the {what}");
        }
    }
}

#[tokio::test]
async fn allowed_ips_refuse_binds_from_elsewhere_and_change_live() {
    let sim = Sim::start(&[]).await;
    let others = format!(
        "{}{}",
        account("far", "farpass", "allowed_ips = [\"10.0.0.0/8\"]"),
        account(
            "near",
            "nearpass",
            "allowed_ips = [\"127.0.0.0/8\", \"::1\"]"
        )
    );
    let t = Tern::start(&body(&sim, &others)).await;
    assert_eq!(
        bind(t.smpp, "far", "farpass", Mode::Tx).await.err(),
        Some(ESME_RBINDFAIL),
        "right password, wrong address"
    );
    assert_eq!(
        bind(t.smpp, "far", "nopass", Mode::Tx).await.err(),
        Some(ESME_RINVPASWD),
        "a wrong password says nothing of the address"
    );
    assert!(bind(t.smpp, "near", "nearpass", Mode::Tx).await.is_ok());
    assert!(
        t.metric("tern_bind_failures_total{reason=\"ip_not_allowed\"}")
            .await
            >= 1.0
    );
    // a bad CIDR is a 400 naming the field; a good one applies to the next bind
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/accounts/far",
            Some(r#"{"allowed_ips": ["10.0.0.0/33"]}"#),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v.to_string().contains("allowed_ips"), "{v}");
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/accounts/far",
            Some(r#"{"allowed_ips": ["127.0.0.1"]}"#),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["allowed_ips"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(
        bind(t.smpp, "far", "farpass", Mode::Tx)
            .await
            .err()
            .unwrap_or(ESME_ROK),
        ESME_ROK
    );
}

#[tokio::test]
async fn binds_queued_at_once_get_no_more_guesses_than_the_lockout_allows() {
    let sim = Sim::start(&[]).await;
    let t = Tern::start_with(
        "bind_failures_before_lockout = 3\nlockout_s = 60",
        &body(&sim, ""),
    )
    .await;
    // twelve guesses sent together: they queue for the password check, and those still
    // waiting once the address is locked out are refused unchecked
    let guesses: Vec<_> = (0..12)
        .map(|i| {
            let addr = t.smpp;
            tokio::spawn(async move {
                bind(addr, "demo", &format!("guess{i}"), Mode::Tx)
                    .await
                    .err()
            })
        })
        .collect();
    for g in guesses {
        let status = g.await.expect("task");
        assert!(
            matches!(status, Some(ESME_RINVPASWD) | Some(ESME_RBINDFAIL)),
            "{status:?}"
        );
    }
    let checked = t
        .metric("tern_bind_failures_total{reason=\"credentials\"}")
        .await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    assert!(
        checked <= 3.0 + 2.0 * cores,
        "{checked} passwords checked: the lockout (3) plus those running or just let through"
    );
    assert!(
        t.metric("tern_bind_failures_total{reason=\"locked_out\"}")
            .await
            >= 12.0 - checked
    );
}
