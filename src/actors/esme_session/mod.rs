//! `EsmeSession`: one per accepted SMPP connection from an ESME.
//!
//! Owns the socket (read as a stream of frames, written through the bounded writer), the
//! bind state, the window of outstanding deliver_sm, and the checks that need nothing but
//! the PDU and the account (source allowed, destination valid, a route exists). The charge,
//! the throttle and the durable write happen in the account's `Ledger`; the submit_sm_resp
//! goes out when the Ledger says the message is durable, so many submits are in flight at
//! once and are answered in the order they become durable.
//!
//! The submit path is in `submit.rs` (and `submit_multi.rs`), query_sm in `query.rs`,
//! cancel_sm and replace_sm in `change.rs`; this file holds the connection, the bind and the
//! deliver_sm window.
//!
//! Messages: [`SendDeliverSm`] and [`Unbind`] (from Delivery), `Answer<Accepted>` (from
//! the ledger), `Answer<ChangeOutcome>` (from a router shard); frames from the socket.

mod change;
mod query;
mod submit;
mod submit_multi;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::BytesMut;
use rusmpp::pdus::{BindReceiverResp, BindTransceiverResp, BindTransmitterResp, SubmitSm};
use rusmpp::tokio_codec::{CommandCodec, DecodeError};
use rusmpp::types::COctetString;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::watch;
use tokio_util::codec::Encoder;

use crate::accounts::{Account, AccountTable, verify_password};
use crate::credentials::VerifiedCache;
use crate::domain::address::{check_destination, redact};
use crate::domain::backlog::Backlogs;
use crate::domain::connections::ConnectionSlot;
use crate::domain::dlr::format_receipt;
use crate::domain::encoding::{UDHI, parts};
use crate::domain::lockout::Lockout;
use crate::domain::message::{MessageMeta, now_ms};
use crate::domain::money::Micros;
use crate::domain::route::{RouteEntry, RouteTable};
use crate::domain::validity::expiry_ms;
use crate::protocol::codec::Frame;
use crate::protocol::malformed::{self, BindView, Malformed};
use crate::protocol::{multi, pdu};
use crate::store::keys::Outgoing;

use super::delivery::{
    DeliverSmDone, DeliverSmOutcome, Delivery, RegisterBind, SessionInfo, UnregisterBind,
};
use super::ledger::{Accept, AcceptParts, Accepted, LedgerShards, NewPart, PartsAnswer, Refusal};
use super::router::{CancelAll, Change, ChangeMessage, ChangeOutcome};
use super::supervise::{Restart, guard};
use super::{Answer, FastMap, ReplyTo};
use submit_multi::MultiAnswer;

/// Deliver this receipt or MO on this bind (from `Delivery`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SendDeliverSm {
    /// The receipt or MO.
    pub item: Outgoing,
}

/// Unbind and close (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unbind;

/// What every session shares: where to send things, and the current tables.
#[derive(Clone)]
pub struct SessionEnv {
    /// The store, for query_sm.
    pub kv: Arc<dyn crate::store::kv::Kv>,
    /// Handsets that opted out: submits to them are refused.
    pub suppressions: Arc<crate::suppressions::Suppressions>,
    /// Router shards: cancel_sm and replace_sm go to the message's.
    pub routers: super::router::RouterShards,
    /// Ledger shards.
    pub ledgers: LedgerShards,
    /// The node's delivery actor.
    pub delivery: Addr<Delivery>,
    /// Current accounts.
    pub accounts: watch::Receiver<Arc<AccountTable>>,
    /// Current routes.
    pub routes: watch::Receiver<Arc<RouteTable>>,
    /// Hash verified for unknown system_ids (constant-time-ish failure).
    pub decoy_hash: Arc<crate::secret::Secret>,
    /// Passwords argon2 has already accepted.
    pub verified: Arc<VerifiedCache>,
    /// Idle limit.
    pub inactivity: Duration,
    /// Outstanding deliver_sm per bind.
    pub window: usize,
    /// submit_sm being stored at once per bind.
    pub max_pending: usize,
    /// Carrier queue depths: submits for a backlogged carrier are taken more slowly.
    pub backlogs: Backlogs,
    /// A connection not bound within this is closed.
    pub bind_timeout: Duration,
    /// Failed binds by peer address, and the addresses locked out.
    pub lockout: Arc<std::sync::Mutex<Lockout>>,
    /// The running carriers: whether a route's carrier joins long messages by UDH only.
    pub carriers: super::carrier::CarrierSet,
    /// Concatenation references of the messages tern splits (shared with the customer API,
    /// so two long messages to one handset rarely share one).
    pub references: Arc<std::sync::atomic::AtomicU16>,
}

