//! `tern-load`: the benchmark for tern.
//!
//! `tern-load esme` offers ESME load to a running SMPP server; `tern-load e2e` starts the
//! simulator and tern itself, measures the direct hop and the hop through tern, and reports
//! both with their ratio. See loadtest/README.md.

mod chaos;
mod e2e;
mod esme;
mod http;
mod plot;
mod report;
mod scenario;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::esme::{BindMode, Load};

#[derive(Parser)]
#[command(name = "tern-load", about = "Load generator and benchmark for tern")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct LoadArgs {
    /// Sessions (transceiver binds).
    #[arg(long, short = 's', default_value_t = 4)]
    sessions: usize,
    /// Outstanding submit_sm per session.
    #[arg(long, short = 'w', default_value_t = 100)]
    window: usize,
    /// Messages in all.
    #[arg(long, short = 'n', default_value_t = 100_000)]
    messages: u64,
    /// Submit at most this many messages per second in all (0: as fast as the window allows).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seconds to wait for outstanding receipts once no PDU arrives.
    #[arg(long, default_value_t = 30)]
    receipt_wait_s: u64,
    /// Send for this many seconds instead of --messages (0: send --messages).
    #[arg(long, default_value_t = 0)]
    duration_s: u64,
    /// Transceiver sessions, or transmitters each with a separate receiver.
    #[arg(long, value_enum, default_value = "trx")]
    bind: BindMode,
    /// Ask for no receipts (registered_delivery=0): measures the submit path alone.
    #[arg(long)]
    no_receipts: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Drive ESME load against a running SMPP server.
    Esme {
        /// SMPP address.
        #[arg(long, default_value = "127.0.0.1:2775")]
        addr: String,
        /// system_id.
        #[arg(long, default_value = "demo")]
        system_id: String,
        /// Password.
        #[arg(long, default_value = "demopass")]
        password: String,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Start the simulator and tern, measure the direct hop and the hop through tern.
    E2e {
        /// The tern binary; default: `tern` next to this program.
        #[arg(long)]
        tern_bin: Option<PathBuf>,
        /// Store durability for the run: fsync or os.
        #[arg(long, default_value = "fsync")]
        durability: String,
        /// The simulator's receipt delay.
        #[arg(long, default_value_t = 10)]
        dlr_delay_ms: u64,
        /// tern's actor threads (`node.workers`); default: tern's own (cores - 1).
        #[arg(long)]
        workers: Option<usize>,
        /// A further `tern sim` flag, e.g. `--sim-arg=--dlr-before-resp` (repeatable).
        #[arg(long = "sim-arg", allow_hyphen_values = true)]
        sim_args: Vec<String>,
        /// Write the JSON report and the SVG plot here.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// The customer API end to end (POST → 202 → webhook) beside SMPP through the same tern.
    Http {
        /// The tern binary; default: `tern` next to this program.
        #[arg(long)]
        tern_bin: Option<PathBuf>,
        /// Messages per run.
        #[arg(long, short = 'n', default_value_t = 50_000)]
        messages: u64,
        /// HTTP connections, one request in flight on each.
        #[arg(long, short = 'c', default_value_t = 64)]
        connections: usize,
        /// SMPP sessions of the reference run.
        #[arg(long, short = 's', default_value_t = 4)]
        sessions: usize,
        /// Their window.
        #[arg(long, short = 'w', default_value_t = 100)]
        window: usize,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a named scenario (see loadtest/README.md) end to end; JSON and SVG go to --out.
    Scenario {
        /// Which one.
        #[arg(value_enum)]
        name: scenario::Name,
        /// The tern binary; default: `tern` next to this program.
        #[arg(long)]
        tern_bin: Option<PathBuf>,
        /// Where the JSON reports and SVG plots go.
        #[arg(long, default_value = "loadtest/out")]
        out: PathBuf,
    },
}

pub(crate) fn load(addr: String, system_id: String, password: String, a: &LoadArgs) -> Load {
    Load {
        addr,
        system_id,
        password,
        sessions: a.sessions,
        window: a.window,
        // a duration run stops by time alone
        messages: if a.duration_s > 0 {
            u64::MAX
        } else {
            a.messages
        },
        rate: a.rate,
        receipt_wait: Duration::from_secs(a.receipt_wait_s),
        bind: a.bind,
        duration: (a.duration_s > 0).then(|| Duration::from_secs(a.duration_s)),
        receipts: !a.no_receipts,
        dest_prefixes: vec!["4917".into()],
    }
}

pub(crate) fn load_line(l: &Load) -> String {
    l.line()
}

// the same allocator as the switch: the load generator shares its cores
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Esme {
            addr,
            system_id,
            password,
            load: a,
        } => {
            let l = load(addr, system_id, password, &a);
            let r = esme::run(&l).await;
            if a.json {
                println!("{}", r.json());
            } else {
                r.print(&load_line(&l));
            }
            if r.complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Cmd::E2e {
            tern_bin,
            durability,
            dlr_delay_ms,
            workers,
            sim_args,
            out,
            load: a,
        } => {
            let l = load(String::new(), String::new(), String::new(), &a);
            let e = e2e::E2e {
                tern_bin: tern_bin_or_default(tern_bin),
                load: l,
                durability,
                workers,
                dlr_delay_ms,
                sim_args,
            };
            match scenario::run_e2e("e2e", &e, a.json, out.as_deref()).await {
                Ok(run) if run.complete() => ExitCode::SUCCESS,
                Ok(_) => ExitCode::from(1),
                Err(err) => {
                    eprintln!("tern-load e2e: {err}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Http {
            tern_bin,
            messages,
            connections,
            sessions,
            window,
            json,
        } => {
            let smpp = Load {
                sessions,
                window,
                messages,
                ..load(String::new(), String::new(), String::new(), &default_load())
            };
            let h = http::HttpLoad {
                tern_bin: tern_bin_or_default(tern_bin),
                messages,
                connections,
                smpp,
            };
            match http::run(&h).await {
                Ok(run) => {
                    if json {
                        println!("{}", run.json());
                    } else {
                        run.print(&format!(
                            "{messages} messages; SMPP {sessions} sessions × window {window}; HTTP {connections} connections"
                        ));
                    }
                    if run.complete() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(err) => {
                    eprintln!("tern-load http: {err}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Scenario {
            name,
            tern_bin,
            out,
        } => match scenario::run(name, tern_bin_or_default(tern_bin), &out).await {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(err) => {
                eprintln!("tern-load scenario: {err}");
                ExitCode::from(2)
            }
        },
    }
}

/// The load options' defaults.
fn default_load() -> LoadArgs {
    LoadArgs {
        sessions: 4,
        window: 100,
        messages: 100_000,
        rate: 0,
        receipt_wait_s: 30,
        duration_s: 0,
        bind: BindMode::Trx,
        no_receipts: false,
        json: false,
    }
}

/// `tern` next to this program unless told otherwise.
fn tern_bin_or_default(b: Option<PathBuf>) -> PathBuf {
    b.or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("tern")))
    })
    .unwrap_or_else(|| PathBuf::from("tern"))
}
