//! Test harness: the real `tern` binary and the real simulator as child processes, a real
//! SMPP client (rusmppc) and a raw-PDU client for what rusmppc cannot send.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc, ExitStatus, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::TlvValue;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{EsmClass, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, Pdu};
use rusmppc::{Client, Event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

pub const BIN: &str = env!("CARGO_BIN_EXE_tern");
pub const TOKEN: &str = "test-token";

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits until something accepts on `addr`.
pub async fn wait_port(addr: SocketAddr, child: &mut Child) {
    let t0 = Instant::now();
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("process exited before listening on {addr}: {st}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "nothing listening on {addr} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A carrier simulator process.
pub struct Sim {
    pub port: u16,
    /// Its control endpoint (`GET /stats`).
    pub control: SocketAddr,
    child: Child,
}

impl Sim {
    pub async fn start(args: &[&str]) -> Sim {
        Sim::start_on(free_port(), args).await
    }

    /// A simulator on `port` (a carrier coming back where it was).
    pub async fn start_on(port: u16, args: &[&str]) -> Sim {
        let control = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut child = Proc::new(BIN)
            .arg("sim")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--control")
            .arg(control.to_string())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn sim");
        wait_port(SocketAddr::from(([127, 0, 0, 1], port)), &mut child).await;
        wait_port(control, &mut child).await;
        Sim {
            port,
            control,
            child,
        }
    }

    /// (submit_sm taken, of which repeats of a destination and text taken before).
    pub async fn stats(&self) -> (u64, u64) {
        let v = self.stats_json().await;
        let n = |k: &str| v[k].as_u64().expect("count");
        (n("submits"), n("repeats"))
    }

    /// Every count the simulator keeps (`GET /stats`).
    pub async fn stats_json(&self) -> serde_json::Value {
        let (code, body) = http_get(self.control, "/stats", None).await;
        assert_eq!(code, 200, "sim stats: {body}");
        serde_json::from_str(&body).expect("stats json")
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// TOML for a carrier pointing at `port`; `extra` keys replace the test defaults.
pub fn carrier(id: &str, port: u16, extra: &str) -> String {
    let defaults: String = [
        ("tps", "100000"),
        ("window", "200"),
        ("response_timeout_s", "3"),
    ]
    .iter()
    .filter(|(k, _)| {
        !extra
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{k} ")))
    })
    .map(|(k, v)| format!("{k} = {v}\n"))
    .collect();
    format!(
        "[[carriers]]\nid = \"{id}\"\nhost = \"127.0.0.1\"\nport = {port}\nsystem_id = \"tern\"\npassword = \"ternpass\"\n{defaults}{extra}\n"
    )
}

/// TOML for an account.
pub fn account(id: &str, pw: &str, extra: &str) -> String {
    format!("[[accounts]]\nsystem_id = \"{id}\"\npassword = \"{pw}\"\n{extra}\n")
}

/// TOML for a route.
pub fn route(prefix: &str, carriers: &[&str]) -> String {
    let list = carriers
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!("[[routes]]\nprefix = \"{prefix}\"\ncarriers = [{list}]\n")
}

/// A running tern.
pub struct Tern {
    pub smpp: SocketAddr,
    pub http: SocketAddr,
    pub config: PathBuf,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// `TERN_FAILPOINTS` for the process, if any.
    failpoints: Option<String>,
}

impl Tern {
    /// Writes a config with fresh ports and a fresh data dir, and starts tern on it.
    pub async fn start(body: &str) -> Tern {
        Tern::start_with("", body).await
    }

    /// As [`Tern::start`], with extra `[smpp]` settings.
    pub async fn start_with(smpp_extra: &str, body: &str) -> Tern {
        Tern::start_full("", smpp_extra, body).await
    }

    /// As [`Tern::start`], with extra `[node]` and `[smpp]` settings.
    pub async fn start_full(node_extra: &str, smpp_extra: &str, body: &str) -> Tern {
        let mut t = Tern::prepare(node_extra, smpp_extra, body);
        t.restart().await;
        t
    }

    /// As [`Tern::start`], with failpoints armed (`TERN_FAILPOINTS`, see src/failpoint.rs).
    pub async fn start_failing(failpoints: &str, body: &str) -> Tern {
        let mut t = Tern::prepare("", "", body);
        t.failpoints = Some(failpoints.to_string());
        t.restart().await;
        t
    }

    /// Writes the config and picks the ports; does not start.
    pub fn prepare(node_extra: &str, smpp_extra: &str, body: &str) -> Tern {
        let dir = tempfile::tempdir().expect("tempdir");
        let smpp = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let config = dir.path().join("tern.toml");
        let text = format!(
            "[node]\ndata_dir = \"{}\"\n{node_extra}\n\n[smpp]\nlisten = \"{smpp}\"\n{smpp_extra}\n\n[http]\nlisten = \"{http}\"\nadmin_token = \"{TOKEN}\"\n\n{body}",
            dir.path().join("data").display()
        );
        std::fs::write(&config, text).expect("write config");
        Tern {
            smpp,
            http,
            config,
            dir,
            child: None,
            failpoints: None,
        }
    }

    /// Starts (again) on the same config and data.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::File::create(self.dir.path().join("tern.log")).expect("log");
        let mut child = Proc::new(BIN)
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info,rusmpp=warn")
            .env_remove("TERN_ADMIN_TOKEN")
            .env("TERN_FAILPOINTS", self.failpoints.as_deref().unwrap_or(""))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn tern");
        wait_port(self.http, &mut child).await;
        wait_port(self.smpp, &mut child).await;
        self.child = Some(child);
    }

    /// Arms `TERN_FAILPOINTS` for the next start (None: a start without).
    pub fn arm(&mut self, failpoints: Option<&str>) {
        self.failpoints = failpoints.map(str::to_string);
    }

    /// Waits up to `secs` for the process to exit by itself; its status.
    pub async fn wait_exit(&mut self, secs: u64) -> Option<ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(secs) {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                self.child = None;
                return Some(st);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("running")
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Proc::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = c.kill();
                panic!("tern did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tern.log")).unwrap_or_default()
    }

    /// GET a path on the HTTP port with the admin token; returns (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http, path, Some(TOKEN)).await
    }

    /// A request with the admin token and a JSON body; returns (status, body as JSON, or
    /// Null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let (st, b) = http_request(self.http, method, path, Some(TOKEN), body).await;
        let v = if b.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&b).unwrap_or_else(|e| panic!("{method} {path}: {e}: {b}"))
        };
        (st, v)
    }

    /// The account's balance as the admin API reports it.
    pub async fn balance(&self, account: &str) -> String {
        let (st, body) = self.get(&format!("/api/v1/accounts/{account}")).await;
        assert_eq!(st, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        v["balance"].as_str().expect("balance").to_string()
    }

    /// The value of a metric line (exact name with labels), or 0.
    /// Waits (up to 10 s) until `series` reads at least `at_least`.
    pub async fn until_metric(&self, series: &str, at_least: f64) {
        let t0 = Instant::now();
        loop {
            let v = self.metric(series).await;
            if v >= at_least {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{series} is {v}, never {at_least}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn metric(&self, series: &str) -> f64 {
        let (_, body) = http_get(self.http, "/metrics", None).await;
        body.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|r| r.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Tern {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- tern log ----\n{}", self.log());
        }
        self.kill9();
    }
}

pub async fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    http_request(addr, "GET", path, token, None).await
}

/// One HTTP/1.1 request (JSON body if any); returns (status, body).
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let (status, _, body) = http_exchange(addr, method, path, token, body).await;
    (status, body)
}

/// One HTTP/1.1 request (JSON body if any); returns (status, the head in lower case, body).
pub async fn http_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    http_exchange_with(addr, method, path, &headers, body).await
}