/// How long a session the ESME unbound stays open for the ESME to close it first.
const UNBIND_LINGER: Duration = Duration::from_millis(500);

/// How often held-back submits are looked at again.
const HOLD_STEP: Duration = Duration::from_millis(2);
/// Longest a submit is held back for a backlogged carrier; then it is taken whatever the
/// backlog (the carrier's queue has a hard limit of its own), so an ESME is slowed down,
/// never stalled.
const MAX_HOLD: Duration = Duration::from_secs(1);

/// A submit's sequence number and the response it is answered with: submit_sm_resp,
/// data_sm_resp for a data_sm (taken as a submit), or, for one destination of a
/// submit_multi, its place in the submit_multi_resp (the key of its [`MultiAnswer`] and the
/// destination's index).
#[derive(Debug, Clone, Copy)]
struct Asked {
    seq: u32,
    resp: CommandId,
    multi: Option<(u64, usize)>,
}

impl Asked {
    fn submit_sm(seq: u32) -> Asked {
        Asked {
            seq,
            resp: CommandId::SubmitSmResp,
            multi: None,
        }
    }
}

/// A submit checked and ready for the ledger, held back while its carrier is backlogged.
struct HeldSubmit {
    asked: Asked,
    /// When it was read.
    t0: Instant,
    accept: ToLedger,
    route: Arc<RouteEntry>,
}

/// What a checked submit asks of the ledger: one message, or the UDH parts tern split a
/// long message_payload into for a carrier that joins parts by UDH only.
enum ToLedger {
    One(Accept),
    Parts(AcceptParts),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Transmitter,
    Receiver,
    Transceiver,
}

enum BindState {
    Open,
    Binding,
    Bound {
        account: Arc<Account>,
        mode: Mode,
        bind_id: u64,
    },
}

type Inbound = Result<Frame, DecodeError>;

/// Concurrent argon2 checks, node-wide.
static BIND_CHECKS: std::sync::LazyLock<Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| {
        Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        ))
    });

/// How long a deliver_sm may go unanswered before it is retried elsewhere.
const DELIVER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the session waits for a stuck client to read before it drops the connection.
const WRITE_STALL: Duration = Duration::from_secs(10);

/// One ESME connection.
pub struct EsmeSession {
    peer: SocketAddr,
    env: SessionEnv,
    tx: mpsc::Sender<Command>,
    state: BindState,
    last_rx: Instant,
    /// Submits with the ledger, by the tag of their answer: (sequence number, when read).
    pending: FastMap<u64, (Asked, Instant)>,
    /// submit_multi being answered, by key.
    multis: FastMap<u64, MultiAnswer>,
    /// cancel_sm and replace_sm being answered, by tag: their sequence number, response
    /// and the status of a failure.
    changes: FastMap<u64, (u32, CommandId, CommandStatus)>,
    /// The tag of the next submit handed to the ledger.
    next_tag: u64,
    seq: u32,
    /// deliver_sm sequence number → (tern id of the receipt, when it was sent)
    outstanding: FastMap<u32, (String, Instant)>,
    closing: bool,
    /// submit_sm accepted on this bind (shown by `GET /sessions`).
    submits: Arc<std::sync::atomic::AtomicU64>,
    /// `tern_submit_total{status="ESME_ROK"}` of the bound account, registered at bind.
    submit_ok: Option<metrics::Counter>,
    /// `tern_submit_latency_seconds`.
    latency: metrics::Histogram,
    /// Submits held back while their carrier is backlogged, in the order they came: the
    /// ESME's submit_sm_resp waits, so its own window slows it down (flow control).
    held: VecDeque<HeldSubmit>,
    /// A look at `held` is scheduled.
    held_wake: bool,
    /// Delivery has been told this bind is gone.
    released: bool,
    /// This connection's place under `max_connections`, given back when the session ends.
    _slot: ConnectionSlot,
}

