//! `CarrierSession`: one TRX bind to an upstream carrier, run under an actix `Supervisor`.
//!
//! It connects, binds, keeps a window of outstanding submit_sm (the `Carrier` hands it no
//! more than the window), sends enquire_link on a timer, times out unanswered submits (and
//! drops the bind when the carrier has sent nothing at all for as long: a hung SMSC), and
//! passes receipts to the `DlrCorrelator` and MO to the `MoRouter`, answering the carrier's
//! deliver_sm only once the receipt or MO is durable. It hands them on a window at a time
//! (`protocol::deliver_window`), so a burst of receipts is stored a little at a time. On
//! any failure it returns its in-flight messages to the carrier and stops; the supervisor
//! restarts it after an exponential backoff with jitter (max 60 s).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rusmpp::pdus::{BindTransceiver, DeliverSmResp};
use rusmpp::tlvs::TlvValue;
use rusmpp::tokio_codec::DecodeError;
use rusmpp::types::COctetString;
use rusmpp::values::InterfaceVersion;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

use crate::config::{CarrierConfig, Concatenation};
use crate::domain::backoff::Backoff;
use crate::domain::dlr::{Receipt, hex_id_as_decimal};
use crate::protocol::codec::{Frame, SmppCodec};
use crate::protocol::deliver_window::{DeliverWindow, READ_AHEAD};
use crate::protocol::pdu;
use crate::protocol::writer::{WRITE_QUEUE, spawn_abortable_writer};
use tokio::task::AbortHandle;

use super::carrier::{Carrier, CarrierSubmit, SessionDown, SessionUp, SubmitDone, SubmitResult};
use super::dlr_correlator::{CarrierReceipt, CorrelatorShards, ReceiptStored, Register};
use super::mo_router::CarrierMo;
use super::supervise::{Restart, guard};
use super::{Answer, FastMap, ReplyTo};

/// Unbind from the carrier and do not bind again (the node is stopping, or an operator
/// stopped the carrier) until [`OpenBind`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseBind;

/// Bind again after a [`CloseBind`] (an operator started the carrier).
#[derive(Message)]
#[rtype(result = "()")]
pub struct OpenBind;

/// Send one message on this bind (from the `Carrier`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionSubmit {
    /// The message.
    pub job: CarrierSubmit,
}

type Inbound = Result<Frame, DecodeError>;

/// Where what a carrier sends goes: receipts to the correlator shards, MO to the MO router.
#[derive(Clone)]
pub struct Incoming {
    /// The DLR correlators.
    pub correlators: CorrelatorShards,
    /// The MO router.
    pub mo: Recipient<CarrierMo>,
}

/// The carrier connection's read side: a TCP socket's or a TLS stream's.
type ReadHalf = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
/// Its write side.
type WriteHalf = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

/// How long a connect, and then a TLS handshake, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One carrier bind.
pub struct CarrierSession {
    idx: usize,
    cfg: Arc<CarrierConfig>,
    carrier: Addr<Carrier>,
    correlators: CorrelatorShards,
    mo: Recipient<CarrierMo>,
    backoff: Backoff,
    delay: Duration,
    tx: Option<mpsc::Sender<Command>>,
    /// Ends the writer task at once (dropping what it still holds).
    writer: Option<AbortHandle>,
    /// This connection's failure is reported: a read error and the end of the stream
    /// that follows it are one failure, not two.
    failed: bool,
    /// The enquire_link in flight was sent because submits went unanswered in silence.
    suspect_hung: bool,
    /// Closing for good (the node stops): its end is no failure and it binds no more.
    closing: bool,
    /// Counts connections: a receipt stored after its connection is gone is not answered
    /// on the next one (the carrier sends it again there).
    conn: u32,
    /// This connection's deliver_sm handed on to be stored, and those read beyond the
    /// window, waiting in order.
    window: DeliverWindow<Command>,
    bound: bool,
    seq: u32,
    inflight: FastMap<u32, (CarrierSubmit, Instant)>,
    enquire_sent: Option<Instant>,
    last_enquire: Instant,
    /// When the carrier last sent anything.
    last_rx: Instant,
    /// Commands waiting for room in the writer's queue, in order.
    overflow: VecDeque<Command>,
    /// A retry of the overflow is scheduled.
    drain_scheduled: bool,
    /// The TLS client, once built (`tls = true` carriers).
    tls: Option<Result<tokio_rustls::TlsConnector, String>>,
}