/// One HTTP/1.1 request with these headers (and a JSON body if any); returns (status, the
/// head in lower case, body).
pub async fn http_exchange_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect http");
    let auth: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let content = body
        .map(|b| {
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            )
        })
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}{content}Connection: close\r\n\r\n{}",
        body.unwrap_or("")
    );
    s.write_all(req.as_bytes()).await.expect("write http");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read http");
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Tx,
    Rx,
    Trx,
}

/// A receipt as the ESME saw it.
#[derive(Debug, Clone)]
pub struct GotReceipt {
    /// The receipted message's destination (the receipt's source_addr); for an MO, the
    /// handset.
    pub source: String,
    /// destination_addr (for an MO, the number the handset wrote to).
    pub dest: String,
    /// short_message as it came (UDH included).
    pub short: Vec<u8>,
    /// data_coding.
    pub data_coding: u8,
    /// The SAR (reference, total, seq), if it had the TLVs.
    pub sar: Option<(u16, u8, u8)>,
    pub tlv_id: Option<String>,
    pub state: Option<u8>,
    pub text: String,
    pub esm_class: u8,
}

/// A bound rusmppc client and the receipts it has answered.
pub struct Esme {
    pub client: Client,
    pub receipts: mpsc::UnboundedReceiver<GotReceipt>,
}

