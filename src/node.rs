//! Starts a whole switch from a [`Config`]: store, actors, listeners; and stops it cleanly.
//!
//! Threads: the actix System (main thread) runs the accept loop and actix-web; worker
//! Arbiters (`node.workers`, by default one fewer than the cores) run ESME sessions,
//! ledger, router and correlator shards and carriers; the Store has an Arbiter of its own
//! so fsync waits never delay protocol work, and the store's checkpoints a thread of their
//! own: the core left over is theirs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::codec::FramedRead;

use crate::accounts;
use crate::actors::carrier::{Carrier, CarrierSet, CarrierStatus, CloseBinds, GetStatus, Quiesce};
use crate::actors::delivery::{Delivery, UnbindAll};
use crate::actors::dlr_correlator::{CorrelatorShards, DlrCorrelator, FlushStaged};
use crate::actors::esme_session::{EsmeSession, SessionEnv};
use crate::actors::ledger::{Ledger, LedgerShards};
use crate::actors::router::{Outbound, RouteMessage, RouterEnv, RouterShard, RouterShards};
use crate::actors::store::{STORE_MAILBOX, Store, StoreHandle};
use crate::actors::supervise::Restart;
use crate::config::CarrierConfig;
use crate::config::Config;
use crate::domain::backlog::{Backlog, Backlogs};
use crate::domain::connections::{ConnectionSlot, Connections};
use crate::domain::lockout::Lockout;
use crate::domain::message::MessageState;
use crate::protocol::codec::SmppCodec;
use crate::protocol::writer::{WRITE_QUEUE, spawn_writer};
use crate::sim::{self, SimConfig};
use crate::store::engine::{Engine, Options};
use crate::store::keys;
use crate::store::kv::Kv;
use crate::store::messages;

/// The exit status when the store stops itself after a write it cannot vouch for
/// (EX_IOERR): the supervisor restarts tern, which recovers from the journal.
pub const EXIT_STORE_STOPPED: i32 = 74;

