//! `tern-load e2e`: one command that needs nothing running. It starts the carrier
//! simulator, measures the direct hop (the same load straight against the simulator),
//! starts `tern run` on a fresh temp data dir with a generated config, drives the load
//! through it while sampling tern's CPU and RSS, stops everything and reports both runs and
//! their ratio, so figures from a noisy machine still compare.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::esme::{self, Load};
use crate::report::Report;

/// What to run.
#[derive(Debug, Clone)]
pub struct E2e {
    /// The `tern` binary (release build).
    pub tern_bin: PathBuf,
    /// The load; its address is filled in per run.
    pub load: Load,
    /// `fsync` or `os`.
    pub durability: String,
    /// tern's `node.workers`; None: its default (cores - 1).
    pub workers: Option<usize>,
    /// The simulator's receipt delay.
    pub dlr_delay_ms: u64,
    /// Further `tern sim` flags (receipt timing, faults).
    pub sim_args: Vec<String>,
}

/// tern's resource use during the run.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Average CPU over the run, percent of one core.
    pub cpu_avg: f64,
    /// CPU time used over the run, seconds (user + system).
    pub cpu_s: f64,
    /// Highest RSS seen, MiB.
    pub rss_max_mib: f64,
    /// Samples: seconds since the load started, CPU % of one core since the last sample,
    /// RSS MiB.
    pub samples: Vec<(f64, f64, f64)>,
}

/// A child process killed when dropped.
pub(crate) struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_addr() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))
}

