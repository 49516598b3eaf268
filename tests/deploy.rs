//! The ops files in deploy/: every metric the dashboard and the alert rules query exists
//! on a running switch, and the service config is refused until its admin token is set.

mod common;

use std::collections::BTreeSet;

use common::*;

/// Every `tern_*` and `process_*` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in ["tern_", "process_"] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let before_ok = i == 0
                || !rest.as_bytes()[i - 1].is_ascii_alphanumeric()
                    && rest.as_bytes()[i - 1] != b'_';
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if before_ok && name.len() > prefix.len() {
                out.insert(name.clone());
            }
            rest = &rest[i + name.len().max(1)..];
        }
    }
    out
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alerts_query_exists() {
    let dash = std::fs::read_to_string("deploy/grafana-dashboard.json").expect("dashboard");
    let v: serde_json::Value = serde_json::from_str(&dash).expect("the dashboard is JSON");
    let mut exprs = String::new();
    for p in v["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            exprs += t["expr"].as_str().expect("expr");
            exprs += "\n";
        }
    }
    let alerts = std::fs::read_to_string("deploy/alerts.yml").expect("alerts");
    let mut wanted = metric_names(&exprs);
    wanted.extend(metric_names(&alerts));
    assert!(wanted.len() >= 12, "{wanted:?}");

    let sim = Sim::start(&["--dlr-delay-ms", "0"]).await;
    let body = format!(
        "{}{}{}",
        account("demo", "demopass", "balance = \"10\"\nprice = \"0.01\"\n"),
        carrier("sim", sim.port, ""),
        route("", &["sim"])
    );
    let t = Tern::start(&body).await;
    let mut e = bind(t.smpp, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind");
    submit(&e.client, sm("ACME", "491700000001", "x"))
        .await
        .expect("accepted");
    e.next_receipt(20).await;
    let (_, scrape) = http_get(t.http, "/metrics", None).await;
    let served: BTreeSet<String> = scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(String::from)
        .collect();
    for name in &wanted {
        assert!(
            served.contains(name),
            "{name} is queried by deploy/ but tern does not serve it; served: {served:?}"
        );
    }
}

#[test]
fn the_service_config_wants_an_admin_token_of_its_own() {
    let run = |token: Option<&str>| {
        let mut c = std::process::Command::new(BIN);
        c.args(["check-config", "--config", "deploy/tern.toml"]);
        match token {
            Some(t) => c.env("TERN_ADMIN_TOKEN", t),
            None => c.env_remove("TERN_ADMIN_TOKEN"),
        };
        c.output().expect("run tern check-config")
    };
    let refused = run(None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("change-me"));
    let ok = run(Some("a-secret-of-our-own"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (smpp, http) = (free_port(), free_port());
    let cfg = dir.path().join("tern.toml");
    std::fs::write(
        &cfg,
        format!(
            "[node]\ndata_dir = \"{}\"\n[smpp]\nlisten = \"127.0.0.1:{smpp}\"\n[http]\nlisten = \"127.0.0.1:{http}\"\nadmin_token = \"{TOKEN}\"\n{}",
            dir.path().join("data").display(),
            account("demo", "demopass", "")
        ),
    )
    .expect("config");
    let log = std::fs::File::create(dir.path().join("log")).expect("log");
    let mut child = std::process::Command::new(BIN)
        .args(["run", "--log-format", "json", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .stderr(log)
        .spawn()
        .expect("spawn");
    wait_port(
        std::net::SocketAddr::from(([127, 0, 0, 1], http)),
        &mut child,
    )
    .await;
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let st = child.wait().expect("exit");
    assert!(st.success(), "{st}");
    let text = std::fs::read_to_string(dir.path().join("log")).expect("log");
    let mut lines = 0;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
        lines += 1;
    }
    assert!(lines >= 3, "{text}");
    assert!(text.contains("\"switch starting\""), "{text}");
}

#[tokio::test]
async fn a_second_tern_on_the_same_data_dir_says_so_in_one_sentence() {
    let t = Tern::start(&account("demo", "demopass", "")).await;
    let cfg = t.dir.path().join("second.toml");
    std::fs::write(
        &cfg,
        format!(
            "[node]\ndata_dir = \"{}\"\n[smpp]\nlisten = \"127.0.0.1:{}\"\n[http]\nlisten = \"127.0.0.1:{}\"\nadmin_token = \"x\"\n",
            data_dir(&t).join("data").display(),
            free_port(),
            free_port()
        ),
    )
    .expect("config");
    let out = std::process::Command::new(BIN)
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in use by another tern process"), "{err}");
}
