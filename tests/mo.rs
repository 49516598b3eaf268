//! Two-way messaging against the running switch and the carrier simulator: a handset's MO
//! (sent by the simulator's `POST /mo`) reaches the account owning the number it wrote to,
//! on a TRX or RX bind, after waiting for one across a kill -9, or by signed webhook; an MO
//! no route takes is kept for the operator; STOP suppresses the account's next message to
//! the handset and START lifts it; concatenated MO arrive as the carrier sent them.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const HANDSET: &str = "447700900123";
const NUMBER: &str = "447800000001";

/// A switch with account `acme` (and `account_extra` settings) owning numbers 4478…, the
/// simulator as its carrier, and `extra` config.
async fn switch(sim: &Sim, account_extra: &str, extra: &str) -> Tern {
    let body = format!(
        "{}{}{}{extra}\n[[mo_routes]]\nprefix = \"4478\"\naccount = \"acme\"\n",
        account(
            "acme",
            "acmepass",
            &format!("balance = \"10.00\"\nprice = \"0.01\"\n{account_extra}"),
        ),
        carrier("sim", sim.port, ""),
        route("", &["sim"]),
    );
    let t = Tern::start(&body).await;
    t.until_metric("tern_carrier_binds_up{carrier=\"sim\"}", 1.0)
        .await;
    t
}

/// A simulator (with `args`), the switch, and `acme` bound as a transceiver.
async fn bound_trx(args: &[&str]) -> (Sim, Tern, Esme) {
    let sim = Sim::start(args).await;
    let t = switch(&sim, "", "").await;
    let e = bind(t.smpp, "acme", "acmepass", Mode::Trx)
        .await
        .expect("bind");
    (sim, t, e)
}

/// The simulator sends an MO; returns how many parts it took.
async fn mo(sim: &Sim, body: Value) -> u64 {
    let (st, _, b) = http_exchange(sim.control, "POST", "/mo", None, Some(&body.to_string())).await;
    assert_eq!(st, 202, "{b}");
    serde_json::from_str::<Value>(&b).expect("json")["parts"]
        .as_u64()
        .expect("parts")
}

