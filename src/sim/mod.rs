//! The carrier simulator: an SMSC that takes any bind, answers submit_sm with its own ids
//! and sends receipts after a delay, with faults on demand (errors, throttling, disconnects,
//! slow responses, undeliverable receipts, receipts before the submit_sm_resp, duplicate
//! receipts, decimal receipt ids, receipts in bursts, a hang, garbage bytes). Tests and the load test use it as tern's carrier; the
//! default config runs one in-process so a new user sees a receipt.
//!
//! Like a real SMSC it keeps a receipt until the ESME acknowledges it, and sends the ones a
//! dropped connection left unacknowledged again when the same system_id binds again.
//!
//! With `--control ADDR` it answers `GET /stats` there ([`control`]): how many submit_sm it
//! took and how many of them repeated a destination and text it had already taken (what a
//! crash test counts as messages sent twice); `POST /mo` there sends an MO, whole or in
//! concatenated parts. With `--mo-every K` the handset of every K-th submit answers it.

mod control;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rusmpp::pdus::{
    BindReceiverResp, BindTransceiverResp, BindTransmitterResp, DeliverSm, SubmitSm, SubmitSmResp,
};
use rusmpp::tlvs::MessageDeliveryRequestTlvValue;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{EsmClass, MessageState};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::domain::dlr::{Stat, format_receipt, hex_id_as_decimal};
use crate::domain::message::now_ms;
use crate::protocol::codec::SmppCodec;
use crate::protocol::pdu;

/// Simulator behaviour; also the flags of `tern sim`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SimConfig {
    /// Delay between submit_sm_resp and the receipt (0: right behind the resp).
    #[arg(long, default_value_t = 100)]
    pub dlr_delay_ms: u64,
    /// Release receipts in bursts, at multiples of this many ms (0: each when it is due),
    /// as carriers that batch their receipts do.
    #[arg(long, default_value_t = 0)]
    pub dlr_burst_ms: u64,
    /// Fraction of submit_sm refused with --fail-status.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// command_status for refused submits (default 0x45 ESME_RSUBMITFAIL, permanent).
    #[arg(long, default_value = "0x45", value_parser = parse_status)]
    pub fail_status: u32,
    /// Every K-th submit_sm answered ESME_RTHROTTLED (0: never).
    #[arg(long, default_value_t = 0)]
    pub throttle_every: u64,
    /// Drop the connection after every N-th submit_sm (0: never).
    #[arg(long, default_value_t = 0)]
    pub disconnect_every: u64,
    /// Delay before each submit_sm_resp.
    #[arg(long, default_value_t = 0)]
    pub response_delay_ms: u64,
    /// Fraction of receipts that say UNDELIV.
    #[arg(long, default_value_t = 0.0)]
    pub undeliverable_rate: f64,
    /// Send each receipt before its submit_sm_resp: on the same connection when it is a
    /// transceiver, else on a receiver bind, with the resp held back 200 ms.
    #[arg(long)]
    pub dlr_before_resp: bool,
    /// Send every receipt twice.
    #[arg(long)]
    pub duplicate_dlr: bool,
    /// Receipts name the message by the decimal rendering of its hex id.
    #[arg(long)]
    pub decimal_receipt_ids: bool,
    /// After this many submit_sm in all, answer nothing more on any connection (0: not
    /// even the bind): a hung SMSC that keeps its sockets open.
    #[arg(long)]
    pub hang_after: Option<u64>,
    /// Answer whatever comes with bytes that are not SMPP.
    #[arg(long)]
    pub garbage: bool,
    /// Accept submits with an empty message_id (and send no receipt).
    #[arg(long)]
    pub no_message_id: bool,
    /// Serve `GET /stats` (JSON counts of submits and repeats) and `POST /mo` (send an
    /// MO) on this address.
    #[arg(long)]
    pub control: Option<String>,
    /// The handset of every K-th submit_sm answers it with an MO to its sender (0: never;
    /// 10: MO at 10% of the messages sent).
    #[arg(long, default_value_t = 0)]
    pub mo_every: u64,
    /// Speak SMPP over TLS with this PEM certificate chain (and --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