/// Installs the Prometheus recorder (once per process) with histogram buckets.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ],
        )
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    let upkeep = handle.clone();
    actix_rt::spawn(async move {
        let mut iv = actix_rt::time::interval(Duration::from_secs(5));
        loop {
            iv.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Runs the switch until SIGINT/SIGTERM, then drains and returns; SIGHUP applies the
/// config file at `path` again (see [`reload`]).
/// Must be called inside an actix System (`#[actix_web::main]`).
pub async fn run(cfg: Config, path: std::path::PathBuf) -> Result<(), String> {
    let prom = install_metrics()?;
    // every kind at 0 from the start, so an alert on its rate has a series to watch
    for kind in [
        <Carrier as Restart>::NAME,
        <crate::actors::carrier_session::CarrierSession as Restart>::NAME,
        <Delivery as Restart>::NAME,
        <DlrCorrelator as Restart>::NAME,
        <crate::actors::esme_session::EsmeSession as Restart>::NAME,
        <Ledger as Restart>::NAME,
        <RouterShard as Restart>::NAME,
        <crate::actors::mo_router::MoRouter as Restart>::NAME,
        <crate::actors::webhooks::Webhooks as Restart>::NAME,
    ] {
        metrics::counter!("tern_actor_restarts_total", "actor" => kind).absolute(0);
    }
    for outcome in ["received", "no_route", "smpp", "webhook", "expired"] {
        metrics::counter!("tern_mo_total", "outcome" => outcome).absolute(0);
    }
    let workers: Vec<Arbiter> = (0..cfg.node.worker_threads())
        .map(|_| Arbiter::new())
        .collect();
    let handles: Vec<ArbiterHandle> = workers.iter().map(|a| a.handle()).collect();
    let nshards = handles.len();

    // simulator first, so the carrier finds it on its first connect
    if let Some(s) = &cfg.simulator {
        let l = TcpListener::bind(&s.listen)
            .await
            .map_err(|e| format!("simulator.listen {}: {e}", s.listen))?;
        tracing::info!(listen = %s.listen, "in-process carrier simulator");
        let sc = SimConfig {
            dlr_delay_ms: s.dlr_delay_ms,
            fail_status: 0x45,
            control: s.control.clone(),
            ..SimConfig::default()
        };
        actix_rt::spawn(sim::serve(l, sc));
    }

    std::fs::create_dir_all(&cfg.node.data_dir).map_err(|e| format!("data_dir: {e}"))?;
    let opts = Options {
        cache_mb: cfg.node.store_cache_mb,
        failpoints: crate::failpoint::global(),
        // fail-stop: the engine has logged why; nothing more may be acknowledged, and the
        // next start recovers from the journal (a supervisor such as systemd restarts tern)
        on_stop: Box::new(|_| std::process::exit(EXIT_STORE_STOPPED)),
    };
    let kv: Arc<dyn Kv> = Engine::open_with(&cfg.node.data_dir, opts).map_err(|e| e.to_string())?;
    let store_arb = Arbiter::new();
    let (k2, dur) = (kv.clone(), cfg.node.durability);
    let store = StoreHandle::new(Store::start_in_arbiter(&store_arb.handle(), move |ctx| {
        ctx.set_mailbox_capacity(STORE_MAILBOX);
        Store::new(k2, dur)
    }));

    // accounts and routes: from the store (seeded from the file on the first start)
    let loaded = crate::registry::load(&kv, &store, &cfg).await?;
    let (accounts_tx, accounts_rx) = watch::channel(Arc::new(loaded.accounts));
    let (routes_tx, routes_rx) = watch::channel(Arc::new(loaded.routes));
    let (mo_routes_tx, mo_routes_rx) = watch::channel(Arc::new(loaded.mo_routes));
    let receipt_ttl_ms = cfg.node.receipt_ttl_s.saturating_mul(1000);
    let message_ttl_ms = cfg.node.message_ttl_s.saturating_mul(1000);

    let (k, s, a) = (kv.clone(), store.clone(), accounts_rx.clone());
    let webhooks = crate::actors::webhooks::Webhooks::start_in_arbiter(&handles[0], move |_| {
        crate::actors::webhooks::Webhooks::new(k, s, a, receipt_ttl_ms)
    });
    let (k, s) = (kv.clone(), store.clone());
    let w = webhooks.clone();
    let a = accounts_rx.clone();
    let delivery = Delivery::start_in_arbiter(&handles[0], move |_| Delivery::new(k, s, w, a));
    webhooks.do_send(crate::actors::webhooks::SetDelivery(delivery.clone()));
    let suppressions = Arc::new(crate::suppressions::Suppressions::load(&*kv)?);
    let (k, s, r, a, sup, d) = (
        kv.clone(),
        store.clone(),
        mo_routes_rx.clone(),
        accounts_rx.clone(),
        suppressions.clone(),
        delivery.clone(),
    );
    let mo_router = crate::actors::mo_router::MoRouter::start_in_arbiter(&handles[0], move |_| {
        crate::actors::mo_router::MoRouter::new(k, s, r, a, sup, d, receipt_ttl_ms)
    });

    let correlators = CorrelatorShards::start(&handles, nshards, |i| {
        let (k, s, d) = (kv.clone(), store.clone(), delivery.clone());
        DlrCorrelator::new(k, s, d, receipt_ttl_ms, message_ttl_ms, (i, nshards))
    });

    // carriers: each on a worker in turn, also those an operator adds later
    let next_worker = std::sync::atomic::AtomicUsize::new(0);
    let incoming = crate::actors::carrier_session::Incoming {
        correlators: correlators.clone(),
        mo: mo_router.recipient(),
    };
    let h = handles.clone();
    let start: crate::registry::StartCarrier = Box::new(move |c: CarrierConfig| {
        let i = next_worker.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % h.len();
        let backlog = Arc::new(Backlog::for_carrier(c.binds, c.window));
        let (inc, b) = (incoming.clone(), backlog.clone());
        let addr = Carrier::start_in_arbiter(&h[i], move |_| Carrier::new(c, inc, b));
        (addr, backlog)
    });
    let carriers = CarrierSet::default();
    let backlogs = Backlogs::default();
    for c in loaded.carriers {
        let (id, concatenation) = (c.id.clone(), c.concatenation);
        let (addr, backlog) = start(c);
        backlogs.set(&id, backlog);
        carriers.insert(&id, addr, concatenation);
    }
    let registry = Arc::new(crate::registry::Registry::new(
        kv.clone(),
        store.clone(),
        accounts_tx,
        routes_tx,
        crate::registry::TwoWay {
            mo_routes: mo_routes_tx,
            suppressions: suppressions.clone(),
        },
        crate::registry::Carriers {
            set: carriers.clone(),
            backlogs: backlogs.clone(),
            start,
        },
        delivery.clone(),
    ));
    webhooks.do_send(crate::actors::webhooks::SetApiKeys(registry.api_keys()));
    // what operators stopped stays stopped
    for (id, c) in carriers.all() {
        if registry.carrier_stopped(&id).map_err(|e| e.to_string())? {
            c.do_send(crate::actors::carrier::SetStopped(true));
            tracing::info!(carrier = %id, "carrier stays stopped (an operator stopped it)");
        }
    }

    // routers refund through the ledgers, which route through the routers
    let ledger_cell = Arc::new(std::sync::OnceLock::new());
    let router_env = RouterEnv {
        routes: routes_rx.clone(),
        carriers: carriers.clone(),
        store: store.clone(),
        delivery: delivery.clone(),
        backlogs: backlogs.clone(),
        accounts: accounts_rx.clone(),
        ledgers: ledger_cell.clone(),
        message_ttl_ms,
        receipt_ttl_ms,
    };
    let routers = RouterShards::start(&handles, nshards, |_| RouterShard::new(router_env.clone()));

    let ledgers = LedgerShards::start(&handles, nshards, |_| {
        let (k, s, r, a) = (
            kv.clone(),
            store.clone(),
            routers.clone(),
            accounts_rx.clone(),
        );
        Ledger::new(k, s, r, a)
    });
    let _ = ledger_cell.set(ledgers.clone());

    let resumed = resume(&*kv, &routers)?;
    tracing::info!(
        data_dir = %cfg.node.data_dir.display(),
        accounts = accounts_rx.borrow().len(),
        carriers = carriers.all().len(),
        routes = routes_rx.borrow().routes().len(),
        resumed,
        "switch starting"
    );

    // SMPP listener
    let listener = TcpListener::bind(&cfg.smpp.listen)
        .await
        .map_err(|e| format!("smpp.listen {}: {e}", cfg.smpp.listen))?;
    tracing::info!(listen = %cfg.smpp.listen, "SMPP listening");
    // SMPP over TLS: the same sessions behind a handshake (checked by Config::load)
    let tls_listener = match (&cfg.smpp.tls_listen, &cfg.smpp.tls_cert, &cfg.smpp.tls_key) {
        (Some(l), Some(cert), Some(key)) => {
            let acceptor = crate::protocol::tls::acceptor(cert, key)?;
            let listener = TcpListener::bind(l)
                .await
                .map_err(|e| format!("smpp.tls_listen {l}: {e}"))?;
            tracing::info!(listen = %l, "SMPP over TLS listening");
            Some((listener, acceptor))
        }
        _ => None,
    };
    if crate::failpoint::armed() {
        tracing::warn!(
            spec = %std::env::var(crate::failpoint::ENV).unwrap_or_default(),
            "failpoints armed: tern will panic on purpose (a test setting, never for production)"
        );
    }
    // concatenation references of the messages tern splits, one sequence for the node
    let references = Arc::new(std::sync::atomic::AtomicU16::new(rand::random()));
    let env = SessionEnv {
        kv: kv.clone(),
        routers: routers.clone(),
        suppressions: suppressions.clone(),
        references: references.clone(),
        carriers: carriers.clone(),
        ledgers: ledgers.clone(),
        delivery: delivery.clone(),
        accounts: accounts_rx.clone(),
        routes: routes_rx.clone(),
        decoy_hash: Arc::new(
            tokio::task::spawn_blocking(accounts::decoy_hash)
                .await
                .map_err(|e| e.to_string())?,
        ),
        verified: Arc::new(crate::credentials::VerifiedCache::default()),
        inactivity: Duration::from_secs(cfg.smpp.inactivity_timeout_s),
        window: cfg.smpp.window,
        max_pending: cfg.smpp.max_pending_submits,
        backlogs: backlogs.clone(),
        bind_timeout: Duration::from_secs(cfg.smpp.bind_timeout_s),
        lockout: Arc::new(std::sync::Mutex::new(Lockout::new(
            cfg.smpp.bind_failures_before_lockout,
            cfg.smpp.lockout_s.saturating_mul(1000),
        ))),
    };
    let connections = Connections::new(cfg.smpp.max_connections);
    let tls_accept = tls_listener.map(|(l, acceptor)| {
        actix_rt::spawn(accept_loop(
            l,
            handles.clone(),
            env.clone(),
            connections.clone(),
            Some(acceptor),
        ))
    });
    let accept = actix_rt::spawn(accept_loop(
        listener,
        handles.clone(),
        env,
        connections,
        None,
    ));

    // HTTP
    let state = crate::http::AppState {
        token: Arc::new(cfg.http.admin_token.expose().to_string()),
        prom,
        kv: kv.clone(),
        accounts: accounts_rx.clone(),
        ledgers: ledgers.clone(),
        carriers: carriers.clone(),
        delivery: delivery.clone(),
        registry: registry.clone(),
        store: store.clone(),
    };
    let customer = match &cfg.api {
        Some(api) => Some(serve_customer_api(
            api,
            crate::http::customer::CustomerState {
                kv: kv.clone(),
                accounts: accounts_rx.clone(),
                api_keys: registry.api_keys(),
                routes: routes_rx.clone(),
                backlogs,
                ledgers: ledgers.clone(),
                references: references.clone(),
                max_validity_s: cfg.node.message_ttl_s,
                in_flight: Default::default(),
                suppressions: suppressions.clone(),
            },
        )?),
        None => None,
    };
    if cfg.api.is_some() {
        actix::spawn(crate::http::customer::idempotency::expire_forever(
            kv.clone(),
            store.clone(),
        ));
    }
    let registry_for_hup = registry;
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(actix_web::web::Data::new(state.clone()))
            .configure(crate::http::configure)
    })
    .workers(1)
    .disable_signals();
    // HTTPS when a certificate is set (checked by Config::load)
    let server = match (&cfg.http.tls_cert, &cfg.http.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = crate::protocol::tls::server_config(cert, key)?;
            server.bind_rustls_0_23(&cfg.http.listen, tls)
        }
        _ => server.bind(&cfg.http.listen),
    }
    .map_err(|e| format!("http.listen {}: {e}", cfg.http.listen))?
    .run();
    let http = server.handle();
    actix_rt::spawn(server);
    tracing::info!(listen = %cfg.http.listen, "HTTP listening");
    if cfg.http.admin_token.expose() == crate::config::SHIPPED_ADMIN_TOKEN {
        tracing::warn!(
            "the admin API takes the shipped token \"change-me\" (accepted on loopback only): set http.admin_token or TERN_ADMIN_TOKEN"
        );
    }

    let hup = actix_rt::spawn(reload_on_hangup(path, registry_for_hup));
    wait_for_signal().await;
    hup.abort();
    tracing::info!("shutting down: no new binds, unbinding sessions, flushing the store");
    accept.abort();
    if let Some(a) = tls_accept {
        a.abort();
    }
    // no new messages over HTTP either (those in flight are answered)
    if let Some(c) = customer {
        c.stop(true).await;
    }
    let n = delivery.send(UnbindAll).await.unwrap_or(0);
    if n > 0 {
        actix_rt::time::sleep(Duration::from_millis(700)).await;
    }
    quiesce_carriers(&carriers, &correlators).await;
    http.stop(true).await;
    store.flush_all().await.map_err(|e| e.to_string())?;
    drop(workers);
    drop(store_arb);
    Ok(())
}

