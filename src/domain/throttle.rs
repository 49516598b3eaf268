//! Token bucket: a rate in units per second with a burst of one second's worth.

use std::time::Instant;

/// A token bucket refilled continuously at `rate` per second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` per second (burst = rate, at least 1).
    pub fn new(rate: u32, now: Instant) -> Self {
        let burst = f64::from(rate.max(1));
        TokenBucket {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes `n` tokens at once if there are as many, `n` capped at the burst (so what one
    /// message needs can always be had once the bucket is full).
    pub fn try_take_n(&mut self, n: u32, now: Instant) -> bool {
        self.refill(now);
        let n = f64::from(n).min(self.burst);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    /// From `now` on, `rate` per second (burst = rate, at least 1); tokens already earned
    /// are kept up to the new burst.
    pub fn set_rate(&mut self, rate: u32, now: Instant) {
        self.refill(now);
        self.rate = f64::from(rate);
        self.burst = f64::from(rate.max(1));
        self.tokens = self.tokens.min(self.burst);
    }

    /// How long until one token is available (zero if one is there now).
    pub fn wait_time(&mut self, now: Instant) -> std::time::Duration {
        self.refill(now);
        if self.tokens >= 1.0 || self.rate <= 0.0 {
            std::time::Duration::ZERO
        } else {
            std::time::Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn many_at_once_all_or_none_capped_at_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(5, t0);
        assert!(b.try_take_n(3, t0));
        assert!(!b.try_take_n(3, t0), "two left: none taken");
        assert!(b.try_take_n(2, t0));
        // 40 parts against a burst of 5: possible once the bucket is full again
        assert!(!b.try_take_n(40, t0 + Duration::from_millis(500)));
        assert!(b.try_take_n(40, t0 + Duration::from_secs(2)));
        assert!(!b.try_take(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, t0);
        assert_eq!((0..20).filter(|_| b.try_take(t0)).count(), 10);
        assert!(!b.try_take(t0));
        // 100 ms later exactly one more token
        let t1 = t0 + Duration::from_millis(100);
        assert!(b.try_take(t1));
        assert!(!b.try_take(t1));
        // a long idle period never stores more than one second's worth
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..100).filter(|_| b.try_take(t2)).count(), 10);
    }

    #[test]
    fn a_lower_rate_caps_the_tokens_at_once() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, t0);
        b.set_rate(10, t0);
        assert_eq!((0..100).filter(|_| b.try_take(t0)).count(), 10);
        let t1 = t0 + Duration::from_millis(100);
        assert!(b.try_take(t1));
        assert!(!b.try_take(t1));
    }

    #[test]
    fn wait_time_tells_when_next_token_comes() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(4, t0);
        for _ in 0..4 {
            assert!(b.try_take(t0));
        }
        let w = b.wait_time(t0);
        assert!(
            w > Duration::from_millis(240) && w <= Duration::from_millis(250),
            "{w:?}"
        );
    }
}