/// Waits until the switch has acknowledged `n` MO parts to the simulator (each stored).
async fn until_acked(sim: &Sim, n: u64) {
    let t0 = Instant::now();
    loop {
        let v = sim.stats_json().await;
        if v["mo_acked"].as_u64() >= Some(n) {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "MO not acked: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next deliver_sm on `e` (an MO or a receipt).
async fn next(e: &mut Esme) -> GotReceipt {
    e.next_receipt(10).await
}

/// The MO listing, as the operator sees it.
async fn mo_list(t: &Tern, query: &str) -> Vec<Value> {
    let (st, v) = t
        .call(
            "GET",
            &format!("/api/v1/messages?direction=mo{query}"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    v["messages"].as_array().expect("messages").clone()
}

/// Waits until the operator sees the MO from `from` in `state`.
async fn until_mo_state(t: &Tern, from: &str, state: &str) -> Value {
    let t0 = Instant::now();
    loop {
        let all = mo_list(t, "").await;
        if let Some(m) = all
            .iter()
            .find(|m| m["from"] == from && m["state"] == state)
        {
            return m.clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no MO from {from} in {state}: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_mo_reaches_a_bound_trx_as_the_handset_wrote_it() {
    let (sim, t, mut e) = bound_trx(&[]).await;
    mo(
        &sim,
        json!({"from": HANDSET, "to": NUMBER, "text": "Hello there"}),
    )
    .await;
    let d = next(&mut e).await;
    assert_eq!(d.esm_class, 0, "a plain message, not a receipt");
    assert_eq!((d.source.as_str(), d.dest.as_str()), (HANDSET, NUMBER));
    assert_eq!(d.short, b"Hello there");
    // the ESME answered it: the record says so, and it is counted
    let m = until_mo_state(&t, HANDSET, "delivered").await;
    assert_eq!(m["account"], "acme");
    assert_eq!(m["text"], "Hello there");
    t.until_metric("tern_mo_total{outcome=\"smpp\"}", 1.0).await;
    let (st, one) = t
        .call(
            "GET",
            &format!("/api/v1/messages/{}", m["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(one["direction"], "mo");
}

#[tokio::test]
async fn an_mo_goes_to_the_receiver_bind_while_the_transmitter_sends() {
    let sim = Sim::start(&[]).await;
    let t = switch(&sim, "", "").await;
    let mut tx = bind(t.smpp, "acme", "acmepass", Mode::Tx)
        .await
        .expect("bind tx");
    let mut rx = bind(t.smpp, "acme", "acmepass", Mode::Rx)
        .await
        .expect("bind rx");
    let id = submit(&tx.client, sm(NUMBER, HANDSET, "are you there?"))
        .await
        .expect("submit");
    mo(&sim, json!({"from": HANDSET, "to": NUMBER, "text": "yes"})).await;
    // the RX bind gets both the receipt and the MO, in whichever order they came
    let mut got = [next(&mut rx).await, next(&mut rx).await];
    got.sort_by_key(|d| d.esm_class);
    assert_eq!(got[0].esm_class, 0);
    assert_eq!(got[0].short, b"yes");
    assert_eq!(got[1].esm_class, 4);
    assert_eq!(got[1].tlv_id.as_deref(), Some(id.as_str()));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), tx.receipts.recv())
            .await
            .is_err(),
        "a transmitter bind gets no deliver_sm"
    );
}

#[tokio::test]
async fn an_mo_stored_before_its_ack_waits_for_a_bind_across_kill_9() {
    let sim = Sim::start(&[]).await;
    let mut t = switch(&sim, "", "").await;
    mo(
        &sim,
        json!({"from": HANDSET, "to": NUMBER, "text": "anyone?"}),
    )
    .await;
    // acknowledged to the carrier means stored: it survives the crash
    until_acked(&sim, 1).await;
    until_mo_state(&t, HANDSET, "queued").await;
    t.kill9();
    t.restart().await;
    t.until_metric("tern_carrier_binds_up{carrier=\"sim\"}", 1.0)
        .await;
    let mut e = bind(t.smpp, "acme", "acmepass", Mode::Trx)
        .await
        .expect("bind");
    let d = next(&mut e).await;
    assert_eq!(d.short, b"anyone?");
    assert_eq!(d.source, HANDSET);
    until_mo_state(&t, HANDSET, "delivered").await;
    assert_eq!(
        sim.stats_json().await["mo_sent"],
        1,
        "the carrier sent it once"
    );
}

#[tokio::test]
async fn an_mo_no_route_takes_is_acknowledged_kept_and_listed() {
    let (sim, t, mut e) = bound_trx(&[]).await;
    mo(
        &sim,
        json!({"from": HANDSET, "to": "15550001111", "text": "lost"}),
    )
    .await;
    until_acked(&sim, 1).await;
    t.until_metric("tern_mo_total{outcome=\"no_route\"}", 1.0)
        .await;
    let unrouted = mo_list(&t, "&state=unrouted").await;
    assert_eq!(unrouted.len(), 1, "{unrouted:?}");
    assert_eq!(unrouted[0]["to"], "15550001111");
    assert_eq!(unrouted[0]["text"], "lost");
    assert!(unrouted[0].get("account").is_none());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), e.receipts.recv())
            .await
            .is_err(),
        "nobody gets an MO no route takes"
    );
    // routed live: the next one to that number reaches acme
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/mo-routes",
            Some(&json!({"mo_routes": [{"prefix": "1555", "account": "acme"}]}).to_string()),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    mo(
        &sim,
        json!({"from": HANDSET, "to": "15550001111", "text": "found"}),
    )
    .await;
    assert_eq!(next(&mut e).await.short, b"found");
}

#[tokio::test]
async fn mo_routes_and_suppressions_are_validated_and_audited() {
    let sim = Sim::start(&[]).await;
    let t = switch(&sim, "", "").await;
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/mo-routes",
            Some(&json!({"mo_routes": [{"prefix": "44", "account": "nobody"}]}).to_string()),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("nobody"),
        "{v}"
    );
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/mo-routes",
            Some(&json!({"mo_routes": [{"prefix": "44", "account": "acme"}, {"prefix": "+44", "account": "acme"}]}).to_string()),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let (_, v) = t.call("GET", "/api/v1/mo-routes", None).await;
    assert_eq!(
        v["mo_routes"],
        json!([{"prefix": "4478", "account": "acme"}]),
        "unchanged"
    );

    let entry = json!({"account": "acme", "handset": "+447700900999", "number": "ACME"});
    let (st, v) = t
        .call("POST", "/api/v1/suppressions", Some(&entry.to_string()))
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["handset"], "447700900999");
    let (st, v) = t
        .call(
            "POST",
            "/api/v1/suppressions",
            Some(&json!({"account": "ghost", "handset": "1", "number": "2"}).to_string()),
        )
        .await;
    assert_eq!(st, 404, "{v}");
    let (_, v) = t
        .call("GET", "/api/v1/suppressions?account=acme", None)
        .await;
    assert_eq!(v["suppressions"].as_array().unwrap().len(), 1, "{v}");
    let (_, audit) = t.call("GET", "/api/v1/audit", None).await;
    assert!(audit.to_string().contains("suppressions.add"), "{audit}");
    let (st, v) = t
        .call(
            "DELETE",
            "/api/v1/suppressions?account=acme&handset=447700900999&number=ACME",
            None,
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let (st, _) = t
        .call(
            "DELETE",
            "/api/v1/suppressions?account=acme&handset=447700900999&number=ACME",
            None,
        )
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn stop_refuses_the_next_message_uncharged_and_start_lets_it_through() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let t = switch(&sim, "", &format!("[api]\nlisten = \"{api}\"\n")).await;
    let (key, _) = key_and_secret(&t, "acme").await;
    let mut e = bind(t.smpp, "acme", "acmepass", Mode::Trx)
        .await
        .expect("bind");
    mo(
        &sim,
        json!({"from": HANDSET, "to": NUMBER, "text": " Stop "}),
    )
    .await;
    // the MO itself is still delivered
    assert_eq!(next(&mut e).await.short, b" Stop ");
    until_mo_state(&t, HANDSET, "delivered").await;
    let before = t.balance("acme").await;
    assert_eq!(
        submit(&e.client, sm(NUMBER, HANDSET, "one more offer")).await,
        Err(0x45),
        "ESME_RSUBMITFAIL"
    );
    let (st, _, v) = http_exchange(
        api,
        "POST",
        "/v1/messages",
        Some(&key),
        Some(&json!({"to": format!("+{HANDSET}"), "from": NUMBER, "text": "hi"}).to_string()),
    )
    .await;
    assert_eq!(st, 403, "{v}");
    assert!(v.contains("opted_out"), "{v}");
    assert_eq!(t.balance("acme").await, before, "nothing charged");
    assert_eq!(
        t.metric("tern_suppressed_total{account=\"acme\"}").await,
        2.0
    );
    // another sender, and another handset, are not touched
    let mut sent = vec![
        submit(&e.client, sm("447800000002", HANDSET, "from elsewhere"))
            .await
            .expect("another number may send"),
        submit(&e.client, sm(NUMBER, "447700900124", "to another"))
            .await
            .expect("another handset may be sent to"),
    ];
    let (_, v) = t
        .call("GET", "/api/v1/suppressions?account=acme", None)
        .await;
    assert_eq!(
        v["suppressions"][0]["source"], "mo",
        "put there by the handset: {v}"
    );

    mo(
        &sim,
        json!({"from": HANDSET, "to": NUMBER, "text": "START"}),
    )
    .await;
    let mut receipts = Vec::new();
    loop {
        let d = next(&mut e).await;
        if d.esm_class == 0 {
            assert_eq!(d.short, b"START");
            break;
        }
        receipts.extend(d.tlv_id);
    }
    // the opt-in is applied once stored, before the ESME gets the MO
    sent.push(
        submit(&e.client, sm(NUMBER, HANDSET, "welcome back"))
            .await
            .expect("accepted again"),
    );
    while !sent.iter().all(|id| receipts.contains(id)) {
        receipts.extend(next(&mut e).await.tlv_id);
    }
    assert_eq!(
        sim.stats().await.0,
        3,
        "the refused ones never reached the carrier"
    );
}

#[tokio::test]
async fn a_three_part_mo_arrives_in_order_in_each_kind_of_concatenation() {
    let (sim, _t, mut e) = bound_trx(&[]).await;
    let text: String = (0..400)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    for joined in ["udh8", "udh16", "sar"] {
        let n = mo(
            &sim,
            json!({"from": HANDSET, "to": NUMBER, "text": text, "joined": joined}),
        )
        .await;
        assert_eq!(n, 3, "{joined}");
        let mut got = String::new();
        for seq in 1..=3u8 {
            let d = next(&mut e).await;
            assert_eq!(d.source, HANDSET);
            let body = match joined {
                "sar" => {
                    let (_, total, s) = d.sar.expect("SAR TLVs kept");
                    assert_eq!((total, s), (3, seq), "{joined}: in order");
                    assert_eq!(d.esm_class, 0);
                    d.short.clone()
                }
                _ => {
                    assert_eq!(d.esm_class, 0x40, "{joined}: UDHI kept");
                    let udhl = usize::from(d.short[0]);
                    let udh = &d.short[1..=udhl];
                    let (iei, total, s) = (udh[0], udh[udhl - 2], udh[udhl - 1]);
                    assert_eq!(iei, if joined == "udh8" { 0 } else { 8 }, "{joined}");
                    assert_eq!((total, s), (3, seq), "{joined}: in order");
                    d.short[1 + udhl..].to_vec()
                }
            };
            got.push_str(std::str::from_utf8(&body).unwrap());
        }
        assert_eq!(got, text, "{joined}");
    }
}

#[tokio::test]
async fn an_mo_for_an_account_with_no_bind_goes_to_its_webhook_signed() {
    let sim = Sim::start(&[]).await;
    let port = free_port();
    let mut hooks = receiver(port, vec![503]).await;
    let hook = format!("webhook_url = \"http://127.0.0.1:{port}/mo\"\n");
    let t = switch(&sim, &hook, "").await;
    let (_, secret) = key_and_secret(&t, "acme").await;
    mo(
        &sim,
        json!({"from": HANDSET, "to": NUMBER, "text": "Grüße 👋"}),
    )
    .await;
    // the first attempt is refused (503); the retry carries the same id
    let first = next_hook(&mut hooks, 10).await;
    let h = next_hook(&mut hooks, 10).await;
    assert_eq!(first.headers["webhook-id"], h.headers["webhook-id"]);
    assert_signed(&h, &secret);
    let v: Value = serde_json::from_slice(&h.body).expect("json");
    assert_eq!(v["type"], "mo");
    assert_eq!(v["data"]["from"], HANDSET);
    assert_eq!(v["data"]["to"], NUMBER);
    assert_eq!(v["data"]["text"], "Grüße 👋");
    until_mo_state(&t, HANDSET, "delivered").await;
    t.until_metric("tern_mo_total{outcome=\"webhook\"}", 1.0)
        .await;
}

#[tokio::test]
async fn a_concatenated_mo_reaches_a_webhook_as_one_text() {
    let sim = Sim::start(&[]).await;
    let port = free_port();
    let mut hooks = receiver(port, vec![]).await;
    let hook = format!("webhook_url = \"http://127.0.0.1:{port}/mo\"\n");
    let t = switch(&sim, &hook, "").await;
    key_and_secret(&t, "acme").await;
    // UCS-2, three parts of at most 67 characters
    let text: String = "Привет, мир! ".repeat(12);
    for joined in ["udh16", "sar"] {
        let n = mo(
            &sim,
            json!({"from": HANDSET, "to": NUMBER, "text": text, "joined": joined}),
        )
        .await;
        assert_eq!(n, 3, "{joined}");
        let h = next_hook(&mut hooks, 10).await;
        let v: Value = serde_json::from_slice(&h.body).expect("json");
        assert_eq!(v["type"], "mo");
        assert_eq!(
            v["data"]["text"],
            text.as_str(),
            "{joined}: joined in order"
        );
        assert_eq!(v["data"]["parts"], 3);
        assert_eq!(v["data"]["part_ids"].as_array().map(Vec::len), Some(3));
    }
    t.until_metric("tern_mo_total{outcome=\"webhook\"}", 6.0)
        .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), hooks.recv())
            .await
            .is_err(),
        "one webhook per message, not one per part"
    );
}

#[tokio::test]
async fn an_mo_its_webhook_keeps_refusing_goes_to_a_receiver_that_binds() {
    let sim = Sim::start(&[]).await;
    let port = free_port();
    let mut hooks = receiver(port, vec![503; 100]).await;
    let hook = format!("webhook_url = \"http://127.0.0.1:{port}/mo\"\n");
    let t = switch(&sim, &hook, "").await;
    key_and_secret(&t, "acme").await;
    mo(
        &sim,
        json!({"from": HANDSET, "to": NUMBER, "text": "bind first"}),
    )
    .await;
    next_hook(&mut hooks, 10).await;
    let mut e = bind(t.smpp, "acme", "acmepass", Mode::Rx)
        .await
        .expect("bind");
    assert_eq!(next(&mut e).await.short, b"bind first");
    until_mo_state(&t, HANDSET, "delivered").await;
    t.until_metric("tern_mo_total{outcome=\"smpp\"}", 1.0).await;
    assert_eq!(t.metric("tern_mo_total{outcome=\"webhook\"}").await, 0.0);
}

#[tokio::test]
async fn python_smpplib_gets_the_mo_waiting_for_it_and_its_stop_refuses_the_reply() {
    if !have_smpplib() {
        return;
    }
    let sim = Sim::start(&[]).await;
    let t = switch(&sim, "", "").await;
    // sent before the client binds: it waits for it
    mo(&sim, json!({"from": HANDSET, "to": NUMBER, "text": "STOP"})).await;
    until_mo_state(&t, HANDSET, "queued").await;
    let script = format!(
        r#"
import smpplib.client, smpplib.exceptions
got = []
c = smpplib.client.Client("127.0.0.1", {port}, timeout=20)
c.set_message_received_handler(lambda pdu: got.append(pdu))
c.connect()
c.bind_transceiver(system_id="acme", password="acmepass")
while not got:
    c.read_once()
m = got[0]
print("mo", m.esm_class, m.source_addr.decode(), m.destination_addr.decode(), m.short_message.decode())
c.send_message(source_addr_ton=1, source_addr="{NUMBER}", dest_addr_ton=1, dest_addr_npi=1,
               destination_addr="{HANDSET}", short_message=b"are you sure?")
try:
    c.read_once()
    print("accepted")
except smpplib.exceptions.PDUError as e:
    print("refused", e.args[1])
"#,
        port = t.smpp.port()
    );
    let (stdout, stderr) = run_python(script).await;
    assert!(
        stdout.contains(&format!("mo 0 {HANDSET} {NUMBER} STOP")),
        "the MO as the handset wrote it: {stdout} {stderr}"
    );
    assert!(
        stdout.contains("refused 69"),
        "ESME_RSUBMITFAIL (0x45): {stdout} {stderr}"
    );
    until_mo_state(&t, HANDSET, "delivered").await;
}

#[tokio::test]
async fn an_account_with_its_own_keywords_honours_those_instead() {
    let (sim, t, mut e) = bound_trx(&[]).await;
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/accounts/acme",
            Some(&json!({"opt_out_keywords": ["Halt"], "opt_in_keywords": ["halt"]}).to_string()),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v.to_string().contains("opt_in_keywords"), "{v}");
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/accounts/acme",
            Some(&json!({"opt_out_keywords": ["Halt"]}).to_string()),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["opt_out_keywords"], json!(["Halt"]));
    for text in ["STOP", "halt"] {
        mo(&sim, json!({"from": HANDSET, "to": NUMBER, "text": text})).await;
        assert_eq!(next(&mut e).await.short, text.as_bytes());
    }
    let (_, v) = t
        .call("GET", "/api/v1/suppressions?account=acme", None)
        .await;
    assert_eq!(v["suppressions"].as_array().map(Vec::len), Some(1), "{v}");
    let all = mo_list(&t, "").await;
    let opts: Vec<&Value> = all.iter().map(|m| &m["opt"]).collect();
    assert_eq!(
        opts,
        [&Value::Null, &json!("opt_out")],
        "STOP is not this account's keyword; HALT is"
    );
    assert_eq!(
        submit(&e.client, sm(NUMBER, HANDSET, "still there?")).await,
        Err(0x45)
    );
}

