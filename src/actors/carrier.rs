//! `Carrier`: one per upstream carrier. Owns its queue, TPS bucket and circuit breaker, and
//! supervises its `CarrierSession`s (one per configured bind). It hands each queued message
//! to a bound session with room in its window, and tells the router when a message must go
//! elsewhere (carrier down, breaker open, temporary error) or has been refused for good.
//!
//! Its send rate follows the carrier's answers (AIMD, `domain/aimd.rs`): a throttled
//! submit (0x58, 0x14) halves it and waits in this carrier's queue, since the carrier only
//! asks for less; the breaker counts failures (0x08, 0x14, 0x64, timeouts, lost and failed
//! binds) and opens for `breaker_cooldown_s`, doubled on each failed probe.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::config::CarrierConfig;
use crate::domain::aimd::Aimd;
use crate::domain::backlog::Backlog;
use crate::domain::breaker::{Breaker, BreakerState, Transition};
use crate::domain::throttle::TokenBucket;
use crate::protocol::status;

use super::carrier_session::{CarrierSession, CloseBind, Incoming, OpenBind, SessionSubmit};
use super::router::{Failure, Outbound, SubmitFailed};
use super::supervise::{Restart, guard};

/// Send this message through this carrier (from a router shard). It is owed an answer:
/// dropped before it is [`CarrierSubmit::settle`]d (an actor crashed with it), it goes back
/// to the router as a temporary failure, so a crash never loses a message. Settled as soon
/// as a carrier has accepted it, so a message is never sent twice after that.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CarrierSubmit {
    /// The message.
    pub msg: Arc<Outbound>,
    /// Position of this carrier in the route.
    pub pos: usize,
    /// Passes over the route so far.
    pub attempt: u32,
    /// Times this carrier throttled it; after `MAX_THROTTLED` (3) it goes back to the router.
    pub throttled: u32,
    /// Where failures go.
    pub reply_to: Recipient<SubmitFailed>,
    /// Answered: the router needs nothing more from this job.
    pub settled: bool,
}

impl CarrierSubmit {
    /// Done with: accepted by the carrier (`None`), or back to the router with `failure`.
    pub fn settle(mut self, failure: Option<Failure>) {
        self.settled = true;
        if let Some(failure) = failure {
            self.reply_to.do_send(SubmitFailed {
                msg: self.msg.clone(),
                pos: self.pos,
                attempt: self.attempt,
                failure,
            });
        }
    }
}

impl Drop for CarrierSubmit {
    fn drop(&mut self) {
        if !self.settled {
            tracing::debug!(id = %self.msg.meta.id, "a message was dropped unanswered; routing it again");
            self.reply_to.do_send(SubmitFailed {
                msg: self.msg.clone(),
                pos: self.pos,
                attempt: self.attempt,
                failure: Failure::Temporary,
            });
        }
    }
}

/// A session bound.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionUp {
    /// Session index.
    pub idx: usize,
}

/// A session lost its bind, or could not bind; `returned` were in flight on it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionDown {
    /// Session index.
    pub idx: usize,
    /// Messages sent but not answered.
    pub returned: Vec<CarrierSubmit>,
    /// It was bound (else: the connect or the bind failed).
    pub was_bound: bool,
}

/// What the carrier said to one submit_sm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitResult {
    /// Accepted with this carrier message id.
    Accepted(String),
    /// Refused with this command_status.
    Refused(u32),
    /// No answer in time, or the bind went away with it in flight.
    Timeout,
    /// Never sent: the bind was not up or its write queue was full. Says nothing about the
    /// carrier, so its breaker is not charged.
    NotSent,
}

/// A session finished one submit.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubmitDone {
    /// Session index.
    pub idx: usize,
    /// The message.
    pub job: CarrierSubmit,
    /// The outcome.
    pub result: SubmitResult,
}

/// The state an operator sees (`None` when reading it crashed the carrier).
#[derive(Message)]
#[rtype(result = "Option<CarrierStatus>")]
pub struct GetStatus;

/// Stop: send nothing more (the node is stopping). What is queued stays stored as accepted
/// and is resumed at the next start; answers to what is in flight are still taken.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Quiesce;

