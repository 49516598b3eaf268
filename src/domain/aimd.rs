//! The rate tern sends to one carrier: additive increase, multiplicative decrease (AIMD),
//! as TCP does with its window. A carrier that answers ESME_RTHROTTLED (0x58) or
//! ESME_RMSGQFUL (0x14) is telling tern it sends too fast: the rate halves; each second
//! without such an answer it climbs back by a twentieth of the configured `tps`, never above
//! it. A whole window of throttled answers arrives at once, so the rate is cut at most once
//! per second: one cut per round trip, not one per answer.

use std::time::{Duration, Instant};

/// Between two cuts, at least this long.
const CUT_EVERY: Duration = Duration::from_secs(1);
/// Climbing back, one step per this long.
const STEP_EVERY: Duration = Duration::from_secs(1);

/// A carrier's current send rate.
#[derive(Debug, Clone)]
pub struct Aimd {
    max: f64,
    rate: f64,
    last_cut: Option<Instant>,
    last_step: Instant,
}

impl Aimd {
    /// Starts at `max` submit_sm per second.
    pub fn new(max: u32, now: Instant) -> Self {
        let max = f64::from(max.max(1));
        Aimd {
            max,
            rate: max,
            last_cut: None,
            last_step: now,
        }
    }

    /// The rate now, in submit_sm per second (at least 1).
    pub fn rate(&self) -> u32 {
        self.rate as u32
    }

    /// The carrier throttled a submit: halve the rate, at most once per second. Returns the
    /// new rate when it changed.
    pub fn on_throttled(&mut self, now: Instant) -> Option<u32> {
        if self
            .last_cut
            .is_some_and(|t| now.saturating_duration_since(t) < CUT_EVERY)
        {
            return None;
        }
        self.last_cut = Some(now);
        self.last_step = now;
        let before = self.rate();
        self.rate = (self.rate / 2.0).max(1.0);
        (self.rate() != before).then(|| self.rate())
    }

    /// Time passes: climb back by a twentieth of the maximum per quiet second. Returns the
    /// new rate when it changed.
    pub fn tick(&mut self, now: Instant) -> Option<u32> {
        let steps =
            now.saturating_duration_since(self.last_step).as_secs_f64() / STEP_EVERY.as_secs_f64();
        if steps < 1.0 || self.rate >= self.max {
            if self.rate >= self.max {
                self.last_step = now;
            }
            return None;
        }
        let steps = steps.floor();
        self.last_step += STEP_EVERY.mul_f64(steps);
        let before = self.rate();
        self.rate = (self.rate + steps * (self.max / 20.0).max(1.0)).min(self.max);
        (self.rate() != before).then(|| self.rate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn throttling_halves_the_rate_once_per_second() {
        let t0 = Instant::now();
        let mut a = Aimd::new(1000, t0);
        assert_eq!(a.on_throttled(t0), Some(500));
        // the rest of the window answers throttled too: no further cut
        assert_eq!(a.on_throttled(t0 + MS(10)), None);
        assert_eq!(a.on_throttled(t0 + MS(999)), None);
        assert_eq!(a.on_throttled(t0 + MS(1000)), Some(250));
        assert_eq!(a.rate(), 250);
    }

    #[test]
    fn quiet_seconds_climb_back_to_the_configured_rate_and_no_further() {
        let t0 = Instant::now();
        let mut a = Aimd::new(1000, t0);
        a.on_throttled(t0);
        assert_eq!(a.tick(t0 + MS(999)), None);
        assert_eq!(a.tick(t0 + MS(1000)), Some(550));
        assert_eq!(
            a.tick(t0 + MS(3000)),
            Some(650),
            "two quiet seconds, two steps"
        );
        assert_eq!(a.tick(t0 + MS(60_000)), Some(1000));
        assert_eq!(a.tick(t0 + MS(120_000)), None);
        assert_eq!(a.rate(), 1000);
    }

    #[test]
    fn the_rate_never_falls_below_one() {
        let mut t = Instant::now();
        let mut a = Aimd::new(3, t);
        for _ in 0..10 {
            t += MS(1000);
            a.on_throttled(t);
        }
        assert_eq!(a.rate(), 1);
        // a small carrier still climbs by at least one per second
        assert_eq!(a.tick(t + MS(1000)), Some(2));
    }
}
