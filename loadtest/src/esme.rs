//! The ESME side of the load: S transceiver sessions, W submit_sm outstanding on each,
//! N messages with registered_delivery=1 to distinct destinations, every deliver_sm
//! answered, receipts matched to submit ids whichever session they arrive on.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use rusmpp::pdus::{BindTransceiver, DeliverSmResp, SubmitSm};
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
}

#[derive(Default)]
struct Totals {
    /// tern id -> when its submit_sm went out; receipts may come back on any session
    sent_at: std::sync::Mutex<HashMap<String, Instant>>,
    /// receipts that overtook their submit_sm_resp (read on another session first)
    early: std::sync::Mutex<std::collections::HashSet<String>>,
    resps: AtomicU64,
    ok: AtomicU64,
    refused: Mutex<HashMap<u32, u64>>,
    receipts: AtomicU64,
    unmatched: AtomicU64,
}

fn sm(i: u64) -> SubmitSm {
    SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(COctetString::from_static_slice(b"LOAD\0").unwrap_or_default())
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(
            COctetString::from_string(format!("4917{:08}", i % 100_000_000)).unwrap_or_default(),
        )
        .esm_class(EsmClass::from(0u8))
        .registered_delivery(RegisteredDelivery::from(1u8))
        .short_message(OctetString::from_static_slice(b"load test message").unwrap_or_default())
        .build()
}

struct SessionResult {
    submit_lat: Histogram<u64>,
    receipt_lat: Histogram<u64>,
    timeline: Timeline,
}

/// Where a session records: whole-run histograms and the per-second timeline.
struct Record {
    t0: Instant,
    submit_lat: Histogram<u64>,
    receipt_lat: Histogram<u64>,
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

#[allow(clippy::too_many_arguments)]
async fn session(
    addr: String,
    sid: String,
    pw: String,
    window: usize,
    next: Arc<AtomicU64>,
    total: u64,
    totals: Arc<Totals>,
    wait: Duration,
    t0: Instant,
    pace: Option<u64>,
) -> Result<SessionResult, String> {
    let sock = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = sock.set_nodelay(true);
    let mut f = Framed::new(sock, SmppCodec::default());
    let bind = BindTransceiver::builder()
        .system_id(COctetString::from_string(sid).map_err(|e| format!("{e:?}"))?)
        .password(COctetString::from_string(pw).map_err(|e| format!("{e:?}"))?)
        .build();
    f.send(Command::new(CommandStatus::EsmeRok, 1, bind))
        .await
        .map_err(|e| e.to_string())?;
    match f.next().await {
        Some(Ok(Ok(c))) if c.status() == CommandStatus::EsmeRok => {}
        other => return Err(format!("bind failed: {other:?}")),
    }
    let mut rec = Record {
        t0,
        submit_lat: Histogram::<u64>::new(3).map_err(|e| e.to_string())?,
        receipt_lat: Histogram::<u64>::new(3).map_err(|e| e.to_string())?,
        timeline: Timeline::default(),
    };
    let mut seq: u32 = 1;
    let mut in_flight: HashMap<u32, Instant> = HashMap::new();
    let mut acked = 0u64;
    let mut done_sending = false;
    let mut last = Instant::now();
    // a message index taken but not yet due (paced runs)
    let mut held: Option<u64> = None;
    loop {
        let mut wake = Duration::from_secs(1);
        while !done_sending && in_flight.len() < window {
            let i = match held.take() {
                Some(i) => i,
                None => next.fetch_add(1, Ordering::Relaxed),
            };
            if i >= total {
                done_sending = true;
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
            f.feed(Command::new(CommandStatus::EsmeRok, seq, sm(i)))
                .await
                .map_err(|e| e.to_string())?;
            in_flight.insert(seq, Instant::now());
        }
        SinkExt::<Command>::flush(&mut f)
            .await
            .map_err(|e| e.to_string())?;
        if done_sending
            && in_flight.is_empty()
            && totals.resps.load(Ordering::Relaxed) >= total
            && totals.sent_at.lock().map(|m| m.is_empty()).unwrap_or(true)
        {
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
        handle_incoming(item, &mut f, &mut in_flight, &totals, &mut rec, &mut acked).await?;
    }
    totals.ok.fetch_add(acked, Ordering::Relaxed);
    Ok(SessionResult {
        submit_lat: rec.submit_lat,
        receipt_lat: rec.receipt_lat,
        timeline: rec.timeline,
    })
}

/// One PDU from the server: a submit_sm_resp, a receipt, or an enquire_link.
async fn handle_incoming(
    item: Command,
    f: &mut Framed<TcpStream, SmppCodec>,
    in_flight: &mut HashMap<u32, Instant>,
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
                    } else if let Ok(mut m) = totals.sent_at.lock() {
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
            match matched {
                Some(t) => rec.receipt(t),
                None => {
                    // its submit_sm_resp is still unread on another session
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
    let next = Arc::new(AtomicU64::new(0));
    let totals = Arc::new(Totals::default());
    let t0 = Instant::now();
    let pace = (load.rate > 0).then_some(load.rate);
    let mut tasks = Vec::new();
    for _ in 0..load.sessions {
        tasks.push(tokio::spawn(session(
            load.addr.clone(),
            load.system_id.clone(),
            load.password.clone(),
            load.window,
            next.clone(),
            load.messages,
            totals.clone(),
            load.receipt_wait,
            t0,
            pace,
        )));
    }
    let mut report = Report::new(load.messages);
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => {
                let _ = report.submit_latency.add(&r.submit_lat);
                let _ = report.receipt_latency.add(&r.receipt_lat);
                report.timeline.merge(&r.timeline);
            }
            Ok(Err(e)) => report.errors.push(format!("session failed: {e}")),
            Err(e) => report.errors.push(format!("session panicked: {e}")),
        }
    }
    report.seconds = t0.elapsed().as_secs_f64();
    report.accepted = totals.ok.load(Ordering::Relaxed);
    report.refused = totals.refused.lock().await.clone();
    report.matched = report.receipt_latency.len();
    report.unmatched = totals.unmatched.load(Ordering::Relaxed);
    report
}