impl EsmeSession {
    /// A session writing through `tx`.
    pub fn new(
        peer: SocketAddr,
        env: SessionEnv,
        tx: mpsc::Sender<Command>,
        slot: ConnectionSlot,
    ) -> Self {
        EsmeSession {
            peer,
            env,
            tx,
            state: BindState::Open,
            last_rx: Instant::now(),
            pending: FastMap::default(),
            multis: FastMap::default(),
            changes: FastMap::default(),
            next_tag: 1,
            seq: 0,
            outstanding: FastMap::default(),
            closing: false,
            submit_ok: None,
            submits: Arc::default(),
            latency: metrics::histogram!("tern_submit_latency_seconds"),
            held: VecDeque::new(),
            held_wake: false,
            released: false,
            _slot: slot,
        }
    }

    fn write(&mut self, c: Command, ctx: &mut Context<Self>) {
        match self.tx.try_send(c) {
            Ok(()) => {}
            Err(TrySendError::Full(c)) => {
                // The client is not reading. Stop reading from it too (ctx.wait pauses the
                // whole actor), and give up on it if the queue does not drain in time.
                let tx = self.tx.clone();
                ctx.wait(
                    async move { tokio::time::timeout(WRITE_STALL, tx.send(c)).await }.into_actor(self).map(
                        |r, act, ctx| {
                            if !matches!(r, Ok(Ok(()))) {
                                tracing::warn!(peer = %act.peer, "ESME not reading; connection dropped");
                                ctx.stop();
                            }
                        },
                    ),
                );
            }
            Err(TrySendError::Closed(_)) => ctx.stop(),
        }
    }

    fn account_name(&self) -> &str {
        match &self.state {
            BindState::Bound { account, .. } => &account.system_id,
            _ => "",
        }
    }

