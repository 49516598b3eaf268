//! The config file (`config/tern.toml`): its types, defaults, and validation with file:line.
//!
//! Field names here are an outside contract (DESIGN.md "Config file"): the admin API uses the
//! same names. Semantic problems are reported with the line of the table they were found in,
//! so `tern check-config` can point an operator straight at them.

use crate::secret::Secret;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::domain::route::{Route, RouteTable};

/// Where the on-disk store lives and how hard it tries to keep an ack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// sled database directory (relative paths are relative to the working directory).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// When a submit is acknowledged: after fsync, or after the OS has the write.
    #[serde(default)]
    pub durability: Durability,
    /// How long a receipt waits for the ESME to bind a receiver before it is dropped.
    #[serde(default = "default_receipt_ttl")]
    pub receipt_ttl_s: u64,
    /// How long a message may stay unfinished (retried, or awaiting its carrier's receipt)
    /// before it ends EXPIRED.
    #[serde(default = "default_message_ttl")]
    pub message_ttl_s: u64,
    /// sled's page cache, MiB (the largest part of tern's memory).
    #[serde(default = "default_store_cache_mb")]
    pub store_cache_mb: u64,
    /// Threads running the actors (sessions, ledger, router, correlator, carriers). Unset:
    /// one fewer than the machine's cores, at least one, since the store's writer,
    /// checkpoints and fsyncs need a core of their own.
    #[serde(default)]
    pub workers: Option<usize>,
}

impl NodeConfig {
    /// The number of actor threads to run (see [`NodeConfig::workers`]).
    pub fn worker_threads(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .saturating_sub(1)
                .max(1)
        })
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_receipt_ttl() -> u64 {
    72 * 3600
}
fn default_message_ttl() -> u64 {
    24 * 3600
}
fn default_store_cache_mb() -> u64 {
    16
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: default_data_dir(),
            durability: Durability::default(),
            receipt_ttl_s: default_receipt_ttl(),
            message_ttl_s: default_message_ttl(),
            store_cache_mb: default_store_cache_mb(),
            workers: None,
        }
    }
}

/// When a write counts as durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// fsync before the ack (default): nothing acknowledged is lost on power loss.
    #[default]
    Fsync,
    /// Ack once the write is applied in the store; sled writes and syncs it in the
    /// background (about once a second), so a crash can lose the last second of acks.
    Os,
}

/// The SMPP server side, where ESMEs bind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppConfig {
    /// Plain TCP listen address.
    #[serde(default = "default_smpp_listen")]
    pub listen: String,
    /// No PDU from an ESME for this long: unbind.
    #[serde(default = "default_inactivity")]
    pub inactivity_timeout_s: u64,
    /// Outstanding deliver_sm per ESME bind.
    #[serde(default = "default_esme_window")]
    pub window: usize,
    /// submit_sm being stored per bind at once; more → ESME_RMSGQFUL.
    #[serde(default = "default_max_pending")]
    pub max_pending_submits: usize,
    /// A connection not bound within this long is closed.
    #[serde(default = "default_bind_timeout")]
    pub bind_timeout_s: u64,
    /// Open SMPP connections in all; one more is accepted and closed at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Failed binds from one IP within `lockout_s` that lock it out (0: never).
    #[serde(default = "default_bind_failures")]
    pub bind_failures_before_lockout: u32,
    /// How long a locked-out IP's binds are refused (ESME_RBINDFAIL), and the window its
    /// failures are counted in.
    #[serde(default = "default_lockout")]
    pub lockout_s: u64,
    /// SMPP over TLS listen address (TLS 1.2+); needs `tls_cert` and `tls_key`.
    pub tls_listen: Option<String>,
    /// PEM certificate chain for `tls_listen`, leaf first (relative: from the config
    /// file's folder).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_listen`.
    pub tls_key: Option<PathBuf>,
}

fn default_smpp_listen() -> String {
    "0.0.0.0:2775".into()
}
fn default_inactivity() -> u64 {
    120
}
fn default_esme_window() -> usize {
    64
}
fn default_max_pending() -> usize {
    2048
}
fn default_bind_timeout() -> u64 {
    10
}
fn default_max_connections() -> usize {
    5000
}
fn default_bind_failures() -> u32 {
    5
}
fn default_lockout() -> u64 {
    300
}