/// What a carrier answered since tern started, as an operator reads it.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CarrierCounts {
    /// submit_sm answered OK.
    pub accepted: u64,
    /// Answered ESME_RTHROTTLED or ESME_RMSGQFUL (sent again, slower).
    pub throttled: u64,
    /// Refused with a temporary error (tried on the next carrier).
    pub refused_temporary: u64,
    /// Refused for good (REJECTD).
    pub refused_permanent: u64,
    /// No submit_sm_resp within response_timeout_s.
    pub timeouts: u64,
    /// Binds lost while bound.
    pub binds_lost: u64,
    /// Connects or binds that failed.
    pub bind_failures: u64,
}

/// A carrier's live state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CarrierStatus {
    /// Carrier id.
    pub id: String,
    /// Stopped by an operator (`POST /carriers/{id}/stop`).
    pub stopped: bool,
    /// Binds up.
    pub binds_up: usize,
    /// "closed", "half-open" or "open".
    pub breaker: &'static str,
    /// Seconds the breaker stays open when it next opens (or now, when open).
    pub breaker_cooldown_s: u64,
    /// Submits sent and not yet answered.
    pub in_flight: usize,
    /// Messages waiting.
    pub queue_depth: usize,
    /// The rate tern sends at now (AIMD; at most the configured tps).
    pub tps: u32,
    /// Its answers and failures since start.
    pub counts: CarrierCounts,
}

/// One of the carrier's binds, as the carrier sees it.
struct CarrierBind {
    /// Its session (under its supervisor).
    addr: Option<Addr<CarrierSession>>,
    /// Bound now.
    up: bool,
    /// Submits it may take before its window is full.
    credits: usize,
}

/// A message the carrier throttled this often goes back to the router (to another carrier,
/// or later), so a carrier that throttles everything does not hold it until it expires.
const MAX_THROTTLED: u32 = 3;

/// While a carrier throttles tern below its tps, at most this long's worth of messages wait
/// in its queue; the rest go back to the router (to the next carrier, or later), so a
/// carrier that throttles everything does not hold a growing queue at a crawling rate.
const MAX_THROTTLED_WAIT: Duration = Duration::from_secs(2);

/// Messages a carrier queues before it sends new ones elsewhere.
const MAX_QUEUE: usize = 100_000;
/// After start, how long a carrier with no bind yet still takes messages.
const STARTUP_GRACE: Duration = Duration::from_secs(5);

/// The carrier actor.
pub struct Carrier {
    cfg: Arc<CarrierConfig>,
    incoming: Incoming,
    queue: VecDeque<CarrierSubmit>,
    binds: Vec<CarrierBind>,
    bucket: TokenBucket,
    aimd: Aimd,
    breaker: Breaker,
    started: Instant,
    wake_pending: bool,
    /// When the gauges were last set: at most every [`PUBLISH_EVERY`] from the hot path.
    published: Instant,
    /// `tern_carrier_submit_total{status="ESME_ROK"}`.
    submit_ok: metrics::Counter,
    /// The queue's depth, for the ESME sessions' flow control.
    backlog: Arc<Backlog>,
    /// The node is stopping: nothing more is sent.
    quiescing: bool,
    /// The node is stopping and its binds close: their ends are no failures.
    closing: bool,
    /// An operator stopped it: unbound, its messages go to the next carrier of their route.
    stopped: bool,
    /// Replaced or removed by an operator: ends once its binds are closed.
    retiring: bool,
    counts: CarrierCounts,
}

/// How often the hot path refreshes the carrier's gauges (the 1 s tick always does).
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

impl Carrier {
    /// A carrier with the given config; its queue depth is kept in `backlog`.
    pub fn new(cfg: CarrierConfig, incoming: Incoming, backlog: Arc<Backlog>) -> Self {
        let now = Instant::now();
        let submit_ok = metrics::counter!("tern_carrier_submit_total", "carrier" => cfg.id.clone(), "status" => status::name(status::OK));
        Carrier {
            bucket: TokenBucket::new(cfg.tps, now),
            aimd: Aimd::new(cfg.tps, now),
            breaker: Breaker::new(
                cfg.breaker_failures,
                Duration::from_secs(cfg.breaker_cooldown_s),
            ),
            cfg: Arc::new(cfg),
            incoming,
            backlog,
            queue: VecDeque::new(),
            binds: Vec::new(),
            started: now,
            wake_pending: false,
            published: now,
            submit_ok,
            quiescing: false,
            closing: false,
            stopped: false,
            retiring: false,
            counts: CarrierCounts::default(),
        }
    }