/// Stops the carriers sending, waits (a few seconds at most) for the answers to what they
/// have in flight, and stores the carrier ids those answers registered: a message a carrier
/// accepted is then known as submitted, and the next start does not send it again.
async fn quiesce_carriers(carriers: &CarrierSet, correlators: &CorrelatorShards) {
    let carriers: Vec<Addr<Carrier>> = carriers.all().into_iter().map(|(_, c)| c).collect();
    for c in &carriers {
        let _ = c.send(Quiesce).await;
    }
    until_carriers(&carriers, QUIESCE_WAIT, |s| s.in_flight).await;
    // each bind sent its registrations before telling its carrier the answer came, so
    // they are in the correlators' mailboxes ahead of this
    for c in correlators.all() {
        let _ = c.send(FlushStaged).await;
    }
    // unbind from the carriers, politely, and wait (briefly) for them to answer
    for c in &carriers {
        let _ = c.send(CloseBinds).await;
    }
    until_carriers(&carriers, UNBIND_WAIT, |s| s.binds_up).await;
}

/// Waits until `count` is 0 over every carrier's status, or `wait` has passed.
async fn until_carriers(
    carriers: &[Addr<Carrier>],
    wait: Duration,
    count: impl Fn(&CarrierStatus) -> usize,
) {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < wait {
        let mut n = 0;
        for c in carriers {
            n += c
                .send(GetStatus)
                .await
                .ok()
                .flatten()
                .map_or(0, |s| count(&s));
        }
        if n == 0 {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long a stopping node waits for its carriers to unbind.
const UNBIND_WAIT: Duration = Duration::from_secs(2);

/// How long a stopping node waits for carriers to answer what is in flight.
const QUIESCE_WAIT: Duration = Duration::from_secs(5);

/// Routes again every message that was accepted but not yet taken by a carrier.
fn resume(kv: &dyn Kv, routers: &RouterShards) -> Result<usize, String> {
    let mut n = 0;
    for row in kv.scan_prefix(keys::PENDING_PREFIX) {
        let (k, stored_pdu) = row.map_err(|e| e.to_string())?;
        let id = String::from_utf8_lossy(&k[keys::PENDING_PREFIX.len()..]).into_owned();
        let rec = match messages::record_of(kv, &id) {
            Ok(Some(rec)) => rec,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(%id, error = %e, "unreadable message record; not resumed");
                continue;
            }
        };
        if rec.state() != MessageState::Accepted {
            continue; // submitted: its receipt will come
        }
        let meta = rec.meta;
        // the PDU is the pending marker's value (records from before kept it in m/)
        let pdu = if stored_pdu.is_empty() {
            rec.pdu
        } else {
            stored_pdu
        };
        let mut buf = bytes::BytesMut::from(&pdu[..]);
        // stored PDUs can be as long as any PDU tern accepts
        let mut codec = rusmpp::tokio_codec::CommandCodec::new()
            .with_max_length(crate::protocol::codec::MAX_PDU);
        let sm = match tokio_util::codec::Decoder::decode(&mut codec, &mut buf) {
            Ok(Some(cmd)) => match cmd.pdu() {
                Some(rusmpp::Pdu::SubmitSm(sm)) => sm.clone(),
                _ => continue,
            },
            _ => {
                tracing::error!(%id, "stored PDU unreadable; not resumed");
                continue;
            }
        };
        routers.route(RouteMessage {
            // it may have been in flight when tern stopped: never refunded
            msg: Arc::new(Outbound::resumed(meta, sm)),
            attempt: 0,
        });
        n += 1;
    }
    Ok(n)
}

/// Starts the customer HTTP API (`[api]`) on its own listener.
fn serve_customer_api(
    api: &crate::config::ApiConfig,
    state: crate::http::customer::CustomerState,
) -> Result<actix_web::dev::ServerHandle, String> {
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(actix_web::web::Data::new(state.clone()))
            .configure(crate::http::customer::configure)
    })
    .workers(1)
    .disable_signals();
    let server = match (&api.tls_cert, &api.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = crate::protocol::tls::server_config(cert, key)?;
            server.bind_rustls_0_23(&api.listen, tls)
        }
        _ => server.bind(&api.listen),
    }
    .map_err(|e| format!("api.listen {}: {e}", api.listen))?
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(listen = %api.listen, "customer API listening");
    Ok(handle)
}

