//! Five carriers at once, four of them misbehaving as real SMSCs do: one hangs (takes the
//! TCP connection, answers nothing), one drops the connection every few submits, one
//! answers garbage bytes, one throttles everything; the fifth is healthy and is every
//! route's failover. Every message must reach a carrier and its receipt the ESME once,
//! the healthy carrier's bind must never be touched, and the breakers of the broken ones
//! must open and close again once they heal.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::*;

/// Route prefix → carrier id; each route fails over to `good`.
const ROUTES: [(&str, &str); 5] = [
    ("4911", "hang"),
    ("4912", "drop"),
    ("4913", "junk"),
    ("4914", "slow"),
    ("4915", "good"),
];

const FAST_FAILURE: &str = "response_timeout_s = 1\nbreaker_failures = 2\nbreaker_cooldown_s = 1";

async fn metric_of(t: &Tern, name: &str, carrier: &str) -> f64 {
    t.metric(&format!("{name}{{carrier=\"{carrier}\"}}")).await
}

async fn until(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    let t0 = Instant::now();
    while !check().await {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{what} within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn misbehaving_carriers_fail_over_to_the_healthy_one_and_heal() {
    let hang = Sim::start(&["--hang-after", "0"]).await;
    let drop = Sim::start(&["--disconnect-every", "7", "--dlr-delay-ms", "0"]).await;
    let junk = Sim::start(&["--garbage"]).await;
    let slow = Sim::start(&["--throttle-every", "1"]).await;
    let good = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let mut body = account(
        "demo",
        "demopass",
        "balance = \"100.00\"\nprice = \"0.01\"\ntps = 10000\n",
    );
    for (id, sim) in [
        ("hang", &hang),
        ("drop", &drop),
        ("junk", &junk),
        ("slow", &slow),
        ("good", &good),
    ] {
        body += &carrier(id, sim.port, FAST_FAILURE);
    }
    for (prefix, c) in ROUTES {
        let carriers: Vec<&str> = if c == "good" {
            vec!["good"]
        } else {
            vec![c, "good"]
        };
        body += &route(prefix, &carriers);
    }
    let t = Tern::start(&body).await;
    until("the healthy carrier binds", 10, async || {
        metric_of(&t, "tern_carrier_binds_up", "good").await == 1.0
    })
    .await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");

    // 20 messages on each route
    let mut ids = HashSet::new();
    for i in 0..100 {
        let (prefix, _) = ROUTES[i % ROUTES.len()];
        let id = submit(&e.client, sm("ACME", &format!("{prefix}{i:06}"), "x"))
            .await
            .expect("accepted");
        ids.insert(id);
    }
    let mut got: HashMap<String, usize> = HashMap::new();
    while got.len() < ids.len() {
        let r = e.next_receipt(60).await;
        assert_eq!(field(&r.text, "stat"), Some("DELIVRD"), "{}", r.text);
        *got.entry(r.tlv_id.expect("receipted_message_id"))
            .or_default() += 1;
    }
    assert_eq!(got.keys().cloned().collect::<HashSet<_>>(), ids);
    assert!(got.values().all(|n| *n == 1), "a receipt came twice");

    // the healthy carrier took its own 20 and the failovers, and its bind never dropped
    let ok_good = t
        .metric("tern_carrier_submit_total{carrier=\"good\",status=\"ESME_ROK\"}")
        .await;
    assert!(ok_good >= 60.0, "good carried {ok_good}");
    assert!(
        !t.log()
            .lines()
            .any(|l| l.contains("carrier=good") && l.contains("carrier session failed")),
        "the healthy bind was touched:\n{}",
        t.log()
    );
    assert!(
        t.log()
            .lines()
            .any(|l| l.contains("carrier=junk") && l.contains("carrier session failed")),
        "the garbage carrier's failures are logged"
    );
    // the hung and the garbage carriers never bound: their breakers opened
    for c in ["hang", "junk"] {
        assert_ne!(
            metric_of(&t, "tern_carrier_breaker_state", c).await,
            0.0,
            "{c}'s breaker is open"
        );
    }

    // they heal: healthy simulators where they were
    let (hang_port, junk_port) = (hang.port, junk.port);
    std::mem::drop(hang);
    std::mem::drop(junk);
    let _hang = Sim::start_on(hang_port, &["--dlr-delay-ms", "0"]).await;
    let _junk = Sim::start_on(junk_port, &["--dlr-delay-ms", "0"]).await;
    let mut n = 0;
    until("the healed carriers' breakers close", 90, async || {
        // a message on each route is the probe once the cool-down is over
        for prefix in ["4911", "4913"] {
            n += 1;
            let id = submit(&e.client, sm("ACME", &format!("{prefix}9{n:05}"), "x"))
                .await
                .expect("accepted");
            let r = e.next_receipt(30).await;
            assert_eq!(r.tlv_id.as_deref(), Some(id.as_str()));
        }
        metric_of(&t, "tern_carrier_breaker_state", "hang").await == 0.0
            && metric_of(&t, "tern_carrier_breaker_state", "junk").await == 0.0
    })
    .await;
    for c in ["hang", "junk"] {
        assert!(
            t.metric(&format!(
                "tern_carrier_submit_total{{carrier=\"{c}\",status=\"ESME_ROK\"}}"
            ))
            .await
                >= 1.0,
            "{c} carries traffic again"
        );
    }
}

#[tokio::test]
async fn a_carrier_that_hangs_mid_session_is_dropped_and_its_traffic_fails_over() {
    // answers 5 submits, then nothing more, on sockets it keeps open
    let hang = Sim::start(&["--hang-after", "5", "--dlr-delay-ms", "100000"]).await;
    let good = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}{}",
        account(
            "demo",
            "demopass",
            "balance = \"100.00\"\nprice = \"0.01\"\ntps = 10000\n"
        ),
        carrier("hang", hang.port, FAST_FAILURE),
        carrier("good", good.port, FAST_FAILURE),
        route("", &["hang", "good"])
    );
    let t = Tern::start(&body).await;
    until("both carriers bind", 10, async || {
        metric_of(&t, "tern_carrier_binds_up", "hang").await == 1.0
            && metric_of(&t, "tern_carrier_binds_up", "good").await == 1.0
    })
    .await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let mut after_hang = HashSet::new();
    for i in 0..25 {
        let id = submit(&e.client, sm("ACME", &format!("4917{i:06}"), "x"))
            .await
            .expect("accepted");
        if i >= 5 {
            after_hang.insert(id);
        }
    }
    // the 20 sent after the hang time out on it, or skip it, and reach the healthy carrier
    let mut got = HashSet::new();
    while got.len() < after_hang.len() {
        let r = e.next_receipt(30).await;
        let id = r.tlv_id.expect("receipted_message_id");
        assert!(
            after_hang.contains(&id),
            "only the hung carrier's own 5 wait"
        );
        assert!(got.insert(id), "a receipt came twice");
    }
    until("the hung bind is dropped", 10, async || {
        t.log().contains("carrier stopped answering")
    })
    .await;
}