    fn on_bind(&mut self, cmd: &Command, mode: Mode, ctx: &mut Context<Self>) {
        let seq = cmd.sequence_number();
        let resp_id = cmd.id().matching_response();
        if !matches!(self.state, BindState::Open) {
            return self.write(
                pdu::error_resp(resp_id, CommandStatus::EsmeRalybnd, seq),
                ctx,
            );
        }
        let (system_id, password) = match cmd.pdu() {
            Some(Pdu::BindTransmitter(b)) => (b.system_id.to_string(), b.password.to_string()),
            Some(Pdu::BindReceiver(b)) => (b.system_id.to_string(), b.password.to_string()),
            Some(Pdu::BindTransceiver(b)) => (b.system_id.to_string(), b.password.to_string()),
            _ => return,
        };
        let ip = self.peer.ip();
        let locked = self
            .env
            .lockout
            .lock()
            .map(|l| l.locked(ip, now_ms()))
            .unwrap_or(false);
        if locked {
            // refused before any password check: guessing costs tern nothing
            metrics::counter!("tern_bind_failures_total", "reason" => "locked_out").increment(1);
            tracing::info!(peer = %self.peer, %system_id, "bind refused: address locked out");
            return self.write(
                pdu::error_resp(resp_id, CommandStatus::EsmeRbindfail, seq),
                ctx,
            );
        }
        self.state = BindState::Binding;
        let account = self.env.accounts.borrow().get(&system_id).cloned();
        let hash = account
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| (*self.env.decoy_hash).clone());
        // at most one password check per core at a time: a bind flood cannot exhaust memory
        // (argon2 takes ~19 MiB per check) or starve the blocking pool
        let permit = BIND_CHECKS.clone();
        let verified = self.env.verified.clone();
        let known = account.is_some() && verified.is_verified(&system_id, &password, hash.expose());
        let sid = system_id.clone();
        let lockout = self.env.lockout.clone();
        // Some(right password?), or None when the address got locked out while this bind
        // waited for its check: binds queued at once get no more guesses than one by one
        let verify = async move {
            if known {
                return Ok(Some(true));
            }
            let _p = permit.acquire_owned().await;
            if lockout.lock().is_ok_and(|l| l.locked(ip, now_ms())) {
                return Ok(None);
            }
            tokio::task::spawn_blocking(move || {
                // binds that queued behind the first check of the same password find it here
                if verified.is_verified(&sid, &password, hash.expose()) {
                    return true;
                }
                let ok = verify_password(&password, hash.expose());
                if ok {
                    verified.remember(&sid, &password, hash.expose());
                }
                ok
            })
            .await
            .map(Some)
        };
        let delivery = self.env.delivery.clone();
        let addr = ctx.address();
        let window = self.env.window;
        let info = SessionInfo {
            bind_type: match mode {
                Mode::Transmitter => "transmitter",
                Mode::Receiver => "receiver",
                Mode::Transceiver => "transceiver",
            },
            peer: self.peer.to_string(),
            since_ms: now_ms(),
            submits: self.submits.clone(),
        };
        let fut = async move {
            let ok = match verify.await {
                Ok(Some(ok)) => ok,
                Ok(None) => return Err((CommandStatus::EsmeRbindfail, "locked_out")),
                Err(_) => false,
            };
            let Some(account) = account.filter(|_| ok) else {
                return Err((CommandStatus::EsmeRinvpaswd, "credentials"));
            };
            // checked once the password is right: a wrong one says nothing of the address
            if !account.allowed_ips.allows(ip) {
                return Err((CommandStatus::EsmeRbindfail, "ip_not_allowed"));
            }
            let reg = RegisterBind {
                account: account.system_id.clone(),
                max_binds: account.max_binds,
                receiver: mode != Mode::Transmitter,
                window,
                addr,
                info,
            };
            match delivery.send(reg).await {
                Ok(Ok(bind_id)) => Ok((account, bind_id)),
                _ => Err((CommandStatus::EsmeRbindfail, "max_binds")),
            }
        };
        // ctx.wait: no other PDU of this session is handled until the bind is decided
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok((account, bind_id)) if !act.env.accounts.borrow().contains_key(&account.system_id) => {
                // deleted while its password was being checked
                act.env.delivery.do_send(UnregisterBind {
                    account: account.system_id.clone(),
                    bind_id,
                });
                act.write(pdu::error_resp(resp_id, CommandStatus::EsmeRinvpaswd, seq), ctx);
            }
            Ok((account, bind_id)) => {
                tracing::info!(peer = %act.peer, system_id = %account.system_id, ?mode, "ESME bound");
                if let Ok(mut l) = act.env.lockout.lock() {
                    l.succeeded(ip, now_ms());
                }
                act.submit_ok = Some(metrics::counter!("tern_submit_total", "account" => account.system_id.clone(), "status" => "ESME_ROK"));
                act.state = BindState::Bound { account, mode, bind_id };
                let sid = COctetString::from_static_slice(b"tern\0").unwrap_or_default();
                let resp = match mode {
                    Mode::Transmitter => Command::new(CommandStatus::EsmeRok, seq, BindTransmitterResp::builder().system_id(sid).build()),
                    Mode::Receiver => Command::new(CommandStatus::EsmeRok, seq, BindReceiverResp::builder().system_id(sid).build()),
                    Mode::Transceiver => Command::new(CommandStatus::EsmeRok, seq, BindTransceiverResp::builder().system_id(sid).build()),
                };
                act.write(resp, ctx);
            }
            Err((status, reason)) => {
                metrics::counter!("tern_bind_failures_total", "reason" => reason).increment(1);
                tracing::info!(peer = %act.peer, %system_id, status = crate::protocol::status::name(u32::from(status)), reason, "bind refused");
                // a full account is no sign of guessing: only the others count
                if !matches!(reason, "max_binds" | "locked_out")
                    && act.env.lockout.lock().is_ok_and(|mut l| l.failed(ip, now_ms()))
                {
                    tracing::warn!(peer = %act.peer, "too many failed binds: address locked out");
                }
                act.state = BindState::Open;
                act.write(pdu::error_resp(resp_id, status, seq), ctx);
            }
        }));
    }

    /// Tells Delivery this bind is gone, once: it sends the bind's unanswered receipts again
    /// on another bind of the account, and the bind stops counting against max_binds.
    fn release_bind(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        self.outstanding.clear();
        if let BindState::Bound {
            account, bind_id, ..
        } = &self.state
        {
            self.env.delivery.do_send(UnregisterBind {
                account: account.system_id.clone(),
                bind_id: *bind_id,
            });
            tracing::info!(peer = %self.peer, system_id = %account.system_id, "ESME unbound");
        }
    }

    fn on_command(&mut self, cmd: Command, ctx: &mut Context<Self>) {
        let seq = cmd.sequence_number();
        let id = cmd.id();
        match id {
            CommandId::BindTransmitter => self.on_bind(&cmd, Mode::Transmitter, ctx),
            CommandId::BindReceiver => self.on_bind(&cmd, Mode::Receiver, ctx),
            CommandId::BindTransceiver => self.on_bind(&cmd, Mode::Transceiver, ctx),
            CommandId::EnquireLink => self.write(
                Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp),
                ctx,
            ),
            CommandId::Unbind if !matches!(self.state, BindState::Bound { .. }) => self.write(
                pdu::error_resp(CommandId::UnbindResp, CommandStatus::EsmeRinvbndsts, seq),
                ctx,
            ),
            CommandId::Unbind => {
                self.refuse_held(ctx);
                self.write(
                    Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp),
                    ctx,
                );
                // The bind ends now (Delivery sends its unanswered receipts elsewhere, and it
                // no longer counts against max_binds), but the connection stays open until
                // the ESME closes it: closing first, with PDUs it sent meanwhile (answers to
                // receipts) unread, would reset the connection and could lose the
                // unbind_resp on its way.
                self.release_bind();
                self.closing = true;
                ctx.run_later(UNBIND_LINGER, |_, ctx| ctx.stop());
            }
            CommandId::UnbindResp => ctx.stop(),
            CommandId::SubmitSm => self.on_submit(cmd, Instant::now(), ctx),
            CommandId::DataSm => self.on_data_sm(cmd, Instant::now(), ctx),
            CommandId::SubmitMulti => self.on_submit_multi(cmd, Instant::now(), ctx),
            CommandId::QuerySm => self.on_query(&cmd, ctx),
            CommandId::CancelSm | CommandId::ReplaceSm => self.on_change(&cmd, ctx),
            CommandId::DeliverSmResp => self.on_deliver_sm_resp(seq, u32::from(cmd.status()), ctx),
            CommandId::GenericNack => {
                self.on_deliver_sm_resp(seq, u32::from(cmd.status()).max(1), ctx)
            }
            id if id.is_response() => {}
            CommandId::Other(_) => {
                self.write(pdu::generic_nack(CommandStatus::EsmeRinvcmdid, seq), ctx)
            }
            id if !matches!(self.state, BindState::Bound { .. }) => self.write(
                pdu::error_resp(id.matching_response(), CommandStatus::EsmeRinvbndsts, seq),
                ctx,
            ),
            // submit_multi, cancel_sm, replace_sm, …: not offered yet
            id => self.write(
                pdu::error_resp(id.matching_response(), CommandStatus::EsmeRinvcmdid, seq),
                ctx,
            ),
        }
    }

    fn on_deliver_sm_resp(&mut self, seq: u32, status: u32, _ctx: &mut Context<Self>) {
        let Some((receipt, _)) = self.outstanding.remove(&seq) else {
            return;
        };
        let outcome = if status == 0 {
            DeliverSmOutcome::Acked
        } else {
            DeliverSmOutcome::Refused
        };
        self.done(receipt, outcome);
    }

    fn done(&self, id: String, outcome: DeliverSmOutcome) {
        if let BindState::Bound {
            account, bind_id, ..
        } = &self.state
        {
            self.env.delivery.do_send(DeliverSmDone {
                account: account.system_id.clone(),
                bind_id: *bind_id,
                id,
                outcome,
            });
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if now.duration_since(self.last_rx) > self.env.inactivity && !self.closing {
            tracing::info!(peer = %self.peer, "ESME inactive; unbinding");
            self.closing = true;
            let seq = self.next_seq();
            self.write(Command::new(CommandStatus::EsmeRok, seq, Pdu::Unbind), ctx);
            ctx.run_later(Duration::from_secs(2), |_, ctx| ctx.stop());
        }
        let late: Vec<u32> = self
            .outstanding
            .iter()
            .filter(|(_, (_, t))| now.duration_since(*t) > DELIVER_TIMEOUT)
            .map(|(s, _)| *s)
            .collect();
        for s in late {
            if let Some((r, _)) = self.outstanding.remove(&s) {
                self.done(r, DeliverSmOutcome::TimedOut);
            }
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = if self.seq >= 0x7FFF_FFFF {
            1
        } else {
            self.seq + 1
        };
        self.seq
    }
}

impl Actor for EsmeSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        ctx.run_interval(Duration::from_secs(1), |act, ctx| act.tick(ctx));
        ctx.run_later(self.env.bind_timeout, |act, ctx| {
            if !matches!(act.state, BindState::Bound { .. }) && !act.closing {
                metrics::counter!("tern_bind_failures_total", "reason" => "bind_timeout")
                    .increment(1);
                tracing::info!(peer = %act.peer, "not bound in time; connection closed");
                ctx.stop();
            }
        });
        tracing::debug!(peer = %self.peer, "ESME connected");
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.release_bind();
    }
}

