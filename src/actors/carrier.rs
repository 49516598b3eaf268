//! `Carrier`: one per upstream carrier. Owns its queue, TPS bucket and circuit breaker, and
//! supervises its `CarrierSession`s (one per configured bind). It hands each queued message
//! to a bound session with room in its window, and tells the router when a message must go
//! elsewhere (carrier down, breaker open, temporary error) or has been refused for good.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::config::CarrierConfig;
use crate::domain::backlog::Backlog;
use crate::domain::breaker::{Breaker, BreakerState};
use crate::domain::dlr::hex_id_as_decimal;
use crate::domain::throttle::TokenBucket;
use crate::protocol::status;

use super::carrier_session::{CarrierSession, SessionSubmit};
use super::dlr_correlator::{CorrelatorShards, Register};
use super::router::{Failure, Outbound, SubmitFailed};

/// Send this message through this carrier (from a router shard).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct CarrierSubmit {
    /// The message.
    pub msg: Arc<Outbound>,
    /// Position of this carrier in the route.
    pub pos: usize,
    /// Passes over the route so far.
    pub attempt: u32,
    /// Where failures go.
    pub reply_to: Recipient<SubmitFailed>,
}

/// A session bound.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionUp {
    /// Session index.
    pub idx: usize,
}

/// A session lost its bind; `returned` were in flight on it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionDown {
    /// Session index.
    pub idx: usize,
    /// Messages sent but not answered.
    pub returned: Vec<CarrierSubmit>,
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

/// The state an operator sees.
#[derive(Message)]
#[rtype(result = "CarrierStatus")]
pub struct GetStatus;

/// A carrier's live state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CarrierStatus {
    /// Carrier id.
    pub id: String,
    /// Binds up.
    pub binds_up: usize,
    /// "closed", "half-open" or "open".
    pub breaker: &'static str,
    /// Messages waiting.
    pub queue_depth: usize,
}

struct Slot {
    addr: Option<Addr<CarrierSession>>,
    up: bool,
    credits: usize,
}

/// Messages a carrier queues before it sends new ones elsewhere.
const MAX_QUEUE: usize = 100_000;
/// After start, how long a carrier with no bind yet still takes messages.
const STARTUP_GRACE: Duration = Duration::from_secs(5);

/// The carrier actor.
pub struct Carrier {
    cfg: Arc<CarrierConfig>,
    correlators: CorrelatorShards,
    queue: VecDeque<CarrierSubmit>,
    slots: Vec<Slot>,
    bucket: TokenBucket,
    breaker: Breaker,
    started: Instant,
    wake_pending: bool,
    /// When the gauges were last set: at most every [`PUBLISH_EVERY`] from the hot path.
    published: Instant,
    /// `tern_carrier_submit_total{status="ESME_ROK"}`.
    submit_ok: metrics::Counter,
    /// The queue's depth, for the ESME sessions' flow control.
    backlog: Arc<Backlog>,
}

/// How often the hot path refreshes the carrier's gauges (the 1 s tick always does).
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

impl Carrier {
    /// A carrier with the given config; its queue depth is kept in `backlog`.
    pub fn new(cfg: CarrierConfig, correlators: CorrelatorShards, backlog: Arc<Backlog>) -> Self {
        let now = Instant::now();
        let submit_ok = metrics::counter!("tern_carrier_submit_total", "carrier" => cfg.id.clone(), "status" => status::name(status::OK));
        Carrier {
            bucket: TokenBucket::new(cfg.tps, now),
            breaker: Breaker::new(5, Duration::from_secs(10)),
            cfg: Arc::new(cfg),
            correlators,
            backlog,
            queue: VecDeque::new(),
            slots: Vec::new(),
            started: now,
            wake_pending: false,
            published: now,
            submit_ok,
        }
    }

    fn binds_up(&self) -> usize {
        self.slots.iter().filter(|s| s.up).count()
    }