/// Parses a command_status given in hex (`0x45`) or decimal.
fn parse_status(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s:?}: {e}"))
}

/// What goes to a bound client besides responses: a receipt, or a handset's MO.
#[derive(Debug, Clone)]
enum ToClient {
    Receipt(PendingReceipt),
    Mo(Box<DeliverSm>),
}

impl ToClient {
    fn pdu(&self, seq: u32, decimal: bool) -> Command {
        match self {
            ToClient::Receipt(r) => receipt_pdu(seq, r, decimal),
            ToClient::Mo(d) => Command::new(CommandStatus::EsmeRok, seq, (**d).clone()),
        }
    }
}

#[derive(Debug, Clone)]
struct PendingReceipt {
    id: String,
    stat: Stat,
    from: String,
    to: String,
    submit_ms: u64,
}

#[derive(Default)]
struct Shared {
    conns: HashMap<String, Vec<(u64, mpsc::Sender<ToClient>)>>,
    parked: HashMap<String, VecDeque<ToClient>>,
}

struct Sim {
    cfg: SimConfig,
    next_id: AtomicU64,
    submits: AtomicU64,
    /// Hashes of (destination, text) taken so far; kept only with `--control`.
    seen: Mutex<HashSet<u64>>,
    /// Submits whose destination and text were taken before.
    repeats: AtomicU64,
    /// Submits joined by a concatenation UDH, and by SAR TLVs.
    udh_parts: AtomicU64,
    sar_parts: AtomicU64,
    /// MO parts written to a connection (again after a refusal or a lost connection), and
    /// acknowledged by the switch.
    mo_sent: AtomicU64,
    mo_acked: AtomicU64,
    next_conn: AtomicU64,
    shared: Mutex<Shared>,
    /// Receipts not yet due, oldest first (all wait the same delay, so due times rise).
    delayed: Mutex<VecDeque<(u64, String, PendingReceipt)>>,
    /// Concatenation references of the MO it sends.
    mo_reference: std::sync::atomic::AtomicU16,
}