/// Commands a bind holds back for a carrier that is slow to read before it gives up.
const MAX_OVERFLOW: usize = 65_536;

impl CarrierSession {
    /// Session `idx` of a carrier.
    pub fn new(
        idx: usize,
        cfg: Arc<CarrierConfig>,
        carrier: Addr<Carrier>,
        incoming: Incoming,
    ) -> Self {
        CarrierSession {
            idx,
            cfg,
            carrier,
            correlators: incoming.correlators,
            mo: incoming.mo,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(60)),
            delay: Duration::ZERO,
            tx: None,
            writer: None,
            failed: false,
            suspect_hung: false,
            closing: false,
            conn: 0,
            window: DeliverWindow::new(READ_AHEAD),
            bound: false,
            seq: 0,
            inflight: FastMap::default(),
            enquire_sent: None,
            last_enquire: Instant::now(),
            last_rx: Instant::now(),
            overflow: VecDeque::new(),
            drain_scheduled: false,
            tls: None,
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

    /// Queues `c` for the socket, in order. When the writer's queue is full, `c` waits in
    /// the session's overflow and goes out as soon as there is room: nothing is dropped,
    /// a submit is not bounced to the router for a retry seconds later, and the session
    /// keeps reading (stopping would deadlock with a carrier that itself stops reading
    /// while its writes to tern block). A carrier that reads nothing at all is dropped by
    /// the writer's stall timeout, or here once the overflow holds [`MAX_OVERFLOW`].
    /// False only when there is no connection.
    fn send(&mut self, c: Command, ctx: &mut Context<Self>) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        if self.overflow.is_empty() {
            // the usual case: straight into the writer's queue
            match tx.try_send(c) {
                Ok(()) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
                Err(mpsc::error::TrySendError::Full(c)) => self.overflow.push_back(c),
            }
        } else {
            self.overflow.push_back(c);
        }
        self.drain_overflow(ctx)
    }