    fn binds_up(&self) -> usize {
        self.binds.iter().filter(|s| s.up).count()
    }

    fn accepting(&self, now: Instant) -> bool {
        if self.stopped || self.breaker.state(now) == BreakerState::Open {
            return false;
        }
        self.binds_up() > 0 || now.duration_since(self.started) < STARTUP_GRACE
    }

    fn publish(&mut self) {
        self.published = Instant::now();
        let c = self.cfg.id.clone();
        metrics::gauge!("tern_queue_depth", "carrier" => c.clone()).set(self.queue.len() as f64);
        metrics::gauge!("tern_carrier_binds_up", "carrier" => c.clone())
            .set(self.binds_up() as f64);
        metrics::gauge!("tern_carrier_breaker_state", "carrier" => c.clone())
            .set(self.breaker.state(Instant::now()).gauge());
        metrics::gauge!("tern_carrier_tps", "carrier" => c).set(f64::from(self.aimd.rate()));
    }

    /// A submit failed in a way that says something about the carrier.
    fn failed(&mut self, now: Instant) {
        let t = self.breaker.on_failure(now);
        self.breaker_moved(t);
    }

    /// A submit was answered: the carrier is alive.
    fn answered(&mut self) {
        let t = self.breaker.on_success();
        self.breaker_moved(t);
    }

    fn breaker_moved(&mut self, t: Option<Transition>) {
        let id = &self.cfg.id;
        match t {
            None => return,
            Some(Transition::Opened(d)) => {
                tracing::warn!(carrier = %id, cooldown_s = d.as_secs(), "carrier breaker open")
            }
            Some(Transition::Closed) => tracing::info!(carrier = %id, "carrier breaker closed"),
        }
        self.publish();
    }

    /// The send rate changed (AIMD).
    fn rate_moved(&mut self, rate: Option<u32>, now: Instant) {
        if let Some(r) = rate {
            self.bucket.set_rate(r, now);
            tracing::debug!(carrier = %self.cfg.id, tps = r, "carrier send rate");
            // the newest of what no longer fits in the wait go elsewhere
            while self.throttled_full() {
                let Some(job) = self.queue.pop_back() else {
                    break;
                };
                Self::fail(job, Failure::Temporary);
            }
            self.publish();
        }
    }

    /// Throttled below its tps, the queue holds [`MAX_THROTTLED_WAIT`] worth or more.
    fn throttled_full(&self) -> bool {
        let rate = self.aimd.rate();
        rate < self.cfg.tps
            && self.queue.len() as f64 >= f64::from(rate) * MAX_THROTTLED_WAIT.as_secs_f64()
    }

    fn in_flight(&self) -> usize {
        self.binds
            .iter()
            .filter(|s| s.up)
            .map(|s| self.cfg.window - s.credits.min(self.cfg.window))
            .sum()
    }

    fn fail(job: CarrierSubmit, failure: Failure) {
        job.settle(Some(failure));
    }

    /// Everything queued goes back to the router (to the next carrier).
    fn drain_to_router(&mut self) {
        for job in self.queue.drain(..) {
            Self::fail(job, Failure::Temporary);
        }
    }

