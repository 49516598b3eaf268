//! The ESME side of the load: S transceiver sessions (or S transmitters and S separate
//! receivers), W submit_sm outstanding on each, N messages (or as many as T seconds allow)
//! to distinct destinations, with registered_delivery=1 unless receipts are off; every
//! deliver_sm answered, receipts matched to submit ids whichever session they arrive on,
//! duplicates counted.

use std::collections::{HashMap, HashSet};

/// Maps keyed by ids and sequence numbers, hashed with foldhash: the load generator shares
/// the machine with the switch it measures, so its own CPU per message is kept low.
type IdMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type IdSet<K> = HashSet<K, foldhash::fast::RandomState>;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::TlvValue;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{EsmClass, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tern::protocol::codec::SmppCodec;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_util::codec::Framed;

use crate::report::Report;
use crate::timeline::Timeline;

/// How the load's sessions bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BindMode {
    /// Each session a transceiver: submits and receipts on the same bind.
    Trx,
    /// Each session a transmitter, plus as many receivers that only take receipts.
    TxRx,
}

/// What one session does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Transceiver,
    Transmitter,
    Receiver,
}

impl Role {
    fn sends(self) -> bool {
        self != Role::Receiver
    }
}

/// What load to offer.
#[derive(Debug, Clone)]
pub struct Load {
    /// SMPP address.
    pub addr: String,
    /// system_id to bind with.
    pub system_id: String,
    /// Password.
    pub password: String,
    /// Sessions.
    pub sessions: usize,
    /// Outstanding submit_sm per session.
    pub window: usize,
    /// Messages in all.
    pub messages: u64,
    /// Messages per second in all; 0: as fast as the window allows.
    pub rate: u64,
    /// How long to wait for receipts after the last response.
    pub receipt_wait: Duration,
    /// Transceivers, or transmitters with separate receivers.
    pub bind: BindMode,
    /// Send for this long instead of `messages` (then `messages` is only a ceiling).
    pub duration: Option<Duration>,
    /// Ask for receipts (registered_delivery=1) and wait for them.
    pub receipts: bool,
    /// Destinations are one of these prefixes (in turn) and 8 digits.
    pub dest_prefixes: Vec<String>,
}

impl Load {
    /// The load in one line, for report titles.
    pub fn line(&self) -> String {
        let rate = if self.rate > 0 {
            format!("{}/s", self.rate)
        } else {
            "unpaced".into()
        };
        let amount = match self.duration {
            Some(d) => format!("{} s of messages", d.as_secs()),
            None => format!("{} messages", self.messages),
        };
        let bind = match self.bind {
            BindMode::Trx => format!("{} sessions", self.sessions),
            BindMode::TxRx => format!("{} TX + {} RX sessions", self.sessions, self.sessions),
        };
        let receipts = if self.receipts { "" } else { ", no receipts" };
        format!(
            "{amount}, {bind} x window {}, {rate}{receipts}",
            self.window
        )
    }
}

#[derive(Default)]
struct Totals {
    /// tern id -> when its submit_sm went out; receipts may come back on any session
    sent_at: std::sync::Mutex<IdMap<String, Instant>>,
    /// receipts that overtook their submit_sm_resp (read on another session first)
    early: std::sync::Mutex<IdSet<String>>,
    /// ids whose receipt came: a second receipt for one is a duplicate
    receipted: std::sync::Mutex<IdSet<String>>,
    duplicates: AtomicU64,
    /// submit_sm sent, all sessions
    sent: AtomicU64,
    /// sending sessions that have sent their last submit_sm
    senders_done: AtomicUsize,
    senders: usize,
    resps: AtomicU64,
    ok: AtomicU64,
    refused: Mutex<HashMap<u32, u64>>,
    receipts: AtomicU64,
    /// MO (deliver_sm that are not receipts) received.
    mo: AtomicU64,
    unmatched: AtomicU64,
}

impl Totals {
    /// Every sender is done, every submit answered, every receipt in (when asked for).
    fn finished(&self, receipts: bool) -> bool {
        self.senders_done.load(Ordering::Acquire) >= self.senders
            && self.resps.load(Ordering::Relaxed) >= self.sent.load(Ordering::Relaxed)
            && (!receipts || self.sent_at.lock().map(|m| m.is_empty()).unwrap_or(true))
    }
}