    /// Moves what fits from the overflow into the writer's queue; schedules another try
    /// while something is left. False when the connection is gone.
    fn drain_overflow(&mut self, ctx: &mut Context<Self>) -> bool {
        let Some(tx) = &self.tx else {
            self.overflow.clear();
            return false;
        };
        while let Some(c) = self.overflow.pop_front() {
            match tx.try_send(c) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(c)) => {
                    self.overflow.push_front(c);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.overflow.clear();
                    return false;
                }
            }
        }
        if self.overflow.len() > MAX_OVERFLOW {
            self.fail("carrier not reading its socket", ctx);
            return false;
        }
        if !self.overflow.is_empty() && !self.drain_scheduled {
            self.drain_scheduled = true;
            ctx.run_later(Duration::from_millis(2), |act, ctx| {
                act.drain_scheduled = false;
                guard(act, ctx, |act, ctx| act.drain_overflow(ctx));
            });
        }
        true
    }

    /// Gives everything in flight back, and stops; the supervisor restarts after a backoff.
    fn fail(&mut self, why: &str, ctx: &mut Context<Self>) {
        if std::mem::replace(&mut self.failed, true) {
            return ctx.stop();
        }
        if self.closing && self.inflight.is_empty() {
            tracing::debug!(carrier = %self.cfg.id, bind = self.idx, "carrier bind closed");
            self.carrier.do_send(SessionDown {
                idx: self.idx,
                returned: Vec::new(),
                was_bound: self.bound,
            });
            self.bound = false;
            self.tx = None;
            self.window = DeliverWindow::new(READ_AHEAD);
            return ctx.stop();
        }
        tracing::warn!(carrier = %self.cfg.id, bind = self.idx, reason = why, "carrier session failed");
        let returned: Vec<CarrierSubmit> = self.inflight.drain().map(|(_, (j, _))| j).collect();
        if let Some(w) = self.writer.take()
            && !returned.is_empty()
        {
            // what it still holds of them must not go out once they are routed again
            w.abort();
        }
        self.carrier.do_send(SessionDown {
            idx: self.idx,
            returned,
            was_bound: self.bound,
        });
        self.bound = false;
        self.tx = None;
        self.overflow.clear();
        // unanswered: the carrier sends them again on the next bind
        self.window = DeliverWindow::new(READ_AHEAD);
        self.delay = self.backoff.next_delay(rand::random::<f64>());
        ctx.stop();
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        let addr = format!("{}:{}", self.cfg.host, self.cfg.port);
        let tls = if self.cfg.tls {
            let name = crate::protocol::tls::server_name(&self.cfg.host);
            match (self.tls_connector(), name) {
                (Ok(c), Ok(name)) => Some((c, name)),
                (Err(e), _) | (_, Err(e)) => return self.fail(&format!("tls: {e}"), ctx),
            }
        } else {
            None
        };
        let fut = async move {
            let sock = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
                .await
                .map_err(|_| "connect timed out".to_string())?
                .map_err(|e| format!("connect: {e}"))?;
            let _ = sock.set_nodelay(true);
            let Some((connector, name)) = tls else {
                let (r, w) = sock.into_split();
                return Ok::<_, String>((Box::new(r) as ReadHalf, Box::new(w) as WriteHalf));
            };
            let s = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, sock))
                .await
                .map_err(|_| "TLS handshake timed out".to_string())?
                .map_err(|e| format!("TLS handshake: {e}"))?;
            let (r, w) = tokio::io::split(s);
            Ok((Box::new(r) as ReadHalf, Box::new(w) as WriteHalf))
        };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| {
            guard(act, ctx, |act, ctx| match res {
                Ok((r, w)) => act.on_connected(r, w, ctx),
                Err(e) => act.fail(&e, ctx),
            });
        }));
    }

    /// The TLS client for this carrier, built once (reading the system's roots or its CA
    /// file).
    fn tls_connector(&mut self) -> Result<tokio_rustls::TlsConnector, String> {
        if self.tls.is_none() {
            self.tls = Some(crate::protocol::tls::connector(
                self.cfg.tls_ca_file.as_deref(),
            ));
        }
        self.tls
            .clone()
            .unwrap_or_else(|| Err("no TLS client".into()))
    }

    fn on_connected(&mut self, r: ReadHalf, w: WriteHalf, ctx: &mut Context<Self>) {
        self.conn = self.conn.wrapping_add(1);
        self.window = DeliverWindow::new(READ_AHEAD);
        ctx.add_stream(self.window.gate(FramedRead::new(r, SmppCodec::default())));
        // room for the whole window of submits plus the responses tern owes the carrier, so
        // a submit is never refused by tern's own queue while the window has credit
        let (tx, writer) = spawn_abortable_writer(w, self.cfg.window + WRITE_QUEUE);
        (self.tx, self.writer) = (Some(tx), Some(writer));
        let (Ok(system_id), Ok(password)) = (
            COctetString::from_string(self.cfg.system_id.clone()),
            COctetString::from_string(self.cfg.password.expose().to_string()),
        ) else {
            return self.fail("system_id/password not representable", ctx);
        };
        let bind = BindTransceiver::builder()
            .system_id(system_id)
            .password(password)
            .interface_version(InterfaceVersion::Smpp3_4)
            .build();
        let seq = self.next_seq();
        self.send(Command::new(CommandStatus::EsmeRok, seq, bind), ctx);
        ctx.run_later(
            Duration::from_secs(self.cfg.response_timeout_s),
            |act, ctx| {
                if !act.bound {
                    act.fail("no bind_transceiver_resp", ctx);
                }
            },
        );
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if !self.bound {
            return;
        }
        let now = Instant::now();
        let rt = Duration::from_secs(self.cfg.response_timeout_s);
        if self.window.stopped() {
            // tern stopped reading while its own store has yet to take the receipts it read:
            // what the carrier answered meanwhile may wait unread in the socket, so nothing
            // it owes is overdue and its silence says nothing
            self.last_rx = now;
            for (_, deadline) in self.inflight.values_mut() {
                *deadline = (*deadline).max(now + rt);
            }
            if self.enquire_sent.is_some() {
                self.enquire_sent = Some(now);
            }
            return;
        }
        // submits unanswered and not a byte from the carrier meanwhile: it hangs
        let silent = now.duration_since(self.last_rx) > rt;
        let expired: Vec<u32> = self
            .inflight
            .iter()
            .filter(|(_, (_, d))| *d <= now)
            .map(|(s, _)| *s)
            .collect();
        let expired_any = !expired.is_empty();
        for s in expired {
            if let Some((job, _)) = self.inflight.remove(&s) {
                self.carrier.do_send(SubmitDone {
                    idx: self.idx,
                    job,
                    result: SubmitResult::Timeout,
                });
            }
        }
        if let Some(sent) = self.enquire_sent {
            if now.duration_since(sent) > rt {
                let why = if self.suspect_hung {
                    "carrier stopped answering"
                } else {
                    "enquire_link unanswered"
                };
                self.fail(why, ctx)
            }
        } else if (silent && expired_any)
            || now.duration_since(self.last_enquire) >= Duration::from_secs(self.cfg.enquire_link_s)
        {
            // submits unanswered in silence: ask whether it is there at all before
            // dropping a bind that may only have been slow
            self.suspect_hung = silent && expired_any;
            let seq = self.next_seq();
            self.send(
                Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLink),
                ctx,
            );
            self.enquire_sent = Some(now);
            self.last_enquire = now;
        }
    }

    /// Hands on the deliver_sm waiting, in order, while the window has room: a receipt to
    /// its correlator, an MO to the MO router (each answered by a [`ReceiptStored`] once
    /// durable), or answers one at once. As many go to be stored at once as submits are in
    /// flight to the carrier (within `DELIVER_WINDOW`).
    fn hand_on(&mut self, ctx: &mut Context<Self>) {
        // once the connection is gone none is handed on: the carrier sends them again
        while self.tx.is_some()
            && let Some(cmd) = self.window.next(self.inflight.len())
        {
            if !self.on_deliver_sm(cmd, ctx) {
                self.window.answered();
            }
        }
    }

    /// One deliver_sm: true when handed on, false when answered at once.
    fn on_deliver_sm(&mut self, cmd: Command, ctx: &mut Context<Self>) -> bool {
        let seq = cmd.sequence_number();
        let Some(Pdu::DeliverSm(d)) = cmd.pdu() else {
            return false;
        };
        let esm = u8::from(d.esm_class);
        let ok = Command::new(CommandStatus::EsmeRok, seq, DeliverSmResp::default());
        // answered by a ReceiptStored once the receipt or MO is durable
        let tag = (u64::from(self.conn) << 32) | u64::from(seq);
        if esm & 0x3C != 0x04 && esm & 0x3C != 0x20 {
            let Some(raw) = crate::protocol::pdu::encode(&cmd) else {
                // it was just decoded, so it encodes; should it not, the carrier tries again
                let again =
                    pdu::error_resp(CommandId::DeliverSmResp, CommandStatus::EsmeRxTAppn, seq);
                self.send(again, ctx);
                return false;
            };
            let f = crate::protocol::mo::read(d);
            self.mo.do_send(CarrierMo {
                carrier: self.cfg.id.clone(),
                from: f.from,
                to: f.to,
                data_coding: f.data_coding,
                concat: f.concat,
                text: f.text,
                pdu: raw,
                ack: ReplyTo::new(ctx.address().recipient(), tag),
            });
            return true;
        }
        let mut tlv_id = None;
        let mut tlv_state = None;
        for t in d.tlvs() {
            match t.value() {
                Some(TlvValue::ReceiptedMessageId(v)) => tlv_id = Some(v.to_string()),
                Some(TlvValue::MessageState(s)) => tlv_state = Some(u8::from(*s)),
                _ => {}
            }
        }
        let receipt = match Receipt::from_parts(
            d.short_message().as_ref(),
            tlv_id.as_deref(),
            tlv_state,
        ) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(carrier = %self.cfg.id, error = %e, "unreadable receipt acknowledged and dropped");
                metrics::counter!("tern_dlr_unreadable_total", "carrier" => self.cfg.id.clone())
                    .increment(1);
                self.send(ok, ctx);
                return false;
            }
        };
        let m = CarrierReceipt {
            carrier: self.cfg.id.clone(),
            carrier_id: receipt.id.clone(),
            stat: receipt.stat,
            err: receipt.err,
            ack: Some(ReplyTo::new(ctx.address().recipient(), tag)),
        };
        self.correlators.for_key(&receipt.id).do_send(m);
        true
    }

    /// The carrier answered the submit sent as `seq` with `status` and, when its body was
    /// readable, `message_id`. An OK answer settles the message for good, whether or not
    /// it carries an id to match the receipt by: the carrier has it, so it is never sent
    /// again (without an id it is registered under one no receipt carries, and ends
    /// EXPIRED at its TTL).
    fn on_submit_resp(&mut self, seq: u32, status: u32, message_id: Option<String>) {
        let Some((mut job, _)) = self.inflight.remove(&seq) else {
            return;
        };
        let result = match message_id {
            _ if status != 0 => SubmitResult::Refused(status),
            Some(id) if !id.is_empty() => SubmitResult::Accepted(id),
            _ => {
                tracing::warn!(carrier = %self.cfg.id, id = %job.msg.meta.id, "carrier accepted a submit without a readable message_id; its receipt cannot be matched");
                SubmitResult::Accepted(format!("no-id/{}", job.msg.meta.id))
            }
        };
        if let SubmitResult::Accepted(cid) = &result {
            // from here, not through the Carrier: this bind's receipt for the
            // message goes to the same shard after it, so it finds it registered
            let key = if self.cfg.decimal_receipt_ids {
                hex_id_as_decimal(cid).unwrap_or_else(|| cid.clone())
            } else {
                cid.clone()
            };
            self.correlators.for_key(&key).do_send(Register {
                carrier: self.cfg.id.clone(),
                carrier_id: key,
                msg: job.msg.clone(),
                retry: false,
            });
            // the carrier has it: whatever happens to the job now, never again
            job.settled = true;
        }
        self.carrier.do_send(SubmitDone {
            idx: self.idx,
            job,
            result,
        });
    }

    fn on_command(&mut self, cmd: Command, ctx: &mut Context<Self>) {
        let seq = cmd.sequence_number();
        let st = u32::from(cmd.status());
        match cmd.id() {
            CommandId::BindTransceiverResp => {
                if st == 0 {
                    self.bound = true;
                    self.backoff.reset();
                    self.last_enquire = Instant::now();
                    self.carrier.do_send(SessionUp { idx: self.idx });
                } else {
                    self.fail(
                        &format!("bind refused: {}", crate::protocol::status::name(st)),
                        ctx,
                    );
                }
            }
            CommandId::SubmitSmResp => {
                let id = match cmd.pdu() {
                    Some(Pdu::SubmitSmResp(r)) => Some(r.message_id().to_string()),
                    _ => None,
                };
                self.on_submit_resp(seq, st, id);
            }
            CommandId::DeliverSm => {
                self.window.read(cmd);
                self.hand_on(ctx);
            }
            CommandId::EnquireLink => {
                self.send(
                    Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp),
                    ctx,
                );
            }
            CommandId::EnquireLinkResp => {
                self.enquire_sent = None;
                self.suspect_hung = false;
            }
            CommandId::Unbind => {
                self.send(
                    Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp),
                    ctx,
                );
                self.fail("carrier unbound", ctx);
            }
            CommandId::GenericNack => {
                if let Some((job, _)) = self.inflight.remove(&seq) {
                    self.carrier.do_send(SubmitDone {
                        idx: self.idx,
                        job,
                        result: SubmitResult::Refused(st),
                    });
                }
            }
            id if id.is_response() => {}
            _ => {
                self.send(pdu::generic_nack(CommandStatus::EsmeRinvcmdid, seq), ctx);
            }
        }
    }
}