#[tokio::test]
async fn the_default_config_brings_the_simulators_mo_to_demo_and_honours_its_stop() {
    // config/tern.toml as shipped, on free ports and a fresh data dir
    let mut t = Tern::prepare("", "", "");
    let (sim_port, control_port, api_port) = (free_port(), free_port(), free_port());
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tern.toml"),
    )
    .expect("config/tern.toml");
    let text = shipped
        .replace("0.0.0.0:2775", &t.smpp.to_string())
        .replace("127.0.0.1:8080", &t.http.to_string())
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{api_port}"))
        .replace("127.0.0.1:2777", &format!("127.0.0.1:{control_port}"))
        .replace("127.0.0.1:2776", &format!("127.0.0.1:{sim_port}"))
        .replace("port = 2776", &format!("port = {sim_port}"))
        .replace(
            "admin_token = \"change-me\"",
            "admin_token = \"test-token\"",
        );
    for port in ["2775", "8080", "8081", "2776", "2777"] {
        assert!(!text.contains(port), "port {port} left in: {text}");
    }
    std::fs::write(&t.config, text).expect("config");
    t.restart().await;
    t.until_metric("tern_carrier_binds_up{carrier=\"sim\"}", 1.0)
        .await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind demo");
    let control = SocketAddr::from(([127, 0, 0, 1], control_port));
    // as the README's `curl -d` sends it: a form content type over a JSON body
    let post = |text: &'static str| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = json!({"from": "491701234567", "to": "ACME", "text": text}).to_string();
        let mut s = tokio::net::TcpStream::connect(control)
            .await
            .expect("connect");
        let req = format!(
            "POST /mo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        assert!(out.starts_with("HTTP/1.1 202"), "{out}");
    };
    post("Yes please").await;
    let d = next(&mut e).await;
    assert_eq!((d.esm_class, d.short.as_slice()), (0, &b"Yes please"[..]));
    assert_eq!(
        (d.source.as_str(), d.dest.as_str()),
        ("491701234567", "ACME")
    );
    post("STOP").await;
    assert_eq!(next(&mut e).await.short, b"STOP");
    assert_eq!(
        submit(&e.client, sm("ACME", "491701234567", "one more?")).await,
        Err(0x45),
        "the handset said STOP"
    );
    submit(&e.client, sm("ACME", "491701234568", "someone else"))
        .await
        .expect("other handsets still get messages");
}

#[tokio::test]
async fn an_unrouted_mo_is_listed_behind_many_routed_ones() {
    let sim = Sim::start(&[]).await;
    let t = switch(&sim, "", "").await;
    // no bind: the routed ones wait, queued; the last one matches no route
    for i in 0..150 {
        mo(
            &sim,
            json!({"from": HANDSET, "to": NUMBER, "text": format!("hi {i}")}),
        )
        .await;
    }
    mo(
        &sim,
        json!({"from": HANDSET, "to": "15550001111", "text": "lost"}),
    )
    .await;
    until_acked(&sim, 151).await;
    let unrouted = mo_list(&t, "&state=unrouted&limit=10").await;
    assert_eq!(
        unrouted.len(),
        1,
        "found past a page of others: {unrouted:?}"
    );
    assert_eq!(unrouted[0]["text"], "lost");
    assert_eq!(mo_list(&t, "&state=queued&limit=1000").await.len(), 150);
}