/// The command_status of a rusmppc error, if the server answered with one.
pub fn status_of(e: &rusmppc::error::Error) -> Option<u32> {
    match e {
        rusmppc::error::Error::UnexpectedResponse { response } => {
            Some(u32::from(response.status()))
        }
        _ => None,
    }
}

/// Binds; Err carries the bind_resp's command_status.
pub async fn bind(
    addr: SocketAddr,
    system_id: &str,
    password: &str,
    mode: Mode,
) -> Result<Esme, u32> {
    let stream = TcpStream::connect(addr).await.expect("connect smpp");
    bind_over(stream, system_id, password, mode).await
}

/// Binds over an open stream (TCP or TLS); Err carries the bind_resp's command_status.
pub async fn bind_over<S>(
    stream: S,
    system_id: &str,
    password: &str,
    mode: Mode,
) -> Result<Esme, u32>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (client, mut events) = rusmppc::ConnectionBuilder::new()
        .no_enquire_link_interval()
        .disable_interface_version_check()
        .response_timeout(Duration::from_secs(20))
        .connected(stream);
    let sid = COctetString::from_str(system_id).expect("system_id");
    let pw = COctetString::from_str(password).expect("password");
    let res = match mode {
        Mode::Tx => client
            .bind_transmitter(
                BindTransmitter::builder()
                    .system_id(sid)
                    .password(pw)
                    .build(),
            )
            .await
            .map(|_| ()),
        Mode::Rx => client
            .bind_receiver(BindReceiver::builder().system_id(sid).password(pw).build())
            .await
            .map(|_| ()),
        Mode::Trx => client
            .bind_transceiver(
                BindTransceiver::builder()
                    .system_id(sid)
                    .password(pw)
                    .build(),
            )
            .await
            .map(|_| ()),
    };
    if let Err(e) = res {
        return Err(status_of(&e).unwrap_or(u32::MAX));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let c2 = client.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.next().await {
            if let Event::Incoming(cmd) = ev
                && let Some(Pdu::DeliverSm(d)) = cmd.pdu()
            {
                let mut tlv_id = None;
                let mut state = None;
                let (mut r, mut n, mut q) = (None, None, None);
                for t in d.tlvs() {
                    match t.value() {
                        Some(TlvValue::ReceiptedMessageId(v)) => tlv_id = Some(v.to_string()),
                        Some(TlvValue::MessageState(s)) => state = Some(u8::from(*s)),
                        Some(TlvValue::SarMsgRefNum(v)) => r = Some(*v),
                        Some(TlvValue::SarTotalSegments(v)) => n = Some(*v),
                        Some(TlvValue::SarSegmentSeqnum(v)) => q = Some(*v),
                        _ => {}
                    }
                }
                let text = String::from_utf8_lossy(d.short_message().as_ref()).into_owned();
                let _ = c2
                    .deliver_sm_resp(cmd.sequence_number(), DeliverSmResp::default())
                    .await;
                let _ = tx.send(GotReceipt {
                    source: d.source_addr.to_string(),
                    dest: d.destination_addr.to_string(),
                    short: d.short_message().as_ref().to_vec(),
                    data_coding: u8::from(d.data_coding),
                    sar: r.zip(n).zip(q).map(|((r, n), q)| (r, n, q)),
                    tlv_id,
                    state,
                    text,
                    esm_class: u8::from(d.esm_class),
                });
            }
        }
    });
    Ok(Esme {
        client,
        receipts: rx,
    })
}

/// A submit_sm to `dest` from `source`, asking for a receipt.
pub fn sm(source: &str, dest: &str, text: &str) -> SubmitSm {
    SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(COctetString::from_str(source).expect("source"))
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(COctetString::from_str(dest).expect("dest"))
        .esm_class(EsmClass::from(0u8))
        .registered_delivery(RegisteredDelivery::from(1u8))
        .short_message(OctetString::from_vec(text.as_bytes().to_vec()).expect("text"))
        .build()
}

/// Submits; Ok(tern id) or Err(command_status).
pub async fn submit(c: &Client, sm: SubmitSm) -> Result<String, u32> {
    match c.submit_sm(sm).await {
        Ok(r) => Ok(r.message_id().to_string()),
        Err(e) => Err(status_of(&e).unwrap_or(u32::MAX)),
    }
}

impl Esme {
    /// Waits for the next receipt (panics after `secs`).
    pub async fn next_receipt(&mut self, secs: u64) -> GotReceipt {
        tokio::time::timeout(Duration::from_secs(secs), self.receipts.recv())
            .await
            .expect("receipt in time")
            .expect("receipt stream open")
    }
}