impl Default for SmppConfig {
    fn default() -> Self {
        SmppConfig {
            listen: default_smpp_listen(),
            inactivity_timeout_s: default_inactivity(),
            window: default_esme_window(),
            max_pending_submits: default_max_pending(),
            bind_timeout_s: default_bind_timeout(),
            max_connections: default_max_connections(),
            bind_failures_before_lockout: default_bind_failures(),
            lockout_s: default_lockout(),
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// The admin API and metrics endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address.
    #[serde(default = "default_http_listen")]
    pub listen: String,
    /// Bearer token for `/api/v1`; `TERN_ADMIN_TOKEN` overrides it.
    #[serde(default = "default_token")]
    pub admin_token: Secret,
    /// HTTPS: the PEM certificate chain (with `tls_key`; relative: from the config folder).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// HTTPS: the PEM key for `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

/// `[api]`: the customer HTTP API (producers send messages over HTTP). Absent: off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address.
    pub listen: String,
    /// HTTPS: the PEM certificate chain (with `tls_key`; relative: from the config folder).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// HTTPS: the PEM key for `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

fn default_http_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_token() -> Secret {
    SHIPPED_ADMIN_TOKEN.into()
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_http_listen(),
            admin_token: default_token(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// An in-process carrier simulator, for trying tern without a real carrier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Listen address.
    pub listen: String,
    /// Delay before the receipt.
    #[serde(default = "default_dlr_delay")]
    pub dlr_delay_ms: u64,
    /// Where its control endpoint listens (`GET /stats`, `POST /mo` to send an MO).
    #[serde(default)]
    pub control: Option<String>,
}

fn default_dlr_delay() -> u64 {
    100
}

/// A customer account (an ESME's system_id).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// SMPP system_id.
    pub system_id: String,
    /// SMPP password (SMPP 3.4: at most 8 characters); hashed with argon2 at start.
    pub password: Secret,
    /// submit_sm per second across all its binds.
    #[serde(default = "default_account_tps")]
    pub tps: u32,
    /// Binds at once.
    #[serde(default = "default_max_binds")]
    pub max_binds: u32,
    /// Opening balance, used the first time the account is seen (the store keeps it after).
    #[serde(default = "default_balance")]
    pub balance: String,
    /// Price per message part.
    #[serde(default = "default_price")]
    pub price: String,
    /// Sender ids it may use; empty: any.
    #[serde(default)]
    pub allowed_sources: Vec<String>,
    /// Peer addresses (CIDRs or single IPs) it may bind from; empty: any.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Refund messages a carrier refuses for good (REJECTD); default: they stay charged.
    #[serde(default)]
    pub refund_rejected: bool,
    /// Where the account's webhooks go when a message names no `callback_url`; empty: none.
    #[serde(default)]
    pub webhook_url: String,
    /// MO texts that put a handset on its suppression list; empty: STOP, STOPALL,
    /// UNSUBSCRIBE, CANCEL, END, QUIT.
    #[serde(default)]
    pub opt_out_keywords: Vec<String>,
    /// MO texts that take it off again; empty: START, UNSTOP, YES.
    #[serde(default)]
    pub opt_in_keywords: Vec<String>,
}

/// How a carrier joins the parts of a long message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Concatenation {
    /// Parts go as the ESME sent them (UDH, SAR TLVs or message_payload).
    #[default]
    AsSent,
    /// The carrier reads UDH only: SAR TLVs become a UDH.
    Udh,
}

/// The admin token config/tern.toml ships with: accepted on loopback only.
pub const SHIPPED_ADMIN_TOKEN: &str = "change-me";

/// An account's `tps` when none is given.
pub const DEFAULT_ACCOUNT_TPS: u32 = 100;
/// An account's `max_binds` when none is given.
pub const DEFAULT_MAX_BINDS: u32 = 4;

fn default_account_tps() -> u32 {
    DEFAULT_ACCOUNT_TPS
}
fn default_max_binds() -> u32 {
    DEFAULT_MAX_BINDS
}
fn default_balance() -> String {
    "0".into()
}
fn default_price() -> String {
    "0".into()
}

/// An upstream carrier (an SMSC tern binds to). The store keeps it as it is written here
/// (its password too: tern binds with it); the admin API never shows the password.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierConfig {
    /// Carrier id used in routes and metrics.
    pub id: String,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// system_id tern binds with.
    pub system_id: String,
    /// Password tern binds with.
    pub password: Secret,
    /// Parallel TRX binds.
    #[serde(default = "default_carrier_binds")]
    pub binds: u32,
    /// submit_sm per second across its binds.
    #[serde(default = "default_carrier_tps")]
    pub tps: u32,
    /// Outstanding submit_sm per bind.
    #[serde(default = "default_window")]
    pub window: usize,
    /// SMPP over TLS to the carrier (TLS 1.2+), its certificate checked against the
    /// system's roots or `tls_ca_file`, and `host` against its names.
    #[serde(default)]
    pub tls: bool,
    /// PEM file of the CAs the carrier's certificate must chain to, instead of the
    /// system's roots (an absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// The carrier's receipts carry its hex submit ids rendered in decimal.
    #[serde(default)]
    pub decimal_receipt_ids: bool,
    /// How the carrier joins the parts of a long message: as the ESME sent them, or by UDH
    /// only (parts an ESME sent with SAR TLVs get a UDH instead).
    #[serde(default)]
    pub concatenation: Concatenation,
    /// Seconds to wait for submit_sm_resp before the submit is retried.
    #[serde(default = "default_response_timeout")]
    pub response_timeout_s: u64,
    /// Seconds between enquire_link.
    #[serde(default = "default_enquire_link")]
    pub enquire_link_s: u64,
    /// Consecutive failures (temporary errors, timeouts, lost binds) that open the breaker.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// Seconds the breaker first stays open; doubled on each failed probe, at most 300.
    #[serde(default = "default_breaker_cooldown")]
    pub breaker_cooldown_s: u64,
}

impl CarrierConfig {
    /// Every problem, as (field, what is wrong): the same checks for the config file and
    /// the admin API.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let id = &self.id;
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            out.push((
                "id",
                format!("{id:?} must be 1-64 letters, digits, '-' or '_'"),
            ));
        }
        if self.host.is_empty() {
            out.push(("host", "must not be empty".into()));
        }
        if self.port == 0 {
            out.push(("port", "must be 1 to 65535".into()));
        }
        if self.system_id.len() > 15 {
            out.push(("system_id", "at most 15 characters".into()));
        }
        if self.password.len() > 8 {
            out.push(("password", "at most 8 characters".into()));
        }
        for (field, v) in [
            ("binds", u64::from(self.binds)),
            ("tps", u64::from(self.tps)),
            ("window", self.window as u64),
            ("response_timeout_s", self.response_timeout_s),
            ("enquire_link_s", self.enquire_link_s),
            ("breaker_failures", u64::from(self.breaker_failures)),
        ] {
            if v == 0 {
                out.push((field, "must be at least 1".into()));
            }
        }
        if !(1..=300).contains(&self.breaker_cooldown_s) {
            out.push(("breaker_cooldown_s", "must be 1 to 300".into()));
        }
        if let Some(ca) = &self.tls_ca_file {
            if !self.tls {
                out.push(("tls_ca_file", "only with tls = true".into()));
            }
            if ca.is_relative() {
                out.push((
                    "tls_ca_file",
                    format!("{} must be an absolute path", ca.display()),
                ));
            }
        }
        out
    }

    /// The carrier as the admin API and the audit trail show it: no password.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.remove("password");
        }
        v
    }
}