impl Sim {
    /// Counts a submit that is one part of a concatenated message, by how it is joined.
    fn count_parts(&self, sm: &SubmitSm) {
        let short = sm.short_message().as_ref();
        let udh = u8::from(sm.esm_class) & 0x40 != 0
            && (short.starts_with(&[0x05, 0x00, 0x03]) || short.starts_with(&[0x06, 0x08, 0x04]));
        if udh {
            self.udh_parts.fetch_add(1, Ordering::Relaxed);
        }
        let sar = sm
            .tlvs()
            .iter()
            .any(|t| t.tag() == rusmpp::tlvs::TlvTag::SarMsgRefNum);
        if sar {
            self.sar_parts.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // a poisoned lock only means another connection task panicked; the maps stay usable
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends an MO's parts, in order, on a connection of `system_id` (or of any bound
    /// client); false when no client is bound to take them.
    fn send_mo(&self, system_id: Option<&str>, parts: Vec<DeliverSm>) -> bool {
        let sid = {
            let s = self.lock();
            let bound = |sid: &str| s.conns.get(sid).is_some_and(|v| !v.is_empty());
            match system_id {
                Some(sid) if bound(sid) => sid.to_string(),
                Some(_) => return false,
                None => match s.conns.keys().find(|k| bound(k)) {
                    Some(k) => k.clone(),
                    None => return false,
                },
            }
        };
        for d in parts {
            self.deliver(&sid, ToClient::Mo(Box::new(d)));
        }
        true
    }

    /// Hands a receipt to a live connection of `system_id`, or parks it for the next bind.
    fn route_receipt(&self, system_id: &str, r: PendingReceipt) {
        self.deliver(system_id, ToClient::Receipt(r));
    }

    /// Hands a receipt or MO to a live connection of `system_id`, or parks it for the
    /// next bind. (Parts of one MO go to the same connection while it takes them.)
    fn deliver(&self, system_id: &str, r: ToClient) {
        let mut s = self.lock();
        if let Some(conns) = s.conns.get(system_id) {
            for (_, tx) in conns {
                if tx.try_send(r.clone()).is_ok() {
                    return;
                }
            }
        }
        s.parked
            .entry(system_id.to_string())
            .or_default()
            .push_back(r);
    }

    /// Counts `sm` as a repeat if its destination and text were taken before (only with
    /// `--control`: the set grows with every message).
    fn count_repeat(&self, sm: &rusmpp::pdus::SubmitSm) {
        use std::hash::BuildHasher;
        if self.cfg.control.is_none() {
            return;
        }
        let h = foldhash::fast::FixedState::with_seed(0)
            .hash_one((sm.destination_addr.as_ref(), sm.short_message().as_ref()));
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.insert(h) {
            self.repeats.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues a receipt for the ticker to hand out at `due_ms`.
    fn delay_receipt(&self, due_ms: u64, system_id: &str, r: PendingReceipt) {
        let mut d = self.delayed.lock().unwrap_or_else(|e| e.into_inner());
        d.push_back((due_ms, system_id.to_string(), r));
    }

    /// Hands out the receipts that are due, and parked ones whose system_id is bound again
    /// (or whose connection's queue was full when they came due).
    fn release_due(&self) {
        let now = now_ms();
        let due: Vec<_> = {
            let mut d = self.delayed.lock().unwrap_or_else(|e| e.into_inner());
            let n = d.iter().take_while(|(at, _, _)| *at <= now).count();
            d.drain(..n).collect()
        };
        for (_, sid, r) in due {
            self.route_receipt(&sid, r);
        }
        let mut s = self.lock();
        let Shared { conns, parked } = &mut *s;
        for (sid, queue) in parked.iter_mut() {
            let Some(live) = conns.get(sid) else { continue };
            'queue: while let Some(mut r) = queue.pop_front() {
                for (_, tx) in live {
                    match tx.try_send(r) {
                        Ok(()) => continue 'queue,
                        Err(
                            mpsc::error::TrySendError::Full(back)
                            | mpsc::error::TrySendError::Closed(back),
                        ) => r = back,
                    }
                }
                queue.push_front(r);
                break;
            }
        }
        parked.retain(|_, q| !q.is_empty());
    }
}

/// Runs the simulator on `listener` until the process ends.
pub async fn serve(listener: TcpListener, cfg: SimConfig) {
    let base = (rand::random::<u32>() as u64) << 20;
    let sim = Arc::new(Sim {
        cfg,
        next_id: AtomicU64::new(base),
        submits: AtomicU64::new(0),
        seen: Mutex::new(HashSet::new()),
        repeats: AtomicU64::new(0),
        udh_parts: AtomicU64::new(0),
        sar_parts: AtomicU64::new(0),
        mo_sent: AtomicU64::new(0),
        mo_acked: AtomicU64::new(0),
        next_conn: AtomicU64::new(1),
        shared: Mutex::new(Shared::default()),
        delayed: Mutex::new(VecDeque::new()),
        mo_reference: std::sync::atomic::AtomicU16::new(1),
    });
    if let Some(addr) = &sim.cfg.control {
        match control::start(addr, sim.clone()) {
            Ok(()) => tracing::info!(%addr, "simulator control listening"),
            Err(e) => tracing::error!(%addr, error = %e, "simulator control not started"),
        }
    }
    // one ticker releases every delayed receipt: a timer per receipt would cost the
    // simulator more than the switch it feeds when hundreds of thousands wait
    let tick = Duration::from_millis(sim.cfg.dlr_burst_ms.max(1));
    let ticker = sim.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(tick);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            ticker.release_due();
        }
    });
    let tls = match (&sim.cfg.tls_cert, &sim.cfg.tls_key) {
        (Some(c), Some(k)) => match crate::protocol::tls::acceptor(c, k) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::error!(error = %e, "simulator TLS not started");
                return;
            }
        },
        _ => None,
    };
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = sock.set_nodelay(true);
        if sim.cfg.garbage {
            tokio::spawn(garbage(sock));
        } else if let Some(tls) = &tls {
            let (tls, sim) = (tls.clone(), sim.clone());
            tokio::spawn(async move {
                if let Ok(s) = tls.accept(sock).await {
                    let (r, w) = tokio::io::split(s);
                    connection(r, w, sim).await;
                }
            });
        } else {
            let (r, w) = sock.into_split();
            tokio::spawn(connection(r, w, sim.clone()));
        }
    }
}