impl Actor for CarrierSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65_536);
        ctx.run_interval(Duration::from_secs(1), |act, ctx| {
            guard(act, ctx, |act, ctx| act.tick(ctx));
        });
        if self.closing {
            return;
        }
        ctx.run_later(self.delay, |act, ctx| act.connect(ctx));
    }
}

impl Supervised for CarrierSession {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.bound = false;
        self.tx = None;
        self.writer = None;
        self.failed = false;
        self.suspect_hung = false;
        self.inflight.clear();
        self.enquire_sent = None;
        self.overflow.clear();
        self.drain_scheduled = false;
    }
}

impl Restart for CarrierSession {
    const NAME: &'static str = "carrier_session";

    /// A crashed bind is dropped: its submits in flight go back to the carrier and the
    /// session's supervisor binds afresh.
    fn restart(&mut self, ctx: &mut Context<Self>) {
        self.fail("crashed", ctx);
    }
}

impl StreamHandler<Inbound> for CarrierSession {
    fn handle(&mut self, item: Inbound, ctx: &mut Context<Self>) {
        self.last_rx = Instant::now();
        guard(self, ctx, |this, ctx| match item {
            Ok(Ok(cmd)) => this.on_command(cmd, ctx),
            Ok(Err(bad)) => {
                tracing::warn!(carrier = %this.cfg.id, error = %bad.error, "malformed PDU from carrier");
                if CommandId::from(bad.command_id) == CommandId::SubmitSmResp {
                    // its header still says whether the carrier took the message
                    this.on_submit_resp(bad.sequence_number, bad.command_status, None);
                } else if CommandId::from(bad.command_id).is_operation() {
                    this.send(pdu::generic_nack(bad.status(), bad.sequence_number), ctx);
                }
            }
            Err(e) => this.fail(&format!("framing: {e}"), ctx),
        });
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.fail("connection closed", ctx);
    }
}

