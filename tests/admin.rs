//! The operator's admin API over real HTTP against the running switch: auth and errors,
//! accounts created, changed and deleted live, credit and debit through the ledger, the
//! route table swapped live, the audit trail, and all of it still there after kill -9.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn seed() -> String {
    account(
        "demo",
        "demopass",
        "balance = \"100.00\"\nprice = \"0.01\"\ntps = 10000\n",
    )
}

/// The balance of `id` as a decimal string.
async fn balance(t: &Tern, id: &str) -> String {
    let (st, v) = t.call("GET", &format!("/api/v1/accounts/{id}"), None).await;
    assert_eq!(st, 200, "{v}");
    v["balance"].as_str().expect("balance").to_string()
}

#[tokio::test]
async fn every_api_route_wants_the_token_and_errors_have_one_shape() {
    let sim = Sim::start(&[]).await;
    let body = format!(
        "{}{}{}",
        seed(),
        carrier("sim", sim.port, ""),
        route("", &["sim"])
    );
    let t = Tern::start(&body).await;
    for (method, path) in [
        ("GET", "/api/v1/accounts"),
        ("POST", "/api/v1/accounts"),
        ("PUT", "/api/v1/routes"),
        ("POST", "/api/v1/accounts/demo/credit"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/no-such-thing"),
    ] {
        for token in [None, Some("wrong-token")] {
            let (st, b) = http_request(t.http, method, path, token, Some("{}")).await;
            assert_eq!(st, 401, "{method} {path} with {token:?}: {b}");
            let v: Value = serde_json::from_str(&b).expect("json");
            assert_eq!(v["error"]["code"], "unauthorized", "{b}");
        }
    }
    // health and metrics need no token
    assert_eq!(http_get(t.http, "/health/live", None).await.0, 200);
    assert_eq!(http_get(t.http, "/metrics", None).await.0, 200);

    // bad input: 400 naming the field, never a 500
    let cases = [
        (
            r#"{"system_id": "acme", "password": "pw", "tps": "ten"}"#,
            "tps",
        ),
        (
            r#"{"system_id": "acme", "password": "pw", "colour": 1}"#,
            "colour",
        ),
        (r#"{"system_id": "acme"}"#, "password"),
        (
            r#"{"system_id": "acme", "password": "far-too-long"}"#,
            "password",
        ),
        (
            r#"{"system_id": "acme", "password": "pw", "price": "1,5"}"#,
            "price",
        ),
        (r#"{"system_id": "", "password": "pw"}"#, "system_id"),
        ("not json", "body"),
    ];
    for (body, field) in cases {
        let (st, v) = t.call("POST", "/api/v1/accounts", Some(body)).await;
        assert_eq!(st, 400, "{body}: {v}");
        assert_eq!(v["error"]["code"], "invalid");
        let m = v["error"]["message"].as_str().expect("message");
        assert!(m.contains(field), "{body}: the message names {field}: {m}");
    }
    let (st, v) = t
        .call(
            "POST",
            "/api/v1/accounts",
            Some(r#"{"system_id": "demo", "password": "pw"}"#),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{v}"
    );
    let (st, v) = t.call("GET", "/api/v1/accounts/nobody", None).await;
    assert_eq!((st, v["error"]["code"].as_str()), (404, Some("not_found")));
    let big = format!(
        r#"{{"system_id": "x", "password": "{}"}}"#,
        "p".repeat(70_000)
    );
    let (st, v) = t.call("POST", "/api/v1/accounts", Some(&big)).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{v}"
    );
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/accounts/demo",
            Some(r#"{"balance": "1000000"}"#),
        )
        .await;
    assert_eq!(st, 400, "balances change only through credits: {v}");
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/routes",
            Some(r#"{"routes": [{"prefix": "49", "carriers": ["nope"]}]}"#),
        )
        .await;
    assert_eq!(st, 400, "unknown carrier: {v}");
    let (st, _) = t
        .call(
            "POST",
            "/api/v1/accounts/demo/credit",
            Some(r#"{"amount": "0", "reason": "x"}"#),
        )
        .await;
    assert_eq!(st, 400, "a zero credit");
    assert_eq!(balance(&t, "demo").await, "100.000000", "nothing changed");
}

#[tokio::test]
async fn an_account_created_live_binds_sends_and_is_billed_to_the_micro() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}",
        seed(),
        carrier("sim", sim.port, ""),
        route("", &["sim"])
    );
    let mut t = Tern::start(&body).await;
    let (st, v) = t
        .call(
            "POST",
            "/api/v1/accounts",
            Some(r#"{"system_id": "acme", "password": "acmepw", "tps": 500, "balance": "0.05", "price": "0.02"}"#),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["balance"], "0.050000");
    assert!(
        v.get("password").is_none() && v.get("password_hash").is_none(),
        "{v}"
    );

    // binds at once, no restart; two messages fit the balance, the third does not
    let mut e = bind(t.smpp, "acme", "acmepw", Mode::Trx)
        .await
        .expect("a new account binds");
    let mut ids = HashSet::new();
    for i in 0..2 {
        ids.insert(
            submit(&e.client, sm("ACME", &format!("49170000000{i}"), "x"))
                .await
                .expect("accepted"),
        );
    }
    assert_eq!(
        submit(&e.client, sm("ACME", "491700000009", "x")).await,
        Err(0x45),
        "no credit left"
    );
    // a top-up takes effect on the next submit
    let (st, entry) = t
        .call(
            "POST",
            "/api/v1/accounts/acme/credit",
            Some(r#"{"amount": "1.00", "reason": "top-up, invoice 17"}"#),
        )
        .await;
    assert_eq!(st, 200, "{entry}");
    assert_eq!(entry["kind"], "credit");
    assert_eq!(entry["balance"], "1.010000");
    ids.insert(
        submit(&e.client, sm("ACME", "491700000003", "x"))
            .await
            .expect("accepted after the top-up"),
    );
    // a debit larger than the balance is refused, a smaller one taken
    let (st, v) = t
        .call(
            "POST",
            "/api/v1/accounts/acme/credit",
            Some(r#"{"amount": "-5.00", "reason": "x"}"#),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("insufficient_balance")),
        "{v}"
    );
    let (st, _) = t
        .call(
            "POST",
            "/api/v1/accounts/acme/credit",
            Some(r#"{"amount": "-0.09", "reason": "chargeback"}"#),
        )
        .await;
    assert_eq!(st, 200);
    let mut got = HashSet::new();
    while got.len() < ids.len() {
        got.insert(e.next_receipt(20).await.tlv_id.expect("id"));
    }
    assert_eq!(got, ids);
    let (_, v) = t.call("GET", "/api/v1/sessions", None).await;
    let s = v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["system_id"] == "acme")
        .expect("acme's bind")
        .clone();
    assert_eq!(s["bind_type"], "transceiver", "{s}");
    assert_eq!(
        (s["submits"].as_u64(), s["receipts"].as_u64()),
        (Some(3), Some(3)),
        "{s}"
    );
    assert!(
        s["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1:")),
        "{s}"
    );
    assert!(s["since"].as_str().is_some_and(|p| p.ends_with('Z')), "{s}");

    assert_eq!(balance(&t, "acme").await, "0.900000"); // 0.05 - 0.04 + 1.00 - 0.02 - 0.09
    let entries = assert_ledger_exact(&t, "acme").await;
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        ["opening", "charge", "charge", "credit", "charge", "debit"]
    );
    let charged: HashSet<String> = entries
        .iter()
        .filter_map(|e| e["message_id"].as_str().map(String::from))
        .collect();
    assert_eq!(charged, ids, "each charge names its message");
    assert!(
        entries[3]["at"].as_str().is_some_and(|a| a.ends_with('Z')),
        "RFC 3339"
    );

    // a password change applies to the next bind; the old password stops working
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/accounts/acme",
            Some(r#"{"password": "newpw", "tps": 50}"#),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["tps"], 50);
    assert_eq!(
        bind(t.smpp, "acme", "acmepw", Mode::Tx).await.err(),
        Some(0x0E)
    );
    bind(t.smpp, "acme", "newpw", Mode::Tx)
        .await
        .expect("new password");

    // kill -9: the account, its password, its balance and its ledger survive
    drop(e);
    t.kill9();
    t.restart().await;
    assert_eq!(balance(&t, "acme").await, "0.900000");
    assert_ledger_exact(&t, "acme").await;
    bind(t.smpp, "acme", "newpw", Mode::Trx)
        .await
        .expect("the account survived the restart");
}

/// The carrier that took message `id` (waits for it to be submitted).
async fn carrier_of(t: &Tern, id: String) -> String {
    let t0 = Instant::now();
    loop {
        let (_, v) = t.call("GET", &format!("/api/v1/messages/{id}"), None).await;
        if let Some(c) = v["carrier"].as_str() {
            return c.to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_route_swap_takes_the_next_message_and_survives_a_restart() {
    let a = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let b = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}{}",
        seed(),
        carrier("a", a.port, ""),
        carrier("b", b.port, ""),
        route("", &["a"])
    );
    let mut t = Tern::start(&body).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let first = submit(&e.client, sm("ACME", "491711111111", "x"))
        .await
        .expect("accepted");
    assert_eq!(carrier_of(&t, first).await, "a");
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/routes",
            Some(r#"{"routes": [{"prefix": "4917", "carriers": ["b", "a"]}, {"prefix": "", "carriers": ["a"]}]}"#),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["routes"].as_array().map(Vec::len), Some(2));
    let second = submit(&e.client, sm("ACME", "491711111112", "x"))
        .await
        .expect("accepted");
    assert_eq!(
        carrier_of(&t, second).await,
        "b",
        "the next message uses the new table"
    );
    let other = submit(&e.client, sm("ACME", "441711111112", "x"))
        .await
        .expect("accepted");
    assert_eq!(carrier_of(&t, other).await, "a");
    for _ in 0..3 {
        e.next_receipt(20).await;
    }
    drop(e);

    t.kill9();
    t.restart().await;
    let (_, v) = t.call("GET", "/api/v1/routes", None).await;
    assert_eq!(
        v["routes"][0],
        json!({"prefix": "4917", "carriers": ["b", "a"]}),
        "{v}"
    );
    assert!(
        t.log().contains("differ from the store"),
        "the file's routes are not applied over the store's, and the log says so"
    );
    let e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let third = submit(&e.client, sm("ACME", "491711111113", "x"))
        .await
        .expect("accepted");
    assert_eq!(carrier_of(&t, third).await, "b");
}

#[tokio::test]
async fn a_deleted_account_is_unbound_and_its_history_stays_readable_and_audited() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}",
        seed(),
        carrier("sim", sim.port, ""),
        route("", &["sim"])
    );
    let t = Tern::start(&body).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let id = submit(&e.client, sm("ACME", "491700000001", "x"))
        .await
        .expect("accepted");
    e.next_receipt(20).await;

    let (st, _) = t.call("DELETE", "/api/v1/accounts/demo", None).await;
    assert_eq!(st, 204);
    // its bind is closed by tern
    let t0 = Instant::now();
    while submit(&e.client, sm("ACME", "491700000002", "x"))
        .await
        .is_ok()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still bound after delete"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        bind(t.smpp, "demo", "demopass", Mode::Trx).await.err(),
        Some(0x0E),
        "a deleted account cannot bind"
    );
    assert_eq!(t.call("GET", "/api/v1/accounts/demo", None).await.0, 404);
    let (st, _) = t
        .call(
            "POST",
            "/api/v1/accounts",
            Some(r#"{"system_id": "demo", "password": "pw"}"#),
        )
        .await;
    assert_eq!(st, 409, "a deleted account's id is not reused");
    // its message and its ledger stay readable
    let (st, v) = t.call("GET", &format!("/api/v1/messages/{id}"), None).await;
    assert_eq!((st, v["account"].as_str()), (200, Some("demo")));
    assert_eq!(ledger(&t, "demo").await.len(), 2, "opening and one charge");

    // the audit trail has every change, oldest first, with no secret in it
    let (st, v) = t.call("GET", "/api/v1/audit", None).await;
    assert_eq!(st, 200);
    let entries = v["entries"].as_array().expect("entries");
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, ["config.seed", "account.delete"], "{v}");
    assert_eq!(entries[1]["target"], "demo");
    assert_eq!(entries[1]["before"]["system_id"], "demo");
    assert_eq!(entries[1]["after"], Value::Null);
    assert_eq!(entries[1]["from"], "127.0.0.1");
    assert!(
        !v.to_string().contains("argon2") && !v.to_string().contains("demopass"),
        "{v}"
    );
}

/// `sm` with the ESME's validity_period.
fn valid_for(mut s: rusmpp::pdus::SubmitSm, validity: &str) -> rusmpp::pdus::SubmitSm {
    s.validity_period =
        rusmpp::types::EmptyOrFullCOctetString::from_vec(format!("{validity}\0").into_bytes())
            .expect("17 bytes at most");
    s
}

#[tokio::test]
async fn a_message_no_carrier_took_is_refunded_and_rejected_ones_as_the_account_says() {
    // every submit refused for good (0x0B) by the one carrier; a second route to nowhere
    let sim = Sim::start(&["--fail-rate", "1.0", "--fail-status", "0x0B"]).await;
    let body = format!(
        "{}{}{}{}{}{}{}",
        account("keep", "keep", "balance = \"1.00\"\nprice = \"0.10\"\n"),
        account(
            "back",
            "back",
            "balance = \"1.00\"\nprice = \"0.10\"\nrefund_rejected = true\n"
        ),
        carrier("rejects", sim.port, ""),
        carrier("dead", free_port(), ""),
        route("", &["rejects"]),
        route("4400", &["dead"]),
        ""
    );
    let t = Tern::start(&body).await;
    for (acct, refunded) in [("keep", false), ("back", true)] {
        let mut e = bind(t.smpp, acct, acct, Mode::Trx).await.expect("bind");
        submit(&e.client, sm("ACME", "491700000001", "x"))
            .await
            .expect("accepted");
        let r = e.next_receipt(20).await;
        assert_eq!(field(&r.text, "stat"), Some("REJECTD"), "{}", r.text);
        // valid for 2 s, to a carrier that never comes up: EXPIRED, never sent, refunded
        submit(
            &e.client,
            valid_for(sm("ACME", "440012345678", "x"), "000000000002000R"),
        )
        .await
        .expect("accepted");
        let r = e.next_receipt(30).await;
        assert_eq!(field(&r.text, "stat"), Some("EXPIRED"), "{}", r.text);
        let entries = assert_ledger_exact(&t, acct).await;
        let kinds: Vec<&str> = entries
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or(""))
            .collect();
        let expected: &[&str] = if refunded {
            &["opening", "charge", "refund", "charge", "refund"]
        } else {
            &["opening", "charge", "charge", "refund"]
        };
        assert_eq!(kinds, expected, "{acct}");
        let want = if refunded { "1.000000" } else { "0.900000" };
        assert_eq!(balance(&t, acct).await, want, "{acct}");
    }
}

#[tokio::test]
async fn ready_only_once_a_carrier_is_bound_and_the_store_writes() {
    let port = free_port(); // nothing listens here yet
    let body = format!(
        "{}{}{}",
        seed(),
        carrier("c1", port, ""),
        route("", &["c1"])
    );
    let t = Tern::start(&body).await;
    let (st, b) = http_get(t.http, "/health/ready", None).await;
    assert_eq!(st, 503, "{b}");
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(v["reason"], "no carrier is bound", "{b}");
    assert_eq!(http_get(t.http, "/health/live", None).await.0, 200);

    let _sim = Sim::start_on(port, &[]).await;
    let t0 = Instant::now();
    loop {
        let (st, b) = http_get(t.http, "/health/ready", None).await;
        if st == 200 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{st} {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_every_listed_route_answers() {
    let sim = Sim::start(&[]).await;
    let body = format!(
        "{}{}{}",
        seed(),
        carrier("sim", sim.port, ""),
        route("", &["sim"])
    );
    let t = Tern::start(&body).await;
    let (st, doc) = t.call("GET", "/api/v1/openapi.json", None).await;
    assert_eq!(st, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    let mut listed = Vec::new();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()));
            listed.push((method.to_uppercase(), path.clone()));
        }
    }
    // the routes tern serves, written out here by hand: the document must hold each
    let served = [
        ("GET", "/api/v1/accounts"),
        ("POST", "/api/v1/accounts"),
        ("GET", "/api/v1/accounts/{id}"),
        ("PUT", "/api/v1/accounts/{id}"),
        ("DELETE", "/api/v1/accounts/{id}"),
        ("POST", "/api/v1/accounts/{id}/credit"),
        ("GET", "/api/v1/accounts/{id}/ledger"),
        ("GET", "/api/v1/routes"),
        ("PUT", "/api/v1/routes"),
        ("GET", "/api/v1/carriers"),
        ("GET", "/api/v1/carriers/{id}"),
        ("POST", "/api/v1/carriers"),
        ("PUT", "/api/v1/carriers/{id}"),
        ("DELETE", "/api/v1/carriers/{id}"),
        ("POST", "/api/v1/carriers/{id}/stop"),
        ("POST", "/api/v1/carriers/{id}/start"),
        ("GET", "/api/v1/messages"),
        ("GET", "/api/v1/messages/{id}"),
        ("GET", "/api/v1/sessions"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/openapi.json"),
    ];
    for (m, p) in served {
        assert!(
            listed.iter().any(|(lm, lp)| lm == m && lp == p),
            "{m} {p} missing from the document"
        );
    }
    // and every route the document lists is served (a bad body is fine; no such endpoint is not)
    for (m, p) in &listed {
        let path = p.replace("{id}", "zz-none");
        let (st, v) = t.call(m, &path, Some("{}")).await;
        assert!(
            !(st == 404 && v["error"]["message"] == "no such endpoint"),
            "{m} {path}: {st} {v}"
        );
    }
}

#[tokio::test]
async fn messages_list_by_account_state_and_time_a_page_at_a_time() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}{}",
        seed(),
        account("other", "otherpw", "balance = \"10\"\nprice = \"0.01\"\n"),
        carrier("sim", sim.port, ""),
        route("", &["sim"])
    );
    let t = Tern::start(&body).await;
    let mut ids: Vec<String> = Vec::new();
    {
        let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
            .await
            .expect("bind");
        for i in 0..5 {
            ids.push(
                submit(&e.client, sm("ACME", &format!("4917000000{i}"), "x"))
                    .await
                    .expect("accepted"),
            );
        }
        for _ in 0..5 {
            e.next_receipt(20).await;
        }
        let o = bind(t.smpp, "other", "otherpw", Mode::Tx)
            .await
            .expect("bind");
        submit(&o.client, sm("ACME", "4917999", "x"))
            .await
            .expect("accepted");
    }
    // demo's messages, two per page, in order, none of other's
    let mut got = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/api/v1/messages?account=demo&limit=2{cursor}");
        let (st, v) = t.call("GET", &path, None).await;
        assert_eq!(st, 200, "{v}");
        for m in v["messages"].as_array().expect("messages") {
            assert_eq!(m["account"], "demo");
            got.push(m["id"].as_str().expect("id").to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(got, ids);
    let (_, v) = t
        .call("GET", "/api/v1/messages?account=demo&state=delivrd", None)
        .await;
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(5), "{v}");
    let (_, v) = t
        .call("GET", "/api/v1/messages?account=demo&state=EXPIRED", None)
        .await;
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(0), "{v}");
    let (_, v) = t
        .call("GET", "/api/v1/messages?since=2999-01-01T00:00:00Z", None)
        .await;
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(0), "{v}");
    let (_, v) = t.call("GET", "/api/v1/messages", None).await;
    assert_eq!(
        v["messages"].as_array().map(Vec::len),
        Some(6),
        "every account's"
    );
    let (st, v) = t
        .call("GET", "/api/v1/messages?since=yesterday", None)
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("since")
    );
    for bad in ["limit=0", "limit=lots", "colour=red", "cursor=zz"] {
        let (st, v) = t
            .call("GET", &format!("/api/v1/messages?{bad}"), None)
            .await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (400, Some("invalid")),
            "{bad}: {v}"
        );
    }
}

