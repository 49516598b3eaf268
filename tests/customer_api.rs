//! The customer HTTP API over real HTTP against the running switch and the carrier
//! simulator: a message sent with an API key is charged, stored, sent and delivered like a
//! submit_sm; long text is split into parts billed and sent one by one; keys, fields,
//! credit and throughput are refused with the status a client can act on.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// A switch with the customer API on, one carrier (the simulator) and account `demo`.
async fn switch(sim: &Sim, balance: &str, account_extra: &str) -> (Tern, SocketAddr) {
    let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let body = format!(
        "[api]\nlisten = \"{api}\"\n\n{}{}{}",
        account(
            "demo",
            "demopass",
            &format!("balance = \"{balance}\"\nprice = \"0.01\"\n{account_extra}"),
        ),
        carrier("sim", sim.port, ""),
        route("", &["sim"])
    );
    let t = Tern::start(&body).await;
    wait_carrier_bound(&t).await;
    (t, api)
}

async fn wait_carrier_bound(t: &Tern) {
    t.until_metric("tern_carrier_binds_up{carrier=\"sim\"}", 1.0)
        .await;
}

/// Makes an API key for `account` through the admin API: (key_id, key).
async fn new_key(t: &Tern, account: &str) -> (String, String) {
    let v = issue_key(t, account).await;
    assert!(
        v["webhook_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    (
        v["key_id"].as_str().expect("key_id").to_string(),
        v["key"].as_str().expect("key").to_string(),
    )
}

/// One request: (status, head, body as JSON or Null).
async fn api(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (u16, String, Value) {
    let (status, head, body) = http_exchange(addr, method, path, key, body).await;
    (
        status,
        head,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

async fn send(addr: SocketAddr, key: &str, body: &Value) -> (u16, String, Value) {
    api(
        addr,
        "POST",
        "/v1/messages",
        Some(key),
        Some(&body.to_string()),
    )
    .await
}

/// Reads the message until it is final (or panics after 10 s).
async fn until_final(addr: SocketAddr, key: &str, id: &str) -> Value {
    let t0 = Instant::now();
    loop {
        let (st, _, v) = api(addr, "GET", &format!("/v1/messages/{id}"), Some(key), None).await;
        assert_eq!(st, 200, "{v}");
        if v["final"] == true {
            return v;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "never final: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_message_sent_over_http_is_charged_sent_delivered_and_kept_across_kill_9() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let (mut t, addr) = switch(&sim, "1.00", "").await;
    let (_, key) = new_key(&t, "demo").await;

    let (st, _, v) = send(
        addr,
        &key,
        &json!({"to": "+491701234567", "from": "ACME", "text": "Hello from HTTP", "client_ref": "order-17", "validity_s": 3600}),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    assert_eq!(
        (v["parts"].as_u64(), v["price"].as_str()),
        (Some(1), Some("0.010000")),
        "{v}"
    );
    let id = v["id"].as_str().expect("id").to_string();

    let m = until_final(addr, &key, &id).await;
    assert_eq!(m["state"], "DELIVRD", "{m}");
    assert_eq!(m["to"], "+491701234567");
    assert_eq!(m["client_ref"], "order-17");
    assert!(m["parts_detail"][0]["carrier_id"].as_str().is_some(), "{m}");
    assert!(
        !m.to_string().contains("\"carrier\""),
        "which carrier is the operator's business: {m}"
    );
    let created = m["created"].as_str().expect("created");
    let validity = m["validity"].as_str().expect("validity");
    assert_eq!(
        humantime::parse_rfc3339(validity)
            .expect("time")
            .duration_since(humantime::parse_rfc3339(created).expect("time"))
            .expect("after"),
        Duration::from_secs(3600)
    );
    assert_eq!(sim.stats().await.0, 1, "one carrier submit");
    assert_eq!(micros(&t.balance("demo").await), 990_000);
    let entries = assert_ledger_exact(&t, "demo").await;
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "charge" && e["message_id"] == id.as_str()),
        "{entries:?}"
    );

    // the listing holds it; another account's key sees nothing of it
    let (st, _, list) = api(addr, "GET", "/v1/messages?state=delivrd", Some(&key), None).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["messages"].as_array().map(Vec::len), Some(1), "{list}");
    let (st, v) = t
        .call(
            "POST",
            "/api/v1/accounts",
            Some(r#"{"system_id": "other", "password": "pw", "balance": "1.00", "price": "0.01"}"#),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (_, other_key) = new_key(&t, "other").await;
    let (st, _, v) = api(
        addr,
        "GET",
        &format!("/v1/messages/{id}"),
        Some(&other_key),
        None,
    )
    .await;
    assert_eq!(
        st, 404,
        "another account's message is not there for it: {v}"
    );
    let (_, _, v) = api(addr, "GET", "/v1/messages", Some(&other_key), None).await;
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(0), "{v}");

    // acknowledged means durable: after kill -9 the message, its key and its charge are there
    t.kill9();
    t.restart().await;
    let (st, _, v) = api(addr, "GET", &format!("/v1/messages/{id}"), Some(&key), None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "DELIVRD");
    assert_eq!(micros(&t.balance("demo").await), 990_000);
}

#[tokio::test]
async fn a_long_ucs2_message_is_three_parts_billed_and_sent_one_by_one() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let (t, addr) = switch(&sim, "1.00", "").await;
    let (_, key) = new_key(&t, "demo").await;
    // 150 Cyrillic characters: UCS-2, 67 + 67 + 16
    let text: String = "Привет, мир! ".repeat(12).chars().take(150).collect();
    let (st, _, v) = send(
        addr,
        &key,
        &json!({"to": "+491701234567", "from": "ACME", "text": text}),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    assert_eq!(
        (v["parts"].as_u64(), v["price"].as_str()),
        (Some(3), Some("0.030000")),
        "{v}"
    );
    let id = v["id"].as_str().expect("id").to_string();
    let m = until_final(addr, &key, &id).await;
    assert_eq!(m["state"], "DELIVRD", "{m}");
    let parts = m["parts_detail"].as_array().expect("parts");
    assert_eq!(parts.len(), 3);
    let mut carrier_ids: Vec<&str> = parts
        .iter()
        .map(|p| {
            p["carrier_id"]
                .as_str()
                .expect("each part has its carrier id")
        })
        .collect();
    carrier_ids.dedup();
    assert_eq!(carrier_ids.len(), 3, "each part its own carrier id: {m}");
    assert_eq!(sim.stats().await.0, 3, "three carrier submits");
    assert_eq!(micros(&t.balance("demo").await), 970_000);
    let charges: Vec<Value> = assert_ledger_exact(&t, "demo")
        .await
        .into_iter()
        .filter(|e| e["kind"] == "charge")
        .collect();
    assert_eq!(charges.len(), 3, "billed part by part: {charges:?}");
    // a part's id shows the message it is part of
    let second = parts[1]["id"].as_str().expect("part id");
    let (st, _, v) = api(
        addr,
        "GET",
        &format!("/v1/messages/{second}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!((st, v["id"].as_str()), (200, Some(id.as_str())), "{v}");

    // many at once: each all or nothing, and the ledger's entries follow the order the
    // charges were stored in (each entry's balance is the running sum)
    let sends = (0..10).map(|_| {
        let (key, text) = (key.clone(), text.clone());
        tokio::spawn(async move {
            send(
                addr,
                &key,
                &json!({"to": "+491701234567", "from": "ACME", "text": text}),
            )
            .await
            .0
        })
    });
    for s in futures::future::join_all(sends).await {
        assert_eq!(s.expect("task"), 202);
    }
    assert_eq!(micros(&t.balance("demo").await), 970_000 - 10 * 30_000);
    assert_ledger_exact(&t, "demo").await;

    // the admin API sees the parts as the messages the carrier took
    let (st, v) = t.call("GET", &format!("/api/v1/messages/{id}"), None).await;
    assert_eq!((st, v["state"].as_str()), (200, Some("DELIVRD")), "{v}");
}

#[tokio::test]
async fn keys_fields_credit_and_throughput_are_refused_with_statuses_a_client_acts_on() {
    let sim = Sim::start(&[]).await;
    let (t, addr) = switch(&sim, "0.05", "tps = 2\nallowed_sources = [\"ACME\"]\n").await;
    let (key_id, key) = new_key(&t, "demo").await;
    let ok = json!({"to": "+491701234567", "from": "ACME", "text": "hi"});

    // no key, a wrong key, an admin token
    for k in [None, Some("tk_000000000000_nope"), Some(TOKEN)] {
        let (st, _, v) = send_as(addr, k, &ok).await;
        assert_eq!(st, 401, "{k:?}: {v}");
        assert_eq!(v["error"]["code"], "unauthorized");
    }

    // each bad field is a 400 naming it
    let long = "a".repeat(1531);
    let cases = [
        (json!({"to": "0170123", "from": "ACME", "text": "hi"}), "to"),
        (
            json!({"to": "+491701234567", "from": "NOTALLOWED", "text": "hi"}),
            "from",
        ),
        (
            json!({"to": "+491701234567", "from": "A VERY LONG SENDER", "text": "hi"}),
            "from",
        ),
        (
            json!({"to": "+491701234567", "from": "ACME", "text": ""}),
            "text",
        ),
        (
            json!({"to": "+491701234567", "from": "ACME", "text": long}),
            "text",
        ),
        (
            json!({"to": "+491701234567", "from": "ACME", "text": "hi", "validity_s": 5}),
            "validity_s",
        ),
        (
            json!({"to": "+491701234567", "from": "ACME", "text": "hi", "callback_url": "ftp://x"}),
            "callback_url",
        ),
        (
            json!({"to": "+491701234567", "from": "ACME", "text": 7}),
            "text",
        ),
        (
            json!({"to": "+491701234567", "from": "ACME", "text": "hi", "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let (st, _, v) = send(addr, &key, &body).await;
        assert_eq!(st, 400, "{body}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(field), "{body}: {msg} should name {field}");
    }
    let (st, _, v) = api(addr, "POST", "/v1/messages", Some(&key), Some("{not json")).await;
    assert_eq!(st, 400, "{v}");

    // no credit: ten GSM parts cost 0.10 of the 0.05 there is: 402, nothing charged
    let (st, _, v) = send(
        addr,
        &key,
        &json!({"to": "+491701234567", "from": "ACME", "text": "a".repeat(1530)}),
    )
    .await;
    assert_eq!(st, 402, "{v}");
    assert_eq!(v["error"]["code"], "no_credit");
    assert_eq!(micros(&t.balance("demo").await), 50_000);

    // over the account's tps (2, shared with its binds): 429 with Retry-After, not charged
    let mut throttled = None;
    let mut accepted = 0;
    for _ in 0..10 {
        let (st, head, _) = send(addr, &key, &ok).await;
        match st {
            202 => accepted += 1,
            429 => {
                throttled = Some(head);
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    let head = throttled.expect("a tps of 2 throttles ten sends in a row");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert_eq!(micros(&t.balance("demo").await), 50_000 - accepted * 10_000);

    // a revoked key stops at once
    let (st, v) = t
        .call(
            "DELETE",
            &format!("/api/v1/accounts/demo/api-keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let (st, _, _) = send(addr, &key, &ok).await;
    assert_eq!(st, 401);
    let (st, v) = t.call("GET", "/api/v1/accounts/demo/api-keys", None).await;
    assert_eq!(st, 200);
    assert!(v["api_keys"][0]["revoked"].is_string(), "{v}");
    assert!(!v.to_string().contains(&key[16..]), "no secret in listings");
    let (st, audit) = t.call("GET", "/api/v1/audit", None).await;
    assert_eq!(st, 200);
    let text = audit.to_string();
    assert!(
        text.contains("api_key.create") && text.contains("api_key.revoke"),
        "{text}"
    );
    assert!(!text.contains(&key[16..]), "no secret in the audit trail");
}

async fn send_as(addr: SocketAddr, key: Option<&str>, body: &Value) -> (u16, String, Value) {
    api(addr, "POST", "/v1/messages", key, Some(&body.to_string())).await
}

#[tokio::test]
async fn a_signed_webhook_is_retried_with_the_same_id_until_the_receiver_takes_it() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let (t, addr) = switch(&sim, "1.00", "").await;
    let (key, secret) = key_and_secret(&t, "demo").await;
    let port = free_port();
    // the receiver fails twice (a 503, then a 500) before it takes the webhook
    let mut hooks = receiver(port, vec![503, 500]).await;
    let text: String = "Привет, мир! ".repeat(12).chars().take(150).collect();
    let (st, _, v) = send(
        addr,
        &key,
        &json!({"to": "+491701234567", "from": "ACME", "text": text,
                "callback_url": format!("http://127.0.0.1:{port}/dlr"), "client_ref": "r-1"}),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_string();

    let tries = [
        next_hook(&mut hooks, 10).await,
        next_hook(&mut hooks, 10).await,
        next_hook(&mut hooks, 10).await,
    ];
    for h in &tries {
        assert_signed(h, &secret);
        assert_eq!(
            h.headers["webhook-id"],
            format!("msg_{id}"),
            "the same id on every attempt"
        );
        assert_eq!(h.headers["content-type"], "application/json");
    }
    let v: Value = serde_json::from_slice(&tries[2].body).expect("json");
    assert_eq!(v["type"], "message.final");
    let data = &v["data"];
    assert_eq!(
        (data["id"].as_str(), data["state"].as_str()),
        (Some(id.as_str()), Some("DELIVRD")),
        "{v}"
    );
    assert_eq!(data["client_ref"], "r-1");
    assert_eq!(
        data["parts"], 3,
        "one webhook for the message, with each part: {v}"
    );
    assert_eq!(data["parts_detail"].as_array().map(Vec::len), Some(3));

    // taken once: no more attempts, and the metrics say so
    t.until_metric(
        "tern_webhook_total{account=\"demo\",outcome=\"delivered\"}",
        1.0,
    )
    .await;
    assert_eq!(
        t.metric("tern_webhook_total{account=\"demo\",outcome=\"retried\"}")
            .await,
        2.0
    );
    assert!(hooks.try_recv().is_err(), "nothing after the 2xx");
}

#[tokio::test]
async fn a_webhook_due_at_a_crash_is_sent_after_the_restart() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let (mut t, addr) = switch(&sim, "1.00", "").await;
    let (key, secret) = key_and_secret(&t, "demo").await;
    // nothing listens at the callback yet
    let port = free_port();
    let (st, _, v) = send(
        addr,
        &key,
        &json!({"to": "+491701234567", "from": "ACME", "text": "hello",
                "callback_url": format!("http://127.0.0.1:{port}/dlr")}),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    t.until_metric(
        "tern_webhook_total{account=\"demo\",outcome=\"retried\"}",
        1.0,
    )
    .await;
    t.kill9();
    let mut hooks = receiver(port, vec![]).await;
    t.restart().await;
    let h = next_hook(&mut hooks, 15).await;
    assert_signed(&h, &secret);
    assert_eq!(h.headers["webhook-id"], format!("msg_{id}"));
    let v: Value = serde_json::from_slice(&h.body).expect("json");
    assert_eq!(v["data"]["state"], "DELIVRD", "{v}");
}

#[tokio::test]
async fn the_account_webhook_url_takes_what_names_no_callback_and_a_410_stops_at_once() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let (t, addr) = switch(&sim, "1.00", "").await;
    let (key, secret) = key_and_secret(&t, "demo").await;
    let (account_port, callback_port) = (free_port(), free_port());
    let mut account_hooks = receiver(account_port, vec![]).await;
    // the message's own callback answers 410 Gone: tern stops there, never falls back
    let mut callback_hooks = receiver(callback_port, vec![410]).await;

    // a bad URL names its field; a good one is kept and shown
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/accounts/demo",
            Some(r#"{"webhook_url": "ftp://example.com/x"}"#),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("invalid")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("webhook_url"),
        "{v}"
    );
    let url = format!("http://127.0.0.1:{account_port}/hooks");
    let (st, v) = t
        .call(
            "PUT",
            "/api/v1/accounts/demo",
            Some(&json!({ "webhook_url": url }).to_string()),
        )
        .await;
    assert_eq!(
        (st, v["webhook_url"].as_str()),
        (200, Some(url.as_str())),
        "{v}"
    );

    let (st, _, plain) = send(
        addr,
        &key,
        &json!({"to": "+491701234567", "from": "ACME", "text": "to the account's URL"}),
    )
    .await;
    assert_eq!(st, 202, "{plain}");
    let h = next_hook(&mut account_hooks, 10).await;
    assert_signed(&h, &secret);
    assert_eq!(
        h.headers["webhook-id"],
        format!("msg_{}", plain["id"].as_str().expect("id"))
    );

    let (st, _, own) = send(
        addr,
        &key,
        &json!({"to": "+491701234567", "from": "ACME", "text": "to its own URL",
                "callback_url": format!("http://127.0.0.1:{callback_port}/dlr")}),
    )
    .await;
    assert_eq!(st, 202, "{own}");
    let h = next_hook(&mut callback_hooks, 10).await;
    assert_eq!(
        h.headers["webhook-id"],
        format!("msg_{}", own["id"].as_str().expect("id"))
    );
    t.until_metric("tern_webhook_total{account=\"demo\",outcome=\"gone\"}", 1.0)
        .await;
    // the first retry would come about 0.5 s after the 410; give it twice that
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        callback_hooks.try_recv().is_err(),
        "a 410 is not tried again"
    );
    assert!(
        account_hooks.try_recv().is_err(),
        "nor sent to the account's URL instead"
    );
    assert_eq!(
        t.metric("tern_webhook_total{account=\"demo\",outcome=\"retried\"}")
            .await,
        0.0
    );
}

/// POST /v1/messages with an `Idempotency-Key`: (status, head, body).
async fn send_keyed(addr: SocketAddr, key: &str, idem: &str, body: &str) -> (u16, String, Value) {
    let auth = format!("Bearer {key}");
    let (st, head, b) = http_exchange_with(
        addr,
        "POST",
        "/v1/messages",
        &[("Authorization", &auth), ("Idempotency-Key", idem)],
        Some(body),
    )
    .await;
    (st, head, serde_json::from_str(&b).unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_idempotency_key_sends_once_across_retries_concurrent_duplicates_and_kill_9() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let (mut t, addr) = switch(&sim, "1.00", "").await;
    let (_, key) = new_key(&t, "demo").await;
    let body = json!({"to": "+491701234567", "from": "ACME", "text": "once"}).to_string();

    let (st, head, first) = send_keyed(addr, &key, "order-17-attempt", &body).await;
    assert_eq!(st, 202, "{first}");
    assert!(!head.contains("idempotent-replayed"), "{head}");
    let id = first["id"].as_str().expect("id").to_string();
    // the retry gets the first answer: same id, no second charge
    let (st, head, again) = send_keyed(addr, &key, "order-17-attempt", &body).await;
    assert_eq!((st, &again), (202, &first));
    assert!(head.contains("idempotent-replayed: true"), "{head}");
    // the same key with another body is the client's mistake
    let other = json!({"to": "+491701234567", "from": "ACME", "text": "twice"}).to_string();
    let (st, _, v) = send_keyed(addr, &key, "order-17-attempt", &other).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("idempotency_mismatch")),
        "{v}"
    );
    // a key is 1-255 visible ASCII characters
    let (st, _, v) = send_keyed(addr, &key, &"k".repeat(256), &body).await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Idempotency-Key"),
        "{v}"
    );

    // ten at once with one new key: one message, the rest replayed or told it is in flight
    let burst_key = "burst-1";
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (key, body) = (key.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            send_keyed(addr, &key, burst_key, &body).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let (st, _, v) = task.await.expect("request");
        match st {
            202 => {
                ids.insert(v["id"].as_str().expect("id").to_string());
            }
            409 => assert_eq!(v["error"]["code"], "idempotency_in_flight", "{v}"),
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!(ids.len(), 1, "one message for one key: {ids:?}");
    let burst_id = ids.into_iter().next().expect("one");
    until_final(addr, &key, &id).await;
    until_final(addr, &key, &burst_id).await;
    assert_eq!(sim.stats().await.0, 2, "one carrier submit per key");
    assert_eq!(
        micros(&t.balance("demo").await),
        980_000,
        "one charge per key"
    );

    // durable with the message: after kill -9 the key still answers as before
    t.kill9();
    t.restart().await;
    let (st, head, after) = send_keyed(addr, &key, "order-17-attempt", &body).await;
    assert_eq!((st, &after), (202, &first));
    assert!(head.contains("idempotent-replayed: true"), "{head}");
    let (st, _, v) = send_keyed(addr, &key, "order-17-attempt", &other).await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(micros(&t.balance("demo").await), 980_000);
    assert_ledger_exact(&t, "demo").await;

    // only an accepted message is remembered: a refusal's retry is judged afresh
    let (st, v) = t
        .call("PUT", "/api/v1/accounts/demo", Some(r#"{"price": "5.00"}"#))
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, _, v) = send_keyed(addr, &key, "after-top-up", &body).await;
    assert_eq!(st, 402, "{v}");
    let (st, v) = t
        .call("PUT", "/api/v1/accounts/demo", Some(r#"{"price": "0.01"}"#))
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, _, v) = send_keyed(addr, &key, "after-top-up", &body).await;
    assert_eq!(st, 202, "the refused request left nothing behind: {v}");
}

#[tokio::test]
async fn the_openapi_document_lists_every_v1_route_and_each_answers() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let (t, addr) = switch(&sim, "1.00", "").await;
    let (_, key) = new_key(&t, "demo").await;
    // readable without a key: it holds no secret
    let (st, _, doc) = api(addr, "GET", "/v1/openapi.json", None, None).await;
    assert_eq!(st, 200, "{doc}");
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().expect("paths");
    let mut listed = Vec::new();
    for (path, ops) in paths {
        for method in ops.as_object().expect("ops").keys() {
            listed.push((method.to_uppercase(), path.clone()));
        }
    }
    listed.sort();
    assert_eq!(
        listed,
        [
            ("GET".to_string(), "/v1/messages".to_string()),
            ("GET".to_string(), "/v1/messages/{id}".to_string()),
            ("POST".to_string(), "/v1/messages".to_string()),
        ]
    );
    let send = &doc["paths"]["/v1/messages"]["post"];
    let required = &send["requestBody"]["content"]["application/json"]["schema"]["required"];
    assert_eq!(required, &json!(["to", "from", "text"]), "{send}");
    assert!(send["responses"]["422"].is_object(), "{send}");
    assert!(
        send["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "Idempotency-Key")),
        "{send}"
    );
    // every listed route is served (a route the document invents would be a 404 endpoint)
    for (method, path) in &listed {
        let path = path.replace("{id}", "0000000000000001");
        let body = (method == "POST").then_some("{}");
        let (st, _, v) = api(addr, method, &path, Some(&key), body).await;
        assert_ne!(
            v["error"]["message"], "no such endpoint",
            "{method} {path}: {st} {v}"
        );
        assert!([200, 400, 404].contains(&st), "{method} {path}: {st} {v}");
    }
}

/// A receiver that reads each webhook and never answers: counts what it got.
async fn hanging_receiver(port: u16) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind receiver");
    let got = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = got.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                loop {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                    // one request per connection until it is answered, which it never is
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        // hold the connection open, unanswered
                        std::future::pending::<()>().await;
                    }
                }
            });
        }
    });
    got
}

#[tokio::test]
async fn a_hung_webhook_receiver_holds_only_its_own_webhooks() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let (t, addr) = switch(&sim, "10.00", "").await;
    let (key, secret) = key_and_secret(&t, "demo").await;
    let (slow_port, fast_port) = (free_port(), free_port());
    let slow = hanging_receiver(slow_port).await;
    let mut fast = receiver(fast_port, vec![]).await;

    // more webhooks for the hung receiver than may be in flight to it at once
    for i in 0..20 {
        let (st, _, v) = send(
            addr,
            &key,
            &json!({"to": "+491701234567", "from": "ACME", "text": format!("slow {i}"),
                    "callback_url": format!("http://127.0.0.1:{slow_port}/dlr")}),
        )
        .await;
        assert_eq!(st, 202, "{v}");
    }
    let t0 = Instant::now();
    while slow.load(std::sync::atomic::Ordering::SeqCst) < 16 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the hung receiver got {} requests",
            slow.load(std::sync::atomic::Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // another endpoint's webhook goes at once, beside the 16 hung ones
    let (st, _, v) = send(
        addr,
        &key,
        &json!({"to": "+491701234567", "from": "ACME", "text": "fast",
                "callback_url": format!("http://127.0.0.1:{fast_port}/dlr")}),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let h = next_hook(&mut fast, 5).await;
    assert_signed(&h, &secret);
    assert_eq!(
        h.headers["webhook-id"],
        format!("msg_{}", v["id"].as_str().expect("id"))
    );
    assert_eq!(
        slow.load(std::sync::atomic::Ordering::SeqCst),
        16,
        "the other 4 wait for a free slot on their own endpoint"
    );
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_webhook_once_when_it_is_back() {
    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let (t, addr) = switch(&sim, "1.00", "").await;
    let (key, secret) = key_and_secret(&t, "demo").await;
    // the account's receiver is down: nothing listens on its port
    let port = free_port();
    let url = json!({"webhook_url": format!("http://127.0.0.1:{port}/hooks")}).to_string();
    let (st, v) = t.call("PUT", "/api/v1/accounts/demo", Some(&url)).await;
    assert_eq!(st, 200, "{v}");
    let mut ids = std::collections::HashSet::new();
    for i in 0..5 {
        let (st, _, v) = send(
            addr,
            &key,
            &json!({"to": "+491701234567", "from": "ACME", "text": format!("while down {i}")}),
        )
        .await;
        assert_eq!(st, 202, "{v}");
        ids.insert(format!("msg_{}", v["id"].as_str().expect("id")));
    }
    // every one has failed at least once before the receiver comes back
    t.until_metric(
        "tern_webhook_total{account=\"demo\",outcome=\"retried\"}",
        5.0,
    )
    .await;
    let mut hooks = receiver(port, vec![]).await;
    let mut got = std::collections::HashSet::new();
    while got.len() < 5 {
        let h = next_hook(&mut hooks, 15).await;
        assert_signed(&h, &secret);
        assert!(
            got.insert(h.headers["webhook-id"].clone()),
            "{} came twice",
            h.headers["webhook-id"]
        );
    }
    assert_eq!(got, ids, "every message's webhook, once each");
    t.until_metric(
        "tern_webhook_total{account=\"demo\",outcome=\"delivered\"}",
        5.0,
    )
    .await;
    assert!(
        hooks.try_recv().is_err(),
        "nothing more once all were taken"
    );
}