fn sm(i: u64, receipts: bool, dest_prefixes: &[String]) -> SubmitSm {
    let dest_prefix = dest_prefixes
        .get(i as usize % dest_prefixes.len().max(1))
        .map_or("4917", String::as_str);
    SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(COctetString::from_static_slice(b"LOAD\0").unwrap_or_default())
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(
            COctetString::from_string(format!("{dest_prefix}{:08}", i % 100_000_000))
                .unwrap_or_default(),
        )
        .esm_class(EsmClass::from(0u8))
        .registered_delivery(RegisteredDelivery::from(u8::from(receipts)))
        .short_message(OctetString::from_static_slice(b"load test message").unwrap_or_default())
        .build()
}

struct SessionResult {
    submit_lat: Histogram<u64>,
    receipt_lat: Histogram<u64>,
    mo_lat: Histogram<u64>,
    timeline: Timeline,
}

/// Where a session records: whole-run histograms and the per-second timeline.
struct Record {
    t0: Instant,
    submit_lat: Histogram<u64>,
    receipt_lat: Histogram<u64>,
    /// The simulator's MO write → this session reading it (both on this machine's clock).
    mo_lat: Histogram<u64>,
    timeline: Timeline,
}

impl Record {
    fn resp(&mut self, sent: Instant) {
        let us = sent.elapsed().as_micros() as u64;
        let _ = self.submit_lat.record(us);
        self.timeline.resp(self.t0.elapsed().as_secs() as usize, us);
    }
    fn receipt(&mut self, sent: Instant) {
        let us = sent.elapsed().as_micros() as u64;
        let _ = self.receipt_lat.record(us);
        self.timeline
            .receipt(self.t0.elapsed().as_secs() as usize, us);
    }
}

/// What every session of a run shares.
struct Shared {
    load: Load,
    next: AtomicU64,
    totals: Totals,
    t0: Instant,
}

async fn session(sh: Arc<Shared>, role: Role) -> Result<SessionResult, String> {
    let mut counted = false;
    let r = run_session(&sh, role, &mut counted).await;
    if role.sends() && !counted {
        // a failed sender sends no more: do not keep the others waiting for it
        sh.totals.senders_done.fetch_add(1, Ordering::AcqRel);
    }
    r
}