fn default_carrier_binds() -> u32 {
    1
}
fn default_carrier_tps() -> u32 {
    100
}
fn default_window() -> usize {
    64
}
fn default_response_timeout() -> u64 {
    10
}
fn default_enquire_link() -> u64 {
    30
}
fn default_breaker_failures() -> u32 {
    5
}
fn default_breaker_cooldown() -> u64 {
    10
}

/// The whole config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[node]`
    #[serde(default)]
    pub node: NodeConfig,
    /// `[smpp]`
    #[serde(default)]
    pub smpp: SmppConfig,
    /// `[http]`
    #[serde(default)]
    pub http: HttpConfig,
    /// `[api]`
    #[serde(default)]
    pub api: Option<ApiConfig>,
    /// `[simulator]`
    pub simulator: Option<SimulatorConfig>,
    /// `[[accounts]]`
    #[serde(default)]
    pub accounts: Vec<Spanned<AccountConfig>>,
    /// `[[carriers]]`
    #[serde(default)]
    pub carriers: Vec<Spanned<CarrierConfig>>,
    /// `[[routes]]`
    #[serde(default)]
    pub routes: Vec<Spanned<Route>>,
    /// `[[mo_routes]]`: MO by the number written to → account.
    #[serde(default)]
    pub mo_routes: Vec<Spanned<crate::domain::mo::MoRoute>>,
}

