//! `tern-load http`: the customer API end to end, beside SMPP in the same run.
//!
//! Starts the simulator and tern (with `[api]`), sends N messages over SMPP through tern
//! (the reference), then makes an API key, points the account's `webhook_url` at a local
//! receiver, and sends N messages with `POST /v1/messages` over C keep-alive connections.
//! A message counts once its webhook (`message.final`, `DELIVRD`) reaches the
//! receiver. Reports both runs, the ratio HTTP/SMPP and tern's CPU per message for each.
//!
//! The HTTP client and receiver are a few lines of HTTP/1.1 over tokio sockets on purpose:
//! the load generator shares the machine's cores with tern and must cost little per request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::e2e::{CarrierSpec, Tern, Usage, free_addr, in_temp_dir, node_keys, start_sim};
use crate::esme::{self, Load};
use crate::report::Report;

/// What to run.
pub struct HttpLoad {
    /// The `tern` binary.
    pub tern_bin: PathBuf,
    /// Messages per run (SMPP, then HTTP).
    pub messages: u64,
    /// HTTP connections sending at once (one request in flight each).
    pub connections: usize,
    /// The SMPP reference's sessions and window.
    pub smpp: Load,
}

/// Both runs and what tern used in each.
pub struct HttpRun {
    /// SMPP through tern.
    pub smpp: Report,
    /// tern during the SMPP run.
    pub smpp_usage: Usage,
    /// The customer API with webhooks.
    pub http: Report,
    /// tern during the HTTP run.
    pub http_usage: Usage,
}

/// tern's CPU per message, µs: all the CPU it used while the run was sampled.
pub fn cpu_us_per_msg(u: &Usage, r: &Report) -> f64 {
    if r.accepted == 0 {
        return 0.0;
    }
    u.cpu_s * 1e6 / r.accepted as f64
}

impl HttpRun {
    /// Every message accepted and its outcome delivered once, on both paths.
    pub fn complete(&self) -> bool {
        self.smpp.complete() && self.http.complete()
    }

    /// Prints both and the ratio.
    pub fn print(&self, load: &str) {
        self.smpp.print(&format!("SMPP through tern: {load}"));
        println!(
            "   tern: {:.0}% CPU, {:.1} µs CPU/msg, RSS max {:.0} MiB",
            self.smpp_usage.cpu_avg,
            cpu_us_per_msg(&self.smpp_usage, &self.smpp),
            self.smpp_usage.rss_max_mib
        );
        self.http
            .print("HTTP through tern: POST /v1/messages → 202 → webhook");
        println!(
            "   tern: {:.0}% CPU, {:.1} µs CPU/msg, RSS max {:.0} MiB",
            self.http_usage.cpu_avg,
            cpu_us_per_msg(&self.http_usage, &self.http),
            self.http_usage.rss_max_mib
        );
        println!(
            "== ratio HTTP/SMPP: {:.2} (msg/s end to end), CPU per message {:.2}×",
            self.ratio(),
            cpu_us_per_msg(&self.http_usage, &self.http)
                / cpu_us_per_msg(&self.smpp_usage, &self.smpp).max(f64::MIN_POSITIVE)
        );
    }

    fn ratio(&self) -> f64 {
        self.http.throughput() / self.smpp.throughput().max(f64::MIN_POSITIVE)
    }

    /// Both runs as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "smpp": self.smpp.json(),
            "smpp_tern_cpu_us_per_msg": cpu_us_per_msg(&self.smpp_usage, &self.smpp),
            "http": self.http.json(),
            "http_tern_cpu_us_per_msg": cpu_us_per_msg(&self.http_usage, &self.http),
            "ratio_http_smpp": self.ratio(),
        })
    }
}

/// Runs both.
pub async fn run(h: &HttpLoad) -> Result<HttpRun, String> {
    in_temp_dir("http", async |dir| run_in(h, dir).await).await
}