/// Field of Appendix B text.
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("{key}:"))?;
    let rest = &text[at + key.len() + 1..];
    Some(rest.split(' ').next().unwrap_or(""))
}

/// A raw SMPP connection speaking PDUs through tern's own codec.
pub struct Raw {
    pub framed: tokio_util::codec::Framed<TcpStream, tern::protocol::codec::SmppCodec>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).await.expect("connect");
        Raw {
            framed: tokio_util::codec::Framed::new(s, tern::protocol::codec::SmppCodec::default()),
        }
    }

    pub async fn send_bytes(&mut self, b: &[u8]) {
        self.framed.get_mut().write_all(b).await.expect("write");
    }

    pub async fn send(&mut self, c: Command) {
        use futures::SinkExt;
        self.framed.send(c).await.expect("send");
    }

    pub async fn recv(&mut self) -> Command {
        match tokio::time::timeout(Duration::from_secs(10), self.framed.next()).await {
            Ok(Some(Ok(Ok(c)))) => c,
            other => panic!("expected a PDU, got {other:?}"),
        }
    }

    /// Reads until tern closes the connection, for up to `secs`: the PDUs it sent first,
    /// or `None` if it was still open at the end.
    pub async fn until_closed(&mut self, secs: u64) -> Option<Vec<Command>> {
        let mut got = Vec::new();
        let end = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(end, self.framed.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(Ok(c)))) => got.push(c),
                // bytes tern's codec cannot read count as nothing sent; the end is the end
                Ok(Some(Ok(Err(_)))) => {}
                Ok(None) | Ok(Some(Err(_))) => return Some(got),
            }
        }
    }
}

/// A raw connection bound with `bind_id` (0x01 receiver, 0x02 transmitter, 0x09
/// transceiver) as `system_id`, its bind answered ESME_ROK.
pub async fn raw_bound(addr: SocketAddr, bind_id: u32, system_id: &str, pw: &str) -> Raw {
    let mut r = Raw::connect(addr).await;
    r.send_bytes(&frame(bind_id, 0, 1, &bind_body(system_id, pw, 0x34)))
        .await;
    let c = r.recv().await;
    assert_eq!(c.status(), rusmpp::CommandStatus::EsmeRok, "{c:?}");
    r
}

/// A bind_* body: system_id, password, SMPP version.
pub fn bind_body(system_id: &str, pw: &str, version: u8) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(system_id.as_bytes());
    b.push(0);
    b.extend_from_slice(pw.as_bytes());
    b.push(0);
    b.push(0); // system_type
    b.push(version);
    b.extend_from_slice(&[0, 0, 0]); // ton, npi, address_range
    b
}

/// A submit_sm body asking for a receipt.
pub fn submit_body(source: &str, dest: &[u8], text: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8, 5, 0];
    b.extend_from_slice(source.as_bytes());
    b.push(0);
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(dest);
    b.push(0);
    b.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0]); // esm, pid, prio, sched, valid, rd=1, replace, dc, default id
    b.push(text.len() as u8);
    b.extend_from_slice(text);
    b
}

/// A raw frame: header + body.
pub fn frame(id: u32, status: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + body.len());
    v.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&status.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(body);
    v
}

pub fn data_dir(t: &Tern) -> &Path {
    t.dir.path()
}

/// Every ledger entry of `id`, following the cursor.
pub async fn ledger(t: &Tern, id: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/accounts/{id}/ledger?limit=7&cursor={c}"),
            None => format!("/api/v1/accounts/{id}/ledger?limit=7"),
        };
        let (st, v) = t.call("GET", &path, None).await;
        assert_eq!(st, 200, "{v}");
        out.extend(v["entries"].as_array().expect("entries").iter().cloned());
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// A decimal money string ("-0.01") in micro-units.
pub fn micros(s: &str) -> i64 {
    let neg = s.starts_with('-');
    let s = s.trim_start_matches('-');
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<6}");
    let v = whole.parse::<i64>().expect("whole") * 1_000_000 + frac.parse::<i64>().expect("frac");
    if neg { -v } else { v }
}

/// The ledger's entries add up to the balance, and each entry's balance is the running sum.
pub async fn assert_ledger_exact(t: &Tern, id: &str) -> Vec<serde_json::Value> {
    let entries = ledger(t, id).await;
    let mut sum = 0i64;
    for e in &entries {
        sum += micros(e["amount"].as_str().expect("amount"));
        assert_eq!(
            sum,
            micros(e["balance"].as_str().expect("balance")),
            "running balance at {e}"
        );
    }
    assert_eq!(
        sum,
        micros(&t.balance(id).await),
        "entries sum to the balance"
    );
    entries
}