async fn wait_listening(addr: SocketAddr, child: &mut Child, what: &str) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("{what} exited before listening: {st}"));
        }
        if t0.elapsed() > Duration::from_secs(30) {
            return Err(format!("{what} not listening on {addr} after 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// CPU ticks (user + system) and RSS in KiB of a process, from /proc.
fn sample(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    Some((ticks, rss))
}

/// One carrier of a generated config: its id, its simulator, extra TOML keys.
pub(crate) struct CarrierSpec<'a> {
    pub id: &'a str,
    pub sim: SocketAddr,
    pub tps: u32,
    pub extra: &'a str,
}

/// tern's config for a load run: the account `load`, the carriers, and `routes` (TOML).
pub(crate) fn config(
    dir: &Path,
    smpp: SocketAddr,
    http: SocketAddr,
    node: &str,
    carriers: &[CarrierSpec],
    routes: &str,
) -> String {
    let mut out = format!(
        r#"[node]
data_dir = "{data}"
{node}

[smpp]
listen = "{smpp}"
max_pending_submits = 100000
# receipts outstanding per ESME bind: the default 64 caps a few binds at the receipt rate
# one round trip allows, well below what tern can send
window = 1000

[http]
listen = "{http}"
admin_token = "load"

[[accounts]]
system_id = "load"
password = "load"
tps = 10000000
max_binds = 1000
balance = "1000000000"
price = "0.0001"

# what handsets answer (the simulator's --mo-every) goes to `load`
[[mo_routes]]
prefix = ""
account = "load"

# a second account: its receipts never reach the binds of `load`
[[accounts]]
system_id = "side"
password = "side"
tps = 10000000
max_binds = 1000
balance = "1000000000"
price = "0.0001"
"#,
        data = dir.join("data").display(),
    );
    for c in carriers {
        out += &format!(
            r#"
[[carriers]]
id = "{id}"
host = "{host}"
port = {port}
system_id = "tern"
password = "tern"
binds = 2
tps = {tps}
window = 1000
{extra}
"#,
            id = c.id,
            tps = c.tps,
            host = c.sim.ip(),
            port = c.sim.port(),
            extra = c.extra,
        );
    }
    out + "\n" + routes
}

/// Starts `tern sim` with `args` on a free port; its log goes to `<dir>/<name>.log`.
pub(crate) async fn start_sim(
    tern_bin: &Path,
    args: &[String],
    dir: &Path,
    name: &str,
) -> Result<(Proc, SocketAddr), String> {
    let addr = free_addr()?;
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    let mut sim = Proc(
        Command::new(tern_bin)
            .args(["sim", "--listen", &addr.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|err| format!("{}: {err}", tern_bin.display()))?,
    );
    wait_listening(addr, &mut sim.0, "simulator").await?;
    Ok((sim, addr))
}

/// The `[node]` keys of a load run's config beyond data_dir.
pub(crate) fn node_keys(durability: &str, workers: Option<usize>) -> String {
    match workers {
        Some(w) => format!("durability = \"{durability}\"\nworkers = {w}"),
        None => format!("durability = \"{durability}\""),
    }
}

/// A running tern and its SMPP address.
pub(crate) struct Tern {
    proc: Proc,
    pub smpp: SocketAddr,
    /// The admin API (token `load`).
    pub http: SocketAddr,
}

impl Tern {
    /// Starts `tern run` on the config `config(..)` makes for these carriers and routes;
    /// `node` holds `[node]` keys beyond data_dir (see [`node_keys`]).
    pub(crate) async fn start(
        tern_bin: &Path,
        dir: &Path,
        node: &str,
        carriers: &[CarrierSpec<'_>],
        routes: &str,
    ) -> Result<Tern, String> {
        let (smpp, http) = (free_addr()?, free_addr()?);
        let cfg = dir.join("tern.toml");
        let text = config(dir, smpp, http, node, carriers, routes);
        std::fs::write(&cfg, text).map_err(|err| err.to_string())?;
        let log = std::fs::File::create(dir.join("tern.log")).map_err(|e| e.to_string())?;
        let mut proc = Proc(
            Command::new(tern_bin)
                .args(["run", "--config"])
                .arg(&cfg)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|err| format!("{}: {err}", tern_bin.display()))?,
        );
        wait_listening(smpp, &mut proc.0, "tern").await?;
        wait_listening(http, &mut proc.0, "tern").await?;
        Ok(Tern { proc, smpp, http })
    }

    /// The load `l` aimed at this tern as account `load`.
    pub(crate) fn load(&self, l: &Load) -> Load {
        self.load_as(l, "load")
    }

    /// The load `l` aimed at this tern as `account` (`load` or `side`; password = name).
    pub(crate) fn load_as(&self, l: &Load, account: &str) -> Load {
        Load {
            addr: self.smpp.to_string(),
            system_id: account.into(),
            password: account.into(),
            ..l.clone()
        }
    }

    /// Samples tern's CPU and RSS until the returned flag is set.
    pub(crate) fn sample(&self) -> Sampler {
        Sampler::start(self.proc.0.id())
    }

    /// SIGTERM, and an error unless it stops cleanly within 20 s.
    pub(crate) async fn stop(mut self) -> Result<(), String> {
        let pid = self.proc.0.id();
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let t0 = Instant::now();
        loop {
            match self.proc.0.try_wait() {
                Ok(Some(st)) if st.success() => return Ok(()),
                Ok(Some(st)) => return Err(format!("tern exited with {st} on SIGTERM")),
                _ if t0.elapsed() > Duration::from_secs(20) => {
                    return Err("tern did not stop within 20 s".into());
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// Samples a process's CPU and RSS every 250 ms until [`Sampler::finish`].
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Usage>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let task = tokio::spawn(async move {
            let t0 = Instant::now();
            let first = sample(pid);
            let mut rss_max = first.map(|s| s.1).unwrap_or(0);
            let mut last = first;
            let mut prev = (0.0, first);
            let mut samples = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let Some(s) = sample(pid) else { continue };
                rss_max = rss_max.max(s.1);
                last = Some(s);
                let now = t0.elapsed().as_secs_f64();
                if let (_, Some(p)) = prev
                    && now - prev.0 >= 0.99
                {
                    // Linux reports CPU time in clock ticks of 1/100 s
                    let cpu = (s.0 - p.0) as f64 / (now - prev.0);
                    samples.push((now, cpu, s.1 as f64 / 1024.0));
                    prev = (now, Some(s));
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            let cpu_s = match (first, last) {
                (Some(a), Some(b)) => (b.0 - a.0) as f64 / 100.0,
                _ => 0.0,
            };
            Usage {
                cpu_avg: if secs > 0.0 {
                    cpu_s / secs * 100.0
                } else {
                    0.0
                },
                cpu_s,
                rss_max_mib: rss_max as f64 / 1024.0,
                samples,
            }
        });
        Sampler { stop, task }
    }

    /// Stops sampling; what was seen.
    pub(crate) async fn finish(self) -> Result<Usage, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.map_err(|err| err.to_string())
    }
}

/// A fresh temp dir for one run, removed after `f`.
pub(crate) async fn in_temp_dir<T>(
    tag: &str,
    f: impl AsyncFnOnce(&Path) -> Result<T, String>,
) -> Result<T, String> {
    let dir = std::env::temp_dir().join(format!("tern-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let result = f(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Runs the direct hop and the run through tern; returns (direct, tern, tern's usage).
pub async fn run(e: &E2e) -> Result<(Report, Report, Usage), String> {
    in_temp_dir("e2e", async |dir| run_in(e, dir).await).await
}

async fn run_in(e: &E2e, dir: &Path) -> Result<(Report, Report, Usage), String> {
    let mut args = vec!["--dlr-delay-ms".to_string(), e.dlr_delay_ms.to_string()];
    args.extend(e.sim_args.iter().cloned());
    let (_sim, sim_addr) = start_sim(&e.tern_bin, &args, dir, "sim").await?;

    let direct_load = Load {
        addr: sim_addr.to_string(),
        system_id: "direct".into(),
        ..e.load.clone()
    };
    let direct = esme::run(&direct_load).await;

    let sim = [CarrierSpec {
        id: "sim",
        sim: sim_addr,
        tps: 10_000_000,
        extra: "",
    }];
    let routes = "[[routes]]\nprefix = \"\"\ncarriers = [\"sim\"]\n";
    let node = node_keys(&e.durability, e.workers);
    let tern = Tern::start(&e.tern_bin, dir, &node, &sim, routes).await?;
    let sampler = tern.sample();
    let through = esme::run(&tern.load(&e.load)).await;
    let usage = sampler.finish().await?;
    // graceful stop, so a slow shutdown shows up as an error here
    tern.stop().await?;
    Ok((direct, through, usage))
}