    /// Stopped: unbinds once nothing is in flight (or at `deadline`, when what is left
    /// counts as timed out), unless started again meanwhile.
    fn close_when_idle(&mut self, deadline: Instant, ctx: &mut Context<Self>) {
        if !self.stopped {
            return;
        }
        if self.in_flight() > 0 && Instant::now() < deadline {
            ctx.run_later(Duration::from_millis(50), move |act, ctx| {
                guard(act, ctx, |act, ctx| act.close_when_idle(deadline, ctx));
            });
            return;
        }
        // a bind closed on purpose is no failure
        self.closing = true;
        for a in self.binds.iter().filter_map(|b| b.addr.as_ref()) {
            a.do_send(CloseBind);
        }
        if self.retiring {
            // its sessions' unbinds are answered by then; nothing routes here any more
            ctx.run_later(Duration::from_secs(5), |act, ctx| {
                act.binds.clear();
                ctx.stop();
            });
        }
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.quiescing {
            return;
        }
        let now = Instant::now();
        if !self.queue.is_empty() && !self.accepting(now) {
            self.drain_to_router();
        }
        while !self.queue.is_empty() {
            // cancelled ones go before they take a token or the breaker's probe
            if let Some(job) = self.queue.pop_front_if(|j| j.msg.gone()) {
                job.settle(None);
                continue;
            }
            let Some(i) = self.binds.iter().position(|s| s.up && s.credits > 0) else {
                break;
            };
            if !self.bucket.try_take(now) {
                if !self.wake_pending {
                    self.wake_pending = true;
                    let wait = self.bucket.wait_time(now).max(Duration::from_millis(1));
                    ctx.run_later(wait, |act, ctx| {
                        act.wake_pending = false;
                        guard(act, ctx, |act, ctx| act.pump(ctx));
                    });
                }
                break;
            }
            if !self.breaker.allow(now) {
                break;
            }
            let Some(job) = self.queue.pop_front() else {
                break;
            };
            // from here its answer may be lost while the carrier has it; one an ESME
            // cancelled first goes nowhere
            if !job.msg.claim_for_carrier() {
                // cancelled just now, on another thread: its probe (if it was one) is void
                self.breaker.probe_lost();
                job.settle(None);
                continue;
            }
            let bind = &mut self.binds[i];
            bind.credits -= 1;
            if let Some(addr) = &bind.addr {
                addr.do_send(SessionSubmit { job });
            }
        }
        self.backlog.set(self.queue.len());
        if now.duration_since(self.published) >= PUBLISH_EVERY {
            self.publish();
        }
    }
}

impl Actor for Carrier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65_536);
        for idx in 0..self.cfg.binds as usize {
            let cfg = self.cfg.clone();
            let me = ctx.address();
            let incoming = self.incoming.clone();
            let addr = Supervisor::start(move |_| CarrierSession::new(idx, cfg, me, incoming));
            self.binds.push(CarrierBind {
                addr: Some(addr),
                up: false,
                credits: 0,
            });
        }
        // a half-open breaker must get its probe even if no new message arrives; the send
        // rate climbs back after throttling
        ctx.run_interval(Duration::from_secs(1), |act, ctx| {
            guard(act, ctx, |act, ctx| {
                let now = Instant::now();
                let r = act.aimd.tick(now);
                act.rate_moved(r, now);
                act.pump(ctx);
            });
        });
        self.publish();
    }
}

impl Restart for Carrier {
    const NAME: &'static str = "carrier";

    /// Between handlers its queue, binds and breaker are whole, and its 1 s tick pumps the
    /// queue again: it goes on as it was.
    fn restart(&mut self, _: &mut Context<Self>) {
        // a probe in the crashed handler's hands never comes back
        self.breaker.probe_lost();
        self.publish();
    }
}

impl Handler<CarrierSubmit> for Carrier {
    type Result = ();
    fn handle(&mut self, job: CarrierSubmit, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            if !this.accepting(Instant::now())
                || this.queue.len() >= MAX_QUEUE
                || this.throttled_full()
            {
                return Self::fail(job, Failure::Temporary);
            }
            this.queue.push_back(job);
            crate::failpoint::hit("carrier.submit");
            this.pump(ctx);
        });
    }
}

impl Handler<SessionUp> for Carrier {
    type Result = ();
    fn handle(&mut self, m: SessionUp, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            if let Some(s) = this.binds.get_mut(m.idx) {
                s.up = true;
                s.credits = this.cfg.window;
            }
            this.breaker.on_bind();
            tracing::info!(carrier = %this.cfg.id, bind = m.idx, "carrier bind up");
            this.pump(ctx);
            this.publish();
        });
    }
}