/// One problem in a config file, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// File path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax or type errors, or semantic problems.
    #[error("{}", render(path, problems))]
    Invalid {
        /// File path.
        path: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn render(path: &str, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{path}:{}: {}", p.line, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The line of `key = ...` in the table that starts at `offset`, if the file sets it there.
fn key_line(text: &str, offset: usize, key: &str) -> Option<usize> {
    let start = text
        .get(..offset.min(text.len()))?
        .rfind('\n')
        .map_or(0, |i| i + 1);
    for (line, (i, l)) in (line_of(text, start)..).zip(text[start..].lines().enumerate()) {
        let l = l.trim_start();
        // the next table ends this one
        if i > 0 && l.starts_with('[') {
            return None;
        }
        if let Some(rest) = l.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(line);
        }
    }
    None
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Config {
    /// Reads and validates a config file.
    /// A relative `data_dir` is taken from the config file's folder, so the store is the
    /// same whatever directory tern is started from.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut cfg = Config::parse(&text, &path.display().to_string())?;
        let folder = path.parent().unwrap_or(Path::new(""));
        if cfg.node.data_dir.is_relative() {
            cfg.node.data_dir = folder.join(&cfg.node.data_dir);
        }
        for f in [
            &mut cfg.smpp.tls_cert,
            &mut cfg.smpp.tls_key,
            &mut cfg.http.tls_cert,
            &mut cfg.http.tls_key,
        ]
        .into_iter()
        .chain(
            cfg.api
                .as_mut()
                .map(|a| [&mut a.tls_cert, &mut a.tls_key])
                .into_iter()
                .flatten(),
        )
        .flatten()
        {
            if f.is_relative() {
                *f = folder.join(&*f);
            }
        }
        // the files must make a certificate and key now, not at the first ESME
        let mut problems = Vec::new();
        if let (Some(_), Some(cert), Some(key)) =
            (&cfg.smpp.tls_listen, &cfg.smpp.tls_cert, &cfg.smpp.tls_key)
            && let Err(e) = crate::protocol::tls::acceptor(cert, key)
        {
            let line = key_line(&text, 0, "tls_cert").unwrap_or(1);
            problems.push(Problem {
                line,
                message: format!("smpp.tls_cert/tls_key: {e}"),
            });
        }
        if let (Some(cert), Some(key)) = (&cfg.http.tls_cert, &cfg.http.tls_key)
            && let Err(e) = crate::protocol::tls::server_config(cert, key)
        {
            problems.push(Problem {
                line: 1,
                message: format!("http.tls_cert/tls_key: {e}"),
            });
        }
        if let Some(api) = &cfg.api
            && let (Some(cert), Some(key)) = (&api.tls_cert, &api.tls_key)
            && let Err(e) = crate::protocol::tls::server_config(cert, key)
        {
            problems.push(Problem {
                line: text
                    .find("[api]")
                    .and_then(|at| key_line(&text, at, "tls_cert"))
                    .unwrap_or(1),
                message: format!("api.tls_cert/tls_key: {e}"),
            });
        }
        for c in &cfg.carriers {
            let start = c.span().start;
            let c = c.get_ref();
            if let (true, Some(ca)) = (c.tls, &c.tls_ca_file)
                && let Err(e) = crate::protocol::tls::connector(Some(ca))
            {
                problems.push(Problem {
                    line: key_line(&text, start, "tls_ca_file")
                        .unwrap_or_else(|| line_of(&text, start)),
                    message: format!("carriers[{}].tls_ca_file: {e}", c.id),
                });
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.display().to_string(),
                problems,
            });
        }
        Ok(cfg)
    }

    /// Parses and validates config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            ConfigError::Invalid {
                path: path.to_string(),
                problems: vec![Problem {
                    line,
                    message: e.message().trim().to_string(),
                }],
            }
        })?;
        if let Ok(tok) = std::env::var("TERN_ADMIN_TOKEN")
            && !tok.is_empty()
        {
            cfg.http.admin_token = tok.into();
        }
        let problems = cfg.problems(text);
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_string(),
                problems,
            })
        }
    }

    fn problems(&self, text: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut p = |line: usize, m: String| out.push(Problem { line, message: m });
        let top = 1;
        if self.smpp.listen.parse::<SocketAddr>().is_err() {
            p(
                top,
                format!("smpp.listen: {:?} is not an address:port", self.smpp.listen),
            );
        }
        if let Some(l) = &self.smpp.tls_listen {
            if l.parse::<SocketAddr>().is_err() {
                p(
                    top,
                    format!("smpp.tls_listen: {l:?} is not an address:port"),
                );
            }
            if self.smpp.tls_cert.is_none() || self.smpp.tls_key.is_none() {
                p(
                    top,
                    "smpp.tls_listen needs smpp.tls_cert and smpp.tls_key (PEM files)".into(),
                );
            }
        }
        if self.smpp.window == 0 || self.smpp.max_pending_submits == 0 {
            p(
                top,
                "smpp.window and smpp.max_pending_submits must be at least 1".into(),
            );
        }
        if self.smpp.bind_timeout_s == 0 || self.smpp.max_connections == 0 {
            p(
                top,
                "smpp.bind_timeout_s and smpp.max_connections must be at least 1".into(),
            );
        }
        if self.smpp.bind_failures_before_lockout > 0 && self.smpp.lockout_s == 0 {
            p(
                top,
                "smpp.lockout_s must be at least 1 (or bind_failures_before_lockout 0: no lockout)"
                    .into(),
            );
        }
        if let Some(w) = self.node.workers
            && !(1..=1024).contains(&w)
        {
            p(top, format!("node.workers: {w} must be 1 to 1024"));
        }
        if self.http.listen.parse::<SocketAddr>().is_err() {
            p(
                top,
                format!("http.listen: {:?} is not an address:port", self.http.listen),
            );
        }
        let mut ports: Vec<(&str, SocketAddr)> = Vec::new();
        for (key, v) in [
            ("smpp.listen", Some(&self.smpp.listen)),
            ("smpp.tls_listen", self.smpp.tls_listen.as_ref()),
            ("http.listen", Some(&self.http.listen)),
            ("api.listen", self.api.as_ref().map(|a| &a.listen)),
            (
                "simulator.listen",
                self.simulator.as_ref().map(|s| &s.listen),
            ),
        ] {
            if let Some(a) = v.and_then(|v| v.parse::<SocketAddr>().ok()) {
                if let Some((other, _)) = ports.iter().find(|(_, b)| {
                    b.port() == a.port()
                        && (b.ip() == a.ip() || b.ip().is_unspecified() || a.ip().is_unspecified())
                }) {
                    p(top, format!("{key}: {a} is the port {other} listens on"));
                }
                ports.push((key, a));
            }
        }
        if let Some(api) = &self.api {
            if api.listen.parse::<SocketAddr>().is_err() {
                p(
                    top,
                    format!("api.listen: {:?} is not an address:port", api.listen),
                );
            }
            if api.tls_cert.is_some() != api.tls_key.is_some() {
                p(
                    top,
                    "api.tls_cert and api.tls_key go together (PEM files)".into(),
                );
            }
        }
        if self.http.tls_cert.is_some() != self.http.tls_key.is_some() {
            p(
                top,
                "http.tls_cert and http.tls_key go together (PEM files)".into(),
            );
        }
        if self.http.admin_token.is_empty() {
            p(top, "http.admin_token: must not be empty".into());
        }
        if self.http.admin_token.expose() == SHIPPED_ADMIN_TOKEN
            && self
                .http
                .listen
                .parse::<SocketAddr>()
                .is_ok_and(|a| !a.ip().is_loopback())
        {
            p(
                top,
                format!(
                    "http.admin_token: the shipped token {SHIPPED_ADMIN_TOKEN:?} is refused while http.listen ({}) is not on loopback; set your own (or TERN_ADMIN_TOKEN)",
                    self.http.listen
                ),
            );
        }
        if let Some(sim) = &self.simulator
            && sim.listen.parse::<SocketAddr>().is_err()
        {
            p(
                top,
                format!("simulator.listen: {:?} is not an address:port", sim.listen),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for a in &self.accounts {
            let a_start = a.span().start;
            let line = line_of(text, a_start);
            let a = a.get_ref();
            let id = &a.system_id;
            if !seen.insert(id.clone()) {
                p(line, format!("accounts: system_id {id:?} appears twice"));
            }
            let fields = crate::accounts::Fields {
                system_id: id,
                password: Some(a.password.expose()),
                tps: a.tps,
                max_binds: a.max_binds,
                balance: Some(&a.balance),
                price: &a.price,
                allowed_ips: &a.allowed_ips,
                webhook_url: &a.webhook_url,
                opt_out_keywords: &a.opt_out_keywords,
                opt_in_keywords: &a.opt_in_keywords,
            };
            for (field, m) in fields.problems() {
                let at = key_line(text, a_start, field).unwrap_or(line);
                p(at, format!("accounts[{id}].{field}: {m}"));
            }
        }
        let mut cseen = std::collections::HashSet::new();
        for c in &self.carriers {
            let c_start = c.span().start;
            let line = line_of(text, c_start);
            let c = c.get_ref();
            let id = &c.id;
            if !cseen.insert(id.clone()) {
                p(line, format!("carriers: id {id:?} appears twice"));
            }
            for (field, m) in c.problems() {
                let at = key_line(text, c_start, field).unwrap_or(line);
                p(at, format!("carriers[{id}].{field}: {m}"));
            }
        }
        for r in &self.routes {
            let line = line_of(text, r.span().start);
            if let Err(e) = RouteTable::new(vec![r.get_ref().clone()], |c| cseen.contains(c)) {
                p(line, format!("routes: {e}"));
            }
        }
        if let Err(e @ crate::domain::route::RouteError::Duplicate(_)) = self.route_table() {
            p(top, format!("routes: {e}"));
        }
        let accounts: std::collections::HashSet<&str> = self
            .accounts
            .iter()
            .map(|a| a.get_ref().system_id.as_str())
            .collect();
        for r in &self.mo_routes {
            let line = line_of(text, r.span().start);
            let one = vec![r.get_ref().clone()];
            if let Err(e) = crate::domain::mo::MoRouteTable::new(one, |a| accounts.contains(a)) {
                p(line, format!("mo_routes: {e}"));
            }
        }
        if let Err(e @ crate::domain::mo::MoRouteError::Duplicate(_)) = self.mo_route_table() {
            p(top, format!("mo_routes: {e}"));
        }
        out
    }

    /// The MO route table the config describes.
    pub fn mo_route_table(
        &self,
    ) -> Result<crate::domain::mo::MoRouteTable, crate::domain::mo::MoRouteError> {
        let routes = self.mo_routes.iter().map(|r| r.get_ref().clone()).collect();
        crate::domain::mo::MoRouteTable::new(routes, |_| true)
    }

    /// The route table the config describes (validated against its carriers).
    pub fn route_table(&self) -> Result<RouteTable, crate::domain::route::RouteError> {
        let routes = self.routes.iter().map(|r| r.get_ref().clone()).collect();
        RouteTable::new(routes, |c| {
            self.carriers.iter().any(|x| x.get_ref().id == c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[node]
data_dir = "x"

[[accounts]]
system_id = "demo"
password = "demopass"
balance = "10.00"
price = "0.01"

[[carriers]]
id = "sim"
host = "127.0.0.1"
port = 2776
system_id = "tern"
password = "ternpass"

[[routes]]
prefix = ""
carriers = ["sim"]
"#;

    #[test]
    fn good_config_parses_with_defaults() {
        let c = Config::parse(GOOD, "t.toml").unwrap();
        assert_eq!(c.node.durability, Durability::Fsync);
        assert_eq!(c.smpp.inactivity_timeout_s, 120);
        assert_eq!(c.carriers[0].get_ref().window, 64);
        assert!(c.route_table().unwrap().lookup("49").is_some());
    }

    #[test]
    fn problems_point_at_their_line() {
        let bad = GOOD
            .replace("password = \"demopass\"", "password = \"waytoolongpw\"")
            .replace("carriers = [\"sim\"]", "carriers = [\"nope\"]");
        let Err(ConfigError::Invalid { problems, .. }) = Config::parse(&bad, "t.toml") else {
            panic!("must fail")
        };
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].line, 7, "the password's own line: {problems:?}");
        assert!(problems[0].message.contains("password"));
        assert_eq!(problems[1].line, 18, "{problems:?}");
        assert!(problems[1].message.contains("nope"));
    }

    #[test]
    fn the_shipped_admin_token_is_refused_off_loopback() {
        assert!(Config::parse(GOOD, "t.toml").is_ok(), "loopback by default");
        let open = format!("{GOOD}\n[http]\nlisten = \"0.0.0.0:8080\"\n");
        let Err(ConfigError::Invalid { problems, .. }) = Config::parse(&open, "t.toml") else {
            panic!("must fail")
        };
        assert!(problems[0].message.contains("change-me"), "{problems:?}");
        let own = format!("{open}admin_token = \"s3cret-token\"\n");
        assert!(Config::parse(&own, "t.toml").is_ok());
    }

    #[test]
    fn two_listeners_on_one_port_are_refused() {
        let clash = format!("{GOOD}\n[http]\nlisten = \"127.0.0.1:2775\"\n");
        let Err(ConfigError::Invalid { problems, .. }) = Config::parse(&clash, "t.toml") else {
            panic!("must fail: smpp listens on 0.0.0.0:2775 by default")
        };
        assert!(problems[0].message.contains("http.listen"), "{problems:?}");
    }

    #[test]
    fn a_relative_data_dir_is_the_config_files_neighbour() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tern.toml");
        std::fs::write(&path, GOOD).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.node.data_dir, dir.path().join("x"));
    }

    #[test]
    fn syntax_errors_have_lines() {
        let bad = "[node]\ndata_dir = \"x\"\ndurability = \"sometimes\"\n";
        let Err(ConfigError::Invalid { problems, .. }) = Config::parse(bad, "t.toml") else {
            panic!("must fail")
        };
        assert_eq!(problems[0].line, 3, "{problems:?}");
    }

    #[test]
    fn workers_default_to_all_cores_but_one() {
        let c = Config::parse(GOOD, "t.toml").unwrap();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert_eq!(c.node.worker_threads(), (cores - 1).max(1));
        let three = GOOD.replace("data_dir = \"x\"", "data_dir = \"x\"\nworkers = 3");
        assert_eq!(
            Config::parse(&three, "t.toml")
                .unwrap()
                .node
                .worker_threads(),
            3
        );
        let zero = GOOD.replace("data_dir = \"x\"", "data_dir = \"x\"\nworkers = 0");
        let Err(ConfigError::Invalid { problems, .. }) = Config::parse(&zero, "t.toml") else {
            panic!("must fail")
        };
        assert!(problems[0].message.contains("node.workers"), "{problems:?}");
    }

    #[test]
    fn breaker_settings_are_checked() {
        let c = Config::parse(GOOD, "t.toml").unwrap();
        let sim = c.carriers[0].get_ref();
        assert_eq!((sim.breaker_failures, sim.breaker_cooldown_s), (5, 10));
        for bad in [
            "breaker_failures = 0",
            "breaker_cooldown_s = 0",
            "breaker_cooldown_s = 301",
        ] {
            let text = GOOD.replace("[[routes]]", &format!("{bad}\n\n[[routes]]"));
            let Err(ConfigError::Invalid { problems, .. }) = Config::parse(&text, "t.toml") else {
                panic!("{bad} must fail")
            };
            assert!(problems[0].message.contains("breaker_"), "{problems:?}");
        }
    }

    #[test]
    fn weights_are_one_per_carrier() {
        let text = GOOD.replace(
            "carriers = [\"sim\"]",
            "carriers = [\"sim\"]\nweights = [1, 2]",
        );
        let Err(ConfigError::Invalid { problems, .. }) = Config::parse(&text, "t.toml") else {
            panic!("must fail")
        };
        assert!(problems[0].message.contains("weights"), "{problems:?}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let bad = format!("{GOOD}\n[http]\nlisten = \"127.0.0.1:1\"\nadmin_tokn = \"x\"\n");
        assert!(Config::parse(&bad, "t.toml").is_err());
    }
}