/// Sends one message on `e` and waits for its receipt; returns its id.
async fn send(e: &mut Esme) -> String {
    let id = submit(&e.client, sm("ACME", "491700000001", "x"))
        .await
        .expect("accepted");
    let r = e.next_receipt(20).await;
    assert_eq!(r.tlv_id.as_deref(), Some(id.as_str()));
    id
}

/// Waits until carrier `id`'s status satisfies `check`; returns it.
async fn carrier_until(t: &Tern, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let (_, v) = t.call("GET", &format!("/api/v1/carriers/{id}"), None).await;
        if check(&v) {
            return v;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "carrier {id}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_stopped_carrier_hands_its_traffic_over_stays_stopped_across_a_restart_and_starts_again()
{
    let a = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let b = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}{}",
        seed(),
        carrier("a", a.port, ""),
        carrier("b", b.port, ""),
        route("", &["a", "b"])
    );
    let mut t = Tern::start(&body).await;
    carrier_until(&t, "a", |v| v["binds_up"] == 1).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    assert_eq!(carrier_of(&t, send(&mut e).await).await, "a");

    let (st, v) = t.call("POST", "/api/v1/carriers/a/stop", None).await;
    assert_eq!((st, v["stopped"].as_bool()), (200, Some(true)), "{v}");
    carrier_until(&t, "a", |v| v["binds_up"] == 0).await;
    assert_eq!(
        carrier_of(&t, send(&mut e).await).await,
        "b",
        "its traffic fails over"
    );

    drop(e);
    t.kill9();
    t.restart().await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    let v = carrier_until(&t, "b", |v| v["binds_up"] == 1).await;
    assert_eq!(v["stopped"], false);
    let v = carrier_until(&t, "a", |v| v["stopped"] == true).await;
    assert_eq!(
        v["binds_up"], 0,
        "a stopped carrier does not bind after a restart"
    );
    assert_eq!(carrier_of(&t, send(&mut e).await).await, "b");

    let (st, _) = t.call("POST", "/api/v1/carriers/a/start", None).await;
    assert_eq!(st, 200);
    carrier_until(&t, "a", |v| v["binds_up"] == 1 && v["stopped"] == false).await;
    assert_eq!(carrier_of(&t, send(&mut e).await).await, "a");
    assert_eq!(
        t.call("POST", "/api/v1/carriers/nope/stop", None).await.0,
        404
    );

    let (_, v) = t.call("GET", "/api/v1/audit", None).await;
    let actions: Vec<&str> = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, ["config.seed", "carrier.stop", "carrier.start"]);
}