/// Accepts ESME connections on `listener` and starts a session for each on a worker in
/// turn; with `tls`, after the TLS handshake (which must end within `bind_timeout_s`).
async fn accept_loop(
    listener: TcpListener,
    workers: Vec<ArbiterHandle>,
    env: SessionEnv,
    connections: Connections,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut rr = 0usize;
    // refusals over max_connections since the last warning (one line per 10 s at most)
    let mut refused = 0u64;
    let mut warned: Option<std::time::Instant> = None;
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                actix_rt::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = connections.take() else {
            // over max_connections: closed at once, before it costs a session
            metrics::counter!("tern_connections_refused_total").increment(1);
            refused += 1;
            if warned.is_none_or(|w| w.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!(%peer, open = connections.open(), refused, "max_connections reached; connections closed at once");
                warned = Some(std::time::Instant::now());
                refused = 0;
            }
            drop(sock);
            continue;
        };
        let _ = sock.set_nodelay(true);
        let Ok(std_sock) = sock.into_std() else {
            continue;
        };
        let h = &workers[rr % workers.len()];
        rr = rr.wrapping_add(1);
        let env = env.clone();
        let tls = tls.clone();
        h.spawn(async move {
            // re-register the socket with this worker's reactor
            let Ok(sock) = TcpStream::from_std(std_sock) else {
                return;
            };
            let Some(tls) = tls else {
                let (r, w) = sock.into_split();
                return start_session(r, w, peer, env, slot);
            };
            match tokio::time::timeout(env.bind_timeout, tls.accept(sock)).await {
                Ok(Ok(s)) => {
                    let (r, w) = tokio::io::split(s);
                    start_session(r, w, peer, env, slot);
                }
                // plaintext on the TLS port, a bad client hello, or nothing in time
                Ok(Err(e)) => {
                    metrics::counter!("tern_bind_failures_total", "reason" => "tls").increment(1);
                    tracing::info!(%peer, error = %e, "TLS handshake failed; connection closed");
                }
                Err(_) => {
                    metrics::counter!("tern_bind_failures_total", "reason" => "tls").increment(1);
                    tracing::info!(%peer, "no TLS handshake in time; connection closed");
                }
            }
        });
    }
}