impl Handler<SessionDown> for Carrier {
    type Result = ();
    fn handle(&mut self, m: SessionDown, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            if let Some(s) = this.binds.get_mut(m.idx) {
                s.up = false;
                s.credits = 0;
            }
            if m.was_bound && !this.closing {
                this.counts.binds_lost += 1;
            } else if !m.was_bound && !this.closing {
                this.counts.bind_failures += 1;
            }
            if m.was_bound && !this.closing {
                tracing::warn!(carrier = %this.cfg.id, bind = m.idx, in_flight = m.returned.len(), "carrier bind down");
            }
            let now = Instant::now();
            if this.closing {
                // closed on purpose: says nothing about the carrier
            } else if !m.returned.is_empty() {
                // a lost bind is a failure; this also frees a half-open probe that was on it
                this.failed(now);
            } else if !m.was_bound && this.breaker.state(now) == BreakerState::Closed {
                // failed binds open the breaker; only failed probes make it open longer
                this.failed(now);
            }
            let others_up = this.binds_up() > 0;
            for job in m.returned.into_iter().rev() {
                if others_up {
                    this.queue.push_front(job);
                } else {
                    Self::fail(job, Failure::Temporary);
                }
            }
            this.pump(ctx);
            this.publish();
        });
    }
}

impl Handler<SubmitDone> for Carrier {
    type Result = ();
    fn handle(&mut self, m: SubmitDone, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            // the credit first: whatever happens next, the bind's window is not shrunk
            if let Some(s) = this.binds.get_mut(m.idx)
                && s.up
            {
                s.credits = (s.credits + 1).min(this.cfg.window);
            }
            crate::failpoint::hit("carrier.submit_done");
            let label = match &m.result {
                SubmitResult::Accepted(_) => None,
                SubmitResult::Refused(s) => Some(status::name(*s)),
                SubmitResult::Timeout => Some("timeout".to_string()),
                SubmitResult::NotSent => Some("not_sent".to_string()),
            };
            match label {
                None => this.submit_ok.increment(1),
                Some(label) => metrics::counter!("tern_carrier_submit_total", "carrier" => this.cfg.id.clone(), "status" => label)
                    .increment(1),
            }
            match m.result {
                // its carrier id was registered by the session
                SubmitResult::Accepted(_) => {
                    this.counts.accepted += 1;
                    this.answered();
                    m.job.settle(None);
                }
                SubmitResult::Refused(s @ (status::THROTTLED | status::MSGQFUL)) => {
                    this.counts.throttled += 1;
                    // asking for less: slow down and send it again from here. A full queue
                    // at the carrier also counts toward its breaker; a throttle says it is
                    // alive
                    let now = Instant::now();
                    if s == status::MSGQFUL {
                        this.failed(now);
                    } else {
                        this.answered();
                    }
                    let r = this.aimd.on_throttled(now);
                    this.rate_moved(r, now);
                    let mut job = m.job;
                    job.throttled += 1;
                    if job.throttled <= MAX_THROTTLED
                        && this.accepting(now)
                        && !this.throttled_full()
                    {
                        this.queue.push_front(job);
                    } else {
                        Self::fail(job, Failure::Temporary);
                    }
                }
                SubmitResult::Refused(s) if status::is_temporary(s) => {
                    this.counts.refused_temporary += 1;
                    this.failed(Instant::now());
                    Self::fail(m.job, Failure::Temporary);
                }
                SubmitResult::Refused(s) => {
                    this.counts.refused_permanent += 1;
                    this.answered();
                    Self::fail(m.job, Failure::Permanent(s));
                }
                SubmitResult::Timeout => {
                    this.counts.timeouts += 1;
                    this.failed(Instant::now());
                    Self::fail(m.job, Failure::Temporary);
                }
                SubmitResult::NotSent => {
                    // says nothing of the carrier; if it was the probe, another goes
                    this.breaker.probe_lost();
                    Self::fail(m.job, Failure::Temporary)
                }
            }
            this.pump(ctx);
        });
    }
}

/// The node is stopping and nothing is in flight: unbind from the carrier.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseBinds;

impl Handler<CloseBinds> for Carrier {
    type Result = ();
    fn handle(&mut self, _: CloseBinds, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, _| {
            this.closing = true;
            for b in &this.binds {
                if let Some(a) = &b.addr {
                    a.do_send(CloseBind);
                }
            }
        });
    }
}

/// An operator stops (`true`) or starts (`false`) the carrier. Stopped, it unbinds, hands
/// what it holds back to the router and takes nothing until started again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetStopped(pub bool);