/// One session; `counted` is set once it has told the others it sends no more.
async fn run_session(sh: &Shared, role: Role, counted: &mut bool) -> Result<SessionResult, String> {
    let (load, totals, t0) = (&sh.load, &sh.totals, sh.t0);
    let (window, total, wait) = (load.window, load.messages, load.receipt_wait);
    let pace = (load.rate > 0).then_some(load.rate);
    let addr = &load.addr;
    let sock = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = sock.set_nodelay(true);
    let mut f = Framed::new(sock, SmppCodec::default());
    let sid = COctetString::from_string(load.system_id.clone()).map_err(|e| format!("{e:?}"))?;
    let pw = COctetString::from_string(load.password.clone()).map_err(|e| format!("{e:?}"))?;
    let bind = match role {
        Role::Transceiver => Command::new(
            CommandStatus::EsmeRok,
            1,
            BindTransceiver::builder()
                .system_id(sid)
                .password(pw)
                .build(),
        ),
        Role::Transmitter => Command::new(
            CommandStatus::EsmeRok,
            1,
            BindTransmitter::builder()
                .system_id(sid)
                .password(pw)
                .build(),
        ),
        Role::Receiver => Command::new(
            CommandStatus::EsmeRok,
            1,
            BindReceiver::builder().system_id(sid).password(pw).build(),
        ),
    };
    f.send(bind).await.map_err(|e| e.to_string())?;
    match f.next().await {
        Some(Ok(Ok(c))) if c.status() == CommandStatus::EsmeRok => {}
        other => return Err(format!("bind failed: {other:?}")),
    }
    let mut rec = Record {
        t0,
        submit_lat: Histogram::<u64>::new(3).map_err(|e| e.to_string())?,
        receipt_lat: Histogram::<u64>::new(3).map_err(|e| e.to_string())?,
        mo_lat: Histogram::<u64>::new(3).map_err(|e| e.to_string())?,
        timeline: Timeline::default(),
    };
    let mut seq: u32 = 1;
    let mut in_flight: IdMap<u32, Instant> = IdMap::default();
    let mut acked = 0u64;
    let mut done_sending = !role.sends();
    let mut last = Instant::now();
    // a message index taken but not yet due (paced runs)
    let mut held: Option<u64> = None;
    loop {
        let mut wake = Duration::from_secs(1);
        while !done_sending && in_flight.len() < window {
            let out_of_time = load.duration.is_some_and(|d| t0.elapsed() >= d);
            let i = match held.take() {
                Some(i) => i,
                None if out_of_time => total,
                None => sh.next.fetch_add(1, Ordering::Relaxed),
            };
            if i >= total || out_of_time {
                done_sending = true;
                *counted = true;
                totals.senders_done.fetch_add(1, Ordering::AcqRel);
                break;
            }
            if let Some(rate) = pace {
                // message i goes out no earlier than i/rate seconds after the start
                let due = t0 + Duration::from_secs_f64(i as f64 / rate as f64);
                let now = Instant::now();
                if due > now {
                    held = Some(i);
                    wake = due - now;
                    break;
                }
            }
            seq += 1;
            f.feed(Command::new(
                CommandStatus::EsmeRok,
                seq,
                sm(i, load.receipts, &load.dest_prefixes),
            ))
            .await
            .map_err(|e| e.to_string())?;
            totals.sent.fetch_add(1, Ordering::Relaxed);
            in_flight.insert(seq, Instant::now());
        }
        SinkExt::<Command>::flush(&mut f)
            .await
            .map_err(|e| e.to_string())?;
        if done_sending && in_flight.is_empty() && totals.finished(load.receipts) {
            break;
        }
        // paced runs wake when the next message is due; otherwise after a quiet second
        let item = match tokio::time::timeout(wake, f.next()).await {
            Ok(Some(Ok(Ok(c)))) => c,
            Ok(Some(Ok(Err(bad)))) => return Err(format!("bad PDU from server: {}", bad.error)),
            Ok(_) => return Err("connection closed".into()),
            Err(_) => {
                if done_sending && last.elapsed() > wait {
                    break;
                }
                continue;
            }
        };
        last = Instant::now();
        handle_incoming(item, &mut f, &mut in_flight, totals, &mut rec, &mut acked).await?;
        // whatever else has already arrived is handled before the window is refilled and
        // flushed, so one write carries many PDUs (a write per PDU made the load generator
        // spend as much CPU in the kernel as tern does per message)
        for _ in 0..256 {
            let item = match f.next().now_or_never() {
                Some(Some(Ok(Ok(c)))) => c,
                Some(Some(Ok(Err(bad)))) => {
                    return Err(format!("bad PDU from server: {}", bad.error));
                }
                Some(_) => return Err("connection closed".into()),
                None => break,
            };
            handle_incoming(item, &mut f, &mut in_flight, totals, &mut rec, &mut acked).await?;
        }
    }
    totals.ok.fetch_add(acked, Ordering::Relaxed);
    Ok(SessionResult {
        submit_lat: rec.submit_lat,
        receipt_lat: rec.receipt_lat,
        mo_lat: rec.mo_lat,
        timeline: rec.timeline,
    })
}