/// Starts an ESME session reading `r` and writing `w` (a TCP socket's or a TLS stream's
/// halves).
fn start_session<R, W>(r: R, w: W, peer: SocketAddr, env: SessionEnv, slot: ConnectionSlot)
where
    R: tokio::io::AsyncRead + Unpin + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let tx = spawn_writer(w, WRITE_QUEUE);
    EsmeSession::create(move |ctx| {
        ctx.add_stream(FramedRead::new(r, SmppCodec::default()));
        EsmeSession::new(peer, env, tx, slot)
    });
}

/// On each SIGHUP: reads and validates the config file; a bad file is logged and changes
/// nothing. Its accounts, carriers and routes are applied to the store as an operator's
/// change (audited as from `config`); `[node]`, `[smpp]` and `[http]` need a restart.
async fn reload_on_hangup(path: std::path::PathBuf, registry: Arc<crate::registry::Registry>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be watched; config reload is off");
            return;
        };
        while hup.recv().await.is_some() {
            reload(&path, &registry).await;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, registry);
}

/// Applies the config file at `path` (see [`reload_on_hangup`]).
pub async fn reload(path: &std::path::Path, registry: &crate::registry::Registry) {
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(config = %path.display(), error = %e, "config reload refused: nothing changed");
            return;
        }
    };
    match registry.apply_file(&cfg).await {
        Ok(changed) if changed.is_empty() => {
            tracing::info!(config = %path.display(), "config reloaded: accounts and routes as the store has them")
        }
        Ok(changed) => {
            tracing::info!(config = %path.display(), changed = %changed.join(", "), "config reloaded")
        }
        Err(e) => {
            tracing::error!(config = %path.display(), error = %e, "config reload stopped part way")
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut a), Ok(mut b)) => {
                tokio::select! {
                    _ = a.recv() => {},
                    _ = b.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
