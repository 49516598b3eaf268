//! The named scenarios of the benchmark, and the one place an e2e run is reported: table or
//! JSON on stdout, JSON and SVG in the output directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;

use crate::e2e::{self, E2e, Usage};
use crate::esme::Load;
use crate::load_line;
use crate::report::Report;

/// The scenarios loadtest/README.md describes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Name {
    /// As fast as 4 sessions × window 100 go: 200,000 messages.
    Steady,
    /// 10,000 msg/s offered for 10 s: latency at a fixed rate.
    FixedRate,
    /// 1,000,000 messages: throughput and RSS at 100k against 1M.
    Growth,
    /// 200 binds × window 10, 100,000 messages.
    Sessions,
    /// The steady load with durability "fsync", then "os".
    Durability,
    /// Receipts 3 s after submit, released in bursts every 500 ms (as batching carriers
    /// send them), unpaced, 300,000 messages: tens of thousands wait for their receipt.
    LateReceipts,
    /// Each receipt written right behind its submit_sm_resp, 1,000,000 messages: the
    /// receipt races the registration of its carrier id, all the way.
    InstantReceipts,
    /// Each receipt written before its submit_sm_resp, 200,000 messages.
    ReceiptsFirst,
    /// 300,000 messages to a healthy carrier alone, then beside four that hang, drop
    /// binds, answer garbage and throttle: the ratio of the two (goal 0.9).
    Chaos,
    /// The steady load (200,000 messages) while every 10th handset answers: MO at 10% of
    /// the traffic sent, beside the receipts, to the same binds.
    TwoWay,
}

/// One e2e run's results.
pub struct E2eRun {
    /// Straight against the simulator.
    pub direct: Report,
    /// Through tern.
    pub tern: Report,
    /// tern's CPU and memory.
    pub usage: Usage,
}

impl E2eRun {
    /// Both runs accepted and receipted every message.
    pub fn complete(&self) -> bool {
        self.direct.complete() && self.tern.complete()
    }

    fn ratio(&self) -> f64 {
        self.tern.throughput() / self.direct.throughput().max(1e-9)
    }

    fn json(&self, e: &E2e) -> serde_json::Value {
        serde_json::json!({
            "load": load_line(&e.load),
            "durability": e.durability,
            "dlr_delay_ms": e.dlr_delay_ms,
            "sim_args": e.sim_args,
            "direct": self.direct.json(),
            "tern": self.tern.json(),
            "ratio_tern_direct": self.ratio(),
            "tern_cpu_avg_percent": self.usage.cpu_avg,
            "tern_rss_max_mib": self.usage.rss_max_mib,
        })
    }
}

/// Runs `e`, prints it (table, or JSON when `json`), and writes `<name>.json` and
/// `<name>.svg` into `out` when given.
pub async fn run_e2e(
    name: &str,
    e: &E2e,
    json: bool,
    out: Option<&Path>,
) -> Result<E2eRun, String> {
    let (direct, tern, usage) = e2e::run(e).await?;
    let run = E2eRun {
        direct,
        tern,
        usage,
    };
    if json {
        println!("{}", run.json(e));
    } else {
        println!(
            "{} (durability {}, receipt delay {} ms{}{})",
            load_line(&e.load),
            e.durability,
            e.dlr_delay_ms,
            if e.sim_args.is_empty() { "" } else { ", sim " },
            e.sim_args.join(" ")
        );
        run.direct.print("direct hop: ESME -> simulator");
        run.tern.print("through tern: ESME -> tern -> simulator");
        println!(
            "== tern/direct throughput ratio {:.2}; tern CPU avg {:.0}% of a core, RSS max {:.0} MiB",
            run.ratio(),
            run.usage.cpu_avg,
            run.usage.rss_max_mib
        );
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        let write = |file: String, body: String| {
            let p = dir.join(file);
            std::fs::write(&p, body).map_err(|err| format!("{}: {err}", p.display()))
        };
        write(format!("{name}.json"), format!("{:#}\n", run.json(e)))?;
        let title = format!(
            "{name}: {} through tern, durability {}",
            load_line(&e.load),
            e.durability
        );
        write(
            format!("{name}.svg"),
            crate::plot::svg(&title, &run.tern, &run.usage.samples),
        )?;
        if !json {
            println!("   wrote {}/{name}.json and {name}.svg", dir.display());
        }
    }
    Ok(run)
}

fn load(sessions: usize, window: usize, messages: u64, rate: u64) -> Load {
    Load {
        addr: String::new(),
        system_id: String::new(),
        password: String::new(),
        sessions,
        window,
        messages,
        rate,
        receipt_wait: Duration::from_secs(30),
        bind: crate::esme::BindMode::Trx,
        duration: None,
        receipts: true,
        dest_prefixes: vec!["4917".into()],
    }
}

fn e2e(tern_bin: &Path, load: Load, durability: &str) -> E2e {
    E2e {
        tern_bin: tern_bin.to_path_buf(),
        load,
        durability: durability.into(),
        workers: None,
        dlr_delay_ms: 10,
        sim_args: Vec::new(),
    }
}

/// How late the late-receipts scenario's receipts come.
const LATE_RECEIPT_MS: u64 = 3_000;