impl Restart for EsmeSession {
    const NAME: &'static str = "esme_session";

    /// A crashed session closes: its bind is released (`stopped`), submits it had sent to
    /// the ledger still end stored or refused, and the ESME binds again.
    fn restart(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl StreamHandler<Inbound> for EsmeSession {
    fn handle(&mut self, item: Inbound, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            this.last_rx = Instant::now();
            match item {
                Ok(Ok(cmd)) => this.on_command(cmd, ctx),
                Ok(Err(bad)) => {
                    tracing::debug!(peer = %this.peer, command_id = bad.command_id, error = %bad.error, "malformed PDU");
                    let bind = match this.state {
                        BindState::Bound {
                            mode: Mode::Receiver,
                            ..
                        } => BindView::Receiver,
                        BindState::Bound { .. } => BindView::Sender,
                        _ => BindView::Unbound,
                    };
                    let seq = bad.sequence_number;
                    match malformed::answer(&bad, bind) {
                        Malformed::FailedDeliverSmResp => this.on_deliver_sm_resp(seq, 1, ctx),
                        Malformed::Ignore => {}
                        Malformed::GenericNack(status) => {
                            this.write(pdu::generic_nack(status, seq), ctx)
                        }
                        Malformed::RefuseSubmit(status) => {
                            this.refuse_submit(Asked::submit_sm(seq), status, ctx)
                        }
                        Malformed::ErrorResp(resp, status) => {
                            this.write(pdu::error_resp(resp, status, seq), ctx)
                        }
                    }
                }
                // the ESME closed or reset its socket: a disconnect, not a protocol error
                Err(DecodeError::Io(e)) => {
                    tracing::info!(peer = %this.peer, error = %e, "ESME disconnected");
                    ctx.stop();
                }
                Err(e) => {
                    tracing::info!(peer = %this.peer, error = %e, "unrecoverable framing error; closing");
                    this.write(pdu::generic_nack(CommandStatus::EsmeRinvcmdlen, 0), ctx);
                    ctx.stop();
                }
            }
        });
    }
}