    fn accepting(&self, now: Instant) -> bool {
        if self.breaker.state(now) == BreakerState::Open {
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
        metrics::gauge!("tern_carrier_breaker_state", "carrier" => c)
            .set(self.breaker.state(Instant::now()).gauge());
    }

    fn fail(job: CarrierSubmit, failure: Failure) {
        let CarrierSubmit {
            msg,
            pos,
            attempt,
            reply_to,
        } = job;
        reply_to.do_send(SubmitFailed {
            msg,
            pos,
            attempt,
            failure,
        });
    }

    /// Everything queued goes back to the router (to the next carrier).
    fn drain_to_router(&mut self) {
        for job in self.queue.drain(..) {
            Self::fail(job, Failure::Temporary);
        }
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if !self.queue.is_empty() && !self.accepting(now) {
            self.drain_to_router();
        }
        while !self.queue.is_empty() {
            let Some(i) = self.slots.iter().position(|s| s.up && s.credits > 0) else {
                break;
            };
            if !self.bucket.try_take(now) {
                if !self.wake_pending {
                    self.wake_pending = true;
                    let wait = self.bucket.wait_time(now).max(Duration::from_millis(1));
                    ctx.run_later(wait, |act, ctx| {
                        act.wake_pending = false;
                        act.pump(ctx);
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
            let slot = &mut self.slots[i];
            slot.credits -= 1;
            if let Some(addr) = &slot.addr {
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
            let correlators = self.correlators.clone();
            let addr = Supervisor::start(move |_| CarrierSession::new(idx, cfg, me, correlators));
            self.slots.push(Slot {
                addr: Some(addr),
                up: false,
                credits: 0,
            });
        }
        // a half-open breaker must get its probe even if no new message arrives
        ctx.run_interval(Duration::from_secs(1), |act, ctx| act.pump(ctx));
        self.publish();
    }
}

impl Handler<CarrierSubmit> for Carrier {
    type Result = ();
    fn handle(&mut self, job: CarrierSubmit, ctx: &mut Context<Self>) {
        if !self.accepting(Instant::now()) || self.queue.len() >= MAX_QUEUE {
            return Self::fail(job, Failure::Temporary);
        }
        self.queue.push_back(job);
        self.pump(ctx);
    }
}

impl Handler<SessionUp> for Carrier {
    type Result = ();
    fn handle(&mut self, m: SessionUp, ctx: &mut Context<Self>) {
        if let Some(s) = self.slots.get_mut(m.idx) {
            s.up = true;
            s.credits = self.cfg.window;
        }
        tracing::info!(carrier = %self.cfg.id, bind = m.idx, "carrier bind up");
        self.pump(ctx);
        self.publish();
    }
}

impl Handler<SessionDown> for Carrier {
    type Result = ();
    fn handle(&mut self, m: SessionDown, ctx: &mut Context<Self>) {
        if let Some(s) = self.slots.get_mut(m.idx) {
            s.up = false;
            s.credits = 0;
        }
        tracing::warn!(carrier = %self.cfg.id, bind = m.idx, in_flight = m.returned.len(), "carrier bind down");
        if !m.returned.is_empty() {
            // a lost bind is a failure; this also frees a half-open probe that was on it
            self.breaker.on_failure(Instant::now());
        }
        let others_up = self.binds_up() > 0;
        for job in m.returned.into_iter().rev() {
            if others_up {
                self.queue.push_front(job);
            } else {
                Self::fail(job, Failure::Temporary);
            }
        }
        self.pump(ctx);
        self.publish();
    }
}

impl Handler<SubmitDone> for Carrier {
    type Result = ();
    fn handle(&mut self, m: SubmitDone, ctx: &mut Context<Self>) {
        if let Some(s) = self.slots.get_mut(m.idx)
            && s.up
        {
            s.credits = (s.credits + 1).min(self.cfg.window);
        }
        let carrier = self.cfg.id.clone();
        let label = match &m.result {
            SubmitResult::Accepted(_) => None,
            SubmitResult::Refused(s) => Some(status::name(*s)),
            SubmitResult::Timeout => Some("timeout".to_string()),
            SubmitResult::NotSent => Some("not_sent".to_string()),
        };
        match label {
            None => self.submit_ok.increment(1),
            Some(label) => metrics::counter!("tern_carrier_submit_total", "carrier" => carrier.clone(), "status" => label)
                .increment(1),
        }
        match m.result {
            SubmitResult::Accepted(cid) => {
                self.breaker.on_success();
                let key = if self.cfg.decimal_receipt_ids {
                    hex_id_as_decimal(&cid).unwrap_or(cid)
                } else {
                    cid
                };
                self.correlators.for_id(&key).do_send(Register {
                    carrier,
                    carrier_id: key,
                    msg: m.job.msg,
                    retry: false,
                });
            }
            SubmitResult::Refused(s) if status::is_temporary(s) => {
                self.breaker.on_failure(Instant::now());
                Self::fail(m.job, Failure::Temporary);
            }
            SubmitResult::Refused(s) => {
                self.breaker.on_success();
                Self::fail(m.job, Failure::Permanent(s));
            }
            SubmitResult::Timeout => {
                self.breaker.on_failure(Instant::now());
                Self::fail(m.job, Failure::Temporary);
            }
            SubmitResult::NotSent => Self::fail(m.job, Failure::Temporary),
        }
        self.pump(ctx);
    }
}

impl Handler<GetStatus> for Carrier {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let breaker = match self.breaker.state(Instant::now()) {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half-open",
            BreakerState::Open => "open",
        };
        MessageResult(CarrierStatus {
            id: self.cfg.id.clone(),
            binds_up: self.binds_up(),
            breaker,
            queue_depth: self.queue.len(),
        })
    }
}
