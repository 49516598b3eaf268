//! SMPP over TLS, both ways, with a CA and a leaf certificate made for the test: an ESME
//! binds on `tls_listen`, submits and gets its receipt, through a carrier reached over TLS
//! (`tls = true`, checked against `tls_ca_file`); python's smpplib does the same over
//! `ssl.SSLContext`; plaintext on the TLS port is closed without an answer; a carrier
//! whose certificate does not chain to the CA is never bound.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;

/// PEM files of a CA, and of a leaf for localhost / 127.0.0.1 it signed: (ca, cert, key).
fn make_certs(dir: &Path) -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tern test CA");
    let ca_key = KeyPair::generate().expect("ca key");
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("leaf params");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("leaf cert");
    let write = |name: &str, pem: String| {
        let p = dir.join(name);
        std::fs::write(&p, pem).expect("write pem");
        p.display().to_string()
    };
    (
        write("ca.pem", ca.pem()),
        write("cert.pem", leaf.pem()),
        write("key.pem", leaf_key.serialize_pem()),
    )
}

fn connector(ca: &str) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).expect("ca") {
        roots.add(c.expect("ca cert")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A switch with an SMPP TLS listener, routing to a simulator reached over TLS.
async fn tls_switch(certs_dir: &Path) -> (Sim, Tern, std::net::SocketAddr, String) {
    let (ca, cert, key) = make_certs(certs_dir);
    let sim = Sim::start(&[
        "--dlr-delay-ms",
        "10",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ])
    .await;
    let tls_addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let body = format!(
        "{}{}{}",
        account("demo", "demopass", "balance = \"10\"\nprice = \"0.01\""),
        carrier(
            "c1",
            sim.port,
            &format!("tls = true\ntls_ca_file = \"{ca}\"")
        ),
        route("", &["c1"])
    );
    let t = Tern::start_with(
        &format!("tls_listen = \"{tls_addr}\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\""),
        &body,
    )
    .await;
    wait_for_carrier(&t).await;
    (sim, t, tls_addr, ca)
}

async fn wait_for_carrier(t: &Tern) {
    for _ in 0..100 {
        if t.metric("tern_carrier_binds_up{carrier=\"c1\"}").await >= 1.0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the carrier never bound over TLS:\n{}", t.log());
}

#[tokio::test]
async fn an_esme_binds_submits_and_gets_its_receipt_over_tls_both_ways() {
    let certs = tempfile::tempdir().expect("tempdir");
    let (_sim, t, tls_addr, ca) = tls_switch(certs.path()).await;
    let tcp = tokio::net::TcpStream::connect(tls_addr)
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let stream = connector(&ca).connect(name, tcp).await.expect("handshake");
    let mut e = bind_over(stream, "demo", "demopass", Mode::Trx)
        .await
        .expect("bind over TLS");
    let id = submit(&e.client, sm("ACME", "491701234567", "over tls"))
        .await
        .expect("accepted");
    let r = e.next_receipt(20).await;
    assert_eq!(r.tlv_id.as_deref(), Some(id.as_str()));
    assert!(r.text.contains("stat:DELIVRD"), "{}", r.text);

    // plaintext on the TLS port: no SMPP answer, the connection closed
    let mut raw = Raw::connect(tls_addr).await;
    raw.send_bytes(&frame(0x09, 0, 1, &bind_body("demo", "demopass", 0x34)))
        .await;
    assert_eq!(
        raw.until_closed(15).await.map(|c| c.len()),
        Some(0),
        "closed, unanswered"
    );
    // counted as the handshake's error is handled, which may be after the close is seen
    t.until_metric("tern_bind_failures_total{reason=\"tls\"}", 1.0)
        .await;
}

#[tokio::test]
async fn python_smpplib_binds_and_gets_its_receipt_over_tls() {
    if !have_smpplib() {
        return;
    }
    let certs = tempfile::tempdir().expect("tempdir");
    let (_sim, _t, tls_addr, ca) = tls_switch(certs.path()).await;
    let script = format!(
        r#"
import ssl, sys, smpplib.client, smpplib.consts
ctx = ssl.create_default_context(cafile="{ca}")
ctx.check_hostname = False  # smpplib wraps without a server name; the chain is checked
got = {{}}
c = smpplib.client.Client("127.0.0.1", {port}, timeout=20, ssl_context=ctx)
def on_sent(pdu):
    got["id"] = pdu.message_id.decode()
def on_deliver(pdu):
    got["receipt"] = pdu.short_message.decode()
    raise SystemExit(0)
c.set_message_sent_handler(on_sent)
c.set_message_received_handler(on_deliver)
c.connect()
c.bind_transceiver(system_id="demo", password="demopass")
c.send_message(source_addr_ton=5, source_addr="ACME", dest_addr_ton=1, dest_addr_npi=1,
               destination_addr="491701234567", short_message=b"python over tls",
               registered_delivery=True)
try:
    c.listen()
except SystemExit:
    pass
print("id", got.get("id"))
print("receipt", got.get("receipt"))
"#,
        port = tls_addr.port()
    );
    let (stdout, stderr) = run_python(script).await;
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("id "))
        .unwrap_or("None")
        .to_string();
    assert_ne!(id, "None", "no submit_sm_resp: {stdout}\n{stderr}");
    let receipt = stdout
        .lines()
        .find_map(|l| l.strip_prefix("receipt "))
        .unwrap_or("");
    assert_eq!(
        field(receipt, "id"),
        Some(id.as_str()),
        "{stdout}\n{stderr}"
    );
    assert_eq!(field(receipt, "stat"), Some("DELIVRD"));
}

#[tokio::test]
async fn a_carrier_whose_certificate_is_not_trusted_is_never_bound() {
    let certs = tempfile::tempdir().expect("tempdir");
    let (_ca, cert, key) = make_certs(certs.path());
    // another CA, which did not sign the simulator's certificate
    let other = tempfile::tempdir().expect("tempdir");
    let (other_ca, _, _) = make_certs(other.path());
    let sim = Sim::start(&["--tls-cert", &cert, "--tls-key", &key]).await;
    let body = format!(
        "{}{}{}",
        account("demo", "demopass", ""),
        carrier(
            "c1",
            sim.port,
            &format!("tls = true\ntls_ca_file = \"{other_ca}\"")
        ),
        route("", &["c1"])
    );
    let t = Tern::start(&body).await;
    // long enough for several connect attempts
    for _ in 0..30 {
        assert_eq!(t.metric("tern_carrier_binds_up{carrier=\"c1\"}").await, 0.0);
        if t.log().contains("TLS handshake") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let log = t.log();
    assert!(log.contains("TLS handshake"), "the reason is logged: {log}");
}

/// One HTTP/1.1 request over TLS; the response's status line and body.
async fn https(addr: std::net::SocketAddr, ca: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let mut s = connector(ca).connect(name, tcp).await.expect("handshake");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn the_admin_api_speaks_https_when_given_a_certificate() {
    let certs = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = make_certs(certs.path());
    let sim = Sim::start(&[]).await;
    // these two lines land in [http], which the harness writes just before the body
    let body = format!(
        "tls_cert = \"{cert}\"\ntls_key = \"{key}\"\n\n{}{}{}",
        account("demo", "demopass", ""),
        carrier("c1", sim.port, ""),
        route("", &["c1"])
    );
    let t = Tern::start(&body).await;
    let live = https(t.http, &ca, "/health/live").await;
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    let accounts = https(t.http, &ca, "/api/v1/accounts").await;
    assert!(accounts.starts_with("HTTP/1.1 200"), "{accounts}");
    assert!(accounts.contains("\"demo\""), "{accounts}");
    // plain HTTP on the HTTPS port gets no HTTP answer
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut plain = tokio::net::TcpStream::connect(t.http)
        .await
        .expect("connect");
    plain
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        plain.read_to_end(&mut got),
    )
    .await;
    assert!(
        !got.starts_with(b"HTTP/1.1 200"),
        "plaintext must not be served"
    );
}