async fn run_in(h: &HttpLoad, dir: &Path) -> Result<HttpRun, String> {
    let args = ["--dlr-delay-ms".to_string(), "10".to_string()];
    let (_sim, sim_addr) = start_sim(&h.tern_bin, &args, dir, "sim").await?;
    let api = free_addr()?;
    let sim = [CarrierSpec {
        id: "sim",
        sim: sim_addr,
        tps: 10_000_000,
        extra: "",
    }];
    let rest =
        format!("[[routes]]\nprefix = \"\"\ncarriers = [\"sim\"]\n\n[api]\nlisten = \"{api}\"\n");
    let tern = Tern::start(&h.tern_bin, dir, &node_keys("fsync", None), &sim, &rest).await?;

    let sampler = tern.sample();
    let smpp = esme::run(&tern.load(&h.smpp)).await;
    let smpp_usage = sampler.finish().await?;

    let hooks = Receiver::start().await?;
    let (st, made) = request(
        tern.http,
        "POST",
        "/api/v1/accounts/load/api-keys",
        "load",
        "",
    )
    .await?;
    let key = serde_json::from_slice::<serde_json::Value>(&made)
        .ok()
        .and_then(|v| v["key"].as_str().map(str::to_string))
        .ok_or_else(|| format!("no API key ({st}): {}", String::from_utf8_lossy(&made)))?;
    let url = serde_json::json!({"webhook_url": format!("http://{}/hooks", hooks.addr)});
    let (st, body) = request(
        tern.http,
        "PUT",
        "/api/v1/accounts/load",
        "load",
        &url.to_string(),
    )
    .await?;
    if st != 200 {
        return Err(format!(
            "webhook_url not set ({st}): {}",
            String::from_utf8_lossy(&body)
        ));
    }

    let sampler = tern.sample();
    let http = drive(
        api,
        &key,
        h.messages,
        h.connections,
        &hooks,
        h.smpp.receipt_wait,
    )
    .await;
    let http_usage = sampler.finish().await?;
    tern.stop().await?;
    Ok(HttpRun {
        smpp,
        smpp_usage,
        http,
        http_usage,
    })
}

/// What the senders and the receiver share.
#[derive(Default)]
struct Shared {
    /// Accepted messages not yet seen back: id → when its POST went.
    waiting: HashMap<String, Instant>,
    /// Webhooks that came before their 202 was read: id → (when, DELIVRD).
    early: HashMap<String, (Instant, bool)>,
    /// Ids whose webhook has come.
    seen: std::collections::HashSet<String>,
    report: Option<Report>,
    last_hook: Option<Instant>,
}

/// The local webhook receiver: answers 204 to every POST and matches it to its message.
struct Receiver {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    t0: Instant,
}

impl Receiver {
    async fn start() -> Result<Receiver, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("webhook receiver: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let t0 = Instant::now();
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let _ = sock.set_nodelay(true);
                tokio::spawn(serve(sock, s.clone(), t0));
            }
        });
        Ok(Receiver { addr, shared, t0 })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection from tern's webhook sender.
