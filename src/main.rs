//! The `tern` command: run the switch, check a config file, or run the carrier simulator.

// Outside tests nothing may panic on what the network sends: a fallible call is an error
// path, never unwrap() or expect().
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use tern::config::{Config, ConfigError};
use tern::sim::{self, SimConfig};

/// glibc malloc was ~40% of tern's CPU under load (sled copies leaf nodes on every write,
/// and every PDU allocates); mimalloc's per-thread free lists cut that (loadtest/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tern",
    version,
    about = "An SMS switch: SMPP in, rated, stored, routed, SMPP out, receipts back"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the switch. SIGINT/SIGTERM drain gracefully and exit 0; SIGHUP applies the
    /// config file's accounts and routes.
    Run {
        /// Config file.
        #[arg(long, default_value = "config/tern.toml")]
        config: PathBuf,
        /// Log lines as text, or one JSON object per line (for log shippers).
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Validate a config file; print every problem as file:line and exit 1 if there is one.
    CheckConfig {
        /// Config file.
        #[arg(long, default_value = "config/tern.toml")]
        config: PathBuf,
    },
    /// Run the carrier simulator alone.
    Sim {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:2776")]
        listen: String,
        #[command(flatten)]
        sim: SimConfig,
    },
}

/// How log lines are written.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rusmpp=warn"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    match format {
        // colours only on a terminal
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => fmt.json().flatten_event(true).init(),
    }
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::CheckConfig { config } => match Config::load(&config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(e @ ConfigError::Invalid { .. }) | Err(e @ ConfigError::Read { .. }) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Cmd::Run { config, log_format } => {
            init_tracing(log_format);
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            tracing::info!(config = %config.display(), "config loaded");
            let result = actix_rt::System::new().block_on(tern::node::run(cfg, config.clone()));
            match result {
                Ok(()) => {
                    tracing::info!("stopped");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("tern: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Sim { listen, sim: cfg } => {
            init_tracing(LogFormat::Text);
            // one thread (an actix system: its control endpoint is actix-web): a simulated
            // carrier is light, and on a small box the switch it serves needs the cores more
            // than a work-stealing pool would
            let rt = actix_rt::System::new();
            rt.block_on(async move {
                let l = match tokio::net::TcpListener::bind(&listen).await {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("tern sim: {listen}: {e}");
                        return ExitCode::from(1);
                    }
                };
                tracing::info!(%listen, "carrier simulator listening");
                tokio::select! {
                    _ = sim::serve(l, cfg) => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
                ExitCode::SUCCESS
            })
        }
    }
}