fn receipt_pdu(seq: u32, r: &PendingReceipt, decimal: bool) -> Command {
    let id = if decimal {
        hex_id_as_decimal(&r.id).unwrap_or_else(|| r.id.clone())
    } else {
        r.id.clone()
    };
    let text = format_receipt(
        &id,
        r.stat,
        if r.stat == Stat::Delivrd {
            "000"
        } else {
            "001"
        },
        r.submit_ms,
        now_ms(),
    );
    let mut d = DeliverSm::builder()
        .source_addr(pdu::c_addr(&r.from))
        .destination_addr(pdu::c_addr(&r.to))
        .esm_class(EsmClass::from(0x04u8))
        .short_message(OctetString::from_vec(text.into_bytes()).unwrap_or_default())
        .build();
    if let Ok(cid) = COctetString::from_string(id) {
        d.push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(cid));
    }
    d.push_tlv(MessageDeliveryRequestTlvValue::MessageState(
        MessageState::from(r.stat.message_state()),
    ));
    Command::new(CommandStatus::EsmeRok, seq, d)
}

/// Answers every read with bytes no SMPP decoder takes (a command_length of 5).
async fn garbage(mut sock: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.read(&mut buf).await {
        if n == 0
            || sock
                .write_all(b"\x00\x00\x00\x05garbage\xff\xfe")
                .await
                .is_err()
        {
            break;
        }
    }
}

impl Sim {
    /// Hung: nothing more is answered.
    fn hung(&self) -> bool {
        self.cfg
            .hang_after
            .is_some_and(|n| self.submits.load(Ordering::Relaxed) >= n)
    }
}