async fn serve(sock: TcpStream, shared: Arc<Mutex<Shared>>, t0: Instant) {
    let mut r = BufReader::new(sock);
    while let Ok(Some((_, body))) = read_message(&mut r).await {
        let at = Instant::now();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let id = v["data"]["id"].as_str().unwrap_or_default().to_string();
        let delivered = v["data"]["state"] == "DELIVRD";
        {
            let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
            s.last_hook = Some(at);
            hook(&mut s, id, delivered, at, t0);
        }
        if r.get_mut()
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Records a webhook for `id` seen at `at`.
fn hook(s: &mut Shared, id: String, delivered: bool, at: Instant, t0: Instant) {
    let Some(report) = s.report.as_mut() else {
        return;
    };
    if !s.seen.insert(id.clone()) {
        report.duplicates += 1;
        return;
    }
    match s.waiting.remove(&id) {
        Some(sent) => {
            if !delivered {
                report
                    .errors
                    .push(format!("message {id} did not end DELIVRD"));
            }
            let us = at.duration_since(sent).as_micros() as u64;
            let _ = report.receipt_latency.record(us);
            report
                .timeline
                .receipt(at.duration_since(t0).as_secs() as usize, us);
            report.matched += 1;
        }
        None => {
            s.seen.remove(&id);
            if s.early.insert(id, (at, delivered)).is_some() {
                report.duplicates += 1;
            }
        }
    }
}

/// Sends `n` messages over `connections` keep-alive connections and waits for their webhooks.
async fn drive(
    api: SocketAddr,
    key: &str,
    n: u64,
    connections: usize,
    hooks: &Receiver,
    receipt_wait: Duration,
) -> Report {
    hooks.lock().report = Some(Report::new(n));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let (next, shared, key) = (next.clone(), hooks.shared.clone(), key.to_string());
        let t0 = hooks.t0;
        tasks.push(tokio::spawn(async move {
            sender(api, &key, n, next, shared, t0).await
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    // the outcomes still on their way
    loop {
        let (done, last) = {
            let s = hooks.lock();
            let r = s.report.as_ref();
            (
                r.is_some_and(|r| r.matched >= r.accepted),
                s.last_hook.unwrap_or(start),
            )
        };
        if done || last.max(start).elapsed() > receipt_wait {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut s = hooks.lock();
    let last = s.last_hook.unwrap_or_else(Instant::now);
    let unmatched = s.early.len() as u64;
    let mut report = s.report.take().unwrap_or_else(|| Report::new(n));
    report.unmatched = unmatched;
    report.seconds = last.duration_since(start).as_secs_f64();
    report.errors.extend(errors);
    report
}

/// One connection's loop: take the next message number, POST it, note its id.
async fn sender(
    api: SocketAddr,
    key: &str,
    n: u64,
    next: Arc<std::sync::atomic::AtomicU64>,
    shared: Arc<Mutex<Shared>>,
    t0: Instant,
) -> Result<(), String> {
    let sock = TcpStream::connect(api)
        .await
        .map_err(|e| format!("connect {api}: {e}"))?;
    let _ = sock.set_nodelay(true);
    let mut conn = BufReader::new(sock);
    let auth = format!("Bearer {key}");
    loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if i >= n {
            return Ok(());
        }
        let body = format!(
            r#"{{"to": "+4917{:08}", "from": "LOAD", "text": "tern-load http {i}"}}"#,
            i % 100_000_000
        );
        let sent = Instant::now();
        write_request(conn.get_mut(), "POST", "/v1/messages", &auth, &body, api)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let (status, answer) = read_message(&mut conn)
            .await
            .map_err(|e| format!("answer: {e}"))?
            .ok_or("tern closed the connection")?;
        let at = Instant::now();
        let us = at.duration_since(sent).as_micros() as u64;
        let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(report) = s.report.as_mut() else {
            return Ok(());
        };
        if status != 202 {
            *report.refused.entry(u32::from(status)).or_default() += 1;
            continue;
        }
        report.accepted += 1;
        let _ = report.submit_latency.record(us);
        report
            .timeline
            .resp(at.duration_since(t0).as_secs() as usize, us);
        let id = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .unwrap_or_default();
        match s.early.remove(&id) {
            // its webhook beat the 202 here
            Some((hooked, delivered)) => {
                s.waiting.insert(id.clone(), sent);
                hook(&mut s, id, delivered, hooked, t0);
            }
            None => {
                s.waiting.insert(id, sent);
            }
        }
    }
}

async fn write_request(
    sock: &mut TcpStream,
    method: &str,
    path: &str,
    auth: &str,
    body: &str,
    host: SocketAddr,
) -> std::io::Result<()> {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await
}

/// Reads one HTTP/1.1 request or response: (status, or 0 for a request; body). `None` at
/// a clean end of the connection. Bodies by Content-Length only (tern sends no chunks).
async fn read_message(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<(u16, Vec<u8>)>> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let status = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok(Some((status, body)))
}

/// One request on a connection of its own (the admin API): (status, body).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> Result<(u16, Vec<u8>), String> {
    let sock = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let mut r = BufReader::new(sock);
    write_request(
        r.get_mut(),
        method,
        path,
        &format!("Bearer {token}"),
        body,
        addr,
    )
    .await
    .map_err(|e| e.to_string())?;
    read_message(&mut r)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{method} {path}: no answer"))
}