/// query_sm for `id` on a raw bound session, answered as (status, message_state,
/// final_date, error_code).
pub async fn query(
    r: &mut Raw,
    seq: u32,
    id: &str,
) -> (rusmpp::CommandStatus, Option<(u8, String, u8)>) {
    use rusmpp::pdus::QuerySm;
    use rusmpp::types::COctetString;
    let q = QuerySm::builder()
        .message_id(COctetString::from_string(id.to_string()).expect("id"))
        .source_addr(COctetString::from_string("ACME".to_string()).expect("source"))
        .build();
    r.send(rusmpp::Command::new(rusmpp::CommandStatus::EsmeRok, seq, q))
        .await;
    let c = r.recv().await;
    assert_eq!(
        (c.id(), c.sequence_number()),
        (rusmpp::CommandId::QuerySmResp, seq)
    );
    let body = match c.pdu() {
        Some(rusmpp::Pdu::QuerySmResp(q)) => Some((
            u8::from(q.message_state),
            q.final_date.to_string(),
            q.error_code,
        )),
        _ => None,
    };
    (c.status(), body)
}

/// A request the test's webhook receiver took.
#[derive(Debug, Clone)]
pub struct Hook {
    pub headers: std::collections::HashMap<String, String>,
    pub body: Vec<u8>,
}

/// A webhook receiver on `port`: answers the statuses of `answers` in turn (then 200) and
/// hands over every request it took.
pub async fn receiver(port: u16, answers: Vec<u16>) -> tokio::sync::mpsc::UnboundedReceiver<Hook> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind receiver");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let answers = std::sync::Arc::new(std::sync::Mutex::new(
        answers
            .into_iter()
            .collect::<std::collections::VecDeque<u16>>(),
    ));
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let (tx, answers) = (tx.clone(), answers.clone());
            tokio::spawn(async move {
                let mut r = BufReader::new(sock);
                loop {
                    let mut headers = std::collections::HashMap::new();
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                    }
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let status = answers.lock().expect("answers").pop_front().unwrap_or(200);
                    let _ = tx.send(Hook { headers, body });
                    let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    if r.get_mut().write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    rx
}

pub async fn next_hook(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Hook>, secs: u64) -> Hook {
    tokio::time::timeout(Duration::from_secs(secs), rx.recv())
        .await
        .expect("a webhook in time")
        .expect("receiver running")
}

/// Checks a webhook's signature as a receiver would: HMAC-SHA256 of "id.timestamp.body"
/// keyed by the secret's bytes, against the raw body.
pub fn assert_signed(h: &Hook, secret: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(secret.strip_prefix("whsec_").expect("whsec_"))
        .expect("base64");
    let id = &h.headers["webhook-id"];
    let ts = &h.headers["webhook-timestamp"];
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&h.body);
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        &signed,
    );
    let want = format!("v1,{}", b64.encode(tag.as_ref()));
    assert_eq!(
        h.headers["webhook-signature"], want,
        "signature over the raw body"
    );
}

/// Makes an API key for `account` through the admin API: the 201's body (`key_id`, `key`,
/// `webhook_secret`).
pub async fn issue_key(t: &Tern, account: &str) -> serde_json::Value {
    let (st, v) = t
        .call(
            "POST",
            &format!("/api/v1/accounts/{account}/api-keys"),
            None,
        )
        .await;
    assert_eq!(st, 201, "{v}");
    v
}

/// Makes a key and returns (key, webhook secret).
pub async fn key_and_secret(t: &Tern, account: &str) -> (String, String) {
    let v = issue_key(t, account).await;
    (
        v["key"].as_str().expect("key").to_string(),
        v["webhook_secret"].as_str().expect("secret").to_string(),
    )
}

/// Whether python3 with smpplib is here (.ci/run installs it); a test that needs it says
/// it skipped when not.
pub fn have_smpplib() -> bool {
    let have = std::process::Command::new("python3")
        .args(["-c", "import smpplib"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        eprintln!("skipped: python3 with smpplib is not installed (.ci/run installs it)");
    }
    have
}

/// Runs a python script (60 s at most, off the test's runtime): (stdout, stderr).
pub async fn run_python(script: String) -> (String, String) {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("timeout")
            .args(["60", "python3", "-c", &script])
            .output()
            .expect("python3")
    })
    .await
    .expect("join");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