impl Handler<Answer<ReceiptStored>> for CarrierSession {
    type Result = ();
    fn handle(&mut self, a: Answer<ReceiptStored>, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            let (conn, seq) = ((a.tag >> 32) as u32, a.tag as u32);
            if conn != this.conn || this.tx.is_none() {
                return;
            }
            let reply = match a.value {
                ReceiptStored::Yes => {
                    Command::new(CommandStatus::EsmeRok, seq, DeliverSmResp::default())
                }
                // not stored: ask the carrier to send it again later
                ReceiptStored::No => {
                    pdu::error_resp(CommandId::DeliverSmResp, CommandStatus::EsmeRxTAppn, seq)
                }
            };
            this.send(reply, ctx);
            this.window.answered();
            this.hand_on(ctx);
        });
    }
}

impl Handler<CloseBind> for CarrierSession {
    type Result = ();
    fn handle(&mut self, _: CloseBind, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            this.closing = true;
            if this.bound {
                let seq = this.next_seq();
                this.send(Command::new(CommandStatus::EsmeRok, seq, Pdu::Unbind), ctx);
            } else {
                ctx.stop();
            }
        });
    }
}

impl Handler<OpenBind> for CarrierSession {
    type Result = ();
    fn handle(&mut self, _: OpenBind, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            if std::mem::replace(&mut this.closing, false) && this.tx.is_none() {
                this.failed = false;
                this.connect(ctx);
            }
        });
    }
}

impl Handler<SessionSubmit> for CarrierSession {
    type Result = ();
    fn handle(&mut self, m: SessionSubmit, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            if !this.bound {
                return this.carrier.do_send(SubmitDone {
                    idx: this.idx,
                    job: m.job,
                    result: SubmitResult::NotSent,
                });
            }
            let seq = this.next_seq();
            let sm = match this.cfg.concatenation {
                Concatenation::Udh => pdu::for_udh_carrier(&m.job.msg.sm),
                Concatenation::AsSent => None,
            };
            let cmd = pdu::forward_submit_sm(sm.unwrap_or_else(|| m.job.msg.sm.clone()), seq);
            if this.send(cmd, ctx) {
                let deadline = Instant::now() + Duration::from_secs(this.cfg.response_timeout_s);
                this.inflight.insert(seq, (m.job, deadline));
            } else {
                this.carrier.do_send(SubmitDone {
                    idx: this.idx,
                    job: m.job,
                    result: SubmitResult::NotSent,
                });
            }
        });
    }
}
