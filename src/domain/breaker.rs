//! Circuit breaker for a carrier: too many failures in a row open it; after a cool-down one
//! probe is let through (half-open); a success closes it, a failure opens it again for twice
//! the last cool-down, up to [`MAX_COOL_DOWN`]. A carrier that keeps failing is thus tried
//! less and less often instead of every few seconds, and one that recovers is back at once.

use std::time::{Duration, Instant};

/// The longest a breaker stays open between probes.
pub const MAX_COOL_DOWN: Duration = Duration::from_secs(300);

/// Breaker state, with the gauge value `tern_carrier_breaker_state` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Traffic flows (gauge 0).
    Closed,
    /// One probe allowed (gauge 1).
    HalfOpen,
    /// No traffic until the cool-down ends (gauge 2).
    Open,
}

impl BreakerState {
    /// Value for the `tern_carrier_breaker_state` gauge.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }

    /// The name the admin API and the logs use.
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half-open",
            BreakerState::Open => "open",
        }
    }
}

/// A change worth a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Opened (from closed, or again after a failed probe) for this long.
    Opened(Duration),
    /// Closed after being open.
    Closed,
}

/// A consecutive-failure circuit breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    first_cool_down: Duration,
    cool_down: Duration,
    failures: u32,
    opened_at: Option<Instant>,
    probe_out: bool,
}

impl Breaker {
    /// Opens after `threshold` failures in a row, first for `cool_down`.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        let cool_down = cool_down.min(MAX_COOL_DOWN);
        Breaker {
            threshold: threshold.max(1),
            first_cool_down: cool_down,
            cool_down,
            failures: 0,
            opened_at: None,
            probe_out: false,
        }
    }

    /// Current state at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.opened_at {
            None => BreakerState::Closed,
            Some(t) if now.saturating_duration_since(t) >= self.cool_down => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }

    /// The open period now in force (the next one if closed).
    pub fn cool_down(&self) -> Duration {
        self.cool_down
    }

    /// May a message be sent now? In half-open, only one probe at a time.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state(now) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen if self.probe_out => false,
            BreakerState::HalfOpen => {
                self.probe_out = true;
                true
            }
        }
    }

    /// The probe let through never reached the carrier (its bind was gone, or the actor
    /// holding it crashed): another may go.
    pub fn probe_lost(&mut self) {
        self.probe_out = false;
    }

    /// A bind came up: failures counted toward opening start again (an open breaker stays
    /// open until its probe answers).
    pub fn on_bind(&mut self) {
        if self.opened_at.is_none() {
            self.failures = 0;
        }
    }

    /// A submit succeeded (or failed permanently, which says the carrier is alive).
    pub fn on_success(&mut self) -> Option<Transition> {
        let was_open = self.opened_at.take().is_some();
        self.failures = 0;
        self.probe_out = false;
        self.cool_down = self.first_cool_down;
        was_open.then_some(Transition::Closed)
    }

    /// A submit failed temporarily or timed out.
    pub fn on_failure(&mut self, now: Instant) -> Option<Transition> {
        self.probe_out = false;
        if let Some(t) = self.opened_at {
            if now.saturating_duration_since(t) < self.cool_down {
                // a late answer to something sent before it opened: already counted
                return None;
            }
            // the probe failed: open again, for longer
            self.cool_down = (self.cool_down * 2).min(MAX_COOL_DOWN);
            self.opened_at = Some(now);
            return Some(Transition::Opened(self.cool_down));
        }
        self.failures += 1;
        if self.failures >= self.threshold {
            self.opened_at = Some(now);
            return Some(Transition::Opened(self.cool_down));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn opens_after_threshold_and_probes_after_cool_down() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, S(10));
        assert_eq!(b.on_failure(t0), None);
        assert_eq!(b.on_failure(t0), None);
        assert_eq!(b.state(t0), BreakerState::Closed);
        assert_eq!(b.on_failure(t0), Some(Transition::Opened(S(10))));
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(!b.allow(t0 + S(9)));
        let t1 = t0 + S(10);
        assert_eq!(b.state(t1), BreakerState::HalfOpen);
        assert!(b.allow(t1));
        assert!(!b.allow(t1), "only one probe in half-open");
        assert_eq!(b.on_success(), Some(Transition::Closed));
        assert_eq!(b.state(t1), BreakerState::Closed);
        assert!(b.allow(t1));
        assert_eq!(
            b.on_success(),
            None,
            "closing a closed breaker is no transition"
        );
    }

    #[test]
    fn each_failed_probe_doubles_the_cool_down_up_to_the_cap() {
        let mut t = Instant::now();
        let mut b = Breaker::new(1, S(10));
        assert_eq!(b.on_failure(t), Some(Transition::Opened(S(10))));
        let mut want = 10;
        while want < 300 {
            t += S(want);
            assert!(b.allow(t), "a probe after {want} s");
            want = (want * 2).min(300);
            assert_eq!(b.on_failure(t), Some(Transition::Opened(S(want))));
            assert_eq!(b.state(t + S(want) - S(1)), BreakerState::Open);
            assert_eq!(b.state(t + S(want)), BreakerState::HalfOpen);
        }
        assert_eq!(b.cool_down(), MAX_COOL_DOWN);
        // a good probe closes it and the next trip starts from the first cool-down again
        t += S(300);
        assert!(b.allow(t));
        b.on_success();
        assert_eq!(b.on_failure(t), Some(Transition::Opened(S(10))));
    }

    #[test]
    fn failures_of_messages_sent_before_it_opened_do_not_extend_it() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, S(10));
        b.on_failure(t0);
        // the rest of the window times out a moment later
        assert_eq!(b.on_failure(t0 + S(1)), None);
        assert_eq!(b.state(t0 + S(10)), BreakerState::HalfOpen);
        assert_eq!(b.cool_down(), S(10));
    }

    #[test]
    fn a_lost_probe_lets_another_go_and_a_bind_resets_the_count_only_when_closed() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, S(5));
        b.on_failure(t0);
        b.on_bind();
        b.on_failure(t0);
        assert_eq!(
            b.state(t0),
            BreakerState::Closed,
            "the bind reset the count"
        );
        b.on_failure(t0);
        assert_eq!(b.state(t0), BreakerState::Open);
        b.on_bind();
        assert_eq!(b.state(t0), BreakerState::Open, "a bind does not close it");
        let t1 = t0 + S(5);
        assert!(b.allow(t1));
        assert!(!b.allow(t1));
        b.probe_lost();
        assert!(b.allow(t1), "the lost probe is replaced");
    }

    #[test]
    fn success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, S(5));
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
    }

    #[test]
    fn a_first_cool_down_over_the_cap_is_capped() {
        let b = Breaker::new(1, S(3600));
        assert_eq!(b.cool_down(), MAX_COOL_DOWN);
    }
}
