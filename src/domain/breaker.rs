//! Circuit breaker for a carrier: too many failures in a row open it; after a cool-down one
//! probe is let through (half-open); a success closes it, a failure opens it again.

use std::time::{Duration, Instant};

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
}

/// A consecutive-failure circuit breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cool_down: Duration,
    failures: u32,
    opened_at: Option<Instant>,
    probe_out: bool,
}

impl Breaker {
    /// Opens after `threshold` failures in a row, stays open for `cool_down`.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
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

    /// A submit succeeded (or failed permanently, which says the carrier is alive).
    pub fn on_success(&mut self) {
        self.failures = 0;
        self.opened_at = None;
        self.probe_out = false;
    }

    /// A submit failed temporarily or timed out.
    pub fn on_failure(&mut self, now: Instant) {
        self.probe_out = false;
        if self.opened_at.is_some() {
            // failed probe: open again for a full cool-down
            self.opened_at = Some(now);
            return;
        }
        self.failures += 1;
        if self.failures >= self.threshold {
            self.opened_at = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_probes_after_cool_down() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(10));
        b.on_failure(t0);
        b.on_failure(t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
        b.on_failure(t0);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(!b.allow(t0 + Duration::from_secs(9)));
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.state(t1), BreakerState::HalfOpen);
        assert!(b.allow(t1));
        assert!(!b.allow(t1), "only one probe in half-open");
        b.on_success();
        assert_eq!(b.state(t1), BreakerState::Closed);
        assert!(b.allow(t1));
    }

    #[test]
    fn failed_probe_reopens() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, Duration::from_secs(5));
        b.on_failure(t0);
        let t1 = t0 + Duration::from_secs(5);
        assert!(b.allow(t1));
        b.on_failure(t1);
        assert_eq!(b.state(t1 + Duration::from_secs(4)), BreakerState::Open);
        assert_eq!(b.state(t1 + Duration::from_secs(5)), BreakerState::HalfOpen);
    }

    #[test]
    fn success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, Duration::from_secs(5));
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
    }
}