impl Handler<SetStopped> for Carrier {
    type Result = ();
    fn handle(&mut self, m: SetStopped, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            if this.stopped == m.0 {
                return;
            }
            this.stopped = m.0;
            if m.0 {
                this.drain_to_router();
                // its answers to what is in flight are waited for: a message it took is
                // never sent elsewhere as well
                let deadline = Instant::now() + Duration::from_secs(this.cfg.response_timeout_s);
                this.close_when_idle(deadline, ctx);
                tracing::info!(carrier = %this.cfg.id, "carrier stopped by an operator");
            } else {
                this.closing = false;
                for a in this.binds.iter().filter_map(|b| b.addr.as_ref()) {
                    a.do_send(OpenBind);
                }
                // as at start: it takes messages while its binds come up
                this.started = Instant::now();
                tracing::info!(carrier = %this.cfg.id, "carrier started by an operator");
            }
            this.pump(ctx);
            this.publish();
        });
    }
}

impl Handler<Quiesce> for Carrier {
    type Result = ();
    fn handle(&mut self, _: Quiesce, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, _| this.quiescing = true);
    }
}

impl Handler<GetStatus> for Carrier {
    type Result = Option<CarrierStatus>;
    fn handle(&mut self, _: GetStatus, ctx: &mut Context<Self>) -> Self::Result {
        guard(self, ctx, |this, _| CarrierStatus {
            id: this.cfg.id.clone(),
            stopped: this.stopped,
            binds_up: this.binds_up(),
            breaker: this.breaker.state(Instant::now()).name(),
            breaker_cooldown_s: this.breaker.cool_down().as_secs(),
            in_flight: this.in_flight(),
            queue_depth: this.queue.len(),
            tps: this.aimd.rate(),
            counts: this.counts,
        })
    }
}

/// The running carriers by id, shared by the routers, the admin API and the registry:
/// operators add, replace and remove carriers while traffic flows.
#[derive(Clone, Default)]
pub struct CarrierSet(
    Arc<std::sync::RwLock<std::collections::HashMap<String, Addr<Carrier>>>>,
    /// The carriers that join long messages by UDH only (`concatenation = "udh"`).
    Arc<std::sync::RwLock<std::collections::HashSet<String>>>,
);

impl CarrierSet {
    /// Whether carrier `id` joins long messages by UDH only.
    pub fn joins_by_udh(&self, id: &str) -> bool {
        // a writer only inserts or removes one id: a set it panicked in is still whole
        self.1
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }

    fn set_udh(&self, id: &str, udh: bool) {
        let mut set = self.1.write().unwrap_or_else(|e| e.into_inner());
        if udh {
            set.insert(id.to_string());
        } else {
            set.remove(id);
        }
    }

    fn read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, std::collections::HashMap<String, Addr<Carrier>>> {
        // a writer only inserts or removes one entry: a map it panicked in is still whole
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Carrier `id`'s actor.
    pub fn get(&self, id: &str) -> Option<Addr<Carrier>> {
        self.read().get(id).cloned()
    }

    /// Whether carrier `id` runs.
    pub fn contains(&self, id: &str) -> bool {
        self.read().contains_key(id)
    }

    /// Every carrier, by id.
    pub fn all(&self) -> Vec<(String, Addr<Carrier>)> {
        self.read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Adds or replaces carrier `id` (its config's `concatenation` with it); returns the one
    /// it replaces.
    pub fn insert(
        &self,
        id: &str,
        addr: Addr<Carrier>,
        concatenation: crate::config::Concatenation,
    ) -> Option<Addr<Carrier>> {
        self.set_udh(id, concatenation == crate::config::Concatenation::Udh);
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), addr)
    }

    /// Removes carrier `id`.
    pub fn remove(&self, id: &str) -> Option<Addr<Carrier>> {
        self.set_udh(id, false);
        self.0.write().unwrap_or_else(|e| e.into_inner()).remove(id)
    }
}

/// The carrier is being replaced or removed: as [`SetStopped`]`(true)`, then the actor ends
/// once its binds are closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

impl Handler<Retire> for Carrier {
    type Result = ();
    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            this.retiring = true;
            if !this.stopped {
                this.stopped = true;
                this.drain_to_router();
                let deadline = Instant::now() + Duration::from_secs(this.cfg.response_timeout_s);
                this.close_when_idle(deadline, ctx);
            } else {
                this.close_when_idle(Instant::now(), ctx);
            }
        });
    }
}