/// Runs scenario `name`; true when every run was complete (and, for growth, linear).
pub async fn run(name: Name, tern_bin: PathBuf, out: &Path) -> Result<bool, String> {
    let out = Some(out);
    match name {
        Name::Steady => {
            let e = e2e(&tern_bin, load(4, 100, 200_000, 0), "fsync");
            Ok(run_e2e("steady", &e, false, out).await?.complete())
        }
        Name::FixedRate => {
            let e = e2e(&tern_bin, load(4, 100, 100_000, 10_000), "fsync");
            Ok(run_e2e("fixed-rate", &e, false, out).await?.complete())
        }
        Name::Sessions => {
            let e = e2e(&tern_bin, load(200, 10, 100_000, 0), "fsync");
            Ok(run_e2e("sessions", &e, false, out).await?.complete())
        }
        Name::Durability => {
            let mut ok = true;
            for d in ["fsync", "os"] {
                let e = e2e(&tern_bin, load(4, 100, 100_000, 0), d);
                ok &= run_e2e(&format!("durability-{d}"), &e, false, out)
                    .await?
                    .complete();
            }
            Ok(ok)
        }
        Name::TwoWay => {
            let e = E2e {
                sim_args: vec!["--mo-every".into(), "10".into()],
                ..e2e(&tern_bin, load(4, 100, 200_000, 0), "fsync")
            };
            let run = run_e2e("two-way", &e, false, out).await?;
            // every answer reached the account, through tern as straight from the carrier
            let all_mo = run.tern.mo == run.tern.accepted / 10;
            if !all_mo {
                println!(
                    "   MO: {} of the {} the handsets sent reached the ESME",
                    run.tern.mo,
                    run.tern.accepted / 10
                );
            }
            Ok(run.complete() && all_mo)
        }
        Name::LateReceipts => {
            let e = E2e {
                dlr_delay_ms: LATE_RECEIPT_MS,
                sim_args: vec!["--dlr-burst-ms".into(), "500".into()],
                ..e2e(&tern_bin, load(4, 100, 300_000, 0), "fsync")
            };
            judged("late-receipts", &e, out).await
        }
        Name::InstantReceipts => {
            let e = E2e {
                dlr_delay_ms: 0,
                ..e2e(&tern_bin, load(4, 100, 1_000_000, 0), "fsync")
            };
            judged("instant-receipts", &e, out).await
        }
        Name::ReceiptsFirst => {
            let e = E2e {
                sim_args: vec!["--dlr-before-resp".into()],
                ..e2e(&tern_bin, load(4, 100, 200_000, 0), "fsync")
            };
            judged("receipts-first", &e, out).await
        }
        Name::Chaos => crate::chaos::run(&tern_bin, load(4, 100, 300_000, 0), out).await,
        Name::Growth => {
            let e = e2e(&tern_bin, load(4, 100, 1_000_000, 0), "fsync");
            judged("growth", &e, out).await
        }
    }
}

/// Runs `e` and judges whether its throughput held from the first 100k to the last:
/// complete and (for runs of 300k or more) within [`MAX_SLOWDOWN`].
async fn judged(name: &str, e: &E2e, out: Option<&Path>) -> Result<bool, String> {
    let run = run_e2e(name, e, false, out).await?;
    let g = growth(&run);
    if run.tern.matched < 300_000 {
        return Ok(run.complete());
    }
    println!("{}", g.line());
    if let Some(dir) = out {
        let p = dir.join(format!("{name}-verdict.json"));
        std::fs::write(&p, format!("{:#}\n", g.json()))
            .map_err(|err| format!("{}: {err}", p.display()))?;
    }
    Ok(run.complete() && g.linear())
}

/// Throughput and memory early and late in a long run.
struct Growth {
    rate_first_100k: Option<f64>,
    rate_last_100k: Option<f64>,
    rss_at_100k: Option<f64>,
    rss_at_end: Option<f64>,
}

/// Throughput late in the run may fall at most this far below the early figure.
const MAX_SLOWDOWN: f64 = 0.15;

fn growth(run: &E2eRun) -> Growth {
    let t = &run.tern.timeline;
    let n = run.tern.matched;
    let rss_at = |sec: Option<usize>| {
        let sec = sec? as f64;
        run.usage
            .samples
            .iter()
            .min_by(|a, b| (a.0 - sec).abs().total_cmp(&(b.0 - sec).abs()))
            .map(|s| s.2)
    };
    // 100k receipts around the 100k mark and around the end, leaving out the last 50k
    // (the drain, when fewer than a window's worth are still outstanding)
    Growth {
        rate_first_100k: t.rate_between(50_000, 150_000),
        rate_last_100k: (n >= 300_000)
            .then(|| t.rate_between(n - 150_000, n - 50_000))
            .flatten(),
        rss_at_100k: rss_at(t.second_of_receipt(100_000)),
        rss_at_end: run.usage.samples.last().map(|s| s.2),
    }
}

impl Growth {
    fn linear(&self) -> bool {
        match (self.rate_first_100k, self.rate_last_100k) {
            (Some(a), Some(b)) => b >= a * (1.0 - MAX_SLOWDOWN),
            _ => false,
        }
    }

    fn line(&self) -> String {
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
        format!(
            "== slope: {} msg/s around 100k (receipts 50k..150k), {} around the end (the 100k before the last 50k) ({}); RSS {} MiB at 100k, {} MiB at the end",
            f(self.rate_first_100k),
            f(self.rate_last_100k),
            if self.linear() {
                "within 15%"
            } else {
                "NOT within 15%"
            },
            f(self.rss_at_100k),
            f(self.rss_at_end),
        )
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "rate_first_100k_msg_s": self.rate_first_100k,
            "rate_last_100k_msg_s": self.rate_last_100k,
            "rss_at_100k_mib": self.rss_at_100k,
            "rss_at_end_mib": self.rss_at_end,
            "within_15_percent": self.linear(),
        })
    }
}