#[tokio::test]
async fn the_balance_is_the_sum_of_its_entries_after_mixed_traffic_and_top_ups() {
    let sim = Sim::start(&[
        "--dlr-delay-ms",
        "0",
        "--fail-rate",
        "0.2",
        "--fail-status",
        "0x0B",
    ])
    .await;
    let body = format!(
        "{}{}{}{}",
        account(
            "mix",
            "mixpw",
            "balance = \"5.00\"\nprice = \"0.013\"\ntps = 100000\nrefund_rejected = true\n"
        ),
        carrier("sim", sim.port, ""),
        carrier("dead", free_port(), ""),
        route("", &["sim"])
    );
    let t = Tern::start(&body).await;
    let sessions = [
        bind(t.smpp, "mix", "mixpw", Mode::Trx).await.expect("bind"),
        bind(t.smpp, "mix", "mixpw", Mode::Trx).await.expect("bind"),
    ];
    let mut accepted = HashSet::new();
    for round in 0..5 {
        let submits = sessions.iter().flat_map(|e| {
            (0..60).map(move |i| submit(&e.client, sm("ACME", &format!("4917{round}{i:04}"), "x")))
        });
        for r in futures::future::join_all(submits).await {
            match r {
                Ok(id) => {
                    accepted.insert(id);
                }
                Err(status) => assert_eq!(status, 0x45, "only refused for credit"),
            }
        }
        let (st, v) = t
            .call(
                "POST",
                "/api/v1/accounts/mix/credit",
                Some(r#"{"amount": "0.50", "reason": "top-up"}"#),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
    // every accepted message ends (DELIVRD, or REJECTD and refunded)
    let mut ended = 0;
    let mut sessions = sessions;
    let t0 = Instant::now();
    while ended < accepted.len() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{ended} of {} ended",
            accepted.len()
        );
        for e in sessions.iter_mut() {
            if let Ok(r) = tokio::time::timeout(Duration::from_millis(200), e.receipts.recv()).await
            {
                assert!(r.is_some(), "receipt stream open");
                ended += 1;
            }
        }
    }
    let entries = assert_ledger_exact(&t, "mix").await;
    let charges: HashSet<String> = entries
        .iter()
        .filter(|e| e["kind"] == "charge")
        .filter_map(|e| e["message_id"].as_str().map(String::from))
        .collect();
    assert_eq!(charges, accepted, "one charge entry per accepted message");
    let refunds = entries.iter().filter(|e| e["kind"] == "refund").count();
    assert!(refunds > 0, "some were rejected and refunded");
    assert_eq!(entries.iter().filter(|e| e["kind"] == "credit").count(), 5);
}

fn hangup(t: &Tern) {
    let st = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(t.pid().to_string())
        .status()
        .expect("kill -HUP");
    assert!(st.success());
}

#[tokio::test]
async fn sighup_applies_the_file_and_a_bad_file_changes_nothing() {
    let a = Sim::start(&[]).await;
    let b = Sim::start(&[]).await;
    let body = format!(
        "{}{}{}{}",
        seed(),
        carrier("a", a.port, ""),
        carrier("b", b.port, ""),
        route("", &["a"])
    );
    let t = Tern::start(&body).await;
    let text = std::fs::read_to_string(&t.config).expect("config");
    let edited = text.replace("carriers = [\"a\"]", "carriers = [\"b\", \"a\"]")
        + &account("late", "latepw", "balance = \"3.00\"\n")
        + "[[mo_routes]]\nprefix = \"44\"\naccount = \"late\"\n";
    std::fs::write(&t.config, &edited).expect("write config");
    hangup(&t);
    let t0 = Instant::now();
    while t.call("GET", "/api/v1/accounts/late", None).await.0 != 200 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "not reloaded:\n{}",
            t.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(balance(&t, "late").await, "3.000000");
    let (_, v) = t.call("GET", "/api/v1/routes", None).await;
    assert_eq!(v["routes"][0]["carriers"], json!(["b", "a"]), "{v}");
    let (_, v) = t.call("GET", "/api/v1/mo-routes", None).await;
    assert_eq!(
        v["mo_routes"],
        json!([{"prefix": "44", "account": "late"}]),
        "{v}"
    );
    bind(t.smpp, "late", "latepw", Mode::Tx)
        .await
        .expect("the account from the file binds");
    let (_, v) = t.call("GET", "/api/v1/audit", None).await;
    let froms: Vec<(&str, &str)> = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["from"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        froms,
        [
            ("config.seed", "config"),
            ("account.create", "config"),
            ("routes.replace", "config"),
            ("mo_routes.replace", "config")
        ]
    );

    // a file that does not validate: logged, nothing changes, tern serves on
    std::fs::write(&t.config, edited.replace("tps = 10000", "tps = \"lots\"")).expect("write");
    hangup(&t);
    let t0 = Instant::now();
    while !t.log().contains("config reload refused") {
        assert!(t0.elapsed() < Duration::from_secs(20), "{}", t.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (st, v) = t.call("GET", "/api/v1/accounts/demo", None).await;
    assert_eq!((st, v["tps"].as_u64()), (200, Some(10000)));
}

#[tokio::test]
async fn carriers_are_added_changed_and_removed_live_and_kept_across_a_restart() {
    let a = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let b = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}",
        seed(),
        carrier("a", a.port, ""),
        route("", &["a"])
    );
    let mut t = Tern::start(&body).await;
    let new_b = format!(
        r#"{{"id": "b", "host": "127.0.0.1", "port": {}, "system_id": "tern", "password": "ternpass", "tps": 1000}}"#,
        b.port
    );
    let (st, v) = t.call("POST", "/api/v1/carriers", Some(&new_b)).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["settings"]["port"], b.port);
    assert!(v["settings"].get("password").is_none(), "{v}");
    assert_eq!(
        t.call("POST", "/api/v1/carriers", Some(&new_b)).await.0,
        409
    );
    let (st, v) = t
        .call(
            "POST",
            "/api/v1/carriers",
            Some(r#"{"id": "x y", "host": "h", "port": 1, "system_id": "s", "password": "p"}"#),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("id"),
        "{v}"
    );
    carrier_until(&t, "b", |v| v["binds_up"] == 1).await;

    let (st, _) = t
        .call(
            "PUT",
            "/api/v1/routes",
            Some(r#"{"routes": [{"prefix": "", "carriers": ["b"]}]}"#),
        )
        .await;
    assert_eq!(st, 200);
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    assert_eq!(carrier_of(&t, send(&mut e).await).await, "b");
    let (st, v) = t.call("DELETE", "/api/v1/carriers/b", None).await;
    assert_eq!(st, 409, "a route names it: {v}");

    // new settings: a port where nothing listens, then back
    let dead = free_port();
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/carriers/b",
            Some(&format!(r#"{{"port": {dead}}}"#)),
        )
        .await;
    assert_eq!(
        (st, v["settings"]["port"].as_u64()),
        (200, Some(u64::from(dead))),
        "{v}"
    );
    carrier_until(&t, "b", |v| v["binds_up"] == 0).await;
    let back = format!(r#"{{"port": {}}}"#, b.port);
    assert_eq!(
        t.call("PUT", "/api/v1/carriers/b", Some(&back)).await.0,
        200
    );
    carrier_until(&t, "b", |v| v["binds_up"] == 1).await;
    assert_eq!(carrier_of(&t, send(&mut e).await).await, "b");

    drop(e);
    t.kill9();
    t.restart().await;
    let v = carrier_until(&t, "b", |v| v["binds_up"] == 1).await;
    assert_eq!(v["settings"]["port"], b.port, "kept across a restart");
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    assert_eq!(carrier_of(&t, send(&mut e).await).await, "b");

    let (st, _) = t
        .call(
            "PUT",
            "/api/v1/routes",
            Some(r#"{"routes": [{"prefix": "", "carriers": ["a"]}]}"#),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(t.call("DELETE", "/api/v1/carriers/b", None).await.0, 204);
    assert_eq!(t.call("GET", "/api/v1/carriers/b", None).await.0, 404);
    assert_eq!(carrier_of(&t, send(&mut e).await).await, "a");
    let (_, v) = t.call("GET", "/api/v1/audit", None).await;
    let actions: Vec<&str> = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .filter(|a| a.starts_with("carrier."))
        .collect();
    assert_eq!(
        actions,
        [
            "carrier.create",
            "carrier.update",
            "carrier.update",
            "carrier.delete"
        ]
    );
    assert!(
        !v.to_string().contains("ternpass"),
        "no carrier password in the trail"
    );
}