impl Handler<SendDeliverSm> for EsmeSession {
    type Result = ();
    fn handle(&mut self, m: SendDeliverSm, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            if this.released {
                // sent before Delivery heard of the unbind: it sends it again elsewhere
                return;
            }
            let seq = this.next_seq();
            let (id, cmd) = match m.item {
                Outgoing::Receipt(r) => {
                    let text = format_receipt(&r.id, r.stat, &r.err, r.submit_ms, r.done_ms);
                    tracing::debug!(peer = %this.peer, id = %r.id, to = %redact(&r.to), "receipt to ESME");
                    let cmd = pdu::receipt_deliver_sm(
                        seq, &r.id, &r.from, &r.to, r.to_ton, r.to_npi, r.stat, text,
                    );
                    (r.id, cmd)
                }
                Outgoing::Mo(mo) => {
                    tracing::debug!(peer = %this.peer, id = %mo.id, from = %redact(&mo.from), "MO to ESME");
                    match crate::protocol::mo::to_esme(&mo.pdu, seq) {
                        Some(cmd) => (mo.id, cmd),
                        None => {
                            // a stored MO that is no deliver_sm any more: refused, so it is
                            // dropped after the attempts any refusal gets
                            tracing::error!(id = %mo.id, "stored MO unreadable");
                            return this.done(mo.id, DeliverSmOutcome::Refused);
                        }
                    }
                }
            };
            this.outstanding.insert(seq, (id, Instant::now()));
            this.write(cmd, ctx);
        });
    }
}

impl Handler<Unbind> for EsmeSession {
    type Result = ();
    fn handle(&mut self, _: Unbind, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            if !this.closing {
                this.closing = true;
                this.refuse_held(ctx);
                let seq = this.next_seq();
                this.write(Command::new(CommandStatus::EsmeRok, seq, Pdu::Unbind), ctx);
                ctx.run_later(Duration::from_millis(500), |_, ctx| ctx.stop());
            }
        });
    }
}