/// One PDU from the server: a submit_sm_resp, a receipt, or an enquire_link.
async fn handle_incoming(
    item: Command,
    f: &mut Framed<TcpStream, SmppCodec>,
    in_flight: &mut IdMap<u32, Instant>,
    totals: &Totals,
    rec: &mut Record,
    acked: &mut u64,
) -> Result<(), String> {
    match item.id() {
        CommandId::SubmitSmResp => {
            let Some(t) = in_flight.remove(&item.sequence_number()) else {
                return Ok(());
            };
            totals.resps.fetch_add(1, Ordering::Relaxed);
            if item.status() == CommandStatus::EsmeRok {
                rec.resp(t);
                if let Some(Pdu::SubmitSmResp(r)) = item.pdu() {
                    let id = r.message_id().to_string();
                    let overtaken = totals
                        .early
                        .lock()
                        .map(|mut e| e.remove(&id))
                        .unwrap_or(false);
                    if overtaken {
                        rec.receipt(t);
                    } else if !totals
                        .receipted
                        .lock()
                        .map(|r| r.contains(&id))
                        .unwrap_or(false)
                        && let Ok(mut m) = totals.sent_at.lock()
                    {
                        m.insert(id, t);
                    }
                }
                *acked += 1;
            } else {
                *totals
                    .refused
                    .lock()
                    .await
                    .entry(u32::from(item.status()))
                    .or_default() += 1;
            }
        }
        CommandId::DeliverSm => {
            f.feed(Command::new(
                CommandStatus::EsmeRok,
                item.sequence_number(),
                DeliverSmResp::default(),
            ))
            .await
            .map_err(|e| e.to_string())?;
            let Some(Pdu::DeliverSm(d)) = item.pdu() else {
                return Ok(());
            };
            if u8::from(d.esm_class) & 0x3C == 0 {
                // an MO: the simulator wrote its send time in it (`mo:<unix µs>`)
                totals.mo.fetch_add(1, Ordering::Relaxed);
                let sent = std::str::from_utf8(d.short_message().as_ref())
                    .ok()
                    .and_then(|t| t.strip_prefix("mo:"))
                    .and_then(|us| us.parse::<u64>().ok());
                if let Some(sent) = sent {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_micros() as u64);
                    let _ = rec.mo_lat.record(now.saturating_sub(sent));
                }
                return Ok(());
            }
            let id = d.tlvs().iter().find_map(|t| match t.value() {
                Some(TlvValue::ReceiptedMessageId(v)) => Some(v.to_string()),
                _ => None,
            });
            totals.receipts.fetch_add(1, Ordering::Relaxed);
            let Some(id) = id else {
                totals.unmatched.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            };
            let matched = totals.sent_at.lock().ok().and_then(|mut m| m.remove(&id));
            let seen = |id: String| totals.receipted.lock().map(|mut r| !r.insert(id));
            match matched {
                Some(t) => {
                    rec.receipt(t);
                    let _ = seen(id);
                }
                None if seen(id.clone()).unwrap_or(false) => {
                    totals.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    // its submit_sm_resp is still unread on another session (or it is
                    // unknown: what is left here at the end counts as unmatched)
                    if let Ok(mut e) = totals.early.lock() {
                        e.insert(id);
                    }
                }
            }
        }
        CommandId::EnquireLink => {
            f.feed(Command::new(
                CommandStatus::EsmeRok,
                item.sequence_number(),
                Pdu::EnquireLinkResp,
            ))
            .await
            .map_err(|e| e.to_string())?;
        }
        _ => {}
    }
    Ok(())
}

/// Runs the load and reports what came back.
pub async fn run(load: &Load) -> Report {
    let roles: Vec<Role> = match load.bind {
        BindMode::Trx => vec![Role::Transceiver; load.sessions],
        BindMode::TxRx => {
            let mut r = vec![Role::Receiver; load.sessions];
            r.extend(vec![Role::Transmitter; load.sessions]);
            r
        }
    };
    let sh = Arc::new(Shared {
        load: load.clone(),
        next: AtomicU64::new(0),
        totals: Totals {
            senders: roles.iter().filter(|r| r.sends()).count(),
            ..Totals::default()
        },
        t0: Instant::now(),
    });
    let mut tasks = Vec::new();
    for role in roles {
        tasks.push(tokio::spawn(session(sh.clone(), role)));
    }
    let (totals, t0) = (&sh.totals, sh.t0);
    let mut report = Report::new(load.messages);
    report.receipts_expected = load.receipts;
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => {
                let _ = report.submit_latency.add(&r.submit_lat);
                let _ = report.receipt_latency.add(&r.receipt_lat);
                let _ = report.mo_latency.add(&r.mo_lat);
                report.timeline.merge(&r.timeline);
            }
            Ok(Err(e)) => report.errors.push(format!("session failed: {e}")),
            Err(e) => report.errors.push(format!("session panicked: {e}")),
        }
    }
    report.seconds = t0.elapsed().as_secs_f64();
    if load.duration.is_some() {
        report.messages = totals.sent.load(Ordering::Relaxed);
    }
    report.accepted = totals.ok.load(Ordering::Relaxed);
    report.refused = totals.refused.lock().await.clone();
    report.matched = report.receipt_latency.len();
    report.duplicates = totals.duplicates.load(Ordering::Relaxed);
    report.mo = totals.mo.load(Ordering::Relaxed);
    let stray = totals.early.lock().map(|e| e.len() as u64).unwrap_or(0);
    report.unmatched = totals.unmatched.load(Ordering::Relaxed) + stray;
    report
}