/// One connection, read from `r` and written to `w` (a TCP socket's halves, or a TLS
/// stream's).
async fn connection<R, W>(r: R, w: W, sim: Arc<Sim>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let mut reader = FramedRead::new(r, SmppCodec::default());
    let (out_tx, mut out_rx) = mpsc::channel::<Command>(4096);
    let writer = tokio::spawn(async move {
        let mut sink = FramedWrite::new(w, SmppCodec::default());
        // one write for whatever is queued: a PDU per syscall made the simulator, which
        // shares the benchmark machine with tern, cost more CPU than the switch it feeds
        while let Some(c) = out_rx.recv().await {
            if sink.feed(c).await.is_err() {
                return;
            }
            while let Ok(c) = out_rx.try_recv() {
                if sink.feed(c).await.is_err() {
                    return;
                }
            }
            if SinkExt::<Command>::flush(&mut sink).await.is_err() {
                break;
            }
        }
    });
    let (rc_tx, mut rc_rx) = mpsc::channel::<ToClient>(65_536);
    let conn_id = sim.next_conn.fetch_add(1, Ordering::Relaxed);
    let mut system_id: Option<String> = None;
    // a transceiver: receipts may go out on this connection itself
    let mut transceiver = false;
    let mut seq: u32 = 0;
    let mut unacked: HashMap<u32, ToClient> = HashMap::new();
    loop {
        tokio::select! {
            frame = reader.next() => {
                let Some(Ok(frame)) = frame else { break };
                if sim.hung() {
                    continue;
                }
                let cmd = match frame {
                    Ok(c) => c,
                    Err(bad) => {
                        let _ = out_tx.send(pdu::generic_nack(bad.status(), bad.sequence_number)).await;
                        continue;
                    }
                };
                let s = cmd.sequence_number();
                match cmd.pdu() {
                    Some(Pdu::BindTransceiver(b)) => {
                        let sid = b.system_id.to_string();
                        bind(&sim, &sid, conn_id, &rc_tx);
                        system_id = Some(sid);
                        transceiver = true;
                        let _ = out_tx.send(Command::new(CommandStatus::EsmeRok, s, BindTransceiverResp::builder().system_id(COctetString::from_static_slice(b"sim\0").unwrap_or_default()).build())).await;
                    }
                    Some(Pdu::BindTransmitter(b)) => {
                        system_id = Some(b.system_id.to_string());
                        let _ = out_tx.send(Command::new(CommandStatus::EsmeRok, s, BindTransmitterResp::builder().system_id(COctetString::from_static_slice(b"sim\0").unwrap_or_default()).build())).await;
                    }
                    Some(Pdu::BindReceiver(b)) => {
                        let sid = b.system_id.to_string();
                        bind(&sim, &sid, conn_id, &rc_tx);
                        system_id = Some(sid);
                        let _ = out_tx.send(Command::new(CommandStatus::EsmeRok, s, BindReceiverResp::builder().system_id(COctetString::from_static_slice(b"sim\0").unwrap_or_default()).build())).await;
                    }
                    Some(Pdu::SubmitSm(sm)) => {
                        let Some(sid) = system_id.clone() else {
                            let _ = out_tx.send(pdu::error_resp(CommandId::SubmitSmResp, CommandStatus::EsmeRinvbndsts, s)).await;
                            continue;
                        };
                        let n = sim.submits.fetch_add(1, Ordering::Relaxed) + 1;
                        sim.count_repeat(sm);
                        sim.count_parts(sm);
                        let cfg = &sim.cfg;
                        let status = if cfg.throttle_every > 0 && n.is_multiple_of(cfg.throttle_every) {
                            Some(CommandStatus::EsmeRthrottled)
                        } else if cfg.fail_rate > 0.0 && rand::random::<f64>() < cfg.fail_rate {
                            Some(CommandStatus::from(cfg.fail_status))
                        } else {
                            None
                        };
                        let resp = match status {
                            Some(st) => pdu::error_resp(CommandId::SubmitSmResp, st, s),
                            None => {
                                let id = format!("{:x}", sim.next_id.fetch_add(1, Ordering::Relaxed));
                                let stat = if cfg.undeliverable_rate > 0.0 && rand::random::<f64>() < cfg.undeliverable_rate { Stat::Undeliv } else { Stat::Delivrd };
                                let r = PendingReceipt { id: id.clone(), stat, from: sm.destination_addr.to_string(), to: sm.source_addr.to_string(), submit_ms: now_ms() };
                                // registered_delivery bits 1..0: 01 always, 10 on failure only, 00 never
                                let wanted = match u8::from(sm.registered_delivery) & 0x03 {
                                    0x01 => true,
                                    0x02 => stat != Stat::Delivrd,
                                    _ => false,
                                };
                                let copies = match (wanted && !cfg.no_message_id, cfg.duplicate_dlr) {
                                    (false, _) => 0,
                                    (true, true) => 2,
                                    (true, false) => 1,
                                };
                                for _ in 0..copies {
                                    if cfg.dlr_before_resp && transceiver {
                                        // written ahead of the resp on this very connection
                                        seq = seq.wrapping_add(1).max(1);
                                        let _ = out_tx.send(receipt_pdu(seq, &r, cfg.decimal_receipt_ids)).await;
                                        unacked.insert(seq, ToClient::Receipt(r.clone()));
                                    } else if cfg.dlr_before_resp || cfg.dlr_delay_ms + cfg.response_delay_ms == 0 {
                                        sim.route_receipt(&sid, r.clone());
                                    } else {
                                        sim.delay_receipt(now_ms() + cfg.dlr_delay_ms + cfg.response_delay_ms, &sid, r.clone());
                                    }
                                }
                                let id = if cfg.no_message_id { COctetString::empty() } else { COctetString::from_string(id).unwrap_or_default() };
                                Command::new(CommandStatus::EsmeRok, s, SubmitSmResp::builder().message_id(id).build())
                            }
                        };
                        let mut resp_delay = cfg.response_delay_ms;
                        // a receipt routed to another bind needs a head start to arrive first
                        if cfg.dlr_before_resp && !transceiver { resp_delay = resp_delay.max(200); }
                        if resp_delay > 0 {
                            let tx = out_tx.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(Duration::from_millis(resp_delay)).await;
                                let _ = tx.send(resp).await;
                            });
                        } else {
                            let _ = out_tx.send(resp).await;
                        }
                        if cfg.mo_every > 0 && n.is_multiple_of(cfg.mo_every) {
                            // the handset answers its sender
                            let reference = sim.mo_reference.fetch_add(1, Ordering::Relaxed);
                            // its text is when it was sent (`mo:<unix µs>`): tern-load measures by it
                            let sent_us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
                            let reply = crate::protocol::mo::from_handset(&sm.destination_addr.to_string(), &sm.source_addr.to_string(), &format!("mo:{sent_us}"), crate::protocol::mo::Joined::Udh8, reference);
                            sim.send_mo(Some(&sid), reply.unwrap_or_default());
                        }
                        if cfg.disconnect_every > 0 && n.is_multiple_of(cfg.disconnect_every) {
                            break;
                        }
                    }
                    Some(Pdu::EnquireLink) => { let _ = out_tx.send(Command::new(CommandStatus::EsmeRok, s, Pdu::EnquireLinkResp)).await; }
                    Some(Pdu::Unbind) => { let _ = out_tx.send(Command::new(CommandStatus::EsmeRok, s, Pdu::UnbindResp)).await; break; }
                    _ if cmd.id() == CommandId::DeliverSmResp => {
                        if let Some(r) = unacked.remove(&s) {
                            if cmd.status() != CommandStatus::EsmeRok {
                                if let Some(sid) = &system_id { sim.lock().parked.entry(sid.clone()).or_default().push_back(r); }
                            } else if matches!(r, ToClient::Mo(_)) {
                                sim.mo_acked.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    _ if cmd.id().is_response() => {}
                    _ => { let _ = out_tx.send(pdu::generic_nack(CommandStatus::EsmeRinvcmdid, s)).await; }
                }
            }
            Some(r) = rc_rx.recv() => {
                if sim.hung() {
                    if let Some(sid) = &system_id { sim.lock().parked.entry(sid.clone()).or_default().push_back(r); }
                    continue;
                }
                seq = seq.wrapping_add(1).max(1);
                let c = r.pdu(seq, sim.cfg.decimal_receipt_ids);
                if matches!(r, ToClient::Mo(_)) {
                    sim.mo_sent.fetch_add(1, Ordering::Relaxed);
                }
                unacked.insert(seq, r);
                if out_tx.send(c).await.is_err() { break; }
            }
        }
    }
    // connection gone: unacknowledged and queued receipts wait for the next bind
    if let Some(sid) = &system_id {
        let mut s = sim.lock();
        if let Some(v) = s.conns.get_mut(sid) {
            v.retain(|(id, _)| *id != conn_id);
        }
        rc_rx.close();
        // in the order they were sent, so an MO's parts stay in order
        let mut sent: Vec<(u32, ToClient)> = unacked.into_iter().collect();
        sent.sort_by_key(|(s, _)| *s);
        let mut back: Vec<ToClient> = sent.into_iter().map(|(_, r)| r).collect();
        while let Ok(r) = rc_rx.try_recv() {
            back.push(r);
        }
        s.parked.entry(sid.clone()).or_default().extend(back);
    }
    drop(out_tx);
    let _ = writer.await;
}

fn bind(sim: &Sim, system_id: &str, conn_id: u64, tx: &mpsc::Sender<ToClient>) {
    let mut s = sim.lock();
    s.conns
        .entry(system_id.to_string())
        .or_default()
        .push((conn_id, tx.clone()));
    if let Some(parked) = s.parked.remove(system_id) {
        for r in parked {
            let _ = tx.try_send(r);
        }
    }
}
